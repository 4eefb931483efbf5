import Checkpoint
import Compute

/// Builds model tensors from checkpoint keys under a prefix, so a layer asks for "qkv.weight" and a failure names
/// the full key and its file. Matrices stay in their stored dtype and memory-mapped (bf16/f32; f16 is widened to
/// f32, which this CPU backend needs); vectors are small and always widened to f32.
struct QwenParameters {
    let weights: ScopedWeights

    init(_ weights: ScopedWeights) { self.weights = weights }

    func scoped(_ name: String) -> QwenParameters { QwenParameters(weights.scoped(name)) }

    func contains(_ name: String) -> Bool { weights.contains(name) }

    /// A weight matrix viewing mapped memory (bf16 or f32), reshaped to `viewShape` when given.
    func matrix(_ name: String, shape: [Int], viewShape: [Int]? = nil) throws -> Tensor {
        let t = try weights.tensor(name, expectShape: shape)
        let view = viewShape ?? shape
        switch t.dtype {
        case .bfloat16:
            return try Tensor(borrowing: t.raw, shape: view, elementType: .bfloat16, owner: t)
        case .float32:
            return try Tensor(borrowing: t.raw, shape: view, elementType: .float32, owner: t)
        case .float16:
            return try Tensor(try t.floats(), shape: view)
        default:
            throw QwenModelError.unsupportedDType(file: t.file, key: t.name, dtype: t.dtype.rawValue)
        }
    }

    /// A float32 copy (norm weights, biases, small matrices the model rearranges at load).
    func floats(_ name: String, shape: [Int]) throws -> [Float] {
        let t = try weights.tensor(name, expectShape: shape)
        guard t.dtype.isFloatingPoint else {
            throw QwenModelError.unsupportedDType(file: t.file, key: t.name, dtype: t.dtype.rawValue)
        }
        return try t.floats()
    }

    func vector(_ name: String, count: Int) throws -> Tensor {
        try Tensor(try floats(name, shape: [count]), shape: [count])
    }

    /// `name.weight` [out, in] with `name.bias` [out] when `bias`.
    func linear(_ name: String, out: Int, in inFeatures: Int, bias: Bool) throws -> QwenLinear {
        let p = scoped(name)
        return QwenLinear(
            weight: try p.matrix("weight", shape: [out, inFeatures]),
            bias: bias ? try p.vector("bias", count: out) : nil)
    }
}

/// `nn.Linear`: y = x·Wᵀ + b with W in its stored dtype.
struct QwenLinear {
    let weight: Tensor
    let bias: Tensor?

    var outFeatures: Int { weight.shape[0] }

    func callAsFunction(_ x: Tensor, _ backend: ComputeBackend, activation: UnaryOp? = nil, multiplying: Tensor? = nil) throws -> Tensor {
        try backend.linear(x, weight: weight, bias: bias, activation: activation, multiplying: multiplying)
    }
}

/// Copies rows `indices` of a [rows, width] float tensor (a gather along the first dimension).
func gatherRows(_ x: Tensor, _ indices: [Int], width: Int) throws -> Tensor {
    guard x.elementType == .float32, width > 0, x.count % width == 0 else {
        throw ComputeError.invalidArgument(op: "gatherRows", message: "\(x) by rows of \(width)")
    }
    let rows = x.count / width
    let y = Tensor(uninitialized: [indices.count, width])
    let src = x.floats, dst = y.floats
    for (i, r) in indices.enumerated() {
        guard r >= 0, r < rows else { throw ComputeError.invalidArgument(op: "gatherRows", message: "row \(r) of \(rows)") }
        (dst + i * width).update(from: src + r * width, count: width)
    }
    return y
}
