import Camera
import Foundation
import Imaging
import XCTest

/// Contour tracing for mask outlines, and Recorder output replayed through LogReplaySource.
final class RecordingTests: XCTestCase {
    func mask(_ w: Int, _ h: Int, _ inside: (Int, Int) -> Bool) -> [UInt8] {
        var m = [UInt8](repeating: 0, count: w * h)
        for y in 0..<h { for x in 0..<w where inside(x, y) { m[y * w + x] = 1 } }
        return m
    }

    func testRectangleOutlineIsItsCorners() throws {
        let m = mask(10, 8) { x, y in (2...6).contains(x) && (3...5).contains(y) }
        let c = try ContourTracer.contours(width: 10, height: 8, mask: m)
        XCTAssertEqual(c.count, 1)
        XCTAssertEqual(Set(c[0].map { [$0.x, $0.y] }), [[2, 3], [6, 3], [6, 5], [2, 5]])
    }

    func testDiscOutlineLiesOnTheBoundaryAndClosesTheRegion() throws {
        let (w, h, r) = (64, 48, 15)
        let m = mask(w, h) { x, y in (x - 30) * (x - 30) + (y - 20) * (y - 20) <= r * r }
        let c = try ContourTracer.contours(width: w, height: h, mask: m)
        XCTAssertEqual(c.count, 1)
        for p in c[0] {
            XCTAssertEqual(m[p.y * w + p.x], 1)
            let neighbours = [(1, 0), (-1, 0), (0, 1), (0, -1)].map { m[(p.y + $0.1) * w + p.x + $0.0] }
            XCTAssertTrue(neighbours.contains(0), "\(p) is not on the boundary")
        }
        let xs = c[0].map(\.x), ys = c[0].map(\.y)
        XCTAssertEqual([xs.min(), xs.max(), ys.min(), ys.max()], [15, 45, 5, 35])
    }

    func testSeveralRegionsLargestFirstAndTinyOnesSkipped() throws {
        let m = mask(20, 10) { x, y in (x < 3 && y < 3) || ((8...18).contains(x) && (2...8).contains(y)) || (x == 5 && y == 9) }
        let c = try ContourTracer.contours(width: 20, height: 10, mask: m, minArea: 2)
        XCTAssertEqual(c.count, 2)
        XCTAssertEqual(c[0].map(\.x).min(), 8)
        XCTAssertEqual(try ContourTracer.contours(width: 20, height: 10, mask: m).count, 3)
        XCTAssertThrowsError(try ContourTracer.contours(width: 20, height: 10, mask: [1, 2, 3]))
        XCTAssertEqual(try ContourTracer.contours(width: 3, height: 3, mask: mask(3, 3) { x, y in x == 1 && y == 1 }), [[.init(x: 1, y: 1)]])
    }

    func testRecorderFramesReplayAsTheirJPEG() throws {
        let path = NSTemporaryDirectory() + "rec-\(getpid()).mcap"
        let rec = try Recorder(path: path, compression: .lz4, jpegQuality: 90, chunkMessages: 4)
        var jpegs: [[UInt8]] = []
        for i in 0..<7 {
            var px = [UInt8](repeating: 0, count: 32 * 24 * 3)
            for j in px.indices { px[j] = UInt8(truncatingIfNeeded: j * 7 + i * 13) }
            let img = try RGBImage(width: 32, height: 24, pixels: px)
            jpegs.append(try ImageCodec.encodeJPEG(img, quality: 90))
            let frame = Frame(image: img, stampNs: 1_700_000_000_000_000_000 + Int64(i) * 40_000_000, seq: UInt64(i), frameId: "cam")
            try rec.record(frame: frame)
            try rec.record(queryJSON: "{\"request_id\":\"q\(i)\"}", stampNs: frame.stampNs)
            try rec.record(resultJSON: "{\"status\":\"ok\"}", stampNs: frame.stampNs,
                           overlays: [.init(width: 32, height: 24, mask: mask(32, 24) { x, _ in x > 20 }, points: [(5, 6)])])
        }
        try rec.close()
        let src = try LogReplaySource(path: path, options: .init(rate: nil))
        XCTAssertEqual(src.topic.name, "/camera/image/compressed")
        XCTAssertEqual(Set(src.log.topics.map(\.name)), ["/camera/image/compressed", "/perception/query", "/perception/result", "/perception/annotations"])
        var n = 0
        while let f = try src.nextFrame() {
            XCTAssertEqual(f.image, try ImageCodec.decodeJPEG(jpegs[n]))
            XCTAssertEqual(f.stampNs, 1_700_000_000_000_000_000 + Int64(n) * 40_000_000)
            XCTAssertEqual(f.frameId, "cam")
            n += 1
        }
        XCTAssertEqual(n, 7)
        XCTAssertNil(src.lastError)
    }
}
