import Foundation
import Yams

/// A configuration problem, always naming the key (and the file when there is one).
public enum ConfigError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case invalidYAML(path: String, reason: String)
    case notAMapping(key: String)
    case unknownKey(String, origin: String)
    case badValue(key: String, value: String, expected: String, origin: String)
    case badOverride(String)
    case notAvailable(key: String, value: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let p, let r): return "config: cannot read \(p): \(r)"
        case .invalidYAML(let p, let r): return "config: \(p) is not valid YAML: \(r)"
        case .notAMapping(let k): return "config: \(k.isEmpty ? "the top level" : "key '\(k)'") must be a mapping"
        case .unknownKey(let k, let o): return "config: unknown key '\(k)' (\(o)); see docs/config.md"
        case .badValue(let k, let v, let e, let o): return "config: key '\(k)' expects \(e), got '\(v)' (\(o))"
        case .badOverride(let s): return "config: --set expects key=value, got '\(s)'"
        case .notAvailable(let k, let v, let r): return "config: \(k)=\(v) is not available in this build yet: \(r)"
        }
    }
}

/// The type and allowed range of one parameter.
public enum ConfigKind: Sendable, Equatable {
    case string
    case int(min: Int, max: Int)
    case double(min: Double, max: Double)
    case bool
    case choice([String])

    var expected: String {
        switch self {
        case .string: return "a string"
        case .int(let lo, let hi): return "an integer in \(lo)...\(hi)"
        case .double(let lo, let hi): return "a number in \(lo)...\(hi)"
        case .bool: return "true or false"
        case .choice(let cs): return "one of " + cs.joined(separator: " | ")
        }
    }

    /// Parses a YAML scalar / `--set` value; nil when it does not fit.
    func parse(_ raw: String) -> ConfigValue? {
        switch self {
        case .string: return .string(raw)
        case .int(let lo, let hi):
            guard let v = Int(raw.trimmingCharacters(in: .whitespaces)), v >= lo, v <= hi else { return nil }
            return .int(v)
        case .double(let lo, let hi):
            guard let v = Double(raw.trimmingCharacters(in: .whitespaces)), v.isFinite, v >= lo, v <= hi else { return nil }
            return .double(v)
        case .bool:
            switch raw.lowercased() {
            case "true": return .bool(true)
            case "false": return .bool(false)
            default: return nil
            }
        case .choice(let cs): return cs.contains(raw) ? .string(raw) : nil
        }
    }
}

public enum ConfigValue: Sendable, Equatable, CustomStringConvertible {
    case string(String), int(Int), double(Double), bool(Bool)
    public var description: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .bool(let b): return String(b)
        }
    }
}

/// One documented parameter (docs/config.md lists the same table).
public struct ConfigKey: Sendable {
    public var name: String
    public var kind: ConfigKind
    public var defaultValue: ConfigValue
    public var doc: String
}

