import CKernels
import Foundation

@inline(__always) func ld8(_ p: UnsafePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }
@inline(__always) func st8(_ p: UnsafeMutablePointer<Float>, _ v: SIMD8<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self) }

extension BLASBackend {
    /// Elements per parallel chunk for memory-bound loops.
    static var pointwiseGrain: Int { 1 << 15 }

    func broadcastInner(_ a: Tensor, _ b: Tensor, _ op: String) throws -> Int {
        try requireF32(a, op); try requireF32(b, op)
        var bs = b.shape[...]
        while bs.count > a.rank, bs.first == 1 { bs = bs.dropFirst() }
        while bs.first == 1, bs.count > 1, Array(a.shape.suffix(bs.count)) != Array(bs) { bs = bs.dropFirst() }
        guard bs.count <= a.rank, Array(a.shape.suffix(bs.count)) == Array(bs) else {
            throw ComputeError.shapeMismatch(op: op, message: "\(a.shape) with \(b.shape) (b must match a trailing suffix of a)")
        }
        return b.count
    }

    private func binary(_ a: Tensor, _ b: Tensor, _ op: String, _ f: @escaping (SIMD8<Float>, SIMD8<Float>) -> SIMD8<Float>, _ g: @escaping (Float, Float) -> Float) throws -> Tensor {
        let inner = try broadcastInner(a, b, op)
        let y = Tensor(uninitialized: a.shape)
        let n = a.count
        guard n > 0 else { return y }
        let ap = a.floats, bp = b.floats, yp = y.floats
        if inner == n {
            Parallel.forRanges(n, threads: threads, grain: Self.pointwiseGrain) { r in
                var i = r.lowerBound
                while i + 8 <= r.upperBound { st8(yp + i, f(ld8(ap + i), ld8(bp + i))); i += 8 }
                while i < r.upperBound { yp[i] = g(ap[i], bp[i]); i += 1 }
            }
        } else {
            let outer = n / max(inner, 1)
            Parallel.forRanges(outer, threads: threads, grain: max(1, Self.pointwiseGrain / max(inner, 1))) { r in
                for o in r {
                    let ar = ap + o * inner, yr = yp + o * inner
                    var i = 0
                    while i + 8 <= inner { st8(yr + i, f(ld8(ar + i), ld8(bp + i))); i += 8 }
                    while i < inner { yr[i] = g(ar[i], bp[i]); i += 1 }
                }
            }
        }
        return y
    }

    public func add(_ a: Tensor, _ b: Tensor) throws -> Tensor { try binary(a, b, "add", { $0 + $1 }, { $0 + $1 }) }
    public func mul(_ a: Tensor, _ b: Tensor) throws -> Tensor { try binary(a, b, "mul", { $0 * $1 }, { $0 * $1 }) }

    public func scale(_ x: Tensor, by s: Float) throws -> Tensor {
        try map(x, "scale", { $0 * s })
    }

    func map(_ x: Tensor, _ op: String, _ f: @escaping (SIMD8<Float>) -> SIMD8<Float>) throws -> Tensor {
        try requireF32(x, op)
        let y = Tensor(uninitialized: x.shape)
        let xp = x.floats, yp = y.floats
        Parallel.forRanges(x.count, threads: threads, grain: Self.pointwiseGrain) { r in
            var i = r.lowerBound
            while i + 8 <= r.upperBound { st8(yp + i, f(ld8(xp + i))); i += 8 }
            if i < r.upperBound {
                var tail = SIMD8<Float>()
                for j in i..<r.upperBound { tail[j - i] = xp[j] }
                let o = f(tail)
                for j in i..<r.upperBound { yp[j] = o[j - i] }
            }
        }
        return y
    }

    public func unary(_ x: Tensor, _ op: UnaryOp) throws -> Tensor {
        try requireF32(x, op.rawValue)
        let y = Tensor(uninitialized: x.shape)
        let n = x.count
        let xp = x.floats, yp = y.floats
        Parallel.forRanges(n, threads: threads, grain: Self.pointwiseGrain) { r in
            applyActivation(op, xp + r.lowerBound, bias: nil, yp + r.lowerBound, r.count)
        }
        return y
    }

    @inline(__always) static func gelu8(_ v: SIMD8<Float>) -> SIMD8<Float> {
        v * 0.5 * (1 + erf8(v * 0.70710678118654752440))
    }

