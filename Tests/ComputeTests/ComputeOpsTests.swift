import Compute
import Foundation
import XCTest

/// Every op of `ComputeBackend` on the BLAS backend against a scalar reference (or torch outputs).
final class ComputeOpsTests: XCTestCase {
    let be = BLASBackend()
    var rng = SeededRandom(42)

    func testLinearFloat32WithAndWithoutBias() throws {
        let x = try rng.tensor([2, 3, 37]), w = try rng.tensor([19, 37]), b = try rng.tensor([19])
        let ref = Ref.matmul(x.toArray(), w.toArray(), m: 6, k: 37, n: 19, transB: true)
        assertClose(try be.linear(x, weight: w, bias: nil), ref, shape: [2, 3, 19], "linear")
        let withBias = (0..<ref.count).map { ref[$0] + b.toArray()[$0 % 19] }
        assertClose(try be.linear(x, weight: w, bias: b), withBias, shape: [2, 3, 19], "linear+bias")
        XCTAssertThrowsError(try be.linear(x, weight: try rng.tensor([19, 36]), bias: nil))
    }

    /// `linear(activation:)` (and `multiplying:`) equals the product, bias, `unary` (and `mul`) as separate ops, bit for bit, for f32 and bf16
    /// weights (tiled and gemv paths), with and without bias, an output width that is not a multiple of 8, and
    /// enough rows for the threaded pass.
    func testLinearWithActivationEqualsSeparateOps() throws {
        let wf = try rng.tensor([45, 64])
        let bits = wf.toArray().map { UInt16(truncatingIfNeeded: $0.bitPattern >> 16) }
        try bits.withUnsafeBytes { raw in
            let wb = try Tensor(borrowing: raw, shape: [45, 64], elementType: .bfloat16, owner: nil)
            for (w, rows) in [(wf, 3000), (wb, 3), (wb, 700)] {
                let x = try rng.tensor([rows, 64]), b = try rng.tensor([45])
                let multiplier = try rng.tensor([rows, 45])
                for op in UnaryOp.allCases {
                    for bias in [b, nil] {
                        let fused = try be.linear(x, weight: w, bias: bias, activation: op).toArray()
                        let activated = try be.unary(try be.linear(x, weight: w, bias: bias), op)
                        XCTAssertEqual(fused, activated.toArray(), "\(op) \(w.elementType) rows \(rows) bias \(bias != nil)")
                        let gated = try be.linear(x, weight: w, bias: bias, activation: op, multiplying: multiplier).toArray()
                        XCTAssertEqual(gated, try be.mul(activated, multiplier).toArray(), "\(op) · multiplier, \(w.elementType) rows \(rows)")
                    }
                }
                XCTAssertThrowsError(try be.linear(x, weight: w, bias: b, activation: nil, multiplying: multiplier), "multiplier without activation")
                XCTAssertThrowsError(try be.linear(x, weight: w, bias: b, activation: .silu, multiplying: try rng.tensor([rows, 44])), "multiplier shape")
            }
        }
    }

    func testLinearBFloat16WeightsTiledAndGemv() throws {
        // (4100, 1100): the 4M-float widening tile holds 1023 rows, so the product runs in two tiles with a ragged end.
        for (inF, outF, ms) in [(70, 1100, [1, 3, 9]), (4100, 1100, [2, 9])] {
            try checkBFloat16Linear(inF: inF, outF: outF, ms: ms)
        }
    }

    func checkBFloat16Linear(inF: Int, outF: Int, ms: [Int]) throws {
        let wf = rng.array(outF * inF)
        let bits = wf.map { UInt16(truncatingIfNeeded: $0.bitPattern >> 16) }
        let widened = bits.map { Float(bitPattern: UInt32($0) << 16) }
        let b = try rng.tensor([outF])
        try bits.withUnsafeBytes { raw in
            let w = try Tensor(borrowing: raw, shape: [outF, inF], elementType: .bfloat16, owner: nil)
            for m in ms {
                let x = try rng.tensor([m, inF])
                let ref = Ref.matmul(x.toArray(), widened, m: m, k: inF, n: outF, transB: true)
                let bb = b.toArray()
                assertClose(try be.linear(x, weight: w, bias: b), (0..<ref.count).map { ref[$0] + bb[$0 % outF] }, shape: [m, outF], "bf16 linear m=\(m)")
                assertClose(try be.linear(x, weight: w, bias: nil), ref, shape: [m, outF], "bf16 linear nobias m=\(m)")
            }
        }
    }

