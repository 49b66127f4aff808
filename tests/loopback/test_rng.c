/*
 * test_rng.c - the entropy driver against the entropy device over the
 * loopback transport.
 *
 * Every test runs once per variant: direct mode (the device runs inside
 * the driver's kick) and threaded mode (a device thread polls the kick
 * eventfd; the driver blocks in vio_drv_wait), times each ring layout,
 * EVENT_IDX off/on and INDIRECT_DESC off/on, plus a legacy (no VERSION_1)
 * row and IN_ORDER rows. main() expands tests x variants into one cmocka
 * group, one TAP line each.
 *
 * Groups:
 *   driver API     reads of every size, async reads, cancel, timeouts,
 *                  remove with reads pending, rebinding
 *   device         rate limit (with a fake clock), entropy source short
 *                  reads/EINTR/failure (with a fake source)
 *   malformed      requests crafted with the raw ring API by a stand-in
 *                  driver: readable-only, mixed, zero-length, a chain as
 *                  long as the ring, a ring full of requests
 *   split-specific a hostile avail index written into the shared ring
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "layouts.h"

#include "heap.h"

#include "vio/devices.h"
#include "vio/drivers.h"
#include "vio/transport.h"

/* ======================================================================== */
/* Variants                                                                 */

/* The ring layouts: tests/lib/layouts.h. */

struct variant {
	bool threaded;
	bool legacy;            /* the driver does not take VERSION_1 */
	uint64_t features;      /* ring features the device offers */
	unsigned queue_size;    /* the driver's choice; 0: the device's */
	char name[64];
};

#define MAX_VARIANTS 32
static struct variant variants[MAX_VARIANTS];
static size_t nvariants;

static void add_variant(bool threaded, const struct layout *l, uint64_t extra, bool legacy,
			unsigned queue_size, const char *tag)
{
	struct variant *v = &variants[nvariants++];

	v->threaded = threaded;
	v->legacy = legacy;
	v->features = l->features | extra;
	v->queue_size = queue_size;
	snprintf(v->name, sizeof(v->name), "%s/%s%s%s%s", threaded ? "threaded" : "direct", l->name,
		 vio_has_feature(extra, VIO_F_EVENT_IDX) ? "/evidx" : "",
		 vio_has_feature(extra, VIO_F_INDIRECT_DESC) ? "/indirect" : "", tag);
}

static void build_variants(void)
{
	const uint64_t ev = VIO_BIT(VIO_F_EVENT_IDX), ind = VIO_BIT(VIO_F_INDIRECT_DESC);

	const uint64_t in_order = VIO_BIT(VIO_F_IN_ORDER);

	for (int t = 0; t < 2; t++) {
		for (size_t l = 0; l < sizeof(layouts) / sizeof(layouts[0]); l++) {
			for (unsigned axes = 0; axes < 4; axes++) {
				uint64_t f = ((axes & 1) ? ev : 0) | ((axes & 2) ? ind : 0);

				add_variant(t, &layouts[l], f, false, 0, "");
			}
		}
		add_variant(t, &layouts[0], ev | ind, true, 0, "/legacy");
		add_variant(t, &layouts[0], ev | ind | in_order, false, 0, "/in_order");
		/* A packed queue need not be a power of two. */
		add_variant(t, &layouts[1], ev | ind | in_order, false, 100, "/in_order/q100");
	}
}

static bool is_packed(const struct variant *v)
{
	return vio_has_feature(v->features, VIO_F_RING_PACKED);
}

/* ======================================================================== */
/* Environment: device, loopback, bus, driver, device thread                */

#define ARENA_BYTES (4u << 20)
#define WAIT_MS 10000
#define SEGS 4u                 /* segments per driver request */

struct env {
	const struct variant *v;
	struct vio_rng_dev rng;
	struct vio_loopback lb;
	struct vio_bus bus;
	struct vio_rng_driver drv;
	bool lb_live, dev_added;

	/* The stand-in driver of the malformed tests: queues, nothing else. */
	struct vio_driver raw;
	uint32_t raw_ids[2];
	struct vio_drv_vq raw_vq;

	pthread_t thread;
	int stop_fd;
	bool thread_live;

	pthread_mutex_t log_lock;
	unsigned nlogs;
	char last_log[200];

	/* Asynchronous reads live here, not on a test's stack: a failed
	 * assertion leaves them queued, and teardown's remove completes them. */
	struct vio_rng_read rd[2];
	uint8_t rdbuf[2][5000];
	struct async_log {
		const void *order[4];
		int err[4];
		unsigned n;
	} alog;

	/* Fake clock and entropy source, for tests that ask for them. */
	uint64_t fake_ns;               /* atomic */
	unsigned src_calls;             /* device thread only, read after */
	uint8_t src_next;
	int src_mode;
};

