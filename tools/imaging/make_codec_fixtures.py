#!/usr/bin/env python3
"""Writes the small PNG/JPEG fixtures for Tests/ImagingTests/ImageCodecTests.swift.

Each input image gets a `<name>.rgb` file: the raw RGB bytes Pillow decodes from it with
`Image.open(...).convert("RGB")` (the reference pipelines' decode), so the Swift codec is checked against
Pillow's libjpeg-turbo / libpng. Pinned: Pillow 13.0.0, scikit-image 0.26.0 (photo source, public domain).
Run: python3 tools/imaging/make_codec_fixtures.py [out_dir]  (default Tests/Fixtures/codec)
"""
import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

out = Path(sys.argv[1] if len(sys.argv) > 1 else "Tests/Fixtures/codec")
out.mkdir(parents=True, exist_ok=True)
photo = Image.fromarray(data.astronaut()).resize((96, 72), Image.BICUBIC)
coffee = Image.fromarray(data.coffee()).resize((80, 53), Image.BICUBIC)
rng = np.random.default_rng(7)

cases = {}
def save(name, img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    (out / name).write_bytes(buf.getvalue())
    decoded = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    (out / (name + ".rgb")).write_bytes(decoded.tobytes())
    cases[name] = [decoded.width, decoded.height]

save("photo_q90.jpg", photo, "JPEG", quality=90)
save("photo_q50_444.jpg", coffee, "JPEG", quality=50, subsampling=0)
save("photo_progressive.jpg", coffee, "JPEG", quality=80, progressive=True)
save("gray.jpg", photo.convert("L"), "JPEG", quality=85)
save("rgb.png", photo, "PNG")
save("rgba.png", Image.fromarray(np.dstack([np.asarray(coffee), rng.integers(0, 256, (53, 80), dtype=np.uint8)])), "PNG")
save("gray.png", photo.convert("L"), "PNG")
save("palette.png", coffee.convert("P", palette=Image.ADAPTIVE, colors=16), "PNG")
save("odd_1x1.png", Image.new("RGB", (1, 1), (10, 200, 30)), "PNG")
(out / "cases.json").write_text(json.dumps(cases, indent=1, sort_keys=True) + "\n")
print(f"wrote {len(cases)} cases to {out}")
