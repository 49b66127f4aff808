/*
 * test_devq_used.c - the split ring's device side writes back: used ring
 * entries, interrupt decisions (flags and EVENT_IDX), kick suppression,
 * vio_devq_init's checks of the ring areas, and the same rules in every
 * split variant (legacy layout, no VERSION_1).
 *
 * A hostile driver writes the split ring by hand (devq_fixture.h).
 *
 * Siblings, all in tests/unit/: test_devq_api.c (the public API on every
 * ring layout), test_devq_elem.c (well-formed chains and indirect tables),
 * test_devq_malformed.c (each broken rule of the split ring) and
 * test_devq_used.c (used ring, interrupts, kicks, init, split variants);
 * the hostile-driver fixture is devq_fixture.{c,h}. Packed-ring device
 * tests are in test_devq_packed*.c.
 */

#include "devq_fixture.h"

static void set_used_event(struct hq *h, uint16_t v)
{
	h->avail->ring[h->size] = vio_set16(h->legacy, v);
}

static vio_le16 *avail_event(struct hq *h)
{
	return (vio_le16 *)&h->used->ring[h->size];
}

/* ---- used ring ----------------------------------------------------------- */
static uint32_t used_id(const struct hq *h, unsigned slot)
{
	return vio_get32(h->legacy, h->used->ring[slot].id);
}

static uint32_t used_len(const struct hq *h, unsigned slot)
{
	return vio_get32(h->legacy, h->used->ring[slot].len);
}

/* Makes heads 5 and 3 available, each one writable buffer of 64 bytes. */
static void two_writable(struct hq *h)
{
	put_desc(h, 5, BUF(0), 64, VIO_DESC_F_WRITE, 0);
	put_desc(h, 3, BUF(64), 64, VIO_DESC_F_WRITE, 0);
	publish(h, 5);
	publish(h, 3);
}

static void h_push_writes_used_entry_and_index(void **state)
{
	struct hq *h = hq_init(state, 8, 0);

	two_writable(h);
	pop_ok(h);
	assert_int_equal(vio_devq_push(&h->q, &h->e, 33), 0);
	assert_int_equal(used_idx(h), 1);
	assert_int_equal(used_id(h, 0), 5);
	assert_int_equal(used_len(h, 0), 33);
	pop_ok(h);
	assert_int_equal(vio_devq_push(&h->q, &h->e, 64), 0);
	assert_int_equal(used_idx(h), 2);
	assert_int_equal(used_id(h, 1), 3);
	assert_int_equal(used_len(h, 1), 64);
}

static void h_fill_waits_for_flush(void **state)
{
	struct hq *h = hq_init(state, 8, 0);
	struct vio_iov iov[2];
	struct vio_elem second;

	two_writable(h);
	pop_ok(h);
	elem_prepare(&second, NULL, 0, iov, 2);
	assert_int_equal(vio_devq_pop(&h->q, &second), 0);
	assert_int_equal(vio_devq_fill(&h->q, &second, 7), 0);
	assert_int_equal(vio_devq_fill(&h->q, &h->e, 9), 0);
	assert_int_equal(used_idx(h), 0);
	assert_int_equal(vio_devq_flush(&h->q), 0);
	assert_int_equal(used_idx(h), 2);
	assert_int_equal(used_id(h, 0), 3);
	assert_int_equal(used_len(h, 0), 7);
	assert_int_equal(used_id(h, 1), 5);
	assert_int_equal(used_len(h, 1), 9);
	assert_int_equal(vio_devq_flush(&h->q), 0);
	assert_int_equal(used_idx(h), 2);
}

static void h_push_rejects_len_above_in_len(void **state)
{
	struct hq *h = hq_init(state, 8, 0);

	two_writable(h);
	pop_ok(h);
	snapshot(h);
	assert_int_equal(vio_devq_push(&h->q, &h->e, 65), -EINVAL);
	assert_int_equal(vio_devq_fill(&h->q, &h->e, 65), -EINVAL);
	assert_int_equal(vio_devq_flush(&h->q), 0);
	assert_int_equal(used_idx(h), 0);
	assert_false(vio_devq_is_stopped(&h->q));
	assert_untouched(h);
}

