/*
 * test_devq_api.c - the device side of a virtqueue (vio_devq_*) through its
 * public API, on every ring layout.
 *
 * Written once and run for every row of `layouts` (tests/lib/layouts.h),
 * these tests drive the device with the real driver side (vio_drvq_*) over
 * the tests/lib/pair fixture and look only at what the public API shows:
 * elements, tokens and lengths that come back, interrupt and kick decisions
 * and their counters, and the checks of vio_devq_init.
 *
 * Siblings, all in tests/unit/: test_devq_api.c (the public API on every
 * ring layout), test_devq_elem.c (well-formed chains and indirect tables),
 * test_devq_malformed.c (each broken rule of the split ring) and
 * test_devq_used.c (used ring, interrupts, kicks, init, split variants);
 * the hostile-driver fixture is devq_fixture.{c,h}. Packed-ring device
 * tests are in test_devq_packed*.c.
 */

#include "devq_fixture.h"

#define F_NOE VIO_BIT(VIO_F_NOTIFY_ON_EMPTY)

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

int main(void)
{
	const size_t total = ARRAY_LEN(layouts) * ARRAY_LEN(api_tests);
	struct CMUnitTest *tests = calloc(total, sizeof(*tests));
	size_t n = 0;

	if (!tests)
		return 1;
	for (size_t v = 0; v < ARRAY_LEN(layouts); v++)
		for (size_t i = 0; i < ARRAY_LEN(api_tests); i++)
			vt_add_test(tests, &n, layouts[v].name, api_tests[i].name, api_tests[i].fn,
				    api_setup, api_teardown, &layouts[v]);
	return vt_run_group("devq_api", tests, n);
}
