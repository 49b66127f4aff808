#!/usr/bin/env bash
# migrate.sh - QEMU live migration of a Linux guest whose devices are
# served by libvio's vhost-user daemons (issue #14, "The proof").
#
# Usage: tests/guest/migrate.sh BUILD_DIR [VARIANT...]
#   variants: blk-split blk-packed net kill-source (default: all four)
#             blk-qsd  (the same as blk-split with qemu-storage-daemon as
#                      both daemons: the reference the harness was proven
#                      on; not in the default list)
# VIO_MIGRATE_BLK=qsd runs every blk variant on qemu-storage-daemon;
# MIGRATE_MEM_MB=N gives the guest N MiB (default 256);
# VIO_MIGRATE_QEMU_ARGS adds arguments to both QEMUs (e.g. -trace 'vhost_*').
#
# Each variant runs two QEMU 7.2 processes on this machine (TCG, 256 MiB
# of shared memfd memory, one vCPU): the source boots the Debian kernel
# with a busybox initramfs (tests/guest/migrate_init.sh as /init), the
# destination waits with `-incoming defer`. Each has its OWN daemon; the
# two blk daemons serve ONE image file. tests/guest/migrate_host.py drives
# the migration over QMP (unix sockets) and reads both serial consoles
# (unix sockets too: the host writes STOP to whichever QEMU runs the guest
# at the end); its MIG-CHECK lines and the guest's VIO-CHECK lines become
# TAP lines here. The kernel gets no_timer_check: on a starved host,
# TCG's timer once failed the kernel's IO-APIC check ("Kernel panic - not
# syncing: IO-APIC + timer doesn't work!").
#
# blk-split, blk-packed: vhost-user-blk-pci on vhost-user-blk (packed=on
#   in blk-packed, checked negotiated in the guest). The guest writes
#   checksummed 64 KiB blocks in a loop, O_DIRECT, round-robin over 64
#   blocks; the migration happens while it writes; after it, on the
#   destination, the guest reads every block back (each must hold the last
#   write made to it, its data matching its checksum) and so does this
#   script in the image file. Checked too: writes landed before the
#   migration began and after it ended, the destination runs and the
#   source is left in postmigrate, both daemons survive and stop on SIGTERM.
# net: virtio-net-pci on vhost-user-net --tap, a daemon per QEMU, both taps
#   on one bridge in a network namespace made here (10.78.0.1); the guest
#   is 10.78.0.2 and answers a ping every 0.1 s from the namespace across
#   the migration. guest_announce=off, so QEMU asks the destination's
#   daemon for a RARP (SEND_RARP) and the bridge learns the guest's new
#   port from it: the daemon must log the RARP, at most
#   MIGRATE_NET_MAX_LOST pings (default 10, 1 s) may be lost, and the last
#   ones must be answered. (Without the RARP, QEMU's announce-rounds set
#   to 0, every ping after the switch-over was lost: 21 of 44.)
# kill-source: blk-split's setup with the source's chardev reconnecting;
#   the source daemon is SIGKILLed as soon as the migration is active. The
#   migration must end failed or cancelled, the guest must still run on
#   the source; a new daemon is started there, the guest's writes must
#   reach the image through it, and the guest's checks and the image
#   file's must pass on the source.
#
# The switch-over gate. QEMU 7.2 by itself COMPLETES a migration whose
# source vhost-user-blk daemon died during it (seen with
# qemu-storage-daemon: status "completed", the destination running),
# although what that daemon wrote into guest memory since its last log
# sync is then unknown. So every variant migrates with the capability
# pause-before-switchover, and migrate_host.py, in the management's role,
# lets the switch-over go on (migrate-continue) only while every source
# daemon lives, and otherwise cancels (migrate_cancel): kill-source's
# "cancelled" is that gate at work.
#
# What QEMU 7.2 asks of a vhost-user backend to migrate (seen here):
# VHOST_F_LOG_ALL and PROTOCOL_F_LOG_SHMFD offered (without LOG_SHMFD,
# `migrate` fails at once: "Migration disabled: vhost-user backend lacks
# VHOST_USER_PROTOCOL_F_LOG_SHMFD feature."); SET_LOG_BASE answered;
# SET_FEATURES with LOG_ALL and SET_VRING_ADDR with the LOG flag on
# running rings, both with NEED_REPLY; at the switch-over QEMU stops the
# device with SET_STATUS 0, SET_VRING_ENABLE 0, then GET_VRING_BASE, whose
# answer must still be the ring's position (the destination refuses
# "VQ 0 size 0x80 < last_avail_idx 0x0 - used_idx 0x11" otherwise, and
# the guest is lost: the source is already in postmigrate); for net,
# PROTOCOL_F_RARP and SEND_RARP (QEMU sends it 5 times, its announce
# rounds). Memory must be shared (memfd, share=on), as for any vhost-user
# device. A 256 MiB TCG guest migrates in 0.4-0.8 s (about 90 MiB sent:
# zero pages are skipped; downtime 12-370 ms), a 512 MiB one in 2-6 s,
# on this loaded 2-core machine.
#
# VIO_MIGRATE_NET=dpdk runs net on DPDK's testpmd instead (vhost PMD
# io-forwarding to a tap PMD port, inside the namespace): the reference.
# Both testpmds poll on cpu 1 only, leaving cpu 0 to the QEMUs.
#
# Needs root (namespace, bridge, taps), qemu-system-x86_64, python3, the
# Debian kernel and busybox-static (as run.sh); qemu-storage-daemon for
# blk-qsd, dpdk-testpmd for the DPDK reference. A variant that cannot run
# fails (never skips). TCG always: the two QEMUs must agree on the
# accelerator, and KVM does not run Linux here (DESIGN.md). About 25-40 s
# per variant. VIO_GUEST_KEEP=1 keeps the scratch directory.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:?usage: migrate.sh BUILD_DIR [VARIANT...]}")
shift
variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(blk-split blk-packed net kill-source)
bin=$build/tools/vhost-user
max_lost=${MIGRATE_NET_MAX_LOST:-10}
mem=${MIGRATE_MEM_MB:-256}

