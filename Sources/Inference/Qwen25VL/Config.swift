import Foundation

/// What went wrong loading a Qwen2.5-VL checkpoint directory or running the model, naming file, key or field.
public enum QwenModelError: Error, Equatable, CustomStringConvertible {
    case missingFile(path: String)
    case invalidJSON(file: String, message: String)
    case invalidConfig(file: String, field: String, message: String)
    case unsupportedDType(file: String, key: String, dtype: String)
    case invalidInput(String)
    case cancelled

    public var description: String {
        switch self {
        case .missingFile(let p): return "\(p): file not found"
        case .invalidJSON(let f, let m): return "\(f): invalid JSON: \(m)"
        case .invalidConfig(let f, let field, let m): return "\(f): field \(field): \(m)"
        case .unsupportedDType(let f, let k, let d): return "\(f): tensor \"\(k)\": unsupported dtype \(d)"
        case .invalidInput(let m): return "invalid input: \(m)"
        case .cancelled: return "generation cancelled"
        }
    }
}

/// The Qwen2.5-VL `config.json`: the language model (top level in transformers ≤4.49 files, `text_config` in newer
/// ones; transformers prefers `text_config`), the vision tower (`vision_config`) and the special token ids.
/// Absent fields take transformers' class defaults.
public struct QwenVLConfig: Codable, Sendable, Equatable {
    public var text: QwenTextConfig
    public var vision: QwenVisionConfig
    public var imageTokenID: Int
    public var videoTokenID: Int
    public var visionStartTokenID: Int
    public var visionEndTokenID: Int
    /// `eos_token_id` of config.json (used when generation_config.json is absent).
    public var eosTokenIDs: [Int]

    enum CodingKeys: String, CodingKey {
        case textConfig = "text_config", visionConfig = "vision_config"
        case imageTokenID = "image_token_id", videoTokenID = "video_token_id"
        case visionStartTokenID = "vision_start_token_id", visionEndTokenID = "vision_end_token_id"
        case eosTokenID = "eos_token_id"
    }

    public init(text: QwenTextConfig, vision: QwenVisionConfig, imageTokenID: Int = 151_655, videoTokenID: Int = 151_656,
                visionStartTokenID: Int = 151_652, visionEndTokenID: Int = 151_653, eosTokenIDs: [Int] = [151_645]) {
        self.text = text
        self.vision = vision
        self.imageTokenID = imageTokenID
        self.videoTokenID = videoTokenID
        self.visionStartTokenID = visionStartTokenID
        self.visionEndTokenID = visionEndTokenID
        self.eosTokenIDs = eosTokenIDs
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let topLevel = try QwenTextConfig.Partial(from: decoder)
        if let nested = try c.decodeIfPresent(QwenTextConfig.Partial.self, forKey: .textConfig) {
            text = QwenTextConfig(merging: [nested, topLevel])
        } else {
            text = QwenTextConfig(merging: [topLevel])
        }
        vision = try c.decodeIfPresent(QwenVisionConfig.self, forKey: .visionConfig) ?? QwenVisionConfig()
        imageTokenID = try c.decodeIfPresent(Int.self, forKey: .imageTokenID) ?? 151_655
        videoTokenID = try c.decodeIfPresent(Int.self, forKey: .videoTokenID) ?? 151_656
        visionStartTokenID = try c.decodeIfPresent(Int.self, forKey: .visionStartTokenID) ?? 151_652
        visionEndTokenID = try c.decodeIfPresent(Int.self, forKey: .visionEndTokenID) ?? 151_653
        eosTokenIDs = try c.decodeIfPresent(TokenIDList.self, forKey: .eosTokenID)?.ids ?? []
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(text, forKey: .textConfig)
        try c.encode(vision, forKey: .visionConfig)
        try c.encode(imageTokenID, forKey: .imageTokenID)
        try c.encode(videoTokenID, forKey: .videoTokenID)
        try c.encode(visionStartTokenID, forKey: .visionStartTokenID)
        try c.encode(visionEndTokenID, forKey: .visionEndTokenID)
        try c.encode(TokenIDList(ids: eosTokenIDs), forKey: .eosTokenID)
    }

    /// Reads and validates `config.json`.
    public init(contentsOf path: String) throws {
        self = try decodeJSONFile(QwenVLConfig.self, path: path)
        try validate(file: path)
    }

