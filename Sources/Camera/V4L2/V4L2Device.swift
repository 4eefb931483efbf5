import CV4L2

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// What went wrong talking to a V4L2 device, with the device path and the failing call.
public enum V4L2Error: Error, Equatable, CustomStringConvertible {
    /// A system call failed; `errno` is kept so callers can tell a vanished device (ENODEV) from the rest.
    case system(device: String, call: String, errno: Int32)
    case notACaptureDevice(device: String, capabilities: UInt32)
    case noSupportedFormat(device: String, offered: [String])
    case formatNotOffered(device: String, requested: String, offered: [String])
    case negotiationFailed(device: String, message: String)
    case controlNotFound(device: String, name: String)
    case deviceLost(device: String, reason: String)
    case gaveUp(device: String, attempts: Int, lastError: String)

    public var description: String {
        switch self {
        case .system(let d, let call, let e):
            return "\(d): \(call) failed: \(String(cString: strerror(e))) (errno \(e))"
        case .notACaptureDevice(let d, let caps):
            return "\(d): not a streaming video capture device (device_caps 0x\(String(caps, radix: 16)))"
        case .noSupportedFormat(let d, let offered):
            return "\(d): offers no format we can convert (offered: \(offered.joined(separator: ", ")))"
        case .formatNotOffered(let d, let req, let offered):
            return "\(d): format \(req) not offered (offered: \(offered.joined(separator: ", ")))"
        case .negotiationFailed(let d, let m): return "\(d): format negotiation: \(m)"
        case .controlNotFound(let d, let n): return "\(d): no control named \(n)"
        case .deviceLost(let d, let r): return "\(d): device lost: \(r)"
        case .gaveUp(let d, let n, let e): return "\(d): gave up reconnecting after \(n) attempts: \(e)"
        }
    }

    /// True when the error means the device is gone (unplugged, unregistered), not merely misconfigured.
    public var isDeviceGone: Bool {
        switch self {
        case .system(_, _, let e): return e == ENODEV || e == ENXIO || e == ENOENT
        case .deviceLost: return true
        default: return false
        }
    }
}

/// V4L2 constants from `linux/videodev2.h` that Swift does not import as plain integers.
enum V4L2Const {
    static let bufTypeVideoCapture: UInt32 = 1
    static let memoryMMAP: UInt32 = 1
    static let capVideoCapture: UInt32 = 0x0000_0001
    static let capStreaming: UInt32 = 0x0400_0000
    static let capDeviceCaps: UInt32 = 0x8000_0000
    static let fmtFlagEmulated: UInt32 = 0x0002
    static let bufFlagError: UInt32 = 0x0000_0040
    static let bufFlagTimestampMask: UInt32 = 0x0000_e000
    static let bufFlagTimestampMonotonic: UInt32 = 0x0000_2000
    static let ctrlFlagNextCtrl: UInt32 = 0x8000_0000
    static let ctrlFlagNextCompound: UInt32 = 0x4000_0000
    static let ctrlFlagDisabled: UInt32 = 0x0001
    static let ctrlTypeCtrlClass: UInt32 = 6
    static let frmsizeDiscrete: UInt32 = 1
    static let frmivalDiscrete: UInt32 = 1
    static let quantizationFullRange: UInt32 = 1
    static let quantizationLimRange: UInt32 = 2
    static let capTimePerFrame: UInt32 = 0x1000
}

/// A V4L2 fourcc pixel format code.
public struct FourCC: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ s: StaticString) {
        let b = s.utf8Start
        rawValue = UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
    }
    public static let mjpeg = FourCC("MJPG")
    public static let jpeg = FourCC("JPEG")
    public static let yuyv = FourCC("YUYV")
    public static let uyvy = FourCC("UYVY")
    public static let rgb24 = FourCC("RGB3")
    public static let bgr24 = FourCC("BGR3")
    public static let grey = FourCC("GREY")

    public var description: String {
        let chars = (0..<4).map { i -> Character in
            let c = UInt8(truncatingIfNeeded: rawValue >> (8 * UInt32(i)))
            return (32..<127).contains(c) ? Character(Unicode.Scalar(c)) : "?"
        }
        return String(chars)
    }
}

