/*
 * balloon.c - the memory balloon driver (see vio/drivers/balloon.h).
 *
 * Written only against the driver model. One batch of frame numbers is out
 * at a time, in one DMA array shared by both queues: the spec forbids
 * deflating a page before its inflate was acknowledged, and keeping a
 * single batch in flight makes that, and the bookkeeping, trivially true.
 * The pages the balloon holds are recorded in private memory from the
 * bus, never in the pages themselves: the device may zero or unmap them.
 *
 * ents[0, num) are the pages the device has acknowledged. An inflate batch
 * out occupies ents[num, num + batch_n) until it is used; a deflate batch
 * with MUST_TELL_HOST stays inside ents[0, num) until it is used, so a
 * timed-out batch is finished (or, on remove, simply released) later.
 */
#include <stdarg.h>

#include "vio/drivers.h"

#include "../vio_libc.h"

#define DEFAULT_MAX_PAGES 65536u
#define DEFAULT_TIMEOUT_MS 10000
/* Longest single vio_drv_wait(), so a lost interrupt costs little. */
#define WAIT_SLICE_MS 100
/* A 32-bit frame number of 4 KiB pages reaches 2^44 bytes. */
#define DMA_LIMIT (UINT64_C(1) << (32 + VIO_BALLOON_PFN_SHIFT))
#define OFF_NUM_PAGES offsetof(struct vio_balloon_config, num_pages)
#define OFF_ACTUAL offsetof(struct vio_balloon_config, actual)

enum batch_kind { BATCH_NONE, BATCH_INFLATE, BATCH_DEFLATE };

struct page_ent {
	void *page;
	uint64_t dma;
};

struct balloon {
	struct vio_drv_device *dev;
	const struct vio_balloon_drv_opts *cfg;
	struct vio_drv_vq vqs[3];
	unsigned nvqs;
	bool tell_host;

	struct page_ent *ents;
	uint32_t cap;
	uint32_t num;               /* pages the device acknowledged */
	uint32_t target;            /* last read, clamped to cap */
	uint64_t released;          /* pages given back to the source, ever */

	/* The batch out, if any. */
	enum batch_kind batch;
	uint32_t batch_n;
	bool batch_done;
	bool batch_release;         /* deflate: release its pages when used */
	vio_le32 *pfns;
	uint64_t pfns_dma;

	uint8_t *stats_buf;
	uint64_t stats_dma;
	uint32_t stats_len;

	bool busy;                  /* inside update() or leak() */
};

static int balloon_probe(struct vio_drv_device *dev);

static struct balloon *get(struct vio_drv_device *dev)
{
	if (!dev || !dev->driver || dev->driver->probe != balloon_probe)
		return NULL;
	return dev->priv;
}

static void drv_logf(const struct balloon *b, enum vio_log_level level, const char *fmt, ...)
	VIO_PRINTF(3, 4);

