/*
 * vhost-user-net - libvio's network device as a vhost-user backend.
 *
 *   vhost-user-net --socket-path=/tmp/net.sock --reflect
 *   qemu-system-x86_64 ... -chardev socket,id=c0,path=/tmp/net.sock \
 *       -netdev vhost-user,id=n0,chardev=c0 -device virtio-net-pci,netdev=n0,vectors=0
 *
 * (vectors=0: QEMU 7.2 under TCG crashes with MSI-X on a vhost-user net
 * device, whatever the backend; README.md, "The daemons".)
 *
 * What is behind the device is a port (vio/devices/net.h). This daemon
 * has three: --tap=NAME, a Linux tap interface (net_tap.c: IFF_VNET_HDR,
 * one tap queue per pair; the device offers CSUM and HOST_TSO4/6, which
 * the kernel finishes, and GUEST_CSUM, GUEST_TSO4/6 and GUEST_ECN, which
 * the tap produces as far as the driver took them: TUNSETOFFLOAD follows
 * what is negotiated); --reflect:
 * every frame the driver sends comes back to it on the same queue pair
 * with its MAC addresses swapped, which is what a benchmark of the
 * virtqueue path wants; and --switch: one device per --socket-path (2 to
 * 16 of them), joined by an L2 learning switch (net_switch.c), so that
 * guests on those sockets talk to each other with no privileges:
 *
 *   vhost-user-net --switch --socket-path=/tmp/a.sock --socket-path=/tmp/b.sock
 *
 * Every switch port gets the same options; port k's MAC address is
 * --mac's with k added to its last byte (modulo 256), and each port's
 * frontend comes and goes on its own.
 *
 * With --queue-pairs=N the device offers MQ and RSS; each pair has a
 * thread (vud.c), the control queue another, and the device
 * serialises a pair's two queues, and its control queue with every pair,
 * through the backend's queue locks (vio_dev_queue's serial range).
 * Follows the vhost-user backend program conventions (vud.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_switch.h"
#include "net_tap.h"
#include "vio/devices.h"
#include "vud.h"

static const char caps[] = "{\n  \"type\": \"net\",\n  \"features\": [\n  ]\n}";

static void usage(const char *argv0)
{
	printf("usage: %s --socket-path=PATH | --fd=N --tap=NAME | --reflect [options]\n"
	       "       %s --switch --socket-path=PATH --socket-path=PATH [...] [options]\n\n%s"
	       "  --tap=NAME             the port: tap interface NAME (created if needed),\n"
	       "                         one tap queue per queue pair\n"
	       "  --reflect              the port: every frame goes back to its sender\n"
	       "                         (MAC addresses swapped), on the same queue pair\n"
	       "  --switch               a device per --socket-path (2-%u), joined by a\n"
	       "                         learning switch; port k's MAC is --mac + k\n"
	       "  --queue-pairs=N        queue pairs offered (1-%u, default 1; above 1: MQ, RSS)\n"
	       "  --queue-size=N         largest queue offered (power of two, default 256)\n"
	       "  --mac=XX:XX:XX:XX:XX:XX   the device's address (default 52:54:00:12:34:56)\n"
	       "  --mtu=N                MTU offered (68-65535, default 1500)\n"
	       "  --link-down            start with the link down\n",
	       argv0, argv0, vud_common_usage, NET_SWITCH_MAX_PORTS, VIO_NET_MAX_PAIRS);
}

static struct vio_net_dev net;
static struct net_tap tap;
static struct vio_net_dev sw_nets[NET_SWITCH_MAX_PORTS];
static struct net_switch sw;

static int tap_up(void *opaque, struct vio_vu_backend *b)
{
	int r = net_tap_start(&tap, &net, b);

	(void)opaque;
	if (r)
		fprintf(stderr, "vhost-user-net: error: cannot start the tap readers: %s\n",
			vio_strerror(r));
	return r ? -1 : 0;
}

static void tap_down(void *opaque)
{
	(void)opaque;
	net_tap_stop(&tap);
}

/* Appends " name N" to buf (of len, *at used) when n is not 0. */
static void nonzero(char *buf, size_t len, size_t *at, const char *name, uint64_t n)
{
	int k;

	if (!n || *at >= len)
		return;
	k = snprintf(buf + *at, len - *at, " %s %llu", name, (unsigned long long)n);
	if (k > 0)
		*at += (size_t)k;
}

