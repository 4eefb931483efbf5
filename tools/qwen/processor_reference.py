#!/usr/bin/env python3
"""Reference outputs for Sources/Inference/Qwen25VL/{ImageProcessor,VisionGeometry}.swift, produced by
transformers' own code (Qwen2VLImageProcessor slow path; Qwen2.5-VL vision tower's rot_pos_emb and
get_window_index; Qwen2_5_VLModel.get_rope_index).

Writes OUT/manifest.json plus raw files:
  processor cases: `<case>.rgb` (input uint8 RGB), `<case>.json` preprocessor_config.json as loaded with
  `Qwen2VLImageProcessor.from_pretrained`, `<case>.f32` pixel_values (float32 [rows, 1176]), grid and size in the
  manifest;
  geometry cases (in the manifest): rotary (row, col) ids, window_index, cu_window_seqlens, full cu_seqlens;
  rope cases: input_ids, 3xL position ids, rope delta.
Sets: `full` (full-size photos; run live by the Swift tests when .venv-ref exists) and `small` (one tiny image,
committed as Tests/Fixtures/qwen25vl/processor with all geometry and rope cases).

Run: .venv-ref/bin/python tools/qwen/processor_reference.py --set small --out Tests/Fixtures/qwen25vl/processor
Pinned: transformers 4.57.6, torch 2.12.1, Pillow 13.0.0, scikit-image 0.26.0 (tools/requirements-ref.txt).
Exit status 3 when a reference package is missing (the Swift test then skips the live comparison).
"""
import argparse
import json
import sys
from pathlib import Path

try:
    import numpy as np
    import torch
    from PIL import Image
    from skimage import data
    from transformers import Qwen2VLImageProcessor
    from transformers.models.qwen2_5_vl.configuration_qwen2_5_vl import Qwen2_5_VLConfig
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLModel
except ImportError as error:
    print(f"missing reference dependency: {error}", file=sys.stderr)
    sys.exit(3)

IMAGE_PAD, VISION_START, VISION_END = 151655, 151652, 151653
CHECKPOINT_PREPROCESSOR = {
    "min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
    "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2_5_VLProcessor",
}


def camera_frame():
    return np.asarray(Image.fromarray(data.coffee()).resize((1920, 1080), Image.BICUBIC))


def processor_cases(which):
    if which == "small":
        crop = data.coffee()[150:197, 200:261]  # 61x47 -> 56x56
        tiny = data.astronaut()[10:30, 40:70]  # 30x20 -> below min_pixels
        return [("crop", crop, {}), ("tiny", tiny, {}),
                ("crop_small_max", data.chelsea()[0:100, 0:150], {"max_pixels": 5000})]
    cam = camera_frame()
    return [
        ("coffee", data.coffee(), {}),
        ("astronaut", data.astronaut(), {}),
        ("chelsea", data.chelsea(), {}),
        ("camera", cam, {}),
        ("camera_reasoning", np.asarray(Image.fromarray(cam).resize((840, 840), Image.BILINEAR)), {}),
        ("camera_max", cam, {"max_pixels": 200704}),
        ("class_defaults", data.astronaut(), {"min_pixels": None, "max_pixels": None}),
    ]


def vision_model():
    config = Qwen2_5_VLConfig(
        vision_config={"depth": 1, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "out_hidden_size": 8,
                       "fullatt_block_indexes": [0], "window_size": 112, "patch_size": 14,
                       "spatial_merge_size": 2, "temporal_patch_size": 2, "tokens_per_second": 2},
        text_config={"hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
                     "num_key_value_heads": 1, "vocab_size": 151936,
                     "rope_scaling": {"type": "mrope", "mrope_section": [1, 1, 0]}},
        image_token_id=IMAGE_PAD, video_token_id=151656, vision_start_token_id=VISION_START)
    return Qwen2_5_VLModel(config).eval()


GRIDS = [[(1, 60, 60)], [(1, 64, 64)], [(1, 28, 42)], [(1, 16, 8)], [(1, 2, 2)], [(1, 78, 138)],
         [(1, 60, 60), (1, 28, 42)], [(2, 12, 20)]]


