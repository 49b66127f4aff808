/*
 * vu_backend_fixture.c - the echo device, the fixture, the frontend steps,
 * I/O through the rings and the registration of the vhost-user backend
 * tests (tests/vhost_user/test_vu_backend_*.c); see vu_backend_fixture.h.
 */

#include "vu_backend_fixture.h"

int echo_fill(struct vio_devq *vq, struct vio_elem *el)
{
	uint8_t buf[4096];
	size_t n = vio_iov_to_buf(el->out, el->out_num, 0, buf, sizeof(buf));

	for (size_t i = 0; i < n; i++)
		buf[i] ^= 0xff;
	n = vio_iov_from_buf(el->in, el->in_num, 0, buf, n);
	return vio_devq_fill(vq, el, (uint32_t)n);
}

int echo_features_ok(struct vio_dev_model *d, uint64_t features)
{
	return vio_has_feature(features, ECHO_F_REFUSED) ? -EINVAL : 0;
}

void echo_notify(struct vio_dev_model *d, unsigned qi)
{
	struct echo *e = d->priv;
	struct vio_devq *vq = vio_dev_vq(d, qi);
	struct vio_iov out[8], in[8];
	struct vio_elem el = { .out = out, .out_cap = 8, .in = in, .in_cap = 8 };
	int r;

	if (!vq || __atomic_load_n(&e->wait[qi], __ATOMIC_RELAXED))
		return;
	for (;;) {
		if (e->hold[qi] && e->nheld[qi] < QSIZE) {
			struct held *h = &e->held[qi][e->nheld[qi]];

			h->el = (struct vio_elem){ .out = h->out, .out_cap = 8, .in = h->in, .in_cap = 8 };
			r = vio_devq_pop(vq, &h->el);
			if (r)
				break;
			e->hold[qi]--;
			e->nheld[qi]++;
			continue;
		}
		r = vio_devq_pop(vq, &el);
		if (r)
			break;
		echo_fill(vq, &el);
		vio_devq_flush(vq);
		e->chains[qi]++;
	}
	e->last_err[qi] = r;
	vio_dev_check(d, qi, r);
	vio_dev_interrupt(d, qi);
	{
		void (*fn)(struct t *, unsigned) = __atomic_load_n(&e->feed, __ATOMIC_RELAXED);

		if (fn)
			fn(e->feed_opaque, qi);
	}
}

void echo_reset(struct vio_dev_model *d)
{
	((struct echo *)d->priv)->resets++;
}

void echo_queue_reset(struct vio_dev_model *d, unsigned qi)
{
	((struct echo *)d->priv)->queue_resets++;
}

void echo_config_write(struct vio_dev_model *d, unsigned off, unsigned len)
{
	struct echo *e = d->priv;

	e->config_writes++;
	e->write_off = off;
	e->write_len = len;
}

int echo_init(struct echo *e)
{
	vio_le32 magic = vio_cpu_to_le32(CFG_MAGIC);

	memset(e, 0, sizeof(*e));
	memcpy(e->config, &magic, sizeof(magic));
	e->dev.device_id = ECHO_ID;
	e->dev.host_features = DEV_FEATURES;
	e->dev.config = e->config;
	e->dev.config_len = CFG_LEN;
	e->dev.queues = e->q;
	e->dev.num_queues = NQ;
	e->dev.ops = &echo_ops;
	e->dev.priv = e;
	for (unsigned i = 0; i < NQ; i++)
		e->q[i].max_size = QMAX;
	return vio_dev_init(&e->dev);
}

void log_cb(void *opaque, enum vio_log_level level, const char *msg)
{
	struct t *t = opaque;

	pthread_mutex_lock(&t->log_lock);
	t->nlog++;
	snprintf(t->lastlog, sizeof(t->lastlog), "%s", msg);
	pthread_mutex_unlock(&t->log_lock);
	if (getenv("VT_LOG"))
		fprintf(stderr, "# log %d: %s\n", (int)level, msg);
}

