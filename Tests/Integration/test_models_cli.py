"""`perception-node models`: every shipped profile parses, and weights resolve through a real Hugging Face
cache layout (as `huggingface-cli download` leaves it) or name the command that fetches them."""
import json
import os
import subprocess

from conftest import REPO, node_binary


def run_models(env_extra, *args):
    env = dict(os.environ, **env_extra)
    env.pop("HF_HUB_CACHE", None) if "HF_HUB_CACHE" not in env_extra else None
    out = subprocess.run([node_binary(), "models", "--json", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    return out.returncode, [json.loads(line) for line in out.stdout.splitlines() if line.strip()], out.stderr


def test_profiles_resolve_through_the_hf_cache(tmp_path):
    snapshot = tmp_path / "hub/models--facebook--sam2-hiera-tiny/snapshots/0123456789abcdef0123456789abcdef01234567"
    snapshot.mkdir(parents=True)
    (snapshot / "sam2_hiera_tiny.pt").write_bytes(b"not read by `models`")
    (tmp_path / "hub/models--facebook--sam2-hiera-tiny/refs").mkdir()
    (tmp_path / "hub/models--facebook--sam2-hiera-tiny/refs/main").write_text("0123456789abcdef0123456789abcdef01234567")

    code, rows, err = run_models({"HF_HOME": str(tmp_path)})
    assert code == 0, err
    profiles = {r["profile"]: r for r in rows}
    shipped = {p[:-5] for p in os.listdir(REPO / "config/models") if p.endswith(".yaml")}
    assert set(profiles) == shipped
    assert {"seg-zero-7b", "vision-reasoner-7b", "qwen2.5-vl-3b-instruct", "toy", "sam2-hiera-large", "sam2.1-hiera-tiny"} <= shipped
    tiny = profiles["sam2-hiera-tiny"]["models"][0]
    assert tiny["path"] == str(snapshot / "sam2_hiera_tiny.pt")
    seg_zero = {m["role"]: m for m in profiles["seg-zero-7b"]["models"]}
    assert seg_zero["reasoner"]["missing"].endswith("fetch it with: huggingface-cli download Ricky06662/Seg-Zero-7B")
    assert seg_zero["segmenter"]["missing"].endswith(
        "fetch it with: huggingface-cli download facebook/sam2-hiera-large sam2_hiera_large.pt")

    code, _, _ = run_models({"HF_HOME": str(tmp_path)}, "--check", "sam2-hiera-tiny")
    assert code == 0
    code, _, _ = run_models({"HF_HOME": str(tmp_path)}, "--check", "seg-zero-7b")
    assert code == 1


def test_unknown_profile_is_a_clear_error():
    out = subprocess.run([node_binary(), "models", "no-such-profile"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "model profile 'no-such-profile' not found" in out.stderr and "seg-zero-7b" in out.stderr
