/*
 * test_config.c - libvio's drivers against devices whose config space says
 * what the test chooses: values out of the spec, values whose arithmetic
 * would overflow, values at the edge of what the driver takes.
 *
 * The device is a small test-only device type (a struct vio_dev_model with the
 * real device model and the loopback transport, direct mode), not one of
 * libvio's devices, which never present such values. Its blk request queue
 * answers every request OK and records the DISCARD / WRITE_ZEROES ranges
 * it was sent; its console and balloon queues hand buffers straight back.
 *
 * Each case runs on the split and the packed ring. A case checks what the
 * driver made of the value: probe refused (driver not bound, FAILED set,
 * the errno in the bus's "probe failed" line) or the value clamped (seen
 * through the driver's getters or the requests it sends), and that the bus
 * log has a sentence saying so.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vio/drivers.h"
#include "vio/transport.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define V1 VIO_BIT(VIO_F_VERSION_1)
#define BLKF(b) VIO_BIT(VIO_BLK_F_##b)
#define QSIZE 128u
#define ARENA (4u << 20)
#define MAX_LOGS 32
#define MAX_IOV 64

/* 2^55 + 8 sectors: 2^64 + 4096 bytes, which wraps to 4096. */
#define CAP_WRAPS ((UINT64_C(1) << 55) + 8)
#define CAP_LARGEST (UINT64_MAX >> 9)

struct row {
	const char *name;
	uint64_t ring;
};

static const struct row layouts[] = {
	{ "split", 0 },
	{ "packed", VIO_BIT(VIO_F_RING_PACKED) },
};

/* ======================================================================== */
/* The device                                                               */

struct mock {
	struct vio_dev_model dev;
	struct vio_dev_queue q[4];
	union {
		struct vio_blk_config blk;
		struct vio_console_config con;
		struct vio_balloon_config bal;
		uint8_t raw[128];
	} cfg;
	struct vio_iov out[MAX_IOV], in[MAX_IOV];
	struct vio_elem e;
	/* blk: what the driver sent */
	unsigned requests, discards, write_zeroes;
	unsigned max_ranges;            /* most ranges in one request */
	uint64_t range_sectors;         /* sum of num_sectors over every range */
	uint64_t largest_range;
};

static void blk_request(struct mock *m)
{
	struct vio_blk_req_hdr h;
	uint8_t st = VIO_BLK_S_OK;
	uint32_t type;

	m->requests++;
	memset(&h, 0, sizeof(h));
	vio_iov_to_buf(m->e.out, m->e.out_num, 0, &h, sizeof(h));
	type = vio_le32_to_cpu(h.type);
	if (type == VIO_BLK_T_DISCARD || type == VIO_BLK_T_WRITE_ZEROES) {
		const unsigned n = (m->e.out_len - (uint32_t)sizeof(h)) / 16;

		if (type == VIO_BLK_T_DISCARD)
			m->discards++;
		else
			m->write_zeroes++;
		if (n > m->max_ranges)
			m->max_ranges = n;
		for (unsigned i = 0; i < n; i++) {
			struct vio_blk_discard_write_zeroes r;
			uint32_t k;

			vio_iov_to_buf(m->e.out, m->e.out_num, sizeof(h) + 16 * (size_t)i, &r, 16);
			k = vio_le32_to_cpu(r.num_sectors);
			m->range_sectors += k;
			if (k > m->largest_range)
				m->largest_range = k;
		}
	}
	if (m->e.in_len)
		vio_iov_from_buf(m->e.in, m->e.in_num, m->e.in_len - 1, &st, 1);
}

static void mock_notify(struct vio_dev_model *d, unsigned qi)
{
	struct mock *m = d->priv;
	struct vio_devq *vq = vio_dev_vq(d, qi);
	bool pushed = false;

	/* The console's receive buffers stay with the device: no input. */
	if (!vq || (d->device_id == VIO_ID_CONSOLE && qi == VIO_CONSOLE_QUEUE_RX))
		return;
	for (;;) {
		memset(&m->e, 0, sizeof(m->e));
		m->e.out = m->out;
		m->e.in = m->in;
		m->e.out_cap = m->e.in_cap = MAX_IOV;
		if (vio_devq_pop(vq, &m->e) < 0)
			break;
		if (d->device_id == VIO_ID_BLOCK)
			blk_request(m);
		if (vio_devq_push(vq, &m->e, d->device_id == VIO_ID_BLOCK ? m->e.in_len : 0))
			break;
		pushed = true;
	}
	if (pushed)
		vio_dev_interrupt(d, qi);
}

