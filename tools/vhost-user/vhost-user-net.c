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
 * has two: --tap=NAME, a Linux tap interface (net_tap.c), and --reflect:
 * every frame the driver sends comes back to it on the same queue pair
 * with its MAC addresses swapped, which is what a benchmark of the
 * virtqueue path wants. With --queue-pairs=N the device
 * offers MQ and RSS; each queue has a thread (vud.c), and the device
 * serialises a pair's two queues, and its control queue with every pair,
 * through the backend's queue locks (vio_dev_queue's serial range).
 * Follows the vhost-user backend program conventions (vud.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_tap.h"
#include "vio/devices.h"
#include "vud.h"

static const char caps[] = "{\n  \"type\": \"net\",\n  \"features\": [\n  ]\n}";

static void usage(const char *argv0)
{
	printf("usage: %s --socket-path=PATH | --fd=N --tap=NAME | --reflect [options]\n\n%s"
	       "  --tap=NAME             the port: tap interface NAME (created if needed),\n"
	       "                         one tap queue per queue pair\n"
	       "  --reflect              the port: every frame goes back to its sender\n"
	       "                         (MAC addresses swapped), on the same queue pair\n"
	       "  --queue-pairs=N        queue pairs offered (1-%u, default 1; above 1: MQ, RSS)\n"
	       "  --queue-size=N         largest queue offered (power of two, default 256)\n"
	       "  --mac=XX:XX:XX:XX:XX:XX   the device's address (default 52:54:00:12:34:56)\n"
	       "  --mtu=N                MTU offered (68-65535, default 1500)\n"
	       "  --link-down            start with the link down\n",
	       argv0, vud_common_usage, VIO_NET_MAX_PAIRS);
}

static struct vio_net_dev net;
static struct net_tap tap;

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

static void stats(void *opaque, unsigned qi, char *buf, size_t len)
{
	struct vio_net_pair_stats s;

	(void)opaque;
	if (qi >= 2 * net.max_pairs || (qi & 1) || vio_net_dev_stats(&net, qi / 2, &s)) {
		snprintf(buf, len, "-");
		return;
	}
	snprintf(buf, len,
		 "pair %u: tx %llu frames %llu bytes, rx %llu frames %llu bytes, "
		 "tx drops (header %llu writable %llu size %llu csum %llu gso %llu port %llu), "
		 "rx drops (filtered %llu too-big %llu offload %llu no-room %llu)",
		 qi / 2, (unsigned long long)s.tx_frames, (unsigned long long)s.tx_bytes,
		 (unsigned long long)s.rx_frames, (unsigned long long)s.rx_bytes,
		 (unsigned long long)s.tx_bad_header, (unsigned long long)s.tx_writable,
		 (unsigned long long)s.tx_bad_size, (unsigned long long)s.tx_bad_csum,
		 (unsigned long long)s.tx_bad_gso, (unsigned long long)s.tx_port_drops,
		 (unsigned long long)s.rx_filtered, (unsigned long long)s.rx_too_big,
		 (unsigned long long)s.rx_offload, (unsigned long long)s.rx_no_room);
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
	bool want_reflect = false;
	const char *tap_name = NULL;
	struct vud_opts o;
	unsigned long v;
	int r;

	r = vud_parse(&argc, argv, &o, caps, usage);
	if (r)
		return r > 0 ? 0 : 2;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--reflect")) {
			want_reflect = true;
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
	if (want_reflect == !!tap_name) {
		fprintf(stderr, "%s: name one port (--tap=NAME or --reflect)\n", argv[0]);
		usage(argv[0]);
		return 2;
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
		 * hands over with the virtio header. */
		no.offloads = VIO_BIT(VIO_NET_F_CSUM) | VIO_BIT(VIO_NET_F_HOST_TSO4) |
			      VIO_BIT(VIO_NET_F_HOST_TSO6);
		no.port_ops = &net_tap_ops;
		no.port = &tap;
		o.backend_up = tap_up;
		o.backend_down = tap_down;
	} else {
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
	r = vud_run(&net.dev, &o, "vhost-user-net", stats, &net);
	vio_net_dev_fini(&net);
	if (tap_name)
		net_tap_close(&tap);
	return r;
}
