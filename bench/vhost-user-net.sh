#!/usr/bin/env bash
# vhost-user-net.sh - libvio's virtio-net driver and vhost-user-net device
# against DPDK's (22.11: virtio-user PMD and vhost PMD in dpdk-testpmd),
# all four pairings, in one run with the pairs interleaved.
#
# Why: a frame rate alone means little on a shared 2-cpu machine; the same
# loop through DPDK's two ends, measured seconds apart, gives a ratio that
# does. Four pairs, each a driver (frontend) and a device (backend) that
# meet over a vhost-user socket, shared memory and the rings:
#   dpdk         DPDK virtio-user (testpmd, io forwarding) <-> DPDK vhost
#                PMD (testpmd, io forwarding)
#   libvio       libvio's net driver (vio-perf --net) <-> libvio's
#                vhost-user-net --reflect
#   vu-libvio    DPDK virtio-user (testpmd, io) <-> libvio's vhost-user-net
#                --reflect
#   libvio-dpdk  libvio's net driver (vio-perf --net) <-> DPDK vhost PMD
#                (testpmd, io)
# at 64 and 1518-byte frames, split and packed rings (queue size 256,
# one queue pair, MRG_RXBUF and EVENT_IDX as negotiated by default).
#
# The loop and what each side does per frame:
#   Both drivers keep 128 frames going round (4 bursts of 32): testpmd
#   on the virtio-user side starts with `start tx_first 4` (4 bursts of
#   txonly frames, then io forwarding: every frame received is sent back
#   out as it is, in bursts of up to 32); vio-perf runs with --window=128
#   --burst=32 (at most 128 frames out, tx and rx bursts of up to 32).
#   - DPDK virtio-user, per frame: rx: one used descriptor, the mbuf
#     pointer handed on (zero copy: the frame stays in the mbuf the device
#     wrote), its virtio-net header read (num_buffers); tx: the same
#     mbuf's address into a descriptor (zero copy), a 12-byte header
#     written into the mbuf's headroom. No frame byte is read or written.
#   - libvio's driver (vio-perf --net), per frame: tx: vio-perf writes the
#     8-byte sequence number into its frame; the driver copies the frame
#     and a 12-byte header into its own DMA buffer (the driver's API
#     copies on both paths: the caller's memory may be reused at once);
#     rx: the driver copies the frame out of its receive buffer into
#     vio-perf's, reposts the buffer; vio-perf reads 22 bytes (type,
#     magic, pair, sequence) and matches the sequence in a bitmap (loss,
#     reordering, duplicates). Without --verify: no payload check.
#   - DPDK vhost PMD (io forwarding), per frame: dequeue copies the frame
#     from the driver's tx buffer into an mbuf; enqueue copies the mbuf
#     into the driver's rx buffer. Data untouched otherwise.
#   - libvio's vhost-user-net --reflect, per frame: pops the tx chain,
#     checks the header, swaps the MAC addresses (12 bytes into a scratch
#     area) and copies the frame from the tx buffer straight into an rx
#     buffer (one copy, no intermediate buffer), returns both chains.
#   Both devices: no interrupt while the driver suppresses them (both
#   drivers poll with interrupts off), the vhost PMD busy-polls one core;
#   libvio's daemon runs its defaults (a thread per queue, 32 us of
#   polling after each kick, then it sleeps on the kick eventfd: faster
#   here than --busy-poll, whose two spinning queue threads share a cpu).
#
# What is measured: frames back at the driver per second (Mpps), over
# --seconds. testpmd: RX-packets of the virtio-user port, read with `show
# port stats all` at two instants 2 s and 2 + S s after the first burst,
# over the wall-clock time between the two commands (testpmd's own Rx-pps
# divides by a TSC rate that is not reliable in this VM). vio-perf: its
# own count over --time=S (its clock starts when a probe frame has come
# back). Notifications per frame: vio-perf's kicks sent + calls received
# per frame (the driver's view); for DPDK virtio-user against libvio's
# daemon, the daemon's kicks received + interrupts sent per frame it
# reflected, from its stats (SIGUSR1 at the same two instants); n/a where
# DPDK is the device and not the measured side's counter holder
# (testpmd's vhost PMD does not count kicks).
#
# Pinning: the device side (testpmd's forwarding lcore, libvio's daemon)
# on cpu 1, the driver side (testpmd's forwarding lcore, vio-perf) on cpu
# 0; testpmd's main lcores on the other cpu (they sleep). Each point runs
# --rounds times, the pairs alternating, each run on freshly started
# processes; the table shows medians, and each ratio is the median of the
# rounds' own ratios to the dpdk pair.
#
# usage: bench/vhost-user-net.sh BUILD_DIR [--seconds S] [--rounds R] [--quick]
# env:   VIO_PERF, VHOST_USER_NET (libvio's programs), TESTPMD, DPDK_PMDS
set -euo pipefail

