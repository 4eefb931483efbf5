import Foundation

/// The two answer formats the reasoning models are trained to write (ENGINE_NOTES §0).
public enum AnswerFormat: String, Sendable, CaseIterable {
    /// Seg-Zero-7B: one object, `{"bbox": [x1,y1,x2,y2], "points_1": [x,y], "points_2": [x,y]}`.
    case segZero = "seg-zero"
    /// VisionReasoner-7B: a list `[{"bbox_2d": [x1,y1,x2,y2], "point_2d": [x,y]}, …]`.
    case visionReasoner = "vision-reasoner"
}

/// One target as the model wrote it, in the model's coordinate frame (the 840×840 pre-resized image).
public struct AnswerTarget: Equatable, Sendable {
    public var bbox: [Double]
    public var points: [[Double]]
    public init(bbox: [Double], points: [[Double]]) {
        self.bbox = bbox
        self.points = points
    }
}

/// A parsed reasoning-model output. `targets` empty means the model said there is no target.
public struct ParsedAnswer: Equatable, Sendable {
    public var format: AnswerFormat
    /// The `<think>` text as the reference extracts it (`<think>([^<]+)</think>`), nil when absent.
    public var think: String?
    /// The answer text the targets were read from (inside `<answer>` when present).
    public var answer: String
    public var targets: [AnswerTarget]
}

/// Why an output could not be read. Carries the raw text so the Result can show it.
public struct AnswerParseError: Error, Equatable, CustomStringConvertible {
    public var reason: String
    public var raw: String
    public var description: String { "answer unparseable: \(reason)" }
}

/// A target mapped to image pixels: integers, clamped to the image, corners ordered.
public struct ImageTarget: Equatable, Sendable {
    public var bbox: [Int]
    public var points: [[Int]]
    public init(bbox: [Int], points: [[Int]]) {
        self.bbox = bbox
        self.points = points
    }
}

/// Reads Seg-Zero and VisionReasoner outputs.
///
/// Tolerant where the reference scripts are brittle, strict where tolerance would mean guessing:
/// - the search is scoped to `<answer>…</answer>` when the tags are present (the Seg-Zero reference scans
///   the whole output and can pick a `{…}` from the think text), else to the whole output;
/// - single-quoted pseudo-JSON (as in the Seg-Zero prompt's example), `12.` numbers and trailing commas parse;
/// - keys are matched as the references do: Seg-Zero takes the first key containing "bbox" and the first two
///   containing "points" (case-insensitive); VisionReasoner items need `bbox_2d` and `point_2d`;
/// - anything missing or mis-shaped is an `AnswerParseError`, never a default box; `[]` means no target.
public enum AnswerParser {
    public static func parse(_ output: String, format: AnswerFormat) throws -> ParsedAnswer {
        let think = extractThink(output)
        let scope = answerScope(output)
        let scalars = Array(scope.unicodeScalars)
        func fail(_ reason: String) -> AnswerParseError { AnswerParseError(reason: reason, raw: output) }

        switch format {
        case .segZero:
            guard let start = scalars.firstIndex(of: "{") else { throw fail("no JSON object in the answer") }
            guard let (value, _) = LenientJSON.parsePrefix(scalars, from: start), case let .object(members) = value
            else { throw fail("the answer's {…} is not a readable object") }
            return ParsedAnswer(format: format, think: think, answer: scope, targets: [try segZeroTarget(members, fail)])
        case .visionReasoner:
            guard let start = scalars.firstIndex(where: { $0 == "[" || $0 == "{" }) else {
                throw fail("no JSON list in the answer")
            }
            guard let (value, _) = LenientJSON.parsePrefix(scalars, from: start) else {
                throw fail("the answer's JSON is not readable")
            }
            let items: [LenientJSON]
            switch value {
            case let .array(list): items = list
            case .object: items = [value]  // a single object instead of a one-element list
            default: throw fail("the answer is not a list of objects")
            }
            var targets: [AnswerTarget] = []
            for (n, item) in items.enumerated() {
                guard case let .object(members) = item else { throw fail("item \(n) is not an object") }
                if members.isEmpty { continue }  // `[{}]` is how the models write "nothing"
                targets.append(try visionReasonerTarget(members, index: n, fail))
            }
            return ParsedAnswer(format: format, think: think, answer: scope, targets: targets)
        }
    }

