import Foundation
import Imaging
import XCTest

/// Reference outputs written by tools/imaging/resample_reference.py: one case list, read from a directory.
struct ResampleReference {
    struct PillowCase {
        var source: String, width: Int, height: Int, filter: ResampleFilter, file: String
    }
    struct TorchCase {
        var source: String, width: Int, height: Int, file: String
        /// For 1024x1024 cases when sam2 is importable: |SAM2Transforms - Normalize(Resize(...))|, expected 0.
        var sam2Difference: Double?
    }

    let directory: URL
    var sources: [String: RGBImage] = [:]
    var pillowCases: [PillowCase] = []
    var torchCases: [TorchCase] = []

    init(directory: URL) throws {
        self.directory = directory
        let json = try JSONSerialization.jsonObject(
            with: Data(contentsOf: directory.appendingPathComponent("manifest.json")))
        let manifest = try XCTUnwrap(json as? [String: Any])
        for (name, size) in try XCTUnwrap(manifest["sources"] as? [String: [String: Int]]) {
            let width = try XCTUnwrap(size["width"])
            let height = try XCTUnwrap(size["height"])
            let bytes = [UInt8](try Data(contentsOf: directory.appendingPathComponent("\(name).rgb")))
            sources[name] = try RGBImage(width: width, height: height, pixels: bytes)
        }
        for c in try XCTUnwrap(manifest["pillow_cases"] as? [[String: Any]]) {
            pillowCases.append(
                PillowCase(
                    source: try XCTUnwrap(c["source"] as? String), width: try XCTUnwrap(c["width"] as? Int),
                    height: try XCTUnwrap(c["height"] as? Int),
                    filter: try XCTUnwrap(ResampleFilter(rawValue: try XCTUnwrap(c["filter"] as? String))),
                    file: try XCTUnwrap(c["file"] as? String)))
        }
        for c in (manifest["torch_cases"] as? [[String: Any]]) ?? [] {
            torchCases.append(
                TorchCase(
                    source: try XCTUnwrap(c["source"] as? String), width: try XCTUnwrap(c["width"] as? Int),
                    height: try XCTUnwrap(c["height"] as? Int), file: try XCTUnwrap(c["file"] as? String),
                    sam2Difference: c["sam2_transforms_max_abs_diff"] as? Double))
        }
    }

