/*
 * test_helpers.c - the core's two helpers that stand in for libc in the
 * drivers and device types: vio_format() (their log lines, instead of
 * snprintf) and struct vio_drv_deadline (their timeouts, on the transport's
 * clock instead of clock_gettime).
 *
 * vio_format() is checked against the C library's snprintf for every
 * conversion it claims, at the edges of each type; the deadline against a
 * transport whose clock and wait the test drives by hand, with and
 * without a clock.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vio/core.h"
#include "vio/transport/dma_arena.h"

/* ------------------------------------------------------------------------ */
/* vio_format                                                               */

/* Formats with both and compares text and returned length. */
#define SAME(...) do {                                                          \
		char a_[128], b_[128];                                          \
		size_t n_ = vio_format(a_, sizeof(a_), __VA_ARGS__);             \
		int m_ = snprintf(b_, sizeof(b_), __VA_ARGS__);                 \
		assert_string_equal(a_, b_);                                    \
		assert_int_equal(n_, (size_t)m_);                               \
	} while (0)

static void format_like_snprintf(void **state)
{
	(void)state;
	SAME("plain text");
	SAME("%s and %s", "one", "two");
	SAME("%s", "");
	SAME("%c%c", 'o', 'k');
	SAME("%d %d %d %d", 0, -1, INT_MAX, INT_MIN);
	SAME("%u %u", 0u, UINT_MAX);
	SAME("%ld %lu", LONG_MIN, ULONG_MAX);
	SAME("%lld %llu", LLONG_MIN, ULLONG_MAX);
	SAME("%zu %zu", (size_t)0, SIZE_MAX);
	SAME("%zd", (ssize_t)-5);
	SAME("%x %x %#x %#x", 0u, 0xdeadbeefu, 0u, 0x1fu);
	SAME("%lx %#llx %#llx", 0xabcUL, 0ULL, ULLONG_MAX);
	SAME("%zx", (size_t)0x1234);
	SAME("100%% sure, %u%%", 42u);
	SAME("virtio%u: %s: probe failed: %s", 7u, "virtio_blk", "out of memory");
}

static void format_truncates_and_terminates(void **state)
{
	char buf[8];

	(void)state;
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(vio_format(buf, sizeof(buf), "%s-%u", "abcdef", 12345u), 12);
	assert_string_equal(buf, "abcdef-");
	assert_int_equal(vio_format(buf, 1, "%s", "abc"), 3);
	assert_string_equal(buf, "");
	/* cap 0: nothing is written, the length still comes back */
	buf[0] = 'x';
	assert_int_equal(vio_format(buf, 0, "%d", -12), 3);
	assert_int_equal(buf[0], 'x');
	/* exactly fits */
	assert_int_equal(vio_format(buf, sizeof(buf), "%s", "1234567"), 7);
	assert_string_equal(buf, "1234567");
}

static void format_null_string(void **state)
{
	char buf[16];
	const char *volatile none = NULL; /* unknown to -Wformat */

	(void)state;
	vio_format(buf, sizeof(buf), "<%s>", none);
	assert_string_equal(buf, "<(null)>");
}

/* Conversions it does not know are copied out and take no argument. */
static size_t format_raw(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = vio_vformat(buf, cap, fmt, ap);
	va_end(ap);
	return n;
}

static void format_unknown_conversions(void **state)
{
	char buf[64];

	(void)state;
	format_raw(buf, sizeof(buf), "%5u|%.2s|%f|%u", 7u);
	assert_string_equal(buf, "%5u|%.2s|%f|7");
	format_raw(buf, sizeof(buf), "end %");
	assert_string_equal(buf, "end %");
	format_raw(buf, sizeof(buf), "%l");
	assert_string_equal(buf, "%l");
}

/* ------------------------------------------------------------------------ */
/* vio_drv_deadline                                                             */

/* A transport of which only the clock and the wait are used. */
struct fake {
	struct vio_drv_device dev;
	struct vio_transport_ops ops;
	uint64_t now;           /* the clock, if the ops have one */
	int wait_result;        /* what wait returns */
	int waits;
	int last_timeout;
	uint64_t advance_ms;    /* how far each wait moves the clock */
};

static struct fake *fake_of(struct vio_drv_device *dev)
{
	return (struct fake *)((char *)dev - offsetof(struct fake, dev));
}

static uint64_t fake_now(struct vio_drv_device *dev)
{
	return fake_of(dev)->now;
}

static int fake_wait(struct vio_drv_device *dev, int timeout_ms)
{
	struct fake *f = fake_of(dev);

	f->waits++;
	f->last_timeout = timeout_ms;
	f->now += f->advance_ms * 1000000u;
	return f->wait_result;
}

static void fake_init(struct fake *f, bool clock, bool wait)
{
	memset(f, 0, sizeof(*f));
	f->ops.version = VIO_TRANSPORT_OPS_VERSION;
	f->ops.now_ns = clock ? fake_now : NULL;
	f->ops.wait = wait ? fake_wait : NULL;
	f->dev.ops = &f->ops;
	f->now = UINT64_C(1) << 40;
}

