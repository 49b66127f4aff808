/*
 * devq_harness.c - the device-side fuzz harness both devq targets share
 * (see devq_harness.h): guest memory from the input, the script of device
 * calls, and the invariants that trap.
 *
 * Each region is a heap block of exactly its size, so ASan reports any
 * access outside the regions; every span pop returns is also read and
 * written in full through the iov helpers. Invariants, which trap:
 *  - every span lies inside one region's host block; out_len and in_len
 *    are the sums of the spans; the span counts respect the caps;
 *  - pop returns 0, -EAGAIN or a documented error (-EIO, -EFAULT,
 *    -ENOBUFS); after an error the queue is stopped for good: pop repeats
 *    the error, push/fill/flush fail, has_avail and need_interrupt say no;
 *  - push/fill refuse a len above the element's in_len;
 *  - a pop moves the avail position (vio_devq_avail_base) on by one entry
 *    (split) or by the descriptors the chain used, wrap counter included
 *    (packed), except a chain the inflight log hands out again, which
 *    leaves it and comes before any chain from the ring; a flush moves the
 *    used position by the entries (split) or descriptors (packed) filled
 *    since the last one;
 *  - the final drain ends (nothing left, or stopped) within a bound.
 */
#include "devq_harness.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Chunk size for reading and writing spans; smaller than a region can be,
 * so the offset arithmetic of the iov helpers gets exercised. */
#define SCRATCH 4096

#define WRAP_BIT (1u << VIO_PACKED_EVENT_WRAP_SHIFT)
#define AVAIL    VIO_PACKED_DESC_F_AVAIL
#define USED     VIO_PACKED_DESC_F_USED

/* ------------------------------------------------------------------------ */
/* Setup from the input header                                              */

static uint64_t region_addr(const struct fz_devq *c, unsigned i, uint8_t mode, uint8_t gap,
			    uint64_t size)
{
	uint64_t prev_end = i ? c->reg[i - 1].addr + c->reg[i - 1].size : FZ_BASE;

	switch (mode % FZ_R_MODES) {
	case FZ_R_ADJACENT:
		return prev_end;
	case FZ_R_HOLE:
		return prev_end + ((uint64_t)gap + 1) * 16;
	case FZ_R_FAR:
		return prev_end + (((uint64_t)gap + 1) << 24);
	default:
		return (uint64_t)0 - size - gap;
	}
}

static void setup_regions(struct fz_devq *c, struct fz *f)
{
	unsigned n = 1 + fz_u8(f) % FZ_MAX_REGIONS;

	vio_mem_init(&c->mem, c->table, FZ_MAX_REGIONS);
	for (unsigned i = 0; i < n; i++) {
		struct fz_region *r = &c->reg[i];
		uint8_t mode = fz_u8(f);
		size_t size = 1 + fz_u16(f) % FZ_REGION_MAX;
		uint8_t gap = fz_u8(f);

		r->size = size;
		r->addr = region_addr(c, i, mode, gap, size);
		r->host = calloc(1, size);
		if (!r->host)
			abort();
		/* Overlaps and wraps are refused; such a region stays out. */
		r->added = vio_mem_add(&c->mem, r->addr, r->size, r->host) == 0;
	}
	c->nreg = n;
}

static uint64_t placement(const struct fz_devq *c, struct fz *f)
{
	unsigned ri = fz_u8(f) % c->nreg;
	uint16_t off = fz_u16(f);

	if (off & 0x8000)
		off &= 0x7fff;
	else
		off &= 0x7ff0;
	return c->reg[ri].addr + off;
}

/* The layout comes from the build, not the input; packed rings exist only
 * in virtio 1.x, so VERSION_1 goes with them. */
