/*
 * test_balloon.c - the balloon driver against the balloon device over the
 * loopback transport, and the device against hand-made (hostile) buffers.
 *
 * Groups:
 *   matrix     driver + device end to end, run once per row of a table:
 *              direct/threaded x split/packed x EVENT_IDX x INDIRECT.
 *              The test's page source records every page the driver takes,
 *              so the device's set can be compared with it exactly, and
 *              the device's hooks and the source's free record the order
 *              of "device saw the deflate" and "guest reused the page".
 *   driver     single cases: limits, exhaustion, timeouts, DEFLATE_ON_OOM,
 *              remove, legacy, and a 65536-page target against a mock
 *              device and a mock page source (no 256 MiB needed).
 *   device     the device fed raw buffers through the ring API by a bare
 *              test driver, once per ring layout: every malformed input is
 *              its own case.
 *
 * In threaded mode the device runs on its own thread. Anything the test
 * does to the device model (set a target, read its state) is handed to
 * that thread (on_dev), which is how an embedder must serialise with the
 * device's queue processing; the driver runs on the test's thread and
 * waits with vio_drv_wait().
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vio/devices.h"
#include "vio/drivers.h"
#include "vio/transport.h"
#include "layouts.h"

#define PAGE 4096u
#define ARENA (16u << 20)         /* 4096 pages: rings plus the balloon */
#define MAX_POOL 4096u
#define MAX_EVENTS 16384u
#define WAIT_MS 5000

/* ======================================================================== */
/* The matrix                                                               */

struct row {
	char name[48];
	bool threaded;
	uint64_t ring;            /* ring features the device offers */
};

/* The ring layouts: tests/lib/layouts.h. */

#define NLAYOUTS (sizeof(layouts) / sizeof(layouts[0]))
#define NROWS (2 * NLAYOUTS * 2 * 2)

static struct row rows[NROWS];
/* Rows for the raw device tests: direct mode, one per layout. */
static struct row layout_rows[NLAYOUTS];

/* Row i: bit 0 indirect, bit 1 EVENT_IDX, then the layout, then the mode. */
static void build_rows(void)
{
	for (unsigned i = 0; i < NROWS; i++) {
		struct row *r = &rows[i];
		const bool ind = i & 1, ev = i & 2;
		const struct layout *l = &layouts[(i >> 2) % NLAYOUTS];

		r->threaded = i >= NROWS / 2;
		r->ring = l->features | (ev ? VIO_BIT(VIO_F_EVENT_IDX) : 0) |
			  (ind ? VIO_BIT(VIO_F_INDIRECT_DESC) : 0);
		snprintf(r->name, sizeof(r->name), "%s/%s/%s/%s",
			 r->threaded ? "threaded" : "direct", l->name,
			 ev ? "evidx" : "noevidx", ind ? "indirect" : "direct-desc");
	}
	for (unsigned l = 0; l < NLAYOUTS; l++) {
		layout_rows[l].threaded = false;
		layout_rows[l].ring = layouts[l].features;
		snprintf(layout_rows[l].name, sizeof(layout_rows[l].name), "%s", layouts[l].name);
	}
}

/* ======================================================================== */
/* Fixture                                                                  */

enum ev_kind { EV_DEV_INFLATE, EV_DEV_DEFLATE, EV_REUSE };

struct event {
	enum ev_kind kind;
	uint32_t pfn;
};

struct tpage {
	void *p;
	uint64_t dma;
};

struct fx;
typedef void dev_cmd_fn(struct fx *f, void *arg);

struct fx_opts {
	uint64_t balloon;         /* balloon bits the device offers */
	bool legacy;              /* offer no VERSION_1 */
	uint32_t max_pages;       /* driver limit (0: default) */
	int timeout_ms;           /* driver timeout (0: default) */
	bool default_pages;       /* the driver's own DMA page source */
	bool stats;               /* give the driver a statistics provider */
	uint64_t drv_clear;       /* feature bits the driver refuses */
};

struct fx {
	const struct row *row;
	bool started;
	struct vio_balloon_dev bd;
	struct vio_loopback lb;
	struct vio_bus bus;
	struct vio_balloon_driver drv;
	struct vio_balloon_page_ops page_ops;

	/* device thread */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	dev_cmd_fn *cmd;
	void *cmd_arg;
	bool stop, paused;

	/* the test's page source */
	struct tpage pool[MAX_POOL];
	unsigned npool;
	unsigned page_limit;      /* 0: as many as the arena has */
	uint64_t allocs, frees;

	/* what happened, in order (both threads append) */
	pthread_mutex_t ev_mu;
	struct event ev[MAX_EVENTS];
	unsigned nev;
	/* each page the device took: its frame number and host address */
	struct {
		uint32_t pfn;
		void *host;
	} taken[MAX_POOL];
	unsigned ntaken;

	/* statistics the provider reports */
	uint64_t stat_calls;

	/* logs */
	char last_log[200];
	unsigned nlogs;
};

static void record(struct fx *f, enum ev_kind kind, uint32_t pfn)
{
	pthread_mutex_lock(&f->ev_mu);
	if (f->nev < MAX_EVENTS)
		f->ev[f->nev++] = (struct event){ kind, pfn };
	pthread_mutex_unlock(&f->ev_mu);
}

static void log_cb(void *opaque, enum vio_log_level level, const char *msg)
{
	struct fx *f = opaque;

	(void)level;
	pthread_mutex_lock(&f->ev_mu);
	snprintf(f->last_log, sizeof(f->last_log), "%s", msg);
	f->nlogs++;
	pthread_mutex_unlock(&f->ev_mu);
}

/* Device hooks: record, and let the device release the memory. */
static int hook_inflate(void *opaque, uint32_t pfn, const struct vio_iov *spans, unsigned n)
{
	struct fx *f = opaque;

	(void)n;
	record(f, EV_DEV_INFLATE, pfn);
	if (f->ntaken < MAX_POOL) {
		f->taken[f->ntaken].pfn = pfn;
		f->taken[f->ntaken++].host = spans[0].base;
	}
	return 0;
}

static void hook_deflate(void *opaque, uint32_t pfn, const struct vio_iov *spans, unsigned n)
{
	(void)spans;
	(void)n;
	record(opaque, EV_DEV_DEFLATE, pfn);
}

/* The test's page source: DMA pages, filled with "guest data" when taken
 * and written again when reused, so reuse is real and observable. */
static void *tp_alloc(void *opaque, struct vio_drv_device *dev, uint64_t *dma)
{
	struct fx *f = opaque;
	void *p;

	if ((f->page_limit && f->npool >= f->page_limit) || f->npool >= MAX_POOL)
		return NULL;
	p = vio_drv_dma_alloc(dev, PAGE, PAGE, dma);
	if (!p)
		return NULL;
	memset(p, 0xa5, PAGE);
	f->pool[f->npool++] = (struct tpage){ p, *dma };
	f->allocs++;
	return p;
}

static void tp_free(void *opaque, struct vio_drv_device *dev, void *page, uint64_t dma)
{
	struct fx *f = opaque;

	record(f, EV_REUSE, (uint32_t)(dma >> 12));
	memset(page, 0x5a, PAGE);
	for (unsigned i = 0; i < f->npool; i++) {
		if (f->pool[i].p == page) {
			f->pool[i] = f->pool[--f->npool];
			break;
		}
	}
	f->frees++;
	vio_drv_dma_free(dev, page, PAGE);
}

static void stats_provider(void *opaque, struct vio_drv_device *dev,
			   uint64_t vals[VIO_BALLOON_S_NR])
{
	struct fx *f = opaque;

	(void)dev;
	f->stat_calls++;
	vals[VIO_BALLOON_S_MEMFREE] = UINT64_C(123456789012);     /* above 2^32 */
	vals[VIO_BALLOON_S_MEMTOT] = (UINT64_C(1) << 40) + 7;
	vals[VIO_BALLOON_S_MAJFLT] = f->stat_calls;
	vals[VIO_BALLOON_S_SWAP_IN] = 999; /* not reported: must not arrive */
}

#define STAT_TAGS (VIO_BIT(VIO_BALLOON_S_MEMFREE) | VIO_BIT(VIO_BALLOON_S_MEMTOT) | \
		   VIO_BIT(VIO_BALLOON_S_MAJFLT))

static void *xalloc(void *o, size_t n)
{
	(void)o;
	return calloc(1, n);
}

static void xfree(void *o, void *p, size_t n)
{
	(void)o;
	(void)n;
	free(p);
}

/* -- the device thread ---------------------------------------------------- */

static void *dev_thread(void *arg)
{
	struct fx *f = arg;
	struct pollfd p = { .fd = f->lb.kick_fd, .events = POLLIN };

	for (;;) {
		bool stop, paused;

		pthread_mutex_lock(&f->mu);
		if (f->cmd) {
			f->cmd(f, f->cmd_arg);
			f->cmd = NULL;
			pthread_cond_broadcast(&f->cv);
		}
		stop = f->stop;
		paused = f->paused;
		pthread_mutex_unlock(&f->mu);
		if (stop)
			break;
		if (paused) {
			usleep(500);
			continue;
		}
		if (poll(&p, 1, 1) > 0)
			vio_loopback_device_dispatch(&f->lb);
	}
	return NULL;
}

