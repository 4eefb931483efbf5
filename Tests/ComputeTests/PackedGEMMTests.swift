import Compute
import Foundation
import XCTest

/// The AVX-512 product kernel behind `linear` for small inner dimensions (CKernels/gemm_avx512.c) and the 16-lane
/// GELU: against a double-precision reference and against the OpenBLAS / 8-lane paths, on ragged shapes.
final class PackedGEMMTests: XCTestCase {
    var rng = SeededRandom(7)

    override func setUpWithError() throws {
        try XCTSkipUnless(AVX512Kernels.enabled, "no AVX-512 on this CPU (the kernels are not used here)")
    }

    /// Rows not a multiple of the 12-row tile or of the per-thread split, outputs not a multiple of the 32-column
    /// panel (or under 16), inner dimensions from 1 to the limit (k-tail of the 16-wide packing), bias or not,
    /// each activation with and without a multiplier.
    func testPackedProductsMatchReferenceAndSGEMM() throws {
        let packed = BLASBackend(threads: 2), blas = BLASBackend(threads: 2)
        blas.gemmKernel = .blas
        let shapes = [(64, 1, 1), (65, 17, 5), (77, 96, 31), (200, 33, 32), (391, 100, 33), (130, 384, 100), (1000, 144, 144), (64, 3, 577)]
        for (m, k, n) in shapes {
            XCTAssertTrue(packed.usesPackedKernel(rows: m, inFeatures: k), "\(m)x\(k)->\(n) should take the packed kernel")
            XCTAssertFalse(blas.usesPackedKernel(rows: m, inFeatures: k))
            let x = try rng.tensor([m, k]), w = try rng.tensor([n, k]), b = try rng.tensor([n])
            let ref = Ref.matmul(x.toArray(), w.toArray(), m: m, k: k, n: n, transB: true)
            let bias = b.toArray()
            let withBias = (0..<ref.count).map { ref[$0] + bias[$0 % n] }
            // Sums of k products of values in [-1, 1): relative error grows like sqrt(k)·eps.
            let tol: Float = 2e-6
            assertClose(try packed.linear(x, weight: w, bias: nil), ref, shape: [m, n], tol: tol, "\(m)x\(k)->\(n)")
            assertClose(try packed.linear(x, weight: w, bias: b), withBias, shape: [m, n], tol: tol, "\(m)x\(k)->\(n) +bias")
            let multiplier = try rng.tensor([m, n])
            for op in UnaryOp.allCases {
                let a = try packed.linear(x, weight: w, bias: b, activation: op, multiplying: multiplier).toArray()
                let e = try blas.linear(x, weight: w, bias: b, activation: op, multiplying: multiplier).toArray()
                assertClose(a, e, tol: 1e-5, "\(m)x\(k)->\(n) \(op) · multiplier vs sgemm")
            }
        }
    }

    /// Few rows or a large inner dimension stay on sgemm.
    func testShapesOutsideTheKernelUseSGEMM() {
        let be = BLASBackend(threads: 2)
        XCTAssertFalse(be.usesPackedKernel(rows: GEMMKernel.minRows - 1, inFeatures: 96))
        XCTAssertFalse(be.usesPackedKernel(rows: 4096, inFeatures: GEMMKernel.maxInFeatures + 1))
        XCTAssertFalse(be.usesPackedKernel(rows: 4096, inFeatures: 0))
        XCTAssertTrue(be.usesPackedKernel(rows: 4096, inFeatures: GEMMKernel.maxInFeatures))
    }

    /// The 16-lane GELU gives the 8-lane loop's results bit for bit, including tails, bias and multiplier.
    func testSixteenLaneGELUIsBitIdenticalToEightLanes() throws {
        let be = BLASBackend(threads: 1)
        be.gemmKernel = .blas  // the same sgemm product both ways; only the activation pass differs
        var values: [Float] = [0, -0, 1e-30, -1e-30, 1e-7, 3, -3, 5.5, -5.5, 9, -9, 20, -20, 88, -88, 200, -200,
                               .greatestFiniteMagnitude, -.greatestFiniteMagnitude]
        for i in 0..<4000 { values.append(Float(i - 2000) * 0.00731) }
        values += rng.array(37).map { $0 * 12 }
        let x = try Tensor(values, shape: [values.count])
        let xs = try rng.tensor([70, 16]), w = try rng.tensor([33, 16]), b = try rng.tensor([33]), mult = try rng.tensor([70, 33])
        func run() throws -> [[UInt32]] {
            [try be.unary(x, .gelu).toArray().map(\.bitPattern),
             try be.linear(xs, weight: w, bias: b, activation: .gelu, multiplying: mult).toArray().map(\.bitPattern)]
        }
        let wide = try run()
        AVX512Kernels.enabled = false
        defer { AVX512Kernels.enabled = true }
        let narrow = try run()
        XCTAssertEqual(wide[0], narrow[0], "unary gelu")
        XCTAssertEqual(wide[1], narrow[1], "gelu(x·wᵀ + b) · multiplier")
    }
}
