#!/usr/bin/env bash
# run.sh - Linux's own virtio drivers against libvio's vhost-user daemons.
#
# Usage: tests/guest/run.sh BUILD_DIR [VARIANT...]
#   variants: pci-modern pci-legacy pci-packed mmio-v1 mmio-v2 pci-reconnect
#             pci-reconnect-packed pci-net pci-net-packed pci-net-tap
#             pci-net-tap-mq pci-net-tap-bigbuf pci-net-switch
#             pci-net-switch-packed pci-rbd (default: all)
#
# For each variant: create a scratch disk image, start vhost-user-blk on
# it (and a second, read-only one) and vhost-user-rng, boot the Debian
# kernel with a busybox initramfs (tests/guest/init.sh) in QEMU, and turn
# the guest's VIO-CHECK lines into TAP lines here. Host-side checks follow
# the guest: the data the guest wrote is in the image file, the daemons
# survived, and each one shuts down cleanly on SIGTERM.
#
# pci-reconnect: the blk chardev reconnects; once the guest's write+read
# loop has begun, the blk daemon is SIGKILLed (no clean stop: requests in
# flight) and a new one started on the same socket and image a second
# later. QEMU hands it the inflight log, it resubmits what the dead one had
# taken, and the guest's loop must finish with its data intact.
# pci-reconnect-packed: the same with packed=on on the blk devices (the
# log then holds copies of the in-flight descriptors).
# pci-net, pci-net-packed: Linux's virtio_net on vhost-user-net --reflect
# (two queue pairs, MTU 9000): the frames the guest sends come back to it
# (tests/guest/init.sh, net_reflect), and the daemon counted them. The
# device has no MSI-X (vectors=0): QEMU 7.2 under TCG segfaults in
# vhost_net_start (msix_set_vector_notifiers) with any vhost-user net
# backend when it has (DPDK's testpmd vhost PMD too, tried 2026-12-07).
# pci-net-tap: vhost-user-net --tap, the tap moved into a network
# namespace made here (10.78.0.1): the guest's pings are answered, 1 MiB
# it sends to an nc in the namespace arrives intact, and 16 MiB the
# namespace sends to an nc in the guest arrive intact (md5 here and there)
# in frames larger than the MTU: the driver took GUEST_TSO4/6, the daemon
# set the tap's offloads to match (its log says which), and the kernel's
# TCP super-frames went to the driver whole (the daemon counts them, the
# guest sees more bytes per frame than the MTU allows).
# pci-net-tap-mq: the same with two queue pairs (a multiqueue tap), MTU
# 9000 on the guest's interface and on the tap, packed=on (the guest
# checks RING_PACKED was negotiated).
# pci-net-tap-bigbuf: the same as pci-net-tap without MRG_RXBUF (the
# guest checks it was not negotiated): Linux then posts 64 KiB receive
# chains ("big packets") and each TSO frame must fit one.
# pci-net-switch, pci-net-switch-packed: two guests at once on one
# vhost-user-net --switch (a socket each, no privileges), MTU 9000 with
# MRG_RXBUF: each pings the other, one sends 64 MiB to the other's nc and
# both print the md5 (tests/guest/init.sh, net_switch); guest b's driver
# gets guest a's TCP super-frames whole (the daemon counts them). The packed
# variant: packed=on (checked in the guests), two queue pairs, and guest b
# without receive offloads (guest_csum/tso4/tso6=off): its device
# finishes the checksums and cuts the super-frames (counted too).
# pci-rbd: the blk checks of pci-modern (one queue) on disks served from
# Ceph: a one-node cluster started here (scripts/ceph-node.sh), the disk
# vhost-user-blk --rbd=rbd/disk and the read-only one a snapshot,
# --rbd=rbd/ro@s1. The guest's data is then read back from the cluster
# (rbd export). Needs root and the Ceph packages; without them it fails.
#
# KVM is used only if a short probe boot shows it works (nested KVM here
# hangs); otherwise TCG. VIO_GUEST_ACCEL=tcg|kvm forces one.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:?usage: run.sh BUILD_DIR [VARIANT...]}")
shift
variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(pci-modern pci-legacy pci-packed mmio-v1 mmio-v2 pci-reconnect
					pci-reconnect-packed pci-net pci-net-packed pci-net-tap pci-net-tap-mq
					pci-net-tap-bigbuf pci-net-switch pci-net-switch-packed pci-rbd)

