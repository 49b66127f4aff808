/*
 * test_vu_backend_serial.c - queues a device type serialises
 * (vio_dev_queue's serial_first/serial_count): the vhost-user backend
 * never lets their processing overlap, though each runs on a thread of its
 * own, and queues without a range still run at once.
 *
 * Siblings: the other test_vu_backend_*.c files in tests/vhost_user/ (see
 * test_vu_backend_hostile.c's header for the list); the echo device and
 * the fixture are vu_backend_fixture.{c,h}.
 */

#include "vu_backend_fixture.h"

#define ROUNDS 10
#define STAY_NS 5000000u        /* each round stays in the device this long */

/* Set by the feed hook while queue qi's processing runs (atomic). */
static bool inside[NQ];
static bool overlapped;         /* atomic */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Runs inside the echo device's processing of qi (under the backend's
 * locks): stays a while and looks whether the other queue's runs too. */
static void stay_and_look(struct t *t, unsigned qi)
{
	const uint64_t end = mono_ns() + STAY_NS;

	(void)t;
	__atomic_store_n(&inside[qi], true, __ATOMIC_SEQ_CST);
	while (mono_ns() < end) {
		if (__atomic_load_n(&inside[1 - qi], __ATOMIC_SEQ_CST))
			__atomic_store_n(&overlapped, true, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&inside[qi], false, __ATOMIC_SEQ_CST);
}

struct poller {
	struct vio_vu_backend *b;
	unsigned qi;
	pthread_t th;
};

static void *poll_rounds(void *arg)
{
	struct poller *p = arg;

	for (unsigned k = 0; k < ROUNDS; k++)
		vio_vu_backend_queue_poll(p->b, p->qi);
	return NULL;
}

/* Both queues' threads poll at once; returns whether their processing
 * overlapped. */
static bool run_both(struct t *t)
{
	struct poller p[NQ];

	__atomic_store_n(&overlapped, false, __ATOMIC_RELAXED);
	__atomic_store_n(&t->e.feed_opaque, t, __ATOMIC_RELAXED);
	__atomic_store_n(&t->e.feed, stay_and_look, __ATOMIC_RELEASE);
	for (unsigned k = 0; k < NQ; k++) {
		p[k] = (struct poller){ .b = &t->b, .qi = k };
		assert_int_equal(pthread_create(&p[k].th, NULL, poll_rounds, &p[k]), 0);
	}
	for (unsigned k = 0; k < NQ; k++)
		pthread_join(p[k].th, NULL);
	__atomic_store_n(&t->e.feed, NULL, __ATOMIC_RELEASE);
	return __atomic_load_n(&overlapped, __ATOMIC_RELAXED);
}

static void test_serialised_queues_never_overlap(void **state)
{
	struct t *t = *state;

	for (unsigned k = 0; k < NQ; k++) {
		t->e.q[k].serial_first = 0;
		t->e.q[k].serial_count = NQ;
	}
	up(t);
	assert_false(run_both(t));
	/* The owner's lock takes the same range: held on queue 0, it keeps
	 * queue 1's processing out. */
	vio_vu_backend_queue_lock(&t->b, 0);
	__atomic_store_n(&inside[0], true, __ATOMIC_SEQ_CST);
	{
		struct poller p = { .b = &t->b, .qi = 1 };

		__atomic_store_n(&overlapped, false, __ATOMIC_RELAXED);
		__atomic_store_n(&t->e.feed_opaque, t, __ATOMIC_RELAXED);
		__atomic_store_n(&t->e.feed, stay_and_look, __ATOMIC_RELEASE);
		assert_int_equal(pthread_create(&p.th, NULL, poll_rounds, &p), 0);
		usleep(20000);
		__atomic_store_n(&inside[0], false, __ATOMIC_SEQ_CST);
		vio_vu_backend_queue_unlock(&t->b, 0);
		pthread_join(p.th, NULL);
		__atomic_store_n(&t->e.feed, NULL, __ATOMIC_RELEASE);
		assert_false(__atomic_load_n(&overlapped, __ATOMIC_RELAXED));
	}
}

/* A range that names only the other queue still holds the queue itself,
 * and one past the last queue is clipped. */
static void test_range_widened_and_clipped(void **state)
{
	struct t *t = *state;

	t->e.q[0].serial_first = 1;
	t->e.q[0].serial_count = 1000;
	t->e.q[1].serial_first = 1;
	t->e.q[1].serial_count = 1;
	up(t);
	assert_false(run_both(t));
}

/* Without a range the two queues' threads do run at once: the check above
 * can tell. */
static void test_unserialised_queues_overlap(void **state)
{
	struct t *t = *state;

	up(t);
	assert_true(run_both(t));
}

static const struct test_def serial_tests[] = {
	{ "serialised queues never overlap", test_serialised_queues_never_overlap },
	{ "a range is widened to its queue and clipped", test_range_widened_and_clipped },
	{ "queues without a range run at once", test_unserialised_queues_overlap },
};

int main(void)
{
	add_defs("serial", serial_tests, ARRAY_LEN(serial_tests), &layouts[0]);
	return run_added("vu_backend_serial");
}
