import Foundation
import Inference
import NodeRuntime
import PerceptionMessages

/// Answers text queries with the Seg-Zero pipeline (`ReasoningSegmenter`): the query's `mode` picks the
/// answer format (single: Seg-Zero, multi: VisionReasoner, auto: the profile's template).
final class ReasoningStage: InferenceStage, @unchecked Sendable {
    let pipeline: ReasoningSegmenter
    let defaultFormat: AnswerFormat
    let maxNewTokens: Int
    let models: ModelDescription
    /// SAM2 embeddings (shared with direct prompts) and vision-tower outputs reused.
    var cacheHits: UInt64 { UInt64(pipeline.embeddings.hits + pipeline.reasoner.cacheHits) }

    init(pipeline: ReasoningSegmenter, defaultFormat: AnswerFormat, maxNewTokens: Int, models: ModelDescription) {
        self.pipeline = pipeline
        self.defaultFormat = defaultFormat
        self.maxNewTokens = maxNewTokens
        self.models = models
    }

    func run(_ request: InferenceRequest) throws -> InferenceOutput {
        guard let text = request.query.text, !text.isEmpty else {
            throw InferenceError(.badRequest, "a query without a prompt needs text")
        }
        let format: AnswerFormat
        switch request.mode {
        case .single: format = .segZero
        case .multi: format = .visionReasoner
        case .auto: format = defaultFormat
        }
        let frame = request.frame
        let result: ReasoningSegmentation
        do {
            result = try pipeline.run(
                image: frame.image, question: text, format: format, frame: FrameKey(seq: frame.seq, stampNs: frame.stampNs),
                maxNewTokens: maxNewTokens, shouldContinue: { !request.isCancelled })
        } catch let error as ReasoningSegmentationError {
            switch error {
            case .cancelled: throw InferenceError.cancelled()
            case let .unparseable(parse, think, reasoned, preprocessMs):
                var timings = StageTimings()
                if let reasoned {
                    timings.preprocess = preprocessMs + reasoned.preprocessMs
                    timings.vision = reasoned.visionMs
                    timings.prefill = reasoned.prefillMs
                    timings.decode = reasoned.decodeMs
                }
                throw InferenceError(.answerUnparseable, parse.description, think: think, answer: parse.raw, timings: timings)
            }
        }
        var timings = StageTimings()
        timings.preprocess = result.preprocessMs + result.reasoner.preprocessMs
        timings.vision = result.reasoner.visionMs
        timings.prefill = result.reasoner.prefillMs
        timings.decode = result.reasoner.decodeMs
        timings.segment = result.segmentMs
        let objects = try result.objects.map { o -> InferenceObject in
            guard let mask = BinaryMask(width: frame.image.width, height: frame.image.height, pixels: o.mask) else {
                throw InferenceError(.internal, "SAM2 returned a mask of the wrong size")
            }
            return InferenceObject(bbox: o.bbox.map(Double.init), points: o.points.map { $0.map(Double.init) },
                                   score: Double(o.score), mask: mask)
        }
        var output = InferenceOutput(objects: objects, think: result.think, answer: result.answer, timings: timings,
                                     promptTokens: result.reasoner.promptTokens, generatedTokens: result.reasoner.generatedTokens)
        output.cache = ["vision": result.reasoner.visionCacheHit, "prefix": result.reasoner.prefixCacheHit]
        if !result.objects.isEmpty { output.cache["embedding"] = result.segmenterCacheHit }
        return output
    }
}
