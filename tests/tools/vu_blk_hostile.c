/*
 * vu_blk_hostile - a vhost-user-blk backend whose config space says what
 * its command line says, for testing what a frontend (vio-perf, libvio's
 * blk driver) does with values a real device would not present.
 *
 *   vu_blk_hostile --socket-path=PATH [--capacity=SECTORS] [--blk-size=N]
 *                  [--num-queues=N] [--seg-max=N] [--size-max=N]
 *                  [--max-discard-sectors=N] [--max-discard-seg=N]
 *                  [--discard-sector-alignment=N] [--max-write-zeroes-sectors=N]
 *                  [--max-write-zeroes-seg=N] [--queues=N]
 *
 * Each config option also offers the feature its field belongs to
 * (--blk-size: VIRTIO_BLK_F_BLK_SIZE, --num-queues: MQ, ...). --queues is
 * how many request queues the device really has (1 by default), whatever
 * --num-queues claims. Requests are answered without storage: reads return
 * zeroes, everything completes with status OK. Test code, not a daemon:
 * it exists for tests/tools/test_vio_perf.py. It serves through libvio's
 * vhost-user backend and the daemons' loop (tools/vhost-user/vud.c).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vio/core.h"
#include "vud.h"

#define MAX_QUEUES 16u
#define QUEUE_MAX 1024u
#define MAX_IOV 1024u

static const char caps[] = "{\n  \"type\": \"block\",\n  \"features\": [\n  ]\n}";

struct hq {
	struct vio_iov out[MAX_IOV], in[MAX_IOV];
	struct vio_elem e;
};

struct hostile {
	struct vio_dev_model dev;
	struct vio_dev_queue q[MAX_QUEUES];
	struct vio_blk_config cfg;
	struct hq hq[MAX_QUEUES];
};

/* A config field an option sets, and the feature that makes it valid. */
struct field {
	const char *opt;
	size_t off, width;
	int feature;            /* -1: always valid (capacity) */
};

#define FIELD(o, f, feat) \
	{ o, offsetof(struct vio_blk_config, f), sizeof(((struct vio_blk_config *)0)->f), feat }

static const struct field fields[] = {
	FIELD("capacity", capacity, -1),
	FIELD("blk-size", blk_size, VIO_BLK_F_BLK_SIZE),
	FIELD("num-queues", num_queues, VIO_BLK_F_MQ),
	FIELD("seg-max", seg_max, VIO_BLK_F_SEG_MAX),
	FIELD("size-max", size_max, VIO_BLK_F_SIZE_MAX),
	FIELD("max-discard-sectors", max_discard_sectors, VIO_BLK_F_DISCARD),
	FIELD("max-discard-seg", max_discard_seg, VIO_BLK_F_DISCARD),
	FIELD("discard-sector-alignment", discard_sector_alignment, VIO_BLK_F_DISCARD),
	FIELD("max-write-zeroes-sectors", max_write_zeroes_sectors, VIO_BLK_F_WRITE_ZEROES),
	FIELD("max-write-zeroes-seg", max_write_zeroes_seg, VIO_BLK_F_WRITE_ZEROES),
};

static void usage(const char *argv0)
{
	printf("usage: %s --socket-path=PATH | --fd=N [options]\n\n%s", argv0, vud_common_usage);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		printf("  --%s=N\n", fields[i].opt);
	printf("  --queues=N             request queues the device has (1 to %u, default 1)\n",
	       MAX_QUEUES);
}