#define DEV(e) (&(e)->lb.vdev)

/* The loopback lock serialises the device with kick dispatch and the
 * control plane: held around every call into the device from here. */
static void lock(struct env *e)
{
	vio_loopback_lock(&e->lb);
}

static void unlock(struct env *e)
{
	vio_loopback_unlock(&e->lb);
}

static void capture_log(void *opaque, enum vio_log_level level, const char *msg)
{
	struct env *e = opaque;

	(void)level;
	pthread_mutex_lock(&e->log_lock);
	e->nlogs++;
	snprintf(e->last_log, sizeof(e->last_log), "%s", msg);
	pthread_mutex_unlock(&e->log_lock);
}

static bool logged(struct env *e, const char *needle)
{
	bool r;

	pthread_mutex_lock(&e->log_lock);
	r = e->nlogs && strstr(e->last_log, needle);
	pthread_mutex_unlock(&e->log_lock);
	return r;
}

/* The device thread of threaded mode: kicks, and the rate limit's timer. */
static void *device_thread(void *arg)
{
	struct env *e = arg;

	for (;;) {
		struct pollfd p[2] = { { e->lb.kick_fd, POLLIN, 0 }, { e->stop_fd, POLLIN, 0 } };
		int timeout;

		lock(e);
		timeout = vio_rng_dev_timeout_ms(&e->rng);
		unlock(e);
		if (poll(p, 2, timeout) < 0)
			continue;
		if (p[1].revents)
			return NULL;
		if (p[0].revents)
			vio_loopback_device_dispatch(&e->lb);
		lock(e);
		vio_rng_dev_process(&e->rng);
		unlock(e);
	}
}

static int env_setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	if (!e)
		return -1;
	e->v = *state;
	e->stop_fd = -1;
	pthread_mutex_init(&e->log_lock, NULL);
	*state = e;
	return 0;
}

static void stop_thread(struct env *e)
{
	uint64_t one = 1;

	if (!e->thread_live)
		return;
	if (write(e->stop_fd, &one, sizeof(one)) != sizeof(one))
		abort();
	pthread_join(e->thread, NULL);
	e->thread_live = false;
}

static void remove_device(struct env *e)
{
	if (e->dev_added)
		vio_bus_remove_device(&e->bus, DEV(e));
	e->dev_added = false;
}

static int env_teardown(void **state)
{
	struct env *e = *state;

	remove_device(e);
	stop_thread(e);
	if (e->stop_fd >= 0)
		close(e->stop_fd);
	if (e->lb_live)
		vio_loopback_fini(&e->lb);
	vio_rng_dev_fini(&e->rng);
	pthread_mutex_destroy(&e->log_lock);
	free(e);
	return 0;
}

static int raw_probe(struct vio_drv_device *dev)
{
	struct env *e = (struct env *)((char *)dev->driver - offsetof(struct env, raw));
	struct vio_drv_vq_info info = { .indirect_max = 8, .size = e->v->queue_size };

	return vio_drv_find_vqs(dev, 1, &info, &e->raw_vq);
}

static void raw_remove(struct vio_drv_device *dev)
{
	vio_drv_reset(dev);
	while (vio_drvq_detach_unused(&dev->vqs[0].q))
		;
	vio_drv_del_vqs(dev);
}

/* Builds everything with device options o (features from the variant are
 * added) and binds the rng driver, or the raw stand-in when raw is set. */
static void env_start_opts(struct env *e, const struct vio_rng_dev_opts *o, bool raw)
{
	struct vio_rng_dev_opts opts = *o;
	struct vio_rng_drv_opts dopts = { .queue_size = e->v->queue_size, .segs = SEGS };
	struct vio_driver *drv;

	opts.features |= e->v->features;
	opts.legacy_ok = true;
	assert_int_equal(vio_rng_dev_init(&e->rng, &opts), 0);
	e->rng.dev.log = capture_log;
	e->rng.dev.log_opaque = e;
	assert_int_equal(vio_loopback_init(&e->lb, &e->rng.dev, ARENA_BYTES, e->v->threaded), 0);
	e->lb_live = true;
	vio_bus_init(&e->bus, vt_heap_alloc, vt_heap_free, NULL);
	if (e->v->threaded) {
		e->stop_fd = eventfd(0, EFD_CLOEXEC);
		assert_true(e->stop_fd >= 0);
		assert_int_equal(pthread_create(&e->thread, NULL, device_thread, e), 0);
		e->thread_live = true;
	}

	if (e->v->legacy)
		dopts.features_off = VIO_BIT(VIO_F_VERSION_1);
	assert_int_equal(vio_rng_drv_register(&e->bus, &e->drv, &dopts), 0);
	drv = &e->drv.drv;
	if (raw) {
		/* The stand-in takes the rng driver's feature tables, and its
		 * place on the bus (no device is there yet). */
		vio_rng_drv_unregister(&e->bus, &e->drv);
		e->raw_ids[0] = VIO_ID_RNG;
		e->raw.name = "raw";
		e->raw.ids = e->raw_ids;
		e->raw.features = e->drv.drv.features;
		e->raw.legacy_features = e->drv.drv.legacy_features;
		e->raw.probe = raw_probe;
		e->raw.remove = raw_remove;
		drv = &e->raw;
		assert_int_equal(vio_bus_register_driver(&e->bus, drv), 0);
	}
	assert_int_equal(vio_bus_add_device(&e->bus, DEV(e)), 0);
	e->dev_added = true;
	assert_ptr_equal(DEV(e)->driver, drv);
	assert_int_equal(DEV(e)->legacy, e->v->legacy);
	assert_int_equal(vio_drv_has_feature(DEV(e), VIO_F_RING_PACKED), is_packed(e->v));
}

