import Compute
import Foundation
import Inference
import NodeRuntime
import PerceptionMessages

/// Answers queries that carry a direct SAM2 `prompt` (boxes / points / labels in image pixels) with real
/// SAM2 masks, and hands text queries to `textStage` (the reasoning pipeline, or the model-unavailable stage).
///
/// Prompt semantics: each box is one object (the points, if any, go with it when there is exactly one box);
/// without boxes, all points together are one object. Labels are 1 (foreground) or 0 (background); a box with
/// points from the query is SAM2's box + clicks prompt. Each object is SAM2's best-scoring multimask output
/// (ties go to the later mask, as the reference's `argsort(scores)[::-1][0]`). The image embedding of a frame
/// is computed once and reused by later prompts on the same frame (bounded cache of recent frames).
final class SAM2PromptStage: InferenceStage, @unchecked Sendable {
    let predictor: SAM2ImagePredictor
    let embeddings: FrameCache<SAM2ImageEmbedding>
    let textStage: InferenceStage
    let models: ModelDescription
    /// The reasoning stage counts the shared embedding cache with its own; otherwise count it here.
    var cacheHits: UInt64 { textStage is ReasoningStage ? textStage.cacheHits : UInt64(embeddings.hits) }

    init(predictor: SAM2ImagePredictor, segmenterName: String, textStage: InferenceStage,
         embeddings: FrameCache<SAM2ImageEmbedding>) {
        self.predictor = predictor
        self.textStage = textStage
        self.embeddings = embeddings
        var models = textStage.models
        models.segmenter = segmenterName
        models.loaded.append(segmenterName)
        self.models = models
    }

    func run(_ request: InferenceRequest) throws -> InferenceOutput {
        guard let prompt = request.query.prompt else { return try textStage.run(request) }
        let image = request.frame.image
        let prompts = try Self.sam2Prompts(prompt, width: image.width, height: image.height)
        var timings = StageTimings()
        let clock = ContinuousClock()
        let start = clock.now
        let key = FrameKey(seq: request.frame.seq, stampNs: request.frame.stampNs)
        let (embedding, hit) = try embeddings.value(for: key) { try predictor.embed(image) }
        timings.vision = Self.ms(clock.now - start)
        if request.isCancelled { throw InferenceError.cancelled() }
        let segmentStart = clock.now
        var objects: [InferenceObject] = []
        for p in prompts {
            let prediction: SAM2Prediction
            do {
                prediction = try predictor.predict(embedding, prompt: p, multimask: true)
            } catch let error as SAM2Error {
                throw InferenceError(.badRequest, error.description, timings: timings)
            }
            guard var best = prediction.scores.indices.first else { continue }
            for i in prediction.scores.indices where prediction.scores[i] >= prediction.scores[best] { best = i }
            guard let mask = BinaryMask(width: prediction.width, height: prediction.height, pixels: prediction.masks[best]) else {
                throw InferenceError(.internal, "SAM2 returned a mask of the wrong size")
            }
            let bbox: [Double]
            if let box = p.box {
                bbox = box.map(Double.init)
            } else if let b = mask.boundingBox {
                bbox = [Double(b.x1), Double(b.y1), Double(b.x2), Double(b.y2)]
            } else {
                bbox = [0, 0, 0, 0]
            }
            objects.append(InferenceObject(bbox: bbox, points: p.points.map { $0.map(Double.init) },
                                           score: Double(prediction.scores[best]), mask: mask))
            if request.isCancelled { throw InferenceError.cancelled() }
        }
        timings.segment = Self.ms(clock.now - segmentStart)
        var output = InferenceOutput(objects: objects, timings: timings)
        output.cache = ["embedding": hit]
        return output
    }

    /// Turns the query's prompt into SAM2 prompts, one per object; rejects what SAM2 cannot mean.
    static func sam2Prompts(_ prompt: Query.Prompt, width: Int, height: Int) throws -> [SAM2Prompt] {
        func bad(_ message: String) -> InferenceError { InferenceError(.badRequest, "prompt: \(message)") }
        guard prompt.points.count == prompt.labels.count else {
            throw bad("\(prompt.points.count) points but \(prompt.labels.count) labels")
        }
        for (i, label) in prompt.labels.enumerated() where label != 0 && label != 1 {
            throw bad("labels[\(i)] is \(label); use 1 (foreground) or 0 (background)")
        }
        for (i, p) in prompt.points.enumerated() where p.count != 2 || !p.allSatisfy(\.isFinite) {
            throw bad("points[\(i)] must be [x, y] with finite numbers")
        }
        for (i, b) in prompt.boxes.enumerated() {
            guard b.count == 4, b.allSatisfy(\.isFinite) else { throw bad("boxes[\(i)] must be [x1, y1, x2, y2]") }
            guard b[0] <= b[2], b[1] <= b[3] else { throw bad("boxes[\(i)] has x2 < x1 or y2 < y1") }
            guard b[2] >= 0, b[3] >= 0, b[0] <= Double(width), b[1] <= Double(height) else {
                throw bad("boxes[\(i)] lies outside the \(width)x\(height) image")
            }
        }
        let points = prompt.points.map { $0.map { Float($0) } }
        if prompt.boxes.isEmpty {
            guard !points.isEmpty else { throw bad("needs boxes or points") }
            return [SAM2Prompt(points: points, labels: prompt.labels)]
        }
        if prompt.boxes.count > 1 && !points.isEmpty {
            throw bad("points with several boxes are ambiguous: send one query per box, or boxes only")
        }
        return prompt.boxes.map { SAM2Prompt(box: $0.map { Float($0) }, points: points, labels: prompt.labels) }
    }

    static func ms(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }
}