static uint64_t features_of(uint8_t b)
{
#ifdef FUZZ_LAYOUT_PACKED
	b |= FZ_F_PACKED | FZ_F_VERSION_1;
#else
	b &= (uint8_t)~FZ_F_PACKED;
#endif
	return ((b & FZ_F_EVENT_IDX) ? VIO_BIT(VIO_F_EVENT_IDX) : 0) |
	       ((b & FZ_F_INDIRECT) ? VIO_BIT(VIO_F_INDIRECT_DESC) : 0) |
	       ((b & FZ_F_VERSION_1) ? VIO_BIT(VIO_F_VERSION_1) : 0) |
	       ((b & FZ_F_NOTIFY_EMPTY) ? VIO_BIT(VIO_F_NOTIFY_ON_EMPTY) : 0) |
	       ((b & FZ_F_PACKED) ? VIO_BIT(VIO_F_RING_PACKED) : 0) |
	       ((b & FZ_F_IN_ORDER) ? VIO_BIT(VIO_F_IN_ORDER) : 0);
}

void fz_devq_parse(struct fz_devq *c, struct fz *f)
{
	uint8_t b = fz_u8(f);

	c->cfg.size = (b & 0x80) ? fz_u16(f) : 1u << (b % 9);
	c->cfg.features = features_of(fz_u8(f));
	c->packed = vio_has_feature(c->cfg.features, VIO_F_RING_PACKED);
	setup_regions(c, f);
	c->cfg.addrs.desc = placement(c, f);
	c->cfg.addrs.driver = placement(c, f);
	c->cfg.addrs.device = placement(c, f);
	c->cfg.resume = fz_u8(f) & 1;
	c->cfg.avail_base = fz_u16(f);
	c->cfg.used_base = fz_u16(f);
	c->cfg.mem = &c->mem;
	c->out_cap = 1 + fz_u8(f) % FZ_MAX_IOV;
	c->in_cap = 1 + fz_u8(f) % FZ_MAX_IOV;
	c->nops = fz_u8(f);
	for (unsigned i = 0; i < c->nops; i++)
		for (unsigned k = 0; k < 4; k++)
			c->ops[i][k] = fz_u8(f);
}

void fz_devq_fill_memory(struct fz_devq *c, struct fz *f)
{
	for (unsigned i = 0; i < c->nreg; i++)
		fz_take(f, c->reg[i].host, c->reg[i].size);
}

void fz_devq_free(struct fz_devq *c)
{
	for (unsigned i = 0; i < c->nreg; i++)
		free(c->reg[i].host);
}

/* ------------------------------------------------------------------------ */
/* Invariants                                                               */

static bool span_in_region(const struct fz_devq *c, const struct vio_iov *v)
{
	uintptr_t b = (uintptr_t)v->base;

	for (unsigned i = 0; i < c->nreg; i++) {
		uintptr_t h = (uintptr_t)c->reg[i].host;

		if (c->reg[i].added && b >= h && v->len <= c->reg[i].size &&
		    b - h <= c->reg[i].size - v->len)
			return true;
	}
	return false;
}

static uint64_t check_spans(const struct fz_devq *c, const struct vio_iov *v, unsigned n)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < n; i++) {
		CHECK(span_in_region(c, &v[i]));
		sum += v[i].len;
	}
	CHECK(sum == vio_iov_length(v, n));
	return sum;
}

/* Reads every readable byte and writes every writable one, through the
 * helpers a device uses, in chunks at increasing offsets. */
static void touch_spans(const struct vio_elem *e)
{
	uint8_t scratch[SCRATCH];
	size_t off, got;

	for (off = 0; off < e->out_len; off += got) {
		got = vio_iov_to_buf(e->out, e->out_num, off, scratch, sizeof(scratch));
		CHECK(got > 0);
	}
	CHECK(off == e->out_len);
	memset(scratch, 0x5a, sizeof(scratch));
	for (off = 0; off < e->in_len; off += got) {
		got = vio_iov_from_buf(e->in, e->in_num, off, scratch, sizeof(scratch));
		CHECK(got > 0);
	}
	CHECK(off == e->in_len);
	/* Past the end there is nothing to copy. */
	CHECK(vio_iov_to_buf(e->out, e->out_num, e->out_len, scratch, 1) == 0);
	CHECK(vio_iov_from_buf(e->in, e->in_num, e->in_len, scratch, 1) == 0);
}

static void check_popped(const struct fz_devq *c, const struct vio_elem *e)
{
	CHECK(e->id < c->q.size);
	CHECK(e->out_num <= e->out_cap && e->in_num <= e->in_cap);
	CHECK(check_spans(c, e->out, e->out_num) == e->out_len);
	CHECK(check_spans(c, e->in, e->in_num) == e->in_len);
	CHECK(e->ndescs >= 1 && e->ndescs <= c->q.size);
	touch_spans(e);
}

