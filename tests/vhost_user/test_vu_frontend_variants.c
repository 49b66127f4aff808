/*
 * test_vu_frontend_variants.c - libvio's vhost-user frontend against
 * libvio's backend, per ring variant (split/packed x plain, EVENT_IDX,
 * INDIRECT, IN_ORDER): rng reads, two echo queues, reset and rebind,
 * reconnect after the backend restarts (with requests in flight, used but
 * not reaped, and posted while away; and completed out of order, which
 * needs the inflight log).
 *
 * Siblings, all in tests/vhost_user/: test_vu_frontend_variants.c (every
 * ring variant), test_vu_frontend_session.c (one variant: negotiation,
 * config, reconnects), test_vu_frontend_blk.c (a vhost-user-blk backend
 * killed mid-I/O), test_vu_frontend_hostile.c (a fake backend's wrong
 * replies) and test_vu_frontend_deadlines.c (deadlines, bounded sends,
 * refused status, per layout); what they share is vu_frontend_fixture.{c,h}.
 */

#include "vu_frontend_fixture.h"

/* Variant tests                                                            */
/* The rng driver reads through the frontend: many requests, every
 * requested ring feature negotiated. */
static void test_rng_read(void **state)
{
	struct env *e = *state;

	env_up(e, DEV_RNG);
	assert_true((e->fe.vdev.features & e->v->features) == e->v->features);
	rng_read_ok(e, 100000);
	rng_read_ok(e, 1);
	assert_true(served(e, 0) >= 100001);
}

/* Both echo queues at once, with data checked end to end. */
static void test_echo_two_queues(void **state)
{
	struct env *e = *state;

	env_up(e, DEV_TD);
	assert_int_equal(e->fe.num_queues, 2);
	for (unsigned s = 0; s < 16; s++)
		ts_submit(&e->tdrv, s % 2, s);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 0, 16));
	for (unsigned s = 0; s < 16; s++)
		ts_check(&e->tdrv, s);
	assert_int_equal(served(e, 0), 8);
	assert_int_equal(served(e, 1), 8);
	assert_false(e->tdrv.broken);
}

/* Many rounds through a small ring: indices wrap. */
static void test_echo_wraps(void **state)
{
	struct env *e = *state;

	env_up(e, DEV_TD);
	for (unsigned round = 0; round < 300; round++) {
		unsigned s = round % TS_SLOTS;

		ts_submit(&e->tdrv, 0, s);
		assert_true(ts_wait(&e->fe.vdev, &e->tdrv, s, 1));
		ts_check(&e->tdrv, s);
	}
	assert_int_equal(served(e, 0), 300);
}

/* Unbinding resets the device (rings stopped, status 0 in the backend);
 * binding again works and I/O flows. */
static void test_reset_rebind(void **state)
{
	struct env *e = *state;

	env_up(e, DEV_TD);
	ts_submit(&e->tdrv, 0, 0);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 0, 1));
	vio_drv_unbind(&e->fe.vdev);
	assert_int_equal(e->fe.vdev.ops->get_status(&e->fe.vdev), 0);
	/* GET_VRING_BASE said where the ring stopped: after one buffer. */
	if (vio_has_feature(e->v->features, VIO_F_RING_PACKED)) {
		unsigned pos = e->fe.queues[0].base & 0x7fff;

		assert_true(pos == 1 || pos == 2); /* one buffer: 1 or 2 descriptors */
		assert_true(e->fe.queues[0].base & 0x8000);
	} else {
		assert_int_equal(e->fe.queues[0].base, 1);
	}
	on_backend(e, check_backend_reset);
	assert_int_equal(vio_drv_bind(&e->fe.vdev), 0);
	assert_int_equal(e->tdrv.probes, 2);
	ts_submit(&e->tdrv, 1, 3);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 3, 1));
	ts_check(&e->tdrv, 3);
}

/* The rng backend restarts between reads; a read issued while it is
 * away times out, and its requests are served after the reconnect. */
static void test_reconnect_rng(void **state)
{
	struct env *e = *state;
	uint8_t b[64];

	env_up(e, DEV_RNG);
	rng_read_ok(e, 5000);
	be_stop(e->be);
	e->be = NULL;
	assert_int_equal(vio_rng_drv_read(&e->fe.vdev, b, sizeof(b), 100), -ETIMEDOUT);
	assert_false(vio_vu_frontend_connected(&e->fe));
	assert_int_equal(vio_vu_frontend_error(&e->fe), -ECONNRESET);
	/* A backend that went away is not a broken device. */
	assert_false(e->fe.vdev.ops->get_status(&e->fe.vdev) & VIO_STATUS_NEEDS_RESET);
	env_free_dev(e);
	env_new_dev(e, e->v->features);
	assert_int_equal(vio_vu_frontend_reconnect_fd(&e->fe, env_spawn_backend(e)), 0);
	assert_true(vio_vu_frontend_connected(&e->fe));
	rng_read_ok(e, 20000);
	rng_read_ok(e, 3);
}

