import Checkpoint
import Foundation
import XCTest

/// Malformed, unsupported and lying inputs produce the CheckpointError that names the problem, file and key.
final class ErrorTests: XCTestCase {
    func assertError(
        _ path: String, file: StaticString = #filePath, line: UInt = #line,
        _ check: (CheckpointError) -> Bool
    ) {
        do {
            try openAndReadAll(path)
            XCTFail("\(path) opened without error", file: file, line: line)
        } catch let e as CheckpointError {
            XCTAssertTrue(check(e), "unexpected error: \(e)", file: file, line: line)
            XCTAssertTrue(
                e.description.contains(path), "error does not name the file: \(e)", file: file, line: line)
        } catch {
            XCTFail("not a CheckpointError: \(error)", file: file, line: line)
        }
    }

    func testLegacyTorchFormatIsRejected() {
        assertError(Fixtures.path("legacy.pt")) {
            if case .unsupportedFormat(_, let what) = $0 { return what.contains("legacy") }
            return false
        }
    }

    func testCompressedZipEntriesAreRejected() {
        assertError(Fixtures.path("deflated.pt")) {
            if case .unsupportedFormat(_, let what) = $0 { return what.contains("compressed (method 8)") }
            return false
        }
    }

    func testBigEndianIsRejected() {
        assertError(Fixtures.path("bigendian.pt")) {
            if case .unsupportedFormat(_, let what) = $0 { return what.contains("big") }
            return false
        }
    }

    func testMissingFileAndEmptyFile() throws {
        let dir = try ScratchDir()
        assertError(dir.path("absent.pt")) {
            if case .cannotOpen = $0 { return true } else { return false }
        }
        assertError(try dir.write("empty.pt", [])) {
            if case .truncated = $0 { return true } else { return false }
        }
        assertError(dir.path("")) { if case .cannotOpen = $0 { return true } else { return false } }
    }

    func testMissingTensorAndShapeAndDTypeChecks() throws {
        let path = Fixtures.path("basic.pt")
        let store = try Checkpoint.open(path: path)
        XCTAssertThrowsError(try store.tensor("nope")) {
            XCTAssertEqual($0 as? CheckpointError, .missingTensor(file: path, key: "nope"))
        }
        XCTAssertThrowsError(try store.info("nope")) {
            XCTAssertEqual($0 as? CheckpointError, .missingTensor(file: path, key: "nope"))
        }
        XCTAssertThrowsError(try store.tensor("f32", expectShape: [3, 2])) {
            XCTAssertEqual(
                $0 as? CheckpointError,
                .shapeMismatch(file: path, key: "f32", expected: [3, 2], actual: [2, 3]))
        }
        XCTAssertThrowsError(
            try store.tensor("f32", expectShape: [2, 3], dtypes: [.bfloat16, .float16])
        ) {
            XCTAssertEqual(
                $0 as? CheckpointError,
                .dtypeMismatch(file: path, key: "f32", expected: [.bfloat16, .float16], actual: .float32))
        }
        XCTAssertEqual(try store.tensor("f32", expectShape: [2, 3], dtypes: [.float32]).count, 6)
        XCTAssertEqual(try store.floats("scalar", expectShape: []), [3.25])
    }

    /// Replaces `old` by `new` (same length) inside data.pkl of a torch fixture.
    func patchedPickle(_ fixture: String, _ old: [UInt8], _ new: [UInt8], in dir: ScratchDir) throws
        -> String
    {
        var bytes = try readBytes(Fixtures.path(fixture))
        let at = try XCTUnwrap(
            (0...(bytes.count - old.count)).first { Array(bytes[$0..<($0 + old.count)]) == old },
            "pattern not found")
        bytes.replaceSubrange(at..<(at + old.count), with: new)
        return try dir.write("patched-" + fixture, bytes)
    }

