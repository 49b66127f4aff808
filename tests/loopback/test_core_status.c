/*
 * test_core_status.c - the device model's status machine, driven through
 * the vio_dev_* register calls the way a transport drives it (group
 * status), and the rules of vio_dev_set_features() with legacy negotiation
 * end to end (group features).
 *
 * Siblings, all in tests/loopback/: test_core_status.c (status machine,
 * features), test_core_config.c (config space, queues), test_core_bus.c
 * (the bus), test_core_io.c (I/O on every layout and mode; split-specific),
 * test_core_lb.c (the loopback's DMA memory); the echo device, its driver
 * and the fixture are core_fixture.{c,h}.
 */

#include "core_fixture.h"

static void status_reset_clears_everything(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_dev_model *d = &f->e.d;
	unsigned resets;

	dm_live(f, V1 | F_EVT);
	vio_dev_needs_reset(d, "test");
	resets = f->e.resets;
	assert_int_equal(vio_dev_set_status(d, 0), 0);
	assert_int_equal(vio_dev_get_status(d), 0);
	assert_int_equal(d->features, 0);
	assert_false(d->legacy);
	assert_int_equal(f->e.resets, resets + 1);
	for (unsigned i = 0; i < d->num_queues; i++) {
		assert_false(d->queues[i].enabled);
		assert_false(d->queues[i].live);
		assert_int_equal(d->queues[i].size, ECHO_MAX);
		assert_int_equal(d->queues[i].addrs.desc, 0);
		assert_int_equal(d->queues[i].addrs.driver, 0);
		assert_int_equal(d->queues[i].addrs.device, 0);
		assert_null(vio_dev_vq(d, i));
	}
	/* and it starts over cleanly */
	dm_live(f, V1);
}

static void status_driver_needs_acknowledge(void **state)
{
	struct ctx *c = *state;
	struct vio_dev_model *d = &fx_new(c)->e.d;

	assert_int_equal(vio_dev_set_status(d, S_DRV), -EINVAL);
	assert_int_equal(vio_dev_get_status(d), 0);
	assert_int_equal(vio_dev_set_status(d, S_ACK), 0);
	assert_int_equal(vio_dev_get_status(d), S_ACK);
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV), 0);
	assert_int_equal(vio_dev_get_status(d), S_ACK | S_DRV);
}

static void status_unknown_bits_refused(void **state)
{
	struct ctx *c = *state;
	struct vio_dev_model *d = &fx_new(c)->e.d;

	assert_int_equal(vio_dev_set_status(d, S_ACK), 0);
	assert_int_equal(vio_dev_set_status(d, S_ACK | 0x10), -EINVAL);
	assert_int_equal(vio_dev_set_status(d, S_ACK | 0x20), -EINVAL);
	assert_int_equal(vio_dev_get_status(d), S_ACK);
}

static void status_features_ok_refused_reads_back_clear(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_dev_model *d = &f->e.d;

	f->e.features_ok_ret = -EINVAL;
	assert_int_equal(vio_dev_set_status(d, S_ACK), 0);
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV), 0);
	assert_int_equal(vio_dev_set_features(d, V1 | F_EVT), 0);
	(void)vio_dev_set_status(d, S_ACK | S_DRV | S_FOK);
	assert_int_equal(f->e.features_ok_calls, 1);
	assert_int_equal(f->e.features_ok_seen, V1 | F_EVT);
	assert_int_equal(vio_dev_get_status(d) & S_FOK, 0);
	assert_int_equal(vio_dev_get_status(d), S_ACK | S_DRV);
	/* and without FEATURES_OK, DRIVER_OK is refused */
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV | S_DOK), -EINVAL);
	assert_int_equal(vio_dev_get_status(d) & S_DOK, 0);
	assert_int_equal(f->e.starts, 0);
}

static void status_features_ok_accepted_sees_features(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);

	dm_negotiate(&f->e.d, V1 | F_IND);
	assert_int_equal(f->e.features_ok_calls, 1);
	assert_int_equal(f->e.features_ok_seen, V1 | F_IND);
}

static void status_driver_ok_needs_features_ok(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_dev_model *d = &f->e.d;
	struct ring_mem m;

	assert_int_equal(vio_dev_set_status(d, S_ACK), 0);
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV), 0);
	assert_int_equal(vio_dev_set_features(d, V1), 0);
	dm_queue(f, 0, ECHO_MAX, &m);
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV | S_DOK), -EINVAL);
	assert_int_equal(vio_dev_get_status(d), S_ACK | S_DRV);
	assert_false(d->queues[0].live);
	assert_int_equal(f->e.starts, 0);
}

static void status_bits_not_cleared_without_reset(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_dev_model *d = &f->e.d;

	dm_live(f, V1);
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV | S_FOK), -EINVAL);
	assert_int_equal(vio_dev_set_status(d, S_ACK), -EINVAL);
	assert_int_equal(vio_dev_get_status(d), S_LIVE);
	assert_true(d->queues[0].live);
}

