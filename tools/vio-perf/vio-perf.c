/*
 * vio-perf - a block I/O load generator for vhost-user-blk backends.
 *
 *   vio-perf --socket=/tmp/blk.sock --rw=randread --bs=4k --qd=32 --time=10
 *
 * Like fio, but the device is a vhost-user socket and there is no VM: the
 * load goes through libvio's vhost-user frontend (the driver side of the
 * transport) and libvio's virtio-blk driver, so any vhost-user-blk backend
 * (libvio's vhost-user-blk, qemu-storage-daemon, SPDK...) can be measured
 * and checked on its own. Options: opts.c; verify pattern: verify.c.
 * With --net it drives a vhost-user-net backend instead: net.c.
 *
 * Threads: each worker owns a set of queues and is the only thread that
 * touches them (the blk driver's per-queue calls make that safe). It keeps
 * qd requests in flight per queue, each slot with its own preallocated DMA
 * buffer, and waits on its queues' call eventfds with poll(2) (or, with
 * --poll, spins on the driver). Nothing is allocated per I/O. The main
 * thread watches the clock, prints progress, and watches the socket: a
 * backend that goes away or stops answering ends the run with exit 1
 * rather than a hang.
 *
 * Counting: kicks are the ring's own count of notifications actually sent
 * (struct vio_ring_stats); calls are what the backend signalled on the
 * call eventfds (the eventfd counter sums its writes).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vio/drivers.h"
#include "vio/transport.h"

#include "hist.h"
#include "net.h"
#include "opts.h"
#include "run.h"
#include "verify.h"

#define WAIT_MS         100     /* a worker's longest sleep: it rechecks abort */
#define STALL_MS        30000   /* no completion for this long: the backend hangs */
#define MAX_WORKERS     VIO_BLK_DRV_MAX_QUEUES

enum pass_kind { PASS_RUN, PASS_WRITE, PASS_MIX, PASS_READ };


struct worker;

/* One request slot: qd per queue, each with its own buffer. */
struct ioctx {
	struct wq *q;
	uint8_t *buf;
	uint64_t block;
	uint64_t t0;            /* ns, when posted */
	uint32_t type;
	uint32_t gen;           /* verify: generation written, or expected */
	bool prepared;          /* assigned, not yet posted (the ring was full) */
};

/* A queue and the slots its worker runs on it. */
struct wq {
	struct worker *w;
	unsigned qi;
	int call_fd;
	struct ioctx *ctx;
	struct ioctx **idle;    /* stack of slots not in flight */
	unsigned nidle;
	uint64_t rng;           /* xorshift64 state */
	uint64_t seq;           /* next block, sequential modes */
};

struct perf;

struct worker {
	pthread_t tid;
	struct perf *p;
	struct wq *qs[VIO_BLK_DRV_MAX_QUEUES];
	unsigned nq;
	struct hist hist;
	uint64_t ios, reads, writes, bytes, errors, verify_errors, calls;
	uint64_t t_last;        /* ns: the last completion */
	uint64_t now;           /* ns: the clock for this poll's completions, 0: unread */
	uint64_t pub_ios;       /* atomic: ios, for the main thread */
	int done;               /* atomic: the worker has finished its pass */
	bool started;
} __attribute__((aligned(64)));

struct perf {
	struct perf_opts o;
	struct vio_vu_frontend fe;
	struct vio_bus bus;
	struct vio_blk_driver drv;
	struct vio_drv_device *dev;
	bool fe_up, bus_up, drv_up;
	uint64_t dev_bytes;     /* the device's size: capacity * 512, checked */
	uint64_t nblocks;
	struct perm perm;
	uint8_t *gens;          /* mixed verify: generation each block holds */
	uint64_t seed;
	enum pass_kind pass;
	uint64_t next;          /* atomic: verify passes and --count: I/Os handed out */
	struct run run;         /* stop, abort, why it ended */
	int teardown;           /* completions are cancellations now: ignore them */
	unsigned nq, nworkers;
	struct wq wqs[VIO_BLK_DRV_MAX_QUEUES];
	struct worker workers[MAX_WORKERS];
	uint8_t *bufs[VIO_BLK_DRV_MAX_QUEUES];
	size_t buf_len;
	uint64_t kicks0;
};
/* ------------------------------------------------------------------------ */
/* Workers                                                                  */

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* The timed (or counted) workload: where and what the next request is. */
static bool next_run_io(struct perf *p, struct wq *q, struct ioctx *c)
{
	const enum rw_mode rw = p->o.rw;
	uint64_t r;

	if (p->o.count && __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED) >= p->o.count) {
		run_end(&p->run, END_OK);
		return false;
	}
	r = xorshift(&q->rng);
	if (rw_random(rw)) {
		c->block = (r >> 11) % p->nblocks;
	} else {
		c->block = q->seq;
		if (++q->seq == p->nblocks)
			q->seq = 0;
	}
	if (!rw_writes(rw))
		c->type = VIO_BLK_T_IN;
	else if (!rw_reads(rw))
		c->type = VIO_BLK_T_OUT;
	else
		c->type = (uint32_t)(r & 0xffffffffu) % 100 < p->o.rwmixread ? VIO_BLK_T_IN :
									   VIO_BLK_T_OUT;
	return true;
}

