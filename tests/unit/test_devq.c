/*
 * test_devq.c - unit tests of the device side of a virtqueue (vio_devq_*).
 *
 * The device side is where libvio meets a driver it must not trust: every
 * index, descriptor, length and address in the rings is the peer's to
 * choose. So most of this file plays a hostile driver that writes the split
 * ring by hand, and checks that each broken rule stops the queue with the
 * errno vio_devq_pop() documents, that the stop is sticky, and that nothing
 * outside the registered regions was touched on the way.
 *
 * Two groups:
 *
 *  1. API-level tests, written once and run for every row of `layouts`
 *     (split today; packed appends a row). They drive the device with the
 *     real driver side (vio_drvq_*) over the tests/lib/pair fixture and look
 *     only at what the public API shows: elements, tokens and lengths that
 *     come back, interrupt and kick decisions and their counters.
 *
 *  2. Split-specific tests. A fixture of its own (struct hq) builds guest
 *     memory out of three separately mapped regions, A and B adjacent in
 *     guest space but not in host space, then a hole, then C, whose host
 *     mapping is deliberately 4 bytes off 8-alignment. Around every region
 *     lie canary bytes that are mapped but not registered, and around those
 *     PROT_NONE guard pages, so a stray write shows up in the canary and a
 *     wild access faults. A few of these tests also run for the legacy
 *     (0.9.5) ring layout and without VERSION_1, the `variants` table.
 *
 * Every test names one rule; TAP counts them one by one.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "guard.h"
#include "pair.h"
#include "vio/mem.h"
#include "vio/ring.h"
#include "vio/spec.h"
#include "layouts.h"

#define PAGE 4096u
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define V1 VIO_BIT(VIO_F_VERSION_1)
#define F_IND VIO_BIT(VIO_F_INDIRECT_DESC)
#define F_EVT VIO_BIT(VIO_F_EVENT_IDX)
#define F_NOE VIO_BIT(VIO_F_NOTIFY_ON_EMPTY)

/* More than 65536 buffers, so every 16-bit index wraps at least once. */
#define WRAP_RUN 70000u

/* ======================================================================== */
/* Part 1: API-level tests, one suite for every ring layout                 */
/* ======================================================================== */

/* The ring layouts: tests/lib/layouts.h. */

#define API_IOVS 8

/* Per-test state of an API test: the layout row and a queue pair. */
struct api {
	const struct layout *lay;
	struct vt_pair p;
	bool live;
	struct vio_iov out[API_IOVS], in[API_IOVS];
	struct vio_elem e;
	int tokens[64];
};

static int api_setup(void **state)
{
	struct api *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	t->lay = *state;
	*state = t;
	return 0;
}

static int api_teardown(void **state)
{
	struct api *t = *state;

	if (t->live)
		vt_pair_fini(&t->p);
	free(t);
	return 0;
}

static void elem_prepare(struct vio_elem *e, struct vio_iov *out, unsigned out_cap,
			 struct vio_iov *in, unsigned in_cap)
{
	memset(e, 0, sizeof(*e));
	e->out = out;
	e->out_cap = out_cap;
	e->in = in;
	e->in_cap = in_cap;
}

/* Builds the pair for this test: VERSION_1, the row's layout, `features`. */
static struct vt_pair *api_pair(struct api *t, unsigned size, uint64_t features,
				const struct vt_pair_opts *o)
{
	t->live = true; /* vt_pair_fini copes with a half-built pair */
	assert_int_equal(vt_pair_init(&t->p, size, V1 | t->lay->features | features, o), 0);
	elem_prepare(&t->e, t->out, API_IOVS, t->in, API_IOVS);
	return &t->p;
}

/* Posts one buffer: 16 readable bytes and 64 writable ones, carved from the
 * buffer area at a spot of its own for each token index. */
static void post1(struct api *t, unsigned k)
{
	struct vio_sg out = vt_sg(&t->p, (size_t)(k % 64) * 128, 16);
	struct vio_sg in = vt_sg(&t->p, (size_t)(k % 64) * 128 + 64, 64);

	assert_int_equal(vio_drvq_add(&t->p.drv, &out, 1, &in, 1, &t->tokens[k % 64]), 0);
}

/* Reaps one used buffer and checks it is token k with length len. */
static void reap(struct api *t, unsigned k, uint32_t len)
{
	void *token = NULL;
	uint32_t got = ~0u;

	assert_int_equal(vio_drvq_get_buf(&t->p.drv, &token, &got), 0);
	assert_ptr_equal(token, &t->tokens[k % 64]);
	assert_int_equal(got, len);
}

/* Device: pops the next chain and pushes it back with `len` bytes. */
static void serve(struct api *t, uint32_t len)
{
	assert_int_equal(vio_devq_pop(&t->p.dev, &t->e), 0);
	assert_int_equal(vio_devq_push(&t->p.dev, &t->e, len), 0);
}

/* A segment of the pair's buffer area, by offset: turned into a device
 * address only once the pair exists. */
struct seg {
	size_t off;
	uint32_t len;
};

#define MAX_SEGS 4

static void to_sg(const struct vt_pair *p, const struct seg *s, unsigned n, struct vio_sg *sg)
{
	assert_true(n <= MAX_SEGS);
	for (unsigned i = 0; i < n; i++)
		sg[i] = vt_sg(p, s[i].off, s[i].len);
}

/* Posts out/in as one buffer with token 0. */
static void post_segs(struct api *t, const struct seg *out, unsigned out_n,
		      const struct seg *in, unsigned in_n)
{
	struct vio_sg o[MAX_SEGS], i[MAX_SEGS];

	to_sg(&t->p, out, out_n, o);
	to_sg(&t->p, in, in_n, i);
	assert_int_equal(vio_drvq_add(&t->p.drv, o, out_n, i, in_n, &t->tokens[0]), 0);
}

/* Every span of an element must be exactly what the driver posted. */
static void check_spans(const struct vt_pair *p, const struct vio_iov *iov, unsigned n,
			const struct seg *s, unsigned s_n)
{
	unsigned i, k = 0;

	for (i = 0; i < s_n; i++) {
		if (s[i].len == 0)
			continue; /* an empty segment needs no span */
		assert_true(k < n);
		assert_ptr_equal(iov[k].base, p->buf + s[i].off);
		assert_int_equal(iov[k].len, s[i].len);
		k++;
	}
	assert_int_equal(k, n);
}

