/*
 * test_blk_storage.c - the blk device's asynchronous path, on a storage
 * whose completions the test controls (tests/lib/test_storage.c).
 *
 * Direct loopback (one thread) with a "raw" driver that posts hand-made
 * chains: the kick runs the device, which submits to the test storage and
 * returns; the test then completes requests in the order it likes, and
 * vio_drv_wait() (loopback polls the device's event fds there) lets the
 * device take the completions. Checked: with IN_ORDER used entries come
 * in pop order whatever the completion order; without it, in completion
 * order; a storage error becomes IOERR; a writethrough write on a storage
 * without FUA is followed by a flush before it is answered; the device
 * never has more than `depth` requests at the storage; reset and ring
 * stop wait for what is in flight; a request longer than the storage's
 * max_transfer goes in pieces; a discard's segments run one after the
 * other. Every case runs on the split and the packed ring.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "layouts.h"
#include "test_storage.h"
#include "vio/devices.h"
#include "vio/transport.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define V1 VIO_BIT(VIO_F_VERSION_1)
#define F_IN_ORDER VIO_BIT(VIO_F_IN_ORDER)
#define DISK (4u << 20)
#define SECTOR 512u
#define NREQ 16u
/* DMA scratch: headers, then data, then status bytes. */
#define M_HDR(i) ((size_t)(i) * 16)
#define M_DATA(i) (4096 + (size_t)(i) * 4096)
#define M_BIG 0x20000u          /* 32 KiB for the max_transfer case */
#define M_STATUS(i) (0x30000 + (size_t)(i))
#define M_BYTES 0x31000u
#define UNSET 0xeeu

struct sx {
	const struct layout *layout;
	struct ts ts;
	struct vio_blk_dev blk;
	struct vio_loopback lb;
	struct vio_bus bus;
	struct vio_driver drv;
	uint32_t ids[2];
	struct vio_drv_vq vqs[1];
	uint64_t drv_features;          /* what the raw driver takes */
	uint8_t *m;
	uint64_t m_dma;
	int tokens[NREQ];
	bool up;
};

static struct sx *cur;

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

static int raw_probe(struct vio_drv_device *dev)
{
	struct vio_drv_vq_info info = { .indirect_max = 8 };

	return vio_drv_find_vqs(dev, 1, &info, cur->vqs);
}

static void raw_remove(struct vio_drv_device *dev)
{
	vio_drv_reset(dev);
	while (vio_drvq_detach_unused(&dev->vqs[0].q))
		;
	vio_drv_del_vqs(dev);
}

static struct vio_drv_device *D(struct sx *sx)
{
	return &sx->lb.vdev;
}

static int sx_setup(void **state)
{
	struct sx *sx = calloc(1, sizeof(*sx));

	if (!sx)
		return -1;
	sx->layout = *state;
	sx->drv_features = ~UINT64_C(0);
	if (ts_init(&sx->ts, DISK, VIO_BLK_STORAGE_CAN_FLUSH | VIO_BLK_STORAGE_CAN_FUA |
			   VIO_BLK_STORAGE_CAN_DISCARD | VIO_BLK_STORAGE_CAN_WRITE_ZEROES))
		return -1;
	for (unsigned i = 0; i < DISK; i++)
		sx->ts.ram[i] = (uint8_t)(i * 7 + i / SECTOR);
	cur = sx;
	*state = sx;
	return 0;
}

static int sx_teardown(void **state)
{
	struct sx *sx = *state;

	if (sx->up) {
		/* Whatever a case left pending ends, so the device can drain. */
		sx->ts.immediate = true;
		for (unsigned i = 0; i < sx->ts.nq; i++)
			ts_complete_all(&sx->ts, i);
		vio_bus_remove_device(&sx->bus, D(sx));
		vio_bus_unregister_driver(&sx->bus, &sx->drv);
		vio_loopback_fini(&sx->lb);
		vio_blk_dev_fini(&sx->blk);
	}
	ts_fini(&sx->ts);
	free(sx);
	return 0;
}

