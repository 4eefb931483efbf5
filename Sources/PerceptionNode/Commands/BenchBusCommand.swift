import ArgumentParser
import Camera
import Foundation
import Imaging
import Logging
import NodeRuntime
import PerceptionMessages

/// `bench bus`: query -> Result round trip through a real node runtime on loopback TCP, with a pipeline stage
/// that does no work, against a bare libzmq DEALER/ROUTER echo (the floor any node could reach).
struct BenchBusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bus",
        abstract: "Loopback query->Result overhead (p50/p99) of the node runtime with an empty stage, vs a bare libzmq echo.")

    enum StageChoice: String, ExpressibleByArgument {
        /// Benchmark-only stage: returns no objects immediately (never selectable from config).
        case echo
        /// The stage the node runs with no model configured.
        case unavailable
    }

    @Option(help: "Benchmark stage: echo (returns at once, benchmark only) or unavailable (the no-model stage).")
    var stage: StageChoice = .echo
    @Option(help: "Timed round trips per path.") var iterations = 2000
    @Option(help: "Untimed warm-up round trips.") var warmup = 200
    @Option(help: "Base TCP port on 127.0.0.1 (uses this and the next three).") var port = 15560
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = .warning
            return h
        }
        // Reference first, before any node thread exists: a bare DEALER/ROUTER echo on loopback, same payload.
        let referenceContext = try ZMQContext()
        let echoPayload = Query(requestId: "e", text: "bench").encoded()
        let bare = try bareEcho(context: referenceContext, endpoint: "tcp://127.0.0.1:\(port + 3)", payload: echoPayload)

        var config = NodeConfig()
        try config.set("bus.query", raw: "tcp://127.0.0.1:\(port)")
        try config.set("bus.publish", raw: "tcp://127.0.0.1:\(port + 1)")
        try config.set("bus.service", raw: "tcp://127.0.0.1:\(port + 2)")
        let image = try RGBImage(width: 640, height: 480)
        let source = StillFrameSource(frame: Frame(image: image, stampNs: 1, seq: 0, frameId: "bench"))
        let benchStage: InferenceStage = stage == .echo ? EmptyBenchmarkStage() : ModelUnavailableStage.unconfigured(backend: "blas")
        let runtime = try PerceptionRuntime(
            config: config, parts: RuntimeParts(source: source, sourceName: "bench", stage: benchStage), logger: Logger(label: "bench"))
        try runtime.start()
        defer {
            runtime.requestStop()
            runtime.waitUntilStopped()
        }
        let context = try ZMQContext()

        // Service path: DEALER -> ROUTER -> worker -> ROUTER reply.
        let dealer = try ZMQSocket(context, .dealer)
        try dealer.setLinger(ms: 0)
        try dealer.connect(config.bus.service)
        let service = try measure(iterations: iterations, warmup: warmup) { i in
            try dealer.send([Query(requestId: "s\(i)", text: "bench").encoded()])
            _ = try dealer.receive()
        }
        dealer.close(lingerMs: 0)

        // Topic path: PUB perception/query -> SUB ... PUB perception/result -> SUB.
        let pub = try ZMQSocket(context, .pub)
        try pub.setLinger(ms: 0)
        try pub.connect(config.bus.query)
        let sub = try ZMQSocket(context, .sub)
        try sub.setLinger(ms: 0)
        try sub.subscribe(Topics.result)
        try sub.connect(config.bus.publish)
        try syncTopics(pub: pub, sub: sub)
        let topic = try measure(iterations: iterations, warmup: warmup) { i in
            let id = "t\(i)"
            try pub.send([Array(Topics.query.utf8), Query(requestId: id, text: "bench").encoded()])
            while true {
                guard let msg = try sub.receive(), msg.count == 2, msg[0] == Array(Topics.result.utf8) else { continue }
                if (try? MsgPack.decode(msg[1]))?["request_id"] == .string(id) { break }
            }
        }
        pub.close(lingerMs: 0)
        sub.close(lingerMs: 0)

        report(service: service, topic: topic, bare: bare)
    }

    struct Stats {
        var samples: [Double]
        func percentile(_ p: Double) -> Double {
            let s = samples.sorted()
            guard !s.isEmpty else { return 0 }
            return s[min(s.count - 1, Int((p / 100 * Double(s.count - 1)).rounded()))]
        }
        var p50: Double { percentile(50) }
        var p99: Double { percentile(99) }
    }

    func measure(iterations: Int, warmup: Int, _ body: (Int) throws -> Void) throws -> Stats {
        for i in 0..<warmup { try body(-1 - i) }
        var samples: [Double] = []
        samples.reserveCapacity(iterations)
        let clock = ContinuousClock()
        for i in 0..<iterations {
            let t = clock.measure { _ = try? body(i) }
            samples.append(Double(t.components.attoseconds) / 1e12 + Double(t.components.seconds) * 1e6)
        }
        return Stats(samples: samples)
    }

    /// PUB/SUB subscriptions propagate asynchronously: probe until a Result comes back.
    func syncTopics(pub: ZMQSocket, sub: ZMQSocket) throws {
        for i in 0..<500 {
            try pub.send([Array(Topics.query.utf8), Query(requestId: "sync\(i)", text: "sync").encoded()])
            if try ZMQSocket.pollIn([sub], timeoutMs: 20)[0] {
                while try ZMQSocket.pollIn([sub], timeoutMs: 100)[0] { _ = try sub.receive() }
                return
            }
        }
        throw ValidationError("topic path never connected")
    }

    func bareEcho(context: ZMQContext, endpoint: String, payload: [UInt8]) throws -> Stats {
        let ready = DispatchSemaphore(value: 0)
        let total = iterations + warmup
        let thread = Thread {
            guard let router = try? ZMQSocket(context, .router) else { return }
            try? router.setLinger(ms: 0)
            try? router.bind(endpoint)
            ready.signal()
            for _ in 0..<total {
                guard let msg = try? router.receive() else { break }
                _ = try? router.send(msg)
            }
            router.close(lingerMs: 0)
        }
        thread.start()
        ready.wait()
        let dealer = try ZMQSocket(context, .dealer)
        try dealer.setLinger(ms: 0)
        try dealer.connect(endpoint)
        let stats = try measure(iterations: iterations, warmup: warmup) { _ in
            try dealer.send([payload])
            _ = try dealer.receive()
        }
        dealer.close(lingerMs: 0)
        return stats
    }

    func report(service: Stats, topic: Stats, bare: Stats) {
        if json {
            func row(_ s: Stats) -> String { String(format: "{\"p50_us\": %.1f, \"p99_us\": %.1f}", s.p50, s.p99) }
            print("{\"stage\": \"\(stage.rawValue)\", \"iterations\": \(iterations), \"service\": \(row(service)), \"topic\": \(row(topic)), \"bare_zmq_echo\": \(row(bare)), \"service_p50_over_bare\": \(String(format: "%.2f", service.p50 / bare.p50))}")
            return
        }
        print("bus round trip, loopback TCP, \(iterations) sequential queries per path, stage \(stage.rawValue)")
        print("path                          p50 us     p99 us   p50 / bare echo")
        for (name, s) in [("service (DEALER->ROUTER)", service), ("topics (PUB query->SUB result)", topic), ("bare libzmq DEALER/ROUTER echo", bare)] {
            print(name.padding(toLength: 30, withPad: " ", startingAt: 0) + String(format: "%8.1f   %8.1f   %6.2fx", s.p50, s.p99, s.p50 / bare.p50))
        }
    }
}

/// Benchmark-only stage that does no work; exists so `bench bus` measures the runtime alone. Not selectable
/// from the config.
final class EmptyBenchmarkStage: InferenceStage {
    let models = ModelDescription(reasoner: "bench-empty", segmenter: "bench-empty", backend: "none")
    func run(_ request: InferenceRequest) throws -> InferenceOutput { InferenceOutput() }
}

/// One frame, delivered once; then `nextFrame` blocks until `close()`.
final class StillFrameSource: FrameSource, @unchecked Sendable {
    private let condition = NSCondition()
    private var frame: Frame?
    private var closed = false
    private var delivered = false
    init(frame: Frame) { self.frame = frame }
    var state: CameraState { .streaming }
    var counters: CameraCounters {
        var c = CameraCounters()
        c.framesCaptured = 1
        return c
    }
    var lastError: String? { nil }
    func nextFrame() throws -> Frame? {
        condition.lock()
        defer { condition.unlock() }
        if !delivered {
            delivered = true
            return frame
        }
        while !closed { condition.wait() }
        return nil
    }
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
