import CV4L2
import Imaging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Counters specific to V4L2 capture, beyond the common `CameraCounters`.
public struct V4L2Stats: Sendable, Equatable {
    /// Good frames dequeued but not delivered because a newer one was ready (drain to newest).
    public var framesSkipped: UInt64 = 0
    /// Polls that ended without a frame.
    public var pollTimeouts: UInt64 = 0
    /// Failed reopen attempts while reconnecting.
    public var failedReconnectAttempts: UInt64 = 0
    /// Buffers whose driver sequence repeated or went back (numbered on from the previous one).
    public var sequenceAnomalies: UInt64 = 0
    public init() {}
}

/// A V4L2 camera as a `FrameSource`: mmap streaming through libv4l2, newest-frame delivery, conversion to
/// RGB, and recovery from a vanished device by reopening with backoff.
///
/// Threading: one thread calls `nextFrame()` and owns the device; `close()` and the status properties may be
/// called from any thread.
public final class V4L2Source: FrameSource, @unchecked Sendable {
    public let config: V4L2Config

    private let stateLock = PThreadMutex()
    private let ioLock = PThreadMutex()
    private var _state: CameraState = .starting
    private var _counters = CameraCounters()
    private var _stats = V4L2Stats()
    private var _lastError: String?
    private var _negotiated: V4L2NegotiatedFormat?
    private var _deviceName = ""
    private var closed = false
    private var connectedOnce = false

    // Owned by the thread holding ioLock.
    private var device: V4L2Device?
    private var wakeRead: Int32 = -1
    private var wakeWrite: Int32 = -1
    private var lastDeviceSequence: UInt32?
    /// `Frame.seq` given to the last dequeued buffer; the next stream continues after it.
    private var lastAssignedSeq: UInt64?
    private var lastFrameTime = MonotonicClock.now()

    /// Opens and starts streaming; throws when the device cannot be opened (unless `waitForDevice`) or offers
    /// nothing usable.
    public init(config: V4L2Config) throws {
        self.config = config
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw V4L2Error.system(device: config.devicePath, call: "pipe", errno: errno) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        do {
            try openAndStream()
        } catch let error as V4L2Error where config.waitForDevice && error.isDeviceGone {
            _state = .reconnecting
            _lastError = "waiting for the device: \(error)"
        } catch {
            Glibc.close(wakeRead)
            Glibc.close(wakeWrite)
            throw error
        }
    }

    deinit {
        device?.close()
        Glibc.close(wakeRead)
        Glibc.close(wakeWrite)
    }

    public var state: CameraState { stateLock.withLock { _state } }
    public var counters: CameraCounters { stateLock.withLock { _counters } }
    public var stats: V4L2Stats { stateLock.withLock { _stats } }
    public var lastError: String? { stateLock.withLock { _lastError } }
    /// What the driver set at the last (re)negotiation.
    public var negotiated: V4L2NegotiatedFormat? { stateLock.withLock { _negotiated } }
    /// Driver and card name from QUERYCAP, e.g. "vivid: vivid".
    public var deviceName: String { stateLock.withLock { _deviceName } }

    private var isClosed: Bool { stateLock.withLock { closed } }
    private func update(_ body: (V4L2Source) -> Void) { stateLock.withLock { body(self) } }

    public func close() {
        let first: Bool = stateLock.withLock {
            if closed { return false }
            closed = true
            return true
        }
        guard first else { return }
        var one: UInt8 = 1
        _ = Glibc.write(wakeWrite, &one, 1)
        ioLock.withLock {
            device?.close()
            device = nil
        }
        update { $0._state = .finished }
    }

    // MARK: Capture

    /// Blocks until the newest frame is ready. Throws `V4L2Error.deviceLost` once when the device vanishes (the
    /// source is then `reconnecting` with every handle released); the next call reconnects with backoff.
    /// Returns nil after `close()` or when reconnecting gave up.
    public func nextFrame() throws -> Frame? {
        try ioLock.withLock { try nextFrameLocked() }
    }

