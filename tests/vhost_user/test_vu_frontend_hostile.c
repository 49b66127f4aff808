/*
 * test_vu_frontend_hostile.c - a fake backend scripted here replies
 * wrongly (size, request, flags, version, fds, oversize, silence, EOF,
 * values out of range, a feature offer that changes, config replies of
 * another size or offset, talk out of turn, a garbled backend channel,
 * GET_INFLIGHT_FD replies with a log too small, no fd, two fds or an
 * offset past the file): each is a clear error, logged, never a crash or
 * a hang.
 *
 * Siblings, all in tests/vhost_user/: test_vu_frontend_variants.c (every
 * ring variant), test_vu_frontend_session.c (one variant: negotiation,
 * config, reconnects), test_vu_frontend_blk.c (a vhost-user-blk backend
 * killed mid-I/O), test_vu_frontend_hostile.c (a fake backend's wrong
 * replies) and test_vu_frontend_deadlines.c (deadlines, bounded sends,
 * refused status, per layout); what they share is vu_frontend_fixture.{c,h}.
 */

#include "vu_frontend_fixture.h"

/* Waits until the fake has seen n messages of req (it answers some of
 * them only when asked to, so the frontend may be ahead of it). */
static bool fake_wait_seen(struct fake_env *fx, uint32_t req, unsigned n)
{
	const int64_t deadline = now_ms() + WAIT_MS;

	while (fake_seen(fx, req) < n && now_ms() < deadline)
		usleep(1000);
	return fake_seen(fx, req) == n;
}

/* connect fails with err, and the log says why (contains `says`). */
static void expect_connect_error(struct fake_env *fx, int err, const char *says)
{
	const int64_t t0 = now_ms();

	assert_int_equal(fake_connect(fx), err);
	assert_true(now_ms() - t0 < WAIT_MS);
	if (!strstr(fx->log.last, says))
		fail_msg("log says \"%s\", expected \"%s\"", fx->log.last, says);
}

/* One wrong reply during connect, and what the frontend must say. */
struct hostile_reply {
	const char *name;
	uint32_t req;
	enum fake_mode mode;
	int err;
	const char *says;       /* in the log line */
};

static const struct hostile_reply hostile_replies[] = {
	{ "wrong size", VU_GET_FEATURES, FAKE_WRONG_SIZE, -EPROTO, "12-byte payload" },
	{ "wrong request", VU_GET_FEATURES, FAKE_WRONG_REQUEST, -EPROTO, "reply to request 2" },
	{ "no reply flag", VU_GET_PROTOCOL_FEATURES, FAKE_NO_REPLY_FLAG, -EPROTO, "REPLY missing" },
	{ "bad version", VU_GET_FEATURES, FAKE_BAD_VERSION, -EPROTO, "version 2" },
	{ "reply with an fd", VU_GET_QUEUE_NUM, FAKE_WITH_FD, -EPROTO, "file descriptors" },
	{ "huge payload", VU_GET_FEATURES, FAKE_HUGE, -EPROTO, "1048576-byte" },
	{ "silence", VU_GET_PROTOCOL_FEATURES, FAKE_SILENT, -ETIMEDOUT, "no reply" },
	{ "close mid-handshake", VU_GET_PROTOCOL_FEATURES, FAKE_CLOSE, -ECONNRESET, "closed" },
	{ "ack of wrong size", VU_SET_OWNER, FAKE_WRONG_SIZE, -EPROTO, "SET_OWNER" },
	{ "no ack", VU_SET_MEM_TABLE, FAKE_SILENT, -ETIMEDOUT, "SET_MEM_TABLE" },
	{ "no queues", VU_GET_QUEUE_NUM, FAKE_VALUE, -EPROTO, "GET_QUEUE_NUM answered 0" },
};

static void test_hostile_reply(void **state)
{
	struct fake_env *fx = *state;
	const struct hostile_reply *c = fx->param;

	fake_script(&fx->f, c->req, c->mode, 0);
	expect_connect_error(fx, c->err, c->says);
}

/* No MQ and no queue count from the caller: nothing to go on. */
static void test_hostile_no_queue_count(void **state)
{
	struct fake_env *fx = *state;

	fx->f.protocol_features &= ~VIO_BIT(VU_PROTOCOL_F_MQ);
	fx->cfg.num_queues = 0;
	expect_connect_error(fx, -EINVAL, "no queue count");
}