/* Runs fn on the device's thread (or here, in direct mode). */
static void on_dev(struct fx *f, dev_cmd_fn *fn, void *arg)
{
	if (!f->row->threaded) {
		fn(f, arg);
		return;
	}
	pthread_mutex_lock(&f->mu);
	f->cmd = fn;
	f->cmd_arg = arg;
	while (f->cmd)
		pthread_cond_wait(&f->cv, &f->mu);
	pthread_mutex_unlock(&f->mu);
}

/* -- setup / teardown ----------------------------------------------------- */

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->row = *state;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	pthread_mutex_init(&f->ev_mu, NULL);
	*state = f;
	return 0;
}

static void fx_stop(struct fx *f)
{
	if (!f->started)
		return;
	vio_bus_remove_device(&f->bus, &f->lb.vdev);
	if (f->row->threaded) {
		pthread_mutex_lock(&f->mu);
		f->stop = true;
		pthread_mutex_unlock(&f->mu);
		pthread_join(f->thread, NULL);
	}
	vio_loopback_fini(&f->lb);
	vio_balloon_dev_fini(&f->bd);
	f->started = false;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	fx_stop(f);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->ev_mu);
	free(f);
	return 0;
}

static void fx_start(struct fx *f, const struct fx_opts *o)
{
	struct vio_balloon_dev_opts dc = {
		.features = o->balloon | f->row->ring | (o->legacy ? 0 : VIO_BIT(VIO_F_VERSION_1)),
		.legacy_ok = o->legacy,
		.hooks = { .inflate = hook_inflate, .deflate = hook_deflate, .opaque = f },
		.log = log_cb,
		.log_opaque = f,
	};
	struct vio_balloon_drv_opts bo = { 0 };

	assert_int_equal(vio_balloon_dev_init(&f->bd, &dc), 0);
	assert_int_equal(vio_loopback_init(&f->lb, &f->bd.dev, ARENA, f->row->threaded), 0);
	if (f->row->threaded)
		assert_int_equal(pthread_create(&f->thread, NULL, dev_thread, f), 0);
	f->started = true;

	vio_bus_init(&f->bus, xalloc, xfree, NULL);
	f->bus.log = log_cb;
	f->bus.log_opaque = f;
	f->page_ops = (struct vio_balloon_page_ops){ tp_alloc, tp_free, f };
	bo.max_pages = o->max_pages;
	bo.timeout_ms = o->timeout_ms;
	bo.pages = o->default_pages ? NULL : &f->page_ops;
	if (o->stats) {
		bo.stats_tags = STAT_TAGS;
		bo.stats = stats_provider;
		bo.stats_opaque = f;
	}
	bo.features_off = o->drv_clear;
	assert_int_equal(vio_balloon_drv_register(&f->bus, &f->drv, &bo), 0);
	assert_int_equal(vio_bus_add_device(&f->bus, &f->lb.vdev), 0);
	assert_ptr_equal(f->lb.vdev.driver, &f->drv.drv);
	assert_int_equal(f->lb.vdev.legacy, o->legacy);
	/* the row's ring features really are in use */
	assert_int_equal(f->lb.vdev.features & f->row->ring, f->row->ring);
}

static struct vio_drv_device *vdev(struct fx *f)
{
	return &f->lb.vdev;
}

/* -- device-side views (run on the device thread) ------------------------- */

struct view {
	uint64_t pages, bytes;
	uint32_t actual, target;
	struct vio_balloon_dev_counters c;
	struct vio_balloon_stats st;
	int st_r;
	uint8_t status;
	uint32_t generation;
	unsigned present;         /* pool pages the device holds */
};

static void snap_cmd(struct fx *f, void *arg)
{
	struct view *v = arg;

	v->pages = vio_balloon_dev_pages(&f->bd);
	v->bytes = vio_balloon_dev_bytes(&f->bd);
	v->actual = vio_balloon_dev_actual(&f->bd);
	v->target = vio_balloon_dev_target(&f->bd);
	vio_balloon_dev_counters(&f->bd, &v->c);
	v->st_r = vio_balloon_dev_stats(&f->bd, &v->st);
	v->status = vio_dev_get_status(&f->bd.dev);
	v->generation = vio_dev_config_generation(&f->bd.dev);
	v->present = 0;
	for (unsigned i = 0; i < f->npool; i++)
		v->present += vio_balloon_dev_has_page(&f->bd, (uint32_t)(f->pool[i].dma >> 12));
}

static struct view snap(struct fx *f)
{
	struct view v;

	on_dev(f, snap_cmd, &v);
	return v;
}

struct target_arg {
	uint64_t pages;
	int r;
};

static void target_cmd(struct fx *f, void *arg)
{
	struct target_arg *a = arg;

	a->r = vio_balloon_dev_set_target(&f->bd, a->pages);
}

static int set_target(struct fx *f, uint64_t pages)
{
	struct target_arg a = { pages, 0 };

	on_dev(f, target_cmd, &a);
	return a.r;
}

static void request_cmd(struct fx *f, void *arg)
{
	*(int *)arg = vio_balloon_dev_request_stats(&f->bd);
}

static int request_stats(struct fx *f)
{
	int r;

	on_dev(f, request_cmd, &r);
	return r;
}

static void pause_cmd(struct fx *f, void *arg)
{
	f->paused = *(bool *)arg;
}

