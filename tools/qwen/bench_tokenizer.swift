// Tokenizer benchmark harness, compiled with the tokenizer sources by tools/qwen/bench_tokenizer.sh.
import Foundation

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func median(_ x: [Double]) -> Double { x.sorted()[x.count / 2] }

let arguments = CommandLine.arguments
guard arguments.count == 4 else {
    print("usage: bench DIR TIKTOKEN OUT_PREFIX")
    exit(2)
}
let dir = arguments[1]
let out = arguments[3]
var loads: [Double] = []
var loaded: QwenTokenizer?
for _ in 0..<3 {
    let t0 = now()
    loaded = try QwenTokenizer(directory: dir)
    loads.append(now() - t0)
}
guard let tokenizer = loaded else { exit(1) }
var t0 = now()
_ = try QwenTokenizer(tiktoken: arguments[2], addedTokens: tokenizer.addedTokens)
let tiktokenLoad = now() - t0
t0 = now()
_ = try QwenTokenizer(
    vocabJSON: dir + "/vocab.json", mergesTXT: dir + "/merges.txt", tokenizerConfig: dir + "/tokenizer_config.json")
let textLoad = now() - t0

// A Seg-Zero chat prompt padded with mixed-script text to 2,000 Unicode scalars.
let question = "the man in the red jacket standing next to the bicycle near the left edge of the picture"
var text = ChatTemplate.qwen25VL(content: [.image, .text(PromptTemplate.segZero.render(question: question))])
let mixed =
    " 数字123和English混合，😀表情。Привет, мир! naïve café — \"quotes\" and 'apostrophes' don't WON'T.\n\n  indented\tcode();"
while text.unicodeScalars.count < 2000 { text += mixed }
text = String(String.UnicodeScalarView(text.unicodeScalars.prefix(2000)))
try text.write(toFile: out + ".txt", atomically: true, encoding: .utf8)

var cold: [Double] = []
for _ in 0..<5 {
    let fresh = try QwenTokenizer(directory: dir)
    let t = now()
    _ = fresh.encode(text)
    cold.append(now() - t)
}
var warm: [Double] = []
var ids: [Int32] = []
for _ in 0..<50 {
    let t = now()
    ids = tokenizer.encode(text)
    warm.append(now() - t)
}
var decode: [Double] = []
for _ in 0..<50 {
    let t = now()
    _ = tokenizer.decode(ids)
    decode.append(now() - t)
}
try ids.map(String.init).joined(separator: " ").write(toFile: out + ".ids", atomically: true, encoding: .utf8)
print(
    String(
        format: "ours: load tokenizer.json median %.3f s, tiktoken %.3f s, vocab.json+merges.txt %.3f s",
        median(loads), tiktokenLoad, textLoad))
print(
    String(
        format:
            "ours: encode 2000 scalars -> %d tokens: fresh-cache median %.3f ms, warm median %.3f ms; decode median %.3f ms",
        ids.count, median(cold) * 1e3, median(warm) * 1e3, median(decode) * 1e3))