void queues_changed_cb(void *opaque)
{
	((struct t *)opaque)->queues_changed++;
}

void pump(void *opaque)
{
	struct t *t = opaque;

	/* Never block in dispatch: a message that did not arrive is a test
	 * failure, not a hang. */
	if (t->b.sock >= 0 && !vt_readable(t->b.sock, 2000)) {
		t->last = -ETIMEDOUT;
		return;
	}
	t->last = vio_vu_backend_dispatch(&t->b);
}

struct vio_vu_backend_config backend_config(struct t *t)
{
	struct vio_vu_backend_config cfg = {
		.log = log_cb, .log_opaque = t,
		.queues_changed = queues_changed_cb, .opaque = t,
		.timeout_ms = TIMEOUT_MS,
	};

	return cfg;
}

int setup(void **state)
{
	const struct param *p = *state;
	struct t *t = calloc(1, sizeof(*t));
	struct vio_vu_backend_config cfg;
	int sv[2];

	if (!t)
		return -1;
	t->fds_at_start = vt_count_fds();
	t->lay = p->lay;
	t->row = p->row;
	t->bch = -1;
	t->g2.fd = -1;
	pthread_mutex_init(&t->log_lock, NULL);
	cfg = backend_config(t);
	if (echo_init(&t->e) || vio_vu_backend_init(&t->b, &t->e.dev, &cfg) || vt_socketpair(sv))
		return -1;
	if (vio_vu_backend_attach(&t->b, sv[1]))
		return -1;
	vt_fe_init(&t->fe, sv[0], pump, t);
	if (vt_gmem_init(&t->g, MEM_SIZE, MMAP_OFF, GPA, UVA, 0))
		return -1;
	for (unsigned i = 0; i < NQ; i++)
		if (vt_ring_init(&t->r[i], &t->g, i, QSIZE, t->lay->features, IND_MAX))
			return -1;
	t->data = vt_gmem_alloc(&t->g, DATA_BYTES, 4096);
	if (!t->data)
		return -1;
	*state = t;
	return 0;
}

int teardown(void **state)
{
	struct t *t = *state;
	int fds = t->fds_at_start;

	vio_vu_backend_fini(&t->b);
	if (t->fe.sock >= 0)
		close(t->fe.sock);
	if (t->bch >= 0)
		close(t->bch);
	for (unsigned i = 0; i < NQ; i++)
		vt_ring_fini(&t->r[i]);
	vt_gmem_fini(&t->g);
	vt_gmem_fini(&t->g2);
	pthread_mutex_destroy(&t->log_lock);
	free(t);
	/* Whatever the backend was handed, it closed. */
	assert_int_equal(vt_count_fds(), fds);
	return 0;
}

bool packed(const struct t *t)
{
	return t->lay->features & F_PACKED;
}

void negotiate_features(struct t *t, uint64_t features, uint64_t pf)
{
	uint64_t offered = 0;

	assert_int_equal(vt_fe_handshake(&t->fe, features, pf, &offered), 0);
	assert_int_equal(t->last, 0);
	assert_int_equal(offered, DEV_FEATURES | BIT30 | BIT26);
}

void negotiate(struct t *t, uint64_t pf)
{
	negotiate_features(t, t->lay->features | BIT30, pf);
}

void map_memory(struct t *t)
{
	const struct vt_gmem *g = &t->g;

	assert_int_equal(vt_fe_mem_table(&t->fe, &g, 1), 0);
	assert_int_equal(t->b.nmaps, 1);
}

uint16_t fresh_base(const struct t *t)
{
	return (t->lay->features & F_PACKED) ? 0x8000 : 0;
}

void start_at(struct t *t, unsigned qi, uint32_t base)
{
	assert_int_equal(vt_fe_start_ring(&t->fe, &t->r[qi], base, true), 0);
	assert_true(t->e.q[qi].live);
}

void start(struct t *t, unsigned qi)
{
	start_at(t, qi, fresh_base(t));
}

