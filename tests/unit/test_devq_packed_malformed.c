/*
 * test_devq_packed_malformed.c - a hostile driver breaks one rule of the
 * packed ring at a time (availability and wrap bits, buffer ids, indirect
 * descriptors, order, addresses, span capacity, sizes), and the device side
 * stops the queue and touches nothing it should not.
 *
 * Siblings, all in tests/unit/: test_devq_packed_elem.c (well-formed
 * chains), test_devq_packed_malformed.c (each broken rule),
 * test_devq_packed_used.c (used descriptors, event structures, resume),
 * test_devq_in_order.c (IN_ORDER batches on both layouts); the packed
 * fixture is devq_packed_fixture.{c,h}. The split ring's device tests are
 * test_devq_{api,elem,malformed,used}.c.
 */

#include "devq_packed_fixture.h"

#define GD UINT64_C(0x400000000)

#define D_LEN UINT64_C(0x80000000)

/* The 2 GiB region D, for chains whose total passes 2^32 - 1. */
static void pq_add_big(struct pq *h)
{
	vt_guarded_map(&h->d, D_LEN, 0, true);
	assert_int_equal(vio_mem_add(&h->mem, GD, D_LEN, h->d.body), 0);
}

/*
 * The heart of the malformed-ring tests: pop fails with `err`, the queue is
 * stopped with a reason, and guest memory is untouched, inside the regions
 * and out. Then the stop must be sticky: once the driver "repairs" the ring
 * with a good buffer at the device's position, pop keeps failing the same
 * way, nothing else acts, nothing is counted and nothing is written.
 */
static void expect_stop(struct pq *h, int err)
{
	struct vio_ring_stats before;
	const char *why;
	uint16_t base;

	snapshot(h);
	assert_int_equal(vio_devq_pop(&h->q, &h->e), err);
	assert_true(vio_devq_is_stopped(&h->q));
	why = vio_devq_error(&h->q);
	assert_non_null(why);
	assert_true(why[0] != '\0');
	assert_untouched(h);

	base = vio_devq_avail_base(&h->q);
	h->ring[base & ~WRAP].addr = vio_set64(false, BUF(0));
	h->ring[base & ~WRAP].len = vio_set32(false, 16);
	h->ring[base & ~WRAP].id = vio_set16(false, 0);
	ring_set_flags(h, base & ~WRAP, avail_bits(base & WRAP));
	h->e.out_cap = h->e.in_cap = IOVS;
	before = h->q.stats;
	snapshot(h);

	assert_int_equal(vio_devq_pop(&h->q, &h->e), err);
	assert_int_equal(vio_devq_pop(&h->q, &h->e), err);
	assert_ptr_equal(vio_devq_error(&h->q), why);
	assert_false(vio_devq_has_avail(&h->q));
	assert_true(vio_devq_push(&h->q, &h->e, 0) < 0);
	assert_true(vio_devq_fill(&h->q, &h->e, 0) < 0);
	assert_true(vio_devq_fill_in_order(&h->q, &h->e, 0) < 0);
	assert_true(vio_devq_flush(&h->q) < 0);
	assert_false(vio_devq_need_interrupt(&h->q));
	assert_memory_equal(&h->q.stats, &before, sizeof(before));
	assert_int_equal(vio_devq_avail_base(&h->q), base);
	assert_untouched(h);
}

/* ---- malformed: availability and wrap bits ------------------------------ */
/* Both bits at the device's wrap counter: a used descriptor where the
 * device has not been yet. No driver writes that. */
static void p_bad_head_used_bits_at_wrap_1(void **state)
{
	struct pq *h = pq_new(state, 8, 0);

	drv_post1(h, BUF(0), 16, 0, 0);
	ring_set_flags(h, 0, D_AVAIL | D_USED);
	expect_stop(h, -EIO);
}

/* The same at wrap 0, where "both bits equal" means both clear. */
static void p_bad_head_used_bits_at_wrap_0(void **state)
{
	struct pq *h = pq_new_at(state, 8, 0, enc(3, false));

	drv_post1(h, BUF(0), 16, 0, 0);
	ring_set_flags(h, 3, 0);
	expect_stop(h, -EIO);
}