static void h_push_rejects_id_out_of_range(void **state)
{
	struct hq *h = hq_init(state, 8, 0);

	two_writable(h);
	pop_ok(h);
	h->e.id = 8;
	assert_int_equal(vio_devq_push(&h->q, &h->e, 0), -EINVAL);
	assert_int_equal(used_idx(h), 0);
	assert_false(vio_devq_is_stopped(&h->q));
}

static void h_used_index_wraps(void **state)
{
	struct hq *h = hq_init_at(state, 8, 0, 0, 65535);

	two_writable(h);
	pop_ok(h);
	assert_int_equal(vio_devq_push(&h->q, &h->e, 1), 0);
	pop_ok(h);
	assert_int_equal(vio_devq_push(&h->q, &h->e, 2), 0);
	assert_int_equal(used_idx(h), 1);
	assert_int_equal(used_id(h, 7), 5);
	assert_int_equal(used_len(h, 7), 1);
	assert_int_equal(used_id(h, 0), 3);
	assert_int_equal(used_len(h, 0), 2);
	assert_int_equal(vio_devq_used_base(&h->q), 1);
}

/* ---- interrupts ---------------------------------------------------------- */
/* One writable buffer at head 0, popped and pushed; returns the decision. */
static bool use_one(struct hq *h)
{
	publish(h, 0);
	pop_ok(h);
	assert_int_equal(vio_devq_push(&h->q, &h->e, 0), 0);
	return vio_devq_need_interrupt(&h->q);
}

static void h_irq_no_interrupt_flag(void **state)
{
	struct hq *h = hq_init(state, 8, 0);

	put_desc(h, 0, BUF(0), 8, VIO_DESC_F_WRITE, 0);
	h->avail->flags = vio_set16(h->legacy, VIO_AVAIL_F_NO_INTERRUPT);
	assert_false(use_one(h));
	assert_false(use_one(h));
	h->avail->flags = vio_set16(h->legacy, 0);
	assert_true(use_one(h));
	assert_int_equal(h->q.stats.interrupts, 1);
	assert_int_equal(h->q.stats.interrupts_suppressed, 2);
}

/* With EVENT_IDX the flag means nothing; used_event decides. */
static void h_irq_event_idx_ignores_flag(void **state)
{
	struct hq *h = hq_init(state, 8, F_EVT);

	put_desc(h, 0, BUF(0), 8, VIO_DESC_F_WRITE, 0);
	h->avail->flags = vio_set16(h->legacy, VIO_AVAIL_F_NO_INTERRUPT);
	set_used_event(h, 0);
	assert_true(use_one(h));
	h->avail->flags = vio_set16(h->legacy, 0);
	set_used_event(h, 5);
	assert_false(use_one(h));
	assert_int_equal(h->q.stats.interrupts, 1);
	assert_int_equal(h->q.stats.interrupts_suppressed, 1);
}

/* The driver asks for every third buffer; 70000 buffers wrap every index. */
static void h_irq_event_idx_wraps(void **state)
{
	struct hq *h = hq_init(state, 8, F_EVT);
	unsigned i, irqs = 0;

	put_desc(h, 0, BUF(0), 8, VIO_DESC_F_WRITE, 0);
	for (i = 0; i < WRAP_RUN; i++) {
		bool need;

		if (i % 3 == 0)
			set_used_event(h, (uint16_t)i);
		need = use_one(h);
		assert_int_equal(need, i % 3 == 0);
		irqs += need;
	}
	assert_int_equal(irqs, (WRAP_RUN + 2) / 3);
	assert_int_equal(h->q.stats.interrupts, (WRAP_RUN + 2) / 3);
	assert_int_equal(h->q.stats.interrupts_suppressed, WRAP_RUN - (WRAP_RUN + 2) / 3);
	assert_int_equal(used_idx(h), (uint16_t)WRAP_RUN);
}

