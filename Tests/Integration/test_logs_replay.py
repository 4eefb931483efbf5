"""Log replay against independent writers: logs written by mcap + mcap-ros2-support, a raw mcap writer and rosbags
(ROS 2 MCAP, ROS 1 bag) are replayed by `perception-node logs dump`; every frame must be pixel-identical to what was
written (JPEG/PNG: to what Pillow decodes), with the header stamp and frame_id kept. Truncated and corrupted copies
must replay a prefix, never crash, and name the file and byte offset where reading stopped."""
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, node_binary

sys.path.insert(0, str(REPO / "tools"))
import make_test_logs  # noqa: E402


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    out = tmp_path_factory.mktemp("logs")
    return out, make_test_logs.main(out)


def dump(path, out, topic=None, extra=(), images=True):
    cmd = [node_binary(), "logs", "dump", str(path), "--out", str(out)] + (["--topic", topic] if topic else [])
    cmd += list(extra) + ([] if images else ["--no-images"])
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode in (0, 1), f"crashed (rc {p.returncode}): {p.stderr[-2000:]}"
    if p.returncode != 0:
        return None, p.stderr
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    frames = [json.loads(l) for l in (Path(out) / "frames.jsonl").read_text().splitlines() if l]
    return summary, frames


LOGS = ["ros2_zstd", "ros2_lz4", "ros2_none", "ros2_unchunked", "rosbag2", "ros1_none", "ros1_lz4"]
TOPICS = [f"/cam/{e}" for e in make_test_logs.RAW] + [f"/cam/{f}/compressed" for f in make_test_logs.COMPRESSED]


@pytest.mark.parametrize("name", LOGS)
def test_every_encoding_pixel_identical(logs, tmp_path, name):
    out, manifest = logs
    entry = manifest[name]
    for topic in TOPICS:
        expected = entry["topics"][topic]
        summary, frames = dump(entry["path"], tmp_path / topic.strip("/").replace("/", "_"), topic)
        assert summary is not None, frames
        assert summary["state"] == "finished" and summary["last_error"] is None and summary["corrupt"] == 0, summary
        assert len(frames) == len(expected), (name, topic)
        for i, (f, e) in enumerate(zip(frames, expected)):
            assert f["seq"] == i
            assert f["stamp_ns"] == e["stamp_ns"] and f["frame_id"] == e["frame_id"], (name, topic, f, e)
            got = np.asarray(Image.open(tmp_path / topic.strip("/").replace("/", "_") / f["file"]).convert("RGB"))
            want = np.load(out / e["npy"])
            assert got.shape == want.shape
            diff = np.abs(got.astype(int) - want.astype(int))
            assert diff.max() == 0, f"{name} {topic} frame {i}: {int((diff > 0).sum())} values differ, max {diff.max()}"


