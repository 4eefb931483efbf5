import CPNG
import CTurboJPEG
import Foundation

/// PNG and JPEG decoding and encoding through libpng's simplified API and libjpeg-turbo.
///
/// Decoding matches what the reference pipelines see after PIL's `Image.open(...).convert("RGB")`:
/// libjpeg-turbo with its default (accurate integer DCT, fancy upsampling) as Pillow uses it, and alpha
/// dropped rather than composited. Known difference: libpng's simplified API applies a PNG file's own
/// gAMA/cHRM to reach sRGB where PIL ignores them; 16-bit PNGs are reduced to their high byte as PIL does.
public enum ImageCodec {
    /// Upper bound on decoded pixels (64 megapixels) so a lying header cannot make us allocate gigabytes.
    public static let maxPixels = 64 << 20

    /// Decodes PNG or JPEG (chosen by magic bytes) to RGB.
    public static func decode(_ data: [UInt8]) throws -> RGBImage {
        if isPNG(data) { return try decodePNG(data) }
        if isJPEG(data) { return try decodeJPEG(data) }
        throw ImagingError.unsupportedFormat("not a PNG or JPEG stream (\(data.count) bytes)")
    }

    /// Reads and decodes an image file.
    public static func load(path: String) throws -> RGBImage {
        guard let contents = FileManager.default.contents(atPath: path) else {
            throw ImagingError.io(path: path, message: "cannot read file")
        }
        do {
            return try decode([UInt8](contents))
        } catch let error as ImagingError {
            throw ImagingError.io(path: path, message: error.description)
        }
    }

    public static func isPNG(_ data: [UInt8]) -> Bool {
        data.count >= 8 && data[0] == 0x89 && data[1] == 0x50 && data[2] == 0x4E && data[3] == 0x47
    }

    public static func isJPEG(_ data: [UInt8]) -> Bool {
        data.count >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF
    }

    // MARK: JPEG

