#!/usr/bin/env bash
# THE run command: installs what is missing, builds the node (release), unpacks the toy models and launches
# launch/toy-demo.yaml: the node with the toy profile replays the bundled toy scenes (assets/toy-scenes) and a
# demo planner (tools/demo_planner.py) asks each scene's question over ZeroMQ, prints the answers and writes
# overlay images to out/demo/. The node keeps serving afterwards until Ctrl-C (which stops it cleanly).
#   scripts/run-demo.sh            run the demo, then keep serving (planners can connect: see docs/messages.md)
#   scripts/run-demo.sh --once     stop when the demo planner is done (exit status: the planner's)
# Env: JOBS (build jobs, default 2), SCRATCH (build directory, default .build), OUT (overlays, default out/demo),
#      LIMIT (scenes to ask about, default 6).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS="${JOBS:-2}"
SCRATCH="${SCRATCH:-.build}"
planner_exit=none
[[ "${1:-}" == "--once" ]] && planner_exit=shutdown

deps_out=$(scripts/install-deps.sh)
PYTHON=$(echo "$deps_out" | sed -n 's/^PYTHON=//p' | tail -1)
export PYTHON="${PYTHON:-python3}"
tools/toy/unpack.sh
swift build -c release -j "$JOBS" --scratch-path "$SCRATCH" --product perception-node
BIN="$PWD/$SCRATCH/release/perception-node"

echo "== perception-node launch launch/toy-demo.yaml (toy models; Ctrl-C stops)"
exec "$BIN" launch launch/toy-demo.yaml "out:=${OUT:-out/demo}" "limit:=${LIMIT:-6}" "planner_exit:=$planner_exit"
