/*
 * devq_packed_fixture.c - the hostile packed driver and the checks of what
 * the device did, shared by tests/unit/test_devq_packed_*.c; see
 * devq_packed_fixture.h.
 */

#include "devq_packed_fixture.h"

void elem_prepare(struct vio_elem *e, struct vio_iov *out, unsigned out_cap,
		  struct vio_iov *in, unsigned in_cap)
{
	memset(e, 0, sizeof(*e));
	e->out = out;
	e->out_cap = out_cap;
	e->in = in;
	e->in_cap = in_cap;
}

uint16_t enc(unsigned pos, bool wrap)
{
	return (uint16_t)(pos | (wrap ? WRAP : 0));
}

uint16_t avail_bits(bool wrap)
{
	return wrap ? D_AVAIL : D_USED;
}

uint16_t used_bits(bool wrap)
{
	return wrap ? D_AVAIL | D_USED : 0;
}

int pq_setup(void **state)
{
	struct pq *h = calloc(1, sizeof(*h));

	if (!h)
		return -1;
	*state = h;
	return 0;
}

int pq_teardown(void **state)
{
	struct pq *h = *state;

	vt_guarded_unmap(&h->a);
	vt_guarded_unmap(&h->b);
	vt_guarded_unmap(&h->c);
	vt_guarded_unmap(&h->d);
	free(h);
	return 0;
}

struct vio_devq_config pq_cfg(const struct pq *h, bool resume, uint16_t avail_base,
			      uint16_t used_base)
{
	struct vio_devq_config c;

	memset(&c, 0, sizeof(c));
	c.size = h->size;
	c.features = h->features;
	c.addrs = h->addrs;
	c.mem = &h->mem;
	c.resume = resume;
	c.avail_base = avail_base;
	c.used_base = used_base;
	return c;
}

void ring_set_flags(struct pq *h, unsigned pos, uint16_t flags)
{
	h->ring[pos].flags = vio_set16(false, flags);
}

uint16_t ring_flags(const struct pq *h, unsigned pos)
{
	return vio_get16(false, h->ring[pos].flags);
}

uint16_t ring_id(const struct pq *h, unsigned pos)
{
	return vio_get16(false, h->ring[pos].id);
}

uint32_t ring_len(const struct pq *h, unsigned pos)
{
	return vio_get32(false, h->ring[pos].len);
}

void pq_restart(struct pq *h, bool resume, uint16_t base)
{
	struct vio_devq_config c;

	h->pos = base & (uint16_t)~WRAP;
	h->wrap = base & WRAP;
	memset(h->ring, 0, sizeof(*h->ring) * h->size);
	for (unsigned i = 0; i < h->size; i++)
		ring_set_flags(h, i, used_bits(i < h->pos ? h->wrap : !h->wrap));
	c = pq_cfg(h, resume, base, base);
	assert_int_equal(vio_devq_init(&h->q, &c), 0);
	elem_prepare(&h->e, h->out, IOVS, h->in, IOVS);
}

struct pq *pq_start(void **state, unsigned size, uint64_t features, bool resume,
		    uint16_t base)
{
	struct pq *h = *state;

	vt_guarded_map(&h->a, A_LEN, 0, false);
	vt_guarded_map(&h->b, B_LEN, 0, false);
	vt_guarded_map(&h->c, C_LEN, C_SKEW, false);
	memset(h->a.body + OFF_BUF, 0xb7, A_LEN - OFF_BUF);
	memset(h->b.body, 0xc8, B_LEN);
	memset(h->c.body, 0xd9, C_LEN);
	vio_mem_init(&h->mem, h->regions, ARRAY_LEN(h->regions));
	assert_int_equal(vio_mem_add(&h->mem, GA, A_LEN, h->a.body), 0);
	assert_int_equal(vio_mem_add(&h->mem, GB, B_LEN, h->b.body), 0);
	assert_int_equal(vio_mem_add(&h->mem, GC, C_LEN, h->c.body), 0);

	assert_true(size * sizeof(struct vio_packed_desc) <= OFF_DRV_EV);
	h->size = size;
	h->features = V1 | F_PACKED | features;
	h->addrs.desc = GA + OFF_RING;
	h->addrs.driver = GA + OFF_DRV_EV;
	h->addrs.device = GA + OFF_DEV_EV;
	h->ring = (void *)(h->a.body + OFF_RING);
	h->drv_ev = (void *)(h->a.body + OFF_DRV_EV);
	h->dev_ev = (void *)(h->a.body + OFF_DEV_EV);
	pq_restart(h, resume, base);
	return h;
}