static void env_start(struct env *e)
{
	static const struct vio_rng_dev_opts none;

	env_start_opts(e, &none, false);
}

static uint8_t dev_status(struct env *e)
{
	uint8_t s;

	lock(e);
	s = vio_dev_get_status(&e->rng.dev);
	unlock(e);
	return s;
}

static struct vio_rng_dev_stats dev_stats(struct env *e)
{
	struct vio_rng_dev_stats s;

	lock(e);
	s = e->rng.stats;
	unlock(e);
	return s;
}

/* Runs the device's deferred work from this thread (both modes). */
static void dev_process(struct env *e)
{
	lock(e);
	vio_rng_dev_process(&e->rng);
	unlock(e);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Lets completions reach the driver until *got reaches want or WAIT_MS. */
static void pump_until(struct env *e, const size_t *got, size_t want)
{
	const int64_t end = now_ms() + WAIT_MS;

	while (*got < want && now_ms() < end) {
		(void)vio_drv_wait(DEV(e), 5);
		vio_rng_drv_poll(DEV(e));
	}
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* ======================================================================== */
/* Fakes: clock and entropy sources                                         */

static uint64_t fake_clock(void *opaque)
{
	struct env *e = opaque;

	return __atomic_load_n(&e->fake_ns, __ATOMIC_ACQUIRE);
}

static void advance_ms(struct env *e, uint64_t ms)
{
	__atomic_fetch_add(&e->fake_ns, ms * 1000000, __ATOMIC_ACQ_REL);
}

enum { SRC_SHORT_EINTR, SRC_FAIL, SRC_EAGAIN_FOREVER };

/* A deterministic source: counting bytes, at most 7 per call, -EINTR on
 * every third call; or one that always fails; or always says EAGAIN. */
static ssize_t fake_source(void *opaque, void *buf, size_t len)
{
	struct env *e = opaque;
	uint8_t *p = buf;
	size_t n = len < 7 ? len : 7;

	e->src_calls++;
	if (e->src_mode == SRC_FAIL)
		return -EIO;
	if (e->src_mode == SRC_EAGAIN_FOREVER)
		return -EAGAIN;
	if (e->src_calls % 3 == 0)
		return -EINTR;
	for (size_t i = 0; i < n; i++)
		p[i] = e->src_next++;
	return (ssize_t)n;
}

/* A device limited to rate bytes/s on a frozen fake clock. */
static void start_rate_limited(struct env *e, uint32_t rate)
{
	struct vio_rng_dev_opts o = {
		.rate_bytes_per_sec = rate, .clock = fake_clock, .clock_opaque = e,
	};

	e->fake_ns = UINT64_C(1) << 40;
	env_start_opts(e, &o, false);
}

/* A device whose whole budget (rate bytes) has been read already. */
static void start_starved(struct env *e)
{
	uint8_t buf[64];

	start_rate_limited(e, sizeof(buf));
	assert_int_equal(vio_rng_drv_read(DEV(e), buf, sizeof(buf), WAIT_MS), sizeof(buf));
}

/* ======================================================================== */
/* Driver API                                                               */

static void test_read_small(void **state)
{
	struct env *e = *state;
	uint8_t buf[64] = { 0 };

	env_start(e);
	assert_int_equal(vio_rng_drv_read(DEV(e), buf, sizeof(buf), WAIT_MS), sizeof(buf));
	assert_false(all_zero(buf, sizeof(buf)));
	assert_int_equal(dev_stats(e).bytes, sizeof(buf));
}

static void test_reads_distinct(void **state)
{
	struct env *e = *state;
	uint8_t a[32], b[32];

	env_start(e);
	assert_int_equal(vio_rng_drv_read(DEV(e), a, sizeof(a), WAIT_MS), sizeof(a));
	assert_int_equal(vio_rng_drv_read(DEV(e), b, sizeof(b), WAIT_MS), sizeof(b));
	assert_memory_not_equal(a, b, sizeof(a));
}

static void test_read_odd_sizes(void **state)
{
	static const size_t sizes[] = { 1, 3, 4095, 4096, 4097, 3 * 4096 + 5 };
	struct env *e = *state;
	uint8_t *buf = malloc(4 * 4096);
	uint64_t total = 0;

	env_start(e);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(buf, 0, 4 * 4096);
		assert_int_equal(vio_rng_drv_read(DEV(e), buf, sizes[i], WAIT_MS), sizes[i]);
		total += sizes[i];
		if (sizes[i] >= 16)
			assert_false(all_zero(buf + sizes[i] - 16, 16));
	}
	/* The driver never asks for more than its reads want. */
	assert_int_equal(dev_stats(e).bytes, total);
	free(buf);
}

/* 1 MiB in 4 KiB requests: exact byte count, no repeated or empty block,
 * and every byte value about equally often (bounds are > 9 sigma out). */
static void test_read_1mib(void **state)
{
	const size_t n = 1u << 20;
	struct env *e = *state;
	uint8_t *buf = calloc(1, n);
	unsigned hist[256] = { 0 };
	struct vio_rng_dev_stats st;

	env_start(e);
	assert_int_equal(vio_rng_drv_read(DEV(e), buf, n, WAIT_MS), n);
	st = dev_stats(e);
	assert_int_equal(st.bytes, n);
	assert_true(st.requests >= n / 4096);
	for (size_t off = 0; off < n; off += 4096) {
		assert_false(all_zero(buf + off, 4096));
		if (off)
			assert_memory_not_equal(buf + off - 4096, buf + off, 4096);
	}
	for (size_t i = 0; i < n; i++)
		hist[buf[i]]++;
	for (unsigned v = 0; v < 256; v++) {
		assert_true(hist[v] > 3500);
		assert_true(hist[v] < 4700);
	}
	free(buf);
}

static void test_read_zero_bytes(void **state)
{
	struct env *e = *state;
	uint8_t b = 0x5a;

	env_start(e);
	assert_int_equal(vio_rng_drv_read(DEV(e), &b, 0, WAIT_MS), 0);
	assert_int_equal(b, 0x5a);
	assert_int_equal(dev_stats(e).requests, 0);
}

static void async_done(struct vio_rng_read *rd, int err)
{
	struct async_log *l = rd->opaque;

	l->err[l->n] = err;
	l->order[l->n++] = rd->buf;
}

/* Async read i of the env, of len bytes. */
static struct vio_rng_read *async_read(struct env *e, unsigned i, size_t len)
{
	struct vio_rng_read *rd = &e->rd[i];

	assert_true(len <= sizeof(e->rdbuf[i]));
	*rd = (struct vio_rng_read){ .buf = e->rdbuf[i], .len = len, .done = async_done,
				     .opaque = &e->alog };
	return rd;
}

/* Two reads queued at once complete in order, each whole. */
static void test_read_async_fifo(void **state)
{
	struct env *e = *state;
	struct vio_rng_read *r1 = async_read(e, 0, 5000), *r2 = async_read(e, 1, 700);

	env_start(e);
	assert_int_equal(vio_rng_drv_read_async(DEV(e), r1), 0);
	assert_int_equal(vio_rng_drv_read_async(DEV(e), r2), 0);
	pump_until(e, &r2->got, r2->len);
	assert_int_equal(e->alog.n, 2);
	assert_ptr_equal(e->alog.order[0], r1->buf);
	assert_ptr_equal(e->alog.order[1], r2->buf);
	assert_int_equal(e->alog.err[0], 0);
	assert_int_equal(e->alog.err[1], 0);
	assert_int_equal(r1->got, 5000);
	assert_false(all_zero(e->rdbuf[0] + 5000 - 32, 32));
	assert_false(all_zero(e->rdbuf[1] + 700 - 32, 32));
}

static void test_read_async_invalid(void **state)
{
	struct env *e = *state;
	struct vio_rng_read *no_len = async_read(e, 0, 0), *no_done = async_read(e, 1, 8);

	no_done->done = NULL;
	env_start(e);
	assert_int_equal(vio_rng_drv_read_async(DEV(e), no_len), -EINVAL);
	assert_int_equal(vio_rng_drv_read_async(DEV(e), no_done), -EINVAL);
	assert_int_equal(vio_rng_drv_read_async(DEV(e), NULL), -EINVAL);
	assert_int_equal(e->alog.n, 0);
}

/* Reads on a device the rng driver is not bound to. */
static void test_read_unbound(void **state)
{
	struct env *e = *state;
	uint8_t b[8];
	static const struct vio_rng_dev_opts none;

	env_start_opts(e, &none, true); /* the stand-in driver is bound */
	assert_int_equal(vio_rng_drv_read(DEV(e), b, sizeof(b), 0), -ENODEV);
	remove_device(e);
	assert_int_equal(vio_rng_drv_read(DEV(e), b, sizeof(b), 0), -ENODEV);
}

static void test_cancel(void **state)
{
	struct env *e = *state;
	struct vio_rng_read *rd = async_read(e, 0, 100);

	start_starved(e);
	assert_int_equal(vio_rng_drv_read_async(DEV(e), rd), 0);
	assert_true(vio_rng_drv_cancel(DEV(e), rd));
	assert_false(vio_rng_drv_cancel(DEV(e), rd));
	/* The request it started still completes later; nobody is called. */
	advance_ms(e, 2000);
	dev_process(e);
	for (int i = 0; i < 20; i++) {
		(void)vio_drv_wait(DEV(e), 5);
		vio_rng_drv_poll(DEV(e));
	}
	assert_int_equal(e->alog.n, 0);
	assert_int_equal(rd->got, 0);
	assert_int_equal(dev_stats(e).bytes, 64 + 64); /* it was served, into nobody */
}

static void test_read_timeout(void **state)
{
	struct env *e = *state;
	uint8_t b[64];
	int64_t t0;

	start_starved(e);
	t0 = now_ms();
	assert_int_equal(vio_rng_drv_read(DEV(e), b, sizeof(b), 50), -ETIMEDOUT);
	assert_true(now_ms() - t0 >= 50);
	assert_int_equal(vio_rng_drv_read(DEV(e), b, sizeof(b), 0), -EAGAIN);
}

/* A timed-out read returns the bytes that did arrive. */
static void test_read_timeout_partial(void **state)
{
	struct env *e = *state;
	uint8_t b[200];

	start_rate_limited(e, 150);
	assert_int_equal(vio_rng_drv_read(DEV(e), b, sizeof(b), 30), 150);
}

static void test_remove_cancels_reads(void **state)
{
	struct env *e = *state;
	struct vio_rng_read *rd = async_read(e, 0, 100);

	start_starved(e);
	assert_int_equal(vio_rng_drv_read_async(DEV(e), rd), 0);
	remove_device(e);
	assert_int_equal(e->alog.n, 1);
	assert_int_equal(e->alog.err[0], -ECANCELED);
	assert_int_equal(rd->got, 0);
	assert_int_equal(vio_rng_drv_read_async(DEV(e), rd), -ENODEV);
}

/* Unbind and bind again: a fresh probe over a reset device. */
static void test_rebind(void **state)
{
	struct env *e = *state;
	uint8_t b[256];

	env_start(e);
	assert_int_equal(vio_rng_drv_read(DEV(e), b, sizeof(b), WAIT_MS), sizeof(b));
	vio_drv_unbind(DEV(e));
	assert_null(DEV(e)->driver);
	assert_int_equal(vio_rng_drv_read(DEV(e), b, sizeof(b), 0), -ENODEV);
	assert_int_equal(vio_drv_bind(DEV(e)), 0);
	assert_ptr_equal(DEV(e)->driver, &e->drv.drv);
	memset(b, 0, sizeof(b));
	assert_int_equal(vio_rng_drv_read(DEV(e), b, sizeof(b), WAIT_MS), sizeof(b));
	assert_false(all_zero(b, sizeof(b)));
}

/* ======================================================================== */
/* Device: rate limit and entropy source                                    */

/* Has the device seen a request waiting for budget? Kicks only: nothing
 * here runs the device's deferred work. */
static bool eventually_throttled(struct env *e)
{
	const int64_t end = now_ms() + WAIT_MS;

	while (dev_stats(e).throttled == 0) {
		if (now_ms() >= end)
			return false;
		usleep(1000);
	}
	return true;
}

static void test_rate_limit(void **state)
{
	struct env *e = *state;
	struct vio_rng_read *rd = async_read(e, 0, 3000);
	int t;

	start_rate_limited(e, 1000);
	assert_int_equal(vio_rng_drv_read_async(DEV(e), rd), 0);
	/* The bucket starts full: one second's worth. */
	pump_until(e, &rd->got, 1000);
	assert_int_equal(rd->got, 1000);
	/* The driver's next request must reach the device as a kick even
	 * though the device stopped for budget, not because the ring ran
	 * empty (with EVENT_IDX it has to ask for that kick): a device
	 * that sleeps until its timer or a kick would miss it otherwise. */
	assert_true(eventually_throttled(e));
	lock(e);
	t = vio_rng_dev_timeout_ms(&e->rng);
	unlock(e);
	assert_int_equal(t, 256); /* a 256-byte chunk at 1000 B/s */
	assert_int_equal(rd->got, 1000);

	advance_ms(e, 500);
	dev_process(e);
	pump_until(e, &rd->got, 1500);
	assert_int_equal(rd->got, 1500);

	/* A long pause fills the bucket once, not more. */
	advance_ms(e, 5000);
	dev_process(e);
	pump_until(e, &rd->got, 2500);
	assert_int_equal(rd->got, 2500);
	assert_int_equal(e->alog.n, 0);

	advance_ms(e, 1000);
	dev_process(e);
	pump_until(e, &rd->got, 3000);
	assert_int_equal(e->alog.n, 1);
	assert_int_equal(e->alog.err[0], 0);
	assert_int_equal(dev_stats(e).bytes, 3000);
	lock(e);
	t = vio_rng_dev_timeout_ms(&e->rng);
	unlock(e);
	assert_int_equal(t, -1); /* nothing waits */
}

static void start_fake_source(struct env *e, int mode)
{
	struct vio_rng_dev_opts o = { .source = fake_source, .source_opaque = e };

	e->src_mode = mode;
	env_start_opts(e, &o, false);
}

/* Short reads and EINTR lose nothing: the bytes are the source's, in order. */
static void test_source_short_eintr(void **state)
{
	struct env *e = *state;
	uint8_t b[4096], want[4096];

	start_fake_source(e, SRC_SHORT_EINTR);
	assert_int_equal(vio_rng_drv_read(DEV(e), b, sizeof(b), WAIT_MS), sizeof(b));
	for (size_t i = 0; i < sizeof(want); i++)
		want[i] = (uint8_t)i;
	assert_memory_equal(b, want, sizeof(b));
	assert_true(e->src_calls > sizeof(b) / 7);
	assert_int_equal(dev_stats(e).source_errors, 0);
}

/* Waits (a hang guard of 10 s, not a timing assertion) until the device
 * has seen its source fail: on a loaded machine the device thread may not
 * have tried the source within the driver's short read deadline. */
static uint64_t wait_source_errors(struct env *e)
{
	for (int i = 0; i < 10000 && dev_stats(e).source_errors == 0; i++) {
		dev_process(e);
		usleep(1000);
	}
	return dev_stats(e).source_errors;
}

/* A failing source: requests come back empty, the error is logged, the
 * driver does not spin forever, the device stays usable. */
static void test_source_failure(void **state)
{
	struct env *e = *state;
	uint8_t b[64];

	start_fake_source(e, SRC_FAIL);
	assert_int_equal(vio_rng_drv_read(DEV(e), b, sizeof(b), 50), -ETIMEDOUT);
	assert_true(wait_source_errors(e) > 0);
	assert_int_equal(dev_stats(e).bytes, 0);
	assert_true(logged(e, "entropy source failed"));
	assert_false(dev_status(e) & VIO_STATUS_NEEDS_RESET);
}

static void test_source_eagain_forever(void **state)
{
	struct env *e = *state;
	uint8_t b[64];

	start_fake_source(e, SRC_EAGAIN_FOREVER);
	assert_int_equal(vio_rng_drv_read(DEV(e), b, sizeof(b), 50), -ETIMEDOUT);
	assert_true(wait_source_errors(e) > 0);
	assert_false(dev_status(e) & VIO_STATUS_NEEDS_RESET);
}

/* ======================================================================== */
/* Malformed requests, through the raw ring API                             */

static void start_raw(struct env *e)
{
	static const struct vio_rng_dev_opts none;

	env_start_opts(e, &none, true);
}

static uint8_t *dma_buf(struct env *e, size_t n, uint64_t *dma)
{
	uint8_t *p = vio_drv_dma_alloc(DEV(e), n, 64, dma);

	assert_non_null(p);
	return p;
}

/* Waits for the used buffer `token` on the raw queue; returns its length. */
static uint32_t raw_wait(struct env *e, void *token)
{
	const int64_t end = now_ms() + WAIT_MS;
	void *t;
	uint32_t len;

	for (;;) {
		int r = vio_drvq_get_buf(&e->raw_vq.q, &t, &len);

		if (r == 0) {
			assert_ptr_equal(t, token);
			return len;
		}
		assert_int_equal(r, -EAGAIN);
		assert_true(now_ms() < end);
		if (vio_drvq_enable_cb(&e->raw_vq.q))
			(void)vio_drv_wait(DEV(e), 5);
	}
}

/* Posts one request and returns the used length the device reported. */
static uint32_t raw_request(struct env *e, const struct vio_sg *out, unsigned out_n,
			    const struct vio_sg *in, unsigned in_n)
{
	int token;

	assert_int_equal(vio_drvq_add(&e->raw_vq.q, out, out_n, in, in_n, &token), 0);
	vio_drv_vq_kick(&e->raw_vq);
	return raw_wait(e, &token);
}

/* After a malformed request, a good one is still served in full. */
static void assert_still_serves(struct env *e)
{
	uint64_t dma;
	uint8_t *p = dma_buf(e, 64, &dma);
	struct vio_sg in = { dma, 64 };

	assert_int_equal(raw_request(e, NULL, 0, &in, 1), 64);
	assert_false(all_zero(p, 64));
	assert_false(dev_status(e) & VIO_STATUS_NEEDS_RESET);
}

static void test_malformed_readable_only(void **state)
{
	struct env *e = *state;
	uint64_t dma;
	uint8_t *p;
	struct vio_sg out;

	start_raw(e);
	p = dma_buf(e, 64, &dma);
	memset(p, 0xaa, 64);
	out = (struct vio_sg){ dma, 64 };
	assert_int_equal(raw_request(e, &out, 1, NULL, 0), 0);
	assert_int_equal(dev_stats(e).malformed, 1);
	assert_true(logged(e, "device-readable"));
	for (int i = 0; i < 64; i++)
		assert_int_equal(p[i], 0xaa);
	assert_still_serves(e);
}

/* Readable then writable: refused whole, the writable part untouched. */
static void test_malformed_mixed(void **state)
{
	struct env *e = *state;
	uint64_t dma;
	uint8_t *p;
	struct vio_sg out, in;

	start_raw(e);
	p = dma_buf(e, 128, &dma);
	memset(p, 0xaa, 128);
	out = (struct vio_sg){ dma, 16 };
	in = (struct vio_sg){ dma + 64, 64 };
	assert_int_equal(raw_request(e, &out, 1, &in, 1), 0);
	assert_int_equal(dev_stats(e).malformed, 1);
	for (int i = 0; i < 128; i++)
		assert_int_equal(p[i], 0xaa);
	assert_still_serves(e);
}

static void test_zero_length(void **state)
{
	struct env *e = *state;
	uint64_t dma;
	struct vio_sg in;

	start_raw(e);
	(void)dma_buf(e, 64, &dma);
	in = (struct vio_sg){ dma, 0 };
	assert_int_equal(raw_request(e, NULL, 0, &in, 1), 0);
	assert_int_equal(dev_stats(e).malformed, 0);
	assert_int_equal(dev_stats(e).requests, 1);
	assert_still_serves(e);
}

/* One request of as many one-byte segments as the ring has descriptors,
 * each followed by a canary byte the device must not touch. */
static void test_chain_as_long_as_ring(void **state)
{
	struct env *e = *state;
	unsigned n;
	uint64_t dma;
	uint8_t *p;
	struct vio_sg *in;
	bool nonzero = false;

	start_raw(e);
	n = e->raw_vq.q.size;
	p = dma_buf(e, 2 * n, &dma);
	in = calloc(n, sizeof(*in));
	memset(p, 0xaa, 2 * n);
	for (unsigned i = 0; i < n; i++)
		in[i] = (struct vio_sg){ dma + 2 * i, 1 };
	assert_int_equal(raw_request(e, NULL, 0, in, n), n);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(p[2 * i + 1], 0xaa);
		nonzero |= p[2 * i] != 0xaa;
	}
	assert_true(nonzero);
	assert_int_equal(dev_stats(e).bytes, n);
	free(in);
	assert_still_serves(e);
}

