/*
 * test_differential.c - one seeded random workload through a split queue
 * and through a packed queue of the same size: what either side can
 * observe must not depend on the layout.
 *
 * The ring API promises that the layout is invisible above it. These tests
 * hold it to that with workloads too long and too mixed to write by hand:
 * chains of 1..16 segments with readable and writable parts in random
 * proportion (some of length 0), indirect tables on and off, EVENT_IDX on
 * and off, IN_ORDER on and off, completions in a random (or, with IN_ORDER,
 * batched) order with partial write lengths, fills batched before a flush,
 * kick and interrupt suppression switched on and off, and enough buffers
 * that both rings wrap many times (in the longest workload, the split
 * ring's 16-bit indices too). Queue sizes are powers of two so that
 * the split ring accepts them; there is one guest memory region, so a
 * descriptor is one span in both layouts.
 *
 * Every buffer's shape, its device-written length and its contents are
 * fixed by the seed and the buffer's number, never by timing, so each
 * result is also checked against what it must be, not only against the
 * other layout.
 *
 * Two kinds of case, each for every configuration and seed:
 *
 *  diff/...    Both layouts run the same schedule of driver and device
 *              steps, drawn from one seeded generator; notification calls
 *              are made but their answers do not steer anything (their
 *              counts legitimately differ between layouts). The logs must
 *              be identical: every add() result and num_free(), every
 *              element the device popped (out/in lengths and span counts,
 *              readable bytes), every completion the device made, every
 *              get_buf() result (token, len, a hash of the buffer), and the
 *              final buffer counts.
 *
 *  notify/...  Each side acts only when the other side notified it, or,
 *              now and then, when it polls by choice: the device pops only
 *              after a kick (or while it keeps kicks off and polls), the
 *              driver reaps only after an interrupt (or while it keeps
 *              callbacks off and polls). Every so often, and at the end,
 *              the driver waits for all its buffers with no polling at all.
 *              A needed notification that is suppressed leaves both sides
 *              asleep with work pending: the case fails as a stall. The
 *              order of completions depends on the notifications, so only
 *              the per-buffer results are compared between layouts.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pair.h"

/* ======================================================================== */
/* Parameters                                                               */

/* Feature axes; every combination is a configuration. */
#define AX_EVIDX        (1u << 0)
#define AX_INDIRECT     (1u << 1)
#define AX_IN_ORDER     (1u << 2)
#define N_CONFIGS       8u

struct seed_case {
	uint64_t seed;
	unsigned size;
	unsigned ntoks;         /* buffers in the workload */
};

/* Several laps of each ring; the last one takes the split ring's 16-bit
 * indices past their wrap. */
static const struct seed_case seed_cases[] = {
	{ 0x5eed0001u, 4, 300 },
	{ 0x5eed0002u, 8, 900 },
	{ 0x5eed0003u, 32, 1600 },
	{ 0x5eed0004u, 256, 2000 },
	{ 0x5eed0005u, 16, 66000 },
};
#define N_SEEDS (sizeof(seed_cases) / sizeof(seed_cases[0]))

enum mode { MODE_DIFF, MODE_NOTIFY };

struct variant {
	enum mode mode;
	unsigned axes;
	const struct seed_case *sc;
	char name[96];
};

/* ======================================================================== */
/* Workload: what each buffer is, fixed by the seed                         */

#define MAX_SEGS        16u
#define SEG_MAX         64u     /* bytes per segment at most */
#define GUARD           8u      /* bytes between segments, never written */
#define SLOT_BYTES      2048u   /* >= GUARD + MAX_SEGS * (SEG_MAX + GUARD) */
#define MAX_SIZE        256u    /* the largest queue a case uses */
#define INDIRECT_MAX    16u
#define IOV_CAP         (2 * MAX_SEGS)

#define POISON          0xeeu   /* writable bytes the device did not write */
#define GUARD_BYTE      0xc3u

struct rng {
	uint64_t s;
};

