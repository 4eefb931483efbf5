import Imaging

/// Converts camera and log pixel layouts (YUYV, UYVY, GREY, mono16, BGR, RGBA, padded RGB) to `RGBImage`.
///
/// Every converter takes the source bytes, the image size and the source row stride (`bytesPerLine`, 0 means
/// tightly packed), checks that the buffer is large enough, and never reads past it. YUV is decoded with the
/// BT.601 matrix (Kr 0.299, Kb 0.114), limited ("studio") range by default as V4L2 defines for YUV formats:
/// Y 16…235 and Cb/Cr 16…240 map to RGB 0…255. Full range (JFIF) is available for devices that report it.
public enum PixelConversion {
    /// Quantization of the Y'CbCr input.
    public enum YCbCrRange: Sendable {
        /// Y 16…235, Cb/Cr 16…240 (`V4L2_QUANTIZATION_LIM_RANGE`, the V4L2 default for Y'CbCr).
        case limited
        /// Y, Cb, Cr 0…255 (`V4L2_QUANTIZATION_FULL_RANGE`, JFIF).
        case full
    }

    /// Byte order of the 4:2:2 packed input.
    enum PackedYUVOrder {
        case yuyv, uyvy
    }

    // MARK: Y'CbCr 4:2:2

    /// YUYV (`Y0 U Y1 V`, V4L2 `YUYV`, ROS `yuyv`/`yuv422_yuy2`) to RGB.
    public static func yuyvToRGB(
        _ src: UnsafeRawBufferPointer, width: Int, height: Int, bytesPerLine: Int = 0, range: YCbCrRange = .limited
    ) throws -> RGBImage {
        try packedYUVToRGB(src, width: width, height: height, bytesPerLine: bytesPerLine, range: range, order: .yuyv)
    }

    /// UYVY (`U Y0 V Y1`, V4L2 `UYVY`, ROS `uyvy`/`yuv422`) to RGB.
    public static func uyvyToRGB(
        _ src: UnsafeRawBufferPointer, width: Int, height: Int, bytesPerLine: Int = 0, range: YCbCrRange = .limited
    ) throws -> RGBImage {
        try packedYUVToRGB(src, width: width, height: height, bytesPerLine: bytesPerLine, range: range, order: .uyvy)
    }

    public static func yuyvToRGB(
        _ src: [UInt8], width: Int, height: Int, bytesPerLine: Int = 0, range: YCbCrRange = .limited
    ) throws -> RGBImage {
        try src.withUnsafeBytes {
            try yuyvToRGB($0, width: width, height: height, bytesPerLine: bytesPerLine, range: range)
        }
    }

    public static func uyvyToRGB(
        _ src: [UInt8], width: Int, height: Int, bytesPerLine: Int = 0, range: YCbCrRange = .limited
    ) throws -> RGBImage {
        try src.withUnsafeBytes {
            try uyvyToRGB($0, width: width, height: height, bytesPerLine: bytesPerLine, range: range)
        }
    }

    // MARK: Gray

    /// 8-bit gray (V4L2 `GREY`, ROS `mono8`) to RGB by replicating the value.
    public static func greyToRGB(_ src: UnsafeRawBufferPointer, width: Int, height: Int, bytesPerLine: Int = 0)
        throws -> RGBImage
    {
        let stride = try checkedStride(
            src, width: width, height: height, bytesPerLine: bytesPerLine, bytesPerPixel: 1, what: "GREY")
        var out = [UInt8](repeating: 0, count: width * height * 3)
        out.withUnsafeMutableBufferPointer { dst in
            guard let d = dst.baseAddress, let s = src.baseAddress else { return }
            for y in 0..<height {
                greyRow(s + y * stride, d + y * width * 3, width: width)
            }
        }
        return try RGBImage(width: width, height: height, pixels: out)
    }

