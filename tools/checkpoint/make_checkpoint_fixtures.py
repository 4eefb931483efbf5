#!/usr/bin/env python3
"""Writes the checkpoint-reader fixtures (tiny torch.save and safetensors files plus expected values).

    .venv-ref/bin/python tools/checkpoint/make_checkpoint_fixtures.py            # -> Tests/Fixtures/checkpoint/
    .venv-ref/bin/python tools/checkpoint/make_checkpoint_fixtures.py --big /tmp/hiera_l.pt   # 224M-param SAM2.1 hiera-l

Pinned: torch==2.12.1, safetensors==0.8.0, numpy==2.2.6 (tools/requirements-ref.txt). Output is deterministic for
a given torch version except the random `serialization_id` torch writes into each zip.
"""
import argparse
import collections
import io
import json
import os
import shutil
import struct
import zipfile
import zlib

import numpy as np
import torch
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "checkpoint")


def expected_entry(t):
    """dtype, shape, contiguous little-endian bytes (hex) and the float32 bit patterns of t.float()."""
    c = t.detach().contiguous()
    raw = c.reshape(-1).view(torch.uint8).numpy().tobytes() if c.numel() else b""
    bits = c.float().reshape(-1).view(torch.int32).numpy().astype(np.uint32).tolist()
    return {
        "dtype": str(c.dtype).replace("torch.", ""),
        "shape": list(c.shape),
        "hex": raw.hex(),
        "float_bits": bits,
    }


def special_values(dtype, n):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(n, generator=g, dtype=torch.float64) * 3
    specials = [0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1.0, -2.5, 65504.0, 6e-8, 1e-40, 3.0e38]
    x[: len(specials)] = torch.tensor(specials, dtype=torch.float64)
    return x.to(dtype)


def basic_state():
    g = torch.Generator().manual_seed(0)
    sd = collections.OrderedDict()
    sd["f32"] = torch.randn(2, 3, generator=g)
    sd["f16"] = special_values(torch.float16, 24).reshape(3, 8)
    sd["bf16"] = special_values(torch.bfloat16, 20)
    sd["f64"] = torch.randn(2, 2, generator=g, dtype=torch.float64)
    sd["i64"] = torch.tensor([0, -1, 2**40, -(2**40), 7], dtype=torch.int64)
    sd["i32"] = torch.tensor([1, -2, 2**31 - 1], dtype=torch.int32)
    sd["i16"] = torch.tensor([[-3, 4], [5, -32768]], dtype=torch.int16)
    sd["i8"] = torch.tensor([-128, 0, 127], dtype=torch.int8)
    sd["u8"] = torch.tensor([0, 1, 255], dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False, True])
    base = torch.randn(3, 4, generator=g)
    sd["transposed"] = base.t()  # non-contiguous, strides (1, 4)
    long = torch.arange(20, dtype=torch.float32)
    sd["sliced"] = long[5:11].view(2, 3)  # contiguous view at storage offset 5
    sd["strided"] = long.view(4, 5)[:, ::2]  # steps of 2, shares the storage of "sliced"
    sd["shared_a"] = base
    sd["shared_b"] = base[1]  # row view into the storage of "shared_a" / "transposed"
    sd["half_t"] = sd["f16"].t()  # 2-byte elements, non-contiguous
    sd["expanded"] = torch.arange(3, dtype=torch.float32).expand(4, 3)  # stride 0
    sd["scalar"] = torch.tensor(3.25)
    sd["empty"] = torch.zeros(0, 3)
    sd["param"] = torch.nn.Parameter(torch.randn(2, generator=g))
    return sd


def module_state():
    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1 = torch.nn.LayerNorm(4)
            self.proj = torch.nn.Linear(4, 3)
            self.conv = torch.nn.Conv2d(2, 3, 3)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = torch.nn.ModuleList([Block(), Block()])
            self.register_buffer("pos_embed", torch.randn(1, 2, 2))

    torch.manual_seed(1)
    return Net().state_dict()  # OrderedDict carrying _metadata (pickled with BUILD)


