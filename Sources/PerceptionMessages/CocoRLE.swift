/// COCO run-length encoding as pycocotools writes it: runs over pixels in column-major order, starting with a
/// run of zeros, serialised in the compressed string form (`maskApi.c` rleToString).
public enum CocoRLE {
    /// Why an RLE could not be turned back into a mask.
    public enum DecodeError: Error, Equatable, CustomStringConvertible {
        case badSize([Int])
        case badCharacter(offset: Int)
        case countOverflow(offset: Int)
        case negativeCount(index: Int)
        case lengthMismatch(expected: Int, got: Int)

        public var description: String {
            switch self {
            case .badSize(let s): return "RLE size \(s) is not [height, width] with non-negative sides"
            case .badCharacter(let o): return "RLE counts has an invalid character at offset \(o)"
            case .countOverflow(let o): return "RLE count at offset \(o) does not fit in 64 bits"
            case .negativeCount(let i): return "RLE run \(i) is negative"
            case .lengthMismatch(let e, let g): return "RLE runs cover \(g) pixels, size needs \(e)"
            }
        }
    }

    /// Run lengths in column-major order, first run counting zeros (possibly 0).
    public static func runs(of mask: BinaryMask) -> [Int] {
        var runs: [Int] = []
        var current: UInt8 = 0
        var length = 0
        for x in 0..<mask.width {
            for y in 0..<mask.height {
                let v = mask.pixels[y * mask.width + x]
                if v != current {
                    runs.append(length)
                    length = 0
                    current = v
                }
                length += 1
            }
        }
        runs.append(length)
        return runs
    }

    /// The compressed counts string for `mask` (pycocotools `mask.encode(...)["counts"]`).
    public static func encode(_ mask: BinaryMask) -> String {
        string(fromRuns: runs(of: mask))
    }

    public static func string(fromRuns runs: [Int]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(runs.count * 2)
        for i in 0..<runs.count {
            var x = Int64(runs[i])
            if i > 2 { x -= Int64(runs[i - 2]) }
            var more = true
            while more {
                var c = UInt8(truncatingIfNeeded: x & 0x1f)
                x >>= 5
                more = (c & 0x10) != 0 ? x != -1 : x != 0
                if more { c |= 0x20 }
                out.append(c + 48)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses a compressed counts string into run lengths.
    public static func runs(fromString counts: String) throws(DecodeError) -> [Int] {
        var runs: [Int] = []
        let bytes = Array(counts.utf8)
        var p = 0
        while p < bytes.count {
            var x: Int64 = 0
            var k = 0
            var more = true
            while more {
                guard p < bytes.count else { throw .badCharacter(offset: p) }
                let ch = bytes[p]
                guard ch >= 48, ch <= 111 else { throw .badCharacter(offset: p) }
                let c = Int64(ch - 48)
                guard k < 13 else { throw .countOverflow(offset: p) }
                x |= (c & 0x1f) << (5 * Int64(k))
                more = (c & 0x20) != 0
                p += 1
                k += 1
                if !more && (c & 0x10) != 0 {
                    x |= k < 13 ? (-1 << (5 * Int64(k))) : 0
                }
            }
            if runs.count > 2 {
                let (sum, overflow) = x.addingReportingOverflow(Int64(runs[runs.count - 2]))
                guard !overflow else { throw .countOverflow(offset: p) }
                x = sum
            }
            guard x >= 0 else { throw .negativeCount(index: runs.count) }
            runs.append(Int(x))
        }
        return runs
    }

    /// Rebuilds the mask of size `height` x `width` from a compressed counts string.
    public static func decode(counts: String, height: Int, width: Int) throws(DecodeError) -> BinaryMask {
        guard height >= 0, width >= 0, height.multipliedReportingOverflow(by: width).overflow == false else {
            throw .badSize([height, width])
        }
        let runs = try runs(fromString: counts)
        var total = 0
        for r in runs {
            let (s, o) = total.addingReportingOverflow(r)
            guard !o else { throw .lengthMismatch(expected: height * width, got: Int.max) }
            total = s
        }
        guard total == height * width else { throw .lengthMismatch(expected: height * width, got: total) }
        var mask = BinaryMask(width: width, height: height)
        var index = 0
        var value = false
        for r in runs {
            if value {
                for i in index..<(index + r) {
                    let x = i / max(height, 1), y = i % max(height, 1)
                    mask[x, y] = true
                }
            }
            index += r
            value.toggle()
        }
        return mask
    }
}