/* Avail bits of the other lap: not available yet. Not an error. */
static void not_available_case(struct pq *h, unsigned pos, bool wrap)
{
	drv_post1(h, BUF(0), 16, 0, 2);
	ring_set_flags(h, pos, avail_bits(!wrap));
	snapshot(h);
	assert_int_equal(vio_devq_pop(&h->q, &h->e), -EAGAIN);
	assert_int_equal(vio_devq_pop(&h->q, &h->e), -EAGAIN);
	assert_false(vio_devq_has_avail(&h->q));
	assert_false(vio_devq_is_stopped(&h->q));
	assert_null(vio_devq_error(&h->q));
	assert_untouched(h);
	/* Once the driver really makes it available, it is popped. */
	ring_set_flags(h, pos, avail_bits(wrap));
	assert_true(vio_devq_has_avail(&h->q));
	pop_ok(h);
	assert_int_equal(h->e.id, 2);
}

static void p_head_with_wrong_wrap_is_eagain(void **state)
{
	not_available_case(pq_new(state, 8, 0), 0, true);
}

static void p_head_with_wrong_wrap_is_eagain_at_wrap_0(void **state)
{
	not_available_case(pq_new_at(state, 8, 0, enc(5, false)), 5, false);
}

/* A chain whose second descriptor the driver never made available. */
static void p_bad_chain_runs_past_available(void **state)
{
	struct pq *h = pq_new(state, 8, 0);

	drv_post1(h, BUF(0), 16, D_NEXT, 0);
	expect_stop(h, -EIO);
}

/* ... or made available for the wrong lap. */
static void p_bad_chain_next_with_wrong_wrap(void **state)
{
	struct pq *h = pq_new(state, 8, 0);
	static const struct pd chain[2] = { { BUF(0), 16, 0, 0 }, { BUF(16), 16, 0, 0 } };

	drv_post(h, chain, 2, true, 1);
	ring_set_flags(h, 1, avail_bits(false));
	expect_stop(h, -EIO);
}

/* A chain across the end of the ring whose driver forgot to flip its wrap
 * counter: the descriptors past the end are not available. */
static void p_bad_chain_wrap_not_flipped_at_ring_end(void **state)
{
	struct pq *h = pq_new_at(state, 8, 0, enc(7, true));
	static const struct pd chain[2] = { { BUF(0), 16, 0, 0 }, { BUF(16), 16, 0, 0 } };

	drv_post(h, chain, 2, true, 1);
	ring_set_flags(h, 0, avail_bits(true));
	expect_stop(h, -EIO);
}

/* Every descriptor available and linked by NEXT: a chain longer than the
 * ring, which must stop before coming back to the head. */
static void longer_than_ring_case(void **state, unsigned size, unsigned start)
{
	struct pq *h = pq_new_at(state, size, 0, enc(start, true));
	struct pd chain[8];

	assert_true(size <= ARRAY_LEN(chain));
	for (unsigned k = 0; k < size; k++)
		chain[k] = (struct pd){ BUF(16 * k), 16, D_NEXT, 0 };
	drv_post(h, chain, size, false, 0);
	expect_stop(h, -EIO);
}

static void p_bad_chain_longer_than_the_ring(void **state)
{
	longer_than_ring_case(state, 8, 0);
}

/*
 * The ring-length limit is a rule of its own, not a side effect of the
 * availability check: single-threaded, a chain that comes back to its head
 * also finds it "not available" in the next lap, but a driver racing the
 * device can flip the head's bits meanwhile and, with zero-length
 * descriptors, keep the walk going forever. So the reason must name the
 * length, not availability.
 */
static void p_bad_chain_longer_than_the_ring_says_so(void **state)
{
	struct pq *h;
	char why[128];

	longer_than_ring_case(state, 8, 0);
	h = *state;
	snprintf(why, sizeof(why), "%s", vio_devq_error(&h->q));
	/* The same ring, stopped by a chain that runs past the available
	 * descriptors instead. */
	pq_restart(h, false, enc(0, true));
	drv_post1(h, BUF(0), 0, D_NEXT, 0);
	assert_int_equal(vio_devq_pop(&h->q, &h->e), -EIO);
	assert_string_not_equal(why, vio_devq_error(&h->q));
}

static void p_bad_chain_longer_than_the_ring_across_wrap(void **state)
{
	longer_than_ring_case(state, 8, 3);
}

static void p_bad_chain_longer_than_a_ring_of_one(void **state)
{
	longer_than_ring_case(state, 1, 0);
}

/* ---- malformed: buffer ids ----------------------------------------------- */
static void p_bad_buffer_id_equal_to_size(void **state)
{
	struct pq *h = pq_new(state, 8, 0);

	drv_post1(h, BUF(0), 16, 0, 8);
	expect_stop(h, -EIO);
}