bin=$build/tools/vhost-user
# shellcheck source=tests/guest/tap.sh
. "$here/tap.sh"
guest_work vio-guest

kernel=$("$here/mkinitramfs.sh" "$work/initrd.gz") || { echo "1..1"; echo "not ok 1 - build initramfs"; exit 1; }

qemu_base=(qemu-system-x86_64 -m 512 -nographic
	-object memory-backend-memfd,id=mem,size=512M,share=on
	-kernel "$kernel" -initrd "$work/initrd.gz")

accel=${VIO_GUEST_ACCEL:-}
if [ -z "$accel" ]; then
	accel=tcg
	if [ -w /dev/kvm ] && timeout 20 "${qemu_base[@]}" -no-reboot -accel kvm -numa node,memdev=mem \
		-append "console=ttyS0 quiet panic=-1 vio.checks=none" 2>/dev/null | grep -q VIO-DONE; then
		accel=kvm
	fi
fi
echo "guest: accelerator $accel, kernel $kernel" >&2

# start_daemon DIR NAME ARGS...: start one daemon (a child of this shell,
# so that `wait` can read its exit status), logging to DIR/daemons.log;
# its pid is left in $started.
start_daemon() {
	local dir=$1 name=$2; shift 2
	"$bin/$name" "$@" >>"$dir/daemons.log" 2>&1 &
	started=$!
	pids+=($started)
}

wait_socket() {
	for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.05; done
	return 1
}

# stop_daemon VARIANT NAME PID: SIGTERM must end it cleanly and quickly.
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
	if [ $st -eq 0 ]; then tap ok "$v: $name stops on SIGTERM"; else tap not "$v: $name stops on SIGTERM" "exit $st"; fi
}

# kill_in_io PID: SIGKILL the daemon as soon as one of its threads is inside
# an I/O syscall (io_uring_enter, preadv/pwritev(2), fsync/fdatasync: x86_64
# numbers), i.e. with requests popped and not yet used; after 5 s without
# catching one, kill it anyway and return 1.
in_io() {
	local t
	for t in /proc/"$1"/task/*; do
		# io_uring's worker threads show the call that created them.
		case $(cat "$t/comm" 2>/dev/null) in iou-*) continue ;; esac
		awk '$1 ~ /^(426|295|296|327|328|74|75)$/ { f = 1 } END { exit !f }' "$t/syscall" 2>/dev/null &&
			return 0
	done
	return 1
}
# worker_of PID: the process that serves: a sandboxed daemon (the default)
# waits for the child it forked into its sandbox; else PID itself.
worker_of() {
	local c
	c=$(awk -v p="$1" '$4 == p { print $1; exit }' /proc/[0-9]*/stat 2>/dev/null)
	echo "${c:-$1}"
}
kill_in_io() {
	local pid=$1 t0=$SECONDS
	while [ $((SECONDS - t0)) -lt 5 ]; do
		in_io "$pid" || continue
		# Freeze it, and kill it only if it is still inside the call
		# (the snapshot above may be stale by now).
		kill -STOP "$pid"
		if in_io "$pid"; then
			kill -KILL "$pid"
			return 0
		fi
		kill -CONT "$pid"
	done
	kill -KILL "$pid"
	return 1
}

