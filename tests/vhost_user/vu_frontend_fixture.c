/*
 * vu_frontend_fixture.c - the test device and driver, the backend thread,
 * the test environment, the fake backend and the registration of the
 * vhost-user frontend tests (tests/vhost_user/test_vu_frontend_*.c); see
 * vu_frontend_fixture.h.
 */

#include "vu_frontend_fixture.h"

/* Room for the runs of the largest program. */
#define MAX_RUNS 256

static struct CMUnitTest runs[MAX_RUNS];
static char *names[MAX_RUNS];
static size_t nruns;

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void signal_fd(int fd)
{
	uint64_t one = 1;

	assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
}

bool verbose(void)
{
	return getenv("VU_VERBOSE") != NULL;
}

void log_keep(void *opaque, enum vio_log_level level, const char *msg)
{
	struct logbuf *l = opaque;

	if (level <= VIO_LOG_WARN) {
		snprintf(l->last, sizeof(l->last), "%s", msg);
		l->lines++;
	}
	if (verbose())
		fprintf(stderr, "# fe[%d]: %s\n", level, msg);
}

void log_backend(void *opaque, enum vio_log_level level, const char *msg)
{
	(void)opaque;
	if (verbose())
		fprintf(stderr, "# be[%d]: %s\n", level, msg);
}

void td_elem_prepare(struct td_elem *h)
{
	h->e.out = h->out;
	h->e.out_cap = 4;
	h->e.in = h->in;
	h->e.in_cap = 4;
}

void td_echo(struct td_elem *h)
{
	uint8_t buf[512];
	size_t n = vio_iov_to_buf(h->e.out, h->e.out_num, 0, buf, sizeof(buf));

	h->len = (uint32_t)vio_iov_from_buf(h->e.in, h->e.in_num, 0, buf, n);
}

void td_notify(struct vio_dev_model *d, unsigned qi)
{
	struct tdev *t = d->priv;
	struct vio_devq *vq = vio_dev_vq(d, qi);
	bool pushed = false;

	while (vq) {
		bool keep = t->hold && qi == 0;
		struct td_elem *h = keep ? &t->held[t->nheld] : &t->scratch;
		int r;

		if (keep && t->nheld == TD_HOLD_MAX)
			break;
		td_elem_prepare(h);
		r = vio_devq_pop(vq, &h->e);
		if (r) {
			vio_dev_check(d, qi, r);
			break;
		}
		if (keep) {
			t->nheld++;
			continue;
		}
		td_echo(h);
		vio_devq_push(vq, &h->e, h->len);
		t->served[qi]++;
		pushed = true;
	}
	if (pushed)
		vio_dev_interrupt(d, qi);
}

void td_reset(struct vio_dev_model *d)
{
	((struct tdev *)d->priv)->nheld = 0;
}

void td_queue_reset(struct vio_dev_model *d, unsigned qi)
{
	if (qi == 0)
		((struct tdev *)d->priv)->nheld = 0;
}

void td_config_write(struct vio_dev_model *d, unsigned off, unsigned len)
{
	((struct tdev *)d->priv)->config_writes++;
}

struct tdev *td_new(uint64_t features)
{
	struct tdev *t = calloc(1, sizeof(*t));
	vio_le32 magic = vio_cpu_to_le32(TD_MAGIC);

	assert_non_null(t);
	t->q[0].max_size = t->q[1].max_size = TD_QSIZE;
	t->dev.device_id = TD_ID;
	t->dev.host_features = VIO_BIT(VIO_F_VERSION_1) | features;
	t->dev.config = t->config;
	t->dev.config_len = TD_CONFIG_LEN;
	t->dev.queues = t->q;
	t->dev.num_queues = 2;
	t->dev.ops = &td_ops;
	t->dev.priv = t;
	memcpy(t->config + TD_MAGIC_OFF, &magic, sizeof(magic));
	assert_int_equal(vio_dev_init(&t->dev), 0);
	return t;
}