/* Verify passes: every block once, in the workload's order, shared out
 * among all queues. */
static bool next_verify_io(struct perf *p, struct ioctx *c)
{
	uint64_t i = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED);

	if (i >= p->nblocks)
		return false;
	c->block = rw_random(p->o.rw) ? perm_at(&p->perm, i) : i;
	c->gen = p->gens ? p->gens[c->block] : 0;
	switch (p->pass) {
	case PASS_WRITE:
		c->type = VIO_BLK_T_OUT;
		break;
	case PASS_READ:
		c->type = VIO_BLK_T_IN;
		break;
	default:
		/* Mixed: read and check it, or write it again one generation
		 * on. Each block is visited once per pass, so no other
		 * request touches it meanwhile. */
		c->type = mix64(p->seed ^ i) % 100 < p->o.rwmixread ? VIO_BLK_T_IN : VIO_BLK_T_OUT;
		if (c->type == VIO_BLK_T_OUT)
			p->gens[c->block] = (uint8_t)++c->gen;
		break;
	}
	if (c->type == VIO_BLK_T_OUT)
		verify_fill(c->buf, p->o.bs, c->block * p->o.bs, p->seed, c->gen);
	return true;
}

static bool next_io(struct perf *p, struct wq *q, struct ioctx *c)
{
	if (run_stopping(&p->run))
		return false;
	return p->pass == PASS_RUN ? next_run_io(p, q, c) : next_verify_io(p, c);
}

static void check_read(struct perf *p, struct worker *w, struct ioctx *c)
{
	struct verify_tag found;
	uint64_t bad;

	if (verify_check(c->buf, p->o.bs, c->block * p->o.bs, p->seed, c->gen, &bad, &found))
		return;
	w->verify_errors++;
	if (!run_may_report(&p->run))
		return;
	if (found.offset == UINT64_MAX)
		fprintf(stderr, "vio-perf: verify: block at byte %" PRIu64 ": sector at byte %"
			PRIu64 " has no pattern tag (never written, or overwritten)\n",
			c->block * p->o.bs, bad);
	else if (found.offset != bad || found.seed != p->seed || found.gen != c->gen)
		fprintf(stderr, "vio-perf: verify: block at byte %" PRIu64 ": sector at byte %"
			PRIu64 " holds the data of byte %" PRIu64 " seed %" PRIu64 " generation %"
			PRIu32 ", expected seed %" PRIu64 " generation %" PRIu32 "\n",
			c->block * p->o.bs, bad, found.offset, found.seed, found.gen, p->seed,
			c->gen);
	else
		fprintf(stderr, "vio-perf: verify: block at byte %" PRIu64 ": sector at byte %"
			PRIu64 " has the right tag but wrong data\n", c->block * p->o.bs, bad);
}

/* The clock, read once per poll of a worker's queues however many requests
 * complete in it (a read costs about as much as a whole request's trip
 * through the ring at millions of IOPS). */
static uint64_t poll_clock(struct worker *w)
{
	if (!w->now)
		w->now = run_now_ns();
	return w->now;
}

static void io_done(void *opaque, int err)
{
	struct ioctx *c = opaque;
	struct wq *q = c->q;
	struct worker *w = q->w;
	struct perf *p = w->p;
	const uint64_t now = poll_clock(w);

	q->idle[q->nidle++] = c;
	if (p->teardown)
		return;
	/* A completion outside a poll (none today) would see an older
	 * clock than its submission: count it as 0, not as 584 years. */
	hist_add(&w->hist, now > c->t0 ? now - c->t0 : 0);
	w->ios++;
	w->bytes += p->o.bs;
	w->t_last = now;
	if (err) {
		w->errors++;
		if (run_may_report(&p->run))
			fprintf(stderr, "vio-perf: %s of %" PRIu64 " bytes at byte %" PRIu64
				" failed: %s\n", c->type == VIO_BLK_T_IN ? "read" : "write",
				p->o.bs, c->block * p->o.bs, vio_strerror(err));
		return;
	}
	if (c->type == VIO_BLK_T_IN) {
		w->reads++;
		if (p->pass != PASS_RUN && p->pass != PASS_WRITE)
			check_read(p, w, c);
	} else {
		w->writes++;
	}
}

/* Posts requests on every idle slot while there is work, then kicks once.
 * The batch shares one submission time, read before its first request. */
