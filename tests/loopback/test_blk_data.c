/*
 * test_blk_data.c - data through the virtio-blk driver and device on every
 * row of the matrix and every backend: read/write patterns, split
 * transfers, flush, discard, write zeroes, many requests in flight.
 *
 * Siblings, all in tests/loopback/: test_blk_data.c (data through every
 * backend), test_blk_driver.c (the driver's features and life cycle),
 * test_blk_malformed.c (broken requests posted raw), test_blk_backend.c
 * (backend errors and rare answers), test_blk_device.c (the device alone);
 * the matrix and the fixture are blk_fixture.{c,h}.
 */

#include "blk_fixture.h"

static void t_rw_patterns(void **state)
{
	struct fx *fx = *state;
	static const struct {
		uint64_t sector;
		size_t len;
	} cases[] = {
		{ 0, SECTOR },                          /* first sector */
		{ DISK_SECTORS - 1, SECTOR },           /* last sector */
		{ 1, 3 * SECTOR },                      /* unaligned to blocks */
		{ 100, 64 * 1024 },
		{ 1000, 256 * 1024 },
		{ DISK_SECTORS - 128, 128 * SECTOR },   /* up to the very end */
	};
	struct vio_blk_queue_stats s;
	uint64_t bytes = 0;

	fx_up(fx);
	for (unsigned i = 0; i < ARRAY_LEN(cases); i++) {
		write_check(fx, cases[i].sector, cases[i].len, i);
		bytes += cases[i].len;
	}
	/* Rewriting keeps the neighbours: sector 0 again, other data. */
	write_check(fx, 0, SECTOR, 77);
	bytes += SECTOR;
	stats(fx, 0, &s);
	assert_int_equal(s.bytes_written, bytes);
	assert_int_equal(s.bytes_read, bytes);
	assert_int_equal(s.ioerr + s.unsupp + s.unanswered, 0);
}

/* A transfer bigger than the device takes in one request is split. */
static void t_rw_split_transfer(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;

	fx->dopts.seg_max = 4;
	fx->dopts.size_max = 4096;
	fx_up(fx);
	assert_int_equal(vio_blk_drv_max_transfer(D(fx)), 4 * 4096);
	write_check(fx, 7, 100 * 1024, 3);
	stats(fx, 0, &s);
	/* 100 KiB in requests of at most 16 KiB: 7 each way. */
	assert_int_equal(s.writes, 7);
	assert_int_equal(s.reads, 7);
}

static void t_flush(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;

	fx_up(fx);
	write_check(fx, 9, 4096, 1);
	assert_int_equal(vio_blk_drv_flush(D(fx)), 0);
	stats(fx, 0, &s);
	assert_int_equal(s.flushes, 1);
	assert_int_equal(s.writes, 1);
}

/* Writes a pattern over [0, 64), runs op on [16, 48), checks the result. */
static void range_op_check(struct fx *fx, int (*op)(struct fx *fx))
{
	const size_t len = 64 * SECTOR;
	uint8_t *w = vio_blk_drv_alloc_buffer(D(fx), len);
	uint8_t *r = vio_blk_drv_alloc_buffer(D(fx), len);
	uint8_t *b = malloc(len);

	assert_non_null(w);
	assert_non_null(r);
	assert_non_null(b);
	fill_pattern(w, 0, len, 5);
	assert_int_equal(vio_blk_drv_write(D(fx), 0, w, len), 0);
	assert_int_equal(op(fx), 0);
	assert_int_equal(vio_blk_drv_read(D(fx), 0, r, len), 0);
	backing_read(fx, 0, b, len);
	for (const uint8_t *p = r; p; p = p == r ? b : NULL) {
		check_pattern(p, 0, 16 * SECTOR, 5);
		check_value(p + 16 * SECTOR, 32 * SECTOR, 0);
		for (size_t i = 48 * SECTOR; i < len; i++)
			assert_int_equal(p[i], pattern(0, i, 5));
	}
	free(b);
	vio_blk_drv_free_buffer(D(fx), r, len);
	vio_blk_drv_free_buffer(D(fx), w, len);
}

static int op_discard(struct fx *fx)
{
	return vio_blk_drv_discard(D(fx), 16, 32);
}

static int op_zeroes(struct fx *fx)
{
	return vio_blk_drv_write_zeroes(D(fx), 16, 32, false);
}

static int op_zeroes_unmap(struct fx *fx)
{
	return vio_blk_drv_write_zeroes(D(fx), 16, 32, true);
}

static void t_discard(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;

	fx_up(fx);
	range_op_check(fx, op_discard);
	stats(fx, 0, &s);
	assert_int_equal(s.discards, 1);
}

