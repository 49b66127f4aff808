/*
 * test_vu_backend_io.c - the vhost-user backend's happy path, one suite run
 * for each row of `layouts` (split/packed, EVENT_IDX off/on): I/O through
 * both rings, index wrap-around, GET_VRING_BASE, kick and call fds and
 * their absence, in-band kicks, queue threads.
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

/* Posts buffers that the backend must NOT process now. */
static void expect_no_io(struct t *t, unsigned qi, unsigned n)
{
	post(t, qi, n, 1);
	vt_ring_kick(&t->r[qi]);
	vio_vu_backend_queue_dispatch(&t->b, qi);
	vio_vu_backend_queue_poll(&t->b, qi);
	assert_false(reap_one(t, qi));
}

/* The base GET_VRING_BASE reports after n single-descriptor buffers from a
 * fresh ring, all used: split counts buffers; packed has the avail position
 * and wrap counter (bit 15) in the low half and the used ones in the high
 * half, QEMU's encoding. */
static uint32_t base_after(const struct t *t, uint32_t n)
{
	uint32_t pos;

	if (!packed(t))
		return n & 0xffff;
	pos = (n % QSIZE) | ((1u ^ ((n / QSIZE) & 1u)) << 15);
	return pos | pos << 16;
}

/* Layout suite: happy path                                                 */
static void test_io(void **state)
{
	struct t *t = *state;

	up(t);
	for (unsigned round = 0; round < 3; round++) {
		expect_io(t, 0, 5, 1);
		expect_io(t, 0, 4, 2);
	}
	assert_int_equal(t->e.chains[0], 27);
	assert_int_equal(t->b.queues[0].calls, 6);
}

static void test_io_both_queues(void **state)
{
	struct t *t = *state;

	up(t);
	expect_io(t, 1, 3, 1);
	expect_io(t, 0, 2, 2);
	expect_io(t, 1, QSIZE, 1);
	assert_int_equal(t->e.chains[0], 2);
	assert_int_equal(t->e.chains[1], 3 + QSIZE);
}

/* Many buffers, through index wrap-around of the ring. */
static void test_io_wraps(void **state)
{
	struct t *t = *state;

	up(t);
	for (unsigned round = 0; round < 3 * QSIZE / 7 + 2; round++)
		expect_io(t, 0, 7, 1 + round % 2);
	assert_true(t->posted[0] > 2 * QSIZE);
}

/* GET_VRING_BASE reports where the ring is and stops it; a restart at that
 * base carries on, including buffers posted while it was stopped. */
static void test_vring_base_stop_restart(void **state)
{
	struct t *t = *state;
	uint32_t base = 0;

	up(t);
	expect_io(t, 0, 7, 1);
	t->queues_changed = 0;
	assert_int_equal(vt_fe_get_vring_base(&t->fe, 0, &base), 0);
	assert_int_equal(base, base_after(t, 7));
	assert_false(t->e.q[0].live);
	assert_int_equal(vio_vu_backend_kick_fd(&t->b, 0), -1);
	assert_true(t->queues_changed > 0);
	/* Queue 1 is not affected. */
	assert_true(t->e.q[1].live);

	expect_no_io(t, 0, 2);
	start_at(t, 0, base);
	/* The two buffers posted while stopped were picked up at start. */
	assert_true(reap_one(t, 0));
	assert_true(reap_one(t, 0));
	expect_io(t, 0, 3, 1);
}

/* Bug check: a second GET_VRING_BASE must report the same position. */
static void test_vring_base_twice(void **state)
{
	struct t *t = *state;
	uint32_t b1 = 0, b2 = 0;

	up(t);
	expect_io(t, 0, 5, 1);
	assert_int_equal(vt_fe_get_vring_base(&t->fe, 0, &b1), 0);
	assert_int_equal(vt_fe_get_vring_base(&t->fe, 0, &b2), 0);
	assert_int_equal(b1, base_after(t, 5));
	assert_int_equal(b2, b1);
}

/* Bug check: before the ring ever ran, GET_VRING_BASE reports what
 * SET_VRING_BASE set (QEMU stops rings that never started, too). */
static void test_vring_base_before_start(void **state)
{
	struct t *t = *state;
	uint32_t base = 0;
	uint32_t want = packed(t) ? (0x8000u | 5) * 0x10001u : 5;

	negotiate(t, PF_ALL);
	map_memory(t);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_BASE, 0, want), 0);
	assert_int_equal(vt_fe_get_vring_base(&t->fe, 0, &base), 0);
	assert_int_equal(base, want);
}

/* Bug check: buffers kicked while a ring is disabled are handled when it is
 * enabled again (the kick was consumed while disabled). */