/* splitmix64: small, and good enough to pick shapes and schedules. */
static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static unsigned below(struct rng *r, unsigned n)
{
	return (unsigned)(rng_next(r) % n);
}

static bool one_in(struct rng *r, unsigned n)
{
	return below(r, n) == 0;
}

struct shape {
	unsigned nout, nin;
	uint32_t seg[MAX_SEGS];
	uint32_t out_len, in_len;
	unsigned out_spans, in_spans;   /* segments of non-zero length */
	uint32_t len;                   /* what the device writes and reports */
};

struct workload {
	uint64_t seed;
	unsigned size;
	uint64_t features;              /* without the layout bit */
	bool in_order;
	unsigned ntoks;
	struct shape *shapes;           /* ntoks of them */
};

/* Half the buffers are short chains, half anything up to 16 segments,
 * never more than the ring holds; one segment in 16 is empty. The device
 * fills half of the writable buffers whole and the rest partly (with
 * IN_ORDER only a whole one may be followed by another in one batch). */
static void make_shape(struct shape *s, struct rng *r, unsigned size)
{
	unsigned cap = size < MAX_SEGS ? size : MAX_SEGS;
	unsigned n = 1 + below(r, one_in(r, 2) ? (cap < 3 ? cap : 3) : cap);

	memset(s, 0, sizeof(*s));
	s->nout = below(r, n + 1);
	s->nin = n - s->nout;
	for (unsigned k = 0; k < n; k++) {
		s->seg[k] = one_in(r, 16) ? 0 : 1 + below(r, SEG_MAX);
		if (k < s->nout) {
			s->out_len += s->seg[k];
			s->out_spans += s->seg[k] != 0;
		} else {
			s->in_len += s->seg[k];
			s->in_spans += s->seg[k] != 0;
		}
	}
	s->len = one_in(r, 2) ? s->in_len : below(r, s->in_len + 1);
}

static void make_workload(struct workload *w, const struct variant *v)
{
	struct rng r = { v->sc->seed ^ UINT64_C(0xa11ce) };

	w->seed = v->sc->seed;
	w->size = v->sc->size;
	w->features = VIO_BIT(VIO_F_VERSION_1) |
		      ((v->axes & AX_EVIDX) ? VIO_BIT(VIO_F_EVENT_IDX) : 0) |
		      ((v->axes & AX_INDIRECT) ? VIO_BIT(VIO_F_INDIRECT_DESC) : 0) |
		      ((v->axes & AX_IN_ORDER) ? VIO_BIT(VIO_F_IN_ORDER) : 0);
	w->in_order = v->axes & AX_IN_ORDER;
	w->ntoks = v->sc->ntoks;
	w->shapes = calloc(w->ntoks, sizeof(*w->shapes));
	assert_non_null(w->shapes);
	for (unsigned t = 0; t < w->ntoks; t++)
		make_shape(&w->shapes[t], &r, w->size);
}

/* The bytes of buffer t: what the driver puts in its readable part, and
 * what the device writes into its writable part. */
static uint8_t out_byte(const struct workload *w, unsigned t, uint32_t j)
{
	return (uint8_t)(w->seed + t * 13u + j * 3u + 0x5a);
}

static uint8_t in_byte(const struct workload *w, unsigned t, uint32_t j)
{
	return (uint8_t)(w->seed * 7u + t * 31u + j * 7u + 1);
}

/* ======================================================================== */
/* One run: a queue pair of one layout and both sides' bookkeeping          */

enum rec_kind { R_ADD, R_POP, R_FILL, R_GET, R_END };

/* One observable event. Identical runs give identical logs. */
struct rec {
	uint32_t kind, a, b, c, d, e;
};

struct held {
	struct vio_elem e;
	struct vio_iov out[IOV_CAP], in[IOV_CAP];
	unsigned tok;
};

enum tok_state { T_NEW, T_POSTED, T_DONE };