# shellcheck source=tests/guest/tap.sh
. "$here/tap.sh"
guest_work vio-migrate
# The net variant's namespace goes too, however the script ends.
ns=vio-m$$
trap 'ip netns del $ns 2>/dev/null; guest_cleanup' EXIT

missing=""
for c in qemu-system-x86_64 python3 ip busybox; do command -v $c >/dev/null || missing="$missing $c"; done
for d in vhost-user-blk vhost-user-net; do [ -x "$bin/$d" ] || missing="$missing $bin/$d"; done
if [ -n "$missing" ]; then
	tap not "prerequisites" "missing:$missing"
	finish
fi
kernel=$(VIO_INITRAMFS_INIT="$here/migrate_init.sh" "$here/mkinitramfs.sh" "$work/initrd.gz") ||
	{ tap not "build the initramfs" "mkinitramfs.sh failed"; finish; }

wait_socket() {
	for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.05; done
	return 1
}

# start DIR LOGNAME CMD...: a daemon in the background, its pid in $started.
start() {
	local dir=$1 log=$2; shift 2
	"$@" >>"$dir/$log.log" 2>&1 &
	started=$!
	pids+=("$started")
}

# stop_daemon VARIANT NAME PID: it survived the migration and SIGTERM ends
# it cleanly.
stop_daemon() {
	local v=$1 name=$2 pid=$3 st
	if ! kill -0 "$pid" 2>/dev/null; then
		tap not "$v: $name still running after the guest" "it died; see its log"
		return
	fi
	tap ok "$v: $name still running after the guest"
	kill -TERM "$pid"
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		tap not "$v: $name stops on SIGTERM" "still running after 5 s"
		kill -KILL "$pid"
		return
	fi
	wait "$pid"; st=$?
	if [ $st = 0 ]; then tap ok "$v: $name stops on SIGTERM"; else tap not "$v: $name stops on SIGTERM" "exit $st"; fi
}

# qemu DIR SIDE DEVICE-ARGS...: one of the two QEMUs (SIDE src or dst; dst
# waits for the migration), console and QMP on sockets in DIR.
qemu() {
	local dir=$1 side=$2 incoming=(); shift 2
	[ "$side" = dst ] && incoming=(-incoming defer)
	# shellcheck disable=SC2086 # VIO_MIGRATE_QEMU_ARGS is split on purpose
	timeout 300 qemu-system-x86_64 -accel tcg -m "$mem" -smp 1 -display none -no-reboot \
		-object memory-backend-memfd,id=mem,size="${mem}M",share=on -numa node,memdev=mem \
		-kernel "$kernel" -initrd "$work/initrd.gz" \
		-chardev socket,id=con,path="$dir/$side-con.sock",server=on,wait=off -serial chardev:con \
		-monitor none -qmp unix:"$dir/$side-qmp.sock",server=on,wait=off \
		${VIO_MIGRATE_QEMU_ARGS:-} "$@" "${incoming[@]}" >"$dir/qemu-$side.log" 2>&1 &
	started=$!
	pids+=("$started")
}

