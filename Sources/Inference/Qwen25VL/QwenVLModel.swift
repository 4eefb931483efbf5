import Checkpoint
import Compute
import Foundation

/// A Qwen2.5-VL checkpoint directory (Qwen2.5-VL-3B/7B, Seg-Zero-7B, VisionReasoner-7B) loaded for inference:
/// config.json, generation_config.json, preprocessor_config.json and the (sharded) safetensors, weights kept in
/// their stored dtype and memory-mapped.
public final class QwenVLModel {
    public let directory: String
    public let config: QwenVLConfig
    public let generationConfig: QwenGenerationConfig
    public let imageProcessor: QwenImageProcessor
    public let weights: QwenCanonicalWeights
    public let vision: Vision.Tower
    public let language: Language.Model
    public let backend: ComputeBackend

    /// Loads `directory`; every missing file, malformed field and missing or misshapen tensor is an error that
    /// names the file and key.
    public init(directory: String, backend: ComputeBackend) throws {
        self.directory = directory
        self.backend = backend
        let configPath = directory + "/config.json"
        config = try QwenVLConfig(contentsOf: configPath)
        let generationPath = directory + "/generation_config.json"
        if FileManager.default.fileExists(atPath: generationPath) {
            var g = try QwenGenerationConfig(contentsOf: generationPath)
            if g.eosTokenIDs.isEmpty { g.eosTokenIDs = config.eosTokenIDs }
            generationConfig = g
        } else {
            var g = QwenGenerationConfig()
            g.eosTokenIDs = config.eosTokenIDs
            generationConfig = g
        }
        let processorPath = directory + "/preprocessor_config.json"
        if FileManager.default.fileExists(atPath: processorPath) {
            imageProcessor = QwenImageProcessor(config: try QwenImageProcessorConfig(contentsOf: processorPath))
        } else {
            imageProcessor = QwenImageProcessor()
        }
        weights = QwenCanonicalWeights(try Checkpoint.open(path: directory))
        let root = QwenParameters(weights.scoped(""))
        vision = try Vision.Tower(root.scoped("visual"), config: config.vision)
        language = try Language.Model(root.scoped("model"), head: root, config: config.text)
    }

    /// An empty KV cache sized for this model.
    public func makeCache() -> Language.KVCache {
        let threads = (backend as? BLASBackend)?.threads ?? ProcessInfo.processInfo.activeProcessorCount
        return Language.KVCache(
            layers: config.text.numHiddenLayers, kvHeads: config.text.numKeyValueHeads, headDim: config.text.headDim,
            threads: threads)
    }

    /// Preprocessed images stacked as the vision tower's input: pixel_values [Σ patches, row length] and grids.
    public static func stack(_ images: [QwenPixelValues]) throws -> (pixelValues: Tensor, grids: [QwenGrid]) {
        var values: [Float] = []
        var grids: [QwenGrid] = []
        for image in images {
            guard image.rowLength == images[0].rowLength else {
                throw QwenModelError.invalidInput("images with different patch row lengths")
            }
            values += image.values
            grids.append(QwenGrid(t: image.gridT, h: image.gridH, w: image.gridW))
        }
        let rowLength = images.first?.rowLength ?? 0
        return (try Tensor(values, shape: [values.count / max(rowLength, 1), rowLength]), grids)
    }

    /// The vision tower on pixel_values of one or more images: [Σ merged tokens, hidden].
    public func encodeImages(
        pixelValues: Tensor, grids: [QwenGrid], blockObserver: ((Int, Tensor) throws -> Void)? = nil
    ) throws -> Tensor {
        try vision(pixelValues: pixelValues, grids: grids, backend: backend, blockObserver: blockObserver)
    }

    /// M-RoPE position ids (3 × L) and the rope delta for a prompt with these image grids.
    public func positionIDs(inputIDs: [Int], grids: [QwenGrid]) throws -> (positions: [[Int]], ropeDelta: Int) {
        try QwenVisionGeometry.ropeIndex(
            inputIDs: inputIDs, imageGrids: grids, imageTokenID: config.imageTokenID,
            visionStartTokenID: config.visionStartTokenID, mergeSize: config.vision.spatialMergeSize)
    }