    /// Checks the relations the model code relies on (divisibility, GQA grouping, rope sections).
    public func validate(file: String) throws {
        func bad(_ field: String, _ message: String) -> QwenModelError {
            .invalidConfig(file: file, field: field, message: message)
        }
        let t = text
        guard t.hiddenSize > 0, t.numAttentionHeads > 0, t.hiddenSize % t.numAttentionHeads == 0 else {
            throw bad("hidden_size", "\(t.hiddenSize) not divisible by num_attention_heads \(t.numAttentionHeads)")
        }
        guard t.numKeyValueHeads > 0, t.numAttentionHeads % t.numKeyValueHeads == 0 else {
            throw bad("num_key_value_heads", "\(t.numKeyValueHeads) does not divide num_attention_heads \(t.numAttentionHeads)")
        }
        guard t.headDim % 2 == 0, t.mropeSection.reduce(0, +) * 2 == t.headDim, t.mropeSection.count == 3 else {
            throw bad("rope_scaling.mrope_section", "\(t.mropeSection) must be 3 sections summing to head_dim/2 = \(t.headDim / 2)")
        }
        guard t.vocabSize > 0, t.numHiddenLayers >= 0, t.intermediateSize > 0 else {
            throw bad("vocab_size", "vocab \(t.vocabSize), layers \(t.numHiddenLayers), intermediate \(t.intermediateSize)")
        }
        guard t.hiddenAct == "silu" else { throw bad("hidden_act", "\(t.hiddenAct) (only silu is supported)") }
        let v = vision
        guard v.hiddenSize > 0, v.numHeads > 0, v.hiddenSize % v.numHeads == 0, (v.hiddenSize / v.numHeads) % 4 == 0 else {
            throw bad("vision_config.hidden_size", "\(v.hiddenSize) with \(v.numHeads) heads (head_dim must be a multiple of 4)")
        }
        guard v.spatialMergeSize > 0, v.patchSize > 0, v.temporalPatchSize > 0, v.depth >= 0 else {
            throw bad("vision_config.patch_size", "patch \(v.patchSize), merge \(v.spatialMergeSize), temporal \(v.temporalPatchSize)")
        }
        guard v.outHiddenSize == t.hiddenSize else {
            throw bad("vision_config.out_hidden_size", "\(v.outHiddenSize) differs from the language hidden_size \(t.hiddenSize)")
        }
        guard v.hiddenAct == "silu" else { throw bad("vision_config.hidden_act", "\(v.hiddenAct) (only silu is supported)") }
    }
}

/// The Qwen2 language model settings (Qwen2_5_VLTextConfig).
public struct QwenTextConfig: Codable, Sendable, Equatable {
    public var vocabSize = 152_064
    public var hiddenSize = 8192
    public var intermediateSize = 29_568
    public var numHiddenLayers = 80
    public var numAttentionHeads = 64
    public var numKeyValueHeads = 8
    public var hiddenAct = "silu"
    public var rmsNormEps: Double = 1e-5
    public var ropeTheta: Double = 1_000_000
    /// Rotary channels per axis (temporal, height, width), contiguous chunks of head_dim / 2.
    public var mropeSection = [16, 24, 24]
    public var tieWordEmbeddings = false

    public var headDim: Int { hiddenSize / max(numAttentionHeads, 1) }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads", hiddenAct = "hidden_act", rmsNormEps = "rms_norm_eps"
        case ropeTheta = "rope_theta", ropeScaling = "rope_scaling", tieWordEmbeddings = "tie_word_embeddings"
    }

    struct RopeScaling: Codable {
        var mropeSection: [Int]?
        enum CodingKeys: String, CodingKey { case mropeSection = "mrope_section" }
    }

    /// The fields one JSON object sets (nil when absent), so a nested `text_config` can fall back to top-level ones.
    struct Partial: Decodable {
        var vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads, numKeyValueHeads: Int?
        var hiddenAct: String?
        var rmsNormEps, ropeTheta: Double?
        var mropeSection: [Int]?
        var tieWordEmbeddings: Bool?

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize)
            hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize)
            intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize)
            numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers)
            numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads)
            numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads)
            hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct)
            rmsNormEps = try c.decodeIfPresent(Double.self, forKey: .rmsNormEps)
            ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta)
            mropeSection = try c.decodeIfPresent(RopeScaling.self, forKey: .ropeScaling)?.mropeSection
            tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings)
        }
    }

    public init() {}

    public init(from decoder: Decoder) throws { self.init(merging: [try Partial(from: decoder)]) }

    /// Takes each field from the first partial that sets it, else the class default.
    init(merging parts: [Partial]) {
        func pick<T>(_ k: KeyPath<Partial, T?>) -> T? { parts.lazy.compactMap { $0[keyPath: k] }.first }
        vocabSize = pick(\.vocabSize) ?? vocabSize
        hiddenSize = pick(\.hiddenSize) ?? hiddenSize
        intermediateSize = pick(\.intermediateSize) ?? intermediateSize
        numHiddenLayers = pick(\.numHiddenLayers) ?? numHiddenLayers
        numAttentionHeads = pick(\.numAttentionHeads) ?? numAttentionHeads
        numKeyValueHeads = pick(\.numKeyValueHeads) ?? pick(\.numAttentionHeads) ?? numKeyValueHeads
        hiddenAct = pick(\.hiddenAct) ?? hiddenAct
        rmsNormEps = pick(\.rmsNormEps) ?? rmsNormEps
        ropeTheta = pick(\.ropeTheta) ?? ropeTheta
        mropeSection = pick(\.mropeSection) ?? mropeSection
        tieWordEmbeddings = pick(\.tieWordEmbeddings) ?? tieWordEmbeddings
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(numKeyValueHeads, forKey: .numKeyValueHeads)
        try c.encode(hiddenAct, forKey: .hiddenAct)
        try c.encode(rmsNormEps, forKey: .rmsNormEps)
        try c.encode(ropeTheta, forKey: .ropeTheta)
        try c.encode(RopeScaling(mropeSection: mropeSection), forKey: .ropeScaling)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
    }
}

