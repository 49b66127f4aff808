/*
 * fuzz_pci_drv.c - libFuzzer target: the driver-side virtio-pci transport
 * (src/transport/pci.c) against a function whose every register says
 * what the input says.
 *
 * The platform is the input, XORed onto a well-formed template (a modern
 * and legacy rng function: the capabilities and BAR 4 of the unit tests'
 * fake, an I/O BAR 0), so an input of zeros is a device that works and
 * every byte the fuzzer sets bends it: config space is the first 256 bytes (with
 * the vendor id forced to virtio's and the device id to a modern rng,
 * a transitional rng or, for legacy, the same with cfg.legacy, so every
 * run reaches the capability walk or the legacy path), the six BAR
 * lengths follow. Then the BARs behave one of two ways:
 *  - stream: every BAR read returns the next bytes of the input (zero
 *    past its end), writes are dropped: any register says anything, at
 *    any time;
 *  - memory: the BARs are memory, their bytes the rest of the input in
 *    turn; a write stores, a read returns what is there. Registers then
 *    behave well enough (status reads back what was written, so a reset
 *    completes and FEATURES_OK sticks) for a driver to bind, and every
 *    value the device reports (queue counts and sizes, notify offsets,
 *    features) is still the input's.
 * irq_enable and irq_wait take the next input bytes either way. Then: vio_pci_drv_init(); on success the rng driver binds
 * through the bus, reads a few bytes with a short timeout, and the device
 * is removed and finied. The clock moves 1 ms per look, so every bounded
 * wait ends.
 *
 * Input (little-endian; past the end every read gives zero):
 *   u8       personality: % 3: modern, transitional, transitional driven legacy;
 *            bit 2: poll instead of interrupts; bit 3: stream (else memory)
 *   256 x u8 config space, XOR the template (bytes 0..3 then set to the ids)
 *   6 x u32  BAR lengths, XOR the template (bit 31: I/O space; length =
 *            value & 0xffff)
 *   ...      stream: register reads, irq_enable and irq_wait results;
 *            memory: BAR 0, 1, ... contents, XOR the template (each
 *            bar_len bytes), then the
 *            irq_enable and irq_wait results
 *
 * The harness traps when the transport makes a BAR access outside
 * [0, bar_len) of a present BAR, or of a width other than 1, 2, 4, or a
 * config access outside config space. ASan and UBSan catch the rest.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vio/drivers/rng.h"
#include "vio/transport/dma_arena.h"
#include "vio/transport/pci.h"
#include "vio/spec/pci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

#define ARENA (256u << 10)
#define DMA_BASE UINT64_C(0x10000000)

struct fz {
	const uint8_t *p;
	size_t n, off;
	uint8_t cfg[VIO_PCI_CFG_SPACE_SIZE];
	uint64_t bar_len[VIO_PCI_NUM_BARS];
	bool bar_io[VIO_PCI_NUM_BARS];
	uint64_t now;
	bool stream;
	struct vio__dma_arena dma;
};

#define BAR_MAX 0x10000u
static uint8_t barmem[VIO_PCI_NUM_BARS][BAR_MAX];

static uint8_t *arena;

/* The template: a transitional rng (modern capabilities into BAR 4, the
 * legacy layout in I/O BAR 0). */
static uint8_t tcfg[VIO_PCI_CFG_SPACE_SIZE];
static uint32_t tbar_len[VIO_PCI_NUM_BARS];
static uint8_t tbar[VIO_PCI_NUM_BARS][0x4000];

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void tcap(unsigned pos, unsigned next, unsigned len, unsigned type, uint32_t off,
		 uint32_t size)
{
	tcfg[pos] = VIO_PCI_CAP_ID_VNDR;
	tcfg[pos + 1] = (uint8_t)next;
	tcfg[pos + 2] = (uint8_t)len;
	tcfg[pos + 3] = (uint8_t)type;
	tcfg[pos + 4] = 4;
	put32(&tcfg[pos + 8], off);
	put32(&tcfg[pos + 12], size);
}

