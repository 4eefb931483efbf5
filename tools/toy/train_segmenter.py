#!/usr/bin/env python3
"""Trains the toy segmentation model: a tiny SAM2.1 (the official `sam2` package's own modules, a shrunk
Hiera-T-like config from tools/sam2/make_fixtures.py, neck/decoder width --d-model) that segments a toy-world
shape from its box and points, as the reasoning model's answers prompt it (box + 2 positive points for Seg-Zero,
box + 1 for VisionReasoner), jittered as a toy reasoner's answers would be.

The forward pass is SAM2ImagePredictor's own path (SAM2Transforms to --image-size (256; published models 1024), forward_image, no_mem_embed,
prompt encoder with box corners before clicks, mask decoder with multimask and high-res features), batched and
with gradients. Loss: BCE + dice of each of the 3 masks against the ground truth at the low-res size (image size / 4) (not SAM's
best-of-3, which let a d_model 32 model put a different object in each slot), plus MSE of the IoU head against
the achieved IoU. Runs on CUDA when there is one; --init / --freeze-trunk / --cache-trunk continue from a trained
trunk and skip its cost (on a CPU the trunk dominates a step).
Output: an official-format checkpoint `{"model": state_dict}` with the image-mode keys (video-only modules
dropped, as the fixtures do), fp16 tensors with --half (under 5 MiB at d_model 128), and OUT.json beside it
with the architecture in the official config's names.
Pinned: torch 2.12.1, sam2 1.1.0 (tools/requirements-ref.txt).
Run: python tools/toy/train_segmenter.py --data /tmp/toy --out models/toy/segmenter.pt --half
"""
import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sam2"))
from make_fixtures import build, feature_sizes, predictor_for  # noqa: E402  (the fixture generator's model builder)
sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_state  # noqa: E402
from sam2.utils.transforms import SAM2Transforms  # noqa: E402

TOY = dict(config="configs/sam2.1/sam2.1_hiera_t.yaml", embed_dim=16, num_heads=1, stages=[1, 2, 2, 1],
           global_att_blocks=[4], window_spec=[8, 4, 14, 7], bkg=[7, 7], d_model=64)


def load(split_dirs, low_size):
    """(scene images, targets): targets are (scene index, target dict, mask at the decoder's low-res output size)."""
    images, targets = [], []
    for split_dir in split_dirs:
        for js in sorted(Path(split_dir).glob("*.json")):
            meta = json.loads(js.read_text())
            images.append(np.asarray(Image.open(js.with_suffix(".jpg")).convert("RGB")))
            for t in meta["targets"]:
                m = Image.new("L", (meta["width"], meta["height"]), 0)
                ImageDraw.Draw(m).polygon([tuple(p) for p in t["polygon"]], fill=1)
                full = torch.from_numpy(np.asarray(m).astype(np.float32))
                low = F.interpolate(full[None, None], size=(low_size, low_size), mode="bilinear", align_corners=False)[0, 0] > 0.5
                targets.append((len(images) - 1, t, low, np.asarray(m).astype(bool)))
    return images, targets


def prompt_for(t, rng, w, h, n_points):
    """Box and 1 or 2 positive points (the VisionReasoner and Seg-Zero prompts), jittered as a toy reasoning
    model's answer would be (box edges by up to 15% of the object size, points by 5%)."""
    x1, y1, x2, y2 = t["box"]
    j = 0.15 * max(x2 - x1, y2 - y1)
    box = [x1 + rng.uniform(-j, j), y1 + rng.uniform(-j, j), x2 + rng.uniform(-j, j), y2 + rng.uniform(-j, j)]
    box = [min(max(v, 0), lim) for v, lim in zip(box, [w, h, w, h])]
    pts = t["points"] if n_points == 2 else [t["point"]]
    pj = 0.05 * max(x2 - x1, y2 - y1)
    pts = [[p[0] + rng.uniform(-pj, pj), p[1] + rng.uniform(-pj, pj)] for p in pts]
    return box, pts


def validate(model, images, targets, n):
    """SAM2ImagePredictor on held-out targets with the exact box and points: mean and min IoU of the best-scoring mask."""
    model.eval()
    predictor = predictor_for(model)
    ious = []
    with torch.inference_mode():
        for idx, t, _, gt in targets[:n]:
            predictor.set_image(images[idx])
            masks, scores, _ = predictor.predict(point_coords=np.array(t["points"], dtype=np.float32),
                                                 point_labels=np.array([1, 1]), box=np.array(t["box"], dtype=np.float32))
            m = masks[int(np.argmax(scores))] > 0
            ious.append((m & gt).sum() / max(1, (m | gt).sum()))
    model.train()
    return float(np.mean(ious)), float(np.min(ious))


