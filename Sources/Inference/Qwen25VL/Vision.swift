import Compute
import Foundation

/// The Qwen2.5-VL vision tower: patch embedding, 32 pre-norm blocks with 2-D rotary window attention (full
/// attention on `fullatt_block_indexes`), and the 2×2 PatchMerger into the language model's width.
///
/// Stored properties follow the checkpoint's key tree under `visual.`; activations are float32 throughout.
public enum Vision {
    /// Conv3d with stride = kernel as one matrix product over pixel_values rows ([C][T][y][x] each).
    /// For still images every temporal slice is equal, so the temporally summed kernel applied to one slice gives
    /// the same result with 1/T of the work; rows whose slices differ take the full kernel.
    struct PatchEmbed {
        let full: Tensor  // [hidden, C·T·P·P]
        let summed: Tensor  // [hidden, C·P·P]
        let channels: Int
        let temporal: Int
        let patchArea: Int

        init(_ p: QwenParameters, config: QwenVisionConfig) throws {
            channels = config.inChannels
            temporal = config.temporalPatchSize
            patchArea = config.patchSize * config.patchSize
            let hidden = config.hiddenSize
            let rowLength = channels * temporal * patchArea
            let w = try p.floats(
                "proj.weight", shape: [hidden, channels, temporal, config.patchSize, config.patchSize])
            full = try Tensor(w, shape: [hidden, rowLength])
            var s = [Float](repeating: 0, count: hidden * channels * patchArea)
            for o in 0..<hidden {
                for c in 0..<channels {
                    for t in 0..<temporal {
                        let src = ((o * channels + c) * temporal + t) * patchArea
                        let dst = (o * channels + c) * patchArea
                        for i in 0..<patchArea { s[dst + i] += w[src + i] }
                    }
                }
            }
            summed = try Tensor(s, shape: [hidden, channels * patchArea])
        }

        func callAsFunction(_ pixels: Tensor, _ backend: ComputeBackend) throws -> Tensor {
            let rowLength = channels * temporal * patchArea
            guard pixels.rank == 2, pixels.shape[1] == rowLength else {
                throw QwenModelError.invalidInput("pixel_values \(pixels.shape), expected [patches, \(rowLength)]")
            }
            let rows = pixels.shape[0]
            let src = pixels.floats
            let frame = Tensor(uninitialized: [rows, channels * patchArea])
            let dst = frame.floats
            var stillImage = true
            for r in 0..<rows where stillImage {
                for c in 0..<channels {
                    let base = src + r * rowLength + c * temporal * patchArea
                    for t in 1..<max(temporal, 1) where memcmp(base, base + t * patchArea, patchArea * 4) != 0 {
                        stillImage = false
                    }
                    (dst + (r * channels + c) * patchArea).update(from: base, count: patchArea)
                }
            }
            return stillImage
                ? try backend.linear(frame, weight: summed, bias: nil)
                : try backend.linear(pixels, weight: full, bias: nil)
        }
    }

    /// Self-attention over patches with a fused qkv projection, 2-D rotary on q and k, and attention restricted to
    /// segments (windows, or whole images on the full-attention blocks).
    struct Attention {
        let qkv: QwenLinear
        let proj: QwenLinear
        let heads: Int
        let headDim: Int

        init(_ p: QwenParameters, config: QwenVisionConfig) throws {
            let h = config.hiddenSize
            qkv = try p.linear("qkv", out: 3 * h, in: h, bias: true)
            proj = try p.linear("proj", out: h, in: h, bias: true)
            heads = config.numHeads
            headDim = config.headDim
        }

        /// x [N, hidden]; angles [N, headDim/2]; segments: boundaries [0, …, N].
        func callAsFunction(_ x: Tensor, angles: Tensor, segments: [Int], _ backend: ComputeBackend) throws -> Tensor {
            let n = x.shape[0]
            let width = heads * headDim
            let fused = try qkv(x, backend).reshaped([n, 3, width])
            // Rotary on q and k together ([N, 2·heads, headDim], tokens major); v is read from the projection in place.
            let qk = try backend.rotary(try backend.slice(fused, dim: 1, start: 0, end: 2).reshaped([n, 2 * heads, headDim]),
                                        angles: angles, style: .halfSplit, headsBeforeTokens: false)
            let scale = 1 / Float(headDim).squareRoot()
            guard segments.first == 0, segments.last == n else {
                throw QwenModelError.invalidInput("attention segments \(segments.prefix(4))… do not cover \(n) tokens")
            }
            let attended = try backend.attention(
                tokenMajor: try qk.reshaped([1, n, 2 * width]), k: try qk.reshaped([1, n, 2 * width]), v: try fused.reshaped([1, n, 3 * width]),
                columns: AttentionColumns(q: 0, k: width, v: 2 * width), heads: heads, kvHeads: heads, headDim: headDim, scale: scale,
                causal: false, segments: segments.count == 2 ? nil : segments)
            let merged = try attended.reshaped([n, width])
            return try proj(merged, backend)
        }
    }

    /// SwiGLU with biases: down(silu(gate(x)) · up(x)).
    struct MLP {
        let gate: QwenLinear
        let up: QwenLinear
        let down: QwenLinear

        init(_ p: QwenParameters, hidden: Int, intermediate: Int) throws {
            gate = try p.linear("gate_proj", out: intermediate, in: hidden, bias: true)
            up = try p.linear("up_proj", out: intermediate, in: hidden, bias: true)
            down = try p.linear("down_proj", out: hidden, in: intermediate, bias: true)
        }

        func callAsFunction(_ x: Tensor, _ backend: ComputeBackend) throws -> Tensor {
            // SwiGLU act(gate(x)) · up(x), the activation and product applied while writing gate's output.
            let gated = try gate(x, backend, activation: .silu, multiplying: try up(x, backend))
            return try down(gated, backend)
        }
    }

