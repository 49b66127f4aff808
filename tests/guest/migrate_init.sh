#!/bin/sh
# migrate_init.sh - PID 1 of the live-migration test guest (tests/guest/migrate.sh).
#
# The guest does not know it is migrated: it works until the host writes a
# line "STOP" on its serial console (the host sends it to whichever QEMU
# runs the guest by then), checks its work, prints
#     VIO-CHECK <name> PASS|FAIL <detail>
# then VIO-DONE, and powers off. vio.mode on the kernel command line:
#
#   blk  Writes checksummed blocks in a loop on the first virtio disk:
#        write number w (0, 1, 2, ...) goes to block w mod 64 of a 4 MiB
#        area that starts at 1 MiB, blocks of 64 KiB, each O_DIRECT. A
#        block is a 64-byte header "VIOMIG <w> <md5>" (space-padded, ends
#        in a newline) and 65472 random bytes whose md5 the header holds.
#        "VIO-MIG-WRITING" on the console tells the host the loop runs.
#        After STOP: every block read back from the device holds the last
#        write made to it and its data matches its checksum (mig-blk-verify;
#        the detail ends with "writes W", which the host uses to check the
#        image file the same way). vio.packed=1 also checks RING_PACKED was
#        negotiated.
#   net  Brings the virtio_net interface up at 10.78.0.2/24 and prints
#        "VIO-MIG-NET-UP" (the host then pings it from 10.78.0.1 across
#        the migration). After STOP: it pings 10.78.0.1 itself
#        (mig-net-ping).
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /tmp && mount -t tmpfs tmp /tmp

while read -r m; do
	insmod "/lib/modules/$m" 2>/dev/null
done < /modules.order
sleep 1

arg() { sed -n "s/.*\bvio\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
mode=$(arg mode)

echo
pass() { echo "VIO-CHECK $1 PASS $2"; }
fail() { echo "VIO-CHECK $1 FAIL $2"; }
check() { name=$1; shift; if out=$("$@" 2>&1); then pass "$name" "$out"; else fail "$name" "$out"; fi; }

# The host's STOP line. A background job's standard input is /dev/null
# unless redirected, so read the console explicitly.
head -n 1 < /dev/console > /tmp/stop &
stopped() { grep -q STOP /tmp/stop 2>/dev/null; }

disk() { for d in /sys/block/vd*; do [ "$(cat "$d/ro" 2>/dev/null)" = 0 ] && { echo "/dev/${d##*/}"; return; }; done; return 1; }

feature_bit() {     # feature_bit DEVICE-ID BIT: is BIT negotiated on the first such device?
	for d in /sys/bus/virtio/devices/*; do
		[ "$(cat "$d/device")" = "$1" ] || continue
		[ "$(cut -c$(($2 + 1)) "$d/features")" = 1 ] && return 0
		return 1
	done
	return 1
}

BS=65536        # block size; the host (migrate.sh) uses the same numbers
NB=64           # blocks in the area
FIRST=16        # the area's first block (1 MiB)

# blk_write: the loop; leaves the number of writes made in /tmp/writes.
blk_write() {
	dev=$(disk) || { echo "no virtio disk"; return 1; }
	w=0
	# At least twice round the area, whenever STOP comes.
	while ! stopped || [ $w -lt $((2 * NB)) ]; do
		head -c $((BS - 64)) /dev/urandom > /tmp/p
		sum=$(md5sum < /tmp/p | cut -c1-32)
		{ printf '%-63s\n' "VIOMIG $w $sum"; cat /tmp/p; } > /tmp/b
		dd if=/tmp/b of="$dev" bs=$BS seek=$((FIRST + w % NB)) oflag=direct 2>/dev/null ||
			{ echo "write $w failed"; echo $w > /tmp/writes; return 1; }
		w=$((w + 1))
		[ $w = 4 ] && echo "VIO-MIG-WRITING" > /dev/console
	done
	echo $w > /tmp/writes
	echo "$w writes of 64 KiB"
}

# blk_verify: every block holds its last write, intact.
blk_verify() {
	dev=$(disk) || { echo "no virtio disk"; return 1; }
	total=$(cat /tmp/writes)
	echo 3 > /proc/sys/vm/drop_caches
	b=0
	while [ $b -lt $NB ]; do
		# The last write to block b: the largest w < total with w mod NB = b.
		want=$(( (total - 1 - b) / NB * NB + b ))
		dd if="$dev" of=/tmp/r bs=$BS skip=$((FIRST + b)) count=1 iflag=direct 2>/dev/null ||
			{ echo "read of block $b failed"; return 1; }
		# shellcheck disable=SC2046 # the header's three words
		set -- $(head -c 63 /tmp/r)
		[ "$1" = VIOMIG ] || { echo "block $b has no header"; return 1; }
		[ "$2" = "$want" ] || { echo "block $b holds write $2, the last one to it was $want"; return 1; }
		got=$(tail -c +65 /tmp/r | md5sum | cut -c1-32)
		[ "$got" = "$3" ] || { echo "block $b (write $2): data md5 $got, header says $3"; return 1; }
		b=$((b + 1))
	done
	echo "$NB blocks hold their last write intact; writes $total"
}

net_ping() {
	ping -c 3 -W 2 10.78.0.1 > /tmp/ping 2>&1 || { tail -2 /tmp/ping | tr '\n' ' '; return 1; }
	grep received /tmp/ping
}

case $mode in
blk)
	[ "$(arg packed)" = 1 ] && { if feature_bit 0x0002 34; then pass packed-negotiated "RING_PACKED negotiated"
				     else fail packed-negotiated "RING_PACKED not negotiated"; fi; }
	check mig-blk-write blk_write
	check mig-blk-verify blk_verify ;;
net)
	ifc=""
	for d in /sys/class/net/*; do
		[ "$(basename "$(readlink "$d/device/driver" 2>/dev/null)")" = virtio_net ] && ifc=${d##*/}
	done
	if [ -n "$ifc" ] && ip link set "$ifc" up && ip addr add 10.78.0.2/24 dev "$ifc"; then
		echo "VIO-MIG-NET-UP"
		while ! stopped; do sleep 0.2; done
		check mig-net-ping net_ping
	else
		fail mig-net-up "no virtio network interface ($ifc)"
	fi ;;
*)
	fail mode "vio.mode is '$mode'" ;;
esac
echo "VIO-DONE"
sync
poweroff -f