    func testSplitGEMMThreadingMatchesReference() throws {
        let split = BLASBackend(threads: 3, gemmThreading: .split)
        for (m, n, k) in [(300, 80, 96), (8, 2000, 200), (257, 259, 64)] {
            let x = try rng.tensor([m, k]), w = try rng.tensor([n, k])
            assertClose(try split.linear(x, weight: w, bias: nil), Ref.matmul(x.toArray(), w.toArray(), m: m, k: k, n: n, transB: true), shape: [m, n], "split linear \(m)x\(n)x\(k)")
        }
        let img = try rng.tensor([1, 16, 64, 64]), wt = try rng.tensor([64, 16, 2, 2]), wt2 = try rng.tensor([16, 64, 2, 2]), b = try rng.tensor([64])
        assertClose(try split.convTranspose2x2(img, weight: wt2, bias: b), try be.convTranspose2x2(img, weight: wt2, bias: b).toArray(), shape: [1, 64, 128, 128], tol: 1e-6, "split convT")
        let (ref, shape) = Ref.conv2d(img.toArray(), n: 1, c: 16, h: 64, w: 64, wt.toArray(), o: 64, kh: 2, kw: 2, b.toArray(), stride: (2, 2), pad: (0, 0))
        assertClose(try split.conv2d(img, weight: wt, bias: b, stride: (2, 2), padding: (0, 0)), ref, shape: shape, tol: 2e-6, "split conv2d")
    }

    func testMatmulBatchedTransposedAndBroadcast() throws {
        let a = try rng.tensor([3, 5, 6, 8]), b = try rng.tensor([3, 5, 8, 7]), bt = try rng.tensor([3, 5, 7, 8]), b2 = try rng.tensor([8, 7])
        let y = try be.matmul(a, b, transposeB: false)
        let yt = try be.matmul(a, bt, transposeB: true)
        let y2 = try be.matmul(a, b2, transposeB: false)
        var r1: [Float] = [], r2: [Float] = [], r3: [Float] = []
        let av = a.toArray(), bv = b.toArray(), btv = bt.toArray()
        for i in 0..<15 {
            r1 += Ref.matmul(Array(av[(i * 48)..<(i * 48 + 48)]), Array(bv[(i * 56)..<(i * 56 + 56)]), m: 6, k: 8, n: 7, transB: false)
            r2 += Ref.matmul(Array(av[(i * 48)..<(i * 48 + 48)]), Array(btv[(i * 56)..<(i * 56 + 56)]), m: 6, k: 8, n: 7, transB: true)
            r3 += Ref.matmul(Array(av[(i * 48)..<(i * 48 + 48)]), b2.toArray(), m: 6, k: 8, n: 7, transB: false)
        }
        assertClose(y, r1, shape: [3, 5, 6, 7], "matmul")
        assertClose(yt, r2, shape: [3, 5, 6, 7], "matmul transB")
        assertClose(y2, r3, shape: [3, 5, 6, 7], "matmul broadcast")
        XCTAssertThrowsError(try be.matmul(a, try rng.tensor([2, 8, 7]), transposeB: false))
    }

    func testAddMulScaleBroadcast() throws {
        let a = try rng.tensor([4, 3, 21]), b = try rng.tensor([4, 3, 21]), c = try rng.tensor([21]), d = try rng.tensor([1, 3, 21])
        let av = a.toArray(), bv = b.toArray(), cv = c.toArray(), dv = d.toArray()
        assertClose(try be.add(a, b), zip(av, bv).map(+), shape: a.shape, "add")
        assertClose(try be.mul(a, b), zip(av, bv).map(*), shape: a.shape, "mul")
        assertClose(try be.add(a, c), av.indices.map { av[$0] + cv[$0 % 21] }, shape: a.shape, "add bcast")
        assertClose(try be.mul(a, d), av.indices.map { av[$0] * dv[$0 % 63] }, shape: a.shape, "mul bcast")
        assertClose(try be.scale(a, by: -2.5), av.map { $0 * -2.5 }, shape: a.shape, "scale")
        XCTAssertThrowsError(try be.add(a, try rng.tensor([5])))
    }

