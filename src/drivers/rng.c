/*
 * rng.c - the entropy driver (see vio/drivers/rng.h for the contract).
 *
 * State per device: a fixed set of request slots over one DMA bounce
 * buffer, and a FIFO of caller-owned reads. Random bytes are fungible, so
 * a slot is not tied to a read: whenever reads still need more bytes than
 * are in flight, free slots are posted; whenever a slot completes, its
 * bytes are handed to the oldest waiting read. Everything the data path
 * touches was allocated at probe.
 *
 * service() is the one place that reaps, posts and kicks. It can be
 * entered again from inside itself: over a synchronous transport a kick
 * runs the device, whose interrupt runs our callback, all before the kick
 * returns. The nested call only marks `again`; the outer loop does the
 * work, so the stack stays flat however many requests a read takes.
 */
#include <stddef.h>

#include "vio/drivers.h"

#include "../vio_libc.h"

#define DEFAULT_BUF_BYTES 4096u
#define DEFAULT_BUFS 8u

#define DRIVER_RING_FEATURES (VIO_BIT(VIO_F_INDIRECT_DESC) | VIO_BIT(VIO_F_EVENT_IDX) | \
			      VIO_BIT(VIO_F_NOTIFY_ON_EMPTY) | VIO_BIT(VIO_F_ANY_LAYOUT))

struct rng_req {
	uint8_t *buf;
	uint64_t dma;
	uint32_t asked;         /* bytes posted; 0 while the slot is free */
};

struct rng_state {
	struct vio_drv_device *dev;
	struct vio_drv_vq vq;
	uint32_t buf_bytes;
	unsigned segs;
	unsigned nreqs;
	uint8_t *bounce;
	uint64_t bounce_dma;
	size_t bounce_len;
	struct rng_req *reqs;
	struct vio_sg *sg;
	uint64_t want;          /* bytes the queued reads still need */
	uint64_t inflight;      /* bytes asked of the device */
	unsigned cursor;        /* where the search for a free slot starts */
	struct vio_rng_read *head, *tail;
	bool busy, again;
	bool stall;             /* the device returned an empty request: no
				 * reposting until the next service() call */
	int err;                /* sticky: -EIO once the ring is broken */
};

static int rng_probe(struct vio_drv_device *dev);

static struct rng_state *state_of(struct vio_drv_device *dev)
{
	/* dev->priv belongs to whichever driver is bound: make sure it is us. */
	if (!dev || !dev->driver || dev->driver->probe != rng_probe)
		return NULL;
	return dev->priv;
}

/* ------------------------------------------------------------------------ */
/* Reads                                                                    */

static void read_unlink_head(struct rng_state *s)
{
	struct vio_rng_read *rd = s->head;

	s->head = rd->next_;
	if (!s->head)
		s->tail = NULL;
	rd->next_ = NULL;
	s->want -= rd->len - rd->got;
}

/* Completes every queued read with err. */
static void fail_reads(struct rng_state *s, int err)
{
	while (s->head) {
		struct vio_rng_read *rd = s->head;

		read_unlink_head(s);
		rd->done(rd, err);
	}
}

/* Hands len random bytes to the waiting reads, oldest first. Bytes no
 * read wants are dropped. */
