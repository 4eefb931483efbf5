import Foundation
import Imaging

/// Replays the image topic of an MCAP file or ROS 1 bag as a `FrameSource`: at the recorded rate, a scaled rate,
/// or as fast as `nextFrame()` is called; once or looping; from a start offset. Frames keep the header stamp and
/// frame_id of the message; `seq` counts delivered frames. A truncated or corrupt log replays everything readable,
/// then `lastError` names the file and the byte offset where reading stopped.
public final class LogReplaySource: FrameSource, @unchecked Sendable {
    public struct Options: Sendable {
        /// Topic to replay; `nil` picks the first image topic.
        public var topic: String?
        /// Playback speed relative to the recording (1 = recorded rate); `nil` replays as fast as frames are taken.
        public var rate: Double?
        public var loop: Bool
        /// Seconds after the start of the log at which to begin.
        public var startOffset: Double

        public init(topic: String? = nil, rate: Double? = 1, loop: Bool = false, startOffset: Double = 0) {
            self.topic = topic
            self.rate = rate
            self.loop = loop
            self.startOffset = startOffset
        }
    }

    public let log: CameraLog
    public let topic: LogTopic
    public let options: Options
    private let fromNs: UInt64

    private let condition = NSCondition()
    private var _state: CameraState = .starting
    private var _counters = CameraCounters()
    private var _lastError: String?
    private var closed = false
    private var cursor: LogMessageCursor?
    private var seq: UInt64 = 0
    private var framesThisPass = 0
    /// Wall clock and log time of the first frame of the current pass.
    private var anchor: (wall: Date, logNs: UInt64)?

    public init(path: String, options: Options = Options()) throws {
        if let r = options.rate, !(r > 0 && r.isFinite) {
            throw LogError.badOption("replay rate must be a positive number, got \(r)")
        }
        guard options.startOffset >= 0, options.startOffset.isFinite else {
            throw LogError.badOption("replay start offset must be >= 0 seconds, got \(options.startOffset)")
        }
        log = try CameraLogs.open(path: path)
        topic = try CameraLogs.chooseTopic(log, name: options.topic)
        guard topic.isImage else {
            throw LogError.badOption("\(path): topic \(topic.name) is \(topic.type) (\(topic.encoding)), not an image")
        }
        self.options = options
        fromNs = (log.startTimeNs ?? 0) &+ UInt64(options.startOffset * 1e9)
    }

    public var state: CameraState { condition.lock(); defer { condition.unlock() }; return _state }
    public var counters: CameraCounters { condition.lock(); defer { condition.unlock() }; return _counters }
    public var lastError: String? { condition.lock(); defer { condition.unlock() }; return _lastError }

    public func nextFrame() throws -> Frame? {
        condition.lock()
        defer { condition.unlock() }
        while !closed {
            if cursor == nil {
                do {
                    cursor = try log.messages(topic: topic.name, fromNs: fromNs)
                    anchor = nil
                } catch {
                    _lastError = "\(error)"
                    _state = .failed
                    return nil
                }
            }
            guard let cur = cursor else { return nil }
            let message: LogMessage?
            do {
                message = try cur.next()
            } catch {
                _counters.framesCorrupt += 1
                _lastError = "\(error)"
                if !cur.ended { continue }
                message = nil
            }
            guard let msg = message else {
                cursor = nil
                guard options.loop, framesThisPass > 0 else {
                    _state = .finished
                    return nil
                }
                framesThisPass = 0
                continue
            }
            if let rate = options.rate {
                let a = anchor ?? (Date(), msg.logTimeNs)
                anchor = a
                let dt = msg.logTimeNs >= a.logNs ? Double(msg.logTimeNs - a.logNs) / 1e9 / rate : 0
                let due = a.wall.addingTimeInterval(dt)
                while !closed && Date() < due { _ = condition.wait(until: due) }
                if closed { break }
            }
            condition.unlock()
            let decoded = Result { try ImageMessageDecoder.decode(msg) }
            condition.lock()
            switch decoded {
            case .success(let img):
                let frame = Frame(image: img.image, stampNs: img.stampNs, seq: seq, frameId: img.frameId)
                seq += 1
                framesThisPass += 1
                _counters.framesCaptured += 1
                _state = .streaming
                return frame
            case .failure(let error):
                _counters.framesCorrupt += 1
                let reason = (error as? ImageMessageDecoder.Failure)?.reason ?? "\(error)"
                _lastError = "\(LogError.badMessage(file: log.path, offset: msg.offset, type: msg.type, reason: reason))"
            }
        }
        return nil
    }

    public func close() {
        condition.lock()
        closed = true
        if _state != .failed { _state = .finished }
        condition.broadcast()
        condition.unlock()
    }
}
