/*
 * test_drvq_get.c - the driver side of a virtqueue through its public API,
 * on every ring layout: get_buf(), the interrupt callbacks and their
 * suppression, and detach_unused() after a reset.
 *
 * Siblings, all in tests/unit/: test_drvq_add.c (sizes, end to end, add,
 * kick_prepare), test_drvq_get.c (get_buf, callbacks, detach_unused), both
 * on every layout; test_drvq_split.c and test_drvq_packed.c, where a fake,
 * hostile device writes the split or the packed ring by hand. What they
 * share is drvq_fixture.{c,h}.
 */

#include "drvq_fixture.h"

/* ---- get_buf() ----------------------------------------------------------- */
static void get_buf_eagain_when_nothing_used(void **state)
{
	struct ctx *c = *state;
	struct vio_elem e;

	pair(c, 8);
	assert_nothing_used(c);
	assert_int_equal(post(c, 1, 1, TOK(0)), 0);
	assert_nothing_used(c);
	assert_int_equal(dev_pop(c, &e), 0);
	assert_nothing_used(c);             /* popped is not used */
	dev_push(c, &e, 5);
	assert_true(vio_drvq_has_used(&c->p.drv));
	reap(c, TOK(0), 5);
	assert_nothing_used(c);
}

/* Tokens come back in the order the device used them, each with the
 * length the device wrote. */
static void get_buf_returns_token_and_len(void **state)
{
	struct ctx *c = *state;
	struct vio_elem e[MAX_ELEMS];

	pair(c, 16);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(post(c, 1, i + 1, TOK(i)), 0);
	assert_int_equal(dev_pop_all(c, e, MAX_ELEMS), 4);
	for (unsigned i = 4; i-- > 0;) {
		assert_int_equal(e[i].in_len, (i + 1) * SEG_LEN);
		dev_push(c, &e[i], e[i].in_len - 7);
	}
	for (unsigned i = 4; i-- > 0;)
		reap(c, TOK(i), (i + 1) * SEG_LEN - 7);
	assert_nothing_used(c);
}

/* The used index may legitimately run a whole ring ahead. */
static void get_buf_whole_ring_used_at_once(void **state)
{
	struct ctx *c = *state;
	struct vio_elem e[MAX_ELEMS];

	pair(c, 8);
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned i = 0; i < 8; i++)
			assert_int_equal(post(c, 0, 1, TOK(i)), 0);
		assert_int_equal(dev_pop_all(c, e, MAX_ELEMS), 8);
		for (unsigned i = 0; i < 8; i++)
			assert_int_equal(vio_devq_fill(&c->p.dev, &e[i], i), 0);
		assert_int_equal(vio_devq_flush(&c->p.dev), 0);
		for (unsigned i = 0; i < 8; i++)
			reap(c, TOK(i), i);
		assert_nothing_used(c);
	}
}

/* ---- callbacks ----------------------------------------------------------- */
static void cb_disable_suppresses_device_interrupt(void **state)
{
	struct ctx *c = *state;

	pair(c, 8);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(post(c, 1, 1, TOK(i)), 0);
	assert_true(dev_serve_one(c));     /* callbacks on: interrupt */
	reap(c, TOK(0), SEG_LEN);
	vio_drvq_disable_cb(&c->p.drv);
	assert_false(dev_serve_one(c));
	reap(c, TOK(1), SEG_LEN);
	assert_false(dev_serve_one(c));
	reap(c, TOK(2), SEG_LEN);
	assert_int_equal(c->p.dev.stats.interrupts, 1);
	assert_int_equal(c->p.dev.stats.interrupts_suppressed, 2);
}

static void cb_enable_true_when_nothing_pending(void **state)
{
	struct ctx *c = *state;

	pair(c, 8);
	vio_drvq_disable_cb(&c->p.drv);
	assert_true(vio_drvq_enable_cb(&c->p.drv));
	assert_int_equal(post(c, 1, 1, TOK(0)), 0);
	assert_true(dev_serve_one(c));     /* and the next one interrupts */
	reap(c, TOK(0), SEG_LEN);
	vio_drvq_disable_cb(&c->p.drv);
	assert_true(vio_drvq_enable_cb(&c->p.drv));
}

