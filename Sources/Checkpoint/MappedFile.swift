#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Memory that tensor bytes point into; kept alive by every tensor that views it.
class ByteOwner {
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: nil, count: 0) }
}

/// A read-only, private memory map of a whole file; unmapped when the last tensor or store using it goes away.
final class MappedFile: ByteOwner {
    let path: String
    private let base: UnsafeMutableRawPointer?
    private let length: Int

    override var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: length) }

    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw CheckpointError.cannotOpen(file: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw CheckpointError.cannotOpen(file: path, reason: String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw CheckpointError.cannotOpen(file: path, reason: "not a regular file")
        }
        let size = Int(st.st_size)
        if size == 0 {
            base = nil
            length = 0
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw CheckpointError.cannotOpen(
                file: path, reason: "mmap: " + String(cString: strerror(errno)))
        }
        base = p
        length = size
    }

    deinit {
        if let base { munmap(base, length) }
    }
}

/// A 64-byte aligned heap buffer holding a tensor that could not be viewed in place (strided views, misaligned data).
final class OwnedBuffer: ByteOwner {
    let base: UnsafeMutableRawPointer
    let count: Int

    override var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    init(count: Int) {
        self.count = count
        base = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
    }

    deinit { base.deallocate() }
}

extension UnsafeRawBufferPointer {
    /// Little-endian integer at `offset`, or nil when the read would leave the buffer.
    @inline(__always)
    func le<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T? {
        guard offset >= 0, offset <= count - MemoryLayout<T>.size, let base = baseAddress else {
            return nil
        }
        return T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
