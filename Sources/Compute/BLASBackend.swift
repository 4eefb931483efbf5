import CKernels
import COpenBLAS
import Foundation

/// The CPU backend: OpenBLAS sgemm for matrix products, SIMD kernels for everything else, all cores.
///
/// By default (`GEMMThreading.split`) OpenBLAS runs single-threaded and every large product is split into one
/// block per thread; ops made of many small products (attention tiles, batched matmul) parallelize over tasks.
/// Use one backend per process (the OpenBLAS thread count is process-global).
public final class BLASBackend: ComputeBackend, @unchecked Sendable {
    public let threads: Int
    public let gemmThreading: GEMMThreading
    /// Kernel for non-causal attention (`AttentionKernel.fromEnvironment` unless set).
    public var attentionKernel = AttentionKernel.fromEnvironment
    /// Kernel for `linear` products with a small inner dimension (`GEMMKernel.fromEnvironment` unless set).
    public var gemmKernel = GEMMKernel.fromEnvironment
    public var name: String { "blas(openblas, \(threads) threads, \(gemmThreading.rawValue) gemm threading)" }
    private let blasLock = NSLock()

    /// How large matrix products use the threads.
    public enum GEMMThreading: String, Sendable {
        /// OpenBLAS's own threading (threads synchronize inside every product).
        case openblas
        /// The output is split into one block of rows (or columns) per thread, each a single-threaded sgemm:
        /// no synchronization inside the product, which holds up better on a loaded machine.
        case split
    }

    /// `threads` defaults to the active processor count (or `PERCEPTION_THREADS`); `gemmThreading` to
    /// `PERCEPTION_GEMM_THREADING` (openblas | split), else split (faster in alternating runs, see BENCHMARKS.md).
    public init(threads: Int?, gemmThreading: GEMMThreading?) {
        let env = ProcessInfo.processInfo.environment
        self.threads = max(1, threads ?? env["PERCEPTION_THREADS"].flatMap { Int($0) } ?? ProcessInfo.processInfo.activeProcessorCount)
        self.gemmThreading = gemmThreading ?? env["PERCEPTION_GEMM_THREADING"].flatMap { GEMMThreading(rawValue: $0) } ?? .split
        openblas_set_num_threads(self.gemmThreading == .split ? 1 : Int32(self.threads))
    }

    public init(threads: Int? = nil) {
        let env = ProcessInfo.processInfo.environment
        self.threads = max(1, threads ?? env["PERCEPTION_THREADS"].flatMap { Int($0) } ?? ProcessInfo.processInfo.activeProcessorCount)
        gemmThreading = env["PERCEPTION_GEMM_THREADING"].flatMap { GEMMThreading(rawValue: $0) } ?? .split
        openblas_set_num_threads(gemmThreading == .split ? 1 : Int32(self.threads))
    }

    /// sgemm with this backend's threading policy (see `GEMMThreading`).
    func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
              b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let parts = threads
        guard gemmThreading == .split, parts > 1, m * n * k >= 1 << 21, max(m, n) >= 32 * parts else {
            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        withSingleThreadedBLAS {
            if m >= n {
                let per = ((m + parts - 1) / parts + 15) / 16 * 16
                Parallel.forTasks(parts, threads: parts) { t, _ in
                    let i0 = t * per, i1 = min(m, i0 + per)
                    guard i0 < i1 else { return }
                    sgemm(transA: transA, transB: transB, m: i1 - i0, n: n, k: k, alpha: alpha, a: transA ? a + i0 : a + i0 * lda, lda: lda,
                          b: b, ldb: ldb, beta: beta, c: c + i0 * ldc, ldc: ldc)
                }
            } else {
                let per = ((n + parts - 1) / parts + 15) / 16 * 16
                Parallel.forTasks(parts, threads: parts) { t, _ in
                    let j0 = t * per, j1 = min(n, j0 + per)
                    guard j0 < j1 else { return }
                    sgemm(transA: transA, transB: transB, m: m, n: j1 - j0, k: k, alpha: alpha, a: a, lda: lda,
                          b: transB ? b + j0 * ldb : b + j0, ldb: ldb, beta: beta, c: c + j0, ldc: ldc)
                }
            }
        }
    }

