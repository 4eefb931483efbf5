import Foundation
import Yams

/// A launch-file problem, naming the file and the entry.
public struct LaunchError: Error, Equatable, CustomStringConvertible {
    public var file: String
    public var message: String
    public init(_ file: String, _ message: String) {
        self.file = file
        self.message = message
    }
    public var description: String { "launch \(file): \(message)" }
}

/// One process a launch file starts, with its respawn and shutdown policy (ros2 launch `ExecuteProcess`).
public struct LaunchProcess: Sendable, Equatable {
    public var name: String
    /// Program: a path, a name looked up in PATH, or `perception-node` (this executable).
    public var command: String
    public var arguments: [String]
    public var environment: [String: String]
    public var workingDirectory: String?
    public var respawn: Bool
    /// Seconds to wait before restarting.
    public var respawnDelay: Double
    /// Restarts allowed; -1 = unlimited.
    public var respawnMaxRetries: Int
    /// After SIGTERM, seconds before SIGKILL.
    public var sigtermTimeout: Double
    /// When this process ends for good, stop every other process too.
    public var shutdownOnExit: Bool
}

/// A parsed launch file: declared arguments and the processes to start.
///
/// Format (YAML, in the spirit of ros2 launch's YAML frontend):
/// ```yaml
/// launch:
///   - arg: {name: images, default: "$(dirname)/../assets/sample"}
///   - executable:
///       name: perception_node
///       cmd: perception-node
///       args: [run, --set, "camera.path=$(var images)"]
///       respawn: true
///       respawn_delay: 1.0
/// ```
/// Substitutions in strings: `$(var NAME)`, `$(env NAME)`, `$(env NAME default)`, `$(dirname)` (the launch
/// file's directory).
public struct LaunchFile: Sendable, Equatable {
    public var path: String
    public var processes: [LaunchProcess]

