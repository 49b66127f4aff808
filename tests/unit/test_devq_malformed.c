/*
 * test_devq_malformed.c - a hostile driver breaks one rule of the split ring
 * at a time (indices, chain order and flags, indirect table shape,
 * addresses, sizes), and the device side stops the queue with the errno
 * vio_devq_pop() documents, stays stopped, and touches nothing outside the
 * registered regions.
 *
 * Siblings, all in tests/unit/: test_devq_api.c (the public API on every
 * ring layout), test_devq_elem.c (well-formed chains and indirect tables),
 * test_devq_malformed.c (each broken rule of the split ring) and
 * test_devq_used.c (used ring, interrupts, kicks, init, split variants);
 * the hostile-driver fixture is devq_fixture.{c,h}. Packed-ring device
 * tests are in test_devq_packed*.c.
 */

#include "devq_fixture.h"

#define GD UINT64_C(0x200000000)

#define D_LEN UINT64_C(0x80000000)

/* The 2 GiB region D, for chains whose total passes 2^32 - 1. */
static void hq_add_big(struct hq *h)
{
	vt_guarded_map(&h->d, D_LEN, 0, true);
	assert_int_equal(vio_mem_add(&h->mem, GD, D_LEN, h->d.body), 0);
}

/* ---- malformed: indices -------------------------------------------------- */
static void h_bad_head_equal_to_size(void **state)
{
	struct hq *h = hq_init(state, 8, 0);

	put_desc(h, 0, BUF(0), 16, 0, 0);
	publish(h, 8);
	expect_stop(h, -EIO);
}

static void h_bad_head_0xffff(void **state)
{
	struct hq *h = hq_init(state, 8, 0);

	publish(h, 0xffff);
	expect_stop(h, -EIO);
}

static void h_bad_avail_idx_more_than_size_ahead(void **state)
{
	struct hq *h = hq_init(state, 8, 0);

	put_desc(h, 0, BUF(0), 16, 0, 0);
	set_avail_idx(h, 9);
	expect_stop(h, -EIO);
}

static void h_bad_avail_idx_behind(void **state)
{
	struct hq *h = hq_init_at(state, 8, 0, 100, 0);

	put_desc(h, 0, BUF(0), 16, 0, 0);
	set_avail_idx(h, 99); /* 65535 ahead, seen as unsigned 16-bit */
	expect_stop(h, -EIO);
}

static void h_bad_avail_idx_too_far_after_progress(void **state)
{
	struct hq *h = hq_init_at(state, 8, 0, 65530, 0);

	put_desc(h, 0, BUF(0), 16, 0, 0);
	publish(h, 0);
	pop_ok(h);
	set_avail_idx(h, (uint16_t)(65531 + 9)); /* wraps to 4 */
	expect_stop(h, -EIO);
}

static void h_bad_next_equal_to_size(void **state)
{
	struct hq *h = hq_init(state, 8, 0);

	put_desc(h, 0, BUF(0), 16, VIO_DESC_F_NEXT, 8);
	publish(h, 0);
	expect_stop(h, -EIO);
}

static void h_bad_chain_loop(void **state)
{
	struct hq *h = hq_init(state, 8, 0);

	put_desc(h, 1, BUF(0), 16, VIO_DESC_F_NEXT, 6);
	put_desc(h, 6, BUF(16), 16, VIO_DESC_F_NEXT, 1);
	publish(h, 1);
	expect_stop(h, -EIO);
}

static void h_bad_chain_self_loop(void **state)
{
	struct hq *h = hq_init(state, 8, 0);

	put_desc(h, 3, BUF(0), 0, VIO_DESC_F_NEXT, 3);
	publish(h, 3);
	expect_stop(h, -EIO);
}

/* The walk stops at `size` descriptors: the loop is reported as a loop,
 * before a span array that holds exactly `size` spans would run out. */
static void h_bad_chain_loop_caught_at_queue_size(void **state)
{
	struct hq *h = hq_init(state, 8, 0);

	put_desc(h, 3, BUF(0), 16, VIO_DESC_F_NEXT, 3);
	publish(h, 3);
	h->e.out_cap = 8;
	expect_stop(h, -EIO);
}

