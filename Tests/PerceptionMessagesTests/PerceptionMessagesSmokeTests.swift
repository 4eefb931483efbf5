import XCTest
import PerceptionMessages

final class PerceptionMessagesSmokeTests: XCTestCase {
    func testModuleLinks() throws {}
}
