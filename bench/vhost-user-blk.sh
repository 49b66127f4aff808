#!/usr/bin/env bash
# vhost-user-blk.sh - libvio's vhost-user-blk daemon against
# qemu-storage-daemon, driven by the same load generator in one run.
#
# Why: a number for libvio's block backend alone says little on a shared
# 2-cpu machine; the same load on qemu-storage-daemon (QEMU 7.2), measured
# minutes apart with the peers interleaved, gives a ratio that does.
#
# tools/vio-perf (libvio's blk driver over its vhost-user frontend) sends
# 4 KiB random reads at queue depth 1, 32 and 128 to each peer, on
#   null  qsd: null-co,read-zeroes=on   libvio: --null (both store
#         nothing and zero every byte read)
#   file  one file in /dev/shm, the same for both
#   nbd   one nbdkit memory server (256 MiB) on a unix socket, for all
#         three: qsd's nbd driver (server.type=unix) and libvio --nbd;
#         4 KiB random reads (nbd-randread) and writes (nbd-randwrite).
#         The server's own figure: tests/nbd/nbd_bench, libvio's NBD
#         storage driven directly on the same server (no virtio, no
#         vhost-user; one connection, the same depth): what one client
#         connection and nbdkit manage together, which neither daemon can
#         beat. nbdkit is not pinned (there is no third cpu). Without
#         nbdkit, or a build without libnbd, the NBD rows are left out.
#   rbd   a 128 MiB Ceph RBD image (prefilled) on a one-node cluster
#         started for the run (scripts/ceph-node.sh: one mon, one memstore
#         OSD, root only); qsd: driver=rbd, libvio: --rbd. Random reads
#         and random writes. `rbd bench` (librbd alone, no virtio) runs on
#         the same image as the cluster's own figure: where it is not far
#         above both peers, the cluster is the limit. --no-rbd leaves it out.
# Three peers: qsd as its export runs by default (in the main loop), qsd
# with the export in an iothread (which polls adaptively, 32 us by
# default: qsd's fast configuration), and libvio's daemon in its default
# mode (a thread per queue, adaptive polling 32 us after each kick).
# vio-perf busy-polls for completions by default (--client poll), so the
# client's own wake-ups do not hide the backends' cost; --client notify
# makes it sleep on the call eventfd instead.
# Each point runs --rounds times, peers alternating (qsd, qsd-iot, libvio,
# qsd, ...), each run on a freshly started daemon; the table shows the
# median of the rounds, and each ratio is the median of the rounds' own
# ratios. With two or more cpus the daemon is pinned to
# cpu 1 and vio-perf to cpu 0 (--no-pin: no pinning).
#
# usage: bench/vhost-user-blk.sh BUILD_DIR [--seconds S] [--rounds R] [--quick]
#                                [--qsd-aio threads|io_uring] [--client poll|notify] [--no-pin]
#                                [--no-rbd]
# env:   VIO_PERF (vio-perf binary), VHOST_USER_BLK (libvio's daemon),
#        QSD_BIN (qemu-storage-daemon), BENCH_BACKENDS (the local rows, default
#        "null file"; empty: NBD rows only), BENCH_DIR (where the file goes,
#        default /dev/shm)
set -euo pipefail

usage() {
	sed -n 's/^# usage: /usage: /p; s/^#    *\(\[--\)/    \1/p' "${BASH_SOURCE[0]}" >&2
	exit "${1:-2}"
}
die() {
	echo "vhost-user-blk.sh: $*" >&2
	exit 2
}

[ $# -ge 1 ] || usage
case $1 in -h | --help) usage 0 ;; esac
build=$1
shift
seconds=5
rounds=3
qsd_aio=threads
client=poll
pin=1
rbd=1
quick=0
while [ $# -gt 0 ]; do
	case $1 in
	--seconds) seconds=${2:?--seconds needs a value}; shift ;;
	--seconds=*) seconds=${1#*=} ;;
	--rounds) rounds=${2:?--rounds needs a value}; shift ;;
	--rounds=*) rounds=${1#*=} ;;
	--quick) seconds=1; rounds=1; quick=1 ;;
	--no-rbd) rbd=0 ;;
	--qsd-aio) qsd_aio=${2:?--qsd-aio needs a value}; shift ;;
	--qsd-aio=*) qsd_aio=${1#*=} ;;
	--client) client=${2:?--client needs a value}; shift ;;
	--client=*) client=${1#*=} ;;
	--no-pin) pin=0 ;;
	-h | --help) usage 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
