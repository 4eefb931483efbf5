import Foundation

/// Keeps freed activation buffers for reuse, so that a model's next layer (or the next frame) gets memory whose
/// pages are already mapped.
///
/// Without it every large tensor is a fresh `mmap` from glibc (blocks over its 32 MiB ceiling always are, and
/// most above 128 KiB), and the kernel zero-fills and maps each page on first touch: on SAM2 hiera-l that was
/// ~10% of set_image's time in page faults (`perf`, BENCHMARKS.md). Model graphs allocate the same shapes over
/// and over, so buffers are cached by exact size (blocks of at least `minimumBytes`), most recently freed first,
/// up to `capacityBytes` in all; over the cap the least recently freed go back to the system.
///
/// The cap is `PERCEPTION_TENSOR_CACHE_MB` (default 256; 0 turns the cache off). Cached bytes count in the
/// process's RSS, so the cap is the most this adds to peak memory.
public final class HostBufferCache: @unchecked Sendable {
    public static let shared = HostBufferCache(
        capacityBytes: (ProcessInfo.processInfo.environment["PERCEPTION_TENSOR_CACHE_MB"].flatMap { Int($0) }.map { max(0, $0) } ?? 256) << 20)

    /// Smaller blocks come from malloc's own free lists, which already reuse them.
    public static let minimumBytes = 1 << 16
    static let alignment = 64

    public let capacityBytes: Int
    private let lock = NSLock()
    private var free: [Int: [Entry]] = [:]
    private var cachedBytes = 0
    private var clock: UInt64 = 0

    private struct Entry {
        let pointer: UnsafeMutableRawPointer
        let stamp: UInt64
    }

    public init(capacityBytes: Int) {
        self.capacityBytes = capacityBytes
    }

    /// Bytes held for reuse now.
    public var heldBytes: Int {
        lock.lock(); defer { lock.unlock() }
        return cachedBytes
    }

    /// A 64-byte aligned block of `byteCount` bytes (contents undefined).
    public func take(byteCount: Int) -> UnsafeMutableRawPointer {
        if byteCount >= Self.minimumBytes, capacityBytes > 0 {
            lock.lock()
            if let entry = free[byteCount]?.popLast() {
                cachedBytes -= byteCount
                lock.unlock()
                return entry.pointer
            }
            lock.unlock()
        }
        return UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: Self.alignment)
    }

    /// Returns a block from `take` (same `byteCount`).
    public func give(_ pointer: UnsafeMutableRawPointer, byteCount: Int) {
        guard byteCount >= Self.minimumBytes, byteCount <= capacityBytes else {
            pointer.deallocate()
            return
        }
        var evicted: [UnsafeMutableRawPointer] = []
        lock.lock()
        clock &+= 1
        free[byteCount, default: []].append(Entry(pointer: pointer, stamp: clock))
        cachedBytes += byteCount
        while cachedBytes > capacityBytes, let size = sizeOfOldest() {
            let entry = free[size, default: []].removeFirst()
            if free[size]?.isEmpty == true { free[size] = nil }
            cachedBytes -= size
            evicted.append(entry.pointer)
        }
        lock.unlock()
        for p in evicted { p.deallocate() }
    }

    /// Frees every cached block.
    public func trim() {
        lock.lock()
        let all = free.values.flatMap { $0.map(\.pointer) }
        free = [:]
        cachedBytes = 0
        lock.unlock()
        for p in all { p.deallocate() }
    }

    /// The size whose first (oldest: entries of one size are in freeing order) block was freed longest ago.
    private func sizeOfOldest() -> Int? {
        free.compactMap { size, entries in entries.first.map { (size, $0.stamp) } }.min { $0.1 < $1.1 }?.0
    }
}
