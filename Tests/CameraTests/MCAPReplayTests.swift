import Camera
import Foundation
import Imaging
import XCTest

/// MCAPWriter -> LogReplaySource in process: every chunk compression, raw encodings with row padding, start offset,
/// looping, recorded-rate pacing, close from another thread, and truncation/corruption at every offset.
final class MCAPReplayTests: XCTestCase {
    static let t0: UInt64 = 1_700_000_000_000_000_000

    /// A sensor_msgs/msg/Image in CDR (little endian), rows padded by `pad` bytes.
    static func cdrImage(width: Int, height: Int, encoding: String, bytesPerPixel: Int, pixel: (Int, Int, Int) -> UInt8,
                         pad: Int, stampNs: UInt64, bigEndian: Bool = false, frameId: String = "cam_optical") -> [UInt8] {
        var b: [UInt8] = [0, 1, 0, 0]
        func align(_ n: Int) { while (b.count - 4) % n != 0 { b.append(0) } }
        func u32(_ v: UInt32) { align(4); for i in 0..<4 { b.append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) } }
        func str(_ s: String) { u32(UInt32(s.utf8.count + 1)); b += Array(s.utf8); b.append(0) }
        u32(UInt32(stampNs / 1_000_000_000))
        u32(UInt32(stampNs % 1_000_000_000))
        str(frameId)
        u32(UInt32(height))
        u32(UInt32(width))
        str(encoding)
        b.append(bigEndian ? 1 : 0)
        let step = width * bytesPerPixel + pad
        u32(UInt32(step))
        u32(UInt32(step * height))
        for y in 0..<height {
            for x in 0..<width { for c in 0..<bytesPerPixel { b.append(pixel(x, y, c)) } }
            b += [UInt8](repeating: 0xEE, count: pad)
        }
        return b
    }

    func tempPath(_ name: String) -> String {
        let dir = NSTemporaryDirectory() + "mcap-tests-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir + "/" + name
    }

    /// 6 rgb8 frames 50 ms apart on /cam/rgb, a mono16 big-endian frame on /cam/depth interleaved.
    func writeLog(_ path: String, compression: ChunkCompression, chunkMessages: Int = 3) throws {
        let w = try MCAPWriter(path: path, compression: compression, chunkMessages: chunkMessages, chunkInterval: 1e9)
        let s = w.addSchema(name: "sensor_msgs/msg/Image", encoding: "ros2msg", data: Array("uint32 height".utf8))
        let rgb = w.addChannel(topic: "/cam/rgb", schemaId: s, messageEncoding: "cdr")
        let depth = w.addChannel(topic: "/cam/depth", schemaId: s, messageEncoding: "cdr")
        for i in 0..<6 {
            let t = Self.t0 + UInt64(i) * 50_000_000
            try w.write(channel: depth, logTimeNs: t, data: Self.cdrImage(
                width: 3, height: 2, encoding: "mono16", bytesPerPixel: 2, pixel: { x, _, c in c == 0 ? UInt8(10 * x + i) : 0xFF },
                pad: 2, stampNs: t, bigEndian: true))
            try w.write(channel: rgb, logTimeNs: t + 1, data: Self.cdrImage(
                width: 5, height: 4, encoding: "rgb8", bytesPerPixel: 3, pixel: { x, y, c in UInt8(x * 40 + y * 7 + c + i) },
                pad: 3, stampNs: t + 1))
        }
        try w.close()
    }

    func drain(_ s: LogReplaySource, max: Int = 1000) throws -> [Frame] {
        var out: [Frame] = []
        while out.count < max, let f = try s.nextFrame() { out.append(f) }
        return out
    }

    func testEveryCompressionReplaysPixelsAndStamps() throws {
        for c in ChunkCompression.allCases {
            let path = tempPath("log-\(c).mcap")
            try writeLog(path, compression: c)
            XCTAssertEqual(try LogReplaySource(path: path, options: .init(rate: nil)).topic.name, "/cam/rgb", "first image topic")
            let src = try LogReplaySource(path: path, options: .init(topic: "/cam/depth", rate: nil))
            let depth = try drain(src)
            XCTAssertEqual(depth.count, 6)
            XCTAssertEqual(depth[2].image.pixels[3 * 1], 12, "mono16 big endian keeps the high byte")
            XCTAssertEqual(src.state, .finished)
            XCTAssertNil(src.lastError)
            let rgb = try drain(LogReplaySource(path: path, options: .init(topic: "/cam/rgb", rate: nil)))
            XCTAssertEqual(rgb.map(\.seq), Array(0..<6))
            XCTAssertEqual(rgb.map(\.stampNs), (0..<6).map { Int64(Self.t0) + Int64($0) * 50_000_000 + 1 })
            XCTAssertEqual(rgb[0].frameId, "cam_optical")
            for (i, f) in rgb.enumerated() {
                XCTAssertEqual(f.image.width, 5)
                XCTAssertEqual(f.image[4, 3, 2], UInt8(4 * 40 + 3 * 7 + 2 + i))
            }
        }
    }

    func testStartOffsetLoopAndPacing() throws {
        let path = tempPath("pace.mcap")
        try writeLog(path, compression: .zstd)
        let late = try drain(LogReplaySource(path: path, options: .init(topic: "/cam/rgb", rate: nil, startOffset: 0.12)))
        XCTAssertEqual(late.count, 3)
        let looping = try LogReplaySource(path: path, options: .init(topic: "/cam/rgb", rate: nil, loop: true))
        let frames = try drain(looping, max: 14)
        XCTAssertEqual(frames.map(\.seq), Array(0..<14))
        XCTAssertEqual(frames[6].stampNs, frames[0].stampNs)
        let paced = try LogReplaySource(path: path, options: .init(topic: "/cam/rgb", rate: 2))
        let start = Date()
        XCTAssertEqual(try drain(paced).count, 6)
        XCTAssertGreaterThan(Date().timeIntervalSince(start), 0.1, "5 gaps of 50 ms at 2x take >= 125 ms")
        XCTAssertThrowsError(try LogReplaySource(path: path, options: .init(rate: 0)))
        XCTAssertThrowsError(try LogReplaySource(path: path, options: .init(topic: "/nope")))
    }

    func testCloseUnblocksPacedReplay() throws {
        let path = tempPath("slow.mcap")
        try writeLog(path, compression: .none)
        let src = try LogReplaySource(path: path, options: .init(topic: "/cam/rgb", rate: 0.001))
        XCTAssertNotNil(try src.nextFrame())
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.1) { src.close() }
        let start = Date()
        XCTAssertNil(try src.nextFrame())
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
        XCTAssertEqual(src.state, .finished)
    }

    func testEveryTruncationReplaysAPrefixAndSaysWhere() throws {
        let path = tempPath("full.mcap")
        try writeLog(path, compression: .lz4, chunkMessages: 2)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let cutPath = tempPath("cut.mcap")
        var last = 0
        for cut in stride(from: 0, to: bytes.count, by: 7) {
            try bytes.prefix(cut).write(to: URL(fileURLWithPath: cutPath))
            guard let src = try? LogReplaySource(path: cutPath, options: .init(topic: "/cam/rgb", rate: nil)) else { continue }
            let frames = try drain(src)
            XCTAssertGreaterThanOrEqual(frames.count, last, "cut \(cut)")
            last = frames.count
            if frames.count < 6 {
                let err = try XCTUnwrap(src.lastError, "cut \(cut)")
                XCTAssertTrue(err.contains(cutPath) && err.contains("byte"), err)
            }
        }
        XCTAssertEqual(last, 6)
    }

    func testRandomCorruptionNeverCrashes() throws {
        let path = tempPath("c.mcap")
        try writeLog(path, compression: .zstd, chunkMessages: 2)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var rng = SystemRandomNumberGenerator()
        let bad = tempPath("bad.mcap")
        for _ in 0..<150 {
            var b = bytes
            for _ in 0..<Int.random(in: 1...8, using: &rng) { b[Int.random(in: 8..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            try Data(b).write(to: URL(fileURLWithPath: bad))
            guard let src = try? LogReplaySource(path: bad, options: .init(rate: nil)) else { continue }
            let frames = try drain(src)
            XCTAssertLessThanOrEqual(frames.count, 6)
        }
    }

    func testCorruptChunkIsSkippedWhenTheSummaryIndexesTheRest() throws {
        let path = tempPath("skip.mcap")
        try writeLog(path, compression: .none, chunkMessages: 2)
        var b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        // Walk the records to the second chunk and flip a byte of its message data (the CRC catches it).
        var pos = 8
        var chunks: [Int] = []
        while pos + 9 <= b.count, b[pos] != 0x0F {
            if b[pos] == 0x06 { chunks.append(pos) }
            var len = 0
            for i in 0..<8 { len |= Int(b[pos + 1 + i]) << (8 * i) }
            pos += 9 + len
        }
        XCTAssertEqual(chunks.count, 6)
        b[chunks[1] + 120] ^= 0x5A
        let bad = tempPath("skip-bad.mcap")
        try Data(b).write(to: URL(fileURLWithPath: bad))
        let src = try LogReplaySource(path: bad, options: .init(topic: "/cam/rgb", rate: nil))
        let frames = try drain(src)
        XCTAssertEqual(frames.map(\.stampNs), [0, 2, 3, 4, 5].map { Int64(Self.t0) + Int64($0) * 50_000_000 + 1 })
        XCTAssertEqual(src.counters.framesCorrupt, 1)
        let err = try XCTUnwrap(src.lastError)
        XCTAssertTrue(err.contains("CRC") && err.contains("byte \(chunks[1])"), err)
    }
}