static void held_prepare(const struct fz_devq *c, struct fz_held *h)
{
	h->e.out = h->out;
	h->e.in = h->in;
	h->e.out_cap = c->out_cap;
	h->e.in_cap = c->in_cap;
}

/* A stopped queue stays stopped and every call on it fails fast. */
static void check_still_stopped(struct fz_devq *c)
{
	struct fz_held h;

	CHECK(vio_devq_is_stopped(&c->q));
	CHECK(vio_devq_error(&c->q) != NULL);
	memset(&h, 0, sizeof(h));
	held_prepare(c, &h);
	CHECK(vio_devq_pop(&c->q, &h.e) == c->stop_err);
	CHECK(!vio_devq_has_avail(&c->q));
	CHECK(!vio_devq_need_interrupt(&c->q));
	CHECK(vio_devq_flush(&c->q) == c->stop_err);
}

void fz_devq_stopped_with(struct fz_devq *c, int r)
{
	CHECK(r == -EIO || r == -EFAULT || r == -ENOBUFS);
	c->stop_err = r;
	check_still_stopped(c);
}

/* A call other than pop stopped the queue (allowed says whether it may):
 * the next pop must report why. */
static void stopped_by_other(struct fz_devq *c, bool allowed)
{
	struct fz_held probe;

	if (c->stop_err || !vio_devq_is_stopped(&c->q))
		return;
	CHECK(allowed);
	memset(&probe, 0, sizeof(probe));
	held_prepare(c, &probe);
	fz_devq_stopped_with(c, vio_devq_pop(&c->q, &probe.e));
}

uint16_t fz_devq_base_plus(const struct fz_devq *c, uint16_t base, unsigned n)
{
	unsigned pos = base & ~WRAP_BIT, wrap = base & WRAP_BIT;

	if (!c->packed)
		return (uint16_t)(base + n);
	pos += n;
	if (pos >= c->q.size) {
		pos -= c->q.size;
		wrap ^= WRAP_BIT;
	}
	return (uint16_t)(pos | wrap);
}

/* A flush succeeded: the used position moved by what was staged. */
static void flushed(struct fz_devq *c)
{
	uint16_t now = vio_devq_used_base(&c->q);

	if (!c->staged_unknown)
		CHECK(now == fz_devq_base_plus(c, c->used_base, c->staged));
	c->used_base = now;
	c->staged = 0;
	c->staged_unknown = false;
	if (c->hooks.flushed)
		c->hooks.flushed(c);
}

static void resubmit_over(struct fz_devq *c)
{
	if (!c->resubmitting)
		return;
	c->resubmitting = false;
	if (c->hooks.resubmit_done)
		c->hooks.resubmit_done(c);
}

/* ------------------------------------------------------------------------ */
/* Ops                                                                      */

static int op_pop(struct fz_devq *c, uint8_t a)
{
	struct fz_held *h = &c->held[a % FZ_MAX_HELD];
	uint16_t before = vio_devq_avail_base(&c->q);
	bool again;
	int r;

	held_prepare(c, h);
	r = vio_devq_pop(&c->q, &h->e);
	if (c->stop_err) {
		CHECK(r == c->stop_err);
		return r;
	}
	if (r == 0) {
		CHECK(!vio_devq_is_stopped(&c->q));
		check_popped(c, &h->e);
		/* A chain from the ring always moves the position (packed: a
		 * whole lap flips the wrap bit), so one that leaves it is one
		 * handed out again, which only the first pops may be. */
		again = c->resubmitting && vio_devq_avail_base(&c->q) == before;
		if (!again) {
			resubmit_over(c);
			CHECK(vio_devq_avail_base(&c->q) ==
			      fz_devq_base_plus(c, before, c->packed ? h->e.ndescs : 1));
		}
		h->live = true;
		if (c->hooks.popped)
			c->hooks.popped(c, &h->e, again);
	} else if (r == -EAGAIN) {
		CHECK(!vio_devq_is_stopped(&c->q));
		resubmit_over(c);
	} else {
		fz_devq_stopped_with(c, r);
		h->live = false;
	}
	return r;
}