/* A backend with more queues than we support is capped, not refused. */
static void test_hostile_queue_num_huge(void **state)
{
	struct fake_env *fx = *state;

	fx->f.queue_num = UINT64_MAX;
	assert_int_equal(fake_connect(fx), 0);
	assert_int_equal(fx->fe.num_queues, VIO_VU_MAX_QUEUES);
}

/* A legitimate refusal (REPLY_ACK non-zero) is an error, not a crash. */
static void test_hostile_refuses_mem_table(void **state)
{
	struct fake_env *fx = *state;

	fake_script(&fx->f, VU_SET_MEM_TABLE, FAKE_VALUE, 1);
	expect_connect_error(fx, -EIO, "refused SET_MEM_TABLE");
}

/* Protocol feature bits nobody knows are ignored, not acked. */
static void test_hostile_unknown_protocol_features(void **state)
{
	struct fake_env *fx = *state;

	fx->f.protocol_features = ~UINT64_C(0);
	assert_int_equal(fake_connect(fx), 0);
	assert_int_equal(fx->fe.protocol_features & ~(VIO_BIT(17) - 1), 0);
	assert_false(fx->fe.protocol_features & VIO_BIT(VU_PROTOCOL_F_INBAND_NOTIFICATIONS));
}

/* A backend without protocol features: no protocol messages, rings start
 * enabled (no SET_VRING_ENABLE), and GET_FEATURES confirms SET_FEATURES. */
static void test_hostile_ok_without_protocol_features(void **state)
{
	struct fake_env *fx = *state;

	fx->f.features = VIO_BIT(VIO_F_VERSION_1);
	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_non_null(fx->fe.vdev.driver);
	assert_false(fx->fe.protocol);
	assert_true(fake_wait_seen(fx, VU_SET_VRING_KICK, 1));
	assert_int_equal(fake_seen(fx, VU_GET_PROTOCOL_FEATURES), 0);
	assert_int_equal(fake_seen(fx, VU_SET_VRING_ENABLE), 0);
	assert_int_equal(fake_seen(fx, VU_SET_FEATURES), 1);
	assert_true(fake_seen(fx, VU_GET_FEATURES) >= 2);
}

/* The feature offer changes between GET_FEATURES calls (bits it never
 * offered appear): FEATURES_OK fails, the driver is not bound, and the
 * device is FAILED, with the reason logged. */
static void test_hostile_features_change(void **state)
{
	struct fake_env *fx = *state;

	fx->f.features = VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VU_F_PROTOCOL_FEATURES);
	fx->f.later_features = fx->f.features | VIO_BIT(VIO_F_EVENT_IDX) | VIO_BIT(3);
	fx->f.protocol_features &= ~VIO_BIT(VU_PROTOCOL_F_REPLY_ACK);
	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_null(fx->fe.vdev.driver);
	assert_true(fx->fe.vdev.ops->get_status(&fx->fe.vdev) & VIO_STATUS_FAILED);
	assert_int_equal(vio_vu_frontend_error(&fx->fe), -EPROTO);
	assert_true(strstr(fx->log.last, "GET_FEATURES now says") != NULL);
}

/* The driver may not ask for features the backend did not offer. */
static void test_hostile_set_features_not_offered(void **state)
{
	struct fake_env *fx = *state;
	struct vio_drv_device *d = &fx->fe.vdev;

	assert_int_equal(fake_connect(fx), 0);
	assert_int_equal(d->ops->set_features(d, VIO_BIT(VIO_F_EVENT_IDX)), -EINVAL);
}

static void config_hostile(void **state, enum fake_mode mode, int err, bool still_connected,
			   const char *says)
{
	struct fake_env *fx = *state;
	uint8_t b[8];

	fake_script(&fx->f, VU_GET_CONFIG, mode, 0);
	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_int_equal(vio_drv_config_read(&fx->fe.vdev, 4, b, sizeof(b)), err);
	assert_int_equal(vio_vu_frontend_connected(&fx->fe), still_connected);
	assert_int_equal(!!(fx->fe.vdev.ops->get_status(&fx->fe.vdev) & VIO_STATUS_NEEDS_RESET),
			 !still_connected);
	if (!strstr(fx->log.last, says))
		fail_msg("log says \"%s\", expected \"%s\"", fx->log.last, says);
}

