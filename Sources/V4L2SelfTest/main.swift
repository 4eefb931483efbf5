// v4l2-selftest: drives `V4L2Source` against the kernel's `vivid` virtual camera (inside the QEMU guest that
// scripts/vivid/run.sh boots) and prints one JSON object per check; Tests/Integration/test_v4l2_vivid.py
// asserts on them. Usage: v4l2-selftest [/dev/video0] [width] [height]
import Camera
import Imaging

#if canImport(Glibc)
    import Glibc
#endif

setvbuf(stdout, nil, _IOLBF, 0)

let args = CommandLine.arguments
let devicePath = args.count > 1 ? args[1] : "/dev/video0"
let width = args.count > 2 ? Int(args[2]) ?? 320 : 320
let height = args.count > 3 ? Int(args[3]) ?? 180 : 180
/// The stable name scripts/vivid/init creates (udev's /dev/v4l/by-id layout).
let byIdName = args.count > 4 ? args[4] : "platform-vivid.0-video-index0"

// MARK: JSON lines

enum J {
    case s(String)
    case i(Int)
    case u(UInt64)
    case d(Double)
    case b(Bool)
    case a([J])
    case o([(String, J)])
    case null

    var text: String {
        switch self {
        case .s(let v):
            var out = "\""
            for u in v.unicodeScalars {
                switch u {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case _ where u.value < 0x20: out += "\\u00" + (u.value < 16 ? "0" : "") + String(u.value, radix: 16)
                default: out.unicodeScalars.append(u)
                }
            }
            return out + "\""
        case .i(let v): return String(v)
        case .u(let v): return String(v)
        case .d(let v): return v.isFinite ? String(v) : "null"
        case .b(let v): return v ? "true" : "false"
        case .a(let v): return "[" + v.map(\.text).joined(separator: ",") + "]"
        case .o(let v): return "{" + v.map { J.s($0.0).text + ":" + $0.1.text }.joined(separator: ",") + "}"
        case .null: return "null"
        }
    }
}

var failures = 0
var checks = 0

func emit(_ event: String, ok: Bool, _ fields: [(String, J)]) {
    checks += 1
    if !ok { failures += 1 }
    print(J.o([("event", .s(event)), ("ok", .b(ok))] + fields).text)
}

func counterFields(_ c: CameraCounters) -> J {
    .o([
        ("captured", .u(c.framesCaptured)), ("dropped", .u(c.framesDropped)), ("corrupt", .u(c.framesCorrupt)),
        ("reconnects", .u(c.reconnects)),
    ])
}

func errorText(_ e: Error) -> String { "\(e)" }

/// Handles on video nodes held by this process (from /proc/self/fd).
func openVideoHandles() -> Int {
    guard let dir = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(dir) }
    var count = 0
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        guard name != ".", name != ".." else { continue }
        var buf = [CChar](repeating: 0, count: 512)
        let n = readlink("/proc/self/fd/" + name, &buf, 511)
        guard n > 0 else { continue }
        let target = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if target.hasPrefix("/dev/video") { count += 1 }
    }
    return count
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func realtimeNs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

/// Runs `body` on a new pthread; `join` waits for it.
final class Worker {
    private var thread = pthread_t()
    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
    init(_ body: @escaping () -> Void) {
        let ctx = Unmanaged.passRetained(Box(body)).toOpaque()
        pthread_create(
            &thread, nil,
            { p in
                guard let p else { return nil }
                Unmanaged<Box>.fromOpaque(p).takeRetainedValue().body()
                return nil
            }, ctx)
    }
    func join() { pthread_join(thread, nil) }
}

/// Writes a vivid control from a separate handle that is closed right after (vivid only reconnects a
/// disconnected device once every handle is gone).
func setControl(_ name: String, _ value: Int32) throws {
    let dev = try V4L2Device(path: devicePath)
    defer { dev.close() }
    try dev.setControl(name, value)
}