usage() {
	sed -n 's/^# usage: /usage: /p' "${BASH_SOURCE[0]}" >&2
	exit "${1:-2}"
}
die() {
	echo "vhost-user-net.sh: $*" >&2
	exit 2
}

[ $# -ge 1 ] || usage
case $1 in -h | --help) usage 0 ;; esac
build=$1
shift
seconds=3
rounds=3
while [ $# -gt 0 ]; do
	case $1 in
	--seconds) seconds=${2:?--seconds needs a value}; shift ;;
	--seconds=*) seconds=${1#*=} ;;
	--rounds) rounds=${2:?--rounds needs a value}; shift ;;
	--rounds=*) rounds=${1#*=} ;;
	--quick) seconds=1; rounds=1 ;;
	-h | --help) usage 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
[[ $seconds =~ ^[1-9][0-9]*$ ]] || die "--seconds wants a whole number of seconds, not '$seconds'"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds wants a positive number, not '$rounds'"

perf=${VIO_PERF:-$build/tools/vio-perf/vio-perf}
vun=${VHOST_USER_NET:-$build/tools/vhost-user/vhost-user-net}
testpmd=${TESTPMD:-$(command -v dpdk-testpmd || true)}
pmds=${DPDK_PMDS:-$(dirname "$(ls /usr/lib/*/dpdk/pmds-*/librte_net_vhost.so 2>/dev/null | head -n 1)")}
[ -x "$perf" ] || die "no vio-perf at $perf (build it: ninja -C $build, or set VIO_PERF)"
[ -x "$vun" ] || die "no vhost-user-net at $vun (build it, or set VHOST_USER_NET)"
[ -n "$testpmd" ] && [ -x "$testpmd" ] || die "dpdk-testpmd not found (package dpdk-dev)"
[ -f "$pmds/librte_net_vhost.so" ] || die "DPDK's PMDs not found (package dpdk-dev; or set DPDK_PMDS)"
command -v python3 >/dev/null || die "python3 is needed to read vio-perf's JSON"
[ "$(nproc)" -ge 2 ] || die "needs two cpus (driver and device each on its own)"

WINDOW=128              # frames going round: 4 bursts of 32
BURSTS=$((WINDOW / 32))
WARMUP=2                # seconds of testpmd traffic before its first sample
SIZES="64 1518"
RINGS="split packed"
PAIRS="dpdk libvio vu-libvio libvio-dpdk"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vio-bench-net.XXXXXX")
pids=()

