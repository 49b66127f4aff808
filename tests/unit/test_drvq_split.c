/*
 * test_drvq_split.c - the driver side of the split ring against a fake,
 * hostile device that reads and writes the ring areas by hand: sizes and
 * the legacy layout, the descriptor table, kick_prepare() against
 * used->flags and avail_event, and the broken queue a lying device leaves
 * (used ids, lengths, indices). These run for split layouts only.
 *
 * Siblings, all in tests/unit/: test_drvq_add.c (sizes, end to end, add,
 * kick_prepare), test_drvq_get.c (get_buf, callbacks, detach_unused), both
 * on every layout; test_drvq_split.c and test_drvq_packed.c, where a fake,
 * hostile device writes the split or the packed ring by hand. What they
 * share is drvq_fixture.{c,h}.
 */

#include "drvq_fixture.h"

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

/* Two buffers out (one readable + one writable segment each); their heads. */
static void post_two(struct ctx *c, uint16_t *h0, uint16_t *h1)
{
	assert_int_equal(post(c, 1, 1, TOK(0)), 0);
	assert_int_equal(post(c, 1, 1, TOK(1)), 0);
	*h0 = avail_head(c, 0);
	*h1 = avail_head(c, 1);
}

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

/* ---- IN_ORDER ------------------------------------------------------------ */

/* Writes one used entry at the current position standing for n buffers
 * (the spec's in-order rule: the used index moves by the batch's size). */
static void fake_put_batch(struct ctx *c, uint32_t id, uint32_t len, uint16_t n)
{
	struct vio_split_used_elem *ue = &c->p.used->ring[c->fake_used & (c->p.size - 1)];

	ue->id = vio_set32(wire_legacy(c), id);
	ue->len = vio_set32(wire_legacy(c), len);
	fake_set_used_idx(c, (uint16_t)(c->fake_used + n));
}

/* A batch of three under one entry: the driver hands out all three, the
 * earlier two whole, and takes the next batch's entry three positions on. */
static void sp_in_order_batch_spans_a_position_per_buffer(void **state)
{
	struct ctx *c = *state;

	pair_with(c, 8, VIO_BIT(VIO_F_IN_ORDER), NULL);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(post(c, 1, 1, TOK(i)), 0);
	fake_put_batch(c, avail_head(c, 2), 7, 3);
	/* A stale entry where the old rule would look next: never read. */
	c->p.used->ring[1].id = vio_set32(wire_legacy(c), avail_head(c, 0));
	reap(c, TOK(0), SEG_LEN);
	reap(c, TOK(1), SEG_LEN);
	reap(c, TOK(2), 7);
	assert_nothing_used(c);
	fake_put_batch(c, avail_head(c, 3), 5, 1);
	reap(c, TOK(3), 5);
	assert_nothing_used(c);
	assert_false(vio_drvq_is_broken(&c->p.drv));
}

/* An entry naming the third buffer with the used index moved by one (the
 * old libvio rule): the driver hands out what the index covers, then
 * breaks the queue instead of reading positions the device never wrote. */
static void sp_broken_in_order_batch_beyond_used_idx(void **state)
{
	struct ctx *c = *state;

	pair_with(c, 8, VIO_BIT(VIO_F_IN_ORDER), NULL);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(post(c, 1, 1, TOK(i)), 0);
	fake_put_batch(c, avail_head(c, 2), 7, 1);
	reap(c, TOK(0), SEG_LEN);
	expect_break(c);
}

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
	T(sp_in_order_batch_spans_a_position_per_buffer, AX_EVIDX | AX_LEGACY),
	T(sp_broken_in_order_batch_beyond_used_idx, AX_EVIDX),
	T(sp_disable_cb_sets_no_interrupt_flag, 0),
	T(sp_disable_cb_moves_used_event_behind, 0),
	T(sp_enable_cb_delayed_writes_three_quarters, 0),
};

int main(void)
{
	return drvq_run("drvq_split", split_tests, sizeof(split_tests) / sizeof(split_tests[0]),
			ROWS_SPLIT);
}
