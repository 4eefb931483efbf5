/// The node's heartbeat (`perception/Status` v1), published on `perception/status` once a second.
public struct NodeStatus: Sendable, Equatable {
    public static let schema = "perception/Status"
    public static let version: Int64 = 1

    public struct Camera: Sendable, Equatable {
        /// `folder`, `v4l2`, `mcap` or `bag`.
        public var source = ""
        /// starting | streaming | reconnecting | finished | failed
        public var state = ""
        /// Frames per second over the last status period.
        public var fps = 0.0
        public var framesCaptured: UInt64 = 0
        public var framesDropped: UInt64 = 0
        public var framesCorrupt: UInt64 = 0
        public var reconnects: UInt64 = 0
        public var lastError: String?
        public init() {}
    }

    /// Request counters since start; `served` counts ok and no_target results, `failed` error results.
    public struct Requests: Sendable, Equatable {
        public var received: UInt64 = 0
        public var served: UInt64 = 0
        public var failed: UInt64 = 0
        /// Malformed messages, including those without a readable request_id (which get no Result on PUB).
        public var badRequest: UInt64 = 0
        public var overloaded: UInt64 = 0
        public var deadlineExceeded: UInt64 = 0
        /// Service replies libzmq could not route (the peer disconnected first).
        public var unroutableReplies: UInt64 = 0
        public init() {}
    }

    public var stampNs: Int64 = 0
    public var nodeName = ""
    public var namespace = ""
    /// starting | running | draining
    public var state = ""
    public var uptimeS = 0.0
    public var camera = Camera()
    public var queueDepth = 0
    public var queueCapacity = 0
    public var requests = Requests()
    /// Reserved for the per-frame embedding caches; 0 until they exist.
    public var cacheHits: UInt64 = 0
    public var modelsLoaded: [String] = []
    public var reasoner = ""
    public var segmenter = ""
    public var backend = ""
    public var lastError: String?

    public init() {}
}

extension NodeStatus {
    public func messageValue() -> MsgValue {
        var cam: [(String, MsgValue)] = [
            ("source", .string(camera.source)), ("state", .string(camera.state)), ("fps", .double(camera.fps)),
            ("frames_captured", .uint(camera.framesCaptured)), ("frames_dropped", .uint(camera.framesDropped)),
            ("frames_corrupt", .uint(camera.framesCorrupt)), ("reconnects", .uint(camera.reconnects)),
        ]
        cam.append(("last_error", camera.lastError.map(MsgValue.string) ?? .null))
        return .object([
            ("schema", .string(NodeStatus.schema)), ("v", .int(NodeStatus.version)), ("stamp_ns", .int(stampNs)),
            ("node", .object([("name", .string(nodeName)), ("namespace", .string(namespace))])),
            ("state", .string(state)), ("uptime_s", .double(uptimeS)),
            ("camera", .object(cam)),
            ("queue", .object([("depth", .int(Int64(queueDepth))), ("capacity", .int(Int64(queueCapacity)))])),
            ("requests", .object([
                ("received", .uint(requests.received)), ("served", .uint(requests.served)), ("failed", .uint(requests.failed)),
                ("bad_request", .uint(requests.badRequest)), ("overloaded", .uint(requests.overloaded)),
                ("deadline_exceeded", .uint(requests.deadlineExceeded)), ("unroutable_replies", .uint(requests.unroutableReplies)),
            ])),
            ("cache", .object([("hits", .uint(cacheHits))])),
            ("models", .object([
                ("loaded", .array(modelsLoaded.map(MsgValue.string))), ("reasoner", .string(reasoner)),
                ("segmenter", .string(segmenter)),
            ])),
            ("backend", .string(backend)),
            ("last_error", lastError.map(MsgValue.string) ?? .null),
        ])
    }

    public func encoded() -> [UInt8] { MsgPack.encode(messageValue()) }

    /// Reads a Status payload leniently (missing counters read as 0); nil when it is not a Status v1.
    public static func decode(_ bytes: [UInt8]) -> NodeStatus? {
        guard let v = try? MsgPack.decode(bytes), v["schema"] == .string(schema), v["v"]?.int64 == version else { return nil }
        func s(_ x: MsgValue?) -> String? { if case .string(let s)? = x { return s } else { return nil } }
        func u(_ x: MsgValue?) -> UInt64 { x?.int64.map { UInt64(max(0, $0)) } ?? 0 }
        var st = NodeStatus()
        st.stampNs = v["stamp_ns"]?.int64 ?? 0
        st.nodeName = s(v["node"]?["name"]) ?? ""
        st.namespace = s(v["node"]?["namespace"]) ?? ""
        st.state = s(v["state"]) ?? ""
        st.uptimeS = v["uptime_s"]?.number ?? 0
        if let c = v["camera"] {
            st.camera.source = s(c["source"]) ?? ""
            st.camera.state = s(c["state"]) ?? ""
            st.camera.fps = c["fps"]?.number ?? 0
            st.camera.framesCaptured = u(c["frames_captured"])
            st.camera.framesDropped = u(c["frames_dropped"])
            st.camera.framesCorrupt = u(c["frames_corrupt"])
            st.camera.reconnects = u(c["reconnects"])
            st.camera.lastError = s(c["last_error"])
        }
        st.queueDepth = Int(u(v["queue"]?["depth"]))
        st.queueCapacity = Int(u(v["queue"]?["capacity"]))
        if let r = v["requests"] {
            st.requests.received = u(r["received"])
            st.requests.served = u(r["served"])
            st.requests.failed = u(r["failed"])
            st.requests.badRequest = u(r["bad_request"])
            st.requests.overloaded = u(r["overloaded"])
            st.requests.deadlineExceeded = u(r["deadline_exceeded"])
            st.requests.unroutableReplies = u(r["unroutable_replies"])
        }
        st.cacheHits = u(v["cache"]?["hits"])
        if case .array(let xs)? = v["models"]?["loaded"] { st.modelsLoaded = xs.compactMap { s($0) } }
        st.reasoner = s(v["models"]?["reasoner"]) ?? ""
        st.segmenter = s(v["models"]?["segmenter"]) ?? ""
        st.backend = s(v["backend"]) ?? ""
        st.lastError = s(v["last_error"])
        return st
    }
}
