#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A safetensors file: u64 header length, JSON header (dtype, shape, data_offsets per tensor), then the data,
/// validated like the reference reader (known dtypes, sizes = numel x itemsize, ranges tiling the data exactly).
final class SafetensorsStore: MappedEntryStore {
    static let maxHeaderBytes = 100 << 20

    let path: String
    let names: [String]
    let file: MappedFile
    let entries: [String: TensorEntry]

    init(file: MappedFile) throws {
        let path = file.path
        self.path = path
        self.file = file
        let b = file.bytes
        guard let n64 = b.le(UInt64.self, at: 0) else {
            throw CheckpointError.truncated(
                file: path, what: "safetensors header length (file of \(b.count) bytes)")
        }
        guard n64 <= UInt64(Self.maxHeaderBytes) else {
            throw CheckpointError.limitExceeded(
                file: path, what: "safetensors header of \(n64) bytes (limit \(Self.maxHeaderBytes))")
        }
        let headerLen = Int(n64)
        guard headerLen <= b.count - 8 else {
            throw CheckpointError.truncated(
                file: path, what: "safetensors header of \(headerLen) bytes in a file of \(b.count)")
        }
        guard headerLen >= 2, b[8] == UInt8(ascii: "{") else {
            throw CheckpointError.malformed(
                file: path, what: "not a safetensors file (header does not start with '{')")
        }
        let header: JSONValue
        do {
            header = try JSONValue.parse(UnsafeRawBufferPointer(rebasing: b[8..<(8 + headerLen)]))
        } catch let e as JSONValue.ParseError {
            throw CheckpointError.malformed(
                file: path, what: "safetensors header JSON at byte \(8 + e.offset): \(e.what)")
        }
        guard case .object(let members) = header else {
            throw CheckpointError.malformed(file: path, what: "safetensors header is not a JSON object")
        }
        let dataStart = 8 + headerLen
        let dataSize = b.count - dataStart
        var list: [(begin: Int, end: Int, entry: TensorEntry)] = []
        for (name, value) in members where name != "__metadata__" {
            func bad(_ what: String) -> CheckpointError {
                .invalidTensor(file: path, key: name, what: what)
            }
            guard case .string(let dtypeName)? = value["dtype"], case .array(let dims)? = value["shape"],
                case .array(let offsets)? = value["data_offsets"], offsets.count == 2,
                case .int(let begin) = offsets[0], case .int(let end) = offsets[1]
            else { throw bad("header entry lacks dtype, shape or data_offsets [begin, end]") }
            guard let dtype = DType(safetensorsName: dtypeName) else {
                throw CheckpointError.unsupportedDType(file: path, key: name, dtype: dtypeName)
            }
            guard dims.count <= 64 else { throw bad("rank \(dims.count) above 64") }
            let shape = try dims.map { (d: JSONValue) -> Int in
                guard case .int(let v) = d, v >= 0 else {
                    throw bad("shape holds a non-negative-integer value")
                }
                return v
            }
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw bad("data_offsets [\(begin), \(end)] outside the \(dataSize) data bytes")
            }
            let entry = try TensorEntry.make(
                file: path, name: name, dtype: dtype, shape: shape, strides: nil,
                storageOffset: dataStart + begin,
                storageBytes: end - begin, elementOffset: 0)
            list.append((begin, end, entry))
        }
        list.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var cursor = 0
        for t in list {
            guard t.begin == cursor else {
                throw CheckpointError.invalidTensor(
                    file: path, key: t.entry.info.name,
                    what: t.begin < cursor
                        ? "data overlaps the previous tensor"
                        : "gap before its data (offset \(t.begin), expected \(cursor))")
            }
            cursor = t.end
        }
        guard cursor == dataSize else {
            throw CheckpointError.malformed(
                file: path, what: "tensors cover \(cursor) of \(dataSize) data bytes")
        }
        names = list.map(\.entry.info.name)
        var entries: [String: TensorEntry] = [:]
        for t in list { entries[t.entry.info.name] = t.entry }
        self.entries = entries
    }

}

