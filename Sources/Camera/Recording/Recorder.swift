import Foundation
import Imaging

/// Records what the node sees and says to MCAP in Foxglove's JSON schemas: camera frames as
/// `foxglove.CompressedImage` (JPEG), queries and results as JSON, and mask outlines and target points as
/// `foxglove.ImageAnnotations`, all stamped with the frame's capture time so they line up in Foxglove Studio.
public final class Recorder: @unchecked Sendable {
    /// Topic names used in the recording.
    public struct Topics: Sendable {
        public var image = "/camera/image/compressed"
        public var query = "/perception/query"
        public var result = "/perception/result"
        public var annotations = "/perception/annotations"
        public init() {}
    }

    /// One object's overlay: its mask (row-major, non-zero = object) and target points, in image pixels.
    public struct Overlay: Sendable {
        public var width: Int
        public var height: Int
        public var mask: [UInt8]?
        public var points: [(x: Double, y: Double)]
        public init(width: Int, height: Int, mask: [UInt8]?, points: [(x: Double, y: Double)]) {
            self.width = width
            self.height = height
            self.mask = mask
            self.points = points
        }
    }

    public let path: String
    public let topics: Topics
    public let jpegQuality: Int
    private let lock = NSLock()
    private let writer: MCAPWriter
    private let imageChannel: UInt16
    private let queryChannel: UInt16
    private let resultChannel: UInt16
    private let annotationChannel: UInt16
    public private(set) var framesRecorded = 0

    public init(
        path: String, compression: ChunkCompression = .zstd, jpegQuality: Int = 85, chunkMessages: Int = 30,
        chunkInterval: TimeInterval = 1, topics: Topics = Topics()
    ) throws {
        self.path = path
        self.topics = topics
        self.jpegQuality = jpegQuality
        writer = try MCAPWriter(
            path: path, compression: compression, chunkMessages: chunkMessages, chunkInterval: chunkInterval)
        let image = writer.addSchema(name: "foxglove.CompressedImage", encoding: "jsonschema", data: Array(FoxgloveSchemas.compressedImage.utf8))
        let ann = writer.addSchema(name: "foxglove.ImageAnnotations", encoding: "jsonschema", data: Array(FoxgloveSchemas.imageAnnotations.utf8))
        let query = writer.addSchema(name: "perception.Query", encoding: "jsonschema", data: Array(FoxgloveSchemas.object.utf8))
        let result = writer.addSchema(name: "perception.Result", encoding: "jsonschema", data: Array(FoxgloveSchemas.object.utf8))
        imageChannel = writer.addChannel(topic: topics.image, schemaId: image, messageEncoding: "json")
        queryChannel = writer.addChannel(topic: topics.query, schemaId: query, messageEncoding: "json")
        resultChannel = writer.addChannel(topic: topics.result, schemaId: result, messageEncoding: "json")
        annotationChannel = writer.addChannel(topic: topics.annotations, schemaId: ann, messageEncoding: "json")
    }

    static func time(_ stampNs: Int64) -> String {
        let sec = stampNs >= 0 ? stampNs / 1_000_000_000 : (stampNs - 999_999_999) / 1_000_000_000
        return "{\"sec\":\(sec),\"nsec\":\(stampNs - sec * 1_000_000_000)}"
    }

    /// A JSON string literal (quotes, escapes, control characters as \u00XX); shared with the CLI's JSON output.
    public static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    private static func logTime(_ stampNs: Int64) -> UInt64 { UInt64(max(0, stampNs)) }

    /// Records a camera frame as a JPEG `foxglove.CompressedImage`.
    public func record(frame: Frame) throws {
        let jpeg = try ImageCodec.encodeJPEG(frame.image, quality: jpegQuality)
        let json =
            "{\"timestamp\":\(Self.time(frame.stampNs)),\"frame_id\":\(Self.jsonString(frame.frameId)),"
            + "\"format\":\"jpeg\",\"data\":\"\(Data(jpeg).base64EncodedString())\"}"
        lock.lock()
        defer { lock.unlock() }
        try writer.write(channel: imageChannel, logTimeNs: Self.logTime(frame.stampNs), data: Array(json.utf8))
        framesRecorded += 1
    }

    /// Records a query (a JSON object) at the stamp of the frame it is about.
    public func record(queryJSON: String, stampNs: Int64) throws {
        lock.lock()
        defer { lock.unlock() }
        try writer.write(channel: queryChannel, logTimeNs: Self.logTime(stampNs), data: Array(queryJSON.utf8))
    }

