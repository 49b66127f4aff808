/*
 * fuzz_pci_dev.c - libFuzzer target: the virtio-pci register model
 * (src/transport/pci_dev.c) under any sequence of config-space and BAR
 * accesses, over a real device type (rng or blk) and a small guest memory
 * the input fills.
 *
 * Input (past the end every read gives zero):
 *   u8   setup: bits 0-1 personality (% 3: modern, transitional, legacy),
 *        bit 2 blk (else rng), bit 3 MSI-X (4 vectors, else INTx only),
 *        bit 4 the VMM takes notifications itself (the model calls its
 *        notify op; op 4 below runs them), bit 5 offer the packed ring
 *   u8   op count, then that many ops of 8 bytes:
 *          u8 kind: bits 0-2 what (0 config read, 1 config write, 2 BAR
 *             read, 3 and 7 BAR write, 4 run the notifications the VMM
 *             took, 5 the device changes its config (bar odd: a driver's
 *             whole bring-up instead, through the modern registers or,
 *             with bar bit 1 or a legacy-only function, the legacy
 *             ones, rings in guest memory where the value says), 6
 *             function reset);
 *             bits 3-4 width 1 << n (so 8 too); bit 5 the value is a
 *             guest address (GPA + value % GMEM); bit 6 the offset is
 *             huge (high bits set); bit 7 the offset is a hint (BAR:
 *             the modern BAR's structure (off >> 12) & 3 plus off & 0x7f)
 *          u8 bar (any value: 6 and up do not exist), u16 offset, u32 value
 *   ...  the rest: guest memory (GMEM bytes at GPA, zero past the input),
 *        so rings and requests the driver side never built still appear
 *
 * The harness traps when an access it made with the spec's own widths to
 * a register of the personality is refused, or when vendor id reads
 * anything but 0x1af4. ASan and UBSan catch any touch outside the model,
 * the device or the guest memory (a heap block of exactly GMEM bytes).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vio/devices/blk.h"
#include "vio/devices/rng.h"
#include "vio/transport/pci_dev.h"

#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

#define GPA  UINT64_C(0x10000)
#define GMEM (16u * 1024u)

struct h {
	struct vio_pci_dev p;
	struct vio_dev_model *d;
	uint64_t pending;       /* notifications the VMM took */
	unsigned msgs;
};

static void on_msix(void *opaque, unsigned vector, uint64_t addr, uint32_t data)
{
	struct h *h = opaque;

	CHECK(vector < 4);
	h->msgs++;
}

static void on_intx(void *opaque, bool level)
{
	(void)opaque;
	(void)level;
}

static void on_notify(void *opaque, unsigned qi)
{
	struct h *h = opaque;

	CHECK(qi < 64 && vio_dev_queue_live(h->d, qi));
	h->pending |= UINT64_C(1) << qi;
}

static ssize_t rng_source(void *opaque, void *buf, size_t len)
{
	memset(buf, 0x5a, len);
	return (ssize_t)len;
}

static const struct vio_pci_dev_ops ops_plain = {
	.version = VIO_PCI_DEV_OPS_VERSION, .msix = on_msix, .intx = on_intx,
};
static const struct vio_pci_dev_ops ops_notify = {
	.version = VIO_PCI_DEV_OPS_VERSION, .msix = on_msix, .intx = on_intx,
	.notify = on_notify,
};

static const uint64_t hint_base[4] = {
	VIO_PCI_DEV_COMMON_OFF, VIO_PCI_DEV_ISR_OFF, VIO_PCI_DEV_DEVICE_OFF, VIO_PCI_DEV_NOTIFY_OFF,
};

static void mw(struct h *h, unsigned off, unsigned width, uint64_t v)
{
	(void)vio_pci_dev_bar_write(&h->p, VIO_PCI_DEV_BAR_MODERN, off, width, v);
}

static void lw(struct h *h, unsigned off, unsigned width, uint64_t v)
{
	(void)vio_pci_dev_bar_write(&h->p, VIO_PCI_DEV_BAR_LEGACY, off, width, v);
}

/* What a driver does from reset to DRIVER_OK, every feature offered
 * taken, queue qi's rings at GPA + (val's byte qi) * 64: so that the
 * random guest memory is read as rings and requests. */
