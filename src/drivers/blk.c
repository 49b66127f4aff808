/*
 * blk.c - the virtio block driver (see vio/drivers/blk.h).
 *
 * Written only against the driver model: probe reads config through
 * vio_drv_config_read(), sets up queues with vio_drv_find_vqs() and takes DMA
 * memory with vio_drv_dma_alloc(). Each queue has one request slot per ring
 * entry; a slot's header, discard ranges (or id string) and status byte
 * sit in one DMA block allocated at probe, and its bookkeeping (callback,
 * free-list link) in private memory the device cannot reach.
 *
 * The status byte is set to a value no device returns before a request is
 * posted, so a device that hands a request back without writing a status
 * is noticed (-EIO) rather than taken for success.
 *
 * Everything a request changes lives in its queue (struct blk_q, counters
 * included), and struct blk_drv is only read while I/O runs: that is what
 * lets threads that each own queues use the per-queue calls without a lock.
 */
#include <stdarg.h>
#include <stddef.h>

#include "vio/drivers.h"

#include "../vio_libc.h"

#define HDR_BYTES   ((uint32_t)sizeof(struct vio_blk_req_hdr))
#define RANGE_BYTES ((uint32_t)sizeof(struct vio_blk_discard_write_zeroes))

/* A slot's DMA block: header, payload (ranges or id), status byte, each
 * starting a cache line of its own. The driver writes the header and the
 * device the status: were they to share a line with each other or with a
 * neighbouring slot's, the two cpus would pass that line back and forth
 * on every request (measured: 3% more IOPS once separated). Slots are
 * 64-byte aligned (the DMA block is). */
#define CACHE_LINE     64u
#define LINE_UP(n)     (((n) + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE)
#define SLOT_PAYLOAD   LINE_UP(HDR_BYTES)
#define SLOT_STATUS    LINE_UP(SLOT_PAYLOAD + VIO_BLK_DRV_MAX_RANGES * RANGE_BYTES)
#define SLOT_BYTES     (SLOT_STATUS + CACHE_LINE)

/* No device writes this: "the device has not answered". */
#define STATUS_NONE    0xffu

/* Largest IN/OUT request, whatever the device allows. */
#define MAX_TRANSFER   (UINT32_C(1) << 30)
#define SIZE_MAX_FLOOR 4096u   /* smallest segment limit honoured, as Linux's page */

/* Largest capacity taken: one whose byte count fits 64 bits. */
#define MAX_CAPACITY   (UINT64_MAX >> VIO_BLK_SECTOR_SHIFT)
/* Largest blk_size taken: Linux's BLK_MAX_BLOCK_SIZE (64 KiB; PAGE_SIZE
 * before large block sizes). The protocol's unit stays 512 bytes. */
#define MAX_BLK_SIZE   65536u

#define DRV_BLK_FEATURES (VIO_BIT(VIO_BLK_F_SIZE_MAX) | VIO_BIT(VIO_BLK_F_SEG_MAX) | \
			  VIO_BIT(VIO_BLK_F_GEOMETRY) | VIO_BIT(VIO_BLK_F_RO) | \
			  VIO_BIT(VIO_BLK_F_BLK_SIZE) | VIO_BIT(VIO_BLK_F_FLUSH) | \
			  VIO_BIT(VIO_BLK_F_TOPOLOGY) | VIO_BIT(VIO_BLK_F_CONFIG_WCE) | \
			  VIO_BIT(VIO_BLK_F_MQ) | VIO_BIT(VIO_BLK_F_DISCARD) | \
			  VIO_BIT(VIO_BLK_F_WRITE_ZEROES))
#define DRV_RING_FEATURES (VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_INDIRECT_DESC) | \
			   VIO_BIT(VIO_F_EVENT_IDX) | VIO_BIT(VIO_F_RING_PACKED) | \
			   VIO_BIT(VIO_F_IN_ORDER) | VIO_BIT(VIO_F_RING_RESET))
#define DRV_LEGACY_RING_FEATURES (VIO_BIT(VIO_F_INDIRECT_DESC) | VIO_BIT(VIO_F_EVENT_IDX) | \
				  VIO_BIT(VIO_F_ANY_LAYOUT))

/* Private state of one request slot. */
struct slot {
	void (*done)(void *opaque, int err);    /* NULL: abandoned or free */
	void *opaque;
	void *id_dst;           /* GET_ID: where the string goes */
	uint32_t type;
	uint16_t next_free;
	bool busy;
	bool back;              /* handed back by a queue reset, result in `err` */
	int err;
};

struct blk_q {
	struct vio_drv_vq *vq;
	struct slot *slots;
	unsigned nslots;
	unsigned nfree;
	uint16_t free_head;
	bool kick_due;          /* requests posted since the last kick */
	unsigned nback;         /* slots a queue reset handed back, to complete */
	unsigned inflight;
	uint64_t completed;     /* free-running: lets wait() count callbacks */
	uint8_t *dma;           /* nslots * SLOT_BYTES */
	uint64_t dma_addr;
	size_t dma_len;
};

struct blk_drv {
	struct vio_drv_device *dev;
	struct vio_blk_drv_opts opts;
	bool dead;              /* aborted: refuse new requests */
	unsigned nq;
	uint64_t capacity;
	uint32_t blk_size;
	uint32_t max_segs;      /* data segments per request */
	uint32_t seg_bytes;     /* bytes per data segment */
	uint32_t max_transfer;
	uint32_t max_discard_sectors, max_discard_ranges;
	uint32_t max_wz_sectors, max_wz_ranges;
	struct vio_drv_vq vqs[VIO_BLK_DRV_MAX_QUEUES];
	struct blk_q qs[VIO_BLK_DRV_MAX_QUEUES];
};

static int blk_probe(struct vio_drv_device *dev);

