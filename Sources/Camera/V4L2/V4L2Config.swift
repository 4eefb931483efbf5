/// What to ask a V4L2 camera for; the driver may adjust size and rate, `V4L2Source.negotiated` says what it set.
public struct V4L2Config: Sendable, Equatable {
    /// Requested pixel format. `auto` lets `chooseFormat` pick from what the device offers.
    public enum Format: String, Sendable, CaseIterable {
        case auto, mjpeg, yuyv, uyvy, rgb24, bgr24, grey

        var fourccs: [FourCC] {
            switch self {
            case .auto: return []
            case .mjpeg: return [.mjpeg, .jpeg]
            case .yuyv: return [.yuyv]
            case .uyvy: return [.uyvy]
            case .rgb24: return [.rgb24]
            case .bgr24: return [.bgr24]
            case .grey: return [.grey]
            }
        }
    }

    /// A device path (`/dev/video0`, `/dev/v4l/by-id/usb-…-video-index0`) or a bare `/dev/v4l/by-id` name.
    public var device: String
    public var format: Format
    public var width: Int
    public var height: Int
    /// Requested frames per second; nil keeps the driver's current rate.
    public var fps: Double?
    /// mmap buffers to request (the driver may grant more); few buffers keep latency low.
    public var bufferCount: Int
    public var frameId: String
    /// How long one poll waits; nil means twice the frame period, at least one second.
    public var pollTimeout: Double?
    /// No frame for this many seconds counts as a lost device (a stalled camera) and triggers a reconnect.
    public var stallTimeout: Double
    /// Reconnect backoff: the first wait, doubled after each failed attempt up to `reconnectMaxDelay`.
    public var reconnectInitialDelay: Double
    public var reconnectMaxDelay: Double
    /// Give up (state `failed`, `nextFrame()` returns nil) after this many failed attempts; nil retries forever.
    public var reconnectMaxAttempts: Int?
    /// Dequeue everything ready and deliver only the newest frame (older ones are requeued and counted as skipped).
    public var drainToNewest: Bool
    /// A camera that is not there yet (no such node, ENODEV) does not fail the start: the source begins in
    /// `reconnecting` and comes up when the device appears. Other problems (not a camera, no usable format) still
    /// fail at once.
    public var waitForDevice: Bool

    public init(
        device: String = "/dev/video0", format: Format = .auto, width: Int = 640, height: Int = 480,
        fps: Double? = 30, bufferCount: Int = 4, frameId: String = "camera_optical_frame",
        pollTimeout: Double? = nil, stallTimeout: Double = 5, reconnectInitialDelay: Double = 0.1,
        reconnectMaxDelay: Double = 5, reconnectMaxAttempts: Int? = nil, drainToNewest: Bool = true,
        waitForDevice: Bool = false
    ) {
        self.device = device
        self.format = format
        self.width = width
        self.height = height
        self.fps = fps
        self.bufferCount = bufferCount
        self.frameId = frameId
        self.pollTimeout = pollTimeout
        self.stallTimeout = stallTimeout
        self.reconnectInitialDelay = reconnectInitialDelay
        self.reconnectMaxDelay = reconnectMaxDelay
        self.reconnectMaxAttempts = reconnectMaxAttempts
        self.drainToNewest = drainToNewest
        self.waitForDevice = waitForDevice
    }

    /// The path to open: bare names are looked up in `/dev/v4l/by-id`, which survives re-plugging.
    public var devicePath: String {
        device.contains("/") ? device : "/dev/v4l/by-id/" + device
    }

    /// Formats this source can turn into RGB, in `auto`'s order of preference at normal resolution.
    public static let autoPreference: [FourCC] = [.yuyv, .uyvy, .mjpeg, .jpeg, .rgb24, .bgr24, .grey]

    /// Above this many pixels `auto` prefers MJPEG: uncompressed 4:2:2 beyond 640x480 exceeds USB 2 bandwidth
    /// at full rate, so UVC cameras offer it only at low frame rates.
    public static let autoMJPEGAbovePixels = 640 * 480

