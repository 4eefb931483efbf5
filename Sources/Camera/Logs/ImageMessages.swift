import Foundation
import Imaging

/// The image message types a log can replay, in their wire encodings.
enum ImageMessageType: Equatable {
    case rosImage(ros1: Bool)
    case rosCompressedImage(ros1: Bool)
    case foxgloveCompressedImage

    init?(typeName: String, encoding: String) {
        switch (typeName, encoding) {
        case ("sensor_msgs/msg/Image", "cdr"): self = .rosImage(ros1: false)
        case ("sensor_msgs/msg/CompressedImage", "cdr"): self = .rosCompressedImage(ros1: false)
        case ("sensor_msgs/Image", "ros1"), ("sensor_msgs/msg/Image", "ros1"): self = .rosImage(ros1: true)
        case ("sensor_msgs/CompressedImage", "ros1"), ("sensor_msgs/msg/CompressedImage", "ros1"):
            self = .rosCompressedImage(ros1: true)
        case ("foxglove.CompressedImage", "json"): self = .foxgloveCompressedImage
        default: return nil
        }
    }
}

/// A decoded image message: pixels plus its header.
struct DecodedImage {
    var image: RGBImage
    var stampNs: Int64
    var frameId: String
}

/// Decodes ROS 2 CDR, ROS 1 and Foxglove JSON image messages to RGB.
enum ImageMessageDecoder {
    struct Failure: Error {
        var reason: String
    }

    /// CDR or ROS 1 reader over a message body. CDR aligns primitives to their size, relative to the byte after the
    /// 4-byte encapsulation header; ROS 1 has no alignment and no string NULs.
    struct Wire {
        let d: [UInt8]
        var p: Int
        let origin: Int
        let cdr: Bool
        let bigEndian: Bool

        init(_ d: [UInt8], ros1: Bool) throws {
            self.d = d
            if ros1 {
                p = 0
                origin = 0
                cdr = false
                bigEndian = false
            } else {
                guard d.count >= 4 else { throw Failure(reason: "shorter than the CDR encapsulation header") }
                switch (d[0], d[1]) {
                case (0, 1): bigEndian = false
                case (0, 0): bigEndian = true
                default: throw Failure(reason: "CDR encapsulation \(d[0]) \(d[1]) is not CDR_LE/CDR_BE")
                }
                p = 4
                origin = 4
                cdr = true
            }
        }

        mutating func align(_ n: Int) {
            if cdr { p += (n - (p - origin) % n) % n }
        }

        mutating func need(_ n: Int, _ what: String) throws {
            guard n >= 0, p <= d.count, n <= d.count - p else {
                throw Failure(reason: "\(what) needs \(n) bytes at message byte \(p), \(max(0, d.count - p)) left")
            }
        }

        mutating func u8(_ what: String) throws -> UInt8 {
            try need(1, what)
            defer { p += 1 }
            return d[p]
        }

        mutating func u32(_ what: String) throws -> UInt32 {
            align(4)
            try need(4, what)
            defer { p += 4 }
            let b = (UInt32(d[p]), UInt32(d[p + 1]), UInt32(d[p + 2]), UInt32(d[p + 3]))
            return bigEndian ? b.0 << 24 | b.1 << 16 | b.2 << 8 | b.3 : b.0 | b.1 << 8 | b.2 << 16 | b.3 << 24
        }

        mutating func string(_ what: String) throws -> String {
            let n = Int(try u32(what))
            try need(n, what)
            defer { p += n }
            var bytes = d[p..<p + n]
            if cdr, bytes.last == 0 { bytes = bytes.dropLast() }
            return String(decoding: bytes, as: UTF8.self)
        }

        /// A uint8[] as (start, count) into `d`, without copying.
        mutating func byteSequence(_ what: String) throws -> Range<Int> {
            let n = Int(try u32(what))
            try need(n, what)
            defer { p += n }
            return p..<p + n
        }

        mutating func header() throws -> (stampNs: Int64, frameId: String) {
            if !cdr { _ = try u32("header.seq") }
            let secRaw = try u32("header.stamp.sec")
            let nsec = try u32("header.stamp.nanosec")
            let sec = cdr ? Int64(Int32(bitPattern: secRaw)) : Int64(secRaw)
            let frameId = try string("header.frame_id")
            return (sec * 1_000_000_000 + Int64(nsec), frameId)
        }
    }

