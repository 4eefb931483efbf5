import ArgumentParser
import Foundation
import Imaging
import Inference
import NodeRuntime
import PerceptionMessages

/// `eval`: ReasonSeg-style evaluation of the configured pipeline on a LISA-layout folder (X.jpg + X.json with
/// `text`, `shapes` polygons): gIoU, cIoU, parse-failure and no-target rates, per-stage latency percentiles,
/// and one JSONL line per sample (with the OR-ed prediction as COCO RLE).
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate reasoning segmentation on a ReasonSeg-layout folder (gIoU, cIoU, failure rates, latency).",
        discussion: """
        Each sample is X.json (LISA layout: "text" list or string, "shapes" polygons, "is_sentence") with the image \
        X.jpg or X.png next to it. The question is the first entry of "text", as LISA's ValDataset \
        (sampled_sents[0]) evaluates ReasonSeg. Ground truth: the polygons rasterized as LISA's get_mask_from_json \
        ("flag" skipped, "ignore" excluded from scoring). Prediction: all answered objects' masks OR-ed, as the \
        benchmark has one target mask. A failed sample (unparseable answer, error) scores IoU 0 against its target.
        """)

    @Option(help: "Node config (YAML).") var config: String?
    @Option(name: .customLong("set"), help: "Config override key=value (repeatable).") var overrides: [String] = []
    @Option(help: "The ReasonSeg-layout folder.") var data: String
    @Option(help: "Evaluate at most this many samples (sorted by name).") var limit: Int?
    @Option(help: "Write one JSON line per sample here.") var jsonl: String?
    @Option(help: "Answer format: auto, single or multi (default: model.mode).") var mode: String?
    @Flag(help: "Print the report as JSON.") var json = false

    struct EvalError: Error, CustomStringConvertible {
        var description: String
    }

    struct Sample {
        var id: String
        var image: String
        var annotation: String
    }

    static func samples(in dir: String) throws -> [Sample] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        } catch {
            throw EvalError(description: "--data \(dir): cannot list the folder (\(error.localizedDescription))")
        }
        let set = Set(names)
        var out: [Sample] = []
        for name in names where name.hasSuffix(".json") {
            let stem = String(name.dropLast(5))
            guard let img = ["jpg", "png", "jpeg"].map({ stem + "." + $0 }).first(where: set.contains) else {
                throw EvalError(description: "\(dir)/\(name): no image \(stem).jpg or \(stem).png next to it")
            }
            out.append(Sample(id: stem, image: (dir as NSString).appendingPathComponent(img),
                              annotation: (dir as NSString).appendingPathComponent(name)))
        }
        return out
    }

    /// The first question and the polygons of a LISA annotation file.
    static func annotation(_ path: String) throws -> (question: String, polygons: [AnnotatedPolygon]) {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw EvalError(description: "\(path): cannot read (\(error.localizedDescription))")
        }
        guard let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw EvalError(description: "\(path): not a JSON object")
        }
        let question: String
        if let list = obj["text"] as? [Any], let first = list.first as? String {
            question = first
        } else if let s = obj["text"] as? String {
            question = s
        } else {
            throw EvalError(description: "\(path): \"text\" must be a non-empty list of strings or a string")
        }
        guard let shapes = obj["shapes"] as? [[String: Any]] else {
            throw EvalError(description: "\(path): \"shapes\" must be a list of objects")
        }
        var polygons: [AnnotatedPolygon] = []
        for (i, s) in shapes.enumerated() {
            guard let pts = s["points"] as? [[Any]] else { throw EvalError(description: "\(path): shapes[\(i)].points must be a list of [x, y]") }
            var points: [(x: Double, y: Double)] = []
            for (j, p) in pts.enumerated() {
                guard p.count == 2, let x = (p[0] as? NSNumber)?.doubleValue, let y = (p[1] as? NSNumber)?.doubleValue, x.isFinite, y.isFinite else {
                    throw EvalError(description: "\(path): shapes[\(i)].points[\(j)] must be two finite numbers")
                }
                points.append((x, y))
            }
            polygons.append(AnnotatedPolygon(label: s["label"] as? String ?? "", points: points))
        }
        return (question, polygons)
    }

    /// Linear-interpolated percentile (numpy's default).
    static func percentile(_ values: [Double], _ q: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let s = values.sorted()
        let pos = q / 100 * Double(s.count - 1)
        let lo = Int(pos.rounded(.down)), hi = min(lo + 1, s.count - 1)
        return s[lo] + (s[hi] - s[lo]) * (pos - Double(lo))
    }

    func run() throws {
        let node = try NodeConfig.load(path: config, overrides: overrides)
        var query = Query(requestId: "", text: nil)
        if let mode {
            guard let m = Query.Mode(rawValue: mode) else { throw ValidationError("--mode must be auto, single or multi") }
            query.mode = m
        }
        query.outputs = Query.Outputs(mask: .none, think: true)
        var list = try Self.samples(in: data)
        if let limit { list = Array(list.prefix(max(0, limit))) }
        guard !list.isEmpty else { throw EvalError(description: "--data \(data): no X.json + X.jpg/png samples") }
        let stage = try ModelStack.makeStage(node)

        var lines = ""
        var score = SegmentationScore()
        var counts: [String: Int] = [:]
        let stages = ["preprocess", "vision", "prefill", "decode", "segment", "total"]
        var latency: [String: [Double]] = Dictionary(uniqueKeysWithValues: stages.map { ($0, []) })
        for (k, sample) in list.enumerated() {
            let (question, polygons) = try Self.annotation(sample.annotation)
            let image = try ImageCodec.load(path: sample.image)
            let gt = ReasonSegRasterizer.mask(polygons, width: image.width, height: image.height)
            var q = query
            q.requestId = sample.id
            q.text = question
            let answer = OneShot.answer(q, image: image, seq: UInt64(k + 1), frameId: sample.id, stage: stage, defaultMode: node)
            var prediction = [UInt8](repeating: 0, count: image.width * image.height)
            for o in answer.output?.objects ?? [] {
                guard let m = o.mask, m.pixels.count == prediction.count else { continue }
                for i in prediction.indices where m.pixels[i] != 0 { prediction[i] = 1 }
            }
            let before = (score.totalIntersection, score.totalUnion)
            let iou = score.add(prediction: prediction, groundTruth: gt)
            let r = answer.result
            let status = r.error.map { $0.code.rawValue } ?? r.status.rawValue
            counts[status, default: 0] += 1
            let t = r.timing
            let timing: [String: Double] = ["preprocess": t.preprocess, "vision": t.vision, "prefill": t.prefill,
                                            "decode": t.decode, "segment": t.segment, "total": t.total]
            for (name, v) in timing { latency[name, default: []].append(v) }
            var line: [String: Any] = [
                "id": sample.id, "question": question, "iou": iou,
                "intersection": score.totalIntersection - before.0, "union": score.totalUnion - before.1,
                "status": status, "boxes": r.objects.map(\.bbox), "points": r.objects.map(\.points),
                "scores": r.objects.map(\.score), "timings_ms": timing,
                "width": image.width, "height": image.height,
            ]
            if let m = BinaryMask(width: image.width, height: image.height, pixels: prediction) {
                line["mask"] = ["size": [image.height, image.width], "counts": CocoRLE.encode(m)] as [String: Any]
            }
            if let e = r.error { line["error"] = e.message }
            if let a = r.answer { line["answer"] = a }
            if let tokens = r.tokens { line["tokens"] = ["prompt": tokens.prompt, "generated": tokens.generated] }
            let data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
            lines += String(decoding: data, as: UTF8.self) + "\n"
            if !json {
                FileHandle.standardError.write(Data("[\(k + 1)/\(list.count)] \(sample.id): \(status) iou \(String(format: "%.3f", iou)) \(String(format: "%.0f", t.total)) ms\n".utf8))
            }
        }
        if let jsonl { try Data(lines.utf8).write(to: URL(fileURLWithPath: jsonl)) }

        let n = Double(list.count)
        var lat: [String: [String: Double]] = [:]
        for s in stages {
            let v = latency[s] ?? []
            lat[s] = ["p50": Self.percentile(v, 50), "p90": Self.percentile(v, 90), "p99": Self.percentile(v, 99)]
        }
        let report: [String: Any] = [
            "samples": list.count, "gIoU": score.gIoU, "cIoU": score.cIoU,
            "parse_failure_rate": Double(counts[ErrorCode.answerUnparseable.rawValue] ?? 0) / n,
            "no_target_rate": Double(counts[QueryResult.Status.noTarget.rawValue] ?? 0) / n,
            "statuses": counts, "latency_ms": lat,
            "model": ["reasoner": stage.models.reasoner, "segmenter": stage.models.segmenter, "backend": stage.models.backend],
        ]
        if json {
            let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("samples \(list.count)  gIoU \(String(format: "%.4f", score.gIoU))  cIoU \(String(format: "%.4f", score.cIoU))")
            print("parse failures \(counts[ErrorCode.answerUnparseable.rawValue] ?? 0)  no target \(counts[QueryResult.Status.noTarget.rawValue] ?? 0)  statuses \(counts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
            for s in stages {
                let v = lat[s] ?? [:]
                print("\(s.padding(toLength: 10, withPad: " ", startingAt: 0)) p50 \(String(format: "%9.1f", v["p50"] ?? 0)) ms  p90 \(String(format: "%9.1f", v["p90"] ?? 0)) ms  p99 \(String(format: "%9.1f", v["p99"] ?? 0)) ms")
            }
        }
    }
}
