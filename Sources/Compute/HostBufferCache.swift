import Foundation

/// Host memory for activations: blocks of at least `minimumBytes` come from an arena of mapped segments that
/// keeps freed memory mapped, so that a model's next layer (and the next frame) writes pages that are already
/// there instead of fresh ones the kernel must zero and map on first touch.
///
/// Why: glibc serves every block over 32 MiB (and most over 128 KiB) with its own `mmap` and unmaps it on free.
/// On SAM2 that made page faults ~10% of set_image (`perf`, BENCHMARKS.md). An earlier version cached freed
/// blocks by exact size with an LRU cap, but a frame's allocations cycle through more sizes than any cap holds,
/// so the first stage's large tensors were evicted before the next frame needed them and were faulted in again
/// every frame (`bench sam2`: ~150k faults per hiera-t set_image).
///
/// How: sizes are rounded up to whole pages; a block is cut best-fit (the smallest free range that fits) from a
/// segment of 64 MiB, or of its own size rounded up to 2 MiB when larger, and merges with free neighbours of its
/// segment when freed. (Giving blocks over 32 MiB segments of their own that are never split was tried: same
/// speed, 240 MiB more peak RSS on hiera-l, because the first stage's large free segments then served nothing
/// later in the frame.) The arena holds at most `capacityBytes` of free memory: over it, wholly free segments go
/// back to the system, oldest first.
///
/// Cost and benefit on hiera-l (BENCHMARKS.md): `bench sam2` set_image 7.9 s without the arena (glibc maps and
/// faults every large tensor afresh), 6.9 s with it; peak RSS of a whole `perception-node sam2` run 1.32 GiB
/// without, 1.72 GiB with, since memory freed early in a frame stays mapped for the next (fragmentation keeps the
/// arena above the live peak).
///
/// The cap is `PERCEPTION_TENSOR_CACHE_MB` (default 1024; 0 turns the arena off: every block is malloc'd).
public final class HostBufferCache: @unchecked Sendable {
    public static let shared = HostBufferCache(
        capacityBytes: (ProcessInfo.processInfo.environment["PERCEPTION_TENSOR_CACHE_MB"].flatMap { Int($0) }.map { max(0, $0) } ?? 1024) << 20)

    /// Smaller blocks come from malloc's own free lists, which already reuse them.
    public static let minimumBytes = 1 << 16
    static let alignment = 64
    static let pageBytes = 4096
    public static let segmentBytes = 64 << 20
    static let largeSegmentRounding = 2 << 20

    public let capacityBytes: Int
    private let lock = NSLock()

    private struct Segment {
        let base: Int
        let bytes: Int
        let serial: UInt64
    }

    private struct FreeRange {
        let bytes: Int
        let segment: Int  // base of the segment holding it (ranges never merge across segments)
    }

    private var segments: [Int: Segment] = [:]  // by base address
    private var freeByStart: [Int: FreeRange] = [:]
    private var freeByEnd: [Int: Int] = [:]  // end address -> start address
    private var freeBytes = 0
    private var serial: UInt64 = 0

    public init(capacityBytes: Int) {
        self.capacityBytes = capacityBytes
    }

    /// Free bytes the arena holds for reuse now.
    public var heldBytes: Int {
        lock.lock(); defer { lock.unlock() }
        return freeBytes
    }

    /// Bytes mapped by the arena (in use plus held).
    public var mappedBytes: Int {
        lock.lock(); defer { lock.unlock() }
        return segments.values.reduce(0) { $0 + $1.bytes }
    }