[[ $seconds =~ ^[1-9][0-9]*$ ]] || die "--seconds wants a whole number of seconds, not '$seconds'"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds wants a positive number, not '$rounds'"
case $qsd_aio in threads | io_uring) ;; *) die "--qsd-aio: threads or io_uring" ;; esac
case $client in poll) client_opt=(--poll) ;; notify) client_opt=() ;; *) die "--client: poll or notify" ;; esac

perf=${VIO_PERF:-$build/tools/vio-perf/vio-perf}
vub=${VHOST_USER_BLK:-$build/tools/vhost-user/vhost-user-blk}
qsd=${QSD_BIN:-$(command -v qemu-storage-daemon || true)}
[ -x "$perf" ] || die "no vio-perf at $perf (build it: ninja -C $build, or set VIO_PERF)"
[ -x "$vub" ] || die "no vhost-user-blk at $vub (build it: ninja -C $build, or set VHOST_USER_BLK)"
[ -n "$qsd" ] && [ -x "$qsd" ] ||
	die "qemu-storage-daemon not found (package qemu-system-common; scripts/deps.sh installs it)"
command -v python3 >/dev/null || die "python3 is needed to read vio-perf's JSON"

DISK_BYTES=$((256 << 20))       # the file; the null disks are as large
QD_LIST="1 32 128"
RBD_QD_LIST="1 32 128"
NBD_QD_LIST="1 32 128"
[ "$quick" = 0 ] || NBD_QD_LIST="32"   # --quick: the NBD rows at one depth (CI)
[ "$quick" = 0 ] || RBD_QD_LIST="32"   # --quick: the RBD rows at one depth (CI)
RBD_BYTES=$((128 << 20))
[ "$quick" = 0 ] || RBD_BYTES=$((32 << 20))   # --quick: less to prefill
ceph_node=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/ceph-node.sh
shm=${BENCH_DIR:-/dev/shm}
[ -d "$shm" ] && [ -w "$shm" ] || die "$shm is not a writable directory (set BENCH_DIR)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vio-bench-vub.XXXXXX")
img=$(mktemp "$shm/vio-bench-vub.XXXXXX.img")
daemon_pid=""
ceph_conf=""

