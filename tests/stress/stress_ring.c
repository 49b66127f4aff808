/*
 * stress_ring.c - a driver thread and a device thread hammer one virtqueue.
 *
 * The unit tests check each ring call on its own. Only two threads racing
 * on one ring can show a missing barrier, a notification suppressed just
 * as the other side went to sleep (a lost wakeup), or an index that
 * misbehaves when the free-running 16-bit counters wrap. So:
 *
 *  - the driver posts random chains (1..16 segments, readable then
 *    writable; with INDIRECT_DESC some go through indirect tables and some
 *    not) whose readable bytes are a pattern derived from a sequence
 *    number; the device checks the chain's shape and bytes, writes a
 *    pattern of its own into a prefix of the writable spans and returns
 *    the chain with len = bytes written; the driver checks len and those
 *    bytes, and that every token comes back exactly once;
 *  - each side sleeps on a doorbell that the other side rings ONLY when
 *    the ring says so (kick_prepare / need_interrupt), and re-arms with the
 *    ring's own calls (pop going idle, kick_enable, enable_cb*). A lost
 *    wakeup in the ring therefore hangs a side, which a timeout turns into
 *    a failed case with a dump of the ring state;
 *  - the doorbells use relaxed atomics and a futex, which ThreadSanitizer
 *    does not count as synchronisation: every happens-before edge that
 *    covers the payloads must come from the ring's own acquire/release.
 *
 * The chain shape is a pure function of (case seed, sequence number), so
 * the device knows what the driver posted without a side channel: the
 * n-th chain popped must be the n-th chain added. The arena is one
 * region, so each descriptor maps to exactly one span.
 *
 * Output is TAP: one case per (layout, queue size, EVENT_IDX, INDIRECT),
 * and per layout one check that add() refuses a chain longer than the
 * queue (the limit the random shapes rely on). Knobs: --seconds N or VIO_STRESS_SECONDS (run each case N seconds),
 * VIO_STRESS_SCALE (multiply the default chain count; sanitizer builds
 * default to less), VIO_STRESS_SEED, VIO_STRESS_HANG_SECONDS (default 10).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#include "pair.h"
#include "layouts.h"

/* ------------------------------------------------------------------------ */
/* Parameters                                                               */

#define MAX_SEGS        16
#define MAX_SEG_LEN     128
#define INDIRECT_MAX    12      /* 13..16 segments go direct even with INDIRECT_DESC */
#define SEG_GAP_MAX     8
#define REQ_AREA        (MAX_SEGS * (MAX_SEG_LEN + SEG_GAP_MAX))
#define MAX_CHAIN_BYTES (MAX_SEGS * MAX_SEG_LEN)
#define DEV_BATCH       8
#define CANARY          0xc3
#define WRAP            65536u
/* Default chains per case: eight full wraps of the 16-bit indices, plus an
 * odd tail so a run does not end on a round index. */
#define DEFAULT_CHAINS  (8 * WRAP + 4321)
/* A waiter spins this long, then yields this often, then sleeps: spinning
 * keeps the ring hot on an idle machine, yielding lets the other side run
 * on a busy one. */
#define SPIN_LIMIT      200
#define YIELD_LIMIT     20

/* Sanitizer builds run fewer: four wraps per case under ASan, two under
 * TSan (about ten times slower here). */
#if defined(__SANITIZE_THREAD__)
#define SANITIZER_SCALE 0.25
#elif defined(__SANITIZE_ADDRESS__)
#define SANITIZER_SCALE 0.5
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SANITIZER_SCALE 0.25
#elif __has_feature(address_sanitizer)
#define SANITIZER_SCALE 0.5
#endif
#endif
#ifndef SANITIZER_SCALE
#define SANITIZER_SCALE 1.0
#endif

/* Ring layouts this suite runs over: their feature bits are OR-ed into
 * each case. */
/* The ring layouts: tests/lib/layouts.h. */

/* Small queues so the indices wrap often; 5 only where the layout allows
 * it (packed), to catch arithmetic that assumes a power of two. */
static const unsigned queue_sizes[] = { 4, 5, 16, 256 };

struct stress_case {
	const struct layout *layout;
	unsigned size;
	bool event_idx;
	bool indirect;
};

