/// The answer to one query (`perception/Result` v1), published on `perception/result` and sent as the service
/// reply. Every query gets exactly one, also when it fails.
public struct QueryResult: Sendable, Equatable {
    public static let schema = "perception/Result"
    public static let version: Int64 = 1

    public enum Status: String, Sendable, CaseIterable {
        case ok
        case noTarget = "no_target"
        case error
    }

    /// The frame the answer is about (ROS header fields).
    public struct Header: Sendable, Equatable {
        public var stampNs: Int64
        public var frameId: String
        public var seq: UInt64
        public init(stampNs: Int64, frameId: String, seq: UInt64) {
            self.stampNs = stampNs
            self.frameId = frameId
            self.seq = seq
        }
    }

    /// A mask as sent on the wire.
    public enum Mask: Sendable, Equatable {
        /// COCO compressed RLE, decodable by pycocotools (`size` is [height, width]).
        case cocoRLE(height: Int, width: Int, counts: String)
        /// A mono8 PNG, 255 inside the mask and 0 outside.
        case png([UInt8])
    }

    /// One segmented object, in image pixels.
    public struct Object: Sendable, Equatable {
        public var bbox: [Double]
        public var points: [[Double]]
        public var score: Double
        public var area: Int
        public var centroid: [Double]?
        public var mask: Mask?
        public init(bbox: [Double], points: [[Double]], score: Double, area: Int, centroid: [Double]?, mask: Mask?) {
            self.bbox = bbox
            self.points = points
            self.score = score
            self.area = area
            self.centroid = centroid
            self.mask = mask
        }
    }

    /// Milliseconds spent per stage; `queue` is arrival to start of work, `total` arrival to reply.
    public struct Timing: Sendable, Equatable {
        public var queue = 0.0, preprocess = 0.0, vision = 0.0, prefill = 0.0, decode = 0.0, segment = 0.0, total = 0.0
        public init() {}
    }

    public struct Model: Sendable, Equatable {
        public var reasoner: String
        public var segmenter: String
        public var backend: String
        public init(reasoner: String = "", segmenter: String = "", backend: String = "") {
            self.reasoner = reasoner
            self.segmenter = segmenter
            self.backend = backend
        }
    }

    public var requestId: String
    public var status: Status
    public var error: ResultError?
    public var header: Header?
    /// Width and height of the frame.
    public var imageSize: (width: Int, height: Int)? {
        get { imageWidth.map { ($0, imageHeight ?? 0) } }
        set {
            imageWidth = newValue?.width
            imageHeight = newValue?.height
        }
    }
    private var imageWidth: Int?
    private var imageHeight: Int?
    public var objects: [Object]
    public var think: String?
    public var answer: String?
    public var timing: Timing
    public var model: Model?
    /// Prompt and generated token counts of the reasoning model, when it ran.
    public var tokens: (prompt: Int, generated: Int)? {
        get { promptTokens.map { ($0, generatedTokens ?? 0) } }
        set {
            promptTokens = newValue?.prompt
            generatedTokens = newValue?.generated
        }
    }
    private var promptTokens: Int?
    private var generatedTokens: Int?
    /// Which per-frame caches this query was served from (stage name -> hit), e.g. `vision`, `prefix`,
    /// `embedding`; only the stages that ran are listed.
    public var cache: [String: Bool] = [:]

    public init(requestId: String, status: Status, error: ResultError? = nil) {
        self.requestId = requestId
        self.status = status
        self.error = error
        self.objects = []
        self.timing = Timing()
    }

    /// An error result.
    public static func failure(_ requestId: String, _ error: ResultError) -> QueryResult {
        QueryResult(requestId: requestId, status: .error, error: error)
    }
}

