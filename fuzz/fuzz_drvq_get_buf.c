/*
 * fuzz_drvq_get_buf.c - libFuzzer target: the driver side of a virtqueue
 * against a device that writes whatever the input says.
 *
 * A driver trusts nothing the device writes. Here the driver posts buffers
 * of input-chosen shapes over the queue-pair fixture, and between its calls
 * a fake device writes its half of the ring from the input: plausible
 * completions of outstanding buffers, lengths at and past their capacity,
 * raw ids, positions that jump or go backwards, and the fields that ask
 * for kicks. The fake device writes the shared ring directly, so it comes
 * in two layouts, one binary each, so that each gets its own fuzzing time:
 *
 *   fuzz_drvq_get_buf         split: used entries, used->idx, used->flags,
 *                             avail_event
 *   fuzz_drvq_get_buf_packed  packed (built with -DFUZZ_LAYOUT_PACKED): used
 *                             descriptors (id, len, and AVAIL/USED bits that
 *                             match its wrap counter or not) at positions it
 *                             chooses, and the device event suppression
 *                             structure; queue sizes need not be powers of 2
 *
 * The harness keeps its own model of what is outstanding, built only from
 * what add() wrote into the shared ring (as a device would see it), and
 * traps when:
 *  - add() returns other than the contract predicts, publishes something
 *    other than what was posted, reuses a descriptor, head or buffer id
 *    that is still outstanding (a corrupted free list), or (packed) writes
 *    any ring position but the ones it was due to fill;
 *  - get_buf() returns a token that is not outstanding (or twice), one
 *    that is not the token the used entry names, or a len other than the
 *    entry's (clamped to the capacity under VIO_LEN_CLAMP, never above
 *    it); with IN_ORDER, an entry naming a later buffer first hands out
 *    every earlier outstanding one, oldest first, with its full capacity,
 *    one used position each (the spec's in-order rule: the device moves
 *    the used index by the size of the batch);
 *  - the queue breaks without the device having broken a rule, or stops
 *    being broken, or a call on a broken queue does not fail fast;
 *  - get_buf()/has_used()/poll() report nothing while a used entry is
 *    published (a lost completion), or enable_cb*() say "sleep" when the
 *    device has already passed the point they ask to be woken at;
 *  - kick_prepare() says no while the device asked for a kick for one of
 *    the entries added since the last call, or yes while it asked not to;
 *  - the driver's interrupt request in the shared ring (NO_INTERRUPT /
 *    used_event, or the driver event suppression structure) is not what
 *    the last disable_cb/enable_cb*()/get_buf() calls ask for; a delayed
 *    request lies beyond what the outstanding buffers can reach;
 *  - num_free() disagrees with the model;
 *  - at the end, detach_unused() does not return exactly the tokens still
 *    outstanding, or the total returned differs from the total posted.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "pair.h"

#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

#ifdef FUZZ_LAYOUT_PACKED
#define LAYOUT_PACKED   true
#else
#define LAYOUT_PACKED   false
#endif

#define MAX_SIZE        256
#define MAX_TOKENS      512
#define MAX_OPS         1024
#define MAX_SEGS        16      /* 8 readable + 8 writable */

#define AVAIL           VIO_PACKED_DESC_F_AVAIL
#define USED            VIO_PACKED_DESC_F_USED
#define WRAP_BIT        (1u << VIO_PACKED_EVENT_WRAP_SHIFT)

struct tok {
	bool outstanding;
	bool dev_done;          /* the fake device completed it already */
	uint32_t cap;           /* writable bytes */
	uint16_t head;          /* split: head descriptor; packed: buffer id */
	uint16_t ndescs;
	uint64_t ind_addr;      /* indirect table (DMA address), 0 if direct */
};

/* What the driver asked of interrupts last, as the ring must show it. */
enum cb_mode {
	CB_OFF,         /* disable_cb() */
	CB_ALL,         /* every used buffer interrupts */
	CB_AT,          /* EVENT_IDX: the next used entry interrupts */
	CB_DELAYED,     /* EVENT_IDX: an entry among the outstanding ones */
};

struct ctx {
	struct vt_pair p;
	unsigned size;
	bool packed, legacy, clamp, event_idx, indirect_ok, in_order, broken;
	/* IN_ORDER: a used entry still handing out earlier buffers. */
	bool batch_pending;
	unsigned batch_tok;
	uint32_t batch_len;
	unsigned indirect_max;
	struct tok toks[MAX_TOKENS];
	unsigned ntoks;
	int head_tok[MAX_SIZE];         /* outstanding token per head/id, or -1 */
	int desc_tok[MAX_SIZE];         /* split: token owning each descriptor */
	unsigned model_free;
	uint64_t returned;
	enum cb_mode cb;
	uint16_t cb_event;              /* CB_AT/CB_DELAYED: split used_event,
					 * packed off_wrap, as the ring must hold */
	/* split */
	uint16_t avail_seen;            /* avail->idx after the last add */
	uint16_t dev_used;              /* what we last stored in used->idx */
	uint16_t last_used;             /* used entries the driver consumed */
	uint16_t kick_from;             /* avail->idx at the last kick_prepare */
	/* packed: free-running descriptor counts. A count c is ring position
	 * c % size with wrap counter 1 while (c / size) is even. */
	uint32_t avail_ctr;             /* descriptors made available */
	uint32_t used_ctr;              /* descriptors the driver consumed */
	uint32_t kick_ctr;              /* avail_ctr at the last kick_prepare */
	unsigned dev_pos;               /* the fake device's position, mod 2*size */
	struct vio_packed_desc before[MAX_SIZE];   /* ring before an add */
};

