/*
 * net.c - vio-perf --net: a frame load generator for vhost-user-net
 * backends that send every frame back (libvio's vhost-user-net --reflect,
 * DPDK's vhost PMD in testpmd with io or macswap forwarding).
 *
 *   vio-perf --net --socket=/tmp/net.sock --frame-size=64 --time=10 [--verify]
 *
 * The load goes through libvio's vhost-user frontend and libvio's virtio-net
 * driver (src/drivers/net.c), as the blk mode's goes through the blk driver.
 * One thread per queue pair sends frames in bursts (vio_net_drv_tx_burst)
 * and takes back what the peer returns (vio_net_drv_rx_burst), with at most
 * --window frames out at a time (like the blk mode's --qd), optionally paced
 * to --rate million frames per second. Nothing is allocated per frame: the
 * frames are built in place in a per-thread burst area, and received frames
 * are copied by the driver into another.
 *
 * Each frame: Ethernet header (to a fixed locally administered address,
 * from the device's MAC, ethertype 0x88b5), then at byte 14 a magic, the
 * pair, and a 64-bit sequence number; with --verify the rest of the frame
 * is a pseudo-random stream derived from (seed, pair, sequence) and every
 * frame that comes back is checked byte for byte from byte 12 on (a
 * reflecting peer may swap the addresses). Received frames are matched
 * against a bitmap of the frames in flight per pair:
 *   received   came back intact, exactly once
 *   corrupt    came back wrong (length, header, or --verify payload)
 *   duplicate  a second copy of a frame already received
 *   reordered  came back after a frame sent later than it
 *   lost       sent, never back: sent - received - corrupt, after a drain
 *              of up to DRAIN_MS at the end
 * A frame the peer drops would hold its place in the window for ever: when
 * the window is full and nothing came back for LOSS_MS, the frames out are
 * given up on (the window reopens; a late one still counts as received).
 *
 * Notifications: kicks are the ring's own count of kicks sent on the
 * pair's receive and transmit queues (struct vio_ring_stats), calls what
 * the backend signalled on their call eventfds; both per frame received.
 * By default the threads busy-poll with the backend's interrupts
 * suppressed (disable_cb); --notify sleeps on the call eventfds instead.
 *
 * The main thread prints the progress line, watches the clock and the
 * socket: a backend that goes away ends the run with exit 1, not a hang.
 */
#include <errno.h>
#include <getopt.h>
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

#include "net.h"
#include "run.h"
#include "verify.h"

#define NET_MAGIC       0x7650u         /* "vP" at byte 14: a counted frame */
#define PROBE_MAGIC     0x7651u         /* a probe: is the path up yet? */
#define PROBE_MS        10              /* a probe this often ... */
#define PROBE_WAIT_MS   5000            /* ... until one is back, or this */
#define ETHERTYPE_LO    0x88b5u         /* IEEE local experimental */
#define PAYLOAD_AT      26u             /* magic 2, pair 2, seq 8 from byte 14 */
#define MIN_FRAME       60u             /* Ethernet's minimum without FCS */
#define MAX_FRAME       1518u
#define SEEN_BITS       65536u          /* per pair: frames tracked for matching */
/* Window full and nothing back for this long: those frames are given up
 * on. Long enough that a peer preempted on a busy machine is not taken
 * for a lossy one (the frames then sent would overrun its rings). */
#define LOSS_MS         1000
#define DRAIN_MS        500             /* the end: wait this long for stragglers */
#define STALL_MS        10000           /* nothing at all back: the backend hangs */
#define WAIT_MS         50
/* The vhost-user protocol feature for config space (the spec's bit 9). */
#define PROTO_F_CONFIG  9


struct net_opts {
	const char *socket;
	unsigned frame_size, pairs, window, burst, queue_size;
	double rate;                    /* Mpps for all pairs together; 0: unpaced */
	double seconds;
	bool packed, verify, notify, json, quiet, no_event_idx, no_in_order;
	uint64_t seed;
	bool seed_set;
};

struct nperf;

/* One queue pair and the thread that owns it. */
struct npair {
	pthread_t tid;
	struct nperf *p;
	unsigned pair;
	bool started;
	int call_fd[2];                 /* receive, transmit */
	uint8_t *txa, *rxa;             /* burst frames to send, burst frames received */
	struct vio_net_drv_frame *txf, *rxf;
	uint64_t *seen;                 /* SEEN_BITS: sequence numbers in flight */
	uint64_t sent, received, corrupt, duplicate, reordered, calls;
	uint64_t highest;               /* 1 + the highest sequence received */
	uint64_t base;                  /* window: frames before this are not waited for */
	uint64_t t_last;                /* ns: the last frame received */
	uint64_t pub_sent, pub_received; /* atomic: for the main thread */
	int done;                       /* atomic */
} __attribute__((aligned(64)));

struct nperf {
	struct net_opts o;
	struct vio_vu_frontend fe;
	struct vio_bus bus;
	struct vio_net_driver drv;
	struct vio_drv_device *dev;
	bool fe_up, bus_up, drv_up;
	uint8_t mac[6];
	uint64_t t0;                    /* atomic: set when every pair is ready */
	unsigned ready;                 /* atomic: pairs whose path is up */
	struct run run;                 /* stop, abort, why it ended */
	uint64_t kicks0;
	struct npair pairs[VIO_NET_DRV_MAX_PAIRS];
};

static const uint8_t peer_mac[6] = { 0x02, 0x76, 0x69, 0x6f, 0x00, 0x01 };