struct options {
	double seconds;        /* > 0: timed mode */
	double scale;
	uint64_t seed;
	double hang_seconds;
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64: good enough mixing for shapes and payload patterns. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

static uint64_t rnd(uint64_t *state)
{
	*state += UINT64_C(0x9e3779b97f4a7c15);
	return mix64(*state);
}

static unsigned rnd_below(uint64_t *state, unsigned n)
{
	return (unsigned)(rnd(state) % n);
}

static bool coin(uint64_t *state)
{
	return rnd(state) & 1;
}

/* The bytes of one payload: a stream keyed by what it belongs to. */
static void pattern(uint8_t *dst, size_t len, uint64_t key)
{
	uint64_t st = key;

	while (len) {
		uint64_t v = rnd(&st);
		size_t c = len < 8 ? len : 8;

		memcpy(dst, &v, c);
		dst += c;
		len -= c;
	}
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

/* ------------------------------------------------------------------------ */
/* Doorbells                                                                */

/*
 * One direction of notification, eventfd-like: ring() bumps a counter,
 * wait() returns once the counter differs from what the waiter last saw.
 * The counter is relaxed on purpose (see the top of the file). `sleeping`
 * lets ring() skip the futex syscall when nobody sleeps; the two seq_cst
 * fences make "store mine, load theirs" safe on both sides, and FUTEX_WAIT
 * re-checks the counter in the kernel.
 */
struct doorbell {
	uint32_t count;
	uint32_t sleeping;
	uint32_t seen;          /* waiter-private */
	uint64_t rung;          /* ringer-private statistics */
	uint64_t waits, slept;  /* waiter-private statistics */
};

static void futex_wake_all(uint32_t *addr)
{
#ifdef __linux__
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
#else
	(void)addr;
#endif
}

static void futex_wait_ms(uint32_t *addr, uint32_t val, long ms)
{
#ifdef __linux__
	struct timespec ts = { 0, ms * 1000000L };

	syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
#else
	struct timespec ts = { 0, 50000L };

	(void)addr;
	(void)val;
	(void)ms;
	nanosleep(&ts, NULL);
#endif
}

static void bell_ring(struct doorbell *b)
{
	b->rung++;
	__atomic_fetch_add(&b->count, 1, __ATOMIC_RELAXED);
	/* Pairs with the fence in bell_wait(): we store count then load
	 * sleeping, it stores sleeping then loads count. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&b->sleeping, __ATOMIC_RELAXED))
		futex_wake_all(&b->count);
}

/* Only used to wake a side for shutdown; not counted as a notification. */
static void bell_poke(struct doorbell *b)
{
	__atomic_fetch_add(&b->count, 1, __ATOMIC_RELAXED);
	futex_wake_all(&b->count);
}

/* ------------------------------------------------------------------------ */
/* One run of one case                                                      */

/* What the driver posted as chain number `seq`: both sides derive it. */
struct shape {
	unsigned nout, nin;
	uint32_t len[MAX_SEGS];
	uint32_t gap[MAX_SEGS];
	uint32_t out_bytes, in_bytes;
	uint32_t written;       /* bytes the device writes back */
	uint64_t out_key, in_key;
};

struct request {
	uint64_t seq;
	bool outstanding;
	size_t area;            /* offset of its bytes in the pair's buffer area */
	struct shape shape;
	struct vio_sg sg[MAX_SEGS];
};

struct run {
	const struct stress_case *sc;
	const struct options *opt;
	struct vt_pair pair;
	uint64_t seed;
	unsigned max_segs;
	uint64_t target;        /* chains to complete (count mode) */
	uint64_t post_until_ns; /* timed mode: stop posting after this */
	uint64_t hang_ns;

	struct doorbell kick;   /* driver -> device */
	struct doorbell irq;    /* device -> driver */

	/* Shared flags and counters (atomics). */
	int stop;               /* a side failed: both leave */
	int done;               /* the driver reaped everything */
	int exited;             /* threads that returned */
	uint64_t progress;      /* watched by the main thread */
	pthread_mutex_t fail_lock;
	bool failed;
	char why[768];

	/* Driver-private. */
	uint64_t drv_rng;
	struct request *req;
	unsigned *free_req;
	unsigned nfree_req;
	uint64_t posted, reaped;
	bool posting_over;

	/* Device-private. */
	uint64_t dev_rng;
	uint64_t popped, completed;
};

static bool stopped(struct run *r)
{
	return __atomic_load_n(&r->stop, __ATOMIC_RELAXED) != 0;
}

static void bump_progress(struct run *r)
{
	__atomic_fetch_add(&r->progress, 1, __ATOMIC_RELAXED);
}

__attribute__((format(printf, 2, 3)))
static void fail(struct run *r, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&r->fail_lock);
	if (!r->failed) {
		r->failed = true;
		va_start(ap, fmt);
		vsnprintf(r->why, sizeof(r->why), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&r->fail_lock);
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELAXED);
	bell_poke(&r->kick);
	bell_poke(&r->irq);
}

/*
 * Waits for the doorbell. Returns true when rung (or when the run is
 * stopping), false after hang_ns without a ring: the caller reports it.
 */
static bool bell_wait(struct run *r, struct doorbell *b)
{
	uint64_t deadline = 0;
	unsigned spins = 0;

	b->waits++;
	for (;;) {
		uint32_t c = __atomic_load_n(&b->count, __ATOMIC_RELAXED);

		if (c != b->seen) {
			b->seen = c;
			return true;
		}
		if (stopped(r))
			return true;
		if (spins < SPIN_LIMIT + YIELD_LIMIT) {
			if (spins++ < SPIN_LIMIT)
				cpu_relax();
			else
				sched_yield();
			continue;
		}
		if (!deadline) {
			deadline = now_ns() + r->hang_ns;
			b->slept++;
		}
		__atomic_store_n(&b->sleeping, 1, __ATOMIC_RELAXED);
		/* Pairs with the fence in bell_ring(). */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (__atomic_load_n(&b->count, __ATOMIC_RELAXED) == b->seen)
			futex_wait_ms(&b->count, b->seen, 20);
		__atomic_store_n(&b->sleeping, 0, __ATOMIC_RELAXED);
		if (now_ns() > deadline && __atomic_load_n(&b->count, __ATOMIC_RELAXED) == b->seen)
			return false;
	}
}

static void shape_of(const struct run *r, uint64_t seq, struct shape *s)
{
	uint64_t st = r->seed ^ mix64(seq + 1);
	unsigned n = 1 + rnd_below(&st, r->max_segs);

	s->nout = rnd_below(&st, n + 1);
	s->nin = n - s->nout;
	s->out_bytes = s->in_bytes = 0;
	for (unsigned k = 0; k < n; k++) {
		/* Mostly small segments, some up to the maximum. */
		s->len[k] = 1 + rnd_below(&st, (rnd(&st) & 3) ? 16 : MAX_SEG_LEN);
		s->gap[k] = rnd_below(&st, SEG_GAP_MAX);
		if (k < s->nout)
			s->out_bytes += s->len[k];
		else
			s->in_bytes += s->len[k];
	}
	switch (rnd_below(&st, 4)) {
	case 0:
		s->written = 0;
		break;
	case 1:
		s->written = s->in_bytes;
		break;
	default:
		s->written = rnd_below(&st, s->in_bytes + 1);
		break;
	}
	s->out_key = mix64(r->seed + 2 * seq);
	s->in_key = mix64(r->seed + 2 * seq + 1);
}

/* ------------------------------------------------------------------------ */
/* Driver thread                                                            */

static void notify_kick(void *opaque)
{
	struct run *r = opaque;

	bell_ring(&r->kick);
}

static bool may_post(struct run *r)
{
	if (r->posting_over)
		return false;
	if (r->opt->seconds > 0 ? now_ns() >= r->post_until_ns : r->posted >= r->target)
		r->posting_over = true;
	return !r->posting_over;
}

/* Posts chain number r->posted. 0, -ENOSPC (ring or request pool full), or
 * another error from add(). */
static int post_one(struct run *r)
{
	uint8_t bytes[MAX_CHAIN_BYTES];
	struct request *rq;
	struct shape *s;
	size_t off, done = 0;
	unsigned n, k;
	int e;

	if (r->nfree_req == 0)
		return -ENOSPC;
	rq = &r->req[r->free_req[r->nfree_req - 1]];
	s = &rq->shape;
	shape_of(r, r->posted, s);
	n = s->nout + s->nin;

	pattern(bytes, s->out_bytes, s->out_key);
	off = rq->area;
	for (k = 0; k < n; k++) {
		off += s->gap[k];
		rq->sg[k] = vt_sg(&r->pair, off, s->len[k]);
		if (k < s->nout) {
			memcpy(r->pair.buf + off, bytes + done, s->len[k]);
			done += s->len[k];
		} else {
			memset(r->pair.buf + off, CANARY, s->len[k]);
		}
		off += s->len[k];
	}

	e = vio_drvq_add(&r->pair.drv, rq->sg, s->nout, rq->sg + s->nout, s->nin, rq);
	if (e)
		return e;
	rq->seq = r->posted++;
	rq->outstanding = true;
	r->nfree_req--;
	return 0;
}

static bool check_used(struct run *r, void *token, uint32_t len)
{
	uint8_t got[MAX_CHAIN_BYTES], want[MAX_CHAIN_BYTES];
	struct request *rq = token;
	const struct shape *s;
	size_t idx, done = 0;

	idx = ((uintptr_t)token - (uintptr_t)r->req) / sizeof(*rq);
	if ((uintptr_t)token < (uintptr_t)r->req || idx >= r->sc->size || &r->req[idx] != rq) {
		fail(r, "get_buf returned a token %p that was never posted", token);
		return false;
	}
	if (!rq->outstanding) {
		fail(r, "get_buf returned the token of chain %" PRIu64 " a second time", rq->seq);
		return false;
	}
	s = &rq->shape;
	if (len != s->written) {
		fail(r, "chain %" PRIu64 ": get_buf len %u, the device wrote %u",
		     rq->seq, len, s->written);
		return false;
	}
	for (unsigned k = s->nout; k < s->nout + s->nin; k++) {
		memcpy(got + done, vt_hva(&r->pair, rq->sg[k].addr), rq->sg[k].len);
		done += rq->sg[k].len;
	}
	pattern(want, s->written, s->in_key);
	memset(want + s->written, CANARY, s->in_bytes - s->written);
	if (memcmp(got, want, s->in_bytes)) {
		fail(r, "chain %" PRIu64 ": writable bytes differ from what the device wrote",
		     rq->seq);
		return false;
	}
	rq->outstanding = false;
	r->free_req[r->nfree_req++] = idx;
	r->reaped++;
	bump_progress(r);
	return true;
}

static void driver_kick(struct run *r)
{
	/* Both routes end in the same suppression decision. */
	if (coin(&r->drv_rng))
		vio_drvq_kick(&r->pair.drv);
	else if (vio_drvq_kick_prepare(&r->pair.drv))
		bell_ring(&r->kick);
}

/* Re-arms interrupts and sleeps until one comes. False on a hang. */
static bool driver_sleep(struct run *r)
{
	struct vio_drvq *q = &r->pair.drv;
	bool armed;

	switch (rnd_below(&r->drv_rng, 3)) {
	case 0:
		armed = vio_drvq_enable_cb(q);
		break;
	case 1:
		armed = !vio_drvq_poll(q, vio_drvq_enable_cb_prepare(q));
		break;
	default:
		armed = vio_drvq_enable_cb_delayed(q);
		break;
	}
	if (!armed)
		return true;    /* used buffers already there: reap them */
	if (!bell_wait(r, &r->irq)) {
		fail(r, "driver: no interrupt for %.0f s with %" PRIu64
		     " chains outstanding (lost wakeup?)",
		     r->opt->hang_seconds, r->posted - r->reaped);
		return false;
	}
	/* As an interrupt handler would, sometimes poll with callbacks off. */
	if (coin(&r->drv_rng))
		vio_drvq_disable_cb(q);
	return true;
}

static void *driver_main(void *arg)
{
	struct run *r = arg;
	struct vio_drvq *q = &r->pair.drv;

	while (!stopped(r)) {
		unsigned added = 0, reaped = 0;
		void *token;
		uint32_t len;
		int e;

		if (may_post(r)) {
			unsigned batch = 1 + rnd_below(&r->drv_rng, r->sc->size);

			while (added < batch && may_post(r)) {
				e = post_one(r);
				if (e == -ENOSPC)
					break;
				if (e) {
					fail(r, "driver: add: %s (%s)", vio_strerror(e),
					     vio_drvq_error(q) ? vio_drvq_error(q) : "-");
					goto out;
				}
				added++;
			}
			if (added)
				driver_kick(r);
		}

		while ((e = vio_drvq_get_buf(q, &token, &len)) == 0) {
			if (!check_used(r, token, len))
				goto out;
			reaped++;
		}
		if (e != -EAGAIN) {
			fail(r, "driver: get_buf: %s (%s)", vio_strerror(e),
			     vio_drvq_error(q) ? vio_drvq_error(q) : "-");
			goto out;
		}

		if (r->reaped == r->posted) {
			if (!may_post(r))
				break;
			continue;
		}
		/* Outstanding chains: sleep when stuck, sometimes on purpose. */
		if ((added == 0 && reaped == 0) || rnd_below(&r->drv_rng, 8) == 0) {
			if (!driver_sleep(r))
				goto out;
		}
	}
out:
	__atomic_store_n(&r->done, 1, __ATOMIC_RELAXED);
	bell_poke(&r->kick);
	__atomic_fetch_add(&r->exited, 1, __ATOMIC_RELAXED);
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Device thread                                                            */

/* Checks popped chain number r->popped against its shape, reads and
 * verifies the readable bytes, writes the writable ones. */
static bool serve(struct run *r, const struct vio_elem *e, uint32_t *written)
{
	uint8_t got[MAX_CHAIN_BYTES], want[MAX_CHAIN_BYTES];
	uint64_t seq = r->popped++;
	struct shape s;
	unsigned k;

	shape_of(r, seq, &s);
	if (e->out_num != s.nout || e->in_num != s.nin ||
	    e->out_len != s.out_bytes || e->in_len != s.in_bytes) {
		fail(r, "device: chain %" PRIu64 " popped as %u+%u spans of %u+%u bytes, "
		     "posted as %u+%u of %u+%u", seq, e->out_num, e->in_num, e->out_len,
		     e->in_len, s.nout, s.nin, s.out_bytes, s.in_bytes);
		return false;
	}
	for (k = 0; k < s.nout + s.nin; k++) {
		const struct vio_iov *v = k < s.nout ? &e->out[k] : &e->in[k - s.nout];

		if (v->len != s.len[k]) {
			fail(r, "device: chain %" PRIu64 " segment %u has %zu bytes, posted %u",
			     seq, k, v->len, s.len[k]);
			return false;
		}
	}
	if (vio_iov_to_buf(e->out, e->out_num, 0, got, s.out_bytes) != s.out_bytes) {
		fail(r, "device: chain %" PRIu64 ": short read of the readable spans", seq);
		return false;
	}
	pattern(want, s.out_bytes, s.out_key);
	if (memcmp(got, want, s.out_bytes)) {
		fail(r, "device: chain %" PRIu64 ": readable bytes differ from the driver's",
		     seq);
		return false;
	}
	pattern(want, s.written, s.in_key);
	if (vio_iov_from_buf(e->in, e->in_num, 0, want, s.written) != s.written) {
		fail(r, "device: chain %" PRIu64 ": short write into the writable spans", seq);
		return false;
	}
	*written = s.written;
	return true;
}

static void device_interrupt(struct run *r)
{
	if (vio_devq_need_interrupt(&r->pair.dev))
		bell_ring(&r->irq);
}

/* Returns the popped chains in a random order, by push or fill+flush. */
static bool complete(struct run *r, struct vio_elem *el, const uint32_t *written, unsigned n)
{
	struct vio_devq *q = &r->pair.dev;
	unsigned order[DEV_BATCH], i;
	bool batched = coin(&r->dev_rng);
	int e;

	for (i = 0; i < n; i++)
		order[i] = i;
	for (i = n - 1; i > 0; i--) {
		unsigned j = rnd_below(&r->dev_rng, i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (i = 0; i < n; i++) {
		const struct vio_elem *x = &el[order[i]];

		e = batched ? vio_devq_fill(q, x, written[order[i]])
			    : vio_devq_push(q, x, written[order[i]]);
		if (e) {
			fail(r, "device: %s: %s (%s)", batched ? "fill" : "push", vio_strerror(e),
			     vio_devq_error(q) ? vio_devq_error(q) : "-");
			return false;
		}
		if (!batched && coin(&r->dev_rng))
			device_interrupt(r);
	}
	if (batched && (e = vio_devq_flush(q))) {
		fail(r, "device: flush: %s", vio_strerror(e));
		return false;
	}
	device_interrupt(r);
	r->completed += n;
	bump_progress(r);
	return true;
}

static void *device_main(void *arg)
{
	struct run *r = arg;
	struct vio_devq *q = &r->pair.dev;
	struct vio_iov iov[DEV_BATCH][2][MAX_SEGS];
	struct vio_elem el[DEV_BATCH];
	uint32_t written[DEV_BATCH];
	bool kicks_off = false;
	unsigned i;

	memset(el, 0, sizeof(el));
	for (i = 0; i < DEV_BATCH; i++) {
		el[i].out = iov[i][0];
		el[i].out_cap = MAX_SEGS;
		el[i].in = iov[i][1];
		el[i].in_cap = MAX_SEGS;
	}

	while (!stopped(r)) {
		unsigned want = 1 + rnd_below(&r->dev_rng, DEV_BATCH), n = 0;
		int e;

		/* Sometimes poll with kicks suppressed, as a busy device does. */
		if (!kicks_off && coin(&r->dev_rng)) {
			vio_devq_kick_disable(q);
			kicks_off = true;
		}
		while (n < want && (e = vio_devq_pop(q, &el[n])) != -EAGAIN) {
			if (e) {
				fail(r, "device: pop: %s (%s)", vio_strerror(e),
				     vio_devq_error(q) ? vio_devq_error(q) : "-");
				goto out;
			}
			if (!serve(r, &el[n], &written[n]))
				goto out;
			n++;
		}
		if (n) {
			if (!complete(r, el, written, n))
				goto out;
			continue;
		}
		/* Ring empty: re-arm kicks, then sleep unless work raced in. */
		if (kicks_off) {
			kicks_off = false;
			if (!vio_devq_kick_enable(q))
				continue;
		}
		if (__atomic_load_n(&r->done, __ATOMIC_RELAXED))
			break;
		if (!bell_wait(r, &r->kick)) {
			fail(r, "device: no kick for %.0f s with the ring empty after %" PRIu64
			     " chains (lost wakeup?)", r->opt->hang_seconds, r->popped);
			goto out;
		}
	}
out:
	__atomic_fetch_add(&r->exited, 1, __ATOMIC_RELAXED);
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Running a case                                                           */

static uint64_t case_features(const struct stress_case *sc)
{
	return sc->layout->features | VIO_BIT(VIO_F_VERSION_1) |
	       (sc->event_idx ? VIO_BIT(VIO_F_EVENT_IDX) : 0) |
	       (sc->indirect ? VIO_BIT(VIO_F_INDIRECT_DESC) : 0);
}

static void case_name(const struct stress_case *sc, char *buf, size_t len)
{
	snprintf(buf, len, "%s size=%u event_idx=%s indirect=%s", sc->layout->name, sc->size,
		 sc->event_idx ? "on" : "off", sc->indirect ? "on" : "off");
}

/* A 16-bit little-endian ring field at any address. */
static uint16_t le16_at(const void *at)
{
	vio_le16 v;

	memcpy(&v, at, sizeof(v));
	return vio_le16_to_cpu(v);
}

static void dump_state(struct run *r)
{
	const struct vt_pair *p = &r->pair;

	printf("#   driver: posted %" PRIu64 " reaped %" PRIu64 " num_free %u broken %d (%s)\n",
	       r->posted, r->reaped, vio_drvq_num_free(&p->drv), vio_drvq_is_broken(&p->drv),
	       vio_drvq_error(&p->drv) ? vio_drvq_error(&p->drv) : "-");
	printf("#   device: popped %" PRIu64 " completed %" PRIu64
	       " avail_base %u used_base %u stopped %d (%s)\n",
	       r->popped, r->completed, vio_devq_avail_base(&p->dev), vio_devq_used_base(&p->dev),
	       vio_devq_is_stopped(&p->dev),
	       vio_devq_error(&p->dev) ? vio_devq_error(&p->dev) : "-");
	printf("#   doorbells: kick rung %" PRIu64 " count %u seen %u; irq rung %" PRIu64
	       " count %u seen %u; device waited %" PRIu64 " times, driver %" PRIu64 "\n",
	       r->kick.rung, r->kick.count, r->kick.seen, r->irq.rung, r->irq.count,
	       r->irq.seen, r->kick.waits, r->irq.waits);
	if (!vio_has_feature(r->pair.features, VIO_F_RING_PACKED)) {
		/* split-specific: the shared suppression state. */
		printf("#   split ring: avail idx %u flags %#x used_event %u; "
		       "used idx %u flags %#x avail_event %u\n",
		       vio_le16_to_cpu(p->avail->idx), vio_le16_to_cpu(p->avail->flags),
		       vio_le16_to_cpu(p->avail->ring[p->size]),
		       vio_le16_to_cpu(p->used->idx), vio_le16_to_cpu(p->used->flags),
		       le16_at(&p->used->ring[p->size]));
	}
}

/* After both threads ended cleanly: nothing lost, nothing left behind. */
static void final_checks(struct run *r)
{
	struct vt_pair *p = &r->pair;
	void *token;
	uint32_t len;
	int e;

	if (r->failed)
		return;
	if (r->opt->seconds <= 0 && r->posted != r->target)
		fail(r, "posted %" PRIu64 " chains, wanted %" PRIu64, r->posted, r->target);
	else if (r->reaped != r->posted)
		fail(r, "reaped %" PRIu64 " of %" PRIu64 " chains", r->reaped, r->posted);
	else if (r->popped != r->posted || r->completed != r->posted)
		fail(r, "device popped %" PRIu64 " and completed %" PRIu64 " of %" PRIu64,
		     r->popped, r->completed, r->posted);
	else if (vio_drvq_num_free(&p->drv) != p->size)
		fail(r, "%u of %u descriptors free at the end", vio_drvq_num_free(&p->drv),
		     p->size);
	else if ((e = vio_drvq_get_buf(&p->drv, &token, &len)) != -EAGAIN)
		fail(r, "get_buf on the drained ring returned %d", e);
	else if (vio_devq_has_avail(&p->dev))
		fail(r, "the device still sees a chain available");
	else if (vio_drvq_is_broken(&p->drv) || vio_devq_is_stopped(&p->dev))
		fail(r, "a side ended broken");
}

static uint64_t case_chains(const struct options *o)
{
	uint64_t n = (uint64_t)(DEFAULT_CHAINS * o->scale);

	return n < 1000 ? 1000 : n;
}

static bool setup_run(struct run *r, const struct stress_case *sc, const struct options *o,
		      uint64_t seed)
{
	struct vt_pair_opts po;
	int e;

	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->fail_lock, NULL);
	r->sc = sc;
	r->opt = o;
	r->seed = seed;
	r->drv_rng = mix64(seed ^ 0x1111);
	r->dev_rng = mix64(seed ^ 0x2222);
	r->hang_ns = (uint64_t)(o->hang_seconds * 1e9);
	r->target = case_chains(o);
	/* A chain may not be longer than the queue, indirect or not
	 * (virtio 1.x 2.7.5.3.1; check_long_chain_refused() tests it). */
	r->max_segs = sc->size < MAX_SEGS ? sc->size : MAX_SEGS;

	memset(&po, 0, sizeof(po));
	/* Tables even without INDIRECT_DESC: the driver must not use them then. */
	po.indirect_max = INDIRECT_MAX;
	po.buf_bytes = (size_t)sc->size * REQ_AREA;
	po.notify = notify_kick;
	po.opaque = r;
	e = vt_pair_init(&r->pair, sc->size, case_features(sc), &po);
	if (e) {
		fail(r, "vt_pair_init: %s", vio_strerror(e));
		return false;
	}
	r->req = calloc(sc->size, sizeof(*r->req));
	r->free_req = calloc(sc->size, sizeof(*r->free_req));
	if (!r->req || !r->free_req) {
		fail(r, "out of memory");
		return false;
	}
	for (unsigned i = 0; i < sc->size; i++) {
		r->req[i].area = (size_t)i * REQ_AREA;
		r->free_req[i] = sc->size - 1 - i;
	}
	r->nfree_req = sc->size;
	return true;
}

static void teardown_run(struct run *r)
{
	vt_pair_fini(&r->pair);
	free(r->req);
	free(r->free_req);
	pthread_mutex_destroy(&r->fail_lock);
}

/* Waits for both threads; if they stop making progress and do not leave
 * on their own (stuck outside a doorbell wait), gives up on the process. */
static void watch(struct run *r, const char *name)
{
	uint64_t last = 0, last_change = now_ns();
	uint64_t grace = r->hang_ns + UINT64_C(10000000000);
	struct timespec tick = { 0, 50 * 1000000L };

	while (__atomic_load_n(&r->exited, __ATOMIC_RELAXED) < 2) {
		uint64_t p = __atomic_load_n(&r->progress, __ATOMIC_RELAXED);

		nanosleep(&tick, NULL);
		if (p != last) {
			last = p;
			last_change = now_ns();
		} else if (now_ns() - last_change > grace) {
			printf("not ok - %s: threads stuck for %.0f s\n", name, grace / 1e9);
			printf("Bail out! stress_ring hung\n");
			fflush(stdout);
			_exit(1);
		}
	}
}

static bool run_case(unsigned num, const struct stress_case *sc, const struct options *o)
{
	uint64_t seed = mix64(o->seed + num);
	struct run *r = malloc(sizeof(*r));
	pthread_t drv, dev;
	char name[128];
	uint64_t t0, t1;
	bool ok;

	case_name(sc, name, sizeof(name));
	if (!r) {
		printf("not ok %u - %s: out of memory\n", num, name);
		return false;
	}
	if (setup_run(r, sc, o, seed)) {
		t0 = now_ns();
		r->post_until_ns = t0 + (uint64_t)(o->seconds * 1e9);
		if (pthread_create(&dev, NULL, device_main, r) ||
		    pthread_create(&drv, NULL, driver_main, r)) {
			printf("Bail out! pthread_create failed\n");
			exit(1);
		}
		watch(r, name);
		pthread_join(drv, NULL);
		pthread_join(dev, NULL);
		t1 = now_ns();
		final_checks(r);
		printf("# %s: seed %#" PRIx64 ", %" PRIu64 " chains (%.1f x 2^16) in %.2f s\n",
		       name, seed, r->reaped, (double)r->reaped / WRAP, (t1 - t0) / 1e9);
		printf("#   kicks %" PRIu64 " (suppressed %" PRIu64 "), interrupts %" PRIu64
		       " (suppressed %" PRIu64 "), device slept %" PRIu64 ", driver slept %" PRIu64
		       "\n", r->pair.drv.stats.kicks, r->pair.drv.stats.kicks_suppressed,
		       r->pair.dev.stats.interrupts, r->pair.dev.stats.interrupts_suppressed,
		       r->kick.slept, r->irq.slept);
	}
	ok = !r->failed;
	if (!ok) {
		printf("# %s: FAILED: %s\n", name, r->why);
		dump_state(r);
	}
	printf("%s %u - %s\n", ok ? "ok" : "not ok", num, name);
	fflush(stdout);
	teardown_run(r);
	free(r);
	return ok;
}

/*
 * Not a stress case, but the rule the chain shapes above obey: a driver
 * MUST NOT create a descriptor chain longer than the queue size, and the
 * entries of an indirect table count (virtio 1.x 2.7.5.3.1). libvio's
 * device side stops the queue on such a table ("indirect table longer
 * than the queue"), so add() must refuse it up front with -EINVAL, as it
 * refuses a direct chain that could never fit.
 */
static bool check_long_chain_refused(unsigned num, const struct layout *l)
{
	const unsigned size = 4, n = size + 1; /* n <= INDIRECT_MAX: add() may go indirect */
	const uint64_t features = l->features | VIO_BIT(VIO_F_VERSION_1) |
				  VIO_BIT(VIO_F_INDIRECT_DESC);
	struct vt_pair_opts po = { .indirect_max = INDIRECT_MAX };
	struct vio_iov iov[2][MAX_SEGS];
	struct vio_elem el = { .out = iov[0], .out_cap = MAX_SEGS,
			       .in = iov[1], .in_cap = MAX_SEGS };
	struct vio_sg sg[MAX_SEGS];
	struct vt_pair p;
	bool ok;
	int e;

	e = vt_pair_init(&p, size, features, &po);
	if (e) {
		printf("# vt_pair_init: %s\n", vio_strerror(e));
		ok = false;
	} else {
		for (unsigned k = 0; k < n; k++)
			sg[k] = vt_sg(&p, k * 64, 64);
		e = vio_drvq_add(&p.drv, sg, 1, sg + 1, n - 1, &p);
		ok = e == -EINVAL;
		if (!ok) {
			printf("# add of a %u-segment chain on a %u-entry queue returned %d, "
			       "want %d\n", n, size, e, -EINVAL);
			if (e == 0) {
				e = vio_devq_pop(&p.dev, &el);
				printf("# and the device's pop of it returned %d (%s)\n", e,
				       vio_devq_error(&p.dev) ? vio_devq_error(&p.dev) : "-");
			}
		}
	}
	vt_pair_fini(&p);
	printf("%s %u - %s add refuses an indirect chain longer than the queue\n",
	       ok ? "ok" : "not ok", num, l->name);
	fflush(stdout);
	return ok;
}

/* ------------------------------------------------------------------------ */
/* Command line                                                             */

static double env_double(const char *name, double def)
{
	const char *v = getenv(name);
	char *end;
	double d;

	if (!v || !*v)
		return def;
	d = strtod(v, &end);
	if (*end || d < 0) {
		fprintf(stderr, "stress_ring: bad %s=%s\n", name, v);
		exit(2);
	}
	return d;
}

static void parse_options(int argc, char **argv, struct options *o)
{
	const char *seed = getenv("VIO_STRESS_SEED");

	o->seconds = env_double("VIO_STRESS_SECONDS", 0);
	o->scale = env_double("VIO_STRESS_SCALE", SANITIZER_SCALE);
	o->hang_seconds = env_double("VIO_STRESS_HANG_SECONDS", 10);
	o->seed = seed && *seed ? strtoull(seed, NULL, 0) : UINT64_C(0x5eed0f11e);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			char *end;

			o->seconds = strtod(argv[++i], &end);
			if (*end || o->seconds <= 0) {
				fprintf(stderr, "stress_ring: bad --seconds %s\n", argv[i]);
				exit(2);
			}
		} else {
			fprintf(stderr, "usage: %s [--seconds N]\n"
				"env: VIO_STRESS_SECONDS, VIO_STRESS_SCALE, VIO_STRESS_SEED, "
				"VIO_STRESS_HANG_SECONDS\n", argv[0]);
			exit(2);
		}
	}
	if (o->hang_seconds <= 0)
		o->hang_seconds = 10;
}

static bool size_valid(const struct layout *l, unsigned size)
{
	return vio_ring_size_valid(l->features, size);
}

int main(int argc, char **argv)
{
	const size_t nlayouts = sizeof(layouts) / sizeof(layouts[0]);
	const size_t nsizes = sizeof(queue_sizes) / sizeof(queue_sizes[0]);
	struct options o;
	unsigned num = 0, failed = 0, total = 0;

	parse_options(argc, argv, &o);
	for (size_t l = 0; l < nlayouts; l++) {
		for (size_t s = 0; s < nsizes; s++)
			total += size_valid(&layouts[l], queue_sizes[s]) ? 4 : 0;
		total++;
	}
	printf("1..%u\n", total);
	if (o.seconds > 0)
		printf("# each case runs %.1f s\n", o.seconds);
	else
		printf("# %" PRIu64 " chains per case (scale %.2f)\n", case_chains(&o), o.scale);
	for (size_t l = 0; l < nlayouts; l++) {
		for (size_t s = 0; s < nsizes; s++) {
			if (!size_valid(&layouts[l], queue_sizes[s]))
				continue;
			for (unsigned v = 0; v < 4; v++) {
				struct stress_case sc = {
					.layout = &layouts[l],
					.size = queue_sizes[s],
					.event_idx = v & 1,
					.indirect = v & 2,
				};

				if (!run_case(++num, &sc, &o))
					failed++;
			}
		}
		if (!check_long_chain_refused(++num, &layouts[l]))
			failed++;
	}
	return failed ? 1 : 0;
}