void td_release(struct tdev *t, unsigned n, bool batch)
{
	struct vio_devq *vq = vio_dev_vq(&t->dev, 0);

	if (!vq || n == 0)
		return;
	if (n > t->nheld)
		n = t->nheld;
	for (unsigned i = 0; i < n; i++)
		td_echo(&t->held[i]);
	if (batch && vio_dev_has_feature(&t->dev, VIO_F_IN_ORDER)) {
		const struct td_elem *last = &t->held[n - 1];

		assert_int_equal(vio_devq_fill_in_order(vq, &last->e, last->len), 0);
		assert_int_equal(vio_devq_flush(vq), 0);
	} else {
		for (unsigned i = 0; i < n; i++)
			assert_int_equal(vio_devq_push(vq, &t->held[i].e, t->held[i].len), 0);
	}
	t->served[0] += n;
	t->nheld -= n;
	memmove(t->held, t->held + n, t->nheld * sizeof(t->held[0]));
	for (unsigned i = 0; i < t->nheld; i++) {
		/* The spans moved with the elements: point at them again. */
		t->held[i].e.out = t->held[i].out;
		t->held[i].e.in = t->held[i].in;
	}
	vio_dev_interrupt(&t->dev, 0);
}

struct tdrv *tdrv_of(struct vio_drv_device *dev)
{
	return (struct tdrv *)((char *)dev->driver - offsetof(struct tdrv, drv));
}

void tdrv_cb(struct vio_drv_vq *vq)
{
	struct tdrv *t = vq->priv;

	do {
		void *token;
		uint32_t len;
		int r;

		vio_drvq_disable_cb(&vq->q);
		while ((r = vio_drvq_get_buf(&vq->q, &token, &len)) == 0) {
			struct ts_result *res = token;

			res->done++;
			res->len = len;
		}
		if (r != -EAGAIN) {
			t->broken = true;
			return;
		}
	} while (!vio_drvq_enable_cb(&vq->q));
}

int tdrv_probe(struct vio_drv_device *dev)
{
	struct tdrv *t = tdrv_of(dev);
	struct vio_drv_vq_info info[2] = {
		{ .callback = tdrv_cb, .indirect_max = 2 },
		{ .callback = tdrv_cb, .indirect_max = 2 },
	};
	int r;

	t->nvqs = t->nvqs_wanted ? t->nvqs_wanted : 2;
	memset(t->res, 0, sizeof(t->res));
	t->broken = false;
	r = vio_drv_find_vqs(dev, t->nvqs, info, t->vqs);
	if (r)
		return r;
	for (unsigned i = 0; i < t->nvqs; i++)
		t->vqs[i].priv = t;
	t->buf = vio_drv_dma_alloc(dev, TS_SLOTS * TS_SLOT_BYTES, 64, &t->dma);
	if (!t->buf) {
		vio_drv_reset(dev);
		vio_drv_del_vqs(dev);
		return -ENOMEM;
	}
	t->probes++;
	return 0;
}

void tdrv_remove(struct vio_drv_device *dev)
{
	struct tdrv *t = tdrv_of(dev);

	vio_drv_reset(dev);
	for (unsigned i = 0; i < t->nvqs; i++)
		while (vio_drvq_detach_unused(&t->vqs[i].q))
			;
	vio_drv_del_vqs(dev);
	vio_drv_dma_free(dev, t->buf, TS_SLOTS * TS_SLOT_BYTES);
	t->buf = NULL;
}

void tdrv_config_changed(struct vio_drv_device *dev)
{
	tdrv_of(dev)->config_changes++;
}

void tdrv_init(struct tdrv *t, uint64_t features, unsigned nvqs)
{
	memset(t, 0, sizeof(*t));
	t->ids[0] = TD_ID;
	t->drv.name = "tdrv";
	t->drv.ids = t->ids;
	t->drv.features = VIO_BIT(VIO_F_VERSION_1) | features;
	t->drv.probe = tdrv_probe;
	t->drv.remove = tdrv_remove;
	t->drv.config_changed = tdrv_config_changed;
	t->nvqs_wanted = nvqs;
}

uint8_t ts_byte(unsigned slot, unsigned i)
{
	return (uint8_t)(slot * 37 + i * 3 + 1);
}

