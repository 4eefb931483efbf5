import Foundation

/// An MCAP file (chunked or not; zstd, lz4 or uncompressed chunks). With a summary section the chunk indexes let
/// replay start at a time without reading earlier chunks; without one (a truncated recording) the file is scanned
/// linearly up to the first unreadable record.
public final class MCAPLog: CameraLog, @unchecked Sendable {
    struct Schema {
        var id: UInt16
        var name: String
        var encoding: String
    }
    struct Channel {
        var id: UInt16
        var schemaId: UInt16
        var topic: String
        var encoding: String
    }
    struct ChunkIndex {
        var start: UInt64
        var end: UInt64
        var offset: Int
        var length: Int
        var channels: Set<UInt16>
        /// File offsets of the chunk's MessageIndex records, by channel.
        var messageIndexes: [UInt16: Int]
    }

    public let path: String
    public let format = "mcap"
    public private(set) var topics: [LogTopic] = []
    public private(set) var startTimeNs: UInt64?
    public private(set) var endTimeNs: UInt64?
    public private(set) var indexNote: String = ""

    let file: LogFile
    var schemas: [UInt16: Schema] = [:]
    var channels: [UInt16: Channel] = [:]
    var chunkIndexes: [ChunkIndex]?
    var counts: [UInt16: Int] = [:]

    init(file: LogFile) throws {
        self.file = file
        self.path = file.path
        let summaryUsable: Bool
        do { summaryUsable = try readSummary() == nil } catch { summaryUsable = false }
        if summaryUsable {
            indexNote = chunkIndexes.map { "summary + \($0.count) chunk indexes" } ?? "summary, no chunk indexes"
        } else {
            schemas = [:]
            channels = [:]
            chunkIndexes = nil
            counts = [:]
            let scan = LinearScan(log: self, channelFilter: nil, fromNs: 0, collect: false)
            do {
                while try scan.nextBatch() {}
                indexNote = "no summary: linear scan of \(file.size) bytes"
            } catch {
                indexNote = "no summary: linear scan stopped: \(error)"
            }
            schemas.merge(scan.schemas) { a, _ in a }
            channels.merge(scan.channels) { a, _ in a }
            counts = scan.counts
            startTimeNs = scan.minTime
            endTimeNs = scan.maxTime
        }
        topics = channels.values.sorted { $0.id < $1.id }.map { ch in
            LogTopic(
                name: ch.topic, type: schemas[ch.schemaId]?.name ?? "", encoding: ch.encoding,
                messageCount: counts[ch.id])
        }
    }

    /// Reads the footer and summary; returns nil on success or why the summary is unusable.
    private func readSummary() throws -> String? {
        let tail = 1 + 8 + 20 + 8
        guard file.size >= 8 + tail else { return "too short" }
        let footerAt = file.size - tail
        let t = try file.read(at: footerAt, count: tail)
        guard Array(t[29..<37]) == MCAPFormat.magic, t[0] == MCAPFormat.Op.footer.rawValue else { return "no footer" }
        var c = ByteCursor(t, from: 1, base: footerAt, file: path)
        guard try c.u64() == 20 else { return "bad footer" }
        let summaryStart = Int(clamping: try c.u64())
        let summaryOffsetStart = Int(clamping: try c.u64())
        guard summaryStart > 8, summaryStart <= footerAt else { return "no summary" }
        let summaryEnd = summaryOffsetStart > 0 && summaryOffsetStart <= footerAt ? summaryOffsetStart : footerAt
        guard summaryEnd >= summaryStart else { return "bad summary offsets" }
        let summary = try file.read(at: summaryStart, count: summaryEnd - summaryStart)
        var s = ByteCursor(summary, base: summaryStart, file: path)
        var chunks: [ChunkIndex] = []
        var stats: (UInt64, UInt64)?
        while !s.atEnd {
            let op = try s.u8()
            let len = try s.length64()
            var r = ByteCursor(summary, from: s.pos, to: s.pos + len, base: summaryStart, file: path)
            s.pos += len
            switch MCAPFormat.Op(rawValue: op) {
            case .schema:
                let sc = try Self.parseSchema(&r)
                schemas[sc.id] = sc
            case .channel:
                let ch = try Self.parseChannel(&r)
                channels[ch.id] = ch
            case .chunkIndex:
                let start = try r.u64(), end = try r.u64()
                let offset = Int(clamping: try r.u64()), length = Int(clamping: try r.u64())
                let mapLen = try r.length32()
                var m = ByteCursor(summary, from: r.pos, to: r.pos + mapLen, base: summaryStart, file: path)
                var ids = Set<UInt16>()
                var indexOffsets: [UInt16: Int] = [:]
                while !m.atEnd {
                    let id = try m.u16()
                    ids.insert(id)
                    indexOffsets[id] = Int(clamping: try m.u64())
                }
                guard offset >= 8, length >= 9, offset <= file.size, length <= file.size - offset else {
                    return "chunk index points outside the file"
                }
                chunks.append(
                    ChunkIndex(
                        start: start, end: end, offset: offset, length: length, channels: ids,
                        messageIndexes: indexOffsets))
            case .statistics:
                _ = try r.u64()
                _ = try r.u16()
                try r.skip(4 + 4 + 4 + 4)
                let start = try r.u64(), end = try r.u64()
                stats = (start, end)
                let mapLen = try r.length32()
                var m = ByteCursor(summary, from: r.pos, to: r.pos + mapLen, base: summaryStart, file: path)
                while !m.atEnd {
                    let id = try m.u16()
                    counts[id] = Int(clamping: try m.u64())
                }
            default:
                break
            }
        }
        if !chunks.isEmpty {
            chunkIndexes = chunks.sorted { ($0.start, $0.offset) < ($1.start, $1.offset) }
        }
        if let (a, b) = stats, b >= a, b > 0 {
            startTimeNs = a
            endTimeNs = b
        } else if !chunks.isEmpty {
            startTimeNs = chunks.map(\.start).min()
            endTimeNs = chunks.map(\.end).max()
        }
        return nil
    }

