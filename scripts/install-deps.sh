#!/usr/bin/env bash
# Installs what perception-node needs to build and test, skipping whatever is already there (quick when
# nothing is missing). Debian/Ubuntu: apt packages for the system-library shims; Python test peers from
# Tests/Integration/requirements.txt (into the system python3 when it is writable, else into .venv-test).
#   scripts/install-deps.sh            apt + python
#   scripts/install-deps.sh --apt      apt only (enough to build and run the node)
# Prints the python interpreter to use on its last line of stdout ("PYTHON=…").
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(libzmq3-dev libmsgpack-dev libopenblas-dev libv4l-dev libturbojpeg0-dev libzstd-dev zstd liblz4-dev libpng-dev
              pkg-config python3 python3-pip python3-venv)
only_apt=0
[[ "${1:-}" == "--apt" ]] && only_apt=1

sudo_cmd=()
[[ "$(id -u)" != 0 ]] && command -v sudo >/dev/null && sudo_cmd=(sudo)

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    # python3 may come from elsewhere (pyenv); only insist on the Debian one when there is no python3 at all.
    if command -v python3 >/dev/null; then
        filtered=()
        for p in "${missing[@]}"; do [[ "$p" == python3* ]] || filtered+=("$p"); done
        missing=("${filtered[@]+"${filtered[@]}"}")
    fi
fi
if ((${#missing[@]})); then
    echo "install-deps: apt-get install ${missing[*]}" >&2
    "${sudo_cmd[@]}" apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

command -v swift >/dev/null || { echo "install-deps: no 'swift' on PATH: install the Swift 6 toolchain (swift.org/install)" >&2; exit 1; }
((only_apt)) && exit 0

# True when every line of requirements.txt ("name==version" or "name") is installed in interpreter $1.
satisfied() {
    "$1" - Tests/Integration/requirements.txt <<'PY' 2>/dev/null
import re, sys
from importlib import metadata
ok = True
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, _, version = line.partition("==")
    try:
        have = metadata.version(name.strip())
    except metadata.PackageNotFoundError:
        ok = False
        continue
    if version and have != version.strip():
        ok = False
sys.exit(0 if ok else 1)
PY
}

python=python3
if ! satisfied "$python"; then
    if "$python" -m pip install -q -r Tests/Integration/requirements.txt >&2 2>/dev/null && satisfied "$python"; then
        :
    else
        echo "install-deps: system python3 is not writable here; using .venv-test" >&2
        [[ -x .venv-test/bin/python ]] || python3 -m venv .venv-test >&2
        python=.venv-test/bin/python
        satisfied "$python" || "$python" -m pip install -q -r Tests/Integration/requirements.txt >&2
    fi
fi
echo "PYTHON=$python"
