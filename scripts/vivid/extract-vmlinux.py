#!/usr/bin/env python3
"""Extract the uncompressed vmlinux (ELF, bootable through its PVH entry) from a Debian bzImage.

The bzImage payload is xz-compressed; decompress from the first xz magic (FD 37 7A 58 5A 00) onwards.
Usage: extract-vmlinux.py VMLINUZ OUT
"""
import lzma
import sys

MAGIC = b"\xfd7zXZ\x00"


def main() -> int:
    src, out = sys.argv[1], sys.argv[2]
    data = open(src, "rb").read()
    start = data.find(MAGIC)
    while start >= 0:
        try:
            d = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
            payload = d.decompress(data[start:])
            if payload[:4] == b"\x7fELF":
                open(out, "wb").write(payload)
                return 0
        except lzma.LZMAError:
            pass
        start = data.find(MAGIC, start + 1)
    print(f"{src}: no xz-compressed ELF payload found", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
