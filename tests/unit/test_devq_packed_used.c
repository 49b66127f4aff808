/*
 * test_devq_packed_used.c - the packed ring's device side writes back: used
 * descriptors, interrupt decisions from the driver event structure, kick
 * suppression through the device event structure, and resuming at
 * avail_base/used_base.
 *
 * Siblings, all in tests/unit/: test_devq_packed_elem.c (well-formed
 * chains), test_devq_packed_malformed.c (each broken rule),
 * test_devq_packed_used.c (used descriptors, event structures, resume),
 * test_devq_in_order.c (IN_ORDER batches on both layouts); the packed
 * fixture is devq_packed_fixture.{c,h}. The split ring's device tests are
 * test_devq_{api,elem,malformed,used}.c.
 */

#include "devq_packed_fixture.h"

#define F_EVT VIO_BIT(VIO_F_EVENT_IDX)

#define EV_ENABLE VIO_PACKED_EVENT_ENABLE
#define EV_DISABLE VIO_PACKED_EVENT_DISABLE
#define EV_DESC VIO_PACKED_EVENT_DESC

static uint64_t ring_addr(const struct pq *h, unsigned pos)
{
	return vio_get64(false, h->ring[pos].addr);
}

static void set_drv_event(struct pq *h, unsigned off, bool wrap, uint16_t flags)
{
	h->drv_ev->off_wrap = vio_set16(false, enc(off, wrap));
	h->drv_ev->flags = vio_set16(false, flags);
}

static void set_dev_event(struct pq *h, uint16_t off_wrap, uint16_t flags)
{
	h->dev_ev->off_wrap = vio_set16(false, off_wrap);
	h->dev_ev->flags = vio_set16(false, flags);
}

static uint16_t dev_ev_off_wrap(const struct pq *h)
{
	return vio_get16(false, h->dev_ev->off_wrap);
}

static uint16_t dev_ev_flags(const struct pq *h)
{
	return vio_get16(false, h->dev_ev->flags);
}

/* The id, len and flags of ring slot `pos`: what a used descriptor writes. */
static void assert_untouched_but_used_at(const struct pq *h, unsigned pos)
{
	const size_t at = OFF_RING + 16u * pos + offsetof(struct vio_packed_desc, len);

	assert_untouched_but(h, at, OFF_RING + 16u * (pos + 1));
}

/* ---- the used side ------------------------------------------------------- */
/* One used descriptor over the head: id, len, both bits at the used wrap
 * counter, WRITE because bytes were written. The address is left alone,
 * and nothing else in guest memory changes. */
static void p_push_writes_one_used_descriptor(void **state)
{
	struct pq *h = pq_new(state, 8, 0);

	drv_post1(h, BUF(0), 64, D_WRITE, 5);
	drv_post1(h, BUF(64), 64, D_WRITE, 2);
	pop_ok(h);
	snapshot(h);
	assert_int_equal(vio_devq_push(&h->q, &h->e, 33), 0);
	assert_int_equal(ring_id(h, 0), 5);
	assert_int_equal(ring_len(h, 0), 33);
	assert_int_equal(ring_flags(h, 0), D_AVAIL | D_USED | D_WRITE);
	assert_int_equal(ring_addr(h, 0), BUF(0));
	assert_untouched_but_used_at(h, 0);
	assert_bases(h, enc(1, true), enc(1, true));
}

/* Nothing written: no WRITE flag, for a writable buffer as for a readable. */
static void p_push_len_zero_has_no_write_flag(void **state)
{
	struct pq *h = pq_new(state, 8, 0);

	drv_post1(h, BUF(0), 64, D_WRITE, 5);
	drv_post1(h, BUF(64), 64, 0, 2);
	pop_ok(h);
	assert_int_equal(vio_devq_push(&h->q, &h->e, 0), 0);
	assert_int_equal(ring_flags(h, 0), D_AVAIL | D_USED);
	assert_int_equal(ring_len(h, 0), 0);
	pop_ok(h);
	assert_int_equal(vio_devq_push(&h->q, &h->e, 0), 0);
	assert_int_equal(ring_flags(h, 1), D_AVAIL | D_USED);
	assert_int_equal(ring_id(h, 1), 2);
}

