/*
 * test_core_bus.c - the driver model (group bus): autoprobe in both orders,
 * id matching, names, negotiation rows, probe failure, rejected ops
 * tables, removal.
 *
 * Siblings, all in tests/loopback/: test_core_status.c (status machine,
 * features), test_core_config.c (config space, queues), test_core_bus.c
 * (the bus), test_core_io.c (I/O on every layout and mode; split-specific),
 * test_core_lb.c (the loopback's DMA memory); the echo device, its driver
 * and the fixture are core_fixture.{c,h}.
 */

#include "core_fixture.h"

/* bus                                                                      */
static void bus_autoprobe_driver_first(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);

	ctx_register(c);
	assert_int_equal(f->probes, 0);
	fx_add(c, f);
	assert_int_equal(f->probes, 1);
	assert_ptr_equal(f->lb.vdev.driver, &c->drv);
	assert_int_equal(status_of(f), S_LIVE);
	echo_many(f, 0, 3);
}

static void bus_autoprobe_device_first(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);

	fx_add(c, f);
	assert_int_equal(f->probes, 0);
	assert_null(f->lb.vdev.driver);
	assert_int_equal(status_of(f), S_ACK);
	ctx_register(c);
	assert_int_equal(f->probes, 1);
	assert_ptr_equal(f->lb.vdev.driver, &c->drv);
	assert_int_equal(status_of(f), S_LIVE);
	echo_many(f, 0, 3);
}

static void bus_id_must_match(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);

	f->e.d.device_id = OTHER_ID;
	f->lb.vdev.id = OTHER_ID;
	ctx_register(c);
	fx_add(c, f);
	assert_int_equal(f->probes, 0);
	assert_null(f->lb.vdev.driver);
	assert_int_equal(status_of(f), S_ACK);
	/* a driver for 43 takes it */
	assert_int_equal(vio_bus_register_driver(&c->bus, &c->drv2), 0);
	c->drv2_reg = true;
	assert_int_equal(f->probes, 1);
	assert_ptr_equal(f->lb.vdev.driver, &c->drv2);
}

static void bus_names_unique(void **state)
{
	struct ctx *c = *state;
	struct fx *f[4];

	ctx_register(c);
	for (unsigned i = 0; i < 3; i++) {
		char want[16];

		f[i] = fx_new(c);
		fx_add(c, f[i]);
		snprintf(want, sizeof(want), "virtio%u", i);
		assert_string_equal(f[i]->lb.vdev.name, want);
		assert_int_equal(f[i]->lb.vdev.index, i);
		assert_ptr_equal(f[i]->lb.vdev.driver, &c->drv);
	}
	/* a removed device's index is not handed out again */
	vio_bus_remove_device(&c->bus, &f[1]->lb.vdev);
	f[1]->added = false;
	assert_int_equal(f[1]->removes, 1);
	f[3] = fx_new(c);
	fx_add(c, f[3]);
	assert_string_equal(f[3]->lb.vdev.name, "virtio3");
	assert_int_equal(f[3]->lb.vdev.index, 3);
	/* every device still works on its own */
	for (unsigned i = 0; i < 4; i++)
		if (i != 1)
			echo_many(f[i], 0, 2);
}

/* The largest index, 4294967295, must still give a terminated name. */
static int big_name_child(void)
{
	static struct echo e;
	static struct vio_loopback lb;
	static struct ctx c;
	char got[sizeof(lb.vdev.name) + 1];
	bool ok;

	if (echo_setup(&e, V1, false, 1, &echo_ops) || vio_loopback_init(&lb, &e.d, 1 << 16, false))
		return 1;
	vio_bus_init(&c.bus, bus_alloc, bus_free, &c);
	c.bus.next_index_ = UINT32_MAX;    /* private: as after 2^32 - 1 adds */
	if (vio_bus_add_device(&c.bus, &lb.vdev))
		return 2;
	/* copied out, so the comparison cannot run off the end of name[] */
	memset(got, 0, sizeof(got));
	memcpy(got, lb.vdev.name, sizeof(lb.vdev.name));
	ok = memchr(lb.vdev.name, '\0', sizeof(lb.vdev.name)) &&
	     strcmp(got, "virtio4294967295") == 0;
	vio_bus_remove_device(&c.bus, &lb.vdev);
	vio_loopback_fini(&lb);
	return ok ? 0 : 3;
}

static void bus_name_of_largest_index_fits(void **state)
{
	(void)state;
	assert_int_equal(run_isolated(big_name_child), 0);
}