/* ------------------------------------------------------------------------ */
/* Frames                                                                   */

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

/* The payload stream of frame (pair, seq) from PAYLOAD_AT on: 8 bytes a
 * step. */
static uint64_t stream_key(const struct nperf *p, unsigned pair, uint64_t seq)
{
	return mix64(p->o.seed ^ ((uint64_t)pair << 56) ^ seq);
}

static void fill_payload(uint8_t *f, unsigned len, uint64_t key)
{
	for (unsigned k = PAYLOAD_AT; k < len; k += 8) {
		uint64_t v = mix64(key + k);
		unsigned n = len - k < 8 ? len - k : 8;

		memcpy(f + k, &v, n);
	}
}

static bool check_payload(const uint8_t *f, unsigned len, uint64_t key)
{
	for (unsigned k = PAYLOAD_AT; k < len; k += 8) {
		uint64_t v = mix64(key + k);
		unsigned n = len - k < 8 ? len - k : 8;

		if (memcmp(f + k, &v, n))
			return false;
	}
	return true;
}

/* The parts of a frame that do not change: addresses, type, magic, pair;
 * without --verify also the payload (a fixed non-zero stream). */
static void frame_template(const struct nperf *p, uint8_t *f, unsigned pair)
{
	const unsigned len = p->o.frame_size;

	memcpy(f, peer_mac, 6);
	memcpy(f + 6, p->mac, 6);
	put16(f + 12, ETHERTYPE_LO);
	put16(f + 14, NET_MAGIC);
	put16(f + 16, (uint16_t)pair);
	fill_payload(f, len, stream_key(p, pair, UINT64_MAX));
}

/* ------------------------------------------------------------------------ */
/* The pair threads                                                         */

static bool seen_test_clear(uint64_t *seen, uint64_t seq)
{
	const uint64_t bit = UINT64_C(1) << (seq % 64);
	uint64_t *w = &seen[(seq % SEEN_BITS) / 64];
	bool was = *w & bit;

	*w &= ~bit;
	return was;
}

static void seen_set(uint64_t *seen, uint64_t seq)
{
	seen[(seq % SEEN_BITS) / 64] |= UINT64_C(1) << (seq % 64);
}

static void report_corrupt(struct nperf *p, const struct npair *q, const char *what,
			   uint64_t seq)
{
	if (!run_may_report(&p->run))
		return;
	if (seq == UINT64_MAX)
		fprintf(stderr, "\nvio-perf: pair %u: a frame came back %s\n", q->pair, what);
	else
		fprintf(stderr, "\nvio-perf: pair %u: frame %" PRIu64 " came back %s\n", q->pair,
			seq, what);
}

/* One frame back from the peer. */
static void take_frame(struct nperf *p, struct npair *q, const struct vio_net_drv_frame *f)
{
	const uint8_t *b = f->data;
	uint64_t seq;

	if (f->len >= 18 && get16(b + 14) == PROBE_MAGIC)
		return;         /* a late probe: not part of the count */
	if (f->frame_len != p->o.frame_size || get16(b + 12) != ETHERTYPE_LO ||
	    get16(b + 14) != NET_MAGIC || get16(b + 16) != q->pair) {
		q->corrupt++;
		report_corrupt(p, q, "with a wrong length or header (not a frame sent on this pair)",
			       UINT64_MAX);
		return;
	}
	memcpy(&seq, b + 18, 8);
	if (seq >= q->sent || seq + SEEN_BITS < q->sent) {
		q->corrupt++;
		report_corrupt(p, q, "with a sequence number never sent (or long gone)", seq);
		return;
	}
	if (p->o.verify && !check_payload(b, p->o.frame_size, stream_key(p, q->pair, seq))) {
		q->corrupt++;
		report_corrupt(p, q, "with a payload that differs from what was sent", seq);
		return;
	}
	if (!seen_test_clear(q->seen, seq)) {
		q->duplicate++;
		report_corrupt(p, q, "twice", seq);
		return;
	}
	q->received++;
	if (seq + 1 < q->highest)
		q->reordered++;
	else
		q->highest = seq + 1;
}

/* Frames this pair may send now: within the window and the pace. */
static unsigned tx_room(struct nperf *p, struct npair *q, uint64_t now)
{
	const uint64_t from = q->highest > q->base ? q->highest : q->base;
	uint64_t out = q->sent - from, room;

	if (out >= p->o.window) {
		/* Nothing came back for a while: those frames are gone. */
		if (now - q->t_last < (uint64_t)LOSS_MS * 1000000u)
			return 0;
		q->base = q->sent;
		q->t_last = now;
		out = 0;
	}
	room = p->o.window - out;
	if (p->o.rate > 0) {
		const double per_pair = p->o.rate * 1e6 / p->o.pairs;
		const uint64_t due = (uint64_t)(per_pair * (double)(now - p->t0) / 1e9);

		if (due <= q->sent)
			return 0;
		if (due - q->sent < room)
			room = due - q->sent;
	}
	return room < p->o.burst ? (unsigned)room : p->o.burst;
}

