/*
 * test_freestanding.c - libvio without libc: the check behind "the core,
 * the drivers and the device types build freestanding".
 *
 * This program and libvio-freestanding (spec, mem, ring, core, every
 * driver, every device type without its OS backend) are compiled with
 * -ffreestanding against the compiler's own headers only, and linked with
 * -nostdlib -nostartfiles -static, every object of the library included:
 * a call to anything of libc or the OS anywhere in them is an undefined
 * symbol, and the link fails. The program itself gives what a
 * freestanding environment gives: memcpy, memmove and memset, its own
 * _start, and raw syscalls to write its TAP lines and exit (x86_64 only).
 *
 * What it runs, over a minimal transport written here (the device model
 * driven directly, as loopback's direct mode does, DMA memory at 4 GiB in
 * the device's address space so translation is exercised):
 *   - rng: the driver reads from the device (split and packed rings);
 *   - blk: write, read back, flush, discard, GET_ID on a RAM disk (split
 *     and packed), its memory from the test's allocator;
 *   - console: a write the device discards, and reads that time out, with
 *     and without the transport's clock (struct vio_drv_deadline);
 *   - balloon: inflate to a target and deflate again;
 *   - every allocation (the bus's, the devices', DMA) given back with the
 *     size it was taken with.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vio/devices.h"
#include "vio/drivers.h"

#if !defined(__x86_64__)
#error "test_freestanding is x86_64 only (raw syscalls); meson skips it elsewhere"
#endif
#if __STDC_HOSTED__
#error "test_freestanding must be compiled with -ffreestanding"
#endif

/* ------------------------------------------------------------------------ */
/* What a freestanding environment provides                                 */

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int fs_main(void);

/* The empty asm in each loop keeps the compiler from turning the loop
 * into a call to the very function it is in. */
void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	while (n--) {
		*d++ = *s++;
		__asm__ volatile("" ::: "memory");
	}
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (d < s) {
		while (n--) {
			*d++ = *s++;
			__asm__ volatile("" ::: "memory");
		}
	} else {
		while (n--) {
			d[n] = s[n];
			__asm__ volatile("" ::: "memory");
		}
	}
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;

	while (n--) {
		*d++ = (unsigned char)c;
		__asm__ volatile("" ::: "memory");
	}
	return dst;
}

static long sys_write(int fd, const void *buf, size_t len)
{
	long r;

	__asm__ volatile("syscall" : "=a"(r) : "a"(1L), "D"((long)fd), "S"(buf), "d"(len)
			 : "rcx", "r11", "memory");
	return r;
}

/* The stack is 16-byte aligned at entry; the call keeps the ABI's. */
__asm__(".text\n"
	".globl _start\n"
	".type _start, @function\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	and $-16, %rsp\n"
	"	call fs_main\n"
	"	mov %eax, %edi\n"
	"	mov $231, %eax\n"       /* exit_group */
	"	syscall\n"
	"	hlt\n");

/* ------------------------------------------------------------------------ */
/* TAP, formatted by libvio's own vio_format()                              */

static unsigned ncases, nfailed;

static void say(const char *fmt, ...) VIO_PRINTF(1, 2);

static void say(const char *fmt, ...)
{
	char line[VIO_LOG_LINE_MAX];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = vio_vformat(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)sys_write(1, line, n);
}

/* Failures of the running case: the first one is kept for its line. */
static unsigned case_failures;
static char case_why[160];

#define CHECK(cond) do {                                                        \
		if (!(cond)) {                                                  \
			if (case_failures++ == 0)                               \
				vio_format(case_why, sizeof(case_why),          \
					   "line %d: %s", __LINE__, #cond);     \
		}                                                               \
	} while (0)

static void case_start(void)
{
	case_failures = 0;
	case_why[0] = '\0';
}

static void case_end(const char *name)
{
	ncases++;
	if (case_failures == 0) {
		say("ok %u - %s", ncases, name);
		return;
	}
	nfailed++;
	say("not ok %u - %s # %s", ncases, name, case_why);
}

static bool bytes_equal(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return false;
	return true;
}

static bool all_zero(const void *a, size_t n)
{
	const unsigned char *x = a;

	for (size_t i = 0; i < n; i++)
		if (x[i])
			return false;
	return true;
}