# report VARIANT DIR: migrate_host.py's verdicts and the guest's checks
# (from whichever console the guest finished on) as TAP.
report() {
	local v=$1 dir=$2 name verdict detail con=console-dst.log
	while read -r _ name verdict detail; do
		if [ "$verdict" = PASS ]; then tap ok "$v: host $name" "$detail"; else tap not "$v: host $name" "$detail"; fi
	done < <(grep -a '^MIG-CHECK ' "$dir/host.out")
	grep -q '^MIG-CHECK migration-failed-cleanly' "$dir/host.out" && con=console-src.log
	local seen=0
	while read -r _ name verdict detail; do
		seen=1
		if [ "$verdict" = PASS ]; then tap ok "$v: guest $name" "$detail"; else tap not "$v: guest $name" "$detail"; fi
	done < <(tr -d '\r' < "$dir/$con" 2>/dev/null | grep -ao '^VIO-CHECK .*')
	[ $seen = 1 ] || tap not "$v: guest reported its checks" "no VIO-CHECK line on $con"
	if grep -aq '^MIG-CHECK .* FAIL' "$dir/host.out" || [ $seen = 0 ] ||
	   tr -d '\r' < "$dir/$con" 2>/dev/null | grep -aq '^VIO-CHECK .* FAIL'; then
		for f in host.err qemu-src.log qemu-dst.log daemons-src.log daemons-dst.log \
			 console-src.log console-dst.log; do
			[ -s "$dir/$f" ] && { echo "--- $v: $f (last 20 lines)" >&2; tr -d '\r' < "$dir/$f" | tail -20 >&2; }
		done
	fi
}

# blk DAEMON SIDE DIR: start a blk daemon (libvio or qsd) for one side on
# the shared image; its pid in $started.
blk_daemon() {
	local kind=$1 side=$2 dir=$3
	rm -f "$dir/$side-blk.sock"
	if [ "$kind" = qsd ]; then
		# locking=off: the two daemons share the image, as two hosts
		# share a network disk; QEMU does the hand-over.
		start "$dir" "daemons-$side" qemu-storage-daemon \
			--blockdev driver=file,node-name=f0,filename="$dir/disk.img",locking=off \
			--export type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path="$dir/$side-blk.sock",writable=on
	else
		start "$dir" "daemons-$side" "$bin/vhost-user-blk" --socket-path="$dir/$side-blk.sock" \
			--blk-file="$dir/disk.img"
	fi
}

