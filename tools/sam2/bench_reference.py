"""Times the official sam2 package (SAM2ImagePredictor, fp32, CPU) on a checkpoint: set_image and predict medians.

Same workload as `perception-node bench sam2`: the synthetic 1280x720 gradient image (or --image), then a
box + one point prompt with multimask_output=True on the cached embedding.
    OMP_NUM_THREADS=2 .venv-ref/bin/python tools/sam2/bench_reference.py --checkpoint /tmp/sam2-full-t/model.pt --size t
"""
import argparse
import json
import resource
import statistics
import time

import numpy as np
import torch

from sam2.build_sam import build_sam2
from sam2.sam2_image_predictor import SAM2ImagePredictor

CONFIGS = {"t": "hiera_t", "s": "hiera_s", "b+": "hiera_b+", "l": "hiera_l"}


def synthetic(w=1280, h=720):
    x = np.arange(w)[None, :, None]
    y = np.arange(h)[:, None, None]
    c = np.arange(3)[None, None, :]
    return ((x * (c + 1) + y * (3 - c)) % 256).astype(np.uint8)


def arguments(runs):
    """The options both reference benchmarks take (this one and bench_onnx.py)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--size", choices=sorted(CONFIGS), required=True)
    ap.add_argument("--generation", choices=["sam2", "sam2.1"], default="sam2")
    ap.add_argument("--image")
    ap.add_argument("--runs", type=int, default=runs)
    ap.add_argument("--threads", type=int, default=2)
    return ap


def load(args):
    """Sets the torch threads, builds the official model from the checkpoint; returns it and the image."""
    torch.set_num_threads(args.threads)
    cfg = f"configs/{args.generation}/{args.generation}_{CONFIGS[args.size]}.yaml"
    model = build_sam2(cfg, args.checkpoint, device="cpu")
    if args.image:
        from PIL import Image
        image = np.asarray(Image.open(args.image).convert("RGB"))
    else:
        image = synthetic()
    return model, image


def main():
    ap = arguments(runs=3)
    ap.add_argument("--prompts", type=int, default=20)
    args = ap.parse_args()
    model, image = load(args)
    predictor = SAM2ImagePredictor(model)
    h, w = image.shape[:2]
    embed, cpu = [], []
    with torch.inference_mode():
        for _ in range(args.runs):
            t0, c0 = time.perf_counter(), time.process_time()
            predictor.set_image(image)
            embed.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        box = np.array([0.3 * w, 0.25 * h, 0.7 * w, 0.8 * h], dtype=np.float32)
        pts = np.array([[0.5 * w, 0.5 * h]], dtype=np.float32)
        prompt = []
        for i in range(args.prompts + 2):
            t0 = time.perf_counter()
            predictor.predict(point_coords=pts, point_labels=np.array([1]), box=box, multimask_output=True)
            if i >= 2:
                prompt.append(time.perf_counter() - t0)
    print(json.dumps(dict(
        reference="sam2 1.1.0 / torch " + torch.__version__, threads=args.threads, image=[w, h],
        set_image_median_s=statistics.median(embed), set_image_runs_s=embed, set_image_cpu_s=statistics.median(cpu),
        prompt_median_ms=1000 * statistics.median(prompt),
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), indent=1))


if __name__ == "__main__":
    main()
