/*
 * test_drvq.c - unit tests for the driver side of a virtqueue (struct vio_drvq).
 *
 * The driver side is the half of the ring a guest runs, and the half that
 * has to survive a device that lies. These tests drive it two ways:
 *
 *  - against libvio's own device side (vio_devq_*) over the tests/lib pair
 *    fixture, wherever a well-behaved peer is wanted: end to end traffic,
 *    kick and interrupt suppression, callbacks, detach after reset;
 *  - against a fake, hostile device written here, which pokes the shared
 *    split ring by hand (used entries, used->idx, used->flags, avail_event)
 *    or the packed ring (used descriptors: id, len, AVAIL/USED bits) to
 *    return impossible things and to scribble over memory the driver
 *    must never read its own bookkeeping back from.
 *
 * Tests that only use the public API form one suite parametrised by a ring
 * layout row (layouts[] below; the packed ring appends a row) and, where it
 * matters, by EVENT_IDX, INDIRECT_DESC, byte order (VERSION_1) and
 * IN_ORDER. Tests that read or write the split ring areas directly sit
 * under the "split-specific" heading and run only for split layouts; those
 * that write the packed descriptor ring, under "packed-specific", only for
 * packed ones. main() expands the tables into one cmocka group, one TAP
 * line per test and variant.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pair.h"
#include "layouts.h"

/* ======================================================================== */
/* Parameters                                                               */

/* The ring layouts: tests/lib/layouts.h. */

/* Axes a test asks to run along; each one doubles its variants. */
#define AX_EVIDX	(1u << 0)	/* VIO_F_EVENT_IDX off, on */
#define AX_INDIRECT	(1u << 1)	/* VIO_F_INDIRECT_DESC off, on */
#define AX_LEGACY	(1u << 2)	/* VIO_F_VERSION_1 on, off (byte order) */
#define AX_ALL		(AX_EVIDX | AX_INDIRECT | AX_LEGACY)
#define AX_INORDER	(1u << 3)	/* VIO_F_IN_ORDER off, on; not in AX_ALL */
#define AX_EVERY	(AX_ALL | AX_INORDER)

/* Indirect table entries per head when the indirect axis is on. */
#define INDIRECT_MAX	8u

struct variant {
	const struct layout *layout;
	uint64_t features;
	unsigned indirect_max;
	char name[112];
};

/* ======================================================================== */
/* Per-test context and helpers                                             */

#define MAX_SEGS	40u
#define IOV_CAP		64u
#define SEG_LEN		64u
#define MAX_ELEMS	256u

struct ctx {
	const struct variant *v;
	struct vt_pair p;
	bool live;
	unsigned indirect_max;  /* what the current pair was built with */
	size_t cursor;          /* next unused byte of the buffer area */
	unsigned notifies;      /* calls of the notify callback */
	uint16_t fake_used;     /* used->idx as the fake device last wrote it */
	uint16_t fake_pos;      /* packed: where the fake device writes its */
	bool fake_wrap;         /* next used descriptor, and its wrap counter */
	struct vio_iov out_iov[IOV_CAP], in_iov[IOV_CAP];
};

static int ctx_setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	c->v = *state;
	*state = c;
	return 0;
}

static int ctx_teardown(void **state)
{
	struct ctx *c = *state;

	if (c->live)
		vt_pair_fini(&c->p);
	free(c);
	return 0;
}

/* Tokens are opaque to the queue: small integers dressed up as pointers. */
#define TOK(i)		((void *)(uintptr_t)(0x10000u + (unsigned)(i)))

static unsigned tok_idx(void *tok)
{
	return (unsigned)((uintptr_t)tok - 0x10000u);
}

static bool has(const struct ctx *c, unsigned bit)
{
	return vio_has_feature(c->p.features, bit);
}

/* The byte order the ring uses: native without VERSION_1. */
static bool wire_legacy(const struct ctx *c)
{
	return !has(c, VIO_F_VERSION_1);
}

static void count_notify(void *opaque)
{
	((struct ctx *)opaque)->notifies++;
}

/*
 * (Re)builds the pair with the variant's features plus `extra`. The
 * variant's indirect table size applies unless opts names its own.
 */
static struct vt_pair *pair_with(struct ctx *c, unsigned size, uint64_t extra,
				 const struct vt_pair_opts *opts)
{
	struct vt_pair_opts o = { 0 };

	if (opts)
		o = *opts;
	if (!o.indirect_max)
		o.indirect_max = c->v->indirect_max;
	if (c->live)
		vt_pair_fini(&c->p);
	c->live = true;
	c->indirect_max = o.indirect_max;
	c->cursor = 0;
	c->notifies = 0;
	c->fake_used = 0;
	c->fake_pos = 0;
	c->fake_wrap = true;
	assert_int_equal(vt_pair_init(&c->p, size, c->v->features | extra, &o), 0);
	return &c->p;
}

static struct vt_pair *pair(struct ctx *c, unsigned size)
{
	return pair_with(c, size, 0, NULL);
}

/* Ring descriptors a buffer of n segments takes. */
static unsigned descs_for(const struct ctx *c, unsigned n)
{
	bool ind = has(c, VIO_F_INDIRECT_DESC) && c->indirect_max > 1;

	return ind && n >= 2 && n <= c->indirect_max ? 1 : n;
}

/* A fresh segment of the buffer area (wraps: the ring does not care). */
static struct vio_sg next_seg(struct ctx *c, uint32_t len)
{
	struct vio_sg sg;

	if (c->cursor + len > c->p.buf_len)
		c->cursor = 0;
	sg = vt_sg(&c->p, c->cursor, len);
	c->cursor += ((size_t)len + 63) & ~(size_t)63;
	return sg;
}

static void make_sgs(struct ctx *c, struct vio_sg *sg, unsigned n, uint32_t len)
{
	for (unsigned k = 0; k < n; k++)
		sg[k] = next_seg(c, len);
}

/* Posts nout readable and nin writable segments of SEG_LEN bytes each. */
typedef int add_fn(struct vio_drvq *q, const struct vio_sg *out, unsigned out_n,
		   const struct vio_sg *in, unsigned in_n, void *token);

/* A buffer of nout + nin fresh SEG_LEN segments, posted with `add`. */
static int post_with(struct ctx *c, add_fn *add, unsigned nout, unsigned nin, void *tok)
{
	struct vio_sg out[MAX_SEGS], in[MAX_SEGS];

	assert_true(nout <= MAX_SEGS && nin <= MAX_SEGS);
	make_sgs(c, out, nout, SEG_LEN);
	make_sgs(c, in, nin, SEG_LEN);
	return add(&c->p.drv, out, nout, in, nin, tok);
}

static int post(struct ctx *c, unsigned nout, unsigned nin, void *tok)
{
	return post_with(c, vio_drvq_add, nout, nin, tok);
}

static int post_staged(struct ctx *c, unsigned nout, unsigned nin, void *tok)
{
	return post_with(c, vio_drvq_add_staged, nout, nin, tok);
}

static void reap(struct ctx *c, void *want_tok, uint32_t want_len)
{
	void *tok = NULL;
	uint32_t len = 0;

	assert_int_equal(vio_drvq_get_buf(&c->p.drv, &tok, &len), 0);
	assert_ptr_equal(tok, want_tok);
	assert_int_equal(len, want_len);
}

static void assert_nothing_used(struct ctx *c)
{
	void *tok = NULL;
	uint32_t len = 0;

	assert_false(vio_drvq_has_used(&c->p.drv));
	assert_int_equal(vio_drvq_get_buf(&c->p.drv, &tok, &len), -EAGAIN);
	assert_false(vio_drvq_is_broken(&c->p.drv));
}

static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 16;
}

/* ------------------------------------------------------------------------ */
/* The real, well-behaved device                                            */

static int dev_pop(struct ctx *c, struct vio_elem *e)
{
	memset(e, 0, sizeof(*e));
	e->out = c->out_iov;
	e->out_cap = IOV_CAP;
	e->in = c->in_iov;
	e->in_cap = IOV_CAP;
	return vio_devq_pop(&c->p.dev, e);
}

/* Pops everything available. The spans are not kept (they share one iov
 * array): callers need only id and in_len, which is all push() looks at. */
static unsigned dev_pop_all(struct ctx *c, struct vio_elem *e, unsigned max)
{
	struct vio_elem tmp;
	unsigned n = 0;
	int r;

	while ((r = dev_pop(c, &tmp)) == 0) {
		assert_true(n < max);
		e[n++] = tmp;
	}
	assert_int_equal(r, -EAGAIN);
	return n;
}

static void dev_push(struct ctx *c, const struct vio_elem *e, uint32_t len)
{
	assert_int_equal(vio_devq_push(&c->p.dev, e, len), 0);
}

/* Pops one chain and returns it whole; says whether the device would
 * interrupt for it. */
static bool dev_serve_one(struct ctx *c)
{
	struct vio_elem e;

	assert_int_equal(dev_pop(c, &e), 0);
	dev_push(c, &e, e.in_len);
	return vio_devq_need_interrupt(&c->p.dev);
}

/*
 * One single-descriptor buffer through the whole queue (so it fits any
 * queue size and counts the same in every layout): add, maybe kick_prepare, the device
 * pops it (and with `idle`, pops again and finds nothing, which is when a
 * device with EVENT_IDX asks for the next kick), returns it, get_buf.
 */
static void cycle(struct ctx *c, uint32_t i, bool kick, bool idle)
{
	struct vio_elem e;

	assert_int_equal(post(c, 0, 1, TOK(i)), 0);
	if (kick)
		(void)vio_drvq_kick_prepare(&c->p.drv);
	assert_int_equal(dev_pop(c, &e), 0);
	if (idle) {
		struct vio_elem none;

		assert_int_equal(dev_pop(c, &none), -EAGAIN);
	}
	dev_push(c, &e, 3);
	reap(c, TOK(i), 3);
}

/* ------------------------------------------------------------------------ */
/* The fake, hostile device (split layout only)                             */

/* The head the driver published at avail index i. */
static uint16_t avail_head(const struct ctx *c, uint16_t i)
{
	return vio_get16(wire_legacy(c), c->p.avail->ring[i & (c->p.size - 1)]);
}

static uint16_t avail_idx(const struct ctx *c)
{
	return vio_get16(wire_legacy(c), c->p.avail->idx);
}

static void fake_set_used_idx(struct ctx *c, uint16_t idx)
{
	c->fake_used = idx;
	c->p.used->idx = vio_set16(wire_legacy(c), idx);
}

/* Picks up where the real device left the used ring. */
static void fake_sync(struct ctx *c)
{
	c->fake_used = vio_get16(wire_legacy(c), c->p.used->idx);
}

/* Writes one used entry and publishes it, whatever it says. */
static void fake_put_used(struct ctx *c, uint32_t id, uint32_t len)
{
	struct vio_split_used_elem *ue = &c->p.used->ring[c->fake_used & (c->p.size - 1)];

	ue->id = vio_set32(wire_legacy(c), id);
	ue->len = vio_set32(wire_legacy(c), len);
	fake_set_used_idx(c, (uint16_t)(c->fake_used + 1));
}

static void fake_set_used_flags(struct ctx *c, uint16_t flags)
{
	c->p.used->flags = vio_set16(wire_legacy(c), flags);
}

/* avail_event lives right after used->ring[size]. */
static void fake_set_avail_event(struct ctx *c, uint16_t v)
{
	const vio_le16 w = vio_set16(wire_legacy(c), v);

	memcpy(&c->p.used->ring[c->p.size], &w, sizeof(w));
}

/* used_event lives right after avail->ring[size]. */
static uint16_t read_used_event(const struct ctx *c)
{
	return vio_get16(wire_legacy(c), c->p.avail->ring[c->p.size]);
}

static uint16_t read_avail_flags(const struct ctx *c)
{
	return vio_get16(wire_legacy(c), c->p.avail->flags);
}

/* Descriptor indices of the chain at `head`, as the driver linked them. */
static unsigned chain_of(const struct ctx *c, uint16_t head, uint16_t *ids)
{
	const bool legacy = wire_legacy(c);
	unsigned n = 0;
	uint16_t i = head;

	for (;;) {
		const struct vio_split_desc *d = &c->p.desc[i];

		assert_true(n < c->p.size);
		ids[n++] = i;
		if (!(vio_get16(legacy, d->flags) & VIO_DESC_F_NEXT))
			return n;
		i = vio_get16(legacy, d->next);
		assert_true(i < c->p.size);
	}
}

/* ------------------------------------------------------------------------ */
/* The fake, hostile device (packed layout only)                            */

#define PK_AVAIL	VIO_PACKED_DESC_F_AVAIL
#define PK_USED		VIO_PACKED_DESC_F_USED

/* AVAIL and USED both equal to the wrap counter: used, in that lap. */
static uint16_t pk_used_bits(bool wrap)
{
	return wrap ? PK_AVAIL | PK_USED : 0;
}

/* Writes one descriptor at ring position pos the way a device marks a
 * buffer used (id and len, then flags), whatever its fields say. */
static void pk_write_used(struct ctx *c, uint16_t pos, uint16_t id, uint32_t len, uint16_t flags)
{
	const bool legacy = wire_legacy(c);
	struct vio_packed_desc *d;

	assert_true(pos < c->p.size);
	d = &c->p.pdesc[pos];
	d->id = vio_set16(legacy, id);
	d->len = vio_set32(legacy, len);
	d->flags = vio_set16(legacy, flags);
}

/* Marks buffer `id` used at the fake device's position, and moves on past
 * the `skip` descriptors the device says the buffer took. */
