#!/usr/bin/env python3
"""Writes Tests/Fixtures/eval/raster.json: random LISA-style annotations and the masks LISA's
`get_mask_from_json` logic produces with OpenCV (polylines + fillPoly per polygon, largest area first,
"flag" skipped, "ignore" drawn as 255), to check ReasonSegRasterizer against OpenCV itself.
Pinned: opencv-python-headless 4.12.0.88, numpy (tools/requirements-ref.txt).
Run: .venv-ref/bin/python tools/eval/make_raster_fixtures.py
"""
import json
from pathlib import Path

import cv2
import numpy as np


def lisa_mask(shapes, h, w):
    area, valid = [], []
    for s in shapes:
        if s["label"].lower() == "flag":
            continue
        tmp = np.zeros((h, w), np.uint8)
        cv2.polylines(tmp, np.array([s["points"]], dtype=np.int32), True, 1, 1)
        cv2.fillPoly(tmp, np.array([s["points"]], dtype=np.int32), 1)
        area.append(tmp.sum())
        valid.append(s)
    order = np.argsort(area, kind="stable")[::-1]
    mask = np.zeros((h, w), np.uint8)
    for i in order:
        s = valid[i]
        value = 255 if "ignore" in s["label"].lower() else 1
        cv2.polylines(mask, np.array([s["points"]], dtype=np.int32), True, value, 1)
        cv2.fillPoly(mask, np.array([s["points"]], dtype=np.int32), value)
    return mask


rng = np.random.default_rng(3)
cases = []
for n in range(60):
    w, h = int(rng.integers(20, 90)), int(rng.integers(20, 90))
    shapes = []
    for k in range(int(rng.integers(1, 4))):
        m = int(rng.integers(3, 12))
        cx, cy = rng.uniform(-5, w + 5), rng.uniform(-5, h + 5)
        r = rng.uniform(2, max(w, h) / 2)
        ang = np.sort(rng.uniform(0, 2 * np.pi, m)) if rng.random() < 0.6 else rng.uniform(0, 2 * np.pi, m)
        rad = r * rng.uniform(0.3, 1.0, m)
        pts = [[float(round(cx + a * np.cos(t), 2)), float(round(cy + a * np.sin(t), 2))] for a, t in zip(rad, ang)]
        if n % 2 == 0:  # half the cases stay inside the image, as real annotations do
            pts = [[min(max(x, 0.0), w - 0.01), min(max(y, 0.0), h - 0.01)] for x, y in pts]
        label = str(rng.choice(["target", "target", "ignore", "flag"]))
        shapes.append({"label": label, "points": pts})
    mask = lisa_mask(shapes, h, w)
    cases.append({"width": w, "height": h, "shapes": shapes, "mask": mask.flatten().tolist()})
out = Path(__file__).resolve().parents[2] / "Tests/Fixtures/eval/raster.json"
out.write_text(json.dumps({"cases": cases}, separators=(",", ":")) + "\n")
print(f"{len(cases)} cases -> {out}")
