#!/bin/sh
# Regenerates Tests/Fixtures/toy/reference/*.json: the Python reference pipeline (tools/toy/reference_pipeline.py)
# on the committed tiny random Qwen2.5-VL + SAM2 fixtures and the four toy scenes in Tests/Fixtures/toy/val.
# Needs .venv-ref (tools/requirements-ref.txt) and the tokenizer files (python3 tools/qwen/install_tokenizer.py ...).
set -e
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
PY=.venv-ref/bin/python
python3 tools/qwen/install_tokenizer.py Tests/Fixtures/qwen25vl/models/*
$PY tools/toy/reference_pipeline.py --reasoner Tests/Fixtures/qwen25vl/models/tiny-tied-gqa2 \
    --segmenter Tests/Fixtures/sam2/sam2-mini/model.pt --segmenter-arch Tests/Fixtures/sam2/sam2-mini/meta.json \
    --frame 840 --template seg-zero --max-new-tokens 24 --scenes Tests/Fixtures/toy/val \
    --out Tests/Fixtures/toy/reference/tiny-segzero.json
$PY tools/toy/reference_pipeline.py --reasoner Tests/Fixtures/qwen25vl/models/tiny-untied-mha \
    --segmenter Tests/Fixtures/sam2/sam2.1-mini/model.pt --segmenter-arch Tests/Fixtures/sam2/sam2.1-mini/meta.json \
    --frame 840 --template vision-reasoner --max-new-tokens 24 --scenes Tests/Fixtures/toy/val \
    --out Tests/Fixtures/toy/reference/tiny-vision-reasoner.json
# The trained toy models (models/toy, unpacked) on the bundled held-out toy scenes, in both answer formats:
# what Tests/Integration/test_toy_world.py compares the node's Results with.
tools/toy/unpack.sh
for template in seg-zero vision-reasoner; do
    $PY tools/toy/reference_pipeline.py --reasoner models/toy/reasoner --segmenter models/toy/segmenter.pt \
        --segmenter-arch models/toy/segmenter.json --frame 112 --template $template --max-new-tokens 160 \
        --scenes assets/toy-scenes --out Tests/Fixtures/toy/reference/toy-$template.json
done