static void pk_put_used(struct ctx *c, uint16_t id, uint32_t len, unsigned skip)
{
	unsigned p = c->fake_pos + skip;

	assert_true(skip >= 1 && skip <= c->p.size);
	pk_write_used(c, c->fake_pos, id, len, pk_used_bits(c->fake_wrap) | (len ? VIO_DESC_F_WRITE : 0));
	if (p >= c->p.size) {
		p -= c->p.size;
		c->fake_wrap = !c->fake_wrap;
	}
	c->fake_pos = (uint16_t)p;
}

/* Posts a buffer of nout + nin SEG_LEN segments and has the real device
 * pop it, so that its buffer id and descriptor count are known as a device
 * sees them; the fake device then answers for it. */
static void pk_post(struct ctx *c, unsigned nout, unsigned nin, void *tok, struct vio_elem *e)
{
	assert_int_equal(post(c, nout, nin, tok), 0);
	assert_int_equal(dev_pop(c, e), 0);
}

/* Two buffers out, one readable + one writable segment each. */
static void pk_post_two(struct ctx *c, struct vio_elem *e0, struct vio_elem *e1)
{
	pk_post(c, 1, 1, TOK(0), e0);
	pk_post(c, 1, 1, TOK(1), e1);
}

/*
 * Takes the queue once round the ring with well-formed completions: size-1
 * single-descriptor buffers, then one of three segments that, unless it
 * goes indirect, straddles the end. The driver and the fake device are
 * then in the second lap (wrap counter 0), and the positions ahead of them
 * still hold what the first lap left there.
 */
static void pk_go_round(struct ctx *c)
{
	struct vio_elem e;

	for (unsigned i = 0; i + 1 < c->p.size; i++) {
		pk_post(c, 0, 1, TOK(100 + i), &e);
		pk_put_used(c, e.id, 0, e.ndescs);
		reap(c, TOK(100 + i), 0);
	}
	pk_post(c, 1, 2, TOK(199), &e);
	pk_put_used(c, e.id, 5, e.ndescs);
	reap(c, TOK(199), 5);
	assert_false(c->fake_wrap);
	assert_int_equal(vio_drvq_num_free(&c->p.drv), c->p.size);
}

/* ------------------------------------------------------------------------ */
/* A broken queue                                                           */

/*
 * The queue is broken, says why, and stays so: every call fails at once,
 * even though used entries may be sitting in the ring, and the counters
 * and the first reason do not move.
 */
static void assert_broken_for_good(struct ctx *c)
{
	struct vio_drvq *q = &c->p.drv;
	const struct vio_ring_stats s0 = q->stats;
	const char *why = vio_drvq_error(q);
	const unsigned notifies = c->notifies;
	void *tok = NULL;
	uint32_t len = 0;

	assert_true(vio_drvq_is_broken(q));
	assert_non_null(why);
	for (int round = 0; round < 3; round++) {
		assert_int_equal(post(c, 1, 1, TOK(900)), -EIO);
		assert_int_equal(post(c, 1, 0, TOK(901)), -EIO);
		assert_int_equal(vio_drvq_get_buf(q, &tok, &len), -EIO);
		assert_false(vio_drvq_kick_prepare(q));
		assert_false(vio_drvq_kick(q));
		assert_false(vio_drvq_has_used(q));
		/* At least one of these differs from used->idx. */
		assert_false(vio_drvq_poll(q, 0));
		assert_false(vio_drvq_poll(q, 1));
		assert_false(vio_drvq_poll(q, 0xffff));
	}
	assert_true(vio_drvq_is_broken(q));
	assert_ptr_equal(vio_drvq_error(q), why);
	assert_int_equal(q->stats.kicks, s0.kicks);
	assert_int_equal(q->stats.kicks_suppressed, s0.kicks_suppressed);
	assert_int_equal(c->notifies, notifies);
}

/* get_buf on the entry the hostile device just wrote must break the queue. */
static void expect_break(struct ctx *c)
{
	void *tok = NULL;
	uint32_t len = 0;

	assert_false(vio_drvq_is_broken(&c->p.drv));
	assert_null(vio_drvq_error(&c->p.drv));
	assert_int_equal(vio_drvq_get_buf(&c->p.drv, &tok, &len), -EIO);
	assert_broken_for_good(c);
}

/* Two buffers out (one readable + one writable segment each); their heads. */
static void post_two(struct ctx *c, uint16_t *h0, uint16_t *h1)
{
	assert_int_equal(post(c, 1, 1, TOK(0)), 0);
	assert_int_equal(post(c, 1, 1, TOK(1)), 0);
	*h0 = avail_head(c, 0);
	*h1 = avail_head(c, 1);
}

/* Detaches until NULL: every outstanding token exactly once, then nothing. */
static void detach_all(struct ctx *c, const bool *outstanding, unsigned ntok)
{
	bool seen[MAX_ELEMS] = { false };
	unsigned want = 0, got = 0;
	void *tok;

	assert_true(ntok <= MAX_ELEMS);
	for (unsigned i = 0; i < ntok; i++)
		want += outstanding[i];
	while ((tok = vio_drvq_detach_unused(&c->p.drv)) != NULL) {
		unsigned i = tok_idx(tok);

		assert_true(i < ntok);
		assert_true(outstanding[i]);
		assert_false(seen[i]);
		seen[i] = true;
		got++;
		assert_true(got <= want);
	}
	assert_int_equal(got, want);
	assert_null(vio_drvq_detach_unused(&c->p.drv));
	assert_int_equal(vio_drvq_num_free(&c->p.drv), c->p.size);
}

/* ======================================================================== */
/* API-level tests (every layout)                                           */

/* ---- sizes and end to end ---------------------------------------------- */

static void sizes_power_of_two_accepted(void **state)
{
	struct ctx *c = *state;

	for (unsigned size = 1; size <= VIO_SPLIT_MAX_SIZE; size <<= 1) {
		struct vt_pair *p = pair(c, size);

		assert_int_equal(p->drv.size, size);
		assert_int_equal(vio_drvq_num_free(&p->drv), size);
		/* The whole ring is usable, and not one more. */
		for (unsigned i = 0; i < size; i++)
			assert_int_equal(post(c, 0, 1, TOK(i)), 0);
		assert_int_equal(post(c, 0, 1, TOK(size)), -ENOSPC);
		for (unsigned i = 0; i < size; i++)
			(void)dev_serve_one(c);
		for (unsigned i = 0; i < size; i++)
			reap(c, TOK(i), SEG_LEN);
		assert_nothing_used(c);
		assert_int_equal(vio_drvq_num_free(&p->drv), size);
	}
}

/*
 * One request and reply through the real device: three readable segments
 * carrying a pattern, two writable ones the device fills. Checks the bytes
 * both ways and the length the driver gets back.
 */
static void roundtrip_once(struct ctx *c, unsigned seq)
{
	static const uint32_t out_len[3] = { 10, 20, 30 }, in_len[2] = { 16, 48 };
	struct vt_pair *p = &c->p;
	struct vio_sg out[3], in[2];
	uint8_t req[60], got[60], reply[40];
	struct vio_elem e;
	size_t off = 0;

	for (unsigned k = 0; k < 3; k++) {
		out[k] = next_seg(c, out_len[k]);
		for (uint32_t j = 0; j < out_len[k]; j++)
			req[off + j] = (uint8_t)(seq * 7 + off + j);
		memcpy(vt_hva(p, out[k].addr), req + off, out_len[k]);
		off += out_len[k];
	}
	for (unsigned k = 0; k < 2; k++) {
		in[k] = next_seg(c, in_len[k]);
		memset(vt_hva(p, in[k].addr), 0, in_len[k]);
	}
	assert_int_equal(vio_drvq_add(&p->drv, out, 3, in, 2, TOK(seq)), 0);
	(void)vio_drvq_kick_prepare(&p->drv);

	assert_int_equal(dev_pop(c, &e), 0);
	assert_int_equal(e.out_len, 60);
	assert_int_equal(e.in_len, 64);
	assert_int_equal(vio_iov_to_buf(e.out, e.out_num, 0, got, sizeof(got)), 60);
	assert_memory_equal(got, req, 60);
	for (unsigned j = 0; j < sizeof(reply); j++)
		reply[j] = (uint8_t)~(seq + j);
	assert_int_equal(vio_iov_from_buf(e.in, e.in_num, 0, reply, sizeof(reply)), 40);
	dev_push(c, &e, 40);

	reap(c, TOK(seq), 40);
	assert_memory_equal(vt_hva(p, in[0].addr), reply, 16);
	assert_memory_equal(vt_hva(p, in[1].addr), reply + 16, 24);
}

/* Enough round trips to wrap the ring indices a few times. */
static void roundtrips(struct ctx *c, unsigned size, const struct vt_pair_opts *o)
{
	pair_with(c, size, 0, o);
	for (unsigned i = 0; i < 3 * size + 5; i++)
		roundtrip_once(c, i);
	assert_nothing_used(c);
	assert_int_equal(vio_drvq_num_free(&c->p.drv), size);
}

static void roundtrip_modern_placement(void **state)
{
	roundtrips(*state, 8, NULL);
	roundtrips(*state, 256, NULL);
}

/* ---- add() --------------------------------------------------------------- */

/* A rejected add changes nothing the device or the caller could see. */
static void assert_add_left_no_trace(struct ctx *c, unsigned free_before)
{
	assert_int_equal(vio_drvq_num_free(&c->p.drv), free_before);
	assert_false(vio_devq_has_avail(&c->p.dev));
	assert_false(vio_drvq_is_broken(&c->p.drv));
}

static void add_rejects_zero_segments(void **state)
{
	struct ctx *c = *state;
	struct vio_sg sg[2];

	pair(c, 8);
	make_sgs(c, sg, 2, SEG_LEN);
	assert_int_equal(vio_drvq_add(&c->p.drv, sg, 0, sg + 1, 0, TOK(0)), -EINVAL);
	assert_int_equal(vio_drvq_add(&c->p.drv, NULL, 0, NULL, 0, TOK(0)), -EINVAL);
	assert_add_left_no_trace(c, 8);
	assert_int_equal(post(c, 1, 0, TOK(1)), 0);
}

static void add_rejects_null_token(void **state)
{
	struct ctx *c = *state;

	pair(c, 8);
	assert_int_equal(post(c, 1, 1, NULL), -EINVAL);
	assert_int_equal(post(c, 0, 1, NULL), -EINVAL);
	assert_add_left_no_trace(c, 8);
	assert_int_equal(post(c, 1, 1, TOK(0)), 0);
}

/* Without indirect a buffer needs one descriptor per segment: more than the
 * ring holds can never fit (-EINVAL, not -ENOSPC, or callers wait forever). */
static void add_rejects_more_segments_than_ring(void **state)
{
	struct ctx *c = *state;

	pair(c, 4);
	assert_int_equal(post(c, 5, 0, TOK(0)), -EINVAL);
	assert_int_equal(post(c, 3, 2, TOK(0)), -EINVAL);
	assert_int_equal(post(c, 0, 5, TOK(0)), -EINVAL);
	assert_add_left_no_trace(c, 4);
	/* Still -EINVAL, not -ENOSPC, on a partly used ring. */
	assert_int_equal(post(c, 1, 0, TOK(1)), 0);
	assert_int_equal(post(c, 2, 3, TOK(2)), -EINVAL);
	assert_int_equal(post(c, 2, 2, TOK(2)), -ENOSPC);
	assert_int_equal(post(c, 2, 1, TOK(3)), 0);
	assert_int_equal(vio_drvq_num_free(&c->p.drv), 0);
}

/*
 * virtio 1.x 2.7.5.3.1: "A driver MUST NOT create a descriptor chain longer
 * than the Queue Size of the device", and an indirect table is part of the
 * chain (libvio's own device stops on a table longer than the queue). So
 * even with indirect tables big enough, more segments than the queue size
 * can never be posted.
 */
static void add_rejects_more_segments_than_ring_with_indirect(void **state)
{
	struct ctx *c = *state;
	const struct vt_pair_opts o = { .indirect_max = 8 };

	pair_with(c, 4, VIO_BIT(VIO_F_INDIRECT_DESC), &o);
	assert_int_equal(post(c, 3, 3, TOK(0)), -EINVAL);
	assert_int_equal(post(c, 5, 0, TOK(0)), -EINVAL);
	assert_add_left_no_trace(c, 4);
	/* A chain of exactly the queue size is fine, and goes indirect. */
	assert_int_equal(post(c, 2, 2, TOK(1)), 0);
	assert_int_equal(vio_drvq_num_free(&c->p.drv), 3);
}

static void add_rejects_writable_total_over_4g(void **state)
{
	struct ctx *c = *state;
	struct vio_sg in[2];

	pair(c, 8);
	in[0] = vt_sg(&c->p, 0, 0x80000000u);
	in[1] = vt_sg(&c->p, 0, 0x80000000u);
	assert_int_equal(vio_drvq_add(&c->p.drv, NULL, 0, in, 2, TOK(0)), -EINVAL);
	assert_add_left_no_trace(c, 8);
	/* 2^32 - 1 is the largest total that still has a length. */
	in[1].len = 0x7fffffffu;
	assert_int_equal(vio_drvq_add(&c->p.drv, NULL, 0, in, 2, TOK(1)), 0);
}

