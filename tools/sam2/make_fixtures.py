"""SAM2 parity fixtures: random-weight models built with the official `sam2` package (1.1.0).

Committed fixtures (shrunk configs, one per generation; ~3.5 MiB each, model.pt 2 MiB):
    .venv-ref/bin/python tools/sam2/make_fixtures.py
        -> Tests/Fixtures/sam2/{sam2-mini,sam2.1-mini,sam2.1-mini-256}/   (--only NAME: one of them)
Full-size random models of the real architectures, on demand (not committed):
    .venv-ref/bin/python tools/sam2/make_fixtures.py --full t --out /tmp/sam2-full-t   (t, s, b+, l)

Each fixture directory holds:
  model.pt        official-style checkpoint: torch.save({"model": state_dict}); committed minis keep only the
                  image-mode keys (video-only modules are large and unused by the image predictor)
  meta.json       config (trunk, neck, generation), image name, prompt cases
  image.png       the RGB photo given to SAM2ImagePredictor.set_image (scikit-image data, resized)
  input.npy       preprocessed [1,3,S,S] tensor (S = image_size, 1024 for the published models)
  trunk_{0..3}.npy, fpn_{0..2}.npy, image_embed.npy, high_res_{0,1}.npy   intermediate features (NCHW)
  case{k}_*.npy   per prompt case: inputs, sparse embeddings, raw decoder outputs, low-res logits, scores,
                  masks (np.packbits over the flattened bool [M,H,W])
Arrays over a cap (65536 elements for low-res logits and decoder masks, 16384 for everything else) are saved
spatially subsampled: x[..., ::s, ::s] with the smallest power-of-two s that brings them under the cap;
meta.json records s per file ("strides").
"""
import argparse
import json
import os

import numpy as np
import skimage.data
import torch
from hydra import compose
from omegaconf import OmegaConf
from hydra.utils import instantiate
from PIL import Image

import sam2  # noqa: F401  (initializes hydra's config module)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CAP = 65536
FEATURE_CAP = 16384

MINIS = {
    # t-like: one head, windows 14/7 at stages 3/4 (so 64->70 and 32->35 padding happens), 7x7 background.
    "sam2-mini": dict(
        config="configs/sam2/sam2_hiera_t.yaml", embed_dim=8, num_heads=1, stages=[1, 2, 3, 2],
        global_att_blocks=[4, 7], window_spec=[8, 4, 14, 7], bkg=[7, 7], d_model=32, image="coffee"),
    # l/b+-like: two heads, windows 16/8 (no padding), 14x14 background, two blocks in stage 1.
    "sam2.1-mini": dict(
        config="configs/sam2.1/sam2.1_hiera_l.yaml", embed_dim=12, num_heads=2, stages=[2, 1, 4, 1],
        global_att_blocks=[4, 6], window_spec=[8, 4, 16, 8], bkg=[14, 14], d_model=32, image="astronaut"),
    # A 256-pixel input (the toy world's size): 64x64 stride-4 grid, 16x16 embedding, 64x64 low-res masks.
    "sam2.1-mini-256": dict(
        config="configs/sam2.1/sam2.1_hiera_t.yaml", embed_dim=8, num_heads=1, stages=[1, 2, 2, 1],
        global_att_blocks=[4], window_spec=[8, 4, 14, 7], bkg=[7, 7], d_model=32, image_size=256, image="coffee"),
}
FULL = {
    "t": dict(config="configs/sam2/sam2_hiera_t.yaml"),
    "s": dict(config="configs/sam2/sam2_hiera_s.yaml"),
    "b+": dict(config="configs/sam2/sam2_hiera_b+.yaml"),
    "l": dict(config="configs/sam2/sam2_hiera_l.yaml"),
}