/* ------------------------------------------------------------------------ */
/* Helpers for both layouts                                                 */

static uint16_t rd16(const struct ctx *c, const vio_le16 *p)
{
	return vio_get16(c->legacy, *p);
}

static unsigned outstanding_count(const struct ctx *c)
{
	unsigned n = 0;

	for (unsigned i = 0; i < c->ntoks; i++)
		n += c->toks[i].outstanding;
	return n;
}

/* Is this (id, len) a used entry the driver must refuse? */
static bool used_is_bad(const struct ctx *c, uint32_t id, uint32_t len)
{
	if (id >= c->size || c->head_tok[id] < 0)
		return true;
	return len > c->toks[c->head_tok[id]].cap && !c->clamp;
}

/* ------------------------------------------------------------------------ */
/* The split ring, as the fake device reads and writes it                   */

static struct vio_split_used_elem *used_entry(struct ctx *c, uint16_t idx)
{
	return &c->p.used->ring[idx & (c->size - 1)];
}

static vio_le16 *split_used_event(struct ctx *c)
{
	return &c->p.avail->ring[c->size];
}

static vio_le16 *split_avail_event(struct ctx *c)
{
	return (vio_le16 *)&c->p.used->ring[c->size];
}

static void publish_used(struct ctx *c)
{
	c->p.used->idx = vio_set16(c->legacy, c->dev_used);
}

static bool split_entry_is_bad(struct ctx *c)
{
	const struct vio_split_used_elem *u = used_entry(c, c->last_used);

	return used_is_bad(c, vio_get32(c->legacy, u->id), vio_get32(c->legacy, u->len));
}

static bool index_ran_ahead(struct ctx *c)
{
	return (uint16_t)(rd16(c, &c->p.used->idx) - c->last_used) > c->size;
}

/* A valid used entry is published and waiting. */
static bool split_valid_waiting(struct ctx *c)
{
	uint16_t ahead = (uint16_t)(rd16(c, &c->p.used->idx) - c->last_used);

	return ahead >= 1 && ahead <= c->size && !split_entry_is_bad(c);
}

/* ------------------------------------------------------------------------ */
/* The packed ring, as the fake device reads and writes it                  */

static unsigned ctr_pos(const struct ctx *c, uint32_t ctr)
{
	return ctr % c->size;
}

static bool ctr_wrap(const struct ctx *c, uint32_t ctr)
{
	return (ctr / c->size) % 2 == 0;
}

static uint16_t ctr_off_wrap(const struct ctx *c, uint32_t ctr)
{
	return (uint16_t)(ctr_pos(c, ctr) | (ctr_wrap(c, ctr) ? WRAP_BIT : 0));
}

static struct vio_packed_desc *pdesc(struct ctx *c, unsigned pos)
{
	return &c->p.pdesc[pos % c->size];
}

/* Both bits equal to the wrap counter: a used descriptor. */
static bool flags_used(uint16_t flags, bool wrap)
{
	return !!(flags & AVAIL) == wrap && !!(flags & USED) == wrap;
}

/* Is the descriptor the driver looks at next marked used? */
static bool packed_used_waiting(struct ctx *c)
{
	uint16_t flags = rd16(c, &pdesc(c, ctr_pos(c, c->used_ctr))->flags);

	return flags_used(flags, ctr_wrap(c, c->used_ctr));
}

static bool packed_entry_is_bad(struct ctx *c)
{
	const struct vio_packed_desc *d = pdesc(c, ctr_pos(c, c->used_ctr));

	return used_is_bad(c, rd16(c, &d->id), vio_get32(c->legacy, d->len));
}

/* The fake device's position moves by `by` (may be negative). */
static void dev_move(struct ctx *c, int by)
{
	int span = 2 * (int)c->size;

	c->dev_pos = (unsigned)((((int)c->dev_pos + by) % span + span) % span);
}

/* ------------------------------------------------------------------------ */
/* Is anything waiting, as poll() and enable_cb() must see it?              */

static bool pending(struct ctx *c)
{
	if (c->batch_pending)
		return true;
	if (c->packed)
		return packed_used_waiting(c);
	return rd16(c, &c->p.used->idx) != c->last_used;
}

/* ------------------------------------------------------------------------ */
/* The driver's interrupt request in the shared ring                        */

/* A delayed request, as a distance ahead of the driver's position, must
 * be one the outstanding buffers can reach: the device moves past it when
 * it returns them all, however it batches them. */
static void check_delayed_split(struct ctx *c, uint16_t ev)
{
	uint16_t ahead = (uint16_t)(ev - c->last_used);
	unsigned n = outstanding_count(c);

	/* With IN_ORDER too: a batch moves the used index past every buffer
	 * it returns. */
	CHECK(ahead < (n ? n : 1));
}

