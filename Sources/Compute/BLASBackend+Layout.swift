import Foundation

extension BLASBackend {
    public func permute(_ x: Tensor, _ dims: [Int]) throws -> Tensor {
        try requireF32(x, "permute")
        guard dims.count == x.rank, Set(dims).count == dims.count, dims.allSatisfy({ $0 >= 0 && $0 < x.rank }) else {
            throw ComputeError.invalidArgument(op: "permute", message: "dims \(dims) for shape \(x.shape)")
        }
        let outShape = dims.map { x.shape[$0] }
        let y = Tensor(uninitialized: outShape)
        let n = x.count
        guard n > 0 else { return y }
        if let (batch, rows, cols) = Self.batchedTranspose(x.shape, dims) {
            transposeBlocks(x.floats, y.floats, batch: batch, rows: rows, cols: cols)
            return y
        }
        var inStrides = [Int](repeating: 1, count: x.rank)
        for i in stride(from: x.rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * x.shape[i + 1] }
        // Merge nothing fancy: the innermost output dim is copied with its input stride.
        let srcStrides = dims.map { inStrides[$0] }
        let rank = x.rank
        let xp = x.floats, yp = y.floats
        if rank == 0 { yp[0] = xp[0]; return y }
        let inner = outShape[rank - 1]
        let innerStride = srcStrides[rank - 1]
        let outer = n / max(inner, 1)
        Parallel.forRanges(outer, threads: threads, grain: max(1, 8192 / max(inner, 1))) { r in
            var idx = [Int](repeating: 0, count: rank)
            for o in r {
                var rem = o
                var src = 0
                for d in stride(from: rank - 2, through: 0, by: -1) {
                    idx[d] = rem % outShape[d]
                    rem /= outShape[d]
                    src += idx[d] * srcStrides[d]
                }
                let dst = yp + o * inner
                if innerStride == 1 {
                    dst.update(from: xp + src, count: inner)
                } else {
                    let s = xp + src
                    for i in 0..<inner { dst[i] = s[i * innerStride] }
                }
            }
        }
        return y
    }

    /// When a permutation only swaps two blocks of dimensions ([B, R, C] -> [B, C, R] after merging dimensions that
    /// stay adjacent and dropping size-1 ones, as NCHW <-> NHWC are), its (B, R, C).
    static func batchedTranspose(_ shape: [Int], _ dims: [Int]) -> (Int, Int, Int)? {
        // Output order of the input dimensions, without size-1 dimensions, merged into runs.
        let order = dims.filter { shape[$0] != 1 }
        var runs: [[Int]] = []
        for d in order {
            if let last = runs.last?.last, last + 1 == d { runs[runs.count - 1].append(d) } else { runs.append([d]) }
        }
        func size(_ run: [Int]) -> Int { run.reduce(1) { $0 * shape[$1] } }
        // Runs sorted by input position give the merged input shape; their output order is the merged permutation.
        let byInput = runs.sorted { $0[0] < $1[0] }
        let perm = runs.map { r in byInput.firstIndex { $0[0] == r[0] } ?? 0 }
        switch perm {
        case [1, 0]: return (1, size(byInput[0]), size(byInput[1]))
        case [0, 2, 1]: return (size(byInput[0]), size(byInput[1]), size(byInput[2]))
        default: return nil
        }
    }

    /// y[b][c][r] = x[b][r][c], in 32x32 tiles so that both sides stream through the cache.
    func transposeBlocks(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, rows: Int, cols: Int) {
        let tile = 32
        let rowTiles = (rows + tile - 1) / tile, colTiles = (cols + tile - 1) / tile
        Parallel.forRanges(batch * rowTiles, threads: threads, grain: max(1, 16384 / max(tile * cols, 1))) { r in
            for task in r {
                let b = task / rowTiles, r0 = (task % rowTiles) * tile
                let r1 = min(rows, r0 + tile)
                let xb = x + b * rows * cols, yb = y + b * rows * cols
                for ct in 0..<colTiles {
                    let c0 = ct * tile, c1 = min(cols, c0 + tile)
                    for c in c0..<c1 {
                        let dst = yb + c * rows
                        for i in r0..<r1 { dst[i] = xb[i * cols + c] }
                    }
                }
            }
        }
    }

