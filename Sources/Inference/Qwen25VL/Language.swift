import Compute
import Foundation

/// The Qwen2 decoder of Qwen2.5-VL: token embeddings (image rows replaced by vision tokens), pre-norm layers with
/// GQA attention (q/k/v biased), M-RoPE over (temporal, height, width) position ids, SwiGLU MLP, final RMSNorm and
/// the (possibly tied) head. Stored properties follow the checkpoint keys under `model.`.
public enum Language {
    struct Attention {
        let q: QwenLinear
        let k: QwenLinear
        let v: QwenLinear
        let o: QwenLinear
        let heads: Int
        let kvHeads: Int
        let headDim: Int

        init(_ p: QwenParameters, config: QwenTextConfig) throws {
            let h = config.hiddenSize, d = config.headDim
            heads = config.numAttentionHeads
            kvHeads = config.numKeyValueHeads
            headDim = d
            q = try p.linear("q_proj", out: heads * d, in: h, bias: true)
            k = try p.linear("k_proj", out: kvHeads * d, in: h, bias: true)
            v = try p.linear("v_proj", out: kvHeads * d, in: h, bias: true)
            o = try p.linear("o_proj", out: h, in: heads * d, bias: false)
        }

        /// Causal attention of `x` [L, hidden] at cache positions cache.count ..< cache.count+L; appends k/v.
        func callAsFunction(_ x: Tensor, angles: Tensor, layer: Int, cache: KVCache, _ backend: ComputeBackend)
            throws -> Tensor
        {
            let l = x.shape[0]
            let qr = try backend.rotary(
                try q(x, backend).reshaped([l, heads, headDim]), angles: angles, style: .halfSplit,
                headsBeforeTokens: false)
            let kr = try backend.rotary(
                try k(x, backend).reshaped([l, kvHeads, headDim]), angles: angles, style: .halfSplit,
                headsBeforeTokens: false)
            let vr = try v(x, backend).reshaped([l, kvHeads, headDim])
            let start = cache.count
            try cache.append(layer: layer, keys: kr, values: vr)
            let scale = 1 / Float(headDim).squareRoot()
            let out: Tensor
            if start == 0 && l > 1 {
                out = try backend.attention(
                    tokenMajor: try qr.reshaped([1, l, heads * headDim]), k: try kr.reshaped([1, l, kvHeads * headDim]),
                    v: try vr.reshaped([1, l, kvHeads * headDim]), columns: AttentionColumns(), heads: heads, kvHeads: kvHeads,
                    headDim: headDim, scale: scale, causal: true, segments: nil
                ).reshaped([l, heads * headDim])
            } else {
                out = try cache.attend(layer: layer, queries: qr, firstPosition: start, scale: scale)
            }
            return try o(out, backend)
        }
    }

    struct MLP {
        let gate: QwenLinear
        let up: QwenLinear
        let down: QwenLinear

        init(_ p: QwenParameters, config: QwenTextConfig) throws {
            gate = try p.linear("gate_proj", out: config.intermediateSize, in: config.hiddenSize, bias: false)
            up = try p.linear("up_proj", out: config.intermediateSize, in: config.hiddenSize, bias: false)
            down = try p.linear("down_proj", out: config.hiddenSize, in: config.intermediateSize, bias: false)
        }

        func callAsFunction(_ x: Tensor, _ backend: ComputeBackend) throws -> Tensor {
            // SwiGLU act(gate(x)) · up(x), the activation and product applied while writing gate's output.
            let gated = try gate(x, backend, activation: .silu, multiplying: try up(x, backend))
            return try down(gated, backend)
        }
    }

    struct DecoderLayer {
        let inputLayernorm: Tensor
        let postAttentionLayernorm: Tensor
        let selfAttn: Attention
        let mlp: MLP
        let eps: Float

        init(_ p: QwenParameters, config: QwenTextConfig) throws {
            inputLayernorm = try p.vector("input_layernorm.weight", count: config.hiddenSize)
            postAttentionLayernorm = try p.vector("post_attention_layernorm.weight", count: config.hiddenSize)
            selfAttn = try Attention(p.scoped("self_attn"), config: config)
            mlp = try MLP(p.scoped("mlp"), config: config)
            eps = Float(config.rmsNormEps)
        }