/* The race the seed fixed: used buffers that arrived while callbacks were
 * off raised no interrupt, so enable_cb must say "poll first". */
static void cb_enable_false_when_buffers_pending(void **state)
{
	struct ctx *c = *state;

	pair(c, 8);
	assert_int_equal(post(c, 1, 1, TOK(0)), 0);
	vio_drvq_disable_cb(&c->p.drv);
	assert_false(dev_serve_one(c));
	assert_false(vio_drvq_enable_cb(&c->p.drv));
	reap(c, TOK(0), SEG_LEN);
	assert_true(vio_drvq_enable_cb(&c->p.drv));
}

static void cb_enable_prepare_then_poll(void **state)
{
	struct ctx *c = *state;
	uint32_t pos;

	pair(c, 8);
	assert_int_equal(post(c, 1, 1, TOK(0)), 0);
	assert_int_equal(post(c, 1, 1, TOK(1)), 0);
	vio_drvq_disable_cb(&c->p.drv);
	pos = vio_drvq_enable_cb_prepare(&c->p.drv);
	assert_false(vio_drvq_poll(&c->p.drv, pos));
	assert_true(dev_serve_one(c));
	assert_true(vio_drvq_poll(&c->p.drv, pos));
	reap(c, TOK(0), SEG_LEN);

	pos = vio_drvq_enable_cb_prepare(&c->p.drv);
	assert_false(vio_drvq_poll(&c->p.drv, pos));
	assert_true(dev_serve_one(c));
	assert_true(vio_drvq_poll(&c->p.drv, pos));
	reap(c, TOK(1), SEG_LEN);
}

/*
 * With 8 buffers out, enable_cb_delayed asks for the interrupt after about
 * 3/4 of them: with EVENT_IDX used_event = last_used + 6, so the device's
 * 7th used buffer is the first to interrupt. Without EVENT_IDX it is a
 * plain enable: the first one does.
 */
static void cb_delayed_interrupts_after_three_quarters(void **state)
{
	struct ctx *c = *state;
	struct vio_elem e[MAX_ELEMS];
	unsigned quiet;
	uint32_t i = 0;

	pair(c, 16);
	quiet = has(c, VIO_F_EVENT_IDX) ? 6 : 0;
	for (; i < 5; i++)                 /* start away from index 0 */
		cycle(c, i, true, false);
	for (unsigned k = 0; k < 8; k++)
		assert_int_equal(post(c, 1, 1, TOK(100 + k)), 0);
	vio_drvq_disable_cb(&c->p.drv);
	assert_int_equal(dev_pop_all(c, e, MAX_ELEMS), 8);
	assert_true(vio_drvq_enable_cb_delayed(&c->p.drv));
	for (unsigned k = 0; k < 8; k++) {
		dev_push(c, &e[k], 0);
		assert_int_equal(vio_devq_need_interrupt(&c->p.dev), k >= quiet);
		if (k >= quiet)
			break;
	}
}

static void cb_delayed_false_when_enough_used(void **state)
{
	struct ctx *c = *state;

	pair(c, 8);
	for (unsigned k = 0; k < 4; k++)
		assert_int_equal(post(c, 1, 1, TOK(k)), 0);
	vio_drvq_disable_cb(&c->p.drv);
	assert_true(vio_drvq_enable_cb_delayed(&c->p.drv));    /* 0 of 4 */
	vio_drvq_disable_cb(&c->p.drv);
	for (unsigned k = 0; k < 4; k++)
		assert_false(dev_serve_one(c));
	assert_false(vio_drvq_enable_cb_delayed(&c->p.drv));   /* 4 of 4 */
	for (unsigned k = 0; k < 4; k++)
		reap(c, TOK(k), SEG_LEN);
	assert_true(vio_drvq_enable_cb_delayed(&c->p.drv));
}

