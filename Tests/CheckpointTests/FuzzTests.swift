import Checkpoint
import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// Truncated and corrupted fixtures: every outcome is a CheckpointError or a self-consistent store, never a crash,
/// and memory stays bounded (no allocation sized by a lying header).
final class FuzzTests: XCTestCase {
    static let files = [
        "basic.pt", "module.pt", "nested.pt", "proto4.pt", "zip64.pt", "basic.safetensors",
        "misaligned.safetensors",
        "sharded/model-00001-of-00002.safetensors",
    ]

    /// Every position for files up to `limit` bytes, else `limit` positions spread evenly plus the first and last 64.
    static func positions(_ count: Int, limit: Int = 500) -> [Int] {
        if count <= limit { return Array(0..<count) }
        var s = Set((0..<min(64, count)).map { $0 } + (max(0, count - 64)..<count).map { $0 })
        for i in 0..<limit { s.insert(i * count / limit) }
        return s.sorted()
    }

    func maxRSSBytes() -> Int {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return u.ru_maxrss * 1024
    }

    /// Opens `bytes` as a file and reads everything; returns whether it opened. Non-CheckpointErrors fail the test.
    func attempt(_ bytes: [UInt8], at path: String, _ label: @autoclosure () -> String) -> Bool {
        do {
            try writeFile(path, bytes)
            try openAndReadAll(path)
            return true
        } catch is CheckpointError {
            return false
        } catch {
            XCTFail("\(label()): \(error)")
            return false
        }
    }

    func testEveryTruncationIsAnError() throws {
        let dir = try ScratchDir()
        let rss = maxRSSBytes()
        for name in Self.files {
            let bytes = try readBytes(Fixtures.path(name))
            let path = dir.path("t-" + name.replacingOccurrences(of: "/", with: "_"))
            XCTAssertTrue(attempt(bytes, at: path, name), "\(name) must open whole")
            for cut in Self.positions(bytes.count, limit: 8192) {
                XCTAssertFalse(
                    attempt(Array(bytes[0..<cut]), at: path, "\(name) cut at \(cut)"),
                    "\(name) cut at \(cut) opened")
            }
        }
        XCTAssertLessThan(maxRSSBytes() - rss, 256 << 20)
    }

    func testByteFlipsNeverCrash() throws {
        let dir = try ScratchDir()
        let rss = maxRSSBytes()
        var opened = 0
        var failed = 0
        for name in Self.files {
            let original = try readBytes(Fixtures.path(name))
            let path = dir.path("f-" + name.replacingOccurrences(of: "/", with: "_"))
            for (i, pos) in Self.positions(original.count, limit: 8192).enumerated() {
                let pattern: UInt8 = [0xff, 0x80, 0x01][i % 3]
                var bytes = original
                bytes[pos] ^= pattern
                if attempt(bytes, at: path, "\(name) byte \(pos) ^ \(pattern)") {
                    opened += 1
                } else {
                    failed += 1
                }
            }
        }
        // Flips in tensor data still open; flips in structure fail: both must occur.
        XCTAssertGreaterThan(opened, 500)
        XCTAssertGreaterThan(failed, 500)
        XCTAssertLessThan(maxRSSBytes() - rss, 256 << 20)
    }

    /// Small integers in the pickle replaced by extreme values (sizes, strides, offsets, memo indices).
    func testExtremePickleIntegers() throws {
        let dir = try ScratchDir()
        let path = dir.path("ints.pt")
        let rss = maxRSSBytes()
        for name in ["basic.pt", "module.pt", "proto4.pt"] {
            let original = try readBytes(Fixtures.path(name))
            for pos in 0..<(original.count - 1)
            where original[pos] == 0x4b || original[pos] == 0x68 || original[pos] == 0x71 {
                var bytes = original
                bytes[pos + 1] = [0x00, 0x7f, 0xff][pos % 3]
                _ = attempt(bytes, at: path, "\(name) operand at \(pos + 1)")
                // BININT1 -> BININT with a negative or huge 4-byte operand read from the following bytes.
                var widened = original
                widened[pos] = 0x4a
                _ = attempt(widened, at: path, "\(name) BININT at \(pos)")
                // -> LONG1 of 8 bytes.
                var long = original
                long[pos] = 0x8a
                long[pos + 1] = 8
                _ = attempt(long, at: path, "\(name) LONG1 at \(pos)")
            }
        }
        XCTAssertLessThan(maxRSSBytes() - rss, 256 << 20)
    }
}
