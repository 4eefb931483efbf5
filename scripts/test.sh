#!/usr/bin/env bash
# THE test command (README and .ci/run call exactly this): installs what is missing, builds release, runs the
# Swift unit tests in release mode and the Python integration tests against the release binary, prints a
# summary, and exits non-zero if anything failed.
#   scripts/test.sh                    everything
#   SWIFT_FILTER=NodeRuntimeTests scripts/test.sh      only matching Swift tests
#   PYTEST_ARGS="-k launch" scripts/test.sh            extra pytest arguments
# Env: JOBS (parallel build jobs, default 2), SCRATCH (build directory, default .build).
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS="${JOBS:-2}"
SCRATCH="${SCRATCH:-.build}"
start=$(date +%s)

deps_out=$(scripts/install-deps.sh) || { echo "test.sh: installing dependencies failed" >&2; exit 1; }
PYTHON=$(echo "$deps_out" | sed -n 's/^PYTHON=//p' | tail -1)
PYTHON="${PYTHON:-python3}"
tools/toy/unpack.sh || { echo "test.sh: unpacking the toy models failed" >&2; exit 1; }
# Debian's OpenBLAS 0.3.21 does not know recent Xeons and falls back to SSE3 kernels (5x slower sgemm); the node
# re-executes itself with OPENBLAS_CORETYPE (Sources/Compute/BLASCore.swift), the XCTest process gets it from here.
if [[ -z "${OPENBLAS_CORETYPE:-}" ]] && grep -qw avx512bw /proc/cpuinfo 2>/dev/null && grep -qw avx512vl /proc/cpuinfo; then
    export OPENBLAS_CORETYPE=SkylakeX
fi

step() { printf '\n== %s\n' "$*"; }
results=()

step "swift build -c release"
if swift build -c release -j "$JOBS" --scratch-path "$SCRATCH"; then build=0; else build=1; fi
results+=("build (release): $([[ $build == 0 ]] && echo ok || echo FAILED)")

unit=1
if [[ $build == 0 ]]; then
    step "swift test -c release"
    filter=()
    [[ -n "${SWIFT_FILTER:-}" ]] && filter=(--filter "$SWIFT_FILTER")
    swift test -c release -j "$JOBS" --scratch-path "$SCRATCH" "${filter[@]+"${filter[@]}"}" 2>&1 | tee /tmp/perception-swift-test.log
    unit=${PIPESTATUS[0]}
fi
results+=("swift unit tests (release): $([[ $unit == 0 ]] && echo ok || echo FAILED) $(grep -Eo 'Executed [0-9]+ tests?, with [^(]*failures?' /tmp/perception-swift-test.log 2>/dev/null | sort -k2 -n | tail -1)")

integ=1
if [[ $build == 0 ]]; then
    step "pytest Tests/Integration"
    # shellcheck disable=SC2086
    PERCEPTION_NODE_BIN="$PWD/$SCRATCH/release/perception-node" "$PYTHON" -m pytest Tests/Integration -q -rs ${PYTEST_ARGS:-} 2>&1 \
        | tee /tmp/perception-pytest.log
    integ=${PIPESTATUS[0]}
fi
results+=("integration tests: $([[ $integ == 0 ]] && echo ok || echo FAILED) $(tail -1 /tmp/perception-pytest.log 2>/dev/null | tr -d '=')")

step "summary ($(( $(date +%s) - start )) s)"
printf '  %s\n' "${results[@]}"
[[ $build == 0 && $unit == 0 && $integ == 0 ]]
