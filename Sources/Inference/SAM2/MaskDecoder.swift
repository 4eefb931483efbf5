import Compute

/// SAM's `Attention`: q/k/v projections to `internal` channels, heads, SDPA, output projection.
struct DecoderAttention {
    let q: Linear, k: Linear, v: Linear, out: Linear
    let heads: Int
    let internalDim: Int

    init(_ w: SAM2Weights, dim: Int, heads: Int, downsample: Int) throws {
        internalDim = dim / downsample
        self.heads = heads
        guard internalDim % heads == 0 else { throw SAM2Error.config("\(w.prefix): \(internalDim) channels for \(heads) heads") }
        q = try Linear(w.scoped("q_proj"), inFeatures: dim, outFeatures: internalDim)
        k = try Linear(w.scoped("k_proj"), inFeatures: dim, outFeatures: internalDim)
        v = try Linear(w.scoped("v_proj"), inFeatures: dim, outFeatures: internalDim)
        out = try Linear(w.scoped("out_proj"), inFeatures: internalDim, outFeatures: dim)
    }

    /// Token-major [N, dim] inputs (batch 1).
    func callAsFunction(q qIn: Tensor, k kIn: Tensor, v vIn: Tensor, _ be: ComputeBackend) throws -> Tensor {
        let hd = internalDim / heads
        func tokens(_ x: Tensor) throws -> Tensor { try x.reshaped([1, x.shape[0], internalDim]) }
        let o = try be.attention(tokenMajor: try tokens(try q(qIn, be)), k: try tokens(try k(kIn, be)), v: try tokens(try v(vIn, be)),
                                 columns: AttentionColumns(), heads: heads, kvHeads: heads, headDim: hd,
                                 scale: 1 / Float(hd).squareRoot(), causal: false, segments: nil)
        let merged = try o.reshaped([qIn.shape[0], internalDim])
        return try out(merged, be)
    }
}

/// One `TwoWayAttentionBlock`: token self-attention, token->image, MLP, image->token.
struct TwoWayBlock {
    let selfAttn: DecoderAttention, tokenToImage: DecoderAttention, imageToToken: DecoderAttention
    let norm1: LayerNorm, norm2: LayerNorm, norm3: LayerNorm, norm4: LayerNorm
    let mlp: MLP
    let skipFirstLayerPE: Bool

    init(_ w: SAM2Weights, dim: Int, skipFirstLayerPE: Bool) throws {
        selfAttn = try DecoderAttention(w.scoped("self_attn"), dim: dim, heads: 8, downsample: 1)
        tokenToImage = try DecoderAttention(w.scoped("cross_attn_token_to_image"), dim: dim, heads: 8, downsample: 2)
        imageToToken = try DecoderAttention(w.scoped("cross_attn_image_to_token"), dim: dim, heads: 8, downsample: 2)
        norm1 = try LayerNorm(w.scoped("norm1"), dim: dim, eps: 1e-5)
        norm2 = try LayerNorm(w.scoped("norm2"), dim: dim, eps: 1e-5)
        norm3 = try LayerNorm(w.scoped("norm3"), dim: dim, eps: 1e-5)
        norm4 = try LayerNorm(w.scoped("norm4"), dim: dim, eps: 1e-5)
        mlp = try MLP(w.scoped("mlp"), dims: [dim, 2048, dim], activation: .relu)
        self.skipFirstLayerPE = skipFirstLayerPE
    }

    func callAsFunction(queries qIn: Tensor, keys kIn: Tensor, queryPE: Tensor, keyPE: Tensor, _ be: ComputeBackend) throws -> (Tensor, Tensor) {
        var queries: Tensor
        if skipFirstLayerPE {
            queries = try selfAttn(q: qIn, k: qIn, v: qIn, be)
        } else {
            let q = try be.add(qIn, queryPE)
            queries = try be.add(qIn, try selfAttn(q: q, k: q, v: qIn, be))
        }
        queries = try norm1(queries, be)
        let kPE = try be.add(kIn, keyPE)
        var q = try be.add(queries, queryPE)
        queries = try norm2(try be.add(queries, try tokenToImage(q: q, k: kPE, v: kIn, be)), be)
        queries = try norm3(try be.add(queries, try mlp(queries, be)), be)
        q = try be.add(queries, queryPE)
        let keys = try norm4(try be.add(kIn, try imageToToken(q: kPE, k: q, v: queries, be)), be)
        return (queries, keys)
    }
}