static uint32_t seg_total(const struct seg *s, unsigned n)
{
	uint32_t sum = 0;

	for (unsigned i = 0; i < n; i++)
		sum += s[i].len;
	return sum;
}

/* Posts out/in, pops, and checks the element against what was posted. */
static void pop_matches(struct api *t, const struct seg *out, unsigned out_n,
			const struct seg *in, unsigned in_n)
{
	struct vio_elem *e = &t->e;

	post_segs(t, out, out_n, in, in_n);
	assert_int_equal(vio_devq_pop(&t->p.dev, e), 0);
	assert_false(vio_devq_is_stopped(&t->p.dev));
	check_spans(&t->p, e->out, e->out_num, out, out_n);
	check_spans(&t->p, e->in, e->in_num, in, in_n);
	assert_int_equal(e->out_len, seg_total(out, out_n));
	assert_int_equal(e->in_len, seg_total(in, in_n));
	/* The id is what push() needs to hand the right token back. */
	assert_int_equal(vio_devq_push(&t->p.dev, e, e->in_len), 0);
	reap(t, 0, e->in_len);
}

/* Odd sizes and offsets, so a swapped or merged span shows. */
static void pop_shape(struct api *t)
{
	static const struct seg out[2] = { { 0, 16 }, { 100, 7 } };
	static const struct seg in[3] = { { 200, 32 }, { 300, 1 }, { 400, 64 } };

	pop_matches(t, out, 2, in, 3);
}

static void a_pop_empty_ring_is_eagain(void **state)
{
	struct api *t = *state;

	api_pair(t, 8, 0, NULL);
	assert_int_equal(vio_devq_pop(&t->p.dev, &t->e), -EAGAIN);
	assert_int_equal(vio_devq_pop(&t->p.dev, &t->e), -EAGAIN);
	assert_false(vio_devq_is_stopped(&t->p.dev));
	assert_null(vio_devq_error(&t->p.dev));
}

static void a_pop_fills_element_direct(void **state)
{
	struct api *t = *state;

	api_pair(t, 8, 0, NULL);
	pop_shape(t);
}

static void a_pop_fills_element_indirect(void **state)
{
	struct api *t = *state;
	const struct vt_pair_opts o = { .indirect_max = 8 };

	api_pair(t, 8, F_IND, &o);
	pop_shape(t);
}

static void a_pop_zero_length_segments(void **state)
{
	static const struct seg out[2] = { { 0, 0 }, { 16, 5 } };
	static const struct seg in[3] = { { 64, 0 }, { 128, 8 }, { 256, 0 } };
	struct api *t = *state;

	api_pair(t, 8, 0, NULL);
	pop_matches(t, out, 2, in, 3);
}

static void a_pop_zero_length_segments_indirect(void **state)
{
	static const struct seg out[2] = { { 0, 0 }, { 16, 5 } };
	static const struct seg in[2] = { { 64, 0 }, { 128, 8 } };
	const struct vt_pair_opts o = { .indirect_max = 8 };
	struct api *t = *state;

	api_pair(t, 8, F_IND, &o);
	pop_matches(t, out, 2, in, 2);
}

static const struct seg three_out[3] = { { 0, 4 }, { 64, 4 }, { 128, 4 } };
static const struct seg three_in[3] = { { 256, 4 }, { 320, 4 }, { 384, 4 } };

static void a_pop_exact_span_capacity_is_enough(void **state)
{
	struct api *t = *state;

	api_pair(t, 8, 0, NULL);
	t->e.out_cap = 3;
	t->e.in_cap = 1;
	pop_matches(t, three_out, 3, three_in, 1);
}

/* A well-behaved chain that needs more spans than the caller gave room for. */
static void pop_overflows(struct api *t, unsigned out_cap, unsigned in_cap)
{
	api_pair(t, 8, 0, NULL);
	post_segs(t, three_out, 3, three_in, 3);
	t->e.out_cap = out_cap;
	t->e.in_cap = in_cap;
	assert_int_equal(vio_devq_pop(&t->p.dev, &t->e), -ENOBUFS);
	assert_true(vio_devq_is_stopped(&t->p.dev));
	assert_non_null(vio_devq_error(&t->p.dev));
	t->e.out_cap = t->e.in_cap = API_IOVS;
	assert_int_equal(vio_devq_pop(&t->p.dev, &t->e), -ENOBUFS);
}

static void a_pop_too_few_readable_spans_is_enobufs(void **state)
{
	pop_overflows(*state, 2, 3);
}

static void a_pop_too_few_writable_spans_is_enobufs(void **state)
{
	pop_overflows(*state, 3, 2);
}

/* After a stop every call fails fast; re-initialising at the same place
 * (what a reset + SET_VRING_BASE does) brings the queue back. */
static void a_stopped_queue_fails_fast_until_reinit(void **state)
{
	struct api *t = *state;
	struct vio_elem stale;

	pop_overflows(t, 2, 3);
	stale = t->e;
	stale.in_len = 0;
	assert_int_equal(vio_devq_push(&t->p.dev, &stale, 0), -ENOBUFS);
	assert_int_equal(vio_devq_fill(&t->p.dev, &stale, 0), -ENOBUFS);
	assert_int_equal(vio_devq_flush(&t->p.dev), -ENOBUFS);
	assert_false(vio_devq_has_avail(&t->p.dev));
	assert_false(vio_devq_need_interrupt(&t->p.dev));
	assert_false(vio_drvq_has_used(&t->p.drv));

	assert_int_equal(vt_pair_dev_reinit(&t->p), 0);
	assert_false(vio_devq_is_stopped(&t->p.dev));
	assert_null(vio_devq_error(&t->p.dev));
	assert_true(vio_devq_has_avail(&t->p.dev));
	assert_int_equal(vio_devq_pop(&t->p.dev, &t->e), 0);
	assert_int_equal(t->e.out_num, 3);
	assert_int_equal(t->e.in_num, 3);
	assert_int_equal(vio_devq_push(&t->p.dev, &t->e, 12), 0);
	reap(t, 0, 12);
}

