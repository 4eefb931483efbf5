import Checkpoint
import Compute
import Foundation
import Imaging

/// A cached image embedding: computed once per image by `SAM2ImagePredictor.embed`, reused by every prompt.
public struct SAM2ImageEmbedding: @unchecked Sendable {
    /// Original image size (masks are returned at this size).
    public let width: Int
    public let height: Int
    /// FPN level 2 + no_mem_embed, token-major [G*G, d] (G = 64 for 1024 input).
    public let imageEmbedding: Tensor
    /// conv_s0(FPN level 0) [1, d/8, 4G, 4G] and conv_s1(FPN level 1) [1, d/4, 2G, 2G], NCHW.
    public let highRes0: Tensor
    public let highRes1: Tensor
}

/// One SAM2 prompt in original-image pixels: optional box, click points with labels (1 foreground,
/// 0 background), optional low-res mask logits [256, 256] from a previous prediction.
public struct SAM2Prompt: Sendable {
    public var box: [Float]?
    public var points: [[Float]]
    public var labels: [Int]
    public var maskInput: [Float]?

    public init(box: [Float]? = nil, points: [[Float]] = [], labels: [Int] = [], maskInput: [Float]? = nil) {
        self.box = box
        self.points = points
        self.labels = labels
        self.maskInput = maskInput
    }
}

/// Masks for one prompt, in the order `SAM2ImagePredictor.predict` returns them (3 with multimask, else 1).
public struct SAM2Prediction: @unchecked Sendable {
    public let width: Int
    public let height: Int
    /// Binary masks, each `height * width` bytes (0 or 1), row-major.
    public let masks: [[UInt8]]
    /// Predicted IoU per mask.
    public let scores: [Float]
    /// Mask logits [M, 4G, 4G], clamped to ±32 like the reference.
    public let lowResLogits: Tensor
    /// Debug: the sparse prompt tokens [N, d] and the IoU predictions of all four mask tokens.
    public let sparseTokens: Tensor
    public let allIoU: [Float]
}

/// SAM2 image predictor with `SAM2ImagePredictor` semantics (official `sam2` package): `embed` = set_image,
/// `predict` = predict(point_coords, point_labels, box, mask_input, multimask_output).
public final class SAM2ImagePredictor: @unchecked Sendable {
    public let config: SAM2Config
    public let backend: ComputeBackend
    let trunk: HieraTrunk
    let neck: FPNNeck
    let noMemEmbed: Tensor
    let promptEncoder: PromptEncoder
    let decoder: MaskDecoder
    let convS0: Linear
    let convS1: Linear
    /// Keeps the memory-mapped checkpoint alive (weights are borrowed from it).
    let store: WeightStore

    /// Loads a checkpoint (.pt or safetensors, official or transformers naming). Without `config` the
    /// published size is recognized from the tensor shapes.
    public convenience init(checkpoint path: String, config: SAM2Config? = nil, backend: ComputeBackend) throws {
        try self.init(weights: SAM2Weights(store: Checkpoint.open(path: path)), config: config, backend: backend)
    }

    public init(weights w: SAM2Weights, config: SAM2Config? = nil, backend be: ComputeBackend) throws {
        let c = try config ?? SAM2Config(weights: w)
        self.config = c
        backend = be
        store = w.store
        trunk = try HieraTrunk(w.scoped("image_encoder.trunk"), config: c, backend: be)
        neck = try FPNNeck(w.scoped("image_encoder.neck"), channels: trunk.channels, modelDim: c.modelDim)
        noMemEmbed = try w.tensor("no_mem_embed", shape: [1, 1, c.modelDim]).reshaped([c.modelDim])
        promptEncoder = try PromptEncoder(w.scoped("sam_prompt_encoder"), modelDim: c.modelDim, imageSize: c.imageSize)
        decoder = try MaskDecoder(w.scoped("sam_mask_decoder"), dim: c.modelDim)
        convS0 = decoder.convS0
        convS1 = decoder.convS1
    }

    public var gridSize: Int { config.imageSize / 16 }