/*
 * Callbacks off, two buffers out: the device returns one while the other
 * is still available (no interrupt), then the last one. With
 * NOTIFY_ON_EMPTY the ring running empty interrupts regardless.
 */
static void notify_on_empty_case(struct ctx *c, bool negotiated)
{
	pair_with(c, 8, negotiated ? VIO_BIT(VIO_F_NOTIFY_ON_EMPTY) : 0, NULL);
	assert_int_equal(post(c, 1, 1, TOK(0)), 0);
	assert_int_equal(post(c, 1, 1, TOK(1)), 0);
	vio_drvq_disable_cb(&c->p.drv);
	assert_false(dev_serve_one(c));
	assert_int_equal(dev_serve_one(c), negotiated);
	reap(c, TOK(0), SEG_LEN);
	reap(c, TOK(1), SEG_LEN);

	assert_int_equal(post(c, 1, 1, TOK(2)), 0);
	assert_int_equal(dev_serve_one(c), negotiated);
}

static void notify_on_empty_interrupts_when_ring_empty(void **state)
{
	notify_on_empty_case(*state, true);
}

static void no_notify_on_empty_without_feature(void **state)
{
	notify_on_empty_case(*state, false);
}

/* ---- detach_unused() ----------------------------------------------------- */
static void detach_unused_on_empty_queue(void **state)
{
	struct ctx *c = *state;

	pair(c, 8);
	assert_null(vio_drvq_detach_unused(&c->p.drv));
	assert_int_equal(vio_drvq_num_free(&c->p.drv), 8);
}

/*
 * Buffers in every state at reset time: still available, popped by the
 * device, used but not reaped. All come back from detach exactly once;
 * the one already reaped does not.
 */
static void detach_unused_returns_every_token_once(void **state)
{
	static const unsigned shape[][2] = { { 1, 0 }, { 1, 1 }, { 2, 1 }, { 0, 3 }, { 1, 2 } };
	struct ctx *c = *state;
	bool out[MAX_ELEMS] = { false };
	struct vio_elem e;
	unsigned n;

	pair(c, 16);
	for (n = 0; n < 5; n++) {
		assert_int_equal(post(c, shape[n][0], shape[n][1], TOK(n)), 0);
		out[n] = true;
	}
	/* Two used, the first of them reaped; one popped only; two still
	 * available. */
	(void)dev_serve_one(c);
	(void)dev_serve_one(c);
	reap(c, TOK(0), shape[0][1] * SEG_LEN);
	out[0] = false;
	assert_int_equal(dev_pop(c, &e), 0);
	/* The device is reset here: it will never touch these again. */
	detach_all(c, out, n);
}

/* Public API only: run for every layout. */
static const struct test_def api_tests[] = {
	T(get_buf_eagain_when_nothing_used, AX_EVIDX),
	T(get_buf_returns_token_and_len, AX_EVIDX | AX_INDIRECT),
	T(get_buf_whole_ring_used_at_once, AX_EVIDX),
	T(cb_disable_suppresses_device_interrupt, AX_EVIDX),
	T(cb_enable_true_when_nothing_pending, AX_EVIDX),
	T(cb_enable_false_when_buffers_pending, AX_EVIDX),
	T(cb_enable_prepare_then_poll, AX_EVIDX),
	T(cb_delayed_interrupts_after_three_quarters, AX_EVIDX),
	T(cb_delayed_false_when_enough_used, AX_EVIDX),
	T(notify_on_empty_interrupts_when_ring_empty, AX_EVIDX),
	T(no_notify_on_empty_without_feature, AX_EVIDX),
	T(detach_unused_on_empty_queue, 0),
	T(detach_unused_returns_every_token_once, AX_EVIDX | AX_INDIRECT),
};

int main(void)
{
	return drvq_run("drvq_get", api_tests, sizeof(api_tests) / sizeof(api_tests[0]),
			ROWS_ALL);
}