/* ------------------------------------------------------------------------ */
/* Memory: pools that check every free against its allocation               */

struct pool {
	uint8_t *base;
	size_t cap, top;
	size_t live;            /* allocations not yet freed */
	unsigned bad_frees;     /* wrong pointer or size */
};

#define HDR 64u  /* room for the size, keeping 64-byte alignment */

static void *pool_alloc_aligned(struct pool *p, size_t size, size_t align)
{
	size_t at = (p->top + HDR + align - 1) & ~(align - 1);

	if (size == 0 || at > p->cap || size > p->cap - at)
		return NULL;
	*(size_t *)(p->base + at - sizeof(size_t)) = size;
	p->top = at + size;
	p->live++;
	return p->base + at;
}

static void pool_free(struct pool *p, void *ptr, size_t size)
{
	uint8_t *b = ptr;

	if (!ptr)
		return;
	if (b < p->base + HDR || b >= p->base + p->cap ||
	    *(size_t *)(b - sizeof(size_t)) != size || p->live == 0) {
		p->bad_frees++;
		return;
	}
	*(size_t *)(b - sizeof(size_t)) = 0; /* a second free is caught */
	if (--p->live == 0)
		p->top = 0;
}

static bool pool_clean(const struct pool *p)
{
	return p->live == 0 && p->bad_frees == 0;
}

static uint8_t bus_mem[1u << 20] __attribute__((aligned(64)));
static uint8_t dev_mem[4u << 20] __attribute__((aligned(64)));
static uint8_t dma_mem[4u << 20] __attribute__((aligned(65536)));

static struct pool bus_pool = { bus_mem, sizeof(bus_mem), 0, 0, 0 };
static struct pool dev_pool = { dev_mem, sizeof(dev_mem), 0, 0, 0 };

/* The bus's private memory (drivers' bookkeeping, shadow slots). */
static void *bus_alloc(void *opaque, size_t size)
{
	return pool_alloc_aligned(opaque, size, 64);
}

static void bus_free(void *opaque, void *p, size_t size)
{
	pool_free(opaque, p, size);
}

/* ------------------------------------------------------------------------ */
/* A minimal transport: the device model driven directly                    */

#define DMA_BASE UINT64_C(0x100000000)

struct mini {
	struct vio_drv_device vdev;
	struct vio_dev_model *dev;
	struct vio_mem mem;
	struct vio_mem_region region;
	struct pool dma;
	uint64_t irqs;          /* queues the device interrupted */
	bool config_irq;
	uint64_t now;           /* the clock, when the ops have one */
	unsigned waits;
};

static struct mini *mini_of(struct vio_drv_device *vdev)
{
	return vdev->transport;
}

static uint8_t m_get_status(struct vio_drv_device *v)
{
	return vio_dev_get_status(mini_of(v)->dev);
}

static void m_set_status(struct vio_drv_device *v, uint8_t s)
{
	(void)vio_dev_set_status(mini_of(v)->dev, s);
}

static uint64_t m_get_features(struct vio_drv_device *v)
{
	return vio_dev_get_features(mini_of(v)->dev);
}

static int m_set_features(struct vio_drv_device *v, uint64_t f)
{
	return vio_dev_set_features(mini_of(v)->dev, f);
}

static uint64_t m_transport_features(struct vio_drv_device *v)
{
	return VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_INDIRECT_DESC) | VIO_BIT(VIO_F_EVENT_IDX) |
	       VIO_BIT(VIO_F_NOTIFY_ON_EMPTY) | VIO_BIT(VIO_F_ANY_LAYOUT) |
	       VIO_BIT(VIO_F_RING_PACKED) | VIO_BIT(VIO_F_IN_ORDER);
}

static int m_config_read(struct vio_drv_device *v, unsigned off, void *buf, unsigned len)
{
	return vio_dev_config_read(mini_of(v)->dev, off, buf, len);
}

static int m_config_write(struct vio_drv_device *v, unsigned off, const void *buf, unsigned len)
{
	return vio_dev_config_write(mini_of(v)->dev, off, buf, len);
}

static uint32_t m_config_generation(struct vio_drv_device *v)
{
	return vio_dev_config_generation(mini_of(v)->dev);
}

static unsigned m_num_queues(struct vio_drv_device *v)
{
	return vio_dev_num_queues(mini_of(v)->dev);
}

