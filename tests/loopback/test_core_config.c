/*
 * test_core_config.c - config space: bounds, read-only config, the
 * generation counter and the retries of vio_drv_config_read() (a wrapped
 * transport ops table bumps the generation on every read) (group config);
 * queue size rules, rings outside the driver's memory, RING_RESET (group
 * queue).
 *
 * Siblings, all in tests/loopback/: test_core_status.c (status machine,
 * features), test_core_config.c (config space, queues), test_core_bus.c
 * (the bus), test_core_io.c (I/O on every layout and mode; split-specific),
 * test_core_lb.c (the loopback's DMA memory); the echo device, its driver
 * and the fixture are core_fixture.{c,h}.
 */

#include "core_fixture.h"

/* The same device with a read-only config space. */
static const struct vio_dev_ops echo_ro_ops = {
	.version = VIO_DEV_OPS_VERSION,
	.features_ok = echo_features_ok,
	.start = echo_start,
	.reset = echo_reset,
	.queue_notify = echo_notify,
	.queue_reset = echo_queue_reset,
};

/* config                                                                   */
static void config_read_bounds(void **state)
{
	struct ctx *c = *state;
	struct fx *f = ctx_bound(c);
	struct vio_dev_model *d = &f->e.d;
	uint8_t buf[ECHO_CFG + 8];

	assert_int_equal(vio_dev_config_read(d, 0, buf, ECHO_CFG), 0);
	assert_memory_equal(buf, f->e.config, ECHO_CFG);
	assert_int_equal(vio_dev_config_read(d, ECHO_CFG - 4, buf, 4), 0);
	assert_int_equal(vio_dev_config_read(d, ECHO_CFG, buf, 0), 0);
	assert_int_equal(vio_dev_config_read(d, ECHO_CFG - 4, buf, 5), -EINVAL);
	assert_int_equal(vio_dev_config_read(d, ECHO_CFG, buf, 1), -EINVAL);
	assert_int_equal(vio_dev_config_read(d, ECHO_CFG + 1, buf, 0), -EINVAL);
	assert_int_equal(vio_dev_config_read(d, 0, buf, ECHO_CFG + 1), -EINVAL);
	/* off + len wraps around to a small number */
	assert_int_equal(vio_dev_config_read(d, 4, buf, UINT32_MAX - 1), -EINVAL);
	assert_int_equal(vio_dev_config_read(d, UINT32_MAX, buf, 2), -EINVAL);
	/* the driver side passes the error on */
	assert_int_equal(vio_drv_config_read(&f->lb.vdev, ECHO_CFG - 1, buf, 2), -EINVAL);
	assert_int_equal(vio_drv_config_read(&f->lb.vdev, 2, buf, 4), 0);
	assert_memory_equal(buf, f->e.config + 2, 4);
}

static void config_write_bounds(void **state)
{
	struct ctx *c = *state;
	struct fx *f = ctx_bound(c);
	struct vio_dev_model *d = &f->e.d;
	uint8_t before[ECHO_CFG], buf[ECHO_CFG + 8];

	memset(buf, 0xee, sizeof(buf));
	memcpy(before, f->e.config, ECHO_CFG);
	assert_int_equal(vio_dev_config_write(d, ECHO_CFG - 4, buf, 5), -EINVAL);
	assert_int_equal(vio_dev_config_write(d, ECHO_CFG, buf, 1), -EINVAL);
	assert_int_equal(vio_dev_config_write(d, 4, buf, UINT32_MAX - 1), -EINVAL);
	assert_int_equal(vio_dev_config_write(d, UINT32_MAX, buf, 2), -EINVAL);
	assert_int_equal(vio_drv_config_write(&f->lb.vdev, ECHO_CFG - 1, buf, 2), -EINVAL);
	assert_memory_equal(f->e.config, before, ECHO_CFG);
	assert_int_equal(f->e.config_writes, 0);
}

