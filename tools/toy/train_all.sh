#!/usr/bin/env bash
# Regenerates the toy world end to end: scenes, the toy reasoning model, the toy SAM2, packed into models/toy/
# (tools/toy/pack.sh), then the Python reference results the tests compare against
# (tools/toy/make_reference_fixtures.sh). Resumable: training state is kept in $TOY_WORK (default
# ~/.cache/perception-node/toy-train) every few steps, so an interrupted run continues where it stopped.
# The two trainers run side by side, one thread each. On a 2-core CPU this has not been enough to train them
# (tools/toy/README.md, Status); tools/toy/gpu_train.sh is the GPU path.
# Needs the reference venv (tools/requirements-ref.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv-ref/bin/python}
WORK=${TOY_WORK:-$HOME/.cache/perception-node/toy-train}
mkdir -p "$WORK" models/toy
[ -f "$WORK/data/val/val_00063.json" ] || "$PY" tools/toy/make_scenes.py --out "$WORK/data" --train 2500 --val 64
"$PY" tools/toy/train_reasoner.py --data "$WORK/data" --out "$WORK/reasoner" --steps "${REASONER_STEPS:-2500}" \
    --threads 1 --state "$WORK/reasoner.state" > "$WORK/reasoner.log" 2>&1 &
reasoner=$!
"$PY" tools/toy/train_segmenter.py --data "$WORK/data" --out "$WORK/segmenter.pt" --steps "${SEGMENTER_STEPS:-800}" \
    --lr 1e-3 --half --threads 1 --state "$WORK/segmenter.state" > "$WORK/segmenter.log" 2>&1 &
segmenter=$!
echo "training (logs: $WORK/reasoner.log, $WORK/segmenter.log)"
wait "$segmenter" || { echo "segmenter training failed: $WORK/segmenter.log" >&2; exit 1; }
wait "$reasoner" || { echo "reasoner training failed: $WORK/reasoner.log" >&2; exit 1; }
tail -n 3 "$WORK/segmenter.log" "$WORK/reasoner.log"
tools/toy/pack.sh
tools/toy/make_reference_fixtures.sh