func baseConfig(_ format: V4L2Config.Format) -> V4L2Config {
    V4L2Config(
        device: devicePath, format: format, width: width, height: height, fps: 30, bufferCount: 4,
        frameId: "vivid_optical_frame", pollTimeout: 2, stallTimeout: 10, reconnectInitialDelay: 0.05,
        reconnectMaxDelay: 0.4, reconnectMaxAttempts: 40, drainToNewest: false)
}

// MARK: vivid's 75% colour bars

/// vivid's default test pattern: eight vertical bars, 75% amplitude, left to right.
let bars75: [(String, [Int])] = [
    ("white", [191, 191, 191]), ("yellow", [191, 191, 0]), ("cyan", [0, 191, 191]), ("green", [0, 191, 0]),
    ("magenta", [191, 0, 191]), ("red", [191, 0, 0]), ("blue", [0, 0, 191]), ("black", [0, 0, 0]),
]

/// Mean colour of a 5x5 patch in the middle of each bar, half way down (the text overlay is switched off).
func sampleBars(_ img: RGBImage) -> [[Int]] {
    (0..<8).map { bar in
        let cx = (2 * bar + 1) * img.width / 16
        let cy = img.height / 2
        var sum = [0, 0, 0]
        var n = 0
        for y in max(0, cy - 2)...min(img.height - 1, cy + 2) {
            for x in max(0, cx - 2)...min(img.width - 1, cx + 2) {
                for c in 0..<3 { sum[c] += Int(img[x, y, c]) }
                n += 1
            }
        }
        return sum.map { ($0 + n / 2) / n }
    }
}

/// GREY carries luma; vivid (sRGB colorspace) computes it with the BT.709 weights.
func expectedBars(gray: Bool) -> [[Int]] {
    bars75.map { _, rgb in
        guard gray else { return rgb }
        let l = (0.2126 * Double(rgb[0]) + 0.7152 * Double(rgb[1]) + 0.0722 * Double(rgb[2])).rounded()
        return [Int(l), Int(l), Int(l)]
    }
}

// MARK: Checks

func probe() {
    do {
        let dev = try V4L2Device(path: devicePath)
        defer { dev.close() }
        try dev.queryCapabilities()
        let formats = try dev.formats()
        let controls = try dev.controls()
        emit(
            "probe", ok: true,
            [
                ("driver", .s(dev.driver)), ("card", .s(dev.card)),
                ("formats", .a(formats.filter { !$0.emulated }.map { .s($0.fourcc.description) })),
                ("emulated", .a(formats.filter { $0.emulated }.map { .s($0.fourcc.description) })),
                ("controls", .a(controls.map { .s($0.key) })),
            ])
    } catch {
        emit("probe", ok: false, [("error", .s(errorText(error)))])
    }
}