static void a_push_hands_token_and_bytes_back(void **state)
{
	struct api *t = *state;
	const char msg[] = "ping", reply[] = "pong!";
	struct vio_sg out, in;
	char got[sizeof(msg)];

	api_pair(t, 8, 0, NULL);
	memcpy(t->p.buf, msg, sizeof(msg));
	out = vt_sg(&t->p, 0, sizeof(msg));
	in = vt_sg(&t->p, 512, 64);
	assert_int_equal(vio_drvq_add(&t->p.drv, &out, 1, &in, 1, &t->tokens[7]), 0);
	assert_int_equal(vio_devq_pop(&t->p.dev, &t->e), 0);
	assert_int_equal(vio_iov_to_buf(t->e.out, t->e.out_num, 0, got, sizeof(got)), sizeof(got));
	assert_memory_equal(got, msg, sizeof(msg));
	assert_int_equal(vio_iov_from_buf(t->e.in, t->e.in_num, 0, reply, sizeof(reply)),
			 sizeof(reply));
	assert_int_equal(vio_devq_push(&t->p.dev, &t->e, sizeof(reply)), 0);
	reap(t, 7, sizeof(reply));
	assert_memory_equal(t->p.buf + 512, reply, sizeof(reply));
}

static void a_push_len_above_in_len_is_einval(void **state)
{
	struct api *t = *state;

	api_pair(t, 8, 0, NULL);
	post1(t, 0);
	assert_int_equal(vio_devq_pop(&t->p.dev, &t->e), 0);
	assert_int_equal(vio_devq_push(&t->p.dev, &t->e, t->e.in_len + 1), -EINVAL);
	assert_int_equal(vio_devq_push(&t->p.dev, &t->e, UINT32_MAX), -EINVAL);
	/* The caller's mistake, not the driver's: the queue goes on. */
	assert_false(vio_devq_is_stopped(&t->p.dev));
	assert_false(vio_drvq_has_used(&t->p.drv));
	assert_int_equal(vio_devq_push(&t->p.dev, &t->e, t->e.in_len), 0);
	reap(t, 0, 64);
}

static void a_push_id_out_of_range_is_einval(void **state)
{
	struct api *t = *state;
	struct vio_elem bad;

	api_pair(t, 8, 0, NULL);
	post1(t, 0);
	assert_int_equal(vio_devq_pop(&t->p.dev, &t->e), 0);
	bad = t->e;
	bad.id = 8;
	assert_int_equal(vio_devq_push(&t->p.dev, &bad, 0), -EINVAL);
	bad.id = UINT16_MAX;
	assert_int_equal(vio_devq_push(&t->p.dev, &bad, 0), -EINVAL);
	assert_false(vio_devq_is_stopped(&t->p.dev));
	assert_false(vio_drvq_has_used(&t->p.drv));
	assert_int_equal(vio_devq_push(&t->p.dev, &t->e, 3), 0);
	reap(t, 0, 3);
}

static void a_fill_of_unpopped_element_is_einval(void **state)
{
	struct api *t = *state;

	api_pair(t, 8, 0, NULL);
	post1(t, 0);
	/* Nothing popped yet: whatever the element says, there is nothing
	 * to give back. */
	assert_int_equal(vio_devq_fill(&t->p.dev, &t->e, 0), -EINVAL);
	assert_int_equal(vio_devq_push(&t->p.dev, &t->e, 0), -EINVAL);
	assert_int_equal(vio_devq_flush(&t->p.dev), 0);
	assert_false(vio_drvq_has_used(&t->p.drv));
	assert_false(vio_devq_is_stopped(&t->p.dev));
}

static void a_push_of_already_pushed_element_is_einval(void **state)
{
	struct api *t = *state;

	api_pair(t, 8, 0, NULL);
	post1(t, 0);
	serve(t, 5);
	assert_int_equal(vio_devq_push(&t->p.dev, &t->e, 5), -EINVAL);
	assert_false(vio_devq_is_stopped(&t->p.dev));
	reap(t, 0, 5);
	assert_false(vio_drvq_has_used(&t->p.drv));
	assert_false(vio_drvq_is_broken(&t->p.drv));
}

static void a_fill_publishes_nothing_until_flush(void **state)
{
	static const unsigned order[3] = { 2, 0, 1 };
	struct api *t = *state;
	struct vio_iov iov[3][2];
	struct vio_elem e[3];
	unsigned k;

	api_pair(t, 8, 0, NULL);
	for (k = 0; k < 3; k++) {
		post1(t, k);
		elem_prepare(&e[k], &iov[k][0], 1, &iov[k][1], 1);
		assert_int_equal(vio_devq_pop(&t->p.dev, &e[k]), 0);
	}
	for (k = 0; k < 3; k++) {
		assert_int_equal(vio_devq_fill(&t->p.dev, &e[order[k]], 10 + k), 0);
		assert_false(vio_drvq_has_used(&t->p.drv));
	}
	assert_int_equal(vio_devq_flush(&t->p.dev), 0);
	assert_true(vio_drvq_has_used(&t->p.drv));
	for (k = 0; k < 3; k++)
		reap(t, order[k], 10 + k);
	assert_false(vio_drvq_has_used(&t->p.drv));
}

static void a_flush_with_nothing_filled_is_a_noop(void **state)
{
	struct api *t = *state;

	api_pair(t, 8, 0, NULL);
	assert_int_equal(vio_devq_flush(&t->p.dev), 0);
	assert_false(vio_drvq_has_used(&t->p.drv));
	assert_false(vio_devq_need_interrupt(&t->p.dev));
	assert_int_equal(t->p.dev.stats.interrupts + t->p.dev.stats.interrupts_suppressed, 0);
}

static void a_has_avail_follows_the_driver(void **state)
{
	struct api *t = *state;

	api_pair(t, 8, 0, NULL);
	assert_false(vio_devq_has_avail(&t->p.dev));
	post1(t, 0);
	assert_true(vio_devq_has_avail(&t->p.dev));
	assert_true(vio_devq_has_avail(&t->p.dev)); /* asking does not consume */
	assert_int_equal(vio_devq_pop(&t->p.dev, &t->e), 0);
	assert_false(vio_devq_has_avail(&t->p.dev));
}

