import Compute

/// Hiera's `MultiScaleBlock`: pre-norm windowed (or global) attention with optional query pooling, then an MLP.
struct HieraBlock {
    let dim: Int
    let dimOut: Int
    let heads: Int
    let windowSize: Int
    let poolQuery: Bool
    let norm1: LayerNorm
    let qkv: Linear
    let attnProj: Linear
    let proj: Linear?
    let norm2: LayerNorm
    let mlp: MLP

    init(_ w: SAM2Weights, dim: Int, dimOut: Int, heads: Int, windowSize: Int, poolQuery: Bool) throws {
        self.dim = dim
        self.dimOut = dimOut
        self.heads = heads
        self.windowSize = windowSize
        self.poolQuery = poolQuery
        guard dimOut % heads == 0 else { throw SAM2Error.config("block \(w.prefix): dim \(dimOut) not divisible by \(heads) heads") }
        norm1 = try LayerNorm(w.scoped("norm1"), dim: dim, eps: 1e-6)
        qkv = try Linear(w.scoped("attn.qkv"), inFeatures: dim, outFeatures: 3 * dimOut)
        attnProj = try Linear(w.scoped("attn.proj"), inFeatures: dimOut, outFeatures: dimOut)
        proj = dim != dimOut ? try Linear(w.scoped("proj"), inFeatures: dim, outFeatures: dimOut) : nil
        norm2 = try LayerNorm(w.scoped("norm2"), dim: dimOut, eps: 1e-6)
        mlp = try MLP(w.scoped("mlp"), dims: [dimOut, 4 * dimOut, dimOut], activation: .gelu)
    }

    /// x: [1, H, W, dim] (NHWC) and `normed` = norm1(x) -> [1, H', W', dimOut], and `next`'s norm1 of that when a
    /// block follows (each residual add is fused with the norm that reads its result).
    ///
    /// The branches are separate functions so that their intermediates (windows, qkv, attention output, the MLP's
    /// hidden layer) are released when each returns: as locals of one function they stayed alive to its end, which
    /// on hiera-l's first stage held ~10 tensors of 36 MiB at once.
    func callAsFunction(_ x: Tensor, normed: Tensor, next: LayerNorm?, _ be: ComputeBackend) throws -> (out: Tensor, nextNormed: Tensor?) {
        let (x1, normed2) = try attentionResidual(x, normed: normed, be)
        let m = try mlpProduct(normed2, withBias: next == nil, be)
        guard let next else { return (try be.add(x1, m), nil) }
        let (out, nextNormed) = try be.addLayerNorm(x1, m, bias: mlp.layers[1].bias, weight: next.weight, normBias: next.bias, eps: next.eps)
        return (out, nextNormed)
    }

    /// The MLP's output; without its last bias when that is added with the residual (a block follows).
    private func mlpProduct(_ normed2: Tensor, withBias: Bool, _ be: ComputeBackend) throws -> Tensor {
        let hidden = try mlp.layers[0](normed2, be, activation: mlp.activation)
        return try be.linear(hidden, weight: mlp.layers[1].weight, bias: withBias ? mlp.layers[1].bias : nil)
    }

    /// (x + attention branch, norm2 of that).
    private func attentionResidual(_ x: Tensor, normed: Tensor, _ be: ComputeBackend) throws -> (Tensor, Tensor) {
        var shortcut = x
        if let proj {
            shortcut = try be.maxPool2x2(try proj(normed, be), layout: .nhwc)
        }
        let y = try attention(normed, outH: shortcut.shape[1], outW: shortcut.shape[2], be)
        return try be.addLayerNorm(shortcut, y, bias: attnProj.bias, weight: norm2.weight, normBias: norm2.bias, eps: norm2.eps)
    }

    /// Windowed (or global) attention with optional query pooling, projected (without its bias: a per-channel bias
    /// commutes with the unpartition and is added with the residual) and unpartitioned to [1, outH, outW, dimOut].
    private func attention(_ normed: Tensor, outH: Int, outW: Int, _ be: ComputeBackend) throws -> Tensor {
        let ws = windowSize
        let projected = try attendWindows(normed, be)
        guard ws > 0 else { return try projected.reshaped([1, outH, outW, dimOut]) }
        // Unpartition (the window size halves when queries were pooled), the padding cropped.
        return try be.windowUnpartition(projected, window: poolQuery ? ws / 2 : ws, height: outH, width: outW)
    }

    /// normed [1, H, W, dim] -> projected attention output per window, [nW, qh, qw, dimOut].
    private func attendWindows(_ normed: Tensor, _ be: ComputeBackend) throws -> Tensor {
        let (h, w) = (normed.shape[1], normed.shape[2])
        // Partition into windows: [nW, ws, ws, C] (zero padded bottom/right); global attention is one window.
        let windows = windowSize > 0 ? try be.windowPartition(normed, window: windowSize) : try normed.reshaped([1, h, w, dim])
        let nW = windows.shape[0], wh = windows.shape[1], ww = windows.shape[2]
        let attn = try attend(windows, be)
        let (qh, qw) = poolQuery ? (wh / 2, ww / 2) : (wh, ww)
        return try be.linear(try attn.reshaped([nW, qh, qw, dimOut]), weight: attnProj.weight, bias: nil)
    }