def repack(src, dst, *, compress=False, zip64=False, byteorder=None):
    """Rewrites a torch zip: deflated entries, zip64 central-directory fields, or a different byteorder entry."""
    zin = zipfile.ZipFile(src)
    items = [(i.filename, zin.read(i.filename)) for i in zin.infolist()]
    if byteorder is not None:
        items = [(n, byteorder.encode() if n.endswith("/byteorder") else d) for n, d in items]
    if not zip64:
        with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
            for n, d in items:
                z.writestr(n, d)
        return
    # Stored entries whose central-directory sizes and offsets are all saturated and given in zip64 extra fields,
    # followed by a zip64 end record, locator and a saturated classic end record (what very large files look like).
    out = io.BytesIO()
    central = []
    for n, d in items:
        name = n.encode()
        pad = (-(out.tell() + 30 + len(name) + 4)) % 64
        extra = struct.pack("<HH", 0x4642, pad) + b"Z" * pad  # alignment padding as torch writes it
        off = out.tell()
        crc = zlib.crc32(d)
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc, len(d), len(d), len(name), len(extra)))
        out.write(name + extra + d)
        z64 = struct.pack("<HHQQQ", 0x0001, 24, len(d), len(d), off)
        central.append(
            struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(name),
                        len(z64), 0, 0, 0, 0, 0xFFFFFFFF) + name + z64)
    cd_off = out.tell()
    for c in central:
        out.write(c)
    cd_size = out.tell() - cd_off
    eocd64 = out.tell()
    out.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(items), len(items), cd_size, cd_off))
    out.write(struct.pack("<IIQI", 0x07064B50, 0, eocd64, 1))
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
    with open(dst, "wb") as f:
        f.write(out.getvalue())


def safetensors_state():
    g = torch.Generator().manual_seed(2)
    return {
        "a.f32": torch.randn(3, 5, generator=g),
        "a.f16": special_values(torch.float16, 12).reshape(2, 6),
        "a.bf16": special_values(torch.bfloat16, 17),
        "b.f64": torch.randn(2, generator=g, dtype=torch.float64),
        "b.i64": torch.tensor([2**40, -3], dtype=torch.int64),
        "b.i32": torch.tensor([[7, -8]], dtype=torch.int32),
        "b.i16": torch.tensor([-1], dtype=torch.int16),
        "b.i8": torch.tensor([-7, 7], dtype=torch.int8),
        "b.u8": torch.tensor([200], dtype=torch.uint8),
        "b.bool": torch.tensor([False, True]),
        "c.scalar": torch.tensor(-1.5),
        "c.empty": torch.zeros(2, 0),
    }