static void p_bad_buffer_id_0xffff(void **state)
{
	struct pq *h = pq_new(state, 8, 0);

	drv_post1(h, BUF(0), 16, 0, 0xffff);
	expect_stop(h, -EIO);
}

/* The last descriptor's id counts, even when an earlier one is valid. */
static void p_bad_buffer_id_in_last_descriptor(void **state)
{
	static const struct pd chain[2] = { { BUF(0), 16, D_NEXT, 1 }, { BUF(16), 16, 0, 8 } };
	struct pq *h = pq_new(state, 8, 0);

	drv_post(h, chain, 2, false, 0);
	expect_stop(h, -EIO);
}

static void p_bad_buffer_id_of_indirect_descriptor(void **state)
{
	struct pq *h = pq_new(state, 8, F_IND);

	ind_put(h, IND(0), 0, BUF(0), 16, 0, 0);
	drv_post1(h, IND(0), 16, D_IND, 8);
	expect_stop(h, -EIO);
}

/* ---- malformed: indirect ------------------------------------------------- */
static void p_bad_indirect_not_negotiated(void **state)
{
	struct pq *h = pq_new(state, 8, 0);

	ind_put(h, IND(0), 0, BUF(0), 16, 0, 0);
	drv_post1(h, IND(0), 16, D_IND, 0);
	expect_stop(h, -EIO);
}

static void p_bad_indirect_with_next(void **state)
{
	struct pq *h = pq_new(state, 8, F_IND);
	const struct pd chain[2] = { { IND(0), 16, D_IND | D_NEXT, 0 }, { BUF(64), 16, 0, 0 } };

	ind_put(h, IND(0), 0, BUF(0), 16, 0, 0);
	drv_post(h, chain, 2, false, 0);
	expect_stop(h, -EIO);
}

/* Packed allows an indirect descriptor only as a chain of its own. */
static void p_bad_indirect_not_first_in_chain(void **state)
{
	struct pq *h = pq_new(state, 8, F_IND);
	const struct pd chain[2] = { { BUF(64), 16, 0, 0 }, { IND(0), 16, D_IND, 0 } };

	ind_put(h, IND(0), 0, BUF(0), 16, 0, 0);
	drv_post(h, chain, 2, true, 0);
	expect_stop(h, -EIO);
}

static void p_bad_indirect_inside_indirect(void **state)
{
	struct pq *h = pq_new(state, 8, F_IND);

	ind_put(h, IND(256), 0, BUF(0), 16, 0, 0);
	ind_put(h, IND(0), 0, BUF(0), 16, 0, 0);
	ind_put(h, IND(0), 1, IND(256), 16, D_IND, 0);
	drv_post1(h, IND(0), 32, D_IND, 0);
	expect_stop(h, -EIO);
}

static void indirect_len_case(void **state, uint32_t len)
{
	struct pq *h = pq_new(state, 8, F_IND);

	for (unsigned i = 0; i < 9; i++)
		ind_put(h, IND(0), i, BUF(0), 1, 0, 0);
	drv_post1(h, IND(0), len, D_IND, 0);
	expect_stop(h, -EIO);
}

static void p_bad_indirect_len_zero(void **state)
{
	indirect_len_case(state, 0);
}

static void p_bad_indirect_len_not_multiple_of_16(void **state)
{
	indirect_len_case(state, 24);
}

static void p_bad_indirect_longer_than_queue(void **state)
{
	indirect_len_case(state, 9 * 16);
}

static void p_bad_indirect_len_huge(void **state)
{
	indirect_len_case(state, 0xfffffff0u);
}

/* ---- malformed: order ---------------------------------------------------- */
static void p_bad_readable_after_writable(void **state)
{
	static const struct pd chain[2] = { { BUF(0), 16, D_WRITE, 0 }, { BUF(16), 16, 0, 0 } };
	struct pq *h = pq_new(state, 8, 0);

	drv_post(h, chain, 2, true, 0);
	expect_stop(h, -EIO);
}

static void p_bad_readable_after_writable_in_table(void **state)
{
	struct pq *h = pq_new(state, 8, F_IND);

	ind_put(h, IND(0), 0, BUF(0), 16, 0, 0);
	ind_put(h, IND(0), 1, BUF(16), 16, D_WRITE, 0);
	ind_put(h, IND(0), 2, BUF(32), 16, 0, 0);
	drv_post1(h, IND(0), 48, D_IND, 0);
	expect_stop(h, -EIO);
}

