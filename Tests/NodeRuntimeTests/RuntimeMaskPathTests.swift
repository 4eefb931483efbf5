import Camera
import Foundation
import Imaging
import Logging
import NodeRuntime
import PerceptionMessages
import XCTest

/// TEST-ONLY stage (never part of the binary): returns one known mask so the runtime's Result assembly
/// (RLE / PNG / none, area, centroid, think, timings, no_target, errors) is checked before real models exist.
/// The bus path itself is covered by the Python integration tests against the real binary.
private final class KnownMaskStage: InferenceStage {
    let models = ModelDescription(reasoner: "test-reasoner", segmenter: "test-segmenter", backend: "test", loaded: ["test"])
    func run(_ request: InferenceRequest) throws -> InferenceOutput {
        switch request.query.text {
        case "nothing": return InferenceOutput(think: "looked", answer: "[]")
        case "garbled": throw InferenceError(.answerUnparseable, "no JSON in answer", think: "hmm", answer: "??")
        case "crash": throw CocoRLE.DecodeError.badSize([1])
        default: break
        }
        var mask = BinaryMask(width: request.frame.image.width, height: request.frame.image.height)
        for y in 2..<4 { for x in 1..<4 { mask[x, y] = true } }
        var t = StageTimings()
        t.segment = 1.5
        return InferenceOutput(objects: [InferenceObject(bbox: [1, 2, 4, 4], points: [[2, 3]], score: 0.875, mask: mask)],
                               think: "it is there", answer: "{\"bbox\":[1,2,4,4]}", timings: t, promptTokens: 10, generatedTokens: 5)
    }
}

final class RuntimeMaskPathTests: XCTestCase {
    func testResultsCarryEncodedMasks() throws {
        let frame = Frame(image: try RGBImage(width: 6, height: 5), stampNs: 123, seq: 4, frameId: "cam")
        let harness = try RuntimeHarness(source: OneFrameSource(frame), stage: KnownMaskStage())
        defer { harness.stop() }
        let ask = harness.ask

        let rle = try ask(Query(requestId: "rle", text: "cup"))
        XCTAssertEqual(rle.status, .ok)
        XCTAssertEqual(rle.header, QueryResult.Header(stampNs: 123, frameId: "cam", seq: 4))
        XCTAssertEqual(rle.imageSize?.width, 6)
        let obj = try XCTUnwrap(rle.objects.first)
        XCTAssertEqual(obj.area, 6)
        XCTAssertEqual(obj.centroid, [2.5, 3.0])
        XCTAssertEqual(obj.score, 0.875)
        guard case .cocoRLE(let h, let w, let counts)? = obj.mask else { return XCTFail("no RLE mask") }
        let mask = try CocoRLE.decode(counts: counts, height: h, width: w)
        XCTAssertEqual(mask.boundingBox.map { [$0.x1, $0.y1, $0.x2, $0.y2] }, [1, 2, 4, 4])
        XCTAssertEqual(rle.think, "it is there")
        XCTAssertEqual(rle.timing.segment, 1.5)
        XCTAssertEqual(rle.tokens?.prompt, 10)
        XCTAssertEqual(rle.model?.segmenter, "test-segmenter")

        let png = try ask(Query(requestId: "png", text: "cup", outputs: Query.Outputs(mask: .png, think: false)))
        guard case .png(let data)? = png.objects.first?.mask else { return XCTFail("no PNG mask") }
        let gray = try ImageCodec.decodeGray(data)
        XCTAssertEqual(gray.pixels.filter { $0 == 255 }.count, 6)
        XCTAssertEqual(gray.pixels.filter { $0 == 0 }.count, 24)
        XCTAssertNil(png.think)

        let none = try ask(Query(requestId: "none", text: "cup", outputs: Query.Outputs(mask: .none)))
        XCTAssertNil(none.objects.first?.mask)
        XCTAssertEqual(none.objects.first?.area, 6)

        let empty = try ask(Query(requestId: "e", text: "nothing"))
        XCTAssertEqual(empty.status, .noTarget)
        XCTAssertTrue(empty.objects.isEmpty)

        let garbled = try ask(Query(requestId: "g", text: "garbled"))
        XCTAssertEqual(garbled.error?.code, .answerUnparseable)
        XCTAssertEqual(garbled.answer, "??")
        XCTAssertEqual(garbled.think, "hmm")

        let crash = try ask(Query(requestId: "c", text: "crash"))
        XCTAssertEqual(crash.error?.code, .internal)
    }
}