static void add_enospc_without_indirect(void **state)
{
	struct ctx *c = *state;
	struct vio_elem e[MAX_ELEMS];

	pair(c, 8);
	assert_int_equal(post(c, 1, 2, TOK(0)), 0);
	assert_int_equal(post(c, 2, 1, TOK(1)), 0);
	assert_int_equal(vio_drvq_num_free(&c->p.drv), 2);
	assert_int_equal(post(c, 1, 2, TOK(2)), -ENOSPC);
	assert_int_equal(vio_drvq_num_free(&c->p.drv), 2);
	assert_int_equal(post(c, 1, 1, TOK(2)), 0);
	assert_int_equal(post(c, 0, 1, TOK(3)), -ENOSPC);
	assert_int_equal(vio_drvq_num_free(&c->p.drv), 0);

	/* Returning the first buffer makes room for exactly its 3 descriptors. */
	assert_int_equal(dev_pop_all(c, e, MAX_ELEMS), 3);
	dev_push(c, &e[0], 0);
	reap(c, TOK(0), 0);
	assert_int_equal(vio_drvq_num_free(&c->p.drv), 3);
	assert_int_equal(post(c, 2, 2, TOK(3)), -ENOSPC);
	assert_int_equal(post(c, 3, 0, TOK(3)), 0);
	assert_int_equal(vio_drvq_num_free(&c->p.drv), 0);
}

static void add_enospc_with_indirect(void **state)
{
	struct ctx *c = *state;
	const struct vt_pair_opts o = { .indirect_max = 4 };
	struct vio_elem e[MAX_ELEMS];

	pair_with(c, 8, VIO_BIT(VIO_F_INDIRECT_DESC), &o);
	for (unsigned i = 0; i < 8; i++) {
		assert_int_equal(post(c, 2, 1, TOK(i)), 0);
		assert_int_equal(vio_drvq_num_free(&c->p.drv), 7 - i);
	}
	assert_int_equal(post(c, 2, 1, TOK(8)), -ENOSPC);
	assert_int_equal(post(c, 1, 0, TOK(8)), -ENOSPC);
	assert_int_equal(vio_drvq_num_free(&c->p.drv), 0);

	assert_int_equal(dev_pop_all(c, e, MAX_ELEMS), 8);
	dev_push(c, &e[3], 1);
	reap(c, TOK(3), 1);
	assert_int_equal(vio_drvq_num_free(&c->p.drv), 1);
	assert_int_equal(post(c, 2, 2, TOK(8)), 0);
	assert_int_equal(vio_drvq_num_free(&c->p.drv), 0);
}

/* Above indirect_max the buffer falls back to a direct chain. */
static void add_direct_chain_above_indirect_max(void **state)
{
	struct ctx *c = *state;
	const struct vt_pair_opts o = { .indirect_max = 4 };

	pair_with(c, 8, VIO_BIT(VIO_F_INDIRECT_DESC), &o);
	assert_int_equal(post(c, 3, 3, TOK(0)), 0);
	assert_int_equal(vio_drvq_num_free(&c->p.drv), 2);
	assert_int_equal(post(c, 2, 2, TOK(1)), 0);
	assert_int_equal(vio_drvq_num_free(&c->p.drv), 1);
	assert_int_equal(post(c, 3, 2, TOK(2)), -ENOSPC);
	(void)dev_serve_one(c);
	(void)dev_serve_one(c);
	reap(c, TOK(0), 3 * SEG_LEN);
	reap(c, TOK(1), 2 * SEG_LEN);
	assert_int_equal(vio_drvq_num_free(&c->p.drv), 8);
}

/* Staged buffers reach a split ring's device at the kick, all at once, or
 * at the next plain add(); the packed ring has no index to hold back, so
 * there they are visible at once. Either way they count as added. */
static void add_staged_visible_at_kick(void **state)
{
	struct ctx *c = *state;
	struct vio_elem e;
	bool packed;

	pair(c, 8);
	packed = has(c, VIO_F_RING_PACKED);
	assert_int_equal(post_staged(c, 1, 0, TOK(0)), 0);
	assert_int_equal(post_staged(c, 1, 1, TOK(1)), 0);
	assert_int_equal(vio_drvq_num_free(&c->p.drv), 8 - descs_for(c, 1) - descs_for(c, 2));
	if (!packed)
		assert_int_equal(dev_pop(c, &e), -EAGAIN);
	assert_true(vio_drvq_kick_prepare(&c->p.drv));  /* both count for the kick */
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(dev_pop(c, &e), 0);
		assert_int_equal(e.out_num + e.in_num, i + 1);
		dev_push(c, &e, e.in_len);
	}
	assert_int_equal(dev_pop(c, &e), -EAGAIN);
	reap(c, TOK(0), 0);
	reap(c, TOK(1), SEG_LEN);
	/* A plain add publishes what was staged before it too. */
	assert_int_equal(post_staged(c, 1, 0, TOK(2)), 0);
	assert_int_equal(post(c, 1, 0, TOK(3)), 0);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(dev_pop(c, &e), 0);
		dev_push(c, &e, 0);
	}
	reap(c, TOK(2), 0);
	reap(c, TOK(3), 0);
}

/* With IN_ORDER a chain goes direct while it fits in the free descriptors,
 * and through a table only when it does not: the device then finds
 * consecutive chains in consecutive descriptors. */
static void add_in_order_prefers_direct_chains(void **state)
{
	struct ctx *c = *state;
	const struct vt_pair_opts o = { .indirect_max = 4 };
	struct vio_elem e;

	pair_with(c, 8, VIO_BIT(VIO_F_INDIRECT_DESC) | VIO_BIT(VIO_F_IN_ORDER), &o);
	assert_int_equal(post(c, 2, 1, TOK(0)), 0);
	assert_int_equal(vio_drvq_num_free(&c->p.drv), 5);     /* direct: 3 */
	assert_int_equal(post(c, 2, 1, TOK(1)), 0);
	assert_int_equal(vio_drvq_num_free(&c->p.drv), 2);     /* direct: 3 */
	assert_int_equal(post(c, 2, 1, TOK(2)), 0);
	assert_int_equal(vio_drvq_num_free(&c->p.drv), 1);     /* 3 > 2 free: a table */
	assert_int_equal(post(c, 1, 0, TOK(3)), 0);
	assert_int_equal(vio_drvq_num_free(&c->p.drv), 0);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(dev_pop(c, &e), 0);
		/* Direct or not, the device sees the same buffer. */
		assert_int_equal(e.out_num, i < 3 ? 2 : 1);
		assert_int_equal(e.in_num, i < 3 ? 1 : 0);
		dev_push(c, &e, e.in_len);
		reap(c, TOK(i), i < 3 ? SEG_LEN : 0);
	}
	assert_int_equal(vio_drvq_num_free(&c->p.drv), 8);
}

/*
 * Random shapes, returned in random order, many times over: num_free moves
 * by exactly the descriptors each buffer takes, every token comes back once
 * with its length, and the free list never loses a descriptor.
 */
static void add_num_free_accounting(void **state)
{
	struct ctx *c = *state;
	struct vio_elem e[MAX_ELEMS];
	unsigned need[MAX_ELEMS], nin[MAX_ELEMS];
	uint32_t seed = 12345;

	pair(c, 16);
	for (unsigned round = 0; round < 60; round++) {
		bool back[MAX_ELEMS] = { false };
		unsigned posted = 0, popped;

		for (;;) {
			unsigned o = lcg(&seed) % 4, i = lcg(&seed) % 4;
			unsigned before = vio_drvq_num_free(&c->p.drv);
			unsigned want;
			int r;

			if (o + i == 0)
				i = 1;
			want = descs_for(c, o + i);
			r = post(c, o, i, TOK(posted));
			if (before < want) {
				assert_int_equal(r, -ENOSPC);
				assert_int_equal(vio_drvq_num_free(&c->p.drv), before);
				break;
			}
			assert_int_equal(r, 0);
			assert_int_equal(vio_drvq_num_free(&c->p.drv), before - want);
			need[posted] = want;
			nin[posted] = i;
			posted++;
		}
		popped = dev_pop_all(c, e, MAX_ELEMS);
		assert_int_equal(popped, posted);
		for (unsigned k = popped; k > 1; k--) {
			unsigned j = lcg(&seed) % k;
			struct vio_elem t = e[k - 1];

			e[k - 1] = e[j];
			e[j] = t;
		}
		for (unsigned k = 0; k < popped; k++)
			dev_push(c, &e[k], e[k].in_len);
		for (unsigned k = 0; k < popped; k++) {
			unsigned before = vio_drvq_num_free(&c->p.drv), t;
			void *tok;
			uint32_t len;

			assert_int_equal(vio_drvq_get_buf(&c->p.drv, &tok, &len), 0);
			t = tok_idx(tok);
			assert_true(t < posted);
			assert_false(back[t]);
			back[t] = true;
			assert_int_equal(len, nin[t] * SEG_LEN);
			assert_int_equal(vio_drvq_num_free(&c->p.drv), before + need[t]);
		}
		assert_nothing_used(c);
		assert_int_equal(vio_drvq_num_free(&c->p.drv), 16);
	}
}

/* The device sees the readable segments first, in order, then the
 * writable ones, each at the address and length posted. */
static void add_device_sees_readable_then_writable(void **state)
{
	static const uint32_t lens[5] = { 11, 22, 33, 44, 55 };
	struct ctx *c = *state;
	struct vio_sg sg[5];
	struct vio_elem e;

	pair(c, 8);
	for (unsigned k = 0; k < 5; k++)
		sg[k] = next_seg(c, lens[k]);
	assert_int_equal(vio_drvq_add(&c->p.drv, sg, 2, sg + 2, 3, TOK(0)), 0);
	assert_int_equal(dev_pop(c, &e), 0);
	assert_int_equal(e.out_num, 2);
	assert_int_equal(e.in_num, 3);
	for (unsigned k = 0; k < 5; k++) {
		const struct vio_iov *v = k < 2 ? &e.out[k] : &e.in[k - 2];

		assert_ptr_equal(v->base, vt_hva(&c->p, sg[k].addr));
		assert_int_equal(v->len, lens[k]);
	}
	assert_int_equal(e.out_len, 33);
	assert_int_equal(e.in_len, 132);
}

/* ---- kick_prepare() ------------------------------------------------------ */

static void kick_needed_after_first_add(void **state)
{
	struct ctx *c = *state;

	pair(c, 8);
	assert_int_equal(post(c, 1, 1, TOK(0)), 0);
	assert_true(vio_drvq_kick_prepare(&c->p.drv));
	assert_int_equal(c->p.drv.stats.kicks, 1);
	assert_int_equal(c->p.drv.stats.kicks_suppressed, 0);
}

/* kick_prepare() answers for "what was added since the last call": with
 * nothing added there is nothing to tell the device, in either mode. */
static void kick_not_needed_when_nothing_added(void **state)
{
	struct ctx *c = *state;

	pair(c, 8);
	assert_false(vio_drvq_kick_prepare(&c->p.drv));
	assert_int_equal(post(c, 1, 1, TOK(0)), 0);
	assert_true(vio_drvq_kick_prepare(&c->p.drv));
	assert_false(vio_drvq_kick_prepare(&c->p.drv));
	assert_int_equal(c->p.drv.stats.kicks, 1);
}

/*
 * A device that polls (kick_disable) gets no kicks; once it re-enables and
 * has drained the ring, the next add kicks again. Counters exact.
 */
static void kick_suppressed_while_device_polls(void **state)
{
	struct ctx *c = *state;
	struct vio_elem e[MAX_ELEMS];

	pair(c, 16);
	assert_int_equal(dev_pop_all(c, e, MAX_ELEMS), 0);      /* device idles */
	assert_int_equal(post(c, 1, 1, TOK(0)), 0);
	assert_true(vio_drvq_kick_prepare(&c->p.drv));

	vio_devq_kick_disable(&c->p.dev);
	assert_int_equal(dev_pop_all(c, e, MAX_ELEMS), 1);
	for (unsigned i = 1; i <= 3; i++) {
		assert_int_equal(post(c, 1, 1, TOK(i)), 0);
		assert_false(vio_drvq_kick_prepare(&c->p.drv));
	}
	assert_false(vio_devq_kick_enable(&c->p.dev));          /* work pending */
	assert_int_equal(dev_pop_all(c, e, MAX_ELEMS), 3);
	assert_true(vio_devq_kick_enable(&c->p.dev));

	assert_int_equal(post(c, 1, 1, TOK(4)), 0);
	assert_true(vio_drvq_kick_prepare(&c->p.drv));
	assert_int_equal(c->p.drv.stats.kicks, 2);
	assert_int_equal(c->p.drv.stats.kicks_suppressed, 3);
}

#define WRAP_CYCLES 70000u

/* A device that goes idle after each buffer must be kicked for every one,
 * across the 16-bit index wrap too. */
static void kick_every_add_while_device_idles_across_wrap(void **state)
{
	struct ctx *c = *state;

	pair(c, 4);
	for (uint32_t i = 0; i < WRAP_CYCLES; i++)
		cycle(c, i, true, true);
	assert_int_equal(c->p.drv.stats.kicks, WRAP_CYCLES);
	assert_int_equal(c->p.drv.stats.kicks_suppressed, 0);
}

/*
 * A device that polls from the start never asks for a kick. Without
 * EVENT_IDX that is a flag: no kicks at all. With EVENT_IDX it may instead
 * park its event index (split has no other way), and 70000 adds pass any
 * 16-bit value at most twice: a wrap-safe driver kicks at most twice (the
 * split-specific suite pins the exact adds).
 */