static int send_some(struct nperf *p, struct npair *q, uint64_t now)
{
	unsigned n = tx_room(p, q, now), free_now;
	int k;

	if (!n)
		return 0;
	free_now = vio_net_drv_tx_free(p->dev, q->pair);
	if (free_now < n) {
		k = vio_net_drv_tx_reap(p->dev, q->pair);
		if (k < 0)
			return k;
		free_now = vio_net_drv_tx_free(p->dev, q->pair);
		if (free_now < n)
			n = free_now;
	}
	for (unsigned i = 0; i < n; i++) {
		uint8_t *f = q->txa + (size_t)i * p->o.frame_size;
		const uint64_t seq = q->sent + i;

		memcpy(f + 18, &seq, 8);
		if (p->o.verify)
			fill_payload(f, p->o.frame_size, stream_key(p, q->pair, seq));
		seen_set(q->seen, seq);
	}
	k = n ? vio_net_drv_tx_burst(p->dev, q->pair, q->txf, n) : 0;
	if (k < 0)
		return k;
	/* Frames not taken are sent again (the same numbers) next time. */
	for (unsigned i = (unsigned)k; i < n; i++)
		seen_test_clear(q->seen, q->sent + i);
	q->sent += (uint64_t)k;
	return k;
}

static int recv_some(struct nperf *p, struct npair *q, uint64_t now)
{
	int k = vio_net_drv_rx_burst(p->dev, q->pair, q->rxf, p->o.burst);

	for (int i = 0; i < k; i++)
		take_frame(p, q, &q->rxf[i]);
	if (k > 0)
		q->t_last = now;
	return k;
}

/* --notify with nothing to do: sleeps until the backend signals the
 * receive queue (or, with no frame out to wait for, a millisecond: the
 * pace's next slot). The transmit queue's interrupts stay off: its
 * buffers are reaped as sends need them. */
static void wait_calls(struct nperf *p, struct npair *q)
{
	struct vio_drvq *rq = &p->dev->vqs[2 * q->pair].q;
	struct pollfd pfd = { .fd = q->call_fd[0], .events = POLLIN };
	const bool out = q->sent > q->received + q->corrupt;

	/* false: used buffers came in meanwhile: take them first. */
	if (vio_drvq_enable_cb(rq) && poll(&pfd, 1, out ? WAIT_MS : 1) > 0)
		q->calls += run_drain_fd(pfd.fd);
	vio_drvq_disable_cb(rq);
}

/*
 * Before the count starts: a probe frame every PROBE_MS until one comes
 * back, so that frames a backend drops while its side is still coming up
 * (DPDK's vhost PMD enables its queues as the frontend sets them up) are
 * not counted as lost. 0, or -ETIMEDOUT, or a driver error.
 */
static int probe_path(struct nperf *p, struct npair *q)
{
	const uint64_t t0 = run_now_ns();
	uint64_t next = 0;
	uint8_t *f = q->txa;

	put16(f + 14, PROBE_MAGIC);
	for (;;) {
		const uint64_t now = run_now_ns();
		int k = vio_net_drv_rx_burst(p->dev, q->pair, q->rxf, p->o.burst);

		if (k < 0)
			break;
		for (int i = 0; i < k; i++) {
			const uint8_t *b = q->rxf[i].data;

			if (q->rxf[i].len >= 18 && get16(b + 14) == PROBE_MAGIC &&
			    get16(b + 16) == q->pair)
				k = -1;
		}
		if (k == -1) {
			put16(f + 14, NET_MAGIC);
			return 0;
		}
		if (run_aborting(&p->run) ||
		    now - t0 > (uint64_t)PROBE_WAIT_MS * 1000000u)
			break;
		if (now >= next) {
			vio_net_drv_tx_reap(p->dev, q->pair);
			k = vio_net_drv_tx_burst(p->dev, q->pair, q->txf, 1);
			if (k < 0)
				break;
			next = now + (uint64_t)PROBE_MS * 1000000u;
		}
		vio_ring_pause();
	}
	put16(f + 14, NET_MAGIC);
	if (vio_net_drv_error(p->dev, q->pair))
		return -EIO;
	return -ETIMEDOUT;
}

