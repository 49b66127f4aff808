/*
 * balloon.c - the memory balloon device (see vio/devices/balloon.h).
 *
 * Written only against the device model. The inflate and deflate queues
 * carry arrays of 32-bit frame numbers of 4 KiB pages; each is checked
 * against the driver's memory (vio_mem) before it is believed, and the
 * set of ballooned pages lives in bitmaps the device allocated at
 * DRIVER_OK, so processing a queue never allocates. Releasing memory
 * coalesces runs of host-contiguous pages into one madvise() call, and
 * only ever releases whole host pages that lie inside the ballooned page:
 * madvise rounds lengths up, and a host page larger than 4 KiB can hold
 * memory the driver still uses. The lock, madvise and the page size come
 * from dev_os.h (a spinlock and nothing to release without an OS).
 */
#include <stddef.h>

#include "vio/devices.h"

#include "dev_os.h"

#define PAGE VIO_BALLOON_PAGE_SIZE
#define PFN_MAX UINT64_C(0xffffffff)
#define DEFAULT_QUEUE_SIZE 128u
/* Frame numbers read from the driver's buffer per copy. */
#define PFN_CHUNK 256u
/* Spans one 4 KiB page can take (it crosses regions only at their edges). */
#define PAGE_SPANS 8u
/* Offsets of the two config fields. */
#define OFF_NUM_PAGES offsetof(struct vio_balloon_config, num_pages)
#define OFF_ACTUAL offsetof(struct vio_balloon_config, actual)

static struct vio_balloon_dev *bd_of(struct vio_dev_model *d)
{
	return d->priv;
}

#define dev_logf(bd, level, ...) vio_dev_logf(&(bd)->dev, level, __VA_ARGS__)

/* ------------------------------------------------------------------------ */
/* The set of ballooned pages                                               */

static void set_free(struct vio_balloon_dev *bd)
{
	vio__zfree(&bd->alloc, bd->ranges, bd->ranges_cap, sizeof(*bd->ranges));
	vio__zfree(&bd->alloc, bd->bitmap, bd->bitmap_words, sizeof(*bd->bitmap));
	bd->ranges = NULL;
	bd->bitmap = NULL;
	bd->nranges = bd->ranges_cap = 0;
	bd->bitmap_words = 0;
	bd->pages = 0;
}

/*
 * One range of frame numbers per region, clipped to what a 32-bit frame
 * number can name. The region table is sorted, so the ranges are too.
 */
static int set_alloc(struct vio_balloon_dev *bd)
{
	const struct vio_mem *m = bd->dev.mem;
	unsigned n = m ? vio_mem_count(m) : 0, k = 0;
	uint64_t bits = 0, words;

	set_free(bd);
	if (n == 0)
		return 0;
	bd->ranges = vio__zalloc(&bd->alloc, n, sizeof(*bd->ranges));
	if (!bd->ranges)
		return -ENOMEM;
	bd->ranges_cap = n;
	for (unsigned i = 0; i < n; i++) {
		const struct vio_mem_region *r = vio_mem_region_at(m, i);
		uint64_t first = r->addr >> VIO_BALLOON_PFN_SHIFT;
		uint64_t last = (r->addr + (r->size - 1)) >> VIO_BALLOON_PFN_SHIFT;

		if (first > PFN_MAX)
			break;
		if (last > PFN_MAX)
			last = PFN_MAX;
		bd->ranges[k].first_pfn = first;
		bd->ranges[k].npages = last - first + 1;
		bd->ranges[k].bit = bits;
		bits += bd->ranges[k].npages;
		k++;
	}
	bd->nranges = k;
	words = (bits + 63) / 64;
	if (words > SIZE_MAX / sizeof(uint64_t)) {
		set_free(bd);
		return -ENOMEM;
	}
	bd->bitmap_words = words ? (size_t)words : 1;
	bd->bitmap = vio__zalloc(&bd->alloc, bd->bitmap_words, sizeof(uint64_t));
	if (!bd->bitmap) {
		set_free(bd);
		return -ENOMEM;
	}
	return 0;
}

/*
 * The bit of frame `pfn`: the last range starting at or below it decides,
 * so a page shared by two unaligned regions always maps to one bit.
 */