    /// Runs `body` with OpenBLAS single-threaded so that the caller can parallelize over tasks.
    func withSingleThreadedBLAS<R>(_ body: () throws -> R) rethrows -> R {
        if gemmThreading == .split { return try body() }  // OpenBLAS stays single-threaded in this mode
        blasLock.lock()
        openblas_set_num_threads(1)
        defer {
            openblas_set_num_threads(Int32(threads))
            blasLock.unlock()
        }
        return try body()
    }

    // MARK: - linear algebra

    public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) throws -> Tensor {
        try linear(x, weight: weight, bias: bias, activation: nil, multiplying: nil)
    }

    /// `activation(x·wᵀ + b) · multiplier`. With an activation the product is written without the bias and one pass
    /// adds the bias, applies the activation and multiplies in place (instead of pre-filling the bias for sgemm to
    /// read back, then separate activation and multiply passes into new tensors).
    public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?, activation: UnaryOp?, multiplying multiplier: Tensor?) throws -> Tensor {
        guard weight.rank == 2, x.rank >= 1, x.shape[x.rank - 1] == weight.shape[1] else {
            throw ComputeError.shapeMismatch(op: "linear", message: "x \(x.shape), weight \(weight.shape)")
        }
        try requireF32(x, "linear")
        let inF = weight.shape[1], outF = weight.shape[0]
        let m = inF == 0 ? 0 : x.count / inF
        if let b = bias {
            try requireF32(b, "linear bias")
            guard b.count == outF else { throw ComputeError.shapeMismatch(op: "linear", message: "bias \(b.shape) for weight \(weight.shape)") }
        }
        let y = Tensor(uninitialized: Array(x.shape.dropLast()) + [outF])
        if let multiplier {
            try requireF32(multiplier, "linear multiplier")
            guard activation != nil, multiplier.shape == y.shape else {
                throw ComputeError.shapeMismatch(op: "linear", message: "multiplier \(multiplier.shape) for output \(y.shape) (needs an activation)")
            }
        }
        guard m > 0, outF > 0 else { return y }
        let yp = y.floats
        if weight.elementType == .float32, usesPackedKernel(rows: m, inFeatures: inF) {
            packedLinear(x: x.floats, m: m, k: inF, w: weight.floats, n: outF, bias: bias?.floats, y: yp,
                         activation: activation, multiplier: multiplier?.floats)
            return y
        }
        let prefill = bias != nil && activation == nil
        if prefill, let b = bias {
            let bp = b.floats
            Parallel.forRanges(m, threads: threads, grain: max(1, 65536 / max(outF, 1))) { r in
                for i in r { (yp + i * outF).update(from: bp, count: outF) }
            }
        }
        let beta: Float = prefill ? 1 : 0
        switch weight.elementType {
        case .float32:
            gemm(transA: false, transB: true, m: m, n: outF, k: inF, alpha: 1, a: x.floats, lda: inF,
                  b: weight.floats, ldb: inF, beta: beta, c: yp, ldc: outF)
        case .bfloat16:
            if m <= 4 {
                bf16Gemv(x: x.floats, rows: m, w: weight.bf16Bits, outF: outF, inF: inF, y: yp, accumulate: prefill)
            } else {
                bf16TiledGemm(x: x.floats, m: m, w: weight.bf16Bits, outF: outF, inF: inF, y: yp, beta: beta)
            }
        }
        if let activation {
            let bp = bias?.floats, mp = multiplier?.floats
            Parallel.forRanges(m, threads: threads, grain: max(1, Self.pointwiseGrain / max(outF, 1))) { r in
                for row in r {
                    applyActivation(activation, yp + row * outF, bias: bp, yp + row * outF, outF, multiplier: mp.map { $0 + row * outF })
                }
            }
        }
        return y
    }

    /// Products that go to the AVX-512 kernel (`CKernels/gemm_avx512.c`) instead of sgemm: inner dimension up to
    /// `GEMMKernel.maxInFeatures` and at least `GEMMKernel.minRows` rows (fewer rows do not repay packing the
    /// weights), on a CPU with AVX-512, unless `gemmKernel` is `.blas`.
    public func usesPackedKernel(rows m: Int, inFeatures k: Int) -> Bool {
        gemmKernel == .auto && k >= 1 && k <= GEMMKernel.maxInFeatures && m >= GEMMKernel.minRows && AVX512Kernels.enabled
    }

    /// `activation(x·wᵀ + b) · multiplier` with the AVX-512 kernel: the weights are packed once (threads take
    /// disjoint panels), then each thread takes a contiguous range of rows and works through it in blocks of
    /// `GEMMKernel.rowBlock` rows, applying the activation to each block while it is still in L2.
    private func packedLinear(x: UnsafePointer<Float>, m: Int, k: Int, w: UnsafePointer<Float>, n: Int, bias: UnsafePointer<Float>?,
                              y: UnsafeMutablePointer<Float>, activation: UnaryOp?, multiplier: UnsafePointer<Float>?) {
        HostBufferCache.shared.withScratch(floats: pn_gemm_packed_floats(n, k)) { packed in
            let panels = (n + 31) / 32
            Parallel.forRanges(panels, threads: threads, grain: max(1, 16384 / k)) { r in
                pn_gemm_pack_weights(w, k, n, k, r.lowerBound * 32, min(n, r.upperBound * 32), packed)
            }
            let parts = min(threads, max(1, m / GEMMKernel.minRows))
            let per = ((m + parts - 1) / parts + 11) / 12 * 12  // whole 12-row register tiles per thread
            Parallel.forTasks(parts, threads: parts) { t, _ in
                var i = t * per
                let end = min(m, i + per)
                while i < end {
                    let rows = min(GEMMKernel.rowBlock, end - i)
                    pn_gemm_avx512(x + i * k, k, rows, k, packed, n, bias, y + i * n, n)
                    if let activation {
                        for row in i..<(i + rows) {
                            applyActivation(activation, y + row * n, bias: nil, y + row * n, n, multiplier: multiplier.map { $0 + row * n })
                        }
                    }
                    i += rows
                }
            }
        }
    }

    /// y[m, outF] (+)= x[m, inF] · wᵀ with w bf16 [outF, inF]: rows of w are widened tile by tile.
    private func bf16TiledGemm(x: UnsafePointer<Float>, m: Int, w: UnsafePointer<UInt16>, outF: Int, inF: Int,
                               y: UnsafeMutablePointer<Float>, beta: Float) {
        // 4M floats (16 MiB) of widened rows per product: OpenBLAS repacks the whole of x for every call, so small
        // tiles repack it many times (1M-float tiles: the 3B prefill at 70% of sgemm; 4M: 82%; 8M: no better).
        let tile = max(16, min(outF, (1 << 22) / max(inF, 1)))
        HostBufferCache.shared.withScratch(floats: tile * inF) { buf in
            var j0 = 0
            while j0 < outF {
                let nt = min(tile, outF - j0)
                let src = w + j0 * inF
                Parallel.forRanges(nt * inF, threads: threads, grain: 1 << 16) { r in
                    widenBF16(src + r.lowerBound, buf + r.lowerBound, r.count)
                }
                gemm(transA: false, transB: true, m: m, n: nt, k: inF, alpha: 1, a: x, lda: inF, b: buf, ldb: inF,
                      beta: beta, c: y + j0, ldc: outF)
                j0 += nt
            }
        }
    }

    /// Decode-time path: a few rows against bf16 weights read directly (memory bound).
    private func bf16Gemv(x: UnsafePointer<Float>, rows: Int, w: UnsafePointer<UInt16>, outF: Int, inF: Int,
                          y: UnsafeMutablePointer<Float>, accumulate: Bool) {
        Parallel.forRanges(outF, threads: threads, grain: 64) { r in
            var j = r.lowerBound
            // Four weight rows at a time: each x load feeds four rows and eight FMA chains are in flight.
            while j + 4 <= r.upperBound {
                for i in 0..<rows {
                    let d = dotBF16x4(x + i * inF, w + j * inF, inF)
                    let yr = y + i * outF + j
                    if accumulate {
                        yr[0] += d[0]; yr[1] += d[1]; yr[2] += d[2]; yr[3] += d[3]
                    } else {
                        yr[0] = d[0]; yr[1] = d[1]; yr[2] = d[2]; yr[3] = d[3]
                    }
                }
                j += 4
            }
            while j < r.upperBound {
                let wr = w + j * inF
                for i in 0..<rows {
                    let d = dotBF16(x + i * inF, wr, inF)
                    if accumulate { y[i * outF + j] += d } else { y[i * outF + j] = d }
                }
                j += 1
            }
        }
    }

    public func matmul(_ a: Tensor, _ b: Tensor, transposeB: Bool) throws -> Tensor {
        try requireF32(a, "matmul"); try requireF32(b, "matmul")
        guard a.rank >= 2, b.rank >= 2 else { throw ComputeError.shapeMismatch(op: "matmul", message: "\(a.shape) x \(b.shape)") }
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1]
        let bk = transposeB ? b.shape[b.rank - 1] : b.shape[b.rank - 2]
        let n = transposeB ? b.shape[b.rank - 2] : b.shape[b.rank - 1]
        let batchA = Array(a.shape.dropLast(2))
        let batchB = Array(b.shape.dropLast(2))
        guard bk == k, batchB.isEmpty || batchB == batchA else {
            throw ComputeError.shapeMismatch(op: "matmul", message: "\(a.shape) x \(b.shape)\(transposeB ? "ᵀ" : "")")
        }
        let batches = batchA.reduce(1, *)
        let y = Tensor(uninitialized: batchA + [m, n])
        guard m > 0, n > 0, batches > 0 else { return y }
        if k == 0 {
            y.floats.initialize(repeating: 0, count: y.count)
            return y
        }
        let ap = a.floats, bp = b.floats, yp = y.floats
        let bStride = batchB.isEmpty ? 0 : k * n
        let ldb = transposeB ? k : n
        func one(_ i: Int) {
            sgemm(transA: false, transB: transposeB, m: m, n: n, k: k, alpha: 1, a: ap + i * m * k, lda: k,
                  b: bp + i * bStride, ldb: ldb, beta: 0, c: yp + i * m * n, ldc: n)
        }
        if batches >= threads && m * n * k < (1 << 22) {
            withSingleThreadedBLAS { Parallel.forTasks(batches, threads: threads) { t, _ in one(t) } }
        } else {
            for i in 0..<batches {
                gemm(transA: false, transB: transposeB, m: m, n: n, k: k, alpha: 1, a: ap + i * m * k, lda: k,
                     b: bp + i * bStride, ldb: ldb, beta: 0, c: yp + i * m * n, ldc: n)
            }
        }
        return y
    }

    // MARK: - helpers

    func requireF32(_ t: Tensor, _ op: String) throws {
        guard t.elementType == .float32 else { throw ComputeError.unsupportedElementType(op: op, t.elementType) }
    }
}

