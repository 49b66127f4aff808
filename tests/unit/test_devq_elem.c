/*
 * test_devq_elem.c - the split ring's device side pops well-formed chains:
 * the element it fills, spans across regions, queue-sized chains, and
 * indirect tables read in each of the three ways (in one region, across
 * regions, from a misaligned host mapping).
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

#define GE UINT64_C(0x300000000)

/* ---- the element ------------------------------------------------------- */
/* Heads and links out of order, a readable span crossing from A into B (two
 * spans), a writable one in C. */
static void h_pop_fills_element(void **state)
{
	struct hq *h = hq_init(state, 8, 0);

	put_desc(h, 5, BUF(0), 16, VIO_DESC_F_NEXT, 2);
	put_desc(h, 2, GB - 100, 300, VIO_DESC_F_NEXT, 7);
	put_desc(h, 7, GC + 8, 40, VIO_DESC_F_WRITE, 0);
	publish(h, 5);
	snapshot(h);
	pop_ok(h);
	assert_int_equal(h->e.id, 5);
	assert_int_equal(h->e.out_num, 3);
	assert_int_equal(h->e.in_num, 1);
	assert_int_equal(h->e.out_len, 316);
	assert_int_equal(h->e.in_len, 40);
	assert_span(&h->e.out[0], h->a.body + OFF_BUF, 16);
	assert_span(&h->e.out[1], h->a.body + A_LEN - 100, 100);
	assert_span(&h->e.out[2], h->b.body, 200);
	assert_span(&h->e.in[0], h->c.body + 8, 40);
	assert_untouched(h);
	assert_int_equal(vio_devq_pop(&h->q, &h->e), -EAGAIN);
}

static void h_pop_crossing_regions_gives_two_spans(void **state)
{
	struct hq *h = hq_init(state, 8, 0);

	put_desc(h, 0, GB - 1, 2, VIO_DESC_F_WRITE, 0);
	publish(h, 0);
	pop_ok(h);
	assert_int_equal(h->e.in_num, 2);
	assert_span(&h->e.in[0], h->a.body + A_LEN - 1, 1);
	assert_span(&h->e.in[1], h->b.body, 1);
	assert_int_equal(h->e.in_len, 2);
	assert_int_equal(h->e.out_num, 0);
}

static void h_pop_zero_length_descriptors(void **state)
{
	struct hq *h = hq_init(state, 8, 0);

	put_desc(h, 0, BUF(0), 0, VIO_DESC_F_NEXT, 1);
	put_desc(h, 1, BUF(64), 8, VIO_DESC_F_NEXT, 2);
	put_desc(h, 2, BUF(128), 0, VIO_DESC_F_WRITE | VIO_DESC_F_NEXT, 3);
	put_desc(h, 3, BUF(192), 4, VIO_DESC_F_WRITE, 0);
	publish(h, 0);
	pop_ok(h);
	assert_int_equal(h->e.out_len, 8);
	assert_int_equal(h->e.in_len, 4);
	assert_int_equal(vio_iov_length(h->e.out, h->e.out_num), 8);
	assert_int_equal(vio_iov_length(h->e.in, h->e.in_num), 4);
	assert_int_equal(vio_devq_push(&h->q, &h->e, 4), 0);
}

/* Descriptor and ring slots far from 0 in a big queue, each a distinct
 * buffer, so reading the wrong slot shows. */
static void h_pop_high_descriptor_indices(void **state)
{
	struct hq *h = hq_init(state, 512, 0);

	put_desc(h, 0, BUF(1024), 99, 0, 0);
	put_desc(h, 511, BUF(0), 11, VIO_DESC_F_NEXT, 300);
	put_desc(h, 300, BUF(100), 22, VIO_DESC_F_NEXT, 9);
	put_desc(h, 9, BUF(200), 33, VIO_DESC_F_WRITE, 0);
	for (unsigned i = 0; i < 300; i++)
		publish(h, 0);
	publish(h, 511);
	for (unsigned i = 0; i < 300; i++)
		pop_ok(h);
	pop_ok(h);
	assert_int_equal(h->e.id, 511);
	assert_int_equal(h->e.out_num, 2);
	assert_span(&h->e.out[0], h->a.body + OFF_BUF, 11);
	assert_span(&h->e.out[1], h->a.body + OFF_BUF + 100, 22);
	assert_span(&h->e.in[0], h->a.body + OFF_BUF + 200, 33);
}

