#!/usr/bin/env python3
"""Random-weight Qwen2.5-VL checkpoints of the real 3B / 7B architectures, for benchmarks (never committed).

Tensor names and shapes come from transformers' Qwen2_5_VLForConditionalGeneration built on the meta device (no
memory), in the published key naming; values are random bf16 (normal, std 0.02; norm gains 1; biases 0, as
transformers' _init_weights), written shard by shard (~2 GB each) so a 7B checkpoint needs no 16 GB in RAM.
The directory gets config.json (published layout), generation_config.json, preprocessor_config.json, tokenizer
config and the real tokenizer files (tools/qwen/install_tokenizer.py).

Run:  .venv-ref/bin/python tools/qwen/make_random_3b.py [--size 3b|7b] [--out DIR]
      (default DIR: ~/.cache/perception-node/qwen25vl-<size>-random)
Pinned stack: tools/requirements-ref.txt (transformers 4.57.6, torch 2.12.1, safetensors 0.8.0).
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_qwen_fixtures as fx  # noqa: E402  (shared config/tokenizer/preprocessor writers)

SIZES = {
    "3b": {"hidden_size": 2048, "intermediate_size": 11008, "num_hidden_layers": 36, "num_attention_heads": 16,
           "num_key_value_heads": 2, "vocab_size": 151936, "tie_word_embeddings": True},
    "7b": {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28,
           "num_key_value_heads": 4, "vocab_size": 152064, "tie_word_embeddings": False},
}
VISION = {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16, "in_chans": 3,
          "hidden_act": "silu", "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
          "window_size": 112, "fullatt_block_indexes": [7, 15, 23, 31], "tokens_per_second": 2,
          "model_type": "qwen2_5_vl", "initializer_range": 0.02}


def config_json(size):
    spec = SIZES[size]
    c = fx.flat_config(spec)
    c["rope_scaling"] = {"type": "mrope", "mrope_section": [16, 24, 24]}
    c["vision_config"] = {**VISION, "out_hidden_size": spec["hidden_size"]}
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", choices=sorted(SIZES), default="3b")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = args.out or Path.home() / ".cache" / "perception-node" / f"qwen25vl-{args.size}-random"
    out.mkdir(parents=True, exist_ok=True)
    cfg = config_json(args.size)
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig.from_pretrained(out))
    # Published names (visual.*, model.*): transformers 4.57 names them model.visual / model.language_model.
    shapes = {}
    for name, p in model.state_dict().items():
        if name.startswith("model.visual."):
            name = name[len("model."):]
        elif name.startswith("model.language_model."):
            name = "model." + name[len("model.language_model."):]
        if name == "lm_head.weight" and cfg["tie_word_embeddings"]:
            continue
        shapes[name] = tuple(p.shape)
    gen = torch.Generator().manual_seed(args.seed)
    shard, shard_bytes, shards, weight_map, total = {}, 0, [], {}, 0

    def flush():
        nonlocal shard, shard_bytes
        if shard:
            shards.append(shard)
            file = f"model-{len(shards):05d}.safetensors"
            save_file(shard, str(out / file), metadata={"format": "pt"})
            for k in shard:
                weight_map[k] = file
            print(f"wrote {file} ({shard_bytes / 2**30:.2f} GiB)", flush=True)
            shard, shard_bytes = {}, 0

    for name in sorted(shapes):
        shape = shapes[name]
        if name.endswith("norm.weight") or "norm1" in name or "norm2" in name or "ln_q" in name:
            t = torch.ones(shape, dtype=torch.bfloat16)
        elif name.endswith("bias"):
            t = torch.zeros(shape, dtype=torch.bfloat16)
        else:
            t = (torch.randn(shape, generator=gen) * 0.02).to(torch.bfloat16)
        shard[name] = t
        shard_bytes += t.numel() * 2
        total += t.numel() * 2
        if shard_bytes >= 2 << 30:
            flush()
    flush()
    n = len(shards)
    renamed = {}
    for i in range(n):
        old = out / f"model-{i + 1:05d}.safetensors"
        new = f"model-{i + 1:05d}-of-{n:05d}.safetensors"
        old.rename(out / new)
        renamed[old.name] = new
    weight_map = {k: renamed[v] for k, v in weight_map.items()}
    (out / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n")
    (out / "generation_config.json").write_text(json.dumps(fx.GENERATION_CONFIG, indent=2) + "\n")
    (out / "preprocessor_config.json").write_text(json.dumps(fx.PREPROCESSOR, indent=2) + "\n")
    (out / "tokenizer_config.json").write_text(json.dumps(fx.tokenizer_config(), indent=2) + "\n")
    (out / "chat_template.json").write_text(json.dumps({"chat_template": fx.CHAT_TEMPLATE}, indent=2) + "\n")
    subprocess.run([sys.executable, str(Path(__file__).resolve().parent / "install_tokenizer.py"), str(out)], check=True)
    print(f"{out}: {total / 2**30:.2f} GiB bf16 in {n} shards")


if __name__ == "__main__":
    main()
