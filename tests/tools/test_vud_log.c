/*
 * test_vud_log.c - the daemons' log limiter (tools/vhost-user/vud_log.c)
 * on its own, with the clock passed in and the output captured.
 *
 * What it promises: a cause (a line with its numbers masked, and its
 * level) logs a burst of VUD_LOG_BURST lines, then VUD_LOG_PER_SEC a
 * second; all causes together VUD_LOG_TOTAL_BURST, then
 * VUD_LOG_TOTAL_PER_SEC a second; every line not logged is counted, and
 * every count is logged once (when the cause may log again, on the next
 * line of any cause, or at flush), so that lines logged plus counts always
 * add up to lines given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vud_log.h"

#define SEC 1000000000ull

struct capture {
	unsigned n;
	char line[4096][200];
	enum vio_log_level level[4096];
};

static struct capture cap;
static struct vud_rl rl;

static void out(void *opaque, enum vio_log_level level, const char *line)
{
	(void)opaque;
	assert_true(cap.n < 4096);
	cap.level[cap.n] = level;
	snprintf(cap.line[cap.n++], sizeof(cap.line[0]), "%s", line);
}

static int setup(void **state)
{
	(void)state;
	memset(&cap, 0, sizeof(cap));
	vud_rl_init(&rl, out, NULL);
	return 0;
}

/* Lines captured that are counts, and the sum of their numbers. */
static uint64_t counted(unsigned *lines)
{
	uint64_t sum = 0;

	*lines = 0;
	for (unsigned i = 0; i < cap.n; i++) {
		unsigned long long k;

		if (sscanf(cap.line[i], "%llu similar messages suppressed", &k) == 1 ||
		    sscanf(cap.line[i], "%llu more messages suppressed", &k) == 1) {
			sum += k;
			(*lines)++;
		}
	}
	return sum;
}

static void burst_then_one_a_second(void **state)
{
	uint64_t t = 5 * SEC;
	unsigned cl;

	(void)state;
	for (unsigned i = 0; i < 100; i++)
		vud_rl_log(&rl, t, VIO_LOG_ERR, "vhost-user: ring 0: size 3 refused");
	assert_int_equal(cap.n, VUD_LOG_BURST);
	/* Half a second on: nothing more. */
	vud_rl_log(&rl, t + SEC / 2, VIO_LOG_ERR, "vhost-user: ring 0: size 3 refused");
	assert_int_equal(cap.n, VUD_LOG_BURST);
	/* A second on: one line, after the count of the 91 held back. */
	vud_rl_log(&rl, t + SEC, VIO_LOG_ERR, "vhost-user: ring 0: size 3 refused");
	assert_int_equal(cap.n, VUD_LOG_BURST + 2);
	assert_string_equal(cap.line[VUD_LOG_BURST],
			    "91 similar messages suppressed, the last: vhost-user: ring 0: size 3 refused");
	assert_int_equal(cap.level[VUD_LOG_BURST], VIO_LOG_ERR);
	assert_string_equal(cap.line[VUD_LOG_BURST + 1], "vhost-user: ring 0: size 3 refused");
	/* And the next only a second after that. */
	vud_rl_log(&rl, t + SEC + SEC / 2, VIO_LOG_ERR, "vhost-user: ring 0: size 3 refused");
	vud_rl_log(&rl, t + 2 * SEC, VIO_LOG_ERR, "vhost-user: ring 0: size 3 refused");
	assert_int_equal(cap.n, VUD_LOG_BURST + 4);
	assert_int_equal(counted(&cl), 92);
}

static void quiet_cause_refills_to_its_burst(void **state)
{
	(void)state;
	for (unsigned i = 0; i < VUD_LOG_BURST; i++)
		vud_rl_log(&rl, SEC, VIO_LOG_ERR, "a");
	/* Ten quiet seconds refill the bucket: a whole burst again. */
	for (unsigned i = 0; i < VUD_LOG_BURST + 5; i++)
		vud_rl_log(&rl, 11 * SEC, VIO_LOG_ERR, "a");
	assert_int_equal(cap.n, 2 * VUD_LOG_BURST);
}

static void numbers_are_masked(void **state)
{
	(void)state;
	/* One cause, whatever the numbers (decimal or 0x hex). */
	for (unsigned i = 0; i < 50; i++) {
		char line[100];

		snprintf(line, sizeof(line), "SET_VRING_NUM %u for ring %u (max %#x)", i * 77, i, i * 4099);
		vud_rl_log(&rl, SEC, VIO_LOG_ERR, line);
	}
	assert_int_equal(cap.n, VUD_LOG_BURST);
	assert_int_equal(vud_rl_key(VIO_LOG_ERR, "at 0xdeadbeef, 12 bytes"),
			 vud_rl_key(VIO_LOG_ERR, "at 0x1, 4096 bytes"));
	/* Different words, or another level: other causes. */
	assert_int_not_equal(vud_rl_key(VIO_LOG_ERR, "SET_VRING_NUM 1"),
			     vud_rl_key(VIO_LOG_ERR, "SET_VRING_BASE 1"));
	assert_int_not_equal(vud_rl_key(VIO_LOG_ERR, "x 1"), vud_rl_key(VIO_LOG_WARN, "x 1"));
	/* A word that happens to be hex letters is not a number. */
	assert_int_not_equal(vud_rl_key(VIO_LOG_ERR, "bad cafe"), vud_rl_key(VIO_LOG_ERR, "bad face"));
}