static void bring_up(struct h *h, bool legacy, uint32_t val)
{
	unsigned nq = vio_dev_num_queues(h->d);
	uint64_t lo, hi;

	if (legacy) {
		lw(h, VIO_PCI_LEGACY_STATUS, 1, 0);
		lw(h, VIO_PCI_LEGACY_STATUS, 1, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER);
		(void)vio_pci_dev_bar_read(&h->p, VIO_PCI_DEV_BAR_LEGACY,
					   VIO_PCI_LEGACY_HOST_FEATURES, 4, &lo);
		lw(h, VIO_PCI_LEGACY_GUEST_FEATURES, 4, lo);
		for (unsigned qi = 0; qi < nq && qi < 4; qi++) {
			lw(h, VIO_PCI_LEGACY_QUEUE_SEL, 2, qi);
			lw(h, VIO_PCI_LEGACY_QUEUE_PFN, 4, (GPA >> 12) + ((val >> (8 * qi)) & 3));
		}
		lw(h, VIO_PCI_LEGACY_STATUS, 1, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER |
		   VIO_STATUS_DRIVER_OK);
		return;
	}
	mw(h, VIO_PCI_COMMON_STATUS, 1, 0);
	mw(h, VIO_PCI_COMMON_STATUS, 1, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER);
	mw(h, VIO_PCI_COMMON_DFSELECT, 4, 0);
	(void)vio_pci_dev_bar_read(&h->p, VIO_PCI_DEV_BAR_MODERN, VIO_PCI_COMMON_DF, 4, &lo);
	mw(h, VIO_PCI_COMMON_DFSELECT, 4, 1);
	(void)vio_pci_dev_bar_read(&h->p, VIO_PCI_DEV_BAR_MODERN, VIO_PCI_COMMON_DF, 4, &hi);
	mw(h, VIO_PCI_COMMON_GFSELECT, 4, 0);
	mw(h, VIO_PCI_COMMON_GF, 4, lo);
	mw(h, VIO_PCI_COMMON_GFSELECT, 4, 1);
	/* Bit 31 of the value: the split ring even where packed is offered. */
	mw(h, VIO_PCI_COMMON_GF, 4, (val >> 31) ? hi & ~(uint64_t)VIO_BIT(VIO_F_RING_PACKED - 32)
				       : hi);
	mw(h, VIO_PCI_COMMON_STATUS, 1, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER |
	   VIO_STATUS_FEATURES_OK);
	for (unsigned qi = 0; qi < nq && qi < 4; qi++) {
		uint64_t base = GPA + ((val >> (8 * qi)) & 0x7f) * 64;

		mw(h, VIO_PCI_COMMON_Q_SELECT, 2, qi);
		mw(h, VIO_PCI_COMMON_Q_SIZE, 2, 8);
		mw(h, VIO_PCI_COMMON_Q_MSIX, 2, qi);
		mw(h, VIO_PCI_COMMON_Q_DESCLO, 4, base);
		mw(h, VIO_PCI_COMMON_Q_AVAILLO, 4, base + 0x800);
		mw(h, VIO_PCI_COMMON_Q_USEDLO, 4, base + 0x1000);
		mw(h, VIO_PCI_COMMON_Q_ENABLE, 2, 1);
	}
	mw(h, VIO_PCI_COMMON_STATUS, 1, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER |
	   VIO_STATUS_FEATURES_OK | VIO_STATUS_DRIVER_OK);
}

static void run_ops(struct h *h, enum vio_pci_dev_mode mode, struct fz *in, unsigned nops)
{
	for (unsigned i = 0; i < nops; i++) {
		uint8_t kind = fz_u8(in);
		unsigned bar = fz_u8(in);
		uint64_t off = fz_u16(in);
		uint64_t val = fz_u32(in);
		unsigned width = 1u << ((kind >> 3) & 3);
		uint32_t v32;

		if (kind & 0x20)
			val = GPA + val % GMEM;
		if (kind & 0x80)
			off = hint_base[(off >> 12) & 3] + (off & 0x7f);
		if (kind & 0x40)
			off |= UINT64_C(0xffffffffffff0000);
		switch (kind & 7) {
		case 0:
			(void)vio_pci_dev_cfg_read(&h->p, (unsigned)off, width, &v32);
			break;
		case 1:
			(void)vio_pci_dev_cfg_write(&h->p, (unsigned)off, width, (uint32_t)val);
			break;
		case 2:
			(void)vio_pci_dev_bar_read(&h->p, bar, off, width, &val);
			break;
		case 4:
			while (h->pending) {
				unsigned qi = (unsigned)__builtin_ctzll(h->pending);

				h->pending &= h->pending - 1;
				vio_dev_notify(h->d, qi);
			}
			break;
		case 5:
			if (bar & 1)
				bring_up(h, mode == VIO_PCI_DEV_LEGACY || (mode == VIO_PCI_DEV_TRANSITIONAL &&
								      (bar & 2)), (uint32_t)val);
			else
				vio_dev_config_changed(h->d);
			break;
		case 6:
			vio_pci_dev_reset(&h->p);
			h->pending = 0;
			break;
		default:
			(void)vio_pci_dev_bar_write(&h->p, bar, off, width, val);
			break;
		}
		/* A status write may reset the device: the VMM forgets what it
		 * took for queues no longer live. */
		for (uint64_t b = h->pending; b; b &= b - 1) {
			unsigned qi = (unsigned)__builtin_ctzll(b);

			if (!vio_dev_queue_live(h->d, qi))
				h->pending &= ~(UINT64_C(1) << qi);
		}
		CHECK(vio_pci_dev_cfg_read(&h->p, VIO_PCI_CFG_VENDOR_ID, 2, &v32) == 0 &&
		      v32 == VIO_PCI_VENDOR_ID);
	}
}