    @inline(__always) static func geluTanh8(_ v: SIMD8<Float>) -> SIMD8<Float> {
        let inner = (v + v * v * v * 0.044715) * 0.79788456080286535588
        return v * 0.5 * (1 + tanh8(inner))
    }

    // MARK: - normalization

    private func rowsOf(_ x: Tensor, _ c: Int) -> Int { c == 0 ? 0 : x.count / c }

    public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float) throws -> Tensor {
        try requireF32(x, "layerNorm")
        guard x.rank >= 1 else { throw ComputeError.invalidShape(op: "layerNorm", shape: x.shape) }
        let c = x.shape[x.rank - 1]
        for p in [weight, bias] { if let p { try requireF32(p, "layerNorm"); guard p.count == c else { throw ComputeError.shapeMismatch(op: "layerNorm", message: "x \(x.shape), param \(p.shape)") } } }
        let y = Tensor(uninitialized: x.shape)
        let xp = x.floats, yp = y.floats
        let wp = weight?.floats, bp = bias?.floats
        Parallel.forRanges(rowsOf(x, c), threads: threads, grain: max(1, 8192 / max(c, 1))) { r in
            for row in r {
                layerNormRow(xp + row * c, yp + row * c, c, wp, bp, eps)
            }
        }
        return y
    }

    public func addLayerNorm(_ a: Tensor, _ b: Tensor, bias: Tensor?, weight: Tensor?, normBias: Tensor?, eps: Float) throws
        -> (sum: Tensor, normed: Tensor)
    {
        try requireF32(a, "addLayerNorm"); try requireF32(b, "addLayerNorm")
        guard a.rank >= 1, a.shape == b.shape else { throw ComputeError.shapeMismatch(op: "addLayerNorm", message: "\(a.shape) + \(b.shape)") }
        let c = a.shape[a.rank - 1]
        for p in [bias, weight, normBias] {
            if let p { try requireF32(p, "addLayerNorm"); guard p.count == c else { throw ComputeError.shapeMismatch(op: "addLayerNorm", message: "x \(a.shape), param \(p.shape)") } }
        }
        let sum = Tensor(uninitialized: a.shape), normed = Tensor(uninitialized: a.shape)
        let ap = a.floats, bp = b.floats, sp = sum.floats, np = normed.floats
        let biasP = bias?.floats, wp = weight?.floats, nbp = normBias?.floats
        Parallel.forRanges(rowsOf(a, c), threads: threads, grain: max(1, 8192 / max(c, 1))) { r in
            for row in r {
                let ar = ap + row * c, br = bp + row * c, sr = sp + row * c
                var i = 0
                if let biasP {
                    while i + 8 <= c { st8(sr + i, ld8(ar + i) + (ld8(br + i) + ld8(biasP + i))); i += 8 }
                    while i < c { sr[i] = ar[i] + (br[i] + biasP[i]); i += 1 }
                } else {
                    while i + 8 <= c { st8(sr + i, ld8(ar + i) + ld8(br + i)); i += 8 }
                    while i < c { sr[i] = ar[i] + br[i]; i += 1 }
                }
                layerNormRow(sr, np + row * c, c, wp, nbp, eps)
            }
        }
        return (sum, normed)
    }

    public func layerNorm2d(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float) throws -> Tensor {
        try requireF32(x, "layerNorm2d")
        guard x.rank == 4, weight.count == x.shape[1], bias.count == x.shape[1] else {
            throw ComputeError.shapeMismatch(op: "layerNorm2d", message: "x \(x.shape), weight \(weight.shape), bias \(bias.shape)")
        }
        // Directly in NCHW: per image, channel planes are summed pixel-wise (two passes, as SAM2's LayerNorm2d),
        // so no transposes; pixel blocks are spread over the threads.
        let n = x.shape[0], c = x.shape[1], hw = x.shape[2] * x.shape[3]
        let y = Tensor(uninitialized: x.shape)
        guard c > 0, hw > 0 else { return y }
        let xp = x.floats, yp = y.floats, wp = weight.floats, bp = bias.floats
        let block = 256
        let blocks = (hw + block - 1) / block
        Parallel.forRanges(n * blocks, threads: threads, grain: 1) { r in
            let mean = UnsafeMutablePointer<Float>.allocate(capacity: block)
            let rstd = UnsafeMutablePointer<Float>.allocate(capacity: block)
            defer { mean.deallocate(); rstd.deallocate() }
            for task in r {
                let img = task / blocks, p0 = (task % blocks) * block, len = min(block, hw - p0)
                let base = img * c * hw + p0
                mean.initialize(repeating: 0, count: len)
                for ch in 0..<c { addInto(mean, xp + base + ch * hw, len) }
                let invC = 1 / Float(c)
                for i in 0..<len { mean[i] *= invC }
                rstd.initialize(repeating: 0, count: len)
                for ch in 0..<c {
                    let src = xp + base + ch * hw
                    for i in 0..<len { let d = src[i] - mean[i]; rstd[i] += d * d }
                }
                for i in 0..<len { rstd[i] = 1 / (rstd[i] * invC + eps).squareRoot() }
                for ch in 0..<c {
                    let src = xp + base + ch * hw, dst = yp + base + ch * hw
                    let wc = wp[ch], bc = bp[ch]
                    for i in 0..<len { dst[i] = ((src[i] - mean[i]) * rstd[i]) * wc + bc }
                }
            }
        }
        return y
    }

    public func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float) throws -> Tensor {
        try requireF32(x, "rmsNorm")
        guard x.rank >= 1 else { throw ComputeError.invalidShape(op: "rmsNorm", shape: x.shape) }
        let c = x.shape[x.rank - 1]
        if let w = weight { try requireF32(w, "rmsNorm"); guard w.count == c else { throw ComputeError.shapeMismatch(op: "rmsNorm", message: "x \(x.shape), weight \(w.shape)") } }
        let y = Tensor(uninitialized: x.shape)
        let xp = x.floats, yp = y.floats, wp = weight?.floats
        Parallel.forRanges(rowsOf(x, c), threads: threads, grain: max(1, 8192 / max(c, 1))) { r in
            for row in r {
                let xr = xp + row * c, yr = yp + row * c
                let ms = dotF32(xr, xr, c) / Float(c)
                let inv = 1 / (ms + eps).squareRoot()
                if let wp { for i in 0..<c { yr[i] = (xr[i] * inv) * wp[i] } } else { for i in 0..<c { yr[i] = xr[i] * inv } }
            }
        }
        return y
    }

    public func softmax(_ x: Tensor) throws -> Tensor {
        try requireF32(x, "softmax")
        guard x.rank >= 1 else { throw ComputeError.invalidShape(op: "softmax", shape: x.shape) }
        let c = x.shape[x.rank - 1]
        let y = Tensor(uninitialized: x.shape)
        let xp = x.floats, yp = y.floats
        Parallel.forRanges(rowsOf(x, c), threads: threads, grain: max(1, 8192 / max(c, 1))) { r in
            for row in r {
                (yp + row * c).update(from: xp + row * c, count: c)
                softmaxRowInPlace(yp + row * c, c)
            }
        }
        return y
    }
}

