/// Why a tokenizer could not be loaded, naming the file and the key, line or token at fault.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    case missingFiles(directory: String, expected: String)
    case unreadable(path: String, message: String)
    case malformed(path: String, key: String, message: String)
    case unsupported(path: String, key: String, value: String)
    case badMerge(path: String, line: Int, text: String)
    case badToken(path: String, token: String, message: String)

    public var description: String {
        switch self {
        case .missingFiles(let directory, let expected):
            return "\(directory): no tokenizer files (expected \(expected))"
        case .unreadable(let path, let message): return "\(path): \(message)"
        case .malformed(let path, let key, let message): return "\(path): \(key): \(message)"
        case .unsupported(let path, let key, let value):
            return "\(path): \(key): unsupported value \(value)"
        case .badMerge(let path, let line, let text):
            return "\(path): merge \(line): cannot use \"\(text)\""
        case .badToken(let path, let token, let message):
            return "\(path): token \"\(token)\": \(message)"
        }
    }
}