run_variant() {
	local v=$1 dir=$work/$v machine=() dev_suffix=-pci legacy_opt="" checks cmdline
	local blk_opts="" blk_chardev_opts="" smp=1 queues=1 append=""
	# microvm under TCG: the Debian kernel finds virtio-mmio devices only
	# through ACPI, and with ACPI it cannot calibrate the TSC without a
	# PIT or HPET and hangs; telling it the TSC rate avoids that.
	local microvm_append="tsc_early_khz=2000000 tsc=reliable"
	mkdir -p "$dir"
	truncate -s 64M "$dir/disk.img"
	truncate -s 8M "$dir/ro.img"
	case $v in
	pci-modern) checks=blk,discard,ro,queues,rng,reboot; queues=2; smp=2 ;;
	pci-legacy) checks=blk,ro,rng; legacy_opt=",disable-modern=on,disable-legacy=off" ;;
	pci-packed) checks=blk,ro,rng,packed; blk_opts=",packed=on" ;;
	pci-reconnect) checks=blk,reconnect; blk_chardev_opts=",reconnect=1" ;;
	pci-reconnect-packed) checks=blk,reconnect; blk_chardev_opts=",reconnect=1"; blk_opts=",packed=on" ;;
	mmio-v1) checks=blk,ro,rng; machine=(-M microvm,memory-backend=mem); dev_suffix=""; append="$microvm_append" ;;
	mmio-v2) checks=blk,ro,rng; machine=(-M microvm,memory-backend=mem -global virtio-mmio.force-legacy=false)
		 dev_suffix=""; append="$microvm_append" ;;
	*) tap not "$v" "unknown variant"; return ;;
	esac
	[ ${#machine[@]} -gt 0 ] || machine=(-numa node,memdev=mem)

	local blk ro rng
	start_daemon "$dir" vhost-user-blk --socket-path="$dir/blk.sock" --blk-file="$dir/disk.img" --num-queues=$queues
	blk=$started
	start_daemon "$dir" vhost-user-blk --socket-path="$dir/ro.sock" --blk-file="$dir/ro.img" --read-only
	ro=$started
	start_daemon "$dir" vhost-user-rng --socket-path="$dir/rng.sock"
	rng=$started
	for s in blk ro rng; do
		wait_socket "$dir/$s.sock" || { tap not "$v: $s daemon listens"; return; }
	done

	# boot CHECKS LOG: one QEMU run against the running daemons. Only a
	# boot that tests the reboot path lets the guest reboot.
	boot() {
		local noreboot=-no-reboot
		case $1 in *reboot*) noreboot="" ;; esac
		timeout 150 "${qemu_base[@]}" $noreboot -accel "$accel" -smp $smp "${machine[@]}" \
			-chardev socket,id=blk,path="$dir/blk.sock"$blk_chardev_opts \
			-device "vhost-user-blk$dev_suffix,chardev=blk,num-queues=$queues$legacy_opt$blk_opts" \
			-chardev socket,id=ro,path="$dir/ro.sock" \
			-device "vhost-user-blk$dev_suffix,chardev=ro,num-queues=1$legacy_opt$blk_opts" \
			-chardev socket,id=rng,path="$dir/rng.sock" \
			-device "vhost-user-rng$dev_suffix,chardev=rng" \
			-append "console=ttyS0 quiet panic=-1 vio.checks=$1 vio.queues=$queues $append" >"$2" 2>&1
	}
	local st
	if [ "${v%-packed}" = pci-reconnect ]; then
		boot "$checks" "$dir/console.log" &
		local qemu=$! marker=0
		for _ in $(seq 1500); do
			tr -d '\r' < "$dir/console.log" 2>/dev/null | grep -aq '^VIO-IO-START' && { marker=1; break; }
			kill -0 "$qemu" 2>/dev/null || break
			sleep 0.1
		done
		local in_io=0
		if [ $marker = 1 ]; then
			kill_in_io "$(worker_of "$blk")" && in_io=1
			wait "$blk" 2>/dev/null
			tap ok "$v: blk daemon SIGKILLed during the guest's I/O loop" \
				"$([ $in_io = 1 ] && echo "inside an I/O syscall" || echo "not caught inside an I/O syscall")"
			sleep 1
			start_daemon "$dir" vhost-user-blk --socket-path="$dir/blk.sock" --blk-file="$dir/disk.img" \
				--num-queues=$queues
			blk=$started
		else
			tap not "$v: blk daemon SIGKILLed during the guest's I/O loop" "the guest never began it"
		fi
		wait "$qemu"
		st=$?
		# Killed inside an I/O syscall, the daemon had popped requests it
		# never used: the new one must have found them in the log.
		local resub
		resub=$(grep -ao 'ring [0-9]*: [0-9]* requests in flight before the restart' "$dir/daemons.log" | head -1)
		if [ $in_io = 1 ]; then
			if [ -n "$resub" ]; then tap ok "$v: new blk daemon resubmitted from the inflight log" "$resub"
			else
				tap not "$v: new blk daemon resubmitted from the inflight log" "no resubmission logged"
				cat "$dir/daemons.log" >&2
			fi
		fi
	else
		boot "$checks" "$dir/console.log"
		st=$?
	fi
	if [ "$v" = pci-modern ]; then
		# A second guest against the same daemons (a new frontend).
		boot previous,rng "$dir/console2.log"
		cat "$dir/console2.log" >> "$dir/console.log"
	fi

	# The guest's own checks.
	local seen=0
	while read -r _ name verdict detail; do
		seen=1
		if [ "$verdict" = PASS ]; then tap ok "$v: guest $name" "$detail"; else tap not "$v: guest $name" "$detail"; fi
	done < <(tr -d '\r' < "$dir/console.log" | grep -ao 'VIO-CHECK .*')
	if [ "$(tr -d '\r' < "$dir/console.log" | grep -ac 'VIO-DONE')" -ge 1 ]; then
		tap ok "$v: guest ran to the end"
	else
		tap not "$v: guest ran to the end" "qemu exit $st; last console lines: $(tail -3 "$dir/console.log" | tr -d '\r\n' | cut -c1-200)"
		echo "--- $v: daemon log" >&2
		cat "$dir/daemons.log" >&2
	fi
	[ $seen = 1 ] || cat "$dir/console.log" >&2

	# What the guest wrote is in the image file.
	local sum want
	want=$(tr -d '\r' < "$dir/console.log" | grep -ao 'VIO-CHECK blk-write-read PASS.*' | head -1 | awk '{print $NF}')
	sum=$(dd if="$dir/disk.img" bs=1M skip=1 count=4 2>/dev/null | md5sum | cut -d' ' -f1)
	if [ -n "$want" ] && [ "$sum" = "$want" ]; then
		tap ok "$v: guest data is in the image file"
	else
		tap not "$v: guest data is in the image file" "image md5 $sum, guest said '$want'"
	fi

	stop_daemon "$v" vhost-user-blk "$blk"
	stop_daemon "$v" vhost-user-blk-ro "$ro"
	stop_daemon "$v" vhost-user-rng "$rng"
}

