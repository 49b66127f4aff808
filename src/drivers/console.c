/*
 * console.c - the console driver (see vio/drivers/console.h for the
 * contract).
 *
 * Every buffer is preallocated at probe from one DMA block: the receive
 * buffers first, then the transmit buffers. A receive buffer is always in
 * exactly one place: posted to the device, on the `ready` FIFO (filled,
 * not fully read), or on the `repost` list (read, waiting to be posted
 * again). A transmit buffer is either posted or on the free list.
 *
 * service() is the one place that reaps and reposts, and it may be
 * entered again from inside itself (over a synchronous transport a kick
 * runs the device and its interrupt runs our callback before the kick
 * returns): the nested call only sets `again` and the outer loop does the
 * work. on_input is called outside that loop, so it can read and write.
 */
#include <stddef.h>

#include "vio/drivers.h"

#include "../vio_libc.h"

#define DEFAULT_BUF_BYTES 4096u
#define DEFAULT_BUFS 16u

#define RX VIO_CONSOLE_QUEUE_RX
#define TX VIO_CONSOLE_QUEUE_TX

#define DRIVER_RING_FEATURES (VIO_BIT(VIO_F_INDIRECT_DESC) | VIO_BIT(VIO_F_EVENT_IDX) | \
			      VIO_BIT(VIO_F_NOTIFY_ON_EMPTY) | VIO_BIT(VIO_F_ANY_LAYOUT) | \
			      VIO_BIT(VIO_CONSOLE_F_SIZE) | VIO_BIT(VIO_CONSOLE_F_EMERG_WRITE))

struct con_buf {
	uint8_t *p;
	uint64_t dma;
	uint32_t len;           /* rx: bytes the device wrote */
	uint32_t off;           /* rx: bytes already read */
	struct con_buf *next;   /* on ready, repost or the tx free list */
};

struct con_state {
	struct vio_drv_device *dev;
	struct vio_drv_vq vqs[2];
	uint32_t rx_bytes, tx_bytes;
	unsigned nrx, ntx, segs;
	uint8_t *mem;
	uint64_t mem_dma;
	size_t mem_len;
	struct con_buf *bufs;   /* nrx receive, then ntx transmit */
	struct vio_sg *sg;
	struct con_buf *ready, *ready_tail;
	struct con_buf *repost;
	struct con_buf *tx_free;
	unsigned tx_posted;
	size_t readable;
	void (*on_input)(struct vio_drv_device *dev, void *opaque);
	void *opaque;
	bool busy, again;
	bool stall;             /* an empty receive completion: no reposting
				 * until the next service() call */
	bool new_input;
	int err;                /* sticky: -EIO once a ring is broken */
};

static int con_probe(struct vio_drv_device *dev);

static struct con_state *state_of(struct vio_drv_device *dev)
{
	/* dev->priv belongs to whichever driver is bound: make sure it is us. */
	if (!dev || !dev->driver || dev->driver->probe != con_probe)
		return NULL;
	return dev->priv;
}

/* ------------------------------------------------------------------------ */
/* Buffers                                                                  */

/* Posts len bytes of b to queue qi as up to s->segs segments, readable
 * (transmit) or writable (receive). 0, -ENOSPC (no room now) or -EIO. */
static int post(struct con_state *s, unsigned qi, struct con_buf *b, uint32_t len)
{
	unsigned n = len < s->segs ? len : s->segs;
	uint32_t each = len / n, off = 0;
	int r;

	for (unsigned i = 0; i < n; i++) {
		s->sg[i].addr = b->dma + off;
		s->sg[i].len = i + 1 < n ? each : len - off;
		off += each;
	}
	if (qi == TX)
		r = vio_drvq_add(&s->vqs[TX].q, s->sg, n, NULL, 0, b);
	else
		r = vio_drvq_add(&s->vqs[RX].q, NULL, 0, s->sg, n, b);
	if (r == -ENOSPC)
		return r;
	if (r < 0)
		s->err = -EIO;
	return r < 0 ? -EIO : 0;
}

/* Posts the receive buffers that were read empty. Returns whether any. */
static bool post_rx(struct con_state *s)
{
	bool added = false;

	while (s->repost && !s->stall && !s->err) {
		struct con_buf *b = s->repost;

		if (post(s, RX, b, s->rx_bytes))
			break;
		s->repost = b->next;
		added = true;
	}
	return added;
}

