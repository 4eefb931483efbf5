#!/usr/bin/env python3
"""A minimal planner for perception-node (docs/messages.md): asks a question on the service socket, listens
to results and status on the PUB socket, and decodes masks with pycocotools.

    pip install pyzmq==27.3.0 msgpack==1.2.4 pycocotools==2.0.11 numpy
    perception-node launch launch/replay.yaml          # in another terminal
    python3 tools/planner_example.py --text "the coffee cup"
"""
import argparse
import time
import uuid

import msgpack
import zmq


def make_query(text=None, box=None, deadline_ms=None):
    q = {"schema": "perception/Query", "v": 1, "request_id": str(uuid.uuid4()),
         "outputs": {"mask": "rle", "think": True}}
    if text:
        q["text"] = text
    if box:
        q["prompt"] = {"boxes": [box]}
    if deadline_ms is not None:
        q["deadline_ms"] = deadline_ms  # a budget in ms from arrival
    return q


def describe(result):
    print(f"request {result['request_id']}: {result['status']}")
    if result["status"] == "error":
        print(f"  error {result['error']['code']}: {result['error']['message']}")
    if "header" in result:
        h, img = result["header"], result["image"]
        print(f"  frame seq {h['seq']} stamp {h['stamp_ns']} ({h['frame_id']}), {img['width']}x{img['height']}")
    for i, obj in enumerate(result["objects"]):
        print(f"  object {i}: bbox {obj['bbox']} score {obj['score']:.3f} area {obj['area']} centroid {obj.get('centroid')}")
        mask = obj.get("mask")
        if mask and mask["encoding"] == "coco_rle":
            from pycocotools import mask as cocomask
            m = cocomask.decode({"size": mask["size"], "counts": mask["counts"].encode()})  # (h, w) uint8
            print(f"    mask {m.shape}, {int(m.sum())} pixels")
    if result.get("think"):
        print(f"  think: {result['think'][:200]}")
    print(f"  timing_ms: {result['timing_ms']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--service", default="tcp://127.0.0.1:5562")
    ap.add_argument("--publish", default="tcp://127.0.0.1:5561")
    ap.add_argument("--text", default="Which object could hold hot coffee?")
    ap.add_argument("--box", type=float, nargs=4, metavar=("X1", "Y1", "X2", "Y2"), help="direct SAM2 box prompt")
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()

    ctx = zmq.Context()
    # Status and results arrive on the PUB socket as [topic, msgpack payload]; compare the topic exactly.
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"perception/status")
    sub.connect(args.publish)
    if sub.poll(3000):
        topic, payload = sub.recv_multipart()
        if topic == b"perception/status":
            st = msgpack.unpackb(payload)
            print(f"node {st['node']['name']}: {st['state']}, camera {st['camera']['state']} "
                  f"({st['camera']['fps']:.1f} fps), queue {st['queue']['depth']}/{st['queue']['capacity']}, "
                  f"models {st['models']['loaded']}")

    # The service socket: a DEALER sends one frame (the Query) and receives one frame (its Result).
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(args.service)
    query = make_query(text=None if args.box else args.text, box=args.box)
    dealer.send(msgpack.packb(query))
    deadline = time.time() + args.timeout
    while time.time() < deadline:
        if dealer.poll(200):
            result = msgpack.unpackb(dealer.recv_multipart()[-1])
            if result["request_id"] == query["request_id"]:
                describe(result)
                return 0 if result["status"] != "error" else 2
    print("no result within timeout")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