/* A 3-descriptor chain uses slot 0 and skips 1 and 2: the next used
 * descriptor lands at 3, and 1 and 2 keep what the driver wrote. */
static void p_push_skips_the_chain_descriptors(void **state)
{
	static const struct pd chain[3] = {
		{ BUF(0), 16, 0, 0 }, { BUF(16), 16, D_WRITE, 0 }, { BUF(32), 16, D_WRITE, 0 },
	};
	struct pq *h = pq_new(state, 8, 0);

	drv_post(h, chain, 3, true, 4);
	drv_post1(h, BUF(64), 8, D_WRITE, 1);
	pop_ok(h);
	snapshot(h);
	assert_int_equal(vio_devq_push(&h->q, &h->e, 20), 0);
	assert_untouched_but_used_at(h, 0);
	assert_int_equal(ring_id(h, 0), 4);
	assert_int_equal(ring_len(h, 0), 20);
	assert_int_equal(vio_devq_used_base(&h->q), enc(3, true));
	pop_ok(h);
	snapshot(h);
	assert_int_equal(vio_devq_push(&h->q, &h->e, 8), 0);
	assert_untouched_but_used_at(h, 3);
	assert_int_equal(ring_id(h, 3), 1);
	assert_int_equal(ring_len(h, 3), 8);
	assert_int_equal(ring_flags(h, 3), D_AVAIL | D_USED | D_WRITE);
	assert_int_equal(ring_flags(h, 1), D_AVAIL | D_NEXT | D_WRITE);
	assert_int_equal(ring_flags(h, 2), D_AVAIL | D_WRITE);
	assert_bases(h, enc(4, true), enc(4, true));
}

/* Used descriptors go in completion order: the single buffer completed
 * first takes slot 0, then the chain takes slot 1 and skips 3. */
static void p_push_out_of_order_completion(void **state)
{
	static const struct pd chain[3] = {
		{ BUF(0), 16, 0, 0 }, { BUF(16), 16, 0, 0 }, { BUF(32), 16, D_WRITE, 0 },
	};
	struct pq *h = pq_new(state, 8, 0);
	struct vio_iov iov[2];
	struct vio_elem single;

	drv_post(h, chain, 3, true, 6);
	drv_post1(h, BUF(64), 8, D_WRITE, 2);
	pop_ok(h);
	elem_prepare(&single, iov, 1, iov + 1, 1);
	assert_int_equal(vio_devq_pop(&h->q, &single), 0);
	assert_int_equal(vio_devq_push(&h->q, &single, 8), 0);
	assert_int_equal(ring_id(h, 0), 2);
	assert_int_equal(vio_devq_used_base(&h->q), enc(1, true));
	assert_int_equal(vio_devq_push(&h->q, &h->e, 16), 0);
	assert_int_equal(ring_id(h, 1), 6);
	assert_int_equal(ring_len(h, 1), 16);
	assert_int_equal(ring_flags(h, 1), D_AVAIL | D_USED | D_WRITE);
	assert_int_equal(vio_devq_used_base(&h->q), enc(4, true));
}

/* fill() writes every staged used descriptor but the first one's flags,
 * which flush() stores last: until then a driver polling the first slot
 * sees nothing, and the used base has not moved. */
static void p_fill_flush_publishes_first_flags_last(void **state)
{
	static const unsigned order[3] = { 2, 0, 1 };
	struct pq *h = pq_new(state, 8, 0);
	struct vio_iov iov[3];
	struct vio_elem e[3];
	uint16_t first_flags;
	unsigned k;

	for (k = 0; k < 3; k++) {
		drv_post1(h, BUF(64 * k), 64, D_WRITE, (uint16_t)(k + 3));
		elem_prepare(&e[k], NULL, 0, &iov[k], 1);
		assert_int_equal(vio_devq_pop(&h->q, &e[k]), 0);
	}
	first_flags = ring_flags(h, 0);
	for (k = 0; k < 3; k++) {
		assert_int_equal(vio_devq_fill(&h->q, &e[order[k]], 10 + k), 0);
		assert_int_equal(ring_flags(h, 0), first_flags);
		assert_int_equal(vio_devq_used_base(&h->q), enc(0, true));
	}
	assert_int_equal(vio_devq_flush(&h->q), 0);
	for (k = 0; k < 3; k++) {
		assert_int_equal(ring_flags(h, k), D_AVAIL | D_USED | D_WRITE);
		assert_int_equal(ring_id(h, k), order[k] + 3);
		assert_int_equal(ring_len(h, k), 10 + k);
	}
	assert_int_equal(vio_devq_used_base(&h->q), enc(3, true));
	assert_int_equal(vio_devq_flush(&h->q), 0);
	assert_int_equal(vio_devq_used_base(&h->q), enc(3, true));
}

