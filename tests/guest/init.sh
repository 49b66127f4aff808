#!/bin/sh
# init.sh - PID 1 of the test guest (a busybox initramfs).
#
# Loads the Debian kernel's virtio modules, runs the checks named on the
# kernel command line (vio.checks=blk,rng,...) against whatever virtio
# devices libvio's daemons provide, prints one line per check:
#     VIO-CHECK <name> PASS|FAIL <detail>
# and powers off. The host side (run.sh) reads those lines from the
# serial console. vio.step=N lets the host ask for a second boot's checks.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /tmp && mount -t tmpfs tmp /tmp

# Module parameters on the kernel command line reach only built-in code or
# modprobe; busybox insmod needs them spelled out (QEMU's microvm names its
# virtio-mmio devices as virtio_mmio.device=... there).
for m in $(cat /modules.order); do
	name=${m%.ko}
	params=$(tr ' ' '\n' < /proc/cmdline | sed -n "s/^$name\.//p")
	insmod "/lib/modules/$m" $params 2>/dev/null
done
sleep 1

arg() { sed -n "s/.*\bvio\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
checks=$(arg checks | tr , ' ')
step=$(arg step)
[ -n "$step" ] || step=1

# The firmware leaves escape sequences on the console line: start clean.
echo
pass() { echo "VIO-CHECK $1 PASS $2"; }
fail() { echo "VIO-CHECK $1 FAIL $2"; }
check() { name=$1; shift; if out=$("$@" 2>&1); then pass "$name" "$out"; else fail "$name" "$out"; fi; }

# The first writable / read-only virtio disk, whatever the transport calls it.
disk() { for d in /sys/block/vd*; do [ "$(cat "$d/ro" 2>/dev/null)" = 0 ] && { echo "/dev/${d##*/}"; return; }; done; return 1; }
rodisk() { for d in /sys/block/vd*; do [ "$(cat "$d/ro" 2>/dev/null)" = 1 ] && { echo "/dev/${d##*/}"; return; }; done; return 1; }

# Sector 1 of the writable disk marks "rebooted by the test" across a reboot.
boot_mark() { dd if="$(disk)" bs=512 skip=1 count=1 2>/dev/null | grep -aq VIOBOOT1; }
set_mark() { printf '%s\n' "$1" | dd of="$(disk)" bs=512 seek=1 count=1 conv=sync oflag=direct 2>/dev/null; sync; }

feature_bit() {     # feature_bit DEVICE-ID BIT: is BIT negotiated on the first such device?
	for d in /sys/bus/virtio/devices/*; do
		[ "$(cat "$d/device")" = "$1" ] || continue
		f=$(cat "$d/features")
		[ "$(echo "$f" | cut -c$(($2 + 1)))" = 1 ] && return 0
		return 1
	done
	return 1
}

blk_write_read() {
	dev=$(disk) || { echo "no virtio disk"; return 1; }
	# 4 MiB of a pattern derived from the step, written and read back.
	dd if=/dev/urandom of=/tmp/pattern bs=1M count=4 2>/dev/null
	dd if=/tmp/pattern of="$dev" bs=1M count=4 seek=1 oflag=direct 2>/dev/null || { echo "write failed"; return 1; }
	sync
	echo 3 > /proc/sys/vm/drop_caches
	dd if="$dev" of=/tmp/back bs=1M count=4 skip=1 iflag=direct 2>/dev/null || { echo "read failed"; return 1; }
	a=$(md5sum < /tmp/pattern | cut -d' ' -f1)
	b=$(md5sum < /tmp/back | cut -d' ' -f1)
	[ "$a" = "$b" ] || { echo "mismatch $a != $b"; return 1; }
	# Leave the checksum on disk at sector 0 for the host to verify.
	printf 'VIOSUM %s\n' "$a" | dd of="$dev" bs=512 count=1 conv=sync oflag=direct 2>/dev/null
	sync
	echo "4 MiB md5 $a"
}

# Writes and reads back a pattern, O_DIRECT, for a few seconds while the
# host kills the blk daemon and starts a new one (run.sh, pci-reconnect).
# The marker on the console tells the host the loop has begun.
blk_reconnect() {
	dev=$(disk) || { echo "no virtio disk"; return 1; }
	dd if=/dev/urandom of=/tmp/rpat bs=64k count=32 2>/dev/null
	echo "VIO-IO-START" > /dev/console
	end=$(($(date +%s) + 10))
	i=0
	while [ "$(date +%s)" -lt "$end" ]; do
		# 2 MiB at one of 8 places from 8 MiB on, clear of blk_write_read's.
		at=$((128 + (i % 8) * 32))
		dd if=/tmp/rpat of="$dev" bs=64k count=32 seek=$at oflag=direct conv=fsync 2>/dev/null ||
			{ echo "write $i failed"; return 1; }
		dd if="$dev" of=/tmp/rback bs=64k count=32 skip=$at iflag=direct 2>/dev/null ||
			{ echo "read $i failed"; return 1; }
		cmp -s /tmp/rpat /tmp/rback || { echo "round $i read back different data"; return 1; }
		i=$((i + 1))
	done
	echo "$i rounds of 2 MiB written and read back"
}

blk_flush() {
	dev=$(disk) || return 1
	# fsync on the block device issues a FLUSH when the device has a cache.
	dd if=/dev/zero of="$dev" bs=4096 count=1 seek=4096 conv=fsync 2>/dev/null || { echo "fsync failed"; return 1; }
	echo "cache: $(cat /sys/block/${dev#/dev/}/queue/write_cache)"
}

blk_discard() {
	dev=$(disk) || return 1
	max=$(cat /sys/block/${dev#/dev/}/queue/discard_max_bytes)
	[ "$max" -gt 0 ] || { echo "device offers no discard"; return 1; }
	blkdiscard -o 16777216 -l 1048576 "$dev" || { echo "blkdiscard failed"; return 1; }
	echo "discard_max_bytes $max"
}

blk_readonly() {
	dev=$(rodisk) || { echo "no read-only virtio disk"; return 1; }
	if dd if=/dev/zero of="$dev" bs=4096 count=1 oflag=direct 2>/dev/null; then
		echo "write succeeded on a read-only disk"; return 1
	fi
	dd if="$dev" of=/dev/null bs=4096 count=16 iflag=direct 2>/dev/null || { echo "read failed"; return 1; }
	echo "writes refused, reads work"
}

blk_queues() {
	dev=$(disk) || return 1
	n=$(ls /sys/block/${dev#/dev/}/mq | wc -l)
	want=$(arg queues)
	[ "$n" = "$want" ] || { echo "$n queues, expected $want"; return 1; }
	# I/O from every CPU/queue.
	dd if="$dev" of=/dev/null bs=64k count=256 iflag=direct 2>/dev/null || return 1
	echo "$n queues"
}

blk_verify_previous() {
	dev=$(disk) || return 1
	dd if="$dev" bs=512 count=1 2>/dev/null | grep -q VIOSUM || { echo "no mark from the first boot"; return 1; }
	echo "first boot's data is there"
}

packed() {
	feature_bit 0x0002 34 || { echo "RING_PACKED not negotiated"; return 1; }
	echo "RING_PACKED negotiated"
}

# Against vhost-user-net --tap, whose tap sits in a namespace at 10.78.0.1
# (run.sh): pings answered, and 1 MiB sent to the namespace's nc, whose
# checksum the host compares with the one printed here.
# With vio.mtu, at that MTU; with vio.queues, that many queue pairs.
net_tap() {
	ifc=$(netif) || { echo "no virtio network interface"; return 1; }
	mtu=$(arg mtu); [ -n "$mtu" ] || mtu=1500
	ip link set "$ifc" mtu "$mtu" || { echo "cannot set MTU $mtu"; return 1; }
	want=$(arg queues); [ -n "$want" ] || want=1
	n=$(ls -d /sys/class/net/$ifc/queues/rx-* | wc -l)
	[ "$n" -ge "$want" ] || { echo "$n receive queues, expected $want"; return 1; }
	ip link set "$ifc" up && ip addr add 10.78.0.2/24 dev "$ifc" || { echo "cannot bring $ifc up"; return 1; }
	ping -c 5 -W 2 10.78.0.1 > /tmp/ping 2>&1 || { echo "no answer: $(tail -2 /tmp/ping | tr '\n' ' ')"; return 1; }
	dd if=/dev/urandom of=/tmp/send bs=64k count=16 2>/dev/null
	sum=$(md5sum < /tmp/send | cut -d' ' -f1)
	nc 10.78.0.1 5000 < /tmp/send || { echo "nc failed"; return 1; }
	# nc returns once the data is in the socket: let TCP deliver it before
	# the guest powers off.
	sleep 5
	echo "pings answered at MTU $mtu, $n queue pairs; sent 1 MiB md5 $sum"
}

# After net_tap: the namespace sends 16 MiB to an nc here, once the host
# sees VIO-NET-LISTEN on the console; the host compares the checksum
# printed here with its own. The daemon offers GUEST_TSO4/6, so the tap
# hands over TCP super-frames: the driver counts each frame once, however
# many segments it carries, so more bytes per frame than the MTU allows
# show that they came whole (without receive offloads none can exceed
# MTU + 14). The line ends with the md5 of what came, pass or fail.
net_tap_rx() {
	ifc=$(netif) || { echo "no virtio network interface"; return 1; }
	mtu=$(cat /sys/class/net/$ifc/mtu)
	s=/sys/class/net/$ifc/statistics
	rx0=$(cat $s/rx_packets); rb0=$(cat $s/rx_bytes)
	# nc's input stays open but empty (a fifo held here): at its end
	# busybox nc would shut the connection down under the transfer.
	mkfifo /tmp/hold
	timeout 120 nc -l -p 5001 < /tmp/hold > /tmp/recv &
	pid=$!
	exec 8> /tmp/hold
	sleep 2
	echo "VIO-NET-LISTEN" > /dev/console
	wait $pid
	exec 8>&-
	rx=$(($(cat $s/rx_packets) - rx0)); rb=$(($(cat $s/rx_bytes) - rb0))
	got=$(wc -c < /tmp/recv)
	sum=$(md5sum < /tmp/recv | cut -d' ' -f1)
	[ "$got" = 16777216 ] || { echo "received $got bytes of 16 MiB, md5 $sum"; return 1; }
	[ "$rx" -gt 0 ] || { echo "the driver counted no frames"; return 1; }
	avg=$((rb / rx))
	[ "$avg" -gt $((mtu + 14)) ] ||
		{ echo "16 MiB in $rx frames of $avg bytes on average (MTU $mtu): no GSO frames; md5 $sum"; return 1; }
	echo "received 16 MiB in $rx frames of $avg bytes on average (MTU $mtu) md5 $sum"
}

net_nomrg() {
	feature_bit 0x0001 15 && { echo "MRG_RXBUF negotiated"; return 1; }
	echo "MRG_RXBUF not negotiated"
}

# Against vhost-user-net --switch: one of two guests on the daemon's switch
# (run.sh), vio.role=a at 10.80.0.1 or b at 10.80.0.2, MTU vio.mtu. Each
# pings the other at full MTU; then a sends 64 MiB (1 MiB of random bytes,
# 64 times) to b's nc, b sends back the md5 of the 64 MiB it read, and a
# compares it with its own. Both print their md5 for the host to compare.
net_switch() {
	ifc=$(netif) || { echo "no virtio network interface"; return 1; }
	mtu=$(arg mtu); [ -n "$mtu" ] || mtu=1500
	case $(arg role) in
	a) me=10.80.0.1 peer=10.80.0.2 ;;
	b) me=10.80.0.2 peer=10.80.0.1 ;;
	*) echo "vio.role is '$(arg role)'"; return 1 ;;
	esac
	ip link set "$ifc" mtu "$mtu" || { echo "cannot set MTU $mtu"; return 1; }
	ip link set "$ifc" up && ip addr add $me/24 dev "$ifc" || { echo "cannot bring $ifc up"; return 1; }
	want=$(arg queues); [ -n "$want" ] || want=1
	n=$(ls -d /sys/class/net/$ifc/queues/rx-* | wc -l)
	[ "$n" -ge "$want" ] || { echo "$n receive queues, expected $want"; return 1; }
	size=67108864
	if [ "$(arg role)" = b ]; then
		# nc runs the script with the connection as its stdin and stdout.
		printf '#!/bin/sh\nhead -c %s | md5sum | cut -d" " -f1 | tee /tmp/rsum\n' $size > /tmp/recv.sh
		chmod +x /tmp/recv.sh
		timeout 240 nc -l -p 5000 -e /tmp/recv.sh &
		listener=$!
	fi
	# The other guest may come up later: up to 90 s for its first answer.
	i=0
	until ping -c 1 -W 1 $peer >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 90 ] || { echo "no answer from $peer in 90 s"; return 1; }
	done
	ping -c 5 -i 0.2 -W 2 -s $((mtu - 28)) $peer > /tmp/ping 2>&1 ||
		{ echo "$mtu-byte pings: $(tail -2 /tmp/ping | tr '\n' ' ')"; return 1; }
	if [ "$(arg role)" = b ]; then
		wait $listener || { echo "pings answered; the receiving nc failed or timed out"; return 1; }
		echo "pings answered at MTU $mtu, $n queue pairs; read 64 MiB, md5 $(cat /tmp/rsum)"
		return 0
	fi
	dd if=/dev/urandom of=/tmp/r bs=1M count=1 2>/dev/null
	sum=$(for i in $(seq 64); do cat /tmp/r; done | md5sum | cut -d' ' -f1)
	printf '#!/bin/sh\nfor i in $(seq 64); do cat /tmp/r; done\nread -r reply\necho "$reply" > /tmp/reply\n' > /tmp/send.sh
	chmod +x /tmp/send.sh
	# b's listener may start a moment after its address answers pings.
	i=0
	rm -f /tmp/reply
	until timeout 200 nc $peer 5000 -e /tmp/send.sh 2>/dev/null && [ -s /tmp/reply ]; do
		i=$((i + 1))
		[ $i -lt 10 ] || { echo "could not send to $peer:5000"; return 1; }
		sleep 1
	done
	got=$(cat /tmp/reply)
	[ "$got" = "$sum" ] || { echo "sent md5 $sum, the other guest read md5 $got"; return 1; }
	echo "pings answered at MTU $mtu, $n queue pairs; sent 64 MiB, md5 $sum"
}

net_packed() {
	feature_bit 0x0001 34 || { echo "RING_PACKED not negotiated"; return 1; }
	echo "RING_PACKED negotiated"
}

# The first network interface virtio_net drives.
netif() {
	for d in /sys/class/net/*; do
		[ "$(basename "$(readlink "$d/device/driver" 2>/dev/null)")" = virtio_net ] &&
			{ echo "${d##*/}"; return; }
	done
	return 1
}