static void config_write_reaches_device(void **state)
{
	struct ctx *c = *state;
	struct fx *f = ctx_bound(c);
	const uint8_t v[3] = { 0xa1, 0xb2, 0xc3 };

	assert_int_equal(vio_drv_config_write(&f->lb.vdev, 5, v, 3), 0);
	assert_memory_equal(f->e.config + 5, v, 3);
	assert_int_equal(f->e.config_writes, 1);
	assert_int_equal(f->e.cw_off, 5);
	assert_int_equal(f->e.cw_len, 3);
	assert_int_equal(vio_dev_config_write(&f->e.d, ECHO_CFG - 1, v, 1), 0);
	assert_int_equal(f->e.config[ECHO_CFG - 1], 0xa1);
	assert_int_equal(f->e.config_writes, 2);
}

static void config_read_only(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_make(c, default_offer(c), false, 1, &echo_ro_ops);
	uint8_t before[ECHO_CFG], v = 0x5a;

	ctx_register(c);
	fx_add(c, f);
	memcpy(before, f->e.config, ECHO_CFG);
	assert_int_equal(vio_dev_config_write(&f->e.d, 0, &v, 1), -EPERM);
	assert_int_equal(vio_drv_config_write(&f->lb.vdev, 3, &v, 1), -EPERM);
	assert_memory_equal(f->e.config, before, ECHO_CFG);
}

static void config_generation_bumps_and_driver_told(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_dev_model *d = &f->e.d;
	uint32_t g0 = vio_dev_config_generation(d);

	/* before a driver is bound: the generation moves, nobody is told */
	vio_dev_config_changed(d);
	assert_int_equal(vio_dev_config_generation(d), g0 + 1);
	ctx_register(c);
	fx_add(c, f);
	assert_int_equal(f->config_changes, 0);
	vio_dev_config_changed(d);
	assert_int_equal(vio_dev_config_generation(d), g0 + 2);
	assert_int_equal(f->lb.vdev.ops->config_generation(&f->lb.vdev), g0 + 2);
	for (unsigned i = 0; i < WAIT_ROUNDS && f->config_changes == 0; i++)
		(void)vio_drv_wait(&f->lb.vdev, 10);
	assert_int_equal(f->config_changes, 1);
}

/* A config read the device "changes" after: bumps the generation while
 * bumps_left says so, counting reads. */
static int bumping_config_read(struct vio_drv_device *vdev, unsigned off, void *buf, unsigned len)
{
	struct fx *f = fx_of(vdev);
	int r = vio_dev_config_read(&f->e.d, off, buf, len);

	f->cfg_reads++;
	if (f->bumps_left) {
		if (f->bumps_left > 0)
			f->bumps_left--;
		f->e.config[0]++;
		vio_dev_config_changed(&f->e.d);
	}
	return r;
}

/* A bound device whose transport bumps the generation on reads. */
static struct fx *bumping_bound(struct ctx *c)
{
	struct fx *f = fx_new(c);

	f->wrap_ops = *f->lb.vdev.ops;
	f->wrap_ops.config_read = bumping_config_read;
	f->lb.vdev.ops = &f->wrap_ops;
	ctx_register(c);
	fx_add(c, f);
	assert_ptr_equal(f->lb.vdev.driver, &c->drv);
	return f;
}

static void config_read_retries_while_generation_moves(void **state)
{
	struct ctx *c = *state;
	struct fx *f = bumping_bound(c);
	uint8_t first = f->e.config[0], v[4];

	f->cfg_reads = 0;
	f->bumps_left = 3;
	assert_int_equal(vio_drv_config_read(&f->lb.vdev, 0, v, sizeof(v)), 0);
	assert_int_equal(f->cfg_reads, 4);
	/* what it returns is the last, stable read */
	assert_int_equal(v[0], (uint8_t)(first + 3));
	assert_memory_equal(v, f->e.config, sizeof(v));
}

