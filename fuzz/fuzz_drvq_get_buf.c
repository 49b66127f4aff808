/*
 * fuzz_drvq_get_buf.c - libFuzzer target: the driver side of a split
 * virtqueue against a device that writes whatever the input says.
 *
 * A driver trusts nothing the device writes: used->idx, the used entries
 * (id, len), used->flags and avail_event. Here the driver posts buffers of
 * input-chosen shapes over the queue-pair fixture, and between its calls a
 * fake device writes the used ring from the input: plausible completions
 * of outstanding buffers, lengths at and past their capacity, raw ids,
 * indices that jump or go backwards. This is split-specific: the fake
 * device writes the split used ring directly.
 *
 * The harness keeps its own model of what is outstanding, built only from
 * what add() wrote into the shared ring (as a device would see it), and
 * traps when:
 *  - add() returns other than the contract predicts, or publishes a chain
 *    that differs from what was posted, or reuses a descriptor or head
 *    that is still outstanding (a corrupted free list);
 *  - get_buf() returns a token that is not outstanding (or twice), one
 *    that is not the token of the head in the used entry, or a len other
 *    than the entry's (clamped to the capacity under VIO_LEN_CLAMP, never
 *    above it); with IN_ORDER, an entry naming a later buffer first hands
 *    out every earlier outstanding one, oldest first, with its full
 *    capacity;
 *  - the queue breaks without the device having broken a rule, or stops
 *    being broken, or a call on a broken queue does not fail fast;
 *  - get_buf()/has_used() report nothing while a valid used entry is
 *    published;
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

#define MAX_SIZE        256
#define MAX_TOKENS      512
#define MAX_OPS         1024
#define MAX_SEGS        16      /* 8 readable + 8 writable */

struct tok {
	bool outstanding;
	uint32_t cap;           /* writable bytes */
	uint16_t head;
	uint16_t ndescs;
	uint64_t ind_addr;      /* indirect table (DMA address), 0 if direct */
};

struct ctx {
	struct vt_pair p;
	unsigned size;
	bool legacy, clamp, indirect_ok, in_order, broken;
	/* IN_ORDER: a used entry still handing out earlier buffers. */
	bool batch_pending;
	unsigned batch_tok;
	uint32_t batch_len;
	unsigned indirect_max;
	struct tok toks[MAX_TOKENS];
	unsigned ntoks;
	int head_tok[MAX_SIZE];         /* outstanding token per head, or -1 */
	int desc_tok[MAX_SIZE];         /* token owning each descriptor, or -1 */
	unsigned model_free;
	uint16_t avail_seen;            /* avail->idx after the last add */
	uint16_t dev_used;              /* what we last stored in used->idx */
	uint16_t last_used;             /* used entries the driver consumed */
	uint64_t returned;
};

/* ------------------------------------------------------------------------ */
/* The shared ring, as the fake device reads and writes it                  */

static uint16_t rd16(const struct ctx *c, const vio_le16 *p)
{
	return vio_get16(c->legacy, *p);
}

static struct vio_split_used_elem *used_entry(struct ctx *c, uint16_t idx)
{
	return &c->p.used->ring[idx & (c->size - 1)];
}

static void publish_used(struct ctx *c)
{
	c->p.used->idx = vio_set16(c->legacy, c->dev_used);
}

/* Is the used entry the driver looks at next one it must refuse? */
static bool entry_is_bad(struct ctx *c)
{
	const struct vio_split_used_elem *u = used_entry(c, c->last_used);
	uint32_t id = vio_get32(c->legacy, u->id), len = vio_get32(c->legacy, u->len);

	if (id >= c->size || c->head_tok[id] < 0)
		return true;
	return len > c->toks[c->head_tok[id]].cap && !c->clamp;
}

static bool index_ran_ahead(struct ctx *c)
{
	return (uint16_t)(rd16(c, &c->p.used->idx) - c->last_used) > c->size;
}

/* A valid used entry is published and waiting. */
static bool valid_entry_waiting(struct ctx *c)
{
	uint16_t ahead = (uint16_t)(rd16(c, &c->p.used->idx) - c->last_used);

	return ahead >= 1 && ahead <= c->size && !entry_is_bad(c);
}

/* ------------------------------------------------------------------------ */
/* Driver ops                                                               */

static void check_desc(const struct ctx *c, const struct vio_split_desc *d, const struct vio_sg *sg,
		       bool writable, bool more, uint16_t next)
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

/* What add() published for token t: the chain must be what was posted,
 * on descriptors no other outstanding chain holds. */
