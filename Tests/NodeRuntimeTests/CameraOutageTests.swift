import Camera
import Foundation
import Imaging
import Logging
import NodeRuntime
import PerceptionMessages
import XCTest

/// TEST-ONLY stage: answers every query with no objects (the frame choice is what is tested here).
private final class FrameEchoStage: InferenceStage {
    let models = ModelDescription(backend: "test")
    func run(_ request: InferenceRequest) throws -> InferenceOutput { InferenceOutput() }
}

/// TEST-ONLY source whose state the test switches, as V4L2Source does when the device vanishes (that
/// transition itself is checked against the real vivid driver in Tests/Integration/test_v4l2_vivid.py).
private final class SwitchableSource: FrameSource, @unchecked Sendable {
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

final class CameraOutageTests: XCTestCase {
    func testNewestFrameQueriesAnswerNoFrameWhileTheCameraReconnects() throws {
        let dir = NSTemporaryDirectory() + "outage-\(UUID().uuidString.prefix(8))"
        var config = NodeConfig()
        try config.set("bus.query", raw: "ipc://\(dir)-q")
        try config.set("bus.publish", raw: "ipc://\(dir)-p")
        try config.set("bus.service", raw: "ipc://\(dir)-s")
        try config.set("limits.frame_wait_ms", raw: "200")
        let frame = Frame(image: try RGBImage(width: 4, height: 3), stampNs: 77, seq: 9, frameId: "cam")
        let source = SwitchableSource(frame)
        let runtime = try PerceptionRuntime(
            config: config, parts: RuntimeParts(source: source, sourceName: "test", stage: FrameEchoStage()), logger: Logger(label: "test"))
        try runtime.start()
        defer {
            runtime.requestStop()
            runtime.waitUntilStopped()
        }
        let context = try ZMQContext()
        let dealer = try ZMQSocket(context, .dealer)
        try dealer.setLinger(ms: 0)
        try dealer.connect(config.bus.service)
        defer { dealer.close(lingerMs: 0) }
        func ask(_ q: Query) throws -> QueryResult {
            try dealer.send([q.encoded()])
            XCTAssertTrue(try ZMQSocket.pollIn([dealer], timeoutMs: 5000)[0], "no reply")
            let msg = try XCTUnwrap(try dealer.receive(dontWait: true))
            return try QueryResult.decode(try XCTUnwrap(msg.last))
        }

        XCTAssertEqual(try ask(Query(requestId: "before", text: "x")).header?.seq, 9)
        source.set(.reconnecting)
        let during = try ask(Query(requestId: "during", text: "x"))
        XCTAssertEqual(during.error?.code, .noFrame)
        XCTAssertTrue(during.error?.message.contains("reconnecting") ?? false, "\(String(describing: during.error))")
        // A frame named explicitly is still served from the ring.
        XCTAssertEqual(try ask(Query(requestId: "named", text: "x", frame: .seq(9))).header?.seq, 9)
        source.set(.streaming)
        XCTAssertEqual(try ask(Query(requestId: "after", text: "x")).header?.seq, 9)
    }
}