    /// windows [nW, wh, ww, dim] -> attention output [nW, qh·qw, dimOut] (queries pooled 2x2 when `poolQuery`).
    private func attend(_ windows: Tensor, _ be: ComputeBackend) throws -> Tensor {
        let nW = windows.shape[0], wh = windows.shape[1], ww = windows.shape[2]
        let hd = dimOut / heads
        // qkv: [nW, T, 3·dimOut] laid out q | k | v, heads read in place by the attention (no head transposes).
        let qkvOut = try qkv(windows, be).reshaped([nW, wh * ww, 3 * dimOut])
        var q = qkvOut
        var columns = AttentionColumns.fused(width: dimOut)
        if poolQuery {
            let spatial = try be.slice(try qkvOut.reshaped([nW, wh, ww, 3 * dimOut]), dim: 3, start: 0, end: dimOut)
            q = try be.maxPool2x2(spatial, layout: .nhwc).reshaped([nW, (wh / 2) * (ww / 2), dimOut])
            columns = AttentionColumns(q: 0, k: dimOut, v: 2 * dimOut)
        }
        return try be.attention(tokenMajor: q, k: qkvOut, v: qkvOut, columns: columns, heads: heads, kvHeads: heads,
                                headDim: hd, scale: 1 / Float(hd).squareRoot(), causal: false, segments: nil)
    }
}

/// The Hiera image trunk: patch embedding, interpolated + window-tiled position embedding, multi-scale blocks.
struct HieraTrunk {
    let config: SAM2Config
    let patchEmbed: Conv2d
    /// Position embedding at the patch grid, NHWC [1, G, G, C] (precomputed for the fixed input size).
    let positionEmbedding: Tensor
    let blocks: [HieraBlock]
    let channels: [Int]

    init(_ w: SAM2Weights, config c: SAM2Config, backend be: ComputeBackend) throws {
        config = c
        guard c.stages.count == 4, c.windowSpec.count == 4, c.positionBackground.count == 2, c.embedDim > 0, c.numHeads > 0 else {
            throw SAM2Error.config("Hiera needs 4 stages and 4 window sizes, got stages \(c.stages), windows \(c.windowSpec)")
        }
        patchEmbed = try Conv2d(w.scoped("patch_embed.proj"), inChannels: 3, outChannels: c.embedDim, kernel: 7, stride: 4, padding: 3)
        let grid = c.imageSize / 4
        let bkg = try w.tensor("pos_embed", shape: [1, c.embedDim] + c.positionBackground)
        let ws0 = c.windowSpec[0]
        let win = try w.tensor("pos_embed_window", shape: [1, c.embedDim, ws0, ws0])
        guard grid % ws0 == 0 else { throw SAM2Error.config("patch grid \(grid) is not a multiple of window \(ws0)") }
        let interp = try be.interpolate(bkg, height: grid, width: grid, mode: .bicubic, antialias: false)
        let tiled = try be.concat(Array(repeating: try be.concat(Array(repeating: win, count: grid / ws0), dim: 3), count: grid / ws0), dim: 2)
        positionEmbedding = try be.permute(try be.add(interp, tiled), [0, 2, 3, 1])

        var blocks: [HieraBlock] = []
        var dim = c.embedDim, heads = c.numHeads
        var stage = 1
        let ends = c.stageEnds
        for i in 0..<c.depth {
            var dimOut = dim
            var window = c.windowSpec[stage - 1]
            if c.globalAttentionBlocks.contains(i) { window = 0 }
            if ends.contains(i - 1) {
                dimOut = dim * 2
                heads *= 2
                stage += 1
            }
            let block = try HieraBlock(w.scoped("blocks.\(i)"), dim: dim, dimOut: dimOut, heads: heads, windowSize: window,
                                       poolQuery: c.queryPoolBlocks.contains(i))
            blocks.append(block)
            dim = dimOut
        }
        self.blocks = blocks
        channels = (0..<4).map { c.embedDim << $0 }
    }

    /// image [1, 3, S, S] -> the four stage outputs, NHWC: [1, S/4, S/4, C] ... [1, S/32, S/32, 8C].
    func callAsFunction(_ image: Tensor, _ be: ComputeBackend) throws -> [Tensor] {
        let patches = try patchEmbed(image, be, outputLayout: .nhwc)
        guard patches.shape == positionEmbedding.shape else {
            throw SAM2Error.invalidImage("patch grid \(patches.shape) does not match position embedding \(positionEmbedding.shape)")
        }
        var x = try be.add(patches, positionEmbedding)
        var outputs: [Tensor] = []
        let ends = config.stageEnds
        guard let first = blocks.first else { return outputs }
        var normed = try first.norm1(x, be)
        for (i, block) in blocks.enumerated() {
            let next = i + 1 < blocks.count ? blocks[i + 1].norm1 : nil
            let step = try block(x, normed: normed, next: next, be)
            x = step.out
            if let n = step.nextNormed { normed = n }
            if ends.contains(i) { outputs.append(x) }
        }
        return outputs
    }
}
