"""`perception-node segment` and `perception-node eval` against the Python reference pipeline.

Tests/Fixtures/toy/reference/*.json were written by tools/toy/reference_pipeline.py (Seg-Zero's inference logic
with transformers + the official sam2; regenerate with tools/toy/make_reference_fixtures.sh) on
the committed tiny random Qwen2.5-VL and SAM2 fixtures and four toy scenes (Tests/Fixtures/toy/val). The random
reasoners write unparseable text, so there both sides must agree on the raw generated text and report the
parse failure; where the reference parsed an answer, boxes and points must be equal and masks reach IoU >= 0.99.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw
from pycocotools import mask as cocomask

from conftest import REPO, node_binary

FIXTURES = REPO / "Tests/Fixtures/toy/reference"
SCENES = REPO / "Tests/Fixtures/toy/val"
CASES = sorted(FIXTURES.glob("*.json"))
TINY = sorted((REPO / "Tests/Fixtures/qwen25vl/models").iterdir())


@pytest.fixture(scope="module", autouse=True)
def tokenizer_files():
    """The tiny models' tokenizer files are not committed (11 MB); tools/qwen/install_tokenizer.py installs them."""
    if all((m / "tokenizer.json").exists() and (m / "vocab.json").exists() for m in TINY):
        return
    p = subprocess.run([sys.executable, str(REPO / "tools/qwen/install_tokenizer.py"), *map(str, TINY)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]


def model_sets(ref):
    return ["--set", f"model.reasoner={REPO / ref['reasoner']}", "--set", f"model.segmenter={REPO / ref['segmenter']}",
            "--set", f"model.segmenter_arch={REPO / ref['segmenter_arch']}", "--set", f"model.frame={ref['frame']}",
            "--set", f"model.max_new_tokens={ref['max_new_tokens']}", "--set", f"model.template={ref['template']}"]


def run(args, timeout=600):
    p = subprocess.run([node_binary(), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{args[0]} exited {p.returncode}: {p.stderr[-2000:]}"
    return p.stdout


def rle_mask(m):
    if isinstance(m["counts"], list):
        return cocomask.decode(cocomask.frPyObjects(m, *m["size"])).astype(bool)
    return cocomask.decode({"size": m["size"], "counts": m["counts"].encode()}).astype(bool)


def check_against_reference(ref, tmp_path):
    mode = "single" if ref["template"] == "seg-zero" else "multi"
    assert ref["samples"]
    for s in ref["samples"]:
        image = next(p for p in (REPO / ref["scenes"]).glob(s["id"] + ".*") if p.suffix != ".json")
        overlay = tmp_path / f"{s['id']}.png"
        out = run(["segment", *model_sets(ref), "--image", str(image), "--text", s["question"], "--mode", mode,
                   "--json", "--mask-out", str(overlay)])
        r = json.loads(out)
        assert r["schema"] == "perception/Result" and r["image"] == {"width": s["width"], "height": s["height"]}, r
        with Image.open(overlay) as im:
            assert im.size == (s["width"], s["height"]) and im.mode == "RGB"
        if s["status"] == "answer_unparseable":
            assert r["status"] == "error" and r["error"]["code"] == "answer_unparseable", (s["id"], r)
            assert r["answer"] == s["generated_text"], (s["id"], r["answer"], s["generated_text"])
            assert r["objects"] == []
            continue
        assert r["status"] == s["status"], (s["id"], r)
        assert len(r["objects"]) == len(s["objects"])
        for mine, theirs in zip(r["objects"], s["objects"]):
            assert mine["bbox"] == theirs["bbox"] and mine["points"] == theirs["points"], (s["id"], mine, theirs)
            a, b = rle_mask(mine["mask"]), rle_mask(theirs["mask"])
            union = np.logical_or(a, b).sum()
            iou = np.logical_and(a, b).sum() / union if union else 1.0
            assert iou >= 0.99, (s["id"], iou)
            assert abs(mine["score"] - theirs["score"]) < 1e-3, (s["id"], mine["score"], theirs["score"])


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_segment_matches_reference_pipeline(tmp_path, case):
    check_against_reference(json.loads(case.read_text()), tmp_path)


TOY = REPO / "models/toy"


@pytest.mark.skipif(not ((TOY / "reasoner/model.safetensors").exists() and (TOY / "segmenter.pt").exists()
                         and (REPO / ".venv-ref/bin/python").exists()),
                    reason="the trained toy models (models/toy, tools/toy/train_all.sh) or .venv-ref are not here")
def test_segment_matches_reference_on_toy_models(tmp_path):
    """The trained toy models answer parseably: boxes, points and masks are compared, not just the raw text."""
    out = tmp_path / "toy-reference.json"
    p = subprocess.run([str(REPO / ".venv-ref/bin/python"), str(REPO / "tools/toy/reference_pipeline.py"),
                        "--reasoner", "models/toy/reasoner", "--segmenter", "models/toy/segmenter.pt",
                        "--segmenter-arch", "models/toy/segmenter.json", "--frame", "112", "--template", "vision-reasoner",
                        "--max-new-tokens", "160", "--scenes", "assets/toy-scenes", "--limit", "4", "--out", str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=1200,
                       env={**os.environ, "OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"})
    assert p.returncode == 0, p.stderr[-2000:]
    ref = json.loads(out.read_text())
    assert any(s["status"] == "ok" for s in ref["samples"]), "the toy reasoner answered nothing parseable"
    check_against_reference(ref, tmp_path)


def gt_mask_pil(annotation, w, h):
    m = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(m)
    for shape in annotation["shapes"]:
        if shape["label"].lower() != "flag":
            v = 255 if "ignore" in shape["label"].lower() else 1
            d.polygon([tuple(map(int, p)) for p in shape["points"]], fill=v, outline=v)
    return np.asarray(m)


def check_eval(args, tmp_path, limit, scenes=SCENES):
    """Runs eval and checks its report against a recomputation from its JSONL (and the JSONL against a PIL
    rasterization of the polygons, which differs from OpenCV's only along edges); returns (report, rows)."""
    jsonl = tmp_path / "eval.jsonl"
    report = json.loads(run(["eval", *args, "--data", str(scenes), "--json", "--jsonl", str(jsonl), "--limit", str(limit)]))
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert report["samples"] == limit == len(rows)
    assert [r["id"] for r in rows] == sorted(p.stem for p in scenes.glob("*.json"))[:limit]
    for r in rows:
        annotation = json.loads((scenes / f"{r['id']}.json").read_text())
        assert r["question"] == annotation["text"][0]
        assert r["iou"] == pytest.approx(r["intersection"] / r["union"] if r["union"] else 1.0)
        prediction = rle_mask(r["mask"])
        gt = gt_mask_pil(annotation, r["width"], r["height"])
        assert prediction.shape == gt.shape
        inter = int((prediction & (gt == 1)).sum())
        union = int(((prediction | (gt == 1)) & (gt != 255)).sum())
        assert abs(r["intersection"] - inter) <= 0.03 * max(inter, 1) + 2, (r["id"], r["intersection"], inter)
        assert abs(r["union"] - union) <= 0.03 * union, (r["id"], r["union"], union)
        assert set(r["timings_ms"]) == {"preprocess", "vision", "prefill", "decode", "segment", "total"}
        assert r["timings_ms"]["total"] > 0 and r["timings_ms"]["prefill"] > 0 and r["timings_ms"]["decode"] > 0
    assert report["gIoU"] == pytest.approx(np.mean([r["iou"] for r in rows]))
    assert report["cIoU"] == pytest.approx(sum(r["intersection"] for r in rows) / sum(r["union"] for r in rows))
    statuses = {}
    for r in rows:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    assert report["statuses"] == statuses
    assert report["parse_failure_rate"] == pytest.approx(statuses.get("answer_unparseable", 0) / limit)
    assert report["no_target_rate"] == pytest.approx(statuses.get("no_target", 0) / limit)
    for stage in ("preprocess", "vision", "prefill", "decode", "segment", "total"):
        p = report["latency_ms"][stage]
        assert p["p50"] <= p["p90"] <= p["p99"]
        for q in (50, 90, 99):
            assert p[f"p{q}"] == pytest.approx(float(np.percentile([r["timings_ms"][stage] for r in rows], q)))
    return report, rows


def test_eval_report_matches_its_jsonl(tmp_path):
    ref = json.loads((FIXTURES / "tiny-segzero.json").read_text())
    report, rows = check_eval([*model_sets(ref), "--mode", "single"], tmp_path, 3)
    # the random reasoner answers nothing parseable: no boxes, nothing predicted, union = the ground truth
    assert report["statuses"] == {"answer_unparseable": 3} and report["gIoU"] == 0.0
    assert all(r["boxes"] == [] and r["intersection"] == 0 and not rle_mask(r["mask"]).any() for r in rows)


@pytest.mark.skipif(not ((TOY / "reasoner/model.safetensors").exists() and (TOY / "segmenter.pt").exists()),
                    reason="the trained toy models (models/toy, tools/toy/train_all.sh) are not here")
def test_eval_on_toy_models(tmp_path):
    """eval on the toy world's held-out scenes (assets/toy-scenes) with the trained toy models."""
    report, rows = check_eval(["--set", "model.profile=toy"], tmp_path, 16, scenes=REPO / "assets/toy-scenes")
    assert report["parse_failure_rate"] == 0 and report["gIoU"] >= 0.8, report


def test_segment_overlay_shows_masks_and_boxes(tmp_path):
    """--mask-out: outside every mask the image is dimmed to 2/5, inside object k's mask it is blended half and
    half with palette colour k (first colour (230, 25, 75)), and the box outline is drawn in that colour."""
    fixture = REPO / "Tests/Fixtures/sam2/sam2-mini"
    overlay = tmp_path / "overlay.png"
    box = [220, 49, 825, 297]
    r = json.loads(run(["segment", "--set", f"model.segmenter={fixture / 'model.pt'}", "--set",
                        f"model.segmenter_arch={fixture / 'meta.json'}", "--image", str(fixture / "image.png"),
                        "--box", ",".join(map(str, box)), "--json", "--mask-out", str(overlay)]))
    assert r["status"] == "ok" and len(r["objects"]) == 1, r
    mask = rle_mask(r["objects"][0]["mask"])
    image = np.asarray(Image.open(fixture / "image.png").convert("RGB")).astype(int)
    out = np.asarray(Image.open(overlay).convert("RGB")).astype(int)
    inside = np.zeros_like(mask)
    inside[box[1] + 2:box[3] - 1, box[0] + 2:box[2] - 1] = True  # away from the 2-px outline
    outline = np.zeros_like(mask)
    outline[box[1], box[0]:box[2] + 1] = True
    assert mask.sum() > 0 and (~mask & inside).sum() > 0
    colour = np.array([230, 25, 75])
    assert (out[mask & inside] == (image[mask & inside] + colour) // 2).all()
    assert (out[~mask & inside] == image[~mask & inside] * 2 // 5).all()
    assert (out[outline] == colour).all()