static void *pair_main(void *arg)
{
	struct npair *q = arg;
	struct nperf *p = q->p;
	uint64_t drain_from = 0, t_stop;
	int r;

	r = probe_path(p, q);
	if (r == -ETIMEDOUT) {
		if (run_may_report(&p->run))
			fprintf(stderr, "\nvio-perf: pair %u: no probe frame came back in %d s: the "
				"backend does not send frames back\n", q->pair, PROBE_WAIT_MS / 1000);
		run_end(&p->run, END_STALLED);
		goto out;
	}
	if (r)
		goto fail;
	/* The count starts for all pairs at once: when every path is up,
	 * the main thread sets t0. */
	__atomic_fetch_add(&p->ready, 1, __ATOMIC_ACQ_REL);
	t_stop = __atomic_load_n(&p->t0, __ATOMIC_ACQUIRE);
	while (!t_stop && !run_aborting(&p->run)) {
		vio_ring_pause();
		t_stop = __atomic_load_n(&p->t0, __ATOMIC_ACQUIRE);
	}
	t_stop += (uint64_t)(p->o.seconds * 1e9);
	q->t_last = run_now_ns();
	for (;;) {
		const uint64_t now = run_now_ns();
		int rx, tx = 0;

		rx = recv_some(p, q, now);
		if (rx < 0)
			goto fail;
		if (now >= t_stop)
			run_end(&p->run, END_OK);
		if (!run_stopping(&p->run)) {
			tx = send_some(p, q, now);
			if (tx < 0)
				goto fail;
		} else {
			/* Draining: until everything is back, or DRAIN_MS. */
			if (!drain_from)
				drain_from = now;
			if (q->received + q->corrupt >= q->sent ||
			    now - drain_from > (uint64_t)DRAIN_MS * 1000000u)
				break;
			vio_net_drv_tx_reap(p->dev, q->pair);
		}
		__atomic_store_n(&q->pub_sent, q->sent, __ATOMIC_RELAXED);
		__atomic_store_n(&q->pub_received, q->received, __ATOMIC_RELAXED);
		if (run_aborting(&p->run))
			break;
		if (rx == 0 && tx == 0) {
			if (p->o.notify)
				wait_calls(p, q);
			else
				vio_ring_pause();
		}
	}
	goto out;
fail:
	if (!run_aborting(&p->run) && run_may_report(&p->run)) {
		const char *why = vio_net_drv_error(p->dev, q->pair);

		fprintf(stderr, "\nvio-perf: pair %u: %s\n", q->pair,
			why ? why : "the driver refused a burst");
	}
	run_end(&p->run, END_BROKEN);
out:
	q->calls += run_drain_fd(q->call_fd[0]) + run_drain_fd(q->call_fd[1]);
	__atomic_store_n(&q->pub_sent, q->sent, __ATOMIC_RELAXED);
	__atomic_store_n(&q->pub_received, q->received, __ATOMIC_RELAXED);
	__atomic_store_n(&q->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* The main thread                                                          */

static void totals(struct nperf *p, uint64_t *sent, uint64_t *received)
{
	*sent = *received = 0;
	for (unsigned i = 0; i < p->o.pairs; i++) {
		*sent += __atomic_load_n(&p->pairs[i].pub_sent, __ATOMIC_RELAXED);
		*received += __atomic_load_n(&p->pairs[i].pub_received, __ATOMIC_RELAXED);
	}
}

static bool all_done(struct nperf *p)
{
	for (unsigned i = 0; i < p->o.pairs; i++)
		if (!__atomic_load_n(&p->pairs[i].done, __ATOMIC_ACQUIRE))
			return false;
	return true;
}

/* The progress line: the blk mode's, in frames. */
static void progress(struct nperf *p, uint64_t *last_rx, uint64_t *last_t, bool tty)
{
	const uint64_t now = run_now_ns();
	uint64_t sent, rx;
	double dt, mpps;

	totals(p, &sent, &rx);
	dt = (double)(now - *last_t) / 1e9;
	mpps = dt > 0 ? (double)(rx - *last_rx) / dt / 1e6 : 0;
	fprintf(stderr, "%s[%6.1fs] %8.3f Mpps %8.3f Gbit/s %12" PRIu64 " frames %10" PRIu64
		" out%s", tty ? "\r" : "", (double)(now - p->t0) / 1e9, mpps,
		mpps * 1e6 * p->o.frame_size * 8 / 1e9, rx, sent - rx, tty ? "   " : "\n");
	*last_rx = rx;
	*last_t = now;
}

static void monitor(struct nperf *p)
{
	const bool tty = isatty(STDERR_FILENO);
	uint64_t last_rx = 0, last_t = 0, next_tick = 0;
	uint64_t stall_rx = 0, stall_t = 0;
	struct pollfd pfd[1 + 2 * VIO_NET_DRV_MAX_PAIRS];
	unsigned n = 0;
	bool printed = false;

	pfd[n++] = (struct pollfd){ .fd = p->fe.sock, .events = POLLIN | POLLRDHUP };
	for (unsigned i = 0; i < 2 * p->o.pairs; i++)
		pfd[n++] = (struct pollfd){ .fd = p->fe.queues[i].err_fd, .events = POLLIN };
	while (!all_done(p)) {
		uint64_t now, sent, rx;

		run_watch(&p->run, pfd, n, "draining (again to stop)");
		now = run_now_ns();
		if (!p->t0) {
			/* The pairs probe their paths (each gives up on its own). */
			if (__atomic_load_n(&p->ready, __ATOMIC_ACQUIRE) < p->o.pairs)
				continue;
			__atomic_store_n(&p->t0, now, __ATOMIC_RELEASE);
			last_t = stall_t = now;
			next_tick = now + 1000000000u;
		}
		if ((double)(now - p->t0) >= p->o.seconds * 1e9)
			run_end(&p->run, END_OK);
		totals(p, &sent, &rx);
		/* Stalled: frames out and none back for STALL_MS (a slow
		 * --rate may have nothing out for a while). */
		if (rx != stall_rx || sent == rx) {
			stall_rx = rx;
			stall_t = now;
		} else if (now - stall_t >= (uint64_t)STALL_MS * 1000000u &&
			   !run_aborting(&p->run)) {
			fprintf(stderr, "\nvio-perf: no frame came back for %d s: the backend "
				"stopped answering\n", STALL_MS / 1000);
			run_end(&p->run, END_STALLED);
		}
		if (!p->o.quiet && now >= next_tick) {
			progress(p, &last_rx, &last_t, tty);
			printed = true;
			next_tick += 1000000000u;
		}
	}
	if (printed && tty)
		fputc('\n', stderr);
}

/* ------------------------------------------------------------------------ */
/* Setup                                                                    */

static int connect_and_bind(struct nperf *p)
{
	const struct net_opts *o = &p->o;
	/* Per queue: the ring and a buffer of up to 4 KiB per entry. */
	const size_t mem = (size_t)(2 * o->pairs + 1) * o->queue_size * (4096 + 64) + (4u << 20);
	struct vio_vu_frontend_config cfg = {
		.device_id = VIO_ID_NET,
		.num_queues = 2 * o->pairs + 1,
		.queue_max = o->queue_size,
		.memory_bytes = mem,
		.features_off = o->packed ? 0 : VIO_BIT(VIO_F_RING_PACKED),
		.log = run_fe_log,
	};
	struct vio_net_drv_opts dopts = {
		.max_pairs = o->pairs,
		.queue_size = o->queue_size,
		.timeout_ms = 5000,
	};
	uint8_t status;
	int r;

	r = vio_vu_frontend_connect(&p->fe, o->socket, &cfg);
	if (r) {
		fprintf(stderr, "vio-perf: cannot connect to the vhost-user backend at %s: %s\n",
			o->socket, r == -ENOENT ? "no such socket" :
			r == -ECONNREFUSED ? "connection refused (nobody listening)" :
			vio_strerror(r));
		return r;
	}
	p->fe_up = true;
	if (o->packed && !(p->fe.offered & VIO_BIT(VIO_F_RING_PACKED))) {
		fprintf(stderr, "vio-perf: --ring=packed: the backend at %s does not offer "
			"VIRTIO_F_RING_PACKED\n", o->socket);
		return -ENOTSUP;
	}
	/* A backend without config space (DPDK's vhost PMD) cannot say its
	 * MAC, MTU, status or pairs, and serves no control queue (DPDK's
	 * virtio-user answers those itself): leave out what needs them. */
	if (!(p->fe.protocol_features & VIO_BIT(PROTO_F_CONFIG))) {
		if (o->pairs > 1) {
			fprintf(stderr, "vio-perf: --queue-pairs=%u: the backend at %s has no config "
				"space (PROTOCOL_F_CONFIG), so no multiqueue through this driver\n",
				o->pairs, o->socket);
			return -ENOTSUP;
		}
		dopts.features_off |= VIO_BIT(VIO_NET_F_CTRL_VQ) | VIO_BIT(VIO_NET_F_CTRL_RX) |
				      VIO_BIT(VIO_NET_F_CTRL_RX_EXTRA) | VIO_BIT(VIO_NET_F_CTRL_VLAN) |
				      VIO_BIT(VIO_NET_F_GUEST_ANNOUNCE) | VIO_BIT(VIO_NET_F_MQ) |
				      VIO_BIT(VIO_NET_F_CTRL_MAC_ADDR) |
				      VIO_BIT(VIO_NET_F_CTRL_GUEST_OFFLOADS) | VIO_BIT(VIO_NET_F_RSS) |
				      VIO_BIT(VIO_NET_F_MTU) | VIO_BIT(VIO_NET_F_MAC) |
				      VIO_BIT(VIO_NET_F_STATUS) | VIO_BIT(VIO_NET_F_SPEED_DUPLEX);
	}
	if (!o->packed)
		dopts.features_off |= VIO_BIT(VIO_F_RING_PACKED);
	if (o->no_event_idx)
		dopts.features_off |= VIO_BIT(VIO_F_EVENT_IDX);
	if (o->no_in_order)
		dopts.features_off |= VIO_BIT(VIO_F_IN_ORDER);
	vio_bus_init(&p->bus, run_bus_alloc, run_bus_free, NULL);
	p->bus.log = run_drv_log;
	r = vio_net_drv_register(&p->bus, &p->drv, &dopts);
	if (r)
		return r;
	p->drv_up = true;
	p->dev = &p->fe.vdev;
	r = vio_bus_add_device(&p->bus, p->dev);
	if (r)
		return r;
	p->bus_up = true;
	status = vio_drv_get_status(p->dev);
	if (!p->dev->driver || !(status & VIO_STATUS_DRIVER_OK) ||
	    (status & (VIO_STATUS_NEEDS_RESET | VIO_STATUS_FAILED))) {
		fprintf(stderr, "vio-perf: the net driver could not set up the device at %s "
			"(status %#x)%s\n", o->socket, status,
			vio_vu_frontend_connected(&p->fe) ? "" : ": the backend closed the connection");
		return -EPROTO;
	}
	if (vio_net_drv_num_pairs(p->dev) < o->pairs) {
		fprintf(stderr, "vio-perf: --queue-pairs=%u: the backend has %u\n", o->pairs,
			vio_net_drv_num_pairs(p->dev));
		return -EINVAL;
	}
	if (o->pairs > 1) {
		r = vio_net_drv_set_pairs(p->dev, o->pairs);
		if (r) {
			fprintf(stderr, "vio-perf: the device refused %u queue pairs: %s\n", o->pairs,
				vio_strerror(r));
			return r;
		}
	}
	if (o->frame_size > vio_net_drv_mtu(p->dev) + 18) {
		fprintf(stderr, "vio-perf: --frame-size=%u is more than the device's MTU %u "
			"allows (%u)\n", o->frame_size, vio_net_drv_mtu(p->dev),
			vio_net_drv_mtu(p->dev) + 18);
		return -EINVAL;
	}
	if (vio_net_drv_mac(p->dev, p->mac) != 0)
		memcpy(p->mac, "\x02\x76\x69\x6f\x00\x02", 6);
	return 0;
}

static int setup_pairs(struct nperf *p)
{
	const struct net_opts *o = &p->o;

	for (unsigned i = 0; i < o->pairs; i++) {
		struct npair *q = &p->pairs[i];

		q->p = p;
		q->pair = i;
		q->call_fd[0] = vio_vu_frontend_call_fd(&p->fe, 2 * i);
		q->call_fd[1] = vio_vu_frontend_call_fd(&p->fe, 2 * i + 1);
		q->txa = calloc(o->burst, o->frame_size);
		q->rxa = calloc(o->burst, MAX_FRAME);
		q->txf = calloc(o->burst, sizeof(*q->txf));
		q->rxf = calloc(o->burst, sizeof(*q->rxf));
		q->seen = calloc(SEEN_BITS / 64, sizeof(uint64_t));
		if (!q->txa || !q->rxa || !q->txf || !q->rxf || !q->seen) {
			fprintf(stderr, "vio-perf: out of memory\n");
			return -ENOMEM;
		}
		if (q->call_fd[0] < 0 || q->call_fd[1] < 0) {
			fprintf(stderr, "vio-perf: pair %u has no call eventfd\n", i);
			return -EIO;
		}
		for (unsigned k = 0; k < o->burst; k++) {
			uint8_t *f = q->txa + (size_t)k * o->frame_size;

			frame_template(p, f, i);
			q->txf[k] = (struct vio_net_drv_frame){ .data = f, .len = o->frame_size };
			q->rxf[k] = (struct vio_net_drv_frame){ .data = q->rxa + (size_t)k * MAX_FRAME,
								 .cap = MAX_FRAME };
		}
		/* Ask the backend not to signal, as a polled queue in a
		 * kernel (or DPDK's virtio PMD) does; --notify turns the
		 * receive queue's interrupts on before it sleeps. */
		vio_drvq_disable_cb(&p->dev->vqs[2 * i].q);
		vio_drvq_disable_cb(&p->dev->vqs[2 * i + 1].q);
		p->kicks0 += p->dev->vqs[2 * i].q.stats.kicks + p->dev->vqs[2 * i + 1].q.stats.kicks;
	}
	return 0;
}

static void teardown(struct nperf *p)
{
	if (p->fe_up && run_reason(&p->run) != END_OK && run_reason(&p->run) != END_INTERRUPTED)
		vio_vu_frontend_disconnect(&p->fe);
	if (p->bus_up)
		vio_bus_remove_device(&p->bus, p->dev);
	if (p->drv_up)
		vio_net_drv_unregister(&p->bus, &p->drv);
	if (p->fe_up)
		vio_vu_frontend_fini(&p->fe);
	for (unsigned i = 0; i < VIO_NET_DRV_MAX_PAIRS; i++) {
		struct npair *q = &p->pairs[i];

		free(q->txa);
		free(q->rxa);
		free(q->txf);
		free(q->rxf);
		free(q->seen);
	}
}

/* ------------------------------------------------------------------------ */
/* Options                                                                  */

static void usage(FILE *f, const char *argv0)
{
	fprintf(f,
		"usage: %s --net --socket=PATH [options]\n"
		"Drives a vhost-user-net backend that sends every frame back (libvio's\n"
		"vhost-user-net --reflect, testpmd's vhost PMD with io or macswap forwarding)\n"
		"and measures it.\n\n"
		"  --socket=PATH        the backend's vhost-user socket\n"
		"  --frame-size=BYTES   Ethernet frame without FCS, %u to %u (default 64)\n"
		"  --rate=MPPS          million frames per second, all pairs together\n"
		"                       (default 0: as fast as the window allows)\n"
		"  --window=N           frames out (sent, not back) per pair (default 128; above\n"
		"                       the ring size the peer drops what it has no room for)\n"
		"  --burst=N            frames per tx and rx burst (default 32)\n"
		"  --queue-pairs=N      queue pairs, a thread each (default 1; needs MQ)\n"
		"  --queue-size=N       ring size asked for (default 256)\n"
		"  --time=SECONDS       run time (default 10)\n"
		"  --verify             fill each frame from its number and pair, check every\n"
		"                       byte of what comes back; exit 1 on any corrupt,\n"
		"                       duplicate or lost frame\n"
		"  --seed=N             verify pattern (default: from the clock)\n"
		"  --ring=split|packed  ring layout (default split)\n"
		"  --no-event-idx       do not negotiate VIRTIO_F_EVENT_IDX\n"
		"  --no-in-order        do not negotiate VIRTIO_F_IN_ORDER\n"
		"  --poll               busy-poll with the backend's interrupts off (default)\n"
		"  --notify             sleep on the call eventfds instead\n"
		"  --json               print the result as one JSON object on stdout\n"
		"  --quiet              no progress line\n\n"
		"Exit status: 0 ok, 1 frames corrupt/duplicate (or lost with --verify) or\n"
		"the backend went away, 2 usage or connection errors.\n", argv0, MIN_FRAME,
		MAX_FRAME);
}

enum {
	N_NET = 256, N_SOCKET, N_FRAME, N_RATE, N_WINDOW, N_BURST, N_PAIRS, N_QSIZE, N_TIME,
	N_VERIFY, N_SEED, N_RING, N_NO_EVT, N_NO_INO, N_POLL, N_NOTIFY, N_JSON, N_QUIET, N_HELP,
};

static const struct option longopts[] = {
	{ "net", no_argument, NULL, N_NET },
	{ "socket", required_argument, NULL, N_SOCKET },
	{ "frame-size", required_argument, NULL, N_FRAME },
	{ "rate", required_argument, NULL, N_RATE },
	{ "window", required_argument, NULL, N_WINDOW },
	{ "burst", required_argument, NULL, N_BURST },
	{ "queue-pairs", required_argument, NULL, N_PAIRS },
	{ "queue-size", required_argument, NULL, N_QSIZE },
	{ "time", required_argument, NULL, N_TIME },
	{ "verify", no_argument, NULL, N_VERIFY },
	{ "seed", required_argument, NULL, N_SEED },
	{ "ring", required_argument, NULL, N_RING },
	{ "no-event-idx", no_argument, NULL, N_NO_EVT },
	{ "no-in-order", no_argument, NULL, N_NO_INO },
	{ "poll", no_argument, NULL, N_POLL },
	{ "notify", no_argument, NULL, N_NOTIFY },
	{ "json", no_argument, NULL, N_JSON },
	{ "quiet", no_argument, NULL, N_QUIET },
	{ "help", no_argument, NULL, N_HELP },
	{ NULL, 0, NULL, 0 },
};

static bool num(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = (unsigned)v;
	return true;
}

static bool real(const char *s, double lo, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo) || v > 1e7)
		return false;
	*out = v;
	return true;
}