/* The whole ring full of requests, made available with one kick. */
static void test_ring_full_of_requests(void **state)
{
	struct env *e = *state;
	unsigned n;
	uint64_t dma;
	bool *seen;

	start_raw(e);
	n = e->raw_vq.q.size;
	(void)dma_buf(e, 16 * (size_t)n, &dma);
	seen = calloc(n, sizeof(*seen));
	for (unsigned i = 0; i < n; i++) {
		struct vio_sg in = { dma + 16 * i, 16 };

		assert_int_equal(vio_drvq_add(&e->raw_vq.q, NULL, 0, &in, 1, &seen[i]), 0);
	}
	assert_int_equal(vio_drvq_num_free(&e->raw_vq.q), 0);
	vio_drv_vq_kick(&e->raw_vq);
	for (unsigned done = 0; done < n; done++) {
		const int64_t end = now_ms() + WAIT_MS;
		void *t;
		uint32_t len;

		while (vio_drvq_get_buf(&e->raw_vq.q, &t, &len) == -EAGAIN) {
			assert_true(now_ms() < end);
			if (vio_drvq_enable_cb(&e->raw_vq.q))
				(void)vio_drv_wait(DEV(e), 5);
		}
		assert_int_equal(len, 16);
		assert_false(*(bool *)t);
		*(bool *)t = true;
	}
	assert_int_equal(dev_stats(e).requests, n);
	free(seen);
}