static void check_delayed_packed(struct ctx *c, uint16_t off_wrap)
{
	unsigned descs = c->avail_ctr - c->used_ctr;
	unsigned reach = descs ? descs : 1;

	for (unsigned d = 0; d < reach; d++)
		if (ctr_off_wrap(c, c->used_ctr + d) == off_wrap)
			return;
	CHECK(false);
}

/* The event value that asks for the next used entry. */
static uint16_t next_event(const struct ctx *c)
{
	return c->packed ? ctr_off_wrap(c, c->used_ctr) : c->last_used;
}

static void check_cb_split(struct ctx *c)
{
	uint16_t flags = rd16(c, &c->p.avail->flags);
	uint16_t ev = rd16(c, split_used_event(c));

	switch (c->cb) {
	case CB_OFF:
		if (c->event_idx)
			CHECK(ev != c->last_used);
		else
			CHECK(flags & VIO_AVAIL_F_NO_INTERRUPT);
		break;
	case CB_ALL:
		CHECK(!(flags & VIO_AVAIL_F_NO_INTERRUPT));
		break;
	default:
		CHECK(ev == c->cb_event);
		break;
	}
}

static void check_cb_packed(struct ctx *c)
{
	uint16_t flags = rd16(c, &c->p.driver_event->flags);

	switch (c->cb) {
	case CB_OFF:
		CHECK(flags == VIO_PACKED_EVENT_DISABLE);
		break;
	case CB_ALL:
		CHECK(flags == VIO_PACKED_EVENT_ENABLE);
		break;
	default:
		CHECK(flags == VIO_PACKED_EVENT_DESC);
		CHECK(rd16(c, &c->p.driver_event->off_wrap) == c->cb_event);
		break;
	}
}

/* get_buf() finished a used entry: an EVENT_IDX request moves on to the
 * next one. (Within an IN_ORDER batch it stays put.) */
static void entry_consumed(struct ctx *c)
{
	if (c->cb == CB_AT || c->cb == CB_DELAYED) {
		c->cb = CB_AT;
		c->cb_event = next_event(c);
	}
}

/* ------------------------------------------------------------------------ */
/* Driver ops: add                                                          */

static void check_split_desc(const struct ctx *c, const struct vio_split_desc *d,
			     const struct vio_sg *sg, bool writable, bool more, uint16_t next)
{
	uint16_t flags = vio_get16(c->legacy, d->flags);

	CHECK(vio_get64(c->legacy, d->addr) == sg->addr);
	CHECK(vio_get32(c->legacy, d->len) == sg->len);
	CHECK(!!(flags & VIO_DESC_F_WRITE) == writable);
	CHECK(!!(flags & VIO_DESC_F_NEXT) == more);
	CHECK(!(flags & VIO_DESC_F_INDIRECT));
	if (more)
		CHECK(vio_get16(c->legacy, d->next) == next);
}

/* The indirect table of token t must lie in the indirect area, apart from
 * every other outstanding table. Returns its host address. */
static const void *check_indirect_addr(struct ctx *c, unsigned t, uint64_t addr, unsigned n)
{
	uint64_t lo = vt_gpa(&c->p, c->p.indirect);
	uint64_t hi = lo + (uint64_t)c->size * c->indirect_max * 16;

	CHECK(addr >= lo && addr % 16 == 0 && addr + n * 16 <= hi);
	for (unsigned o = 0; o < c->ntoks; o++) {
		const struct tok *x = &c->toks[o];

		if (o != t && x->outstanding && x->ind_addr)
			CHECK(addr + n * 16 <= x->ind_addr ||
			      x->ind_addr + (uint64_t)c->indirect_max * 16 <= addr);
	}
	c->toks[t].ind_addr = addr;
	return vt_hva(&c->p, addr);
}

/* What a split add() published for token t: the chain must be what was
 * posted, on descriptors no other outstanding chain holds. */
static void check_published_split(struct ctx *c, unsigned t, const struct vio_sg *sg,
				  unsigned nout, unsigned n, bool indirect)
{
	struct tok *k = &c->toks[t];
	uint16_t idx = rd16(c, &c->p.avail->idx);
	uint16_t head, i;

	CHECK(idx == (uint16_t)(c->avail_seen + 1));
	c->avail_seen = idx;
	head = rd16(c, &c->p.avail->ring[(uint16_t)(idx - 1) & (c->size - 1)]);
	CHECK(head < c->size);
	CHECK(c->head_tok[head] < 0);
	k->head = head;

	if (indirect) {
		const struct vio_split_desc *d = &c->p.desc[head];
		const struct vio_split_desc *table;

		CHECK(c->desc_tok[head] < 0);
		CHECK(vio_get16(c->legacy, d->flags) == VIO_DESC_F_INDIRECT);
		CHECK(vio_get32(c->legacy, d->len) == n * 16);
		table = check_indirect_addr(c, t, vio_get64(c->legacy, d->addr), n);
		for (unsigned s = 0; s < n; s++)
			check_split_desc(c, &table[s], &sg[s], s >= nout, s + 1 < n,
					 (uint16_t)(s + 1));
		c->desc_tok[head] = (int)t;
		return;
	}
	i = head;
	for (unsigned s = 0; s < n; s++) {
		const struct vio_split_desc *d;
		uint16_t next;

		CHECK(i < c->size);
		d = &c->p.desc[i];
		next = vio_get16(c->legacy, d->next);
		CHECK(c->desc_tok[i] < 0);
		c->desc_tok[i] = (int)t;
		check_split_desc(c, d, &sg[s], s >= nout, s + 1 < n, next);
		i = next;
	}
}