/* A chain as long as the queue is not a loop. */
static void h_pop_chain_of_queue_size(void **state)
{
	struct hq *h = hq_init(state, 8, 0);

	/* 7 -> 6 -> ... -> 0: every descriptor once, linked backwards */
	for (unsigned i = 0; i < 8; i++)
		put_desc(h, 7 - i, BUF(16 * i), 16, i < 7 ? VIO_DESC_F_NEXT : 0, (uint16_t)(6 - i));
	publish(h, 7);
	pop_ok(h);
	assert_int_equal(h->e.out_num, 8);
	assert_int_equal(h->e.out_len, 128);
	assert_ptr_equal(h->e.out[7].base, h->a.body + OFF_BUF + 112);
}

/* The avail index may run exactly `size` ahead, also across its wrap. */
static void avail_full_case(void **state, uint16_t base)
{
	struct hq *h = hq_init_at(state, 8, 0, base, 0);

	put_desc(h, 3, BUF(0), 16, 0, 0);
	for (unsigned i = 0; i < 8; i++)
		publish(h, 3);
	for (unsigned i = 0; i < 8; i++) {
		pop_ok(h);
		assert_int_equal(h->e.id, 3);
	}
	assert_int_equal(vio_devq_pop(&h->q, &h->e), -EAGAIN);
	assert_int_equal(vio_devq_avail_base(&h->q), (uint16_t)(base + 8));
}

static void h_pop_avail_exactly_size_ahead(void **state)
{
	avail_full_case(state, 0);
}

static void h_pop_avail_exactly_size_ahead_across_wrap(void **state)
{
	avail_full_case(state, 65531);
}

/* Three adjacent one-page regions E0 E1 E2, each its own mapping. */
static void hq_add_three(struct hq *h)
{
	for (unsigned i = 0; i < 3; i++) {
		vt_guarded_map(&h->e3[i], PAGE, 0, false);
		uint64_t at = GE + (uint64_t)i * PAGE;

		assert_int_equal(vio_mem_add(&h->mem, at, PAGE, h->e3[i].body), 0);
	}
}

/* ---- indirect tables: all three ways the device may read one ----------- */
/* Posts a head whose indirect table at `table` holds out, out, in. */
static void indirect_shape(struct hq *h, uint64_t table)
{
	put_ind(h, table, 0, BUF(0), 10, VIO_DESC_F_NEXT, 2);
	put_ind(h, table, 2, GB - 4, 8, VIO_DESC_F_NEXT, 1);
	put_ind(h, table, 1, BUF(512), 20, VIO_DESC_F_WRITE, 0);
	put_desc(h, 4, table, 48, VIO_DESC_F_INDIRECT, 0);
	publish(h, 4);
	snapshot(h);
	pop_ok(h);
	assert_int_equal(h->e.id, 4);
	assert_int_equal(h->e.out_num, 3);
	assert_span(&h->e.out[0], h->a.body + OFF_BUF, 10);
	assert_span(&h->e.out[1], h->a.body + A_LEN - 4, 4);
	assert_span(&h->e.out[2], h->b.body, 4);
	assert_int_equal(h->e.in_num, 1);
	assert_span(&h->e.in[0], h->a.body + OFF_BUF + 512, 20);
	assert_int_equal(h->e.out_len, 18);
	assert_int_equal(h->e.in_len, 20);
	assert_untouched(h);
}

static void h_indirect_table_in_one_region(void **state)
{
	indirect_shape(hq_init(state, 8, F_IND), IND(0));
}

/* Read entry by entry through the region table (vio_mem_read). */
static void h_indirect_table_across_two_regions(void **state)
{
	indirect_shape(hq_init(state, 8, F_IND), GB - 16);
}

/* One region, but its host mapping is not 8-aligned: read by copying. */
static void h_indirect_table_in_misaligned_host_region(void **state)
{
	indirect_shape(hq_init(state, 8, F_IND), GC + 64);
}

/* A table wholly inside guest memory but spread over three regions (the
 * middle one smaller than the table) is as valid as any other. */
static void h_indirect_table_across_three_regions(void **state)
{
	struct hq *h = hq_init(state, 512, F_IND);
	const uint64_t table = GE + PAGE - 16;
	const unsigned last = (16 + PAGE + 16) / 16 - 1;

	hq_add_three(h);
	put_ind(h, table, 0, BUF(0), 10, VIO_DESC_F_NEXT, (uint16_t)last);
	put_ind(h, table, last, BUF(64), 20, VIO_DESC_F_NEXT, 1);
	put_ind(h, table, 1, BUF(128), 30, VIO_DESC_F_WRITE, 0);
	put_desc(h, 0, table, (last + 1) * 16, VIO_DESC_F_INDIRECT, 0);
	publish(h, 0);
	snapshot(h);
	pop_ok(h);
	assert_int_equal(h->e.out_num, 2);
	assert_span(&h->e.out[1], h->a.body + OFF_BUF + 64, 20);
	assert_int_equal(h->e.out_len, 30);
	assert_int_equal(h->e.in_len, 30);
	assert_untouched(h);
}