    /// `<think>([^<]+)</think>`: the first think block whose content has no `<`.
    public static func extractThink(_ output: String) -> String? {
        var rest = output[...]
        while let open = rest.range(of: "<think>") {
            let after = rest[open.upperBound...]
            if let lt = after.firstIndex(of: "<"), lt > after.startIndex, after[lt...].hasPrefix("</think>") {
                return String(after[after.startIndex..<lt])
            }
            rest = after
        }
        return nil
    }

    /// The text inside the first `<answer>…</answer>` (trimmed), or the whole output when absent.
    public static func answerScope(_ output: String) -> String {
        guard let open = output.range(of: "<answer>") else { return output }
        let after = output[open.upperBound...]
        let inner = after.range(of: "</answer>").map { after[..<$0.lowerBound] } ?? after
        return inner.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func segZeroTarget(
        _ members: [(key: String, value: LenientJSON)], _ fail: (String) -> AnswerParseError
    ) throws -> AnswerTarget {
        guard let bboxMember = members.first(where: { $0.key.lowercased().contains("bbox") }) else {
            throw fail("no key containing \"bbox\"")
        }
        guard let bbox = bboxMember.value.numbers, bbox.count == 4 else {
            throw fail("\"\(bboxMember.key)\" is not a list of 4 numbers")
        }
        let pointMembers = members.filter { $0.key.lowercased().contains("points") }.prefix(2)
        guard pointMembers.count == 2 else { throw fail("expected two keys containing \"points\"") }
        var points: [[Double]] = []
        for member in pointMembers {
            guard let p = member.value.numbers, p.count == 2 else { throw fail("\"\(member.key)\" is not [x, y]") }
            points.append(p)
        }
        return AnswerTarget(bbox: bbox, points: points)
    }

    private static func visionReasonerTarget(
        _ members: [(key: String, value: LenientJSON)], index: Int, _ fail: (String) -> AnswerParseError
    ) throws -> AnswerTarget {
        func member(_ name: String) -> LenientJSON? { members.first(where: { $0.key == name })?.value }
        guard let bbox = member("bbox_2d")?.numbers, bbox.count == 4 else {
            throw fail("item \(index): \"bbox_2d\" missing or not 4 numbers")
        }
        guard let point = member("point_2d")?.numbers, point.count == 2 else {
            throw fail("item \(index): \"point_2d\" missing or not [x, y]")
        }
        return AnswerTarget(bbox: bbox, points: [point])
    }
}

/// Maps coordinates from the model's frame (840×840) back to the image, with each reference's rounding.
public struct CoordinateMapping: Sendable {
    public var modelWidth: Double
    public var modelHeight: Double
    public var imageWidth: Int
    public var imageHeight: Int

    public init(modelWidth: Double = 840, modelHeight: Double = 840, imageWidth: Int, imageHeight: Int) {
        self.modelWidth = modelWidth
        self.modelHeight = modelHeight
        self.imageWidth = imageWidth
        self.imageHeight = imageHeight
    }

    /// Seg-Zero: `round(int(v) * f)` (Python round, half to even). VisionReasoner: `int(v * f + 0.5)`.
    /// Then clamped: box corners to [0, W] × [0, H] and ordered, points to the pixel grid [0, W-1] × [0, H-1].
    public func map(_ target: AnswerTarget, format: AnswerFormat) -> ImageTarget {
        let fx = Double(imageWidth) / modelWidth, fy = Double(imageHeight) / modelHeight
        func scale(_ v: Double, _ f: Double) -> Int {
            let r: Double
            switch format {
            case .segZero: r = (v.rounded(.towardZero) * f).rounded(.toNearestOrEven)
            case .visionReasoner: r = (v * f + 0.5).rounded(.towardZero)
            }
            return Int(max(-1e9, min(1e9, r)))
        }
        func clamp(_ v: Int, _ hi: Int) -> Int { min(max(v, 0), hi) }
        let b = target.bbox
        let x1 = clamp(scale(b[0], fx), imageWidth), y1 = clamp(scale(b[1], fy), imageHeight)
        let x2 = clamp(scale(b[2], fx), imageWidth), y2 = clamp(scale(b[3], fy), imageHeight)
        let points = target.points.map { p in
            [clamp(scale(p[0], fx), imageWidth - 1), clamp(scale(p[1], fy), imageHeight - 1)]
        }
        return ImageTarget(bbox: [min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)], points: points)
    }
}