static struct blk_drv *drv_of(struct vio_drv_device *dev)
{
	/* dev->priv is ours only while our driver is the one bound. */
	if (!dev || !dev->driver || dev->driver->probe != blk_probe)
		return NULL;
	return dev->priv;
}

static void blk_logf(struct vio_drv_device *dev, enum vio_log_level level, const char *fmt, ...)
	VIO_PRINTF(3, 4);

/* "virtio0: virtio_blk: ..." through the bus's log callback. */
static void blk_logf(struct vio_drv_device *dev, enum vio_log_level level, const char *fmt, ...)
{
	char prefix[sizeof(dev->name) + sizeof(": virtio_blk: ")];
	va_list ap;

	if (!dev->bus || !dev->bus->log)
		return;
	vio_format(prefix, sizeof(prefix), "%s: virtio_blk: ", dev->name);
	va_start(ap, fmt);
	vio_vlogf(dev->bus->log, dev->bus->log_opaque, level, prefix, fmt, ap);
	va_end(ap);
}

static uint8_t *slot_dma(struct blk_q *q, unsigned i)
{
	return q->dma + (size_t)i * SLOT_BYTES;
}

static uint64_t slot_addr(struct blk_q *q, unsigned i, uint32_t off)
{
	return q->dma_addr + (uint64_t)i * SLOT_BYTES + off;
}

static int status_to_err(uint8_t st)
{
	switch (st) {
	case VIO_BLK_S_OK:
		return 0;
	case VIO_BLK_S_UNSUPP:
		return -EOPNOTSUPP;
	default:
		return -EIO; /* IOERR, or no status written at all */
	}
}

/* ------------------------------------------------------------------------ */
/* Completions                                                              */

static void slot_put(struct blk_q *q, struct slot *s)
{
	s->busy = false;
	s->done = NULL;
	s->next_free = q->free_head;
	q->free_head = (uint16_t)(s - q->slots);
	q->nfree++;
}

/* Frees slot s and runs its callback (after freeing, so the callback may
 * submit again). */
static void complete(struct blk_q *q, struct slot *s, int err)
{
	void (*done)(void *, int) = s->done;
	void *opaque = s->opaque;

	slot_put(q, s);
	q->inflight--;
	q->completed++;
	if (done)
		done(opaque, err);
}

/* The slot a token names, or NULL if it is not one of q's busy slots.
 * Tokens come back from the ring's private shadow, so this only guards
 * against our own mistakes. */
static struct slot *token_slot(struct blk_q *q, void *token)
{
	const uintptr_t t = (uintptr_t)token, base = (uintptr_t)q->slots;
	struct slot *s;

	if (t < base || t - base >= q->nslots * sizeof(*s) || (t - base) % sizeof(*s))
		return NULL;
	s = token;
	return s->busy ? s : NULL;
}

/* Completions taken from the ring before their status bytes are read. */
#define REAP_BATCH 32u

/* Completes what the device has returned on q; the number completed. The
 * used entries are taken a batch at a time and each status line asked for
 * as its slot is known: those are lines the device's cpu just wrote, and
 * fetching them together overlaps the trips. A callback may post, or
 * reap again (a synchronous transport): the batch's slots stay busy until
 * each is completed, so nothing is completed twice. */
static int reap_queue(struct blk_q *q)
{
	struct slot *batch[REAP_BATCH];
	void *token;
	uint32_t len;
	unsigned k;
	int n = 0;

	do {
		k = 0;
		while (k < REAP_BATCH && vio_drvq_get_buf(&q->vq->q, &token, &len) == 0) {
			struct slot *s = token_slot(q, token);

			if (!s)
				continue;
			__builtin_prefetch(slot_dma(q, (unsigned)(s - q->slots)) + SLOT_STATUS);
			batch[k++] = s;
		}
		for (unsigned j = 0; j < k; j++) {
			struct slot *s = batch[j];
			const unsigned i = (unsigned)(s - q->slots);
			const uint8_t st = slot_dma(q, i)[SLOT_STATUS];

			/* The used length is not trusted (legacy devices got
			 * it wrong): the status byte is what counts. */
			if (st == VIO_BLK_S_OK && s->type == VIO_BLK_T_GET_ID && s->id_dst)
				memcpy(s->id_dst, slot_dma(q, i) + SLOT_PAYLOAD, VIO_BLK_ID_BYTES);
			complete(q, s, status_to_err(st));
		}
		n += (int)k;
	} while (k == REAP_BATCH);
	return n;
}

static void vq_done(struct vio_drv_vq *vq)
{
	struct blk_drv *bd = vq->priv;

	if (bd && vq->index < bd->nq)
		reap_queue(&bd->qs[vq->index]);
}

int vio_blk_drv_poll(struct vio_drv_device *dev)
{
	struct blk_drv *bd = drv_of(dev);
	int n = 0;

	if (!bd)
		return 0;
	for (unsigned i = 0; i < bd->nq; i++)
		n += reap_queue(&bd->qs[i]);
	return n;
}

int vio_blk_drv_poll_queue(struct vio_drv_device *dev, unsigned qi)
{
	struct blk_drv *bd = drv_of(dev);
	int n;

	if (!bd)
		return -ENODEV;
	if (qi >= bd->nq)
		return -EINVAL;
	n = reap_queue(&bd->qs[qi]);
	/* A broken queue never completes anything again: say so, or a
	 * poller would spin on it forever. */
	if (n == 0 && vio_drvq_is_broken(&bd->qs[qi].vq->q))
		return -EIO;
	return n;
}

/* ------------------------------------------------------------------------ */
/* Building requests                                                        */

static bool range_ok(const struct blk_drv *bd, uint64_t sector, uint64_t nsectors)
{
	return sector <= bd->capacity && nsectors <= bd->capacity - sector;
}

