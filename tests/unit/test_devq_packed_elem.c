/*
 * test_devq_packed_elem.c - the packed ring's device side pops well-formed
 * chains: direct and indirect, across regions, chains as long as the ring,
 * from any position and wrap counter.
 *
 * Siblings, all in tests/unit/: test_devq_packed_elem.c (well-formed
 * chains), test_devq_packed_malformed.c (each broken rule),
 * test_devq_packed_used.c (used descriptors, event structures, resume),
 * test_devq_in_order.c (IN_ORDER batches on both layouts); the packed
 * fixture is devq_packed_fixture.{c,h}. The split ring's device tests are
 * test_devq_{api,elem,malformed,used}.c.
 */

#include "devq_packed_fixture.h"

/* A pop that found work writes nothing at all to guest memory. */
static void pop_ok_untouched(struct pq *h)
{
	snapshot(h);
	pop_ok(h);
	assert_untouched(h);
}

/* ---- good chains --------------------------------------------------------- */
static void p_pop_single_descriptor(void **state)
{
	struct pq *h = pq_new(state, 8, 0);

	drv_post1(h, BUF(0), 16, 0, 5);
	pop_ok_untouched(h);
	assert_int_equal(h->e.id, 5);
	assert_int_equal(h->e.out_num, 1);
	assert_span(&h->e.out[0], abuf(h, 0), 16);
	assert_int_equal(h->e.out_len, 16);
	assert_int_equal(h->e.in_num, 0);
	assert_int_equal(h->e.in_len, 0);
	assert_bases(h, enc(1, true), enc(0, true));
	assert_int_equal(vio_devq_pop(&h->q, &h->e), -EAGAIN);
	assert_false(vio_devq_is_stopped(&h->q));
}

/* Four descriptors linked by NEXT: readable, readable across A into B (two
 * spans), writable, writable in the misaligned region C. */
static void p_pop_chain_of_descriptors(void **state)
{
	static const struct pd chain[4] = {
		{ BUF(0), 16, 0, 0 },
		{ GB - 100, 300, 0, 0 },
		{ BUF(512), 40, D_WRITE, 0 },
		{ GC + 8, 24, D_WRITE, 0 },
	};
	struct pq *h = pq_new(state, 8, 0);

	drv_post(h, chain, 4, true, 6);
	pop_ok_untouched(h);
	assert_int_equal(h->e.id, 6);
	assert_int_equal(h->e.out_num, 3);
	assert_span(&h->e.out[0], abuf(h, 0), 16);
	assert_span(&h->e.out[1], h->a.body + A_LEN - 100, 100);
	assert_span(&h->e.out[2], h->b.body, 200);
	assert_int_equal(h->e.in_num, 2);
	assert_span(&h->e.in[0], abuf(h, 512), 40);
	assert_span(&h->e.in[1], h->c.body + 8, 24);
	assert_int_equal(h->e.out_len, 316);
	assert_int_equal(h->e.in_len, 64);
	assert_bases(h, enc(4, true), enc(0, true));
	assert_int_equal(vio_devq_pop(&h->q, &h->e), -EAGAIN);
}

/* Slots 6, 7 in lap 1 and 0, 1 in lap 0: the wrap counter flips mid-chain
 * and the later descriptors carry the flipped avail bits. */
static void p_pop_chain_wraps_around_the_ring(void **state)
{
	struct pq *h = pq_new_at(state, 8, 0, enc(6, true));
	struct pd chain[4];

	for (unsigned k = 0; k < 4; k++)
		chain[k] = (struct pd){ BUF(64 * k), 8 + k, k < 2 ? 0 : D_WRITE, 0 };
	drv_post(h, chain, 4, true, 3);
	assert_int_equal(ring_flags(h, 1) & (D_AVAIL | D_USED), avail_bits(false));
	pop_ok_untouched(h);
	assert_int_equal(h->e.id, 3);
	assert_int_equal(h->e.out_num, 2);
	assert_int_equal(h->e.in_num, 2);
	assert_span(&h->e.out[1], abuf(h, 64), 9);
	assert_span(&h->e.in[0], abuf(h, 128), 10);
	assert_span(&h->e.in[1], abuf(h, 192), 11);
	assert_bases(h, enc(2, false), enc(6, true));
	/* The next chain starts in the new lap. */
	drv_post1(h, BUF(0), 4, 0, 7);
	pop_ok(h);
	assert_int_equal(h->e.id, 7);
	assert_bases(h, enc(3, false), enc(6, true));
}

/* The spec puts the buffer id in the last descriptor of a chain; the ids
 * the earlier ones carry mean nothing, valid or not. */
