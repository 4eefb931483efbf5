import Foundation

extension BLASBackend {
    public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int), outputLayout: SpatialLayout) throws -> Tensor {
        try requireF32(x, "conv2d"); try requireF32(weight, "conv2d")
        guard x.rank == 4, weight.rank == 4, weight.shape[1] == x.shape[1], stride.0 > 0, stride.1 > 0, padding.0 >= 0, padding.1 >= 0 else {
            throw ComputeError.shapeMismatch(op: "conv2d", message: "x \(x.shape), weight \(weight.shape), stride \(stride), padding \(padding)")
        }
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
        if let b = bias { try requireF32(b, "conv2d"); guard b.count == o else { throw ComputeError.shapeMismatch(op: "conv2d", message: "bias \(b.shape) for \(o) outputs") } }
        let ho = (h + 2 * padding.0 - kh) / stride.0 + 1
        let wo = (w + 2 * padding.1 - kw) / stride.1 + 1
        guard ho > 0, wo > 0 else { throw ComputeError.shapeMismatch(op: "conv2d", message: "x \(x.shape) too small for kernel \(kh)x\(kw)") }
        if outputLayout == .nhwc {
            return try conv2dRows(x, weight: weight, bias: bias, stride: stride, padding: padding, ho: ho, wo: wo)
        }
        let y = Tensor(uninitialized: [n, o, ho, wo])
        let ck = c * kh * kw, hw = ho * wo
        let direct = kh == 1 && kw == 1 && stride == (1, 1) && padding == (0, 0)
        // im2col scratch from the activation arena (already-mapped pages; SAM2's patch embedding needs 37 MB).
        HostBufferCache.shared.withScratch(floats: direct ? 0 : ck * hw) { scratch in
            let cols = direct ? nil : scratch
            let xp = x.floats, yp = y.floats, wp = weight.floats
            for ni in 0..<n {
                let xs = xp + ni * c * h * w
                let ys = yp + ni * o * hw
                var src = UnsafePointer(xs)
                if let cols {
                    Parallel.forRanges(ck, threads: threads, grain: max(1, 16384 / max(hw, 1))) { r in
                        for row in r {
                            let ci = row / (kh * kw), ky = (row / kw) % kh, kx = row % kw
                            let dst = cols + row * hw
                            let plane = xs + ci * h * w
                            for oy in 0..<ho {
                                let iy = oy * stride.0 - padding.0 + ky
                                let d = dst + oy * wo
                                if iy < 0 || iy >= h { d.update(repeating: 0, count: wo); continue }
                                let line = plane + iy * w
                                for ox in 0..<wo {
                                    let ix = ox * stride.1 - padding.1 + kx
                                    d[ox] = (ix >= 0 && ix < w) ? line[ix] : 0
                                }
                            }
                        }
                    }
                    src = UnsafePointer(cols)
                }
                if let b = bias {
                    let bp = b.floats
                    for oi in 0..<o { (ys + oi * hw).update(repeating: bp[oi], count: hw) }
                }
                gemm(transA: false, transB: false, m: o, n: hw, k: ck, alpha: 1, a: wp, lda: ck, b: src, ldb: hw,
                      beta: bias == nil ? 0 : 1, c: ys, ldc: hw)
            }
        }
        return y
    }

    /// conv2d with an NHWC output: each output pixel's receptive field becomes one row of `cols` [H'W', C·kh·kw]
    /// (in the weight's (c, ky, kx) order), then `linear(cols, w [O, C·kh·kw], b)` writes [N, H', W', O] directly.
    private func conv2dRows(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int), ho: Int, wo: Int) throws -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
        let ck = c * kh * kw, hw = ho * wo
        let flatWeight = try weight.reshaped([o, ck])
        var images: [Tensor] = []
        for ni in 0..<n {
            let cols = Tensor(uninitialized: [hw, ck])
            let xs = x.floats + ni * c * h * w, cp = cols.floats
            Parallel.forRanges(hw, threads: threads, grain: max(1, 4096 / max(ck, 1))) { r in
                for pixel in r {
                    let oy = pixel / wo, ox = pixel % wo
                    let row = cp + pixel * ck
                    let x0 = ox * stride.1 - padding.1
                    for ci in 0..<c {
                        for ky in 0..<kh {
                            let dst = row + (ci * kh + ky) * kw
                            let iy = oy * stride.0 - padding.0 + ky
                            guard iy >= 0, iy < h else { dst.update(repeating: 0, count: kw); continue }
                            let line = xs + (ci * h + iy) * w
                            for kx in 0..<kw {
                                let ix = x0 + kx
                                dst[kx] = ix >= 0 && ix < w ? line[ix] : 0
                            }
                        }
                    }
                }
            }
            images.append(try linear(cols, weight: flatWeight, bias: bias).reshaped([1, ho, wo, o]))
        }
        return images.count == 1 ? images[0] : try concat(images, dim: 0)
    }

    public func convTranspose2x2(_ x: Tensor, weight: Tensor, bias: Tensor?, inputLayout: SpatialLayout) throws -> Tensor {
        try requireF32(x, "convTranspose2x2"); try requireF32(weight, "convTranspose2x2")
        let channelDim = inputLayout == .nchw ? 1 : 3
        guard x.rank == 4, weight.rank == 4, weight.shape[0] == x.shape[channelDim], weight.shape[2] == 2, weight.shape[3] == 2 else {
            throw ComputeError.shapeMismatch(op: "convTranspose2x2", message: "x \(x.shape) (\(inputLayout)), weight \(weight.shape) (expected [C, O, 2, 2])")
        }
        let (n, c) = (x.shape[0], x.shape[channelDim])
        let (h, w) = inputLayout == .nchw ? (x.shape[2], x.shape[3]) : (x.shape[1], x.shape[2])
        let o = weight.shape[1]
        if let b = bias { try requireF32(b, "convTranspose2x2"); guard b.count == o else { throw ComputeError.shapeMismatch(op: "convTranspose2x2", message: "bias \(b.shape)") } }
        let hw = h * w
        let y = Tensor(uninitialized: [n, o, 2 * h, 2 * w])
        guard n > 0, o > 0, hw > 0 else { return y }
        HostBufferCache.shared.withScratch(floats: o * 4 * hw) { t in
            let xp = x.floats, yp = y.floats, wp = weight.floats
            let bp = bias?.floats
            for ni in 0..<n {
                // t[(o, dy, dx), pixel] = Σ_c w[c, (o, dy, dx)] · x[c, pixel]  (x read as [C, HW] or, NHWC, as [HW, C]ᵀ)
                gemm(transA: true, transB: inputLayout == .nhwc, m: o * 4, n: hw, k: c, alpha: 1, a: wp, lda: o * 4,
                     b: xp + ni * c * hw, ldb: inputLayout == .nchw ? hw : c, beta: 0, c: t, ldc: hw)
                let ys = yp + ni * o * 4 * hw
                // Output row 2·iy+dy interleaves the dx = 0 and dx = 1 planes.
                Parallel.forRanges(o * 2 * h, threads: threads, grain: max(1, 8192 / max(w, 1))) { r in
                    for outRow in r {
                        let oi = outRow / (2 * h), yy = outRow % (2 * h)
                        let (iy, dy) = (yy / 2, yy % 2)
                        let bv = bp?[oi] ?? 0
                        let s0 = t + (oi * 4 + dy * 2) * hw + iy * w, s1 = s0 + hw
                        let row = ys + oi * 4 * hw + yy * 2 * w
                        for ix in 0..<w {
                            row[2 * ix] = s0[ix] + bv
                            row[2 * ix + 1] = s1[ix] + bv
                        }
                    }
                }
            }
        }
        return y
    }

    public func maxPool2x2(_ x: Tensor, layout: SpatialLayout) throws -> Tensor {
        try requireF32(x, "maxPool2x2")
        guard x.rank == 4 else { throw ComputeError.invalidShape(op: "maxPool2x2", shape: x.shape) }
        let xp = x.floats
        switch layout {
        case .nchw:
            let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
            let ho = h / 2, wo = w / 2
            let y = Tensor(uninitialized: [n, c, ho, wo])
            let yp = y.floats
            Parallel.forRanges(n * c, threads: threads) { r in
                for p in r {
                    let s = xp + p * h * w, d = yp + p * ho * wo
                    for oy in 0..<ho {
                        for ox in 0..<wo {
                            let a = s + 2 * oy * w + 2 * ox
                            d[oy * wo + ox] = max(max(a[0], a[1]), max(a[w], a[w + 1]))
                        }
                    }
                }
            }
            return y
        case .nhwc:
            let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
            let ho = h / 2, wo = w / 2
            let y = Tensor(uninitialized: [n, ho, wo, c])
            let yp = y.floats
            Parallel.forRanges(n * ho, threads: threads) { r in
                for p in r {
                    let ni = p / ho, oy = p % ho
                    for ox in 0..<wo {
                        let a = xp + ((ni * h + 2 * oy) * w + 2 * ox) * c
                        let b = a + w * c
                        let d = yp + ((ni * ho + oy) * wo + ox) * c
                        for ch in 0..<c { d[ch] = max(max(a[ch], a[c + ch]), max(b[ch], b[c + ch])) }
                    }
                }
            }
            return y
        }
    }

    public func interpolate(_ x: Tensor, height: Int, width: Int, mode: InterpolationMode, antialias: Bool) throws -> Tensor {
        try requireF32(x, "interpolate")
        guard x.rank == 4, height > 0, width > 0, x.shape[2] > 0, x.shape[3] > 0 else {
            throw ComputeError.invalidArgument(op: "interpolate", message: "x \(x.shape) to \(height)x\(width)")
        }
        if antialias && mode != .nearest {
            return try antialiasedResize(x, height: height, width: width, mode: mode)
        }
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let y = Tensor(uninitialized: [n, c, height, width])
        let xp = x.floats, yp = y.floats
        let sy = Float(h) / Float(height), sx = Float(w) / Float(width)
        switch mode {
        case .nearest:
            let ix = (0..<width).map { min(Int((Float($0) * sx).rounded(.down)), w - 1) }
            let iy = (0..<height).map { min(Int((Float($0) * sy).rounded(.down)), h - 1) }
            Parallel.forRanges(n * c, threads: threads) { r in
                for p in r {
                    let s = xp + p * h * w, d = yp + p * height * width
                    for oy in 0..<height {
                        let line = s + iy[oy] * w
                        for ox in 0..<width { d[oy * width + ox] = line[ix[ox]] }
                    }
                }
            }
        case .bilinear:
            let tx = linearTaps(outSize: width, inSize: w, scale: sx)
            let ty = linearTaps(outSize: height, inSize: h, scale: sy)
            Parallel.forRanges(n * c, threads: threads) { r in
                for p in r {
                    let s = xp + p * h * w, d = yp + p * height * width
                    for oy in 0..<height {
                        let (y0, y1, ly0, ly1) = ty[oy]
                        let r0 = s + y0 * w, r1 = s + y1 * w
                        let drow = d + oy * width
                        for ox in 0..<width {
                            let (x0, x1, lx0, lx1) = tx[ox]
                            drow[ox] = ly0 * (lx0 * r0[x0] + lx1 * r0[x1]) + ly1 * (lx0 * r1[x0] + lx1 * r1[x1])
                        }
                    }
                }
            }
        case .bicubic:
            let tx = cubicTaps(outSize: width, inSize: w, scale: sx)
            let ty = cubicTaps(outSize: height, inSize: h, scale: sy)
            Parallel.forRanges(n * c, threads: threads) { r in
                for p in r {
                    let s = xp + p * h * w, d = yp + p * height * width
                    for oy in 0..<height {
                        let (yi, wy) = ty[oy]
                        for ox in 0..<width {
                            let (xi, wx) = tx[ox]
                            var acc: Float = 0
                            for a in 0..<4 {
                                let line = s + yi[a] * w
                                let v = line[xi[0]] * wx[0] + line[xi[1]] * wx[1] + line[xi[2]] * wx[2] + line[xi[3]] * wx[3]
                                acc = a == 0 ? v * wy[0] : acc + v * wy[a]
                            }
                            d[oy * width + ox] = acc
                        }
                    }
                }
            }
        }
        return y
    }

    /// PyTorch's separable antialiased resize (`_upsample_bilinear2d_aa` / `_upsample_bicubic2d_aa`):
    /// width pass first, then height, each skipped when that size is unchanged.
    private func antialiasedResize(_ x: Tensor, height: Int, width: Int, mode: InterpolationMode) throws -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var cur = x
        if width != w {
            let taps = aaTaps(outSize: width, inSize: w, mode: mode)
            let y = Tensor(uninitialized: [n, c, h, width])
            let xp = cur.floats, yp = y.floats
            Parallel.forRanges(n * c * h, threads: threads, grain: 16) { r in
                for row in r {
                    let s = xp + row * w, d = yp + row * width
                    for ox in 0..<width {
                        let (lo, wts) = taps[ox]
                        var acc = s[lo] * wts[0]
                        var j = 1
                        while j < wts.count { acc += s[lo + j] * wts[j]; j += 1 }
                        d[ox] = acc
                    }
                }
            }
            cur = y
        }
        if height != h {
            let taps = aaTaps(outSize: height, inSize: h, mode: mode)
            let cw = cur.shape[3]
            let y = Tensor(uninitialized: [n, c, height, cw])
            let xp = cur.floats, yp = y.floats
            Parallel.forRanges(n * c * height, threads: threads, grain: 16) { r in
                for row in r {
                    let p = row / height, oy = row % height
                    let (lo, wts) = taps[oy]
                    let s = xp + p * h * cw, d = yp + row * cw
                    for ox in 0..<cw {
                        var acc = s[lo * cw + ox] * wts[0]
                        var j = 1
                        while j < wts.count { acc += s[(lo + j) * cw + ox] * wts[j]; j += 1 }
                        d[ox] = acc
                    }
                }
            }
            cur = y
        }
        if cur.storage === x.storage { return try permute(x, [0, 1, 2, 3]) }
        return cur
    }
}