    public static func greyToRGB(_ src: [UInt8], width: Int, height: Int, bytesPerLine: Int = 0) throws -> RGBImage {
        try src.withUnsafeBytes { try greyToRGB($0, width: width, height: height, bytesPerLine: bytesPerLine) }
    }

    /// 16-bit gray (V4L2 `Y16`, ROS `mono16`) to RGB, keeping the high byte (`v >> 8`), as a linear 16→8 bit
    /// reduction; `bigEndian` follows the ROS `is_bigendian` field (V4L2 `Y16` is little-endian).
    public static func mono16ToRGB(
        _ src: UnsafeRawBufferPointer, width: Int, height: Int, bytesPerLine: Int = 0, bigEndian: Bool = false
    ) throws -> RGBImage {
        let stride = try checkedStride(
            src, width: width, height: height, bytesPerLine: bytesPerLine, bytesPerPixel: 2, what: "mono16")
        let highByte = bigEndian ? 0 : 1
        var out = [UInt8](repeating: 0, count: width * height * 3)
        out.withUnsafeMutableBufferPointer { dst in
            guard let d = dst.baseAddress, let base = src.baseAddress else { return }
            let s8 = base.assumingMemoryBound(to: UInt8.self)
            for y in 0..<height {
                let row = s8 + y * stride
                let o = d + y * width * 3
                for x in 0..<width {
                    let v = row[2 * x + highByte]
                    o[3 * x] = v
                    o[3 * x + 1] = v
                    o[3 * x + 2] = v
                }
            }
        }
        return try RGBImage(width: width, height: height, pixels: out)
    }

    public static func mono16ToRGB(
        _ src: [UInt8], width: Int, height: Int, bytesPerLine: Int = 0, bigEndian: Bool = false
    )
        throws -> RGBImage
    {
        try src.withUnsafeBytes {
            try mono16ToRGB($0, width: width, height: height, bytesPerLine: bytesPerLine, bigEndian: bigEndian)
        }
    }

    // MARK: Packed RGB variants

    /// RGB with a row stride (V4L2 `RGB3`, ROS `rgb8`) to tightly packed RGB.
    public static func rgb24ToRGB(_ src: UnsafeRawBufferPointer, width: Int, height: Int, bytesPerLine: Int = 0)
        throws -> RGBImage
    {
        try channelMap(
            src, width: width, height: height, bytesPerLine: bytesPerLine, bytesPerPixel: 3, map: (0, 1, 2),
            what: "rgb8")
    }

    /// BGR (V4L2 `BGR3`, ROS `bgr8`) to RGB.
    public static func bgr8ToRGB(_ src: UnsafeRawBufferPointer, width: Int, height: Int, bytesPerLine: Int = 0)
        throws -> RGBImage
    {
        try channelMap(
            src, width: width, height: height, bytesPerLine: bytesPerLine, bytesPerPixel: 3, map: (2, 1, 0),
            what: "bgr8")
    }

    /// RGBA (ROS `rgba8`) to RGB, alpha dropped (like PIL `convert("RGB")`).
    public static func rgba8ToRGB(_ src: UnsafeRawBufferPointer, width: Int, height: Int, bytesPerLine: Int = 0)
        throws -> RGBImage
    {
        try channelMap(
            src, width: width, height: height, bytesPerLine: bytesPerLine, bytesPerPixel: 4, map: (0, 1, 2),
            what: "rgba8")
    }

    /// BGRA (ROS `bgra8`) to RGB, alpha dropped.
    public static func bgra8ToRGB(_ src: UnsafeRawBufferPointer, width: Int, height: Int, bytesPerLine: Int = 0)
        throws -> RGBImage
    {
        try channelMap(
            src, width: width, height: height, bytesPerLine: bytesPerLine, bytesPerPixel: 4, map: (2, 1, 0),
            what: "bgra8")
    }

    public static func rgb24ToRGB(_ src: [UInt8], width: Int, height: Int, bytesPerLine: Int = 0) throws -> RGBImage {
        try src.withUnsafeBytes { try rgb24ToRGB($0, width: width, height: height, bytesPerLine: bytesPerLine) }
    }