    func testDisallowedGlobalIsNamed() throws {
        let dir = try ScratchDir()
        let path = try patchedPickle(
            "basic.pt", Array("collections\nOrderedDict".utf8), Array("collectionz\nOrderedDict".utf8),
            in: dir)
        assertError(path) {
            if case .disallowedGlobal(_, let offset, let name) = $0 {
                return name == "collectionz.OrderedDict" && offset > 0
            }
            return false
        }
        let p2 = try patchedPickle(
            "basic.pt", Array("torch\nFloatStorage".utf8), Array("torch\nFloatStorag_".utf8), in: dir)
        assertError(p2) {
            if case .disallowedGlobal(_, _, "torch.FloatStorag_") = $0 { return true }
            return false
        }
    }

    func testUnknownOpcodeNamesOffsetAndByte() throws {
        let dir = try ScratchDir()
        // data.pkl starts with PROTO 2, EMPTY_DICT; replace EMPTY_DICT by 0x01 (not a pickle opcode).
        let path = try patchedPickle("nested.pt", [0x80, 0x02, 0x7d], [0x80, 0x02, 0x01], in: dir)
        assertError(path) { $0 == .unknownOpcode(file: path, offset: 2, opcode: 0x01) }
        // INST (0x69) is a real pickle opcode that torch never writes: rejected the same way.
        let p2 = try patchedPickle("nested.pt", [0x80, 0x02, 0x7d], [0x80, 0x02, 0x69], in: dir)
        assertError(p2) { $0 == .unknownOpcode(file: p2, offset: 2, opcode: 0x69) }
    }

    func testPickleLyingAboutSizes() throws {
        let dir = try ScratchDir()
        // The first storage's numel (BININT1 6 at the end of the persistent id) raised to 200: more than its bytes.
        let path = try patchedPickle(
            "basic.pt", Array("cpu".utf8) + [0x71, 0x09, 0x4b, 0x06],
            Array("cpu".utf8) + [0x71, 0x09, 0x4b, 200], in: dir)
        assertError(path) {
            if case .invalidTensor(_, "f32", let what) = $0 {
                return what.contains("declares 200 elements")
            }
            return false
        }
    }

    // MARK: safetensors headers that lie

    func safetensors(_ header: String, data: [UInt8], lengthOverride: UInt64? = nil) -> [UInt8] {
        let h = Array(header.utf8)
        let n = lengthOverride ?? UInt64(h.count)
        return withUnsafeBytes(of: n.littleEndian, Array.init) + h + data
    }

