import CMsgPack

/// A decoded msgpack value. Strings keep their bytes until read so that invalid UTF-8 is reported with the
/// field it was found in instead of failing the whole message.
public indirect enum MsgValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    /// A msgpack str whose bytes are not valid UTF-8.
    case invalidString([UInt8])
    case binary([UInt8])
    case array([MsgValue])
    /// Entries in wire order; keys may be any msgpack value (ours are always strings).
    case map([MsgEntry])
    case ext(type: Int8, data: [UInt8])

    /// The value under string key `key` of a map (the last one if repeated), nil otherwise.
    public subscript(key: String) -> MsgValue? {
        guard case .map(let entries) = self else { return nil }
        return entries.last(where: { $0.key == .string(key) })?.value
    }

    /// The msgpack type name, for error messages.
    public var typeName: String {
        switch self {
        case .null: return "nil"
        case .bool: return "bool"
        case .int, .uint: return "int"
        case .double: return "float"
        case .string, .invalidString: return "str"
        case .binary: return "bin"
        case .array: return "array"
        case .map: return "map"
        case .ext: return "ext"
        }
    }

    /// The value as a signed 64-bit integer when it is an integer that fits.
    public var int64: Int64? {
        switch self {
        case .int(let v): return v
        case .uint(let v): return v <= UInt64(Int64.max) ? Int64(v) : nil
        default: return nil
        }
    }

    /// Integers and floats as a Double (finite only).
    public var number: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .uint(let v): return Double(v)
        case .double(let v): return v.isFinite ? v : nil
        default: return nil
        }
    }
}

/// One key/value pair of a msgpack map.
public struct MsgEntry: Sendable, Equatable {
    public var key: MsgValue
    public var value: MsgValue
    public init(_ key: MsgValue, _ value: MsgValue) {
        self.key = key
        self.value = value
    }
}

extension MsgValue {
    /// A map with string keys, in the given order.
    public static func object(_ pairs: [(String, MsgValue)]) -> MsgValue {
        .map(pairs.map { MsgEntry(.string($0.0), $0.1) })
    }
}

/// Why a byte string could not be decoded as one msgpack value.
public enum MsgPackDecodeError: Error, Equatable, CustomStringConvertible {
    case empty
    case truncated
    case malformed
    case trailingBytes(Int)
    case tooDeep(limit: Int)
    case outOfMemory

    public var description: String {
        switch self {
        case .empty: return "empty payload"
        case .truncated: return "payload is not msgpack (truncated value)"
        case .malformed: return "payload is not msgpack (malformed)"
        case .trailingBytes(let n): return "payload has \(n) bytes after the first msgpack value"
        case .tooDeep(let limit): return "payload nests deeper than \(limit) levels"
        case .outOfMemory: return "payload could not be decoded (out of memory)"
        }
    }
}

/// msgpack encoding and decoding through msgpack-c.
public enum MsgPack {
    /// Deepest nesting accepted (msgpack-c's own parser stack is 32 levels).
    public static let maxDepth = 32

    /// Serialises `value` with msgpack-c's packer.
    public static func encode(_ value: MsgValue) -> [UInt8] {
        let sbuf = UnsafeMutablePointer<msgpack_sbuffer>.allocate(capacity: 1)
        let packer = UnsafeMutablePointer<msgpack_packer>.allocate(capacity: 1)
        defer {
            msgpack_sbuffer_destroy(sbuf)
            sbuf.deallocate()
            packer.deallocate()
        }
        msgpack_sbuffer_init(sbuf)
        msgpack_packer_init(packer, UnsafeMutableRawPointer(sbuf), msgpack_sbuffer_write)
        pack(value, packer)
        guard let data = sbuf.pointee.data, sbuf.pointee.size > 0 else { return [] }
        return data.withMemoryRebound(to: UInt8.self, capacity: sbuf.pointee.size) {
            Array(UnsafeBufferPointer(start: $0, count: sbuf.pointee.size))
        }
    }

