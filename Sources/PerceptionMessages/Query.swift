/// A perception query (`perception/Query` v1): a question about a camera frame, or a direct SAM2 prompt.
public struct Query: Sendable, Equatable {
    public static let schema = "perception/Query"
    public static let version: Int64 = 1

    /// Answer format the reasoning model is asked for.
    public enum Mode: String, Sendable, CaseIterable { case auto, single, multi }

    /// Which frame to answer about.
    public enum FrameSelector: Sendable, Equatable {
        /// The newest frame when the query arrives.
        case newest
        /// The frame with exactly this capture stamp (UTC ns).
        case stamp(Int64)
        /// The frame with this sequence number; a future one is waited for (bounded).
        case seq(UInt64)
    }

    /// A direct SAM2 prompt in image pixels; skips reasoning.
    public struct Prompt: Sendable, Equatable {
        public var boxes: [[Double]]
        public var points: [[Double]]
        /// One per point: 1 foreground, 0 background.
        public var labels: [Int]
        public init(boxes: [[Double]] = [], points: [[Double]] = [], labels: [Int] = []) {
            self.boxes = boxes
            self.points = points
            self.labels = labels
        }
    }

    public enum MaskEncoding: String, Sendable, CaseIterable { case rle, png, none }

    public struct Outputs: Sendable, Equatable {
        public var mask: MaskEncoding
        public var think: Bool
        public init(mask: MaskEncoding = .rle, think: Bool = true) {
            self.mask = mask
            self.think = think
        }
    }

    public var requestId: String
    public var text: String?
    /// nil: the node's configured default (`model.mode`).
    public var mode: Mode?
    public var prompt: Prompt?
    public var frame: FrameSelector
    public var outputs: Outputs
    /// Milliseconds. Below `absoluteDeadlineThreshold`: a budget from arrival; at or above it: UTC epoch ms.
    public var deadlineMs: Int64?

    /// Deadlines at or above this many ms (2001-09-09 as epoch ms) are absolute times, below it budgets.
    public static let absoluteDeadlineThreshold: Int64 = 1_000_000_000_000

    public init(
        requestId: String, text: String? = nil, mode: Mode? = nil, prompt: Prompt? = nil,
        frame: FrameSelector = .newest, outputs: Outputs = Outputs(), deadlineMs: Int64? = nil
    ) {
        self.requestId = requestId
        self.text = text
        self.mode = mode
        self.prompt = prompt
        self.frame = frame
        self.outputs = outputs
        self.deadlineMs = deadlineMs
    }
}

/// Limits applied while decoding a query (from the `limits.*` config keys).
public struct QueryLimits: Sendable, Equatable {
    public var maxTextBytes: Int
    public var maxRequestIdBytes: Int
    public var maxPromptItems: Int
    public init(maxTextBytes: Int = 64 * 1024, maxRequestIdBytes: Int = 256, maxPromptItems: Int = 64) {
        self.maxTextBytes = maxTextBytes
        self.maxRequestIdBytes = maxRequestIdBytes
        self.maxPromptItems = maxPromptItems
    }
}

/// A query that could not be accepted: the error to answer with, and the request_id when one was readable.
public struct QueryRejection: Error, Sendable, Equatable {
    public var requestId: String?
    public var error: ResultError
    public init(requestId: String?, _ code: ErrorCode, _ message: String) {
        self.requestId = requestId
        self.error = ResultError(code, message)
    }
}

extension Query {
    /// Decodes and validates a query payload. Every failure becomes a `QueryRejection` naming the field.
    public static func decode(_ bytes: [UInt8], limits: QueryLimits = QueryLimits()) -> Swift.Result<Query, QueryRejection> {
        let value: MsgValue
        do {
            value = try MsgPack.decode(bytes)
        } catch {
            return .failure(QueryRejection(requestId: nil, .badRequest, error.description))
        }
        return decode(value, limits: limits)
    }