static void rx_used(struct con_state *s, struct con_buf *b, uint32_t len)
{
	if (len == 0) {
		/* Nothing arrived (the device gave the buffer back empty):
		 * post it again, but not in this round, or a device that
		 * always does so would keep us spinning. */
		s->stall = true;
		b->next = s->repost;
		s->repost = b;
		return;
	}
	b->len = len;
	b->off = 0;
	b->next = NULL;
	if (s->ready_tail)
		s->ready_tail->next = b;
	else
		s->ready = b;
	s->ready_tail = b;
	s->readable += len;
	s->new_input = true;
}

static void tx_used(struct con_state *s, struct con_buf *b)
{
	b->next = s->tx_free;
	s->tx_free = b;
	s->tx_posted--;
}

static void rx_used_cb(void *opaque, void *token, uint32_t len)
{
	rx_used(opaque, token, len);
}

static void tx_used_cb(void *opaque, void *token, uint32_t len)
{
	(void)len;
	tx_used(opaque, token);
}

/* Reaps every used buffer of queue qi, leaving callbacks enabled. */
static void reap(struct con_state *s, unsigned qi)
{
	if (vio_drv_vq_reap(&s->vqs[qi], qi == RX ? rx_used_cb : tx_used_cb, s))
		s->err = -EIO;
}

static void service(struct con_state *s)
{
	if (s->busy) {
		s->again = true;
		return;
	}
	s->busy = true;
	s->stall = false;
	do {
		s->again = false;
		reap(s, RX);
		reap(s, TX);
		if (post_rx(s))
			vio_drv_vq_kick(&s->vqs[RX]);
	} while (s->again && !s->err);
	s->busy = false;
	if (s->new_input && s->on_input) {
		s->new_input = false;
		s->on_input(s->dev, s->opaque);
	}
}

static void con_vq_callback(struct vio_drv_vq *vq)
{
	service(vq->priv);
}

/* ------------------------------------------------------------------------ */
/* Probe and remove                                                         */

static void free_state(struct vio_drv_device *dev, struct con_state *s)
{
	vio_drv_dma_free(dev, s->mem, s->mem_len);
	vio_drv_priv_free(dev, s->bufs, sizeof(*s->bufs) * (s->nrx + s->ntx));
	vio_drv_priv_free(dev, s->sg, sizeof(*s->sg) * s->segs);
	vio_drv_priv_free(dev, s, sizeof(*s));
}

static unsigned cap(unsigned v, unsigned dflt, unsigned max)
{
	if (v == 0)
		v = dflt;
	return v < max ? v : max;
}

/* Carves the DMA block into buffers: receive ones go to the repost list
 * (posted by the first service()), transmit ones to the free list. */
static void carve(struct con_state *s)
{
	size_t off = 0;

	for (unsigned i = 0; i < s->nrx + s->ntx; i++) {
		struct con_buf *b = &s->bufs[i];
		const bool rx = i < s->nrx;

		b->p = s->mem + off;
		b->dma = s->mem_dma + off;
		off += rx ? s->rx_bytes : s->tx_bytes;
		if (rx) {
			b->next = s->repost;
			s->repost = b;
		} else {
			b->next = s->tx_free;
			s->tx_free = b;
		}
	}
}