/* The used wrap counter flips when a chain's slots pass the end: a chain
 * in slots 2, 3, 0 is used at 2 with wrap 1; the next used descriptor lands
 * at 1 with both bits clear. Then back to wrap 1 a lap later. */
static void p_used_wrap_counter_flips(void **state)
{
	static const struct pd chain[3] = {
		{ BUF(0), 16, 0, 0 }, { BUF(16), 16, D_WRITE, 0 }, { BUF(32), 16, D_WRITE, 0 },
	};
	struct pq *h = pq_new(state, 4, 0);
	unsigned k;

	for (k = 0; k < 2; k++) {
		drv_post1(h, BUF(64), 8, D_WRITE, (uint16_t)k);
		pop_ok(h);
		assert_int_equal(vio_devq_push(&h->q, &h->e, 8), 0);
	}
	drv_post(h, chain, 3, true, 3);
	pop_ok(h);
	assert_int_equal(vio_devq_push(&h->q, &h->e, 32), 0);
	assert_int_equal(ring_flags(h, 2), D_AVAIL | D_USED | D_WRITE);
	assert_bases(h, enc(1, false), enc(1, false));
	for (k = 0; k < 4; k++) {
		const unsigned pos = (1 + k) % 4;
		const bool wrap = pos == 0;  /* slot 0 is the start of the next lap */

		drv_post1(h, BUF(64), 8, D_WRITE, 2);
		pop_ok(h);
		assert_int_equal(vio_devq_push(&h->q, &h->e, 5), 0);
		assert_int_equal(ring_flags(h, pos), used_bits(wrap) | D_WRITE);
		assert_int_equal(ring_len(h, pos), 5);
	}
	assert_bases(h, enc(1, true), enc(1, true));
}

/* ---- interrupts: the driver event structure ------------------------------ */
/* One writable buffer used with `len` bytes; returns the interrupt decision. */
static bool use_one(struct pq *h, uint32_t len)
{
	drv_post1(h, BUF(0), 64, D_WRITE, 0);
	pop_ok(h);
	assert_int_equal(vio_devq_push(&h->q, &h->e, len), 0);
	return vio_devq_need_interrupt(&h->q);
}

static void assert_irqs(const struct pq *h, uint64_t sent, uint64_t suppressed)
{
	assert_int_equal(h->q.stats.interrupts, sent);
	assert_int_equal(h->q.stats.interrupts_suppressed, suppressed);
}

static void p_irq_flags_enable_and_disable(void **state)
{
	struct pq *h = pq_new(state, 8, 0);

	set_drv_event(h, 0, true, EV_DISABLE);
	assert_false(use_one(h, 1));
	assert_false(use_one(h, 1));
	set_drv_event(h, 0, true, EV_ENABLE);
	assert_true(use_one(h, 1));
	assert_irqs(h, 1, 2);
}

/* DESC means something only with EVENT_IDX; without, it cannot suppress. */
static void p_irq_desc_without_event_idx_interrupts(void **state)
{
	struct pq *h = pq_new(state, 8, 0);

	set_drv_event(h, 5, false, EV_DESC);
	assert_true(use_one(h, 0));
	assert_true(use_one(h, 0));
	assert_irqs(h, 2, 0);
}