static void test_hostile_config_wrong_size(void **state)
{
	config_hostile(state, FAKE_CONFIG_SHORT, -EPROTO, false, "23-byte payload, expected 24");
}

static void test_hostile_config_refused(void **state)
{
	config_hostile(state, FAKE_CONFIG_REFUSE, -EIO, true, "refused GET_CONFIG");
}

/* A backend that answers from offset 0 whatever was asked (libvhost-user:
 * qemu-storage-daemon) still gives the driver the bytes it asked for. */
static void test_config_read_from_start(void **state)
{
	struct fake_env *fx = *state;
	uint8_t b[8];

	fake_script(&fx->f, VU_GET_CONFIG, FAKE_CONFIG_FROM_START, 0);
	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_int_equal(vio_drv_config_read(&fx->fe.vdev, 34, b, sizeof(b)), 0);
	for (unsigned i = 0; i < sizeof(b); i++)
		assert_int_equal(b[i], 34 + i);
	assert_true(vio_vu_frontend_connected(&fx->fe));
}

static void test_hostile_config_wrong_offset(void **state)
{
	config_hostile(state, FAKE_CONFIG_OFFSET, -EPROTO, false, "answered [1, +12)");
}

/* GET_VRING_BASE answers for another ring while the driver resets the
 * device: the reset completes here, the connection is dropped. */
static void test_hostile_vring_base_wrong_index(void **state)
{
	struct fake_env *fx = *state;

	fake_script(&fx->f, VU_GET_VRING_BASE, FAKE_WRONG_INDEX, 0);
	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_non_null(fx->fe.vdev.driver);
	vio_drv_unbind(&fx->fe.vdev);
	assert_false(vio_vu_frontend_connected(&fx->fe));
	assert_int_equal(vio_vu_frontend_error(&fx->fe), -EPROTO);
	assert_true(strstr(fx->log.last, "GET_VRING_BASE for ring 0 answered ring 1") != NULL);
	/* Rebinding without a backend fails cleanly. */
	(void)vio_drv_bind(&fx->fe.vdev);
	assert_null(fx->fe.vdev.driver);
}

/* A GET_INFLIGHT_FD reply that is wrong: the rings never go to the
 * backend, the connection drops with a line saying why, no fd is kept. */
struct hostile_inflight {
	const char *name;
	enum fake_mode mode;
	const char *says;
};

static const struct hostile_inflight hostile_inflights[] = {
	{ "log too small", FAKE_INFLIGHT_SMALL, "needed for 1 queues of 64" },
	{ "no fd", FAKE_INFLIGHT_NO_FD, "with 0 fds" },
	{ "two fds", FAKE_INFLIGHT_TWO_FDS, "carried 2 file descriptors" },
	{ "offset past the end", FAKE_INFLIGHT_OFFSET, "is not inside its file" },
};

static void test_hostile_inflight(void **state)
{
	struct fake_env *fx = *state;
	const struct hostile_inflight *c = fx->param;

	fx->f.protocol_features |= VIO_BIT(VU_PROTOCOL_F_INFLIGHT_SHMFD);
	fake_script(&fx->f, VU_GET_INFLIGHT_FD, c->mode, 0);
	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_int_equal(fake_seen(fx, VU_GET_INFLIGHT_FD), 1);
	assert_false(vio_vu_frontend_connected(&fx->fe));
	assert_int_equal(vio_vu_frontend_error(&fx->fe), -EPROTO);
	if (!strstr(fx->log.last, c->says))
		fail_msg("log says \"%s\", expected \"%s\"", fx->log.last, c->says);
	assert_int_equal(fx->fe.inflight_fd, -1);
	assert_int_equal(fake_seen(fx, VU_SET_INFLIGHT_FD), 0);
	assert_int_equal(fake_seen(fx, VU_SET_VRING_KICK), 0);
	assert_true(fx->fe.vdev.ops->get_status(&fx->fe.vdev) & VIO_STATUS_NEEDS_RESET);
}

