/*
 * drvq_fixture.c - the per-test context, its helpers, the real device and
 * the registration of the driver-side virtqueue tests
 * (tests/unit/test_drvq_*.c); see drvq_fixture.h.
 */

#include "drvq_fixture.h"

int ctx_setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	c->v = *state;
	*state = c;
	return 0;
}

int ctx_teardown(void **state)
{
	struct ctx *c = *state;

	if (c->live)
		vt_pair_fini(&c->p);
	free(c);
	return 0;
}

unsigned tok_idx(void *tok)
{
	return (unsigned)((uintptr_t)tok - 0x10000u);
}

bool has(const struct ctx *c, unsigned bit)
{
	return vio_has_feature(c->p.features, bit);
}

bool wire_legacy(const struct ctx *c)
{
	return !has(c, VIO_F_VERSION_1);
}

void count_notify(void *opaque)
{
	((struct ctx *)opaque)->notifies++;
}

struct vt_pair *pair_with(struct ctx *c, unsigned size, uint64_t extra,
			  const struct vt_pair_opts *opts)
{
	struct vt_pair_opts o = { 0 };

	if (opts)
		o = *opts;
	if (!o.indirect_max)
		o.indirect_max = c->v->indirect_max;
	if (c->live)
		vt_pair_fini(&c->p);
	c->live = true;
	c->indirect_max = o.indirect_max;
	c->cursor = 0;
	c->notifies = 0;
	c->fake_used = 0;
	c->fake_pos = 0;
	c->fake_wrap = true;
	assert_int_equal(vt_pair_init(&c->p, size, c->v->features | extra, &o), 0);
	return &c->p;
}

struct vt_pair *pair(struct ctx *c, unsigned size)
{
	return pair_with(c, size, 0, NULL);
}

struct vio_sg next_seg(struct ctx *c, uint32_t len)
{
	struct vio_sg sg;

	if (c->cursor + len > c->p.buf_len)
		c->cursor = 0;
	sg = vt_sg(&c->p, c->cursor, len);
	c->cursor += ((size_t)len + 63) & ~(size_t)63;
	return sg;
}

void make_sgs(struct ctx *c, struct vio_sg *sg, unsigned n, uint32_t len)
{
	for (unsigned k = 0; k < n; k++)
		sg[k] = next_seg(c, len);
}

int post_with(struct ctx *c, add_fn *add, unsigned nout, unsigned nin, void *tok)
{
	struct vio_sg out[MAX_SEGS], in[MAX_SEGS];

	assert_true(nout <= MAX_SEGS && nin <= MAX_SEGS);
	make_sgs(c, out, nout, SEG_LEN);
	make_sgs(c, in, nin, SEG_LEN);
	return add(&c->p.drv, out, nout, in, nin, tok);
}

int post(struct ctx *c, unsigned nout, unsigned nin, void *tok)
{
	return post_with(c, vio_drvq_add, nout, nin, tok);
}

void reap(struct ctx *c, void *want_tok, uint32_t want_len)
{
	void *tok = NULL;
	uint32_t len = 0;

	assert_int_equal(vio_drvq_get_buf(&c->p.drv, &tok, &len), 0);
	assert_ptr_equal(tok, want_tok);
	assert_int_equal(len, want_len);
}

void assert_nothing_used(struct ctx *c)
{
	void *tok = NULL;
	uint32_t len = 0;

	assert_false(vio_drvq_has_used(&c->p.drv));
	assert_int_equal(vio_drvq_get_buf(&c->p.drv, &tok, &len), -EAGAIN);
	assert_false(vio_drvq_is_broken(&c->p.drv));
}

int dev_pop(struct ctx *c, struct vio_elem *e)
{
	memset(e, 0, sizeof(*e));
	e->out = c->out_iov;
	e->out_cap = IOV_CAP;
	e->in = c->in_iov;
	e->in_cap = IOV_CAP;
	return vio_devq_pop(&c->p.dev, e);
}

unsigned dev_pop_all(struct ctx *c, struct vio_elem *e, unsigned max)
{
	struct vio_elem tmp;
	unsigned n = 0;
	int r;

	while ((r = dev_pop(c, &tmp)) == 0) {
		assert_true(n < max);
		e[n++] = tmp;
	}
	assert_int_equal(r, -EAGAIN);
	return n;
}

