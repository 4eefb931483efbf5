import XCTest
import Checkpoint

final class CheckpointSmokeTests: XCTestCase {
    func testModuleLinks() throws {}
}