static bool page_bit(const struct vio_balloon_dev *bd, uint32_t pfn, uint64_t *bit)
{
	const struct vio__balloon_range *r;
	unsigned lo = 0, hi = bd->nranges;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (bd->ranges[mid].first_pfn <= pfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return false;
	r = &bd->ranges[lo - 1];
	if (pfn - r->first_pfn >= r->npages)
		return false;
	*bit = r->bit + (pfn - r->first_pfn);
	return true;
}

static bool bit_test(const struct vio_balloon_dev *bd, uint64_t bit)
{
	return bd->bitmap[bit / 64] & (UINT64_C(1) << (bit % 64));
}

static void bit_assign(struct vio_balloon_dev *bd, uint64_t bit, bool on)
{
	if (on)
		bd->bitmap[bit / 64] |= UINT64_C(1) << (bit % 64);
	else
		bd->bitmap[bit / 64] &= ~(UINT64_C(1) << (bit % 64));
}

/* ------------------------------------------------------------------------ */
/* Releasing memory                                                         */

/* A run of host memory waiting for one madvise() call. */
struct release_run {
	uintptr_t start;
	size_t len;
};

static void run_flush(struct vio_balloon_dev *bd, struct release_run *run)
{
	int r;

	if (!run->len)
		return;
	r = vio__os_release((void *)run->start, run->len);
	if (r == 0)
		bd->counters.released_bytes += run->len;
	else
		dev_logf(bd, VIO_LOG_WARN, "balloon: madvise(DONTNEED) of %zu bytes failed: %s",
			 run->len, vio_strerror(r));
	run->len = 0;
}

/* Adds the whole host pages inside one span to the run. */
static void run_add(struct vio_balloon_dev *bd, struct release_run *run, const struct vio_iov *span)
{
	const uintptr_t mask = (uintptr_t)bd->host_page - 1;
	uintptr_t base = (uintptr_t)span->base;
	uintptr_t start = (base + mask) & ~mask;
	uintptr_t end = (base + span->len) & ~mask;

	if (!VIO__OS_CAN_RELEASE || end <= start)
		return;
	if (run->len && run->start + run->len == start) {
		run->len += end - start;
		return;
	}
	run_flush(bd, run);
	run->start = start;
	run->len = end - start;
}

/* ------------------------------------------------------------------------ */
/* Inflate and deflate                                                      */

/* Counts of one buffer's refused frame numbers, logged once per buffer. */
struct pfn_report {
	uint64_t bad;
	uint32_t first_bad;
};

/* The page of frame `pfn` as host spans, and its bit; false if the
 * driver named memory it does not have. */
static bool lookup_page(struct vio_balloon_dev *bd, uint32_t pfn, struct vio_iov *spans,
			unsigned *n, uint64_t *bit, struct pfn_report *rep)
{
	uint64_t addr = (uint64_t)pfn << VIO_BALLOON_PFN_SHIFT;

	if (vio_mem_translate(bd->dev.mem, addr, PAGE, spans, PAGE_SPANS, n) == 0 &&
	    page_bit(bd, pfn, bit))
		return true;
	if (rep->bad++ == 0)
		rep->first_bad = pfn;
	bd->counters.bad_pfns++;
	return false;
}

static void inflate_page(struct vio_balloon_dev *bd, uint32_t pfn, struct release_run *run,
			 struct pfn_report *rep)
{
	struct vio_iov spans[PAGE_SPANS];
	unsigned n;
	uint64_t bit;

	if (!lookup_page(bd, pfn, spans, &n, &bit, rep))
		return;
	if (bit_test(bd, bit)) {
		/* Already released; the driver lost track, nothing to do. */
		bd->counters.duplicate_pfns++;
		return;
	}
	bit_assign(bd, bit, true);
	bd->pages++;
	bd->counters.inflated++;
	if (bd->hooks.inflate && bd->hooks.inflate(bd->hooks.opaque, pfn, spans, n) != 0)
		return;
	for (unsigned i = 0; i < n; i++)
		run_add(bd, run, &spans[i]);
}

static void deflate_page(struct vio_balloon_dev *bd, uint32_t pfn, struct pfn_report *rep)
{
	struct vio_iov spans[PAGE_SPANS];
	unsigned n;
	uint64_t bit;

	if (!lookup_page(bd, pfn, spans, &n, &bit, rep))
		return;
	if (!bit_test(bd, bit)) {
		bd->counters.unknown_pfns++;
		return;
	}
	/* Nothing to map back: the next touch faults in zeroed memory. */
	bit_assign(bd, bit, false);
	bd->pages--;
	bd->counters.deflated++;
	if (bd->hooks.deflate)
		bd->hooks.deflate(bd->hooks.opaque, pfn, spans, n);
}

static void bad_buffer(struct vio_balloon_dev *bd, const char *queue, const char *why)
{
	bd->counters.bad_buffers++;
	dev_logf(bd, VIO_LOG_WARN, "balloon: %s buffer refused: %s", queue, why);
}

/* One inflate or deflate buffer: an array of le32 frame numbers the
 * device only reads. A malformed buffer is refused whole. */
static void process_pfns(struct vio_balloon_dev *bd, bool inflate, const struct vio_elem *e)
{
	const char *qname = inflate ? "inflate" : "deflate";
	struct release_run run = { 0, 0 };
	struct pfn_report rep = { 0, 0 };
	vio_le32 raw[PFN_CHUNK];

	if (e->in_num || e->in_len) {
		bad_buffer(bd, qname, "it has device-writable parts");
		return;
	}
	if (e->out_len % sizeof(vio_le32)) {
		bad_buffer(bd, qname, "its length is not a multiple of 4 bytes");
		return;
	}
	for (uint32_t off = 0; off < e->out_len;) {
		uint32_t n = (e->out_len - off) / sizeof(vio_le32);

		if (n > PFN_CHUNK)
			n = PFN_CHUNK;
		vio_iov_to_buf(e->out, e->out_num, off, raw, n * sizeof(vio_le32));
		off += n * (uint32_t)sizeof(vio_le32);
		for (uint32_t i = 0; i < n; i++) {
			uint32_t pfn = vio_get32(bd->dev.legacy, raw[i]);

			if (inflate)
				inflate_page(bd, pfn, &run, &rep);
			else
				deflate_page(bd, pfn, &rep);
		}
	}
	/* Released before the buffer is used: the driver may reuse the PFN
	 * array, and (without MUST_TELL_HOST) deflate right after. */
	run_flush(bd, &run);
	if (rep.bad)
		dev_logf(bd, VIO_LOG_WARN,
			 "balloon: %s: %llu frame numbers outside the driver's memory "
			 "ignored (first %#x)",
			 qname, (unsigned long long)rep.bad, rep.first_bad);
}

/* ------------------------------------------------------------------------ */
/* Statistics                                                               */

/* Parses a statistics buffer; unknown tags are ignored, as the spec
 * requires. The buffer has been checked to be whole entries. */
static void parse_stats(struct vio_balloon_dev *bd, const struct vio_elem *e)
{
	struct vio_balloon_stats s;
	struct vio_balloon_stat st[16];

	memset(&s, 0, sizeof(s));
	for (uint32_t off = 0; off < e->out_len;) {
		uint32_t n = (e->out_len - off) / VIO_BALLOON_STAT_SIZE;

		if (n == 0)
			break; /* a partial entry: refused before we get here */
		if (n > 16)
			n = 16;
		vio_iov_to_buf(e->out, e->out_num, off, st, n * VIO_BALLOON_STAT_SIZE);
		off += n * VIO_BALLOON_STAT_SIZE;
		for (uint32_t i = 0; i < n; i++) {
			uint16_t tag = vio_get16(bd->dev.legacy, st[i].tag);

			if (tag >= VIO_BALLOON_S_NR)
				continue;
			s.val[tag] = vio_get64(bd->dev.legacy, st[i].val);
			s.present |= UINT32_C(1) << tag;
		}
	}
	s.seq = bd->stats.seq + 1;
	bd->stats = s;
	bd->counters.stats_buffers++;
	if (bd->hooks.stats)
		bd->hooks.stats(bd->hooks.opaque);
}

/*
 * The driver posted statistics. The device keeps the buffer: using it is
 * how the next request is made. A well-behaved driver has at most one out;
 * a second one sends the first back, as there is nothing to keep it for.
 */
static void take_stats(struct vio_balloon_dev *bd, struct vio_devq *vq, const struct vio_elem *e)
{
	bool first = bd->stats_first;

	if (bd->stats_held) {
		bad_buffer(bd, "stats", "a second buffer while the device holds one");
		(void)vio_devq_push(vq, &bd->stats_elem, 0);
	}
	/* Only id and ring bookkeeping matter for the push later; the spans
	 * point at scratch arrays and are not used again. */
	bd->stats_elem = *e;
	bd->stats_held = true;
	bd->stats_first = false;
	if (e->in_num || e->in_len) {
		bad_buffer(bd, "stats", "it has device-writable parts");
		return;
	}
	if (e->out_len % VIO_BALLOON_STAT_SIZE) {
		bad_buffer(bd, "stats", "its length is not a multiple of 10 bytes");
		return;
	}
	/* Legacy drivers historically posted the first buffer uninitialised. */
	if (bd->dev.legacy && first)
		return;
	parse_stats(bd, e);
}

static int request_stats(struct vio_balloon_dev *bd)
{
	struct vio_dev_model *d = &bd->dev;
	struct vio_devq *vq;
	int r;

	if (!vio_dev_has_feature(d, VIO_BALLOON_F_STATS_VQ))
		return -ENOTSUP;
	vq = vio_dev_vq(d, VIO_BALLOON_Q_STATS);
	if (!vq)
		return -EIO;
	if (!bd->stats_held)
		return -EAGAIN;
	bd->stats_held = false;
	r = vio_devq_push(vq, &bd->stats_elem, 0);
	if (r < 0)
		return r;
	vio_dev_interrupt(d, VIO_BALLOON_Q_STATS);
	return 0;
}

int vio_balloon_dev_request_stats(struct vio_balloon_dev *bd)
{
	int r;

	vio__lock(&bd->lock);
	r = request_stats(bd);
	vio__unlock(&bd->lock);
	return r;
}

int vio_balloon_dev_stats(struct vio_balloon_dev *bd, struct vio_balloon_stats *out)
{
	int r = -ENODATA;

	vio__lock(&bd->lock);
	if (bd->stats.seq) {
		*out = bd->stats;
		r = 0;
	}
	vio__unlock(&bd->lock);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Device model ops                                                         */

static void balloon_notify(struct vio_dev_model *d, unsigned qi)
{
	struct vio_balloon_dev *bd = bd_of(d);
	struct vio_devq *vq = vio_dev_vq(d, qi);
	bool stats = qi == VIO_BALLOON_Q_STATS;
	struct vio_elem e;
	int r;

	if (!vq || (stats && !vio_dev_has_feature(d, VIO_BALLOON_F_STATS_VQ)))
		return;
	vio__lock(&bd->lock);
	for (;;) {
		memset(&e, 0, sizeof(e));
		e.out = stats ? bd->stats_out : bd->out[qi];
		e.in = stats ? bd->stats_in : bd->in[qi];
		e.out_cap = e.in_cap = VIO_BALLOON_DEV_SEGS;
		r = vio_devq_pop(vq, &e);
		if (r < 0)
			break;
		if (stats) {
			take_stats(bd, vq, &e);
			continue;
		}
		process_pfns(bd, qi == VIO_BALLOON_Q_INFLATE, &e);
		(void)vio_devq_push(vq, &e, 0);
	}
	vio_dev_check(d, qi, r);
	vio_dev_interrupt(d, qi);
	vio__unlock(&bd->lock);
}

/* DRIVER_OK: the regions are known now, so size the page set. */
static int balloon_start(struct vio_dev_model *d)
{
	struct vio_balloon_dev *bd = bd_of(d);
	int r;

	vio__lock(&bd->lock);
	r = set_alloc(bd);
	vio__unlock(&bd->lock);
	if (r < 0)
		dev_logf(bd, VIO_LOG_ERR, "balloon: no memory for the page set");
	return r;
}

/* After a reset every page is the driver's again, and it starts over. */
static void balloon_reset(struct vio_dev_model *d)
{
	struct vio_balloon_dev *bd = bd_of(d);

	vio__lock(&bd->lock);
	set_free(bd);
	bd->stats_held = false;
	bd->stats_first = true;
	bd->actual = 0;
	bd->config.actual = vio_cpu_to_le32(0);
	vio__unlock(&bd->lock);
}

/*
 * Only `actual` is the driver's to write (num_pages is the device's):
 * every other write is refused before anything is stored.
 */
static int balloon_config_check(struct vio_dev_model *d, unsigned off, const void *buf,
				unsigned len)
{
	(void)d;
	(void)buf;
	if (off >= OFF_ACTUAL && off + len <= OFF_ACTUAL + sizeof(vio_le32))
		return 0;
	return -EPERM;
}

/* `actual` was written (balloon_config_check took it). A legacy driver
 * may write it a byte at a time, low byte first: take the value once its
 * last byte is written. */
static void balloon_config_write(struct vio_dev_model *d, unsigned off, unsigned len)
{
	struct vio_balloon_dev *bd = bd_of(d);

	vio__lock(&bd->lock);
	if (!d->legacy || off + len >= OFF_ACTUAL + sizeof(vio_le32)) {
		bd->actual = vio_le32_to_cpu(bd->config.actual);
		if (bd->hooks.actual)
			bd->hooks.actual(bd->hooks.opaque, bd->actual);
	}
	vio__unlock(&bd->lock);
}

static const struct vio_config_field balloon_config_fields[] = {
	{ offsetof(struct vio_balloon_config, num_pages), sizeof(vio_le32) },
	{ offsetof(struct vio_balloon_config, actual), sizeof(vio_le32) },
};

static const struct vio_dev_ops balloon_ops = {
	.version = VIO_DEV_OPS_VERSION,
	.start = balloon_start,
	.reset = balloon_reset,
	.queue_notify = balloon_notify,
	.config_write = balloon_config_write,
	.config_check = balloon_config_check,
};

/* ------------------------------------------------------------------------ */
/* Embedder API                                                             */

/* Device-type feature bits: 0..23 (and 50..63, none defined for balloon). */
#define TYPE_BITS ((VIO_BIT(24) - 1) | ~(VIO_BIT(50) - 1))

int vio_balloon_dev_init(struct vio_balloon_dev *bd, const struct vio_balloon_dev_opts *o)
{
	struct vio_dev_model *d = &bd->dev;
	unsigned qsize;
	int r;

	memset(bd, 0, sizeof(*bd));
	if (!o)
		return -EINVAL;
	qsize = o->queue_size ? o->queue_size : DEFAULT_QUEUE_SIZE;
	if (o->features & TYPE_BITS & ~VIO_BALLOON_DEV_FEATURES)
		return -ENOTSUP;
	if (!vio__alloc_pick(&bd->alloc, o->alloc, o->free, o->alloc_opaque))
		return -EINVAL;
	bd->hooks = o->hooks;
	bd->host_page = vio__os_page_size();
	bd->stats_first = true;
	d->device_id = VIO_ID_BALLOON;
	d->host_features = o->features;
	d->legacy_ok = o->legacy_ok;
	d->config = (uint8_t *)&bd->config;
	d->config_len = VIO_BALLOON_CONFIG_BASE_LEN;
	d->config_fields = balloon_config_fields;
	d->config_nfields = 2;
	d->queues = bd->queues;
	d->num_queues = vio_has_feature(o->features, VIO_BALLOON_F_STATS_VQ) ? 3 : 2;
	d->ops = &balloon_ops;
	d->priv = bd;
	d->log = o->log;
	d->log_opaque = o->log_opaque;
	for (unsigned i = 0; i < d->num_queues; i++)
		bd->queues[i].max_size = qsize;
	/* before vio_dev_init(), which resets the device through our ops */
	vio__lock_init(&bd->lock);
	r = vio_dev_init(d);
	if (r < 0)
		vio__lock_destroy(&bd->lock);
	return r;
}

void vio_balloon_dev_fini(struct vio_balloon_dev *bd)
{
	set_free(bd);
	vio__lock_destroy(&bd->lock);
}

int vio_balloon_dev_set_target(struct vio_balloon_dev *bd, uint64_t pages)
{
	if (pages > PFN_MAX)
		return -ERANGE;
	vio__lock(&bd->lock);
	bd->target = (uint32_t)pages;
	bd->config.num_pages = vio_cpu_to_le32(bd->target);
	vio_dev_config_changed(&bd->dev);
	vio__unlock(&bd->lock);
	return 0;
}

/* Getters: one locked read each, so any thread may call them. */
#define LOCKED_GET(bd, type, expr) ({ type v_; vio__lock(&(bd)->lock); v_ = (expr); \
				      vio__unlock(&(bd)->lock); v_; })

uint32_t vio_balloon_dev_target(struct vio_balloon_dev *bd)
{
	return LOCKED_GET(bd, uint32_t, bd->target);
}

uint32_t vio_balloon_dev_actual(struct vio_balloon_dev *bd)
{
	return LOCKED_GET(bd, uint32_t, bd->actual);
}

uint64_t vio_balloon_dev_pages(struct vio_balloon_dev *bd)
{
	return LOCKED_GET(bd, uint64_t, bd->pages);
}

uint64_t vio_balloon_dev_bytes(struct vio_balloon_dev *bd)
{
	return vio_balloon_pages_to_bytes(vio_balloon_dev_pages(bd));
}

bool vio_balloon_dev_has_page(struct vio_balloon_dev *bd, uint32_t pfn)
{
	uint64_t bit;

	return LOCKED_GET(bd, bool, bd->bitmap && page_bit(bd, pfn, &bit) && bit_test(bd, bit));
}

void vio_balloon_dev_counters(struct vio_balloon_dev *bd, struct vio_balloon_dev_counters *out)
{
	vio__lock(&bd->lock);
	*out = bd->counters;
	vio__unlock(&bd->lock);
}
