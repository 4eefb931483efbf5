import Foundation

/// A ROS 1 bag (format 2.0) with uncompressed or lz4 chunks. Connections and chunk infos come from the index
/// section at `index_pos`; without it (a truncated bag) a linear scan finds the connections.
public final class ROS1BagLog: CameraLog, @unchecked Sendable {
    struct Connection {
        var id: UInt32
        var topic: String
        var type: String
    }
    struct ChunkInfo {
        var position: Int
        var start: UInt64
        var end: UInt64
        var connections: Set<UInt32>
    }
    /// One record: header fields by name, and where its data lies in the buffer.
    struct Record {
        var fields: [String: ArraySlice<UInt8>]
        var data: Range<Int>
        var op: UInt8? { fields["op"]?.first }
    }

    public let path: String
    public let format = "ros1bag"
    public private(set) var topics: [LogTopic] = []
    public private(set) var startTimeNs: UInt64?
    public private(set) var endTimeNs: UInt64?
    public private(set) var indexNote = ""

    let file: LogFile
    var connections: [UInt32: Connection] = [:]
    var chunkInfos: [Int: ChunkInfo] = [:]
    var counts: [UInt32: Int] = [:]
    /// Where records end: the index section start, or the end of the file.
    var dataEnd: Int
    var firstRecord = 13

    init(file: LogFile) throws {
        self.file = file
        self.path = file.path
        self.dataEnd = file.size
        let (header, next) = try Self.readRecord(file, at: 13)
        guard header.op == 0x03, let indexPos = header.fields["index_pos"].map(Self.le) else {
            throw LogError.corrupt(file: path, offset: 13, reason: "first record is not the bag header")
        }
        firstRecord = next
        var indexed = false
        if indexPos > UInt64(next), indexPos < UInt64(file.size) {
            do {
                try readIndex(at: Int(indexPos))
                dataEnd = Int(indexPos)
                indexed = true
                indexNote = "index section: \(connections.count) connections, \(chunkInfos.count) chunk infos"
            } catch {
                connections = [:]
                chunkInfos = [:]
                counts = [:]
            }
        }
        if !indexed {
            let cursor = BagCursor(log: self, connections: nil, fromNs: 0, collect: false)
            do {
                while try cursor.next() != nil {}
                indexNote = "no index: linear scan of \(file.size) bytes"
            } catch {
                indexNote = "no index: linear scan stopped: \(error)"
            }
            connections = cursor.connections
            counts = cursor.counts
            startTimeNs = cursor.minTime
            endTimeNs = cursor.maxTime
        }
        topics = connections.values.sorted { $0.id < $1.id }.map {
            LogTopic(name: $0.topic, type: $0.type, encoding: "ros1", messageCount: counts[$0.id])
        }
    }

    static func le(_ b: ArraySlice<UInt8>) -> UInt64 {
        var v: UInt64 = 0
        for (i, x) in b.prefix(8).enumerated() { v |= UInt64(x) << (8 * UInt64(i)) }
        return v
    }

    static func time(_ b: ArraySlice<UInt8>) -> UInt64 {
        let v = le(b)
        return (v & 0xFFFF_FFFF) * 1_000_000_000 + (v >> 32)
    }

    static func parseFields(_ d: [UInt8], _ range: Range<Int>, file: String, base: Int) throws -> [String: ArraySlice<UInt8>] {
        var c = ByteCursor(d, from: range.lowerBound, to: range.upperBound, base: base, file: file)
        var fields: [String: ArraySlice<UInt8>] = [:]
        while !c.atEnd {
            let n = try c.length32()
            let f = d[c.pos..<c.pos + n]
            c.pos += n
            guard let eq = f.firstIndex(of: UInt8(ascii: "=")) else {
                throw LogError.corrupt(file: file, offset: base + f.startIndex, reason: "header field without '='")
            }
            fields[String(decoding: f[f.startIndex..<eq], as: UTF8.self)] = f[(eq + 1)...]
        }
        return fields
    }

