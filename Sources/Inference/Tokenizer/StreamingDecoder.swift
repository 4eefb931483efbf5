/// Turns a stream of token ids into text pieces without ever splitting a UTF-8 character: bytes of an incomplete
/// trailing sequence are held until the tokens that complete it arrive (or `finish()`).
///
/// The concatenation of everything returned equals `QwenTokenizer.decode` of all ids, invalid bytes included.
public struct StreamingDecoder: Sendable {
    private let tokenizer: QwenTokenizer
    private let skipSpecialTokens: Bool
    private var pending: [UInt8] = []

    public init(tokenizer: QwenTokenizer, skipSpecialTokens: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Adds one token; returns the text that is now complete (possibly empty).
    public mutating func push(_ id: Int32) -> String {
        guard let bytes = tokenizer.bytes(of: id), !(skipSpecialTokens && tokenizer.isSpecial(id))
        else { return "" }
        pending.append(contentsOf: bytes)
        let cut = Self.completePrefixLength(pending)
        guard cut > 0 else { return "" }
        let text = String(decoding: pending[..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    /// Returns whatever is still held (an unfinished sequence decodes to U+FFFD) and resets.
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Bytes held back because they may still become a character.
    public var heldByteCount: Int { pending.count }

    /// Length of the prefix that can be decoded now: everything except a trailing lead byte whose sequence is still
    /// short. Cutting before a non-continuation byte never changes how a lossy UTF-8 decode groups bytes.
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        var k = n - 1
        while k >= 0 && k >= n - 4 {
            let byte = bytes[k]
            if byte & 0xC0 != 0x80 {
                let needed: Int
                switch byte {
                case 0xC2...0xDF: needed = 2
                case 0xE0...0xEF: needed = 3
                case 0xF0...0xF4: needed = 4
                default: needed = 1
                }
                return n - k < needed ? k : n
            }
            k -= 1
        }
        return n
    }
}
