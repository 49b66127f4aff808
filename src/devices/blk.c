/*
 * blk.c - the virtio block device: requests in, status bytes out.
 *
 * Written only against the device model (vio/core.h): a transport calls
 * queue_notify() for a kick and queue_event() when the queue's event fd
 * (the storage's) is readable, and this file pops chains, checks every
 * field the driver wrote, hands the request to the storage
 * (vio/devices/blk_storage.h) and returns the chain with its status byte
 * when the storage is done. See vio/devices/blk.h for the options and the
 * guarantees.
 *
 * A request is one chain: a readable 16-byte header, then data (readable
 * for OUT and the segments of DISCARD/WRITE_ZEROES, writable for IN and
 * GET_ID), then one writable status byte, the last writable byte of the
 * chain. The driver may split or merge these across descriptors as it
 * likes (ANY_LAYOUT is the rule in virtio 1.x), so everything here works on
 * the byte streams the ring maps, never on descriptor boundaries.
 *
 * Each queue has `depth` request slots. A kick pops chains into free slots
 * (up to `batch` at a time), checks them and submits the valid ones to the
 * storage in one call; the others are answered at once. A request may take
 * several storage steps (a discard's segments one after the other, a READ
 * or WRITE longer than the storage's max_transfer in pieces, a writethrough
 * write followed by a flush when the storage has no FUA of its own): the
 * next step is submitted when one ends. Completions arrive through done(),
 * inside a submit or a process() call; each such call ends with one
 * used-index update and one interrupt decision for everything it
 * completed, and then, as slots came free, more chains are popped. With
 * IN_ORDER a request that ends before an older one waits in its slot: used
 * entries go out in pop order, as the feature promises the driver.
 */
#include <stdarg.h>
#include <stddef.h>

#include "vio/devices.h"

#include "blk_backend.h"

#define HDR_BYTES ((uint32_t)sizeof(struct vio_blk_req_hdr))
#define SEG_BYTES ((uint32_t)sizeof(struct vio_blk_discard_write_zeroes))

#define DEFAULT_QUEUE_SIZE     1024u  /* QEMU's VIRTQUEUE_MAX_SIZE: legacy virtio-mmio always asks for it */
#define DEFAULT_BATCH_URING    64u
#define DEFAULT_BATCH_SYNC     16u
#define DEFAULT_DEPTH          128u   /* in flight per queue, for a storage with an fd */
#define DEFAULT_DISCARD_SECTORS 0x3fffffu   /* 2 GiB - 512 per segment */
#define DEFAULT_DISCARD_SEG    16u
#define MAX_DISCARD_SEG        256u
/* Spans beyond seg_max + 2 descriptors: a descriptor that crosses from
 * one memory region into the next maps to more than one span. */
#define SPAN_SLACK             8u

/* One request slot: a popped chain, from pop to used. */
struct blk_req {
	struct vio_elem e;
	struct vio_blk_storage_req sr; /* the storage step running now */
	struct vio_iov status;  /* where the status byte goes; len 0: nowhere */
	uint32_t type;
	bool typed;             /* type was read from a whole header */
	bool run;               /* start_request: to be submitted to the storage */
	bool done;              /* answered; with IN_ORDER it may wait for elders */
	bool flush_after;       /* the write is to be followed by a flush (FUA) */
	uint8_t st;             /* VIO_BLK_S_* */
	uint32_t used;          /* bytes written to the driver, status included */
	/* DISCARD/WRITE_ZEROES: the segments, copied out of driver memory
	 * once, so what is checked is what runs; the one running. */
	struct vio_blk_discard_write_zeroes *segs;
	unsigned nseg, seg;
	/* READ/WRITE in pieces of at most max_transfer bytes: the data's
	 * spans (the piece running starts at span `cur`), the bytes after
	 * this piece, and a span cut short for it (its full length). */
	struct vio_iov *data;
	unsigned ndata, cur, cut;
	size_t cut_len;
	uint64_t left;
};

struct vio__blk_queue {
	struct vio_blk_dev *blk;
	unsigned qi;
	struct blk_req *reqs;   /* depth slots */
	unsigned nreqs;
	unsigned batch;         /* most chains popped per submit */
	unsigned *free;         /* free slots, a stack */
	unsigned nfree;
	unsigned *order;        /* slots in pop order, a ring of nreqs */
	unsigned ohead, ocount;
	unsigned *popped;       /* one pop round's slots */
	/* Storage steps gathered for the next submit; two arrays, as done()
	 * may gather more while the storage still reads the one it got. */
	struct vio_blk_storage_req **sub[2];
	unsigned nsub, cur_sub;
	unsigned at_storage;    /* steps in the storage's hands */
	unsigned filled;        /* used entries staged since the last flush */
	struct vio_iov *spans;  /* every slot's out and in arrays */
	size_t nspans;
	struct vio_blk_discard_write_zeroes *segs; /* every slot's */
	unsigned nsegs;
	struct vio_blk_storage_queue *sq;
	int fd;                 /* the storage's queue fd, or -1 */
	struct vio_blk_queue_stats stats;
};

static struct vio_blk_dev *blk_of(struct vio_dev_model *d)
{
	return (struct vio_blk_dev *)((char *)d - offsetof(struct vio_blk_dev, dev));
}

/* Counters have one writer (the queue's thread) and readers anywhere. */
static void stat_add(uint64_t *c, uint64_t v)
{
	__atomic_store_n(c, *c + v, __ATOMIC_RELAXED);
}

static uint64_t stat_get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static bool writethrough(const struct vio_blk_dev *blk)
{
	return __atomic_load_n(&blk->writethrough, __ATOMIC_RELAXED);
}

static void set_writethrough(struct vio_blk_dev *blk, bool on)
{
	__atomic_store_n(&blk->writethrough, on, __ATOMIC_RELAXED);
}

#define blk_log(blk, level, ...) vio_dev_logf(&(blk)->dev, level, __VA_ARGS__)

/* ------------------------------------------------------------------------ */
/* Checking requests                                                        */

/* [sector, sector + nsectors) inside the disk, without overflow. */
static bool range_ok(const struct vio_blk_dev *blk, uint64_t sector, uint64_t nsectors)
{
	return sector <= blk->capacity && nsectors <= blk->capacity - sector;
}

/* Answers rq with `st` and says why. The message starts with the queue and
 * request type so a log reader can find the offender. */
