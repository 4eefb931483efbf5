"""Writes camera test logs with independent writers, plus the frames each should replay as.

    python3 tools/make_test_logs.py OUT_DIR

Writers (pinned in Tests/Integration/requirements.txt): mcap 1.6.0 + mcap-ros2-support 0.6.0 (ROS 2 CDR in MCAP,
zstd / lz4 / uncompressed chunks, and an unchunked file), rosbags 0.11.9 (ROS 2 bag in MCAP storage, ROS 1 bag with
uncompressed and lz4 chunks). Every raw encoding the replay supports (rgb8, bgr8, rgba8, bgra8, mono8, mono16 little
and big endian, with row padding) and CompressedImage jpeg/png appear on their own topic. OUT_DIR/manifest.json lists,
per log and topic, the expected frames: stamp, frame_id and an .npy file of the RGB pixels the replay must produce
(JPEG/PNG: what Pillow decodes; mono16: the high byte).
"""
import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

TIME = "int32 sec\nuint32 nanosec\n"
HEADER = "builtin_interfaces/Time stamp\nstring frame_id\n"
SEP = "=" * 80 + "\n"
IMAGE_DEF = ("std_msgs/Header header\nuint32 height\nuint32 width\nstring encoding\nuint8 is_bigendian\nuint32 step\n"
             "uint8[] data\n" + SEP + "MSG: std_msgs/Header\n" + HEADER + SEP + "MSG: builtin_interfaces/Time\n" + TIME)
COMPRESSED_DEF = ("std_msgs/Header header\nstring format\nuint8[] data\n" + SEP + "MSG: std_msgs/Header\n" + HEADER
                  + SEP + "MSG: builtin_interfaces/Time\n" + TIME)
W, H = 37, 23
FRAMES = 3
T0 = 1_700_000_000 * 10**9


def scene(k, w=W, h=H):
    rng = np.random.default_rng(100 + k)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 7 + k * 11) % 256, (y * 11 + k * 5) % 256, (x * y + k) % 256], -1)
    return np.clip(base + rng.integers(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)


def raw_message(enc, k):
    """(fields for a sensor_msgs/Image except header, expected RGB)."""
    rgb = scene(k)
    pad = 5
    if enc in ("rgb8", "bgr8"):
        px = rgb if enc == "rgb8" else rgb[:, :, ::-1]
        ch = 3
    elif enc in ("rgba8", "bgra8"):
        alpha = np.full((H, W, 1), 77, np.uint8)
        px = np.concatenate([rgb if enc == "rgba8" else rgb[:, :, ::-1], alpha], -1)
        ch = 4
    elif enc == "mono8":
        px = rgb[:, :, 1:2]
        ch = 1
        rgb = np.repeat(px, 3, -1)
    elif enc in ("mono16", "mono16be"):
        v = (rgb[:, :, 0].astype(np.uint16) << 8) | rgb[:, :, 2]
        px = v.astype(">u2" if enc == "mono16be" else "<u2").view(np.uint8).reshape(H, W, 2)
        ch = 2
        rgb = np.repeat(rgb[:, :, 0:1], 3, -1)
    else:
        raise ValueError(enc)
    rows = np.zeros((H, W * ch + pad), np.uint8)
    rows[:, : W * ch] = px.reshape(H, W * ch)
    rows[:, W * ch:] = 0xAB
    fields = dict(height=H, width=W, encoding="mono16" if enc == "mono16be" else enc,
                  is_bigendian=1 if enc == "mono16be" else 0, step=W * ch + pad, data=rows.tobytes())
    return fields, rgb


def compressed_message(fmt, k):
    rgb = scene(k)
    buf = io.BytesIO()
    if fmt == "jpeg":
        Image.fromarray(rgb).save(buf, format="JPEG", quality=90)
    else:
        Image.fromarray(rgb).save(buf, format="PNG")
    data = buf.getvalue()
    expected = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return dict(format=f"rgb8; {fmt} compressed rgb8", data=data), expected


RAW = ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "mono16be"]
COMPRESSED = ["jpeg", "png"]


def messages():
    """(topic, type, frame_id, k, stamp_ns, fields, expected) in time order, all topics interleaved."""
    out = []
    topics = [(f"/cam/{e}", "Image", e) for e in RAW] + [(f"/cam/{f}/compressed", "CompressedImage", f) for f in COMPRESSED]
    for k in range(FRAMES):
        for ti, (topic, typ, enc) in enumerate(topics):
            stamp = T0 + k * 100_000_000 + ti * 1_000_000 + 123
            fields, expected = raw_message(enc, k) if typ == "Image" else compressed_message(enc, k)
            out.append((topic, typ, f"{enc}_optical", k, stamp, fields, expected))
    return out


def save_expected(out, name, msgs, manifest, fmt):
    entry = {"format": fmt, "topics": {}}
    for topic, typ, frame_id, k, stamp, fields, expected in msgs:
        f = out / f"{name}.{topic.strip('/').replace('/', '_')}.{k}.npy"
        np.save(f, expected)
        entry["topics"].setdefault(topic, []).append({"stamp_ns": stamp, "frame_id": frame_id, "npy": f.name})
    manifest[name] = entry


