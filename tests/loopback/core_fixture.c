/*
 * core_fixture.c - the echo device, its driver, the fixture and the
 * registration of the core loopback tests (tests/loopback/test_core_*.c);
 * see core_fixture.h.
 */

#include "core_fixture.h"

struct echo *echo_of(struct vio_dev_model *d)
{
	return container_of(d, struct echo, d);
}

int echo_features_ok(struct vio_dev_model *d, uint64_t features)
{
	struct echo *e = echo_of(d);

	e->features_ok_calls++;
	e->features_ok_seen = features;
	return e->features_ok_ret;
}

int echo_start(struct vio_dev_model *d)
{
	echo_of(d)->starts++;
	return 0;
}

void echo_reset(struct vio_dev_model *d)
{
	echo_of(d)->resets++;
}

void echo_notify(struct vio_dev_model *d, unsigned qi)
{
	struct echo *e = echo_of(d);
	struct vio_devq *vq = vio_dev_vq(d, qi);
	struct vio_iov out[4], in[4];
	uint8_t data[MSG];
	struct vio_elem el;
	int r;

	e->notifies++;
	for (;;) {
		size_t n;

		memset(&el, 0, sizeof(el));
		el.out = out;
		el.out_cap = ARRAY_LEN(out);
		el.in = in;
		el.in_cap = ARRAY_LEN(in);
		r = vio_devq_pop(vq, &el);
		if (r)
			break;
		n = vio_iov_to_buf(out, el.out_num, 0, data, sizeof(data));
		n = vio_iov_from_buf(in, el.in_num, 0, data, n);
		(void)vio_devq_push(vq, &el, (uint32_t)n);
		e->chains++;
		e->chains_q[qi]++;
	}
	(void)vio_dev_check(d, qi, r);
	vio_dev_interrupt(d, qi);
}

void echo_config_write(struct vio_dev_model *d, unsigned off, unsigned len)
{
	struct echo *e = echo_of(d);

	e->config_writes++;
	e->cw_off = off;
	e->cw_len = len;
}

void echo_queue_reset(struct vio_dev_model *d, unsigned qi)
{
	struct echo *e = echo_of(d);

	e->queue_resets++;
	e->last_queue_reset = qi;
}

void echo_log(void *opaque, enum vio_log_level level, const char *msg)
{
	struct echo *e = opaque;

	if (level == VIO_LOG_ERR && msg && *msg)
		e->log_calls++;
}

int echo_setup(struct echo *e, uint64_t offer, bool legacy_ok, unsigned nq,
	       const struct vio_dev_ops *ops)
{
	e->d.device_id = ECHO_ID;
	e->d.host_features = offer;
	e->d.legacy_ok = legacy_ok;
	e->d.config = e->config;
	e->d.config_len = ECHO_CFG;
	e->d.queues = e->q;
	e->d.num_queues = nq;
	e->d.ops = ops;
	for (unsigned i = 0; i < ECHO_NQ; i++)
		e->q[i].max_size = ECHO_MAX;
	for (unsigned i = 0; i < ECHO_CFG; i++)
		e->config[i] = (uint8_t)(3 * i + 1);
	return vio_dev_init(&e->d);
}

struct fx *fx_of(struct vio_drv_device *dev)
{
	return container_of(dev, struct fx, lb.vdev);
}

void *bus_alloc(void *opaque, size_t size)
{
	struct ctx *c = opaque;
	void *p = calloc(1, size);

	if (p)
		c->bus_bytes += size;
	return p;
}

void bus_free(void *opaque, void *p, size_t size)
{
	struct ctx *c = opaque;

	c->bus_bytes -= size;
	free(p);
}

size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

int ring_alloc(struct vio_drv_device *dev, uint64_t features, unsigned size,
	       struct ring_mem *m)
{
	size_t off_drv = align_up(vio_ring_desc_bytes(features, size),
				  vio_ring_driver_align(features));
	size_t off_dev = align_up(off_drv + vio_ring_driver_bytes(features, size),
				  vio_ring_device_align(features));
	uint64_t dma;

	m->p = vio_drv_dma_alloc(dev, off_dev + vio_ring_device_bytes(features, size), 4096, &dma);
	if (!m->p)
		return -ENOMEM;
	m->desc = m->p;
	m->driver = (uint8_t *)m->p + off_drv;
	m->device = (uint8_t *)m->p + off_dev;
	m->dma.desc = dma;
	m->dma.driver = dma + off_drv;
	m->dma.device = dma + off_dev;
	return 0;
}

