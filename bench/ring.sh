#!/usr/bin/env bash
# ring.sh - the split-ring benchmark in one command.
#
# Builds vio-bench (a release build in build-bench/ at the top of the tree
# unless BUILD_DIR names another), runs its full matrix (sizes 256 and
# 1024 x batch 1, 8, 32, 256 x EVENT_IDX off/on x poll/eventfd, about a
# minute) and prints the markdown table that bench/README.md shows, with
# the ratios to rte_ring and to the floor model (tools/bench_floor.c).
# `bench/ring.sh --layout packed --mode poll` is the packed ring against
# its floor (issue 11).
# Arguments go to vio-bench: `bench/ring.sh --quick` for a 10 s run,
# `bench/ring.sh --size 256 --batch 32 --mode poll` for one corner.
# Progress of the build goes to stderr, the table to stdout.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
build=${BUILD_DIR:-$root/build-bench}

if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$root" --buildtype=release -Db_lto=true -Dtests=false >&2
fi
# Link-time optimisation lets the ring calls inline into the benchmark's
# loops, as the peer's header-only rte_ring functions do.
meson configure "$build" -Db_lto=true >&2
ninja -C "$build" tools/vio-bench >&2

model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "machine: ${model:-unknown cpu}, $(nproc) cpus, Linux $(uname -r)"
echo "command: bench/ring.sh $*"
exec "$build/tools/vio-bench" "$@"
