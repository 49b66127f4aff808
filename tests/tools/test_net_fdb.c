/*
 * test_net_fdb.c - the switch's learning table (tools/vhost-user/net_fdb.c)
 * on its own, with the clock injected: learning, moving, lookups, group
 * and zero addresses never learnt, ageing, a full bucket refusing new
 * addresses until its entries age out, flushing a port, and counts.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net_fdb.h"

#define S INT64_C(1000000000)
#define AGE (300 * S)

static void mac_of(uint8_t m[6], unsigned i)
{
	m[0] = 0x02;
	m[1] = 0x00;
	m[2] = (uint8_t)(i >> 24);
	m[3] = (uint8_t)(i >> 16);
	m[4] = (uint8_t)(i >> 8);
	m[5] = (uint8_t)i;
}

static void t_learn_lookup(void **state)
{
	struct net_fdb t;
	uint8_t a[6], b[6];
	int l;

	(void)state;
	assert_int_equal(net_fdb_init(&t, 64, AGE), 0);
	mac_of(a, 1);
	mac_of(b, 2);
	assert_int_equal(net_fdb_lookup(&t, a, 0), NET_FDB_NO_PORT);
	/* a sends to b (unknown): flood; a is learnt on port 3. */
	assert_int_equal(net_fdb_forward(&t, a, 3, b, 10, &l), NET_FDB_NO_PORT);
	assert_int_equal(l, 1);
	assert_int_equal(net_fdb_lookup(&t, a, 20), 3);
	/* b answers from port 5: it goes to 3, and b is learnt. */
	assert_int_equal(net_fdb_forward(&t, b, 5, a, 30, &l), 3);
	assert_int_equal(l, 1);
	/* Seen again: refreshed, not new. */
	assert_int_equal(net_fdb_forward(&t, b, 5, a, 40, &l), 3);
	assert_int_equal(l, 0);
	assert_int_equal(net_fdb_count(&t, 5, 50), 1);
	assert_int_equal(net_fdb_count(&t, -1, 50), 2);
	/* a moves to port 7. */
	assert_int_equal(net_fdb_forward(&t, a, 7, b, 60, &l), 5);
	assert_int_equal(l, 0);
	assert_int_equal(net_fdb_lookup(&t, a, 70), 7);
	assert_int_equal(t.moved, 1);
	assert_int_equal(net_fdb_count(&t, 3, 70), 0);
	net_fdb_fini(&t);
}

