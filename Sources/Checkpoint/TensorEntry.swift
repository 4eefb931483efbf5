/// Where a tensor's elements are in a mapped file: a byte range of `storageBytes` at `storageOffset`, read as a strided
/// view (`elementOffset`, `strides`, in elements) or, when `strides` is nil, as contiguous row-major data.
struct TensorEntry {
    let info: TensorInfo
    let storageOffset: Int
    let storageBytes: Int
    let elementOffset: Int
    let strides: [Int]?

    /// Largest copy a strided view may materialize beyond the size of its storage (views repeating storage elements).
    static let maxExpandedBytes = 64 << 20

    /// Checks the view against its storage with overflow-safe arithmetic; returns the entry or a descriptive error.
    static func make(
        file: String, name: String, dtype: DType, shape: [Int], strides: [Int]?, storageOffset: Int,
        storageBytes: Int,
        elementOffset: Int
    ) throws -> TensorEntry {
        func bad(_ what: String) -> CheckpointError {
            .invalidTensor(file: file, key: name, what: what)
        }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw bad("negative dimension in shape \(shape)") }
        var count = 1
        for d in shape {
            let (m, o) = count.multipliedReportingOverflow(by: d)
            guard !o else { throw bad("shape \(shape) overflows") }
            count = m
        }
        let (bytes, o1) = count.multipliedReportingOverflow(by: dtype.itemSize)
        guard !o1 else { throw bad("shape \(shape) overflows") }
        guard elementOffset >= 0 else { throw bad("negative storage offset \(elementOffset)") }
        let storageCount = storageBytes / dtype.itemSize
        var contiguous = true
        if let strides {
            guard strides.count == shape.count, strides.allSatisfy({ $0 >= 0 }) else {
                throw bad("strides \(strides) invalid for shape \(shape)")
            }
            var expected = 1
            for i in stride(from: shape.count - 1, through: 0, by: -1) where shape[i] != 1 {
                if strides[i] != expected { contiguous = false }
                expected = expected &* shape[i]
            }
            if count > 0 {
                // Highest element index the view touches.
                var last = elementOffset
                for (d, s) in zip(shape, strides) {
                    let (m, o) = (d - 1).multipliedReportingOverflow(by: s)
                    let (sum, o2) = last.addingReportingOverflow(m)
                    guard !o, !o2 else { throw bad("strides \(strides) overflow") }
                    last = sum
                }
                guard last < storageCount else {
                    throw bad(
                        "view (offset \(elementOffset), shape \(shape), strides \(strides)) reaches past its storage of \(storageCount) elements"
                    )
                }
                if !contiguous, count > storageCount, bytes > maxExpandedBytes {
                    throw bad("strided view of \(bytes) bytes over a storage of \(storageBytes) bytes")
                }
            }
        } else {
            guard bytes == storageBytes else {
                throw bad("\(storageBytes) bytes for shape \(shape) of \(dtype.rawValue)")
            }
        }
        if count > 0, contiguous {
            let (end, o) = elementOffset.addingReportingOverflow(count)
            guard !o, end <= storageCount else { throw bad("data past the end of its storage") }
        }
        return TensorEntry(
            info: TensorInfo(name: name, dtype: dtype, shape: shape), storageOffset: storageOffset,
            storageBytes: storageBytes, elementOffset: elementOffset, strides: contiguous ? nil : strides)
    }

    /// The tensor viewing `file` in place, or an aligned contiguous copy for strided or misaligned data.
    func materialize(file: MappedFile) -> CheckpointTensor {
        let item = info.dtype.itemSize
        let count = info.count
        let whole = file.bytes
        let start = storageOffset + elementOffset * item
        func make(_ owner: ByteOwner, _ bytes: UnsafeRawBufferPointer) -> CheckpointTensor {
            CheckpointTensor(
                name: info.name, dtype: info.dtype, shape: info.shape, file: file.path, owner: owner,
                bytes: bytes)
        }
        if count == 0 { return make(file, UnsafeRawBufferPointer(start: nil, count: 0)) }
        guard let base = whole.baseAddress else {
            return make(file, UnsafeRawBufferPointer(start: nil, count: 0))
        }
        guard let strides else {
            let src = base + start
            if Int(bitPattern: src) % item == 0 {
                return make(file, UnsafeRawBufferPointer(start: src, count: count * item))
            }
            let copy = OwnedBuffer(count: count * item)
            copy.base.copyMemory(from: src, byteCount: count * item)
            return make(copy, copy.bytes)
        }
        let copy = OwnedBuffer(count: count * item)
        let shape = info.shape
        let rank = shape.count
        var index = [Int](repeating: 0, count: rank)
        var src = start
        var dst = 0
        let storage = base
        for _ in 0..<count {
            (copy.base + dst).copyMemory(from: storage + src, byteCount: item)
            dst += item
            var d = rank - 1
            while d >= 0 {
                index[d] += 1
                src += strides[d] * item
                if index[d] < shape[d] { break }
                src -= strides[d] * item * shape[d]
                index[d] = 0
                d -= 1
            }
        }
        return make(copy, copy.bytes)
    }
}
