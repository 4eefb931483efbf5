import Checkpoint
import Foundation

/// SAM2 architecture hyper-parameters (the image-mode part of the official yaml configs).
///
/// Published sizes are recognized from a checkpoint's tensor shapes (`init(weights:)`); anything else needs an
/// explicit config. sam2 and sam2.1 share these values (they differ only in weights and video-only modules).
public struct SAM2Config: Sendable, Equatable, Codable {
    public var embedDim: Int
    public var numHeads: Int
    public var stages: [Int]
    public var globalAttentionBlocks: [Int]
    public var windowSpec: [Int]
    public var positionBackground: [Int]
    public var modelDim: Int
    public var imageSize: Int = 1024
    /// Dynamic multimask via stability (set by `build_sam2` for both generations).
    public var stabilityDelta: Float = 0.05
    public var stabilityThreshold: Float = 0.98

    public init(embedDim: Int, numHeads: Int, stages: [Int], globalAttentionBlocks: [Int], windowSpec: [Int],
                positionBackground: [Int], modelDim: Int = 256) {
        self.embedDim = embedDim
        self.numHeads = numHeads
        self.stages = stages
        self.globalAttentionBlocks = globalAttentionBlocks
        self.windowSpec = windowSpec
        self.positionBackground = positionBackground
        self.modelDim = modelDim
    }

    public static let tiny = SAM2Config(embedDim: 96, numHeads: 1, stages: [1, 2, 7, 2], globalAttentionBlocks: [5, 7, 9],
                                        windowSpec: [8, 4, 14, 7], positionBackground: [7, 7])
    public static let small = SAM2Config(embedDim: 96, numHeads: 1, stages: [1, 2, 11, 2], globalAttentionBlocks: [7, 10, 13],
                                         windowSpec: [8, 4, 14, 7], positionBackground: [7, 7])
    public static let basePlus = SAM2Config(embedDim: 112, numHeads: 2, stages: [2, 3, 16, 3], globalAttentionBlocks: [12, 16, 20],
                                            windowSpec: [8, 4, 14, 7], positionBackground: [14, 14])
    public static let large = SAM2Config(embedDim: 144, numHeads: 2, stages: [2, 6, 36, 4], globalAttentionBlocks: [23, 33, 43],
                                         windowSpec: [8, 4, 16, 8], positionBackground: [7, 7])

    /// The published size named `t`, `s`, `b+` or `l` (also `tiny`, `small`, `base_plus`, `large`).
    public static func named(_ name: String) -> SAM2Config? {
        switch name.lowercased() {
        case "t", "tiny", "hiera_t": return .tiny
        case "s", "small", "hiera_s": return .small
        case "b+", "base_plus", "base-plus", "baseplus", "hiera_b+": return .basePlus
        case "l", "large", "hiera_l": return .large
        default: return nil
        }
    }

    public var depth: Int { stages.reduce(0, +) }
    /// Index of the last block of each stage.
    public var stageEnds: [Int] { (1...stages.count).map { stages.prefix($0).reduce(0, +) - 1 } }
    /// Blocks that pool queries (the first block of stages 2-4).
    public var queryPoolBlocks: [Int] { stageEnds.dropLast().map { $0 + 1 } }

    /// Recognizes a published size from the checkpoint's shapes (embed dim, block count, stage transitions).
    public init(weights: SAM2Weights) throws {
        let trunk = weights.scoped("image_encoder.trunk")
        let pos = try trunk.info("pos_embed")
        guard pos.count == 4 else { throw SAM2Error.config("image_encoder.trunk.pos_embed has shape \(pos), expected [1, C, h, w]") }
        let stages = try Self.stages(weights: weights)
        for candidate in [SAM2Config.tiny, .small, .basePlus, .large] where candidate.embedDim == pos[1] && candidate.stages == stages {
            var c = candidate
            c.modelDim = try weights.scoped("image_encoder.neck.convs.0.conv").info("weight").first ?? 256
            self = c
            return
        }
        throw SAM2Error.config("checkpoint \(weights.path) has embed dim \(pos[1]) and stages \(stages), which match no published SAM2 size; pass the size explicitly")
    }

    /// Blocks per stage, read from the checkpoint (stage-transition blocks carry a `proj` linear).
    static func stages(weights: SAM2Weights) throws -> [Int] {
        let trunk = weights.scoped("image_encoder.trunk")
        var depth = 0
        while trunk.contains("blocks.\(depth).norm1.weight") { depth += 1 }
        guard depth > 0 else { throw SAM2Error.config("no image_encoder.trunk.blocks.* in \(weights.path)") }
        var stages: [Int] = []
        var count = 0
        for i in 0..<depth {
            if i > 0, trunk.contains("blocks.\(i).proj.weight") {
                stages.append(count)
                count = 0
            }
            count += 1
        }
        stages.append(count)
        return stages
    }
}