def write_mcap_ros2(path, compression, msgs):
    from mcap.writer import CompressionType
    from mcap_ros2.writer import Writer
    comp = {"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4, "none": CompressionType.NONE}[compression]
    with open(path, "wb") as f:
        w = Writer(f, chunk_size=4096, compression=comp)
        schemas = {"Image": w.register_msgdef("sensor_msgs/msg/Image", IMAGE_DEF),
                   "CompressedImage": w.register_msgdef("sensor_msgs/msg/CompressedImage", COMPRESSED_DEF)}
        for topic, typ, frame_id, k, stamp, fields, _ in msgs:
            msg = {"header": {"stamp": {"sec": stamp // 10**9, "nanosec": stamp % 10**9}, "frame_id": frame_id}, **fields}
            w.write_message(topic, schemas[typ], msg, log_time=stamp, publish_time=stamp, sequence=k)
        w.finish()


def write_mcap_unchunked(path, msgs):
    """Raw mcap writer without chunks; CDR bytes from rosbags."""
    from mcap.writer import Writer
    ts = typestore()
    with open(path, "wb") as f:
        w = Writer(f, use_chunking=False)
        w.start(profile="ros2", library="make_test_logs")
        ids = {}
        for typ, text in (("Image", IMAGE_DEF), ("CompressedImage", COMPRESSED_DEF)):
            ids[typ] = w.register_schema(name=f"sensor_msgs/msg/{typ}", encoding="ros2msg", data=text.encode())
        chans = {}
        for topic, typ, frame_id, k, stamp, fields, _ in msgs:
            if topic not in chans:
                chans[topic] = w.register_channel(topic=topic, message_encoding="cdr", schema_id=ids[typ])
            w.add_message(channel_id=chans[topic], log_time=stamp, publish_time=stamp, sequence=k,
                          data=bytes(ts.serialize_cdr(rosbags_msg(ts, typ, frame_id, stamp, fields), f"sensor_msgs/msg/{typ}")))
        w.finish()


def typestore(ros1=False):
    from rosbags.typesys import Stores, get_typestore
    return get_typestore(Stores.ROS1_NOETIC if ros1 else Stores.ROS2_HUMBLE)


def rosbags_msg(ts, typ, frame_id, stamp, fields):
    Time = ts.types["builtin_interfaces/msg/Time"]
    Header = ts.types["std_msgs/msg/Header"]
    extra = {"seq": 1000 + stamp % 97} if "seq" in Header.__dataclass_fields__ else {}
    header = Header(stamp=Time(sec=stamp // 10**9, nanosec=stamp % 10**9), frame_id=frame_id, **extra)
    data = np.frombuffer(fields["data"], np.uint8)
    if typ == "Image":
        return ts.types["sensor_msgs/msg/Image"](header=header, height=fields["height"], width=fields["width"],
                                                   encoding=fields["encoding"], is_bigendian=fields["is_bigendian"],
                                                   step=fields["step"], data=data)
    return ts.types["sensor_msgs/msg/CompressedImage"](header=header, format=fields["format"], data=data)


def write_rosbag2_mcap(path, msgs):
    from rosbags.rosbag2 import StoragePlugin, Writer
    ts = typestore()
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        conns = {}
        for topic, typ, frame_id, k, stamp, fields, _ in msgs:
            if topic not in conns:
                conns[topic] = w.add_connection(topic, f"sensor_msgs/msg/{typ}", typestore=ts)
            msg = rosbags_msg(ts, typ, frame_id, stamp, fields)
            w.write(conns[topic], stamp, ts.serialize_cdr(msg, f"sensor_msgs/msg/{typ}"))


def write_rosbag1(path, compression, msgs):
    from rosbags.rosbag1 import Writer
    ts = typestore(ros1=True)
    w = Writer(path)
    if compression == "lz4":
        w.set_compression(Writer.CompressionFormat.LZ4)
    w.chunk_threshold = 8192
    with w:
        conns = {}
        for topic, typ, frame_id, k, stamp, fields, _ in msgs:
            if topic not in conns:
                conns[topic] = w.add_connection(topic, f"sensor_msgs/msg/{typ}", typestore=ts)
            msg = rosbags_msg(ts, typ, frame_id, stamp, fields)
            w.write(conns[topic], stamp, ts.serialize_ros1(msg, f"sensor_msgs/msg/{typ}"))


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    msgs = messages()
    manifest = {}
    logs = {}
    for comp in ("zstd", "lz4", "none"):
        p = out / f"ros2_{comp}.mcap"
        write_mcap_ros2(p, comp, msgs)
        logs[f"ros2_{comp}"] = (p, "mcap")
    p = out / "ros2_unchunked.mcap"
    write_mcap_unchunked(p, msgs)
    logs["ros2_unchunked"] = (p, "mcap")
    bag2 = out / "rosbag2"
    write_rosbag2_mcap(bag2, msgs)
    logs["rosbag2"] = (next(bag2.glob("*.mcap")), "mcap")
    for comp in ("none", "lz4"):
        p = out / f"ros1_{comp}.bag"
        write_rosbag1(p, comp, msgs)
        logs[f"ros1_{comp}"] = (p, "ros1bag")
    for name, (path, fmt) in logs.items():
        save_expected(out, name, msgs, manifest, fmt)
        manifest[name]["path"] = str(path)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "test-logs")
