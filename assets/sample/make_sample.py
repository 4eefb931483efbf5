"""Regenerates the bundled sample frames from scikit-image's bundled data (public domain / CC0 photos).

    python3 assets/sample/make_sample.py    # needs scikit-image 0.26.0 and Pillow
"""
import os

from PIL import Image
from skimage import data

HERE = os.path.dirname(os.path.abspath(__file__))
PHOTOS = [("01_coffee.jpg", data.coffee), ("02_chelsea.jpg", data.chelsea),
          ("03_astronaut.jpg", data.astronaut), ("04_rocket.jpg", data.rocket)]

for name, load in PHOTOS:
    path = os.path.join(HERE, name)
    Image.fromarray(load()).convert("RGB").save(path, quality=85, optimize=True)
    size = os.path.getsize(path)
    assert size <= 200 * 1024, (name, size)
    print(name, Image.open(path).size, size, "bytes")
