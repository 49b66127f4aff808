/*
 * test_core_io.c - one suite run for every layout (split, packed) and mode
 * (direct, threaded): echo end to end, interrupts, reset in the middle of
 * I/O, NEEDS_RESET from a bad buffer, RING_RESET of one queue, unbind and
 * rebind (group io); and split-specific, a hostile driver writing the avail
 * ring (group split).
 *
 * Siblings, all in tests/loopback/: test_core_status.c (status machine,
 * features), test_core_config.c (config space, queues), test_core_bus.c
 * (the bus), test_core_io.c (I/O on every layout and mode; split-specific),
 * test_core_lb.c (the loopback's DMA memory); the echo device, its driver
 * and the fixture are core_fixture.{c,h}.
 */

#include "core_fixture.h"

/* io: one suite for every layout and mode                                  */
static struct fx *io_bound(struct ctx *c)
{
	struct fx *f = fx_make(c, default_offer(c) | F_RESET, false, ECHO_NQ, &echo_ops);

	ctx_register(c);
	fx_add(c, f);
	assert_ptr_equal(f->lb.vdev.driver, &c->drv);
	assert_int_equal(vio_has_feature(f->lb.vdev.features, VIO_F_RING_PACKED),
			 vio_has_feature(c->p->lay->features, VIO_F_RING_PACKED));
	return f;
}

static void io_echo_end_to_end(void **state)
{
	struct ctx *c = *state;
	struct fx *f = io_bound(c);
	const unsigned batch = 8;
	unsigned before;

	for (unsigned qi = 0; qi < ECHO_NQ; qi++)
		echo_many(f, qi, 2 * ECHO_MAX + 5);
	/* a batch under one kick */
	before = f->done[1];
	for (unsigned s = 0; s < batch; s++)
		assert_int_equal(echo_post(f, 1, ECHO_MAX + s, s + 1), 0);
	(void)vio_drv_vq_kick(&f->vqs[1]);
	assert_int_equal(wait_done(f, 1, before + batch), 0);
	for (unsigned s = 0; s < batch; s++)
		assert_true(echo_ok(f, ECHO_MAX + s));
	assert_int_equal(f->bad_tokens, 0);
	assert_int_equal(f->reaped, f->posted);
}

static void io_interrupts_delivered(void **state)
{
	struct ctx *c = *state;
	struct fx *f = io_bound(c);

	assert_int_equal(echo_post(f, 0, 0, 9), 0);
	assert_true(vio_drv_vq_kick(&f->vqs[0]));
	if (!threaded(c))
		assert_int_equal(f->done[0], 1);        /* before the kick returned */
	assert_int_equal(wait_done(f, 0, 1), 0);
	assert_true(f->cb_ran);
	assert_true(pthread_equal(f->cb_thread, pthread_self()));
	assert_true(echo_ok(f, 0));
	/* config interrupts too */
	vio_dev_config_changed(&f->e.d);
	for (unsigned i = 0; i < WAIT_ROUNDS && f->config_changes == 0; i++)
		(void)vio_drv_wait(&f->lb.vdev, 10);
	assert_int_equal(f->config_changes, 1);
	fx_stop_thread(f);
	assert_true(f->e.q[0].vq.stats.interrupts >= 1);
}

/* Every buffer comes back exactly once, used or detached. */
static void check_all_back(struct fx *f)
{
	assert_int_equal(f->bad_tokens, 0);
	assert_int_equal(f->reaped + f->detached, f->posted);
	for (unsigned s = 0; s < NSLOTS; s++)
		assert_false(f->outstanding[s]);
	for (unsigned qi = 0; qi < f->lb.vdev.nvqs; qi++) {
		assert_int_equal(vio_drvq_num_free(&f->vqs[qi].q), f->vqs[qi].q.size);
		assert_null(vio_drvq_detach_unused(&f->vqs[qi].q));
	}
}

static void detach_all(struct fx *f)
{
	void *tok;

	for (unsigned qi = 0; qi < f->lb.vdev.nvqs; qi++)
		while ((tok = vio_drvq_detach_unused(&f->vqs[qi].q)))
			token_back(f, tok, 0, false);
}

/* Unbind and bind again, then prove I/O works. */
static void rebind_and_echo(struct ctx *c, struct fx *f)
{
	unsigned probes = f->probes;

	vio_drv_unbind(&f->lb.vdev);
	assert_null(f->lb.vdev.driver);
	assert_null(f->lb.vdev.vqs);
	assert_int_equal(c->bus_bytes, 0);
	assert_true(arena_all_free(f));
	if (threaded(c) && !f->thread_live)
		fx_start_thread(f);
	memset(f->done, 0, sizeof(f->done));
	assert_int_equal(vio_drv_bind(&f->lb.vdev), 0);
	assert_int_equal(f->probes, probes + 1);
	assert_int_equal(status_of(f), S_LIVE);
	echo_many(f, 0, ECHO_MAX + 2);
}