/// Which kernel `linear` uses for float32 weights with a small inner dimension.
public enum GEMMKernel: String, Sendable {
    /// The AVX-512 kernel (CKernels/gemm_avx512.c) for products with at most `maxInFeatures` inputs and at least
    /// `minRows` rows where the CPU has AVX-512; sgemm otherwise.
    case auto
    /// Always OpenBLAS sgemm.
    case blas

    /// Up to this inner dimension the kernel beats sgemm (hiera-t/l shapes, `bench gemm`, BENCHMARKS.md): k = 96
    /// +25-35%, 144 +10-25%, 192-288 +5-10%, 384 about even; at k = 576 over 4096 rows sgemm is 8% faster.
    public static let maxInFeatures = 384
    /// Fewer rows than this do not repay packing the weights.
    public static let minRows = 64
    /// Rows per kernel call: the block's output (and the activation applied to it) stays in L2.
    static let rowBlock = 192

    /// `PERCEPTION_GEMM_KERNEL` (auto | blas), default auto.
    public static var fromEnvironment: GEMMKernel {
        ProcessInfo.processInfo.environment["PERCEPTION_GEMM_KERNEL"].flatMap(GEMMKernel.init(rawValue:)) ?? .auto
    }
}

/// Row-major sgemm: C = alpha·op(A)·op(B) + beta·C.
@inline(__always)
func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
           b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
}

