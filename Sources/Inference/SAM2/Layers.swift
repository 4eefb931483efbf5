import Compute

/// `nn.Linear` with weight [out, in] and optional bias.
struct Linear {
    let weight: Tensor
    let bias: Tensor?

    init(_ w: SAM2Weights, inFeatures: Int, outFeatures: Int, bias: Bool = true) throws {
        weight = try w.tensor("weight", shape: [outFeatures, inFeatures])
        self.bias = bias ? try w.tensor("bias", shape: [outFeatures]) : nil
    }

    func callAsFunction(_ x: Tensor, _ be: ComputeBackend, activation: UnaryOp? = nil) throws -> Tensor {
        try be.linear(x, weight: weight, bias: bias, activation: activation)
    }
}

/// `nn.LayerNorm` over the last dimension.
struct LayerNorm {
    let weight: Tensor
    let bias: Tensor
    let eps: Float

    init(_ w: SAM2Weights, dim: Int, eps: Float) throws {
        weight = try w.tensor("weight", shape: [dim])
        bias = try w.tensor("bias", shape: [dim])
        self.eps = eps
    }

    func callAsFunction(_ x: Tensor, _ be: ComputeBackend) throws -> Tensor {
        try be.layerNorm(x, weight: weight, bias: bias, eps: eps)
    }
}

/// SAM's `MLP`: `num_layers` linears with an activation between them (ReLU in SAM2's heads), optional sigmoid.
struct MLP {
    let layers: [Linear]
    let activation: UnaryOp
    let sigmoidOutput: Bool

    init(_ w: SAM2Weights, dims: [Int], activation: UnaryOp = .relu, sigmoidOutput: Bool = false) throws {
        layers = try (0..<(dims.count - 1)).map { i in
            try Linear(w.scoped("layers.\(i)"), inFeatures: dims[i], outFeatures: dims[i + 1])
        }
        self.activation = activation
        self.sigmoidOutput = sigmoidOutput
    }

    func callAsFunction(_ x: Tensor, _ be: ComputeBackend) throws -> Tensor {
        var h = x
        for (i, layer) in layers.enumerated() {
            h = try layer(h, be, activation: i < layers.count - 1 ? activation : nil)
        }
        return sigmoidOutput ? try be.unary(h, .sigmoid) : h
    }
}

/// A 2-d convolution with PyTorch weight layout [out, in, kh, kw].
struct Conv2d {
    let weight: Tensor
    let bias: Tensor?
    let stride: Int
    let padding: Int

    init(_ w: SAM2Weights, inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true) throws {
        weight = try w.tensor("weight", shape: [outChannels, inChannels, kernel, kernel])
        self.bias = bias ? try w.tensor("bias", shape: [outChannels]) : nil
        self.stride = stride
        self.padding = padding
    }

    func callAsFunction(_ x: Tensor, _ be: ComputeBackend, outputLayout: SpatialLayout = .nchw) throws -> Tensor {
        try be.conv2d(x, weight: weight, bias: bias, stride: (stride, stride), padding: (padding, padding), outputLayout: outputLayout)
    }
}

/// `nn.ConvTranspose2d(kernel_size=2, stride=2)` with weight [in, out, 2, 2].
struct ConvTranspose2x2 {
    let weight: Tensor
    let bias: Tensor

    init(_ w: SAM2Weights, inChannels: Int, outChannels: Int) throws {
        weight = try w.tensor("weight", shape: [inChannels, outChannels, 2, 2])
        bias = try w.tensor("bias", shape: [outChannels])
    }

    func callAsFunction(_ x: Tensor, _ be: ComputeBackend, inputLayout: SpatialLayout = .nchw) throws -> Tensor {
        try be.convTranspose2x2(x, weight: weight, bias: bias, inputLayout: inputLayout)
    }
}

/// SAM's `LayerNorm2d` (normalizes channels of an NCHW map, eps 1e-6).
struct LayerNorm2d {
    let weight: Tensor
    let bias: Tensor

    init(_ w: SAM2Weights, channels: Int) throws {
        weight = try w.tensor("weight", shape: [channels])
        bias = try w.tensor("bias", shape: [channels])
    }

    func callAsFunction(_ x: Tensor, _ be: ComputeBackend) throws -> Tensor {
        try be.layerNorm2d(x, weight: weight, bias: bias, eps: 1e-6)
    }
}