/* Runs n buffers through; need_interrupt after each push. Returns how many
 * interrupts were asked for. The driver reaps each one, so its re-arming
 * of interrupts (when enabled) is exercised across index wrap. */
static unsigned run_buffers(struct api *t, unsigned n)
{
	unsigned k, irqs = 0;

	for (k = 0; k < n; k++) {
		post1(t, k);
		vio_drvq_kick_prepare(&t->p.drv);
		serve(t, 1);
		irqs += vio_devq_need_interrupt(&t->p.dev);
		reap(t, k, 1);
	}
	return irqs;
}

static void irq_enabled_case(struct api *t, uint64_t features)
{
	api_pair(t, 8, features, NULL);
	assert_int_equal(run_buffers(t, WRAP_RUN), WRAP_RUN);
	assert_int_equal(t->p.dev.stats.interrupts, WRAP_RUN);
	assert_int_equal(t->p.dev.stats.interrupts_suppressed, 0);
}

static void a_irq_every_buffer_when_enabled(void **state)
{
	irq_enabled_case(*state, 0);
}

static void a_irq_every_buffer_when_enabled_event_idx(void **state)
{
	irq_enabled_case(*state, F_EVT);
}

/* disable_cb suppresses; enable_cb brings the next interrupt back. Fewer
 * buffers than a 16-bit wrap: split's EVENT_IDX suppression is only good
 * for 65535 entries, by design. */
static void irq_disabled_case(struct api *t, uint64_t features)
{
	api_pair(t, 8, features, NULL);
	vio_drvq_disable_cb(&t->p.drv);
	assert_int_equal(run_buffers(t, 100), 0);
	assert_int_equal(t->p.dev.stats.interrupts, 0);
	assert_int_equal(t->p.dev.stats.interrupts_suppressed, 100);
	assert_true(vio_drvq_enable_cb(&t->p.drv));
	assert_int_equal(run_buffers(t, 3), 3);
	assert_int_equal(t->p.dev.stats.interrupts, 3);
	assert_int_equal(t->p.dev.stats.interrupts_suppressed, 100);
}

static void a_irq_suppressed_when_driver_disables(void **state)
{
	irq_disabled_case(*state, 0);
}

static void a_irq_suppressed_when_driver_disables_event_idx(void **state)
{
	irq_disabled_case(*state, F_EVT);
}

static void a_irq_not_asked_twice_for_the_same_buffers(void **state)
{
	struct api *t = *state;

	api_pair(t, 8, 0, NULL);
	assert_false(vio_devq_need_interrupt(&t->p.dev));
	post1(t, 0);
	serve(t, 0);
	assert_true(vio_devq_need_interrupt(&t->p.dev));
	assert_false(vio_devq_need_interrupt(&t->p.dev));
	assert_int_equal(t->p.dev.stats.interrupts, 1);
	assert_int_equal(t->p.dev.stats.interrupts_suppressed, 0);
}

/* Two buffers with interrupts off: the first completion is suppressed, the
 * one that leaves the device with nothing is not, if NOTIFY_ON_EMPTY. */
static void notify_on_empty_case(struct api *t, uint64_t features, bool expect_last)
{
	struct vio_iov iov[2][2];
	struct vio_elem e[2];

	api_pair(t, 8, features, NULL);
	vio_drvq_disable_cb(&t->p.drv);
	post1(t, 0);
	post1(t, 1);
	elem_prepare(&e[0], &iov[0][0], 1, &iov[0][1], 1);
	elem_prepare(&e[1], &iov[1][0], 1, &iov[1][1], 1);
	assert_int_equal(vio_devq_pop(&t->p.dev, &e[0]), 0);
	assert_int_equal(vio_devq_pop(&t->p.dev, &e[1]), 0);
	assert_int_equal(vio_devq_push(&t->p.dev, &e[0], 0), 0);
	assert_false(vio_devq_need_interrupt(&t->p.dev));
	assert_int_equal(vio_devq_push(&t->p.dev, &e[1], 0), 0);
	assert_int_equal(vio_devq_need_interrupt(&t->p.dev), expect_last);
	assert_int_equal(t->p.dev.stats.interrupts, expect_last ? 1 : 0);
	assert_int_equal(t->p.dev.stats.interrupts_suppressed, expect_last ? 1 : 2);
}

static void a_irq_notify_on_empty_overrides_suppression(void **state)
{
	notify_on_empty_case(*state, F_NOE, true);
}

static void a_irq_notify_on_empty_overrides_event_idx(void **state)
{
	notify_on_empty_case(*state, F_NOE | F_EVT, true);
}

static void a_irq_no_empty_notify_unless_negotiated(void **state)
{
	notify_on_empty_case(*state, 0, false);
}

/* With buffers still available the ring is not empty, even with nothing
 * in flight. */
static void a_irq_notify_on_empty_needs_an_empty_ring(void **state)
{
	struct api *t = *state;

	api_pair(t, 8, F_NOE, NULL);
	vio_drvq_disable_cb(&t->p.drv);
	post1(t, 0);
	post1(t, 1);
	serve(t, 0);
	assert_false(vio_devq_need_interrupt(&t->p.dev));
	serve(t, 0);
	assert_true(vio_devq_need_interrupt(&t->p.dev));
}

static void a_kick_disable_suppresses_driver_kicks(void **state)
{
	struct api *t = *state;

	api_pair(t, 8, 0, NULL);
	vio_devq_kick_disable(&t->p.dev);
	post1(t, 0);
	assert_false(vio_drvq_kick_prepare(&t->p.drv));
	post1(t, 1);
	assert_false(vio_drvq_kick_prepare(&t->p.drv));
	assert_int_equal(t->p.drv.stats.kicks, 0);
	assert_int_equal(t->p.drv.stats.kicks_suppressed, 2);
}

