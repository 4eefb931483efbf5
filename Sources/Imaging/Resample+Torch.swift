extension Resample {
    /// torch `F.interpolate(x, size, mode="bilinear", align_corners=False, antialias=True)` on a float32 [C, H, W]
    /// tensor, as torchvision's `Resize((outHeight, outWidth))` applies it to a `ToTensor()` image (SAM2's
    /// preprocessing). Weights and sums in float32 like ATen's CPU kernel; width pass first, then height; an axis
    /// whose size does not change is copied. Returns [C, outHeight, outWidth].
    public static func torchBilinearAntialias(
        chw: [Float], channels: Int, height: Int, width: Int, outHeight: Int, outWidth: Int
    ) throws -> [Float] {
        guard channels > 0, height > 0, width > 0 else {
            throw ImagingError.invalidDimensions(width: width, height: height)
        }
        guard outHeight > 0, outWidth > 0, outHeight <= 1 << 15, outWidth <= 1 << 15 else {
            throw ImagingError.invalidDimensions(width: outWidth, height: outHeight)
        }
        guard chw.count == channels * height * width else {
            throw ImagingError.bufferSizeMismatch(expected: channels * height * width, actual: chw.count)
        }
        var data = chw
        var w = width
        if outWidth != width {
            let c = torchCoefficients(inSize: width, outSize: outWidth)
            data = resampleRows(data, rows: channels * height, inWidth: width, outWidth: outWidth, c)
            w = outWidth
        }
        if outHeight != height {
            let c = torchCoefficients(inSize: height, outSize: outHeight)
            data = resampleColumns(
                data, planes: channels, inHeight: height, width: w, outHeight: outHeight, c)
        }
        return data
    }

    /// ATen `_compute_weights_aa` for the bilinear (triangle) filter, align_corners=False, in float32.
    static func torchCoefficients(inSize: Int, outSize: Int) -> Coefficients<Float> {
        let scale = Float(inSize) / Float(outSize)
        let support: Float = scale >= 1 ? scale : 1
        let stride = Int(support.rounded(.up)) * 2 + 1
        let inverse: Float = scale >= 1 ? 1 / scale : 1
        var first = [Int](repeating: 0, count: outSize)
        var count = [Int](repeating: 0, count: outSize)
        var weights = [Float](repeating: 0, count: outSize * stride)
        for out in 0..<outSize {
            let center = scale * (Float(out) + 0.5)
            let lo = max(Int(center - support + 0.5), 0)
            let n = min(max(min(Int(center + support + 0.5), inSize) - lo, 0), stride)
            var total: Float = 0
            for j in 0..<n {
                let x = abs((Float(j + lo) - center + 0.5) * inverse)
                let w: Float = x < 1 ? 1 - x : 0
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

    static func resampleRows(
        _ src: [Float], rows: Int, inWidth: Int, outWidth: Int, _ c: Coefficients<Float>
    )
        -> [Float]
    {
        var out = [Float](repeating: 0, count: rows * outWidth)
        src.withUnsafeBufferPointer { s in
            c.weights.withUnsafeBufferPointer { k in
                out.withUnsafeMutableBufferPointer { d in
                    for r in 0..<rows {
                        let base = r * inWidth
                        for x in 0..<outWidth {
                            let lo = base + c.first[x]
                            let kb = x * c.stride
                            let n = c.count[x]
                            guard n > 0 else { continue }
                            var acc = s[lo] * k[kb]
                            for j in 1..<n { acc += s[lo + j] * k[kb + j] }
                            d[r * outWidth + x] = acc
                        }
                    }
                }
            }
        }
        return out
    }

    static func resampleColumns(
        _ src: [Float], planes: Int, inHeight: Int, width: Int, outHeight: Int, _ c: Coefficients<Float>
    ) -> [Float] {
        var out = [Float](repeating: 0, count: planes * outHeight * width)
        src.withUnsafeBufferPointer { s in
            c.weights.withUnsafeBufferPointer { k in
                out.withUnsafeMutableBufferPointer { d in
                    for p in 0..<planes {
                        let sp = p * inHeight * width
                        let dp = p * outHeight * width
                        for y in 0..<outHeight {
                            let lo = c.first[y]
                            let kb = y * c.stride
                            let n = c.count[y]
                            guard n > 0 else { continue }
                            let dRow = dp + y * width
                            let w0 = k[kb]
                            let r0 = sp + lo * width
                            for x in 0..<width { d[dRow + x] = s[r0 + x] * w0 }
                            for j in 1..<n {
                                let w = k[kb + j]
                                let rj = sp + (lo + j) * width
                                for x in 0..<width { d[dRow + x] += s[rj + x] * w }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
