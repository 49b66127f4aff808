/*
 * bench_rte.c - vio-bench's peer: DPDK's rte_ring, the usual fast way to
 * hand pointers from one core to another, doing the same job as the
 * virtqueue in bench_vio.c so the two can be divided.
 *
 * Two single-producer/single-consumer rings of `size` pointers: "avail"
 * (driver to device) and "used" (device to driver). The driver enqueues a
 * batch of buffer pointers when a whole batch fits in what is not
 * outstanding and dequeues everything used; the device dequeues up to a
 * batch, reads the first byte of each buffer and enqueues them back as one
 * burst. Same threads, pinning, buffers, pool and stop protocol as libvio.
 * There is no notification: the peer only runs in poll mode.
 *
 * The rings live in memory we allocate and set up with rte_ring_init():
 * no EAL, no hugepages, no rte_eal_init() (the ring code needs none of it;
 * the SP/SC enqueue/dequeue paths are inline functions on the ring alone).
 */
#include <rte_config.h>
#include <rte_ring.h>
#include <rte_version.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define RING_FLAGS (RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ)

struct rte_bench {
	struct bench_sync sync;
	const struct bench_cfg *cfg;
	struct bench_result *res;
	struct bench_bufs bufs;
	uint8_t *buf_mem;
	struct rte_ring *avail, *used;
};

const char *bench_peer_name(void)
{
	return "DPDK rte_ring " RTE_STR(RTE_VER_YEAR) "." RTE_STR(RTE_VER_MONTH) "."
	       RTE_STR(RTE_VER_MINOR) " (SP/SC burst, rte_ring_init on our memory, no EAL)";
}

/* A ring that holds exactly `size` pointers. EXACT_SZ rounds the slot
 * count up to the next power of two above size, so size the memory for
 * that. */
static struct rte_ring *ring_new(const char *name, unsigned size)
{
	ssize_t bytes = rte_ring_get_memsize(rte_align32pow2(size + 1));
	struct rte_ring *r;
	int e;

	if (bytes < 0)
		bench_die("rte_ring_get_memsize(%u): %s", size, strerror((int)-bytes));
	r = aligned_alloc(RTE_CACHE_LINE_SIZE, RTE_ALIGN_CEIL((size_t)bytes, RTE_CACHE_LINE_SIZE));
	if (!r)
		bench_die("out of memory");
	e = rte_ring_init(r, name, size, RING_FLAGS);
	if (e)
		bench_die("rte_ring_init(%s, %u): %s", name, size, strerror(-e));
	if (rte_ring_get_capacity(r) != size)
		bench_die("rte_ring %s holds %u, not %u", name, rte_ring_get_capacity(r), size);
	return r;
}

static unsigned buf_index(const struct rte_bench *b, const void *p)
{
	return (unsigned)(((const uint8_t *)p - b->bufs.base) / (b->bufs.stride * b->bufs.segs));
}

static void *rte_driver(void *arg)
{
	struct rte_bench *b = arg;
	const struct bench_cfg *cfg = b->cfg;
	const unsigned batch = cfg->batch, nbufs = b->bufs.nbufs;
	uint64_t posted = 0, reaped = 0, t0;
	struct bench_pool pool;
	bool stopping = false;
	void **objs;

	objs = malloc(sizeof(*objs) * nbufs);
	if (!objs || bench_pool_init(&pool, nbufs))
		bench_die("out of memory");
	pthread_barrier_wait(&b->sync.start);

	t0 = bench_now_ns();
	for (;;) {
		bool progress = false;
		unsigned n;

		if (!stopping && pool.n >= batch) {
			for (unsigned k = 0; k < batch; k++)
				objs[k] = bench_seg(&b->bufs, bench_pool_get(&pool), 0);
			if (rte_ring_sp_enqueue_bulk(b->avail, objs, batch, NULL) != batch)
				bench_die("rte_ring avail overflowed");
			posted += batch;
			stopping = cfg->count && posted >= cfg->count;
			progress = true;
		}
		/* Reap everything used, as the libvio driver does. */
		while ((n = rte_ring_sc_dequeue_burst(b->used, objs, nbufs, NULL)) != 0) {
			for (unsigned k = 0; k < n; k++)
				bench_pool_put(&pool, buf_index(b, objs[k]));
			reaped += n;
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
	free(objs);
	bench_pool_fini(&pool);
	bench_finish(&b->sync, -1);
	return NULL;
}

static void *rte_device(void *arg)
{
	struct rte_bench *b = arg;
	const unsigned batch = b->cfg->batch;
	uint64_t flushes = 0;
	unsigned sink = 0;
	void **objs;

	objs = malloc(sizeof(*objs) * batch);
	if (!objs)
		bench_die("out of memory");
	pthread_barrier_wait(&b->sync.start);
	for (;;) {
		unsigned n = rte_ring_sc_dequeue_burst(b->avail, objs, batch, NULL);

		if (n) {
			for (unsigned k = 0; k < n; k++)
				sink += *(const uint8_t *)objs[k];
			if (rte_ring_sp_enqueue_burst(b->used, objs, n, NULL) != n)
				bench_die("rte_ring used overflowed");
			flushes++;
			continue;
		}
		if (atomic_load_explicit(&b->sync.done, memory_order_acquire))
			break;
		bench_pause();
	}
	b->res->sink = sink;
	b->res->device_flushes = flushes;
	free(objs);
	return NULL;
}

void bench_peer_run(const struct bench_cfg *cfg, struct bench_result *res)
{
	const unsigned nbufs = cfg->size / cfg->segs;
	struct rte_bench *b = aligned_alloc(BENCH_LINE, sizeof(*b));

	if (!b)
		bench_die("out of memory");
	memset(b, 0, sizeof(*b));
	memset(res, 0, sizeof(*res));
	b->cfg = cfg;
	b->res = res;
	b->buf_mem = aligned_alloc(4096, (bench_bufs_bytes(cfg, nbufs) + 4095) & ~(size_t)4095);
	if (!b->buf_mem)
		bench_die("out of memory");
	bench_bufs_init(&b->bufs, cfg, nbufs, b->buf_mem);
	b->avail = ring_new("vb_avail", cfg->size);
	b->used = ring_new("vb_used", cfg->size);

	bench_run_threads(cfg, &b->sync, rte_driver, rte_device, b, "rte_ring");

	free(b->avail);
	free(b->used);
	free(b->buf_mem);
	free(b);
}