extension SAM2Config {
    /// An architecture in the official config's names, as a JSON object: `embed_dim`, `num_heads`, `stages`,
    /// `global_att_blocks`, `window_spec`, `window_pos_embed_bkg_spatial_size` (or `bkg`), `d_model` (default 256)
    /// and `image_size` (default 1024), at the top level or under `config` (what tools/sam2/make_fixtures.py and
    /// the toy trainer write). `source` names the file in errors.
    public init(officialJSON data: Data, source: String) throws {
        guard let top = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw SAM2Error.config("\(source): not a JSON object")
        }
        let c = top["config"] as? [String: Any] ?? top
        func ints(_ key: String) throws -> [Int] {
            guard let v = c[key] as? [Int], !v.isEmpty else { throw SAM2Error.config("\(source): \(key) must be a list of integers") }
            return v
        }
        func int(_ key: String, default value: Int? = nil) throws -> Int {
            guard let v = c[key] else {
                if let value { return value }
                throw SAM2Error.config("\(source): \(key) is missing")
            }
            guard let n = v as? Int, n > 0 else { throw SAM2Error.config("\(source): \(key) must be a positive integer") }
            return n
        }
        let bkg = try c["bkg"] != nil ? ints("bkg") : ints("window_pos_embed_bkg_spatial_size")
        self.init(embedDim: try int("embed_dim"), numHeads: try int("num_heads"), stages: try ints("stages"),
                  globalAttentionBlocks: c["global_att_blocks"] == nil ? [] : try ints("global_att_blocks"),
                  windowSpec: try ints("window_spec"), positionBackground: bkg, modelDim: try int("d_model", default: 256))
        imageSize = try int("image_size", default: 1024)
        try validate(source: source)
    }

    /// Shape rules the official model also needs: four stages and window sizes, a 2-D background, an input size
    /// whose stride-4 grid halves three times and tiles the first stage's window position embedding, a decoder
    /// width divisible by its 8 heads.
    public func validate(source: String) throws {
        guard stages.count == 4, windowSpec.count == 4, positionBackground.count == 2 else {
            throw SAM2Error.config("\(source): stages and window_spec need 4 entries, the background size 2")
        }
        guard stages.allSatisfy({ $0 > 0 }), windowSpec.allSatisfy({ $0 > 0 }), positionBackground.allSatisfy({ $0 > 0 }) else {
            throw SAM2Error.config("\(source): stages, window sizes and the background size must be positive")
        }
        guard imageSize % 32 == 0, (imageSize / 4) % windowSpec[0] == 0 else {
            throw SAM2Error.config("\(source): image_size \(imageSize) must be a multiple of 32 whose quarter is a multiple of window_spec[0] (\(windowSpec[0]))")
        }
        guard modelDim % 8 == 0, embedDim % numHeads == 0 else {
            throw SAM2Error.config("\(source): d_model must be a multiple of 8 and embed_dim of num_heads")
        }
        guard globalAttentionBlocks.allSatisfy({ $0 >= 0 && $0 < depth }) else {
            throw SAM2Error.config("\(source): global_att_blocks must name blocks 0..<\(depth)")
        }
    }
}

/// What went wrong in SAM2 loading or prompting.
public enum SAM2Error: Error, CustomStringConvertible, Equatable {
    case config(String)
    case invalidPrompt(String)
    case invalidImage(String)

    public var description: String {
        switch self {
        case let .config(m): return "SAM2 config: \(m)"
        case let .invalidPrompt(m): return "SAM2 prompt: \(m)"
        case let .invalidImage(m): return "SAM2 image: \(m)"
        }
    }
}

extension SAM2Config {
    /// Multiply-add FLOPs (2 per MAC) of set_image: patch embed, every Hiera block (linears on padded windows,
    /// attention), FPN laterals and the decoder's conv_s0/conv_s1. Elementwise work is not counted.
    public var imageEncoderFLOPs: Double {
        var total = 0.0
        var side = imageSize / 4
        total += 2 * Double(side * side) * Double(embedDim) * 147
        var dim = embedDim
        var stage = 1
        for i in 0..<depth {
            var dimOut = dim
            var ws = windowSpec[stage - 1]
            if globalAttentionBlocks.contains(i) { ws = 0 }
            if stageEnds.contains(i - 1) { dimOut = dim * 2; stage += 1 }
            let pool = queryPoolBlocks.contains(i)
            let tokens = Double(side * side)
            let padded = ws > 0 ? Double(((side + ws - 1) / ws * ws) * ((side + ws - 1) / ws * ws)) : tokens
            let keysPerWindow = ws > 0 ? Double(ws * ws) : tokens
            let outTokens = pool ? tokens / 4 : tokens
            let paddedOut = pool ? padded / 4 : padded
            if dim != dimOut { total += 2 * tokens * Double(dim * dimOut) }
            total += 2 * padded * Double(dim) * Double(3 * dimOut)
            total += 2 * 2 * paddedOut * keysPerWindow * Double(dimOut)
            total += 2 * paddedOut * Double(dimOut * dimOut)
            total += 2 * 2 * outTokens * Double(dimOut) * Double(4 * dimOut)
            if pool { side /= 2 }
            dim = dimOut
        }
        let g = imageSize / 4
        for (k, c) in [embedDim, 2 * embedDim, 4 * embedDim, 8 * embedDim].enumerated() {
            let s = g >> k
            total += 2 * Double(s * s) * Double(c) * Double(modelDim)
        }
        total += 2 * Double(g * g) * Double(modelDim) * Double(modelDim / 8)
        total += 2 * Double(g * g / 4) * Double(modelDim) * Double(modelDim / 4)
        return total
    }
}
