/*
 * test_core_lb.c - the loopback transport's DMA allocator and its address
 * translation (group lb).
 *
 * Siblings, all in tests/loopback/: test_core_status.c (status machine,
 * features), test_core_config.c (config space, queues), test_core_bus.c
 * (the bus), test_core_io.c (I/O on every layout and mode; split-specific),
 * test_core_lb.c (the loopback's DMA memory); the echo device, its driver
 * and the fixture are core_fixture.{c,h}.
 */

#include "core_fixture.h"

/* lb: the loopback transport's DMA memory                                  */
/*
 * Alignments up to a quarter of the arena. Where the arena itself lands is
 * malloc's choice, and an allocator that aligns only device addresses is
 * caught only when the arena is less aligned than what is asked: so take
 * (peeking at the private arena pointer) a loopback whose arena is not
 * already ARENA / 4 aligned, which makes the check the same on every run.
 */
static void lb_dma_alignment(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_drv_device *dev;
	uint64_t dma;

	while (((uintptr_t)f->lb.arena & (ARENA / 4 - 1)) == 0 && c->nfx < MAX_FX)
		f = fx_new(c);
	dev = &f->lb.vdev;

	for (size_t align = 1; align <= ARENA / 4; align *= 2) {
		/* a small block first, so the next free chunk is not aligned */
		void *skew = vio_drv_dma_alloc(dev, 1, 1, &dma);
		void *p = vio_drv_dma_alloc(dev, 100, align, &dma);

		assert_non_null(skew);
		if (align <= 4096)
			assert_non_null(p);
		if (p) {
			/* both the CPU's and the device's view are aligned */
			if ((uintptr_t)p % align || dma % align)
				fail_msg("align %zu: host %p dma %#llx", align, p,
					 (unsigned long long)dma);
			vio_drv_dma_free(dev, p, 100);
		}
		vio_drv_dma_free(dev, skew, 1);
	}
}

static void lb_dma_disjoint(void **state)
{
	struct ctx *c = *state;
	struct vio_drv_device *dev = &fx_new(c)->lb.vdev;
	enum { N = 40 };
	uint8_t *p[N];
	uint64_t dma[N];
	size_t len[N];

	for (unsigned i = 0; i < N; i++) {
		len[i] = 1 + (i * 997) % 5000;
		p[i] = vio_drv_dma_alloc(dev, len[i], (size_t)1 << (i % 8), &dma[i]);
		assert_non_null(p[i]);
		assert_int_equal(vio_drv_dma_addr(dev, p[i]), dma[i]);
		assert_int_equal(vio_drv_dma_addr(dev, p[i] + len[i] - 1), dma[i] + len[i] - 1);
		memset(p[i], (int)i, len[i]);
	}
	for (unsigned i = 0; i < N; i++) {
		for (unsigned j = 0; j < N; j++) {
			if (i != j && p[i] < p[j] + len[j] && p[j] < p[i] + len[i])
				fail_msg("blocks %u and %u overlap", i, j);
			if (i != j && dma[i] < dma[j] + len[j] && dma[j] < dma[i] + len[i])
				fail_msg("device addresses of %u and %u overlap", i, j);
		}
		/* nobody else wrote into it */
		for (size_t k = 0; k < len[i]; k++)
			assert_int_equal(p[i][k], i);
	}
}

static void lb_dma_reuse_and_exhaustion(void **state)
{
	struct ctx *c = *state;
	struct vio_drv_device *dev = &fx_new(c)->lb.vdev;
	enum { BLK = 4096, NBLK = ARENA / BLK };
	static void *p[NBLK];
	uint64_t dma, d5;
	unsigned n = 0;
	void *q;

	while (n < NBLK && (p[n] = vio_drv_dma_alloc(dev, BLK, 64, &dma)))
		n++;
	assert_int_equal(n, NBLK);
	assert_null(vio_drv_dma_alloc(dev, 1, 1, &dma));
	d5 = vio_drv_dma_addr(dev, p[5]);
	vio_drv_dma_free(dev, p[5], BLK);
	memset(p[5], 0xab, BLK);
	q = vio_drv_dma_alloc(dev, BLK, 64, &dma);
	assert_ptr_equal(q, p[5]);
	assert_int_equal(dma, d5);
	assert_int_equal(((uint8_t *)q)[BLK - 1], 0);  /* handed out zeroed */
	assert_null(vio_drv_dma_alloc(dev, 1, 1, &dma));
	for (unsigned i = 0; i < n; i++)
		vio_drv_dma_free(dev, p[i], BLK);
	assert_non_null(q = vio_drv_dma_alloc(dev, ARENA, 4096, &dma));
	vio_drv_dma_free(dev, q, ARENA);
}

