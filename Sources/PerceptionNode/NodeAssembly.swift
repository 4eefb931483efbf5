import Camera
import NodeRuntime

/// Wires config to the concrete camera source and inference stage. This is where the models plug in: the
/// runtime only sees the `InferenceStage` protocol.
enum NodeAssembly {
    /// The frame source named by `camera.source`.
    static func makeSource(_ config: NodeConfig) throws -> (FrameSource, String) {
        if config.bool("recording.enabled") {
            throw ConfigError.notAvailable(key: "recording.enabled", value: "true", reason: "the MCAP recorder has not landed yet")
        }
        let kind = config.string("camera.source")
        switch kind {
        case "folder":
            let source = try ImageFolderSource(
                directory: config.string("camera.path"), rate: config.double("camera.rate"), loop: config.bool("camera.loop"),
                frameId: config.string("camera.frame_id"))
            return (source, kind)
        case "v4l2":
            guard let format = V4L2Config.Format(rawValue: config.string("camera.format")) else {
                throw ConfigError.badValue(key: "camera.format", value: config.string("camera.format"),
                                           expected: "a V4L2 format", origin: "config")
            }
            let fps = config.double("camera.fps")
            let v4l2 = V4L2Config(
                device: config.string("camera.device"), format: format, width: config.int("camera.width"),
                height: config.int("camera.height"), fps: fps > 0 ? fps : nil, frameId: config.string("camera.frame_id"))
            return (try V4L2Source(config: v4l2), kind)
        default:
            throw ConfigError.notAvailable(key: "camera.source", value: kind, reason: "MCAP / ROS bag replay has not landed yet")
        }
    }

    /// The inference stage for `model.*`. Until the Qwen2.5-VL and SAM2 stages land, every query answers
    /// model_unavailable with the key to set.
    static func makeStage(_ config: NodeConfig) throws -> InferenceStage {
        let backend = config.string("model.backend")
        let reasoner = config.string("model.reasoner")
        let segmenter = config.string("model.segmenter")
        if reasoner.isEmpty && segmenter.isEmpty { return ModelUnavailableStage.unconfigured(backend: backend) }
        let reasonerProblem = reasoner.isEmpty
            ? "no reasoning model configured: set model.reasoner"
            : "model.reasoner=\(reasoner) is set but this build has no Qwen2.5-VL stage yet"
        let segmenterProblem = segmenter.isEmpty
            ? "no segmentation model configured: set model.segmenter"
            : "model.segmenter=\(segmenter) is set but this build has no SAM2 stage yet"
        return ModelUnavailableStage(
            models: ModelDescription(reasoner: reasoner, segmenter: segmenter, backend: backend),
            reasonerProblem: reasonerProblem, segmenterProblem: segmenterProblem)
    }
}