static void status_failed_stops_queues(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_dev_model *d = &f->e.d;
	unsigned notifies;

	dm_live(f, V1);
	assert_int_equal(vio_dev_set_status(d, S_LIVE | S_FAIL), 0);
	assert_true(vio_dev_get_status(d) & S_FAIL);
	assert_false(d->queues[0].live);
	assert_null(vio_dev_vq(d, 0));
	notifies = f->e.notifies;
	vio_dev_notify(d, 0);
	assert_int_equal(f->e.notifies, notifies);
	/* a failed device takes nothing more but a reset */
	assert_int_equal(vio_dev_queue_enable(d, 1), -EINVAL);
	assert_int_equal(vio_dev_set_features(d, V1), -EINVAL);
	assert_int_equal(vio_dev_set_status(d, 0), 0);
	dm_live(f, V1);
}

static void status_needs_reset_by_device(void **state)
{
	struct ctx *c = *state;
	struct fx *f = ctx_bound(c);
	struct vio_dev_model *d = &f->e.d;
	unsigned notifies = f->e.notifies;

	assert_true(d->queues[0].live);
	vio_dev_needs_reset(d, "test: the driver broke a rule");
	(void)vio_drv_wait(&f->lb.vdev, 0);
	assert_int_equal(status_of(f), S_LIVE | S_NR);
	assert_int_equal(f->config_changes, 1);
	assert_true(f->e.log_calls >= 1);
	for (unsigned i = 0; i < d->num_queues; i++) {
		assert_false(d->queues[i].live);
		assert_null(vio_dev_vq(d, i));
	}
	/* kicks are not processed any more */
	assert_int_equal(echo_post(f, 0, 0, 8), 0);
	(void)vio_drv_vq_kick(&f->vqs[0]);
	assert_int_equal(f->e.notifies, notifies);
	assert_int_equal(f->done[0], 0);
}

static void status_needs_reset_sticky_until_reset(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_dev_model *d = &f->e.d;

	dm_live(f, V1);
	/* the driver cannot set it */
	assert_int_equal(vio_dev_set_status(d, S_LIVE | S_NR), 0);
	assert_int_equal(vio_dev_get_status(d) & S_NR, 0);
	/* nor clear it by writing status without it */
	vio_dev_needs_reset(d, "test");
	assert_int_equal(vio_dev_set_status(d, S_LIVE), 0);
	assert_int_equal(vio_dev_get_status(d), S_LIVE | S_NR);
	assert_int_equal(vio_dev_set_status(d, 0), 0);
	assert_int_equal(vio_dev_get_status(d), 0);
}

/* The device checks a stopped queue: NEEDS_RESET and the driver is told. */
static void status_needs_reset_by_check(void **state)
{
	struct ctx *c = *state;
	struct fx *f = ctx_bound(c);
	struct vio_dev_model *d = &f->e.d;
	struct vio_sg out = { FOREIGN_ADDR, 16 }, in = { f->buf_dma + MSG, MSG };

	/* vio_dev_check passes other errors and -EAGAIN through untouched */
	assert_int_equal(vio_dev_check(d, 0, -EAGAIN), -EAGAIN);
	assert_int_equal(vio_dev_check(d, 0, -ENOBUFS), -ENOBUFS);
	assert_int_equal(status_of(f), S_LIVE);
	/* a buffer outside the driver's memory stops the queue */
	f->outstanding[0] = true;
	assert_int_equal(vio_drvq_add(&f->vqs[0].q, &out, 1, &in, 1, f->buf), 0);
	(void)vio_drv_vq_kick(&f->vqs[0]);
	(void)vio_drv_wait(&f->lb.vdev, 0);
	assert_true(vio_devq_is_stopped(&d->queues[0].vq));
	assert_int_equal(status_of(f), S_LIVE | S_NR);
	assert_int_equal(f->config_changes, 1);
	assert_false(d->queues[1].live);
}

/* features: vio_dev_set_features and legacy negotiation                    */
static void features_not_offered_refused(void **state)
{
	struct ctx *c = *state;
	struct vio_dev_model *d = &fx_make(c, V1 | F_EVT, false, 1, &echo_ops)->e.d;

	assert_int_equal(vio_dev_set_status(d, S_ACK), 0);
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV), 0);
	assert_int_equal(vio_dev_set_features(d, V1 | F_IND), -EINVAL);
	assert_int_equal(vio_dev_set_features(d, V1 | B(0)), -EINVAL);
	assert_int_equal(d->features, 0);
	assert_int_equal(vio_dev_get_features(d), V1 | F_EVT);
	assert_int_equal(vio_dev_set_features(d, V1 | F_EVT), 0);
	assert_int_equal(d->features, V1 | F_EVT);
}

