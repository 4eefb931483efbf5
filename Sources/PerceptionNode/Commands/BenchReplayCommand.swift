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
    @Option(help: "Directory for the generated logs (default: a temporary directory).") var dir: String?
    @Option(help: "JPEG quality of the jpeg log.") var quality = 85

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
            let s = w.addSchema(name: type, encoding: "ros2msg", data: [])
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
        print("MCAP replay, \(width)x\(height), \(frames) frames per log, \(compression) chunks of 4 frames, median of \(passes) passes, one thread")
        print("log    file MB   median ms/frame   frames/s   MB/s (file)")
        for (name, path, size) in logs {
            var perFrame: [Double] = []
            for _ in 0..<(passes + 1) {
                let source = try LogReplaySource(path: path, options: .init(rate: nil))
                let start = DispatchTime.now().uptimeNanoseconds
                var n = 0
                while try source.nextFrame() != nil { n += 1 }
                let dt = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                guard n == frames else {
                    throw ValidationError("replayed \(n) of \(frames) frames: \(source.lastError ?? "")")
                }
                perFrame.append(dt / Double(n))
            }
            let timed = Array(perFrame.dropFirst()).sorted()
            let med = timed[timed.count / 2]
            print(String(format: "%-5@ %9.1f %17.2f %10.1f %13.1f", name as NSString, Double(size) / 1e6, med * 1e3, 1 / med,
                         Double(size) / Double(frames) / med / 1e6))
        }
    }
}