static void mock_config_write(struct vio_dev_model *d, unsigned off, unsigned len)
{
	(void)d;
	(void)off;
	(void)len;
}

static const struct vio_dev_ops mock_ops = {
	.version = VIO_DEV_OPS_VERSION,
	.queue_notify = mock_notify,
	.config_write = mock_config_write,
};

/* ======================================================================== */
/* Fixture                                                                  */

struct fx {
	const struct row *row;
	struct mock m;
	struct vio_loopback lb;
	struct vio_bus bus;
	struct vio_blk_driver blk;
	struct vio_console_driver con;
	struct vio_balloon_driver bal;
	bool lb_up, bus_up;
	unsigned nlogs;
	char logs[MAX_LOGS][256];
};

static void *xalloc(void *opaque, size_t n)
{
	(void)opaque;
	return calloc(1, n);
}

static void xfree(void *opaque, void *p, size_t n)
{
	(void)opaque;
	(void)n;
	free(p);
}

static void log_cb(void *opaque, enum vio_log_level level, const char *msg)
{
	struct fx *f = opaque;

	(void)level;
	if (f->nlogs < MAX_LOGS)
		snprintf(f->logs[f->nlogs++], sizeof(f->logs[0]), "%s", msg);
}

/* Some log line has every one of the (NULL-terminated) words. */
static void assert_logged_(struct fx *f, const char *first, ...)
{
	for (unsigned i = 0; i < f->nlogs; i++) {
		const char *w = first;
		bool all = true;
		va_list ap;

		va_start(ap, first);
		for (; w; w = va_arg(ap, const char *))
			all = all && strstr(f->logs[i], w);
		va_end(ap);
		if (all)
			return;
	}
	for (unsigned i = 0; i < f->nlogs; i++)
		print_message("log: %s\n", f->logs[i]);
	fail_msg("no log line says \"%s\" ...", first);
}

#define assert_logged(f, ...) assert_logged_(f, __VA_ARGS__, (const char *)NULL)

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->row = *state;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	if (f->bus_up) {
		vio_bus_remove_device(&f->bus, &f->lb.vdev);
		if (f->m.dev.device_id == VIO_ID_BLOCK)
			vio_blk_drv_unregister(&f->bus, &f->blk);
		else if (f->m.dev.device_id == VIO_ID_CONSOLE)
			vio_console_drv_unregister(&f->bus, &f->con);
		else
			vio_balloon_drv_unregister(&f->bus, &f->bal);
	}
	if (f->lb_up)
		vio_loopback_fini(&f->lb);
	free(f);
	return 0;
}

/* The device with `features` (the row's ring layout added) and whatever
 * the test put in f->m.cfg, on a bus with the driver for its id. */
static struct vio_drv_device *fx_up(struct fx *f, uint32_t id, uint64_t features, unsigned nq,
				    unsigned config_len)
{
	struct mock *m = &f->m;

	m->dev.device_id = id;
	m->dev.host_features = V1 | f->row->ring | features;
	m->dev.config = m->cfg.raw;
	m->dev.config_len = config_len;
	m->dev.queues = m->q;
	m->dev.num_queues = nq;
	m->dev.ops = &mock_ops;
	m->dev.priv = m;
	for (unsigned i = 0; i < nq; i++)
		m->q[i].max_size = QSIZE;
	assert_int_equal(vio_dev_init(&m->dev), 0);
	assert_int_equal(vio_loopback_init(&f->lb, &m->dev, ARENA, false), 0);
	f->lb_up = true;
	vio_bus_init(&f->bus, xalloc, xfree, NULL);
	f->bus.log = log_cb;
	f->bus.log_opaque = f;
	if (id == VIO_ID_BLOCK) {
		assert_int_equal(vio_blk_drv_register(&f->bus, &f->blk, NULL), 0);
	} else if (id == VIO_ID_CONSOLE) {
		assert_int_equal(vio_console_drv_register(&f->bus, &f->con, NULL), 0);
	} else {
		const struct vio_balloon_drv_opts balloon_opts = { .max_pages = 8,
								   .timeout_ms = 5000 };
		assert_int_equal(vio_balloon_drv_register(&f->bus, &f->bal, &balloon_opts), 0);
	}
	assert_int_equal(vio_bus_add_device(&f->bus, &f->lb.vdev), 0);
	f->bus_up = true;
	return &f->lb.vdev;
}