static void p_irq_event_idx_flags_enable_and_disable(void **state)
{
	struct pq *h = pq_new(state, 8, F_EVT);

	set_drv_event(h, 5, true, EV_ENABLE);
	assert_true(use_one(h, 0));
	set_drv_event(h, 1, true, EV_DISABLE);
	assert_false(use_one(h, 0)); /* the offset would have said yes */
	assert_irqs(h, 1, 1);
}

/*
 * EVENT_IDX with DESC at slot 3, wrap 1, over three laps of single pushes:
 * it fires at slot 3 of the first lap; in the second lap (wrap 0) it is an
 * event of the previous lap, already passed, and must not fire at slot 3
 * again; in the third lap the wrap matches again and it does.
 */
static void p_irq_event_idx_offset_and_wrap(void **state)
{
	struct pq *h = pq_new(state, 8, F_EVT);
	unsigned lap, i;

	set_drv_event(h, 3, true, EV_DESC);
	for (lap = 0; lap < 3; lap++)
		for (i = 0; i < 8; i++)
			assert_int_equal(use_one(h, 0), i == 3 && lap != 1);
	assert_irqs(h, 2, 22);
}

/*
 * One flush of two used descriptors, at slot 3 of lap 1 and slot 0 of
 * lap 0, against events just before, inside and just after that range: an
 * event at (3, wrap 1) now lies in the previous lap, yet inside the batch.
 */
static void p_irq_event_idx_batch_across_wrap(void **state)
{
	static const struct {
		unsigned off;
		bool wrap, expect;
	} cases[] = {
		{ 2, true, false },
		{ 3, true, true },
		{ 0, false, true },
		{ 1, false, false },
		{ 3, false, false },
	};
	struct pq *h = pq_new(state, 4, F_EVT);
	struct vio_iov iov[2];
	struct vio_elem e[2];

	for (unsigned c = 0; c < ARRAY_LEN(cases); c++) {
		pq_restart(h, true, enc(3, true));
		for (unsigned k = 0; k < 2; k++) {
			drv_post1(h, BUF(64 * k), 64, D_WRITE, (uint16_t)k);
			elem_prepare(&e[k], NULL, 0, &iov[k], 1);
			assert_int_equal(vio_devq_pop(&h->q, &e[k]), 0);
			assert_int_equal(vio_devq_fill(&h->q, &e[k], 1), 0);
		}
		assert_int_equal(vio_devq_flush(&h->q), 0);
		assert_int_equal(vio_devq_used_base(&h->q), enc(1, false));
		set_drv_event(h, cases[c].off, cases[c].wrap, EV_DESC);
		assert_int_equal(vio_devq_need_interrupt(&h->q), cases[c].expect);
		assert_irqs(h, cases[c].expect, !cases[c].expect);
		/* The same descriptors are never signalled twice. */
		assert_false(vio_devq_need_interrupt(&h->q));
		assert_irqs(h, cases[c].expect, !cases[c].expect);
	}
}

/* A chain of three counts as three slots: an event on a skipped slot fires. */
static void p_irq_event_idx_counts_skipped_slots(void **state)
{
	static const struct pd chain[3] = {
		{ BUF(0), 16, 0, 0 }, { BUF(16), 16, 0, 0 }, { BUF(32), 16, D_WRITE, 0 },
	};
	struct pq *h = pq_new(state, 8, F_EVT);

	set_drv_event(h, 2, true, EV_DESC);
	drv_post(h, chain, 3, true, 1);
	pop_ok(h);
	assert_int_equal(vio_devq_push(&h->q, &h->e, 0), 0);
	assert_true(vio_devq_need_interrupt(&h->q));
	set_drv_event(h, 4, true, EV_DESC);
	assert_false(use_one(h, 0)); /* slot 3 */
	assert_true(use_one(h, 0));  /* slot 4 */
	assert_irqs(h, 2, 1);
}

/* ---- kicks: the device event structure ----------------------------------- */
static void p_kick_disable_writes_disable(void **state)
{
	struct pq *h = pq_new(state, 8, 0);

	set_dev_event(h, 0x1234, EV_ENABLE);
	vio_devq_kick_disable(&h->q);
	assert_int_equal(dev_ev_flags(h), EV_DISABLE);
	assert_int_equal(dev_ev_off_wrap(h), 0x1234);
	assert_true(vio_devq_kick_enable(&h->q));
	assert_int_equal(dev_ev_flags(h), EV_ENABLE);
}

