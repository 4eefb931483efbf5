"""Python reference for the node's reasoning-segmentation pipeline: Seg-Zero's own inference logic
(ENGINE_NOTES §0) with transformers' Qwen2_5_VLForConditionalGeneration and the official SAM2ImagePredictor.

Per sample (LISA layout X.json + X.jpg/png; the question is text[0], as LISA's ValDataset evaluates):
  RGB image -> PIL bilinear resize to frame x frame -> chat with the Seg-Zero or VisionReasoner template
  (question .lower().strip(chars)) -> slow processor (use_fast=False) -> greedy generate (generation_config,
  so repetition_penalty applies as in the reference) -> batch_decode(skip_special_tokens=True) -> the
  reference's own parser (Seg-Zero: first {[^}]+} + json.loads, round(int(v)*f); VisionReasoner: json.loads of
  <answer>(.*?)</answer>, int(v*f+0.5)) -> SAM2ImagePredictor.set_image(original image), predict(points,
  labels all 1, box, multimask_output=True), the highest-scoring mask per object (not OR-ed: the node keeps
  objects apart). SAM2 runs in fp32 on CPU (the reference's bf16 autocast is a CUDA-only choice).

Output JSON: {"samples": [{id, question, generated_text, status (ok | no_target | answer_unparseable),
  think, objects: [{bbox, points, score, mask: uncompressed COCO RLE}]}]}.

Run (pinned stack in tools/requirements-ref.txt):
  OMP_NUM_THREADS=2 .venv-ref/bin/python tools/toy/reference_pipeline.py --reasoner DIR --segmenter model.pt \
      --segmenter-arch meta.json --frame 840 --template seg-zero --scenes DIR --out ref.json
"""

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sam2"))
from make_fixtures import build, predictor_for  # noqa: E402  (the SAM2 fixture generator's model builder and predictor)
from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration  # noqa: E402

TEMPLATES = {
    "seg-zero": ("Please find '{Question}' with bbox and points.Compare the difference between objects and find the most "
                 "closely matched one.Output the thinking process in <think> </think> and final answer in <answer> </answer> "
                 "tags.Output the one bbox and points of two largest inscribed circles inside the interested object in JSON "
                 "format.i.e., <think> thinking process here </think><answer>{'bbox': [10,100,200,210], 'points_1': [30,110], "
                 "'points_2': [35,180]}</answer>", "."),
    "vision-reasoner": ('Please find "{Question}" with bboxs and points.Compare the difference between object(s) and find the '
                        'most closely matched object(s).Output the thinking process in <think> </think> and final answer in '
                        '<answer> </answer> tags.Output the bbox(es) and point(s) inside the interested object(s) in JSON '
                        'format.i.e., <think> thinking process here </think><answer>[{"bbox_2d": [10,100,200,210], '
                        '"point_2d": [30,110]}, {"bbox_2d": [225,296,706,786], "point_2d": [302,410]}]</answer>', '."?!'),
}


