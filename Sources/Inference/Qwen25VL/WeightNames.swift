import Checkpoint

/// The one place where Qwen2.5-VL checkpoint key generations are reconciled.
///
/// Canonical names are the transformers ≤4.49 ones of the published repos: `visual.*`, `model.*` (language model)
/// and `lm_head.weight`. Newer transformers save `model.visual.*` and `model.language_model.*`; this store accepts
/// either and answers canonical names, while errors still name the stored key and its file.
public final class QwenCanonicalWeights: WeightStore {
    /// Which naming the underlying checkpoint uses.
    public enum Generation: String, Sendable {
        /// `visual.*`, `model.layers.*`, `model.embed_tokens.*` (transformers ≤4.49, the published repos).
        case legacy
        /// `model.visual.*`, `model.language_model.*` (transformers ≥4.52 `save_pretrained`).
        case nested
    }

    public let base: WeightStore
    public let generation: Generation
    public let names: [String]
    public var path: String { base.path }

    public init(_ base: WeightStore) {
        self.base = base
        let stored = base.names
        let nested = stored.contains { $0.hasPrefix("model.language_model.") || $0.hasPrefix("model.visual.") }
        generation = nested ? .nested : .legacy
        names = nested ? stored.map(Self.canonical(nested:)) : stored
    }

    /// The canonical name of a key stored in the nested (newer) generation.
    public static func canonical(nested key: String) -> String {
        if key.hasPrefix("model.visual.") { return String(key.dropFirst("model.".count)) }
        if key.hasPrefix("model.language_model.") { return "model." + key.dropFirst("model.language_model.".count) }
        return key
    }

    /// The key under which a canonical name is stored in this checkpoint.
    public func storedKey(_ canonical: String) -> String {
        guard generation == .nested else { return canonical }
        if canonical.hasPrefix("visual.") { return "model." + canonical }
        if canonical.hasPrefix("model.") { return "model.language_model." + canonical.dropFirst("model.".count) }
        return canonical
    }

    public func tensor(_ name: String) throws -> CheckpointTensor { try base.tensor(storedKey(name)) }
    public func info(_ name: String) throws -> TensorInfo { try base.info(storedKey(name)) }
    public func contains(_ name: String) -> Bool { base.contains(storedKey(name)) }
}