static void template_init(void)
{
	uint8_t *c = tbar[4];

	put16(&tcfg[VIO_PCI_CFG_STATUS], VIO_PCI_STATUS_CAP_LIST);
	tcfg[VIO_PCI_CFG_CAP_PTR] = 0x40;
	tcap(0x40, 0x50, 16, VIO_PCI_CAP_COMMON_CFG, 0, VIO_PCI_COMMON_CFG_SIZE);
	tcap(0x50, 0x64, 20, VIO_PCI_CAP_NOTIFY_CFG, 0x3000, 0x1000);
	put32(&tcfg[0x50 + 16], 4);
	tcap(0x64, 0x74, 16, VIO_PCI_CAP_ISR_CFG, 0x1000, 4);
	tcap(0x74, 0, 16, VIO_PCI_CAP_DEVICE_CFG, 0x2000, 16);
	tbar_len[0] = 0x40u | (1u << 31);
	tbar_len[4] = 0x4000;
	/* Memory registers: DF reads 1 for both halves (bit 0 and VERSION_1),
	 * one queue of 8. */
	put32(&c[VIO_PCI_COMMON_DF], 1);
	put16(&c[VIO_PCI_COMMON_NUMQ], 1);
	put16(&c[VIO_PCI_COMMON_Q_SIZE], 8);
	put16(&tbar[0][VIO_PCI_LEGACY_QUEUE_NUM], 8);
}

static uint64_t take(struct fz *f, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)(f->off < f->n ? f->p[f->off++] : 0) << (8 * i);
	return v;
}

static int p_cfg_read(void *o, unsigned off, void *buf, unsigned len)
{
	struct fz *f = o;

	CHECK(len == 1 || len == 2 || len == 4);
	CHECK(off < VIO_PCI_CFG_SPACE_SIZE && len <= VIO_PCI_CFG_SPACE_SIZE - off);
	memcpy(buf, &f->cfg[off], len);
	return 0;
}

static int p_cfg_write(void *o, unsigned off, const void *buf, unsigned len)
{
	(void)o;
	(void)buf;
	CHECK(off < VIO_PCI_CFG_SPACE_SIZE && len <= VIO_PCI_CFG_SPACE_SIZE - off);
	return 0;
}

static uint64_t p_bar_len(void *o, unsigned bar, bool *io)
{
	struct fz *f = o;

	CHECK(bar < VIO_PCI_NUM_BARS);
	if (io)
		*io = f->bar_io[bar];
	return f->bar_len[bar];
}

static void check_access(struct fz *f, unsigned bar, uint64_t off, unsigned width)
{
	CHECK(width == 1 || width == 2 || width == 4);
	CHECK(bar < VIO_PCI_NUM_BARS && f->bar_len[bar] != 0);
	CHECK(off <= f->bar_len[bar] && width <= f->bar_len[bar] - off);
}

static uint64_t p_read(void *o, unsigned bar, uint64_t off, unsigned width)
{
	struct fz *f = o;

	uint64_t v = 0;

	check_access(f, bar, off, width);
	if (f->stream)
		return take(f, width);
	memcpy(&v, &barmem[bar][off], width);
	return v;
}

static void p_write(void *o, unsigned bar, uint64_t off, unsigned width, uint64_t v)
{
	struct fz *f = o;

	check_access(f, bar, off, width);
	if (!f->stream)
		memcpy(&barmem[bar][off], &v, width);
}

static int p_irq_enable(void *o, unsigned nvec)
{
	int r = (int)(int8_t)take(o, 1);

	/* Anything from an error to more vectors than asked. */
	(void)nvec;
	return r < 0 ? -ENOTSUP : r;
}

static void p_irq_disable(void *o)
{
	(void)o;
}

static int64_t p_irq_wait(void *o, int timeout_ms)
{
	struct fz *f = o;
	int64_t m = (int64_t)take(f, 8);

	f->now += (uint64_t)(timeout_ms > 0 ? timeout_ms : 1) * 1000000u;
	return m;
}

static void *p_dma_alloc(void *o, size_t size, size_t align, uint64_t *dma)
{
	return vio__dma_arena_alloc(&((struct fz *)o)->dma, size, align, dma);
}

static void p_dma_free(void *o, void *p, size_t size)
{
	vio__dma_arena_free(&((struct fz *)o)->dma, p, size);
}

static uint64_t p_dma_addr(void *o, const void *p)
{
	return vio__dma_arena_addr(&((struct fz *)o)->dma, p);
}

/* 1 ms per look: bounded waits end within their bound's number of looks. */
static uint64_t p_now_ns(void *o)
{
	struct fz *f = o;

	f->now += 1000000u;
	return f->now;
}

static void p_delay_us(void *o, unsigned us)
{
	((struct fz *)o)->now += (uint64_t)us * 1000u;
}