/* The device address of [buf, buf + len), which must be one DMA range. */
static int dma_range(struct vio_drv_device *dev, const void *buf, size_t len, uint64_t *addr)
{
	uint64_t a = vio_drv_dma_addr(dev, buf), z;

	if (a == UINT64_MAX)
		return -EFAULT;
	z = vio_drv_dma_addr(dev, (const uint8_t *)buf + len - 1);
	if (z == UINT64_MAX || z - a != len - 1)
		return -EFAULT;
	*addr = a;
	return 0;
}

/* Segments of the data, each at most seg_bytes. */
static unsigned data_sgs(const struct blk_drv *bd, uint64_t addr, size_t len, struct vio_sg *sg)
{
	unsigned n = 0;

	while (len) {
		uint32_t chunk = len < bd->seg_bytes ? (uint32_t)len : bd->seg_bytes;

		sg[n].addr = addr;
		sg[n].len = chunk;
		n++;
		addr += chunk;
		len -= chunk;
	}
	return n;
}

static int check_rw(struct blk_drv *bd, const struct vio_blk_drv_io *io)
{
	if (io->type == VIO_BLK_T_OUT && vio_drv_has_feature(bd->dev, VIO_BLK_F_RO))
		return -EROFS;
	if (!io->buf || io->len == 0 || io->len % VIO_BLK_SECTOR_SIZE || io->len > bd->max_transfer)
		return -EINVAL;
	if (!range_ok(bd, io->sector, io->len >> VIO_BLK_SECTOR_SHIFT))
		return -EINVAL;
	return 0;
}

/* DISCARD / WRITE_ZEROES: ranges of at most the device's sectors each. */
static int fill_ranges(struct blk_drv *bd, const struct vio_blk_drv_io *io, uint8_t *payload,
		       uint32_t *bytes)
{
	const bool discard = io->type == VIO_BLK_T_DISCARD;
	const uint32_t per = discard ? bd->max_discard_sectors : bd->max_wz_sectors;
	const uint32_t max = discard ? bd->max_discard_ranges : bd->max_wz_ranges;
	const bool legacy = bd->dev->legacy;
	uint64_t sector = io->sector, left = io->nsectors;
	unsigned n = 0;

	if (!vio_drv_has_feature(bd->dev, discard ? VIO_BLK_F_DISCARD : VIO_BLK_F_WRITE_ZEROES))
		return -EOPNOTSUPP;
	if (vio_drv_has_feature(bd->dev, VIO_BLK_F_RO))
		return -EROFS;
	/* per >= 1 once the feature is negotiated (read_config). Ranges
	 * needed, rounded up without computing left + per - 1. */
	if (left == 0 || !range_ok(bd, sector, left) || per == 0 ||
	    left / per + (left % per != 0) > max)
		return -EINVAL;
	while (left) {
		struct vio_blk_discard_write_zeroes r;
		uint32_t chunk = left < per ? (uint32_t)left : per;

		r.sector = vio_set64(legacy, sector);
		r.num_sectors = vio_set32(legacy, chunk);
		r.flags = vio_set32(legacy, !discard && io->unmap ? VIO_BLK_WZ_F_UNMAP : 0);
		memcpy(payload + (size_t)n * RANGE_BYTES, &r, sizeof(r));
		n++;
		sector += chunk;
		left -= chunk;
	}
	*bytes = n * RANGE_BYTES;
	return 0;
}

/*
 * Builds the request in slot i and the segment lists: out[] (header,
 * then readable data or ranges) and in[] (writable data or id, then
 * status). Returns 0 or the errno that refuses io.
 */
static int build(struct blk_drv *bd, struct blk_q *q, unsigned i, const struct vio_blk_drv_io *io,
		 struct vio_sg *out, unsigned *nout, struct vio_sg *in, unsigned *nin)
{
	uint8_t *dma = slot_dma(q, i);
	const bool legacy = bd->dev->legacy;
	struct vio_blk_req_hdr hdr = {
		.type = vio_set32(legacy, io->type),
		.sector = vio_set64(legacy, 0),
	};
	uint64_t addr;
	uint32_t bytes;
	int r;

	*nout = 1;
	*nin = 0;
	out[0].addr = slot_addr(q, i, 0);
	out[0].len = HDR_BYTES;
	switch (io->type) {
	case VIO_BLK_T_IN:
	case VIO_BLK_T_OUT:
		r = check_rw(bd, io);
		if (r == 0)
			r = dma_range(bd->dev, io->buf, io->len, &addr);
		if (r)
			return r;
		hdr.sector = vio_set64(legacy, io->sector);
		if (io->type == VIO_BLK_T_IN)
			*nin = data_sgs(bd, addr, io->len, in);
		else
			*nout += data_sgs(bd, addr, io->len, out + 1);
		break;
	case VIO_BLK_T_FLUSH:
		if (!vio_drv_has_feature(bd->dev, VIO_BLK_F_FLUSH))
			return -EOPNOTSUPP;
		break;
	case VIO_BLK_T_GET_ID:
		if (!io->buf)
			return -EINVAL;
		in[0].addr = slot_addr(q, i, SLOT_PAYLOAD);
		in[0].len = VIO_BLK_ID_BYTES;
		*nin = 1;
		break;
	case VIO_BLK_T_DISCARD:
	case VIO_BLK_T_WRITE_ZEROES:
		r = fill_ranges(bd, io, dma + SLOT_PAYLOAD, &bytes);
		if (r)
			return r;
		out[1].addr = slot_addr(q, i, SLOT_PAYLOAD);
		out[1].len = bytes;
		*nout = 2;
		break;
	default:
		return -EINVAL;
	}
	memcpy(dma, &hdr, sizeof(hdr));
	dma[SLOT_STATUS] = STATUS_NONE;
	in[*nin].addr = slot_addr(q, i, SLOT_STATUS);
	in[*nin].len = 1;
	(*nin)++;
	return 0;
}