static void check_published(struct ctx *c, unsigned t, const struct vio_sg *sg, unsigned nout,
			    unsigned n, bool indirect)
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
		uint64_t lo = vt_gpa(&c->p, c->p.indirect);
		uint64_t hi = lo + (uint64_t)c->size * c->indirect_max * 16;
		const struct vio_split_desc *table;

		CHECK(c->desc_tok[head] < 0);
		CHECK(vio_get16(c->legacy, d->flags) == VIO_DESC_F_INDIRECT);
		CHECK(vio_get32(c->legacy, d->len) == n * 16);
		k->ind_addr = vio_get64(c->legacy, d->addr);
		CHECK(k->ind_addr >= lo && k->ind_addr % 16 == 0 && k->ind_addr + n * 16 <= hi);
		for (unsigned o = 0; o < c->ntoks; o++) {
			const struct tok *x = &c->toks[o];

			if (o != t && x->outstanding && x->ind_addr)
				CHECK(k->ind_addr + n * 16 <= x->ind_addr ||
				      x->ind_addr + (uint64_t)c->indirect_max * 16 <= k->ind_addr);
		}
		table = vt_hva(&c->p, k->ind_addr);
		for (unsigned s = 0; s < n; s++)
			check_desc(c, &table[s], &sg[s], s >= nout, s + 1 < n, (uint16_t)(s + 1));
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
		check_desc(c, d, &sg[s], s >= nout, s + 1 < n, next);
		i = next;
	}
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
	 * segments, never longer than the queue. */
	indirect = c->indirect_ok && n > 1 && n <= c->indirect_max && n <= c->size;
	needed = indirect ? 1 : n;
	if (c->broken)
		want = -EIO;
	else if (n == 0 || cap > UINT32_MAX || needed > c->size)
		want = -EINVAL;
	else if (c->model_free < needed)
		want = -ENOSPC;
	else
		want = 0;

	r = vio_drvq_add(&c->p.drv, sg, nout, sg + nout, nin, &c->toks[t]);
	CHECK(r == want);
	if (r)
		return;
	c->toks[t] = (struct tok){ .outstanding = true, .cap = (uint32_t)cap,
				   .ndescs = (uint16_t)needed };
	c->ntoks++;
	check_published(c, t, sg, nout, n, indirect);
	c->head_tok[c->toks[t].head] = (int)t;
	c->model_free -= needed;
}

static void release(struct ctx *c, unsigned t)
{
	struct tok *k = &c->toks[t];

	CHECK(k->outstanding);
	k->outstanding = false;
	c->head_tok[k->head] = -1;
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
	if (!c->broken)
		CHECK(index_ran_ahead(c) || (entry_read && entry_is_bad(c)));
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
		c->last_used++;
	} else {
		CHECK(len == c->toks[o].cap);
		c->batch_pending = true;
		c->batch_tok = last;
		c->batch_len = last_len;
	}
	release(c, o);
}

static void op_get_buf(struct ctx *c)
{
	const struct vio_split_used_elem *u = used_entry(c, c->last_used);
	uint32_t id = vio_get32(c->legacy, u->id), wl = vio_get32(c->legacy, u->len);
	bool waiting = !c->broken && (c->batch_pending || valid_entry_waiting(c));
	void *token = NULL;
	uint32_t len = 0, cap;
	int r = vio_drvq_get_buf(&c->p.drv, &token, &len);
	unsigned t;

	if (c->broken) {
		CHECK(r == -EIO);
		return;
	}
	if (r == -EAGAIN) {
		CHECK(!waiting);
		return;
	}
	if (r == -EIO) {
		CHECK(!c->batch_pending);
		became_broken(c, true);
		return;
	}
	CHECK(r == 0);
	if (c->batch_pending) {
		in_order_step(c, token, len, c->batch_tok, c->batch_len);
		return;
	}
	CHECK(id < c->size && c->head_tok[id] >= 0);
	t = (unsigned)c->head_tok[id];
	cap = c->toks[t].cap;
	if (wl > cap) {
		CHECK(c->clamp);
		wl = cap;
	}
	if (c->in_order) {
		in_order_step(c, token, len, t, wl);
		return;
	}
	CHECK(token == &c->toks[t]);
	CHECK(len == wl);
	release(c, t);
	c->last_used++;
}

