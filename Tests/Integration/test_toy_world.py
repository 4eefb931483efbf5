"""The whole pipeline through the bus on the toy world (tools/toy, models/toy, config/models/toy.yaml).

The node replays the bundled held-out toy scenes (assets/toy-scenes, not in the training set) once, so frame seq
k is the k-th scene, and keeps them all in its frame ring. A pyzmq DEALER asks each scene's own question about
its frame (single-object questions in the Seg-Zero format, multi-object ones in the VisionReasoner format).
Checked: the masks against the scenes' ground-truth polygons (mean IoU >= 0.8; the number of objects right on at
least 3/4 of the multi-object questions), the boxes, points and masks
against the Python reference pipeline (tools/toy/reference_pipeline.py: Seg-Zero's inference logic with
transformers + the official sam2 on the same toy models and frames, committed as
Tests/Fixtures/toy/reference/toy-*.json), and that a second question about a frame is served from the per-frame
caches and is cheaper.
"""
import io
import json
import re

import numpy as np
import pytest
from PIL import Image, ImageDraw

from conftest import REPO, new_id, unpack

import msgpack

SCENES = REPO / "assets/toy-scenes"
TOY = REPO / "models/toy"
REFERENCE = {"single": REPO / "Tests/Fixtures/toy/reference/toy-seg-zero.json",
             "multi": REPO / "Tests/Fixtures/toy/reference/toy-vision-reasoner.json"}

pytestmark = pytest.mark.skipif(
    not (TOY / "reasoner/model.safetensors").exists(),
    reason="models/toy/reasoner/model.safetensors is not unpacked (scripts/test.sh runs tools/toy/unpack.sh)")


def scenes():
    return [json.loads(p.read_text()) | {"id": p.stem} for p in sorted(SCENES.glob("*.json"))]


def ground_truth(scene):
    m = Image.new("L", (scene["width"], scene["height"]), 0)
    for shape in scene["shapes"]:
        ImageDraw.Draw(m).polygon([tuple(p) for p in shape["points"]], fill=1)
    return np.asarray(m) > 0


def png_mask(obj):
    assert obj["mask"]["encoding"] == "png"
    return np.asarray(Image.open(io.BytesIO(obj["mask"]["data"]))) > 0


def rle_reference(m):
    from pycocotools import mask as cocomask
    return cocomask.decode(cocomask.frPyObjects(m, *m["size"])).astype(bool)


def iou(a, b):
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def ask(node, dealer, text, seq, mode):
    q = {"schema": "perception/Query", "v": 1, "request_id": new_id("toy"), "text": text, "mode": mode,
         "frame": {"seq": seq}, "outputs": {"mask": "png", "think": True}}
    r = node.request(msgpack.packb(q), dealer, timeout=120)
    assert r is not None, "no Result within 120 s:\n" + node.read_log()
    assert r["request_id"] == q["request_id"]
    return r


@pytest.fixture(scope="module")
def toy_results(tmp_path_factory):
    """Starts the node on the toy scenes and asks every scene's question once (and scene 0's a second time)."""
    from conftest import Node
    node = Node(tmp_path_factory.mktemp("toy"), sets=[
        f"camera.path={SCENES}", "camera.rate=50", "camera.loop=false", "limits.frame_ring=64",
        "model.profile=toy", "model.cache_frames=4"])
    try:
        node.wait_ready(timeout=60)
        dealer = node.dealer()
        results = []
        for seq, scene in enumerate(scenes()):
            mode = "single" if scene["kind"] == "single" else "multi"
            results.append((scene, mode, ask(node, dealer, scene["text"][0], seq, mode)))
        # the frames were asked about in order, with cache_frames=4: scene 0's caches are gone, scene 15's kept
        last = len(results) - 1
        scene, mode, first = results[last]
        again = ask(node, dealer, scene["text"][0], last, mode)
        status = node.next_status(node.status_sub(), timeout=5)
        yield {"results": results, "first": first, "again": again, "status": status}
    finally:
        node.close()


def tagged(text, tag):
    """The trimmed text inside the first <tag>...</tag> of a model output (None when absent)."""
    m = re.search(rf"<{tag}>(.*?)</{tag}>", text, re.S)
    return m.group(1).strip() if m else None