static void kick_polling_device_across_wrap(void **state)
{
	struct ctx *c = *state;
	const struct vio_ring_stats *st = &c->p.drv.stats;

	pair(c, 4);
	vio_devq_kick_disable(&c->p.dev);
	for (uint32_t i = 0; i < WRAP_CYCLES; i++)
		cycle(c, i, true, false);
	assert_in_range(st->kicks, 0, has(c, VIO_F_EVENT_IDX) ? 2 : 0);
	assert_int_equal(st->kicks + st->kicks_suppressed, WRAP_CYCLES);
}

static void kick_calls_notify_only_when_needed(void **state)
{
	struct ctx *c = *state;
	struct vt_pair_opts o = { .notify = count_notify, .opaque = c };
	struct vio_elem e[MAX_ELEMS];

	pair_with(c, 8, 0, &o);
	assert_int_equal(dev_pop_all(c, e, MAX_ELEMS), 0);
	assert_int_equal(post(c, 1, 1, TOK(0)), 0);
	assert_true(vio_drvq_kick(&c->p.drv));
	assert_int_equal(c->notifies, 1);

	vio_devq_kick_disable(&c->p.dev);
	assert_int_equal(dev_pop_all(c, e, MAX_ELEMS), 1);
	assert_int_equal(post(c, 1, 1, TOK(1)), 0);
	assert_false(vio_drvq_kick(&c->p.drv));
	assert_int_equal(c->notifies, 1);
	assert_int_equal(c->p.drv.stats.kicks, 1);
	assert_int_equal(c->p.drv.stats.kicks_suppressed, 1);
}

/*
 * After 65535 adds without kick_prepare() the 16-bit event window is full:
 * the next add kicks through the notify callback itself, and again after
 * another 65535.
 */
static void add_notifies_after_65535_unkicked_adds(void **state)
{
	struct ctx *c = *state;
	struct vt_pair_opts o = { .notify = count_notify, .opaque = c };
	uint32_t i = 0;

	pair_with(c, 4, 0, &o);
	for (; i < 65535; i++)
		cycle(c, i, false, false);
	assert_int_equal(c->notifies, 0);
	assert_int_equal(c->p.drv.stats.kicks + c->p.drv.stats.kicks_suppressed, 0);

	cycle(c, i++, false, false);
	assert_int_equal(c->notifies, 1);
	assert_int_equal(c->p.drv.stats.kicks, 1);

	for (unsigned k = 0; k < 65534; k++)
		cycle(c, i++, false, false);
	assert_int_equal(c->notifies, 1);
	cycle(c, i++, false, false);
	assert_int_equal(c->notifies, 2);
	assert_int_equal(c->p.drv.stats.kicks, 2);
}

/* Without a notify callback that add fails with -EAGAIN, leaves no trace,
 * and works again once the caller kicks. */
static void add_eagain_after_65535_unkicked_adds(void **state)
{
	struct ctx *c = *state;
	uint32_t i = 0;

	pair(c, 4);
	for (; i < 65535; i++)
		cycle(c, i, false, false);
	assert_int_equal(post(c, 1, 1, TOK(i)), -EAGAIN);
	assert_int_equal(post(c, 1, 0, TOK(i)), -EAGAIN);
	assert_add_left_no_trace(c, 4);
	assert_true(vio_drvq_kick_prepare(&c->p.drv));
	cycle(c, i++, false, false);
	cycle(c, i++, false, false);
	assert_int_equal(c->p.drv.stats.kicks, 1);
}

/* ---- get_buf() ----------------------------------------------------------- */

static void get_buf_eagain_when_nothing_used(void **state)
{
	struct ctx *c = *state;
	struct vio_elem e;

	pair(c, 8);
	assert_nothing_used(c);
	assert_int_equal(post(c, 1, 1, TOK(0)), 0);
	assert_nothing_used(c);
	assert_int_equal(dev_pop(c, &e), 0);
	assert_nothing_used(c);             /* popped is not used */
	dev_push(c, &e, 5);
	assert_true(vio_drvq_has_used(&c->p.drv));
	reap(c, TOK(0), 5);
	assert_nothing_used(c);
}

/* Tokens come back in the order the device used them, each with the
 * length the device wrote. */
static void get_buf_returns_token_and_len(void **state)
{
	struct ctx *c = *state;
	struct vio_elem e[MAX_ELEMS];

	pair(c, 16);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(post(c, 1, i + 1, TOK(i)), 0);
	assert_int_equal(dev_pop_all(c, e, MAX_ELEMS), 4);
	for (unsigned i = 4; i-- > 0;) {
		assert_int_equal(e[i].in_len, (i + 1) * SEG_LEN);
		dev_push(c, &e[i], e[i].in_len - 7);
	}
	for (unsigned i = 4; i-- > 0;)
		reap(c, TOK(i), (i + 1) * SEG_LEN - 7);
	assert_nothing_used(c);
}

/* The used index may legitimately run a whole ring ahead. */
static void get_buf_whole_ring_used_at_once(void **state)
{
	struct ctx *c = *state;
	struct vio_elem e[MAX_ELEMS];

	pair(c, 8);
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned i = 0; i < 8; i++)
			assert_int_equal(post(c, 0, 1, TOK(i)), 0);
		assert_int_equal(dev_pop_all(c, e, MAX_ELEMS), 8);
		for (unsigned i = 0; i < 8; i++)
			assert_int_equal(vio_devq_fill(&c->p.dev, &e[i], i), 0);
		assert_int_equal(vio_devq_flush(&c->p.dev), 0);
		for (unsigned i = 0; i < 8; i++)
			reap(c, TOK(i), i);
		assert_nothing_used(c);
	}
}

/* ---- callbacks ----------------------------------------------------------- */

static void cb_disable_suppresses_device_interrupt(void **state)
{
	struct ctx *c = *state;

	pair(c, 8);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(post(c, 1, 1, TOK(i)), 0);
	assert_true(dev_serve_one(c));     /* callbacks on: interrupt */
	reap(c, TOK(0), SEG_LEN);
	vio_drvq_disable_cb(&c->p.drv);
	assert_false(dev_serve_one(c));
	reap(c, TOK(1), SEG_LEN);
	assert_false(dev_serve_one(c));
	reap(c, TOK(2), SEG_LEN);
	assert_int_equal(c->p.dev.stats.interrupts, 1);
	assert_int_equal(c->p.dev.stats.interrupts_suppressed, 2);
}

static void cb_enable_true_when_nothing_pending(void **state)
{
	struct ctx *c = *state;

	pair(c, 8);
	vio_drvq_disable_cb(&c->p.drv);
	assert_true(vio_drvq_enable_cb(&c->p.drv));
	assert_int_equal(post(c, 1, 1, TOK(0)), 0);
	assert_true(dev_serve_one(c));     /* and the next one interrupts */
	reap(c, TOK(0), SEG_LEN);
	vio_drvq_disable_cb(&c->p.drv);
	assert_true(vio_drvq_enable_cb(&c->p.drv));
}

/* The race the seed fixed: used buffers that arrived while callbacks were
 * off raised no interrupt, so enable_cb must say "poll first". */
static void cb_enable_false_when_buffers_pending(void **state)
{
	struct ctx *c = *state;

	pair(c, 8);
	assert_int_equal(post(c, 1, 1, TOK(0)), 0);
	vio_drvq_disable_cb(&c->p.drv);
	assert_false(dev_serve_one(c));
	assert_false(vio_drvq_enable_cb(&c->p.drv));
	reap(c, TOK(0), SEG_LEN);
	assert_true(vio_drvq_enable_cb(&c->p.drv));
}

static void cb_enable_prepare_then_poll(void **state)
{
	struct ctx *c = *state;
	uint32_t pos;

	pair(c, 8);
	assert_int_equal(post(c, 1, 1, TOK(0)), 0);
	assert_int_equal(post(c, 1, 1, TOK(1)), 0);
	vio_drvq_disable_cb(&c->p.drv);
	pos = vio_drvq_enable_cb_prepare(&c->p.drv);
	assert_false(vio_drvq_poll(&c->p.drv, pos));
	assert_true(dev_serve_one(c));
	assert_true(vio_drvq_poll(&c->p.drv, pos));
	reap(c, TOK(0), SEG_LEN);

	pos = vio_drvq_enable_cb_prepare(&c->p.drv);
	assert_false(vio_drvq_poll(&c->p.drv, pos));
	assert_true(dev_serve_one(c));
	assert_true(vio_drvq_poll(&c->p.drv, pos));
	reap(c, TOK(1), SEG_LEN);
}

/*
 * With 8 buffers out, enable_cb_delayed asks for the interrupt after about
 * 3/4 of them: with EVENT_IDX used_event = last_used + 6, so the device's
 * 7th used buffer is the first to interrupt. Without EVENT_IDX it is a
 * plain enable: the first one does.
 */
static void cb_delayed_interrupts_after_three_quarters(void **state)
{
	struct ctx *c = *state;
	struct vio_elem e[MAX_ELEMS];
	unsigned quiet;
	uint32_t i = 0;

	pair(c, 16);
	quiet = has(c, VIO_F_EVENT_IDX) ? 6 : 0;
	for (; i < 5; i++)                 /* start away from index 0 */
		cycle(c, i, true, false);
	for (unsigned k = 0; k < 8; k++)
		assert_int_equal(post(c, 1, 1, TOK(100 + k)), 0);
	vio_drvq_disable_cb(&c->p.drv);
	assert_int_equal(dev_pop_all(c, e, MAX_ELEMS), 8);
	assert_true(vio_drvq_enable_cb_delayed(&c->p.drv));
	for (unsigned k = 0; k < 8; k++) {
		dev_push(c, &e[k], 0);
		assert_int_equal(vio_devq_need_interrupt(&c->p.dev), k >= quiet);
		if (k >= quiet)
			break;
	}
}

static void cb_delayed_false_when_enough_used(void **state)
{
	struct ctx *c = *state;

	pair(c, 8);
	for (unsigned k = 0; k < 4; k++)
		assert_int_equal(post(c, 1, 1, TOK(k)), 0);
	vio_drvq_disable_cb(&c->p.drv);
	assert_true(vio_drvq_enable_cb_delayed(&c->p.drv));    /* 0 of 4 */
	vio_drvq_disable_cb(&c->p.drv);
	for (unsigned k = 0; k < 4; k++)
		assert_false(dev_serve_one(c));
	assert_false(vio_drvq_enable_cb_delayed(&c->p.drv));   /* 4 of 4 */
	for (unsigned k = 0; k < 4; k++)
		reap(c, TOK(k), SEG_LEN);
	assert_true(vio_drvq_enable_cb_delayed(&c->p.drv));
}

/*
 * Callbacks off, two buffers out: the device returns one while the other
 * is still available (no interrupt), then the last one. With
 * NOTIFY_ON_EMPTY the ring running empty interrupts regardless.
 */
static void notify_on_empty_case(struct ctx *c, bool negotiated)
{
	pair_with(c, 8, negotiated ? VIO_BIT(VIO_F_NOTIFY_ON_EMPTY) : 0, NULL);
	assert_int_equal(post(c, 1, 1, TOK(0)), 0);
	assert_int_equal(post(c, 1, 1, TOK(1)), 0);
	vio_drvq_disable_cb(&c->p.drv);
	assert_false(dev_serve_one(c));
	assert_int_equal(dev_serve_one(c), negotiated);
	reap(c, TOK(0), SEG_LEN);
	reap(c, TOK(1), SEG_LEN);

	assert_int_equal(post(c, 1, 1, TOK(2)), 0);
	assert_int_equal(dev_serve_one(c), negotiated);
}

static void notify_on_empty_interrupts_when_ring_empty(void **state)
{
	notify_on_empty_case(*state, true);
}

static void no_notify_on_empty_without_feature(void **state)
{
	notify_on_empty_case(*state, false);
}

/* ---- detach_unused() ----------------------------------------------------- */

static void detach_unused_on_empty_queue(void **state)
{
	struct ctx *c = *state;

	pair(c, 8);
	assert_null(vio_drvq_detach_unused(&c->p.drv));
	assert_int_equal(vio_drvq_num_free(&c->p.drv), 8);
}

/*
 * Buffers in every state at reset time: still available, popped by the
 * device, used but not reaped. All come back from detach exactly once;
 * the one already reaped does not.
 */
static void detach_unused_returns_every_token_once(void **state)
{
	static const unsigned shape[][2] = { { 1, 0 }, { 1, 1 }, { 2, 1 }, { 0, 3 }, { 1, 2 } };
	struct ctx *c = *state;
	bool out[MAX_ELEMS] = { false };
	struct vio_elem e;
	unsigned n;

	pair(c, 16);
	for (n = 0; n < 5; n++) {
		assert_int_equal(post(c, shape[n][0], shape[n][1], TOK(n)), 0);
		out[n] = true;
	}
	/* Two used, the first of them reaped; one popped only; two still
	 * available. */
	(void)dev_serve_one(c);
	(void)dev_serve_one(c);
	reap(c, TOK(0), shape[0][1] * SEG_LEN);
	out[0] = false;
	assert_int_equal(dev_pop(c, &e), 0);
	/* The device is reset here: it will never touch these again. */
	detach_all(c, out, n);
}

/* ======================================================================== */
/* Split-specific tests: the fake device writes the split ring by hand      */

/* ---- sizes and layout ---------------------------------------------------- */

static void *zalloc_aligned(size_t align, size_t len)
{
	size_t rounded = (len + align - 1) & ~(align - 1);
	void *p = aligned_alloc(align, rounded ? rounded : align);

	assert_non_null(p);
	memset(p, 0, rounded ? rounded : align);
	return p;
}

/* vio_drvq_init over private areas big enough for `size` entries, so a
 * size that is wrongly accepted cannot overrun anything. */
