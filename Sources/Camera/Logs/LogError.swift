/// Why a camera log (MCAP or ROS 1 bag) cannot be read further; names the file and the byte offset.
public enum LogError: Error, Equatable, CustomStringConvertible {
    case unreadable(file: String, reason: String)
    case badMagic(file: String)
    case truncated(file: String, offset: Int, need: Int)
    case corrupt(file: String, offset: Int, reason: String)
    case crcMismatch(file: String, offset: Int)
    case unsupported(file: String, offset: Int, what: String)
    case noImageTopic(file: String, topics: [String])
    case unknownTopic(file: String, topic: String, topics: [String])
    case badMessage(file: String, offset: Int, type: String, reason: String)
    case badOption(String)

    public var description: String {
        switch self {
        case .unreadable(let f, let r): return "\(f): cannot open: \(r)"
        case .badMagic(let f): return "\(f): not an MCAP file or ROS 1 bag v2.0 (bad magic)"
        case .truncated(let f, let o, let n): return "\(f): truncated at byte \(o) (needed \(n) more bytes)"
        case .corrupt(let f, let o, let r): return "\(f): corrupt at byte \(o): \(r)"
        case .crcMismatch(let f, let o): return "\(f): chunk CRC mismatch at byte \(o)"
        case .unsupported(let f, let o, let w): return "\(f): unsupported at byte \(o): \(w)"
        case .noImageTopic(let f, let t): return "\(f): no image topic (topics: \(t.joined(separator: ", ")))"
        case .unknownTopic(let f, let t, let all):
            return "\(f): no topic \(t) (topics: \(all.joined(separator: ", ")))"
        case .badMessage(let f, let o, let t, let r): return "\(f): bad \(t) message at byte \(o): \(r)"
        case .badOption(let s): return s
        }
    }

    /// The byte offset at which reading stopped, where the error has one.
    public var offset: Int? {
        switch self {
        case .truncated(_, let o, _), .corrupt(_, let o, _), .crcMismatch(_, let o), .unsupported(_, let o, _),
            .badMessage(_, let o, _, _):
            return o
        default: return nil
        }
    }
}

/// Little-endian cursor over a byte buffer; every read is bounds-checked and reports the absolute offset.
struct ByteCursor {
    let bytes: [UInt8]
    var pos: Int
    let end: Int
    /// Absolute file offset of `bytes[0]`, for error messages; `nil` inside decompressed chunks.
    let base: Int
    let file: String

    init(_ bytes: [UInt8], from: Int = 0, to: Int? = nil, base: Int = 0, file: String) {
        self.bytes = bytes
        self.pos = from
        self.end = min(to ?? bytes.count, bytes.count)
        self.base = base
        self.file = file
    }

    var remaining: Int { end - pos }
    var atEnd: Bool { pos >= end }
    var offset: Int { base + pos }

    mutating func need(_ n: Int) throws {
        guard n >= 0, n <= end - pos else { throw LogError.truncated(file: file, offset: base + pos, need: n - (end - pos)) }
    }

    mutating func u8() throws -> UInt8 {
        try need(1)
        defer { pos += 1 }
        return bytes[pos]
    }

    mutating func u16() throws -> UInt16 {
        try need(2)
        defer { pos += 2 }
        return UInt16(bytes[pos]) | UInt16(bytes[pos + 1]) << 8
    }

    mutating func u32() throws -> UInt32 {
        try need(4)
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[pos + i]) << (8 * UInt32(i)) }
        pos += 4
        return v
    }

    mutating func u64() throws -> UInt64 {
        try need(8)
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[pos + i]) << (8 * UInt64(i)) }
        pos += 8
        return v
    }

    /// A length field that must fit in what is left of the buffer.
    mutating func length64() throws -> Int {
        let at = offset
        let v = try u64()
        guard v <= UInt64(remaining) else {
            throw LogError.truncated(file: file, offset: at, need: v > UInt64(Int.max / 2) ? Int.max / 2 : Int(v) - remaining)
        }
        return Int(v)
    }

    mutating func length32() throws -> Int {
        let at = offset
        let v = Int(try u32())
        guard v <= remaining else { throw LogError.truncated(file: file, offset: at, need: v - remaining) }
        return v
    }

    mutating func bytes(_ n: Int) throws -> [UInt8] {
        try need(n)
        defer { pos += n }
        return Array(bytes[pos..<pos + n])
    }

    mutating func skip(_ n: Int) throws {
        try need(n)
        pos += n
    }

    /// MCAP string: u32 byte length + UTF-8.
    mutating func string32() throws -> String {
        let n = try length32()
        defer { pos += n }
        return String(decoding: bytes[pos..<pos + n], as: UTF8.self)
    }
}

/// CRC-32 (IEEE, reflected, as zlib and MCAP use), slice-by-8.
enum CRC32 {
    static let tables: [[UInt32]] = {
        var t = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            t[0][i] = c
        }
        for i in 0..<256 {
            for k in 1..<8 { t[k][i] = (t[k - 1][i] >> 8) ^ t[0][Int(t[k - 1][i] & 0xFF)] }
        }
        return t
    }()

    static func update(_ crc: UInt32, _ buf: UnsafeRawBufferPointer) -> UInt32 {
        var c = ~crc
        let t0 = tables[0], t1 = tables[1], t2 = tables[2], t3 = tables[3]
        let t4 = tables[4], t5 = tables[5], t6 = tables[6], t7 = tables[7]
        let n = buf.count
        var i = 0
        t0.withUnsafeBufferPointer { t0 in
            t1.withUnsafeBufferPointer { t1 in
                t2.withUnsafeBufferPointer { t2 in
                    t3.withUnsafeBufferPointer { t3 in
                        t4.withUnsafeBufferPointer { t4 in
                            t5.withUnsafeBufferPointer { t5 in
                                t6.withUnsafeBufferPointer { t6 in
                                    t7.withUnsafeBufferPointer { t7 in
                                        while i + 8 <= n {
                                            let lo = UInt32(buf[i]) | UInt32(buf[i + 1]) << 8 | UInt32(buf[i + 2]) << 16 | UInt32(buf[i + 3]) << 24
                                            let hi = UInt32(buf[i + 4]) | UInt32(buf[i + 5]) << 8 | UInt32(buf[i + 6]) << 16 | UInt32(buf[i + 7]) << 24
                                            let x = lo ^ c
                                            c = t7[Int(x & 0xFF)] ^ t6[Int((x >> 8) & 0xFF)] ^ t5[Int((x >> 16) & 0xFF)]
                                                ^ t4[Int(x >> 24)] ^ t3[Int(hi & 0xFF)] ^ t2[Int((hi >> 8) & 0xFF)]
                                                ^ t1[Int((hi >> 16) & 0xFF)] ^ t0[Int(hi >> 24)]
                                            i += 8
                                        }
                                        while i < n {
                                            c = t0[Int((c ^ UInt32(buf[i])) & 0xFF)] ^ (c >> 8)
                                            i += 1
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return ~c
    }

    static func checksum(_ bytes: [UInt8], from: Int = 0, to: Int? = nil) -> UInt32 {
        bytes.withUnsafeBytes { raw in
            let end = to ?? raw.count
            return update(0, UnsafeRawBufferPointer(rebasing: raw[from..<end]))
        }
    }
}
