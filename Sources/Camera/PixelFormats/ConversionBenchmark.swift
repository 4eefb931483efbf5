import CV4L2
import Imaging

#if canImport(Glibc)
    import Glibc
#endif

/// Per-frame cost of the camera conversions (ours and libv4lconvert's, which is what libv4l2 users get) and
/// the machine's copy bandwidth as the limit a streaming conversion cannot beat. Backs `perception-node bench camera`.
public enum ConversionBenchmark {
    /// What a sample measures. CPU time of the calling thread is the capture thread's cost per frame and stays
    /// meaningful on a shared, loaded machine (time spent descheduled is not counted); wall time is the default
    /// elsewhere.
    public enum Timing: String, Sendable {
        case threadCPU = "thread_cpu", wall
    }

    public struct Measurement: Sendable {
        public var name: String
        /// Median over the timed iterations, milliseconds per frame.
        public var medianMs: Double
        public var minMs: Double
        /// Bytes read plus bytes written per frame.
        public var bytesMoved: Int
        /// The same conversion in libv4lconvert, when it offers one, timed in the same run.
        public var referenceMedianMs: Double?
    }

    public struct Report: Sendable {
        public var width: Int
        public var height: Int
        public var iterations: Int
        public var jpegBytes: Int
        public var timing: Timing
        /// Large-buffer memcpy, bytes read plus written per second.
        public var copyBandwidth: Double
        public var measurements: [Measurement]

        /// Fraction of the copy-bandwidth limit a measurement reaches (1 = as fast as memcpy of the same bytes).
        public func fractionOfCopyLimit(_ m: Measurement) -> Double {
            (Double(m.bytesMoved) / copyBandwidth) / (m.medianMs / 1000)
        }
    }

    /// A deterministic camera-like test frame: smooth gradients, edges and mild sensor noise.
    public static func syntheticFrame(width: Int, height: Int) throws -> RGBImage {
        var img = try RGBImage(width: width, height: height)
        var state: UInt32 = 12345
        for y in 0..<height {
            for x in 0..<width {
                state = state &* 1_664_525 &+ 1_013_904_223
                let noise = Int(state >> 28) - 8
                let stripe = ((x / 40 + y / 40) % 2) * 40
                let base = [x * 200 / width + stripe, y * 200 / height + 20, (x + y) * 120 / (width + height) + 60]
                for c in 0..<3 { img[x, y, c] = UInt8(clamping: base[c] + noise) }
            }
        }
        return img
    }

    /// Packs an RGB image as YUYV (BT.601 limited range, chroma averaged over each pixel pair).
    public static func yuyvFrame(from img: RGBImage) -> [UInt8] {
        let pairs = (img.width + 1) / 2
        var out = [UInt8](repeating: 0, count: pairs * 4 * img.height)
        for y in 0..<img.height {
            for p in 0..<pairs {
                var ys = [0.0, 0.0]
                var cb = 0.0
                var cr = 0.0
                for k in 0..<2 {
                    let x = min(2 * p + k, img.width - 1)
                    let r = Double(img[x, y, 0])
                    let g = Double(img[x, y, 1])
                    let b = Double(img[x, y, 2])
                    let luma = 0.299 * r + 0.587 * g + 0.114 * b
                    ys[k] = 16 + luma * 219 / 255
                    cb += 128 + (b - luma) / 1.772 * 224 / 255 / 2
                    cr += 128 + (r - luma) / 1.402 * 224 / 255 / 2
                }
                let o = (y * pairs + p) * 4
                out[o] = UInt8(clamping: Int(ys[0].rounded()))
                out[o + 1] = UInt8(clamping: Int(cb.rounded()))
                out[o + 2] = UInt8(clamping: Int(ys[1].rounded()))
                out[o + 3] = UInt8(clamping: Int(cr.rounded()))
            }
        }
        return out
    }

    static func seconds(_ timing: Timing) -> Double {
        var ts = timespec()
        clock_gettime(timing == .wall ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func time(iterations: Int, warmup: Int, timing: Timing, _ body: () throws -> Void) rethrows -> (
        median: Double, min: Double
    ) {
        for _ in 0..<warmup { try body() }
        var samples: [Double] = []
        for _ in 0..<iterations {
            let t0 = seconds(timing)
            try body()
            samples.append((seconds(timing) - t0) * 1000)
        }
        samples.sort()
        return (samples[samples.count / 2], samples[0])
    }

    /// memcpy of a 256 MiB buffer (well past the caches): bytes read plus written per second, best of 5.
    public static func copyBandwidth(timing: Timing = .wall) -> Double {
        let n = 256 << 20
        let src = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 64)
        let dst = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 64)
        defer {
            src.deallocate()
            dst.deallocate()
        }
        memset(src, 1, n)
        memset(dst, 2, n)
        var best = Double.infinity
        var check: UInt8 = 0
        for i in 0..<5 {
            src.storeBytes(of: UInt8(i), toByteOffset: n - 1 - i, as: UInt8.self)
            let t0 = seconds(timing)
            memcpy(dst, src, n)
            // Reading the copy back keeps the optimizer from dropping a copy nobody looks at.
            check &+= dst.load(fromByteOffset: n - 1 - i, as: UInt8.self)
            best = min(best, seconds(timing) - t0)
        }
        copyCheck = check
        return Double(2 * n) / best
    }
    nonisolated(unsafe) static var copyCheck: UInt8 = 0