    func testUnaryOps() throws {
        let x = try Tensor((0..<203).map { Float($0 - 101) / 12 }, shape: [7, 29])
        let xv = x.toArray()
        func check(_ op: UnaryOp, _ f: (Double) -> Double, tol: Float) throws {
            assertClose(try be.unary(x, op), xv.map { Float(f(Double($0))) }, shape: x.shape, tol: tol, op.rawValue)
        }
        try check(.gelu, { $0 * 0.5 * (1 + erf($0 / 2.0.squareRoot())) }, tol: 3e-7)
        try check(.geluTanh, { 0.5 * $0 * (1 + tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0))) }, tol: 3e-7)
        try check(.silu, { $0 / (1 + exp(-$0)) }, tol: 3e-7)
        try check(.relu, { max($0, 0) }, tol: 0)
        try check(.sigmoid, { 1 / (1 + exp(-$0)) }, tol: 3e-7)
    }

    func testGeluMatchesTorch() throws {
        let x = try NPY.read(path: fixtureURL("gelu_input.npy").path).tensor()
        assertClose(try be.unary(x, .gelu), try NPY.read(path: fixtureURL("gelu_erf.npy").path).values, shape: x.shape, tol: 2e-7, "gelu vs torch")
        assertClose(try be.unary(x, .geluTanh), try NPY.read(path: fixtureURL("gelu_tanh.npy").path).values, shape: x.shape, tol: 2e-7, "gelu tanh vs torch")
    }

    func testNormsAndSoftmax() throws {
        let c = 45
        let x = try rng.tensor([3, 4, c]), w = try rng.tensor([c]), b = try rng.tensor([c])
        let xv = x.toArray(), wv = w.toArray(), bv = b.toArray()
        var ln: [Float] = [], rms: [Float] = [], sm: [Float] = []
        for r in 0..<12 {
            let row = xv[(r * c)..<(r * c + c)].map(Double.init)
            let mean = row.reduce(0, +) / Double(c)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(c)
            let ms = row.map { $0 * $0 }.reduce(0, +) / Double(c)
            for i in 0..<c {
                ln.append(Float((row[i] - mean) / (variance + 1e-6).squareRoot() * Double(wv[i]) + Double(bv[i])))
                rms.append(Float(row[i] / (ms + 1e-6).squareRoot() * Double(wv[i])))
            }
            sm += Ref.softmax(row.map { $0 * 7 }).map(Float.init)
        }
        assertClose(try be.layerNorm(x, weight: w, bias: b, eps: 1e-6), ln, shape: x.shape, tol: 2e-6, "layerNorm")
        assertClose(try be.rmsNorm(x, weight: w, eps: 1e-6), rms, shape: x.shape, tol: 2e-6, "rmsNorm")
        assertClose(try be.softmax(try be.scale(x, by: 7)), sm, shape: x.shape, tol: 1e-6, "softmax")
        // LayerNorm2d over channels of an NCHW tensor.
        let img = try rng.tensor([2, c, 3, 5])
        let iv = img.toArray()
        var ln2 = [Float](repeating: 0, count: iv.count)
        for n in 0..<2 { for p in 0..<15 {
            let vals = (0..<c).map { Double(iv[(n * c + $0) * 15 + p]) }
            let mean = vals.reduce(0, +) / Double(c)
            let variance = vals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(c)
            for ch in 0..<c { ln2[(n * c + ch) * 15 + p] = Float((vals[ch] - mean) / (variance + 1e-6).squareRoot() * Double(wv[ch]) + Double(bv[ch])) }
        } }
        assertClose(try be.layerNorm2d(img, weight: w, bias: b, eps: 1e-6), ln2, shape: img.shape, tol: 2e-6, "layerNorm2d")
    }

    /// The fused residual step: sum = a + (b + bias) exactly as the separate adds, normed = layerNorm(sum); with and
    /// without the bias and the norm's affine parameters; mismatched shapes throw.
    func testAddLayerNormEqualsSeparateOps() throws {
        let c = 45
        let a = try rng.tensor([70, c]), b = try rng.tensor([70, c]), bias = try rng.tensor([c]), w = try rng.tensor([c]), nb = try rng.tensor([c])
        for (withBias, affine) in [(true, true), (false, true), (true, false)] {
            let fused = try be.addLayerNorm(a, b, bias: withBias ? bias : nil, weight: affine ? w : nil, normBias: affine ? nb : nil, eps: 1e-6)
            let sum = try be.add(a, withBias ? try be.add(b, bias) : b)
            XCTAssertEqual(fused.sum.toArray(), sum.toArray(), "sum, bias \(withBias)")
            assertClose(fused.normed, try be.layerNorm(sum, weight: affine ? w : nil, bias: affine ? nb : nil, eps: 1e-6).toArray(),
                        shape: a.shape, tol: 1e-6, "normed, bias \(withBias), affine \(affine)")
        }
        XCTAssertThrowsError(try be.addLayerNorm(a, try rng.tensor([70, c + 1]), bias: nil, weight: nil, normBias: nil, eps: 1e-6))
        XCTAssertThrowsError(try be.addLayerNorm(a, b, bias: try rng.tensor([c - 1]), weight: nil, normBias: nil, eps: 1e-6))
    }

    /// Scalar SDPA: causal mask aligned bottom-right, query head h uses kv head h / (hq / hkv).
    func refAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, scale: Double, causal: Bool) -> [Float] {
        let (b, hq, lq, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let (hkv, lk, dv) = (k.shape[1], k.shape[2], v.shape[3])
        let qv = q.toArray(), kv = k.toArray(), vv = v.toArray()
        var out = [Float](repeating: 0, count: b * hq * lq * dv)
        for bi in 0..<b { for h in 0..<hq {
            let kh = h / (hq / hkv)
            for i in 0..<lq {
                var scores = [Double]()
                let visible = causal ? min(lk, i + (lk - lq) + 1) : lk
                for j in 0..<visible {
                    var s = 0.0
                    for p in 0..<d { s += Double(qv[((bi * hq + h) * lq + i) * d + p]) * Double(kv[((bi * hkv + kh) * lk + j) * d + p]) }
                    scores.append(s * scale)
                }
                let p = Ref.softmax(scores)
                for e in 0..<dv {
                    var acc = 0.0
                    for j in 0..<visible { acc += p[j] * Double(vv[((bi * hkv + kh) * lk + j) * dv + e]) }
                    out[((bi * hq + h) * lq + i) * dv + e] = Float(acc)
                }
            }
        } }
        return out
    }

    func testAttentionPlainCausalGroupedAndLong() throws {
        for (b, hq, hkv, lq, lk, d, causal) in [(2, 2, 2, 33, 33, 16, false), (1, 4, 2, 7, 19, 8, true), (1, 6, 2, 300, 300, 12, true),
                                                (1, 1, 1, 40, 2500, 8, false), (3, 2, 1, 1, 50, 32, true), (1, 2, 2, 64, 16, 72, false)] {
            let q = try rng.tensor([b, hq, lq, d]), k = try rng.tensor([b, hkv, lk, d]), v = try rng.tensor([b, hkv, lk, d + 3])
            let s = 1 / Double(d).squareRoot() * 3
            let got = try be.attention(q: q, k: k, v: v, scale: Float(s), causal: causal)
            assertClose(got, refAttention(q, k, v, scale: s, causal: causal), shape: [b, hq, lq, d + 3], tol: 2e-6, "attention \(b)x\(hq)/\(hkv) \(lq)x\(lk) causal \(causal)")
        }
        XCTAssertThrowsError(try be.attention(q: try rng.tensor([1, 3, 4, 8]), k: try rng.tensor([1, 2, 4, 8]), v: try rng.tensor([1, 2, 4, 8]), scale: 1, causal: false))
    }

    /// Token-major attention (heads read from column ranges of [B, L, C] rows, optional segments) against a plain
    /// reference, with both kernels (the AVX-512 one where the CPU has it, and OpenBLAS): fused qkv with spare
    /// columns, separate q/k/v with grouped heads, causal with unequal lengths, segments of uneven sizes (including
    /// an empty one), more keys than one 128-key chunk with a ragged end, query counts that are not multiples of
    /// the 16-query block, more queries than one 256-query super-block
    /// (both the small-K/V order and the super-block order of the AVX-512 kernel), and head dimensions of 1 to 8 vectors of 16 (8, 12, 72, 96, 112, 128).
    func testTokenMajorAttentionReadsColumnsHeadsAndSegments() throws {
        struct Case { let b, heads, kv, lq, lk, d: Int; let causal: Bool; let segments: [Int]?; let fused: Bool }
        let cases = [Case(b: 2, heads: 3, kv: 3, lq: 20, lk: 20, d: 8, causal: false, segments: nil, fused: true),
                     Case(b: 1, heads: 4, kv: 2, lq: 7, lk: 19, d: 16, causal: true, segments: nil, fused: false),
                     Case(b: 1, heads: 2, kv: 2, lq: 300, lk: 300, d: 12, causal: false, segments: [0, 16, 16, 200, 217, 300], fused: true),
                     Case(b: 3, heads: 2, kv: 1, lq: 45, lk: 45, d: 72, causal: true, segments: [0, 9, 45], fused: false),
                     Case(b: 1, heads: 2, kv: 2, lq: 37, lk: 600, d: 72, causal: false, segments: nil, fused: false),
                     Case(b: 2, heads: 4, kv: 2, lq: 70, lk: 70, d: 96, causal: false, segments: [0, 33, 70], fused: true),
                     Case(b: 1, heads: 1, kv: 1, lq: 3, lk: 290, d: 112, causal: false, segments: nil, fused: false),
                     Case(b: 1, heads: 2, kv: 1, lq: 50, lk: 50, d: 128, causal: false, segments: nil, fused: true),
                     Case(b: 1, heads: 2, kv: 1, lq: 530, lk: 70, d: 16, causal: false, segments: nil, fused: false),
                     Case(b: 1, heads: 1, kv: 1, lq: 300, lk: 600, d: 128, causal: false, segments: nil, fused: false),
                     // Small windows (the AVX-512 small-window kernel: up to 64 keys): pooled queries, exactly 64 keys,
                     // one key, head dims that are not multiples of 16.
                     Case(b: 5, heads: 2, kv: 2, lq: 4, lk: 16, d: 72, causal: false, segments: nil, fused: false),
                     Case(b: 2, heads: 3, kv: 3, lq: 9, lk: 64, d: 96, causal: false, segments: nil, fused: false),
                     Case(b: 2, heads: 1, kv: 1, lq: 5, lk: 1, d: 20, causal: false, segments: nil, fused: false),
                     Case(b: 1, heads: 2, kv: 2, lq: 98, lk: 98, d: 40, causal: false, segments: [0, 49, 98], fused: true)]
        for kernel in [AttentionKernel.auto, .blas] { for c in cases {
            let be = BLASBackend(threads: 2)
            be.attentionKernel = kernel
            let extra = 5  // columns around the heads that must not be read
            let qCols = c.fused ? (c.heads + 2 * c.kv) * c.d + extra : c.heads * c.d + extra
            let q = try rng.tensor([c.b, c.lq, qCols])
            let k = c.fused ? q : try rng.tensor([c.b, c.lk, c.kv * c.d + 2])
            let v = c.fused ? q : try rng.tensor([c.b, c.lk, c.kv * c.d + 1])
            let cols = c.fused ? AttentionColumns(q: 3, k: 3 + c.heads * c.d, v: 3 + (c.heads + c.kv) * c.d) : AttentionColumns(q: extra, k: 2, v: 1)
            let scale = 1 / Double(c.d).squareRoot() * 2
            let got = try be.attention(tokenMajor: q, k: k, v: v, columns: cols, heads: c.heads, kvHeads: c.kv, headDim: c.d,
                                       scale: Float(scale), causal: c.causal, segments: c.segments)
            XCTAssertEqual(got.shape, [c.b, c.lq, c.heads * c.d])
            let qa = q.toArray(), ka = k.toArray(), va = v.toArray(), out = got.toArray()
            let (qw, kw, vw) = (q.shape[2], k.shape[2], v.shape[2])
            let spans = c.segments.map { s in Array(zip(s, s.dropFirst())) } ?? [(0, c.lq)]
            for bi in 0..<c.b { for h in 0..<c.heads { for (s0, s1) in spans where s1 > s0 { for i in s0..<s1 {
                let kh = h / (c.heads / c.kv)
                let (k0, k1) = c.segments == nil ? (0, c.lk) : (s0, s1)
                let last = c.causal ? min(k1, k0 + (i - s0) + (k1 - k0) - (s1 - s0) + 1) : k1
                var scores: [Double] = []
                for j in k0..<last {
                    var dot = 0.0
                    for e in 0..<c.d {
                        dot += Double(qa[(bi * c.lq + i) * qw + cols.q + h * c.d + e]) * Double(ka[(bi * c.lk + j) * kw + cols.k + kh * c.d + e])
                    }
                    scores.append(dot * scale)
                }
                let p = Ref.softmax(scores)
                for e in 0..<c.d {
                    var want = 0.0
                    for (n, j) in (k0..<last).enumerated() { want += p[n] * Double(va[(bi * c.lk + j) * vw + cols.v + kh * c.d + e]) }
                    let g = out[(bi * c.lq + i) * c.heads * c.d + h * c.d + e]
                    XCTAssertEqual(Double(g), want, accuracy: 2e-6 * max(1, abs(want)), "\(kernel) kernel, case \(c) b\(bi) h\(h) row \(i) ch \(e)")
                }
            } } } }
        } }
        let x = try rng.tensor([1, 10, 24])
        XCTAssertThrowsError(try be.attention(tokenMajor: x, k: x, v: x, columns: .fused(width: 8), heads: 2, kvHeads: 2, headDim: 8,
                                              scale: 1, causal: false, segments: nil), "v's columns past the row")
        XCTAssertThrowsError(try be.attention(tokenMajor: x, k: x, v: x, columns: .fused(width: 8), heads: 1, kvHeads: 1, headDim: 8,
                                              scale: 1, causal: false, segments: [0, 4, 3, 10]), "falling segments")
        XCTAssertThrowsError(try be.attention(tokenMajor: x, k: x, v: x, columns: .fused(width: 8), heads: 1, kvHeads: 1, headDim: 8,
                                              scale: 1, causal: false, segments: [0, 9]), "segments short of L")
        XCTAssertThrowsError(try be.attention(tokenMajor: x, k: x, v: x, columns: .fused(width: 8), heads: 3, kvHeads: 2, headDim: 4,
                                              scale: 1, causal: false, segments: nil), "heads not a multiple of kv heads")
    }

    /// The decode-time kernel over a [kvHeads, capacity, d] cache (capacity beyond the filled positions) equals causal
    /// attention of the last L tokens over all `total` positions.
    func testCachedAttentionMatchesCausalAttentionOfTheNewTokens() throws {
        for (heads, kvHeads, total, l, d, capacity) in [(16, 2, 300, 1, 128, 512), (4, 2, 37, 3, 12, 40), (3, 3, 9, 9, 8, 9), (8, 1, 1, 1, 16, 4)] {
            let q = try rng.tensor([1, heads, l, d]), k = try rng.tensor([1, kvHeads, total, d]), v = try rng.tensor([1, kvHeads, total, d])
            let scale = 1 / Double(d).squareRoot() * 2
            let ref = refAttention(q, k, v, scale: scale, causal: true)  // [1, heads, l, d]
            var keys = [Float](repeating: .nan, count: kvHeads * capacity * d), values = keys
            let kv = k.toArray(), vv = v.toArray()
            for h in 0..<kvHeads { for j in 0..<total { for e in 0..<d {
                keys[(h * capacity + j) * d + e] = kv[(h * total + j) * d + e]
                values[(h * capacity + j) * d + e] = vv[(h * total + j) * d + e]
            } } }
            let qTokensMajor = try be.permute(q.reshaped([heads, l, d]), [1, 0, 2])  // [l, heads, d]
            var out = [Float](repeating: 0, count: l * heads * d)
            keys.withUnsafeBufferPointer { kp in values.withUnsafeBufferPointer { vp in out.withUnsafeMutableBufferPointer { op in
                guard let kb = kp.baseAddress, let vb = vp.baseAddress, let ob = op.baseAddress else { return }
                CachedAttention.attend(queries: qTokensMajor.floats, tokens: l, heads: heads, kvHeads: kvHeads, headDim: d, keys: kb,
                                       values: vb, capacity: capacity, firstPosition: total - l, scale: Float(scale), output: ob, threads: 2)
            } } }
            var want = [Float](repeating: 0, count: l * heads * d)  // reference reordered to [l, heads, d]
            for h in 0..<heads { for t in 0..<l { for e in 0..<d { want[(t * heads + h) * d + e] = ref[(h * l + t) * d + e] } } }
            for i in 0..<want.count {
                XCTAssertEqual(out[i], want[i], accuracy: 2e-6 * max(1, abs(want[i])), "cached attention \(heads)/\(kvHeads) L\(l) of \(total), element \(i)")
            }
        }
    }

    func testConv2dStridedPaddedAndPointwise() throws {
        for (n, c, h, w, o, kh, kw, st, pd) in [(1, 3, 17, 19, 5, 7, 7, (4, 4), (3, 3)), (2, 4, 8, 6, 3, 1, 1, (1, 1), (0, 0)), (1, 1, 8, 8, 4, 2, 2, (2, 2), (0, 0)), (1, 2, 5, 5, 2, 3, 3, (1, 2), (1, 0))] {
            let x = try rng.tensor([n, c, h, w]), wt = try rng.tensor([o, c, kh, kw]), b = try rng.tensor([o])
            let (ref, shape) = Ref.conv2d(x.toArray(), n: n, c: c, h: h, w: w, wt.toArray(), o: o, kh: kh, kw: kw, b.toArray(), stride: st, pad: pd)
            assertClose(try be.conv2d(x, weight: wt, bias: b, stride: st, padding: pd), ref, shape: shape, tol: 2e-6, "conv2d k\(kh)")
            // NHWC output: the same values transposed (im2col rows + linear).
            let nhwc = try be.conv2d(x, weight: wt, bias: b, stride: st, padding: pd, outputLayout: .nhwc)
            let nchwShape = shape
            assertClose(try be.permute(nhwc, [0, 3, 1, 2]), ref, shape: nchwShape, tol: 2e-6, "conv2d k\(kh) NHWC output")
        }
        // Enough output pixels for the AVX-512 product kernel (rows >= 64): SAM2's patch embedding, scaled down.
        let x = try rng.tensor([1, 3, 64, 48]), wt = try rng.tensor([24, 3, 7, 7]), b = try rng.tensor([24])
        let (ref, shape) = Ref.conv2d(x.toArray(), n: 1, c: 3, h: 64, w: 48, wt.toArray(), o: 24, kh: 7, kw: 7, b.toArray(), stride: (4, 4), pad: (3, 3))
        let nhwc = try be.conv2d(x, weight: wt, bias: b, stride: (4, 4), padding: (3, 3), outputLayout: .nhwc)
        XCTAssertEqual(nhwc.shape, [1, 16, 12, 24])
        assertClose(try be.permute(nhwc, [0, 3, 1, 2]), ref, shape: shape, tol: 2e-6, "patch embedding NHWC")
    }

    func testConvTranspose2x2() throws {
        let (n, c, h, w, o) = (2, 5, 3, 4, 6)
        let x = try rng.tensor([n, c, h, w]), wt = try rng.tensor([c, o, 2, 2]), b = try rng.tensor([o])
        let xv = x.toArray(), wv = wt.toArray(), bv = b.toArray()
        var ref = [Float](repeating: 0, count: n * o * 4 * h * w)
        for ni in 0..<n { for oi in 0..<o { for y in 0..<(2 * h) { for xx in 0..<(2 * w) {
            var s = Double(bv[oi])
            for ci in 0..<c { s += Double(xv[((ni * c + ci) * h + y / 2) * w + xx / 2]) * Double(wv[((ci * o + oi) * 2 + y % 2) * 2 + xx % 2]) }
            ref[((ni * o + oi) * 2 * h + y) * 2 * w + xx] = Float(s)
        } } } }
        assertClose(try be.convTranspose2x2(x, weight: wt, bias: b), ref, shape: [n, o, 2 * h, 2 * w], tol: 2e-6, "convT")
        let nhwc = try be.permute(x, [0, 2, 3, 1])
        assertClose(try be.convTranspose2x2(nhwc, weight: wt, bias: b, inputLayout: .nhwc), ref, shape: [n, o, 2 * h, 2 * w], tol: 2e-6, "convT NHWC input")
        XCTAssertThrowsError(try be.convTranspose2x2(x, weight: wt, bias: b, inputLayout: .nhwc), "NCHW tensor read as NHWC: channel count mismatch")
    }

    func testMaxPoolBothLayouts() throws {
        let x = try rng.tensor([2, 3, 5, 6])
        let xv = x.toArray()
        var ref = [Float]()
        for p in 0..<6 { for y in 0..<2 { for xx in 0..<3 {
            ref.append([0, 1, 6, 7].map { xv[p * 30 + 2 * y * 6 + 2 * xx + $0] }.max() ?? 0)
        } } }
        assertClose(try be.maxPool2x2(x, layout: .nchw), ref, shape: [2, 3, 2, 3], tol: 0, "maxpool nchw")
        let nhwc = try be.permute(x, [0, 2, 3, 1])
        let pooled = try be.maxPool2x2(nhwc, layout: .nhwc)
        assertClose(try be.permute(pooled, [0, 3, 1, 2]), ref, shape: [2, 3, 2, 3], tol: 0, "maxpool nhwc")
    }

    func testInterpolateMatchesTorch() throws {
        let x = try NPY.read(path: fixtureURL("interp_input.npy").path).tensor()
        let cases: [(String, InterpolationMode, Bool)] = [("bicubic_up", .bicubic, false), ("bicubic_down", .bicubic, false), ("bilinear_up", .bilinear, false),
                                                          ("bilinear_down", .bilinear, false), ("nearest_up", .nearest, false), ("nearest_odd", .nearest, false),
                                                          ("bilinear_aa_mixed", .bilinear, true), ("bilinear_aa_down", .bilinear, true), ("bicubic_aa_mixed", .bicubic, true)]
        for (name, mode, aa) in cases {
            let ref = try NPY.read(path: fixtureURL("interp_\(name).npy").path)
            let got = try be.interpolate(x, height: ref.shape[2], width: ref.shape[3], mode: mode, antialias: aa)
            assertClose(got, ref.values, shape: ref.shape, tol: mode == .bicubic ? 5e-6 : 1e-6, name)
        }
    }

    /// Every permutation of a few shapes (with size-1 dimensions and sizes that are not multiples of the 32x32
    /// transpose tile) against index arithmetic: covers the blocked-transpose path (NCHW <-> NHWC and other
    /// two-block swaps) and the general path.
    /// Window partition == zero pad + reshape + permute (Hiera's window_partition), and unpartition inverts it with
    /// the padding cropped; grids that are and are not multiples of the window, batch > 1, odd channel counts.
    func testWindowPartitionAndUnpartition() throws {
        for (n, h, w, c, ws) in [(1, 8, 8, 3, 4), (2, 9, 13, 5, 4), (1, 64, 64, 7, 14), (1, 5, 3, 2, 8), (3, 1, 1, 1, 1)] {
            let x = try rng.tensor([n, h, w, c])
            let windows = try be.windowPartition(x, window: ws)
            let nh = (h + ws - 1) / ws, nw = (w + ws - 1) / ws
            XCTAssertEqual(windows.shape, [n * nh * nw, ws, ws, c])
            let xv = x.toArray(), got = windows.toArray()
            var want = [Float](repeating: 0, count: got.count)
            for ni in 0..<n { for wy in 0..<nh { for wx in 0..<nw { for iy in 0..<ws { for ix in 0..<ws { for ci in 0..<c {
                let y = wy * ws + iy, xx = wx * ws + ix
                let dst = ((((ni * nh + wy) * nw + wx) * ws + iy) * ws + ix) * c + ci
                want[dst] = y < h && xx < w ? xv[((ni * h + y) * w + xx) * c + ci] : 0
            } } } } } }
            XCTAssertEqual(got, want, "partition \(n)x\(h)x\(w)x\(c) window \(ws)")
            XCTAssertEqual(try be.windowUnpartition(windows, window: ws, height: h, width: w).toArray(), xv, "round trip")
        }
        XCTAssertThrowsError(try be.windowPartition(try rng.tensor([4, 4, 3]), window: 2))
        XCTAssertThrowsError(try be.windowPartition(try rng.tensor([1, 4, 4, 3]), window: 0))
        XCTAssertThrowsError(try be.windowUnpartition(try rng.tensor([3, 2, 2, 1]), window: 2, height: 4, width: 4), "3 windows for a 2x2 grid")
        XCTAssertThrowsError(try be.windowUnpartition(try rng.tensor([4, 2, 3, 1]), window: 2, height: 4, width: 4))
    }

    func testPermuteAllOrders() throws {
        func permutations(_ a: [Int]) -> [[Int]] {
            a.count <= 1 ? [a] : a.indices.flatMap { i in permutations(Array(a[..<i] + a[(i + 1)...])).map { [a[i]] + $0 } }
        }
        for shape in [[1, 37, 70, 3], [2, 33, 1, 65], [3, 5, 4, 2], [64, 96]] {
            let x = try rng.tensor(shape)
            let xv = x.toArray()
            var strides = [Int](repeating: 1, count: shape.count)
            for i in stride(from: shape.count - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * shape[i + 1] }
            for dims in permutations(Array(shape.indices)) {
                let outShape = dims.map { shape[$0] }
                var ref = [Float](repeating: 0, count: xv.count)
                var idx = [Int](repeating: 0, count: shape.count)
                for o in 0..<xv.count {
                    var rem = o
                    for d in stride(from: shape.count - 1, through: 0, by: -1) { idx[d] = rem % outShape[d]; rem /= outShape[d] }
                    ref[o] = xv[zip(dims, idx).reduce(0) { $0 + strides[$1.0] * $1.1 }]
                }
                assertClose(try be.permute(x, dims), ref, shape: outShape, tol: 0, "permute \(shape) by \(dims)")
            }
        }
    }

    func testPermuteSliceConcatReshape() throws {
        let x = try rng.tensor([2, 3, 4, 5])
        let xv = x.toArray()
        let p = try be.permute(x, [2, 0, 3, 1])
        var ref = [Float]()
        for c in 0..<4 { for a in 0..<2 { for d in 0..<5 { for b in 0..<3 { ref.append(xv[((a * 3 + b) * 4 + c) * 5 + d]) } } } }
        assertClose(p, ref, shape: [4, 2, 5, 3], tol: 0, "permute")
        let s = try be.slice(x, dim: 2, start: 1, end: 3)
        var sref = [Float]()
        for a in 0..<2 { for b in 0..<3 { for c in 1..<3 { for d in 0..<5 { sref.append(xv[((a * 3 + b) * 4 + c) * 5 + d]) } } } }
        assertClose(s, sref, shape: [2, 3, 2, 5], tol: 0, "slice")
        let lo = try be.slice(x, dim: 2, start: 0, end: 1), hi = try be.slice(x, dim: 2, start: 1, end: 4)
        assertClose(try be.concat([lo, hi], dim: 2), xv, shape: x.shape, tol: 0, "concat")
        XCTAssertEqual(try x.reshaped([6, -1]).shape, [6, 20])
        XCTAssertThrowsError(try x.reshaped([7, -1]))
        XCTAssertThrowsError(try be.slice(x, dim: 1, start: 2, end: 4))
        XCTAssertThrowsError(try be.permute(x, [0, 0, 1, 2]))
    }

    func testRotaryBothStylesAndLayouts() throws {
        let (l, h, d) = (5, 3, 8)
        let x = try rng.tensor([2, l, h, d])
        let angles = try Tensor((0..<(l * d / 2)).map { Float($0 / (d / 2)) * powf(10000, -Float($0 % (d / 2)) / Float(d / 2)) }, shape: [l, d / 2])
        let xv = x.toArray(), av = angles.toArray()
        for style in [RotaryStyle.halfSplit, .adjacentPairs] {
            var ref = [Float](repeating: 0, count: xv.count)
            for bb in 0..<2 { for pos in 0..<l { for hh in 0..<h {
                let base = ((bb * l + pos) * h + hh) * d
                for i in 0..<(d / 2) {
                    let (ia, ib) = style == .halfSplit ? (i, i + d / 2) : (2 * i, 2 * i + 1)
                    let th = Double(av[pos * d / 2 + i])
                    ref[base + ia] = Float(Double(xv[base + ia]) * cos(th) - Double(xv[base + ib]) * sin(th))
                    ref[base + ib] = Float(Double(xv[base + ib]) * cos(th) + Double(xv[base + ia]) * sin(th))
                }
            } } }
            assertClose(try be.rotary(x, angles: angles, style: style, headsBeforeTokens: false), ref, shape: x.shape, tol: 1e-6, "rotary tokens-major")
            let hm = try be.permute(x, [0, 2, 1, 3])
            let got = try be.permute(try be.rotary(hm, angles: angles, style: style, headsBeforeTokens: true), [0, 2, 1, 3])
            assertClose(got, ref, shape: x.shape, tol: 1e-6, "rotary heads-major")
        }
    }

    func testNPYRoundTrip() throws {
        let x = try rng.tensor([3, 1, 4])
        let path = NSTemporaryDirectory() + "compute-npy-\(getpid()).npy"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try NPY.write(x, to: path)
        let back = try NPY.read(path: path)
        XCTAssertEqual(back.shape, [3, 1, 4])
        XCTAssertEqual(back.values, x.toArray())
        XCTAssertThrowsError(try NPY.decode([0x93, 1, 2]))
    }
}