/// Every parameter the node accepts, with type, default and meaning.
public enum ConfigSchema {
    public static let keys: [ConfigKey] = [
        ConfigKey(name: "node.name", kind: .string, defaultValue: .string("perception_node"), doc: "Node name (Status node.name)."),
        ConfigKey(name: "node.namespace", kind: .string, defaultValue: .string("/"), doc: "Node namespace (Status node.namespace)."),

        ConfigKey(name: "camera.source", kind: .choice(["folder", "v4l2", "mcap", "bag"]), defaultValue: .string("folder"),
                  doc: "Where frames come from."),
        ConfigKey(name: "camera.frame_id", kind: .string, defaultValue: .string("camera_optical_frame"),
                  doc: "header.frame_id of every frame (folder, v4l2)."),
        ConfigKey(name: "camera.path", kind: .string, defaultValue: .string("assets/sample"),
                  doc: "folder: directory of PNG/JPEG files; mcap/bag: the log file. Relative to the working directory."),
        ConfigKey(name: "camera.rate", kind: .double(min: 0.001, max: 1000), defaultValue: .double(2),
                  doc: "folder: frames per second."),
        ConfigKey(name: "camera.loop", kind: .bool, defaultValue: .bool(true), doc: "folder, mcap, bag: start again at the end."),
        ConfigKey(name: "camera.device", kind: .string, defaultValue: .string("/dev/video0"),
                  doc: "v4l2: device path or /dev/v4l/by-id name."),
        ConfigKey(name: "camera.format", kind: .choice(["auto", "mjpeg", "yuyv", "uyvy", "rgb24", "bgr24", "grey"]),
                  defaultValue: .string("auto"), doc: "v4l2: pixel format to request."),
        ConfigKey(name: "camera.width", kind: .int(min: 1, max: 16384), defaultValue: .int(640), doc: "v4l2: requested width."),
        ConfigKey(name: "camera.height", kind: .int(min: 1, max: 16384), defaultValue: .int(480), doc: "v4l2: requested height."),
        ConfigKey(name: "camera.fps", kind: .double(min: 0, max: 1000), defaultValue: .double(30),
                  doc: "v4l2: requested frame rate (0 keeps the driver's)."),
        ConfigKey(name: "camera.topic", kind: .string, defaultValue: .string(""),
                  doc: "mcap/bag: image topic to replay (empty: the first image topic)."),
        ConfigKey(name: "camera.rate_scale", kind: .double(min: 0, max: 1000), defaultValue: .double(1),
                  doc: "mcap/bag: replay speed relative to the recording; 0: as fast as the node takes frames."),
        ConfigKey(name: "camera.start_offset", kind: .double(min: 0, max: 1e9), defaultValue: .double(0),
                  doc: "mcap/bag: seconds into the log to start from."),

        ConfigKey(name: "model.profile", kind: .string, defaultValue: .string(""),
                  doc: "Model profile: a name in model.profiles_dir (toy, seg-zero-7b, vision-reasoner-7b, …) or a profile YAML path; empty: only model.reasoner / model.segmenter."),
        ConfigKey(name: "model.profiles_dir", kind: .string, defaultValue: .string("config/models"),
                  doc: "Where profile names are looked up."),
        ConfigKey(name: "model.reasoner", kind: .string, defaultValue: .string(""),
                  doc: "Qwen2.5-VL checkpoint (local directory or Hugging Face repo id); overrides the profile's; empty: the profile's, or none."),
        ConfigKey(name: "model.segmenter", kind: .string, defaultValue: .string(""),
                  doc: "SAM2 checkpoint (.pt/.safetensors file or Hugging Face repo id); overrides the profile's; empty: the profile's, or none."),
        ConfigKey(name: "model.segmenter_arch", kind: .string, defaultValue: .string("auto"),
                  doc: "SAM2 architecture: auto (recognize a published size), t, s, b+, l, or a JSON file with the official config names."),
        ConfigKey(name: "model.template", kind: .choice(["auto", "seg-zero", "vision-reasoner"]), defaultValue: .string("auto"),
                  doc: "Prompt template / answer format for mode=auto queries (auto: the profile's, else seg-zero)."),
        ConfigKey(name: "model.frame", kind: .int(min: 0, max: 4032), defaultValue: .int(0),
                  doc: "Side of the square pre-resize for the reasoner (0: the profile's, else 840)."),
        ConfigKey(name: "model.backend", kind: .choice(["blas"]), defaultValue: .string("blas"), doc: "Compute backend."),
        ConfigKey(name: "model.max_new_tokens", kind: .int(min: 0, max: 32768), defaultValue: .int(0),
                  doc: "Generation limit of the reasoning model (0: the profile's, else 1024)."),
        ConfigKey(name: "model.mode", kind: .choice(["auto", "single", "multi"]), defaultValue: .string("auto"),
                  doc: "Default answer format for queries without `mode` (auto: from the profile)."),
        ConfigKey(name: "model.cache_frames", kind: .int(min: 1, max: 64), defaultValue: .int(2),
                  doc: "How many recent frames keep their SAM2 embedding and vision-tower output for further queries."),

        ConfigKey(name: "bus.query", kind: .string, defaultValue: .string("tcp://127.0.0.1:5560"),
                  doc: "SUB socket (bound) receiving perception/query."),
        ConfigKey(name: "bus.publish", kind: .string, defaultValue: .string("tcp://127.0.0.1:5561"),
                  doc: "PUB socket (bound) for perception/result and perception/status."),
        ConfigKey(name: "bus.service", kind: .string, defaultValue: .string("tcp://127.0.0.1:5562"),
                  doc: "ROUTER socket (bound): each request is answered with its Result."),
        ConfigKey(name: "bus.send_hwm", kind: .int(min: 1, max: 10_000_000), defaultValue: .int(10000),
                  doc: "High-water mark (messages) of the PUB and ROUTER send queues."),
        ConfigKey(name: "bus.receive_hwm", kind: .int(min: 1, max: 10_000_000), defaultValue: .int(10000),
                  doc: "High-water mark (messages) of the SUB and ROUTER receive queues."),
        ConfigKey(name: "bus.linger_ms", kind: .int(min: 0, max: 600_000), defaultValue: .int(1000),
                  doc: "How long unsent messages are kept when the node closes its sockets."),

        ConfigKey(name: "limits.queue_depth", kind: .int(min: 1, max: 1_000_000), defaultValue: .int(64),
                  doc: "Queries waiting for the worker; beyond it queries answer overloaded."),
        ConfigKey(name: "limits.frame_ring", kind: .int(min: 1, max: 10_000), defaultValue: .int(16),
                  doc: "Frames kept for frame.stamp_ns / frame.seq selection."),
        ConfigKey(name: "limits.max_message_bytes", kind: .int(min: 1024, max: 1 << 30), defaultValue: .int(4 << 20),
                  doc: "Inbound messages larger than this are refused by libzmq (ZMQ_MAXMSGSIZE)."),
        ConfigKey(name: "limits.max_text_bytes", kind: .int(min: 1, max: 1 << 30), defaultValue: .int(64 << 10),
                  doc: "Longest accepted query text (UTF-8 bytes); longer answers bad_request."),
        ConfigKey(name: "limits.frame_wait_ms", kind: .int(min: 0, max: 3_600_000), defaultValue: .int(2000),
                  doc: "How long a query waits for a frame not captured yet (first frame, future frame.seq)."),

        ConfigKey(name: "recording.enabled", kind: .bool, defaultValue: .bool(false), doc: "Record frames and results to MCAP."),
        ConfigKey(name: "recording.path", kind: .string, defaultValue: .string(""), doc: "MCAP file to record to."),
    ]

