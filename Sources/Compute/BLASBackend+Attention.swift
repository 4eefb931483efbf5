import CKernels
import Foundation

/// Where one attention operand's rows live: element (batch b, head h, row i, channel c) is at
/// `base + b·batch + h·head + i·row + c`. Both layouts the backend accepts are strided views of this kind.
struct AttentionOperand {
    let base: UnsafeMutablePointer<Float>
    let batch: Int
    let head: Int
    let row: Int

    /// [B, H, L, D], contiguous.
    static func headsMajor(_ t: Tensor) -> AttentionOperand {
        let (h, l, d) = (t.shape[1], t.shape[2], t.shape[3])
        return AttentionOperand(base: t.floats, batch: h * l * d, head: l * d, row: d)
    }

    /// [B, L, C] with head h in columns column + h·D ..< column + (h+1)·D.
    static func tokenMajor(_ t: Tensor, column: Int, headDim: Int) -> AttentionOperand {
        let (l, c) = (t.shape[1], t.shape[2])
        return AttentionOperand(base: t.floats + column, batch: l * c, head: headDim, row: c)
    }
}

/// Which kernel non-causal attention uses on the BLAS backend.
public enum AttentionKernel: String, Sendable {
    /// The AVX-512 kernel (CKernels) where the CPU has AVX-512 and the head dimension is at most 128, else
    /// `blas`.
    case auto
    /// OpenBLAS sgemm for the two products of every query block, the online softmax on 8 lanes.
    case blas