static void config_read_gives_up_when_generation_keeps_moving(void **state)
{
	struct ctx *c = *state;
	struct fx *f = bumping_bound(c);
	uint8_t v[4];

	f->cfg_reads = 0;
	f->bumps_left = -1;
	assert_int_equal(vio_drv_config_read(&f->lb.vdev, 0, v, sizeof(v)), -EAGAIN);
	assert_true(f->cfg_reads >= 2);
	assert_true(f->cfg_reads <= 17);   /* "at most 16" retries */
	/* once the device settles, reads work again */
	f->bumps_left = 0;
	assert_int_equal(vio_drv_config_read(&f->lb.vdev, 0, v, sizeof(v)), 0);
}

/* A device without config space: zero-length accesses are in bounds, and
 * must not hand a NULL pointer to memcpy (undefined even for 0 bytes). */
static int no_config_child(void)
{
	static struct echo e;
	uint8_t b = 0;

	if (echo_setup(&e, V1, false, 1, &echo_ops))
		return 1;
	e.d.config = NULL;
	e.d.config_len = 0;
	if (vio_dev_init(&e.d))
		return 2;
	if (vio_dev_config_read(&e.d, 0, &b, 0) != 0 || vio_dev_config_write(&e.d, 0, &b, 0) != 0)
		return 3;
	if (vio_dev_config_read(&e.d, 0, &b, 1) != -EINVAL)
		return 4;
	return 0;
}

static void config_empty_space_zero_length_access(void **state)
{
	(void)state;
	assert_int_equal(run_isolated(no_config_child), 0);
}

/* queue                                                                    */
static void queue_set_size_above_maximum(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_dev_model *d = &f->e.d;
	struct ring_mem m;

	dm_negotiate(d, V1 | c->p->lay->features);
	assert_int_equal(ring_alloc(&f->lb.vdev, d->features, 2 * ECHO_MAX, &m), 0);
	assert_int_equal(vio_dev_queue_max(d, 0), ECHO_MAX);
	assert_int_equal(vio_dev_queue_max(d, ECHO_NQ), 0);
	assert_int_equal(vio_dev_queue_set(d, 0, 2 * ECHO_MAX, &m.dma), -EINVAL);
	assert_int_equal(vio_dev_queue_set(d, 0, ECHO_MAX + 1, &m.dma), -EINVAL);
	assert_int_equal(vio_dev_queue_set(d, 0, 0, &m.dma), -EINVAL);
	assert_int_equal(vio_dev_queue_set(d, 2, ECHO_MAX, &m.dma), -EINVAL); /* no queue 2 */
	assert_int_equal(d->queues[0].addrs.desc, 0);
	assert_int_equal(vio_dev_queue_set(d, 0, ECHO_MAX, &m.dma), 0);
	assert_int_equal(vio_dev_queue_enable(d, 0), 0);
	/* not while enabled */
	assert_int_equal(vio_dev_queue_set(d, 0, ECHO_MAX / 2, &m.dma), -EINVAL);
	assert_int_equal(d->queues[0].size, ECHO_MAX);
}

/* Resume bases and the inflight log go through checked calls: before the
 * queue is enabled (a log may be taken away at any time), a real queue,
 * a log with its scratch. */