/* The registers every personality has answer their own widths. */
static void check_registers(struct h *h, enum vio_pci_dev_mode mode)
{
	uint64_t v;

	if (mode != VIO_PCI_DEV_LEGACY) {
		CHECK(vio_pci_dev_bar_read(&h->p, VIO_PCI_DEV_BAR_MODERN,
					   VIO_PCI_COMMON_NUMQ, 2, &v) == 0);
		CHECK(v == vio_dev_num_queues(h->d));
		CHECK(vio_pci_dev_bar_read(&h->p, VIO_PCI_DEV_BAR_MODERN,
					   VIO_PCI_COMMON_STATUS, 1, &v) == 0);
	}
	if (mode != VIO_PCI_DEV_MODERN)
		CHECK(vio_pci_dev_bar_read(&h->p, VIO_PCI_DEV_BAR_LEGACY,
					   VIO_PCI_LEGACY_STATUS, 1, &v) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };
	uint8_t setup = fz_u8(&in);
	enum vio_pci_dev_mode mode = (enum vio_pci_dev_mode)((setup & 3) % 3);
	bool blk = setup & 4;
	unsigned nops = fz_u8(&in);
	uint64_t ring = VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_EVENT_IDX) |
			VIO_BIT(VIO_F_INDIRECT_DESC) | VIO_BIT(VIO_F_RING_RESET) |
			((setup & 0x20) ? VIO_BIT(VIO_F_RING_PACKED) : 0);
	struct vio_mem_region regions[1];
	struct vio_mem mem;
	struct vio_rng_dev *rng = NULL;
	struct vio_blk_dev *bd = NULL;
	struct vio_pci_dev_opts o;
	struct fz ops_in;
	size_t skip;
	uint8_t *guest;
	struct h *h;

	h = calloc(1, sizeof(*h));
	guest = calloc(1, GMEM);
	CHECK(h && guest);
	/* The ops come first in the input, guest memory after them. */
	ops_in = in;
	skip = (size_t)nops * 8 < in.n ? (size_t)nops * 8 : in.n;
	in.p += skip;
	in.n -= skip;
	(void)fz_take(&in, guest, GMEM);
	vio_mem_init(&mem, regions, 1);
	CHECK(vio_mem_add(&mem, GPA, GMEM, guest) == 0);

	if (blk) {
		struct vio_blk_dev_opts bo = {
			.backend = VIO_BLK_BACKEND_RAM, .size = 64 * 1024, .queue_size = 16,
			.num_queues = 2, .ring_features = ring, .legacy_ok = true,
		};

		bd = calloc(1, sizeof(*bd));
		CHECK(bd && vio_blk_dev_init(bd, &bo) == 0);
		h->d = &bd->dev;
	} else {
		struct vio_rng_dev_opts ro = {
			.features = ring & ~VIO_BIT(VIO_F_VERSION_1), .legacy_ok = true,
			.queue_size = 16, .source = rng_source,
		};

		rng = calloc(1, sizeof(*rng));
		CHECK(rng && vio_rng_dev_init(rng, &ro) == 0);
		h->d = &rng->dev;
	}
	h->d->mem = &mem;
	memset(&o, 0, sizeof(o));
	o.mode = mode;
	o.msix_vectors = (setup & 8) ? 4 : 0;
	o.ops = (setup & 0x10) ? &ops_notify : &ops_plain;
	o.opaque = h;
	CHECK(vio_pci_dev_init(&h->p, h->d, &o) == 0);

	run_ops(h, mode, &ops_in, nops);
	check_registers(h, mode);

	vio_pci_dev_fini(&h->p);
	if (bd) {
		vio_blk_dev_fini(bd);
		free(bd);
	} else {
		vio_rng_dev_fini(rng);
		free(rng);
	}
	free(guest);
	free(h);
	return 0;
}