static void check_packed_desc(const struct ctx *c, const struct vio_packed_desc *d,
			      const struct vio_sg *sg, uint16_t want_flags)
{
	CHECK(vio_get64(c->legacy, d->addr) == sg->addr);
	CHECK(vio_get32(c->legacy, d->len) == sg->len);
	CHECK(rd16(c, &d->flags) == want_flags);
}

/* AVAIL = the wrap counter of the position, USED = its inverse. */
static uint16_t avail_bits(const struct ctx *c, uint32_t ctr)
{
	return ctr_wrap(c, ctr) ? AVAIL : USED;
}

/* What a packed add() published for token t: `needed` descriptors from the
 * driver's position on, each marked available for its own wrap counter,
 * the buffer id (in the last one) free, and nothing else in the ring
 * touched. */
static void check_published_packed(struct ctx *c, unsigned t, const struct vio_sg *sg,
				   unsigned nout, unsigned n, unsigned needed, bool indirect)
{
	struct tok *k = &c->toks[t];
	const struct vio_packed_desc *last;
	bool written[MAX_SIZE] = { false };
	uint16_t id;

	for (unsigned s = 0; s < needed; s++)
		written[ctr_pos(c, c->avail_ctr + s)] = true;
	for (unsigned pos = 0; pos < c->size; pos++)
		if (!written[pos])
			CHECK(!memcmp(pdesc(c, pos), &c->before[pos], sizeof(c->before[pos])));

	last = pdesc(c, ctr_pos(c, c->avail_ctr + needed - 1));
	id = rd16(c, &last->id);
	CHECK(id < c->size);
	CHECK(c->head_tok[id] < 0);
	k->head = id;

	if (indirect) {
		const struct vio_packed_desc *d = pdesc(c, ctr_pos(c, c->avail_ctr));
		const struct vio_packed_desc *table;

		CHECK(rd16(c, &d->flags) == (VIO_DESC_F_INDIRECT | avail_bits(c, c->avail_ctr)));
		CHECK(vio_get32(c->legacy, d->len) == n * 16);
		table = check_indirect_addr(c, t, vio_get64(c->legacy, d->addr), n);
		for (unsigned s = 0; s < n; s++)
			check_packed_desc(c, &table[s], &sg[s], s >= nout ? VIO_DESC_F_WRITE : 0);
	} else {
		for (unsigned s = 0; s < n; s++)
			check_packed_desc(c, pdesc(c, ctr_pos(c, c->avail_ctr + s)), &sg[s],
					  (s >= nout ? VIO_DESC_F_WRITE : 0) |
					  (s + 1 < n ? VIO_DESC_F_NEXT : 0) |
					  avail_bits(c, c->avail_ctr + s));
	}
	c->avail_ctr += needed;
}

static void op_add(struct ctx *c, struct fz *f)
{
	struct vio_sg sg[MAX_SEGS];
	unsigned nout = fz_u8(f) % 9, nin = fz_u8(f) % 9, n = nout + nin;
	unsigned t = c->ntoks, needed;
	uint64_t cap = 0;
	bool indirect;
	int want, r;

	for (unsigned s = 0; s < n; s++) {
		uint16_t l = fz_u16(f);

		sg[s].addr = UINT64_C(0x10000000) + (uint64_t)t * 0x10000 + s * 0x100;
		sg[s].len = l == 0xffff ? UINT32_MAX : l;
		if (s >= nout)
			cap += sg[s].len;
	}
	if (t == MAX_TOKENS)
		return;
	/* The documented choice: an indirect table for 2..indirect_max
	 * segments, never longer than the queue, and with IN_ORDER only for a
	 * chain that does not fit in the free descriptors. */
	indirect = c->indirect_ok && n > 1 && n <= c->indirect_max && n <= c->size &&
		   !(c->in_order && n <= c->model_free);
	needed = indirect ? 1 : n;
	if (c->broken)
		want = -EIO;
	else if (n == 0 || cap > UINT32_MAX || needed > c->size)
		want = -EINVAL;
	else if (c->model_free < needed)
		want = -ENOSPC;
	else
		want = 0;

	if (c->packed)
		memcpy(c->before, c->p.pdesc, sizeof(c->before[0]) * c->size);
	r = vio_drvq_add(&c->p.drv, sg, nout, sg + nout, nin, &c->toks[t]);
	CHECK(r == want);
	if (r) {
		if (c->packed)
			CHECK(!memcmp(c->before, c->p.pdesc, sizeof(c->before[0]) * c->size));
		return;
	}
	c->toks[t] = (struct tok){ .outstanding = true, .cap = (uint32_t)cap,
				   .ndescs = (uint16_t)needed };
	c->ntoks++;
	if (c->packed)
		check_published_packed(c, t, sg, nout, n, needed, indirect);
	else
		check_published_split(c, t, sg, nout, n, indirect);
	c->head_tok[c->toks[t].head] = (int)t;
	c->model_free -= needed;
}