/* A flush of several entries interrupts when used_event lies among them. */
static void h_irq_event_idx_batch(void **state)
{
	struct hq *h = hq_init(state, 8, F_EVT);
	struct vio_iov iov[4];
	struct vio_elem e[4];
	unsigned round, k;
	static const uint16_t event[3] = { 2, 9, 9 };
	static const bool expect[3] = { true, false, true };

	put_desc(h, 0, BUF(0), 8, VIO_DESC_F_WRITE, 0);
	for (round = 0; round < 3; round++) {
		for (k = 0; k < 4; k++) {
			publish(h, 0);
			elem_prepare(&e[k], NULL, 0, &iov[k], 1);
			assert_int_equal(vio_devq_pop(&h->q, &e[k]), 0);
			assert_int_equal(vio_devq_fill(&h->q, &e[k], 1), 0);
		}
		set_used_event(h, event[round]);
		assert_int_equal(vio_devq_flush(&h->q), 0);
		assert_int_equal(vio_devq_need_interrupt(&h->q), expect[round]);
	}
	assert_int_equal(h->q.stats.interrupts, 2);
	assert_int_equal(h->q.stats.interrupts_suppressed, 1);
}

/* ---- kicks --------------------------------------------------------------- */
static uint16_t avail_event_val(struct hq *h)
{
	return vio_get16(h->legacy, *avail_event(h));
}

static void h_kick_disable_sets_no_notify(void **state)
{
	struct hq *h = hq_init(state, 8, 0);

	vio_devq_kick_disable(&h->q);
	assert_int_equal(vio_get16(h->legacy, h->used->flags), VIO_USED_F_NO_NOTIFY);
	assert_true(vio_devq_kick_enable(&h->q));
	assert_int_equal(vio_get16(h->legacy, h->used->flags), 0);
}

static void h_kick_enable_false_when_avail_moved(void **state)
{
	struct hq *h = hq_init(state, 8, 0);

	put_desc(h, 0, BUF(0), 8, 0, 0);
	vio_devq_kick_disable(&h->q);
	publish(h, 0);
	assert_false(vio_devq_kick_enable(&h->q));
	pop_ok(h);
	assert_true(vio_devq_kick_enable(&h->q));
}

static void h_kick_event_idx_empty_pop_writes_avail_event(void **state)
{
	struct hq *h = hq_init(state, 8, F_EVT);

	put_desc(h, 0, BUF(0), 8, 0, 0);
	*avail_event(h) = vio_set16(h->legacy, 0x1234);
	assert_int_equal(vio_devq_pop(&h->q, &h->e), -EAGAIN);
	assert_int_equal(avail_event_val(h), 0);
	publish(h, 0);
	publish(h, 0);
	*avail_event(h) = vio_set16(h->legacy, 0x1234);
	pop_ok(h);
	pop_ok(h);
	/* A pop that found work asks for nothing. */
	assert_int_equal(avail_event_val(h), 0x1234);
	assert_int_equal(vio_devq_pop(&h->q, &h->e), -EAGAIN);
	assert_int_equal(avail_event_val(h), 2);
}

static void h_kick_event_idx_no_avail_event_while_disabled(void **state)
{
	struct hq *h = hq_init(state, 8, F_EVT);

	vio_devq_kick_disable(&h->q);
	*avail_event(h) = vio_set16(h->legacy, 0x1234);
	assert_int_equal(vio_devq_pop(&h->q, &h->e), -EAGAIN);
	assert_int_equal(avail_event_val(h), 0x1234);
	/* ... and kick_enable is what writes it. */
	assert_true(vio_devq_kick_enable(&h->q));
	assert_int_equal(avail_event_val(h), 0);
}

static void h_kick_event_idx_enable_writes_avail_event(void **state)
{
	struct hq *h = hq_init_at(state, 8, F_EVT, 65534, 0);

	put_desc(h, 0, BUF(0), 8, 0, 0);
	vio_devq_kick_disable(&h->q);
	for (unsigned i = 0; i < 3; i++)
		publish(h, 0);
	for (unsigned i = 0; i < 3; i++)
		pop_ok(h);
	*avail_event(h) = vio_set16(h->legacy, 0x1234);
	assert_true(vio_devq_kick_enable(&h->q));
	assert_int_equal(avail_event_val(h), 1); /* 65534 + 3, wrapped */
}