    public func slice(_ x: Tensor, dim: Int, start: Int, end: Int) throws -> Tensor {
        try requireF32(x, "slice")
        guard dim >= 0, dim < x.rank, 0 <= start, start <= end, end <= x.shape[dim] else {
            throw ComputeError.invalidArgument(op: "slice", message: "dim \(dim) \(start)..<\(end) of \(x.shape)")
        }
        var shape = x.shape
        shape[dim] = end - start
        let y = Tensor(uninitialized: shape)
        let inner = x.shape[(dim + 1)...].reduce(1, *)
        let outer = x.shape[..<dim].reduce(1, *)
        let span = (end - start) * inner
        let xp = x.floats, yp = y.floats
        let srcRow = x.shape[dim] * inner
        Parallel.forRanges(outer, threads: threads, grain: max(1, 16384 / max(span, 1))) { r in
            for o in r { (yp + o * span).update(from: xp + o * srcRow + start * inner, count: span) }
        }
        return y
    }

    public func windowPartition(_ x: Tensor, window ws: Int) throws -> Tensor {
        try requireF32(x, "windowPartition")
        guard x.rank == 4, ws > 0 else {
            throw ComputeError.invalidArgument(op: "windowPartition", message: "x \(x.shape) must be [N, H, W, C], window \(ws) > 0")
        }
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let nh = (h + ws - 1) / ws, nw = (w + ws - 1) / ws
        let y = Tensor(uninitialized: [n * nh * nw, ws, ws, c])
        let xp = x.floats, yp = y.floats
        // One task per (image, window row, row inside the window): ws·C-float runs per window, zeros past the edge.
        Parallel.forRanges(n * nh * ws, threads: threads, grain: max(1, 8192 / max(nw * ws * c, 1))) { r in
            for task in r {
                let ni = task / (nh * ws), row = task % (nh * ws)
                let wy = row / ws, iy = row % ws, sy = wy * ws + iy
                for wx in 0..<nw {
                    let dst = yp + ((((ni * nh + wy) * nw + wx) * ws + iy) * ws) * c
                    let x0 = wx * ws, valid = sy < h ? max(0, min(ws, w - x0)) : 0
                    if valid > 0 { dst.update(from: xp + ((ni * h + sy) * w + x0) * c, count: valid * c) }
                    if valid < ws { (dst + valid * c).update(repeating: 0, count: (ws - valid) * c) }
                }
            }
        }
        return y
    }

    public func windowUnpartition(_ x: Tensor, window ws: Int, height h: Int, width w: Int) throws -> Tensor {
        try requireF32(x, "windowUnpartition")
        let nh = ws > 0 ? (h + ws - 1) / ws : 0, nw = ws > 0 ? (w + ws - 1) / ws : 0
        guard x.rank == 4, ws > 0, h > 0, w > 0, x.shape[1] == ws, x.shape[2] == ws, x.shape[0] % (nh * nw) == 0 else {
            throw ComputeError.invalidArgument(op: "windowUnpartition", message: "windows \(x.shape) for window \(ws) and \(h)x\(w)")
        }
        let n = x.shape[0] / (nh * nw), c = x.shape[3]
        let y = Tensor(uninitialized: [n, h, w, c])
        let xp = x.floats, yp = y.floats
        Parallel.forRanges(n * h, threads: threads, grain: max(1, 8192 / max(w * c, 1))) { r in
            for task in r {
                let ni = task / h, sy = task % h
                let wy = sy / ws, iy = sy % ws
                for wx in 0..<nw {
                    let x0 = wx * ws, valid = min(ws, w - x0)
                    let src = xp + ((((ni * nh + wy) * nw + wx) * ws + iy) * ws) * c
                    (yp + ((ni * h + sy) * w + x0) * c).update(from: src, count: valid * c)
                }
            }
        }
        return y
    }