    func bytes(_ file: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(file)))
    }

    func floats(_ file: String) throws -> [Float] {
        let data = try Data(contentsOf: directory.appendingPathComponent(file))
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// Every Pillow case must be pixel-identical; returns the number of cases checked.
    func checkPillow(file: StaticString = #filePath, line: UInt = #line) throws -> Int {
        for c in pillowCases {
            let source = try XCTUnwrap(sources[c.source])
            let ours = try Resample.pillow(source, width: c.width, height: c.height, filter: c.filter)
            let expected = try bytes(c.file)
            XCTAssertEqual(ours.pixels.count, expected.count, "\(c)", file: file, line: line)
            let diffs = zip(ours.pixels, expected).filter { $0 != $1 }.count
            let worst = zip(ours.pixels, expected).map { abs(Int($0) - Int($1)) }.max() ?? 0
            XCTAssertEqual(
                diffs, 0,
                "\(c.source) \(source.width)x\(source.height) -> \(c.width)x\(c.height) \(c.filter): "
                    + "\(diffs) bytes differ from Pillow, max |diff| \(worst)", file: file, line: line)
        }
        return pillowCases.count
    }

    /// Every torch case must agree within `tolerance` (absolute, values in [0, 1]); returns the cases checked.
    func checkTorch(tolerance: Float, file: StaticString = #filePath, line: UInt = #line) throws
        -> Int
    {
        for c in torchCases {
            if let sam2 = c.sam2Difference {
                XCTAssertEqual(
                    sam2, 0, "sam2 SAM2Transforms is not Resize(antialias=True) + Normalize", file: file, line: line)
            }
            let source = try XCTUnwrap(sources[c.source])
            let chw = Self.toTensor(source)
            let ours = try Resample.torchBilinearAntialias(
                chw: chw, channels: 3, height: source.height, width: source.width, outHeight: c.height,
                outWidth: c.width)
            let expected = try floats(c.file)
            XCTAssertEqual(ours.count, expected.count, "\(c)", file: file, line: line)
            let worst = zip(ours, expected).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(
                worst, tolerance, "\(c.source) -> \(c.width)x\(c.height): max |diff| vs torchvision",
                file: file,
                line: line)
        }
        return torchCases.count
    }

    /// torchvision `ToTensor()`: uint8 HWC -> float32 CHW / 255.
    static func toTensor(_ image: RGBImage) -> [Float] {
        let plane = image.width * image.height
        var out = [Float](repeating: 0, count: 3 * plane)
        for i in 0..<plane {
            for c in 0..<3 { out[c * plane + i] = Float(image.pixels[i * 3 + c]) / 255 }
        }
        return out
    }
}

/// Runs a reference Python script; nil when the interpreter or its packages are missing (exit status 3).
enum ReferencePython {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The reference venv when present (it has torch), else `python3` from PATH.
    static var interpreter: String {
        let venv = packageRoot.appendingPathComponent(".venv-ref/bin/python").path
        if let env = ProcessInfo.processInfo.environment["PERCEPTION_REF_PYTHON"] { return env }
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : "/usr/bin/env"
    }

    static func run(_ arguments: [String]) throws -> (status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: interpreter)
        process.arguments = (interpreter == "/usr/bin/env" ? ["python3"] : []) + arguments
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
        return (process.terminationStatus, stderr)
    }

    static func temporaryDirectory(_ tag: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "\(tag)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

final class ResampleTests: XCTestCase {
    static let fixtures = ReferencePython.packageRoot.appendingPathComponent("Tests/Fixtures/imaging")

    /// Committed tiny crops (always available): Pillow bytes identical, torch within 1e-6.
    func testCommittedFixturesMatchPillowAndTorch() throws {
        let reference = try ResampleReference(directory: Self.fixtures)
        XCTAssertGreaterThanOrEqual(try reference.checkPillow(), 16)
        XCTAssertGreaterThanOrEqual(try reference.checkTorch(tolerance: 1e-6), 4)
    }

    /// Full-size photos resized by the Pillow (and, in .venv-ref, torchvision) installed here right now.
    func testFullSizePhotosMatchLiveReference() throws {
        let dir = try ReferencePython.temporaryDirectory("resample-ref")
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try ReferencePython.run([
            "tools/imaging/resample_reference.py", "--set", "full", "--out", dir.path,
        ])
        if result.status == 3 || result.status == 127 {
            throw XCTSkip("reference Python without Pillow/scikit-image: \(result.stderr)")
        }
        XCTAssertEqual(result.status, 0, result.stderr)
        let reference = try ResampleReference(directory: dir)
        XCTAssertGreaterThanOrEqual(try reference.checkPillow(), 40)
        _ = try reference.checkTorch(tolerance: 1e-6)
    }

    func testIdentityAndSingleAxis() throws {
        let image = try RGBImage(width: 5, height: 4, pixels: (0..<60).map { UInt8($0 * 4) })
        XCTAssertEqual(try image.resized(width: 5, height: 4, filter: .bicubic), image)
        // Width unchanged: only the vertical pass runs, so a horizontally constant image stays constant per row.
        let rows = try RGBImage(width: 3, height: 6, pixels: (0..<54).map { UInt8(($0 / 9) * 40) })
        let taller = try rows.resized(width: 3, height: 12, filter: .bilinear)
        for y in 0..<12 {
            XCTAssertEqual(Set((0..<3).map { taller[$0, y, 1] }).count, 1)
        }
        let flat = try Resample.torchBilinearAntialias(
            chw: [Float](repeating: 0.25, count: 3 * 7 * 9), channels: 3, height: 7, width: 9,
            outHeight: 20,
            outWidth: 4)
        XCTAssertEqual(flat.count, 3 * 20 * 4)
        XCTAssertTrue(flat.allSatisfy { abs($0 - 0.25) < 1e-7 })
    }

    func testInvalidSizesAreErrors() throws {
        let image = try RGBImage(width: 4, height: 4)
        XCTAssertThrowsError(try image.resized(width: 0, height: 4, filter: .bilinear))
        XCTAssertThrowsError(try image.resized(width: 4, height: -1, filter: .bicubic))
        XCTAssertThrowsError(
            try Resample.torchBilinearAntialias(
                chw: [0, 1], channels: 3, height: 2, width: 2, outHeight: 4, outWidth: 4))
        XCTAssertThrowsError(
            try Resample.torchBilinearAntialias(
                chw: [Float](repeating: 0, count: 12), channels: 3, height: 2, width: 2, outHeight: 0,
                outWidth: 4))
    }
}