/* Posts io; *slot_out names its slot. */
static int post(struct blk_drv *bd, const struct vio_blk_drv_io *io, unsigned *slot_out)
{
	struct vio_sg out[VIO_BLK_DRV_MAX_SEGS + 2], in[VIO_BLK_DRV_MAX_SEGS + 2];
	unsigned nout, nin, i;
	struct blk_q *q;
	struct slot *s;
	int r;

	if (bd->dead)
		return -ENODEV;
	if (io->queue >= bd->nq)
		return -EINVAL;
	q = &bd->qs[io->queue];
	if (vio_drvq_is_broken(&q->vq->q))
		return -EIO;
	if (q->nfree == 0)
		return -ENOSPC;
	/* Take the slot first: the kick below may run callbacks that post. */
	i = q->free_head;
	s = &q->slots[i];
	q->free_head = s->next_free;
	q->nfree--;
	r = build(bd, q, i, io, out, &nout, in, &nin);
	if (r == 0) {
		/* Staged: every post is followed by a kick (the API says
		 * so), and the kick makes the whole batch visible at once. */
		r = vio_drvq_add_staged(&q->vq->q, out, nout, in, nin, s);
		if (r == -EAGAIN) {
			/* 65535 adds without a kick: kick, then there is room. */
			q->kick_due = false;
			vio_drv_vq_kick(q->vq);
			r = vio_drvq_add_staged(&q->vq->q, out, nout, in, nin, s);
		}
	}
	if (r) {
		slot_put(q, s);
		return r;
	}
	s->busy = true;
	s->type = io->type;
	s->done = io->done;
	s->opaque = io->opaque;
	s->id_dst = io->type == VIO_BLK_T_GET_ID ? io->buf : NULL;
	q->kick_due = true;
	q->inflight++;
	*slot_out = i;
	return 0;
}

int vio_blk_drv_enqueue(struct vio_drv_device *dev, const struct vio_blk_drv_io *io)
{
	struct blk_drv *bd = drv_of(dev);
	unsigned slot;

	if (!bd)
		return -ENODEV;
	return post(bd, io, &slot);
}

/* Notifies the device of q's new requests, if the ring says it wants it. */
static bool kick_one(struct blk_q *q)
{
	if (!q->kick_due)
		return false;
	q->kick_due = false;
	return vio_drv_vq_kick(q->vq);
}

void vio_blk_drv_kick(struct vio_drv_device *dev)
{
	struct blk_drv *bd = drv_of(dev);

	if (!bd)
		return;
	for (unsigned i = 0; i < bd->nq; i++)
		kick_one(&bd->qs[i]);
}

bool vio_blk_drv_kick_queue(struct vio_drv_device *dev, unsigned qi)
{
	struct blk_drv *bd = drv_of(dev);

	return bd && qi < bd->nq && kick_one(&bd->qs[qi]);
}

int vio_blk_drv_submit(struct vio_drv_device *dev, const struct vio_blk_drv_io *io)
{
	int r = vio_blk_drv_enqueue(dev, io);

	/* Only io's queue: another thread may own the others. */
	if (r == 0)
		vio_blk_drv_kick_queue(dev, io->queue);
	return r;
}

unsigned vio_blk_drv_inflight(struct vio_drv_device *dev)
{
	struct blk_drv *bd = drv_of(dev);
	unsigned n = 0;

	for (unsigned i = 0; bd && i < bd->nq; i++)
		n += bd->qs[i].inflight;
	return n;
}

unsigned vio_blk_drv_inflight_queue(struct vio_drv_device *dev, unsigned qi)
{
	struct blk_drv *bd = drv_of(dev);

	return bd && qi < bd->nq ? bd->qs[qi].inflight : 0;
}

static uint64_t completed(const struct blk_drv *bd)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < bd->nq; i++)
		n += bd->qs[i].completed;
	return n;
}

/* vio_blk_drv_wait(), waiting through the deadline dl (at most max_ms)
 * or, without one, for timeout_ms. */
static int wait_done(struct blk_drv *bd, struct vio_drv_deadline *dl, int timeout_ms, int max_ms)
{
	struct vio_drv_device *dev = bd->dev;
	uint64_t before;
	int r;

	if (vio_blk_drv_inflight(dev) == 0)
		return 0;
	before = completed(bd);
	vio_blk_drv_poll(dev);
	if (completed(bd) != before)
		return (int)(completed(bd) - before);
	r = dl ? vio_drv_deadline_wait(dev, dl, max_ms) : vio_drv_wait(dev, timeout_ms);
	vio_blk_drv_poll(dev);
	if (completed(bd) != before)
		return (int)(completed(bd) - before);
	return r < 0 ? r : 0;
}

int vio_blk_drv_wait(struct vio_drv_device *dev, int timeout_ms)
{
	struct blk_drv *bd = drv_of(dev);

	return bd ? wait_done(bd, NULL, timeout_ms, -1) : 0;
}

/* ------------------------------------------------------------------------ */
/* Synchronous calls                                                        */

struct sync_wait {
	bool done;
	int err;
};

static void sync_done(void *opaque, int err)
{
	struct sync_wait *w = opaque;

	w->err = err;
	w->done = true;
}

/* Longest single wait, so the loop looks at the device now and then. */
#define WAIT_STEP_MS 100

/* Is waiting on queue qi pointless? -EIO when the queue broke or the
 * device gave up (NEEDS_RESET), -ETIMEDOUT past the deadline, else 0. */
static int stuck(struct blk_drv *bd, unsigned qi, const struct vio_drv_deadline *dl)
{
	if (vio_drvq_is_broken(&bd->qs[qi].vq->q) ||
	    (vio_drv_get_status(bd->dev) & (VIO_STATUS_NEEDS_RESET | VIO_STATUS_FAILED)))
		return -EIO;
	if (vio_drv_deadline_passed(bd->dev, dl))
		return -ETIMEDOUT;
	return 0;
}

