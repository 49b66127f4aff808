/*
 * test_vu_frontend_session.c - libvio's vhost-user frontend against
 * libvio's backend in one variant: negotiation, queue count with and
 * without MQ, status and REPLY_ACK off, config read/write/change,
 * NEEDS_RESET from the backend, DMA memory, a legacy driver, unix socket
 * path, a backend that goes away or comes back without a feature in use,
 * or without INFLIGHT_SHMFD.
 *
 * Siblings, all in tests/vhost_user/: test_vu_frontend_variants.c (every
 * ring variant), test_vu_frontend_session.c (one variant: negotiation,
 * config, reconnects), test_vu_frontend_blk.c (a vhost-user-blk backend
 * killed mid-I/O), test_vu_frontend_hostile.c (a fake backend's wrong
 * replies) and test_vu_frontend_deadlines.c (deadlines, bounded sends,
 * refused status, per layout); what they share is vu_frontend_fixture.{c,h}.
 */

#include "vu_frontend_fixture.h"

/* The backend dies and a new one (new device, no memory of the session)
 * takes its place; the frontend reconnects. Returns reconnect's result. */
static int env_restart_backend(struct env *e, uint64_t features)
{
	be_stop(e->be);
	e->be = NULL;
	env_free_dev(e);
	env_new_dev(e, features);
	return vio_vu_frontend_reconnect_fd(&e->fe, env_spawn_backend(e));
}

/* A round trip with a reply: every message sent before it is processed. */
static void fe_sync(struct env *e)
{
	uint8_t b;

	assert_int_equal(vio_drv_config_read(&e->fe.vdev, 0, &b, 1), 0);
}

/* With INFLIGHT_SHMFD turned off on our side, reconnect works as before
 * (libvio's devices complete in order). */
static void test_reconnect_without_inflight(void **state)
{
	struct env *e = *state;

	e->kind = DEV_TD;
	env_default_cfg(e);
	e->cfg.protocol_features_off = VIO_BIT(VU_PROTOCOL_F_INFLIGHT_SHMFD);
	env_up(e, DEV_TD);
	assert_false(e->fe.protocol_features & VIO_BIT(VU_PROTOCOL_F_INFLIGHT_SHMFD));
	assert_int_equal(e->fe.inflight_fd, -1);
	reconnect_in_every_state(e);
	assert_int_equal(e->fe.inflight_fd, -1);
}

/* The backend that comes back no longer offers INFLIGHT_SHMFD: the log is
 * dropped (the new backend would leave it stale) and the ring resumes at
 * the used index, as without a log. */
static void test_reconnect_to_backend_without_inflight(void **state)
{
	struct env *e = *state;

	env_up(e, DEV_TD);
	assert_true(e->fe.inflight_fd >= 0);
	on_backend(e, td_hold_on);
	for (unsigned s = 0; s < 4; s++)
		ts_submit(&e->tdrv, 0, s);
	td_wait_held(e, 4);
	be_next_pf_off = VIO_BIT(VU_PROTOCOL_F_INFLIGHT_SHMFD);
	assert_int_equal(env_restart_backend(e, e->v->features), 0);
	assert_false(e->fe.protocol_features & VIO_BIT(VU_PROTOCOL_F_INFLIGHT_SHMFD));
	assert_int_equal(e->fe.inflight_fd, -1);
	assert_true(strstr(e->log.last, "ours is dropped") != NULL);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 0, 4));
	for (unsigned s = 0; s < 4; s++)
		ts_check(&e->tdrv, s);
	assert_int_equal(served(e, 0), 4);
}