/// Negotiates one format, captures frames, checks size, sequence, stamps and the colour bars.
func checkFormat(
    _ format: V4L2Config.Format, frames: Int = 4, tolerance: Int, size: (Int, Int) = (width, height),
    event: String = "format"
) {
    do {
        try setControl("osd_text_mode", 2)  // menu: 0 all, 1 counters only, 2 none
        var config = baseConfig(format)
        (config.width, config.height) = size
        let source = try V4L2Source(config: config)
        defer { source.close() }
        guard let neg = source.negotiated else {
            emit(event, ok: false, [("format", .s(format.rawValue)), ("error", .s("no negotiated format"))])
            return
        }
        var seqs: [UInt64] = []
        var sizeOK = true
        var stampOK = true
        var last: RGBImage?
        var lastStamp: Int64 = 0
        var maxSkewMs = 0
        for _ in 0..<frames {
            guard let frame = try source.nextFrame() else { break }
            seqs.append(frame.seq)
            sizeOK = sizeOK && frame.image.width == neg.width && frame.image.height == neg.height
            // The stamp is UTC: within 2 s of the realtime clock (unconverted it would be the time since boot, decades
            // off; vivid stamps a frame with its scheduled time, and under TCG an HD frame takes ~0.4 s to draw),
            // and increasing.
            let skew = realtimeNs() - frame.stampNs
            maxSkewMs = max(maxSkewMs, abs(Int(skew / 1_000_000)))
            stampOK = stampOK && abs(skew) < 2_000_000_000 && frame.stampNs > lastStamp
            last = frame.image
            lastStamp = frame.stampNs
        }
        let increasing = seqs.count == frames && zip(seqs, seqs.dropFirst()).allSatisfy { $0 < $1 }
        let got = last.map(sampleBars) ?? []
        let want = expectedBars(gray: format == .grey)
        let err = zip(got, want).map { g, w in zip(g, w).map { abs($0 - $1) }.max() ?? 255 }.max() ?? 255
        let c = source.counters
        let ok =
            sizeOK && stampOK && increasing && got.count == 8 && err <= tolerance && neg.width == size.0
            && neg.height == size.1 && c.framesCorrupt == 0
        emit(
            event, ok: ok,
            [
                ("format", .s(format.rawValue)), ("fourcc", .s(neg.fourcc.description)), ("width", .i(neg.width)),
                ("height", .i(neg.height)), ("bytesperline", .i(neg.bytesPerLine)),
                ("fps", neg.fps.map { .d($0) } ?? .null),
                ("frames", .i(seqs.count)), ("seqs", .a(seqs.map { .u($0) })), ("size_ok", .b(sizeOK)),
                ("stamp_ok", .b(stampOK)), ("bars", .a(got.map { .a($0.map { .i($0) }) })), ("bar_max_error", .i(err)),
                ("tolerance", .i(tolerance)), ("counters", counterFields(c)),
                ("stamp_max_skew_ms", .i(maxSkewMs)), ("sequence_anomalies", .u(source.stats.sequenceAnomalies)),
            ])
    } catch {
        emit(event, ok: false, [("format", .s(format.rawValue)), ("error", .s(errorText(error)))])
    }
}

/// `auto` on vivid (no MJPEG) must pick YUYV.
func checkAuto() {
    do {
        let source = try V4L2Source(config: baseConfig(.auto))
        defer { source.close() }
        let got = source.negotiated?.fourcc.description ?? "?"
        let frame = try source.nextFrame()
        emit("auto", ok: got == "YUYV" && frame != nil, [("fourcc", .s(got))])
    } catch {
        emit("auto", ok: false, [("error", .s(errorText(error)))])
    }
}

/// percentage_of_dropped_buffers=50: sequence gaps are counted, and they match the gaps in `Frame.seq`.
func checkDropped() {
    do {
        let source = try V4L2Source(config: baseConfig(.yuyv))
        defer { source.close() }
        _ = try source.nextFrame()
        try setControl("percentage_of_dropped_buffers", 50)
        defer { try? setControl("percentage_of_dropped_buffers", 0) }
        let c0 = source.counters
        var seqs: [UInt64] = []
        for _ in 0..<16 {
            guard let f = try source.nextFrame() else { break }
            seqs.append(f.seq)
        }
        let c1 = source.counters
        let seqGaps = zip(seqs, seqs.dropFirst()).reduce(UInt64(0)) { $0 + ($1.1 - $1.0 - 1) }
        let dropped = c1.framesDropped - c0.framesDropped
        // Gaps before the first collected frame are counted too, so the counter is at least the visible gaps.
        emit(
            "dropped", ok: dropped > 0 && seqGaps > 0 && dropped >= seqGaps && c1.framesCorrupt == 0,
            [("seqs", .a(seqs.map { .u($0) })), ("seq_gaps", .u(seqGaps)), ("counters", counterFields(c1))])
    } catch {
        emit("dropped", ok: false, [("error", .s(errorText(error)))])
    }
}

/// inject_v4l2_buf_flag_error: exactly the flagged buffer is skipped and counted as corrupt; streaming goes on.
func checkBufFlagError() {
    do {
        let source = try V4L2Source(config: baseConfig(.yuyv))
        defer { source.close() }
        _ = try source.nextFrame()
        try setControl("inject_v4l2_buf_flag_error", 1)
        var frames = 0
        for _ in 0..<6 {
            if try source.nextFrame() != nil { frames += 1 }
        }
        let c = source.counters
        emit(
            "buf_flag_error",
            ok: c.framesCorrupt == 1 && frames == 6 && source.state == .streaming && c.reconnects == 0,
            [("frames_after", .i(frames)), ("counters", counterFields(c))])
    } catch {
        emit("buf_flag_error", ok: false, [("error", .s(errorText(error)))])
    }
}