/* A decimal number of at most `max`: digits only, no sign, no blanks. */
static int parse_num(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -EINVAL;
	for (; *s; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return -EINVAL;
		d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/* Stores v little-endian in `width` bytes at the field's offset. */
static void set_field(struct hostile *h, const struct field *f, uint64_t v)
{
	uint8_t *p = (uint8_t *)&h->cfg + f->off;

	for (size_t i = 0; i < f->width; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	if (f->feature >= 0)
		h->dev.host_features |= VIO_BIT((unsigned)f->feature);
}

/* Every request: reads get zeroes, every status is OK. */
static void serve(struct vio_elem *e)
{
	static const uint8_t zeroes[4096];
	const uint8_t ok = VIO_BLK_S_OK;

	if (e->in_len == 0)
		return;         /* no status byte: nothing to answer in */
	for (size_t off = 0; off + 1 < e->in_len;) {
		size_t n = e->in_len - 1 - off < sizeof(zeroes) ? e->in_len - 1 - off :
								  sizeof(zeroes);

		vio_iov_from_buf(e->in, e->in_num, off, zeroes, n);
		off += n;
	}
	vio_iov_from_buf(e->in, e->in_num, e->in_len - 1, &ok, 1);
}

static void queue_notify(struct vio_dev_model *d, unsigned qi)
{
	struct hostile *h = d->priv;
	struct vio_devq *vq = vio_dev_vq(d, qi);
	struct hq *q;
	bool pushed = false;
	int r;

	if (!vq || qi >= MAX_QUEUES)
		return;
	q = &h->hq[qi];
	for (;;) {
		memset(&q->e, 0, sizeof(q->e));
		q->e.out = q->out;
		q->e.in = q->in;
		q->e.out_cap = q->e.in_cap = MAX_IOV;
		r = vio_devq_pop(vq, &q->e);
		if (r) {
			vio_dev_check(d, qi, r);
			break;
		}
		serve(&q->e);
		if (vio_devq_push(vq, &q->e, q->e.in_len)) {
			vio_dev_needs_reset(d, "hostile: could not return a used buffer");
			break;
		}
		pushed = true;
	}
	if (pushed)
		vio_dev_interrupt(d, qi);
}

static void reset(struct vio_dev_model *d)
{
	(void)d;
}

static const struct vio_dev_ops ops = {
	.version = VIO_DEV_OPS_VERSION,
	.reset = reset,
	.queue_notify = queue_notify,
};

int main(int argc, char **argv)
{
	static struct hostile h;
	struct vud_opts o;
	uint64_t nq = 1;
	int r;

	r = vud_parse(&argc, argv, &o, caps, usage);
	if (r)
		return r > 0 ? 0 : 2;
	h.dev.host_features = VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_RING_PACKED) |
			      VIO_BIT(VIO_F_INDIRECT_DESC) | VIO_BIT(VIO_F_EVENT_IDX);
	set_field(&h, &fields[0], 16384);       /* 8 MiB unless told */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq = strchr(a, '=');
		const size_t name_len = eq ? (size_t)(eq - a) : 0;
		bool known = false;
		uint64_t v;

		if (!eq || strncmp(a, "--", 2)) {
			fprintf(stderr, "%s: unknown argument %s\n", argv[0], a);
			return 2;
		}
		if (name_len == strlen("--queues") && !strncmp(a, "--queues", name_len)) {
			if (parse_num(eq + 1, MAX_QUEUES, &nq) || nq == 0) {
				fprintf(stderr, "%s: bad --queues value '%s' (1 to %u)\n", argv[0],
					eq + 1, MAX_QUEUES);
				return 2;
			}
			continue;
		}
		for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]) && !known; k++) {
			const struct field *f = &fields[k];
			const uint64_t max = f->width == 8 ? UINT64_MAX :
					     (UINT64_C(1) << (8 * f->width)) - 1;

			if (name_len != 2 + strlen(f->opt) || strncmp(a + 2, f->opt, name_len - 2))
				continue;
			known = true;
			if (parse_num(eq + 1, max, &v)) {
				fprintf(stderr, "%s: bad --%s value '%s' (0 to %llu)\n", argv[0],
					f->opt, eq + 1, (unsigned long long)max);
				return 2;
			}
			set_field(&h, f, v);
		}
		if (!known) {
			fprintf(stderr, "%s: unknown option %s\n", argv[0], a);
			return 2;
		}
	}
	h.dev.device_id = VIO_ID_BLOCK;
	h.dev.config = (uint8_t *)&h.cfg;
	h.dev.config_len = sizeof(h.cfg);
	h.dev.queues = h.q;
	h.dev.num_queues = (unsigned)nq;
	h.dev.ops = &ops;
	h.dev.priv = &h;
	h.dev.log = vud_log;
	for (unsigned i = 0; i < nq; i++)
		h.q[i].max_size = QUEUE_MAX;
	r = vio_dev_init(&h.dev);
	if (r) {
		fprintf(stderr, "%s: cannot create the device: %s\n", argv[0], vio_strerror(r));
		return 1;
	}
	return vud_run(&h.dev, &o, "vu_blk_hostile", NULL, NULL);
}
