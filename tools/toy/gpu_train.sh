#!/usr/bin/env bash
# Trains the toy models on one CUDA GPU in a few minutes (how the committed models/toy/ were made; the CPU path,
# tools/toy/train_all.sh, needs hours on a 2-core machine and was not enough to get past the plateau where the
# reasoner ignores the question).
#
# Runs two reasoner and two segmenter variants side by side on the one GPU (tiny models leave it mostly idle), each
# with a wall-clock budget, and writes into $OUT: reasoner-{a,b}.tar.xz (HF checkpoint folders), segmenter-{a,b}.pt
# and logs.tar.gz. Pick the better of each pair by the "val" lines at the end of the logs, then unpack into the
# training work folder and run tools/toy/pack.sh and tools/toy/make_reference_fixtures.sh (tools/toy/README.md).
#
# Needs a Python with torch (CUDA), numpy, Pillow, scipy, scikit-image, pyyaml and the pinned pure-Python stack
# in $DEVTRAIN (default .devtrain): wheels of transformers 4.57.6, tokenizers 0.22.2, huggingface_hub 0.36.2,
# purepy.tgz (sam2 1.1.0, hydra-core 1.3.8, omegaconf 2.3.1, antlr4-python3-runtime 4.9.3, iopath 0.1.10 as
# installed by tools/requirements-ref.txt) and tokenizer/ (vocab.json, merges.txt, tokenizer_config.json of the
# toy reasoner, tools/toy/train_reasoner.py fetches them from PyPI).
# Knobs: TRAIN_SECONDS (default 360), SCENES_PER_WORKER (default 1500, 8 workers), VAL_SCENES (default 64),
# VAL_EVERY (steps, default 1000), JOBS (default: all four).
set -uo pipefail
cd "$(dirname "$0")/../.."
DEVTRAIN=${DEVTRAIN:-.devtrain}
OUT=${OUT:-/tmp/toy-gpu-out}
WORK=${TOY_WORK:-/tmp/toy-gpu}
SECONDS_BUDGET=${TRAIN_SECONDS:-360}
PER_WORKER=${SCENES_PER_WORKER:-1500}
VAL_SCENES=${VAL_SCENES:-64}
VAL_EVERY=${VAL_EVERY:-1000}
# Processes sharing the GPU slow each other down badly (time-slicing): run one job per call where time matters.
JOBS=${JOBS:-reasoner-a reasoner-b segmenter-a segmenter-b}
PY=${PYTHON:-python3}
mkdir -p "$OUT" "$WORK/logs" /tmp/site
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$DEVTRAIN"/*.whl || exit 1
tar -C /tmp/site -xzf "$DEVTRAIN/purepy.tgz" || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
"$PY" -c "import transformers, sam2, torch; print('transformers', transformers.__version__, 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true

t0=$(date +%s)
for k in 0 1 2 3 4 5 6 7; do
    val=0; [ "$k" = 0 ] && val=$VAL_SCENES
    "$PY" tools/toy/make_scenes.py --out "$WORK/data$k" --train "$PER_WORKER" --val "$val" --seed "$k" > "$WORK/logs/scenes$k.log" 2>&1 &
done
wait
echo "scenes: $(( $(date +%s) - t0 ))s"
data=$(for k in 0 1 2 3 4 5 6 7; do echo "$WORK/data$k"; done)

common_r=(--tokenizer "$DEVTRAIN/tokenizer" --time-limit "$SECONDS_BUDGET" --steps 100000 --threads 2 --val-every $VAL_EVERY --snapshot-every 120)
common_s=(--time-limit "$SECONDS_BUDGET" --steps 100000 --threads 2 --val-every $VAL_EVERY --snapshot-every 120)
# Wall-clock caps a little above the budget: loading and the final validation come on top.
cap=${CAP:-$(( SECONDS_BUDGET + 150 ))}
run() { timeout "$cap" "$PY" "$@"; }
for job in $JOBS; do
    case $job in
        reasoner-a) run tools/toy/train_reasoner.py --data $data --out "$WORK/$job" --batch 64 --lr 2e-3 "${common_r[@]}" ;;
        reasoner-b) run tools/toy/train_reasoner.py --data $data --out "$WORK/$job" --batch 128 --lr 1e-3 --seed 1 "${common_r[@]}" ;;
        segmenter-a) run tools/toy/train_segmenter.py --data $data --out "$WORK/$job.pt" --batch 32 --lr 3e-3 "${common_s[@]}" ;;
        segmenter-b) run tools/toy/train_segmenter.py --data $data --out "$WORK/$job.pt" --batch 32 --lr 1e-3 --seed 1 "${common_s[@]}" ;;
        *) echo "unknown job $job" >&2; exit 2 ;;
    esac > "$WORK/logs/$job.log" 2>&1 &
done
wait
echo "training: $(( $(date +%s) - t0 ))s"

for v in a b; do
    [ -d "$WORK/reasoner-$v" ] && tar -C "$WORK" -cJf "$OUT/reasoner-$v.tar.xz" "reasoner-$v"
    [ -f "$WORK/segmenter-$v.pt" ] && cp "$WORK/segmenter-$v.pt" "$OUT/"
done
tar -C "$WORK" -czf "$OUT/logs.tar.gz" logs
for f in "$WORK"/logs/r*.log "$WORK"/logs/seg*.log; do echo "== $f"; grep -E "val|trained|scenes|Error|error" "$f" | tail -n 12; done
ls -la "$OUT"
