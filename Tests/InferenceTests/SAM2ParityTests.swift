import Checkpoint
import Compute
import Foundation
import Imaging
import Inference
import XCTest

/// SAM2 image predictor against the official `sam2` package on random-weight models (tools/sam2/make_fixtures.py):
/// preprocessing, every trunk stage, FPN levels, image embedding, high-res features, prompt tokens, IoU
/// predictions, low-res logits, scores and final masks, for both generations.
final class SAM2ParityTests: XCTestCase {
    static let backend = BLASBackend()

    func testSAM2MiniMatchesReference() throws { try checkFixture(SAM2Fixture.directory("sam2-mini")) }
    func testSAM21MiniMatchesReference() throws { try checkFixture(SAM2Fixture.directory("sam2.1-mini")) }
    /// A 256-pixel input size (the toy world's SAM2): every grid follows image_size.
    func testSAM21Mini256MatchesReference() throws { try checkFixture(SAM2Fixture.directory("sam2.1-mini-256")) }

    /// Full-size random models, generated on demand (not in CI):
    /// `.venv-ref/bin/python tools/sam2/make_fixtures.py --full t --out /tmp/sam2-full-t` then
    /// `SAM2_FULL_FIXTURES=/tmp/sam2-full-t swift test -c release --filter SAM2ParityTests/testFullSizeOnDemand`.
    func testFullSizeOnDemand() throws {
        guard let dirs = ProcessInfo.processInfo.environment["SAM2_FULL_FIXTURES"] else {
            throw XCTSkip("set SAM2_FULL_FIXTURES to directories made by tools/sam2/make_fixtures.py --full")
        }
        for dir in dirs.split(separator: ":") {
            let url = URL(fileURLWithPath: String(dir))
            let meta = try SAM2Fixture.meta(url)
            let store = try Checkpoint.open(path: url.appendingPathComponent("model.pt").path)
            XCTAssertEqual(try SAM2Config(weights: SAM2Weights(store: store)), meta.config, "size recognized from the checkpoint")
            try checkFixture(url)
        }
    }

    func testMissingTensorIsReportedWithItsFullKey() throws {
        let dir = SAM2Fixture.directory("sam2-mini")
        let meta = try SAM2Fixture.meta(dir)
        let store = try Checkpoint.open(path: dir.appendingPathComponent("model.pt").path)
        var config = meta.config
        config.stages = [1, 2, 3, 3]  // one block more than the checkpoint holds
        XCTAssertThrowsError(try SAM2ImagePredictor(weights: SAM2Weights(store: store), config: config, backend: Self.backend)) { error in
            XCTAssertTrue("\(error)".contains("image_encoder.trunk.blocks.8.norm1.weight"), "\(error)")
        }
        XCTAssertThrowsError(try SAM2Config(weights: SAM2Weights(store: store))) { error in
            XCTAssertTrue("\(error)".contains("match no published SAM2 size"), "\(error)")
        }
    }

