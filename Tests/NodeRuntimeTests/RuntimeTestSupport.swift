import Camera
import Foundation
import Imaging
import Logging
import NodeRuntime
import PerceptionMessages
import XCTest

/// TEST-ONLY source: one still frame, then blocks until closed; its state can be switched as a camera's does
/// when the device vanishes (that transition itself is checked against vivid in test_v4l2_vivid.py).
final class OneFrameSource: FrameSource, @unchecked Sendable {
    private let condition = NSCondition()
    private var sent = false
    private var closed = false
    private var current = CameraState.streaming
    let frame: Frame
    init(_ frame: Frame) { self.frame = frame }
    var state: CameraState {
        condition.lock()
        defer { condition.unlock() }
        return current
    }
    func set(_ s: CameraState) {
        condition.lock()
        current = s
        condition.unlock()
    }
    var counters: CameraCounters { CameraCounters() }
    var lastError: String? { nil }
    func nextFrame() throws -> Frame? {
        condition.lock()
        defer { condition.unlock() }
        if !sent {
            sent = true
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

/// A real runtime on ipc endpoints with a DEALER client: `ask` sends a Query and returns its Result.
final class RuntimeHarness {
    let runtime: PerceptionRuntime
    let context: ZMQContext
    let dealer: ZMQSocket

    init(source: FrameSource, stage: InferenceStage, settings: [String: String] = [:]) throws {
        let dir = NSTemporaryDirectory() + "rt-\(UUID().uuidString.prefix(8))"
        var config = NodeConfig()
        try config.set("bus.query", raw: "ipc://\(dir)-q")
        try config.set("bus.publish", raw: "ipc://\(dir)-p")
        try config.set("bus.service", raw: "ipc://\(dir)-s")
        for (k, v) in settings { try config.set(k, raw: v) }
        runtime = try PerceptionRuntime(
            config: config, parts: RuntimeParts(source: source, sourceName: "test", stage: stage), logger: Logger(label: "test"))
        try runtime.start()
        context = try ZMQContext()
        dealer = try ZMQSocket(context, .dealer)
        try dealer.setLinger(ms: 0)
        try dealer.connect(config.bus.service)
    }

    func ask(_ q: Query) throws -> QueryResult {
        try dealer.send([q.encoded()])
        XCTAssertTrue(try ZMQSocket.pollIn([dealer], timeoutMs: 5000)[0], "no reply")
        let msg = try XCTUnwrap(try dealer.receive(dontWait: true))
        return try QueryResult.decode(try XCTUnwrap(msg.last))
    }

    func stop() {
        dealer.close(lingerMs: 0)
        runtime.requestStop()
        runtime.waitUntilStopped()
    }
}
