#!/usr/bin/env bash
# Packs the trained toy models from the training work folder into models/toy/ (what the repo commits):
#   models/toy/reasoner/   config, generation and preprocessor configs, tokenizer_config.json, and
#                          model.safetensors / vocab.json / merges.txt as .zst (the bf16 weights are mostly zero
#                          embedding rows: 19 MB -> well under 1 MB)
#   models/toy/segmenter.pt    official-format SAM2 checkpoint ({"model": state_dict}, fp16 tensors), under 5 MiB
#   models/toy/segmenter.json  its architecture in the official config's names (model.segmenter_arch)
# tools/toy/unpack.sh restores the .zst files next to them (scripts/test.sh and scripts/run-demo.sh run it).
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${TOY_WORK:-$HOME/.cache/perception-node/toy-train}
REASONER=${REASONER:-$WORK/reasoner}
SEGMENTER=${SEGMENTER:-$WORK/segmenter.pt}
out=models/toy
mkdir -p "$out/reasoner"
for f in config.json generation_config.json preprocessor_config.json tokenizer_config.json chat_template.json TOY_README.md; do
    cp "$REASONER/$f" "$out/reasoner/$f"
done
for f in model.safetensors vocab.json merges.txt; do
    zstd -q -19 -f "$REASONER/$f" -o "$out/reasoner/$f.zst"
    cp "$REASONER/$f" "$out/reasoner/$f"   # unpacked copy for local use (git-ignored)
done
cp "$SEGMENTER" "$out/segmenter.pt"
# The trainer writes the architecture beside the checkpoint (segmenter.pt.json), in the official config's names.
cp "$SEGMENTER.json" "$out/segmenter.json"
ls -l "$out" "$out/reasoner"
