"""The node records what it sees and says (run --record / recording.enabled) to MCAP; the independent Python
`mcap` reader finds frames, queries, results and annotations; and the recording replays into the node again."""
import json
import shutil
import signal

import msgpack
from mcap.reader import make_reader

from conftest import REPO, Node, check_result, new_id

FIXTURE = REPO / "Tests/Fixtures/sam2/sam2-mini"


def test_record_then_replay_round_trip(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    shutil.copy(FIXTURE / "image.png", frames / "frame.png")
    recording = tmp_path / "session.mcap"
    box = json.loads((FIXTURE / "meta.json").read_text())["cases"][0]["box"]
    node = Node(tmp_path, sets=[f"camera.path={frames}", "camera.rate=4", f"model.segmenter={FIXTURE / 'model.pt'}",
                                f"model.segmenter_arch={FIXTURE / 'meta.json'}", "recording.enabled=true",
                                f"recording.path={recording}"])
    try:
        node.wait_ready()
        q = {"schema": "perception/Query", "v": 1, "request_id": new_id("rec"), "prompt": {"boxes": [box]}}
        r = check_result(node.request(msgpack.packb(q, use_bin_type=True), timeout=60))
        assert r["status"] == "ok" and len(r["objects"]) == 1
        assert node.terminate(signal.SIGTERM) == 0
    finally:
        node.close()

    with open(recording, "rb") as f:
        reader = make_reader(f)
        summary = reader.get_summary()
        schemas = {s.name for s in summary.schemas.values()}
        assert {"foxglove.CompressedImage", "foxglove.ImageAnnotations"} <= schemas, schemas
        by_topic = {}
        for schema, channel, message in reader.iter_messages():
            by_topic.setdefault(channel.topic, []).append((schema, message))
    images = by_topic["/camera/image/compressed"]
    assert len(images) >= 2
    image = json.loads(images[0][1].data)
    assert image["format"] == "jpeg" and image["frame_id"]
    results = [json.loads(m.data) for _, m in by_topic["/perception/result"]]
    ours = [x for x in results if x["request_id"] == q["request_id"]]
    assert len(ours) == 1 and ours[0]["status"] == "ok"
    assert any(json.loads(m.data)["request_id"] == q["request_id"] for _, m in by_topic["/perception/query"])
    annotations = [json.loads(m.data) for _, m in by_topic["/perception/annotations"]]
    assert any(a["points"] for a in annotations), "mask outline expected as a points annotation"
    stamps = {m.log_time for _, m in images}

    replay = Node(tmp_path, sets=["camera.source=mcap", f"camera.path={recording}", "camera.topic=/camera/image/compressed",
                                  "camera.loop=true", "camera.rate_scale=0.5"])
    try:
        replay.wait_ready()
        q2 = {"schema": "perception/Query", "v": 1, "request_id": new_id("replay"), "text": "anything"}
        r2 = check_result(replay.request(msgpack.packb(q2, use_bin_type=True), timeout=30))
        assert r2["error"]["code"] == "model_unavailable"
        assert r2["header"]["stamp_ns"] in stamps
        assert (r2["image"]["width"], r2["image"]["height"]) == (1100, 330)
    finally:
        replay.close()