static void a_kick_enable_reports_buffers_that_arrived(void **state)
{
	struct api *t = *state;

	api_pair(t, 8, 0, NULL);
	vio_devq_kick_disable(&t->p.dev);
	post1(t, 0);
	vio_drvq_kick_prepare(&t->p.drv);
	/* A buffer came while kicks were off: the device must poll it. */
	assert_false(vio_devq_kick_enable(&t->p.dev));
	serve(t, 0);
	assert_true(vio_devq_kick_enable(&t->p.dev));
	post1(t, 1);
	assert_true(vio_drvq_kick_prepare(&t->p.drv));
}

static void kick_enable_idle_case(struct api *t, uint64_t features)
{
	api_pair(t, 8, features, NULL);
	vio_devq_kick_disable(&t->p.dev);
	assert_true(vio_devq_kick_enable(&t->p.dev));
	post1(t, 0);
	assert_true(vio_drvq_kick_prepare(&t->p.drv));
	assert_int_equal(t->p.drv.stats.kicks, 1);
}

static void a_kick_enable_on_idle_ring_rearms(void **state)
{
	kick_enable_idle_case(*state, 0);
}

static void a_kick_enable_on_idle_ring_rearms_event_idx(void **state)
{
	kick_enable_idle_case(*state, F_EVT);
}

/* EVENT_IDX: a device that finds the ring empty asks for the next kick; one
 * that still has work does not, so the driver's later adds stay quiet. */
static void a_kick_event_idx_armed_by_empty_pop(void **state)
{
	struct api *t = *state;

	api_pair(t, 8, F_EVT, NULL);
	assert_int_equal(vio_devq_pop(&t->p.dev, &t->e), -EAGAIN);
	post1(t, 0);
	assert_true(vio_drvq_kick_prepare(&t->p.drv));
	serve(t, 0);
	post1(t, 1);
	assert_false(vio_drvq_kick_prepare(&t->p.drv));
	serve(t, 0);
	assert_int_equal(vio_devq_pop(&t->p.dev, &t->e), -EAGAIN);
	post1(t, 2);
	assert_true(vio_drvq_kick_prepare(&t->p.drv));
	assert_int_equal(t->p.drv.stats.kicks, 2);
	assert_int_equal(t->p.drv.stats.kicks_suppressed, 1);
}

static void a_kick_empty_pop_does_not_rearm_while_disabled(void **state)
{
	struct api *t = *state;

	api_pair(t, 8, F_EVT, NULL);
	vio_devq_kick_disable(&t->p.dev);
	post1(t, 0);
	vio_drvq_kick_prepare(&t->p.drv);
	serve(t, 0);
	assert_int_equal(vio_devq_pop(&t->p.dev, &t->e), -EAGAIN);
	post1(t, 1);
	assert_false(vio_drvq_kick_prepare(&t->p.drv));
	assert_false(vio_devq_kick_enable(&t->p.dev));
}

/* A base config for the pair's rings, to break one field at a time. */
static struct vio_devq_config pair_cfg(const struct vt_pair *p)
{
	struct vio_devq_config c;

	memset(&c, 0, sizeof(c));
	c.size = p->size;
	c.features = p->features;
	c.addrs = p->addrs;
	c.mem = &p->mem;
	return c;
}

static void a_init_rejects_invalid_size(void **state)
{
	static const unsigned bad[] = { 0, 32769, 65536, UINT32_MAX };
	struct api *t = *state;
	struct vio_devq q;

	api_pair(t, 8, 0, NULL);
	for (unsigned i = 0; i < ARRAY_LEN(bad); i++) {
		struct vio_devq_config c = pair_cfg(&t->p);

		c.size = bad[i];
		assert_int_equal(vio_devq_init(&q, &c), -EINVAL);
	}
}

static void a_init_rejects_missing_mem(void **state)
{
	struct api *t = *state;
	struct vio_devq_config c;
	struct vio_devq q;

	api_pair(t, 8, 0, NULL);
	c = pair_cfg(&t->p);
	c.mem = NULL;
	assert_int_equal(vio_devq_init(&q, &c), -EINVAL);
}

static uint64_t *area_addr(struct vio_devq_config *c, unsigned area)
{
	return area == 0 ? &c->addrs.desc : area == 1 ? &c->addrs.driver : &c->addrs.device;
}

static size_t area_bytes(uint64_t features, unsigned size, unsigned area)
{
	return area == 0 ? vio_ring_desc_bytes(features, size) :
	       area == 1 ? vio_ring_driver_bytes(features, size) :
			   vio_ring_device_bytes(features, size);
}

static size_t area_align(uint64_t features, unsigned area)
{
	return area == 0 ? vio_ring_desc_align(features) :
	       area == 1 ? vio_ring_driver_align(features) : vio_ring_device_align(features);
}

/* Each area, aligned, just below the arena and straddling its end. */
static void a_init_rejects_areas_outside_memory(void **state)
{
	struct api *t = *state;
	struct vio_devq q;

	api_pair(t, 8, 0, NULL);
	for (unsigned area = 0; area < 3; area++) {
		size_t bytes = area_bytes(t->p.features, 8, area);
		uint64_t end = VT_GUEST_BASE + t->p.arena_len;
		struct vio_devq_config c = pair_cfg(&t->p);

		*area_addr(&c, area) = VT_GUEST_BASE - ((bytes + PAGE - 1) / PAGE) * PAGE;
		assert_int_equal(vio_devq_init(&q, &c), -EFAULT);
		*area_addr(&c, area) = end - ((bytes + 15) / 16) * 16 + 16;
		assert_int_equal(vio_devq_init(&q, &c), -EFAULT);
		*area_addr(&c, area) = end;
		assert_int_equal(vio_devq_init(&q, &c), -EFAULT);
	}
}

static void a_init_rejects_misaligned_areas(void **state)
{
	struct api *t = *state;
	struct vio_devq q;

	api_pair(t, 8, 0, NULL);
	for (unsigned area = 0; area < 3; area++) {
		size_t align = area_align(t->p.features, area);
		struct vio_devq_config c = pair_cfg(&t->p);

		assert_true(align > 1);
		*area_addr(&c, area) += align / 2;
		assert_int_equal(vio_devq_init(&q, &c), -EINVAL);
	}
	/* The unbroken config is fine: the failures above were the shifts. */
	{
		struct vio_devq_config c = pair_cfg(&t->p);

		assert_int_equal(vio_devq_init(&q, &c), 0);
	}
}

