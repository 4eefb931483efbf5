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

final class CameraOutageTests: XCTestCase {
    func testNewestFrameQueriesAnswerNoFrameWhileTheCameraReconnects() throws {
        let frame = Frame(image: try RGBImage(width: 4, height: 3), stampNs: 77, seq: 9, frameId: "cam")
        let source = OneFrameSource(frame)
        let harness = try RuntimeHarness(source: source, stage: FrameEchoStage(), settings: ["limits.frame_wait_ms": "200"])
        defer { harness.stop() }
        let ask = harness.ask

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
