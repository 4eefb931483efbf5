import ArgumentParser
import Camera
import Foundation

/// `bench camera`: per-frame cost of the camera conversions (YUYV, GREY, MJPEG to RGB), with libv4lconvert as
/// the reference and memcpy bandwidth as the limit.
struct BenchCameraCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "camera",
        abstract: "Camera conversion throughput: YUYV/GREY/MJPEG -> RGB per frame, vs libv4lconvert and memcpy.")

    @Option(help: "Frame width.") var width = 1280
    @Option(help: "Frame height.") var height = 720
    @Option(help: "Timed iterations per conversion (the median is reported).") var iterations = 50
    @Option(help: "Untimed warm-up iterations.") var warmup = 5
    @Option(help: "A real MJPEG frame to decode instead of the synthetic one (its own size is used).")
    var jpeg: String?
    @Option(help: "JPEG quality of the synthetic MJPEG frame.") var quality = 80
    @Flag(help: "Time with the wall clock instead of the thread's CPU time (which ignores time spent descheduled).")
    var wallClock = false
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws {
        let data = try jpeg.map { [UInt8](try Data(contentsOf: URL(fileURLWithPath: $0))) }
        let report = try ConversionBenchmark.run(
            width: width, height: height, iterations: iterations, warmup: warmup, jpeg: data, quality: quality,
            timing: wallClock ? .wall : .threadCPU)
        if json {
            let rows = report.measurements.map { m -> [String: Any] in
                var row: [String: Any] = [
                    "name": m.name, "median_ms": m.medianMs, "min_ms": m.minMs, "bytes_moved": m.bytesMoved,
                    "fraction_of_copy_limit": report.fractionOfCopyLimit(m),
                ]
                if let r = m.referenceMedianMs {
                    row["libv4lconvert_median_ms"] = r
                    row["speedup_vs_libv4lconvert"] = r / m.medianMs
                }
                return row
            }
            let obj: [String: Any] = [
                "width": report.width, "height": report.height, "iterations": report.iterations,
                "jpeg_bytes": report.jpegBytes, "timing": report.timing.rawValue,
                "copy_bandwidth_gbps": report.copyBandwidth / 1e9, "results": rows,
            ]
            let out = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .prettyPrinted])
            print(String(decoding: out, as: UTF8.self))
            return
        }
        print(
            "camera conversions, \(report.width)x\(report.height), median of \(report.iterations) (\(report.timing == .wall ? "wall" : "thread CPU") time), one thread; "
                + "MJPEG frame \(report.jpegBytes) bytes; memcpy \(String(format: "%.1f", report.copyBandwidth / 1e9)) GB/s (read+write)"
        )
        print("conversion      median ms   frames/s   of copy limit   libv4lconvert ms   speedup")
        for m in report.measurements {
            let ref =
                m.referenceMedianMs.map { String(format: "%16.3f   %6.2fx", $0, $0 / m.medianMs) }
                ?? "               -         -"
            let name = m.name.padding(toLength: 14, withPad: " ", startingAt: 0)
            let nums = String(
                format: " %9.3f %10.1f %15.1f%% ", m.medianMs, 1000 / m.medianMs, 100 * report.fractionOfCopyLimit(m))
            print(name + nums + ref)
        }
    }
}