    static func decode(_ msg: LogMessage) throws -> DecodedImage {
        guard let type = ImageMessageType(typeName: msg.type, encoding: msg.encoding) else {
            throw Failure(reason: "\(msg.type) in \(msg.encoding) is not an image message")
        }
        switch type {
        case .rosImage(let ros1): return try decodeImage(msg.data, ros1: ros1)
        case .rosCompressedImage(let ros1):
            var w = try Wire(msg.data, ros1: ros1)
            let (stamp, frameId) = try w.header()
            _ = try w.string("format")
            let range = try w.byteSequence("data")
            let image = try ImageCodec.decode(Array(msg.data[range]))
            return DecodedImage(image: image, stampNs: stamp, frameId: frameId)
        case .foxgloveCompressedImage:
            return try decodeFoxglove(msg.data)
        }
    }

    static func decodeImage(_ data: [UInt8], ros1: Bool) throws -> DecodedImage {
        var w = try Wire(data, ros1: ros1)
        let (stamp, frameId) = try w.header()
        let height = Int(try w.u32("height"))
        let width = Int(try w.u32("width"))
        let encoding = try w.string("encoding")
        let bigEndian = try w.u8("is_bigendian") != 0
        let step = Int(try w.u32("step"))
        let range = try w.byteSequence("data")
        guard width > 0, height > 0, width <= 1 << 16, height <= 1 << 16, width * height <= ImageCodec.maxPixels else {
            throw Failure(reason: "image size \(width)x\(height) out of range")
        }
        let (rowBytes, overflow) = step.multipliedReportingOverflow(by: height)
        guard !overflow, range.count >= rowBytes else {
            throw Failure(reason: "data holds \(range.count) bytes, step \(step) x height \(height) needs \(rowBytes)")
        }
        let image: RGBImage = try data.withUnsafeBytes { raw in
            let px = UnsafeRawBufferPointer(rebasing: raw[range])
            switch encoding {
            case "rgb8": return try PixelConversion.rgb24ToRGB(px, width: width, height: height, bytesPerLine: step)
            case "bgr8": return try PixelConversion.bgr8ToRGB(px, width: width, height: height, bytesPerLine: step)
            case "rgba8": return try PixelConversion.rgba8ToRGB(px, width: width, height: height, bytesPerLine: step)
            case "bgra8": return try PixelConversion.bgra8ToRGB(px, width: width, height: height, bytesPerLine: step)
            case "mono8", "8UC1":
                return try PixelConversion.greyToRGB(px, width: width, height: height, bytesPerLine: step)
            case "mono16", "16UC1":
                return try PixelConversion.mono16ToRGB(
                    px, width: width, height: height, bytesPerLine: step, bigEndian: bigEndian)
            case "yuyv", "yuv422_yuy2":
                return try PixelConversion.yuyvToRGB(px, width: width, height: height, bytesPerLine: step)
            case "uyvy", "yuv422":
                return try PixelConversion.uyvyToRGB(px, width: width, height: height, bytesPerLine: step)
            default: throw Failure(reason: "unsupported image encoding \"\(encoding)\"")
            }
        }
        return DecodedImage(image: image, stampNs: stamp, frameId: frameId)
    }

    static func decodeFoxglove(_ data: [UInt8]) throws -> DecodedImage {
        guard let obj = try? JSONSerialization.jsonObject(with: Data(data)) as? [String: Any] else {
            throw Failure(reason: "foxglove.CompressedImage is not a JSON object")
        }
        guard let b64 = obj["data"] as? String, let bytes = Data(base64Encoded: b64) else {
            throw Failure(reason: "foxglove.CompressedImage has no base64 data")
        }
        var stamp: Int64 = 0
        if let ts = obj["timestamp"] as? [String: Any] {
            let sec = (ts["sec"] as? NSNumber)?.int64Value ?? 0
            let nsec = (ts["nsec"] as? NSNumber)?.int64Value ?? 0
            guard abs(sec) < 9_000_000_000, nsec >= 0, nsec < 1_000_000_000 else {
                throw Failure(reason: "foxglove.CompressedImage timestamp out of range")
            }
            stamp = sec * 1_000_000_000 + nsec
        }
        let image = try ImageCodec.decode([UInt8](bytes))
        return DecodedImage(image: image, stampNs: stamp, frameId: obj["frame_id"] as? String ?? "")
    }
}