/* Session tests (one variant)                                              */
/* What the two libvio ends agree on. */
static void test_negotiation(void **state)
{
	struct env *e = *state;
	const uint64_t want = VIO_BIT(VU_PROTOCOL_F_MQ) | VIO_BIT(VU_PROTOCOL_F_REPLY_ACK) |
			      VIO_BIT(VU_PROTOCOL_F_BACKEND_REQ) | VIO_BIT(VU_PROTOCOL_F_CONFIG) |
			      VIO_BIT(VU_PROTOCOL_F_RESET_DEVICE) | VIO_BIT(VU_PROTOCOL_F_STATUS) |
			      VIO_BIT(VU_PROTOCOL_F_INFLIGHT_SHMFD) | VIO_BIT(VU_PROTOCOL_F_LOG_SHMFD);

	env_up(e, DEV_TD);
	/* DRIVER_OK asked for an inflight log: both queues, the ring size. */
	assert_true(e->fe.inflight_fd >= 0);
	assert_int_equal(e->fe.inflight_queues, 2);
	assert_int_equal(e->fe.inflight_queue_size, TD_QSIZE);
	assert_true(e->fe.inflight_size >= 2 * vio_inflight_queue_bytes(0, TD_QSIZE));
	assert_true(e->fe.protocol);
	assert_int_equal(e->fe.protocol_features, want);
	assert_int_equal(e->fe.offered, e->td->dev.host_features);
	assert_false(e->fe.vdev.ops->get_features(&e->fe.vdev) & VIO_BIT(VU_F_PROTOCOL_FEATURES));
	assert_int_equal(e->fe.vdev.ops->get_status(&e->fe.vdev),
			 VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER | VIO_STATUS_FEATURES_OK |
			 VIO_STATUS_DRIVER_OK);
	assert_int_equal(e->fe.vdev.ops->queue_max(&e->fe.vdev, 0), TD_QSIZE);
	assert_int_equal(e->fe.vdev.ops->queue_max(&e->fe.vdev, 2), 0);
	assert_true(vio_vu_frontend_call_fd(&e->fe, 0) >= 0);
	assert_int_equal(vio_vu_frontend_call_fd(&e->fe, 2), -1);
}

/* Without MQ the caller's count holds: one queue of tdev's two. */
static void test_mq_off(void **state)
{
	struct env *e = *state;

	e->kind = DEV_TD;
	env_default_cfg(e);
	e->cfg.protocol_features_off = VIO_BIT(VU_PROTOCOL_F_MQ);
	e->cfg.num_queues = 1;
	tdrv_init(&e->tdrv, 0, 1);
	env_up(e, DEV_TD);
	assert_int_equal(e->fe.num_queues, 1);
	assert_int_equal(e->fe.vdev.ops->num_queues(&e->fe.vdev), 1);
	ts_submit(&e->tdrv, 0, 0);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 0, 1));
	ts_check(&e->tdrv, 0);
}

/* Queue count from GET_QUEUE_NUM wins over the caller's guess. */
static void test_mq_count_from_backend(void **state)
{
	struct env *e = *state;

	e->kind = DEV_TD;
	env_default_cfg(e);
	e->cfg.num_queues = 1;
	env_connect(e, DEV_TD);
	assert_int_equal(e->fe.num_queues, 2);
}

/* The status tracked here without PROTOCOL_F_STATUS; the backend still
 * runs the rings (its own DRIVER_OK). */
static void check_backend_running(void *arg)
{
	struct env *e = arg;

	assert_true(e->td->dev.status & VIO_STATUS_DRIVER_OK);
	assert_true(e->td->q[0].live);
}

static void test_status_off(void **state)
{
	struct env *e = *state;

	e->kind = DEV_TD;
	env_default_cfg(e);
	e->cfg.protocol_features_off = VIO_BIT(VU_PROTOCOL_F_STATUS);
	env_up(e, DEV_TD);
	assert_false(e->fe.protocol_features & VIO_BIT(VU_PROTOCOL_F_STATUS));
	assert_true(e->fe.vdev.ops->get_status(&e->fe.vdev) & VIO_STATUS_DRIVER_OK);
	on_backend(e, check_backend_running);
	ts_submit(&e->tdrv, 0, 1);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 1, 1));
}

/* Without REPLY_ACK (and without RESET_DEVICE) everything still works. */
static void test_reply_ack_off(void **state)
{
	struct env *e = *state;

	e->kind = DEV_TD;
	env_default_cfg(e);
	e->cfg.protocol_features_off = VIO_BIT(VU_PROTOCOL_F_REPLY_ACK) |
				       VIO_BIT(VU_PROTOCOL_F_RESET_DEVICE);
	env_up(e, DEV_TD);
	ts_submit(&e->tdrv, 1, 2);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 2, 1));
	vio_drv_unbind(&e->fe.vdev);
	fe_sync(e);
	on_backend(e, check_backend_reset);
	assert_int_equal(vio_drv_bind(&e->fe.vdev), 0);
	ts_submit(&e->tdrv, 0, 3);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 3, 1));
}

