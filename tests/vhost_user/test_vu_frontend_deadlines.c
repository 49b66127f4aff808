/*
 * test_vu_frontend_deadlines.c - the fake backend against the frontend's
 * deadlines and bounded sends, and a refused status, once per ring layout
 * (split and packed).
 *
 * Siblings, all in tests/vhost_user/: test_vu_frontend_variants.c (every
 * ring variant), test_vu_frontend_session.c (one variant: negotiation,
 * config, reconnects), test_vu_frontend_blk.c (a vhost-user-blk backend
 * killed mid-I/O), test_vu_frontend_hostile.c (a fake backend's wrong
 * replies) and test_vu_frontend_deadlines.c (deadlines, bounded sends,
 * refused status, per layout); what they share is vu_frontend_fixture.{c,h}.
 */

#include "vu_frontend_fixture.h"

/* Hostile: deadlines, bounded sends, refused status, split and packed      */
/* The ring layouts: tests/lib/layouts.h. */
static int64_t thread_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connects and binds the test driver on the row's ring layout. */
static void fake_up_layout(struct fake_env *fx)
{
	const struct layout *l = fx->param;

	fx->f.features |= l->features;
	tdrv_init(&fx->drv, l->features, 1);
	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_non_null(fx->fe.vdev.driver);
	assert_int_equal(fx->fe.vdev.features & VIO_BIT(VIO_F_RING_PACKED), l->features);
}

static void expect_log(struct fake_env *fx, const char *says)
{
	if (!strstr(fx->log.last, says))
		fail_msg("log says \"%s\", expected \"%s\"", fx->log.last, says);
}

/*
 * A backend that listens and never accepts, its backlog full: connect
 * (and reconnect) by path fail when the timeout passes, not never.
 */
static void test_hostile_never_accepts(void **state)
{
	struct fake_env *fx = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/vio-fe-XXXXXX";
	int lfd, filler[4];
	unsigned nfill = 0;
	int64_t t0, wall;
	int r;

	assert_non_null(mkdtemp(dir));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", dir);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	/* Fill the backlog: connect without blocking until it says so. */
	while (nfill < 4) {
		int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

		assert_true(c >= 0);
		if (connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			assert_int_equal(errno, EAGAIN);
			close(c);
			break;
		}
		filler[nfill++] = c;
	}
	assert_true(nfill >= 1 && nfill < 4);
	t0 = now_ms();
	r = vio_vu_frontend_connect(&fx->fe, sa.sun_path, &fx->cfg);
	wall = now_ms() - t0;
	assert_int_equal(r, -ETIMEDOUT);
	if (wall < FAKE_TIMEOUT_MS - 10 || wall > FAKE_TIMEOUT_MS + 1500)
		fail_msg("connect took %lld ms, its deadline was %d ms", (long long)wall,
			 FAKE_TIMEOUT_MS);
	while (nfill)
		close(filler[--nfill]);
	close(lfd);
	unlink(sa.sun_path);
	rmdir(dir);
}

/* A thread that sends CONFIG_CHANGE on the backend channel as fast as
 * the socket takes it, and never reads. */
struct flood {
	int fd;
	bool need_reply;
	bool stop;                      /* atomic */
	unsigned sent;                  /* atomic */
	pthread_t thread;
};

