#!/usr/bin/env python3
"""Write a newc cpio archive (the initramfs format) of a directory, adding /dev/console as a device node.

Device nodes are written as archive entries, so no root privileges (mknod) are needed.
Usage: mkcpio.py ROOT OUT
"""
import os
import stat
import sys


def header(ino, mode, nlink, mtime, size, rmaj, rmin, name):
    fields = [ino, mode, 0, 0, nlink, mtime, size, 0, 0, rmaj, rmin, len(name) + 1, 0]
    return b"070701" + b"".join(b"%08X" % f for f in fields)


def pad(n):
    return b"\0" * ((4 - n % 4) % 4)


def main() -> int:
    root, out = sys.argv[1], sys.argv[2]
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames) + sorted(filenames):
            full = os.path.join(dirpath, name)
            entries.append((os.path.relpath(full, root), full))
    ino = 1
    with open(out, "wb") as f:

        def add(name, mode, data=b"", rdev=(0, 0), nlink=1):
            nonlocal ino
            nb = name.encode()
            h = header(ino, mode, nlink, 0, len(data), rdev[0], rdev[1], nb)
            f.write(h + nb + b"\0" + pad(len(h) + len(nb) + 1))
            f.write(data + pad(len(data)))
            ino += 1

        names = {n for n, _ in entries}
        for name, full in entries:
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                add(name, stat.S_IFLNK | 0o777, os.readlink(full).encode())
            elif stat.S_ISDIR(st.st_mode):
                add(name, stat.S_IFDIR | 0o755, nlink=2)
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as src:
                    add(name, stat.S_IFREG | (st.st_mode & 0o777), src.read())
        if "dev" not in names:
            add("dev", stat.S_IFDIR | 0o755, nlink=2)
        add("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
        add("TRAILER!!!", 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