    /// Architecture files in the official config's names: defaults, `config` nesting, and errors naming file and key.
    func testArchitectureJSONIsParsedAndChecked() throws {
        let good = #"{"config": {"embed_dim": 16, "num_heads": 1, "stages": [1, 2, 2, 1], "global_att_blocks": [4], "window_spec": [8, 4, 14, 7], "bkg": [7, 7], "d_model": 128, "image_size": 512}}"#
        let c = try SAM2Config(officialJSON: Data(good.utf8), source: "toy.json")
        XCTAssertEqual([c.embedDim, c.numHeads, c.modelDim, c.imageSize], [16, 1, 128, 512])
        XCTAssertEqual(c.stages, [1, 2, 2, 1])
        let published = #"{"embed_dim": 96, "num_heads": 1, "stages": [1, 2, 7, 2], "global_att_blocks": [5, 7, 9], "window_spec": [8, 4, 14, 7], "window_pos_embed_bkg_spatial_size": [7, 7]}"#
        XCTAssertEqual(try SAM2Config(officialJSON: Data(published.utf8), source: "t.json"), .tiny)
        let bad: [(String, String)] = [
            ("[1, 2]", "not a JSON object"),
            (good.replacingOccurrences(of: #""embed_dim": 16, "#, with: ""), "embed_dim is missing"),
            (good.replacingOccurrences(of: #""stages": [1, 2, 2, 1]"#, with: #""stages": "1,2,2,1""#), "stages must be a list of integers"),
            (good.replacingOccurrences(of: #""image_size": 512"#, with: #""image_size": 100"#), "image_size 100"),
            (good.replacingOccurrences(of: #""image_size": 512"#, with: #""image_size": -32"#), "image_size must be a positive integer"),
            (good.replacingOccurrences(of: #""global_att_blocks": [4]"#, with: #""global_att_blocks": [6]"#), "global_att_blocks"),
            (good.replacingOccurrences(of: #""stages": [1, 2, 2, 1]"#, with: #""stages": [1, 2, 2]"#), "need 4 entries"),
        ]
        for (text, message) in bad {
            XCTAssertThrowsError(try SAM2Config(officialJSON: Data(text.utf8), source: "arch.json")) { error in
                XCTAssertTrue("\(error)".contains("arch.json") && "\(error)".contains(message), "\(error) for \(text)")
            }
        }
    }

    func testInvalidPromptsThrow() throws {
        let dir = SAM2Fixture.directory("sam2-mini")
        let meta = try SAM2Fixture.meta(dir)
        let predictor = try SAM2ImagePredictor(checkpoint: dir.appendingPathComponent("model.pt").path, config: meta.config, backend: Self.backend)
        let image = try RGBImage(width: 40, height: 30)
        let e = try predictor.embed(image)
        XCTAssertThrowsError(try predictor.predict(e, prompt: SAM2Prompt(), multimask: true))
        XCTAssertThrowsError(try predictor.predict(e, prompt: SAM2Prompt(points: [[1, 2]], labels: []), multimask: true))
        XCTAssertThrowsError(try predictor.predict(e, prompt: SAM2Prompt(points: [[1, 2]], labels: [7]), multimask: true))
        XCTAssertThrowsError(try predictor.predict(e, prompt: SAM2Prompt(box: [1, 2, 3]), multimask: true))
        XCTAssertThrowsError(try predictor.predict(e, prompt: SAM2Prompt(points: [[.nan, 2]], labels: [1]), multimask: true))
        XCTAssertThrowsError(try predictor.predict(e, prompt: SAM2Prompt(box: [1, 2, 3, 4], maskInput: [0, 1]), multimask: true))
        let ok = try predictor.predict(e, prompt: SAM2Prompt(box: [1, 2, 30, 20]), multimask: true)
        XCTAssertEqual(ok.masks.count, 3)
        XCTAssertEqual(ok.masks[0].count, 40 * 30)
    }

    func checkFixture(_ dir: URL) throws {
        let name = dir.lastPathComponent
        let meta = try SAM2Fixture.meta(dir)
        let be = Self.backend
        let predictor = try SAM2ImagePredictor(checkpoint: dir.appendingPathComponent("model.pt").path, config: meta.config, backend: be)
        let image = try ImageCodec.load(path: dir.appendingPathComponent("image.png").path)
        XCTAssertEqual([image.width, image.height], [meta.width, meta.height])
        var features: [String: Tensor] = [:]
        let embedding = try predictor.embed(image) { features[$0] = $1 }
        let nhwc: Set<String> = ["trunk_0", "trunk_1", "trunk_2", "trunk_3", "fpn_0", "fpn_1", "fpn_2", "image_embed"]
        for key in ["input", "trunk_0", "trunk_1", "trunk_2", "trunk_3", "fpn_0", "fpn_1", "fpn_2", "image_embed", "high_res_0", "high_res_1"] {
            guard let t = features[key] else { XCTFail("\(name): no feature \(key)"); continue }
            let nchw = nhwc.contains(key) ? try be.permute(t, [0, 3, 1, 2]) : t
            try SAM2Fixture.compare(nchw, dir: dir, file: key, stride: meta.strides[key] ?? 1, tol: 1e-5, "\(name) \(key)")
        }
        for (k, c) in meta.cases.enumerated() {
            var prompt = SAM2Prompt(box: c.box, points: c.points ?? [], labels: c.labels ?? [])
            if c.maskInputFrom != nil {
                prompt.maskInput = try NPY.read(path: dir.appendingPathComponent("case\(k)_mask_input.npy").path).values
            }
            let p = try predictor.predict(embedding, prompt: prompt, multimask: c.multimask)
            let what = "\(name) case \(k)"
            try SAM2Fixture.compare(p.sparseTokens.reshaped([1] + p.sparseTokens.shape), dir: dir, file: "case\(k)_sparse", stride: 1, tol: 1e-5, "\(what) sparse")
            let iouRef = try NPY.read(path: dir.appendingPathComponent("case\(k)_decoder_iou.npy").path).values
            let chosenRef = try NPY.read(path: dir.appendingPathComponent("case\(k)_scores.npy").path).values
            XCTAssertEqual(p.scores.count, chosenRef.count, "\(what) mask count")
            for (a, b) in zip(p.scores, chosenRef) { XCTAssertEqual(a, b, accuracy: 1e-3, "\(what) scores") }
            XCTAssertEqual(iouRef.count, p.scores.count, "\(what) decoder iou count")
            try SAM2Fixture.compare(p.lowResLogits, dir: dir, file: "case\(k)_low_res", stride: meta.strides["case\(k)_low_res"] ?? 1, tol: 1e-3, "\(what) low-res logits")
            // Final masks at the original size: IoU per mask.
            let packed = try NPY.read(path: dir.appendingPathComponent("case\(k)_masks.npy").path).values.map { UInt8($0) }
            let n = image.width * image.height
            XCTAssertEqual(p.masks.count, c.maskShape[0])
            for (m, mask) in p.masks.enumerated() {
                var inter = 0, union = 0
                for i in 0..<n {
                    let bit = m * n + i
                    let ref = (packed[bit >> 3] >> (7 - UInt8(bit & 7))) & 1
                    if ref == 1 && mask[i] == 1 { inter += 1 }
                    if ref == 1 || mask[i] == 1 { union += 1 }
                }
                let iou = union == 0 ? 1 : Double(inter) / Double(union)
                XCTAssertGreaterThanOrEqual(iou, 0.99, "\(what) mask \(m) IoU")
            }
        }
    }
}

/// Reads tools/sam2/make_fixtures.py output.
enum SAM2Fixture {
    struct Case {
        var box: [Float]?
        var points: [[Float]]?
        var labels: [Int]?
        var multimask: Bool
        var maskInputFrom: Int?
        var maskShape: [Int]
    }

    struct Meta {
        var config: SAM2Config
        var width: Int
        var height: Int
        var cases: [Case]
        var strides: [String: Int]
    }

    static func directory(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/sam2").appendingPathComponent(name)
    }

    static func meta(_ dir: URL) throws -> Meta {
        let data = try Data(contentsOf: dir.appendingPathComponent("meta.json"))
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let img = root["image"] as? [String: Any],
              let cases = root["cases"] as? [[String: Any]], let strides = root["strides"] as? [String: Int] else {
            throw SAM2Error.config("bad meta.json in \(dir.path)")
        }
        func ints(_ v: Any?) -> [Int] { (v as? [NSNumber])?.map(\.intValue) ?? [] }
        func floats(_ v: Any?) -> [Float]? { (v as? [NSNumber])?.map(\.floatValue) }
        let config = try SAM2Config(officialJSON: data, source: dir.appendingPathComponent("meta.json").path)
        let parsed = cases.map { d in
            Case(box: floats(d["box"]), points: (d["points"] as? [[NSNumber]])?.map { $0.map(\.floatValue) },
                 labels: (d["labels"] as? [NSNumber])?.map(\.intValue), multimask: (d["multimask"] as? Bool) ?? false,
                 maskInputFrom: d["mask_input_from"] as? Int, maskShape: ints(d["mask_shape"]))
        }
        return Meta(config: config, width: (img["width"] as? Int) ?? 0, height: (img["height"] as? Int) ?? 0, cases: parsed, strides: strides)
    }

    /// Compares an NCHW-like tensor (subsampled by `stride` over its last two dims) with the fixture, relative
    /// to the reference's largest magnitude.
    static func compare(_ t: Tensor, dir: URL, file: String, stride: Int, tol: Float, _ what: String,
                        sourceFile: StaticString = #filePath, line: UInt = #line) throws {
        let ref = try NPY.read(path: dir.appendingPathComponent(file + ".npy").path)
        let shape = t.shape
        guard shape.count >= 2 else { XCTFail("\(what): rank \(shape)"); return }
        let h = shape[shape.count - 2], w = shape[shape.count - 1]
        let outer = t.count / max(h * w, 1)
        let sh = (h + stride - 1) / stride, sw = (w + stride - 1) / stride
        let expectShape = Array(shape.dropLast(2)) + [sh, sw]
        XCTAssertEqual(ref.shape, expectShape, "\(what): shape", file: sourceFile, line: line)
        guard ref.shape == expectShape else { return }
        let v = t.toArray()
        var worst: Float = 0, scale: Float = 0, at = 0
        for o in 0..<outer {
            for y in 0..<sh {
                for x in 0..<sw {
                    let a = v[(o * h + y * stride) * w + x * stride]
                    let i = (o * sh + y) * sw + x
                    let b = ref.values[i]
                    scale = max(scale, abs(b))
                    let d = abs(a - b)
                    if !(d <= worst) { worst = d; at = i }
                }
            }
        }
        let rel = worst / max(scale, 1e-6)
        if ProcessInfo.processInfo.environment["SAM2_PARITY_VERBOSE"] != nil { print("\(what): rel \(rel) (max diff \(worst), scale \(scale))") }
        XCTAssertLessThanOrEqual(rel, tol, "\(what): max |diff| \(worst) at \(at) vs scale \(scale)", file: sourceFile, line: line)
    }
}
