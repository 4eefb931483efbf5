import Compute
import Foundation
import Imaging
import Inference
import XCTest

/// Qwen2.5-VL model parity against transformers 4.57.6 on the tiny random-weight fixtures of
/// tools/qwen/make_qwen_fixtures.py (two shapes: tied GQA 2:1 in the published key naming, untied 1:1 in the newer
/// naming over two shards; an 840×840 pre-resized image and a non-square one).
final class QwenModelParityTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/qwen25vl")

    struct Case {
        let name: String
        let modelDirectory: String
        let input: String
        let template: String
        let json: [String: Any]

        var directory: URL { QwenModelParityTests.root.appendingPathComponent("cases/\(name)") }
        func ints(_ key: String) throws -> [Int] { try XCTUnwrap(json[key] as? [Int], "\(name): \(key)") }
    }

    static func cases() throws -> [Case] {
        let index = try jsonObject(root.appendingPathComponent("cases/index.json"))
        return try index.keys.sorted().map { name in
            let entry = try XCTUnwrap(index[name] as? [String: Any])
            return Case(
                name: name,
                modelDirectory: root.appendingPathComponent(try XCTUnwrap(entry["model"] as? String)).path,
                input: try XCTUnwrap(entry["input"] as? String),
                template: try XCTUnwrap(entry["template"] as? String).replacingOccurrences(of: "_", with: "-"),
                json: try jsonObject(root.appendingPathComponent("cases/\(name)/case.json")))
        }
    }

    static func jsonObject(_ url: URL) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any], url.path)
    }

    static let backend = BLASBackend(threads: 2)
    nonisolated(unsafe) static var models: [String: QwenVLModel] = [:]

    static func model(_ directory: String) throws -> QwenVLModel {
        if let m = models[directory] { return m }
        let m = try QwenVLModel(directory: directory, backend: backend)
        models[directory] = m
        return m
    }

    /// pixel_values as the processor makes them from the committed photo (bit-identical to transformers; checked
    /// by QwenImageProcessorFixtureTests through SHA-256).
    static func pixels(_ c: Case, _ model: QwenVLModel) throws -> QwenPixelValues {
        let photo = try ImageCodec.load(path: root.appendingPathComponent("chelsea.png").path)
        let image = c.input == "square840" ? try QwenImageProcessor.reasoningInput(photo) : photo
        return try model.imageProcessor.preprocess(image)
    }

    /// ‖a − b‖ / ‖b‖.
    static func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        guard a.count == b.count, !b.isEmpty else { return .infinity }
        var num: Double = 0, den: Double = 0
        for i in a.indices {
            let d = Double(a[i]) - Double(b[i])
            num += d * d
            den += Double(b[i]) * Double(b[i])
        }
        return Float((num / max(den, 1e-30)).squareRoot())
    }

    func reference(_ c: Case, _ file: String) throws -> NPYArray {
        try NPY.read(path: c.directory.appendingPathComponent(file).path)
    }

    func testVisionTowerMatchesTransformers() throws {
        let all = try Self.cases()
        XCTAssertEqual(all.count, 4)
        for c in all {
            let model = try Self.model(c.modelDirectory)
            let pv = try Self.pixels(c, model)
            let grid = QwenGrid(t: pv.gridT, h: pv.gridH, w: pv.gridW)
            XCTAssertEqual([pv.gridT, pv.gridH, pv.gridW], try c.ints("image_grid_thw"), c.name)
            let head = try reference(c, "pixel_values_head.npy")
            XCTAssertEqual(Array(pv.values.prefix(head.values.count)), head.values, "\(c.name): pixel_values head")
            let stacked = try QwenVLModel.stack([pv])
            var blocks: [Int: [Float]] = [:]
            let recorded = c.json["recorded_blocks"] as? [String] ?? []
            let window = try QwenVisionGeometry.windowIndex(
                grids: [grid], mergeSize: 2, windowSize: model.config.vision.windowSize,
                patchSize: model.config.vision.patchSize)
            XCTAssertEqual(window.windowIndex, try c.ints("window_index"), c.name)
            let out = try model.encodeImages(pixelValues: stacked.pixelValues, grids: stacked.grids) { i, t in
                if recorded.contains("vision_block_\(i)") { blocks[i] = t.toArray() }
            }
            let ref = try reference(c, "vision_output.npy")
            XCTAssertEqual(out.shape, ref.shape, c.name)
            let err = Self.relativeError(out.toArray(), ref.values)
            XCTAssertLessThan(err, 1e-3, "\(c.name): vision output relative error \(err)")
            print("\(c.name): vision output relative error \(err)")
            // Layer-level: block outputs come in window order; the fixture has pixel_values order.
            let width = model.config.vision.hiddenSize
            let inverse = QwenVisionGeometry.inversePermutation(window.windowIndex)
            for (i, values) in blocks {
                var rowMajor = [Float](repeating: 0, count: values.count)
                for merged in 0..<inverse.count {
                    let src = inverse[merged] * 4 * width, dst = merged * 4 * width
                    for j in 0..<(4 * width) { rowMajor[dst + j] = values[src + j] }
                }
                let r = try reference(c, "vision_block_\(i).npy")
                let e = Self.relativeError(rowMajor, r.values)
                XCTAssertLessThan(e, 1e-3, "\(c.name): vision block \(i) relative error \(e)")
            }
            if recorded.contains("vision_block_0") { XCTAssertEqual(blocks.count, recorded.count - 1, c.name) }
        }
    }

    func testPositionIDsAndLastLogitsMatchTransformers() throws {
        for c in try Self.cases() {
            let model = try Self.model(c.modelDirectory)
            let ids = try c.ints("input_ids")
            let pv = try Self.pixels(c, model)
            let grid = QwenGrid(t: pv.gridT, h: pv.gridH, w: pv.gridW)
            let (positions, delta) = try model.positionIDs(inputIDs: ids, grids: [grid])
            XCTAssertEqual(positions, try XCTUnwrap(c.json["position_ids"] as? [[Int]]), c.name)
            XCTAssertEqual(delta, c.json["rope_delta"] as? Int, c.name)
            let stacked = try QwenVLModel.stack([pv])
            let vision = try model.encodeImages(pixelValues: stacked.pixelValues, grids: stacked.grids)
            let cache = model.makeCache()
            let (logits, _) = try model.prefill(inputIDs: ids, visionTokens: vision, grids: [grid], cache: cache)
            let ref = try reference(c, "last_logits.npy")
            let err = Self.relativeError(logits, ref.values)
            XCTAssertLessThan(err, 1e-3, "\(c.name): last logits relative error \(err)")
            print("\(c.name): last logits relative error \(err)")
            XCTAssertEqual(cache.count, ids.count)
        }
    }

    /// Teacher-forced on the reference tokens: at every step where the reference's processed top-1/top-2 margin
    /// exceeds 1e-2 our choice must agree; then free-running greedy generation must agree up to the first
    /// step with a smaller margin.
    func testGreedyTokensMatchTransformers() throws {
        for c in try Self.cases() {
            let model = try Self.model(c.modelDirectory)
            let ids = try c.ints("input_ids")
            let refTokens = try c.ints("generated_ids")
            let steps = try XCTUnwrap(c.json["steps"] as? [[String: Any]])
            let margins = try steps.map { try XCTUnwrap(($0["margin"] as? NSNumber)?.floatValue) }
            let pv = try Self.pixels(c, model)
            let options = GenerationOptions(config: model.generationConfig, greedy: true, maxNewTokens: refTokens.count)
            XCTAssertEqual(options.repetitionPenalty, 1.05, accuracy: 1e-7)
            XCTAssertNil(options.sampling)

            let stacked = try QwenVLModel.stack([pv])
            let vision = try model.encodeImages(pixelValues: stacked.pixelValues, grids: stacked.grids)
            let cache = model.makeCache()
            var (logits, delta) = try model.prefill(
                inputIDs: ids, visionTokens: vision, grids: stacked.grids, cache: cache)
            var seen = Set(ids)
            var decisive = 0
            for (i, token) in refTokens.enumerated() {
                var processed = logits
                LogitsProcessing.applyRepetitionPenalty(&processed, seen: seen, penalty: options.repetitionPenalty)
                let (best, margin) = LogitsProcessing.argmax(processed)
                if margins[i] > 1e-2 {
                    decisive += 1
                    XCTAssertEqual(best, token, "\(c.name) step \(i): reference margin \(margins[i])")
                    XCTAssertEqual(margin, margins[i], accuracy: 1e-2 + 1e-2 * abs(margins[i]), "\(c.name) step \(i)")
                }
                seen.insert(token)
                logits = try model.decodeStep(token: token, cache: cache, ropeDelta: delta)
            }
            XCTAssertGreaterThan(decisive, refTokens.count / 2, c.name)
            print("\(c.name): \(decisive) decisive steps teacher-forced")
            delta = 0

            var streamed: [Int] = []
            let (result, timing) = try model.generate(
                inputIDs: ids, images: [pv], options: options, onToken: { streamed.append($0); return true })
            XCTAssertEqual(result.tokens, streamed, c.name)
            XCTAssertEqual(result.stopReason, .maxNewTokens, c.name)
            XCTAssertEqual(timing.decodeSteps, refTokens.count - 1, c.name)
            let agreeUpTo = margins.firstIndex { $0 <= 1e-2 } ?? refTokens.count
            XCTAssertEqual(Array(result.tokens.prefix(agreeUpTo + 1)), Array(refTokens.prefix(agreeUpTo + 1)), c.name)
        }
    }

    /// The prompt ids the reference built (chat template, Seg-Zero / VisionReasoner text, image pad expansion).
    func testPromptIDsMatchTransformers() throws {
        let tokenizer = try TokenizerFixtures.qwen25VL()
        for c in try Self.cases() {
            let model = try Self.model(c.modelDirectory)
            let template = try PromptTemplate(name: c.template)
            let question = try XCTUnwrap(c.json["question"] as? String)
            XCTAssertEqual(template.render(question: question), c.json["prompt"] as? String, c.name)
            let pv = try Self.pixels(c, model)
            let ids = try ChatTemplate.qwen25VL(
                userText: template.render(question: question),
                imageTokens: ChatTemplate.imageTokenCount(gridT: pv.gridT, gridH: pv.gridH, gridW: pv.gridW),
                tokenizer: tokenizer)
            XCTAssertEqual(ids.map { Int($0) }, try c.ints("input_ids"), c.name)
        }
    }
}
