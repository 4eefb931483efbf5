import Camera
import Foundation
import Imaging
import Logging
import NodeRuntime
import PerceptionMessages

/// Records what the node sees and says to MCAP (`recording.enabled` / `run --record FILE`): frames as
/// `foxglove.CompressedImage` (JPEG), queries and Results as JSON, and each Result's masks and target points as
/// `foxglove.ImageAnnotations`, so a recording opens in Foxglove and shows the answers over the images. A
/// failed write is logged and counted once, never fatal to the node.
final class NodeRecorder: RuntimeRecorder, @unchecked Sendable {
    let recorder: Recorder
    let logger: Logger
    private let lock = NSLock()
    private var failures = 0

    init(path: String, logger: Logger) throws {
        recorder = try Recorder(path: path)
        self.logger = logger
    }

    func record(frame: Frame) {
        attempt("frame") { try recorder.record(frame: frame) }
    }

    func record(query: Query, result: QueryResult) {
        let stamp = result.header?.stampNs ?? Int64(Date().timeIntervalSince1970 * 1e9)
        attempt("query") { try recorder.record(queryJSON: JSONText.render(query.messageValue(), pretty: false), stampNs: stamp) }
        let (width, height) = result.imageSize ?? (0, 0)
        let overlays = result.objects.map { o -> Recorder.Overlay in
            Recorder.Overlay(width: width, height: height, mask: Self.maskBytes(o.mask, width: width, height: height),
                             points: o.points.compactMap { $0.count == 2 ? (x: $0[0], y: $0[1]) : nil })
        }
        attempt("result") {
            try recorder.record(resultJSON: JSONText.render(result.messageValue(), pretty: false), stampNs: stamp, overlays: overlays)
        }
    }

    func flush() { attempt("flush") { try recorder.flush() } }

    func close() { attempt("close") { try recorder.close() } }

    /// The object's mask as row-major 0/1 bytes, decoded from the wire encoding the query asked for.
    static func maskBytes(_ mask: QueryResult.Mask?, width: Int, height: Int) -> [UInt8]? {
        guard let mask, width > 0, height > 0 else { return nil }
        switch mask {
        case let .cocoRLE(h, w, counts):
            guard h == height, w == width else { return nil }
            return (try? CocoRLE.decode(counts: counts, height: h, width: w))?.pixels
        case let .png(data):
            guard let gray = try? ImageCodec.decodeGray(data), gray.width == width, gray.height == height else { return nil }
            return gray.pixels.map { $0 > 127 ? 1 : 0 }
        }
    }

    private func attempt(_ what: String, _ body: () throws -> Void) {
        do {
            try body()
        } catch {
            lock.lock()
            failures += 1
            let first = failures == 1
            lock.unlock()
            if first { logger.error("recording failed", metadata: ["what": "\(what)", "path": "\(recorder.path)", "error": "\(error)"]) }
        }
    }
}