/* Inflates or deflates to `pages` and checks both sides agree. */
static void balloon_to(struct fx *f, uint32_t pages)
{
	struct view v;

	assert_int_equal(set_target(f, pages), 0);
	assert_int_equal(vio_balloon_drv_update(vdev(f)), 0);
	assert_int_equal(vio_balloon_drv_pages(vdev(f)), pages);
	v = snap(f);
	assert_int_equal(v.actual, pages);
	assert_int_equal(v.pages, pages);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Lets the driver take interrupts until pred holds (or WAIT_MS pass). */
static bool drive_until(struct fx *f, bool (*pred)(struct fx *f, void *arg), void *arg)
{
	uint64_t end = now_ms() + WAIT_MS;

	while (!pred(f, arg)) {
		if (now_ms() > end)
			return false;
		(void)vio_drv_wait(vdev(f), f->row->threaded ? 10 : 0);
	}
	return true;
}

static bool stats_seq_at_least(struct fx *f, void *arg)
{
	struct view v = snap(f);

	return v.st_r == 0 && v.st.seq >= *(uint64_t *)arg;
}

static bool drv_pages_are(struct fx *f, void *arg)
{
	return vio_balloon_drv_pages(vdev(f)) == *(uint64_t *)arg;
}

static unsigned event_index(struct fx *f, enum ev_kind kind, uint32_t pfn)
{
	for (unsigned i = 0; i < f->nev; i++)
		if (f->ev[i].kind == kind && f->ev[i].pfn == pfn)
			return i;
	return UINT32_MAX;
}

static unsigned count_events(struct fx *f, enum ev_kind kind)
{
	unsigned n = 0;

	for (unsigned i = 0; i < f->nev; i++)
		n += f->ev[i].kind == kind;
	return n;
}

/*
 * Every reuse of a page by the guest against the device's deflate of it:
 * told_first means each deflate came before the reuse (MUST_TELL_HOST),
 * otherwise each reuse came first.
 */
static void assert_reuse_order(struct fx *f, bool told_first, unsigned reuses)
{
	assert_int_equal(count_events(f, EV_REUSE), reuses);
	for (unsigned i = 0; i < f->nev; i++) {
		unsigned told;

		if (f->ev[i].kind != EV_REUSE)
			continue;
		told = event_index(f, EV_DEV_DEFLATE, f->ev[i].pfn);
		assert_int_not_equal(told, UINT32_MAX);
		if (told_first)
			assert_true(told < i);
		else
			assert_true(told > i);
		/* and the page had been inflated before either */
		assert_true(event_index(f, EV_DEV_INFLATE, f->ev[i].pfn) < (told < i ? told : i));
	}
}

static bool page_is(const void *p, uint8_t byte)
{
	const uint8_t *b = p;

	for (unsigned i = 0; i < PAGE; i++)
		if (b[i] != byte)
			return false;
	return true;
}

static bool host_pages_are_4k(void)
{
	return sysconf(_SC_PAGESIZE) == (long)PAGE;
}

/* ======================================================================== */
/* Matrix tests                                                             */

/*
 * Inflate to N (more than one batch), deflate to 0: actual follows the
 * target, the device holds exactly the driver's pages, their memory was
 * released (reads zero although the guest had filled it), and every page
 * goes back to the source.
 */
static void t_inflate_deflate(void **state)
{
	struct fx *f = *state;
	const struct fx_opts o = { .balloon = VIO_BALLOON_DEV_FEATURES };
	const uint32_t n = 600;
	struct view v;

	fx_start(f, &o);
	balloon_to(f, n);
	v = snap(f);
	assert_int_equal(f->npool, n);
	assert_int_equal(v.present, n);          /* exactly the driver's pages */
	assert_int_equal(v.c.inflated, n);
	assert_int_equal(v.c.bad_pfns, 0);
	assert_int_equal(v.c.duplicate_pfns, 0);
	assert_int_equal(v.bytes, (uint64_t)n * PAGE);
	assert_int_equal(vio_balloon_drv_bytes(vdev(f)), (uint64_t)n * PAGE);
	if (host_pages_are_4k()) {
		assert_int_equal(v.c.released_bytes, (uint64_t)n * PAGE);
		for (unsigned i = 0; i < f->npool; i++)
			assert_true(page_is(f->pool[i].p, 0));
	}

	balloon_to(f, n / 3);
	assert_int_equal(f->npool, n / 3);
	assert_int_equal(snap(f).present, n / 3);

	balloon_to(f, 0);
	v = snap(f);
	assert_int_equal(f->npool, 0);
	assert_int_equal(f->frees, n);
	assert_int_equal(v.c.deflated, n);
	assert_int_equal(v.c.unknown_pfns, 0);
}

/* MUST_TELL_HOST: the device sees each deflate before the page is reused. */
static void t_tell_host_order(void **state)
{
	struct fx *f = *state;
	const struct fx_opts o = { .balloon = VIO_BALLOON_DEV_FEATURES };
	const uint32_t n = 300;

	fx_start(f, &o);
	assert_true(vio_drv_has_feature(vdev(f), VIO_BALLOON_F_MUST_TELL_HOST));
	balloon_to(f, n);
	balloon_to(f, 0);
	assert_int_equal(count_events(f, EV_DEV_DEFLATE), n);
	assert_reuse_order(f, true, n);
}

/* Without MUST_TELL_HOST the driver reuses pages at once: the reuse is
 * observable before the device has seen the deflate. */
static void t_no_tell_host_reuses_early(void **state)
{
	struct fx *f = *state;
	const struct fx_opts o = { .balloon = VIO_BIT(VIO_BALLOON_F_STATS_VQ) };
	const uint32_t n = 300;

	fx_start(f, &o);
	assert_false(vio_drv_has_feature(vdev(f), VIO_BALLOON_F_MUST_TELL_HOST));
	balloon_to(f, n);
	balloon_to(f, 0);
	assert_reuse_order(f, false, n);
	/* and the device still learnt of every page */
	assert_int_equal(snap(f).c.deflated, n);
}

/* The device refuses nothing when MUST_TELL_HOST is offered but the
 * driver declines it: then it behaves as without. */
static void t_tell_host_declined(void **state)
{
	struct fx *f = *state;
	const struct fx_opts o = {
		.balloon = VIO_BALLOON_DEV_FEATURES,
		.drv_clear = VIO_BIT(VIO_BALLOON_F_MUST_TELL_HOST),
	};

	fx_start(f, &o);
	assert_false(vio_drv_has_feature(vdev(f), VIO_BALLOON_F_MUST_TELL_HOST));
	balloon_to(f, 10);
	balloon_to(f, 0);
	assert_reuse_order(f, false, 10);
}

/* Statistics: the first buffer arrives at probe; each request returns it
 * and the driver answers with fresh values, exactly the tags it reports. */
static void t_stats_exchange(void **state)
{
	struct fx *f = *state;
	const struct fx_opts o = { .balloon = VIO_BALLOON_DEV_FEATURES, .stats = true };
	uint64_t want = 1;
	struct view v;

	fx_start(f, &o);
	assert_true(vio_drv_has_feature(vdev(f), VIO_BALLOON_F_STATS_VQ));
	assert_true(drive_until(f, stats_seq_at_least, &want));
	v = snap(f);
	assert_int_equal(v.st.present, STAT_TAGS);
	assert_int_equal(v.st.val[VIO_BALLOON_S_MEMFREE], UINT64_C(123456789012));
	assert_int_equal(v.st.val[VIO_BALLOON_S_MEMTOT], (UINT64_C(1) << 40) + 7);
	assert_int_equal(v.st.val[VIO_BALLOON_S_MAJFLT], 1);
	assert_int_equal(v.st.val[VIO_BALLOON_S_SWAP_IN], 0);

	for (want = 2; want <= 4; want++) {
		assert_int_equal(request_stats(f), 0);
		/* the driver has not answered yet: nothing to return */
		assert_int_equal(request_stats(f), -EAGAIN);
		assert_true(drive_until(f, stats_seq_at_least, &want));
		v = snap(f);
		assert_int_equal(v.st.seq, want);
		assert_int_equal(v.st.val[VIO_BALLOON_S_MAJFLT], want);
		assert_int_equal(v.st.present, STAT_TAGS);
	}
	assert_int_equal(v.c.bad_buffers, 0);
	assert_int_equal(v.c.stats_buffers, 4);
}

/* A target change reaches the driver by config interrupt alone. */
static void t_config_change_drives_update(void **state)
{
	struct fx *f = *state;
	const struct fx_opts o = { .balloon = VIO_BALLOON_DEV_FEATURES };
	uint64_t want = 77;
	uint32_t gen;

	fx_start(f, &o);
	gen = snap(f).generation;
	assert_int_equal(set_target(f, want), 0);
	assert_int_equal(snap(f).generation, gen + 1);
	assert_true(drive_until(f, drv_pages_are, &want));
	assert_int_equal(snap(f).actual, want);
	want = 0;
	assert_int_equal(set_target(f, want), 0);
	assert_true(drive_until(f, drv_pages_are, &want));
	assert_int_equal(snap(f).pages, 0);
}

/* A real balloon of a few thousand pages with the driver's own DMA page
 * source: the device translated each frame number to the very page the
 * driver allocated, and released it. */
static void t_few_thousand_dma_pages(void **state)
{
	struct fx *f = *state;
	const struct fx_opts o = { .balloon = VIO_BALLOON_DEV_FEATURES, .default_pages = true };
	const uint32_t n = 3000;
	struct view v;

	fx_start(f, &o);
	balloon_to(f, n);
	v = snap(f);
	assert_int_equal(v.c.inflated, n);
	assert_int_equal(f->ntaken, n);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(vio_drv_dma_addr(vdev(f), f->taken[i].host) >> 12,
				 f->taken[i].pfn);
	if (host_pages_are_4k())
		assert_int_equal(v.c.released_bytes, (uint64_t)n * PAGE);
	balloon_to(f, 0);
	/* The pages are back in the DMA allocator: the same amount fits again. */
	balloon_to(f, n);
	balloon_to(f, 0);
	assert_int_equal(snap(f).c.deflated, 2 * n);
}

/* ======================================================================== */
/* Driver tests (one row unless said)                                       */

/* A target beyond the driver's bookkeeping (here the largest the 32-bit
 * field holds) is clamped, with no overflow on the way. */
static void t_huge_target_clamped(void **state)
{
	struct fx *f = *state;
	const struct fx_opts o = { .balloon = VIO_BALLOON_DEV_FEATURES, .max_pages = 64 };

	fx_start(f, &o);
	assert_int_equal(set_target(f, UINT32_MAX), 0);
	assert_int_equal(vio_balloon_drv_update(vdev(f)), -ENOSPC);
	assert_int_equal(vio_balloon_drv_pages(vdev(f)), 64);
	assert_int_equal(vio_balloon_drv_target(vdev(f)), 64);
	assert_int_equal(snap(f).actual, 64);
	assert_int_equal(snap(f).pages, 64);
	assert_int_equal(snap(f).target, UINT32_MAX);
}

/* The device refuses a target that does not fit num_pages, changing
 * nothing; the largest that fits is ~16 TiB, computed in 64 bits. */
static void t_target_beyond_32_bits(void **state)
{
	struct fx *f = *state;
	const struct fx_opts o = { .balloon = VIO_BALLOON_DEV_FEATURES };
	vio_le32 raw;
	struct view before, after;

	fx_start(f, &o);
	assert_int_equal(set_target(f, 5), 0);
	before = snap(f);
	assert_int_equal(set_target(f, UINT64_C(1) << 32), -ERANGE);
	assert_int_equal(set_target(f, UINT64_MAX), -ERANGE);
	after = snap(f);
	assert_int_equal(after.target, 5);
	assert_int_equal(after.generation, before.generation);
	assert_int_equal(vio_drv_config_read(vdev(f), 0, &raw, 4), 0);
	assert_int_equal(vio_le32_to_cpu(raw), 5);

	assert_int_equal(set_target(f, UINT32_MAX), 0);
	assert_int_equal(vio_drv_config_read(vdev(f), 0, &raw, 4), 0);
	assert_int_equal(vio_le32_to_cpu(raw), UINT32_MAX);
	assert_int_equal(vio_balloon_pages_to_bytes(UINT32_MAX), UINT64_C(0xffffffff000));
	assert_int_equal(set_target(f, 0), 0);
}

/* The page source runs dry: the balloon holds what it got, says so, and
 * grows the rest of the way when pages are available again. */
static void t_pool_exhausted(void **state)
{
	struct fx *f = *state;
	const struct fx_opts o = { .balloon = VIO_BALLOON_DEV_FEATURES };

	fx_start(f, &o);
	f->page_limit = 40;
	assert_int_equal(set_target(f, 100), 0);
	assert_int_equal(vio_balloon_drv_update(vdev(f)), -ENOMEM);
	assert_int_equal(vio_balloon_drv_pages(vdev(f)), 40);
	assert_int_equal(snap(f).actual, 40);
	assert_int_equal(snap(f).pages, 40);
	f->page_limit = 0;
	assert_int_equal(vio_balloon_drv_update(vdev(f)), 0);
	assert_int_equal(snap(f).actual, 100);
	assert_int_equal(snap(f).present, 100);
}

/* DEFLATE_ON_OOM: leak gives pages back below the target, telling the
 * device first (MUST_TELL_HOST), and updates actual. */
static void t_leak_on_oom(void **state)
{
	struct fx *f = *state;
	const struct fx_opts o = { .balloon = VIO_BALLOON_DEV_FEATURES };
	struct view v;

	fx_start(f, &o);
	balloon_to(f, 300);
	assert_int_equal(vio_balloon_drv_leak(vdev(f), 280), 280);
	assert_int_equal(vio_balloon_drv_pages(vdev(f)), 20);
	v = snap(f);
	assert_int_equal(v.actual, 20);
	assert_int_equal(v.pages, 20);
	assert_int_equal(v.target, 300);
	assert_int_equal(f->npool, 20);
	assert_reuse_order(f, true, 280);
	/* more than the balloon holds: it empties */
	assert_int_equal(vio_balloon_drv_leak(vdev(f), 1000), 20);
	assert_int_equal(vio_balloon_drv_pages(vdev(f)), 0);
	assert_int_equal(vio_balloon_drv_leak(vdev(f), 1), 0);
	/* the embedder decides to grow again */
	assert_int_equal(vio_balloon_drv_update(vdev(f)), 0);
	assert_int_equal(vio_balloon_drv_pages(vdev(f)), 300);
}

static void t_leak_needs_deflate_on_oom(void **state)
{
	struct fx *f = *state;
	const struct fx_opts o = {
		.balloon = VIO_BIT(VIO_BALLOON_F_MUST_TELL_HOST),
	};

	fx_start(f, &o);
	balloon_to(f, 10);
	assert_int_equal(vio_balloon_drv_leak(vdev(f), 5), -EPERM);
	assert_int_equal(vio_balloon_drv_pages(vdev(f)), 10);
	assert_int_equal(snap(f).pages, 10);
}

/* Unbinding resets the device (its set is gone) and every page, including
 * a batch the device never answered, goes back to the source. */
static void t_remove_returns_pages(void **state)
{
	struct fx *f = *state;
	const struct fx_opts o = { .balloon = VIO_BALLOON_DEV_FEATURES, .timeout_ms = 100 };
	bool on = true;

	fx_start(f, &o);
	balloon_to(f, 200);
	on_dev(f, pause_cmd, &on);
	if (f->row->threaded) {
		/* a batch is out and unanswered when the driver goes */
		assert_int_equal(set_target(f, 300), 0);
		assert_int_equal(vio_balloon_drv_update(vdev(f)), -ETIMEDOUT);
		assert_int_equal(f->npool, 300);
	}
	vio_drv_unbind(vdev(f));
	on = false;
	on_dev(f, pause_cmd, &on);
	assert_int_equal(f->npool, 0);
	assert_int_equal(f->frees, f->allocs);
	assert_int_equal(snap(f).pages, 0);
	assert_int_equal(snap(f).actual, 0);
	assert_int_equal(vio_balloon_drv_update(vdev(f)), -ENODEV);
}

/* A device that does not answer in time: the batch is not counted, and
 * the next update finishes it before anything else. (threaded only) */
static void t_timeout_then_finish(void **state)
{
	struct fx *f = *state;
	const struct fx_opts o = { .balloon = VIO_BALLOON_DEV_FEATURES, .timeout_ms = 100 };
	bool on = true;

	fx_start(f, &o);
	on_dev(f, pause_cmd, &on);
	assert_int_equal(set_target(f, 50), 0);
	assert_int_equal(vio_balloon_drv_update(vdev(f)), -ETIMEDOUT);
	assert_int_equal(vio_balloon_drv_pages(vdev(f)), 0);
	assert_int_equal(f->npool, 50);      /* taken, not yet the device's */
	on = false;
	on_dev(f, pause_cmd, &on);
	assert_int_equal(vio_balloon_drv_update(vdev(f)), 0);
	assert_int_equal(vio_balloon_drv_pages(vdev(f)), 50);
	assert_int_equal(snap(f).present, 50);
	assert_int_equal(snap(f).c.inflated, 50);
}

struct reader {
	struct fx *f;
	bool stop;                /* atomic */
	uint64_t reads, regressions;
};

/* Reads the device's state the whole time, from a thread of its own. */
static void *reader_thread(void *arg)
{
	struct reader *rd = arg;
	uint64_t last = 0;

	while (!__atomic_load_n(&rd->stop, __ATOMIC_ACQUIRE)) {
		struct vio_balloon_dev_counters c;
		uint64_t pages = vio_balloon_dev_pages(&rd->f->bd);

		vio_balloon_dev_counters(&rd->f->bd, &c);
		(void)vio_balloon_dev_has_page(&rd->f->bd, (uint32_t)(VIO_LOOPBACK_BASE >> 12));
		(void)vio_balloon_dev_actual(&rd->f->bd);
		rd->regressions += pages < last || c.inflated < pages;
		last = pages;
		rd->reads++;
	}
	return NULL;
}

/* The getters are safe from any thread while the device works (run under
 * TSan to mean anything), and the set only grows while inflating. */
static void t_getters_from_another_thread(void **state)
{
	struct fx *f = *state;
	const struct fx_opts o = { .balloon = VIO_BALLOON_DEV_FEATURES };
	struct reader rd = { .f = f };
	pthread_t t;

	fx_start(f, &o);
	assert_int_equal(pthread_create(&t, NULL, reader_thread, &rd), 0);
	balloon_to(f, 2000);
	__atomic_store_n(&rd.stop, true, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	assert_true(rd.reads > 0);
	assert_int_equal(rd.regressions, 0);
	balloon_to(f, 0);
}

/* Legacy (no VERSION_1): end to end, and the device ignores the first
 * statistics buffer, which legacy drivers left uninitialised. */
static void t_legacy(void **state)
{
	struct fx *f = *state;
	const struct fx_opts o = { .balloon = VIO_BALLOON_DEV_FEATURES, .legacy = true,
				   .stats = true };
	uint64_t want = 1;
	struct view v;

	fx_start(f, &o);
	v = snap(f);
	assert_int_equal(v.st_r, -ENODATA);
	assert_int_equal(v.c.stats_buffers, 0);
	assert_int_equal(f->stat_calls, 1);
	assert_int_equal(request_stats(f), 0);
	assert_true(drive_until(f, stats_seq_at_least, &want));
	assert_int_equal(snap(f).st.val[VIO_BALLOON_S_MAJFLT], 2);
	balloon_to(f, 300);
	assert_int_equal(snap(f).present, 300);
	balloon_to(f, 0);
}

/* Legacy drivers may write actual a byte at a time: the device takes it
 * when the last byte lands. Modern writes take effect at once. */
static void t_legacy_actual_bytewise(void **state)
{
	struct fx *f = *state;
	const struct fx_opts o = { .balloon = VIO_BALLOON_DEV_FEATURES, .legacy = true };
	const uint8_t bytes[4] = { 0x78, 0x56, 0x34, 0x12 };

	fx_start(f, &o);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(vio_drv_config_write(vdev(f), 4 + i, &bytes[i], 1), 0);
	assert_int_equal(snap(f).actual, 0);
	assert_int_equal(vio_drv_config_write(vdev(f), 7, &bytes[3], 1), 0);
	assert_int_equal(snap(f).actual, 0x12345678);
}

static void t_driver_register_checks(void **state)
{
	struct vio_balloon_driver d;
	struct vio_balloon_drv_opts o = { .stats_tags = VIO_BIT(VIO_BALLOON_S_NR),
					  .stats = stats_provider };
	struct vio_bus bus;

	(void)state;
	vio_bus_init(&bus, xalloc, xfree, NULL);
	/* bad options: an error, and nothing registered */
	assert_int_equal(vio_balloon_drv_register(&bus, &d, &o), -EINVAL);
	o.stats_tags = 0;
	assert_int_equal(vio_balloon_drv_register(&bus, &d, &o), -EINVAL);
	assert_null(bus.drivers_);
	o.stats = NULL;
	assert_int_equal(vio_balloon_drv_register(&bus, &d, &o), 0);
	assert_ptr_equal(bus.drivers_, &d.drv);
	/* no provider, no statistics queue */
	assert_false(vio_has_feature(d.drv.features, VIO_BALLOON_F_STATS_VQ));
	assert_true(vio_has_feature(d.drv.features, VIO_BALLOON_F_MUST_TELL_HOST));
	assert_true(vio_has_feature(d.drv.features, VIO_BALLOON_F_DEFLATE_ON_OOM));
	assert_false(vio_has_feature(d.drv.legacy_features, VIO_F_VERSION_1));
	vio_balloon_drv_unregister(&bus, &d);
	assert_null(bus.drivers_);
	/* features_off narrows both tables; without VERSION_1 the 1.x-only
	 * ring features go too */
	o.features_off = VIO_BIT(VIO_BALLOON_F_MUST_TELL_HOST) | VIO_BIT(VIO_F_VERSION_1);
	assert_int_equal(vio_balloon_drv_register(&bus, &d, &o), 0);
	assert_false(vio_has_feature(d.drv.features, VIO_BALLOON_F_MUST_TELL_HOST));
	assert_false(vio_has_feature(d.drv.legacy_features, VIO_BALLOON_F_MUST_TELL_HOST));
	assert_false(vio_has_feature(d.drv.features, VIO_F_VERSION_1));
	assert_false(vio_has_feature(d.drv.features, VIO_F_RING_PACKED));
	assert_false(vio_has_feature(d.drv.features, VIO_F_IN_ORDER));
	assert_true(vio_has_feature(d.drv.features, VIO_BALLOON_F_DEFLATE_ON_OOM));
	vio_balloon_drv_unregister(&bus, &d);
	/* NULL: the defaults */
	assert_int_equal(vio_balloon_drv_register(&bus, &d, NULL), 0);
	assert_true(vio_has_feature(d.drv.features, VIO_F_VERSION_1));
	vio_balloon_drv_unregister(&bus, &d);
}

static void t_device_init_checks(void **state)
{
	struct vio_balloon_dev *bd = calloc(1, sizeof(*bd));
	struct vio_balloon_dev_opts c = { .features = VIO_BIT(VIO_F_VERSION_1) };

	(void)state;
	assert_non_null(bd);
	assert_int_equal(vio_balloon_dev_init(bd, NULL), -EINVAL); /* no default features */
	/* defined, but not implemented: never offered */
	for (unsigned bit = VIO_BALLOON_F_FREE_PAGE_HINT; bit <= VIO_BALLOON_F_PAGE_REPORTING;
	     bit++) {
		c.features = VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(bit);
		assert_int_equal(vio_balloon_dev_init(bd, &c), -ENOTSUP);
	}
	c.features = VIO_BIT(VIO_F_VERSION_1);
	c.queue_size = 100; /* not a power of two */
	assert_int_equal(vio_balloon_dev_init(bd, &c), -EINVAL);
	c.queue_size = 0;
	assert_int_equal(vio_balloon_dev_init(bd, &c), 0);
	assert_int_equal(bd->dev.num_queues, 2);
	assert_int_equal(bd->dev.config_len, 8);
	assert_int_equal(bd->dev.device_id, VIO_ID_BALLOON);
	vio_balloon_dev_fini(bd);
	c.features |= VIO_BIT(VIO_BALLOON_F_STATS_VQ);
	assert_int_equal(vio_balloon_dev_init(bd, &c), 0);
	assert_int_equal(bd->dev.num_queues, 3);
	vio_balloon_dev_fini(bd);
	free(bd);
}

/* -- 65536 pages against a mock ------------------------------------------- */

/*
 * The arithmetic of a large balloon without its memory: a stand-in
 * device that only counts frame numbers, and a page source that invents
 * page addresses (the driver never touches the pages). 65536 pages is
 * 256 MiB: every byte count must come out in 64 bits.
 */
#define MOCK_PAGES 65536u
#define MOCK_BASE_PFN UINT32_C(0x10000000)     /* 1 TiB: above any arena */

struct mock {
	struct vio_dev_model dev;
	struct vio_dev_queue q[2];
	struct vio_balloon_config cfg;
	uint8_t held[MOCK_PAGES / 8];
	uint64_t inflated, deflated, buffers, max_batch, strays, dups;
	uint64_t handed, returned;
	struct vio_iov iov[4];
};

static void mock_notify(struct vio_dev_model *d, unsigned qi)
{
	struct mock *m = d->priv;
	struct vio_devq *vq = vio_dev_vq(d, qi);
	struct vio_elem e;
	vio_le32 pfns[VIO_BALLOON_DRV_BATCH + 1];

	while (vq) {
		memset(&e, 0, sizeof(e));
		e.out = m->iov;
		e.out_cap = 4;
		if (vio_devq_pop(vq, &e) < 0)
			break;
		uint32_t n = e.out_len / 4;

		m->buffers++;
		if (n > m->max_batch)
			m->max_batch = n;
		if (n > VIO_BALLOON_DRV_BATCH + 1)
			n = VIO_BALLOON_DRV_BATCH + 1;
		vio_iov_to_buf(e.out, e.out_num, 0, pfns, n * 4);
		for (uint32_t i = 0; i < n; i++) {
			uint32_t k = vio_le32_to_cpu(pfns[i]) - MOCK_BASE_PFN;
			bool in = k < MOCK_PAGES && (m->held[k / 8] & (1u << (k % 8)));

			if (k >= MOCK_PAGES) {
				m->strays++;
			} else if (qi == 0) {
				m->dups += in;
				m->held[k / 8] |= (uint8_t)(1u << (k % 8));
				m->inflated++;
			} else {
				m->dups += !in;
				m->held[k / 8] &= (uint8_t)~(1u << (k % 8));
				m->deflated++;
			}
		}
		vio_devq_push(vq, &e, 0);
	}
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

static uint8_t mock_page[PAGE] __attribute__((aligned(4096)));

static void *mock_alloc(void *opaque, struct vio_drv_device *dev, uint64_t *dma)
{
	struct mock *m = opaque;

	(void)dev;
	if (m->handed - m->returned >= MOCK_PAGES)
		return NULL;
	/* distinct addresses; all share one real page nobody reads */
	*dma = ((uint64_t)MOCK_BASE_PFN + (m->handed % MOCK_PAGES)) << 12;
	m->handed++;
	return mock_page;
}

static void mock_free(void *opaque, struct vio_drv_device *dev, void *page, uint64_t dma)
{
	struct mock *m = opaque;

	(void)dev;
	(void)page;
	(void)dma;
	m->returned++;
}

static void mock_target(struct mock *m, uint32_t pages)
{
	m->cfg.num_pages = vio_cpu_to_le32(pages);
	vio_dev_config_changed(&m->dev);
}

static void t_large_target_mock(void **state)
{
	struct mock *m = calloc(1, sizeof(*m));
	struct vio_loopback *lb = calloc(1, sizeof(*lb));
	struct vio_balloon_driver *drv = calloc(1, sizeof(*drv));
	const struct vio_balloon_page_ops ops = { mock_alloc, mock_free, m };
	struct vio_bus bus;

	(void)state;
	assert_non_null(m);
	assert_non_null(lb);
	assert_non_null(drv);
	m->dev.device_id = VIO_ID_BALLOON;
	m->dev.host_features = VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_BALLOON_F_MUST_TELL_HOST);
	m->dev.config = (uint8_t *)&m->cfg;
	m->dev.config_len = 8;
	m->dev.queues = m->q;
	m->dev.num_queues = 2;
	m->dev.ops = &mock_ops;
	m->dev.priv = m;
	m->q[0].max_size = m->q[1].max_size = 64;
	assert_int_equal(vio_dev_init(&m->dev), 0);
	assert_int_equal(vio_loopback_init(lb, &m->dev, 256u << 10, false), 0);
	vio_bus_init(&bus, xalloc, xfree, NULL);
	const struct vio_balloon_drv_opts balloon_opts = { .max_pages = MOCK_PAGES, .pages = &ops };
	assert_int_equal(vio_balloon_drv_register(&bus, drv, &balloon_opts), 0);
	assert_int_equal(vio_bus_add_device(&bus, &lb->vdev), 0);
	assert_ptr_equal(lb->vdev.driver, &drv->drv);

	mock_target(m, MOCK_PAGES);
	assert_int_equal(vio_balloon_drv_update(&lb->vdev), 0);
	assert_int_equal(m->inflated, MOCK_PAGES);
	assert_int_equal(m->dups, 0);
	assert_int_equal(m->strays, 0);
	assert_int_equal(m->buffers, MOCK_PAGES / VIO_BALLOON_DRV_BATCH);
	assert_int_equal(m->max_batch, VIO_BALLOON_DRV_BATCH);
	assert_int_equal(vio_balloon_drv_pages(&lb->vdev), MOCK_PAGES);
	assert_int_equal(vio_balloon_drv_bytes(&lb->vdev), UINT64_C(256) << 20);
	assert_int_equal(vio_le32_to_cpu(m->cfg.actual), MOCK_PAGES);

	/* the largest target: clamped to the driver's limit, nothing sent */
	mock_target(m, UINT32_MAX);
	assert_int_equal(vio_balloon_drv_update(&lb->vdev), -ENOSPC);
	assert_int_equal(m->inflated, MOCK_PAGES);
	assert_int_equal(vio_le32_to_cpu(m->cfg.actual), MOCK_PAGES);

	mock_target(m, 0);
	assert_int_equal(vio_balloon_drv_update(&lb->vdev), 0);
	assert_int_equal(m->deflated, MOCK_PAGES);
	assert_int_equal(m->dups, 0);
	assert_int_equal(m->returned, MOCK_PAGES);
	assert_int_equal(vio_le32_to_cpu(m->cfg.actual), 0);

	vio_bus_remove_device(&bus, &lb->vdev);
	vio_loopback_fini(lb);
	free(drv);
	free(lb);
	free(m);
}

/* ======================================================================== */
/* Device tests: raw buffers from a bare driver                             */

struct rfx {
	struct fx f;              /* device, loopback, logs */
	struct vio_driver drv;
	struct vio_drv_vq vqs[3];
	uint8_t *mem;             /* DMA scratch: 16 pages */
	uint64_t mem_dma;
	int token;
};

#define RAW_PAGES 16u

/* The bus hands probe only the device: the running raw test's fixture. */
static struct rfx *raw_current;

/* A driver that only sets up the queues, so the test owns the rings. */
static int raw_probe(struct vio_drv_device *dev)
{
	struct vio_drv_vq_info info[3];
	unsigned n = vio_drv_has_feature(dev, VIO_BALLOON_F_STATS_VQ) ? 3 : 2;

	memset(info, 0, sizeof(info));
	return vio_drv_find_vqs(dev, n, info, raw_current->vqs);
}

static void raw_remove(struct vio_drv_device *dev)
{
	vio_drv_reset(dev);
	for (unsigned i = 0; i < dev->nvqs; i++)
		while (vio_drvq_detach_unused(&dev->vqs[i].q))
			;
	vio_drv_del_vqs(dev);
}

static const uint32_t balloon_id[] = { VIO_ID_BALLOON, 0 };

static int rfx_setup(void **state)
{
	struct rfx *r = calloc(1, sizeof(*r));

	if (!r)
		return -1;
	r->f.row = *state;
	pthread_mutex_init(&r->f.ev_mu, NULL);
	*state = r;
	return 0;
}

static int rfx_teardown(void **state)
{
	struct rfx *r = *state;

	if (r->f.started) {
		vio_drv_dma_free(&r->f.lb.vdev, r->mem, RAW_PAGES * PAGE);
		vio_bus_remove_device(&r->f.bus, &r->f.lb.vdev);
		vio_loopback_fini(&r->f.lb);
		vio_balloon_dev_fini(&r->f.bd);
	}
	pthread_mutex_destroy(&r->f.ev_mu);
	free(r);
	return 0;
}

static void rfx_start(struct rfx *r, uint64_t balloon)
{
	struct fx *f = &r->f;
	struct vio_balloon_dev_opts dc = {
		.features = balloon | f->row->ring | VIO_BIT(VIO_F_VERSION_1),
		.hooks = { .inflate = hook_inflate, .deflate = hook_deflate, .opaque = f },
		.log = log_cb,
		.log_opaque = f,
	};

	assert_int_equal(vio_balloon_dev_init(&f->bd, &dc), 0);
	assert_int_equal(vio_loopback_init(&f->lb, &f->bd.dev, 1u << 20, false), 0);
	f->started = true;
	vio_bus_init(&f->bus, xalloc, xfree, NULL);
	r->drv = (struct vio_driver){
		.name = "raw", .ids = balloon_id, .probe = raw_probe, .remove = raw_remove,
		.features = VIO_BALLOON_DEV_FEATURES | VIO_BIT(VIO_F_VERSION_1) |
			    VIO_BIT(VIO_F_RING_PACKED) | VIO_BIT(VIO_F_EVENT_IDX),
	};
	assert_int_equal(vio_bus_register_driver(&f->bus, &r->drv), 0);
	assert_int_equal(vio_bus_add_device(&f->bus, &f->lb.vdev), 0);
	assert_ptr_equal(f->lb.vdev.driver, &r->drv);
	assert_int_equal(f->lb.vdev.features & f->row->ring, f->row->ring);
	r->mem = vio_drv_dma_alloc(&f->lb.vdev, RAW_PAGES * PAGE, PAGE, &r->mem_dma);
	assert_non_null(r->mem);
	memset(r->mem, 0x11, RAW_PAGES * PAGE);
}

static uint32_t raw_pfn(const struct rfx *r, unsigned page)
{
	return (uint32_t)((r->mem_dma >> 12) + page);
}

static struct vio_sg raw_sg(const struct rfx *r, size_t off, uint32_t len)
{
	return (struct vio_sg){ r->mem_dma + off, len };
}

/* Writes frame numbers at byte `off` of the scratch page 15 (never ballooned). */
static size_t put_pfns(struct rfx *r, const uint32_t *pfns, unsigned n)
{
	const size_t off = 15 * PAGE;

	for (unsigned i = 0; i < n; i++) {
		vio_le32 v = vio_cpu_to_le32(pfns[i]);

		memcpy(r->mem + off + 4 * i, &v, 4);
	}
	return off;
}

/* Posts one buffer on queue qi, kicks, and reaps it: the used length, or
 * -1 when the device kept the buffer. */
static int64_t raw_send(struct rfx *r, unsigned qi, const struct vio_sg *out, unsigned on,
			const struct vio_sg *in, unsigned inn)
{
	struct vio_drv_vq *vq = &r->vqs[qi];
	uint32_t len;
	void *t;

	assert_int_equal(vio_drvq_add(&vq->q, out, on, in, inn, &r->token), 0);
	vio_drv_vq_kick(vq);
	if (vio_drvq_get_buf(&vq->q, &t, &len) != 0)
		return -1;
	assert_ptr_equal(t, &r->token);
	return len;
}

static int64_t raw_pfns(struct rfx *r, unsigned qi, const uint32_t *pfns, unsigned n)
{
	struct vio_sg sg = raw_sg(r, put_pfns(r, pfns, n), n * 4);

	return raw_send(r, qi, &sg, 1, NULL, 0);
}

/* The device's counters now (raw tests run in one thread). */
static const struct vio_balloon_dev_counters *rc(struct rfx *r)
{
	static struct vio_balloon_dev_counters c;

	vio_balloon_dev_counters(&r->f.bd, &c);
	return &c;
}

static bool needs_reset(struct rfx *r)
{
	return vio_dev_get_status(&r->f.bd.dev) & VIO_STATUS_NEEDS_RESET;
}

static struct rfx *raw_begin(void **state, uint64_t balloon)
{
	struct rfx *r = *state;

	raw_current = r;
	rfx_start(r, balloon);
	return r;
}

/* -- well-formed input, for reference --------------------------------------- */

/* One page in the middle of three: only it is released, its neighbours
 * keep their bytes (madvise must not round past the page). */
static void t_dev_inflate_releases_only_the_page(void **state)
{
	struct rfx *r = raw_begin(state, VIO_BALLOON_DEV_FEATURES);
	uint32_t pfn = raw_pfn(r, 1);

	assert_int_equal(raw_pfns(r, 0, &pfn, 1), 0);
	assert_true(vio_balloon_dev_has_page(&r->f.bd, pfn));
	assert_int_equal(vio_balloon_dev_pages(&r->f.bd), 1);
	assert_true(page_is(r->mem, 0x11));
	assert_true(page_is(r->mem + 2 * PAGE, 0x11));
	if (host_pages_are_4k()) {
		assert_true(page_is(r->mem + PAGE, 0));
		assert_int_equal(rc(r)->released_bytes, PAGE);
	}
	assert_int_equal(raw_pfns(r, 1, &pfn, 1), 0);
	assert_false(vio_balloon_dev_has_page(&r->f.bd, pfn));
	assert_int_equal(rc(r)->deflated, 1);
}

/* Frame numbers split across descriptors at any byte are one stream. */
static void t_dev_pfns_split_across_descriptors(void **state)
{
	struct rfx *r = raw_begin(state, VIO_BALLOON_DEV_FEATURES);
	uint32_t pfns[2] = { raw_pfn(r, 2), raw_pfn(r, 3) };
	size_t off = put_pfns(r, pfns, 2);
	struct vio_sg sg[3] = { raw_sg(r, off, 3), raw_sg(r, off + 3, 4), raw_sg(r, off + 7, 1) };

	assert_int_equal(raw_send(r, 0, sg, 3, NULL, 0), 0);
	assert_true(vio_balloon_dev_has_page(&r->f.bd, pfns[0]));
	assert_true(vio_balloon_dev_has_page(&r->f.bd, pfns[1]));
	assert_int_equal(rc(r)->bad_buffers, 0);
}

/* -- malformed input: each is refused and counted, the device goes on ------ */

/* After a refused buffer the queue still works. */
static void assert_still_works(struct rfx *r)
{
	uint32_t pfn = raw_pfn(r, 9);
	uint64_t before = vio_balloon_dev_pages(&r->f.bd);

	assert_false(needs_reset(r));
	assert_int_equal(raw_pfns(r, 0, &pfn, 1), 0);
	assert_int_equal(vio_balloon_dev_pages(&r->f.bd), before + 1);
}

static void t_dev_inflate_len_not_multiple_of_4(void **state)
{
	struct rfx *r = raw_begin(state, VIO_BALLOON_DEV_FEATURES);
	uint32_t pfn = raw_pfn(r, 0);
	struct vio_sg sg = raw_sg(r, put_pfns(r, &pfn, 1), 6);

	assert_int_equal(raw_send(r, 0, &sg, 1, NULL, 0), 0);
	assert_int_equal(rc(r)->bad_buffers, 1);
	assert_false(vio_balloon_dev_has_page(&r->f.bd, pfn)); /* nothing taken */
	assert_true(page_is(r->mem, 0x11));
	assert_non_null(strstr(r->f.last_log, "multiple of 4"));
	assert_still_works(r);
}

static void t_dev_deflate_len_not_multiple_of_4(void **state)
{
	struct rfx *r = raw_begin(state, VIO_BALLOON_DEV_FEATURES);
	uint32_t pfn = raw_pfn(r, 0);
	struct vio_sg sg;

	assert_int_equal(raw_pfns(r, 0, &pfn, 1), 0);
	sg = raw_sg(r, put_pfns(r, &pfn, 1), 5);
	assert_int_equal(raw_send(r, 1, &sg, 1, NULL, 0), 0);
	assert_int_equal(rc(r)->bad_buffers, 1);
	assert_true(vio_balloon_dev_has_page(&r->f.bd, pfn)); /* still ballooned */
	assert_int_equal(rc(r)->deflated, 0);
	assert_still_works(r);
}

static void t_dev_inflate_writable_buffer(void **state)
{
	struct rfx *r = raw_begin(state, VIO_BALLOON_DEV_FEATURES);
	uint32_t pfn = raw_pfn(r, 0);
	struct vio_sg out = raw_sg(r, put_pfns(r, &pfn, 1), 4);
	struct vio_sg in = raw_sg(r, 4 * PAGE, 64);

	assert_int_equal(raw_send(r, 0, &out, 1, &in, 1), 0);
	assert_int_equal(rc(r)->bad_buffers, 1);
	assert_false(vio_balloon_dev_has_page(&r->f.bd, pfn));
	assert_true(page_is(r->mem + 4 * PAGE, 0x11)); /* nothing written */
	assert_non_null(strstr(r->f.last_log, "writable"));
	assert_still_works(r);
}

static void t_dev_inflate_writable_only(void **state)
{
	struct rfx *r = raw_begin(state, VIO_BALLOON_DEV_FEATURES);
	uint32_t pfn = raw_pfn(r, 0);
	struct vio_sg in = raw_sg(r, put_pfns(r, &pfn, 1), 4);

	assert_int_equal(raw_send(r, 0, NULL, 0, &in, 1), 0);
	assert_int_equal(rc(r)->bad_buffers, 1);
	assert_int_equal(vio_balloon_dev_pages(&r->f.bd), 0);
	assert_still_works(r);
}

static void t_dev_deflate_writable_buffer(void **state)
{
	struct rfx *r = raw_begin(state, VIO_BALLOON_DEV_FEATURES);
	uint32_t pfn = raw_pfn(r, 0);
	struct vio_sg out, in = raw_sg(r, 4 * PAGE, 16);

	assert_int_equal(raw_pfns(r, 0, &pfn, 1), 0);
	out = raw_sg(r, put_pfns(r, &pfn, 1), 4);
	assert_int_equal(raw_send(r, 1, &out, 1, &in, 1), 0);
	assert_int_equal(rc(r)->bad_buffers, 1);
	assert_true(vio_balloon_dev_has_page(&r->f.bd, pfn));
	assert_still_works(r);
}

/* Frame numbers outside the driver's memory: ignored one by one, counted,
 * logged; the good one in the same buffer is taken. */
static void t_dev_inflate_pfn_outside_memory(void **state)
{
	struct rfx *r = raw_begin(state, VIO_BALLOON_DEV_FEATURES);
	const uint64_t first = VIO_LOOPBACK_BASE >> 12;
	const uint64_t end = first + r->f.lb.arena_len / PAGE;
	uint32_t pfns[] = {
		(uint32_t)(first - 1), 0, raw_pfn(r, 5), (uint32_t)end, UINT32_MAX,
	};

	assert_int_equal(raw_pfns(r, 0, pfns, 5), 0);
	assert_int_equal(rc(r)->bad_pfns, 4);
	assert_int_equal(vio_balloon_dev_pages(&r->f.bd), 1);
	assert_true(vio_balloon_dev_has_page(&r->f.bd, pfns[2]));
	assert_int_equal(count_events(&r->f, EV_DEV_INFLATE), 1);
	assert_non_null(strstr(r->f.last_log, "4 frame numbers outside"));
	assert_still_works(r);
}

static void t_dev_deflate_pfn_outside_memory(void **state)
{
	struct rfx *r = raw_begin(state, VIO_BALLOON_DEV_FEATURES);
	uint32_t pfns[] = { raw_pfn(r, 5), 0, UINT32_MAX };

	assert_int_equal(raw_pfns(r, 0, pfns, 1), 0);
	assert_int_equal(raw_pfns(r, 1, pfns, 3), 0);
	assert_int_equal(rc(r)->bad_pfns, 2);
	assert_int_equal(rc(r)->deflated, 1);
	assert_int_equal(vio_balloon_dev_pages(&r->f.bd), 0);
	assert_still_works(r);
}

static void t_dev_deflate_page_not_in_balloon(void **state)
{
	struct rfx *r = raw_begin(state, VIO_BALLOON_DEV_FEATURES);
	uint32_t pfn = raw_pfn(r, 6);

	assert_int_equal(raw_pfns(r, 1, &pfn, 1), 0);
	assert_int_equal(rc(r)->unknown_pfns, 1);
	assert_int_equal(rc(r)->deflated, 0);
	assert_int_equal(count_events(&r->f, EV_DEV_DEFLATE), 0);
	assert_still_works(r);
}

static void t_dev_inflate_duplicate_pfn(void **state)
{
	struct rfx *r = raw_begin(state, VIO_BALLOON_DEV_FEATURES);
	uint32_t pfns[] = { raw_pfn(r, 7), raw_pfn(r, 7) };

	assert_int_equal(raw_pfns(r, 0, pfns, 2), 0);
	assert_int_equal(raw_pfns(r, 0, pfns, 1), 0);
	assert_int_equal(rc(r)->duplicate_pfns, 2);
	assert_int_equal(vio_balloon_dev_pages(&r->f.bd), 1);
	if (host_pages_are_4k())
		assert_int_equal(rc(r)->released_bytes, PAGE);
}

/* A chain longer than the device's iovec capacity is a ring error: the
 * device stops the queue and asks for a reset, without crashing. */
static void t_dev_inflate_too_many_segments(void **state)
{
	struct rfx *r = raw_begin(state, VIO_BALLOON_DEV_FEATURES);
	struct vio_sg sg[VIO_BALLOON_DEV_SEGS + 1];
	uint32_t pfn = raw_pfn(r, 0);
	size_t off = put_pfns(r, &pfn, 1);

	for (unsigned i = 0; i < VIO_BALLOON_DEV_SEGS + 1; i++)
		sg[i] = raw_sg(r, off, 4);
	assert_int_equal(raw_send(r, 0, sg, VIO_BALLOON_DEV_SEGS + 1, NULL, 0), -1);
	assert_true(needs_reset(r));
	assert_int_equal(vio_balloon_dev_pages(&r->f.bd), 0);
}

/* The driver may write only `actual`: a write over num_pages is refused
 * whole, and config space stays as it was. */
static void t_dev_config_num_pages_read_only(void **state)
{
	struct rfx *r = raw_begin(state, VIO_BALLOON_DEV_FEATURES);
	struct vio_balloon_config c;
	vio_le32 v = vio_cpu_to_le32(999);

	assert_int_equal(vio_balloon_dev_set_target(&r->f.bd, 42), 0);
	assert_int_equal(vio_drv_config_write(&r->f.lb.vdev, 0, &v, 4), -EPERM);
	assert_int_equal(vio_drv_config_read(&r->f.lb.vdev, 0, &c, 8), 0);
	assert_int_equal(vio_le32_to_cpu(c.num_pages), 42);
	assert_int_equal(vio_balloon_dev_target(&r->f.bd), 42);
	/* one write over both fields: refused whole, actual not taken */
	c.num_pages = vio_cpu_to_le32(7);
	c.actual = vio_cpu_to_le32(5);
	assert_int_equal(vio_drv_config_write(&r->f.lb.vdev, 0, &c, 8), -EPERM);
	assert_int_equal(vio_drv_config_read(&r->f.lb.vdev, 0, &c, 8), 0);
	assert_int_equal(vio_le32_to_cpu(c.num_pages), 42);
	assert_int_equal(vio_le32_to_cpu(c.actual), 0);
	assert_int_equal(vio_balloon_dev_actual(&r->f.bd), 0);
	/* actual alone is the driver's */
	c.actual = vio_cpu_to_le32(7);
	assert_int_equal(vio_drv_config_write(&r->f.lb.vdev, 4, &c.actual, 4), 0);
	assert_int_equal(vio_balloon_dev_actual(&r->f.bd), 7);
	/* the hint and poison fields do not exist without their features */
	assert_int_equal(vio_drv_config_write(&r->f.lb.vdev, 8, &v, 4), -EINVAL);
	assert_int_equal(vio_drv_config_read(&r->f.lb.vdev, 8, &v, 4), -EINVAL);
}

/* A reset empties the set and actual; the target stays. */
static void t_dev_reset_forgets_pages(void **state)
{
	struct rfx *r = raw_begin(state, VIO_BALLOON_DEV_FEATURES);
	uint32_t pfns[] = { raw_pfn(r, 1), raw_pfn(r, 2) };
	vio_le32 v = vio_cpu_to_le32(2);

	assert_int_equal(vio_balloon_dev_set_target(&r->f.bd, 2), 0);
	assert_int_equal(raw_pfns(r, 0, pfns, 2), 0);
	assert_int_equal(vio_drv_config_write(&r->f.lb.vdev, 4, &v, 4), 0);
	assert_int_equal(vio_balloon_dev_actual(&r->f.bd), 2);
	vio_drv_reset(&r->f.lb.vdev);
	assert_int_equal(vio_balloon_dev_pages(&r->f.bd), 0);
	assert_int_equal(vio_balloon_dev_actual(&r->f.bd), 0);
	assert_false(vio_balloon_dev_has_page(&r->f.bd, pfns[0]));
	assert_int_equal(vio_balloon_dev_target(&r->f.bd), 2);
}

/* -- statistics ------------------------------------------------------------ */

static size_t put_stats(struct rfx *r, size_t off, const uint16_t *tags, const uint64_t *vals,
			unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct vio_balloon_stat st;

		st.tag = vio_cpu_to_le16(tags[i]);
		st.val = vio_cpu_to_le64(vals[i]);
		memcpy(r->mem + off + i * VIO_BALLOON_STAT_SIZE, &st, VIO_BALLOON_STAT_SIZE);
	}
	return off;
}

static void t_dev_stats_well_formed(void **state)
{
	struct rfx *r = raw_begin(state, VIO_BALLOON_DEV_FEATURES);
	const uint16_t tags[] = { VIO_BALLOON_S_AVAIL, 99, VIO_BALLOON_S_CACHES };
	const uint64_t vals[] = { UINT64_C(0x123456789a), 5, 77 };
	struct vio_sg sg = raw_sg(r, put_stats(r, 0, tags, vals, 3), 30);
	struct vio_balloon_stats st;

	assert_int_equal(vio_balloon_dev_stats(&r->f.bd, &st), -ENODATA);
	assert_int_equal(raw_send(r, 2, &sg, 1, NULL, 0), -1);  /* kept */
	assert_int_equal(vio_balloon_dev_stats(&r->f.bd, &st), 0);
	/* the unknown tag is ignored, as the spec requires */
	assert_int_equal(st.present, VIO_BIT(VIO_BALLOON_S_AVAIL) | VIO_BIT(VIO_BALLOON_S_CACHES));
	assert_int_equal(st.val[VIO_BALLOON_S_AVAIL], UINT64_C(0x123456789a));
	assert_int_equal(st.val[VIO_BALLOON_S_CACHES], 77);
	assert_int_equal(st.seq, 1);
	assert_int_equal(vio_balloon_dev_request_stats(&r->f.bd), 0);
	assert_int_equal(vio_balloon_dev_request_stats(&r->f.bd), -EAGAIN);
}

/* Not whole 10-byte entries: the values are not believed, but the device
 * still holds the buffer, so it can ask again. */
static void t_dev_stats_len_not_multiple_of_10(void **state)
{
	struct rfx *r = raw_begin(state, VIO_BALLOON_DEV_FEATURES);
	const uint16_t tags[] = { VIO_BALLOON_S_AVAIL, VIO_BALLOON_S_CACHES };
	const uint64_t vals[] = { 1, 2 };
	struct vio_sg sg = raw_sg(r, put_stats(r, 0, tags, vals, 2), 15);
	struct vio_balloon_stats st;
	void *t;
	uint32_t len = 99;

	assert_int_equal(raw_send(r, 2, &sg, 1, NULL, 0), -1);
	assert_int_equal(rc(r)->bad_buffers, 1);
	assert_int_equal(vio_balloon_dev_stats(&r->f.bd, &st), -ENODATA);
	assert_non_null(strstr(r->f.last_log, "multiple of 10"));
	assert_false(needs_reset(r));
	assert_int_equal(vio_balloon_dev_request_stats(&r->f.bd), 0);
	assert_int_equal(vio_drvq_get_buf(&r->vqs[2].q, &t, &len), 0);
	assert_int_equal(len, 0);
}

static void t_dev_stats_writable_buffer(void **state)
{
	struct rfx *r = raw_begin(state, VIO_BALLOON_DEV_FEATURES);
	const uint16_t tags[] = { VIO_BALLOON_S_AVAIL };
	const uint64_t vals[] = { 1 };
	struct vio_sg out = raw_sg(r, put_stats(r, 0, tags, vals, 1), 10);
	struct vio_sg in = raw_sg(r, PAGE, 10);
	struct vio_balloon_stats st;

	assert_int_equal(raw_send(r, 2, &out, 1, &in, 1), -1);
	assert_int_equal(rc(r)->bad_buffers, 1);
	assert_int_equal(vio_balloon_dev_stats(&r->f.bd, &st), -ENODATA);
	assert_true(page_is(r->mem + PAGE, 0x11));
	assert_int_equal(vio_balloon_dev_request_stats(&r->f.bd), 0);
}

/* The driver must keep at most one buffer out: a second one makes the
 * device return the first at once and keep the newer. */
static void t_dev_stats_second_buffer(void **state)
{
	struct rfx *r = raw_begin(state, VIO_BALLOON_DEV_FEATURES);
	const uint16_t tags[] = { VIO_BALLOON_S_MEMFREE };
	const uint64_t a = 1, b = 2;
	struct vio_sg sa = raw_sg(r, put_stats(r, 0, tags, &a, 1), 10);
	struct vio_sg sb = raw_sg(r, put_stats(r, 64, tags, &b, 1), 10);
	struct vio_balloon_stats st;
	uint32_t len = 99;
	void *t = NULL;

	assert_int_equal(raw_send(r, 2, &sa, 1, NULL, 0), -1);
	/* the first comes back when the second arrives */
	assert_int_equal(raw_send(r, 2, &sb, 1, NULL, 0), 0);
	assert_int_equal(rc(r)->bad_buffers, 1);
	assert_int_equal(vio_balloon_dev_stats(&r->f.bd, &st), 0);
	assert_int_equal(st.val[VIO_BALLOON_S_MEMFREE], 2);
	assert_int_equal(st.seq, 2);
	assert_int_equal(vio_balloon_dev_request_stats(&r->f.bd), 0);
	assert_int_equal(vio_drvq_get_buf(&r->vqs[2].q, &t, &len), 0);
	assert_ptr_equal(t, &r->token);
	assert_int_equal(len, 0);
}

static void t_dev_stats_not_negotiated(void **state)
{
	struct rfx *r = raw_begin(state, VIO_BIT(VIO_BALLOON_F_MUST_TELL_HOST));

	assert_int_equal(r->f.lb.vdev.nvqs, 2);
	assert_int_equal(vio_balloon_dev_request_stats(&r->f.bd), -ENOTSUP);
}

/* ======================================================================== */

typedef void test_fn(void **state);

struct test_def {
	const char *name;
	test_fn *fn;
	bool threaded_only;
};

#define T(f) { #f, f, false }

static const struct test_def matrix_tests[] = {
	T(t_inflate_deflate),
	T(t_tell_host_order),
	T(t_no_tell_host_reuses_early),
	T(t_tell_host_declined),
	T(t_stats_exchange),
	T(t_config_change_drives_update),
	T(t_few_thousand_dma_pages),
};

/* Driver cases: run on the first direct and the first threaded row. */
static const struct test_def driver_tests[] = {
	T(t_huge_target_clamped),
	T(t_target_beyond_32_bits),
	T(t_pool_exhausted),
	T(t_leak_on_oom),
	T(t_leak_needs_deflate_on_oom),
	T(t_remove_returns_pages),
	{ "t_timeout_then_finish", t_timeout_then_finish, true },
	{ "t_getters_from_another_thread", t_getters_from_another_thread, true },
	T(t_legacy),
	T(t_legacy_actual_bytewise),
};

static const struct test_def plain_tests[] = {
	T(t_driver_register_checks),
	T(t_device_init_checks),
	T(t_large_target_mock),
};

static const struct test_def device_tests[] = {
	T(t_dev_inflate_releases_only_the_page),
	T(t_dev_pfns_split_across_descriptors),
	T(t_dev_inflate_len_not_multiple_of_4),
	T(t_dev_deflate_len_not_multiple_of_4),
	T(t_dev_inflate_writable_buffer),
	T(t_dev_inflate_writable_only),
	T(t_dev_deflate_writable_buffer),
	T(t_dev_inflate_pfn_outside_memory),
	T(t_dev_deflate_pfn_outside_memory),
	T(t_dev_deflate_page_not_in_balloon),
	T(t_dev_inflate_duplicate_pfn),
	T(t_dev_inflate_too_many_segments),
	T(t_dev_config_num_pages_read_only),
	T(t_dev_reset_forgets_pages),
	T(t_dev_stats_well_formed),
	T(t_dev_stats_len_not_multiple_of_10),
	T(t_dev_stats_writable_buffer),
	T(t_dev_stats_second_buffer),
	T(t_dev_stats_not_negotiated),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static struct CMUnitTest tests[COUNT(matrix_tests) * NROWS + COUNT(driver_tests) * 2 +
			       COUNT(plain_tests) + COUNT(device_tests) * NLAYOUTS];
static char names[COUNT(tests)][96];
static unsigned ntests;

static void add(const struct test_def *t, const struct row *row, bool raw)
{
	struct CMUnitTest *u = &tests[ntests];
	const char *name = strncmp(t->name, "t_", 2) ? t->name : t->name + 2;

	if (row)
		snprintf(names[ntests], sizeof(names[0]), "%s/%s", name, row->name);
	else
		snprintf(names[ntests], sizeof(names[0]), "%s", name);
	u->name = names[ntests];
	u->test_func = t->fn;
	u->setup_func = row ? (raw ? rfx_setup : fx_setup) : NULL;
	u->teardown_func = row ? (raw ? rfx_teardown : fx_teardown) : NULL;
	u->initial_state = (void *)row;
	ntests++;
}

int main(void)
{
	/* rows[0] is direct/split/noevidx/direct-desc; the threaded twin is
	 * half-way down the table. */
	const struct row *driver_rows[2] = { &rows[0], &rows[NROWS / 2] };

	build_rows();
	for (unsigned i = 0; i < COUNT(matrix_tests); i++)
		for (unsigned j = 0; j < NROWS; j++)
			add(&matrix_tests[i], &rows[j], false);
	for (unsigned i = 0; i < COUNT(driver_tests); i++)
		for (unsigned j = 0; j < 2; j++)
			if (!driver_tests[i].threaded_only || driver_rows[j]->threaded)
				add(&driver_tests[i], driver_rows[j], false);
	for (unsigned i = 0; i < COUNT(plain_tests); i++)
		add(&plain_tests[i], NULL, false);
	for (unsigned i = 0; i < COUNT(device_tests); i++)
		for (unsigned j = 0; j < NLAYOUTS; j++)
			add(&device_tests[i], &layout_rows[j], true);
	return _cmocka_run_group_tests("balloon", tests, ntests, NULL, NULL);
}
