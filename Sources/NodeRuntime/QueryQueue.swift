import Foundation

/// A bounded FIFO between the bus thread (producer) and the worker (consumer). Full means `overloaded`.
public final class QueryQueue<Element>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Element] = []
    private var start = 0
    private var closed = false
    public let capacity: Int

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Adds `item` unless the queue is full or closed.
    public func tryPush(_ item: Element) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed, items.count - start < capacity else { return false }
        items.append(item)
        condition.signal()
        return true
    }

    /// The oldest item; blocks while empty; nil once closed and empty.
    public func pop() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while items.count == start && !closed { condition.wait() }
        guard items.count > start else { return nil }
        let item = items[start]
        start += 1
        if start > 1024 && start * 2 > items.count {
            items.removeFirst(start)
            start = 0
        }
        return item
    }

    public var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return items.count - start
    }

    /// No more pushes; `pop` drains what is left, then returns nil.
    public func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