/* mmap_size 0 and no fd: the backend declines; the rings start without. */
static void test_hostile_inflight_declined(void **state)
{
	struct fake_env *fx = *state;

	fx->f.protocol_features |= VIO_BIT(VU_PROTOCOL_F_INFLIGHT_SHMFD);
	fake_script(&fx->f, VU_GET_INFLIGHT_FD, FAKE_INFLIGHT_DECLINE, 0);
	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_non_null(fx->fe.vdev.driver);
	assert_true(vio_vu_frontend_connected(&fx->fe));
	assert_int_equal(fake_seen(fx, VU_GET_INFLIGHT_FD), 1);
	assert_int_equal(fx->fe.inflight_fd, -1);
	assert_int_equal(fake_seen(fx, VU_SET_INFLIGHT_FD), 0);
	assert_true(fake_wait_seen(fx, VU_SET_VRING_KICK, 1));
}

/* A well-formed log: kept, and handed back with SET_INFLIGHT_FD before the
 * first ring message. */
static void test_inflight_get_then_set(void **state)
{
	struct fake_env *fx = *state;

	fx->f.protocol_features |= VIO_BIT(VU_PROTOCOL_F_INFLIGHT_SHMFD);
	assert_int_equal(fake_connect(fx), 0);
	assert_int_equal(fake_seen(fx, VU_GET_INFLIGHT_FD), 0); /* not before DRIVER_OK */
	fake_bind(fx);
	assert_non_null(fx->fe.vdev.driver);
	assert_true(fx->fe.inflight_fd >= 0);
	assert_int_equal(fx->fe.inflight_size, vio_inflight_queue_bytes(0, 64));
	assert_true(fake_wait_seen(fx, VU_SET_INFLIGHT_FD, 1));
	assert_true(fake_wait_seen(fx, VU_SET_VRING_KICK, 1));
	/* Reset: the log describes rings that are gone, so it goes. */
	vio_drv_unbind(&fx->fe.vdev);
	assert_int_equal(fx->fe.inflight_fd, -1);
}

/* A backend that does not offer INFLIGHT_SHMFD is never asked. */
static void test_inflight_not_offered(void **state)
{
	struct fake_env *fx = *state;

	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_non_null(fx->fe.vdev.driver);
	assert_true(fake_wait_seen(fx, VU_SET_VRING_KICK, 1));
	assert_int_equal(fake_seen(fx, VU_GET_INFLIGHT_FD), 0);
	assert_int_equal(fx->fe.inflight_fd, -1);
}

static void test_hostile_status_out_of_range(void **state)
{
	struct fake_env *fx = *state;

	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	fake_script(&fx->f, VU_GET_STATUS, FAKE_VALUE, 0x1ff);
	assert_true(fx->fe.vdev.ops->get_status(&fx->fe.vdev) & VIO_STATUS_NEEDS_RESET);
	assert_int_equal(vio_vu_frontend_error(&fx->fe), -EPROTO);
	assert_true(strstr(fx->log.last, "not a status byte") != NULL);
}

/* The backend refuses the features (REPLY_ACK 1): FEATURES_OK stays
 * clear and the driver is not bound. */
static void test_hostile_refuses_features(void **state)
{
	struct fake_env *fx = *state;

	fake_script(&fx->f, VU_SET_FEATURES, FAKE_VALUE, 1);
	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_null(fx->fe.vdev.driver);
	assert_false(fx->fe.vdev.ops->get_status(&fx->fe.vdev) & VIO_STATUS_FEATURES_OK);
	assert_true(vio_vu_frontend_connected(&fx->fe));
}

/* The backend writes a message nobody asked for on the main socket. */
static void test_hostile_unsolicited(void **state)
{
	struct fake_env *fx = *state;
	struct vu_header h = { VU_GET_FEATURES, VU_VERSION | VU_FLAG_REPLY, 0 };

	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_int_equal(send(fx->f.sock, &h, sizeof(h), MSG_NOSIGNAL), sizeof(h));
	(void)vio_drv_wait(&fx->fe.vdev, 1000);
	assert_false(vio_vu_frontend_connected(&fx->fe));
	assert_int_equal(vio_vu_frontend_error(&fx->fe), -EPROTO);
	assert_true(strstr(fx->log.last, "nobody asked for") != NULL);
}

/* CONFIG_CHANGE_MSG with NEED_REPLY: the frontend answers 0 on the
 * channel, bumps the generation and tells the driver. */
