import Foundation

/// Wraps a backend and accumulates wall time and call counts per op (for `bench` breakdowns); results are the
/// same as the wrapped backend's.
public final class ProfilingBackend: ComputeBackend, @unchecked Sendable {
    public let inner: ComputeBackend
    private var totals: [String: (seconds: Double, calls: Int)] = [:]
    private var productTotals: [ProductShape: (seconds: Double, calls: Int)] = [:]
    private var faultTotals: [String: Int] = [:]
    private let lock = NSLock()

    public init(_ inner: ComputeBackend) { self.inner = inner }
    public var name: String { inner.name + " (profiled)" }

    /// Per-op (seconds, calls, minor page faults of the whole process while the op ran), largest time first.
    public var report: [(op: String, seconds: Double, calls: Int, pageFaults: Int)] {
        lock.lock(); defer { lock.unlock() }
        return totals.map { ($0.key, $0.value.seconds, $0.value.calls, faultTotals[$0.key] ?? 0) }.sorted { $0.seconds > $1.seconds }
    }

    public func reset() { lock.lock(); totals = [:]; productTotals = [:]; faultTotals = [:]; lock.unlock() }

    /// A `linear` product: rows × in → out (weights [out, in]) and whether an activation was fused.
    public struct ProductShape: Hashable, Sendable {
        public let rows: Int, inFeatures: Int, outFeatures: Int
        public let activation: String?
        public var flops: Double { 2 * Double(rows) * Double(inFeatures) * Double(outFeatures) }
    }

    /// `linear` calls grouped by shape: (shape, seconds, calls), largest time first.
    public var productReport: [(shape: ProductShape, seconds: Double, calls: Int)] {
        lock.lock(); defer { lock.unlock() }
        return productTotals.map { ($0.key, $0.value.seconds, $0.value.calls) }.sorted { $0.seconds > $1.seconds }
    }

    /// The `limit` most expensive product shapes as lines with their achieved GFLOP/s.
    public func productLines(limit: Int = 12) -> [String] {
        productReport.prefix(limit).map { r in
            let label = "\(r.shape.rows)x\(r.shape.inFeatures)->\(r.shape.outFeatures)" + (r.shape.activation.map { " +\($0)" } ?? "")
            return String(format: "  %-24@ %8.3f s %6d calls %7.1f GFLOP/s", label as NSString, r.seconds, r.calls,
                          r.shape.flops * Double(r.calls) / max(r.seconds, 1e-12) / 1e9)
        }
    }

    /// The report as aligned lines (time, share of `total` seconds, calls, page faults), in ms or s. Page faults
    /// are first touches of fresh memory (the kernel zero-fills and maps a page each): many of them in an op mean
    /// its time went to the kernel rather than to arithmetic.
    public func reportLines(total: Double, milliseconds: Bool) -> [String] {
        report.map { r in
            String(format: milliseconds ? "  %-18@ %8.2f ms %5.1f%% %6d calls %8d faults" : "  %-18@ %8.3f s %5.1f%% %6d calls %8d faults",
                   r.op as NSString, milliseconds ? r.seconds * 1000 : r.seconds, 100 * r.seconds / max(total, 1e-12), r.calls, r.pageFaults)
        }
    }

    /// Minor page faults of this process so far.
    static func minorFaults() -> Int {
        var usage = rusage()
        #if os(Linux)
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        return usage.ru_minflt
    }

    private func time<R>(_ op: String, product: ProductShape? = nil, _ body: () throws -> R) rethrows -> R {
        let f0 = Self.minorFaults()
        let t0 = DispatchTime.now().uptimeNanoseconds
        let r = try body()
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let faults = Self.minorFaults() - f0
        lock.lock()
        let old = totals[op] ?? (0, 0)
        totals[op] = (old.seconds + dt, old.calls + 1)
        faultTotals[op, default: 0] += faults
        if let product {
            let p = productTotals[product] ?? (0, 0)
            productTotals[product] = (p.seconds + dt, p.calls + 1)
        }
        lock.unlock()
        return r
    }

    private func productShape(_ x: Tensor, _ weight: Tensor, _ activation: UnaryOp?) -> ProductShape? {
        guard weight.rank == 2, x.rank >= 1, weight.shape[1] > 0 else { return nil }
        return ProductShape(rows: x.count / weight.shape[1], inFeatures: weight.shape[1], outFeatures: weight.shape[0],
                            activation: activation?.rawValue)
    }

