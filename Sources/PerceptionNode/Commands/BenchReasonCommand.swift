import ArgumentParser
import Compute
import Foundation
import Imaging
import Inference

/// `bench reason`: Qwen2.5-VL vision tower on 840x840, prefill of the Seg-Zero prompt and decode speed, against this
/// machine's measured SGEMM rate and memory bandwidth, and (with --reference) transformers on the same weights,
/// inputs and threads, run alternately stage by stage.
struct BenchReasonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reason",
        abstract: "Qwen2.5-VL vision/prefill/decode timings vs measured SGEMM and STREAM, and vs transformers.")

    @Option(help: "Qwen2.5-VL checkpoint directory (tools/qwen/make_random_3b.py makes a random 3B one).") var model: String
    @Option(help: "Image (default: a synthetic gradient); resized to 840x840 as Seg-Zero does.") var image: String?
    @Option(help: "Question for the Seg-Zero prompt.") var text = "the red cup on the left of the table"
    @Option(help: "Prompt template: seg-zero or vision-reasoner.") var template = "seg-zero"
    @Option(help: "Timed vision and prefill runs (median reported).") var runs = 1
    @Option(help: "Timed decode steps (median reported).") var decodeTokens = 8
    @Option(help: "Decode after the full image prompt (full) or after its last 16 text tokens alone (text; no vision or long prefill needed).")
    var decodeContext = "full"
    @Option(help: "Compute threads.") var threads = 2
    @Flag(help: "Also time transformers (tools/qwen/bench_reference.py), alternating with ours per stage.") var reference = false
    @Option(help: "Python of the reference stack.") var python = ".venv-ref/bin/python"
    @Option(help: "Reference script.") var referenceScript = "tools/qwen/bench_reference.py"
    @Option(help: "Stages to run (comma-separated: vision,prefill,decode).") var stages = "vision,prefill,decode"
    @Flag(help: "Also print time per compute op for the vision tower and the prefill (one extra profiled run of each, to stderr).")
    var profile = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let wanted = Set(stages.split(separator: ",").map(String.init))
        guard ["full", "text"].contains(decodeContext) else { throw ValidationError("--decode-context must be full or text") }
        let backend = BLASBackend(threads: threads)
        var report: [String: Any] = ["model": model, "threads": threads, "backend": backend.name]
        func log(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

        let sgemmShapes = [(3600, 3840, 1280), (3600, 1280, 3420), (1024, 11008, 2048), (1024, 2048, 11008)]
        let sgemmRates = sgemmShapes.map { backend.measureSGEMM(m: $0.0, n: $0.1, k: $0.2, runs: 3) }
        let sgemm = median(sgemmRates)
        let stream = measureTriadBandwidth(threads: threads)
        report["sgemm_gflops"] = sgemm / 1e9
        report["sgemm_shapes_gflops"] = sgemmRates.map { $0 / 1e9 }
        report["stream_triad_gbs"] = stream / 1e9
        log(String(format: "machine: sgemm %.1f GFLOP/s (median of %@), STREAM triad %.1f GB/s", sgemm / 1e9,
                   sgemmRates.map { String(format: "%.0f", $0 / 1e9) }.joined(separator: "/"), stream / 1e9))

        var t0 = Date()
        let qwen = try QwenVLModel(directory: model, backend: backend)
        let tokenizer = try QwenTokenizer(directory: model)
        report["load_s"] = Date().timeIntervalSince(t0)
        let rgb = try image.map { try ImageCodec.load(path: $0) } ?? syntheticImage()
        let pixels = try qwen.imageProcessor.preprocess(try QwenImageProcessor.reasoningInput(rgb))
        let prompt = try PromptTemplate(name: template).render(question: text)
        let ids = try ChatTemplate.qwen25VL(
            userText: prompt, imageTokens: ChatTemplate.imageTokenCount(gridT: pixels.gridT, gridH: pixels.gridH, gridW: pixels.gridW),
            tokenizer: tokenizer).map { Int($0) }
        let stacked = try QwenVLModel.stack([pixels])
        report["prompt_tokens"] = ids.count
        report["grid"] = [pixels.gridT, pixels.gridH, pixels.gridW]

        let inputs = FileManager.default.temporaryDirectory.appendingPathComponent("bench-reason-\(getpid())").path
        if reference { try writeReferenceInputs(inputs, ids: ids, pixels: stacked.pixelValues, grids: stacked.grids) }
        defer { if reference { try? FileManager.default.removeItem(atPath: inputs) } }

        var visionTokens: Tensor?
        func vision() throws -> Tensor {
            if let v = visionTokens { return v }
            let v = try qwen.encodeImages(pixelValues: stacked.pixelValues, grids: stacked.grids)
            visionTokens = v
            return v
        }
        if wanted.contains("vision") {
            let flops = visionFLOPs(qwen.config.vision, grids: stacked.grids)
            var times: [Double] = []
            for _ in 0..<max(runs, 1) {
                t0 = Date()
                visionTokens = try qwen.encodeImages(pixelValues: stacked.pixelValues, grids: stacked.grids)
                times.append(Date().timeIntervalSince(t0))
            }
            let m = median(times)
            var r: [String: Any] = ["seconds": times, "median_s": m, "tflop": flops / 1e12, "gflops": flops / m / 1e9,
                                    "fraction_of_sgemm": flops / m / sgemm]
            log(String(format: "vision  %.2f s  %.1f GFLOP/s = %.0f%% of sgemm", m, flops / m / 1e9, 100 * flops / m / sgemm))
            if reference, let ref = try runReference("vision", inputs: inputs) {
                let refS = (ref["median_s"] as? Double) ?? .nan
                r["reference"] = ref
                r["speedup_vs_reference"] = refS / m
                log(String(format: "  reference (transformers fp32) %.2f s -> %.2fx", refS, refS / m))
            }
            report["vision"] = r
        }
        if wanted.contains("prefill") {
            let v = try vision()
            let flops = prefillFLOPs(qwen.config.text, tokens: ids.count)
            var times: [Double] = []
            for _ in 0..<max(runs, 1) {
                let cache = qwen.makeCache()
                t0 = Date()
                _ = try qwen.prefill(inputIDs: ids, visionTokens: v, grids: stacked.grids, cache: cache)
                times.append(Date().timeIntervalSince(t0))
            }
            let m = median(times)
            var r: [String: Any] = ["tokens": ids.count, "seconds": times, "median_s": m, "tflop": flops / 1e12,
                                    "gflops": flops / m / 1e9, "fraction_of_sgemm": flops / m / sgemm]
            log(String(format: "prefill %d tokens %.2f s  %.1f GFLOP/s = %.0f%% of sgemm", ids.count, m, flops / m / 1e9, 100 * flops / m / sgemm))
            if reference, let ref = try runReference("prefill", inputs: inputs) {
                let refS = (ref["seconds"] as? Double) ?? .nan
                r["reference"] = ref
                r["speedup_vs_reference"] = refS / m
                log(String(format: "  reference (transformers fp32, layer-streamed) %.2f s -> %.2fx", refS, refS / m))
            }
            report["prefill"] = r
        }
        if wanted.contains("decode") {
            let cache = qwen.makeCache()
            var (logits, delta) = decodeContext == "text"
                ? try qwen.prefill(inputIDs: Array(ids.suffix(16)), visionTokens: nil, grids: [], cache: cache)
                : try qwen.prefill(inputIDs: ids, visionTokens: try vision(), grids: stacked.grids, cache: cache)
            var times: [Double] = []
            for _ in 0..<(max(decodeTokens, 1) + 1) {
                let token = LogitsProcessing.argmax(logits).index
                t0 = Date()
                logits = try qwen.decodeStep(token: token, cache: cache, ropeDelta: delta)
                times.append(Date().timeIntervalSince(t0))
            }
            times.removeFirst()
            delta = 0
            let m = median(times)
            let bytes = decodeWeightBytes(qwen)
            var r: [String: Any] = ["seconds_per_token": times, "median_s": m, "tokens_per_s": 1 / m,
                                    "weight_gb": bytes / 1e9, "gbs": bytes / m / 1e9, "fraction_of_stream": bytes / m / stream,
                                    "context": cache.count]
            log(String(format: "decode  %.3f s/token (%.2f tok/s)  %.1f GB/s of weights = %.0f%% of STREAM", m, 1 / m, bytes / m / 1e9, 100 * bytes / m / stream))
            if reference, let ref = try runReference("decode", inputs: inputs) {
                let refS = (ref["median_s"] as? Double) ?? .nan
                r["reference"] = ref
                r["speedup_vs_reference"] = refS / m
                log(String(format: "  reference (transformers bf16) %.3f s/token -> %.2fx", refS, refS / m))
            }
            report["decode"] = r
        }
        let peakMiB = Double(peakResidentBytes()) / 1_048_576
        if profile {
            let prof = ProfilingBackend(backend)
            let profiled = try QwenVLModel(directory: model, backend: prof)  // the same memory-mapped weights
            t0 = Date()
            let v = try profiled.encodeImages(pixelValues: stacked.pixelValues, grids: stacked.grids)
            let visionS = Date().timeIntervalSince(t0)
            log(String(format: "profiled vision %.2f s:", visionS))
            prof.reportLines(total: visionS, milliseconds: false).forEach { log($0) }
            log("  products by shape (rows x in -> out):")
            prof.productLines().forEach { log("  " + $0) }
            prof.reset()
            t0 = Date()
            _ = try profiled.prefill(inputIDs: ids, visionTokens: v, grids: stacked.grids, cache: profiled.makeCache())
            let prefillS = Date().timeIntervalSince(t0)
            log(String(format: "profiled prefill %.2f s:", prefillS))
            prof.reportLines(total: prefillS, milliseconds: false).forEach { log($0) }
            log("  products by shape (rows x in -> out):")
            prof.productLines().forEach { log("  " + $0) }
        }
        report["peak_rss_mib"] = peakMiB
        log(String(format: "peak RSS %.0f MiB", peakMiB))
        if json {
            let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys, .prettyPrinted])
            print(String(decoding: data, as: UTF8.self))
        }
    }

    // MARK: - reference

    func writeReferenceInputs(_ dir: String, ids: [Int], pixels: Tensor, grids: [QwenGrid]) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        func ints(_ v: [Int], _ shape: [Int], _ name: String) throws {
            try v.map { Int64($0).littleEndian }.withUnsafeBytes {
                try NPY.write(bytes: [UInt8]($0), descr: "<i8", shape: shape, to: dir + "/" + name)
            }
        }
        try ints(ids, [1, ids.count], "input_ids.npy")
        try ints(grids.flatMap { [$0.t, $0.h, $0.w] }, [grids.count, 3], "image_grid_thw.npy")
        try NPY.write(pixels, to: dir + "/pixel_values.npy")
    }

    /// Runs one reference stage in a child process; its last stdout line is JSON.
    func runReference(_ stage: String, inputs: String) throws -> [String: Any]? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [referenceScript, "--model", model, "--inputs", inputs, "--stage", stage, "--threads", "\(threads)",
                       "--runs", "\(runs)", "--decode-tokens", "\(decodeTokens)", "--decode-prompt", decodeContext]
        var env = ProcessInfo.processInfo.environment
        env["OMP_NUM_THREADS"] = "\(threads)"
        env["OPENBLAS_NUM_THREADS"] = "\(threads)"
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0,
              let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last,
              let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        else {
            FileHandle.standardError.write(Data("reference stage \(stage) failed (exit \(p.terminationStatus))\n".utf8))
            return nil
        }
        return obj
    }

    // MARK: - work and limits

    /// FLOPs of the vision tower (2 per multiply-add): patch embed (temporally summed kernel), qkv/proj/MLP linears,
    /// attention within full-attention images and windows, merger.
    func visionFLOPs(_ c: QwenVisionConfig, grids: [QwenGrid]) -> Double {
        let n = Double(grids.reduce(0) { $0 + $1.patches })
        let h = Double(c.hiddenSize), i = Double(c.intermediateSize)
        let unit = Double(c.spatialMergeSize * c.spatialMergeSize)
        var total = 2 * n * h * Double(c.inChannels * c.patchSize * c.patchSize)
        let linear = 2 * n * (h * 3 * h + h * h + 3 * h * i)
        let windows = (try? QwenVisionGeometry.windowIndex(grids: grids, mergeSize: c.spatialMergeSize,
                                                           windowSize: c.windowSize, patchSize: c.patchSize))?.cuWindowSeqlens ?? []
        let windowAttn = zip(windows.dropFirst(), windows).reduce(0.0) { $0 + 4 * Double($1.0 - $1.1) * Double($1.0 - $1.1) * h }
        let full = QwenVisionGeometry.fullAttentionSeqlens(grids: grids)
        let fullAttn = zip(full.dropFirst(), full).reduce(0.0) { $0 + 4 * Double($1.0 - $1.1) * Double($1.0 - $1.1) * h }
        for b in 0..<c.depth { total += linear + (c.fullattBlockIndexes.contains(b) ? fullAttn : windowAttn) }
        total += 2 * (n / unit) * (unit * h * unit * h + unit * h * Double(c.outHiddenSize))
        return total
    }

    /// FLOPs of the prefill: every layer's linears, causal attention (half the square), the head on the last row.
    func prefillFLOPs(_ c: QwenTextConfig, tokens: Int) -> Double {
        let l = Double(tokens), h = Double(c.hiddenSize), d = Double(c.headDim)
        let q = Double(c.numAttentionHeads) * d, kv = Double(c.numKeyValueHeads) * d
        let perLayer = 2 * l * (h * q + 2 * h * kv + q * h + 3 * h * Double(c.intermediateSize)) + 2 * l * l * q
        return Double(c.numHiddenLayers) * perLayer + 2 * h * Double(c.vocabSize)
    }

    /// Bytes of weights one decode step reads: every language-model matrix and the head, in their stored dtype.
    func decodeWeightBytes(_ m: QwenVLModel) -> Double {
        let c = m.config.text
        let h = Double(c.hiddenSize), d = Double(c.headDim)
        let q = Double(c.numAttentionHeads) * d, kv = Double(c.numKeyValueHeads) * d
        let perLayer = h * q + 2 * h * kv + q * h + 3 * h * Double(c.intermediateSize)
        let bytesPer = Double((try? m.weights.info("model.embed_tokens.weight").dtype.itemSize) ?? 2)
        return bytesPer * (Double(c.numHiddenLayers) * perLayer + h * Double(c.vocabSize))
    }

    /// STREAM triad a = b + s·c over 3 × 128 MiB, `threads` workers; median bytes/s of 5 runs.
    func measureTriadBandwidth(threads: Int) -> Double {
        let n = 32 << 20
        let a = UnsafeMutablePointer<Float>.allocate(capacity: n), b = UnsafeMutablePointer<Float>.allocate(capacity: n)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        let workers = max(threads, 1), per = n / workers
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for i in (w * per)..<(w == workers - 1 ? n : (w + 1) * per) { a[i] = 0; b[i] = 1; c[i] = 2 }
        }
        var rates: [Double] = []
        for _ in 0..<6 {
            let t = Date()
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let lo = w * per, hi = w == workers - 1 ? n : (w + 1) * per
                var i = lo
                while i + 8 <= hi {
                    let v = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
                        + 3 * UnsafeRawPointer(c + i).loadUnaligned(as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(a + i).storeBytes(of: v, as: SIMD8<Float>.self)
                    i += 8
                }
                while i < hi { a[i] = b[i] + 3 * c[i]; i += 1 }
            }
            rates.append(Double(3 * n * 4) / Date().timeIntervalSince(t))
        }
        rates.removeFirst()
        return median(rates)
    }

    func syntheticImage() throws -> RGBImage {
        let w = 1280, h = 720
        var px = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h { for x in 0..<w { for ch in 0..<3 { px[(y * w + x) * 3 + ch] = UInt8((x * (ch + 1) + y * (3 - ch)) % 256) } } }
        return try RGBImage(width: w, height: h, pixels: px)
    }

    func median(_ v: [Double]) -> Double {
        let s = v.sorted()
        return s.isEmpty ? .nan : s[s.count / 2]
    }
}