    /// x += attn(norm1(x)); x += mlp(norm2(x)), RMSNorm eps 1e-6 in float32.
    struct Block {
        let norm1: Tensor
        let norm2: Tensor
        let attn: Attention
        let mlp: MLP

        init(_ p: QwenParameters, config: QwenVisionConfig) throws {
            norm1 = try p.vector("norm1.weight", count: config.hiddenSize)
            norm2 = try p.vector("norm2.weight", count: config.hiddenSize)
            attn = try Attention(p.scoped("attn"), config: config)
            mlp = try MLP(p.scoped("mlp"), hidden: config.hiddenSize, intermediate: config.intermediateSize)
        }

        func callAsFunction(_ x: Tensor, angles: Tensor, segments: [Int], _ backend: ComputeBackend) throws -> Tensor {
            let a = try attn(try backend.rmsNorm(x, weight: norm1, eps: Vision.normEps), angles: angles,
                             segments: segments, backend)
            let h = try backend.add(x, a)
            return try backend.add(h, try mlp(try backend.rmsNorm(h, weight: norm2, eps: Vision.normEps), backend))
        }
    }

    /// RMSNorm per patch, then each 2×2 group of consecutive patches concatenated → Linear → GELU (erf) → Linear.
    struct PatchMerger {
        let lnQ: Tensor
        let fc1: QwenLinear
        let fc2: QwenLinear
        let groupWidth: Int

        init(_ p: QwenParameters, config: QwenVisionConfig) throws {
            let unit = config.spatialMergeSize * config.spatialMergeSize
            groupWidth = config.hiddenSize * unit
            lnQ = try p.vector("ln_q.weight", count: config.hiddenSize)
            fc1 = try p.linear("mlp.0", out: groupWidth, in: groupWidth, bias: true)
            fc2 = try p.linear("mlp.2", out: config.outHiddenSize, in: groupWidth, bias: true)
        }

        func callAsFunction(_ x: Tensor, _ backend: ComputeBackend) throws -> Tensor {
            let normed = try backend.rmsNorm(x, weight: lnQ, eps: Vision.normEps).reshaped([-1, groupWidth])
            return try fc2(try fc1(normed, backend, activation: .gelu), backend)
        }
    }

    static let normEps: Float = 1e-6

    /// The whole tower; `callAsFunction` maps pixel_values of one or more images to one row per merged token
    /// (row-major over each image's merged grid), ready to replace the `<|image_pad|>` embeddings.
    public final class Tower {
        public let config: QwenVisionConfig
        let patchEmbed: PatchEmbed
        let blocks: [Block]
        let merger: PatchMerger
        let invFreq: [Float]

        init(_ p: QwenParameters, config: QwenVisionConfig) throws {
            self.config = config
            patchEmbed = try PatchEmbed(p.scoped("patch_embed"), config: config)
            blocks = try (0..<config.depth).map { try Block(p.scoped("blocks.\($0)"), config: config) }
            merger = try PatchMerger(p.scoped("merger"), config: config)
            let rotaryDim = config.headDim / 2
            invFreq = stride(from: 0, to: rotaryDim, by: 2).map { i in
                1 / Foundation.pow(Float(10000), Float(i) / Float(rotaryDim))
            }
        }

        /// pixel_values [patches, C·T·P·P] in merge-block order for `grids` (one per image) → [merged tokens, out].
        /// `blockObserver` sees the hidden states after each block (window order), for layer-level parity checks.
        public func callAsFunction(
            pixelValues: Tensor, grids: [QwenGrid], backend: ComputeBackend,
            blockObserver: ((Int, Tensor) throws -> Void)? = nil
        ) throws -> Tensor {
            let merge = config.spatialMergeSize
            let unit = merge * merge
            let patches = grids.reduce(0) { $0 + $1.patches }
            guard pixelValues.rank == 2, pixelValues.shape[0] == patches, patches > 0 else {
                throw QwenModelError.invalidInput("pixel_values \(pixelValues.shape) for grids \(grids)")
            }
            let ids = try QwenVisionGeometry.rotaryPositionIDs(grids: grids, mergeSize: merge)
            let window = try QwenVisionGeometry.windowIndex(
                grids: grids, mergeSize: merge, windowSize: config.windowSize, patchSize: config.patchSize)
            let fullSegments = QwenVisionGeometry.fullAttentionSeqlens(grids: grids)

            let half = invFreq.count
            var angles = [Float](repeating: 0, count: patches * 2 * half)
            for i in 0..<patches {
                let r = Float(ids.rows[i]), c = Float(ids.cols[i])
                for j in 0..<half {
                    angles[i * 2 * half + j] = r * invFreq[j]
                    angles[i * 2 * half + half + j] = c * invFreq[j]
                }
            }
            let anglesTensor = try Tensor(angles, shape: [patches / unit, unit * 2 * half])
            let windowAngles = try gatherRows(anglesTensor, window.windowIndex, width: unit * 2 * half)
                .reshaped([patches, 2 * half])

            let embedded = try patchEmbed(pixelValues, backend)
            var x = try gatherRows(embedded, window.windowIndex, width: unit * config.hiddenSize)
                .reshaped([patches, config.hiddenSize])
            let full = Set(config.fullattBlockIndexes)
            for (i, block) in blocks.enumerated() {
                let segments = full.contains(i) ? fullSegments : window.cuWindowSeqlens
                x = try block(x, angles: windowAngles, segments: segments, backend)
                try blockObserver?(i, x)
            }
            let merged = try merger(x, backend)
            return try gatherRows(
                merged, QwenVisionGeometry.inversePermutation(window.windowIndex), width: config.outHiddenSize)
        }
    }
}
