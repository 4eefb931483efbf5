#!/usr/bin/env python3
"""Reference outputs for Sources/Imaging/Resample*.swift: Pillow `Image.resize` and torchvision's antialiased
bilinear `Resize` on real photographs.

Writes into OUT a `manifest.json` and raw files:
  sources: `<name>.rgb` (uint8 RGB, row-major) with their sizes;
  pillow cases: `pil_<i>.rgb`, what `Image.fromarray(src).resize((w, h), filter)` returns;
  torch cases: `torch_<i>.f32` (float32 [3, h, w]), `Resize((h, w), antialias=True)(ToTensor()(src))`, the SAM2
  preprocessing before normalization (checked against sam2's own SAM2Transforms when sam2 is importable).
Sets: `full` (photos at full size, used live by the Swift tests when Pillow is importable) and `small` (tiny
crops, committed as Tests/Fixtures/imaging so CI without Python still checks the arithmetic).

Run: python3 tools/imaging/resample_reference.py --set small --out Tests/Fixtures/imaging
     (.venv-ref/bin/python adds the torch cases; pinned: Pillow 13.0.0, scikit-image 0.26.0, torchvision 0.27.1)
Exit status 3 when Pillow or scikit-image is missing (the Swift test then skips the live comparison).
"""
import argparse
import json
import math
import sys
from pathlib import Path

try:
    import numpy as np
    from PIL import Image
    from skimage import data
except ImportError as error:  # the caller decides whether that is a skip
    print(f"missing reference dependency: {error}", file=sys.stderr)
    sys.exit(3)


def smart_resize(h, w, factor=28, min_pixels=3136, max_pixels=12845056):
    hb, wb = max(factor, round(h / factor) * factor), max(factor, round(w / factor) * factor)
    if hb * wb > max_pixels:
        beta = math.sqrt(h * w / max_pixels)
        hb, wb = math.floor(h / beta / factor) * factor, math.floor(w / beta / factor) * factor
    elif hb * wb < min_pixels:
        beta = math.sqrt(min_pixels / (h * w))
        hb, wb = math.ceil(h * beta / factor) * factor, math.ceil(w * beta / factor) * factor
    return hb, wb


def sources(which):
    photos = {"astronaut": data.astronaut(), "coffee": data.coffee(), "chelsea": data.chelsea()}
    if which == "full":
        # A 1920x1080 camera-sized frame (upscaled photo) exercises strong downscaling to 840 and 1024.
        photos["camera1080"] = np.asarray(Image.fromarray(data.coffee()).resize((1920, 1080), Image.BICUBIC))
        return photos
    return {
        "coffee_crop": data.coffee()[150:197, 200:261],  # 61x47, odd sizes
        "astronaut_crop": data.astronaut()[100:132, 180:220],  # 40x32
    }


def pillow_cases(which, srcs):
    cases = []
    for name, arr in srcs.items():
        h, w = arr.shape[:2]
        if which == "full":
            sizes = [(840, 840, "bilinear"), (w // 3, h // 3, "bicubic"), (w * 2 - 1, h + 37, "bicubic"),
                     (w, h // 2, "bicubic"), (w // 2 + 1, h, "bilinear"), (301, 777, "bilinear"),
                     (w, h, "bicubic"), (1, 1, "bicubic")]
            sh, sw = smart_resize(h, w)
            sizes.append((sw, sh, "bicubic"))
            sh, sw = smart_resize(840, 840)
            sizes.append((sw, sh, "bicubic"))
        else:
            sizes = [(w // 3, h // 3 + 1, "bicubic"), (w * 2 + 3, h * 3 - 1, "bicubic"), (w, h // 2, "bilinear"),
                     (w // 2, h, "bicubic"), (84, 84, "bilinear"), (28, 56, "bicubic"), (5, 3, "bilinear"),
                     (w // 5, h * 2, "bilinear")]
        for ow, oh, flt in sizes:
            cases.append({"source": name, "width": ow, "height": oh, "filter": flt})
    return cases


def torch_cases(which, srcs):
    if which == "full":
        picks = [("camera1080", 1024, 1024), ("coffee", 1024, 1024), ("astronaut", 1024, 1024),
                 ("chelsea", 200, 333), ("camera1080", 517, 1500)]
    else:
        picks = [("coffee_crop", 17, 23), ("coffee_crop", 64, 64), ("astronaut_crop", 90, 13), ("astronaut_crop", 32, 7)]
    return [{"source": s, "height": h, "width": w} for s, h, w in picks]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--set", choices=["full", "small"], default="full")
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    srcs = sources(args.set)
    manifest = {"pillow": Image.__version__, "sources": {}, "pillow_cases": [], "torch_cases": []}
    for name, arr in srcs.items():
        arr = np.ascontiguousarray(arr[:, :, :3], dtype=np.uint8)
        (out / f"{name}.rgb").write_bytes(arr.tobytes())
        manifest["sources"][name] = {"width": arr.shape[1], "height": arr.shape[0]}
        srcs[name] = arr
    filters = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}
    for i, case in enumerate(pillow_cases(args.set, srcs)):
        img = Image.fromarray(srcs[case["source"]]).resize((case["width"], case["height"]), filters[case["filter"]])
        case["file"] = f"pil_{i}.rgb"
        (out / case["file"]).write_bytes(img.tobytes())
        manifest["pillow_cases"].append(case)
    if not args.no_torch:
        try:
            import torch
            import torchvision
            from torchvision.transforms import Resize, ToTensor
        except ImportError:
            torch = None
        if torch is not None:
            torch.set_num_threads(2)
            manifest["torchvision"] = torchvision.__version__
            try:
                from sam2.utils.transforms import SAM2Transforms
                sam2_transforms = SAM2Transforms(resolution=1024, mask_threshold=0.0)
            except ImportError:
                sam2_transforms = None
            for i, case in enumerate(torch_cases(args.set, srcs)):
                src = srcs[case["source"]]
                tensor = ToTensor()(src)
                resized = Resize((case["height"], case["width"]), antialias=True)(tensor)
                if sam2_transforms is not None and case["height"] == case["width"] == 1024:
                    # SAM2Transforms = Resize then Normalize: undo the normalization to confirm the resize part.
                    normed = sam2_transforms(src)
                    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
                    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
                    expect = (resized - mean) / std
                    case["sam2_transforms_max_abs_diff"] = float((normed - expect).abs().max())
                case["file"] = f"torch_{i}.f32"
                (out / case["file"]).write_bytes(resized.contiguous().numpy().astype(np.float32).tobytes())
                manifest["torch_cases"].append(case)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