/* ---- device init --------------------------------------------------------- */
static void h_init_size_not_power_of_two(void **state)
{
	static const unsigned bad[] = { 3, 6, 12, 32767 };
	struct hq *h = hq_init(state, 8, 0);
	struct vio_devq q;

	for (unsigned i = 0; i < ARRAY_LEN(bad); i++) {
		struct vio_devq_config c = hq_cfg(h, 0, 0);

		c.size = bad[i];
		assert_int_equal(vio_devq_init(&q, &c), -EINVAL);
	}
}

/* An area contiguous in guest space but split across two host mappings
 * cannot be dereferenced as one: refuse it. */
static void h_init_area_across_two_regions(void **state)
{
	struct hq *h = hq_init(state, 8, 0);
	struct vio_devq_config c = hq_cfg(h, 0, 0);
	struct vio_devq q;

	c.addrs.desc = GB - 64;
	assert_int_equal(vio_devq_init(&q, &c), -EFAULT);
	c = hq_cfg(h, 0, 0);
	c.addrs.device = GB - 16;
	assert_int_equal(vio_devq_init(&q, &c), -EFAULT);
}

static void h_init_area_in_hole(void **state)
{
	struct hq *h = hq_init(state, 8, 0);
	struct vio_devq_config c = hq_cfg(h, 0, 0);
	struct vio_devq q;

	c.addrs.driver = GB + B_LEN;
	assert_int_equal(vio_devq_init(&q, &c), -EFAULT);
}

/* The guest address is aligned but the host mapping is not. */
static void h_init_desc_misaligned_on_host(void **state)
{
	struct hq *h = hq_init(state, 8, 0);
	struct vio_devq_config c = hq_cfg(h, 0, 0);
	struct vio_devq q;

	c.addrs.desc = GC;
	assert_int_equal(vio_devq_init(&q, &c), -EINVAL);
}

/* ---- the same rules in every split variant ------------------------------- */
/* The real driver against the device, in this variant's layout and byte
 * order, across several wraps of a small ring. */
static void v_real_driver_roundtrip(void **state)
{
	const struct variant *var = ((struct hq *)*state)->var;
	const struct vt_pair_opts o = { .legacy_layout = var->legacy_layout, .indirect_max = 4 };
	struct vt_pair p;
	struct vio_iov iov[4];
	struct vio_elem e;
	int tokens[3];
	unsigned k;

	assert_int_equal(vt_pair_init(&p, 4, var->features | F_IND | F_EVT, &o), 0);
	elem_prepare(&e, iov, 2, iov + 2, 2);
	for (k = 0; k < 40; k++) {
		const struct vio_sg out = vt_sg(&p, 0, 4);
		const struct vio_sg in[2] = { vt_sg(&p, 64, 4), vt_sg(&p, 128, 4) };
		const unsigned in_n = k % 2 ? 2 : 0;
		void *token;
		uint32_t len;

		/* Alternate direct (one segment) and indirect (three) chains. */
		assert_int_equal(vio_drvq_add(&p.drv, &out, 1, in, in_n, &tokens[k % 3]), 0);
		vio_drvq_kick_prepare(&p.drv);
		assert_int_equal(vio_devq_pop(&p.dev, &e), 0);
		assert_int_equal(e.out_len, 4);
		assert_int_equal(e.in_len, k % 2 ? 8 : 0);
		assert_int_equal(vio_devq_push(&p.dev, &e, e.in_len), 0);
		assert_true(vio_devq_need_interrupt(&p.dev));
		assert_int_equal(vio_drvq_get_buf(&p.drv, &token, &len), 0);
		assert_ptr_equal(token, &tokens[k % 3]);
		assert_int_equal(len, k % 2 ? 8 : 0);
	}
	assert_int_equal(p.dev.stats.interrupts, 40);
	/* The rings really were where this variant's layout puts them. */
	if (var->legacy_layout) {
		assert_int_equal(p.addrs.driver, p.addrs.desc + vio_split_desc_size(4));
		assert_int_equal(p.addrs.device, p.addrs.desc + VIO_LEGACY_VRING_ALIGN);
	}
	assert_int_equal(vio_get16(!vio_has_feature(p.features, VIO_F_VERSION_1), p.used->idx), 40);
	vt_pair_fini(&p);
}

