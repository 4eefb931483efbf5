import Foundation
import Inference
import XCTest

/// Builds a real Hugging Face cache layout on disk (as `huggingface-cli download` leaves it) and resolves it.
final class ModelLocationTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "hfcache-\(UUID().uuidString)"
        let repo = root + "/hub/models--Ricky06662--Seg-Zero-7B"
        let commit = String(repeating: "ab12", count: 10)
        try FileManager.default.createDirectory(atPath: repo + "/snapshots/\(commit)", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: repo + "/refs", withIntermediateDirectories: true)
        try (commit + "\n").write(toFile: repo + "/refs/main", atomically: true, encoding: .utf8)
        try "{}".write(toFile: repo + "/snapshots/\(commit)/config.json", atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    func testResolvesThroughRefsAndSnapshots() throws {
        let env = ["HF_HOME": root]
        let dir = try ModelLocation("Ricky06662/Seg-Zero-7B").resolve(environment: env)
        XCTAssertTrue(dir.hasSuffix("/snapshots/" + String(repeating: "ab12", count: 10)))
        let file = try ModelLocation("Ricky06662/Seg-Zero-7B", file: "config.json").resolve(environment: env)
        XCTAssertTrue(FileManager.default.fileExists(atPath: file))
        // HF_HUB_CACHE wins over HF_HOME.
        XCTAssertThrowsError(try ModelLocation("Ricky06662/Seg-Zero-7B").resolve(environment: ["HF_HOME": root, "HF_HUB_CACHE": "/nonexistent"]))
        XCTAssertEqual(try ModelLocation("Ricky06662/Seg-Zero-7B@" + String(repeating: "ab12", count: 10)).resolve(environment: env), dir)
    }

    func testMissingModelSaysHowToFetchIt() {
        XCTAssertThrowsError(try ModelLocation("facebook/sam2-hiera-large", file: "sam2_hiera_large.pt").resolve(environment: ["HF_HOME": root])) { error in
            XCTAssertEqual("\(error)", "model facebook/sam2-hiera-large is not in the Hugging Face cache (\(root)/hub); fetch it with: huggingface-cli download facebook/sam2-hiera-large sam2_hiera_large.pt")
        }
        XCTAssertThrowsError(try ModelLocation("Qwen/Qwen2.5-VL-3B-Instruct@v2").resolve(environment: ["HF_HUB_CACHE": root])) { error in
            XCTAssertTrue("\(error)".hasSuffix("huggingface-cli download Qwen/Qwen2.5-VL-3B-Instruct --revision v2"), "\(error)")
        }
    }

    func testLocalPathsAndBadIds() throws {
        XCTAssertEqual(try ModelLocation(root).resolve(environment: [:]), root)
        XCTAssertThrowsError(try ModelLocation("/nonexistent/model").resolve(environment: [:]))
        for bad in ["", "a/b/c", "../x", "owner/", "owner/na me", "o/../etc"] {
            XCTAssertThrowsError(try ModelLocation(bad).resolve(environment: ["HF_HOME": root]), bad)
        }
    }
}
