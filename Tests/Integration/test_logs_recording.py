"""Recordings made by the node's Recorder (`perception-node logs record`) checked by an independent reader (the
Python `mcap` package): schemas, channels and messages as Foxglove expects; one cut off by kill -9 is readable up to
its last chunk; and a recording replays through LogReplaySource (round trip) with the JPEG pixels Pillow decodes."""
import base64
import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from mcap.exceptions import McapError
from mcap.reader import make_reader
from mcap.stream_reader import StreamReader
from mcap.records import Channel, Message, Schema
from PIL import Image

from conftest import node_binary

SCHEMAS = {"foxglove.CompressedImage", "foxglove.ImageAnnotations", "perception.Query", "perception.Result"}
TOPICS = {"/camera/image/compressed": "foxglove.CompressedImage", "/perception/query": "perception.Query",
          "/perception/result": "perception.Result", "/perception/annotations": "foxglove.ImageAnnotations"}


def record(out, *args):
    p = subprocess.run([node_binary(), "logs", "record", "--out", str(out), *args], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]


def stamp_ns(ts):
    return ts["sec"] * 10**9 + ts["nsec"]


@pytest.mark.parametrize("compression", ["zstd", "lz4", "none"])
def test_python_mcap_reads_recording(tmp_path, compression):
    out = tmp_path / "rec.mcap"
    record(out, "--frames", "20", "--compression", compression, "--chunk-messages", "7", "--result-every", "5")
    with open(out, "rb") as f:
        reader = make_reader(f, validate_crcs=True)
        summary = reader.get_summary()
        assert summary is not None and summary.statistics.message_count == 20 + 3 * 4
        assert {s.name for s in summary.schemas.values()} == SCHEMAS
        assert all(s.encoding == "jsonschema" and json.loads(s.data) for s in summary.schemas.values())
        chans = {c.topic: (summary.schemas[c.schema_id].name, c.message_encoding) for c in summary.channels.values()}
        assert chans == {t: (s, "json") for t, s in TOPICS.items()}
        assert len(summary.chunk_indexes) >= 4
        assert all(ci.compression == ("" if compression == "none" else compression) for ci in summary.chunk_indexes)
        by_topic = {}
        for schema, channel, message in reader.iter_messages(log_time_order=False):
            by_topic.setdefault(channel.topic, []).append((message, json.loads(message.data)))
    assert {t: len(v) for t, v in by_topic.items()} == {"/camera/image/compressed": 20, "/perception/query": 4,
                                                          "/perception/result": 4, "/perception/annotations": 4}
    frames = by_topic["/camera/image/compressed"]
    for m, j in frames:
        assert j["format"] == "jpeg" and j["frame_id"] == "camera_optical"
        assert stamp_ns(j["timestamp"]) == m.log_time
        img = Image.open(io.BytesIO(base64.b64decode(j["data"])))
        assert img.format == "JPEG" and img.size == (160, 120)
    frame_stamps = [m.log_time for m, _ in frames]
    for m, ann in by_topic["/perception/annotations"]:
        assert m.log_time in frame_stamps
        (loop,) = ann["points"]
        assert loop["type"] == 2 and stamp_ns(loop["timestamp"]) == m.log_time
        # the outline of the disc of radius 30 around (80, 60): every point on the boundary
        pts = np.array([[p["x"], p["y"]] for p in loop["points"]]) - 0.5
        r = np.hypot(pts[:, 0] - 80, pts[:, 1] - 60)
        assert len(pts) >= 8 and r.max() <= 30.01 and r.min() >= 28, (r.min(), r.max())
        (circle,) = ann["circles"]
        assert circle["position"] == {"x": 80.0, "y": 60.0} and circle["diameter"] > 0
    for m, q in by_topic["/perception/query"]:
        assert m.log_time in frame_stamps and q["request_id"].startswith("rec-")


def test_recording_round_trip(tmp_path):
    out = tmp_path / "rec.mcap"
    record(out, "--frames", "12", "--chunk-messages", "5")
    p = subprocess.run([node_binary(), "logs", "dump", str(out), "--out", str(tmp_path / "d")], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    assert summary["topic"] == "/camera/image/compressed" and summary["frames"] == 12 and summary["last_error"] is None
    frames = [json.loads(l) for l in (tmp_path / "d" / "frames.jsonl").read_text().splitlines()]
    with open(out, "rb") as f:
        written = [json.loads(m.data) for _, c, m in make_reader(f).iter_messages(topics=["/camera/image/compressed"])]
    for f, w in zip(frames, written):
        assert f["stamp_ns"] == stamp_ns(w["timestamp"]) and f["frame_id"] == w["frame_id"]
        want = np.asarray(Image.open(io.BytesIO(base64.b64decode(w["data"]))).convert("RGB"))
        got = np.asarray(Image.open(tmp_path / "d" / f["file"]).convert("RGB"))
        assert np.array_equal(got, want)


def stream_records(path):
    """Records the streaming reader gets through before the file ends, and whether it ended cleanly."""
    records, clean = [], True
    with open(path, "rb") as f:
        try:
            for r in StreamReader(f, validate_crcs=True).records:
                records.append(r)
        except (McapError, EOFError, ValueError, Exception):  # the cut-off tail of a killed recording
            clean = False
    return records, clean


def test_kill9_recording_readable_to_last_chunk(tmp_path):
    out = tmp_path / "killed.mcap"
    proc = subprocess.Popen([node_binary(), "logs", "record", "--out", str(out), "--frames", "0", "--fps", "60",
                             "--chunk-messages", "6", "--width", "96", "--height", "64"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 20
    while time.time() < deadline and (not out.exists() or out.stat().st_size < 40000):
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert out.stat().st_size >= 40000, "recording did not grow"
    records, _ = stream_records(out)
    schemas = {r.name for r in records if isinstance(r, Schema)}
    topics = {r.topic for r in records if isinstance(r, Channel)}
    msgs = [r for r in records if isinstance(r, Message)]
    assert schemas == SCHEMAS and set(TOPICS) == topics
    images = [m for m in msgs if m.channel_id == next(r.id for r in records if isinstance(r, Channel)
                                                      and r.topic == "/camera/image/compressed")]
    assert len(images) >= 6
    for m in images:
        json.loads(m.data)
    # our reader replays the same frames, and says the log has no summary
    p = subprocess.run([node_binary(), "logs", "dump", str(out), "--out", str(tmp_path / "d"), "--no-images"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    assert summary["frames"] == len(images), (summary, len(images))
    info = subprocess.run([node_binary(), "logs", "info", str(out)], capture_output=True, text=True, timeout=60)
    assert "no summary" in info.stdout
