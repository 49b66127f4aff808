#!/usr/bin/env bash
# fuzz.sh - build the libFuzzer targets and run each for a bounded time.
#
# Usage: scripts/fuzz.sh [SECONDS]    (default: $FUZZ_SECONDS, else 60)
#
# Builds build-fuzz/ with clang (-Dfuzz=true -Dtests=false), seeds
# build-fuzz/corpus/<target> from fuzz_gen_seeds (the corpus then keeps
# growing across runs), and runs every target for SECONDS. Prints
# "ok <target> (N s, M execs)" per target; on a crash prints the path of
# the input that crashed and exits 1.
set -euo pipefail

secs="${1:-${FUZZ_SECONDS:-60}}"
case "$secs" in
'' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number, not '$secs'" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-fuzz"
targets=(fuzz_devq_pop fuzz_devq_pop_packed fuzz_drvq_get_buf fuzz_drvq_get_buf_packed fuzz_inflight
	fuzz_inflight_packed fuzz_vu_backend fuzz_vu_frontend fuzz_net_dev fuzz_net_drv)

if [ ! -f "$build/build.ninja" ]; then
	(cd "$root" && CC=clang meson setup -Dfuzz=true -Dtests=false "$build" >/dev/null)
fi
if ! ninja -C "$build" >"$build.ninja.log" 2>&1; then
	tail -20 "$build.ninja.log"
	echo "FAIL: the fuzz targets do not build (whole log: $build.ninja.log)"
	exit 1
fi

mkdir -p "$build/corpus"
"$build/fuzz/fuzz_gen_seeds" "$build/corpus"

# Targets of later branches, a line each (keeps merges of the list above trivial).
targets+=(fuzz_pci_drv)

status=0
for t in "${targets[@]}"; do
	corpus="$build/corpus/$t"
	artifacts="$build/artifacts/$t"
	log="$build/$t.log"
	mkdir -p "$corpus" "$artifacts"
	if "$build/fuzz/$t" -max_total_time="$secs" -print_final_stats=1 \
		-artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1; then
		execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
		echo "ok $t ($secs s, ${execs:-?} execs)"
	else
		crash="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
		echo "FAIL $t: crash input ${crash:-not saved} (log: $log)"
		status=1
	fi
done
exit "$status"