static const struct vio_pci_platform platform = {
	.version = VIO_PCI_PLATFORM_VERSION,
	.cfg_read = p_cfg_read,
	.cfg_write = p_cfg_write,
	.bar_len = p_bar_len,
	.read = p_read,
	.write = p_write,
	.irq_enable = p_irq_enable,
	.irq_disable = p_irq_disable,
	.irq_wait = p_irq_wait,
	.dma_alloc = p_dma_alloc,
	.dma_free = p_dma_free,
	.dma_addr = p_dma_addr,
	.now_ns = p_now_ns,
	.delay_us = p_delay_us,
};

static void *bus_alloc(void *o, size_t size)
{
	(void)o;
	return calloc(1, size);
}

static void bus_free(void *o, void *p, size_t size)
{
	(void)o;
	(void)size;
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz f;
	static struct vio_pci_drv p;
	struct vio_pci_drv_config cfg;
	struct vio_rng_driver rng;
	struct vio_bus bus;
	uint8_t buf[16];
	unsigned mode;

	if (!arena && !(arena = aligned_alloc(4096, ARENA)))
		return 0;
	memset(&f, 0, sizeof(f));
	f.p = data;
	f.n = size;
	if (vio__dma_arena_init(&f.dma, arena, ARENA, DMA_BASE, 4096))
		return 0;
	mode = (unsigned)take(&f, 1);
	if (!tbar_len[4])
		template_init();
	for (unsigned i = 0; i < VIO_PCI_CFG_SPACE_SIZE; i++)
		f.cfg[i] = (uint8_t)take(&f, 1) ^ tcfg[i];
	for (unsigned i = 0; i < VIO_PCI_NUM_BARS; i++) {
		uint32_t v = (uint32_t)take(&f, 4) ^ tbar_len[i];

		f.bar_len[i] = v & (BAR_MAX - 1);
		f.bar_io[i] = v >> 31;
	}
	f.stream = mode & 8;
	if (!f.stream) {
		for (unsigned i = 0; i < VIO_PCI_NUM_BARS; i++) {
			size_t len = (size_t)f.bar_len[i], t = len < sizeof(tbar[i]) ? len : sizeof(tbar[i]);
			size_t k = f.off < f.n ? f.n - f.off : 0;

			/* The template, then as much of the input as there is. */
			memcpy(barmem[i], tbar[i], t);
			memset(barmem[i] + t, 0, len - t);
			if (k > len)
				k = len;
			for (size_t j = 0; j < k; j++)
				barmem[i][j] ^= f.p[f.off + j];
			f.off += k;
		}
	}
	f.cfg[0] = (uint8_t)VIO_PCI_VENDOR_ID;
	f.cfg[1] = (uint8_t)(VIO_PCI_VENDOR_ID >> 8);
	{
		uint16_t dev = (mode % 3) == 0 ? VIO_PCI_MODERN_DEVICE_BASE + VIO_ID_RNG :
			       VIO_PCI_TRANS_RNG;

		f.cfg[2] = (uint8_t)dev;
		f.cfg[3] = (uint8_t)(dev >> 8);
		f.cfg[VIO_PCI_CFG_SUBSYS_ID] = VIO_ID_RNG;
		f.cfg[VIO_PCI_CFG_SUBSYS_ID + 1] = 0;
	}

	memset(&cfg, 0, sizeof(cfg));
	cfg.platform = &platform;
	cfg.platform_opaque = &f;
	cfg.legacy = (mode % 3) == 2;
	cfg.poll = mode & 4;
	cfg.reset_timeout_ms = 5;
	if (vio_pci_drv_init(&p, &cfg) == 0) {
		vio_bus_init(&bus, bus_alloc, bus_free, NULL);
		if (vio_rng_drv_register(&bus, &rng, NULL) == 0 &&
		    vio_bus_add_device(&bus, &p.vdev) == 0) {
			if (p.vdev.driver)
				(void)vio_rng_drv_read(&p.vdev, buf, sizeof(buf), 5);
			vio_bus_remove_device(&bus, &p.vdev);
		}
		vio_rng_drv_unregister(&bus, &rng);
		vio_pci_drv_fini(&p);
	}
	/* Everything the transport and the driver allocated went back. */
	for (size_t i = 0; i < f.dma.chunks / 64; i++)
		CHECK(f.dma.map[i] == 0);
	vio__dma_arena_fini(&f.dma);
	return 0;
}