static int refill(struct perf *p, struct wq *q)
{
	uint64_t t0 = 0;
	int r = 0;

	while (q->nidle) {
		struct ioctx *c = q->idle[q->nidle - 1];
		struct vio_blk_drv_io io;

		if (!c->prepared && !next_io(p, q, c))
			break;
		c->prepared = true;
		io = (struct vio_blk_drv_io){
			.type = c->type, .queue = q->qi, .sector = c->block * (p->o.bs / 512),
			.buf = c->buf, .len = p->o.bs, .done = io_done, .opaque = c,
		};
		if (!t0)
			t0 = run_now_ns();
		c->t0 = t0;
		r = vio_blk_drv_enqueue(p->dev, &io);
		if (r == -ENOSPC && vio_blk_drv_inflight_queue(p->dev, q->qi)) {
			/* Out of descriptors: the slot stays assigned and is
			 * posted when something completes. */
			r = 0;
			break;
		}
		if (r)
			break;
		c->prepared = false;
		q->nidle--;
	}
	vio_blk_drv_kick_queue(p->dev, q->qi);
	return r;
}
/* Sleeps until a queue of w's is signalled (or WAIT_MS). */
static void wait_calls(struct worker *w)
{
	struct pollfd pfd[VIO_BLK_DRV_MAX_QUEUES];

	for (unsigned i = 0; i < w->nq; i++)
		pfd[i] = (struct pollfd){ .fd = w->qs[i]->call_fd, .events = POLLIN };
	if (poll(pfd, w->nq, WAIT_MS) <= 0)
		return;
	for (unsigned i = 0; i < w->nq; i++)
		if (pfd[i].revents)
			w->calls += run_drain_fd(pfd[i].fd);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct perf *p = w->p;
	unsigned inflight, bad = 0;

	for (unsigned i = 0; i < w->nq; i++) {
		/* Polling: ask the backend not to signal at all, as a
		 * polled queue in a kernel does. */
		if (p->o.poll)
			vio_drvq_disable_cb(&p->dev->vqs[w->qs[i]->qi].q);
		bad = w->qs[i]->qi;
		if (refill(p, w->qs[i]))
			goto fail;
	}
	for (;;) {
		int reaped = 0;

		inflight = 0;
		for (unsigned i = 0; i < w->nq; i++) {
			struct wq *q = w->qs[i];
			int n;

			w->now = 0;
			n = vio_blk_drv_poll_queue(p->dev, q->qi);

			bad = q->qi;
			if (n < 0 || refill(p, q))
				goto fail;
			reaped += n;
			inflight += vio_blk_drv_inflight_queue(p->dev, q->qi);
		}
		__atomic_store_n(&w->pub_ios, w->ios, __ATOMIC_RELAXED);
		if (inflight == 0 || run_aborting(&p->run))
			break;
		if (!reaped && !p->o.poll)
			wait_calls(w);
		else if (!reaped)
			vio_ring_pause();
	}
	goto out;
fail:
	/* Unless the run is over anyway (a request refused after a
	 * disconnect), this is the backend breaking the ring protocol. */
	if (!run_aborting(&p->run) && run_may_report(&p->run)) {
		const char *why = vio_drvq_error(&p->dev->vqs[bad].q);

		fprintf(stderr, "\nvio-perf: queue %u: %s\n", bad,
			why ? why : "the driver refused a request");
	}
	run_end(&p->run, END_BROKEN);
out:
	for (unsigned i = 0; i < w->nq; i++)
		w->calls += run_drain_fd(w->qs[i]->call_fd);
	__atomic_store_n(&w->pub_ios, w->ios, __ATOMIC_RELAXED);
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* The main thread: passes, progress, the socket                            */

static uint64_t total_ios(struct perf *p)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < p->nworkers; i++)
		n += __atomic_load_n(&p->workers[i].pub_ios, __ATOMIC_RELAXED);
	return n;
}

static bool workers_done(struct perf *p)
{
	for (unsigned i = 0; i < p->nworkers; i++)
		if (!__atomic_load_n(&p->workers[i].done, __ATOMIC_ACQUIRE))
			return false;
	return true;
}
static void progress(struct perf *p, uint64_t t0, uint64_t *last_ios, uint64_t *last_t,
		     bool tty)
{
	const uint64_t now = run_now_ns(), ios = total_ios(p);
	const double dt = (double)(now - *last_t) / 1e9;
	const double iops = dt > 0 ? (double)(ios - *last_ios) / dt : 0;

	fprintf(stderr, "%s[%6.1fs] %10.0f IOPS %9.1f MB/s %12" PRIu64 " ios%s",
		tty ? "\r" : "", (double)(now - t0) / 1e9, iops, iops * (double)p->o.bs / 1e6, ios,
		tty ? "   " : "\n");
	*last_ios = ios;
	*last_t = now;
}

