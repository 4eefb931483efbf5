#!/usr/bin/env python3
"""Writes the MJPEG fixtures for Tests/CameraTests/PixelFormatMJPEGTests.swift.

Camera-style JPEG frames made from scikit-image's photos with Pillow, each with a `<name>.rgb` file holding
the raw RGB bytes Pillow (libjpeg-turbo) decodes from it: the Swift MJPEG path must match them exactly.
Cases mirror what UVC cameras send: 4:2:2 chroma, frames without Huffman tables (DHT stripped; decoders use
the standard tables of JPEG Annex K), zero padding after EOI (mmap buffers are larger than the frame),
restart markers, sizes that are not multiples of the MCU. `truncated.jpg` has no .rgb: it must be rejected.
Pinned: Pillow 13.0.0, scikit-image 0.26.0, numpy.
Run: python3 tools/camera/make_mjpeg_fixtures.py [out_dir]   (default Tests/Fixtures/camera/mjpeg)
"""
import io
import json
import sys
from pathlib import Path

from PIL import Image
from skimage import data

out = Path(sys.argv[1] if len(sys.argv) > 1 else "Tests/Fixtures/camera/mjpeg")
out.mkdir(parents=True, exist_ok=True)
chelsea = Image.fromarray(data.chelsea()).resize((160, 120), Image.BICUBIC)
rocket = Image.fromarray(data.rocket()).resize((161, 121), Image.BICUBIC)
astronaut = Image.fromarray(data.astronaut()).resize((128, 96), Image.BICUBIC)


def encode(img, **kw):
    buf = io.BytesIO()
    img.save(buf, "JPEG", **kw)
    return buf.getvalue()


def strip_dht(jpeg: bytes) -> bytes:
    """Drops every DHT (FFC4) segment before the scan, as UVC MJPEG frames do."""
    outb = bytearray(jpeg[:2])
    i = 2
    while i < len(jpeg):
        assert jpeg[i] == 0xFF
        marker = jpeg[i + 1]
        length = int.from_bytes(jpeg[i + 2 : i + 4], "big")
        if marker == 0xDA:  # start of scan: copy the rest verbatim
            outb += jpeg[i:]
            break
        if marker != 0xC4:
            outb += jpeg[i : i + 2 + length]
        i += 2 + length
    assert b"\xff\xc4" not in bytes(outb[: outb.find(b"\xff\xda")])
    return bytes(outb)


cases = {}


def save(name, jpeg: bytes):
    (out / name).write_bytes(jpeg)
    decoded = Image.open(io.BytesIO(jpeg)).convert("RGB")
    decoded.load()
    (out / (name + ".rgb")).write_bytes(decoded.tobytes())
    cases[name] = [decoded.width, decoded.height]


save("uvc_422_q80.jpg", encode(chelsea, quality=80, subsampling=1))
save("uvc_422_nodht.jpg", strip_dht(encode(chelsea, quality=80, subsampling=1)))
save("uvc_420_q95_padded.jpg", encode(astronaut, quality=95, subsampling=2) + bytes(4096))
save("odd_420_q70_restart.jpg", encode(rocket, quality=70, subsampling=2, restart_marker_blocks=4))
save("gray_q85.jpg", encode(astronaut.convert("L"), quality=85))
full = encode(chelsea, quality=80, subsampling=1)
(out / "truncated.jpg").write_bytes(full[: len(full) // 2])
(out / "cases.json").write_text(json.dumps(cases, indent=1, sort_keys=True) + "\n")
print(f"wrote {len(cases)} cases (+ truncated.jpg) to {out}")
