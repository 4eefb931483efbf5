import Foundation

/// Where a model's weights are: a local path, or a Hugging Face repo resolved through the standard cache
/// layout (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`;
/// `models--owner--name/refs/<revision>` names a folder under `snapshots/`), so weights fetched with
/// `huggingface-cli download` are found without configuration.
public struct ModelLocation: Equatable, Sendable {
    /// A path, or `owner/name` optionally followed by `@revision` (branch, tag or commit).
    public var location: String
    /// A file inside the repo or directory (e.g. `sam2_hiera_large.pt`); nil for a whole directory.
    public var file: String?

    public init(_ location: String, file: String? = nil) {
        self.location = location
        self.file = file
    }

    /// The Hugging Face hub cache folder this process would use.
    public static func hubCache(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let cache = environment["HF_HUB_CACHE"], !cache.isEmpty { return cache }
        if let home = environment["HF_HOME"], !home.isEmpty { return (home as NSString).appendingPathComponent("hub") }
        let userHome = environment["HOME"] ?? NSHomeDirectory()
        return (userHome as NSString).appendingPathComponent(".cache/huggingface/hub")
    }

    /// Resolves to an existing local path, or throws an error that says exactly how to fetch the weights.
    public func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        let fm = FileManager.default
        let expanded = (location as NSString).expandingTildeInPath
        if location.hasPrefix("/") || location.hasPrefix(".") || location.hasPrefix("~") || fm.fileExists(atPath: expanded) {
            let path = file.map { (expanded as NSString).appendingPathComponent($0) } ?? expanded
            guard fm.fileExists(atPath: path) else { throw ModelLocationError.missingPath(path) }
            return path
        }
        guard let repo = RepoID(location) else { throw ModelLocationError.invalid(location) }
        let cache = Self.hubCache(environment: environment)
        let repoDir = (cache as NSString).appendingPathComponent("models--\(repo.owner)--\(repo.name)")
        let fetch = fetchCommand(repo)
        let snapshots = (repoDir as NSString).appendingPathComponent("snapshots")
        let commit: String
        if repo.revision.count == 40, repo.revision.allSatisfy(\.isHexDigit) {
            commit = repo.revision
        } else {
            let ref = (repoDir as NSString).appendingPathComponent("refs/\(repo.revision)")
            guard let data = fm.contents(atPath: ref), let text = String(data: data, encoding: .utf8) else {
                throw ModelLocationError.notInCache(repo: repo.display, cache: cache, fetchCommand: fetch)
            }
            commit = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let snapshot = (snapshots as NSString).appendingPathComponent(commit)
        let path = file.map { (snapshot as NSString).appendingPathComponent($0) } ?? snapshot
        guard fm.fileExists(atPath: path) else {
            throw ModelLocationError.notInCache(repo: repo.display, cache: cache, fetchCommand: fetch)
        }
        return path
    }

    /// The command that puts these weights where `resolve` looks.
    func fetchCommand(_ repo: RepoID) -> String {
        var command = "huggingface-cli download \(repo.owner)/\(repo.name)"
        if let file { command += " \(file)" }
        if repo.revision != "main" { command += " --revision \(repo.revision)" }
        return command
    }

    struct RepoID {
        var owner: String
        var name: String
        var revision: String
        var display: String { revision == "main" ? "\(owner)/\(name)" : "\(owner)/\(name)@\(revision)" }

        init?(_ text: String) {
            let (id, revision) = text.split(separator: "@", maxSplits: 1).map(String.init).splitPair()
            let parts = id.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
            guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.unicodeScalars.allSatisfy(allowed.contains) && !$0.hasPrefix(".") })
            else { return nil }
            owner = parts[0]
            name = parts[1]
            self.revision = revision ?? "main"
            guard !self.revision.isEmpty, !self.revision.contains("..") else { return nil }
        }
    }
}

private extension Array where Element == String {
    func splitPair() -> (String, String?) { (first ?? "", count > 1 ? self[1] : nil) }
}

public enum ModelLocationError: Error, Equatable, CustomStringConvertible {
    case missingPath(String)
    case invalid(String)
    case notInCache(repo: String, cache: String, fetchCommand: String)

    public var description: String {
        switch self {
        case let .missingPath(p): return "model path \(p) does not exist"
        case let .invalid(l): return "model location '\(l)' is neither an existing path nor a Hugging Face repo id (owner/name[@revision])"
        case let .notInCache(repo, cache, command):
            return "model \(repo) is not in the Hugging Face cache (\(cache)); fetch it with: \(command)"
        }
    }
}