    public static func bgr8ToRGB(_ src: [UInt8], width: Int, height: Int, bytesPerLine: Int = 0) throws -> RGBImage {
        try src.withUnsafeBytes { try bgr8ToRGB($0, width: width, height: height, bytesPerLine: bytesPerLine) }
    }

    public static func rgba8ToRGB(_ src: [UInt8], width: Int, height: Int, bytesPerLine: Int = 0) throws -> RGBImage {
        try src.withUnsafeBytes { try rgba8ToRGB($0, width: width, height: height, bytesPerLine: bytesPerLine) }
    }

    public static func bgra8ToRGB(_ src: [UInt8], width: Int, height: Int, bytesPerLine: Int = 0) throws -> RGBImage {
        try src.withUnsafeBytes { try bgra8ToRGB($0, width: width, height: height, bytesPerLine: bytesPerLine) }
    }

    // MARK: Internals

    /// Validates the size and returns the effective row stride in bytes.
    static func checkedStride(
        _ src: UnsafeRawBufferPointer, width: Int, height: Int, bytesPerLine: Int, bytesPerPixel: Int, what: String
    ) throws -> Int {
        guard width > 0, height > 0, width <= 1 << 15, height <= 1 << 15 else {
            throw ImagingError.invalidDimensions(width: width, height: height)
        }
        let minStride = width * bytesPerPixel
        let stride = bytesPerLine == 0 ? minStride : bytesPerLine
        guard stride >= minStride else {
            throw ImagingError.unsupportedFormat(
                "\(what): bytesPerLine \(bytesPerLine) < \(minStride) for width \(width)")
        }
        let needed = stride * (height - 1) + minStride
        guard src.count >= needed else {
            throw ImagingError.bufferSizeMismatch(expected: needed, actual: src.count)
        }
        return stride
    }

    static func channelMap(
        _ src: UnsafeRawBufferPointer, width: Int, height: Int, bytesPerLine: Int, bytesPerPixel: Int,
        map: (Int, Int, Int), what: String
    ) throws -> RGBImage {
        let stride = try checkedStride(
            src, width: width, height: height, bytesPerLine: bytesPerLine, bytesPerPixel: bytesPerPixel, what: what)
        var out = [UInt8](repeating: 0, count: width * height * 3)
        out.withUnsafeMutableBufferPointer { dst in
            guard let d = dst.baseAddress, let base = src.baseAddress else { return }
            let s8 = base.assumingMemoryBound(to: UInt8.self)
            if bytesPerPixel == 3 && map == (0, 1, 2) {
                for y in 0..<height {
                    (d + y * width * 3).update(from: s8 + y * stride, count: width * 3)
                }
                return
            }
            for y in 0..<height {
                let row = s8 + y * stride
                let o = d + y * width * 3
                for x in 0..<width {
                    let p = row + x * bytesPerPixel
                    o[3 * x] = p[map.0]
                    o[3 * x + 1] = p[map.1]
                    o[3 * x + 2] = p[map.2]
                }
            }
        }
        return try RGBImage(width: width, height: height, pixels: out)
    }

    /// Fixed-point (16 fractional bits) coefficients of the BT.601 Y'CbCr → R'G'B' matrix for one range.
    struct YUVMatrix {
        let yScale: Int32, yOffset: Int32, rv: Int32, gu: Int32, gv: Int32, bu: Int32

        init(_ range: YCbCrRange) {
            let kr = 0.299
            let kb = 0.114
            let kg = 1 - kr - kb
            let ys: Double
            let cs: Double
            switch range {
            case .limited: (ys, cs, yOffset) = (255.0 / 219.0, 255.0 / 224.0, 16)
            case .full: (ys, cs, yOffset) = (1.0, 1.0, 0)
            }
            func q(_ x: Double) -> Int32 { Int32((x * 65536).rounded()) }
            yScale = q(ys)
            rv = q(2 * (1 - kr) * cs)
            gu = q(2 * (1 - kb) * kb / kg * cs)
            gv = q(2 * (1 - kr) * kr / kg * cs)
            bu = q(2 * (1 - kb) * cs)
        }
    }