void ts_submit(struct tdrv *t, unsigned qi, unsigned slot)
{
	uint8_t *p = t->buf + (size_t)slot * TS_SLOT_BYTES;
	struct vio_sg out = { t->dma + (uint64_t)slot * TS_SLOT_BYTES, TS_OUT_LEN };
	struct vio_sg in = { out.addr + 256, TS_IN_CAP };

	for (unsigned i = 0; i < TS_OUT_LEN; i++)
		p[i] = ts_byte(slot, i);
	memset(p + 256, 0, TS_IN_CAP);
	t->res[slot].done = 0;
	assert_int_equal(vio_drvq_add(&t->vqs[qi].q, &out, 1, &in, 1, &t->res[slot]), 0);
	vio_drv_vq_kick(&t->vqs[qi]);
}

bool ts_wait(struct vio_drv_device *dev, struct tdrv *t, unsigned first, unsigned n)
{
	const int64_t deadline = now_ms() + WAIT_MS;

	for (;;) {
		bool all = true;

		for (unsigned s = first; s < first + n; s++)
			all &= t->res[s].done > 0;
		if (all)
			return true;
		if (t->broken || now_ms() > deadline)
			return false;
		(void)vio_drv_wait(dev, 50);
	}
}

void ts_check(const struct tdrv *t, unsigned slot)
{
	const uint8_t *in = t->buf + (size_t)slot * TS_SLOT_BYTES + 256;

	assert_int_equal(t->res[slot].done, 1);
	assert_true(t->res[slot].len >= TS_OUT_LEN);
	for (unsigned i = 0; i < TS_OUT_LEN; i++)
		assert_int_equal(in[i], ts_byte(slot, i));
}

void be_poll_once(struct be *be)
{
	struct pollfd p[3 + VIO_VU_MAX_QUEUES];
	unsigned qmap[VIO_VU_MAX_QUEUES], n = 0;

	p[n++] = (struct pollfd){ be->stop_fd, POLLIN, 0 };
	p[n++] = (struct pollfd){ be->cmd_fd, POLLIN, 0 };
	p[n++] = (struct pollfd){ vio_vu_backend_fd(&be->b), POLLIN, 0 };
	for (unsigned qi = 0; qi < be->b.dev->num_queues; qi++) {
		int fd = vio_vu_backend_kick_fd(&be->b, qi);

		if (fd >= 0) {
			qmap[n - 3] = qi;
			p[n++] = (struct pollfd){ fd, POLLIN, 0 };
		}
	}
	if (poll(p, n, 50) <= 0)
		return;
	if (p[1].revents) {
		void (*fn)(void *) = __atomic_load_n(&be->cmd, __ATOMIC_ACQUIRE);
		uint64_t v;

		(void)!read(be->cmd_fd, &v, sizeof(v));
		fn(be->cmd_arg);
		__atomic_fetch_add(&be->acked, 1, __ATOMIC_RELEASE);
		signal_fd(be->ack_fd);
	}
	if (p[2].revents) {
		(void)vio_vu_backend_dispatch(&be->b);
		return; /* kick fds may have changed */
	}
	for (unsigned i = 3; i < n; i++) {
		if (p[i].revents)
			vio_vu_backend_queue_dispatch(&be->b, qmap[i - 3]);
	}
}