static void p_pop_buffer_id_from_last_descriptor(void **state)
{
	static const struct pd junk_first[3] = {
		{ BUF(0), 4, D_NEXT, JUNK_ID },
		{ BUF(8), 4, D_NEXT, 1 },
		{ BUF(16), 4, 0, 6 },
	};
	static const struct pd valid_first[2] = {
		{ BUF(0), 4, D_NEXT, 2 },
		{ BUF(8), 4, D_WRITE, 7 },
	};
	struct pq *h = pq_new(state, 8, 0);

	drv_post(h, junk_first, 3, false, 0);
	pop_ok(h);
	assert_int_equal(h->e.id, 6);
	drv_post(h, valid_first, 2, false, 0);
	pop_ok(h);
	assert_int_equal(h->e.id, 7);
}

/*
 * Sizes that are not powers of two: runs chains of 1, 2 and 3 descriptors
 * (one readable, the rest writable) for several laps, each popped and
 * pushed at once, against a model of both positions and wrap counters:
 * the chain's spans and id, the used descriptor written over the head, the
 * bases, and -EAGAIN on the stale slot that follows.
 */
static void odd_size_case(void **state, unsigned size)
{
	struct pq *h = pq_new(state, size, 0);
	const unsigned rounds = 3 * size + 7;
	unsigned r, descs = 0;

	for (r = 0; r < rounds; r++) {
		const unsigned n = 1 + r % 3 < size ? 1 + r % 3 : size;
		const size_t off = (r % 7) * 8;
		const uint16_t id = (uint16_t)((r * 5) % size);
		const unsigned head = h->pos;
		const bool head_wrap = h->wrap;
		struct pd chain[3];
		unsigned k;

		for (k = 0; k < n; k++)
			chain[k] = (struct pd){ BUF(off + 256 * k), 8 + k, k ? D_WRITE : 0, 0 };
		drv_post(h, chain, n, true, id);
		pop_ok(h);
		assert_int_equal(h->e.id, id);
		assert_int_equal(h->e.out_num, 1);
		assert_span(&h->e.out[0], abuf(h, off), 8);
		assert_int_equal(h->e.in_num, n - 1);
		for (k = 1; k < n; k++)
			assert_span(&h->e.in[k - 1], abuf(h, off + 256 * k), 8 + k);
		assert_int_equal(vio_devq_avail_base(&h->q), enc(h->pos, h->wrap));

		assert_int_equal(vio_devq_push(&h->q, &h->e, h->e.in_len), 0);
		assert_int_equal(ring_id(h, head), id);
		assert_int_equal(ring_len(h, head), h->e.in_len);
		assert_int_equal(ring_flags(h, head),
				 used_bits(head_wrap) | (h->e.in_len ? D_WRITE : 0));
		assert_int_equal(vio_devq_used_base(&h->q), enc(h->pos, h->wrap));
		assert_int_equal(vio_devq_pop(&h->q, &h->e), -EAGAIN);
		descs += n;
	}
	assert_true(descs > 2 * size); /* the run really wrapped, twice */
	assert_false(vio_devq_is_stopped(&h->q));
}

static void p_odd_size_1(void **state)
{
	odd_size_case(state, 1);
}

static void p_odd_size_3(void **state)
{
	odd_size_case(state, 3);
}

static void p_odd_size_5(void **state)
{
	odd_size_case(state, 5);
}

static void p_odd_size_7(void **state)
{
	odd_size_case(state, 7);
}

static void p_odd_size_1000(void **state)
{
	odd_size_case(state, 1000);
}

/* A chain of exactly `size` descriptors from slot `start`: no loop. */
static void ring_long_chain_case(void **state, unsigned start)
{
	struct pq *h = pq_new_at(state, 8, 0, enc(start, true));
	struct pd chain[8];

	for (unsigned k = 0; k < 8; k++)
		chain[k] = (struct pd){ BUF(16 * k), 16, 0, 0 };
	drv_post(h, chain, 8, true, 4);
	pop_ok_untouched(h);
	assert_int_equal(h->e.id, 4);
	assert_int_equal(h->e.out_num, 8);
	assert_int_equal(h->e.out_len, 128);
	assert_span(&h->e.out[7], abuf(h, 112), 16);
	/* Back at the head's slot, one lap on. */
	assert_bases(h, enc(start, false), enc(start, true));
	assert_int_equal(vio_devq_push(&h->q, &h->e, 0), 0);
	assert_int_equal(ring_flags(h, start), used_bits(true));
	assert_bases(h, enc(start, false), enc(start, false));
}

static void p_pop_chain_as_long_as_the_ring(void **state)
{
	ring_long_chain_case(state, 0);
}

static void p_pop_chain_as_long_as_the_ring_across_wrap(void **state)
{
	ring_long_chain_case(state, 5);
}

/*
 * In an indirect table only WRITE means anything: entries are read in
 * order for the table's whole length, NEXT on an entry neither links nor
 * ends anything, and entries' ids and AVAIL/USED bits are ignored.
 */