static void test_hostile_channel_config_change(void **state)
{
	struct fake_env *fx = *state;
	struct vu_header h = { VU_BACKEND_CONFIG_CHANGE_MSG, VU_VERSION | VU_FLAG_NEED_REPLY, 0 };
	struct { struct vu_header h; uint64_t v; } __attribute__((packed)) reply;
	struct pollfd p;
	uint32_t gen;
	int bfd;

	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	bfd = fake_backend_channel(fx);
	gen = fx->fe.vdev.ops->config_generation(&fx->fe.vdev);
	assert_int_equal(send(bfd, &h, sizeof(h), MSG_NOSIGNAL), sizeof(h));
	assert_int_equal(vio_drv_wait(&fx->fe.vdev, 1000), 0);
	assert_int_equal(fx->drv.config_changes, 1);
	assert_int_equal(fx->fe.vdev.ops->config_generation(&fx->fe.vdev), gen + 1);
	p = (struct pollfd){ bfd, POLLIN, 0 };
	assert_int_equal(poll(&p, 1, 1000), 1);
	assert_int_equal(recv(bfd, &reply, sizeof(reply), MSG_WAITALL), sizeof(reply));
	assert_int_equal(reply.h.request, VU_BACKEND_CONFIG_CHANGE_MSG);
	assert_int_equal(reply.h.flags, VU_VERSION | VU_FLAG_REPLY);
	assert_int_equal(reply.h.size, 8);
	assert_int_equal(reply.v, 0);
}

/* Garbage on the backend channel drops the connection with a reason. */
static void test_hostile_channel_garbage(void **state)
{
	struct fake_env *fx = *state;
	struct vu_header h = { VU_BACKEND_CONFIG_CHANGE_MSG, 3, 0 };

	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_int_equal(send(fake_backend_channel(fx), &h, sizeof(h), MSG_NOSIGNAL), sizeof(h));
	(void)vio_drv_wait(&fx->fe.vdev, 1000);
	assert_false(vio_vu_frontend_connected(&fx->fe));
	assert_int_equal(vio_vu_frontend_error(&fx->fe), -EPROTO);
	assert_true(strstr(fx->log.last, "backend channel") != NULL);
}

/* The backend hangs up while the driver binds: the bus marks the device
 * FAILED; nothing hangs and nothing crashes. */
static void test_hostile_close_during_bind(void **state)
{
	struct fake_env *fx = *state;

	fake_script(&fx->f, VU_SET_FEATURES, FAKE_CLOSE, 0);
	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_null(fx->fe.vdev.driver);
	assert_false(vio_vu_frontend_connected(&fx->fe));
	assert_int_equal(vio_vu_frontend_error(&fx->fe), -ECONNRESET);
}

static const struct named_test hostile_tests[] = {
	T(test_hostile_queue_num_huge),
	T(test_hostile_no_queue_count),
	T(test_hostile_refuses_mem_table),
	T(test_hostile_unknown_protocol_features),
	T(test_hostile_ok_without_protocol_features),
	T(test_hostile_features_change),
	T(test_hostile_set_features_not_offered),
	T(test_hostile_config_wrong_size),
	T(test_hostile_config_refused),
	T(test_hostile_config_wrong_offset),
	T(test_config_read_from_start),
	T(test_hostile_vring_base_wrong_index),
	T(test_hostile_status_out_of_range),
	T(test_hostile_refuses_features),
	T(test_hostile_unsolicited),
	T(test_hostile_channel_config_change),
	T(test_hostile_channel_garbage),
	T(test_hostile_close_during_bind),
	T(test_hostile_inflight_declined),
	T(test_inflight_get_then_set),
	T(test_inflight_not_offered),
};

int main(void)
{
	for (size_t i = 0; i < COUNT(hostile_replies); i++)
		add_run("hostile_reply", hostile_replies[i].name, test_hostile_reply, fake_setup,
			fake_teardown, &hostile_replies[i]);
	for (size_t i = 0; i < COUNT(hostile_inflights); i++)
		add_run("hostile_inflight", hostile_inflights[i].name, test_hostile_inflight,
			fake_setup, fake_teardown, &hostile_inflights[i]);
	for (size_t t = 0; t < COUNT(hostile_tests); t++)
		add_run(hostile_tests[t].name + 5, NULL, hostile_tests[t].fn, fake_setup,
			fake_teardown, NULL);
	return run_all("vu_frontend_hostile");
}
