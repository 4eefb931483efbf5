import Foundation
import Imaging

/// What a reasoning model gives back for one question about one image.
public struct ReasonerOutput: Sendable {
    public var text: String
    public var promptTokens: Int
    public var generatedTokens: Int
    /// Milliseconds.
    public var preprocessMs = 0.0, visionMs = 0.0, prefillMs = 0.0, decodeMs = 0.0
    /// The vision-tower output came from the per-frame cache.
    public var visionCacheHit = false
    /// The KV cache of the prompt prefix (system turn and image) came from the per-frame cache.
    public var prefixCacheHit = false

    public init(text: String, promptTokens: Int, generatedTokens: Int) {
        self.text = text
        self.promptTokens = promptTokens
        self.generatedTokens = generatedTokens
    }
}

/// The reasoning half of the pipeline: a vision-language model that reads an image (already pre-resized to
/// the model frame) and a rendered prompt, and writes `<think>…</think><answer>…</answer>`.
public protocol Reasoner: AnyObject {
    var name: String { get }
    /// Per-frame cache hits so far (vision-tower outputs reused).
    var cacheHits: Int { get }
    /// `frame` identifies the image for per-frame caches (nil: do not cache).
    func reason(image: RGBImage, prompt: String, frame: FrameKey?, maxNewTokens: Int,
                shouldContinue: @escaping () -> Bool) throws -> ReasonerOutput
}

/// One segmented object of a reasoning-segmentation answer, in image pixels.
public struct SegmentedObject: Sendable {
    public var bbox: [Int]
    public var points: [[Int]]
    /// SAM2's predicted IoU of the chosen mask.
    public var score: Float
    /// `height * width` bytes, 0 or 1.
    public var mask: [UInt8]
}

/// The answer to one question: objects (empty: no target), the reasoning text and timings.
public struct ReasoningSegmentation: Sendable {
    public var objects: [SegmentedObject]
    public var think: String?
    public var answer: String
    public var raw: String
    public var reasoner: ReasonerOutput
    public var preprocessMs = 0.0, segmentMs = 0.0, segmentVisionMs = 0.0
    public var segmenterCacheHit = false
}

/// Why a question got no objects for a reason other than "no target".
public enum ReasoningSegmentationError: Error, CustomStringConvertible {
    /// The model's output could not be read; `raw` is what it wrote. `reasoner` carries its timings and token counts.
    case unparseable(AnswerParseError, think: String?, reasoner: ReasonerOutput?, preprocessMs: Double)
    case cancelled
    public var description: String {
        switch self {
        case let .unparseable(e, _, _, _): return e.description
        case .cancelled: return "cancelled"
        }
    }
}

/// Seg-Zero style reasoning segmentation: pre-resize the image to the model frame (bilinear, aspect not
/// kept), ask the reasoning model with the profile's template, parse its answer, map the coordinates back to
/// the image, and run SAM2 once per object with its box and points (two positive points for Seg-Zero, one
/// for VisionReasoner), keeping SAM2's best multimask output and its score. Unlike the reference, objects stay
/// separate instead of being OR-ed into one mask.
public final class ReasoningSegmenter {
    public let reasoner: Reasoner
    public let segmenter: SAM2ImagePredictor
    public let embeddings: FrameCache<SAM2ImageEmbedding>
    /// The model frame the templates' coordinates live in (840 for Seg-Zero / VisionReasoner).
    public let modelFrame: Int

    /// `embeddings`: a cache shared with other users of the same SAM2 model (e.g. direct-prompt queries).
    public init(reasoner: Reasoner, segmenter: SAM2ImagePredictor, modelFrame: Int = 840,
                embeddings: FrameCache<SAM2ImageEmbedding>? = nil) {
        self.reasoner = reasoner
        self.segmenter = segmenter
        self.modelFrame = modelFrame
        self.embeddings = embeddings ?? FrameCache(capacity: 2)
    }

    public func run(
        image: RGBImage, question: String, format: AnswerFormat, frame: FrameKey?, maxNewTokens: Int,
        shouldContinue: @escaping () -> Bool = { true }
    ) throws -> ReasoningSegmentation {
        let clock = ContinuousClock()
        var t = clock.now
        func lap() -> Double {
            let now = clock.now
            defer { t = now }
            let d = now - t
            return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
        }
        let template: PromptTemplate = format == .segZero ? .segZero : .visionReasoner
        let resized = try Resample.pillow(image, width: modelFrame, height: modelFrame, filter: .bilinear)
        let preprocessMs = lap()
        let reasoned = try reasoner.reason(
            image: resized, prompt: template.render(question: question), frame: frame, maxNewTokens: maxNewTokens,
            shouldContinue: shouldContinue)
        _ = lap()
        guard shouldContinue() else { throw ReasoningSegmentationError.cancelled }
        let parsed: ParsedAnswer
        do {
            parsed = try AnswerParser.parse(reasoned.text, format: format)
        } catch let error as AnswerParseError {
            throw ReasoningSegmentationError.unparseable(error, think: AnswerParser.extractThink(reasoned.text), reasoner: reasoned,
                                                         preprocessMs: preprocessMs)
        }
        let mapping = CoordinateMapping(modelWidth: Double(modelFrame), modelHeight: Double(modelFrame),
                                        imageWidth: image.width, imageHeight: image.height)
        var result = ReasoningSegmentation(objects: [], think: parsed.think, answer: parsed.answer, raw: reasoned.text,
                                           reasoner: reasoned, preprocessMs: preprocessMs)
        guard !parsed.targets.isEmpty else { return result }
        let embedding: SAM2ImageEmbedding
        if let frame {
            let cached = try embeddings.value(for: frame) { try segmenter.embed(image) }
            embedding = cached.value
            result.segmenterCacheHit = cached.hit
        } else {
            embedding = try segmenter.embed(image)
        }
        result.segmentVisionMs = lap()
        for target in parsed.targets {
            guard shouldContinue() else { throw ReasoningSegmentationError.cancelled }
            let mapped = mapping.map(target, format: format)
            let prompt = SAM2Prompt(
                box: mapped.bbox.map(Float.init), points: mapped.points.map { $0.map(Float.init) },
                labels: Array(repeating: 1, count: mapped.points.count))
            let prediction = try segmenter.predict(embedding, prompt: prompt, multimask: true)
            guard var best = prediction.scores.indices.first else { continue }
            for i in prediction.scores.indices where prediction.scores[i] >= prediction.scores[best] { best = i }
            result.objects.append(SegmentedObject(bbox: mapped.bbox, points: mapped.points, score: prediction.scores[best],
                                                  mask: prediction.masks[best]))
        }
        result.segmentMs = lap() + result.segmentVisionMs
        return result
    }
}