static void deadline_on_the_clock(void **state)
{
	struct vio_drv_deadline dl;
	struct fake f;

	(void)state;
	fake_init(&f, true, true);
	vio_drv_deadline_start(&f.dev, &dl, 250);
	assert_false(vio_drv_deadline_passed(&f.dev, &dl));
	assert_int_equal(vio_drv_deadline_left_ms(&f.dev, &dl, -1), 250);
	assert_int_equal(vio_drv_deadline_left_ms(&f.dev, &dl, 100), 100);
	f.now += 249500000; /* half a millisecond left: rounds up */
	assert_int_equal(vio_drv_deadline_left_ms(&f.dev, &dl, -1), 1);
	assert_false(vio_drv_deadline_passed(&f.dev, &dl));
	f.now += 500000;
	assert_true(vio_drv_deadline_passed(&f.dev, &dl));
	assert_int_equal(vio_drv_deadline_left_ms(&f.dev, &dl, 100), 0);
	/* once passed, a wait only looks */
	assert_int_equal(vio_drv_deadline_wait(&f.dev, &dl, 100), 0);
	assert_int_equal(f.last_timeout, 0);
}

static void deadline_zero_and_forever(void **state)
{
	struct vio_drv_deadline dl;
	struct fake f;

	(void)state;
	for (int clock = 0; clock < 2; clock++) {
		fake_init(&f, clock, true);
		vio_drv_deadline_start(&f.dev, &dl, 0);
		assert_true(vio_drv_deadline_passed(&f.dev, &dl));
		assert_int_equal(vio_drv_deadline_left_ms(&f.dev, &dl, -1), 0);
		vio_drv_deadline_start(&f.dev, &dl, -1);
		f.now = UINT64_MAX;
		f.wait_result = -ETIMEDOUT;
		for (int i = 0; i < 10; i++)
			vio_drv_deadline_wait(&f.dev, &dl, 100);
		assert_false(vio_drv_deadline_passed(&f.dev, &dl));
		assert_int_equal(vio_drv_deadline_left_ms(&f.dev, &dl, -1), -1);
		assert_int_equal(vio_drv_deadline_left_ms(&f.dev, &dl, 100), 100);
	}
}

/* A clock near its end: the deadline saturates instead of wrapping. */
static void deadline_saturates(void **state)
{
	struct vio_drv_deadline dl;
	struct fake f;

	(void)state;
	fake_init(&f, true, true);
	f.now = UINT64_MAX - 10;
	vio_drv_deadline_start(&f.dev, &dl, INT_MAX);
	assert_false(vio_drv_deadline_passed(&f.dev, &dl));
	assert_true(vio_drv_deadline_left_ms(&f.dev, &dl, -1) >= 0);
}

/* Without a clock only waits that ran their whole course count. */
static void deadline_counts_timed_out_waits(void **state)
{
	struct vio_drv_deadline dl;
	struct fake f;

	(void)state;
	fake_init(&f, false, true);
	vio_drv_deadline_start(&f.dev, &dl, 250);
	assert_int_equal(vio_drv_deadline_left_ms(&f.dev, &dl, -1), 250);
	/* interrupted waits: no time known to have passed */
	f.wait_result = 0;
	for (int i = 0; i < 100; i++)
		vio_drv_deadline_wait(&f.dev, &dl, 100);
	assert_false(vio_drv_deadline_passed(&f.dev, &dl));
	assert_int_equal(vio_drv_deadline_left_ms(&f.dev, &dl, -1), 250);
	/* timed out: 100 + 100 + 50 */
	f.wait_result = -ETIMEDOUT;
	f.waits = 0;
	while (!vio_drv_deadline_passed(&f.dev, &dl))
		assert_int_equal(vio_drv_deadline_wait(&f.dev, &dl, 100), -ETIMEDOUT);
	assert_int_equal(f.waits, 3);
	assert_int_equal(f.last_timeout, 50);
}

static uint64_t clock_not_there(struct vio_drv_device *dev)
{
	(void)dev;
	fail_msg("now_ns read from a version 1 table, which has no such member");
	return 0;
}

/*
 * A table written for version 1 of the transport ops has no now_ns: the
 * core must not read whatever sits there (here a function that fails the
 * test) and keeps time by timed-out waits, as without a clock.
 */
static void deadline_older_table_has_no_clock(void **state)
{
	struct vio_drv_deadline dl;
	struct fake f;

	(void)state;
	fake_init(&f, false, true);
	f.ops.version = 1;
	f.ops.now_ns = clock_not_there;
	f.wait_result = -ETIMEDOUT;
	vio_drv_deadline_start(&f.dev, &dl, 150);
	assert_false(vio_drv_deadline_passed(&f.dev, &dl));
	while (!vio_drv_deadline_passed(&f.dev, &dl))
		assert_int_equal(vio_drv_deadline_wait(&f.dev, &dl, 100), -ETIMEDOUT);
	assert_int_equal(f.waits, 2);
	assert_int_equal(f.last_timeout, 50);
	/* The same table at version 2 has the clock, and it is used. */
	fake_init(&f, true, true);
	f.ops.version = 2;
	vio_drv_deadline_start(&f.dev, &dl, 150);
	f.now += 150 * 1000000u;
	assert_true(vio_drv_deadline_passed(&f.dev, &dl));
	assert_int_equal(f.waits, 0);
}

