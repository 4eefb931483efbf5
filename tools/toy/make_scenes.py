#!/usr/bin/env python3
"""Toy world: synthetic scenes of coloured shapes on textured colour-ramp backgrounds, with ground truth.

Each sample is one image and one question, written in the ReasonSeg / LISA layout (`<id>.jpg` +
`<id>.json` with `text`, `is_sentence` and polygon `shapes`), plus toy-only keys the trainers use:
`targets` (per target: box, polygon, the two inscribed-circle points and the single point, in image
pixels), `objects` (every shape's grid cell, colour, shape, size) and `answers` (the Seg-Zero and VisionReasoner answer texts in the model's frame, see --frame).

Layout: 2-4 shapes, one per cell of a 4x4 grid (see place_objects).
Questions: "the red circle" / "the largest blue object" / "the smallest square" (single) and
"all green shapes" / "every triangle" (multi, VisionReasoner format only).

Pinned: numpy 2.4.6, Pillow 13.0.0, scipy 1.17.1 (distance transform). Deterministic for a seed.
Run: python tools/toy/make_scenes.py --out /tmp/toy --train 2000 --val 64
"""
import argparse
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

COLOURS = {"red": (215, 45, 40), "green": (40, 170, 60), "blue": (40, 80, 215), "yellow": (225, 195, 35)}
SHAPES = ["circle", "square", "triangle"]
SIZES = [(320, 240), (240, 320), (288, 288), (352, 256)]
GRID = 4
RADII = [0.30, 0.44]
SIZE_WORDS = ["small", "large"]  # of RADII
TINT = 0.3  # share of the background ramp in a shape's colour: every pixel of a shape also says where it is


def polygon_for(shape, cx, cy, r):
    if shape == "circle":
        return [(cx + r * math.cos(2 * math.pi * k / 32), cy + r * math.sin(2 * math.pi * k / 32)) for k in range(32)]
    if shape == "square":
        h = r * 0.9
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    return [(cx, cy - r), (cx + r * 0.95, cy + r * 0.75), (cx - r * 0.95, cy + r * 0.75)]


def background(rng, w, h):
    """A muted colour ramp (red rises left to right, blue top to bottom) under random stripes and noise.

    The ramp is what lets a toy-sized model answer with coordinates: Qwen2.5-VL has no absolute position
    embedding (only rotary ones, which encode offsets), and a real checkpoint learns where things are from
    billions of examples; in the toy world the background itself says where a patch is."""
    yy, xx = np.mgrid[0:h, 0:w]
    ramp = np.stack([90 + 120 * xx / max(1, w - 1), np.full((h, w), 150.0), 90 + 120 * yy / max(1, h - 1)], axis=-1)
    freq = rng.uniform(0.05, 0.2)
    angle = rng.uniform(0, math.pi)
    stripes = 6 * np.sin(freq * (xx * math.cos(angle) + yy * math.sin(angle)))
    noise = rng.normal(0, 5, size=(h, w, 1))
    img = ramp + rng.uniform(-10, 10, size=3)[None, None, :] + stripes[..., None] + noise
    return np.clip(img, 0, 255).astype(np.uint8), ramp


def inscribed_points(mask):
    """Centres of the two largest inscribed circles (second one away from the first), as Seg-Zero asks."""
    dist = ndimage.distance_transform_edt(mask)
    y1, x1 = np.unravel_index(np.argmax(dist), dist.shape)
    r1 = dist[y1, x1]
    yy, xx = np.mgrid[0:mask.shape[0], 0:mask.shape[1]]
    suppressed = dist.copy()
    suppressed[(yy - y1) ** 2 + (xx - x1) ** 2 < (r1 * 0.9) ** 2] = 0
    if suppressed.max() <= 0:
        return (int(x1), int(y1)), (int(x1), int(y1))
    y2, x2 = np.unravel_index(np.argmax(suppressed), dist.shape)
    return (int(x1), int(y1)), (int(x2), int(y2))


def place_objects(rng, w, h):
    """2-4 shapes on a GRID x GRID layout: each sits at the centre of its own cell, large or small (radius 0.44 or
    0.30 of the cell's shorter side), listed in reading order (row by row), which is the order answers name them in.

    The grid is what makes a model small enough to train on a CPU in minutes able to answer with coordinates: at the
    toy profile's 112-pixel frame each cell is exactly one merged vision token, so the question reduces to finding
    the token whose colour and shape match and reading its place (which the ramp background and the ramp-tinted
    shape colour carry in its pixels). Positions and sizes are few, so the coordinates in the answers are too."""
    n = int(rng.integers(2, 5))
    cw, ch = w / GRID, h / GRID
    cells = sorted(rng.choice(GRID * GRID, size=n, replace=False).tolist())
    objs = []
    for cell in cells:
        row, col = divmod(int(cell), GRID)
        k = RADII.index(float(rng.choice(RADII)))
        objs.append({"shape": str(rng.choice(SHAPES)), "colour": str(rng.choice(list(COLOURS))), "row": row, "col": col,
                     "cx": (col + 0.5) * cw, "cy": (row + 0.5) * ch, "r": RADII[k] * min(cw, ch), "size": SIZE_WORDS[k]})
    return objs


ROWS = ["top", "upper", "lower", "bottom"]
COLUMNS = ["far left", "left", "right", "far right"]


def where(o):
    """The shape's grid cell in words ("upper far right"): the think text says it before the coordinates."""
    return f"{ROWS[o['row']]} {COLUMNS[o['col']]}"