int vio_blk_drv_execute(struct vio_drv_device *dev, const struct vio_blk_drv_io *io)
{
	struct blk_drv *bd = drv_of(dev);
	struct vio_blk_drv_io x;
	struct sync_wait w = { false, 0 };
	struct vio_drv_deadline dl;
	unsigned slot;
	int r;

	if (!bd)
		return -ENODEV;
	/* The transport's clock, if it has one (vio_drv_deadline). */
	vio_drv_deadline_start(dev, &dl, bd->opts.timeout_ms > 0 ? bd->opts.timeout_ms : -1);
	x = *io;
	x.done = sync_done;
	x.opaque = &w;
	while ((r = post(bd, &x, &slot)) == -ENOSPC) {
		/* Full of other requests: let some finish. */
		vio_blk_drv_kick(dev);
		if (wait_done(bd, &dl, 0, WAIT_STEP_MS) <= 0) {
			r = stuck(bd, io->queue, &dl);
			if (r)
				return r;
		}
	}
	if (r)
		return r;
	vio_blk_drv_kick(dev);
	while (!w.done) {
		if (vio_blk_drv_poll(dev) && w.done)
			break;
		r = stuck(bd, io->queue, &dl);
		if (r) {
			/* Give the slot up: if the device ever completes it,
			 * nobody is called. The caller's buffer may still be
			 * written until the device is reset. */
			bd->qs[io->queue].slots[slot].done = NULL;
			return r;
		}
		vio_drv_deadline_wait(dev, &dl, WAIT_STEP_MS);
	}
	return w.err;
}

/* Runs a transfer of any size as requests of at most max_transfer. */
static int rw_sync(struct vio_drv_device *dev, uint32_t type, uint64_t sector, void *buf,
		   size_t len)
{
	struct blk_drv *bd = drv_of(dev);
	uint8_t *p = buf;

	if (!bd)
		return -ENODEV;
	if (len == 0 || len % VIO_BLK_SECTOR_SIZE)
		return -EINVAL;
	while (len) {
		size_t chunk = len < bd->max_transfer ? len : bd->max_transfer;
		struct vio_blk_drv_io io = {
			.type = type, .sector = sector, .buf = p, .len = chunk,
		};
		int r = vio_blk_drv_execute(dev, &io);

		if (r)
			return r;
		p += chunk;
		sector += chunk >> VIO_BLK_SECTOR_SHIFT;
		len -= chunk;
	}
	return 0;
}

int vio_blk_drv_read(struct vio_drv_device *dev, uint64_t sector, void *buf, size_t len)
{
	return rw_sync(dev, VIO_BLK_T_IN, sector, buf, len);
}

int vio_blk_drv_write(struct vio_drv_device *dev, uint64_t sector, const void *buf, size_t len)
{
	if (vio_blk_drv_read_only(dev))
		return -EROFS;
	/* The device only reads it; the request struct is shared with reads. */
	return rw_sync(dev, VIO_BLK_T_OUT, sector, (void *)buf, len);
}

int vio_blk_drv_flush(struct vio_drv_device *dev)
{
	struct vio_blk_drv_io io = { .type = VIO_BLK_T_FLUSH };

	if (drv_of(dev) && !vio_drv_has_feature(dev, VIO_BLK_F_FLUSH))
		return 0;
	return vio_blk_drv_execute(dev, &io);
}

/* DISCARD / WRITE_ZEROES of any size, as many requests as the limits need. */
static int ranges_sync(struct vio_drv_device *dev, uint32_t type, uint64_t sector,
		       uint64_t nsectors, bool unmap)
{
	struct blk_drv *bd = drv_of(dev);
	uint64_t most;

	if (!bd)
		return -ENODEV;
	/* At most (2^32 - 1) * VIO_BLK_DRV_MAX_RANGES: fits 64 bits. 0 when
	 * the feature is not negotiated: the first request says so. */
	most = type == VIO_BLK_T_DISCARD ?
	       (uint64_t)bd->max_discard_sectors * bd->max_discard_ranges :
	       (uint64_t)bd->max_wz_sectors * bd->max_wz_ranges;
	if (nsectors == 0)
		return -EINVAL;
	if (most == 0)
		most = nsectors;
	while (nsectors) {
		uint64_t chunk = nsectors < most ? nsectors : most;
		struct vio_blk_drv_io io = {
			.type = type, .sector = sector, .nsectors = chunk, .unmap = unmap,
		};
		int r = vio_blk_drv_execute(dev, &io);

		if (r)
			return r;
		sector += chunk;
		nsectors -= chunk;
	}
	return 0;
}

int vio_blk_drv_discard(struct vio_drv_device *dev, uint64_t sector, uint64_t nsectors)
{
	return ranges_sync(dev, VIO_BLK_T_DISCARD, sector, nsectors, false);
}

int vio_blk_drv_write_zeroes(struct vio_drv_device *dev, uint64_t sector, uint64_t nsectors,
			     bool unmap)
{
	return ranges_sync(dev, VIO_BLK_T_WRITE_ZEROES, sector, nsectors, unmap);
}

int vio_blk_drv_get_id(struct vio_drv_device *dev, char *id)
{
	struct vio_blk_drv_io io = { .type = VIO_BLK_T_GET_ID, .buf = id };
	int r;

	memset(id, 0, VIO_BLK_ID_BYTES + 1);
	r = vio_blk_drv_execute(dev, &io);
	id[VIO_BLK_ID_BYTES] = '\0';
	return r;
}

/* ------------------------------------------------------------------------ */
/* Buffers, getters, cache mode                                             */

void *vio_blk_drv_alloc_buffer(struct vio_drv_device *dev, size_t len)
{
	uint64_t dma;

	return len ? vio_drv_dma_alloc(dev, len, VIO_BLK_SECTOR_SIZE, &dma) : NULL;
}