/// inject_fatal_streaming_error: the source reports the failure, restarts the device and streams again.
func checkFatalStreamingError() {
    do {
        let source = try V4L2Source(config: baseConfig(.yuyv))
        defer { source.close() }
        _ = try source.nextFrame()
        try setControl("inject_fatal_streaming_error", 1)
        var thrown: String?
        var stateAfterThrow = ""
        for _ in 0..<5 {
            do {
                _ = try source.nextFrame()
            } catch {
                thrown = errorText(error)
                stateAfterThrow = source.state.rawValue
                break
            }
        }
        let handles = openVideoHandles()
        let resumed = try source.nextFrame() != nil
        let c = source.counters
        emit(
            "fatal_streaming_error",
            ok: thrown != nil && stateAfterThrow == "reconnecting" && handles == 0 && resumed && c.reconnects == 1
                && source.state == .streaming,
            [
                ("error", thrown.map { .s($0) } ?? .null), ("state_after_error", .s(stateAfterThrow)),
                ("video_handles_while_reconnecting", .i(handles)), ("resumed", .b(resumed)),
                ("counters", counterFields(c)),
            ])
    } catch {
        emit("fatal_streaming_error", ok: false, [("error", .s(errorText(error)))])
    }
}

/// disconnect: outage reported, every handle released (which lets vivid come back), renegotiated, resumed.
/// The source opens the camera by its /dev/v4l/by-id name, as a robot configuration would.
func checkDisconnect() {
    do {
        var config = baseConfig(.yuyv)
        config.device = byIdName
        let source = try V4L2Source(config: config)
        defer { source.close() }
        for _ in 0..<2 { _ = try source.nextFrame() }
        let seqBefore = try source.nextFrame()?.seq ?? 0
        try setControl("disconnect", 1)
        var thrown: String?
        var stateAfterThrow = ""
        for _ in 0..<5 {
            do {
                _ = try source.nextFrame()
            } catch {
                thrown = errorText(error)
                stateAfterThrow = source.state.rawValue
                break
            }
        }
        let handles = openVideoHandles()
        let t0 = now()
        let frame = try source.nextFrame()
        let outage = now() - t0
        let c = source.counters
        let ok =
            thrown != nil && stateAfterThrow == "reconnecting" && handles == 0 && frame != nil
            && (frame?.seq ?? 0) > seqBefore && c.reconnects == 1 && source.state == .streaming
            && source.negotiated?.fourcc == .yuyv
        emit(
            "disconnect", ok: ok,
            [
                ("error", thrown.map { .s($0) } ?? .null), ("state_after_error", .s(stateAfterThrow)),
                ("video_handles_while_reconnecting", .i(handles)), ("resumed", .b(frame != nil)),
                ("seq_before", .u(seqBefore)), ("seq_after", frame.map { .u($0.seq) } ?? .null),
                ("reconnect_seconds", .d((outage * 1000).rounded() / 1000)), ("counters", counterFields(c)),
                ("device", .s(config.devicePath)),
            ])
    } catch {
        emit("disconnect", ok: false, [("error", .s(errorText(error)))])
    }
}