stop_daemon() {
	[ -n "$daemon_pid" ] || return 0
	kill -TERM "$daemon_pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$daemon_pid" 2>/dev/null || true
	wait "$daemon_pid" 2>/dev/null || true
	daemon_pid=""
}
cleanup() {
	stop_daemon
	[ -z "$ceph_conf" ] || "$ceph_node" teardown "$tmp/ceph" >/dev/null 2>&1 || true
	rm -rf "$tmp"
	rm -f "$img"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

daemon_pin=()
perf_pin=()
if [ "$pin" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	daemon_pin=(taskset -c 1)
	perf_pin=(taskset -c 0)
fi

# The file is written through, so tmpfs holds real pages (a hole would
# read as the shared zero page, which is cheaper than data).
head -c "$DISK_BYTES" /dev/urandom >"$img" 2>/dev/null || die "could not write $img"

# start_daemon PEER BACKEND: starts it on $tmp/PEER.sock, waits for the
# socket, and sets daemon_pid.
start_daemon() {
	local peer=$1 backend=$2 sock=$tmp/$1.sock log=$tmp/$1.log
	local args=()

	rm -f "$sock"
	case $peer/$backend in
	qsd*/null) args=("$qsd" --blockdev "driver=null-co,node-name=n0,size=$DISK_BYTES,read-zeroes=on") ;;
	qsd*/file) args=("$qsd" --blockdev "driver=file,node-name=n0,filename=$img,aio=$qsd_aio") ;;
	libvio/null) args=("$vub" --socket-path="$sock" --null="$DISK_BYTES" --quiet) ;;
	libvio/file) args=("$vub" --socket-path="$sock" --blk-file="$img" --quiet) ;;
	qsd*/nbd-*) args=("$qsd" --blockdev "driver=nbd,node-name=n0,server.type=unix,server.path=$nbd_sock") ;;
	libvio/nbd-*) args=("$vub" --socket-path="$sock" --nbd="nbd+unix:///?socket=$nbd_sock" --quiet) ;;
	qsd*/rbd) args=("$qsd" --blockdev "driver=rbd,node-name=n0,pool=rbd,image=bench,conf=$ceph_conf") ;;
	libvio/rbd) args=("$vub" --socket-path="$sock" --rbd=rbd/bench --ceph-conf="$ceph_conf" --quiet) ;;
	esac
	local export="type=vhost-user-blk,id=e0,node-name=n0,addr.type=unix,addr.path=$sock,writable=on"
	case $peer in
	qsd) args+=(--export "$export") ;;
	qsd-iot) args+=(--object iothread,id=iot0 --export "$export,iothread=iot0") ;;
	esac
	"${daemon_pin[@]}" "${args[@]}" >"$log" 2>&1 &
	daemon_pid=$!
	for _ in $(seq 400); do
		[ -S "$sock" ] && return 0
		if ! kill -0 "$daemon_pid" 2>/dev/null; then
			wait "$daemon_pid" 2>/dev/null || true
			daemon_pid=""
			sed 's/^/  /' "$log" >&2
			die "$peer ($backend) exited before its socket appeared: ${args[*]}"
		fi
		sleep 0.025
	done
	sed 's/^/  /' "$log" >&2
	die "$peer ($backend) did not create $sock within 10 s"
}

# run_point PEER BACKEND QD [RW]: one vio-perf run (RW: randread by
# default) on a fresh daemon; appends "iops p50 p99" to $tmp/PEER.ROW.QD,
# where ROW is BACKEND for randread and BACKEND-RW otherwise.
run_point() {
	local peer=$1 backend=$2 qd=$3 rw=${4:-} out=$tmp/run.json rc=0
	local row=$2
	# The rw: the 4th argument (rbd's rows), or the row's own name
	# (nbd-randwrite), else randread.
	if [ -n "$rw" ]; then
		[ "$rw" = randread ] || row=$2-$rw
	else
		rw=randread
		case $backend in *-randwrite) rw=randwrite ;; esac
	fi

	start_daemon "$peer" "$backend"
	# qsd binds before it listens: vio-perf's connect may be refused for
	# an instant, so a refused first try is retried once.
	for attempt in 1 2 3; do
		rc=0
		"${perf_pin[@]}" "$perf" --socket="$tmp/$peer.sock" --rw="$rw" --bs=4k \
			--qd="$qd" --time="$seconds" "${client_opt[@]}" --json --quiet \
			>"$out" 2>"$tmp/perf.err" || rc=$?
		[ "$rc" -eq 2 ] && [ "$attempt" -lt 3 ] && { sleep 0.1; continue; }
		break
	done
	stop_daemon
	if [ "$rc" -ne 0 ]; then
		sed 's/^/  /' "$tmp/perf.err" >&2
		die "vio-perf failed (exit $rc) against $peer ($backend $rw, qd $qd)"
	fi
	python3 - "$out" >>"$tmp/$peer.$row.$qd" <<-'EOF'
		import json, sys
		with open(sys.argv[1]) as f:
		    r = json.load(f)
		if r.get("errors", 0) or r.get("verify_errors", 0):
		    sys.exit("vio-perf reported I/O errors: %s" % r)
		lat = r["lat_us"]
		print(r["iops"], lat["p50"], lat["p99"])
	EOF
}