def save(model, out, arch, half):
    """The official checkpoint layout ({"model": state_dict}, image-mode keys only), fp16 tensors with --half (what
    keeps a d_model 128 toy under 5 MiB; SAM2 loaders widen them), and the architecture beside it as out.json."""
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items()
          if k.startswith(("image_encoder.", "sam_prompt_encoder.", "sam_mask_decoder.", "no_mem_embed"))}
    if half:
        sd = {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": sd}, str(out) + ".tmp")
    Path(str(out) + ".tmp").replace(out)
    arch = dict(arch, generation="sam2.1")
    Path(str(out) + ".json").write_text(json.dumps({"config": arch}, indent=1) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, nargs="+", help="scene folders (make_scenes.py --out): their train/ splits are used")
    ap.add_argument("--val", help="held-out scenes (default: the first --data folder's val/)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--time-limit", type=float, default=0,
                    help="seconds of training: when set, the schedule runs on max(step/steps, elapsed/limit) and training stops at 1")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--d-model", type=int, default=128, help="neck / prompt / mask decoder width (sam2's decoder has 8 heads: "
                    "64 leaves 4 dimensions per cross-attention head, too few to match a prompt's position)")
    ap.add_argument("--image-size", type=int, default=256, help="SAM2's input size (published models: 1024; the toy world's "
                    "shapes need no more than 256, which makes a CPU step ~16x cheaper)")
    ap.add_argument("--pe-scale", type=float, default=3.0,
                    help="scale of the prompt encoder's random Fourier position features (sam2: 1). Prompts select a shape by "
                    "matching their position features with the image's; at scale 1 the match is as wide as a third of the "
                    "image, wider than the toy grid's cells, and a small model stalls segmenting every shape")
    ap.add_argument("--match-init", action="store_true",
                    help="initialize each two-way-transformer cross-attention with equal query and key projections "
                    "(N(0, 0.125^2)), so from the first step a prompt token attends to the image tokens whose position "
                    "features match its own: the prompt-to-place path a small model otherwise has to discover")
    ap.add_argument("--init", help="toy segmenter checkpoint to start from (tensors whose names and shapes match)")
    ap.add_argument("--half", action="store_true", help="store fp16 tensors")
    ap.add_argument("--freeze-trunk", action="store_true", help="keep the Hiera trunk of --init fixed")
    ap.add_argument("--cache-trunk", type=int, default=0, help="with --freeze-trunk: train on the first N scenes only, their "
                    "trunk features computed once")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--state", help="training state file: saved every --save-every steps, resumed from when present")
    ap.add_argument("--save-every", type=int, default=10)
    ap.add_argument("--snapshot-every", type=float, default=0, help="seconds between checkpoint saves to --out (0: only at the end)")
    ap.add_argument("--val-every", type=int, default=0, help="steps between validation runs (0: only at the end)")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    spec = dict(TOY, d_model=args.d_model, image_size=args.image_size)
    model, arch = build(spec, full=False)
    # The sam2 package's own initialization (the fixtures' randomize() is for parity tests, not for training), with
    # sharper prompt position features (a buffer in the checkpoint, so every loader uses the trained value).
    with torch.no_grad():
        model.sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix.mul_(args.pe_scale)
        if args.match_init:
            for name, mod in model.sam_mask_decoder.transformer.named_modules():
                if hasattr(mod, "q_proj") and ("cross_attn" in name or name == "final_attn_token_to_image"):
                    mod.q_proj.weight.normal_(0, 0.125)
                    mod.k_proj.weight.copy_(mod.q_proj.weight)
    if args.init:  # start from a trained toy checkpoint: every tensor whose name and shape match (e.g. the trunk)
        src = torch.load(args.init, map_location="cpu", weights_only=True)["model"]
        own = model.state_dict()
        take = {k: v.float() for k, v in src.items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(take, strict=False)
        print(f"initialized {len(take)} of {len(own)} tensors from {args.init}", flush=True)
    model.to(device).train()
    tf = SAM2Transforms(resolution=args.image_size, mask_threshold=0.0)
    low_size = args.image_size // 4
    t_load = time.time()
    images, train = load([Path(d) / "train" for d in args.data], low_size)
    val_images, val = load([Path(args.val) if args.val else Path(args.data[0]) / "val"], low_size)

    def sam_input(idx):  # SAM2Transforms on the training device: [1, 3, S, S]
        return tf.transforms(torch.from_numpy(images[idx].copy()).to(device).permute(2, 0, 1)[None].float() / 255)

    print(f"{len(images)} scenes, {len(train)} targets; loaded in {time.time() - t_load:.0f}s; device {device}", flush=True)
    if args.freeze_trunk:  # train neck, prompt encoder and decoder on the --init trunk's features (3x cheaper steps)
        trunk = model.image_encoder.trunk
        trunk.requires_grad_(False)
        trunk_forward = trunk.forward
        frozen_forward = lambda x: [f.detach() for f in torch.no_grad()(trunk_forward)(x)]  # noqa: E731
        trunk.forward = frozen_forward
    cached = {}
    if args.cache_trunk:  # trunk features of the first N scenes, computed once (fp16, ~4 MB a scene): steps skip the trunk
        if not args.freeze_trunk:
            sys.exit("--cache-trunk needs --freeze-trunk")
        keep = set(range(min(args.cache_trunk, len(images))))
        train = [t for t in train if t[0] in keep]
        t_cache = time.time()
        with torch.no_grad():
            for idx in sorted(keep):
                x = sam_input(idx)
                cached[idx] = [f.half() for f in trunk_forward(x)]
        print(f"cached trunk features of {len(keep)} scenes ({len(train)} targets) in {time.time() - t_cache:.0f}s", flush=True)
    params = [p for n, p in model.named_parameters() if p.requires_grad and
              n.startswith(("image_encoder.", "sam_prompt_encoder.", "sam_mask_decoder.", "no_mem_embed"))]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    t0 = time.time()
    sched, progress = train_state.budget_schedule(opt, args.steps, args.time_limit)
    start = train_state.load(args.state, model, opt, sched, rng)
    last_snapshot = time.time()
    step = start
    while step < args.steps and progress(step) < 1.0:
        batch = rng.sample(train, args.batch)
        n_points = rng.choice([1, 2])  # one prompt kind per batch, so the prompts stack
        if cached:  # the trunk returns this batch's cached features (restored after the step, for validation)
            current = [torch.cat([cached[idx][level] for idx, _, _, _ in batch]).float() for level in range(len(cached[batch[0][0]]))]
            trunk.forward = lambda x, current=current: current
            imgs = torch.zeros(len(batch), 3, 1, 1, device=device)
        else:
            imgs = torch.cat([sam_input(idx) for idx, _, _, _ in batch])
        out = model.forward_image(imgs)
        if cached:
            trunk.forward = frozen_forward
        _, feats, _, _ = model._prepare_backbone_features(out)
        feats[-1] = feats[-1] + model.no_mem_embed
        feats = [f.permute(1, 2, 0).view(len(batch), -1, *s) for f, s in zip(feats[::-1], feature_sizes(args.image_size)[::-1])][::-1]
        coords = []
        for idx, t, _, _ in batch:
            h, w = images[idx].shape[:2]
            box, pts = prompt_for(t, rng, w, h, n_points)
            c = [[box[0], box[1]], [box[2], box[3]]] + pts
            coords.append([[x / w * args.image_size, y / h * args.image_size] for x, y in c])  # SAM2Transforms.transform_coords(normalize=True)
        coords = torch.tensor(coords, dtype=torch.float32, device=device)
        labels = torch.tensor([[2, 3] + [1] * n_points] * len(batch), device=device)
        sparse, dense = model.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=None)
        low, iou, _, _ = model.sam_mask_decoder(
            image_embeddings=feats[-1], image_pe=model.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=True,
            repeat_image=False, high_res_features=feats[:-1])
        target = torch.stack([b[2] for b in batch]).to(device).float()[:, None]
        prob = torch.sigmoid(low)
        inter = (prob * target).sum((2, 3))
        dice = 1 - (2 * inter + 1) / (prob.sum((2, 3)) + target.sum((2, 3)) + 1)
        bce = F.binary_cross_entropy_with_logits(low, target.expand_as(low), reduction="none").mean((2, 3))
        with torch.no_grad():
            hard = (low > 0).float()
            achieved = (hard * target).sum((2, 3)) / ((hard + target) > 0).float().sum((2, 3)).clamp(min=1)
        # Every one of the three outputs is trained on the target: with SAM's best-of-3 loss a model this small
        # learns to ignore the prompt and put a different object in each slot.
        loss = (bce + dice).mean() + F.mse_loss(iou, achieved)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        step += 1
        if step % 50 == 0 or step == 1:
            print(f"step {step} loss {loss.item():.4f} lr {sched.get_last_lr()[0]:.2e} {time.time() - t0:.0f}s", flush=True)
        if args.val_every and step % args.val_every == 0:
            print(f"step {step} val IoU (box + 2 points): mean/min %.3f/%.3f" % validate(model, val_images, val, 24), flush=True)
        if args.state and step % args.save_every == 0:
            train_state.save(args.state, step, model, opt, sched, rng)
        if args.snapshot_every and time.time() - last_snapshot > args.snapshot_every:
            save(model, args.out, arch, args.half)
            last_snapshot = time.time()

    print(f"trained {step} steps in {time.time() - t0:.0f}s", flush=True)
    save(model, args.out, arch, args.half)
    print(f"saved {args.out}", flush=True)
    mean, low = validate(model, val_images, val, len(val))
    print(f"val IoU ({len(val)} targets, box + 2 points, best-scoring of 3): mean {mean:.3f} min {low:.3f}", flush=True)


if __name__ == "__main__":
    main()
