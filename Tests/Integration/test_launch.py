"""The launch supervisor with real child processes: launch/replay.yaml starts the node, a killed node is
respawned, SIGINT stops everything with exit 0; respawn limits and SIGKILL after sigterm_timeout."""
import os
import re
import signal
import subprocess
import textwrap
import time

import zmq

from conftest import REPO, STATUS_TOPIC, free_ports, new_id, node_binary, query, unpack

STARTED = re.compile(r"started perception_node \(pid (\d+)\)")


def wait_for(predicate, timeout, what, log_path=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}" + (f"; log:\n{log_path.read_text()}" if log_path else ""))


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie still answers kill(0)
        return f.read().split(") ")[1][0] != "Z"


def test_replay_launch_respawns_killed_node_and_stops_cleanly(tmp_path):
    q, p, s = free_ports(3)
    log_path = tmp_path / "launch.log"
    log = open(log_path, "wb")
    launcher = subprocess.Popen(
        [node_binary(), "launch", str(REPO / "launch/replay.yaml"), f"query:=tcp://127.0.0.1:{q}",
         f"publish:=tcp://127.0.0.1:{p}", f"service:=tcp://127.0.0.1:{s}", "rate:=10"],
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    ctx = zmq.Context()
    try:
        first = int(wait_for(lambda: STARTED.search(log_path.read_text()), 10, "node start", log_path).group(1))
        dealer = ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.connect(f"tcp://127.0.0.1:{s}")
        rid = new_id()
        dealer.send(query(rid))
        assert dealer.poll(10_000), log_path.read_text()
        assert unpack(dealer.recv_multipart()[-1])["request_id"] == rid

        os.kill(first, signal.SIGKILL)
        second = int(wait_for(lambda: [m for m in STARTED.findall(log_path.read_text()) if int(m) != first], 10,
                              "respawn", log_path)[0])
        assert "respawning in 1.0 s" in log_path.read_text()
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, STATUS_TOPIC)
        sub.connect(f"tcp://127.0.0.1:{p}")
        assert sub.poll(10_000), "no Status from the respawned node"
        status = unpack(sub.recv_multipart()[1])
        assert status["uptime_s"] < 5
        rid = new_id()
        dealer.send(query(rid))
        assert dealer.poll(10_000)
        assert unpack(dealer.recv_multipart()[-1])["request_id"] == rid

        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(timeout=20) == 0, log_path.read_text()
        assert not pid_alive(second)
        text = log_path.read_text()
        assert f"perception_node (pid {second}) exited with status 0" in text, text
    finally:
        if launcher.poll() is None:
            launcher.kill()
        ctx.destroy(0)
        log.close()


def run_launch(tmp_path, body, args=(), signal_after=None, timeout=20):
    path = tmp_path / "test.launch.yaml"
    path.write_text(textwrap.dedent(body))
    proc = subprocess.Popen([node_binary(), "launch", str(path), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    if signal_after is not None:
        time.sleep(signal_after)
        proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def test_respawn_stops_at_max_retries(tmp_path):
    code, out = run_launch(tmp_path, """
        launch:
          - arg: {name: status, default: "3"}
          - executable:
              name: flaky
              cmd: /bin/sh
              args: [-c, "echo run-$(env LAUNCH_TEST_TAG tagged); exit $(var status)"]
              respawn: true
              respawn_delay: 0.1
              respawn_max_retries: 2
        """)
    assert code == 1, out
    assert out.splitlines().count("run-tagged") == 3, out
    assert "respawn limit reached" in out


def test_sigkill_after_sigterm_timeout(tmp_path):
    t0 = time.time()
    code, out = run_launch(tmp_path, """
        launch:
          - executable:
              name: stubborn
              cmd: /bin/sh
              args: [-c, "trap '' TERM; exec sleep 60"]
              sigterm_timeout: 0.5
          - executable:
              name: polite
              cmd: sleep
              args: [60]
        """, signal_after=1.0)
    assert code == 0, out
    assert time.time() - t0 < 10
    assert "stubborn" in out and "SIGKILL" in out and "killed by signal 9" in out, out
    assert "polite" in out and "killed by signal 15" in out, out


def test_launch_argument_errors_name_the_argument(tmp_path):
    code, out = run_launch(tmp_path, """
        launch:
          - arg: {name: needed}
          - executable: {cmd: "true"}
        """)
    assert code != 0 and "needed" in out
    code, out = run_launch(tmp_path, """
        launch:
          - executable: {cmd: "true", args: ["$(var nope)"]}
        """)
    assert code != 0 and "nope" in out
    code, out = run_launch(tmp_path, """
        launch:
          - executable: {cmd: "true"}
        """, args=["undeclared:=1"])
    assert code != 0 and "undeclared" in out
