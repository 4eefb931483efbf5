import Compute
import XCTest

/// The activation arena: freed blocks stay mapped and come back best-fit, neighbours merge, wholly free segments
/// beyond the cap go back to the system; small blocks and a zero cap bypass it.
final class HostBufferCacheTests: XCTestCase {
    let mib = 1 << 20

    func testFreedBlocksAreReusedAndMerged() {
        let arena = HostBufferCache(capacityBytes: 256 * mib)
        let a = arena.take(byteCount: mib), b = arena.take(byteCount: 3 * mib), c = arena.take(byteCount: mib)
        XCTAssertEqual(Int(bitPattern: a) % 4096, 0, "page aligned")
        XCTAssertEqual(arena.mappedBytes, HostBufferCache.segmentBytes, "one segment serves all three")
        arena.give(b, byteCount: 3 * mib)
        XCTAssertEqual(arena.take(byteCount: 2 * mib), b, "best fit: the 3 MiB hole, not the segment's tail")
        arena.give(b, byteCount: 2 * mib)
        // Freeing a and c merges a, the hole and c into one range that a 5 MiB block fits exactly.
        arena.give(a, byteCount: mib)
        arena.give(c, byteCount: mib)
        XCTAssertEqual(arena.heldBytes, HostBufferCache.segmentBytes, "everything free again")
        XCTAssertEqual(arena.take(byteCount: 5 * mib), a, "merged ranges serve a larger block from the start")
        arena.give(a, byteCount: 5 * mib)
        arena.trim()
        XCTAssertEqual(arena.mappedBytes, 0)
        XCTAssertEqual(arena.heldBytes, 0)
    }

    func testLargeBlocksGetTheirOwnSegmentAndTheCapReleasesWhollyFreeOnes() {
        let roomy = HostBufferCache(capacityBytes: 200 * mib)
        let big = roomy.take(byteCount: 70 * mib + 5)
        XCTAssertEqual(roomy.mappedBytes, 72 * mib, "a block over 64 MiB gets a segment of its size rounded up to 2 MiB")
        let small = roomy.take(byteCount: mib)
        XCTAssertEqual(roomy.mappedBytes, 72 * mib, "the small block is cut from that segment's tail")
        roomy.give(big, byteCount: 70 * mib + 5)
        XCTAssertEqual(roomy.take(byteCount: 62 * mib), big, "a later block reuses the freed range")
        roomy.give(big, byteCount: 62 * mib)
        roomy.give(small, byteCount: mib)
        XCTAssertEqual(roomy.heldBytes, 72 * mib, "under the cap everything stays mapped")
        roomy.trim()
        XCTAssertEqual(roomy.mappedBytes, 0)

        let tight = HostBufferCache(capacityBytes: 100 * mib)
        let large = tight.take(byteCount: 70 * mib), other = tight.take(byteCount: 3 * mib)
        XCTAssertEqual(tight.mappedBytes, 70 * mib + HostBufferCache.segmentBytes, "70 MiB fills its own segment")
        tight.give(other, byteCount: 3 * mib)
        XCTAssertEqual(tight.heldBytes, HostBufferCache.segmentBytes)
        // 70 + 64 MiB free > 100 MiB: the oldest wholly free segment (the 70 MiB one) goes back.
        tight.give(large, byteCount: 70 * mib)
        XCTAssertEqual(tight.mappedBytes, HostBufferCache.segmentBytes)
        XCTAssertEqual(tight.heldBytes, HostBufferCache.segmentBytes)
        tight.trim()
        XCTAssertEqual(tight.mappedBytes, 0)
    }

    /// Random sizes and lifetimes: live blocks never overlap (each keeps its own fill pattern), and once
    /// everything is freed each segment is one free range again.
    func testRandomWorkloadKeepsBlocksDisjoint() {
        let arena = HostBufferCache(capacityBytes: 512 * mib)
        var rng = SystemRandomNumberGenerator()
        var live: [(UnsafeMutableRawPointer, Int, UInt8)] = []
        for step in 0..<400 {
            if !live.isEmpty, Int.random(in: 0..<3, using: &rng) == 0 || live.count > 24 {
                let (p, n, tag) = live.remove(at: Int.random(in: 0..<live.count, using: &rng))
                let bytes = p.assumingMemoryBound(to: UInt8.self)
                XCTAssertTrue(bytes[0] == tag && bytes[n / 2] == tag && bytes[n - 1] == tag, "block overwritten at step \(step)")
                arena.give(p, byteCount: n)
            } else {
                let n = Int.random(in: HostBufferCache.minimumBytes...(Bool.random(using: &rng) ? 2 * mib : 48 * mib), using: &rng)
                let p = arena.take(byteCount: n)
                let tag = UInt8(truncatingIfNeeded: step)
                p.initializeMemory(as: UInt8.self, repeating: tag, count: n)
                live.append((p, n, tag))
            }
        }
        for (p, n, tag) in live {
            XCTAssertEqual(p.assumingMemoryBound(to: UInt8.self)[n - 1], tag)
            arena.give(p, byteCount: n)
        }
        XCTAssertEqual(arena.heldBytes, arena.mappedBytes, "all memory free")
        arena.trim()
        XCTAssertEqual(arena.mappedBytes, 0, "every segment merged back into one free range")
    }

    func testSmallBlocksAndZeroCapBypassTheArena() {
        let arena = HostBufferCache(capacityBytes: mib)
        arena.give(arena.take(byteCount: 4096), byteCount: 4096)
        XCTAssertEqual(arena.mappedBytes, 0, "blocks under \(HostBufferCache.minimumBytes) bytes go straight to malloc")
        let off = HostBufferCache(capacityBytes: 0)
        off.give(off.take(byteCount: mib), byteCount: mib)
        XCTAssertEqual(off.mappedBytes, 0)
        XCTAssertEqual(off.heldBytes, 0)
    }

    /// Tensors return their storage to the shared arena and get it back: a model's next layer reuses the pages.
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
