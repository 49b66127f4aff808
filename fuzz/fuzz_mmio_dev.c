/*
 * fuzz_mmio_dev.c - the virtio-mmio register model (src/transport/
 * mmio_dev.c) fed random register accesses, as a hostile guest would make
 * them, over a real device (rng, or blk on a RAM disk) and a small guest
 * memory.
 *
 * Guest memory is GUEST_BYTES of its own heap block, so ASan sees any
 * access the device or the ring code makes outside it; the RAM disk
 * likewise. The guest can also write its memory (to build rings the
 * device then walks) and the VMM side can deliver kicks it held back, or
 * change the device's config, between accesses. Nothing may crash, trap or
 * touch memory it does not own.
 *
 * Input: u8 setup (bit 0: version 2, else 1; bit 1: blk, else rng;
 * bit 2: offer RING_PACKED; bit 3: a notify callback that holds kicks;
 * bit 4: offer RING_RESET; bit 5: a legacy driver is big-endian, so its
 * config accesses go through the core's field mirroring), then ops until
 * the input ends, each u8 op:
 *   op % 9 = 0..3  read (0) or write (1..3): u8 register (bit 7 set:
 *                  a raw u16 offset follows; else a register of the
 *                  table below), u8 width (1, 2, 4, 8 or 3), u32 value
 *   4              guest memory write: u16 offset, u32 value
 *   5              deliver the kicks held back (and forget them)
 *   6              a config change (the device bumps its generation)
 *   7              a standard bring-up, so that the fuzzer reaches live
 *                  queues quickly: reset, ACKNOWLEDGE, DRIVER, the offered
 *                  features masked by the next u32 pair, FEATURES_OK,
 *                  queue 0 of 1 << (u8 % 7) entries with its rings at the
 *                  start of guest memory (split, legacy or packed as
 *                  negotiated), DRIVER_OK
 *   8              post a split chain on queue 0 (after a split
 *                  bring-up) and kick: u8 count (1 + v % 4), then per
 *                  descriptor u16 buffer offset from DATA (may run past the
 *                  end of guest memory: the device must refuse it), u16
 *                  length, u8 flags (bit 0: device-writable; bit 1:
 *                  INDIRECT)
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vio/devices.h"
#include "vio/transport/mmio.h"

#include "fuzz_input.h"

#define GUEST_BASE  UINT64_C(0x10000)
#define GUEST_BYTES (64u << 10)
#define DISK_BYTES  (64u << 10)
#define DATA        (16u << 10)         /* buffers start here, rings below */

static const uint16_t regs[] = {
	VIO_MMIO_MAGIC_VALUE, VIO_MMIO_VERSION, VIO_MMIO_DEVICE_ID, VIO_MMIO_VENDOR_ID,
	VIO_MMIO_DEVICE_FEATURES, VIO_MMIO_DEVICE_FEATURES_SEL, VIO_MMIO_DRIVER_FEATURES,
	VIO_MMIO_DRIVER_FEATURES_SEL, VIO_MMIO_GUEST_PAGE_SIZE, VIO_MMIO_QUEUE_SEL,
	VIO_MMIO_QUEUE_NUM_MAX, VIO_MMIO_QUEUE_NUM, VIO_MMIO_QUEUE_ALIGN, VIO_MMIO_QUEUE_PFN,
	VIO_MMIO_QUEUE_READY, VIO_MMIO_QUEUE_NOTIFY, VIO_MMIO_INTERRUPT_STATUS,
	VIO_MMIO_INTERRUPT_ACK, VIO_MMIO_STATUS, VIO_MMIO_QUEUE_DESC_LOW, VIO_MMIO_QUEUE_DESC_HIGH,
	VIO_MMIO_QUEUE_DRIVER_LOW, VIO_MMIO_QUEUE_DRIVER_HIGH, VIO_MMIO_QUEUE_DEVICE_LOW,
	VIO_MMIO_QUEUE_DEVICE_HIGH, VIO_MMIO_SHM_SEL, VIO_MMIO_SHM_LEN_LOW, VIO_MMIO_SHM_LEN_HIGH,
	VIO_MMIO_SHM_BASE_LOW, VIO_MMIO_SHM_BASE_HIGH, VIO_MMIO_QUEUE_RESET,
	VIO_MMIO_CONFIG_GENERATION, VIO_MMIO_CONFIG, VIO_MMIO_CONFIG + 4, VIO_MMIO_CONFIG + 8,
	VIO_MMIO_CONFIG + 20,
};

static const unsigned widths[] = { 4, 4, 4, 1, 2, 8, 3, 4 };

