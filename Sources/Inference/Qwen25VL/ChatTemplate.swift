/// Qwen2.5-VL's chat template (the published chat_template.json) for one user turn, rendered without a Jinja engine,
/// and the processor's expansion of each `<|image_pad|>` into one pad id per merged image token.
public enum ChatTemplate {
    /// The system prompt the template inserts when the conversation does not start with one.
    public static let defaultSystemPrompt = "You are a helpful assistant."

    /// One item of a user message's content list, rendered in list order.
    public enum Content: Sendable, Equatable {
        case image
        case text(String)
    }

    /// The rendered prompt: system block, the user turn, then the assistant header (`add_generation_prompt`).
    public static func qwen25VL(content: [Content], systemPrompt: String = defaultSystemPrompt)
        -> String
    {
        var out = "<|im_start|>system\n\(systemPrompt)<|im_end|>\n<|im_start|>user\n"
        for item in content {
            switch item {
            case .image: out += "<|vision_start|><|image_pad|><|vision_end|>"
            case .text(let text): out += text
            }
        }
        out += "<|im_end|>\n<|im_start|>assistant\n"
        return out
    }

    /// The Seg-Zero / VisionReasoner layout: one image, then the text (`imageTokens: 0` renders text only).
    public static func qwen25VL(userText: String, imageTokens: Int, tokenizer: QwenTokenizer) throws
        -> [Int32]
    {
        let content: [Content] = imageTokens > 0 ? [.image, .text(userText)] : [.text(userText)]
        return try inputIDs(
            content: content, imageTokenCounts: imageTokens > 0 ? [imageTokens] : [], tokenizer: tokenizer
        )
    }

    /// Token ids of the rendered prompt with the i-th `<|image_pad|>` repeated `imageTokenCounts[i]` times, as
    /// `Qwen2_5_VLProcessor` does. Text that itself spells `<|image_pad|>` makes the counts disagree: an error.
    public static func inputIDs(
        content: [Content], imageTokenCounts: [Int], tokenizer: QwenTokenizer,
        systemPrompt: String = defaultSystemPrompt
    ) throws -> [Int32] {
        guard let pad = tokenizer.specialTokenID("<|image_pad|>") else {
            throw ChatTemplateError.missingToken("<|image_pad|>")
        }
        if let bad = imageTokenCounts.firstIndex(where: { $0 <= 0 }) {
            throw ChatTemplateError.invalidImageTokenCount(image: bad, count: imageTokenCounts[bad])
        }
        let ids = tokenizer.encode(qwen25VL(content: content, systemPrompt: systemPrompt))
        let pads = ids.reduce(0) { $0 + ($1 == pad ? 1 : 0) }
        guard pads == imageTokenCounts.count else {
            throw ChatTemplateError.imagePadMismatch(images: imageTokenCounts.count, placeholders: pads)
        }
        var out: [Int32] = []
        out.reserveCapacity(ids.count + imageTokenCounts.reduce(0, +))
        var image = 0
        for id in ids {
            if id == pad {
                out.append(contentsOf: repeatElement(pad, count: imageTokenCounts[image]))
                image += 1
            } else {
                out.append(id)
            }
        }
        return out
    }

    /// Number of `<|image_pad|>` tokens for an image grid (t·h·w patches, merge_size² patches per token).
    public static func imageTokenCount(gridT: Int, gridH: Int, gridW: Int, mergeSize: Int = 2) -> Int {
        gridT * gridH * gridW / (mergeSize * mergeSize)
    }
}

/// Why a chat prompt could not be turned into input ids.
public enum ChatTemplateError: Error, Equatable, CustomStringConvertible {
    case missingToken(String)
    case imagePadMismatch(images: Int, placeholders: Int)
    case invalidImageTokenCount(image: Int, count: Int)

    public var description: String {
        switch self {
        case .missingToken(let token): return "the tokenizer does not define \(token)"
        case .imagePadMismatch(let images, let placeholders):
            return
                "\(images) image(s) but \(placeholders) <|image_pad|> placeholder(s) in the prompt (does the text contain one?)"
        case .invalidImageTokenCount(let image, let count):
            return "image \(image): \(count) image tokens"
        }
    }
}
