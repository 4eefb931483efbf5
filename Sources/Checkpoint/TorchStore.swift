/// A PyTorch zip checkpoint (torch.save, format of 1.6 and later): `*/data.pkl` unpickled strictly, storages at
/// `*/data/<key>` viewed in the mapped file.
final class TorchStore: MappedEntryStore {
    let path: String
    let names: [String]
    let file: MappedFile
    let entries: [String: TensorEntry]

    init(file: MappedFile) throws {
        let path = file.path
        self.path = path
        self.file = file
        let bytes = file.bytes
        let archive = try ZipArchive(path: path, bytes: bytes)

        let pickles = archive.order.filter {
            $0.hasSuffix("/data.pkl") && $0.dropLast(9).firstIndex(of: "/") == nil
        }
        guard pickles.count == 1, let pkl = pickles.first, let pklEntry = archive.entries[pkl] else {
            throw CheckpointError.malformed(
                file: path,
                what: pickles.isEmpty
                    ? "no */data.pkl in the zip (not a torch.save file)" : "several */data.pkl entries")
        }
        let prefix = String(pkl.dropLast(8))
        if let order = archive.entries[prefix + "byteorder"] {
            let text = String(
                decoding: UnsafeRawBufferPointer(
                    rebasing: bytes[order.dataOffset..<(order.dataOffset + order.size)]), as: UTF8.self)
            guard text == "little" else {
                throw CheckpointError.unsupportedFormat(
                    file: path, what: "byteorder \"\(text)\" (only little-endian is read)")
            }
        }

        var unpickler = Unpickler(
            file: path,
            data: UnsafeRawBufferPointer(
                rebasing: bytes[pklEntry.dataOffset..<(pklEntry.dataOffset + pklEntry.size)]))
        defer { unpickler.releaseContainers() }
        let root = try unpickler.run()
        guard case .dict(let top) = root else {
            throw CheckpointError.malformed(
                file: path, what: "the pickled object is a \(root.kind), not a dict")
        }
        var stateDict = top
        if case .dict(let model)? = top.value(forString: "model") { stateDict = model }

        var names: [String] = []
        var entries: [String: TensorEntry] = [:]
        func collect(_ dict: PickleDict, _ prefixKey: String, depth: Int) throws {
            guard depth < 32 else {
                throw CheckpointError.limitExceeded(file: path, what: "dicts nested deeper than 32")
            }
            for (k, v) in zip(dict.keys, dict.values) {
                guard case .string(let key) = k else { continue }
                let name = prefixKey.isEmpty ? key : prefixKey + "." + key
                switch v {
                case .dict(let sub): try collect(sub, name, depth: depth + 1)
                case .tensor(let t):
                    guard let storage = archive.entries[prefix + "data/" + t.storage.key] else {
                        throw CheckpointError.invalidTensor(
                            file: path, key: name, what: "storage \"\(t.storage.key)\" is not in the zip")
                    }
                    let (need, o) = t.storage.count.multipliedReportingOverflow(by: t.storage.dtype.itemSize)
                    guard !o, need <= storage.size else {
                        throw CheckpointError.invalidTensor(
                            file: path, key: name,
                            what:
                                "storage \"\(t.storage.key)\" declares \(t.storage.count) elements but holds \(storage.size) bytes"
                        )
                    }
                    let entry = try TensorEntry.make(
                        file: path, name: name, dtype: t.storage.dtype, shape: t.shape, strides: t.strides,
                        storageOffset: storage.dataOffset, storageBytes: need, elementOffset: t.offset)
                    if entries.updateValue(entry, forKey: name) == nil { names.append(name) }
                default: continue
                }
            }
        }
        try collect(stateDict, "", depth: 0)
        self.names = names
        self.entries = entries
    }

}