run_blk() {
	local v=$1 dir=$work/$1 kind=${VIO_MIGRATE_BLK:-libvio} dev_opts="" append="vio.mode=blk"
	local src_chardev="" kill_args=() sd dd qs qd
	case $v in
	blk-split) ;;
	blk-packed) dev_opts=",packed=on"; append="$append vio.packed=1" ;;
	blk-qsd) kind=qsd ;;
	kill-source) src_chardev=",reconnect=1" ;;
	esac
	if [ "$kind" = qsd ] && ! command -v qemu-storage-daemon >/dev/null; then
		tap not "$v: qemu-storage-daemon" "not installed (package qemu-system-common)"
		return
	fi
	mkdir -p "$dir"
	truncate -s 64M "$dir/disk.img"
	blk_daemon "$kind" src "$dir"; sd=$started
	blk_daemon "$kind" dst "$dir"; dd=$started
	for s in src dst; do
		wait_socket "$dir/$s-blk.sock" || { tap not "$v: $kind blk daemon ($s) listens"; return; }
	done
	local append_all="console=ttyS0 quiet panic=-1 no_timer_check $append"
	qemu "$dir" src -chardev socket,id=blk,path="$dir/src-blk.sock"$src_chardev \
		-device "vhost-user-blk-pci,chardev=blk,num-queues=1$dev_opts" -append "$append_all"
	qs=$started
	qemu "$dir" dst -chardev socket,id=blk,path="$dir/dst-blk.sock" \
		-device "vhost-user-blk-pci,chardev=blk,num-queues=1$dev_opts" -append "$append_all"
	qd=$started
	if [ "$v" = kill-source ]; then
		# The new source daemon: on the same socket, once the old one
		# is gone (QEMU's chardev reconnects every second).
		local restart
		if [ "$kind" = qsd ]; then
			restart="rm -f '$dir/src-blk.sock'; exec qemu-storage-daemon --blockdev driver=file,node-name=f0,filename='$dir/disk.img',locking=off --export type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path='$dir/src-blk.sock',writable=on >>'$dir/daemons-src.log' 2>&1"
		else
			restart="rm -f '$dir/src-blk.sock'; exec '$bin/vhost-user-blk' --socket-path='$dir/src-blk.sock' --blk-file='$dir/disk.img' >>'$dir/daemons-src.log' 2>&1"
		fi
		kill_args=(--kill-pid "$sd" --restart "echo \$\$ > '$dir/restarted.pid'; $restart")
	fi
	local t0=$SECONDS
	python3 "$here/migrate_host.py" --mode blk --src-qmp "$dir/src-qmp.sock" --dst-qmp "$dir/dst-qmp.sock" \
		--src-serial "$dir/src-con.sock" --dst-serial "$dir/dst-con.sock" --uri "unix:$dir/mig.sock" \
		--out-dir "$dir" --image "$dir/disk.img" --src-daemon "$sd" "${kill_args[@]}" >"$dir/host.out" 2>"$dir/host.err"
	echo "$v: migration run took $((SECONDS - t0)) s" >&2
	cat "$dir/host.err" >&2
	# Both QEMUs end: the guest powered off, the other was told to quit.
	for q in $qs $qd; do
		for _ in $(seq 100); do kill -0 "$q" 2>/dev/null || break; sleep 0.1; done
		kill "$q" 2>/dev/null
	done
	report "$v" "$dir"
	if [ "$v" = kill-source ]; then
		wait "$sd" 2>/dev/null
		local np
		np=$(cat "$dir/restarted.pid" 2>/dev/null)
		if [ -n "$np" ]; then
			pids+=("$np")
			kill -TERM "$np" 2>/dev/null
		fi
		stop_daemon "$v" "destination blk daemon" "$dd"
	else
		stop_daemon "$v" "source blk daemon" "$sd"
		stop_daemon "$v" "destination blk daemon" "$dd"
	fi
}

# dpdk_net SIDE DIR NS: DPDK's testpmd as the net daemon (the reference,
# VIO_MIGRATE_NET=dpdk): its vhost PMD on the socket, io-forwarding to a
# tap PMD port; run inside the namespace, so the tap is made there.
dpdk_net() {
	local side=$1 dir=$2 ns=$3 pmds=/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0
	start "$dir" "daemons-$side" ip netns exec "$ns" dpdk-testpmd --lcores=0@1,1@1 --no-huge -m 512 --no-pci \
		--file-prefix "viomig-$side-$$" -d "$pmds/librte_net_vhost.so" -d "$pmds/librte_net_tap.so" \
		-d "$pmds/librte_mempool_ring.so" --vdev "net_vhost0,iface=$dir/$side-net.sock,queues=1" \
		--vdev "net_tap0,iface=viom${side:0:1}$$" -- --forward-mode=io --auto-start --nb-cores=1 \
		--total-num-mbufs=4096 --stats-period 1000
}