static struct vio_drv_device *blk_up(struct fx *f, uint64_t features)
{
	return fx_up(f, VIO_ID_BLOCK, features, 4, sizeof(struct vio_blk_config));
}

static void set_capacity(struct fx *f, uint64_t sectors)
{
	f->m.cfg.blk.capacity = vio_cpu_to_le64(sectors);
}

/* Probe refused the device: unbound, FAILED, and the bus says why. */
static void assert_refused(struct fx *f, struct vio_drv_device *dev, const char *errtext)
{
	assert_null(dev->driver);
	assert_true(vio_dev_get_status(&f->m.dev) & VIO_STATUS_FAILED);
	assert_false(vio_dev_get_status(&f->m.dev) & VIO_STATUS_DRIVER_OK);
	assert_int_equal(vio_blk_drv_capacity(dev), 0);
	assert_logged(f, "virtio_blk: probe failed", errtext);
}

static void assert_bound(struct fx *f, struct vio_drv_device *dev)
{
	assert_non_null(dev->driver);
	assert_int_equal(vio_drv_has_feature(dev, VIO_F_RING_PACKED), f->row->ring != 0);
	assert_true(vio_dev_get_status(&f->m.dev) & VIO_STATUS_DRIVER_OK);
	assert_false(vio_dev_get_status(&f->m.dev) & VIO_STATUS_FAILED);
}

/* ======================================================================== */
/* blk: capacity                                                            */

/* 2^55 + 8 sectors is 2^64 + 4096 bytes: refused, not taken as 4 KiB. */
static void blk_capacity_overflow(void **state)
{
	struct fx *f = *state;
	struct vio_drv_device *dev;

	set_capacity(f, CAP_WRAPS);
	dev = blk_up(f, 0);
	assert_refused(f, dev, vio_strerror(-ERANGE));
	assert_logged(f, "capacity of 36028797018963976 sectors refused", "64 bits");
}

static void blk_capacity_max_u64(void **state)
{
	struct fx *f = *state;
	struct vio_drv_device *dev;

	set_capacity(f, UINT64_MAX);
	dev = blk_up(f, 0);
	assert_refused(f, dev, vio_strerror(-ERANGE));
	assert_logged(f, "capacity of 18446744073709551615 sectors refused");
}

/* The largest capacity whose byte count fits 64 bits is taken; requests
 * near its end are checked without wrapping. */
static void blk_capacity_largest(void **state)
{
	struct fx *f = *state;
	struct vio_drv_device *dev;
	struct vio_blk_drv_io io = { .type = VIO_BLK_T_DISCARD };

	set_capacity(f, CAP_LARGEST);
	f->m.cfg.blk.max_discard_sectors = vio_cpu_to_le32(UINT32_MAX);
	f->m.cfg.blk.max_discard_seg = vio_cpu_to_le32(16);
	dev = blk_up(f, BLKF(DISCARD));
	assert_bound(f, dev);
	assert_int_equal(vio_blk_drv_capacity(dev), CAP_LARGEST);
	/* One range of the last sector, then one past the end. */
	assert_int_equal(vio_blk_drv_discard(dev, CAP_LARGEST - 1, 1), 0);
	assert_int_equal(vio_blk_drv_discard(dev, CAP_LARGEST, 1), -EINVAL);
	assert_int_equal(vio_blk_drv_discard(dev, UINT64_MAX, 1), -EINVAL);
	/* The whole disk in one request needs more ranges than it may send. */
	io.nsectors = CAP_LARGEST;
	assert_int_equal(vio_blk_drv_execute(dev, &io), -EINVAL);
	assert_int_equal(f->m.discards, 1);
}

/* A config change to a capacity that does not fit keeps the old one. */
static void blk_capacity_change_overflow(void **state)
{
	struct fx *f = *state;
	struct vio_drv_device *dev;

	set_capacity(f, 1000);
	dev = blk_up(f, 0);
	assert_bound(f, dev);
	set_capacity(f, CAP_WRAPS);
	vio_dev_config_changed(&f->m.dev);
	assert_int_equal(vio_drv_wait(dev, 0), 0);
	assert_int_equal(vio_blk_drv_capacity(dev), 1000);
	assert_logged(f, "capacity of 36028797018963976 sectors refused", "keeping the old");
	/* A sane change still goes through. */
	set_capacity(f, 2000);
	vio_dev_config_changed(&f->m.dev);
	assert_int_equal(vio_drv_wait(dev, 0), 0);
	assert_int_equal(vio_blk_drv_capacity(dev), 2000);
}