/* ---- malformed: order and flags ----------------------------------------- */
static void h_bad_readable_after_writable(void **state)
{
	struct hq *h = hq_init(state, 8, 0);

	put_desc(h, 0, BUF(0), 16, VIO_DESC_F_WRITE | VIO_DESC_F_NEXT, 1);
	put_desc(h, 1, BUF(16), 16, 0, 0);
	publish(h, 0);
	expect_stop(h, -EIO);
}

static void h_bad_readable_after_writable_in_indirect(void **state)
{
	struct hq *h = hq_init(state, 8, F_IND);

	put_ind(h, IND(0), 0, BUF(0), 16, VIO_DESC_F_NEXT, 1);
	put_ind(h, IND(0), 1, BUF(16), 16, VIO_DESC_F_WRITE | VIO_DESC_F_NEXT, 2);
	put_ind(h, IND(0), 2, BUF(32), 16, 0, 0);
	put_desc(h, 0, IND(0), 48, VIO_DESC_F_INDIRECT, 0);
	publish(h, 0);
	expect_stop(h, -EIO);
}

static void h_bad_indirect_not_negotiated(void **state)
{
	struct hq *h = hq_init(state, 8, 0);

	put_ind(h, IND(0), 0, BUF(0), 16, 0, 0);
	put_desc(h, 0, IND(0), 16, VIO_DESC_F_INDIRECT, 0);
	publish(h, 0);
	expect_stop(h, -EIO);
}

static void h_bad_indirect_with_next(void **state)
{
	struct hq *h = hq_init(state, 8, F_IND);

	put_ind(h, IND(0), 0, BUF(0), 16, 0, 0);
	put_desc(h, 0, IND(0), 16, VIO_DESC_F_INDIRECT | VIO_DESC_F_NEXT, 1);
	put_desc(h, 1, BUF(64), 16, 0, 0);
	publish(h, 0);
	expect_stop(h, -EIO);
}

static void h_bad_indirect_inside_indirect(void **state)
{
	struct hq *h = hq_init(state, 8, F_IND);

	put_ind(h, IND(256), 0, BUF(0), 16, 0, 0);
	put_ind(h, IND(0), 0, BUF(0), 16, VIO_DESC_F_NEXT, 1);
	put_ind(h, IND(0), 1, IND(256), 16, VIO_DESC_F_INDIRECT, 0);
	put_desc(h, 0, IND(0), 32, VIO_DESC_F_INDIRECT, 0);
	publish(h, 0);
	expect_stop(h, -EIO);
}

/* ---- malformed: indirect table shape ------------------------------------ */
static void indirect_len_case(void **state, uint32_t len)
{
	struct hq *h = hq_init(state, 8, F_IND);

	for (unsigned i = 0; i < 9; i++)
		put_ind(h, IND(0), i, BUF(0), 1, 0, 0);
	put_desc(h, 0, IND(0), len, VIO_DESC_F_INDIRECT, 0);
	publish(h, 0);
	expect_stop(h, -EIO);
}

static void h_bad_indirect_len_zero(void **state)
{
	indirect_len_case(state, 0);
}

static void h_bad_indirect_len_not_multiple_of_16(void **state)
{
	indirect_len_case(state, 24);
}

static void h_bad_indirect_longer_than_queue(void **state)
{
	indirect_len_case(state, 9 * 16);
}

static void h_bad_indirect_len_huge(void **state)
{
	indirect_len_case(state, 0xfffffff0u);
}

static void h_bad_indirect_next_beyond_table(void **state)
{
	struct hq *h = hq_init(state, 8, F_IND);

	put_ind(h, IND(0), 0, BUF(0), 16, VIO_DESC_F_NEXT, 2);
	put_ind(h, IND(0), 1, BUF(16), 16, 0, 0);
	put_ind(h, IND(0), 2, BUF(32), 16, 0, 0); /* there, but not in the table */
	put_desc(h, 0, IND(0), 32, VIO_DESC_F_INDIRECT, 0);
	publish(h, 0);
	expect_stop(h, -EIO);
}