extension QueryResult {
    public func messageValue() -> MsgValue {
        var pairs: [(String, MsgValue)] = [
            ("schema", .string(QueryResult.schema)), ("v", .int(QueryResult.version)),
            ("request_id", .string(requestId)), ("status", .string(status.rawValue)),
        ]
        if let error {
            pairs.append(("error", .object([("code", .string(error.code.rawValue)), ("message", .string(error.message))])))
        }
        if let header {
            pairs.append(("header", .object([
                ("stamp_ns", .int(header.stampNs)), ("frame_id", .string(header.frameId)), ("seq", .uint(header.seq)),
            ])))
        }
        if let size = imageSize {
            pairs.append(("image", .object([("width", .int(Int64(size.width))), ("height", .int(Int64(size.height)))])))
        }
        pairs.append(("objects", .array(objects.map { o in
            var e: [(String, MsgValue)] = [
                ("bbox", .array(o.bbox.map(MsgValue.double))),
                ("points", .array(o.points.map { .array($0.map(MsgValue.double)) })),
                ("score", .double(o.score)), ("area", .int(Int64(o.area))),
            ]
            if let c = o.centroid { e.append(("centroid", .array(c.map(MsgValue.double)))) }
            switch o.mask {
            case nil: break
            case .cocoRLE(let h, let w, let counts)?:
                e.append(("mask", .object([
                    ("encoding", .string("coco_rle")), ("size", .array([.int(Int64(h)), .int(Int64(w))])),
                    ("counts", .string(counts)),
                ])))
            case .png(let data)?:
                e.append(("mask", .object([("encoding", .string("png")), ("data", .binary(data))])))
            }
            return .object(e)
        })))
        if let think { pairs.append(("think", .string(think))) }
        if let answer { pairs.append(("answer", .string(answer))) }
        pairs.append(("timing_ms", .object([
            ("queue", .double(timing.queue)), ("preprocess", .double(timing.preprocess)), ("vision", .double(timing.vision)),
            ("prefill", .double(timing.prefill)), ("decode", .double(timing.decode)), ("segment", .double(timing.segment)),
            ("total", .double(timing.total)),
        ])))
        if let model {
            pairs.append(("model", .object([
                ("reasoner", .string(model.reasoner)), ("segmenter", .string(model.segmenter)), ("backend", .string(model.backend)),
            ])))
        }
        if let tokens {
            pairs.append(("tokens", .object([("prompt", .int(Int64(tokens.prompt))), ("generated", .int(Int64(tokens.generated)))])))
        }
        if !cache.isEmpty {
            pairs.append(("cache", .object(cache.keys.sorted().map { ($0, .bool(cache[$0] ?? false)) })))
        }
        return .object(pairs)
    }

    public func encoded() -> [UInt8] { MsgPack.encode(messageValue()) }

    public static func == (a: QueryResult, b: QueryResult) -> Bool {
        a.requestId == b.requestId && a.status == b.status && a.error == b.error && a.header == b.header
            && a.imageWidth == b.imageWidth && a.imageHeight == b.imageHeight && a.objects == b.objects
            && a.think == b.think && a.answer == b.answer && a.timing == b.timing && a.model == b.model
            && a.promptTokens == b.promptTokens && a.generatedTokens == b.generatedTokens && a.cache == b.cache
    }

    /// Why a Result payload could not be read (for clients).
    public struct DecodeError: Error, Equatable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Decodes a Result payload as a planner would: unknown keys are ignored, required ones checked.
    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> QueryResult {
        let v: MsgValue
        do { v = try MsgPack.decode(bytes) } catch { throw DecodeError(message: error.description) }
        return try decode(v)
    }