enum fill_kind { PUSH, FILL, FILL_IN_ORDER };

static void op_fill(struct fz_devq *c, enum fill_kind kind, uint8_t a, uint8_t b, uint8_t cc)
{
	struct fz_held *h = &c->held[a % FZ_MAX_HELD];
	uint32_t len, before = c->q.filled;
	int r;

	if (!h->live)
		return;
	switch (b % 4) {
	case 0:
		len = 0;
		break;
	case 1:
		len = h->e.in_len;
		break;
	case 2:
		len = h->e.in_len + 1;
		break;
	default:
		len = h->e.in_len ? cc % (h->e.in_len + 1) : 0;
		break;
	}
	if (kind == PUSH)
		r = vio_devq_push(&c->q, &h->e, len);
	else if (kind == FILL)
		r = vio_devq_fill(&c->q, &h->e, len);
	else
		r = vio_devq_fill_in_order(&c->q, &h->e, len);
	if (c->stop_err)
		CHECK(r == c->stop_err);
	else if (len > h->e.in_len)
		CHECK(r == -EINVAL);
	else if (vio_devq_is_stopped(&c->q))
		CHECK(r == -EIO);       /* only the inflight log's checks stop here */
	stopped_by_other(c, c->fill_may_stop);
	if (r)
		return;
	h->live = false;
	if (kind == FILL_IN_ORDER)
		c->staged_unknown = true;
	else
		c->staged += c->packed ? h->e.ndescs : 1;
	if (c->hooks.filled)
		c->hooks.filled(c, &h->e, before, c->q.filled - before);
	if (kind == PUSH)
		flushed(c);
}

/* Writes guest memory through the region table, as a racing driver would
 * between two device calls. */
static void op_poke(struct fz_devq *c, uint8_t a, uint8_t b, uint8_t val)
{
	const uint64_t base[3] = { c->cfg.addrs.desc, c->cfg.addrs.driver, c->cfg.addrs.device };

	vio_mem_write(&c->mem, base[b % 3] + a + (uint64_t)(b >> 2) * 256, &val, 1);
}

/* Packed: the descriptors from the device's avail position on get the
 * AVAIL/USED bits that make them available at their wrap counters; the
 * other flag bits stay what guest memory says. */
static void publish_packed(struct fz_devq *c, unsigned n)
{
	uint16_t base = vio_devq_avail_base(&c->q);
	unsigned pos = base & ~WRAP_BIT;
	bool wrap = base & WRAP_BIT;

	for (unsigned k = 0; k < n; k++) {
		uint64_t at = c->cfg.addrs.desc + (uint64_t)pos * sizeof(struct vio_packed_desc) +
			      offsetof(struct vio_packed_desc, flags);
		vio_le16 raw;
		uint16_t flags;

		if (vio_mem_read(&c->mem, at, &raw, sizeof(raw)))
			return;
		flags = vio_le16_to_cpu(raw) & (uint16_t)~(AVAIL | USED);
		flags |= wrap ? AVAIL : USED;
		raw = vio_cpu_to_le16(flags);
		vio_mem_write(&c->mem, at, &raw, sizeof(raw));
		if (++pos == c->q.size) {
			pos = 0;
			wrap = !wrap;
		}
	}
}

static void op_publish(struct fz_devq *c, uint8_t a)
{
	vio_le16 idx;
	uint64_t at = c->cfg.addrs.driver + 2;
	bool legacy = !vio_has_feature(c->cfg.features, VIO_F_VERSION_1);

	if (c->packed) {
		publish_packed(c, 1 + a % 8);
		return;
	}
	if (vio_mem_read(&c->mem, at, &idx, sizeof(idx)))
		return;
	idx = vio_set16(legacy, (uint16_t)(vio_get16(legacy, idx) + 1 + a % 8));
	vio_mem_write(&c->mem, at, &idx, sizeof(idx));
}