/* One line per pair (on its receive queue's line, which vud keeps short:
 * the drop counters are named only when not 0). */
static void stats(void *opaque, unsigned qi, char *buf, size_t len)
{
	const struct vio_net_dev *n = opaque;
	struct vio_net_pair_stats s;
	size_t at, mark;
	int k;

	if (qi >= 2 * n->max_pairs || (qi & 1) || vio_net_dev_stats(n, qi / 2, &s)) {
		snprintf(buf, len, "-");
		return;
	}
	k = snprintf(buf, len,
		     "pair %u: tx %llu frames %llu bytes, rx %llu frames %llu bytes (gso %llu csum %llu)",
		     qi / 2, (unsigned long long)s.tx_frames, (unsigned long long)s.tx_bytes,
		     (unsigned long long)s.rx_frames, (unsigned long long)s.rx_bytes,
		     (unsigned long long)s.rx_gso, (unsigned long long)s.rx_csum);
	at = k > 0 ? (size_t)k : 0;
	nonzero(buf, len, &at, "soft-csum", s.rx_soft_csum);
	nonzero(buf, len, &at, "soft-gso", s.rx_soft_gso);
	nonzero(buf, len, &at, "soft-segments", s.rx_soft_segments);
	if (at < len) {
		k = snprintf(buf + at, len - at, ", drops:");
		at += k > 0 ? (size_t)k : 0;
	}
	mark = at;
	nonzero(buf, len, &at, "tx-header", s.tx_bad_header);
	nonzero(buf, len, &at, "tx-writable", s.tx_writable);
	nonzero(buf, len, &at, "tx-size", s.tx_bad_size);
	nonzero(buf, len, &at, "tx-csum", s.tx_bad_csum);
	nonzero(buf, len, &at, "tx-gso", s.tx_bad_gso);
	nonzero(buf, len, &at, "tx-port", s.tx_port_drops);
	nonzero(buf, len, &at, "tx-link", s.tx_link_down);
	nonzero(buf, len, &at, "rx-filtered", s.rx_filtered);
	nonzero(buf, len, &at, "rx-too-big", s.rx_too_big);
	nonzero(buf, len, &at, "rx-bad", s.rx_bad_frame);
	nonzero(buf, len, &at, "rx-offload", s.rx_offload);
	nonzero(buf, len, &at, "rx-link", s.rx_link_down);
	nonzero(buf, len, &at, "rx-inactive", s.rx_inactive);
	nonzero(buf, len, &at, "rx-bad-buffer", s.rx_bad_buffer);
	nonzero(buf, len, &at, "rx-no-room", s.rx_no_room);
	if (at == mark && at < len)
		snprintf(buf + at, len - at, " none");
}

/* The same numbers for --stats-json: a pair's on its receive queue, every
 * counter named whether 0 or not. */
static void counters(void *opaque, unsigned qi, struct vud_counter *c, unsigned *n, unsigned max)
{
	const struct vio_net_dev *d = opaque;
	struct vio_net_pair_stats s;

	if (qi >= 2 * d->max_pairs || (qi & 1) || vio_net_dev_stats(d, qi / 2, &s))
		return;
	vud_counter_add(c, n, max, "pair", qi / 2);
#define C(f) vud_counter_add(c, n, max, #f, s.f)
	C(tx_frames); C(tx_bytes); C(rx_frames); C(rx_bytes); C(rx_gso); C(rx_csum);
	C(rx_soft_csum); C(rx_soft_gso); C(rx_soft_segments);
	C(tx_bad_header); C(tx_writable); C(tx_bad_size); C(tx_bad_csum); C(tx_bad_gso);
	C(tx_port_drops); C(tx_link_down);
	C(rx_filtered); C(rx_too_big); C(rx_bad_frame); C(rx_offload); C(rx_link_down);
	C(rx_inactive); C(rx_bad_buffer); C(rx_no_room);
#undef C
}