    /// Runs every conversion on one frame of the given size. `jpeg` replaces the synthetic MJPEG frame.
    public static func run(
        width: Int = 1280, height: Int = 720, iterations: Int = 50, warmup: Int = 5, jpeg: [UInt8]? = nil,
        quality: Int = 80, timing: Timing = .wall
    ) throws -> Report {
        let frame = try syntheticFrame(width: width, height: height)
        let yuyv = yuyvFrame(from: frame)
        let grey = [UInt8](frame.pixels.enumerated().compactMap { $0.offset % 3 == 1 ? $0.element : nil })
        let mjpeg = try jpeg ?? ImageCodec.encodeJPEG(frame, quality: quality)
        let header = try ImageCodec.decodeJPEG(mjpeg)
        let rgbBytes = width * height * 3
        var results: [Measurement] = []

        let converter = cv4l2_converter_without_device()
        defer { if let converter { v4lconvert_destroy(converter) } }
        var out = [UInt8](repeating: 0, count: max(rgbBytes, header.width * header.height * 3))
        func v4lconvert(_ fourcc: FourCC, _ src: [UInt8], w: Int, h: Int, bytesPerLine: Int) -> Double? {
            guard let converter else { return nil }
            var s = v4l2_format()
            var d = v4l2_format()
            s.type = 1
            d.type = 1
            s.fmt.pix.width = UInt32(w)
            s.fmt.pix.height = UInt32(h)
            s.fmt.pix.pixelformat = fourcc.rawValue
            s.fmt.pix.bytesperline = UInt32(bytesPerLine)
            s.fmt.pix.sizeimage = UInt32(src.count)
            d.fmt.pix.width = UInt32(w)
            d.fmt.pix.height = UInt32(h)
            d.fmt.pix.pixelformat = FourCC.rgb24.rawValue
            d.fmt.pix.bytesperline = UInt32(w * 3)
            d.fmt.pix.sizeimage = UInt32(w * h * 3)
            var input = src
            var failed = false
            let t = time(iterations: iterations, warmup: warmup, timing: timing) {
                let r = input.withUnsafeMutableBufferPointer { sp in
                    out.withUnsafeMutableBufferPointer { dp in
                        v4lconvert_convert(
                            converter, &s, &d, sp.baseAddress, Int32(sp.count), dp.baseAddress, Int32(dp.count))
                    }
                }
                if r < 0 { failed = true }
            }
            return failed ? nil : t.median
        }

        let y = try time(iterations: iterations, warmup: warmup, timing: timing) {
            _ = try PixelConversion.yuyvToRGB(yuyv, width: width, height: height)
        }
        results.append(
            Measurement(
                name: "yuyv_to_rgb", medianMs: y.median, minMs: y.min, bytesMoved: yuyv.count + rgbBytes,
                referenceMedianMs: v4lconvert(.yuyv, yuyv, w: width, h: height, bytesPerLine: width * 2)))
        let g = try time(iterations: iterations, warmup: warmup, timing: timing) {
            _ = try PixelConversion.greyToRGB(grey, width: width, height: height)
        }
        results.append(
            Measurement(
                name: "grey_to_rgb", medianMs: g.median, minMs: g.min, bytesMoved: grey.count + rgbBytes,
                referenceMedianMs: v4lconvert(.grey, grey, w: width, h: height, bytesPerLine: width)))
        let m = try time(iterations: iterations, warmup: warmup, timing: timing) {
            _ = try PixelConversion.mjpegToRGB(mjpeg)
        }
        results.append(
            Measurement(
                name: "mjpeg_to_rgb", medianMs: m.median, minMs: m.min,
                bytesMoved: mjpeg.count + header.width * header.height * 3,
                referenceMedianMs: v4lconvert(.mjpeg, mjpeg, w: header.width, h: header.height, bytesPerLine: 0)))
        return Report(
            width: width, height: height, iterations: iterations, jpegBytes: mjpeg.count, timing: timing,
            copyBandwidth: copyBandwidth(timing: timing), measurements: results)
    }
}