void fz_devq_op(struct fz_devq *c, uint8_t op, uint8_t a, uint8_t b, uint8_t cc)
{
	bool r;

	op %= FZ_DOP_COUNT;
	switch (op) {
	case FZ_DOP_POP:
		op_pop(c, a);
		break;
	case FZ_DOP_PUSH:
		op_fill(c, PUSH, a, b, cc);
		break;
	case FZ_DOP_FILL:
		op_fill(c, FILL, a, b, cc);
		break;
	case FZ_DOP_FILL_IN_ORDER:
		op_fill(c, FILL_IN_ORDER, a, b, cc);
		break;
	case FZ_DOP_FLUSH:
		CHECK(vio_devq_flush(&c->q) == c->stop_err);
		if (!c->stop_err)
			flushed(c);
		break;
	case FZ_DOP_NEED_INTERRUPT:
		r = vio_devq_need_interrupt(&c->q);
		CHECK(!(r && c->stop_err));
		break;
	case FZ_DOP_KICK_DISABLE:
		vio_devq_kick_disable(&c->q);
		break;
	case FZ_DOP_KICK_ENABLE:
		vio_devq_kick_enable(&c->q);
		break;
	case FZ_DOP_HAS_AVAIL:
		r = vio_devq_has_avail(&c->q);
		CHECK(!(r && vio_devq_is_stopped(&c->q)));
		break;
	case FZ_DOP_PUBLISH:
		op_publish(c, a);
		break;
	default:
		op_poke(c, a, b, cc);
		break;
	}
	(void)vio_devq_avail_base(&c->q);
	(void)vio_devq_used_base(&c->q);
	if (c->stop_err)
		CHECK(vio_devq_is_stopped(&c->q));
	/* Besides pop and fill, only has_avail reads what the driver wrote
	 * (packed: it stops on impossible wrap bits at the head, and says
	 * no). */
	stopped_by_other(c, op == FZ_DOP_HAS_AVAIL);
}

/* Does [a, a + alen) overlap [b, b + blen)? (guest addresses) */
static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Where the device reads what the driver made available: the avail ring
 * (split) or the descriptor ring (packed). */
static void avail_area(const struct fz_devq *c, uint64_t *at, uint64_t *len)
{
	*at = c->packed ? c->cfg.addrs.desc : c->cfg.addrs.driver;
	*len = c->packed ? vio_ring_desc_bytes(c->cfg.features, c->q.size)
			 : vio_ring_driver_bytes(c->cfg.features, c->q.size);
}

/* Could the device's own writes (into the device area, or into a writable
 * span the driver placed there) make more entries available? */
static bool writes_feed_ring(const struct fz_devq *c, const struct vio_elem *e)
{
	uint64_t at, len;

	avail_area(c, &at, &len);
	if (overlaps(c->cfg.addrs.device, vio_ring_device_bytes(c->cfg.features, c->q.size), at, len))
		return true;
	for (unsigned i = 0; i < e->in_num; i++) {
		uintptr_t b = (uintptr_t)e->in[i].base;

		for (unsigned r = 0; r < c->nreg; r++) {
			uintptr_t h = (uintptr_t)c->reg[r].host;

			if (b >= h && b - h < c->reg[r].size &&
			    overlaps(c->reg[r].addr + (b - h), e->in[i].len, at, len))
				return true;
		}
	}
	return false;
}

/* Pops and pushes until the ring is empty or the queue stops. The driver
 * makes nothing new available meanwhile, so that takes at most one pop per
 * chain the log hands out again (at most the queue size) and one per ring
 * entry (split) or descriptor (packed) the driver had made available,
 * unless the device's own writes land on the ring. */
void fz_devq_drain(struct fz_devq *c)
{
	unsigned limit = 2 * c->q.size + 8;
	bool fed = false;

	for (unsigned i = 0; !c->stop_err; i++) {
		if (i == limit) {
			CHECK(fed);
			break;
		}
		if (op_pop(c, 0))
			break;
		fed = fed || writes_feed_ring(c, &c->held[0].e);
		op_fill(c, PUSH, 0, 1, 0);
		vio_devq_need_interrupt(&c->q);
	}
	if (c->stop_err)
		check_still_stopped(c);
}

void fz_devq_started(struct fz_devq *c)
{
	c->used_base = vio_devq_used_base(&c->q);
}