stop_all() {
	local p
	for p in "${pids[@]}"; do
		kill -INT "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		for _ in $(seq 100); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	pids=()
}
cleanup() {
	stop_all
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_sock() {
	local sock=$1 pid=$2 log=$3
	for _ in $(seq 400); do
		[ -S "$sock" ] && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			sed 's/^/  /' "$log" >&2
			die "a backend exited before its socket appeared"
		fi
		sleep 0.025
	done
	die "no socket at $sock within 10 s"
}

# The device side, on cpu 1: testpmd's vhost PMD or libvio's daemon.
start_device() {
	local kind=$1 sock=$2 ring=$3
	rm -f "$sock"
	if [ "$kind" = dpdk ]; then
		"$testpmd" --lcores=0@0,1@1 --no-huge -m 1024 --no-pci --file-prefix "vionet-vh-$$" \
			-d "$pmds/librte_net_vhost.so" -d "$pmds/librte_mempool_ring.so" \
			--vdev "net_vhost0,iface=$sock,queues=1" -- --forward-mode=io --auto-start \
			--nb-cores=1 --total-num-mbufs=8192 --stats-period 1000 \
			>"$tmp/device.log" 2>&1 &
	else
		taskset -c 1 "$vun" --socket-path="$sock" --reflect --quiet >"$tmp/device.log" 2>&1 &
	fi
	pids+=($!)
	device_pid=$!
	wait_sock "$sock" "$device_pid" "$tmp/device.log"
}

# DPDK virtio-user on cpu 0, io forwarding of 4 bursts; appends "mpps
# notif" to $3 (notif from libvio's daemon's stats, or nan).
run_testpmd_driver() {
	local sock=$1 ring=$2 out=$3 size=$4 device=$5 packed=0 log=$tmp/driver.log
	[ "$ring" = packed ] && packed=1
	: >"$tmp/daemon-stats"
	{
		sleep 1.5
		echo "start tx_first $BURSTS"
		sleep "$WARMUP"
		echo "show port stats all"
		date +%s.%N >"$tmp/t1"
		[ "$device" = libvio ] && kill -USR1 "$device_pid"
		sleep "$seconds"
		echo "show port stats all"
		date +%s.%N >"$tmp/t2"
		[ "$device" = libvio ] && kill -USR1 "$device_pid"
		sleep 0.3
		echo "stop"
		echo "quit"
	} | timeout -s KILL $((seconds + WARMUP + 30)) "$testpmd" --lcores=0@1,1@0 --no-huge -m 1024 --no-pci --file-prefix "vionet-vu-$$" \
		-d "$pmds/librte_net_virtio.so" -d "$pmds/librte_mempool_ring.so" \
		--vdev "net_virtio_user0,path=$sock,queues=1,queue_size=256,packed_vq=$packed" \
		-- -i --forward-mode=io --nb-cores=1 --total-num-mbufs=8192 --txpkts="$size" \
		>"$log" 2>&1 || { sed 's/^/  /' "$log" | tail -n 20 >&2; die "testpmd (virtio-user) failed"; }
	python3 - "$log" "$tmp/t1" "$tmp/t2" "$tmp/device.log" "$device" >>"$out" <<-'EOF'
		import re, sys
		log, t1, t2, dlog, device = sys.argv[1:]
		rx = [int(x) for x in re.findall(r"^\s+RX-packets: (\d+)\s+RX-missed", open(log).read(), re.M)]
		dt = float(open(t2).read()) - float(open(t1).read())
		if len(rx) < 2 or dt <= 0:
		    sys.exit("testpmd printed no port stats:\n" + open(log).read()[-2000:])
		mpps = (rx[1] - rx[0]) / dt / 1e6
		notif = float("nan")
		if device == "libvio":
		    # Two SIGUSR1 dumps: queue lines with kicks/interrupts; pair 0's tx frames.
		    text = open(dlog).read()
		    q = re.findall(r"queue (\d+): \w+ kicks (\d+) interrupts (\d+)", text)
		    fr = [int(x) for x in re.findall(r"pair 0: tx (\d+) frames", text)]
		    dumps = [q[i:i + 3] for i in range(0, len(q), 3)]
		    if len(dumps) >= 2 and len(fr) >= 2 and fr[1] > fr[0]:
		        n = lambda d: sum(int(k) + int(c) for qi, k, c in d if qi in ("0", "1"))
		        notif = (n(dumps[1]) - n(dumps[0])) / (fr[1] - fr[0])
		print(mpps, notif)
	EOF
}

# libvio's driver on cpu 0; appends "mpps notif".
run_vio_perf() {
	local sock=$1 ring=$2 out=$3 size=$4 rc=0
	taskset -c 0 "$perf" --net --socket="$sock" --ring="$ring" --frame-size="$size" \
		--window="$WINDOW" --burst=32 --time="$seconds" --json --quiet \
		>"$tmp/perf.json" 2>"$tmp/perf.err" || rc=$?
	if [ "$rc" -ne 0 ]; then
		sed 's/^/  /' "$tmp/perf.err" >&2
		die "vio-perf failed (exit $rc)"
	fi
	python3 - "$tmp/perf.json" >>"$out" <<-'EOF'
		import json, sys
		r = json.load(open(sys.argv[1]))
		if r["corrupt"] or r["duplicate"]:
		    sys.exit("vio-perf saw corrupt or duplicate frames: %s" % r)
		print(r["mpps"], r["notifications_per_packet"])
	EOF
}

run_point() {
	local pair=$1 size=$2 ring=$3 sock=$tmp/net.sock out=$tmp/$1.$2.$3
	case $pair in
	dpdk) start_device dpdk "$sock" "$ring"; run_testpmd_driver "$sock" "$ring" "$out" "$size" dpdk ;;
	libvio) start_device libvio "$sock" "$ring"; run_vio_perf "$sock" "$ring" "$out" "$size" ;;
	vu-libvio) start_device libvio "$sock" "$ring"; run_testpmd_driver "$sock" "$ring" "$out" "$size" libvio ;;
	libvio-dpdk) start_device dpdk "$sock" "$ring"; run_vio_perf "$sock" "$ring" "$out" "$size" ;;
	esac
	stop_all
}