    public static func decode(_ value: MsgValue, limits: QueryLimits = QueryLimits()) -> Swift.Result<Query, QueryRejection> {
        guard case .map = value else {
            return .failure(QueryRejection(requestId: nil, .badRequest, "payload is a msgpack \(value.typeName), expected a map"))
        }
        let id: String
        switch value["request_id"] {
        case nil:
            return .failure(QueryRejection(requestId: nil, .badRequest, "missing required key request_id"))
        case .string(let s)?:
            guard !s.isEmpty else { return .failure(QueryRejection(requestId: nil, .badRequest, "request_id is empty")) }
            guard s.utf8.count <= limits.maxRequestIdBytes else {
                return .failure(QueryRejection(requestId: nil, .badRequest, "request_id is longer than \(limits.maxRequestIdBytes) bytes"))
            }
            id = s
        case .invalidString?:
            return .failure(QueryRejection(requestId: nil, .badRequest, "request_id is not valid UTF-8"))
        case let other?:
            return .failure(QueryRejection(requestId: nil, .badRequest, "request_id must be str, got \(other.typeName)"))
        }
        do {
            return .success(try decodeFields(value, id: id, limits: limits))
        } catch {
            return .failure(error)
        }
    }

    private static func decodeFields(_ v: MsgValue, id: String, limits: QueryLimits) throws(QueryRejection) -> Query {
        func bad(_ message: String) -> QueryRejection { QueryRejection(requestId: id, .badRequest, message) }
        func string(_ key: String, _ value: MsgValue) throws(QueryRejection) -> String {
            switch value {
            case .string(let s): return s
            case .invalidString: throw bad("\(key) is not valid UTF-8")
            default: throw bad("\(key) must be str, got \(value.typeName)")
            }
        }

        switch v["v"] {
        case nil: break
        case let ver?:
            guard let n = ver.int64 else { throw bad("v must be int, got \(ver.typeName)") }
            guard n == version else {
                throw QueryRejection(requestId: id, .unsupportedVersion, "Query v\(n) is not supported; this node speaks v\(version)")
            }
        }
        if let s = v["schema"] {
            let name = try string("schema", s)
            guard name == schema else { throw bad("schema is \"\(name)\", expected \"\(schema)\"") }
        }

        var q = Query(requestId: id)
        if let t = v["text"] {
            let text = try string("text", t)
            guard text.utf8.count <= limits.maxTextBytes else {
                throw bad("text is \(text.utf8.count) bytes, more than limits.max_text_bytes=\(limits.maxTextBytes)")
            }
            q.text = text
        }
        if let m = v["mode"] {
            let s = try string("mode", m)
            guard let mode = Mode(rawValue: s) else { throw bad("mode must be auto, single or multi, got \"\(s)\"") }
            q.mode = mode
        }
        if let p = v["prompt"] {
            q.prompt = try decodePrompt(p, limits: limits, bad: bad)
        }
        if let f = v["frame"] {
            guard case .map = f else { throw bad("frame must be map, got \(f.typeName)") }
            let stamp = f["stamp_ns"], seq = f["seq"]
            switch (stamp, seq) {
            case (let s?, nil):
                guard let n = s.int64 else { throw bad("frame.stamp_ns must be int, got \(s.typeName)") }
                q.frame = .stamp(n)
            case (nil, let s?):
                guard let n = s.int64, n >= 0 else { throw bad("frame.seq must be a non-negative int, got \(s.typeName)") }
                q.frame = .seq(UInt64(n))
            case (nil, nil): throw bad("frame must contain stamp_ns or seq")
            case (_?, _?): throw bad("frame must contain only one of stamp_ns and seq")
            }
        }
        if let o = v["outputs"] {
            guard case .map = o else { throw bad("outputs must be map, got \(o.typeName)") }
            if let m = o["mask"] {
                let s = try string("outputs.mask", m)
                guard let enc = MaskEncoding(rawValue: s) else { throw bad("outputs.mask must be rle, png or none, got \"\(s)\"") }
                q.outputs.mask = enc
            }
            if let t = o["think"] {
                guard case .bool(let b) = t else { throw bad("outputs.think must be bool, got \(t.typeName)") }
                q.outputs.think = b
            }
        }
        if let d = v["deadline_ms"] {
            guard let n = d.int64 else { throw bad("deadline_ms must be int, got \(d.typeName)") }
            q.deadlineMs = n
        }
        if q.prompt == nil && (q.text ?? "").isEmpty {
            throw bad(v["text"] == nil ? "missing key text (required unless prompt is given)" : "text is empty")
        }
        return q
    }