/* ======================================================================== */
/* blk: blk_size                                                            */

static void blk_size_refused(struct fx *f, uint32_t v, const char *text)
{
	struct vio_drv_device *dev;

	set_capacity(f, 1000);
	f->m.cfg.blk.blk_size = vio_cpu_to_le32(v);
	dev = blk_up(f, BLKF(BLK_SIZE));
	assert_refused(f, dev, vio_strerror(-EINVAL));
	assert_logged(f, "invalid block size", text);
}

static void blk_size_0(void **state)
{
	blk_size_refused(*state, 0, "size 0:");
}

static void blk_size_3000(void **state)
{
	blk_size_refused(*state, 3000, "size 3000:");
}

static void blk_size_256(void **state)
{
	blk_size_refused(*state, 256, "size 256:");
}

static void blk_size_128k(void **state)
{
	blk_size_refused(*state, 131072, "size 131072:");
}

static void blk_size_4g_minus_1(void **state)
{
	blk_size_refused(*state, UINT32_MAX, "size 4294967295:");
}

/* The edges: 512 and 64 KiB are taken. Without BLK_SIZE the field is not
 * read at all. */
static void blk_size_edges(void **state)
{
	static const uint32_t ok[] = { 512, 4096, 65536 };
	struct fx *f = *state;

	for (unsigned i = 0; i < ARRAY_LEN(ok); i++) {
		struct fx *g = calloc(1, sizeof(*g));
		struct vio_drv_device *dev;

		assert_non_null(g);
		g->row = f->row;
		set_capacity(g, 1000);
		g->m.cfg.blk.blk_size = vio_cpu_to_le32(ok[i]);
		dev = blk_up(g, BLKF(BLK_SIZE));
		assert_bound(g, dev);
		assert_int_equal(vio_blk_drv_block_size(dev), ok[i]);
		fx_teardown((void **)&g);
	}
	set_capacity(f, 1000);
	f->m.cfg.blk.blk_size = vio_cpu_to_le32(3000);
	assert_bound(f, blk_up(f, 0));
	assert_int_equal(vio_blk_drv_block_size(&f->lb.vdev), 512);
}

/* ======================================================================== */
/* blk: queues and segments                                                 */

static void blk_num_queues_0(void **state)
{
	struct fx *f = *state;
	struct vio_drv_device *dev;

	set_capacity(f, 1000);
	f->m.cfg.blk.num_queues = vio_cpu_to_le16(0);
	dev = blk_up(f, BLKF(MQ));
	assert_refused(f, dev, vio_strerror(-EINVAL));
	assert_logged(f, "VIRTIO_BLK_F_MQ", "num_queues 0");
}

/* More queues than the device has: the driver uses what exists. */
static void blk_num_queues_too_many(void **state)
{
	struct fx *f = *state;
	struct vio_drv_device *dev;

	set_capacity(f, 1000);
	f->m.cfg.blk.num_queues = vio_cpu_to_le16(UINT16_MAX);
	dev = blk_up(f, BLKF(MQ));
	/* 4 device queues, 65535 claimed: find_vqs refuses the rest. */
	assert_null(dev->driver);
	assert_logged(f, "virtio_blk: probe failed");
}

/* seg_max 0: one data segment per request, as Linux, and said so. */
static void blk_seg_max_0(void **state)
{
	struct fx *f = *state;
	struct vio_drv_device *dev;
	uint8_t *buf;

	set_capacity(f, 1000);
	f->m.cfg.blk.seg_max = vio_cpu_to_le32(0);
	f->m.cfg.blk.size_max = vio_cpu_to_le32(4096);
	dev = blk_up(f, BLKF(SEG_MAX) | BLKF(SIZE_MAX));
	assert_bound(f, dev);
	assert_int_equal(vio_blk_drv_max_transfer(dev), 4096);
	assert_logged(f, "seg_max is 0");
	buf = vio_blk_drv_alloc_buffer(dev, 16384);
	assert_non_null(buf);
	assert_int_equal(vio_blk_drv_read(dev, 0, buf, 16384), 0);
	assert_int_equal(f->m.requests, 4);
	vio_blk_drv_free_buffer(dev, buf, 16384);
}

