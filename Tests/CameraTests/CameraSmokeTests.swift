import XCTest
import Camera

final class CameraSmokeTests: XCTestCase {
    func testModuleLinks() throws {}
}
