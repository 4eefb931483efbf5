import Foundation

/// Why a recording cannot be written.
public enum RecordingError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case writeFailed(path: String, reason: String)
    case compressionFailed(path: String, compression: String)
    case closed(path: String)
    case unknownChannel(path: String, id: UInt16)
    case badMask(width: Int, height: Int, count: Int)

    public var description: String {
        switch self {
        case .cannotOpen(let p, let r): return "recording \(p): cannot open: \(r)"
        case .writeFailed(let p, let r): return "recording \(p): write failed: \(r)"
        case .compressionFailed(let p, let c): return "recording \(p): \(c) compression failed"
        case .closed(let p): return "recording \(p) is closed"
        case .unknownChannel(let p, let id): return "recording \(p): no channel \(id)"
        case .badMask(let w, let h, let n): return "mask of \(n) bytes is not \(w)x\(h)"
        }
    }
}

/// Writes an MCAP file: messages go into chunks (zstd, lz4 or uncompressed) that are written out every
/// `chunkMessages` messages or `chunkInterval` seconds, each followed by its message indexes, so a process killed
/// mid-recording leaves a file readable up to its last chunk. `close()` adds the summary (schemas, channels,
/// statistics, chunk indexes), summary offsets and footer.
public final class MCAPWriter {
    public let path: String
    public let compression: ChunkCompression
    public let chunkMessages: Int
    public let chunkInterval: TimeInterval

    private struct Channel {
        var id: UInt16
        var schemaId: UInt16
        var topic: String
        var encoding: String
        var metadata: [String: String]
    }
    private struct Schema {
        var id: UInt16
        var name: String
        var encoding: String
        var data: [UInt8]
    }
    private struct ChunkIndex {
        var start: UInt64, end: UInt64, offset: UInt64, length: UInt64
        var messageIndexOffsets: [(UInt16, UInt64)]
        var messageIndexLength: UInt64
        var compressedSize: UInt64, uncompressedSize: UInt64
    }

    private var fd: Int32
    private var position: UInt64 = 0
    private var schemas: [Schema] = []
    private var channels: [Channel] = []
    private var pendingDefinitions = Set<String>()
    private var chunk: [UInt8] = []
    private var chunkIndex: [UInt16: [(UInt64, UInt64)]] = [:]
    private var chunkStart = UInt64.max
    private var chunkEnd: UInt64 = 0
    private var chunkCount = 0
    private var chunkOpened: Date?
    private var chunkIndexes: [ChunkIndex] = []
    private var messageCounts: [UInt16: UInt64] = [:]
    private var sequence: [UInt16: UInt32] = [:]
    private var totalMessages: UInt64 = 0
    private var timeRange: (UInt64, UInt64)?

    public init(
        path: String, compression: ChunkCompression = .zstd, chunkMessages: Int = 30, chunkInterval: TimeInterval = 1,
        library: String = "perception-node"
    ) throws {
        self.path = path
        self.compression = compression
        self.chunkMessages = max(1, chunkMessages)
        self.chunkInterval = chunkInterval
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw RecordingError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        var head = MCAPFormat.magic
        Self.record(&head, .header) { b in
            Self.string(&b, "")
            Self.string(&b, library)
        }
        try emit(head)
    }

    deinit { if fd >= 0 { Foundation.close(fd) } }

    // MARK: Encoding helpers

