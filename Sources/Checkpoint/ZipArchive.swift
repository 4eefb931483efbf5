/// The central directory of a zip file whose entries are stored uncompressed (as torch.save writes them), so each
/// entry's bytes can be viewed in place. Handles zip64 records and extra fields.
struct ZipArchive {
    struct Entry {
        let name: String
        /// Offset of the entry's data in the file.
        let dataOffset: Int
        let size: Int
    }

    let path: String
    let entries: [String: Entry]
    let order: [String]

    static let maxEntries = 1 << 20

    init(path file: String, bytes b: UnsafeRawBufferPointer) throws {
        path = file
        let path = file
        func truncated(_ what: String) -> CheckpointError { .truncated(file: path, what: what) }
        func malformed(_ what: String) -> CheckpointError { .malformed(file: path, what: what) }

        // End of central directory: 22 bytes plus a comment of at most 65535 bytes, searched from the end.
        guard b.count >= 22 else { throw truncated("zip end-of-central-directory record missing") }
        var eocd = -1
        var p = b.count - 22
        let lowest = max(0, b.count - 22 - 65535)
        while p >= lowest {
            if b.le(UInt32.self, at: p) == 0x0605_4b50, let clen = b.le(UInt16.self, at: p + 20),
                p + 22 + Int(clen) == b.count
            {
                eocd = p
                break
            }
            p -= 1
        }
        guard eocd >= 0 else { throw truncated("zip end-of-central-directory record not found") }
        var count = Int(b.le(UInt16.self, at: eocd + 10) ?? 0)
        var cdSize = Int(b.le(UInt32.self, at: eocd + 12) ?? 0)
        var cdOffset = Int(b.le(UInt32.self, at: eocd + 16) ?? 0)
        if count == 0xffff || cdSize == 0xffff_ffff || cdOffset == 0xffff_ffff
            || b.le(UInt32.self, at: eocd - 20) == 0x0706_4b50
        {
            guard eocd >= 20, b.le(UInt32.self, at: eocd - 20) == 0x0706_4b50,
                let rec64 = b.le(UInt64.self, at: eocd - 20 + 8)
            else { throw malformed("zip64 end-of-central-directory locator missing") }
            guard rec64 <= UInt64(eocd - 20), b.le(UInt32.self, at: Int(rec64)) == 0x0606_4b50,
                let n64 = b.le(UInt64.self, at: Int(rec64) + 32),
                let size64 = b.le(UInt64.self, at: Int(rec64) + 40),
                let off64 = b.le(UInt64.self, at: Int(rec64) + 48)
            else { throw malformed("zip64 end-of-central-directory record missing or out of range") }
            guard n64 <= UInt64(Self.maxEntries), size64 <= UInt64(b.count), off64 <= UInt64(b.count)
            else {
                throw malformed("zip64 end-of-central-directory values out of range")
            }
            count = Int(n64)
            cdSize = Int(size64)
            cdOffset = Int(off64)
        }
        guard cdOffset <= b.count, cdSize <= b.count - cdOffset else {
            throw malformed("central directory (offset \(cdOffset), size \(cdSize)) outside the file")
        }
        guard count <= cdSize / 46 else {
            throw malformed("central directory too small for \(count) entries")
        }

        var entries: [String: Entry] = [:]
        var order: [String] = []
        var q = cdOffset
        let cdEnd = cdOffset + cdSize
        for index in 0..<count {
            guard q + 46 <= cdEnd, b.le(UInt32.self, at: q) == 0x0201_4b50,
                let flags = b.le(UInt16.self, at: q + 8), let method = b.le(UInt16.self, at: q + 10),
                let csize32 = b.le(UInt32.self, at: q + 20), let usize32 = b.le(UInt32.self, at: q + 24),
                let nameLen = b.le(UInt16.self, at: q + 28), let extraLen = b.le(UInt16.self, at: q + 30),
                let commentLen = b.le(UInt16.self, at: q + 32), let local32 = b.le(UInt32.self, at: q + 42)
            else { throw malformed("central directory entry \(index) is not a valid header") }
            let nameStart = q + 46
            let extraStart = nameStart + Int(nameLen)
            let next = extraStart + Int(extraLen) + Int(commentLen)
            guard next <= cdEnd else {
                throw malformed("central directory entry \(index) runs past the directory")
            }
            let name = String(
                decoding: UnsafeRawBufferPointer(rebasing: b[nameStart..<extraStart]), as: UTF8.self)

            var usize = UInt64(usize32)
            var csize = UInt64(csize32)
            var local = UInt64(local32)
            if usize32 == 0xffff_ffff || csize32 == 0xffff_ffff || local32 == 0xffff_ffff {
                // zip64 extended information: only the fields whose 32-bit value is saturated, in this order.
                var found = false
                var e = extraStart
                let extraEnd = extraStart + Int(extraLen)
                while e + 4 <= extraEnd, let id = b.le(UInt16.self, at: e),
                    let len = b.le(UInt16.self, at: e + 2)
                {
                    let body = e + 4
                    guard body + Int(len) <= extraEnd else { break }
                    if id == 0x0001 {
                        var f = body
                        func field() throws -> UInt64 {
                            guard f + 8 <= body + Int(len), let v = b.le(UInt64.self, at: f) else {
                                throw malformed("zip64 extra field of \"\(name)\" too short")
                            }
                            f += 8
                            return v
                        }
                        if usize32 == 0xffff_ffff { usize = try field() }
                        if csize32 == 0xffff_ffff { csize = try field() }
                        if local32 == 0xffff_ffff { local = try field() }
                        found = true
                        break
                    }
                    e = body + Int(len)
                }
                guard found else { throw malformed("\"\(name)\" needs a zip64 extra field and has none") }
            }
            guard flags & 1 == 0 else {
                throw CheckpointError.unsupportedFormat(file: path, what: "\"\(name)\" is encrypted")
            }
            guard method == 0 else {
                throw CheckpointError.unsupportedFormat(
                    file: path,
                    what:
                        "\"\(name)\" is compressed (method \(method)); torch.save stores entries uncompressed")
            }
            guard csize == usize else {
                throw malformed("stored entry \"\(name)\" has different compressed and plain sizes")
            }
            guard local <= UInt64(b.count), usize <= UInt64(b.count) else {
                throw malformed("entry \"\(name)\" lies outside the file")
            }
            let lh = Int(local)
            guard lh + 30 <= b.count, b.le(UInt32.self, at: lh) == 0x0403_4b50,
                let lname = b.le(UInt16.self, at: lh + 26), let lextra = b.le(UInt16.self, at: lh + 28)
            else { throw malformed("local header of \"\(name)\" missing at offset \(lh)") }
            let data = lh + 30 + Int(lname) + Int(lextra)
            let size = Int(usize)
            guard data <= b.count, size <= b.count - data else {
                throw CheckpointError.truncated(
                    file: path, what: "data of \"\(name)\" (\(size) bytes at \(data)) past end of file")
            }
            guard entries[name] == nil else { throw malformed("duplicate entry \"\(name)\"") }
            entries[name] = Entry(name: name, dataOffset: data, size: size)
            order.append(name)
            q = next
        }
        self.entries = entries
        self.order = order
    }
}
