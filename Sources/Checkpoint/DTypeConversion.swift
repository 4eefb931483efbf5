/// Vectorized widening of half-precision and double data to Float, callable on any sub-range (e.g. one GEMM tile).
public enum DTypeConversion {
    /// bfloat16 -> Float: the 16 stored bits are the high half of the Float (exact).
    public static func widenBF16(
        _ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int
    ) {
        var i = 0
        let raw = UnsafeMutableRawPointer(dst)
        while i + 8 <= count {
            let h = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<UInt16>.self)
            let w = SIMD8<UInt32>(truncatingIfNeeded: h) &<< 16
            raw.storeBytes(of: w, toByteOffset: i * 4, as: SIMD8<UInt32>.self)
            i += 8
        }
        while i < count {
            dst[i] = Float(bitPattern: UInt32(src[i]) << 16)
            i += 1
        }
    }

    /// IEEE binary16 -> Float (exact, including subnormals, infinities and NaN payloads).
    public static func widenF16(
        _ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int
    ) {
        // Shift exponent+mantissa into Float position and rescale by 2^112 (which also normalizes subnormals);
        // values whose half exponent is all ones become Inf/NaN by forcing the Float exponent to all ones.
        let scale = SIMD8<Float>(repeating: Float(bitPattern: 0x7780_0000))
        let raw = UnsafeMutableRawPointer(dst)
        var i = 0
        while i + 8 <= count {
            let h = SIMD8<UInt32>(
                truncatingIfNeeded: UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<UInt16>.self))
            let em = h & 0x7fff
            let sign = (h & 0x8000) &<< 16
            var bits = unsafeBitCast(
                unsafeBitCast(em &<< 13, to: SIMD8<Float>.self) * scale, to: SIMD8<UInt32>.self)
            bits.replace(with: bits | 0x7f80_0000, where: em .>= 0x7c00)
            raw.storeBytes(of: bits | sign, toByteOffset: i * 4, as: SIMD8<UInt32>.self)
            i += 8
        }
        while i < count {
            dst[i] = widenF16Scalar(src[i])
            i += 1
        }
    }

    @inline(__always)
    static func widenF16Scalar(_ h: UInt16) -> Float {
        let em = UInt32(h & 0x7fff)
        var bits = (Float(bitPattern: em << 13) * Float(bitPattern: 0x7780_0000)).bitPattern
        if em >= 0x7c00 { bits |= 0x7f80_0000 }
        return Float(bitPattern: bits | (UInt32(h & 0x8000) << 16))
    }

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