@inline(__always)
private func widened(_ p: UnsafePointer<UInt16>) -> SIMD8<Float> {
    unsafeBitCast(SIMD8<UInt32>(truncatingIfNeeded: UnsafeRawPointer(p).loadUnaligned(as: SIMD8<UInt16>.self)) &<< 16,
                  to: SIMD8<Float>.self)
}

@inline(__always)
func widenBF16(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i + 8 <= n {
        UnsafeMutableRawPointer(dst + i).storeBytes(of: widened(src + i), as: SIMD8<Float>.self)
        i += 8
    }
    while i < n {
        dst[i] = Float(bitPattern: UInt32(src[i]) << 16)
        i += 1
    }
}

@inline(__always)
func dotBF16(_ x: UnsafePointer<Float>, _ w: UnsafePointer<UInt16>, _ n: Int) -> Float {
    var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
    var i = 0
    while i + 16 <= n {
        acc0.addProduct(UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self), widened(w + i))
        acc1.addProduct(UnsafeRawPointer(x + i + 8).loadUnaligned(as: SIMD8<Float>.self), widened(w + i + 8))
        i += 16
    }
    var s = (acc0 + acc1).sum()
    while i < n {
        s += x[i] * Float(bitPattern: UInt32(w[i]) << 16)
        i += 1
    }
    return s
}