    static func packedYUVToRGB(
        _ src: UnsafeRawBufferPointer, width: Int, height: Int, bytesPerLine: Int, range: YCbCrRange,
        order: PackedYUVOrder
    ) throws -> RGBImage {
        let what = order == .yuyv ? "YUYV" : "UYVY"
        // Rows hold whole macropixels (2 pixels in 4 bytes), also for odd widths.
        let pairs = (width + 1) / 2
        guard width > 0, height > 0, width <= 1 << 15, height <= 1 << 15 else {
            throw ImagingError.invalidDimensions(width: width, height: height)
        }
        let minStride = pairs * 4
        let stride = bytesPerLine == 0 ? minStride : bytesPerLine
        guard stride >= minStride else {
            throw ImagingError.unsupportedFormat(
                "\(what): bytesPerLine \(bytesPerLine) < \(minStride) for width \(width)")
        }
        let needed = stride * (height - 1) + minStride
        guard src.count >= needed else { throw ImagingError.bufferSizeMismatch(expected: needed, actual: src.count) }

        let m = YUVMatrix(range)
        var out = [UInt8](repeating: 0, count: width * height * 3)
        out.withUnsafeMutableBufferPointer { dst in
            guard let d = dst.baseAddress, let s = src.baseAddress else { return }
            for y in 0..<height {
                packedYUVRow(s + y * stride, d + y * width * 3, width: width, m: m, order: order)
            }
        }
        return try RGBImage(width: width, height: height, pixels: out)
    }