    private static func pack(_ value: MsgValue, _ pk: UnsafeMutablePointer<msgpack_packer>) {
        switch value {
        case .null: msgpack_pack_nil(pk)
        case .bool(let b): if b { msgpack_pack_true(pk) } else { msgpack_pack_false(pk) }
        case .int(let v): msgpack_pack_int64(pk, v)
        case .uint(let v): msgpack_pack_uint64(pk, v)
        case .double(let v): msgpack_pack_double(pk, v)
        case .string(let s):
            var s = s
            s.withUTF8 { buf in
                msgpack_pack_str(pk, buf.count)
                msgpack_pack_str_body(pk, buf.baseAddress, buf.count)
            }
        case .invalidString(let bytes):
            msgpack_pack_str(pk, bytes.count)
            bytes.withUnsafeBufferPointer { msgpack_pack_str_body(pk, $0.baseAddress, $0.count) }
        case .binary(let bytes):
            msgpack_pack_bin(pk, bytes.count)
            bytes.withUnsafeBufferPointer { msgpack_pack_bin_body(pk, $0.baseAddress, $0.count) }
        case .array(let items):
            msgpack_pack_array(pk, items.count)
            for item in items { pack(item, pk) }
        case .map(let entries):
            msgpack_pack_map(pk, entries.count)
            for e in entries {
                pack(e.key, pk)
                pack(e.value, pk)
            }
        case .ext(let type, let data):
            msgpack_pack_ext(pk, data.count, type)
            data.withUnsafeBufferPointer { msgpack_pack_ext_body(pk, $0.baseAddress, $0.count) }
        }
    }

    /// Decodes exactly one msgpack value filling `bytes`. Container lengths are checked against the bytes that
    /// remain before msgpack-c allocates for them, so a tiny message cannot claim a huge array.
    public static func decode(_ bytes: [UInt8]) throws(MsgPackDecodeError) -> MsgValue {
        guard !bytes.isEmpty else { throw .empty }
        return try bytes.withUnsafeBufferPointer { (buf) throws(MsgPackDecodeError) -> MsgValue in
            try decode(buf)
        }
    }

    public static func decode(_ buf: UnsafeBufferPointer<UInt8>) throws(MsgPackDecodeError) -> MsgValue {
        guard let base = buf.baseAddress, buf.count > 0 else { throw .empty }
        var scanner = StructureScanner(buf: buf)
        let end = try scanner.skipValue(depth: 0)
        if end < buf.count { throw .trailingBytes(buf.count - end) }

        var unpacked = msgpack_unpacked()
        msgpack_unpacked_init(&unpacked)
        defer { msgpack_unpacked_destroy(&unpacked) }
        var offset = 0
        let ret = base.withMemoryRebound(to: CChar.self, capacity: buf.count) {
            msgpack_unpack_next(&unpacked, $0, buf.count, &offset)
        }
        switch ret {
        case MSGPACK_UNPACK_SUCCESS: break
        case MSGPACK_UNPACK_EXTRA_BYTES: throw .trailingBytes(buf.count - offset)
        case MSGPACK_UNPACK_CONTINUE: throw .truncated
        case MSGPACK_UNPACK_NOMEM_ERROR: throw .outOfMemory
        default: throw .malformed
        }
        return convert(unpacked.data, depth: 0)
    }

    private static func bytes(_ ptr: UnsafePointer<CChar>?, _ size: UInt32) -> [UInt8] {
        guard let ptr, size > 0 else { return [] }
        return ptr.withMemoryRebound(to: UInt8.self, capacity: Int(size)) {
            Array(UnsafeBufferPointer(start: $0, count: Int(size)))
        }
    }

