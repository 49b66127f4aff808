/*
 * devq_fixture.c - the hostile-driver fixture and registration helpers of
 * the device-side virtqueue tests (tests/unit/test_devq_*.c); see
 * devq_fixture.h.
 */

#include "devq_fixture.h"

void elem_prepare(struct vio_elem *e, struct vio_iov *out, unsigned out_cap,
		  struct vio_iov *in, unsigned in_cap)
{
	memset(e, 0, sizeof(*e));
	e->out = out;
	e->out_cap = out_cap;
	e->in = in;
	e->in_cap = in_cap;
}

int hq_setup(void **state)
{
	struct hq *h = calloc(1, sizeof(*h));

	if (!h)
		return -1;
	h->var = *state;
	*state = h;
	return 0;
}

int hq_teardown(void **state)
{
	struct hq *h = *state;

	vt_guarded_unmap(&h->a);
	vt_guarded_unmap(&h->b);
	vt_guarded_unmap(&h->c);
	vt_guarded_unmap(&h->d);
	for (unsigned i = 0; i < 3; i++)
		vt_guarded_unmap(&h->e3[i]);
	free(h);
	return 0;
}

void *hva(struct hq *h, uint64_t gpa)
{
	void *p = vio_mem_ptr(&h->mem, gpa, 1);

	assert_non_null(p);
	return p;
}

struct vio_devq_config hq_cfg(const struct hq *h, uint16_t avail_base, uint16_t used_base)
{
	struct vio_devq_config c;

	memset(&c, 0, sizeof(c));
	c.size = h->size;
	c.features = h->features;
	c.addrs = h->addrs;
	c.mem = &h->mem;
	c.resume = avail_base || used_base;
	c.avail_base = avail_base;
	c.used_base = used_base;
	return c;
}

struct hq *hq_init_at(void **state, unsigned size, uint64_t features,
		      uint16_t avail_base, uint16_t used_base)
{
	struct hq *h = *state;
	struct vio_devq_config c;

	vt_guarded_map(&h->a, A_LEN, 0, false);
	vt_guarded_map(&h->b, B_LEN, 0, false);
	vt_guarded_map(&h->c, C_LEN, C_SKEW, false);
	memset(h->a.body + OFF_BUF, 0xb7, A_LEN - OFF_BUF);
	memset(h->b.body, 0xc8, B_LEN);
	memset(h->c.body, 0xd9, C_LEN);
	vio_mem_init(&h->mem, h->table, ARRAY_LEN(h->table));
	assert_int_equal(vio_mem_add(&h->mem, GA, A_LEN, h->a.body), 0);
	assert_int_equal(vio_mem_add(&h->mem, GB, B_LEN, h->b.body), 0);
	assert_int_equal(vio_mem_add(&h->mem, GC, C_LEN, h->c.body), 0);

	h->size = size;
	h->features = features | h->var->features;
	h->legacy = !vio_has_feature(h->features, VIO_F_VERSION_1);
	if (h->var->legacy_layout) {
		vio_ring_legacy_layout(GA, size, VIO_LEGACY_VRING_ALIGN, &h->addrs);
		assert_true(h->addrs.device + vio_split_used_size(size) <= GA + OFF_IND);
	} else {
		h->addrs.desc = GA;
		h->addrs.driver = GA + OFF_AVAIL;
		h->addrs.device = GA + OFF_USED;
	}
	h->desc = hva(h, h->addrs.desc);
	h->avail = hva(h, h->addrs.driver);
	h->used = hva(h, h->addrs.device);
	h->aidx = avail_base;
	h->avail->idx = vio_set16(h->legacy, avail_base);
	h->used->idx = vio_set16(h->legacy, used_base);

	c = hq_cfg(h, avail_base, used_base);
	assert_int_equal(vio_devq_init(&h->q, &c), 0);
	elem_prepare(&h->e, h->out, HQ_IOVS, h->in, HQ_IOVS);
	return h;
}

struct hq *hq_init(void **state, unsigned size, uint64_t features)
{
	return hq_init_at(state, size, features, 0, 0);
}

void put_desc_at(struct hq *h, uint64_t at, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next)
{
	struct vio_split_desc d;

	d.addr = vio_set64(h->legacy, addr);
	d.len = vio_set32(h->legacy, len);
	d.flags = vio_set16(h->legacy, flags);
	d.next = vio_set16(h->legacy, next);
	assert_int_equal(vio_mem_write(&h->mem, at, &d, sizeof(d)), 0);
}

void put_desc(struct hq *h, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
	      uint16_t next)
{
	put_desc_at(h, h->addrs.desc + 16u * i, addr, len, flags, next);
}