static void lb_dma_size_too_large(void **state)
{
	struct ctx *c = *state;
	struct vio_drv_device *dev = &fx_new(c)->lb.vdev;
	uint64_t dma = 0;

	assert_null(vio_drv_dma_alloc(dev, ARENA + 1, 64, &dma));
	assert_null(vio_drv_dma_alloc(dev, SIZE_MAX / 2, 64, &dma));
	/* sizes whose rounding to chunks wraps around */
	assert_null(vio_drv_dma_alloc(dev, SIZE_MAX, 64, &dma));
	assert_null(vio_drv_dma_alloc(dev, SIZE_MAX - 40, 1, &dma));
	assert_null(vio_drv_dma_alloc(dev, 0, 64, &dma));
	assert_null(vio_drv_dma_alloc(dev, 64, 0, &dma));
	assert_null(vio_drv_dma_alloc(dev, 64, 48, &dma));
}

static void lb_dma_addr_outside_arena(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_drv_device *dev = &f->lb.vdev;
	uint64_t dma;
	uint8_t *p = vio_drv_dma_alloc(dev, 64, 64, &dma), *arena;
	int on_stack;

	assert_non_null(p);
	arena = p - (dma - VIO_LOOPBACK_BASE);
	assert_int_equal(vio_drv_dma_addr(dev, arena), VIO_LOOPBACK_BASE);
	assert_int_equal(vio_drv_dma_addr(dev, arena + ARENA - 1), VIO_LOOPBACK_BASE + ARENA - 1);
	assert_int_equal(vio_drv_dma_addr(dev, arena + ARENA), UINT64_MAX);
	assert_int_equal(vio_drv_dma_addr(dev, (void *)((uintptr_t)arena - 1)), UINT64_MAX);
	assert_int_equal(vio_drv_dma_addr(dev, &on_stack), UINT64_MAX);
	assert_int_equal(vio_drv_dma_addr(dev, f), UINT64_MAX);
	assert_int_equal(vio_drv_dma_addr(dev, NULL), UINT64_MAX);
}

/* Device addresses are not host addresses, and the device's memory table
 * turns them back into exactly the driver's pointers. */
static void lb_device_addresses_translate(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	uint64_t dma;
	uint8_t *p = vio_drv_dma_alloc(&f->lb.vdev, 256, 64, &dma);

	assert_non_null(p);
	assert_true(dma != (uint64_t)(uintptr_t)p);
	assert_true(dma >= VIO_LOOPBACK_BASE && dma + 256 <= VIO_LOOPBACK_BASE + ARENA);
	assert_ptr_equal(vio_mem_ptr(f->e.d.mem, dma, 256), p);
	assert_null(vio_mem_ptr(f->e.d.mem, (uint64_t)(uintptr_t)p, 1));
	p[17] = 0x42;
	assert_int_equal(*(uint8_t *)vio_mem_ptr(f->e.d.mem, dma + 17, 1), 0x42);
}

static void bare_notify(struct vio_dev_model *d, unsigned qi)
{
}

/* For a bare struct vio_dev_model: the echo hooks would look for a struct echo. */
static const struct vio_dev_ops bare_ops = {
	.version = VIO_DEV_OPS_VERSION,
	.queue_notify = bare_notify,
};

static void lb_init_limits(void **state)
{
	static struct vio_dev_queue many[VIO_LOOPBACK_MAX_QUEUES + 1];
	struct vio_loopback lb;
	struct vio_dev_model d;

	(void)state;
	memset(&d, 0, sizeof(d));
	d.device_id = ECHO_ID;
	d.ops = &bare_ops;
	d.queues = many;
	d.num_queues = ARRAY_LEN(many);
	for (size_t i = 0; i < ARRAY_LEN(many); i++)
		many[i].max_size = 8;
	assert_int_equal(vio_dev_init(&d), 0);
	assert_int_equal(vio_loopback_init(&lb, &d, 4096, false), -EINVAL);
	d.num_queues = VIO_LOOPBACK_MAX_QUEUES;
	assert_int_equal(vio_loopback_init(&lb, &d, 0, false), -EINVAL);
	assert_int_equal(vio_loopback_init(&lb, &d, 4096, true), 0);
	assert_true(lb.kick_fd >= 0 && lb.irq_fd >= 0);
	vio_loopback_fini(&lb);
	assert_int_equal(vio_loopback_init(&lb, &d, 4096, false), 0);
	assert_true(lb.kick_fd < 0 && lb.irq_fd < 0);
	vio_loopback_fini(&lb);
}

static const struct test_def single_tests[] = {
	T(lb_dma_alignment),
	T(lb_dma_disjoint),
	T(lb_dma_reuse_and_exhaustion),
	T(lb_dma_size_too_large),
	T(lb_dma_addr_outside_arena),
	T(lb_device_addresses_translate),
	T(lb_init_limits),
};

int main(void)
{
	static const struct core_tables t = {
		.single = single_tests, .nsingle = ARRAY_LEN(single_tests),
	};

	return core_run("lb_core_lb", &t);
}
