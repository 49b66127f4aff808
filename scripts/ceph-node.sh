#!/usr/bin/env bash
# ceph-node.sh - a throwaway one-node Ceph cluster for libvio's RBD tests
# and benchmarks.
#
#   scripts/ceph-node.sh start DIR [POOL/IMAGE SIZE]...   prints DIR/ceph.conf
#   scripts/ceph-node.sh stop-osd DIR                     the OSD goes away (SIGKILL)
#   scripts/ceph-node.sh start-osd DIR                    ...and comes back
#   scripts/ceph-node.sh teardown DIR                     every process killed, DIR removed
#
# One monitor on 127.0.0.1 (a free port picked at start), one OSD on
# memstore (data in RAM: a stopped OSD keeps nothing, so stop-osd and
# start-osd lose the image; see below), no manager, no authentication,
# pools of size 1. Everything the cluster writes (mon store, OSD dir, logs,
# admin sockets, pid files) stays inside DIR, which must not exist yet: two
# clusters in two directories do not see each other (each has its own
# fsid). Written from the Ceph documentation's manual deployment steps
# (monmaptool, ceph-mon --mkfs, ceph osd create, ceph-osd --mkfs); vstart.sh
# and cephadm do not run here.
#
# The OSD's memstore loses its data when the process dies. stop-osd
# therefore does not kill the OSD: it freezes it (SIGSTOP) and marks it
# down in the monitor, which is what a client sees of a crashed or
# unreachable OSD; start-osd thaws it (SIGCONT) and waits until it is up
# again, with its data. That is the fault RBD clients must ride out.
#
# Needs root (the daemons open their own sockets and run as root here) and
# Debian's ceph-mon, ceph-osd and ceph-common (scripts/deps.sh). Bring-up
# takes about 9 s on this 2-cpu machine; the mon and the OSD use about
# 30 MB each when idle, plus what the images hold.
set -euo pipefail

