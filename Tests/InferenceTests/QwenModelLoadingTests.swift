import Checkpoint
import Compute
import Foundation
import Inference
import XCTest

/// Checkpoint-directory loading (both key generations, tied/untied heads, errors naming file and key), config
/// parsing, and the generation loop's processors and stopping rules.
final class QwenModelLoadingTests: XCTestCase {
    static let models = QwenModelParityTests.root.appendingPathComponent("models")
    static let tied = models.appendingPathComponent("tiny-tied-gqa2").path
    static let untied = models.appendingPathComponent("tiny-untied-mha").path

    /// A scratch copy of a fixture model directory (files copied, so they can be edited).
    func copy(_ source: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qwen-load-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: source) {
            try FileManager.default.copyItem(atPath: source + "/" + name, toPath: dir + "/" + name)
        }
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    func editJSON(_ path: String, _ edit: (inout [String: Any]) -> Void) throws {
        var object = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        edit(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
    }

    /// Renames a key inside a safetensors header in place (same length, so offsets stay valid).
    func renameTensor(in file: String, _ key: String, to newKey: String) throws {
        XCTAssertEqual(key.utf8.count, newKey.utf8.count)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        let headerLength = Int(bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        let header = String(decoding: bytes[8..<(8 + headerLength)], as: UTF8.self)
        let replaced = Array(header.replacingOccurrences(of: "\"\(key)\"", with: "\"\(newKey)\"").utf8)
        XCTAssertNotEqual(Array(header.utf8), replaced, "\(key) not in \(file)")
        bytes.replaceSubrange(8..<(8 + headerLength), with: replaced)
        try Data(bytes).write(to: URL(fileURLWithPath: file))
    }

    func testBothKeyGenerationsAreCanonicalized() throws {
        let published = QwenCanonicalWeights(try Checkpoint.open(path: Self.tied))
        let newer = QwenCanonicalWeights(try Checkpoint.open(path: Self.untied))
        XCTAssertEqual(published.generation, .legacy)
        XCTAssertEqual(newer.generation, .nested)
        XCTAssertTrue(newer.names.contains("visual.patch_embed.proj.weight"))
        XCTAssertTrue(newer.names.contains("model.layers.0.self_attn.q_proj.bias"))
        XCTAssertTrue(newer.names.contains("lm_head.weight"))
        XCTAssertEqual(newer.storedKey("model.norm.weight"), "model.language_model.norm.weight")
        XCTAssertEqual(newer.storedKey("visual.merger.ln_q.weight"), "model.visual.merger.ln_q.weight")
        XCTAssertEqual(newer.storedKey("lm_head.weight"), "lm_head.weight")
        XCTAssertEqual(published.storedKey("model.norm.weight"), "model.norm.weight")
        XCTAssertFalse(published.contains("lm_head.weight"))
        XCTAssertEqual(QwenCanonicalWeights.canonical(nested: "model.language_model.embed_tokens.weight"),
                       "model.embed_tokens.weight")
        for names in [published.names, newer.names] {
            XCTAssertFalse(names.contains { $0.hasPrefix("model.language_model.") || $0.hasPrefix("model.visual.") })
        }
    }

    func testConfigReadsBothLayoutsWithTransformersPrecedence() throws {
        let flat = try QwenVLConfig(contentsOf: Self.tied + "/config.json")
        XCTAssertEqual(flat.text.hiddenSize, 16)
        XCTAssertEqual(flat.text.numKeyValueHeads, 1)
        XCTAssertEqual(flat.text.mropeSection, [1, 1, 2])
        XCTAssertTrue(flat.text.tieWordEmbeddings)
        XCTAssertEqual(flat.vision.inChannels, 3)
        XCTAssertEqual(flat.vision.fullattBlockIndexes, [1, 3])
        XCTAssertEqual(flat.eosTokenIDs, [151645])

        let json = """
            {"hidden_size": 99, "num_attention_heads": 4, "vocab_size": 500, "eos_token_id": [1, 2],
             "text_config": {"hidden_size": 32, "num_attention_heads": 4, "num_key_value_heads": 2,
                             "rope_scaling": {"type": "mrope", "mrope_section": [1, 1, 2]}},
             "vision_config": {"in_channels": 3, "out_hidden_size": 32, "hidden_size": 16, "num_heads": 2}}
            """
        let nested = try JSONDecoder().decode(QwenVLConfig.self, from: Data(json.utf8))
        XCTAssertEqual(nested.text.hiddenSize, 32, "text_config wins over top-level fields")
        XCTAssertEqual(nested.text.vocabSize, 500, "absent text_config fields fall back to the top level")
        XCTAssertEqual(nested.text.numKeyValueHeads, 2)
        XCTAssertEqual(nested.text.rmsNormEps, 1e-5, "transformers' class default")
        XCTAssertEqual(nested.eosTokenIDs, [1, 2])
        XCTAssertNoThrow(try nested.validate(file: "inline"))
        let roundTrip = try JSONDecoder().decode(QwenVLConfig.self, from: try JSONEncoder().encode(nested))
        XCTAssertEqual(roundTrip, nested)

        var bad = nested
        bad.text.numKeyValueHeads = 3
        XCTAssertThrowsError(try bad.validate(file: "x.json")) { error in
            XCTAssertEqual(error as? QwenModelError, .invalidConfig(
                file: "x.json", field: "num_key_value_heads", message: "3 does not divide num_attention_heads 4"))
        }
    }

    func testGenerationConfigDefaultsAndFile() throws {
        let g = try QwenGenerationConfig(contentsOf: Self.tied + "/generation_config.json")
        XCTAssertEqual(g.eosTokenIDs, [151645, 151643])
        XCTAssertEqual(g.repetitionPenalty, 1.05)
        XCTAssertTrue(g.doSample)
        XCTAssertEqual(g.topK, 1)
        let greedy = GenerationOptions(config: g, greedy: true, maxNewTokens: 7)
        XCTAssertNil(greedy.sampling)
        XCTAssertEqual(greedy.eosTokenIDs, [151645, 151643])
        let sampled = GenerationOptions(config: g, greedy: false, maxNewTokens: 7, seed: 3)
        XCTAssertEqual(sampled.sampling, .init(temperature: 0.1, topK: 1, topP: 0.001, seed: 3))
        let empty = try JSONDecoder().decode(QwenGenerationConfig.self, from: Data("{}".utf8))
        XCTAssertEqual(empty.repetitionPenalty, 1)
        XCTAssertFalse(empty.doSample)
        XCTAssertEqual(empty.topK, 50)
    }

    func testMissingAndMisshapenInputsAreErrorsNamingFileAndKey() throws {
        let backend = BLASBackend(threads: 1)
        // A tensor absent from the file.
        let missing = try copy(Self.tied)
        try renameTensor(in: missing + "/model.safetensors", "visual.blocks.2.attn.qkv.bias", to: "visual.blocks.2.attn.qkv.bia_")
        XCTAssertThrowsError(try QwenVLModel(directory: missing, backend: backend)) { error in
            guard case .missingTensor(_, let key)? = error as? CheckpointError else { return XCTFail("\(error)") }
            XCTAssertEqual(key, "visual.blocks.2.attn.qkv.bias")
        }
        // Untied head declared but no lm_head tensor.
        let untiedWithoutHead = try copy(Self.tied)
        try editJSON(untiedWithoutHead + "/config.json") { $0["tie_word_embeddings"] = false }
        XCTAssertThrowsError(try QwenVLModel(directory: untiedWithoutHead, backend: backend)) { error in
            guard case .missingTensor(_, let key)? = error as? CheckpointError else { return XCTFail("\(error)") }
            XCTAssertEqual(key, "lm_head.weight")
        }
        // A config that disagrees with the weights: the shape error names the stored key and its shard file.
        let wrongShape = try copy(Self.untied)
        try editJSON(wrongShape + "/config.json") { $0["intermediate_size"] = 25 }
        XCTAssertThrowsError(try QwenVLModel(directory: wrongShape, backend: backend)) { error in
            guard case .shapeMismatch(let file, let key, let expected, let actual)? = error as? CheckpointError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(key, "model.language_model.layers.0.mlp.gate_proj.weight")
            XCTAssertTrue(file.hasSuffix(".safetensors"), file)
            XCTAssertEqual(expected, [25, 8])
            XCTAssertEqual(actual, [24, 8])
        }
        // Config files.
        let noConfig = try copy(Self.tied)
        try FileManager.default.removeItem(atPath: noConfig + "/config.json")
        XCTAssertThrowsError(try QwenVLModel(directory: noConfig, backend: backend)) { error in
            XCTAssertEqual(error as? QwenModelError, .missingFile(path: noConfig + "/config.json"))
        }
        let badJSON = try copy(Self.tied)
        try Data("{\"hidden_size\": ".utf8).write(to: URL(fileURLWithPath: badJSON + "/config.json"))
        XCTAssertThrowsError(try QwenVLModel(directory: badJSON, backend: backend)) { error in
            guard case .invalidJSON(let file, _)? = error as? QwenModelError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, badJSON + "/config.json")
        }
        let wrongType = try copy(Self.tied)
        try editJSON(wrongType + "/config.json") { $0["num_hidden_layers"] = "two" }
        XCTAssertThrowsError(try QwenVLModel(directory: wrongType, backend: backend)) { error in
            guard case .invalidConfig(let file, let field, _)? = error as? QwenModelError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, wrongType + "/config.json")
            XCTAssertEqual(field, "num_hidden_layers")
        }
        // Prompt and image features that disagree.
        let model = try QwenParityModels.tied()
        XCTAssertThrowsError(try model.prefill(inputIDs: [151644, 151655, 151655], visionTokens: nil, grids: [],
                                               cache: model.makeCache()))
        XCTAssertThrowsError(try model.prefill(inputIDs: [151644, 999_999], visionTokens: nil, grids: [], cache: model.makeCache()))
    }

