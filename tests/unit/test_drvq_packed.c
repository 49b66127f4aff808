/*
 * test_drvq_packed.c - the driver side of the packed ring against a fake,
 * hostile device that writes used descriptors by hand (id, len, AVAIL/USED
 * bits): ids beyond the ring, never posted, inside a chain or twice (also
 * as an IN_ORDER batch), lengths over capacity, used bits of the wrong
 * phase, and detach on a broken queue. These run for packed layouts only.
 *
 * Siblings, all in tests/unit/: test_drvq_add.c (sizes, end to end, add,
 * kick_prepare), test_drvq_get.c (get_buf, callbacks, detach_unused), both
 * on every layout; test_drvq_split.c and test_drvq_packed.c, where a fake,
 * hostile device writes the split or the packed ring by hand. What they
 * share is drvq_fixture.{c,h}.
 */

#include "drvq_fixture.h"

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

int main(void)
{
	return drvq_run("drvq_packed", packed_tests, sizeof(packed_tests) / sizeof(packed_tests[0]),
			ROWS_PACKED);
}