static void test_disable_enable(void **state)
{
	struct t *t = *state;

	up(t);
	expect_io(t, 0, 2, 1);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_ENABLE, 0, 0), 0);
	expect_no_io(t, 0, 3);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_ENABLE, 0, 1), 0);
	/* No further kick: the frontend already kicked once. */
	for (unsigned k = 0; k < 3; k++)
		assert_true(reap_one(t, 0));
}

/* SET_VRING_KICK with NOFD: no kick fd, the caller polls the queue. */
static void test_kick_nofd_polling(void **state)
{
	struct t *t = *state;

	negotiate(t, PF_ALL);
	map_memory(t);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_NUM, 0, QSIZE), 0);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_BASE, 0, fresh_base(t)), 0);
	assert_int_equal(set_addr(t, &t->r[0]), 0);
	assert_int_equal(vt_fe_vring_fd(&t->fe, VU_SET_VRING_CALL, 0, t->r[0].call_fd), 0);
	assert_int_equal(vt_fe_vring_fd(&t->fe, VU_SET_VRING_KICK, 0, -1), 0);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_ENABLE, 0, 1), 0);
	assert_true(t->e.q[0].live);
	assert_true(t->b.queues[0].polling);
	assert_int_equal(vio_vu_backend_kick_fd(&t->b, 0), -1);
	post(t, 0, 4, 1);
	vio_vu_backend_queue_poll(&t->b, 0);
	assert_true(vt_efd_take(t->r[0].call_fd) > 0);
	for (unsigned k = 0; k < 4; k++)
		assert_true(reap_one(t, 0));
}

struct poller {
	struct t *t;
	bool done;                      /* atomic: read while the thread runs */
};

static void *poll_thread(void *arg)
{
	struct poller *pl = arg;

	vio_vu_backend_queue_poll(&pl->t->b, 0);
	__atomic_store_n(&pl->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* vio_vu_backend_queue_lock keeps the device off the queue: a poll from
 * another thread waits until the owner unlocks. */
static void test_queue_lock(void **state)
{
	struct t *t = *state;
	struct poller pl = { t, false };
	pthread_t tid;
	uint64_t before;

	up(t);
	post(t, 0, 3, 1);
	before = t->e.chains[0];
	vio_vu_backend_queue_lock(&t->b, 0);
	assert_int_equal(pthread_create(&tid, NULL, poll_thread, &pl), 0);
	usleep(100 * 1000);
	assert_false(__atomic_load_n(&pl.done, __ATOMIC_ACQUIRE));
	assert_int_equal(t->e.chains[0], before);
	vio_vu_backend_queue_unlock(&t->b, 0);
	pthread_join(tid, NULL);
	assert_true(pl.done);
	assert_int_equal(t->e.chains[0], before + 3);
	for (unsigned k = 0; k < 3; k++)
		assert_true(reap_one(t, 0));
}

/* SET_VRING_BASE is optional: without it a ring starts fresh (for packed:
 * position 0 with the wrap counters set, not cleared). */
static void test_no_vring_base(void **state)
{
	struct t *t = *state;
	struct vt_ring *r = &t->r[0];

	negotiate(t, PF_ALL);
	map_memory(t);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_NUM, 0, QSIZE), 0);
	assert_int_equal(set_addr(t, r), 0);
	assert_int_equal(vt_fe_vring_fd(&t->fe, VU_SET_VRING_CALL, 0, r->call_fd), 0);
	assert_int_equal(vt_fe_vring_fd(&t->fe, VU_SET_VRING_KICK, 0, r->kick_fd), 0);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_ENABLE, 0, 1), 0);
	expect_io(t, 0, 3, 1);
	assert_int_equal(t->e.dev.status & VIO_STATUS_NEEDS_RESET, 0);
}

/* SET_VRING_CALL with NOFD: no interrupts, the used ring still fills. */
static void test_call_nofd(void **state)
{
	struct t *t = *state;

	up(t);
	assert_int_equal(vt_fe_vring_fd(&t->fe, VU_SET_VRING_CALL, 0, -1), 0);
	post(t, 0, 3, 1);
	vt_ring_kick(&t->r[0]);
	vio_vu_backend_queue_dispatch(&t->b, 0);
	assert_int_equal(vt_efd_take(t->r[0].call_fd), 0);
	for (unsigned k = 0; k < 3; k++)
		assert_true(reap_one(t, 0));
}

/* The in-band VRING_KICK message also kicks. */
static void test_inband_kick(void **state)
{
	struct t *t = *state;

	up(t);
	post(t, 0, 2, 1);
	assert_int_equal(vt_fe_state(&t->fe, VU_VRING_KICK, 0, 0), 0);
	assert_true(reap_one(t, 0));
	assert_true(reap_one(t, 0));
}

/* QEMU sends SET_MEM_TABLE again while rings run (memory hotplug): rings
 * keep running and keep listening to their kick fd. */