    func testRepetitionPenaltyMatchesTransformersProcessor() {
        var logits: [Float] = [2, -2, 0, 1, -1]
        LogitsProcessing.applyRepetitionPenalty(&logits, seen: [0, 1, 2, 1], penalty: 2)
        XCTAssertEqual(logits, [1, -4, 0, 1, -1])
        var unchanged: [Float] = [3, 1]
        LogitsProcessing.applyRepetitionPenalty(&unchanged, seen: [0, 1, 7], penalty: 1)
        XCTAssertEqual(unchanged, [3, 1])
        let (index, margin) = LogitsProcessing.argmax([1, 5, 5, 2])
        XCTAssertEqual(index, 1, "first maximum, like torch.argmax")
        XCTAssertEqual(margin, 0)
    }

    func testSamplingIsSeededAndHonoursTopKTopP() {
        let logits: [Float] = (0..<50).map { Float(($0 * 37) % 50) * 0.05 }
        var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42)
        let drawsA = (0..<20).map { _ in LogitsProcessing.sample(logits, temperature: 1, topK: 0, topP: 1, using: &a) }
        let drawsB = (0..<20).map { _ in LogitsProcessing.sample(logits, temperature: 1, topK: 0, topP: 1, using: &b) }
        XCTAssertEqual(drawsA, drawsB)
        XCTAssertGreaterThan(Set(drawsA).count, 3)
        var r = SeededGenerator(seed: 1)
        let best = LogitsProcessing.argmax(logits).index
        for _ in 0..<10 {
            XCTAssertEqual(LogitsProcessing.sample(logits, temperature: 0.1, topK: 1, topP: 0.001, using: &r), best)
            XCTAssertEqual(LogitsProcessing.sample(logits, temperature: 1, topK: 0, topP: 0.001, using: &r), best)
        }
        let topTwo = Set((0..<200).map { _ in LogitsProcessing.sample([0, 5, 4.9, 1], temperature: 1, topK: 2, topP: 1, using: &r) })
        XCTAssertEqual(topTwo, [1, 2])
    }

    func testDecodingStopsOnEosDeadlineAndCancellation() throws {
        let model = try QwenParityModels.tied()
        let ids = [151644, 8948, 198, 9707, 11, 1879, 0, 151645, 198, 151644, 77091, 198]
        func run(_ options: GenerationOptions, onToken: ((Int) -> Bool)? = nil, shouldContinue: (() -> Bool)? = nil)
            throws -> GenerationResult
        {
            try model.generate(inputIDs: ids, pixelValues: nil, grids: [], options: options, onToken: onToken,
                               shouldContinue: shouldContinue).result
        }
        let free = try run(GenerationOptions(maxNewTokens: 6, repetitionPenalty: 1.05))
        XCTAssertEqual(free.tokens.count, 6)
        XCTAssertEqual(free.stopReason, .maxNewTokens)
        let eos = try run(GenerationOptions(maxNewTokens: 6, eosTokenIDs: [free.tokens[2]], repetitionPenalty: 1.05))
        XCTAssertEqual(eos.tokens, Array(free.tokens.prefix(3)), "stops at the eos id and returns it")
        XCTAssertEqual(eos.stopReason, .eos)
        let late = try run(GenerationOptions(maxNewTokens: 6, deadline: Date(timeIntervalSinceNow: -1)))
        XCTAssertEqual(late.tokens, [])
        XCTAssertEqual(late.stopReason, .deadline)
        var streamed: [Int] = []
        let cancelled = try run(GenerationOptions(maxNewTokens: 6, repetitionPenalty: 1.05), onToken: {
            streamed.append($0)
            return streamed.count < 2
        })
        XCTAssertEqual(cancelled.tokens, Array(free.tokens.prefix(2)))
        XCTAssertEqual(streamed, cancelled.tokens)
        XCTAssertEqual(cancelled.stopReason, .cancelled)
        var polls = 0
        let stopped = try run(GenerationOptions(maxNewTokens: 6), shouldContinue: {
            polls += 1
            return polls <= 4
        })
        XCTAssertEqual(stopped.tokens.count, 4)
        XCTAssertEqual(stopped.stopReason, .cancelled)
    }
}

/// The fixture models, loaded once per test process.
enum QwenParityModels {
    static func tied() throws -> QwenVLModel { try QwenModelParityTests.model(QwenModelLoadingTests.tied) }
}
