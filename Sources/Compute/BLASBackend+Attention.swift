extension BLASBackend {
    public func attention(q: Tensor, k: Tensor, v: Tensor, scale: Float, causal: Bool) throws -> Tensor {
        try requireF32(q, "attention"); try requireF32(k, "attention"); try requireF32(v, "attention")
        guard q.rank == 4, k.rank == 4, v.rank == 4 else {
            throw ComputeError.shapeMismatch(op: "attention", message: "q \(q.shape), k \(k.shape), v \(v.shape) must be [B, H, L, D]")
        }
        let (b, hq, lq, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let (hkv, lk, dv) = (k.shape[1], k.shape[2], v.shape[3])
        guard k.shape[0] == b, v.shape[0] == b, k.shape[3] == d, v.shape[1] == hkv, v.shape[2] == lk, hkv > 0, hq % hkv == 0 else {
            throw ComputeError.shapeMismatch(op: "attention", message: "q \(q.shape), k \(k.shape), v \(v.shape)")
        }
        let out = Tensor(zeros: [b, hq, lq, dv])
        guard b > 0, hq > 0, lq > 0, lk > 0, dv > 0 else { return out }
        let group = hq / hkv
        var bq = min(lq, 128)
        while bq > 16, b * hq * ((lq + bq - 1) / bq) < threads * 4 { bq /= 2 }
        let bk = min(lk, 1024)
        let qBlocks = (lq + bq - 1) / bq
        let tasks = b * hq * qBlocks
        let workers = min(threads, tasks)
        let scratchPer = bq * bk + bq * dv + 2 * bq
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchPer * workers)
        defer { scratch.deallocate() }
        let qp = q.floats, kp = k.floats, vp = v.floats, op = out.floats
        let offset = lk - lq
        withSingleThreadedBLAS {
            Parallel.forTasks(tasks, threads: workers) { task, worker in
                let qbIndex = task % qBlocks
                let bh = task / qBlocks
                let h = bh % hq, bi = bh / hq
                let kvh = h / group
                let q0 = qbIndex * bq
                let rows = min(bq, lq - q0)
                let qPtr = qp + ((bi * hq + h) * lq + q0) * d
                let kPtr = kp + (bi * hkv + kvh) * lk * d
                let vPtr = vp + (bi * hkv + kvh) * lk * dv
                let oPtr = op + ((bi * hq + h) * lq + q0) * dv
                let s = scratch + worker * scratchPer
                let acc = s + bq * bk
                let mRow = acc + bq * dv
                let lRow = mRow + bq
                acc.initialize(repeating: 0, count: rows * dv)
                mRow.initialize(repeating: -.infinity, count: rows)
                lRow.initialize(repeating: 0, count: rows)
                let kEnd = causal ? min(lk, q0 + rows + offset) : lk
                var k0 = 0
                while k0 < kEnd {
                    let kb = min(bk, kEnd - k0)
                    sgemm(transA: false, transB: true, m: rows, n: kb, k: d, alpha: scale, a: qPtr, lda: d,
                          b: kPtr + k0 * d, ldb: d, beta: 0, c: s, ldc: kb)
                    for i in 0..<rows {
                        let sr = s + i * kb
                        if causal {
                            let limit = q0 + i + offset - k0
                            if limit < kb - 1 {
                                let from = max(limit + 1, 0)
                                if from < kb { (sr + from).update(repeating: -.infinity, count: kb - from) }
                            }
                        }
                        onlineSoftmaxRow(sr, kb, &mRow[i], &lRow[i], acc + i * dv, dv)
                    }
                    sgemm(transA: false, transB: false, m: rows, n: dv, k: kb, alpha: 1, a: s, lda: kb,
                          b: vPtr + k0 * dv, ldb: dv, beta: 1, c: acc, ldc: dv)
                    k0 += kb
                }
                for i in 0..<rows {
                    let inv: Float = lRow[i] > 0 ? 1 / lRow[i] : 0
                    let a = acc + i * dv, o = oPtr + i * dv
                    for j in 0..<dv { o[j] = a[j] * inv }
                }
            }
        }
        return out
    }
}

/// One row of the online softmax: turns scores into unnormalized probabilities against the running max,
/// rescaling the running sum and the row's output accumulator when the max grows.
@inline(__always)
func onlineSoftmaxRow(_ s: UnsafeMutablePointer<Float>, _ n: Int, _ m: inout Float, _ l: inout Float,
                      _ acc: UnsafeMutablePointer<Float>, _ dv: Int) {
    var m8 = SIMD8<Float>(repeating: -.infinity)
    var i = 0
    while i + 8 <= n { m8 = vmax(m8, ld8(s + i)); i += 8 }
    var rowMax = m8.max()
    while i < n { rowMax = max(rowMax, s[i]); i += 1 }
    let newMax = max(m, rowMax)
    if newMax == -.infinity {
        s.update(repeating: 0, count: n)
        return
    }
    if newMax > m, m != -.infinity {
        let corr = exp8(SIMD8<Float>(repeating: m - newMax))[0]
        l *= corr
        for j in 0..<dv { acc[j] *= corr }
    }
    m = newMax
    var sum8 = SIMD8<Float>()
    i = 0
    while i + 8 <= n { let e = exp8(ld8(s + i) - newMax); st8(s + i, e); sum8 += e; i += 8 }
    var sum = sum8.sum()
    while i < n {
        var t = SIMD8<Float>(repeating: 0)
        t[0] = s[i] - newMax
        let e = exp8(t)[0]
        s[i] = e
        sum += e
        i += 1
    }
    l += sum
}