void dev_push(struct ctx *c, const struct vio_elem *e, uint32_t len)
{
	assert_int_equal(vio_devq_push(&c->p.dev, e, len), 0);
}

bool dev_serve_one(struct ctx *c)
{
	struct vio_elem e;

	assert_int_equal(dev_pop(c, &e), 0);
	dev_push(c, &e, e.in_len);
	return vio_devq_need_interrupt(&c->p.dev);
}

void cycle(struct ctx *c, uint32_t i, bool kick, bool idle)
{
	struct vio_elem e;

	assert_int_equal(post(c, 0, 1, TOK(i)), 0);
	if (kick)
		(void)vio_drvq_kick_prepare(&c->p.drv);
	assert_int_equal(dev_pop(c, &e), 0);
	if (idle) {
		struct vio_elem none;

		assert_int_equal(dev_pop(c, &none), -EAGAIN);
	}
	dev_push(c, &e, 3);
	reap(c, TOK(i), 3);
}

void assert_broken_for_good(struct ctx *c)
{
	struct vio_drvq *q = &c->p.drv;
	const struct vio_ring_stats s0 = q->stats;
	const char *why = vio_drvq_error(q);
	const unsigned notifies = c->notifies;
	void *tok = NULL;
	uint32_t len = 0;

	assert_true(vio_drvq_is_broken(q));
	assert_non_null(why);
	for (int round = 0; round < 3; round++) {
		assert_int_equal(post(c, 1, 1, TOK(900)), -EIO);
		assert_int_equal(post(c, 1, 0, TOK(901)), -EIO);
		assert_int_equal(vio_drvq_get_buf(q, &tok, &len), -EIO);
		assert_false(vio_drvq_kick_prepare(q));
		assert_false(vio_drvq_kick(q));
		assert_false(vio_drvq_has_used(q));
		/* At least one of these differs from used->idx. */
		assert_false(vio_drvq_poll(q, 0));
		assert_false(vio_drvq_poll(q, 1));
		assert_false(vio_drvq_poll(q, 0xffff));
	}
	assert_true(vio_drvq_is_broken(q));
	assert_ptr_equal(vio_drvq_error(q), why);
	assert_int_equal(q->stats.kicks, s0.kicks);
	assert_int_equal(q->stats.kicks_suppressed, s0.kicks_suppressed);
	assert_int_equal(c->notifies, notifies);
}

void expect_break(struct ctx *c)
{
	void *tok = NULL;
	uint32_t len = 0;

	assert_false(vio_drvq_is_broken(&c->p.drv));
	assert_null(vio_drvq_error(&c->p.drv));
	assert_int_equal(vio_drvq_get_buf(&c->p.drv, &tok, &len), -EIO);
	assert_broken_for_good(c);
}

void detach_all(struct ctx *c, const bool *outstanding, unsigned ntok)
{
	bool seen[MAX_ELEMS] = { false };
	unsigned want = 0, got = 0;
	void *tok;

	assert_true(ntok <= MAX_ELEMS);
	for (unsigned i = 0; i < ntok; i++)
		want += outstanding[i];
	while ((tok = vio_drvq_detach_unused(&c->p.drv)) != NULL) {
		unsigned i = tok_idx(tok);

		assert_true(i < ntok);
		assert_true(outstanding[i]);
		assert_false(seen[i]);
		seen[i] = true;
		got++;
		assert_true(got <= want);
	}
	assert_int_equal(got, want);
	assert_null(vio_drvq_detach_unused(&c->p.drv));
	assert_int_equal(vio_drvq_num_free(&c->p.drv), c->p.size);
}

