/// Every way opening or reading a checkpoint can fail; each case names the file and, where one applies, the key.
public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    /// The file or directory could not be opened or mapped (`reason` carries the system error).
    case cannotOpen(file: String, reason: String)
    /// The file ends before a structure it declares (`what` says which one).
    case truncated(file: String, what: String)
    /// A structure is inconsistent: bad magic, sizes that do not add up, offsets outside the file.
    case malformed(file: String, what: String)
    /// A valid file in a variant this reader does not handle (legacy torch format, compressed zip entries, big-endian).
    case unsupportedFormat(file: String, what: String)
    /// A pickle opcode outside the strict set torch.save uses, at a byte offset in `data.pkl`.
    case unknownOpcode(file: String, offset: Int, opcode: UInt8)
    /// A pickle GLOBAL that is not on the allow-list (`name` is "module.qualname").
    case disallowedGlobal(file: String, offset: Int, name: String)
    /// A pickle program that is structurally wrong (stack underflow, bad memo index, wrong argument types).
    case pickle(file: String, offset: Int, what: String)
    /// A size, depth or count beyond this reader's bounds.
    case limitExceeded(file: String, what: String)
    /// No tensor with this name in the store.
    case missingTensor(file: String, key: String)
    /// The tensor's shape differs from what the model expects.
    case shapeMismatch(file: String, key: String, expected: [Int], actual: [Int])
    /// The tensor's dtype is not one of those the caller accepts.
    case dtypeMismatch(file: String, key: String, expected: [DType], actual: DType)
    /// The tensor's stored dtype is one this reader does not handle.
    case unsupportedDType(file: String, key: String, dtype: String)
    /// The tensor's own description is inconsistent (byte range, strides, storage size).
    case invalidTensor(file: String, key: String, what: String)

    public var description: String {
        switch self {
        case .cannotOpen(let file, let reason): return "\(file): cannot open: \(reason)"
        case .truncated(let file, let what): return "\(file): truncated: \(what)"
        case .malformed(let file, let what): return "\(file): malformed: \(what)"
        case .unsupportedFormat(let file, let what): return "\(file): unsupported format: \(what)"
        case .unknownOpcode(let file, let offset, let opcode):
            return
                "\(file): data.pkl offset \(offset): pickle opcode 0x\(String(opcode, radix: 16)) is not allowed"
        case .disallowedGlobal(let file, let offset, let name):
            return "\(file): data.pkl offset \(offset): global \(name) is not allowed"
        case .pickle(let file, let offset, let what):
            return "\(file): data.pkl offset \(offset): \(what)"
        case .limitExceeded(let file, let what): return "\(file): limit exceeded: \(what)"
        case .missingTensor(let file, let key): return "\(file): no tensor \"\(key)\""
        case .shapeMismatch(let file, let key, let expected, let actual):
            return "\(file): tensor \"\(key)\" has shape \(actual), expected \(expected)"
        case .dtypeMismatch(let file, let key, let expected, let actual):
            return
                "\(file): tensor \"\(key)\" has dtype \(actual.rawValue), expected one of \(expected.map(\.rawValue))"
        case .unsupportedDType(let file, let key, let dtype):
            return "\(file): tensor \"\(key)\": unsupported dtype \(dtype)"
        case .invalidTensor(let file, let key, let what): return "\(file): tensor \"\(key)\": \(what)"
        }
    }
}