/* The device on the test storage, with these ring features and depth. */
static void up(struct sx *sx, uint64_t ring, unsigned depth)
{
	struct vio_blk_dev_opts o = {
		.backend = VIO_BLK_BACKEND_STORAGE,
		.storage = &sx->ts.s,
		.ring_features = V1 | VIO_BIT(VIO_F_INDIRECT_DESC) | sx->layout->features | ring,
		.depth = depth,
		.queue_size = 64,
	};

	assert_int_equal(vio_blk_dev_init(&sx->blk, &o), 0);
	assert_int_equal(vio_loopback_init(&sx->lb, &sx->blk.dev, 8u << 20, false), 0);
	vio_bus_init(&sx->bus, xalloc, xfree, NULL);
	sx->ids[0] = VIO_ID_BLOCK;
	sx->drv = (struct vio_driver){
		.name = "raw",
		.ids = sx->ids,
		.features = sx->drv_features,
		.probe = raw_probe,
		.remove = raw_remove,
	};
	assert_int_equal(vio_bus_register_driver(&sx->bus, &sx->drv), 0);
	assert_int_equal(vio_bus_add_device(&sx->bus, D(sx)), 0);
	sx->up = true;
	assert_non_null(D(sx)->driver);
	sx->m = vio_drv_dma_alloc(D(sx), M_BYTES, 4096, &sx->m_dma);
	assert_non_null(sx->m);
	memset(sx->m + M_STATUS(0), UNSET, NREQ);
}

static struct vio_sg sg(struct sx *sx, size_t off, uint32_t len)
{
	return (struct vio_sg){ sx->m_dma + off, len };
}

static void put_hdr(struct sx *sx, unsigned i, uint32_t type, uint64_t sector)
{
	struct vio_blk_req_hdr h = {
		.type = vio_cpu_to_le32(type),
		.sector = vio_cpu_to_le64(sector),
	};

	memcpy(sx->m + M_HDR(i), &h, sizeof(h));
}

/* Request i: a read of one sector (sector i), a write, a flush. */
static void post_read(struct sx *sx, unsigned i)
{
	struct vio_sg out = sg(sx, M_HDR(i), 16);
	struct vio_sg in[2] = { sg(sx, M_DATA(i), SECTOR), sg(sx, M_STATUS(i), 1) };

	put_hdr(sx, i, VIO_BLK_T_IN, i);
	assert_int_equal(vio_drvq_add(&sx->vqs[0].q, &out, 1, in, 2, &sx->tokens[i]), 0);
}

static void post_write(struct sx *sx, unsigned i)
{
	struct vio_sg out[2] = { sg(sx, M_HDR(i), 16), sg(sx, M_DATA(i), SECTOR) };
	struct vio_sg in = sg(sx, M_STATUS(i), 1);

	put_hdr(sx, i, VIO_BLK_T_OUT, i);
	memset(sx->m + M_DATA(i), 0x40 + (int)i, SECTOR);
	assert_int_equal(vio_drvq_add(&sx->vqs[0].q, out, 2, &in, 1, &sx->tokens[i]), 0);
}

static void kick(struct sx *sx)
{
	vio_drv_vq_kick(&sx->vqs[0]);
}

/* Lets the device take what the storage completed (loopback's direct
 * wait polls the event fd), then reaps: the request numbers, in the order
 * the device used them, with their used lengths. */
static unsigned reap(struct sx *sx, unsigned *order, uint32_t *lens, unsigned max)
{
	unsigned n = 0;
	void *t;
	uint32_t len;

	vio_drv_wait(D(sx), 50);
	while (n < max && vio_drvq_get_buf(&sx->vqs[0].q, &t, &len) == 0) {
		order[n] = (unsigned)((int *)t - sx->tokens);
		if (lens)
			lens[n] = len;
		n++;
	}
	return n;
}

