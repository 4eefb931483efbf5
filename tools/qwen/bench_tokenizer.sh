#!/usr/bin/env bash
# Tokenizer speed: ours (tokenizer sources compiled with the package's release flags) vs Hugging Face `tokenizers`
# (system python3) on the same 2,000-scalar Seg-Zero prompt, one thread each; medians. Checks the ids are identical.
# Run: tools/qwen/bench_tokenizer.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="$(python3 "$root/tools/qwen/fetch_tokenizer.py")"
work="${TMPDIR:-/tmp}/perception-node-tokbench"
mkdir -p "$work"
cp "$root/tools/qwen/bench_tokenizer.swift" "$work/main.swift"  # top-level code must live in main.swift
swiftc -Ounchecked -wmo "$root"/Sources/Inference/Tokenizer/*.swift "$root/Sources/Inference/Qwen25VL/ChatTemplate.swift" \
    "$root/Sources/Inference/Qwen25VL/PromptTemplates.swift" "$work/main.swift" -o "$work/bench"
"$work/bench" "$cache/qwen25vl" "$cache/tiktoken/qwen.tiktoken" "$work/prompt"
RAYON_NUM_THREADS=1 python3 - "$cache/qwen25vl/tokenizer.json" "$work/prompt" <<'PY'
import statistics, sys, time
import tokenizers
from tokenizers import Tokenizer
path, prefix = sys.argv[1], sys.argv[2]
text = open(prefix + ".txt", encoding="utf-8").read()
loads, cold, warm = [], [], []
for _ in range(3):
    t = time.perf_counter(); tok = Tokenizer.from_file(path); loads.append(time.perf_counter() - t)
    t = time.perf_counter(); tok.encode(text, add_special_tokens=False); cold.append(time.perf_counter() - t)
for _ in range(50):
    t = time.perf_counter(); ids = tok.encode(text, add_special_tokens=False).ids; warm.append(time.perf_counter() - t)
ours = [int(x) for x in open(prefix + ".ids").read().split()]
print("tokenizers %s: load median %.3f s; encode -> %d tokens: fresh median %.3f ms, warm median %.3f ms; ids %s"
      % (tokenizers.__version__, statistics.median(loads), len(ids), statistics.median(cold) * 1e3,
         statistics.median(warm) * 1e3, "identical" if ids == ours else "DIFFER"))
PY
