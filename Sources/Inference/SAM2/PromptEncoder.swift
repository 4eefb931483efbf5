import Compute
import Foundation

/// SAM's prompt encoder: Fourier-feature point embeddings plus learned per-label embeddings, and the dense
/// (mask) embedding.
struct PromptEncoder {
    let modelDim: Int
    let imageSize: Int
    let gridSize: Int
    /// positional_encoding_gaussian_matrix [2, d/2].
    let gaussian: [Float]
    let pointEmbeddings: [[Float]]
    let notAPoint: [Float]
    let noMask: Tensor
    let maskConv1: Conv2d, maskNorm1: LayerNorm2d, maskConv2: Conv2d, maskNorm2: LayerNorm2d, maskConv3: Conv2d
    /// Dense positional encoding of the embedding grid, [G*G, d] (row-major over y, x).
    let densePE: Tensor

    init(_ w: SAM2Weights, modelDim d: Int, imageSize: Int) throws {
        modelDim = d
        self.imageSize = imageSize
        gridSize = imageSize / 16
        gaussian = try w.tensor("pe_layer.positional_encoding_gaussian_matrix", shape: [2, d / 2]).toArray()
        pointEmbeddings = try (0..<4).map { try w.tensor("point_embeddings.\($0).weight", shape: [1, d]).toArray() }
        notAPoint = try w.tensor("not_a_point_embed.weight", shape: [1, d]).toArray()
        noMask = try w.tensor("no_mask_embed.weight", shape: [1, d]).reshaped([d])
        maskConv1 = try Conv2d(w.scoped("mask_downscaling.0"), inChannels: 1, outChannels: 4, kernel: 2, stride: 2)
        maskNorm1 = try LayerNorm2d(w.scoped("mask_downscaling.1"), channels: 4)
        maskConv2 = try Conv2d(w.scoped("mask_downscaling.3"), inChannels: 4, outChannels: 16, kernel: 2, stride: 2)
        maskNorm2 = try LayerNorm2d(w.scoped("mask_downscaling.4"), channels: 16)
        maskConv3 = try Conv2d(w.scoped("mask_downscaling.6"), inChannels: 16, outChannels: d, kernel: 1)
        var pe = [Float](repeating: 0, count: gridSize * gridSize * d)
        let g = gridSize
        for y in 0..<g {
            for x in 0..<g {
                let enc = Self.fourier(x: (Float(x) + 0.5) / Float(g), y: (Float(y) + 0.5) / Float(g), gaussian: gaussian, d: d)
                for c in 0..<d { pe[(y * g + x) * d + c] = enc[c] }
            }
        }
        densePE = try Tensor(pe, shape: [g * g, d])
    }

    /// `_pe_encoding` of one normalized coordinate: [sin(2π(2c-1)·G), cos(…)].
    static func fourier(x: Float, y: Float, gaussian: [Float], d: Int) -> [Float] {
        let half = d / 2
        let cx = 2 * x - 1, cy = 2 * y - 1
        var out = [Float](repeating: 0, count: d)
        for j in 0..<half {
            let v = (cx * gaussian[j] + cy * gaussian[half + j]) * (2 * Float.pi)
            out[j] = sinf(v)
            out[half + j] = cosf(v)
        }
        return out
    }

    /// Sparse tokens for points already in model input coordinates (0...imageSize), labels -1/0/1/2/3.
    func sparse(points: [(Float, Float)], labels: [Int]) throws -> Tensor {
        var values: [Float] = []
        for (p, label) in zip(points, labels) {
            let x = (p.0 + 0.5) / Float(imageSize), y = (p.1 + 0.5) / Float(imageSize)
            var e = Self.fourier(x: x, y: y, gaussian: gaussian, d: modelDim)
            switch label {
            case -1: e = notAPoint
            case 0...3: for c in 0..<modelDim { e[c] += pointEmbeddings[label][c] }
            default: throw SAM2Error.invalidPrompt("point label \(label) (expected -1, 0, 1, 2 or 3)")
            }
            values += e
        }
        return try Tensor(values, shape: [points.count, modelDim])
    }

    /// Dense embedding NHWC-flattened [G*G, d]: the no-mask embedding, or the downscaled mask logits [1, 1, 4G, 4G].
    func dense(mask: Tensor?, _ be: ComputeBackend) throws -> Tensor? {
        guard let mask else { return nil }
        guard mask.shape == [1, 1, 4 * gridSize, 4 * gridSize] else {
            throw SAM2Error.invalidPrompt("mask input must be [1, 1, \(4 * gridSize), \(4 * gridSize)], got \(mask.shape)")
        }
        var h = try be.unary(try maskNorm1(try maskConv1(mask, be), be), .gelu)
        h = try be.unary(try maskNorm2(try maskConv2(h, be), be), .gelu)
        h = try maskConv3(h, be)
        return try be.permute(h, [0, 2, 3, 1]).reshaped([gridSize * gridSize, modelDim])
    }
}