static void drv_logf(const struct balloon *b, enum vio_log_level level, const char *fmt, ...)
{
	const struct vio_bus *bus = b->dev->bus;
	va_list ap;

	if (!bus)
		return;
	va_start(ap, fmt);
	vio_vlogf(bus->log, bus->log_opaque, level, NULL, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* The page source                                                          */

static void *page_alloc(struct balloon *b, uint64_t *dma)
{
	const struct vio_balloon_page_ops *ops = b->cfg->pages;

	if (ops)
		return ops->alloc(ops->opaque, b->dev, dma);
	return vio_drv_dma_alloc(b->dev, VIO_BALLOON_PAGE_SIZE, VIO_BALLOON_PAGE_SIZE, dma);
}

static void page_free(struct balloon *b, const struct page_ent *e)
{
	const struct vio_balloon_page_ops *ops = b->cfg->pages;

	if (ops)
		ops->free(ops->opaque, b->dev, e->page, e->dma);
	else
		vio_drv_dma_free(b->dev, e->page, VIO_BALLOON_PAGE_SIZE);
}

/* Gives ents[first, first + n) back to the source: the guest may use
 * them again from here on. */
static void release_pages(struct balloon *b, uint32_t first, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		page_free(b, &b->ents[first + i]);
	b->released += n;
}

/* ------------------------------------------------------------------------ */
/* Talking to the device                                                    */

/* Used-buffer callback of the inflate and deflate queues. */
static void pfn_vq_done(struct vio_drv_vq *vq)
{
	struct balloon *b = vq->dev->priv;
	uint32_t len;
	void *t;

	/* The used length means nothing here (legacy devices wrote junk). */
	while (vio_drvq_get_buf(&vq->q, &t, &len) == 0) {
		if (b && t == b->pfns)
			b->batch_done = true;
	}
}

static int wait_batch(struct balloon *b, struct vio_drv_vq *vq)
{
	const int timeout = b->cfg->timeout_ms > 0 ? b->cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
	struct vio_drv_deadline dl;

	vio_drv_deadline_start(b->dev, &dl, timeout);
	for (;;) {
		pfn_vq_done(vq);
		if (b->batch_done)
			return 0;
		if (vio_drvq_is_broken(&vq->q)) {
			drv_logf(b, VIO_LOG_ERR, "balloon: queue %u broken: %s", vq->index,
				 vio_drvq_error(&vq->q));
			return -EIO;
		}
		if (vio_drv_deadline_passed(b->dev, &dl))
			return -ETIMEDOUT;
		(void)vio_drv_deadline_wait(b->dev, &dl, WAIT_SLICE_MS);
	}
}

static void write_actual(struct balloon *b)
{
	/* Little-endian even for legacy devices (the spec's exception). */
	vio_le32 v = vio_cpu_to_le32(b->num);
	int r = vio_drv_config_write(b->dev, OFF_ACTUAL, &v, sizeof(v));

	if (r < 0)
		drv_logf(b, VIO_LOG_WARN, "balloon: writing actual failed: %d", r);
}

static int read_target(struct balloon *b, bool *clamped)
{
	vio_le32 v;
	uint32_t t;
	int r = vio_drv_config_read(b->dev, OFF_NUM_PAGES, &v, sizeof(v));

	if (r < 0)
		return r;
	t = vio_le32_to_cpu(v);
	*clamped = t > b->cap;
	if (*clamped)
		t = b->cap;
	b->target = t;
	return 0;
}

/* Waits for the batch out, then counts it: only now are inflated pages
 * the device's and (with MUST_TELL_HOST) deflated pages ours again. */
static int finish_batch(struct balloon *b)
{
	unsigned qi = b->batch == BATCH_INFLATE ? VIO_BALLOON_Q_INFLATE : VIO_BALLOON_Q_DEFLATE;
	int r;

	if (b->batch == BATCH_NONE)
		return 0;
	r = wait_batch(b, &b->vqs[qi]);
	if (r < 0)
		return r;
	if (b->batch == BATCH_INFLATE) {
		b->num += b->batch_n;
	} else if (b->batch_release) {
		release_pages(b, b->num - b->batch_n, b->batch_n);
		b->num -= b->batch_n;
	}
	b->batch = BATCH_NONE;
	write_actual(b);
	return 0;
}

static int submit(struct balloon *b, enum batch_kind kind, uint32_t n)
{
	unsigned qi = kind == BATCH_INFLATE ? VIO_BALLOON_Q_INFLATE : VIO_BALLOON_Q_DEFLATE;
	struct vio_drv_vq *vq = &b->vqs[qi];
	struct vio_sg sg = { b->pfns_dma, n * (uint32_t)sizeof(vio_le32) };
	int r;

	b->batch_done = false;
	r = vio_drvq_add(&vq->q, &sg, 1, NULL, 0, b->pfns);
	if (r < 0)
		return r;
	b->batch = kind;
	b->batch_n = n;
	vio_drv_vq_kick(vq);
	return 0;
}

static void set_pfn(struct balloon *b, uint32_t i, uint64_t dma)
{
	b->pfns[i] = vio_set32(b->dev->legacy, (uint32_t)(dma >> VIO_BALLOON_PFN_SHIFT));
}

/* Takes up to n pages from the source and gives them to the device. */
static int inflate_batch(struct balloon *b, uint32_t n)
{
	uint32_t got;
	int r;

	for (got = 0; got < n; got++) {
		struct page_ent *e = &b->ents[b->num + got];

		e->page = page_alloc(b, &e->dma);
		if (!e->page)
			break;
		if (e->dma >= DMA_LIMIT || (e->dma & (VIO_BALLOON_PAGE_SIZE - 1))) {
			drv_logf(b, VIO_LOG_WARN,
				 "balloon: page at %#llx cannot be named by a 32-bit frame number",
				 (unsigned long long)e->dma);
			page_free(b, e);
			break;
		}
		set_pfn(b, got, e->dma);
	}
	if (got == 0)
		return -ENOMEM;
	r = submit(b, BATCH_INFLATE, got);
	if (r < 0) {
		release_pages(b, b->num, got);
		return r;
	}
	return finish_batch(b);
}

/* Asks the device for the last n pages back. Without MUST_TELL_HOST the
 * pages are reused at once, before the device has even seen the request. */
static int deflate_batch(struct balloon *b, uint32_t n)
{
	uint32_t first = b->num - n;
	int r;

	for (uint32_t i = 0; i < n; i++)
		set_pfn(b, i, b->ents[first + i].dma);
	b->batch_release = b->tell_host;
	if (!b->tell_host) {
		release_pages(b, first, n);
		b->num = first;
	}
	r = submit(b, BATCH_DEFLATE, n);
	if (r < 0)
		return r;
	return finish_batch(b);
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

int vio_balloon_drv_update(struct vio_drv_device *dev)
{
	struct balloon *b = get(dev);
	bool clamped = false;
	int r;

	if (!b)
		return -ENODEV;
	if (b->busy)
		return 0;
	b->busy = true;
	r = finish_batch(b);
	while (r == 0) {
		r = read_target(b, &clamped);
		if (r < 0)
			break;
		if (b->target > b->num)
			r = inflate_batch(b, min_u32(b->target - b->num, VIO_BALLOON_DRV_BATCH));
		else if (b->target < b->num)
			r = deflate_batch(b, min_u32(b->num - b->target, VIO_BALLOON_DRV_BATCH));
		else
			break;
	}
	if (r == -ENOMEM)
		drv_logf(b, VIO_LOG_WARN, "balloon: out of pages at %u of %u", b->num, b->target);
	if (r == 0 && clamped) {
		drv_logf(b, VIO_LOG_WARN, "balloon: target above the driver's limit of %u pages",
			 b->cap);
		r = -ENOSPC;
	}
	b->busy = false;
	return r;
}

int64_t vio_balloon_drv_leak(struct vio_drv_device *dev, uint32_t n)
{
	struct balloon *b = get(dev);
	uint64_t before;
	int r;

	if (!b)
		return -ENODEV;
	if (!vio_drv_has_feature(dev, VIO_BALLOON_F_DEFLATE_ON_OOM))
		return -EPERM;
	if (b->busy)
		return -EBUSY;
	b->busy = true;
	before = b->released;
	r = finish_batch(b);
	while (r == 0 && b->released - before < n && b->num) {
		uint32_t left = n - (uint32_t)(b->released - before);

		r = deflate_batch(b, min_u32(min_u32(left, b->num), VIO_BALLOON_DRV_BATCH));
	}
	b->busy = false;
	/* Pages already back count more than a later failure: report them. */
	if (b->released != before || r == 0)
		return (int64_t)(b->released - before);
	return r;
}

uint64_t vio_balloon_drv_pages(struct vio_drv_device *dev)
{
	struct balloon *b = get(dev);

	return b ? b->num : 0;
}

uint64_t vio_balloon_drv_bytes(struct vio_drv_device *dev)
{
	return vio_balloon_pages_to_bytes(vio_balloon_drv_pages(dev));
}

uint64_t vio_balloon_drv_target(struct vio_drv_device *dev)
{
	struct balloon *b = get(dev);

	return b ? b->target : 0;
}

/* ------------------------------------------------------------------------ */
/* Statistics                                                               */

/* Writes one entry per reported tag, the same tags every time, as the
 * spec requires. */
static void fill_stats(struct balloon *b)
{
	uint64_t vals[VIO_BALLOON_S_NR];
	unsigned k = 0;

	memset(vals, 0, sizeof(vals));
	b->cfg->stats(b->cfg->stats_opaque, b->dev, vals);
	for (uint16_t tag = 0; tag < VIO_BALLOON_S_NR; tag++) {
		struct vio_balloon_stat st;

		if (!(b->cfg->stats_tags & (UINT32_C(1) << tag)))
			continue;
		st.tag = vio_set16(b->dev->legacy, tag);
		st.val = vio_set64(b->dev->legacy, vals[tag]);
		memcpy(b->stats_buf + k++ * VIO_BALLOON_STAT_SIZE, &st, VIO_BALLOON_STAT_SIZE);
	}
}

static int post_stats(struct balloon *b, bool kick)
{
	struct vio_drv_vq *vq = &b->vqs[VIO_BALLOON_Q_STATS];
	struct vio_sg sg = { b->stats_dma, b->stats_len };
	int r;

	fill_stats(b);
	r = vio_drvq_add(&vq->q, &sg, 1, NULL, 0, b->stats_buf);
	if (r < 0) {
		drv_logf(b, VIO_LOG_ERR, "balloon: cannot post statistics: %d", r);
		return r;
	}
	if (kick)
		vio_drv_vq_kick(vq);
	return 0;
}

/* The device used the statistics buffer: that is its request for new
 * ones. Answer at once with a fresh buffer. */
static void stats_vq_done(struct vio_drv_vq *vq)
{
	struct balloon *b = vq->dev->priv;
	uint32_t len;
	void *t;

	while (vio_drvq_get_buf(&vq->q, &t, &len) == 0) {
		if (b && t == b->stats_buf)
			(void)post_stats(b, true);
	}
}

/* ------------------------------------------------------------------------ */
/* Probe and remove                                                         */

static const struct vio_balloon_drv_opts *cfg_of(const struct vio_drv_device *dev)
{
	/* Our vio_driver is the first member of struct vio_balloon_driver. */
	return &((const struct vio_balloon_driver *)(const void *)dev->driver)->opts;
}

static void free_state(struct vio_drv_device *dev, struct balloon *b)
{
	struct vio_bus *bus = dev->bus;

	if (b->nvqs)
		vio_drv_del_vqs(dev);
	if (b->pfns)
		vio_drv_dma_free(dev, b->pfns, VIO_BALLOON_DRV_BATCH * sizeof(vio_le32));
	if (b->stats_buf)
		vio_drv_dma_free(dev, b->stats_buf, b->stats_len);
	if (b->ents)
		bus->free(bus->alloc_opaque, b->ents, (size_t)b->cap * sizeof(*b->ents));
	bus->free(bus->alloc_opaque, b, sizeof(*b));
	dev->priv = NULL;
}

/* Bits set in v. (Not __builtin_popcount: without -mpopcnt that is a
 * call into libgcc, which a freestanding build may not have.) */
static uint32_t bits_set(uint32_t v)
{
	uint32_t n = 0;

	for (; v; v &= v - 1)
		n++;
	return n;
}

static int balloon_probe(struct vio_drv_device *dev)
{
	const struct vio_balloon_drv_opts *cfg = cfg_of(dev);
	const bool stats = vio_drv_has_feature(dev, VIO_BALLOON_F_STATS_VQ);
	struct vio_drv_vq_info info[3];
	struct vio_bus *bus = dev->bus;
	struct balloon *b;
	size_t ents_len;
	int r;

	b = bus->alloc(bus->alloc_opaque, sizeof(*b));
	if (!b)
		return -ENOMEM;
	memset(b, 0, sizeof(*b));
	b->dev = dev;
	b->cfg = cfg;
	b->cap = cfg->max_pages ? cfg->max_pages : DEFAULT_MAX_PAGES;
	b->tell_host = vio_drv_has_feature(dev, VIO_BALLOON_F_MUST_TELL_HOST);
	dev->priv = b;
	/* A 32-bit option times 16 bytes: not always a size_t. */
	if (!__builtin_mul_overflow((size_t)b->cap, sizeof(*b->ents), &ents_len))
		b->ents = bus->alloc(bus->alloc_opaque, ents_len);
	if (!b->ents) {
		r = -ENOMEM;
		goto fail;
	}

	memset(info, 0, sizeof(info));
	info[VIO_BALLOON_Q_INFLATE].callback = pfn_vq_done;
	info[VIO_BALLOON_Q_DEFLATE].callback = pfn_vq_done;
	info[VIO_BALLOON_Q_STATS].callback = stats_vq_done;
	r = vio_drv_find_vqs(dev, stats ? 3 : 2, info, b->vqs);
	if (r < 0)
		goto fail;
	b->nvqs = stats ? 3 : 2;

	b->pfns = vio_drv_dma_alloc(dev, VIO_BALLOON_DRV_BATCH * sizeof(vio_le32), 64,
				    &b->pfns_dma);
	if (stats) {
		b->stats_len = VIO_BALLOON_STAT_SIZE * bits_set(cfg->stats_tags);
		b->stats_buf = vio_drv_dma_alloc(dev, b->stats_len, 64, &b->stats_dma);
	}
	if (!b->pfns || (stats && !b->stats_buf)) {
		r = -ENOMEM;
		goto fail;
	}
	/* The first statistics buffer goes out before DRIVER_OK and is
	 * announced after it (device initialisation, steps 2 and 7). */
	if (stats) {
		r = post_stats(b, false);
		if (r < 0)
			goto fail;
	}
	vio_drv_ready(dev);
	if (stats)
		vio_drv_vq_kick(&b->vqs[VIO_BALLOON_Q_STATS]);
	/* The host may have asked for memory before we came up. */
	r = vio_balloon_drv_update(dev);
	if (r < 0)
		drv_logf(b, VIO_LOG_WARN, "balloon: initial update: %d", r);
	return 0;
fail:
	vio_drv_reset(dev);
	free_state(dev, b);
	return r;
}

/* After the reset the device will not touch any page again: every page,
 * held or in a batch out, goes back to the source. */
static void balloon_remove(struct vio_drv_device *dev)
{
	struct balloon *b = get(dev);

	if (!b)
		return;
	vio_drv_reset(dev);
	for (unsigned i = 0; i < b->nvqs; i++)
		while (vio_drvq_detach_unused(&b->vqs[i].q))
			;
	if (b->batch == BATCH_INFLATE)
		release_pages(b, b->num, b->batch_n);
	release_pages(b, 0, b->num);
	b->num = 0;
	b->batch = BATCH_NONE;
	free_state(dev, b);
}

static void balloon_config_changed(struct vio_drv_device *dev)
{
	struct balloon *b = get(dev);
	int r;

	if (!b)
		return;
	r = vio_balloon_drv_update(dev);
	if (r < 0 && r != -ENOMEM && r != -ENOSPC)
		drv_logf(b, VIO_LOG_ERR, "balloon: update after a config change: %d", r);
}

static const uint32_t balloon_ids[] = { VIO_ID_BALLOON, 0 };

#define BALLOON_TYPE_FEATURES (VIO_BIT(VIO_BALLOON_F_MUST_TELL_HOST) | \
			       VIO_BIT(VIO_BALLOON_F_STATS_VQ) | \
			       VIO_BIT(VIO_BALLOON_F_DEFLATE_ON_OOM))
#define BALLOON_RING_FEATURES (VIO_BIT(VIO_F_EVENT_IDX) | VIO_BIT(VIO_F_INDIRECT_DESC) | \
			       VIO_BIT(VIO_F_NOTIFY_ON_EMPTY) | VIO_BIT(VIO_F_ANY_LAYOUT))

int vio_balloon_drv_register(struct vio_bus *bus, struct vio_balloon_driver *b,
			     const struct vio_balloon_drv_opts *opts)
{
	static const struct vio_balloon_drv_opts defaults;
	const struct vio_balloon_drv_opts *o = opts ? opts : &defaults;
	uint64_t type = BALLOON_TYPE_FEATURES;
	uint64_t off = o->features_off;

	if (o->stats_tags & ~((UINT32_C(1) << VIO_BALLOON_S_NR) - 1))
		return -EINVAL;
	if (o->stats && !o->stats_tags)
		return -EINVAL;
	memset(b, 0, sizeof(*b));
	b->opts = *o;
	if (!o->stats)
		type &= ~VIO_BIT(VIO_BALLOON_F_STATS_VQ);
	/* Without VERSION_1 the 1.x-only ring features cannot be had either. */
	if (off & VIO_BIT(VIO_F_VERSION_1))
		off |= VIO_BIT(VIO_F_RING_PACKED) | VIO_BIT(VIO_F_IN_ORDER);
	b->drv.name = "virtio_balloon";
	b->drv.ids = balloon_ids;
	b->drv.features = (type | BALLOON_RING_FEATURES | VIO_BIT(VIO_F_VERSION_1) |
			   VIO_BIT(VIO_F_RING_PACKED) | VIO_BIT(VIO_F_IN_ORDER)) & ~off;
	b->drv.legacy_features = (type | BALLOON_RING_FEATURES) & ~off;
	b->drv.probe = balloon_probe;
	b->drv.remove = balloon_remove;
	b->drv.config_changed = balloon_config_changed;
	return vio_bus_register_driver(bus, &b->drv);
}

void vio_balloon_drv_unregister(struct vio_bus *bus, struct vio_balloon_driver *b)
{
	vio_bus_unregister_driver(bus, &b->drv);
}
