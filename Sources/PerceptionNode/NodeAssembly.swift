import Logging
import Camera
import NodeRuntime

/// Wires config to the concrete camera source and inference stage. This is where the models plug in: the
/// runtime only sees the `InferenceStage` protocol.
enum NodeAssembly {
    /// The frame source named by `camera.source`.
    static func makeSource(_ config: NodeConfig) throws -> (FrameSource, String) {
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
        case "mcap", "bag":
            let topic = config.string("camera.topic"), scale = config.double("camera.rate_scale")
            let options = LogReplaySource.Options(
                topic: topic.isEmpty ? nil : topic, rate: scale > 0 ? scale : nil, loop: config.bool("camera.loop"),
                startOffset: config.double("camera.start_offset"))
            return (try LogReplaySource(path: config.string("camera.path"), options: options), kind)
        default:
            throw ConfigError.notAvailable(key: "camera.source", value: kind, reason: "unknown source (folder, v4l2, mcap, bag)")
        }
    }

    /// The MCAP recorder for `recording.*` (or `run --record FILE`, which wins); nil when not recording.
    static func makeRecorder(_ config: NodeConfig, recordPath: String?, logger: Logger) throws -> RuntimeRecorder? {
        let path = recordPath ?? (config.bool("recording.enabled") ? config.string("recording.path") : "")
        if recordPath == nil && config.bool("recording.enabled") && path.isEmpty {
            throw ConfigError.badValue(key: "recording.path", value: "", expected: "an MCAP file path when recording.enabled is true", origin: "config")
        }
        guard !path.isEmpty else { return nil }
        return try NodeRecorder(path: path, logger: logger)
    }

    /// The inference stage for `model.*` (see `ModelStack`): SAM2 for direct prompts, SAM2 + Qwen2.5-VL for text.
    static func makeStage(_ config: NodeConfig) throws -> InferenceStage {
        try ModelStack.makeStage(config)
    }
}