/* The transports' DMA arena: alignment, zeroing, addresses, exhaustion. */
static void dma_arena_allocates(void **state)
{
	static uint8_t mem[64 * 1024] __attribute__((aligned(4096)));
	struct vio__dma_arena a;
	uint64_t dma, dma2;
	uint8_t *p, *q;

	(void)state;
	memset(mem, 0xee, sizeof(mem));
	assert_int_equal(vio__dma_arena_init(&a, mem, sizeof(mem) + 5, UINT64_C(0x100000000), 4096),
			 0);
	assert_int_equal(a.len, sizeof(mem));          /* whole chunks only */
	p = vio__dma_arena_alloc(&a, 100, 64, &dma);
	assert_ptr_equal(p, mem);
	assert_int_equal(dma, UINT64_C(0x100000000));
	for (int i = 0; i < 128; i++)
		assert_int_equal(p[i], 0);               /* zeroed, whole chunks */
	q = vio__dma_arena_alloc(&a, 10, 4096, &dma2);
	assert_ptr_equal(q, mem + 4096);
	assert_int_equal(dma2, UINT64_C(0x100000000) + 4096);
	assert_int_equal(vio__dma_arena_addr(&a, q + 7), dma2 + 7);
	assert_int_equal(vio__dma_arena_addr(&a, mem + sizeof(mem)), UINT64_MAX);
	/* what it does not grant */
	assert_null(vio__dma_arena_alloc(&a, 0, 64, &dma));
	assert_null(vio__dma_arena_alloc(&a, 64, 8192, &dma));  /* above max_align */
	assert_null(vio__dma_arena_alloc(&a, 64, 96, &dma));    /* not a power of two */
	assert_null(vio__dma_arena_alloc(&a, sizeof(mem), 64, &dma)); /* taken */
	vio__dma_arena_free(&a, p, 100);
	vio__dma_arena_free(&a, q, 10);
	p = vio__dma_arena_alloc(&a, sizeof(mem), 64, &dma);     /* all free again */
	assert_ptr_equal(p, mem);
	vio__dma_arena_fini(&a);
}

/* A free that is not what alloc gave changes nothing. */
static void dma_arena_refuses_bad_frees(void **state)
{
	static uint8_t mem[4096] __attribute__((aligned(4096)));
	static uint8_t other[64];
	struct vio__dma_arena a;
	uint64_t dma;
	uint8_t *p;

	(void)state;
	assert_int_equal(vio__dma_arena_init(&a, mem, sizeof(mem), 0, 64), 0);
	p = vio__dma_arena_alloc(&a, sizeof(mem), 64, &dma);
	assert_non_null(p);
	vio__dma_arena_free(&a, other, 64);                 /* not in the arena */
	vio__dma_arena_free(&a, p + 1, 64);                 /* not a chunk's start */
	vio__dma_arena_free(&a, p + 64, sizeof(mem));       /* reaches past the end */
	vio__dma_arena_free(&a, p, 0);
	assert_null(vio__dma_arena_alloc(&a, 64, 64, &dma)); /* all still taken */
	vio__dma_arena_free(&a, p + 64, 64);
	assert_ptr_equal(vio__dma_arena_alloc(&a, 64, 64, &dma), p + 64);
	vio__dma_arena_fini(&a);
}

/* Neither clock nor wait: only a deadline of 0 ever passes. */
static void deadline_without_clock_or_wait(void **state)
{
	struct vio_drv_deadline dl;
	struct fake f;

	(void)state;
	fake_init(&f, false, false);
	vio_drv_deadline_start(&f.dev, &dl, 5);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(vio_drv_deadline_wait(&f.dev, &dl, -1), 0);
	assert_false(vio_drv_deadline_passed(&f.dev, &dl));
	vio_drv_deadline_start(&f.dev, &dl, 0);
	assert_true(vio_drv_deadline_passed(&f.dev, &dl));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(format_like_snprintf),
		cmocka_unit_test(format_truncates_and_terminates),
		cmocka_unit_test(format_null_string),
		cmocka_unit_test(format_unknown_conversions),
		cmocka_unit_test(deadline_on_the_clock),
		cmocka_unit_test(deadline_zero_and_forever),
		cmocka_unit_test(deadline_saturates),
		cmocka_unit_test(deadline_counts_timed_out_waits),
		cmocka_unit_test(deadline_without_clock_or_wait),
		cmocka_unit_test(deadline_older_table_has_no_clock),
		cmocka_unit_test(dma_arena_allocates),
		cmocka_unit_test(dma_arena_refuses_bad_frees),
	};

	return cmocka_run_group_tests_name("helpers", tests, NULL, NULL);
}