/* ------------------------------------------------------------------------ */
/* Driver ops: kick                                                         */

/* Did the device ask for a kick for one of the entries added since the
 * last kick_prepare? 1 yes, 0 no, -1 either answer is fine (a hostile
 * event offset, a reserved flag value, or a whole lap added). */
static int kick_wanted_split(struct ctx *c)
{
	uint16_t moved = (uint16_t)(c->avail_seen - c->kick_from);

	if (!c->event_idx)
		return !(rd16(c, &c->p.used->flags) & VIO_USED_F_NO_NOTIFY);
	/* avail_event names the entry whose arrival wants a kick. */
	return (uint16_t)(rd16(c, split_avail_event(c)) - c->kick_from) < moved;
}

static int kick_wanted_packed(struct ctx *c)
{
	uint16_t flags = rd16(c, &c->p.device_event->flags);
	uint16_t off_wrap = rd16(c, &c->p.device_event->off_wrap);
	uint32_t moved = c->avail_ctr - c->kick_ctr;

	if (flags == VIO_PACKED_EVENT_DISABLE)
		return 0;
	if (flags == VIO_PACKED_EVENT_ENABLE)
		return 1;
	if (flags != VIO_PACKED_EVENT_DESC || !c->event_idx || (off_wrap & ~WRAP_BIT) >= c->size)
		return -1;
	for (uint32_t k = c->kick_ctr; k != c->avail_ctr; k++)
		if (ctr_off_wrap(c, k) == off_wrap)
			return 1;
	return moved >= c->size ? -1 : 0;
}

static void op_kick(struct ctx *c)
{
	struct vio_drvq *q = &c->p.drv;
	bool added = c->packed ? c->avail_ctr != c->kick_ctr : c->avail_seen != c->kick_from;
	int want = c->broken || !added ? 0 :
		   c->packed ? kick_wanted_packed(c) : kick_wanted_split(c);
	uint64_t kicks = q->stats.kicks, quiet = q->stats.kicks_suppressed;
	bool r = vio_drvq_kick_prepare(q);

	if (want >= 0)
		CHECK(r == (want == 1));
	/* Counted only when something was added. */
	CHECK(q->stats.kicks == kicks + (r ? 1 : 0));
	CHECK(q->stats.kicks_suppressed == quiet + (!r && added && !c->broken ? 1 : 0));
	c->kick_from = c->avail_seen;
	c->kick_ctr = c->avail_ctr;
}

/* ------------------------------------------------------------------------ */
/* Driver ops: get_buf and has_used                                         */

static void release(struct ctx *c, unsigned t)
{
	struct tok *k = &c->toks[t];

	CHECK(k->outstanding);
	k->outstanding = false;
	c->head_tok[k->head] = -1;
	if (!c->packed)
		for (unsigned i = 0; i < c->size; i++)
			if (c->desc_tok[i] == (int)t)
				c->desc_tok[i] = -1;
	c->model_free += k->ndescs;
	c->returned++;
}

/* Marks the queue broken in the model; the device must have earned it. */
static void became_broken(struct ctx *c, bool entry_read)
{
	CHECK(vio_drvq_is_broken(&c->p.drv));
	CHECK(vio_drvq_error(&c->p.drv) != NULL);
	if (!c->broken) {
		if (c->packed)
			CHECK(entry_read && packed_used_waiting(c) && packed_entry_is_bad(c));
		else
			CHECK(index_ran_ahead(c) || (entry_read && split_entry_is_bad(c)));
	}
	c->broken = true;
}

/* The outstanding token posted first (IN_ORDER hands them out so). */
static unsigned oldest(const struct ctx *c)
{
	for (unsigned t = 0; t < c->ntoks; t++)
		if (c->toks[t].outstanding)
			return t;
	__builtin_trap();
}

/* Token t left the queue through get_buf; `done` when its used entry is
 * finished. The split driver moves on by one used position per buffer it
 * hands out (an IN_ORDER batch's too), the packed one by the buffer's
 * descriptors. */
static void handed_out(struct ctx *c, unsigned t, bool done)
{
	if (c->packed)
		c->used_ctr += c->toks[t].ndescs;
	else
		c->last_used++;
	release(c, t);
	if (done)
		entry_consumed(c);
}

/* get_buf handed out `token` with `len` for the IN_ORDER batch that ends
 * at token `last` with `last_len`. */
static void in_order_step(struct ctx *c, void *token, uint32_t len, unsigned last,
			  uint32_t last_len)
{
	unsigned o = oldest(c);

	CHECK(token == &c->toks[o]);
	if (o == last) {
		CHECK(len == last_len);
		c->batch_pending = false;
	} else {
		CHECK(len == c->toks[o].cap);
		c->batch_pending = true;
		c->batch_tok = last;
		c->batch_len = last_len;
	}
	handed_out(c, o, o == last);
}

/* get_buf returned (token, len) for a valid used entry (id, wl). */
static void took_entry(struct ctx *c, uint32_t id, uint32_t wl, void *token, uint32_t len)
{
	unsigned t;

	CHECK(id < c->size && c->head_tok[id] >= 0);
	t = (unsigned)c->head_tok[id];
	if (wl > c->toks[t].cap) {
		CHECK(c->clamp);
		wl = c->toks[t].cap;
	}
	if (c->in_order) {
		in_order_step(c, token, len, t, wl);
		return;
	}
	CHECK(token == &c->toks[t]);
	CHECK(len == wl);
	handed_out(c, t, true);
}