static int raw_init(unsigned size)
{
	const unsigned room = size ? size : 1;
	struct vio_drvq_config cfg;
	struct vio_drvq q;
	int r;

	memset(&cfg, 0, sizeof(cfg));
	cfg.size = size;
	cfg.features = VIO_BIT(VIO_F_VERSION_1);
	cfg.desc = zalloc_aligned(4096, vio_split_desc_size(room));
	cfg.driver = zalloc_aligned(4096, vio_split_avail_size(room));
	cfg.device = zalloc_aligned(4096, vio_split_used_size(room));
	cfg.slots = calloc(room, sizeof(*cfg.slots));
	assert_non_null(cfg.slots);
	cfg.dma.desc = 0x100000;
	cfg.dma.driver = 0x200000;
	cfg.dma.device = 0x300000;
	r = vio_drvq_init(&q, &cfg);
	free(cfg.desc);
	free(cfg.driver);
	free(cfg.device);
	free(cfg.slots);
	return r;
}

/* Split sizes are powers of two (a slot is index & (size - 1)). */
static void sp_init_rejects_bad_sizes(void **state)
{
	static const unsigned bad[] = { 0, 3, 6, 1000, 65536, 32769 };

	(void)state;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(raw_init(bad[i]), -EINVAL);
	/* The same configuration with a good size is accepted. */
	assert_int_equal(raw_init(1024), 0);
	assert_int_equal(raw_init(VIO_SPLIT_MAX_SIZE), 0);
}

/*
 * Bytes of one legacy ring block, as Linux's vring_size() computes them
 * (the seed's formula plus the EVENT_IDX fields): descriptors, then avail
 * (flags, idx, ring, used_event), padded to `align`, then used (flags,
 * idx, ring, avail_event).
 */
static size_t seed_vring_size(unsigned num, size_t align)
{
	size_t first = 16 * (size_t)num + 2 * (3 + (size_t)num);

	return (first + align - 1) / align * align + 2 * 3 + 8 * (size_t)num;
}

static void sp_legacy_layout_addresses(void **state)
{
	static const struct { unsigned num; size_t bytes; } known[] = {
		{ 1, 4110 }, { 128, 5126 }, { 256, 10246 }, { 1024, 28678 },
	};
	struct ctx *c = *state;
	const struct vt_pair_opts o = { .legacy_layout = true };

	for (unsigned i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		assert_int_equal(seed_vring_size(known[i].num, 4096), known[i].bytes);
		assert_int_equal(vio_split_legacy_size(known[i].num, 4096), known[i].bytes);
	}
	for (unsigned size = 1; size <= VIO_SPLIT_MAX_SIZE; size <<= 1) {
		struct vt_pair *p = pair_with(c, size, 0, &o);
		size_t used_off = seed_vring_size(size, 4096) - (6 + 8 * (size_t)size);
		struct vio_ring_addrs a;

		assert_int_equal(vio_split_legacy_size(size, 4096), seed_vring_size(size, 4096));
		assert_int_equal(p->addrs.driver, p->addrs.desc + 16 * (uint64_t)size);
		assert_int_equal(p->addrs.device, p->addrs.desc + used_off);
		assert_int_equal(p->addrs.device % VIO_LEGACY_VRING_ALIGN, 0);
		assert_int_equal((uint8_t *)p->used - (uint8_t *)p->desc, used_off);
		vio_ring_legacy_layout(0x10000, size, 4096, &a);
		assert_int_equal(a.desc, 0x10000);
		assert_int_equal(a.driver, 0x10000 + 16 * (uint64_t)size);
		assert_int_equal(a.device, 0x10000 + used_off);
		cycle(c, 0, true, false);
		cycle(c, 1, true, false);
	}
}

static void sp_legacy_layout_roundtrip(void **state)
{
	const struct vt_pair_opts o = { .legacy_layout = true };

	roundtrips(*state, 8, &o);
	roundtrips(*state, 256, &o);
}

/* Every field the driver writes reads back in the negotiated byte order
 * (native without VERSION_1), and it reads the device's fields so too. */
static void sp_ring_fields_in_negotiated_byte_order(void **state)
{
	struct ctx *c = *state;
	const bool legacy = wire_legacy(c);
	struct vio_sg out = { 0 }, in = { 0 };
	struct vt_pair *p = pair(c, 8);
	uint16_t h, n2;

	out = next_seg(c, 40);
	in = next_seg(c, 24);
	assert_int_equal(vio_drvq_add(&p->drv, &out, 1, &in, 1, TOK(7)), 0);
	assert_int_equal(vio_get16(legacy, p->avail->idx), 1);
	h = vio_get16(legacy, p->avail->ring[0]);
	assert_true(h < 8);
	assert_int_equal(vio_get64(legacy, p->desc[h].addr), out.addr);
	assert_int_equal(vio_get32(legacy, p->desc[h].len), 40);
	assert_int_equal(vio_get16(legacy, p->desc[h].flags), VIO_DESC_F_NEXT);
	n2 = vio_get16(legacy, p->desc[h].next);
	assert_true(n2 < 8 && n2 != h);
	assert_int_equal(vio_get64(legacy, p->desc[n2].addr), in.addr);
	assert_int_equal(vio_get32(legacy, p->desc[n2].len), 24);
	assert_int_equal(vio_get16(legacy, p->desc[n2].flags), VIO_DESC_F_WRITE);

	fake_put_used(c, h, 17);
	reap(c, TOK(7), 17);
	if (has(c, VIO_F_EVENT_IDX)) {
		assert_int_equal(read_used_event(c), 1);
	} else {
		vio_drvq_disable_cb(&p->drv);
		assert_int_equal(read_avail_flags(c), VIO_AVAIL_F_NO_INTERRUPT);
	}
}

/* ---- descriptor table ---------------------------------------------------- */

static void sp_desc_readable_before_writable(void **state)
{
	struct ctx *c = *state;
	const bool legacy = wire_legacy(c);
	struct vio_sg sg[5];
	uint16_t ids[8];
	struct vt_pair *p = pair(c, 8);

	make_sgs(c, sg, 5, SEG_LEN);
	sg[3].len = 9;
	assert_int_equal(vio_drvq_add(&p->drv, sg, 2, sg + 2, 3, TOK(0)), 0);
	assert_int_equal(chain_of(c, avail_head(c, 0), ids), 5);
	for (unsigned k = 0; k < 5; k++) {
		const struct vio_split_desc *d = &p->desc[ids[k]];
		uint16_t want = (k >= 2 ? VIO_DESC_F_WRITE : 0) | (k < 4 ? VIO_DESC_F_NEXT : 0);

		assert_int_equal(vio_get16(legacy, d->flags), want);
		assert_int_equal(vio_get64(legacy, d->addr), sg[k].addr);
		assert_int_equal(vio_get32(legacy, d->len), sg[k].len);
		for (unsigned j = 0; j < k; j++)
			assert_int_not_equal(ids[j], ids[k]);
	}
	assert_int_equal(vio_drvq_num_free(&p->drv), 3);
}

static void sp_indirect_table_layout(void **state)
{
	struct ctx *c = *state;
	const struct vt_pair_opts o = { .indirect_max = 4 };
	const bool legacy = !vio_has_feature(c->v->features, VIO_F_VERSION_1);
	const uint64_t area = 8 * 4 * 16;
	struct vt_pair *p = pair_with(c, 8, VIO_BIT(VIO_F_INDIRECT_DESC), &o);
	const uint64_t base = vt_gpa(p, p->indirect);
	uint64_t table[2];
	struct vio_sg sg[3];
	struct vio_elem e;

	for (unsigned b = 0; b < 2; b++) {
		const struct vio_split_desc *head, *t;
		uint16_t h;

		make_sgs(c, sg, 3, SEG_LEN);
		assert_int_equal(vio_drvq_add(&p->drv, sg, 2, sg + 2, 1, TOK(b)), 0);
		assert_int_equal(vio_drvq_num_free(&p->drv), 7 - b);
		h = avail_head(c, (uint16_t)b);
		head = &p->desc[h];
		assert_int_equal(vio_get16(legacy, head->flags), VIO_DESC_F_INDIRECT);
		assert_int_equal(vio_get32(legacy, head->len), 3 * 16);
		table[b] = vio_get64(legacy, head->addr);
		assert_true(table[b] >= base && table[b] + 3 * 16 <= base + area);
		assert_int_equal(table[b] % 16, 0);
		t = vt_hva(p, table[b]);
		for (unsigned k = 0; k < 3; k++) {
			uint16_t want = (k == 2 ? VIO_DESC_F_WRITE : VIO_DESC_F_NEXT);

			assert_int_equal(vio_get16(legacy, t[k].flags), want);
			assert_int_equal(vio_get64(legacy, t[k].addr), sg[k].addr);
			assert_int_equal(vio_get32(legacy, t[k].len), SEG_LEN);
			if (k < 2)
				assert_int_equal(vio_get16(legacy, t[k].next), k + 1);
		}
	}
	/* Two live tables never overlap. */
	assert_true(table[0] + 3 * 16 <= table[1] || table[1] + 3 * 16 <= table[0]);
	/* And the real device walks them to the right spans. */
	assert_int_equal(dev_pop(c, &e), 0);
	assert_int_equal(e.out_num, 2);
	assert_int_equal(e.in_num, 1);
	assert_int_equal(e.in_len, SEG_LEN);
}

static void sp_no_indirect_for_single_segment(void **state)
{
	struct ctx *c = *state;
	const struct vt_pair_opts o = { .indirect_max = 4 };
	const bool legacy = !vio_has_feature(c->v->features, VIO_F_VERSION_1);
	struct vt_pair *p = pair_with(c, 8, VIO_BIT(VIO_F_INDIRECT_DESC), &o);
	struct vio_sg sg = next_seg(c, 33);
	uint16_t h;

	assert_int_equal(vio_drvq_add(&p->drv, &sg, 1, NULL, 0, TOK(0)), 0);
	h = avail_head(c, 0);
	assert_int_equal(vio_get16(legacy, p->desc[h].flags), 0);
	assert_int_equal(vio_get64(legacy, p->desc[h].addr), sg.addr);
	assert_int_equal(vio_get32(legacy, p->desc[h].len), 33);

	assert_int_equal(vio_drvq_add(&p->drv, NULL, 0, &sg, 1, TOK(1)), 0);
	h = avail_head(c, 1);
	assert_int_equal(vio_get16(legacy, p->desc[h].flags), VIO_DESC_F_WRITE);
	assert_int_equal(vio_get64(legacy, p->desc[h].addr), sg.addr);
}

/* Indirect only when negotiated, and only up to indirect_max segments. */
static void sp_no_indirect_unless_negotiated_and_small(void **state)
{
	struct ctx *c = *state;
	const struct vt_pair_opts o = { .indirect_max = 4 };
	const bool legacy = !vio_has_feature(c->v->features, VIO_F_VERSION_1);
	uint16_t ids[8];
	struct vt_pair *p;

	p = pair_with(c, 8, 0, &o);                    /* tables, no feature */
	assert_int_equal(post(c, 2, 1, TOK(0)), 0);
	assert_int_equal(chain_of(c, avail_head(c, 0), ids), 3);
	assert_int_equal(vio_get16(legacy, p->desc[ids[0]].flags) & VIO_DESC_F_INDIRECT, 0);

	p = pair_with(c, 8, VIO_BIT(VIO_F_INDIRECT_DESC), &o);
	assert_int_equal(post(c, 3, 2, TOK(0)), 0);    /* 5 > indirect_max */
	assert_int_equal(chain_of(c, avail_head(c, 0), ids), 5);
	for (unsigned k = 0; k < 5; k++)
		assert_int_equal(vio_get16(legacy, p->desc[ids[k]].flags) & VIO_DESC_F_INDIRECT, 0);
	assert_int_equal(vio_drvq_num_free(&p->drv), 3);
}

static void sort16(uint16_t *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j > 0 && v[j - 1] > v[j]; j--) {
			uint16_t t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
}

static void sp_free_list_reuses_returned_chain(void **state)
{
	struct ctx *c = *state;
	uint16_t a[4], b[4], h[4];
	struct vt_pair *p = pair(c, 4);

	assert_int_equal(post(c, 1, 1, TOK(0)), 0);
	assert_int_equal(post(c, 1, 1, TOK(1)), 0);
	assert_int_equal(vio_drvq_num_free(&p->drv), 0);
	assert_int_equal(chain_of(c, avail_head(c, 0), a), 2);
	fake_put_used(c, avail_head(c, 0), 0);
	reap(c, TOK(0), 0);
	assert_int_equal(vio_drvq_num_free(&p->drv), 2);

	assert_int_equal(post(c, 2, 0, TOK(2)), 0);
	assert_int_equal(chain_of(c, avail_head(c, 2), b), 2);
	sort16(a, 2);
	sort16(b, 2);
	assert_memory_equal(a, b, sizeof(a[0]) * 2);
	assert_int_equal(post(c, 1, 0, TOK(3)), -ENOSPC);

	fake_put_used(c, avail_head(c, 1), 0);
	fake_put_used(c, avail_head(c, 2), 0);
	reap(c, TOK(1), 0);
	reap(c, TOK(2), 0);
	assert_int_equal(vio_drvq_num_free(&p->drv), 4);

	/* Singles: the one freed is the one reused. */
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(post(c, 1, 0, TOK(10 + i)), 0);
		h[i] = avail_head(c, (uint16_t)(3 + i));
	}
	fake_put_used(c, h[2], 0);
	reap(c, TOK(12), 0);
	assert_int_equal(post(c, 0, 1, TOK(14)), 0);
	assert_int_equal(avail_head(c, 7), h[2]);
}