    /// A 64-byte aligned block of `byteCount` bytes (contents undefined).
    public func take(byteCount: Int) -> UnsafeMutableRawPointer {
        guard byteCount >= Self.minimumBytes, capacityBytes > 0 else {
            return UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: Self.alignment)
        }
        let size = Self.rounded(byteCount)
        lock.lock()
        defer { lock.unlock() }
        if let p = cut(size) { return p }
        let bytes = max(Self.segmentBytes, Self.largeSegmentSize(size))
        guard let base = mapSegment(bytes: bytes) else {
            // Out of address space for a new segment: let malloc try (it reports failure its own way).
            return UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: Self.alignment)
        }
        insertFree(start: Int(bitPattern: base), bytes: bytes, segment: Int(bitPattern: base))
        return cut(size) ?? base  // the new segment always fits
    }

    /// Returns a block from `take` (same `byteCount`).
    public func give(_ pointer: UnsafeMutableRawPointer, byteCount: Int) {
        guard byteCount >= Self.minimumBytes, capacityBytes > 0 else {
            pointer.deallocate()
            return
        }
        let start = Int(bitPattern: pointer)
        var released: [Segment] = []
        lock.lock()
        guard let segment = segmentHolding(start) else {
            lock.unlock()
            pointer.deallocate()  // the malloc fallback in `take`
            return
        }
        var s = start, size = Self.rounded(byteCount)
        if let before = freeByEnd[s], let range = freeByStart[before], range.segment == segment.base {
            removeFree(start: before)
            s = before
            size += range.bytes
        }
        if let after = freeByStart[s + size], after.segment == segment.base {
            removeFree(start: s + size)
            size += after.bytes
        }
        insertFree(start: s, bytes: size, segment: segment.base)
        if freeBytes > capacityBytes { released = releaseFreeSegments(downTo: capacityBytes) }
        lock.unlock()
        for seg in released { munmap(UnsafeMutableRawPointer(bitPattern: seg.base), seg.bytes) }
    }

    /// Scratch of `count` floats (64-byte aligned, contents undefined) for the duration of `body`, from this arena.
    public func withScratch<R>(floats count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let raw = take(byteCount: bytes)
        defer { give(raw, byteCount: bytes) }
        return try body(raw.bindMemory(to: Float.self, capacity: max(count, 1)))
    }

    /// Returns every wholly free segment to the system.
    public func trim() {
        lock.lock()
        let released = releaseFreeSegments(downTo: 0)
        lock.unlock()
        for seg in released { munmap(UnsafeMutableRawPointer(bitPattern: seg.base), seg.bytes) }
    }

    // MARK: - internals (called with the lock held)

    private static func rounded(_ n: Int) -> Int { (n + pageBytes - 1) / pageBytes * pageBytes }
    private static func largeSegmentSize(_ n: Int) -> Int { (n + largeSegmentRounding - 1) / largeSegmentRounding * largeSegmentRounding }

    private func mapSegment(bytes: Int) -> UnsafeMutableRawPointer? {
        guard let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else { return nil }
        let base = Int(bitPattern: raw)
        serial &+= 1
        segments[base] = Segment(base: base, bytes: bytes, serial: serial)
        return raw
    }

    /// Best fit: the smallest free range of at least `size` bytes; the block is cut from its start.
    private func cut(_ size: Int) -> UnsafeMutableRawPointer? {
        var start = -1, bestBytes = Int.max
        for (s, range) in freeByStart where range.bytes >= size && (range.bytes < bestBytes || (range.bytes == bestBytes && s < start)) {
            start = s
            bestBytes = range.bytes
        }
        guard start >= 0, let range = freeByStart[start] else { return nil }
        removeFree(start: start)
        if range.bytes > size { insertFree(start: start + size, bytes: range.bytes - size, segment: range.segment) }
        return UnsafeMutableRawPointer(bitPattern: start)
    }

    private func insertFree(start: Int, bytes: Int, segment: Int) {
        freeByStart[start] = FreeRange(bytes: bytes, segment: segment)
        freeByEnd[start + bytes] = start
        freeBytes += bytes
    }

    private func removeFree(start: Int) {
        guard let r = freeByStart.removeValue(forKey: start) else { return }
        freeByEnd[start + r.bytes] = nil
        freeBytes -= r.bytes
    }

    private func segmentHolding(_ address: Int) -> Segment? {
        segments.values.first { address >= $0.base && address < $0.base + $0.bytes }
    }

    /// Removes wholly free segments (oldest first) until at most `limit` free bytes remain; the caller unmaps them.
    private func releaseFreeSegments(downTo limit: Int) -> [Segment] {
        var out: [Segment] = []
        let whollyFree = segments.values.filter { freeByStart[$0.base]?.bytes == $0.bytes }.sorted { $0.serial < $1.serial }
        for seg in whollyFree where freeBytes > limit {
            removeFree(start: seg.base)
            segments[seg.base] = nil
            out.append(seg)
        }
        return out
    }
}
