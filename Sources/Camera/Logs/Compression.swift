import CLZ4
import CZstd

/// Chunk compressions shared by MCAP (`""`, `zstd`, `lz4`) and ROS 1 bags (`none`, `lz4`); lz4 is the LZ4 frame
/// format in both.
public enum ChunkCompression: String, Sendable, CaseIterable {
    case none = ""
    case zstd
    case lz4

    /// Largest decompressed chunk accepted (a lying size field must not allocate gigabytes).
    static let maxChunkBytes = 1 << 30

    /// Decompresses `src`, which must expand to exactly `expected` bytes. The output grows with what the decoder
    /// actually produces, so a lying `expected` costs nothing.
    static func decompress(
        _ src: ArraySlice<UInt8>, kind: ChunkCompression, expected: Int, file: String, offset: Int
    ) throws -> [UInt8] {
        guard expected >= 0, expected <= maxChunkBytes else {
            throw LogError.corrupt(file: file, offset: offset, reason: "chunk claims \(expected) uncompressed bytes")
        }
        switch kind {
        case .none:
            guard src.count == expected else {
                throw LogError.corrupt(
                    file: file, offset: offset, reason: "uncompressed chunk of \(src.count) bytes claims \(expected)")
            }
            return Array(src)
        case .zstd: return try zstdDecompress(src, expected: expected, file: file, offset: offset)
        case .lz4: return try lz4Decompress(src, expected: expected, file: file, offset: offset)
        }
    }

    private static func initialCapacity(_ expected: Int, _ compressed: Int) -> Int {
        max(1, min(expected, compressed.multipliedReportingOverflow(by: 8).partialValue &+ 65536))
    }

    private static func zstdDecompress(_ src: ArraySlice<UInt8>, expected: Int, file: String, offset: Int) throws
        -> [UInt8]
    {
        guard let ctx = ZSTD_createDStream() else {
            throw LogError.corrupt(file: file, offset: offset, reason: "zstd: out of memory")
        }
        defer { ZSTD_freeDStream(ctx) }
        ZSTD_initDStream(ctx)
        var out = [UInt8](repeating: 0, count: initialCapacity(expected, src.count))
        var produced = 0
        var finished = false
        try src.withUnsafeBytes { inRaw in
            var input = ZSTD_inBuffer(src: inRaw.baseAddress, size: inRaw.count, pos: 0)
            while true {
                if produced == out.count {
                    guard out.count < expected else { break }
                    out.append(contentsOf: repeatElement(0, count: min(out.count, expected - out.count)))
                }
                let ret = out.withUnsafeMutableBytes { outRaw -> Int in
                    var output = ZSTD_outBuffer(dst: outRaw.baseAddress, size: outRaw.count, pos: produced)
                    let r = ZSTD_decompressStream(ctx, &output, &input)
                    produced = output.pos
                    return r
                }
                if ZSTD_isError(ret) != 0 {
                    let name = String(cString: ZSTD_getErrorName(ret))
                    throw LogError.corrupt(file: file, offset: offset, reason: "zstd: \(name)")
                }
                if ret == 0 {
                    finished = true
                    break
                }
                if input.pos == input.size && produced < out.count { break }
            }
        }
        guard finished, produced == expected else {
            throw LogError.corrupt(
                file: file, offset: offset, reason: "zstd chunk gave \(produced) bytes, expected \(expected)")
        }
        return out
    }

    private static func lz4Decompress(_ src: ArraySlice<UInt8>, expected: Int, file: String, offset: Int) throws
        -> [UInt8]
    {
        var dctx: OpaquePointer?
        guard LZ4F_isError(LZ4F_createDecompressionContext(&dctx, UInt32(LZ4F_VERSION))) == 0, let ctx = dctx else {
            throw LogError.corrupt(file: file, offset: offset, reason: "lz4: cannot create context")
        }
        defer { LZ4F_freeDecompressionContext(ctx) }
        var out = [UInt8](repeating: 0, count: initialCapacity(expected, src.count))
        var produced = 0
        var consumed = 0
        var finished = false
        try src.withUnsafeBytes { inRaw in
            guard let inBase = inRaw.baseAddress else { return }
            while true {
                if produced == out.count {
                    guard out.count < expected else { break }
                    out.append(contentsOf: repeatElement(0, count: min(out.count, expected - out.count)))
                }
                var dstSize = out.count - produced
                var srcSize = inRaw.count - consumed
                let step = out.withUnsafeMutableBytes { outRaw -> Int? in
                    guard let o = outRaw.baseAddress else { return nil }
                    return LZ4F_decompress(ctx, o + produced, &dstSize, inBase + consumed, &srcSize, nil)
                }
                guard let ret = step else { break }
                if LZ4F_isError(ret) != 0 {
                    throw LogError.corrupt(
                        file: file, offset: offset, reason: "lz4: \(String(cString: LZ4F_getErrorName(ret)))")
                }
                produced += dstSize
                consumed += srcSize
                if ret == 0 {
                    finished = true
                    break
                }
                if dstSize == 0 && srcSize == 0 { break }
            }
        }
        guard finished, produced == expected else {
            throw LogError.corrupt(
                file: file, offset: offset, reason: "lz4 chunk gave \(produced) bytes, expected \(expected)")
        }
        return out
    }

    /// Compresses a chunk for writing.
    static func compress(_ src: [UInt8], kind: ChunkCompression, level: Int32 = 3) -> [UInt8]? {
        switch kind {
        case .none: return src
        case .zstd:
            let bound = ZSTD_compressBound(src.count)
            var out = [UInt8](repeating: 0, count: bound)
            let n = out.withUnsafeMutableBytes { o in
                src.withUnsafeBytes { i in ZSTD_compress(o.baseAddress, o.count, i.baseAddress, i.count, level) }
            }
            guard ZSTD_isError(n) == 0 else { return nil }
            out.removeLast(out.count - n)
            return out
        case .lz4:
            let bound = LZ4F_compressFrameBound(src.count, nil)
            var out = [UInt8](repeating: 0, count: bound)
            let n = out.withUnsafeMutableBytes { o in
                src.withUnsafeBytes { i in LZ4F_compressFrame(o.baseAddress, o.count, i.baseAddress, i.count, nil) }
            }
            guard LZ4F_isError(n) == 0 else { return nil }
            out.removeLast(out.count - n)
            return out
        }
    }
}
