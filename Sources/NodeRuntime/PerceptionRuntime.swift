import Camera
import Foundation
import Imaging
import Logging
import PerceptionMessages

/// Topic names on the PUB socket (contract) and the one the SUB socket accepts.
public enum Topics {
    public static let query = "perception/query"
    public static let result = "perception/result"
    public static let status = "perception/status"
}

/// Everything the runtime needs besides its config: the frame source and the pipeline stage.
public struct RuntimeParts: Sendable {
    public var source: FrameSource
    /// `folder`, `v4l2`, … (Status camera.source).
    public var sourceName: String
    public var stage: InferenceStage
    /// Records frames, queries and results (`recording.*`); nil: not recording.
    public var recorder: RuntimeRecorder?

    public init(source: FrameSource, sourceName: String, stage: InferenceStage, recorder: RuntimeRecorder? = nil) {
        self.source = source
        self.sourceName = sourceName
        self.stage = stage
        self.recorder = recorder
    }
}

/// Where the runtime reports what it sees and what it answers, for a recording (the executable writes MCAP).
/// Called from the camera thread (frames), the worker (queries with their results) and the bus thread (flush
/// at 1 Hz, close at shutdown); implementations synchronize and never throw into the runtime.
public protocol RuntimeRecorder: AnyObject, Sendable {
    func record(frame: Frame)
    func record(query: Query, result: QueryResult)
    func flush()
    func close()
}

/// A query accepted by the bus thread, waiting for the worker.
struct PendingQuery: Sendable {
    var query: Query
    /// ROUTER envelope (identity frames) for a service request; empty for a query from SUB.
    var envelope: [[UInt8]]
    var arrival: ContinuousClock.Instant
    var deadline: ContinuousClock.Instant?
    /// The frame chosen on arrival; nil when it has to be waited for.
    var frame: Frame?
}

/// Counters shared by the bus thread and the worker.
final class RuntimeCounters: @unchecked Sendable {
    private let lock = NSLock()
    private var requests = NodeStatus.Requests()
    private var lastError: String?

    func update(_ body: (inout NodeStatus.Requests) -> Void) {
        lock.lock()
        body(&requests)
        lock.unlock()
    }

    func record(error: String) {
        lock.lock()
        lastError = error
        lock.unlock()
    }

    var snapshot: (NodeStatus.Requests, String?) {
        lock.lock()
        defer { lock.unlock() }
        return (requests, lastError)
    }
}

/// The running node: a camera thread filling the `FrameRing`, the bus thread owning every network socket
/// (SUB queries, ROUTER service, PUB results and status), and one worker running the inference stage. Every
/// query gets exactly one Result.
public final class PerceptionRuntime: @unchecked Sendable {
    public let config: NodeConfig
    private let parts: RuntimeParts
    private let logger: Logger
    private let context: ZMQContext
    private let ring: FrameRing
    private let queue: QueryQueue<PendingQuery>
    private let counters = RuntimeCounters()
    private let replyEndpoint = "inproc://perception-results-\(UInt64.random(in: 0...UInt64.max))"
    private let defaultMode: Query.Mode
    private let started = ContinuousClock.now

    private let stateLock = NSCondition()
    private var stopRequested = false
    private var busFinished = false
    private var bindError: Error?
    private var busReady = false
    private var workerFinished = false

    public init(config: NodeConfig, parts: RuntimeParts, logger: Logger) throws {
        self.config = config
        self.parts = parts
        self.logger = logger
        self.context = try ZMQContext()
        self.ring = FrameRing(capacity: config.frameRingSize)
        self.queue = QueryQueue(capacity: config.queueDepth)
        self.defaultMode = Query.Mode(rawValue: config.string("model.mode")) ?? .auto
    }

    /// Binds the sockets (throws if an endpoint cannot be bound) and starts the threads.
    public func start() throws {
        let bus = Thread { [self] in busLoop() }
        bus.name = "perception-bus"
        bus.start()
        stateLock.lock()
        while !busReady { stateLock.wait() }
        let error = bindError
        stateLock.unlock()
        if let error { throw error }

        let camera = Thread { [self] in cameraLoop() }
        camera.name = "perception-camera"
        camera.start()
        let worker = Thread { [self] in workerLoop() }
        worker.name = "perception-worker"
        worker.start()
    }