bool arena_all_free(struct fx *f)
{
	uint64_t dma;
	void *p = vio_drv_dma_alloc(&f->lb.vdev, ARENA, 4096, &dma);

	if (!p)
		return false;
	vio_drv_dma_free(&f->lb.vdev, p, ARENA);
	return true;
}

uint8_t status_of(struct fx *f)
{
	return f->lb.vdev.ops->get_status(&f->lb.vdev);
}

void token_back(struct fx *f, void *tok, uint32_t len, bool used)
{
	size_t s = f->buf ? (size_t)((uint8_t *)tok - f->buf) / SLOT_BYTES : NSLOTS;

	if (!f->buf || (uint8_t *)tok < f->buf || s >= NSLOTS || !f->outstanding[s]) {
		f->bad_tokens++;
		return;
	}
	f->outstanding[s] = false;
	f->got_len[s] = len;
	if (used)
		f->reaped++;
	else
		f->detached++;
}

void echo_cb(struct vio_drv_vq *vq)
{
	struct fx *f = fx_of(vq->dev);
	void *tok;
	uint32_t len;

	f->cb_thread = pthread_self();
	f->cb_ran = true;
	while (vio_drvq_get_buf(&vq->q, &tok, &len) == 0) {
		token_back(f, tok, len, true);
		f->done[vq->index]++;
	}
}

int echo_post(struct fx *f, unsigned qi, unsigned s, uint32_t len)
{
	uint8_t *o = f->buf + (size_t)s * SLOT_BYTES;
	struct vio_sg out = { f->buf_dma + (uint64_t)s * SLOT_BYTES, len };
	struct vio_sg in = { out.addr + MSG, MSG };
	int r;

	if (f->outstanding[s])
		return -EBUSY;
	for (uint32_t i = 0; i < len; i++)
		o[i] = (uint8_t)(s * 7 + i + 1);
	memset(o + MSG, 0, MSG);
	r = vio_drvq_add(&f->vqs[qi].q, &out, 1, &in, 1, o);
	if (r == 0) {
		f->outstanding[s] = true;
		f->want_len[s] = len;
		f->posted++;
	}
	return r;
}

bool echo_ok(const struct fx *f, unsigned s)
{
	const uint8_t *o = f->buf + (size_t)s * SLOT_BYTES;

	return !f->outstanding[s] && f->got_len[s] == f->want_len[s] &&
	       memcmp(o, o + MSG, f->want_len[s]) == 0;
}

int wait_done(struct fx *f, unsigned qi, unsigned target)
{
	for (unsigned i = 0; i < WAIT_ROUNDS && f->done[qi] < target; i++)
		(void)vio_drv_wait(&f->lb.vdev, 10);
	return f->done[qi] >= target ? 0 : -ETIMEDOUT;
}

int echo_roundtrip(struct fx *f, unsigned qi, unsigned s, uint32_t len)
{
	unsigned before = f->done[qi];
	int r = echo_post(f, qi, s, len);

	if (r)
		return r;
	(void)vio_drv_vq_kick(&f->vqs[qi]);
	r = wait_done(f, qi, before + 1);
	if (r)
		return r;
	return echo_ok(f, s) ? 0 : -EBADMSG;
}

void echo_many(struct fx *f, unsigned qi, unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		unsigned s = qi * ECHO_MAX + k % ECHO_MAX;

		assert_int_equal(echo_roundtrip(f, qi, s, k % MSG + 1), 0);
	}
}

int echo_probe(struct vio_drv_device *dev)
{
	struct fx *f = fx_of(dev);
	int r;

	f->probes++;
	f->status_at_probe = status_of(f);
	if (f->probe_ret)
		return f->probe_ret;
	f->find_vqs_ret = r = vio_drv_find_vqs(dev, f->nvqs, f->info, f->vqs);
	if (r)
		return r;
	f->buf = vio_drv_dma_alloc(dev, BUF_BYTES, 64, &f->buf_dma);
	if (!f->buf) {
		vio_drv_reset(dev);
		vio_drv_del_vqs(dev);
		return -ENOMEM;
	}
	dev->priv = f;
	if (f->ready_in_probe) {
		vio_drv_ready(dev);
		f->probe_io_ret = echo_roundtrip(f, 0, 0, 5);
	}
	return 0;
}

void echo_remove(struct vio_drv_device *dev)
{
	struct fx *f = fx_of(dev);
	void *tok;

	vio_drv_reset(dev);
	for (unsigned i = 0; i < dev->nvqs; i++)
		while ((tok = vio_drvq_detach_unused(&dev->vqs[i].q)))
			token_back(f, tok, 0, false);
	vio_drv_del_vqs(dev);
	vio_drv_dma_free(dev, f->buf, BUF_BYTES);
	f->buf = NULL;
	f->removes++;
}