static void op_get_buf_split(struct ctx *c)
{
	const struct vio_split_used_elem *u = used_entry(c, c->last_used);
	uint32_t id = vio_get32(c->legacy, u->id), wl = vio_get32(c->legacy, u->len);
	bool waiting = !c->broken && (c->batch_pending || split_valid_waiting(c));
	void *token = NULL;
	uint32_t len = 0;
	int r = vio_drvq_get_buf(&c->p.drv, &token, &len);

	if (c->broken) {
		CHECK(r == -EIO);
		return;
	}
	if (r == -EAGAIN) {
		CHECK(!waiting);
		return;
	}
	if (r == -EIO && c->batch_pending) {
		/* Within a batch the driver checks the used index covers the
		 * next buffer: it breaks only when the index, read again,
		 * does not (ours may have moved back since it last read). */
		uint16_t ahead = (uint16_t)(rd16(c, &c->p.used->idx) - c->last_used);

		CHECK(ahead == 0 || ahead > c->size);
		CHECK(vio_drvq_is_broken(&c->p.drv) && vio_drvq_error(&c->p.drv) != NULL);
		c->broken = true;
		return;
	}
	if (r == -EIO) {
		became_broken(c, true);
		return;
	}
	CHECK(r == 0);
	if (c->batch_pending)
		in_order_step(c, token, len, c->batch_tok, c->batch_len);
	else
		took_entry(c, id, wl, token, len);
}

/* Packed: the flags at the driver's position say exactly what get_buf
 * must do, so every outcome is predicted. */
static void op_get_buf_packed(struct ctx *c)
{
	const struct vio_packed_desc *d = pdesc(c, ctr_pos(c, c->used_ctr));
	uint32_t id = rd16(c, &d->id), wl = vio_get32(c->legacy, d->len);
	bool used = packed_used_waiting(c), bad = used && packed_entry_is_bad(c);
	void *token = NULL;
	uint32_t len = 0;
	int r = vio_drvq_get_buf(&c->p.drv, &token, &len);

	if (c->broken) {
		CHECK(r == -EIO);
	} else if (c->batch_pending) {
		CHECK(r == 0);
		in_order_step(c, token, len, c->batch_tok, c->batch_len);
	} else if (!used) {
		CHECK(r == -EAGAIN);
	} else if (bad) {
		CHECK(r == -EIO);
		became_broken(c, true);
	} else {
		CHECK(r == 0);
		took_entry(c, id, wl, token, len);
	}
}

static void op_has_used(struct ctx *c)
{
	bool waiting, r;

	if (c->packed) {
		waiting = !c->broken && pending(c);
		CHECK(vio_drvq_has_used(&c->p.drv) == waiting);
		return;
	}
	waiting = !c->broken && (c->batch_pending || split_valid_waiting(c));
	r = vio_drvq_has_used(&c->p.drv);
	if (c->broken) {
		CHECK(!r);
		return;
	}
	if (vio_drvq_is_broken(&c->p.drv)) {
		CHECK(!r);
		became_broken(c, false);
		return;
	}
	if (waiting)
		CHECK(r);
}

/* ------------------------------------------------------------------------ */
/* Driver ops: interrupts                                                   */

static void op_enable_cb(struct ctx *c, bool via_poll)
{
	struct vio_drvq *q = &c->p.drv;
	bool r;

	if (via_poll)
		r = !vio_drvq_poll(q, vio_drvq_enable_cb_prepare(q));
	else
		r = vio_drvq_enable_cb(q);
	/* "Nothing pending" exactly when nothing is (a broken queue has
	 * nothing to poll). */
	CHECK(r == (c->broken || !pending(c)));
	c->cb = c->event_idx ? CB_AT : CB_ALL;
	c->cb_event = next_event(c);
}

static void op_enable_cb_delayed(struct ctx *c)
{
	bool r = vio_drvq_enable_cb_delayed(&c->p.drv);

	c->cb = c->event_idx ? CB_DELAYED : CB_ALL;
	if (c->packed) {
		c->cb_event = rd16(c, &c->p.driver_event->off_wrap);
		if (c->event_idx)
			check_delayed_packed(c, c->cb_event);
	} else {
		c->cb_event = rd16(c, split_used_event(c));
		if (c->event_idx)
			check_delayed_split(c, c->cb_event);
	}
	if (!r)
		return;
	CHECK(!c->broken);
	/* "Sleep" is safe only if something is still to wake us. */
	if (c->packed) {
		CHECK(!pending(c));
	} else {
		uint16_t ahead = (uint16_t)(rd16(c, &c->p.used->idx) - c->last_used);

		CHECK(!c->batch_pending);
		if (c->event_idx)
			/* the device has not passed the entry asked for */
			CHECK(ahead <= (uint16_t)(c->cb_event - c->last_used));
		else
			/* every used entry interrupts, and one more will
			 * come: not every outstanding buffer is used yet */
			CHECK(ahead == 0 || ahead < outstanding_count(c));
	}
}