static void test_config_read(void **state)
{
	struct env *e = *state;
	vio_le32 v;
	uint8_t all[TD_CONFIG_LEN];

	env_up(e, DEV_TD);
	assert_int_equal(vio_drv_config_read(&e->fe.vdev, TD_MAGIC_OFF, &v, sizeof(v)), 0);
	assert_int_equal(vio_le32_to_cpu(v), TD_MAGIC);
	assert_int_equal(vio_drv_config_read(&e->fe.vdev, 0, all, sizeof(all)), 0);
	assert_memory_equal(all + TD_MAGIC_OFF, &v, sizeof(v));
}

static unsigned config_writes_seen;

static uint8_t config_seen[TD_CONFIG_LEN];

static void td_snapshot_config(void *arg)
{
	struct env *e = arg;

	memcpy(config_seen, e->td->config, sizeof(config_seen));
	config_writes_seen = e->td->config_writes;
}

static void test_config_write(void **state)
{
	struct env *e = *state;
	const uint8_t w[4] = { 0xde, 0xad, 0xbe, 0xef };
	uint8_t r[4];

	env_up(e, DEV_TD);
	assert_int_equal(vio_drv_config_write(&e->fe.vdev, 8, w, sizeof(w)), 0);
	on_backend(e, td_snapshot_config);
	assert_memory_equal(config_seen + 8, w, sizeof(w));
	assert_int_equal(config_writes_seen, 1);
	assert_int_equal(vio_drv_config_read(&e->fe.vdev, 8, r, sizeof(r)), 0);
	assert_memory_equal(r, w, sizeof(w));
}

/* A range outside the backend's config space: it refuses, we report
 * -EIO, and the connection stays (the refusal is legitimate). */
static void test_config_out_of_range(void **state)
{
	struct env *e = *state;
	uint8_t b[8];

	env_up(e, DEV_TD);
	assert_int_equal(vio_drv_config_read(&e->fe.vdev, TD_CONFIG_LEN - 4, b, sizeof(b)), -EIO);
	assert_true(vio_vu_frontend_connected(&e->fe));
	assert_int_equal(vio_drv_config_write(&e->fe.vdev, TD_CONFIG_LEN, b, 1), -EIO);
	assert_true(vio_vu_frontend_connected(&e->fe));
	assert_int_equal(vio_drv_config_read(&e->fe.vdev, 0, b, 4), 0);
}

static void td_change_config(void *arg)
{
	struct env *e = arg;
	vio_le32 v = vio_cpu_to_le32(0xcafe);

	memcpy(e->td->config + TD_MAGIC_OFF, &v, sizeof(v));
	vio_dev_config_changed(&e->td->dev);
}

/* The device changes its config: CONFIG_CHANGE_MSG on the backend channel
 * bumps the generation and reaches the driver's config_changed. */
static void test_config_change(void **state)
{
	struct env *e = *state;
	const int64_t deadline = now_ms() + WAIT_MS;
	uint32_t gen;
	vio_le32 v;

	env_up(e, DEV_TD);
	gen = e->fe.vdev.ops->config_generation(&e->fe.vdev);
	on_backend(e, td_change_config);
	while (e->tdrv.config_changes == 0 && now_ms() < deadline)
		(void)vio_drv_wait(&e->fe.vdev, 50);
	assert_int_equal(e->tdrv.config_changes, 1);
	assert_int_equal(e->fe.vdev.ops->config_generation(&e->fe.vdev), gen + 1);
	assert_int_equal(vio_drv_config_read(&e->fe.vdev, TD_MAGIC_OFF, &v, sizeof(v)), 0);
	assert_int_equal(vio_le32_to_cpu(v), 0xcafe);
}

static void test_config_without_protocol_feature(void **state)
{
	struct env *e = *state;
	uint8_t b[4];

	e->kind = DEV_TD;
	env_default_cfg(e);
	e->cfg.protocol_features_off = VIO_BIT(VU_PROTOCOL_F_CONFIG);
	env_up(e, DEV_TD);
	assert_int_equal(vio_drv_config_read(&e->fe.vdev, 0, b, sizeof(b)), -ENOTSUP);
	assert_int_equal(vio_drv_config_write(&e->fe.vdev, 0, b, sizeof(b)), -ENOTSUP);
}

static void td_needs_reset(void *arg)
{
	vio_dev_needs_reset(&((struct env *)arg)->td->dev, "test: the device gave up");
}

/* The device needs a reset: the error eventfd fires, the driver hears of
 * it and the status says so; a reset clears it. */
