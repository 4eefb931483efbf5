import Foundation

/// The interpolation kernels the reference preprocessors use.
public enum ResampleFilter: String, Sendable, CaseIterable {
    /// Triangle kernel (support 1): PIL `Image.BILINEAR`, torch `bilinear`.
    case bilinear
    /// Keys cubic with a = -0.5 (support 2): PIL `Image.BICUBIC`.
    case bicubic

    var support: Double {
        switch self {
        case .bilinear: return 1
        case .bicubic: return 2
        }
    }

    @inline(__always) func weight(_ x: Double) -> Double {
        let x = abs(x)
        switch self {
        case .bilinear:
            return x < 1 ? 1 - x : 0
        case .bicubic:
            let a = -0.5
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        }
    }
}

/// Image resampling that reproduces the reference libraries bit for bit: Pillow's `Image.resize` on 8-bit RGB
/// and torch's antialiased bilinear `interpolate` on float tensors.
///
/// Both are separable convolutions whose kernel is widened by the scale factor when shrinking (antialiasing);
/// the models were trained on exactly these pixels, so the arithmetic (fixed point, rounding, pass order) is
/// part of the contract, not an implementation detail.
public enum Resample {
    /// Pillow's fixed-point precision for 8-bit images: 32 bits minus 8 for the pixel, minus 2 for overshoot.
    static let precisionBits = 22

    /// Per-output-sample source window and normalized weights along one axis.
    struct Coefficients<Weight> {
        var first: [Int]
        var count: [Int]
        /// `stride` weights per output sample; entries past `count` are zero.
        var weights: [Weight]
        var stride: Int
    }

    /// Pillow `precompute_coeffs` semantics for the box [0, inSize) mapped onto outSize samples.
    static func pillowCoefficients(inSize: Int, outSize: Int, filter: ResampleFilter) -> Coefficients<
        Double
    > {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = filter.support * filterScale
        let stride = Int(support.rounded(.up)) * 2 + 1
        var first = [Int](repeating: 0, count: outSize)
        var count = [Int](repeating: 0, count: outSize)
        var weights = [Double](repeating: 0, count: outSize * stride)
        let inverse = 1 / filterScale
        for out in 0..<outSize {
            let center = (Double(out) + 0.5) * scale
            let lo = max(Int(center - support + 0.5), 0)
            let hi = min(Int(center + support + 0.5), inSize)
            let n = hi - lo
            var total = 0.0
            for j in 0..<n {
                let w = filter.weight((Double(j + lo) - center + 0.5) * inverse)
                weights[out * stride + j] = w
                total += w
            }
            if total != 0 {
                for j in 0..<n { weights[out * stride + j] /= total }
            }
            first[out] = lo
            count[out] = n
        }
        return Coefficients(first: first, count: count, weights: weights, stride: stride)
    }

    /// Pillow `normalize_coeffs_8bpc`: round half away from zero to 22-bit fixed point.
    static func fixedPoint(_ c: Coefficients<Double>) -> Coefficients<Int32> {
        let one = Double(1 << precisionBits)
        let weights = c.weights.map { w -> Int32 in
            Int32(w < 0 ? (-0.5 + w * one) : (0.5 + w * one))
        }
        return Coefficients(first: c.first, count: c.count, weights: weights, stride: c.stride)
    }

    @inline(__always) static func clip8(_ sum: Int) -> UInt8 {
        let v = sum >> precisionBits
        return v <= 0 ? 0 : (v >= 255 ? 255 : UInt8(truncatingIfNeeded: v))
    }