static void queue_resume_and_inflight_checked(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_dev_model *d = &f->e.d;
	static uint16_t scratch[2 * ECHO_MAX];
	static uint64_t log[64];
	struct ring_mem m;

	dm_negotiate(d, V1 | c->p->lay->features);
	assert_int_equal(ring_alloc(&f->lb.vdev, d->features, ECHO_MAX, &m), 0);
	assert_int_equal(vio_dev_queue_resume(d, ECHO_NQ, 1, 1), -EINVAL);
	assert_int_equal(vio_dev_queue_set_inflight(d, ECHO_NQ, NULL, 0, scratch), -EINVAL);
	assert_int_equal(vio_dev_queue_set_inflight(d, 0, log, sizeof(log), NULL), -EINVAL);
	assert_int_equal(vio_dev_queue_resume(d, 0, 3, 3), 0);
	assert_true(d->queues[0].resume);
	assert_int_equal(d->queues[0].avail_base, 3);
	assert_int_equal(vio_dev_queue_set_inflight(d, 0, log, sizeof(log), scratch), 0);
	assert_ptr_equal(d->queues[0].inflight, log);
	assert_int_equal(d->queues[0].inflight_len, sizeof(log));
	/* (the log holds junk: take it away and forget the bases before the
	 * queue is checked at enable) */
	assert_int_equal(vio_dev_queue_set_inflight(d, 0, NULL, 0, scratch), 0);
	assert_int_equal(vio_dev_queue_stop(d, 0, NULL, NULL), 0);
	assert_false(d->queues[0].resume);
	assert_int_equal(vio_dev_queue_set(d, 0, ECHO_MAX, &m.dma), 0);
	assert_int_equal(vio_dev_queue_enable(d, 0), 0);
	/* enabled: no new bases, no new log; taking the log away is fine */
	assert_int_equal(vio_dev_queue_resume(d, 0, 5, 5), -EINVAL);
	assert_int_equal(d->queues[0].avail_base, 3);
	assert_int_equal(vio_dev_queue_set_inflight(d, 0, log, sizeof(log), scratch), -EINVAL);
	assert_int_equal(vio_dev_queue_set_inflight(d, 0, NULL, 0, scratch), 0);
	assert_null(d->queues[0].inflight);
	assert_int_equal(vio_dev_queue_resubmitted(d, 0), 0);   /* not live yet */
}

/* A transport that would take any size (and passes the sizes it can on):
 * the core itself must refuse what is above the queue's maximum. */
static int lenient_queue_setup(struct vio_drv_device *vdev, unsigned qi, unsigned size,
			       const struct vio_ring_addrs *dma)
{
	struct fx *f = fx_of(vdev);

	f->setup_calls++;
	if (size > f->setup_max)
		f->setup_max = size;
	if (size > vdev->ops->queue_max(vdev, qi))
		return 0;
	return f->inner_ops->queue_setup(vdev, qi, size, dma);
}

static void queue_find_vqs_size_above_maximum(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);

	f->inner_ops = f->lb.vdev.ops;
	f->wrap_ops = *f->lb.vdev.ops;
	f->wrap_ops.queue_setup = lenient_queue_setup;
	f->lb.vdev.ops = &f->wrap_ops;
	f->info[1].size = 2 * ECHO_MAX;
	ctx_register(c);
	fx_add(c, f);
	assert_int_equal(f->find_vqs_ret, -EINVAL);
	assert_int_equal(f->setup_calls, 1);            /* queue 0 only */
	assert_int_equal(f->setup_max, ECHO_MAX);
	assert_null(f->lb.vdev.driver);
	assert_null(f->lb.vdev.vqs);
	assert_true(status_of(f) & S_FAIL);
	/* nothing of queue 0 stayed allocated */
	assert_int_equal(c->bus_bytes, 0);
	assert_true(arena_all_free(f));
}

/* Split sizes are powers of two; packed takes any size up to the maximum. */
static void queue_size_rules_of_layout(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_dev_model *d = &f->e.d;
	struct ring_mem m;
	const int want = c->p->lay->any_size ? 0 : -EINVAL;

	dm_negotiate(d, V1 | c->p->lay->features);
	assert_int_equal(ring_alloc(&f->lb.vdev, d->features, ECHO_MAX, &m), 0);
	assert_int_equal(vio_dev_queue_set(d, 0, 48, &m.dma), want);
	assert_int_equal(vio_dev_queue_set(d, 1, 3, &m.dma), want);
	assert_int_equal(vio_dev_queue_set(d, 1, 32, &m.dma), 0);
}

/* The same through the bus: a driver asking for 48 entries. */
static void queue_find_vqs_size_rules_of_layout(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);

	f->info[0].size = 48;
	ctx_register(c);
	fx_add(c, f);
	if (!c->p->lay->any_size) {
		assert_int_equal(f->find_vqs_ret, -EINVAL);
		assert_null(f->lb.vdev.driver);
		assert_true(status_of(f) & S_FAIL);
		return;
	}
	assert_int_equal(f->find_vqs_ret, 0);
	assert_int_equal(f->vqs[0].q.size, 48);
	assert_int_equal(f->e.d.queues[0].size, 48);
	echo_many(f, 0, 2 * 48 + 1);
}