static void t_group_and_zero(void **state)
{
	struct net_fdb t;
	const uint8_t bc[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	const uint8_t mc[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
	const uint8_t zero[6] = { 0 };
	uint8_t a[6];
	int l;

	(void)state;
	assert_int_equal(net_fdb_init(&t, 64, AGE), 0);
	mac_of(a, 9);
	/* Group and zero sources are not learnt. */
	assert_int_equal(net_fdb_forward(&t, mc, 1, a, 0, &l), NET_FDB_NO_PORT);
	assert_int_equal(l, 0);
	assert_int_equal(net_fdb_forward(&t, zero, 1, a, 0, &l), NET_FDB_NO_PORT);
	assert_int_equal(l, 0);
	assert_int_equal(net_fdb_count(&t, -1, 0), 0);
	/* Group destinations always flood, whatever was learnt. */
	assert_int_equal(net_fdb_forward(&t, a, 2, bc, 0, &l), NET_FDB_NO_PORT);
	assert_int_equal(l, 1);
	assert_int_equal(net_fdb_forward(&t, a, 2, mc, 0, NULL), NET_FDB_NO_PORT);
	assert_false(net_fdb_learnable(bc));
	assert_false(net_fdb_learnable(zero));
	assert_true(net_fdb_learnable(a));
	net_fdb_fini(&t);
}

static void t_ageing(void **state)
{
	struct net_fdb t;
	uint8_t a[6], b[6];
	int l;

	(void)state;
	assert_int_equal(net_fdb_init(&t, 64, AGE), 0);
	mac_of(a, 1);
	mac_of(b, 2);
	net_fdb_forward(&t, a, 1, b, 1000, &l);
	assert_int_equal(net_fdb_lookup(&t, a, 1000 + AGE - 1), 1);
	assert_int_equal(net_fdb_lookup(&t, a, 1000 + AGE), NET_FDB_NO_PORT);
	assert_int_equal(net_fdb_count(&t, -1, 1000 + AGE), 0);
	/* Refreshing keeps it: seen at 100 s, alive until 400 s. */
	net_fdb_forward(&t, b, 2, a, 0, NULL);
	net_fdb_forward(&t, b, 2, a, 100 * S, NULL);
	assert_int_equal(net_fdb_lookup(&t, b, 399 * S), 2);
	assert_int_equal(net_fdb_lookup(&t, b, 400 * S), NET_FDB_NO_PORT);
	/* Learnt again after ageing out: a new entry. */
	assert_int_equal(net_fdb_forward(&t, b, 4, a, 500 * S, &l), NET_FDB_NO_PORT);
	assert_int_equal(l, 1);
	assert_int_equal(net_fdb_lookup(&t, b, 500 * S), 4);
	net_fdb_fini(&t);
}

/* The smallest table is one bucket of NET_FDB_WAYS entries: one more
 * address than that is refused until one ages out; nothing learnt is
 * pushed out. */
static void t_full(void **state)
{
	struct net_fdb t;
	uint8_t m[NET_FDB_WAYS + 1][6], dst[6];
	int l;

	(void)state;
	assert_int_equal(net_fdb_init(&t, 1, AGE), 0);
	assert_int_equal(t.nbuckets, 1);
	mac_of(dst, 1000);
	for (unsigned i = 0; i <= NET_FDB_WAYS; i++)
		mac_of(m[i], i + 1);
	for (unsigned i = 0; i < NET_FDB_WAYS; i++) {
		net_fdb_forward(&t, m[i], i, dst, (int64_t)i * S, &l);
		assert_int_equal(l, 1);
	}
	net_fdb_forward(&t, m[NET_FDB_WAYS], 9, dst, 10 * S, &l);
	assert_int_equal(l, -1);
	assert_int_equal(t.full, 1);
	assert_int_equal(net_fdb_lookup(&t, m[NET_FDB_WAYS], 10 * S), NET_FDB_NO_PORT);
	for (unsigned i = 0; i < NET_FDB_WAYS; i++)
		assert_int_equal(net_fdb_lookup(&t, m[i], 10 * S), (int)i);
	/* m[0], learnt at 0 s, is gone at 300 s: its entry is reused. */
	net_fdb_forward(&t, m[NET_FDB_WAYS], 9, dst, AGE, &l);
	assert_int_equal(l, 1);
	assert_int_equal(net_fdb_lookup(&t, m[NET_FDB_WAYS], AGE), 9);
	assert_int_equal(net_fdb_lookup(&t, m[0], AGE), NET_FDB_NO_PORT);
	assert_int_equal(net_fdb_lookup(&t, m[1], AGE), 1);
	assert_int_equal(net_fdb_count(&t, -1, AGE), NET_FDB_WAYS);
	net_fdb_fini(&t);
}

/* A bigger table spreads addresses: of 1000 sequential addresses in 1024
 * buckets of four, a uniform hash leaves about four in buckets that got
 * a fifth (Poisson, mean 0.98); a hash that clumped them would refuse
 * hundreds. */
static void t_spread(void **state)
{
	struct net_fdb t;
	uint8_t m[6], dst[6];
	unsigned refused = 0;

	(void)state;
	assert_int_equal(net_fdb_init(&t, 4096, AGE), 0);
	assert_int_equal(t.nbuckets * NET_FDB_WAYS, 4096);
	mac_of(dst, 0xffffff);
	for (unsigned i = 0; i < 1000; i++) {
		int l;

		mac_of(m, i);
		net_fdb_forward(&t, m, i % 16, dst, 0, &l);
		refused += l < 0;
	}
	assert_true(refused <= 20);
	assert_int_equal(net_fdb_count(&t, -1, 0), 1000 - refused);
	net_fdb_flush_port(&t, 3);
	mac_of(m, 3);
	assert_int_equal(net_fdb_lookup(&t, m, 0), NET_FDB_NO_PORT);
	assert_int_equal(net_fdb_count(&t, 3, 0), 0);
	net_fdb_fini(&t);
}

static void t_bad_init(void **state)
{
	struct net_fdb t;

	(void)state;
	assert_int_equal(net_fdb_init(&t, 0, AGE), -EINVAL);
	assert_int_equal(net_fdb_init(&t, 64, 0), -EINVAL);
	assert_int_equal(net_fdb_init(&t, (1u << 20) + 1, AGE), -EINVAL);
	net_fdb_fini(&t);       /* harmless after a failed init */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_learn_lookup), cmocka_unit_test(t_group_and_zero),
		cmocka_unit_test(t_ageing),       cmocka_unit_test(t_full),
		cmocka_unit_test(t_spread),       cmocka_unit_test(t_bad_init),
	};

	return cmocka_run_group_tests_name("net_fdb", tests, NULL, NULL);
}