/* ======================================================================== */
/* Split-specific: a hostile driver writes the shared ring                  */

static void test_split_hostile_avail_index(void **state)
{
	struct env *e = *state;
	struct vio_drvq *q;
	const int64_t end = now_ms() + WAIT_MS;

	start_raw(e);
	q = &e->raw_vq.q;
	/* More entries "available" than the ring has: a ring, not a request,
	 * is broken, so the device must stop and ask for a reset. */
	__atomic_store_n(&q->u.split.avail->idx.raw,
			 vio_set16(q->legacy, (uint16_t)(q->size + 5)).raw, __ATOMIC_RELEASE);
	DEV(e)->ops->notify(DEV(e), 0);
	while (!(dev_status(e) & VIO_STATUS_NEEDS_RESET))
		assert_true(now_ms() < end);
	assert_int_equal(dev_stats(e).requests, 0);
	assert_true(logged(e, "avail index"));
}

/* ======================================================================== */
/* Device options                                                           */

static void test_init_rejects_bad_options(void **state)
{
	struct env *e = *state;
	struct vio_rng_dev_opts o = { .queue_size = 3 };

	assert_int_equal(vio_rng_dev_init(&e->rng, NULL), 0); /* the defaults */
	assert_int_equal(e->rng.dev.num_queues, 1);
	vio_rng_dev_fini(&e->rng);
	assert_int_equal(vio_rng_dev_init(&e->rng, &o), -EINVAL);
	o.queue_size = 2 * VIO_RNG_DEV_QUEUE_MAX;
	assert_int_equal(vio_rng_dev_init(&e->rng, &o), -EINVAL);
	o.queue_size = 0;
	o.features = VIO_BIT(0); /* the rng has no device feature bits */
	assert_int_equal(vio_rng_dev_init(&e->rng, &o), -EINVAL);
	o.features = VIO_BIT(VIO_F_ACCESS_PLATFORM);
	assert_int_equal(vio_rng_dev_init(&e->rng, &o), -EINVAL);
	o.features = VIO_BIT(VIO_F_RING_PACKED) | VIO_BIT(VIO_F_EVENT_IDX);
	o.queue_size = 16;
	assert_int_equal(vio_rng_dev_init(&e->rng, &o), 0);
	assert_int_equal(e->rng.dev.device_id, VIO_ID_RNG);
	assert_int_equal(e->rng.dev.num_queues, 1);
	assert_int_equal(e->rng.dev.config_len, 0);
	assert_int_equal(vio_dev_queue_max(&e->rng.dev, 0), 16);
	assert_int_equal(vio_dev_get_features(&e->rng.dev),
			 VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_RING_PACKED) | VIO_BIT(VIO_F_EVENT_IDX));
	/* Nothing waits, nothing is limited. */
	assert_int_equal(vio_rng_dev_timeout_ms(&e->rng), -1);
}

