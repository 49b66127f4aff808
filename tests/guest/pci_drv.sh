#!/usr/bin/env bash
# pci_drv.sh - libvio's drivers on QEMU's own virtio-pci devices, from inside
# a Linux guest, through vfio-pci or uio_pci_generic (issue #13).
#
# Usage: tests/guest/pci_drv.sh BUILD_DIR [PERSONALITY[:PLATFORM]...]
#   personalities: transitional  QEMU's default virtio-pci (legacy and
#                                modern interfaces), driven modern
#                  modern        disable-legacy=on (modern only)
#                  legacy        disable-modern=on,disable-legacy=off (the
#                                legacy I/O-port interface, driven legacy)
#                  packed        modern with packed=on (the guest checks
#                                RING_PACKED was negotiated)
#                  iommu         modern with iommu_platform=on: the devices
#                                reach memory only through QEMU's IOMMU, so
#                                every buffer must be in vfio's DMA maps
#                                (vfio only)
#   platforms:     vfio  vfio-pci with vfio_iommu_type1 under QEMU's
#                        emulated IOMMU (-M q35 -device intel-iommu,
#                        intel_iommu=on in the guest); MSI-X where the
#                        device has it (balloon has not: INTx)
#                  uio   uio_pci_generic, no IOMMU (-M q35): INTx
#                  noiommu  vfio-pci in no-IOMMU mode, no IOMMU (-M q35):
#                        only with VIO_VFIO_KO=PATH, a vfio.ko built with
#                        CONFIG_VFIO_NOIOMMU for the guest's kernel
#                        (docs/pci-linux.md says how), which replaces the
#                        kernel's in the guest (enable_unsafe_noiommu_mode=1);
#                        the guest checks vfio opened in that mode
#   default: transitional:vfio modern:vfio legacy:uio packed:uio iommu:vfio,
#            and with VIO_VFIO_KO also transitional:noiommu legacy:noiommu
#            (without a platform: uio for legacy, vfio otherwise)
# Needs BUILD_DIR/tests/guest/vio_pci_check (a static program, built by
# `ninja -C BUILD_DIR` in a build without sanitizers), qemu-system-x86_64,
# python3, the Debian kernel and busybox-static (as run.sh). Needs no root
# on the host and no network beyond 127.0.0.1. About 20 s per personality
# under TCG.
#
# Why an IOMMU for vfio: Debian's kernel is built without
# CONFIG_VFIO_NOIOMMU, so vfio-pci's no-IOMMU mode does not exist in this
# guest; with QEMU's intel-iommu every function has a group of its own and
# vfio-pci binds. libvio's platform maps its DMA memory (hugepages,
# physical addresses from /proc/self/pagemap) at I/O addresses equal to the
# physical ones, so with iommu_platform off (the devices then read guest
# physical addresses, bypassing the IOMMU) and on (through it) the same
# addresses work. In the iommu personality the devices demand
# ACCESS_PLATFORM (QEMU refuses FEATURES_OK without it): libvio's core
# takes it for every driver over a transport that carries it.
#
# One guest boot per personality (TCG, 512 MiB, a busybox initramfs with no
# virtio driver at all: tests/guest/pci_init.sh as /init,
# tests/guest/pci/vio_pci_check.c as /bin/vio_pci_check, the vfio and uio
# modules, 64 hugepages reserved). QEMU gets five virtio-pci functions in
# that personality, and in the guest libvio's Linux platform binds each to
# vfio-pci or uio_pci_generic and opens it, libvio's PCI transport drives
# it and libvio's driver is bound:
#   every function       guest: no kernel virtio module is loaded and no
#                        function has a driver before the test; then, per
#                        function (the *-probe checks), libvio's driver is
#                        bound, the PCI id is the personality's (0x1000+
#                        transitional, 0x1040+ modern) and so is the
#                        interface the transport drove (legacy I/O BAR and
#                        no VERSION_1, or modern; RING_PACKED for packed,
#                        ACCESS_PLATFORM for iommu);
#   virtio-rng-pci       guest: 4096 random bytes read (requests of 4
#                        segments: indirect tables), at least 200
#                        distinct byte values;
#   virtio-blk-pci       on a scratch raw image (discard=unmap,
#                        num-queues=2, serial=vio-SEED). guest: 256 KiB of
#                        a pattern (seeded per boot) written at 1 MiB,
#                        read back and compared; a flush (FLUSH
#                        negotiated); 1 MiB at 4 MiB written, read back,
#                        then discarded (DISCARD negotiated); WRITE_ZEROES
#                        on 256 KiB at 6 MiB, zeros read back; GET_ID is
#                        the serial; two queues, the pattern read again
#                        on the second. host, after the boot: the image
#                        holds the pattern at 1 MiB, and the ranges at
#                        4 MiB and 6 MiB (0xa5 before the boot) read as
#                        zeros;
#   virtio-serial-pci    with a virtconsole (port 0) on a socket chardev
#                        the host listens on. guest: 6000 bytes of a
#                        pattern written (buffers of 3 segments); host: they arrived intact; the
#                        host sends 5000 bytes back; guest: they arrived
#                        intact;
#   virtio-net-pci       on -netdev socket,udp= (QEMU sends each frame as
#                        one datagram to tests/guest/pci_host.py). guest:
#                        32 frames of a pattern sent (60..1514 bytes);
#                        host: all 32 arrived, whole and intact, from the
#                        MAC QEMU was given (mac=); the host
#                        sends 32 frames to the guest's MAC; guest: all 32
#                        received intact. Then the host, over QMP,
#                        set_link off and on again; guest: a config
#                        interrupt each time reached the driver (the
#                        config vector under vfio, INTx under uio), the
#                        link seen going down, then up;
#   virtio-balloon-pci   libvio's balloon driver. The guest prints
#                        VIO-BALLOON-READY; host, over QMP: `balloon` to
#                        16 MiB less; guest: the target is 4096 pages and
#                        the driver inflated to it; host: query-balloon
#                        reports the smaller actual. host: `balloon` to the
#                        full size; guest: deflated to 0 pages; host:
#                        query-balloon reports the full size. The guest
#                        then waits for the host's DONE on the console
#                        before it powers off.
# Every check is a VIO-CHECK line from the guest or a HOST-CHECK line from
# pci_host.py; this script turns them into TAP (`ok N - PERSONALITY/
# PLATFORM: guest|host NAME # detail`, then `1..N`), adds "guest ran to the
# end", and counts every expected check that never reported as a failure,
# as it does a missing tool, module or program (never a silent pass).
# Exit status 0 only when every line is ok.
#
# VIO_GUEST_KEEP=1 keeps the work directory (console logs, images);
# VIO_PCI_VERBOSE=1 has the guest program print libvio's debug log and its
# steps. A crash in the guest prints VIO-CRASH and a backtrace of
# addresses: addr2line -e BUILD_DIR/tests/guest/vio_pci_check ADDR...
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:?usage: pci_drv.sh BUILD_DIR [PERSONALITY[:PLATFORM]...]}")
shift
runs=("$@")
if [ ${#runs[@]} = 0 ]; then
	runs=(transitional:vfio modern:vfio legacy:uio packed:uio iommu:vfio)
	[ -z "${VIO_VFIO_KO:-}" ] || runs+=(transitional:noiommu legacy:noiommu)
fi

# shellcheck source=tests/guest/tap.sh
. "$here/tap.sh"
guest_work vio-pci

# What every boot must report (the guest's and the host's check names).
guest_expected="kernel-virtio-unbound hugepages rng-probe rng-read blk-probe blk-write-read blk-flush blk-discard
blk-write-zeroes blk-get-id blk-queues
console-probe console-write console-read net-probe net-tx net-rx net-link balloon-probe balloon-inflate
balloon-deflate"
host_expected="console-guest-to-host net-guest-to-host balloon-inflate-qemu balloon-deflate-qemu
blk-image-data blk-image-discarded blk-image-zeroed"

prog=$build/tests/guest/vio_pci_check
missing=""
command -v qemu-system-x86_64 >/dev/null || missing="$missing qemu-system-x86_64"
command -v python3 >/dev/null || missing="$missing python3"
[ -x "$prog" ] || missing="$missing $prog"
if [ -n "$missing" ]; then
	tap not "prerequisites" "missing:$missing"
	finish
fi
if readelf -l "$prog" 2>/dev/null | grep -q INTERP; then
	tap not "vio_pci_check is a static program" "it asks for a dynamic loader; the initramfs has none"
	finish
fi

files="$prog:/bin/vio_pci_check"
if [ -n "${VIO_VFIO_KO:-}" ]; then
	if [ ! -r "$VIO_VFIO_KO" ]; then
		tap not "VIO_VFIO_KO" "no file $VIO_VFIO_KO"
		finish
	fi
	files="$files $(realpath "$VIO_VFIO_KO"):/lib/vfio-noiommu.ko"
fi
kernel=$(VIO_INITRAMFS_MODULES="vfio vfio_iommu_type1 vfio-pci uio uio_pci_generic" \
	VIO_INITRAMFS_INIT="$here/pci_init.sh" VIO_INITRAMFS_FILES="$files" \
	"$here/mkinitramfs.sh" "$work/initrd.gz") || { tap not "build the initramfs" "mkinitramfs.sh failed"; finish; }

run() {
	local spec=$1 pers=${1%%:*} plat dir opts iommu=() append="" seed ram=512 host_pid qemu st
	plat=${spec#"$pers"}; plat=${plat#:}
	[ -n "$plat" ] || case $pers in legacy) plat=uio ;; *) plat=vfio ;; esac
	local v="$pers/$plat"
	case $pers in
	transitional) opts="" ;;
	modern) opts=",disable-legacy=on" ;;
	iommu) opts=",disable-legacy=on,iommu_platform=on" ;;
	packed) opts=",disable-legacy=on,packed=on" ;;
	legacy) opts=",disable-modern=on,disable-legacy=off" ;;
	*) tap not "$v" "unknown personality '$pers'"; return ;;
	esac
	case $plat in
	vfio) iommu=(-device intel-iommu); append="intel_iommu=on" ;;
	uio) ;;
	noiommu)
		if [ -z "${VIO_VFIO_KO:-}" ]; then
			tap not "$v" "no-IOMMU vfio needs VIO_VFIO_KO (Debian's vfio.ko lacks CONFIG_VFIO_NOIOMMU)"
			return
		fi ;;
	*) tap not "$v" "unknown platform '$plat'"; return ;;
	esac
	if [ "$pers" = iommu ] && [ "$plat" != vfio ]; then
		tap not "$v" "the iommu personality needs vfio behind the IOMMU"; return
	fi
	dir=$work/$pers-$plat
	mkdir -p "$dir"
	seed=$(( (RANDOM << 15 | RANDOM) & 0x7fffffff ))
	truncate -s 64M "$dir/disk.img"
	# The range the guest will discard starts non-zero: zeros there after
	# the boot mean the discard reached the file.
	head -c $((1 << 20)) /dev/zero | tr '\0' '\245' |
		dd of="$dir/disk.img" bs=1M seek=4 conv=notrunc status=none
	head -c $((256 << 10)) /dev/zero | tr '\0' '\245' |
		dd of="$dir/disk.img" bs=256K seek=24 conv=notrunc status=none

	python3 "$here/pci_host.py" serve --console "$dir/console.sock" --qmp "$dir/qmp.sock" \
		--serial "$dir/console.log" --ready "$dir/ports" --ram-mib $ram --balloon-mib 16 \
		--timeout 170 >"$dir/host.out" 2>"$dir/host.err" &
	host_pid=$!
	pids+=($host_pid)
	for _ in $(seq 100); do [ -s "$dir/ports" ] && break; sleep 0.05; done
	if [ ! -s "$dir/ports" ]; then
		tap not "$v: host helper starts" "$(head -c 300 "$dir/host.err")"
		return
	fi
	local host_port qemu_port
	read -r host_port qemu_port < "$dir/ports"

	local t0=$SECONDS
	timeout 160 qemu-system-x86_64 -M q35 -m $ram -smp 1 -nographic -no-reboot -accel tcg \
		"${iommu[@]}" -kernel "$kernel" -initrd "$work/initrd.gz" \
		-append "console=ttyS0 quiet panic=-1 $append vio.platform=$plat vio.personality=$pers vio.seed=$seed vio.hugepages=64 vio.checks=rng,blk,console,net,balloon vio.verbose=${VIO_PCI_VERBOSE:-0}" \
		-qmp "unix:$dir/qmp.sock,server=on,wait=off" \
		-device "virtio-rng-pci$opts" \
		-drive "if=none,id=d0,file=$dir/disk.img,format=raw,discard=unmap" \
		-device "virtio-blk-pci,drive=d0,num-queues=2,serial=$(printf 'vio-%08x' $seed)$opts" \
		-device "virtio-balloon-pci$opts" \
		-netdev "socket,id=n0,udp=127.0.0.1:$host_port,localaddr=127.0.0.1:$qemu_port" \
		-device "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56,romfile=$opts" \
		-chardev "socket,id=con0,path=$dir/console.sock" \
		-device "virtio-serial-pci$opts" -device "virtconsole,chardev=con0,nr=0" \
		>"$dir/console.log" 2>&1 &
	qemu=$!
	pids+=($qemu)
	wait $qemu
	st=$?
	echo "$v: guest ran $((SECONDS - t0)) s, qemu exit $st" >&2
	for _ in $(seq 50); do kill -0 $host_pid 2>/dev/null || break; sleep 0.1; done
	kill $host_pid 2>/dev/null
	wait $host_pid 2>/dev/null
	python3 "$here/pci_host.py" image --image "$dir/disk.img" --seed $seed >>"$dir/host.out" 2>>"$dir/host.err"

	# The guest's checks, then the host's, then what never reported.
	local name verdict detail seen_g=" " seen_h=" "
	while read -r _ name verdict detail; do
		seen_g="$seen_g$name "
		if [ "$verdict" = PASS ]; then tap ok "$v: guest $name" "$detail"; else tap not "$v: guest $name" "$detail"; fi
	done < <(tr -d '\r' < "$dir/console.log" | grep -ao 'VIO-CHECK .*')
	while read -r _ name verdict detail; do
		seen_h="$seen_h$name "
		if [ "$verdict" = PASS ]; then tap ok "$v: host $name" "$detail"; else tap not "$v: host $name" "$detail"; fi
	done < <(grep -a '^HOST-CHECK ' "$dir/host.out")
	for name in $guest_expected; do
		case $seen_g in *" $name "*) ;; *) tap not "$v: guest $name" "never reported" ;; esac
	done
	for name in $host_expected; do
		case $seen_h in *" $name "*) ;; *) tap not "$v: host $name" "never reported" ;; esac
	done
	if tr -d '\r' < "$dir/console.log" | grep -aq 'VIO-DONE'; then
		tap ok "$v: guest ran to the end" "$((SECONDS - t0)) s"
	else
		tap not "$v: guest ran to the end" "qemu exit $st; last console lines: $(tail -3 "$dir/console.log" | tr -d '\r\n' | cut -c1-300)"
	fi
	if grep -aq 'VIO-CHECK .* FAIL\|^HOST-CHECK .* FAIL' "$dir/console.log" "$dir/host.out" ||
	   ! tr -d '\r' < "$dir/console.log" | grep -aq 'VIO-DONE'; then
		echo "--- $v: console (last 40 lines)" >&2
		tr -d '\r' < "$dir/console.log" | tail -40 >&2
		echo "--- $v: host helper" >&2
		cat "$dir/host.err" >&2
	fi
}

for r in "${runs[@]}"; do
	run "$r"
done
finish
