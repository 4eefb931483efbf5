import Foundation

/// A frame's identity for per-frame caches: its source sequence number and capture stamp.
public struct FrameKey: Hashable, Sendable {
    public var seq: UInt64
    public var stampNs: Int64
    public init(seq: UInt64, stampNs: Int64) {
        self.seq = seq
        self.stampNs = stampNs
    }
}

/// Per-frame results kept for the latest few frames (SAM2 image embeddings, vision-tower outputs, prompt
/// KV caches), so further questions about a frame skip the expensive part. Bounded by entry count; the
/// least recently used frame goes first. Thread-safe; counts hits and misses for Status.
public final class FrameCache<Value>: @unchecked Sendable {
    public typealias Key = FrameKey

    public let capacity: Int
    private var entries: [(key: Key, value: Value)] = []
    private let lock = NSLock()
    public private(set) var hits = 0
    public private(set) var misses = 0

    public init(capacity: Int) { self.capacity = max(1, capacity) }

    /// The cached value for `key`, or the one `make` computes (then cached). `make` runs outside the lock;
    /// callers serialize per model (one worker thread), so a frame is not computed twice concurrently.
    public func value(for key: Key, make: () throws -> Value) rethrows -> (value: Value, hit: Bool) {
        lock.lock()
        if let i = entries.firstIndex(where: { $0.key == key }) {
            let entry = entries.remove(at: i)
            entries.append(entry)
            hits += 1
            lock.unlock()
            return (entry.value, true)
        }
        misses += 1
        lock.unlock()
        let value = try make()
        lock.lock()
        entries.removeAll { $0.key == key }
        entries.append((key, value))
        if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
        lock.unlock()
        return (value, false)
    }

    public var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return entries.count
    }
}