model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "machine: ${model:-unknown cpu}, $(nproc) cpus, Linux $(uname -r)"
echo "dpdk:    $(dpkg-query -W -f='dpdk-dev ${Version}' dpdk-dev 2>/dev/null || echo '?') ($testpmd)"
echo "command: bench/vhost-user-net.sh $build --seconds $seconds --rounds $rounds"
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "loop:    $WINDOW frames going round (bursts of 32), 1 queue pair, queue size 256; median of $rounds round(s) of $seconds s"
echo "pinning: device side on cpu 1, driver side on cpu 0"
echo

for size in $SIZES; do
	for ring in $RINGS; do
		for r in $(seq "$rounds"); do
			line="  $size B $ring round $r/$rounds, Mpps:"
			for pair in $PAIRS; do
				run_point "$pair" "$size" "$ring"
				line+=" $pair $(tail -n 1 "$tmp/$pair.$size.$ring" | cut -d' ' -f1 | cut -c1-6)"
			done
			echo "$line" >&2
		done
	done
done

python3 - "$tmp" "$SIZES" "$RINGS" "$PAIRS" <<'EOF'
import math, statistics, sys

tmp, sizes, rings, pairs = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4].split()

def rows(pair, size, ring):
    return [[float(x) for x in l.split()] for l in open("%s/%s.%s.%s" % (tmp, pair, size, ring))]

def med(pair, size, ring, i):
    v = [r[i] for r in rows(pair, size, ring) if not math.isnan(r[i])]
    return statistics.median(v) if v else float("nan")

# Each round's ratio to that round's dpdk pair, then the median of those.
def ratio(pair, size, ring):
    return statistics.median(a[0] / b[0] if b[0] else float("nan")
                             for a, b in zip(rows(pair, size, ring), rows("dpdk", size, ring)))

def notif(pair, size, ring):
    v = med(pair, size, ring, 1)
    return "n/a" if math.isnan(v) else "%.4f" % v

print("| frame | ring | dpdk Mpps | libvio Mpps | vu-libvio Mpps | libvio-dpdk Mpps "
      "| libvio/dpdk | vu-libvio/dpdk | libvio-dpdk/dpdk | notif/frame libvio | vu-libvio | libvio-dpdk |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for size in sizes:
    for ring in rings:
        print("| %s | %s | %.3f | %.3f | %.3f | %.3f | %.2f | %.2f | %.2f | %s | %s | %s |" % (
            size, ring, *(med(p, size, ring, 0) for p in pairs),
            ratio("libvio", size, ring), ratio("vu-libvio", size, ring),
            ratio("libvio-dpdk", size, ring),
            notif("libvio", size, ring), notif("vu-libvio", size, ring),
            notif("libvio-dpdk", size, ring)))
print()
print("dpdk: DPDK virtio-user <-> DPDK vhost PMD; libvio: vio-perf --net <-> vhost-user-net --reflect;")
print("vu-libvio: DPDK virtio-user <-> vhost-user-net --reflect; libvio-dpdk: vio-perf --net <-> DPDK vhost PMD.")
print("notif/frame: kicks + interrupts per frame (dpdk pair: n/a, testpmd counts none).")
EOF
