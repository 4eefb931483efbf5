import Foundation

/// A token matched verbatim in text before pre-tokenization (`<|im_start|>`, `<|image_pad|>`, ...).
public struct AddedToken: Sendable, Equatable {
    public let id: Int32
    public let content: String
    /// Special tokens are the ones `decode(_:skipSpecialTokens:)` can drop.
    public let isSpecial: Bool

    public init(id: Int32, content: String, isSpecial: Bool) {
        self.id = id
        self.content = content
        self.isSpecial = isSpecial
    }
}

/// The Qwen2 / Qwen2.5 byte-level BPE tokenizer (NFC, Qwen2 pre-tokenizer, merges by rank), matching Hugging Face
/// `tokenizers` on tokenizer.json, vocab.json + merges.txt, or a tiktoken rank file.
public final class QwenTokenizer: @unchecked Sendable {
    /// Raw bytes of every id (added tokens: their UTF-8 content); empty for ids the vocabulary does not define.
    private let bytesByID: [[UInt8]]
    private let definedIDs: [Bool]
    private let specialIDs: Set<Int32>
    private let byteIDs: [Int32]
    /// (left id << 32 | right id) → (rank << 32 | merged id).
    private let merges: [UInt64: UInt64]
    private let addedByFirstByte: [UInt8: [(bytes: [UInt8], id: Int32)]]
    private let addedByContent: [String: Int32]

    /// Added tokens in id order, as the files define them.
    public let addedTokens: [AddedToken]
    /// Number of ordinary (BPE) vocabulary entries.
    public let vocabularySize: Int

    private let cacheLock = NSLock()
    private var cache: [[UInt8]: [Int32]] = [:]
    private static let cacheLimit = 65_536

    /// Loads from a directory: tokenizer.json when present, else vocab.json + merges.txt with the added tokens of
    /// tokenizer_config.json (`added_tokens_decoder`), if that file exists.
    public convenience init(directory: String) throws {
        let fm = FileManager.default
        let json = (directory as NSString).appendingPathComponent("tokenizer.json")
        let vocab = (directory as NSString).appendingPathComponent("vocab.json")
        let merges = (directory as NSString).appendingPathComponent("merges.txt")
        let config = (directory as NSString).appendingPathComponent("tokenizer_config.json")
        if fm.fileExists(atPath: json) {
            try self.init(tokenizerJSON: json)
        } else if fm.fileExists(atPath: vocab) && fm.fileExists(atPath: merges) {
            try self.init(
                vocabJSON: vocab, mergesTXT: merges,
                tokenizerConfig: fm.fileExists(atPath: config) ? config : nil)
        } else {
            throw TokenizerError.missingFiles(
                directory: directory, expected: "tokenizer.json or vocab.json + merges.txt")
        }
    }

    /// Loads a Hugging Face tokenizer.json whose normalizer, pre-tokenizer and model are Qwen2's.
    public convenience init(tokenizerJSON path: String) throws {
        let root = try Self.readJSONObject(path)
        try Self.checkPipeline(root, path: path)
        guard let model = root["model"] as? [String: Any] else {
            throw TokenizerError.malformed(path: path, key: "model", message: "missing or not an object")
        }
        if let type = model["type"] as? String, type != "BPE" {
            throw TokenizerError.unsupported(path: path, key: "model.type", value: type)
        }
        if let fallback = model["byte_fallback"] as? Bool, fallback {
            throw TokenizerError.unsupported(path: path, key: "model.byte_fallback", value: "true")
        }
        guard let vocab = model["vocab"] as? [String: Any] else {
            throw TokenizerError.malformed(
                path: path, key: "model.vocab", message: "missing or not an object")
        }
        guard let rawMerges = model["merges"] as? [Any] else {
            throw TokenizerError.malformed(
                path: path, key: "model.merges", message: "missing or not an array")
        }
        var pairs: [(String, String)] = []
        pairs.reserveCapacity(rawMerges.count)
        for (index, entry) in rawMerges.enumerated() {
            if let text = entry as? String, let pair = Self.splitMerge(text) {
                pairs.append(pair)
            } else if let array = entry as? [Any], array.count == 2, let a = array[0] as? String,
                let b = array[1] as? String
            {
                pairs.append((a, b))
            } else {
                throw TokenizerError.badMerge(path: path, line: index, text: "\(entry)")
            }
        }
        var added: [AddedToken] = []
        if let list = root["added_tokens"] as? [Any] {
            for (index, item) in list.enumerated() {
                let key = "added_tokens[\(index)]"
                guard let object = item as? [String: Any], let id = (object["id"] as? NSNumber)?.int32Value,
                    let content = object["content"] as? String, !content.isEmpty
                else {
                    throw TokenizerError.malformed(path: path, key: key, message: "needs id and content")
                }
                for flag in ["lstrip", "rstrip", "single_word"] where (object[flag] as? Bool) == true {
                    throw TokenizerError.unsupported(path: path, key: "\(key).\(flag)", value: "true")
                }
                added.append(
                    AddedToken(id: id, content: content, isSpecial: (object["special"] as? Bool) ?? false))
            }
        }
        try self.init(
            vocab: Self.vocabIDs(vocab, path: path, key: "model.vocab"), merges: pairs, added: added,
            path: path)
    }