def write_misaligned(path, tensors):
    """A valid safetensors file whose data section starts at an odd offset (the reader must copy, not view)."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        raw = t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": {torch.float32: "F32", torch.bfloat16: "BF16"}[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    if (8 + len(h)) % 2 == 0:
        h += b" "
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def check_torch_roundtrip(path, sd):
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    loaded = loaded.get("model", loaded)
    for k, v in sd.items():
        if isinstance(v, torch.Tensor):
            assert torch.equal(loaded[k], v) or (v.is_floating_point() and torch.equal(loaded[k].isnan(), v.isnan())), k


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--big", help="also write a SAM2.1 hiera-l sized random state dict (~900 MB) here")
    args = ap.parse_args()
    out = args.out
    if args.big:
        from sam2.build_sam import build_sam2

        torch.manual_seed(0)
        model = build_sam2("configs/sam2.1/sam2.1_hiera_l.yaml", None, device="cpu", mode="eval")
        sd = model.state_dict()
        torch.save({"model": sd}, args.big)
        print(f"{args.big}: {len(sd)} tensors, {sum(t.numel() for t in sd.values())} parameters")
        return
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    expected = {}

    basic = basic_state()
    torch.save({"model": basic, "epoch": 3, "lr": 1e-4, "name": "basic",
                "extra": {"list": [1, 2, (3, "s")], "none": None, "flag": True, "neg": -5, "big": 2**40}},
               os.path.join(out, "basic.pt"))
    check_torch_roundtrip(os.path.join(out, "basic.pt"), basic)
    expected["basic.pt"] = {k: expected_entry(v) for k, v in basic.items()}

    mod = module_state()
    torch.save(mod, os.path.join(out, "module.pt"))
    expected["module.pt"] = {k: expected_entry(v) for k, v in mod.items()}

    g = torch.Generator().manual_seed(3)
    w, b, c = torch.randn(2, 2, generator=g), torch.randn(3, generator=g), torch.randn(1, generator=g)
    torch.save({"model": {"enc": {"w": w, "sub": {"b": b}}, "dec.c": c, "meta": "x"}}, os.path.join(out, "nested.pt"))
    expected["nested.pt"] = {"enc.w": expected_entry(w), "enc.sub.b": expected_entry(b), "dec.c": expected_entry(c)}

    p4 = collections.OrderedDict((k, basic[k]) for k in ["f32", "bf16", "transposed", "i64", "scalar"])
    torch.save({"model": p4, "note": "protocol 4"}, os.path.join(out, "proto4.pt"), pickle_protocol=4)
    expected["proto4.pt"] = {k: expected_entry(v) for k, v in p4.items()}

    repack(os.path.join(out, "basic.pt"), os.path.join(out, "zip64.pt"), zip64=True)
    check_torch_roundtrip(os.path.join(out, "zip64.pt"), basic)
    expected["zip64.pt"] = expected["basic.pt"]
    repack(os.path.join(out, "nested.pt"), os.path.join(out, "deflated.pt"), compress=True)
    repack(os.path.join(out, "nested.pt"), os.path.join(out, "bigendian.pt"), byteorder="big")
    torch.save({"model": {"w": w}}, os.path.join(out, "legacy.pt"), _use_new_zipfile_serialization=False)

    st = safetensors_state()
    save_file(st, os.path.join(out, "basic.safetensors"), metadata={"format": "pt", "note": "fixture"})
    expected["basic.safetensors"] = {k: expected_entry(v) for k, v in st.items()}

    mis = {"x": torch.randn(3, generator=g), "y": torch.randn(2, 2, generator=g).to(torch.bfloat16)}
    write_misaligned(os.path.join(out, "misaligned.safetensors"), mis)
    expected["misaligned.safetensors"] = {k: expected_entry(v) for k, v in mis.items()}

    # A Hugging Face style sharded directory (bf16, like the Qwen2.5-VL releases).
    shard_dir = os.path.join(out, "sharded")
    os.makedirs(shard_dir)
    shards = [
        {"model.embed_tokens.weight": torch.randn(6, 4, generator=g).to(torch.bfloat16),
         "model.layers.0.self_attn.q_proj.weight": torch.randn(4, 4, generator=g).to(torch.bfloat16)},
        {"model.layers.0.self_attn.q_proj.bias": torch.randn(4, generator=g).to(torch.bfloat16),
         "model.norm.weight": torch.ones(4, dtype=torch.bfloat16),
         "lm_head.weight": torch.randn(6, 4, generator=g).to(torch.float16)},
    ]
    weight_map, total = {}, 0
    for i, s in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(s, os.path.join(shard_dir, fname), metadata={"format": "pt"})
        for k, v in s.items():
            weight_map[k] = fname
            total += v.numel() * v.element_size()
    with open(os.path.join(shard_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
    expected["sharded"] = {k: expected_entry(v) for s in shards for k, v in s.items()}

    # A directory of safetensors files without an index.
    multi = os.path.join(out, "multi")
    os.makedirs(multi)
    save_file({"p": torch.randn(2, generator=g)}, os.path.join(multi, "a.safetensors"))
    save_file({"q": torch.arange(3, dtype=torch.int32)}, os.path.join(multi, "b.safetensors"))
    from safetensors.torch import load_file

    expected["multi"] = {k: expected_entry(v) for fn in ["a", "b"]
                         for k, v in load_file(os.path.join(multi, fn + ".safetensors")).items()}

    # The real Hugging Face writer: transformers save_pretrained of a tiny bf16 Qwen2, sharded.
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(4)
    cfg = Qwen2Config(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                      num_key_value_heads=1, tie_word_embeddings=False)
    qwen = Qwen2ForCausalLM(cfg).to(torch.bfloat16)
    qwen.save_pretrained(os.path.join(out, "hf_qwen2"), max_shard_size="8KB")
    assert os.path.exists(os.path.join(out, "hf_qwen2", "model.safetensors.index.json"))
    expected["hf_qwen2"] = {k: expected_entry(v) for k, v in qwen.state_dict().items()}
    # The same model as pytorch_model-*.bin shards with pytorch_model.bin.index.json (older Hugging Face repos).
    qwen.save_pretrained(os.path.join(out, "hf_qwen2_bin"), max_shard_size="8KB", safe_serialization=False)
    assert os.path.exists(os.path.join(out, "hf_qwen2_bin", "pytorch_model.bin.index.json"))
    # (the tests compare it against expected["hf_qwen2"])

    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump({"torch": torch.__version__, "expected": expected}, f, indent=1, sort_keys=True)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    print(f"wrote {out} ({total} bytes)")


if __name__ == "__main__":
    main()