/* ======================================================================== */

struct test {
	const char *name;
	CMUnitTestFunction fn;
	bool split_only;
	bool once;              /* does not depend on the variant: run it once */
};

#define T(f) { #f, f, false, false }
#define SPLIT(f) { #f, f, true, false }
#define ONCE(f) { #f, f, false, true }

static const struct test tests[] = {
	T(test_read_small),
	T(test_reads_distinct),
	T(test_read_odd_sizes),
	T(test_read_1mib),
	T(test_read_zero_bytes),
	T(test_read_async_fifo),
	T(test_read_async_invalid),
	T(test_read_unbound),
	T(test_cancel),
	T(test_read_timeout),
	T(test_read_timeout_partial),
	T(test_remove_cancels_reads),
	T(test_rebind),
	T(test_rate_limit),
	T(test_source_short_eintr),
	T(test_source_failure),
	T(test_source_eagain_forever),
	T(test_malformed_readable_only),
	T(test_malformed_mixed),
	T(test_zero_length),
	T(test_chain_as_long_as_ring),
	T(test_ring_full_of_requests),
	SPLIT(test_split_hostile_avail_index),
	ONCE(test_init_rejects_bad_options),
};

int main(void)
{
	const size_t nt = sizeof(tests) / sizeof(tests[0]);
	struct CMUnitTest *runs;
	size_t n = 0;

	build_variants();
	runs = calloc(nt * nvariants, sizeof(*runs));
	for (size_t v = 0; v < nvariants; v++) {
		for (size_t t = 0; t < nt; t++) {
			char *name;

			if ((tests[t].split_only && is_packed(&variants[v])) || (tests[t].once && v))
				continue;
			name = malloc(strlen(tests[t].name) + strlen(variants[v].name) + 4);
			sprintf(name, "%s [%s]", tests[t].name + 5,
				tests[t].once ? "any" : variants[v].name);
			runs[n++] = (struct CMUnitTest){ name, tests[t].fn, env_setup, env_teardown,
							 &variants[v] };
		}
	}
	return _cmocka_run_group_tests("lb_rng", runs, n, NULL, NULL);
}