    /// Resizes like Pillow 13 `Image.resize((width, height), filter)` on an RGB image (no box, no reducing_gap):
    /// horizontal pass (only over the source rows the vertical pass reads) rounded to uint8, then vertical pass;
    /// an axis whose size does not change is not resampled.
    public static func pillow(_ image: RGBImage, width: Int, height: Int, filter: ResampleFilter)
        throws -> RGBImage
    {
        guard width > 0, height > 0, width <= 1 << 15, height <= 1 << 15 else {
            throw ImagingError.invalidDimensions(width: width, height: height)
        }
        if width == image.width && height == image.height { return image }
        let vertical = fixedPoint(
            pillowCoefficients(inSize: image.height, outSize: height, filter: filter))
        var source = image.pixels
        var sourceWidth = image.width
        var rowOffset = 0
        if width != image.width {
            let firstRow = vertical.first[0]
            let lastRow = vertical.first[height - 1] + vertical.count[height - 1]
            let horizontal = fixedPoint(
                pillowCoefficients(inSize: image.width, outSize: width, filter: filter))
            source = horizontalPass(
                image.pixels, width: image.width, rows: firstRow..<lastRow, outWidth: width, horizontal)
            sourceWidth = width
            rowOffset = firstRow
        }
        guard height != image.height else {
            return try RGBImage(width: width, height: height, pixels: source)
        }
        let out = verticalPass(
            source, width: sourceWidth, rowOffset: rowOffset, outHeight: height, vertical)
        return try RGBImage(width: width, height: height, pixels: out)
    }

    static func horizontalPass(
        _ pixels: [UInt8], width: Int, rows: Range<Int>, outWidth: Int, _ c: Coefficients<Int32>
    ) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: rows.count * outWidth * 3)
        let half = 1 << (precisionBits - 1)
        let stride = c.stride
        pixels.withUnsafeBufferPointer { src in
            c.weights.withUnsafeBufferPointer { k in
                c.first.withUnsafeBufferPointer { first in
                    c.count.withUnsafeBufferPointer { count in
                        out.withUnsafeMutableBufferPointer { dst in
                            guard let srcBase = src.baseAddress, let kBase = k.baseAddress else { return }
                            for (r, y) in rows.enumerated() {
                                let srcRow = srcBase + y * width * 3
                                var d = r * outWidth * 3
                                for x in 0..<outWidth {
                                    let kb = kBase + x * stride
                                    var p = srcRow + first[x] * 3
                                    var s0 = half
                                    var s1 = half
                                    var s2 = half
                                    for j in 0..<count[x] {
                                        let w = Int(kb[j])
                                        s0 += Int(p[0]) * w
                                        s1 += Int(p[1]) * w
                                        s2 += Int(p[2]) * w
                                        p += 3
                                    }
                                    dst[d] = clip8(s0)
                                    dst[d + 1] = clip8(s1)
                                    dst[d + 2] = clip8(s2)
                                    d += 3
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    static func verticalPass(
        _ pixels: [UInt8], width: Int, rowOffset: Int, outHeight: Int, _ c: Coefficients<Int32>
    ) -> [UInt8] {
        let rowBytes = width * 3
        var out = [UInt8](repeating: 0, count: outHeight * rowBytes)
        let half = 1 << (precisionBits - 1)
        var acc = [Int](repeating: 0, count: rowBytes)
        pixels.withUnsafeBufferPointer { src in
            c.weights.withUnsafeBufferPointer { k in
                out.withUnsafeMutableBufferPointer { dst in
                    acc.withUnsafeMutableBufferPointer { acc in
                        for y in 0..<outHeight {
                            let lo = c.first[y] - rowOffset
                            let n = c.count[y]
                            let kb = y * c.stride
                            for i in 0..<rowBytes { acc[i] = half }
                            for j in 0..<n {
                                let w = Int(k[kb + j])
                                let base = (lo + j) * rowBytes
                                for i in 0..<rowBytes { acc[i] += Int(src[base + i]) * w }
                            }
                            let d = y * rowBytes
                            for i in 0..<rowBytes { dst[d + i] = clip8(acc[i]) }
                        }
                    }
                }
            }
        }
        return out
    }
}

extension RGBImage {
    /// `Resample.pillow(self, ...)`: the image as Pillow's `resize((width, height), filter)` returns it.
    public func resized(width: Int, height: Int, filter: ResampleFilter) throws -> RGBImage {
        try Resample.pillow(self, width: width, height: height, filter: filter)
    }
}
