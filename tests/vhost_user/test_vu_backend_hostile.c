/*
 * test_vu_backend_hostile.c - a hostile driver against the vhost-user
 * backend: on every row of `layouts`, then writing the split ring and the
 * packed ring by hand; the device stops with NEEDS_RESET and the frontend
 * recovers by resetting it.
 *
 * Siblings, all in tests/vhost_user/: test_vu_backend_io.c (the happy path
 * on every layout), test_vu_backend_hostile.c (hostile drivers: every
 * layout, split- and packed-specific), test_vu_backend_control.c (the
 * control plane), test_vu_backend_messages.c (broken framing, fds, queue
 * indices, stalls), test_vu_backend_setup.c (refused memory tables, ring
 * setup, features, config, eventfds) and test_vu_backend_inflight.c
 * (GET/SET_INFLIGHT_FD); the echo device, the fixture and the registration
 * are vu_backend_fixture.{c,h}.
 */

#include "vu_backend_fixture.h"

/* Layout suite: a hostile driver                                           */
/* The device went NEEDS_RESET: error fds of both rings signalled, the
 * frontend told on the backend channel, control messages still served. */
static void assert_needs_reset(struct t *t)
{
	struct vt_msg m;

	assert_true(t->e.dev.status & VIO_STATUS_NEEDS_RESET);
	for (unsigned i = 0; i < NQ; i++) {
		assert_false(t->e.q[i].live);
		assert_true(vt_efd_take(t->r[i].err_fd) > 0);
	}
	assert_int_equal(vt_recv_msg(t->bch, &m, 1000), 0);
	assert_int_equal(m.hdr.request, VU_BACKEND_CONFIG_CHANGE_MSG);
	assert_int_equal(m.hdr.flags & VU_VERSION_MASK, VU_VERSION);
	assert_int_equal(m.hdr.size, 0);
	assert_true(get_status(t) & VIO_STATUS_NEEDS_RESET);
	assert_serving(t);
}

/* A thread per queue, and queue 0 gets a chain outside guest memory: its
 * thread sets NEEDS_RESET and stops both queues while queue 1's thread
 * keeps running the device and the frontend asks for the status. Device
 * status and the live flags cross threads here (TSan checks the pairs). */
static void test_needs_reset_threaded(void **state)
{
	struct t *t = *state;
	struct vio_sg o = { GPA + MEM_SIZE + 0x1000, 64 }, i = { GPA, 64 };
	struct qthread q[NQ];
	uint64_t irqs = 0;
	unsigned n;

	up(t);
	for (unsigned k = 0; k < NQ; k++) {
		q[k] = (struct qthread){ .b = &t->b, .qi = k, .stop_fd = vt_eventfd() };
		q[k].kick_fd = vio_vu_backend_kick_fd(&t->b, k);
		assert_true(q[k].stop_fd >= 0);
		assert_int_equal(pthread_create(&q[k].th, NULL, qthread_main, &q[k]), 0);
	}
	for (unsigned round = 0; round < 20; round++) {
		post(t, 1, 1 + round % 4, 1);
		vt_ring_kick(&t->r[1]);
		assert_int_equal(get_status(t), STATUS_NEGOTIATED | VIO_STATUS_DRIVER_OK);
		wait_all(t, 1, &irqs);
	}
	assert_int_equal(vio_drvq_add(&t->r[0].q, &o, 1, &i, 1, token(999)), 0);
	vt_ring_kick(&t->r[0]);
	/* Queue 1 stays busy until the device stops it. */
	for (n = 0; !(get_status(t) & VIO_STATUS_NEEDS_RESET); n++) {
		assert_true(n < 100000);
		while (reap_one(t, 1))
			;
		if (t->posted[1] - t->reaped[1] < QSIZE / 2) {
			post(t, 1, 1, 1);
			vt_ring_kick(&t->r[1]);
		}
	}
	for (unsigned k = 0; k < NQ; k++) {
		vt_efd_signal(q[k].stop_fd);
		pthread_join(q[k].th, NULL);
		close(q[k].stop_fd);
	}
	assert_int_equal(t->e.last_err[0], -EFAULT);
	assert_true(get_status(t) & VIO_STATUS_NEEDS_RESET);
	for (unsigned k = 0; k < NQ; k++) {
		assert_false(t->e.q[k].live);
		assert_true(vt_efd_take(t->r[k].err_fd) > 0);
	}
	assert_serving(t);
	recover(t);
}

static void test_hostile_buffer_outside_memory(void **state)
{
	struct t *t = *state;
	struct vio_sg o = { GPA + MEM_SIZE + 0x1000, 64 }, i = { GPA, 64 };

	negotiate(t, PF_ALL);
	backend_channel(t);
	map_memory(t);
	start(t, 0);
	start(t, 1);
	expect_io(t, 0, 2, 1);
	assert_int_equal(vio_drvq_add(&t->r[0].q, &o, 1, &i, 1, token(999)), 0);
	vt_ring_kick(&t->r[0]);
	vio_vu_backend_queue_dispatch(&t->b, 0);
	assert_int_equal(t->e.last_err[0], -EFAULT);
	assert_needs_reset(t);
	/* Further kicks do nothing and break nothing. */
	vio_vu_backend_queue_dispatch(&t->b, 0);
	vio_vu_backend_queue_poll(&t->b, 1);
	recover(t);
}