void *be_main(void *arg)
{
	struct be *be = arg;

	if (be->listen_fd >= 0) {
		int s = accept4(be->listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (s >= 0)
			(void)vio_vu_backend_attach(&be->b, s);
	}
	for (;;) {
		struct pollfd stop = { be->stop_fd, POLLIN, 0 };

		if (poll(&stop, 1, 0) > 0)
			break;
		be_poll_once(be);
	}
	return NULL;
}

uint64_t be_next_pf_off;

struct be *be_start(struct vio_dev_model *dev, int sock, int listen_fd)
{
	struct vio_vu_backend_config cfg = { .log = log_backend,
					     .protocol_features_off = be_next_pf_off };
	struct be *be = calloc(1, sizeof(*be));

	assert_non_null(be);
	assert_int_equal(vio_vu_backend_init(&be->b, dev, &cfg), 0);
	if (sock >= 0)
		assert_int_equal(vio_vu_backend_attach(&be->b, sock), 0);
	be->listen_fd = listen_fd;
	be->stop_fd = eventfd(0, EFD_CLOEXEC);
	be->cmd_fd = eventfd(0, EFD_CLOEXEC);
	be->ack_fd = eventfd(0, EFD_CLOEXEC);
	assert_true(be->stop_fd >= 0 && be->cmd_fd >= 0 && be->ack_fd >= 0);
	assert_int_equal(pthread_create(&be->thread, NULL, be_main, be), 0);
	return be;
}

void be_stop(struct be *be)
{
	if (!be)
		return;
	signal_fd(be->stop_fd);
	pthread_join(be->thread, NULL);
	vio_vu_backend_fini(&be->b);
	close(be->stop_fd);
	close(be->cmd_fd);
	close(be->ack_fd);
	free(be);
}

void be_call(struct be *be, void (*fn)(void *), void *arg)
{
	unsigned want = __atomic_load_n(&be->acked, __ATOMIC_ACQUIRE) + 1;
	const int64_t deadline = now_ms() + WAIT_MS;

	be->cmd_arg = arg;
	__atomic_store_n(&be->cmd, fn, __ATOMIC_RELEASE);
	signal_fd(be->cmd_fd);
	while (__atomic_load_n(&be->acked, __ATOMIC_ACQUIRE) != want) {
		struct pollfd p = { be->ack_fd, POLLIN, 0 };
		uint64_t v;

		assert_true(now_ms() < deadline);
		if (poll(&p, 1, 100) > 0)
			(void)!read(be->ack_fd, &v, sizeof(v));
	}
}

int env_setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	const struct variant *v = *state;

	assert_non_null(e);
	e->v = v ? v : &plain_variant;
	e->listen_fd = -1;
	e->fe.sock = -1;
	be_next_pf_off = 0;
	vio_bus_init(&e->bus, vt_heap_alloc, vt_heap_free, NULL);
	*state = e;
	return 0;
}

struct vio_dev_model *env_dev(struct env *e)
{
	return e->kind == DEV_RNG ? &e->rng->dev : &e->td->dev;
}

void env_new_dev(struct env *e, uint64_t features)
{
	if (e->kind == DEV_RNG) {
		struct vio_rng_dev_opts o = { .features = features };

		e->rng = calloc(1, sizeof(*e->rng));
		assert_non_null(e->rng);
		assert_int_equal(vio_rng_dev_init(e->rng, &o), 0);
	} else {
		e->td = td_new(features);
	}
}

void env_free_dev(struct env *e)
{
	if (e->rng)
		vio_rng_dev_fini(e->rng);
	free(e->rng);
	free(e->td);
	e->rng = NULL;
	e->td = NULL;
}

int env_teardown(void **state)
{
	struct env *e = *state;

	if (e->on_bus)
		vio_bus_remove_device(&e->bus, &e->fe.vdev);
	if (e->fe_up)
		vio_vu_frontend_fini(&e->fe);
	be_stop(e->be);
	env_free_dev(e);
	if (e->listen_fd >= 0)
		close(e->listen_fd);
	if (e->path[0])
		unlink(e->path);
	free(e);
	return 0;
}

void env_default_cfg(struct env *e)
{
	e->cfg = (struct vio_vu_frontend_config){
		.device_id = e->kind == DEV_RNG ? VIO_ID_RNG : TD_ID,
		.memory_bytes = 1u << 20,
		.num_queues = e->kind == DEV_RNG ? 1 : 2,
		.queue_max = e->kind == DEV_RNG ? VIO_RNG_DEV_QUEUE_MAX : TD_QSIZE,
		.log = log_keep,
		.log_opaque = &e->log,
	};
}

int env_spawn_backend(struct env *e)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	e->be = be_start(env_dev(e), sv[1], -1);
	return sv[0];
}

void env_connect(struct env *e, enum dev_kind kind)
{
	e->kind = kind;
	env_new_dev(e, e->v->features);
	if (!e->cfg.memory_bytes)
		env_default_cfg(e);
	assert_int_equal(vio_vu_frontend_connect_fd(&e->fe, env_spawn_backend(e), &e->cfg), 0);
	e->fe_up = true;
}