die() {
	echo "ceph-node.sh: $*" >&2
	exit 1
}
usage() {
	sed -n 's/^#   scripts/usage: scripts/p' "${BASH_SOURCE[0]}" >&2
	exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
dir=$2
shift 2
conf=$dir/ceph.conf

need_root() {
	[ "$(id -u)" -eq 0 ] || die "needs root (the Ceph daemons run as root here); not root"
	for b in ceph-mon ceph-osd ceph monmaptool rbd; do
		command -v "$b" >/dev/null ||
			die "$b not found: install ceph-mon ceph-osd ceph-common (scripts/deps.sh)"
	done
}

# ceph CLI with a deadline: without one, a command against a cluster that
# lost its monitor waits forever.
cephc() { timeout 30 ceph -c "$conf" --connect-timeout 20 "$@"; }

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pid_of() { [ -f "$dir/$1.pid" ] && cat "$dir/$1.pid"; }

# wait_osd STATE: until `ceph osd stat` says the OSD is STATE (up or down).
wait_osd() {
	local want=$1 s
	for _ in $(seq 120); do
		s=$(cephc osd dump --format json 2>/dev/null |
			python3 -c 'import json,sys; o=json.load(sys.stdin)["osds"]; print("up" if o and o[0]["up"] else "down")' \
			2>/dev/null || true)
		[ "$s" = "$want" ] && return 0
		sleep 0.25
	done
	die "osd.0 is not $want after 60 s (logs in $dir/log)"
}

start_osd_daemon() {
	ceph-osd -c "$conf" -i 0 2>"$dir/log/osd.0.stderr" || die "ceph-osd did not start (logs in $dir/log)"
	for _ in $(seq 100); do
		[ -s "$dir/osd.0.pid" ] && return 0
		sleep 0.05
	done
	die "ceph-osd wrote no pid file"
}

case $cmd in
start)
	need_root
	[ ! -e "$dir" ] || die "$dir exists: give a directory that does not exist yet"
	mkdir -p "$dir/log" "$dir/run" "$dir/mon.a" "$dir/osd.0"
	dir=$(cd "$dir" && pwd)
	conf=$dir/ceph.conf
	port=$(free_port)
	fsid=$(cat /proc/sys/kernel/random/uuid)
	# ms_bind_port_*: the OSD takes a few ports from a range away from
	# Ceph's default (6800-7300), so a real cluster's ports are left
	# alone; each cluster tries the range until a bind succeeds.
	cat >"$conf" <<-EOF
		# ceph.conf of a test node made by libvio's scripts/ceph-node.sh
		[global]
		fsid = $fsid
		mon host = v2:127.0.0.1:$port
		mon initial members = a
		public network = 127.0.0.0/8
		auth cluster required = none
		auth service required = none
		auth client required = none
		osd pool default size = 1
		osd pool default min size = 1
		osd pool default pg num = 8
		osd pool default pgp num = 8
		osd crush chooseleaf type = 0
		mon allow pool size one = true
		mon allow pool delete = true
		mon warn on pool no redundancy = false
		ms bind port min = 36800
		ms bind port max = 37300
		run dir = $dir/run
		admin socket = $dir/run/\$name.asok
		log file = $dir/log/\$name.log
		pid file = $dir/\$name.pid
		mon data = $dir/\$name
		osd data = $dir/\$name
		osd objectstore = memstore
		memstore device bytes = 2147483648
		# a down OSD is noticed by the monitor in seconds, not minutes
		osd heartbeat grace = 6
		# a lone OSD has no peers and asks the monitor for news only this
		# often (default 30 s): after start-osd it would stay down that long
		osd mon heartbeat interval = 1
		mon osd down out interval = 0
		[client]
		log file = /dev/null
		admin socket =
	EOF
	t0=$(date +%s.%N)
	monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$port]" "$dir/monmap" >/dev/null
	ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" || die "ceph-mon --mkfs failed"
	ceph-mon -c "$conf" -i a || die "ceph-mon did not start (logs in $dir/log)"
	id=$(cephc osd create) || die "ceph osd create failed (logs in $dir/log)"
	[ "$id" = 0 ] || die "ceph osd create gave id $id, not 0"
	cephc osd crush add osd.0 1.0 root=default >/dev/null 2>&1 ||
		die "ceph osd crush add failed"
	ceph-osd -c "$conf" -i 0 --mkfs >/dev/null 2>&1 || die "ceph-osd --mkfs failed (logs in $dir/log)"
	start_osd_daemon
	wait_osd up
	# Pools and images asked for on the command line: POOL/IMAGE SIZE pairs.
	pools=" "
	while [ $# -ge 2 ]; do
		pool=${1%%/*}
		image=${1#*/}
		case $pools in *" $pool "*) ;; *)
			cephc osd pool create "$pool" 8 8 >/dev/null 2>&1 || die "pool $pool: create failed"
			cephc osd pool application enable "$pool" rbd >/dev/null 2>&1 ||
				die "pool $pool: application enable failed"
			pools="$pools$pool "
		esac
		timeout 60 rbd -c "$conf" create --size "$2" "$pool/$image" || die "rbd create $1 failed"
		shift 2
	done
	[ $# -eq 0 ] || die "start: images come as POOL/IMAGE SIZE pairs"
	t1=$(date +%s.%N)
	echo "ceph-node.sh: up in $(python3 -c "print('%.1f' % ($t1 - $t0))") s, mon 127.0.0.1:$port" >&2
	echo "$conf"
	;;
stop-osd)
	[ -f "$conf" ] || die "no cluster in $dir"
	pid=$(pid_of osd.0) || die "no OSD pid file"
	kill -STOP "$pid"
	cephc osd down 0 >/dev/null 2>&1 || die "ceph osd down failed"
	wait_osd down
	;;
start-osd)
	[ -f "$conf" ] || die "no cluster in $dir"
	pid=$(pid_of osd.0) || die "no OSD pid file"
	kill -CONT "$pid"
	wait_osd up
	;;
teardown)
	[ -d "$dir" ] || exit 0
	[ -f "$conf" ] || die "$dir does not look like a ceph-node.sh cluster (no ceph.conf)"
	for name in osd.0 mon.a; do
		pid=$(pid_of "$name") || continue
		kill -CONT "$pid" 2>/dev/null || true
		kill -KILL "$pid" 2>/dev/null || true
		# Gone, or a zombie: the daemons detached themselves, and where
		# pid 1 does not reap (a container's), they stay zombies.
		for _ in $(seq 100); do
			state=$(sed -n 's/^[0-9]* ([^)]*) \(.\).*/\1/p' "/proc/$pid/stat" 2>/dev/null)
			[ -n "$state" ] && [ "$state" != Z ] || break
			sleep 0.05
		done
	done
	rm -rf "$dir"
	;;
*)
	usage
	;;
esac