static void switch_counters(void *opaque, unsigned port, struct vud_counter *c, unsigned *n,
			    unsigned max)
{
	struct net_switch_stats s;
	unsigned learned;

	(void)opaque;
	if (port >= sw.nports)
		return;
	net_switch_port_stats(&sw.port[port], &s, &learned);
#define C(f) vud_counter_add(c, n, max, "switch_" #f, s.f)
	C(in_frames); C(in_bytes); C(out_frames); C(out_bytes); C(flooded);
	C(queue_full); C(no_buffers); C(self); C(oversize); C(device); C(learned);
#undef C
	vud_counter_add(c, n, max, "switch_entries", learned);
}

static struct vud_counters_ops counters_ops = { .queue = counters };
static struct vud_counters_ops switch_counters_ops = { .queue = counters,
						       .port = switch_counters };

/* Per switch port: what the switch did with its frames. */
static void switch_stats(void *opaque, unsigned port, char *buf, size_t len)
{
	struct net_switch_stats s;
	unsigned learned;

	(void)opaque;
	if (port >= sw.nports) {
		buf[0] = '\0';
		return;
	}
	net_switch_port_stats(&sw.port[port], &s, &learned);
	snprintf(buf, len,
		 "switch: in %llu frames %llu bytes, out %llu frames %llu bytes, flooded %llu, "
		 "drops (queue-full %llu no-buffers %llu self %llu oversize %llu device %llu), "
		 "learned %u (%llu in all)",
		 (unsigned long long)s.in_frames, (unsigned long long)s.in_bytes,
		 (unsigned long long)s.out_frames, (unsigned long long)s.out_bytes,
		 (unsigned long long)s.flooded, (unsigned long long)s.queue_full,
		 (unsigned long long)s.no_buffers, (unsigned long long)s.self,
		 (unsigned long long)s.oversize, (unsigned long long)s.device, learned,
		 (unsigned long long)s.learned);
}

/* --switch: a device per socket, the switch between them. */
static int run_switch(const struct vud_opts *o, const struct vio_net_dev_opts *base)
{
	struct vud_port ports[NET_SWITCH_MAX_PORTS];
	const unsigned n = o->n_sockets;
	unsigned made = 0;
	int r;

	r = net_switch_init(&sw, n, sw_nets, base->mtu ? base->mtu : 1500);
	if (r) {
		fprintf(stderr, "vhost-user-net: error: cannot set up the switch: %s\n",
			vio_strerror(r));
		net_switch_fini(&sw);
		return 1;
	}
	for (; made < n; made++) {
		struct vio_net_dev_opts no = *base;

		no.mac[5] = (uint8_t)(no.mac[5] + made);
		no.offloads = NET_SWITCH_OFFLOADS;
		no.port_ops = &net_switch_ops;
		no.port = &sw.port[made];
		r = vio_net_dev_init(&sw_nets[made], &no);
		if (r) {
			fprintf(stderr, "vhost-user-net: error: cannot create port %u's device: %s\n",
				made, vio_strerror(r));
			break;
		}
		ports[made] = (struct vud_port){
			.dev = &sw_nets[made].dev,
			.socket_path = o->socket_paths[made],
			.stats = stats,
			.port_stats = switch_stats,
			.counters = &switch_counters_ops,
			.stats_opaque = &sw_nets[made],
			.backend_up = net_switch_up,
			.backend_down = net_switch_down,
			.hooks_opaque = &sw.port[made],
		};
	}
	r = made == n ? vud_run_many(ports, n, o, "vhost-user-net") : 1;
	net_switch_fini(&sw);   /* the delivery threads stop first */
	while (made > 0)
		vio_net_dev_fini(&sw_nets[--made]);
	return r;
}

/* A number in [lo, hi] from the whole of s, or false. */
static bool parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	*out = strtoul(s, &end, 0);
	return *end == '\0' && *out >= lo && *out <= hi;
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &tail) != 6)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	/* A device address must be unicast and not all zeroes. */
	return !(mac[0] & 1) && (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]);
}

