#!/usr/bin/env python3
"""transformers reference timings for `perception-node bench reason` (same weights, same inputs, same threads).

Stages (each prints one JSON line on stdout):
  vision   the vision tower (fp32, sdpa) on pixel_values.npy / image_grid_thw.npy; only visual.* weights are loaded.
  prefill  the ~1000-token prompt through the 36 (3B) decoder layers + final norm + head on the last row, fp32,
           sdpa causal. The layers are built and loaded one at a time (transformers' Qwen2_5_VLDecoderLayer with
           the model's own M-RoPE embedding) and only their forward calls are timed, so a 3B fp32 prefill needs
           ~1 GB instead of 15 GB; the per-layer times are summed.
  decode   per-token decode with the whole model in bf16 (transformers' generate path: model(...) with a KV cache),
           after a prefill of the same prompt with the vision tokens; median over --decode-tokens steps.
Inputs come from the Swift side (`bench reason` writes them): input_ids.npy, pixel_values.npy, image_grid_thw.npy.

Run: .venv-ref/bin/python tools/qwen/bench_reference.py --model DIR --inputs DIR --stage vision|prefill|decode
Pinned stack: tools/requirements-ref.txt (transformers 4.57.6, torch 2.12.1).
"""
import argparse
import json
import resource
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
from transformers.models.qwen2_5_vl import modeling_qwen2_5_vl as mq


def tensors(model_dir, prefix, strip):
    """{name without `strip`: tensor} for every stored tensor under `prefix` (published or newer naming)."""
    index = model_dir / "model.safetensors.index.json"
    files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.exists() else \
        sorted(p.name for p in model_dir.glob("*.safetensors"))
    out = {}
    for f in files:
        with safe_open(str(model_dir / f), "pt") as h:
            for k in h.keys():
                canon = k.replace("model.language_model.", "model.").replace("model.visual.", "visual.")
                if canon.startswith(prefix):
                    out[canon[len(strip):]] = h.get_tensor(k)
    return out


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage_vision(args, config, inputs):
    visual = mq.Qwen2_5_VisionTransformerPretrainedModel._from_config(
        config.vision_config, attn_implementation="sdpa", torch_dtype=torch.float32)
    visual.load_state_dict({k: v.float() for k, v in tensors(args.model, "visual.", "visual.").items()})
    visual.eval()
    pv = torch.from_numpy(inputs["pixel_values"])
    grid = torch.from_numpy(inputs["image_grid_thw"])
    times = []
    with torch.inference_mode():
        for _ in range(args.runs):
            t = time.perf_counter()
            visual(pv, grid_thw=grid)
            times.append(time.perf_counter() - t)
    return {"stage": "vision", "dtype": "float32", "seconds": times, "median_s": statistics.median(times)}


def stage_prefill(args, config, inputs):
    text = config.text_config
    text._attn_implementation = "sdpa"
    ids = torch.from_numpy(inputs["input_ids"]).long()
    grid = torch.from_numpy(inputs["image_grid_thw"]).long()
    lm = tensors(args.model, "model.", "model.")
    with torch.device("meta"):
        full = Qwen2_5_VLForConditionalGeneration(config)
    position_ids, _ = full.model.get_rope_index(ids, grid, None, attention_mask=torch.ones_like(ids))
    embed = lm["embed_tokens.weight"]
    hidden = embed[ids[0]].float()[None]
    rotary = mq.Qwen2_5_VLRotaryEmbedding(config=text)
    total, per_layer = 0.0, []
    with torch.inference_mode():
        pos_emb = rotary(hidden, position_ids)
        for i in range(text.num_hidden_layers):
            layer = mq.Qwen2_5_VLDecoderLayer(text, i).float()
            prefix = f"layers.{i}."
            layer.load_state_dict({k[len(prefix):]: v.float() for k, v in lm.items() if k.startswith(prefix)})
            layer.eval()
            t = time.perf_counter()
            out = layer(hidden, attention_mask=None, position_ids=position_ids, position_embeddings=pos_emb)
            hidden = out[0] if isinstance(out, tuple) else out
            dt = time.perf_counter() - t
            per_layer.append(dt)
            total += dt
            del layer
        norm = mq.Qwen2RMSNorm(text.hidden_size, eps=text.rms_norm_eps)
        norm.weight.data = lm["norm.weight"].float()
        head = lm.get("lm_head.weight", embed)
        t = time.perf_counter()
        logits = norm(hidden[:, -1:]) @ head.float().T
        total += time.perf_counter() - t
    return {"stage": "prefill", "dtype": "float32", "tokens": int(ids.shape[1]), "seconds": total,
            "per_layer_s": per_layer, "logits_shape": list(logits.shape)}


def stage_decode(args, config, inputs):
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(
        str(args.model), torch_dtype=torch.bfloat16, attn_implementation="sdpa")
    model.eval()
    ids = torch.from_numpy(inputs["input_ids"]).long()
    if args.decode_prompt == "text":
        ids = ids[:, -16:]  # a short text-only prompt: decode cost is dominated by the weights
    mask = torch.ones_like(ids)
    kwargs = {}
    if args.decode_prompt == "full":
        kwargs = {"pixel_values": torch.from_numpy(inputs["pixel_values"]).to(torch.bfloat16),
                  "image_grid_thw": torch.from_numpy(inputs["image_grid_thw"]).long()}
    times = []
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=mask, use_cache=True, **kwargs)
        past = out.past_key_values
        token = out.logits[:, -1].argmax(-1, keepdim=True)
        length = ids.shape[1]
        rope_deltas = model.model.rope_deltas
        for _ in range(args.decode_tokens):
            mask = torch.ones((1, length + 1), dtype=torch.long)
            cache_position = torch.tensor([length])
            pos = (torch.arange(1).view(1, 1, -1).expand(3, 1, -1) + length
                   + (rope_deltas if rope_deltas is not None else 0))
            t = time.perf_counter()
            out = model(input_ids=token, attention_mask=mask, past_key_values=past, use_cache=True,
                        cache_position=cache_position, position_ids=pos)
            token = out.logits[:, -1].argmax(-1, keepdim=True)
            times.append(time.perf_counter() - t)
            past = out.past_key_values
            length += 1
    return {"stage": "decode", "dtype": "bfloat16", "prompt": args.decode_prompt, "context": length,
            "seconds_per_token": times, "median_s": statistics.median(times)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--inputs", type=Path, required=True)
    ap.add_argument("--stage", choices=["vision", "prefill", "decode"], required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--decode-tokens", type=int, default=5)
    ap.add_argument("--decode-prompt", choices=["full", "text"], default="text")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    config = Qwen2_5_VLConfig.from_pretrained(args.model)
    inputs = {k: np.load(args.inputs / f"{k}.npy") for k in ["input_ids", "pixel_values", "image_grid_thw"]}
    result = {"vision": stage_vision, "prefill": stage_prefill, "decode": stage_decode}[args.stage](args, config, inputs)
    result.update({"threads": args.threads, "torch": torch.__version__, "peak_rss_mib": peak_rss_mib()})
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
