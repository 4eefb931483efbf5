/// The user-turn texts of Seg-Zero (single object) and VisionReasoner (multi object), with each reference's question
/// normalization (ENGINE_NOTES §0), selectable by name.
public struct PromptTemplate: Sendable, Equatable {
    /// "seg-zero" or "vision-reasoner".
    public let name: String
    /// The template text; `{Question}` marks where the normalized question goes.
    public let template: String
    /// Characters Python's `str.strip` removes from both ends after `.lower()`.
    public let stripCharacters: String

    public static let segZero = PromptTemplate(
        name: "seg-zero",
        template:
            "Please find '{Question}' with bbox and points.Compare the difference between objects and find the most closely matched one.Output the thinking process in <think> </think> and final answer in <answer> </answer> tags.Output the one bbox and points of two largest inscribed circles inside the interested object in JSON format.i.e., <think> thinking process here </think><answer>{'bbox': [10,100,200,210], 'points_1': [30,110], 'points_2': [35,180]}</answer>",
        stripCharacters: ".")

    public static let visionReasoner = PromptTemplate(
        name: "vision-reasoner",
        template:
            #"Please find "{Question}" with bboxs and points.Compare the difference between object(s) and find the most closely matched object(s).Output the thinking process in <think> </think> and final answer in <answer> </answer> tags.Output the bbox(es) and point(s) inside the interested object(s) in JSON format.i.e., <think> thinking process here </think><answer>[{"bbox_2d": [10,100,200,210], "point_2d": [30,110]}, {"bbox_2d": [225,296,706,786], "point_2d": [302,410]}]</answer>"#,
        stripCharacters: ".\"?!")

    public static let all: [PromptTemplate] = [.segZero, .visionReasoner]

    private init(name: String, template: String, stripCharacters: String) {
        self.name = name
        self.template = template
        self.stripCharacters = stripCharacters
    }

    /// The template registered under `name`.
    public init(name: String) throws {
        guard let found = Self.all.first(where: { $0.name == name }) else {
            throw PromptTemplateError.unknownName(name, known: Self.all.map(\.name))
        }
        self = found
    }

    /// `question.lower().strip(chars)` with Python's semantics (full Unicode lowercasing including final sigma;
    /// any of the characters removed from both ends).
    public func normalize(question: String) -> String {
        let lowered = Array(PythonText.lower(question).unicodeScalars)
        let strip = Set(stripCharacters.unicodeScalars)
        var start = 0
        var end = lowered.count
        while start < end && strip.contains(lowered[start]) { start += 1 }
        while end > start && strip.contains(lowered[end - 1]) { end -= 1 }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: lowered[start..<end])
        return String(view)
    }

    /// The user text for `question`, as the reference's `TEMPLATE.format(Question=normalized)` produces it.
    public func render(question: String) -> String {
        let normalized = normalize(question: question)
        guard let range = template.range(of: "{Question}") else { return template }
        return String(template[..<range.lowerBound]) + normalized
            + String(template[range.upperBound...])
    }
}

/// A prompt template name that is not registered.
public enum PromptTemplateError: Error, Equatable, CustomStringConvertible {
    case unknownName(String, known: [String])

    public var description: String {
        switch self {
        case .unknownName(let name, let known):
            return "unknown prompt template \"\(name)\" (known: \(known.joined(separator: ", ")))"
        }
    }
}

/// Python `str` operations the reference prompts depend on.
enum PythonText {
    /// `str.lower()`: each code point's full lowercase mapping; Σ becomes ς in the Final_Sigma context.
    static func lower(_ text: String) -> String {
        let scalars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        for (i, scalar) in scalars.enumerated() {
            if scalar.value == 0x03A3 {
                out.append(Unicode.Scalar(isFinalSigma(scalars, i) ? 0x03C2 : 0x03C3) ?? scalar)
            } else if scalar.properties.changesWhenLowercased {
                out.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// Preceded by a cased letter and not followed by one, skipping case-ignorable code points (CPython's rule).
    private static func isFinalSigma(_ scalars: [Unicode.Scalar], _ i: Int) -> Bool {
        var j = i - 1
        while j >= 0 && scalars[j].properties.isCaseIgnorable { j -= 1 }
        guard j >= 0 && scalars[j].properties.isCased else { return false }
        j = i + 1
        while j < scalars.count && scalars[j].properties.isCaseIgnorable { j += 1 }
        return j == scalars.count || !scalars[j].properties.isCased
    }
}
