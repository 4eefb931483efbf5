import Foundation
import Imaging
import Inference
import XCTest

/// Checks the image side of the committed tiny-model fixtures (tools/qwen/make_qwen_fixtures.py): the photo,
/// Seg-Zero pre-resize, processor output (by SHA-256 of the float32 bytes), grid, M-RoPE ids and window index.
final class QwenImageProcessorFixtureTests: XCTestCase {
    static let root = QwenReferencePython.packageRoot.appendingPathComponent("Tests/Fixtures/qwen25vl")

    func testFixtureCasesReproduceFromTheCommittedPhoto() throws {
        let index = try JSONSerialization.jsonObject(
            with: Data(contentsOf: Self.root.appendingPathComponent("cases/index.json")))
        let cases = try XCTUnwrap(index as? [String: [String: Any]])
        XCTAssertEqual(cases.count, 4)
        let photo = try ImageCodec.load(path: Self.root.appendingPathComponent("chelsea.png").path)
        XCTAssertEqual([photo.width, photo.height], [451, 300])
        for (name, summary) in cases.sorted(by: { $0.key < $1.key }) {
            let dir = Self.root.appendingPathComponent("cases/\(name)")
            let object = try JSONSerialization.jsonObject(
                with: Data(contentsOf: dir.appendingPathComponent("case.json")))
            let record = try XCTUnwrap(object as? [String: Any])
            let input = try XCTUnwrap(summary["input"] as? String)
            let image = input == "square840" ? try QwenImageProcessor.reasoningInput(photo) : photo
            XCTAssertEqual(QwenFixtureSHA256.hex(image.pixels), record["image_sha256"] as? String, "\(name) image")

            let modelDir = Self.root.appendingPathComponent(try XCTUnwrap(summary["model"] as? String))
            let config = try QwenImageProcessorConfig(
                contentsOf: modelDir.appendingPathComponent("preprocessor_config.json").path)
            let values = try QwenImageProcessor(config: config).preprocess(image)
            let grid = try XCTUnwrap(record["image_grid_thw"] as? [Int])
            XCTAssertEqual([values.gridT, values.gridH, values.gridW], grid, name)
            XCTAssertEqual([values.rows, values.rowLength], record["pixel_values_shape"] as? [Int], name)
            let bytes = values.values.withUnsafeBytes { [UInt8]($0) }
            XCTAssertEqual(QwenFixtureSHA256.hex(bytes), record["pixel_values_sha256"] as? String, "\(name) pixels")
            let head = try QwenFixtureNPY.floats(dir.appendingPathComponent("pixel_values_head.npy"))
            XCTAssertEqual(Array(values.values.prefix(head.count)), head, name)

            let ids = try XCTUnwrap(record["input_ids"] as? [Int])
            let qwenGrid = QwenGrid(t: grid[0], h: grid[1], w: grid[2])
            let rope = try QwenVisionGeometry.ropeIndex(
                inputIDs: ids, imageGrids: [qwenGrid], imageTokenID: 151655, visionStartTokenID: 151652, mergeSize: 2)
            XCTAssertEqual(rope.positions, record["position_ids"] as? [[Int]], "\(name) position ids")
            XCTAssertEqual(rope.ropeDelta, record["rope_delta"] as? Int, "\(name) rope delta")
            let windows = try QwenVisionGeometry.windowIndex(
                grids: [qwenGrid], mergeSize: 2, windowSize: 112, patchSize: 14)
            XCTAssertEqual(windows.windowIndex, record["window_index"] as? [Int], "\(name) window index")
            XCTAssertEqual(ids.filter { $0 == 151655 }.count, qwenGrid.patches / 4, name)
        }
    }
}

/// Reads little-endian float32 `.npy` files (format 1.0/2.0, C order) as written by numpy.save.
enum QwenFixtureNPY {
    static func floats(_ url: URL) throws -> [Float] {
        let data = [UInt8](try Data(contentsOf: url))
        guard data.count > 10, data[0] == 0x93, Array(data[1...5]) == Array("NUMPY".utf8) else {
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: url.path])
        }
        let major = data[6]
        let headerLength =
            major == 1
            ? Int(data[8]) | Int(data[9]) << 8
            : Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
        let start = (major == 1 ? 10 : 12) + headerLength
        let header = String(decoding: data[(major == 1 ? 10 : 12)..<start], as: UTF8.self)
        guard header.contains("'descr': '<f4'"), header.contains("'fortran_order': False") else {
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: url.path])
        }
        return data[start...].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}

/// SHA-256 (FIPS 180-4), enough to compare fixture hashes without a crypto dependency.
enum QwenFixtureSHA256 {
    static let k: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
    ]

    static func hex(_ message: [UInt8]) -> String {
        var h: [UInt32] = [
            0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19,
        ]
        var padded = message
        padded.append(0x80)
        while padded.count % 64 != 56 { padded.append(0) }
        let bits = UInt64(message.count) * 8
        for i in (0..<8).reversed() { padded.append(UInt8(truncatingIfNeeded: bits >> (UInt64(i) * 8))) }
        var w = [UInt32](repeating: 0, count: 64)
        func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
        for chunk in stride(from: 0, to: padded.count, by: 64) {
            for i in 0..<16 {
                let b = chunk + i * 4
                w[i] =
                    UInt32(padded[b]) << 24 | UInt32(padded[b + 1]) << 16 | UInt32(padded[b + 2]) << 8
                    | UInt32(padded[b + 3])
            }
            for i in 16..<64 {
                let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
                let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
            }
            var (a, b, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
            for i in 0..<64 {
                let t1 = hh &+ (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) &+ ((e & f) ^ (~e & g)) &+ k[i] &+ w[i]
                let t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) &+ ((a & b) ^ (a & c) ^ (b & c))
                (hh, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ t2)
            }
            for (i, v) in [a, b, c, d, e, f, g, hh].enumerated() { h[i] = h[i] &+ v }
        }
        return h.map { v in
            let s = String(v, radix: 16)
            return String(repeating: "0", count: 8 - s.count) + s
        }.joined()
    }
}

final class QwenFixtureSHA256Tests: XCTestCase {
    func testKnownDigests() {
        XCTAssertEqual(
            QwenFixtureSHA256.hex([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(
            QwenFixtureSHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        )
        XCTAssertEqual(
            QwenFixtureSHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }
}
