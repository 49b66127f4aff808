#!/usr/bin/env bash
# test.sh - libvio's whole test suite: the README's test command.
#
# On a fresh Debian 12 machine it installs what it needs (deps.sh), then:
#   1. gcc build:   all unit and threaded tests
#   2. clang build: the same (both compilers, -Werror)
#   3. ASan+UBSan:  all tests again (clang)
#   4. TSan:        the threaded tests (clang)
#   5. fuzzers:     each libFuzzer target for FUZZ_SECONDS (default 60)
#   6. tools:       vio-bench runs its quick matrix and checks its own data;
#                   bench/vhost-user-blk.sh --quick drives qsd and libvio with vio-perf;
#                   bench/vhost-user-net.sh --quick the four DPDK/libvio net pairs
#   7. guest:       Linux's virtio drivers in a QEMU guest against libvio's
#                   vhost-user daemons (tests/guest/run.sh, fifteen variants),
#                   and libvio's drivers on QEMU's own virtio-pci devices in a
#                   guest through vfio-pci and uio_pci_generic
#                   (tests/guest/pci_drv.sh, five personalities)
#                   and QEMU live migration of a guest between two QEMUs,
#                   each on its own libvio daemon (tests/guest/migrate.sh:
#                   blk split and packed, net with a ping, source daemon
#                   killed mid-migration)
# and ends with the line "N passed, N failed". Exit status 0 only when
# nothing failed.
#
# Options (environment):
#   FUZZ_SECONDS=N          seconds per fuzz target (default 60)
#   VIO_STRESS_SECONDS=N    run each stress case for N seconds instead of a
#                           bounded count (long soak; default: bounded)
#   VIO_TEST_STEPS="gcc clang asan tsan fuzz tools guest"   a subset, for development
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD

scripts/deps.sh || { echo "deps.sh failed"; echo "0 passed, 1 failed"; exit 1; }

steps=${VIO_TEST_STEPS:-"gcc clang asan tsan fuzz tools guest"}
fuzz_seconds=${FUZZ_SECONDS:-60}
passed=0
failed=0

# add P F: accumulate counts
add() { passed=$((passed + $1)); failed=$((failed + $2)); }

# build DIR SETUP-ARGS...: configure (once) and compile; a failed build
# counts as one failure so it cannot pass silently.
build() {
	local dir=$1; shift
	if [ ! -f "$dir/build.ninja" ]; then
		if ! meson setup "$dir" "$@" >"$dir.setup.log" 2>&1; then
			cat "$dir.setup.log"; echo "FAIL: meson setup $dir"; add 0 1; return 1
		fi
	fi
	if ! ninja -C "$dir" >"$dir.build.log" 2>&1; then
		tail -50 "$dir.build.log"; echo "FAIL: build $dir"; add 0 1; return 1
	fi
}

# run_suites LABEL DIR [meson test args...]
run_suites() {
	local label=$1 dir=$2; shift 2
	echo "== $label: meson test $*"
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
		meson test -C "$dir" --no-rebuild --print-errorlogs "$@" >"$dir.test.log" 2>&1
	local counts
	counts=$(python3 scripts/tap_count.py "$label" "$dir") || { echo "FAIL: $label: no test log"; add 0 1; return; }
	echo "$counts" | sed '$d'
	# shellcheck disable=SC2086
	add $(echo "$counts" | tail -1)
	echo "   $(echo "$counts" | tail -1 | awk '{print $1" passed, "$2" failed"}')"
}

