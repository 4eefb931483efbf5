import PerceptionMessages
import XCTest

final class CocoRLETests: XCTestCase {
    /// Strings below were produced by pycocotools 2.0.11 `mask.encode(np.asfortranarray(m))["counts"]`.
    func testVerifiedFourByFiveExample() throws {
        var mask = BinaryMask(width: 5, height: 4)
        for y in 1...2 { for x in 1...3 { mask[x, y] = true } }
        XCTAssertEqual(CocoRLE.runs(of: mask), [5, 2, 2, 2, 2, 2, 5])
        XCTAssertEqual(CocoRLE.encode(mask), "5220003")
        XCTAssertEqual(try CocoRLE.decode(counts: "5220003", height: 4, width: 5), mask)
    }

    func testPatternMatchesPycocotools() throws {
        var mask = BinaryMask(width: 13, height: 11)
        for y in 0..<11 { for x in 0..<13 where (x * y + x) % 7 < 3 { mask[x, y] = true } }
        let expected = "0=4FNN00010O00O0001000O010O00010010O32O:0FNN00010O00O0001000O010O00010010OO"
        XCTAssertEqual(CocoRLE.encode(mask), expected)
        XCTAssertEqual(mask.area, 71)
        XCTAssertEqual(try CocoRLE.decode(counts: expected, height: 11, width: 13), mask)
    }

    func testFullMaskStartsWithZeroRun() throws {
        let mask = try XCTUnwrap(BinaryMask(width: 9, height: 6, pixels: [UInt8](repeating: 1, count: 54)))
        XCTAssertEqual(CocoRLE.runs(of: mask), [0, 54])
        XCTAssertEqual(CocoRLE.encode(mask), "0f1")
    }

    func testEllipseMatchesPycocotoolsArea() throws {
        var mask = BinaryMask(width: 400, height: 300)
        for y in 0..<300 {
            for x in 0..<400 {
                let dx = (Double(x) - 200) / 150, dy = (Double(y) - 150) / 90
                if dx * dx + dy * dy <= 1 { mask[x, y] = true }
            }
        }
        XCTAssertEqual(mask.area, 42377)
        let counts = CocoRLE.encode(mask)
        XCTAssertTrue(counts.hasPrefix("^i>1Q9d0B8I6J6J6K4L4M2M4L4M2M4M2N2M4M2"))
        XCTAssertTrue(counts.hasSuffix("N3L3N2N3L3N3L4L3N3L4L5J6J6J7H>\\OPW>"))
        XCTAssertEqual(try CocoRLE.decode(counts: counts, height: 300, width: 400), mask)
    }

    func testRandomMasksRoundTrip() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let w = Int.random(in: 0...40, using: &rng), h = Int.random(in: 0...40, using: &rng)
            let density = Double.random(in: 0...1, using: &rng)
            let pixels = (0..<(w * h)).map { _ in Double.random(in: 0...1, using: &rng) < density ? UInt8(1) : 0 }
            let mask = try XCTUnwrap(BinaryMask(width: w, height: h, pixels: pixels))
            XCTAssertEqual(try CocoRLE.decode(counts: CocoRLE.encode(mask), height: h, width: w), mask)
        }
    }

    func testMalformedCountsAreErrorsNotTraps() {
        XCTAssertThrowsError(try CocoRLE.decode(counts: "5220003", height: 4, width: 6))
        XCTAssertThrowsError(try CocoRLE.decode(counts: "52 0003", height: 4, width: 5))
        XCTAssertThrowsError(try CocoRLE.decode(counts: "5220003", height: -4, width: 5))
        XCTAssertThrowsError(try CocoRLE.decode(counts: "oooooooooooooooooooo", height: 4, width: 5))
        XCTAssertThrowsError(try CocoRLE.decode(counts: "5O", height: 4, width: 5))
        for _ in 0..<2000 {
            let s = String(decoding: (0..<Int.random(in: 0...12)).map { _ in UInt8.random(in: 40...120) }, as: UTF8.self)
            _ = try? CocoRLE.decode(counts: s, height: 7, width: 9)
        }
    }

    func testMaskGeometry() throws {
        var mask = BinaryMask(width: 10, height: 8)
        XCTAssertNil(mask.centroid)
        XCTAssertNil(mask.boundingBox)
        mask[2, 3] = true
        mask[4, 5] = true
        XCTAssertEqual(mask.area, 2)
        let c = try XCTUnwrap(mask.centroid)
        XCTAssertEqual(c.x, 3.5)
        XCTAssertEqual(c.y, 4.5)
        let b = try XCTUnwrap(mask.boundingBox)
        XCTAssertEqual([b.x1, b.y1, b.x2, b.y2], [2, 3, 5, 6])
        XCTAssertNil(BinaryMask(width: 3, height: 3, pixels: [1, 0]))
        XCTAssertEqual(BinaryMask(width: 2, height: 1, pixels: [0, 255])?.pixels, [0, 1])
    }
}
