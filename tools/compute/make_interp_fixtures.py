"""Reference outputs of torch.nn.functional.interpolate for Compute's interpolate tests.

Regenerate: .venv-ref/bin/python tools/compute/make_interp_fixtures.py
Writes Tests/Fixtures/compute/*.npy (a few KiB).
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "compute")
os.makedirs(OUT, exist_ok=True)
g = torch.Generator().manual_seed(0)
x = torch.rand(1, 2, 7, 9, generator=g) * 2 - 1
np.save(os.path.join(OUT, "interp_input.npy"), x.numpy())
cases = {
    "bicubic_up": dict(size=(16, 13), mode="bicubic", align_corners=False),
    "bicubic_down": dict(size=(4, 5), mode="bicubic", align_corners=False),
    "bilinear_up": dict(size=(16, 13), mode="bilinear", align_corners=False),
    "bilinear_down": dict(size=(4, 5), mode="bilinear", align_corners=False),
    "nearest_up": dict(size=(14, 18), mode="nearest"),
    "nearest_odd": dict(size=(10, 5), mode="nearest"),
    "bilinear_aa_mixed": dict(size=(12, 4), mode="bilinear", align_corners=False, antialias=True),
    "bilinear_aa_down": dict(size=(3, 4), mode="bilinear", align_corners=False, antialias=True),
    "bicubic_aa_mixed": dict(size=(12, 4), mode="bicubic", align_corners=False, antialias=True),
}
for name, kw in cases.items():
    np.save(os.path.join(OUT, f"interp_{name}.npy"), F.interpolate(x, **kw).numpy())
y = torch.linspace(-6, 6, 257)
np.save(os.path.join(OUT, "gelu_input.npy"), y.numpy())
np.save(os.path.join(OUT, "gelu_erf.npy"), F.gelu(y).numpy())
np.save(os.path.join(OUT, "gelu_tanh.npy"), F.gelu(y, approximate="tanh").numpy())
print("wrote", len(cases) + 3, "arrays to", os.path.normpath(OUT))