/* ======================================================================== */
/* blk: discard and write zeroes limits                                     */

/* max_discard_sectors 0: no limit (Linux), not one sector per range. */
static void blk_max_discard_sectors_0(void **state)
{
	struct fx *f = *state;
	struct vio_drv_device *dev;

	set_capacity(f, 1u << 20);
	f->m.cfg.blk.max_discard_sectors = vio_cpu_to_le32(0);
	f->m.cfg.blk.max_discard_seg = vio_cpu_to_le32(1);
	dev = blk_up(f, BLKF(DISCARD));
	assert_bound(f, dev);
	assert_logged(f, "max_discard_sectors is 0", "no limit");
	assert_int_equal(vio_blk_drv_discard(dev, 0, 100000), 0);
	assert_int_equal(f->m.discards, 1);
	assert_int_equal(f->m.largest_range, 100000);
	assert_int_equal(f->m.range_sectors, 100000);
}

/* max_discard_seg 0: seg_max ranges per request (Linux). */
static void blk_max_discard_seg_0(void **state)
{
	struct fx *f = *state;
	struct vio_drv_device *dev;

	set_capacity(f, 1000);
	f->m.cfg.blk.max_discard_sectors = vio_cpu_to_le32(8);
	f->m.cfg.blk.max_discard_seg = vio_cpu_to_le32(0);
	f->m.cfg.blk.seg_max = vio_cpu_to_le32(4);
	dev = blk_up(f, BLKF(DISCARD) | BLKF(SEG_MAX));
	assert_bound(f, dev);
	assert_logged(f, "max_discard_seg is 0", "seg_max's 4");
	assert_int_equal(vio_blk_drv_discard(dev, 0, 32), 0);
	assert_int_equal(f->m.discards, 1);
	assert_int_equal(f->m.max_ranges, 4);
	assert_int_equal(f->m.range_sectors, 32);
}

/* More ranges than the driver sends in one request: capped at its own. */
static void blk_max_discard_seg_huge(void **state)
{
	struct fx *f = *state;
	struct vio_drv_device *dev;

	set_capacity(f, 1000);
	f->m.cfg.blk.max_discard_sectors = vio_cpu_to_le32(1);
	f->m.cfg.blk.max_discard_seg = vio_cpu_to_le32(UINT32_MAX);
	dev = blk_up(f, BLKF(DISCARD));
	assert_bound(f, dev);
	assert_int_equal(vio_blk_drv_discard(dev, 0, 3 * VIO_BLK_DRV_MAX_RANGES), 0);
	assert_int_equal(f->m.discards, 3);
	assert_int_equal(f->m.max_ranges, VIO_BLK_DRV_MAX_RANGES);
}

static void blk_max_write_zeroes_sectors_0(void **state)
{
	struct fx *f = *state;
	struct vio_drv_device *dev;

	set_capacity(f, 1u << 20);
	f->m.cfg.blk.max_write_zeroes_sectors = vio_cpu_to_le32(0);
	f->m.cfg.blk.max_write_zeroes_seg = vio_cpu_to_le32(1);
	dev = blk_up(f, BLKF(WRITE_ZEROES));
	assert_bound(f, dev);
	assert_logged(f, "max_write_zeroes_sectors is 0", "no limit");
	assert_int_equal(vio_blk_drv_write_zeroes(dev, 0, 100000, false), 0);
	assert_int_equal(f->m.write_zeroes, 1);
	assert_int_equal(f->m.largest_range, 100000);
}

/* max_write_zeroes_seg 0: one range per request (Linux's way). */
static void blk_max_write_zeroes_seg_0(void **state)
{
	struct fx *f = *state;
	struct vio_drv_device *dev;

	set_capacity(f, 1000);
	f->m.cfg.blk.max_write_zeroes_sectors = vio_cpu_to_le32(8);
	f->m.cfg.blk.max_write_zeroes_seg = vio_cpu_to_le32(0);
	dev = blk_up(f, BLKF(WRITE_ZEROES));
	assert_bound(f, dev);
	assert_logged(f, "max_write_zeroes_seg is 0", "one range");
	assert_int_equal(vio_blk_drv_write_zeroes(dev, 0, 32, true), 0);
	assert_int_equal(f->m.write_zeroes, 4);
	assert_int_equal(f->m.max_ranges, 1);
	assert_int_equal(f->m.range_sectors, 32);
}