    /// Reads one record from the file at `offset`; returns it (data range relative to its own buffer) and the
    /// offset of the next record.
    static func readRecord(_ file: LogFile, at offset: Int) throws -> (Record, next: Int, buffer: [UInt8]) {
        let hl = try file.read(at: offset, count: 4)
        var c = ByteCursor(hl, base: offset, file: file.path)
        let headerLen = Int(try c.u32())
        let header = try file.read(at: offset + 4, count: headerLen)
        let dl = try file.read(at: offset + 4 + headerLen, count: 4)
        var d = ByteCursor(dl, base: offset + 4 + headerLen, file: file.path)
        let dataLen = Int(try d.u32())
        let data = try file.read(at: offset + 8 + headerLen, count: dataLen)
        let fields = try parseFields(header, 0..<header.count, file: file.path, base: offset + 4)
        return (Record(fields: fields, data: 0..<data.count), offset + 8 + headerLen + dataLen, data)
    }

    static func readRecord(_ file: LogFile, at offset: Int) throws -> (Record, Int) {
        let (r, n, _): (Record, Int, [UInt8]) = try readRecord(file, at: offset)
        return (r, n)
    }

    /// Records inside an in-memory buffer (a decompressed chunk).
    static func records(in d: [UInt8], file: String, base: Int) throws -> [Record] {
        var c = ByteCursor(d, base: 0, file: file)
        var out: [Record] = []
        do {
            while !c.atEnd {
                let hl = try c.length32()
                let fields = try parseFields(d, c.pos..<c.pos + hl, file: file, base: base)
                c.pos += hl
                let dl = try c.length32()
                out.append(Record(fields: fields, data: c.pos..<c.pos + dl))
                c.pos += dl
            }
        } catch LogError.truncated(_, let o, _) {
            throw LogError.corrupt(file: file, offset: base, reason: "record at chunk byte \(o) overruns the chunk")
        }
        return out
    }

    static func connection(_ r: Record, _ d: [UInt8], file: String, base: Int) throws -> Connection? {
        guard let idField = r.fields["conn"], idField.count == 4, let topic = r.fields["topic"] else { return nil }
        let connHeader = try parseFields(d, r.data, file: file, base: base)
        let type = connHeader["type"].map { String(decoding: $0, as: UTF8.self) } ?? ""
        return Connection(id: UInt32(le(idField)), topic: String(decoding: topic, as: UTF8.self), type: type)
    }

    private func readIndex(at start: Int) throws {
        var offset = start
        while offset < file.size {
            let (r, next, data): (Record, Int, [UInt8]) = try Self.readRecord(file, at: offset)
            switch r.op {
            case 0x07:
                if let c = try Self.connection(r, data, file: path, base: offset) { connections[c.id] = c }
            case 0x06:
                guard let pos = r.fields["chunk_pos"], let s = r.fields["start_time"], let e = r.fields["end_time"] else {
                    throw LogError.corrupt(file: path, offset: offset, reason: "chunk info without chunk_pos/start/end")
                }
                var c = ByteCursor(data, base: offset, file: path)
                var ids = Set<UInt32>()
                while !c.atEnd {
                    let id = try c.u32()
                    counts[id, default: 0] += Int(try c.u32())
                    ids.insert(id)
                }
                let info = ChunkInfo(position: Int(clamping: Self.le(pos)), start: Self.time(s), end: Self.time(e), connections: ids)
                chunkInfos[info.position] = info
                startTimeNs = min(startTimeNs ?? info.start, info.start)
                endTimeNs = max(endTimeNs ?? info.end, info.end)
            default: break
            }
            offset = next
        }
    }

