#!/usr/bin/env bash
# demo.sh - libvio's main job: the README's first command.
#
# Installs what it needs (deps.sh), builds libvio in release mode and runs
# vio-bench: a driver thread and a device thread, pinned to different
# cores, passing buffers through one split virtqueue, beside DPDK's
# rte_ring as the peer measured in the same run. Extra arguments go to
# vio-bench (e.g. --batch 32 --mode poll). Until the Linux-guest demo
# lands, this benchmark is the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
[ -f build-release/build.ninja ] || meson setup build-release --buildtype=release -Dtests=false >/dev/null
ninja -C build-release >/dev/null
exec build-release/tools/vio-bench "$@"