/* Watches the run until every worker is done. */
static void monitor(struct perf *p, uint64_t t0, bool timed)
{
	const bool show = !p->o.quiet;
	const bool tty = isatty(STDERR_FILENO);
	uint64_t last_ios = 0, last_t = t0, next_tick = t0 + 1000000000u;
	uint64_t stall_ios = 0, stall_t = t0;
	struct pollfd pfd[1 + VIO_BLK_DRV_MAX_QUEUES];
	unsigned n = 0;
	bool printed = false;

	pfd[n++] = (struct pollfd){ .fd = p->fe.sock, .events = POLLIN | POLLRDHUP };
	for (unsigned i = 0; i < p->nq; i++)
		pfd[n++] = (struct pollfd){ .fd = p->fe.queues[i].err_fd, .events = POLLIN };
	while (!workers_done(p)) {
		uint64_t now, ios;

		run_watch(&p->run, pfd, n, "finishing what is in flight (again to abandon it)");
		now = run_now_ns();
		if (timed && p->o.seconds > 0 && (double)(now - t0) >= p->o.seconds * 1e9)
			run_end(&p->run, END_OK);
		ios = total_ios(p);
		if (ios != stall_ios) {
			stall_ios = ios;
			stall_t = now;
		} else if (now - stall_t >= (uint64_t)STALL_MS * 1000000u &&
			   !run_aborting(&p->run)) {
			fprintf(stderr, "\nvio-perf: no request completed for %d s: the backend "
				"stopped answering\n", STALL_MS / 1000);
			run_end(&p->run, END_STALLED);
		}
		if (show && now >= next_tick) {
			progress(p, t0, &last_ios, &last_t, tty);
			printed = true;
			next_tick += 1000000000u;
		}
	}
	if (printed && tty)
		fputc('\n', stderr);
}

static const char *pass_name(enum pass_kind k)
{
	static const char *const names[] = { "run", "write", "mixed", "read-back" };

	return names[k];
}

/* Runs one pass on every worker; the time from its start to its last
 * completion. */
static double run_pass(struct perf *p, enum pass_kind kind)
{
	uint64_t t0, t_end;
	int r;

	p->pass = kind;
	p->next = 0;
	if (!p->o.quiet && kind != PASS_RUN)
		fprintf(stderr, "vio-perf: verify: %s pass over %" PRIu64 " blocks\n",
			pass_name(kind), p->nblocks);
	t0 = run_now_ns();
	for (unsigned i = 0; i < p->nworkers; i++) {
		struct worker *w = &p->workers[i];

		w->done = 0;
		w->t_last = t0;
		r = pthread_create(&w->tid, NULL, worker_main, w);
		if (r) {
			fprintf(stderr, "vio-perf: cannot start a thread: %s\n", strerror(r));
			run_end(&p->run, END_BROKEN);
			w->done = 1;
			continue;
		}
		w->started = true;
	}
	monitor(p, t0, kind == PASS_RUN);
	t_end = t0;
	for (unsigned i = 0; i < p->nworkers; i++) {
		struct worker *w = &p->workers[i];

		if (w->started)
			pthread_join(w->tid, NULL);
		w->started = false;
		if (w->t_last > t_end)
			t_end = w->t_last;
	}
	return (double)(t_end - t0) / 1e9;
}

/* ------------------------------------------------------------------------ */
/* Setup and teardown                                                       */
static unsigned pow2_at_least(uint64_t v)
{
	unsigned p = 1;

	while (p < v && p < 32768)
		p <<= 1;
	return p;
}

/* QEMU's own virtio devices stop at rings of 1024 (VIRTQUEUE_MAX_SIZE);
 * direct sizing stays within that. */
#define RING_DIRECT_MAX 1024u

/* The ring size for qd requests. Sized for direct chains (header, data
 * segments, status) where that stays within RING_DIRECT_MAX, even with
 * indirect tables: with IN_ORDER the driver posts a chain direct when it
 * fits, and a ring that holds them all keeps every request that way.
 * Otherwise one descriptor per request (an indirect table each); with
 * --no-indirect a request always needs its whole chain. */
static unsigned ring_size(const struct perf_opts *o)
{
	const uint64_t per = 2 + (o->bs + 65535) / 65536;
	unsigned s = pow2_at_least((uint64_t)o->qd * per);

	if (s > RING_DIRECT_MAX && !o->no_indirect)
		s = pow2_at_least(o->qd);
	return s < VIO_VU_FE_QUEUE_MAX ? VIO_VU_FE_QUEUE_MAX : s;
}

