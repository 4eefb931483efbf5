import Foundation
import Imaging
import Inference
import XCTest

/// Runs the reference generators in tools/ (transformers, Pillow) and reads what they wrote.
enum QwenReferencePython {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let committedProcessorFixtures = packageRoot.appendingPathComponent("Tests/Fixtures/qwen25vl/processor")

    /// `PERCEPTION_REF_PYTHON`, else the reference venv; nil when neither exists (transformers is required).
    static var interpreter: String? {
        if let env = ProcessInfo.processInfo.environment["PERCEPTION_REF_PYTHON"] { return env }
        let venv = packageRoot.appendingPathComponent(".venv-ref/bin/python").path
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : nil
    }

    /// Runs a script into a fresh temporary directory; throws XCTSkip when the reference stack is missing.
    static func generate(_ script: String, _ arguments: [String]) throws -> URL {
        guard let python = interpreter else { throw XCTSkip("no reference Python (.venv-ref) for \(script)") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qwen-ref-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script] + arguments + ["--out", dir.path]
        process.currentDirectoryURL = packageRoot
        var environment = ProcessInfo.processInfo.environment
        environment["OMP_NUM_THREADS"] = "2"
        environment["OPENBLAS_NUM_THREADS"] = "2"
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if process.terminationStatus == 3 { throw XCTSkip("reference packages missing: \(stderr)") }
        XCTAssertEqual(process.terminationStatus, 0, stderr)
        return dir
    }

    /// The `--set full` reference, generated once per test process and shared by the processor and geometry tests.
    nonisolated(unsafe) static var fullReference: Result<URL, Error>?
    static let fullReferenceLock = NSLock()

    static func fullProcessorReference() throws -> URL {
        fullReferenceLock.lock()
        defer { fullReferenceLock.unlock() }
        if let cached = fullReference { return try cached.get() }
        let result = Result { try generate("tools/qwen/processor_reference.py", ["--set", "full"]) }
        fullReference = result
        atexit {
            if case .success(let dir)? = QwenReferencePython.fullReference {
                try? FileManager.default.removeItem(at: dir)
            }
        }
        return try result.get()
    }

    static func manifest(_ dir: URL) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(
            with: Data(contentsOf: dir.appendingPathComponent("manifest.json")))
        return try XCTUnwrap(object as? [String: Any])
    }

    static func floats(_ url: URL) throws -> [Float] {
        let data = try Data(contentsOf: url)
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}

