"""The CLI as users meet it: config errors name the key, `query` prints the Result as JSON."""
import json
import subprocess

from conftest import REPO, node_binary


def run_node(*args, timeout=20):
    return subprocess.run([node_binary(), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def test_config_errors_name_the_key():
    for override, key in [("camera.devise=/dev/video1", "camera.devise"), ("recording.enabled=yes", "recording.enabled"),
                          ("limits.queue_depth=abc", "limits.queue_depth"),
                          ("camera.loop=maybe", "camera.loop")]:
        r = run_node("run", "--config", "config/perception.yaml", "--set", override)
        assert r.returncode != 0
        assert f"'{key}'" in r.stderr, r.stderr


def test_unusable_camera_or_recording_settings_are_clear_errors():
    r = run_node("run", "--config", "config/perception.yaml", "--set", "recording.enabled=true")
    assert r.returncode != 0
    assert "recording.path" in r.stderr, r.stderr
    for source in ("bag", "mcap"):
        r = run_node("run", "--config", "config/perception.yaml", "--set", f"camera.source={source}",
                     "--set", "camera.path=/nonexistent/log.file")
        assert r.returncode != 0
        assert "/nonexistent/log.file" in r.stderr, r.stderr


def test_query_command_prints_result_json(start_node):
    node = start_node()
    r = run_node("query", "--connect", node.service_ep, "--text", "the mug", "--request-id", "cli-1", "--timeout", "10")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["request_id"] == "cli-1" and result["schema"] == "perception/Result"
    r = run_node("query", "--connect", node.service_ep, "--box", "1,2,30,40", "--point", "5,6,0", "--mask", "none")
    assert r.returncode == 0 and json.loads(r.stdout)["status"] in ("ok", "no_target", "error")


def test_query_command_times_out_without_node():
    r = run_node("query", "--connect", "tcp://127.0.0.1:9", "--text", "x", "--timeout", "0.5")
    assert r.returncode == 1 and "no Result" in r.stderr


def test_planner_example_runs(start_node):
    """tools/planner_example.py (the example in docs/messages.md) against a live node."""
    import sys
    node = start_node()
    r = subprocess.run([sys.executable, str(REPO / "tools/planner_example.py"), "--service", node.service_ep,
                        "--publish", node.publish_ep, "--timeout", "10"], capture_output=True, text=True, timeout=30)
    assert r.returncode in (0, 2), r.stdout + r.stderr
    assert "node perception_node: running" in r.stdout, r.stdout
    assert "request " in r.stdout and "timing_ms" in r.stdout


def test_bench_gemm_reports_each_shape_and_rejects_bad_input():
    r = run_node("bench", "gemm", "--shape", "200x33x17", "--shape", "64x384x40", "--runs", "1", "--activation", "gelu",
                 "--threads", "1", timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert "sgemm probe" in lines[0]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"200x33x17", "64x384x40"}, r.stdout
    assert all("GFLOP/s" in line and "% of sgemm" in line for line in rows.values())
    for bad in (["--shape", "12x34"], ["--shape", "0x4x4"], ["--runs", "0"], ["--activation", "swish"]):
        r = run_node("bench", "gemm", *bad)
        assert r.returncode != 0 and "Error" in r.stderr and "sgemm probe" not in r.stdout, (bad, r.stdout, r.stderr)