    /// SAM2Transforms: ToTensor, antialiased bilinear Resize to S×S (no aspect preservation), ImageNet normalize.
    public func preprocess(_ image: RGBImage) throws -> Tensor {
        let (w, h, s) = (image.width, image.height, config.imageSize)
        var chw = [Float](repeating: 0, count: 3 * w * h)
        image.pixels.withUnsafeBufferPointer { px in
            for i in 0..<(w * h) {
                for c in 0..<3 { chw[c * w * h + i] = Float(px[i * 3 + c]) / 255 }
            }
        }
        var resized = try Resample.torchBilinearAntialias(chw: chw, channels: 3, height: h, width: w, outHeight: s, outWidth: s)
        let mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]
        for c in 0..<3 {
            let base = c * s * s
            for i in 0..<(s * s) { resized[base + i] = (resized[base + i] - mean[c]) / std[c] }
        }
        return try Tensor(resized, shape: [1, 3, s, s])
    }

    /// set_image: the embedding of `image`. `inspect` sees intermediate features by name (input, trunk_0…3 and
    /// fpn_0…2 NHWC, image_embed NHWC, high_res_0/1 NCHW) for parity tests and `--dump-dir`.
    public func embed(_ image: RGBImage, inspect: ((String, Tensor) -> Void)? = nil) throws -> SAM2ImageEmbedding {
        let be = backend
        let input = try preprocess(image)
        inspect?("input", input)
        let stages = try trunk(input, be)
        for (i, t) in stages.enumerated() { inspect?("trunk_\(i)", t) }
        let fpn = try neck(stages, be)
        for (i, t) in fpn.enumerated() { inspect?("fpn_\(i)", t) }
        let g = gridSize, d = config.modelDim
        let embedding = try be.add(try fpn[2].reshaped([g * g, d]), noMemEmbed)
        inspect?("image_embed", try embedding.reshaped([1, g, g, d]))
        let s0 = try be.permute(try convS0(fpn[0], be), [0, 3, 1, 2])
        let s1 = try be.permute(try convS1(fpn[1], be), [0, 3, 1, 2])
        inspect?("high_res_0", s0)
        inspect?("high_res_1", s1)
        return SAM2ImageEmbedding(width: image.width, height: image.height, imageEmbedding: embedding, highRes0: s0, highRes1: s1)
    }

    /// predict: masks for one prompt on a cached embedding.
    public func predict(_ e: SAM2ImageEmbedding, prompt: SAM2Prompt, multimask: Bool) throws -> SAM2Prediction {
        let be = backend
        let s = Float(config.imageSize)
        guard prompt.points.count == prompt.labels.count else {
            throw SAM2Error.invalidPrompt("\(prompt.points.count) points but \(prompt.labels.count) labels")
        }
        guard prompt.box != nil || !prompt.points.isEmpty else { throw SAM2Error.invalidPrompt("no box and no points") }
        func toModel(_ x: Float, _ y: Float) throws -> (Float, Float) {
            guard x.isFinite, y.isFinite else { throw SAM2Error.invalidPrompt("non-finite coordinate (\(x), \(y))") }
            return (x / Float(e.width) * s, y / Float(e.height) * s)
        }
        var coords: [(Float, Float)] = []
        var labels: [Int] = []
        if let b = prompt.box {
            guard b.count == 4 else { throw SAM2Error.invalidPrompt("box needs 4 values, got \(b.count)") }
            coords += [try toModel(b[0], b[1]), try toModel(b[2], b[3])]
            labels += [2, 3]
        }
        for (p, l) in zip(prompt.points, prompt.labels) {
            guard p.count == 2 else { throw SAM2Error.invalidPrompt("point needs 2 values, got \(p.count)") }
            guard l == 0 || l == 1 else { throw SAM2Error.invalidPrompt("point label \(l) (expected 0 or 1)") }
            coords.append(try toModel(p[0], p[1]))
            labels.append(l)
        }
        // The predictor passes boxes as points, so the encoder always appends the padding point.
        coords.append((0, 0))
        labels.append(-1)
        let sparse = try promptEncoder.sparse(points: coords, labels: labels)
        let g = gridSize
        var maskTensor: Tensor?
        if let m = prompt.maskInput {
            guard m.count == 16 * g * g else { throw SAM2Error.invalidPrompt("mask input has \(m.count) values, expected \(4 * g)x\(4 * g)") }
            maskTensor = try Tensor(m, shape: [1, 1, 4 * g, 4 * g])
        }
        let dense = try promptEncoder.dense(mask: maskTensor, be) ?? promptEncoder.noMask
        let (all, iou) = try decoder.predict(image: e.imageEmbedding, densePE: promptEncoder.densePE, sparse: sparse, dense: dense,
                                             highRes: (e.highRes0, e.highRes1), grid: g, be)
        let side = 4 * g
        var chosen: [Int]
        if multimask {
            chosen = [1, 2, 3]
        } else {
            chosen = [0]
            let logits = UnsafeBufferPointer(start: all.floats, count: side * side)
            var inter = 0, union = 0
            for v in logits {
                if v > config.stabilityDelta { inter += 1 }
                if v > -config.stabilityDelta { union += 1 }
            }
            let stability: Float = union > 0 ? Float(inter) / Float(union) : 1
            if stability < config.stabilityThreshold {
                var best = 1
                for i in 2...3 where iou[i] > iou[best] { best = i }
                chosen = [best]
            }
        }
        let lowRes = try be.concat(try chosen.map { try all.rows($0, $0 + 1) }, dim: 0)
        let up = try be.interpolate(try lowRes.reshaped([1, chosen.count, side, side]), height: e.height, width: e.width,
                                    mode: .bilinear, antialias: false)
        let n = e.width * e.height
        let upPtr = up.floats
        let masks: [[UInt8]] = (0..<chosen.count).map { m in
            [UInt8](unsafeUninitializedCapacity: n) { out, count in
                let src = upPtr + m * n
                for i in 0..<n { out[i] = src[i] > 0 ? 1 : 0 }
                count = n
            }
        }
        let clamped = try Tensor(lowRes.toArray().map { min(max($0, -32), 32) }, shape: [chosen.count, side, side])
        return SAM2Prediction(width: e.width, height: e.height, masks: masks, scores: chosen.map { iou[$0] },
                              lowResLogits: clamped, sparseTokens: sparse, allIoU: iou)
    }
}