void env_bind(struct env *e)
{
	if (e->kind == DEV_RNG) {
		/* Several segments per request: chains, or indirect tables. */
		struct vio_rng_drv_opts o = { .segs = 4 };

		assert_int_equal(vio_rng_drv_register(&e->bus, &e->rdrv, &o), 0);
		/* before the device comes: it takes what the variant offers */
		e->rdrv.drv.features |= e->v->features;
	} else {
		if (!e->tdrv.drv.probe)
			tdrv_init(&e->tdrv, e->v->features, 2);
		assert_int_equal(vio_bus_register_driver(&e->bus, &e->tdrv.drv), 0);
	}
	assert_int_equal(vio_bus_add_device(&e->bus, &e->fe.vdev), 0);
	e->on_bus = true;
}

void env_up(struct env *e, enum dev_kind kind)
{
	env_connect(e, kind);
	env_bind(e);
	assert_non_null(e->fe.vdev.driver);
}

uint64_t served_seen[2];

void snapshot_served(void *arg)
{
	struct env *e = arg;

	for (unsigned i = 0; i < 2; i++)
		__atomic_store_n(&served_seen[i], e->kind == DEV_TD ? e->td->served[i] :
				 e->rng->stats.bytes, __ATOMIC_RELEASE);
}

uint64_t served(struct env *e, unsigned qi)
{
	on_backend(e, snapshot_served);
	return __atomic_load_n(&served_seen[qi], __ATOMIC_ACQUIRE);
}

void rng_read_ok(struct env *e, size_t n)
{
	uint8_t *buf = calloc(1, n);
	size_t nonzero = 0;
	ssize_t got;

	assert_non_null(buf);
	got = vio_rng_drv_read(&e->fe.vdev, buf, n, WAIT_MS);
	for (size_t i = 0; i < n; i++)
		nonzero += buf[i] != 0;
	free(buf);
	assert_int_equal(got, (ssize_t)n);
	/* Random bytes: a zero-filled buffer would mean nothing arrived (a
	 * few bytes may all be zero by chance). */
	if (n >= 64)
		assert_true(nonzero > n / 2);
}

void on_backend(struct env *e, void (*fn)(void *))
{
	be_call(e->be, fn, e);
}

void check_backend_reset(void *arg)
{
	struct env *e = arg;

	assert_int_equal(e->td->dev.status, 0);
	for (unsigned i = 0; i < 2; i++)
		assert_false(e->td->q[i].live);
}

void td_hold_on(void *arg)
{
	((struct env *)arg)->td->hold = true;
}

unsigned nheld_seen;

void td_count_held(void *arg)
{
	__atomic_store_n(&nheld_seen, ((struct env *)arg)->td->nheld, __ATOMIC_RELEASE);
}

void td_release_two(void *arg)
{
	struct env *e = arg;

	td_release(e->td, 2, true);
}

void td_wait_held(struct env *e, unsigned n)
{
	const int64_t deadline = now_ms() + WAIT_MS;

	do {
		on_backend(e, td_count_held);
		if (__atomic_load_n(&nheld_seen, __ATOMIC_ACQUIRE) == n)
			return;
		usleep(2000);
	} while (now_ms() < deadline);
	fail_msg("the device holds %u requests, expected %u", nheld_seen, n);
}

void reconnect_in_every_state(struct env *e)
{
	ts_submit(&e->tdrv, 0, 0);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 0, 1));
	on_backend(e, td_hold_on);
	for (unsigned s = 1; s <= 6; s++)
		ts_submit(&e->tdrv, 0, s);
	td_wait_held(e, 6);
	on_backend(e, td_release_two);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 1, 2));
	on_backend(e, td_release_two);
	/* 3..4 are used now; do not reap them. */
	be_stop(e->be);
	e->be = NULL;
	ts_submit(&e->tdrv, 0, 7);
	env_free_dev(e);
	env_new_dev(e, e->v->features);
	assert_int_equal(vio_vu_frontend_reconnect_fd(&e->fe, env_spawn_backend(e)), 0);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 0, 8));
	for (unsigned s = 0; s <= 7; s++)
		ts_check(&e->tdrv, s);
	assert_false(e->tdrv.broken);
	/* The new backend served exactly what the old one had not used. */
	assert_int_equal(served(e, 0), 3);
	ts_submit(&e->tdrv, 1, 8);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 8, 1));
	ts_check(&e->tdrv, 8);
}

