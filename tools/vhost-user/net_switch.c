/*
 * net_switch.c - vhost-user-net's switch port (net_switch.h): an L2
 * learning switch between the net devices of one process, each served on
 * a vhost-user socket of its own (vhost-user-net --switch).
 *
 * Forwarding. A frame one device's driver sends (the port's transmit op,
 * on that queue pair's thread) teaches the learning table (net_fdb.h) that
 * its source address lives on that port (ageing 300 s). Its destination
 * is then looked up: a known unicast address on another port gets the
 * frame alone; one on the ingress port itself means the frame is dropped
 * (counted "self"); an unknown unicast, broadcast or multicast address is
 * flooded to every other port. No VLAN awareness: one broadcast domain.
 *
 * Delivery, and why it is not done where the frame arrives. Putting a
 * frame into a device's receive buffers needs that device's queue locks
 * (vio_vu_backend_queue_lock), and the sending pair's thread already holds
 * its own device's: two ports sending to each other at once would each
 * hold one lock and wait for the other. So transmit never touches another
 * device: it copies the frame (bytes and virtio header fields) into the
 * destination port's queue, a ring of preallocated slots bounded in
 * number and size (a frame that finds it full is dropped, "queue_full"),
 * and rings the port's eventfd. Each port has a delivery thread that
 * takes frames off its queue and hands them to vio_net_dev_receive(net,
 * VIO_NET_STEER, ...) under its own device's control-queue lock, whose
 * serial range is every queue of the device (RSS may pick any pair). The
 * queue's mutex and the table's are leaves: nothing else is taken while
 * either is held, and no thread ever holds two devices' locks.
 *
 * A frame that finds no receive buffers stays at the head of the queue
 * until the driver posts some (the device's rx_ready op rings the same
 * eventfd) or NET_SWITCH_WAIT_MS passes since it was queued; then it is
 * dropped ("no_buffers"). Frames the device drops itself (its receive
 * filter, too big for the buffers, a pair not enabled, no driver yet:
 * the device's own counters say which) are counted "device".
 *
 * Sizes. A frame longer than the MTU + 18 (Ethernet header and one VLAN
 * tag) is dropped on the way in ("oversize"), unless it is a GSO frame
 * (at most 65535 bytes): no port's driver was promised more. A queue
 * holds up to NET_SWITCH_QUEUE_SLOTS frames in a ring of
 * NET_SWITCH_QUEUE_BYTES (each frame contiguous, a frame that does not
 * fit before the ring's end starting again at its beginning), allocated
 * once.
 *
 * Offloads: every port offers CSUM, HOST_TSO4/6 and HOST_ECN (its driver
 * may send partial checksums and TCP super-frames) and their GUEST_
 * twins, and the header fields go from port to port unchanged: between
 * two guests that both take them, a 64 KiB TCP frame crosses the switch
 * as one. A receiving driver without the GUEST_ bit a frame needs gets
 * it finished by its device (the checksum computed, the super-frame cut
 * into segments: vio/devices/net.h, receive), so it loses nothing.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "net_switch.h"
#include "vio/mem.h"

#define ALIGN 64u               /* frames start on cache lines in the ring */
#define BATCH 32u               /* frames a delivery thread hands over at once */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void add(uint64_t *c, uint64_t n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

static void wake(struct net_switch_port *p)
{
	uint64_t one = 1;

	if (write(p->wake, &one, sizeof(one)) < 0) {
		/* Full: a wake-up is pending anyway. */
	}
}

int net_switch_init(struct net_switch *sw, unsigned nports, struct vio_net_dev *devs, uint16_t mtu)
{
	int r;

	memset(sw, 0, sizeof(*sw));
	for (unsigned k = 0; k < NET_SWITCH_MAX_PORTS; k++)
		sw->port[k].wake = -1;
	if (nports < 2 || nports > NET_SWITCH_MAX_PORTS || mtu < 68)
		return -EINVAL;
	sw->frame_max = (uint32_t)mtu + 18;
	r = net_fdb_init(&sw->fdb, NET_SWITCH_FDB_ENTRIES, NET_SWITCH_AGE_NS);
	if (r)
		return r;
	sw->nports = nports;
	for (unsigned k = 0; k < nports; k++) {
		struct net_switch_port *p = &sw->port[k];

		p->sw = sw;
		p->idx = k;
		p->net = &devs[k];
		p->cap = NET_SWITCH_QUEUE_SLOTS;
		pthread_mutex_init(&p->lock, NULL);
		p->slots = calloc(p->cap, sizeof(*p->slots));
		p->bytes = malloc(NET_SWITCH_QUEUE_BYTES);
		if (!p->slots || !p->bytes)
			return -ENOMEM;
		p->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (p->wake < 0)
			return -errno;
	}
	return 0;
}

void net_switch_fini(struct net_switch *sw)
{
	for (unsigned k = 0; k < sw->nports; k++) {
		struct net_switch_port *p = &sw->port[k];

		net_switch_down(p);
		if (p->wake >= 0)
			close(p->wake);
		p->wake = -1;
		free(p->slots);
		free(p->bytes);
		p->slots = NULL;
		p->bytes = NULL;
		pthread_mutex_destroy(&p->lock);
	}
	net_fdb_fini(&sw->fdb);
	sw->nports = 0;
}