    static func parseSchema(_ r: inout ByteCursor) throws -> Schema {
        let id = try r.u16()
        let name = try r.string32()
        let enc = try r.string32()
        return Schema(id: id, name: name, encoding: enc)
    }

    static func parseChannel(_ r: inout ByteCursor) throws -> Channel {
        let id = try r.u16()
        let schemaId = try r.u16()
        let topic = try r.string32()
        let enc = try r.string32()
        return Channel(id: id, schemaId: schemaId, topic: topic, encoding: enc)
    }

    public func messages(topic: String, fromNs: UInt64) throws -> LogMessageCursor {
        let ids = Set(channels.values.filter { $0.topic == topic }.map(\.id))
        guard !ids.isEmpty else {
            throw LogError.unknownTopic(file: path, topic: topic, topics: topics.map(\.name))
        }
        if let chunks = chunkIndexes {
            let wanted = chunks.filter { $0.end >= fromNs && ($0.channels.isEmpty || !$0.channels.isDisjoint(with: ids)) }
            return IndexedCursor(log: self, chunks: wanted, channelIds: ids, fromNs: fromNs)
        }
        return LinearCursor(scan: LinearScan(log: self, channelFilter: ids, fromNs: fromNs, collect: true))
    }

    func makeMessage(channel: UInt16, time: UInt64, data: [UInt8], offset: Int, known: [UInt16: Channel]? = nil) -> LogMessage? {
        guard let ch = known?[channel] ?? channels[channel] else { return nil }
        return LogMessage(
            topic: ch.topic, type: schemas[ch.schemaId]?.name ?? "", encoding: ch.encoding, logTimeNs: time, data: data,
            offset: offset)
    }

    /// Decompresses one Chunk record body (the bytes after opcode and length) and returns its records' bytes.
    func chunkRecords(_ body: [UInt8], from start: Int = 0, at offset: Int) throws -> [UInt8] {
        var r = ByteCursor(body, from: start, base: offset + 9 - start, file: path)
        _ = try r.u64()
        _ = try r.u64()
        let size = try r.u64()
        let crc = try r.u32()
        let compName = try r.string32()
        let len = try r.length64()
        guard let kind = ChunkCompression(rawValue: compName) else {
            throw LogError.unsupported(file: path, offset: offset, what: "chunk compression \"\(compName)\"")
        }
        guard size <= UInt64(ChunkCompression.maxChunkBytes) else {
            throw LogError.corrupt(file: path, offset: offset, reason: "chunk claims \(size) uncompressed bytes")
        }
        let data = try ChunkCompression.decompress(
            body[r.pos..<r.pos + len], kind: kind, expected: Int(size), file: path, offset: offset)
        if crc != 0 && CRC32.checksum(data) != crc {
            throw LogError.crcMismatch(file: path, offset: offset)
        }
        return data
    }

