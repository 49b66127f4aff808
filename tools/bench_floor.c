/*
 * bench_floor.c - vio-bench's second peer: the floor model of a packed
 * virtqueue. It moves exactly the cache lines libvio's packed ring moves
 * in bench_vio.c and checks nothing, so libvio's packed ring divided by it
 * is what libvio's checks, bookkeeping and call structure cost.
 *
 * One ring of `size` 16-byte descriptors (addr, len, id, flags), on its
 * own page, shared by both threads:
 *
 *   driver: for each buffer of a batch, write addr, len and id into the
 *           next `segs` descriptors (NEXT on all but the last), then the
 *           head's flags (AVAIL = wrap counter, USED = its inverse) with a
 *           release store: one chain published at a time, as packed.c's
 *           add() does. Then reap: while the flags at the used position
 *           read (acquire) as used at our wrap counter, read id, put the
 *           buffer back in the pool, skip `segs` positions.
 *   device: up to a batch: acquire-load the flags at the avail position,
 *           read the chain's first address and last id, read the first
 *           byte of the buffer (the same touch as the libvio device),
 *           write the used form (id, len 0) over the chain's first
 *           descriptor, flags as plain stores except the batch's first,
 *           which is stored last with release: one publish per batch, as
 *           packed.c's flush() does.
 *
 * Addresses are host pointers (nothing is translated), there is no event
 * suppression, no shadow state but the pool and two positions with their
 * wrap counters, no counters but the ones the harness needs, and the id
 * is the buffer's index, so the driver needs no slot table. In poll mode
 * libvio reads nothing else either (its event structures are written
 * once, at kick_disable/disable_cb; kick_prepare and need_interrupt read
 * them per batch, which is part of what the ratio shows).
 *
 * Correctness, outside the timed loop or at one add per buffer: the
 * driver sums the ids it posts and the ids it reaps and dies if the sums
 * differ when drained; the device touches every buffer (sink) and both
 * sides stop only when every posted buffer came back.
 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define F_NEXT  1u
#define F_AVAIL (1u << 7)
#define F_USED  (1u << 15)
#define PAGE 4096u

struct floor_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};

_Static_assert(sizeof(struct floor_desc) == 16, "a packed descriptor is 16 bytes");

struct floor_bench {
	struct bench_sync sync;
	const struct bench_cfg *cfg;
	struct bench_result *res;
	struct floor_desc *ring;
	struct bench_bufs bufs;
	uint8_t *arena;
};

const char *bench_floor_name(void)
{
	return "floor: a packed ring that checks nothing (bench_floor.c)";
}

static inline uint16_t ld_acquire(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void st_release(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline void st_relaxed(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* pos += by, flipping the wrap counter past the end (sizes need not be
 * powers of two). */
static inline void step(unsigned *pos, bool *wrap, unsigned by, unsigned size)
{
	*pos += by;
	if (*pos >= size) {
		*pos -= size;
		*wrap = !*wrap;
	}
}

static void *floor_driver(void *arg)
{
	struct floor_bench *b = arg;
	const struct bench_cfg *cfg = b->cfg;
	const unsigned size = cfg->size, segs = cfg->segs, batch = cfg->batch;
	const uint32_t seg_bytes = cfg->seg_bytes;
	struct floor_desc *ring = b->ring;
	unsigned avail_pos = 0, used_pos = 0, out_descs = 0;
	bool avail_wrap = true, used_wrap = true, stopping = false;
	uint64_t posted = 0, reaped = 0, ids_out = 0, ids_in = 0, t0;
	struct bench_pool pool;

	if (bench_pool_init(&pool, b->bufs.nbufs))
		bench_die("out of memory");
	pthread_barrier_wait(&b->sync.start);

	t0 = bench_now_ns();
	for (;;) {
		bool progress = false;

		if (!stopping && size - out_descs >= batch * segs) {
			for (unsigned k = 0; k < batch; k++) {
				const unsigned i = bench_pool_get(&pool);
				const unsigned head = avail_pos;
				bool wrap = avail_wrap;

				for (unsigned s = 0; s < segs; s++) {
					struct floor_desc *d = &ring[avail_pos];

					d->addr = (uint64_t)(uintptr_t)bench_seg(&b->bufs, i, s);
					d->len = seg_bytes;
					d->id = (uint16_t)i;
					if (s > 0)
						st_relaxed(&d->flags, (uint16_t)((s + 1 < segs ? F_NEXT : 0) |
							   (wrap ? F_AVAIL : F_USED)));
					step(&avail_pos, &wrap, 1, size);
				}
				/* Pairs with the device's acquire of the head flags;
				 * avail_wrap is still the head's wrap counter (a
				 * batch may cross the end of the ring). */
				st_release(&ring[head].flags, (uint16_t)((segs > 1 ? F_NEXT : 0) |
					   (avail_wrap ? F_AVAIL : F_USED)));
				avail_wrap = wrap;
				ids_out += i;
			}
			out_descs += batch * segs;
			posted += batch;
			stopping = cfg->count && posted >= cfg->count;
			progress = true;
		}
		for (;;) {
			const uint16_t used = used_wrap ? F_AVAIL | F_USED : 0;
			const struct floor_desc *d = &ring[used_pos];
			unsigned i;

			/* Pairs with the release in the device's publish. */
			if ((ld_acquire(&d->flags) & (F_AVAIL | F_USED)) != used)
				break;
			i = d->id;
			ids_in += i;
			bench_pool_put(&pool, i);
			step(&used_pos, &used_wrap, segs, size);
			out_descs -= segs;
			reaped++;
			progress = true;
		}
		if (!stopping)
			stopping = atomic_load_explicit(&b->sync.stop_req, memory_order_relaxed);
		if (stopping && reaped == posted)
			break;
		if (!progress)
			bench_pause();
	}
	b->res->ns = bench_now_ns() - t0;
	b->res->bufs = reaped;
	if (ids_in != ids_out || pool.n != b->bufs.nbufs)
		bench_die("floor: ids posted and reaped differ (%llu, %llu) or buffers lost (%u of %u)",
			  (unsigned long long)ids_out, (unsigned long long)ids_in, pool.n,
			  b->bufs.nbufs);
	bench_pool_fini(&pool);
	bench_finish(&b->sync, -1);
	return NULL;
}