    public func concat(_ xs: [Tensor], dim: Int) throws -> Tensor {
        guard let first = xs.first, dim >= 0, dim < first.rank else {
            throw ComputeError.invalidArgument(op: "concat", message: "\(xs.count) tensors along dim \(dim)")
        }
        for t in xs {
            try requireF32(t, "concat")
            guard t.rank == first.rank, (0..<t.rank).allSatisfy({ $0 == dim || t.shape[$0] == first.shape[$0] }) else {
                throw ComputeError.shapeMismatch(op: "concat", message: "\(xs.map(\.shape)) along dim \(dim)")
            }
        }
        var shape = first.shape
        shape[dim] = xs.reduce(0) { $0 + $1.shape[dim] }
        let y = Tensor(uninitialized: shape)
        let inner = first.shape[(dim + 1)...].reduce(1, *)
        let outer = first.shape[..<dim].reduce(1, *)
        let dstRow = shape[dim] * inner
        let yp = y.floats
        var off = 0
        for t in xs {
            let span = t.shape[dim] * inner
            let tp = t.floats
            let o0 = off
            Parallel.forRanges(outer, threads: threads, grain: max(1, 16384 / max(span, 1))) { r in
                for o in r { (yp + o * dstRow + o0).update(from: tp + o * span, count: span) }
            }
            off += span
        }
        return y
    }

    public func rotary(_ x: Tensor, angles: Tensor, style: RotaryStyle, headsBeforeTokens: Bool) throws -> Tensor {
        try requireF32(x, "rotary"); try requireF32(angles, "rotary")
        guard x.rank >= 3, angles.rank == 2 else {
            throw ComputeError.shapeMismatch(op: "rotary", message: "x \(x.shape), angles \(angles.shape)")
        }
        let d = x.shape[x.rank - 1]
        let (l, h) = headsBeforeTokens ? (x.shape[x.rank - 2], x.shape[x.rank - 3]) : (x.shape[x.rank - 3], x.shape[x.rank - 2])
        guard d % 2 == 0, angles.shape[0] == l, angles.shape[1] == d / 2 else {
            throw ComputeError.shapeMismatch(op: "rotary", message: "x \(x.shape), angles \(angles.shape) (expected [\(l), \(d / 2)])")
        }
        let half = d / 2
        let cosT = UnsafeMutablePointer<Float>.allocate(capacity: l * half)
        let sinT = UnsafeMutablePointer<Float>.allocate(capacity: l * half)
        defer { cosT.deallocate(); sinT.deallocate() }
        let ap = angles.floats
        for i in 0..<(l * half) { cosT[i] = Foundation.cos(ap[i]); sinT[i] = Foundation.sin(ap[i]) }
        let y = Tensor(uninitialized: x.shape)
        let xp = x.floats, yp = y.floats
        let vectors = x.count / d
        Parallel.forRanges(vectors, threads: threads, grain: 256) { r in
            for vi in r {
                let pos = headsBeforeTokens ? vi % l : (vi / h) % l
                let c = cosT + pos * half, s = sinT + pos * half
                let src = xp + vi * d, dst = yp + vi * d
                switch style {
                case .halfSplit:
                    for i in 0..<half {
                        let a = src[i], b = src[i + half]
                        dst[i] = a * c[i] - b * s[i]
                        dst[i + half] = b * c[i] + a * s[i]
                    }
                case .adjacentPairs:
                    for i in 0..<half {
                        let a = src[2 * i], b = src[2 * i + 1]
                        dst[2 * i] = a * c[i] - b * s[i]
                        dst[2 * i + 1] = b * c[i] + a * s[i]
                    }
                }
            }
        }
        return y
    }
}
