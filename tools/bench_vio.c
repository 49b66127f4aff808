/*
 * bench_vio.c - vio-bench's main subject: one libvio virtqueue, driver side
 * on one thread, device side on the other, through the public ring API
 * only.
 *
 * The memory is set up as a VMM would see it: one arena holding the three
 * ring areas and the buffers, registered in a vio_mem at a "guest" address
 * that is not its host address, so the device really translates every
 * descriptor (the cost a real backend pays). Each ring area starts on its
 * own page: the driver-written and device-written areas never share a line.
 *
 * Driver loop: when a whole batch fits, add() it and ask kick_prepare();
 * then reap everything used with get_buf(). Device loop: pop() up to a
 * batch, read the first byte of each buffer, fill() it back, one flush()
 * per batch, then ask need_interrupt(). In poll mode both sides keep the
 * other's notifications suppressed (kick_disable, disable_cb) and spin; the
 * ring's decisions are still counted. In eventfd mode every decision to
 * notify is an eventfd write, and a side with nothing to do re-enables
 * notifications, checks once more, and only then blocks in read().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "vio/ring.h"

/* Where the arena appears to the device: above 4 GiB, so no host pointer
 * of ours can be mistaken for it. */
#define GUEST_BASE UINT64_C(0x100000000)
#define PAGE 4096u

struct vq_bench {
	struct bench_sync sync;
	const struct bench_cfg *cfg;
	struct bench_result *res;
	uint8_t *arena;
	size_t arena_len;
	uint64_t buf_gpa;          /* guest address of bufs.base */
	struct bench_bufs bufs;
	int kick_fd, call_fd;      /* -1 in poll mode */
	struct vio_mem_region region;
	struct vio_mem mem;
	struct vio_drvq_slot *slots;
	void *inflight;            /* --inflight: the log region, and its scratch */
	uint16_t *inflight_scratch;
	/* Each side's private queue state on its own lines. */
	_Alignas(BENCH_LINE) struct vio_drvq drv;
	_Alignas(BENCH_LINE) struct vio_devq dev;
};

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static uint64_t features_of(const struct bench_cfg *cfg)
{
	return VIO_BIT(VIO_F_VERSION_1) | cfg->layout_features |
	       (cfg->event_idx ? VIO_BIT(VIO_F_EVENT_IDX) : 0) |
	       (cfg->in_order ? VIO_BIT(VIO_F_IN_ORDER) : 0);
}

/* Buffers the ring can hold at once: the most the driver has out. */
static unsigned max_bufs(const struct bench_cfg *cfg)
{
	return cfg->size / cfg->segs;
}

static void vq_teardown(struct vq_bench *b)
{
	if (b->kick_fd >= 0)
		close(b->kick_fd);
	if (b->call_fd >= 0)
		close(b->call_fd);
	free(b->arena);
	free(b->slots);
	free(b->inflight);
	free(b->inflight_scratch);
	free(b);
}