/* discard_sector_alignment is not used for splitting: whatever it says
 * (0, or every bit set), probe and discard are unaffected. */
static void blk_discard_sector_alignment_ignored(void **state)
{
	static const uint32_t vals[] = { 0, UINT32_MAX };
	struct fx *f = *state;

	for (unsigned i = 0; i < ARRAY_LEN(vals); i++) {
		struct fx *g = calloc(1, sizeof(*g));
		struct vio_drv_device *dev;

		assert_non_null(g);
		g->row = f->row;
		set_capacity(g, 1000);
		g->m.cfg.blk.max_discard_sectors = vio_cpu_to_le32(64);
		g->m.cfg.blk.max_discard_seg = vio_cpu_to_le32(1);
		g->m.cfg.blk.discard_sector_alignment = vio_cpu_to_le32(vals[i]);
		dev = blk_up(g, BLKF(DISCARD));
		assert_bound(g, dev);
		assert_int_equal(vio_blk_drv_discard(dev, 3, 100), 0);
		assert_int_equal(g->m.discards, 2);
		assert_int_equal(g->m.range_sectors, 100);
		fx_teardown((void **)&g);
	}
}

/* ======================================================================== */
/* The queue size the device reports                                       */

/* A queue maximum no ring takes: probe fails cleanly, nothing allocated
 * from the value. */
static void core_queue_max_hostile(void **state)
{
	static const unsigned vals[] = { 0, 65536, UINT32_MAX };
	struct fx *f = *state;

	for (unsigned i = 0; i < ARRAY_LEN(vals); i++) {
		struct fx *g = calloc(1, sizeof(*g));
		struct vio_drv_device *dev;
		struct mock *m;

		assert_non_null(g);
		g->row = f->row;
		m = &g->m;
		set_capacity(g, 1000);
		m->dev.device_id = VIO_ID_BLOCK;
		m->dev.host_features = V1 | f->row->ring;
		m->dev.config = m->cfg.raw;
		m->dev.config_len = sizeof(struct vio_blk_config);
		m->dev.queues = m->q;
		m->dev.num_queues = 1;
		m->dev.ops = &mock_ops;
		m->dev.priv = m;
		m->q[0].max_size = QSIZE;
		assert_int_equal(vio_dev_init(&m->dev), 0);
		/* The device model checks its own maximum at init: change it
		 * behind its back, as a broken transport peer would report. */
		m->q[0].max_size = vals[i];
		assert_int_equal(vio_loopback_init(&g->lb, &m->dev, ARENA, false), 0);
		g->lb_up = true;
		vio_bus_init(&g->bus, xalloc, xfree, NULL);
		g->bus.log = log_cb;
		g->bus.log_opaque = g;
		assert_int_equal(vio_blk_drv_register(&g->bus, &g->blk, NULL), 0);
		dev = &g->lb.vdev;
		assert_int_equal(vio_bus_add_device(&g->bus, dev), 0);
		g->bus_up = true;
		assert_null(dev->driver);
		assert_logged(g, "virtio_blk: probe failed", vio_strerror(-EINVAL));
		fx_teardown((void **)&g);
	}
}

/* ======================================================================== */
/* console and balloon                                                      */

/* The console driver reads rows and cols only, as they are (no size is
 * computed from them), and never negotiates MULTIPORT, so max_nr_ports is
 * not read: the largest values change nothing. */
static void console_hostile_config(void **state)
{
	struct fx *f = *state;
	struct vio_drv_device *dev;
	uint16_t cols = 0, rows = 0;

	f->m.cfg.con.rows = vio_cpu_to_le16(UINT16_MAX);
	f->m.cfg.con.cols = vio_cpu_to_le16(UINT16_MAX);
	f->m.cfg.con.max_nr_ports = vio_cpu_to_le32(UINT32_MAX);
	dev = fx_up(f, VIO_ID_CONSOLE, VIO_BIT(VIO_CONSOLE_F_SIZE) |
		    VIO_BIT(VIO_CONSOLE_F_MULTIPORT) | VIO_BIT(VIO_CONSOLE_F_EMERG_WRITE), 2,
		    sizeof(struct vio_console_config));
	assert_bound(f, dev);
	assert_false(vio_drv_has_feature(dev, VIO_CONSOLE_F_MULTIPORT));
	assert_int_equal(dev->nvqs, 2);
	assert_int_equal(vio_console_drv_get_size(dev, &cols, &rows), 0);
	assert_int_equal(cols, UINT16_MAX);
	assert_int_equal(rows, UINT16_MAX);
	assert_int_equal(vio_console_drv_write(dev, "hi", 2, 1000), 2);
	assert_int_equal(vio_console_drv_flush(dev, 1000), 0);
}