void up(struct t *t)
{
	negotiate(t, PF_ALL);
	map_memory(t);
	start(t, 0);
	start(t, 1);
	assert_int_equal(t->e.dev.status, STATUS_NEGOTIATED | VIO_STATUS_DRIVER_OK);
}

void backend_channel(struct t *t)
{
	int sv[2];

	assert_int_equal(vt_socketpair(sv), 0);
	assert_int_equal(vt_fe_set(&t->fe, VU_SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1), 0);
	close(sv[1]);
	t->bch = sv[0];
}

void reconnect(struct t *t)
{
	int sv[2];

	if (t->fe.sock >= 0)
		close(t->fe.sock);
	assert_int_equal(vt_socketpair(sv), 0);
	assert_int_equal(vio_vu_backend_attach(&t->b, sv[1]), 0);
	vt_fe_init(&t->fe, sv[0], pump, t);
	/* The driver side starts over with the device. */
	for (unsigned i = 0; i < NQ; i++) {
		assert_int_equal(vt_ring_reinit(&t->r[i]), 0);
		t->posted[i] = t->reaped[i] = 0;
	}
}

int set_addr(struct t *t, const struct vt_ring *r)
{
	return vt_fe_set(&t->fe, VU_SET_VRING_ADDR, &r->addr, sizeof(r->addr), NULL, 0);
}

void second_region(struct t *t)
{
	assert_int_equal(vt_gmem_init(&t->g2, 0x10000, 0, GPA + 0x10000000, UVA + 0x10000000, 0),
			 0);
}

void assert_serving(struct t *t)
{
	uint64_t f = 0;

	assert_int_equal(t->last, 0);
	assert_true(t->b.sock >= 0);
	assert_int_equal(vt_fe_get_u64(&t->fe, VU_GET_FEATURES, &f), 0);
	assert_int_equal(t->last, 0);
	assert_int_equal(f, DEV_FEATURES | BIT30 | BIT26);
}

uint8_t get_status(struct t *t)
{
	uint64_t s = 0;

	assert_int_equal(vt_fe_get_u64(&t->fe, VU_GET_STATUS, &s), 0);
	assert_true(s <= 0xff);
	return (uint8_t)s;
}

bool log_says(struct t *t, const char *what)
{
	bool yes;

	pthread_mutex_lock(&t->log_lock);
	yes = strstr(t->lastlog, what) != NULL;
	pthread_mutex_unlock(&t->log_lock);
	return yes;
}

void *bg_main(void *arg)
{
	struct bg *g = arg;

	g->fn(g);
	__atomic_store_n(&g->done, true, __ATOMIC_RELEASE);
	return NULL;
}

void bg_start(struct bg *g, struct t *t, void (*fn)(struct bg *))
{
	*g = (struct bg){ .t = t, .fn = fn };
	assert_int_equal(pthread_create(&g->th, NULL, bg_main, g), 0);
}

bool bg_done(struct bg *g)
{
	return __atomic_load_n(&g->done, __ATOMIC_ACQUIRE);
}

bool bg_wait(struct bg *g, void (*unstick)(struct t *))
{
	bool done;

	for (unsigned ms = 0; ms < STUCK_MS && !bg_done(g); ms++)
		usleep(1000);
	done = bg_done(g);
	if (!done)
		unstick(g->t);
	pthread_join(g->th, NULL);
	return done;
}

void close_frontend(struct t *t)
{
	close(t->fe.sock);
	t->fe.sock = -1;
}

int guest_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "memfd:vt-guest"))
			n++;
	fclose(f);
	return n;
}

void *token(uint32_t seq)
{
	return (void *)(uintptr_t)(seq + 1);
}

uint32_t msg_len(uint32_t seq)
{
	return 16 + seq % 200;
}

uint8_t pattern(unsigned qi, uint32_t seq, size_t j)
{
	return (uint8_t)(qi * 31 + seq * 7 + j);
}

uint8_t *slot_out(struct t *t, unsigned qi, uint32_t seq)
{
	return t->data + ((size_t)(qi * SLOTS + seq % SLOTS) * 2) * BUF_SLOT;
}