static void p_kick_disable_writes_disable_event_idx(void **state)
{
	struct pq *h = pq_new(state, 8, F_EVT);

	set_dev_event(h, enc(3, true), EV_DESC);
	vio_devq_kick_disable(&h->q);
	assert_int_equal(dev_ev_flags(h), EV_DISABLE);
}

/* kick_enable under EVENT_IDX asks for a kick at the next slot to pop,
 * with the device's avail wrap counter: here slot 1 in lap 0, then slot 2
 * back in lap 1. */
static void p_kick_enable_event_idx_writes_desc(void **state)
{
	struct pq *h = pq_new(state, 4, F_EVT);
	unsigned k;

	vio_devq_kick_disable(&h->q);
	for (k = 0; k < 5; k++)
		use_one(h, 0);
	set_dev_event(h, 0x1234, EV_DISABLE);
	assert_true(vio_devq_kick_enable(&h->q));
	assert_int_equal(dev_ev_flags(h), EV_DESC);
	assert_int_equal(dev_ev_off_wrap(h), enc(1, false));
	vio_devq_kick_disable(&h->q);
	for (k = 0; k < 5; k++)
		use_one(h, 0);
	assert_true(vio_devq_kick_enable(&h->q));
	assert_int_equal(dev_ev_flags(h), EV_DESC);
	assert_int_equal(dev_ev_off_wrap(h), enc(2, true));
}

/* Without EVENT_IDX kick_enable writes ENABLE and leaves the offset. */
static void p_kick_enable_writes_enable(void **state)
{
	struct pq *h = pq_new(state, 8, 0);

	vio_devq_kick_disable(&h->q);
	set_dev_event(h, 0x1234, EV_DISABLE);
	assert_true(vio_devq_kick_enable(&h->q));
	assert_int_equal(dev_ev_flags(h), EV_ENABLE);
	assert_int_equal(dev_ev_off_wrap(h), 0x1234);
}

static void kick_enable_sees_avail_case(void **state, uint64_t features)
{
	struct pq *h = pq_new(state, 8, features);

	vio_devq_kick_disable(&h->q);
	drv_post1(h, BUF(0), 16, 0, 0);
	assert_false(vio_devq_kick_enable(&h->q));
	pop_ok(h);
	assert_true(vio_devq_kick_enable(&h->q));
	/* Not-yet-available bits of the other lap are not "available". */
	ring_set_flags(h, 1, avail_bits(false));
	assert_true(vio_devq_kick_enable(&h->q));
}

static void p_kick_enable_false_when_a_buffer_is_available(void **state)
{
	kick_enable_sees_avail_case(state, 0);
}

static void p_kick_enable_false_when_a_buffer_is_available_event_idx(void **state)
{
	kick_enable_sees_avail_case(state, F_EVT);
}

/* EVENT_IDX: a pop that finds the ring empty asks for a kick at its slot
 * (re-arms); one that found work writes nothing. */
static void p_kick_empty_pop_rearms_device_event(void **state)
{
	struct pq *h = pq_new(state, 4, F_EVT);

	set_dev_event(h, 0x1234, EV_DISABLE);
	assert_int_equal(vio_devq_pop(&h->q, &h->e), -EAGAIN);
	assert_int_equal(dev_ev_flags(h), EV_DESC);
	assert_int_equal(dev_ev_off_wrap(h), enc(0, true));
	for (unsigned k = 0; k < 5; k++) {
		drv_post1(h, BUF(0), 16, 0, 0);
		set_dev_event(h, 0x1234, EV_DISABLE);
		pop_ok(h);
		assert_int_equal(dev_ev_flags(h), EV_DISABLE);
		assert_int_equal(dev_ev_off_wrap(h), 0x1234);
	}
	assert_int_equal(vio_devq_pop(&h->q, &h->e), -EAGAIN);
	assert_int_equal(dev_ev_flags(h), EV_DESC);
	assert_int_equal(dev_ev_off_wrap(h), enc(1, false));
}