    func testSafetensorsLies() throws {
        let dir = try ScratchDir()
        let four = [UInt8](repeating: 0x3f, count: 8)
        let cases: [(String, [UInt8], (CheckpointError) -> Bool)] = [
            (
                "huge-header", safetensors("{}", data: [], lengthOverride: .max),
                {
                    if case .limitExceeded = $0 { return true } else { return false }
                }
            ),
            (
                "header-past-eof", safetensors("{}", data: [], lengthOverride: 4096),
                {
                    if case .truncated = $0 { return true } else { return false }
                }
            ),
            (
                "not-json", safetensors("{\"a\":", data: []),
                {
                    if case .malformed = $0 { return true } else { return false }
                }
            ),
            (
                "offsets-past-eof",
                safetensors(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [1, 2, 3]),
                {
                    if case .invalidTensor(_, "a", _) = $0 { return true } else { return false }
                }
            ),
            (
                "wrong-size",
                safetensors(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: four),
                {
                    if case .invalidTensor(_, "a", _) = $0 { return true } else { return false }
                }
            ),
            (
                "negative-dim",
                safetensors(#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, data: four),
                {
                    if case .invalidTensor(_, "a", _) = $0 { return true } else { return false }
                }
            ),
            (
                "reversed",
                safetensors(#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#, data: four),
                {
                    if case .invalidTensor(_, "a", _) = $0 { return true } else { return false }
                }
            ),
            (
                "overlap",
                safetensors(
                    #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                    data: four),
                {
                    if case .invalidTensor(_, "b", let what) = $0 {
                        return what.contains("overlaps")
                    } else {
                        return false
                    }
                }
            ),
            (
                "gap", safetensors(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: four),
                {
                    if case .invalidTensor(_, "a", _) = $0 { return true } else { return false }
                }
            ),
            (
                "unknown-dtype",
                safetensors(#"{"a":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}}"#, data: four),
                {
                    $0 == .unsupportedDType(file: dir.path("unknown-dtype"), key: "a", dtype: "F8_E4M3")
                }
            ),
            (
                "duplicate-key",
                safetensors(
                    #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
                    data: four),
                {
                    if case .malformed(_, let what) = $0 {
                        return what.contains("duplicate")
                    } else {
                        return false
                    }
                }
            ),
            (
                "overflowing-shape",
                safetensors(
                    #"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#, data: four
                ),
                {
                    if case .invalidTensor(_, "a", _) = $0 { return true } else { return false }
                }
            ),
            (
                "uncovered-tail",
                safetensors(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: four),
                {
                    if case .malformed = $0 { return true } else { return false }
                }
            ),
        ]
        for (name, bytes, check) in cases {
            assertError(try dir.write(name, bytes), check)
        }
        // A header of 0x180 bytes: the file starts 80 01 like a pickle, and still opens as safetensors.
        var padded = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        padded += String(repeating: " ", count: 0x180 - padded.utf8.count)
        let ambiguous = try dir.write("ambiguous", safetensors(padded, data: four))
        XCTAssertEqual(try readBytes(ambiguous)[0..<2], [0x80, 0x01])
        XCTAssertEqual(try Checkpoint.open(path: ambiguous).tensor("a").floats().count, 2)
        // And a valid hand-written one, so the cases above fail for their stated reason only.
        let ok = try dir.write(
            "ok",
            safetensors(
                #"{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
                data: four))
        XCTAssertEqual(try Checkpoint.open(path: ok).tensor("a").floats().count, 2)
    }

    func testShardedIndexErrors() throws {
        let dir = try ScratchDir()
        let shardDir = dir.path("model")
        try FileManager.default.createDirectory(atPath: shardDir, withIntermediateDirectories: true)
        let index = "model.safetensors.index.json"
        func writeIndex(_ s: String) throws {
            try writeFile(shardDir + "/" + index, Array(s.utf8))
        }

        try writeIndex(#"{"weight_map":{"w":"../outside.safetensors"}}"#)
        assertError(shardDir) { if case .malformed = $0 { return true } else { return false } }

        try writeIndex(#"{"metadata":{}}"#)
        assertError(shardDir) { if case .malformed = $0 { return true } else { return false } }

        // The index names a shard that is absent: opening works (lazily), the tensor access names the shard.
        try writeIndex(#"{"weight_map":{"w":"model-00001-of-00001.safetensors"}}"#)
        let store = try Checkpoint.open(path: shardDir)
        XCTAssertEqual(store.names, ["w"])
        XCTAssertThrowsError(try store.tensor("w")) {
            guard case .cannotOpen(let file, _) = $0 as? CheckpointError else { return XCTFail("\($0)") }
            XCTAssertTrue(file.hasSuffix("model-00001-of-00001.safetensors"))
        }
        // The shard exists but lacks the tensor the index promised.
        let shard = readBytesOrEmpty(Fixtures.path("multi/a.safetensors"))
        try dir.write("model/model-00001-of-00001.safetensors", shard)
        XCTAssertThrowsError(try Checkpoint.open(path: shardDir).tensor("w")) {
            guard case .missingTensor(let file, "w") = $0 as? CheckpointError else {
                return XCTFail("\($0)")
            }
            XCTAssertTrue(file.hasSuffix("model-00001-of-00001.safetensors"))
        }

        let empty = dir.path("emptydir")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        assertError(empty) { if case .cannotOpen = $0 { return true } else { return false } }
    }

    func readBytesOrEmpty(_ path: String) -> [UInt8] { (try? readBytes(path)) ?? [] }
}