static int con_probe(struct vio_drv_device *dev)
{
	const size_t off = offsetof(struct vio_console_driver, drv);
	const struct vio_console_driver *d = (const void *)((const char *)dev->driver - off);
	const struct vio_console_drv_opts *o = &d->opts;
	struct vio_drv_vq_info info[2] = {
		{ .callback = con_vq_callback, .size = o->queue_size,
		  .len_policy = VIO_LEN_BROKEN },
		/* Legacy devices may report the whole buffer as "used". */
		{ .callback = con_vq_callback, .size = o->queue_size,
		  .len_policy = VIO_LEN_CLAMP },
	};
	struct con_state *s = vio_drv_priv_alloc(dev, sizeof(*s));
	size_t rx_len, tx_len;
	unsigned qmin;
	int r;

	if (!s)
		return -ENOMEM;
	s->dev = dev;
	s->on_input = o->on_input;
	s->opaque = o->opaque;
	s->rx_bytes = o->rx_buf_bytes ? o->rx_buf_bytes : DEFAULT_BUF_BYTES;
	s->tx_bytes = o->tx_buf_bytes ? o->tx_buf_bytes : DEFAULT_BUF_BYTES;
	s->segs = cap(o->segs, 1, s->rx_bytes < s->tx_bytes ? s->rx_bytes : s->tx_bytes);
	info[0].indirect_max = info[1].indirect_max = s->segs > 1 ? s->segs : 0;
	r = vio_drv_find_vqs(dev, 2, info, s->vqs);
	if (r) {
		vio_drv_priv_free(dev, s, sizeof(*s));
		return r;
	}
	s->vqs[RX].priv = s->vqs[TX].priv = s;
	qmin = s->vqs[RX].q.size < s->vqs[TX].q.size ? s->vqs[RX].q.size : s->vqs[TX].q.size;
	s->segs = cap(s->segs, 1, qmin);
	s->nrx = cap(o->rx_bufs, DEFAULT_BUFS, s->vqs[RX].q.size);
	s->ntx = cap(o->tx_bufs, DEFAULT_BUFS, s->vqs[TX].q.size);
	/* Options times queue sizes: fits 64 bits, checked for a 32-bit size_t. */
	if (__builtin_mul_overflow((size_t)s->nrx, (size_t)s->rx_bytes, &rx_len) ||
	    __builtin_mul_overflow((size_t)s->ntx, (size_t)s->tx_bytes, &tx_len) ||
	    __builtin_add_overflow(rx_len, tx_len, &s->mem_len)) {
		vio_drv_reset(dev);
		vio_drv_del_vqs(dev);
		vio_drv_priv_free(dev, s, sizeof(*s));
		return -ENOMEM;
	}
	s->mem = vio_drv_dma_alloc(dev, s->mem_len, 64, &s->mem_dma);
	s->bufs = vio_drv_priv_alloc(dev, sizeof(*s->bufs) * (s->nrx + s->ntx));
	s->sg = vio_drv_priv_alloc(dev, sizeof(*s->sg) * s->segs);
	if (!s->mem || !s->bufs || !s->sg) {
		vio_drv_reset(dev);
		vio_drv_del_vqs(dev);
		free_state(dev, s);
		return -ENOMEM;
	}
	carve(s);
	dev->priv = s;
	/* DRIVER_OK first, so that the kick for the receive buffers reaches
	 * a live device (5.3.4: the receiveq is populated at init). */
	vio_drv_ready(dev);
	service(s);
	return 0;
}

static void con_remove(struct vio_drv_device *dev)
{
	struct con_state *s = dev->priv;

	vio_drv_reset(dev);
	for (unsigned qi = 0; qi < 2; qi++)
		while (vio_drvq_detach_unused(&s->vqs[qi].q))
			;
	dev->priv = NULL;
	vio_drv_del_vqs(dev);
	free_state(dev, s);
}

int vio_console_drv_register(struct vio_bus *bus, struct vio_console_driver *d,
			     const struct vio_console_drv_opts *opts)
{
	uint64_t off;

	memset(d, 0, sizeof(*d));
	if (opts)
		d->opts = *opts;
	off = d->opts.features_off;
	/* Without VERSION_1 the 1.x-only ring features cannot be had either. */
	if (off & VIO_BIT(VIO_F_VERSION_1))
		off |= VIO_BIT(VIO_F_RING_PACKED) | VIO_BIT(VIO_F_IN_ORDER);
	d->ids_[0] = VIO_ID_CONSOLE;
	d->drv.name = "vio-console";
	d->drv.ids = d->ids_;
	d->drv.features = (VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_RING_PACKED) |
			   VIO_BIT(VIO_F_IN_ORDER) | DRIVER_RING_FEATURES) & ~off;
	d->drv.legacy_features = DRIVER_RING_FEATURES & ~off;
	d->drv.probe = con_probe;
	d->drv.remove = con_remove;
	return vio_bus_register_driver(bus, &d->drv);
}

void vio_console_drv_unregister(struct vio_bus *bus, struct vio_console_driver *d)
{
	vio_bus_unregister_driver(bus, &d->drv);
}

/* ------------------------------------------------------------------------ */
/* Public calls                                                             */

void vio_console_drv_poll(struct vio_drv_device *dev)
{
	struct con_state *s = state_of(dev);

	if (s)
		service(s);
}

/* Waits once for the device; false when the deadline has passed. */
static bool wait_step(struct con_state *s, struct vio_drv_deadline *dl)
{
	if (vio_drv_deadline_passed(s->dev, dl))
		return false;
	(void)vio_drv_deadline_wait(s->dev, dl, -1);
	service(s);
	return true;
}

/* Copies as many bytes as fit in one free transmit buffer and posts it.
 * Returns the bytes taken, 0 when no buffer or ring room is free now. */
