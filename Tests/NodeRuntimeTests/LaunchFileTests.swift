import Foundation
import NodeRuntime
import XCTest

final class LaunchFileTests: XCTestCase {
    private let yaml = """
        launch:
          - arg: {name: rate, default: "2.0"}
          - arg: {name: images, default: "$(dirname)/frames"}
          - executable:
              name: node
              cmd: perception-node
              args: [run, --set, "camera.rate=$(var rate)", --set, "camera.path=$(var images)", "$(env HOME_X /fallback)"]
              env: {TAG: "$(env TAG 'none')"}
              respawn: true
              respawn_delay: 0.5
              respawn_max_retries: 3
              sigterm_timeout: 2
              on_exit: shutdown
        """

    func testSubstitutionsAndPolicies() throws {
        let f = try LaunchFile.parse(yaml, path: "/opt/launch/x.yaml", arguments: ["rate": "5"], environment: ["TAG": "t1"])
        let p = try XCTUnwrap(f.processes.first)
        XCTAssertEqual(p.arguments, ["run", "--set", "camera.rate=5", "--set", "camera.path=/opt/launch/frames", "/fallback"])
        XCTAssertEqual(p.environment, ["TAG": "t1"])
        XCTAssertTrue(p.respawn)
        XCTAssertEqual(p.respawnDelay, 0.5)
        XCTAssertEqual(p.respawnMaxRetries, 3)
        XCTAssertEqual(p.sigtermTimeout, 2)
        XCTAssertTrue(p.shutdownOnExit)
        let defaults = try LaunchFile.parse(yaml, path: "/opt/launch/x.yaml", arguments: [:], environment: ["HOME_X": "/h"])
        XCTAssertEqual(defaults.processes[0].arguments[2], "camera.rate=2.0")
        XCTAssertEqual(defaults.processes[0].arguments[5], "/h")
        XCTAssertEqual(defaults.processes[0].environment["TAG"], "none")
    }

    func testErrorsNameTheProblem() {
        func message(_ text: String, _ args: [String: String] = [:]) -> String {
            do {
                _ = try LaunchFile.parse(text, path: "t.yaml", arguments: args, environment: [:])
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertTrue(message(yaml, ["speed": "1"]).contains("'speed' is not declared"))
        XCTAssertTrue(message("launch:\n  - executable: {cmd: x, args: [\"$(var q)\"]}\n").contains("$(var q)"))
        XCTAssertTrue(message("launch:\n  - executable: {cmd: x, args: [\"$(env NOPE)\"]}\n").contains("NOPE"))
        XCTAssertTrue(message("launch:\n  - executable: {cmd: x, respawn: sometimes}\n").contains("respawn"))
        XCTAssertTrue(message("launch:\n  - executable: {cmd: x, respwan: true}\n").contains("respwan"))
        XCTAssertTrue(message("launch:\n  - group: {}\n").contains("group"))
        XCTAssertTrue(message("launch:\n  - arg: {name: a}\n  - executable: {cmd: x}\n").contains("a:=VALUE"))
        XCTAssertTrue(message("nodes: []\n").contains("nodes"))
    }

    func testShippedLaunchFilesParse() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for name in ["replay", "camera"] {
            let f = try LaunchFile.load(path: repo.appendingPathComponent("launch/\(name).yaml").path, arguments: [:], environment: [:])
            XCTAssertEqual(f.processes.map(\.command), ["perception-node"])
            XCTAssertTrue(f.processes[0].respawn)
        }
    }
}