void vio_blk_drv_free_buffer(struct vio_drv_device *dev, void *buf, size_t len)
{
	vio_drv_dma_free(dev, buf, len);
}

uint64_t vio_blk_drv_capacity(struct vio_drv_device *dev)
{
	struct blk_drv *bd = drv_of(dev);

	return bd ? bd->capacity : 0;
}

uint32_t vio_blk_drv_block_size(struct vio_drv_device *dev)
{
	struct blk_drv *bd = drv_of(dev);

	return bd ? bd->blk_size : 0;
}

bool vio_blk_drv_read_only(struct vio_drv_device *dev)
{
	return drv_of(dev) && vio_drv_has_feature(dev, VIO_BLK_F_RO);
}

unsigned vio_blk_drv_num_queues(struct vio_drv_device *dev)
{
	struct blk_drv *bd = drv_of(dev);

	return bd ? bd->nq : 0;
}

size_t vio_blk_drv_max_transfer(struct vio_drv_device *dev)
{
	struct blk_drv *bd = drv_of(dev);

	return bd ? bd->max_transfer : 0;
}

int vio_blk_drv_get_writeback(struct vio_drv_device *dev)
{
	uint8_t v;
	int r;

	if (!drv_of(dev))
		return -ENODEV;
	if (!vio_drv_has_feature(dev, VIO_BLK_F_CONFIG_WCE))
		return -EOPNOTSUPP;
	r = vio_drv_config_read(dev, offsetof(struct vio_blk_config, writeback), &v, 1);
	return r ? r : v != 0;
}

int vio_blk_drv_set_writeback(struct vio_drv_device *dev, bool writeback)
{
	uint8_t v = writeback;

	if (!drv_of(dev))
		return -ENODEV;
	if (!vio_drv_has_feature(dev, VIO_BLK_F_CONFIG_WCE))
		return -EOPNOTSUPP;
	return vio_drv_config_write(dev, offsetof(struct vio_blk_config, writeback), &v, 1);
}

/* ------------------------------------------------------------------------ */
/* Probe, remove, abort                                                     */

/* After a reset: completes what the device finished, cancels the rest. */
static void take_back_all(struct blk_drv *bd)
{
	vio_blk_drv_poll(bd->dev);
	for (unsigned i = 0; i < bd->nq; i++) {
		struct blk_q *q = &bd->qs[i];
		void *token;

		while ((token = vio_drvq_detach_unused(&q->vq->q))) {
			struct slot *s = token_slot(q, token);

			if (s)
				complete(q, s, -ECANCELED);
		}
		q->kick_due = false;
	}
}

/* A request the queue reset handed back: finished (its status byte says
 * how) or never to be (-ECANCELED). Only noted here: completing it could
 * post on the queue while it is half reset. */
static void reset_back(void *opaque, void *token, bool used, uint32_t len)
{
	struct blk_q *q = opaque;
	struct slot *s = token_slot(q, token);
	unsigned i;

	(void)len; /* the status byte counts, as in reap_queue */
	if (!s)
		return;
	i = (unsigned)(s - q->slots);
	s->back = true;
	q->nback++;
	s->err = used ? status_to_err(slot_dma(q, i)[SLOT_STATUS]) : -ECANCELED;
	if (used && s->err == 0 && s->type == VIO_BLK_T_GET_ID && s->id_dst)
		memcpy(s->id_dst, slot_dma(q, i) + SLOT_PAYLOAD, VIO_BLK_ID_BYTES);
}

int vio_blk_drv_reset_queue(struct vio_drv_device *dev, unsigned qi)
{
	struct blk_drv *bd = drv_of(dev);
	struct blk_q *q;
	int r;

	if (!bd || bd->dead)
		return -ENODEV;
	if (qi >= bd->nq)
		return -EINVAL;
	q = &bd->qs[qi];
	q->nback = 0;
	r = vio_drv_vq_reset(q->vq, reset_back, q);
	/* What was due for a kick is gone with the ring; a refused reset
	 * handed nothing back and leaves it due. */
	if (r == 0 || q->nback)
		q->kick_due = false;
	/* Now the ring is whole again: a callback may post (and make a
	 * kick due). */
	for (unsigned i = 0; i < q->nslots && q->nback; i++) {
		struct slot *s = &q->slots[i];

		if (s->busy && s->back) {
			s->back = false;
			q->nback--;
			complete(q, s, s->err);
		}
	}
	if (r == -ENOTSUP)
		return -EOPNOTSUPP;
	if (r)
		blk_logf(dev, VIO_LOG_ERR, "queue %u: reset failed: %s", qi, vio_strerror(r));
	return r;
}

int vio_blk_drv_abort(struct vio_drv_device *dev)
{
	struct blk_drv *bd = drv_of(dev);

	if (!bd)
		return -ENODEV;
	bd->dead = true;
	vio_drv_reset(dev);
	take_back_all(bd);
	return 0;
}

static void free_queues(struct blk_drv *bd)
{
	for (unsigned i = 0; i < bd->nq; i++) {
		struct blk_q *q = &bd->qs[i];

		vio_drv_dma_free(bd->dev, q->dma, q->dma_len);
		vio_drv_priv_free(bd->dev, q->slots, q->nslots * sizeof(*q->slots));
		q->dma = NULL;
		q->slots = NULL;
	}
}

static int setup_queue(struct blk_drv *bd, unsigned qi)
{
	struct blk_q *q = &bd->qs[qi];

	q->vq = &bd->vqs[qi];
	q->vq->priv = bd;
	q->nslots = q->vq->q.size;
	q->slots = vio_drv_priv_alloc(bd->dev, q->nslots * sizeof(*q->slots));
	q->dma_len = (size_t)q->nslots * SLOT_BYTES;
	q->dma = vio_drv_dma_alloc(bd->dev, q->dma_len, CACHE_LINE, &q->dma_addr);
	if (!q->slots || !q->dma)
		return -ENOMEM;
	for (unsigned i = 0; i < q->nslots; i++)
		q->slots[i].next_free = (uint16_t)(i + 1);
	q->free_head = 0;
	q->nfree = q->nslots;
	return 0;
}