/*
 * Reset with buffers in every state: used but not yet reaped (queue 0,
 * callback off), and kicked but not yet seen by the device (queue 1: in
 * threaded mode the device thread does not run yet; in direct mode they
 * are simply not kicked).
 */
static void io_reset_mid_io_returns_every_buffer(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_make(c, default_offer(c), false, 2, &echo_ops);
	unsigned notifies, n0 = 0, n1 = 0;
	int r = 0;

	ctx_register(c);
	f->info[0].callback = NULL;
	f->info[1].indirect_max = 0;    /* chains of two descriptors */
	assert_int_equal(vio_bus_add_device(&c->bus, &f->lb.vdev), 0);   /* no thread */
	f->added = true;
	assert_ptr_equal(f->lb.vdev.driver, &c->drv);
	while (n1 < ECHO_MAX && (r = echo_post(f, 1, ECHO_MAX + n1, 8)) == 0)
		n1++;
	assert_int_equal(r, -ENOSPC);   /* the ring is full */
	assert_true(n1 >= ECHO_MAX / 2);
	if (threaded(c))
		(void)vio_drv_vq_kick(&f->vqs[1]);
	if (!threaded(c)) {
		for (; n0 < ECHO_MAX / 2; n0++)
			assert_int_equal(echo_post(f, 0, n0, 4), 0);
		(void)vio_drv_vq_kick(&f->vqs[0]);
		assert_int_equal(f->e.chains_q[0], n0);     /* used, not reaped */
	}
	vio_drv_reset(&f->lb.vdev);
	assert_int_equal(status_of(f), 0);
	detach_all(f);
	assert_int_equal(f->detached, n0 + n1);
	assert_int_equal(f->reaped, 0);
	check_all_back(f);
	/* the device sees the stale kick only now: it must ignore it */
	notifies = f->e.notifies;
	if (threaded(c))
		vio_loopback_device_dispatch(&f->lb);
	assert_int_equal(f->e.notifies, notifies);
	assert_int_equal(f->e.chains_q[1], 0);
	f->info[0].callback = echo_cb;
	rebind_and_echo(c, f);
}

static void io_needs_reset_from_bad_buffer(void **state)
{
	struct ctx *c = *state;
	struct fx *f = io_bound(c);
	struct vio_sg out = { FOREIGN_ADDR, 16 }, in = { f->buf_dma + MSG, MSG };

	echo_many(f, 0, 2);
	f->outstanding[5] = true;
	f->posted++;
	assert_int_equal(vio_drvq_add(&f->vqs[0].q, &out, 1, &in, 1, f->buf + 5 * SLOT_BYTES), 0);
	(void)vio_drv_vq_kick(&f->vqs[0]);
	for (unsigned i = 0; i < WAIT_ROUNDS && f->config_changes == 0; i++)
		(void)vio_drv_wait(&f->lb.vdev, 10);
	assert_int_equal(f->config_changes, 1);
	assert_int_equal(status_of(f), S_LIVE | S_NR);
	assert_true(f->e.log_calls >= 1);
	/* the driver recovers by resetting: its buffer comes back detached */
	rebind_and_echo(c, f);
	assert_int_equal(f->detached, 1);
	assert_int_equal(f->bad_tokens, 0);
}

/* Re-creates driver queue qi over new ring memory after a queue reset
 * (the driver model has no per-queue reset call of its own). */
static void requeue(struct fx *f, unsigned qi)
{
	struct vio_drv_device *dev = &f->lb.vdev;
	struct vio_drvq_config cfg;

	assert_int_equal(ring_alloc(dev, dev->features, ECHO_MAX, &f->rr), 0);
	f->rr_slots = calloc(ECHO_MAX, sizeof(*f->rr_slots));
	assert_non_null(f->rr_slots);
	memset(&cfg, 0, sizeof(cfg));
	cfg.size = ECHO_MAX;
	cfg.features = dev->features;
	cfg.desc = f->rr.desc;
	cfg.driver = f->rr.driver;
	cfg.device = f->rr.device;
	cfg.dma = f->rr.dma;
	cfg.slots = f->rr_slots;
	assert_int_equal(vio_drvq_init(&f->vqs[qi].q, &cfg), 0);
	assert_int_equal(dev->ops->queue_setup(dev, qi, ECHO_MAX, &f->rr.dma), 0);
	assert_int_equal(dev->ops->queue_enable(dev, qi), 0);
}

