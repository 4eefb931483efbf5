/// A JSON value as the reasoning models write it: real JSON plus the pseudo-JSON the Seg-Zero prompt shows
/// (single-quoted strings, `12.` numbers, trailing commas). Used only for answer parsing.
public indirect enum LenientJSON: Equatable, Sendable {
    case number(Double)
    case string(String)
    case bool(Bool)
    case null
    case array([LenientJSON])
    /// Keys in the order written (the Seg-Zero reference picks "the first key containing …").
    case object([(key: String, value: LenientJSON)])

    public static func == (a: LenientJSON, b: LenientJSON) -> Bool {
        switch (a, b) {
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case (.null, .null): return true
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    public var numberValue: Double? {
        if case let .number(v) = self { return v }
        return nil
    }

    /// The numbers of an array of numbers, nil if any element is not a number.
    public var numbers: [Double]? {
        guard case let .array(items) = self else { return nil }
        var out: [Double] = []
        for item in items {
            guard let v = item.numberValue else { return nil }
            out.append(v)
        }
        return out
    }

    /// Parses one value starting at `start` (skipping leading whitespace). Returns the value and the index
    /// just past it, or nil when the text there is not a value.
    public static func parsePrefix(_ scalars: [Unicode.Scalar], from start: Int) -> (LenientJSON, Int)? {
        var parser = Parser(s: scalars, i: start, depth: 0)
        guard let value = parser.value() else { return nil }
        return (value, parser.i)
    }

    /// Parses a whole string (surrounding whitespace allowed, nothing else).
    public static func parse(_ text: String) -> LenientJSON? {
        let scalars = Array(text.unicodeScalars)
        guard let (value, end) = parsePrefix(scalars, from: 0) else { return nil }
        var i = end
        while i < scalars.count, scalars[i].properties.isWhitespace { i += 1 }
        return i == scalars.count ? value : nil
    }

    private struct Parser {
        let s: [Unicode.Scalar]
        var i: Int
        var depth: Int
        static let maxDepth = 32

        mutating func skipSpace() {
            while i < s.count, s[i].properties.isWhitespace { i += 1 }
        }

        mutating func value() -> LenientJSON? {
            skipSpace()
            guard i < s.count, depth < Self.maxDepth else { return nil }
            switch s[i] {
            case "{": return object()
            case "[": return array()
            case "\"", "'": return string().map { .string($0) }
            case "-", "+", "0"..."9", ".": return number()
            default: return keyword()
            }
        }

        mutating func object() -> LenientJSON? {
            i += 1
            depth += 1
            defer { depth -= 1 }
            var members: [(key: String, value: LenientJSON)] = []
            while true {
                skipSpace()
                guard i < s.count else { return nil }
                if s[i] == "}" { i += 1; return .object(members) }
                guard s[i] == "\"" || s[i] == "'", let key = string() else { return nil }
                skipSpace()
                guard i < s.count, s[i] == ":" else { return nil }
                i += 1
                guard let v = value() else { return nil }
                members.append((key, v))
                skipSpace()
                guard i < s.count else { return nil }
                if s[i] == "," { i += 1; continue }
                if s[i] == "}" { i += 1; return .object(members) }
                return nil
            }
        }

        mutating func array() -> LenientJSON? {
            i += 1
            depth += 1
            defer { depth -= 1 }
            var items: [LenientJSON] = []
            while true {
                skipSpace()
                guard i < s.count else { return nil }
                if s[i] == "]" { i += 1; return .array(items) }
                guard let v = value() else { return nil }
                items.append(v)
                skipSpace()
                guard i < s.count else { return nil }
                if s[i] == "," { i += 1; continue }
                if s[i] == "]" { i += 1; return .array(items) }
                return nil
            }
        }

        mutating func string() -> String? {
            let quote = s[i]
            i += 1
            var out = String.UnicodeScalarView()
            while i < s.count {
                let c = s[i]
                i += 1
                if c == quote { return String(out) }
                if c == "\\" {
                    guard i < s.count else { return nil }
                    let e = s[i]
                    i += 1
                    switch e {
                    case "n": out.append("\n")
                    case "t": out.append("\t")
                    case "r": out.append("\r")
                    case "b": out.append("\u{8}")
                    case "f": out.append("\u{c}")
                    case "u":
                        guard i + 4 <= s.count,
                            let code = UInt32(String(String.UnicodeScalarView(s[i..<(i + 4)])), radix: 16),
                            let scalar = Unicode.Scalar(code)
                        else { return nil }
                        out.append(scalar)
                        i += 4
                    default: out.append(e)
                    }
                } else {
                    out.append(c)
                }
            }
            return nil
        }

        mutating func number() -> LenientJSON? {
            let start = i
            if s[i] == "-" || s[i] == "+" { i += 1 }
            var digits = 0
            while i < s.count, ("0"..."9").contains(s[i]) { i += 1; digits += 1 }
            if i < s.count, s[i] == "." {
                i += 1
                while i < s.count, ("0"..."9").contains(s[i]) { i += 1; digits += 1 }
            }
            guard digits > 0 else { return nil }
            if i < s.count, s[i] == "e" || s[i] == "E" {
                var j = i + 1
                if j < s.count, s[j] == "-" || s[j] == "+" { j += 1 }
                var expDigits = 0
                while j < s.count, ("0"..."9").contains(s[j]) { j += 1; expDigits += 1 }
                if expDigits > 0 { i = j }
            }
            var text = String(String.UnicodeScalarView(s[start..<i]))
            if text.hasSuffix(".") { text += "0" }
            if text.hasPrefix("+") { text.removeFirst() }
            guard let v = Double(text), v.isFinite else { return nil }
            return .number(v)
        }

        mutating func keyword() -> LenientJSON? {
            for (word, value) in [("true", LenientJSON.bool(true)), ("false", .bool(false)), ("null", .null),
                                  ("True", .bool(true)), ("False", .bool(false)), ("None", .null)] {
                let w = Array(word.unicodeScalars)
                if i + w.count <= s.count, Array(s[i..<(i + w.count)]) == w {
                    i += w.count
                    return value
                }
            }
            return nil
        }
    }
}
