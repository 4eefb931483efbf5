import ArgumentParser
import Foundation
import Inference

/// `models`: lists the model profiles and where their weights are (found locally or in the Hugging Face
/// cache, or the command that fetches them).
struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List model profiles (config/models) and whether their weights are present.",
        discussion: "Local paths are relative to the working directory; repo ids resolve through the Hugging Face cache (HF_HUB_CACHE, HF_HOME).")

    @Argument(help: "Profiles to show (default: all).") var names: [String] = []
    @Option(help: "Directory of profile files.") var profiles = "config/models"
    @Flag(help: "Print JSON lines instead of text.") var json = false
    @Flag(help: "Exit 1 when any listed profile's weights are missing.") var check = false

    func run() throws {
        var selected = names
        if selected.isEmpty {
            selected = (try? FileManager.default.contentsOfDirectory(atPath: profiles))?
                .filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted() ?? []
        }
        var missing = false
        for name in selected {
            let profile = try ModelProfile.load(name, directory: profiles)
            var entries: [(role: String, location: String, resolved: String?, problem: String?)] = []
            if let r = profile.reasoner {
                let result = Result { try ModelLocation(r.location).resolve() }
                entries.append(("reasoner", r.location, try? result.get(), result.problem))
            }
            if let s = profile.segmenter {
                let result = Result { try ModelLocation(s.location, file: s.file).resolve() }
                entries.append(("segmenter", s.location + (s.file.map { "/" + $0 } ?? ""), try? result.get(), result.problem))
            }
            missing = missing || entries.contains { $0.resolved == nil }
            if json {
                let object: [String: Any] = [
                    "profile": profile.name, "description": profile.description,
                    "models": entries.map { e -> [String: Any] in
                        var m: [String: Any] = ["role": e.role, "location": e.location]
                        if let p = e.resolved { m["path"] = p }
                        if let p = e.problem { m["missing"] = p }
                        return m
                    },
                ]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print("\(profile.name): \(profile.description)")
                for e in entries {
                    print("  \(e.role): \(e.location)")
                    print(e.resolved.map { "    found: \($0)" } ?? "    missing: \(e.problem ?? "")")
                }
            }
        }
        if check && missing { throw ExitCode(1) }
    }
}

private extension Result where Failure == Error {
    var problem: String? {
        if case let .failure(error) = self { return "\(error)" }
        return nil
    }
}