    /// Runs the prompt through the language model (image-pad rows replaced, in order, by `visionTokens`) into
    /// `cache`: an empty one, or one that already holds this prompt's first `cache.count` tokens (a prefix kept
    /// per frame), which are then skipped. Returns the last position's logits and the rope delta decoding needs.
    public func prefill(
        inputIDs: [Int], visionTokens: Tensor?, grids: [QwenGrid], cache: Language.KVCache,
        layerObserver: ((Int, Tensor) throws -> Void)? = nil
    ) throws -> (logits: [Float], ropeDelta: Int) {
        guard !inputIDs.isEmpty else { throw QwenModelError.invalidInput("empty prompt") }
        let start = cache.count
        guard start < inputIDs.count else {
            throw QwenModelError.invalidInput("the prompt (\(inputIDs.count) tokens) must extend the cached prefix (\(start) tokens)")
        }
        let hidden = try language.embed(Array(inputIDs[start...]))
        let imageRows = inputIDs.indices.filter { inputIDs[$0] == config.imageTokenID }
        let available = visionTokens?.shape[0] ?? 0
        guard imageRows.count == available else {
            throw QwenModelError.invalidInput(
                "the prompt has \(imageRows.count) image tokens but the images give \(available) features")
        }
        if let v = visionTokens {
            let h = config.text.hiddenSize
            guard v.rank == 2, v.shape[1] == h else {
                throw QwenModelError.invalidInput("vision tokens \(v.shape), expected [\(imageRows.count), \(h)]")
            }
            for (i, row) in imageRows.enumerated() where row >= start {
                (hidden.floats + (row - start) * h).update(from: v.floats + i * h, count: h)
            }
        }
        let (positions, delta) = try positionIDs(inputIDs: inputIDs, grids: grids)
        let logits = try language.forward(
            hidden, positions: positions.map { Array($0[start...]) }, cache: cache, backend: backend,
            layerObserver: layerObserver)
        return (logits, delta)
    }

    /// Feeds one generated token at the next cache position (position ids n + rope delta on all three axes).
    public func decodeStep(token: Int, cache: Language.KVCache, ropeDelta: Int) throws -> [Float] {
        let p = cache.count + ropeDelta
        return try language.forward(
            try language.embed([token]), positions: [[p], [p], [p]], cache: cache, backend: backend)
    }

    /// Decodes after `prefill`: chooses tokens from `logits` (repetition penalty over `promptIDs` and the tokens so
    /// far), feeding each back until eos, `maxNewTokens`, the deadline or a cancellation.
    public func decode(
        promptIDs: [Int], logits: [Float], ropeDelta: Int, cache: Language.KVCache, options: GenerationOptions,
        onToken: ((Int) -> Bool)? = nil, shouldContinue: (() -> Bool)? = nil
    ) throws -> GenerationResult {
        try decodeLoop(
            promptIDs: promptIDs, firstLogits: logits, options: options, onToken: onToken,
            shouldContinue: shouldContinue
        ) { token in
            try decodeStep(token: token, cache: cache, ropeDelta: ropeDelta)
        }
    }

    /// Timings of one `generate` call, in seconds.
    public struct Timing: Sendable {
        public var vision: Double = 0
        public var prefill: Double = 0
        public var decode: Double = 0
        public var decodeSteps = 0
    }

    /// Vision tower, prefill and decoding for a tokenized prompt whose `<|image_pad|>` runs match `images`.
    public func generate(
        inputIDs: [Int], images: [QwenPixelValues], options: GenerationOptions,
        onToken: ((Int) -> Bool)? = nil, shouldContinue: (() -> Bool)? = nil
    ) throws -> (result: GenerationResult, timing: Timing) {
        if images.isEmpty {
            return try generate(inputIDs: inputIDs, pixelValues: nil, grids: [], options: options, onToken: onToken,
                                shouldContinue: shouldContinue)
        }
        let stacked = try Self.stack(images)
        return try generate(inputIDs: inputIDs, pixelValues: stacked.pixelValues, grids: stacked.grids,
                            options: options, onToken: onToken, shouldContinue: shouldContinue)
    }

    /// As above, with pixel_values [Σ patches, row length] already stacked (nil: a text-only prompt).
    public func generate(
        inputIDs: [Int], pixelValues: Tensor?, grids: [QwenGrid], options: GenerationOptions,
        onToken: ((Int) -> Bool)? = nil, shouldContinue: (() -> Bool)? = nil
    ) throws -> (result: GenerationResult, timing: Timing) {
        var timing = Timing()
        var clock = Date()
        func lap() -> Double {
            let now = Date()
            defer { clock = now }
            return now.timeIntervalSince(clock)
        }
        let visionTokens = try pixelValues.map { try encodeImages(pixelValues: $0, grids: grids) }
        timing.vision = lap()
        let cache = makeCache()
        let (logits, delta) = try prefill(inputIDs: inputIDs, visionTokens: visionTokens, grids: grids, cache: cache)
        timing.prefill = lap()
        let result = try decodeLoop(
            promptIDs: inputIDs, firstLogits: logits, options: options, onToken: onToken,
            shouldContinue: shouldContinue
        ) { token in
            timing.decodeSteps += 1
            return try decodeStep(token: token, cache: cache, ropeDelta: delta)
        }
        timing.decode = lap()
        return (result, timing)
    }
}