void put_ind(struct hq *h, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
	     uint16_t flags, uint16_t next)
{
	put_desc_at(h, table + 16u * i, addr, len, flags, next);
}

void publish(struct hq *h, uint16_t head)
{
	h->avail->ring[h->aidx & (h->size - 1)] = vio_set16(h->legacy, head);
	h->aidx++;
	h->avail->idx = vio_set16(h->legacy, h->aidx);
}

void set_avail_idx(struct hq *h, uint16_t idx)
{
	h->avail->idx = vio_set16(h->legacy, idx);
}

uint16_t used_idx(const struct hq *h)
{
	return vio_get16(h->legacy, h->used->idx);
}

void snapshot(struct hq *h)
{
	memcpy(h->snap_a, h->a.body, A_LEN);
	memcpy(h->snap_b, h->b.body, B_LEN);
	memcpy(h->snap_c, h->c.body, C_LEN);
}

void assert_untouched(struct hq *h)
{
	size_t uoff = (size_t)((uint8_t *)h->used - h->a.body);
	size_t uend = uoff + vio_split_used_size(h->size);

	assert_true(vt_guarded_canaries_ok(&h->a));
	assert_true(vt_guarded_canaries_ok(&h->b));
	assert_true(vt_guarded_canaries_ok(&h->c));
	assert_true(vt_guarded_canaries_ok(&h->d));
	for (unsigned i = 0; i < 3; i++)
		assert_true(vt_guarded_canaries_ok(&h->e3[i]));
	assert_memory_equal(h->a.body, h->snap_a, uoff);
	assert_memory_equal(h->a.body + uend, h->snap_a + uend, A_LEN - uend);
	assert_memory_equal(h->b.body, h->snap_b, B_LEN);
	assert_memory_equal(h->c.body, h->snap_c, C_LEN);
}

void expect_stop(struct hq *h, int err)
{
	struct vio_ring_stats before;
	const char *why;
	uint16_t base;

	snapshot(h);
	assert_int_equal(vio_devq_pop(&h->q, &h->e), err);
	assert_true(vio_devq_is_stopped(&h->q));
	why = vio_devq_error(&h->q);
	assert_non_null(why);
	assert_true(why[0] != '\0');
	assert_untouched(h);

	base = vio_devq_avail_base(&h->q);
	put_desc(h, 0, BUF(0), 16, 0, 0);
	for (unsigned i = 0; i < h->size; i++)
		h->avail->ring[i] = vio_set16(h->legacy, 0);
	set_avail_idx(h, (uint16_t)(base + 1));
	snapshot(h);
	before = h->q.stats;
	h->e.out_cap = h->e.in_cap = HQ_IOVS;

	assert_int_equal(vio_devq_pop(&h->q, &h->e), err);
	assert_int_equal(vio_devq_pop(&h->q, &h->e), err);
	assert_ptr_equal(vio_devq_error(&h->q), why);
	assert_false(vio_devq_has_avail(&h->q));
	assert_true(vio_devq_push(&h->q, &h->e, 0) < 0);
	assert_true(vio_devq_flush(&h->q) < 0);
	assert_false(vio_devq_need_interrupt(&h->q));
	assert_memory_equal(&h->q.stats, &before, sizeof(before));
	assert_int_equal(used_idx(h), 0);
	assert_untouched(h);
}

void pop_ok(struct hq *h)
{
	assert_int_equal(vio_devq_pop(&h->q, &h->e), 0);
	assert_false(vio_devq_is_stopped(&h->q));
}

void assert_span(const struct vio_iov *iov, const void *base, size_t len)
{
	assert_ptr_equal(iov->base, base);
	assert_int_equal(iov->len, len);
}

int hq_run(const char *group, const struct vt_named_test *hostile, size_t nhostile,
	   const struct vt_named_test *variant, size_t nvariant)
{
	const size_t total = nhostile + (ARRAY_LEN(variants) - 1) * nvariant;
	struct CMUnitTest *tests = calloc(total, sizeof(*tests));
	size_t n = 0;

	if (!tests)
		return 1;
	/* The first variant is the default one: every hostile test runs in it. */
	for (size_t i = 0; i < nhostile; i++)
		vt_add_test(tests, &n, variants[0].name, hostile[i].name, hostile[i].fn, hq_setup,
			    hq_teardown, &variants[0]);
	for (size_t v = 1; v < ARRAY_LEN(variants); v++)
		for (size_t i = 0; i < nvariant; i++)
			vt_add_test(tests, &n, variants[v].name, variant[i].name, variant[i].fn,
				    hq_setup, hq_teardown, &variants[v]);
	return vt_run_group(group, tests, n);
}
