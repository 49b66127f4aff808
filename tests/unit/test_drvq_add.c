/*
 * test_drvq_add.c - the driver side of a virtqueue through its public API,
 * on every ring layout: queue sizes and end to end round trips, add()
 * (direct chains, indirect tables, what a rejected add leaves behind) and
 * kick_prepare() with and without EVENT_IDX.
 *
 * Siblings, all in tests/unit/: test_drvq_add.c (sizes, end to end, add,
 * kick_prepare), test_drvq_get.c (get_buf, callbacks, detach_unused), both
 * on every layout; test_drvq_split.c and test_drvq_packed.c, where a fake,
 * hostile device writes the split or the packed ring by hand. What they
 * share is drvq_fixture.{c,h}.
 */

#include "drvq_fixture.h"

/* Ring descriptors a buffer of n segments takes. */
static unsigned descs_for(const struct ctx *c, unsigned n)
{
	bool ind = has(c, VIO_F_INDIRECT_DESC) && c->indirect_max > 1;

	return ind && n >= 2 && n <= c->indirect_max ? 1 : n;
}

static int post_staged(struct ctx *c, unsigned nout, unsigned nin, void *tok)
{
	return post_with(c, vio_drvq_add_staged, nout, nin, tok);
}

static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 16;
}

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

/*
 * Kick on a full ring (the seed's rule): an add() refused for room, of a
 * buffer with readable parts, kicks through the notify callback even
 * while the device suppresses kicks, and counts it in kicks_full; a
 * refused buffer with only writable parts does not kick.
 */
static void full_ring_add_with_readable_parts_kicks(void **state)
{
	struct ctx *c = *state;
	struct vt_pair_opts o = { .notify = count_notify, .opaque = c };
	const struct vio_ring_stats *st = &c->p.drv.stats;
	struct vio_elem e[MAX_ELEMS];
	unsigned n = 0, kicks;

	pair_with(c, 8, 0, &o);
	vio_devq_kick_disable(&c->p.dev);
	while (post(c, 0, 1, TOK(n)) == 0)      /* writable only: no kick */
		n++;
	assert_true(n > 0);
	assert_int_equal(c->notifies, 0);
	assert_false(vio_drvq_kick(&c->p.drv)); /* the device polls */
	kicks = c->notifies;
	assert_int_equal(post(c, 1, 1, TOK(n)), -ENOSPC);
	assert_int_equal(c->notifies, kicks + 1);
	assert_int_equal(st->kicks_full, 1);
	assert_int_equal(post(c, 0, 2, TOK(n)), -ENOSPC);      /* writable only */
	assert_int_equal(c->notifies, kicks + 1);
	assert_int_equal(post(c, 2, 0, TOK(n)), -ENOSPC);
	assert_int_equal(c->notifies, kicks + 2);
	assert_int_equal(st->kicks_full, 2);
	/* Nothing was lost on the way: the device has every buffer. */
	assert_int_equal(dev_pop_all(c, e, MAX_ELEMS), (int)n);
}

/* Staged buffers fill the ring: the refused add publishes them before it
 * kicks, so the device finds them. */
static void full_ring_publishes_staged_then_kicks(void **state)
{
	struct ctx *c = *state;
	struct vt_pair_opts o = { .notify = count_notify, .opaque = c };
	struct vio_elem e[MAX_ELEMS];
	unsigned n = 0;

	pair_with(c, 8, 0, &o);
	while (post_staged(c, 1, 0, TOK(n)) == 0)
		n++;
	assert_int_equal(c->notifies, 1);       /* the refused add's */
	assert_int_equal(c->p.drv.stats.kicks + c->p.drv.stats.kicks_full, 1);
	assert_int_equal(dev_pop_all(c, e, MAX_ELEMS), (int)n);
}

/* Without a notify callback a full ring is only -ENOSPC. */
static void full_ring_without_notify_only_refuses(void **state)
{
	struct ctx *c = *state;
	unsigned n = 0;

	pair(c, 8);
	while (post(c, 1, 1, TOK(n)) == 0)
		n++;
	assert_int_equal(post(c, 1, 1, TOK(n)), -ENOSPC);
	assert_int_equal(c->p.drv.stats.kicks_full, 0);
	assert_int_equal(c->p.drv.stats.kicks, 0);
}

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
	T(full_ring_add_with_readable_parts_kicks, AX_EVIDX | AX_INDIRECT),
	T(full_ring_publishes_staged_then_kicks, AX_EVIDX),
	T(full_ring_without_notify_only_refuses, AX_EVIDX),
};

int main(void)
{
	return drvq_run("drvq_add", api_tests, sizeof(api_tests) / sizeof(api_tests[0]),
			ROWS_ALL);
}