void echo_config_changed(struct vio_drv_device *dev)
{
	fx_of(dev)->config_changes++;
}

void drv_setup(struct vio_driver *drv, const uint32_t *ids)
{
	memset(drv, 0, sizeof(*drv));
	drv->name = "echo";
	drv->ids = ids;
	drv->features = V1 | F_IND | F_EVT | F_PACKED | F_RESET;
	drv->legacy_features = F_IND | F_EVT;
	drv->probe = echo_probe;
	drv->remove = echo_remove;
	drv->config_changed = echo_config_changed;
}

void *device_thread(void *arg)
{
	struct fx *f = arg;
	struct pollfd pfd = { .fd = f->lb.kick_fd, .events = POLLIN };

	while (!atomic_load(&f->stop)) {
		if (poll(&pfd, 1, 10) > 0)
			vio_loopback_device_dispatch(&f->lb);
	}
	return NULL;
}

void fx_start_thread(struct fx *f)
{
	atomic_store(&f->stop, false);
	assert_int_equal(pthread_create(&f->thread, NULL, device_thread, f), 0);
	f->thread_live = true;
}

void fx_stop_thread(struct fx *f)
{
	if (!f->thread_live)
		return;
	atomic_store(&f->stop, true);
	pthread_join(f->thread, NULL);
	f->thread_live = false;
}

bool threaded(const struct ctx *c)
{
	return c->p->mode->threaded;
}

uint64_t default_offer(const struct ctx *c)
{
	return V1 | F_IND | F_EVT | c->p->lay->features;
}

struct fx *fx_make(struct ctx *c, uint64_t offer, bool legacy_ok, unsigned nq,
		   const struct vio_dev_ops *ops)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_true(c->nfx < MAX_FX);
	c->fx[c->nfx++] = f;
	assert_int_equal(echo_setup(&f->e, offer, legacy_ok, nq, ops), 0);
	assert_int_equal(vio_loopback_init(&f->lb, &f->e.d, ARENA, threaded(c)), 0);
	f->lb_ready = true;
	f->e.d.log = echo_log;
	f->e.d.log_opaque = &f->e;
	f->nvqs = nq;
	for (unsigned i = 0; i < ECHO_NQ; i++) {
		f->info[i].callback = echo_cb;
		f->info[i].indirect_max = 4;
	}
	return f;
}

struct fx *fx_new(struct ctx *c)
{
	return fx_make(c, default_offer(c), false, 2, &echo_ops);
}

void fx_add(struct ctx *c, struct fx *f)
{
	if (threaded(c) && !f->thread_live)
		fx_start_thread(f);
	assert_int_equal(vio_bus_add_device(&c->bus, &f->lb.vdev), 0);
	f->added = true;
}

void ctx_register(struct ctx *c)
{
	assert_int_equal(vio_bus_register_driver(&c->bus, &c->drv), 0);
	c->drv_reg = true;
}

struct fx *ctx_bound(struct ctx *c)
{
	struct fx *f = fx_new(c);

	ctx_register(c);
	fx_add(c, f);
	assert_ptr_equal(f->lb.vdev.driver, &c->drv);
	return f;
}

int ctx_setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	c->p = *state ? *state : &default_param;
	vio_bus_init(&c->bus, bus_alloc, bus_free, c);
	drv_setup(&c->drv, echo_ids);
	drv_setup(&c->drv2, other_ids);
	*state = c;
	return 0;
}

int ctx_teardown(void **state)
{
	struct ctx *c = *state;

	for (unsigned i = 0; i < c->nfx; i++)
		fx_stop_thread(c->fx[i]);
	for (unsigned i = 0; i < c->nfx; i++) {
		if (c->fx[i]->added)
			vio_bus_remove_device(&c->bus, &c->fx[i]->lb.vdev);
	}
	if (c->drv_reg)
		vio_bus_unregister_driver(&c->bus, &c->drv);
	if (c->drv2_reg)
		vio_bus_unregister_driver(&c->bus, &c->drv2);
	for (unsigned i = 0; i < c->nfx; i++) {
		struct fx *f = c->fx[i];

		free(f->rr_slots);
		if (f->lb_ready)
			vio_loopback_fini(&f->lb);
		free(f);
	}
	free(c);
	return 0;
}