static void *floor_device(void *arg)
{
	struct floor_bench *b = arg;
	const struct bench_cfg *cfg = b->cfg;
	const unsigned size = cfg->size, segs = cfg->segs, batch = cfg->batch;
	struct floor_desc *ring = b->ring;
	unsigned pos = 0;
	bool wrap = true;
	uint64_t flushes = 0;
	unsigned sink = 0;

	pthread_barrier_wait(&b->sync.start);
	for (;;) {
		const unsigned first = pos;
		uint16_t first_flags = 0;
		unsigned n;

		for (n = 0; n < batch; n++) {
			struct floor_desc *d = &ring[pos];
			const uint16_t avail = wrap ? F_AVAIL : F_USED;
			const uint16_t used = wrap ? F_AVAIL | F_USED : 0;
			const uint8_t *buf;
			uint16_t id;

			/* Pairs with the driver's release of the head flags. */
			if ((ld_acquire(&d->flags) & (F_AVAIL | F_USED)) != avail)
				break;
			buf = (const uint8_t *)(uintptr_t)d->addr;
			id = ring[pos + segs - 1 < size ? pos + segs - 1 : pos + segs - 1 - size].id;
			sink += *buf;
			/* The used form over the chain's first descriptor. */
			d->id = id;
			d->len = 0;
			if (n == 0)
				first_flags = used;
			else
				st_relaxed(&d->flags, used);
			step(&pos, &wrap, segs, size);
		}
		if (n) {
			/* Publish the batch: its first flags last. Pairs with
			 * the driver's acquire in its reap loop. */
			st_release(&ring[first].flags, first_flags);
			flushes++;
			continue;
		}
		if (atomic_load_explicit(&b->sync.done, memory_order_acquire))
			break;
		bench_pause();
	}
	b->res->sink = sink;
	b->res->device_flushes = flushes;
	return NULL;
}

void bench_floor_run(const struct bench_cfg *cfg, struct bench_result *res)
{
	const unsigned nbufs = cfg->size / cfg->segs;
	const size_t ring_bytes = ((size_t)cfg->size * sizeof(struct floor_desc) + PAGE - 1) &
				  ~(size_t)(PAGE - 1);
	const size_t buf_bytes = (bench_bufs_bytes(cfg, nbufs) + PAGE - 1) & ~(size_t)(PAGE - 1);
	struct floor_bench *b = aligned_alloc(BENCH_LINE, sizeof(*b));

	if (!b || cfg->size > 65536 || nbufs == 0)
		bench_die("floor: cannot set up a ring of %u", cfg->size);
	memset(b, 0, sizeof(*b));
	memset(res, 0, sizeof(*res));
	b->cfg = cfg;
	b->res = res;
	/* Ring first, buffers after, each on its own pages: as bench_vio.c's
	 * arena lays out the descriptor ring and the buffers. */
	b->arena = aligned_alloc(PAGE, ring_bytes + buf_bytes);
	if (!b->arena)
		bench_die("out of memory");
	memset(b->arena, 0, ring_bytes);
	b->ring = (struct floor_desc *)b->arena;
	bench_bufs_init(&b->bufs, cfg, nbufs, b->arena + ring_bytes);

	bench_run_threads(cfg, &b->sync, floor_driver, floor_device, b, "floor");

	free(b->arena);
	free(b);
}