static void test_mem_table_while_running(void **state)
{
	struct t *t = *state;

	up(t);
	expect_io(t, 0, 2, 1);
	map_memory(t);
	assert_true(t->e.q[0].live);
	assert_int_equal(t->e.dev.status & VIO_STATUS_NEEDS_RESET, 0);
	assert_true(vio_vu_backend_kick_fd(&t->b, 0) >= 0);
	expect_io(t, 0, 3, 1);
	expect_io(t, 1, 1, 1);
}

static void bg_poll_for(struct bg *g)
{
	g->ret = vio_vu_backend_queue_poll_for(&g->t->b, 0, 1000000);
}

static void stop_waiting(struct t *t)
{
	__atomic_store_n(&t->e.wait[0], false, __ATOMIC_RELAXED);
}

/* Adaptive polling with buffers the device leaves on the ring: the window
 * ends 1 ms after the last buffer the device took, not never. */
static void test_poll_for_device_waits(void **state)
{
	struct t *t = *state;
	struct bg g;

	up(t);
	expect_io(t, 0, 2, 1);
	__atomic_store_n(&t->e.wait[0], true, __ATOMIC_RELAXED);
	post(t, 0, 3, 1);
	bg_start(&g, t, bg_poll_for);
	assert_true(bg_wait(&g, stop_waiting));
	assert_int_equal(g.ret, true);          /* the device ran (and took nothing) */
	assert_false(reap_one(t, 0));
	/* The buffers are still there for the device once it stops waiting. */
	stop_waiting(t);
	vio_vu_backend_queue_poll(&t->b, 0);
	for (unsigned k = 0; k < 3; k++)
		assert_true(reap_one(t, 0));
	/* Buffers the device takes are still served by polling. */
	post(t, 0, 2, 1);
	assert_true(vio_vu_backend_queue_poll_for(&t->b, 0, 1000000));
	assert_true(reap_one(t, 0));
	assert_true(reap_one(t, 0));
}

static void stop_feeding(struct t *t)
{
	__atomic_store_n(&t->e.feed, NULL, __ATOMIC_RELAXED);
}

/* However busy the driver keeps the queue, a poll_for call returns within
 * a bounded time, so its thread gets back to its other fds (a daemon's
 * stop request) rather than polling for as long as the driver likes. */
static void test_poll_for_busy_driver(void **state)
{
	struct t *t = *state;
	struct bg g;

	up(t);
	t->e.feed_opaque = t;
	__atomic_store_n(&t->e.feed, feed, __ATOMIC_RELAXED);
	post(t, 0, 1, 1);
	t->posted[0] = t->reaped[0] = 0;        /* feed() reaps it */
	bg_start(&g, t, bg_poll_for);
	assert_true(bg_wait(&g, stop_feeding));
	stop_feeding(t);
	assert_int_equal(g.ret, true);
	assert_true(t->fed > 0);
	assert_int_equal(t->e.dev.status & VIO_STATUS_NEEDS_RESET, 0);
}

static void bg_queue_dispatch(struct bg *g)
{
	vio_vu_backend_queue_dispatch(&g->t->b, 0);
}

static void kick_ring0(struct t *t)
{
	vt_efd_signal(t->r[0].kick_fd);
}

static void drain_call0(struct t *t)
{
	(void)vt_efd_take(t->r[0].call_fd);
}

/* Ring 0 gets a blocking eventfd of ours for its kick or call fd (what a
 * frontend may hand over), and everything starts. */
static void up_blocking_efd(struct t *t, int *which)
{
	close(*which);
	*which = eventfd(0, EFD_CLOEXEC);
	assert_true(*which >= 0);
	up(t);
	/* The backend made it non-blocking: the flag is shared with us. */
	assert_true(fcntl(*which, F_GETFL) & O_NONBLOCK);
}

/* The frontend may read its own kick fd between the kick the daemon's
 * poll saw and the daemon's read, and may clear O_NONBLOCK on it: the
 * queue's dispatch must not wait for another kick with its lock held. */
static void test_kick_fd_drained(void **state)
{
	struct t *t = *state;
	struct bg g;

	up_blocking_efd(t, &t->r[0].kick_fd);
	bg_start(&g, t, bg_queue_dispatch);
	assert_true(bg_wait(&g, kick_ring0));
	assert_int_equal(fcntl(t->r[0].kick_fd, F_SETFL, 0), 0);
	bg_start(&g, t, bg_queue_dispatch);
	assert_true(bg_wait(&g, kick_ring0));
	expect_io(t, 0, 3, 1);
}

/* A call eventfd the frontend filled to its maximum and never reads: the
 * interrupt must not wait for room, with the queue's lock held. */
