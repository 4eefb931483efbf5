/// The op set every compute backend implements; model code (SAM2, Qwen2.5-VL) is written once against it.
///
/// All tensors are row-major with PyTorch dimension order. Activations are float32; `weight` arguments of
/// `linear` may also be bfloat16. Every op returns a new contiguous tensor and throws `ComputeError` on
/// shape mismatches (never traps). Unit tests compare each op to a scalar reference (Tests/ComputeTests).
///
/// | op | shapes | semantics (PyTorch equivalent) |
/// |---|---|---|
/// | `linear` | x [..., in], w [out, in] (f32/bf16), b [out], optional multiplier = output's shape | `F.linear` = x·wᵀ + b, optionally followed by a `unary` activation and then `* multiplier` (SwiGLU's `act(gate(x)) * up(x)`), one op so a backend can apply them while writing the product |
/// | `matmul` | a [..., M, K], b [..., K, N] or [K, N] (or [..., N, K] with `transposeB`) | `torch.matmul` |
/// | `add`, `mul` | a [...], b = a's shape or a trailing suffix of it (broadcast) | `a + b`, `a * b` |
/// | `scale` | x, s | `x * s` |
/// | `unary` | any | `F.gelu` (erf), `F.gelu(approximate="tanh")`, `F.silu`, `F.relu`, `torch.sigmoid` |
/// | `layerNorm` | x [..., C], w [C], b [C] | `F.layer_norm` over the last dim (biased variance) |
/// | `addLayerNorm` | a [..., C], b = a's shape, bias, w, normBias [C] | a residual step and the next norm in one pass: `s = a + (b + bias)`, returns (s, `F.layer_norm(s)`) |
/// | `layerNorm2d` | x [N, C, H, W], w [C], b [C] | SAM's `LayerNorm2d` (normalize over C per pixel) |
/// | `rmsNorm` | x [..., C], w [C] | x·rsqrt(mean(x²)+eps)·w (Qwen2 / LLaMA) |
/// | `softmax` | x [..., L] | `softmax(dim=-1)` |
/// | `attention` | q [B, Hq, Lq, D], k [B, Hkv, Lk, D], v [B, Hkv, Lk, Dv] | `F.scaled_dot_product_attention` with optional causal mask (bottom-right aligned when Lq < Lk, as a KV cache needs) and grouped heads (Hq = g·Hkv, query head h uses kv head h / g); tiled over queries and keys with an online softmax, never materializing Lq×Lk |
/// | `attention(tokenMajor:)` | q [B, Lq, Cq], k [B, Lk, Ck], v [B, Lk, Cv]; head h in columns `columns.q + h·D ..< +D` (kv head h / g of k and v likewise) | the same attention read straight from projection outputs (one fused qkv tensor or three), output [B, Lq, H·D] ready for the output projection: no head transposes; optional `segments` [0, …, L] restrict attention to diagonal blocks (window attention over concatenated windows) |
/// | `conv2d` | x [N, C, H, W], w [O, C, kh, kw], b [O] | `F.conv2d` with stride and zero padding (im2col + sgemm); output NCHW, or NHWC with `outputLayout: .nhwc` (im2col rows + `linear`, no transpose afterwards) |
/// | `convTranspose2x2` | x [N, C, H, W] (or [N, H, W, C] with `inputLayout: .nhwc`), w [C, O, 2, 2], b [O] | `F.conv_transpose2d(stride=2)`, output NCHW |
/// | `maxPool2x2` | [N, C, H, W] or [N, H, W, C] | `F.max_pool2d(kernel=2, stride=2)` (floor) |
/// | `interpolate` | x [N, C, H, W] | `F.interpolate(size:, mode: nearest / bilinear / bicubic (A=-0.75), align_corners=False, antialias)` |
/// | `permute` | any | `x.permute(dims).contiguous()` |
/// | `slice` | any | `x.narrow(dim, start, end-start).contiguous()` |
/// | `concat` | same shape except `dim` | `torch.cat` |
/// | `windowPartition` | x [N, H, W, C] | Hiera's `window_partition`: zero-pad H, W up to multiples of `window`, windows [N·(H'/ws)·(W'/ws), ws, ws, C] (one copy instead of pad + permute) |
/// | `windowUnpartition` | windows [N·(H'/ws)·(W'/ws), ws, ws, C] | `window_unpartition`: back to [N, H, W, C] for the given (unpadded) H, W, the padding cropped |
/// | `rotary` | x [..., L, H, D] (tokens major) or [..., H, L, D], angles [L, D/2] | rotary position embedding; `.halfSplit` pairs (i, i+D/2) (NeoX `rotate_half`, Qwen), `.adjacentPairs` pairs (2i, 2i+1) (SAM2 memory attention) |
public protocol ComputeBackend: AnyObject, Sendable {
    /// A short human-readable name ("blas(openblas, 2 threads)").
    var name: String { get }