struct harness {
	union {
		struct vio_rng_dev rng;
		struct vio_blk_dev blk;
	} u;
	struct vio_dev_model *d;
	bool is_blk;
	uint8_t *mem, *disk;
	struct vio_mem_region region;
	struct vio_mem vm;
	struct vio_mmio_dev m;
	bool hold;
	uint64_t held;                  /* queues kicked, bit per queue */
	bool line;
	/* what op 7 set up, for op 8 */
	bool split_up;
	unsigned qsize;
	uint64_t desc, avail;           /* guest addresses */
	uint16_t avail_idx, next_desc;
};

static void h_irq(void *opaque, bool level)
{
	((struct harness *)opaque)->line = level;
}

static void h_kick(void *opaque, unsigned qi)
{
	struct harness *h = opaque;

	if (qi < 64)
		h->held |= UINT64_C(1) << qi;
}

static ssize_t h_source(void *opaque, void *buf, size_t len)
{
	(void)opaque;
	memset(buf, 0x5a, len);
	return (ssize_t)len;
}

static int setup(struct harness *h, uint8_t s)
{
	struct vio_mmio_dev_opts mo = { .version = (s & 1) ? 2 : 1, .irq = h_irq, .opaque = h };
	uint64_t ring = VIO_BIT(VIO_F_EVENT_IDX) | VIO_BIT(VIO_F_INDIRECT_DESC) |
			((s & 4) ? VIO_BIT(VIO_F_RING_PACKED) : 0) |
			((s & 16) ? VIO_BIT(VIO_F_RING_RESET) : 0);

	h->mem = calloc(1, GUEST_BYTES);
	if (!h->mem)
		return -1;
	vio_mem_init(&h->vm, &h->region, 1);
	if (vio_mem_add(&h->vm, GUEST_BASE, GUEST_BYTES, h->mem))
		return -1;
	h->is_blk = (s & 2) != 0;
	if (h->is_blk) {
		struct vio_blk_dev_opts o = { .backend = VIO_BLK_BACKEND_RAM, .size = DISK_BYTES,
					      .ring_features = VIO_BIT(VIO_F_VERSION_1) | ring,
					      .legacy_ok = true, .queue_size = 64 };

		h->disk = calloc(1, DISK_BYTES);
		if (!h->disk)
			return -1;
		o.ram = h->disk;
		if (vio_blk_dev_init(&h->u.blk, &o))
			return -1;
		h->d = &h->u.blk.dev;
	} else {
		struct vio_rng_dev_opts o = { .features = ring, .legacy_ok = true, .queue_size = 64,
					      .source = h_source };

		if (vio_rng_dev_init(&h->u.rng, &o))
			return -1;
		h->d = &h->u.rng.dev;
	}
	h->d->mem = &h->vm;
	if (s & 32)
		h->d->legacy_order = VIO_ORDER_BIG;
	if (s & 8) {
		h->hold = true;
		mo.notify = h_kick;
	}
	return vio_mmio_dev_init(&h->m, h->d, &mo) ? -1 : 0;
}

static void teardown(struct harness *h)
{
	if (h->m.dev)
		vio_mmio_dev_fini(&h->m);
	if (h->d) {
		if (h->is_blk)
			vio_blk_dev_fini(&h->u.blk);
		/* the rng device holds nothing to free */
	}
	free(h->disk);
	free(h->mem);
}

static void W(struct harness *h, uint32_t off, uint32_t v)
{
	vio_mmio_dev_write(&h->m, off, 4, v);
}

static uint32_t R(struct harness *h, uint32_t off)
{
	return vio_mmio_dev_read(&h->m, off, 4);
}

static void bring_up(struct harness *h, struct fz *f)
{
	uint64_t want = fz_u32(f) | (uint64_t)fz_u32(f) << 32, offer, base = GUEST_BASE;
	unsigned size = 1u << (fz_u8(f) % 7);
	struct vio_ring_addrs a;
	const uint8_t ok = VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER | VIO_STATUS_FEATURES_OK;

	h->split_up = false;
	W(h, VIO_MMIO_STATUS, 0);
	W(h, VIO_MMIO_STATUS, VIO_STATUS_ACKNOWLEDGE);
	W(h, VIO_MMIO_STATUS, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER);
	W(h, VIO_MMIO_DEVICE_FEATURES_SEL, 1);
	offer = (uint64_t)R(h, VIO_MMIO_DEVICE_FEATURES) << 32;
	W(h, VIO_MMIO_DEVICE_FEATURES_SEL, 0);
	offer |= R(h, VIO_MMIO_DEVICE_FEATURES);
	want = (want & offer) | (offer & VIO_BIT(VIO_F_VERSION_1));
	W(h, VIO_MMIO_DRIVER_FEATURES_SEL, 0);
	W(h, VIO_MMIO_DRIVER_FEATURES, (uint32_t)want);
	W(h, VIO_MMIO_DRIVER_FEATURES_SEL, 1);
	W(h, VIO_MMIO_DRIVER_FEATURES, (uint32_t)(want >> 32));
	W(h, VIO_MMIO_STATUS, ok);
	W(h, VIO_MMIO_QUEUE_SEL, 0);
	W(h, VIO_MMIO_QUEUE_NUM, size);
	memset(h->mem, 0, DATA);
	if (h->m.version == 2) {
		W(h, VIO_MMIO_QUEUE_DESC_LOW, (uint32_t)base);
		W(h, VIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(base + 0x1000));
		W(h, VIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(base + 0x2000));
		W(h, VIO_MMIO_QUEUE_READY, 1);
		a.desc = base;
		a.driver = base + 0x1000;
	} else {
		W(h, VIO_MMIO_GUEST_PAGE_SIZE, 4096);
		W(h, VIO_MMIO_QUEUE_ALIGN, 4096);
		W(h, VIO_MMIO_QUEUE_PFN, (uint32_t)(base >> 12));
		vio_ring_legacy_layout(base, size, 4096, &a);
	}
	W(h, VIO_MMIO_STATUS, ok | VIO_STATUS_DRIVER_OK);
	if (!vio_dev_queue_live(h->d, 0) || vio_has_feature(want, VIO_F_RING_PACKED))
		return;
	h->split_up = true;
	h->qsize = size;
	h->desc = a.desc;
	h->avail = a.driver;
	h->avail_idx = 0;
	h->next_desc = 0;
}

