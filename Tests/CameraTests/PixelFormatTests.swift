import Camera
import Imaging
import XCTest

/// SIMD pixel converters against plain per-pixel references written from the definitions.
final class PixelFormatTests: XCTestCase {
    /// Deterministic bytes (xorshift) so failures reproduce.
    func randomBytes(_ n: Int, seed: UInt64) -> [UInt8] {
        var s = seed | 1
        return (0..<n).map { _ in
            s ^= s << 13
            s ^= s >> 7
            s ^= s << 17
            return UInt8(truncatingIfNeeded: s >> 24)
        }
    }

    /// ITU-R BT.601 Y'CbCr → R'G'B' in double precision; limited range scales Y by 255/219 and chroma by 255/224.
    func referenceYUV(_ y: UInt8, _ cb: UInt8, _ cr: UInt8, limited: Bool) -> [UInt8] {
        let yy = limited ? (Double(y) - 16) * 255 / 219 : Double(y)
        let u = (Double(cb) - 128) * (limited ? 255.0 / 224 : 1)
        let v = (Double(cr) - 128) * (limited ? 255.0 / 224 : 1)
        let rgb = [yy + 1.402 * v, yy - 0.344136 * u - 0.714136 * v, yy + 1.772 * u]
        return rgb.map { UInt8(max(0, min(255, $0.rounded()))) }
    }

    func checkPacked(uyvy: Bool, width: Int, height: Int, padding: Int, limited: Bool) throws {
        let stride = (width + 1) / 2 * 4 + padding
        let src = randomBytes(stride * height, seed: UInt64(width * 131 + height))
        let range: PixelConversion.YCbCrRange = limited ? .limited : .full
        let img =
            uyvy
            ? try PixelConversion.uyvyToRGB(src, width: width, height: height, bytesPerLine: stride, range: range)
            : try PixelConversion.yuyvToRGB(src, width: width, height: height, bytesPerLine: stride, range: range)
        XCTAssertEqual(img.width, width)
        XCTAssertEqual(img.height, height)
        var maxDiff = 0
        var exact = 0
        for y in 0..<height {
            for x in 0..<width {
                let p = y * stride + (x / 2) * 4
                let (luma, cb, cr) =
                    uyvy
                    ? (src[p + 1 + 2 * (x % 2)], src[p], src[p + 2])
                    : (src[p + 2 * (x % 2)], src[p + 1], src[p + 3])
                let want = referenceYUV(luma, cb, cr, limited: limited)
                var pixelExact = true
                for c in 0..<3 {
                    let d = abs(Int(img[x, y, c]) - Int(want[c]))
                    maxDiff = max(maxDiff, d)
                    if d != 0 { pixelExact = false }
                }
                if pixelExact { exact += 1 }
            }
        }
        // 16-bit fixed point differs from the exact value only where it lies within ~0.01 of a rounding edge.
        XCTAssertLessThanOrEqual(maxDiff, 1, "\(uyvy ? "UYVY" : "YUYV") \(width)x\(height) limited=\(limited)")
        XCTAssertGreaterThan(Double(exact) / Double(width * height), 0.98)
    }

    func testYUYVLimitedRangeMatchesBT601Reference() throws {
        // 64: vector path only; 37: vector path + odd tail; 5: scalar only; padded rows.
        for (w, h, pad) in [(64, 4, 0), (37, 3, 12), (5, 2, 0), (1280, 2, 0)] {
            try checkPacked(uyvy: false, width: w, height: h, padding: pad, limited: true)
        }
    }

    func testYUYVFullRangeMatchesJFIFReference() throws {
        try checkPacked(uyvy: false, width: 48, height: 3, padding: 4, limited: false)
    }

    func testUYVYMatchesReference() throws {
        try checkPacked(uyvy: true, width: 64, height: 3, padding: 0, limited: true)
        try checkPacked(uyvy: true, width: 19, height: 2, padding: 8, limited: true)
    }

