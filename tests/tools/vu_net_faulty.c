/*
 * vu_net_faulty - a vhost-user-net backend that reflects frames like
 * vhost-user-net --reflect (addresses swapped, same pair), but on purpose
 * drops every Nth frame, changes one payload byte of every Mth and sends
 * every Kth back after the frame that followed it, for testing that a
 * load generator's loss, corruption and reordering counts (vio-perf --net
 * --verify) see what really happened.
 *
 *   vu_net_faulty --socket-path=PATH [--drop-every=N] [--corrupt-every=M]
 *                 [--reorder-every=K]
 *
 * Counting starts at the first frame of the connection: frames N, 2N, ...
 * are dropped, frames M, 2M, ... (among those not dropped) get their last
 * byte inverted, frames K, 2K, ... (among those) are held back and sent
 * right after the next frame. On exit (SIGTERM) it prints "dropped D
 * corrupted C reordered R held H" on stdout (H: 1 if a frame was still
 * held back, never sent), so a test compares its counts with the tool's.
 * One queue pair.
 * Test code, not a daemon: it serves through libvio's net device and the
 * daemons' loop (tools/vhost-user/vud.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vio/devices.h"
#include "vud.h"

static const char caps[] = "{\n  \"type\": \"net\",\n  \"features\": [\n  ]\n}";

static struct vio_net_dev net;
static unsigned long drop_every, corrupt_every, reorder_every;
static unsigned long long seen, dropped, corrupted, reordered; /* one pair: one thread */
static uint8_t held[2048];      /* a frame held back, held_len bytes */
static size_t held_len;

static void usage(const char *argv0)
{
	printf("usage: %s --socket-path=PATH [--drop-every=N] [--corrupt-every=M] "
	       "[--reorder-every=K]\n\n%s",
	       argv0, vud_common_usage);
}

static int faulty_transmit(void *port, unsigned pair, const struct vio_net_frame *frames,
			   unsigned n)
{
	unsigned took = 0;

	(void)port;
	for (unsigned i = 0; i < n; i++) {
		uint8_t buf[2048];
		struct vio_iov iov = { buf, 0 };
		struct vio_net_frame f = frames[i];
		size_t len;

		seen++;
		if (drop_every && seen % drop_every == 0) {
			dropped++;
			continue;
		}
		if (f.len > sizeof(buf))
			continue;
		len = vio_iov_to_buf(f.iov, f.iovcnt, 0, buf, f.len);
		if (len < 14)
			continue;
		/* Addresses swapped, as the reflect port does. */
		memcpy(buf + 2000, buf, 6);
		memcpy(buf, buf + 6, 6);
		memcpy(buf + 6, buf + 2000, 6);
		if (corrupt_every && seen % corrupt_every == 0) {
			buf[len - 1] ^= 0xff;
			corrupted++;
		}
		if (reorder_every && seen % reorder_every == 0 && !held_len) {
			memcpy(held, buf, len);
			held_len = len;
			took++;
			continue;
		}
		iov.len = len;
		f.iov = &iov;
		f.iovcnt = 1;
		f.len = (uint32_t)len;
		if (vio_net_dev_receive(&net, pair, &f, 1) == 1)
			took++;
		if (held_len) {
			/* The frame held back goes after this one. */
			iov = (struct vio_iov){ held, held_len };
			f.len = (uint32_t)held_len;
			if (vio_net_dev_receive(&net, pair, &f, 1) == 1)
				reordered++;
			held_len = 0;
		}
	}
	return (int)took;
}

static const struct vio_net_port_ops faulty_ops = {
	.version = VIO_NET_PORT_OPS_VERSION,
	.transmit = faulty_transmit,
};

int main(int argc, char **argv)
{
	struct vio_net_dev_opts no = { .port_ops = &faulty_ops, .log = vud_log };
	struct vud_opts o;
	int r;

	r = vud_parse(&argc, argv, &o, caps, usage);
	if (r)
		return r > 0 ? 0 : 2;
	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--drop-every=", 13)) {
			drop_every = strtoul(argv[i] + 13, NULL, 10);
		} else if (!strncmp(argv[i], "--reorder-every=", 16)) {
			reorder_every = strtoul(argv[i] + 16, NULL, 10);
		} else if (!strncmp(argv[i], "--corrupt-every=", 16)) {
			corrupt_every = strtoul(argv[i] + 16, NULL, 10);
		} else {
			fprintf(stderr, "%s: unknown option: %s\n", argv[0], argv[i]);
			return 2;
		}
	}
	r = vio_net_dev_init(&net, &no);
	if (r) {
		fprintf(stderr, "%s: cannot create the device: %s\n", argv[0], vio_strerror(r));
		return 1;
	}
	r = vud_run(&net.dev, &o, "vu_net_faulty", NULL, NULL);
	vio_net_dev_fini(&net);
	printf("dropped %llu corrupted %llu reordered %llu held %d\n", dropped, corrupted,
	       reordered, held_len ? 1 : 0);
	return r;
}
