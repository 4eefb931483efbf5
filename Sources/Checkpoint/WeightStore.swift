#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A read-only set of named tensors backed by one or more memory-mapped checkpoint files.
public protocol WeightStore: AnyObject {
    /// The file or directory the store was opened from.
    var path: String { get }
    /// Tensor names in file order.
    var names: [String] { get }
    /// The tensor, viewing mapped memory; throws `CheckpointError.missingTensor(file:key:)` when absent.
    func tensor(_ name: String) throws -> CheckpointTensor
    /// Name, dtype and shape without touching the data; throws `missingTensor` when absent.
    func info(_ name: String) throws -> TensorInfo
    func contains(_ name: String) -> Bool
}

/// A single mapped file whose tensors were indexed when it was opened (safetensors, PyTorch zip).
protocol MappedEntryStore: WeightStore {
    var file: MappedFile { get }
    var entries: [String: TensorEntry] { get }
}

extension MappedEntryStore {
    func tensor(_ name: String) throws -> CheckpointTensor {
        guard let e = entries[name] else { throw CheckpointError.missingTensor(file: path, key: name) }
        return e.materialize(file: file)
    }

    func info(_ name: String) throws -> TensorInfo {
        guard let e = entries[name] else { throw CheckpointError.missingTensor(file: path, key: name) }
        return e.info
    }

    func contains(_ name: String) -> Bool { entries[name] != nil }
}

extension WeightStore {
    public func info(_ name: String) throws -> TensorInfo { try tensor(name).info }
    public func contains(_ name: String) -> Bool { names.contains(name) }

    /// The tensor, after checking its shape (and, when given, its dtype).
    public func tensor(_ name: String, expectShape shape: [Int], dtypes: [DType]? = nil) throws
        -> CheckpointTensor
    {
        let t = try tensor(name)
        try t.expect(shape: shape)
        if let dtypes { try t.expect(dtype: dtypes) }
        return t
    }

    /// The tensor's elements widened to Float, after checking its shape.
    public func floats(_ name: String, expectShape shape: [Int]) throws -> [Float] {
        try tensor(name, expectShape: shape).floats()
    }

    /// A view of the names under `prefix` + "." (prefix "" is the whole store), for building layers key by key.
    public func scoped(_ prefix: String) -> ScopedWeights {
        ScopedWeights(store: self, prefix: prefix)
    }
}

/// A weight store seen under a key prefix, so a layer asks for "weight" and errors report "blocks.3.attn.qkv.weight".
public struct ScopedWeights {
    public let store: WeightStore
    public let prefix: String

    public init(store: WeightStore, prefix: String) {
        self.store = store
        self.prefix = prefix
    }

    /// The full key for `name` under this prefix.
    public func key(_ name: String) -> String { prefix.isEmpty ? name : prefix + "." + name }
    public func scoped(_ name: String) -> ScopedWeights {
        ScopedWeights(store: store, prefix: key(name))
    }
    public func contains(_ name: String) -> Bool { store.contains(key(name)) }
    public func info(_ name: String) throws -> TensorInfo { try store.info(key(name)) }
    public func tensor(_ name: String) throws -> CheckpointTensor { try store.tensor(key(name)) }
    public func tensor(_ name: String, expectShape shape: [Int], dtypes: [DType]? = nil) throws
        -> CheckpointTensor
    {
        try store.tensor(key(name), expectShape: shape, dtypes: dtypes)
    }
}

/// Opens checkpoints by content: torch zip (.pt/.pth), safetensors, or a directory of (sharded) safetensors.
public enum Checkpoint {
    /// Opens `path`. For a torch file the state dict is the top-level dict's "model" entry when present, else the
    /// top-level dict; nested dicts are flattened with "." and non-tensor entries skipped.
    public static func open(path: String) throws -> WeightStore {
        if isDirectory(path) { return try ShardedSafetensorsStore(directory: path) }
        return try openFile(path: path)
    }

    /// A single checkpoint file, recognized by its first bytes.
    static func openFile(path: String) throws -> WeightStore {
        let file = try MappedFile(path: path)
        let b = file.bytes
        if b.count >= 4, b.le(UInt32.self, at: 0) == 0x0403_4b50 { return try TorchStore(file: file) }
        // safetensors first: its little-endian header length can itself start with 0x80 0x01..0x05.
        if b.count >= 9, b[8] == UInt8(ascii: "{") { return try SafetensorsStore(file: file) }
        // A legacy file starts with the pickled magic number: PROTO 2, LONG1.
        if b.count >= 3, b[0] == 0x80, b[1] >= 2, b[1] <= 5, b[2] == 0x8a {
            throw CheckpointError.unsupportedFormat(
                file: path,
                what: "legacy (pre-1.6, non-zip) torch.save format; re-save with a current torch")
        }
        if b.count >= 4, b.le(UInt32.self, at: 0) == 0x0605_4b50 {
            throw CheckpointError.malformed(file: path, what: "empty zip archive")
        }
        return try SafetensorsStore(file: file)
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
}
