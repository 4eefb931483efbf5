/// The Qwen2 pre-tokenizer: splits normalized text into the pieces BPE encodes independently.
///
/// A hand-written scanner equivalent to the Split regex of Qwen2's tokenizer.json (ENGINE_NOTES §1.2):
/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
/// with \p{L} / \p{N} the Unicode letter / number categories and \s the White_Space property.
public enum QwenPreTokenizer {
    /// The exact pattern this scanner implements, as tokenizer.json spells it.
    public static let pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    enum CharClass: UInt8 {
        case letter, number, newline, space, otherWhitespace, other
        var isWhitespace: Bool { self == .newline || self == .space || self == .otherWhitespace }
    }

    private static func classifySlow(_ scalar: Unicode.Scalar) -> CharClass {
        if scalar == "\r" || scalar == "\n" { return .newline }
        if scalar == " " { return .space }
        let properties = scalar.properties
        if properties.isWhitespace { return .otherWhitespace }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// Splits `text` into pieces, returned as ranges of indices into its unicode scalars.
    public static func split(scalars: [Unicode.Scalar]) -> [Range<Int>] {
        let n = scalars.count
        var classes = [CharClass](repeating: .other, count: n)
        for i in 0..<n { classes[i] = fastClass(scalars[i]) }
        var pieces: [Range<Int>] = []
        pieces.reserveCapacity(n / 3 + 1)
        var i = 0
        while i < n {
            let end = matchEnd(at: i, scalars: scalars, classes: classes)
            pieces.append(i..<end)
            i = end
        }
        return pieces
    }

    /// Splits a string into its pieces as strings (for tests and inspection).
    public static func split(_ text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        return split(scalars: scalars).map { range in
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars[range])
            return String(view)
        }
    }

    private static let asciiTable: [CharClass] = (0..<128).map {
        classifySlow(Unicode.Scalar(UInt8($0)))
    }

    @inline(__always)
    static func fastClass(_ scalar: Unicode.Scalar) -> CharClass {
        scalar.value < 128 ? asciiTable[Int(scalar.value)] : classifySlow(scalar)
    }

    private static func lowerASCII(_ scalar: Unicode.Scalar) -> UInt32 {
        let v = scalar.value
        return (v >= 65 && v <= 90) ? v + 32 : v
    }

    /// ASCII case-insensitive match of a contraction letter (tokenizers does not fold ſ to s here).
    private static func foldsTo(_ scalar: Unicode.Scalar, _ letter: Character) -> Bool {
        guard let ascii = letter.asciiValue else { return false }
        return lowerASCII(scalar) == UInt32(ascii)
    }

    /// Where the leftmost-first regex match that starts at `i` ends (every position starts a match).
    private static func matchEnd(at i: Int, scalars: [Unicode.Scalar], classes: [CharClass]) -> Int {
        let n = scalars.count
        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if scalars[i] == "'" && i + 1 < n {
            let a = scalars[i + 1]
            if foldsTo(a, "s") || foldsTo(a, "t") { return i + 2 }
            if i + 2 < n {
                let b = scalars[i + 2]
                if (foldsTo(a, "r") && foldsTo(b, "e")) || (foldsTo(a, "v") && foldsTo(b, "e")) {
                    return i + 3
                }
            }
            if foldsTo(a, "m") { return i + 2 }
            if i + 2 < n, foldsTo(a, "l"), foldsTo(scalars[i + 2], "l") { return i + 3 }
            if foldsTo(a, "d") { return i + 2 }
        }
        let c = classes[i]
        // [^\r\n\p{L}\p{N}]?\p{L}+
        var start = -1
        if c == .letter {
            start = i
        } else if c != .newline && c != .number && i + 1 < n && classes[i + 1] == .letter {
            start = i + 1
        }
        if start >= 0 {
            var j = start
            while j < n && classes[j] == .letter { j += 1 }
            return j
        }
        // \p{N}
        if c == .number { return i + 1 }
        // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        let runStart = (c == .space && i + 1 < n && classes[i + 1] == .other) ? i + 1 : i
        if classes[runStart] == .other {
            var j = runStart
            while j < n && classes[j] == .other { j += 1 }
            while j < n && classes[j] == .newline { j += 1 }
            return j
        }
        // Whitespace: \s*[\r\n]+ | \s+(?!\S) | \s+
        var j = i
        var lastNewline = -1
        while j < n && classes[j].isWhitespace {
            if classes[j] == .newline { lastNewline = j }
            j += 1
        }
        if lastNewline >= 0 { return lastNewline + 1 }
        if j == n || j - i < 2 { return j }
        return j - 1
    }
}
