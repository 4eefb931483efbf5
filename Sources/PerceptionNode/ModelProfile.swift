import Foundation
import Inference
import Yams

/// A model profile (config/models/NAME.yaml): which reasoning and segmentation checkpoints to load, where
/// they are (a local path, relative to the repository, or a Hugging Face repo id), and how to prompt them.
struct ModelProfile: Equatable {
    struct Reasoner: Equatable {
        var location: String
        var template: AnswerFormat
        var maxNewTokens: Int
        /// Side of the square pre-resize (840 for the published models).
        var frame: Int
    }

    struct Segmenter: Equatable {
        var location: String
        var file: String?
        /// `auto` (recognize a published size), `t`/`s`/`b+`/`l`, or a JSON file with the architecture.
        var architecture: String
    }

    var name: String
    var description: String
    var reasoner: Reasoner?
    var segmenter: Segmenter?

    /// Loads `nameOrPath`: a file path, or a profile name looked up in `directory` (config/models).
    static func load(_ nameOrPath: String, directory: String) throws -> ModelProfile {
        let path: String
        if nameOrPath.hasSuffix(".yaml") || nameOrPath.hasSuffix(".yml") || nameOrPath.contains("/") {
            path = nameOrPath
        } else {
            path = (directory as NSString).appendingPathComponent(nameOrPath + ".yaml")
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            let known = (try? FileManager.default.contentsOfDirectory(atPath: directory))?
                .filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted() ?? []
            throw ProfileError.notFound(nameOrPath, known: known)
        }
        let yaml: Any?
        do {
            yaml = try Yams.load(yaml: text)
        } catch {
            throw ProfileError.invalid(path, "not YAML: \(error)")
        }
        guard let root = yaml as? [String: Any] else { throw ProfileError.invalid(path, "expected a mapping at the top") }
        let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        try checkKeys(root, allowed: ["description", "reasoner", "segmenter"], path: path, prefix: "")
        var profile = ModelProfile(name: name, description: root["description"] as? String ?? "", reasoner: nil, segmenter: nil)
        if let r = root["reasoner"] {
            guard let r = r as? [String: Any] else { throw ProfileError.invalid(path, "reasoner must be a mapping") }
            try checkKeys(r, allowed: ["location", "template", "max_new_tokens", "frame"], path: path, prefix: "reasoner.")
            guard let location = r["location"] as? String, !location.isEmpty else {
                throw ProfileError.invalid(path, "reasoner.location must be a path or a Hugging Face repo id")
            }
            let templateName = r["template"] as? String ?? "seg-zero"
            guard let template = AnswerFormat(rawValue: templateName) else {
                throw ProfileError.invalid(path, "reasoner.template '\(templateName)' is not seg-zero or vision-reasoner")
            }
            let maxNew = r["max_new_tokens"] as? Int ?? 1024
            let frame = r["frame"] as? Int ?? 840
            guard (1...32768).contains(maxNew) else { throw ProfileError.invalid(path, "reasoner.max_new_tokens must be 1...32768") }
            guard frame >= 28, frame % 28 == 0, frame <= 4032 else {
                throw ProfileError.invalid(path, "reasoner.frame must be a multiple of 28 between 28 and 4032")
            }
            profile.reasoner = Reasoner(location: location, template: template, maxNewTokens: maxNew, frame: frame)
        }
        if let s = root["segmenter"] {
            guard let s = s as? [String: Any] else { throw ProfileError.invalid(path, "segmenter must be a mapping") }
            try checkKeys(s, allowed: ["location", "file", "architecture"], path: path, prefix: "segmenter.")
            guard let location = s["location"] as? String, !location.isEmpty else {
                throw ProfileError.invalid(path, "segmenter.location must be a path or a Hugging Face repo id")
            }
            profile.segmenter = Segmenter(location: location, file: s["file"] as? String,
                                          architecture: s["architecture"] as? String ?? "auto")
        }
        return profile
    }

    private static func checkKeys(_ map: [String: Any], allowed: Set<String>, path: String, prefix: String) throws {
        if let unknown = map.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw ProfileError.invalid(path, "unknown key '\(prefix)\(unknown)' (known: \(allowed.sorted().map { prefix + $0 }.joined(separator: ", ")))")
        }
    }
}

/// Reads a SAM2 architecture: a published size name, or a JSON file with the official config's names
/// (`SAM2Config(officialJSON:)`: `embed_dim`, `num_heads`, `stages`, ..., `d_model`, `image_size`).
enum SAM2Architecture {
    static func resolve(_ spec: String, relativeTo base: String) throws -> SAM2Config? {
        if spec.isEmpty || spec == "auto" { return nil }
        if let named = SAM2Config.named(spec) { return named }
        let path = spec.hasPrefix("/") ? spec : (base as NSString).appendingPathComponent(spec)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ProfileError.invalid(path, "SAM2 architecture is neither t/s/b+/l/auto nor a readable JSON file")
        }
        return try SAM2Config(officialJSON: data, source: path)
    }
}

enum ProfileError: Error, CustomStringConvertible {
    case notFound(String, known: [String])
    case invalid(String, String)

    var description: String {
        switch self {
        case let .notFound(name, known):
            return "model profile '\(name)' not found" + (known.isEmpty ? "" : " (known: \(known.joined(separator: ", ")))")
        case let .invalid(path, message): return "\(path): \(message)"
        }
    }
}
