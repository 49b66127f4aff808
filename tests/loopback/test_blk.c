/*
 * test_blk.c - the virtio-blk driver against the virtio-blk device over the
 * loopback transport.
 *
 * One suite, run for every row of the transport matrix: direct and
 * threaded loopback, split and packed rings, EVENT_IDX on and off,
 * indirect descriptors on and off (the tables below; their cross product
 * makes the rows). Tests that move data also run on each backend: RAM,
 * a file through io_uring, and a file through preadv/pwritev. Each test
 * checks data end to end: what the driver wrote is read back through the
 * driver and is also found in the backing store itself (the caller's RAM
 * or the file, read with pread).
 *
 * Groups:
 *   data      read/write patterns, split transfers, flush, discard, write
 *             zeroes, many requests in flight (per backend)
 *   driver    GET_ID, config, read-only, multiqueue, cache mode, refusals,
 *             features not negotiated, reset in the middle of I/O, legacy
 *   malformed one test per broken request. A "raw" driver binds instead
 *             of the blk driver and posts hand-made chains with
 *             vio_drvq_add() on its queue; the test checks the status byte
 *             and used length the device returns, that the backing store
 *             was not touched, that a log line says why, and that the
 *             device still serves a good request afterwards. These use
 *             only the public ring API, so they run on every layout too.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "layouts.h"

#include "vio/devices.h"
#include "vio/drivers.h"
#include "vio/transport.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define V1 VIO_BIT(VIO_F_VERSION_1)
#define SECTOR 512u
#define DISK_BYTES (4u << 20)
#define DISK_SECTORS (DISK_BYTES / SECTOR)
#define ARENA_BYTES (16u << 20)
#define SERIAL "vio-blk-test-0042"
#define TIMEOUT_MS 20000

/* ======================================================================== */
/* The matrix                                                               */

struct mode {
	const char *name;
	bool threaded;
};

static const struct mode modes[] = {
	{ "direct", false },
	{ "threaded", true },
};

/* The ring layouts: tests/lib/layouts.h. */

struct toggle {
	const char *name;
	uint64_t features;
};

static const struct toggle event_idx[] = {
	{ "noevt", 0 },
	{ "evt", VIO_BIT(VIO_F_EVENT_IDX) },
};

static const struct toggle indirect[] = {
	{ "noind", 0 },
	{ "ind", VIO_BIT(VIO_F_INDIRECT_DESC) },
};

struct backend {
	const char *name;
	enum vio_blk_backend_type type;
	bool no_io_uring;
};

static const struct backend backends[] = {
	{ "ram", VIO_BLK_BACKEND_RAM, false },
	{ "file-uring", VIO_BLK_BACKEND_FILE, false },
	{ "file-sync", VIO_BLK_BACKEND_FILE, true },
};

/* One row: a transport combination and a backend. */
struct row {
	const struct mode *mode;
	uint64_t ring;                  /* ring features the device offers */
	const struct backend *be;
};

static char tmpdir[] = "/tmp/vio-blk-XXXXXX";
static unsigned file_seq;

/* ======================================================================== */
/* Fixture                                                                  */

struct fx {
	const struct row *row;
	/* Tests adjust these before fx_up(). */
	struct vio_blk_dev_opts dopts;
	struct vio_blk_drv_opts ropts;
	bool raw;                       /* bind the raw driver, not blk */
	uint64_t raw_features;          /* 0: everything the device offers */
	unsigned raw_nvqs;

	uint8_t *ram;                   /* RAM backend: the test's memory */
	int extra_fd;                   /* a test's own fd, closed at teardown */
	char path[256];                 /* FILE backend */
	struct vio_blk_dev blk;
	struct vio_loopback lb;
	struct vio_bus bus;
	struct vio_blk_driver drv;
	struct vio_driver rawdrv;
	uint32_t rawids[2];
	struct vio_drv_vq rawvqs[4];
	uint8_t *m;                     /* raw tests: DMA scratch */
	uint64_t m_dma;
	bool blk_up, lb_up, bus_up, thread_up;

	pthread_t thread;
	int stop, pause, parked;        /* atomics */

	pthread_mutex_t log_lock;
	unsigned nlogs;
	char last_log[512];
};

static struct vio_drv_device *D(struct fx *fx)
{
	return &fx->lb.vdev;
}

static void test_log(void *opaque, enum vio_log_level level, const char *msg)
{
	struct fx *fx = opaque;

	pthread_mutex_lock(&fx->log_lock);
	fx->nlogs++;
	snprintf(fx->last_log, sizeof(fx->last_log), "%s", msg);
	pthread_mutex_unlock(&fx->log_lock);
}

static unsigned nlogs(struct fx *fx)
{
	unsigned n;

	pthread_mutex_lock(&fx->log_lock);
	n = fx->nlogs;
	pthread_mutex_unlock(&fx->log_lock);
	return n;
}

/* The last log line mentions `what`. */
static void assert_logged(struct fx *fx, const char *what)
{
	char line[512];

	pthread_mutex_lock(&fx->log_lock);
	snprintf(line, sizeof(line), "%s", fx->last_log);
	pthread_mutex_unlock(&fx->log_lock);
	if (!strstr(line, what))
		fail_msg("log line \"%s\" does not mention \"%s\"", line, what);
}

static void *xalloc(void *opaque, size_t n)
{
	return calloc(1, n);
}

static void xfree(void *opaque, void *p, size_t n)
{
	free(p);
}

/* The device thread of threaded mode; it parks while fx->pause is set. */
static void *dev_thread(void *arg)
{
	struct fx *fx = arg;
	struct pollfd p = { .fd = fx->lb.kick_fd, .events = POLLIN };

	while (!__atomic_load_n(&fx->stop, __ATOMIC_ACQUIRE)) {
		if (__atomic_load_n(&fx->pause, __ATOMIC_ACQUIRE)) {
			__atomic_store_n(&fx->parked, 1, __ATOMIC_RELEASE);
			usleep(200);
			continue;
		}
		if (poll(&p, 1, 5) > 0)
			vio_loopback_device_dispatch(&fx->lb);
	}
	return NULL;
}

static void fx_pause(struct fx *fx)
{
	if (!fx->thread_up)
		return;
	__atomic_store_n(&fx->parked, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&fx->pause, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&fx->parked, __ATOMIC_ACQUIRE))
		usleep(100);
}

static void fx_resume(struct fx *fx)
{
	__atomic_store_n(&fx->pause, 0, __ATOMIC_RELEASE);
}

/* Raw driver: queues without callbacks; the test reaps by hand. */
static int raw_probe(struct vio_drv_device *dev)
{
	struct fx *fx = (struct fx *)((char *)dev->driver - offsetof(struct fx, rawdrv));
	struct vio_drv_vq_info info[4];

	for (unsigned i = 0; i < fx->raw_nvqs; i++)
		info[i] = (struct vio_drv_vq_info){ .indirect_max = 8 };
	return vio_drv_find_vqs(dev, fx->raw_nvqs, info, fx->rawvqs);
}

static void raw_remove(struct vio_drv_device *dev)
{
	vio_drv_reset(dev);
	for (unsigned i = 0; i < dev->nvqs; i++)
		while (vio_drvq_detach_unused(&dev->vqs[i].q))
			;
	vio_drv_del_vqs(dev);
}

static int fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	const struct row *row = *state;

	if (!fx)
		return -1;
	fx->row = row;
	fx->extra_fd = -1;
	pthread_mutex_init(&fx->log_lock, NULL);
	fx->dopts.backend = row->be->type;
	fx->dopts.size = DISK_BYTES;
	fx->dopts.no_io_uring = row->be->no_io_uring;
	fx->dopts.serial = SERIAL;
	fx->dopts.ring_features = V1 | row->ring;
	fx->dopts.log = test_log;
	fx->dopts.log_opaque = fx;
	fx->ropts.timeout_ms = TIMEOUT_MS;
	fx->raw_nvqs = 1;
	if (row->be->type == VIO_BLK_BACKEND_RAM) {
		fx->ram = calloc(1, DISK_BYTES);
		fx->dopts.ram = fx->ram;
		if (!fx->ram)
			return -1;
	} else {
		int fd;

		snprintf(fx->path, sizeof(fx->path), "%s/disk%u.img", tmpdir, file_seq++);
		fd = open(fx->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || ftruncate(fd, DISK_BYTES) < 0)
			return -1;
		close(fd);
		fx->dopts.path = fx->path;
		fx->dopts.size = 0; /* the file's size */
	}
	*state = fx;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *fx = *state;

	if (fx->bus_up) {
		vio_bus_remove_device(&fx->bus, D(fx));
		if (fx->raw)
			vio_bus_unregister_driver(&fx->bus, &fx->rawdrv);
		else
			vio_blk_drv_unregister(&fx->bus, &fx->drv);
	}
	if (fx->thread_up) {
		fx_resume(fx);
		__atomic_store_n(&fx->stop, 1, __ATOMIC_RELEASE);
		pthread_join(fx->thread, NULL);
	}
	if (fx->lb_up)
		vio_loopback_fini(&fx->lb);
	if (fx->blk_up)
		vio_blk_dev_fini(&fx->blk);
	if (fx->path[0])
		unlink(fx->path);
	if (fx->extra_fd >= 0)
		close(fx->extra_fd);
	free(fx->ram);
	pthread_mutex_destroy(&fx->log_lock);
	free(fx);
	return 0;
}

/* Device, transport, bus and driver, with the options the test set. */
static void fx_up(struct fx *fx)
{
	assert_int_equal(vio_blk_dev_init(&fx->blk, &fx->dopts), 0);
	fx->blk_up = true;
	assert_int_equal(vio_loopback_init(&fx->lb, &fx->blk.dev, ARENA_BYTES,
					   fx->row->mode->threaded), 0);
	fx->lb_up = true;
	if (fx->row->mode->threaded) {
		assert_int_equal(pthread_create(&fx->thread, NULL, dev_thread, fx), 0);
		fx->thread_up = true;
	}
	vio_bus_init(&fx->bus, xalloc, xfree, NULL);
	if (fx->raw) {
		fx->rawids[0] = VIO_ID_BLOCK;
		fx->rawdrv = (struct vio_driver){
			.name = "raw",
			.ids = fx->rawids,
			.features = fx->raw_features ? fx->raw_features : ~UINT64_C(0),
			.probe = raw_probe,
			.remove = raw_remove,
		};
		assert_int_equal(vio_bus_register_driver(&fx->bus, &fx->rawdrv), 0);
	} else {
		assert_int_equal(vio_blk_drv_register(&fx->bus, &fx->drv, &fx->ropts), 0);
	}
	assert_int_equal(vio_bus_add_device(&fx->bus, D(fx)), 0);
	fx->bus_up = true;
	assert_non_null(D(fx)->driver);
	assert_true(vio_dev_get_status(&fx->blk.dev) & VIO_STATUS_DRIVER_OK);
	if (fx->raw) {
		fx->m = vio_drv_dma_alloc(D(fx), 65536, 4096, &fx->m_dma);
		assert_non_null(fx->m);
	}
}