def choose_question(rng, objs):
    """Returns (question, target indices, kind) with an unambiguous answer, or None."""
    kinds = ["colour_shape", "largest_colour", "smallest_shape", "all_colour", "every_shape"]
    for kind in rng.permutation(kinds):
        if kind == "colour_shape":
            o = objs[int(rng.integers(len(objs)))]
            same = [i for i, p in enumerate(objs) if p["colour"] == o["colour"] and p["shape"] == o["shape"]]
            if len(same) == 1:
                return f"the {o['colour']} {o['shape']}", same, "single"
        elif kind == "largest_colour":
            c = objs[int(rng.integers(len(objs)))]["colour"]
            idx = [i for i, p in enumerate(objs) if p["colour"] == c]
            rs = sorted((objs[i]["r"] for i in idx), reverse=True)
            if len(idx) >= 2 and rs[0] > rs[1]:
                return f"the largest {c} object", [max(idx, key=lambda i: objs[i]["r"])], "single"
        elif kind == "smallest_shape":
            s = objs[int(rng.integers(len(objs)))]["shape"]
            idx = [i for i, p in enumerate(objs) if p["shape"] == s]
            rs = sorted(objs[i]["r"] for i in idx)
            if len(idx) >= 2 and rs[0] < rs[1]:
                return f"the smallest {s}", [min(idx, key=lambda i: objs[i]["r"])], "single"
        elif kind == "all_colour":
            c = objs[int(rng.integers(len(objs)))]["colour"]
            return f"all {c} shapes", [i for i, p in enumerate(objs) if p["colour"] == c], "multi"
        else:
            s = objs[int(rng.integers(len(objs)))]["shape"]
            return f"every {s}", [i for i, p in enumerate(objs) if p["shape"] == s], "multi"
    return None


def make_sample(rng, frame):
    w, h = SIZES[int(rng.integers(len(SIZES)))]
    objs = place_objects(rng, w, h)
    q = choose_question(rng, objs)
    if q is None:
        return None
    question, target_idx, kind = q
    pixels, ramp = background(rng, w, h)
    pixels = pixels.astype(np.float64)
    for o in objs:
        o["polygon"] = polygon_for(o["shape"], o["cx"], o["cy"], o["r"])
        m = Image.new("L", (w, h), 0)
        ImageDraw.Draw(m).polygon(o["polygon"], fill=1)
        inside = np.asarray(m).astype(bool)
        pixels[inside] = (1 - TINT) * np.array(COLOURS[o["colour"]], dtype=np.float64) + TINT * ramp[inside]
    img = Image.fromarray(np.clip(np.round(pixels), 0, 255).astype(np.uint8))
    fx, fy = frame / w, frame / h
    targets = []
    for i in target_idx:
        o = objs[i]
        m = Image.new("L", (w, h), 0)
        ImageDraw.Draw(m).polygon(o["polygon"], fill=1)
        mask = np.asarray(m).astype(bool)
        ys, xs = np.nonzero(mask)
        box = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
        p1, p2 = inscribed_points(mask)
        targets.append({"box": box, "polygon": [[round(x, 2), round(y, 2)] for x, y in o["polygon"]],
                        "points": [list(p1), list(p2)], "point": list(p1), "where": where(o),
                        "colour": o["colour"], "shape": o["shape"], "size": o["size"]})

    def m(v, f):
        return int(round(v * f))

    if len(targets) == 1:
        t = targets[0]
        think = f"The {t['size']} {t['colour']} {t['shape']} in the {t['where']} cell matches."
    else:
        think = (f"I see {len(targets)} matching shapes: "
                 + ", ".join(f"the {t['size']} {t['colour']} {t['shape']} ({t['where']})" for t in targets) + ".")
    vr = [{"bbox_2d": [m(t["box"][0], fx), m(t["box"][1], fy), m(t["box"][2], fx), m(t["box"][3], fy)],
           "point_2d": [m(t["point"][0], fx), m(t["point"][1], fy)]} for t in targets]
    answers = {"vision-reasoner": f"<think>{think}</think><answer>{json.dumps(vr)}</answer>"}
    if kind == "single":
        t = targets[0]
        sz = {"bbox": vr[0]["bbox_2d"], "points_1": [m(t["points"][0][0], fx), m(t["points"][0][1], fy)],
              "points_2": [m(t["points"][1][0], fx), m(t["points"][1][1], fy)]}
        answers["seg-zero"] = f"<think>{think}</think><answer>{json.dumps(sz)}</answer>"
    shapes = [{"label": "target", "shape_type": "polygon", "points": t["polygon"], "group_id": None, "flags": {}}
              for t in targets]
    objects = [{"cell": [o["row"], o["col"]], "colour": o["colour"], "shape": o["shape"], "size": o["size"], "where": where(o)}
               for o in objs]
    meta = {"text": [question], "is_sentence": False, "shapes": shapes, "kind": kind, "frame": frame,
            "targets": targets, "answers": answers, "width": w, "height": h, "objects": objects}
    return img, meta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--val", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--frame", type=int, default=112, help="model frame size (the toy profile's pre-resize)")
    args = ap.parse_args()
    for split, count, seed in [("train", args.train, args.seed), ("val", args.val, args.seed + 10_000)]:
        rng = np.random.default_rng(seed)
        d = Path(args.out) / split
        d.mkdir(parents=True, exist_ok=True)
        n = 0
        while n < count:
            s = make_sample(rng, args.frame)
            if s is None:
                continue
            img, meta = s
            img.save(d / f"{split}_{n:05d}.jpg", quality=92)
            (d / f"{split}_{n:05d}.json").write_text(json.dumps(meta))
            n += 1
        print(f"{split}: {count} samples in {d}")


if __name__ == "__main__":
    main()