static void h_bad_indirect_loop(void **state)
{
	struct hq *h = hq_init(state, 8, F_IND);

	put_ind(h, IND(0), 0, BUF(0), 16, VIO_DESC_F_NEXT, 1);
	put_ind(h, IND(0), 1, BUF(16), 16, VIO_DESC_F_NEXT, 0);
	put_desc(h, 0, IND(0), 32, VIO_DESC_F_INDIRECT, 0);
	publish(h, 0);
	expect_stop(h, -EIO);
}

static void h_bad_indirect_self_loop(void **state)
{
	struct hq *h = hq_init(state, 8, F_IND);

	put_ind(h, IND(0), 0, BUF(0), 0, VIO_DESC_F_NEXT, 0);
	put_desc(h, 0, IND(0), 64, VIO_DESC_F_INDIRECT, 0);
	publish(h, 0);
	expect_stop(h, -EIO);
}

static void h_bad_indirect_loop_caught_at_table_size(void **state)
{
	struct hq *h = hq_init(state, 8, F_IND);

	put_ind(h, IND(0), 0, BUF(0), 16, VIO_DESC_F_NEXT, 1);
	put_ind(h, IND(0), 1, BUF(16), 16, VIO_DESC_F_NEXT, 0);
	put_desc(h, 0, IND(0), 64, VIO_DESC_F_INDIRECT, 0);
	publish(h, 0);
	h->e.out_cap = 4;
	expect_stop(h, -EIO);
}

/* ---- malformed: addresses ----------------------------------------------- */
static void bad_addr_case(void **state, uint64_t addr, uint32_t len, uint16_t flags)
{
	struct hq *h = hq_init(state, 8, 0);

	put_desc(h, 0, BUF(0), 16, VIO_DESC_F_NEXT, 1);
	put_desc(h, 1, addr, len, flags, 0);
	publish(h, 0);
	expect_stop(h, -EFAULT);
}

static void h_bad_addr_just_below_first_region(void **state)
{
	bad_addr_case(state, GA - 16, 16, 0);
}

static void h_bad_addr_last_byte_below_first_region(void **state)
{
	bad_addr_case(state, GA - 1, 2, 0);
}

static void h_bad_addr_in_hole(void **state)
{
	bad_addr_case(state, GB + B_LEN + 16, 16, 0);
}

static void h_bad_addr_runs_into_hole(void **state)
{
	bad_addr_case(state, GB + B_LEN - 8, 16, VIO_DESC_F_WRITE);
}

static void h_bad_addr_runs_past_the_end(void **state)
{
	bad_addr_case(state, GC + C_LEN - 8, 16, VIO_DESC_F_WRITE);
}

static void h_bad_addr_starts_at_the_end(void **state)
{
	bad_addr_case(state, GC + C_LEN, 1, 0);
}

static void h_bad_addr_wraps_past_2_64(void **state)
{
	bad_addr_case(state, UINT64_MAX - 15, 32, 0);
}

static void h_bad_addr_wraps_onto_first_region(void **state)
{
	/* addr + len wraps to exactly GA + 16: a sum that forgets the carry
	 * would land inside A. */
	bad_addr_case(state, UINT64_MAX - 0xfff, (uint32_t)(GA + 16 + 0x1000), VIO_DESC_F_WRITE);
}

static void bad_indirect_table_case(void **state, uint64_t table, uint32_t len)
{
	struct hq *h = hq_init(state, 8, F_IND);

	put_desc(h, 0, table, len, VIO_DESC_F_INDIRECT, 0);
	publish(h, 0);
	expect_stop(h, -EFAULT);
}

static void h_bad_indirect_table_below_first_region(void **state)
{
	bad_indirect_table_case(state, GA - 32, 32);
}

static void h_bad_indirect_table_runs_into_hole(void **state)
{
	bad_indirect_table_case(state, GB + B_LEN - 16, 32);
}

static void h_bad_indirect_table_past_the_end(void **state)
{
	bad_indirect_table_case(state, GC + C_LEN - 16, 32);
}

