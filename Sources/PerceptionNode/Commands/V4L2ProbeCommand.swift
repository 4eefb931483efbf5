import ArgumentParser
import Camera
import Foundation
import Imaging

/// `v4l2-probe`: what a V4L2 device offers (formats, sizes, controls) and, optionally, a short capture through
/// the node's own V4L2 source, to check a camera before configuring the node.
struct V4L2ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "v4l2-probe",
        abstract: "List a V4L2 camera's formats and controls; optionally capture a few frames with the node's source.")

    @Option(help: "Device path or /dev/v4l/by-id name.") var device = "/dev/video0"
    @Option(help: "Frames to capture after probing (0: probe only).") var capture = 0
    @Option(help: "Format for the capture: auto, mjpeg, yuyv, uyvy, rgb24, bgr24, grey.") var format = "auto"
    @Option(help: "Requested width.") var width = 640
    @Option(help: "Requested height.") var height = 480
    @Option(help: "Requested frames per second.") var fps = 30.0
    @Option(help: "Write the last captured frame to this PNG.") var save: String?

    func run() throws {
        let path = V4L2Config(device: device).devicePath
        let dev = try V4L2Device(path: path)
        try dev.queryCapabilities()
        print("\(path): driver \(dev.driver), card \(dev.card), bus \(dev.busInfo)")
        for f in try dev.formats() {
            let sizes =
                f.sizes.isEmpty
                ? (f.maxSize.map { "up to \($0.width)x\($0.height)" } ?? "?")
                : f.sizes.map { "\($0.width)x\($0.height)" }.joined(separator: " ")
            print("  format \(f.fourcc) \(f.description)\(f.emulated ? " (emulated by libv4lconvert)" : ""): \(sizes)")
        }
        for c in try dev.controls() {
            print("  control \(c.key) [\(c.minimum)..\(c.maximum)] default \(c.defaultValue)")
        }
        dev.close()
        guard capture > 0 else { return }

        guard let fmt = V4L2Config.Format(rawValue: format) else {
            throw ValidationError("unknown format \(format)")
        }
        let source = try V4L2Source(
            config: V4L2Config(device: device, format: fmt, width: width, height: height, fps: fps))
        defer { source.close() }
        print("negotiated: \(source.negotiated.map(\.description) ?? "?")")
        let t0 = Date()
        var last: Frame?
        for _ in 0..<capture {
            do {
                guard let frame = try source.nextFrame() else { break }
                last = frame
            } catch {
                print("  \(error) (state \(source.state.rawValue))")
            }
        }
        let seconds = Date().timeIntervalSince(t0)
        let c = source.counters
        print(
            "captured \(c.framesCaptured) frames in \(String(format: "%.2f", seconds)) s; dropped \(c.framesDropped), "
                + "corrupt \(c.framesCorrupt), skipped \(source.stats.framesSkipped), reconnects \(c.reconnects)")
        if let save, let frame = last {
            try Data(ImageCodec.encodePNG(frame.image)).write(to: URL(fileURLWithPath: save))
            print("wrote \(save) (seq \(frame.seq), stamp \(frame.stampNs) ns)")
        }
    }
}