/// close() from another thread ends a nextFrame() blocked in reconnect backoff (device held away from us).
func checkCloseWhileReconnecting() {
    do {
        var config = baseConfig(.yuyv)
        config.reconnectMaxAttempts = nil
        config.reconnectInitialDelay = 0.2
        config.reconnectMaxDelay = 0.2
        let source = try V4L2Source(config: config)
        _ = try source.nextFrame()
        // Keep our own handle open so vivid stays disconnected and the source cannot come back.
        let holder = try V4L2Device(path: devicePath)
        try holder.setControl("disconnect", 1)
        var thrown = false
        for _ in 0..<5 {
            do { _ = try source.nextFrame() } catch {
                thrown = true
                break
            }
        }
        var result: Frame?? = .none
        var returnedAt = 0.0
        let worker = Worker {
            result = .some(try? source.nextFrame())
            returnedAt = now()
        }
        // Let it fail a few reopen attempts (ENODEV while our handle is open), then close from this thread.
        usleep(700_000)
        let failedAttempts = source.stats.failedReconnectAttempts
        let closedAt = now()
        source.close()
        worker.join()
        holder.close()
        let latency = returnedAt - closedAt
        let returnedNil: Bool = {
            if case .some(.none) = result { return true }
            return false
        }()
        emit(
            "close_while_reconnecting",
            ok: thrown && returnedNil && latency < 0.5 && failedAttempts >= 1 && source.state == .finished,
            [
                ("failed_attempts", .u(failedAttempts)), ("close_latency_s", .d((latency * 1000).rounded() / 1000)),
                ("state", .s(source.state.rawValue)),
            ])
        // Let vivid reconnect now that every handle is closed.
        let probeDev = try V4L2Device(path: devicePath)
        probeDev.close()
    } catch {
        emit("close_while_reconnecting", ok: false, [("error", .s(errorText(error)))])
    }
}

/// Drain to newest: after the consumer stalls, every ready buffer is dequeued, the newest is delivered and the
/// older ones are requeued (counted as skipped); the next frame is then fresh, and the frames the driver could
/// not fill while every buffer was full show up as a sequence gap, counted as dropped.
func checkDrainToNewest() {
    do {
        var config = baseConfig(.yuyv)
        config.drainToNewest = true
        let source = try V4L2Source(config: config)
        defer { source.close() }
        let first = try source.nextFrame()
        usleep(400_000)
        let c0 = source.counters
        let frame = try source.nextFrame()
        let jump = Int((frame?.seq ?? 0) &- (first?.seq ?? 0))
        let st = source.stats
        let dropped = Int(source.counters.framesDropped - c0.framesDropped)
        let next = try source.nextFrame()
        let nextAgeMs = next.map { Int((realtimeNs() - $0.stampNs) / 1_000_000) } ?? -1
        emit(
            "drain_to_newest",
            ok: frame != nil && jump >= 2 && Int(st.framesSkipped) == jump - 1 - dropped && nextAgeMs < 150
                && source.counters.framesDropped > 0,
            [
                ("seq_jump", .i(jump)), ("skipped", .u(st.framesSkipped)), ("next_frame_age_ms", .i(nextAgeMs)),
                ("buffers", .i(config.bufferCount)), ("counters", counterFields(source.counters)),
            ])
    } catch {
        emit("drain_to_newest", ok: false, [("error", .s(errorText(error)))])
    }
}

/// close() from another thread ends a nextFrame() blocked in poll (1 fps, so a frame is up to 1 s away).
func checkCloseWhilePolling() {
    do {
        var config = baseConfig(.yuyv)
        config.fps = 1
        let source = try V4L2Source(config: config)
        let fps = source.negotiated?.fps ?? 0
        _ = try source.nextFrame()
        var returnedNil = false
        var returnedAt = 0.0
        let worker = Worker {
            returnedNil = (try? source.nextFrame()) == nil
            returnedAt = now()
        }
        usleep(200_000)
        let closedAt = now()
        source.close()
        worker.join()
        let latency = returnedAt - closedAt
        emit(
            "close_while_polling", ok: fps == 1 && returnedNil && latency < 0.2 && source.state == .finished,
            [("fps", .d(fps)), ("close_latency_s", .d((latency * 1000).rounded() / 1000))])
    } catch {
        emit("close_while_polling", ok: false, [("error", .s(errorText(error)))])
    }
}

/// A reopen that fails (inject_vidioc_streamon_error makes the next STREAMON fail) is retried after a backoff.
func checkReconnectRetriesFailedAttempt() {
    do {
        let source = try V4L2Source(config: baseConfig(.yuyv))
        defer { source.close() }
        _ = try source.nextFrame()
        try setControl("inject_vidioc_streamon_error", 1)
        try setControl("inject_fatal_streaming_error", 1)
        var thrown = false
        for _ in 0..<5 {
            do { _ = try source.nextFrame() } catch {
                thrown = true
                break
            }
        }
        let frame = try source.nextFrame()
        let st = source.stats
        emit(
            "reconnect_retry",
            ok: thrown && frame != nil && st.failedReconnectAttempts == 1 && source.counters.reconnects == 1,
            [
                ("failed_attempts", .u(st.failedReconnectAttempts)),
                ("last_error", source.lastError.map { .s($0) } ?? .null),
                ("counters", counterFields(source.counters)),
            ])
    } catch {
        emit("reconnect_retry", ok: false, [("error", .s(errorText(error)))])
    }
}