    public static func decodeJPEG(_ data: [UInt8]) throws -> RGBImage {
        guard let handle = tjInitDecompress() else { throw ImagingError.decodeFailed("tjInitDecompress failed") }
        defer { tjDestroy(handle) }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let headerOK = data.withUnsafeBufferPointer { buf in
            tjDecompressHeader3(handle, buf.baseAddress, UInt(buf.count), &width, &height, &subsampling, &colorspace)
        }
        guard headerOK == 0 else { throw ImagingError.decodeFailed("JPEG header: \(errorString(handle))") }
        try checkSize(Int(width), Int(height))
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * 3)
        let status = data.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(
                    handle, src.baseAddress, UInt(src.count), dst.baseAddress, width, width * 3, height,
                    Int32(TJPF_RGB.rawValue), 0)
            }
        }
        // A warning (e.g. premature end of data) still yields an image libjpeg-turbo filled as far as it got;
        // Pillow raises on truncated JPEGs by default, so we treat every failure as an error.
        guard status == 0 else { throw ImagingError.decodeFailed("JPEG: \(errorString(handle))") }
        return try RGBImage(width: Int(width), height: Int(height), pixels: pixels)
    }

    /// Encodes with 4:2:0 chroma subsampling (the libjpeg / Pillow default). `quality` is 1...100.
    public static func encodeJPEG(_ image: RGBImage, quality: Int = 90) throws -> [UInt8] {
        guard let handle = tjInitCompress() else { throw ImagingError.encodeFailed("tjInitCompress failed") }
        defer { tjDestroy(handle) }
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let q = Int32(min(100, max(1, quality)))
        let status = image.pixels.withUnsafeBufferPointer { src in
            tjCompress2(
                handle, src.baseAddress, Int32(image.width), Int32(image.width * 3), Int32(image.height),
                Int32(TJPF_RGB.rawValue), &out, &size, Int32(TJSAMP_420.rawValue), q, 0)
        }
        defer { if let out { tjFree(out) } }
        guard status == 0, let out else { throw ImagingError.encodeFailed("JPEG: \(errorString(handle))") }
        return [UInt8](UnsafeBufferPointer(start: out, count: Int(size)))
    }

    private static func errorString(_ handle: tjhandle) -> String {
        guard let message = tjGetErrorStr2(handle) else { return "unknown error" }
        return String(cString: message)
    }

    // MARK: PNG

    public static func decodePNG(_ data: [UInt8]) throws -> RGBImage {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        let begun = data.withUnsafeBytes { buf in
            png_image_begin_read_from_memory(&image, buf.baseAddress, buf.count)
        }
        guard begun != 0 else { throw ImagingError.decodeFailed("PNG: \(pngMessage(&image))") }
        defer { png_image_free(&image) }
        let width = Int(image.width), height = Int(image.height)
        try checkSize(width, height)
        let sixteenBit = image.format & UInt32(PNG_FORMAT_FLAG_LINEAR) != 0
        if sixteenBit {
            // Linear 16-bit RGBA comes back premultiplied; undo that and keep the high byte, as PIL does.
            image.format = UInt32(PNG_FORMAT_FLAG_LINEAR | PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)
            var wide = [UInt16](repeating: 0, count: width * height * 4)
            let ok = wide.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
            guard ok != 0 else { throw ImagingError.decodeFailed("PNG: \(pngMessage(&image))") }
            var pixels = [UInt8](repeating: 0, count: width * height * 3)
            for i in 0..<(width * height) {
                let alpha = UInt32(wide[i * 4 + 3])
                for c in 0..<3 {
                    var v = UInt32(wide[i * 4 + c])
                    if alpha > 0 && alpha < 65535 { v = min(65535, (v * 65535 + alpha / 2) / alpha) }
                    pixels[i * 3 + c] = UInt8(v >> 8)
                }
            }
            return try RGBImage(width: width, height: height, pixels: pixels)
        }
        image.format = UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)
        var rgba = [UInt8](repeating: 0, count: width * height * 4)
        let ok = rgba.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        guard ok != 0 else { throw ImagingError.decodeFailed("PNG: \(pngMessage(&image))") }
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        rgba.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                for i in 0..<(width * height) {
                    dst[i * 3] = src[i * 4]
                    dst[i * 3 + 1] = src[i * 4 + 1]
                    dst[i * 3 + 2] = src[i * 4 + 2]
                }
            }
        }
        return try RGBImage(width: width, height: height, pixels: pixels)
    }

    /// Decodes a PNG to 8-bit grayscale (e.g. a mask); colour images are converted to luminance by libpng.
    public static func decodeGray(_ data: [UInt8]) throws -> (width: Int, height: Int, pixels: [UInt8]) {
        guard isPNG(data) else { throw ImagingError.unsupportedFormat("decodeGray reads PNG only") }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        let begun = data.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard begun != 0 else { throw ImagingError.decodeFailed("PNG: \(pngMessage(&image))") }
        defer { png_image_free(&image) }
        let width = Int(image.width), height = Int(image.height)
        try checkSize(width, height)
        image.format = 0  // PNG_FORMAT_GRAY
        var pixels = [UInt8](repeating: 0, count: width * height)
        let ok = pixels.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        guard ok != 0 else { throw ImagingError.decodeFailed("PNG: \(pngMessage(&image))") }
        return (width, height, pixels)
    }

    public static func encodePNG(_ image: RGBImage) throws -> [UInt8] {
        try encodePNG(width: image.width, height: image.height, format: UInt32(PNG_FORMAT_FLAG_COLOR), pixels: image.pixels)
    }

    /// Encodes 8-bit grayscale (masks: 0/255 or label values).
    public static func encodePNGGray(width: Int, height: Int, pixels: [UInt8]) throws -> [UInt8] {
        guard width > 0, height > 0, pixels.count == width * height else {
            throw ImagingError.bufferSizeMismatch(expected: max(0, width * height), actual: pixels.count)
        }
        return try encodePNG(width: width, height: height, format: 0, pixels: pixels)
    }

    private static func encodePNG(width: Int, height: Int, format: UInt32, pixels: [UInt8]) throws -> [UInt8] {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = format
        var size = 0
        let sized = pixels.withUnsafeBytes { png_image_write_to_memory(&image, nil, &size, 0, $0.baseAddress, 0, nil) }
        guard sized != 0, size > 0 else { throw ImagingError.encodeFailed("PNG: \(pngMessage(&image))") }
        var out = [UInt8](repeating: 0, count: size)
        let written = out.withUnsafeMutableBytes { dst in
            pixels.withUnsafeBytes { png_image_write_to_memory(&image, dst.baseAddress, &size, 0, $0.baseAddress, 0, nil) }
        }
        guard written != 0 else { throw ImagingError.encodeFailed("PNG: \(pngMessage(&image))") }
        return Array(out.prefix(size))
    }

    private static func pngMessage(_ image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            let bytes = raw.prefix(while: { $0 != 0 })
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    private static func checkSize(_ width: Int, _ height: Int) throws {
        guard width > 0, height > 0, width <= 1 << 15, height <= 1 << 15, width * height <= maxPixels else {
            throw ImagingError.invalidDimensions(width: width, height: height)
        }
    }
}
