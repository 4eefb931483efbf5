import Dispatch

/// Splits index ranges across the backend's threads with `DispatchQueue.concurrentPerform`.
enum Parallel {
    /// Calls `body(range)` on disjoint chunks covering `0..<count`, at most `threads` chunks at a time
    /// (sequentially when the work is below `grain` items).
    static func forRanges(_ count: Int, threads: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = min(threads, max(1, count / max(grain, 1)))
        if chunks <= 1 {
            body(0..<count)
            return
        }
        let per = (count + chunks - 1) / chunks
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = c * per
            let hi = min(count, lo + per)
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Runs `count` independent tasks on up to `threads` workers; each worker gets its index (for scratch).
    static func forTasks(_ count: Int, threads: Int, _ body: (_ task: Int, _ worker: Int) -> Void) {
        guard count > 0 else { return }
        let workers = min(threads, count)
        if workers <= 1 {
            for t in 0..<count { body(t, 0) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var t = w
            while t < count {
                body(t, w)
                t += workers
            }
        }
    }
}