/* Copies f into p's queue: false when it is full (counted). */
static bool enqueue(struct net_switch_port *p, const struct vio_net_frame *f, int64_t now)
{
	const size_t need = ((size_t)f->len + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	struct net_switch_slot *s;
	size_t off = 0, skip = 0;

	pthread_mutex_lock(&p->lock);
	/* Where its bytes go: after the last frame's, or (not fitting before
	 * the end) at the start, the tail skipped and held until it is
	 * consumed. The ring's queued bytes are [wpos - used, wpos) modulo
	 * its size, so `used` alone says whether there is room. */
	if (p->wpos + need <= NET_SWITCH_QUEUE_BYTES)
		off = p->wpos;
	else
		skip = NET_SWITCH_QUEUE_BYTES - p->wpos;
	if (p->count == p->cap || p->used + skip + need > NET_SWITCH_QUEUE_BYTES) {
		pthread_mutex_unlock(&p->lock);
		add(&p->st.queue_full, 1);
		return false;
	}
	s = &p->slots[(p->head + p->count) % p->cap];
	/* The delivery thread reads slots and bytes only of frames in
	 * [head, head + count): these are the producers' until count covers
	 * them, under the lock. */
	s->data = p->bytes + off;
	s->span = (uint32_t)(skip + need);
	p->used += s->span;
	p->wpos = off + need;
	s->len = (uint32_t)vio_iov_to_buf(f->iov, f->iovcnt, 0, s->data, f->len);
	s->flags = f->flags;
	s->gso_type = f->gso_type;
	s->hdr_len = f->hdr_len;
	s->gso_size = f->gso_size;
	s->csum_start = f->csum_start;
	s->csum_offset = f->csum_offset;
	s->since = now;
	p->count++;
	pthread_mutex_unlock(&p->lock);
	return true;
}

/* The port's transmit op: a pair of port `port` sent frames[0..n). Runs
 * on that pair's thread, holding that device's pair locks: it touches no
 * other device, only queues (see the top of the file). */
static int sw_transmit(void *port, unsigned pair, const struct vio_net_frame *frames, unsigned n)
{
	struct net_switch_port *in = port;
	struct net_switch *sw = in->sw;
	const int64_t now = now_ns();
	uint32_t woken = 0;
	int taken = 0;

	(void)pair;
	for (unsigned i = 0; i < n; i++) {
		const struct vio_net_frame *f = &frames[i];
		uint8_t eth[12];
		int learned, out;
		bool sent = false;

		add(&in->st.in_frames, 1);
		add(&in->st.in_bytes, f->len);
		/* The device checked len >= 14 and that the iovecs hold it,
		 * and a GSO frame's size (at most 65535). */
		if ((f->gso_type == VIO_NET_HDR_GSO_NONE && f->len > sw->frame_max) ||
		    vio_iov_to_buf(f->iov, f->iovcnt, 0, eth, sizeof(eth)) != sizeof(eth)) {
			add(&in->st.oversize, 1);
			continue;
		}
		out = net_fdb_forward(&sw->fdb, eth + 6, in->idx, eth, now, &learned);
		if (learned > 0)
			add(&in->st.learned, 1);
		if (out == (int)in->idx) {
			add(&in->st.self, 1);
			continue;
		}
		if (out >= 0 && (unsigned)out < sw->nports) {
			sent = enqueue(&sw->port[out], f, now);
			if (sent)
				woken |= 1u << out;
		} else {
			add(&in->st.flooded, 1);
			for (unsigned k = 0; k < sw->nports; k++) {
				if (k == in->idx || !enqueue(&sw->port[k], f, now))
					continue;
				woken |= 1u << k;
				sent = true;
			}
		}
		taken += sent;
	}
	for (unsigned k = 0; k < sw->nports; k++)
		if (woken & (1u << k))
			wake(&sw->port[k]);
	return taken;
}

/* The driver of port `port` posted receive buffers: frames waiting for
 * them may go. On that pair's thread, under its locks: only a wake-up. */
static void sw_rx_ready(void *port, unsigned pair)
{
	(void)pair;
	wake(port);
}

const struct vio_net_port_ops net_switch_ops = {
	.version = VIO_NET_PORT_OPS_VERSION,
	.transmit = sw_transmit,
	.rx_ready = sw_rx_ready,
};

/* Frames and bytes the device has put in its driver's buffers so far. */
static void rx_totals(const struct vio_net_dev *net, uint64_t *frames, uint64_t *bytes)
{
	*frames = *bytes = 0;
	for (unsigned q = 0; q < net->max_pairs; q++) {
		struct vio_net_pair_stats s;

		if (vio_net_dev_stats(net, q, &s) == 0) {
			*frames += s.rx_frames;
			*bytes += s.rx_bytes;
		}
	}
}

static bool stopped(const struct net_switch_port *p)
{
	return __atomic_load_n(&p->stop, __ATOMIC_ACQUIRE);
}

/* Sleeps until the eventfd rings or ms pass (-1: no limit), then drains it. */
static void wait_wake(struct net_switch_port *p, int ms)
{
	struct pollfd pf = { .fd = p->wake, .events = POLLIN };
	uint64_t x;

	if (poll(&pf, 1, ms) > 0 && read(p->wake, &x, sizeof(x)) < 0) {
		/* Taken already. */
	}
}

/* One round: hands up to BATCH queued frames to the device. Returns the
 * ms to wait before the next round (-1: until woken, 0: at once). */
static int deliver_round(struct net_switch_port *p)
{
	struct vio_iov iov[BATCH];
	struct vio_net_frame fr[BATCH];
	uint64_t f0, b0, f1, b1;
	unsigned head, count, m, done;
	int r, wait_ms = 0;

	pthread_mutex_lock(&p->lock);
	head = p->head;
	count = p->count;
	pthread_mutex_unlock(&p->lock);
	if (count == 0)
		return -1;
	m = count < BATCH ? count : BATCH;
	for (unsigned i = 0; i < m; i++) {
		const struct net_switch_slot *s = &p->slots[(head + i) % p->cap];

		iov[i] = (struct vio_iov){ s->data, s->len };
		fr[i] = (struct vio_net_frame){
			.flags = s->flags, .gso_type = s->gso_type, .hdr_len = s->hdr_len,
			.gso_size = s->gso_size, .csum_start = s->csum_start,
			.csum_offset = s->csum_offset, .len = s->len, .iov = &iov[i], .iovcnt = 1,
		};
	}
	vio_vu_backend_queue_lock(p->b, p->lock_qi);
	rx_totals(p->net, &f0, &b0);
	r = vio_net_dev_receive(p->net, VIO_NET_STEER, fr, m);
	rx_totals(p->net, &f1, &b1);
	vio_vu_backend_queue_unlock(p->b, p->lock_qi);
	if (r < 0)
		r = (int)m;     /* cannot happen with VIO_NET_STEER: take them as dropped */
	add(&p->st.out_frames, f1 - f0);
	add(&p->st.out_bytes, b1 - b0);
	add(&p->st.device, (unsigned)r - (f1 - f0));
	done = (unsigned)r;
	if (done < m) {
		/* The frame at done found too few receive buffers: it waits
		 * for rx_ready, for at most NET_SWITCH_WAIT_MS since it was
		 * queued; the ones whose time is up go. */
		const int64_t now = now_ns(), limit = (int64_t)NET_SWITCH_WAIT_MS * 1000000;

		while (done < m && now - p->slots[(head + done) % p->cap].since >= limit) {
			add(&p->st.no_buffers, 1);
			done++;
		}
		if (done < m) {
			int64_t left = limit - (now - p->slots[(head + done) % p->cap].since);

			wait_ms = (int)(left / 1000000) + 1;
		}
	}
	if (done) {
		size_t freed = 0;

		for (unsigned i = 0; i < done; i++)
			freed += p->slots[(head + i) % p->cap].span;
		pthread_mutex_lock(&p->lock);
		p->head = (head + done) % p->cap;
		p->count -= done;
		p->used -= freed;
		if (p->count == 0)
			p->wpos = 0;    /* empty: the next frame need not wrap */
		pthread_mutex_unlock(&p->lock);
	}
	return wait_ms;
}

static void *deliver_main(void *arg)
{
	struct net_switch_port *p = arg;

	while (!stopped(p)) {
		int ms = deliver_round(p);

		if (ms != 0)
			wait_wake(p, ms);
	}
	return NULL;
}

int net_switch_up(void *opaque, struct vio_vu_backend *b)
{
	struct net_switch_port *p = opaque;
	const struct vio_dev_model *d = &p->net->dev;
	const unsigned nq = d->num_queues;
	int r;

	/* The device's last queue (the control queue) must be serialised
	 * with every other: its lock is the whole device's. */
	if (nq == 0 || d->queues[nq - 1].serial_first != 0 || d->queues[nq - 1].serial_count != nq)
		return -1;
	p->b = b;
	p->lock_qi = nq - 1;
	__atomic_store_n(&p->stop, false, __ATOMIC_RELEASE);
	r = pthread_create(&p->th, NULL, deliver_main, p);
	if (r)
		return -1;
	p->started = true;
	return 0;
}

void net_switch_down(void *opaque)
{
	struct net_switch_port *p = opaque;

	if (!p->started)
		return;
	__atomic_store_n(&p->stop, true, __ATOMIC_RELEASE);
	wake(p);
	pthread_join(p->th, NULL);
	p->started = false;
}

void net_switch_port_stats(struct net_switch_port *p, struct net_switch_stats *out,
			   unsigned *learned_now)
{
	const uint64_t *from = (const uint64_t *)&p->st;
	uint64_t *to = (uint64_t *)out;

	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		to[i] = __atomic_load_n(&from[i], __ATOMIC_RELAXED);
	if (learned_now)
		*learned_now = net_fdb_count(&p->sw->fdb, (int)p->idx, now_ns());
}
