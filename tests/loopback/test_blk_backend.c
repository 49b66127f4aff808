/*
 * test_blk_backend.c - backend errors and answers a good driver never
 * provokes: failing reads and writes of the file backends, requests past
 * the end, and what the device says back.
 *
 * Siblings, all in tests/loopback/: test_blk_data.c (data through every
 * backend), test_blk_driver.c (the driver's features and life cycle),
 * test_blk_malformed.c (broken requests posted raw), test_blk_backend.c
 * (backend errors and rare answers), test_blk_device.c (the device alone);
 * the matrix and the fixture are blk_fixture.{c,h}.
 */

#include "blk_fixture.h"

/* Backend errors and answers a good driver never provokes                  */
/* A disk on /dev/full: reads give zeroes, writes fail with ENOSPC, which
 * the device answers IOERR and the driver reports as -EIO. */
static void t_backend_error(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;
	uint8_t *buf;

	fx->extra_fd = open("/dev/full", O_RDWR | O_CLOEXEC);
	assert_true(fx->extra_fd >= 0);
	fx->dopts.backend = VIO_BLK_BACKEND_FILE;
	fx->dopts.ram = NULL;
	fx->dopts.path = NULL;
	fx->dopts.fd = fx->extra_fd;
	fx->dopts.size = 1u << 20; /* a character device has no size of its own */
	fx_up(fx);
	buf = vio_blk_drv_alloc_buffer(D(fx), 4096);
	assert_non_null(buf);
	memset(buf, 0x55, 4096);
	assert_int_equal(vio_blk_drv_write(D(fx), 8, buf, 4096), -EIO);
	assert_logged(fx, "failed in the backend");
	assert_int_equal(vio_blk_drv_read(D(fx), 8, buf, 4096), 0);
	check_value(buf, 4096, 0);
	stats(fx, 0, &s);
	assert_int_equal(s.ioerr, 1);
	assert_int_equal(s.reads, 1);
	assert_int_equal(s.bytes_written, 0);
}

/* The null backend stores nothing: every request succeeds, and a read
 * returns zeroes whatever was written and whatever the buffer held. */
static void t_null_backend(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;
	uint8_t *buf;

	fx->dopts.backend = VIO_BLK_BACKEND_NULL;
	fx->dopts.ram = NULL;
	fx->dopts.size = DISK_BYTES;
	fx_up(fx);
	assert_int_equal(vio_blk_drv_capacity(D(fx)), DISK_SECTORS);
	buf = vio_blk_drv_alloc_buffer(D(fx), 8192);
	assert_non_null(buf);
	memset(buf, 0x55, 8192);
	assert_int_equal(vio_blk_drv_write(D(fx), 8, buf, 8192), 0);
	assert_int_equal(vio_blk_drv_flush(D(fx)), 0);
	assert_int_equal(vio_blk_drv_read(D(fx), 8, buf, 8192), 0);
	check_value(buf, 8192, 0);
	memset(buf, 0x66, 8192);
	assert_int_equal(vio_blk_drv_read(D(fx), DISK_SECTORS - 16, buf, 8192), 0);
	check_value(buf, 8192, 0);
	assert_int_equal(vio_blk_drv_discard(D(fx), 0, 64), 0);
	stats(fx, 0, &s);
	assert_int_equal(s.writes, 1);
	assert_int_equal(s.reads, 2);
	assert_int_equal(s.flushes, 1);
	assert_int_equal(s.discards, 1);
	assert_int_equal(s.bytes_read, 16384);
	assert_int_equal(s.ioerr + s.unsupp, 0);
	vio_blk_drv_free_buffer(D(fx), buf, 8192);
}

/* A device that answers UNSUPP to what was negotiated: -EOPNOTSUPP. The
 * device's negotiated DISCARD bit is cleared behind the driver's back. */
static void t_device_unsupp(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;

	fx_up(fx);
	fx_pause(fx);
	fx->blk.dev.features &= ~VIO_BIT(VIO_BLK_F_DISCARD);
	fx_resume(fx);
	assert_int_equal(vio_blk_drv_discard(D(fx), 0, 8), -EOPNOTSUPP);
	stats(fx, 0, &s);
	assert_int_equal(s.unsupp, 1);
	assert_logged(fx, "VIRTIO_BLK_F_DISCARD not negotiated");
}

/* Discard and write-zeroes with unmap give the file's blocks back. */
static void t_discard_deallocates(void **state)
{
	struct fx *fx = *state;
	const size_t len = 1u << 20;
	uint8_t *buf;
	struct stat before, after;

	fx_up(fx);
	buf = vio_blk_drv_alloc_buffer(D(fx), len);
	assert_non_null(buf);
	memset(buf, 0x99, len);
	for (unsigned k = 0; k < 2; k++) {
		assert_int_equal(vio_blk_drv_write(D(fx), 0, buf, len), 0);
		assert_int_equal(vio_blk_drv_flush(D(fx)), 0);
		assert_int_equal(stat(fx->path, &before), 0);
		assert_true(before.st_blocks * 512 >= (off_t)len);
		if (k == 0)
			assert_int_equal(vio_blk_drv_discard(D(fx), 0, len / SECTOR), 0);
		else
			assert_int_equal(vio_blk_drv_write_zeroes(D(fx), 0, len / SECTOR, true), 0);
		assert_int_equal(stat(fx->path, &after), 0);
		assert_true(after.st_blocks * 512 <= before.st_blocks * 512 - (off_t)len);
		assert_int_equal(vio_blk_drv_read(D(fx), 0, buf, len), 0);
		check_value(buf, len, 0);
		memset(buf, 0x99, len);
	}
}

