#!/usr/bin/env bash
# guest-check.sh - vio-pci-probe in a QEMU guest (TCG): libvio's Linux PCI
# platforms against QEMU's virtio-rng-pci and virtio-blk-pci, modern-only
# and legacy, through uio_pci_generic and vfio-pci. An ad-hoc proof, not a
# CI test (tests/guest/ holds those); what it showed is in docs/pci-linux.md.
#
# Usage: tools/vio-pci-probe/guest-check.sh [WORKDIR]
#
# Builds vio-pci-probe statically from the sources (no meson build needed),
# a busybox initramfs with the Debian kernel's virtio, vfio and uio modules
# (in modules.dep order), and boots twice:
#   pc:   i440fx, no IOMMU: uio_pci_generic on all four functions (vfio-pci
#         cannot bind: Debian's kernel has no CONFIG_VFIO_NOIOMMU);
#   q35:  q35 with intel-iommu (intremap=on, which vfio's type1 backend
#         requires unless allow_unsafe_interrupts), intel_iommu=on iommu=pt
#         (passthrough, so uio's physical addresses still reach memory):
#         vfio-pci with MSI-X and with INTx, then uio_pci_generic again.
#   noiommu (only with VIO_VFIO_KO=path/to/vfio.ko, a vfio module built
#         with CONFIG_VFIO_NOIOMMU: docs/pci-linux.md says how): pc, no
#         IOMMU, that vfio.ko loaded with enable_unsafe_noiommu_mode=1:
#         vfio-pci in no-IOMMU mode with MSI-X and with INTx.
# Each boot first asks for DMA memory with no hugepages reserved (refused,
# with the fix in the message), then reserves 16. Prints the guest's PROBE-
# lines; exit status 0 when every PROBE-DONE came without failures.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
work=${1:-$(mktemp -d /tmp/vio-pci-guest.XXXXXX)}
mkdir -p "$work"
kver=$(ls /lib/modules | grep -E '^[0-9].*-amd64$' | sort -V | tail -1)
kernel=/boot/vmlinuz-$kver
moddir=/lib/modules/$kver

root=$work/root
rm -rf "$root"
mkdir -p "$root"/{bin,proc,sys,dev,tmp,lib/modules}
cp /bin/busybox "$root/bin/busybox"
for app in $("$root/bin/busybox" --list); do [ "$app" = busybox ] || ln -sf busybox "$root/bin/$app"; done
declare -A seen=()
order=()
add() {
	local path=$1 dep
	[ -n "${seen[$path]:-}" ] && return
	seen[$path]=1
	for dep in $(grep "^$path:" "$moddir/modules.dep" | cut -d: -f2); do add "$dep"; done
	order+=("$path")
}
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk virtio-rng \
	 vfio vfio_iommu_type1 vfio-pci uio uio_pci_generic; do
	add "$(grep -E "/${m}\.ko(\.xz|\.zst)?:" "$moddir/modules.dep" | cut -d: -f1 | head -1)"
done
: > "$root/modules.order"
for path in "${order[@]}"; do
	name=$(basename "$path")
	case $name in
	*.xz) xz -dc "$moddir/$path" > "$root/lib/modules/${name%.xz}"; name=${name%.xz} ;;
	*.zst) zstd -qdc "$moddir/$path" > "$root/lib/modules/${name%.zst}"; name=${name%.zst} ;;
	*) cp "$moddir/$path" "$root/lib/modules/$name" ;;
	esac
	echo "$name" >> "$root/modules.order"
done
if [ -n "${VIO_VFIO_KO:-}" ]; then
	cp "$VIO_VFIO_KO" "$root/lib/modules/vfio-noiommu.ko"
