"""Python reference for `perception-node bench replay`: the same MCAP logs read with mcap 1.6.0 +
mcap-ros2-support 0.6.0 (CDR decode) and converted to an RGB numpy array (rgb8: reshape + copy of the rows;
jpeg: Pillow decode), one thread; per pass wall and thread CPU time divided by the frames, median over passes.

    perception-node bench replay --dir /tmp/replay-bench && python3 tools/bench_replay_ref.py /tmp/replay-bench
"""
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from PIL import Image


def frames(path):
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        yield from reader.iter_decoded_messages()


def to_rgb(msg):
    if hasattr(msg, "encoding"):
        rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)
        return np.ascontiguousarray(rows[:, : msg.width * 3].reshape(msg.height, msg.width, 3))
    return np.asarray(Image.open(io.BytesIO(bytes(msg.data))).convert("RGB"))


def main(d, passes=5):
    print("log    wall ms/frame  frames/s (wall)  cpu ms/frame  frames/s (cpu)")
    for name in ("rgb8", "jpeg"):
        wall, cpu = [], []
        for p in range(passes + 1):
            w0, c0 = time.perf_counter(), time.thread_time()
            n = 0
            for _, _, _, msg in frames(Path(d) / f"{name}.mcap"):
                to_rgb(msg)
                n += 1
            if p > 0:
                wall.append((time.perf_counter() - w0) / n)
                cpu.append((time.thread_time() - c0) / n)
        mw, mc = statistics.median(wall), statistics.median(cpu)
        print(f"{name:5} {mw * 1e3:14.2f} {1 / mw:16.1f} {mc * 1e3:13.2f} {1 / mc:15.1f}")


if __name__ == "__main__":
    main(sys.argv[1])