/* The driver's view of one buffer; its address is the buffer's token. */
struct tok {
	uint8_t state;
	unsigned slot;
	uint32_t got_len, got_hash;     /* what get_buf() returned */
};

struct run {
	const struct workload *w;
	const char *layout;
	struct vt_pair p;
	struct rng rng;                 /* the schedule */
	/* driver */
	struct tok *toks;               /* ntoks of them */
	/* Buffer memory, one slot a buffer; one more slot than the ring has
	 * entries, so that a full ring is add()'s to report. */
	unsigned free_slots[MAX_SIZE + 1];
	unsigned nfree_slots;
	unsigned next_tok, reaped;
	/* device: popped elements not yet returned, in pop order */
	struct held pool[MAX_SIZE + 1];         /* + 1: room for a pop to fail */
	unsigned free_held[MAX_SIZE + 1], nfree_held;
	unsigned order[MAX_SIZE + 1], nheld;
	unsigned popped, filled;
	/* notifications (notify mode) */
	bool kicked, dev_polling, irq, drv_polling;
	/* log (diff mode) */
	struct rec *log;
	size_t nlog, caplog;
};

static void log_rec(struct run *r, uint32_t kind, uint32_t a, uint32_t b, uint32_t c, uint32_t d,
		    uint32_t e)
{
	if (r->nlog == r->caplog) {
		r->caplog = r->caplog ? 2 * r->caplog : 4096;
		r->log = realloc(r->log, r->caplog * sizeof(*r->log));
		assert_non_null(r->log);
	}
	r->log[r->nlog++] = (struct rec){ kind, a, b, c, d, e };
}

static void run_init(struct run *r, const struct workload *w, bool packed)
{
	struct vt_pair_opts o = { 0 };
	uint64_t features = w->features | (packed ? VIO_BIT(VIO_F_RING_PACKED) : 0);

	memset(r, 0, sizeof(*r));
	r->w = w;
	r->layout = packed ? "packed" : "split";
	r->rng.s = w->seed;
	r->toks = calloc(w->ntoks, sizeof(*r->toks));
	assert_non_null(r->toks);
	o.indirect_max = vio_has_feature(w->features, VIO_F_INDIRECT_DESC) ? INDIRECT_MAX : 0;
	o.buf_bytes = (size_t)(w->size + 1) * SLOT_BYTES;
	assert_int_equal(vt_pair_init(&r->p, w->size, features, &o), 0);
	for (unsigned i = 0; i <= w->size; i++) {
		r->free_slots[r->nfree_slots++] = w->size - i;
		r->free_held[r->nfree_held++] = w->size - i;
	}
}

static void run_fini(struct run *r)
{
	vt_pair_fini(&r->p);
	free(r->log);
	free(r->toks);
	r->log = NULL;
	r->toks = NULL;
}

static unsigned outstanding(const struct run *r)
{
	return r->next_tok - r->reaped;
}

/* ------------------------------------------------------------------------ */
/* Driver side                                                              */

/* Segment k of buffer t in its slot: segments apart, guards around each. */
static size_t seg_off(const struct shape *s, unsigned slot, unsigned k)
{
	size_t off = (size_t)slot * SLOT_BYTES + GUARD;

	for (unsigned i = 0; i < k; i++)
		off += s->seg[i] + GUARD;
	return off;
}