static void check_read(struct sx *sx, unsigned i)
{
	assert_int_equal(sx->m[M_STATUS(i)], VIO_BLK_S_OK);
	assert_memory_equal(sx->m + M_DATA(i), sx->ts.ram + (size_t)i * SECTOR, SECTOR);
}

/* ------------------------------------------------------------------------ */

/* Four reads completed 3, 1, 0, 2 with IN_ORDER: used in pop order, each
 * run released only when its eldest is done. */
static void t_in_order_holds_completions(void **state)
{
	struct sx *sx = *state;
	unsigned got[NREQ];

	up(sx, F_IN_ORDER, 0);
	assert_true(vio_has_feature(sx->vqs[0].q.features, VIO_F_IN_ORDER));
	for (unsigned i = 0; i < 4; i++)
		post_read(sx, i);
	kick(sx);
	assert_int_equal(ts_pending(&sx->ts, 0), 4);
	ts_complete(&sx->ts, 0, 3, 0);  /* request 3 */
	ts_complete(&sx->ts, 0, 1, 0);  /* request 1 */
	assert_int_equal(reap(sx, got, NULL, NREQ), 0);
	/* Their data is in, but they wait for request 0. */
	assert_int_equal(sx->m[M_STATUS(3)], VIO_BLK_S_OK);
	ts_complete(&sx->ts, 0, 0, 0);  /* request 0 */
	assert_int_equal(reap(sx, got, NULL, NREQ), 2);
	assert_int_equal(got[0], 0);
	assert_int_equal(got[1], 1);
	ts_complete(&sx->ts, 0, 0, 0);  /* request 2 */
	assert_int_equal(reap(sx, got, NULL, NREQ), 2);
	assert_int_equal(got[0], 2);
	assert_int_equal(got[1], 3);
	for (unsigned i = 0; i < 4; i++)
		check_read(sx, i);
}

/* The same without IN_ORDER: used as completed. */
static void t_no_in_order_used_as_completed(void **state)
{
	struct sx *sx = *state;
	unsigned got[NREQ];

	up(sx, 0, 0);
	assert_false(vio_has_feature(sx->vqs[0].q.features, VIO_F_IN_ORDER));
	for (unsigned i = 0; i < 4; i++)
		post_read(sx, i);
	kick(sx);
	assert_int_equal(ts_pending(&sx->ts, 0), 4);
	ts_complete(&sx->ts, 0, 3, 0);
	ts_complete(&sx->ts, 0, 1, 0);
	assert_int_equal(reap(sx, got, NULL, NREQ), 2);
	assert_int_equal(got[0], 3);
	assert_int_equal(got[1], 1);
	ts_complete(&sx->ts, 0, 0, 0);
	assert_int_equal(reap(sx, got, NULL, NREQ), 1);
	assert_int_equal(got[0], 0);
	ts_complete(&sx->ts, 0, 0, 0);
	assert_int_equal(reap(sx, got, NULL, NREQ), 1);
	assert_int_equal(got[0], 2);
	for (unsigned i = 0; i < 4; i++)
		check_read(sx, i);
}

/* A storage error is IOERR with only the status byte written; the next
 * request is served. */
static void t_storage_error_is_ioerr(void **state)
{
	struct sx *sx = *state;
	struct vio_blk_queue_stats s;
	unsigned got[NREQ];
	uint32_t len[NREQ];

	up(sx, 0, 0);
	post_read(sx, 0);
	post_read(sx, 1);
	kick(sx);
	assert_int_equal(ts_pending(&sx->ts, 0), 2);
	ts_complete(&sx->ts, 0, 0, -EIO);
	assert_int_equal(reap(sx, got, len, NREQ), 1);
	assert_int_equal(got[0], 0);
	assert_int_equal(len[0], 1);
	assert_int_equal(sx->m[M_STATUS(0)], VIO_BLK_S_IOERR);
	ts_complete(&sx->ts, 0, 0, 0);
	assert_int_equal(reap(sx, got, len, NREQ), 1);
	assert_int_equal(len[0], SECTOR + 1);
	check_read(sx, 1);
	assert_int_equal(vio_blk_dev_stats(&sx->blk, 0, &s), 0);
	assert_int_equal(s.ioerr, 1);
	assert_int_equal(s.reads, 1);
}