/* Reads a config field of `size` bytes at `off` in the device's byte order. */
static uint64_t cfg_get(struct vio_drv_device *dev, unsigned off, unsigned size, int *err)
{
	union {
		vio_le16 w;
		vio_le32 l;
		vio_le64 q;
	} u;
	int r;

	memset(&u, 0, sizeof(u));
	r = vio_drv_config_read(dev, off, &u, size);
	if (r) {
		*err = r;
		return 0;
	}
	switch (size) {
	case 2:
		return vio_get16(dev->legacy, u.w);
	case 4:
		return vio_get32(dev->legacy, u.l);
	default:
		return vio_get64(dev->legacy, u.q);
	}
}

#define CFG(dev, field, err) \
	cfg_get(dev, offsetof(struct vio_blk_config, field), \
		sizeof(((struct vio_blk_config *)0)->field), err)

static uint32_t clamp32(uint64_t v, uint32_t lo, uint32_t hi)
{
	return v < lo ? lo : v > hi ? hi : (uint32_t)v;
}

/* A capacity the driver can use: its byte count must fit 64 bits, or
 * every offset computed from it (sector * 512, here and in the caller)
 * may wrap. Says why not in a log line ending in `then`. */
static bool capacity_ok(struct vio_drv_device *dev, uint64_t cap, const char *then)
{
	if (cap <= MAX_CAPACITY)
		return true;
	blk_logf(dev, VIO_LOG_ERR, "capacity of %llu sectors refused: its size in bytes "
		 "(x 512) does not fit 64 bits (at most %llu sectors)%s",
		 (unsigned long long)cap, (unsigned long long)MAX_CAPACITY, then);
	return false;
}

/* A maximum of sectors per DISCARD / WRITE_ZEROES range: 0 means no limit,
 * as Linux reads it (the spec gives 0 no meaning). */
static uint32_t range_sectors(struct vio_drv_device *dev, uint64_t v, const char *field)
{
	if (v)
		return (uint32_t)v;
	blk_logf(dev, VIO_LOG_WARN, "%s is 0: taken as no limit, as Linux does", field);
	return UINT32_MAX;
}

/*
 * Reads and checks what the device says about itself. A value the driver
 * cannot work with fails the probe with a log line saying which and why;
 * a value out of the spec that has a safe reading (Linux's) is clamped,
 * also with a log line. Per field:
 *   capacity           byte count must fit 64 bits, else -ERANGE
 *   blk_size           a power of two in [512, 64 KiB], else -EINVAL (Linux
 *                      fails probe: "invalid block size")
 *   seg_max            0 -> 1 (Linux: "at least one SG element, whatever
 *                      they say"); above VIO_BLK_DRV_MAX_SEGS -> that
 *   size_max           under a page -> a page (Linux does the same)
 *   num_queues         0 with MQ -> -EINVAL (Linux: "MQ advertised but zero
 *                      queues reported")
 *   max_*_sectors      0 -> no limit (Linux: UINT_MAX)
 *   max_discard_seg    0 -> seg_max's count (Linux); at most
 *                      VIO_BLK_DRV_MAX_RANGES
 *   max_write_zeroes_seg 0 -> 1 (Linux sends one range per request)
 * discard_sector_alignment is not used: requests are not split by it.
 */
static int read_config(struct blk_drv *bd, unsigned *nq)
{
	struct vio_drv_device *dev = bd->dev;
	const unsigned want = bd->opts.max_queues ? bd->opts.max_queues : VIO_BLK_DRV_MAX_QUEUES;
	uint64_t v;
	int err = 0;

	v = CFG(dev, capacity, &err);
	if (err)
		return err;
	if (!capacity_ok(dev, v, ""))
		return -ERANGE;
	bd->capacity = v;
	bd->blk_size = VIO_BLK_SECTOR_SIZE;
	if (vio_drv_has_feature(dev, VIO_BLK_F_BLK_SIZE)) {
		v = CFG(dev, blk_size, &err);
		if (err)
			return err;
		if (v < VIO_BLK_SECTOR_SIZE || v > MAX_BLK_SIZE || (v & (v - 1))) {
			blk_logf(dev, VIO_LOG_ERR, "invalid block size %llu: blk_size must be a "
				 "power of two from %u to %u", (unsigned long long)v,
				 VIO_BLK_SECTOR_SIZE, MAX_BLK_SIZE);
			return -EINVAL;
		}
		bd->blk_size = (uint32_t)v;
	}
	/* Without SEG_MAX a request gets one data segment, as in Linux. */
	bd->max_segs = 1;
	if (vio_drv_has_feature(dev, VIO_BLK_F_SEG_MAX)) {
		v = CFG(dev, seg_max, &err);
		if (err)
			return err;
		if (v == 0)
			blk_logf(dev, VIO_LOG_WARN, "seg_max is 0: using one data segment per "
				 "request, as Linux does");
		bd->max_segs = clamp32(v, 1, VIO_BLK_DRV_MAX_SEGS);
	}
	bd->seg_bytes = MAX_TRANSFER;
	if (vio_drv_has_feature(dev, VIO_BLK_F_SIZE_MAX)) {
		v = CFG(dev, size_max, &err);
		if (err)
			return err;
		/* qemu-storage-daemon offers SIZE_MAX with 0; Linux reads that
		 * (as any value under a page) as a page, and so do we, rather
		 * than one sector per segment. */
		if (v < SIZE_MAX_FLOOR)
			v = SIZE_MAX_FLOOR;
		bd->seg_bytes = clamp32(v & ~(uint64_t)(VIO_BLK_SECTOR_SIZE - 1),
					VIO_BLK_SECTOR_SIZE, MAX_TRANSFER);
	}
	/* At most 32 * 2^30: fits 64 bits. */
	v = (uint64_t)bd->max_segs * bd->seg_bytes;
	bd->max_transfer = v > MAX_TRANSFER ? MAX_TRANSFER : (uint32_t)v;
	*nq = 1;
	if (vio_drv_has_feature(dev, VIO_BLK_F_MQ)) {
		v = CFG(dev, num_queues, &err);
		if (err)
			return err;
		if (v == 0) {
			blk_logf(dev, VIO_LOG_ERR, "VIRTIO_BLK_F_MQ offered with num_queues 0: "
				 "the device has no request queue");
			return -EINVAL;
		}
		*nq = clamp32(v, 1, want < VIO_BLK_DRV_MAX_QUEUES ? want : VIO_BLK_DRV_MAX_QUEUES);
	}
	if (vio_drv_has_feature(dev, VIO_BLK_F_DISCARD)) {
		v = CFG(dev, max_discard_sectors, &err);
		if (err)
			return err;
		bd->max_discard_sectors = range_sectors(dev, v, "max_discard_sectors");
		v = CFG(dev, max_discard_seg, &err);
		if (err)
			return err;
		if (v == 0) {
			blk_logf(dev, VIO_LOG_WARN, "max_discard_seg is 0: using seg_max's %u "
				 "ranges per request, as Linux does", bd->max_segs);
			v = bd->max_segs;
		}
		bd->max_discard_ranges = clamp32(v, 1, VIO_BLK_DRV_MAX_RANGES);
	}
	if (vio_drv_has_feature(dev, VIO_BLK_F_WRITE_ZEROES)) {
		v = CFG(dev, max_write_zeroes_sectors, &err);
		if (err)
			return err;
		bd->max_wz_sectors = range_sectors(dev, v, "max_write_zeroes_sectors");
		v = CFG(dev, max_write_zeroes_seg, &err);
		if (err)
			return err;
		if (v == 0)
			blk_logf(dev, VIO_LOG_WARN, "max_write_zeroes_seg is 0: using one range "
				 "per request, as Linux does");
		bd->max_wz_ranges = clamp32(v, 1, VIO_BLK_DRV_MAX_RANGES);
	}
	return err;
}