static void empty_pop_writes_nothing_case(struct pq *h)
{
	set_dev_event(h, 0x1234, EV_DISABLE);
	snapshot(h);
	assert_int_equal(vio_devq_pop(&h->q, &h->e), -EAGAIN);
	assert_untouched(h);
}

/* While the device polls with kicks disabled, an empty pop must not turn
 * them back on. */
static void p_kick_empty_pop_no_rearm_while_disabled(void **state)
{
	struct pq *h = pq_new(state, 8, F_EVT);

	vio_devq_kick_disable(&h->q);
	empty_pop_writes_nothing_case(h);
}

static void p_kick_empty_pop_no_rearm_without_event_idx(void **state)
{
	empty_pop_writes_nothing_case(pq_new(state, 8, 0));
}

/* A queue started again on the same memory (GET_VRING_BASE, then
 * SET_VRING_BASE) after one stopped with kicks off, its thread polling,
 * asks for kicks: with the old queue's DISABLE left in the device event
 * structure the driver never kicks, and a queue thread waiting for a kick
 * sleeps for good (DPDK's virtio-user reads only these flags). */
static void restart_after_kick_disable_case(void **state, uint64_t features)
{
	struct pq *h = pq_new(state, 8, features);
	struct vio_devq_config c;

	use_one(h, 0);
	vio_devq_kick_disable(&h->q);
	assert_int_equal(dev_ev_flags(h), EV_DISABLE);
	c = pq_cfg(h, true, vio_devq_avail_base(&h->q), vio_devq_used_base(&h->q));
	assert_int_equal(vio_devq_init(&h->q, &c), 0);
	assert_int_equal(dev_ev_flags(h), EV_ENABLE);
	/* And the new queue's kick_disable is not skipped as a repeat. */
	vio_devq_kick_disable(&h->q);
	assert_int_equal(dev_ev_flags(h), EV_DISABLE);
}

static void p_restart_after_kick_disable_takes_kicks(void **state)
{
	restart_after_kick_disable_case(state, 0);
}

static void p_restart_after_kick_disable_takes_kicks_event_idx(void **state)
{
	restart_after_kick_disable_case(state, F_EVT);
}

/* ---- resume: avail_base / used_base -------------------------------------- */
static void p_resume_fresh_bases(void **state)
{
	struct pq *h = pq_new(state, 5, 0);

	assert_bases(h, enc(0, true), enc(0, true));
}

/* Position in bits 0..14, wrap counter in bit 15; avail runs ahead of used
 * by what is popped and not yet used. */
static void p_resume_bases_encode_position_and_wrap(void **state)
{
	static const struct pd chain[3] = {
		{ BUF(0), 16, 0, 0 }, { BUF(16), 16, 0, 0 }, { BUF(32), 16, 0, 0 },
	};
	struct pq *h = pq_new(state, 5, 0);
	unsigned k;

	for (k = 0; k < 4; k++)
		use_one(h, 0);
	assert_bases(h, enc(4, true), enc(4, true));
	use_one(h, 0);
	assert_bases(h, 0x0000, 0x0000);
	drv_post(h, chain, 3, true, 2);
	pop_ok(h);
	assert_bases(h, enc(3, false), enc(0, false));
	assert_int_equal(vio_devq_push(&h->q, &h->e, 0), 0);
	assert_bases(h, enc(3, false), enc(3, false));
}

/* A queue re-created from the bases (SET_VRING_BASE after GET_VRING_BASE)
 * carries on in the same lap: it pops the next chain and uses it with the
 * wrap-0 bits, then flips back to wrap 1 at the end of the ring. */
