#!/usr/bin/env bash
# Runs v4l2-selftest against the kernel's vivid virtual camera: boots Debian's stock kernel under QEMU (TCG,
# q35, direct vmlinux boot) with a busybox initramfs holding vivid's modules and the statically linked test.
# Everything fetched or built lives in a cache outside the repo; only missing pieces are fetched/rebuilt.
#
# Usage: scripts/vivid/run.sh [--binary PATH] [--rebuild] [-- SELFTEST ARGS (device width height)]
# Env:   PERCEPTION_NODE_CACHE  cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/perception-node)
#        VIVID_TIMEOUT          seconds the VM may run (default 110)
#        SWIFT_BUILD_JOBS       -j for the test binary's build (default 2)
#        QEMU                   the emulator (default qemu-system-x86_64)
# Exit:  0 all checks passed; 1 checks failed or no summary; 2 setup failed; 77 qemu cannot run here (skip).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$REPO/scripts/vivid"
CACHE="${PERCEPTION_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/perception-node}/vivid"
TIMEOUT="${VIVID_TIMEOUT:-110}"
QEMU="${QEMU:-qemu-system-x86_64}"
MODULES="vivid videodev mc cec rc-core v4l2-tpg v4l2-dv-timings videobuf2-common videobuf2-v4l2 videobuf2-memops videobuf2-vmalloc videobuf2-dma-contig"
BINARY=""
REBUILD=0
SELFTEST_ARGS="/dev/video0 320 180"

while [ $# -gt 0 ]; do
    case "$1" in
    --binary) BINARY="$2"; shift 2 ;;
    --rebuild) REBUILD=1; shift ;;
    --) shift; SELFTEST_ARGS="$*"; break ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

log() { echo "[vivid] $*" >&2; }
skip() { echo "VIVID-SKIP: $*"; exit 77; }
die() { echo "VIVID-SETUP-FAILED: $*"; exit 2; }

# --- Can QEMU run here? -------------------------------------------------------------------------------------
command -v "$QEMU" >/dev/null || skip "$QEMU is not installed (Debian: apt-get install qemu-system-x86)"
"$QEMU" -accel help 2>/dev/null | grep -qx tcg || skip "$QEMU has no TCG accelerator"
"$QEMU" -machine help 2>/dev/null | grep -q '^q35' || skip "$QEMU has no q35 machine"

mkdir -p "$CACHE/downloads"

# --- Kernel: Debian's linux-image, vmlinux + vivid's modules ------------------------------------------------
prepare_kernel() {
    if [ -f "$CACHE/kernel/ready" ] && [ -f "$CACHE/kernel/vmlinux" ] && [ $REBUILD = 0 ]; then return; fi
    local pkg deb tmp kver
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    [ -n "$pkg" ] || die "apt-cache cannot resolve linux-image-amd64 (is this Debian with apt sources?)"
    deb=$(ls "$CACHE/downloads/${pkg}_"*.deb 2>/dev/null | head -1 || true)
    if [ -z "$deb" ]; then
        log "fetching $pkg with apt-get download"
        (cd "$CACHE/downloads" && apt-get download "$pkg" >/dev/null 2>&1) || die "apt-get download $pkg failed"
        deb=$(ls "$CACHE/downloads/${pkg}_"*.deb | head -1)
    fi
    tmp=$(mktemp -d)
    dpkg -x "$deb" "$tmp"
    rm -rf "$CACHE/kernel"
    mkdir -p "$CACHE/kernel/root"
    python3 "$HERE/extract-vmlinux.py" "$tmp"/boot/vmlinuz-* "$CACHE/kernel/vmlinux" || die "cannot extract vmlinux"
    kver=$(ls "$tmp/lib/modules" | head -1)
    for m in $MODULES; do
        local f
        f=$(find "$tmp/lib/modules/$kver" -name "$m.ko" -o -name "$m.ko.xz" | head -1)
        [ -n "$f" ] || die "module $m not in $pkg"
        local rel="${f#"$tmp"/}"
        mkdir -p "$CACHE/kernel/root/$(dirname "$rel")"
        cp "$f" "$CACHE/kernel/root/$rel"
        case "$f" in *.xz) xz -d "$CACHE/kernel/root/$rel" ;; esac
    done
    cp "$tmp/lib/modules/$kver"/modules.builtin* "$CACHE/kernel/root/lib/modules/$kver/" 2>/dev/null || true
    command -v depmod >/dev/null || PATH="$PATH:/sbin:/usr/sbin"
    depmod -b "$CACHE/kernel/root" "$kver" || die "depmod failed (Debian package kmod)"
    rm -rf "$tmp"
    echo "$pkg $kver" > "$CACHE/kernel/ready"
    log "kernel $kver ready"
}