    /// Parses the records inside a decompressed chunk: schemas and channels are learned, messages returned.
    func parseChunkContent(
        _ data: [UInt8], chunkOffset: Int, schemas: inout [UInt16: Schema], channels: inout [UInt16: Channel]
    ) throws -> [(channel: UInt16, time: UInt64, data: [UInt8])] {
        var c = ByteCursor(data, base: 0, file: path)
        var out: [(UInt16, UInt64, [UInt8])] = []
        do {
            while !c.atEnd {
                let op = try c.u8()
                let len = try c.length64()
                var r = ByteCursor(data, from: c.pos, to: c.pos + len, base: 0, file: path)
                c.pos += len
                switch MCAPFormat.Op(rawValue: op) {
                case .schema:
                    let s = try Self.parseSchema(&r)
                    schemas[s.id] = s
                case .channel:
                    let ch = try Self.parseChannel(&r)
                    channels[ch.id] = ch
                case .message:
                    let ch = try r.u16()
                    _ = try r.u32()
                    let t = try r.u64()
                    _ = try r.u64()
                    out.append((ch, t, Array(data[r.pos..<r.end])))
                default: break
                }
            }
        } catch LogError.truncated(_, let o, _) {
            throw LogError.corrupt(file: path, offset: chunkOffset, reason: "record at chunk byte \(o) overruns the chunk")
        }
        return out
    }
}

/// Walks the data section record by record; a chunk yields its messages (in log-time order) as one batch.
final class LinearScan {
    let log: MCAPLog
    let channelFilter: Set<UInt16>?
    let fromNs: UInt64
    let collect: Bool
    var offset = 8
    var schemas: [UInt16: MCAPLog.Schema] = [:]
    var channels: [UInt16: MCAPLog.Channel] = [:]
    var counts: [UInt16: Int] = [:]
    var minTime: UInt64?
    var maxTime: UInt64?
    var batch: [LogMessage] = []
    var done = false

    init(log: MCAPLog, channelFilter: Set<UInt16>?, fromNs: UInt64, collect: Bool) {
        self.log = log
        self.channelFilter = channelFilter
        self.fromNs = fromNs
        self.collect = collect
        self.schemas = log.schemas
        self.channels = log.channels
    }

    private func take(_ ch: UInt16, _ t: UInt64, _ data: [UInt8], at offset: Int) {
        counts[ch, default: 0] += 1
        minTime = min(minTime ?? t, t)
        maxTime = max(maxTime ?? t, t)
        guard collect, t >= fromNs, channelFilter?.contains(ch) ?? true, let ch = channels[ch] else { return }
        batch.append(
            LogMessage(
                topic: ch.topic, type: schemas[ch.schemaId]?.name ?? "", encoding: ch.encoding, logTimeNs: t,
                data: data, offset: offset))
    }

    /// Reads records until a batch of messages is ready or the data section ends; false at the end.
    func nextBatch() throws -> Bool {
        let file = log.file
        while !done {
            if offset == file.size {
                done = true
                return false
            }
            let recordAt = offset
            let head: [UInt8]
            do {
                head = try file.read(at: offset, count: 9)
            } catch {
                done = true
                throw error
            }
            var h = ByteCursor(head, base: offset, file: file.path)
            let op = try h.u8()
            let len64 = try h.u64()
            guard len64 <= UInt64(file.size - offset - 9) else {
                done = true
                throw LogError.truncated(
                    file: file.path, offset: recordAt,
                    need: len64 > UInt64(Int.max / 2) ? Int.max / 2 : Int(len64) - (file.size - offset - 9))
            }
            let len = Int(len64)
            guard let kind = MCAPFormat.Op(rawValue: op) else {
                if op == 0 {
                    done = true
                    throw LogError.corrupt(file: file.path, offset: recordAt, reason: "record opcode 0")
                }
                offset += 9 + len
                continue
            }
            switch kind {
            case .footer, .dataEnd:
                done = true
                return false
            case .schema, .channel, .message, .chunk:
                let body: [UInt8]
                do {
                    body = try file.read(at: offset + 9, count: len)
                } catch {
                    done = true
                    throw error
                }
                offset += 9 + len
                var r = ByteCursor(body, base: recordAt + 9, file: file.path)
                do {
                    switch kind {
                    case .schema:
                        let s = try MCAPLog.parseSchema(&r)
                        schemas[s.id] = s
                    case .channel:
                        let c = try MCAPLog.parseChannel(&r)
                        channels[c.id] = c
                    case .message:
                        let ch = try r.u16()
                        _ = try r.u32()
                        let t = try r.u64()
                        _ = try r.u64()
                        take(ch, t, Array(body[r.pos...]), at: recordAt)
                        if !batch.isEmpty { return true }
                    default:
                        let records = try log.chunkRecords(body, at: recordAt)
                        let msgs = try log.parseChunkContent(
                            records, chunkOffset: recordAt, schemas: &schemas, channels: &channels)
                        for m in msgs.sorted(by: { $0.time < $1.time }) { take(m.channel, m.time, m.data, at: recordAt) }
                        if !batch.isEmpty { return true }
                    }
                } catch {
                    done = true
                    throw error
                }
            default:
                offset += 9 + len
            }
        }
        return false
    }
}

