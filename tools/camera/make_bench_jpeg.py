#!/usr/bin/env python3
"""Writes a camera-like 1280x720 MJPEG frame (scikit-image's astronaut, 4:2:2 like UVC, quality 80) for
`perception-node bench camera --jpeg`. Pinned: Pillow 13.0.0, scikit-image 0.26.0.
Run: python3 tools/camera/make_bench_jpeg.py [out.jpg]   (default /tmp/bench_1280x720_q80_422.jpg)
"""
import sys

from PIL import Image
from skimage import data

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/bench_1280x720_q80_422.jpg"
Image.fromarray(data.astronaut()).resize((1280, 720), Image.BICUBIC).save(out, quality=80, subsampling=1)
print(out)