# guest_checks VARIANT LOG: the guest's VIO-CHECK lines as TAP, and whether
# it ran to the end.
guest_checks() {
	local v=$1 log=$2 seen=0
	while read -r _ name verdict detail; do
		seen=1
		if [ "$verdict" = PASS ]; then tap ok "$v: guest $name" "$detail"; else tap not "$v: guest $name" "$detail"; fi
	done < <(tr -d '\r' < "$log" | grep -ao 'VIO-CHECK .*')
	if [ "$(tr -d '\r' < "$log" | grep -ac 'VIO-DONE')" -ge 1 ]; then
		tap ok "$v: guest ran to the end"
	else
		tap not "$v: guest ran to the end" "last console lines: $(tail -3 "$log" | tr -d '\r\n' | cut -c1-200)"
	fi
	[ $seen = 1 ] || cat "$log" >&2
}

# Linux's virtio_net against vhost-user-net with the tap port, the tap in a
# namespace of its own: pci-net-tap (one pair, split), pci-net-tap-mq (two
# pairs, MTU 9000 on both ends, packed=on).
run_net_tap_variant() {
	local v=$1 dir=$work/$1 ns=vio-g$$ ifn=viog$$ net_pid nc_pid qemu st
	local pairs=1 mtu=1500 smp=1 dev_opts="" checks=net-tap,net-tap-rx
	case $v in
	pci-net-tap-mq) pairs=2; mtu=9000; smp=2; dev_opts=",mq=on,host_mtu=9000,packed=on"
			checks=net-tap,net-tap-rx,net-packed ;;
	pci-net-tap-bigbuf) dev_opts=",mrg_rxbuf=off"; checks=net-tap,net-tap-rx,net-nomrg ;;
	esac
	mkdir -p "$dir"
	start_daemon "$dir" vhost-user-net --socket-path="$dir/net.sock" --tap=$ifn --queue-pairs=$pairs \
		--mtu=$mtu --stats-interval=1
	net_pid=$started
	wait_socket "$dir/net.sock" || { tap not "$v: net daemon listens"; return; }
	if ! { ip netns add $ns && ip link set $ifn netns $ns && ip -n $ns link set $ifn mtu $mtu &&
	       ip -n $ns addr add 10.78.0.1/24 dev $ifn && ip -n $ns link set $ifn up; }; then
		tap not "$v: tap moved into a namespace"
		stop_daemon "$v" vhost-user-net "$net_pid"
		ip netns del $ns 2>/dev/null
		return
	fi
	# nc's input stays open (a fifo we hold) but empty: at end of input
	# busybox nc would close the connection under the guest's transfer.
	mkfifo "$dir/nc.in"
	ip netns exec $ns busybox nc -l -p 5000 < "$dir/nc.in" > "$dir/received" 2>/dev/null &
	nc_pid=$!
	exec 9> "$dir/nc.in"
	head -c 16M /dev/urandom > "$dir/send"
	timeout 200 "${qemu_base[@]}" -no-reboot -accel "$accel" -smp $smp -numa node,memdev=mem \
		-chardev socket,id=net,path="$dir/net.sock" \
		-netdev vhost-user,id=n0,chardev=net,queues=$pairs \
		-device "virtio-net-pci,netdev=n0,vectors=0$dev_opts" \
		-append "console=ttyS0 quiet panic=-1 vio.checks=$checks vio.queues=$pairs vio.mtu=$mtu" \
		>"$dir/console.log" 2>&1 &
	qemu=$!
	# The other way: once the guest listens, the namespace sends it 16 MiB.
	local listening=0 sent=1
	for _ in $(seq 1800); do
		tr -d '\r' < "$dir/console.log" 2>/dev/null | grep -aq '^VIO-NET-LISTEN' && { listening=1; break; }
		kill -0 "$qemu" 2>/dev/null || break
		sleep 0.1
	done
	if [ $listening = 1 ]; then
		timeout 120 ip netns exec $ns busybox nc 10.78.0.2 5001 < "$dir/send" 2>"$dir/nc-send.err"
		sent=$?
	fi
	wait "$qemu"
	st=$?
	guest_checks "$v" "$dir/console.log"
	[ $st = 0 ] || echo "$v: qemu exit $st" >&2
	sleep 1.2
	exec 9>&-
	kill $nc_pid 2>/dev/null
	wait $nc_pid 2>/dev/null
	local want got
	want=$(tr -d '\r' < "$dir/console.log" | grep -ao 'VIO-CHECK net-tap PASS.*' | awk '{print $NF}')
	got=$(md5sum < "$dir/received" | cut -d' ' -f1)
	if [ -n "$want" ] && [ "$want" = "$got" ]; then
		tap ok "$v: the namespace received the guest's 1 MiB intact" "md5 $got"
	else
		tap not "$v: the namespace received the guest's 1 MiB intact" \
			"guest sent md5 '$want', $(wc -c < "$dir/received") bytes arrived with md5 $got"
	fi
	want=$(md5sum < "$dir/send" | cut -d' ' -f1)
	got=$(tr -d '\r' < "$dir/console.log" | grep -ao 'VIO-CHECK net-tap-rx .*' | awk '{print $NF}')
	if [ $listening = 1 ] && [ $sent = 0 ] && [ "$want" = "$got" ]; then
		tap ok "$v: the guest received the namespace's 16 MiB intact" "md5 $got"
	else
		tap not "$v: the guest received the namespace's 16 MiB intact" \
			"listening $listening, nc exit $sent ($(head -c 200 "$dir/nc-send.err" 2>/dev/null)), sent md5 $want, guest md5 '$got'"
	fi
	# The daemon's view: the driver took the receive offloads, the tap
	# was told (and told "none" at the reset when the guest left), and
	# frames with a GSO type went through the device.
	local offl gso
	offl=$(grep -ao 'tap: receive offloads:.*' "$dir/daemons.log" | sed 's/^tap: receive offloads: //' |
		paste -sd '|')
	gso=$(grep -ao "pair [0-9]*: tx [0-9]* frames [0-9]* bytes, rx [0-9]* frames [0-9]* bytes (gso [0-9]*" \
		"$dir/daemons.log" | tail -$pairs | awk '{s += $NF} END {print s + 0}')
	case $offl in
	*"csum tso4 tso6"*"|none") tap ok "$v: the tap's receive offloads follow the driver" "$offl" ;;
	*) tap not "$v: the tap's receive offloads follow the driver" "logged: '$offl'" ;;
	esac
	if [ "$gso" -gt 0 ]; then
		tap ok "$v: GSO frames reached the driver" "$gso in the daemon's last stats"
	else
		tap not "$v: GSO frames reached the driver" "none in the daemon's last stats"
		grep -a 'pair' "$dir/daemons.log" | tail -4 >&2
	fi
	stop_daemon "$v" vhost-user-net "$net_pid"
	ip netns del $ns 2>/dev/null
}

