import ArgumentParser
import Camera
import Foundation
import Imaging
import NodeRuntime
import PerceptionMessages

/// `segment`: one text query (or direct SAM2 prompt) on one image file, through the node's inference stage but without the bus; prints
/// the Result as `perception-node query` would and can write an overlay PNG.
struct SegmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment",
        abstract: "Answer one text query on one image with the configured models (no bus); print the Result.",
        discussion: "Exit status: 0 when a Result was produced (whatever its status), 1 when the config or image cannot be read.")

    @Option(help: "Node config (YAML).") var config: String?
    @Option(name: .customLong("set"), help: "Config override key=value (repeatable).") var overrides: [String] = []
    @Option(help: "Input image (PNG or JPEG).") var image: String
    @Option(help: "The question.") var text: String?
    @Option(help: "Direct SAM2 box prompt x1,y1,x2,y2 in image pixels (repeatable; skips reasoning).") var box: [String] = []
    @Option(help: "Direct SAM2 point prompt x,y[,label] (label 1 foreground, 0 background; repeatable).") var point: [String] = []
    @Option(help: "Answer format: auto, single or multi (default: model.mode).") var mode: String?
    @Option(help: "Mask encoding in the Result: rle, png or none.") var mask = "rle"
    @Flag(help: "Print compact one-line JSON.") var json = false
    @Option(help: "Write an overlay PNG (masks tinted, boxes, points) here.") var maskOut: String?

    func validate() throws {
        if text == nil && box.isEmpty && point.isEmpty { throw ValidationError("give --text, or a --box / --point prompt") }
    }

    func run() throws {
        let node = try NodeConfig.load(path: config, overrides: overrides)
        guard let enc = Query.MaskEncoding(rawValue: mask) else { throw ValidationError("--mask must be rle, png or none") }
        var query = Query(requestId: UUID().uuidString, text: text)
        if let mode {
            guard let m = Query.Mode(rawValue: mode) else { throw ValidationError("--mode must be auto, single or multi") }
            query.mode = m
        }
        query.outputs = Query.Outputs(mask: enc, think: true)
        if !box.isEmpty || !point.isEmpty {
            var p = Query.Prompt()
            for b in box { p.boxes.append(try QueryCommand.numbers(b, count: 4...4, what: "--box")) }
            for pt in point {
                let n = try QueryCommand.numbers(pt, count: 2...3, what: "--point")
                p.points.append([n[0], n[1]])
                p.labels.append(n.count == 3 ? Int(n[2]) : 1)
            }
            query.prompt = p
        }
        let rgb = try ImageCodec.load(path: image)
        let stage = try ModelStack.makeStage(node)
        let answer = OneShot.answer(query, image: rgb, seq: 0, frameId: node.string("camera.frame_id"), stage: stage, defaultMode: node)
        print(JSONText.render(try MsgPack.decode(answer.result.encoded()), pretty: !json))
        if let maskOut {
            let png = try ImageCodec.encodePNG(try Overlay.render(rgb, objects: answer.output?.objects ?? []))
            try Data(png).write(to: URL(fileURLWithPath: maskOut))
        }
    }
}

/// One query answered on one image by a stage, as the runtime's worker would (bus-less; shared by segment/eval).
enum OneShot {
    struct Answer {
        var result: QueryResult
        /// The stage output (per-object masks), nil when the stage failed.
        var output: InferenceOutput?
    }

    static func answer(_ query: Query, image: RGBImage, seq: UInt64, frameId: String, stage: InferenceStage,
                       defaultMode config: NodeConfig) -> Answer {
        let start = ContinuousClock.now
        let frame = Frame(image: image, stampNs: Int64(seq), seq: seq, frameId: frameId)
        let mode = query.mode ?? Query.Mode(rawValue: config.string("model.mode")) ?? .auto
        let request = InferenceRequest(query: query, mode: mode, frame: frame, deadline: nil)
        let outcome: Result<InferenceOutput, Error>
        do {
            outcome = .success(try stage.run(request))
        } catch {
            outcome = .failure(error)
        }
        var result = PerceptionRuntime.assemble(query: query, frame: frame, outcome: outcome)
        let d = ContinuousClock.now - start
        result.timing.total = Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
        let m = stage.models
        result.model = QueryResult.Model(reasoner: m.reasoner, segmenter: m.segmenter, backend: m.backend)
        return Answer(result: result, output: try? outcome.get())
    }
}

/// A picture a person can check: the image dimmed, each object's mask tinted in its own colour, its box
/// outlined and its prompt points drawn as dots.
enum Overlay {
    static let palette: [(UInt8, UInt8, UInt8)] = [
        (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240), (240, 50, 230),
    ]

    static func render(_ image: RGBImage, objects: [InferenceObject]) throws -> RGBImage {
        let w = image.width, h = image.height
        var px = image.pixels.map { UInt8((Int($0) * 2) / 5) }
        func put(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) {
            guard x >= 0, y >= 0, x < w, y < h else { return }
            let i = (y * w + x) * 3
            px[i] = c.0; px[i + 1] = c.1; px[i + 2] = c.2
        }
        for (k, o) in objects.enumerated() {
            let c = palette[k % palette.count]
            if let mask = o.mask, mask.width == w, mask.height == h {
                for i in 0..<(w * h) where mask.pixels[i] != 0 {
                    px[i * 3] = UInt8((Int(image.pixels[i * 3]) + Int(c.0)) / 2)
                    px[i * 3 + 1] = UInt8((Int(image.pixels[i * 3 + 1]) + Int(c.1)) / 2)
                    px[i * 3 + 2] = UInt8((Int(image.pixels[i * 3 + 2]) + Int(c.2)) / 2)
                }
            }
        }
        for (k, o) in objects.enumerated() {
            let c = palette[k % palette.count]
            if o.bbox.count == 4, o.bbox.allSatisfy({ $0.isFinite && abs($0) < 1e6 }) {
                let x1 = Int(o.bbox[0]), y1 = Int(o.bbox[1]), x2 = Int(o.bbox[2]), y2 = Int(o.bbox[3])
                if x1 <= x2, y1 <= y2 {
                    for t in 0..<2 {
                        for x in x1...x2 { put(x, y1 + t, c); put(x, y2 - t, c) }
                        for y in y1...y2 { put(x1 + t, y, c); put(x2 - t, y, c) }
                    }
                }
            }
            for p in o.points where p.count == 2 && p.allSatisfy({ $0.isFinite && abs($0) < 1e6 }) {
                let cx = Int(p[0]), cy = Int(p[1])
                for dy in -4...4 { for dx in -4...4 where dx * dx + dy * dy <= 16 {
                    put(cx + dx, cy + dy, dx * dx + dy * dy >= 9 ? (255, 255, 255) : c)
                } }
            }
        }
        return try RGBImage(width: w, height: h, pixels: px)
    }
}