/// A pixel format the device lists, with the sizes it offers for it.
public struct V4L2FormatDescription: Sendable {
    public var fourcc: FourCC
    public var description: String
    /// Produced by libv4lconvert in user space rather than by the device.
    public var emulated: Bool
    public var compressed: Bool
    /// Discrete sizes; empty when the device offers a continuous or stepwise range (see `maxSize`).
    public var sizes: [(width: Int, height: Int)]
    public var maxSize: (width: Int, height: Int)?

    public init(
        fourcc: FourCC, description: String = "", emulated: Bool = false, compressed: Bool = false,
        sizes: [(width: Int, height: Int)] = [], maxSize: (width: Int, height: Int)? = nil
    ) {
        self.fourcc = fourcc
        self.description = description
        self.emulated = emulated
        self.compressed = compressed
        self.sizes = sizes
        self.maxSize = maxSize
    }
}

/// The format, size and rate the driver actually set after negotiation.
public struct V4L2NegotiatedFormat: Sendable, Equatable, CustomStringConvertible {
    public var fourcc: FourCC
    public var width: Int
    public var height: Int
    public var bytesPerLine: Int
    public var sizeImage: Int
    /// Frames per second from the read-back `timeperframe`; nil when the driver does not report one.
    public var fps: Double?
    public var ycbcrRange: PixelConversion.YCbCrRange

    public var description: String {
        let rate = fps.map { " @ \(($0 * 100).rounded() / 100) fps" } ?? ""
        return "\(fourcc) \(width)x\(height) (bytesperline \(bytesPerLine), sizeimage \(sizeImage))\(rate)"
    }
}

/// One open V4L2 node through libv4l2; every call on `fd` goes through the `v4l2_*` wrappers.
///
/// Not thread-safe: one thread owns it (the capture thread of `V4L2Source`, or a test).
public final class V4L2Device {
    public let path: String
    public private(set) var fd: Int32
    public private(set) var driver = ""
    public private(set) var card = ""
    public private(set) var busInfo = ""
    public private(set) var deviceCaps: UInt32 = 0

    struct MappedBuffer {
        var start: UnsafeMutableRawPointer
        var length: Int
    }
    private(set) var buffers: [MappedBuffer] = []
    private(set) var streaming = false