static void p_pop_indirect_only_write_honoured(void **state)
{
	struct pq *h = pq_new(state, 8, F_IND);

	ind_put(h, IND(0), 0, BUF(0), 10, D_NEXT | D_AVAIL, JUNK_ID);
	ind_put(h, IND(0), 1, BUF(64), 20, D_USED, 3);   /* no NEXT: not the end */
	ind_put(h, IND(0), 2, BUF(512), 30, D_WRITE | D_NEXT, 0);
	ind_put(h, IND(0), 3, BUF(600), 2, D_WRITE | D_AVAIL | D_USED, 0);
	drv_post1(h, IND(0), 64, D_IND, 4);
	pop_ok_untouched(h);
	assert_int_equal(h->e.id, 4);
	assert_int_equal(h->e.out_num, 2);
	assert_span(&h->e.out[0], abuf(h, 0), 10);
	assert_span(&h->e.out[1], abuf(h, 64), 20);
	assert_int_equal(h->e.in_num, 2);
	assert_span(&h->e.in[0], abuf(h, 512), 30);
	assert_span(&h->e.in[1], abuf(h, 600), 2);
	/* One ring descriptor, however long the table. */
	assert_bases(h, enc(1, true), enc(0, true));
	assert_int_equal(vio_devq_push(&h->q, &h->e, 32), 0);
	assert_int_equal(ring_flags(h, 0), used_bits(true) | D_WRITE);
	assert_int_equal(vio_devq_used_base(&h->q), enc(1, true));
}

/* WRITE on the descriptor that points at a table is reserved: ignored. */
static void p_pop_indirect_write_on_table_descriptor_ignored(void **state)
{
	struct pq *h = pq_new(state, 8, F_IND);

	ind_put(h, IND(0), 0, BUF(0), 10, 0, 0);
	ind_put(h, IND(0), 1, BUF(64), 20, D_WRITE, 0);
	drv_post1(h, IND(0), 32, D_IND | D_WRITE, 2);
	pop_ok(h);
	assert_int_equal(h->e.out_num, 1);
	assert_int_equal(h->e.in_num, 1);
	assert_int_equal(h->e.id, 2);
}

/* A table that starts in A and goes on in B (read entry by entry), or lies
 * in host memory that is not 8-aligned (read by copying). */
static void indirect_where_case(void **state, uint64_t table)
{
	struct pq *h = pq_new(state, 8, F_IND);

	ind_put(h, table, 0, BUF(0), 10, 0, 0);
	ind_put(h, table, 1, GB - 4, 8, 0, 0);
	ind_put(h, table, 2, BUF(512), 20, D_WRITE, 0);
	drv_post1(h, table, 48, D_IND, 1);
	pop_ok_untouched(h);
	assert_int_equal(h->e.out_num, 3);
	assert_span(&h->e.out[0], abuf(h, 0), 10);
	assert_span(&h->e.out[1], h->a.body + A_LEN - 4, 4);
	assert_span(&h->e.out[2], h->b.body, 4);
	assert_int_equal(h->e.in_num, 1);
	assert_span(&h->e.in[0], abuf(h, 512), 20);
}

static void p_pop_indirect_table_across_two_regions(void **state)
{
	indirect_where_case(state, GB - 16);
}

static void p_pop_indirect_table_in_misaligned_host_region(void **state)
{
	indirect_where_case(state, GC + 64);
}

static void p_pop_indirect_table_of_queue_size(void **state)
{
	struct pq *h = pq_new(state, 8, F_IND);

	for (unsigned i = 0; i < 8; i++)
		ind_put(h, IND(0), i, BUF(8 * i), 8, 0, 0);
	drv_post1(h, IND(0), 8 * 16, D_IND, 0);
	pop_ok(h);
	assert_int_equal(h->e.out_num, 8);
	assert_int_equal(h->e.out_len, 64);
}

static const struct vt_named_test packed_tests[] = {
	P_TEST(p_pop_single_descriptor),
	P_TEST(p_pop_chain_of_descriptors),
	P_TEST(p_pop_chain_wraps_around_the_ring),
	P_TEST(p_pop_buffer_id_from_last_descriptor),
	P_TEST(p_odd_size_1),
	P_TEST(p_odd_size_3),
	P_TEST(p_odd_size_5),
	P_TEST(p_odd_size_7),
	P_TEST(p_odd_size_1000),
	P_TEST(p_pop_chain_as_long_as_the_ring),
	P_TEST(p_pop_chain_as_long_as_the_ring_across_wrap),
	P_TEST(p_pop_indirect_only_write_honoured),
	P_TEST(p_pop_indirect_write_on_table_descriptor_ignored),
	P_TEST(p_pop_indirect_table_across_two_regions),
	P_TEST(p_pop_indirect_table_in_misaligned_host_region),
	P_TEST(p_pop_indirect_table_of_queue_size),
};

int main(void)
{
	return pq_run("devq_packed_elem", packed_tests, ARRAY_LEN(packed_tests));
}