/// SAM2's mask decoder (two-way transformer, upscaling with high-resolution features, hypernetwork masks,
/// IoU head). The object-score head is not needed by the image predictor and is not loaded.
struct MaskDecoder {
    let dim: Int
    let tokens: Tensor
    let layers: [TwoWayBlock]
    let finalAttn: DecoderAttention
    let normFinal: LayerNorm
    let upConv1: ConvTranspose2x2, upNorm: LayerNorm2d, upConv2: ConvTranspose2x2
    let convS0: Linear, convS1: Linear
    let hypernetworks: [MLP]
    let iouHead: MLP

    init(_ w: SAM2Weights, dim d: Int) throws {
        dim = d
        let obj = try w.tensor("obj_score_token.weight", shape: [1, d])
        let iou = try w.tensor("iou_token.weight", shape: [1, d])
        let masks = try w.tensor("mask_tokens.weight", shape: [4, d])
        tokens = try BLASConcat.rows([obj, iou, masks], dim: d)
        layers = try (0..<2).map { try TwoWayBlock(w.scoped("transformer.layers.\($0)"), dim: d, skipFirstLayerPE: $0 == 0) }
        finalAttn = try DecoderAttention(w.scoped("transformer.final_attn_token_to_image"), dim: d, heads: 8, downsample: 2)
        normFinal = try LayerNorm(w.scoped("transformer.norm_final_attn"), dim: d, eps: 1e-5)
        upConv1 = try ConvTranspose2x2(w.scoped("output_upscaling.0"), inChannels: d, outChannels: d / 4)
        upNorm = try LayerNorm2d(w.scoped("output_upscaling.1"), channels: d / 4)
        upConv2 = try ConvTranspose2x2(w.scoped("output_upscaling.3"), inChannels: d / 4, outChannels: d / 8)
        func pointwise(_ name: String, _ cout: Int) throws -> Linear {
            let s = w.scoped(name)
            return Linear(weight: try s.tensor("weight", shape: [cout, d, 1, 1]).reshaped([cout, d]), bias: try s.tensor("bias", shape: [cout]))
        }
        convS0 = try pointwise("conv_s0", d / 8)
        convS1 = try pointwise("conv_s1", d / 4)
        hypernetworks = try (0..<4).map { try MLP(w.scoped("output_hypernetworks_mlps.\($0)"), dims: [d, d, d, d / 8]) }
        iouHead = try MLP(w.scoped("iou_prediction_head"), dims: [d, 256, 256, 4], sigmoidOutput: true)
    }

    /// All four masks [4, 4G, 4G] and IoU predictions [4] for one prompt.
    /// - image: [G*G, d] token-major image embedding; densePE: [G*G, d]; dense: [G*G, d] or the no-mask vector [d];
    ///   highRes: (s0 [1, d/8, 4G, 4G], s1 [1, d/4, 2G, 2G]) NCHW.
    func predict(image: Tensor, densePE: Tensor, sparse: Tensor, dense: Tensor, highRes: (Tensor, Tensor), grid g: Int,
                 _ be: ComputeBackend) throws -> (masks: Tensor, iou: [Float]) {
        let tokenIn = try be.concat([tokens, sparse], dim: 0)
        var keys = try be.add(image, dense)
        var queries = tokenIn
        for layer in layers {
            (queries, keys) = try layer(queries: queries, keys: keys, queryPE: tokenIn, keyPE: densePE, be)
        }
        let q = try be.add(queries, tokenIn)
        let k = try be.add(keys, densePE)
        queries = try normFinal(try be.add(queries, try finalAttn(q: q, k: k, v: keys, be)), be)

        var up = try be.add(try upConv1(try keys.reshaped([1, g, g, dim]), be, inputLayout: .nhwc), highRes.1)
        up = try be.unary(try upNorm(up, be), .gelu)
        up = try be.unary(try be.add(try upConv2(up, be), highRes.0), .gelu)
        let c = dim / 8, side = 4 * g
        let hyper = try be.concat(try (0..<4).map { i in
            try hypernetworks[i](try be.slice(queries, dim: 0, start: 2 + i, end: 3 + i), be)
        }, dim: 0)
        let masks = try be.matmul(hyper, try up.reshaped([c, side * side]), transposeB: false).reshaped([4, side, side])
        let iou = try iouHead(try be.slice(queries, dim: 0, start: 1, end: 2), be).toArray()
        return (masks, iou)
    }
}

/// Row concatenation of small parameter tensors at load time.
enum BLASConcat {
    static func rows(_ xs: [Tensor], dim: Int) throws -> Tensor {
        try Tensor(xs.flatMap { $0.toArray() }, shape: [xs.reduce(0) { $0 + $1.count } / dim, dim])
    }
}