int run_isolated(int (*fn)(void))
{
	pid_t pid;
	int st;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(fn() == 0 ? 0 : 1);
	if (waitpid(pid, &st, 0) != pid)
		return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

void dm_negotiate(struct vio_dev_model *d, uint64_t features)
{
	assert_int_equal(vio_dev_set_status(d, S_ACK), 0);
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV), 0);
	assert_int_equal(vio_dev_set_features(d, features), 0);
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV | S_FOK), 0);
	assert_int_equal(vio_dev_get_status(d), S_ACK | S_DRV | S_FOK);
}

void dm_queue(struct fx *f, unsigned qi, unsigned size, struct ring_mem *m)
{
	struct vio_dev_model *d = &f->e.d;

	assert_int_equal(ring_alloc(&f->lb.vdev, d->features, size, m), 0);
	assert_int_equal(vio_dev_queue_set(d, qi, size, &m->dma), 0);
	assert_int_equal(vio_dev_queue_enable(d, qi), 0);
}

void dm_live(struct fx *f, uint64_t features)
{
	struct vio_dev_model *d = &f->e.d;
	unsigned starts = f->e.starts;
	struct ring_mem m;

	dm_negotiate(d, features);
	dm_queue(f, 0, ECHO_MAX, &m);
	assert_false(d->queues[0].live);
	assert_int_equal(vio_dev_set_status(d, S_LIVE), 0);
	assert_int_equal(vio_dev_get_status(d), S_LIVE);
	assert_true(d->queues[0].live);
	assert_non_null(vio_dev_vq(d, 0));
	assert_int_equal(f->e.starts, starts + 1);
}

struct param layout_params[ARRAY_LEN(layouts)];

struct param io_params[ARRAY_LEN(layouts) * ARRAY_LEN(modes)];

struct param nego_params[ARRAY_LEN(negos)];

void add_test(struct CMUnitTest *t, size_t *n, const char *name, const char *suffix,
	      CMUnitTestFunction fn, const struct param *p)
{
	size_t len = strlen(name) + strlen(suffix) + 4;
	char *s = malloc(len);

	if (!s)
		abort();
	snprintf(s, len, "%s%s%s", name, *suffix ? " " : "", suffix);
	t[*n] = (struct CMUnitTest){ s, fn, ctx_setup, ctx_teardown, (void *)p };
	(*n)++;
}

int core_run(const char *group, const struct core_tables *t)
{
	const size_t total = t->nsingle + ARRAY_LEN(layouts) * t->nlayout +
			     ARRAY_LEN(io_params) * t->nio + ARRAY_LEN(layouts) * t->nthreaded +
			     (t->negotiation ? ARRAY_LEN(negos) : 0);
	struct CMUnitTest *tests = calloc(total, sizeof(*tests));
	char suffix[64];
	size_t n = 0;
	int r;

	if (!tests)
		return 1;
	for (size_t i = 0; i < t->nsingle; i++)
		add_test(tests, &n, t->single[i].name, "", t->single[i].fn, &default_param);
	for (size_t l = 0; l < ARRAY_LEN(layouts); l++) {
		layout_params[l] = (struct param){ &layouts[l], &modes[0], NULL };
		for (size_t i = 0; i < t->nlayout; i++)
			add_test(tests, &n, t->layout[i].name, layouts[l].name,
				 t->layout[i].fn, &layout_params[l]);
	}
	for (size_t l = 0; l < ARRAY_LEN(layouts); l++) {
		for (size_t m = 0; m < ARRAY_LEN(modes); m++) {
			struct param *p = &io_params[l * ARRAY_LEN(modes) + m];

			*p = (struct param){ &layouts[l], &modes[m], NULL };
			snprintf(suffix, sizeof(suffix), "%s %s", layouts[l].name, modes[m].name);
			for (size_t i = 0; i < t->nio; i++)
				add_test(tests, &n, t->io[i].name, suffix, t->io[i].fn, p);
			if (!modes[m].threaded)
				continue;
			for (size_t i = 0; i < t->nthreaded; i++)
				add_test(tests, &n, t->threaded[i].name, suffix,
					 t->threaded[i].fn, p);
		}
	}
	for (size_t i = 0; t->negotiation && i < ARRAY_LEN(negos); i++) {
		nego_params[i] = (struct param){ &layouts[0], &modes[0], &negos[i] };
		add_test(tests, &n, "bus_negotiation", negos[i].name, t->negotiation,
			 &nego_params[i]);
	}
	r = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		free((void *)tests[i].name);
	free(tests);
	return r;
}