/* The balloon driver reads num_pages only: the largest target is clamped
 * to its bookkeeping (max_pages 8 here) with a warning; `actual` is only
 * written; FREE_PAGE_HINT and PAGE_POISON, whose fields hold junk, are not
 * negotiated. */
static void balloon_hostile_config(void **state)
{
	struct fx *f = *state;
	struct vio_drv_device *dev;

	f->m.cfg.bal.num_pages = vio_cpu_to_le32(UINT32_MAX);
	f->m.cfg.bal.actual = vio_cpu_to_le32(0xdeadbeef);
	f->m.cfg.bal.free_page_hint_cmd_id = vio_cpu_to_le32(UINT32_MAX);
	f->m.cfg.bal.poison_val = vio_cpu_to_le32(UINT32_MAX);
	dev = fx_up(f, VIO_ID_BALLOON, VIO_BIT(VIO_BALLOON_F_MUST_TELL_HOST) |
		    VIO_BIT(VIO_BALLOON_F_FREE_PAGE_HINT) | VIO_BIT(VIO_BALLOON_F_PAGE_POISON) |
		    VIO_BIT(VIO_BALLOON_F_PAGE_REPORTING), 2, sizeof(struct vio_balloon_config));
	assert_bound(f, dev);
	assert_false(vio_drv_has_feature(dev, VIO_BALLOON_F_FREE_PAGE_HINT));
	assert_false(vio_drv_has_feature(dev, VIO_BALLOON_F_PAGE_POISON));
	assert_false(vio_drv_has_feature(dev, VIO_BALLOON_F_PAGE_REPORTING));
	assert_int_equal(vio_balloon_drv_target(dev), 8);
	assert_int_equal(vio_balloon_drv_pages(dev), 8);
	assert_int_equal(vio_balloon_drv_bytes(dev), 8 * 4096);
	assert_int_equal(vio_le32_to_cpu(f->m.cfg.bal.actual), 8);
	assert_logged(f, "target above the driver's limit of 8 pages");
	assert_int_equal(vio_balloon_drv_update(dev), -ENOSPC);
}

/* ======================================================================== */

#define T(fn) { #fn, fn }

static const struct {
	const char *name;
	CMUnitTestFunction fn;
} tests[] = {
	T(blk_capacity_overflow),
	T(blk_capacity_max_u64),
	T(blk_capacity_largest),
	T(blk_capacity_change_overflow),
	T(blk_size_0),
	T(blk_size_3000),
	T(blk_size_256),
	T(blk_size_128k),
	T(blk_size_4g_minus_1),
	T(blk_size_edges),
	T(blk_num_queues_0),
	T(blk_num_queues_too_many),
	T(blk_seg_max_0),
	T(blk_max_discard_sectors_0),
	T(blk_max_discard_seg_0),
	T(blk_max_discard_seg_huge),
	T(blk_max_write_zeroes_sectors_0),
	T(blk_max_write_zeroes_seg_0),
	T(blk_discard_sector_alignment_ignored),
	T(core_queue_max_hostile),
	T(console_hostile_config),
	T(balloon_hostile_config),
};

int main(void)
{
	struct CMUnitTest all[ARRAY_LEN(layouts) * ARRAY_LEN(tests)];
	char names[ARRAY_LEN(layouts) * ARRAY_LEN(tests)][96];
	size_t n = 0;

	for (size_t r = 0; r < ARRAY_LEN(layouts); r++) {
		for (size_t t = 0; t < ARRAY_LEN(tests); t++) {
			snprintf(names[n], sizeof(names[n]), "%s: %s", layouts[r].name, tests[t].name);
			all[n] = (struct CMUnitTest){ names[n], tests[t].fn, fx_setup, fx_teardown,
						      (void *)&layouts[r] };
			n++;
		}
	}
	return _cmocka_run_group_tests("config", all, n, NULL, NULL);
}
