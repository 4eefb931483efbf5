import Compute
import XCTest

/// The activation-buffer cache: freed blocks come back for the same size, most recent first; the cap evicts the
/// least recently freed; small blocks and a zero cap bypass it.
final class HostBufferCacheTests: XCTestCase {
    func testReusesBlocksOfTheSameSizeWithinTheCap() {
        let mib = 1 << 20
        let cache = HostBufferCache(capacityBytes: 3 * mib)
        let a = cache.take(byteCount: mib), b = cache.take(byteCount: mib)
        XCTAssertEqual(Int(bitPattern: a) % 64, 0, "64-byte aligned")
        cache.give(a, byteCount: mib)
        cache.give(b, byteCount: mib)
        XCTAssertEqual(cache.heldBytes, 2 * mib)
        XCTAssertEqual(cache.take(byteCount: mib), b, "most recently freed first")
        XCTAssertEqual(cache.take(byteCount: mib), a)
        XCTAssertEqual(cache.heldBytes, 0)

        // Over the cap the oldest go: hold a (1 MiB) then c (2 MiB); freeing d (1 MiB) evicts a, the oldest.
        let c = cache.take(byteCount: 2 * mib), d = cache.take(byteCount: mib)
        cache.give(a, byteCount: mib)
        cache.give(c, byteCount: 2 * mib)
        cache.give(d, byteCount: mib)
        XCTAssertEqual(cache.heldBytes, 3 * mib)
        XCTAssertEqual(cache.take(byteCount: mib), d, "a was evicted, d is the only 1 MiB block")
        XCTAssertEqual(cache.take(byteCount: 2 * mib), c)
        let fresh = cache.take(byteCount: mib)
        XCTAssertEqual(cache.heldBytes, 0)
        for (p, n) in [(d, mib), (c, 2 * mib), (fresh, mib)] { cache.give(p, byteCount: n) }
        // A block bigger than the cap is never held.
        cache.give(cache.take(byteCount: 4 * mib), byteCount: 4 * mib)
        XCTAssertLessThanOrEqual(cache.heldBytes, 3 * mib)
        cache.trim()
        XCTAssertEqual(cache.heldBytes, 0)
    }

    func testSmallBlocksAndZeroCapBypassTheCache() {
        let cache = HostBufferCache(capacityBytes: 1 << 20)
        cache.give(cache.take(byteCount: 4096), byteCount: 4096)
        XCTAssertEqual(cache.heldBytes, 0, "blocks under \(HostBufferCache.minimumBytes) bytes go straight back to malloc")
        let off = HostBufferCache(capacityBytes: 0)
        off.give(off.take(byteCount: 1 << 20), byteCount: 1 << 20)
        XCTAssertEqual(off.heldBytes, 0)
    }

    /// Tensors return their storage to the shared cache and get it back: a model's next layer reuses the pages.
    func testTensorsReuseFreedStorage() {
        let shape = [256, 1024]  // 1 MiB
        var first: UnsafeMutableRawPointer?
        do {
            let t = Tensor(uninitialized: shape)
            first = t.storage.base
        }
        let again = Tensor(uninitialized: shape)
        if HostBufferCache.shared.capacityBytes >= 1 << 20 {
            XCTAssertEqual(again.storage.base, first)
        }
        again.floats.initialize(repeating: 7, count: again.count)
        let dirty = again.storage.base
        _ = consume again
        let zeroed = Tensor(zeros: shape)
        if HostBufferCache.shared.capacityBytes >= 1 << 20 { XCTAssertEqual(zeroed.storage.base, dirty) }
        XCTAssertTrue(zeroed.toArray().allSatisfy { $0 == 0 }, "a reused block is zero-filled when asked")
    }
}
