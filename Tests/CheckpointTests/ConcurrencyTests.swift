import Checkpoint
import Foundation
import XCTest

/// Stores are shared by loader threads: lazily opened shards must be opened once and read consistently.
final class ConcurrencyTests: XCTestCase {
    func testParallelReadsOfLazilyOpenedShards() throws {
        for fixture in ["sharded", "hf_qwen2", "basic.pt"] {
            let store = try Checkpoint.open(path: Fixtures.path(fixture))
            let names = store.names
            let reference = try Checkpoint.open(path: Fixtures.path(fixture))
            let expected = try names.map { try reference.tensor($0).floats().map(\.bitPattern) }
            let mismatches = Mutexed(0)
            DispatchQueue.concurrentPerform(iterations: 64) { i in
                let k = i % names.count
                let got = (try? store.tensor(names[k]).floats().map(\.bitPattern)) ?? []
                if got != expected[k] { mismatches.update { $0 += 1 } }
            }
            XCTAssertEqual(mismatches.value, 0, fixture)
        }
    }
}

final class Mutexed<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var v: T
    init(_ v: T) { self.v = v }
    var value: T {
        lock.lock()
        defer { lock.unlock() }
        return v
    }
    func update(_ f: (inout T) -> Void) {
        lock.lock()
        f(&v)
        lock.unlock()
    }
}
