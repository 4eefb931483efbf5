import Compute
import Foundation
import XCTest

/// Deterministic uniform [-1, 1) values.
struct SeededRandom {
    var state: UInt64
    init(_ seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
    mutating func next() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: state >> 11) % (1 << 24)) / Float(1 << 23) - 1
    }
    mutating func array(_ n: Int) -> [Float] { (0..<n).map { _ in next() } }
    mutating func tensor(_ shape: [Int]) throws -> Tensor { try Tensor(array(shape.reduce(1, *)), shape: shape) }
}

/// Fails when `actual` and `expected` differ by more than `tol` relative to expected's max magnitude (or 1).
func assertClose(_ actual: [Float], _ expected: [Float], tol: Float = 1e-5, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "\(what): count", file: file, line: line)
    guard actual.count == expected.count else { return }
    let scale = max(expected.map { abs($0) }.max() ?? 0, 1)
    var worst: Float = 0, at = 0
    for i in 0..<actual.count {
        let d = abs(actual[i] - expected[i])
        if !(d <= worst) { worst = d; at = i }
    }
    XCTAssertLessThanOrEqual(worst / scale, tol, "\(what): max diff \(worst) at \(at) (got \(actual[at]), want \(expected[at]))", file: file, line: line)
}

func assertClose(_ actual: Tensor, _ expected: [Float], shape: [Int], tol: Float = 1e-5, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.shape, shape, "\(what): shape", file: file, line: line)
    assertClose(actual.toArray(), expected, tol: tol, what, file: file, line: line)
}

/// Plain scalar references in Double.
enum Ref {
    static func matmul(_ a: [Float], _ b: [Float], m: Int, k: Int, n: Int, transB: Bool) -> [Float] {
        var y = [Float](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n {
            var s = 0.0
            for p in 0..<k { s += Double(a[i * k + p]) * Double(transB ? b[j * k + p] : b[p * n + j]) }
            y[i * n + j] = Float(s)
        } }
        return y
    }

    static func softmax(_ x: [Double]) -> [Double] {
        let m = x.max() ?? 0
        let e = x.map { Foundation.exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    static func conv2d(_ x: [Float], n: Int, c: Int, h: Int, w: Int, _ wt: [Float], o: Int, kh: Int, kw: Int, _ b: [Float]?, stride: (Int, Int), pad: (Int, Int)) -> ([Float], [Int]) {
        let ho = (h + 2 * pad.0 - kh) / stride.0 + 1, wo = (w + 2 * pad.1 - kw) / stride.1 + 1
        var y = [Float](repeating: 0, count: n * o * ho * wo)
        for ni in 0..<n { for oi in 0..<o { for oy in 0..<ho { for ox in 0..<wo {
            var s = Double(b?[oi] ?? 0)
            for ci in 0..<c { for ky in 0..<kh { for kx in 0..<kw {
                let iy = oy * stride.0 - pad.0 + ky, ix = ox * stride.1 - pad.1 + kx
                if iy >= 0, iy < h, ix >= 0, ix < w {
                    s += Double(x[((ni * c + ci) * h + iy) * w + ix]) * Double(wt[((oi * c + ci) * kh + ky) * kw + kx])
                }
            } } }
            y[((ni * o + oi) * ho + oy) * wo + ox] = Float(s)
        } } } }
        return (y, [n, o, ho, wo])
    }
}

func fixtureURL(_ name: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/compute").appendingPathComponent(name)
}
