import Foundation
import Imaging
import XCTest

/// Decodes the fixtures written by tools/imaging/make_codec_fixtures.py and compares with Pillow's pixels.
final class ImageCodecTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/codec")

    func fixture(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: Self.fixtures.appendingPathComponent(name)))
    }

    func testDecodeMatchesPillow() throws {
        let cases = try JSONSerialization.jsonObject(
            with: Data(contentsOf: Self.fixtures.appendingPathComponent("cases.json"))) as? [String: [Int]]
        let all = try XCTUnwrap(cases)
        XCTAssertGreaterThanOrEqual(all.count, 9)
        for (name, size) in all.sorted(by: { $0.key < $1.key }) {
            let image = try ImageCodec.decode(try fixture(name))
            XCTAssertEqual([image.width, image.height], size, name)
            let expected = try fixture(name + ".rgb")
            let maxDiff = zip(image.pixels, expected).map { abs(Int($0) - Int($1)) }.max() ?? 0
            XCTAssertEqual(image.pixels.count, expected.count, name)
            XCTAssertEqual(maxDiff, 0, "\(name): max pixel difference vs Pillow")
        }
    }

    func testPNGRoundTrip() throws {
        let image = try ImageCodec.decode(try fixture("rgb.png"))
        let again = try ImageCodec.decode(try ImageCodec.encodePNG(image))
        XCTAssertEqual(again, image)
        let gray = (0..<(7 * 5)).map { UInt8(($0 * 37) & 255) }
        let png = try ImageCodec.encodePNGGray(width: 7, height: 5, pixels: gray)
        let decoded = try ImageCodec.decodeGray(png)
        XCTAssertEqual(decoded.width, 7)
        XCTAssertEqual(decoded.height, 5)
        XCTAssertEqual(decoded.pixels, gray)
    }

    func testJPEGEncodeIsCloseToSource() throws {
        let image = try ImageCodec.decode(try fixture("rgb.png"))
        let jpeg = try ImageCodec.encodeJPEG(image, quality: 95)
        XCTAssertTrue(ImageCodec.isJPEG(jpeg))
        let back = try ImageCodec.decodeJPEG(jpeg)
        let meanAbs = Double(zip(back.pixels, image.pixels).map { abs(Int($0) - Int($1)) }.reduce(0, +))
            / Double(image.pixels.count)
        XCTAssertLessThan(meanAbs, 4.0)
    }

    func testMalformedInputIsAnErrorNotACrash() throws {
        let png = try fixture("rgb.png"), jpeg = try fixture("photo_q90.jpg")
        XCTAssertThrowsError(try ImageCodec.decode([]))
        XCTAssertThrowsError(try ImageCodec.decode([1, 2, 3, 4, 5, 6, 7, 8, 9]))
        for cut in stride(from: 0, to: png.count, by: max(1, png.count / 97)) {
            _ = try? ImageCodec.decode(Array(png.prefix(cut)))
        }
        for cut in stride(from: 0, to: jpeg.count, by: max(1, jpeg.count / 97)) {
            XCTAssertThrowsError(try ImageCodec.decode(Array(jpeg.prefix(cut))), "JPEG cut at \(cut)")
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var bad = Bool.random(using: &rng) ? png : jpeg
            for _ in 0..<4 { bad[Int.random(in: 0..<bad.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            _ = try? ImageCodec.decode(bad)
        }
        // A PNG header claiming a 100000 x 100000 image must be refused before allocating.
        var huge = png
        huge.replaceSubrange(16..<24, with: [0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0])
        XCTAssertThrowsError(try ImageCodec.decode(huge))
    }

    func testLoadNamesThePath() {
        XCTAssertThrowsError(try ImageCodec.load(path: "/nonexistent/x.png")) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/x.png"))
        }
    }
}