/* GET_VRING_BASE / SET_VRING_BASE: a device re-created at the reported
 * bases carries on exactly where the old one stopped. */
static void a_init_resume_continues_at_the_bases(void **state)
{
	struct api *t = *state;
	uint16_t avail_base, used_base;
	unsigned k;

	api_pair(t, 4, 0, NULL);
	for (k = 0; k < 6; k++) { /* past the ring size, so positions wrapped */
		post1(t, k);
		serve(t, k);
		reap(t, k, k);
	}
	post1(t, 6);
	post1(t, 7);
	serve(t, 6);
	reap(t, 6, 6);
	avail_base = vio_devq_avail_base(&t->p.dev);
	used_base = vio_devq_used_base(&t->p.dev);
	assert_int_equal(vt_pair_dev_reinit(&t->p), 0);
	assert_int_equal(vio_devq_avail_base(&t->p.dev), avail_base);
	assert_int_equal(vio_devq_used_base(&t->p.dev), used_base);
	serve(t, 7);
	reap(t, 7, 7);
	assert_int_equal(vio_devq_pop(&t->p.dev, &t->e), -EAGAIN);
	assert_false(vio_drvq_is_broken(&t->p.drv));
}

#define API_TEST(f) { #f, f }

static const struct {
	const char *name;
	CMUnitTestFunction fn;
} api_tests[] = {
	API_TEST(a_pop_empty_ring_is_eagain),
	API_TEST(a_pop_fills_element_direct),
	API_TEST(a_pop_fills_element_indirect),
	API_TEST(a_pop_zero_length_segments),
	API_TEST(a_pop_zero_length_segments_indirect),
	API_TEST(a_pop_exact_span_capacity_is_enough),
	API_TEST(a_pop_too_few_readable_spans_is_enobufs),
	API_TEST(a_pop_too_few_writable_spans_is_enobufs),
	API_TEST(a_stopped_queue_fails_fast_until_reinit),
	API_TEST(a_push_hands_token_and_bytes_back),
	API_TEST(a_push_len_above_in_len_is_einval),
	API_TEST(a_push_id_out_of_range_is_einval),
	API_TEST(a_fill_of_unpopped_element_is_einval),
	API_TEST(a_push_of_already_pushed_element_is_einval),
	API_TEST(a_fill_publishes_nothing_until_flush),
	API_TEST(a_flush_with_nothing_filled_is_a_noop),
	API_TEST(a_has_avail_follows_the_driver),
	API_TEST(a_irq_every_buffer_when_enabled),
	API_TEST(a_irq_every_buffer_when_enabled_event_idx),
	API_TEST(a_irq_suppressed_when_driver_disables),
	API_TEST(a_irq_suppressed_when_driver_disables_event_idx),
	API_TEST(a_irq_not_asked_twice_for_the_same_buffers),
	API_TEST(a_irq_notify_on_empty_overrides_suppression),
	API_TEST(a_irq_notify_on_empty_overrides_event_idx),
	API_TEST(a_irq_no_empty_notify_unless_negotiated),
	API_TEST(a_irq_notify_on_empty_needs_an_empty_ring),
	API_TEST(a_kick_disable_suppresses_driver_kicks),
	API_TEST(a_kick_enable_reports_buffers_that_arrived),
	API_TEST(a_kick_enable_on_idle_ring_rearms),
	API_TEST(a_kick_enable_on_idle_ring_rearms_event_idx),
	API_TEST(a_kick_event_idx_armed_by_empty_pop),
	API_TEST(a_kick_empty_pop_does_not_rearm_while_disabled),
	API_TEST(a_init_rejects_invalid_size),
	API_TEST(a_init_rejects_missing_mem),
	API_TEST(a_init_rejects_areas_outside_memory),
	API_TEST(a_init_rejects_misaligned_areas),
	API_TEST(a_init_resume_continues_at_the_bases),
};

/* ======================================================================== */
/* Part 2: split-specific tests: a hostile driver writes the ring by hand   */
/* ======================================================================== */

/*
 * Guest memory of the hostile fixture:
 *
 *   A [GA, GA+64K)  rings at +0 / +8K / +12K (room for 512 entries),
 *                   indirect tables at +20K, buffers from +32K to the end
 *   B [GB, GB+8K)   adjacent to A in guest space, a separate mapping
 *   hole (4K)
 *   C [GC, GC+4K)   host mapping 4 bytes past 8-alignment
 *   D [GD, GD+2G)   only for the 4 GiB tests: reserved, never accessible
 *   E0 E1 E2        only for one test: three adjacent one-page regions
 *
 * Each region is its own guarded mmap (tests/lib/guard.h).
 */
#define GA UINT64_C(0x7f000000)
#define A_LEN (16 * PAGE)
#define GB (GA + A_LEN)
#define B_LEN (2 * PAGE)
#define GC (GB + B_LEN + PAGE)
#define C_LEN PAGE
#define C_SKEW 4u
#define GD UINT64_C(0x200000000)
#define D_LEN UINT64_C(0x80000000)
#define GE UINT64_C(0x300000000)
#define OFF_AVAIL 0x2000u
#define OFF_USED 0x3000u
#define OFF_IND 0x5000u
#define OFF_BUF 0x8000u
#define BUF(off) (GA + OFF_BUF + (off))
#define IND(off) (GA + OFF_IND + (off))
#define HQ_IOVS 16

struct variant {
	const char *name;
	uint64_t features;      /* VERSION_1 or not */
	bool legacy_layout;     /* 0.9.5 one-block layout */
};

static const struct variant variants[] = {
	{ "split-modern", V1, false },
	{ "split-modern-areas-native-endian", 0, false },
	{ "split-legacy-0.9.5", 0, true },
};

