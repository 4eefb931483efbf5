#!/usr/bin/env python3
"""Builds Tests/Fixtures/answers/corpus.json: reasoning-model outputs, what the reference scripts make of
them, and what our parser must make of them.

`reference` re-states the parsing of the reference scripts as documented in ENGINE_NOTES §0 (it is a
re-statement, not their code): Seg-Zero (single object, commit 77f9ea5) searches the first `{[^}]+}` in the
whole output, json.loads it, takes the first key containing "bbox" and the first two containing "points",
maps with round(int(v) * f); VisionReasoner json.loads the content of `<answer>\\s*(.*?)\\s*</answer>`,
expects a list of {bbox_2d, point_2d}, maps with int(v * f + 0.5). Think: `<think>([^<]+)</think>`.
Where the reference succeeds our parser must agree with it exactly; where it raises, `ours` says what we
must do instead (a tolerant parse, or an error: we never guess). Pure Python, no pinned packages needed.
Run: python3 tools/answers/make_answer_corpus.py
"""
import json
import re
from pathlib import Path

W, H = 1280, 720  # image size used for the coordinate mapping checks
FX, FY = W / 840, H / 840


def ref_think(text):
    m = re.search(r"<think>([^<]+)</think>", text)
    return m.group(1) if m else None


def ref_seg_zero(text):
    m = re.search(r"{[^}]+}", text)
    data = json.loads(m.group(0))
    bbox_key = next((k for k in data.keys() if "bbox" in k.lower()), None)
    b = data[bbox_key]
    assert len(b) == 4
    bbox = [round(int(b[0]) * FX), round(int(b[1]) * FY), round(int(b[2]) * FX), round(int(b[3]) * FY)]
    pk = [k for k in data.keys() if "points" in k.lower()][:2]
    assert len(pk) == 2
    pts = [[round(int(data[k][0]) * FX), round(int(data[k][1]) * FY)] for k in pk]
    return [{"bbox": bbox, "points": pts}]


def ref_vision_reasoner(text):
    m = re.search(r"<answer>\s*(.*?)\s*</answer>", text, re.DOTALL)
    data = json.loads(m.group(1))
    return [{"bbox": [int(it["bbox_2d"][0] * FX + 0.5), int(it["bbox_2d"][1] * FY + 0.5),
                      int(it["bbox_2d"][2] * FX + 0.5), int(it["bbox_2d"][3] * FY + 0.5)],
             "points": [[int(it["point_2d"][0] * FX + 0.5), int(it["point_2d"][1] * FY + 0.5)]]} for it in data]


def clamp_target(t):
    b = t["bbox"]
    x1, y1, x2, y2 = [min(max(v, 0), hi) for v, hi in zip(b, [W, H, W, H])]
    return {"bbox": [min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)],
            "points": [[min(max(p[0], 0), W - 1), min(max(p[1], 0), H - 1)] for p in t["points"]]}