# Linux's virtio_net against vhost-user-net with the reflect port.
run_net_variant() {
	local v=$1 dir=$work/$1 packed_opt="" checks=net net_pid
	mkdir -p "$dir"
	case $v in
	pci-net) ;;
	pci-net-packed) packed_opt=",packed=on"; checks=net,net-packed ;;
	esac
	start_daemon "$dir" vhost-user-net --socket-path="$dir/net.sock" --reflect --queue-pairs=2 \
		--mtu=9000 --stats-interval=1
	net_pid=$started
	wait_socket "$dir/net.sock" || { tap not "$v: net daemon listens"; return; }
	timeout 150 "${qemu_base[@]}" -no-reboot -accel "$accel" -smp 2 -numa node,memdev=mem \
		-chardev socket,id=net,path="$dir/net.sock" \
		-netdev vhost-user,id=n0,chardev=net,queues=2 \
		-device "virtio-net-pci,netdev=n0,mq=on,vectors=0,host_mtu=9000$packed_opt" \
		-append "console=ttyS0 quiet panic=-1 vio.checks=$checks vio.queues=2 vio.mtu=9000" \
		>"$dir/console.log" 2>&1
	guest_checks "$v" "$dir/console.log"
	# The daemon's own count: the reflected frames went through it.
	sleep 1.2
	local sent
	sent=$(grep -ao 'pair [01]: tx [0-9]* frames' "$dir/daemons.log" | tail -2 | awk '{s += $4} END {print s + 0}')
	if [ "$sent" -ge 40 ]; then
		tap ok "$v: the daemon counted the guest's frames" "$sent frames from the guest"
	else
		tap not "$v: the daemon counted the guest's frames" "$sent frames in its last stats"
		cat "$dir/daemons.log" >&2
	fi
	stop_daemon "$v" vhost-user-net "$net_pid"
}