bool fake_recv(int sock, struct fake_msg *m)
{
	char control[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
	struct iovec iov = { &m->h, sizeof(m->h) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			     .msg_controllen = sizeof(control) };
	struct pollfd p = { sock, POLLIN, 0 };
	size_t got = 0;

	m->nfds = 0;
	if (poll(&p, 1, 10000) <= 0)
		return false;
	if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL) != sizeof(m->h))
		return false;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (size_t i = 0; i < k && m->nfds < VU_MAX_FDS; i++)
			memcpy(&m->fds[m->nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	if (m->h.size > sizeof(m->p))
		return false;
	while (got < m->h.size) {
		ssize_t n = recv(sock, (uint8_t *)&m->p + got, m->h.size - got, MSG_WAITALL);

		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	return true;
}

void fake_send(int sock, uint32_t req, uint32_t flags, const void *p, uint32_t size,
	       uint32_t announce, const int fds[2])
{
	struct vu_header h = { req, flags, announce };
	uint8_t buf[sizeof(h) + sizeof(union vu_payload)];
	char control[CMSG_SPACE(2 * sizeof(int))];
	const unsigned n = (fds[0] >= 0) + (fds[1] >= 0);
	struct iovec iov = { buf, sizeof(h) + size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), p, size);
	if (n) {
		struct cmsghdr *c;

		memset(control, 0, sizeof(control));
		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(c), fds[0] >= 0 ? &fds[0] : &fds[1], n * sizeof(int));
	}
	(void)sendmsg(sock, &mh, MSG_NOSIGNAL);
}

int fake_answer(struct fake *f, struct fake_msg *m, union vu_payload *p)
{
	unsigned seen = f->seen[m->h.request];

	switch (m->h.request) {
	case VU_GET_FEATURES:
		p->u64 = seen > 1 && f->later_features ? f->later_features : f->features;
		return 8;
	case VU_GET_PROTOCOL_FEATURES:
		p->u64 = f->protocol_features;
		return 8;
	case VU_GET_QUEUE_NUM:
		p->u64 = f->queue_num;
		return 8;
	case VU_GET_STATUS:
		p->u64 = f->status;
		return 8;
	case VU_GET_VRING_BASE:
		p->state = m->p.state;
		p->state.num = 0;
		return sizeof(p->state);
	case VU_GET_CONFIG:
		*p = m->p;
		memset(p->config.data, 0x5a, sizeof(p->config.data));
		return (int)m->h.size;
	case VU_GET_INFLIGHT_FD:
		/* The log itself is made in fake_handle. */
		*p = m->p;
		p->inflight.mmap_offset = 0;
		p->inflight.mmap_size = (uint64_t)vio_inflight_queue_bytes(0, m->p.inflight.queue_size) *
					m->p.inflight.num_queues;
		return sizeof(p->inflight);
	default:
		return -1;
	}
}

void fake_drip(struct fake *f, uint32_t req, uint32_t flags, const void *p, uint32_t size)
{
	struct vu_header h = { req, flags, size };
	uint8_t buf[sizeof(h) + sizeof(union vu_payload)];

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), p, size);
	for (size_t i = 0; i < sizeof(h) + size && !__atomic_load_n(&f->quit, __ATOMIC_ACQUIRE);
	     i++) {
		if (send(f->sock, buf + i, 1, MSG_NOSIGNAL) != 1)
			return;
		usleep(100 * 1000);
	}
}