/* Bytes of the backing store itself, not through virtio. */
static void backing_read(struct fx *fx, uint64_t off, void *dst, size_t len)
{
	if (fx->ram) {
		memcpy(dst, fx->ram + off, len);
	} else {
		int fd = open(fx->path, O_RDONLY | O_CLOEXEC);

		assert_true(fd >= 0);
		assert_int_equal(pread(fd, dst, len, (off_t)off), (ssize_t)len);
		close(fd);
	}
}

static void backing_fill(struct fx *fx, uint64_t off, uint8_t v, size_t len)
{
	if (fx->ram) {
		memset(fx->ram + off, v, len);
	} else {
		uint8_t *b = malloc(len);
		int fd = open(fx->path, O_RDWR | O_CLOEXEC);

		assert_non_null(b);
		assert_true(fd >= 0);
		memset(b, v, len);
		assert_int_equal(pwrite(fd, b, len, (off_t)off), (ssize_t)len);
		close(fd);
		free(b);
	}
}

static void stats(struct fx *fx, unsigned qi, struct vio_blk_queue_stats *s)
{
	assert_int_equal(vio_blk_dev_stats(&fx->blk, qi, s), 0);
}

static uint8_t pattern(uint64_t sector, size_t i, unsigned seed)
{
	return (uint8_t)(sector * 131 + i * 7 + seed * 29 + (i >> 9));
}

static void fill_pattern(uint8_t *p, uint64_t sector, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern(sector, i, seed);
}

static void check_pattern(const uint8_t *p, uint64_t sector, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern(sector, i, seed))
			fail_msg("byte %zu of sector %llu: %#x, want %#x", i,
				 (unsigned long long)sector, p[i], pattern(sector, i, seed));
}

static void check_value(const uint8_t *p, size_t len, uint8_t v)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != v)
			fail_msg("byte %zu is %#x, want %#x", i, p[i], v);
}

static bool all_free(struct vio_drv_device *dev)
{
	for (unsigned i = 0; i < dev->nvqs; i++)
		if (vio_drvq_num_free(&dev->vqs[i].q) != dev->vqs[i].q.size)
			return false;
	return true;
}

/* ======================================================================== */
/* Data tests (every backend)                                               */

/* Writes a pattern, reads it back through virtio and the backing store. */
static void write_check(struct fx *fx, uint64_t sector, size_t len, unsigned seed)
{
	uint8_t *w = vio_blk_drv_alloc_buffer(D(fx), len);
	uint8_t *r = vio_blk_drv_alloc_buffer(D(fx), len);
	uint8_t *b = malloc(len);

	assert_non_null(w);
	assert_non_null(r);
	assert_non_null(b);
	fill_pattern(w, sector, len, seed);
	assert_int_equal(vio_blk_drv_write(D(fx), sector, w, len), 0);
	memset(r, 0xa5, len);
	assert_int_equal(vio_blk_drv_read(D(fx), sector, r, len), 0);
	check_pattern(r, sector, len, seed);
	backing_read(fx, sector * SECTOR, b, len);
	check_pattern(b, sector, len, seed);
	free(b);
	vio_blk_drv_free_buffer(D(fx), r, len);
	vio_blk_drv_free_buffer(D(fx), w, len);
}

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

struct actx {
	unsigned done, errors, canceled;
};