def rle(mask):
    """Uncompressed COCO RLE (column-major run lengths starting with a 0-run), readable by pycocotools.frPyObjects."""
    flat = np.asarray(mask, dtype=np.uint8).flatten(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        runs = [0] + runs
    return dict(size=[int(mask.shape[0]), int(mask.shape[1])], counts=runs)


def parse(text, template, xf, yf):
    """The reference scripts' parsing; raises on anything they would raise on."""
    if template == "seg-zero":
        m = re.search(r"{[^}]+}", text)
        if not m:
            raise ValueError("no {...} in the output")
        data = json.loads(m.group(0))
        b = data["bbox"]
        bbox = [round(int(b[0]) * xf), round(int(b[1]) * yf), round(int(b[2]) * xf), round(int(b[3]) * yf)]
        keys = [k for k in data.keys() if "points" in k.lower()][:2]
        if len(keys) != 2:
            raise ValueError("fewer than two points keys")
        pts = [[round(int(data[k][0]) * xf), round(int(data[k][1]) * yf)] for k in keys]
        return [(bbox, pts)]
    m = re.search(r"<answer>\s*(.*?)\s*</answer>", text, re.DOTALL)
    if not m:
        raise ValueError("no <answer> in the output")
    data = json.loads(m.group(1))
    out = []
    for item in data:
        b, p = item["bbox_2d"], item["point_2d"]
        out.append(([int(b[0] * xf + 0.5), int(b[1] * yf + 0.5), int(b[2] * xf + 0.5), int(b[3] * yf + 0.5)],
                     [[int(p[0] * xf + 0.5), int(p[1] * yf + 0.5)]]))
    return out


def load_sam2(checkpoint, arch):
    cfg = json.loads(Path(arch).read_text())
    cfg = cfg.get("config", cfg)
    yaml = "configs/sam2.1/sam2.1_hiera_t.yaml" if cfg["generation"] == "sam2.1" else "configs/sam2/sam2_hiera_t.yaml"
    model, _ = build(dict(cfg, config=yaml), full=False)
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["model"]
    missing, _ = model.load_state_dict(state, strict=False)
    needed = [k for k in missing if k.startswith(("image_encoder.", "sam_prompt_encoder.", "sam_mask_decoder.", "no_mem_embed"))]
    if needed:
        raise SystemExit(f"{checkpoint}: missing image-path weights {needed[:5]}")
    return predictor_for(model.eval())


def samples(scenes, limit):
    out = []
    for js in sorted(Path(scenes).glob("*.json")):
        img = next((js.with_suffix(s) for s in (".jpg", ".png", ".jpeg") if js.with_suffix(s).exists()), None)
        if img is None:
            continue
        text = json.loads(js.read_text())["text"]
        out.append((js.stem, img, text[0] if isinstance(text, list) else text))
    return out[:limit] if limit else out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reasoner", required=True)
    ap.add_argument("--segmenter", required=True)
    ap.add_argument("--segmenter-arch", required=True, help="meta.json with the SAM2 architecture ('config' object)")
    ap.add_argument("--frame", type=int, default=840)
    ap.add_argument("--template", choices=sorted(TEMPLATES), default="seg-zero")
    ap.add_argument("--max-new-tokens", type=int, default=1024)
    ap.add_argument("--scenes", required=True)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.manual_seed(0)

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(args.reasoner, torch_dtype=torch.float32).eval()
    processor = AutoProcessor.from_pretrained(args.reasoner, use_fast=False, padding_side="left")
    predictor = load_sam2(args.segmenter, args.segmenter_arch)
    template, strip = TEMPLATES[args.template]
    results = []
    for sid, path, question in samples(args.scenes, args.limit):
        image = Image.open(path).convert("RGB")
        w, h = image.size
        resized = image.resize((args.frame, args.frame), Image.BILINEAR)
        messages = [{"role": "user", "content": [
            {"type": "image", "image": resized},
            {"type": "text", "text": template.replace("{Question}", question.lower().strip(strip))}]}]
        chat = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        inputs = processor(text=[chat], images=[resized], padding=True, return_tensors="pt")
        with torch.inference_mode():
            ids = model.generate(**inputs, do_sample=False, use_cache=True, max_new_tokens=args.max_new_tokens)
        text = processor.batch_decode(ids[:, inputs.input_ids.shape[1]:], skip_special_tokens=True,
                                      clean_up_tokenization_spaces=False)[0]
        think = re.search(r"<think>([^<]+)</think>", text)
        record = dict(id=sid, question=question, width=w, height=h, generated_text=text,
                      think=think.group(1) if think else None, objects=[])
        try:
            targets = parse(text, args.template, w / args.frame, h / args.frame)
        except Exception as e:  # the reference scripts fail here; the sample scores 0
            record.update(status="answer_unparseable", reason=f"{type(e).__name__}: {e}")
            results.append(record)
            continue
        record["status"] = "ok" if targets else "no_target"
        if targets:
            with torch.inference_mode():
                predictor.set_image(np.asarray(image))
                for bbox, pts in targets:
                    masks, scores, _ = predictor.predict(point_coords=np.array(pts, dtype=np.float32),
                                                         point_labels=np.ones(len(pts), dtype=np.int64),
                                                         box=np.array(bbox, dtype=np.float32), multimask_output=True)
                    best = int(np.argsort(scores)[::-1][0])
                    record["objects"].append(dict(bbox=bbox, points=pts, score=float(scores[best]), mask=rle(masks[best])))
        results.append(record)
        print(f"{sid}: {record['status']} {text[:80]!r}", flush=True)
    Path(args.out).write_text(json.dumps(dict(reasoner=args.reasoner, segmenter=args.segmenter,
                                              segmenter_arch=args.segmenter_arch, scenes=args.scenes, frame=args.frame,
                                              template=args.template, max_new_tokens=args.max_new_tokens,
                                              samples=results), indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