void fake_handle(struct fake *f, struct fake_msg *m)
{
	union vu_payload p;
	int size = fake_answer(f, m, &p);
	bool ack = size < 0 && (m->h.flags & VU_FLAG_NEED_REPLY);
	uint32_t req = m->h.request, flags = VU_VERSION | VU_FLAG_REPLY;
	uint32_t announce;
	int fds[2] = { -1, -1 }, log_fd = -1;

	if (m->h.request == VU_SET_STATUS)
		f->status = m->p.u64;
	if (m->h.request == VU_SET_BACKEND_REQ_FD && m->nfds == 1) {
		__atomic_store_n(&f->backend_fd, m->fds[0], __ATOMIC_RELEASE);
		m->nfds = 0;
	}
	if (ack) {
		p.u64 = 0;
		size = 8;
	}
	if (m->h.request == __atomic_load_n(&f->target, __ATOMIC_ACQUIRE) &&
	    __atomic_load_n(&f->mode, __ATOMIC_ACQUIRE) == FAKE_DEAF) {
		__atomic_store_n(&f->deaf, true, __ATOMIC_RELEASE);
		return;
	}
	if (size < 0)
		return;
	if (req == VU_GET_INFLIGHT_FD) {
		log_fd = memfd_create("fake-inflight", MFD_CLOEXEC);
		assert_true(log_fd >= 0);
		assert_int_equal(ftruncate(log_fd, (off_t)p.inflight.mmap_size), 0);
		fds[0] = log_fd;
	}
	announce = (uint32_t)size;
	if (m->h.request == __atomic_load_n(&f->target, __ATOMIC_ACQUIRE)) {
		switch (__atomic_load_n(&f->mode, __ATOMIC_ACQUIRE)) {
		case FAKE_WRONG_SIZE: announce = (uint32_t)size + 4; break;
		case FAKE_WRONG_REQUEST: req++; break;
		case FAKE_NO_REPLY_FLAG: flags = VU_VERSION; break;
		case FAKE_BAD_VERSION: flags = 2 | VU_FLAG_REPLY; break;
		case FAKE_WITH_FD: fds[0] = f->sock; break;
		case FAKE_HUGE: announce = 1u << 20; break;
		case FAKE_SILENT: return;
		case FAKE_CLOSE: shutdown(f->sock, SHUT_RDWR); return;
		case FAKE_VALUE: p.u64 = __atomic_load_n(&f->value, __ATOMIC_ACQUIRE); break;
		case FAKE_CONFIG_SHORT: p.config.size--; size--; announce--; break;
		case FAKE_CONFIG_REFUSE: p.config.size = 0; size = announce = VU_CONFIG_HDR; break;
		case FAKE_CONFIG_OFFSET: p.config.offset++; break;
		case FAKE_CONFIG_FROM_START:
			for (unsigned i = 0; i < p.config.size && i < VU_CONFIG_MAX; i++)
				p.config.data[i] = (uint8_t)i;
			break;
		case FAKE_WRONG_INDEX: p.state.index++; break;
		case FAKE_INFLIGHT_DECLINE: p.inflight.mmap_size = 0; fds[0] = -1; break;
		case FAKE_INFLIGHT_SMALL: p.inflight.mmap_size--; break;
		case FAKE_INFLIGHT_NO_FD: fds[0] = -1; break;
		case FAKE_INFLIGHT_TWO_FDS: fds[1] = log_fd; break;
		case FAKE_INFLIGHT_OFFSET: p.inflight.mmap_offset = p.inflight.mmap_size; break;
		case FAKE_REFUSE_STATUS:
			if (m->p.u64 & __atomic_load_n(&f->value, __ATOMIC_ACQUIRE))
				p.u64 = 1;
			break;
		case FAKE_DEAF: return; /* above */
		case FAKE_DRIP: fake_drip(f, req, flags, &p, (uint32_t)size); return;
		case FAKE_OK: break;
		}
	}
	fake_send(f->sock, req, flags, &p, (uint32_t)size, announce, fds);
	if (log_fd >= 0)
		close(log_fd);
}

void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct fake_msg m;

	while (fake_recv(f->sock, &m)) {
		if (m.h.request < VU_REQUEST_MAX)
			__atomic_fetch_add(&f->seen[m.h.request], 1, __ATOMIC_RELAXED);
		fake_handle(f, &m);
		for (unsigned i = 0; i < m.nfds; i++)
			close(m.fds[i]);
		/* Deaf: alive, holding the socket, reading nothing. */
		while (__atomic_load_n(&f->deaf, __ATOMIC_ACQUIRE) &&
		       !__atomic_load_n(&f->quit, __ATOMIC_ACQUIRE))
			usleep(1000);
	}
	return NULL;
}

