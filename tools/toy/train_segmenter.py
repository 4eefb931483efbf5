#!/usr/bin/env python3
"""Trains the toy segmentation model: a tiny SAM2 (the official `sam2` package's own modules, a shrunk
Hiera-T-like config from tools/sam2/make_fixtures.py) that segments a toy-world shape from its box and
points, as the reasoning model's answers prompt it (box + 2 positive points for Seg-Zero, box + 1 for
VisionReasoner; box alone and points alone too).

The forward pass is SAM2ImagePredictor's own path (SAM2Transforms to 1024x1024, forward_image,
no_mem_embed, prompt encoder with box corners before clicks, mask decoder with multimask and high-res
features), with gradients. Loss: BCE + dice of each of the 3 masks against the ground truth at 256x256 (not SAM's best-of-3, which lets
a model this small ignore the prompt), plus MSE of the IoU head against the achieved IoU.
Output: an official-format checkpoint `{"model": state_dict}` with the image-mode keys (video-only modules
dropped, as the fixtures do), under 5 MiB.
Pinned: torch 2.12.1, sam2 1.1.0 (tools/requirements-ref.txt).
Run: python tools/toy/train_segmenter.py --data /tmp/toy --out models/toy/segmenter.pt
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
from make_fixtures import build  # noqa: E402  (the fixture generator's model builder)
sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_state  # noqa: E402
from sam2.sam2_image_predictor import SAM2ImagePredictor  # noqa: E402
from sam2.utils.transforms import SAM2Transforms  # noqa: E402

TOY = dict(config="configs/sam2.1/sam2.1_hiera_t.yaml", embed_dim=16, num_heads=1, stages=[1, 2, 2, 1],
           global_att_blocks=[4], window_spec=[8, 4, 14, 7], bkg=[7, 7], d_model=64)
FEAT_SIZES = [(256, 256), (128, 128), (64, 64)]


def load(split_dir):
    out = []
    for js in sorted(Path(split_dir).glob("*.json")):
        meta = json.loads(js.read_text())
        img = np.asarray(Image.open(js.with_suffix(".jpg")).convert("RGB"))
        for t in meta["targets"]:
            m = Image.new("L", (meta["width"], meta["height"]), 0)
            ImageDraw.Draw(m).polygon([tuple(p) for p in t["polygon"]], fill=1)
            out.append((img, t, np.asarray(m).astype(np.float32)))
    return out


def prompt_for(t, rng, w, h):
    """Box and 1 or 2 positive points (the Seg-Zero and VisionReasoner prompts), jittered as a toy reasoning model's answer would be (box edges by up to 15% of
    the object size, points by 5%)."""
    x1, y1, x2, y2 = t["box"]
    j = 0.15 * max(x2 - x1, y2 - y1)
    box = [x1 + rng.uniform(-j, j), y1 + rng.uniform(-j, j), x2 + rng.uniform(-j, j), y2 + rng.uniform(-j, j)]
    box = [min(max(v, 0), lim) for v, lim in zip(box, [w, h, w, h])]
    kind = rng.choice(["box2", "box1"])
    pts = {"box2": t["points"], "box1": [t["point"]]}[kind]
    pj = 0.05 * max(x2 - x1, y2 - y1)
    pts = [[p[0] + rng.uniform(-pj, pj), p[1] + rng.uniform(-pj, pj)] for p in pts]
    return (None if kind == "points" else box), pts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--state", help="training state file: saved every --save-every steps, resumed from when present")
    ap.add_argument("--save-every", type=int, default=10)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    torch.set_num_threads(args.threads)
    model, _ = build(TOY, full=False)
    # The sam2 package's own initialization (the fixtures' randomize() is for parity tests, not for training).
    model.train()
    tf = SAM2Transforms(resolution=1024, mask_threshold=0.0)
    train = load(Path(args.data) / "train")
    val = load(Path(args.data) / "val")
    params = [p for n, p in model.named_parameters() if n.startswith(("image_encoder.", "sam_prompt_encoder.", "sam_mask_decoder.", "no_mem_embed"))]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.1)
    start = train_state.load(args.state, model, opt, sched, rng)
    t0 = time.time()
    for step in range(start, args.steps):
        batch = rng.sample(train, args.batch)
        imgs = torch.stack([tf(b[0]) for b in batch])
        out = model.forward_image(imgs)
        _, feats, _, _ = model._prepare_backbone_features(out)
        feats[-1] = feats[-1] + model.no_mem_embed
        feats = [f.permute(1, 2, 0).view(len(batch), -1, *s) for f, s in zip(feats[::-1], FEAT_SIZES[::-1])][::-1]
        loss = 0.0
        for i, (img, t, gt) in enumerate(batch):
            h, w = gt.shape
            box, pts = prompt_for(t, rng, w, h)
            coords, labels = [], []
            if box is not None:
                coords += [[box[0], box[1]], [box[2], box[3]]]
                labels += [2, 3]
            coords += pts
            labels += [1] * len(pts)
            c = tf.transform_coords(torch.tensor([coords], dtype=torch.float32), normalize=True, orig_hw=(h, w))
            sparse, dense = model.sam_prompt_encoder(points=(c, torch.tensor([labels])), boxes=None, masks=None)
            low, iou, _, _ = model.sam_mask_decoder(
                image_embeddings=feats[-1][i:i + 1], image_pe=model.sam_prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=True,
                repeat_image=False, high_res_features=[f[i:i + 1] for f in feats[:-1]])
            target = (F.interpolate(torch.from_numpy(gt)[None, None], size=(256, 256), mode="bilinear", align_corners=False) > 0.5).float()
            prob = torch.sigmoid(low[0])
            inter = (prob * target[0]).sum((1, 2))
            dice = 1 - (2 * inter + 1) / (prob.sum((1, 2)) + target[0].sum((1, 2)) + 1)
            bce = F.binary_cross_entropy_with_logits(low[0], target[0].expand_as(low[0]), reduction="none").mean((1, 2))
            per_mask = bce + dice
            with torch.no_grad():
                hard = (low[0] > 0).float()
                achieved = (hard * target[0]).sum((1, 2)) / ((hard + target[0]) > 0).float().sum((1, 2)).clamp(min=1)
            # Every one of the three outputs is trained on the target: with SAM's best-of-3 loss a model this small
            # learns to ignore the prompt and put a different object in each slot.
            loss = loss + per_mask.mean() + F.mse_loss(iou[0], achieved)
        loss = loss / len(batch)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % 20 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
        if args.state and (step + 1) % args.save_every == 0:
            train_state.save(args.state, step + 1, model, opt, sched, rng)

    model.eval()
    predictor = SAM2ImagePredictor(model)
    ious = []
    with torch.inference_mode():
        for img, t, gt in val[:24]:
            predictor.set_image(img)
            masks, scores, _ = predictor.predict(point_coords=np.array(t["points"], dtype=np.float32),
                                                 point_labels=np.array([1, 1]), box=np.array(t["box"], dtype=np.float32))
            m = masks[int(np.argmax(scores))] > 0
            g = gt > 0.5
            ious.append((m & g).sum() / max(1, (m | g).sum()))
    print(f"val IoU (box + 2 points, best of 3): mean {np.mean(ious):.3f} min {np.min(ious):.3f}", flush=True)
    sd = {k: v for k, v in model.state_dict().items()
          if k.startswith(("image_encoder.", "sam_prompt_encoder.", "sam_mask_decoder.", "no_mem_embed"))}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": sd}, args.out)
    print(f"saved {args.out}", flush=True)


if __name__ == "__main__":
    main()