static void queue_rings_outside_memory_at_enable(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_dev_model *d = &f->e.d;
	const struct vio_ring_addrs bad = {
		FOREIGN_ADDR, FOREIGN_ADDR + 0x400, FOREIGN_ADDR + 0x1000
	};

	dm_negotiate(d, V1);
	assert_int_equal(vio_dev_queue_set(d, 0, ECHO_MAX, &bad), 0);
	assert_int_equal(vio_dev_queue_enable(d, 0), -EFAULT);
	assert_true(vio_dev_get_status(d) & S_NR);
	(void)vio_dev_set_status(d, S_LIVE);
	assert_true(vio_dev_get_status(d) & S_NR);
	assert_false(d->queues[0].live);
	assert_null(vio_dev_vq(d, 0));
}

/* Enabled after DRIVER_OK (as after a queue reset), with its used ring
 * running past the end of the arena. */
static void queue_rings_outside_memory_after_driver_ok(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_dev_model *d = &f->e.d;
	struct ring_mem m;
	struct vio_ring_addrs bad;

	dm_live(f, V1);
	assert_int_equal(ring_alloc(&f->lb.vdev, d->features, ECHO_MAX, &m), 0);
	bad = m.dma;
	bad.device = VIO_LOOPBACK_BASE + ARENA - 8;
	assert_int_equal(vio_dev_queue_set(d, 1, ECHO_MAX, &bad), 0);
	assert_int_equal(vio_dev_queue_enable(d, 1), -EFAULT);
	assert_int_equal(vio_dev_get_status(d), S_LIVE | S_NR);
	assert_false(d->queues[1].live);
	assert_false(d->queues[0].live);   /* NEEDS_RESET stops them all */
}

static void queue_reset_needs_ring_reset(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_make(c, V1 | F_RESET, false, 2, &echo_ops);
	struct vio_dev_model *d = &f->e.d;

	dm_live(f, V1);
	assert_int_equal(vio_dev_queue_reset(d, 0), -ENOTSUP);
	assert_int_equal(f->lb.vdev.ops->queue_reset(&f->lb.vdev, 0), -ENOTSUP);
	assert_true(d->queues[0].live);
	assert_int_equal(f->e.queue_resets, 0);
	assert_int_equal(vio_dev_set_status(d, 0), 0);
	dm_live(f, V1 | F_RESET);
	assert_int_equal(vio_dev_queue_reset(d, ECHO_NQ), -EINVAL);
	assert_int_equal(vio_dev_queue_reset(d, 0), 0);
	assert_false(d->queues[0].live);
	assert_false(d->queues[0].enabled);
	assert_int_equal(f->e.queue_resets, 1);
}

static const struct test_def single_tests[] = {
	T(config_read_bounds),
	T(config_write_bounds),
	T(config_write_reaches_device),
	T(config_read_only),
	T(config_generation_bumps_and_driver_told),
	T(config_read_retries_while_generation_moves),
	T(config_read_gives_up_when_generation_keeps_moving),
	T(config_empty_space_zero_length_access),
	T(queue_find_vqs_size_above_maximum),
	T(queue_rings_outside_memory_at_enable),
	T(queue_rings_outside_memory_after_driver_ok),
	T(queue_reset_needs_ring_reset),
	T(queue_resume_and_inflight_checked),
};

/* Run once per layout (direct mode). */
static const struct test_def layout_tests[] = {
	T(queue_set_size_above_maximum),
	T(queue_size_rules_of_layout),
	T(queue_find_vqs_size_rules_of_layout),
};

int main(void)
{
	static const struct core_tables t = {
		.single = single_tests, .nsingle = ARRAY_LEN(single_tests),
		.layout = layout_tests, .nlayout = ARRAY_LEN(layout_tests),
	};

	return core_run("lb_core_config", &t);
}