        func callAsFunction(_ x: Tensor, angles: Tensor, layer: Int, cache: KVCache, _ backend: ComputeBackend)
            throws -> Tensor
        {
            let a = try selfAttn(
                try backend.rmsNorm(x, weight: inputLayernorm, eps: eps), angles: angles, layer: layer, cache: cache,
                backend)
            let h = try backend.add(x, a)
            return try backend.add(h, try mlp(try backend.rmsNorm(h, weight: postAttentionLayernorm, eps: eps), backend))
        }
    }

    /// Embeddings, decoder layers, final norm and head.
    public final class Model {
        public let config: QwenTextConfig
        let embedTokens: Tensor  // [vocab, hidden], stored dtype
        let layers: [DecoderLayer]
        let norm: Tensor
        let lmHead: Tensor  // [vocab, hidden]; the embedding itself when tied
        let invFreq: [Float]
        /// Which rotary axis (0 t, 1 h, 2 w) drives each of the head_dim/2 frequencies.
        let axisOfFrequency: [Int]

        init(_ p: QwenParameters, head: QwenParameters, config: QwenTextConfig) throws {
            self.config = config
            let h = config.hiddenSize, vocab = config.vocabSize
            embedTokens = try p.matrix("embed_tokens.weight", shape: [vocab, h])
            layers = try (0..<config.numHiddenLayers).map { try DecoderLayer(p.scoped("layers.\($0)"), config: config) }
            norm = try p.vector("norm.weight", count: h)
            if config.tieWordEmbeddings {
                lmHead = embedTokens
            } else {
                lmHead = try head.matrix("lm_head.weight", shape: [vocab, h])
            }
            let d = config.headDim
            invFreq = stride(from: 0, to: d, by: 2).map { i in
                1 / Foundation.pow(Float(config.ropeTheta), Float(i) / Float(d))
            }
            var axes: [Int] = []
            for (axis, n) in config.mropeSection.enumerated() { axes += [Int](repeating: axis, count: n) }
            axisOfFrequency = axes
        }

        /// Embedding rows for `ids`, widened to float32 ([L, hidden]).
        func embed(_ ids: [Int]) throws -> Tensor {
            let h = config.hiddenSize
            let out = Tensor(uninitialized: [ids.count, h])
            for (i, id) in ids.enumerated() {
                guard id >= 0, id < config.vocabSize else {
                    throw QwenModelError.invalidInput("token id \(id) outside the vocabulary (\(config.vocabSize))")
                }
                let dst = out.floats + i * h
                switch embedTokens.elementType {
                case .float32: dst.update(from: embedTokens.floats + id * h, count: h)
                case .bfloat16:
                    let src = embedTokens.bf16Bits + id * h
                    for j in 0..<h { dst[j] = Float(bitPattern: UInt32(src[j]) << 16) }
                }
            }
            return out
        }

        /// Rotary angles [L, head_dim/2] for 3-axis positions (positions[axis][token]).
        func angles(_ positions: [[Int]]) throws -> Tensor {
            let l = positions.first?.count ?? 0
            let half = invFreq.count
            var a = [Float](repeating: 0, count: l * half)
            for t in 0..<l {
                for j in 0..<half { a[t * half + j] = Float(positions[axisOfFrequency[j]][t]) * invFreq[j] }
            }
            return try Tensor(a, shape: [l, half])
        }

        /// Runs `hidden` [L, hidden] through every layer at the given positions, appending to `cache`, and returns
        /// the final-normed last row's logits [vocab]. `layerObserver` sees each layer's output (before the final norm).
        func forward(
            _ hidden: Tensor, positions: [[Int]], cache: KVCache, backend: ComputeBackend,
            layerObserver: ((Int, Tensor) throws -> Void)? = nil
        ) throws -> [Float] {
            let l = hidden.shape[0]
            guard positions.count == 3, positions.allSatisfy({ $0.count == l }), l > 0 else {
                throw QwenModelError.invalidInput("positions must be 3 × \(l)")
            }
            try cache.reserve(cache.count + l)
            let ang = try angles(positions)
            var x = hidden
            for (i, layer) in layers.enumerated() {
                x = try layer(x, angles: ang, layer: i, cache: cache, backend)
                try layerObserver?(i, x)
            }
            cache.commit(l)
            let last = try x.rows(l - 1, l)
            let normed = try backend.rmsNorm(last, weight: norm, eps: Float(config.rmsNormEps))
            return try backend.linear(normed, weight: lmHead, bias: nil).toArray()
        }
    }