/* 0 ok, 1 --help printed, -1 bad usage (said why). */
static int parse(struct net_opts *o, int argc, char **argv)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->frame_size = 64;
	o->pairs = 1;
	o->window = 128;
	o->burst = 32;
	o->queue_size = 256;
	o->seconds = 10;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		const char *want = NULL;

		switch (c) {
		case N_NET: break;
		case N_SOCKET: o->socket = optarg; break;
		case N_FRAME:
			if (!num(optarg, MIN_FRAME, MAX_FRAME, &o->frame_size))
				want = "a frame size in bytes, 60 to 1518";
			break;
		case N_RATE: if (!real(optarg, 0, &o->rate)) want = "Mpps, 0 for unpaced"; break;
		case N_WINDOW: if (!num(optarg, 1, 32768, &o->window)) want = "1 to 32768"; break;
		case N_BURST: if (!num(optarg, 1, 512, &o->burst)) want = "1 to 512"; break;
		case N_PAIRS:
			if (!num(optarg, 1, VIO_NET_DRV_MAX_PAIRS, &o->pairs))
				want = "1 to 16";
			break;
		case N_QSIZE:
			if (!num(optarg, 2, 32768, &o->queue_size) ||
			    (o->queue_size & (o->queue_size - 1)))
				want = "a power of two, 2 to 32768";
			break;
		case N_TIME:
			if (!real(optarg, 0, &o->seconds) || o->seconds <= 0)
				want = "a positive number of seconds";
			break;
		case N_VERIFY: o->verify = true; break;
		case N_SEED: {
			char *end;

			errno = 0;
			o->seed = strtoull(optarg, &end, 0);
			if (errno || *end || !*optarg)
				want = "a number";
			o->seed_set = true;
			break;
		}
		case N_RING:
			if (!strcmp(optarg, "packed"))
				o->packed = true;
			else if (strcmp(optarg, "split"))
				want = "split or packed";
			break;
		case N_NO_EVT: o->no_event_idx = true; break;
		case N_NO_INO: o->no_in_order = true; break;
		case N_POLL: o->notify = false; break;
		case N_NOTIFY: o->notify = true; break;
		case N_JSON: o->json = true; break;
		case N_QUIET: o->quiet = true; break;
		case 'h': case N_HELP: usage(stdout, argv[0]); return 1;
		default:
			fprintf(stderr, "vio-perf: unknown option or missing value: %s\n"
				"Try --net --help.\n", argv[optind - 1]);
			return -1;
		}
		if (want) {
			fprintf(stderr, "vio-perf: bad value for --%s: '%s': want %s\n",
				longopts[c - N_NET].name, optarg, want);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vio-perf: unexpected argument '%s'\nTry --net --help.\n",
			argv[optind]);
		return -1;
	}
	if (!o->socket) {
		fprintf(stderr, "vio-perf: --socket=PATH is required\nTry --net --help.\n");
		return -1;
	}
	if (o->burst > o->window)
		o->burst = o->window;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Results                                                                  */

