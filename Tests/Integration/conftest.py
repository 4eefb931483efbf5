"""Shared harness: starts the real `perception-node` binary and talks to it with pyzmq + msgpack.

The binary is PERCEPTION_NODE_BIN, else .build/release/perception-node (scripts/test.sh builds it).
Every node gets its own loopback ports, so tests do not depend on each other.
"""
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import msgpack
import pytest
import zmq

REPO = Path(__file__).resolve().parents[2]
RESULT_TOPIC = b"perception/result"
STATUS_TOPIC = b"perception/status"
QUERY_TOPIC = b"perception/query"
ERROR_CODES = {"bad_request", "unsupported_version", "no_frame", "model_unavailable", "overloaded",
               "deadline_exceeded", "answer_unparseable", "internal"}


def node_binary():
    path = os.environ.get("PERCEPTION_NODE_BIN") or str(REPO / ".build/release/perception-node")
    if not os.path.exists(path):
        pytest.fail(f"perception-node binary not found at {path}: run scripts/test.sh or set PERCEPTION_NODE_BIN")
    return path


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def new_id(prefix="q"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def query(request_id, text="the cup", **extra):
    q = {"schema": "perception/Query", "v": 1, "request_id": request_id, "text": text}
    q.update(extra)
    return msgpack.packb(q, use_bin_type=True)


def unpack(payload):
    return msgpack.unpackb(payload, raw=False, strict_map_key=False)


def check_result(r):
    """Asserts the Result schema (DESIGN §3) and returns r."""
    assert r["schema"] == "perception/Result" and r["v"] == 1, r
    assert isinstance(r["request_id"], str)
    assert r["status"] in ("ok", "no_target", "error"), r
    if r["status"] == "error":
        assert r["error"]["code"] in ERROR_CODES, r
        assert isinstance(r["error"]["message"], str) and r["error"]["message"], r
    else:
        assert "error" not in r, r
    assert isinstance(r["objects"], list)
    for o in r["objects"]:
        assert len(o["bbox"]) == 4 and all(isinstance(x, (int, float)) for x in o["bbox"])
        assert all(len(p) == 2 for p in o["points"])
        assert isinstance(o["score"], float) and isinstance(o["area"], int)
        if "mask" in o:
            check_mask(o["mask"], r["image"], o["area"])
    if "header" in r:
        assert isinstance(r["header"]["stamp_ns"], int) and isinstance(r["header"]["seq"], int)
        assert isinstance(r["header"]["frame_id"], str)
        assert r["image"]["width"] > 0 and r["image"]["height"] > 0
    for k in ("queue", "preprocess", "vision", "prefill", "decode", "segment", "total"):
        assert isinstance(r["timing_ms"][k], float) and r["timing_ms"][k] >= 0, r["timing_ms"]
    return r


def check_mask(mask, image, area):
    from pycocotools import mask as cocomask
    import numpy as np
    if mask["encoding"] == "coco_rle":
        assert mask["size"] == [image["height"], image["width"]]
        decoded = cocomask.decode({"size": mask["size"], "counts": mask["counts"].encode()})
        assert int(decoded.sum()) == area
    else:
        assert mask["encoding"] == "png" and mask["data"][:8] == b"\x89PNG\r\n\x1a\n"


class Node:
    """A running `perception-node run` with its own ports; `sets` are extra --set overrides."""

    def __init__(self, tmp_path, sets=(), config="config/perception.yaml"):
        self.ports = free_ports(3)
        self.query_ep, self.publish_ep, self.service_ep = (f"tcp://127.0.0.1:{p}" for p in self.ports)
        self.log_path = Path(tmp_path) / f"node-{self.ports[0]}.log"
        args = [node_binary(), "run", "--config", str(REPO / config),
                "--set", f"bus.query={self.query_ep}", "--set", f"bus.publish={self.publish_ep}",
                "--set", f"bus.service={self.service_ep}", "--set", f"camera.path={REPO / 'assets/sample'}"]
        for s in sets:
            args += ["--set", s]
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT)
        self.ctx = zmq.Context()
        self._sockets = []

    def socket(self, kind):
        s = self.ctx.socket(kind)
        s.setsockopt(zmq.LINGER, 0)
        self._sockets.append(s)
        return s

    def status_sub(self):
        s = self.socket(zmq.SUB)
        s.setsockopt(zmq.SUBSCRIBE, STATUS_TOPIC)
        s.connect(self.publish_ep)
        return s

    def next_status(self, sub, timeout=3.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if sub.poll(int(max(1, (deadline - time.time()) * 1000))):
                topic, payload = sub.recv_multipart()
                if topic == STATUS_TOPIC:
                    return unpack(payload)
        raise AssertionError("no Status within %.1f s; log:\n%s" % (timeout, self.read_log()))

    def wait_ready(self, timeout=15.0):
        sub = self.status_sub()
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, f"node exited {self.proc.returncode}:\n{self.read_log()}"
            if sub.poll(200):
                sub.recv_multipart()
                # A frame must exist before queries can be answered about it.
                st = self.next_status(sub)
                if st["camera"]["frames_captured"] > 0:
                    sub.close()
                    return self
        raise AssertionError("node not ready:\n" + self.read_log())

    def dealer(self):
        d = self.socket(zmq.DEALER)
        d.connect(self.service_ep)
        return d

    def request(self, payload, dealer=None, timeout=5.0):
        """Sends one service request; returns the decoded reply (or None on timeout)."""
        d = dealer or self.dealer()
        d.send(payload)
        if not d.poll(int(timeout * 1000)):
            return None
        return unpack(d.recv_multipart()[-1])

    def topics(self):
        """PUB to the query endpoint and SUB on results, synchronised by probe queries."""
        pub = self.socket(zmq.PUB)
        # A PUB drops what exceeds its HWM (default 1000 messages): bursts in the tests must not hit it.
        pub.setsockopt(zmq.SNDHWM, 100_000)
        pub.connect(self.query_ep)
        sub = self.socket(zmq.SUB)
        sub.setsockopt(zmq.RCVHWM, 100_000)
        sub.setsockopt(zmq.SUBSCRIBE, RESULT_TOPIC)
        sub.connect(self.publish_ep)
        deadline = time.time() + 10
        while time.time() < deadline:
            probe = new_id("sync")
            pub.send_multipart([QUERY_TOPIC, query(probe)])
            if sub.poll(100):
                while sub.poll(300):
                    sub.recv_multipart()
                return pub, sub
        raise AssertionError("query topic never connected")

    def read_log(self):
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def terminate(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("node did not exit after signal:\n" + self.read_log())

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for s in self._sockets:
            s.close(0)
        self.ctx.term()
        self.log.close()


@pytest.fixture
def start_node(tmp_path):
    nodes = []

    def start(sets=(), config="config/perception.yaml", ready=True):
        n = Node(tmp_path, sets, config)
        nodes.append(n)
        return n.wait_ready() if ready else n

    yield start
    for n in nodes:
        n.close()


def collect_results(sub, ids, timeout):
    """Reads Results from a SUB until every id in `ids` is seen or timeout; returns {id: [results]}."""
    got = {}
    deadline = time.time() + timeout
    pending = set(ids)
    while pending and time.time() < deadline:
        if sub.poll(100):
            topic, payload = sub.recv_multipart()
            if topic != RESULT_TOPIC:
                continue
            r = unpack(payload)
            got.setdefault(r["request_id"], []).append(r)
            pending.discard(r["request_id"])
    return got