static void t_write_zeroes(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;

	fx_up(fx);
	range_op_check(fx, op_zeroes);
	stats(fx, 0, &s);
	assert_int_equal(s.write_zeroes, 1);
}

static void t_write_zeroes_unmap(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;

	fx_up(fx);
	range_op_check(fx, op_zeroes_unmap);
	stats(fx, 0, &s);
	assert_int_equal(s.write_zeroes, 1);
}

/* A discard bigger than one range: split into ranges of max_discard_sectors. */
static void t_discard_many_ranges(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;

	fx->dopts.max_discard_sectors = 8;
	fx->dopts.max_discard_seg = 2;
	fx_up(fx);
	/* 32 sectors = 4 ranges of 8 = 2 requests of 2 ranges. */
	range_op_check(fx, op_discard);
	stats(fx, 0, &s);
	assert_int_equal(s.discards, 2);
}

/* Posts n requests of 4 KiB, as many as fit before kicking; returns the
 * most that were in flight at once. */
static unsigned async_batch(struct fx *fx, uint32_t type, uint8_t *buf, unsigned n, struct actx *c)
{
	unsigned most = 0;

	for (unsigned i = 0; i < n; i++) {
		struct vio_blk_drv_io io = {
			.type = type, .sector = (uint64_t)i * 8, .buf = buf + (size_t)i * 4096,
			.len = 4096, .done = async_done, .opaque = c,
		};
		int r;

		while ((r = vio_blk_drv_enqueue(D(fx), &io)) == -ENOSPC) {
			vio_blk_drv_kick(D(fx));
			assert_true(vio_blk_drv_wait(D(fx), TIMEOUT_MS) >= 0);
		}
		assert_int_equal(r, 0);
		if (vio_blk_drv_inflight(D(fx)) > most)
			most = vio_blk_drv_inflight(D(fx));
	}
	vio_blk_drv_kick(D(fx));
	while (vio_blk_drv_inflight(D(fx)))
		assert_true(vio_blk_drv_wait(D(fx), TIMEOUT_MS) >= 0);
	return most;
}

static void t_async_depth(void **state)
{
	enum { N = 96 };
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;
	struct actx c = { 0 };
	uint8_t *buf;

	fx_up(fx);
	buf = vio_blk_drv_alloc_buffer(D(fx), N * 4096);
	assert_non_null(buf);
	for (unsigned i = 0; i < N; i++)
		fill_pattern(buf + i * 4096, i * 8, 4096, 9);
	assert_true(async_batch(fx, VIO_BLK_T_OUT, buf, N, &c) >= 64);
	assert_int_equal(c.done, N);
	assert_int_equal(c.errors, 0);
	memset(buf, 0, N * 4096);
	memset(&c, 0, sizeof(c));
	assert_true(async_batch(fx, VIO_BLK_T_IN, buf, N, &c) >= 64);
	assert_int_equal(c.done, N);
	assert_int_equal(c.errors, 0);
	for (unsigned i = 0; i < N; i++)
		check_pattern(buf + i * 4096, i * 8, 4096, 9);
	stats(fx, 0, &s);
	assert_int_equal(s.writes, N);
	assert_int_equal(s.reads, N);
	/* The device took them in rounds, not one by one. */
	assert_true(s.max_batch > 1);
	assert_true(all_free(D(fx)));
}

static void t_backend_kind(void **state)
{
	struct fx *fx = *state;
	bool uring = fx->row->be->type == VIO_BLK_BACKEND_FILE && !fx->row->be->no_io_uring;
	struct statfs sf;

	/* Files on a memory filesystem are served without io_uring. */
	assert_int_equal(statfs(tmpdir, &sf), 0);
	if (sf.f_type == 0x01021994 || sf.f_type == (long)0x858458f6)
		uring = false;
	fx_up(fx);
	assert_int_equal(vio_blk_dev_uses_io_uring(&fx->blk), uring);
	assert_int_equal(vio_blk_dev_capacity(&fx->blk), DISK_SECTORS);
	assert_int_equal(vio_blk_drv_capacity(D(fx)), DISK_SECTORS);
}

/* Run on every backend. */
static const struct named_test data_tests[] = {
	T(t_rw_patterns),
	T(t_rw_split_transfer),
	T(t_flush),
	T(t_discard),
	T(t_write_zeroes),
	T(t_write_zeroes_unmap),
	T(t_discard_many_ranges),
	T(t_async_depth),
	T(t_backend_kind),
};

int main(void)
{
	static const struct blk_tables t = {
		.data = data_tests, .ndata = ARRAY_LEN(data_tests),
	};

	return blk_run("lb_blk_data", &t);
}
