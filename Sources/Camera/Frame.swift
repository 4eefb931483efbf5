import Imaging

/// One camera frame as the node sees it: pixels plus the ROS-style header fields.
public struct Frame: Sendable {
    public var image: RGBImage
    /// Acquisition time, UTC nanoseconds since the epoch (ROS `header.stamp`).
    public var stampNs: Int64
    /// Monotonically increasing per source; gaps mean dropped frames.
    public var seq: UInt64
    /// The optical frame name (ROS `header.frame_id`).
    public var frameId: String

    public init(image: RGBImage, stampNs: Int64, seq: UInt64, frameId: String) {
        self.image = image
        self.stampNs = stampNs
        self.seq = seq
        self.frameId = frameId
    }
}

/// What a source is doing, as reported in Status (`camera.state`).
public enum CameraState: String, Sendable {
    case starting, streaming, reconnecting, finished, failed
}

/// Counters a source accumulates over its lifetime, reported in Status.
public struct CameraCounters: Sendable, Equatable {
    public var framesCaptured: UInt64 = 0
    /// Frames lost before we saw them (sequence gaps on the device or in the log).
    public var framesDropped: UInt64 = 0
    /// Frames received but unusable (flagged by the driver, undecodable, truncated).
    public var framesCorrupt: UInt64 = 0
    public var reconnects: UInt64 = 0
    public init() {}
}

/// A producer of frames. The node runs one source on its own thread and calls `nextFrame()` in a loop.
///
/// Contract:
/// - `nextFrame()` blocks until a frame is ready (honouring the source's own pacing: a replay at recorded
///   rate sleeps, a camera polls), returns `nil` once the source has ended for good (a non-looping replay
///   is finished), and throws only for failures the caller should log; a source that can recover (a
///   camera that vanished) keeps `state == .reconnecting` and keeps being called.
/// - `close()` may be called from another thread and makes a blocked `nextFrame()` return `nil` promptly.
public protocol FrameSource: AnyObject, Sendable {
    var state: CameraState { get }
    var counters: CameraCounters { get }
    /// Human-readable description of the last problem, if any (for Status `last_error`).
    var lastError: String? { get }
    func nextFrame() throws -> Frame?
    func close()
}
