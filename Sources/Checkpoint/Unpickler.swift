/// A typed storage named by a torch persistent id: ('storage', <dtype>Storage, key, location, numel).
struct StorageRef {
    let dtype: DType
    let key: String
    let count: Int
}

/// The arguments of `torch._utils._rebuild_tensor_v2`: a strided view into a storage.
struct TensorRef {
    let storage: StorageRef
    let offset: Int
    let shape: [Int]
    let strides: [Int]
}

final class PickleList {
    var items: [PickleValue] = []
}

/// A Python dict (or OrderedDict): insertion order kept, later assignments to an equal key replace the value.
final class PickleDict {
    enum Key: Hashable {
        case string(String)
        case int(Int)
        case bool(Bool)
        case none
        case unhashable(Int)
    }
    var keys: [PickleValue] = []
    var values: [PickleValue] = []
    private var index: [Key: Int] = [:]

    func set(_ key: PickleValue, _ value: PickleValue) {
        let k: Key
        switch key {
        case .string(let s): k = .string(s)
        case .int(let i): k = .int(i)
        case .bool(let b): k = .bool(b)
        case .none: k = .none
        default: k = .unhashable(keys.count)
        }
        if let at = index[k] {
            values[at] = value
        } else {
            index[k] = keys.count
            keys.append(key)
            values.append(value)
        }
    }

    func value(forString key: String) -> PickleValue? {
        index[.string(key)].map { values[$0] }
    }

    func removeAll() {
        keys = []
        values = []
        index = [:]
    }
}

indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    case global(String)
    case storage(StorageRef)
    case tensor(TensorRef)

    var kind: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case .global(let name): return name
        case .storage: return "storage"
        case .tensor: return "tensor"
        }
    }
}

/// A strict unpickler for the opcode subset that torch.save emits for state dicts (protocols 2-5). Only allow-listed
/// globals are resolved, and they are interpreted, never called; anything else is an error naming the offset.
struct Unpickler {
    static let allowedGlobals: Set<String> = [
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        "torch.FloatStorage", "torch.HalfStorage", "torch.BFloat16Storage", "torch.DoubleStorage",
        "torch.LongStorage", "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage",
        "torch.ByteStorage",
        "torch.BoolStorage",
    ]
    static let maxStackDepth = 1 << 20
    static let maxMemo = 1 << 22
    static let maxDims = 64

    let file: String
    let data: UnsafeRawBufferPointer
    private var pos = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    /// Every list and dict created, emptied after use so that self-referencing pickles do not leak.
    private(set) var containers: ([PickleList], [PickleDict]) = ([], [])

    init(file: String, data: UnsafeRawBufferPointer) {
        self.file = file
        self.data = data
    }

    /// Empties all containers this unpickler created (breaks reference cycles a hostile pickle may build).
    func releaseContainers() {
        for l in containers.0 { l.items = [] }
        for d in containers.1 { d.removeAll() }
    }

    private func fail(_ what: String, at offset: Int) -> CheckpointError {
        .pickle(file: file, offset: offset, what: what)
    }

    private mutating func read(_ n: Int, at op: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= data.count - pos else {
            throw CheckpointError.truncated(
                file: file, what: "data.pkl ends inside the operand of the opcode at \(op)")
        }
        defer { pos += n }
        return UnsafeRawBufferPointer(rebasing: data[pos..<(pos + n)])
    }

    private mutating func u8(_ op: Int) throws -> Int { Int(try read(1, at: op)[0]) }
    private mutating func le<T: FixedWidthInteger>(_ t: T.Type, _ op: Int) throws -> T {
        let b = try read(MemoryLayout<T>.size, at: op)
        return b.le(T.self, at: 0) ?? 0
    }

    private mutating func utf8(_ n: Int, _ op: Int) throws -> String {
        let b = try read(n, at: op)
        guard let s = String(validating: b, as: UTF8.self) else {
            throw fail("string is not valid UTF-8", at: op)
        }
        return s
    }

