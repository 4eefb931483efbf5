import Foundation
import Imaging

/// Why an image folder cannot be replayed.
public enum ImageFolderError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case noImages(path: String)
    case badRate(Double)

    public var description: String {
        switch self {
        case .unreadable(let p, let r): return "image folder \(p): \(r)"
        case .noImages(let p): return "image folder \(p) has no .png/.jpg/.jpeg files"
        case .badRate(let r): return "image folder rate must be a positive number of frames per second, got \(r)"
        }
    }
}

/// Replays a folder of PNG/JPEG files, ordered by file name, at a fixed rate, once or looping. Each frame is
/// stamped with the wall-clock time it is delivered and numbered from 0; undecodable files are skipped and
/// counted as corrupt.
public final class ImageFolderSource: FrameSource, @unchecked Sendable {
    public let directory: String
    public let files: [String]
    public let rate: Double
    public let loop: Bool
    public let frameId: String

    private let condition = NSCondition()
    private var _state: CameraState = .starting
    private var _counters = CameraCounters()
    private var _lastError: String?
    private var closed = false
    private var index = 0
    private var seq: UInt64 = 0
    private var nextDue: Date?

    public init(directory: String, rate: Double, loop: Bool, frameId: String) throws {
        guard rate > 0, rate.isFinite else { throw ImageFolderError.badRate(rate) }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw ImageFolderError.unreadable(path: directory, reason: error.localizedDescription)
        }
        let images = names.filter {
            let ext = ($0 as NSString).pathExtension.lowercased()
            return ext == "png" || ext == "jpg" || ext == "jpeg"
        }.sorted()
        guard !images.isEmpty else { throw ImageFolderError.noImages(path: directory) }
        self.directory = directory
        self.files = images.map { (directory as NSString).appendingPathComponent($0) }
        self.rate = rate
        self.loop = loop
        self.frameId = frameId
    }

    public var state: CameraState { condition.lock(); defer { condition.unlock() }; return _state }
    public var counters: CameraCounters { condition.lock(); defer { condition.unlock() }; return _counters }
    public var lastError: String? { condition.lock(); defer { condition.unlock() }; return _lastError }

    public func nextFrame() throws -> Frame? {
        condition.lock()
        defer { condition.unlock() }
        var failuresInARow = 0
        while !closed {
            if index >= files.count {
                guard loop else {
                    _state = .finished
                    return nil
                }
                index = 0
            }
            if let due = nextDue {
                while !closed && Date() < due { _ = condition.wait(until: due) }
                if closed { break }
            }
            let path = files[index]
            index += 1
            condition.unlock()
            let decoded = Result { try ImageCodec.load(path: path) }
            condition.lock()
            switch decoded {
            case .success(let image):
                let now = Date()
                nextDue = max(nextDue ?? now, now.addingTimeInterval(-1 / rate)).addingTimeInterval(1 / rate)
                let frame = Frame(image: image, stampNs: Int64(now.timeIntervalSince1970 * 1e9), seq: seq, frameId: frameId)
                seq += 1
                _counters.framesCaptured += 1
                _state = .streaming
                return frame
            case .failure(let error):
                _counters.framesCorrupt += 1
                _lastError = "\(path): \(error)"
                failuresInARow += 1
                if failuresInARow >= files.count {
                    _state = .failed
                    return nil
                }
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
