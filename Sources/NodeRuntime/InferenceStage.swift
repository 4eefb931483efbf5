import Camera
import PerceptionMessages

/// What the pipeline is asked to do for one query: the decoded query, the chosen frame, and a way to learn that
/// the answer is no longer wanted (deadline passed).
public struct InferenceRequest: Sendable {
    public var query: Query
    /// The answer format: the query's `mode`, else `model.mode` from the config (`auto` lets the profile decide).
    public var mode: Query.Mode
    public var frame: Frame
    /// When the answer stops being useful; nil: no deadline.
    public var deadline: ContinuousClock.Instant?

    public init(query: Query, mode: Query.Mode, frame: Frame, deadline: ContinuousClock.Instant?) {
        self.query = query
        self.mode = mode
        self.frame = frame
        self.deadline = deadline
    }

    /// True once the deadline has passed; long stages check it between steps and throw `.cancelled()`.
    public var isCancelled: Bool {
        guard let deadline else { return false }
        return ContinuousClock.now >= deadline
    }
}

/// One object found by the pipeline, in image pixels of the frame.
public struct InferenceObject: Sendable, Equatable {
    /// [x1, y1, x2, y2]
    public var bbox: [Double]
    /// [[x, y], …]: the prompt points that produced the mask.
    public var points: [[Double]]
    /// SAM2's predicted IoU for the mask.
    public var score: Double
    public var mask: BinaryMask?

    public init(bbox: [Double], points: [[Double]], score: Double, mask: BinaryMask?) {
        self.bbox = bbox
        self.points = points
        self.score = score
        self.mask = mask
    }
}

/// Milliseconds per pipeline step (Result `timing_ms`).
public struct StageTimings: Sendable, Equatable {
    public var preprocess = 0.0, vision = 0.0, prefill = 0.0, decode = 0.0, segment = 0.0
    public init() {}
}

/// What the pipeline answered. No objects means `no_target`.
public struct InferenceOutput: Sendable {
    public var objects: [InferenceObject]
    /// The reasoning chain (`<think>` content) and the raw answer text, when a reasoner ran.
    public var think: String?
    public var answer: String?
    public var timings: StageTimings
    public var promptTokens: Int?
    public var generatedTokens: Int?
    /// Per-frame cache use by stage (`vision`, `prefix`, `embedding` -> hit), reported in the Result.
    public var cache: [String: Bool] = [:]

    public init(objects: [InferenceObject] = [], think: String? = nil, answer: String? = nil, timings: StageTimings = StageTimings(),
                promptTokens: Int? = nil, generatedTokens: Int? = nil) {
        self.objects = objects
        self.think = think
        self.answer = answer
        self.timings = timings
        self.promptTokens = promptTokens
        self.generatedTokens = generatedTokens
    }
}

/// A pipeline failure with the Result error code it maps to; think/answer are kept for `answer_unparseable`.
public struct InferenceError: Error, Sendable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    public var think: String?
    public var answer: String?
    public var timings: StageTimings

    public init(_ code: ErrorCode, _ message: String, think: String? = nil, answer: String? = nil, timings: StageTimings = StageTimings()) {
        self.code = code
        self.message = message
        self.think = think
        self.answer = answer
        self.timings = timings
    }

    public var description: String { "\(code.rawValue): \(message)" }

    /// A stage that noticed `isCancelled` throws this.
    public static func cancelled() -> InferenceError { InferenceError(.deadlineExceeded, "deadline passed during inference") }
}

/// Names of the models behind a stage, for Result `model` and Status `models`.
public struct ModelDescription: Sendable, Equatable {
    public var reasoner: String
    public var segmenter: String
    public var backend: String
    /// Models actually loaded in memory.
    public var loaded: [String]

    public init(reasoner: String = "", segmenter: String = "", backend: String = "", loaded: [String] = []) {
        self.reasoner = reasoner
        self.segmenter = segmenter
        self.backend = backend
        self.loaded = loaded
    }
}

/// The pipeline seam: the runtime hands a query and its frame to a stage on the worker thread and turns the
/// output (or error) into exactly one Result. The models (Qwen2.5-VL reasoning, SAM2 masks) implement it; the
/// executable picks the implementation from the config. Called from one thread at a time.
public protocol InferenceStage: AnyObject, Sendable {
    var models: ModelDescription { get }
    /// Per-frame cache hits so far (SAM2 embeddings, vision-tower outputs), for Status `cache_hits`.
    var cacheHits: UInt64 { get }
    /// Any error that is not an `InferenceError` becomes `internal`.
    func run(_ request: InferenceRequest) throws -> InferenceOutput
}

extension InferenceStage {
    public var cacheHits: UInt64 { 0 }
}

/// The stage used when the models a query needs are not configured (or not part of this build): every query
/// answers `model_unavailable` with a message naming the config key to set. It never invents a mask.
public final class ModelUnavailableStage: InferenceStage {
    public let models: ModelDescription
    private let reasonerProblem: String?
    private let segmenterProblem: String?

    /// `reasonerProblem` / `segmenterProblem`: why that model cannot run (nil when it could).
    public init(models: ModelDescription, reasonerProblem: String?, segmenterProblem: String?) {
        self.models = models
        self.reasonerProblem = reasonerProblem
        self.segmenterProblem = segmenterProblem
    }

    /// The stage for a config with neither model set.
    public static func unconfigured(backend: String) -> ModelUnavailableStage {
        ModelUnavailableStage(
            models: ModelDescription(backend: backend),
            reasonerProblem: "no reasoning model configured: set model.reasoner (a Qwen2.5-VL checkpoint directory or Hugging Face repo)",
            segmenterProblem: "no segmentation model configured: set model.segmenter (a SAM2 .pt checkpoint or Hugging Face repo)")
    }

    public func run(_ request: InferenceRequest) throws -> InferenceOutput {
        if request.query.prompt != nil {
            throw InferenceError(.modelUnavailable, segmenterProblem ?? "the segmentation stage is not available")
        }
        let problems = [reasonerProblem, segmenterProblem].compactMap { $0 }
        throw InferenceError(.modelUnavailable, problems.isEmpty ? "the reasoning stage is not available" : problems.joined(separator: "; "))
    }
}