    /// Loads vocab.json + merges.txt (LF or CRLF, optional `#version` line) and, when given, the added tokens of a
    /// tokenizer_config.json (`added_tokens_decoder`).
    public convenience init(vocabJSON: String, mergesTXT: String, tokenizerConfig: String?) throws {
        let vocab = try Self.vocabIDs(Self.readJSONObject(vocabJSON), path: vocabJSON, key: "vocab")
        guard let data = FileManager.default.contents(atPath: mergesTXT) else {
            throw TokenizerError.unreadable(path: mergesTXT, message: "cannot read file")
        }
        var pairs: [(String, String)] = []
        var lineNumber = 0
        for rawLine in String(decoding: data, as: UTF8.self).split(
            omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        {
            lineNumber += 1
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.isEmpty || (lineNumber == 1 && line.hasPrefix("#version")) { continue }
            guard let pair = Self.splitMerge(String(line)) else {
                throw TokenizerError.badMerge(path: mergesTXT, line: lineNumber, text: String(line))
            }
            pairs.append(pair)
        }
        var added: [AddedToken] = []
        if let configPath = tokenizerConfig {
            let config = try Self.readJSONObject(configPath)
            if let decoder = config["added_tokens_decoder"] as? [String: Any] {
                for (key, value) in decoder {
                    guard let id = Int32(key), let object = value as? [String: Any],
                        let content = object["content"] as? String,
                        !content.isEmpty
                    else {
                        throw TokenizerError.malformed(
                            path: configPath, key: "added_tokens_decoder.\(key)",
                            message: "needs an integer id and content")
                    }
                    added.append(
                        AddedToken(id: id, content: content, isSpecial: (object["special"] as? Bool) ?? false))
                }
            }
        }
        try self.init(vocab: vocab, merges: pairs, added: added, path: mergesTXT)
    }

    /// Loads a tiktoken rank file (`base64 rank` per line; rank = id, merges by the rank of the merged bytes, which
    /// is the same BPE as the equivalent merges list) plus the added tokens, which such files do not carry.
    public convenience init(tiktoken path: String, addedTokens: [AddedToken]) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenizerError.unreadable(path: path, message: "cannot read file")
        }
        var tokens: [(bytes: [UInt8], rank: Int32)] = []
        var lineNumber = 0
        for line in String(decoding: data, as: UTF8.self).split(whereSeparator: {
            $0 == "\n" || $0 == "\r\n"
        }) {
            lineNumber += 1
            let fields = line.split(separator: " ")
            guard fields.count == 2, let bytes = Data(base64Encoded: String(fields[0])),
                let rank = Int32(fields[1]), rank >= 0
            else {
                throw TokenizerError.malformed(
                    path: path, key: "line \(lineNumber)", message: "expected `base64 rank`")
            }
            tokens.append((Array(bytes), rank))
        }
        var idByBytes: [[UInt8]: Int32] = [:]
        idByBytes.reserveCapacity(tokens.count)
        for token in tokens { idByBytes[token.bytes] = token.rank }
        var merges: [UInt64: UInt64] = [:]
        for token in tokens where token.bytes.count >= 2 {
            for split in 1..<token.bytes.count {
                guard let left = idByBytes[Array(token.bytes[..<split])],
                    let right = idByBytes[Array(token.bytes[split...])]
                else { continue }
                merges[Self.pairKey(left, right)] =
                    UInt64(UInt32(token.rank)) << 32 | UInt64(UInt32(token.rank))
            }
        }
        try self.init(
            bytesByID: tokens.map { ($0.rank, $0.bytes) }, merges: merges, added: addedTokens, path: path)
    }

    private convenience init(
        vocab: [String: Int32], merges pairs: [(String, String)], added: [AddedToken], path: String
    ) throws {
        var entries: [(Int32, [UInt8])] = []
        entries.reserveCapacity(vocab.count)
        for (token, id) in vocab {
            guard let bytes = ByteLevel.bytes(ofToken: token) else {
                throw TokenizerError.badToken(
                    path: path, token: token, message: "not spelled in the byte-level alphabet")
            }
            entries.append((id, bytes))
        }
        var merges: [UInt64: UInt64] = [:]
        merges.reserveCapacity(pairs.count)
        for (rank, pair) in pairs.enumerated() {
            guard let left = vocab[pair.0], let right = vocab[pair.1], let merged = vocab[pair.0 + pair.1]
            else {
                throw TokenizerError.badMerge(path: path, line: rank, text: "\(pair.0) \(pair.1)")
            }
            let key = Self.pairKey(left, right)
            if merges[key] == nil { merges[key] = UInt64(rank) << 32 | UInt64(UInt32(merged)) }
        }
        try self.init(bytesByID: entries, merges: merges, added: added, path: path)
    }

    private init(
        bytesByID entries: [(Int32, [UInt8])], merges: [UInt64: UInt64], added: [AddedToken],
        path: String
    ) throws {
        let sortedAdded = added.sorted { $0.id < $1.id }
        let maxID = max(
            entries.map { Int($0.0) }.max() ?? -1, sortedAdded.map { Int($0.id) }.max() ?? -1)
        guard maxID < 4 * (entries.count + sortedAdded.count) + 1024 else {
            throw TokenizerError.malformed(
                path: path, key: "ids", message: "id \(maxID) is far beyond the vocabulary size")
        }
        var bytesByID = [[UInt8]](repeating: [], count: maxID + 1)
        var defined = [Bool](repeating: false, count: maxID + 1)
        var byteIDs = [Int32](repeating: -1, count: 256)
        for (id, bytes) in entries {
            guard id >= 0 else {
                throw TokenizerError.badToken(
                    path: path, token: ByteLevel.token(ofBytes: bytes), message: "negative id \(id)")
            }
            bytesByID[Int(id)] = bytes
            defined[Int(id)] = true
            if bytes.count == 1 { byteIDs[Int(bytes[0])] = id }
        }
        if let missing = byteIDs.firstIndex(of: -1) {
            throw TokenizerError.badToken(
                path: path, token: ByteLevel.token(ofBytes: [UInt8(missing)]),
                message: "byte \(missing) has no vocabulary entry")
        }
        var byFirst: [UInt8: [(bytes: [UInt8], id: Int32)]] = [:]
        var byContent: [String: Int32] = [:]
        for token in sortedAdded {
            guard token.id >= 0, let first = token.content.utf8.first else {
                throw TokenizerError.badToken(path: path, token: token.content, message: "negative id or empty content")
            }
            let bytes = Array(token.content.utf8)
            bytesByID[Int(token.id)] = bytes
            defined[Int(token.id)] = true
            byFirst[first, default: []].append((bytes, token.id))
            byContent[token.content] = token.id
        }
        for key in byFirst.keys { byFirst[key]?.sort { $0.bytes.count > $1.bytes.count } }
        self.bytesByID = bytesByID
        self.definedIDs = defined
        self.byteIDs = byteIDs
        self.merges = merges
        self.addedByFirstByte = byFirst
        self.addedByContent = byContent
        self.addedTokens = sortedAdded
        self.specialIDs = Set(sortedAdded.filter(\.isSpecial).map(\.id))
        self.vocabularySize = entries.count
    }

    // MARK: - Public API

    /// The id of an added token by its exact content (`"<|image_pad|>"`), or nil.
    public func specialTokenID(_ content: String) -> Int32? { addedByContent[content] }

    /// Qwen2.5-VL's stop ids (generation_config.json: `<|im_end|>`, `<|endoftext|>`), those this file defines.
    public var eosTokenIDs: [Int32] {
        ["<|im_end|>", "<|endoftext|>"].compactMap { addedByContent[$0] }
    }

    /// The raw bytes an id stands for, or nil for an id the vocabulary does not define.
    public func bytes(of id: Int32) -> [UInt8]? {
        guard id >= 0, Int(id) < bytesByID.count, definedIDs[Int(id)] else { return nil }
        return bytesByID[Int(id)]
    }

    /// Whether an id is an added token flagged special.
    public func isSpecial(_ id: Int32) -> Bool { specialIDs.contains(id) }

    /// Token ids of `text`: added tokens matched verbatim (leftmost, longest), the text between them NFC-normalized,
    /// pre-tokenized and BPE-encoded.
    public func encode(_ text: String) -> [Int32] {
        let bytes = Array(text.utf8)
        var out: [Int32] = []
        out.reserveCapacity(bytes.count / 3 + 4)
        var segmentStart = 0
        var i = 0
        while i < bytes.count {
            if let candidates = addedByFirstByte[bytes[i]],
                let match = candidates.first(where: { Self.hasPrefix(bytes, at: i, $0.bytes) })
            {
                encodeOrdinary(bytes[segmentStart..<i], into: &out)
                out.append(match.id)
                i += match.bytes.count
                segmentStart = i
            } else {
                i += 1
            }
        }
        encodeOrdinary(bytes[segmentStart..<bytes.count], into: &out)
        return out
    }

    /// Text of `ids`: their bytes concatenated and decoded as UTF-8, invalid sequences replaced by U+FFFD (as
    /// `tokenizers` does). Ids the vocabulary does not define (embedding padding rows) are skipped, as there.
    public func decode(_ ids: [Int32], skipSpecialTokens: Bool = false) -> String {
        String(decoding: decodeBytes(ids, skipSpecialTokens: skipSpecialTokens), as: UTF8.self)
    }

    /// The concatenated bytes of `ids` (see `decode`).
    public func decodeBytes(_ ids: [Int32], skipSpecialTokens: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        for id in ids {
            guard let bytes = bytes(of: id) else { continue }
            if skipSpecialTokens && specialIDs.contains(id) { continue }
            out.append(contentsOf: bytes)
        }
        return out
    }

    // MARK: - Encoding internals

    private static func hasPrefix(_ bytes: [UInt8], at start: Int, _ prefix: [UInt8]) -> Bool {
        guard start + prefix.count <= bytes.count else { return false }
        for k in 0..<prefix.count where bytes[start + k] != prefix[k] { return false }
        return true
    }

    private func encodeOrdinary(_ slice: ArraySlice<UInt8>, into out: inout [Int32]) {
        guard !slice.isEmpty else { return }
        var text = String(decoding: slice, as: UTF8.self)
        var scalars: [Unicode.Scalar]
        if slice.contains(where: { $0 >= 0x80 }) {
            text = text.precomposedStringWithCanonicalMapping
            scalars = Self.composeHangulLVT(Array(text.unicodeScalars))
        } else {
            scalars = Array(text.unicodeScalars)
        }
        for range in QwenPreTokenizer.split(scalars: scalars) {
            // Keyed by bytes: String equality is canonical equivalence, which would merge distinct pieces.
            var piece: [UInt8] = []
            piece.reserveCapacity(range.count * 2)
            for scalar in scalars[range] { UTF8.encode(scalar) { piece.append($0) } }
            cacheLock.lock()
            let cached = cache[piece]
            cacheLock.unlock()
            if let cached {
                out.append(contentsOf: cached)
                continue
            }
            let ids = bpe(piece)
            cacheLock.lock()
            if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
            cache[piece] = ids
            cacheLock.unlock()
            out.append(contentsOf: ids)
        }
    }

    /// Foundation's NFC on Linux leaves an LV syllable followed by a trailing jamo uncomposed (가 + ᆨ stays two
    /// scalars; NFC is 각); compose those pairs as the Unicode Hangul algorithm does.
    static func composeHangulLVT(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(scalars.count)
        for scalar in scalars {
            if (0x11A8...0x11C2).contains(scalar.value), let last = out.last,
                (0xAC00...0xD7A3).contains(last.value),
                (last.value - 0xAC00) % 28 == 0,
                let composed = Unicode.Scalar(last.value + scalar.value - 0x11A7)
            {
                out[out.count - 1] = composed
            } else {
                out.append(scalar)
            }
        }
        return out
    }

    @inline(__always)
    private static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// Merges adjacent pairs by lowest rank (leftmost first among equals) until none applies.
    private func bpe(_ bytes: [UInt8]) -> [Int32] {
        var ids = bytes.map { byteIDs[Int($0)] }
        if ids.count < 2 { return ids }
        let none = UInt64.max
        var pairs = [UInt64](repeating: none, count: ids.count - 1)
        for p in 0..<pairs.count { pairs[p] = merges[Self.pairKey(ids[p], ids[p + 1])] ?? none }
        while true {
            var best = none
            var position = -1
            for p in 0..<pairs.count where pairs[p] < best {
                best = pairs[p]
                position = p
            }
            if position < 0 { break }
            ids[position] = Int32(bitPattern: UInt32(truncatingIfNeeded: best))
            ids.remove(at: position + 1)
            pairs.remove(at: position)
            if position < pairs.count {
                pairs[position] = merges[Self.pairKey(ids[position], ids[position + 1])] ?? none
            }
            if position > 0 {
                pairs[position - 1] = merges[Self.pairKey(ids[position - 1], ids[position])] ?? none
            }
        }
        return ids
    }

    // MARK: - Loading internals

    private static func readJSONObject(_ path: String) throws -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenizerError.unreadable(path: path, message: "cannot read file")
        }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw TokenizerError.unreadable(path: path, message: "not JSON: \(error)")
        }
        guard let dictionary = object as? [String: Any] else {
            throw TokenizerError.malformed(path: path, key: "(top level)", message: "not an object")
        }
        return dictionary
    }

    private static func vocabIDs(_ object: [String: Any], path: String, key: String) throws
        -> [String: Int32]
    {
        var vocab: [String: Int32] = [:]
        vocab.reserveCapacity(object.count)
        for (token, value) in object {
            guard let number = value as? NSNumber, let id = Int32(exactly: number.doubleValue), id >= 0
            else {
                throw TokenizerError.malformed(
                    path: path, key: "\(key).\(token)", message: "id is not a non-negative integer")
            }
            vocab[token] = id
        }
        return vocab
    }

    private static func splitMerge(_ text: String) -> (String, String)? {
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    /// Rejects tokenizer.json pipelines other than Qwen2's (NFC normalizer, Split with the Qwen2 regex + ByteLevel).
    private static func checkPipeline(_ root: [String: Any], path: String) throws {
        func types(_ node: Any?, _ list: String) -> [[String: Any]] {
            guard let object = node as? [String: Any] else { return [] }
            if object["type"] as? String == "Sequence", let items = object[list] as? [Any] {
                return items.compactMap { $0 as? [String: Any] }
            }
            return [object]
        }
        for normalizer in types(root["normalizer"], "normalizers") {
            let type = normalizer["type"] as? String ?? "?"
            if type != "NFC" {
                throw TokenizerError.unsupported(path: path, key: "normalizer.type", value: type)
            }
        }
        let steps = types(root["pre_tokenizer"], "pretokenizers")
        var sawSplit = false
        for step in steps {
            let type = step["type"] as? String ?? "?"
            switch type {
            case "Split":
                let pattern = (step["pattern"] as? [String: Any])?["Regex"] as? String ?? "?"
                if pattern != QwenPreTokenizer.pattern {
                    throw TokenizerError.unsupported(
                        path: path, key: "pre_tokenizer.Split.pattern", value: pattern)
                }
                sawSplit = true
            case "ByteLevel":
                if (step["use_regex"] as? Bool) == true || (step["add_prefix_space"] as? Bool) == true {
                    throw TokenizerError.unsupported(
                        path: path, key: "pre_tokenizer.ByteLevel", value: "use_regex/add_prefix_space")
                }
            default:
                throw TokenizerError.unsupported(path: path, key: "pre_tokenizer.type", value: type)
            }
        }
        if !sawSplit {
            throw TokenizerError.unsupported(
                path: path, key: "pre_tokenizer", value: "no Qwen2 Split regex")
        }
    }
}