/* A queue started again on the same memory (GET_VRING_BASE, then
 * SET_VRING_BASE) after one stopped with kicks off, its thread polling,
 * asks for kicks: with the old queue's NO_NOTIFY left in the ring the
 * driver never kicks, and a queue thread waiting for a kick sleeps for
 * good. */
static void h_restart_after_kick_disable_takes_kicks(void **state)
{
	struct hq *h = hq_init(state, 8, 0);
	struct vio_devq_config c;

	put_desc(h, 0, BUF(0), 8, 0, 0);
	publish(h, 0);
	pop_ok(h);
	assert_int_equal(vio_devq_push(&h->q, &h->e, 0), 0);
	vio_devq_kick_disable(&h->q);
	assert_int_equal(vio_get16(h->legacy, h->used->flags), VIO_USED_F_NO_NOTIFY);
	c = hq_cfg(h, vio_devq_avail_base(&h->q), vio_devq_used_base(&h->q));
	assert_true(c.resume);
	assert_int_equal(vio_devq_init(&h->q, &c), 0);
	assert_int_equal(vio_get16(h->legacy, h->used->flags), 0);
	/* And the new queue's kick_disable is not skipped as a repeat. */
	vio_devq_kick_disable(&h->q);
	assert_int_equal(vio_get16(h->legacy, h->used->flags), VIO_USED_F_NO_NOTIFY);
}

/* The same with EVENT_IDX: the old queue's avail_event, one behind the
 * position, would be passed only after 65535 more buffers. */
static void h_restart_after_kick_disable_takes_kicks_event_idx(void **state)
{
	struct hq *h = hq_init(state, 8, F_EVT);
	struct vio_devq_config c;

	put_desc(h, 0, BUF(0), 8, 0, 0);
	publish(h, 0);
	pop_ok(h);
	assert_int_equal(vio_devq_push(&h->q, &h->e, 0), 0);
	vio_devq_kick_disable(&h->q);
	assert_int_equal(avail_event_val(h), 0);
	c = hq_cfg(h, vio_devq_avail_base(&h->q), vio_devq_used_base(&h->q));
	assert_int_equal(vio_devq_init(&h->q, &c), 0);
	assert_int_equal(avail_event_val(h), 1);
}

static const struct vt_named_test hostile_tests[] = {
	HQ_TEST(h_push_writes_used_entry_and_index),
	HQ_TEST(h_fill_waits_for_flush),
	HQ_TEST(h_push_rejects_len_above_in_len),
	HQ_TEST(h_push_rejects_id_out_of_range),
	HQ_TEST(h_used_index_wraps),
	HQ_TEST(h_irq_no_interrupt_flag),
	HQ_TEST(h_irq_event_idx_ignores_flag),
	HQ_TEST(h_irq_event_idx_wraps),
	HQ_TEST(h_irq_event_idx_batch),
	HQ_TEST(h_kick_disable_sets_no_notify),
	HQ_TEST(h_kick_enable_false_when_avail_moved),
	HQ_TEST(h_kick_event_idx_empty_pop_writes_avail_event),
	HQ_TEST(h_kick_event_idx_no_avail_event_while_disabled),
	HQ_TEST(h_kick_event_idx_enable_writes_avail_event),
	HQ_TEST(h_restart_after_kick_disable_takes_kicks),
	HQ_TEST(h_restart_after_kick_disable_takes_kicks_event_idx),
	HQ_TEST(h_init_size_not_power_of_two),
	HQ_TEST(h_init_area_across_two_regions),
	HQ_TEST(h_init_area_in_hole),
	HQ_TEST(h_init_desc_misaligned_on_host),
	HQ_TEST(v_real_driver_roundtrip),
};

static const struct vt_named_test variant_tests[] = {
	HQ_TEST(h_push_writes_used_entry_and_index),
	HQ_TEST(h_irq_event_idx_batch),
	HQ_TEST(h_kick_event_idx_empty_pop_writes_avail_event),
	HQ_TEST(v_real_driver_roundtrip),
};

int main(void)
{
	return hq_run("devq_used", hostile_tests, ARRAY_LEN(hostile_tests), variant_tests,
		      ARRAY_LEN(variant_tests));
}