    private static func decodePrompt(
        _ p: MsgValue, limits: QueryLimits, bad: (String) -> QueryRejection
    ) throws(QueryRejection) -> Prompt {
        guard case .map = p else { throw bad("prompt must be map, got \(p.typeName)") }
        func coordinates(_ key: String, arity: Int) throws(QueryRejection) -> [[Double]] {
            guard let raw = p[key] else { return [] }
            guard case .array(let items) = raw else { throw bad("prompt.\(key) must be array, got \(raw.typeName)") }
            guard items.count <= limits.maxPromptItems else {
                throw bad("prompt.\(key) has \(items.count) entries, at most \(limits.maxPromptItems)")
            }
            var out: [[Double]] = []
            for (i, item) in items.enumerated() {
                guard case .array(let xs) = item, xs.count == arity else {
                    throw bad("prompt.\(key)[\(i)] must be an array of \(arity) numbers")
                }
                var row: [Double] = []
                for x in xs {
                    guard let d = x.number else { throw bad("prompt.\(key)[\(i)] must contain finite numbers, got \(x.typeName)") }
                    row.append(d)
                }
                if arity == 4, row[2] < row[0] || row[3] < row[1] {
                    throw bad("prompt.\(key)[\(i)] must be [x1, y1, x2, y2] with x2 >= x1 and y2 >= y1")
                }
                out.append(row)
            }
            return out
        }
        var prompt = Prompt(boxes: try coordinates("boxes", arity: 4), points: try coordinates("points", arity: 2))
        if let raw = p["labels"] {
            guard case .array(let items) = raw else { throw bad("prompt.labels must be array, got \(raw.typeName)") }
            for (i, item) in items.enumerated() {
                guard let n = item.int64, n == 0 || n == 1 else { throw bad("prompt.labels[\(i)] must be 0 or 1") }
                prompt.labels.append(Int(n))
            }
            guard prompt.labels.count == prompt.points.count else {
                throw bad("prompt.labels has \(prompt.labels.count) entries but prompt.points has \(prompt.points.count)")
            }
        } else {
            prompt.labels = Array(repeating: 1, count: prompt.points.count)
        }
        guard !prompt.boxes.isEmpty || !prompt.points.isEmpty else { throw bad("prompt must contain boxes or points") }
        return prompt
    }

    /// The msgpack map a planner sends.
    public func messageValue() -> MsgValue {
        var pairs: [(String, MsgValue)] = [
            ("schema", .string(Query.schema)), ("v", .int(Query.version)), ("request_id", .string(requestId)),
        ]
        if let text { pairs.append(("text", .string(text))) }
        if let mode { pairs.append(("mode", .string(mode.rawValue))) }
        if let prompt {
            var p: [(String, MsgValue)] = []
            if !prompt.boxes.isEmpty { p.append(("boxes", .array(prompt.boxes.map { .array($0.map(MsgValue.double)) }))) }
            if !prompt.points.isEmpty {
                p.append(("points", .array(prompt.points.map { .array($0.map(MsgValue.double)) })))
                p.append(("labels", .array(prompt.labels.map { .int(Int64($0)) })))
            }
            pairs.append(("prompt", .object(p)))
        }
        switch frame {
        case .newest: break
        case .stamp(let s): pairs.append(("frame", .object([("stamp_ns", .int(s))])))
        case .seq(let s): pairs.append(("frame", .object([("seq", .uint(s))])))
        }
        pairs.append(("outputs", .object([("mask", .string(outputs.mask.rawValue)), ("think", .bool(outputs.think))])))
        if let deadlineMs { pairs.append(("deadline_ms", .int(deadlineMs))) }
        return .object(pairs)
    }

    public func encoded() -> [UInt8] { MsgPack.encode(messageValue()) }
}