/* Split-specific: a hostile driver writing the split ring                  */
/* Makes entry `head` available on ring 0 behind the driver side's back. */
static void split_publish(struct t *t, uint16_t head)
{
	struct vio_split_avail *avail = t->r[0].driver;
	uint16_t idx = vio_le16_to_cpu(avail->idx);

	avail->ring[idx % QSIZE] = vio_cpu_to_le16(head);
	__atomic_store_n(&avail->idx.raw, vio_cpu_to_le16((uint16_t)(idx + 1)).raw,
			 __ATOMIC_RELEASE);
}

static void hostile_setup(struct t *t)
{
	negotiate(t, PF_ALL);
	backend_channel(t);
	map_memory(t);
	start(t, 0);
	start(t, 1);
}

/* Kicks ring 0 and expects the pop to stop with err (0: any stop). */
static void hostile_fire(struct t *t, int err)
{
	vt_efd_signal(t->r[0].kick_fd);
	vio_vu_backend_queue_dispatch(&t->b, 0);
	if (err)
		assert_int_equal(t->e.last_err[0], err);
	assert_true(t->e.last_err[0] < 0 && t->e.last_err[0] != -EAGAIN);
	assert_needs_reset(t);
}

static void test_split_head_out_of_range(void **state)
{
	struct t *t = *state;

	hostile_setup(t);
	split_publish(t, QSIZE + 3);
	hostile_fire(t, -EIO);
	recover(t);
}

static void test_split_desc_loop(void **state)
{
	struct t *t = *state;
	struct vio_split_desc *d = t->r[0].desc;

	hostile_setup(t);
	d[0].addr = vio_cpu_to_le64(vt_gmem_gpa(&t->g, t->data));
	d[0].len = vio_cpu_to_le32(16);
	d[0].flags = vio_cpu_to_le16(VIO_DESC_F_NEXT);
	d[0].next = vio_cpu_to_le16(0);
	split_publish(t, 0);
	/* -EIO for the loop, or -ENOBUFS when the device's iovec fills first. */
	hostile_fire(t, 0);
}

/* avail->idx runs more than a ring ahead. */
static void test_split_avail_idx_ahead(void **state)
{
	struct t *t = *state;
	struct vio_split_avail *avail = t->r[0].driver;

	hostile_setup(t);
	avail->idx = vio_cpu_to_le16(QSIZE + 1);
	hostile_fire(t, -EIO);
}

/* Split sizes are powers of two: a ring of 24 entries does not start (the
 * backend may refuse the number itself or the start). */
static void test_split_num_not_pow2(void **state)
{
	struct t *t = *state;
	struct vt_ring *r = &t->r[0];
	int e;

	negotiate(t, PF_ALL);
	map_memory(t);
	e = vt_fe_state(&t->fe, VU_SET_VRING_NUM, 0, 24);
	assert_true(e >= 0);
	assert_int_equal(set_addr(t, r), 0);
	assert_int_equal(vt_fe_vring_fd(&t->fe, VU_SET_VRING_KICK, 0, r->kick_fd), 0);
	e += vt_fe_state(&t->fe, VU_SET_VRING_ENABLE, 0, 1);
	assert_int_equal(e, 1);
	assert_false(t->e.q[0].live);
	assert_serving(t);
	start(t, 0);
	expect_io(t, 0, 2, 1);
}

/* Packed-specific: a hostile driver writing the packed ring                */
static void test_packed_bad_indirect(void **state)
{
	struct t *t = *state;
	struct vio_packed_desc *d = t->r[0].desc;

	hostile_setup(t);
	d[0].addr = vio_cpu_to_le64(vt_gmem_gpa(&t->g, t->data));
	d[0].len = vio_cpu_to_le32(7);          /* not a multiple of 16 */
	d[0].id = vio_cpu_to_le16(0);
	__atomic_store_n(&d[0].flags.raw,
			 vio_cpu_to_le16(VIO_DESC_F_INDIRECT | VIO_PACKED_DESC_F_AVAIL).raw,
			 __ATOMIC_RELEASE);
	hostile_fire(t, -EIO);
	recover(t);
}

/* Packed sizes need not be powers of two. */
static void test_packed_num_24(void **state)
{
	struct t *t = *state;

	vt_ring_fini(&t->r[0]);
	assert_int_equal(vt_ring_init(&t->r[0], &t->g, 0, 24, t->lay->features, IND_MAX), 0);
	up(t);
	for (unsigned round = 0; round < 10; round++)
		expect_io(t, 0, 7, 1 + round % 2);
}

static const struct test_def layout_tests[] = {
	{ "hostile driver: buffer outside guest memory", test_hostile_buffer_outside_memory },
	{ "hostile driver on one queue's thread, the other busy", test_needs_reset_threaded },
};

static const struct test_def split_tests[] = {
	{ "head index out of range", test_split_head_out_of_range },
	{ "descriptor loop", test_split_desc_loop },
	{ "avail index a ring ahead", test_split_avail_idx_ahead },
	{ "SET_VRING_NUM not a power of two", test_split_num_not_pow2 },
};

static const struct test_def packed_tests[] = {
	{ "indirect table of 7 bytes", test_packed_bad_indirect },
	{ "ring of 24 entries", test_packed_num_24 },
};

int main(void)
{
	for (size_t v = 0; v < ARRAY_LEN(layouts); v++)
		add_defs(layouts[v].name, layout_tests, ARRAY_LEN(layout_tests), &layouts[v]);
	add_defs("split-specific", split_tests, ARRAY_LEN(split_tests), &layouts[0]);
	add_defs("packed-specific", packed_tests, ARRAY_LEN(packed_tests), &layouts[1]);
	return run_added("vu_backend_hostile");
}
