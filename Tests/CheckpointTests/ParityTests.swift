import Checkpoint
import XCTest

/// Every tensor the readers return equals what torch.save / safetensors wrote (bytes and widened floats, bit-exact).
final class ParityTests: XCTestCase {
    func check(_ fixture: String, as reference: String? = nil, file: StaticString = #filePath, line: UInt = #line)
        throws
    {
        let expected = try XCTUnwrap(
            try Fixtures.expected()[reference ?? fixture], "no expectations for \(reference ?? fixture)")
        let store = try Checkpoint.open(path: Fixtures.path(fixture))
        XCTAssertEqual(Set(store.names), Set(expected.keys), fixture, file: file, line: line)
        XCTAssertEqual(store.names.count, expected.count, "duplicate names", file: file, line: line)
        for (name, e) in expected {
            let info = try store.info(name)
            XCTAssertEqual(
                Fixtures.torchName(info.dtype), e.dtype, "\(fixture) \(name)", file: file, line: line)
            XCTAssertEqual(info.shape, e.shape, "\(fixture) \(name)", file: file, line: line)
            let t = try store.tensor(name)
            XCTAssertEqual(t.info, info)
            XCTAssertEqual(Array(t.raw), e.bytes, "\(fixture) \(name) bytes", file: file, line: line)
            if let base = t.raw.baseAddress {
                XCTAssertEqual(Int(bitPattern: base) % t.dtype.itemSize, 0, "\(fixture) \(name) misaligned")
            }
            XCTAssertEqual(
                try t.floats().map(\.bitPattern), e.floatBits, "\(fixture) \(name) floats", file: file,
                line: line)
        }
    }

    func testTorchZipAllDtypesAndViews() throws { try check("basic.pt") }
    func testTorchModuleStateDictWithMetadata() throws { try check("module.pt") }
    func testTorchNestedDictsAreFlattened() throws { try check("nested.pt") }
    func testTorchPickleProtocol4() throws { try check("proto4.pt") }
    func testTorchZip64Records() throws { try check("zip64.pt") }
    func testSafetensorsAllDtypes() throws { try check("basic.safetensors") }
    func testSafetensorsMisalignedDataIsCopied() throws { try check("misaligned.safetensors") }
    func testShardedDirectoryWithIndex() throws { try check("sharded") }
    func testDirectoryWithoutIndex() throws { try check("multi") }
    func testTransformersSavePretrainedShards() throws { try check("hf_qwen2") }
    func testTransformersPytorchBinShards() throws { try check("hf_qwen2_bin", as: "hf_qwen2") }

    func testTorchNamesKeepStateDictOrder() throws {
        let store = try Checkpoint.open(path: Fixtures.path("basic.pt"))
        XCTAssertEqual(
            store.names,
            [
                "f32", "f16", "bf16", "f64", "i64", "i32", "i16", "i8", "u8", "bool", "transposed",
                "sliced", "strided",
                "shared_a", "shared_b", "half_t", "expanded", "scalar", "empty", "param",
            ])
    }

    func testContiguousTensorsViewTheMappingAndStridedOnesAreCopies() throws {
        let store = try Checkpoint.open(path: Fixtures.path("basic.pt"))
        let a1 = try store.tensor("shared_a")
        let a2 = try store.tensor("shared_a")
        XCTAssertEqual(
            a1.raw.baseAddress, a2.raw.baseAddress, "contiguous tensors are views of the mapped file")
        let b = try store.tensor("shared_b")
        // shared_b is row 1 of shared_a's storage: 4 floats further into the same mapping.
        XCTAssertEqual(a1.raw.baseAddress.map { $0 + 16 }, b.raw.baseAddress)
        let t1 = try store.tensor("transposed")
        let t2 = try store.tensor("transposed")
        XCTAssertNotEqual(
            t1.raw.baseAddress, t2.raw.baseAddress, "strided views are materialized per call")
    }

    func testTensorOutlivesItsStore() throws {
        var store: WeightStore? = try Checkpoint.open(path: Fixtures.path("basic.safetensors"))
        let t = try XCTUnwrap(store).tensor("a.f32")
        let before = try t.floats()
        store = nil
        XCTAssertEqual(try t.floats(), before)
        XCTAssertEqual(before.count, 15)
    }

    func testScopedWeightsBuildFullKeys() throws {
        let store = try Checkpoint.open(path: Fixtures.path("sharded"))
        let attn = store.scoped("model").scoped("layers.0").scoped("self_attn")
        XCTAssertEqual(attn.key("q_proj.weight"), "model.layers.0.self_attn.q_proj.weight")
        XCTAssertEqual(
            try attn.tensor("q_proj.weight", expectShape: [4, 4], dtypes: [.bfloat16]).count, 16)
        XCTAssertTrue(attn.contains("q_proj.bias"))
        XCTAssertThrowsError(try attn.tensor("k_proj.weight")) { error in
            XCTAssertEqual(
                error as? CheckpointError,
                .missingTensor(
                    file: Fixtures.path("sharded"), key: "model.layers.0.self_attn.k_proj.weight"))
        }
    }

    func testCopyFloatsOfATile() throws {
        let store = try Checkpoint.open(path: Fixtures.path("sharded"))
        let t = try store.tensor("model.embed_tokens.weight")
        let all = try t.floats()
        var tile = [Float](repeating: .nan, count: 8)
        try tile.withUnsafeMutableBufferPointer {
            try t.copyFloats(elements: 9..<17, to: $0.baseAddress!)
        }
        XCTAssertEqual(tile, Array(all[9..<17]))
        XCTAssertThrowsError(
            try tile.withUnsafeMutableBufferPointer {
                try t.copyFloats(elements: 20..<28, to: $0.baseAddress!)
            })
    }
}
