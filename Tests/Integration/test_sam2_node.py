"""SAM2 through the bus: the node answers direct-prompt queries with masks equal to the official sam2
package's (SAM2ImagePredictor on the same random-weight checkpoint and photo, Tests/Fixtures/sam2, written by
tools/sam2/make_fixtures.py), reuses the frame's image embedding for a second prompt, and rejects bad prompts."""
import json
import shutil

import msgpack
import numpy as np
import pytest
from pycocotools import mask as cocomask

from conftest import REPO, Node, check_result, new_id

FIXTURES = REPO / "Tests/Fixtures/sam2"


def prompt_query(request_id, prompt, **extra):
    q = {"schema": "perception/Query", "v": 1, "request_id": request_id, "prompt": prompt}
    q.update(extra)
    return msgpack.packb(q, use_bin_type=True)


def reference_best(case_dir, k, mask_shape):
    scores = np.load(case_dir / f"case{k}_scores.npy").reshape(-1)
    packed = np.load(case_dir / f"case{k}_masks.npy")  # np.packbits of the boolean masks
    masks = np.unpackbits(packed)[:int(np.prod(mask_shape))].reshape(mask_shape).astype(bool)
    best = len(scores) - 1 - int(np.argmax(scores[::-1]))  # argsort(scores)[::-1][0]: ties go to the later mask
    return masks[best].astype(bool), float(scores[best])


@pytest.mark.parametrize("model", ["sam2-mini", "sam2.1-mini"])
def test_direct_prompts_match_official_sam2(tmp_path, model):
    fixture = FIXTURES / model
    meta = json.loads((fixture / "meta.json").read_text())
    frames = tmp_path / "frames"
    frames.mkdir()
    shutil.copy(fixture / "image.png", frames / "frame.png")
    node = Node(tmp_path, sets=[f"camera.path={frames}", "camera.rate=2", f"model.segmenter={fixture / 'model.pt'}",
                                f"model.segmenter_arch={fixture / 'meta.json'}"])
    try:
        node.wait_ready()
        dealer = node.dealer()
        first = None
        for k, case in enumerate(meta["cases"]):
            if not case["multimask"] or "mask_input_from" in case:
                continue  # the node always asks for multimask outputs and keeps the best
            prompt = {}
            if case["box"] is not None:
                prompt["boxes"] = [case["box"]]
            if case["points"] is not None:
                prompt["points"] = case["points"]
                prompt["labels"] = case["labels"]
            extra = {} if first is None else {"frame": {"seq": first["header"]["seq"]}}
            r = check_result(node.request(prompt_query(new_id("sam2"), prompt, **extra), dealer=dealer, timeout=60))
            assert r["status"] == "ok", r
            assert r["model"]["segmenter"].endswith("model.pt")
            assert len(r["objects"]) == 1
            obj = r["objects"][0]
            got = cocomask.decode({"size": obj["mask"]["size"], "counts": obj["mask"]["counts"].encode()}).astype(bool)
            want, want_score = reference_best(fixture, k, case["mask_shape"])
            iou = (got & want).sum() / max(1, (got | want).sum())
            assert iou >= 0.99, f"case {k}: IoU {iou:.4f} with the official predictor"
            assert abs(obj["score"] - want_score) <= 1e-3, (obj["score"], want_score)
            if first is None:
                first = r
            else:
                # Same frame (asked for by seq): the image embedding comes from the cache.
                assert r["header"]["seq"] == first["header"]["seq"]
                assert r["timing_ms"]["vision"] < first["timing_ms"]["vision"] / 5, (r["timing_ms"], first["timing_ms"])
        assert first is not None
        # A bad prompt is a bad_request, and the node keeps serving.
        bad = node.request(prompt_query(new_id("bad"), {"boxes": [[10, 10, 5, 5]]}), dealer=dealer, timeout=30)
        assert check_result(bad)["error"]["code"] == "bad_request"
        ok = node.request(prompt_query(new_id("png"), {"boxes": [meta["cases"][0]["box"]]}, outputs={"mask": "png"}),
                          dealer=dealer, timeout=30)
        assert check_result(ok)["status"] == "ok"
        assert ok["objects"][0]["mask"]["encoding"] == "png"
    finally:
        node.close()