/// The vision tower settings (Qwen2_5_VLVisionConfig); `in_chans` is the 4.49-era spelling of `in_channels`.
public struct QwenVisionConfig: Codable, Sendable, Equatable {
    public var depth = 32
    public var hiddenSize = 3584
    public var hiddenAct = "silu"
    public var intermediateSize = 3420
    public var numHeads = 16
    public var inChannels = 3
    public var patchSize = 14
    public var spatialMergeSize = 2
    public var temporalPatchSize = 2
    public var tokensPerSecond = 4
    /// Attention window side in pixels (112 → 4×4 merged tokens).
    public var windowSize = 112
    public var outHiddenSize = 3584
    public var fullattBlockIndexes = [7, 15, 23, 31]

    public var headDim: Int { hiddenSize / max(numHeads, 1) }

    enum CodingKeys: String, CodingKey {
        case depth, hiddenSize = "hidden_size", hiddenAct = "hidden_act", intermediateSize = "intermediate_size"
        case numHeads = "num_heads", inChannels = "in_channels", inChans = "in_chans", patchSize = "patch_size"
        case spatialMergeSize = "spatial_merge_size", temporalPatchSize = "temporal_patch_size"
        case tokensPerSecond = "tokens_per_second", windowSize = "window_size", outHiddenSize = "out_hidden_size"
        case fullattBlockIndexes = "fullatt_block_indexes"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        depth = try c.decodeIfPresent(Int.self, forKey: .depth) ?? depth
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? hiddenSize
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? hiddenAct
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? intermediateSize
        numHeads = try c.decodeIfPresent(Int.self, forKey: .numHeads) ?? numHeads
        inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels)
            ?? c.decodeIfPresent(Int.self, forKey: .inChans) ?? inChannels
        patchSize = try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? patchSize
        spatialMergeSize = try c.decodeIfPresent(Int.self, forKey: .spatialMergeSize) ?? spatialMergeSize
        temporalPatchSize = try c.decodeIfPresent(Int.self, forKey: .temporalPatchSize) ?? temporalPatchSize
        tokensPerSecond = try c.decodeIfPresent(Int.self, forKey: .tokensPerSecond) ?? tokensPerSecond
        windowSize = try c.decodeIfPresent(Int.self, forKey: .windowSize) ?? windowSize
        outHiddenSize = try c.decodeIfPresent(Int.self, forKey: .outHiddenSize) ?? outHiddenSize
        fullattBlockIndexes = try c.decodeIfPresent([Int].self, forKey: .fullattBlockIndexes) ?? fullattBlockIndexes
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(depth, forKey: .depth)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(hiddenAct, forKey: .hiddenAct)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(numHeads, forKey: .numHeads)
        try c.encode(inChannels, forKey: .inChannels)
        try c.encode(patchSize, forKey: .patchSize)
        try c.encode(spatialMergeSize, forKey: .spatialMergeSize)
        try c.encode(temporalPatchSize, forKey: .temporalPatchSize)
        try c.encode(tokensPerSecond, forKey: .tokensPerSecond)
        try c.encode(windowSize, forKey: .windowSize)
        try c.encode(outHiddenSize, forKey: .outHiddenSize)
        try c.encode(fullattBlockIndexes, forKey: .fullattBlockIndexes)
    }
}