def test_topics_listing_and_default_topic(logs, tmp_path):
    _, manifest = logs
    for name in LOGS:
        p = subprocess.run([node_binary(), "logs", "topics", "--json", manifest[name]["path"]],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        rows = json.loads(p.stdout)
        assert [r["name"] for r in rows] == TOPICS, name
        assert all(r["image"] and r["messages"] == 3 for r in rows), rows
    summary, frames = dump(manifest["ros2_zstd"]["path"], tmp_path / "default", images=False)
    assert summary["topic"] == "/cam/rgb8" and len(frames) == 3
    p = subprocess.run([node_binary(), "logs", "dump", manifest["ros2_zstd"]["path"], "--out", str(tmp_path / "x"),
                        "--topic", "/nope"], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "/nope" in p.stderr and "/cam/rgb8" in p.stderr


@pytest.mark.parametrize("name", ["ros2_zstd", "ros1_lz4"])
def test_start_offset_seeks(logs, tmp_path, name):
    _, manifest = logs
    expected = manifest[name]["topics"]["/cam/rgb8"]
    summary, frames = dump(manifest[name]["path"], tmp_path / "s", "/cam/rgb8", ["--start", "0.05"], images=False)
    assert [f["stamp_ns"] for f in frames] == [e["stamp_ns"] for e in expected[1:]]


def check_prefix(name, path, expected, summary, frames):
    """A damaged log replays a prefix of the frames (or, with an index, all but the damaged chunks) and says where
    it stopped when frames are missing."""
    stamps = [e["stamp_ns"] for e in expected]
    got = [f["stamp_ns"] for f in frames]
    assert all(s in stamps for s in got), (name, got)
    assert got == sorted(got)
    if len(got) < len(stamps):
        err = summary["last_error"]
        assert err and str(path) in err and "byte" in err, (name, summary)


@pytest.mark.parametrize("name", ["ros2_zstd", "ros2_lz4", "ros2_none", "ros2_unchunked", "ros1_none", "ros1_lz4"])
def test_truncated_logs_replay_a_prefix(logs, tmp_path, name):
    _, manifest = logs
    src = Path(manifest[name]["path"]).read_bytes()
    expected = manifest[name]["topics"]["/cam/rgb8"]
    cuts = sorted(set([0, 1, 7, 8, 9, 12, 13, 20, 100] + list(range(200, len(src), max(1, len(src) // 25))) + [len(src) - 1]))
    counts = []
    for cut in cuts:
        path = tmp_path / f"cut{cut}{Path(manifest[name]['path']).suffix}"
        path.write_bytes(src[:cut])
        summary, frames = dump(path, tmp_path / "o", "/cam/rgb8", images=False)
        if summary is None:  # refused at open: must say why, naming the file
            assert str(path) in frames or "magic" in frames or "truncated" in frames, frames
            continue
        check_prefix(name, path, expected, summary, frames)
        counts.append((cut, len(frames)))
        path.unlink()
    n = [c for _, c in counts]
    assert n == sorted(n), f"a longer prefix replayed fewer frames: {counts}"
    assert counts[-1] == (len(src) - 1, len(expected)), "cutting the last byte (footer / index) must keep every frame"
    assert cuts[0] not in [c for c, _ in counts], "an empty file must be refused"


@pytest.mark.parametrize("name", ["ros2_zstd", "ros2_lz4", "ros2_unchunked", "ros1_lz4", "ros1_none"])
def test_corrupted_logs_never_crash(logs, tmp_path, name):
    _, manifest = logs
    src = Path(manifest[name]["path"]).read_bytes()
    expected = manifest[name]["topics"]["/cam/rgb8"]
    rng = random.Random(hash(name) & 0xFFFF)
    for trial in range(25):
        data = bytearray(src)
        for _ in range(rng.choice([1, 4, 32])):
            pos = rng.randrange(8, len(data))
            data[pos] = rng.randrange(256) if rng.random() < 0.7 else 0xFF
        path = tmp_path / f"bad{trial}{Path(manifest[name]['path']).suffix}"
        path.write_bytes(bytes(data))
        summary, frames = dump(path, tmp_path / "o", "/cam/rgb8", images=False)
        if summary is not None:
            assert summary["state"] in ("finished", "failed")
            assert len(frames) <= len(expected)


def test_lying_lengths_do_not_allocate(logs, tmp_path):
    """A chunk whose uncompressed size and record lengths claim gigabytes is refused without allocating them."""
    _, manifest = logs
    src = bytearray(Path(manifest["ros2_none"]["path"]).read_bytes())
    # first record after magic+header: find the first chunk (opcode 0x06) and make its lengths huge
    pos = 8
    while src[pos] != 0x06:
        pos += 9 + int.from_bytes(src[pos + 1:pos + 9], "little")
    body = pos + 9
    src[body + 16:body + 24] = (1 << 40).to_bytes(8, "little")  # uncompressed_size
    path = tmp_path / "liar.mcap"
    path.write_bytes(bytes(src[:len(src) // 2]))  # no summary: linear scan hits the liar first
    p = subprocess.run(["prlimit", "--as=2000000000", node_binary(), "logs", "dump", str(path), "--out",
                        str(tmp_path / "o"), "--topic", "/cam/rgb8", "--no-images"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode in (0, 1), p.stderr[-2000:]
    if p.returncode == 0:
        s = json.loads(p.stdout.strip().splitlines()[-1])
        assert s["last_error"] and "liar.mcap" in s["last_error"] and "byte" in s["last_error"], s
