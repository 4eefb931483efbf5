/// Element types a checkpoint tensor can be stored in (little-endian on disk).
public enum DType: String, CaseIterable, Sendable {
    case float32, float16, bfloat16, float64, int64, int32, int16, int8, uint8, bool

    /// Bytes per element.
    public var itemSize: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .float32, .float16, .bfloat16, .float64: return true
        default: return false
        }
    }

    /// The dtype spelled as in a safetensors header ("F32", "BF16", ...).
    public init?(safetensorsName: String) {
        switch safetensorsName {
        case "F32": self = .float32
        case "F16": self = .float16
        case "BF16": self = .bfloat16
        case "F64": self = .float64
        case "I64": self = .int64
        case "I32": self = .int32
        case "I16": self = .int16
        case "I8": self = .int8
        case "U8": self = .uint8
        case "BOOL": self = .bool
        default: return nil
        }
    }

    public var safetensorsName: String {
        switch self {
        case .float32: return "F32"
        case .float16: return "F16"
        case .bfloat16: return "BF16"
        case .float64: return "F64"
        case .int64: return "I64"
        case .int32: return "I32"
        case .int16: return "I16"
        case .int8: return "I8"
        case .uint8: return "U8"
        case .bool: return "BOOL"
        }
    }

    /// The dtype of a legacy typed storage class in a torch pickle ("FloatStorage", ...).
    init?(torchStorageName: String) {
        switch torchStorageName {
        case "FloatStorage": self = .float32
        case "HalfStorage": self = .float16
        case "BFloat16Storage": self = .bfloat16
        case "DoubleStorage": self = .float64
        case "LongStorage": self = .int64
        case "IntStorage": self = .int32
        case "ShortStorage": self = .int16
        case "CharStorage": self = .int8
        case "ByteStorage": self = .uint8
        case "BoolStorage": self = .bool
        default: return nil
        }
    }
}
