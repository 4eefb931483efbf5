import Foundation
import Inference
import XCTest

/// Compares the ReasonSeg rasterizer with OpenCV on the annotations in Tests/Fixtures/eval/raster.json
/// (tools/eval/make_raster_fixtures.py), and checks the gIoU / cIoU definitions.
final class EvaluationTests: XCTestCase {
    struct Fixture: Decodable {
        struct Shape: Decodable {
            var label: String
            var points: [[Double]]
        }
        struct Case: Decodable {
            var width: Int
            var height: Int
            var shapes: [Shape]
            var mask: [UInt8]
        }
        var cases: [Case]
    }

    func testRasterizerAgreesWithOpenCV() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/eval/raster.json")
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
        XCTAssertGreaterThanOrEqual(fixture.cases.count, 50)
        var differing = 0, total = 0, exactCases = 0, insideCases = 0
        for (n, c) in fixture.cases.enumerated() {
            let polygons = c.shapes.map { AnnotatedPolygon(label: $0.label, points: $0.points.map { (x: $0[0], y: $0[1]) }) }
            let ours = ReasonSegRasterizer.mask(polygons, width: c.width, height: c.height)
            XCTAssertEqual(ours.count, c.mask.count)
            let diff = zip(ours, c.mask).filter { $0 != $1 }.count
            differing += diff
            total += c.mask.count
            if diff == 0 { exactCases += 1 }
            let inside = c.shapes.allSatisfy { $0.points.allSatisfy { $0[0] >= 0 && $0[1] >= 0 && $0[0] < Double(c.width) && $0[1] < Double(c.height) } }
            if inside {
                insideCases += 1
                // Annotations inside the image (every real one): identical to OpenCV, pixel for pixel.
                XCTAssertEqual(diff, 0, "case \(n)")
            } else {
                // Vertices outside the image: OpenCV 4.12 clips lines differently from the clipLine we follow.
                let foreground = c.mask.filter { $0 != 0 }.count
                XCTAssertLessThanOrEqual(diff, max(20, foreground / 10), "case \(n): \(diff) pixels differ of \(foreground)")
            }
        }
        XCTAssertLessThan(Double(differing) / Double(total), 0.001, "\(differing) of \(total) pixels differ")
        XCTAssertGreaterThanOrEqual(insideCases, 25)
        XCTAssertGreaterThan(exactCases, fixture.cases.count * 2 / 3)
    }

    func testScores() {
        var score = SegmentationScore()
        // 2x2 image: gt = [1,1,0,255]; pred = [1,0,1,1] -> I=1, U=3 (the ignored pixel does not count).
        XCTAssertEqual(score.add(prediction: [1, 0, 1, 1], groundTruth: [1, 1, 0, 255]), 1.0 / 3.0, accuracy: 1e-12)
        // Nothing to find and nothing found counts 1.0 for gIoU and adds nothing to cIoU.
        XCTAssertEqual(score.add(prediction: [0, 0, 0, 0], groundTruth: [0, 0, 0, 0]), 1.0)
        XCTAssertEqual(score.add(prediction: [1, 1, 1, 1], groundTruth: [1, 1, 1, 1]), 1.0)
        XCTAssertEqual(score.gIoU, (1.0 / 3.0 + 2) / 3, accuracy: 1e-12)
        XCTAssertEqual(score.cIoU, 5.0 / 7.0, accuracy: 1e-12)
    }
}