void post(struct t *t, unsigned qi, unsigned n, unsigned segs)
{
	for (unsigned k = 0; k < n; k++) {
		uint32_t seq = t->posted[qi]++;
		uint8_t *out = slot_out(t, qi, seq), *in = out + BUF_SLOT;
		uint64_t og = vt_gmem_gpa(&t->g, out), ig = vt_gmem_gpa(&t->g, in);
		uint32_t len = msg_len(seq);
		struct vio_sg o[2] = { { og, len }, { 0, 0 } };
		struct vio_sg i[2] = { { ig, BUF_SLOT }, { 0, 0 } };

		for (uint32_t j = 0; j < len; j++)
			out[j] = pattern(qi, seq, j);
		memset(in, 0, BUF_SLOT);
		if (segs == 2) {
			o[0].len = 5;
			o[1] = (struct vio_sg){ og + 5, len - 5 };
			i[0].len = 7;
			i[1] = (struct vio_sg){ ig + 7, BUF_SLOT - 7 };
		}
		assert_int_equal(vio_drvq_add(&t->r[qi].q, o, segs, i, segs, token(seq)), 0);
	}
}

bool reap_one(struct t *t, unsigned qi)
{
	void *tok = NULL;
	uint32_t len = 0, seq;
	const uint8_t *in;
	int r = vio_drvq_get_buf(&t->r[qi].q, &tok, &len);

	if (r == -EAGAIN)
		return false;
	assert_int_equal(r, 0);
	seq = t->reaped[qi]++;
	assert_ptr_equal(tok, token(seq));
	assert_int_equal(len, msg_len(seq));
	in = slot_out(t, qi, seq) + BUF_SLOT;
	for (uint32_t j = 0; j < len; j++)
		assert_int_equal(in[j], (uint8_t)~pattern(qi, seq, j));
	return true;
}

void expect_io(struct t *t, unsigned qi, unsigned n, unsigned segs)
{
	uint64_t kicks = t->b.queues[qi].kicks;

	post(t, qi, n, segs);
	assert_true(vt_ring_kick(&t->r[qi]));
	assert_true(vt_readable(vio_vu_backend_kick_fd(&t->b, qi), 0));
	vio_vu_backend_queue_dispatch(&t->b, qi);
	assert_int_equal(t->b.queues[qi].kicks, kicks + 1);
	assert_true(vt_efd_take(t->r[qi].call_fd) > 0);
	for (unsigned k = 0; k < n; k++)
		assert_true(reap_one(t, qi));
	assert_false(reap_one(t, qi));
}

void feed(struct t *t, unsigned qi)
{
	struct vt_ring *r = &t->r[qi];
	uint64_t out = vt_gmem_gpa(&t->g, t->data), in = out + BUF_SLOT;
	struct vio_sg o = { out, 16 }, i = { in, 16 };
	uint32_t len;
	void *tok;

	while (vio_drvq_get_buf(&r->q, &tok, &len) == 0)
		t->fed++;
	if (vio_drvq_add(&r->q, &o, 1, &i, 1, token(0)) == 0)
		vio_drvq_kick_prepare(&r->q);   /* counts; the device polls */
}

void *qthread_main(void *arg)
{
	struct qthread *q = arg;

	for (;;) {
		struct pollfd p[2] = { { q->kick_fd, POLLIN, 0 }, { q->stop_fd, POLLIN, 0 } };

		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents)
			break;
		if (p[0].revents & POLLIN)
			vio_vu_backend_queue_dispatch(q->b, q->qi);
	}
	return NULL;
}

void wait_all(struct t *t, unsigned qi, uint64_t *irqs)
{
	while (t->reaped[qi] != t->posted[qi]) {
		if (reap_one(t, qi))
			continue;
		if (!vio_drvq_enable_cb(&t->r[qi].q))
			continue;
		assert_true(vt_readable(t->r[qi].call_fd, 5000));
		*irqs += vt_efd_take(t->r[qi].call_fd);
	}
}