static void causes_are_separate(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 30; i++)
		vud_rl_log(&rl, SEC, VIO_LOG_ERR, "flood");
	/* Another cause still gets its whole burst. */
	for (unsigned i = 0; i < 30; i++)
		vud_rl_log(&rl, SEC, VIO_LOG_WARN, "something else");
	assert_int_equal(cap.n, 2 * VUD_LOG_BURST);
	assert_string_equal(cap.line[VUD_LOG_BURST], "something else");
}

static void total_bound_over_many_causes(void **state)
{
	uint64_t sum;
	unsigned cl;

	(void)state;
	/* 60 causes at once (letters, not numbers, differ), 20 lines each:
	 * only the total burst goes out. */
	for (unsigned rep = 0; rep < 20; rep++)
		for (unsigned k = 0; k < 60; k++) {
			char line[40];

			snprintf(line, sizeof(line), "cause %c%c", 'a' + k / 26, 'a' + k % 26);
			vud_rl_log(&rl, SEC, VIO_LOG_ERR, line);
		}
	assert_int_equal(cap.n, VUD_LOG_TOTAL_BURST);
	vud_rl_flush(&rl);
	sum = counted(&cl);
	assert_int_equal(cap.n, VUD_LOG_TOTAL_BURST + cl);     /* counts only */
	assert_int_equal(VUD_LOG_TOTAL_BURST + sum, 60 * 20);
}

static void count_logged_by_another_cause(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 15; i++)
		vud_rl_log(&rl, SEC, VIO_LOG_ERR, "a");
	assert_int_equal(cap.n, VUD_LOG_BURST);
	/* "a" goes quiet; a line of "b" two seconds later brings a's count. */
	vud_rl_log(&rl, 3 * SEC, VIO_LOG_ERR, "b");
	assert_int_equal(cap.n, VUD_LOG_BURST + 2);
	assert_string_equal(cap.line[VUD_LOG_BURST], "b");
	assert_string_equal(cap.line[VUD_LOG_BURST + 1], "5 similar messages suppressed, the last: a");
	/* Logged once only. */
	vud_rl_flush(&rl);
	assert_int_equal(cap.n, VUD_LOG_BURST + 2);
}

static void flush_logs_every_count(void **state)
{
	unsigned cl;

	(void)state;
	for (unsigned i = 0; i < 1000; i++)
		vud_rl_log(&rl, SEC + i, VIO_LOG_ERR, i & 1 ? "odd 1" : "even 2");
	assert_int_equal(cap.n, 2 * VUD_LOG_BURST);
	vud_rl_flush(&rl);
	assert_int_equal(cap.n, 2 * VUD_LOG_BURST + 2);
	assert_int_equal(counted(&cl), 1000 - 2 * VUD_LOG_BURST);
	vud_rl_flush(&rl);
	assert_int_equal(cap.n, 2 * VUD_LOG_BURST + 2);
}

static void evicted_counts_are_kept(void **state)
{
	uint64_t sum;
	unsigned cl;
	uint64_t t = SEC;

	(void)state;
	/* Many more causes than the table holds, each over its burst, spread
	 * in time so that the total bound lets some through: whatever is not
	 * logged is counted somewhere, and the sum holds. */
	for (unsigned k = 0; k < 3 * VUD_LOG_CAUSES; k++) {
		char line[40];

		snprintf(line, sizeof(line), "cause %c%c", 'a' + k / 26, 'a' + k % 26);
		for (unsigned rep = 0; rep < 12; rep++)
			vud_rl_log(&rl, t, VIO_LOG_ERR, line);
		t += SEC / 10;
	}
	vud_rl_flush(&rl);
	sum = counted(&cl);
	assert_int_equal((cap.n - cl) + sum, 3 * VUD_LOG_CAUSES * 12);
	/* Some of it was of causes pushed out of the table. */
	{
		bool evicted = false;

		for (unsigned i = 0; i < cap.n; i++)
			evicted |= strstr(cap.line[i], "of causes no longer tracked") != NULL;
		assert_true(evicted);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(burst_then_one_a_second, setup),
		cmocka_unit_test_setup(quiet_cause_refills_to_its_burst, setup),
		cmocka_unit_test_setup(numbers_are_masked, setup),
		cmocka_unit_test_setup(causes_are_separate, setup),
		cmocka_unit_test_setup(total_bound_over_many_causes, setup),
		cmocka_unit_test_setup(count_logged_by_another_cause, setup),
		cmocka_unit_test_setup(flush_logs_every_count, setup),
		cmocka_unit_test_setup(evicted_counts_are_kept, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