/// A Hugging Face model directory: with `model.safetensors.index.json` (or `pytorch_model.bin.index.json`), its
/// weight_map sends each name to a shard, opened on first use; without one, every `*.safetensors` file in the
/// directory is opened and their names merged (or, when there is none, `pytorch_model.bin`).
final class ShardedSafetensorsStore: WeightStore {
    static let indexName = "model.safetensors.index.json"
    static let indexNames = [indexName, "pytorch_model.bin.index.json"]

    let path: String
    let names: [String]
    private let shardOf: [String: String]
    private let lock = Mutex()
    private var shards: [String: WeightStore] = [:]

    init(directory: String) throws {
        path = directory
        if let indexPath = Self.indexNames.map({ directory + "/" + $0 }).first(where: { access($0, F_OK) == 0 }) {
            let file = try MappedFile(path: indexPath)
            let json: JSONValue
            do {
                json = try JSONValue.parse(file.bytes)
            } catch let e as JSONValue.ParseError {
                throw CheckpointError.malformed(
                    file: indexPath, what: "JSON at byte \(e.offset): \(e.what)")
            }
            guard case .object(let map)? = json["weight_map"] else {
                throw CheckpointError.malformed(file: indexPath, what: "no \"weight_map\" object")
            }
            var names: [String] = []
            var shardOf: [String: String] = [:]
            for (name, v) in map {
                guard case .string(let shard) = v, !shard.isEmpty, !shard.contains("/"), shard != "..",
                    shard != "."
                else {
                    throw CheckpointError.malformed(
                        file: indexPath, what: "weight_map[\"\(name)\"] is not a file name in the directory")
                }
                names.append(name)
                shardOf[name] = shard
            }
            self.names = names
            self.shardOf = shardOf
        } else {
            guard let dir = opendir(directory) else {
                throw CheckpointError.cannotOpen(file: directory, reason: String(cString: strerror(errno)))
            }
            var files: [String] = []
            while let ent = readdir(dir) {
                let name = withUnsafePointer(to: ent.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                if name.hasSuffix(".safetensors") { files.append(name) }
            }
            closedir(dir)
            files.sort()
            if files.isEmpty, access(directory + "/pytorch_model.bin", F_OK) == 0 { files = ["pytorch_model.bin"] }
            guard !files.isEmpty else {
                let packed = access(directory + "/model.safetensors.zst", F_OK) == 0
                throw CheckpointError.cannotOpen(
                    file: directory,
                    reason: "no \(Self.indexName) and no *.safetensors or pytorch_model.bin files"
                        + (packed ? " (model.safetensors.zst is packed: unpack it with tools/toy/unpack.sh or zstd -d)" : ""))
            }
            var names: [String] = []
            var shardOf: [String: String] = [:]
            var opened: [String: WeightStore] = [:]
            for f in files {
                let store = try Checkpoint.openFile(path: directory + "/" + f)
                opened[f] = store
                for n in store.names {
                    if let other = shardOf[n] {
                        throw CheckpointError.malformed(
                            file: directory, what: "tensor \"\(n)\" is in both \(other) and \(f)")
                    }
                    shardOf[n] = f
                    names.append(n)
                }
            }
            self.names = names
            self.shardOf = shardOf
            shards = opened
        }
    }

    private func shard(for name: String) throws -> WeightStore {
        guard let file = shardOf[name] else {
            throw CheckpointError.missingTensor(file: path, key: name)
        }
        let store: WeightStore = try lock.withLock {
            if let s = shards[file] { return s }
            let s = try Checkpoint.openFile(path: path + "/" + file)
            shards[file] = s
            return s
        }
        guard store.contains(name) else {
            throw CheckpointError.missingTensor(file: store.path, key: name)
        }
        return store
    }

    func tensor(_ name: String) throws -> CheckpointTensor { try shard(for: name).tensor(name) }
    func info(_ name: String) throws -> TensorInfo { try shard(for: name).info(name) }
    func contains(_ name: String) -> Bool { shardOf[name] != nil }
}

/// A pthread mutex owned by a class (stable address).
final class Mutex {
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    deinit { pthread_mutex_destroy(&m) }
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&m)
        defer { pthread_mutex_unlock(&m) }
        return try body()
    }
}