int main(int argc, char **argv)
{
	static struct vio_net_reflect reflect;
	struct vio_net_dev_opts no = { .legacy_ok = true };
	bool want_reflect = false, want_switch = false;
	const char *tap_name = NULL;
	struct vud_opts o;
	unsigned long v;
	int r;

	r = vud_parse_many(&argc, argv, &o, caps, usage, NET_SWITCH_MAX_PORTS);
	if (r)
		return r > 0 ? 0 : 2;
	o.sandbox.allow = &vud_allow_net;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--reflect")) {
			want_reflect = true;
		} else if (!strcmp(a, "--switch")) {
			want_switch = true;
		} else if (!strncmp(a, "--tap=", 6) && a[6]) {
			tap_name = a + 6;
		} else if (!strncmp(a, "--queue-pairs=", 14) &&
			   parse_uint(a + 14, 1, VIO_NET_MAX_PAIRS, &v)) {
			no.max_pairs = (unsigned)v;
		} else if (!strncmp(a, "--queue-size=", 13) && parse_uint(a + 13, 1, 32768, &v)) {
			no.queue_size = (unsigned)v;
		} else if (!strncmp(a, "--mtu=", 6) && parse_uint(a + 6, 68, 65535, &v)) {
			no.mtu = (uint16_t)v;
		} else if (!strncmp(a, "--mac=", 6) && parse_mac(a + 6, no.mac)) {
			/* parsed */
		} else if (!strcmp(a, "--link-down")) {
			no.link_down = true;
		} else {
			fprintf(stderr, "%s: unknown option or bad value: %s\n", argv[0], a);
			usage(argv[0]);
			return 2;
		}
	}
	if (want_reflect + want_switch + !!tap_name != 1) {
		fprintf(stderr, "%s: name one port (--tap=NAME, --reflect or --switch)\n", argv[0]);
		usage(argv[0]);
		return 2;
	}
	if (want_switch != (o.n_sockets > 1)) {
		fprintf(stderr, want_switch ? "%s: --switch needs two --socket-path or more\n"
					    : "%s: more than one --socket-path needs --switch\n",
			argv[0]);
		usage(argv[0]);
		return 2;
	}
	if (want_switch) {
		static const uint8_t dflt[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

		if (!(no.mac[0] | no.mac[1] | no.mac[2] | no.mac[3] | no.mac[4] | no.mac[5]))
			memcpy(no.mac, dflt, 6);
		no.log = vud_log;
		return run_switch(&o, &no);
	}
	if (tap_name) {
		r = net_tap_open(&tap, tap_name, no.max_pairs ? no.max_pairs : 1);
		if (r) {
			fprintf(stderr, "%s: cannot open tap %s: %s\n", argv[0], tap_name,
				vio_strerror(r));
			net_tap_close(&tap);
			return 1;
		}
		/* The kernel finishes checksums and segments what the driver
		 * hands over with the virtio header, and hands the tap such
		 * frames as far as the driver takes them (net_tap.c). */
		no.offloads = VIO_BIT(VIO_NET_F_CSUM) | VIO_BIT(VIO_NET_F_HOST_TSO4) |
			      VIO_BIT(VIO_NET_F_HOST_TSO6) | NET_TAP_GUEST_OFFLOADS;
		no.port_ops = &net_tap_ops;
		no.port = &tap;
		o.backend_up = tap_up;
		o.backend_down = tap_down;
	} else {
		/* A frame goes back with the offload fields it was sent with;
		 * for a driver that took CSUM or HOST_TSO but not their GUEST_
		 * twin the device finishes the checksum or cuts the segments
		 * itself (net.h, receive). */
		no.offloads = VIO_BIT(VIO_NET_F_CSUM) | VIO_BIT(VIO_NET_F_GUEST_CSUM) |
			      VIO_BIT(VIO_NET_F_HOST_TSO4) | VIO_BIT(VIO_NET_F_HOST_TSO6) |
			      VIO_BIT(VIO_NET_F_GUEST_TSO4) | VIO_BIT(VIO_NET_F_GUEST_TSO6) |
			      VIO_BIT(VIO_NET_F_HOST_ECN) | VIO_BIT(VIO_NET_F_GUEST_ECN);
		no.port_ops = &vio_net_reflect_ops;
		no.port = &reflect;
	}
	no.log = vud_log;
	r = vio_net_dev_init(&net, &no);
	if (r) {
		fprintf(stderr, "%s: cannot create the device: %s\n", argv[0], vio_strerror(r));
		if (tap_name)
			net_tap_close(&tap);
		return 1;
	}
	vio_net_reflect_init(&reflect, &net);
	o.counters = &counters_ops;
	r = vud_run(&net.dev, &o, "vhost-user-net", stats, &net);
	vio_net_dev_fini(&net);
	if (tap_name)
		net_tap_close(&tap);
	return r;
}