static void *flood_main(void *arg)
{
	struct flood *fl = arg;
	const struct vu_header h = { VU_BACKEND_CONFIG_CHANGE_MSG,
				     VU_VERSION | (fl->need_reply ? VU_FLAG_NEED_REPLY : 0), 0 };
	const int64_t end = now_ms() + 2 * WAIT_MS;   /* a guard, should a test forget */

	while (!__atomic_load_n(&fl->stop, __ATOMIC_ACQUIRE) && now_ms() < end) {
		struct pollfd p = { fl->fd, POLLOUT, 0 };

		if (poll(&p, 1, 20) <= 0)
			continue;
		if (p.revents & (POLLERR | POLLHUP))
			break;
		if (send(fl->fd, &h, sizeof(h), MSG_NOSIGNAL | MSG_DONTWAIT) == sizeof(h))
			__atomic_fetch_add(&fl->sent, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void flood_start(struct flood *fl, int fd, bool need_reply)
{
	*fl = (struct flood){ .fd = fd, .need_reply = need_reply };
	assert_int_equal(pthread_create(&fl->thread, NULL, flood_main, fl), 0);
}

static unsigned flood_stop(struct flood *fl)
{
	__atomic_store_n(&fl->stop, true, __ATOMIC_RELEASE);
	pthread_join(fl->thread, NULL);
	return fl->sent;
}

/*
 * The backend withholds the GET_CONFIG reply and floods the backend
 * channel meanwhile: the read still fails when the reply's deadline
 * passes (not when the flood ends), and serving the flood costs the
 * waiting thread a small share of its time, not a whole CPU.
 */
static void test_hostile_withheld_reply_channel_flood(void **state)
{
	struct fake_env *fx = *state;
	struct flood fl;
	uint8_t b[8];
	int64_t t0, c0, wall, cpu;
	int r;

	fake_up_layout(fx);
	fake_script(&fx->f, VU_GET_CONFIG, FAKE_SILENT, 0);
	flood_start(&fl, fake_backend_channel(fx), false);
	t0 = now_ms();
	c0 = thread_cpu_ms();
	r = vio_drv_config_read(&fx->fe.vdev, 4, b, sizeof(b));
	cpu = thread_cpu_ms() - c0;
	wall = now_ms() - t0;
	assert_true(flood_stop(&fl) > 256);     /* the flood did flow */
	assert_int_equal(r, -ETIMEDOUT);
	expect_log(fx, "no reply to GET_CONFIG within 1000 ms");
	if (wall < FAKE_TIMEOUT_MS - 10 || wall > FAKE_TIMEOUT_MS + 1500)
		fail_msg("the reply wait took %lld ms, its deadline was %d ms", (long long)wall,
			 FAKE_TIMEOUT_MS);
	if (cpu * 4 > wall)
		fail_msg("the wait used %lld ms of cpu in %lld ms", (long long)cpu, (long long)wall);
	assert_false(vio_vu_frontend_connected(&fx->fe));
	/* The channel's messages were read too, at their rate. */
	assert_true(fx->fe.config_generation > 0);
}

/*
 * The backend asks for replies on its channel (NEED_REPLY) and never
 * reads them: once the channel is full, the reply that cannot go out
 * within the deadline drops the connection; nothing blocks for good.
 */
static void test_hostile_channel_replies_unread(void **state)
{
	struct fake_env *fx = *state;
	struct flood fl;
	uint8_t b[8];
	int64_t t0, c0, wall, cpu;

	fake_up_layout(fx);
	flood_start(&fl, fake_backend_channel(fx), true);
	t0 = now_ms();
	c0 = thread_cpu_ms();
	while (vio_vu_frontend_connected(&fx->fe) && now_ms() - t0 < 3 * WAIT_MS)
		(void)vio_drv_wait(&fx->fe.vdev, 100);
	cpu = thread_cpu_ms() - c0;
	wall = now_ms() - t0;
	flood_stop(&fl);
	assert_false(vio_vu_frontend_connected(&fx->fe));
	assert_int_equal(vio_vu_frontend_error(&fx->fe), -ETIMEDOUT);
	expect_log(fx, "does not read the replies on its channel");
	if (cpu * 4 > wall)
		fail_msg("the waits used %lld ms of cpu in %lld ms", (long long)cpu, (long long)wall);
	assert_true(vio_drv_get_status(&fx->fe.vdev) & VIO_STATUS_NEEDS_RESET);
	/* The lock is free: the next call answers at once. */
	assert_int_equal(vio_drv_config_read(&fx->fe.vdev, 0, b, sizeof(b)), -ENOTCONN);
}

/*
 * The backend stops reading the main socket. Without REPLY_ACK, config
 * writes need no answer and fill the socket: the send that cannot finish
 * within the deadline fails and drops the connection.
 */
static void test_hostile_main_socket_unread(void **state)
{
	struct fake_env *fx = *state;
	uint8_t b[VU_CONFIG_MAX];
	int64_t t0, slowest = 0;
	int r = 0;

	fx->f.protocol_features &= ~VIO_BIT(VU_PROTOCOL_F_REPLY_ACK);
	fake_up_layout(fx);
	fake_script(&fx->f, VU_SET_CONFIG, FAKE_DEAF, 0);
	memset(b, 0xa5, sizeof(b));
	t0 = now_ms();
	while (r == 0 && now_ms() - t0 < 3 * WAIT_MS) {
		const int64_t t = now_ms();

		r = vio_drv_config_write(&fx->fe.vdev, 0, b, sizeof(b));
		if (now_ms() - t > slowest)
			slowest = now_ms() - t;
	}
	assert_int_equal(r, -ETIMEDOUT);
	expect_log(fx, "could not send SET_CONFIG");
	if (slowest < FAKE_TIMEOUT_MS - 10 || slowest > FAKE_TIMEOUT_MS + 1500)
		fail_msg("the longest send took %lld ms, its deadline was %d ms",
			 (long long)slowest, FAKE_TIMEOUT_MS);
	assert_false(vio_vu_frontend_connected(&fx->fe));
}

/* A reply that trickles in (a byte every 100 ms, 20 bytes) misses its
 * deadline: each byte is progress, none moves the deadline. */
static void test_hostile_reply_drips(void **state)
{
	struct fake_env *fx = *state;
	uint64_t st;
	int64_t t0, wall;

	fake_up_layout(fx);
	fake_script(&fx->f, VU_GET_STATUS, FAKE_DRIP, 0);
	t0 = now_ms();
	st = vio_drv_get_status(&fx->fe.vdev);
	wall = now_ms() - t0;
	assert_false(vio_vu_frontend_connected(&fx->fe));
	assert_int_equal(vio_vu_frontend_error(&fx->fe), -ETIMEDOUT);
	assert_true(st & VIO_STATUS_NEEDS_RESET);
	expect_log(fx, "GET_STATUS");
	if (wall < FAKE_TIMEOUT_MS - 10 || wall > FAKE_TIMEOUT_MS + 1500)
		fail_msg("the reply wait took %lld ms, its deadline was %d ms", (long long)wall,
			 FAKE_TIMEOUT_MS);
}

/* The backend refuses SET_STATUS with FEATURES_OK: FEATURES_OK does not
 * read back, the driver is not bound, the device is FAILED. */
static void test_hostile_refuses_features_ok(void **state)
{
	struct fake_env *fx = *state;
	const struct layout *l = fx->param;

	fx->f.features |= l->features;
	tdrv_init(&fx->drv, l->features, 1);
	fake_script(&fx->f, VU_SET_STATUS, FAKE_REFUSE_STATUS, VIO_STATUS_FEATURES_OK);
	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_null(fx->fe.vdev.driver);
	assert_int_equal(fx->drv.probes, 0);
	assert_false(vio_drv_get_status(&fx->fe.vdev) & VIO_STATUS_FEATURES_OK);
	assert_true(vio_drv_get_status(&fx->fe.vdev) & VIO_STATUS_FAILED);
	assert_int_equal(fake_seen(fx, VU_SET_VRING_KICK), 0);
	assert_true(strstr(fx->log.last, "FEATURES_OK") != NULL);
}

/* The backend refuses SET_STATUS with DRIVER_OK: the device reads back
 * NEEDS_RESET and the driver hears of it (a config interrupt). */
static void test_hostile_refuses_driver_ok(void **state)
{
	struct fake_env *fx = *state;
	const struct layout *l = fx->param;
	struct logbuf seen;

	fx->f.features |= l->features;
	tdrv_init(&fx->drv, l->features, 1);
	fake_script(&fx->f, VU_SET_STATUS, FAKE_REFUSE_STATUS, VIO_STATUS_DRIVER_OK);
	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	seen = fx->log;
	assert_true(vio_drv_get_status(&fx->fe.vdev) & VIO_STATUS_NEEDS_RESET);
	assert_int_equal(vio_drv_wait(&fx->fe.vdev, 0), 0);
	assert_true(fx->drv.config_changes >= 1);
	if (!strstr(seen.last, "refused DRIVER_OK"))
		fail_msg("log says \"%s\", expected \"refused DRIVER_OK\"", seen.last);
}

/* Hostile cases run once per ring layout. */
static const struct named_test layout_hostile_tests[] = {
	T(test_hostile_withheld_reply_channel_flood),
	T(test_hostile_channel_replies_unread),
	T(test_hostile_main_socket_unread),
	T(test_hostile_reply_drips),
	T(test_hostile_refuses_features_ok),
	T(test_hostile_refuses_driver_ok),
};

static const struct named_test hostile_tests[] = {
	T(test_hostile_never_accepts),
};

int main(void)
{
	for (size_t t = 0; t < COUNT(layout_hostile_tests); t++)
		for (size_t l = 0; l < COUNT(layouts); l++)
			add_run(layout_hostile_tests[t].name + 5, layouts[l].name,
				layout_hostile_tests[t].fn, fake_setup, fake_teardown, &layouts[l]);
	for (size_t t = 0; t < COUNT(hostile_tests); t++)
		add_run(hostile_tests[t].name + 5, NULL, hostile_tests[t].fn, fake_setup,
			fake_teardown, NULL);
	return run_all("vu_frontend_deadlines");
}
