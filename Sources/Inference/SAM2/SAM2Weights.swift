import Checkpoint
import Compute

/// A path-scoped view of SAM2 weights under the official checkpoint's key names, so a layer asks for
/// "attn.qkv.weight" and a missing tensor is reported as "image_encoder.trunk.blocks.3.attn.qkv.weight".
///
/// Checkpoints in the transformers `Sam2Model` layout are read through `transformersKey(_:)`, the one place where
/// the two namings are mapped.
public struct SAM2Weights {
    public enum Layout: Sendable { case official, transformers }

    public let store: WeightStore
    public let prefix: String
    public let layout: Layout

    public init(store: WeightStore) {
        self.store = store
        prefix = ""
        layout = store.contains("image_encoder.trunk.pos_embed") || !store.contains("vision_encoder.backbone.pos_embed") ? .official : .transformers
    }

    private init(store: WeightStore, prefix: String, layout: Layout) {
        self.store = store
        self.prefix = prefix
        self.layout = layout
    }

    public var path: String { store.path }
    public func key(_ name: String) -> String { prefix.isEmpty ? name : prefix + "." + name }
    public func scoped(_ name: String) -> SAM2Weights { SAM2Weights(store: store, prefix: key(name), layout: layout) }

    public func contains(_ name: String) -> Bool {
        let k = key(name)
        switch layout {
        case .official: return store.contains(k)
        case .transformers:
            guard let (hf, _) = Self.transformersKey(k) else { return false }
            return store.contains(hf)
        }
    }

    /// Shape of a tensor without reading it.
    public func info(_ name: String) throws -> [Int] {
        let k = key(name)
        switch layout {
        case .official: return try store.info(k).shape
        case .transformers:
            guard let (hf, row) = Self.transformersKey(k) else { throw CheckpointError.missingTensor(file: store.path, key: k) }
            let s = try store.info(hf).shape
            return row == nil ? s : Array(s.dropFirst()).isEmpty ? [1] : [1] + s.dropFirst()
        }
    }

    /// The tensor as float32 with the expected shape (float32 data is borrowed from the mapped file).
    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        let k = key(name)
        switch layout {
        case .official:
            let t = try store.tensor(k, expectShape: shape)
            return try Self.float32(t, shape: shape)
        case .transformers:
            guard let (hf, row) = Self.transformersKey(k) else { throw CheckpointError.missingTensor(file: store.path, key: k) }
            let t = try store.tensor(hf)
            if let row {
                // point_embeddings.{i}.weight [1, C] are rows of prompt_encoder.point_embed.weight [4, C].
                let all = try t.floats()
                let c = shape.reduce(1, *)
                guard t.shape.count == 2, t.shape[1] == c, row < t.shape[0] else {
                    throw CheckpointError.shapeMismatch(file: store.path, key: hf, expected: [4, c], actual: t.shape)
                }
                return try Tensor(Array(all[(row * c)..<((row + 1) * c)]), shape: shape)
            }
            try t.expect(shape: shape)
            return try Self.float32(t, shape: shape)
        }
    }

    static func float32(_ t: CheckpointTensor, shape: [Int]) throws -> Tensor {
        if t.dtype == .float32 {
            return try Tensor(borrowing: t.raw, shape: shape, elementType: .float32, owner: t)
        }
        return try Tensor(t.floats(), shape: shape)
    }

    /// The transformers `Sam2Model` key for an official key (and, for point embeddings, the row to take).
    static func transformersKey(_ k: String) -> (String, Int?)? {
        if k.hasPrefix("sam_prompt_encoder.point_embeddings.") {
            let parts = k.split(separator: ".")
            guard parts.count == 4, let i = Int(parts[2]) else { return nil }
            return ("prompt_encoder.point_embed.weight", i)
        }
        let whole: [String: String] = [
            "sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix": "prompt_encoder.shared_embedding.positional_embedding",
            "no_mem_embed": "no_memory_embedding",
        ]
        if let w = whole[k] { return (w, nil) }
        var s = k
        let prefixes = [("image_encoder.trunk.", "vision_encoder.backbone."), ("image_encoder.neck.", "vision_encoder.neck."),
                        ("sam_prompt_encoder.", "prompt_encoder."), ("sam_mask_decoder.", "mask_decoder.")]
        for (a, b) in prefixes where s.hasPrefix(a) { s = b + s.dropFirst(a.count) }
        let infix: [(String, String)] = [
            ("patch_embed.proj.", "patch_embed.projection."),
            (".conv.weight", ".weight"), (".conv.bias", ".bias"),
            ("mask_downscaling.0.", "mask_embed.conv1."), ("mask_downscaling.1.", "mask_embed.layer_norm1."),
            ("mask_downscaling.3.", "mask_embed.conv2."), ("mask_downscaling.4.", "mask_embed.layer_norm2."),
            ("mask_downscaling.6.", "mask_embed.conv3."),
            ("output_upscaling.0.", "upscale_conv1."), ("output_upscaling.1.", "upscale_layer_norm."),
            ("output_upscaling.3.", "upscale_conv2."),
            (".out_proj.", ".o_proj."),
            ("norm_final_attn.", "layer_norm_final_attn."),
        ]
        for (a, b) in infix { s = s.replacingOccurrences(of: a, with: b) }
        // Norms: norm1..4 / norm1, norm2 -> layer_norm*
        for n in 1...4 { s = s.replacingOccurrences(of: ".norm\(n).", with: ".layer_norm\(n).") }
        if s.hasPrefix("vision_encoder.backbone.blocks.") {
            s = s.replacingOccurrences(of: ".mlp.layers.0.", with: ".mlp.proj_in.").replacingOccurrences(of: ".mlp.layers.1.", with: ".mlp.proj_out.")
        } else if s.contains("mlp.layers.") || s.contains("_mlps.") || s.contains("_head.layers.") {
            if s.contains("transformer.layers.") && s.contains(".mlp.layers.") {
                s = s.replacingOccurrences(of: ".mlp.layers.0.", with: ".mlp.proj_in.").replacingOccurrences(of: ".mlp.layers.1.", with: ".mlp.proj_out.")
            } else {
                s = s.replacingOccurrences(of: ".layers.0.", with: ".proj_in.").replacingOccurrences(of: ".layers.1.", with: ".layers.0.")
                    .replacingOccurrences(of: ".layers.2.", with: ".proj_out.")
            }
        }
        return (s, nil)
    }
}
