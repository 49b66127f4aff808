#!/usr/bin/env bash
# mkinitramfs.sh OUT.cpio.gz - the test guest's initramfs.
#
# Busybox (static, from Debian's busybox-static), the Debian kernel's
# virtio modules with their dependencies resolved from modules.dep, and
# tests/guest/init.sh as /init. Prints the kernel image to boot with it.
#
# Other guests (tests/guest/pci_drv.sh) change three things through the
# environment; unset, the initramfs is the one above:
#   VIO_INITRAMFS_MODULES  the modules to load instead of the virtio ones
#                          (names as in modules.dep, dependencies added)
#   VIO_INITRAMFS_INIT     the script to install as /init
#   VIO_INITRAMFS_FILES    extra files, space-separated SRC:DEST pairs
#                          (DEST inside the initramfs, e.g. /bin/prog)
set -euo pipefail
out=$(realpath -m "$1")
here=$(cd "$(dirname "$0")" && pwd)

kver=$(ls /lib/modules | sort -V | tail -1)
kernel=/boot/vmlinuz-$kver
[ -r "$kernel" ] || { echo "mkinitramfs: no kernel at $kernel" >&2; exit 1; }
moddir=/lib/modules/$kver

# The drivers the guest may need, in the order DESIGN.md found to work.
wanted=${VIO_INITRAMFS_MODULES:-"virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_mmio
virtio_blk failover net_failover virtio_net virtio_balloon virtio_console virtio-rng
crc32c_generic ext4"}

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,mnt,lib/modules}
cp /bin/busybox "$root/bin/busybox"
for app in $("$root/bin/busybox" --list); do
	[ "$app" = busybox ] || ln -sf busybox "$root/bin/$app"
done

# Resolve dependencies: each module after the ones it needs.
declare -A done_=()
order=()
add() {
	local path=$1 dep
	[ -n "${done_[$path]:-}" ] && return
	done_[$path]=1
	for dep in $(grep "^$path:" "$moddir/modules.dep" | cut -d: -f2); do
		add "$dep"
	done
	order+=("$path")
}
for m in $wanted; do
	path=$(grep -E "/${m}\.ko(\.xz|\.zst)?:" "$moddir/modules.dep" | cut -d: -f1 | head -1)
	[ -n "$path" ] || { echo "mkinitramfs: module $m not found for $kver" >&2; exit 1; }
	add "$path"
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

cp "${VIO_INITRAMFS_INIT:-$here/init.sh}" "$root/init"
chmod +x "$root/init"
for f in ${VIO_INITRAMFS_FILES:-}; do
	mkdir -p "$root/$(dirname "${f#*:}")"
	cp "${f%%:*}" "$root/${f#*:}"
done
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out"
echo "$kernel"