static void credit(struct rng_state *s, const uint8_t *p, size_t len)
{
	while (len && s->head) {
		struct vio_rng_read *rd = s->head;
		size_t take = rd->len - rd->got < len ? rd->len - rd->got : len;

		memcpy((uint8_t *)rd->buf + rd->got, p, take);
		rd->got += take;
		s->want -= take;
		p += take;
		len -= take;
		if (rd->got == rd->len) {
			read_unlink_head(s);
			rd->done(rd, 0);
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */

/* Posts `ask` bytes of slot req as up to s->segs segments. false when the
 * ring has no room now. */
static bool post(struct rng_state *s, struct rng_req *req, uint32_t ask)
{
	unsigned n = ask < s->segs ? ask : s->segs;
	uint32_t each = ask / n, off = 0;
	int r;

	for (unsigned i = 0; i < n; i++) {
		s->sg[i].addr = req->dma + off;
		s->sg[i].len = i + 1 < n ? each : ask - off;
		off += each;
	}
	r = vio_drvq_add(&s->vq.q, NULL, 0, s->sg, n, req);
	if (r == -ENOSPC)
		return false;
	if (r < 0) {
		s->err = -EIO;
		return false;
	}
	req->asked = ask;
	s->inflight += ask;
	return true;
}

static struct rng_req *free_req(struct rng_state *s)
{
	for (unsigned k = 0; k < s->nreqs; k++) {
		struct rng_req *req = &s->reqs[(s->cursor + k) % s->nreqs];

		if (req->asked == 0) {
			s->cursor = (unsigned)(req - s->reqs + 1) % s->nreqs;
			return req;
		}
	}
	return NULL;
}

/* Posts requests while the reads want more than is in flight. Returns
 * whether anything was posted. */
static bool refill(struct rng_state *s)
{
	bool added = false;

	while (!s->stall && !s->err && s->want > s->inflight) {
		struct rng_req *req = free_req(s);
		uint64_t need = s->want - s->inflight;

		if (!req || !post(s, req, need < s->buf_bytes ? (uint32_t)need : s->buf_bytes))
			break;
		added = true;
	}
	return added;
}

static void complete_req(struct rng_state *s, struct rng_req *req, uint32_t len)
{
	s->inflight -= req->asked;
	req->asked = 0;
	if (len == 0)
		s->stall = true; /* the device MUST write a byte; do not spin */
	credit(s, req->buf, len);
}

/* Reaps every used request, leaving callbacks enabled. */
static void used_cb(void *opaque, void *token, uint32_t len)
{
	complete_req(opaque, token, len);
}

static void reap(struct rng_state *s)
{
	if (vio_drv_vq_reap(&s->vq, used_cb, s))
		s->err = -EIO;
}

static void service(struct rng_state *s)
{
	if (s->busy) {
		s->again = true;
		return;
	}
	s->busy = true;
	s->stall = false;
	do {
		s->again = false;
		reap(s);
		if (refill(s))
			vio_drv_vq_kick(&s->vq);
	} while (s->again && !s->err);
	if (s->err)
		fail_reads(s, s->err);
	s->busy = false;
}

static void rng_vq_callback(struct vio_drv_vq *vq)
{
	service(vq->priv);
}

/* ------------------------------------------------------------------------ */
/* Probe and remove                                                         */

static void free_state(struct vio_drv_device *dev, struct rng_state *s)
{
	vio_drv_dma_free(dev, s->bounce, s->bounce_len);
	vio_drv_priv_free(dev, s->reqs, sizeof(*s->reqs) * s->nreqs);
	vio_drv_priv_free(dev, s->sg, sizeof(*s->sg) * s->segs);
	vio_drv_priv_free(dev, s, sizeof(*s));
}

static int rng_probe(struct vio_drv_device *dev)
{
	const struct vio_rng_driver *d =
		(const void *)((const char *)dev->driver - offsetof(struct vio_rng_driver, drv));
	const struct vio_rng_drv_opts *o = &d->opts;
	struct vio_drv_vq_info info = { .callback = rng_vq_callback, .size = o->queue_size };
	struct rng_state *s = vio_drv_priv_alloc(dev, sizeof(*s));
	unsigned qsize;
	int r;

	if (!s)
		return -ENOMEM;
	s->dev = dev;
	s->buf_bytes = o->buf_bytes ? o->buf_bytes : DEFAULT_BUF_BYTES;
	s->segs = o->segs ? o->segs : 1;
	if (s->segs > s->buf_bytes)
		s->segs = s->buf_bytes;
	info.indirect_max = s->segs > 1 ? s->segs : 0;
	r = vio_drv_find_vqs(dev, 1, &info, &s->vq);
	if (r) {
		vio_drv_priv_free(dev, s, sizeof(*s));
		return r;
	}
	s->vq.priv = s;
	qsize = s->vq.q.size;
	if (s->segs > qsize)
		s->segs = qsize;
	s->nreqs = o->bufs ? o->bufs : DEFAULT_BUFS;
	if (s->nreqs > qsize)
		s->nreqs = qsize;
	/* Fits 64 bits (queue size times a 32-bit option); not always size_t. */
	if (__builtin_mul_overflow((size_t)s->nreqs, (size_t)s->buf_bytes, &s->bounce_len)) {
		vio_drv_reset(dev);
		vio_drv_del_vqs(dev);
		vio_drv_priv_free(dev, s, sizeof(*s));
		return -ENOMEM;
	}
	s->bounce = vio_drv_dma_alloc(dev, s->bounce_len, 64, &s->bounce_dma);
	s->reqs = vio_drv_priv_alloc(dev, sizeof(*s->reqs) * s->nreqs);
	s->sg = vio_drv_priv_alloc(dev, sizeof(*s->sg) * s->segs);
	if (!s->bounce || !s->reqs || !s->sg) {
		vio_drv_reset(dev);
		vio_drv_del_vqs(dev);
		free_state(dev, s);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < s->nreqs; i++) {
		s->reqs[i].buf = s->bounce + (size_t)i * s->buf_bytes;
		s->reqs[i].dma = s->bounce_dma + (uint64_t)i * s->buf_bytes;
	}
	dev->priv = s;
	return 0;
}

static void rng_remove(struct vio_drv_device *dev)
{
	struct rng_state *s = dev->priv;

	vio_drv_reset(dev);
	while (vio_drvq_detach_unused(&s->vq.q))
		;
	dev->priv = NULL;
	fail_reads(s, -ECANCELED);
	vio_drv_del_vqs(dev);
	free_state(dev, s);
}

int vio_rng_drv_register(struct vio_bus *bus, struct vio_rng_driver *d,
			 const struct vio_rng_drv_opts *opts)
{
	uint64_t off;

	memset(d, 0, sizeof(*d));
	if (opts)
		d->opts = *opts;
	off = d->opts.features_off;
	/* Without VERSION_1 the 1.x-only ring features cannot be had either. */
	if (off & VIO_BIT(VIO_F_VERSION_1))
		off |= VIO_BIT(VIO_F_RING_PACKED) | VIO_BIT(VIO_F_IN_ORDER);
	d->ids_[0] = VIO_ID_RNG;
	d->drv.name = "vio-rng";
	d->drv.ids = d->ids_;
	d->drv.features = (VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_RING_PACKED) |
			   VIO_BIT(VIO_F_IN_ORDER) | DRIVER_RING_FEATURES) & ~off;
	d->drv.legacy_features = DRIVER_RING_FEATURES & ~off;
	d->drv.probe = rng_probe;
	d->drv.remove = rng_remove;
	return vio_bus_register_driver(bus, &d->drv);
}

void vio_rng_drv_unregister(struct vio_bus *bus, struct vio_rng_driver *d)
{
	vio_bus_unregister_driver(bus, &d->drv);
}

/* ------------------------------------------------------------------------ */
/* Public calls                                                             */

int vio_rng_drv_read_async(struct vio_drv_device *dev, struct vio_rng_read *rd)
{
	struct rng_state *s = state_of(dev);

	if (!s)
		return -ENODEV;
	if (!rd || !rd->buf || !rd->len || !rd->done)
		return -EINVAL;
	if (s->err)
		return s->err;
	rd->got = 0;
	rd->next_ = NULL;
	if (s->tail)
		s->tail->next_ = rd;
	else
		s->head = rd;
	s->tail = rd;
	s->want += rd->len;
	service(s);
	return 0;
}

bool vio_rng_drv_cancel(struct vio_drv_device *dev, struct vio_rng_read *rd)
{
	struct rng_state *s = state_of(dev);
	struct vio_rng_read **pp, *prev = NULL;

	if (!s)
		return false;
	for (pp = &s->head; *pp; prev = *pp, pp = &(*pp)->next_) {
		if (*pp != rd)
			continue;
		*pp = rd->next_;
		if (s->tail == rd)
			s->tail = prev;
		rd->next_ = NULL;
		s->want -= rd->len - rd->got;
		return true;
	}
	return false;
}

void vio_rng_drv_poll(struct vio_drv_device *dev)
{
	struct rng_state *s = state_of(dev);

	if (s)
		service(s);
}

struct sync_read {
	bool done;
	int err;
};

static void sync_done(struct vio_rng_read *rd, int err)
{
	struct sync_read *sr = rd->opaque;

	sr->done = true;
	sr->err = err;
}

ssize_t vio_rng_drv_read(struct vio_drv_device *dev, void *buf, size_t n, int timeout_ms)
{
	struct sync_read sr = { false, 0 };
	struct vio_rng_read rd = { .buf = buf, .len = n, .done = sync_done, .opaque = &sr };
	struct vio_drv_deadline dl;
	int r;

	if (n == 0)
		return 0;
	r = vio_rng_drv_read_async(dev, &rd);
	if (r < 0)
		return r;
	vio_drv_deadline_start(dev, &dl, timeout_ms);
	/* Even with timeout 0, look once for what the device has done. */
	while (!sr.done) {
		(void)vio_drv_deadline_wait(dev, &dl, -1);
		vio_rng_drv_poll(dev);
		if (vio_drv_deadline_passed(dev, &dl))
			break;
	}
	if (!sr.done)
		vio_rng_drv_cancel(dev, &rd);
	if (rd.got)
		return (ssize_t)rd.got;
	if (sr.done)
		return sr.err;
	return timeout_ms == 0 ? -EAGAIN : -ETIMEDOUT;
}
