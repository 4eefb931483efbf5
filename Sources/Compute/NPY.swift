import Foundation

/// Reads and writes NumPy `.npy` files (version 1.0/2.0, little-endian float32/float64/int/bool, C order),
/// used for debug dumps (`--dump-dir`) and to load reference fixtures in tests.
public enum NPY {
    /// Serializes a float32 array as `.npy` bytes.
    public static func encode(_ values: UnsafeBufferPointer<Float>, shape: [Int]) -> [UInt8] {
        encodeRaw(UnsafeRawBufferPointer(values), descr: "<f4", shape: shape)
    }

    /// Serializes raw little-endian elements (`descr` e.g. "<f4", "|u1") as `.npy` bytes.
    public static func encodeRaw(_ bytes: UnsafeRawBufferPointer, descr: String, shape: [Int]) -> [UInt8] {
        let shapeText = shape.isEmpty ? "()" : (shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")")
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        let len = header.utf8.count
        out += [UInt8(len & 0xff), UInt8(len >> 8)]
        out += Array(header.utf8)
        out += Array(bytes)
        return out
    }

    /// Writes a float32 tensor to `path`.
    public static func write(_ tensor: Tensor, to path: String) throws {
        let data: [UInt8]
        switch tensor.elementType {
        case .float32: data = encode(UnsafeBufferPointer(start: tensor.floats, count: tensor.count), shape: tensor.shape)
        case .bfloat16:
            let f = tensor.toArray()
            data = f.withUnsafeBufferPointer { encode($0, shape: tensor.shape) }
        }
        try writeBytes(data, to: path)
    }

    /// Writes raw bytes (`descr` names the element type) to `path`.
    public static func write(bytes: [UInt8], descr: String, shape: [Int], to path: String) throws {
        let data = bytes.withUnsafeBytes { encodeRaw($0, descr: descr, shape: shape) }
        try writeBytes(data, to: path)
    }

    private static func writeBytes(_ data: [UInt8], to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(data)) else {
            throw ComputeError.npy(path: path, message: "cannot write file")
        }
    }

    /// Reads an `.npy` file; float16/32/64, int8-64, uint8 and bool are widened to Float.
    public static func read(path: String) throws -> NPYArray {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ComputeError.npy(path: path, message: "cannot read file")
        }
        return try decode([UInt8](data), path: path)
    }

    public static func decode(_ b: [UInt8], path: String = "<memory>") throws -> NPYArray {
        guard b.count >= 10, b[0] == 0x93, b[1...5].elementsEqual("NUMPY".utf8) else {
            throw ComputeError.npy(path: path, message: "not an .npy file")
        }
        let major = b[6]
        let (hlen, start): (Int, Int)
        if major == 1 {
            hlen = Int(b[8]) | Int(b[9]) << 8
            start = 10
        } else {
            guard b.count >= 12 else { throw ComputeError.npy(path: path, message: "truncated header") }
            hlen = Int(b[8]) | Int(b[9]) << 8 | Int(b[10]) << 16 | Int(b[11]) << 24
            start = 12
        }
        guard start + hlen <= b.count, let header = String(bytes: b[start..<(start + hlen)], encoding: .utf8) else {
            throw ComputeError.npy(path: path, message: "truncated header")
        }
        guard let descr = field(header, "descr").map({ $0.trimmingCharacters(in: CharacterSet(charactersIn: "'\" ")) }),
              let shapeText = shapeField(header) else {
            throw ComputeError.npy(path: path, message: "bad header \(header)")
        }
        if header.contains("'fortran_order': True") { throw ComputeError.npy(path: path, message: "fortran order not supported") }
        let shape = try shapeText.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map { s -> Int in
            guard let v = Int(s), v >= 0 else { throw ComputeError.npy(path: path, message: "bad shape \(shapeText)") }
            return v
        }
        let count = shape.reduce(1, *)
        let body = start + hlen
        let kinds: [String: Int] = ["<f4": 4, "<f8": 8, "<f2": 2, "|u1": 1, "|b1": 1, "|i1": 1, "<i2": 2, "<i4": 4, "<i8": 8, "<u2": 2, "<u4": 4]
        guard let size = kinds[descr] else { throw ComputeError.npy(path: path, message: "unsupported dtype \(descr)") }
        guard body + count * size <= b.count else { throw ComputeError.npy(path: path, message: "truncated data") }
        var values = [Float](repeating: 0, count: count)
        b.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            let p = base + body
            for i in 0..<count {
                let q = p + i * size
                switch descr {
                case "<f4": values[i] = q.loadUnaligned(as: Float.self)
                case "<f8": values[i] = Float(q.loadUnaligned(as: Double.self))
                case "<f2": values[i] = Float(halfBits: q.loadUnaligned(as: UInt16.self))
                case "|u1", "|b1": values[i] = Float(q.load(as: UInt8.self))
                case "|i1": values[i] = Float(q.load(as: Int8.self))
                case "<i2": values[i] = Float(q.loadUnaligned(as: Int16.self))
                case "<i4": values[i] = Float(q.loadUnaligned(as: Int32.self))
                case "<i8": values[i] = Float(q.loadUnaligned(as: Int64.self))
                case "<u2": values[i] = Float(q.loadUnaligned(as: UInt16.self))
                default: values[i] = Float(q.loadUnaligned(as: UInt32.self))
                }
            }
        }
        return NPYArray(shape: shape, descr: descr, values: values)
    }

    private static func field(_ header: String, _ key: String) -> String? {
        guard let r = header.range(of: "'\(key)':") else { return nil }
        let rest = header[r.upperBound...]
        guard let end = rest.firstIndex(of: ",") else { return nil }
        return String(rest[..<end])
    }

    private static func shapeField(_ header: String) -> String? {
        guard let r = header.range(of: "'shape':") else { return nil }
        let rest = header[r.upperBound...]
        guard let open = rest.firstIndex(of: "("), let close = rest.firstIndex(of: ")") else { return nil }
        return String(rest[rest.index(after: open)..<close])
    }
}

extension Float {
    /// IEEE half bits to Float.
    init(halfBits h: UInt16) {
        let sign = UInt32(h >> 15) << 31
        let exp = Int((h >> 10) & 0x1f)
        let mant = UInt32(h & 0x3ff)
        if exp == 0 {
            let v = Float(mant) * Float(sign == 0 ? 1 : -1) / Float(1 << 24)
            self = v
        } else if exp == 31 {
            self = Float(bitPattern: sign | 0x7f80_0000 | (mant << 13))
        } else {
            self = Float(bitPattern: sign | UInt32(exp + 112) << 23 | (mant << 13))
        }
    }
}

/// A decoded `.npy` array: values widened to Float (integers and bools converted), with its shape and dtype.
public struct NPYArray: Sendable {
    public let shape: [Int]
    public let descr: String
    public let values: [Float]

    /// The values as a float32 tensor of the file's shape.
    public func tensor() throws -> Tensor { try Tensor(values, shape: shape) }
}