/* A disk larger than its file: past the end of the file it reads zeroes,
 * also when the read starts before the end and io_uring returns it short. */
static void t_read_past_eof(void **state)
{
	struct fx *fx = *state;
	const size_t len = 64 * 1024;
	const uint64_t sector = DISK_SECTORS / 2 - 32; /* 16 KiB before the end of the file */
	uint8_t *w, *r;
	int fd;

	fd = open(fx->path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, DISK_BYTES / 2), 0);
	close(fd);
	fx->dopts.size = DISK_BYTES;
	fx_up(fx);
	assert_int_equal(vio_blk_drv_capacity(D(fx)), DISK_SECTORS);
	w = vio_blk_drv_alloc_buffer(D(fx), 16 * 1024);
	r = vio_blk_drv_alloc_buffer(D(fx), len);
	assert_non_null(w);
	assert_non_null(r);
	fill_pattern(w, sector, 16 * 1024, 8);
	assert_int_equal(vio_blk_drv_write(D(fx), sector, w, 16 * 1024), 0);
	memset(r, 0xcc, len);
	assert_int_equal(vio_blk_drv_read(D(fx), sector, r, len), 0);
	check_pattern(r, sector, 16 * 1024, 8);
	check_value(r + 16 * 1024, len - 16 * 1024, 0);
}

/* A device that hands a request back without writing its status byte:
 * the driver must not take that for success. The test plays the device. */
static void t_device_writes_no_status(void **state)
{
	struct fx *fx = *state;
	struct vio_iov out[8], in[8];
	struct vio_elem e = { .out = out, .out_cap = 8, .in = in, .in_cap = 8 };
	struct actx c = { 0 };
	struct vio_devq *vq;
	uint8_t *buf;

	fx_up(fx);
	buf = vio_blk_drv_alloc_buffer(D(fx), SECTOR);
	assert_non_null(buf);
	fx_pause(fx);
	assert_int_equal(vio_blk_drv_enqueue(D(fx), &(struct vio_blk_drv_io){
		.type = VIO_BLK_T_IN, .buf = buf, .len = SECTOR, .done = async_done,
		.opaque = &c }), 0);
	/* Publish the request without notifying (the test is the device). */
	vio_drvq_kick_prepare(&D(fx)->vqs[0].q);
	vq = vio_dev_vq(&fx->blk.dev, 0);
	assert_non_null(vq);
	assert_int_equal(vio_devq_pop(vq, &e), 0);
	assert_int_equal(e.in_len, SECTOR + 1);
	assert_int_equal(vio_devq_push(vq, &e, SECTOR + 1), 0);
	fx_resume(fx);
	assert_int_equal(vio_blk_drv_poll(D(fx)), 1);
	assert_int_equal(c.done, 1);
	assert_int_equal(c.errors, 1);
	assert_int_equal(vio_blk_drv_inflight(D(fx)), 0);
}

/* A synchronous call to a device that stopped (NEEDS_RESET) fails with
 * -EIO instead of waiting forever. */
static void t_sync_call_device_needs_reset(void **state)
{
	struct fx *fx = *state;
	uint8_t *buf;

	fx_up(fx);
	buf = vio_blk_drv_alloc_buffer(D(fx), SECTOR);
	assert_non_null(buf);
	fx_pause(fx);
	vio_dev_needs_reset(&fx->blk.dev, "test: the device gives up");
	fx_resume(fx);
	assert_int_equal(vio_blk_drv_read(D(fx), 0, buf, SECTOR), -EIO);
	/* Reset and rebind: the abandoned request is taken back. */
	vio_drv_unbind(D(fx));
	assert_int_equal(vio_drv_bind(D(fx)), 0);
	assert_int_equal(vio_blk_drv_read(D(fx), 0, buf, SECTOR), 0);
}

/* A synchronous call gives up at its timeout (threaded: the device thread
 * is parked); a late completion then runs no callback. Direct mode
 * completes inside the kick, well within the timeout. */
static void t_sync_call_timeout(void **state)
{
	struct fx *fx = *state;
	const bool threaded = fx->row->mode->threaded;
	uint8_t *buf;

	fx->ropts.timeout_ms = 200;
	fx_up(fx);
	buf = vio_blk_drv_alloc_buffer(D(fx), SECTOR);
	assert_non_null(buf);
	fx_pause(fx);
	assert_int_equal(vio_blk_drv_read(D(fx), 0, buf, SECTOR), threaded ? -ETIMEDOUT : 0);
	assert_int_equal(vio_blk_drv_inflight(D(fx)), threaded ? 1 : 0);
	fx_resume(fx);
	while (vio_blk_drv_inflight(D(fx)))
		assert_true(vio_blk_drv_wait(D(fx), TIMEOUT_MS) >= 0);
	assert_true(all_free(D(fx)));
	fx->ram[0] = 0x3c;
	assert_int_equal(vio_blk_drv_read(D(fx), 0, buf, SECTOR), 0);
	assert_int_equal(buf[0], 0x3c);
}

/* Run on the file backends. */
static const struct named_test file_tests[] = {
	T(t_discard_deallocates),
	T(t_read_past_eof),
};

/* Run on RAM. */
static const struct named_test ram_tests[] = {
	T(t_backend_error),
	T(t_null_backend),
	T(t_device_unsupp),
	T(t_device_writes_no_status),
	T(t_sync_call_device_needs_reset),
	T(t_sync_call_timeout),
};

int main(void)
{
	static const struct blk_tables t = {
		.file = file_tests, .nfile = ARRAY_LEN(file_tests),
		.ram = ram_tests, .nram = ARRAY_LEN(ram_tests),
	};

	return blk_run("lb_blk_backend", &t);
}