/* One negotiation row: exactly offer AND driver AND transport. */
static void bus_negotiation(void **state)
{
	struct ctx *c = *state;
	const struct nego *n = c->p->nego;
	const bool legacy = !vio_has_feature(n->want, VIO_F_VERSION_1);
	struct fx *f = fx_make(c, n->offer, n->legacy_ok, 2, &echo_ops);

	c->drv.features = n->drv;
	c->drv.legacy_features = n->drv_legacy;
	f->lb.extra_features = n->extra;
	ctx_register(c);
	fx_add(c, f);
	assert_ptr_equal(f->lb.vdev.driver, &c->drv);
	assert_int_equal(f->lb.vdev.features, n->want);
	assert_int_equal(f->e.d.features, n->want);
	assert_int_equal(f->lb.vdev.legacy, legacy);
	assert_int_equal(f->e.d.legacy, legacy);
	if (legacy) {
		assert_int_equal(f->e.features_ok_calls, 0);
		assert_int_equal(status_of(f), S_ACK | S_DRV | S_DOK);
	} else {
		assert_int_equal(f->e.features_ok_seen, n->want);
		assert_int_equal(status_of(f), S_LIVE);
	}
	assert_int_equal(vio_has_feature(f->vqs[0].q.features, VIO_F_RING_PACKED),
			 vio_has_feature(n->want, VIO_F_RING_PACKED));
	echo_many(f, 0, 4);
	echo_many(f, 1, 4);
}

static void bus_probe_failure_fails_device(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);

	f->probe_ret = -EIO;
	ctx_register(c);
	fx_add(c, f);
	assert_int_equal(f->probes, 1);
	assert_null(f->lb.vdev.driver);
	assert_true(status_of(f) & S_FAIL);
	assert_int_equal(status_of(f) & S_DOK, 0);
	assert_int_equal(f->e.starts, 0);
	/* unbound: nothing to remove */
	vio_drv_unbind(&f->lb.vdev);
	vio_bus_unregister_driver(&c->bus, &c->drv);
	c->drv_reg = false;
	assert_int_equal(f->removes, 0);
	/* a later driver that probes fine takes it */
	f->probe_ret = 0;
	ctx_register(c);
	assert_int_equal(f->probes, 2);
	assert_ptr_equal(f->lb.vdev.driver, &c->drv);
	assert_int_equal(status_of(f), S_LIVE);
}

static void bus_features_ok_refused_fails_device(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);

	f->e.features_ok_ret = -EINVAL;
	ctx_register(c);
	fx_add(c, f);
	assert_int_equal(f->e.features_ok_calls, 1);
	assert_int_equal(f->probes, 0);
	assert_null(f->lb.vdev.driver);
	assert_true(status_of(f) & S_FAIL);
	assert_int_equal(status_of(f) & S_FOK, 0);
}

static void bus_driver_ok_after_probe(void **state)
{
	struct ctx *c = *state;
	struct fx *f = ctx_bound(c);

	assert_int_equal(f->status_at_probe, S_ACK | S_DRV | S_FOK);
	assert_int_equal(status_of(f), S_LIVE);
	assert_int_equal(f->e.starts, 1);
}

static void bus_ready_in_probe(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);

	f->ready_in_probe = true;
	ctx_register(c);
	fx_add(c, f);
	assert_int_equal(f->probe_io_ret, 0);
	assert_int_equal(status_of(f), S_LIVE);
	assert_int_equal(f->e.starts, 1);      /* DRIVER_OK was not set twice */
}

static void bus_register_rules(void **state)
{
	struct ctx *c = *state;
	struct vio_driver bad;

	ctx_register(c);
	assert_int_equal(vio_bus_register_driver(&c->bus, &c->drv), -EEXIST);
	drv_setup(&bad, echo_ids);
	bad.probe = NULL;
	assert_int_equal(vio_bus_register_driver(&c->bus, &bad), -EINVAL);
	drv_setup(&bad, echo_ids);
	bad.remove = NULL;
	assert_int_equal(vio_bus_register_driver(&c->bus, &bad), -EINVAL);
	drv_setup(&bad, NULL);
	assert_int_equal(vio_bus_register_driver(&c->bus, &bad), -EINVAL);
}

#define OP(m) { #m, offsetof(struct vio_transport_ops, m) }

/* The members vio_transport_ops calls required. */
static const struct {
	const char *name;
	size_t off;
} required_ops[] = {
	OP(get_status), OP(set_status), OP(get_features), OP(set_features),
	OP(transport_features), OP(config_read), OP(config_generation), OP(num_queues),
	OP(queue_max), OP(queue_setup), OP(queue_enable), OP(notify), OP(dma_alloc),
	OP(dma_free), OP(dma_addr),
};

