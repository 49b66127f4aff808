#!/usr/bin/env bash
# fuzz.sh - build the libFuzzer targets and run each for a bounded time.
#
# Usage: scripts/fuzz.sh [SECONDS]    (default: $FUZZ_SECONDS, else 60)
#
# Builds build-fuzz/ with clang (-Dfuzz=true -Dtests=false), seeds
# build-fuzz/corpus/<target> from fuzz_gen_seeds (the corpus then keeps
# growing across runs), and runs every target for SECONDS. Prints
# "ok <target> (N s, M execs)" per target; on a crash prints the path of
# the input that crashed and exits 1. Targets run FUZZ_JOBS at a time
# (default: one per core).
set -euo pipefail

secs="${1:-${FUZZ_SECONDS:-60}}"
case "$secs" in
'' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number, not '$secs'" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-fuzz"
targets=(fuzz_devq_pop fuzz_devq_pop_packed fuzz_drvq_get_buf fuzz_drvq_get_buf_packed fuzz_inflight
	fuzz_inflight_packed fuzz_vu_backend fuzz_vu_frontend fuzz_net_dev fuzz_net_drv fuzz_mmio_dev
	fuzz_pci_drv fuzz_pci_dev)

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

# run_one TARGET: fuzz it for $secs and leave its verdict line in
# $build/TARGET.verdict.
run_one() {
	local t=$1 corpus="$build/corpus/$1" artifacts="$build/artifacts/$1" log="$build/$1.log"
	local execs crash
	mkdir -p "$corpus" "$artifacts"
	if "$build/fuzz/$t" -max_total_time="$secs" -print_final_stats=1 \
		-artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1; then
		execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
		echo "ok $t ($secs s, ${execs:-?} execs)" >"$build/$t.verdict"
	else
		crash="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
		echo "FAIL $t: crash input ${crash:-not saved} (log: $log)" >"$build/$t.verdict"
	fi
}

# One target per core, at most $FUZZ_JOBS at a time (default: the number of
# cores): each target still gets its whole time on a core of its own.
jobs="${FUZZ_JOBS:-$(nproc)}"
running=0
for t in "${targets[@]}"; do
	rm -f "$build/$t.verdict"
	run_one "$t" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait -n || true
		running=$((running - 1))
	fi
done
wait

status=0
for t in "${targets[@]}"; do
	if [ -f "$build/$t.verdict" ]; then
		cat "$build/$t.verdict"
		grep -q '^ok ' "$build/$t.verdict" || status=1
	else
		echo "FAIL $t: no verdict (the run did not finish)"
		status=1
	fi
done
exit "$status"
