import Checkpoint
import XCTest

/// Hand-assembled torch zips whose data.pkl lies in one specific way each, so every rule has a test that fails if
/// the rule is dropped (and one valid file proving the assembler itself is right).
final class CraftedPickleTests: XCTestCase {
    // MARK: assembling

    static func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xff), UInt8((v >> 8) & 0xff)] }
    static func le32(_ v: Int) -> [UInt8] { le16(v & 0xffff) + le16((v >> 16) & 0xffff) }

    /// A zip of stored entries (CRCs left 0: the reader does not check them).
    static func zip(_ entries: [(String, [UInt8])], cdOffsetDelta: Int = 0, sizeOverride: [String: Int] = [:])
        -> [UInt8]
    {
        var out: [UInt8] = []
        var cd: [UInt8] = []
        for (name, data) in entries {
            let n = Array(name.utf8)
            let size = sizeOverride[name] ?? data.count
            let offset = out.count
            out += le32(0x0403_4b50) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0) + le32(0)
            out += le32(size) + le32(size) + le16(n.count) + le16(0) + n + data
            cd += le32(0x0201_4b50) + le16(20) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0) + le32(0)
            cd += le32(size) + le32(size) + le16(n.count) + le16(0) + le16(0) + le16(0) + le16(0) + le32(0)
            cd += le32(offset) + n
        }
        let cdOffset = out.count
        out += cd
        out += le32(0x0605_4b50) + le16(0) + le16(0) + le16(entries.count) + le16(entries.count) + le32(cd.count)
        out += le32(cdOffset + cdOffsetDelta) + le16(0)
        return out
    }

    /// Pickle opcodes, written out so a test reads like `pickletools.dis` output.
    struct Pickle {
        var b: [UInt8] = [0x80, 0x02]
        mutating func str(_ s: String) { b += [0x58] + CraftedPickleTests.le32(s.utf8.count) + Array(s.utf8) }
        mutating func int(_ v: Int) {
            if v >= 0, v < 256 { b += [0x4b, UInt8(v)] } else { b += [0x4a] + CraftedPickleTests.le32(v) }
        }
        mutating func global(_ module: String, _ name: String) { b += [0x63] + Array("\(module)\n\(name)\n".utf8) }
        mutating func op(_ o: UInt8...) { b += o }
        /// `_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())` of a float storage.
        mutating func tensor(key: String = "0", numel: Int, offset: Int, size: [Int], stride: [Int]) {
            global("torch._utils", "_rebuild_tensor_v2")
            op(0x28, 0x28)
            str("storage")
            global("torch", "FloatStorage")
            str(key)
            str("cpu")
            int(numel)
            op(0x74, 0x51)  // TUPLE, BINPERSID
            int(offset)
            op(0x28)
            for s in size { int(s) }
            op(0x74, 0x28)
            for s in stride { int(s) }
            op(0x74, 0x89)
            global("collections", "OrderedDict")
            op(0x29, 0x52, 0x74, 0x52)  // EMPTY_TUPLE, REDUCE, TUPLE, REDUCE
        }
    }

    /// {"model": {"w": <tensor>}} plus `extra` ops run on the inner dict before STOP.
    static func stateDict(_ tensor: (inout Pickle) -> Void, extra: (inout Pickle) -> Void = { _ in }) -> [UInt8] {
        var p = Pickle()
        p.op(0x7d)
        p.str("model")
        p.op(0x7d)
        p.str("w")
        tensor(&p)
        p.op(0x73)  // SETITEM w
        extra(&p)
        p.op(0x73, 0x2e)  // SETITEM model, STOP
        return p.b
    }

    static let fourFloats: [UInt8] = [1.0, 2.0, -3.0, 0.5].flatMap { (f: Float) in le32(Int(f.bitPattern)) }

    func open(_ pickle: [UInt8], storage: [UInt8] = fourFloats, in dir: ScratchDir, _ name: String = "x.pt") throws
        -> String
    {
        try dir.write(
            name, Self.zip([("x/data.pkl", pickle), ("x/byteorder", Array("little".utf8)), ("x/data/0", storage)]))
    }

    func expectInvalid(_ path: String, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try openAndReadAll(path), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(fragment), "\(text) lacks \(fragment)", file: file, line: line)
            XCTAssertNotNil(error as? CheckpointError, file: file, line: line)
        }
    }

    // MARK: tests

    func testAssembledFileOpens() throws {
        let dir = try ScratchDir()
        let path = try open(Self.stateDict { $0.tensor(numel: 4, offset: 0, size: [2, 2], stride: [1, 2]) }, in: dir)
        let t = try Checkpoint.open(path: path).tensor("w")
        XCTAssertEqual(t.shape, [2, 2])
        XCTAssertEqual(try t.floats(), [1, -3, 2, 0.5])  // transposed view materialized
    }

    func testNegativeIntegersInTheTensorArguments() throws {
        let dir = try ScratchDir()
        expectInvalid(
            try open(
                Self.stateDict { $0.tensor(numel: 4, offset: 0, size: [-1, 2], stride: [2, 1]) }, in: dir, "a.pt"),
            "negative dimension")
        expectInvalid(
            try open(Self.stateDict { $0.tensor(numel: 4, offset: -2, size: [2], stride: [1]) }, in: dir, "b.pt"),
            "negative storage offset")
        expectInvalid(
            try open(Self.stateDict { $0.tensor(numel: -4, offset: 0, size: [2], stride: [1]) }, in: dir, "c.pt"),
            "negative size")
        expectInvalid(
            try open(Self.stateDict { $0.tensor(numel: 4, offset: 0, size: [2], stride: [-1]) }, in: dir, "d.pt"),
            "strides")
    }

    func testViewsReachingPastTheirStorage() throws {
        let dir = try ScratchDir()
        expectInvalid(
            try open(
                Self.stateDict { $0.tensor(numel: 4, offset: 0, size: [2, 2], stride: [3, 1]) }, in: dir, "a.pt"),
            "reaches past its storage")
        expectInvalid(
            try open(Self.stateDict { $0.tensor(numel: 4, offset: 3, size: [2], stride: [1]) }, in: dir, "b.pt"),
            "reaches past its storage of 4 elements")
        // numel claims more than the zip entry holds.
        expectInvalid(
            try open(Self.stateDict { $0.tensor(numel: 5, offset: 0, size: [4], stride: [1]) }, in: dir, "c.pt"),
            "declares 5 elements but holds 16 bytes")
        // A stride-0 view of 2^40 elements over 4 floats: refused before any allocation.
        expectInvalid(
            try open(
                Self.stateDict { $0.tensor(numel: 4, offset: 0, size: [1 << 20, 1 << 20], stride: [0, 0]) }, in: dir,
                "d.pt"),
            "strided view of")
        // Sizes whose product overflows Int.
        expectInvalid(
            try open(
                Self.stateDict {
                    $0.tensor(numel: 4, offset: 0, size: [1 << 30, 1 << 30, 1 << 30], stride: [0, 0, 0])
                },
                in: dir, "e.pt"),
            "overflows")
        // The storage key is not in the zip.
        expectInvalid(
            try open(
                Self.stateDict { $0.tensor(key: "7", numel: 4, offset: 0, size: [4], stride: [1]) }, in: dir, "f.pt"),
            "storage \"7\" is not in the zip")
    }

    func testSmallStrideZeroViewsAreMaterialized() throws {
        let dir = try ScratchDir()
        let path = try open(Self.stateDict { $0.tensor(numel: 4, offset: 1, size: [3, 2], stride: [0, 1]) }, in: dir)
        XCTAssertEqual(try Checkpoint.open(path: path).tensor("w").floats(), [2, -3, 2, -3, 2, -3])
    }

    func testDisallowedGlobalsAndCalls() throws {
        let dir = try ScratchDir()
        var p = Pickle()
        p.global("os", "system")
        p.str("true")
        p.op(0x85, 0x52, 0x2e)
        let path = try open(p.b, in: dir, "a.pt")
        XCTAssertThrowsError(try Checkpoint.open(path: path)) {
            XCTAssertEqual($0 as? CheckpointError, .disallowedGlobal(file: path, offset: 2, name: "os.system"))
        }
        // An allowed global called with arguments it never gets from torch.
        var q = Pickle()
        q.global("collections", "OrderedDict")
        q.str("x")
        q.op(0x85, 0x52, 0x2e)
        expectInvalid(try open(q.b, in: dir, "b.pt"), "OrderedDict() with arguments")
        // A storage type called as a function.
        var r = Pickle()
        r.global("torch", "FloatStorage")
        r.op(0x29, 0x52, 0x2e)
        expectInvalid(try open(r.b, in: dir, "c.pt"), "cannot be called")
    }

    func testStructuralPickleErrors() throws {
        let dir = try ScratchDir()
        let cases: [([UInt8], String)] = [
            ([0x80, 0x02, 0x2e], "stack underflow"),  // STOP on an empty stack
            ([0x80, 0x02, 0x7d, 0x68, 0x05, 0x2e], "memo index 5 was never stored"),
            ([0x80, 0x02, 0x7d, 0x7d, 0x2e], "values left on the stack"),
            ([0x80, 0x02, 0x7d], "ends without STOP"),
            ([0x80, 0x02, 0x5d, 0x4b, 0x01, 0x73, 0x2e], "stack underflow"),  // SETITEM with one value
            ([0x80, 0x02, 0x5d, 0x4b, 0x01, 0x4b, 0x02, 0x73, 0x2e], "SETITEM on a non-dict"),
            ([0x80, 0x02, 0x74, 0x2e], "no MARK"),
            ([0x80, 0x09, 0x7d, 0x2e], "protocol 9"),
            ([0x80, 0x02, 0x8a, 0x09] + [UInt8](repeating: 1, count: 9) + [0x2e], "does not fit 64 bits"),
            ([0x80, 0x02, 0x58, 0xff, 0xff, 0xff, 0x7f, 0x61], "ends inside the operand"),  // BINUNICODE of 2 GiB
            ([0x80, 0x02, 0x58, 0x02, 0, 0, 0, 0xc3, 0x28, 0x2e], "not valid UTF-8"),
            ([0x80, 0x02, 0x4b, 0x01, 0x2e], "not a dict"),
        ]
        for (i, (bytes, fragment)) in cases.enumerated() {
            expectInvalid(try open(bytes, in: dir, "s\(i).pt"), fragment)
        }
    }

    func testSelfReferencingListDoesNotHang() throws {
        let dir = try ScratchDir()
        // {"model": {"w": tensor, "loop": l}} where l = []; l.append(l)
        let pickle = Self.stateDict({ $0.tensor(numel: 4, offset: 0, size: [4], stride: [1]) }) { p in
            p.str("loop")
            p.op(0x5d, 0x71, 0x63, 0x68, 0x63, 0x61)  // EMPTY_LIST, BINPUT 99, BINGET 99, APPEND
            p.op(0x73)
        }
        let store = try Checkpoint.open(path: try open(pickle, in: dir))
        XCTAssertEqual(store.names, ["w"])
    }

    func testZipDirectoryLies() throws {
        let dir = try ScratchDir()
        let pickle = Self.stateDict { $0.tensor(numel: 4, offset: 0, size: [4], stride: [1]) }
        let entries = [("x/data.pkl", pickle), ("x/data/0", Self.fourFloats)]
        expectInvalid(try dir.write("a.pt", Self.zip(entries, cdOffsetDelta: 1 << 20)), "central directory")
        expectInvalid(try dir.write("b.pt", Self.zip(entries, sizeOverride: ["x/data/0": 1 << 30])), "x/data/0")
        expectInvalid(try dir.write("c.pt", Self.zip(entries, cdOffsetDelta: 3)), "central directory entry 0")
        expectInvalid(try dir.write("d.pt", Self.zip([("x/data/0", Self.fourFloats)])), "no */data.pkl")
        expectInvalid(
            try dir.write("e.pt", Self.zip(entries + [("y/data.pkl", pickle)])), "several */data.pkl")
        XCTAssertEqual(try openAndReadAll(try dir.write("ok.pt", Self.zip(entries))), 4)
    }
}