/* Writethrough (FLUSH not negotiated) on a storage with a cache and no
 * FUA: the write, then a flush, then the answer. */
static void t_fua_emulated_by_flush(void **state)
{
	struct sx *sx = *state;
	unsigned got[NREQ];
	struct ts_op op;

	sx->ts.s.caps &= ~VIO_BLK_STORAGE_CAN_FUA;
	sx->drv_features = ~(VIO_BIT(VIO_BLK_F_FLUSH) | VIO_BIT(VIO_BLK_F_CONFIG_WCE));
	up(sx, 0, 0);
	assert_true(vio_blk_dev_writethrough(&sx->blk));
	post_write(sx, 5);
	kick(sx);
	assert_int_equal(ts_nlog(&sx->ts, 0), 1);
	op = ts_log(&sx->ts, 0, 0);
	assert_int_equal(op.op, VIO_BLK_STORAGE_WRITE);
	assert_int_equal(op.flags, 0);
	ts_complete(&sx->ts, 0, 0, 0);
	/* Written, not yet stable: not answered. */
	assert_int_equal(reap(sx, got, NULL, NREQ), 0);
	assert_int_equal(sx->m[M_STATUS(5)], UNSET);
	assert_int_equal(ts_nlog(&sx->ts, 0), 2);
	assert_int_equal(ts_log(&sx->ts, 0, 1).op, VIO_BLK_STORAGE_FLUSH);
	ts_complete(&sx->ts, 0, 0, 0);
	assert_int_equal(reap(sx, got, NULL, NREQ), 1);
	assert_int_equal(sx->m[M_STATUS(5)], VIO_BLK_S_OK);
	assert_int_equal(sx->ts.ram[5 * SECTOR], 0x45);
}

/* ... a failed flush fails the write. */
static void t_fua_flush_failure_is_ioerr(void **state)
{
	struct sx *sx = *state;
	unsigned got[NREQ];

	sx->ts.s.caps &= ~VIO_BLK_STORAGE_CAN_FUA;
	sx->drv_features = ~(VIO_BIT(VIO_BLK_F_FLUSH) | VIO_BIT(VIO_BLK_F_CONFIG_WCE));
	up(sx, 0, 0);
	post_write(sx, 2);
	kick(sx);
	ts_complete(&sx->ts, 0, 0, 0);
	assert_int_equal(reap(sx, got, NULL, NREQ), 0);
	ts_complete(&sx->ts, 0, 0, -EIO);
	assert_int_equal(reap(sx, got, NULL, NREQ), 1);
	assert_int_equal(sx->m[M_STATUS(2)], VIO_BLK_S_IOERR);
}

/* With FUA of its own the storage gets the flag and no flush; in
 * writeback mode (FLUSH negotiated) neither. */
static void t_fua_native_and_writeback(void **state)
{
	struct sx *sx = *state;
	unsigned got[NREQ];

	sx->drv_features = ~(VIO_BIT(VIO_BLK_F_FLUSH) | VIO_BIT(VIO_BLK_F_CONFIG_WCE));
	up(sx, 0, 0);
	post_write(sx, 1);
	kick(sx);
	ts_complete(&sx->ts, 0, 0, 0);
	assert_int_equal(reap(sx, got, NULL, NREQ), 1);
	assert_int_equal(ts_nlog(&sx->ts, 0), 1);
	assert_int_equal(ts_log(&sx->ts, 0, 0).flags, VIO_BLK_STORAGE_REQ_FUA);
	vio_bus_remove_device(&sx->bus, D(sx));
	vio_bus_unregister_driver(&sx->bus, &sx->drv);
	vio_loopback_fini(&sx->lb);
	vio_blk_dev_fini(&sx->blk);
	sx->up = false;

	sx->ts.s.caps &= ~VIO_BLK_STORAGE_CAN_FUA;
	sx->drv_features = ~UINT64_C(0);
	up(sx, 0, 0);
	assert_false(vio_blk_dev_writethrough(&sx->blk));
	post_write(sx, 1);
	kick(sx);
	ts_complete(&sx->ts, 0, 0, 0);
	assert_int_equal(reap(sx, got, NULL, NREQ), 1);
	assert_int_equal(ts_nlog(&sx->ts, 0), 1);
	assert_int_equal(ts_log(&sx->ts, 0, 0).flags, 0);
}