struct hq {
	const struct variant *var;
	struct vt_guarded a, b, c, d, e3[3];
	struct vio_mem_region table[8];
	struct vio_mem mem;
	unsigned size;
	uint64_t features;
	bool legacy;
	struct vio_ring_addrs addrs;
	struct vio_split_desc *desc;
	struct vio_split_avail *avail;
	struct vio_split_used *used;
	uint16_t aidx;          /* the hostile driver's avail index */
	struct vio_devq q;
	struct vio_iov out[HQ_IOVS], in[HQ_IOVS];
	struct vio_elem e;
	uint8_t snap_a[A_LEN], snap_b[B_LEN], snap_c[C_LEN];
};

static int hq_setup(void **state)
{
	struct hq *h = calloc(1, sizeof(*h));

	if (!h)
		return -1;
	h->var = *state;
	*state = h;
	return 0;
}

static int hq_teardown(void **state)
{
	struct hq *h = *state;

	vt_guarded_unmap(&h->a);
	vt_guarded_unmap(&h->b);
	vt_guarded_unmap(&h->c);
	vt_guarded_unmap(&h->d);
	for (unsigned i = 0; i < 3; i++)
		vt_guarded_unmap(&h->e3[i]);
	free(h);
	return 0;
}

static void *hva(struct hq *h, uint64_t gpa)
{
	void *p = vio_mem_ptr(&h->mem, gpa, 1);

	assert_non_null(p);
	return p;
}

static struct vio_devq_config hq_cfg(const struct hq *h, uint16_t avail_base, uint16_t used_base)
{
	struct vio_devq_config c;

	memset(&c, 0, sizeof(c));
	c.size = h->size;
	c.features = h->features;
	c.addrs = h->addrs;
	c.mem = &h->mem;
	c.resume = avail_base || used_base;
	c.avail_base = avail_base;
	c.used_base = used_base;
	return c;
}

/* Maps A, B and C, places the rings in A and starts a device queue whose
 * avail and used indices start at the given bases. */
static struct hq *hq_init_at(void **state, unsigned size, uint64_t features,
			     uint16_t avail_base, uint16_t used_base)
{
	struct hq *h = *state;
	struct vio_devq_config c;

	vt_guarded_map(&h->a, A_LEN, 0, false);
	vt_guarded_map(&h->b, B_LEN, 0, false);
	vt_guarded_map(&h->c, C_LEN, C_SKEW, false);
	memset(h->a.body + OFF_BUF, 0xb7, A_LEN - OFF_BUF);
	memset(h->b.body, 0xc8, B_LEN);
	memset(h->c.body, 0xd9, C_LEN);
	vio_mem_init(&h->mem, h->table, ARRAY_LEN(h->table));
	assert_int_equal(vio_mem_add(&h->mem, GA, A_LEN, h->a.body), 0);
	assert_int_equal(vio_mem_add(&h->mem, GB, B_LEN, h->b.body), 0);
	assert_int_equal(vio_mem_add(&h->mem, GC, C_LEN, h->c.body), 0);

	h->size = size;
	h->features = features | h->var->features;
	h->legacy = !vio_has_feature(h->features, VIO_F_VERSION_1);
	if (h->var->legacy_layout) {
		vio_ring_legacy_layout(GA, size, VIO_LEGACY_VRING_ALIGN, &h->addrs);
		assert_true(h->addrs.device + vio_split_used_size(size) <= GA + OFF_IND);
	} else {
		h->addrs.desc = GA;
		h->addrs.driver = GA + OFF_AVAIL;
		h->addrs.device = GA + OFF_USED;
	}
	h->desc = hva(h, h->addrs.desc);
	h->avail = hva(h, h->addrs.driver);
	h->used = hva(h, h->addrs.device);
	h->aidx = avail_base;
	h->avail->idx = vio_set16(h->legacy, avail_base);
	h->used->idx = vio_set16(h->legacy, used_base);

	c = hq_cfg(h, avail_base, used_base);
	assert_int_equal(vio_devq_init(&h->q, &c), 0);
	elem_prepare(&h->e, h->out, HQ_IOVS, h->in, HQ_IOVS);
	return h;
}

static struct hq *hq_init(void **state, unsigned size, uint64_t features)
{
	return hq_init_at(state, size, features, 0, 0);
}

/* The 2 GiB region D, for chains whose total passes 2^32 - 1. */
static void hq_add_big(struct hq *h)
{
	vt_guarded_map(&h->d, D_LEN, 0, true);
	assert_int_equal(vio_mem_add(&h->mem, GD, D_LEN, h->d.body), 0);
}

/* Writes one descriptor at guest address `at` (ring slot or table entry),
 * through mem so that a table may straddle regions. */
static void put_desc_at(struct hq *h, uint64_t at, uint64_t addr, uint32_t len,
			uint16_t flags, uint16_t next)
{
	struct vio_split_desc d;

	d.addr = vio_set64(h->legacy, addr);
	d.len = vio_set32(h->legacy, len);
	d.flags = vio_set16(h->legacy, flags);
	d.next = vio_set16(h->legacy, next);
	assert_int_equal(vio_mem_write(&h->mem, at, &d, sizeof(d)), 0);
}

static void put_desc(struct hq *h, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	put_desc_at(h, h->addrs.desc + 16u * i, addr, len, flags, next);
}

/* Table entry i of an indirect table at guest address `table`. */
static void put_ind(struct hq *h, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
		    uint16_t flags, uint16_t next)
{
	put_desc_at(h, table + 16u * i, addr, len, flags, next);
}

/* Makes head `head` available. */
static void publish(struct hq *h, uint16_t head)
{
	h->avail->ring[h->aidx & (h->size - 1)] = vio_set16(h->legacy, head);
	h->aidx++;
	h->avail->idx = vio_set16(h->legacy, h->aidx);
}

static void set_avail_idx(struct hq *h, uint16_t idx)
{
	h->avail->idx = vio_set16(h->legacy, idx);
}

static uint16_t used_idx(const struct hq *h)
{
	return vio_get16(h->legacy, h->used->idx);
}

static void set_used_event(struct hq *h, uint16_t v)
{
	h->avail->ring[h->size] = vio_set16(h->legacy, v);
}

static vio_le16 *avail_event(struct hq *h)
{
	return (vio_le16 *)&h->used->ring[h->size];
}