/* Posts the next buffer. Returns add()'s result. */
static int drv_add(struct run *r)
{
	const unsigned t = r->next_tok;
	const struct shape *s = &r->w->shapes[t];
	struct vio_sg sg[MAX_SEGS];
	unsigned slot;
	uint32_t j = 0;
	int ret;

	assert_true(r->nfree_slots > 0);
	slot = r->free_slots[--r->nfree_slots];
	memset(r->p.buf + (size_t)slot * SLOT_BYTES, GUARD_BYTE, SLOT_BYTES);
	for (unsigned k = 0; k < s->nout + s->nin; k++) {
		size_t off = seg_off(s, slot, k);

		sg[k] = vt_sg(&r->p, off, s->seg[k]);
		for (uint32_t b = 0; b < s->seg[k]; b++)
			r->p.buf[off + b] = k < s->nout ? out_byte(r->w, t, j++) : POISON;
	}
	ret = vio_drvq_add(&r->p.drv, sg, s->nout, sg + s->nout, s->nin, &r->toks[t]);
	log_rec(r, R_ADD, t, (uint32_t)ret, vio_drvq_num_free(&r->p.drv), 0, 0);
	if (ret) {
		assert_int_equal(ret, -ENOSPC);
		r->free_slots[r->nfree_slots++] = slot;
		return ret;
	}
	r->toks[t].slot = slot;
	r->toks[t].state = T_POSTED;
	r->next_tok++;
	return 0;
}