def geometry_cases(model, which):
    visual = model.visual
    head_half = visual.config.hidden_size // visual.config.num_heads // 2
    cases = []
    for grids in GRIDS if which == "full" else [g for g in GRIDS if g != [(1, 78, 138)]]:
        thw = torch.tensor(grids)
        emb = visual.rot_pos_emb(thw)  # [N, head_dim/2]: h * freqs then w * freqs, freqs[0] = 1
        rows, cols = emb[:, 0], emb[:, head_half // 2]
        window_index, cu = visual.get_window_index(thw)
        cu = torch.unique_consecutive(torch.tensor(cu))
        full = torch.nn.functional.pad(
            torch.repeat_interleave(thw[:, 1] * thw[:, 2], thw[:, 0]).cumsum(0), (1, 0), value=0)
        cases.append({
            "grids": [list(g) for g in grids],
            "rows": rows.round().long().tolist(), "cols": cols.round().long().tolist(),
            "window_index": window_index.tolist(), "cu_window_seqlens": cu.tolist(),
            "cu_seqlens": full.tolist(),
            "reverse_index": torch.argsort(window_index).tolist(),
        })
    return cases


def rope_cases(model, which):
    rng = np.random.default_rng(3)
    cases = []
    layouts = [[(1, 60, 60)], [(1, 28, 42)], [(1, 64, 64)], [(1, 16, 8), (1, 2, 2)]]
    if which == "full":
        layouts.append([(1, 78, 138)])
    for grids in layouts:
        ids = [151644, 8948, 198] + rng.integers(0, 150000, 5).tolist() + [151645, 198, 151644, 872, 198]
        for g in grids:
            ids += [VISION_START] + [IMAGE_PAD] * (g[0] * g[1] * g[2] // 4) + [VISION_END]
            ids += rng.integers(0, 150000, int(rng.integers(0, 40))).tolist()
        ids += [151645, 198, 151644, 77091, 198]
        pos, delta = model.get_rope_index(torch.tensor([ids]), torch.tensor(grids), None, None,
                                          torch.ones(1, len(ids), dtype=torch.long))
        cases.append({"grids": [list(g) for g in grids], "input_ids": ids,
                      "positions": pos[:, 0, :].tolist(), "rope_delta": int(delta.reshape(-1)[0])})
    return cases


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--set", choices=["full", "small"], default="full")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    manifest = {"processor_cases": []}
    for name, arr, overrides in processor_cases(args.set):
        arr = np.ascontiguousarray(arr[:, :, :3], dtype=np.uint8)
        config = {k: v for k, v in {**CHECKPOINT_PREPROCESSOR, **overrides}.items() if v is not None}
        cfg_dir = out / f"{name}_config"
        cfg_dir.mkdir(exist_ok=True)
        (cfg_dir / "preprocessor_config.json").write_text(json.dumps(config, indent=1) + "\n")
        processor = Qwen2VLImageProcessor.from_pretrained(cfg_dir)
        (out / f"{name}.json").write_text(json.dumps(config, indent=1) + "\n")
        (cfg_dir / "preprocessor_config.json").unlink()
        cfg_dir.rmdir()
        result = processor(images=[Image.fromarray(arr)], return_tensors="np")
        pixel_values = result["pixel_values"].astype(np.float32)
        (out / f"{name}.rgb").write_bytes(arr.tobytes())
        (out / f"{name}.f32").write_bytes(pixel_values.tobytes())
        manifest["processor_cases"].append({
            "name": name, "width": arr.shape[1], "height": arr.shape[0],
            "grid_thw": result["image_grid_thw"][0].tolist(), "rows": pixel_values.shape[0],
            "row_length": pixel_values.shape[1],
            "min_pixels": processor.min_pixels, "max_pixels": processor.max_pixels,
        })
    model = vision_model()
    with torch.no_grad():
        manifest["geometry_cases"] = geometry_cases(model, args.set)
        manifest["rope_cases"] = rope_cases(model, args.set)
    (out / "manifest.json").write_text(json.dumps(manifest) + "\n")


if __name__ == "__main__":
    main()
