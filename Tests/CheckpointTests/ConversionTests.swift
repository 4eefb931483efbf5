import Checkpoint
import XCTest

/// The SIMD widening kernels against Swift's own scalar conversions, over every 16-bit pattern.
final class ConversionTests: XCTestCase {
    func testF16WideningIsExactForAllPatterns() {
        #if arch(x86_64) || arch(arm64)
            let src = (0...0xffff).map { UInt16($0) }
            var dst = [Float](repeating: 0, count: src.count)
            // Offsets 0..7 exercise the vector body and the scalar tail on every alignment of the start.
            for start in 0..<8 {
                let n = src.count - start
                src.withUnsafeBufferPointer { s in
                    dst.withUnsafeMutableBufferPointer { d in
                        DTypeConversion.widenF16(s.baseAddress! + start, d.baseAddress!, count: n)
                    }
                }
                for i in 0..<n {
                    let ref = Float(Float16(bitPattern: src[start + i]))
                    if ref.isNaN {
                        XCTAssertTrue(dst[i].isNaN, "pattern \(src[start + i])")
                        // NaN payload and quiet bit carried into the top mantissa bits.
                        XCTAssertEqual(
                            dst[i].bitPattern,
                            (UInt32(src[start + i] & 0x8000) << 16) | 0x7f80_0000
                                | (UInt32(src[start + i] & 0x3ff) << 13))
                    } else {
                        XCTAssertEqual(dst[i].bitPattern, ref.bitPattern, "pattern \(src[start + i])")
                    }
                }
            }
        #endif
    }

    func testBF16WideningIsTheHighHalf() {
        let src = (0...0xffff).map { UInt16($0) }
        var dst = [Float](repeating: 0, count: src.count)
        for start in [0, 1, 5] {
            let n = src.count - start
            src.withUnsafeBufferPointer { s in
                dst.withUnsafeMutableBufferPointer { d in
                    DTypeConversion.widenBF16(s.baseAddress! + start, d.baseAddress!, count: n)
                }
            }
            for i in 0..<n { XCTAssertEqual(dst[i].bitPattern, UInt32(src[start + i]) << 16) }
        }
    }

    func testNarrowF64RoundsToNearest() {
        let src: [Double] = [0, -0.0, 1.0 / 3.0, 1e300, -1e-300, .infinity, 16_777_217]
        var dst = [Float](repeating: 0, count: src.count)
        DTypeConversion.narrowF64(src, &dst, count: src.count)
        XCTAssertEqual(dst.map(\.bitPattern), src.map { Float($0).bitPattern })
    }
}