final class QwenImageProcessorTests: XCTestCase {
    /// Compares every processor case in `dir` with transformers' pixel_values; returns the largest |diff| seen.
    func checkProcessorCases(in dir: URL, minimumCases: Int) throws -> Float {
        let cases = try XCTUnwrap(QwenReferencePython.manifest(dir)["processor_cases"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(cases.count, minimumCases)
        var worstOverall: Float = 0
        for c in cases {
            let name = try XCTUnwrap(c["name"] as? String)
            let width = try XCTUnwrap(c["width"] as? Int)
            let height = try XCTUnwrap(c["height"] as? Int)
            let pixels = [UInt8](try Data(contentsOf: dir.appendingPathComponent("\(name).rgb")))
            let image = try RGBImage(width: width, height: height, pixels: pixels)
            let config = try QwenImageProcessorConfig(contentsOf: dir.appendingPathComponent("\(name).json").path)
            XCTAssertEqual(config.minPixels, c["min_pixels"] as? Int, name)
            XCTAssertEqual(config.maxPixels, c["max_pixels"] as? Int, name)
            let ours = try QwenImageProcessor(config: config).preprocess(image)
            let grid = try XCTUnwrap(c["grid_thw"] as? [Int])
            XCTAssertEqual([ours.gridT, ours.gridH, ours.gridW], grid, name)
            XCTAssertEqual(ours.rows, c["rows"] as? Int, name)
            XCTAssertEqual(ours.rowLength, c["row_length"] as? Int, name)
            let expected = try QwenReferencePython.floats(dir.appendingPathComponent("\(name).f32"))
            XCTAssertEqual(ours.values.count, expected.count, name)
            let worst = zip(ours.values, expected).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(worst, 1e-5, "\(name) \(width)x\(height): max |diff| vs transformers")
            worstOverall = max(worstOverall, worst)
        }
        return worstOverall
    }

    func testCommittedFixturesMatchTransformers() throws {
        let worst = try checkProcessorCases(in: QwenReferencePython.committedProcessorFixtures, minimumCases: 3)
        // Same Pillow bytes and the same float32 operations in the same order: bit-identical.
        XCTAssertEqual(worst, 0)
    }

    func testPhotosMatchLiveTransformers() throws {
        let dir = try QwenReferencePython.fullProcessorReference()
        XCTAssertEqual(try checkProcessorCases(in: dir, minimumCases: 7), 0)
    }

    func testSmartResizeUsesPythonRounding() throws {
        // 70/28 = 2.5 rounds to 2 in Python (half to even); 98/28 = 3.5 rounds to 4.
        let a = try QwenImageProcessor.smartResize(
            height: 70, width: 98, factor: 28, minPixels: 3136, maxPixels: 1 << 30)
        XCTAssertEqual(a.height, 56)
        XCTAssertEqual(a.width, 112)
        let same = try QwenImageProcessor.smartResize(
            height: 840, width: 840, factor: 28, minPixels: 3136, maxPixels: 12_845_056)
        XCTAssertEqual(same.height, 840)
        XCTAssertEqual(same.width, 840)
        // Over max_pixels: floor after scaling by sqrt(area / max).
        let big = try QwenImageProcessor.smartResize(
            height: 1080, width: 1920, factor: 28, minPixels: 3136, maxPixels: 200_704)
        XCTAssertLessThanOrEqual(big.height * big.width, 200_704)
        XCTAssertEqual(big.height % 28, 0)
        XCTAssertThrowsError(
            try QwenImageProcessor.smartResize(height: 1, width: 201, factor: 28, minPixels: 3136, maxPixels: 1 << 20))
        XCTAssertThrowsError(
            try QwenImageProcessor.smartResize(height: 0, width: 20, factor: 28, minPixels: 3136, maxPixels: 1 << 20))
    }

    func testReasoningInputIs840Bilinear() throws {
        let image = try RGBImage(width: 64, height: 48, pixels: (0..<(64 * 48 * 3)).map { UInt8($0 % 251) })
        let input = try QwenImageProcessor.reasoningInput(image)
        XCTAssertEqual(input, try Resample.pillow(image, width: 840, height: 840, filter: .bilinear))
        let values = try QwenImageProcessor().preprocess(input)
        XCTAssertEqual([values.gridT, values.gridH, values.gridW], [1, 60, 60])
        XCTAssertEqual(values.rows, 3600)
        XCTAssertEqual(values.rowLength, 1176)
    }

    func testPatchOrderIsMergeBlockThenChannelTemporalYX() throws {
        // A 56x56 image is 4x4 patches = 2x2 merge blocks; each patch gets a distinct gray level.
        var pixels = [UInt8](repeating: 0, count: 56 * 56 * 3)
        for y in 0..<56 {
            for x in 0..<56 {
                let level = UInt8((y / 14) * 4 + (x / 14)) * 10
                for c in 0..<3 { pixels[(y * 56 + x) * 3 + c] = level &+ UInt8(c) }
            }
        }
        var config = QwenImageProcessorConfig()
        config.imageMean = [0, 0, 0]
        config.imageStd = [1, 1, 1]
        config.rescaleFactor = 1
        let out = try QwenImageProcessor(config: config).preprocess(try RGBImage(width: 56, height: 56, pixels: pixels))
        // Rows: block (0,0): patches (0,0),(0,1),(1,0),(1,1); block (0,1): (0,2),(0,3),(1,2),(1,3); ...
        let expectedPatch = [0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15]
        for (row, patch) in expectedPatch.enumerated() {
            let base = row * 1176
            XCTAssertEqual(out.values[base], Float(patch * 10), "row \(row) channel 0")
            XCTAssertEqual(out.values[base + 392], Float(patch * 10 + 1), "row \(row) channel 1")
            XCTAssertEqual(out.values[base + 196], out.values[base], "temporal copy")
        }
    }

    func testBadConfigNamesFileAndField() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qwen-cfg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("preprocessor_config.json").path
        try Data(#"{"max_pixels": "lots"}"#.utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try QwenImageProcessorConfig(contentsOf: path)) { error in
            XCTAssertTrue("\(error)".contains("max_pixels") && "\(error)".contains(path), "\(error)")
        }
        try Data(#"{"image_std": [0.2, 0, 0.3]}"#.utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try QwenImageProcessorConfig(contentsOf: path))
        try Data("[1]".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try QwenImageProcessorConfig(contentsOf: path))
        XCTAssertThrowsError(try QwenImageProcessorConfig(contentsOf: dir.appendingPathComponent("missing.json").path))
        try Data(#"{"min_pixels": 100, "max_pixels": 200000, "size": {"shortest_edge": 1, "longest_edge": 2}}"#.utf8)
            .write(to: URL(fileURLWithPath: path))
        let config = try QwenImageProcessorConfig(contentsOf: path)
        XCTAssertEqual(config.minPixels, 100)
        XCTAssertEqual(config.maxPixels, 200_000)
    }
}
