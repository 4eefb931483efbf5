import Camera
import Foundation
import Imaging
import XCTest

/// The MJPEG path against Pillow's libjpeg-turbo decode of camera-style frames
/// (fixtures: `python3 tools/camera/make_mjpeg_fixtures.py`).
final class PixelFormatMJPEGTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/camera/mjpeg")

    func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: Self.fixtures.appendingPathComponent(name)))
    }

    func testPixelIdenticalToPillow() throws {
        let cases = try JSONSerialization.jsonObject(with: Data(bytes("cases.json"))) as? [String: [Int]] ?? [:]
        XCTAssertEqual(cases.count, 5)
        for (name, size) in cases.sorted(by: { $0.key < $1.key }) {
            let jpeg = try bytes(name)
            let want = try bytes(name + ".rgb")
            let img = try jpeg.withUnsafeBytes { try PixelConversion.mjpegToRGB($0) }
            XCTAssertEqual([img.width, img.height], size, name)
            let diffs = zip(img.pixels, want).filter { $0 != $1 }.count
            XCTAssertEqual(img.pixels.count, want.count, name)
            XCTAssertEqual(diffs, 0, "\(name): \(diffs) bytes differ from Pillow")
        }
    }

    func testTruncatedFrameIsRejected() throws {
        XCTAssertThrowsError(try PixelConversion.mjpegToRGB(try bytes("truncated.jpg")))
        XCTAssertThrowsError(try PixelConversion.mjpegToRGB([0xFF, 0xD8, 0xFF]))
        XCTAssertThrowsError(try PixelConversion.mjpegToRGB([]))
    }
}