/* ------------------------------------------------------------------------ */
/* Fake device ops                                                          */

/*
 * The token a completion names: the k-th outstanding one the device has
 * not completed yet (k modulo their number), or with bit 7 of k any
 * outstanding one, completed or not; -1 when there is none.
 */
static int pick_token(const struct ctx *c, unsigned k)
{
	bool any = k & 0x80;
	unsigned n = 0, i;

	for (i = 0; i < c->ntoks; i++)
		n += c->toks[i].outstanding && (any || !c->toks[i].dev_done);
	if (!n)
		return -1;
	k %= n;
	for (i = 0; i < c->ntoks; i++)
		if (c->toks[i].outstanding && (any || !c->toks[i].dev_done) && k-- == 0)
			return (int)i;
	return -1;
}

/* The device completes t: with IN_ORDER, every earlier outstanding buffer
 * it has not completed goes with it. Returns the descriptors covered, and
 * in *bufs the buffers. */
static unsigned dev_complete(struct ctx *c, int t, unsigned *bufs)
{
	unsigned descs = 0;

	*bufs = 1;
	if (t < 0)
		return 1;
	if (c->in_order)
		for (int o = 0; o < t; o++)
			if (c->toks[o].outstanding && !c->toks[o].dev_done) {
				c->toks[o].dev_done = true;
				descs += c->toks[o].ndescs;
				(*bufs)++;
			}
	c->toks[t].dev_done = true;
	return descs + c->toks[t].ndescs;
}

static void write_entry(struct ctx *c, uint16_t idx, uint32_t id, uint32_t len)
{
	struct vio_split_used_elem *u = used_entry(c, idx);

	u->id = vio_set32(c->legacy, id);
	u->len = vio_set32(c->legacy, len);
}

static void write_packed(struct ctx *c, unsigned pos, uint32_t id, uint32_t len)
{
	struct vio_packed_desc *d = pdesc(c, pos);

	d->id = vio_set16(c->legacy, (uint16_t)id);
	d->len = vio_set32(c->legacy, len);
}

static void set_packed_flags(struct ctx *c, unsigned pos, uint16_t flags)
{
	pdesc(c, pos)->flags = vio_set16(c->legacy, flags);
}

static void op_complete(struct ctx *c, struct fz *f)
{
	uint8_t pick = fz_u8(f), mode = fz_u8(f);
	int t = pick_token(c, pick);
	uint32_t id = t >= 0 ? c->toks[t].head : pick;
	uint32_t cap = t >= 0 ? c->toks[t].cap : 0, len;
	unsigned skip, bufs;
	bool wrap;

	switch (mode % 4) {
	case 0:
		len = cap;
		break;
	case 1:
		len = cap + 1;
		break;
	case 2:
		len = mode >> 2;
		break;
	default:
		len = fz_u32(f);
		break;
	}
	skip = dev_complete(c, t, &bufs);
	if (!c->packed) {
		/* One entry, where the batch's first buffer's would be; the
		 * index moves past the whole batch. */
		write_entry(c, c->dev_used, id, len);
		c->dev_used = (uint16_t)(c->dev_used + bufs);
		publish_used(c);
		return;
	}
	/* id and len first, then the flags that make them visible, with
	 * both bits at the device's wrap counter. */
	wrap = c->dev_pos < c->size;
	write_packed(c, c->dev_pos, id, len);
	set_packed_flags(c, c->dev_pos, (wrap ? AVAIL | USED : 0) | (len ? VIO_DESC_F_WRITE : 0));
	dev_move(c, (int)skip);
}

static void op_entry(struct ctx *c, struct fz *f)
{
	uint8_t ahead = fz_u8(f);
	uint32_t id = fz_u32(f), len = fz_u32(f);

	if (c->packed)
		write_packed(c, c->dev_pos + ahead, id, len);
	else
		write_entry(c, (uint16_t)(c->dev_used + ahead), id, len);
}

static void op_set_idx(struct ctx *c, struct fz *f)
{
	int8_t delta = (int8_t)fz_u8(f);

	if (c->packed) {
		dev_move(c, delta);
		return;
	}
	c->dev_used = (uint16_t)(c->dev_used + delta);
	publish_used(c);
}

/* A raw 16-bit store where the layout publishes: packed, the flags of a
 * descriptor ahead of the device's position (right or wrong AVAIL/USED
 * bits); split, used->idx itself. */
static void op_flags(struct ctx *c, struct fz *f)
{
	uint8_t ahead = fz_u8(f);
	uint16_t v = fz_u16(f);

	if (c->packed) {
		set_packed_flags(c, c->dev_pos + ahead, v);
		return;
	}
	c->dev_used = v;
	publish_used(c);
}

static void op_events(struct ctx *c, struct fz *f)
{
	vio_le16 flags = vio_set16(c->legacy, fz_u16(f));
	vio_le16 ev = vio_set16(c->legacy, fz_u16(f));

	if (c->packed) {
		c->p.device_event->flags = flags;
		c->p.device_event->off_wrap = ev;
		return;
	}
	c->p.used->flags = flags;
	*split_avail_event(c) = ev;
}