    /// One row, 16 pixels (32 source bytes) per SIMD step; the tail goes through the same arithmetic on scalars.
    @inline(__always)
    static func packedYUVRow(
        _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<UInt8>, width: Int, m: YUVMatrix, order: PackedYUVOrder
    ) {
        let vectorPixels = width & ~15
        var x = 0
        let ys = SIMD8<Int32>(repeating: m.yScale)
        let yo = SIMD8<Int32>(repeating: m.yOffset)
        let rv = SIMD8<Int32>(repeating: m.rv)
        let gu = SIMD8<Int32>(repeating: m.gu)
        let gv = SIMD8<Int32>(repeating: m.gv)
        let bu = SIMD8<Int32>(repeating: m.bu)
        let half = SIMD8<Int32>(repeating: 32768)
        let c128 = SIMD8<Int32>(repeating: 128)
        let lo = SIMD8<Int32>(repeating: 0)
        let hi = SIMD8<Int32>(repeating: 255)
        while x < vectorPixels {
            let v = src.loadUnaligned(fromByteOffset: x * 2, as: SIMD32<UInt8>.self)
            let luma: SIMD16<UInt8>
            let chroma: SIMD16<UInt8>
            switch order {
            case .yuyv: (luma, chroma) = (v.evenHalf, v.oddHalf)
            case .uyvy: (luma, chroma) = (v.oddHalf, v.evenHalf)
            }
            // Pixel 2i uses luma.evenHalf[i], pixel 2i+1 luma.oddHalf[i]; both share chroma pair i.
            let u = SIMD8<Int32>(truncatingIfNeeded: chroma.evenHalf) &- c128
            let w = SIMD8<Int32>(truncatingIfNeeded: chroma.oddHalf) &- c128
            let cr = rv &* w &+ half
            let cg = half &- gu &* u &- gv &* w
            let cb = bu &* u &+ half
            let y0 = ys &* (SIMD8<Int32>(truncatingIfNeeded: luma.evenHalf) &- yo)
            let y1 = ys &* (SIMD8<Int32>(truncatingIfNeeded: luma.oddHalf) &- yo)
            let r0 = ((y0 &+ cr) &>> 16).clamped(lowerBound: lo, upperBound: hi)
            let g0 = ((y0 &+ cg) &>> 16).clamped(lowerBound: lo, upperBound: hi)
            let b0 = ((y0 &+ cb) &>> 16).clamped(lowerBound: lo, upperBound: hi)
            let r1 = ((y1 &+ cr) &>> 16).clamped(lowerBound: lo, upperBound: hi)
            let g1 = ((y1 &+ cg) &>> 16).clamped(lowerBound: lo, upperBound: hi)
            let b1 = ((y1 &+ cb) &>> 16).clamped(lowerBound: lo, upperBound: hi)
            let o = dst + x * 3
            for i in 0..<8 {
                o[6 * i] = UInt8(truncatingIfNeeded: r0[i])
                o[6 * i + 1] = UInt8(truncatingIfNeeded: g0[i])
                o[6 * i + 2] = UInt8(truncatingIfNeeded: b0[i])
                o[6 * i + 3] = UInt8(truncatingIfNeeded: r1[i])
                o[6 * i + 4] = UInt8(truncatingIfNeeded: g1[i])
                o[6 * i + 5] = UInt8(truncatingIfNeeded: b1[i])
            }
            x += 16
        }
        let s = src.assumingMemoryBound(to: UInt8.self)
        while x < width {
            let p = s + (x / 2) * 4
            let (yA, yB, cu, cv): (UInt8, UInt8, UInt8, UInt8)
            switch order {
            case .yuyv: (yA, cu, yB, cv) = (p[0], p[1], p[2], p[3])
            case .uyvy: (cu, yA, cv, yB) = (p[0], p[1], p[2], p[3])
            }
            let u = Int32(cu) - 128
            let w = Int32(cv) - 128
            let cr = m.rv * w + 32768
            let cg = 32768 - m.gu * u - m.gv * w
            let cb = m.bu * u + 32768
            for (k, luma) in [yA, yB].enumerated() where x + k < width {
                let yy = m.yScale * (Int32(luma) - m.yOffset)
                let o = dst + (x + k) * 3
                o[0] = UInt8(clamping: (yy + cr) >> 16)
                o[1] = UInt8(clamping: (yy + cg) >> 16)
                o[2] = UInt8(clamping: (yy + cb) >> 16)
            }
            x += 2
        }
    }

    /// One gray row to RGB, 16 pixels per SIMD step.
    @inline(__always)
    static func greyRow(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<UInt8>, width: Int) {
        let vectorPixels = width & ~15
        var x = 0
        let out = UnsafeMutableRawPointer(dst)
        while x < vectorPixels {
            let g = src.loadUnaligned(fromByteOffset: x, as: SIMD16<UInt8>.self)
            let a = SIMD16<UInt8>(
                g[0], g[0], g[0], g[1], g[1], g[1], g[2], g[2], g[2], g[3], g[3], g[3], g[4], g[4], g[4], g[5])
            let b = SIMD16<UInt8>(
                g[5], g[5], g[6], g[6], g[6], g[7], g[7], g[7], g[8], g[8], g[8], g[9], g[9], g[9], g[10], g[10])
            let c = SIMD16<UInt8>(
                g[10], g[11], g[11], g[11], g[12], g[12], g[12], g[13], g[13], g[13], g[14], g[14], g[14], g[15], g[15],
                g[15])
            out.storeBytes(of: a, toByteOffset: x * 3, as: SIMD16<UInt8>.self)
            out.storeBytes(of: b, toByteOffset: x * 3 + 16, as: SIMD16<UInt8>.self)
            out.storeBytes(of: c, toByteOffset: x * 3 + 32, as: SIMD16<UInt8>.self)
            x += 16
        }
        let s = src.assumingMemoryBound(to: UInt8.self)
        while x < width {
            let v = s[x]
            dst[3 * x] = v
            dst[3 * x + 1] = v
            dst[3 * x + 2] = v
            x += 1
        }
    }
}