    /// Opens `path` non-blocking through libv4l2.
    public init(path: String) throws {
        self.path = path
        let fd = cv4l2_open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw V4L2Error.system(device: path, call: "open", errno: errno) }
        self.fd = fd
    }

    deinit { close() }

    /// `ioctl` through libv4l2, retrying on EINTR; throws `.system` with the call's name.
    func ioctl<T>(_ request: UInt, _ arg: inout T, _ name: String) throws {
        guard fd >= 0 else { throw V4L2Error.system(device: path, call: name, errno: EBADF) }
        while true {
            let r = withUnsafeMutablePointer(to: &arg) { cv4l2_ioctl(fd, request, UnsafeMutableRawPointer($0)) }
            if r >= 0 { return }
            let e = errno
            if e == EINTR { continue }
            throw V4L2Error.system(device: path, call: name, errno: e)
        }
    }

    /// Like `ioctl` but returns errno (0 on success) instead of throwing; for calls where EAGAIN/EINVAL are answers.
    func ioctlErrno<T>(_ request: UInt, _ arg: inout T) -> Int32 {
        guard fd >= 0 else { return EBADF }
        while true {
            let r = withUnsafeMutablePointer(to: &arg) { cv4l2_ioctl(fd, request, UnsafeMutableRawPointer($0)) }
            if r >= 0 { return 0 }
            if errno == EINTR { continue }
            return errno
        }
    }

    /// VIDIOC_QUERYCAP; fails unless the node captures video and streams.
    public func queryCapabilities() throws {
        var cap = v4l2_capability()
        try ioctl(cv4l2_VIDIOC_QUERYCAP(), &cap, "VIDIOC_QUERYCAP")
        driver = cString(cap.driver)
        card = cString(cap.card)
        busInfo = cString(cap.bus_info)
        deviceCaps = (cap.capabilities & V4L2Const.capDeviceCaps) != 0 ? cap.device_caps : cap.capabilities
        let needed = V4L2Const.capVideoCapture | V4L2Const.capStreaming
        guard deviceCaps & needed == needed else {
            throw V4L2Error.notACaptureDevice(device: path, capabilities: deviceCaps)
        }
    }

    /// VIDIOC_ENUM_FMT with the sizes of each format (VIDIOC_ENUM_FRAMESIZES).
    public func formats() throws -> [V4L2FormatDescription] {
        var result: [V4L2FormatDescription] = []
        var index: UInt32 = 0
        while index < 256 {
            var desc = v4l2_fmtdesc()
            desc.index = index
            desc.type = V4L2Const.bufTypeVideoCapture
            let e = ioctlErrno(cv4l2_VIDIOC_ENUM_FMT(), &desc)
            if e == EINVAL { break }
            if e != 0 { throw V4L2Error.system(device: path, call: "VIDIOC_ENUM_FMT", errno: e) }
            let fourcc = FourCC(rawValue: desc.pixelformat)
            let (sizes, maxSize) = try frameSizes(fourcc)
            result.append(
                V4L2FormatDescription(
                    fourcc: fourcc, description: cString(desc.description),
                    emulated: desc.flags & V4L2Const.fmtFlagEmulated != 0, compressed: desc.flags & 1 != 0,
                    sizes: sizes, maxSize: maxSize ?? sizes.last))
            index += 1
        }
        return result
    }

    func frameSizes(_ fourcc: FourCC) throws -> ([(width: Int, height: Int)], (width: Int, height: Int)?) {
        var sizes: [(width: Int, height: Int)] = []
        var index: UInt32 = 0
        while index < 1024 {
            var fs = v4l2_frmsizeenum()
            fs.index = index
            fs.pixel_format = fourcc.rawValue
            let e = ioctlErrno(cv4l2_VIDIOC_ENUM_FRAMESIZES(), &fs)
            if e != 0 { break }  // EINVAL ends the list; drivers without the ioctl answer ENOTTY
            if fs.type == V4L2Const.frmsizeDiscrete {
                sizes.append((Int(fs.discrete.width), Int(fs.discrete.height)))
            } else {
                return ([], (Int(fs.stepwise.max_width), Int(fs.stepwise.max_height)))
            }
            index += 1
        }
        let maxSize = sizes.max { $0.width * $0.height < $1.width * $1.height }
        return (sizes, maxSize)
    }

    /// VIDIOC_S_FMT then VIDIOC_G_FMT, S_PARM/G_PARM for the rate: returns what the driver set.
    public func setFormat(_ fourcc: FourCC, width: Int, height: Int, fps: Double?) throws -> V4L2NegotiatedFormat {
        var fmt = v4l2_format()
        fmt.type = V4L2Const.bufTypeVideoCapture
        try ioctl(cv4l2_VIDIOC_G_FMT(), &fmt, "VIDIOC_G_FMT")
        fmt.fmt.pix.pixelformat = fourcc.rawValue
        fmt.fmt.pix.width = UInt32(clamping: width)
        fmt.fmt.pix.height = UInt32(clamping: height)
        fmt.fmt.pix.field = 1  // V4L2_FIELD_NONE (progressive)
        fmt.fmt.pix.bytesperline = 0
        fmt.fmt.pix.sizeimage = 0
        try ioctl(cv4l2_VIDIOC_S_FMT(), &fmt, "VIDIOC_S_FMT")
        var got = v4l2_format()
        got.type = V4L2Const.bufTypeVideoCapture
        try ioctl(cv4l2_VIDIOC_G_FMT(), &got, "VIDIOC_G_FMT")
        let pix = got.fmt.pix
        guard pix.pixelformat == fourcc.rawValue else {
            throw V4L2Error.negotiationFailed(
                device: path, message: "asked for \(fourcc), driver set \(FourCC(rawValue: pix.pixelformat))")
        }
        let range: PixelConversion.YCbCrRange = pix.quantization == V4L2Const.quantizationFullRange ? .full : .limited

        var setFps: Double?
        var parm = v4l2_streamparm()
        parm.type = V4L2Const.bufTypeVideoCapture
        if ioctlErrno(cv4l2_VIDIOC_G_PARM(), &parm) == 0 {
            if let fps, fps > 0, parm.parm.capture.capability & V4L2Const.capTimePerFrame != 0 {
                parm.parm.capture.timeperframe.numerator = 1000
                parm.parm.capture.timeperframe.denominator = UInt32(clamping: Int((fps * 1000).rounded()))
                try ioctl(cv4l2_VIDIOC_S_PARM(), &parm, "VIDIOC_S_PARM")
                parm = v4l2_streamparm()
                parm.type = V4L2Const.bufTypeVideoCapture
                try ioctl(cv4l2_VIDIOC_G_PARM(), &parm, "VIDIOC_G_PARM")
            }
            let tpf = parm.parm.capture.timeperframe
            if tpf.numerator > 0 && tpf.denominator > 0 { setFps = Double(tpf.denominator) / Double(tpf.numerator) }
        }
        return V4L2NegotiatedFormat(
            fourcc: fourcc, width: Int(pix.width), height: Int(pix.height), bytesPerLine: Int(pix.bytesperline),
            sizeImage: Int(pix.sizeimage), fps: setFps, ycbcrRange: range)
    }

    /// REQBUFS `count` mmap buffers (the driver may grant another count), QUERYBUF + mmap each, QBUF all, STREAMON.
    public func startStreaming(bufferCount: Int) throws {
        var req = v4l2_requestbuffers()
        req.count = UInt32(clamping: bufferCount)
        req.type = V4L2Const.bufTypeVideoCapture
        req.memory = V4L2Const.memoryMMAP
        try ioctl(cv4l2_VIDIOC_REQBUFS(), &req, "VIDIOC_REQBUFS")
        guard req.count >= 1 else {
            throw V4L2Error.negotiationFailed(device: path, message: "driver granted 0 buffers")
        }
        for i in 0..<req.count {
            var buf = v4l2_buffer()
            buf.index = i
            buf.type = V4L2Const.bufTypeVideoCapture
            buf.memory = V4L2Const.memoryMMAP
            try ioctl(cv4l2_VIDIOC_QUERYBUF(), &buf, "VIDIOC_QUERYBUF")
            guard
                let p = v4l2_mmap(nil, Int(buf.length), PROT_READ | PROT_WRITE, MAP_SHARED, fd, Int64(buf.m.offset)),
                p != MAP_FAILED
            else { throw V4L2Error.system(device: path, call: "mmap", errno: errno) }
            buffers.append(MappedBuffer(start: p, length: Int(buf.length)))
        }
        for i in 0..<buffers.count { try queue(index: i) }
        var type = Int32(V4L2Const.bufTypeVideoCapture)
        try ioctl(cv4l2_VIDIOC_STREAMON(), &type, "VIDIOC_STREAMON")
        streaming = true
    }

    func queue(index: Int) throws {
        var buf = v4l2_buffer()
        buf.index = UInt32(index)
        buf.type = V4L2Const.bufTypeVideoCapture
        buf.memory = V4L2Const.memoryMMAP
        try ioctl(cv4l2_VIDIOC_QBUF(), &buf, "VIDIOC_QBUF")
    }

    /// DQBUF: the buffer, or nil when none is ready (EAGAIN). Other errors (EIO, ENODEV) throw.
    func dequeue() throws -> v4l2_buffer? {
        var buf = v4l2_buffer()
        buf.type = V4L2Const.bufTypeVideoCapture
        buf.memory = V4L2Const.memoryMMAP
        let e = ioctlErrno(cv4l2_VIDIOC_DQBUF(), &buf)
        if e == EAGAIN { return nil }
        if e != 0 { throw V4L2Error.system(device: path, call: "VIDIOC_DQBUF", errno: e) }
        guard Int(buf.index) < buffers.count else {
            throw V4L2Error.negotiationFailed(device: path, message: "driver returned buffer index \(buf.index)")
        }
        return buf
    }

    /// A zero-timeout poll: true when a filled buffer (or an error) is waiting to be dequeued.
    func hasReadyBuffer() -> Bool {
        guard fd >= 0 else { return false }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 0) > 0 && p.revents != 0
    }

    func bytes(of buf: v4l2_buffer) -> UnsafeRawBufferPointer {
        let b = buffers[Int(buf.index)]
        return UnsafeRawBufferPointer(start: b.start, count: min(Int(buf.bytesused), b.length))
    }

    /// Releases everything in teardown order (STREAMOFF, munmap, REQBUFS 0, close), ignoring errors: the
    /// device may already be gone, and every handle must be dropped for the driver to let go of it.
    public func close() {
        guard fd >= 0 else { return }
        if streaming {
            var type = Int32(V4L2Const.bufTypeVideoCapture)
            _ = ioctlErrno(cv4l2_VIDIOC_STREAMOFF(), &type)
            streaming = false
        }
        for b in buffers { _ = v4l2_munmap(b.start, b.length) }
        if !buffers.isEmpty {
            var req = v4l2_requestbuffers()
            req.count = 0
            req.type = V4L2Const.bufTypeVideoCapture
            req.memory = V4L2Const.memoryMMAP
            _ = ioctlErrno(cv4l2_VIDIOC_REQBUFS(), &req)
            buffers = []
        }
        _ = v4l2_close(fd)
        fd = -1
    }

    // MARK: Controls

    /// A control as VIDIOC_QUERY_EXT_CTRL lists it; `key` is the name as `v4l2-ctl` spells it.
    public struct Control: Sendable {
        public var id: UInt32
        public var name: String
        public var key: String
        public var minimum: Int64
        public var maximum: Int64
        public var defaultValue: Int64
    }

    /// All controls of the device, in driver order (control classes excluded).
    public func controls() throws -> [Control] {
        var result: [Control] = []
        var id = V4L2Const.ctrlFlagNextCtrl | V4L2Const.ctrlFlagNextCompound
        for _ in 0..<4096 {
            var q = v4l2_query_ext_ctrl()
            q.id = id
            let e = ioctlErrno(cv4l2_VIDIOC_QUERY_EXT_CTRL(), &q)
            if e == EINVAL { break }
            if e != 0 { throw V4L2Error.system(device: path, call: "VIDIOC_QUERY_EXT_CTRL", errno: e) }
            if q.type != V4L2Const.ctrlTypeCtrlClass && q.flags & V4L2Const.ctrlFlagDisabled == 0 {
                let name = cString(q.name)
                result.append(
                    Control(
                        id: q.id, name: name, key: Self.controlKey(name), minimum: q.minimum, maximum: q.maximum,
                        defaultValue: q.default_value))
            }
            id = q.id | V4L2Const.ctrlFlagNextCtrl | V4L2Const.ctrlFlagNextCompound
        }
        return result
    }

    /// `v4l2-ctl`'s key for a control name: lower case, runs of other characters become one `_`.
    public static func controlKey(_ name: String) -> String {
        var out = ""
        var pendingUnderscore = false
        for ch in name.lowercased() {
            if ch.isLetter || ch.isNumber, ch.isASCII {
                if pendingUnderscore && !out.isEmpty { out.append("_") }
                pendingUnderscore = false
                out.append(ch)
            } else {
                pendingUnderscore = true
            }
        }
        return out
    }

    /// VIDIOC_S_CTRL on the control whose `v4l2-ctl` key (or exact name) is `name`.
    public func setControl(_ name: String, _ value: Int32) throws {
        guard let c = try controls().first(where: { $0.key == name || $0.name == name }) else {
            throw V4L2Error.controlNotFound(device: path, name: name)
        }
        var ctrl = v4l2_control()
        ctrl.id = c.id
        ctrl.value = value
        try ioctl(cv4l2_VIDIOC_S_CTRL(), &ctrl, "VIDIOC_S_CTRL(\(name))")
    }

    public func getControl(_ name: String) throws -> Int32 {
        guard let c = try controls().first(where: { $0.key == name || $0.name == name }) else {
            throw V4L2Error.controlNotFound(device: path, name: name)
        }
        var ctrl = v4l2_control()
        ctrl.id = c.id
        try ioctl(cv4l2_VIDIOC_G_CTRL(), &ctrl, "VIDIOC_G_CTRL(\(name))")
        return ctrl.value
    }
}

/// A fixed-size C char array (imported as a tuple) to a Swift string.
fileprivate func cString<T>(_ tuple: T) -> String {
    withUnsafeBytes(of: tuple) { raw in
        let bytes = raw.prefix { $0 != 0 }
        return String(decoding: bytes, as: UTF8.self)
    }
}
