#!/usr/bin/env bash
# Restores the committed, zstd-packed toy model files (models/toy/**/*.zst) next to themselves, once:
# model.safetensors, vocab.json, merges.txt. Idempotent; needs the zstd tool (Debian package zstd).
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ -d models/toy ]] || exit 0   # no toy models committed (yet)
find models/toy -name '*.zst' 2>/dev/null | while read -r packed; do
    plain=${packed%.zst}
    if [[ ! -f "$plain" || "$packed" -nt "$plain" ]]; then
        zstd -q -d -f "$packed" -o "$plain.tmp" && mv "$plain.tmp" "$plain"
        echo "unpacked $plain"
    fi
done