static void h_indirect_table_of_queue_size(void **state)
{
	struct hq *h = hq_init(state, 8, F_IND);

	for (unsigned i = 0; i < 8; i++)
		put_ind(h, IND(0), i, BUF(8 * i), 8, i < 7 ? VIO_DESC_F_NEXT : 0,
			(uint16_t)(i + 1));
	put_desc(h, 0, IND(0), 8 * 16, VIO_DESC_F_INDIRECT, 0);
	publish(h, 0);
	pop_ok(h);
	assert_int_equal(h->e.out_len, 64);
}

/* A device that promised longer requests (blk's seg_max) raises the limit
 * above the queue size: a table of that length pops, one more does not. */
static void raised_limit_case(void **state, unsigned entries, bool ok)
{
	struct hq *h = hq_init(state, 8, F_IND);
	struct vio_devq_config c = hq_cfg(h, 0, 0);

	c.indirect_max = 12;
	assert_int_equal(vio_devq_init(&h->q, &c), 0);
	for (unsigned i = 0; i < entries; i++)
		put_ind(h, IND(0), i, BUF(8 * i), 8, i + 1 < entries ? VIO_DESC_F_NEXT : 0,
			(uint16_t)(i + 1));
	put_desc(h, 0, IND(0), entries * 16, VIO_DESC_F_INDIRECT, 0);
	publish(h, 0);
	if (ok) {
		pop_ok(h);
		assert_int_equal(h->e.out_len, 8 * entries);
	} else {
		expect_stop(h, -EIO);
	}
}

static void h_indirect_table_of_raised_limit(void **state)
{
	raised_limit_case(state, 12, true);
}

static void h_bad_indirect_longer_than_raised_limit(void **state)
{
	raised_limit_case(state, 13, false);
}

static void h_indirect_limit_below_size_keeps_size(void **state)
{
	struct hq *h = hq_init(state, 8, F_IND);
	struct vio_devq_config c = hq_cfg(h, 0, 0);

	c.indirect_max = 2;
	assert_int_equal(vio_devq_init(&h->q, &c), 0);
	for (unsigned i = 0; i < 8; i++)
		put_ind(h, IND(0), i, BUF(8 * i), 8, i < 7 ? VIO_DESC_F_NEXT : 0,
			(uint16_t)(i + 1));
	put_desc(h, 0, IND(0), 8 * 16, VIO_DESC_F_INDIRECT, 0);
	publish(h, 0);
	pop_ok(h);
	c.indirect_max = VIO_SPLIT_MAX_SIZE + 1;
	assert_int_equal(vio_devq_init(&h->q, &c), -EINVAL);
}

static const struct vt_named_test hostile_tests[] = {
	HQ_TEST(h_pop_fills_element),
	HQ_TEST(h_pop_crossing_regions_gives_two_spans),
	HQ_TEST(h_pop_zero_length_descriptors),
	HQ_TEST(h_pop_high_descriptor_indices),
	HQ_TEST(h_pop_chain_of_queue_size),
	HQ_TEST(h_pop_avail_exactly_size_ahead),
	HQ_TEST(h_pop_avail_exactly_size_ahead_across_wrap),
	HQ_TEST(h_indirect_table_in_one_region),
	HQ_TEST(h_indirect_table_across_two_regions),
	HQ_TEST(h_indirect_table_in_misaligned_host_region),
	HQ_TEST(h_indirect_table_across_three_regions),
	HQ_TEST(h_indirect_table_of_queue_size),
	HQ_TEST(h_indirect_table_of_raised_limit),
	HQ_TEST(h_bad_indirect_longer_than_raised_limit),
	HQ_TEST(h_indirect_limit_below_size_keeps_size),
};

static const struct vt_named_test variant_tests[] = {
	HQ_TEST(h_pop_fills_element),
	HQ_TEST(h_indirect_table_across_two_regions),
};

int main(void)
{
	return hq_run("devq_elem", hostile_tests, ARRAY_LEN(hostile_tests), variant_tests,
		      ARRAY_LEN(variant_tests));
}
