/// Name, dtype and shape of a stored tensor, read from the file's index without touching its data.
public struct TensorInfo: Equatable, Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]

    public init(name: String, dtype: DType, shape: [Int]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }

    /// Number of elements (1 for a 0-d tensor).
    public var count: Int { shape.reduce(1, *) }
    public var byteCount: Int { count * dtype.itemSize }
}

/// One tensor of a checkpoint: contiguous row-major bytes in the memory-mapped file (or, for strided or misaligned
/// sources, in an owned copy). The tensor keeps that memory alive, so `raw` stays valid as long as the tensor does.
public final class CheckpointTensor {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// The file the tensor came from (for error messages).
    public let file: String
    private let owner: ByteOwner
    private let bytes: UnsafeRawBufferPointer

    init(
        name: String, dtype: DType, shape: [Int], file: String, owner: ByteOwner,
        bytes: UnsafeRawBufferPointer
    ) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.file = file
        self.owner = owner
        self.bytes = bytes
    }

    /// Contiguous little-endian row-major elements, aligned to the element size; `count * dtype.itemSize` bytes.
    public var raw: UnsafeRawBufferPointer { bytes }

    /// Number of elements (1 for a 0-d tensor).
    public var count: Int { shape.reduce(1, *) }

    public var info: TensorInfo { TensorInfo(name: name, dtype: dtype, shape: shape) }

    /// All elements as Float: f16/bf16 widened exactly, f64 rounded, integers and bools by value.
    public func floats() throws -> [Float] {
        let n = count
        guard let src = bytes.baseAddress, n > 0 else { return [] }
        return [Float](unsafeUninitializedCapacity: n) { buffer, initialized in
            if let dst = buffer.baseAddress { DTypeConversion.toFloat(dtype, src, dst, count: n) }
            initialized = n
        }
    }

    /// Widens the elements `elements` (flat row-major indices) into `dst`, e.g. one tile of a weight matrix.
    public func copyFloats(elements: Range<Int>, to dst: UnsafeMutablePointer<Float>) throws {
        guard elements.lowerBound >= 0, elements.upperBound <= count else {
            throw CheckpointError.invalidTensor(
                file: file, key: name, what: "element range \(elements) outside 0..<\(count)")
        }
        guard let src = bytes.baseAddress, !elements.isEmpty else { return }
        DTypeConversion.toFloat(
            dtype, src + elements.lowerBound * dtype.itemSize, dst, count: elements.count)
    }

    /// Throws `shapeMismatch` unless the shape is exactly `expected`.
    public func expect(shape expected: [Int]) throws {
        guard shape == expected else {
            throw CheckpointError.shapeMismatch(file: file, key: name, expected: expected, actual: shape)
        }
    }

    /// Throws `dtypeMismatch` unless the dtype is one of `allowed`.
    public func expect(dtype allowed: [DType]) throws {
        guard allowed.contains(dtype) else {
            throw CheckpointError.dtypeMismatch(file: file, key: name, expected: allowed, actual: dtype)
        }
    }
}

/// Immutable after creation, and the bytes it views are never written: safe to share between threads.
extension CheckpointTensor: @unchecked Sendable {}