/// A size and rate the driver does not offer: the source uses what the driver set (read back), not the request.
func checkAdjustedNegotiation() {
    do {
        var config = baseConfig(.yuyv)
        config.width = 333
        config.height = 200
        config.fps = 27
        let source = try V4L2Source(config: config)
        defer { source.close() }
        guard let neg = source.negotiated, let frame = try source.nextFrame() else {
            emit("adjusted_negotiation", ok: false, [("error", .s("no frame"))])
            return
        }
        let adjusted = neg.width != 333 || neg.height != 200
        emit(
            "adjusted_negotiation",
            ok: adjusted && frame.image.width == neg.width && frame.image.height == neg.height
                && neg.bytesPerLine >= 2 * neg.width && (neg.fps ?? 0) > 0 && neg.fps != 27,
            [
                ("requested", .s("333x200@27")), ("width", .i(neg.width)), ("height", .i(neg.height)),
                ("fps", neg.fps.map { .d($0) } ?? .null), ("frame", .s("\(frame.image.width)x\(frame.image.height)")),
            ])
    } catch {
        emit("adjusted_negotiation", ok: false, [("error", .s(errorText(error)))])
    }
}

/// A camera plugged in after the start (`wait_for_device`): the source waits in `reconnecting`, then opens
/// the by-id name once it appears and streams; that first connection is not counted as a reconnect.
func checkLatePlug() {
    do {
        let name = "usb-late-camera-video-index0"
        let link = "/dev/v4l/by-id/" + name
        unlink(link)
        var config = baseConfig(.yuyv)
        config.device = name
        config.waitForDevice = true
        config.reconnectInitialDelay = 0.05
        config.reconnectMaxDelay = 0.2
        let source = try V4L2Source(config: config)
        defer { source.close() }
        let stateBefore = source.state.rawValue
        var frame: Frame?
        let worker = Worker { frame = try? source.nextFrame() }
        usleep(500_000)
        let failedBefore = source.stats.failedReconnectAttempts
        let linked = symlink("../../video0", link) == 0
        worker.join()
        unlink(link)
        emit(
            "late_plug",
            ok: stateBefore == "reconnecting" && linked && frame != nil && source.state == .streaming
                && failedBefore >= 1 && source.counters.reconnects == 0,
            [
                ("state_before", .s(stateBefore)), ("failed_attempts_before_plug", .u(failedBefore)),
                ("frame", .b(frame != nil)), ("counters", counterFields(source.counters)),
            ])
    } catch {
        emit("late_plug", ok: false, [("error", .s(errorText(error)))])
    }
}

let started = now()
probe()
checkAuto()
for (format, tol) in [(V4L2Config.Format.yuyv, 8), (.uyvy, 8), (.grey, 8), (.rgb24, 4), (.bgr24, 4)] {
    checkFormat(format, tolerance: tol)
}
// A real camera size: strides, buffer sizes and the SIMD path over full rows.
checkFormat(.yuyv, frames: 3, tolerance: 8, size: (1280, 720), event: "format_hd")
checkAdjustedNegotiation()
checkDrainToNewest()
checkCloseWhilePolling()
checkDropped()
checkBufFlagError()
checkFatalStreamingError()
checkReconnectRetriesFailedAttempt()
checkDisconnect()
checkCloseWhileReconnecting()
checkLatePlug()
print(
    J.o([
        ("event", .s("summary")), ("checks", .i(checks)), ("failures", .i(failures)),
        ("seconds", .d(((now() - started) * 100).rounded() / 100)),
    ]).text)
exit(failures == 0 ? 0 : 1)