/// `generation_config.json` as transformers' `generate` reads it; absent fields take GenerationConfig defaults.
public struct QwenGenerationConfig: Codable, Sendable, Equatable {
    public var eosTokenIDs: [Int] = []
    public var padTokenID: Int?
    public var bosTokenID: Int?
    public var doSample = false
    public var temperature: Double = 1.0
    public var topK = 50
    public var topP: Double = 1.0
    /// Applied by `generate` even when decoding greedily (1.05 in the Qwen2.5-VL releases).
    public var repetitionPenalty: Double = 1.0
    public var maxNewTokens: Int?

    enum CodingKeys: String, CodingKey {
        case eosTokenID = "eos_token_id", padTokenID = "pad_token_id", bosTokenID = "bos_token_id"
        case doSample = "do_sample", temperature, topK = "top_k", topP = "top_p"
        case repetitionPenalty = "repetition_penalty", maxNewTokens = "max_new_tokens"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        eosTokenIDs = try c.decodeIfPresent(TokenIDList.self, forKey: .eosTokenID)?.ids ?? []
        padTokenID = try c.decodeIfPresent(Int.self, forKey: .padTokenID)
        bosTokenID = try c.decodeIfPresent(Int.self, forKey: .bosTokenID)
        doSample = try c.decodeIfPresent(Bool.self, forKey: .doSample) ?? doSample
        temperature = try c.decodeIfPresent(Double.self, forKey: .temperature) ?? temperature
        topK = try c.decodeIfPresent(Int.self, forKey: .topK) ?? topK
        topP = try c.decodeIfPresent(Double.self, forKey: .topP) ?? topP
        repetitionPenalty = try c.decodeIfPresent(Double.self, forKey: .repetitionPenalty) ?? repetitionPenalty
        maxNewTokens = try c.decodeIfPresent(Int.self, forKey: .maxNewTokens)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(TokenIDList(ids: eosTokenIDs), forKey: .eosTokenID)
        try c.encodeIfPresent(padTokenID, forKey: .padTokenID)
        try c.encodeIfPresent(bosTokenID, forKey: .bosTokenID)
        try c.encode(doSample, forKey: .doSample)
        try c.encode(temperature, forKey: .temperature)
        try c.encode(topK, forKey: .topK)
        try c.encode(topP, forKey: .topP)
        try c.encode(repetitionPenalty, forKey: .repetitionPenalty)
        try c.encodeIfPresent(maxNewTokens, forKey: .maxNewTokens)
    }

    /// Reads `generation_config.json` and checks the values `generate` would reject.
    public init(contentsOf path: String) throws {
        self = try decodeJSONFile(QwenGenerationConfig.self, path: path)
        guard repetitionPenalty > 0 else {
            throw QwenModelError.invalidConfig(file: path, field: "repetition_penalty", message: "\(repetitionPenalty) must be > 0")
        }
        guard temperature > 0 || !doSample else {
            throw QwenModelError.invalidConfig(file: path, field: "temperature", message: "\(temperature) must be > 0 when sampling")
        }
        guard topP > 0, topP <= 1 else {
            throw QwenModelError.invalidConfig(file: path, field: "top_p", message: "\(topP) must be in (0, 1]")
        }
    }
}

/// An `eos_token_id`-style field: one integer or a list of them.
struct TokenIDList: Codable {
    var ids: [Int]
    init(ids: [Int]) { self.ids = ids }
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let one = try? c.decode(Int.self) { ids = [one] } else { ids = try c.decode([Int].self) }
    }
    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        if ids.count == 1 { try c.encode(ids[0]) } else { try c.encode(ids) }
    }
}

func decodeJSONFile<T: Decodable>(_ type: T.Type, path: String) throws -> T {
    guard let data = FileManager.default.contents(atPath: path) else { throw QwenModelError.missingFile(path: path) }
    do {
        return try JSONDecoder().decode(T.self, from: data)
    } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
        let field = context.codingPath.map(\.stringValue).joined(separator: ".")
        throw QwenModelError.invalidConfig(file: path, field: field, message: context.debugDescription)
    } catch let DecodingError.dataCorrupted(context) {
        throw QwenModelError.invalidJSON(file: path, message: context.underlyingError.map { "\($0)" } ?? context.debugDescription)
    } catch {
        throw QwenModelError.invalidJSON(file: path, message: "\(error)")
    }
}
