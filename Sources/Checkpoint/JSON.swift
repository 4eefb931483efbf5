/// A small strict JSON parser for safetensors headers and index files: bounded depth, exact integers, no duplicate keys.
enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.double(let x), .double(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            return x.map(\.0) == y.map(\.0) && x.map(\.1) == y.map(\.1)
        default: return false
        }
    }

    struct ParseError: Error {
        let offset: Int
        let what: String
    }

    static let maxDepth = 64

    static func parse(_ bytes: UnsafeRawBufferPointer) throws -> JSONValue {
        var p = Parser(b: bytes)
        p.skip()
        let v = try p.value(depth: 0)
        p.skip()
        guard p.i == bytes.count else { throw ParseError(offset: p.i, what: "trailing characters") }
        return v
    }

    private struct Parser {
        let b: UnsafeRawBufferPointer
        var i = 0

        mutating func skip() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x0a || b[i] == 0x0d || b[i] == 0x09 { i += 1 }
        }

        func err(_ what: String) -> ParseError { ParseError(offset: i, what: what) }

        mutating func expect(_ word: String) throws {
            for c in word.utf8 {
                guard i < b.count, b[i] == c else { throw err("expected \(word)") }
                i += 1
            }
        }

        mutating func value(depth: Int) throws -> JSONValue {
            guard depth < JSONValue.maxDepth else {
                throw err("nested deeper than \(JSONValue.maxDepth)")
            }
            guard i < b.count else { throw err("unexpected end") }
            switch b[i] {
            case UInt8(ascii: "{"):
                i += 1
                var members: [(String, JSONValue)] = []
                var seen = Set<String>()
                skip()
                if i < b.count, b[i] == UInt8(ascii: "}") {
                    i += 1
                    return .object(members)
                }
                while true {
                    skip()
                    guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw err("expected a key") }
                    let key = try string()
                    guard seen.insert(key).inserted else { throw err("duplicate key \"\(key)\"") }
                    skip()
                    try expect(":")
                    skip()
                    members.append((key, try value(depth: depth + 1)))
                    skip()
                    guard i < b.count else { throw err("unexpected end") }
                    if b[i] == UInt8(ascii: ",") {
                        i += 1
                        continue
                    }
                    try expect("}")
                    return .object(members)
                }
            case UInt8(ascii: "["):
                i += 1
                var items: [JSONValue] = []
                skip()
                if i < b.count, b[i] == UInt8(ascii: "]") {
                    i += 1
                    return .array(items)
                }
                while true {
                    skip()
                    items.append(try value(depth: depth + 1))
                    skip()
                    guard i < b.count else { throw err("unexpected end") }
                    if b[i] == UInt8(ascii: ",") {
                        i += 1
                        continue
                    }
                    try expect("]")
                    return .array(items)
                }
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"):
                try expect("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try expect("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try expect("null")
                return .null
            default: return try number()
            }
        }

        mutating func number() throws -> JSONValue {
            let start = i
            if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
            var integral = true
            let digitsStart = i
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
            guard i > digitsStart else { throw err("invalid value") }
            guard b[digitsStart] != 0x30 || i - digitsStart == 1 else { throw err("leading zero") }
            if i < b.count, b[i] == UInt8(ascii: ".") {
                integral = false
                i += 1
                let f = i
                while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
                guard i > f else { throw err("invalid number") }
            }
            if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
                integral = false
                i += 1
                if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
                let f = i
                while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
                guard i > f else { throw err("invalid number") }
            }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
            if integral, let v = Int(text) { return .int(v) }
            guard let d = Double(text) else { throw err("invalid number") }
            return .double(d)
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= b.count else { throw err("short \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = b[i]
                let d: UInt8
                switch c {
                case 0x30...0x39: d = c - 0x30
                case 0x41...0x46: d = c - 0x41 + 10
                case 0x61...0x66: d = c - 0x61 + 10
                default: throw err("bad \\u escape")
                }
                v = v << 4 | UInt32(d)
                i += 1
            }
            return v
        }

        mutating func string() throws -> String {
            i += 1
            var out: [UInt8] = []
            while true {
                guard i < b.count else { throw err("unterminated string") }
                let c = b[i]
                i += 1
                switch c {
                case UInt8(ascii: "\""):
                    guard let s = String(validating: out, as: UTF8.self) else {
                        throw err("string is not UTF-8")
                    }
                    return s
                case UInt8(ascii: "\\"):
                    guard i < b.count else { throw err("unterminated escape") }
                    let e = b[i]
                    i += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0c)
                    case UInt8(ascii: "n"): out.append(0x0a)
                    case UInt8(ascii: "r"): out.append(0x0d)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if scalar >= 0xd800, scalar < 0xdc00 {
                            try expect("\\u")
                            let low = try hex4()
                            guard low >= 0xdc00, low < 0xe000 else { throw err("unpaired surrogate") }
                            scalar = 0x10000 + ((scalar - 0xd800) << 10) + (low - 0xdc00)
                        }
                        guard let u = Unicode.Scalar(scalar) else { throw err("unpaired surrogate") }
                        out.append(contentsOf: Array(String(Character(u)).utf8))
                    default: throw err("bad escape")
                    }
                case 0x00..<0x20: throw err("control character in string")
                default: out.append(c)
                }
            }
        }
    }

    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }
}