/* Depth 4, twelve requests: never more than four at the storage, and the
 * rest are taken as slots come free. */
static void t_depth_never_exceeded(void **state)
{
	struct sx *sx = *state;
	unsigned got[NREQ], total = 0;

	up(sx, F_IN_ORDER, 4);
	for (unsigned i = 0; i < 12; i++)
		post_read(sx, i);
	kick(sx);
	assert_int_equal(ts_pending(&sx->ts, 0), 4);
	for (int rounds = 0; total < 12 && rounds < 20; rounds++) {
		/* Out of order, so slots free while elders still wait. */
		unsigned n = ts_pending(&sx->ts, 0);

		for (unsigned k = n; k > 0; k--)
			ts_complete(&sx->ts, 0, k - 1, 0);
		total += reap(sx, got + 0, NULL, NREQ);
	}
	assert_int_equal(total, 12);
	assert_int_equal(ts_max_held(&sx->ts, 0), 4);
	for (unsigned i = 0; i < 12; i++)
		check_read(sx, i);
}

struct later {
	struct ts *ts;
	pthread_t tid;
};

/* Completes everything on queue 0 after 50 ms, from another thread: the
 * storage ending what the device waits for. */
static void *complete_later(void *arg)
{
	struct later *l = arg;

	usleep(50000);
	ts_complete_all(l->ts, 0);
	return NULL;
}

/* A device reset with requests at the storage waits for them (and
 * answers them) before it returns. */
static void t_reset_drains(void **state)
{
	struct sx *sx = *state;
	struct later l = { .ts = &sx->ts };

	up(sx, 0, 0);
	for (unsigned i = 0; i < 3; i++)
		post_read(sx, i);
	kick(sx);
	assert_int_equal(ts_pending(&sx->ts, 0), 3);
	assert_int_equal(pthread_create(&l.tid, NULL, complete_later, &l), 0);
	vio_drv_reset(D(sx));
	/* Nothing is left at the storage, and each was answered. */
	assert_int_equal(ts_pending(&sx->ts, 0), 0);
	assert_int_equal(sx->ts.q[0].nready, 0);
	for (unsigned i = 0; i < 3; i++)
		check_read(sx, i);
	pthread_join(l.tid, NULL);
}

/* Stopping the ring (vhost-user's GET_VRING_BASE) with requests in
 * flight: they end and are used first, so the bases say nothing is
 * outstanding. */
static void t_ring_stop_drains(void **state)
{
	struct sx *sx = *state;
	struct later l = { .ts = &sx->ts };
	uint16_t avail, used;

	up(sx, F_IN_ORDER, 0);
	for (unsigned i = 0; i < 3; i++)
		post_read(sx, i);
	kick(sx);
	assert_int_equal(ts_pending(&sx->ts, 0), 3);
	ts_complete(&sx->ts, 0, 2, 0);  /* the youngest, held for its elders */
	assert_int_equal(pthread_create(&l.tid, NULL, complete_later, &l), 0);
	vio_loopback_lock(&sx->lb);
	assert_int_equal(vio_dev_queue_stop(&sx->blk.dev, 0, &avail, &used), 0);
	vio_loopback_unlock(&sx->lb);
	pthread_join(l.tid, NULL);
	assert_int_equal(ts_pending(&sx->ts, 0), 0);
	assert_int_equal(avail, used);
	for (unsigned i = 0; i < 3; i++)
		check_read(sx, i);
}