    private static func convert(_ o: msgpack_object, depth: Int) -> MsgValue {
        switch o.type {
        case MSGPACK_OBJECT_NIL: return .null
        case MSGPACK_OBJECT_BOOLEAN: return .bool(o.via.boolean)
        case MSGPACK_OBJECT_POSITIVE_INTEGER: return .uint(o.via.u64)
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: return .int(o.via.i64)
        case MSGPACK_OBJECT_FLOAT32, MSGPACK_OBJECT_FLOAT64: return .double(o.via.f64)
        case MSGPACK_OBJECT_STR:
            let raw = bytes(o.via.str.ptr, o.via.str.size)
            if let s = String(validating: raw, as: UTF8.self) { return .string(s) }
            return .invalidString(raw)
        case MSGPACK_OBJECT_BIN: return .binary(bytes(o.via.bin.ptr, o.via.bin.size))
        case MSGPACK_OBJECT_EXT: return .ext(type: o.via.ext.type, data: bytes(o.via.ext.ptr, o.via.ext.size))
        case MSGPACK_OBJECT_ARRAY:
            let n = Int(o.via.array.size)
            guard n > 0, let ptr = o.via.array.ptr else { return .array([]) }
            return .array((0..<n).map { convert(ptr[$0], depth: depth + 1) })
        case MSGPACK_OBJECT_MAP:
            let n = Int(o.via.map.size)
            guard n > 0, let ptr = o.via.map.ptr else { return .map([]) }
            return .map((0..<n).map { MsgEntry(convert(ptr[$0].key, depth: depth + 1), convert(ptr[$0].val, depth: depth + 1)) })
        default: return .null
        }
    }
}

/// Walks msgpack framing without building values: checks that every length fits in the bytes that remain and
/// that nesting stays within `MsgPack.maxDepth`.
private struct StructureScanner {
    let buf: UnsafeBufferPointer<UInt8>
    var pos = 0

    init(buf: UnsafeBufferPointer<UInt8>) { self.buf = buf }

    private var remaining: Int { buf.count - pos }

    private mutating func take(_ n: Int) throws(MsgPackDecodeError) {
        guard n >= 0, n <= remaining else { throw .truncated }
        pos += n
    }

    private mutating func readUInt(_ width: Int) throws(MsgPackDecodeError) -> Int {
        guard width <= remaining else { throw .truncated }
        var v: UInt64 = 0
        for i in 0..<width { v = (v << 8) | UInt64(buf[pos + i]) }
        pos += width
        guard v <= UInt64(Int.max) else { throw .truncated }
        return Int(v)
    }

    private mutating func skipItems(_ n: Int, depth: Int) throws(MsgPackDecodeError) {
        guard n <= remaining else { throw .truncated }
        for _ in 0..<n { _ = try skipValue(depth: depth + 1) }
    }

    /// Skips one value starting at `pos` and returns the offset just after it.
    mutating func skipValue(depth: Int) throws(MsgPackDecodeError) -> Int {
        guard depth < MsgPack.maxDepth else { throw .tooDeep(limit: MsgPack.maxDepth) }
        guard remaining > 0 else { throw .truncated }
        let b = buf[pos]
        pos += 1
        switch b {
        case 0x00...0x7f, 0xe0...0xff, 0xc0, 0xc2, 0xc3: break
        case 0x80...0x8f: try skipItems(2 * Int(b & 0x0f), depth: depth)
        case 0x90...0x9f: try skipItems(Int(b & 0x0f), depth: depth)
        case 0xa0...0xbf: try take(Int(b & 0x1f))
        case 0xc1: throw .malformed
        case 0xc4, 0xd9: try take(try readUInt(1))
        case 0xc5, 0xda: try take(try readUInt(2))
        case 0xc6, 0xdb: try take(try readUInt(4))
        case 0xc7: let n = try readUInt(1); try take(1 + n)
        case 0xc8: let n = try readUInt(2); try take(1 + n)
        case 0xc9: let n = try readUInt(4); try take(1 + n)
        case 0xca: try take(4)
        case 0xcb: try take(8)
        case 0xcc, 0xd0: try take(1)
        case 0xcd, 0xd1: try take(2)
        case 0xce, 0xd2: try take(4)
        case 0xcf, 0xd3: try take(8)
        case 0xd4: try take(2)
        case 0xd5: try take(3)
        case 0xd6: try take(5)
        case 0xd7: try take(9)
        case 0xd8: try take(17)
        case 0xdc: try skipItems(try readUInt(2), depth: depth)
        case 0xdd: try skipItems(try readUInt(4), depth: depth)
        case 0xde:
            let n = try readUInt(2)
            guard n <= remaining / 2 else { throw .truncated }
            try skipItems(2 * n, depth: depth)
        case 0xdf:
            let n = try readUInt(4)
            guard n <= remaining / 2 else { throw .truncated }
            try skipItems(2 * n, depth: depth)
        default: throw .malformed
        }
        return pos
    }
}