# --- busybox-static ----------------------------------------------------------------------------------------
busybox_path() {
    if [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; then  # ldd fails on static binaries
        echo /bin/busybox; return
    fi
    if [ ! -x "$CACHE/busybox/bin/busybox" ]; then
        log "fetching busybox-static with apt-get download"
        (cd "$CACHE/downloads" && apt-get download busybox-static >/dev/null 2>&1) || die "apt-get download busybox-static failed"
        dpkg -x "$(ls "$CACHE"/downloads/busybox-static_*.deb | head -1)" "$CACHE/busybox"
    fi
    echo "$CACHE/busybox/bin/busybox"
}

# --- The test binary ---------------------------------------------------------------------------------------
build_binary() {
    if [ -n "$BINARY" ]; then echo "$BINARY"; return; fi
    log "building v4l2-selftest (release, static Swift stdlib)"
    (cd "$REPO" && swift build -c release --static-swift-stdlib --product v4l2-selftest \
        --scratch-path "$CACHE/swift-build" -j "${SWIFT_BUILD_JOBS:-2}" >&2) || die "swift build of v4l2-selftest failed"
    echo "$CACHE/swift-build/release/v4l2-selftest"
}

prepare_kernel
BUSYBOX=$(busybox_path)
BIN=$(build_binary)
[ -x "$BIN" ] || die "no test binary at $BIN"

# --- initramfs ---------------------------------------------------------------------------------------------
ROOT="$CACHE/initramfs-root"
rm -rf "$ROOT"
mkdir -p "$ROOT"/{bin,proc,sys,dev,tmp}
cp "$BUSYBOX" "$ROOT/bin/busybox"
for a in sh mount modprobe insmod poweroff sleep cat echo mkdir uname ls; do ln -s busybox "$ROOT/bin/$a"; done
ln -s bin "$ROOT/sbin"
cp -a "$CACHE/kernel/root/lib" "$ROOT/lib"
cp "$BIN" "$ROOT/v4l2-selftest"
strip "$ROOT/v4l2-selftest" 2>/dev/null || true
for lib in $(ldd "$BIN" | grep -o '/[^ ]*'); do
    mkdir -p "$ROOT$(dirname "$lib")"
    cp -L "$lib" "$ROOT$lib"
done
cp "$HERE/init" "$ROOT/init"
chmod +x "$ROOT/init"
echo "$SELFTEST_ARGS" > "$ROOT/selftest-args"
python3 "$HERE/mkcpio.py" "$ROOT" "$CACHE/initramfs.cpio"

# --- Boot ----------------------------------------------------------------------------------------------------
log "booting $(cut -d' ' -f2 "$CACHE/kernel/ready") under qemu (TCG), timeout ${TIMEOUT}s"
OUT="$CACHE/last-run.log"
set +e
timeout "$TIMEOUT" "$QEMU" -accel tcg -machine q35 -m 1024 -smp 1 -nodefaults -display none \
    -serial stdio -no-reboot -kernel "$CACHE/kernel/vmlinux" -initrd "$CACHE/initramfs.cpio" \
    -append "console=ttyS0 quiet panic=-1" </dev/null | tr -d '\r' | tee "$OUT"
QEMU_RC=${PIPESTATUS[0]}
set -e
[ "$QEMU_RC" = 124 ] && echo "VIVID-TIMEOUT after ${TIMEOUT}s"
RC=$(sed -n 's/^V4L2-SELFTEST-EXIT \([0-9]*\).*/\1/p' "$OUT" | tail -1)
grep -q '"event":"summary"' "$OUT" || { echo "VIVID-NO-SUMMARY (qemu exit $QEMU_RC)"; exit 1; }
[ "$RC" = 0 ] && exit 0
exit 1