static void test_needs_reset_from_backend(void **state)
{
	struct env *e = *state;
	const int64_t deadline = now_ms() + WAIT_MS;

	env_up(e, DEV_TD);
	on_backend(e, td_needs_reset);
	while (e->tdrv.config_changes == 0 && now_ms() < deadline)
		(void)vio_drv_wait(&e->fe.vdev, 50);
	assert_true(e->tdrv.config_changes >= 1);
	assert_true(e->fe.vdev.ops->get_status(&e->fe.vdev) & VIO_STATUS_NEEDS_RESET);
	vio_drv_unbind(&e->fe.vdev);
	assert_int_equal(vio_drv_bind(&e->fe.vdev), 0);
	assert_false(e->fe.vdev.ops->get_status(&e->fe.vdev) & VIO_STATUS_NEEDS_RESET);
	ts_submit(&e->tdrv, 0, 0);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 0, 1));
}

/* The DMA allocator: addresses in the shared region, aligned, distinct,
 * translatable, and exhaustion is NULL, not a crash. */
static void test_dma_memory(void **state)
{
	struct env *e = *state;
	struct vio_drv_device *d = &e->fe.vdev;
	uint64_t a, b, c;
	uint8_t *pa, *pb;
	int local;

	env_connect(e, DEV_TD);
	pa = vio_drv_dma_alloc(d, 100, 4096, &a);
	pb = vio_drv_dma_alloc(d, 100, 64, &b);
	assert_non_null(pa);
	assert_non_null(pb);
	assert_true(a >= VIO_VU_FE_GUEST_BASE);
	assert_true(a + 100 <= VIO_VU_FE_GUEST_BASE + e->cfg.memory_bytes);
	assert_int_equal(a % 4096, 0);
	assert_int_equal(b % 64, 0);
	assert_true(a != b);
	assert_int_equal(vio_drv_dma_addr(d, pa + 5), a + 5);
	assert_int_equal(vio_drv_dma_addr(d, &local), UINT64_MAX);
	assert_null(vio_drv_dma_alloc(d, e->cfg.memory_bytes + 1, 64, &c));
	assert_null(vio_drv_dma_alloc(d, 64, 3, &c));
	vio_drv_dma_free(d, pa, 100);
	assert_non_null(vio_drv_dma_alloc(d, 100, 4096, &c));
	assert_int_equal(c, a);
}

/* A legacy driver (no VERSION_1): no FEATURES_OK, so the features go to
 * the backend with DRIVER_OK; native-endian rings work end to end. */
static void test_legacy_rng(void **state)
{
	struct env *e = *state;
	struct vio_rng_dev_opts o = { .legacy_ok = true };
	const struct vio_rng_drv_opts no_v1 = { .features_off = VIO_BIT(VIO_F_VERSION_1) };

	e->kind = DEV_RNG;
	env_default_cfg(e);
	e->rng = calloc(1, sizeof(*e->rng));
	assert_non_null(e->rng);
	assert_int_equal(vio_rng_dev_init(e->rng, &o), 0);
	assert_int_equal(vio_vu_frontend_connect_fd(&e->fe, env_spawn_backend(e), &e->cfg), 0);
	e->fe_up = true;
	assert_int_equal(vio_rng_drv_register(&e->bus, &e->rdrv, &no_v1), 0);
	assert_int_equal(vio_bus_add_device(&e->bus, &e->fe.vdev), 0);
	e->on_bus = true;
	assert_non_null(e->fe.vdev.driver);
	assert_true(e->fe.vdev.legacy);
	rng_read_ok(e, 10000);
}

/* Bad arguments to connect: refused before any I/O. */
static void test_connect_bad_config(void **state)
{
	struct vio_vu_frontend fe;
	struct vio_vu_frontend_config cfg = { .device_id = TD_ID, .num_queues = 1 };
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(vio_vu_frontend_connect_fd(&fe, sv[0], &cfg), -EINVAL);
	/* The frontend owned sv[0] and closed it. */
	assert_int_equal(send(sv[1], "x", 1, MSG_NOSIGNAL), -1);
	close(sv[1]);
	cfg.memory_bytes = 4096;
	cfg.num_queues = VIO_VU_MAX_QUEUES + 1;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(vio_vu_frontend_connect_fd(&fe, sv[0], &cfg), -EINVAL);
	close(sv[1]);
	cfg.num_queues = 1;
	assert_true(vio_vu_frontend_connect(&fe, "/nonexistent/vio.sock", &cfg) < 0);
	assert_false(vio_vu_frontend_connected(&fe));
}