# Two guests on vhost-user-net's switch.
run_net_switch_variant() {
	local v=$1 dir=$work/$1 packed_opt="" mq_opt="" checks=net-switch pairs=1 smp=1 net_pid
	local b_opt=""
	case $v in
	pci-net-switch) ;;
	pci-net-switch-packed) packed_opt=",packed=on"; mq_opt=",mq=on"; checks=net-switch,net-packed
			       pairs=2; smp=2
			       # Guest b takes no receive offloads: its device
			       # finishes and cuts what guest a's TSO sends.
			       b_opt=",guest_csum=off,guest_tso4=off,guest_tso6=off,guest_ecn=off,guest_ufo=off" ;;
	esac
	mkdir -p "$dir"
	start_daemon "$dir" vhost-user-net --switch --socket-path="$dir/a.sock" --socket-path="$dir/b.sock" \
		--queue-pairs=$pairs --mtu=9000 --stats-interval=1
	net_pid=$started
	for s in a b; do
		wait_socket "$dir/$s.sock" || { tap not "$v: net daemon listens on $s.sock"; stop_daemon "$v" vhost-user-net "$net_pid"; return; }
	done
	# guest ROLE MAC [DEVICE-OPTIONS]: one of the two guests, its console
	# in console-ROLE.log.
	guest() {
		timeout 300 "${qemu_base[@]}" -no-reboot -accel "$accel" -smp $smp -numa node,memdev=mem \
			-chardev socket,id=net,path="$dir/$1.sock" \
			-netdev vhost-user,id=n0,chardev=net,queues=$pairs \
			-device "virtio-net-pci,netdev=n0,mac=$2,vectors=0,host_mtu=9000$mq_opt$packed_opt${3:-}" \
			-append "console=ttyS0 quiet panic=-1 vio.checks=$checks vio.role=$1 vio.queues=$pairs vio.mtu=9000" \
			>"$dir/console-$1.log" 2>&1
	}
	local qa qb
	guest a 52:54:00:00:80:01 &
	qa=$!
	guest b 52:54:00:00:80:02 "$b_opt" &
	qb=$!
	wait $qa
	wait $qb
	guest_checks "$v (guest a)" "$dir/console-a.log"
	guest_checks "$v (guest b)" "$dir/console-b.log"
	local sent got
	sent=$(tr -d '\r' < "$dir/console-a.log" | grep -ao 'VIO-CHECK net-switch PASS.*' | awk '{print $NF}')
	got=$(tr -d '\r' < "$dir/console-b.log" | grep -ao 'VIO-CHECK net-switch PASS.*' | awk '{print $NF}')
	if [ -n "$sent" ] && [ "$sent" = "$got" ]; then
		tap ok "$v: guest b read the 64 MiB guest a sent" "md5 $got"
	else
		tap not "$v: guest b read the 64 MiB guest a sent" "a sent md5 '$sent', b read md5 '$got'"
	fi
	# The offloads: guest a's TCP left as super-frames (its pair's "rx ...
	# (gso N" counts GSO frames put in its driver's buffers, so look at
	# guest b's side): b took them whole, or (packed variant) its device
	# cut them into segments.
	sleep 1.2
	local bline gso soft
	bline=$(grep -a 'port 1: .*pair [0-9]*:' "$dir/daemons.log" | tail -$pairs)
	gso=$(echo "$bline" | sed -n 's/.*(gso \([0-9]*\) csum.*/\1/p' | awk '{s += $1} END {print s + 0}')
	soft=$(echo "$bline" | sed -n 's/.* soft-gso \([0-9]*\).*/\1/p' | awk '{s += $1} END {print s + 0}')
	if [ -z "$b_opt" ]; then
		if [ "$gso" -gt 0 ]; then tap ok "$v: guest b received TCP super-frames whole" "$gso GSO frames"
		else tap not "$v: guest b received TCP super-frames whole" "stats: $(echo $bline)"; fi
	else
		if [ "$soft" -gt 0 ] && [ "$gso" = 0 ]; then
			tap ok "$v: guest b's device cut guest a's super-frames" "$soft GSO frames cut"
		else
			tap not "$v: guest b's device cut guest a's super-frames" "stats: $(echo $bline)"
		fi
	fi
	stop_daemon "$v" vhost-user-net "$net_pid"
}

