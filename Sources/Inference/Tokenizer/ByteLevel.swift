/// GPT-2's reversible byte↔unicode table: byte-level BPE vocabularies spell every byte as one printable scalar.
public enum ByteLevel {
    /// The scalar that stands for each byte value.
    public static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable =
                (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                table[byte] = Unicode.Scalar(next) ?? " "
                next += 1
            }
        }
        return table
    }()

    /// The inverse table indexed by scalar value (all table scalars are below 324); -1 where no byte maps.
    private static let byteForScalarValue: [Int16] = {
        var inverse = [Int16](repeating: -1, count: 512)
        for (byte, scalar) in scalarForByte.enumerated() { inverse[Int(scalar.value)] = Int16(byte) }
        return inverse
    }()

    /// The byte a vocabulary scalar stands for, or nil when it is outside the table.
    @inline(__always)
    public static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        guard scalar.value < 512 else { return nil }
        let byte = byteForScalarValue[Int(scalar.value)]
        return byte < 0 ? nil : UInt8(byte)
    }

    /// The raw bytes a vocabulary entry spells, or nil when it contains a scalar outside the table.
    public static func bytes(ofToken token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.utf8.count)
        for scalar in token.unicodeScalars {
            guard let byte = byte(for: scalar) else { return nil }
            out.append(byte)
        }
        return out
    }

    /// The vocabulary spelling of raw bytes.
    public static func token(ofBytes bytes: some Sequence<UInt8>) -> String {
        var view = String.UnicodeScalarView()
        for byte in bytes { view.append(scalarForByte[Int(byte)]) }
        return String(view)
    }
}