/* ---- malformed: addresses ----------------------------------------------- */
/* A good descriptor, then one at addr/len. */
static void bad_addr_case(void **state, uint64_t addr, uint32_t len, uint16_t flags)
{
	struct pq *h = pq_new(state, 8, 0);
	const struct pd chain[2] = { { BUF(0), 16, 0, 0 }, { addr, len, flags, 0 } };

	drv_post(h, chain, 2, true, 0);
	expect_stop(h, -EFAULT);
}

static void p_bad_addr_below_first_region(void **state)
{
	bad_addr_case(state, GA - 16, 16, 0);
}

static void p_bad_addr_in_hole(void **state)
{
	bad_addr_case(state, GB + B_LEN + 16, 16, D_WRITE);
}

static void p_bad_addr_runs_into_hole(void **state)
{
	bad_addr_case(state, GB + B_LEN - 8, 16, D_WRITE);
}

static void p_bad_addr_runs_past_the_end(void **state)
{
	bad_addr_case(state, GC + C_LEN - 8, 16, 0);
}

static void p_bad_addr_wraps_past_2_64(void **state)
{
	bad_addr_case(state, UINT64_MAX - 15, 32, 0);
}

static void bad_table_case(void **state, uint64_t table, uint32_t len)
{
	struct pq *h = pq_new(state, 8, F_IND);

	drv_post1(h, table, len, D_IND, 0);
	expect_stop(h, -EFAULT);
}

static void p_bad_indirect_table_below_first_region(void **state)
{
	bad_table_case(state, GA - 32, 32);
}

static void p_bad_indirect_table_runs_into_hole(void **state)
{
	bad_table_case(state, GB + B_LEN - 16, 32);
}

static void p_bad_indirect_table_wraps_past_2_64(void **state)
{
	bad_table_case(state, UINT64_MAX - 15, 32);
}

static void p_bad_indirect_entry_addr_outside(void **state)
{
	struct pq *h = pq_new(state, 8, F_IND);

	ind_put(h, IND(0), 0, BUF(0), 16, 0, 0);
	ind_put(h, IND(0), 1, GC + C_LEN, 16, D_WRITE, 0);
	drv_post1(h, IND(0), 32, D_IND, 0);
	expect_stop(h, -EFAULT);
}

/* ---- malformed: span capacity -------------------------------------------- */
static void p_bad_more_spans_than_out_cap(void **state)
{
	static const struct pd chain[3] = {
		{ BUF(0), 16, 0, 0 }, { BUF(16), 16, 0, 0 }, { BUF(32), 16, 0, 0 },
	};
	struct pq *h = pq_new(state, 8, 0);

	drv_post(h, chain, 3, true, 0);
	h->e.out_cap = 2;
	expect_stop(h, -ENOBUFS);
}

static void p_bad_more_spans_than_in_cap(void **state)
{
	static const struct pd chain[2] = { { BUF(0), 16, D_WRITE, 0 }, { BUF(16), 16, D_WRITE, 0 } };
	struct pq *h = pq_new(state, 8, 0);

	drv_post(h, chain, 2, true, 0);
	h->e.in_cap = 1;
	expect_stop(h, -ENOBUFS);
}

/* One descriptor, but it crosses from A into B: two spans for a cap of 1. */
static void p_bad_region_crossing_needs_a_second_span(void **state)
{
	struct pq *h = pq_new(state, 8, 0);

	drv_post1(h, GB - 8, 16, 0, 0);
	h->e.out_cap = 1;
	expect_stop(h, -ENOBUFS);
}

static void p_bad_more_spans_than_cap_in_table(void **state)
{
	struct pq *h = pq_new(state, 8, F_IND);

	for (unsigned i = 0; i < 3; i++)
		ind_put(h, IND(0), i, BUF(16 * i), 16, D_WRITE, 0);
	drv_post1(h, IND(0), 48, D_IND, 0);
	h->e.in_cap = 2;
	expect_stop(h, -ENOBUFS);
}

/* ---- malformed: sizes ---------------------------------------------------- */
/* Two descriptors in D that together pass 2^32 - 1. D is inaccessible: a
 * pop that touched the buffers would fault. */
