import Camera
import Foundation

/// The newest `capacity` frames from the camera thread, looked up by the bus thread (stamp, seq) and waited on
/// by the worker (first frame, a future seq). Thread-safe.
public final class FrameRing: @unchecked Sendable {
    private let condition = NSCondition()
    private var frames: [Frame] = []
    private var head = 0
    private var woken = false
    public let capacity: Int

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    public func push(_ frame: Frame) {
        condition.lock()
        if frames.count < capacity {
            frames.append(frame)
        } else {
            frames[head] = frame
            head = (head + 1) % capacity
        }
        condition.broadcast()
        condition.unlock()
    }

    /// Frames oldest first.
    private var ordered: [Frame] { Array(frames[head...] + frames[..<head]) }

    public var newest: Frame? {
        condition.lock()
        defer { condition.unlock() }
        return newestLocked
    }

    private var newestLocked: Frame? {
        guard !frames.isEmpty else { return nil }
        return frames[(head + frames.count - 1) % frames.count]
    }

    public var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return frames.count
    }

    public func frame(stampNs: Int64) -> Frame? {
        condition.lock()
        defer { condition.unlock() }
        return frames.last { $0.stampNs == stampNs }
    }

    public func frame(seq: UInt64) -> Frame? {
        condition.lock()
        defer { condition.unlock() }
        return frames.last { $0.seq == seq }
    }

    /// (oldest, newest) sequence numbers held, for error messages.
    public var seqRange: (UInt64, UInt64)? {
        condition.lock()
        defer { condition.unlock() }
        let o = ordered
        guard let a = o.first, let b = o.last else { return nil }
        return (a.seq, b.seq)
    }

    /// Waits until a frame satisfying `match` is held (checked newest first), `until` passes, or `wakeAll()`.
    public func wait(until: Date, _ match: (Frame) -> Bool) -> Frame? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let f = ordered.last(where: match) { return f }
            if woken || Date() >= until { return nil }
            _ = condition.wait(until: until)
        }
    }

    /// Releases every waiter for good (shutdown).
    public func wakeAll() {
        condition.lock()
        woken = true
        condition.broadcast()
        condition.unlock()
    }
}