static void blk_remove(struct vio_drv_device *dev)
{
	struct blk_drv *bd = dev->priv;

	if (!bd)
		return;
	bd->dead = true;
	vio_drv_reset(dev);
	take_back_all(bd);
	free_queues(bd);
	vio_drv_del_vqs(dev);
	dev->priv = NULL;
	vio_drv_priv_free(dev, bd, sizeof(*bd));
}

static int blk_probe(struct vio_drv_device *dev)
{
	const struct vio_blk_driver *drv = (const struct vio_blk_driver *)dev->driver;
	struct vio_drv_vq_info info[VIO_BLK_DRV_MAX_QUEUES];
	struct blk_drv *bd;
	unsigned nq;
	int r;

	bd = vio_drv_priv_alloc(dev, sizeof(*bd));
	if (!bd)
		return -ENOMEM;
	bd->dev = dev;
	bd->opts = drv->opts;
	r = read_config(bd, &nq);
	if (r)
		goto fail;
	for (unsigned i = 0; i < nq; i++) {
		info[i] = (struct vio_drv_vq_info){
			.callback = vq_done,
			.size = bd->opts.queue_size,
			.indirect_max = bd->opts.indirect_max ? bd->opts.indirect_max :
					bd->max_segs + 2,
		};
	}
	r = vio_drv_find_vqs(dev, nq, info, bd->vqs);
	if (r)
		goto fail;
	bd->nq = nq;
	for (unsigned i = 0; i < nq && r == 0; i++)
		r = setup_queue(bd, i);
	if (r) {
		free_queues(bd);
		vio_drv_reset(dev);
		vio_drv_del_vqs(dev);
		goto fail;
	}
	dev->priv = bd;
	return 0;
fail:
	vio_drv_priv_free(dev, bd, sizeof(*bd));
	return r;
}

static void blk_config_changed(struct vio_drv_device *dev)
{
	struct blk_drv *bd = drv_of(dev);
	int err = 0;
	uint64_t cap;

	if (!bd)
		return;
	/* The device may grow or shrink the disk; a size the driver cannot
	 * use leaves the old one. */
	cap = CFG(dev, capacity, &err);
	if (!err && capacity_ok(dev, cap, "; keeping the old capacity"))
		bd->capacity = cap;
}

int vio_blk_drv_register(struct vio_bus *bus, struct vio_blk_driver *bd,
			 const struct vio_blk_drv_opts *opts)
{
	uint64_t off;

	memset(bd, 0, sizeof(*bd));
	if (opts)
		bd->opts = *opts;
	off = bd->opts.features_off;
	/* Without VERSION_1 the 1.x-only ring features cannot be had either. */
	if (off & VIO_BIT(VIO_F_VERSION_1))
		off |= VIO_BIT(VIO_F_RING_PACKED) | VIO_BIT(VIO_F_IN_ORDER);
	bd->ids[0] = VIO_ID_BLOCK;
	bd->drv.name = "virtio_blk";
	bd->drv.ids = bd->ids;
	bd->drv.features = (DRV_BLK_FEATURES | DRV_RING_FEATURES) & ~off;
	bd->drv.legacy_features = (DRV_BLK_FEATURES | DRV_LEGACY_RING_FEATURES) & ~off;
	bd->drv.probe = blk_probe;
	bd->drv.remove = blk_remove;
	bd->drv.config_changed = blk_config_changed;
	return vio_bus_register_driver(bus, &bd->drv);
}

void vio_blk_drv_unregister(struct vio_bus *bus, struct vio_blk_driver *bd)
{
	vio_bus_unregister_driver(bus, &bd->drv);
}