static unsigned m_queue_max(struct vio_drv_device *v, unsigned qi)
{
	return vio_dev_queue_max(mini_of(v)->dev, qi);
}

static int m_queue_setup(struct vio_drv_device *v, unsigned qi, unsigned size,
			 const struct vio_ring_addrs *a)
{
	return vio_dev_queue_set(mini_of(v)->dev, qi, size, a);
}

static int m_queue_enable(struct vio_drv_device *v, unsigned qi)
{
	return vio_dev_queue_enable(mini_of(v)->dev, qi);
}

/* Hands the device's interrupts to the driver; were there any? */
static bool deliver(struct mini *m)
{
	uint64_t bits = m->irqs;
	bool any = bits || m->config_irq;

	m->irqs = 0;
	if (m->config_irq) {
		m->config_irq = false;
		vio_drv_config_interrupt(&m->vdev);
	}
	while (bits) {
		unsigned qi = (unsigned)__builtin_ctzll(bits);

		bits &= bits - 1;
		vio_drv_interrupt(&m->vdev, qi);
	}
	return any;
}

static void m_notify(struct vio_drv_device *v, unsigned qi)
{
	struct mini *m = mini_of(v);

	vio_dev_notify(m->dev, qi);
	deliver(m);
}

static void *m_dma_alloc(struct vio_drv_device *v, size_t size, size_t align, uint64_t *dma)
{
	struct mini *m = mini_of(v);
	uint8_t *p;

	if (align == 0 || (align & (align - 1)) || align > 65536)
		return NULL;
	p = pool_alloc_aligned(&m->dma, size, align < 64 ? 64 : align);
	if (!p)
		return NULL;
	memset(p, 0, size);
	*dma = DMA_BASE + (uint64_t)(p - m->dma.base);
	return p;
}

static void m_dma_free(struct vio_drv_device *v, void *p, size_t size)
{
	pool_free(&mini_of(v)->dma, p, size);
}

static uint64_t m_dma_addr(struct vio_drv_device *v, const void *p)
{
	struct mini *m = mini_of(v);
	const uint8_t *b = p;

	if (b < m->dma.base || b >= m->dma.base + m->dma.cap)
		return UINT64_MAX;
	return DMA_BASE + (uint64_t)(b - m->dma.base);
}

/* Nothing blocks here: a wait delivers what the device raised, or says
 * the whole timeout went by (and moves the clock by it). */
static int m_wait(struct vio_drv_device *v, int timeout_ms)
{
	struct mini *m = mini_of(v);

	m->waits++;
	if (deliver(m))
		return 0;
	if (timeout_ms > 0)
		m->now += (uint64_t)timeout_ms * 1000000u;
	return -ETIMEDOUT;
}

static uint64_t m_now_ns(struct vio_drv_device *v)
{
	return mini_of(v)->now;
}

#define MINI_OPS                                        \
	.version = VIO_TRANSPORT_OPS_VERSION,           \
	.get_status = m_get_status,                     \
	.set_status = m_set_status,                     \
	.get_features = m_get_features,                 \
	.set_features = m_set_features,                 \
	.transport_features = m_transport_features,     \
	.config_read = m_config_read,                   \
	.config_write = m_config_write,                 \
	.config_generation = m_config_generation,       \
	.num_queues = m_num_queues,                     \
	.queue_max = m_queue_max,                       \
	.queue_setup = m_queue_setup,                   \
	.queue_enable = m_queue_enable,                 \
	.notify = m_notify,                             \
	.dma_alloc = m_dma_alloc,                       \
	.dma_free = m_dma_free,                         \
	.dma_addr = m_dma_addr,                         \
	.wait = m_wait

static const struct vio_transport_ops ops_clock = { MINI_OPS, .now_ns = m_now_ns };
static const struct vio_transport_ops ops_no_clock = { MINI_OPS };

static void m_interrupt(void *opaque, unsigned qi)
{
	((struct mini *)opaque)->irqs |= UINT64_C(1) << qi;
}

static void m_config_interrupt(void *opaque)
{
	((struct mini *)opaque)->config_irq = true;
}

static const struct vio_dev_transport mini_dev_transport = {
	.version = VIO_DEV_TRANSPORT_VERSION,
	.interrupt = m_interrupt,
	.config_interrupt = m_config_interrupt,
};