VIO_PRINTF(5, 6)
static void refuse(const struct vio_blk_dev *blk, unsigned qi, struct blk_req *rq, uint8_t st,
		   const char *fmt, ...)
{
	char why[200];
	va_list ap;

	rq->st = st;
	rq->run = false;
	if (!blk->dev.log)
		return;
	va_start(ap, fmt);
	vio_vformat(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (rq->typed)
		blk_log(blk, VIO_LOG_WARN, "blk: queue %u: request type %u: %s: %s", qi, rq->type,
			why, st == VIO_BLK_S_UNSUPP ? "UNSUPP" : "IOERR");
	else
		blk_log(blk, VIO_LOG_WARN, "blk: queue %u: request: %s: IOERR", qi, why);
}

/* Takes the last writable byte as the status byte, off the data spans. */
static void take_status(struct blk_req *rq)
{
	struct vio_elem *e = &rq->e;
	struct vio_iov *last = &e->in[e->in_num - 1];

	/* Spans of mapped descriptors are never empty, so the last one holds
	 * the chain's last writable byte. */
	last->len--;
	rq->status.base = (uint8_t *)last->base + last->len;
	rq->status.len = 1;
	if (last->len == 0)
		e->in_num--;
}

/* Drops the header from the readable spans; what is left is the data. */
static void skip_header(struct blk_req *rq, struct vio_iov **iov, unsigned *n)
{
	struct vio_iov *v = rq->e.out;
	unsigned k = rq->e.out_num;
	size_t skip = HDR_BYTES;

	while (k && skip >= v->len) {
		skip -= v->len;
		v++;
		k--;
	}
	if (k) {
		v->base = (uint8_t *)v->base + skip;
		v->len -= skip;
	}
	*iov = v;
	*n = k;
}

/* IN and OUT: data of whole sectors inside the disk. */
static bool data_ok(const struct vio_blk_dev *blk, unsigned qi, struct blk_req *rq,
		    uint64_t sector, uint32_t len)
{
	if (len % VIO_BLK_SECTOR_SIZE) {
		refuse(blk, qi, rq, VIO_BLK_S_IOERR, "%u data bytes are not whole 512-byte sectors",
		       len);
		return false;
	}
	if (!range_ok(blk, sector, len >> VIO_BLK_SECTOR_SHIFT)) {
		refuse(blk, qi, rq, VIO_BLK_S_IOERR,
		       "%u sectors at sector %llu run past the capacity of %llu sectors",
		       len >> VIO_BLK_SECTOR_SHIFT, (unsigned long long)sector,
		       (unsigned long long)blk->capacity);
		return false;
	}
	return true;
}

/* A write in writethrough mode is stable before it completes: FUA when
 * the storage has it, else a flush after it (a storage without a cache
 * to flush needs neither). */
static void stable_write(const struct vio_blk_dev *blk, struct blk_req *rq)
{
	const uint32_t caps = blk->st->caps;

	if (!writethrough(blk))
		return;
	if (caps & VIO_BLK_STORAGE_CAN_FUA)
		rq->sr.flags |= VIO_BLK_STORAGE_REQ_FUA;
	else if (caps & VIO_BLK_STORAGE_CAN_FLUSH)
		rq->flush_after = true;
}

static void start_read(struct vio_blk_dev *blk, unsigned qi, struct blk_req *rq, uint64_t sector)
{
	const struct vio_elem *e = &rq->e;
	const uint32_t len = e->in_len - 1;

	if (e->out_len != HDR_BYTES) {
		refuse(blk, qi, rq, VIO_BLK_S_IOERR,
		       "a read carries %u device-readable bytes besides the header",
		       e->out_len - HDR_BYTES);
		return;
	}
	if (!data_ok(blk, qi, rq, sector, len))
		return;
	rq->sr.op = VIO_BLK_STORAGE_READ;
	rq->sr.off = sector << VIO_BLK_SECTOR_SHIFT;
	rq->sr.len = len;
	rq->data = rq->e.in;
	rq->ndata = rq->e.in_num;
	rq->run = true;
}

static void start_write(struct vio_blk_dev *blk, unsigned qi, struct blk_req *rq, uint64_t sector)
{
	const uint32_t len = rq->e.out_len - HDR_BYTES;

	if (rq->e.in_len != 1) {
		refuse(blk, qi, rq, VIO_BLK_S_IOERR,
		       "a write carries %u device-writable bytes besides the status",
		       rq->e.in_len - 1);
		return;
	}
	if (blk->read_only) {
		refuse(blk, qi, rq, VIO_BLK_S_IOERR, "write to a read-only device");
		return;
	}
	if (!data_ok(blk, qi, rq, sector, len))
		return;
	rq->sr.op = VIO_BLK_STORAGE_WRITE;
	rq->sr.off = sector << VIO_BLK_SECTOR_SHIFT;
	rq->sr.len = len;
	stable_write(blk, rq);
	skip_header(rq, &rq->data, &rq->ndata);
	rq->run = true;
}

static void start_flush(struct vio_blk_dev *blk, unsigned qi, struct blk_req *rq)
{
	if (!vio_dev_has_feature(&blk->dev, VIO_BLK_F_FLUSH)) {
		refuse(blk, qi, rq, VIO_BLK_S_UNSUPP,
		       "FLUSH without VIRTIO_BLK_F_FLUSH negotiated");
		return;
	}
	/* A storage with no volatile cache has nothing to flush. */
	if (!(blk->st->caps & VIO_BLK_STORAGE_CAN_FLUSH)) {
		rq->st = VIO_BLK_S_OK;
		return;
	}
	rq->sr.op = VIO_BLK_STORAGE_FLUSH;
	rq->run = true;
}

static void get_id(struct vio_blk_dev *blk, unsigned qi, struct blk_req *rq)
{
	const struct vio_elem *e = &rq->e;

	if (e->in_len - 1 < VIO_BLK_ID_BYTES) {
		refuse(blk, qi, rq, VIO_BLK_S_IOERR, "GET_ID buffer of %u bytes, %u needed",
		       e->in_len - 1, VIO_BLK_ID_BYTES);
		return;
	}
	vio_iov_from_buf(e->in, e->in_num, 0, blk->id, VIO_BLK_ID_BYTES);
	rq->used = VIO_BLK_ID_BYTES + 1;
	rq->st = VIO_BLK_S_OK;
}

/* Checks every segment before any runs: a bad segment fails the request
 * without touching the disk. */
static bool segs_ok(struct vio_blk_dev *blk, unsigned qi, struct blk_req *rq,
		    const struct vio_blk_discard_write_zeroes *segs, unsigned nseg, bool discard)
{
	const uint32_t max_sectors = discard ? blk->max_discard_sectors : blk->max_wz_sectors;
	const uint32_t allowed = discard ? 0 : VIO_BLK_WZ_F_UNMAP;
	const bool legacy = blk->dev.legacy;

	for (unsigned i = 0; i < nseg; i++) {
		const uint64_t sector = vio_get64(legacy, segs[i].sector);
		const uint32_t n = vio_get32(legacy, segs[i].num_sectors);
		const uint32_t flags = vio_get32(legacy, segs[i].flags);

		if (flags & ~allowed) {
			const bool unmap = discard && (flags & VIO_BLK_WZ_F_UNMAP);

			refuse(blk, qi, rq, VIO_BLK_S_UNSUPP, "segment %u has flags %#x%s", i,
			       flags, unmap ? " (unmap on a discard)" : "");
			return false;
		}
		if (n > max_sectors) {
			refuse(blk, qi, rq, VIO_BLK_S_IOERR,
			       "segment %u covers %u sectors, the device takes at most %u", i, n,
			       max_sectors);
			return false;
		}
		if (!range_ok(blk, sector, n)) {
			refuse(blk, qi, rq, VIO_BLK_S_IOERR,
			       "segment %u: %u sectors at sector %llu run past the capacity "
			       "of %llu",
			       i, n, (unsigned long long)sector, (unsigned long long)blk->capacity);
			return false;
		}
	}
	return true;
}

/* Segment rq->seg of a DISCARD or WRITE_ZEROES as the storage step. */
static void seg_step(const struct vio_blk_dev *blk, struct blk_req *rq)
{
	const bool legacy = blk->dev.legacy;
	const struct vio_blk_discard_write_zeroes *sg = &rq->segs[rq->seg];

	rq->sr.flags = 0;
	rq->flush_after = false;
	rq->sr.off = vio_get64(legacy, sg->sector) << VIO_BLK_SECTOR_SHIFT;
	rq->sr.len = (uint64_t)vio_get32(legacy, sg->num_sectors) << VIO_BLK_SECTOR_SHIFT;
	if (rq->type == VIO_BLK_T_DISCARD) {
		rq->sr.op = VIO_BLK_STORAGE_DISCARD;
		return;
	}
	rq->sr.op = VIO_BLK_STORAGE_WRITE_ZEROES;
	if (vio_get32(legacy, sg->flags) & VIO_BLK_WZ_F_UNMAP)
		rq->sr.flags |= VIO_BLK_STORAGE_REQ_UNMAP;
	stable_write(blk, rq);
}

/* Skips empty segments from rq->seg on: false when none is left. */
static bool seg_next(const struct vio_blk_dev *blk, struct blk_req *rq)
{
	while (rq->seg < rq->nseg && vio_get32(blk->dev.legacy, rq->segs[rq->seg].num_sectors) == 0)
		rq->seg++;
	return rq->seg < rq->nseg;
}

/* DISCARD and WRITE_ZEROES: checked whole here, then run segment by
 * segment as storage steps. */
static void discard_or_zero(struct vio_blk_dev *blk, unsigned qi, struct blk_req *rq)
{
	const bool discard = rq->type == VIO_BLK_T_DISCARD;
	const struct vio_elem *e = &rq->e;
	const uint32_t bytes = e->out_len - HDR_BYTES;
	const uint32_t max_seg = discard ? blk->max_discard_seg : blk->max_wz_seg;
	const unsigned nseg = bytes / SEG_BYTES;

	if (!vio_dev_has_feature(&blk->dev, discard ? VIO_BLK_F_DISCARD : VIO_BLK_F_WRITE_ZEROES)) {
		refuse(blk, qi, rq, VIO_BLK_S_UNSUPP, "%s not negotiated",
		       discard ? "VIRTIO_BLK_F_DISCARD" : "VIRTIO_BLK_F_WRITE_ZEROES");
		return;
	}
	if (e->in_len != 1) {
		refuse(blk, qi, rq, VIO_BLK_S_IOERR,
		       "segments come with %u device-writable bytes besides the status",
		       e->in_len - 1);
		return;
	}
	if (blk->read_only) {
		refuse(blk, qi, rq, VIO_BLK_S_IOERR, "%s on a read-only device",
		       discard ? "discard" : "write zeroes");
		return;
	}
	if (bytes == 0 || bytes % SEG_BYTES) {
		refuse(blk, qi, rq, VIO_BLK_S_IOERR,
		       "%u bytes of segments are not a non-zero multiple of %u", bytes, SEG_BYTES);
		return;
	}
	if (nseg > max_seg) {
		refuse(blk, qi, rq, VIO_BLK_S_UNSUPP, "%u segments, the device takes at most %u",
		       nseg, max_seg);
		return;
	}
	vio_iov_to_buf(e->out, e->out_num, HDR_BYTES, rq->segs, bytes);
	if (!segs_ok(blk, qi, rq, rq->segs, nseg, discard))
		return;
	rq->nseg = nseg;
	rq->seg = 0;
	if (!seg_next(blk, rq)) {
		rq->st = VIO_BLK_S_OK;  /* nothing but empty segments */
		return;
	}
	seg_step(blk, rq);
	rq->run = true;
}

/* Reads and checks one popped chain; either answers it now (rq->st) or
 * leaves rq->io to run. */
static void start_request(struct vio_blk_dev *blk, unsigned qi, struct blk_req *rq)
{
	struct vio_blk_req_hdr hdr;
	uint64_t sector;

	rq->run = false;
	rq->done = false;
	rq->flush_after = false;
	rq->sr.flags = 0;
	rq->sr.off = rq->sr.len = 0;
	rq->sr.iov = NULL;
	rq->sr.iovcnt = 0;
	rq->data = NULL;
	rq->ndata = 0;
	rq->nseg = rq->seg = 0;
	rq->typed = false;
	rq->type = UINT32_MAX;
	rq->st = VIO_BLK_S_IOERR;
	rq->status.len = 0;
	rq->used = 0;
	if (rq->e.in_len == 0) {
		/* Nowhere to say anything: give the chain back untouched. */
		blk_log(blk, VIO_LOG_WARN,
			"blk: queue %u: request without a device-writable status byte "
			"(%u readable bytes): returned unanswered", qi, rq->e.out_len);
		return;
	}
	take_status(rq);
	rq->used = 1;
	if (rq->e.out_len < HDR_BYTES) {
		refuse(blk, qi, rq, VIO_BLK_S_IOERR, "header of %u bytes, %u needed", rq->e.out_len,
		       HDR_BYTES);
		return;
	}
	/* One copy of the header: later checks use it, not driver memory. */
	vio_iov_to_buf(rq->e.out, rq->e.out_num, 0, &hdr, sizeof(hdr));
	rq->type = vio_get32(blk->dev.legacy, hdr.type);
	rq->typed = true;
	sector = vio_get64(blk->dev.legacy, hdr.sector);

	switch (rq->type) {
	case VIO_BLK_T_IN:
		start_read(blk, qi, rq, sector);
		break;
	case VIO_BLK_T_OUT:
		start_write(blk, qi, rq, sector);
		break;
	case VIO_BLK_T_FLUSH_OUT:
		/* A synonym of FLUSH that legacy drivers may still send. */
		if (!blk->dev.legacy) {
			refuse(blk, qi, rq, VIO_BLK_S_UNSUPP, "FLUSH_OUT is a legacy request");
			break;
		}
		/* fall through */
	case VIO_BLK_T_FLUSH:
		start_flush(blk, qi, rq);
		break;
	case VIO_BLK_T_GET_ID:
		get_id(blk, qi, rq);
		break;
	case VIO_BLK_T_DISCARD:
	case VIO_BLK_T_WRITE_ZEROES:
		discard_or_zero(blk, qi, rq);
		break;
	default:
		refuse(blk, qi, rq, VIO_BLK_S_UNSUPP, "unknown or unsupported request type");
		break;
	}
}

/* ------------------------------------------------------------------------ */
/* Running requests on the storage                                         */

/* The result of rq's last storage step becomes its status, used length
 * and counters. */
static void end_io(struct vio_blk_dev *blk, struct vio__blk_queue *q, struct blk_req *rq)
{
	if (rq->sr.res) {
		blk_log(blk, VIO_LOG_ERR,
			"blk: queue %u: request type %u failed in the backend (%s storage): %s",
			q->qi, rq->type, blk->st->name ? blk->st->name : "the caller's",
			vio_strerror(rq->sr.res));
		rq->st = VIO_BLK_S_IOERR;
		return;
	}
	rq->st = VIO_BLK_S_OK;
	switch (rq->type) {
	case VIO_BLK_T_IN:
		rq->used = rq->e.in_len; /* the data and the status byte */
		stat_add(&q->stats.bytes_read, rq->e.in_len - 1);
		break;
	case VIO_BLK_T_OUT:
		stat_add(&q->stats.bytes_written, rq->e.out_len - HDR_BYTES);
		break;
	default:
		break;
	}
}

static void count(struct vio__blk_queue *q, const struct blk_req *rq)
{
	struct vio_blk_queue_stats *s = &q->stats;

	if (rq->status.len == 0) {
		stat_add(&s->unanswered, 1);
		return;
	}
	stat_add(&s->requests, 1);
	if (rq->st == VIO_BLK_S_IOERR) {
		stat_add(&s->ioerr, 1);
		return;
	}
	if (rq->st == VIO_BLK_S_UNSUPP) {
		stat_add(&s->unsupp, 1);
		return;
	}
	switch (rq->type) {
	case VIO_BLK_T_IN:
		stat_add(&s->reads, 1);
		break;
	case VIO_BLK_T_OUT:
		stat_add(&s->writes, 1);
		break;
	case VIO_BLK_T_GET_ID:
		stat_add(&s->get_ids, 1);
		break;
	case VIO_BLK_T_DISCARD:
		stat_add(&s->discards, 1);
		break;
	case VIO_BLK_T_WRITE_ZEROES:
		stat_add(&s->write_zeroes, 1);
		break;
	default:
		stat_add(&s->flushes, 1);
		break;
	}
}

/*
 * READ/WRITE data in pieces. piece_start() points the storage step at the
 * next at most max_transfer bytes of rq->data from span rq->cur on,
 * cutting the last span short if the piece ends inside it; piece_end()
 * undoes the cut and moves rq->cur past the piece. A storage without a
 * limit gets the whole data as one piece, spans untouched.
 */
static void piece_start(const struct vio_blk_dev *blk, struct blk_req *rq)
{
	uint64_t want, have = 0;
	unsigned k = rq->cur;

	rq->sr.iov = rq->data + rq->cur;
	rq->cut = UINT32_MAX;
	if (!blk->max_transfer || rq->sr.len + rq->left <= blk->max_transfer) {
		rq->sr.len += rq->left;
		rq->left = 0;
		rq->sr.iovcnt = rq->ndata - rq->cur;
		return;
	}
	want = rq->sr.len + rq->left;
	want = want < blk->max_transfer ? want : blk->max_transfer;
	rq->left = rq->sr.len + rq->left - want;
	rq->sr.len = want;
	while (k < rq->ndata && have + rq->data[k].len < want)
		have += rq->data[k++].len;
	/* The piece ends in span k (blk.c counted the spans' bytes). */
	if (k < rq->ndata && have + rq->data[k].len > want) {
		rq->cut = k;
		rq->cut_len = rq->data[k].len;
		rq->data[k].len = (size_t)(want - have);
	}
	rq->sr.iovcnt = (k < rq->ndata ? k + 1 : k) - rq->cur;
}

static void piece_end(struct blk_req *rq)
{
	unsigned last = rq->cur + rq->sr.iovcnt - 1;

	rq->sr.off += rq->sr.len;
	if (rq->cut == last) {
		size_t taken = rq->data[last].len;

		rq->data[last].base = (uint8_t *)rq->data[last].base + taken;
		rq->data[last].len = rq->cut_len - taken;
		rq->cur = last;
	} else {
		rq->cur = last + 1;
	}
	rq->cut = UINT32_MAX;
	rq->sr.len = 0;
}

/* Hands rq's next storage step to the next submit. */
static void gather(struct vio__blk_queue *q, struct blk_req *rq)
{
	q->sub[q->cur_sub][q->nsub++] = &rq->sr;
	q->at_storage++;
}

/*
 * Used entries. Without IN_ORDER a request is used as soon as it is
 * answered (retire_one). With it, answered requests wait in their slots,
 * and publish() returns the run of answered ones at the head of pop order
 * (retire_in_order): when every one of the run was used in full, with one
 * used entry that says so for all of them. On a queue that stopped (a
 * reset, NEEDS_RESET from another queue) nothing is written to the ring;
 * the slots come free.
 */
static void retire_one(struct vio__blk_queue *q, struct blk_req *rq)
{
	struct vio_devq *vq = vio_dev_vq(&q->blk->dev, q->qi);

	/* None can fail: rq was popped from vq and used <= in_len. */
	if (vq) {
		(void)vio_devq_fill(vq, &rq->e, rq->used);
		q->filled++;
	}
	q->free[q->nfree++] = (unsigned)(rq - q->reqs);
}

static void retire_in_order(struct vio__blk_queue *q)
{
	struct vio_devq *vq = vio_dev_vq(&q->blk->dev, q->qi);
	const unsigned n = q->nreqs;
	struct blk_req *last = NULL;
	unsigned k = 0;
	bool whole = true, one;

	while (k < q->ocount && q->reqs[q->order[(q->ohead + k) % n]].done) {
		last = &q->reqs[q->order[(q->ohead + k) % n]];
		whole &= last->used == last->e.in_len;
		k++;
	}
	if (!k)
		return;
	one = whole && k > 1;
	if (vq && one) {
		(void)vio_devq_fill_in_order(vq, &last->e, last->used);
		q->filled++;
	}
	for (unsigned i = 0; i < k; i++) {
		unsigned slot = q->order[(q->ohead + i) % n];

		if (vq && !one) {
			(void)vio_devq_fill(vq, &q->reqs[slot].e, q->reqs[slot].used);
			q->filled++;
		}
		q->free[q->nfree++] = slot;
	}
	q->ohead = (q->ohead + k) % n;
	q->ocount -= k;
}

/* rq is answered: its status byte goes out and it is used (or, with
 * IN_ORDER, waits for publish()). */
static void finish(struct vio__blk_queue *q, struct blk_req *rq)
{
	if (rq->status.len)
		vio_iov_from_buf(&rq->status, 1, 0, &rq->st, 1);
	count(q, rq);
	rq->done = true;
	if (!vio_dev_has_feature(&q->blk->dev, VIO_F_IN_ORDER))
		retire_one(q, rq);
}

/* The storage finished a step of a request: run its next step, or answer
 * it. Runs inside submit() or process(), on the queue's thread. */
static void storage_done(void *opaque, struct vio_blk_storage_req *sr)
{
	struct vio__blk_queue *q = opaque;
	struct vio_blk_dev *blk = q->blk;
	struct blk_req *rq = (struct blk_req *)((char *)sr - offsetof(struct blk_req, sr));

	q->at_storage--;
	if (sr->res == 0) {
		if (rq->data && rq->left) {
			/* The next piece, with the same op and flags. */
			piece_end(rq);
			piece_start(blk, rq);
			gather(q, rq);
			return;
		}
		if (rq->flush_after) {
			/* FUA by hand: the write is done, now make it stable. */
			rq->flush_after = false;
			rq->sr.op = VIO_BLK_STORAGE_FLUSH;
			rq->sr.flags = 0;
			rq->sr.off = rq->sr.len = 0;
			rq->sr.iov = NULL;
			rq->sr.iovcnt = 0;
			gather(q, rq);
			return;
		}
		if (rq->nseg) {
			rq->seg++;
			if (seg_next(blk, rq)) {
				seg_step(blk, rq);
				gather(q, rq);
				return;
			}
		}
	}
	if (rq->data && rq->cut != UINT32_MAX) {
		/* A failed piece: put the span back as it was. */
		rq->data[rq->cut].len = rq->cut_len;
		rq->cut = UINT32_MAX;
	}
	end_io(blk, q, rq);
	finish(q, rq);
}

/* Publishes what the last storage call completed: one index update and
 * one interrupt decision. */
static void publish(struct vio__blk_queue *q)
{
	struct vio_devq *vq;

	if (q->ocount && vio_dev_has_feature(&q->blk->dev, VIO_F_IN_ORDER))
		retire_in_order(q);
	if (!q->filled)
		return;
	q->filled = 0;
	vq = vio_dev_vq(&q->blk->dev, q->qi);
	if (!vq)
		return;
	(void)vio_devq_flush(vq);
	stat_add(&q->stats.batches, 1);
	vio_dev_interrupt(&q->blk->dev, q->qi);
}

/* Submits the gathered steps, and the steps their completions gather,
 * publishing after each storage call. */
static void submit_gathered(struct vio__blk_queue *q)
{
	while (q->nsub) {
		struct vio_blk_storage_req **reqs = q->sub[q->cur_sub];
		unsigned n = q->nsub;

		q->cur_sub ^= 1;
		q->nsub = 0;
		q->blk->st->ops->submit(q->sq, reqs, n);
		publish(q);
	}
}

/* Pops chains into free slots and submits them, while the ring has
 * chains and slots are free. */
static void refill(struct vio__blk_queue *q)
{
	struct vio_blk_dev *blk = q->blk;
	const bool in_order = vio_dev_has_feature(&blk->dev, VIO_F_IN_ORDER);
	int r = 0;

	for (;;) {
		struct vio_devq *vq = vio_dev_vq(&blk->dev, q->qi);
		unsigned n = 0, inflight;

		if (!vq)
			return;
		/* Pop the whole batch first, asking for each header as its
		 * chain is known: the driver has just written those lines, so
		 * each is a trip to the other cpu's cache, and the trips
		 * overlap when they are started together rather than one
		 * after the other as each request is parsed. */
		while (n < q->batch && q->nfree) {
			unsigned slot = q->free[q->nfree - 1];
			struct blk_req *rq = &q->reqs[slot];

			r = vio_devq_pop(vq, &rq->e);
			if (r)
				break;
			q->nfree--;
			if (in_order)
				q->order[(q->ohead + q->ocount++) % q->nreqs] = slot;
			q->popped[n++] = slot;
			if (rq->e.out_num)
				__builtin_prefetch(rq->e.out[0].base);
		}
		inflight = q->nreqs - q->nfree;
		if (inflight > stat_get(&q->stats.max_batch))
			__atomic_store_n(&q->stats.max_batch, inflight, __ATOMIC_RELAXED);
		for (unsigned i = 0; i < n; i++) {
			struct blk_req *rq = &q->reqs[q->popped[i]];

			start_request(blk, q->qi, rq);
			if (!rq->run) {
				finish(q, rq);
				continue;
			}
			if (rq->data) {
				rq->cur = 0;
				rq->left = rq->sr.len;
				rq->sr.len = 0;
				piece_start(blk, rq);
			}
			gather(q, rq);
		}
		submit_gathered(q);
		publish(q);
		/* Stop when the ring is empty (or broken), or when every slot
		 * is taken: the completions that free one pop again. */
		if (r || n == 0)
			break;
	}
	/* A malformed ring (not a malformed request) stops the queue. */
	vio_dev_check(&blk->dev, q->qi, r);
}

static void blk_queue_notify(struct vio_dev_model *d, unsigned qi)
{
	struct vio_blk_dev *blk = blk_of(d);

	if (qi >= blk->nq || !vio_dev_vq(d, qi))
		return;
	refill(&blk->qs[qi]);
}

/* The storage's fd was readable: completions, then chains into the slots
 * they freed (and any the driver posted meanwhile). */
static void blk_queue_event(struct vio_dev_model *d, unsigned qi)
{
	struct vio_blk_dev *blk = blk_of(d);
	struct vio__blk_queue *q;

	if (qi >= blk->nq)
		return;
	q = &blk->qs[qi];
	if (blk->st->ops->process)
		blk->st->ops->process(q->sq);
	publish(q);
	submit_gathered(q);
	refill(q);
}

static int blk_queue_event_fd(struct vio_dev_model *d, unsigned qi)
{
	struct vio_blk_dev *blk = blk_of(d);

	return qi < blk->nq ? blk->qs[qi].fd : -1;
}

/* Waits for everything queue q has at the storage, taking no new chains. */
static void drain(struct vio__blk_queue *q)
{
	submit_gathered(q);
	while (q->at_storage) {
		if (q->fd >= 0)
			vio__blk_wait_fd(q->fd, 100);
		if (q->blk->st->ops->process)
			q->blk->st->ops->process(q->sq);
		publish(q);
		submit_gathered(q);
	}
}

static void blk_queue_drain(struct vio_dev_model *d, unsigned qi)
{
	struct vio_blk_dev *blk = blk_of(d);

	if (qi < blk->nq)
		drain(&blk->qs[qi]);
}

/* ------------------------------------------------------------------------ */
/* Control plane                                                            */

/* What the config looks like with the current cache mode. */
static void restore_config(struct vio_blk_dev *blk, uint8_t writeback)
{
	blk->config = blk->config0;
	blk->config.writeback = writeback;
	blk->writeback = writeback;
}

static int blk_features_ok(struct vio_dev_model *d, uint64_t features)
{
	struct vio_blk_dev *blk = blk_of(d);

	/* CONFIG_WCE without FLUSH: writeback must start at 0. */
	if (vio_has_feature(features, VIO_BLK_F_CONFIG_WCE) &&
	    !vio_has_feature(features, VIO_BLK_F_FLUSH))
		restore_config(blk, 0);
	return 0;
}

static int blk_start(struct vio_dev_model *d)
{
	struct vio_blk_dev *blk = blk_of(d);

	/*
	 * Writes must be stable at completion unless the driver can flush
	 * them: with CONFIG_WCE the writeback byte decides; without it,
	 * negotiating FLUSH means writeback and not negotiating it means
	 * writethrough.
	 */
	if (vio_dev_has_feature(d, VIO_BLK_F_CONFIG_WCE))
		set_writethrough(blk, blk->config.writeback == 0);
	else
		set_writethrough(blk, !vio_dev_has_feature(d, VIO_BLK_F_FLUSH));
	return 0;
}

static void blk_reset(struct vio_dev_model *d)
{
	struct vio_blk_dev *blk = blk_of(d);

	/* Nothing is in flight: the core drained every queue first. */
	restore_config(blk, blk->config0.writeback);
	set_writethrough(blk, false);
}

/* Only the writeback byte is writable, and only with CONFIG_WCE. The core
 * has already stored the bytes: put back whatever else changed. */
static void blk_config_write(struct vio_dev_model *d, unsigned off, unsigned len)
{
	struct vio_blk_dev *blk = blk_of(d);
	bool wce = vio_has_feature(d->host_features, VIO_BLK_F_CONFIG_WCE);

	/* Legacy drivers may set the cache mode before negotiating; modern
	 * ones only once CONFIG_WCE is agreed. */
	if (vio_dev_get_status(d) & VIO_STATUS_FEATURES_OK)
		wce = vio_dev_has_feature(d, VIO_BLK_F_CONFIG_WCE);
	if (off == offsetof(struct vio_blk_config, writeback) && len == 1 && wce) {
		uint8_t v = blk->config.writeback ? 1 : 0;

		restore_config(blk, v);
		if (vio_dev_get_status(d) & VIO_STATUS_DRIVER_OK)
			set_writethrough(blk, v == 0);
		return;
	}
	blk_log(blk, VIO_LOG_WARN,
		"blk: driver wrote %u read-only config bytes at offset %u: ignored", len, off);
	restore_config(blk, blk->writeback);
}

static const struct vio_dev_ops blk_ops = {
	.version = VIO_DEV_OPS_VERSION,
	.features_ok = blk_features_ok,
	.start = blk_start,
	.reset = blk_reset,
	.queue_notify = blk_queue_notify,
	.config_write = blk_config_write,
	.queue_event_fd = blk_queue_event_fd,
	.queue_event = blk_queue_event,
	.queue_drain = blk_queue_drain,
};

/* ------------------------------------------------------------------------ */
/* Setting up                                                               */

static uint64_t offered_features(const struct vio_blk_dev *blk, const struct vio_blk_dev_opts *o)
{
	uint64_t ring = o->ring_features ? o->ring_features : VIO_BLK_DEV_RING_FEATURES;
	const uint32_t caps = blk->st->caps;
	/* FLUSH is always offered: a storage with no volatile cache answers
	 * it at once (nothing to flush), and a driver that may flush may
	 * also run the cache in writeback mode. */
	uint64_t f = VIO_BIT(VIO_BLK_F_SEG_MAX) | VIO_BIT(VIO_BLK_F_GEOMETRY) |
		     VIO_BIT(VIO_BLK_F_BLK_SIZE) | VIO_BIT(VIO_BLK_F_FLUSH) |
		     VIO_BIT(VIO_BLK_F_TOPOLOGY) | VIO_BIT(VIO_BLK_F_CONFIG_WCE);

	if (caps & VIO_BLK_STORAGE_CAN_DISCARD)
		f |= VIO_BIT(VIO_BLK_F_DISCARD);
	if (caps & VIO_BLK_STORAGE_CAN_WRITE_ZEROES)
		f |= VIO_BIT(VIO_BLK_F_WRITE_ZEROES);

	if (o->size_max)
		f |= VIO_BIT(VIO_BLK_F_SIZE_MAX);
	if (blk->nq > 1)
		f |= VIO_BIT(VIO_BLK_F_MQ);
	f &= ~o->blk_features_off;
	/* The spec ties CONFIG_WCE to FLUSH, and a read-only disk says so. */
	if (!(f & VIO_BIT(VIO_BLK_F_FLUSH)))
		f &= ~VIO_BIT(VIO_BLK_F_CONFIG_WCE);
	if (blk->read_only)
		f |= VIO_BIT(VIO_BLK_F_RO);
	/* Legacy drivers lay requests out as they please only if told. */
	if (o->legacy_ok && !o->ring_features)
		ring |= VIO_BIT(VIO_F_ANY_LAYOUT);
	return ring | f;
}

/*
 * The power-on config space, in little-endian. (A legacy driver on a
 * big-endian host would want native order, but the device model has no
 * hook between feature negotiation and a legacy driver's first config
 * read; on little-endian hosts the two are the same.)
 */
static void build_config(struct vio_blk_dev *blk, const struct vio_blk_dev_opts *o,
			 uint32_t blk_size, uint32_t seg_max)
{
	struct vio_blk_config *c = &blk->config0;
	const uint64_t cyl = blk->capacity / (16 * 63);
	const uint64_t f = blk->dev.host_features;

	memset(c, 0, sizeof(*c));
	c->capacity = vio_cpu_to_le64(blk->capacity);
	c->size_max = vio_cpu_to_le32(o->size_max);
	c->seg_max = vio_cpu_to_le32(seg_max);
	/* A made-up CHS geometry, as firmware and old tools still ask. */
	c->geometry.cylinders = vio_cpu_to_le16(cyl > 65535 ? 65535 : (uint16_t)cyl);
	c->geometry.heads = 16;
	c->geometry.sectors = 63;
	c->blk_size = vio_cpu_to_le32(blk_size);
	c->topology.min_io_size = vio_cpu_to_le16(1);
	c->topology.opt_io_size = vio_cpu_to_le32(blk->st->opt_io_size / blk_size);
	c->writeback = vio_has_feature(f, VIO_BLK_F_FLUSH) ? 1 : 0;
	c->num_queues = vio_cpu_to_le16((uint16_t)blk->nq);
	c->max_discard_sectors = vio_cpu_to_le32(blk->max_discard_sectors);
	c->max_discard_seg = vio_cpu_to_le32(blk->max_discard_seg);
	c->discard_sector_alignment = vio_cpu_to_le32(blk_size >> VIO_BLK_SECTOR_SHIFT);
	c->max_write_zeroes_sectors = vio_cpu_to_le32(blk->max_wz_sectors);
	c->max_write_zeroes_seg = vio_cpu_to_le32(blk->max_wz_seg);
	c->write_zeroes_may_unmap = (blk->st->caps & VIO_BLK_STORAGE_CAN_UNMAP) ? 1 : 0;
	restore_config(blk, c->writeback);
}

static void queues_fini(struct vio_blk_dev *blk)
{
	for (unsigned i = 0; blk->qs && i < blk->nq; i++) {
		struct vio__blk_queue *q = &blk->qs[i];
		const unsigned n = q->nreqs;

		if (q->sq) {
			/* The transport is done with the device; a request still
			 * at the storage ends here, answered into the void. */
			drain(q);
			blk->st->ops->queue_close(q->sq);
		}
		vio__zfree(&blk->alloc, q->reqs, n, sizeof(*q->reqs));
		vio__zfree(&blk->alloc, q->free, n, sizeof(*q->free));
		vio__zfree(&blk->alloc, q->order, n, sizeof(*q->order));
		vio__zfree(&blk->alloc, q->popped, n, sizeof(*q->popped));
		vio__zfree(&blk->alloc, q->sub[0], n, sizeof(*q->sub[0]));
		vio__zfree(&blk->alloc, q->sub[1], n, sizeof(*q->sub[1]));
		vio__zfree(&blk->alloc, q->spans, q->nspans, sizeof(*q->spans));
		vio__zfree(&blk->alloc, q->segs, q->nsegs, sizeof(*q->segs));
	}
	vio__zfree(&blk->alloc, blk->qs, blk->nq, sizeof(*blk->qs));
	vio__zfree(&blk->alloc, blk->dqs, blk->nq, sizeof(*blk->dqs));
	blk->qs = NULL;
	blk->dqs = NULL;
}

/* Per queue: `depth` request slots, each with `spans` readable and
 * `spans` writable spans and room for the most segments a request may
 * carry, and the storage's side of the queue. */
static int queues_init(struct vio_blk_dev *blk, unsigned qsize, unsigned depth, unsigned batch,
		       unsigned spans, uint32_t seg_max)
{
	const uint32_t max_seg = blk->max_discard_seg > blk->max_wz_seg ? blk->max_discard_seg :
				 blk->max_wz_seg;
	const unsigned per = max_seg ? max_seg : 1;

	blk->dqs = vio__zalloc(&blk->alloc, blk->nq, sizeof(*blk->dqs));
	blk->qs = vio__zalloc(&blk->alloc, blk->nq, sizeof(*blk->qs));
	if (!blk->dqs || !blk->qs)
		return -ENOMEM;
	for (unsigned i = 0; i < blk->nq; i++) {
		struct vio__blk_queue *q = &blk->qs[i];
		int r;

		q->blk = blk;
		q->qi = i;
		q->fd = -1;
		blk->dqs[i].max_size = qsize;
		/* seg_max promises requests of seg_max data segments plus the
		 * header and the status byte, whatever queue size the driver
		 * picks: Linux builds indirect tables that long. */
		blk->dqs[i].indirect_max = seg_max < VIO_SPLIT_MAX_SIZE - 2 ?
					   seg_max + 2 : VIO_SPLIT_MAX_SIZE;
		q->nreqs = depth;
		q->batch = batch;
		q->reqs = vio__zalloc(&blk->alloc, depth, sizeof(*q->reqs));
		q->free = vio__zalloc(&blk->alloc, depth, sizeof(*q->free));
		q->order = vio__zalloc(&blk->alloc, depth, sizeof(*q->order));
		q->popped = vio__zalloc(&blk->alloc, depth, sizeof(*q->popped));
		q->sub[0] = vio__zalloc(&blk->alloc, depth, sizeof(*q->sub[0]));
		q->sub[1] = vio__zalloc(&blk->alloc, depth, sizeof(*q->sub[1]));
		q->nspans = (size_t)depth * 2 * spans;
		q->spans = vio__zalloc(&blk->alloc, q->nspans, sizeof(*q->spans));
		q->nsegs = depth * per;
		q->segs = vio__zalloc(&blk->alloc, q->nsegs, sizeof(*q->segs));
		if (!q->reqs || !q->free || !q->order || !q->popped || !q->sub[0] || !q->sub[1] ||
		    !q->spans || !q->segs)
			return -ENOMEM;
		for (unsigned k = 0; k < depth; k++) {
			struct blk_req *rq = &q->reqs[k];

			rq->e.out = q->spans + (size_t)2 * k * spans;
			rq->e.out_cap = spans;
			rq->e.in = rq->e.out + spans;
			rq->e.in_cap = spans;
			rq->segs = q->segs + (size_t)k * per;
			rq->cut = UINT32_MAX;
			/* Taken from the top: slot 0 first. */
			q->free[k] = depth - 1 - k;
		}
		q->nfree = depth;
		r = blk->st->ops->queue_open((struct vio_blk_storage *)blk->st, i, depth,
					     storage_done, q, &q->sq);
		if (r) {
			q->sq = NULL;
			return r;
		}
		q->fd = blk->st->ops->queue_fd ? blk->st->ops->queue_fd(q->sq) : -1;
	}
	if (vio__blk_builtin_uring_err(blk->st))
		blk_log(blk, VIO_LOG_INFO, "blk: io_uring unavailable (%s): using preadv/pwritev",
			vio_strerror(vio__blk_builtin_uring_err(blk->st)));
	return 0;
}

/* A storage the caller made must have what the device calls. */
static bool storage_ok(const struct vio_blk_storage *s)
{
	const struct vio_blk_storage_ops *ops = s ? s->ops : NULL;

	return ops && ops->version >= 1 && ops->queue_open && ops->queue_close && ops->submit &&
	       (!ops->queue_fd || ops->process) && s->size >= VIO_BLK_SECTOR_SIZE &&
	       (s->block_size == 0 || (s->block_size >= VIO_BLK_SECTOR_SIZE &&
				       !(s->block_size & (s->block_size - 1))));
}

/* The serial's length, if it is at most max bytes; else max + 1. */
static size_t serial_len(const char *s, size_t max)
{
	size_t n = 0;

	while (s && n <= max && s[n])
		n++;
	return n;
}

static bool power_of_2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static uint32_t or_default(uint32_t v, uint32_t def)
{
	return v ? v : def;
}

int vio_blk_dev_init(struct vio_blk_dev *blk, const struct vio_blk_dev_opts *o)
{
	unsigned qsize;
	uint32_t blk_size, seg_max;
	size_t id_len;
	unsigned batch, depth, spans;
	bool has_fd;
	int r;

	memset(blk, 0, sizeof(*blk));
	if (!o)
		return -EINVAL;
	if (o->backend == VIO_BLK_BACKEND_STORAGE && !storage_ok(o->storage))
		return -EINVAL;
	qsize = o->queue_size ? o->queue_size : DEFAULT_QUEUE_SIZE;
	blk_size = o->blk_size;
	if (!blk_size && o->backend == VIO_BLK_BACKEND_STORAGE)
		blk_size = o->storage->block_size;
	blk_size = or_default(blk_size, VIO_BLK_SECTOR_SIZE);
	id_len = serial_len(o->serial, VIO_BLK_ID_BYTES);
	blk->nq = o->num_queues ? o->num_queues : 1;
	if (blk->nq > VIO_BLK_MAX_QUEUES || !vio_ring_size_valid(0, qsize) ||
	    !power_of_2(blk_size) || blk_size < VIO_BLK_SECTOR_SIZE || blk_size > (1u << 20) ||
	    id_len > VIO_BLK_ID_BYTES || o->max_discard_seg > MAX_DISCARD_SEG ||
	    o->max_write_zeroes_seg > MAX_DISCARD_SEG ||
	    !vio__alloc_pick(&blk->alloc, o->alloc, o->free, o->alloc_opaque))
		return -EINVAL;
	blk->dev.log = o->log;
	blk->dev.log_opaque = o->log_opaque;
	blk->max_discard_sectors = or_default(o->max_discard_sectors, DEFAULT_DISCARD_SECTORS);
	blk->max_discard_seg = or_default(o->max_discard_seg, DEFAULT_DISCARD_SEG);
	blk->max_wz_sectors = or_default(o->max_write_zeroes_sectors, DEFAULT_DISCARD_SECTORS);
	blk->max_wz_seg = or_default(o->max_write_zeroes_seg, DEFAULT_DISCARD_SEG);
	memcpy(blk->id, o->serial ? o->serial : "", id_len);

	if (o->backend == VIO_BLK_BACKEND_STORAGE) {
		blk->st = o->storage;
		has_fd = true;  /* it may well complete later */
	} else {
		r = vio__blk_builtin_open(&blk->own, o, &blk->alloc);
		if (r)
			goto fail;
		blk->own_open = true;
		blk->st = &blk->own;
		has_fd = ((const struct vio__blk_backend *)blk->own.opaque)->want_uring;
	}
	blk->read_only = o->read_only || blk->st->read_only;
	blk->capacity = blk->st->size >> VIO_BLK_SECTOR_SHIFT;
	blk->max_transfer = blk->st->max_transfer & ~(uint64_t)(VIO_BLK_SECTOR_SIZE - 1);
	if (blk->st->max_transfer && !blk->max_transfer)
		blk->max_transfer = VIO_BLK_SECTOR_SIZE;

	seg_max = or_default(o->seg_max, qsize > 3 ? qsize - 2 : 1);
	spans = (seg_max < 2 * qsize ? seg_max : 2 * qsize) + 2 + SPAN_SLACK;
	batch = o->batch ? o->batch : has_fd ? DEFAULT_BATCH_URING : DEFAULT_BATCH_SYNC;
	depth = o->depth ? o->depth : has_fd ? DEFAULT_DEPTH : batch;
	if (depth > qsize)
		depth = qsize;
	if (batch > depth)
		batch = depth;
	r = queues_init(blk, qsize, depth, batch, spans, seg_max);
	if (r)
		goto fail;

	blk->dev.device_id = VIO_ID_BLOCK;
	blk->dev.host_features = offered_features(blk, o);
	blk->dev.legacy_ok = o->legacy_ok;
	blk->dev.queues = blk->dqs;
	blk->dev.num_queues = blk->nq;
	blk->dev.ops = &blk_ops;
	build_config(blk, o, blk_size, seg_max);
	blk->dev.config = (uint8_t *)&blk->config;
	blk->dev.config_len = sizeof(blk->config);
	r = vio_dev_init(&blk->dev);
	if (r)
		goto fail;
	return 0;
fail:
	vio_blk_dev_fini(blk);
	return r;
}

void vio_blk_dev_fini(struct vio_blk_dev *blk)
{
	if (blk->st)
		queues_fini(blk);
	if (blk->own_open && blk->own.ops->close)
		blk->own.ops->close(&blk->own);
	memset(blk, 0, sizeof(*blk));
}

int vio_blk_dev_stats(const struct vio_blk_dev *blk, unsigned qi, struct vio_blk_queue_stats *out)
{
	const struct vio_blk_queue_stats *s;

	if (qi >= blk->nq)
		return -EINVAL;
	s = &blk->qs[qi].stats;
	out->requests = stat_get(&s->requests);
	out->reads = stat_get(&s->reads);
	out->writes = stat_get(&s->writes);
	out->flushes = stat_get(&s->flushes);
	out->discards = stat_get(&s->discards);
	out->write_zeroes = stat_get(&s->write_zeroes);
	out->get_ids = stat_get(&s->get_ids);
	out->bytes_read = stat_get(&s->bytes_read);
	out->bytes_written = stat_get(&s->bytes_written);
	out->ioerr = stat_get(&s->ioerr);
	out->unsupp = stat_get(&s->unsupp);
	out->unanswered = stat_get(&s->unanswered);
	out->batches = stat_get(&s->batches);
	out->max_batch = stat_get(&s->max_batch);
	return 0;
}

uint64_t vio_blk_dev_capacity(const struct vio_blk_dev *blk)
{
	return blk->capacity;
}

bool vio_blk_dev_writethrough(const struct vio_blk_dev *blk)
{
	return writethrough(blk);
}

bool vio_blk_dev_uses_io_uring(const struct vio_blk_dev *blk)
{
	return blk->st && vio__blk_builtin_uses_uring(blk->st);
}
