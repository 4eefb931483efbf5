/// An 8-bit RGB image, rows top to bottom, pixels interleaved R,G,B, no row padding.
///
/// This is the one pixel type that crosses module boundaries: camera sources produce it, the models'
/// image processors consume it. Other layouts (mono16, YUYV, BGR) are converted at the source.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// `width * height * 3` bytes.
    public var pixels: [UInt8]

    /// Wraps existing pixels; fails when the buffer size does not match the dimensions.
    public init(width: Int, height: Int, pixels: [UInt8]) throws {
        guard width > 0, height > 0, width <= 1 << 15, height <= 1 << 15 else {
            throw ImagingError.invalidDimensions(width: width, height: height)
        }
        guard pixels.count == width * height * 3 else {
            throw ImagingError.bufferSizeMismatch(expected: width * height * 3, actual: pixels.count)
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A black image.
    public init(width: Int, height: Int) throws {
        try self.init(width: width, height: height, pixels: [UInt8](repeating: 0, count: max(0, width * height * 3)))
    }

    @inlinable public subscript(x: Int, y: Int, channel: Int) -> UInt8 {
        get { pixels[(y * width + x) * 3 + channel] }
        set { pixels[(y * width + x) * 3 + channel] = newValue }
    }
}

/// Errors from image construction, decoding and encoding.
public enum ImagingError: Error, Equatable, CustomStringConvertible {
    case invalidDimensions(width: Int, height: Int)
    case bufferSizeMismatch(expected: Int, actual: Int)
    case unsupportedFormat(String)
    case decodeFailed(String)
    case encodeFailed(String)
    case io(path: String, message: String)

    public var description: String {
        switch self {
        case let .invalidDimensions(w, h): return "invalid image dimensions \(w)x\(h)"
        case let .bufferSizeMismatch(e, a): return "pixel buffer has \(a) bytes, expected \(e)"
        case let .unsupportedFormat(s): return "unsupported image format: \(s)"
        case let .decodeFailed(s): return "image decode failed: \(s)"
        case let .encodeFailed(s): return "image encode failed: \(s)"
        case let .io(p, m): return "\(p): \(m)"
        }
    }
}