    public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) throws -> Tensor {
        try time("linear", product: productShape(x, weight, nil)) { try inner.linear(x, weight: weight, bias: bias) }
    }
    public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?, activation: UnaryOp?, multiplying: Tensor?) throws -> Tensor {
        let label = (activation.map { "linear+\($0.rawValue)" } ?? "linear") + (multiplying == nil ? "" : "*")
        return try time(label, product: productShape(x, weight, activation)) { try inner.linear(x, weight: weight, bias: bias, activation: activation, multiplying: multiplying) }
    }
    public func matmul(_ a: Tensor, _ b: Tensor, transposeB: Bool) throws -> Tensor { try time("matmul") { try inner.matmul(a, b, transposeB: transposeB) } }
    public func add(_ a: Tensor, _ b: Tensor) throws -> Tensor { try time("add") { try inner.add(a, b) } }
    public func mul(_ a: Tensor, _ b: Tensor) throws -> Tensor { try time("mul") { try inner.mul(a, b) } }
    public func scale(_ x: Tensor, by s: Float) throws -> Tensor { try time("scale") { try inner.scale(x, by: s) } }
    public func unary(_ x: Tensor, _ op: UnaryOp) throws -> Tensor { try time(op.rawValue) { try inner.unary(x, op) } }
    public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float) throws -> Tensor { try time("layerNorm") { try inner.layerNorm(x, weight: weight, bias: bias, eps: eps) } }
    public func layerNorm2d(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float) throws -> Tensor { try time("layerNorm2d") { try inner.layerNorm2d(x, weight: weight, bias: bias, eps: eps) } }
    public func addLayerNorm(_ a: Tensor, _ b: Tensor, bias: Tensor?, weight: Tensor?, normBias: Tensor?, eps: Float) throws -> (sum: Tensor, normed: Tensor) {
        try time("addLayerNorm") { try inner.addLayerNorm(a, b, bias: bias, weight: weight, normBias: normBias, eps: eps) }
    }
    public func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float) throws -> Tensor { try time("rmsNorm") { try inner.rmsNorm(x, weight: weight, eps: eps) } }
    public func softmax(_ x: Tensor) throws -> Tensor { try time("softmax") { try inner.softmax(x) } }
    public func attention(q: Tensor, k: Tensor, v: Tensor, scale: Float, causal: Bool) throws -> Tensor { try time("attention") { try inner.attention(q: q, k: k, v: v, scale: scale, causal: causal) } }
    public func attention(tokenMajor q: Tensor, k: Tensor, v: Tensor, columns: AttentionColumns, heads: Int, kvHeads: Int, headDim: Int, scale: Float, causal: Bool, segments: [Int]?) throws -> Tensor {
        try time("attention") { try inner.attention(tokenMajor: q, k: k, v: v, columns: columns, heads: heads, kvHeads: kvHeads, headDim: headDim, scale: scale, causal: causal, segments: segments) }
    }
    public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int), outputLayout: SpatialLayout) throws -> Tensor {
        try time("conv2d") { try inner.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, outputLayout: outputLayout) }
    }
    public func convTranspose2x2(_ x: Tensor, weight: Tensor, bias: Tensor?, inputLayout: SpatialLayout) throws -> Tensor { try time("convTranspose2x2") { try inner.convTranspose2x2(x, weight: weight, bias: bias, inputLayout: inputLayout) } }
    public func maxPool2x2(_ x: Tensor, layout: SpatialLayout) throws -> Tensor { try time("maxPool2x2") { try inner.maxPool2x2(x, layout: layout) } }
    public func interpolate(_ x: Tensor, height: Int, width: Int, mode: InterpolationMode, antialias: Bool) throws -> Tensor { try time("interpolate") { try inner.interpolate(x, height: height, width: width, mode: mode, antialias: antialias) } }
    public func permute(_ x: Tensor, _ dims: [Int]) throws -> Tensor { try time("permute") { try inner.permute(x, dims) } }
    public func slice(_ x: Tensor, dim: Int, start: Int, end: Int) throws -> Tensor { try time("slice") { try inner.slice(x, dim: dim, start: start, end: end) } }
    public func concat(_ xs: [Tensor], dim: Int) throws -> Tensor { try time("concat") { try inner.concat(xs, dim: dim) } }
    public func windowPartition(_ x: Tensor, window: Int) throws -> Tensor { try time("windowPartition") { try inner.windowPartition(x, window: window) } }
    public func windowUnpartition(_ x: Tensor, window: Int, height: Int, width: Int) throws -> Tensor {
        try time("windowUnpartition") { try inner.windowUnpartition(x, window: window, height: height, width: width) }
    }
    public func rotary(_ x: Tensor, angles: Tensor, style: RotaryStyle, headsBeforeTokens: Bool) throws -> Tensor { try time("rotary") { try inner.rotary(x, angles: angles, style: style, headsBeforeTokens: headsBeforeTokens) } }
}