    static let byName: [String: ConfigKey] = Dictionary(uniqueKeysWithValues: keys.map { ($0.name, $0) })
}

/// The node's parameters: defaults, then a YAML file, then `--set key=value` overrides; every value checked.
public struct NodeConfig: Sendable, Equatable {
    public private(set) var values: [String: ConfigValue]

    /// Defaults only.
    public init() {
        values = Dictionary(uniqueKeysWithValues: ConfigSchema.keys.map { ($0.name, $0.defaultValue) })
    }

    /// Loads `path` (if given) over the defaults, then applies `overrides` ("key=value").
    public static func load(path: String?, overrides: [String] = []) throws -> NodeConfig {
        var config = NodeConfig()
        if let path {
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ConfigError.unreadable(path: path, reason: error.localizedDescription)
            }
            try config.merge(yaml: text, origin: path)
        }
        for o in overrides { try config.apply(override: o) }
        return config
    }

    /// Merges a YAML document of nested mappings (`camera: {device: …}`) or dotted keys (`camera.device: …`).
    public mutating func merge(yaml: String, origin: String = "yaml") throws {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigError.invalidYAML(path: origin, reason: String(describing: error))
        }
        guard let node else { return }
        try merge(node: node, prefix: "", origin: origin)
    }

    private mutating func merge(node: Node, prefix: String, origin: String) throws {
        guard case .mapping(let mapping) = node else {
            if case .scalar(let s) = node, s.string.isEmpty || s.string == "~" || s.string == "null" { return }
            throw ConfigError.notAMapping(key: prefix)
        }
        for (k, v) in mapping {
            guard case .scalar(let keyScalar) = k else { throw ConfigError.notAMapping(key: prefix) }
            let name = prefix.isEmpty ? keyScalar.string : prefix + "." + keyScalar.string
            switch v {
            case .mapping:
                try merge(node: v, prefix: name, origin: origin)
            case .scalar(let s):
                guard ConfigSchema.byName[name] != nil else {
                    if ConfigSchema.keys.contains(where: { $0.name.hasPrefix(name + ".") }) { throw ConfigError.notAMapping(key: name) }
                    throw ConfigError.unknownKey(name, origin: origin)
                }
                let isNull = s.tag.description.hasSuffix("null") || (s.style == .plain && (s.string == "~" || s.string == "null"))
                try set(name, raw: isNull ? "" : s.string, origin: origin)
            default:
                guard let key = ConfigSchema.byName[name] else { throw ConfigError.unknownKey(name, origin: origin) }
                throw ConfigError.badValue(key: name, value: "a sequence", expected: key.kind.expected, origin: origin)
            }
        }
    }

    /// Applies one `key=value` override.
    public mutating func apply(override: String) throws {
        guard let eq = override.firstIndex(of: "="), eq != override.startIndex else { throw ConfigError.badOverride(override) }
        let key = String(override[..<eq]).trimmingCharacters(in: .whitespaces)
        let value = String(override[override.index(after: eq)...])
        try set(key, raw: value, origin: "--set")
    }

    /// Sets one key from its textual value, checking name and type.
    public mutating func set(_ key: String, raw: String, origin: String = "api") throws {
        guard let spec = ConfigSchema.byName[key] else { throw ConfigError.unknownKey(key, origin: origin) }
        guard let v = spec.kind.parse(raw) else {
            throw ConfigError.badValue(key: key, value: raw, expected: spec.kind.expected, origin: origin)
        }
        values[key] = v
    }

    public func string(_ key: String) -> String {
        if case .string(let s)? = values[key] { return s }
        return values[key]?.description ?? ""
    }

    public func int(_ key: String) -> Int {
        if case .int(let i)? = values[key] { return i }
        return 0
    }

    public func double(_ key: String) -> Double {
        switch values[key] {
        case .double(let d)?: return d
        case .int(let i)?: return Double(i)
        default: return 0
        }
    }

    public func bool(_ key: String) -> Bool {
        if case .bool(let b)? = values[key] { return b }
        return false
    }

    // Typed views used by the runtime.
    public var nodeName: String { string("node.name") }
    public var namespace: String { string("node.namespace") }
    public var bus: BusEndpoints {
        BusEndpoints(
            query: string("bus.query"), publish: string("bus.publish"), service: string("bus.service"),
            sendHWM: int("bus.send_hwm"), receiveHWM: int("bus.receive_hwm"), lingerMs: int("bus.linger_ms"),
            maxMessageBytes: int("limits.max_message_bytes"))
    }
    public var queueDepth: Int { int("limits.queue_depth") }
    public var frameRingSize: Int { int("limits.frame_ring") }
    public var frameWaitMs: Int { int("limits.frame_wait_ms") }
    public var maxTextBytes: Int { int("limits.max_text_bytes") }
}

/// Where the node's sockets bind and how they are tuned.
public struct BusEndpoints: Sendable, Equatable {
    public var query: String
    public var publish: String
    public var service: String
    public var sendHWM: Int
    public var receiveHWM: Int
    public var lingerMs: Int
    public var maxMessageBytes: Int

    public init(query: String, publish: String, service: String, sendHWM: Int = 10000, receiveHWM: Int = 10000,
                lingerMs: Int = 1000, maxMessageBytes: Int = 4 << 20) {
        self.query = query
        self.publish = publish
        self.service = service
        self.sendHWM = sendHWM
        self.receiveHWM = receiveHWM
        self.lingerMs = lingerMs
        self.maxMessageBytes = maxMessageBytes
    }
}
