import Foundation
import Imaging

/// Errors from Qwen2.5-VL image preprocessing, naming the offending value or file.
public enum QwenImageProcessorError: Error, Equatable, CustomStringConvertible {
    case aspectRatioTooLarge(width: Int, height: Int)
    case invalidSize(width: Int, height: Int, factor: Int)
    case invalidConfig(path: String, field: String, message: String)
    case unreadableConfig(path: String, message: String)

    public var description: String {
        switch self {
        case .aspectRatioTooLarge(let w, let h):
            return "image \(w)x\(h): absolute aspect ratio must be smaller than 200"
        case .invalidSize(let w, let h, let f): return "cannot smart_resize \(w)x\(h) with factor \(f)"
        case .invalidConfig(let path, let field, let message): return "\(path): field \(field): \(message)"
        case .unreadableConfig(let path, let message): return "\(path): \(message)"
        }
    }
}

/// The preprocessing settings of a Qwen2.5-VL checkpoint (preprocessor_config.json), with transformers' defaults.
///
/// Like transformers 4.57.6, only the top-level `min_pixels` / `max_pixels` keys override the class defaults
/// (56·56 and 28·28·1280); its constructor discards a `size` dictionary read from the file.
public struct QwenImageProcessorConfig: Sendable, Equatable {
    public var minPixels = 56 * 56
    public var maxPixels = 28 * 28 * 1280
    public var patchSize = 14
    public var temporalPatchSize = 2
    public var mergeSize = 2
    public var rescaleFactor = 1.0 / 255.0
    public var imageMean: [Double] = [0.48145466, 0.4578275, 0.40821073]
    public var imageStd: [Double] = [0.26862954, 0.26130258, 0.27577711]

    /// The published Qwen2.5-VL checkpoints' values (max_pixels 16384·28·28).
    public static let checkpointDefault: QwenImageProcessorConfig = {
        var config = QwenImageProcessorConfig()
        config.maxPixels = 12_845_056
        return config
    }()

    public init() {}

    /// Reads preprocessor_config.json; absent keys keep transformers' class defaults.
    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw QwenImageProcessorError.unreadableConfig(path: path, message: "cannot read file")
        }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw QwenImageProcessorError.unreadableConfig(path: path, message: "not JSON: \(error)")
        }
        guard let json = object as? [String: Any] else {
            throw QwenImageProcessorError.unreadableConfig(path: path, message: "top level is not an object")
        }
        func int(_ key: String, _ current: Int, minimum: Int) throws -> Int {
            guard let raw = json[key], !(raw is NSNull) else { return current }
            guard let number = raw as? NSNumber, let value = Int(exactly: number.doubleValue), value >= minimum else {
                throw QwenImageProcessorError.invalidConfig(
                    path: path, field: key, message: "expected an integer >= \(minimum), got \(raw)")
            }
            return value
        }
        func triple(_ key: String, _ current: [Double], positive: Bool) throws -> [Double] {
            guard let raw = json[key], !(raw is NSNull) else { return current }
            guard let values = raw as? [NSNumber], values.count == 3,
                values.allSatisfy({ $0.doubleValue.isFinite && (!positive || $0.doubleValue > 0) })
            else {
                throw QwenImageProcessorError.invalidConfig(
                    path: path, field: key, message: "expected three finite numbers, got \(raw)")
            }
            return values.map(\.doubleValue)
        }
        minPixels = try int("min_pixels", minPixels, minimum: 1)
        maxPixels = try int("max_pixels", maxPixels, minimum: 1)
        patchSize = try int("patch_size", patchSize, minimum: 1)
        temporalPatchSize = try int("temporal_patch_size", temporalPatchSize, minimum: 1)
        mergeSize = try int("merge_size", mergeSize, minimum: 1)
        imageMean = try triple("image_mean", imageMean, positive: false)
        imageStd = try triple("image_std", imageStd, positive: true)
        if let raw = json["rescale_factor"], !(raw is NSNull) {
            guard let number = raw as? NSNumber, number.doubleValue.isFinite, number.doubleValue > 0 else {
                throw QwenImageProcessorError.invalidConfig(
                    path: path, field: "rescale_factor", message: "expected a positive number, got \(raw)")
            }
            rescaleFactor = number.doubleValue
        }
        guard minPixels <= maxPixels else {
            throw QwenImageProcessorError.invalidConfig(
                path: path, field: "min_pixels", message: "\(minPixels) exceeds max_pixels \(maxPixels)")
        }
    }
}

/// One image ready for the vision tower: `rows` patches of `rowLength` floats, in 2×2-merge-block order.
public struct QwenPixelValues: Sendable, Equatable {
    /// Row-major [rows, rowLength]; each row is one patch as [channel][temporal][y][x].
    public var values: [Float]
    public var rows: Int
    /// channels · temporal_patch_size · patch_size² (1176 for the released models).
    public var rowLength: Int
    /// (t, h, w) in patches, as the model's `image_grid_thw`.
    public var gridT: Int
    public var gridH: Int
    public var gridW: Int
    /// The image size after smart_resize.
    public var resizedWidth: Int
    public var resizedHeight: Int
}