def build(spec, full):
    overrides = [
        "++model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability=true",
        "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_delta=0.05",
        "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh=0.98",
    ]
    if spec.get("image_size"):
        overrides.append(f"++model.image_size={spec['image_size']}")
    if not full:
        c = spec
        C = c["embed_dim"]
        overrides += [
            f"++model.image_encoder.trunk.embed_dim={C}",
            f"++model.image_encoder.trunk.num_heads={c['num_heads']}",
            f"++model.image_encoder.trunk.stages={c['stages']}",
            f"++model.image_encoder.trunk.global_att_blocks={c['global_att_blocks']}",
            f"++model.image_encoder.trunk.window_spec={c['window_spec']}",
            f"++model.image_encoder.trunk.window_pos_embed_bkg_spatial_size={c['bkg']}",
            f"++model.image_encoder.neck.backbone_channel_list={[8 * C, 4 * C, 2 * C, C]}",
            f"++model.image_encoder.neck.d_model={c['d_model']}",
            f"++model.image_encoder.neck.position_encoding.num_pos_feats={c['d_model']}",
        ]
    cfg = compose(config_name=spec["config"], overrides=overrides)
    OmegaConf.resolve(cfg)
    model = instantiate(cfg.model, _recursive_=True).eval()
    trunk = cfg.model.image_encoder.trunk
    h = model.image_encoder.trunk  # read back from the built module: yaml files omit Hiera's defaults
    meta_cfg = dict(
        generation="sam2.1" if "sam2.1" in spec["config"] else "sam2",
        embed_dim=int(trunk.embed_dim), num_heads=int(h.blocks[0].attn.num_heads),
        stages=[int(b) for b in OmegaConf.to_container(trunk).get("stages", [2, 3, 16, 3])],
        global_att_blocks=[int(b) for b in h.global_att_blocks], window_spec=[int(b) for b in h.window_spec],
        bkg=[int(b) for b in h.window_pos_embed_bkg_spatial_size], d_model=int(cfg.model.image_encoder.neck.d_model),
        image_size=int(model.image_size),
    )
    return model, meta_cfg


def feature_sizes(image_size):
    """Sizes of SAM2's two high-res feature maps and its image embedding (strides 4, 8, 16) for an input size."""
    return [(image_size // s, image_size // s) for s in (4, 8, 16)]


def predictor_for(model):
    """SAM2ImagePredictor for `model`. sam2 1.1.0's predictor hard-codes the backbone feature sizes of a 1024 input
    ([(256, 256), (128, 128), (64, 64)]) while everything else follows model.image_size; for other input sizes
    (the toy world's 256) they are set from it, the only change to the reference path."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor
    predictor = SAM2ImagePredictor(model)
    predictor._bb_feat_sizes = feature_sizes(model.image_size)
    return predictor


def randomize(model, seed):
    """Replace every parameter with non-trivial random values (defaults leave zeros and ones that would hide bugs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2 and "embed" not in name and "token" not in name:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in ** 0.5)
            elif name.endswith("weight") and p.dim() == 1:
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))


def image_for(name, full):
    if full:
        img = Image.fromarray(skimage.data.coffee()).resize((1280, 720), Image.BILINEAR)
    elif name == "coffee":
        img = Image.fromarray(skimage.data.coffee()).resize((1100, 330), Image.BILINEAR)
    else:
        img = Image.fromarray(skimage.data.astronaut()).resize((192, 160), Image.BILINEAR)
    return np.asarray(img.convert("RGB"))


def cases_for(w, h, generation):
    sx, sy = w / 100.0, h / 100.0
    box = [20 * sx, 15 * sy, 75 * sx, 90 * sy]
    cases = [
        dict(box=box, points=None, labels=None, multimask=True),
        dict(box=box, points=[[40 * sx, 50 * sy], [60 * sx, 40 * sy]], labels=[1, 1], multimask=False),
        dict(box=None, points=[[45 * sx, 55 * sy], [80 * sx, 20 * sy]], labels=[1, 0], multimask=True),
        dict(box=None, points=[[50 * sx, 50 * sy]], labels=[1], multimask=False),
    ]
    if generation == "sam2.1":
        cases.append(dict(box=box, points=None, labels=None, multimask=False, mask_input_from=0))
    return cases