static void snapshot(struct hq *h)
{
	memcpy(h->snap_a, h->a.body, A_LEN);
	memcpy(h->snap_b, h->b.body, B_LEN);
	memcpy(h->snap_c, h->c.body, C_LEN);
}

/* Since the snapshot nothing changed: not the canaries outside the regions,
 * and not the driver's memory inside them. Only the used area is the
 * device's to write. */
static void assert_untouched(struct hq *h)
{
	size_t uoff = (size_t)((uint8_t *)h->used - h->a.body);
	size_t uend = uoff + vio_split_used_size(h->size);

	assert_true(vt_guarded_canaries_ok(&h->a));
	assert_true(vt_guarded_canaries_ok(&h->b));
	assert_true(vt_guarded_canaries_ok(&h->c));
	assert_true(vt_guarded_canaries_ok(&h->d));
	for (unsigned i = 0; i < 3; i++)
		assert_true(vt_guarded_canaries_ok(&h->e3[i]));
	assert_memory_equal(h->a.body, h->snap_a, uoff);
	assert_memory_equal(h->a.body + uend, h->snap_a + uend, A_LEN - uend);
	assert_memory_equal(h->b.body, h->snap_b, B_LEN);
	assert_memory_equal(h->c.body, h->snap_c, C_LEN);
}

/*
 * The heart of the malformed-ring tests: pop fails with `err`, the queue is
 * stopped with a reason, memory is untouched, and the stop is sticky: even
 * once the driver "repairs" the ring, pop keeps failing the same way and
 * the other calls refuse to act.
 */
static void expect_stop(struct hq *h, int err)
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
	put_desc(h, 0, BUF(0), 16, 0, 0);
	for (unsigned i = 0; i < h->size; i++)
		h->avail->ring[i] = vio_set16(h->legacy, 0);
	set_avail_idx(h, (uint16_t)(base + 1));
	snapshot(h);
	before = h->q.stats;
	h->e.out_cap = h->e.in_cap = HQ_IOVS;

	assert_int_equal(vio_devq_pop(&h->q, &h->e), err);
	assert_int_equal(vio_devq_pop(&h->q, &h->e), err);
	assert_ptr_equal(vio_devq_error(&h->q), why);
	assert_false(vio_devq_has_avail(&h->q));
	assert_true(vio_devq_push(&h->q, &h->e, 0) < 0);
	assert_true(vio_devq_flush(&h->q) < 0);
	assert_false(vio_devq_need_interrupt(&h->q));
	assert_memory_equal(&h->q.stats, &before, sizeof(before));
	assert_int_equal(used_idx(h), 0);
	assert_untouched(h);
}

static void pop_ok(struct hq *h)
{
	assert_int_equal(vio_devq_pop(&h->q, &h->e), 0);
	assert_false(vio_devq_is_stopped(&h->q));
}

static void assert_span(const struct vio_iov *iov, const void *base, size_t len)
{
	assert_ptr_equal(iov->base, base);
	assert_int_equal(iov->len, len);
}

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

#define HQ_TEST(f) { #f, f }

static const struct {
	const char *name;
	CMUnitTestFunction fn;
} hostile_tests[] = {
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
	HQ_TEST(h_init_size_not_power_of_two),
	HQ_TEST(h_init_area_across_two_regions),
	HQ_TEST(h_init_area_in_hole),
	HQ_TEST(h_init_desc_misaligned_on_host),
	HQ_TEST(v_real_driver_roundtrip),
};

static const struct {
	const char *name;
	CMUnitTestFunction fn;
} variant_tests[] = {
	HQ_TEST(h_pop_fills_element),
	HQ_TEST(h_indirect_table_across_two_regions),
	HQ_TEST(h_bad_head_equal_to_size),
	HQ_TEST(h_bad_chain_loop),
	HQ_TEST(h_bad_addr_just_below_first_region),
	HQ_TEST(h_push_writes_used_entry_and_index),
	HQ_TEST(h_irq_event_idx_batch),
	HQ_TEST(h_kick_event_idx_empty_pop_writes_avail_event),
	HQ_TEST(v_real_driver_roundtrip),
};

/* ======================================================================== */

static void add_test(struct CMUnitTest *t, size_t *n, const char *prefix, const char *name,
		     CMUnitTestFunction fn, CMFixtureFunction setup, CMFixtureFunction teardown,
		     const void *param)
{
	size_t len = strlen(prefix) + strlen(name) + 3;
	char *s = malloc(len);

	if (!s)
		abort();
	snprintf(s, len, "%s: %s", prefix, name);
	t[*n] = (struct CMUnitTest){ s, fn, setup, teardown, (void *)param };
	(*n)++;
}

int main(void)
{
	const size_t total = ARRAY_LEN(layouts) * ARRAY_LEN(api_tests) + ARRAY_LEN(hostile_tests) +
			     (ARRAY_LEN(variants) - 1) * ARRAY_LEN(variant_tests);
	struct CMUnitTest *tests = calloc(total, sizeof(*tests));
	size_t n = 0, i, v;
	int r;

	if (!tests)
		return 1;
	for (v = 0; v < ARRAY_LEN(layouts); v++)
		for (i = 0; i < ARRAY_LEN(api_tests); i++)
			add_test(tests, &n, layouts[v].name, api_tests[i].name, api_tests[i].fn,
				 api_setup, api_teardown, &layouts[v]);
	/* The first variant is the default one: every hostile test runs in it. */
	for (i = 0; i < ARRAY_LEN(hostile_tests); i++)
		add_test(tests, &n, variants[0].name, hostile_tests[i].name, hostile_tests[i].fn,
			 hq_setup, hq_teardown, &variants[0]);
	for (v = 1; v < ARRAY_LEN(variants); v++)
		for (i = 0; i < ARRAY_LEN(variant_tests); i++)
			add_test(tests, &n, variants[v].name, variant_tests[i].name,
				 variant_tests[i].fn, hq_setup, hq_teardown, &variants[v]);
	r = _cmocka_run_group_tests("devq", tests, n, NULL, NULL);
	for (i = 0; i < n; i++)
		free((void *)tests[i].name);
	free(tests);
	return r;
}