struct nresult {
	uint64_t sent, received, lost, corrupt, duplicate, reordered, kicks, calls;
	double seconds, mpps, gbps;
};

static void collect(struct nperf *p, struct nresult *r, uint64_t t_end)
{
	memset(r, 0, sizeof(*r));
	for (unsigned i = 0; i < p->o.pairs; i++) {
		const struct npair *q = &p->pairs[i];

		r->sent += q->sent;
		r->received += q->received;
		r->corrupt += q->corrupt;
		r->duplicate += q->duplicate;
		r->reordered += q->reordered;
		r->calls += q->calls;
		r->kicks += p->dev->vqs[2 * i].q.stats.kicks + p->dev->vqs[2 * i + 1].q.stats.kicks;
	}
	r->kicks -= p->kicks0;
	r->lost = r->sent > r->received + r->corrupt ? r->sent - r->received - r->corrupt : 0;
	r->seconds = (double)(t_end - p->t0) / 1e9;
	r->mpps = run_per((double)r->received, r->seconds) / 1e6;
	r->gbps = r->mpps * 1e6 * p->o.frame_size * 8 / 1e9;
}

static void print_json(const struct nperf *p, const struct nresult *r)
{
	const struct net_opts *o = &p->o;

	printf("{\"mode\":\"net\",\"frame_size\":%u,\"queue_pairs\":%u,\"window\":%u,\"burst\":%u,"
	       "\"rate_mpps\":%.3f,\"ring\":\"%s\",\"event_idx\":%s,\"in_order\":%s,"
	       "\"mrg_rxbuf\":%s,\"poll\":%s,\"verify\":%s,\"seconds\":%.3f,"
	       "\"sent\":%" PRIu64 ",\"received\":%" PRIu64 ",\"lost\":%" PRIu64
	       ",\"corrupt\":%" PRIu64 ",\"duplicate\":%" PRIu64 ",\"reordered\":%" PRIu64 ","
	       "\"mpps\":%.4f,\"gbps\":%.4f,\"kicks\":%" PRIu64 ",\"calls\":%" PRIu64 ","
	       "\"kicks_per_packet\":%.5f,\"calls_per_packet\":%.5f,"
	       "\"notifications_per_packet\":%.5f,\"status\":\"%s\"}\n",
	       o->frame_size, o->pairs, o->window, o->burst, o->rate,
	       vio_drv_has_feature(p->dev, VIO_F_RING_PACKED) ? "packed" : "split",
	       vio_drv_has_feature(p->dev, VIO_F_EVENT_IDX) ? "true" : "false",
	       vio_drv_has_feature(p->dev, VIO_F_IN_ORDER) ? "true" : "false",
	       vio_drv_has_feature(p->dev, VIO_NET_F_MRG_RXBUF) ? "true" : "false",
	       o->notify ? "false" : "true", o->verify ? "true" : "false", r->seconds,
	       r->sent, r->received, r->lost, r->corrupt, r->duplicate, r->reordered, r->mpps,
	       r->gbps, r->kicks, r->calls, run_per((double)r->kicks, (double)r->received),
	       run_per((double)r->calls, (double)r->received),
	       run_per((double)(r->kicks + r->calls), (double)r->received),
	       run_end_name(run_reason(&p->run)));
}

