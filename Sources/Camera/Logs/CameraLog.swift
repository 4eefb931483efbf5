import Foundation

/// One topic (MCAP channel or ROS 1 bag connection) of a log.
public struct LogTopic: Sendable, Equatable {
    public var name: String
    /// Message type / schema name, e.g. `sensor_msgs/msg/Image`.
    public var type: String
    /// Message encoding: `cdr`, `ros1`, `json`, …
    public var encoding: String
    /// From the summary or a scan; `nil` when unknown.
    public var messageCount: Int?

    public var isImage: Bool { ImageMessageType(typeName: type, encoding: encoding) != nil }
}

/// One message read from a log, with the byte offset of the record (or of its chunk) for error reports.
public struct LogMessage: Sendable {
    public var topic: String
    public var type: String
    public var encoding: String
    /// MCAP `log_time` / bag record time, nanoseconds.
    public var logTimeNs: UInt64
    public var data: [UInt8]
    public var offset: Int
}

/// Reads messages of one topic in time order. `next()` returns `nil` at the end; a thrown `LogError` names what
/// could not be read, and reading goes on after it unless `ended` is set (a linear scan cannot skip a broken record).
public protocol LogMessageCursor: AnyObject {
    func next() throws -> LogMessage?
    var ended: Bool { get }
}

/// A camera log: an MCAP file or a ROS 1 bag.
public protocol CameraLog: AnyObject, Sendable {
    var path: String { get }
    /// "mcap" or "ros1bag".
    var format: String { get }
    var topics: [LogTopic] { get }
    var startTimeNs: UInt64? { get }
    var endTimeNs: UInt64? { get }
    /// How the file was indexed ("summary + chunk indexes", "linear scan: …"), for `logs info`.
    var indexNote: String { get }
    /// Messages of `topic` with log time at or after `fromNs`.
    func messages(topic: String, fromNs: UInt64) throws -> LogMessageCursor
}

/// Opens MCAP files and ROS 1 bags by their magic bytes.
public enum CameraLogs {
    public static func open(path: String) throws -> CameraLog {
        let file = try LogFile(path: path)
        let head = try file.read(at: 0, count: min(13, file.size))
        if head.starts(with: MCAPFormat.magic) { return try MCAPLog(file: file) }
        if head.starts(with: Array("#ROSBAG V2.0\n".utf8)) { return try ROS1BagLog(file: file) }
        throw LogError.badMagic(file: path)
    }

    /// The topic to replay: `name` if given (must exist), else the first image topic.
    public static func chooseTopic(_ log: CameraLog, name: String?) throws -> LogTopic {
        if let name {
            guard let t = log.topics.first(where: { $0.name == name }) else {
                throw LogError.unknownTopic(file: log.path, topic: name, topics: log.topics.map(\.name))
            }
            return t
        }
        guard let t = log.topics.first(where: { $0.isImage }) else {
            throw LogError.noImageTopic(file: log.path, topics: log.topics.map(\.name))
        }
        return t
    }
}