# Linux's virtio_blk on disks in Ceph RBD images (vhost-user-blk --rbd).
run_rbd_variant() {
	local v=$1 dir=$work/$1 conf blk ro rng st
	local node=$here/../../scripts/ceph-node.sh
	mkdir -p "$dir"
	if ! conf=$("$node" start "$dir/ceph" rbd/disk 64M rbd/ro 8M 2>"$dir/ceph.err"); then
		tap not "$v: Ceph node starts" "$(tail -3 "$dir/ceph.err")"
		"$node" teardown "$dir/ceph" 2>/dev/null
		return
	fi
	tap ok "$v: Ceph node starts" "$(tail -1 "$dir/ceph.err")"
	timeout 60 rbd -c "$conf" snap create rbd/ro@s1 >/dev/null 2>&1
	start_daemon "$dir" vhost-user-blk --socket-path="$dir/blk.sock" --rbd=rbd/disk --ceph-conf="$conf"
	blk=$started
	start_daemon "$dir" vhost-user-blk --socket-path="$dir/ro.sock" --rbd=rbd/ro@s1 --ceph-conf="$conf"
	ro=$started
	start_daemon "$dir" vhost-user-rng --socket-path="$dir/rng.sock"
	rng=$started
	for s in blk ro rng; do
		wait_socket "$dir/$s.sock" || { tap not "$v: $s daemon listens" "$(tail -3 "$dir/daemons.log")"
			kill "$blk" "$ro" "$rng" 2>/dev/null; "$node" teardown "$dir/ceph"; return; }
	done
	timeout 200 "${qemu_base[@]}" -no-reboot -accel "$accel" -smp 1 -numa node,memdev=mem \
		-chardev socket,id=blk,path="$dir/blk.sock" \
		-device vhost-user-blk-pci,chardev=blk,num-queues=1 \
		-chardev socket,id=ro,path="$dir/ro.sock" \
		-device vhost-user-blk-pci,chardev=ro,num-queues=1 \
		-chardev socket,id=rng,path="$dir/rng.sock" \
		-device vhost-user-rng-pci,chardev=rng \
		-append "console=ttyS0 quiet panic=-1 vio.checks=blk,discard,ro,rng vio.queues=1" \
		>"$dir/console.log" 2>&1
	st=$?
	guest_checks "$v" "$dir/console.log"
	[ $st = 0 ] || echo "$v: qemu exit $st" >&2
	# What the guest wrote is in the RBD image.
	local sum want
	want=$(tr -d '\r' < "$dir/console.log" | grep -ao 'VIO-CHECK blk-write-read PASS.*' | head -1 | awk '{print $NF}')
	sum=$(timeout 60 rbd -c "$conf" export --no-progress rbd/disk - 2>/dev/null |
		dd bs=1M skip=1 count=4 iflag=fullblock 2>/dev/null | md5sum | cut -d' ' -f1)
	if [ -n "$want" ] && [ "$sum" = "$want" ]; then
		tap ok "$v: guest data is in the RBD image"
	else
		tap not "$v: guest data is in the RBD image" "image md5 $sum, guest said '$want'"
		cat "$dir/daemons.log" >&2
	fi
	stop_daemon "$v" vhost-user-blk "$blk"
	stop_daemon "$v" vhost-user-blk-ro "$ro"
	stop_daemon "$v" vhost-user-rng "$rng"
	if "$node" teardown "$dir/ceph" 2>"$dir/ceph.err"; then tap ok "$v: Ceph node torn down"
	else tap not "$v: Ceph node torn down" "$(cat "$dir/ceph.err")"; fi
}

for v in "${variants[@]}"; do
	case $v in
	pci-rbd) run_rbd_variant "$v" ;;
	pci-net-tap*) run_net_tap_variant "$v" ;;
	pci-net-switch*) run_net_switch_variant "$v" ;;
	pci-net*) run_net_variant "$v" ;;
	*) run_variant "$v" ;;
	esac
done

finish