static void bus_add_rejects_bad_ops(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	const struct vio_transport_ops *good = f->lb.vdev.ops;
	struct vio_transport_ops bad;

	ctx_register(c);
	bad = *good;
	bad.version = 0;	/* not a table of any version */
	f->lb.vdev.ops = &bad;
	assert_int_equal(vio_bus_add_device(&c->bus, &f->lb.vdev), -EINVAL);
	f->lb.vdev.ops = NULL;
	assert_int_equal(vio_bus_add_device(&c->bus, &f->lb.vdev), -EINVAL);
	for (size_t i = 0; i < ARRAY_LEN(required_ops); i++) {
		bad = *good;
		memset((char *)&bad + required_ops[i].off, 0, sizeof(bad.notify));
		f->lb.vdev.ops = &bad;
		if (vio_bus_add_device(&c->bus, &f->lb.vdev) != -EINVAL)
			fail_msg("accepted an ops table without %s", required_ops[i].name);
	}
	f->lb.vdev.ops = good;
	assert_int_equal(f->probes, 0);
	assert_int_equal(status_of(f), 0);
	/* a rejected device got no index: the first real one is virtio0 */
	fx_add(c, f);
	assert_string_equal(f->lb.vdev.name, "virtio0");
	assert_int_equal(f->probes, 1);
}

/* Op tables of an older and of a newer version are both taken (core.h,
 * "Op tables and their versions"): the driver binds either way. */
static struct vio_transport_ops ops_v1, ops_newer;

static void bus_add_takes_older_and_newer_ops(void **state)
{
	struct ctx *c = *state;
	struct fx *old = fx_new(c), *newer = fx_new(c);

	ctx_register(c);
	ops_v1 = *old->lb.vdev.ops;
	ops_v1.version = 1;
	old->lb.vdev.ops = &ops_v1;
	ops_newer = *newer->lb.vdev.ops;
	ops_newer.version = VIO_TRANSPORT_OPS_VERSION + 1;
	newer->lb.vdev.ops = &ops_newer;
	fx_add(c, old);
	fx_add(c, newer);
	assert_int_equal(old->probes, 1);
	assert_int_equal(newer->probes, 1);
	assert_true(status_of(old) & VIO_STATUS_DRIVER_OK);
	assert_true(status_of(newer) & VIO_STATUS_DRIVER_OK);
}

static void bus_add_rejects_bus_without_allocators(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_bus bus;

	vio_bus_init(&bus, NULL, bus_free, c);
	assert_int_equal(vio_bus_add_device(&bus, &f->lb.vdev), -EINVAL);
	vio_bus_init(&bus, bus_alloc, NULL, c);
	assert_int_equal(vio_bus_add_device(&bus, &f->lb.vdev), -EINVAL);
	assert_int_equal(status_of(f), 0);
}

/* config_write is optional in practice (vio_drv_config_write says -ENOTSUP). */
static void bus_config_write_optional(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	uint8_t v = 1;

	f->wrap_ops = *f->lb.vdev.ops;
	f->wrap_ops.config_write = NULL;
	f->lb.vdev.ops = &f->wrap_ops;
	ctx_register(c);
	fx_add(c, f);
	assert_ptr_equal(f->lb.vdev.driver, &c->drv);
	assert_int_equal(vio_drv_config_write(&f->lb.vdev, 0, &v, 1), -ENOTSUP);
}

static void bus_remove_device_unbinds_and_resets(void **state)
{
	struct ctx *c = *state;
	struct fx *f = ctx_bound(c);

	vio_bus_remove_device(&c->bus, &f->lb.vdev);
	f->added = false;
	assert_int_equal(f->removes, 1);
	assert_null(f->lb.vdev.driver);
	assert_int_equal(status_of(f), 0);
	assert_int_equal(c->bus_bytes, 0);
	assert_true(arena_all_free(f));
	/* the bus forgot it: a new driver for its id does not probe it */
	vio_bus_unregister_driver(&c->bus, &c->drv);
	c->drv_reg = false;
	ctx_register(c);
	assert_int_equal(f->probes, 1);
}

static const struct test_def single_tests[] = {
	T(bus_autoprobe_driver_first),
	T(bus_autoprobe_device_first),
	T(bus_id_must_match),
	T(bus_names_unique),
	T(bus_name_of_largest_index_fits),
	T(bus_probe_failure_fails_device),
	T(bus_features_ok_refused_fails_device),
	T(bus_driver_ok_after_probe),
	T(bus_ready_in_probe),
	T(bus_register_rules),
	T(bus_add_rejects_bad_ops),
	T(bus_add_takes_older_and_newer_ops),
	T(bus_add_rejects_bus_without_allocators),
	T(bus_config_write_optional),
	T(bus_remove_device_unbinds_and_resets),
};

int main(void)
{
	static const struct core_tables t = {
		.single = single_tests, .nsingle = ARRAY_LEN(single_tests),
		.negotiation = bus_negotiation,
	};

	return core_run("lb_core_bus", &t);
}