static void mini_init(struct mini *m, struct vio_dev_model *dev, bool clock)
{
	memset(m, 0, sizeof(*m));
	m->dma = (struct pool){ dma_mem, sizeof(dma_mem), 0, 0, 0 };
	vio_mem_init(&m->mem, &m->region, 1);
	(void)vio_mem_add(&m->mem, DMA_BASE, sizeof(dma_mem), dma_mem);
	m->dev = dev;
	m->now = UINT64_C(1) << 40;
	dev->mem = &m->mem;
	dev->transport = &mini_dev_transport;
	dev->transport_opaque = m;
	m->vdev.ops = clock ? &ops_clock : &ops_no_clock;
	m->vdev.transport = m;
	m->vdev.id = dev->device_id;
}

/* ------------------------------------------------------------------------ */
/* The cases                                                                */

static struct vio_bus bus;

/* Log lines go nowhere, but must be formatted without libc. */
static unsigned log_lines;

static void count_log(void *opaque, enum vio_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
	log_lines++;
}

static void format_case(void)
{
	char buf[96];

	case_start();
	vio_format(buf, sizeof(buf), "%s %u %d %llu %#x %zu %c%%", "virtio", 7u, -3,
		   18446744073709551615ull, 0xbeefu, (size_t)4096, 'k');
	CHECK(bytes_equal(buf, "virtio 7 -3 18446744073709551615 0xbeef 4096 k%", 48));
	case_end("vio_format without snprintf");
}

/* A deterministic entropy source, so the bytes can be checked. */
static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static ssize_t rng_source(void *opaque, void *buf, size_t len)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)xorshift(opaque);
	return (ssize_t)len;
}

static void rng_case(bool packed)
{
	static struct vio_rng_dev rd;
	static struct vio_rng_driver drv;
	struct vio_rng_dev_opts o = {
		.features = VIO_BIT(VIO_F_EVENT_IDX) | VIO_BIT(VIO_F_INDIRECT_DESC) |
			    (packed ? VIO_BIT(VIO_F_RING_PACKED) : 0),
		.queue_size = 64,
	};
	uint64_t state = 0x9e3779b97f4a7c15ull, expect_state = state;
	uint8_t got[1000], want[1000];
	struct mini m;

	case_start();
	o.source = rng_source;
	o.source_opaque = &state;
	/* No source and no OS to take one from. */
	{
		struct vio_rng_dev_opts none = o;

		none.source = NULL;
		CHECK(vio_rng_dev_init(&rd, &none) == -EINVAL);
		none = o;
		none.rate_bytes_per_sec = 1000;
		CHECK(vio_rng_dev_init(&rd, &none) == -EINVAL);
	}
	CHECK(vio_rng_dev_init(&rd, &o) == 0);
	mini_init(&m, &rd.dev, true);
	CHECK(vio_rng_drv_register(&bus, &drv, NULL) == 0);
	CHECK(vio_bus_add_device(&bus, &m.vdev) == 0);
	CHECK(m.vdev.driver == &drv.drv);
	CHECK(vio_drv_has_feature(&m.vdev, VIO_F_RING_PACKED) == packed);
	CHECK(vio_rng_drv_read(&m.vdev, got, sizeof(got), 1000) == (ssize_t)sizeof(got));
	rng_source(&expect_state, want, sizeof(want));
	CHECK(bytes_equal(got, want, sizeof(got)));
	CHECK(rd.stats.bytes >= sizeof(got));
	vio_bus_remove_device(&bus, &m.vdev);
	vio_rng_drv_unregister(&bus, &drv);
	vio_rng_dev_fini(&rd);
	CHECK(pool_clean(&m.dma));
	CHECK(pool_clean(&bus_pool));
	case_end(packed ? "rng driver reads from the rng device, packed ring" :
		 "rng driver reads from the rng device, split ring");
}

static void *dev_alloc(void *opaque, size_t size)
{
	return pool_alloc_aligned(opaque, size, 64);
}

static void dev_free(void *opaque, void *p, size_t size)
{
	pool_free(opaque, p, size);
}