for step in $steps; do
	case $step in
	gcc)
		CC=gcc build build-test-gcc && run_suites gcc build-test-gcc ;;
	clang)
		# The 'peers' suite (tests that mostly drive other programs: a Ceph
		# node, nbdkit, vio-conform's case list) runs in the gcc and the
		# ASan build; a second compiler adds little to it, and CI's budget
		# is better spent elsewhere.
		CC=clang build build-test-clang && run_suites clang build-test-clang --no-suite peers ;;
	asan)
		CC=clang build build-test-asan -Db_sanitize=address,undefined -Db_lundef=false \
			-Dc_args=-fno-sanitize-recover=undefined &&
			run_suites asan+ubsan build-test-asan ;;
	tsan)
		CC=clang build build-test-tsan -Db_sanitize=thread -Db_lundef=false &&
			run_suites tsan build-test-tsan --suite threaded ;;
	fuzz)
		echo "== fuzz: ${fuzz_seconds} s per target"
		out=$(scripts/fuzz.sh "$fuzz_seconds" 2>&1)
		echo "$out" | grep -E '^(ok|not ok|FAIL)' || true
		add "$(echo "$out" | grep -c '^ok ')" "$(echo "$out" | grep -cE '^(not ok|FAIL)')"
		if ! echo "$out" | grep -q '^ok '; then echo "$out" | tail -20; add 0 1; fi ;;
	tools)
		echo "== tools: vio-bench --quick"
		if CC=gcc build build-test-gcc && build-test-gcc/tools/vio-bench --quick >build-test-gcc.bench.log 2>&1; then
			echo "ok vio-bench --quick"; add 1 0
		else
			tail -20 build-test-gcc.bench.log; echo "FAIL: vio-bench --quick"; add 0 1
		fi
		echo "== tools: bench/vhost-user-blk.sh --quick (vio-perf, libvio against qemu-storage-daemon)"
		if bench/vhost-user-blk.sh build-test-gcc --quick >build-test-gcc.vubench.log 2>&1; then
			echo "ok bench/vhost-user-blk.sh --quick"; add 1 0
		else
			tail -20 build-test-gcc.vubench.log; echo "FAIL: bench/vhost-user-blk.sh --quick"; add 0 1
		fi
		echo "== tools: bench/vhost-user-net.sh --quick (vio-perf --net, libvio against DPDK)"
		if bench/vhost-user-net.sh build-test-gcc --quick >build-test-gcc.netbench.log 2>&1; then
			echo "ok bench/vhost-user-net.sh --quick"; add 1 0
		else
			tail -20 build-test-gcc.netbench.log; echo "FAIL: bench/vhost-user-net.sh --quick"; add 0 1
		fi ;;
	guest)
		echo "== guest: Linux guest against libvio's vhost-user daemons"
		if CC=gcc build build-test-gcc; then
			tests/guest/run.sh build-test-gcc >build-test-gcc.guest.log 2>build-test-gcc.guest.err
			grep -E '^not ok' build-test-gcc.guest.log || true
			add "$(grep -c '^ok ' build-test-gcc.guest.log)" "$(grep -c '^not ok' build-test-gcc.guest.log)"
			if ! grep -q '^1\.\.' build-test-gcc.guest.log; then
				tail -20 build-test-gcc.guest.err; echo "FAIL: guest run did not finish"; add 0 1
			fi
			echo "   $(grep -c '^ok ' build-test-gcc.guest.log) passed, $(grep -c '^not ok' build-test-gcc.guest.log) failed"
			echo "== guest: libvio's drivers on QEMU's virtio-pci devices (vfio, uio)"
			tests/guest/pci_drv.sh build-test-gcc >build-test-gcc.pciguest.log 2>build-test-gcc.pciguest.err
			grep -E '^not ok' build-test-gcc.pciguest.log || true
			add "$(grep -c '^ok ' build-test-gcc.pciguest.log)" "$(grep -c '^not ok' build-test-gcc.pciguest.log)"
			if ! grep -q '^1\.\.' build-test-gcc.pciguest.log; then
				tail -20 build-test-gcc.pciguest.err; echo "FAIL: pci guest run did not finish"; add 0 1
			fi
			echo "   $(grep -c '^ok ' build-test-gcc.pciguest.log) passed, $(grep -c '^not ok' build-test-gcc.pciguest.log) failed"
			echo "== guest: QEMU live migration on libvio's daemons (tests/guest/migrate.sh)"
			tests/guest/migrate.sh build-test-gcc >build-test-gcc.migrate.log 2>build-test-gcc.migrate.err
			grep -E '^not ok' build-test-gcc.migrate.log || true
			add "$(grep -c '^ok ' build-test-gcc.migrate.log)" "$(grep -c '^not ok' build-test-gcc.migrate.log)"
			if ! grep -q '^1\.\.' build-test-gcc.migrate.log; then
				tail -20 build-test-gcc.migrate.err; echo "FAIL: migration guest run did not finish"; add 0 1
			fi
			echo "   $(grep -c '^ok ' build-test-gcc.migrate.log) passed, $(grep -c '^not ok' build-test-gcc.migrate.log) failed"
		fi ;;
	*)
		echo "unknown step $step"; add 0 1 ;;
	esac
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