static int connect_backend(struct perf *p)
{
	const struct perf_opts *o = &p->o;
	const unsigned qsize = ring_size(o);
	struct vio_vu_frontend_config cfg = {
		.device_id = VIO_ID_BLOCK,
		.num_queues = 1,
		.queue_max = qsize,
		.log = run_fe_log,
	};
	/* Rings, request headers and indirect tables take about 1 KiB per
	 * ring entry; the data buffers qd * bs per queue. The options bound
	 * it (queues <= 16, qd <= 2^14, bs <= 2^30, qsize <= 2^15): at most
	 * about 2^48, no overflow in 64 bits. */
	const uint64_t mem = (uint64_t)o->queues * ((uint64_t)o->qd * o->bs + (uint64_t)qsize * 1024 +
						    65536) + (1u << 20);
	int r;

	if (mem > (UINT64_C(16) << 30) || mem > SIZE_MAX) {
		fprintf(stderr, "vio-perf: --qd=%u --bs=%" PRIu64 " --queues=%u needs %" PRIu64
			" MiB of shared memory: too much\n", o->qd, o->bs, o->queues, mem >> 20);
		return -ENOMEM;
	}
	cfg.memory_bytes = (size_t)mem;
	r = vio_vu_frontend_connect(&p->fe, o->socket, &cfg);
	if (r) {
		fprintf(stderr, "vio-perf: cannot connect to the vhost-user backend at %s: %s\n",
			o->socket, r == -ENOENT ? "no such socket" :
			r == -ECONNREFUSED ? "connection refused (nobody listening)" :
			vio_strerror(r));
		return r;
	}
	p->fe_up = true;
	if (getenv("VIO_DEBUG"))
		fprintf(stderr, "vio-perf: backend offers features %#" PRIx64 ", protocol features %#"
			PRIx64 ", %u queues\n", p->fe.offered, p->fe.protocol_features,
			p->fe.num_queues);
	if (o->ring == RING_PACKED && !(p->fe.offered & VIO_BIT(VIO_F_RING_PACKED))) {
		fprintf(stderr, "vio-perf: --ring=packed: the backend at %s does not offer "
			"VIRTIO_F_RING_PACKED (only the split ring)\n", o->socket);
		return -ENOTSUP;
	}
	return 0;
}

static int bind_driver(struct perf *p)
{
	const struct perf_opts *o = &p->o;
	struct vio_blk_drv_opts dopts = {
		.max_queues = o->queues,
		.queue_size = ring_size(o),
		.timeout_ms = 5000,
	};
	uint8_t status;
	int r;

	if (o->ring == RING_SPLIT)
		dopts.features_off |= VIO_BIT(VIO_F_RING_PACKED);
	if (o->no_event_idx)
		dopts.features_off |= VIO_BIT(VIO_F_EVENT_IDX);
	if (o->no_indirect)
		dopts.features_off |= VIO_BIT(VIO_F_INDIRECT_DESC);
	if (o->no_in_order)
		dopts.features_off |= VIO_BIT(VIO_F_IN_ORDER);
	vio_bus_init(&p->bus, run_bus_alloc, run_bus_free, NULL);
	p->bus.log = run_drv_log;
	r = vio_blk_drv_register(&p->bus, &p->drv, &dopts);
	if (r)
		return r;
	p->drv_up = true;
	p->dev = &p->fe.vdev;
	r = vio_bus_add_device(&p->bus, p->dev);
	if (r)
		return r;
	p->bus_up = true;
	status = vio_drv_get_status(p->dev);
	if (getenv("VIO_DEBUG"))
		fprintf(stderr, "vio-perf: negotiated features %#" PRIx64 ", status %#x\n",
			p->dev->features, status);
	if (!p->dev->driver && (status & VIO_STATUS_FAILED) && vio_vu_frontend_connected(&p->fe)) {
		/* Probe failed: what the device says about itself is
		 * something the driver cannot use (the line above says what). */
		fprintf(stderr, "vio-perf: the blk driver refused the device the backend at %s "
			"offers (see above); nothing was run\n", o->socket);
		return -EPROTO;
	}
	if (!p->dev->driver || !(status & VIO_STATUS_DRIVER_OK) ||
	    (status & (VIO_STATUS_NEEDS_RESET | VIO_STATUS_FAILED))) {
		fprintf(stderr, "vio-perf: the backend at %s did not accept the device setup "
			"(status %#x)%s\n", o->socket, status,
			vio_vu_frontend_connected(&p->fe) ? "" : ": it closed the connection");
		return -EPROTO;
	}
	return 0;
}