static void blk_case(bool packed)
{
	static struct vio_blk_dev blk;
	static struct vio_blk_driver drv;
	const struct vio_blk_dev_opts o = {
		.backend = VIO_BLK_BACKEND_RAM,
		.size = 1u << 20,
		.queue_size = 64,
		.serial = "freestanding",
		.ring_features = VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_EVENT_IDX) |
				 VIO_BIT(VIO_F_INDIRECT_DESC) | VIO_BIT(VIO_F_IN_ORDER) |
				 (packed ? VIO_BIT(VIO_F_RING_PACKED) : 0),
		.log = count_log,
		.alloc = dev_alloc,
		.free = dev_free,
		.alloc_opaque = &dev_pool,
	};
	const struct vio_blk_drv_opts dopts = { .timeout_ms = 5000 };
	struct vio_blk_dev_opts bad = o;
	char id[VIO_BLK_ID_BYTES + 1];
	uint8_t *buf;
	struct mini m;

	case_start();
	CHECK(vio_blk_dev_init(&blk, NULL) == -EINVAL); /* no default backend */
	bad.free = NULL;        /* one hook without the other */
	CHECK(vio_blk_dev_init(&blk, &bad) == -EINVAL);
	bad = o;
	bad.alloc = NULL;
	bad.free = NULL;        /* none: no OS allocator here */
	CHECK(vio_blk_dev_init(&blk, &bad) == -EINVAL);
	bad = o;
	bad.backend = VIO_BLK_BACKEND_FILE;
	bad.fd = 0;
	CHECK(vio_blk_dev_init(&blk, &bad) == -ENOTSUP);
	CHECK(pool_clean(&dev_pool));
	CHECK(vio_blk_dev_init(&blk, &o) == 0);
	mini_init(&m, &blk.dev, true);
	CHECK(vio_blk_drv_register(&bus, &drv, &dopts) == 0);
	CHECK(vio_bus_add_device(&bus, &m.vdev) == 0);
	CHECK(m.vdev.driver == &drv.drv);
	CHECK(vio_drv_has_feature(&m.vdev, VIO_F_RING_PACKED) == packed);
	CHECK(vio_blk_drv_capacity(&m.vdev) == 2048);

	buf = vio_blk_drv_alloc_buffer(&m.vdev, 64 * 1024);
	CHECK(buf != NULL);
	if (buf) {
		for (unsigned i = 0; i < 64 * 1024; i++)
			buf[i] = (uint8_t)(i * 7 + 1);
		CHECK(vio_blk_drv_write(&m.vdev, 100, buf, 64 * 1024) == 0);
		memset(buf, 0, 64 * 1024);
		CHECK(vio_blk_drv_read(&m.vdev, 100, buf, 64 * 1024) == 0);
		for (unsigned i = 0; i < 64 * 1024; i++)
			if (buf[i] != (uint8_t)(i * 7 + 1)) {
				CHECK(!"the data read back");
				break;
			}
		CHECK(vio_blk_drv_flush(&m.vdev) == 0);
		CHECK(vio_blk_drv_discard(&m.vdev, 100, 8) == 0);
		CHECK(vio_blk_drv_read(&m.vdev, 100, buf, 4096) == 0);
		CHECK(all_zero(buf, 4096));
		/* past the end: the driver refuses before the device sees it */
		CHECK(vio_blk_drv_read(&m.vdev, 2047, buf, 1024) == -EINVAL);
		vio_blk_drv_free_buffer(&m.vdev, buf, 64 * 1024);
	}
	CHECK(vio_blk_drv_get_id(&m.vdev, id) == 0);
	CHECK(bytes_equal(id, "freestanding", 13));

	vio_bus_remove_device(&bus, &m.vdev);
	vio_blk_drv_unregister(&bus, &drv);
	vio_blk_dev_fini(&blk);
	CHECK(pool_clean(&dev_pool));
	CHECK(pool_clean(&m.dma));
	CHECK(pool_clean(&bus_pool));
	case_end(packed ? "blk driver against the blk device on RAM, packed ring" :
		 "blk driver against the blk device on RAM, split ring");
}

/* Nothing ever arrives: reads end on the deadline, measured by the
 * transport's clock or, without one, by the waits that timed out. */