/*
 * The hostile part: trash every descriptor, indirect table and consumed
 * avail entry. None of it may matter to the driver. Odd rounds write
 * garbage (every flag, links out of range); even rounds write something
 * plausible: NEXT without INDIRECT and in-range links into other chains,
 * which a driver that walked the shared table would follow.
 */
static void scribble(struct ctx *c, unsigned round)
{
	const uint16_t plausible = VIO_DESC_F_NEXT | VIO_DESC_F_WRITE;
	struct vt_pair *p = &c->p;
	const bool garbage = round & 1;

	for (unsigned i = 0; i < p->size; i++) {
		uint16_t next = (uint16_t)(garbage ? 0xbad0 + i : (i + 3) & (p->size - 1));

		p->desc[i].addr = vio_set64(false, UINT64_C(0xdeadbeefdeadbeef));
		p->desc[i].len = vio_set32(false, garbage ? 0xffffffffu : 1);
		p->desc[i].flags = vio_set16(false, garbage ? 0xffff : plausible);
		p->desc[i].next = vio_set16(false, next);
		p->avail->ring[i] = vio_set16(false, 0xfffe);
	}
	if (p->indirect)
		memset(p->indirect, 0xee, (size_t)p->size * c->indirect_max * 16);
}

/*
 * One round: post `shape`s until the ring is full, the real device pops
 * them all, the hostile one scribbles, then everything is returned
 * correctly in reverse order. Returns how many buffers fit.
 */
static unsigned scribble_round(struct ctx *c, const unsigned (*shape)[2], unsigned nshape,
			       unsigned first, unsigned round)
{
	struct vio_elem e[MAX_ELEMS];
	unsigned n = 0;
	int r;

	while ((r = post(c, shape[n % nshape][0], shape[n % nshape][1], TOK(first + n))) == 0)
		n++;
	assert_int_equal(r, -ENOSPC);
	assert_int_equal(dev_pop_all(c, e, MAX_ELEMS), n);
	scribble(c, round);
	for (unsigned k = n; k-- > 0;)
		dev_push(c, &e[k], e[k].in_len);
	for (unsigned k = n; k-- > 0;)
		reap(c, TOK(first + k), shape[k % nshape][1] * SEG_LEN);
	assert_nothing_used(c);
	assert_int_equal(vio_drvq_num_free(&c->p.drv), c->p.size);
	return n;
}

/*
 * The driver never reads its own bookkeeping back from shared memory: after
 * the device scribbles over the descriptor table, tokens still come back
 * right, and the free list still holds every descriptor exactly once (each
 * later round fills the ring completely, and the real device finds every
 * re-posted chain well formed).
 */
static void sp_scribbled_desc_table_does_not_confuse_driver(void **state)
{
	static const unsigned mixed[][2] = {
		{ 1, 0 }, { 1, 1 }, { 2, 1 }, { 1, 3 }, { 3, 0 }, { 0, 2 },
	};
	static const unsigned single[][2] = { { 0, 1 } };
	static const unsigned pairs[][2] = { { 1, 1 } };
	struct ctx *c = *state;
	const unsigned size = 16;
	const bool ind = vio_has_feature(c->v->features, VIO_F_INDIRECT_DESC);
	unsigned t = 0, r = 0;

	pair(c, size);
	for (unsigned round = 0; round < 3; round++) {
		t += scribble_round(c, mixed, 6, t, r++);
		assert_int_equal(scribble_round(c, single, 1, t, r++), size);
		t += size;
		assert_int_equal(scribble_round(c, pairs, 1, t, r++), ind ? size : size / 2);
		t += ind ? size : size / 2;
	}
}

/* ---- kick_prepare -------------------------------------------------------- */

static void sp_kick_honours_no_notify(void **state)
{
	struct ctx *c = *state;

	pair(c, 8);
	fake_set_used_flags(c, VIO_USED_F_NO_NOTIFY);
	assert_int_equal(post(c, 1, 1, TOK(0)), 0);
	assert_false(vio_drvq_kick_prepare(&c->p.drv));
	assert_int_equal(post(c, 1, 1, TOK(1)), 0);
	assert_int_equal(post(c, 1, 1, TOK(2)), 0);
	assert_false(vio_drvq_kick_prepare(&c->p.drv));
	fake_set_used_flags(c, 0);
	assert_int_equal(post(c, 1, 1, TOK(3)), 0);
	assert_true(vio_drvq_kick_prepare(&c->p.drv));
	assert_int_equal(c->p.drv.stats.kicks, 1);
	assert_int_equal(c->p.drv.stats.kicks_suppressed, 2);
}

/* With EVENT_IDX avail_event decides; used->flags is not consulted. */
static void sp_kick_event_idx_ignores_flags(void **state)
{
	struct ctx *c = *state;

	pair_with(c, 8, VIO_BIT(VIO_F_EVENT_IDX), NULL);
	fake_set_used_flags(c, VIO_USED_F_NO_NOTIFY);
	fake_set_avail_event(c, 0);
	assert_int_equal(post(c, 1, 1, TOK(0)), 0);
	assert_true(vio_drvq_kick_prepare(&c->p.drv));
	fake_set_used_flags(c, 0);
	fake_set_avail_event(c, 5);
	assert_int_equal(post(c, 1, 1, TOK(1)), 0);
	assert_false(vio_drvq_kick_prepare(&c->p.drv));
	assert_int_equal(c->p.drv.stats.kicks, 1);
	assert_int_equal(c->p.drv.stats.kicks_suppressed, 1);
}

/* avail_event relative to the first new index, and whether to kick. */
struct win_case {
	uint16_t nadd;
	int32_t ev;
	bool kick;
};

static const struct win_case win_cases[] = {
	{ 4, 0, true },         /* the first new entry */
	{ 4, 3, true },         /* the last new entry */
	{ 4, 4, false },        /* the next one, not added yet */
	{ 4, -1, false },       /* one the device had already seen */
	{ 4, 0x4000, false },   /* far ahead */
	{ 4, -0x4000, false },  /* far behind */
	{ 1, 0, true },
	{ 1, 1, false },
};

/* Drives the avail index to `start` (with the real device), then checks
 * each case's kick decision and exact counters. */
static void kick_window_at(struct ctx *c, uint16_t start)
{
	for (unsigned i = 0; i < sizeof(win_cases) / sizeof(win_cases[0]); i++) {
		const struct win_case *w = &win_cases[i];
		struct vio_ring_stats s0;
		uint32_t n = 0;

		pair_with(c, 8, VIO_BIT(VIO_F_EVENT_IDX), NULL);
		while (avail_idx(c) != start)
			cycle(c, n++, true, false);
		s0 = c->p.drv.stats;
		for (unsigned k = 0; k < w->nadd; k++)
			assert_int_equal(post(c, 1, 0, TOK(k)), 0);
		fake_set_avail_event(c, (uint16_t)(start + w->ev));
		assert_int_equal(vio_drvq_kick_prepare(&c->p.drv), w->kick);
		assert_int_equal(c->p.drv.stats.kicks - s0.kicks, w->kick);
		assert_int_equal(c->p.drv.stats.kicks_suppressed - s0.kicks_suppressed, !w->kick);
	}
}

static void sp_kick_event_idx_window_no_wrap(void **state)
{
	kick_window_at(*state, 100);
}

/* The new entries run 65534, 65535, 0, 1. */
static void sp_kick_event_idx_window_across_wrap(void **state)
{
	kick_window_at(*state, 65534);
}

/* The new entries end exactly at the wrap (new index 0). */
static void sp_kick_event_idx_window_ends_at_wrap(void **state)
{
	kick_window_at(*state, 65532);
}

/*
 * The device parks avail_event at E and polls; over 70000 single adds the
 * driver must kick exactly at the adds whose window [old, new) holds E:
 * add E+1 and, if E+1+65536 <= 70000, add E+65537.
 */
static void stale_avail_event_case(struct ctx *c, uint16_t ev)
{
	uint64_t kicked_at[3] = { 0 }, want_n = ev + 65537u <= WRAP_CYCLES ? 2 : 1;
	unsigned n = 0;

	pair_with(c, 4, VIO_BIT(VIO_F_EVENT_IDX), NULL);
	vio_devq_kick_disable(&c->p.dev);
	fake_set_avail_event(c, ev);
	for (uint32_t i = 0; i < WRAP_CYCLES; i++) {
		uint64_t before = c->p.drv.stats.kicks;

		cycle(c, i, true, false);
		if (c->p.drv.stats.kicks != before) {
			assert_true(n < 3);
			kicked_at[n++] = i + 1;
		}
	}
	assert_int_equal(n, want_n);
	assert_int_equal(kicked_at[0], ev + 1u);
	if (want_n == 2)
		assert_int_equal(kicked_at[1], ev + 65537u);
	assert_int_equal(c->p.drv.stats.kicks_suppressed, WRAP_CYCLES - want_n);
}

static void sp_kick_stale_avail_event_across_wrap(void **state)
{
	stale_avail_event_case(*state, 100);    /* passed twice in 70000 adds */
	stale_avail_event_case(*state, 30000);  /* once */
	stale_avail_event_case(*state, 65535);  /* once, right at the wrap */
}

/*
 * The 65535 limit is on avail entries (one per add(): what split's 16-bit
 * window counts), not on descriptors: with two-descriptor chains the
 * callback still comes on the 65536th add, as vio_drvq_config documents.
 */
static void sp_add_kick_threshold_counts_adds_not_descriptors(void **state)
{
	struct ctx *c = *state;
	struct vt_pair_opts o = { .notify = count_notify, .opaque = c };
	struct vio_elem e;
	uint32_t i;

	pair_with(c, 4, 0, &o);
	for (i = 0; i < 65536; i++) {
		assert_int_equal(post(c, 1, 1, TOK(i)), 0);
		assert_int_equal(c->notifies, i == 65535);
		assert_int_equal(dev_pop(c, &e), 0);
		dev_push(c, &e, 0);
		reap(c, TOK(i), 0);
	}
}

/* ---- broken device ------------------------------------------------------- */

/* A used id beyond the queue, including ones whose low 16 bits name an
 * outstanding head (a driver that truncated the id would accept them). */
static void sp_broken_used_id_beyond_size(void **state)
{
	struct ctx *c = *state;

	for (unsigned i = 0; i < 5; i++) {
		uint16_t h0, h1;
		uint32_t bad[5];

		pair(c, 8);
		post_two(c, &h0, &h1);
		bad[0] = 8;
		bad[1] = 9;
		bad[2] = 0xffff;
		bad[3] = 0x10000u | h0;
		bad[4] = 0xffffffffu;
		fake_put_used(c, bad[i], 0);
		fake_put_used(c, h1, 0);
		expect_break(c);
	}
}

static void sp_broken_used_id_never_posted(void **state)
{
	struct ctx *c = *state;
	uint16_t h0, h1;

	pair(c, 8);
	post_two(c, &h0, &h1);
	assert_true(h0 != 7 && h1 != 7);
	fake_put_used(c, 7, 0);
	fake_put_used(c, h0, 0);
	expect_break(c);
}

/* An id inside an outstanding chain that is not its head. */
static void sp_broken_used_id_not_a_head(void **state)
{
	struct ctx *c = *state;
	uint16_t ids[8];

	pair(c, 8);
	assert_int_equal(post(c, 1, 2, TOK(0)), 0);
	assert_int_equal(chain_of(c, avail_head(c, 0), ids), 3);
	fake_put_used(c, ids[1], 0);
	fake_put_used(c, ids[0], 0);
	expect_break(c);
}

static void sp_broken_used_id_duplicate(void **state)
{
	struct ctx *c = *state;
	uint16_t h0, h1;

	pair(c, 8);
	post_two(c, &h0, &h1);
	fake_put_used(c, h0, 1);
	reap(c, TOK(0), 1);
	fake_put_used(c, h0, 1);
	fake_put_used(c, h1, 1);
	expect_break(c);
}

static void sp_broken_used_idx_runs_ahead(void **state)
{
	struct ctx *c = *state;
	uint16_t h0, h1;

	pair(c, 8);
	post_two(c, &h0, &h1);
	fake_put_used(c, h0, 0);
	reap(c, TOK(0), 0);
	fake_put_used(c, h1, 0);                 /* a valid entry, then... */
	fake_set_used_idx(c, (uint16_t)(1 + 8 + 1));
	expect_break(c);
}

static void sp_broken_used_idx_runs_backwards(void **state)
{
	struct ctx *c = *state;
	uint16_t h0, h1;

	pair(c, 8);
	post_two(c, &h0, &h1);
	fake_put_used(c, h0, 0);
	fake_put_used(c, h1, 0);
	reap(c, TOK(0), 0);
	reap(c, TOK(1), 0);
	assert_int_equal(post(c, 1, 1, TOK(2)), 0);
	fake_set_used_idx(c, 1);
	expect_break(c);
}

/* has_used() applies the same check as get_buf(). */
static void sp_broken_has_used_sees_runaway_idx(void **state)
{
	struct ctx *c = *state;
	uint16_t h0, h1;

	pair(c, 8);
	post_two(c, &h0, &h1);
	fake_put_used(c, h0, 0);
	fake_set_used_idx(c, 9);
	assert_false(vio_drvq_has_used(&c->p.drv));
	assert_broken_for_good(c);
}

static void sp_broken_len_over_capacity(void **state)
{
	struct ctx *c = *state;
	uint16_t h0, h1;

	pair(c, 8);
	post_two(c, &h0, &h1);                  /* SEG_LEN writable each */
	fake_put_used(c, h0, SEG_LEN + 1);
	fake_put_used(c, h1, 0);
	expect_break(c);
}