@inline(__always)
func layerNormRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ c: Int, _ w: UnsafePointer<Float>?, _ b: UnsafePointer<Float>?, _ eps: Float) {
    var s8 = SIMD8<Float>()
    var i = 0
    while i + 8 <= c { s8 += ld8(x + i); i += 8 }
    var s = s8.sum()
    while i < c { s += x[i]; i += 1 }
    let mean = s / Float(c)
    var v8 = SIMD8<Float>()
    i = 0
    while i + 8 <= c { let d = ld8(x + i) - mean; v8.addProduct(d, d); i += 8 }
    var v = v8.sum()
    while i < c { let d = x[i] - mean; v += d * d; i += 1 }
    let rstd = 1 / (v / Float(c) + eps).squareRoot()
    i = 0
    if let w, let b {
        while i + 8 <= c { st8(y + i, ((ld8(x + i) - mean) * rstd) * ld8(w + i) + ld8(b + i)); i += 8 }
        while i < c { y[i] = ((x[i] - mean) * rstd) * w[i] + b[i]; i += 1 }
    } else {
        for j in 0..<c { y[j] = (x[j] - mean) * rstd * (w?[j] ?? 1) + (b?[j] ?? 0) }
    }
}

@inline(__always)
private func addInto(_ acc: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
    var i = 0
    while i + 8 <= n { st8(acc + i, ld8(acc + i) + ld8(x + i)); i += 8 }
    while i < n { acc[i] += x[i]; i += 1 }
}