    private mutating func line(_ op: Int) throws -> String {
        var end = pos
        while end < data.count, data[end] != 0x0a {
            end += 1
            if end - pos > 1024 { throw fail("GLOBAL name longer than 1024 bytes", at: op) }
        }
        guard end < data.count else {
            throw CheckpointError.truncated(file: file, what: "data.pkl ends inside GLOBAL at \(op)")
        }
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: data[pos..<end]), as: UTF8.self)
        pos = end + 1
        return s
    }

    private mutating func push(_ v: PickleValue, _ op: Int) throws {
        guard stack.count < Self.maxStackDepth else {
            throw CheckpointError.limitExceeded(
                file: file, what: "pickle stack deeper than \(Self.maxStackDepth)")
        }
        stack.append(v)
    }

    private mutating func pop(_ op: Int) throws -> PickleValue {
        let floor = marks.last ?? 0
        guard stack.count > floor, let v = stack.popLast() else {
            throw fail("stack underflow", at: op)
        }
        return v
    }

    private mutating func popMark(_ op: Int) throws -> [PickleValue] {
        guard let m = marks.popLast() else { throw fail("no MARK on the stack", at: op) }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    private mutating func top(_ op: Int) throws -> PickleValue {
        let floor = marks.last ?? 0
        guard stack.count > floor, let v = stack.last else { throw fail("stack underflow", at: op) }
        return v
    }

    private mutating func put(_ index: Int, _ op: Int) throws {
        guard index >= 0, index < Self.maxMemo else {
            throw fail("memo index \(index) out of range", at: op)
        }
        guard memo.count < Self.maxMemo else {
            throw CheckpointError.limitExceeded(file: file, what: "pickle memo")
        }
        memo[index] = try top(op)
    }

    private func get(_ index: Int, _ op: Int) throws -> PickleValue {
        guard let v = memo[index] else { throw fail("memo index \(index) was never stored", at: op) }
        return v
    }

    private mutating func global(_ name: String, _ op: Int) throws {
        guard Self.allowedGlobals.contains(name) else {
            throw CheckpointError.disallowedGlobal(file: file, offset: op, name: name)
        }
        try push(.global(name), op)
    }

    private func signedLE(_ b: UnsafeRawBufferPointer, _ op: Int) throws -> Int {
        guard b.count <= 8 else {
            throw fail("integer of \(b.count) bytes does not fit 64 bits", at: op)
        }
        if b.isEmpty { return 0 }
        var v: UInt64 = 0
        for (i, byte) in b.enumerated() { v |= UInt64(byte) << (8 * UInt64(i)) }
        if b.count < 8, b[b.count - 1] & 0x80 != 0 { v |= ~0 << (8 * UInt64(b.count)) }
        return Int(Int64(bitPattern: v))
    }

    /// Runs the program to STOP and returns the pickled object.
    mutating func run() throws -> PickleValue {
        while pos < data.count {
            let op = pos
            let code = data[pos]
            pos += 1
            switch code {
            case 0x80:  // PROTO
                let v = try u8(op)
                guard v >= 2, v <= 5 else { throw fail("pickle protocol \(v) not supported", at: op) }
            case 0x95:  // FRAME (length is advisory)
                _ = try le(UInt64.self, op)
            case 0x2e:  // STOP
                let v = try pop(op)
                guard marks.isEmpty, stack.isEmpty else {
                    throw fail("STOP with values left on the stack", at: op)
                }
                return v
            case 0x28:  // MARK
                marks.append(stack.count)
            case 0x7d: try push(.dict(newDict()), op)  // EMPTY_DICT
            case 0x5d: try push(.list(newList()), op)  // EMPTY_LIST
            case 0x29: try push(.tuple([]), op)  // EMPTY_TUPLE
            case 0x4e: try push(.none, op)  // NONE
            case 0x88: try push(.bool(true), op)  // NEWTRUE
            case 0x89: try push(.bool(false), op)  // NEWFALSE
            case 0x4b: try push(.int(try u8(op)), op)  // BININT1
            case 0x4d: try push(.int(Int(try le(UInt16.self, op))), op)  // BININT2
            case 0x4a: try push(.int(Int(try le(Int32.self, op))), op)  // BININT
            case 0x8a:  // LONG1
                let n = try u8(op)
                try push(.int(try signedLE(try read(n, at: op), op)), op)
            case 0x8b:  // LONG4
                let n = Int(try le(Int32.self, op))
                guard n >= 0, n <= 8 else { throw fail("LONG4 of \(n) bytes does not fit 64 bits", at: op) }
                try push(.int(try signedLE(try read(n, at: op), op)), op)
            case 0x47:  // BINFLOAT (big-endian double)
                try push(.float(Double(bitPattern: UInt64(bigEndian: try le(UInt64.self, op)))), op)
            case 0x58:  // BINUNICODE
                let n = Int(try le(UInt32.self, op))
                try push(.string(try utf8(n, op)), op)
            case 0x8c:  // SHORT_BINUNICODE
                let n = try u8(op)
                try push(.string(try utf8(n, op)), op)
            case 0x8d:  // BINUNICODE8
                let n = try le(UInt64.self, op)
                guard n <= UInt64(data.count) else {
                    throw CheckpointError.truncated(file: file, what: "data.pkl string at \(op)")
                }
                try push(.string(try utf8(Int(n), op)), op)
            case 0x43:  // SHORT_BINBYTES
                let n = try u8(op)
                try push(.bytes(Array(try read(n, at: op))), op)
            case 0x42:  // BINBYTES
                let n = Int(try le(UInt32.self, op))
                try push(.bytes(Array(try read(n, at: op))), op)
            case 0x71: try put(try u8(op), op)  // BINPUT
            case 0x72: try put(Int(try le(UInt32.self, op)), op)  // LONG_BINPUT
            case 0x94: try put(memo.count, op)  // MEMOIZE
            case 0x68: try push(try get(try u8(op), op), op)  // BINGET
            case 0x6a: try push(try get(Int(try le(UInt32.self, op)), op), op)  // LONG_BINGET
            case 0x74: try push(.tuple(try popMark(op)), op)  // TUPLE
            case 0x85:  // TUPLE1
                let a = try pop(op)
                try push(.tuple([a]), op)
            case 0x86:  // TUPLE2
                let b = try pop(op)
                let a = try pop(op)
                try push(.tuple([a, b]), op)
            case 0x87:  // TUPLE3
                let c = try pop(op)
                let b = try pop(op)
                let a = try pop(op)
                try push(.tuple([a, b, c]), op)
            case 0x73:  // SETITEM
                let v = try pop(op)
                let k = try pop(op)
                guard case .dict(let d) = try top(op) else { throw fail("SETITEM on a non-dict", at: op) }
                d.set(k, v)
            case 0x75:  // SETITEMS
                let items = try popMark(op)
                guard items.count % 2 == 0 else {
                    throw fail("SETITEMS with an odd number of values", at: op)
                }
                guard case .dict(let d) = try top(op) else { throw fail("SETITEMS on a non-dict", at: op) }
                var i = 0
                while i < items.count {
                    d.set(items[i], items[i + 1])
                    i += 2
                }
            case 0x61:  // APPEND
                let v = try pop(op)
                guard case .list(let l) = try top(op) else { throw fail("APPEND on a non-list", at: op) }
                l.items.append(v)
            case 0x65:  // APPENDS
                let items = try popMark(op)
                guard case .list(let l) = try top(op) else { throw fail("APPENDS on a non-list", at: op) }
                l.items.append(contentsOf: items)
            case 0x63:  // GLOBAL
                let module = try line(op)
                let name = try line(op)
                try global(module + "." + name, op)
            case 0x93:  // STACK_GLOBAL
                let n = try pop(op)
                let m = try pop(op)
                guard case .string(let module) = m, case .string(let name) = n else {
                    throw fail("STACK_GLOBAL needs two strings", at: op)
                }
                try global(module + "." + name, op)
            case 0x51:  // BINPERSID
                let pid = try pop(op)
                try push(.storage(try storage(pid, op)), op)
            case 0x52:  // REDUCE
                let args = try pop(op)
                let callable = try pop(op)
                guard case .global(let name) = callable, case .tuple(let a) = args else {
                    throw fail("REDUCE needs an allowed global and an argument tuple", at: op)
                }
                try push(try reduce(name, a, op), op)
            case 0x81:  // NEWOBJ
                let args = try pop(op)
                let cls = try pop(op)
                guard case .global("collections.OrderedDict") = cls, case .tuple(let a) = args, a.isEmpty
                else {
                    throw fail("NEWOBJ is only allowed for collections.OrderedDict()", at: op)
                }
                try push(.dict(newDict()), op)
            case 0x62:  // BUILD: only the attribute state of an OrderedDict (state_dict's _metadata), which is dropped
                let state = try pop(op)
                guard case .dict = try top(op) else { throw fail("BUILD on a \(try top(op).kind)", at: op) }
                switch state {
                case .dict, .none, .tuple: break
                default: throw fail("BUILD with a \(state.kind) state", at: op)
                }
            case 0x30:  // POP
                _ = try pop(op)
            case 0x31:  // POP_MARK
                _ = try popMark(op)
            case 0x32:  // DUP
                try push(try top(op), op)
            default:
                throw CheckpointError.unknownOpcode(file: file, offset: op, opcode: code)
            }
        }
        throw CheckpointError.truncated(file: file, what: "data.pkl ends without STOP")
    }

    private mutating func newDict() -> PickleDict {
        let d = PickleDict()
        containers.1.append(d)
        return d
    }

    private mutating func newList() -> PickleList {
        let l = PickleList()
        containers.0.append(l)
        return l
    }

    private func storage(_ pid: PickleValue, _ op: Int) throws -> StorageRef {
        guard case .tuple(let t) = pid, t.count == 5, case .string("storage") = t[0],
            case .global(let type) = t[1], case .string(let key) = t[2], case .int(let count) = t[4]
        else { throw fail("persistent id is not ('storage', type, key, location, numel)", at: op) }
        guard type.hasPrefix("torch."), let dtype = DType(torchStorageName: String(type.dropFirst(6)))
        else {
            throw fail("persistent id names \(type), not a storage type", at: op)
        }
        guard count >= 0 else { throw fail("storage \(key) has negative size \(count)", at: op) }
        return StorageRef(dtype: dtype, key: key, count: count)
    }

    private func ints(_ v: PickleValue, _ what: String, _ op: Int) throws -> [Int] {
        guard case .tuple(let t) = v, t.count <= Self.maxDims else {
            throw fail("\(what) is not a tuple of at most \(Self.maxDims) ints", at: op)
        }
        return try t.map {
            guard case .int(let i) = $0 else { throw fail("\(what) holds a \($0.kind)", at: op) }
            return i
        }
    }

    private mutating func reduce(_ name: String, _ a: [PickleValue], _ op: Int) throws -> PickleValue {
        switch name {
        case "collections.OrderedDict":
            guard a.isEmpty else { throw fail("OrderedDict() with arguments", at: op) }
            return .dict(newDict())
        case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
            let v2 = name.hasSuffix("_v2")
            guard v2 ? (a.count == 6 || a.count == 7) : a.count == 4, case .storage(let s) = a[0],
                case .int(let offset) = a[1]
            else { throw fail("\(name) with unexpected arguments", at: op) }
            let shape = try ints(a[2], "tensor size", op)
            let strides = try ints(a[3], "tensor stride", op)
            guard shape.count == strides.count else {
                throw fail("tensor size and stride differ in rank", at: op)
            }
            return .tensor(TensorRef(storage: s, offset: offset, shape: shape, strides: strides))
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            guard a.count >= 3, case .tensor = a[0] else {
                throw fail("\(name) without a tensor", at: op)
            }
            return a[0]
        default:
            throw fail("\(name) cannot be called", at: op)
        }
    }
}
