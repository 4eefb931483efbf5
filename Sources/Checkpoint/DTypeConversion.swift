/// Vectorized widening of half-precision and double data to Float, callable on any sub-range (e.g. one GEMM tile).
/// The 16-bit kernels are inlinable, so callers built with wider vector units (AVX2) get them vectorized for it.
public enum DTypeConversion {
    /// bfloat16 -> Float: the 16 stored bits are the high half of the Float (exact).
    @inlinable
    public static func widenBF16(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        // A plain loop: LLVM vectorizes it (Swift's generic SIMD conversions do not lower to vector code).
        let out = UnsafeMutableRawPointer(dst).assumingMemoryBound(to: UInt32.self)
        for i in 0..<count { out[i] = UInt32(src[i]) &<< 16 }
    }

    /// IEEE binary16 -> Float (exact, including subnormals, infinities and NaN payloads).
    @inlinable
    public static func widenF16(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        let out = UnsafeMutableRawPointer(dst).assumingMemoryBound(to: UInt32.self)
        for i in 0..<count { out[i] = widenF16Bits(src[i]) }
    }

    /// Rebias the exponent by integer addition (a second time for Inf/NaN, whose exponent becomes all ones); half
    /// subnormals are renormalized by one float subtraction of normal numbers. Branch-free, and never touches a Float
    /// subnormal (which would cost a microcode assist per element).
    @inlinable @inline(__always)
    static func widenF16Bits(_ h: UInt16) -> UInt32 {
        let em = UInt32(h & 0x7fff)
        let rebiased = (em &<< 13) &+ (112 &<< 23)
        let normal = em >= 0x7c00 ? rebiased &+ (112 &<< 23) : rebiased
        let sub = (Float(bitPattern: rebiased &+ (1 &<< 23)) - Float(bitPattern: 113 &<< 23)).bitPattern
        return (em < 0x0400 ? sub : normal) | (UInt32(h & 0x8000) &<< 16)
    }

    @inline(__always)
    static func widenF16Scalar(_ h: UInt16) -> Float { Float(bitPattern: widenF16Bits(h)) }

    /// Double -> Float with round-to-nearest (as torch's `.float()`).
    public static func narrowF64(
        _ src: UnsafePointer<Double>, _ dst: UnsafeMutablePointer<Float>, count: Int
    ) {
        for i in 0..<count { dst[i] = Float(src[i]) }
    }

    /// Widens `count` elements of `dtype` starting at `src` (any alignment) into `dst`; integers and bools convert by value.
    public static func toFloat(
        _ dtype: DType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int
    ) {
        switch dtype {
        case .float32:
            UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: count * 4)
        case .bfloat16:
            if Int(bitPattern: src) % 2 == 0 {
                widenBF16(src.assumingMemoryBound(to: UInt16.self), dst, count: count)
            } else {
                for i in 0..<count {
                    dst[i] = Float(
                        bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
                }
            }
        case .float16:
            if Int(bitPattern: src) % 2 == 0 {
                widenF16(src.assumingMemoryBound(to: UInt16.self), dst, count: count)
            } else {
                for i in 0..<count {
                    dst[i] = widenF16Scalar(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                }
            }
        case .float64:
            for i in 0..<count {
                dst[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Double.self))
            }
        case .int64:
            for i in 0..<count {
                dst[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))
            }
        case .int32:
            for i in 0..<count {
                dst[i] = Float(src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))
            }
        case .int16:
            for i in 0..<count {
                dst[i] = Float(src.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))
            }
        case .int8:
            for i in 0..<count { dst[i] = Float(src.load(fromByteOffset: i, as: Int8.self)) }
        case .uint8:
            for i in 0..<count { dst[i] = Float(src.load(fromByteOffset: i, as: UInt8.self)) }
        case .bool:
            for i in 0..<count { dst[i] = src.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0 }
        }
    }
}