static size_t tx_one(struct con_state *s, const uint8_t *p, size_t n)
{
	struct con_buf *b = s->tx_free;
	uint32_t chunk = n < s->tx_bytes ? (uint32_t)n : s->tx_bytes;

	if (!b || s->err)
		return 0;
	memcpy(b->p, p, chunk);
	if (post(s, TX, b, chunk))
		return 0;
	s->tx_free = b->next;
	s->tx_posted++;
	return chunk;
}

ssize_t vio_console_drv_write(struct vio_drv_device *dev, const void *buf, size_t n, int timeout_ms)
{
	struct con_state *s = state_of(dev);
	struct vio_drv_deadline dl;
	size_t done = 0;

	if (!s)
		return -ENODEV;
	vio_drv_deadline_start(dev, &dl, timeout_ms);
	service(s);
	while (done < n && !s->err) {
		size_t took = 0, k;

		while (done < n && (k = tx_one(s, (const uint8_t *)buf + done, n - done)) > 0) {
			done += k;
			took += k;
		}
		if (took)
			vio_drv_vq_kick(&s->vqs[TX]);
		if (done < n && !wait_step(s, &dl))
			break;
	}
	if (done || n == 0)
		return (ssize_t)done;
	if (s->err)
		return s->err;
	return timeout_ms == 0 ? -EAGAIN : -ETIMEDOUT;
}

int vio_console_drv_flush(struct vio_drv_device *dev, int timeout_ms)
{
	struct con_state *s = state_of(dev);
	struct vio_drv_deadline dl;

	if (!s)
		return -ENODEV;
	vio_drv_deadline_start(dev, &dl, timeout_ms);
	service(s);
	while (s->tx_posted && !s->err) {
		if (!wait_step(s, &dl))
			return -ETIMEDOUT;
	}
	return s->err;
}

/* Copies up to n buffered bytes out; emptied buffers go to be reposted. */
static size_t take_input(struct con_state *s, uint8_t *p, size_t n)
{
	size_t done = 0;

	while (done < n && s->ready) {
		struct con_buf *b = s->ready;
		size_t k = b->len - b->off < n - done ? b->len - b->off : n - done;

		memcpy(p + done, b->p + b->off, k);
		b->off += (uint32_t)k;
		done += k;
		if (b->off == b->len) {
			s->ready = b->next;
			if (!s->ready)
				s->ready_tail = NULL;
			b->next = s->repost;
			s->repost = b;
		}
	}
	s->readable -= done;
	return done;
}

ssize_t vio_console_drv_read(struct vio_drv_device *dev, void *buf, size_t n, int timeout_ms)
{
	struct con_state *s = state_of(dev);
	struct vio_drv_deadline dl;
	size_t got;

	if (!s)
		return -ENODEV;
	if (n == 0)
		return 0;
	vio_drv_deadline_start(dev, &dl, timeout_ms);
	service(s);
	while (!s->readable && !s->err) {
		if (!wait_step(s, &dl))
			return timeout_ms == 0 ? -EAGAIN : -ETIMEDOUT;
	}
	if (!s->readable)
		return s->err;
	got = take_input(s, buf, n);
	service(s); /* post the emptied buffers */
	return (ssize_t)got;
}

size_t vio_console_drv_readable(struct vio_drv_device *dev)
{
	struct con_state *s = state_of(dev);

	return s ? s->readable : 0;
}

int vio_console_drv_emerg_write(struct vio_drv_device *dev, uint8_t ch)
{
	vio_le32 v = vio_set32(dev->legacy, ch);

	if (dev->id != VIO_ID_CONSOLE || !vio_drv_has_feature(dev, VIO_CONSOLE_F_EMERG_WRITE))
		return -ENOTSUP;
	return vio_drv_config_write(dev, offsetof(struct vio_console_config, emerg_wr), &v,
				    sizeof(v));
}

int vio_console_drv_get_size(struct vio_drv_device *dev, uint16_t *cols, uint16_t *rows)
{
	struct { vio_le16 rows, cols; } sz;
	int r;

	if (dev->id != VIO_ID_CONSOLE || !vio_drv_has_feature(dev, VIO_CONSOLE_F_SIZE))
		return -ENOTSUP;
	/* One read of both, so they come from the same config generation. */
	r = vio_drv_config_read(dev, offsetof(struct vio_console_config, rows), &sz, sizeof(sz));
	if (r)
		return r;
	*rows = vio_get16(dev->legacy, sz.rows);
	*cols = vio_get16(dev->legacy, sz.cols);
	return 0;
}