static void test_call_fd_full(void **state)
{
	struct t *t = *state;
	uint64_t full = UINT64_C(0xfffffffffffffffe);
	struct bg g;

	up_blocking_efd(t, &t->r[0].call_fd);
	assert_int_equal(write(t->r[0].call_fd, &full, sizeof(full)), sizeof(full));
	post(t, 0, 2, 1);
	vt_ring_kick(&t->r[0]);
	bg_start(&g, t, bg_queue_dispatch);
	assert_true(bg_wait(&g, drain_call0));
	assert_true(reap_one(t, 0));
	assert_true(reap_one(t, 0));
	/* Still signalled, with the count it had. */
	assert_int_equal(vt_efd_take(t->r[0].call_fd), full);
	expect_io(t, 0, 1, 1);
}

static void test_io_threaded(void **state)
{
	struct t *t = *state;
	struct qthread q[NQ];
	uint64_t irqs[NQ] = { 0, 0 };
	const unsigned rounds = 300;
	uint8_t cfg[CFG_LEN];

	up(t);
	for (unsigned i = 0; i < NQ; i++) {
		q[i] = (struct qthread){ .b = &t->b, .qi = i, .stop_fd = vt_eventfd() };
		q[i].kick_fd = vio_vu_backend_kick_fd(&t->b, i);
		assert_true(q[i].stop_fd >= 0);
		assert_int_equal(pthread_create(&q[i].th, NULL, qthread_main, &q[i]), 0);
	}
	for (unsigned round = 0; round < rounds; round++) {
		for (unsigned i = 0; i < NQ; i++) {
			post(t, i, 1 + round % 9, 1 + round % 2);
			vt_ring_kick(&t->r[i]);
		}
		/* Control messages keep flowing while the queues run. */
		if (round % 10 == 0)
			assert_int_equal(vt_fe_get_config(&t->fe, 0, CFG_LEN, cfg), (int)CFG_LEN);
		if (round == rounds / 2) {
			int fd = vt_eventfd();

			/* Replace queue 1's call fd under its running thread. */
			assert_int_equal(vt_fe_vring_fd(&t->fe, VU_SET_VRING_CALL, 1, fd), 0);
			close(t->r[1].call_fd);
			t->r[1].call_fd = fd;
		}
		for (unsigned i = 0; i < NQ; i++)
			wait_all(t, i, &irqs[i]);
	}
	for (unsigned i = 0; i < NQ; i++) {
		vt_efd_signal(q[i].stop_fd);
		pthread_join(q[i].th, NULL);
		close(q[i].stop_fd);
		assert_int_equal(t->e.chains[i], t->posted[i]);
		/* The driver sleeps only when it must (a lost interrupt is a
		 * timeout in wait_all); interrupts were sent either way. */
		assert_true(t->b.queues[i].calls > 0);
		assert_true(irqs[i] + vt_efd_take(t->r[i].call_fd) > 0);
	}
	for (unsigned i = 0; i < NQ; i++) {
		uint32_t base = 0;

		assert_int_equal(vt_fe_get_vring_base(&t->fe, i, &base), 0);
		assert_int_equal(base, base_after(t, t->posted[i]));
	}
}

static const struct test_def layout_tests[] = {
	{ "io through the ring", test_io },
	{ "io on both queues", test_io_both_queues },
	{ "io across index wrap-around", test_io_wraps },
	{ "io with a thread per queue", test_io_threaded },
	{ "GET_VRING_BASE stops the ring, restart at that base", test_vring_base_stop_restart },
	{ "GET_VRING_BASE twice reports the same base", test_vring_base_twice },
	{ "GET_VRING_BASE before start reports SET_VRING_BASE", test_vring_base_before_start },
	{ "buffers kicked while disabled run on enable", test_disable_enable },
	{ "SET_VRING_KICK NOFD: the caller polls", test_kick_nofd_polling },
	{ "queue_lock keeps the device off the queue", test_queue_lock },
	{ "SET_VRING_CALL NOFD: no interrupts, ring still used", test_call_nofd },
	{ "no SET_VRING_BASE: the ring starts fresh", test_no_vring_base },
	{ "in-band VRING_KICK", test_inband_kick },
	{ "SET_MEM_TABLE again while rings run", test_mem_table_while_running },
	{ "adaptive polling ends while the device leaves buffers", test_poll_for_device_waits },
	{ "adaptive polling ends while the driver keeps it busy", test_poll_for_busy_driver },
	{ "a kick fd the frontend drained does not block dispatch", test_kick_fd_drained },
	{ "a call fd at its maximum does not block the device", test_call_fd_full },
};

int main(void)
{
	for (size_t v = 0; v < ARRAY_LEN(layouts); v++)
		add_defs(layouts[v].name, layout_tests, ARRAY_LEN(layout_tests), &layouts[v]);
	return run_added("vu_backend_io");
}
