import Camera
import Foundation
import PerceptionMessages

/// Renders a decoded msgpack value as JSON, keeping map order; bin becomes base64.
enum JSONText {
    static func render(_ v: MsgValue, indent: Int = 0, pretty: Bool = true) -> String {
        let pad = pretty ? String(repeating: "  ", count: indent + 1) : ""
        let end = pretty ? String(repeating: "  ", count: indent) : ""
        let nl = pretty ? "\n" : ""
        switch v {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .uint(let u): return String(u)
        case .double(let d): return d.isFinite ? (d == d.rounded() && abs(d) < 1e15 ? String(format: "%.1f", d) : String(d)) : "null"
        case .string(let s): return quote(s)
        case .invalidString(let b): return quote(String(decoding: b, as: UTF8.self))
        case .binary(let b): return quote(Data(b).base64EncodedString())
        case .ext(_, let b): return quote(Data(b).base64EncodedString())
        case .array(let xs):
            if xs.isEmpty { return "[]" }
            if xs.allSatisfy({ $0.number != nil }) { return "[" + xs.map { render($0, pretty: false) }.joined(separator: ", ") + "]" }
            return "[" + nl + xs.map { pad + render($0, indent: indent + 1, pretty: pretty) }.joined(separator: "," + nl) + nl + end + "]"
        case .map(let es):
            if es.isEmpty { return "{}" }
            return "{" + nl + es.map { e -> String in
                let k: String
                if case .string(let s) = e.key { k = s } else { k = render(e.key, pretty: false) }
                return pad + quote(k) + ": " + render(e.value, indent: indent + 1, pretty: pretty)
            }.joined(separator: "," + nl) + nl + end + "}"
        }
    }

    static func quote(_ s: String) -> String { Recorder.jsonString(s) }
}