static void console_case(bool clock)
{
	static struct vio_console_dev con;
	static struct vio_console_driver drv;
	struct vio_console_dev_opts o = { .in_fd = -1, .out_fd = -1, .queue_size = 16 };
	char buf[16];
	struct mini m;
	uint64_t t0;

	case_start();
	o.in_fd = 0;            /* no fds without an OS */
	CHECK(vio_console_dev_init(&con, &o) == -EBADF);
	o.in_fd = -1;
	CHECK(vio_console_dev_init(&con, &o) == 0);
	mini_init(&m, &con.dev, clock);
	CHECK(vio_console_drv_register(&bus, &drv, NULL) == 0);
	CHECK(vio_bus_add_device(&bus, &m.vdev) == 0);
	CHECK(m.vdev.driver == &drv.drv);
	CHECK(vio_console_drv_write(&m.vdev, "hello", 5, 100) == 5);
	CHECK(vio_console_drv_flush(&m.vdev, 100) == 0);
	CHECK(con.stats.tx_bytes == 5);
	CHECK(vio_console_drv_read(&m.vdev, buf, sizeof(buf), 0) == -EAGAIN);
	t0 = m.now;
	m.waits = 0;
	CHECK(vio_console_drv_read(&m.vdev, buf, sizeof(buf), 250) == -ETIMEDOUT);
	/* one wait of the whole 250 ms either way */
	CHECK(m.waits == 1);
	CHECK(!clock || m.now - t0 == UINT64_C(250000000));
	vio_bus_remove_device(&bus, &m.vdev);
	vio_console_drv_unregister(&bus, &drv);
	vio_console_dev_fini(&con);
	CHECK(pool_clean(&m.dma));
	CHECK(pool_clean(&bus_pool));
	case_end(clock ? "console read times out on the transport's clock" :
		 "console read times out by counting waits (no clock)");
}

static void balloon_case(void)
{
	static struct vio_balloon_dev bd;
	static struct vio_balloon_driver drv;
	struct vio_balloon_dev_opts cfg = {
		.features = VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_BALLOON_F_MUST_TELL_HOST),
		.log = count_log,
		.alloc = dev_alloc,
		.free = dev_free,
		.alloc_opaque = &dev_pool,
	};
	struct vio_balloon_dev_opts bad = cfg;
	struct mini m;

	case_start();
	bad.alloc = NULL;
	bad.free = NULL;
	CHECK(vio_balloon_dev_init(&bd, &bad) == -EINVAL);
	CHECK(vio_balloon_dev_init(&bd, &cfg) == 0);
	mini_init(&m, &bd.dev, true);
	/* its bookkeeping comes from the bus's pool */
	const struct vio_balloon_drv_opts balloon_opts = { .max_pages = 64 };
	CHECK(vio_balloon_drv_register(&bus, &drv, &balloon_opts) == 0);
	CHECK(vio_bus_add_device(&bus, &m.vdev) == 0);
	CHECK(m.vdev.driver == &drv.drv);
	CHECK(vio_balloon_dev_set_target(&bd, 16) == 0);
	CHECK(vio_balloon_drv_update(&m.vdev) == 0);
	CHECK(vio_balloon_drv_pages(&m.vdev) == 16);
	CHECK(vio_balloon_dev_pages(&bd) == 16);
	CHECK(vio_balloon_dev_actual(&bd) == 16);
	/* nothing to give back to without an OS */
	{
		struct vio_balloon_dev_counters c;

		vio_balloon_dev_counters(&bd, &c);
		CHECK(c.inflated == 16 && c.released_bytes == 0 && c.bad_pfns == 0);
	}
	CHECK(vio_balloon_dev_set_target(&bd, 4) == 0);
	CHECK(vio_balloon_drv_update(&m.vdev) == 0);
	CHECK(vio_balloon_dev_pages(&bd) == 4);
	vio_bus_remove_device(&bus, &m.vdev);
	vio_balloon_drv_unregister(&bus, &drv);
	vio_balloon_dev_fini(&bd);
	CHECK(pool_clean(&dev_pool));
	CHECK(pool_clean(&m.dma));
	CHECK(pool_clean(&bus_pool));
	case_end("balloon driver inflates and deflates the balloon device");
}

int fs_main(void)
{
	vio_bus_init(&bus, bus_alloc, bus_free, &bus_pool);
	bus.log = count_log;
	format_case();
	rng_case(false);
	rng_case(true);
	blk_case(false);
	blk_case(true);
	console_case(true);
	console_case(false);
	balloon_case();
	say("1..%u", ncases);
	return nfailed ? 1 : 0;
}
