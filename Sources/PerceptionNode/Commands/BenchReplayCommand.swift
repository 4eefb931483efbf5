import ArgumentParser
import Camera
import Foundation
import Imaging

/// `bench replay`: frames per second of MCAP replay (read, decompress, CDR decode, convert or JPEG-decode to RGB)
/// through `LogReplaySource` as fast as frames are taken, for ROS 2 `Image` rgb8 and `CompressedImage` jpeg.
struct BenchReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay", abstract: "MCAP log replay throughput (frames/s) for rgb8 and jpeg image topics.")

    @Option(help: "Frame width.") var width = 1280
    @Option(help: "Frame height.") var height = 720
    @Option(help: "Frames in the generated log.") var frames = 60
    @Option(help: "Timed replay passes (the median is reported).") var passes = 5
    @Option(help: "Chunk compression of the generated log: zstd, lz4 or none.") var compression = "zstd"
    @Option(help: "Keep the generated logs in this directory (default: a temporary directory, removed).") var dir: String?
    @Option(help: "JPEG quality of the jpeg log.") var quality = 85
    @Flag(help: "Also print the results as one JSON line.") var json = false

    static let tail = String(repeating: "=", count: 80) + "\nMSG: std_msgs/Header\nbuiltin_interfaces/Time stamp\nstring frame_id\n"
        + String(repeating: "=", count: 80) + "\nMSG: builtin_interfaces/Time\nint32 sec\nuint32 nanosec\n"
    static let imageDef =
        "std_msgs/Header header\nuint32 height\nuint32 width\nstring encoding\nuint8 is_bigendian\nuint32 step\nuint8[] data\n" + tail
    static let compressedDef = "std_msgs/Header header\nstring format\nuint8[] data\n" + tail

    static func cdrImage(_ img: RGBImage, stampNs: Int64) -> [UInt8] {
        var b: [UInt8] = [0, 1, 0, 0]
        func align(_ n: Int) { while (b.count - 4) % n != 0 { b.append(0) } }
        func u32(_ v: UInt32) { align(4); for i in 0..<4 { b.append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) } }
        func str(_ s: String) { u32(UInt32(s.utf8.count + 1)); b += Array(s.utf8); b.append(0) }
        u32(UInt32(truncatingIfNeeded: stampNs / 1_000_000_000))
        u32(UInt32(stampNs % 1_000_000_000))
        str("camera_optical")
        u32(UInt32(img.height))
        u32(UInt32(img.width))
        str("rgb8")
        b.append(0)
        u32(UInt32(img.width * 3))
        u32(UInt32(img.pixels.count))
        b += img.pixels
        return b
    }

    static func cdrCompressed(_ jpeg: [UInt8], stampNs: Int64) -> [UInt8] {
        var b: [UInt8] = [0, 1, 0, 0]
        func align(_ n: Int) { while (b.count - 4) % n != 0 { b.append(0) } }
        func u32(_ v: UInt32) { align(4); for i in 0..<4 { b.append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) } }
        func str(_ s: String) { u32(UInt32(s.utf8.count + 1)); b += Array(s.utf8); b.append(0) }
        u32(UInt32(truncatingIfNeeded: stampNs / 1_000_000_000))
        u32(UInt32(stampNs % 1_000_000_000))
        str("camera_optical")
        str("jpeg")
        u32(UInt32(jpeg.count))
        b += jpeg
        return b
    }

    static func now(_ clock: clockid_t) -> Double {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.isEmpty ? .nan : s[s.count / 2]
    }

    func run() throws {
        let kind: ChunkCompression
        switch compression {
        case "zstd": kind = .zstd
        case "lz4": kind = .lz4
        case "none": kind = .none
        default: throw ValidationError("--compression must be zstd, lz4 or none")
        }
        let base = dir ?? (NSTemporaryDirectory() as NSString).appendingPathComponent("bench-replay-\(getpid())")
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { if dir == nil { try? FileManager.default.removeItem(atPath: base) } }

        // A smooth scene with texture, so JPEG and zstd see camera-like content.
        var px = [UInt8](repeating: 0, count: width * height * 3)
        var rng: UInt32 = 12345
        for y in 0..<height {
            for x in 0..<width {
                rng = rng &* 1_664_525 &+ 1_013_904_223
                let noise = Int(rng >> 28)
                let i = 3 * (y * width + x)
                px[i] = UInt8(clamping: (x * 255) / Swift.max(1, width) + noise)
                px[i + 1] = UInt8(clamping: (y * 255) / Swift.max(1, height) + noise)
                px[i + 2] = UInt8(clamping: ((x / 40 + y / 40) % 2) * 180 + noise)
            }
        }
        let image = try RGBImage(width: width, height: height, pixels: px)
        let jpeg = try ImageCodec.encodeJPEG(image, quality: quality)
        let t0: Int64 = 1_700_000_000_000_000_000
        var logs: [(String, String, Int)] = []
        for (name, type) in [("rgb8", "sensor_msgs/msg/Image"), ("jpeg", "sensor_msgs/msg/CompressedImage")] {
            let path = (base as NSString).appendingPathComponent("\(name).mcap")
            let w = try MCAPWriter(path: path, compression: kind, chunkMessages: 4, chunkInterval: 1e9)
            let s = w.addSchema(name: type, encoding: "ros2msg", data: Array((name == "rgb8" ? Self.imageDef : Self.compressedDef).utf8))
            let c = w.addChannel(topic: "/camera/\(name)", schemaId: s, messageEncoding: "cdr")
            for i in 0..<frames {
                let stamp = t0 + Int64(i) * 33_333_333
                let msg = name == "rgb8" ? Self.cdrImage(image, stampNs: stamp) : Self.cdrCompressed(jpeg, stampNs: stamp)
                try w.write(channel: c, logTimeNs: UInt64(stamp), data: msg)
            }
            try w.close()
            let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            logs.append((name, path, size))
        }
        let copy = ConversionBenchmark.copyBandwidth(timing: .threadCPU)
        print("MCAP replay through LogReplaySource (as fast as frames are taken), \(width)x\(height), \(frames) frames per log, "
              + "\(compression) chunks of 4 frames, \(passes) timed passes after one warm-up (time per pass / frames), one thread")
        print(String(format: "memcpy %.1f GB/s (read+write, thread CPU time)", copy / 1e9))
        print("log    file MB  wall ms/frame  frames/s (wall)  cpu ms/frame  frames/s (cpu)  baseline cpu ms  of copy limit")
        var rows: [[String: Any]] = []
        for (name, path, size) in logs {
            var wall: [Double] = []
            var cpu: [Double] = []
            for pass in 0..<(passes + 1) {
                let source = try LogReplaySource(path: path, options: .init(rate: nil))
                var n = 0
                let (w0, c0) = (Self.now(CLOCK_MONOTONIC), Self.now(CLOCK_THREAD_CPUTIME_ID))
                while try source.nextFrame() != nil { n += 1 }
                // Per pass: chunks are decompressed on the first frame of each, so per-frame medians would hide it.
                if pass > 0 && n > 0 {
                    wall.append((Self.now(CLOCK_MONOTONIC) - w0) / Double(n))
                    cpu.append((Self.now(CLOCK_THREAD_CPUTIME_ID) - c0) / Double(n))
                }
                guard n == frames else {
                    throw ValidationError("replayed \(n) of \(frames) frames: \(source.lastError ?? "")")
                }
            }
            // Baseline in the same run: the decode step alone (rgb8: the stride copy; jpeg: libjpeg-turbo decode).
            var base: [Double] = []
            let padded = image.pixels
            for _ in 0..<(3 * passes) {
                let c0 = Self.now(CLOCK_THREAD_CPUTIME_ID)
                if name == "rgb8" {
                    _ = try PixelConversion.rgb24ToRGB(padded, width: width, height: height)
                } else {
                    _ = try ImageCodec.decodeJPEG(jpeg)
                }
                base.append(Self.now(CLOCK_THREAD_CPUTIME_ID) - c0)
            }
            let mw = Self.median(wall), mc = Self.median(cpu), mb = Self.median(base)
            let perFrameFile = Double(size) / Double(frames)
            // Bytes a replay must at least move per frame: the stored message in, the RGB frame out.
            let limitFraction = (perFrameFile + Double(width * height * 3)) / copy / mc
            print(String(format: "%@ %9.2f %14.2f %16.1f %13.2f %15.1f %16.2f %13.1f%%", name.padding(toLength: 5, withPad: " ", startingAt: 0),
                         Double(size) / 1e6, mw * 1e3, 1 / mw, mc * 1e3, 1 / mc, mb * 1e3, 100 * limitFraction))
            rows.append(["log": name, "wall_ms": mw * 1e3, "cpu_ms": mc * 1e3, "baseline_cpu_ms": mb * 1e3,
                         "fps_wall": 1 / mw, "fps_cpu": 1 / mc, "file_bytes": size, "of_copy_limit": limitFraction])
        }
        if json, let d = try? JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys]) {
            print(String(decoding: d, as: UTF8.self))
        }
        if dir != nil { print("logs kept in \(base) (python3 tools/bench_replay_ref.py \(base) runs the Python reference)") }
    }
}