    /// Known points of the limited-range mapping: black, white and 75% colour bar values round-trip.
    func testYUYVKnownColours() throws {
        // (Y, Cb, Cr) of BT.601 limited range for black, white, pure red (Rec.601 studio values).
        let cases: [([UInt8], [UInt8])] = [
            ([16, 128, 128], [0, 0, 0]), ([235, 128, 128], [255, 255, 255]), ([81, 90, 240], [255, 0, 0]),
            ([145, 54, 34], [0, 255, 0]), ([41, 240, 110], [0, 0, 255]),
        ]
        for (ycc, rgb) in cases {
            let img = try PixelConversion.yuyvToRGB([ycc[0], ycc[1], ycc[0], ycc[2]], width: 2, height: 1)
            for c in 0..<3 {
                XCTAssertLessThanOrEqual(abs(Int(img[0, 0, c]) - Int(rgb[c])), 2, "\(ycc) channel \(c)")
                XCTAssertEqual(img[0, 0, c], img[1, 0, c])
            }
        }
    }

    func testGreyReplicatesWithStride() throws {
        for (w, h, pad) in [(16, 2, 0), (45, 3, 3), (3, 1, 0)] {
            let stride = w + pad
            let src = randomBytes(stride * h, seed: UInt64(w))
            let img = try PixelConversion.greyToRGB(src, width: w, height: h, bytesPerLine: stride)
            for y in 0..<h {
                for x in 0..<w {
                    for c in 0..<3 { XCTAssertEqual(img[x, y, c], src[y * stride + x]) }
                }
            }
        }
    }

    func testMono16KeepsHighByteInEitherByteOrder() throws {
        let values: [UInt16] = [0, 255, 256, 0x1234, 0xABCD, 0xFFFF]
        var le: [UInt8] = []
        var be: [UInt8] = []
        var want: [UInt8] = []
        for v in values {
            let hi = UInt8(v >> 8)
            let lo = UInt8(v & 0xFF)
            le += [lo, hi]
            be += [hi, lo]
            want += [hi, hi, hi]
        }
        let a = try PixelConversion.mono16ToRGB(le, width: 3, height: 2)
        let b = try PixelConversion.mono16ToRGB(be, width: 3, height: 2, bigEndian: true)
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.pixels, want)
    }

    func testChannelOrders() throws {
        let w = 7
        let h = 3
        let rgb = randomBytes(w * h * 3, seed: 9)
        var bgr: [UInt8] = []
        var rgba: [UInt8] = []
        var bgra: [UInt8] = []
        for i in 0..<(w * h) {
            let r = rgb[3 * i]
            let g = rgb[3 * i + 1]
            let b = rgb[3 * i + 2]
            bgr += [b, g, r]
            rgba += [r, g, b, 77]
            bgra += [b, g, r, 77]
        }
        XCTAssertEqual(try PixelConversion.bgr8ToRGB(bgr, width: w, height: h).pixels, rgb)
        XCTAssertEqual(try PixelConversion.rgba8ToRGB(rgba, width: w, height: h).pixels, rgb)
        XCTAssertEqual(try PixelConversion.bgra8ToRGB(bgra, width: w, height: h).pixels, rgb)
        // Padded RGB rows (bytesperline > 3 * width) are packed.
        var padded: [UInt8] = []
        for y in 0..<h { padded += Array(rgb[(y * w * 3)..<((y + 1) * w * 3)]) + [1, 2, 3, 4] }
        XCTAssertEqual(try PixelConversion.rgb24ToRGB(padded, width: w, height: h, bytesPerLine: w * 3 + 4).pixels, rgb)
    }

    func testShortBuffersAndBadStridesThrow() {
        XCTAssertThrowsError(
            try PixelConversion.yuyvToRGB([UInt8](repeating: 0, count: 4 * 3 - 1), width: 6, height: 1)
        ) {
            XCTAssertEqual($0 as? ImagingError, .bufferSizeMismatch(expected: 12, actual: 11))
        }
        XCTAssertThrowsError(
            try PixelConversion.greyToRGB([UInt8](repeating: 0, count: 100), width: 10, height: 10, bytesPerLine: 9))
        XCTAssertThrowsError(try PixelConversion.rgb24ToRGB([UInt8](repeating: 0, count: 8), width: 3, height: 1))
        XCTAssertThrowsError(try PixelConversion.greyToRGB([UInt8](), width: 0, height: 1)) {
            XCTAssertEqual($0 as? ImagingError, .invalidDimensions(width: 0, height: 1))
        }
        // The last row needs only its pixels, not a whole stride.
        XCTAssertNoThrow(
            try PixelConversion.greyToRGB([UInt8](repeating: 0, count: 16 + 10), width: 10, height: 2, bytesPerLine: 16)
        )
    }
}
