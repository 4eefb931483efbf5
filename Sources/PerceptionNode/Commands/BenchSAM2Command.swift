import ArgumentParser
import Compute
import Foundation
import Imaging
import Inference

/// `bench sam2`: set_image and per-prompt latency (medians), achieved GFLOP/s against the measured SGEMM rate
/// of this machine (same threads, same command), and peak RSS.
struct BenchSAM2Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sam2",
        abstract: "SAM2 set_image and prompt latency vs this machine's measured SGEMM rate.")

    @Option(help: "SAM2 checkpoint (.pt or safetensors).") var checkpoint: String
    @Option(help: "Model size t, s, b+ or l when it cannot be recognized from the checkpoint.") var modelSize: String?
    @Option(help: "Image to embed (default: a synthetic 1280x720 gradient).") var image: String?
    @Option(help: "Timed set_image runs (median reported).") var runs = 3
    @Option(help: "Timed prompts on the cached embedding (median reported).") var prompts = 20
    @Option(help: "Compute threads (default: all cores).") var threads: Int?
    @Flag(help: "Also print time per compute op (one extra profiled set_image and prompt).") var profile = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        var config: SAM2Config?
        if let s = modelSize {
            guard let c = SAM2Config.named(s) else { throw ValidationError("unknown --model-size \(s)") }
            config = c
        }
        let backend = BLASBackend(threads: threads)
        let t0 = Date()
        let predictor = try SAM2ImagePredictor(checkpoint: checkpoint, config: config, backend: backend)
        let loadS = Date().timeIntervalSince(t0)
        let rgb: RGBImage
        if let image { rgb = try ImageCodec.load(path: image) } else {
            var px = [UInt8](repeating: 0, count: 1280 * 720 * 3)
            for y in 0..<720 { for x in 0..<1280 { for c in 0..<3 { px[(y * 1280 + x) * 3 + c] = UInt8((x * (c + 1) + y * (3 - c)) % 256) } } }
            rgb = try RGBImage(width: 1280, height: 720, pixels: px)
        }
        // The machine's limit, measured now: sgemm on Hiera-like shapes (tokens x in -> out).
        let sgemmShapes = [(4096, 2304, 576), (16384, 864, 288), (4096, 4096, 1024)]
        let sgemmRates = sgemmShapes.map { backend.measureSGEMM(m: $0.0, n: $0.1, k: $0.2, runs: 5) }
        let sgemm = sgemmRates.sorted()[sgemmRates.count / 2]

        var embedTimes: [Double] = [], embedCPU: [Double] = [], preprocessTimes: [Double] = []
        var embedding: SAM2ImageEmbedding?
        for _ in 0..<max(runs, 1) {
            let s = DispatchTime.now().uptimeNanoseconds
            let c0 = clock()
            var preprocessed = s
            // The first inspection point is the preprocessed input: resize + normalization end there, and the image
            // encoder (what ONNX Runtime's `forward_image` figure covers) starts.
            embedding = try predictor.embed(rgb) { name, _ in
                if name == "input" { preprocessed = DispatchTime.now().uptimeNanoseconds }
            }
            embedCPU.append(Double(clock() - c0) / Double(CLOCKS_PER_SEC))
            embedTimes.append(Double(DispatchTime.now().uptimeNanoseconds - s) / 1e9)
            preprocessTimes.append(Double(preprocessed - s) / 1e9)
        }
        let encoderTimes = zip(embedTimes, preprocessTimes).map { $0 - $1 }
        guard let e = embedding else { throw ValidationError("no embedding") }
        let w = Float(rgb.width), h = Float(rgb.height)
        let prompt = SAM2Prompt(box: [0.3 * w, 0.25 * h, 0.7 * w, 0.8 * h], points: [[0.5 * w, 0.5 * h]], labels: [1])
        var promptTimes: [Double] = []
        for i in 0..<(max(prompts, 1) + 2) {
            let s = DispatchTime.now().uptimeNanoseconds
            _ = try predictor.predict(e, prompt: prompt, multimask: true)
            if i >= 2 { promptTimes.append(Double(DispatchTime.now().uptimeNanoseconds - s) / 1e9) }
        }
        let embedMedian = median(embedTimes), promptMedian = median(promptTimes)
        let flops = predictor.config.imageEncoderFLOPs
        let achieved = flops / embedMedian
        let rss = peakResidentBytes()
        if profile {
            let prof = ProfilingBackend(backend)
            let profiled = try SAM2ImagePredictor(checkpoint: checkpoint, config: config, backend: prof)
            // One untimed pass first: the new predictor's first run touches fresh memory (page faults in the ops).
            _ = try profiled.embed(rgb)
            prof.reset()
            let s = DispatchTime.now().uptimeNanoseconds
            let pe = try profiled.embed(rgb)
            let total = Double(DispatchTime.now().uptimeNanoseconds - s) / 1e9
            print(String(format: "profiled set_image %.3f s:", total))
            prof.reportLines(total: total, milliseconds: false).forEach { print($0) }
            print("  products by shape (rows x in -> out):")
            prof.productLines().forEach { print("  " + $0) }
            prof.reset()
            let s2 = DispatchTime.now().uptimeNanoseconds
            _ = try profiled.predict(pe, prompt: prompt, multimask: true)
            let total2 = Double(DispatchTime.now().uptimeNanoseconds - s2) / 1e9
            print(String(format: "profiled prompt %.2f ms:", total2 * 1000))
            prof.reportLines(total: total2, milliseconds: true).forEach { print($0) }
        }
        if json {
            let obj: [String: Any] = [
                "checkpoint": checkpoint, "threads": backend.threads, "image": [rgb.width, rgb.height], "load_s": loadS,
                "set_image_median_s": embedMedian, "set_image_runs_s": embedTimes, "set_image_cpu_s": median(embedCPU), "prompt_median_ms": promptMedian * 1000,
                "preprocess_median_ms": median(preprocessTimes) * 1000, "image_encoder_median_s": median(encoderTimes),
                "image_encoder_tflop": flops / 1e12, "achieved_gflops": achieved / 1e9, "sgemm_gflops": sgemm / 1e9,
                "sgemm_shapes_gflops": sgemmRates.map { $0 / 1e9 }, "fraction_of_sgemm": achieved / sgemm, "peak_rss_mib": Double(rss) / 1048576,
            ]
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .prettyPrinted])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("SAM2 \(checkpoint) on \(backend.name), image \(rgb.width)x\(rgb.height)")
        print(String(format: "load            %8.2f s", loadS))
        print(String(format: "set_image       %8.3f s  median of %d (%@)", embedMedian, embedTimes.count, embedTimes.map { String(format: "%.3f", $0) }.joined(separator: ", ")))
        print(String(format: "  preprocess %.1f ms (resize, normalize), image encoder %.3f s (medians)", median(preprocessTimes) * 1000, median(encoderTimes)))
        print(String(format: "  process CPU time %.2f s (all threads; comparable across load levels)", median(embedCPU)))
        print(String(format: "  %.3f TFLOP -> %.1f GFLOP/s = %.0f%% of measured sgemm %.1f GFLOP/s (shapes: %@)", flops / 1e12, achieved / 1e9,
                     100 * achieved / sgemm, sgemm / 1e9, sgemmRates.map { String(format: "%.1f", $0 / 1e9) }.joined(separator: "/")))
        print(String(format: "prompt          %8.2f ms median of %d (box + point, multimask, masks at %dx%d)", promptMedian * 1000, promptTimes.count, rgb.width, rgb.height))
        print(String(format: "peak RSS        %8.0f MiB", Double(rss) / 1048576))
    }

    private func median(_ v: [Double]) -> Double {
        let s = v.sorted()
        return s.isEmpty ? 0 : s[s.count / 2]
    }
}
