import Foundation

/// A log file read with `pread`: only the records asked for are in memory, and no read may go past the end.
final class LogFile: @unchecked Sendable {
    let path: String
    let size: Int
    private let fd: Int32

    init(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw LogError.unreadable(file: path, reason: String(cString: strerror(errno))) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw LogError.unreadable(file: path, reason: reason)
        }
        self.path = path
        self.fd = fd
        self.size = Int(st.st_size)
    }

    deinit { close(fd) }

    /// Exactly `count` bytes at `offset`, or `.truncated` naming where the file ends.
    func read(at offset: Int, count: Int) throws -> [UInt8] {
        guard offset >= 0, count >= 0, offset <= size else {
            throw LogError.truncated(file: path, offset: max(0, offset), need: count)
        }
        guard count <= size - offset else {
            throw LogError.truncated(file: path, offset: offset, need: count - (size - offset))
        }
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { buf -> Int in
                guard let base = buf.baseAddress else { return 0 }
                return pread(fd, base + done, count - done, off_t(offset + done))
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw LogError.truncated(file: path, offset: offset + done, need: count - done) }
            done += n
        }
        return out
    }
}