static void sp_broken_len_on_readonly_buffer(void **state)
{
	struct ctx *c = *state;

	pair(c, 8);
	assert_int_equal(post(c, 2, 0, TOK(0)), 0);
	assert_int_equal(post(c, 1, 1, TOK(1)), 0);
	fake_put_used(c, avail_head(c, 0), 1);
	fake_put_used(c, avail_head(c, 1), 0);
	expect_break(c);
}

/* The boundaries the checks must not trip on. */
static void sp_len_at_capacity_accepted(void **state)
{
	struct ctx *c = *state;

	pair(c, 8);
	assert_int_equal(post(c, 2, 0, TOK(0)), 0);
	assert_int_equal(post(c, 1, 3, TOK(1)), 0);
	fake_put_used(c, avail_head(c, 0), 0);
	fake_put_used(c, avail_head(c, 1), 3 * SEG_LEN);
	reap(c, TOK(0), 0);
	reap(c, TOK(1), 3 * SEG_LEN);
	assert_nothing_used(c);
}

static void sp_len_clamped_to_capacity(void **state)
{
	struct ctx *c = *state;
	const struct vt_pair_opts o = { .len_policy = VIO_LEN_CLAMP };

	pair_with(c, 8, 0, &o);
	assert_int_equal(post(c, 1, 2, TOK(0)), 0);
	assert_int_equal(post(c, 2, 0, TOK(1)), 0);
	fake_put_used(c, avail_head(c, 0), 2 * SEG_LEN + 1000);
	fake_put_used(c, avail_head(c, 1), 0xffffffffu);
	reap(c, TOK(0), 2 * SEG_LEN);
	reap(c, TOK(1), 0);
	assert_nothing_used(c);
	assert_null(vio_drvq_error(&c->p.drv));
	/* Still healthy. */
	assert_int_equal(post(c, 1, 1, TOK(2)), 0);
	fake_put_used(c, avail_head(c, 2), 5);
	reap(c, TOK(2), 5);
	assert_int_equal(vio_drvq_num_free(&c->p.drv), 8);
}

static void sp_detach_unused_on_broken_queue(void **state)
{
	struct ctx *c = *state;
	const bool out[3] = { true, true, true };

	pair(c, 8);
	assert_int_equal(post(c, 1, 0, TOK(0)), 0);
	assert_int_equal(post(c, 2, 1, TOK(1)), 0);
	assert_int_equal(post(c, 0, 1, TOK(2)), 0);
	fake_put_used(c, 8, 0);
	expect_break(c);
	detach_all(c, out, 3);
	assert_true(vio_drvq_is_broken(&c->p.drv));
}

/* ---- callbacks ----------------------------------------------------------- */

static void sp_disable_cb_sets_no_interrupt_flag(void **state)
{
	struct ctx *c = *state;

	pair(c, 8);
	assert_int_equal(read_avail_flags(c), 0);
	vio_drvq_disable_cb(&c->p.drv);
	assert_int_equal(read_avail_flags(c), VIO_AVAIL_F_NO_INTERRUPT);
	assert_true(vio_drvq_enable_cb(&c->p.drv));
	assert_int_equal(read_avail_flags(c), 0);
	vio_drvq_disable_cb(&c->p.drv);
	(void)vio_drvq_enable_cb_prepare(&c->p.drv);
	assert_int_equal(read_avail_flags(c), 0);
	vio_drvq_disable_cb(&c->p.drv);
	(void)vio_drvq_enable_cb_delayed(&c->p.drv);
	assert_int_equal(read_avail_flags(c), 0);
}

/*
 * With EVENT_IDX, callbacks are on while used_event tracks the next entry
 * the driver expects, and off once used_event is behind it: outside the
 * window of the next `size` used entries. The flags stay 0 (virtio 1.x
 * 2.7.7.1: with EVENT_IDX the driver MUST set flags to 0).
 */
static void sp_disable_cb_moves_used_event_behind(void **state)
{
	struct ctx *c = *state;
	uint16_t ue;

	pair_with(c, 8, VIO_BIT(VIO_F_EVENT_IDX), NULL);
	for (uint32_t i = 0; i < 5; i++) {
		cycle(c, i, true, false);
		assert_int_equal(read_used_event(c), i + 1);
	}
	vio_drvq_disable_cb(&c->p.drv);
	assert_int_equal(read_avail_flags(c), 0);
	ue = read_used_event(c);
	assert_true((uint16_t)(ue - 5) >= 8);
	cycle(c, 5, true, false);               /* reaping leaves it alone */
	assert_int_equal(read_used_event(c), ue);
	assert_true(vio_drvq_enable_cb(&c->p.drv));
	assert_int_equal(read_used_event(c), 6);
	assert_int_equal(read_avail_flags(c), 0);
}

static void sp_enable_cb_delayed_writes_three_quarters(void **state)
{
	struct ctx *c = *state;
	uint32_t i = 0;

	pair_with(c, 16, VIO_BIT(VIO_F_EVENT_IDX), NULL);
	for (; i < 5; i++)
		cycle(c, i, true, false);
	for (unsigned k = 0; k < 8; k++)
		assert_int_equal(post(c, 1, 1, TOK(100 + k)), 0);
	vio_drvq_disable_cb(&c->p.drv);
	assert_true(vio_drvq_enable_cb_delayed(&c->p.drv));
	assert_int_equal(read_used_event(c), 5 + 6);
	fake_sync(c);
	for (unsigned k = 0; k < 8; k++)
		fake_put_used(c, avail_head(c, (uint16_t)(5 + k)), 0);
	for (unsigned k = 0; k < 8; k++)
		reap(c, TOK(100 + k), 0);
	for (unsigned k = 0; k < 4; k++)
		assert_int_equal(post(c, 1, 1, TOK(200 + k)), 0);
	vio_drvq_disable_cb(&c->p.drv);
	assert_true(vio_drvq_enable_cb_delayed(&c->p.drv));
	assert_int_equal(read_used_event(c), 13 + 3);
	/* It answers against that mark: 3 of 4 used is not yet "that many"
	 * (the device's 4th will interrupt), all 4 is. */
	for (unsigned k = 0; k < 3; k++)
		fake_put_used(c, avail_head(c, (uint16_t)(13 + k)), 0);
	vio_drvq_disable_cb(&c->p.drv);
	assert_true(vio_drvq_enable_cb_delayed(&c->p.drv));
	fake_put_used(c, avail_head(c, 16), 0);
	vio_drvq_disable_cb(&c->p.drv);
	assert_false(vio_drvq_enable_cb_delayed(&c->p.drv));
}

/* ======================================================================== */
/* ======================================================================== */
/* Packed-specific tests: the fake device writes the packed ring by hand    */

/* ---- broken device ------------------------------------------------------- */

/*
 * The counterparts of the split ring's broken-device tests. The packed
 * ring has no used index to run ahead or backwards; what a device can get
 * wrong there instead is the AVAIL/USED phase of a descriptor, which the
 * driver reads as "not used yet" (the wrong_phase tests below).
 */

/* A used id beyond the queue, including 0x8000 | an outstanding id (a
 * driver that dropped bit 15, the wrap bit of event offsets, would accept
 * it). Packed sizes need not be powers of two: with 6, ids 6 and 7 fit
 * the mask a power-of-two ring would use. */
static void pk_broken_used_id_beyond_size(void **state)
{
	static const unsigned sizes[] = { 8, 6 };
	struct ctx *c = *state;

	for (unsigned s = 0; s < 2; s++) {
		const uint16_t size = (uint16_t)sizes[s];

		for (unsigned i = 0; i < 5; i++) {
			struct vio_elem e0, e1;
			uint16_t bad[5];

			pair(c, size);
			pk_post_two(c, &e0, &e1);
			bad[0] = size;
			bad[1] = (uint16_t)(size + 1);
			bad[2] = 0x7fff;
			bad[3] = (uint16_t)(0x8000u | e0.id);
			bad[4] = 0xffff;
			pk_put_used(c, bad[i], 0, e0.ndescs);
			expect_break(c);
		}
	}
}

static void pk_broken_used_id_never_posted(void **state)
{
	struct ctx *c = *state;
	struct vio_elem e0, e1;

	pair(c, 8);
	pk_post_two(c, &e0, &e1);
	assert_true(e0.id != 7 && e1.id != 7);
	pk_put_used(c, 7, 0, e0.ndescs);
	expect_break(c);
}

/* A chain of three descriptors is one buffer id (written in all three);
 * the ids a device naming buffers by ring position would give the
 * descriptors behind the head are not outstanding. */
static void pk_broken_used_id_inside_a_chain(void **state)
{
	struct ctx *c = *state;

	for (uint16_t k = 1; k < 3; k++) {
		struct vio_elem e;

		pair(c, 8);
		pk_post(c, 1, 2, TOK(0), &e);
		assert_int_equal(e.ndescs, 3);
		assert_int_equal(e.id, 0);
		pk_put_used(c, k, 0, e.ndescs);
		expect_break(c);
	}
}

/* The driver looks for the next used descriptor only where its own record
 * of the buffers says (a buffer's descriptor count on), never where the
 * device wrote one: a used descriptor inside an outstanding chain is not
 * seen, before or after that chain completes. */
static void pk_broken_used_inside_a_chain_not_seen(void **state)
{
	struct ctx *c = *state;
	struct vio_elem e0, e1;

	pair(c, 8);
	pk_post(c, 1, 2, TOK(0), &e0);          /* positions 0-2 */
	pk_post(c, 0, 1, TOK(1), &e1);          /* position 3 */
	assert_int_equal(e0.ndescs, 3);
	pk_write_used(c, 1, e1.id, 4, pk_used_bits(true) | VIO_DESC_F_WRITE);
	assert_nothing_used(c);
	pk_put_used(c, e0.id, 5, e0.ndescs);
	reap(c, TOK(0), 5);
	assert_nothing_used(c);
	pk_put_used(c, e1.id, 4, e1.ndescs);
	reap(c, TOK(1), 4);
	assert_nothing_used(c);
}

static void pk_broken_used_id_duplicate(void **state)
{
	struct ctx *c = *state;
	struct vio_elem e0, e1;

	pair(c, 8);
	pk_post_two(c, &e0, &e1);
	pk_put_used(c, e0.id, 1, e0.ndescs);
	reap(c, TOK(0), 1);
	pk_put_used(c, e0.id, 1, e1.ndescs);
	expect_break(c);
}

/* IN_ORDER: one used descriptor naming the second buffer completes the
 * first with it; a later one naming either of them names a buffer that is
 * no longer outstanding, though the first was never named itself. */
static void pk_broken_used_id_in_order_batch_done(void **state)
{
	struct ctx *c = *state;

	for (unsigned k = 0; k < 2; k++) {
		struct vio_elem e[3];

		pair_with(c, 8, VIO_BIT(VIO_F_IN_ORDER), NULL);
		for (unsigned i = 0; i < 3; i++)
			pk_post(c, 1, 1, TOK(i), &e[i]);
		pk_put_used(c, e[1].id, 7, e[0].ndescs + e[1].ndescs);
		reap(c, TOK(0), SEG_LEN);
		reap(c, TOK(1), 7);
		pk_put_used(c, e[k].id, 0, e[2].ndescs);
		expect_break(c);
	}
}

/* SEG_LEN writable bytes each; the device claims more, for the oldest
 * buffer or for the newer one (with IN_ORDER, a batch: the older one must
 * not be handed out either). */
static void pk_broken_len_over_capacity(void **state)
{
	static const uint32_t bad[] = { SEG_LEN + 1, 0xffffffffu };
	struct ctx *c = *state;

	for (unsigned k = 0; k < 2; k++) {
		for (unsigned i = 0; i < 2; i++) {
			struct vio_elem e[2];

			pair(c, 8);
			pk_post_two(c, &e[0], &e[1]);
			pk_put_used(c, e[k].id, bad[i], e[k].ndescs);
			expect_break(c);
		}
	}
}

static void pk_broken_len_on_readonly_buffer(void **state)
{
	struct ctx *c = *state;
	struct vio_elem e0, e1;

	pair(c, 8);
	pk_post(c, 2, 0, TOK(0), &e0);
	pk_post(c, 1, 1, TOK(1), &e1);
	pk_put_used(c, e0.id, 1, e0.ndescs);
	expect_break(c);
}

/* The boundaries the checks must not trip on. */
static void pk_len_at_capacity_accepted(void **state)
{
	struct ctx *c = *state;
	struct vio_elem e0, e1;

	pair(c, 8);
	pk_post(c, 2, 0, TOK(0), &e0);
	pk_post(c, 1, 3, TOK(1), &e1);
	pk_put_used(c, e0.id, 0, e0.ndescs);
	pk_put_used(c, e1.id, 3 * SEG_LEN, e1.ndescs);
	reap(c, TOK(0), 0);
	reap(c, TOK(1), 3 * SEG_LEN);
	assert_nothing_used(c);
}

static void pk_len_clamped_to_capacity(void **state)
{
	struct ctx *c = *state;
	const struct vt_pair_opts o = { .len_policy = VIO_LEN_CLAMP };
	struct vio_elem e0, e1;

	pair_with(c, 8, 0, &o);
	pk_post(c, 1, 2, TOK(0), &e0);
	pk_post(c, 2, 0, TOK(1), &e1);
	pk_put_used(c, e0.id, 2 * SEG_LEN + 1000, e0.ndescs);
	pk_put_used(c, e1.id, 0xffffffffu, e1.ndescs);
	reap(c, TOK(0), 2 * SEG_LEN);
	reap(c, TOK(1), 0);
	assert_nothing_used(c);
	assert_null(vio_drvq_error(&c->p.drv));
	/* Still healthy. */
	pk_post(c, 1, 1, TOK(2), &e0);
	pk_put_used(c, e0.id, 5, e0.ndescs);
	reap(c, TOK(2), 5);
	assert_int_equal(vio_drvq_num_free(&c->p.drv), 8);
}