static void run_op(struct ctx *c, struct fz *f)
{
	struct vio_drvq *q = &c->p.drv;

	switch (fz_u8(f) % FZ_QOP_COUNT) {
	case FZ_QOP_ADD:
		op_add(c, f);
		break;
	case FZ_QOP_GET_BUF:
		if (c->packed)
			op_get_buf_packed(c);
		else
			op_get_buf_split(c);
		break;
	case FZ_QOP_COMPLETE:
		op_complete(c, f);
		break;
	case FZ_QOP_ENTRY:
		op_entry(c, f);
		break;
	case FZ_QOP_SET_IDX:
		op_set_idx(c, f);
		break;
	case FZ_QOP_EVENTS:
		op_events(c, f);
		break;
	case FZ_QOP_KICK:
		op_kick(c);
		break;
	case FZ_QOP_DISABLE_CB:
		vio_drvq_disable_cb(q);
		c->cb = CB_OFF;
		break;
	case FZ_QOP_ENABLE_CB:
		op_enable_cb(c, false);
		break;
	case FZ_QOP_ENABLE_CB_DELAYED:
		op_enable_cb_delayed(c);
		break;
	case FZ_QOP_POLL:
		op_enable_cb(c, true);
		break;
	case FZ_QOP_FLAGS:
		op_flags(c, f);
		break;
	default:
		op_has_used(c);
		break;
	}
	/* Broken is sticky, and only get_buf/has_used may break the queue. */
	CHECK(vio_drvq_is_broken(q) == c->broken);
	CHECK(vio_drvq_num_free(q) == c->model_free);
	if (c->packed)
		check_cb_packed(c);
	else
		check_cb_split(c);
}

/* After a reset: detach returns exactly what is still outstanding. */
static void detach_all(struct ctx *c)
{
	void *token;
	unsigned i;

	for (i = 0; i <= c->size && (token = vio_drvq_detach_unused(&c->p.drv)); i++) {
		uintptr_t off = (uintptr_t)token - (uintptr_t)c->toks;

		CHECK((uintptr_t)token >= (uintptr_t)c->toks && off % sizeof(struct tok) == 0 &&
		      off / sizeof(struct tok) < c->ntoks);
		release(c, (unsigned)(off / sizeof(struct tok)));
	}
	CHECK(vio_drvq_detach_unused(&c->p.drv) == NULL);
	for (i = 0; i < c->ntoks; i++)
		CHECK(!c->toks[i].outstanding);
	CHECK(c->returned == c->ntoks);
	CHECK(vio_drvq_num_free(&c->p.drv) == c->size);
}

/* Split sizes are powers of two; packed ones any of 1..MAX_SIZE, so the
 * wrap arithmetic is exercised where it cannot be a mask. */
static unsigned queue_size(bool packed, uint8_t b)
{
	if (packed && (b & 0x80))
		return 1 + (b & 0x7f);
	return 1u << (b % 9);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ctx ctx;
	struct ctx *c = &ctx;
	struct fz f = { data, size };
	struct vt_pair_opts po;
	uint64_t features;
	uint8_t fb;

	memset(c, 0, sizeof(*c));
	c->packed = LAYOUT_PACKED;
	c->size = queue_size(c->packed, fz_u8(&f));
	fb = fz_u8(&f);
	/* The packed ring exists only in virtio 1.x. */
	if (c->packed)
		fb |= FZ_F_VERSION_1;
	features = ((fb & FZ_F_EVENT_IDX) ? VIO_BIT(VIO_F_EVENT_IDX) : 0) |
		   ((fb & FZ_F_INDIRECT) ? VIO_BIT(VIO_F_INDIRECT_DESC) : 0) |
		   ((fb & FZ_F_VERSION_1) ? VIO_BIT(VIO_F_VERSION_1) : 0) |
		   ((fb & FZ_F_IN_ORDER) ? VIO_BIT(VIO_F_IN_ORDER) : 0) |
		   (c->packed ? VIO_BIT(VIO_F_RING_PACKED) : 0);
	c->in_order = fb & FZ_F_IN_ORDER;
	c->event_idx = fb & FZ_F_EVENT_IDX;
	c->clamp = fz_u8(&f) & 1;
	c->indirect_max = fz_u8(&f) % 18;
	c->legacy = !(fb & FZ_F_VERSION_1);
	c->indirect_ok = (fb & FZ_F_INDIRECT) && c->indirect_max > 1;

	memset(&po, 0, sizeof(po));
	po.indirect_max = c->indirect_max;
	po.len_policy = c->clamp ? VIO_LEN_CLAMP : VIO_LEN_BROKEN;
	po.buf_bytes = 4096;
	if (vt_pair_init(&c->p, c->size, features, &po)) {
		vt_pair_fini(&c->p);
		return 0;
	}
	memset(c->head_tok, 0xff, sizeof(c->head_tok));
	memset(c->desc_tok, 0xff, sizeof(c->desc_tok));
	c->model_free = c->size;
	/* A fresh split ring asks for every interrupt (used_event 0 is the
	 * next entry with EVENT_IDX); a fresh packed one says ENABLE. */
	c->cb = !c->packed && c->event_idx ? CB_AT : CB_ALL;
	c->cb_event = 0;

	for (unsigned i = 0; i < MAX_OPS && f.n; i++)
		run_op(c, &f);
	detach_all(c);
	vt_pair_fini(&c->p);
	return 0;
}