static void h_bad_indirect_table_wraps(void **state)
{
	bad_indirect_table_case(state, UINT64_MAX - 15, 32);
}

static void h_bad_indirect_entry_addr_outside(void **state)
{
	struct hq *h = hq_init(state, 8, F_IND);

	put_ind(h, IND(0), 0, BUF(0), 16, VIO_DESC_F_NEXT, 1);
	put_ind(h, IND(0), 1, GC + C_LEN, 16, VIO_DESC_F_WRITE, 0);
	put_desc(h, 0, IND(0), 32, VIO_DESC_F_INDIRECT, 0);
	publish(h, 0);
	expect_stop(h, -EFAULT);
}

/* ---- malformed: sizes ---------------------------------------------------- */
/* Two descriptors that each fit a region but together pass 2^32 - 1. The
 * region behind them is never accessible: pop must not touch buffers. */
static void h_bad_chain_total_above_4g(void **state)
{
	struct hq *h = hq_init(state, 8, 0);

	hq_add_big(h);
	put_desc(h, 0, GD, 0x80000000u, VIO_DESC_F_NEXT, 1);
	put_desc(h, 1, GD, 0x80000000u, VIO_DESC_F_WRITE, 0);
	publish(h, 0);
	expect_stop(h, -EIO);
}

static void h_bad_chain_total_above_4g_in_indirect(void **state)
{
	struct hq *h = hq_init(state, 8, F_IND);

	hq_add_big(h);
	put_ind(h, IND(0), 0, GD, 0x80000000u, VIO_DESC_F_NEXT, 1);
	put_ind(h, IND(0), 1, GD, 0x7fffffffu, VIO_DESC_F_NEXT, 2);
	put_ind(h, IND(0), 2, BUF(0), 1, VIO_DESC_F_NEXT, 3);
	put_ind(h, IND(0), 3, BUF(8), 1, 0, 0);
	put_desc(h, 0, IND(0), 64, VIO_DESC_F_INDIRECT, 0);
	publish(h, 0);
	expect_stop(h, -EIO);
}

static void h_chain_total_of_4g_minus_1_is_fine(void **state)
{
	struct hq *h = hq_init(state, 8, 0);

	hq_add_big(h);
	put_desc(h, 0, GD, 0x80000000u, VIO_DESC_F_NEXT, 1);
	put_desc(h, 1, GD + 1, 0x7fffffffu, VIO_DESC_F_WRITE, 0);
	publish(h, 0);
	pop_ok(h);
	assert_int_equal(h->e.out_len, 0x80000000u);
	assert_int_equal(h->e.in_len, 0x7fffffffu);
	assert_span(&h->e.in[0], h->d.body + 1, 0x7fffffffu);
	assert_true(vt_guarded_canaries_ok(&h->d));
}

static void h_bad_more_spans_than_out_cap(void **state)
{
	struct hq *h = hq_init(state, 8, 0);

	put_desc(h, 0, BUF(0), 16, VIO_DESC_F_NEXT, 1);
	put_desc(h, 1, BUF(16), 16, VIO_DESC_F_NEXT, 2);
	put_desc(h, 2, BUF(32), 16, 0, 0);
	publish(h, 0);
	h->e.out_cap = 2;
	expect_stop(h, -ENOBUFS);
}

static void h_bad_more_spans_than_in_cap(void **state)
{
	struct hq *h = hq_init(state, 8, 0);

	put_desc(h, 0, BUF(0), 16, VIO_DESC_F_WRITE | VIO_DESC_F_NEXT, 1);
	put_desc(h, 1, BUF(16), 16, VIO_DESC_F_WRITE, 0);
	publish(h, 0);
	h->e.in_cap = 1;
	expect_stop(h, -ENOBUFS);
}

/* One descriptor, but it crosses two regions: two spans for a cap of one. */
static void h_bad_region_crossing_needs_a_second_span(void **state)
{
	struct hq *h = hq_init(state, 8, 0);

	put_desc(h, 0, GB - 8, 16, 0, 0);
	publish(h, 0);
	h->e.out_cap = 1;
	expect_stop(h, -ENOBUFS);
}