void recover(struct t *t)
{
	assert_int_equal(vt_fe_set(&t->fe, VU_RESET_DEVICE, NULL, 0, NULL, 0), 0);
	assert_int_equal(get_status(t), 0);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_FEATURES, t->lay->features | BIT30), 0);
	for (unsigned i = 0; i < NQ; i++) {
		assert_int_equal(vt_ring_reinit(&t->r[i]), 0);
		t->posted[i] = t->reaped[i] = 0;
		start(t, i);
	}
	expect_io(t, 0, 3, 1);
	expect_io(t, 1, 3, 2);
}

bool is_refusal(const struct vt_msg *m, uint32_t req)
{
	if (m->hdr.size == sizeof(uint64_t))
		return m->p.u64 != 0;
	return req == VU_GET_CONFIG && m->hdr.size == VU_CONFIG_HDR && m->p.config.size == 0;
}

void send_refused(struct t *t, uint32_t req, uint32_t flags, const void *p, uint32_t size,
		  const int *fds, unsigned nfds)
{
	int nfd = vt_count_fds();
	unsigned nlog = t->nlog;
	struct vt_msg m;

	flags |= VU_FLAG_NEED_REPLY;
	assert_int_equal(vt_fe_msg(&t->fe, req, flags, p, size, fds, nfds, &m), 0);
	assert_int_equal(t->last, 0);
	assert_true(is_refusal(&m, req));
	assert_true(t->nlog > nlog);
	assert_int_equal(vt_count_fds(), nfd);
	assert_serving(t);
}

void assert_dropped(struct t *t)
{
	assert_int_equal(t->last, -ECONNRESET);
	assert_int_equal(vio_vu_backend_fd(&t->b), -1);
	assert_int_equal(t->b.nmaps, 0);
	assert_int_equal(t->e.dev.status, 0);
	for (unsigned i = 0; i < NQ; i++)
		assert_false(t->e.q[i].live);
	/* And the next frontend is served. */
	reconnect(t);
	negotiate(t, PF_ALL);
	assert_serving(t);
}

struct snap snap(const struct t *t)
{
	const struct vio_vu_queue *q = &t->b.queues[0];

	return (struct snap){ t->e.dev.features, t->b.protocol_features, t->e.dev.status,
			      t->b.owner, q->addr_set, q->started, t->b.nmaps, q->num, q->base,
			      q->call_fd };
}

void send_with_fds(struct t *t, uint32_t req, const void *p, uint32_t size, unsigned nfds)
{
	int fds[16];

	assert_true(nfds <= ARRAY_LEN(fds));
	for (unsigned i = 0; i < nfds; i++) {
		fds[i] = vt_eventfd();
		assert_true(fds[i] >= 0);
	}
	send_refused(t, req, 0, p, size, fds, nfds);
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
}

struct CMUnitTest tests[MAX_TESTS];

struct param params[MAX_TESTS];

size_t ntests;

void add(const char *prefix, const char *group, const char *name, CMUnitTestFunction fn,
	 const struct layout *lay, const void *row)
{
	size_t len = strlen(prefix) + strlen(group) + strlen(name) + 8;
	char *s = malloc(len);

	if (!s || ntests == MAX_TESTS)
		abort();
	snprintf(s, len, "%s: %s%s", prefix, group, name);
	params[ntests] = (struct param){ lay, row };
	tests[ntests] = (struct CMUnitTest){ s, fn, setup, teardown, &params[ntests] };
	ntests++;
}

void add_defs(const char *prefix, const struct test_def *d, size_t n,
	      const struct layout *lay)
{
	for (size_t i = 0; i < n; i++)
		add(prefix, "", d[i].name, d[i].fn, lay, NULL);
}

int run_added(const char *group)
{
	int r;

	if (getenv("VT_FILTER"))
		cmocka_set_test_filter(getenv("VT_FILTER"));
	r = _cmocka_run_group_tests(group, tests, ntests, NULL, NULL);
	for (size_t i = 0; i < ntests; i++)
		free((void *)tests[i].name);
	return r;
}