/// `dotBF16` of one x against four consecutive weight rows (row stride n), with each row summed in exactly the
/// order `dotBF16` uses, so the results are bit-identical to four separate calls.
@inline(__always)
func dotBF16x4(_ x: UnsafePointer<Float>, _ w: UnsafePointer<UInt16>, _ n: Int) -> SIMD4<Float> {
    let w0 = w, w1 = w + n, w2 = w + 2 * n, w3 = w + 3 * n
    var a0 = SIMD8<Float>(), b0 = SIMD8<Float>(), a1 = SIMD8<Float>(), b1 = SIMD8<Float>()
    var a2 = SIMD8<Float>(), b2 = SIMD8<Float>(), a3 = SIMD8<Float>(), b3 = SIMD8<Float>()
    var i = 0
    while i + 16 <= n {
        let xl = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        let xh = UnsafeRawPointer(x + i + 8).loadUnaligned(as: SIMD8<Float>.self)
        a0.addProduct(xl, widened(w0 + i)); b0.addProduct(xh, widened(w0 + i + 8))
        a1.addProduct(xl, widened(w1 + i)); b1.addProduct(xh, widened(w1 + i + 8))
        a2.addProduct(xl, widened(w2 + i)); b2.addProduct(xh, widened(w2 + i + 8))
        a3.addProduct(xl, widened(w3 + i)); b3.addProduct(xh, widened(w3 + i + 8))
        i += 16
    }
    var s = SIMD4<Float>((a0 + b0).sum(), (a1 + b1).sum(), (a2 + b2).sum(), (a3 + b3).sum())
    while i < n {
        let xv = x[i]
        s[0] += xv * Float(bitPattern: UInt32(w0[i]) << 16)
        s[1] += xv * Float(bitPattern: UInt32(w1[i]) << 16)
        s[2] += xv * Float(bitPattern: UInt32(w2[i]) << 16)
        s[3] += xv * Float(bitPattern: UInt32(w3[i]) << 16)
        i += 1
    }
    return s
}

@inline(__always)
func dotF32(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
    var i = 0
    while i + 16 <= n {
        acc0.addProduct(UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self), UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self))
        acc1.addProduct(UnsafeRawPointer(x + i + 8).loadUnaligned(as: SIMD8<Float>.self), UnsafeRawPointer(y + i + 8).loadUnaligned(as: SIMD8<Float>.self))
        i += 16
    }
    var s = (acc0 + acc1).sum()
    while i < n {
        s += x[i] * y[i]
        i += 1
    }
    return s
}

extension BLASBackend {
    /// Median sgemm rate (FLOP/s) for C[m, n] = A[m, k]·B[n, k]ᵀ (weights stored [out, in] as `linear` uses them),
    /// on this backend's threads and threading policy: the compute-bound limit benchmarks report against.
    public func measureSGEMM(m: Int, n: Int, k: Int, runs: Int = 5) -> Double {
        let a = UnsafeMutablePointer<Float>.allocate(capacity: m * k)
        let b = UnsafeMutablePointer<Float>.allocate(capacity: n * k)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        for i in 0..<(m * k) { a[i] = Float(i % 7) * 0.1 }
        for i in 0..<(n * k) { b[i] = Float(i % 5) * 0.1 }
        var times: [Double] = []
        for _ in 0..<(runs + 1) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            gemm(transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: k, beta: 0, c: c, ldc: n)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        let sorted = times.dropFirst().sorted()
        return 2 * Double(m) * Double(n) * Double(k) / sorted[sorted.count / 2]
    }
}
