#!/usr/bin/env python3
"""Demo planner for the toy world (launch/toy-demo.yaml starts it next to the node).

The node replays a folder of toy scenes (ReasonSeg layout: X.jpg + X.json with the question and the
ground-truth polygons) once, in file-name order, so frame `seq` k is the k-th scene. For each scene this
planner asks the scene's own question about frame k on the service socket, prints the think text, the
objects and the per-stage timing, writes an overlay image (masks, boxes, points) and reports the mask IoU
against the ground truth. Then it asks one question a second time on the same frame to show the per-frame
cache (the vision tower and the SAM2 image embedding are not recomputed).

    python3 tools/demo_planner.py --scenes assets/toy-scenes --out out/demo
Needs pyzmq, msgpack, numpy, Pillow (Tests/Integration/requirements.txt).
"""
import argparse
import io
import json
import sys
import time
import uuid
from pathlib import Path

import msgpack
import numpy as np
import zmq
from PIL import Image, ImageDraw

PALETTE = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240)]


def ask(dealer, text, seq, mode="auto", timeout=120.0):
    """One query on the service socket; returns its Result (or raises TimeoutError)."""
    q = {"schema": "perception/Query", "v": 1, "request_id": str(uuid.uuid4()), "text": text, "mode": mode,
         "frame": {"seq": seq}, "outputs": {"mask": "png", "think": True}}
    dealer.send(msgpack.packb(q))
    deadline = time.time() + timeout
    while time.time() < deadline:
        if dealer.poll(200):
            r = msgpack.unpackb(dealer.recv_multipart()[-1])
            if r.get("request_id") == q["request_id"]:
                return r
    raise TimeoutError(f"no Result for {text!r} within {timeout:.0f} s")


def ask_when_ready(dealer, text, seq, mode, wait):
    """Asks, retrying while the frame has not been replayed yet (no_frame)."""
    deadline = time.time() + wait
    while True:
        r = ask(dealer, text, seq, mode)
        code = r.get("error", {}).get("code") if r["status"] == "error" else None
        if code != "no_frame" or time.time() > deadline:
            return r
        time.sleep(0.3)


def mask_of(obj):
    m = obj.get("mask") or {}
    if m.get("encoding") != "png":
        return None
    return np.asarray(Image.open(io.BytesIO(m["data"]))) > 0


def ground_truth(annotation, w, h):
    m = Image.new("L", (w, h), 0)
    for shape in annotation.get("shapes", []):
        if "ignore" not in shape.get("label", "").lower():
            ImageDraw.Draw(m).polygon([tuple(p) for p in shape["points"]], fill=1)
    return np.asarray(m) > 0


def overlay(image, result):
    """Dims the background, tints each object's mask, draws its box and points."""
    base = np.asarray(image.convert("RGB")).astype(np.float32)
    out = base * 0.4
    for k, obj in enumerate(result["objects"]):
        m = mask_of(obj)
        if m is not None and m.shape == base.shape[:2]:
            out[m] = base[m] * 0.5 + np.array(PALETTE[k % len(PALETTE)]) * 0.5
    img = Image.fromarray(out.clip(0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    for k, obj in enumerate(result["objects"]):
        colour = PALETTE[k % len(PALETTE)]
        d.rectangle(obj["bbox"], outline=colour, width=2)
        for x, y in obj["points"]:
            d.ellipse([x - 4, y - 4, x + 4, y + 4], fill=(255, 255, 255), outline=colour, width=2)
    return img


def report(name, question, r, gt):
    print(f"\n[{name}] Q: {question!r}  -> {r['status']}")
    if r["status"] == "error":
        print(f"  error {r['error']['code']}: {r['error']['message']}")
    if r.get("think"):
        print(f"  think: {r['think']}")
    predicted = np.zeros_like(gt)
    for i, obj in enumerate(r["objects"]):
        cx, cy = obj.get("centroid") or (0, 0)
        print(f"  object {i}: bbox {obj['bbox']} points {obj['points']} score {obj['score']:.3f} "
              f"area {obj['area']} centroid ({cx:.1f}, {cy:.1f})")
        m = mask_of(obj)
        if m is not None and m.shape == gt.shape:
            predicted |= m
    union = (predicted | gt).sum()
    iou = float((predicted & gt).sum() / union) if union else 1.0
    t = r.get("timing_ms", {})
    print("  timing_ms: " + ", ".join(f"{k} {t[k]:.1f}" for k in
                                      ("queue", "preprocess", "vision", "prefill", "decode", "segment", "total") if k in t))
    print(f"  mask IoU with the ground truth: {iou:.3f}")
    return iou


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", default="assets/toy-scenes", help="the folder the node replays")
    ap.add_argument("--out", default="out/demo", help="where overlay PNGs go")
    ap.add_argument("--service", default="tcp://127.0.0.1:5562")
    ap.add_argument("--limit", type=int, default=6, help="scenes to ask about")
    ap.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the node and its first frames")
    args = ap.parse_args()

    scenes = sorted(Path(args.scenes).glob("*.json"))
    if not scenes:
        sys.exit(f"demo_planner: no scene .json files in {args.scenes}")
    images = {p.stem: p for p in Path(args.scenes).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(args.service)

    ious = []
    for seq, js in enumerate(scenes[:args.limit]):
        annotation = json.loads(js.read_text())
        question = annotation["text"][0]
        mode = "single" if annotation.get("kind") == "single" else "multi"
        r = ask_when_ready(dealer, question, seq, mode, args.wait)
        with Image.open(images[js.stem]) as im:
            gt = ground_truth(annotation, *im.size)
            ious.append(report(js.stem, question, r, gt))
            if r["status"] != "error":
                path = out / f"{js.stem}.png"
                overlay(im, r).save(path)
                print(f"  overlay: {path}")

    # The same frame again: the vision tower output and the SAM2 embedding come from the per-frame cache.
    annotation = json.loads(scenes[0].read_text())
    with Image.open(images[scenes[0].stem]) as im:
        gt = ground_truth(annotation, *im.size)
    r = ask(dealer, annotation["text"][0], 0, "multi")
    report(scenes[0].stem + " (asked again: cached frame)", annotation["text"][0], r, gt)
    print(f"\nmean mask IoU over {len(ious)} scenes: {np.mean(ious):.3f}")
    dealer.close()
    ctx.term()


if __name__ == "__main__":
    main()