    /// Keys (after rotary) and values of every layer, float32, [kvHeads, capacity, headDim] per layer.
    public final class KVCache {
        let layers: Int
        let kvHeads: Int
        let headDim: Int
        let threads: Int
        private(set) var capacity = 0
        /// Committed positions (complete across all layers).
        public private(set) var count = 0
        private var keys: [UnsafeMutablePointer<Float>] = []
        private var values: [UnsafeMutablePointer<Float>] = []

        init(layers: Int, kvHeads: Int, headDim: Int, threads: Int) {
            self.layers = layers
            self.kvHeads = kvHeads
            self.headDim = headDim
            self.threads = max(1, threads)
        }

        deinit {
            for p in keys { p.deallocate() }
            for p in values { p.deallocate() }
        }

        /// Drops every position (the buffers are kept).
        public func reset() { count = 0 }

        /// An independent cache holding this one's first `positions` committed positions (all by default): a
        /// prompt prefix kept per frame, so each further question extends its own copy. Causal attention makes
        /// the prefix's keys and values the same whatever followed it.
        public func copy(positions: Int? = nil) throws -> KVCache {
            let n = positions ?? count
            guard n >= 0, n <= count else {
                throw QwenModelError.invalidInput("cannot copy \(n) positions of a KV cache holding \(count)")
            }
            let c = KVCache(layers: layers, kvHeads: kvHeads, headDim: headDim, threads: threads)
            guard n > 0 else { return c }
            try c.reserve(n)
            for l in 0..<layers {
                for h in 0..<kvHeads {
                    (c.keys[l] + h * c.capacity * headDim).update(from: keys[l] + h * capacity * headDim, count: n * headDim)
                    (c.values[l] + h * c.capacity * headDim).update(from: values[l] + h * capacity * headDim, count: n * headDim)
                }
            }
            c.count = n
            return c
        }

        func reserve(_ needed: Int) throws {
            guard needed > capacity else { return }
            let newCapacity = max(needed, capacity * 2, 256)
            let per = kvHeads * newCapacity * headDim
            func grown(_ old: UnsafeMutablePointer<Float>?) -> UnsafeMutablePointer<Float> {
                let p = UnsafeMutablePointer<Float>.allocate(capacity: per)
                if let old {
                    for h in 0..<kvHeads where count > 0 {
                        (p + h * newCapacity * headDim).update(from: old + h * capacity * headDim, count: count * headDim)
                    }
                    old.deallocate()
                }
                return p
            }
            let hadBuffers = !keys.isEmpty
            keys = (0..<layers).map { grown(hadBuffers ? keys[$0] : nil) }
            values = (0..<layers).map { grown(hadBuffers ? values[$0] : nil) }
            capacity = newCapacity
        }

        /// Writes rows [L, kvHeads, headDim] at positions count ..< count+L of `layer` (visible after `commit`).
        func append(layer: Int, keys k: Tensor, values v: Tensor) throws {
            let l = k.shape[0]
            guard count + l <= capacity else {
                throw QwenModelError.invalidInput("KV cache capacity \(capacity) exceeded")
            }
            let kp = k.floats, vp = v.floats
            for t in 0..<l {
                for h in 0..<kvHeads {
                    let dst = (h * capacity + count + t) * headDim
                    let src = (t * kvHeads + h) * headDim
                    (keys[layer] + dst).update(from: kp + src, count: headDim)
                    (values[layer] + dst).update(from: vp + src, count: headDim)
                }
            }
        }

        func commit(_ l: Int) { count += l }

        /// Causal attention of queries [L, heads, headDim] at positions first ..< first+L against this layer's
        /// cache (which already holds them); returns [L, heads·headDim].
        func attend(layer: Int, queries: Tensor, firstPosition: Int, scale: Float) throws -> Tensor {
            let l = queries.shape[0], heads = queries.shape[1]
            guard heads % kvHeads == 0, queries.shape[2] == headDim, firstPosition + l <= capacity else {
                throw QwenModelError.invalidInput("queries \(queries.shape) at \(firstPosition) for a cache of \(capacity) positions, \(kvHeads) KV heads")
            }
            let out = Tensor(uninitialized: [l, heads * headDim])
            CachedAttention.attend(
                queries: queries.floats, tokens: l, heads: heads, kvHeads: kvHeads, headDim: headDim, keys: keys[layer],
                values: values[layer], capacity: capacity, firstPosition: firstPosition, scale: scale, output: out.floats,
                threads: threads)
            return out
        }
    }
}