    /// The `auto` rule. Only formats we convert count, and the device's own formats before ones libv4lconvert
    /// emulates. If the request is larger than 640x480 and MJPEG is offered at (at least) that size, MJPEG;
    /// otherwise the first offered of YUYV, UYVY, MJPEG, RGB24, BGR24, GREY (uncompressed colour first, since
    /// it costs no decode and has no compression artefacts; gray last, since it loses colour).
    public static func chooseFormat(offered: [V4L2FormatDescription], width: Int, height: Int) -> FourCC? {
        let usable = offered.filter { autoPreference.contains($0.fourcc) }
        let native = usable.filter { !$0.emulated }
        let pool = native.isEmpty ? usable : native
        func offersSize(_ f: V4L2FormatDescription) -> Bool {
            if let m = f.maxSize { return m.width >= width && m.height >= height }
            return true
        }
        if width * height > autoMJPEGAbovePixels,
            let mjpeg = pool.first(where: { ($0.fourcc == .mjpeg || $0.fourcc == .jpeg) && offersSize($0) })
        {
            return mjpeg.fourcc
        }
        for fourcc in autoPreference where pool.contains(where: { $0.fourcc == fourcc }) {
            return fourcc
        }
        return nil
    }
}

/// A camera parameter that does not parse, named by its key (e.g. `camera.fps`).
public enum V4L2ConfigError: Error, Equatable, CustomStringConvertible {
    case unknownKey(String)
    case invalidValue(key: String, value: String, expected: String)

    public var description: String {
        switch self {
        case .unknownKey(let k):
            return "unknown V4L2 camera parameter \(k) (known: \(V4L2Config.parameterKeys.joined(separator: ", ")))"
        case .invalidValue(let k, let v, let e): return "camera parameter \(k)=\(v): expected \(e)"
        }
    }
}

extension V4L2Config {
    /// Parameter names as they appear in the node's YAML (`camera.<key>`) and in `--set camera.<key>=…`.
    public static let parameterKeys = [
        "device", "format", "width", "height", "fps", "buffers", "frame_id", "poll_timeout", "stall_timeout",
        "reconnect_initial_delay", "reconnect_max_delay", "reconnect_max_attempts", "drain_to_newest",
        "wait_for_device",
    ]

    /// Sets one parameter from its text form; `fps` and `reconnect_max_attempts` accept `none`.
    public mutating func set(_ key: String, _ value: String) throws {
        func number(_ expected: String, positive: Bool = true) throws -> Double {
            guard let d = Double(value), d.isFinite, !positive || d > 0 else {
                throw V4L2ConfigError.invalidValue(key: key, value: value, expected: expected)
            }
            return d
        }
        func integer(_ range: ClosedRange<Int>) throws -> Int {
            guard let i = Int(value), range.contains(i) else {
                throw V4L2ConfigError.invalidValue(
                    key: key, value: value, expected: "an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return i
        }
        func flag() throws -> Bool {
            switch value.lowercased() {
            case "true", "yes", "on", "1": return true
            case "false", "no", "off", "0": return false
            default: throw V4L2ConfigError.invalidValue(key: key, value: value, expected: "true or false")
            }
        }
        let none = value.lowercased() == "none" || value.lowercased() == "null" || value.isEmpty
        switch key {
        case "device":
            guard !value.isEmpty else {
                throw V4L2ConfigError.invalidValue(key: key, value: value, expected: "a device path or by-id name")
            }
            device = value
        case "format":
            guard let f = Format(rawValue: value.lowercased()) else {
                throw V4L2ConfigError.invalidValue(
                    key: key, value: value, expected: Format.allCases.map(\.rawValue).joined(separator: "|"))
            }
            format = f
        case "width": width = try integer(1...32768)
        case "height": height = try integer(1...32768)
        case "fps": fps = none ? nil : try number("a positive number or none")
        case "buffers": bufferCount = try integer(1...32)
        case "frame_id": frameId = value
        case "poll_timeout": pollTimeout = none ? nil : try number("seconds > 0 or none")
        case "stall_timeout": stallTimeout = try number("seconds > 0")
        case "reconnect_initial_delay": reconnectInitialDelay = try number("seconds > 0")
        case "reconnect_max_delay": reconnectMaxDelay = try number("seconds > 0")
        case "reconnect_max_attempts": reconnectMaxAttempts = none ? nil : try integer(1...Int(Int32.max))
        case "drain_to_newest": drainToNewest = try flag()
        case "wait_for_device": waitForDevice = try flag()
        default: throw V4L2ConfigError.unknownKey(key)
        }
    }
}
