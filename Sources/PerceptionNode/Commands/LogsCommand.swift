import ArgumentParser
import Camera
import Foundation
import Imaging

/// `logs`: inspect camera logs (MCAP, ROS 1 bag), dump their frames, and make recordings with the node's recorder.
struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Camera logs: list topics, show info, dump frames to PNG, record.",
        subcommands: [LogsTopicsCommand.self, LogsInfoCommand.self, LogsDumpCommand.self, LogsRecordCommand.self])
}

private func jsonLine(_ obj: Any) -> String {
    guard let d = try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]) else { return "{}" }
    return String(decoding: d, as: UTF8.self)
}

/// `logs topics FILE`: one line per topic (name, type, encoding, message count).
struct LogsTopicsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "topics", abstract: "List the topics of a log.")
    @Argument(help: "MCAP file or ROS 1 bag.") var file: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let log = try CameraLogs.open(path: file)
        if json {
            let rows: [[String: Any]] = log.topics.map {
                ["name": $0.name, "type": $0.type, "encoding": $0.encoding, "messages": $0.messageCount ?? NSNull(),
                 "image": $0.isImage]
            }
            print(jsonLine(rows))
            return
        }
        for t in log.topics {
            print("\(t.name)\t\(t.type)\t\(t.encoding)\t\(t.messageCount.map(String.init) ?? "?")\(t.isImage ? "\timage" : "")")
        }
    }
}

/// `logs info FILE`: format, time range, index state, topics.
struct LogsInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Describe a log.")
    @Argument(help: "MCAP file or ROS 1 bag.") var file: String

    func run() throws {
        let log = try CameraLogs.open(path: file)
        print("file:     \(log.path)")
        print("format:   \(log.format)")
        print("index:    \(log.indexNote)")
        if let a = log.startTimeNs, let b = log.endTimeNs {
            print(String(format: "time:     %.9f .. %.9f (%.3f s)", Double(a) / 1e9, Double(b) / 1e9, Double(b &- a) / 1e9))
        }
        print("topics:")
        for t in log.topics {
            print("  \(t.name)  \(t.type) [\(t.encoding)]  \(t.messageCount.map { "\($0) msgs" } ?? "? msgs")\(t.isImage ? "  (image)" : "")")
        }
    }
}

/// `logs dump FILE --out DIR`: replays an image topic as fast as possible and writes each frame as PNG plus
/// `frames.jsonl` (seq, stamp_ns, frame_id, size); the last line of stdout is a JSON summary with the replay's state
/// and last error.
struct LogsDumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dump", abstract: "Write a log's frames as PNG files.")
    @Argument(help: "MCAP file or ROS 1 bag.") var file: String
    @Option(help: "Output directory (created).") var out: String
    @Option(help: "Image topic (default: the first image topic).") var topic: String?
    @Option(help: "Start this many seconds after the log's start.") var start: Double = 0
    @Option(help: "Stop after this many frames (0: all).") var max: Int = 0
    @Flag(help: "Write only frames.jsonl, no PNG files.") var noImages = false

    func run() throws {
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let source = try LogReplaySource(path: file, options: .init(topic: topic, rate: nil, loop: false, startOffset: start))
        var lines = ""
        var n = 0
        while let frame = try source.nextFrame() {
            let name = String(format: "%06d.png", n)
            if !noImages {
                let png = try ImageCodec.encodePNG(frame.image)
                try Data(png).write(to: URL(fileURLWithPath: (out as NSString).appendingPathComponent(name)))
            }
            lines += jsonLine([
                "seq": frame.seq, "stamp_ns": frame.stampNs, "frame_id": frame.frameId, "width": frame.image.width,
                "height": frame.image.height, "file": name,
            ]) + "\n"
            n += 1
            if max > 0 && n >= max { break }
        }
        try Data(lines.utf8).write(to: URL(fileURLWithPath: (out as NSString).appendingPathComponent("frames.jsonl")))
        let c = source.counters
        print(jsonLine([
            "topic": source.topic.name, "frames": n, "state": source.state.rawValue, "corrupt": c.framesCorrupt,
            "last_error": source.lastError ?? NSNull(),
        ]))
    }
}

/// `logs record --out FILE`: records frames through the node's `Recorder` (from a log, or synthetic), with a query,
/// a result and mask/point annotations every few frames. Used to test recordings and kill -9 behaviour.
struct LogsRecordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "record", abstract: "Record frames to MCAP with the node's recorder.")
    @Option(help: "Output MCAP file.") var out: String
    @Option(help: "Replay this log as the frame source (default: synthetic frames).") var from: String?
    @Option(help: "Synthetic frame width.") var width = 160
    @Option(help: "Synthetic frame height.") var height = 120
    @Option(help: "Frames to record (0: until killed).") var frames = 20
    @Option(help: "Chunk compression: zstd, lz4 or none.") var compression = "zstd"
    @Option(help: "Messages per chunk.") var chunkMessages = 8
    @Option(help: "Frames per second for synthetic frames (0: as fast as possible).") var fps: Double = 0
    @Option(help: "A query/result/annotation triple every N frames.") var resultEvery = 5

    func run() throws {
        let kind: ChunkCompression
        switch compression {
        case "zstd": kind = .zstd
        case "lz4": kind = .lz4
        case "none", "": kind = .none
        default: throw ValidationError("--compression must be zstd, lz4 or none")
        }
        let recorder = try Recorder(path: out, compression: kind, chunkMessages: chunkMessages)
        let source = try from.map { try LogReplaySource(path: $0, options: .init(rate: nil, loop: frames == 0)) }
        var n = 0
        let t0 = Int64(1_700_000_000) * 1_000_000_000
        while frames == 0 || n < frames {
            let frame: Frame
            if let source {
                guard let f = try source.nextFrame() else { break }
                frame = f
            } else {
                var px = [UInt8](repeating: 0, count: width * height * 3)
                for y in 0..<height {
                    for x in 0..<width {
                        let i = 3 * (y * width + x)
                        px[i] = UInt8(truncatingIfNeeded: x + n)
                        px[i + 1] = UInt8(truncatingIfNeeded: y * 2)
                        px[i + 2] = UInt8(truncatingIfNeeded: (x ^ y) + 3 * n)
                    }
                }
                frame = Frame(image: try RGBImage(width: width, height: height, pixels: px), stampNs: t0 + Int64(n) * 33_333_333, seq: UInt64(n), frameId: "camera_optical")
            }
            try recorder.record(frame: frame)
            if resultEvery > 0 && n % resultEvery == 0 {
                let w = frame.image.width, h = frame.image.height
                var mask = [UInt8](repeating: 0, count: w * h)
                let cx = w / 2, cy = h / 2, r = Swift.max(2, Swift.min(w, h) / 4)
                for y in 0..<h { for x in 0..<w where (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r { mask[y * w + x] = 1 } }
                try recorder.record(queryJSON: "{\"request_id\":\"rec-\(n)\",\"text\":\"the disc\"}", stampNs: frame.stampNs)
                try recorder.record(
                    resultJSON: "{\"request_id\":\"rec-\(n)\",\"status\":\"ok\"}", stampNs: frame.stampNs,
                    overlays: [.init(width: w, height: h, mask: mask, points: [(Double(cx), Double(cy))])])
            }
            n += 1
            if fps > 0 { Thread.sleep(forTimeInterval: 1 / fps) }
        }
        try recorder.close()
        print(jsonLine(["frames": n, "out": out]))
    }
}
