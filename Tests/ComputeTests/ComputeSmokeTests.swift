import XCTest
import Compute

final class ComputeSmokeTests: XCTestCase {
    func testModuleLinks() throws {}
}
