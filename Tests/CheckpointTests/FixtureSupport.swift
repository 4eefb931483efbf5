import Checkpoint
import Foundation
import XCTest

/// Paths of the committed fixtures (tools/checkpoint/make_checkpoint_fixtures.py) and their expected values.
enum Fixtures {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("Fixtures/checkpoint")

    static func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    struct Expected {
        let dtype: String
        let shape: [Int]
        let bytes: [UInt8]
        let floatBits: [UInt32]
    }

    /// fixture name -> tensor name -> expected dtype, shape, contiguous bytes and float32 bit patterns (from torch).
    static func expected() throws -> [String: [String: Expected]] {
        let data = try Data(contentsOf: dir.appendingPathComponent("expected.json"))
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let all = try XCTUnwrap(root["expected"] as? [String: [String: [String: Any]]])
        var out: [String: [String: Expected]] = [:]
        for (fixture, tensors) in all {
            var m: [String: Expected] = [:]
            for (name, e) in tensors {
                let hex = try XCTUnwrap(e["hex"] as? String)
                var bytes: [UInt8] = []
                var i = hex.startIndex
                while i < hex.endIndex {
                    let j = hex.index(i, offsetBy: 2)
                    bytes.append(try XCTUnwrap(UInt8(hex[i..<j], radix: 16)))
                    i = j
                }
                m[name] = Expected(
                    dtype: try XCTUnwrap(e["dtype"] as? String), shape: try XCTUnwrap(e["shape"] as? [Int]),
                    bytes: bytes,
                    floatBits: try XCTUnwrap(e["float_bits"] as? [NSNumber]).map { $0.uint32Value })
            }
            out[fixture] = m
        }
        return out
    }

    /// torch dtype names as written by the generator.
    static func torchName(_ d: DType) -> String {
        switch d {
        case .float32: return "float32"
        case .float16: return "float16"
        case .bfloat16: return "bfloat16"
        case .float64: return "float64"
        case .int64: return "int64"
        case .int32: return "int32"
        case .int16: return "int16"
        case .int8: return "int8"
        case .uint8: return "uint8"
        case .bool: return "bool"
        }
    }
}

/// A scratch directory removed at the end of the test.
final class ScratchDir {
    let url: URL
    init() throws {
        // tmpfs when there is one: the fuzz tests create thousands of files, and opening files on a busy disk is slow.
        var isDir: ObjCBool = false
        let shm = FileManager.default.fileExists(atPath: "/dev/shm", isDirectory: &isDir) && isDir.boolValue
        let base = shm ? URL(fileURLWithPath: "/dev/shm") : FileManager.default.temporaryDirectory
        url = base.appendingPathComponent("ckpt-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = path(name)
        try writeFile(p, bytes)
        return p
    }
}

/// Writes without the fsync that Foundation's Data.write does (thousands of fuzz files would wait on the disk).
func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw NSError(domain: "open \(path): errno \(errno)", code: 1) }
    defer { close(fd) }
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
        guard n > 0 else { throw NSError(domain: "write \(path): errno \(errno)", code: 1) }
        done += n
    }
}

func readBytes(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Opens and reads every tensor, widening each to Float; any thrown CheckpointError is the expected failure mode.
@discardableResult
func openAndReadAll(_ path: String) throws -> Int {
    let store = try Checkpoint.open(path: path)
    var n = 0
    for name in store.names {
        let info = try store.info(name)
        let t = try store.tensor(name)
        guard t.raw.count == info.count * info.dtype.itemSize, t.shape == info.shape,
            t.dtype == info.dtype
        else {
            throw NSError(domain: "inconsistent tensor \(name)", code: 1)
        }
        n += try t.floats().count
    }
    return n
}