static void p_resume_continues_at_the_bases(void **state)
{
	static const struct pd chain[2] = { { BUF(0), 16, 0, 0 }, { BUF(16), 16, D_WRITE, 0 } };
	struct pq *h = pq_new(state, 5, 0);
	struct vio_devq_config c;
	unsigned k;

	for (k = 0; k < 7; k++)
		use_one(h, 0);
	c = pq_cfg(h, true, vio_devq_avail_base(&h->q), vio_devq_used_base(&h->q));
	assert_int_equal(c.avail_base, enc(2, false));
	assert_int_equal(vio_devq_init(&h->q, &c), 0);
	assert_bases(h, enc(2, false), enc(2, false));

	drv_post(h, chain, 2, true, 4);
	pop_ok(h);
	assert_int_equal(h->e.id, 4);
	assert_span(&h->e.in[0], abuf(h, 16), 16);
	assert_int_equal(vio_devq_push(&h->q, &h->e, 16), 0);
	assert_int_equal(ring_flags(h, 2), D_WRITE);  /* both bits clear: wrap 0 */
	assert_int_equal(ring_id(h, 2), 4);
	for (k = 0; k < 2; k++)
		use_one(h, 1);
	assert_int_equal(ring_flags(h, 0), D_AVAIL | D_USED | D_WRITE);
	assert_bases(h, enc(1, true), enc(1, true));
	assert_int_equal(vio_devq_pop(&h->q, &h->e), -EAGAIN);
}

static void p_resume_position_beyond_size_is_einval(void **state)
{
	/* Positions 5 and 6 of a ring of 5, at either wrap counter, and the
	 * largest ones bits 0..14 can hold. */
	static const uint16_t bad[] = { 5 | WRAP, 5, 6 | WRAP, 0x7fff, 0xffff };
	struct pq *h = pq_new(state, 5, 0);
	struct vio_devq_config c;
	struct vio_devq q;

	for (unsigned i = 0; i < ARRAY_LEN(bad); i++) {
		c = pq_cfg(h, true, bad[i], enc(0, true));
		assert_int_equal(vio_devq_init(&q, &c), -EINVAL);
		c = pq_cfg(h, true, enc(0, true), bad[i]);
		assert_int_equal(vio_devq_init(&q, &c), -EINVAL);
	}
	/* The last position is fine, at either wrap counter. */
	c = pq_cfg(h, true, enc(4, false), enc(4, true));
	assert_int_equal(vio_devq_init(&q, &c), 0);
	assert_int_equal(vio_devq_avail_base(&q), enc(4, false));
	assert_int_equal(vio_devq_used_base(&q), enc(4, true));
}

static const struct vt_named_test packed_tests[] = {
	P_TEST(p_push_writes_one_used_descriptor),
	P_TEST(p_push_len_zero_has_no_write_flag),
	P_TEST(p_push_skips_the_chain_descriptors),
	P_TEST(p_push_out_of_order_completion),
	P_TEST(p_fill_flush_publishes_first_flags_last),
	P_TEST(p_used_wrap_counter_flips),
	P_TEST(p_irq_flags_enable_and_disable),
	P_TEST(p_irq_desc_without_event_idx_interrupts),
	P_TEST(p_irq_event_idx_flags_enable_and_disable),
	P_TEST(p_irq_event_idx_offset_and_wrap),
	P_TEST(p_irq_event_idx_batch_across_wrap),
	P_TEST(p_irq_event_idx_counts_skipped_slots),
	P_TEST(p_kick_disable_writes_disable),
	P_TEST(p_kick_disable_writes_disable_event_idx),
	P_TEST(p_kick_enable_event_idx_writes_desc),
	P_TEST(p_kick_enable_writes_enable),
	P_TEST(p_kick_enable_false_when_a_buffer_is_available),
	P_TEST(p_kick_enable_false_when_a_buffer_is_available_event_idx),
	P_TEST(p_kick_empty_pop_rearms_device_event),
	P_TEST(p_kick_empty_pop_no_rearm_while_disabled),
	P_TEST(p_kick_empty_pop_no_rearm_without_event_idx),
	P_TEST(p_restart_after_kick_disable_takes_kicks),
	P_TEST(p_restart_after_kick_disable_takes_kicks_event_idx),
	P_TEST(p_resume_fresh_bases),
	P_TEST(p_resume_bases_encode_position_and_wrap),
	P_TEST(p_resume_continues_at_the_bases),
	P_TEST(p_resume_position_beyond_size_is_einval),
};

int main(void)
{
	return pq_run("devq_packed_used", packed_tests, ARRAY_LEN(packed_tests));
}