def test_masks_match_the_ground_truth(toy_results):
    ious, counts = [], []
    for scene, mode, r in toy_results["results"]:
        assert r["status"] == "ok", (scene["id"], r.get("error"), r.get("answer"))
        assert r["image"] == {"width": scene["width"], "height": scene["height"]}
        assert r["think"] and r["answer"], r
        predicted = np.zeros((scene["height"], scene["width"]), bool)
        for obj in r["objects"]:
            predicted |= png_mask(obj)
        ious.append(iou(predicted, ground_truth(scene)))
        if mode == "multi":
            counts.append((scene["id"], len(r["objects"]), len(scene["targets"])))
    print("per-scene IoU:", [round(x, 3) for x in ious], "mean", round(float(np.mean(ious)), 3))
    print("multi-object counts (scene, found, true):", counts)
    assert np.mean(ious) >= 0.8, ious
    # the toy reasoner is not perfect (47 of 64 held-out answers exact at the end of its training)
    assert sum(found == true for _, found, true in counts) >= 0.75 * len(counts), counts
    assert any(mode == "multi" and len(s["targets"]) > 1 for s, mode, _ in toy_results["results"]), \
        "the scenes include a multi-object question"


def test_results_equal_the_python_reference_pipeline(toy_results):
    refs = {mode: {s["id"]: s for s in json.loads(path.read_text())["samples"]} for mode, path in REFERENCE.items()}
    compared = 0
    for scene, mode, r in toy_results["results"]:
        ref = refs[mode].get(scene["id"])
        assert ref is not None, f"{scene['id']} is missing from {REFERENCE[mode].name}: regenerate it"
        assert r["status"] == ref["status"], (scene["id"], r["status"], ref["status"])
        # an ok Result carries the think text and the text inside <answer> (trimmed), not the whole output
        assert r["think"] == tagged(ref["generated_text"], "think"), (scene["id"], r["think"], ref["generated_text"])
        assert r["answer"] == tagged(ref["generated_text"], "answer"), (scene["id"], r["answer"], ref["generated_text"])
        assert len(r["objects"]) == len(ref["objects"])
        for mine, theirs in zip(r["objects"], ref["objects"]):
            assert mine["bbox"] == theirs["bbox"] and mine["points"] == theirs["points"], (scene["id"], mine, theirs)
            assert iou(png_mask(mine), rle_reference(theirs["mask"])) >= 0.99, scene["id"]
            assert abs(mine["score"] - theirs["score"]) < 1e-3, (scene["id"], mine["score"], theirs["score"])
            compared += 1
    assert compared >= len(toy_results["results"])


def test_second_question_on_a_frame_is_served_from_the_caches(toy_results):
    first, again = toy_results["first"], toy_results["again"]
    assert first["cache"] == {"vision": False, "prefix": False, "embedding": False}, first["cache"]
    assert again["cache"] == {"vision": True, "prefix": True, "embedding": True}, again["cache"]
    assert again["answer"] == first["answer"]
    for a, b in zip(again["objects"], first["objects"]):
        assert a["bbox"] == b["bbox"] and np.array_equal(png_mask(a), png_mask(b))
    t1, t2 = first["timing_ms"], again["timing_ms"]
    print("first:", t1, "\nagain:", t2)
    # the vision tower, the system + image prefill and the SAM2 image encoder did not run again
    cached = ("vision", "prefill", "segment")
    assert sum(t2[k] for k in cached) < 0.5 * sum(t1[k] for k in cached), (t1, t2)
    assert toy_results["status"]["cache"]["hits"] >= 2


def test_demo_launch_file_runs_the_planner(tmp_path):
    """What scripts/run-demo.sh runs: launch/toy-demo.yaml starts the node and the demo planner, which asks its
    questions, prints the answers and writes overlays; planner_exit:=shutdown stops everything when it is done."""
    import subprocess
    import sys
    from conftest import free_ports, node_binary
    q, p, s = (f"tcp://127.0.0.1:{port}" for port in free_ports(3))
    out = tmp_path / "demo"
    proc = subprocess.run(
        [node_binary(), "launch", "launch/toy-demo.yaml", f"out:={out}", "limit:=3", "planner_exit:=shutdown",
         f"python:={sys.executable}", f"query:={q}", f"publish:={p}", f"service:={s}"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert sorted(x.name for x in out.glob("*.png")) == [f"val_0000{i}.png" for i in range(3)], log[-2000:]
    for overlay in out.glob("*.png"):
        with Image.open(overlay) as im:
            assert im.mode == "RGB" and im.size[0] > 100
    assert log.count("mask IoU with the ground truth") == 4, log[-4000:]
    assert "asked again: cached frame" in log and "mean mask IoU over 3 scenes" in log, log[-4000:]