/* Builds both sides over a fresh arena. Returns 0 or the first error. */
static int vq_setup(const struct bench_cfg *cfg, struct vq_bench **out)
{
	const uint64_t features = features_of(cfg);
	size_t off_drv, off_dev, off_buf;
	struct vio_drvq_config dc;
	struct vio_devq_config vc;
	struct vq_bench *b;
	int r;

	*out = NULL;
	if (!vio_ring_size_valid(features, cfg->size))
		return -EINVAL;
	b = aligned_alloc(BENCH_LINE, sizeof(*b));
	if (!b)
		return -ENOMEM;
	memset(b, 0, sizeof(*b));
	b->cfg = cfg;
	b->kick_fd = b->call_fd = -1;

	off_drv = align_up(vio_ring_desc_bytes(features, cfg->size), PAGE);
	off_dev = align_up(off_drv + vio_ring_driver_bytes(features, cfg->size), PAGE);
	off_buf = align_up(off_dev + vio_ring_device_bytes(features, cfg->size), PAGE);
	b->arena_len = align_up(off_buf + bench_bufs_bytes(cfg, max_bufs(cfg)), PAGE);
	b->arena = aligned_alloc(PAGE, b->arena_len);
	b->slots = malloc(vio_drvq_slots_bytes(cfg->size));
	if (!b->arena || !b->slots) {
		vq_teardown(b);
		return -ENOMEM;
	}
	memset(b->arena, 0, b->arena_len);
	bench_bufs_init(&b->bufs, cfg, max_bufs(cfg), b->arena + off_buf);
	b->buf_gpa = GUEST_BASE + off_buf;

	vio_mem_init(&b->mem, &b->region, 1);
	r = vio_mem_add(&b->mem, GUEST_BASE, b->arena_len, b->arena);

	memset(&dc, 0, sizeof(dc));
	dc.size = cfg->size;
	dc.features = features;
	dc.len_policy = VIO_LEN_BROKEN;
	dc.desc = b->arena;
	dc.driver = b->arena + off_drv;
	dc.device = b->arena + off_dev;
	dc.dma.desc = GUEST_BASE;
	dc.dma.driver = GUEST_BASE + off_drv;
	dc.dma.device = GUEST_BASE + off_dev;
	dc.slots = b->slots;
	if (!r)
		r = vio_drvq_init(&b->drv, &dc);

	memset(&vc, 0, sizeof(vc));
	vc.size = cfg->size;
	vc.features = features;
	vc.addrs = dc.dma;
	vc.mem = &b->mem;
	if (!r && cfg->inflight) {
		bool packed = vio_has_feature(cfg->layout_features, VIO_F_RING_PACKED);

		vc.inflight_len = vio_inflight_queue_bytes(packed, cfg->size);
		vc.inflight = b->inflight = aligned_alloc(VIO_INFLIGHT_ALIGN, vc.inflight_len);
		b->inflight_scratch = calloc(2 * (size_t)cfg->size, sizeof(uint16_t));
		vc.inflight_scratch = b->inflight_scratch;
		if (!b->inflight || !b->inflight_scratch)
			r = -ENOMEM;
		else
			memset(b->inflight, 0, vc.inflight_len);
	}
	if (!r)
		r = vio_devq_init(&b->dev, &vc);
	if (r) {
		vq_teardown(b);
		return r;
	}
	*out = b;
	return 0;
}

int bench_vio_probe(const struct bench_cfg *cfg)
{
	struct vq_bench *b;
	int r = vq_setup(cfg, &b);

	if (!r)
		vq_teardown(b);
	return r;
}

/* eventfd mode, driver idle: ask for an interrupt, look once more, sleep. */
static void driver_wait(struct vq_bench *b)
{
	if (vio_drvq_enable_cb(&b->drv)) {
		bench_efd_wait(b->call_fd);
		b->res->driver_sleeps++;
	}
	vio_drvq_disable_cb(&b->drv);
}

/* eventfd mode, device idle: ask for a kick, look once more, sleep. */
static void device_wait(struct vq_bench *b)
{
	if (vio_devq_kick_enable(&b->dev)) {
		bench_efd_wait(b->kick_fd);
		b->res->device_sleeps++;
	}
	vio_devq_kick_disable(&b->dev);
}

static void drv_fail(struct vq_bench *b, const char *call, int r)
{
	const char *why = vio_drvq_error(&b->drv);

	bench_die("driver: %s: %s%s%s", call, strerror(-r), why ? ": " : "", why ? why : "");
}

/* Posts one batch of buffers from the pool and lets the ring decide on a
 * kick. */
static void post_batch(struct vq_bench *b, struct bench_pool *pool, struct vio_sg *sg)
{
	const struct bench_cfg *cfg = b->cfg;

	for (unsigned k = 0; k < cfg->batch; k++) {
		unsigned i = bench_pool_get(pool);
		int r;

		for (unsigned s = 0; s < cfg->segs; s++) {
			size_t off = (size_t)(bench_seg(&b->bufs, i, s) - b->bufs.base);

			sg[s].addr = b->buf_gpa + off;
		}
		r = vio_drvq_add(&b->drv, sg, cfg->segs, NULL, 0, (void *)(uintptr_t)(i + 1));
		if (r)
			drv_fail(b, "add", r);
	}
	if (vio_drvq_kick_prepare(&b->drv) && b->kick_fd >= 0)
		bench_efd_signal(b->kick_fd);
}