run_net() {
	local v=$1 dir=$work/$1 sd dd qs qd kind=${VIO_MIGRATE_NET:-libvio}
	mkdir -p "$dir"
	ip netns add $ns || { tap not "$v: a network namespace"; return; }
	if [ "$kind" = dpdk ]; then
		dpdk_net src "$dir" $ns; sd=$started
		dpdk_net dst "$dir" $ns; dd=$started
	else
		start "$dir" daemons-src "$bin/vhost-user-net" --socket-path="$dir/src-net.sock" --tap=vioms$$
		sd=$started
		start "$dir" daemons-dst "$bin/vhost-user-net" --socket-path="$dir/dst-net.sock" --tap=viomd$$
		dd=$started
	fi
	for s in src dst; do
		wait_socket "$dir/$s-net.sock" || { tap not "$v: $kind net daemon ($s) listens"; ip netns del $ns; return; }
	done
	# Both taps on one bridge in a namespace of the test's own; the
	# namespace is the guest's neighbour, 10.78.0.1.
	if [ "$kind" != dpdk ] && ! { ip link set vioms$$ netns $ns && ip link set viomd$$ netns $ns; }; then
		tap not "$v: taps moved into a namespace"
		ip netns del $ns 2>/dev/null
		return
	fi
	if ! { ip -n $ns link add br0 type bridge &&
	       ip -n $ns link set vioms$$ master br0 && ip -n $ns link set viomd$$ master br0 &&
	       ip -n $ns link set vioms$$ up && ip -n $ns link set viomd$$ up &&
	       ip -n $ns addr add 10.78.0.1/24 dev br0 && ip -n $ns link set br0 up; }; then
		tap not "$v: taps on a bridge in a namespace"
		ip netns del $ns 2>/dev/null
		return
	fi
	local net_dev="virtio-net-pci,netdev=n0,vectors=0,mac=52:54:00:00:90:01,guest_announce=off"
	local append_all="console=ttyS0 quiet panic=-1 no_timer_check vio.mode=net"
	qemu "$dir" src -chardev socket,id=net,path="$dir/src-net.sock" -netdev vhost-user,id=n0,chardev=net \
		-device "$net_dev" -append "$append_all"
	qs=$started
	qemu "$dir" dst -chardev socket,id=net,path="$dir/dst-net.sock" -netdev vhost-user,id=n0,chardev=net \
		-device "$net_dev" -append "$append_all"
	qd=$started
	python3 "$here/migrate_host.py" --mode net --src-qmp "$dir/src-qmp.sock" --dst-qmp "$dir/dst-qmp.sock" \
		--src-serial "$dir/src-con.sock" --dst-serial "$dir/dst-con.sock" --uri "unix:$dir/mig.sock" \
		--out-dir "$dir" --src-daemon "$sd" --pinger "exec ip netns exec $ns busybox ping -i 0.1 10.78.0.2" \
		>"$dir/host.out" 2>"$dir/host.err"
	cat "$dir/host.err" >&2
	for q in $qs $qd; do
		for _ in $(seq 100); do kill -0 "$q" 2>/dev/null || break; sleep 0.1; done
		kill "$q" 2>/dev/null
	done
	report "$v" "$dir"
	# The pings from the namespace: answered before and after, few lost.
	local sent got lost last missing
	sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$dir/ping.log")
	got=$(sed -n 's/.* \([0-9]*\) packets received.*/\1/p' "$dir/ping.log")
	last=$(sed -n 's/.* seq=\([0-9]*\) .*/\1/p' "$dir/ping.log" | tail -1)
	missing=$(sed -n 's/.* seq=\([0-9]*\) .*/\1/p' "$dir/ping.log" |
		awk -v n="${sent:-0}" '{ a[$1] = 1 }
		     END { # the unanswered seqs as ranges: "3-4 7"
			for (i = 0; i < n; i++) {
				if (i in a) continue
				for (j = i; j + 1 < n && !((j + 1) in a); j++) ;
				printf "%s%s", (k++ ? " " : ""), (j > i ? i "-" j : i)
				i = j
			} }')
	if [ -n "$sent" ] && [ -n "$got" ] && [ "$got" -gt 0 ]; then
		lost=$((sent - got))
		# Few lost, and the last ones answered: after the migration.
		if [ $lost -le "$max_lost" ] && [ "${last:-0}" -ge $((sent - 3)) ]; then
			tap ok "$v: the namespace's pings continue across the migration" \
				"$got of $sent answered (every 0.1 s), lost: ${missing:-none} (at most $max_lost)"
		else
			tap not "$v: the namespace's pings continue across the migration" \
				"$got of $sent answered, lost: $missing (at most $max_lost); last answered seq ${last:-none}"
		fi
	else
		tap not "$v: the namespace's pings continue across the migration" "ping.log: $(tail -3 "$dir/ping.log" 2>/dev/null | tr '\n' ' ')"
	fi
	# QEMU asked the destination's daemon for the RARP (libvio's logs the
	# frame it sent, testpmd's the message).
	local rarp
	if [ "$kind" = dpdk ]; then
		rarp=$(grep -ao 'read message VHOST_USER_SEND_RARP' "$dir/daemons-dst.log" | head -1)
	else
		rarp=$(grep -ao 'net: RARP for .*' "$dir/daemons-dst.log" | head -1)
	fi
	if [ -n "$rarp" ]; then tap ok "$v: the destination's daemon sent the RARP" "$rarp"
	else tap not "$v: the destination's daemon sent the RARP" "none in its log"; fi
	stop_daemon "$v" "source net daemon" "$sd"
	stop_daemon "$v" "destination net daemon" "$dd"
	ip netns del $ns 2>/dev/null
}

for v in "${variants[@]}"; do
	t0=$SECONDS
	case $v in
	blk-split|blk-packed|blk-qsd|kill-source) run_blk "$v" ;;
	net) run_net "$v" ;;
	*) tap not "$v" "unknown variant" ;;
	esac
	echo "$v: $((SECONDS - t0)) s" >&2
done
finish
