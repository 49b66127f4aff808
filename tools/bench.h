/*
 * bench.h - what the pieces of vio-bench share.
 *
 * vio-bench measures one queue between two pinned threads: a driver that
 * posts buffers and reaps them, a device that consumes them and hands them
 * back. The same harness (bench_harness.c: threads, pinning, timing,
 * watchdog, eventfds, a buffer pool) runs two subjects so that their
 * numbers can be divided: libvio's virtqueue (bench_vio.c) and a peer that
 * nobody here wrote (bench_rte.c: DPDK's rte_ring, or bench_nopeer.c when
 * DPDK is absent), and a second peer, the floor (bench_floor.c: a packed
 * ring that moves the same lines and checks nothing). The machine is
 * noisy, so the peers run in the same invocation, right next to the cell
 * they are compared with.
 */
#ifndef VIO_BENCH_H
#define VIO_BENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_MAX_SEGS 64u
/* Keep data one side writes often off the lines the other side writes:
 * 128 bytes covers adjacent-line prefetchers too. */
#define BENCH_LINE 128u

enum bench_mode {
	BENCH_POLL,     /* both sides spin; notifications are only counted */
	BENCH_EVENTFD,  /* notifications are eventfd writes; idle sides block */
};

struct bench_cfg {
	unsigned size;          /* queue entries */
	unsigned batch;         /* buffers per post and per flush, <= size/segs */
	unsigned segs;          /* readable segments per buffer */
	unsigned seg_bytes;     /* bytes per segment */
	bool event_idx;
	enum bench_mode mode;
	const char *layout;     /* "split", "packed" */
	uint64_t layout_features;
	bool in_order;          /* VIO_F_IN_ORDER: one used entry per batch */
	bool inflight;          /* the device side keeps an inflight log */
	double seconds;         /* run time when count == 0 */
	uint64_t count;         /* buffers to complete, or 0 */
	int cpu_driver, cpu_device;
};

struct bench_result {
	uint64_t bufs;          /* completed round trips */
	uint64_t ns;            /* driver's wall time from start to drained */
	uint64_t kicks, kicks_suppressed;    /* what the ring decided */
	uint64_t irqs, irqs_suppressed;
	uint64_t driver_sleeps, device_sleeps; /* blocking reads (eventfd mode) */
	uint64_t device_flushes;      /* batches the device handed back */
	unsigned sink;          /* sum of touched bytes, so the touch stays */
};

/*
 * Flags the threads of one run exchange. stop_req: the main thread asks
 * the driver to stop posting (timed runs). done: the driver has reaped
 * everything, the device may leave. Each on its own line so polling one
 * never steals the line the other side's loop writes.
 */
struct bench_sync {
	_Alignas(BENCH_LINE) atomic_bool stop_req;
	_Alignas(BENCH_LINE) atomic_bool done;
	_Alignas(BENCH_LINE) pthread_barrier_t start;
};

/* Fatal error: prints "vio-bench: ..." and exits 1. For threads that
 * cannot go on (a broken queue, a failed syscall). */
void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

uint64_t bench_now_ns(void);

/* Lets the sibling hyperthread (if any) run while we spin. */
static inline void bench_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

/*
 * Runs driver(arg) and device(arg) on cfg's two cpus, both pinned from
 * birth. Both must wait on sync->start first; the driver must poll
 * sync->stop_req, drain, then set sync->done (bench_finish does). In timed
 * runs this thread sleeps cfg->seconds after the start and then sets
 * stop_req. A run that does not finish in time (a lost wakeup, a stuck
 * ring) is fatal: it prints `what` and exits, since the threads cannot be
 * taken back.
 */
void bench_run_threads(const struct bench_cfg *cfg, struct bench_sync *sync,
		       void *(*driver)(void *), void *(*device)(void *), void *arg,
		       const char *what);

/* Driver side: tells the device to leave, waking it through `kick_fd` if
 * it may be asleep (>= 0). This wakeup is not a kick: it is not counted. */
void bench_finish(struct bench_sync *sync, int kick_fd);

/* eventfd(2) notification, and a blocking wait for one. */
int bench_efd_new(void);
void bench_efd_signal(int fd);
void bench_efd_wait(int fd);

/*
 * The driver's free buffers: a stack of indices, so a reaped buffer is
 * reposted while still warm in cache, as a driver's free list would.
 */
struct bench_pool {
	unsigned *idx;
	unsigned n;
};

int bench_pool_init(struct bench_pool *p, unsigned nbufs);
void bench_pool_fini(struct bench_pool *p);

static inline unsigned bench_pool_get(struct bench_pool *p)
{
	return p->idx[--p->n];
}

static inline void bench_pool_put(struct bench_pool *p, unsigned i)
{
	p->idx[p->n++] = i;
}

/* Buffers of nbufs * segs segments of seg_bytes each, every segment on its
 * own cache line(s), filled with a pattern and faulted in. */
struct bench_bufs {
	uint8_t *base;
	size_t stride;          /* bytes from one segment to the next */
	unsigned nbufs, segs;
};

size_t bench_bufs_bytes(const struct bench_cfg *cfg, unsigned nbufs);
void bench_bufs_init(struct bench_bufs *b, const struct bench_cfg *cfg, unsigned nbufs, void *mem);

static inline uint8_t *bench_seg(const struct bench_bufs *b, unsigned buf, unsigned seg)
{
	return b->base + ((size_t)buf * b->segs + seg) * b->stride;
}

/*
 * How busy the machine was during a stretch of time, apart from us: the
 * benchmark shares 2 cpus with whatever else runs, and a number taken
 * while something else ran says little. From /proc/stat (all cpus) and
 * getrusage (this process); coarse (clock ticks), fine over a second.
 */
struct bench_load {
	uint64_t busy_ticks, steal_ticks;  /* /proc/stat, all cpus */
	uint64_t own_ns, wall_ns;          /* this process; the clock */
};

void bench_load_start(struct bench_load *l);
/* Since start: cpus' worth of time used by other processes (and the
 * kernel for them), and stolen by the hypervisor. */
void bench_load_end(const struct bench_load *l, double *other_cpus, double *steal_cpus);

/* The subjects. Each fills *res for one cell; errors are fatal. */
void bench_vio_run(const struct bench_cfg *cfg, struct bench_result *res);

/*
 * Checks that the layout cfg names can build a queue here. Returns 0, or
 * a negative errno (-ENOTSUP: this libvio does not implement the layout).
 */
int bench_vio_probe(const struct bench_cfg *cfg);

/* The peer: its name and version, or NULL when none was built in. Runs
 * only in poll mode (it has no notifications). */
const char *bench_peer_name(void);
void bench_peer_run(const struct bench_cfg *cfg, struct bench_result *res);

/* The second peer, always built in: the floor model of a packed ring
 * (bench_floor.c). Poll mode only, like the first. */
const char *bench_floor_name(void);
void bench_floor_run(const struct bench_cfg *cfg, struct bench_result *res);

#endif /* VIO_BENCH_H */