    /// Stop taking queries, answer the queued ones, then close (SIGINT/SIGTERM). Safe from any thread.
    public func requestStop() {
        stateLock.lock()
        let first = !stopRequested
        stopRequested = true
        stateLock.unlock()
        guard first else { return }
        logger.info("stopping: answering queued queries", metadata: ["queued": "\(queue.count)"])
        queue.close()
        ring.wakeAll()
        parts.source.close()
    }

    private var stopping: Bool {
        stateLock.lock()
        defer { stateLock.unlock() }
        return stopRequested
    }

    /// Blocks until the bus thread has delivered the last Result and closed its sockets.
    public func waitUntilStopped() {
        stateLock.lock()
        while !busFinished { stateLock.wait() }
        stateLock.unlock()
        parts.recorder?.close()
    }

    // MARK: camera thread

    private func cameraLoop() {
        let source = parts.source
        while !stopping {
            do {
                guard let frame = try source.nextFrame() else {
                    if !stopping { logger.info("camera source ended", metadata: ["state": "\(source.state.rawValue)"]) }
                    return
                }
                ring.push(frame)
                parts.recorder?.record(frame: frame)
            } catch {
                counters.record(error: "camera: \(error)")
                logger.warning("camera error", metadata: ["error": "\(error)"])
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
    }

    // MARK: worker thread

    private func workerLoop() {
        let push: ZMQSocket
        do {
            push = try ZMQSocket(context, .push)
            try push.setSendHWM(0)
            try push.connect(replyEndpoint)
        } catch {
            logger.critical("worker cannot reach the bus thread", metadata: ["error": "\(error)"])
            finishWorker()
            return
        }
        while let pending = queue.pop() {
            let result = answer(pending)
            parts.recorder?.record(query: pending.query, result: result)
            do {
                try push.send([encodeEnvelope(pending.envelope), Array(result.status.rawValue.utf8),
                               Array((result.error?.code.rawValue ?? "").utf8), result.encoded()])
            } catch {
                logger.error("worker could not hand a result to the bus thread", metadata: ["error": "\(error)"])
            }
        }
        push.close(lingerMs: -1)
        finishWorker()
    }

    private func finishWorker() {
        stateLock.lock()
        workerFinished = true
        stateLock.unlock()
    }

    private var workerDone: Bool {
        stateLock.lock()
        defer { stateLock.unlock() }
        return workerFinished
    }

    /// Runs one query through frame selection and the stage; never throws, always one Result.
    func answer(_ p: PendingQuery) -> QueryResult {
        let start = ContinuousClock.now
        let id = p.query.requestId
        func finish(_ r: QueryResult) -> QueryResult {
            var r = r
            r.timing.queue = Self.ms(start - p.arrival)
            r.timing.total = Self.ms(ContinuousClock.now - p.arrival)
            if r.model == nil {
                let m = parts.stage.models
                r.model = QueryResult.Model(reasoner: m.reasoner, segmenter: m.segmenter, backend: m.backend)
            }
            return r
        }
        if let d = p.deadline, start >= d {
            return finish(.failure(id, ResultError(.deadlineExceeded, "deadline passed while queued (\(Self.ms(start - p.arrival)) ms in queue)")))
        }
        guard let frame = p.frame ?? waitForFrame(p) else {
            if let d = p.deadline, ContinuousClock.now >= d {
                return finish(.failure(id, ResultError(.deadlineExceeded, "deadline passed while waiting for a frame (\(noFrameMessage(p)))")))
            }
            return finish(.failure(id, ResultError(.noFrame, noFrameMessage(p))))
        }
        if let d = p.deadline, ContinuousClock.now >= d {
            var result = Self.assemble(query: p.query, frame: frame, outcome: .success(InferenceOutput()))
            result.status = .error
            result.error = ResultError(.deadlineExceeded, "deadline passed while waiting for the frame")
            return finish(result)
        }
        let request = InferenceRequest(query: p.query, mode: p.query.mode ?? defaultMode, frame: frame, deadline: p.deadline)
        let outcome: Result<InferenceOutput, Error>
        do {
            outcome = .success(try parts.stage.run(request))
        } catch {
            outcome = .failure(error)
        }
        var result = Self.assemble(query: p.query, frame: frame, outcome: outcome)
        if case .success = outcome, let d = p.deadline, ContinuousClock.now >= d {
            result = Self.assemble(query: p.query, frame: frame, outcome: .success(InferenceOutput()))
            result.status = .error
            result.error = ResultError(.deadlineExceeded, "deadline passed during inference")
        }
        return finish(result)
    }

    /// The Result for one query answered on `frame` (stage output or error), without queue/total timing and
    /// model names; shared by the worker and the bus-less `segment` / `eval` commands.
    public static func assemble(query: Query, frame: Frame, outcome: Result<InferenceOutput, Error>) -> QueryResult {
        var result = QueryResult(requestId: query.requestId, status: .ok)
        result.header = QueryResult.Header(stampNs: frame.stampNs, frameId: frame.frameId, seq: frame.seq)
        result.imageSize = (frame.image.width, frame.image.height)
        switch outcome {
        case .success(let out):
            do {
                result.status = out.objects.isEmpty ? .noTarget : .ok
                result.objects = try out.objects.map { try Self.wireObject($0, encoding: query.outputs.mask) }
                if query.outputs.think { result.think = out.think }
                result.answer = out.answer
                apply(out.timings, to: &result)
                if let pt = out.promptTokens { result.tokens = (pt, out.generatedTokens ?? 0) }
                result.cache = out.cache
            } catch {
                result.status = .error
                result.error = ResultError(.internal, "\(error)")
            }
        case .failure(let e as InferenceError):
            result.status = .error
            result.error = ResultError(e.code, e.message)
            if query.outputs.think { result.think = e.think }
            result.answer = e.answer
            apply(e.timings, to: &result)
        case .failure(let e):
            result.status = .error
            result.error = ResultError(.internal, "\(e)")
        }
        return result
    }

    private static func apply(_ t: StageTimings, to r: inout QueryResult) {
        r.timing.preprocess = t.preprocess
        r.timing.vision = t.vision
        r.timing.prefill = t.prefill
        r.timing.decode = t.decode
        r.timing.segment = t.segment
    }

    static func wireObject(_ o: InferenceObject, encoding: Query.MaskEncoding) throws -> QueryResult.Object {
        var obj = QueryResult.Object(bbox: o.bbox, points: o.points, score: o.score, area: 0, centroid: nil, mask: nil)
        guard let mask = o.mask else { return obj }
        obj.area = mask.area
        obj.centroid = mask.centroid.map { [$0.x, $0.y] }
        switch encoding {
        case .none: break
        case .rle: obj.mask = .cocoRLE(height: mask.height, width: mask.width, counts: CocoRLE.encode(mask))
        case .png:
            obj.mask = .png(try ImageCodec.encodePNGGray(width: mask.width, height: mask.height, pixels: mask.pixels.map { $0 * 255 }))
        }
        return obj
    }

    private func waitUntil(_ p: PendingQuery) -> Date {
        var limit = Date().addingTimeInterval(max(0, Double(config.frameWaitMs) / 1000 - Self.seconds(ContinuousClock.now - p.arrival)))
        if let d = p.deadline {
            limit = min(limit, Date().addingTimeInterval(max(0, Self.seconds(d - ContinuousClock.now))))
        }
        return limit
    }

    private func waitForFrame(_ p: PendingQuery) -> Frame? {
        switch p.query.frame {
        case .newest: return cameraDown ? nil : ring.wait(until: waitUntil(p)) { _ in true }
        case .seq(let n): return ring.wait(until: waitUntil(p)) { $0.seq == n }
        case .stamp: return nil
        }
    }

    /// During a camera outage the newest frame held is stale: queries for "the newest frame" answer no_frame
    /// (frames named by stamp or seq are still served).
    private var cameraDown: Bool {
        let state = parts.source.state
        return state == .reconnecting || state == .failed
    }

    private func noFrameMessage(_ p: PendingQuery) -> String {
        let held = ring.seqRange.map { "ring holds seq \($0.0)...\($0.1)" } ?? "no frame captured yet"
        let why = stopping ? "node stopping" : "waited \(config.frameWaitMs) ms (limits.frame_wait_ms)"
        switch p.query.frame {
        case .newest: return "no frame available: \(held); \(why); camera \(parts.source.state.rawValue)"
        case .seq(let n): return "frame seq \(n) not available: \(held); \(why)"
        case .stamp(let s): return "no frame with stamp_ns \(s): \(held)"
        }
    }

    // MARK: bus thread

    private func encodeEnvelope(_ frames: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        for f in frames {
            var n = UInt32(f.count).bigEndian
            withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
            out.append(contentsOf: f)
        }
        return out
    }

    private func decodeEnvelope(_ bytes: [UInt8]) -> [[UInt8]] {
        var frames: [[UInt8]] = []
        var i = 0
        while i + 4 <= bytes.count {
            let n = Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            i += 4
            guard i + n <= bytes.count else { break }
            frames.append(Array(bytes[i..<(i + n)]))
            i += n
        }
        return frames
    }

    private struct BusSockets {
        let sub: ZMQSocket
        let router: ZMQSocket
        let pub: ZMQSocket
        let replies: ZMQSocket
    }

    private func openBus() throws -> BusSockets {
        let b = config.bus
        let pub = try ZMQSocket(context, .pub)
        try pub.setSendHWM(b.sendHWM)
        try pub.setLinger(ms: b.lingerMs)
        try pub.bind(b.publish)
        let sub = try ZMQSocket(context, .sub)
        try sub.setReceiveHWM(b.receiveHWM)
        try sub.setMaxMessageSize(b.maxMessageBytes)
        try sub.setLinger(ms: 0)
        try sub.subscribe(Topics.query)
        try sub.bind(b.query)
        let router = try ZMQSocket(context, .router)
        try router.setReceiveHWM(b.receiveHWM)
        try router.setSendHWM(b.sendHWM)
        try router.setMaxMessageSize(b.maxMessageBytes)
        try router.setRouterMandatory()
        try router.setLinger(ms: b.lingerMs)
        try router.bind(b.service)
        let replies = try ZMQSocket(context, .pull)
        try replies.setReceiveHWM(0)
        try replies.bind(replyEndpoint)
        return BusSockets(sub: sub, router: router, pub: pub, replies: replies)
    }

    private func busLoop() {
        let sockets: BusSockets
        do {
            sockets = try openBus()
        } catch {
            stateLock.lock()
            bindError = error
            busReady = true
            busFinished = true
            stateLock.broadcast()
            stateLock.unlock()
            return
        }
        stateLock.lock()
        busReady = true
        stateLock.broadcast()
        stateLock.unlock()
        logger.info("bus up", metadata: [
            "query": "\(config.bus.query)", "publish": "\(config.bus.publish)", "service": "\(config.bus.service)",
        ])

        var nextStatus = ContinuousClock.now
        var lastFrames: UInt64 = 0
        var lastStatusAt = ContinuousClock.now
        var draining = false
        while true {
            let now = ContinuousClock.now
            if now >= nextStatus {
                let frames = parts.source.counters.framesCaptured
                let dt = Self.seconds(now - lastStatusAt)
                let fps = dt > 0 ? Double(frames &- lastFrames) / dt : 0
                lastFrames = frames
                lastStatusAt = now
                publishStatus(sockets.pub, fps: fps, state: draining ? "draining" : "running")
                nextStatus = now + .seconds(1)
            }
            if !draining && stopping {
                draining = true
                sockets.sub.close(lingerMs: 0)
            }
            if draining && workerDone {
                // The worker pushed its last result before finishing; collect anything still in flight.
                while (try? ZMQSocket.pollIn([sockets.replies], timeoutMs: 20))?.first == true,
                      let msg = try? sockets.replies.receive(dontWait: true) {
                    deliverFromWorker(msg, sockets)
                }
                break
            }
            let timeout = max(1, min(100, Int(Self.ms(nextStatus - ContinuousClock.now).rounded(.up))))
            let listen = draining ? [sockets.replies, sockets.router] : [sockets.replies, sockets.router, sockets.sub]
            let ready: [Bool]
            do {
                ready = try ZMQSocket.pollIn(listen, timeoutMs: timeout)
            } catch {
                logger.error("bus poll failed", metadata: ["error": "\(error)"])
                Thread.sleep(forTimeInterval: 0.01)
                continue
            }
            if ready[0] {
                for _ in 0..<10_000 {
                    guard let msg = try? sockets.replies.receive(dontWait: true) else { break }
                    deliverFromWorker(msg, sockets)
                }
            }
            if ready[1] {
                for _ in 0..<1000 {
                    guard let msg = try? sockets.router.receive(dontWait: true) else { break }
                    guard msg.count >= 2, let payload = msg.last else { continue }
                    admit(payload: payload, envelope: Array(msg.dropLast()), sockets, draining: draining)
                }
            }
            if listen.count > 2 && ready[2] {
                for _ in 0..<1000 {
                    guard let msg = try? sockets.sub.receive(dontWait: true) else { break }
                    guard let topic = msg.first, topic == Array(Topics.query.utf8) else { continue }
                    guard msg.count == 2 else {
                        counters.update { $0.received += 1; $0.badRequest += 1 }
                        let id = (msg.count > 2 ? Self.readableId(msg[msg.count - 1]) : nil)
                        reject(QueryRejection(requestId: id, .badRequest, "expected 2 frames [topic, payload], got \(msg.count)"), envelope: [], sockets)
                        continue
                    }
                    admit(payload: msg[1], envelope: [], sockets, draining: draining)
                }
            }
        }
        publishStatus(sockets.pub, fps: 0, state: "stopped")
        sockets.router.close(lingerMs: config.bus.lingerMs)
        sockets.pub.close(lingerMs: config.bus.lingerMs)
        sockets.replies.close(lingerMs: 0)
        logger.info("bus closed")
        stateLock.lock()
        busFinished = true
        stateLock.broadcast()
        stateLock.unlock()
    }

    private static func readableId(_ payload: [UInt8]) -> String? {
        guard let v = try? MsgPack.decode(payload), case .string(let s)? = v["request_id"], !s.isEmpty else { return nil }
        return s
    }

    /// Decodes a query; rejects it, or picks its frame and queues it.
    private func admit(payload: [UInt8], envelope: [[UInt8]], _ sockets: BusSockets, draining: Bool) {
        counters.update { $0.received += 1 }
        let arrival = ContinuousClock.now
        let query: Query
        switch Query.decode(payload, limits: QueryLimits(maxTextBytes: config.maxTextBytes)) {
        case .failure(let rejection):
            reject(rejection, envelope: envelope, sockets)
            return
        case .success(let q): query = q
        }
        if draining {
            reject(QueryRejection(requestId: query.requestId, .overloaded, "node is shutting down"), envelope: envelope, sockets)
            return
        }
        var deadline: ContinuousClock.Instant?
        if let d = query.deadlineMs {
            let budgetMs: Double
            if d >= Query.absoluteDeadlineThreshold {
                budgetMs = Double(d) - Date().timeIntervalSince1970 * 1000
            } else {
                budgetMs = Double(d)
            }
            if budgetMs <= 0 {
                reject(QueryRejection(requestId: query.requestId, .deadlineExceeded, "deadline_ms \(d) had already passed on arrival"),
                       envelope: envelope, sockets)
                return
            }
            deadline = arrival + .microseconds(Int64(min(budgetMs, 1e12) * 1000))
        }
        var frame: Frame?
        switch query.frame {
        case .newest: frame = cameraDown ? nil : ring.newest
        case .stamp(let s):
            guard let f = ring.frame(stampNs: s) else {
                let held = ring.seqRange.map { "ring holds seq \($0.0)...\($0.1)" } ?? "no frame captured yet"
                reject(QueryRejection(requestId: query.requestId, .noFrame, "no frame with stamp_ns \(s): \(held)"), envelope: envelope, sockets)
                return
            }
            frame = f
        case .seq(let n):
            frame = ring.frame(seq: n)
            if frame == nil, let range = ring.seqRange, n < range.0 || (n <= range.1 && n >= range.0) {
                reject(QueryRejection(requestId: query.requestId, .noFrame, "frame seq \(n) is no longer held: ring holds seq \(range.0)...\(range.1)"),
                       envelope: envelope, sockets)
                return
            }
        }
        let pending = PendingQuery(query: query, envelope: envelope, arrival: arrival, deadline: deadline, frame: frame)
        if !queue.tryPush(pending) {
            let why = stopping ? "node is shutting down" : "query queue full (limits.queue_depth=\(queue.capacity))"
            reject(QueryRejection(requestId: query.requestId, .overloaded, why), envelope: envelope, sockets)
        }
    }

    /// Answers a query that never reaches the worker.
    private func reject(_ r: QueryRejection, envelope: [[UInt8]], _ sockets: BusSockets) {
        counters.update {
            switch r.error.code {
            case .badRequest, .unsupportedVersion: $0.badRequest += 1
            case .overloaded: $0.overloaded += 1
            case .deadlineExceeded: $0.deadlineExceeded += 1
            default: break
            }
        }
        counters.record(error: "\(r.error.code.rawValue): \(r.error.message)")
        if r.requestId == nil {
            logger.debug("unanswerable message", metadata: ["error": "\(r.error.message)"])
            // No readable id: nothing to publish; a service peer still gets its reply (request_id "").
            guard !envelope.isEmpty else {
                counters.update { $0.failed += 1 }
                return
            }
        }
        var result = QueryResult.failure(r.requestId ?? "", r.error)
        let m = parts.stage.models
        result.model = QueryResult.Model(reasoner: m.reasoner, segmenter: m.segmenter, backend: m.backend)
        deliver(result.encoded(), status: .error, envelope: envelope, publish: r.requestId != nil, sockets)
    }

    private func deliverFromWorker(_ msg: [[UInt8]], _ sockets: BusSockets) {
        guard msg.count == 4 else { return }
        let envelope = decodeEnvelope(msg[0])
        let status = QueryResult.Status(rawValue: String(decoding: msg[1], as: UTF8.self)) ?? .error
        let code = String(decoding: msg[2], as: UTF8.self)
        if status == .error {
            counters.record(error: "\(code) (request answered by the worker)")
            if code == ErrorCode.deadlineExceeded.rawValue { counters.update { $0.deadlineExceeded += 1 } }
        }
        deliver(msg[3], status: status, envelope: envelope, publish: true, sockets)
    }

    private func deliver(_ payload: [UInt8], status: QueryResult.Status, envelope: [[UInt8]], publish: Bool, _ sockets: BusSockets) {
        counters.update {
            if status == .error { $0.failed += 1 } else { $0.served += 1 }
        }
        if publish {
            do {
                try sockets.pub.send([Array(Topics.result.utf8), payload], dontWait: true)
            } catch {
                logger.error("publish failed", metadata: ["error": "\(error)"])
            }
        }
        if !envelope.isEmpty {
            do {
                if try !sockets.router.send(envelope + [payload], dontWait: true) {
                    counters.update { $0.unroutableReplies += 1 }
                    logger.warning("service reply dropped: peer's queue is full")
                }
            } catch {
                counters.update { $0.unroutableReplies += 1 }
                logger.warning("service reply not routable", metadata: ["error": "\(error)"])
            }
        }
    }

    private func publishStatus(_ pub: ZMQSocket, fps: Double, state: String) {
        var s = NodeStatus()
        s.stampNs = Int64(Date().timeIntervalSince1970 * 1e9)
        s.nodeName = config.nodeName
        s.namespace = config.namespace
        s.state = state
        s.uptimeS = Self.seconds(ContinuousClock.now - started)
        let src = parts.source
        let c = src.counters
        s.camera.source = parts.sourceName
        s.camera.state = src.state.rawValue
        s.camera.fps = fps
        s.camera.framesCaptured = c.framesCaptured
        s.camera.framesDropped = c.framesDropped
        s.camera.framesCorrupt = c.framesCorrupt
        s.camera.reconnects = c.reconnects
        s.camera.lastError = src.lastError
        s.queueDepth = queue.count
        s.queueCapacity = queue.capacity
        let (requests, lastError) = counters.snapshot
        s.requests = requests
        let m = parts.stage.models
        s.modelsLoaded = m.loaded
        s.reasoner = m.reasoner
        s.segmenter = m.segmenter
        s.backend = m.backend
        s.cacheHits = parts.stage.cacheHits
        s.lastError = lastError
        parts.recorder?.flush()
        _ = try? pub.send([Array(Topics.status.utf8), s.encoded()], dontWait: true)
    }

    static func ms(_ d: Duration) -> Double {
        let c = d.components
        return Double(c.seconds) * 1000 + Double(c.attoseconds) / 1e15
    }

    static func seconds(_ d: Duration) -> Double { ms(d) / 1000 }
}