model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "machine: ${model:-unknown cpu}, $(nproc) cpus, Linux $(uname -r)"
echo "qsd:     $("$qsd" --version | head -n 1)"
echo "command: bench/vhost-user-blk.sh $build --seconds $seconds --rounds $rounds --qsd-aio $qsd_aio --client $client$([ "$pin" = 1 ] || echo ' --no-pin')"
echo "load:    vio-perf --rw=randread --bs=4k --time=$seconds ${client_opt[*]}, 1 queue, split ring (IN_ORDER where offered); median of $rounds round(s)"
echo "peers:   qsd (export in the main loop), qsd-iot (export in an iothread), libvio vhost-user-blk (defaults)"
echo "pinning: $([ ${#daemon_pin[@]} -gt 0 ] && echo 'daemon on cpu 1, vio-perf on cpu 0' || echo none)"
echo "null:    qsd null-co,read-zeroes=on vs libvio --null: neither stores data, each read zeroes 4 KiB"
echo "file:    $(du -h --apparent-size "$img" | cut -f1) file in $shm; qsd file driver aio=$qsd_aio, cache.direct=off;"
echo "         libvio --blk-file (preadv/pwritev: the file is on tmpfs; io_uring elsewhere)"
echo "rbd:     $([ "$rbd" = 1 ] && echo "$((RBD_BYTES >> 20)) MiB image (prefilled), one-node Ceph (memstore OSD); qsd driver=rbd vs libvio --rbd; randread and randwrite at qd $RBD_QD_LIST" || echo "left out (--no-rbd)")"
echo

# The Ceph node first: it is the slowest to start and may not start at all.
if [ "$rbd" = 1 ]; then
	command -v rbd >/dev/null || die "rbd not found: install ceph-common (scripts/deps.sh), or --no-rbd"
	ceph_conf=$("$ceph_node" start "$tmp/ceph" rbd/bench "$((RBD_BYTES >> 20))M") ||
		die "the Ceph node did not start (root and ceph-mon ceph-osd ceph-common needed; or --no-rbd)"
	# Prefilled, so reads reach the OSD: librbd answers reads of objects
	# that were never written from its object map, with no I/O at all.
	timeout 300 rbd -c "$ceph_conf" bench --io-type write --io-pattern seq --io-size 4M \
		--io-threads 4 --io-total "$RBD_BYTES" rbd/bench >/dev/null ||
		die "could not fill the RBD image"
fi

backends=${BENCH_BACKENDS-null file}   # env: leave out null/file rows with BENCH_BACKENDS=
nbd_bench=$build/tests/nbd/nbd_bench
nbd_sock=$tmp/nbd.sock
nbd_pid=""
if ! command -v nbdkit >/dev/null; then
	echo "nbd:     nbdkit not found (scripts/deps.sh installs it): NBD rows left out" >&2
elif [ ! -x "$nbd_bench" ]; then
	echo "nbd:     no $nbd_bench (a build without libnbd?): NBD rows left out" >&2
else
	nbdkit -f --exit-with-parent -U "$nbd_sock" memory size=$DISK_BYTES >"$tmp/nbdkit.log" 2>&1 &
	nbd_pid=$!
	for _ in $(seq 200); do [ -S "$nbd_sock" ] && break; sleep 0.025; done
	[ -S "$nbd_sock" ] || die "nbdkit did not create $nbd_sock"
	backends="$backends nbd-randread nbd-randwrite"
	echo "nbd:     $(nbdkit --version) memory plugin, 256 MiB, unix socket; qsd driver=nbd vs libvio --nbd;"
	echo "         4 KiB randread and randwrite; server alone: nbd_bench (libvio's NBD client, no virtio)"
	echo
fi

for backend in $backends; do
	qds=$QD_LIST
	case $backend in nbd-*) qds=$NBD_QD_LIST ;; esac
	for qd in $qds; do
		for r in $(seq "$rounds"); do
			run_point qsd "$backend" "$qd"
			run_point qsd-iot "$backend" "$qd"
			run_point libvio "$backend" "$qd"
			case $backend in nbd-*)
				"${perf_pin[@]}" "$nbd_bench" "nbd+unix:///?socket=$nbd_sock" "${backend#nbd-rand}" \
					"$qd" "$seconds" | awk '{ print $2 }' >>"$tmp/server.$backend.$qd" ||
					die "nbd_bench failed ($backend, qd $qd)"
			esac
			echo "  $backend qd $qd round $r/$rounds done" >&2
		done
	done
done

