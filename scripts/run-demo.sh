#!/usr/bin/env bash
# THE run command: installs what is missing, builds the node (release), launches it on the bundled sample
# photos with launch/replay.yaml, sends two demo queries with the built-in client, then keeps the node running
# until Ctrl-C (which stops it cleanly).
#   scripts/run-demo.sh            run and keep serving (planners can connect: see docs/messages.md)
#   scripts/run-demo.sh --once     stop after the demo queries
# Env: JOBS (build jobs, default 2), SCRATCH (build directory, default .build).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS="${JOBS:-2}"
SCRATCH="${SCRATCH:-.build}"
once=0
[[ "${1:-}" == "--once" ]] && once=1

scripts/install-deps.sh --apt
swift build -c release -j "$JOBS" --scratch-path "$SCRATCH" --product perception-node
BIN="$PWD/$SCRATCH/release/perception-node"

"$BIN" launch launch/replay.yaml &
launcher=$!
stop() { kill -INT "$launcher" 2>/dev/null || true; wait "$launcher" 2>/dev/null || true; }
trap stop EXIT

echo "== waiting for the node (service tcp://127.0.0.1:5562)"
for _ in $(seq 1 50); do
    if "$BIN" query --text "ping" --timeout 0.5 >/dev/null 2>&1; then break; fi
done

echo "== query: which object could hold hot coffee?"
"$BIN" query --text "Which object in the image could hold hot coffee?" --timeout 30
echo "== query: direct SAM2 box prompt"
"$BIN" query --box 100,50,400,300 --mask rle --timeout 30
echo "== (without model.reasoner / model.segmenter configured the node answers model_unavailable naming the key)"

if ((once)); then exit 0; fi
echo "== node running; Ctrl-C to stop"
wait "$launcher"
