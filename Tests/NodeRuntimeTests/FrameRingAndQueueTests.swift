import Camera
import Foundation
import Imaging
import NodeRuntime
import XCTest

final class FrameRingAndQueueTests: XCTestCase {
    private func frame(_ seq: UInt64) throws -> Frame {
        Frame(image: try RGBImage(width: 2, height: 2), stampNs: Int64(seq) * 1000, seq: seq, frameId: "f")
    }

    func testRingKeepsNewestAndLooksUp() throws {
        let ring = FrameRing(capacity: 3)
        XCTAssertNil(ring.newest)
        for s in 0..<5 { ring.push(try frame(UInt64(s))) }
        XCTAssertEqual(ring.count, 3)
        XCTAssertEqual(ring.newest?.seq, 4)
        XCTAssertEqual(ring.seqRange?.0, 2)
        XCTAssertEqual(ring.seqRange?.1, 4)
        XCTAssertNil(ring.frame(seq: 1))
        XCTAssertEqual(ring.frame(stampNs: 3000)?.seq, 3)
        XCTAssertNil(ring.frame(stampNs: 3001))
    }

    func testWaitForFutureFrame() throws {
        let ring = FrameRing(capacity: 2)
        let f = try frame(7)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.1) { ring.push(f) }
        let got = ring.wait(until: Date().addingTimeInterval(5)) { $0.seq == 7 }
        XCTAssertEqual(got?.seq, 7)
        let t0 = Date()
        XCTAssertNil(ring.wait(until: Date().addingTimeInterval(0.2)) { $0.seq == 8 })
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(t0), 0.19)
        ring.wakeAll()
        XCTAssertNil(ring.wait(until: Date().addingTimeInterval(10)) { $0.seq == 9 })
    }

    func testQueueBoundsAndDrainsAfterClose() {
        let q = QueryQueue<Int>(capacity: 2)
        XCTAssertTrue(q.tryPush(1))
        XCTAssertTrue(q.tryPush(2))
        XCTAssertFalse(q.tryPush(3))
        q.close()
        XCTAssertFalse(q.tryPush(4))
        XCTAssertEqual(q.pop(), 1)
        XCTAssertEqual(q.pop(), 2)
        XCTAssertNil(q.pop())
    }
}