static void features_after_features_ok_refused(void **state)
{
	struct ctx *c = *state;
	struct vio_dev_model *d = &fx_new(c)->e.d;

	dm_negotiate(d, V1);
	assert_int_equal(vio_dev_set_features(d, V1 | F_EVT), -EINVAL);
	assert_int_equal(d->features, V1);
}

static void features_without_version_1_refused(void **state)
{
	struct ctx *c = *state;
	struct vio_dev_model *d = &fx_make(c, V1 | F_EVT, false, 1, &echo_ops)->e.d;

	assert_int_equal(vio_dev_set_status(d, S_ACK), 0);
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV), 0);
	assert_int_equal(vio_dev_set_features(d, F_EVT), -EINVAL);
	assert_int_equal(d->features, 0);
	assert_false(d->legacy);
}

static void features_packed_without_version_1_refused(void **state)
{
	struct ctx *c = *state;
	struct vio_dev_model *d = &fx_make(c, V1 | F_PACKED, true, 1, &echo_ops)->e.d;

	assert_int_equal(vio_dev_set_status(d, S_ACK), 0);
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV), 0);
	assert_int_equal(vio_dev_set_features(d, F_PACKED), -EINVAL);
	assert_int_equal(d->features, 0);
	assert_int_equal(vio_dev_set_features(d, V1 | F_PACKED), 0);
}

static void features_legacy_device_model(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_make(c, V1 | F_EVT, true, 1, &echo_ops);
	struct vio_dev_model *d = &f->e.d;
	struct ring_mem m;

	assert_int_equal(vio_dev_set_status(d, S_ACK), 0);
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV), 0);
	assert_int_equal(vio_dev_set_features(d, F_EVT), 0);
	assert_true(d->legacy);
	/* legacy has no FEATURES_OK, and DRIVER_OK does not need it */
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV | S_FOK), -EINVAL);
	dm_queue(f, 0, ECHO_MAX, &m);
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV | S_DOK), 0);
	assert_true(d->queues[0].live);
	assert_int_equal(f->e.features_ok_calls, 0);
}

/* Legacy over the bus: checks the legacy layout, then echoes. */
static void legacy_end_to_end(struct ctx *c, struct fx *f, uint64_t want)
{
	struct vio_dev_model *d = &f->e.d;
	struct vio_ring_addrs a;

	f->info[0].size = 16;   /* legacy cannot choose: the maximum it is */
	ctx_register(c);
	fx_add(c, f);
	assert_ptr_equal(f->lb.vdev.driver, &c->drv);
	assert_true(f->lb.vdev.legacy);
	assert_true(d->legacy);
	assert_int_equal(f->lb.vdev.features, want);
	assert_int_equal(d->features, want);
	assert_int_equal(status_of(f), S_ACK | S_DRV | S_DOK);
	assert_int_equal(f->e.features_ok_calls, 0);
	assert_int_equal(f->vqs[0].q.size, ECHO_MAX);
	assert_int_equal(d->queues[0].size, ECHO_MAX);
	vio_ring_legacy_layout(d->queues[0].addrs.desc, ECHO_MAX, VIO_LEGACY_VRING_ALIGN, &a);
	assert_int_equal(d->queues[0].addrs.desc % VIO_LEGACY_VRING_ALIGN, 0);
	assert_int_equal(d->queues[0].addrs.driver, a.driver);
	assert_int_equal(d->queues[0].addrs.device, a.device);
	echo_many(f, 0, 2 * ECHO_MAX + 3);
	echo_many(f, 1, 5);
}

static void features_legacy_transitional_end_to_end(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_make(c, V1 | F_EVT | F_IND, true, 2, &echo_ops);

	c->drv.features = F_EVT | F_IND;        /* a driver without VERSION_1 */
	legacy_end_to_end(c, f, F_EVT | F_IND);
}

static void features_legacy_only_device_end_to_end(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_make(c, F_EVT | F_IND | B(3), true, 2, &echo_ops);

	c->drv.legacy_features = F_IND | B(3);
	legacy_end_to_end(c, f, F_IND | B(3));
}

static const struct test_def single_tests[] = {
	T(status_reset_clears_everything),
	T(status_driver_needs_acknowledge),
	T(status_unknown_bits_refused),
	T(status_features_ok_refused_reads_back_clear),
	T(status_features_ok_accepted_sees_features),
	T(status_driver_ok_needs_features_ok),
	T(status_bits_not_cleared_without_reset),
	T(status_failed_stops_queues),
	T(status_needs_reset_by_device),
	T(status_needs_reset_sticky_until_reset),
	T(status_needs_reset_by_check),
	T(features_not_offered_refused),
	T(features_after_features_ok_refused),
	T(features_without_version_1_refused),
	T(features_packed_without_version_1_refused),
	T(features_legacy_device_model),
	T(features_legacy_transitional_end_to_end),
	T(features_legacy_only_device_end_to_end),
};

int main(void)
{
	static const struct core_tables t = {
		.single = single_tests, .nsingle = ARRAY_LEN(single_tests),
	};

	return core_run("lb_core_status", &t);
}