# Against vhost-user-net --reflect: every frame the guest sends comes back
# to it with the MAC addresses swapped. Pings to a neighbour with a fixed
# address are sent, reflected and counted by the driver as received (the
# stack then drops them: they are not for this host). At vio.mtu bytes,
# which with MRG_RXBUF spans several of Linux's receive buffers; with
# vio.queues pairs the driver must have set that many up.
net_reflect() {
	ifc=$(netif) || { echo "no virtio network interface"; return 1; }
	mtu=$(arg mtu); [ -n "$mtu" ] || mtu=1500
	ip link set "$ifc" mtu "$mtu" || { echo "cannot set MTU $mtu"; return 1; }
	ip link set "$ifc" up && ip addr add 10.9.0.2/24 dev "$ifc" || { echo "cannot bring $ifc up"; return 1; }
	ip neigh replace 10.9.0.1 lladdr 02:00:00:00:00:01 dev "$ifc" nud permanent 2>/dev/null ||
		arp -s 10.9.0.1 02:00:00:00:00:01 || { echo "cannot add a neighbour"; return 1; }
	want=$(arg queues); [ -n "$want" ] || want=1
	n=$(ls -d /sys/class/net/$ifc/queues/rx-* | wc -l)
	[ "$n" -ge "$want" ] || { echo "$n receive queues, expected $want"; return 1; }
	s=/sys/class/net/$ifc/statistics
	rx0=$(cat $s/rx_packets); rb0=$(cat $s/rx_bytes); tx0=$(cat $s/tx_packets)
	size=$((mtu - 28))
	ping -c 40 -i 0.1 -W 1 -s $size 10.9.0.1 >/dev/null 2>&1
	sleep 1
	tx=$(($(cat $s/tx_packets) - tx0)); rx=$(($(cat $s/rx_packets) - rx0)); rb=$(($(cat $s/rx_bytes) - rb0))
	[ "$tx" -ge 40 ] || { echo "sent $tx frames"; return 1; }
	[ "$rx" -ge 40 ] || { echo "sent $tx frames, $rx came back"; return 1; }
	[ "$rb" -ge $((40 * (mtu + 14))) ] || { echo "$rx frames came back but only $rb bytes"; return 1; }
	echo "$tx sent, $rx reflected ($rb bytes) at MTU $mtu on $ifc, $n queue pairs"
}

