/// Element types a tensor can hold. Activations are always float32; weights may stay bfloat16 as stored in
/// the checkpoint (widened to float32 tile by tile inside `linear`).
public enum ElementType: String, Sendable {
    case float32, bfloat16

    public var byteSize: Int { self == .float32 ? 4 : 2 }
}

/// Bytes behind one or more tensors: memory this module allocated, or memory owned by someone else (a
/// memory-mapped checkpoint) kept alive through `owner`. A Vulkan backend adds device-resident storages.
public final class TensorStorage: @unchecked Sendable {
    public let base: UnsafeMutableRawPointer
    public let byteCount: Int
    private let owner: AnyObject?
    private let ownsMemory: Bool

    /// Fresh, 64-byte aligned host memory (contents undefined unless `zeroed`).
    public init(byteCount: Int, zeroed: Bool = false) {
        let n = max(byteCount, 64)
        base = HostBufferCache.shared.take(byteCount: n)
        if zeroed { base.initializeMemory(as: UInt8.self, repeating: 0, count: n) }
        self.byteCount = byteCount
        owner = nil
        ownsMemory = true
    }

    /// Borrows bytes owned by `owner` (for example a memory-mapped checkpoint); they must stay valid and
    /// unmodified while `owner` lives.
    public init(borrowing bytes: UnsafeRawBufferPointer, owner: AnyObject?) {
        base = bytes.baseAddress.map { UnsafeMutableRawPointer(mutating: $0) } ?? TensorStorage.emptyBase
        byteCount = bytes.count
        self.owner = owner
        ownsMemory = false
    }

    private static let emptyBase = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)

    deinit { if ownsMemory { HostBufferCache.shared.give(base, byteCount: max(byteCount, 64)) } }
}

/// A dense, row-major (contiguous) n-dimensional array on the host. Shapes follow PyTorch order; ops that
/// change layout (permute, slice, concat) produce new contiguous tensors, reshape is free.
public struct Tensor: @unchecked Sendable, CustomStringConvertible {
    public let shape: [Int]
    public let elementType: ElementType
    public let storage: TensorStorage
    public let byteOffset: Int

    public init(storage: TensorStorage, shape: [Int], elementType: ElementType = .float32, byteOffset: Int = 0) throws {
        guard shape.allSatisfy({ $0 >= 0 }) else { throw ComputeError.invalidShape(op: "tensor", shape: shape) }
        let need = shape.reduce(1, *) * elementType.byteSize
        guard byteOffset >= 0, byteOffset + need <= storage.byteCount else {
            throw ComputeError.storageTooSmall(needed: byteOffset + need, available: storage.byteCount)
        }
        self.storage = storage
        self.shape = shape
        self.elementType = elementType
        self.byteOffset = byteOffset
    }

    /// Uninitialized float32 tensor (fill it before reading).
    public init(uninitialized shape: [Int]) {
        let n = shape.reduce(1, *)
        storage = TensorStorage(byteCount: n * 4)
        self.shape = shape
        elementType = .float32
        byteOffset = 0
    }

    /// Zero-filled float32 tensor.
    public init(zeros shape: [Int]) {
        let n = shape.reduce(1, *)
        storage = TensorStorage(byteCount: n * 4, zeroed: true)
        self.shape = shape
        elementType = .float32
        byteOffset = 0
    }

    /// Float32 tensor holding a copy of `values`.
    public init(_ values: [Float], shape: [Int]) throws {
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == values.count else {
            throw ComputeError.invalidShape(op: "tensor(values: \(values.count))", shape: shape)
        }
        self.init(uninitialized: shape)
        let p = floats
        values.withUnsafeBufferPointer { src in
            if let b = src.baseAddress { p.update(from: b, count: values.count) }
        }
    }

    /// Wraps externally owned bytes (e.g. a memory-mapped checkpoint tensor) without copying.
    public init(borrowing bytes: UnsafeRawBufferPointer, shape: [Int], elementType: ElementType, owner: AnyObject?) throws {
        try self.init(storage: TensorStorage(borrowing: bytes, owner: owner), shape: shape, elementType: elementType)
    }

    public var count: Int { shape.reduce(1, *) }
    public var rank: Int { shape.count }
    public var rawPointer: UnsafeMutableRawPointer { storage.base + byteOffset }

    /// The elements as float32. Only valid when `elementType == .float32` (ops check before using it).
    public var floats: UnsafeMutablePointer<Float> { rawPointer.assumingMemoryBound(to: Float.self) }

    /// The elements as raw bfloat16 bits. Only valid when `elementType == .bfloat16`.
    public var bf16Bits: UnsafeMutablePointer<UInt16> { rawPointer.assumingMemoryBound(to: UInt16.self) }

    /// A copy of the elements as `[Float]` (bfloat16 widened).
    public func toArray() -> [Float] {
        let n = count
        switch elementType {
        case .float32: return Array(UnsafeBufferPointer(start: floats, count: n))
        case .bfloat16:
            let b = bf16Bits
            return (0..<n).map { Float(bitPattern: UInt32(b[$0]) << 16) }
        }
    }

    /// Same elements, new shape (no copy). One dimension may be -1.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        var s = newShape
        let known = s.filter { $0 != -1 }.reduce(1, *)
        if let i = s.firstIndex(of: -1) {
            guard known > 0, count % known == 0, s.filter({ $0 == -1 }).count == 1 else {
                throw ComputeError.invalidShape(op: "reshape \(shape)", shape: newShape)
            }
            s[i] = count / known
        }
        guard s.allSatisfy({ $0 >= 0 }), s.reduce(1, *) == count else {
            throw ComputeError.invalidShape(op: "reshape \(shape)", shape: newShape)
        }
        return try Tensor(storage: storage, shape: s, elementType: elementType, byteOffset: byteOffset)
    }

    /// Rows `start..<end` of the leading dimension (no copy).
    public func rows(_ start: Int, _ end: Int) throws -> Tensor {
        guard rank >= 1, 0 <= start, start <= end, end <= shape[0] else {
            throw ComputeError.invalidArgument(op: "rows", message: "\(start)..<\(end) of \(shape)")
        }
        let inner = shape.dropFirst().reduce(1, *)
        return try Tensor(storage: storage, shape: [end - start] + shape.dropFirst(), elementType: elementType,
                          byteOffset: byteOffset + start * inner * elementType.byteSize)
    }

    public var description: String { "Tensor(\(elementType.rawValue) \(shape))" }
}

/// What went wrong in a tensor op, naming the op and the offending shapes.
public enum ComputeError: Error, CustomStringConvertible, Equatable {
    case invalidShape(op: String, shape: [Int])
    case shapeMismatch(op: String, message: String)
    case storageTooSmall(needed: Int, available: Int)
    case unsupportedElementType(op: String, ElementType)
    case invalidArgument(op: String, message: String)
    case npy(path: String, message: String)

    public var description: String {
        switch self {
        case let .invalidShape(op, s): return "\(op): invalid shape \(s)"
        case let .shapeMismatch(op, m): return "\(op): shape mismatch: \(m)"
        case let .storageTooSmall(n, a): return "tensor needs \(n) bytes but storage has \(a)"
        case let .unsupportedElementType(op, t): return "\(op): element type \(t.rawValue) not supported"
        case let .invalidArgument(op, m): return "\(op): \(m)"
        case let .npy(p, m): return "\(p): \(m)"
        }
    }
}