/* A storage with max_transfer 4096: a 16 KiB write and read, on spans
 * that do not line up with the pieces, go as four steps each, and the
 * bytes land where they belong. */
static void t_max_transfer_pieces(void **state)
{
	struct sx *sx = *state;
	const uint32_t len = 16384;
	unsigned got[NREQ];
	uint64_t sum = 0;

	sx->ts.s.max_transfer = 4096;
	sx->ts.immediate = true;
	up(sx, 0, 0);
	for (unsigned i = 0; i < len; i++)
		sx->m[M_BIG + i] = (uint8_t)(i * 13 + 1);
	{
		struct vio_sg out[3] = { sg(sx, M_HDR(0), 16), sg(sx, M_BIG, 3000),
					 sg(sx, M_BIG + 3000, len - 3000) };
		struct vio_sg in = sg(sx, M_STATUS(0), 1);

		put_hdr(sx, 0, VIO_BLK_T_OUT, 8);
		assert_int_equal(vio_drvq_add(&sx->vqs[0].q, out, 3, &in, 1, &sx->tokens[0]), 0);
	}
	kick(sx);
	assert_int_equal(reap(sx, got, NULL, NREQ), 1);
	assert_int_equal(sx->m[M_STATUS(0)], VIO_BLK_S_OK);
	assert_int_equal(ts_nlog(&sx->ts, 0), 4);
	for (unsigned k = 0; k < 4; k++) {
		struct ts_op op = ts_log(&sx->ts, 0, k);

		assert_int_equal(op.op, VIO_BLK_STORAGE_WRITE);
		assert_true(op.len <= 4096);
		assert_int_equal(op.off, 8 * SECTOR + sum);
		sum += op.len;
	}
	assert_int_equal(sum, len);
	assert_memory_equal(sx->ts.ram + 8 * SECTOR, sx->m + M_BIG, len);
	/* Read it back into other spans. */
	memset(sx->m + M_BIG, 0, len);
	{
		struct vio_sg out = sg(sx, M_HDR(1), 16);
		struct vio_sg in[3] = { sg(sx, M_BIG, 5000), sg(sx, M_BIG + 5000, len - 5000),
					sg(sx, M_STATUS(1), 1) };

		put_hdr(sx, 1, VIO_BLK_T_IN, 8);
		assert_int_equal(vio_drvq_add(&sx->vqs[0].q, &out, 1, in, 3, &sx->tokens[1]), 0);
	}
	kick(sx);
	assert_int_equal(reap(sx, got, NULL, NREQ), 1);
	assert_int_equal(sx->m[M_STATUS(1)], VIO_BLK_S_OK);
	assert_int_equal(ts_nlog(&sx->ts, 0), 8);
	assert_memory_equal(sx->ts.ram + 8 * SECTOR, sx->m + M_BIG, len);
}

/* A discard of three segments: one storage step at a time. */
static void t_discard_segments_one_at_a_time(void **state)
{
	struct sx *sx = *state;
	struct vio_blk_discard_write_zeroes seg[3];
	unsigned got[NREQ];

	up(sx, 0, 0);
	for (unsigned i = 0; i < 3; i++)
		seg[i] = (struct vio_blk_discard_write_zeroes){
			.sector = vio_cpu_to_le64(100 + 10 * i),
			.num_sectors = vio_cpu_to_le32(2),
		};
	memcpy(sx->m + M_DATA(0), seg, sizeof(seg));
	{
		struct vio_sg out[2] = { sg(sx, M_HDR(0), 16), sg(sx, M_DATA(0), sizeof(seg)) };
		struct vio_sg in = sg(sx, M_STATUS(0), 1);

		put_hdr(sx, 0, VIO_BLK_T_DISCARD, 0);
		assert_int_equal(vio_drvq_add(&sx->vqs[0].q, out, 2, &in, 1, &sx->tokens[0]), 0);
	}
	kick(sx);
	for (unsigned i = 0; i < 3; i++) {
		struct ts_op op;

		assert_int_equal(ts_pending(&sx->ts, 0), 1);
		op = ts_log(&sx->ts, 0, i);
		assert_int_equal(op.op, VIO_BLK_STORAGE_DISCARD);
		assert_int_equal(op.off, (100 + 10 * i) * SECTOR);
		assert_int_equal(op.len, 2 * SECTOR);
		ts_complete(&sx->ts, 0, 0, 0);
		assert_int_equal(reap(sx, got, NULL, NREQ), i == 2 ? 1 : 0);
	}
	assert_int_equal(sx->m[M_STATUS(0)], VIO_BLK_S_OK);
}