static void h_bad_more_spans_than_cap_in_indirect(void **state)
{
	struct hq *h = hq_init(state, 8, F_IND);

	put_ind(h, IND(0), 0, BUF(0), 16, VIO_DESC_F_WRITE | VIO_DESC_F_NEXT, 1);
	put_ind(h, IND(0), 1, BUF(16), 16, VIO_DESC_F_WRITE | VIO_DESC_F_NEXT, 2);
	put_ind(h, IND(0), 2, BUF(32), 16, VIO_DESC_F_WRITE, 0);
	put_desc(h, 0, IND(0), 48, VIO_DESC_F_INDIRECT, 0);
	publish(h, 0);
	h->e.in_cap = 2;
	expect_stop(h, -ENOBUFS);
}

static const struct vt_named_test hostile_tests[] = {
	HQ_TEST(h_bad_head_equal_to_size),
	HQ_TEST(h_bad_head_0xffff),
	HQ_TEST(h_bad_avail_idx_more_than_size_ahead),
	HQ_TEST(h_bad_avail_idx_behind),
	HQ_TEST(h_bad_avail_idx_too_far_after_progress),
	HQ_TEST(h_bad_next_equal_to_size),
	HQ_TEST(h_bad_chain_loop),
	HQ_TEST(h_bad_chain_self_loop),
	HQ_TEST(h_bad_chain_loop_caught_at_queue_size),
	HQ_TEST(h_bad_readable_after_writable),
	HQ_TEST(h_bad_readable_after_writable_in_indirect),
	HQ_TEST(h_bad_indirect_not_negotiated),
	HQ_TEST(h_bad_indirect_with_next),
	HQ_TEST(h_bad_indirect_inside_indirect),
	HQ_TEST(h_bad_indirect_len_zero),
	HQ_TEST(h_bad_indirect_len_not_multiple_of_16),
	HQ_TEST(h_bad_indirect_longer_than_queue),
	HQ_TEST(h_bad_indirect_len_huge),
	HQ_TEST(h_bad_indirect_next_beyond_table),
	HQ_TEST(h_bad_indirect_loop),
	HQ_TEST(h_bad_indirect_self_loop),
	HQ_TEST(h_bad_indirect_loop_caught_at_table_size),
	HQ_TEST(h_bad_addr_just_below_first_region),
	HQ_TEST(h_bad_addr_last_byte_below_first_region),
	HQ_TEST(h_bad_addr_in_hole),
	HQ_TEST(h_bad_addr_runs_into_hole),
	HQ_TEST(h_bad_addr_runs_past_the_end),
	HQ_TEST(h_bad_addr_starts_at_the_end),
	HQ_TEST(h_bad_addr_wraps_past_2_64),
	HQ_TEST(h_bad_addr_wraps_onto_first_region),
	HQ_TEST(h_bad_indirect_table_below_first_region),
	HQ_TEST(h_bad_indirect_table_runs_into_hole),
	HQ_TEST(h_bad_indirect_table_past_the_end),
	HQ_TEST(h_bad_indirect_table_wraps),
	HQ_TEST(h_bad_indirect_entry_addr_outside),
	HQ_TEST(h_bad_chain_total_above_4g),
	HQ_TEST(h_bad_chain_total_above_4g_in_indirect),
	HQ_TEST(h_chain_total_of_4g_minus_1_is_fine),
	HQ_TEST(h_bad_more_spans_than_out_cap),
	HQ_TEST(h_bad_more_spans_than_in_cap),
	HQ_TEST(h_bad_region_crossing_needs_a_second_span),
	HQ_TEST(h_bad_more_spans_than_cap_in_indirect),
};

static const struct vt_named_test variant_tests[] = {
	HQ_TEST(h_bad_head_equal_to_size),
	HQ_TEST(h_bad_chain_loop),
	HQ_TEST(h_bad_addr_just_below_first_region),
};

int main(void)
{
	return hq_run("devq_malformed", hostile_tests, ARRAY_LEN(hostile_tests), variant_tests,
		      ARRAY_LEN(variant_tests));
}
