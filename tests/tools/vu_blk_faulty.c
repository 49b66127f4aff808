/*
 * vu_blk_faulty - a vhost-user-blk backend with one deliberate fault, for
 * checking that vio-conform sees each kind of misbehaviour it reports.
 *
 *   vu_blk_faulty --socket-path=PATH --fault=crash|spin|overwrite|leak|hang [--sandbox=none --seccomp=none]
 *
 * A RAM disk served by libvio's blk device, until the first kick after
 * 4 KiB were written (vio-conform's blk-write-read check writes 4 KiB, then
 * reads them; its health probe before the first case writes one sector);
 * then, once:
 *   crash      abort()
 *   spin       starts a thread that burns CPU forever, then serves
 *   overwrite  answers the read itself, writing 64 bytes past its buffer
 *   leak       keeps three fds open that nothing needs, then serves
 *   hang       the queue thread sleeps forever
 * The test runs it unsandboxed, so each fault is only what it says (under
 * the default seccomp filter a sleeping queue thread would be killed, not
 * hung). Test code, not a daemon: it exists for tests/tools/test_vio_conform.py.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vio/devices.h"
#include "vud.h"

static const char caps[] = "{\n  \"type\": \"block\",\n  \"features\": [\n  ]\n}";

static struct vio_blk_dev blk;
static struct vio_dev_ops ops;
static void (*blk_notify)(struct vio_dev_model *d, unsigned qi);
static const char *fault;
static bool fired;

static void usage(const char *argv0)
{
	printf("usage: %s --socket-path=PATH --fault=crash|spin|overwrite|leak|hang\n\n%s", argv0,
	       vud_common_usage);
}

static void *spin(void *arg)
{
	for (volatile unsigned long n = 0;; n++)
		(void)arg;
	return NULL;
}

/* Serves one read by hand, writing 64 bytes more than its data buffer holds
 * (into whatever follows it in the driver's memory). */
static void overwrite(struct vio_dev_model *d, unsigned qi)
{
	struct vio_devq *vq = vio_dev_vq(d, qi);
	struct vio_iov out[8], in[8];
	struct vio_elem e = { .out = out, .in = in, .out_cap = 8, .in_cap = 8 };
	uint8_t ok = 0;

	while (vq && vio_devq_pop(vq, &e) == 0) {
		if (e.in_num >= 2) {
			memset(in[0].base, 0, in[0].len + 64);
			vio_iov_from_buf(&in[e.in_num - 1], 1, in[e.in_num - 1].len - 1, &ok, 1);
		}
		vio_devq_push(vq, &e, e.in_len);
		vio_dev_interrupt(d, qi);
	}
}

static void notify(struct vio_dev_model *d, unsigned qi)
{
	struct vio_blk_queue_stats st;

	if (!fired && vio_blk_dev_stats(&blk, qi, &st) == 0 && st.bytes_written >= 4096) {
		pthread_t t;

		fired = true;
		if (!strcmp(fault, "crash"))
			abort();
		if (!strcmp(fault, "spin"))
			pthread_create(&t, NULL, spin, NULL);
		if (!strcmp(fault, "leak"))
			for (int i = 0; i < 3; i++)
				(void)!dup(0);
		if (!strcmp(fault, "hang"))
			for (;;)
				pause();
		if (!strcmp(fault, "overwrite")) {
			overwrite(d, qi);
			return;
		}
	}
	blk_notify(d, qi);
}

int main(int argc, char **argv)
{
	struct vio_blk_dev_opts bo = { .backend = VIO_BLK_BACKEND_RAM, .size = 8 << 20 };
	struct vud_opts o;
	int r = vud_parse(&argc, argv, &o, caps, usage);

	if (r)
		return r > 0 ? 0 : 2;
	for (int i = 1; i < argc; i++)
		if (!strncmp(argv[i], "--fault=", 8))
			fault = argv[i] + 8;
	if (!fault || (strcmp(fault, "crash") && strcmp(fault, "spin") && strcmp(fault, "overwrite") &&
		       strcmp(fault, "leak") && strcmp(fault, "hang"))) {
		usage(argv[0]);
		return 2;
	}
	if (vio_blk_dev_init(&blk, &bo))
		return 1;
	ops = *blk.dev.ops;
	blk_notify = ops.queue_notify;
	ops.queue_notify = notify;
	blk.dev.ops = &ops;
	r = vud_run(&blk.dev, &o, "vu_blk_faulty", NULL, NULL);
	vio_blk_dev_fini(&blk);
	return r;
}