static void print_human(const struct nperf *p, const struct nresult *r)
{
	const struct net_opts *o = &p->o;

	printf("vio-perf --net %s: frame %u B, %u pair%s, window %u, burst %u, ring=%s "
	       "event_idx=%s in_order=%s %s%s\n", o->socket, o->frame_size, o->pairs,
	       o->pairs == 1 ? "" : "s", o->window, o->burst,
	       vio_drv_has_feature(p->dev, VIO_F_RING_PACKED) ? "packed" : "split",
	       vio_drv_has_feature(p->dev, VIO_F_EVENT_IDX) ? "on" : "off",
	       vio_drv_has_feature(p->dev, VIO_F_IN_ORDER) ? "on" : "off",
	       o->notify ? "notify" : "poll", o->verify ? " verify" : "");
	printf("  %" PRIu64 " frames back of %" PRIu64 " sent in %.3f s: %.3f Mpps, %.3f Gbit/s\n",
	       r->received, r->sent, r->seconds, r->mpps, r->gbps);
	printf("  lost %" PRIu64 ", corrupt %" PRIu64 ", duplicate %" PRIu64 ", reordered %" PRIu64
	       "\n", r->lost, r->corrupt, r->duplicate, r->reordered);
	printf("  kicks per frame %.4f, calls per frame %.4f\n",
	       run_per((double)r->kicks, (double)r->received), run_per((double)r->calls, (double)r->received));
	if (run_reason(&p->run) != END_OK)
		printf("  ended early: %s\n", run_end_name(run_reason(&p->run)));
}