/* What the device must be for this run; a sentence and -EINVAL if not. */
static int check_device(struct perf *p)
{
	const struct perf_opts *o = &p->o;
	const uint64_t sectors = vio_blk_drv_capacity(p->dev);
	const unsigned nq = vio_blk_drv_num_queues(p->dev);
	const uint32_t blk_size = vio_blk_drv_block_size(p->dev);
	uint64_t bytes, region;

	/* The driver refuses such a device; a driver that did not would have
	 * every offset below wrap. */
	if (sectors > UINT64_MAX / 512) {
		fprintf(stderr, "vio-perf: the device's capacity of %" PRIu64 " sectors is "
			"refused: its size in bytes does not fit 64 bits\n", sectors);
		return -ERANGE;
	}
	bytes = sectors * 512;
	region = o->size ? o->size : bytes;
	p->dev_bytes = bytes;
	if (nq < o->queues) {
		fprintf(stderr, "vio-perf: --queues=%u: the backend has %u queue%s (multiqueue "
			"needs VIRTIO_BLK_F_MQ and num-queues on the backend)\n", o->queues, nq,
			nq == 1 ? "" : "s");
		return -EINVAL;
	}
	if (rw_writes(o->rw) || (o->verify && o->phase != PHASE_READ)) {
		if (vio_blk_drv_read_only(p->dev)) {
			fprintf(stderr, "vio-perf: the device is read-only (VIRTIO_BLK_F_RO): "
				"--rw=%s%s writes; use --rw=read or --rw=randread\n", rw_name(o->rw),
				o->verify ? " --verify" : "");
			return -EINVAL;
		}
	}
	if (o->size > bytes) {
		fprintf(stderr, "vio-perf: --size=%" PRIu64 " is larger than the device (%" PRIu64
			" bytes)\n", o->size, bytes);
		return -EINVAL;
	}
	if (region < o->bs) {
		fprintf(stderr, "vio-perf: the device%s (%" PRIu64 " bytes) is smaller than one "
			"block (--bs=%" PRIu64 ")\n", o->size ? " region" : "", region, o->bs);
		return -EINVAL;
	}
	if (o->bs > vio_blk_drv_max_transfer(p->dev)) {
		fprintf(stderr, "vio-perf: --bs=%" PRIu64 " is more than the device takes in one "
			"request (%zu bytes)\n", o->bs, vio_blk_drv_max_transfer(p->dev));
		return -EINVAL;
	}
	if (blk_size && o->bs % blk_size && !o->quiet)
		fprintf(stderr, "vio-perf: note: --bs=%" PRIu64 " is not a multiple of the "
			"device's block size (%u)\n", o->bs, blk_size);
	/* Every block's byte offset (block * bs) is below region <= bytes:
	 * no offset computed from a block number wraps. */
	p->nblocks = region / o->bs;
	p->nq = o->queues;
	return 0;
}

/* Slots, buffers and queue ownership: everything the run needs, up front. */
static int setup_queues(struct perf *p)
{
	const struct perf_opts *o = &p->o;

	p->nworkers = o->threads;
	/* qd * bs <= 2^44, checked against SIZE_MAX in connect_backend();
	 * checked again here, where it becomes a size_t. */
	if (__builtin_mul_overflow((size_t)o->qd, (size_t)o->bs, &p->buf_len)) {
		fprintf(stderr, "vio-perf: --qd=%u --bs=%" PRIu64 ": too much memory\n", o->qd,
			o->bs);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < p->nworkers; i++) {
		p->workers[i].p = p;
		hist_init(&p->workers[i].hist);
	}
	for (unsigned qi = 0; qi < p->nq; qi++) {
		struct wq *q = &p->wqs[qi];
		struct worker *w = &p->workers[qi % p->nworkers];

		q->qi = qi;
		q->w = w;
		w->qs[w->nq++] = q;
		q->call_fd = vio_vu_frontend_call_fd(&p->fe, qi);
		q->rng = mix64(p->seed + qi) | 1;
		/* nblocks * qi / nq, without the product */
		q->seq = p->nblocks / p->nq * qi + p->nblocks % p->nq * qi / p->nq;
		q->ctx = calloc(o->qd, sizeof(*q->ctx));
		q->idle = calloc(o->qd, sizeof(*q->idle));
		p->bufs[qi] = vio_blk_drv_alloc_buffer(p->dev, p->buf_len);
		if (!q->ctx || !q->idle || !p->bufs[qi]) {
			fprintf(stderr, "vio-perf: out of memory for %u requests of %" PRIu64
				" bytes\n", o->qd, o->bs);
			return -ENOMEM;
		}
		if (q->call_fd < 0) {
			fprintf(stderr, "vio-perf: queue %u has no call eventfd\n", qi);
			return -EIO;
		}
		for (unsigned i = 0; i < o->qd; i++) {
			struct ioctx *c = &q->ctx[i];

			c->q = q;
			c->buf = p->bufs[qi] + (size_t)i * o->bs;
			/* Writes of a timed run carry data that is not zeroes,
			 * so no backend can skip them as such. */
			verify_fill(c->buf, o->bs, (uint64_t)i * o->bs, p->seed, 0);
			q->idle[q->nidle++] = c;
		}
	}
	if (o->verify) {
		perm_init(&p->perm, p->nblocks, p->seed);
		if (rw_reads(o->rw) && rw_writes(o->rw) && o->phase == PHASE_ALL) {
			/* One byte per block: calloc takes a size_t. */
			p->gens = p->nblocks <= SIZE_MAX ? calloc((size_t)p->nblocks, 1) : NULL;
			if (!p->gens) {
				fprintf(stderr, "vio-perf: out of memory\n");
				return -ENOMEM;
			}
		}
	}
	return 0;
}

