/*
 * test_mmio_cross.c - libvio's virtio-mmio driver side against libvio's
 * virtio-mmio register model, in one process, on one thread.
 *
 * Each register access of the driver-side transport (src/transport/
 * mmio_drv.c) is a function call into the register model
 * (src/transport/mmio_dev.c), which drives a real libvio device. The
 * driver's DMA memory is one arena registered as the device's guest
 * memory at a device address (DEV_BASE) unrelated to its host address, so
 * every ring and buffer address goes through translation, as in a VM.
 * The interrupt line is a flag the model sets through its irq callback;
 * the platform's wait_irq reports it. Kicks run the device at once (no
 * notify callback), except where a test holds them back.
 *
 * Groups:
 *   devices   every device type (blk, rng, console, balloon, net) with its
 *             libvio driver, moving data both ways and checking it, in
 *             each variant: version 2 split, version 2 packed, version 1
 *             (legacy: split only)
 *   driver    the driver side against a misbehaving device (a hook
 *             rewrites what the model answers): bad magic, unknown
 *             version, no device, a reset that never completes,
 *             QueueNumMax 0 or not a power of two
 *   reset     a reset with buffers in flight: the device stops touching
 *             the rings, and the driver gets every buffer back
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "heap.h"

#include "vio/devices.h"
#include "vio/drivers.h"
#include "vio/transport/dma_arena.h"
#include "vio/transport/mmio.h"

#define DEV_BASE UINT64_C(0x240000000)  /* the arena's device address */
#define ARENA_BYTES (8u << 20)
#define ARENA_ALIGN 65536u
#define TIMEOUT_MS 5000

/* ======================================================================== */
/* Variants                                                                 */

struct variant {
	const char *name;
	unsigned version;
	bool packed;
};

static const struct variant variants[] = {
	{ "v2/split", 2, false },
	{ "v2/packed", 2, true },
	{ "v1/legacy", 1, false },
};

/* Ring features every device offers in variant v (the v1 model hides the
 * upper 32 bits, VERSION_1 and RING_PACKED among them). rng and console
 * take them without VERSION_1, which they always offer. */
static uint64_t ring_features(const struct variant *v)
{
	return VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_EVENT_IDX) | VIO_BIT(VIO_F_INDIRECT_DESC) |
	       (v->packed ? VIO_BIT(VIO_F_RING_PACKED) : 0);
}

static uint64_t ring_extra(const struct variant *v)
{
	return ring_features(v) & ~VIO_BIT(VIO_F_VERSION_1);
}

/* ======================================================================== */
/* The fixture: model, platform, driver-side transport, bus                 */

struct mx;
/* Rewrites what the model answered to a read (driver-group tests). */
typedef uint32_t read_hook_fn(struct mx *x, uint32_t off, uint32_t v);

struct mx {
	const struct variant *v;
	uint8_t *arena;
	struct vio__dma_arena dma;
	struct vio_mem mem;
	struct vio_mem_region region;
	struct vio_dev_model *d;
	struct vio_mmio_dev m;
	struct vio_mmio_drv t;
	struct vio_bus bus;
	bool m_up, t_up, added;
	bool line;
	bool hold_kicks;                /* the VMM keeps kicks for later */
	unsigned held[8];
	unsigned nheld;
	read_hook_fn *hook;
	bool no_clock;
	unsigned nlogs;
	char last_log[256];
};

static void x_log(void *opaque, enum vio_log_level level, const char *msg)
{
	struct mx *x = opaque;

	(void)level;
	x->nlogs++;
	snprintf(x->last_log, sizeof(x->last_log), "%s", msg);
}

static void x_irq(void *opaque, bool level)
{
	((struct mx *)opaque)->line = level;
}

static void x_kick(void *opaque, unsigned qi)
{
	struct mx *x = opaque;

	if (x->hold_kicks) {
		if (x->nheld < 8)
			x->held[x->nheld++] = qi;
		return;
	}
	vio_dev_notify(x->d, qi);
}

