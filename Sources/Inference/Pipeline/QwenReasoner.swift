import Compute
import Foundation
import Imaging

/// The `Reasoner` of the Seg-Zero pipeline on a Qwen2.5-VL checkpoint: the chat template with one image,
/// greedy decoding with the checkpoint's generation_config (its repetition penalty included, as transformers'
/// `generate(do_sample=False)` applies it), and the answer decoded without special tokens, as the reference
/// scripts' `batch_decode(..., skip_special_tokens=True)`.
///
/// Per frame (bounded, least recently used first) it keeps the vision tower's output and the KV cache of the
/// prompt prefix every question shares (system turn, user turn up to and including the image), so a further
/// question about the same frame starts at its own text.
public final class QwenReasoner: Reasoner {
    public let model: QwenVLModel
    public let tokenizer: QwenTokenizer
    public let name: String
    public let visionCache: FrameCache<FrameState>
    public var cacheHits: Int { visionCache.hits }

    /// What is kept for one frame: the vision tokens and, once a question has been asked, the prefix KV cache.
    public final class FrameState: @unchecked Sendable {
        public let vision: Tensor
        private let lock = NSLock()
        private var prefixIDs: [Int] = []
        private var prefixKV: Language.KVCache?

        init(vision: Tensor) { self.vision = vision }

        /// A private copy of the stored prefix cache when `ids` starts with the stored prefix.
        func prefix(for ids: [Int]) throws -> Language.KVCache? {
            lock.lock()
            defer { lock.unlock() }
            guard let kv = prefixKV, !prefixIDs.isEmpty, ids.count > prefixIDs.count,
                  ids[0..<prefixIDs.count].elementsEqual(prefixIDs) else { return nil }
            return try kv.copy()
        }

        func store(prefixIDs ids: [Int], cache: Language.KVCache) {
            lock.lock()
            prefixIDs = ids
            prefixKV = cache
            lock.unlock()
        }
    }

    public init(model: QwenVLModel, tokenizer: QwenTokenizer, name: String, cacheFrames: Int = 2) {
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        visionCache = FrameCache(capacity: cacheFrames)
    }

    /// Loads the checkpoint directory (config, weights, tokenizer, processor and generation configs).
    public convenience init(directory: String, backend: ComputeBackend, cacheFrames: Int = 2) throws {
        let model = try QwenVLModel(directory: directory, backend: backend)
        try self.init(model: model, tokenizer: QwenTokenizer(directory: directory),
                      name: URL(fileURLWithPath: directory).lastPathComponent, cacheFrames: cacheFrames)
    }

    public func reason(image: RGBImage, prompt: String, frame: FrameKey?, maxNewTokens: Int,
                       shouldContinue: @escaping () -> Bool) throws -> ReasonerOutput {
        let clock = ContinuousClock()
        var t = clock.now
        func lap() -> Double {
            let now = clock.now
            defer { t = now }
            let d = now - t
            return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
        }
        let pixels = try model.imageProcessor.preprocess(image)
        let imageTokens = ChatTemplate.imageTokenCount(gridT: pixels.gridT, gridH: pixels.gridH, gridW: pixels.gridW,
                                                       mergeSize: model.config.vision.spatialMergeSize)
        let ids = try ChatTemplate.qwen25VL(userText: prompt, imageTokens: imageTokens, tokenizer: tokenizer).map { Int($0) }
        let stacked = try QwenVLModel.stack([pixels])
        let preprocessMs = lap()
        let encode = { FrameState(vision: try self.model.encodeImages(pixelValues: stacked.pixelValues, grids: stacked.grids)) }
        let state: (value: FrameState, hit: Bool)
        if let frame {
            state = try visionCache.value(for: frame, make: encode)
        } else {
            state = (try encode(), false)
        }
        let visionMs = lap()
        guard shouldContinue() else { throw ReasoningSegmentationError.cancelled }
        // The shared prefix ends with the (last) <|vision_end|>; what follows is the question.
        let prefixLength = (ids.lastIndex(of: model.config.visionEndTokenID) ?? -1) + 1
        let keepPrefix = frame != nil && prefixLength > 0 && prefixLength < ids.count
        let kept = keepPrefix ? try state.value.prefix(for: ids) : nil
        let cache = kept ?? model.makeCache()
        let (logits, delta) = try model.prefill(inputIDs: ids, visionTokens: state.value.vision, grids: stacked.grids, cache: cache)
        if keepPrefix && kept == nil {
            // One prefill of the whole prompt; its first positions are the prefix every question shares.
            state.value.store(prefixIDs: Array(ids[..<prefixLength]), cache: try cache.copy(positions: prefixLength))
        }
        let prefixHit = kept != nil
        let prefillMs = lap()
        let options = GenerationOptions(config: model.generationConfig, greedy: true, maxNewTokens: maxNewTokens)
        let result = try decodeLoop(promptIDs: ids, firstLogits: logits, options: options, onToken: nil,
                                    shouldContinue: shouldContinue) { token in
            try self.model.decodeStep(token: token, cache: cache, ropeDelta: delta)
        }
        if result.stopReason == .cancelled || result.stopReason == .deadline { throw ReasoningSegmentationError.cancelled }
        let text = tokenizer.decode(result.tokens.map { Int32($0) }, skipSpecialTokens: true)
        var out = ReasonerOutput(text: text, promptTokens: ids.count, generatedTokens: result.tokens.count)
        out.preprocessMs = preprocessMs
        out.visionMs = visionMs
        out.prefillMs = prefillMs
        out.decodeMs = lap()
        out.visionCacheHit = state.hit
        out.prefixCacheHit = prefixHit
        return out
    }
}
