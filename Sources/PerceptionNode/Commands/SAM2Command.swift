import ArgumentParser
import Compute
import Foundation
import Imaging
import Inference
import PerceptionMessages

/// `sam2`: SAM2 alone on one image, with `SAM2ImagePredictor` semantics; masks as COCO RLE in predictor order.
struct SAM2Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sam2",
        abstract: "Segment one image with SAM2 from a box and/or points (JSON: scores and COCO RLE masks).")

    @Option(help: "SAM2 checkpoint (.pt as published, or safetensors).") var checkpoint: String
    @Option(help: "Input image (PNG or JPEG).") var image: String
    @Option(help: "Box prompt x1,y1,x2,y2 in image pixels.") var box: String?
    @Option(help: "Point prompt x,y,label (label 1 foreground, 0 background); repeatable.") var point: [String] = []
    @Flag(help: "Return the three multimask outputs instead of one mask.") var multimask = false
    @Option(help: "Model size t, s, b+ or l, or an architecture JSON file in the official config's names (d_model, image_size, ...), when it cannot be recognized from the checkpoint.") var modelSize: String?
    @Option(help: "Write low_res_logits.npy and the intermediate features (.npy) to this directory.") var dumpDir: String?
    @Option(help: "Compute threads (default: all cores).") var threads: Int?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let prompt = try parsePrompt()
        var config: SAM2Config?
        if let s = modelSize {
            guard let c = try SAM2Architecture.resolve(s, relativeTo: FileManager.default.currentDirectoryPath) else {
                throw ValidationError("--model-size \(s): give t, s, b+, l or an architecture JSON file")
            }
            config = c
        }
        let backend = BLASBackend(threads: threads)
        let predictor = try SAM2ImagePredictor(checkpoint: checkpoint, config: config, backend: backend)
        let rgb = try ImageCodec.load(path: image)
        if let dir = dumpDir { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        var dumpError: Error?
        let embedding = try predictor.embed(rgb) { name, t in
            guard let dir = dumpDir, dumpError == nil else { return }
            do {
                let nchw = t.rank == 4 && (name.hasPrefix("trunk") || name.hasPrefix("fpn") || name == "image_embed") ? try backend.permute(t, [0, 3, 1, 2]) : t
                try NPY.write(nchw, to: (dir as NSString).appendingPathComponent(name + ".npy"))
            } catch { dumpError = error }
        }
        if let dumpError { throw dumpError }
        let p = try predictor.predict(embedding, prompt: prompt, multimask: multimask)
        if let dir = dumpDir {
            try NPY.write(p.lowResLogits, to: (dir as NSString).appendingPathComponent("low_res_logits.npy"))
            try NPY.write(try Tensor(p.scores, shape: [p.scores.count]), to: (dir as NSString).appendingPathComponent("scores.npy"))
            try NPY.write(p.sparseTokens, to: (dir as NSString).appendingPathComponent("sparse_embeddings.npy"))
        }
        var masks: [[String: Any]] = []
        for (m, score) in zip(p.masks, p.scores) {
            guard let mask = BinaryMask(width: p.width, height: p.height, pixels: m) else {
                throw ValidationError("internal: mask size \(m.count) for \(p.width)x\(p.height)")
            }
            masks.append(["score": Double(score), "mask": ["encoding": "coco_rle", "size": [p.height, p.width], "counts": CocoRLE.encode(mask)]])
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: ["masks": masks], options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            for (i, (m, s)) in zip(p.masks, p.scores).enumerated() {
                print("mask \(i): score \(String(format: "%.4f", s)), area \(m.reduce(0) { $0 + Int($1) }) px of \(p.width)x\(p.height)")
            }
        }
    }

    func parsePrompt() throws -> SAM2Prompt {
        func numbers(_ s: String, _ n: Int, _ what: String) throws -> [Float] {
            let v = s.split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }.filter(\.isFinite)
            guard v.count == n, s.split(separator: ",").count == n else { throw ValidationError("\(what) needs \(n) comma-separated numbers, got '\(s)'") }
            return v
        }
        var prompt = SAM2Prompt()
        if let b = box { prompt.box = try numbers(b, 4, "--box") }
        for p in point {
            let v = try numbers(p, 3, "--point")
            guard v[2] == 0 || v[2] == 1 else { throw ValidationError("--point label must be 0 or 1, got '\(p)'") }
            prompt.points.append([v[0], v[1]])
            prompt.labels.append(Int(v[2]))
        }
        guard prompt.box != nil || !prompt.points.isEmpty else { throw ValidationError("give --box and/or --point") }
        return prompt
    }
}
