/// Vectorized transcendental functions used by the elementwise kernels (float32, 8 lanes).
///
/// Only plain lane arithmetic, compares and bit casts are used: the standard library's generic SIMD helpers
/// (`rounded`, integer conversion, `clamped`) compile to per-lane scalar code and were 15x slower.
/// `exp8` is Cephes' polynomial with a round-to-nearest range reduction (input clamped to [-87, 88]);
/// `erf8` is Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7), as in PyTorch's vectorized GELU.
/// Polynomials are evaluated with fused multiply-adds (`fma8`): Swift does not contract `a * b + c` on its own,
/// and the separate multiply and add cost both time and a rounding.
@usableFromInline typealias F8 = SIMD8<Float>

/// a·b + c with one rounding (vfmadd).
@inlinable @inline(__always)
func fma8(_ a: F8, _ b: F8, _ c: F8) -> F8 { c.addingProduct(a, b) }

@inlinable @inline(__always)
func vmin(_ a: F8, _ b: F8) -> F8 { a.replacing(with: b, where: b .< a) }
@inlinable @inline(__always)
func vmax(_ a: F8, _ b: F8) -> F8 { a.replacing(with: b, where: b .> a) }

@inlinable @inline(__always)
func exp8(_ x: F8) -> F8 {
    var xx = vmax(vmin(x, F8(repeating: 88.0)), F8(repeating: -87.0))
    // n = round(x / ln 2) via the 1.5·2^23 trick (exact for |n| < 2^22).
    let magic = F8(repeating: 12582912)
    let shifted = fma8(xx, F8(repeating: 1.44269504088896341), magic)
    let fx = shifted - magic
    let n = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
    xx = fma8(fx, F8(repeating: -0.693359375), xx)
    xx = fma8(fx, F8(repeating: 2.12194440e-4), xx)
    var y = F8(repeating: 1.9875691500e-4)
    y = fma8(y, xx, F8(repeating: 1.3981999507e-3))
    y = fma8(y, xx, F8(repeating: 8.3334519073e-3))
    y = fma8(y, xx, F8(repeating: 4.1665795894e-2))
    y = fma8(y, xx, F8(repeating: 1.6666665459e-1))
    y = fma8(y, xx, F8(repeating: 5.0000001201e-1))
    y = fma8(y, xx * xx, xx) + 1
    let pow2 = unsafeBitCast((n &+ 127) &<< 23, to: F8.self)
    return y * pow2
}

@inlinable @inline(__always)
func vabs(_ x: F8) -> F8 {
    unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & SIMD8<UInt32>(repeating: 0x7fff_ffff), to: F8.self)
}

@inlinable @inline(__always)
func erf8(_ x: F8) -> F8 {
    let a = vabs(x)
    let t = 1 / fma8(a, F8(repeating: 0.3275911), F8(repeating: 1))
    var p = F8(repeating: 1.061405429)
    p = fma8(p, t, F8(repeating: -1.453152027))
    p = fma8(p, t, F8(repeating: 1.421413741))
    p = fma8(p, t, F8(repeating: -0.284496736))
    p = fma8(p, t, F8(repeating: 0.254829592))
    p = p * t
    let r = fma8(-p, exp8(-a * a), F8(repeating: 1))
    let sign = unsafeBitCast(x, to: SIMD8<UInt32>.self) & SIMD8<UInt32>(repeating: 0x8000_0000)
    return unsafeBitCast(unsafeBitCast(r, to: SIMD8<UInt32>.self) | sign, to: F8.self)
}

@inlinable @inline(__always)
func tanh8(_ x: F8) -> F8 {
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