static void *vq_driver(void *arg)
{
	struct vq_bench *b = arg;
	const struct bench_cfg *cfg = b->cfg;
	const unsigned need = cfg->batch * cfg->segs;
	struct vio_sg sg[BENCH_MAX_SEGS];
	struct bench_pool pool;
	uint64_t posted = 0, reaped = 0, t0;
	bool stopping = false;

	if (bench_pool_init(&pool, b->bufs.nbufs))
		bench_die("out of memory");
	for (unsigned s = 0; s < cfg->segs; s++)
		sg[s].len = cfg->seg_bytes;
	vio_drvq_disable_cb(&b->drv);
	pthread_barrier_wait(&b->sync.start);

	t0 = bench_now_ns();
	for (;;) {
		bool progress = false;
		uint32_t len;
		void *token;
		int r;

		if (!stopping && vio_drvq_num_free(&b->drv) >= need) {
			post_batch(b, &pool, sg);
			posted += cfg->batch;
			stopping = cfg->count && posted >= cfg->count;
			progress = true;
		}
		while ((r = vio_drvq_get_buf(&b->drv, &token, &len)) == 0) {
			bench_pool_put(&pool, (unsigned)((uintptr_t)token - 1));
			reaped++;
			progress = true;
		}
		if (r != -EAGAIN)
			drv_fail(b, "get_buf", r);
		if (!stopping)
			stopping = atomic_load_explicit(&b->sync.stop_req, memory_order_relaxed);
		if (stopping && reaped == posted)
			break;
		if (!progress) {
			if (b->call_fd >= 0)
				driver_wait(b);
			else
				bench_pause();
		}
	}
	b->res->ns = bench_now_ns() - t0;
	b->res->bufs = reaped;
	bench_pool_fini(&pool);
	bench_finish(&b->sync, b->kick_fd);
	return NULL;
}

static void dev_fail(struct vq_bench *b, const char *call, int r)
{
	const char *why = vio_devq_error(&b->dev);

	bench_die("device: %s: %s%s%s", call, strerror(-r), why ? ": " : "", why ? why : "");
}

static void *vq_device(void *arg)
{
	struct vq_bench *b = arg;
	const unsigned batch = b->cfg->batch;
	struct vio_iov out[BENCH_MAX_SEGS], in[1];
	struct vio_elem e = { .out = out, .out_cap = BENCH_MAX_SEGS, .in = in, .in_cap = 1 };
	uint64_t flushes = 0;
	unsigned sink = 0;

	vio_devq_kick_disable(&b->dev);
	pthread_barrier_wait(&b->sync.start);
	for (;;) {
		unsigned n = 0;
		int r = 0;

		while (n < batch && (r = vio_devq_pop(&b->dev, &e)) == 0) {
			sink += *(const uint8_t *)e.out[0].base;
			/* IN_ORDER: one used entry for the whole batch, below. */
			r = b->cfg->in_order ? 0 : vio_devq_fill(&b->dev, &e, 0);
			if (r)
				dev_fail(b, "fill", r);
			n++;
		}
		if (n < batch && r != -EAGAIN)
			dev_fail(b, "pop", r);
		if (n && b->cfg->in_order) {
			r = vio_devq_fill_in_order(&b->dev, &e, 0);
			if (r)
				dev_fail(b, "fill_in_order", r);
		}
		if (n) {
			r = vio_devq_flush(&b->dev);
			if (r)
				dev_fail(b, "flush", r);
			flushes++;
			if (vio_devq_need_interrupt(&b->dev) && b->call_fd >= 0)
				bench_efd_signal(b->call_fd);
			continue;
		}
		if (atomic_load_explicit(&b->sync.done, memory_order_acquire))
			break;
		if (b->kick_fd >= 0)
			device_wait(b);
		else
			bench_pause();
	}
	b->res->sink = sink;
	b->res->device_flushes = flushes;
	return NULL;
}

void bench_vio_run(const struct bench_cfg *cfg, struct bench_result *res)
{
	struct vq_bench *b;
	int r = vq_setup(cfg, &b);

	if (r)
		bench_die("cannot set up a %s queue of %u: %s", cfg->layout, cfg->size,
			  strerror(-r));
	memset(res, 0, sizeof(*res));
	b->res = res;
	if (cfg->mode == BENCH_EVENTFD) {
		b->kick_fd = bench_efd_new();
		b->call_fd = bench_efd_new();
	}
	bench_run_threads(cfg, &b->sync, vq_driver, vq_device, b, "libvio");
	res->kicks = b->drv.stats.kicks;
	res->kicks_suppressed = b->drv.stats.kicks_suppressed;
	res->irqs = b->dev.stats.interrupts;
	res->irqs_suppressed = b->dev.stats.interrupts_suppressed;
	vq_teardown(b);
}