if [ "$rbd" = 1 ]; then
	for rw in randread randwrite; do
		for qd in $RBD_QD_LIST; do
			for r in $(seq "$rounds"); do
				run_point qsd rbd "$qd" "$rw"
				run_point qsd-iot rbd "$qd" "$rw"
				run_point libvio rbd "$qd" "$rw"
				echo "  rbd $rw qd $qd round $r/$rounds done" >&2
			done
		done
	done
	# The cluster's own figure: librbd alone, 4 KiB random, 32 in flight.
	rbd_total=$((64 << 20))
	[ "$quick" = 0 ] || rbd_total=$((8 << 20))
	for rw in read write; do
		timeout 300 rbd -c "$ceph_conf" bench --io-type "$rw" --io-pattern rand --io-size 4K \
			--io-threads 32 --io-total "$rbd_total" rbd/bench 2>&1 |
			sed -n 's/.*ops\/sec: *\([0-9.]*\).*/\1/p' | tail -1 >"$tmp/rbdbench.$rw"
	done
fi

[ -z "$nbd_pid" ] || { kill "$nbd_pid" 2>/dev/null; wait "$nbd_pid" 2>/dev/null || true; }

python3 - "$tmp" "$QD_LIST" "$backends" "$RBD_QD_LIST" "$rbd" "$NBD_QD_LIST" <<'EOF'
import statistics, sys

tmp, qds, backends = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
rbd_qds, rbd, nbd_qds = sys.argv[4].split(), sys.argv[5] == "1", sys.argv[6].split()

def rows(peer, backend, qd):
    return [[float(x) for x in l.split()]
            for l in open("%s/%s.%s.%s" % (tmp, peer, backend, qd))]

def med(peer, backend, qd):
    rs = rows(peer, backend, qd)
    return [statistics.median(r[i] for r in rs) for i in range(3)]

# A ratio is the median of the rounds' ratios: each round's runs are
# seconds apart, so a machine that changes speed between rounds moves
# both sides of a round's ratio together.
def ratio(a, b, backend, qd):
    pairs = zip(rows(a, backend, qd), rows(b, backend, qd))
    return statistics.median(x[0] / y[0] if y[0] else float("nan") for x, y in pairs)

print("| backend | qd | qsd IOPS | qsd-iot IOPS | libvio IOPS | libvio/qsd | libvio/qsd-iot "
      "| p50/p99 us qsd | qsd-iot | libvio |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
table = [(b, nbd_qds if b.startswith("nbd-") else qds) for b in backends]
if rbd:
    table += [("rbd", rbd_qds), ("rbd-randwrite", rbd_qds)]
names = {"rbd": "rbd randread", "rbd-randwrite": "rbd randwrite"}
for backend, bqds in table:
    for qd in bqds:
        q, t, l = (med(p, backend, qd) for p in ("qsd", "qsd-iot", "libvio"))
        print("| %s | %s | %.0f | %.0f | %.0f | %.2f | %.2f | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f |"
              % (names.get(backend, backend), qd, q[0], t[0], l[0], ratio("libvio", "qsd", backend, qd),
                 ratio("libvio", "qsd-iot", backend, qd),
                 q[1], q[2], t[1], t[2], l[1], l[2]))
EOF

# The NBD server's own figure: libvio's NBD storage alone on the same
# nbdkit (tests/nbd/nbd_bench), the ceiling for both daemons.
if [ -n "$nbd_pid" ]; then
	echo
	echo "| nbdkit alone (nbd_bench: libvio's NBD client, no virtio) | qd | IOPS (median) |"
	echo "|---|---:|---:|"
	for backend in nbd-randread nbd-randwrite; do
		for qd in $NBD_QD_LIST; do
			echo "| ${backend#nbd-} | $qd | $(sort -n "$tmp/server.$backend.$qd" |
				awk '{ v[NR] = $1 } END { printf "%.0f", v[int((NR + 1) / 2)] }') |"
		done
	done
fi
if [ "$rbd" = 1 ]; then
	echo
	echo "rbd: the cluster's own figure, rbd bench (librbd alone, 4 KiB random, 32 threads):" \
		"read $(cat "$tmp/rbdbench.read") IOPS, write $(cat "$tmp/rbdbench.write") IOPS"
fi
