import ArgumentParser
import Compute
import Foundation
import Imaging
import Inference

/// `reason`: the Qwen2.5-VL reasoning model alone on one image and question, decoding as the checkpoint's
/// generation_config.json says (greedy by default, as Seg-Zero; its repetition penalty included).
struct ReasonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reason",
        abstract: "Ask a Qwen2.5-VL checkpoint about one image (JSON: prompt_ids, tokens, text, answer).",
        discussion: """
            With --template the text is the question: it is normalized and put in the Seg-Zero or VisionReasoner \
            prompt, and the image is first resized to 840x840 (bilinear) as those references do; the answer is \
            parsed and mapped back to image pixels. Without --template the text is the user message as is.
            """)

    @Option(help: "Qwen2.5-VL checkpoint directory (config.json, safetensors, tokenizer files).") var model: String
    @Option(help: "Input image (PNG or JPEG).") var image: String
    @Option(help: "The question (with --template) or the whole user message.") var text: String
    @Option(help: "Prompt template: seg-zero or vision-reasoner.") var template: String?
    @Option(help: "Stop after this many generated tokens.") var maxNewTokens = 1024
    @Flag(help: "Sample with the generation config's temperature/top-k/top-p instead of greedy decoding.") var sample = false
    @Option(help: "Random seed for --sample.") var seed: UInt64 = 0
    @Option(help: "Give up decoding after this many seconds.") var timeout: Double?
    @Option(help: "Write pixel_values, position_ids, vision_output and last-position logits (.npy) here.") var dumpDir: String?
    @Option(help: "Compute threads (default: all cores).") var threads: Int?
    @Flag(help: "Print JSON instead of streaming the text.") var json = false

    func run() throws {
        let promptTemplate = try template.map { try PromptTemplate(name: $0) }
        let backend = BLASBackend(threads: threads)
        let qwen = try QwenVLModel(directory: model, backend: backend)
        let tokenizer = try QwenTokenizer(directory: model)
        let original = try ImageCodec.load(path: image)
        let input = promptTemplate == nil ? original : try QwenImageProcessor.reasoningInput(original)
        let pixels = try qwen.imageProcessor.preprocess(input)
        let userText = promptTemplate?.render(question: text) ?? text
        let imageTokens = ChatTemplate.imageTokenCount(
            gridT: pixels.gridT, gridH: pixels.gridH, gridW: pixels.gridW, mergeSize: qwen.config.vision.spatialMergeSize)
        let ids = try ChatTemplate.qwen25VL(userText: userText, imageTokens: imageTokens, tokenizer: tokenizer).map { Int($0) }
        let stacked = try QwenVLModel.stack([pixels])

        let visionTokens = try qwen.encodeImages(pixelValues: stacked.pixelValues, grids: stacked.grids)
        let cache = qwen.makeCache()
        let (logits, delta) = try qwen.prefill(inputIDs: ids, visionTokens: visionTokens, grids: stacked.grids, cache: cache)
        if let dir = dumpDir {
            try dump(to: dir, qwen: qwen, ids: ids, pixels: stacked.pixelValues, grids: stacked.grids,
                     vision: visionTokens, logits: logits)
        }
        var options = GenerationOptions(
            config: qwen.generationConfig, greedy: !sample, maxNewTokens: maxNewTokens, seed: seed)
        options.deadline = timeout.map { Date().addingTimeInterval($0) }
        var stream = StreamingDecoder(tokenizer: tokenizer, skipSpecialTokens: true)
        let result = try qwen.decode(
            promptIDs: ids, logits: logits, ropeDelta: delta, cache: cache, options: options,
            onToken: { token in
                if !json {
                    FileHandle.standardOutput.write(Data(stream.push(Int32(token)).utf8))
                }
                return true
            })
        let outputText = tokenizer.decode(result.tokens.map { Int32($0) }, skipSpecialTokens: true)
        if !json {
            print(stream.finish())
            if result.stopReason != .eos { FileHandle.standardError.write(Data("[stopped: \(result.stopReason.rawValue)]\n".utf8)) }
            return
        }
        var object: [String: Any] = [
            "prompt_ids": ids, "tokens": result.tokens, "text": outputText, "stop_reason": result.stopReason.rawValue,
            "answer": NSNull(),
        ]
        if let promptTemplate, let format = AnswerFormat(rawValue: promptTemplate.name),
           let parsed = try? AnswerParser.parse(outputText, format: format)
        {
            let mapping = CoordinateMapping(imageWidth: original.width, imageHeight: original.height)
            object["answer"] = [
                "think": parsed.think.map { $0 as Any } ?? NSNull(),
                "answer": parsed.answer,
                "objects": parsed.targets.map { target -> [String: Any] in
                    let mapped = mapping.map(target, format: format)
                    return ["bbox": mapped.bbox, "points": mapped.points]
                },
            ] as [String: Any]
        }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    func dump(to dir: String, qwen: QwenVLModel, ids: [Int], pixels: Tensor, grids: [QwenGrid], vision: Tensor,
              logits: [Float]) throws
    {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        func path(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }
        func writeInts(_ values: [Int], shape: [Int], _ name: String) throws {
            let le = values.map { Int64($0).littleEndian }
            try le.withUnsafeBytes { raw in
                try NPY.write(bytes: [UInt8](raw), descr: "<i8", shape: shape, to: path(name))
            }
        }
        try NPY.write(pixels, to: path("pixel_values.npy"))
        try writeInts(ids, shape: [1, ids.count], "input_ids.npy")
        try writeInts(grids.flatMap { [$0.t, $0.h, $0.w] }, shape: [grids.count, 3], "image_grid_thw.npy")
        let (positions, delta) = try qwen.positionIDs(inputIDs: ids, grids: grids)
        try writeInts(positions.flatMap { $0 }, shape: [3, 1, ids.count], "position_ids.npy")
        try writeInts([delta], shape: [1, 1], "rope_deltas.npy")
        try NPY.write(vision, to: path("vision_output.npy"))
        try NPY.write(try Tensor(logits, shape: [logits.count]), to: path("logits.npy"))
    }
}