    public static func decode(_ v: MsgValue) throws(DecodeError) -> QueryResult {
        func fail(_ m: String) -> DecodeError { DecodeError(message: m) }
        func str(_ x: MsgValue?, _ key: String) throws(DecodeError) -> String {
            guard case .string(let s)? = x else { throw fail("\(key) must be str") }
            return s
        }
        func num(_ x: MsgValue?, _ key: String) throws(DecodeError) -> Double {
            guard let d = x?.number else { throw fail("\(key) must be a number") }
            return d
        }
        func int(_ x: MsgValue?, _ key: String) throws(DecodeError) -> Int64 {
            guard let d = x?.int64 else { throw fail("\(key) must be int") }
            return d
        }
        func numbers(_ x: MsgValue?, _ key: String) throws(DecodeError) -> [Double] {
            guard case .array(let xs)? = x else { throw fail("\(key) must be array") }
            var out: [Double] = []
            for e in xs { out.append(try num(e, key)) }
            return out
        }
        guard case .map = v else { throw fail("Result payload is not a map") }
        guard try str(v["schema"], "schema") == schema else { throw fail("schema is not \(schema)") }
        guard try int(v["v"], "v") == version else { throw fail("unsupported Result version") }
        let statusName = try str(v["status"], "status")
        guard let status = Status(rawValue: statusName) else { throw fail("unknown status \(statusName)") }
        var r = QueryResult(requestId: try str(v["request_id"], "request_id"), status: status)
        if let e = v["error"] {
            let codeName = try str(e["code"], "error.code")
            guard let code = ErrorCode(rawValue: codeName) else { throw fail("unknown error.code \(codeName)") }
            r.error = ResultError(code, try str(e["message"], "error.message"))
        }
        if let h = v["header"] {
            let seq = try int(h["seq"], "header.seq")
            r.header = Header(stampNs: try int(h["stamp_ns"], "header.stamp_ns"), frameId: try str(h["frame_id"], "header.frame_id"),
                              seq: UInt64(max(0, seq)))
        }
        if let i = v["image"] {
            r.imageSize = (Int(try int(i["width"], "image.width")), Int(try int(i["height"], "image.height")))
        }
        if case .array(let objs)? = v["objects"] {
            for o in objs {
                var points: [[Double]] = []
                if case .array(let ps)? = o["points"] { for p in ps { points.append(try numbers(p, "objects.points")) } }
                var mask: Mask?
                if let m = o["mask"] {
                    switch try str(m["encoding"], "mask.encoding") {
                    case "coco_rle":
                        let size = try numbers(m["size"], "mask.size")
                        guard size.count == 2, let h = Int(exactly: size[0]), let w = Int(exactly: size[1]), h >= 0, w >= 0 else {
                            throw fail("mask.size must be [h, w] with non-negative integers")
                        }
                        mask = .cocoRLE(height: h, width: w, counts: try str(m["counts"], "mask.counts"))
                    case "png":
                        guard case .binary(let d)? = m["data"] else { throw fail("mask.data must be bin") }
                        mask = .png(d)
                    case let other: throw fail("unknown mask.encoding \(other)")
                    }
                }
                r.objects.append(Object(
                    bbox: try numbers(o["bbox"], "objects.bbox"), points: points, score: try num(o["score"], "objects.score"),
                    area: Int(try int(o["area"], "objects.area")), centroid: o["centroid"] == nil ? nil : try numbers(o["centroid"], "objects.centroid"),
                    mask: mask))
            }
        }
        if case .string(let s)? = v["think"] { r.think = s }
        if case .string(let s)? = v["answer"] { r.answer = s }
        if let t = v["timing_ms"] {
            r.timing.queue = t["queue"]?.number ?? 0
            r.timing.preprocess = t["preprocess"]?.number ?? 0
            r.timing.vision = t["vision"]?.number ?? 0
            r.timing.prefill = t["prefill"]?.number ?? 0
            r.timing.decode = t["decode"]?.number ?? 0
            r.timing.segment = t["segment"]?.number ?? 0
            r.timing.total = t["total"]?.number ?? 0
        }
        if let m = v["model"] {
            r.model = Model(reasoner: (try? str(m["reasoner"], "")) ?? "", segmenter: (try? str(m["segmenter"], "")) ?? "",
                            backend: (try? str(m["backend"], "")) ?? "")
        }
        if let t = v["tokens"], let p = t["prompt"]?.int64, let g = t["generated"]?.int64 { r.tokens = (Int(p), Int(g)) }
        if case .map(let entries)? = v["cache"] {
            for e in entries { if case .string(let k) = e.key, case .bool(let b) = e.value { r.cache[k] = b } }
        }
        return r
    }
}
