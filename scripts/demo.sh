#!/usr/bin/env bash
# demo.sh - libvio's main job, the README's first command.
#
# On a fresh Debian 12 machine: installs what it needs (deps.sh), builds
# libvio, starts libvio's vhost-user-blk on a scratch disk image and
# vhost-user-rng, and boots the Debian kernel in QEMU on them. Inside the
# guest, Linux's own virtio drivers make an ext2 file system on libvio's
# disk, fill a file from libvio's entropy device, remount and check it.
# Then the guest powers off, the daemons print their per-queue stats and
# stop, and the host looks at the image the guest wrote.
#
# VIO_DEMO_IMAGE=PATH keeps the disk image there instead of a temp dir.
# `scripts/demo.sh bench [ARGS]` runs vio-bench, the ring benchmark, instead.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
scripts/deps.sh
# Release with link-time optimisation: the ring calls inline into their
# callers as DPDK's header-only rte_ring does in the benchmark's peer.
[ -f build-release/build.ninja ] || meson setup build-release --buildtype=release -Db_lto=true -Dtests=false >/dev/null
meson configure build-release -Db_lto=true >/dev/null
ninja -C build-release >/dev/null

if [ "${1:-}" = bench ]; then
	shift
	exec build-release/tools/vio-bench "$@"
fi

work=$(mktemp -d /tmp/vio-demo.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
img=${VIO_DEMO_IMAGE:-$work/disk.img}
rm -f "$img"
truncate -s 64M "$img"

echo "libvio demo: Linux's virtio drivers on libvio's vhost-user devices"
echo "== starting vhost-user-blk on $img (64 MiB) and vhost-user-rng"
build-release/tools/vhost-user/vhost-user-blk --socket-path="$work/blk.sock" --blk-file="$img" 2>"$work/blk.log" &
pids+=($!)
build-release/tools/vhost-user/vhost-user-rng --socket-path="$work/rng.sock" 2>"$work/rng.log" &
pids+=($!)
for s in blk rng; do
	for _ in $(seq 100); do [ -S "$work/$s.sock" ] && break; sleep 0.05; done
done

kernel=$(tests/guest/mkinitramfs.sh "$work/initrd.gz")
echo "== booting $(basename "$kernel") in QEMU (TCG; about 10 s)"
start=$(date +%s.%N)
timeout 300 qemu-system-x86_64 -accel tcg -m 512 -nographic -no-reboot \
	-object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem \
	-kernel "$kernel" -initrd "$work/initrd.gz" \
	-chardev socket,id=blk,path="$work/blk.sock" -device vhost-user-blk-pci,chardev=blk \
	-chardev socket,id=rng,path="$work/rng.sock" -device vhost-user-rng-pci,chardev=rng \
	-append "console=ttyS0 quiet panic=-1 vio.checks=demo" 2>&1 | tr -d '\r' |
	sed -n '/^== /,/^VIO-DONE/p' | grep -v '^VIO-' | sed 's/^/   guest: /' | tee "$work/guest.log"
end=$(date +%s.%N)
awk -v a="$start" -v b="$end" 'BEGIN { printf "== guest powered off after %.1f s\n", b - a }'

echo "== daemon stats"
for p in "${pids[@]}"; do kill -USR1 "$p"; done
sleep 0.3
for p in "${pids[@]}"; do kill -TERM "$p"; done
wait "${pids[@]}" 2>/dev/null || true
pids=()
grep -h 'queue' "$work/blk.log" "$work/rng.log" | sed 's/^/   /'

echo "== on the host: the image holds the guest's file system"
if command -v dumpe2fs >/dev/null; then
	dumpe2fs -h "$img" 2>/dev/null | grep -E 'Filesystem magic|Block count|Free blocks' | sed 's/^/   /'
fi
if grep -q 'entropy.bin: OK' "$work/guest.log"; then
	echo "libvio demo: OK"
else
	echo "libvio demo: FAILED (see above)"; exit 1
fi