fi
gcc -static -O1 -std=c11 -D_GNU_SOURCE -I"$src/include" -o "$root/bin/vio-pci-probe" \
	"$src"/tools/vio-pci-probe/*.c "$src"/src/transport/pci_linux*.c "$src"/src/transport/dma_arena.c || exit 1

cat > "$root/init" <<'INIT'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
noiommu=$(tr ' ' '\n' < /proc/cmdline | grep -c '^probe\.noiommu=1$')
for m in $(cat /modules.order); do
	if [ "$m" = vfio.ko ] && [ "$noiommu" = 1 ]; then
		insmod /lib/modules/vfio-noiommu.ko enable_unsafe_noiommu_mode=1 || echo "insmod $m failed"
	else
		insmod /lib/modules/$m || echo "insmod $m failed"
	fi
done
sleep 1
echo
run() { echo "+ $*"; "$@"; echo "rc=$?"; }
run vio-pci-probe
# Before any hugepage is reserved: DMA memory must be refused, saying how.
run vio-pci-probe --bind 0000:00:06.0 --driver uio_pci_generic --no-bind --dma 4194304
echo 16 > /proc/sys/vm/nr_hugepages
grep HugePages_Free /proc/meminfo
for job in $(tr ' ' '\n' < /proc/cmdline | sed -n 's/^probe\.run=//p' | tr ',' ' '); do
	set -- $(echo "$job" | tr '/' ' ')
	bdf=$1 drv=$2; shift 2
	run vio-pci-probe --bind "$bdf" --driver "$drv" --dma 4194304 "$@"
done
run vio-pci-probe
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz"
truncate -s 16M "$work/blk1.img" "$work/blk2.img"

boot() {   # boot NAME MACHINE-ARGS APPEND JOBS
	local name=$1 machine=$2 append=$3 jobs=$4
	# shellcheck disable=SC2086
	timeout 600 qemu-system-x86_64 -accel tcg -m 512 -nographic -no-reboot $machine \
		-kernel "$kernel" -initrd "$work/initrd.gz" \
		-drive if=none,id=d1,file="$work/blk1.img",format=raw \
		-drive if=none,id=d2,file="$work/blk2.img",format=raw \
		-device virtio-rng-pci,disable-legacy=on,addr=04 \
		-device virtio-rng-pci,disable-modern=on,disable-legacy=off,addr=05 \
		-device virtio-blk-pci,drive=d1,disable-legacy=on,addr=06 \
		-device virtio-blk-pci,drive=d2,disable-modern=on,disable-legacy=off,addr=07 \
		-append "console=ttyS0 quiet panic=-1 $append probe.run=$jobs" 2>&1 | tr -d '\r' > "$work/$name.log"
	echo "== $name ($work/$name.log)"
	grep -E '^(\+ |PROBE-)' "$work/$name.log"
}
boot pc "-M pc" "" \
	0000:00:04.0/uio/--rng,0000:00:05.0/uio/--rng,0000:00:06.0/uio,0000:00:07.0/uio,0000:00:04.0/vfio
boot q35 "-M q35,kernel-irqchip=split -device intel-iommu,intremap=on" "intel_iommu=on iommu=pt" \
	0000:00:04.0/vfio/--rng,0000:00:05.0/vfio/--rng,0000:00:06.0/vfio,0000:00:07.0/vfio,0000:00:04.0/vfio/--rng/--intx,0000:00:05.0/vfio/--rng/--intx,0000:00:05.0/uio/--rng,0000:00:06.0/uio
runs=12
if [ -n "${VIO_VFIO_KO:-}" ]; then
	boot noiommu "-M pc" "probe.noiommu=1" \
		0000:00:04.0/vfio/--rng,0000:00:05.0/vfio/--rng,0000:00:06.0/vfio,0000:00:07.0/vfio,0000:00:04.0/vfio/--rng/--intx,0000:00:05.0/vfio/--rng/--intx
	grep -q 'in no-IOMMU mode' "$work/noiommu.log" || echo "noiommu: vfio did not open in no-IOMMU mode"
	runs=18
else
	: > "$work/noiommu.log"
fi
# The expected failures: vfio-pci on the IOMMU-less pc machine, and DMA
# memory before hugepages are reserved (each boot).
fails=$(cat "$work/pc.log" "$work/q35.log" "$work/noiommu.log" | grep -c '^PROBE-FAIL')
expected=$(( $(grep -c '^PROBE-FAIL bind 0000:00:04.0 to vfio-pci: No such device or address' "$work/pc.log") +
	$(cat "$work/pc.log" "$work/q35.log" "$work/noiommu.log" | grep -c '^PROBE-FAIL dma memory: Cannot allocate memory (reserve hugepages: echo N > /proc/sys/vm/nr_hugepages)') ))
done_=$(cat "$work/pc.log" "$work/q35.log" "$work/noiommu.log" | grep -c '^PROBE-DONE$')
echo "== $done_ runs done clean, $fails PROBE-FAIL lines ($expected expected: vfio-pci without an IOMMU, no hugepages yet)"
[ "$fails" = "$expected" ] && [ "$expected" = $((runs == 12 ? 3 : 4)) ] && [ "$done_" = $runs ]
