import Foundation
import NodeRuntime
import XCTest

final class NodeConfigTests: XCTestCase {
    private var repo: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    func testShippedConfigLoadsAndMatchesDefaults() throws {
        let config = try NodeConfig.load(path: repo.appendingPathComponent("config/perception.yaml").path)
        XCTAssertEqual(config, NodeConfig(), "config/perception.yaml should spell out the defaults")
        XCTAssertEqual(config.bus.service, "tcp://127.0.0.1:5562")
        XCTAssertEqual(config.queueDepth, 64)
    }

    func testNestedAndDottedKeysAndOverrides() throws {
        var c = NodeConfig()
        try c.merge(yaml: "camera:\n  source: v4l2\n  device: /dev/video3\nlimits.queue_depth: 8\n")
        try c.apply(override: "camera.fps=15")
        try c.apply(override: "bus.query=tcp://127.0.0.1:7000")
        XCTAssertEqual(c.string("camera.source"), "v4l2")
        XCTAssertEqual(c.string("camera.device"), "/dev/video3")
        XCTAssertEqual(c.queueDepth, 8)
        XCTAssertEqual(c.double("camera.fps"), 15)
        XCTAssertEqual(c.bus.query, "tcp://127.0.0.1:7000")
        try c.apply(override: "model.reasoner=")
        XCTAssertEqual(c.string("model.reasoner"), "")
    }

    func testUnknownKeysAreNamed() {
        var c = NodeConfig()
        XCTAssertThrowsError(try c.merge(yaml: "camera:\n  devise: /dev/video0\n", origin: "f.yaml")) {
            XCTAssertEqual($0 as? ConfigError, .unknownKey("camera.devise", origin: "f.yaml"))
            XCTAssertTrue("\($0)".contains("camera.devise"))
        }
        XCTAssertThrowsError(try c.apply(override: "nodes.name=x")) { XCTAssertTrue("\($0)".contains("nodes.name")) }
        XCTAssertThrowsError(try c.merge(yaml: "camera: 3\n")) { XCTAssertEqual($0 as? ConfigError, .notAMapping(key: "camera")) }
    }

    func testBadValuesAreNamed() {
        var c = NodeConfig()
        let cases = [
            "limits.queue_depth=abc", "limits.queue_depth=0", "camera.rate=-1", "camera.loop=maybe", "camera.source=usb",
            "camera.format=h264", "model.mode=all", "camera.fps=nan",
        ]
        for o in cases {
            XCTAssertThrowsError(try c.apply(override: o), o) { error in
                let key = String(o.split(separator: "=")[0])
                XCTAssertTrue("\(error)".contains("'\(key)'"), "\(error)")
            }
        }
        XCTAssertThrowsError(try c.apply(override: "no-equals-sign")) { XCTAssertEqual($0 as? ConfigError, .badOverride("no-equals-sign")) }
        XCTAssertThrowsError(try c.merge(yaml: "camera:\n  width: [1, 2]\n")) { XCTAssertTrue("\($0)".contains("camera.width")) }
        XCTAssertThrowsError(try c.merge(yaml: "camera: {source: [\n")) { XCTAssertTrue("\($0)".contains("not valid YAML")) }
        XCTAssertThrowsError(try NodeConfig.load(path: "/nonexistent/perception.yaml")) { XCTAssertTrue("\($0)".contains("/nonexistent")) }
    }

    func testEveryKeyIsDocumented() throws {
        let doc = try String(contentsOf: repo.appendingPathComponent("docs/config.md"), encoding: .utf8)
        for key in ConfigSchema.keys {
            XCTAssertTrue(doc.contains("`\(key.name)`"), "docs/config.md does not describe \(key.name)")
        }
    }
}