    /// `PERCEPTION_ATTENTION_KERNEL` (auto | blas), default auto.
    public static var fromEnvironment: AttentionKernel {
        ProcessInfo.processInfo.environment["PERCEPTION_ATTENTION_KERNEL"].flatMap(AttentionKernel.init(rawValue:)) ?? .auto
    }
}

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
        guard b > 0, hq > 0, lq > 0, lk > 0, dv > 0 else { return Tensor(zeros: [b, hq, lq, dv]) }
        let out = Tensor(uninitialized: [b, hq, lq, dv])
        attentionCore(q: .headsMajor(q), k: .headsMajor(k), v: .headsMajor(v), out: .headsMajor(out), batches: b, heads: hq,
                      kvHeads: hkv, lq: lq, lk: lk, d: d, dv: dv, scale: scale, causal: causal, segments: nil)
        return out
    }

    public func attention(tokenMajor q: Tensor, k: Tensor, v: Tensor, columns: AttentionColumns, heads: Int, kvHeads: Int,
                          headDim d: Int, scale: Float, causal: Bool, segments: [Int]?) throws -> Tensor {
        try requireF32(q, "attention"); try requireF32(k, "attention"); try requireF32(v, "attention")
        let shapes = "q \(q.shape) k \(k.shape) v \(v.shape), columns \(columns), \(heads)/\(kvHeads) heads of \(d)"
        guard q.rank == 3, k.rank == 3, v.rank == 3, heads > 0, kvHeads > 0, heads % kvHeads == 0, d > 0 else {
            throw ComputeError.shapeMismatch(op: "attention", message: shapes + " (need [B, L, C] operands, heads a multiple of kvHeads)")
        }
        let (b, lq, lk) = (q.shape[0], q.shape[1], k.shape[1])
        guard k.shape[0] == b, v.shape[0] == b, v.shape[1] == lk,
              columns.q >= 0, columns.q + heads * d <= q.shape[2],
              columns.k >= 0, columns.k + kvHeads * d <= k.shape[2],
              columns.v >= 0, columns.v + kvHeads * d <= v.shape[2] else {
            throw ComputeError.shapeMismatch(op: "attention", message: shapes)
        }
        if let segments {
            guard lq == lk, segments.first == 0, segments.last == lq, zip(segments, segments.dropFirst()).allSatisfy({ $0 <= $1 }) else {
                throw ComputeError.invalidArgument(op: "attention", message: "segments \(segments.prefix(6))… must rise from 0 to \(lq) (queries and keys of equal length)")
            }
        }
        guard b > 0, lq > 0, lk > 0 else { return Tensor(zeros: [b, lq, heads * d]) }
        let out = Tensor(uninitialized: [b, lq, heads * d])  // segments cover every row, so every row is written
        attentionCore(q: .tokenMajor(q, column: columns.q, headDim: d), k: .tokenMajor(k, column: columns.k, headDim: d),
                      v: .tokenMajor(v, column: columns.v, headDim: d), out: .tokenMajor(out, column: 0, headDim: d),
                      batches: b, heads: heads, kvHeads: kvHeads, lq: lq, lk: lk, d: d, dv: d, scale: scale, causal: causal,
                      segments: segments)
        return out
    }

    /// Flash-style attention over strided operands: tasks are (batch, head, block of up to 256 query rows within a
    /// segment); each computes query·keyᵀ a block of 1024 keys at a time with sgemm, an online softmax, and
    /// probabilities·values accumulated with sgemm. Segments restrict attention to [s, e) × [s, e) blocks.
    func attentionCore(q: AttentionOperand, k: AttentionOperand, v: AttentionOperand, out: AttentionOperand, batches b: Int,
                       heads hq: Int, kvHeads hkv: Int, lq: Int, lk: Int, d: Int, dv: Int, scale: Float, causal: Bool,
                       segments: [Int]?) {
        let group = hq / hkv
        // (query start, rows, key start, keys) of each segment (all queries and keys without segments).
        let spans: [(q0: Int, rows: Int, k0: Int, keys: Int)] = segments.map { s in
            zip(s, s.dropFirst()).compactMap { $0 < $1 ? ($0, $1 - $0, $0, $1 - $0) : nil }
        } ?? [(0, lq, 0, lk)]
        if !causal, d <= 128, dv == d, attentionKernel == .auto, AVX512Kernels.enabled {
            avx512Attention(q: q, k: k, v: v, out: out, batches: b, heads: hq, group: group, d: d, scale: scale, spans: spans)
            return
        }
        // (query start, rows, key start, key count, causal offset) per query block, shared by all batches and heads.
        struct Block { let q0: Int; let rows: Int; let k0: Int; let keys: Int; let offset: Int }
        // 256-query blocks: each block's keys and values are packed once for twice the rows (hiera-l attention
        // 1.38 -> 1.29 s against 128; 64 and 512 were slower, key blocks of 256-4096 made no difference).
        var bq = min(256, spans.map(\.rows).max() ?? 1)
        func blockCount(_ size: Int) -> Int { spans.reduce(0) { $0 + ($1.rows + size - 1) / size } }
        while bq > 16, b * hq * blockCount(bq) < threads * 4 { bq /= 2 }
        var blocks: [Block] = []
        for (qs, ql, ks, kl) in spans {
            var r = 0
            while r < ql {
                blocks.append(Block(q0: qs + r, rows: min(bq, ql - r), k0: ks, keys: kl, offset: kl - ql + r))
                r += bq
            }
        }
        let bk = min(lk, 1024)
        let tasks = b * hq * blocks.count
        let workers = min(threads, tasks)
        let scratchPer = bq * bk + bq * dv + 2 * bq
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchPer * workers)
        defer { scratch.deallocate() }
        withSingleThreadedBLAS {
            Parallel.forTasks(tasks, threads: workers) { task, worker in
                let block = blocks[task % blocks.count]
                let bh = task / blocks.count
                let h = bh % hq, bi = bh / hq
                let kvh = h / group
                let rows = block.rows
                let qPtr = q.base + bi * q.batch + h * q.head + block.q0 * q.row
                let kPtr = k.base + bi * k.batch + kvh * k.head + block.k0 * k.row
                let vPtr = v.base + bi * v.batch + kvh * v.head + block.k0 * v.row
                let oPtr = out.base + bi * out.batch + h * out.head + block.q0 * out.row
                let s = scratch + worker * scratchPer
                let acc = s + bq * bk
                let mRow = acc + bq * dv
                let lRow = mRow + bq
                mRow.initialize(repeating: -.infinity, count: rows)
                lRow.initialize(repeating: 0, count: rows)
                // Row i of the block sees keys 0 ... block.offset + i (causal, bottom-right aligned).
                let kEnd = causal ? min(block.keys, block.offset + rows) : block.keys
                if kEnd <= 0 { acc.initialize(repeating: 0, count: rows * dv) }  // no visible key: the rows stay 0
                var k0 = 0
                while k0 < kEnd {
                    let kb = min(bk, kEnd - k0)
                    sgemm(transA: false, transB: true, m: rows, n: kb, k: d, alpha: scale, a: qPtr, lda: q.row,
                          b: kPtr + k0 * k.row, ldb: k.row, beta: 0, c: s, ldc: kb)
                    for i in 0..<rows {
                        let sr = s + i * kb
                        if causal {
                            let limit = block.offset + i - k0
                            if limit < kb - 1 {
                                let from = max(limit + 1, 0)
                                if from < kb { (sr + from).update(repeating: -.infinity, count: kb - from) }
                            }
                        }
                        onlineSoftmaxRow(sr, kb, &mRow[i], &lRow[i], acc + i * dv, dv)
                    }
                    // The first key block writes the accumulator (the online softmax's rescale of it is a no-op then).
                    sgemm(transA: false, transB: false, m: rows, n: dv, k: kb, alpha: 1, a: s, lda: kb,
                          b: vPtr + k0 * v.row, ldb: v.row, beta: k0 == 0 ? 0 : 1, c: acc, ldc: dv)
                    k0 += kb
                }
                for i in 0..<rows {
                    let inv: Float = lRow[i] > 0 ? 1 / lRow[i] : 0
                    let a = acc + i * dv, o = oPtr + i * out.row
                    for j in 0..<dv { o[j] = a[j] * inv }
                }
            }
        }
    }
}
extension BLASBackend {
    /// One task per (batch, head, segment), each a call of the AVX-512 kernel (which packs its keys and values once
    /// and walks all of the task's queries over them), or of the small-window kernel for up to 64 keys.
    func avx512Attention(q: AttentionOperand, k: AttentionOperand, v: AttentionOperand, out: AttentionOperand, batches b: Int,
                         heads hq: Int, group: Int, d: Int, scale: Float, spans: [(q0: Int, rows: Int, k0: Int, keys: Int)]) {
        guard !spans.isEmpty else { return }
        let tasks = b * hq * spans.count
        let workers = min(threads, tasks)
        // Scratch only for the general kernel's spans (the small-window kernel needs none), from the arena.
        let scratchPer = ((spans.filter { $0.keys > Self.smallWindowKeys }.map { pn_attention_scratch_floats($0.keys, d) }.max() ?? 0) + 15) / 16 * 16
        HostBufferCache.shared.withScratch(floats: scratchPer * workers) { scratch in
            Parallel.forTasks(tasks, threads: workers) { task, worker in
                let span = spans[task % spans.count]
                let bh = task / spans.count
                let h = bh % hq, bi = bh / hq
                let kvh = h / group
                let qp = q.base + bi * q.batch + h * q.head + span.q0 * q.row
                let kp = k.base + bi * k.batch + kvh * k.head + span.k0 * k.row
                let vp = v.base + bi * v.batch + kvh * v.head + span.k0 * v.row
                let op = out.base + bi * out.batch + h * out.head + span.q0 * out.row
                if span.keys <= Self.smallWindowKeys {
                    pn_attention_small_avx512(qp, q.row, kp, k.row, vp, v.row, op, out.row, span.rows, span.keys, d, scale)
                    return
                }
                pn_attention_avx512(qp, q.row, kp, k.row, vp, v.row, op, out.row, span.rows, span.keys, d, scale,
                                    scratch + worker * scratchPer)
            }
        }
    }

    /// Spans with at most this many keys go to `pn_attention_small_avx512` (its limit).
    static let smallWindowKeys = 64
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