/// align_corners=False bilinear source taps (PyTorch `compute_source_index_and_lambda`).
func linearTaps(outSize: Int, inSize: Int, scale: Float) -> [(Int, Int, Float, Float)] {
    (0..<outSize).map { o in
        let real = max(scale * (Float(o) + 0.5) - 0.5, 0)
        let i0 = min(Int(real), inSize - 1)
        let i1 = i0 + (i0 < inSize - 1 ? 1 : 0)
        let l1 = min(max(real - Float(i0), 0), 1)
        return (i0, i1, 1 - l1, l1)
    }
}

/// Keys' cubic convolution weights with A = -0.75 (PyTorch bicubic, not Pillow's -0.5).
func cubicWeights(_ t: Float, a: Float = -0.75) -> [Float] {
    func near(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }
    func far(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]
}

func cubicTaps(outSize: Int, inSize: Int, scale: Float) -> [([Int], [Float])] {
    (0..<outSize).map { o in
        let real = scale * (Float(o) + 0.5) - 0.5
        let fl = real.rounded(.down)
        let i = Int(fl)
        let t = real - fl
        let idx = (0..<4).map { min(max(i - 1 + $0, 0), inSize - 1) }
        return (idx, cubicWeights(t))
    }
}

/// Antialiased taps as PyTorch computes them (`compute_indices_weights_aa`): support widens with the
/// downscale factor, weights are normalized to sum to one. Bicubic uses A = -0.5 here (Pillow-compatible).
func aaTaps(outSize: Int, inSize: Int, mode: InterpolationMode) -> [(Int, [Float])] {
    let scale = Float(inSize) / Float(outSize)
    let interpSize: Float = mode == .bicubic ? 4 : 2
    let support = scale >= 1 ? (interpSize * 0.5) * scale : interpSize * 0.5
    let invScale: Float = scale >= 1 ? 1 / scale : 1
    func filter(_ x: Float) -> Float {
        let ax = abs(x)
        if mode == .bicubic {
            let a: Float = -0.5
            if ax < 1 { return ((a + 2) * ax - (a + 3)) * ax * ax + 1 }
            if ax < 2 { return (((ax - 5) * ax + 8) * ax - 4) * a }
            return 0
        }
        return ax < 1 ? 1 - ax : 0
    }
    return (0..<outSize).map { i in
        let center = scale * (Float(i) + 0.5)
        let xmin = max(Int(center - support + 0.5), 0)
        let xmax = min(Int(center + support + 0.5), inSize)
        let size = max(xmax - xmin, 1)
        var wts = [Float](repeating: 0, count: size)
        var total: Float = 0
        for j in 0..<(xmax - xmin) {
            let v = filter((Float(j + xmin) - center + 0.5) * invScale)
            wts[j] = v
            total += v
        }
        if total != 0 { for j in 0..<wts.count { wts[j] /= total } }
        return (min(xmin, inSize - 1), wts)
    }
}
