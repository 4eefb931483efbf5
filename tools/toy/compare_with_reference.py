#!/usr/bin/env python3
"""Checks `perception-node segment` against the Python reference pipeline on any reasoner + SAM2 pair, scene by
scene: the same think and answer text, boxes and points, SAM2 scores within 1e-3 and masks with IoU >= 0.99.

For models that are not committed (a toy model in training, a downloaded checkpoint); the committed toy models
are checked the same way through the bus by Tests/Integration/test_toy_world.py.

  OMP_NUM_THREADS=2 .venv-ref/bin/python tools/toy/reference_pipeline.py --reasoner R --segmenter S.pt \\
      --segmenter-arch S.json --frame 112 --template vision-reasoner --scenes assets/toy-scenes --out ref.json
  python3 tools/toy/compare_with_reference.py --reference ref.json --mode multi --reasoner R --segmenter S.pt \\
      --segmenter-arch S.json --scenes assets/toy-scenes

--mode single goes with the seg-zero template, multi with vision-reasoner. Exit status 1 when any scene differs.
Needs pycocotools and numpy (the Python test peers) and a built node (.build/release/perception-node).
"""
import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

REPO = Path(__file__).resolve().parents[2]


def tagged(text, tag):
    m = re.search(rf"<{tag}>(.*?)</{tag}>", text, re.S)
    return m.group(1).strip() if m else None


def reference_mask(rle):
    """The reference pipeline's uncompressed column-major RLE."""
    h, w = rle["size"]
    flat = np.zeros(h * w, np.uint8)
    pos, val = 0, 0
    for c in rle["counts"]:
        flat[pos:pos + c] = val
        pos += c
        val ^= 1
    return flat.reshape((w, h)).T.astype(bool)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", required=True, help="reference_pipeline.py output")
    ap.add_argument("--mode", choices=["single", "multi"], required=True)
    ap.add_argument("--reasoner", required=True)
    ap.add_argument("--segmenter", required=True)
    ap.add_argument("--segmenter-arch", default="auto")
    ap.add_argument("--scenes", required=True, help="the scenes folder the reference ran on")
    ap.add_argument("--profile", default="toy")
    ap.add_argument("--node", default=str(REPO / ".build/release/perception-node"))
    args = ap.parse_args()
    samples = json.loads(Path(args.reference).read_text())["samples"]
    differing = 0
    for s in samples:
        question = json.loads((Path(args.scenes) / f"{s['id']}.json").read_text())["text"][0]
        image = next(p for p in Path(args.scenes).glob(f"{s['id']}.*") if p.suffix in (".jpg", ".png"))
        run = subprocess.run([args.node, "segment", "--set", f"model.profile={args.profile}",
                              "--set", f"model.reasoner={args.reasoner}", "--set", f"model.segmenter={args.segmenter}",
                              "--set", f"model.segmenter_arch={args.segmenter_arch}", "--image", str(image),
                              "--text", question, "--mode", args.mode, "--json", "--mask", "rle"],
                             capture_output=True, text=True)
        if run.returncode != 0:
            print(f"{s['id']}: node failed: {run.stderr.strip()}")
            differing += 1
            continue
        r = json.loads(run.stdout)
        diffs = []
        want_status = "ok" if s["status"] == "ok" else "error"
        if r["status"] != want_status:
            diffs.append(f"status {r['status']} vs {s['status']}")
        if s["status"] == "ok":
            if r.get("think") != tagged(s["generated_text"], "think") or r.get("answer") != tagged(s["generated_text"], "answer"):
                diffs.append(f"text {r.get('think')!r} {r.get('answer')!r} vs {s['generated_text']!r}")
        objects = r.get("objects", [])
        if len(objects) != len(s["objects"]):
            diffs.append(f"{len(objects)} objects vs {len(s['objects'])}")
        for mine, theirs in zip(objects, s["objects"]):
            if mine["bbox"] != theirs["bbox"] or mine["points"] != theirs["points"]:
                diffs.append(f"box/points {mine['bbox']} {mine['points']} vs {theirs['bbox']} {theirs['points']}")
            if abs(mine["score"] - theirs["score"]) > 1e-3:
                diffs.append(f"score {mine['score']:.5f} vs {theirs['score']:.5f}")
            m = mask_utils.decode({"size": mine["mask"]["size"], "counts": mine["mask"]["counts"].encode()}).astype(bool)
            t = reference_mask(theirs["mask"])
            iou = (m & t).sum() / (m | t).sum() if (m | t).any() else 1.0  # two empty masks agree
            if iou < 0.99:
                diffs.append(f"mask IoU {iou:.4f}")
        differing += bool(diffs)
        print(f"{s['id']}: {'same' if not diffs else '; '.join(diffs)}")
    print(f"{len(samples) - differing}/{len(samples)} scenes identical")
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()
