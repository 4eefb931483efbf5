/// Vectorized transcendental functions used by the elementwise kernels (float32, 8 lanes).
///
/// `exp8` uses Cephes-style range reduction (relative error ~1 ulp); `erf8` is Abramowitz & Stegun 7.1.26
/// (absolute error < 1.5e-7), the same approximation PyTorch's vectorized CPU GELU uses.
@usableFromInline typealias F8 = SIMD8<Float>

@inlinable @inline(__always)
func exp8(_ x: F8) -> F8 {
    let hi = F8(repeating: 88.3762626647949)
    let lo = F8(repeating: -88.3762626647949)
    var xx = x.clamped(lowerBound: lo, upperBound: hi)
    var fx = (xx * 1.44269504088896341 + 0.5)
    fx.round(.down)
    xx = xx - fx * 0.693359375
    xx = xx + fx * 2.12194440e-4
    var y = F8(repeating: 1.9875691500e-4)
    y = y * xx + 1.3981999507e-3
    y = y * xx + 8.3334519073e-3
    y = y * xx + 4.1665795894e-2
    y = y * xx + 1.6666665459e-1
    y = y * xx + 5.0000001201e-1
    y = y * (xx * xx) + xx + 1
    let n = SIMD8<Int32>(fx) &+ 127
    let pow2 = unsafeBitCast(n &<< 23, to: F8.self)
    return y * pow2
}

@inlinable @inline(__always)
func vabs(_ x: F8) -> F8 {
    unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & SIMD8<UInt32>(repeating: 0x7fff_ffff), to: F8.self)
}

@inlinable @inline(__always)
func erf8(_ x: F8) -> F8 {
    let a = vabs(x)
    let t = 1 / (a * 0.3275911 + 1)
    var p = F8(repeating: 1.061405429)
    p = p * t - 1.453152027
    p = p * t + 1.421413741
    p = p * t - 0.284496736
    p = p * t + 0.254829592
    p = p * t
    let r = 1 - p * exp8(-a * a)
    return r.replacing(with: -r, where: x .< 0)
}

@inlinable @inline(__always)
func tanh8(_ x: F8) -> F8 {
    // tanh(x) = 1 - 2 / (exp(2x) + 1), with small |x| handled by a series for accuracy.
    let e = exp8(x * 2)
    var r = 1 - 2 / (e + 1)
    let x2 = x * x
    var poly = x2 * F8(repeating: -17.0 / 315.0) + F8(repeating: 2.0 / 15.0)
    poly = poly * x2 + F8(repeating: -1.0 / 3.0)
    poly = poly * x2 + 1
    let small = x * poly
    r.replace(with: small, where: vabs(x) .< 0.0625)
    return r
}