    /// Reads `path`, applying `arguments` (`name:=value` from the command line) over the declared defaults.
    public static func load(path: String, arguments: [String: String], environment: [String: String] = ProcessInfo.processInfo.environment) throws -> LaunchFile {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw LaunchError(path, "cannot read: \(error.localizedDescription)")
        }
        return try parse(text, path: path, arguments: arguments, environment: environment)
    }

    public static func parse(_ text: String, path: String, arguments: [String: String], environment: [String: String]) throws -> LaunchFile {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw LaunchError(path, "not valid YAML: \(error)")
        }
        guard let root, case .mapping(let top) = root else { throw LaunchError(path, "top level must be a mapping with key 'launch'") }
        for key in top.keys where key.string != "launch" { throw LaunchError(path, "unknown top-level key '\(key.string ?? "?")'") }
        guard let list = top["launch"], case .sequence(let entries) = list else { throw LaunchError(path, "'launch' must be a list") }

        let dirname = (URL(fileURLWithPath: path).standardizedFileURL.deletingLastPathComponent().path)
        var vars: [String: String] = [:]
        var declared: Set<String> = []
        var processes: [LaunchProcess] = []
        let sub = Substitution(file: path, dirname: dirname, environment: environment)

        for (index, entry) in entries.enumerated() {
            guard case .mapping(let m) = entry, m.count == 1, let kind = m.keys.first?.string, let body = m.values.first,
                  case .mapping(let fields) = body else {
                throw LaunchError(path, "entry \(index) must be a single-key mapping (arg: or executable:)")
            }
            let where_ = "entry \(index) (\(kind))"
            func scalar(_ key: String) throws -> String? {
                guard let n = fields[key] else { return nil }
                guard let s = n.scalar?.string else { throw LaunchError(path, "\(where_): '\(key)' must be a scalar") }
                return try sub.apply(s, vars: vars, context: "\(where_).\(key)")
            }
            switch kind {
            case "arg":
                for k in fields.keys where !["name", "default", "description"].contains(k.string ?? "") {
                    throw LaunchError(path, "\(where_): unknown key '\(k.string ?? "?")'")
                }
                guard let name = try scalar("name"), !name.isEmpty else { throw LaunchError(path, "\(where_): arg needs a name") }
                declared.insert(name)
                if let given = arguments[name] {
                    vars[name] = given
                } else if let d = try scalar("default") {
                    vars[name] = d
                } else {
                    throw LaunchError(path, "argument '\(name)' has no default: pass \(name):=VALUE")
                }
            case "executable", "node":
                let known = ["name", "cmd", "exec", "args", "env", "cwd", "respawn", "respawn_delay", "respawn_max_retries",
                             "sigterm_timeout", "on_exit", "output"]
                for k in fields.keys where !known.contains(k.string ?? "") {
                    throw LaunchError(path, "\(where_): unknown key '\(k.string ?? "?")'")
                }
                guard let cmd = try scalar("cmd") ?? scalar("exec"), !cmd.isEmpty else { throw LaunchError(path, "\(where_): needs 'cmd'") }
                var args: [String] = []
                if let a = fields["args"] {
                    switch a {
                    case .sequence(let items):
                        for (i, item) in items.enumerated() {
                            guard let s = item.scalar?.string else { throw LaunchError(path, "\(where_): args[\(i)] must be a scalar") }
                            args.append(try sub.apply(s, vars: vars, context: "\(where_).args[\(i)]"))
                        }
                    case .scalar(let s):
                        args = try sub.apply(s.string, vars: vars, context: "\(where_).args").split(separator: " ").map(String.init)
                    default: throw LaunchError(path, "\(where_): args must be a list or a string")
                    }
                }
                var env: [String: String] = [:]
                if let e = fields["env"] {
                    guard case .mapping(let em) = e else { throw LaunchError(path, "\(where_): env must be a mapping") }
                    for (k, v) in em {
                        guard let ks = k.string, let vs = v.scalar?.string else { throw LaunchError(path, "\(where_): env entries must be scalars") }
                        env[ks] = try sub.apply(vs, vars: vars, context: "\(where_).env.\(ks)")
                    }
                }
                func bool(_ key: String, _ def: Bool) throws -> Bool {
                    guard let s = try scalar(key) else { return def }
                    switch s.lowercased() {
                    case "true": return true
                    case "false": return false
                    default: throw LaunchError(path, "\(where_): '\(key)' must be true or false, got '\(s)'")
                    }
                }
                func number(_ key: String, _ def: Double) throws -> Double {
                    guard let s = try scalar(key) else { return def }
                    guard let d = Double(s), d.isFinite, d >= 0 else { throw LaunchError(path, "\(where_): '\(key)' must be a non-negative number, got '\(s)'") }
                    return d
                }
                var retries = -1
                if let s = try scalar("respawn_max_retries") {
                    guard let n = Int(s), n >= -1 else { throw LaunchError(path, "\(where_): 'respawn_max_retries' must be an integer >= -1, got '\(s)'") }
                    retries = n
                }
                let onExit = try scalar("on_exit")
                if let onExit, onExit != "shutdown", onExit != "none" {
                    throw LaunchError(path, "\(where_): on_exit must be 'shutdown' or 'none', got '\(onExit)'")
                }
                let name = try scalar("name") ?? "\((cmd as NSString).lastPathComponent)-\(processes.count + 1)"
                processes.append(LaunchProcess(
                    name: name, command: cmd, arguments: args, environment: env, workingDirectory: try scalar("cwd"),
                    respawn: try bool("respawn", false), respawnDelay: try number("respawn_delay", 0),
                    respawnMaxRetries: retries, sigtermTimeout: try number("sigterm_timeout", 5), shutdownOnExit: onExit == "shutdown"))
            default:
                throw LaunchError(path, "\(where_): unknown entry kind '\(kind)' (use arg or executable)")
            }
        }
        for name in arguments.keys where !declared.contains(name) {
            throw LaunchError(path, "argument '\(name)' is not declared in the launch file")
        }
        guard !processes.isEmpty else { throw LaunchError(path, "no executable entries") }
        return LaunchFile(path: path, processes: processes)
    }
}

/// Expands `$(var …)`, `$(env …)` and `$(dirname)`.
struct Substitution {
    let file: String
    let dirname: String
    let environment: [String: String]

    func apply(_ s: String, vars: [String: String], context: String) throws -> String {
        var out = ""
        var rest = Substring(s)
        while let start = rest.range(of: "$(") {
            out += rest[..<start.lowerBound]
            guard let close = rest[start.upperBound...].firstIndex(of: ")") else {
                throw LaunchError(file, "\(context): unterminated '$(' in '\(s)'")
            }
            let body = rest[start.upperBound..<close].split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            switch body.first {
            case "var":
                guard body.count == 2 else { throw LaunchError(file, "\(context): $(var NAME) takes one name") }
                guard let v = vars[body[1]] else { throw LaunchError(file, "\(context): $(var \(body[1])) is not a declared argument") }
                out += v
            case "env":
                guard body.count == 2 || body.count == 3 else { throw LaunchError(file, "\(context): $(env NAME [default])") }
                if let v = environment[body[1]] {
                    out += v
                } else if body.count == 3 {
                    out += body[2].trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
                } else {
                    throw LaunchError(file, "\(context): environment variable \(body[1]) is not set and has no default")
                }
            case "dirname":
                out += dirname
            default:
                throw LaunchError(file, "\(context): unknown substitution '$(\(body.joined(separator: " ")))'")
            }
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }
}