    public func messages(topic: String, fromNs: UInt64) throws -> LogMessageCursor {
        let ids = Set(connections.values.filter { $0.topic == topic }.map(\.id))
        guard !ids.isEmpty else { throw LogError.unknownTopic(file: path, topic: topic, topics: topics.map(\.name)) }
        return BagCursor(log: self, connections: ids, fromNs: fromNs, collect: true)
    }
}

/// Walks a bag's records (in file order), decompressing chunks, skipping chunks the index says are too early or
/// hold none of the wanted connections.
final class BagCursor: LogMessageCursor {
    let log: ROS1BagLog
    let wanted: Set<UInt32>?
    let fromNs: UInt64
    let collect: Bool
    var offset: Int
    var connections: [UInt32: ROS1BagLog.Connection]
    var counts: [UInt32: Int] = [:]
    var minTime: UInt64?
    var maxTime: UInt64?
    var batch: [LogMessage] = []
    var index = 0
    var done = false

    init(log: ROS1BagLog, connections: Set<UInt32>?, fromNs: UInt64, collect: Bool) {
        self.log = log
        self.wanted = connections
        self.fromNs = fromNs
        self.collect = collect
        self.offset = log.firstRecord
        self.connections = log.connections
    }

    var ended: Bool { done && index >= batch.count }

    private func take(_ r: ROS1BagLog.Record, _ d: [UInt8], at offset: Int) {
        guard let c = r.fields["conn"], c.count == 4, let t = r.fields["time"], t.count == 8 else { return }
        let id = UInt32(ROS1BagLog.le(c))
        let time = ROS1BagLog.time(t)
        counts[id, default: 0] += 1
        minTime = min(minTime ?? time, time)
        maxTime = max(maxTime ?? time, time)
        guard collect, time >= fromNs, wanted?.contains(id) ?? true, let conn = connections[id] else { return }
        batch.append(
            LogMessage(topic: conn.topic, type: conn.type, encoding: "ros1", logTimeNs: time, data: Array(d[r.data]), offset: offset))
    }

    func next() throws -> LogMessage? {
        while index >= batch.count {
            batch.removeAll(keepingCapacity: true)
            index = 0
            guard !done else { return nil }
            do { try step() } catch {
                done = true
                throw error
            }
        }
        defer { index += 1 }
        return batch[index]
    }

    /// Reads one top-level record.
    private func step() throws {
        let file = log.file
        guard offset < log.dataEnd else {
            done = true
            return
        }
        let at = offset
        let (r, next, data): (ROS1BagLog.Record, Int, [UInt8]) = try ROS1BagLog.readRecord(file, at: at)
        offset = next
        switch r.op {
        case 0x07:
            if let c = try ROS1BagLog.connection(r, data, file: file.path, base: at) { connections[c.id] = c }
        case 0x02:
            take(r, data, at: at)
        case 0x05:
            if collect, let info = log.chunkInfos[at], let wanted,
                info.end < fromNs || info.connections.isDisjoint(with: wanted)
            {
                return
            }
            let comp = r.fields["compression"].map { String(decoding: $0, as: UTF8.self) } ?? ""
            guard let size = r.fields["size"], size.count == 4 else {
                throw LogError.corrupt(file: file.path, offset: at, reason: "chunk without size")
            }
            let kind: ChunkCompression
            switch comp {
            case "none": kind = .none
            case "lz4": kind = .lz4
            default: throw LogError.unsupported(file: file.path, offset: at, what: "bag chunk compression \"\(comp)\"")
            }
            let content = try ChunkCompression.decompress(
                data[...], kind: kind, expected: Int(ROS1BagLog.le(size)), file: file.path, offset: at)
            for rec in try ROS1BagLog.records(in: content, file: file.path, base: at) {
                switch rec.op {
                case 0x07:
                    if let c = try ROS1BagLog.connection(rec, content, file: file.path, base: at) { connections[c.id] = c }
                case 0x02: take(rec, content, at: at)
                default: break
                }
            }
        default:
            break
        }
    }
}