/// Qwen2VLImageProcessor (the slow, PIL path) as Qwen2.5-VL uses it: smart_resize, Pillow bicubic,
/// ×rescale_factor, CLIP normalization, temporal duplication and the merge-block patch order.
public struct QwenImageProcessor: Sendable {
    public var config: QwenImageProcessorConfig

    /// Seg-Zero and VisionReasoner resize every input to this square with PIL BILINEAR before the processor.
    public static let reasoningInputSide = 840

    public init(config: QwenImageProcessorConfig = .checkpointDefault) {
        self.config = config
    }

    /// The Seg-Zero / VisionReasoner pre-resize: `image.resize((840, 840), Image.BILINEAR)`, aspect not kept.
    public static func reasoningInput(_ image: RGBImage) throws -> RGBImage {
        try Resample.pillow(image, width: reasoningInputSide, height: reasoningInputSide, filter: .bilinear)
    }

    /// transformers' `smart_resize`: both sides multiples of `factor`, area within [minPixels, maxPixels],
    /// Python's round-half-to-even. Returns (height, width).
    public static func smartResize(height: Int, width: Int, factor: Int, minPixels: Int, maxPixels: Int) throws
        -> (height: Int, width: Int)
    {
        guard height > 0, width > 0, factor > 0 else {
            throw QwenImageProcessorError.invalidSize(width: width, height: height, factor: factor)
        }
        guard Double(max(height, width)) / Double(min(height, width)) <= 200 else {
            throw QwenImageProcessorError.aspectRatioTooLarge(width: width, height: height)
        }
        let f = Double(factor)
        var h = Int((Double(height) / f).rounded(.toNearestOrEven)) * factor
        var w = Int((Double(width) / f).rounded(.toNearestOrEven)) * factor
        if h * w > maxPixels {
            let beta = (Double(height * width) / Double(maxPixels)).squareRoot()
            h = max(factor, Int((Double(height) / beta / f).rounded(.down)) * factor)
            w = max(factor, Int((Double(width) / beta / f).rounded(.down)) * factor)
        } else if h * w < minPixels {
            let beta = (Double(minPixels) / Double(height * width)).squareRoot()
            h = Int((Double(height) * beta / f).rounded(.up)) * factor
            w = Int((Double(width) * beta / f).rounded(.up)) * factor
        }
        return (h, w)
    }

    /// The target size for an image of this size under this processor's settings.
    public func resizedSize(width: Int, height: Int) throws -> (width: Int, height: Int) {
        let size = try Self.smartResize(
            height: height, width: width, factor: config.patchSize * config.mergeSize,
            minPixels: config.minPixels, maxPixels: config.maxPixels)
        return (size.width, size.height)
    }

    /// pixel_values and grid for one still image (grid_t = 1: the frame fills both temporal slots).
    public func preprocess(_ image: RGBImage) throws -> QwenPixelValues {
        let target = try resizedSize(width: image.width, height: image.height)
        let resized = try Resample.pillow(image, width: target.width, height: target.height, filter: .bicubic)
        let patch = config.patchSize
        let merge = config.mergeSize
        let temporal = config.temporalPatchSize
        let gridH = target.height / patch
        let gridW = target.width / patch
        let rowLength = 3 * temporal * patch * patch
        let rows = gridH * gridW
        let planes = normalizedPlanes(resized)
        let width = target.width
        let plane = target.width * target.height
        var values = [Float](repeating: 0, count: rows * rowLength)
        values.withUnsafeMutableBufferPointer { out in
            planes.withUnsafeBufferPointer { src in
                var row = 0
                for blockY in 0..<(gridH / merge) {
                    for blockX in 0..<(gridW / merge) {
                        for innerY in 0..<merge {
                            for innerX in 0..<merge {
                                let y0 = (blockY * merge + innerY) * patch
                                let x0 = (blockX * merge + innerX) * patch
                                var o = row * rowLength
                                for c in 0..<3 {
                                    for _ in 0..<temporal {
                                        for py in 0..<patch {
                                            let s = c * plane + (y0 + py) * width + x0
                                            for px in 0..<patch { out[o + px] = src[s + px] }
                                            o += patch
                                        }
                                    }
                                }
                                row += 1
                            }
                        }
                    }
                }
            }
        }
        return QwenPixelValues(
            values: values, rows: rows, rowLength: rowLength, gridT: 1, gridH: gridH, gridW: gridW,
            resizedWidth: target.width, resizedHeight: target.height)
    }

    /// Planar [3, H, W] floats computed as transformers does: `float32(uint8 · float64 factor)`, then
    /// `(x − mean) / std` in float32.
    func normalizedPlanes(_ image: RGBImage) -> [Float] {
        var table = [Float](repeating: 0, count: 3 * 256)
        for c in 0..<3 {
            let mean = Float(config.imageMean[c])
            let std = Float(config.imageStd[c])
            for v in 0..<256 {
                let scaled = Float(Double(v) * config.rescaleFactor)
                table[c * 256 + v] = (scaled - mean) / std
            }
        }
        let plane = image.width * image.height
        var out = [Float](repeating: 0, count: 3 * plane)
        image.pixels.withUnsafeBufferPointer { px in
            for i in 0..<plane {
                out[i] = table[Int(px[i * 3])]
                out[plane + i] = table[256 + Int(px[i * 3 + 1])]
                out[2 * plane + i] = table[512 + Int(px[i * 3 + 2])]
            }
        }
        return out
    }
}