/*
 * A descriptor is used when its AVAIL and USED bits both equal the
 * driver's used wrap counter (virtio 1.2 2.8.1 and 2.8.2: the ring wrap
 * counters, polling of used descriptors). Anything else at the next used
 * position is "not used yet", whatever its id and len say: available in
 * this lap (as the driver wrote it), available in the other lap (USED
 * without AVAIL in the first), or used in the other lap. None of these is
 * an error: each can legitimately sit at a position the driver has not
 * posted in this lap (a device overwrites only the first descriptor of a
 * chain), so the driver neither takes it nor breaks, and takes the buffer
 * once the device marks it used. Each is written over the driver's own
 * available descriptor, naming the other outstanding buffer with a valid
 * len (a driver that ignored the phase would hand out a buffer the device
 * has not used), then with a bad id and len (one that read them before the
 * flags would break).
 */
static void wrong_phase_case(struct ctx *c, bool after_wrap)
{
	struct vio_drvq *q = &c->p.drv;
	struct vio_elem e0, e1;
	uint16_t bad[3];
	bool w;

	pair(c, 8);
	if (after_wrap) {
		pk_go_round(c);
		/* What the first lap marked used is not used in this one. */
		assert_nothing_used(c);
	}
	pk_post_two(c, &e0, &e1);
	w = c->fake_wrap;
	assert_int_equal(w, !after_wrap);
	bad[0] = w ? PK_AVAIL : PK_USED;        /* available, this lap */
	bad[1] = w ? PK_USED : PK_AVAIL;        /* available, the other lap */
	bad[2] = pk_used_bits(!w);              /* used, the other lap */
	for (unsigned k = 0; k < 3; k++) {
		pk_write_used(c, c->fake_pos, e1.id, 1, bad[k] | VIO_DESC_F_WRITE);
		assert_nothing_used(c);
		assert_false(vio_drvq_poll(q, vio_drvq_enable_cb_prepare(q)));
		pk_write_used(c, c->fake_pos, 0xffff, 0xffffffffu, bad[k] | VIO_DESC_F_WRITE);
		assert_nothing_used(c);
		assert_false(vio_drvq_poll(q, vio_drvq_enable_cb_prepare(q)));
	}
	assert_null(vio_drvq_error(q));
	pk_put_used(c, e0.id, 2, e0.ndescs);
	pk_put_used(c, e1.id, 1, e1.ndescs);
	reap(c, TOK(0), 2);
	reap(c, TOK(1), 1);
	assert_nothing_used(c);
	assert_int_equal(vio_drvq_num_free(q), c->p.size);
}

static void pk_broken_used_wrong_phase_not_used(void **state)
{
	wrong_phase_case(*state, false);
}

/* The same in the second lap, where the wrap counter is 0 and used means
 * both bits clear. */
static void pk_broken_used_wrong_phase_across_wrap(void **state)
{
	wrong_phase_case(*state, true);
}

static void pk_detach_unused_on_broken_queue(void **state)
{
	struct ctx *c = *state;
	const bool out[3] = { false, true, true };
	struct vio_elem e[3];

	pair(c, 8);
	pk_post(c, 1, 0, TOK(0), &e[0]);
	pk_post(c, 2, 1, TOK(1), &e[1]);
	pk_post(c, 0, 1, TOK(2), &e[2]);
	pk_put_used(c, e[0].id, 0, e[0].ndescs);
	reap(c, TOK(0), 0);
	pk_put_used(c, 8, 0, e[1].ndescs);
	expect_break(c);
	detach_all(c, out, 3);
	assert_true(vio_drvq_is_broken(&c->p.drv));
}

/* ======================================================================== */
/* Registration                                                             */

struct test_def {
	const char *name;
	CMUnitTestFunction fn;
	unsigned axes;
};

#define T(fn, axes) { #fn, fn, axes }

/* Public API only: run for every layout. */
static const struct test_def api_tests[] = {
	T(sizes_power_of_two_accepted, 0),
	T(roundtrip_modern_placement, AX_ALL),
	T(add_rejects_zero_segments, AX_INDIRECT),
	T(add_rejects_null_token, AX_INDIRECT),
	T(add_rejects_more_segments_than_ring, 0),
	T(add_rejects_more_segments_than_ring_with_indirect, 0),
	T(add_rejects_writable_total_over_4g, AX_INDIRECT),
	T(add_enospc_without_indirect, 0),
	T(add_enospc_with_indirect, 0),
	T(add_direct_chain_above_indirect_max, 0),
	T(add_in_order_prefers_direct_chains, 0),
	T(add_staged_visible_at_kick, AX_EVIDX | AX_INDIRECT),
	T(add_num_free_accounting, AX_EVIDX | AX_INDIRECT),
	T(add_device_sees_readable_then_writable, AX_INDIRECT),
	T(kick_needed_after_first_add, AX_EVIDX),
	T(kick_not_needed_when_nothing_added, AX_EVIDX),
	T(kick_suppressed_while_device_polls, AX_EVIDX),
	T(kick_every_add_while_device_idles_across_wrap, AX_EVIDX),
	T(kick_polling_device_across_wrap, AX_EVIDX),
	T(kick_calls_notify_only_when_needed, AX_EVIDX),
	T(add_notifies_after_65535_unkicked_adds, AX_EVIDX),
	T(add_eagain_after_65535_unkicked_adds, AX_EVIDX),
	T(get_buf_eagain_when_nothing_used, AX_EVIDX),
	T(get_buf_returns_token_and_len, AX_EVIDX | AX_INDIRECT),
	T(get_buf_whole_ring_used_at_once, AX_EVIDX),
	T(cb_disable_suppresses_device_interrupt, AX_EVIDX),
	T(cb_enable_true_when_nothing_pending, AX_EVIDX),
	T(cb_enable_false_when_buffers_pending, AX_EVIDX),
	T(cb_enable_prepare_then_poll, AX_EVIDX),
	T(cb_delayed_interrupts_after_three_quarters, AX_EVIDX),
	T(cb_delayed_false_when_enough_used, AX_EVIDX),
	T(notify_on_empty_interrupts_when_ring_empty, AX_EVIDX),
	T(no_notify_on_empty_without_feature, AX_EVIDX),
	T(detach_unused_on_empty_queue, 0),
	T(detach_unused_returns_every_token_once, AX_EVIDX | AX_INDIRECT),
};

/* Split-specific: read or write the split ring areas directly. */
static const struct test_def split_tests[] = {
	T(sp_init_rejects_bad_sizes, 0),
	T(sp_legacy_layout_addresses, 0),
	T(sp_legacy_layout_roundtrip, AX_ALL),
	T(sp_ring_fields_in_negotiated_byte_order, AX_LEGACY | AX_EVIDX),
	T(sp_desc_readable_before_writable, AX_LEGACY),
	T(sp_indirect_table_layout, AX_LEGACY),
	T(sp_no_indirect_for_single_segment, 0),
	T(sp_no_indirect_unless_negotiated_and_small, 0),
	T(sp_free_list_reuses_returned_chain, 0),
	T(sp_scribbled_desc_table_does_not_confuse_driver, AX_EVIDX | AX_INDIRECT),
	T(sp_kick_honours_no_notify, 0),
	T(sp_kick_event_idx_ignores_flags, 0),
	T(sp_kick_event_idx_window_no_wrap, 0),
	T(sp_kick_event_idx_window_across_wrap, 0),
	T(sp_kick_event_idx_window_ends_at_wrap, 0),
	T(sp_kick_stale_avail_event_across_wrap, 0),
	T(sp_add_kick_threshold_counts_adds_not_descriptors, AX_EVIDX),
	T(sp_broken_used_id_beyond_size, AX_EVIDX | AX_INDIRECT),
	T(sp_broken_used_id_never_posted, AX_EVIDX | AX_INDIRECT),
	T(sp_broken_used_id_not_a_head, AX_EVIDX),
	T(sp_broken_used_id_duplicate, AX_EVIDX | AX_INDIRECT),
	T(sp_broken_used_idx_runs_ahead, AX_EVIDX),
	T(sp_broken_used_idx_runs_backwards, AX_EVIDX),
	T(sp_broken_has_used_sees_runaway_idx, AX_EVIDX),
	T(sp_broken_len_over_capacity, AX_EVIDX | AX_INDIRECT),
	T(sp_broken_len_on_readonly_buffer, AX_EVIDX | AX_INDIRECT),
	T(sp_len_at_capacity_accepted, AX_INDIRECT),
	T(sp_len_clamped_to_capacity, AX_INDIRECT),
	T(sp_detach_unused_on_broken_queue, AX_INDIRECT),
	T(sp_disable_cb_sets_no_interrupt_flag, 0),
	T(sp_disable_cb_moves_used_event_behind, 0),
	T(sp_enable_cb_delayed_writes_three_quarters, 0),
};

/* Packed-specific: write the packed descriptor ring directly. */
static const struct test_def packed_tests[] = {
	T(pk_broken_used_id_beyond_size, AX_EVIDX | AX_INDIRECT | AX_INORDER),
	T(pk_broken_used_id_never_posted, AX_EVIDX | AX_INDIRECT | AX_INORDER),
	T(pk_broken_used_id_inside_a_chain, AX_EVIDX),
	T(pk_broken_used_inside_a_chain_not_seen, AX_EVIDX),
	T(pk_broken_used_id_duplicate, AX_EVIDX | AX_INDIRECT | AX_INORDER),
	T(pk_broken_used_id_in_order_batch_done, AX_EVIDX | AX_INDIRECT),
	T(pk_broken_len_over_capacity, AX_EVIDX | AX_INDIRECT | AX_INORDER),
	T(pk_broken_len_on_readonly_buffer, AX_EVIDX | AX_INDIRECT),
	T(pk_len_at_capacity_accepted, AX_INDIRECT),
	T(pk_len_clamped_to_capacity, AX_INDIRECT),
	T(pk_broken_used_wrong_phase_not_used, AX_EVIDX | AX_INDIRECT | AX_INORDER),
	T(pk_broken_used_wrong_phase_across_wrap, AX_EVIDX | AX_INDIRECT | AX_INORDER),
	T(pk_detach_unused_on_broken_queue, AX_INDIRECT | AX_INORDER),
};

#define MAX_RUNS 512

static struct variant variants[MAX_RUNS];
static struct CMUnitTest runs[MAX_RUNS];

/* Appends one run per combination of the test's axes. */
static size_t expand(const struct test_def *t, const struct layout *l, size_t n)
{
	for (unsigned bits = 0; bits <= AX_EVERY; bits++) {
		struct variant *v;

		if (bits & ~t->axes)
			continue;
		/* Legacy (pre-1.0) byte order exists only for the split ring. */
		if ((bits & AX_LEGACY) && vio_has_feature(l->features, VIO_F_RING_PACKED))
			continue;
		if (n == MAX_RUNS) {
			fprintf(stderr, "test_drvq: raise MAX_RUNS\n");
			exit(1);
		}
		v = &variants[n];
		v->layout = l;
		v->features = l->features;
		if (!(bits & AX_LEGACY))
			v->features |= VIO_BIT(VIO_F_VERSION_1);
		if (bits & AX_EVIDX)
			v->features |= VIO_BIT(VIO_F_EVENT_IDX);
		if (bits & AX_INDIRECT) {
			v->features |= VIO_BIT(VIO_F_INDIRECT_DESC);
			v->indirect_max = INDIRECT_MAX;
		}
		if (bits & AX_INORDER)
			v->features |= VIO_BIT(VIO_F_IN_ORDER);
		snprintf(v->name, sizeof(v->name), "%s[%s%s%s%s%s]", t->name, l->name,
			 bits & AX_EVIDX ? "+event_idx" : "",
			 bits & AX_INDIRECT ? "+indirect" : "",
			 bits & AX_LEGACY ? "+legacy" : "",
			 bits & AX_INORDER ? "+in_order" : "");
		runs[n] = (struct CMUnitTest){ v->name, t->fn, ctx_setup, ctx_teardown, v };
		n++;
	}
	return n;
}

int main(void)
{
	const size_t nl = sizeof(layouts) / sizeof(layouts[0]);
	size_t n = 0;

	for (size_t l = 0; l < nl; l++)
		for (size_t i = 0; i < sizeof(api_tests) / sizeof(api_tests[0]); i++)
			n = expand(&api_tests[i], &layouts[l], n);
	for (size_t l = 0; l < nl; l++) {
		if (vio_has_feature(layouts[l].features, VIO_F_RING_PACKED))
			continue;
		for (size_t i = 0; i < sizeof(split_tests) / sizeof(split_tests[0]); i++)
			n = expand(&split_tests[i], &layouts[l], n);
	}
	for (size_t l = 0; l < nl; l++) {
		if (!vio_has_feature(layouts[l].features, VIO_F_RING_PACKED))
			continue;
		for (size_t i = 0; i < sizeof(packed_tests) / sizeof(packed_tests[0]); i++)
			n = expand(&packed_tests[i], &layouts[l], n);
	}
	return _cmocka_run_group_tests("drvq", runs, n, NULL, NULL);
}
