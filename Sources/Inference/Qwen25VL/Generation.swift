import Foundation

/// How tokens are chosen and when decoding stops; the defaults mirror transformers' `generate` for a given
/// generation_config.json (`init(config:)`).
public struct GenerationOptions: Sendable {
    /// nil: greedy (argmax), as Seg-Zero and VisionReasoner decode.
    public var sampling: Sampling?
    public var maxNewTokens: Int
    public var eosTokenIDs: Set<Int>
    /// transformers' RepetitionPenaltyLogitsProcessor (1 = off); applied under greedy decoding too.
    public var repetitionPenalty: Float
    /// Stop (with `.deadline`) once this instant has passed; checked before each decoding step.
    public var deadline: Date?

    public struct Sampling: Sendable, Equatable {
        public var temperature: Float
        public var topK: Int
        public var topP: Float
        public var seed: UInt64

        public init(temperature: Float = 1, topK: Int = 50, topP: Float = 1, seed: UInt64 = 0) {
            self.temperature = temperature
            self.topK = topK
            self.topP = topP
            self.seed = seed
        }
    }

    public init(sampling: Sampling? = nil, maxNewTokens: Int = 1024, eosTokenIDs: Set<Int> = [],
                repetitionPenalty: Float = 1, deadline: Date? = nil) {
        self.sampling = sampling
        self.maxNewTokens = maxNewTokens
        self.eosTokenIDs = eosTokenIDs
        self.repetitionPenalty = repetitionPenalty
        self.deadline = deadline
    }

    /// The checkpoint's settings: eos ids, repetition penalty, and sampling when `do_sample` is set (`greedy`
    /// forces argmax, like `generate(do_sample=False)`, but keeps the repetition penalty).
    public init(config: QwenGenerationConfig, greedy: Bool, maxNewTokens: Int, seed: UInt64 = 0) {
        self.init(
            sampling: greedy || !config.doSample
                ? nil
                : Sampling(temperature: Float(config.temperature), topK: config.topK, topP: Float(config.topP), seed: seed),
            maxNewTokens: maxNewTokens, eosTokenIDs: Set(config.eosTokenIDs),
            repetitionPenalty: Float(config.repetitionPenalty))
    }
}

/// Why decoding ended.
public enum StopReason: String, Sendable, Codable {
    case eos, maxNewTokens = "max_new_tokens", deadline, cancelled
}

/// The generated tokens (the eos token included when it ended the sequence, as transformers returns it) and, for
/// each step, the processed logits' top-1 minus top-2 (how decisive the choice was).
public struct GenerationResult: Sendable {
    public var tokens: [Int]
    public var margins: [Float]
    public var stopReason: StopReason
}

/// Logits processing as transformers applies it, in its order: repetition penalty, then (sampling only)
/// temperature, top-k, top-p.
public enum LogitsProcessing {
    /// RepetitionPenaltyLogitsProcessor: every distinct token seen so far (prompt included) has its logit divided by
    /// `penalty` when positive and multiplied when negative.
    public static func applyRepetitionPenalty(_ logits: inout [Float], seen: Set<Int>, penalty: Float) {
        guard penalty != 1 else { return }
        for id in seen where id >= 0 && id < logits.count {
            let s = logits[id]
            logits[id] = s < 0 ? s * penalty : s / penalty
        }
    }

    /// Index of the largest logit (the first on ties, like `torch.argmax`) and its margin over the runner-up.
    public static func argmax(_ logits: [Float]) -> (index: Int, margin: Float) {
        var best = 0, bestValue = -Float.infinity, second = -Float.infinity
        for (i, v) in logits.enumerated() {
            if v > bestValue {
                second = bestValue
                bestValue = v
                best = i
            } else if v > second {
                second = v
            }
        }
        return (best, bestValue - second)
    }

    /// TemperatureLogitsWarper, TopKLogitsWarper and TopPLogitsWarper (min_tokens_to_keep 1), then softmax and one
    /// draw from `rng`.
    public static func sample<R: RandomNumberGenerator>(
        _ logits: [Float], temperature: Float, topK: Int, topP: Float, using rng: inout R
    ) -> Int {
        var scores = logits.map { $0 / temperature }
        if topK > 0, topK < scores.count {
            let kth = scores.sorted(by: >)[topK - 1]
            for i in scores.indices where scores[i] < kth { scores[i] = -.infinity }
        }
        if topP < 1 {
            let order = scores.indices.sorted { scores[$0] < scores[$1] }
            let m = scores.max() ?? 0
            let exps = order.map { Foundation.exp(Double(scores[$0] - m)) }
            let total = exps.reduce(0, +)
            var cumulative = 0.0
            for (rank, i) in order.enumerated() where rank < order.count - 1 {
                cumulative += exps[rank] / total
                if cumulative <= Double(1 - topP) { scores[i] = -.infinity }
            }
        }
        let m = scores.max() ?? 0
        let weights = scores.map { Foundation.exp(Double($0 - m)) }
        let total = weights.reduce(0, +)
        var u = Double.random(in: 0..<1, using: &rng) * total
        for (i, w) in weights.enumerated() where w > 0 {
            u -= w
            if u < 0 { return i }
        }
        return weights.lastIndex { $0 > 0 } ?? 0
    }
}

/// A small seeded generator (SplitMix64) so sampled runs are reproducible.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The decoding loop, independent of the model: `step(token)` feeds one token and returns the next logits.
///
/// `onToken` streams each chosen token and may return false to cancel; `shouldContinue` is polled before each
/// step (cancellation from another thread).
func decodeLoop(
    promptIDs: [Int], firstLogits: [Float], options: GenerationOptions,
    onToken: ((Int) -> Bool)?, shouldContinue: (() -> Bool)?,
    step: (Int) throws -> [Float]
) throws -> GenerationResult {
    var seen = Set(promptIDs)
    var logits = firstLogits
    var tokens: [Int] = []
    var margins: [Float] = []
    var rng = SeededGenerator(seed: options.sampling?.seed ?? 0)
    while tokens.count < options.maxNewTokens {
        if let deadline = options.deadline, Date() >= deadline {
            return GenerationResult(tokens: tokens, margins: margins, stopReason: .deadline)
        }
        if let shouldContinue, !shouldContinue() {
            return GenerationResult(tokens: tokens, margins: margins, stopReason: .cancelled)
        }
        LogitsProcessing.applyRepetitionPenalty(&logits, seen: seen, penalty: options.repetitionPenalty)
        let (best, margin) = LogitsProcessing.argmax(logits)
        let token: Int
        if let s = options.sampling {
            token = LogitsProcessing.sample(logits, temperature: s.temperature, topK: s.topK, topP: s.topP, using: &rng)
        } else {
            token = best
        }
        tokens.append(token)
        margins.append(margin)
        seen.insert(token)
        if let onToken, !onToken(token) {
            return GenerationResult(tokens: tokens, margins: margins, stopReason: .cancelled)
        }
        if options.eosTokenIDs.contains(token) {
            return GenerationResult(tokens: tokens, margins: margins, stopReason: .eos)
        }
        if tokens.count >= options.maxNewTokens { break }
        logits = try step(token)
    }
    return GenerationResult(tokens: tokens, margins: margins, stopReason: .maxNewTokens)
}