void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	f->features = VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VU_F_PROTOCOL_FEATURES);
	f->protocol_features = VIO_BIT(VU_PROTOCOL_F_MQ) | VIO_BIT(VU_PROTOCOL_F_REPLY_ACK) |
			       VIO_BIT(VU_PROTOCOL_F_CONFIG) | VIO_BIT(VU_PROTOCOL_F_STATUS) |
			       VIO_BIT(VU_PROTOCOL_F_BACKEND_REQ) |
			       VIO_BIT(VU_PROTOCOL_F_RESET_DEVICE);
	f->queue_num = 1;
	f->backend_fd = -1;
}

void fake_script(struct fake *f, uint32_t target, enum fake_mode mode, uint64_t value)
{
	__atomic_store_n(&f->value, value, __ATOMIC_RELEASE);
	__atomic_store_n(&f->mode, mode, __ATOMIC_RELEASE);
	__atomic_store_n(&f->target, target, __ATOMIC_RELEASE);
}

int fake_setup(void **state)
{
	struct fake_env *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fake_init(&fx->f);
	fx->cfg = (struct vio_vu_frontend_config){
		.device_id = TD_ID, .memory_bytes = 1u << 20, .num_queues = 1, .queue_max = 64,
		.timeout_ms = FAKE_TIMEOUT_MS, .log = log_keep, .log_opaque = &fx->log,
	};
	vio_bus_init(&fx->bus, vt_heap_alloc, vt_heap_free, NULL);
	tdrv_init(&fx->drv, 0, 1);
	fx->param = *state;
	*state = fx;
	return 0;
}

int fake_teardown(void **state)
{
	struct fake_env *fx = *state;
	int bfd;

	if (fx->on_bus)
		vio_bus_remove_device(&fx->bus, &fx->fe.vdev);
	if (fx->fe_up)
		vio_vu_frontend_fini(&fx->fe);
	if (fx->fake_up) {
		__atomic_store_n(&fx->f.quit, true, __ATOMIC_RELEASE);
		shutdown(fx->f.sock, SHUT_RDWR);
		pthread_join(fx->f.thread, NULL);
		close(fx->f.sock);
	}
	bfd = __atomic_load_n(&fx->f.backend_fd, __ATOMIC_ACQUIRE);
	if (bfd >= 0)
		close(bfd);
	free(fx);
	return 0;
}

int fake_connect(struct fake_env *fx)
{
	int sv[2], r;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fx->f.sock = sv[1];
	assert_int_equal(pthread_create(&fx->f.thread, NULL, fake_main, &fx->f), 0);
	fx->fake_up = true;
	r = vio_vu_frontend_connect_fd(&fx->fe, sv[0], &fx->cfg);
	fx->fe_up = r == 0;
	return r;
}

unsigned fake_seen(struct fake_env *fx, uint32_t req)
{
	return __atomic_load_n(&fx->f.seen[req], __ATOMIC_RELAXED);
}

void fake_bind(struct fake_env *fx)
{
	assert_int_equal(vio_bus_register_driver(&fx->bus, &fx->drv.drv), 0);
	assert_int_equal(vio_bus_add_device(&fx->bus, &fx->fe.vdev), 0);
	fx->on_bus = true;
}

int fake_backend_channel(struct fake_env *fx)
{
	int fd = __atomic_load_n(&fx->f.backend_fd, __ATOMIC_ACQUIRE);

	assert_true(fd >= 0);
	return fd;
}

void add_run(const char *base, const char *row, CMUnitTestFunction fn,
	     CMFixtureFunction setup, CMFixtureFunction teardown, const void *param)
{
	char *name = malloc(128);

	assert_non_null(name);
	if (row)
		snprintf(name, 128, "%s [%s]", base, row);
	else
		snprintf(name, 128, "%s", base);
	names[nruns] = name;
	runs[nruns++] = (struct CMUnitTest){ name, fn, setup, teardown, (void *)param };
}

int run_all(const char *group)
{
	int r = _cmocka_run_group_tests(group, runs, nruns, NULL, NULL);

	for (size_t i = 0; i < nruns; i++)
		free(names[i]);
	return r;
}
