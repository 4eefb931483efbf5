"""The node runs on a replayed camera log (camera.source=mcap / bag): answers carry the log's header stamps
and frame ids, and a query can name a logged frame by its stamp. Logs come from independent writers
(tools/make_test_logs.py: mcap-ros2-support, rosbags)."""
import subprocess
import sys

import pytest

from conftest import REPO, Node, check_result, new_id, query


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    out = tmp_path_factory.mktemp("logs")
    subprocess.run([sys.executable, str(REPO / "tools/make_test_logs.py"), str(out)], check=True, timeout=300)
    return out


@pytest.mark.parametrize("name,source,topic", [("ros2_zstd", "mcap", "/cam/bgr8"), ("ros1_lz4", "bag", "/cam/rgba8")])
def test_node_replays_a_log(tmp_path, logs, name, source, topic):
    import json
    entry = json.loads((logs / "manifest.json").read_text())[name]
    frames = entry["topics"][topic]
    node = Node(tmp_path, sets=[f"camera.source={source}", f"camera.path={entry['path']}", "camera.loop=true",
                                "camera.rate_scale=0.2", f"camera.topic={topic}"])
    try:
        node.wait_ready()
        dealer = node.dealer()
        r = check_result(node.request(query(new_id("log")), dealer=dealer, timeout=20))
        assert r["error"]["code"] == "model_unavailable"  # no model configured; the frame is still reported
        stamps = {f["stamp_ns"] for f in frames}
        assert r["header"]["stamp_ns"] in stamps
        assert r["header"]["frame_id"] in {f["frame_id"] for f in frames}
        # The first logged frame, named by its stamp.
        first = min(frames, key=lambda f: f["stamp_ns"])
        r2 = check_result(node.request(query(new_id("stamp"), frame={"stamp_ns": first["stamp_ns"]}), dealer=dealer, timeout=20))
        assert r2["error"]["code"] in ("model_unavailable", "no_frame"), r2
        if r2["error"]["code"] == "model_unavailable":
            assert r2["header"]["stamp_ns"] == first["stamp_ns"]
    finally:
        node.close()
