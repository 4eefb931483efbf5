import Compute
import Foundation
import Imaging
import Inference
import XCTest

/// The per-frame prompt-prefix KV cache: a question that continues a cached prefix (system turn + image) gives
/// the same logits and answer as a fresh prefill of the whole prompt, and is reported as a cache hit.
final class QwenPrefixCacheTests: XCTestCase {
    static let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/qwen25vl/models/tiny-tied-gqa2").path

    func photo() throws -> RGBImage {
        let path = URL(fileURLWithPath: Self.model).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("chelsea.png").path
        return try ImageCodec.load(path: path)
    }

    func testPrefillContinuingAPrefixMatchesAFullPrefill() throws {
        let model = try QwenVLModel(directory: Self.model, backend: BLASBackend(threads: 2))
        let pixels = try model.imageProcessor.preprocess(try photo())
        let stacked = try QwenVLModel.stack([pixels])
        let vision = try model.encodeImages(pixelValues: stacked.pixelValues, grids: stacked.grids)
        let n = vision.shape[0]
        // system + user header, vision_start, n image pads, vision_end, then some question tokens.
        let head = [151_644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151_645, 198, 151_644, 872, 198, 151_652]
        let ids = head + Array(repeating: 151_655, count: n) + [151_653] + [785, 2518, 12671, 304, 279, 2168, 151_645, 198]
        let prefixLength = head.count + n + 1

        let fresh = model.makeCache()
        let (full, fullDelta) = try model.prefill(inputIDs: ids, visionTokens: vision, grids: stacked.grids, cache: fresh)

        let prefix = model.makeCache()
        _ = try model.prefill(inputIDs: Array(ids[..<prefixLength]), visionTokens: vision, grids: stacked.grids, cache: prefix)
        let continued = try prefix.copy()
        XCTAssertEqual(continued.count, prefixLength)
        let (logits, delta) = try model.prefill(inputIDs: ids, visionTokens: vision, grids: stacked.grids, cache: continued)
        XCTAssertEqual(delta, fullDelta)
        XCTAssertEqual(continued.count, ids.count)
        XCTAssertEqual(prefix.count, prefixLength, "the kept prefix is not extended by the question")
        XCTAssertLessThan(relativeError(logits, full), 1e-5)

        // the prefix cut out of the full prompt's cache (what the reasoner keeps) continues the same way
        let cut = try fresh.copy(positions: prefixLength)
        XCTAssertEqual(cut.count, prefixLength)
        let (fromCut, _) = try model.prefill(inputIDs: ids, visionTokens: vision, grids: stacked.grids, cache: cut)
        XCTAssertLessThan(relativeError(fromCut, full), 1e-5)
        XCTAssertThrowsError(try prefix.copy(positions: prefixLength + 1))

        // decoding from either cache gives the same next-step logits
        let next = LogitsProcessing.argmax(full).index
        let a = try model.decodeStep(token: next, cache: fresh, ropeDelta: fullDelta)
        let b = try model.decodeStep(token: next, cache: continued, ropeDelta: delta)
        XCTAssertLessThan(relativeError(b, a), 1e-5)

        // a prompt that does not extend the cache is refused, not silently mixed
        XCTAssertThrowsError(try model.prefill(inputIDs: Array(ids[..<prefixLength]), visionTokens: vision,
                                               grids: stacked.grids, cache: try prefix.copy()))
    }

    func testReasonerReusesThePrefixOfTheSameFrame() throws {
        let tokenizerDirectory = try TokenizerFixtures.realFiles().appendingPathComponent("qwen25vl").path
        let model = try QwenVLModel(directory: Self.model, backend: BLASBackend(threads: 2))
        let reasoner = QwenReasoner(model: model, tokenizer: try QwenTokenizer(directory: tokenizerDirectory),
                                    name: "tiny", cacheFrames: 1)
        let image = try photo()
        let frame = FrameKey(seq: 7, stampNs: 1)
        let first = try reasoner.reason(image: image, prompt: PromptTemplate.segZero.render(question: "the cat"),
                                        frame: frame, maxNewTokens: 6, shouldContinue: { true })
        XCTAssertFalse(first.visionCacheHit)
        XCTAssertFalse(first.prefixCacheHit)
        let question = PromptTemplate.visionReasoner.render(question: "the left ear")
        let second = try reasoner.reason(image: image, prompt: question, frame: frame, maxNewTokens: 6, shouldContinue: { true })
        XCTAssertTrue(second.visionCacheHit)
        XCTAssertTrue(second.prefixCacheHit)
        let uncached = try reasoner.reason(image: image, prompt: question, frame: nil, maxNewTokens: 6, shouldContinue: { true })
        XCTAssertFalse(uncached.prefixCacheHit)
        XCTAssertEqual(second.text, uncached.text)
        XCTAssertEqual(second.promptTokens, uncached.promptTokens)

        // another frame evicts the only entry: the first frame is computed again
        _ = try reasoner.reason(image: image, prompt: question, frame: FrameKey(seq: 8, stampNs: 2), maxNewTokens: 1,
                                shouldContinue: { true })
        let again = try reasoner.reason(image: image, prompt: question, frame: frame, maxNewTokens: 1, shouldContinue: { true })
        XCTAssertFalse(again.visionCacheHit)
        XCTAssertFalse(again.prefixCacheHit)
    }

    private func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        var num: Float = 0, den: Float = 0
        for i in b.indices {
            num += (a[i] - b[i]) * (a[i] - b[i])
            den += b[i] * b[i]
        }
        return (num / max(den, 1e-30)).squareRoot()
    }
}