static void env_listen(struct env *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static unsigned n;

	snprintf(e->path, sizeof(e->path), "/tmp/vio-vufront-%d-%u.sock", (int)getpid(), n++);
	unlink(e->path);
	memcpy(sa.sun_path, e->path, strlen(e->path) + 1);
	e->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(e->listen_fd >= 0);
	assert_int_equal(bind(e->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(e->listen_fd, 4), 0);
}

/* The usual deployment: the backend listens on a path; connect and, after
 * it restarts, reconnect by path. */
static void test_unix_socket_path(void **state)
{
	struct env *e = *state;

	e->kind = DEV_RNG;
	env_default_cfg(e);
	env_listen(e);
	env_new_dev(e, 0);
	e->be = be_start(&e->rng->dev, -1, e->listen_fd);
	assert_int_equal(vio_vu_frontend_connect(&e->fe, e->path, &e->cfg), 0);
	e->fe_up = true;
	env_bind(e);
	rng_read_ok(e, 4096);
	be_stop(e->be);
	env_free_dev(e);
	env_new_dev(e, 0);
	e->be = be_start(&e->rng->dev, -1, e->listen_fd);
	assert_int_equal(vio_vu_frontend_reconnect(&e->fe, e->path), 0);
	rng_read_ok(e, 4096);
}

/* The backend goes away while the driver waits: wait returns, the
 * connection is marked gone, nothing else changes. */
static void test_backend_gone_during_wait(void **state)
{
	struct env *e = *state;
	const int64_t deadline = now_ms() + WAIT_MS;
	uint8_t b[4];

	env_up(e, DEV_TD);
	be_stop(e->be);
	e->be = NULL;
	while (vio_vu_frontend_connected(&e->fe) && now_ms() < deadline)
		(void)vio_drv_wait(&e->fe.vdev, 50);
	assert_false(vio_vu_frontend_connected(&e->fe));
	assert_int_equal(vio_vu_frontend_error(&e->fe), -ECONNRESET);
	assert_int_equal(vio_drv_wait(&e->fe.vdev, 10), -ETIMEDOUT);
	/* Control calls fail cleanly while away. */
	assert_int_equal(vio_drv_config_read(&e->fe.vdev, 0, b, sizeof(b)), -ENOTCONN);
	assert_true(strstr(e->log.last, "went away") != NULL);
}

/* The restarted backend no longer offers EVENT_IDX, which is in use:
 * reconnect refuses with a clear error. */
static void test_reconnect_missing_feature(void **state)
{
	static const struct variant v = { VIO_BIT(VIO_F_EVENT_IDX), "split+event_idx" };
	struct env *e = *state;

	e->v = &v;
	env_up(e, DEV_TD);
	assert_true(vio_drv_has_feature(&e->fe.vdev, VIO_F_EVENT_IDX));
	assert_int_equal(env_restart_backend(e, 0), -EPROTO);
	assert_false(vio_vu_frontend_connected(&e->fe));
	assert_true(strstr(e->log.last, "no longer offers") != NULL ||
		    strstr(e->log.last, "reconnect failed") != NULL);
	/* A proper backend afterwards: fine again. */
	assert_int_equal(env_restart_backend(e, VIO_BIT(VIO_F_EVENT_IDX)), 0);
	ts_submit(&e->tdrv, 0, 1);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 1, 1));
}

static const struct named_test session_tests[] = {
	T(test_negotiation),
	T(test_mq_off),
	T(test_mq_count_from_backend),
	T(test_status_off),
	T(test_reply_ack_off),
	T(test_config_read),
	T(test_config_write),
	T(test_config_out_of_range),
	T(test_config_change),
	T(test_config_without_protocol_feature),
	T(test_needs_reset_from_backend),
	T(test_dma_memory),
	T(test_connect_bad_config),
	T(test_legacy_rng),
	T(test_unix_socket_path),
	T(test_backend_gone_during_wait),
	T(test_reconnect_missing_feature),
	T(test_reconnect_without_inflight),
	T(test_reconnect_to_backend_without_inflight),
};

int main(void)
{
	for (size_t t = 0; t < COUNT(session_tests); t++)
		add_run(session_tests[t].name + 5, NULL, session_tests[t].fn, env_setup,
			env_teardown, NULL);
	return run_all("vu_frontend_session");
}
