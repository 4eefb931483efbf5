import XCTest
import NodeRuntime

final class NodeRuntimeSmokeTests: XCTestCase {
    func testModuleLinks() throws {}
}