    static func u16(_ b: inout [UInt8], _ v: UInt16) { b.append(UInt8(v & 0xFF)); b.append(UInt8(v >> 8)) }
    static func u32(_ b: inout [UInt8], _ v: UInt32) { for i in 0..<4 { b.append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) } }
    static func u64(_ b: inout [UInt8], _ v: UInt64) { for i in 0..<8 { b.append(UInt8((v >> (8 * UInt64(i))) & 0xFF)) } }
    static func string(_ b: inout [UInt8], _ s: String) {
        let u = Array(s.utf8)
        u32(&b, UInt32(u.count))
        b += u
    }
    static func record(_ b: inout [UInt8], _ op: MCAPFormat.Op, _ body: (inout [UInt8]) -> Void) {
        b.append(op.rawValue)
        let lenAt = b.count
        u64(&b, 0)
        body(&b)
        let len = UInt64(b.count - lenAt - 8)
        for i in 0..<8 { b[lenAt + i] = UInt8((len >> (8 * UInt64(i))) & 0xFF) }
    }

    private func schemaRecord(_ b: inout [UInt8], _ s: Schema) {
        Self.record(&b, .schema) { b in
            Self.u16(&b, s.id)
            Self.string(&b, s.name)
            Self.string(&b, s.encoding)
            Self.u32(&b, UInt32(s.data.count))
            b += s.data
        }
    }

    private func channelRecord(_ b: inout [UInt8], _ c: Channel) {
        Self.record(&b, .channel) { b in
            Self.u16(&b, c.id)
            Self.u16(&b, c.schemaId)
            Self.string(&b, c.topic)
            Self.string(&b, c.encoding)
            var m: [UInt8] = []
            for (k, v) in c.metadata.sorted(by: { $0.key < $1.key }) {
                Self.string(&m, k)
                Self.string(&m, v)
            }
            Self.u32(&b, UInt32(m.count))
            b += m
        }
    }

    private func emit(_ bytes: [UInt8]) throws {
        guard fd >= 0 else { throw RecordingError.closed(path: path) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return Foundation.write(fd, base + done, bytes.count - done)
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw RecordingError.writeFailed(path: path, reason: String(cString: strerror(errno))) }
            done += n
        }
        position += UInt64(bytes.count)
    }

    // MARK: API

    /// Registers a schema (e.g. `foxglove.CompressedImage`, encoding `jsonschema`); returns its id.
    public func addSchema(name: String, encoding: String, data: [UInt8]) -> UInt16 {
        let id = UInt16(truncatingIfNeeded: schemas.count + 1)
        schemas.append(Schema(id: id, name: name, encoding: encoding, data: data))
        pendingDefinitions.insert("s\(id)")
        return id
    }

    /// Registers a channel (a topic with its message encoding); returns its id.
    public func addChannel(topic: String, schemaId: UInt16, messageEncoding: String, metadata: [String: String] = [:])
        -> UInt16
    {
        let id = UInt16(truncatingIfNeeded: channels.count + 1)
        channels.append(Channel(id: id, schemaId: schemaId, topic: topic, encoding: messageEncoding, metadata: metadata))
        pendingDefinitions.insert("c\(id)")
        return id
    }

    /// Appends a message to the open chunk; writes the chunk out when it is full or old enough.
    public func write(channel id: UInt16, logTimeNs: UInt64, publishTimeNs: UInt64? = nil, data: [UInt8]) throws {
        guard fd >= 0 else { throw RecordingError.closed(path: path) }
        guard let ch = channels.first(where: { $0.id == id }) else {
            throw RecordingError.unknownChannel(path: path, id: id)
        }
        // The schema and channel go into the first chunk that uses them, so a linear reader knows them in time.
        if pendingDefinitions.contains("s\(ch.schemaId)"), let s = schemas.first(where: { $0.id == ch.schemaId }) {
            schemaRecord(&chunk, s)
            pendingDefinitions.remove("s\(ch.schemaId)")
        }
        if pendingDefinitions.contains("c\(id)") {
            channelRecord(&chunk, ch)
            pendingDefinitions.remove("c\(id)")
        }
        let seq = sequence[id, default: 0]
        sequence[id] = seq &+ 1
        chunkIndex[id, default: []].append((logTimeNs, UInt64(chunk.count)))
        Self.record(&chunk, .message) { b in
            Self.u16(&b, id)
            Self.u32(&b, seq)
            Self.u64(&b, logTimeNs)
            Self.u64(&b, publishTimeNs ?? logTimeNs)
            b += data
        }
        chunkStart = min(chunkStart, logTimeNs)
        chunkEnd = max(chunkEnd, logTimeNs)
        chunkCount += 1
        if chunkOpened == nil { chunkOpened = Date() }
        messageCounts[id, default: 0] += 1
        totalMessages += 1
        timeRange = (min(timeRange?.0 ?? logTimeNs, logTimeNs), max(timeRange?.1 ?? logTimeNs, logTimeNs))
        if chunkCount >= chunkMessages || Date().timeIntervalSince(chunkOpened ?? Date()) >= chunkInterval {
            try flush()
        }
    }

    /// Writes the open chunk and its message indexes to the file (a no-op when it is empty).
    public func flush() throws {
        guard chunkCount > 0 else { return }
        guard let compressed = ChunkCompression.compress(chunk, kind: compression) else {
            throw RecordingError.compressionFailed(path: path, compression: compression.rawValue)
        }
        let chunkOffset = position
        var out: [UInt8] = []
        out.reserveCapacity(compressed.count + 64)
        Self.record(&out, .chunk) { b in
            Self.u64(&b, chunkStart)
            Self.u64(&b, chunkEnd)
            Self.u64(&b, UInt64(chunk.count))
            Self.u32(&b, CRC32.checksum(chunk))
            Self.string(&b, compression.rawValue)
            Self.u64(&b, UInt64(compressed.count))
            b += compressed
        }
        let chunkLength = UInt64(out.count)
        var indexOffsets: [(UInt16, UInt64)] = []
        for (id, entries) in chunkIndex.sorted(by: { $0.key < $1.key }) {
            indexOffsets.append((id, chunkOffset + UInt64(out.count)))
            Self.record(&out, .messageIndex) { b in
                Self.u16(&b, id)
                Self.u32(&b, UInt32(entries.count * 16))
                for (t, o) in entries {
                    Self.u64(&b, t)
                    Self.u64(&b, o)
                }
            }
        }
        try emit(out)
        chunkIndexes.append(
            ChunkIndex(
                start: chunkStart, end: chunkEnd, offset: chunkOffset, length: chunkLength,
                messageIndexOffsets: indexOffsets, messageIndexLength: UInt64(out.count) - chunkLength,
                compressedSize: UInt64(compressed.count), uncompressedSize: UInt64(chunk.count)))
        chunk.removeAll(keepingCapacity: true)
        chunkIndex.removeAll(keepingCapacity: true)
        chunkStart = .max
        chunkEnd = 0
        chunkCount = 0
        chunkOpened = nil
    }

    /// Flushes, writes the summary and footer, and closes the file.
    public func close() throws {
        guard fd >= 0 else { return }
        try flush()
        var out: [UInt8] = []
        Self.record(&out, .dataEnd) { Self.u32(&$0, 0) }
        let summaryStart = position + UInt64(out.count)
        var summary: [UInt8] = []
        var groups: [(MCAPFormat.Op, Int, Int)] = []
        func group(_ op: MCAPFormat.Op, _ body: (inout [UInt8]) -> Void) {
            let start = summary.count
            body(&summary)
            if summary.count > start { groups.append((op, start, summary.count - start)) }
        }
        group(.schema) { b in for s in schemas { schemaRecord(&b, s) } }
        group(.channel) { b in for c in channels { channelRecord(&b, c) } }
        group(.statistics) { b in
            Self.record(&b, .statistics) { b in
                Self.u64(&b, totalMessages)
                Self.u16(&b, UInt16(truncatingIfNeeded: schemas.count))
                Self.u32(&b, UInt32(channels.count))
                Self.u32(&b, 0)
                Self.u32(&b, 0)
                Self.u32(&b, UInt32(chunkIndexes.count))
                Self.u64(&b, timeRange?.0 ?? 0)
                Self.u64(&b, timeRange?.1 ?? 0)
                var m: [UInt8] = []
                for (id, n) in messageCounts.sorted(by: { $0.key < $1.key }) {
                    Self.u16(&m, id)
                    Self.u64(&m, n)
                }
                Self.u32(&b, UInt32(m.count))
                b += m
            }
        }
        group(.chunkIndex) { b in
            for ci in chunkIndexes {
                Self.record(&b, .chunkIndex) { b in
                    Self.u64(&b, ci.start)
                    Self.u64(&b, ci.end)
                    Self.u64(&b, ci.offset)
                    Self.u64(&b, ci.length)
                    Self.u32(&b, UInt32(ci.messageIndexOffsets.count * 10))
                    for (id, o) in ci.messageIndexOffsets {
                        Self.u16(&b, id)
                        Self.u64(&b, o)
                    }
                    Self.u64(&b, ci.messageIndexLength)
                    Self.string(&b, compression.rawValue)
                    Self.u64(&b, ci.compressedSize)
                    Self.u64(&b, ci.uncompressedSize)
                }
            }
        }
        let summaryOffsetStart = summaryStart + UInt64(summary.count)
        for (op, start, length) in groups {
            Self.record(&summary, .summaryOffset) { b in
                b.append(op.rawValue)
                Self.u64(&b, summaryStart + UInt64(start))
                Self.u64(&b, UInt64(length))
            }
        }
        summary.append(MCAPFormat.Op.footer.rawValue)
        Self.u64(&summary, 20)
        Self.u64(&summary, summaryStart)
        Self.u64(&summary, summaryOffsetStart)
        Self.u32(&summary, CRC32.checksum(summary))
        out += summary
        out += MCAPFormat.magic
        try emit(out)
        Foundation.close(fd)
        fd = -1
    }
}