static void teardown(struct perf *p)
{
	p->teardown = 1;
	/* A backend that went away or hangs gets no goodbye: the reset below
	 * would wait for its replies. */
	if (p->fe_up && run_reason(&p->run) != END_OK && run_reason(&p->run) != END_INTERRUPTED)
		vio_vu_frontend_disconnect(&p->fe);
	if (p->bus_up)
		vio_bus_remove_device(&p->bus, p->dev);
	for (unsigned qi = 0; qi < p->nq; qi++) {
		if (p->bufs[qi])
			vio_drv_dma_free(&p->fe.vdev, p->bufs[qi], p->buf_len);
		free(p->wqs[qi].ctx);
		free(p->wqs[qi].idle);
	}
	if (p->drv_up)
		vio_blk_drv_unregister(&p->bus, &p->drv);
	if (p->fe_up)
		vio_vu_frontend_fini(&p->fe);
	free(p->gens);
}

/* ------------------------------------------------------------------------ */
/* Results                                                                  */

struct result {
	struct hist hist;
	uint64_t ios, reads, writes, bytes, errors, verify_errors, calls, kicks;
	double seconds;
};

static void collect(struct perf *p, struct result *res)
{
	hist_init(&res->hist);
	for (unsigned i = 0; i < p->nworkers; i++) {
		const struct worker *w = &p->workers[i];

		hist_merge(&res->hist, &w->hist);
		res->ios += w->ios;
		res->reads += w->reads;
		res->writes += w->writes;
		res->bytes += w->bytes;
		res->errors += w->errors;
		res->verify_errors += w->verify_errors;
		res->calls += w->calls;
	}
	for (unsigned qi = 0; qi < p->nq; qi++)
		res->kicks += p->dev->vqs[qi].q.stats.kicks;
	res->kicks -= p->kicks0;
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static void print_json(const struct perf *p, const struct result *r)
{
	const struct perf_opts *o = &p->o;
	const struct hist *h = &r->hist;

	printf("{\"rw\":\"%s\",\"bs\":%" PRIu64 ",\"qd\":%u,\"queues\":%u,\"threads\":%u,"
	       "\"ring\":\"%s\",\"event_idx\":%s,\"indirect\":%s,\"in_order\":%s,\"poll\":%s,"
	       "\"verify\":%s,"
	       "\"seconds\":%.3f,\"ios\":%" PRIu64 ",\"reads\":%" PRIu64 ",\"writes\":%" PRIu64
	       ",\"iops\":%.1f,\"mbps\":%.2f,"
	       "\"lat_us\":{\"mean\":%.2f,\"min\":%.2f,\"p50\":%.2f,\"p99\":%.2f,\"p99_9\":%.2f,"
	       "\"max\":%.2f},"
	       "\"kicks\":%" PRIu64 ",\"calls\":%" PRIu64 ",\"kicks_per_io\":%.4f,"
	       "\"calls_per_io\":%.4f,\"errors\":%" PRIu64 ",\"verify_errors\":%" PRIu64
	       ",\"status\":\"%s\"}\n",
	       rw_name(o->rw), o->bs, o->qd, p->nq, p->nworkers,
	       vio_drv_has_feature(p->dev, VIO_F_RING_PACKED) ? "packed" : "split",
	       vio_drv_has_feature(p->dev, VIO_F_EVENT_IDX) ? "true" : "false",
	       vio_drv_has_feature(p->dev, VIO_F_INDIRECT_DESC) ? "true" : "false",
	       vio_drv_has_feature(p->dev, VIO_F_IN_ORDER) ? "true" : "false",
	       o->poll ? "true" : "false", o->verify ? "true" : "false",
	       r->seconds, r->ios, r->reads, r->writes, run_per((double)r->ios, r->seconds),
	       run_per((double)r->bytes, r->seconds) / 1e6,
	       us(h->count ? h->sum / h->count : 0), us(h->count ? h->min : 0),
	       us(hist_quantile(h, 0.50)), us(hist_quantile(h, 0.99)),
	       us(hist_quantile(h, 0.999)), us(h->max),
	       r->kicks, r->calls, run_per((double)r->kicks, (double)r->ios),
	       run_per((double)r->calls, (double)r->ios), r->errors, r->verify_errors,
	       run_end_name(run_reason(&p->run)));
}

static void print_human(const struct perf *p, const struct result *r)
{
	const struct perf_opts *o = &p->o;
	const struct hist *h = &r->hist;

	printf("vio-perf %s: %s bs=%" PRIu64 " qd=%u queues=%u threads=%u ring=%s event_idx=%s "
	       "indirect=%s in_order=%s %s\n", o->socket, rw_name(o->rw), o->bs, o->qd, p->nq,
	       p->nworkers,
	       vio_drv_has_feature(p->dev, VIO_F_RING_PACKED) ? "packed" : "split",
	       vio_drv_has_feature(p->dev, VIO_F_EVENT_IDX) ? "on" : "off",
	       vio_drv_has_feature(p->dev, VIO_F_INDIRECT_DESC) ? "on" : "off",
	       vio_drv_has_feature(p->dev, VIO_F_IN_ORDER) ? "on" : "off",
	       o->poll ? "poll" : "notify");
	printf("  %" PRIu64 " I/Os in %.3f s: %.0f IOPS, %.1f MB/s (%" PRIu64 " reads, %" PRIu64
	       " writes)\n", r->ios, r->seconds, run_per((double)r->ios, r->seconds),
	       run_per((double)r->bytes, r->seconds) / 1e6, r->reads, r->writes);
	printf("  latency (us): p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (mean %.1f)\n",
	       us(hist_quantile(h, 0.50)), us(hist_quantile(h, 0.99)),
	       us(hist_quantile(h, 0.999)), us(h->max), us(h->count ? h->sum / h->count : 0));
	printf("  kicks per I/O %.3f, interrupts (calls) per I/O %.3f\n",
	       run_per((double)r->kicks, (double)r->ios), run_per((double)r->calls, (double)r->ios));
	if (o->verify)
		printf("  verify: %" PRIu64 " blocks of %" PRIu64 " bytes, %" PRIu64
		       " mismatches\n", p->nblocks, o->bs, r->verify_errors);
	if (r->errors)
		printf("  I/O errors: %" PRIu64 "\n", r->errors);
	if (run_reason(&p->run) != END_OK)
		printf("  ended early: %s\n", run_end_name(run_reason(&p->run)));
}

/* ------------------------------------------------------------------------ */

static void run(struct perf *p, struct result *res)
{
	static const enum pass_kind timed[] = { PASS_RUN };
	enum pass_kind passes[3];
	const enum pass_kind *list = timed;
	unsigned n = 1;

	if (p->o.verify) {
		n = 0;
		if (p->o.phase != PHASE_READ)
			passes[n++] = PASS_WRITE;
		if (p->gens)
			passes[n++] = PASS_MIX;
		if (p->o.phase != PHASE_WRITE)
			passes[n++] = PASS_READ;
		list = passes;
	}
	for (unsigned i = 0; i < n && !run_stopping(&p->run); i++)
		res->seconds += run_pass(p, list[i]);
}

int main(int argc, char **argv)
{
	static struct perf perf;
	struct perf *p = &perf;
	struct result res;
	int r;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--net"))
			return net_main(argc, argv);
	r = opts_parse(&p->o, argc, argv);
	if (r)
		return r > 0 ? 0 : 2;
	p->seed = p->o.seed_set ? p->o.seed : run_now_ns() ^ ((uint64_t)getpid() << 32);
	run_signals_install();

	r = connect_backend(p);
	if (r == 0)
		r = bind_driver(p);
	if (r == 0)
		r = check_device(p);
	if (r == 0)
		r = setup_queues(p);
	if (r) {
		teardown(p);
		return 2;
	}
	if (!p->o.quiet && !p->o.json)
		fprintf(stderr, "vio-perf: %s: %" PRIu64 " bytes, %u queue%s, %s ring; %s%s\n",
			p->o.socket, p->dev_bytes, vio_blk_drv_num_queues(p->dev),
			vio_blk_drv_num_queues(p->dev) == 1 ? "" : "s",
			vio_drv_has_feature(p->dev, VIO_F_RING_PACKED) ? "packed" : "split",
			rw_name(p->o.rw), p->o.verify ? " with verify" : "");
	for (unsigned qi = 0; qi < p->nq; qi++)
		p->kicks0 += p->dev->vqs[qi].q.stats.kicks;

	memset(&res, 0, sizeof(res));
	run(p, &res);
	collect(p, &res);
	if (p->o.json)
		print_json(p, &res);
	else
		print_human(p, &res);
	fflush(stdout);
	teardown(p);
	if (res.verify_errors)
		fprintf(stderr, "vio-perf: verify FAILED: %" PRIu64 " mismatching blocks\n",
			res.verify_errors);
	return res.errors || res.verify_errors || run_reason(&p->run) != END_OK ? 1 : 0;
}