static void p_bad_chain_total_above_4g(void **state)
{
	static const struct pd chain[2] = {
		{ GD, 0x80000000u, 0, 0 }, { GD, 0x80000000u, D_WRITE, 0 },
	};
	struct pq *h = pq_new(state, 8, 0);

	pq_add_big(h);
	drv_post(h, chain, 2, true, 0);
	expect_stop(h, -EIO);
}

static void p_bad_chain_total_above_4g_in_table(void **state)
{
	struct pq *h = pq_new(state, 8, F_IND);

	pq_add_big(h);
	ind_put(h, IND(0), 0, GD, 0x80000000u, 0, 0);
	ind_put(h, IND(0), 1, GD, 0x7fffffffu, 0, 0);
	ind_put(h, IND(0), 2, BUF(0), 1, D_WRITE, 0);
	drv_post1(h, IND(0), 48, D_IND, 0);
	expect_stop(h, -EIO);
}

static void p_chain_total_of_4g_minus_1_is_fine(void **state)
{
	static const struct pd chain[2] = {
		{ GD, 0x80000000u, 0, 0 }, { GD + 1, 0x7fffffffu, D_WRITE, 0 },
	};
	struct pq *h = pq_new(state, 8, 0);

	pq_add_big(h);
	drv_post(h, chain, 2, true, 3);
	pop_ok(h);
	assert_int_equal(h->e.id, 3);
	assert_int_equal(h->e.out_len, 0x80000000u);
	assert_int_equal(h->e.in_len, 0x7fffffffu);
	assert_span(&h->e.in[0], h->d.body + 1, 0x7fffffffu);
	assert_true(vt_guarded_canaries_ok(&h->d));
}

static const struct vt_named_test packed_tests[] = {
	P_TEST(p_bad_head_used_bits_at_wrap_1),
	P_TEST(p_bad_head_used_bits_at_wrap_0),
	P_TEST(p_head_with_wrong_wrap_is_eagain),
	P_TEST(p_head_with_wrong_wrap_is_eagain_at_wrap_0),
	P_TEST(p_bad_chain_runs_past_available),
	P_TEST(p_bad_chain_next_with_wrong_wrap),
	P_TEST(p_bad_chain_wrap_not_flipped_at_ring_end),
	P_TEST(p_bad_chain_longer_than_the_ring),
	P_TEST(p_bad_chain_longer_than_the_ring_says_so),
	P_TEST(p_bad_chain_longer_than_the_ring_across_wrap),
	P_TEST(p_bad_chain_longer_than_a_ring_of_one),
	P_TEST(p_bad_buffer_id_equal_to_size),
	P_TEST(p_bad_buffer_id_0xffff),
	P_TEST(p_bad_buffer_id_in_last_descriptor),
	P_TEST(p_bad_buffer_id_of_indirect_descriptor),
	P_TEST(p_bad_indirect_not_negotiated),
	P_TEST(p_bad_indirect_with_next),
	P_TEST(p_bad_indirect_not_first_in_chain),
	P_TEST(p_bad_indirect_inside_indirect),
	P_TEST(p_bad_indirect_len_zero),
	P_TEST(p_bad_indirect_len_not_multiple_of_16),
	P_TEST(p_bad_indirect_longer_than_queue),
	P_TEST(p_bad_indirect_len_huge),
	P_TEST(p_bad_readable_after_writable),
	P_TEST(p_bad_readable_after_writable_in_table),
	P_TEST(p_bad_addr_below_first_region),
	P_TEST(p_bad_addr_in_hole),
	P_TEST(p_bad_addr_runs_into_hole),
	P_TEST(p_bad_addr_runs_past_the_end),
	P_TEST(p_bad_addr_wraps_past_2_64),
	P_TEST(p_bad_indirect_table_below_first_region),
	P_TEST(p_bad_indirect_table_runs_into_hole),
	P_TEST(p_bad_indirect_table_wraps_past_2_64),
	P_TEST(p_bad_indirect_entry_addr_outside),
	P_TEST(p_bad_more_spans_than_out_cap),
	P_TEST(p_bad_more_spans_than_in_cap),
	P_TEST(p_bad_region_crossing_needs_a_second_span),
	P_TEST(p_bad_more_spans_than_cap_in_table),
	P_TEST(p_bad_chain_total_above_4g),
	P_TEST(p_bad_chain_total_above_4g_in_table),
	P_TEST(p_chain_total_of_4g_minus_1_is_fine),
};

int main(void)
{
	return pq_run("devq_packed_malformed", packed_tests, ARRAY_LEN(packed_tests));
}