static void io_ring_reset_one_queue(void **state)
{
	struct ctx *c = *state;
	struct fx *f = io_bound(c);
	struct vio_drv_device *dev = &f->lb.vdev;
	unsigned q1_chains;

	assert_true(vio_drv_has_feature(dev, VIO_F_RING_RESET));
	echo_many(f, 0, 3);
	echo_many(f, 1, 3);
	/* one buffer left on queue 1, never kicked */
	assert_int_equal(echo_post(f, 1, ECHO_MAX + 10, 8), 0);
	assert_int_equal(dev->ops->queue_reset(dev, 1), 0);
	assert_int_equal(f->e.queue_resets, 1);
	assert_int_equal(f->e.last_queue_reset, 1);
	assert_false(f->e.q[1].enabled);
	assert_int_equal(status_of(f), S_LIVE);
	/* a kick on the reset queue is ignored; the others keep working */
	q1_chains = f->e.chains_q[1];
	dev->ops->notify(dev, 1);
	echo_many(f, 0, ECHO_MAX + 1);
	echo_many(f, 2, 3);
	assert_int_equal(f->e.chains_q[1], q1_chains);
	/* the driver takes its buffer back and sets the queue up again */
	detach_all(f);
	assert_int_equal(f->detached, 1);
	requeue(f, 1);
	echo_many(f, 1, ECHO_MAX + 1);
	echo_many(f, 0, 2);
	assert_int_equal(f->bad_tokens, 0);
	assert_int_equal(status_of(f), S_LIVE);
}

static void io_rebind_unbind_bind(void **state)
{
	struct ctx *c = *state;
	struct fx *f = io_bound(c);

	echo_many(f, 0, 3);
	rebind_and_echo(c, f);
	assert_int_equal(f->removes, 1);
	assert_int_equal(vio_drv_bind(&f->lb.vdev), -EBUSY);
}

static void io_rebind_unregister_register(void **state)
{
	struct ctx *c = *state;
	struct fx *f = io_bound(c);

	echo_many(f, 0, 3);
	vio_bus_unregister_driver(&c->bus, &c->drv);
	c->drv_reg = false;
	assert_int_equal(f->removes, 1);
	assert_null(f->lb.vdev.driver);
	assert_int_equal(status_of(f), 0);
	assert_int_equal(c->bus_bytes, 0);
	assert_true(arena_all_free(f));
	memset(f->done, 0, sizeof(f->done));
	ctx_register(c);
	assert_int_equal(f->probes, 2);
	assert_int_equal(status_of(f), S_LIVE);
	echo_many(f, 0, ECHO_MAX + 2);
	echo_many(f, 2, 2);
}

/* Threaded only: the device works while the driver resets; whatever was
 * used before the reset is reaped or detached, never both, never lost. */
static void io_reset_races_device(void **state)
{
	struct ctx *c = *state;
	struct fx *f = io_bound(c);
	unsigned next = 0;

	for (unsigned round = 0; round < 40; round++) {
		for (unsigned k = 0; k < ECHO_MAX; k++, next++) {
			unsigned s = next % ECHO_MAX;

			if (f->outstanding[s])
				continue;
			if (echo_post(f, 0, s, s % MSG + 1))
				break;
		}
		(void)vio_drv_vq_kick(&f->vqs[0]);
		(void)vio_drv_wait(&f->lb.vdev, round % 4 ? 0 : 1);
	}
	vio_drv_reset(&f->lb.vdev);
	detach_all(f);
	check_all_back(f);
	assert_true(f->reaped > 0);
	rebind_and_echo(c, f);
}

/* split-specific: a hostile driver writes the split avail ring directly    */
static void split_avail_index_runs_ahead_needs_reset(void **state)
{
	struct ctx *c = *state;
	struct fx *f = ctx_bound(c);
	struct vio_drvq *q = &f->vqs[0].q;

	echo_many(f, 0, 2);
	assert_false(q->packed);
	q->u.split.avail->idx = vio_cpu_to_le16((uint16_t)(q->u.split.avail_idx + ECHO_MAX + 1));
	f->lb.vdev.ops->notify(&f->lb.vdev, 0);
	(void)vio_drv_wait(&f->lb.vdev, 0);
	assert_true(vio_devq_is_stopped(&f->e.q[0].vq));
	assert_int_equal(status_of(f), S_LIVE | S_NR);
	assert_int_equal(f->config_changes, 1);
}

static const struct test_def single_tests[] = {
	T(split_avail_index_runs_ahead_needs_reset),
};

/* Run once per layout and mode. */
static const struct test_def io_tests[] = {
	T(io_echo_end_to_end),
	T(io_interrupts_delivered),
	T(io_reset_mid_io_returns_every_buffer),
	T(io_needs_reset_from_bad_buffer),
	T(io_ring_reset_one_queue),
	T(io_rebind_unbind_bind),
	T(io_rebind_unregister_register),
};

/* Run once per layout, threaded mode only. */
static const struct test_def threaded_tests[] = {
	T(io_reset_races_device),
};

int main(void)
{
	static const struct core_tables t = {
		.single = single_tests, .nsingle = ARRAY_LEN(single_tests),
		.io = io_tests, .nio = ARRAY_LEN(io_tests),
		.threaded = threaded_tests, .nthreaded = ARRAY_LEN(threaded_tests),
	};

	return core_run("lb_core_io", &t);
}