int net_main(int argc, char **argv)
{
	static struct nperf perf;
	struct nperf *p = &perf;
	struct nresult res;
	uint64_t t_end;
	bool failed;
	int r;

	r = parse(&p->o, argc, argv);
	if (r)
		return r > 0 ? 0 : 2;
	if (!p->o.seed_set)
		p->o.seed = run_now_ns() ^ ((uint64_t)getpid() << 32);
	run_signals_install();

	r = connect_and_bind(p);
	if (r == 0)
		r = setup_pairs(p);
	if (r) {
		teardown(p);
		return 2;
	}
	if (!p->o.quiet && !p->o.json)
		fprintf(stderr, "vio-perf: %s: net, %u pair%s, %s ring, %u-byte frames%s\n",
			p->o.socket, p->o.pairs, p->o.pairs == 1 ? "" : "s",
			vio_drv_has_feature(p->dev, VIO_F_RING_PACKED) ? "packed" : "split",
			p->o.frame_size, p->o.verify ? ", verify" : "");
	for (unsigned i = 0; i < p->o.pairs; i++) {
		struct npair *q = &p->pairs[i];

		r = pthread_create(&q->tid, NULL, pair_main, q);
		if (r) {
			fprintf(stderr, "vio-perf: cannot start a thread: %s\n", strerror(r));
			run_end(&p->run, END_BROKEN);
			q->done = 1;
			continue;
		}
		q->started = true;
	}
	monitor(p);
	t_end = run_now_ns();
	for (unsigned i = 0; i < p->o.pairs; i++)
		if (p->pairs[i].started)
			pthread_join(p->pairs[i].tid, NULL);
	/* The rate is over the timed part: the drain at the end adds at most
	 * a window of frames per pair, and its time is not counted. */
	if (!p->t0)
		p->t0 = t_end;  /* never started */
	if (t_end > p->t0 + (uint64_t)(p->o.seconds * 1e9))
		t_end = p->t0 + (uint64_t)(p->o.seconds * 1e9);
	collect(p, &res, t_end);
	if (p->o.json)
		print_json(p, &res);
	else
		print_human(p, &res);
	fflush(stdout);
	teardown(p);
	failed = res.corrupt || res.duplicate || (p->o.verify && res.lost);
	if (failed && p->o.verify)
		fprintf(stderr, "vio-perf: verify FAILED: %" PRIu64 " lost, %" PRIu64 " corrupt, %"
			PRIu64 " duplicate frames\n", res.lost, res.corrupt, res.duplicate);
	return failed || run_reason(&p->run) != END_OK ? 1 : 0;
}