static uint32_t p_read(void *opaque, uint32_t off, unsigned width)
{
	struct mx *x = opaque;
	uint32_t v = vio_mmio_dev_read(&x->m, off, width);

	return x->hook ? x->hook(x, off, v) : v;
}

static void p_write(void *opaque, uint32_t off, unsigned width, uint32_t value)
{
	vio_mmio_dev_write(&((struct mx *)opaque)->m, off, width, value);
}

/* One thread: whatever the device raised is already on the line. */
static int p_wait_irq(void *opaque, int timeout_ms)
{
	(void)timeout_ms;
	return ((struct mx *)opaque)->line ? 1 : 0;
}

static void *p_dma_alloc(void *opaque, size_t size, size_t align, uint64_t *dma)
{
	return vio__dma_arena_alloc(&((struct mx *)opaque)->dma, size, align, dma);
}

static void p_dma_free(void *opaque, void *p, size_t size)
{
	vio__dma_arena_free(&((struct mx *)opaque)->dma, p, size);
}

static uint64_t p_dma_addr(void *opaque, const void *p)
{
	return vio__dma_arena_addr(&((struct mx *)opaque)->dma, p);
}

static uint64_t p_now_ns(void *opaque)
{
	struct timespec ts;

	(void)opaque;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct mx *mx_new(const struct variant *v)
{
	struct mx *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	x->v = v;
	x->arena = aligned_alloc(ARENA_ALIGN, ARENA_BYTES);
	assert_non_null(x->arena);
	memset(x->arena, 0, ARENA_BYTES);
	assert_int_equal(vio__dma_arena_init(&x->dma, x->arena, ARENA_BYTES, DEV_BASE, ARENA_ALIGN), 0);
	vio_mem_init(&x->mem, &x->region, 1);
	assert_int_equal(vio_mem_add(&x->mem, DEV_BASE, ARENA_BYTES, x->arena), 0);
	vio_bus_init(&x->bus, vt_heap_alloc, vt_heap_free, NULL);
	x->bus.log = x_log;
	x->bus.log_opaque = x;
	return x;
}

/* Puts the model in front of d and the driver side in front of the model;
 * returns vio_mmio_drv_init()'s result. */
static int mx_attach(struct mx *x, struct vio_dev_model *d)
{
	struct vio_mmio_dev_opts mo = { .version = x->v->version, .irq = x_irq, .notify = x_kick,
					.opaque = x };
	struct vio_mmio_platform p = {
		.read = p_read, .write = p_write, .wait_irq = p_wait_irq,
		.dma_alloc = p_dma_alloc, .dma_free = p_dma_free, .dma_addr = p_dma_addr,
		.now_ns = x->no_clock ? NULL : p_now_ns, .opaque = x,
	};
	struct vio_mmio_drv_opts to = { .reset_timeout_ms = 50, .log = x_log, .log_opaque = x };
	int r;

	x->d = d;
	d->mem = &x->mem;
	d->log = x_log;
	d->log_opaque = x;
	assert_int_equal(vio_mmio_dev_init(&x->m, d, &mo), 0);
	x->m_up = true;
	r = vio_mmio_drv_init(&x->t, &p, &to);
	x->t_up = r == 0;
	return r;
}

/* The device on the bus, bound to the driver registered before. */
static struct vio_drv_device *mx_add(struct mx *x)
{
	assert_int_equal(vio_bus_add_device(&x->bus, &x->t.vdev), 0);
	x->added = true;
	assert_non_null(x->t.vdev.driver);
	/* The variant's layout and interface are what was negotiated. */
	assert_int_equal(vio_drv_has_feature(&x->t.vdev, VIO_F_RING_PACKED), x->v->packed);
	assert_int_equal(x->t.vdev.legacy, x->v->version == 1);
	assert_int_equal(x->d->legacy, x->v->version == 1);
	return &x->t.vdev;
}

/* Takes the device off the bus and the transport off the device. */
static void mx_detach(struct mx *x)
{
	if (x->added)
		vio_bus_remove_device(&x->bus, &x->t.vdev);
	x->added = false;
	if (x->t_up)
		vio_mmio_drv_fini(&x->t);
	x->t_up = false;
	if (x->m_up)
		vio_mmio_dev_fini(&x->m);
	x->m_up = false;
}

static void mx_free(struct mx *x)
{
	mx_detach(x);
	vio__dma_arena_fini(&x->dma);
	free(x->arena);
	free(x);
}

static const struct variant *V(void **state)
{
	return *state;
}

/* ======================================================================== */
/* Devices                                                                  */

static ssize_t rng_source(void *opaque, void *buf, size_t len)
{
	(void)opaque;
	memset(buf, 0xa5, len);
	return (ssize_t)len;
}

static void rng_reads(void **state)
{
	struct mx *x = mx_new(V(state));
	struct vio_rng_dev_opts o = { .features = ring_extra(x->v), .legacy_ok = true,
				      .source = rng_source };
	struct vio_rng_dev rng;
	struct vio_rng_driver drv;
	uint8_t buf[10001];

	assert_int_equal(vio_rng_dev_init(&rng, &o), 0);
	assert_int_equal(vio_rng_drv_register(&x->bus, &drv, NULL), 0);
	assert_int_equal(mx_attach(x, &rng.dev), 0);
	assert_int_equal(x->t.nqueues, 1);
	mx_add(x);
	for (size_t n = 1; n < sizeof(buf); n *= 10) {
		memset(buf, 0, sizeof(buf));
		assert_int_equal(vio_rng_drv_read(&x->t.vdev, buf, n, TIMEOUT_MS), (ssize_t)n);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(buf[i], 0xa5);
		assert_int_equal(buf[n], 0);
	}
	if (x->m.ignored)
		fail_msg("%llu accesses dropped, the last: %s", (unsigned long long)x->m.ignored,
			 x->last_log);
	mx_detach(x);
	vio_rng_drv_unregister(&x->bus, &drv);
	mx_free(x);
}

static void blk_io(void **state)
{
	enum { DISK = 1u << 20 };
	struct mx *x = mx_new(V(state));
	uint8_t *ram = calloc(1, DISK);
	struct vio_blk_dev_opts o = { .backend = VIO_BLK_BACKEND_RAM, .ram = ram, .size = DISK,
				      .ring_features = ring_features(x->v), .legacy_ok = true,
				      .serial = "mmio-cross" };
	struct vio_blk_dev *blk = calloc(1, sizeof(*blk));
	struct vio_blk_driver drv;
	struct vio_drv_device *dev;
	uint8_t *w, *r;
	char id[VIO_BLK_ID_BYTES + 1] = { 0 };

	assert_non_null(ram);
	assert_non_null(blk);
	assert_int_equal(vio_blk_dev_init(blk, &o), 0);
	assert_int_equal(vio_blk_drv_register(&x->bus, &drv, &(struct vio_blk_drv_opts){
						      .timeout_ms = TIMEOUT_MS }), 0);
	assert_int_equal(mx_attach(x, &blk->dev), 0);
	dev = mx_add(x);
	assert_int_equal(vio_blk_drv_capacity(dev), DISK / 512);
	w = vio_blk_drv_alloc_buffer(dev, 16384);
	r = vio_blk_drv_alloc_buffer(dev, 16384);
	assert_non_null(w);
	assert_non_null(r);
	for (size_t i = 0; i < 16384; i++)
		w[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(vio_blk_drv_write(dev, 16, w, 16384), 0);
	/* In the backing store itself, and back through virtio. */
	assert_memory_equal(ram + 16 * 512, w, 16384);
	assert_int_equal(vio_blk_drv_read(dev, 16, r, 16384), 0);
	assert_memory_equal(r, w, 16384);
	assert_int_equal(vio_blk_drv_flush(dev), 0);
	assert_int_equal(vio_blk_drv_discard(dev, 16, 8), 0);
	assert_int_equal(vio_blk_drv_get_id(dev, id), 0);
	assert_string_equal(id, "mmio-cross");
	assert_int_equal(x->m.ignored, 0);
	vio_blk_drv_free_buffer(dev, w, 16384);
	vio_blk_drv_free_buffer(dev, r, 16384);
	mx_detach(x);
	vio_blk_drv_unregister(&x->bus, &drv);
	vio_blk_dev_fini(blk);
	free(blk);
	free(ram);
	mx_free(x);
}

static void console_both_ways(void **state)
{
	struct mx *x = mx_new(V(state));
	int in[2], out[2];
	struct vio_console_dev *con = calloc(1, sizeof(*con));
	struct vio_console_driver drv;
	struct vio_drv_device *dev;
	char buf[64] = { 0 };
	ssize_t n = 0;

	assert_non_null(con);
	assert_int_equal(pipe2(in, O_NONBLOCK | O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_NONBLOCK | O_CLOEXEC), 0);
	assert_int_equal(vio_console_dev_init(con, &(struct vio_console_dev_opts){
						      .in_fd = in[0], .out_fd = out[1],
						      .features = ring_extra(x->v),
						      .legacy_ok = true }), 0);
	assert_int_equal(vio_console_drv_register(&x->bus, &drv, NULL), 0);
	assert_int_equal(mx_attach(x, &con->dev), 0);
	dev = mx_add(x);
	/* Driver to device: on the device's out_fd. */
	assert_int_equal(vio_console_drv_write(dev, "to the host", 11, TIMEOUT_MS), 11);
	assert_int_equal(vio_console_drv_flush(dev, TIMEOUT_MS), 0);
	assert_int_equal(read(out[0], buf, sizeof(buf)), 11);
	assert_memory_equal(buf, "to the host", 11);
	/* Device to driver: the VMM sees in_fd readable and tells the device. */
	assert_int_equal(write(in[1], "to the guest", 12), 12);
	vio_console_dev_input_ready(con);
	memset(buf, 0, sizeof(buf));
	for (int tries = 0; tries < 100 && n < 12; tries++) {
		ssize_t r = vio_console_drv_read(dev, buf + n, sizeof(buf) - (size_t)n, 100);

		if (r > 0)
			n += r;
	}
	assert_int_equal(n, 12);
	assert_memory_equal(buf, "to the guest", 12);
	mx_detach(x);
	vio_console_drv_unregister(&x->bus, &drv);
	vio_console_dev_fini(con);
	free(con);
	close(in[0]);
	close(in[1]);
	close(out[0]);
	close(out[1]);
	mx_free(x);
}

static void balloon_to_target(void **state)
{
	struct mx *x = mx_new(V(state));
	struct vio_balloon_dev *bd = calloc(1, sizeof(*bd));
	struct vio_balloon_driver drv;
	struct vio_drv_device *dev;

	assert_non_null(bd);
	assert_int_equal(vio_balloon_dev_init(bd, &(struct vio_balloon_dev_opts){
						      .features = ring_features(x->v),
						      .legacy_ok = true }), 0);
	assert_int_equal(vio_balloon_drv_register(&x->bus, &drv, &(struct vio_balloon_drv_opts){
							  .timeout_ms = TIMEOUT_MS }), 0);
	assert_int_equal(mx_attach(x, &bd->dev), 0);
	dev = mx_add(x);
	/* The target reaches the driver as a config interrupt. */
	assert_int_equal(vio_balloon_dev_set_target(bd, 48), 0);
	assert_true(vio_mmio_dev_int_status(&x->m) & VIO_MMIO_INT_CONFIG);
	assert_int_equal(vio_drv_wait(dev, 0), 0);
	assert_false(vio_mmio_dev_int_status(&x->m) & VIO_MMIO_INT_CONFIG);
	assert_int_equal(vio_balloon_drv_target(dev), 48);
	assert_int_equal(vio_balloon_drv_update(dev), 0);
	assert_int_equal(vio_balloon_drv_pages(dev), 48);
	assert_int_equal(vio_balloon_dev_pages(bd), 48);
	assert_int_equal(vio_balloon_dev_actual(bd), 48);
	/* And back down. */
	assert_int_equal(vio_balloon_dev_set_target(bd, 5), 0);
	assert_int_equal(vio_drv_wait(dev, 0), 0);
	assert_int_equal(vio_balloon_drv_update(dev), 0);
	assert_int_equal(vio_balloon_drv_pages(dev), 5);
	assert_int_equal(vio_balloon_dev_pages(bd), 5);
	mx_detach(x);
	vio_balloon_drv_unregister(&x->bus, &drv);
	vio_balloon_dev_fini(bd);
	free(bd);
	mx_free(x);
}

static void net_frames_both_ways(void **state)
{
	struct mx *x = mx_new(V(state));
	struct vio_net_dev *net = calloc(1, sizeof(*net));
	struct vio_net_reflect *refl = calloc(1, sizeof(*refl));
	struct vio_net_driver drv;
	struct vio_drv_device *dev;
	static const uint8_t a[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	static const uint8_t b[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0b };
	uint8_t tx[8][128], rx[8][2048];
	struct vio_net_drv_frame f[8];
	unsigned got = 0;

	assert_non_null(net);
	assert_non_null(refl);
	assert_int_equal(vio_net_dev_init(net, &(struct vio_net_dev_opts){
						  .ring_features = ring_features(x->v),
						  .legacy_ok = true,
						  .port_ops = &vio_net_reflect_ops,
						  .port = refl }), 0);
	vio_net_reflect_init(refl, net);
	assert_int_equal(vio_net_drv_register(&x->bus, &drv, &(struct vio_net_drv_opts){
						      .timeout_ms = TIMEOUT_MS }), 0);
	assert_int_equal(mx_attach(x, &net->dev), 0);
	dev = mx_add(x);
	for (unsigned i = 0; i < 8; i++) {
		memcpy(tx[i], a, 6);      /* to the device's own MAC */
		memcpy(tx[i] + 6, b, 6);
		tx[i][12] = 0x88;
		tx[i][13] = 0xb5;
		for (unsigned k = 14; k < sizeof(tx[i]); k++)
			tx[i][k] = (uint8_t)(i * 31 + k);
		f[i] = (struct vio_net_drv_frame){ .data = tx[i], .len = 60 + 8 * i };
	}
	assert_int_equal(vio_net_drv_tx_burst(dev, 0, f, 8), 8);
	for (int tries = 0; tries < 100 && got < 8; tries++) {
		int r;

		for (unsigned i = 0; i < 8; i++)
			f[i] = (struct vio_net_drv_frame){ .data = rx[i], .cap = sizeof(rx[i]) };
		r = vio_net_drv_rx_burst(dev, 0, f, 8 - got);
		assert_true(r >= 0);
		for (int i = 0; i < r; i++, got++) {
			/* Reflected: the addresses swapped, the rest as sent. */
			assert_int_equal(f[i].len, 60 + 8 * got);
			assert_memory_equal(rx[i], tx[got] + 6, 6);
			assert_memory_equal(rx[i] + 6, tx[got], 6);
			assert_memory_equal(rx[i] + 12, tx[got] + 12, f[i].len - 12);
		}
		if (got < 8)
			(void)vio_drv_wait(dev, 0);
	}
	assert_int_equal(got, 8);
	assert_true(vio_net_drv_tx_reap(dev, 0) >= 0);
	mx_detach(x);
	vio_net_drv_unregister(&x->bus, &drv);
	vio_net_dev_fini(net);
	free(refl);
	free(net);
	mx_free(x);
}

/* ======================================================================== */
/* Reset with buffers in flight                                             */

struct raw {
	struct vio_driver drv;
	uint32_t ids[2];
	struct vio_drv_vq vq;
};

static int raw_probe(struct vio_drv_device *dev)
{
	struct raw *r = (struct raw *)dev->driver;
	struct vio_drv_vq_info info = { .size = 16 };

	return vio_drv_find_vqs(dev, 1, &info, &r->vq);
}

static void raw_remove(struct vio_drv_device *dev)
{
	vio_drv_reset(dev);
	vio_drv_del_vqs(dev);
}

/* The guest posts buffers and kicks; the VMM holds the kicks (its I/O
 * thread has not run yet) when the guest resets the device. The kicks the
 * VMM then delivers must not touch the rings, and the driver gets every
 * buffer back. */
static void reset_with_buffers_in_flight(void **state)
{
	struct mx *x = mx_new(V(state));
	struct vio_rng_dev rng;
	struct raw raw = { .drv = { .name = "raw", .features = ~UINT64_C(0),
				    .legacy_features = ~UINT64_C(0), .probe = raw_probe,
				    .remove = raw_remove } };
	uint8_t *bufs, *ring_copy;
	uint64_t dma;
	bool seen[8] = { false };
	void *tok;
	unsigned n = 0;

	raw.ids[0] = VIO_ID_RNG;
	raw.drv.ids = raw.ids;
	assert_int_equal(vio_rng_dev_init(&rng, &(struct vio_rng_dev_opts){
						  .features = ring_extra(x->v),
						  .legacy_ok = true, .source = rng_source }), 0);
	assert_int_equal(vio_bus_register_driver(&x->bus, &raw.drv), 0);
	assert_int_equal(mx_attach(x, &rng.dev), 0);
	mx_add(x);
	bufs = vio_drv_dma_alloc(&x->t.vdev, 8 * 64, 64, &dma);
	assert_non_null(bufs);
	x->hold_kicks = true;
	/* Four buffers served before the reset (used, not yet reaped)... */
	for (unsigned i = 0; i < 4; i++) {
		struct vio_sg sg = { dma + 64 * i, 64 };

		assert_int_equal(vio_drvq_add(&raw.vq.q, NULL, 0, &sg, 1, bufs + 64 * i), 0);
	}
	vio_drv_vq_kick(&raw.vq);
	assert_int_equal(x->nheld, 1);
	x->nheld = 0;
	vio_dev_notify(x->d, 0);
	assert_true(vio_drvq_has_used(&raw.vq.q));
	assert_int_equal(bufs[0], 0xa5);
	/* ... and four posted and kicked, the kick still with the VMM. */
	for (unsigned i = 4; i < 8; i++) {
		struct vio_sg sg = { dma + 64 * i, 64 };

		assert_int_equal(vio_drvq_add(&raw.vq.q, NULL, 0, &sg, 1, bufs + 64 * i), 0);
	}
	vio_drv_vq_kick(&raw.vq);
	assert_true(x->nheld >= 1);

	vio_drv_reset(&x->t.vdev);
	assert_int_equal(vio_drv_get_status(&x->t.vdev), 0);
	assert_false(vio_dev_queue_live(x->d, 0));
	/* The held kicks arrive now: nothing in guest memory may change. */
	ring_copy = malloc(ARENA_BYTES);
	assert_non_null(ring_copy);
	memcpy(ring_copy, x->arena, ARENA_BYTES);
	for (unsigned i = 0; i < x->nheld; i++)
		vio_dev_notify(x->d, x->held[i]);
	assert_memory_equal(ring_copy, x->arena, ARENA_BYTES);
	free(ring_copy);
	for (unsigned i = 4 * 64; i < 8 * 64; i++)
		assert_int_equal(bufs[i], 0);
	/* Every buffer comes back to the driver, once. */
	while ((tok = vio_drvq_detach_unused(&raw.vq.q)) != NULL) {
		unsigned i = (unsigned)(((uint8_t *)tok - bufs) / 64);

		assert_true(i < 8);
		assert_false(seen[i]);
		seen[i] = true;
		n++;
	}
	assert_int_equal(n, 8);
	vio_drv_dma_free(&x->t.vdev, bufs, 8 * 64);
	mx_detach(x);
	vio_bus_unregister_driver(&x->bus, &raw.drv);
	mx_free(x);
}

/* ======================================================================== */
/* The driver side against a misbehaving device                             */

static uint32_t hook_magic(struct mx *x, uint32_t off, uint32_t v)
{
	(void)x;
	return off == VIO_MMIO_MAGIC_VALUE ? 0x12345678u : v;
}

static uint32_t hook_version3(struct mx *x, uint32_t off, uint32_t v)
{
	(void)x;
	return off == VIO_MMIO_VERSION ? 3 : v;
}

static uint32_t hook_version0(struct mx *x, uint32_t off, uint32_t v)
{
	(void)x;
	return off == VIO_MMIO_VERSION ? 0 : v;
}

static uint32_t hook_no_device(struct mx *x, uint32_t off, uint32_t v)
{
	(void)x;
	return off == VIO_MMIO_DEVICE_ID ? 0 : v;
}

static uint32_t hook_stuck_status(struct mx *x, uint32_t off, uint32_t v)
{
	(void)x;
	return off == VIO_MMIO_STATUS ? v | VIO_STATUS_ACKNOWLEDGE : v;
}

static uint32_t hook_numax_100(struct mx *x, uint32_t off, uint32_t v)
{
	(void)x;
	return off == VIO_MMIO_QUEUE_NUM_MAX && v ? 100 : v;
}

static uint32_t hook_numax_0(struct mx *x, uint32_t off, uint32_t v)
{
	(void)x;
	return off == VIO_MMIO_QUEUE_NUM_MAX ? 0 : v;
}

/* The transport refuses the device at init with -ENODEV and says why. */
static void check_refused(read_hook_fn *hook, const char *why)
{
	struct mx *x = mx_new(&variants[0]);
	struct vio_rng_dev rng;

	assert_int_equal(vio_rng_dev_init(&rng, &(struct vio_rng_dev_opts){
						  .source = rng_source }), 0);
	x->hook = hook;
	assert_int_equal(mx_attach(x, &rng.dev), -ENODEV);
	assert_non_null(strstr(x->last_log, why));
	mx_free(x);
}

static void drv_bad_magic(void **state)
{
	(void)state;
	check_refused(hook_magic, "magic 0x12345678");
}

static void drv_unknown_version(void **state)
{
	(void)state;
	check_refused(hook_version3, "version 3");
	check_refused(hook_version0, "version 0");
}

static void drv_no_device(void **state)
{
	(void)state;
	check_refused(hook_no_device, "device id 0");
}

/* A reset that never reads back 0: a bounded wait, with a clock and
 * without one. */
static void drv_reset_never_completes(void **state)
{
	(void)state;
	for (int clock = 0; clock < 2; clock++) {
		struct mx *x = mx_new(&variants[0]);
		struct vio_rng_dev rng;
		uint64_t t0 = p_now_ns(NULL);

		assert_int_equal(vio_rng_dev_init(&rng, &(struct vio_rng_dev_opts){
							  .source = rng_source }), 0);
		x->hook = hook_stuck_status;
		x->no_clock = !clock;
		assert_int_equal(mx_attach(x, &rng.dev), -ETIMEDOUT);
		assert_non_null(strstr(x->last_log, "did not finish its reset"));
		assert_true(x->t.reset_failed);
		/* 50 ms asked; well under a few seconds either way. */
		assert_true(p_now_ns(NULL) - t0 < UINT64_C(5000000000));
		mx_free(x);
	}
}

/* The same once bound: vio_drv_reset() returns, and says so. */
static void drv_reset_hangs_later(void **state)
{
	struct mx *x = mx_new(&variants[0]);
	struct vio_rng_dev rng;
	struct vio_rng_driver drv;

	(void)state;
	assert_int_equal(vio_rng_dev_init(&rng, &(struct vio_rng_dev_opts){
						  .features = ring_extra(x->v), .source = rng_source }), 0);
	assert_int_equal(vio_rng_drv_register(&x->bus, &drv, NULL), 0);
	assert_int_equal(mx_attach(x, &rng.dev), 0);
	mx_add(x);
	x->hook = hook_stuck_status;
	vio_drv_reset(&x->t.vdev);
	assert_true(x->t.reset_failed);
	assert_non_null(strstr(x->last_log, "did not finish its reset"));
	x->hook = NULL;
	mx_detach(x);
	vio_rng_drv_unregister(&x->bus, &drv);
	mx_free(x);
}

/* QueueNumMax 100: a split ring takes 64 (logged); a packed one 100. */
static void drv_queue_max_not_power_of_two(void **state)
{
	(void)state;
	for (size_t vi = 0; vi < 3; vi++) {
		struct mx *x = mx_new(&variants[vi]);
		struct vio_rng_dev rng;
		struct vio_rng_driver drv;
		uint8_t buf[100];

		assert_int_equal(vio_rng_dev_init(&rng, &(struct vio_rng_dev_opts){
							  .features = ring_extra(x->v),
							  .legacy_ok = true, .source = rng_source }), 0);
		assert_int_equal(vio_rng_drv_register(&x->bus, &drv, NULL), 0);
		x->hook = hook_numax_100;
		assert_int_equal(mx_attach(x, &rng.dev), 0);
		mx_add(x);
		assert_int_equal(rng.dev.queues[0].size, x->v->packed ? 100 : 64);
		if (!x->v->packed)
			assert_non_null(strstr(x->last_log, "not a power of two"));
		assert_int_equal(vio_rng_drv_read(&x->t.vdev, buf, sizeof(buf), TIMEOUT_MS), 100);
		mx_detach(x);
		vio_rng_drv_unregister(&x->bus, &drv);
		mx_free(x);
	}
}

/* QueueNumMax 0 means no queue: the transport counts none, and the
 * driver, which needs one, does not bind. */
static void drv_queue_absent(void **state)
{
	struct mx *x = mx_new(&variants[0]);
	struct vio_rng_dev rng;
	struct vio_rng_driver drv;

	(void)state;
	assert_int_equal(vio_rng_dev_init(&rng, &(struct vio_rng_dev_opts){
						  .features = ring_extra(x->v), .source = rng_source }), 0);
	assert_int_equal(vio_rng_drv_register(&x->bus, &drv, NULL), 0);
	x->hook = hook_numax_0;
	assert_int_equal(mx_attach(x, &rng.dev), 0);
	assert_int_equal(x->t.nqueues, 0);
	assert_int_equal(vio_bus_add_device(&x->bus, &x->t.vdev), 0);
	x->added = true;
	assert_null(x->t.vdev.driver);
	assert_true(vio_drv_get_status(&x->t.vdev) & VIO_STATUS_FAILED);
	mx_detach(x);
	vio_rng_drv_unregister(&x->bus, &drv);
	mx_free(x);
}

/* ======================================================================== */
/* Registration                                                             */

int main(void)
{
	static const struct {
		const char *name;
		CMUnitTestFunction fn;
	} per_variant[] = {
		{ "blk", blk_io },
		{ "rng", rng_reads },
		{ "console", console_both_ways },
		{ "balloon", balloon_to_target },
		{ "net", net_frames_both_ways },
		{ "reset_in_flight", reset_with_buffers_in_flight },
	};
	static const struct CMUnitTest once[] = {
		cmocka_unit_test(drv_bad_magic),
		cmocka_unit_test(drv_unknown_version),
		cmocka_unit_test(drv_no_device),
		cmocka_unit_test(drv_reset_never_completes),
		cmocka_unit_test(drv_reset_hangs_later),
		cmocka_unit_test(drv_queue_max_not_power_of_two),
		cmocka_unit_test(drv_queue_absent),
	};
	enum { NV = sizeof(variants) / sizeof(variants[0]),
	       NP = sizeof(per_variant) / sizeof(per_variant[0]),
	       NO = sizeof(once) / sizeof(once[0]) };
	static struct CMUnitTest tests[NV * NP + NO];
	static char names[NV * NP][64];
	size_t n = 0;

	for (size_t p = 0; p < NP; p++) {
		for (size_t v = 0; v < NV; v++) {
			snprintf(names[n], sizeof(names[n]), "%s/%s", per_variant[p].name,
				 variants[v].name);
			tests[n] = (struct CMUnitTest){ .name = names[n],
							.test_func = per_variant[p].fn,
							.initial_state = (void *)&variants[v] };
			n++;
		}
	}
	for (size_t i = 0; i < NO; i++)
		tests[n++] = once[i];
	return cmocka_run_group_tests_name("mmio_cross", tests, NULL, NULL);
}
