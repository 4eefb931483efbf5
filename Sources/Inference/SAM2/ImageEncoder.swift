import Compute

/// The FPN neck: 1x1 lateral convs (convs.0 is the coarsest level), nearest x2 top-down into level 2, scalp 1.
struct FPNNeck {
    let laterals: [Linear]

    init(_ w: SAM2Weights, channels: [Int], modelDim: Int) throws {
        // backbone_channel_list is coarse-to-fine: convs.k reads trunk stage 3 - k.
        laterals = try (0..<4).map { k in
            let cin = channels[3 - k]
            let conv = w.scoped("convs.\(k).conv")
            let weight = try conv.tensor("weight", shape: [modelDim, cin, 1, 1]).reshaped([modelDim, cin])
            return Linear(weight: weight, bias: try conv.tensor("bias", shape: [modelDim]))
        }
    }

    /// Stage outputs (NHWC, fine to coarse) -> FPN levels 0...2 (NHWC, d_model channels); level 3 is scalped.
    func callAsFunction(_ stages: [Tensor], _ be: ComputeBackend) throws -> [Tensor] {
        let level3 = try laterals[0](stages[3], be)
        let up = try upsampleNearest2x(level3, be)
        let level2 = try be.add(try laterals[1](stages[2], be), up)
        let level1 = try laterals[2](stages[1], be)
        let level0 = try laterals[3](stages[0], be)
        return [level0, level1, level2]
    }

    private func upsampleNearest2x(_ x: Tensor, _ be: ComputeBackend) throws -> Tensor {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let wide = try be.concat([x.reshaped([n, h, w, 1, c]), x.reshaped([n, h, w, 1, c])], dim: 3).reshaped([n, h, 1, 2 * w, c])
        return try be.concat([wide, wide], dim: 2).reshaped([n, 2 * h, 2 * w, c])
    }
}

extension Linear {
    init(weight: Tensor, bias: Tensor?) {
        self.weight = weight
        self.bias = bias
    }
}
