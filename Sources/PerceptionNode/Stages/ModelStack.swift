import Compute
import Foundation
import Inference
import NodeRuntime

/// Builds the node's inference stage from `model.*`: the profile (if any), overridden by explicit keys; SAM2
/// answers direct prompts, SAM2 + the reasoning model answer text. A model that cannot be loaded (not
/// configured, not downloaded, malformed) does not stop the node: the queries that need it answer
/// `model_unavailable` with the reason, which names the key to set or the command that fetches the weights.
enum ModelStack {
    /// What the config asks for, with the profile's defaults filled in.
    struct Plan {
        var profile: ModelProfile?
        var reasoner: String?
        var segmenter: ModelLocation?
        var segmenterArch: String
        var archBase: String
        var template: AnswerFormat
        var frame: Int
        var maxNewTokens: Int
        var cacheFrames: Int
    }

    static func plan(_ config: NodeConfig) throws -> Plan {
        let profileName = config.string("model.profile")
        let profile = profileName.isEmpty ? nil : try ModelProfile.load(profileName, directory: config.string("model.profiles_dir"))
        let reasoner = config.string("model.reasoner")
        let segmenter = config.string("model.segmenter")
        let template = config.string("model.template")
        let arch = config.string("model.segmenter_arch")
        return Plan(
            profile: profile,
            reasoner: reasoner.isEmpty ? profile?.reasoner?.location : reasoner,
            segmenter: segmenter.isEmpty ? profile?.segmenter.map { ModelLocation($0.location, file: $0.file) } : ModelLocation(segmenter),
            segmenterArch: arch != "auto" || !segmenter.isEmpty ? arch : (profile?.segmenter?.architecture ?? "auto"),
            archBase: FileManager.default.currentDirectoryPath,
            template: AnswerFormat(rawValue: template) ?? profile?.reasoner?.template ?? .segZero,
            frame: config.int("model.frame") > 0 ? config.int("model.frame") : (profile?.reasoner?.frame ?? 840),
            maxNewTokens: config.int("model.max_new_tokens") > 0 ? config.int("model.max_new_tokens") : (profile?.reasoner?.maxNewTokens ?? 1024),
            cacheFrames: config.int("model.cache_frames"))
    }

    static func makeStage(_ config: NodeConfig) throws -> InferenceStage {
        let plan = try plan(config)
        let backend = BLASBackend()
        var segmenterProblem: String?
        var predictor: SAM2ImagePredictor?
        var segmenterName = ""
        if let location = plan.segmenter {
            segmenterName = location.location + (location.file.map { "/" + $0 } ?? "")
            do {
                let path = try location.resolve()
                let arch = try SAM2Architecture.resolve(plan.segmenterArch, relativeTo: plan.archBase)
                predictor = try SAM2ImagePredictor(checkpoint: path, config: arch, backend: backend)
            } catch {
                segmenterProblem = "SAM2 (model.segmenter=\(segmenterName)) could not be loaded: \(error)"
            }
        } else {
            segmenterProblem = "no segmentation model configured: set model.segmenter (a SAM2 .pt checkpoint or Hugging Face repo) or model.profile"
        }
        var reasonerProblem: String?
        var reasoner: QwenReasoner?
        if let location = plan.reasoner {
            do {
                reasoner = try QwenReasoner(directory: try ModelLocation(location).resolve(), backend: backend, cacheFrames: plan.cacheFrames)
            } catch {
                reasonerProblem = "Qwen2.5-VL (model.reasoner=\(location)) could not be loaded: \(error)"
            }
        } else {
            reasonerProblem = "no reasoning model configured: set model.reasoner (a Qwen2.5-VL checkpoint directory or Hugging Face repo) or model.profile"
        }
        var models = ModelDescription(reasoner: plan.reasoner ?? "", segmenter: segmenterName, backend: config.string("model.backend"))
        if reasoner != nil, let r = plan.reasoner { models.loaded.append(r) }
        let embeddings = FrameCache<SAM2ImageEmbedding>(capacity: plan.cacheFrames)
        let textStage: InferenceStage
        if let reasoner, let predictor {
            let pipeline = ReasoningSegmenter(reasoner: reasoner, segmenter: predictor, modelFrame: plan.frame, embeddings: embeddings)
            textStage = ReasoningStage(pipeline: pipeline, defaultFormat: plan.template, maxNewTokens: plan.maxNewTokens, models: models)
        } else {
            textStage = ModelUnavailableStage(models: models, reasonerProblem: reasonerProblem, segmenterProblem: segmenterProblem)
        }
        guard let predictor else { return textStage }
        return SAM2PromptStage(predictor: predictor, segmenterName: segmenterName, textStage: textStage, embeddings: embeddings)
    }
}