/* FNV-1a, to log a buffer's bytes in a few bits. */
static uint32_t fnv(uint32_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* Buffer t came back with len: its bytes must be exactly what the device
 * was to write, the rest untouched. Returns a hash of the whole slot. */
static uint32_t check_returned(struct run *r, unsigned t, uint32_t len)
{
	const struct shape *s = &r->w->shapes[t];
	const uint8_t *base = r->p.buf + (size_t)r->toks[t].slot * SLOT_BYTES;
	uint32_t jo = 0, ji = 0;
	size_t off = GUARD;

	assert_int_equal(len, s->len);
	for (size_t g = 0; g < GUARD; g++)
		assert_int_equal(base[g], GUARD_BYTE);
	for (unsigned k = 0; k < s->nout + s->nin; k++) {
		for (uint32_t b = 0; b < s->seg[k]; b++, off++) {
			if (k < s->nout)
				assert_int_equal(base[off], out_byte(r->w, t, jo++));
			else if (ji < len)
				assert_int_equal(base[off], in_byte(r->w, t, ji++));
			else
				assert_int_equal(base[off], POISON);
		}
		for (size_t g = 0; g < GUARD; g++, off++)
			assert_int_equal(base[off], GUARD_BYTE);
	}
	return fnv(2166136261u, base, off);
}

/* Reaps one buffer. Returns get_buf()'s result. */
static int drv_reap(struct run *r)
{
	void *token = NULL;
	uint32_t len = 0, hash;
	unsigned t;
	int ret = vio_drvq_get_buf(&r->p.drv, &token, &len);

	if (ret == -EAGAIN) {
		log_rec(r, R_GET, UINT32_MAX, 0, 0, 0, 0);
		return ret;
	}
	assert_int_equal(ret, 0);
	assert_true((struct tok *)token >= r->toks && (struct tok *)token < r->toks + r->next_tok);
	t = (unsigned)((struct tok *)token - r->toks);
	assert_ptr_equal(token, &r->toks[t]);
	assert_int_equal(r->toks[t].state, T_POSTED);
	/* IN_ORDER: buffers come back in the order they were posted. */
	if (r->w->in_order)
		assert_int_equal(t, r->reaped);
	hash = check_returned(r, t, len);
	log_rec(r, R_GET, t, len, hash, 0, 0);
	r->toks[t].got_len = len;
	r->toks[t].got_hash = hash;
	r->toks[t].state = T_DONE;
	r->free_slots[r->nfree_slots++] = r->toks[t].slot;
	r->reaped++;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Device side                                                              */

/* The device pops chains in the order they were posted, so the k-th one
 * is buffer k: it must have that buffer's shape and readable bytes. */
static void check_popped(struct run *r, const struct held *h)
{
	const struct shape *s = &r->w->shapes[h->tok];
	uint8_t bytes[MAX_SEGS * SEG_MAX];

	assert_int_equal(h->e.out_len, s->out_len);
	assert_int_equal(h->e.in_len, s->in_len);
	assert_int_equal(h->e.out_num, s->out_spans);
	assert_int_equal(h->e.in_num, s->in_spans);
	assert_int_equal(vio_iov_to_buf(h->e.out, h->e.out_num, 0, bytes, sizeof(bytes)),
			 s->out_len);
	for (uint32_t j = 0; j < s->out_len; j++)
		assert_int_equal(bytes[j], out_byte(r->w, h->tok, j));
}

/* Pops one chain. Returns pop()'s result. */
static int dev_pop(struct run *r)
{
	unsigned i;
	struct held *h;
	int ret;

	assert_true(r->nfree_held > 0);
	i = r->free_held[r->nfree_held - 1];
	h = &r->pool[i];
	memset(&h->e, 0, sizeof(h->e));
	h->e.out = h->out;
	h->e.in = h->in;
	h->e.out_cap = IOV_CAP;
	h->e.in_cap = IOV_CAP;
	ret = vio_devq_pop(&r->p.dev, &h->e);
	if (ret) {
		assert_int_equal(ret, -EAGAIN);
		log_rec(r, R_POP, UINT32_MAX, 0, 0, 0, 0);
		return ret;
	}
	h->tok = r->popped++;
	assert_true(h->tok < r->next_tok);
	check_popped(r, h);
	log_rec(r, R_POP, h->tok, h->e.out_num, h->e.in_num, h->e.out_len, h->e.in_len);
	r->nfree_held--;
	r->order[r->nheld++] = i;
	return 0;
}

/* Writes a held element's data: len bytes of its buffer's pattern. */
static void dev_write(struct run *r, const struct held *h)
{
	uint8_t bytes[MAX_SEGS * SEG_MAX];
	uint32_t len = r->w->shapes[h->tok].len;

	for (uint32_t j = 0; j < len; j++)
		bytes[j] = in_byte(r->w, h->tok, j);
	assert_int_equal(vio_iov_from_buf(h->e.in, h->e.in_num, 0, bytes, len), len);
}

/* Forgets the n oldest held elements... */
static void drop_front(struct run *r, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		r->free_held[r->nfree_held++] = r->order[k];
	memmove(r->order, r->order + n, (r->nheld - n) * sizeof(r->order[0]));
	r->nheld -= n;
}

/* ...or the one at position k. */
static void drop_at(struct run *r, unsigned k)
{
	r->free_held[r->nfree_held++] = r->order[k];
	memmove(r->order + k, r->order + k + 1, (r->nheld - k - 1) * sizeof(r->order[0]));
	r->nheld--;
}

static void logged_fill(struct run *r, const struct held *h, bool push)
{
	uint32_t len = r->w->shapes[h->tok].len;

	dev_write(r, h);
	if (push)
		assert_int_equal(vio_devq_push(&r->p.dev, &h->e, len), 0);
	else
		assert_int_equal(vio_devq_fill(&r->p.dev, &h->e, len), 0);
	log_rec(r, R_FILL, h->tok, len, push, 0, 0);
	r->filled++;
}

/*
 * IN_ORDER: returns the oldest held chains, at most `want` of them, and
 * only whole ones before the last (the driver takes every chain but the
 * last of a batch as fully written). As one fill_in_order() entry when
 * `batch`, else one fill() each.
 */
static void complete_in_order(struct run *r, unsigned want, bool batch)
{
	unsigned n = 0;
	const struct held *last = NULL;

	while (n < want && n < r->nheld) {
		const struct held *h = &r->pool[r->order[n++]];
		const struct shape *s = &r->w->shapes[h->tok];

		last = h;
		if (s->len != s->in_len)
			break;
	}
	if (!last)
		return;
	if (batch && n > 1) {
		for (unsigned k = 0; k < n; k++)
			dev_write(r, &r->pool[r->order[k]]);
		assert_int_equal(vio_devq_fill_in_order(&r->p.dev, &last->e,
							r->w->shapes[last->tok].len), 0);
		log_rec(r, R_FILL, last->tok, r->w->shapes[last->tok].len, 2, n, 0);
		r->filled += n;
	} else {
		for (unsigned k = 0; k < n; k++)
			logged_fill(r, &r->pool[r->order[k]], false);
	}
	drop_front(r, n);
}

/* A burst of completions, then one flush. Returns need_interrupt(). */
static bool dev_complete(struct run *r, unsigned bursts)
{
	bool push = one_in(&r->rng, 4);

	for (unsigned b = 0; b < bursts && r->nheld; b++) {
		if (r->w->in_order) {
			unsigned want = 1 + below(&r->rng, 6);

			complete_in_order(r, want, !one_in(&r->rng, 3));
		} else {
			unsigned k = below(&r->rng, r->nheld);

			logged_fill(r, &r->pool[r->order[k]], push);
			drop_at(r, k);
		}
	}
	assert_int_equal(vio_devq_flush(&r->p.dev), 0);
	return vio_devq_need_interrupt(&r->p.dev);
}

/* ======================================================================== */
/* diff mode: one schedule for both layouts                                 */

static void diff_step(struct run *r)
{
	switch (below(&r->rng, 9)) {
	case 0:
	case 1:
		for (unsigned k = 1 + below(&r->rng, 4); k && r->next_tok < r->w->ntoks; k--)
			if (drv_add(r))
				break;
		if (!one_in(&r->rng, 4))
			vio_drvq_kick_prepare(&r->p.drv);
		break;
	case 2:
	case 3:
		for (unsigned k = 1 + below(&r->rng, 8); k; k--)
			if (drv_reap(r))
				break;
		break;
	case 4:
		switch (below(&r->rng, 3)) {
		case 0:
			vio_drvq_disable_cb(&r->p.drv);
			break;
		case 1:
			vio_drvq_enable_cb(&r->p.drv);
			break;
		default:
			vio_drvq_enable_cb_delayed(&r->p.drv);
			break;
		}
		break;
	case 5:
	case 6:
		for (unsigned k = 1 + below(&r->rng, r->w->size); k; k--)
			if (dev_pop(r))
				break;
		break;
	case 7:
		dev_complete(r, 1 + below(&r->rng, 8));
		break;
	default:
		if (one_in(&r->rng, 2))
			vio_devq_kick_disable(&r->p.dev);
		else
			vio_devq_kick_enable(&r->p.dev);
		break;
	}
}

static void run_diff(struct run *r)
{
	const unsigned limit = 200 * r->w->ntoks;
	unsigned steps = 0;

	while (r->reaped < r->w->ntoks) {
		if (++steps > limit)
			fail_msg("%s: no progress after %u steps (%u of %u buffers back)",
				 r->layout, steps, r->reaped, r->w->ntoks);
		diff_step(r);
	}
	assert_null(vio_drvq_detach_unused(&r->p.drv));
	assert_int_equal(vio_drvq_num_free(&r->p.drv), r->w->size);
	assert_int_equal(r->popped, r->w->ntoks);
	assert_int_equal(r->filled, r->w->ntoks);
	log_rec(r, R_END, r->next_tok, r->popped, r->filled, r->reaped,
		vio_drvq_num_free(&r->p.drv));
}

static const char *const rec_names[] = { "add", "pop", "fill", "get_buf", "end" };

static void compare_logs(const struct run *a, const struct run *b)
{
	size_t n = a->nlog < b->nlog ? a->nlog : b->nlog;

	for (size_t i = 0; i < n; i++) {
		const struct rec *x = &a->log[i], *y = &b->log[i];

		if (memcmp(x, y, sizeof(*x)))
			fail_msg("event %zu differs: %s %s(%u %u %u %u %u), %s %s(%u %u %u %u %u)",
				 i, a->layout, rec_names[x->kind], x->a, x->b, x->c, x->d, x->e,
				 b->layout, rec_names[y->kind], y->a, y->b, y->c, y->d, y->e);
	}
	assert_int_equal(a->nlog, b->nlog);
}

/* ======================================================================== */
/* notify mode: each side acts only when notified, or polls by choice       */

/* Driver, producing: posts a few buffers and kicks if the device asked.
 * Returns false when the ring had no room for the first one. */
static bool notify_produce(struct run *r)
{
	unsigned k = 1 + below(&r->rng, 4), added = 0;

	while (added < k && r->next_tok < r->w->ntoks && drv_add(r) == 0)
		added++;
	if (vio_drvq_kick_prepare(&r->p.drv))
		r->kicked = true;
	return added > 0 || r->next_tok == r->w->ntoks;
}

/*
 * Driver, on an interrupt (or polling). Either simply: reap until the ring
 * is empty with callbacks left on (get_buf() keeps the request at the next
 * entry). Or the polling way: callbacks off, reap, and back to sleep only
 * when enable_cb*() says nothing came meanwhile; now and then it tries to
 * sleep before it saw the ring empty, as it does when the device used more
 * buffers between its last get_buf and enable_cb*().
 */
static bool notify_consume(struct run *r, bool poll)
{
	unsigned k = 1 + below(&r->rng, 8);
	bool empty = false, delayed = one_in(&r->rng, 3), early = one_in(&r->rng, 4);

	if (!r->irq && !r->drv_polling && !poll)
		return false;
	r->irq = false;
	if (!r->drv_polling && one_in(&r->rng, 2)) {
		while (drv_reap(r) == 0)
			;
		return true;
	}
	if (!r->drv_polling) {
		vio_drvq_disable_cb(&r->p.drv);
		r->drv_polling = true;
	}
	while (k-- && !empty)
		empty = drv_reap(r) == -EAGAIN;
	if ((empty || early) &&
	    (delayed ? vio_drvq_enable_cb_delayed(&r->p.drv) : vio_drvq_enable_cb(&r->p.drv)))
		r->drv_polling = false;
	return true;
}

/*
 * Device, on a kick (or polling). Either simply: pop until the ring is
 * empty with kicks left on (pop() asks for a kick when it finds nothing).
 * Or the polling way: kicks off, pop, and back to sleep only when
 * kick_enable() says nothing came meanwhile; now and then it tries to
 * sleep before it saw the ring empty, as it does when the driver added
 * more between its last pop and kick_enable().
 */
static bool notify_service(struct run *r, bool poll)
{
	unsigned k = 1 + below(&r->rng, r->w->size);
	bool empty = false, early = one_in(&r->rng, 4);

	if (!r->kicked && !r->dev_polling && !poll)
		return false;
	r->kicked = false;
	if (!r->dev_polling && one_in(&r->rng, 2)) {
		while (dev_pop(r) == 0)
			;
		return true;
	}
	if (!r->dev_polling) {
		vio_devq_kick_disable(&r->p.dev);
		r->dev_polling = true;
	}
	while (k-- && !empty)
		empty = dev_pop(r) == -EAGAIN;
	if ((empty || early) && vio_devq_kick_enable(&r->p.dev))
		r->dev_polling = false;
	return true;
}

/* Device: its own I/O finished (no notification needed for that). */
static bool notify_complete(struct run *r)
{
	if (!r->nheld)
		return false;
	if (dev_complete(r, 1 + below(&r->rng, 4)))
		r->irq = true;
	return true;
}

static void stalled(const struct run *r, const char *when)
{
	fail_msg("%s: lost notification %s: %u of %u buffers back, %u outstanding, %u held by "
		 "the device; driver %s, device %s, nothing pending",
		 r->layout, when, r->reaped, r->w->ntoks, outstanding(r), r->nheld,
		 r->drv_polling ? "polling" : "asleep", r->dev_polling ? "polling" : "asleep");
}

/* The driver waits for every buffer it posted, with nobody polling by
 * choice. When no side may act and buffers are still out, a notification
 * was lost. */
static void notify_wait_all(struct run *r, const char *when)
{
	unsigned rounds = 0;

	while (outstanding(r)) {
		bool acted = false;

		acted |= notify_service(r, false);
		acted |= notify_complete(r);
		acted |= notify_consume(r, false);
		if (!acted)
			stalled(r, when);
		if (++rounds > 64u * r->w->size + 1000)
			fail_msg("%s: livelock %s", r->layout, when);
	}
}

static void run_notify(struct run *r)
{
	const unsigned limit = 200 * r->w->ntoks;
	unsigned steps = 0;

	while (r->next_tok < r->w->ntoks) {
		bool acted;

		if (++steps > limit)
			fail_msg("%s: no progress after %u steps", r->layout, steps);
		switch (below(&r->rng, 5)) {
		case 0:
			acted = notify_produce(r);
			break;
		case 1:
			acted = notify_consume(r, one_in(&r->rng, 32));
			break;
		case 2:
			acted = notify_service(r, one_in(&r->rng, 32));
			break;
		case 3:
			acted = notify_complete(r);
			break;
		default:
			/* Now and then the driver waits for everything. */
			if (one_in(&r->rng, 16))
				notify_wait_all(r, "while the driver waited");
			acted = true;
			break;
		}
		/* The ring is full, and nobody is due to act: stuck. */
		if (!acted && !r->irq && !r->drv_polling && !r->kicked && !r->dev_polling &&
		    !r->nheld && !notify_produce(r))
			stalled(r, "with the ring full");
	}
	notify_wait_all(r, "at the end");
	assert_int_equal(r->reaped, r->w->ntoks);
	assert_null(vio_drvq_detach_unused(&r->p.drv));
	assert_int_equal(vio_drvq_num_free(&r->p.drv), r->w->size);
}

/* ======================================================================== */
/* Cases                                                                    */

struct fixture {
	const struct variant *v;
	struct workload w;
	struct run split, packed;
};

static int fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->v = *state;
	*state = f;
	return 0;
}

/* Runs even when a case fails half way. */
static int fixture_teardown(void **state)
{
	struct fixture *f = *state;

	run_fini(&f->split);
	run_fini(&f->packed);
	free(f->w.shapes);
	free(f);
	return 0;
}

static void test_case(void **state)
{
	struct fixture *f = *state;
	const struct variant *v = f->v;
	const struct workload *w = &f->w;
	struct run *split = &f->split, *packed = &f->packed;

	make_workload(&f->w, v);
	run_init(split, w, false);
	run_init(packed, w, true);
	if (v->mode == MODE_DIFF) {
		run_diff(split);
		run_diff(packed);
		compare_logs(split, packed);
	} else {
		run_notify(split);
		run_notify(packed);
		/* Whatever the order, each buffer came back the same. */
		for (unsigned t = 0; t < w->ntoks; t++) {
			assert_int_equal(split->toks[t].got_len, packed->toks[t].got_len);
			assert_int_equal(split->toks[t].got_hash, packed->toks[t].got_hash);
		}
	}
}

#define N_CASES (2 * N_CONFIGS * N_SEEDS)

static struct variant variants[N_CASES];
static struct CMUnitTest cases[N_CASES];

int main(void)
{
	static const char *const mode_names[] = { "diff", "notify" };
	size_t n = 0;

	for (unsigned m = 0; m < 2; m++)
		for (unsigned ax = 0; ax < N_CONFIGS; ax++)
			for (size_t s = 0; s < N_SEEDS; s++) {
				struct variant *v = &variants[n];

				v->mode = (enum mode)m;
				v->axes = ax;
				v->sc = &seed_cases[s];
				snprintf(v->name, sizeof(v->name),
					 "%s[evidx=%u indirect=%u in_order=%u size=%u seed=%#llx]",
					 mode_names[m], !!(ax & AX_EVIDX), !!(ax & AX_INDIRECT),
					 !!(ax & AX_IN_ORDER), v->sc->size,
					 (unsigned long long)v->sc->seed);
				cases[n] = (struct CMUnitTest){ v->name, test_case, fixture_setup,
								fixture_teardown, v };
				n++;
			}
	return _cmocka_run_group_tests("differential", cases, n, NULL, NULL);
}