/* Little-endian stores into guest memory at a guest address inside it. */
static void put16(struct harness *h, uint64_t gpa, uint16_t v)
{
	uint8_t *p = h->mem + (gpa - GUEST_BASE);

	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(struct harness *h, uint64_t gpa, uint32_t v)
{
	put16(h, gpa, (uint16_t)v);
	put16(h, gpa + 2, (uint16_t)(v >> 16));
}

/* A chain on queue 0 as a driver would post it (the rings are op 7's,
 * inside the first DATA bytes); the buffers it points at are the input's. */
static void post(struct harness *h, struct fz *f)
{
	unsigned n = 1 + fz_u8(f) % 4, head = h->next_desc;

	if (!h->split_up) {
		fz_u8(f);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		unsigned slot = (head + i) % h->qsize;
		uint64_t d = h->desc + 16u * slot;
		uint64_t addr = GUEST_BASE + DATA + fz_u16(f);
		uint32_t len = fz_u16(f);
		uint8_t fl = fz_u8(f);
		uint16_t flags = (uint16_t)(((fl & 1) ? 2 : 0) | ((fl & 2) ? 4 : 0) |
					    (i + 1 < n ? 1 : 0));

		put32(h, d, (uint32_t)addr);
		put32(h, d + 4, (uint32_t)(addr >> 32));
		put32(h, d + 8, len);
		put16(h, d + 12, flags);
		put16(h, d + 14, (uint16_t)((head + i + 1) % h->qsize));
	}
	h->next_desc = (uint16_t)((head + n) % h->qsize);
	put16(h, h->avail + 4 + 2u * (h->avail_idx % h->qsize), (uint16_t)head);
	h->avail_idx++;
	put16(h, h->avail + 2, h->avail_idx);
	W(h, VIO_MMIO_QUEUE_NOTIFY, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct harness h;
	struct fz f = { data, size };
	unsigned ops = 0;

	memset(&h, 0, sizeof(h));
	if (setup(&h, fz_u8(&f))) {
		teardown(&h);
		return 0;
	}
	while (f.n && ops++ < 4096) {
		uint8_t op = fz_u8(&f);

		switch (op % 9) {
		case 0: case 1: case 2: case 3: {
			uint8_t r = fz_u8(&f);
			uint32_t off = (r & 0x80) ? fz_u16(&f)
						  : regs[r % (sizeof(regs) / sizeof(regs[0]))];
			unsigned w = widths[fz_u8(&f) % 8];
			uint32_t v = fz_u32(&f);

			if (op % 8 == 0)
				(void)vio_mmio_dev_read(&h.m, off, w);
			else
				vio_mmio_dev_write(&h.m, off, w, v);
			break;
		}
		case 4: {
			uint16_t off = fz_u16(&f);
			uint32_t v = fz_u32(&f);

			if ((size_t)off + 4 <= GUEST_BYTES)
				memcpy(h.mem + off, &v, 4);
			break;
		}
		case 5:
			/* The VMM's I/O thread runs the kicks it was handed. */
			for (unsigned qi = 0; qi < 64; qi++)
				if (h.held & (UINT64_C(1) << qi))
					vio_dev_notify(h.d, qi);
			h.held = 0;
			break;
		case 6:
			vio_dev_config_changed(h.d);
			break;
		case 7:
			bring_up(&h, &f);
			break;
		default:
			post(&h, &f);
			break;
		}
	}
	teardown(&h);
	return 0;
}