    /// Records a result (a JSON object) and its overlays (mask outlines as filled LINE_LOOPs, target points as
    /// circles) at the frame's stamp.
    public func record(resultJSON: String, stampNs: Int64, overlays: [Overlay]) throws {
        let ts = Self.time(stampNs)
        let palette: [(Double, Double, Double)] = [(1, 0.2, 0.2), (0.2, 0.8, 0.2), (0.2, 0.4, 1), (1, 0.8, 0), (0.8, 0.2, 1)]
        func color(_ c: (Double, Double, Double), _ a: Double) -> String { "{\"r\":\(c.0),\"g\":\(c.1),\"b\":\(c.2),\"a\":\(a)}" }
        var loops: [String] = []
        var circles: [String] = []
        for (i, o) in overlays.enumerated() {
            let c = palette[i % palette.count]
            if let mask = o.mask {
                for contour in try ContourTracer.contours(width: o.width, height: o.height, mask: mask, minArea: 4) {
                    let pts = contour.map { "{\"x\":\(Double($0.x) + 0.5),\"y\":\(Double($0.y) + 0.5)}" }.joined(separator: ",")
                    loops.append(
                        "{\"timestamp\":\(ts),\"type\":2,\"points\":[\(pts)],\"outline_color\":\(color(c, 1)),"
                            + "\"outline_colors\":[],\"fill_color\":\(color(c, 0.3)),\"thickness\":2}")
                }
            }
            for p in o.points where p.x.isFinite && p.y.isFinite {
                circles.append(
                    "{\"timestamp\":\(ts),\"position\":{\"x\":\(p.x),\"y\":\(p.y)},\"diameter\":12,\"thickness\":3,"
                        + "\"fill_color\":\(color(c, 0.8)),\"outline_color\":\(color((1, 1, 1), 1))}")
            }
        }
        let ann = "{\"circles\":[\(circles.joined(separator: ","))],\"points\":[\(loops.joined(separator: ","))],\"texts\":[]}"
        lock.lock()
        defer { lock.unlock() }
        try writer.write(channel: resultChannel, logTimeNs: Self.logTime(stampNs), data: Array(resultJSON.utf8))
        try writer.write(channel: annotationChannel, logTimeNs: Self.logTime(stampNs), data: Array(ann.utf8))
    }

    /// Writes out the open chunk (call periodically when messages are rare).
    public func flush() throws {
        lock.lock()
        defer { lock.unlock() }
        try writer.flush()
    }

    /// Finishes the file (summary and footer).
    public func close() throws {
        lock.lock()
        defer { lock.unlock() }
        try writer.close()
    }
}

/// JSON Schemas for the Foxglove message types the recorder writes (field lists from foxglove/schemas).
enum FoxgloveSchemas {
    static let time = #"{"type":"object","properties":{"sec":{"type":"integer","minimum":0},"nsec":{"type":"integer","minimum":0,"maximum":999999999}}}"#
    static let color = #"{"type":"object","properties":{"r":{"type":"number"},"g":{"type":"number"},"b":{"type":"number"},"a":{"type":"number"}}}"#
    static let point2 = #"{"type":"object","properties":{"x":{"type":"number"},"y":{"type":"number"}}}"#
    static let compressedImage =
        #"{"title":"foxglove.CompressedImage","description":"A compressed image","$comment":"Generated by perception-node","type":"object","properties":{"timestamp":"#
        + time + #","frame_id":{"type":"string"},"data":{"type":"string","contentEncoding":"base64"},"format":{"type":"string"}}}"#
    static let imageAnnotations =
        #"{"title":"foxglove.ImageAnnotations","description":"Array of annotations for a 2D image","type":"object","properties":{"circles":{"type":"array","items":{"type":"object","properties":{"timestamp":"#
        + time + #","position":"# + point2 + #","diameter":{"type":"number"},"thickness":{"type":"number"},"fill_color":"# + color
        + #","outline_color":"# + color + #"}}},"points":{"type":"array","items":{"type":"object","properties":{"timestamp":"# + time
        + #","type":{"type":"integer","oneOf":[{"title":"UNKNOWN","const":0},{"title":"POINTS","const":1},{"title":"LINE_LOOP","const":2},{"title":"LINE_STRIP","const":3},{"title":"LINE_LIST","const":4}]},"points":{"type":"array","items":"#
        + point2 + #"},"outline_color":"# + color + #","outline_colors":{"type":"array","items":"# + color + #"},"fill_color":"# + color
        + #","thickness":{"type":"number"}}}},"texts":{"type":"array","items":{"type":"object"}}}}"#
    static let object = #"{"type":"object"}"#
}