final class LinearCursor: LogMessageCursor {
    let scan: LinearScan
    var index = 0
    init(scan: LinearScan) { self.scan = scan }
    var ended: Bool { scan.done && index >= scan.batch.count }

    func next() throws -> LogMessage? {
        while index >= scan.batch.count {
            scan.batch.removeAll(keepingCapacity: true)
            index = 0
            guard try scan.nextBatch() else { return nil }
        }
        defer { index += 1 }
        return scan.batch[index]
    }
}

/// Reads only the chunks the summary's chunk indexes name for the wanted channels and time; a broken chunk is
/// reported and skipped.
final class IndexedCursor: LogMessageCursor {
    let log: MCAPLog
    let chunks: [MCAPLog.ChunkIndex]
    let channelIds: Set<UInt16>
    let fromNs: UInt64
    var chunkPos = 0
    var batch: [LogMessage] = []
    var index = 0
    var schemas: [UInt16: MCAPLog.Schema]
    var channels: [UInt16: MCAPLog.Channel]

    init(log: MCAPLog, chunks: [MCAPLog.ChunkIndex], channelIds: Set<UInt16>, fromNs: UInt64) {
        self.log = log
        self.chunks = chunks
        self.channelIds = channelIds
        self.fromNs = fromNs
        self.schemas = log.schemas
        self.channels = log.channels
    }

    var ended: Bool { chunkPos >= chunks.count && index >= batch.count }

    func next() throws -> LogMessage? {
        while index >= batch.count {
            guard chunkPos < chunks.count else { return nil }
            let ci = chunks[chunkPos]
            chunkPos += 1
            batch = []
            index = 0
            let rec = try log.file.read(at: ci.offset, count: ci.length)
            var h = ByteCursor(rec, base: ci.offset, file: log.path)
            guard try h.u8() == MCAPFormat.Op.chunk.rawValue else {
                throw LogError.corrupt(file: log.path, offset: ci.offset, reason: "chunk index points at no chunk")
            }
            _ = try h.length64()
            let records = try log.chunkRecords(rec, from: 9, at: ci.offset)
            let msgs: [(channel: UInt16, time: UInt64, data: [UInt8])]
            if let viaIndex = try? indexedMessages(ci, records) {
                msgs = viaIndex
            } else {
                msgs = try log.parseChunkContent(records, chunkOffset: ci.offset, schemas: &schemas, channels: &channels)
            }
            for m in msgs.sorted(by: { $0.time < $1.time }) where m.time >= fromNs && channelIds.contains(m.channel) {
                guard let ch = channels[m.channel] else { continue }
                batch.append(
                    LogMessage(
                        topic: ch.topic, type: schemas[ch.schemaId]?.name ?? "", encoding: ch.encoding,
                        logTimeNs: m.time, data: m.data, offset: ci.offset))
            }
        }
        defer { index += 1 }
        return batch[index]
    }

    /// The wanted channels' messages at or after `fromNs`, found through the chunk's MessageIndex records without
    /// parsing the others; nil when the chunk has no usable message index (then the whole chunk is parsed).
    private func indexedMessages(_ ci: MCAPLog.ChunkIndex, _ records: [UInt8]) throws -> [(channel: UInt16, time: UInt64, data: [UInt8])]? {
        var out: [(UInt16, UInt64, [UInt8])] = []
        for id in channelIds where ci.channels.contains(id) {
            guard let at = ci.messageIndexes[id], let head = try? log.file.read(at: at, count: 9) else { return nil }
            var h = ByteCursor(head, base: at, file: log.path)
            guard try h.u8() == MCAPFormat.Op.messageIndex.rawValue else { return nil }
            let len = try h.u64()
            guard len >= 6, len <= UInt64(log.file.size - at - 9) else { return nil }
            let body = try log.file.read(at: at + 9, count: Int(len))
            var r = ByteCursor(body, base: at + 9, file: log.path)
            guard try r.u16() == id else { return nil }
            let n = try r.length32()
            var e = ByteCursor(body, from: r.pos, to: r.pos + n, base: at + 9, file: log.path)
            while !e.atEnd {
                let t = try e.u64()
                let off64 = try e.u64()
                guard t >= fromNs else { continue }
                guard off64 <= UInt64(records.count) else { return nil }
                var m = ByteCursor(records, from: Int(off64), file: log.path)
                guard (try? m.u8()) == MCAPFormat.Op.message.rawValue, let mlen = try? m.length64(), mlen >= 22 else {
                    return nil
                }
                let body0 = m.pos
                guard try m.u16() == id else { return nil }
                _ = try m.u32()
                let time = try m.u64()
                guard time == t else { return nil }
                out.append((id, time, Array(records[body0 + 22..<body0 + mlen])))
            }
        }
        return out
    }
}