T = "<think>The knife is on the right of the apple; its blade is thin.</think>"
cases = [
    # --- Seg-Zero single object ---
    ("seg-zero", T + '<answer>{"bbox": [10,100,200,210], "points_1": [30,110], "points_2": [35,180]}</answer>', None),
    ("seg-zero", T + '<answer>{"bbox": [0,0,840,840], "points_1": [420,420], "points_2": [1,839]}</answer>', None),
    ("seg-zero", T + ' <answer> {"bbox": [101, 203, 455, 611], "points_1": [250, 400], "points_2": [300, 500]} </answer>', None),
    ("seg-zero", '<think>x</think><answer>{"bbox": [10.6,100.2,200.9,210.5], "points_1": [30.7,110.1], "points_2": [35,180]}</answer>', None),
    ("seg-zero", '<think>x</think><answer>{"Bbox_2d": [5,6,7,8], "Points_a": [6,7], "points_b": [7,7], "points_c": [1,1]}</answer>', None),
    ("seg-zero", '<think>x</think><answer>{"points_1": [30,110], "bbox": [10,100,200,210], "points_2": [35,180]}</answer>', None),
    ("seg-zero", '{"bbox": [10,100,200,210], "points_1": [30,110], "points_2": [35,180]}', None),
    ("seg-zero", T + '<answer>{"bbox": [10,100,200,210], "points_1": [30,110], "points_2": [35,180]}</answer> trailing words', None),
    ("seg-zero", T + '<answer>{"bbox": [421,421,423,423], "points_1": [421,421], "points_2": [422,422]}</answer>', None),
    ("seg-zero", T + '<answer>{"bbox": [600,300,900,1000], "points_1": [-5,900], "points_2": [850,10]}</answer>', None),
    # tolerant: single quotes as in the prompt's own example
    ("seg-zero", T + "<answer>{'bbox': [10,100,200,210], 'points_1': [30,110], 'points_2': [35,180]}</answer>",
     {"targets": [{"bbox": [10, 100, 200, 210], "points": [[30, 110], [35, 180]]}]}),
    # tolerant: a {…} inside the think text must not be picked when <answer> is present
    ("seg-zero", '<think>maybe {"bbox": [1,1,2,2], "points_1": [1,1], "points_2": [2,2]} no</think><answer>{"bbox": [10,100,200,210], "points_1": [30,110], "points_2": [35,180]}</answer>',
     {"targets": [{"bbox": [10, 100, 200, 210], "points": [[30, 110], [35, 180]]}]}),
    # tolerant: trailing comma, "12." numbers
    ("seg-zero", T + '<answer>{"bbox": [10.,100,200,210,], "points_1": [30,110], "points_2": [35,180],}</answer>',
     {"targets": [{"bbox": [10, 100, 200, 210], "points": [[30, 110], [35, 180]]}]}),
    # reversed corners are ordered after mapping
    ("seg-zero", T + '<answer>{"bbox": [200,210,10,100], "points_1": [30,110], "points_2": [35,180]}</answer>',
     {"targets": [{"bbox": [200, 210, 10, 100], "points": [[30, 110], [35, 180]]}]}),
    # errors: never guess
    ("seg-zero", T + "<answer>I cannot find it.</answer>", {"error": True}),
    ("seg-zero", T + '<answer>{"bbox": [10,100,200], "points_1": [30,110], "points_2": [35,180]}</answer>', {"error": True}),
    ("seg-zero", T + '<answer>{"bbox": [10,100,200,210], "points_1": [30,110]}</answer>', {"error": True}),
    ("seg-zero", T + '<answer>{"box": [10,100,200,210], "points_1": [30,110], "points_2": [35,180]}</answer>', {"error": True}),
    ("seg-zero", T + '<answer>{"bbox": [10,100,200,"x"], "points_1": [30,110], "points_2": [35,180]}</answer>', {"error": True}),
    ("seg-zero", T + '<answer>{"bbox": [10,100,200,210], "points_1": [30,110], "points_2": [35,180</answer>', {"error": True}),
    ("seg-zero", "", {"error": True}),
    ("seg-zero", T, {"error": True}),
    ("seg-zero", '<answer>{"bbox": [10,100,200,210], "points_1": [30,110,5], "points_2": [35,180]}</answer>', {"error": True}),
    # --- VisionReasoner multi object ---
    ("vision-reasoner", T + '<answer>[{"bbox_2d": [10,100,200,210], "point_2d": [30,110]}, {"bbox_2d": [225,296,706,786], "point_2d": [302,410]}]</answer>', None),
    ("vision-reasoner", T + '<answer>[{"bbox_2d": [10,100,200,210], "point_2d": [30,110]}]</answer>', None),
    ("vision-reasoner", T + '<answer>\n[\n  {"bbox_2d": [0, 0, 839, 839], "point_2d": [419, 420]}\n]\n</answer>', None),
    ("vision-reasoner", T + "<answer>[]</answer>", None),
    ("vision-reasoner", '<think>x</think><answer>[{"bbox_2d": [10.4,100.5,200.6,210.49], "point_2d": [30.5,110.5]}]</answer>', None),
    ("vision-reasoner", '<think>x</think><answer>[{"point_2d": [30,110], "bbox_2d": [10,100,200,210], "label": "knife"}]</answer>', None),
    ("vision-reasoner", T + '<answer>[{"bbox_2d": [800,800,900,900], "point_2d": [850,-3]}]</answer>', None),
    ("vision-reasoner", "<think>a\nmultiline\nthought</think><answer>[{\"bbox_2d\": [1,2,3,4], \"point_2d\": [2,3]}]</answer>", None),
    ("vision-reasoner", "<think>uses < sign</think><answer>[{\"bbox_2d\": [1,2,3,4], \"point_2d\": [2,3]}]</answer>", None),
    # tolerant
    ("vision-reasoner", T + "<answer>[{'bbox_2d': [10,100,200,210], 'point_2d': [30,110]}]</answer>",
     {"targets": [{"bbox": [10, 100, 200, 210], "points": [[30, 110]]}]}),
    ("vision-reasoner", T + '<answer>{"bbox_2d": [10,100,200,210], "point_2d": [30,110]}</answer>',
     {"targets": [{"bbox": [10, 100, 200, 210], "points": [[30, 110]]}]}),
    ("vision-reasoner", T + '<answer>Here: [{"bbox_2d": [10,100,200,210], "point_2d": [30,110]}] done</answer>',
     {"targets": [{"bbox": [10, 100, 200, 210], "points": [[30, 110]]}]}),
    ("vision-reasoner", T + '<answer>[{"bbox_2d": [10,100,200,210], "point_2d": [30,110]},]</answer>',
     {"targets": [{"bbox": [10, 100, 200, 210], "points": [[30, 110]]}]}),
    ("vision-reasoner", T + "<answer>[{}]</answer>", {"targets": []}),
    ("vision-reasoner", T + '[{"bbox_2d": [10,100,200,210], "point_2d": [30,110]}]',
     {"targets": [{"bbox": [10, 100, 200, 210], "points": [[30, 110]]}]}),
    # errors
    ("vision-reasoner", T + '<answer>[{"bbox_2d": [10,100,200,210]}]</answer>', {"error": True}),
    ("vision-reasoner", T + '<answer>[{"bbox_2d": [10,100,200], "point_2d": [30,110]}]</answer>', {"error": True}),
    ("vision-reasoner", T + '<answer>[{"bbox_2d": [10,100,200,210], "point_2d": [30,110]}, 7]</answer>', {"error": True}),
    ("vision-reasoner", T + "<answer>no objects here</answer>", {"error": True}),
    ("vision-reasoner", T + '<answer>[{"bbox_2d": [10,100,200,210], "point_2d": [30,110]</answer>', {"error": True}),
    ("vision-reasoner", T + '<answer>[{"bbox": [10,100,200,210], "point": [30,110]}]</answer>', {"error": True}),
    ("vision-reasoner", "", {"error": True}),
]

out = []
for fmt, text, ours in cases:
    entry = {"format": fmt, "output": text, "think": ref_think(text)}
    try:
        ref = ref_seg_zero(text) if fmt == "seg-zero" else ref_vision_reasoner(text)
        entry["reference"] = {"targets": ref}
        entry["expected_image_targets"] = [clamp_target(t) for t in ref]
    except Exception as e:  # the reference raises: our behaviour is specified by `ours`
        entry["reference"] = {"error": type(e).__name__}
        if ours is None:
            raise SystemExit(f"case needs an explicit expectation: {text!r}")
    if ours is not None:
        entry["ours"] = ours
    out.append(entry)

path = Path(__file__).resolve().parents[2] / "Tests/Fixtures/answers/corpus.json"
path.write_text(json.dumps({"image_size": [W, H], "cases": out}, indent=1, ensure_ascii=False) + "\n")
print(f"{len(out)} cases -> {path}")
