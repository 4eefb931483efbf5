import Camera
import Foundation
import Imaging
import XCTest

final class ImageFolderSourceTests: XCTestCase {
    private func folder() throws -> String {
        let dir = NSTemporaryDirectory() + "folder-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var a = try RGBImage(width: 4, height: 3)
        a[1, 1, 0] = 200
        try Data(ImageCodec.encodePNG(a)).write(to: URL(fileURLWithPath: dir + "/b.png"))
        let b = try RGBImage(width: 5, height: 2)
        try Data(ImageCodec.encodeJPEG(b, quality: 90)).write(to: URL(fileURLWithPath: dir + "/a.jpg"))
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: dir + "/c.png"))
        try Data("ignored".utf8).write(to: URL(fileURLWithPath: dir + "/notes.txt"))
        return dir
    }

    func testReplaysInNameOrderOnceAtRate() throws {
        let source = try ImageFolderSource(directory: try folder(), rate: 20, loop: false, frameId: "cam")
        let t0 = Date()
        let first = try XCTUnwrap(try source.nextFrame())
        let second = try XCTUnwrap(try source.nextFrame())
        XCTAssertEqual([first.image.width, second.image.width], [5, 4], "a.jpg before b.png")
        XCTAssertEqual([first.seq, second.seq], [0, 1])
        XCTAssertEqual(second.image[1, 1, 0], 200)
        XCTAssertEqual(first.frameId, "cam")
        XCTAssertGreaterThan(second.stampNs, first.stampNs)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(t0), 0.045, "paced at 20 Hz")
        XCTAssertNil(try source.nextFrame(), "c.png is corrupt, then the folder ends")
        XCTAssertEqual(source.state, .finished)
        XCTAssertEqual(source.counters.framesCaptured, 2)
        XCTAssertEqual(source.counters.framesCorrupt, 1)
        XCTAssertTrue(source.lastError?.contains("c.png") == true)
    }

    func testLoopsAndCloseUnblocks() throws {
        let source = try ImageFolderSource(directory: try folder(), rate: 1000, loop: true, frameId: "cam")
        var seqs: [UInt64] = []
        for _ in 0..<5 { seqs.append(try XCTUnwrap(try source.nextFrame()).seq) }
        XCTAssertEqual(seqs, [0, 1, 2, 3, 4])
        let slow = try ImageFolderSource(directory: try folder(), rate: 0.01, loop: true, frameId: "cam")
        _ = try slow.nextFrame()
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.1) { slow.close() }
        let t0 = Date()
        XCTAssertNil(try slow.nextFrame())
        XCTAssertLessThan(Date().timeIntervalSince(t0), 5)
    }

    func testEmptyOrMissingFolderIsAnError() throws {
        let empty = NSTemporaryDirectory() + "empty-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        XCTAssertThrowsError(try ImageFolderSource(directory: empty, rate: 1, loop: true, frameId: "c")) {
            XCTAssertEqual($0 as? ImageFolderError, .noImages(path: empty))
        }
        XCTAssertThrowsError(try ImageFolderSource(directory: "/nonexistent-dir", rate: 1, loop: true, frameId: "c"))
        XCTAssertThrowsError(try ImageFolderSource(directory: empty, rate: 0, loop: true, frameId: "c"))
    }
}
