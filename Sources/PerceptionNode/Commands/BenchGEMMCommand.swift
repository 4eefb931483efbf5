import ArgumentParser
import Compute
import Foundation

/// `bench gemm`: the backend's `linear` (x·wᵀ + b, optionally with a fused activation) on given shapes, each call
/// on a fresh input and output tensor as a model makes them, against the machine's sgemm probe. Use it to see
/// whether a shape from `bench sam2 --profile` / `bench reason --profile` is slow in isolation too.
struct BenchGEMMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "linear() on given shapes (rows x in -> out) vs this machine's measured SGEMM rate.")

    @Option(name: .customLong("shape"), help: "rows x in x out, e.g. 65536x96x576 (repeatable).")
    var shapes: [String] = ["65536x96x576", "65536x96x384", "16384x192x768", "4096x576x2304", "4096x2304x576"]
    @Option(help: "Fused activation: gelu, silu, relu (default none).") var activation: String?
    @Option(help: "Timed calls per shape (median reported).") var runs = 7
    @Option(help: "Compute threads (default: all cores).") var threads: Int?

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        _ = try parsedShapes()
        if let activation, UnaryOp(rawValue: activation) == nil {
            throw ValidationError("unknown --activation \(activation) (one of \(UnaryOp.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
    }

    /// (rows, in, out) per --shape.
    private func parsedShapes() throws -> [(m: Int, k: Int, n: Int)] {
        try shapes.map { spec in
            let dims = spec.split(separator: "x").compactMap { Int($0) }
            guard dims.count == 3, dims.allSatisfy({ $0 > 0 }) else { throw ValidationError("bad --shape \(spec) (want rows x in x out)") }
            return (dims[0], dims[1], dims[2])
        }
    }

    func run() throws {
        let backend = BLASBackend(threads: threads)
        let act = activation.flatMap(UnaryOp.init(rawValue:))
        let sgemm = backend.measureSGEMM(m: 4096, n: 2304, k: 576)
        print("\(backend.name); sgemm probe \(String(format: "%.1f", sgemm / 1e9)) GFLOP/s (4096x576x2304)")
        for (m, k, n) in try parsedShapes() {
            let spec = "\(m)x\(k)x\(n)"
            let weight = Tensor(uninitialized: [n, k]), bias = Tensor(uninitialized: [n])
            for i in 0..<(n * k) { weight.floats[i] = Float(i % 13) * 0.01 - 0.06 }
            for i in 0..<n { bias.floats[i] = Float(i % 7) * 0.1 }
            var times: [Double] = []
            for r in 0..<(runs + 1) {
                let x = Tensor(uninitialized: [m, k])
                for i in stride(from: 0, to: m * k, by: 1) { x.floats[i] = Float((i &* 31) % 17) * 0.05 - 0.4 }
                let t0 = DispatchTime.now().uptimeNanoseconds
                let y = try backend.linear(x, weight: weight, bias: bias, activation: act)
                let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                if r > 0 { times.append(dt) }
                _ = y.floats[0]
            }
            let med = times.sorted()[times.count / 2]
            let rate = 2 * Double(m) * Double(n) * Double(k) / med
            print(String(format: "%-16@ %8.2f ms  %6.1f GFLOP/s  %3.0f%% of sgemm", spec as NSString, med * 1000, rate / 1e9, 100 * rate / sgemm))
        }
    }
}