static void async_done(void *opaque, int err)
{
	struct actx *c = opaque;

	c->done++;
	if (err == -ECANCELED)
		c->canceled++;
	else if (err)
		c->errors++;
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

/* ======================================================================== */
/* Driver tests (RAM)                                                       */

static void t_get_id(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;
	char id[VIO_BLK_ID_BYTES + 1];

	fx_up(fx);
	memset(id, 'x', sizeof(id));
	assert_int_equal(vio_blk_drv_get_id(D(fx), id), 0);
	assert_string_equal(id, SERIAL);
	stats(fx, 0, &s);
	assert_int_equal(s.get_ids, 1);
}

/* An id of exactly 20 bytes has no NUL on the wire. */
static void t_get_id_20_bytes(void **state)
{
	struct fx *fx = *state;
	char id[VIO_BLK_ID_BYTES + 1];

	fx->dopts.serial = "ABCDEFGHIJKLMNOPQRST";
	fx_up(fx);
	assert_int_equal(vio_blk_drv_get_id(D(fx), id), 0);
	assert_string_equal(id, "ABCDEFGHIJKLMNOPQRST");
}

static void t_config(void **state)
{
	struct fx *fx = *state;

	fx->dopts.blk_size = 4096;
	fx->dopts.seg_max = 8;
	fx_up(fx);
	assert_int_equal(vio_blk_drv_capacity(D(fx)), DISK_SECTORS);
	assert_int_equal(vio_blk_drv_block_size(D(fx)), 4096);
	assert_int_equal(vio_blk_drv_num_queues(D(fx)), 1);
	assert_false(vio_blk_drv_read_only(D(fx)));
	/* No SIZE_MAX: one segment may carry the whole transfer limit. */
	assert_int_equal(vio_blk_drv_max_transfer(D(fx)), 1u << 30);
	assert_true(vio_drv_has_feature(D(fx), VIO_BLK_F_DISCARD));
	assert_true(vio_drv_has_feature(D(fx), VIO_BLK_F_WRITE_ZEROES));
	assert_true(vio_drv_has_feature(D(fx), VIO_BLK_F_FLUSH));
	assert_false(vio_drv_has_feature(D(fx), VIO_BLK_F_MQ));
	assert_false(vio_drv_has_feature(D(fx), VIO_BLK_F_SIZE_MAX));
	/* Legacy bits are defined but never offered. */
	assert_false(vio_dev_get_features(&fx->blk.dev) & VIO_BIT(VIO_BLK_F_BARRIER));
	assert_false(vio_dev_get_features(&fx->blk.dev) & VIO_BIT(VIO_BLK_F_SCSI));
}

static void t_ro_driver_refuses(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;
	struct vio_blk_drv_io io;
	uint8_t *buf;

	fx->dopts.read_only = true;
	fx_up(fx);
	buf = vio_blk_drv_alloc_buffer(D(fx), 4096);
	assert_non_null(buf);
	assert_true(vio_blk_drv_read_only(D(fx)));
	assert_int_equal(vio_blk_drv_write(D(fx), 0, buf, 4096), -EROFS);
	assert_int_equal(vio_blk_drv_discard(D(fx), 0, 8), -EROFS);
	assert_int_equal(vio_blk_drv_write_zeroes(D(fx), 0, 8, false), -EROFS);
	io = (struct vio_blk_drv_io){ .type = VIO_BLK_T_OUT, .buf = buf, .len = 4096,
				      .done = async_done };
	assert_int_equal(vio_blk_drv_submit(D(fx), &io), -EROFS);
	stats(fx, 0, &s);
	assert_int_equal(s.requests, 0); /* nothing reached the device */
	/* Reads still work. */
	fx->ram[0] = 0x5a;
	assert_int_equal(vio_blk_drv_read(D(fx), 0, buf, 4096), 0);
	assert_int_equal(buf[0], 0x5a);
}

/* Two queues, I/O on both, one disk behind them. */
static void t_multiqueue(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s0, s1;
	struct actx c = { 0 };
	uint8_t *w, *r;

	fx->dopts.num_queues = 2;
	fx_up(fx);
	assert_true(vio_drv_has_feature(D(fx), VIO_BLK_F_MQ));
	assert_int_equal(vio_blk_drv_num_queues(D(fx)), 2);
	w = vio_blk_drv_alloc_buffer(D(fx), 8192);
	r = vio_blk_drv_alloc_buffer(D(fx), 8192);
	assert_non_null(w);
	assert_non_null(r);
	fill_pattern(w, 40, 8192, 2);
	/* Written on queue 0, read back on queue 1. */
	assert_int_equal(vio_blk_drv_execute(D(fx), &(struct vio_blk_drv_io){
		.type = VIO_BLK_T_OUT, .queue = 0, .sector = 40, .buf = w, .len = 8192 }), 0);
	assert_int_equal(vio_blk_drv_execute(D(fx), &(struct vio_blk_drv_io){
		.type = VIO_BLK_T_IN, .queue = 1, .sector = 40, .buf = r, .len = 8192 }), 0);
	check_pattern(r, 40, 8192, 2);
	/* Both queues busy at once. */
	for (unsigned q = 0; q < 2; q++)
		assert_int_equal(vio_blk_drv_enqueue(D(fx), &(struct vio_blk_drv_io){
			.type = VIO_BLK_T_IN, .queue = q, .sector = 40 + q * 8, .buf = r + q * 4096,
			.len = 4096, .done = async_done, .opaque = &c }), 0);
	vio_blk_drv_kick(D(fx));
	while (vio_blk_drv_inflight(D(fx)))
		assert_true(vio_blk_drv_wait(D(fx), TIMEOUT_MS) >= 0);
	assert_int_equal(c.done, 2);
	assert_int_equal(c.errors, 0);
	check_pattern(r, 40, 8192, 2);
	assert_int_equal(vio_blk_drv_enqueue(D(fx), &(struct vio_blk_drv_io){
		.type = VIO_BLK_T_IN, .queue = 2, .buf = r, .len = 4096 }), -EINVAL);
	stats(fx, 0, &s0);
	stats(fx, 1, &s1);
	assert_int_equal(s0.writes, 1);
	assert_int_equal(s0.reads, 1);
	assert_int_equal(s1.reads, 2);
	assert_int_equal(s1.bytes_read, 8192 + 4096);
}

/* ------------------------------------------------------------------------ */
/* Per-queue calls: what a thread that owns a queue uses                    */

/* Reaps queue qi alone until c has seen n completions. Threaded: nobody
 * else delivers completions (the test never waits on the device), so this
 * is the only reaper. Direct: the kick already completed them. */
static void poll_queue_until(struct fx *fx, unsigned qi, struct actx *c, unsigned n)
{
	for (unsigned spins = 0; c->done < n; spins++) {
		assert_true(vio_blk_drv_poll_queue(D(fx), qi) >= 0);
		if (c->done < n)
			usleep(100);
		assert_true(spins < TIMEOUT_MS * 10); /* hang guard */
	}
}

static void enqueue_read(struct fx *fx, unsigned qi, uint8_t *buf, struct actx *c)
{
	assert_int_equal(vio_blk_drv_enqueue(D(fx), &(struct vio_blk_drv_io){
		.type = VIO_BLK_T_IN, .queue = qi, .sector = 8 * qi, .buf = buf, .len = 4096,
		.done = async_done, .opaque = c }), 0);
}

/* Bad indices and an unbound device are refused, not dereferenced. */
static void t_queue_calls_bad_index(void **state)
{
	struct fx *fx = *state;

	fx_up(fx);
	assert_int_equal(vio_blk_drv_poll_queue(D(fx), 1), -EINVAL);
	assert_int_equal(vio_blk_drv_poll_queue(D(fx), 0), 0);
	assert_int_equal(vio_blk_drv_inflight_queue(D(fx), 1), 0);
	assert_false(vio_blk_drv_kick_queue(D(fx), 1));
	assert_false(vio_blk_drv_kick_queue(D(fx), 0)); /* nothing to kick for */
	vio_drv_unbind(D(fx));
	assert_int_equal(vio_blk_drv_poll_queue(D(fx), 0), -ENODEV);
	assert_int_equal(vio_blk_drv_inflight_queue(D(fx), 0), 0);
	assert_false(vio_blk_drv_kick_queue(D(fx), 0));
	assert_int_equal(vio_drv_bind(D(fx)), 0);
}

/* kick_queue notifies its own queue only: the other queue's request is not
 * seen by the device until that queue is kicked. */
static void t_kick_queue_only_its_queue(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;
	struct actx c0 = { 0 }, c1 = { 0 };
	uint8_t *buf;

	fx->dopts.num_queues = 2;
	fx_up(fx);
	buf = vio_blk_drv_alloc_buffer(D(fx), 8192);
	assert_non_null(buf);
	enqueue_read(fx, 0, buf, &c0);
	enqueue_read(fx, 1, buf + 4096, &c1);
	assert_int_equal(vio_blk_drv_inflight_queue(D(fx), 0), 1);
	assert_int_equal(vio_blk_drv_inflight_queue(D(fx), 1), 1);
	assert_int_equal(vio_blk_drv_inflight(D(fx)), 2);
	assert_true(vio_blk_drv_kick_queue(D(fx), 0));
	poll_queue_until(fx, 0, &c0, 1);
	assert_int_equal(c0.errors, 0);
	assert_int_equal(vio_blk_drv_inflight_queue(D(fx), 0), 0);
	assert_int_equal(vio_blk_drv_inflight_queue(D(fx), 1), 1);
	assert_int_equal(c1.done, 0);
	stats(fx, 1, &s);
	assert_int_equal(s.requests, 0);
	assert_true(vio_blk_drv_kick_queue(D(fx), 1));
	assert_false(vio_blk_drv_kick_queue(D(fx), 1)); /* nothing new */
	poll_queue_until(fx, 1, &c1, 1);
	assert_int_equal(c1.errors, 0);
	assert_int_equal(vio_blk_drv_inflight(D(fx)), 0);
}

/* submit kicks the queue it posted on, and leaves another queue's
 * enqueued request to that queue's owner. */
static void t_submit_kicks_only_its_queue(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;
	struct actx c0 = { 0 }, c1 = { 0 };
	uint8_t *buf;

	fx->dopts.num_queues = 2;
	fx_up(fx);
	buf = vio_blk_drv_alloc_buffer(D(fx), 8192);
	assert_non_null(buf);
	enqueue_read(fx, 1, buf + 4096, &c1);
	assert_int_equal(vio_blk_drv_submit(D(fx), &(struct vio_blk_drv_io){
		.type = VIO_BLK_T_IN, .queue = 0, .buf = buf, .len = 4096,
		.done = async_done, .opaque = &c0 }), 0);
	poll_queue_until(fx, 0, &c0, 1);
	stats(fx, 1, &s);
	assert_int_equal(s.requests, 0);
	assert_int_equal(c1.done, 0);
	vio_blk_drv_kick(D(fx)); /* every queue with something new */
	poll_queue_until(fx, 1, &c1, 1);
	assert_int_equal(c1.errors, 0);
}

/* A queue the device broke says so (-EIO), so a poller does not spin on it.
 * The device side refuses to misbehave, so the test forges a used entry
 * naming a buffer id that does not exist, straight into the ring. */
static void t_poll_queue_broken(void **state)
{
	struct fx *fx = *state;
	struct vio_drvq *q;
	struct actx c = { 0 };
	uint8_t *buf;

	fx_up(fx);
	buf = vio_blk_drv_alloc_buffer(D(fx), SECTOR);
	assert_non_null(buf);
	assert_int_equal(vio_blk_drv_enqueue(D(fx), &(struct vio_blk_drv_io){
		.type = VIO_BLK_T_IN, .buf = buf, .len = SECTOR, .done = async_done,
		.opaque = &c }), 0);
	q = &D(fx)->vqs[0].q;
	if (q->packed) {
		struct vio_packed_desc *d = &q->u.packed.desc[0];

		d->id = vio_cpu_to_le16((uint16_t)q->size);
		d->len = vio_cpu_to_le32(1);
		__atomic_thread_fence(__ATOMIC_RELEASE);
		d->flags = vio_cpu_to_le16(VIO_PACKED_DESC_F_AVAIL | VIO_PACKED_DESC_F_USED);
	} else {
		struct vio_split_used *u = q->u.split.used;

		u->ring[0].id = vio_cpu_to_le32(q->size);
		u->ring[0].len = vio_cpu_to_le32(1);
		__atomic_thread_fence(__ATOMIC_RELEASE);
		u->idx = vio_cpu_to_le16(1);
	}
	assert_int_equal(vio_blk_drv_poll_queue(D(fx), 0), -EIO);
	assert_true(vio_drvq_is_broken(q));
	assert_int_equal(c.done, 0);
	/* Taking the device down still hands the request back. */
	vio_drv_unbind(D(fx));
	assert_int_equal(c.done, 1);
	assert_int_equal(c.canceled, 1);
	assert_int_equal(vio_drv_bind(D(fx)), 0);
}

/* Threaded transport only (direct mode runs the device inside each kick,
 * on the kicking thread, so two driver threads would share it). */

/* poll_queue reaps its own queue and leaves the other's completions. */
static void t_poll_queue_only_its_queue(void **state)
{
	struct fx *fx = *state;
	struct actx c0 = { 0 }, c1 = { 0 };
	uint8_t *buf;

	fx->dopts.num_queues = 2;
	fx_up(fx);
	buf = vio_blk_drv_alloc_buffer(D(fx), 8192);
	assert_non_null(buf);
	enqueue_read(fx, 0, buf, &c0);
	enqueue_read(fx, 1, buf + 4096, &c1);
	vio_blk_drv_kick(D(fx));
	for (unsigned spins = 0; !vio_drvq_has_used(&D(fx)->vqs[1].q); spins++) {
		usleep(100);
		assert_true(spins < TIMEOUT_MS * 10);
	}
	poll_queue_until(fx, 0, &c0, 1);
	assert_int_equal(c1.done, 0);
	assert_int_equal(vio_blk_drv_inflight_queue(D(fx), 1), 1);
	assert_int_equal(vio_blk_drv_poll_queue(D(fx), 1), 1);
	assert_int_equal(c1.done, 1);
	assert_int_equal(c1.errors, 0);
}

/* Two threads, each owning a queue, write and read back their own region
 * with several requests in flight, using only the per-queue calls. (Under
 * TSan this is what catches state the queues share.) */
enum { OWN_N = 300, OWN_DEPTH = 16 };

struct owner {
	struct fx *fx;
	unsigned qi;
	uint8_t *bufs;                  /* OWN_DEPTH blocks of 4 KiB */
	struct actx c;
	unsigned slot_busy[OWN_DEPTH];
	bool mismatch;
};

struct owner_io {
	struct owner *o;
	unsigned slot;
	unsigned block;
	uint32_t type;
};

static struct owner_io owner_ios[2][OWN_DEPTH];

static void owner_done(void *opaque, int err)
{
	struct owner_io *io = opaque;

	if (io->type == VIO_BLK_T_IN) {
		/* Written last by request block + 256 where there was one. */
		const unsigned last = io->block + (io->block < OWN_N - 256 ? 256 : 0);
		const uint8_t *b = io->o->bufs + (size_t)io->slot * 4096;

		for (unsigned i = 0; i < 4096; i++)
			if (b[i] != (uint8_t)(last * 3 + io->o->qi))
				io->o->mismatch = true;
	}
	io->o->slot_busy[io->slot] = 0;
	async_done(&io->o->c, err);
}

/* Runs OWN_N requests of `type` on the owner's queue, OWN_DEPTH at a time;
 * request i moves block i of the owner's region through slot i % depth. */
static void owner_pass(struct owner *o, uint32_t type)
{
	struct vio_drv_device *dev = D(o->fx);
	const uint64_t base = 2048u * o->qi;
	unsigned next = 0;

	memset(&o->c, 0, sizeof(o->c));
	for (unsigned spins = 0; o->c.done < OWN_N; spins++) {
		while (next < OWN_N && !o->slot_busy[next % OWN_DEPTH]) {
			const unsigned slot = next % OWN_DEPTH;
			uint8_t *b = o->bufs + (size_t)slot * 4096;

			if (type == VIO_BLK_T_OUT)
				memset(b, (int)(next * 3 + o->qi), 4096);
			o->slot_busy[slot] = 1;
			owner_ios[o->qi][slot] = (struct owner_io){ o, slot, next % 256, type };
			if (vio_blk_drv_enqueue(dev, &(struct vio_blk_drv_io){
				.type = type, .queue = o->qi, .sector = base + next % 256 * 8,
				.buf = b, .len = 4096, .done = owner_done,
				.opaque = &owner_ios[o->qi][slot] }) != 0) {
				o->c.errors++;
				return;
			}
			next++;
		}
		vio_blk_drv_kick_queue(dev, o->qi);
		if (vio_blk_drv_poll_queue(dev, o->qi) < 0 || spins > TIMEOUT_MS * 10u) {
			o->c.errors++;
			return;
		}
		usleep(20);
	}
}

static void *owner_thread(void *arg)
{
	struct owner *o = arg;
	unsigned writes_done, writes_err;

	/* Blocks 0..255 of the region, each written with its request number
	 * (the last 44 of the 300 requests overwrite 0..43). */
	owner_pass(o, VIO_BLK_T_OUT);
	writes_done = o->c.done;
	writes_err = o->c.errors;
	owner_pass(o, VIO_BLK_T_IN);
	o->c.done += writes_done;
	o->c.errors += writes_err;
	return NULL;
}

static void t_queues_on_two_threads(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;
	struct owner own[2];
	pthread_t th[2];

	fx->dopts.num_queues = 2;
	fx_up(fx);
	for (unsigned q = 0; q < 2; q++) {
		own[q] = (struct owner){ .fx = fx, .qi = q };
		own[q].bufs = vio_blk_drv_alloc_buffer(D(fx), OWN_DEPTH * 4096);
		assert_non_null(own[q].bufs);
	}
	for (unsigned q = 0; q < 2; q++)
		assert_int_equal(pthread_create(&th[q], NULL, owner_thread, &own[q]), 0);
	for (unsigned q = 0; q < 2; q++)
		pthread_join(th[q], NULL);
	for (unsigned q = 0; q < 2; q++) {
		assert_int_equal(own[q].c.errors, 0);
		assert_int_equal(own[q].c.done, 2 * OWN_N);
		assert_false(own[q].mismatch);
		stats(fx, q, &s);
		assert_int_equal(s.writes, OWN_N);
		assert_int_equal(s.reads, OWN_N);
		/* Each block of each region holds its last writer's bytes. */
		for (unsigned blk = 0; blk < 256; blk++) {
			const unsigned last = blk + (blk < OWN_N - 256 ? 256 : 0);
			uint8_t want = (uint8_t)(last * 3 + q);
			uint8_t got[4096];

			backing_read(fx, (2048u * q + blk * 8) * SECTOR, got, sizeof(got));
			check_value(got, sizeof(got), want);
		}
	}
	assert_int_equal(vio_blk_drv_inflight(D(fx)), 0);
}

/* Requests the device has not looked at when the driver resets it: every
 * one completes with -ECANCELED, the rings are empty, and after a rebind
 * the device works again. */
static void t_reset_mid_io(void **state)
{
	enum { N = 64 };
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;
	struct actx c = { 0 };
	uint8_t *buf;

	fx_up(fx);
	buf = vio_blk_drv_alloc_buffer(D(fx), N * SECTOR);
	assert_non_null(buf);
	fx_pause(fx);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(vio_blk_drv_enqueue(D(fx), &(struct vio_blk_drv_io){
			.type = VIO_BLK_T_IN, .sector = i, .buf = buf + i * SECTOR, .len = SECTOR,
			.done = async_done, .opaque = &c }), 0);
	/* Threaded: the kick reaches a device thread that is parked. Direct:
	 * no kick, or the device would run them right here. */
	if (fx->row->mode->threaded)
		vio_blk_drv_kick(D(fx));
	assert_int_equal(vio_blk_drv_inflight(D(fx)), N);
	assert_int_equal(c.done, 0);

	assert_int_equal(vio_blk_drv_abort(D(fx)), 0);
	assert_int_equal(c.done, N);
	assert_int_equal(c.canceled, N);
	assert_int_equal(vio_blk_drv_inflight(D(fx)), 0);
	assert_true(all_free(D(fx)));
	assert_int_equal(vio_dev_get_status(&fx->blk.dev), 0);
	fx_resume(fx);
	/* The stale kick finds a reset device, which ignores it. */
	usleep(20000);
	stats(fx, 0, &s);
	assert_int_equal(s.requests, 0);
	assert_int_equal(vio_blk_drv_submit(D(fx), &(struct vio_blk_drv_io){
		.type = VIO_BLK_T_IN, .buf = buf, .len = SECTOR, .done = async_done }), -ENODEV);

	vio_drv_unbind(D(fx));
	assert_int_equal(vio_drv_bind(D(fx)), 0);
	fx->ram[0] = 0x42;
	assert_int_equal(vio_blk_drv_read(D(fx), 0, buf, SECTOR), 0);
	assert_int_equal(buf[0], 0x42);
}

/* Unbinding (remove) cancels what is outstanding. */
static void t_remove_cancels(void **state)
{
	enum { N = 10 };
	struct fx *fx = *state;
	struct actx c = { 0 };
	uint8_t *buf;

	fx_up(fx);
	buf = vio_blk_drv_alloc_buffer(D(fx), SECTOR);
	assert_non_null(buf);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(vio_blk_drv_enqueue(D(fx), &(struct vio_blk_drv_io){
			.type = VIO_BLK_T_IN, .sector = i, .buf = buf, .len = SECTOR,
			.done = async_done, .opaque = &c }), 0);
	vio_drv_unbind(D(fx));
	assert_int_equal(c.done, N);
	assert_int_equal(c.canceled, N);
	assert_int_equal(vio_drv_bind(D(fx)), 0);
	assert_int_equal(vio_blk_drv_capacity(D(fx)), DISK_SECTORS);
}

static void t_writeback_toggle(void **state)
{
	struct fx *fx = *state;

	fx_up(fx);
	assert_int_equal(vio_blk_drv_get_writeback(D(fx)), 1);
	assert_false(vio_blk_dev_writethrough(&fx->blk));
	assert_int_equal(vio_blk_drv_set_writeback(D(fx), false), 0);
	assert_int_equal(vio_blk_drv_get_writeback(D(fx)), 0);
	assert_true(vio_blk_dev_writethrough(&fx->blk));
	write_check(fx, 3, 4096, 4);
	assert_int_equal(vio_blk_drv_set_writeback(D(fx), true), 0);
	assert_false(vio_blk_dev_writethrough(&fx->blk));
}

/* The driver cannot change anything in config space but writeback. */
static void t_config_readonly_fields(void **state)
{
	struct fx *fx = *state;
	uint64_t cap = UINT64_C(0x1234);
	unsigned logs;

	fx_up(fx);
	logs = nlogs(fx);
	assert_int_equal(vio_drv_config_write(D(fx), 0, &cap, sizeof(cap)), 0);
	assert_int_equal(vio_drv_config_read(D(fx), 0, &cap, sizeof(cap)), 0);
	assert_int_equal(cap, DISK_SECTORS);
	assert_true(nlogs(fx) > logs);
	assert_logged(fx, "read-only config");
	assert_int_equal(vio_blk_drv_get_writeback(D(fx)), 1);
}

/* Without FLUSH the device has no cache: flush is a no-op, writes are
 * stable at completion. */
static void t_flush_not_negotiated(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;

	fx->ropts.features_off = VIO_BIT(VIO_BLK_F_FLUSH);
	fx_up(fx);
	assert_false(vio_drv_has_feature(D(fx), VIO_BLK_F_FLUSH));
	assert_int_equal(vio_blk_drv_flush(D(fx)), 0);
	assert_true(vio_blk_dev_writethrough(&fx->blk));
	assert_int_equal(vio_blk_drv_submit(D(fx), &(struct vio_blk_drv_io){
		.type = VIO_BLK_T_FLUSH, .done = async_done }), -EOPNOTSUPP);
	stats(fx, 0, &s);
	assert_int_equal(s.requests, 0);
}

static void t_discard_not_negotiated(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;

	fx->ropts.features_off = VIO_BIT(VIO_BLK_F_DISCARD) | VIO_BIT(VIO_BLK_F_WRITE_ZEROES);
	fx_up(fx);
	assert_int_equal(vio_blk_drv_discard(D(fx), 0, 8), -EOPNOTSUPP);
	assert_int_equal(vio_blk_drv_write_zeroes(D(fx), 0, 8, true), -EOPNOTSUPP);
	stats(fx, 0, &s);
	assert_int_equal(s.requests, 0);
}

/* Requests the driver refuses before they reach the device. */
static void t_driver_refuses_bad_requests(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;
	uint8_t *buf, plain[SECTOR];

	fx_up(fx);
	buf = vio_blk_drv_alloc_buffer(D(fx), 2 * SECTOR);
	assert_non_null(buf);
	assert_int_equal(vio_blk_drv_read(D(fx), 0, buf, 100), -EINVAL);
	assert_int_equal(vio_blk_drv_read(D(fx), 0, buf, 0), -EINVAL);
	assert_int_equal(vio_blk_drv_read(D(fx), DISK_SECTORS, buf, SECTOR), -EINVAL);
	assert_int_equal(vio_blk_drv_read(D(fx), DISK_SECTORS - 1, buf, 2 * SECTOR), -EINVAL);
	assert_int_equal(vio_blk_drv_read(D(fx), UINT64_MAX, buf, SECTOR), -EINVAL);
	assert_int_equal(vio_blk_drv_read(D(fx), 0, plain, SECTOR), -EFAULT);
	assert_int_equal(vio_blk_drv_discard(D(fx), DISK_SECTORS - 1, 2), -EINVAL);
	assert_int_equal(vio_blk_drv_execute(D(fx), &(struct vio_blk_drv_io){
		.type = 99, .buf = buf, .len = SECTOR }), -EINVAL);
	assert_int_equal(vio_blk_drv_execute(D(fx), &(struct vio_blk_drv_io){
		.type = VIO_BLK_T_IN, .queue = 1, .buf = buf, .len = SECTOR }), -EINVAL);
	stats(fx, 0, &s);
	assert_int_equal(s.requests, 0);
	assert_true(all_free(D(fx)));
}

/* A driver without VERSION_1 on a transitional device. */
static void t_legacy_rw(void **state)
{
	struct fx *fx = *state;
	char id[VIO_BLK_ID_BYTES + 1];

	fx->dopts.legacy_ok = true;
	fx->ropts.features_off = V1;
	fx_up(fx);
	assert_true(D(fx)->legacy);
	assert_true(fx->blk.dev.legacy);
	write_check(fx, 11, 8192, 6);
	assert_int_equal(vio_blk_drv_get_id(D(fx), id), 0);
	assert_string_equal(id, SERIAL);
	assert_int_equal(vio_blk_drv_discard(D(fx), 11, 16), 0);
}

/* ======================================================================== */
/* Malformed requests, posted raw                                           */

/* Scratch layout in fx->m (DMA memory). */
#define R_HDR    0u
#define R_PAY    512u       /* segments */
#define R_DATA   8192u      /* up to 32 KiB of data */
#define R_STATUS 61440u
#define R_SPARE  61952u     /* a second data area */
#define STATUS_UNSET 0xeeu

static struct vio_sg rsg(struct fx *fx, size_t off, uint32_t len)
{
	return (struct vio_sg){ fx->m_dma + off, len };
}

static void put_hdr(struct fx *fx, uint32_t type, uint64_t sector)
{
	struct vio_blk_req_hdr h = {
		.type = vio_cpu_to_le32(type),
		.ioprio = vio_cpu_to_le32(0),
		.sector = vio_cpu_to_le64(sector),
	};

	memcpy(fx->m + R_HDR, &h, sizeof(h));
}

static void put_seg(struct fx *fx, unsigned i, uint64_t sector, uint32_t n, uint32_t flags)
{
	struct vio_blk_discard_write_zeroes s = {
		.sector = vio_cpu_to_le64(sector),
		.num_sectors = vio_cpu_to_le32(n),
		.flags = vio_cpu_to_le32(flags),
	};

	memcpy(fx->m + R_PAY + i * sizeof(s), &s, sizeof(s));
}

/* Posts one chain on queue 0, waits until the device returns it. */
static uint32_t raw_run(struct fx *fx, const struct vio_sg *out, unsigned nout,
			const struct vio_sg *in, unsigned nin)
{
	struct vio_drv_vq *vq = &fx->rawvqs[0];
	int token;
	void *t;
	uint32_t len;

	fx->m[R_STATUS] = STATUS_UNSET;
	assert_int_equal(vio_drvq_add(&vq->q, out, nout, in, nin, &token), 0);
	vio_drv_vq_kick(vq);
	for (int tries = 0; tries < TIMEOUT_MS / 10; tries++) {
		int r = vio_drvq_get_buf(&vq->q, &t, &len);

		if (r == 0) {
			assert_ptr_equal(t, &token);
			return len;
		}
		assert_int_equal(r, -EAGAIN);
		vio_drv_wait(D(fx), 10);
	}
	fail_msg("the device did not return the request");
	return 0;
}

/* The usual shapes: header, then data, then status. */
static uint32_t raw_in(struct fx *fx, uint64_t sector, uint32_t len)
{
	struct vio_sg out[1] = { rsg(fx, R_HDR, 16) };
	struct vio_sg in[2] = { rsg(fx, R_DATA, len), rsg(fx, R_STATUS, 1) };

	put_hdr(fx, VIO_BLK_T_IN, sector);
	return raw_run(fx, out, 1, in, 2);
}

static uint32_t raw_out(struct fx *fx, uint64_t sector, uint32_t len)
{
	struct vio_sg out[2] = { rsg(fx, R_HDR, 16), rsg(fx, R_DATA, len) };
	struct vio_sg in[1] = { rsg(fx, R_STATUS, 1) };

	put_hdr(fx, VIO_BLK_T_OUT, sector);
	return raw_run(fx, out, 2, in, 1);
}

/* A request of `type` whose data is the first nseg segments at R_PAY. */
static uint32_t raw_segs(struct fx *fx, uint32_t type, uint32_t bytes)
{
	struct vio_sg out[2] = { rsg(fx, R_HDR, 16), rsg(fx, R_PAY, bytes) };
	struct vio_sg in[1] = { rsg(fx, R_STATUS, 1) };

	put_hdr(fx, type, 0);
	return raw_run(fx, out, bytes ? 2 : 1, in, 1);
}

static uint32_t raw_bare(struct fx *fx, uint32_t type)
{
	struct vio_sg out[1] = { rsg(fx, R_HDR, 16) };
	struct vio_sg in[1] = { rsg(fx, R_STATUS, 1) };

	put_hdr(fx, type, 0);
	return raw_run(fx, out, 1, in, 1);
}

/* The request was answered `st` with only the status byte written, a log
 * line mentions `why`, and the disk is unchanged (all 0x77). */
static void expect_refused(struct fx *fx, uint32_t used, uint8_t st, const char *why)
{
	uint8_t b[4096];

	assert_int_equal(used, 1);
	assert_int_equal(fx->m[R_STATUS], st);
	assert_logged(fx, why);
	backing_read(fx, 0, b, sizeof(b));
	check_value(b, sizeof(b), 0x77);
	backing_read(fx, DISK_BYTES - sizeof(b), b, sizeof(b));
	check_value(b, sizeof(b), 0x77);
}

/* The device is still healthy: not NEEDS_RESET, and a good read works. */
static void expect_healthy(struct fx *fx)
{
	assert_false(vio_dev_get_status(&fx->blk.dev) & VIO_STATUS_NEEDS_RESET);
	assert_int_equal(raw_in(fx, 0, SECTOR), SECTOR + 1);
	assert_int_equal(fx->m[R_STATUS], VIO_BLK_S_OK);
	check_value(fx->m + R_DATA, SECTOR, 0x77);
}

static void raw_up(struct fx *fx)
{
	fx->raw = true;
	fx_up(fx);
	backing_fill(fx, 0, 0x77, DISK_BYTES);
}

static void m_short_header(void **state)
{
	struct fx *fx = *state;
	struct vio_sg out[1], in[1];

	raw_up(fx);
	put_hdr(fx, VIO_BLK_T_OUT, 0);
	out[0] = rsg(fx, R_HDR, 8);
	in[0] = rsg(fx, R_STATUS, 1);
	expect_refused(fx, raw_run(fx, out, 1, in, 1), VIO_BLK_S_IOERR, "header of 8 bytes");
	expect_healthy(fx);
}

static void m_missing_status(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;
	struct vio_sg out[1];

	raw_up(fx);
	put_hdr(fx, VIO_BLK_T_FLUSH, 0);
	out[0] = rsg(fx, R_HDR, 16);
	assert_int_equal(raw_run(fx, out, 1, NULL, 0), 0);
	assert_int_equal(fx->m[R_STATUS], STATUS_UNSET);
	assert_logged(fx, "without a device-writable status byte");
	stats(fx, 0, &s);
	assert_int_equal(s.unanswered, 1);
	assert_int_equal(s.flushes, 0);
	expect_healthy(fx);
}

/* A write whose status byte is device-readable: the chain has nothing
 * writable, so the device cannot answer, and must not write the disk. */
static void m_readable_status_write(void **state)
{
	struct fx *fx = *state;
	struct vio_sg out[3];
	uint8_t b[SECTOR];

	raw_up(fx);
	put_hdr(fx, VIO_BLK_T_OUT, 0);
	memset(fx->m + R_DATA, 0x11, SECTOR);
	out[0] = rsg(fx, R_HDR, 16);
	out[1] = rsg(fx, R_DATA, SECTOR);
	out[2] = rsg(fx, R_STATUS, 1);
	assert_int_equal(raw_run(fx, out, 3, NULL, 0), 0);
	assert_int_equal(fx->m[R_STATUS], STATUS_UNSET);
	backing_read(fx, 0, b, sizeof(b));
	check_value(b, sizeof(b), 0x77);
	assert_logged(fx, "status byte");
	expect_healthy(fx);
}

/* A read whose "status" is readable: readable bytes after the header make
 * it a read with readable data; the answer lands in the last writable byte. */
static void m_readable_status_read(void **state)
{
	struct fx *fx = *state;
	struct vio_sg out[2], in[1];

	raw_up(fx);
	put_hdr(fx, VIO_BLK_T_IN, 0);
	memset(fx->m + R_DATA, 0x11, SECTOR);
	out[0] = rsg(fx, R_HDR, 16);
	out[1] = rsg(fx, R_STATUS, 1);
	in[0] = rsg(fx, R_DATA, SECTOR);
	assert_int_equal(raw_run(fx, out, 2, in, 1), 1);
	assert_int_equal(fx->m[R_DATA + SECTOR - 1], VIO_BLK_S_IOERR);
	check_value(fx->m + R_DATA, SECTOR - 1, 0x11); /* no data was read */
	assert_logged(fx, "device-readable bytes besides the header");
	expect_healthy(fx);
}

static void m_sector_out_of_range(void **state)
{
	struct fx *fx = *state;

	raw_up(fx);
	expect_refused(fx, raw_in(fx, DISK_SECTORS, SECTOR), VIO_BLK_S_IOERR, "past the capacity");
	expect_refused(fx, raw_out(fx, DISK_SECTORS - 1, 2 * SECTOR), VIO_BLK_S_IOERR,
		       "past the capacity");
	expect_healthy(fx);
}

/* Sector numbers whose byte offset or end wraps 64 bits. */
static void m_sector_overflow(void **state)
{
	static const uint64_t sectors[] = {
		UINT64_MAX, UINT64_MAX - 1, UINT64_C(1) << 55, (UINT64_MAX >> 9) + 1,
	};
	struct fx *fx = *state;

	raw_up(fx);
	for (unsigned i = 0; i < ARRAY_LEN(sectors); i++) {
		expect_refused(fx, raw_out(fx, sectors[i], 2 * SECTOR), VIO_BLK_S_IOERR,
			       "past the capacity");
		expect_refused(fx, raw_in(fx, sectors[i], 2 * SECTOR), VIO_BLK_S_IOERR,
			       "past the capacity");
	}
	expect_healthy(fx);
}

static void m_len_not_sector_multiple(void **state)
{
	struct fx *fx = *state;

	raw_up(fx);
	memset(fx->m + R_DATA, 0x11, 1024);
	expect_refused(fx, raw_in(fx, 0, 100), VIO_BLK_S_IOERR, "not whole 512-byte sectors");
	check_value(fx->m + R_DATA, 100, 0x11);
	expect_refused(fx, raw_out(fx, 0, 700), VIO_BLK_S_IOERR, "not whole 512-byte sectors");
	expect_healthy(fx);
}

static void m_read_with_readable_data(void **state)
{
	struct fx *fx = *state;
	struct vio_sg out[2], in[1];

	raw_up(fx);
	put_hdr(fx, VIO_BLK_T_IN, 0);
	out[0] = rsg(fx, R_HDR, 16);
	out[1] = rsg(fx, R_DATA, SECTOR);
	in[0] = rsg(fx, R_STATUS, 1);
	expect_refused(fx, raw_run(fx, out, 2, in, 1), VIO_BLK_S_IOERR,
		       "512 device-readable bytes besides the header");
	expect_healthy(fx);
}

static void m_write_with_writable_data(void **state)
{
	struct fx *fx = *state;
	struct vio_sg out[1], in[2];

	raw_up(fx);
	put_hdr(fx, VIO_BLK_T_OUT, 0);
	memset(fx->m + R_DATA, 0x11, SECTOR);
	out[0] = rsg(fx, R_HDR, 16);
	in[0] = rsg(fx, R_DATA, SECTOR);
	in[1] = rsg(fx, R_STATUS, 1);
	expect_refused(fx, raw_run(fx, out, 1, in, 2), VIO_BLK_S_IOERR,
		       "512 device-writable bytes besides the status");
	check_value(fx->m + R_DATA, SECTOR, 0x11);
	expect_healthy(fx);
}

static void m_unknown_type(void **state)
{
	static const uint32_t types[] = {
		99, VIO_BLK_T_SCSI_CMD, VIO_BLK_T_SCSI_CMD_OUT, VIO_BLK_T_GET_LIFETIME,
		VIO_BLK_T_SECURE_ERASE, VIO_BLK_T_BARRIER | VIO_BLK_T_OUT, VIO_BLK_T_FLUSH_OUT,
		UINT32_MAX,
	};
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;

	raw_up(fx);
	for (unsigned i = 0; i < ARRAY_LEN(types); i++)
		expect_refused(fx, raw_bare(fx, types[i]), VIO_BLK_S_UNSUPP, "UNSUPP");
	stats(fx, 0, &s);
	assert_int_equal(s.unsupp, ARRAY_LEN(types));
	expect_healthy(fx);
}

static void m_get_id_short_buffer(void **state)
{
	struct fx *fx = *state;
	struct vio_sg out[1], in[2];

	raw_up(fx);
	put_hdr(fx, VIO_BLK_T_GET_ID, 0);
	memset(fx->m + R_DATA, 0x11, 32);
	out[0] = rsg(fx, R_HDR, 16);
	in[0] = rsg(fx, R_DATA, 10);
	in[1] = rsg(fx, R_STATUS, 1);
	expect_refused(fx, raw_run(fx, out, 1, in, 2), VIO_BLK_S_IOERR,
		       "GET_ID buffer of 10 bytes");
	check_value(fx->m + R_DATA, 32, 0x11);
	expect_healthy(fx);
}

/* The used length counts what the device wrote: data and status. */
static void m_used_length(void **state)
{
	struct fx *fx = *state;
	struct vio_sg out[1], in[2];

	raw_up(fx);
	assert_int_equal(raw_in(fx, 4, 3 * SECTOR), 3 * SECTOR + 1);
	assert_int_equal(fx->m[R_STATUS], VIO_BLK_S_OK);
	assert_int_equal(raw_out(fx, 4, SECTOR), 1);
	assert_int_equal(fx->m[R_STATUS], VIO_BLK_S_OK);
	put_hdr(fx, VIO_BLK_T_GET_ID, 0);
	out[0] = rsg(fx, R_HDR, 16);
	in[0] = rsg(fx, R_DATA, 64);
	in[1] = rsg(fx, R_STATUS, 1);
	assert_int_equal(raw_run(fx, out, 1, in, 2), VIO_BLK_ID_BYTES + 1);
	assert_int_equal(fx->m[R_STATUS], VIO_BLK_S_OK);
	assert_memory_equal(fx->m + R_DATA, SERIAL, sizeof(SERIAL));
	assert_int_equal(raw_bare(fx, VIO_BLK_T_FLUSH), 1);
	assert_int_equal(fx->m[R_STATUS], VIO_BLK_S_OK);
}

/* Descriptor boundaries do not matter: a header split in two, header and
 * data in one descriptor, data and status in one. */
static void m_any_layout(void **state)
{
	struct fx *fx = *state;
	uint8_t *wide = NULL;
	struct vio_sg out[3], in[2];
	uint8_t b[2 * SECTOR];

	raw_up(fx);
	/* Write: header in two pieces, data in one. */
	put_hdr(fx, VIO_BLK_T_OUT, 2);
	memset(fx->m + R_DATA, 0x21, 2 * SECTOR);
	out[0] = rsg(fx, R_HDR, 8);
	out[1] = rsg(fx, R_HDR + 8, 8);
	out[2] = rsg(fx, R_DATA, 2 * SECTOR);
	in[0] = rsg(fx, R_STATUS, 1);
	assert_int_equal(raw_run(fx, out, 3, in, 1), 1);
	assert_int_equal(fx->m[R_STATUS], VIO_BLK_S_OK);
	backing_read(fx, 2 * SECTOR, b, sizeof(b));
	check_value(b, sizeof(b), 0x21);
	/* Write: header and data in one descriptor. */
	wide = fx->m + R_SPARE;
	put_hdr(fx, VIO_BLK_T_OUT, 6);
	memcpy(wide, fx->m + R_HDR, 16);
	memset(wide + 16, 0x31, SECTOR);
	out[0] = rsg(fx, R_SPARE, 16 + SECTOR);
	assert_int_equal(raw_run(fx, out, 1, in, 1), 1);
	assert_int_equal(fx->m[R_STATUS], VIO_BLK_S_OK);
	backing_read(fx, 6 * SECTOR, b, SECTOR);
	check_value(b, SECTOR, 0x31);
	/* Read: data and status in one descriptor, then split across two. */
	put_hdr(fx, VIO_BLK_T_IN, 6);
	out[0] = rsg(fx, R_HDR, 16);
	memset(fx->m + R_DATA, 0, SECTOR + 1);
	in[0] = rsg(fx, R_DATA, SECTOR + 1);
	assert_int_equal(raw_run(fx, out, 1, in, 1), SECTOR + 1);
	check_value(fx->m + R_DATA, SECTOR, 0x31);
	assert_int_equal(fx->m[R_DATA + SECTOR], VIO_BLK_S_OK);
	memset(fx->m + R_DATA, 0, 2 * SECTOR);
	put_hdr(fx, VIO_BLK_T_IN, 2);
	in[0] = rsg(fx, R_DATA, 300);
	in[1] = rsg(fx, R_DATA + 300, 2 * SECTOR - 300 + 1);
	assert_int_equal(raw_run(fx, out, 1, in, 2), 2 * SECTOR + 1);
	check_value(fx->m + R_DATA, 2 * SECTOR, 0x21);
	assert_int_equal(fx->m[R_DATA + 2 * SECTOR], VIO_BLK_S_OK);
}

static void m_read_only_device(void **state)
{
	struct fx *fx = *state;

	fx->dopts.read_only = true;
	raw_up(fx);
	memset(fx->m + R_DATA, 0x11, SECTOR);
	expect_refused(fx, raw_out(fx, 0, SECTOR), VIO_BLK_S_IOERR, "read-only device");
	put_seg(fx, 0, 0, 8, 0);
	expect_refused(fx, raw_segs(fx, VIO_BLK_T_DISCARD, 16), VIO_BLK_S_IOERR, "read-only");
	expect_refused(fx, raw_segs(fx, VIO_BLK_T_WRITE_ZEROES, 16), VIO_BLK_S_IOERR, "read-only");
	expect_healthy(fx);
}

static void m_discard_too_many_segments(void **state)
{
	struct fx *fx = *state;

	fx->dopts.max_discard_seg = 4;
	raw_up(fx);
	for (unsigned i = 0; i < 5; i++)
		put_seg(fx, i, i * 8, 8, 0);
	expect_refused(fx, raw_segs(fx, VIO_BLK_T_DISCARD, 5 * 16), VIO_BLK_S_UNSUPP,
		       "5 segments, the device takes at most 4");
	expect_healthy(fx);
}

static void m_discard_beyond_capacity(void **state)
{
	struct fx *fx = *state;

	raw_up(fx);
	/* The bad one second: nothing runs when any segment is bad. */
	put_seg(fx, 0, 0, 8, 0);
	put_seg(fx, 1, DISK_SECTORS - 1, 2, 0);
	expect_refused(fx, raw_segs(fx, VIO_BLK_T_DISCARD, 32), VIO_BLK_S_IOERR,
		       "past the capacity");
	put_seg(fx, 1, UINT64_MAX, 1, 0);
	expect_refused(fx, raw_segs(fx, VIO_BLK_T_WRITE_ZEROES, 32), VIO_BLK_S_IOERR,
		       "past the capacity");
	expect_healthy(fx);
}

static void m_discard_too_many_sectors(void **state)
{
	struct fx *fx = *state;

	fx->dopts.max_discard_sectors = 64;
	raw_up(fx);
	put_seg(fx, 0, 0, 65, 0);
	expect_refused(fx, raw_segs(fx, VIO_BLK_T_DISCARD, 16), VIO_BLK_S_IOERR,
		       "covers 65 sectors, the device takes at most 64");
	expect_healthy(fx);
}

static void m_discard_bad_flags(void **state)
{
	struct fx *fx = *state;

	raw_up(fx);
	put_seg(fx, 0, 0, 8, VIO_BLK_WZ_F_UNMAP);
	expect_refused(fx, raw_segs(fx, VIO_BLK_T_DISCARD, 16), VIO_BLK_S_UNSUPP,
		       "unmap on a discard");
	put_seg(fx, 0, 0, 8, 2);
	expect_refused(fx, raw_segs(fx, VIO_BLK_T_WRITE_ZEROES, 16), VIO_BLK_S_UNSUPP, "flags 0x2");
	expect_healthy(fx);
}

static void m_discard_bad_segment_bytes(void **state)
{
	struct fx *fx = *state;

	raw_up(fx);
	put_seg(fx, 0, 0, 8, 0);
	expect_refused(fx, raw_segs(fx, VIO_BLK_T_DISCARD, 20), VIO_BLK_S_IOERR,
		       "20 bytes of segments");
	expect_refused(fx, raw_segs(fx, VIO_BLK_T_WRITE_ZEROES, 0), VIO_BLK_S_IOERR,
		       "0 bytes of segments");
	expect_healthy(fx);
}

/* Several good segments: exactly those ranges become zero. */
static void m_discard_segments_ok(void **state)
{
	struct fx *fx = *state;
	uint8_t b[16 * SECTOR];

	raw_up(fx);
	put_seg(fx, 0, 2, 1, 0);
	put_seg(fx, 1, 5, 2, 0);
	put_seg(fx, 2, 10, 0, 0); /* empty: nothing to do */
	assert_int_equal(raw_segs(fx, VIO_BLK_T_DISCARD, 48), 1);
	assert_int_equal(fx->m[R_STATUS], VIO_BLK_S_OK);
	backing_read(fx, 0, b, sizeof(b));
	for (unsigned s = 0; s < 16; s++)
		check_value(b + s * SECTOR, SECTOR, s == 2 || s == 5 || s == 6 ? 0 : 0x77);
}

static void m_feature_not_negotiated(void **state)
{
	struct fx *fx = *state;

	/* Everything but FLUSH, DISCARD and WRITE_ZEROES. */
	fx->raw_features = ~(VIO_BIT(VIO_BLK_F_FLUSH) | VIO_BIT(VIO_BLK_F_CONFIG_WCE) |
			     VIO_BIT(VIO_BLK_F_DISCARD) | VIO_BIT(VIO_BLK_F_WRITE_ZEROES));
	raw_up(fx);
	put_seg(fx, 0, 0, 8, 0);
	expect_refused(fx, raw_segs(fx, VIO_BLK_T_DISCARD, 16), VIO_BLK_S_UNSUPP,
		       "VIRTIO_BLK_F_DISCARD not negotiated");
	expect_refused(fx, raw_segs(fx, VIO_BLK_T_WRITE_ZEROES, 16), VIO_BLK_S_UNSUPP,
		       "VIRTIO_BLK_F_WRITE_ZEROES not negotiated");
	expect_refused(fx, raw_bare(fx, VIO_BLK_T_FLUSH), VIO_BLK_S_UNSUPP,
		       "FLUSH without VIRTIO_BLK_F_FLUSH");
	expect_healthy(fx);
}

/* A flood of bad requests mixed with good ones, in one round. */
/*
 * Eight reads of a sector posted together and kicked once; those in
 * `bad` (a bit per request) carry a 4-byte header, the others a good one;
 * each has its own status byte. Every request must come back, in order
 * when `ordered`, with its exact used length and status. Returns how far
 * used->idx moved (split; 0 for packed, which has no used index).
 */
static unsigned eight_reads(struct fx *fx, unsigned bad, bool ordered)
{
	struct vio_drv_vq *vq = &fx->rawvqs[0];
	const uint16_t before = vq->q.packed ? 0 : vio_le16_to_cpu(vq->q.u.split.used->idx);
	int tokens[8];
	unsigned got = 0;

	put_hdr(fx, VIO_BLK_T_IN, 0);
	for (unsigned i = 0; i < 8; i++) {
		struct vio_sg out = rsg(fx, R_HDR, bad & (1u << i) ? 4 : 16);
		struct vio_sg in[2] = { rsg(fx, R_DATA + i * SECTOR, SECTOR),
					rsg(fx, R_STATUS + i, 1) };

		fx->m[R_STATUS + i] = STATUS_UNSET;
		assert_int_equal(vio_drvq_add(&vq->q, &out, 1, in, 2, &tokens[i]), 0);
	}
	vio_drv_vq_kick(vq);
	for (int tries = 0; got < 8 && tries < TIMEOUT_MS / 10; tries++) {
		void *t;
		uint32_t len;

		while (vio_drvq_get_buf(&vq->q, &t, &len) == 0) {
			unsigned i = (unsigned)((int *)t - tokens);
			bool b = bad & (1u << i);

			assert_true(i < 8);
			if (ordered)
				assert_int_equal(i, got);
			assert_int_equal(len, b ? 1 : SECTOR + 1);
			assert_int_equal(fx->m[R_STATUS + i], b ? VIO_BLK_S_IOERR : VIO_BLK_S_OK);
			got++;
		}
		if (got < 8)
			vio_drv_wait(D(fx), 10);
	}
	assert_int_equal(got, 8);
	return vq->q.packed ? 0 : (uint16_t)(vio_le16_to_cpu(vq->q.u.split.used->idx) - before);
}

/* Good and bad requests in one batch: each answered on its own. */
static void m_mixed_batch(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;

	raw_up(fx);
	eight_reads(fx, 0x55, false);   /* even ones bad */
	stats(fx, 0, &s);
	assert_int_equal(s.reads, 4);
	assert_int_equal(s.ioerr, 4);
	expect_healthy(fx);
}

/* raw_up() with IN_ORDER offered, then eight_reads(), in order. */
static unsigned in_order_round(struct fx *fx, unsigned bad)
{
	unsigned moved;

	fx->dopts.ring_features |= VIO_BIT(VIO_F_IN_ORDER);
	raw_up(fx);
	assert_true(vio_has_feature(fx->rawvqs[0].q.features, VIO_F_IN_ORDER));
	moved = eight_reads(fx, bad, true);
	expect_healthy(fx);
	return moved;
}

/* With IN_ORDER, a round of requests each written in full is returned
 * with one used entry (direct mode: the device runs all eight in the
 * kick, in one round). */
static void m_in_order_round_one_used_entry(void **state)
{
	struct fx *fx = *state;
	unsigned used = in_order_round(fx, 0);

	if (!fx->row->mode->threaded && !fx->rawvqs[0].q.packed)
		assert_int_equal(used, 1);
}

/* ... but a round where one request is not written in full (a refused
 * header: only the status byte) gets an entry per request, so the driver
 * sees each exact length. */
static void m_in_order_round_short_request(void **state)
{
	struct fx *fx = *state;
	unsigned used = in_order_round(fx, 1u << 0);

	if (!fx->rawvqs[0].q.packed)
		assert_int_equal(used, 8);
}

/* ======================================================================== */
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

/* ======================================================================== */
/* The device alone: options and config space                               */

static int dev_init_with(struct vio_blk_dev_opts o)
{
	struct vio_blk_dev blk;
	int r = vio_blk_dev_init(&blk, &o);

	if (r == 0)
		vio_blk_dev_fini(&blk);
	return r;
}

static void p_init_refuses_bad_options(void **state)
{
	const struct vio_blk_dev_opts ram = { .backend = VIO_BLK_BACKEND_RAM, .size = DISK_BYTES };
	struct vio_blk_dev_opts o;
	int fd;

	assert_int_equal(dev_init_with(ram), 0);
	o = ram, o.size = 0;
	assert_int_equal(dev_init_with(o), -EINVAL);
	o = ram, o.size = 100;
	assert_int_equal(dev_init_with(o), -EINVAL);
	o = ram, o.queue_size = 100;
	assert_int_equal(dev_init_with(o), -EINVAL);
	o = ram, o.blk_size = 1000;
	assert_int_equal(dev_init_with(o), -EINVAL);
	o = ram, o.blk_size = 256;
	assert_int_equal(dev_init_with(o), -EINVAL);
	o = ram, o.serial = "123456789012345678901";
	assert_int_equal(dev_init_with(o), -EINVAL);
	o = ram, o.num_queues = VIO_BLK_MAX_QUEUES + 1;
	assert_int_equal(dev_init_with(o), -EINVAL);
	o = ram, o.max_discard_seg = 300;
	assert_int_equal(dev_init_with(o), -EINVAL);
	o = ram, o.backend = 7;
	assert_int_equal(dev_init_with(o), -EINVAL);
	/* A null disk needs a size as a RAM disk does. */
	o = ram, o.backend = VIO_BLK_BACKEND_NULL;
	assert_int_equal(dev_init_with(o), 0);
	o.size = 0;
	assert_int_equal(dev_init_with(o), -EINVAL);
	o.size = 100;
	assert_int_equal(dev_init_with(o), -EINVAL);
	o = (struct vio_blk_dev_opts){ .backend = VIO_BLK_BACKEND_FILE, .path = "/nonexistent/x" };
	assert_int_equal(dev_init_with(o), -ENOENT);
	/* A writable disk on a read-only fd; a character device of no size. */
	fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	o = (struct vio_blk_dev_opts){ .backend = VIO_BLK_BACKEND_FILE, .fd = fd, .size = 4096 };
	assert_int_equal(dev_init_with(o), -EBADF);
	o.read_only = true;
	assert_int_equal(dev_init_with(o), 0);
	o.size = 0;
	assert_int_equal(dev_init_with(o), -EINVAL);
	close(fd);
}

static void p_config_space(void **state)
{
	const struct vio_blk_dev_opts o = {
		.backend = VIO_BLK_BACKEND_RAM, .size = DISK_BYTES + 300, .num_queues = 3,
		.queue_size = 64, .blk_size = 4096, .size_max = 65536,
		.max_discard_sectors = 1000, .max_discard_seg = 3,
		.max_write_zeroes_sectors = 2000, .max_write_zeroes_seg = 5,
	};
	struct vio_blk_dev blk;
	struct vio_blk_config c;
	uint64_t f;

	assert_int_equal(vio_blk_dev_init(&blk, &o), 0);
	assert_int_equal(vio_dev_config_read(&blk.dev, 0, &c, sizeof(c)), 0);
	f = vio_dev_get_features(&blk.dev);
	assert_int_equal(vio_le64_to_cpu(c.capacity), DISK_SECTORS); /* rounded down */
	assert_int_equal(vio_le32_to_cpu(c.size_max), 65536);
	assert_int_equal(vio_le32_to_cpu(c.seg_max), 62);
	assert_int_equal(c.geometry.heads, 16);
	assert_int_equal(c.geometry.sectors, 63);
	assert_int_equal(vio_le16_to_cpu(c.geometry.cylinders), DISK_SECTORS / (16 * 63));
	assert_int_equal(vio_le32_to_cpu(c.blk_size), 4096);
	assert_int_equal(vio_le16_to_cpu(c.topology.min_io_size), 1);
	assert_int_equal(c.writeback, 1);
	assert_int_equal(c.unused0, 0);
	assert_int_equal(vio_le16_to_cpu(c.num_queues), 3);
	assert_int_equal(vio_le32_to_cpu(c.max_discard_sectors), 1000);
	assert_int_equal(vio_le32_to_cpu(c.max_discard_seg), 3);
	assert_int_equal(vio_le32_to_cpu(c.discard_sector_alignment), 8);
	assert_int_equal(vio_le32_to_cpu(c.max_write_zeroes_sectors), 2000);
	assert_int_equal(vio_le32_to_cpu(c.max_write_zeroes_seg), 5);
	assert_int_equal(c.write_zeroes_may_unmap, 0); /* RAM cannot deallocate */
	assert_int_equal(vio_dev_num_queues(&blk.dev), 3);
	assert_int_equal(vio_dev_queue_max(&blk.dev, 2), 64);
	assert_int_equal(blk.dev.device_id, VIO_ID_BLOCK);
	assert_true(vio_has_feature(f, VIO_BLK_F_MQ));
	assert_true(vio_has_feature(f, VIO_BLK_F_SIZE_MAX));
	assert_true(vio_has_feature(f, VIO_BLK_F_CONFIG_WCE));
	assert_false(vio_has_feature(f, VIO_BLK_F_RO));
	assert_true((f & VIO_BLK_DEV_RING_FEATURES) == VIO_BLK_DEV_RING_FEATURES);
	vio_blk_dev_fini(&blk);
}

static void p_offered_features(void **state)
{
	struct vio_blk_dev_opts o = {
		.backend = VIO_BLK_BACKEND_RAM, .size = DISK_BYTES, .read_only = true,
		.blk_features_off = VIO_BIT(VIO_BLK_F_FLUSH) | VIO_BIT(VIO_BLK_F_RO),
		.ring_features = V1,
	};
	struct vio_blk_dev blk;
	struct vio_blk_config c;
	uint64_t f;

	assert_int_equal(vio_blk_dev_init(&blk, &o), 0);
	f = vio_dev_get_features(&blk.dev);
	/* RO stays: the disk is read-only whatever the mask says. CONFIG_WCE
	 * goes with FLUSH. One queue: no MQ. No size_max: no SIZE_MAX. */
	assert_true(vio_has_feature(f, VIO_BLK_F_RO));
	assert_false(vio_has_feature(f, VIO_BLK_F_FLUSH));
	assert_false(vio_has_feature(f, VIO_BLK_F_CONFIG_WCE));
	assert_false(vio_has_feature(f, VIO_BLK_F_MQ));
	assert_false(vio_has_feature(f, VIO_BLK_F_SIZE_MAX));
	assert_false(vio_has_feature(f, VIO_F_INDIRECT_DESC));
	assert_false(vio_has_feature(f, VIO_F_RING_PACKED));
	assert_false(vio_has_feature(f, VIO_BLK_F_BARRIER));
	assert_false(vio_has_feature(f, VIO_BLK_F_SCSI));
	assert_int_equal(vio_dev_config_read(&blk.dev, 0, &c, sizeof(c)), 0);
	assert_int_equal(c.writeback, 0);
	vio_blk_dev_fini(&blk);
}

/* A file disk says write zeroes may unmap; its size comes from the file. */
static void p_file_config(void **state)
{
	struct vio_blk_dev_opts o = { .backend = VIO_BLK_BACKEND_FILE };
	struct vio_blk_dev blk;
	struct vio_blk_config c;
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/plain.img", tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 3 * 512 + 100), 0);
	o.fd = fd;
	assert_int_equal(vio_blk_dev_init(&blk, &o), 0);
	assert_int_equal(vio_dev_config_read(&blk.dev, 0, &c, sizeof(c)), 0);
	assert_int_equal(vio_le64_to_cpu(c.capacity), 3);
	assert_int_equal(c.write_zeroes_may_unmap, 1);
	vio_blk_dev_fini(&blk);
	/* fini left the caller's fd open. */
	assert_true(fcntl(fd, F_GETFD) >= 0);
	close(fd);
	unlink(path);
}

/* A file in tmpfs is served with preadv/pwritev, not io_uring: reads
 * there never wait for a device and the synchronous path is faster. */
static void p_tmpfs_file_is_synchronous(void **state)
{
	struct vio_blk_dev_opts o = { .backend = VIO_BLK_BACKEND_FILE };
	char path[] = "/dev/shm/vio-blk-test-XXXXXX";
	struct vio_blk_dev blk;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	o.fd = fd;
	assert_int_equal(vio_blk_dev_init(&blk, &o), 0);
	assert_false(vio_blk_dev_uses_io_uring(&blk));
	vio_blk_dev_fini(&blk);
	close(fd);
	unlink(path);
}

/* ======================================================================== */
/* Registration                                                             */

#define T(fn) { #fn, fn }

struct named_test {
	const char *name;
	CMUnitTestFunction fn;
};

/* Run once: the device alone, no transport. */
static const struct named_test plain_tests[] = {
	T(p_init_refuses_bad_options),
	T(p_config_space),
	T(p_offered_features),
	T(p_file_config),
	T(p_tmpfs_file_is_synchronous),
};

/* Run on the file backends. */
static const struct named_test file_tests[] = {
	T(t_discard_deallocates),
	T(t_read_past_eof),
};

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

/* Run on RAM. */
static const struct named_test ram_tests[] = {
	T(t_get_id),
	T(t_get_id_20_bytes),
	T(t_config),
	T(t_ro_driver_refuses),
	T(t_multiqueue),
	T(t_reset_mid_io),
	T(t_remove_cancels),
	T(t_writeback_toggle),
	T(t_config_readonly_fields),
	T(t_flush_not_negotiated),
	T(t_discard_not_negotiated),
	T(t_driver_refuses_bad_requests),
	T(t_legacy_rw),
	T(t_backend_error),
	T(t_null_backend),
	T(t_device_unsupp),
	T(t_device_writes_no_status),
	T(t_sync_call_device_needs_reset),
	T(t_sync_call_timeout),
	T(m_short_header),
	T(m_missing_status),
	T(m_readable_status_write),
	T(m_readable_status_read),
	T(m_sector_out_of_range),
	T(m_sector_overflow),
	T(m_len_not_sector_multiple),
	T(m_read_with_readable_data),
	T(m_write_with_writable_data),
	T(m_unknown_type),
	T(m_get_id_short_buffer),
	T(m_used_length),
	T(m_any_layout),
	T(m_read_only_device),
	T(m_discard_too_many_segments),
	T(m_discard_beyond_capacity),
	T(m_discard_too_many_sectors),
	T(m_discard_bad_flags),
	T(m_discard_bad_segment_bytes),
	T(m_discard_segments_ok),
	T(m_feature_not_negotiated),
	T(m_mixed_batch),
	T(m_in_order_round_one_used_entry),
	T(m_in_order_round_short_request),
	T(t_queue_calls_bad_index),
	T(t_kick_queue_only_its_queue),
	T(t_submit_kicks_only_its_queue),
	T(t_poll_queue_broken),
};

/* Run on RAM with the threaded transport. */
static const struct named_test threaded_tests[] = {
	T(t_poll_queue_only_its_queue),
	T(t_queues_on_two_threads),
};

#define NCOMBOS (ARRAY_LEN(modes) * ARRAY_LEN(layouts) * ARRAY_LEN(event_idx) * ARRAY_LEN(indirect))

static struct row rows[NCOMBOS * ARRAY_LEN(backends)];
static char row_names[NCOMBOS * ARRAY_LEN(backends)][64];

static void add_test(struct CMUnitTest *t, size_t *n, const char *prefix,
		     const struct named_test *nt, const struct row *row)
{
	size_t len = strlen(prefix) + strlen(nt->name) + 3;
	char *s = malloc(len);

	if (!s)
		abort();
	snprintf(s, len, "%s: %s", prefix, nt->name);
	t[*n] = (struct CMUnitTest){ s, nt->fn, fx_setup, fx_teardown, (void *)row };
	(*n)++;
}

int main(void)
{
	const size_t total = ARRAY_LEN(plain_tests) +
			     NCOMBOS * (ARRAY_LEN(backends) * (ARRAY_LEN(data_tests) +
							       ARRAY_LEN(file_tests)) +
					ARRAY_LEN(ram_tests)) +
			     NCOMBOS / ARRAY_LEN(modes) * ARRAY_LEN(threaded_tests);
	struct CMUnitTest *tests = calloc(total, sizeof(*tests));
	size_t n = 0, nrows = 0;
	int r;

	if (!tests || !mkdtemp(tmpdir))
		return 1;
	for (unsigned k = 0; k < ARRAY_LEN(plain_tests); k++) {
		tests[n] = (struct CMUnitTest){ strdup(plain_tests[k].name), plain_tests[k].fn,
						NULL, NULL, NULL };
		if (!tests[n++].name)
			return 1;
	}
	for (unsigned m = 0; m < ARRAY_LEN(modes); m++)
	for (unsigned l = 0; l < ARRAY_LEN(layouts); l++)
	for (unsigned e = 0; e < ARRAY_LEN(event_idx); e++)
	for (unsigned i = 0; i < ARRAY_LEN(indirect); i++)
	for (unsigned b = 0; b < ARRAY_LEN(backends); b++) {
		struct row *row = &rows[nrows];
		char *name = row_names[nrows++];

		row->mode = &modes[m];
		row->ring = layouts[l].features | event_idx[e].features | indirect[i].features;
		row->be = &backends[b];
		snprintf(name, sizeof(row_names[0]), "%s/%s/%s/%s/%s", modes[m].name,
			 layouts[l].name, event_idx[e].name, indirect[i].name, backends[b].name);
		for (unsigned k = 0; k < ARRAY_LEN(data_tests); k++)
			add_test(tests, &n, name, &data_tests[k], row);
		if (backends[b].type == VIO_BLK_BACKEND_RAM)
			for (unsigned k = 0; k < ARRAY_LEN(ram_tests); k++)
				add_test(tests, &n, name, &ram_tests[k], row);
		else
			for (unsigned k = 0; k < ARRAY_LEN(file_tests); k++)
				add_test(tests, &n, name, &file_tests[k], row);
		if (backends[b].type == VIO_BLK_BACKEND_RAM && modes[m].threaded)
			for (unsigned k = 0; k < ARRAY_LEN(threaded_tests); k++)
				add_test(tests, &n, name, &threaded_tests[k], row);
	}
	r = _cmocka_run_group_tests("blk", tests, n, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		free((void *)tests[i].name);
	free(tests);
	rmdir(tmpdir);
	return r;
}