rng() {
	cur=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)
	case "$cur" in virtio_rng*) ;; *) echo "rng_current is '$cur'"; return 1 ;; esac
	dd if=/dev/hwrng of=/tmp/r bs=4096 count=256 2>/dev/null || { echo "read failed"; return 1; }
	n=$(wc -c < /tmp/r)
	[ "$n" = 1048576 ] || { echo "read $n bytes"; return 1; }
	# Random data does not compress: a crude but honest sanity check.
	z=$(gzip -c /tmp/r | wc -c)
	[ "$z" -gt 1000000 ] || { echo "1 MiB compresses to $z bytes"; return 1; }
	echo "$cur, 1 MiB read, gzip $z bytes"
}

# After the test's own reboot: check the first boot's data, then finish.
if echo " $checks " | grep -q ' reboot ' && boot_mark; then
	set_mark clear
	check blk-after-reboot blk_verify_previous
	check rng-after-reboot rng
	checks=""
fi

# The README's demo: a file system on libvio's disk, filled with entropy
# from libvio's rng, read back after a remount.
demo() {
	echo "== virtio devices the guest found"
	for d in /sys/bus/virtio/devices/*; do
		drv=$(basename "$(readlink "$d/driver")")
		echo "   $(basename "$d"): device id $(cat "$d/device"), driver $drv"
	done
	dev=$(disk) || { echo "no writable virtio disk"; return 1; }
	echo "== $dev: $(($(cat /sys/block/${dev#/dev/}/size) / 2048)) MiB; making an ext2 file system"
	mke2fs -q "$dev" >/dev/null || return 1
	mount -t ext2 "$dev" /mnt || return 1
	echo "== writing 1 MiB from /dev/hwrng ($(cat /sys/class/misc/hw_random/rng_current)) to /mnt/entropy.bin"
	dd if=/dev/hwrng of=/mnt/entropy.bin bs=4096 count=256 2>/dev/null || return 1
	md5sum /mnt/entropy.bin > /mnt/entropy.md5
	echo "written by the libvio demo guest" > /mnt/hello.txt
	umount /mnt
	echo 3 > /proc/sys/vm/drop_caches
	echo "== remounting and checking"
	mount -t ext2 -o ro "$dev" /mnt || return 1
	ls -l /mnt | sed 's/^/   /'
	(cd /mnt && md5sum -c entropy.md5) | sed 's/^/   /'
	(cd /mnt && md5sum -c entropy.md5 >/dev/null) || return 1
	umount /mnt
	echo "== done"
}

for c in $checks; do
	case $c in
	blk) check blk-write-read blk_write_read; check blk-flush blk_flush ;;
	discard) check blk-discard blk_discard ;;
	ro) check blk-readonly blk_readonly ;;
	queues) check blk-queues blk_queues ;;
	previous) check blk-second-boot blk_verify_previous ;;
	packed) check packed-negotiated packed ;;
	net) check net-reflect net_reflect ;;
	net-tap) check net-tap net_tap ;;
	net-switch) check net-switch net_switch ;;
	net-tap-rx) check net-tap-rx net_tap_rx ;;
	net-packed) check net-packed-negotiated net_packed ;;
	net-nomrg) check net-mrg-rxbuf-off net_nomrg ;;
	reconnect) check blk-reconnect blk_reconnect ;;
	rng) check rng rng ;;
	demo) if demo; then echo "VIO-CHECK demo PASS"; else echo "VIO-CHECK demo FAIL"; fi ;;
	reboot) set_mark VIOBOOT1; echo "VIO-REBOOT"; reboot -f ;;
	esac
done
echo "VIO-DONE"
sync
poweroff -f