static void op_has_used(struct ctx *c)
{
	bool waiting = !c->broken && (c->batch_pending || valid_entry_waiting(c));
	bool r = vio_drvq_has_used(&c->p.drv);

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
/* Fake device ops                                                          */

/* The k-th outstanding token (k modulo their number), or -1. */
static int nth_outstanding(const struct ctx *c, unsigned k)
{
	unsigned n = 0, i;

	for (i = 0; i < c->ntoks; i++)
		n += c->toks[i].outstanding;
	if (!n)
		return -1;
	k %= n;
	for (i = 0; i < c->ntoks; i++)
		if (c->toks[i].outstanding && k-- == 0)
			return (int)i;
	return -1;
}

static void write_entry(struct ctx *c, uint16_t idx, uint32_t id, uint32_t len)
{
	struct vio_split_used_elem *u = used_entry(c, idx);

	u->id = vio_set32(c->legacy, id);
	u->len = vio_set32(c->legacy, len);
}

static void op_complete(struct ctx *c, struct fz *f)
{
	uint8_t pick = fz_u8(f), mode = fz_u8(f);
	int t = nth_outstanding(c, pick);
	uint32_t id = t >= 0 ? c->toks[t].head : pick;
	uint32_t cap = t >= 0 ? c->toks[t].cap : 0, len;

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
	write_entry(c, c->dev_used, id, len);
	c->dev_used++;
	publish_used(c);
}

static void op_events(struct ctx *c, struct fz *f)
{
	vio_le16 flags = vio_set16(c->legacy, fz_u16(f));
	vio_le16 ev = vio_set16(c->legacy, fz_u16(f));

	c->p.used->flags = flags;
	memcpy(&c->p.used->ring[c->size], &ev, sizeof(ev));
}

static void run_op(struct ctx *c, struct fz *f)
{
	struct vio_drvq *q = &c->p.drv;
	bool r;

	switch (fz_u8(f) % FZ_QOP_COUNT) {
	case FZ_QOP_ADD:
		op_add(c, f);
		break;
	case FZ_QOP_GET_BUF:
		op_get_buf(c);
		break;
	case FZ_QOP_COMPLETE:
		op_complete(c, f);
		break;
	case FZ_QOP_ENTRY: {
		uint8_t ahead = fz_u8(f);
		uint32_t id = fz_u32(f);

		write_entry(c, (uint16_t)(c->dev_used + ahead), id, fz_u32(f));
		break;
	}
	case FZ_QOP_SET_IDX:
		c->dev_used = (uint16_t)(c->dev_used + (int8_t)fz_u8(f));
		publish_used(c);
		break;
	case FZ_QOP_EVENTS:
		op_events(c, f);
		break;
	case FZ_QOP_KICK:
		r = vio_drvq_kick_prepare(q);
		CHECK(!(r && c->broken));
		break;
	case FZ_QOP_DISABLE_CB:
		vio_drvq_disable_cb(q);
		break;
	case FZ_QOP_ENABLE_CB:
		vio_drvq_enable_cb(q);
		break;
	case FZ_QOP_ENABLE_CB_DELAYED:
		r = vio_drvq_enable_cb_delayed(q);
		CHECK(!(r && c->broken));
		break;
	case FZ_QOP_POLL:
		r = vio_drvq_poll(q, vio_drvq_enable_cb_prepare(q));
		CHECK(!(r && c->broken));
		break;
	default:
		op_has_used(c);
		break;
	}
	/* Broken is sticky, and only get_buf/has_used may break the queue. */
	CHECK(vio_drvq_is_broken(q) == c->broken);
	CHECK(vio_drvq_num_free(q) == c->model_free);
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ctx ctx;
	struct ctx *c = &ctx;
	struct fz f = { data, size };
	struct vt_pair_opts po;
	uint64_t features;
	uint8_t fb;

	memset(c, 0, sizeof(*c));
	c->size = 1u << (fz_u8(&f) % 9);
	fb = fz_u8(&f);
	features = ((fb & FZ_F_EVENT_IDX) ? VIO_BIT(VIO_F_EVENT_IDX) : 0) |
		   ((fb & FZ_F_INDIRECT) ? VIO_BIT(VIO_F_INDIRECT_DESC) : 0) |
		   ((fb & FZ_F_VERSION_1) ? VIO_BIT(VIO_F_VERSION_1) : 0) |
		   ((fb & FZ_F_IN_ORDER) ? VIO_BIT(VIO_F_IN_ORDER) : 0);
	c->in_order = fb & FZ_F_IN_ORDER;
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

	for (unsigned i = 0; i < MAX_OPS && f.n; i++)
		run_op(c, &f);
	detach_all(c);
	vt_pair_fini(&c->p);
	return 0;
}