    func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) throws -> Tensor
    func linear(_ x: Tensor, weight: Tensor, bias: Tensor?, activation: UnaryOp?, multiplying: Tensor?) throws -> Tensor
    func matmul(_ a: Tensor, _ b: Tensor, transposeB: Bool) throws -> Tensor

    func add(_ a: Tensor, _ b: Tensor) throws -> Tensor
    func mul(_ a: Tensor, _ b: Tensor) throws -> Tensor
    func scale(_ x: Tensor, by s: Float) throws -> Tensor
    func unary(_ x: Tensor, _ op: UnaryOp) throws -> Tensor

    func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float) throws -> Tensor
    func layerNorm2d(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float) throws -> Tensor
    func addLayerNorm(_ a: Tensor, _ b: Tensor, bias: Tensor?, weight: Tensor?, normBias: Tensor?, eps: Float) throws -> (sum: Tensor, normed: Tensor)
    func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float) throws -> Tensor
    func softmax(_ x: Tensor) throws -> Tensor

    func attention(q: Tensor, k: Tensor, v: Tensor, scale: Float, causal: Bool) throws -> Tensor
    func attention(tokenMajor q: Tensor, k: Tensor, v: Tensor, columns: AttentionColumns, heads: Int, kvHeads: Int,
                   headDim: Int, scale: Float, causal: Bool, segments: [Int]?) throws -> Tensor

    func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int), outputLayout: SpatialLayout) throws -> Tensor
    func convTranspose2x2(_ x: Tensor, weight: Tensor, bias: Tensor?, inputLayout: SpatialLayout) throws -> Tensor
    func maxPool2x2(_ x: Tensor, layout: SpatialLayout) throws -> Tensor
    func interpolate(_ x: Tensor, height: Int, width: Int, mode: InterpolationMode, antialias: Bool) throws -> Tensor

    func permute(_ x: Tensor, _ dims: [Int]) throws -> Tensor
    func slice(_ x: Tensor, dim: Int, start: Int, end: Int) throws -> Tensor
    func concat(_ xs: [Tensor], dim: Int) throws -> Tensor
    func windowPartition(_ x: Tensor, window: Int) throws -> Tensor
    func windowUnpartition(_ x: Tensor, window: Int, height: Int, width: Int) throws -> Tensor

    func rotary(_ x: Tensor, angles: Tensor, style: RotaryStyle, headsBeforeTokens: Bool) throws -> Tensor
}

/// Where each operand's first head starts in its rows (`attention(tokenMajor:)`): for a fused qkv projection
/// [B, L, 3·H·D] the columns are (0, H·D, 2·H·D).
public struct AttentionColumns: Sendable, CustomStringConvertible {
    public let q: Int, k: Int, v: Int
    public init(q: Int = 0, k: Int = 0, v: Int = 0) { self.q = q; self.k = k; self.v = v }
    /// One fused [B, L, 3·width] projection laid out q | k | v.
    public static func fused(width: Int) -> AttentionColumns { AttentionColumns(q: 0, k: width, v: 2 * width) }
    public var description: String { "(q \(q), k \(k), v \(v))" }
}

extension ComputeBackend {
    /// `conv2d` with an NCHW output (as `F.conv2d`).
    public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int)) throws -> Tensor {
        try conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, outputLayout: .nchw)
    }

    /// `activation(x·wᵀ + b)`.
    public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?, activation: UnaryOp?) throws -> Tensor {
        try linear(x, weight: weight, bias: bias, activation: activation, multiplying: nil)
    }

    /// `convTranspose2x2` of an NCHW input.
    public func convTranspose2x2(_ x: Tensor, weight: Tensor, bias: Tensor?) throws -> Tensor {
        try convTranspose2x2(x, weight: weight, bias: bias, inputLayout: .nchw)
    }
}

/// Pointwise activations.
public enum UnaryOp: String, Sendable, CaseIterable {
    /// GELU with the exact erf (`F.gelu`).
    case gelu
    /// GELU with the tanh approximation (`F.gelu(approximate="tanh")`).
    case geluTanh
    case silu, relu, sigmoid
}

/// Memory order of a 4-d image tensor.
public enum SpatialLayout: Sendable { case nchw, nhwc }

/// Resampling kernels with PyTorch `F.interpolate` semantics (align_corners=False).
public enum InterpolationMode: String, Sendable { case nearest, bilinear, bicubic }

/// How rotary embedding pairs channels.
public enum RotaryStyle: Sendable {
    /// Channel i rotates with channel i + D/2 (GPT-NeoX `rotate_half`; Qwen2 and Qwen2.5-VL).
    case halfSplit
    /// Channel 2i rotates with channel 2i+1 (GPT-J / SAM2 memory attention).
    case adjacentPairs
}