/* Config space from the storage: read-only, block size, optimal I/O
 * size, and DISCARD/WRITE_ZEROES offered only when the storage can. */
static void t_config_from_storage(void **state)
{
	struct sx *sx = *state;
	struct vio_blk_dev blk;
	struct vio_blk_dev_opts o = {
		.backend = VIO_BLK_BACKEND_STORAGE,
		.storage = &sx->ts.s,
	};

	sx->ts.s.read_only = true;
	sx->ts.s.block_size = 4096;
	sx->ts.s.opt_io_size = 65536;
	sx->ts.s.caps = VIO_BLK_STORAGE_CAN_FLUSH;
	assert_int_equal(vio_blk_dev_init(&blk, &o), 0);
	assert_true(vio_has_feature(blk.dev.host_features, VIO_BLK_F_RO));
	assert_true(vio_has_feature(blk.dev.host_features, VIO_BLK_F_FLUSH));
	assert_false(vio_has_feature(blk.dev.host_features, VIO_BLK_F_DISCARD));
	assert_false(vio_has_feature(blk.dev.host_features, VIO_BLK_F_WRITE_ZEROES));
	assert_int_equal(vio_le32_to_cpu(blk.config.blk_size), 4096);
	assert_int_equal(vio_le32_to_cpu(blk.config.topology.opt_io_size), 16);
	assert_int_equal(vio_le64_to_cpu(blk.config.capacity), DISK / SECTOR);
	vio_blk_dev_fini(&blk);
	/* A storage without submit is refused. */
	{
		struct vio_blk_storage_ops ops = *sx->ts.s.ops;
		struct vio_blk_storage bad = sx->ts.s;

		ops.submit = NULL;
		bad.ops = &ops;
		o.storage = &bad;
		assert_int_equal(vio_blk_dev_init(&blk, &o), -EINVAL);
		o.storage = NULL;
		assert_int_equal(vio_blk_dev_init(&blk, &o), -EINVAL);
	}
}

/* ------------------------------------------------------------------------ */

#define T(fn) { #fn, fn }

static const struct {
	const char *name;
	CMUnitTestFunction fn;
} cases[] = {
	T(t_in_order_holds_completions),
	T(t_no_in_order_used_as_completed),
	T(t_storage_error_is_ioerr),
	T(t_fua_emulated_by_flush),
	T(t_fua_flush_failure_is_ioerr),
	T(t_fua_native_and_writeback),
	T(t_depth_never_exceeded),
	T(t_reset_drains),
	T(t_ring_stop_drains),
	T(t_max_transfer_pieces),
	T(t_discard_segments_one_at_a_time),
	T(t_config_from_storage),
};

int main(void)
{
	struct CMUnitTest tests[ARRAY_LEN(cases) * ARRAY_LEN(layouts)];
	static char names[ARRAY_LEN(cases) * ARRAY_LEN(layouts)][96];
	size_t n = 0;

	for (size_t l = 0; l < ARRAY_LEN(layouts); l++)
		for (size_t c = 0; c < ARRAY_LEN(cases); c++, n++) {
			snprintf(names[n], sizeof(names[n]), "%s [%s]", cases[c].name,
				 layouts[l].name);
			tests[n] = (struct CMUnitTest){ names[n], cases[c].fn, sx_setup, sx_teardown,
							(void *)&layouts[l] };
		}
	return _cmocka_run_group_tests("blk_storage", tests, n, NULL, NULL);
}
