import XCTest
import Inference

final class InferenceSmokeTests: XCTestCase {
    func testModuleLinks() throws {}
}