    private func nextFrameLocked() throws -> Frame? {
        while true {
            if isClosed { return nil }
            if device == nil {
                guard reconnect() else { return nil }
            }
            guard let dev = device else { continue }

            var fds = [
                pollfd(fd: dev.fd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            let r = poll(&fds, 2, Int32(pollTimeoutSeconds * 1000))
            if r < 0 {
                if errno == EINTR { continue }
                throw V4L2Error.system(device: dev.path, call: "poll", errno: errno)
            }
            if isClosed || fds[1].revents != 0 { return nil }
            if r == 0 {
                update { $0._stats.pollTimeouts += 1 }
                let silent = MonotonicClock.now() - lastFrameTime
                if silent >= config.stallTimeout {
                    try lose("no frame for \(Int(silent)) s")
                }
                continue
            }
            let rev = Int32(fds[0].revents)
            if rev & (POLLERR | POLLHUP | POLLNVAL) != 0 {
                // Classify the error the way DQBUF reports it: ENODEV means unplugged, EIO a fatal stream error.
                var reason = "poll error (revents 0x\(String(rev, radix: 16)))"
                do {
                    _ = try dev.dequeue()
                } catch let V4L2Error.system(_, _, e) {
                    if e == EIO { update { $0._counters.framesCorrupt += 1 } }
                    reason = "\(reason), VIDIOC_DQBUF: \(String(cString: strerror(e))) (errno \(e))"
                }
                try lose(reason)
            }
            if rev & Int32(POLLIN) == 0 { continue }
            if let frame = try drain(dev) { return frame }
        }
    }

    private var pollTimeoutSeconds: Double {
        if let t = config.pollTimeout { return t }
        let period = 1.0 / (negotiated?.fps ?? config.fps ?? 30)
        return max(1.0, 2 * period)
    }

    /// Dequeues everything ready, requeues all but the newest good buffer, converts that one.
    /// (Called when poll reported a ready buffer; further buffers are polled for with a zero timeout rather than
    /// dequeued until EAGAIN, because libv4l2 prints an error line for every failed DQBUF.)
    private func drain(_ dev: V4L2Device) throws -> Frame? {
        var newest: v4l2_buffer?
        var newestSeq: UInt64 = 0
        var first = true
        while true {
            if !first && !dev.hasReadyBuffer() { break }
            first = false
            let buf: v4l2_buffer?
            do {
                buf = try dev.dequeue()
            } catch let V4L2Error.system(_, _, e) where e == EIO {
                update { $0._counters.framesCorrupt += 1 }
                if let n = newest { try? dev.queue(index: Int(n.index)) }
                try lose("VIDIOC_DQBUF: \(String(cString: strerror(e))) (fatal streaming error)")
            } catch let error as V4L2Error {
                if let n = newest { try? dev.queue(index: Int(n.index)) }
                try lose(error.description)
            }
            guard let buf else { break }
            let seq = assignSequence(buf.sequence)
            if buf.flags & V4L2Const.bufFlagError != 0 {
                update { $0._counters.framesCorrupt += 1 }
                try requeue(dev, buf)
                continue
            }
            if let older = newest {
                update { $0._stats.framesSkipped += 1 }
                try requeue(dev, older)
            }
            newest = buf
            newestSeq = seq
            if !config.drainToNewest { break }
        }
        guard let buf = newest else { return nil }
        lastFrameTime = MonotonicClock.now()
        let image: RGBImage
        do {
            image = try convert(dev.bytes(of: buf))
        } catch {
            update {
                $0._counters.framesCorrupt += 1
                $0._lastError = "frame \(buf.sequence): \(error)"
            }
            try requeue(dev, buf)
            return nil
        }
        try requeue(dev, buf)
        let frame = Frame(image: image, stampNs: stampNs(buf), seq: newestSeq, frameId: config.frameId)
        update { $0._counters.framesCaptured += 1 }
        return frame
    }

    private func requeue(_ dev: V4L2Device, _ buf: v4l2_buffer) throws {
        do {
            try dev.queue(index: Int(buf.index))
        } catch let error as V4L2Error {
            try lose(error.description)
        }
    }

    /// Maps the driver's sequence to `Frame.seq`: gaps are counted as drops and kept as gaps; a sequence that
    /// repeats or goes back (vivid repeats one when its thread falls behind) still gets the next number, so
    /// `Frame.seq` only grows, also across reconnects.
    private func assignSequence(_ s: UInt32) -> UInt64 {
        let seq: UInt64
        if let last = lastDeviceSequence, let prev = lastAssignedSeq {
            let gap = s &- last
            if gap >= 1 && gap < 1 << 31 {
                if gap > 1 { update { $0._counters.framesDropped += UInt64(gap - 1) } }
                seq = prev + UInt64(gap)
            } else {
                update { $0._stats.sequenceAnomalies += 1 }
                seq = prev + 1
            }
        } else {
            seq = lastAssignedSeq.map { $0 + 1 } ?? 0
        }
        lastDeviceSequence = s
        lastAssignedSeq = seq
        return seq
    }

    /// Buffer timestamps are CLOCK_MONOTONIC: shift them by the current realtime-monotonic offset.
    private func stampNs(_ buf: v4l2_buffer) -> Int64 {
        let realtime = clockNs(CLOCK_REALTIME)
        guard buf.flags & V4L2Const.bufFlagTimestampMask == V4L2Const.bufFlagTimestampMonotonic else { return realtime }
        let bufNs = Int64(buf.timestamp.tv_sec) * 1_000_000_000 + Int64(buf.timestamp.tv_usec) * 1000
        return realtime - clockNs(CLOCK_MONOTONIC) + bufNs
    }

    private func convert(_ raw: UnsafeRawBufferPointer) throws -> RGBImage {
        guard let f = negotiated else {
            throw V4L2Error.negotiationFailed(device: config.devicePath, message: "no format")
        }
        switch f.fourcc {
        case .mjpeg, .jpeg: return try PixelConversion.mjpegToRGB(raw)
        case .yuyv:
            return try PixelConversion.yuyvToRGB(
                raw, width: f.width, height: f.height, bytesPerLine: f.bytesPerLine, range: f.ycbcrRange)
        case .uyvy:
            return try PixelConversion.uyvyToRGB(
                raw, width: f.width, height: f.height, bytesPerLine: f.bytesPerLine, range: f.ycbcrRange)
        case .rgb24:
            return try PixelConversion.rgb24ToRGB(raw, width: f.width, height: f.height, bytesPerLine: f.bytesPerLine)
        case .bgr24:
            return try PixelConversion.bgr8ToRGB(raw, width: f.width, height: f.height, bytesPerLine: f.bytesPerLine)
        case .grey:
            return try PixelConversion.greyToRGB(raw, width: f.width, height: f.height, bytesPerLine: f.bytesPerLine)
        default: throw ImagingError.unsupportedFormat("V4L2 \(f.fourcc)")
        }
    }

    // MARK: Open, lose, reconnect

    private func openAndStream() throws {
        let dev = try V4L2Device(path: config.devicePath)
        do {
            try dev.queryCapabilities()
            let offered = try dev.formats()
            let names = offered.map { $0.fourcc.description + ($0.emulated ? " (emulated)" : "") }
            let fourcc: FourCC
            if config.format == .auto {
                guard let f = V4L2Config.chooseFormat(offered: offered, width: config.width, height: config.height)
                else { throw V4L2Error.noSupportedFormat(device: dev.path, offered: names) }
                fourcc = f
            } else {
                guard let f = config.format.fourccs.first(where: { c in offered.contains { $0.fourcc == c } }) else {
                    throw V4L2Error.formatNotOffered(
                        device: dev.path, requested: config.format.rawValue, offered: names)
                }
                fourcc = f
            }
            let got = try dev.setFormat(fourcc, width: config.width, height: config.height, fps: config.fps)
            try dev.startStreaming(bufferCount: config.bufferCount)
            device = dev
            connectedOnce = true
            lastDeviceSequence = nil
            lastFrameTime = MonotonicClock.now()
            update {
                $0._negotiated = got
                $0._deviceName = "\(dev.driver): \(dev.card)"
                $0._state = .streaming
            }
        } catch {
            dev.close()
            throw error
        }
    }

    /// Releases every handle, enters `reconnecting` and throws so the caller logs the outage.
    private func lose(_ reason: String) throws -> Never {
        let path = device?.path ?? config.devicePath
        device?.close()
        device = nil
        update {
            $0._state = .reconnecting
            $0._lastError = "device lost: \(reason)"
        }
        throw V4L2Error.deviceLost(device: path, reason: reason)
    }

    /// Reopens with exponential backoff until it works (true), or the source is closed or gives up (false).
    private func reconnect() -> Bool {
        var delay = max(0.001, config.reconnectInitialDelay)
        var attempts = 0
        while true {
            if waitForWake(seconds: delay) { return false }
            attempts += 1
            do {
                let wasConnected = connectedOnce
                try openAndStream()
                if wasConnected { update { $0._counters.reconnects += 1 } }
                return true
            } catch {
                update {
                    $0._stats.failedReconnectAttempts += 1
                    $0._lastError = "reconnect attempt \(attempts): \(error)"
                }
                if let maxAttempts = config.reconnectMaxAttempts, attempts >= maxAttempts {
                    update {
                        $0._state = .failed
                        $0._lastError =
                            V4L2Error.gaveUp(
                                device: config.devicePath, attempts: attempts, lastError: "\(error)"
                            ).description
                    }
                    return false
                }
                delay = min(delay * 2, config.reconnectMaxDelay)
            }
        }
    }

    /// Sleeps up to `seconds`; true when `close()` woke it.
    private func waitForWake(seconds: Double) -> Bool {
        if isClosed { return true }
        var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
        let deadline = MonotonicClock.now() + seconds
        while true {
            let left = deadline - MonotonicClock.now()
            if left <= 0 { return isClosed }
            let r = poll(&fds, 1, Int32((left * 1000).rounded(.up)))
            if r > 0 || isClosed { return true }
        }
    }
}

fileprivate func clockNs(_ clock: clockid_t) -> Int64 {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

fileprivate enum MonotonicClock {
    /// Seconds on CLOCK_MONOTONIC.
    static func now() -> Double { Double(clockNs(CLOCK_MONOTONIC)) / 1e9 }
}

/// A pthread mutex (no Foundation dependency, so the capture code links into small static test binaries).
fileprivate final class PThreadMutex: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }
    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
