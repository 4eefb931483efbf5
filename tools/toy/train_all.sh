#!/usr/bin/env bash
# Regenerates the toy world end to end: scenes, the toy reasoning model, the toy SAM2, packed into models/toy/.
# Resumable: training state is kept in $TOY_WORK (default ~/.cache/perception-node/toy-train) every few steps,
# so an interrupted run continues where it stopped. Needs the reference venv (tools/requirements-ref.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv-ref/bin/python}
WORK=${TOY_WORK:-$HOME/.cache/perception-node/toy-train}
mkdir -p "$WORK" models/toy
[ -f "$WORK/data/val/val_00063.json" ] || "$PY" tools/toy/make_scenes.py --out "$WORK/data" --train 2500 --val 64
"$PY" tools/toy/train_reasoner.py --data "$WORK/data" --out "$WORK/reasoner" --steps "${REASONER_STEPS:-1200}" \
    --state "$WORK/reasoner.state" "$@"
"$PY" tools/toy/train_segmenter.py --data "$WORK/data" --out "$WORK/segmenter.pt" --steps "${SEGMENTER_STEPS:-150}" \
    --lr 5e-3 --state "$WORK/segmenter.state"
