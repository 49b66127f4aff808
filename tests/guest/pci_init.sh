#!/bin/sh
# pci_init.sh - PID 1 of the PCI driver test's guest (tests/guest/pci_drv.sh).
#
# This guest has none of the kernel's virtio drivers: its initramfs holds
# only vfio, vfio_iommu_type1, vfio-pci, uio and uio_pci_generic, so QEMU's
# virtio-pci functions stay unbound until the test binds them. It then
#   - reserves hugepages (vio.hugepages=N, 2 MiB each) for libvio's DMA
#     memory and mounts hugetlbfs on /dev/hugepages;
#   - runs /bin/vio_pci_check (libvio's drivers on every virtio function,
#     tests/guest/pci/vio_pci_check.c) with the kernel command line's
#     vio.platform (vfio, noiommu or uio), vio.personality and vio.seed, which
#     binds the functions to vfio-pci or uio_pci_generic and prints one
#     line per check:
#         VIO-CHECK <name> PASS|FAIL <detail>
#   - prints VIO-DONE and powers off.
# A step that cannot run prints a FAIL line saying why.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /tmp && mount -t tmpfs tmp /tmp

# The firmware leaves escape sequences on the console line: start clean.
echo
arg() { sed -n "s/.*\bvio\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
platform=$(arg platform)
[ -n "$platform" ] || platform=vfio

# Module parameters for busybox insmod. vfio_iommu_type1 needs
# allow_unsafe_interrupts only where the IOMMU has no interrupt remapping
# (QEMU's intel-iommu has it under TCG; harmless otherwise).
# vio.platform=noiommu: /lib/vfio-noiommu.ko (a vfio built with
# CONFIG_VFIO_NOIOMMU, which Debian's is not) replaces the kernel's vfio.ko.
loaded=""
for m in $(cat /modules.order); do
	name=${m%.ko}
	params=""
	case $name in vfio_iommu_type1) params=allow_unsafe_interrupts=1 ;; esac
	if [ "$platform" = noiommu ]; then
		case $name in
		vfio_iommu_type1) continue ;;
		vfio) m=../vfio-noiommu.ko; params=enable_unsafe_noiommu_mode=1 ;;
		esac
	fi
	if insmod "/lib/modules/$m" $params 2>/tmp/insmod.err; then
		loaded="$loaded $name"
	else
		echo "VIO-CHECK module-$name FAIL insmod: $(cat /tmp/insmod.err)"
	fi
done

# No kernel driver may hold a virtio function: none is in this initramfs,
# so none is loaded and every function is unbound until the test binds it.
mods=$(grep -i virtio /proc/modules | cut -d' ' -f1 | tr '\n' ' ')
held=""
nfn=0
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor")" = 0x1af4 ] || continue
	nfn=$((nfn + 1))
	[ -e "$d/driver" ] && held="$held ${d##*/}:$(readlink "$d/driver" | sed 's,.*/,,')"
done
if [ -z "$mods" ] && [ -z "$held" ] && [ $nfn -gt 0 ]; then
	echo "VIO-CHECK kernel-virtio-unbound PASS no virtio module loaded, $nfn virtio functions without a driver"
else
	echo "VIO-CHECK kernel-virtio-unbound FAIL modules: '$mods', bound:$held, $nfn virtio functions"
fi

pages=$(arg hugepages)
[ -n "$pages" ] || pages=64
echo "$pages" > /proc/sys/vm/nr_hugepages
got=$(sed -n 's/^HugePages_Total: *//p' /proc/meminfo)
mkdir -p /dev/hugepages && mount -t hugetlbfs none /dev/hugepages
if [ "$got" = "$pages" ]; then
	echo "VIO-CHECK hugepages PASS $got pages of $(sed -n 's/^Hugepagesize: *//p' /proc/meminfo)"
else
	echo "VIO-CHECK hugepages FAIL asked for $pages, got '$got'"
fi

# What the test is about to drive, for the log.
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor")" = 0x1af4 ] || continue
	echo "pci: ${d##*/} $(cat "$d/vendor"):$(cat "$d/device") rev $(cat "$d/revision") group $(readlink "$d/iommu_group" 2>/dev/null | sed 's,.*/,,') driver $(readlink "$d/driver" 2>/dev/null | sed 's,.*/,,')"
done

if [ -x /bin/vio_pci_check ]; then
	verbose=""
	[ "$(arg verbose)" = 1 ] && verbose=--verbose
	/bin/vio_pci_check --platform "$platform" --personality "$(arg personality)" \
		--seed "$(arg seed)" --checks "$(arg checks)" $verbose
	st=$?
	[ $st = 0 ] || echo "vio_pci_check exit $st"
else
	echo "VIO-CHECK program FAIL /bin/vio_pci_check is not in the initramfs"
fi

echo "VIO-DONE"
poweroff -f
