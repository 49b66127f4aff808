/*
 * vhost-user-rng - libvio's entropy device as a vhost-user backend.
 *
 *   vhost-user-rng --socket-path=/tmp/rng.sock
 *   qemu-system-x86_64 ... -chardev socket,id=c0,path=/tmp/rng.sock \
 *       -device vhost-user-rng-pci,chardev=c0
 *
 * The guest's virtio-rng driver reads bytes that getrandom(2) produced
 * here. Follows the vhost-user backend program conventions (vud.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vio/devices.h"
#include "vud.h"

static const char caps[] = "{\n  \"type\": \"rng\",\n  \"features\": [\n  ]\n}";

static void usage(const char *argv0)
{
	printf("usage: %s --socket-path=PATH | --fd=N [options]\n\n%s"
	       "  --queue-size=N         largest queue offered (power of two, default 256)\n",
	       argv0, vud_common_usage);
}

static void stats(void *opaque, unsigned qi, char *buf, size_t len)
{
	const struct vio_rng_dev *r = opaque;

	(void)qi;
	snprintf(buf, len, "requests %llu bytes %llu malformed %llu",
		 (unsigned long long)vio_stat_read(&r->stats.requests),
		 (unsigned long long)vio_stat_read(&r->stats.bytes),
		 (unsigned long long)vio_stat_read(&r->stats.malformed));
}

/* The same numbers for --stats-json. */
static void counters(void *opaque, unsigned qi, struct vud_counter *c, unsigned *n, unsigned max)
{
	const struct vio_rng_dev *r = opaque;

	(void)qi;
	vud_counter_add(c, n, max, "requests", vio_stat_read(&r->stats.requests));
	vud_counter_add(c, n, max, "bytes", vio_stat_read(&r->stats.bytes));
	vud_counter_add(c, n, max, "malformed", vio_stat_read(&r->stats.malformed));
	vud_counter_add(c, n, max, "source_errors", vio_stat_read(&r->stats.source_errors));
	vud_counter_add(c, n, max, "throttled", vio_stat_read(&r->stats.throttled));
}

static struct vud_counters_ops counters_ops = { .queue = counters };

int main(int argc, char **argv)
{
	static struct vio_rng_dev rng;
	struct vio_rng_dev_opts ro = {
		.features = VIO_BIT(VIO_F_INDIRECT_DESC) | VIO_BIT(VIO_F_EVENT_IDX) |
			    VIO_BIT(VIO_F_RING_PACKED),
		.legacy_ok = true,
	};
	struct vud_opts o;
	int r;

	r = vud_parse(&argc, argv, &o, caps, usage);
	if (r)
		return r > 0 ? 0 : 2;
	o.sandbox.allow = &vud_allow_rng;
	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--queue-size=", 13)) {
			ro.queue_size = (unsigned)strtoul(argv[i] + 13, NULL, 0);
		} else {
			fprintf(stderr, "%s: unknown option %s\n", argv[0], argv[i]);
			usage(argv[0]);
			return 2;
		}
	}
	r = vio_rng_dev_init(&rng, &ro);
	if (r) {
		fprintf(stderr, "%s: cannot create the device: %s\n", argv[0], vio_strerror(r));
		return 1;
	}
	rng.dev.log = vud_log;
	o.counters = &counters_ops;
	r = vud_run(&rng.dev, &o, "vhost-user-rng", stats, &rng);
	vio_rng_dev_fini(&rng);
	return r;
}