struct pq *pq_new(void **state, unsigned size, uint64_t features)
{
	return pq_start(state, size, features, false, enc(0, true));
}

struct pq *pq_new_at(void **state, unsigned size, uint64_t features, uint16_t base)
{
	return pq_start(state, size, features, true, base);
}

void drv_post(struct pq *h, const struct pd *d, unsigned n, bool link, uint16_t id)
{
	const uint16_t head = h->pos;
	uint16_t head_flags = 0;

	for (unsigned k = 0; k < n; k++) {
		const bool last = k + 1 == n;
		uint16_t flags = d[k].flags | avail_bits(h->wrap);
		uint16_t bid = d[k].id;

		if (link) {
			flags |= last ? 0 : D_NEXT;
			bid = last ? id : JUNK_ID;
		}
		h->ring[h->pos].addr = vio_set64(false, d[k].addr);
		h->ring[h->pos].len = vio_set32(false, d[k].len);
		h->ring[h->pos].id = vio_set16(false, bid);
		if (k == 0)
			head_flags = flags;
		else
			ring_set_flags(h, h->pos, flags);
		if (++h->pos == h->size) {
			h->pos = 0;
			h->wrap = !h->wrap;
		}
	}
	ring_set_flags(h, head, head_flags);
}

void drv_post1(struct pq *h, uint64_t addr, uint32_t len, uint16_t flags, uint16_t id)
{
	const struct pd d = { addr, len, flags, id };

	drv_post(h, &d, 1, false, 0);
}

void ind_put(struct pq *h, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
	     uint16_t flags, uint16_t id)
{
	struct vio_packed_desc d;

	d.addr = vio_set64(false, addr);
	d.len = vio_set32(false, len);
	d.id = vio_set16(false, id);
	d.flags = vio_set16(false, flags);
	assert_int_equal(vio_mem_write(&h->mem, table + 16u * i, &d, sizeof(d)), 0);
}

void snapshot(struct pq *h)
{
	memcpy(h->snap_a, h->a.body, A_LEN);
	memcpy(h->snap_b, h->b.body, B_LEN);
	memcpy(h->snap_c, h->c.body, C_LEN);
}

void assert_untouched_but(const struct pq *h, size_t lo, size_t hi)
{
	assert_true(vt_guarded_canaries_ok(&h->a));
	assert_true(vt_guarded_canaries_ok(&h->b));
	assert_true(vt_guarded_canaries_ok(&h->c));
	assert_true(vt_guarded_canaries_ok(&h->d));
	assert_memory_equal(h->a.body, h->snap_a, lo);
	assert_memory_equal(h->a.body + hi, h->snap_a + hi, A_LEN - hi);
	assert_memory_equal(h->b.body, h->snap_b, B_LEN);
	assert_memory_equal(h->c.body, h->snap_c, C_LEN);
}

void assert_untouched(const struct pq *h)
{
	assert_untouched_but(h, 0, 0);
}

void assert_bases(const struct pq *h, uint16_t avail_base, uint16_t used_base)
{
	assert_int_equal(vio_devq_avail_base(&h->q), avail_base);
	assert_int_equal(vio_devq_used_base(&h->q), used_base);
}

void pop_ok(struct pq *h)
{
	assert_int_equal(vio_devq_pop(&h->q, &h->e), 0);
	assert_false(vio_devq_is_stopped(&h->q));
}

void assert_span(const struct vio_iov *iov, const void *base, size_t len)
{
	assert_ptr_equal(iov->base, base);
	assert_int_equal(iov->len, len);
}

uint8_t *abuf(const struct pq *h, size_t off)
{
	return h->a.body + OFF_BUF + off;
}

int pq_run(const char *group, const struct vt_named_test *t, size_t n)
{
	struct CMUnitTest *tests = calloc(n, sizeof(*tests));
	size_t k = 0;

	if (!tests)
		return 1;
	for (size_t i = 0; i < n; i++)
		vt_add_test(tests, &k, "packed", t[i].name, t[i].fn, pq_setup, pq_teardown, NULL);
	return vt_run_group(group, tests, k);
}
