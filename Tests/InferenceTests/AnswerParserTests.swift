import Foundation
import Inference
import XCTest

/// Runs the corpus written by tools/answers/make_answer_corpus.py: where the reference scripts' parsing
/// succeeds we must agree with it exactly (after clamping); where it raises, the corpus says what we do.
final class AnswerParserTests: XCTestCase {
    struct Corpus: Decodable {
        struct Targets: Decodable {
            var targets: [Target]?
            var error: String?
        }
        struct Ours: Decodable {
            var targets: [Target]?
            var error: Bool?
        }
        struct Target: Decodable {
            var bbox: [Double]
            var points: [[Double]]
        }
        struct IntTarget: Decodable, Equatable {
            var bbox: [Int]
            var points: [[Int]]
        }
        struct Case: Decodable {
            var format: String
            var output: String
            var think: String?
            var reference: Targets
            var expected_image_targets: [IntTarget]?
            var ours: Ours?
        }
        var image_size: [Int]
        var cases: [Case]
    }

    func loadCorpus() throws -> Corpus {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/answers/corpus.json")
        return try JSONDecoder().decode(Corpus.self, from: Data(contentsOf: url))
    }

    func testCorpus() throws {
        let corpus = try loadCorpus()
        XCTAssertGreaterThanOrEqual(corpus.cases.count, 40)
        let mapping = CoordinateMapping(imageWidth: corpus.image_size[0], imageHeight: corpus.image_size[1])
        var errors = 0, agreements = 0
        for (n, c) in corpus.cases.enumerated() {
            let format = try XCTUnwrap(AnswerFormat(rawValue: c.format))
            let label = "case \(n): \(c.output.prefix(90))"
            XCTAssertEqual(AnswerParser.extractThink(c.output), c.think, label)
            let result = Result { try AnswerParser.parse(c.output, format: format) }
            if c.ours?.error == true {
                XCTAssertThrowsError(try result.get(), label) { error in
                    XCTAssertEqual((error as? AnswerParseError)?.raw, c.output, label)
                }
                errors += 1
                continue
            }
            guard case let .success(parsed) = result else {
                XCTFail("\(label): unexpected error \(result)")
                continue
            }
            if let ours = c.ours?.targets {
                XCTAssertEqual(parsed.targets.map(\.bbox), ours.map(\.bbox), label)
                XCTAssertEqual(parsed.targets.map(\.points), ours.map(\.points), label)
            }
            if let expected = c.expected_image_targets, c.ours == nil {
                let mapped = parsed.targets.map { mapping.map($0, format: format) }
                XCTAssertEqual(mapped.map(\.bbox), expected.map(\.bbox), label)
                XCTAssertEqual(mapped.map(\.points), expected.map(\.points), label)
                agreements += 1
            }
        }
        XCTAssertGreaterThan(errors, 10)
        XCTAssertGreaterThan(agreements, 15)
    }

    func testRoundingFollowsEachReference() {
        let m = CoordinateMapping(imageWidth: 420, imageHeight: 1260)  // factors 0.5 and 1.5
        let t = AnswerTarget(bbox: [5, 5, 7, 7], points: [[3, 1]])
        // Seg-Zero: round(int(v) * f), half to even: 2.5 -> 2, 3.5 -> 4, 1.5 -> 2, 7.5 -> 8, 10.5 -> 10.
        XCTAssertEqual(m.map(t, format: .segZero), ImageTarget(bbox: [2, 8, 4, 10], points: [[2, 2]]))
        // VisionReasoner: int(v * f + 0.5): 2.5 -> 3, 7.5 -> 8, 3.5 -> 4, 10.5 -> 11, 1.5 -> 2.
        XCTAssertEqual(m.map(t, format: .visionReasoner), ImageTarget(bbox: [3, 8, 4, 11], points: [[2, 2]]))
    }

    func testEmptyListIsNoTargetNotAnError() throws {
        let parsed = try AnswerParser.parse("<think>none</think><answer>[]</answer>", format: .visionReasoner)
        XCTAssertEqual(parsed.targets, [])
        XCTAssertEqual(parsed.think, "none")
    }

    func testHostileInputsDoNotCrash() {
        let deep = String(repeating: "[", count: 10_000)
        XCTAssertThrowsError(try AnswerParser.parse("<answer>\(deep)</answer>", format: .visionReasoner))
        XCTAssertThrowsError(try AnswerParser.parse("<answer>{\"bbox\": [1e999,0,1,1]}", format: .segZero))
        XCTAssertThrowsError(try AnswerParser.parse("<answer>{'bbox\\u12", format: .segZero))
        XCTAssertThrowsError(try AnswerParser.parse("<answer>[{\"bbox_2d\": [1,2,3,4], \"point_2d\": [1,2]}", format: .visionReasoner))
    }

    func testLenientJSON() {
        XCTAssertEqual(LenientJSON.parse("{'a': [1, 2.5, -3.], \"b\": 'x\\'y', 'c': None,}"),
                       .object([("a", .array([.number(1), .number(2.5), .number(-3)])), ("b", .string("x'y")), ("c", .null)]))
        XCTAssertNil(LenientJSON.parse("{'a': 1} extra"))
        XCTAssertNil(LenientJSON.parse("[1, 2"))
        XCTAssertNil(LenientJSON.parse("{a: 1}"))
    }
}