static void test_reconnect_inflight(void **state)
{
	struct env *e = *state;

	env_up(e, DEV_TD);
	reconnect_in_every_state(e);
}

/* Completes held[2] and held[3] of the six the device holds, leaving
 * held[0], held[1], held[4] and held[5] taken and unused. */
static void td_release_middle(void *arg)
{
	struct tdev *t = ((struct env *)arg)->td;
	struct vio_devq *vq = vio_dev_vq(&t->dev, 0);

	assert_int_equal(t->nheld, 6);
	for (unsigned i = 2; i < 4; i++) {
		td_echo(&t->held[i]);
		assert_int_equal(vio_devq_push(vq, &t->held[i].e, t->held[i].len), 0);
	}
	t->served[0] += 2;
	vio_dev_interrupt(&t->dev, 0);
}

/*
 * Out of order: the device completes the 3rd and 4th of six requests, then
 * dies. The used index (2) no longer says where to resume: avail entries 2
 * and 3 are the completed ones, and 0, 1, 4, 5 are outstanding. The
 * inflight log the frontend kept and handed to the new backend says so
 * (split and packed), and each request completes exactly once with its
 * data.
 */
static void test_reconnect_out_of_order(void **state)
{
	struct env *e = *state;
	env_up(e, DEV_TD);
	assert_true(e->fe.inflight_fd >= 0);
	on_backend(e, td_hold_on);
	for (unsigned s = 0; s < 6; s++)
		ts_submit(&e->tdrv, 0, s);
	td_wait_held(e, 6);
	on_backend(e, td_release_middle);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 2, 2));
	/* Killed: no GET_VRING_BASE, the log stays as the device left it. */
	be_stop(e->be);
	e->be = NULL;
	ts_submit(&e->tdrv, 0, 6);
	env_free_dev(e);
	env_new_dev(e, e->v->features);
	assert_int_equal(vio_vu_frontend_reconnect_fd(&e->fe, env_spawn_backend(e)), 0);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 0, 7));
	for (unsigned s = 0; s <= 6; s++)
		ts_check(&e->tdrv, s);
	assert_false(e->tdrv.broken);
	/* The new backend served the four outstanding and the new one. */
	assert_int_equal(served(e, 0), 5);
}

/* The variants: each ring layout with each of these feature sets. */
static const struct { const char *name; uint64_t features; } extras[] = {
	{ "", 0 },
	{ "+event_idx", VIO_BIT(VIO_F_EVENT_IDX) },
	{ "+indirect", VIO_BIT(VIO_F_INDIRECT_DESC) },
	{ "+in_order", VIO_BIT(VIO_F_IN_ORDER) },
	{ "+in_order+event_idx+indirect",
	  VIO_BIT(VIO_F_IN_ORDER) | VIO_BIT(VIO_F_EVENT_IDX) | VIO_BIT(VIO_F_INDIRECT_DESC) },
};

#define NVARIANTS (sizeof(layouts) / sizeof(layouts[0]) * sizeof(extras) / sizeof(extras[0]))

static struct variant variants[NVARIANTS];

static const struct named_test variant_tests[] = {
	T(test_rng_read),
	T(test_echo_two_queues),
	T(test_echo_wraps),
	T(test_reset_rebind),
	T(test_reconnect_rng),
	T(test_reconnect_inflight),
};

int main(void)
{
	size_t v = 0;

	for (size_t l = 0; l < COUNT(layouts); l++) {
		for (size_t x = 0; x < COUNT(extras); x++, v++) {
			struct variant *var = &variants[v];

			var->features = layouts[l].features | extras[x].features;
			snprintf(var->name, sizeof(var->name), "%s%s", layouts[l].name,
				 extras[x].name);
		}
	}
	for (size_t t = 0; t < COUNT(variant_tests); t++)
		for (v = 0; v < NVARIANTS; v++)
			add_run(variant_tests[t].name + 5, variants[v].name, variant_tests[t].fn,
				env_setup, env_teardown, &variants[v]);
	/* Out of order only where the device may complete out of order. */
	for (v = 0; v < NVARIANTS; v++) {
		if (!vio_has_feature(variants[v].features, VIO_F_IN_ORDER))
			add_run("reconnect_out_of_order", variants[v].name,
				test_reconnect_out_of_order, env_setup, env_teardown, &variants[v]);
	}
	return run_all("vu_frontend_variants");
}