@inline(__always)
func softmaxRowInPlace(_ p: UnsafeMutablePointer<Float>, _ c: Int) {
    var m8 = SIMD8<Float>(repeating: -.infinity)
    var i = 0
    while i + 8 <= c { m8 = vmax(m8, ld8(p + i)); i += 8 }
    var m = m8.max()
    while i < c { m = max(m, p[i]); i += 1 }
    if m == -.infinity { m = 0 }
    var s8 = SIMD8<Float>()
    i = 0
    while i + 8 <= c { let e = exp8(ld8(p + i) - m); st8(p + i, e); s8 += e; i += 8 }
    var s = s8.sum()
    while i < c { let e = Foundation.exp(p[i] - m); p[i] = e; s += e; i += 1 }
    let inv = 1 / s
    i = 0
    while i + 8 <= c { st8(p + i, ld8(p + i) * inv); i += 8 }
    while i < c { p[i] *= inv; i += 1 }
}

/// One activation as a type, so that the loops below are specialized and inlined per activation (a closure
/// called per 8 lanes was not inlined and cost about as much as the math).
protocol Activation8 { static func apply(_ v: SIMD8<Float>) -> SIMD8<Float> }
enum GeluActivation: Activation8 { @inline(__always) static func apply(_ v: F8) -> F8 { BLASBackend.gelu8(v) } }
enum GeluTanhActivation: Activation8 { @inline(__always) static func apply(_ v: F8) -> F8 { BLASBackend.geluTanh8(v) } }
enum SiluActivation: Activation8 { @inline(__always) static func apply(_ v: F8) -> F8 { v / (1 + exp8(-v)) } }
enum ReluActivation: Activation8 { @inline(__always) static func apply(_ v: F8) -> F8 { v.replacing(with: 0, where: v .< 0) } }
enum SigmoidActivation: Activation8 { @inline(__always) static func apply(_ v: F8) -> F8 { 1 / (1 + exp8(-v)) } }

/// The C kernels' AVX-512 paths (attention, products with a small inner dimension, GELU).
public enum AVX512Kernels {
    /// Whether they run: the CPU has AVX-512 and `PERCEPTION_AVX512` is not `0`. Tests turn it off to compare with
    /// the portable paths (set it while no computation runs).
    nonisolated(unsafe) public static var enabled = pn_avx512_available() != 0 && ProcessInfo.processInfo.environment["PERCEPTION_AVX512"] != "0"
}

/// y[i] = op(x[i] + bias[i]) · multiplier[i] for i in 0..<n (bias and multiplier optional; y may be x).
/// GELU runs on 16 lanes where the CPU has AVX-512 (`pn_gelu_avx512`, bit-identical to `GeluActivation`).
func applyActivation(_ op: UnaryOp, _ x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, _ n: Int,
                     multiplier: UnsafePointer<Float>? = nil) {
    switch op {
    case .gelu where AVX512Kernels.enabled: pn_gelu_avx512(x, bias, multiplier, y, n)
    case .gelu: activationLoop(GeluActivation.self, x, bias, multiplier, y, n)
    case .geluTanh: activationLoop(GeluTanhActivation.self, x, bias, multiplier, y, n)
    case .silu: activationLoop(SiluActivation.self, x, bias, multiplier, y, n)
    case .relu: activationLoop(ReluActivation.self, x, bias, multiplier, y, n)
    case .sigmoid: activationLoop(SigmoidActivation.self, x, bias, multiplier, y, n)
    }
}

@inline(__always)
private func activationLoop<A: Activation8>(_: A.Type, _ x: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                                            _ multiplier: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    switch (bias, multiplier) {
    case let (b?, m?): while i + 8 <= n { st8(y + i, A.apply(ld8(x + i) + ld8(b + i)) * ld8(m + i)); i += 8 }
    case let (b?, nil): while i + 8 <= n { st8(y + i, A.apply(ld8(x + i) + ld8(b + i))); i += 8 }
    case let (nil, m?): while i + 8 <= n { st8(y + i, A.apply(ld8(x + i)) * ld8(m + i)); i += 8 }
    case (nil, nil): while i + 8 <= n { st8(y + i, A.apply(ld8(x + i))); i += 8 }
    }
    guard i < n else { return }
    var tail = SIMD8<Float>()
    for j in i..<n { tail[j - i] = bias.map { x[j] + $0[j] } ?? x[j] }
    let o = A.apply(tail)
    for j in i..<n { y[j] = multiplier.map { o[j - i] * $0[j] } ?? o[j - i] }
}