void roundtrip_once(struct ctx *c, unsigned seq)
{
	static const uint32_t out_len[3] = { 10, 20, 30 }, in_len[2] = { 16, 48 };
	struct vt_pair *p = &c->p;
	struct vio_sg out[3], in[2];
	uint8_t req[60], got[60], reply[40];
	struct vio_elem e;
	size_t off = 0;

	for (unsigned k = 0; k < 3; k++) {
		out[k] = next_seg(c, out_len[k]);
		for (uint32_t j = 0; j < out_len[k]; j++)
			req[off + j] = (uint8_t)(seq * 7 + off + j);
		memcpy(vt_hva(p, out[k].addr), req + off, out_len[k]);
		off += out_len[k];
	}
	for (unsigned k = 0; k < 2; k++) {
		in[k] = next_seg(c, in_len[k]);
		memset(vt_hva(p, in[k].addr), 0, in_len[k]);
	}
	assert_int_equal(vio_drvq_add(&p->drv, out, 3, in, 2, TOK(seq)), 0);
	(void)vio_drvq_kick_prepare(&p->drv);

	assert_int_equal(dev_pop(c, &e), 0);
	assert_int_equal(e.out_len, 60);
	assert_int_equal(e.in_len, 64);
	assert_int_equal(vio_iov_to_buf(e.out, e.out_num, 0, got, sizeof(got)), 60);
	assert_memory_equal(got, req, 60);
	for (unsigned j = 0; j < sizeof(reply); j++)
		reply[j] = (uint8_t)~(seq + j);
	assert_int_equal(vio_iov_from_buf(e.in, e.in_num, 0, reply, sizeof(reply)), 40);
	dev_push(c, &e, 40);

	reap(c, TOK(seq), 40);
	assert_memory_equal(vt_hva(p, in[0].addr), reply, 16);
	assert_memory_equal(vt_hva(p, in[1].addr), reply + 16, 24);
}

void roundtrips(struct ctx *c, unsigned size, const struct vt_pair_opts *o)
{
	pair_with(c, size, 0, o);
	for (unsigned i = 0; i < 3 * size + 5; i++)
		roundtrip_once(c, i);
	assert_nothing_used(c);
	assert_int_equal(vio_drvq_num_free(&c->p.drv), size);
}

struct variant variants[MAX_RUNS];

struct CMUnitTest runs[MAX_RUNS];

size_t expand(const struct test_def *t, const struct layout *l, size_t n)
{
	for (unsigned bits = 0; bits <= AX_EVERY; bits++) {
		struct variant *v;

		if (bits & ~t->axes)
			continue;
		/* Legacy (pre-1.0) byte order exists only for the split ring. */
		if ((bits & AX_LEGACY) && vio_has_feature(l->features, VIO_F_RING_PACKED))
			continue;
		if (n == MAX_RUNS) {
			fprintf(stderr, "test_drvq: raise MAX_RUNS\n");
			exit(1);
		}
		v = &variants[n];
		v->layout = l;
		v->features = l->features;
		if (!(bits & AX_LEGACY))
			v->features |= VIO_BIT(VIO_F_VERSION_1);
		if (bits & AX_EVIDX)
			v->features |= VIO_BIT(VIO_F_EVENT_IDX);
		if (bits & AX_INDIRECT) {
			v->features |= VIO_BIT(VIO_F_INDIRECT_DESC);
			v->indirect_max = INDIRECT_MAX;
		}
		if (bits & AX_INORDER)
			v->features |= VIO_BIT(VIO_F_IN_ORDER);
		snprintf(v->name, sizeof(v->name), "%s[%s%s%s%s%s]", t->name, l->name,
			 bits & AX_EVIDX ? "+event_idx" : "",
			 bits & AX_INDIRECT ? "+indirect" : "",
			 bits & AX_LEGACY ? "+legacy" : "",
			 bits & AX_INORDER ? "+in_order" : "");
		runs[n] = (struct CMUnitTest){ v->name, t->fn, ctx_setup, ctx_teardown, v };
		n++;
	}
	return n;
}

int drvq_run(const char *group, const struct test_def *t, size_t nt, enum drvq_rows rows)
{
	const size_t nl = sizeof(layouts) / sizeof(layouts[0]);
	size_t n = 0;

	for (size_t l = 0; l < nl; l++) {
		bool packed = vio_has_feature(layouts[l].features, VIO_F_RING_PACKED);

		if ((rows == ROWS_SPLIT && packed) || (rows == ROWS_PACKED && !packed))
			continue;
		for (size_t i = 0; i < nt; i++)
			n = expand(&t[i], &layouts[l], n);
	}
	return _cmocka_run_group_tests(group, runs, n, NULL, NULL);
}