class Saver:
    def __init__(self, out):
        self.out = out
        self.strides = {}

    def __call__(self, name, a, subsample=True, cap=FEATURE_CAP):
        a = np.ascontiguousarray(a)
        s = 1
        if subsample and a.dtype != np.uint8:
            while a.ndim >= 2 and a[..., ::s, ::s].size > cap:
                s *= 2
        self.strides[name] = s
        np.save(os.path.join(self.out, name + ".npy"), np.ascontiguousarray(a[..., ::s, ::s]) if s > 1 else a)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", choices=sorted(FULL), help="real architecture size instead of the committed minis")
    ap.add_argument("--out", help="output directory (with --full)")
    ap.add_argument("--only", choices=sorted(MINIS), help="regenerate one committed mini (the others keep their seeds)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.full:
        jobs = {f"full-{args.full}": (FULL[args.full], args.out or f"/tmp/sam2-full-{args.full}", True)}
    else:
        jobs = {k: (v, os.path.join(ROOT, "Tests", "Fixtures", "sam2", k), False) for k, v in MINIS.items()}
    for idx, (key, (spec, out, full)) in enumerate(jobs.items()):
        if args.only and key != args.only:
            continue
        os.makedirs(out, exist_ok=True)
        torch.manual_seed(args.seed + idx)
        model, meta_cfg = build(spec, full)
        randomize(model, args.seed + 100 + idx)
        sd = model.state_dict()
        if not full:
            sd = {k: v for k, v in sd.items() if k.startswith(("image_encoder.", "sam_prompt_encoder.", "sam_mask_decoder.", "no_mem_embed"))}
        torch.save({"model": sd}, os.path.join(out, "model.pt"))
        save = Saver(out)
        image = image_for(spec.get("image", "coffee"), full)
        Image.fromarray(image).save(os.path.join(out, "image.png"))
        h, w = image.shape[:2]
        predictor = predictor_for(model)
        captured = {}
        hooks = [
            model.image_encoder.trunk.register_forward_hook(lambda m, i, o: captured.__setitem__("trunk", [t.detach().clone() for t in o])),
            model.image_encoder.neck.register_forward_hook(lambda m, i, o: captured.__setitem__("fpn", [t.detach().clone() for t in o[0]])),
            model.sam_prompt_encoder.register_forward_hook(lambda m, i, o: captured.__setitem__("prompt", [t.detach().clone() for t in o])),
            model.sam_mask_decoder.register_forward_hook(lambda m, i, o: captured.__setitem__("decoder", [t.detach().clone() for t in o])),
        ]
        with torch.inference_mode():
            save("input", predictor._transforms(image)[None].numpy())
            predictor.set_image(image)
            for i, t in enumerate(captured["trunk"]):
                save(f"trunk_{i}", t.numpy())
            for i, t in enumerate(captured["fpn"]):
                save(f"fpn_{i}", t.numpy())
            save("image_embed", predictor._features["image_embed"].numpy())
            for i, t in enumerate(predictor._features["high_res_feats"]):
                save(f"high_res_{i}", t.numpy())
            cases = cases_for(w, h, meta_cfg["generation"])
            lowres = []
            for k, c in enumerate(cases):
                mask_input = None
                if "mask_input_from" in c:
                    prev = lowres[c["mask_input_from"]]
                    mask_input = prev[[0]]
                    save(f"case{k}_mask_input", mask_input, subsample=False)
                masks, scores, low = predictor.predict(
                    point_coords=None if c["points"] is None else np.array(c["points"], dtype=np.float32),
                    point_labels=None if c["labels"] is None else np.array(c["labels"], dtype=np.int32),
                    box=None if c["box"] is None else np.array(c["box"], dtype=np.float32),
                    mask_input=mask_input, multimask_output=c["multimask"])
                lowres.append(low)
                sparse, dense = captured["prompt"]
                save(f"case{k}_sparse", sparse.numpy())
                if mask_input is not None:
                    save(f"case{k}_dense", dense.numpy())
                dec_iou = captured["decoder"][1]
                save(f"case{k}_decoder_iou", dec_iou.numpy())
                save(f"case{k}_low_res", low, cap=CAP)
                save(f"case{k}_scores", scores)
                save(f"case{k}_masks", np.packbits(masks.astype(bool).reshape(-1)), subsample=False)
                c["mask_shape"] = list(masks.shape)
                c["positive_fraction"] = float(masks.mean())
        for hk in hooks:
            hk.remove()
        meta = dict(config=meta_cfg, image=dict(width=w, height=h), cases=cases, strides=save.strides,
                    generator="tools/sam2/make_fixtures.py", sam2="1.1.0", torch=torch.__version__)
        with open(os.path.join(out, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
        print(key, "->", out, [round(c["positive_fraction"], 3) for c in cases])


if __name__ == "__main__":
    main()
