/*
 * test_pci_dev.c - the virtio-pci register model (src/transport/pci_dev.c)
 * doing its job: identification and config space, the capability list,
 * BAR sizing, buffers through the modern and the legacy interface, MSI-X
 * and INTx, the pci_cfg window, RING_RESET. The malformed accesses have
 * their own program, test_pci_dev_bounds.c.
 *
 * The driver here is register accesses only (test_pci_dev_fixture.c); the
 * expected numbers are the spec's, written out by hand.
 */
#include "test_pci_dev_fixture.h"

#define FULL_STATUS (S_ACK | S_DRV | S_FOK | S_DOK)

/* The capabilities from CAP_PTR: ids (vendor caps: their cfg_type) in
 * list order. */
static unsigned walk_caps(struct fx *f, unsigned *offs, unsigned *types, unsigned max)
{
	unsigned n = 0, off;

	assert_true(cr(f, VIO_PCI_CFG_STATUS, 2) & VIO_PCI_STATUS_CAP_LIST);
	for (off = cr(f, VIO_PCI_CFG_CAP_PTR, 1); off && n < max; off = cr(f, off + 1, 1)) {
		assert_true(off >= 0x40 && off % 4 == 0);
		offs[n] = off;
		types[n] = cr(f, off, 1) == 0x09 ? 0x100 | cr(f, off + 3, 1) : cr(f, off, 1);
		n++;
	}
	assert_true(n < max);
	return n;
}

static void ids_modern(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_MODERN, NVEC, V1, VIO_ID_RNG, false);

	assert_int_equal(cr(f, 0x00, 2), 0x1af4);
	assert_int_equal(cr(f, 0x02, 2), 0x1044);       /* 0x1040 + 4 */
	assert_int_equal(cr(f, 0x08, 1), 1);            /* revision >= 1 */
	assert_int_equal(cr(f, 0x0a, 2), 0xff00);       /* rng: "other" class */
	assert_int_equal(cr(f, 0x0e, 1), 0);            /* type 0 header */
	assert_int_equal(cr(f, 0x2c, 2), 0x1af4);
	assert_int_equal(cr(f, 0x2e, 2), VIO_ID_RNG);
	assert_int_equal(cr(f, 0x3d, 1), 1);            /* INTA# */
	assert_int_equal(cr(f, 0x06, 2), 0x0010);       /* CAP_LIST */
	assert_int_equal(cr(f, 0x00, 4), 0x10441af4);   /* a 4-byte read: both ids */
	fx_free(f);
}

static void ids_transitional(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_TRANSITIONAL, NVEC, V1, VIO_ID_RNG, false);
	bool io;

	assert_int_equal(cr(f, 0x02, 2), 0x1005);
	assert_int_equal(cr(f, 0x08, 1), 0);
	assert_int_equal(cr(f, 0x2e, 2), VIO_ID_RNG);
	assert_int_equal(cr(f, 0x10, 4) & 1, 1);        /* BAR 0: I/O */
	assert_true(vio_pci_dev_bar_size(&f->p, 0, &io) >= 0x20);
	assert_true(io);
	assert_true(vio_pci_dev_bar_size(&f->p, 4, &io) > 0);
	assert_false(io);
	fx_free(f);
}

static void ids_legacy_has_no_modern_caps(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_LEGACY, NVEC, V1, VIO_ID_BLOCK, false);
	unsigned offs[16], types[16], n = walk_caps(f, offs, types, 16);

	assert_int_equal(cr(f, 0x02, 2), 0x1001);
	assert_int_equal(cr(f, 0x08, 1), 0);
	assert_int_equal(cr(f, 0x0a, 2), 0x0100);
	assert_int_equal(n, 1);
	assert_int_equal(types[0], 0x11);               /* MSI-X only */
	assert_int_equal(vio_pci_dev_bar_size(&f->p, 4, NULL), 0);
	assert_int_equal(cr(f, 0x20, 4), 0);            /* BAR 4 reads 0 */
	fx_free(f);

	/* Without MSI-X: no capability at all. */
	f = fx_new(VIO_PCI_DEV_LEGACY, 0, V1, VIO_ID_BLOCK, false);
	assert_int_equal(cr(f, 0x34, 1), 0);
	assert_int_equal(cr(f, 0x06, 2) & 0x10, 0);
	fx_free(f);
}

static void class_per_device_type(void **state)
{
	static const struct { uint32_t id; uint32_t class; uint32_t trans; } t[] = {
		{ VIO_ID_NET, 0x0200, 0x1000 }, { VIO_ID_BLOCK, 0x0100, 0x1001 },
		{ VIO_ID_BALLOON, 0xff00, 0x1002 }, { VIO_ID_CONSOLE, 0x0780, 0x1003 },
		{ VIO_ID_RNG, 0xff00, 0x1005 },
	};

	for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct fx *f = fx_new(VIO_PCI_DEV_TRANSITIONAL, 0, V1, t[i].id, false);

		assert_int_equal(cr(f, 0x0a, 2), t[i].class);
		assert_int_equal(cr(f, 0x02, 2), t[i].trans);
		fx_free(f);
	}
}

static void cap_list_modern(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_MODERN, NVEC, V1, VIO_ID_RNG, false);
	unsigned offs[16], types[16], n = walk_caps(f, offs, types, 16);
	static const unsigned want[] = { 0x11, 0x101, 0x102, 0x103, 0x104, 0x105 };
	uint64_t bar4 = vio_pci_dev_bar_size(&f->p, 4, NULL);

	assert_int_equal(n, 6);
	for (unsigned i = 0; i < n; i++) {
		unsigned c = offs[i];

		assert_int_equal(types[i], want[i]);
		if (types[i] == 0x11) {
			assert_int_equal(cr(f, c + 2, 2) & 0x7ff, NVEC - 1);
			assert_int_equal(cr(f, c + 4, 4), 0x0000 | 1);   /* table: BAR 1 at 0 */
			assert_int_equal(cr(f, c + 8, 4), 0x0800 | 1);   /* PBA: BAR 1 at 0x800 */
			continue;
		}
		if (types[i] == 0x105) {
			assert_int_equal(cr(f, c + 2, 1), 20);
			continue;
		}
		/* Every structure inside BAR 4. */
		assert_int_equal(cr(f, c + 4, 1), 4);
		assert_true(cr(f, c + 8, 4) + (uint64_t)cr(f, c + 12, 4) <= bar4);
		if (types[i] == 0x101)
			assert_int_equal(cr(f, c + 12, 4), 0x3c);
		if (types[i] == 0x102) {
			assert_int_equal(cr(f, c + 2, 1), 20);
			assert_int_equal(cr(f, c + 16, 4), 4);          /* notify_off_multiplier */
			assert_int_equal(cr(f, c + 12, 4), TQ * 4);
		}
		if (types[i] == 0x103)
			assert_int_equal(cr(f, c + 12, 4), 1);
		if (types[i] == 0x104)
			assert_int_equal(cr(f, c + 12, 4), TCFG);
		if (types[i] != 0x102)
			assert_int_equal(cr(f, c + 2, 1), 16);
	}
	fx_free(f);
}

static void bar_sizing(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_TRANSITIONAL, NVEC, V1, VIO_ID_RNG, false);
	uint64_t s0 = vio_pci_dev_bar_size(&f->p, 0, NULL), s4 = vio_pci_dev_bar_size(&f->p, 4, NULL);

	for (unsigned b = 0; b < 6; b++)
		cw(f, 0x10 + 4 * b, 4, 0xffffffff);
	assert_int_equal(cr(f, 0x10, 4), (uint32_t)~(s0 - 1) | 1);
	assert_int_equal(cr(f, 0x14, 4), (uint32_t)~(0x1000u - 1));
	assert_int_equal(cr(f, 0x18, 4), 0);
	assert_int_equal(cr(f, 0x1c, 4), 0);
	assert_int_equal(cr(f, 0x20, 4), ((uint32_t)~(s4 - 1)) | 0xc); /* 64-bit prefetchable */
	assert_int_equal(cr(f, 0x24, 4), 0xffffffff);   /* the high half: all of it */
	/* A 64-bit address above 4 GiB. */
	cw(f, 0x20, 4, 0xfe004000);
	cw(f, 0x24, 4, 0x8);
	cw(f, 0x10, 4, 0xc040);
	cw(f, 0x14, 4, 0xfebf1000);
	assert_int_equal(vio_pci_dev_bar_addr(&f->p, 4), UINT64_C(0x8fe004000) & ~(s4 - 1));
	assert_int_equal(vio_pci_dev_bar_addr(&f->p, 0), 0xc040 & ~(s0 - 1));
	assert_int_equal(vio_pci_dev_bar_addr(&f->p, 1), 0xfebf1000);
	assert_int_equal(vio_pci_dev_bar_addr(&f->p, 2), 0);
	/* A function reset: BARs back to 0, flags kept. */
	vio_pci_dev_reset(&f->p);
	assert_int_equal(cr(f, 0x20, 4), 0xc);
	assert_int_equal(cr(f, 0x10, 4), 1);
	fx_free(f);
}

static void config_writes_only_writable_bits(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_MODERN, NVEC, V1, VIO_ID_RNG, false);
	uint8_t before[256], after[256];

	cw(f, 0x04, 2, 0xffff);
	assert_int_equal(cr(f, 0x04, 2), 0x0407);       /* IO, MEM, MASTER, INTX_DISABLE */
	cw(f, 0x3c, 1, 0x0b);
	assert_int_equal(cr(f, 0x3c, 1), 0x0b);
	cw(f, 0x04, 2, 0);
	cw(f, 0x3c, 1, 0);
	/* Everything but command, BARs, interrupt line, MSI-X control and
	 * the pci_cfg window is read-only: write ones over all of it. */
	for (unsigned o = 0; o < 256; o++)
		before[o] = (uint8_t)cr(f, o, 1);
	for (unsigned o = 0; o < 256; o += 4) {
		bool rw = o == 0x04 || (o >= 0x10 && o < 0x28) || o == 0x3c ||
			  o == VIO_PCI_DEV_CAP_MSIX || (o >= VIO_PCI_DEV_CAP_PCI_CFG + 4 &&
							o < VIO_PCI_DEV_CAP_PCI_CFG + 20);
		if (!rw)
			cw(f, o, 4, 0xffffffff);
	}
	for (unsigned o = 0; o < 256; o++)
		after[o] = (uint8_t)cr(f, o, 1);
	assert_memory_equal(before, after, 256);
	fx_free(f);
}

static void features_modern(void **state)
{
	uint64_t offer = V1 | F_PACKED | F_DEV0 | B(33);
	struct fx *f = fx_new(VIO_PCI_DEV_MODERN, NVEC, offer, VIO_ID_RNG, false);

	mw(f, VIO_PCI_COMMON_DFSELECT, 0);
	assert_int_equal(mr(f, VIO_PCI_COMMON_DF), (uint32_t)offer);
	mw(f, VIO_PCI_COMMON_DFSELECT, 1);
	assert_int_equal(mr(f, VIO_PCI_COMMON_DF), offer >> 32);
	drv_features(f, V1 | F_DEV0);
	assert_int_equal(f->t.d.features, V1 | F_DEV0);
	mw(f, VIO_PCI_COMMON_GFSELECT, 0);
	assert_int_equal(mr(f, VIO_PCI_COMMON_GF), 1);
	mw(f, VIO_PCI_COMMON_GFSELECT, 1);
	assert_int_equal(mr(f, VIO_PCI_COMMON_GF), 1);  /* VERSION_1 is bit 32 */
	assert_int_equal(mr(f, VIO_PCI_COMMON_NUMQ), TQ);
	fx_free(f);
}

static void run_io(struct fx *f, unsigned qi, bool legacy)
{
	int toks[3];
	unsigned kicks = f->t.kicks[qi];

	for (unsigned i = 0; i < 3; i++)
		drv_post(f, qi, &toks[i]);
	if (legacy)
		drv_legacy_kick(f, qi);
	else
		drv_kick(f, qi);
	assert_int_equal(f->t.kicks[qi], kicks + 1);
	for (unsigned i = 0; i < 3; i++)
		assert_ptr_equal(drv_reap(f, qi), &toks[i]);
	assert_null(drv_reap(f, qi));
}

static void modern_io_msix(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_MODERN, NVEC, V1, VIO_ID_RNG, false);

	f->t.mode = TDEV_ECHO;
	fx_msix_on(f);
	drv_modern_up(f, V1, TQ, 8);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_NOFF), TQ - 1); /* queue 1 selected last */
	run_io(f, 1, false);
	assert_int_equal(f->nmsi, 1);
	assert_int_equal(f->msi_vec[0], 2);             /* queue 1's vector: 2 */
	assert_int_equal(f->msi_addr[0], MSI_ADDR(2));
	assert_int_equal(f->msi_data[0], MSI_DATA(2));
	run_io(f, 0, false);
	assert_int_equal(f->nmsi, 2);
	assert_int_equal(f->msi_vec[1], 1);
	assert_false(f->intx);
	assert_int_equal(br(f, MODERN, VIO_PCI_DEV_ISR_OFF, 1), 0); /* ISR unused with MSI-X */
	fx_free(f);
}

static void modern_io_intx(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_MODERN, 0, V1, VIO_ID_RNG, false);

	f->t.mode = TDEV_ECHO;
	drv_modern_up(f, V1, TQ, TMAX);
	/* No MSI-X: the vectors the driver wrote read back NO_VECTOR. */
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_MSIX), 0xffff);
	run_io(f, 0, false);
	assert_true(f->intx);
	assert_int_equal(cr(f, 0x06, 2) & 0x08, 0x08);  /* interrupt status */
	assert_int_equal(br(f, MODERN, VIO_PCI_DEV_ISR_OFF, 1), VIO_PCI_ISR_QUEUE);
	assert_false(f->intx);
	assert_int_equal(cr(f, 0x06, 2) & 0x08, 0);
	assert_int_equal(br(f, MODERN, VIO_PCI_DEV_ISR_OFF, 1), 0); /* read cleared it */

	/* INTX_DISABLE: the line stays low, the status bit still shows it. */
	cw(f, 0x04, 2, VIO_PCI_COMMAND_INTX_DISABLE);
	run_io(f, 1, false);
	assert_false(f->intx);
	assert_int_equal(cr(f, 0x06, 2) & 0x08, 0x08);
	cw(f, 0x04, 2, 0);
	assert_true(f->intx);                           /* enabled again: up */
	assert_int_equal(br(f, MODERN, VIO_PCI_DEV_ISR_OFF, 1), VIO_PCI_ISR_QUEUE);
	assert_false(f->intx);
	fx_free(f);
}

static void config_interrupt_and_generation(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_MODERN, NVEC, V1, VIO_ID_RNG, false);
	uint64_t gen;

	fx_msix_on(f);
	drv_modern_up(f, V1, TQ, TMAX);
	gen = mr(f, VIO_PCI_COMMON_CFGGENERATION);
	vio_dev_config_changed(&f->t.d);
	assert_int_equal(mr(f, VIO_PCI_COMMON_CFGGENERATION), (gen + 1) & 0xff);
	assert_int_equal(f->nmsi, 1);
	assert_int_equal(f->msi_vec[0], 0);             /* config vector 0 */
	fx_free(f);

	f = fx_new(VIO_PCI_DEV_MODERN, 0, V1, VIO_ID_RNG, false);
	drv_modern_up(f, V1, TQ, TMAX);
	vio_dev_config_changed(&f->t.d);
	assert_true(f->intx);
	assert_int_equal(br(f, MODERN, VIO_PCI_DEV_ISR_OFF, 1), VIO_PCI_ISR_CONFIG);
	assert_false(f->intx);
	fx_free(f);
}

static void device_config_modern(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_MODERN, NVEC, V1, VIO_ID_RNG, false);

	assert_int_equal(br(f, MODERN, VIO_PCI_DEV_DEVICE_OFF, 4), 0xa3a2a1a0);
	assert_int_equal(br(f, MODERN, VIO_PCI_DEV_DEVICE_OFF + 4, 2), 0xa5a4);
	assert_int_equal(br(f, MODERN, VIO_PCI_DEV_DEVICE_OFF + 5, 1), 0xa5);
	bw(f, MODERN, VIO_PCI_DEV_DEVICE_OFF + 2, 2, 0x1234);
	assert_int_equal(f->t.cfg_writes, 1);
	assert_int_equal(f->t.config[2], 0x34);
	assert_int_equal(f->t.config[3], 0x12);
	fx_free(f);
}

static void msix_masked_vector_pends(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_MODERN, NVEC, V1, VIO_ID_RNG, false);
	uint64_t ctrl1 = VIO_PCI_DEV_MSIX_TABLE_OFF + 1 * 16 + VIO_PCI_MSIX_ENTRY_CTRL;

	f->t.mode = TDEV_ECHO;
	fx_msix_on(f);
	drv_modern_up(f, V1, TQ, TMAX);
	/* Entries start masked: fx_msix_on unmasked them; mask vector 1. */
	bw(f, MSIXBAR, ctrl1, 4, 1);
	run_io(f, 0, false);                            /* queue 0 -> vector 1 */
	assert_int_equal(f->nmsi, 0);
	assert_int_equal(br(f, MSIXBAR, VIO_PCI_DEV_MSIX_PBA_OFF, 4), 1u << 1);
	bw(f, MSIXBAR, ctrl1, 4, 0);                    /* unmask: delivered */
	assert_int_equal(f->nmsi, 1);
	assert_int_equal(f->msi_vec[0], 1);
	assert_int_equal(br(f, MSIXBAR, VIO_PCI_DEV_MSIX_PBA_OFF, 4), 0);

	/* The function mask does the same for every vector. */
	cw(f, VIO_PCI_DEV_CAP_MSIX + 2, 2, VIO_PCI_MSIX_FLAGS_ENABLE | VIO_PCI_MSIX_FLAGS_MASKALL);
	run_io(f, 1, false);                            /* queue 1 -> vector 2 */
	assert_int_equal(f->nmsi, 1);
	assert_int_equal(br(f, MSIXBAR, VIO_PCI_DEV_MSIX_PBA_OFF, 4), 1u << 2);
	cw(f, VIO_PCI_DEV_CAP_MSIX + 2, 2, VIO_PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(f->nmsi, 2);
	assert_int_equal(f->msi_vec[1], 2);
	/* The table reads back what was written. */
	assert_int_equal(br(f, MSIXBAR, 2 * 16 + VIO_PCI_MSIX_ENTRY_DATA, 4), MSI_DATA(2));
	fx_free(f);
}

static void notify_callback_instead_of_device(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_MODERN, NVEC, V1, VIO_ID_RNG, true);
	int tok;

	f->t.mode = TDEV_ECHO;
	drv_modern_up(f, V1, TQ, TMAX);
	memset(f->notify_cb, 0, sizeof(f->notify_cb)); /* DRIVER_OK kicked each queue once */
	drv_post(f, 1, &tok);
	drv_kick(f, 1);
	assert_int_equal(f->notify_cb[1], 1);
	assert_int_equal(f->t.kicks[1], 0);             /* the VMM's thread does it */
	vio_dev_notify(&f->t.d, 1);
	assert_ptr_equal(drv_reap(f, 1), &tok);
	fx_free(f);
}

static void kick_before_driver_ok_is_served_at_driver_ok(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_MODERN, NVEC, V1, VIO_ID_RNG, false);
	int tok;

	f->t.mode = TDEV_ECHO;
	drv_features(f, V1);
	drv_queue(f, 0, TMAX);
	drv_post(f, 0, &tok);
	drv_kick(f, 0);
	assert_int_equal(f->t.kicks[0], 0);             /* dropped before DRIVER_OK */
	drv_status(f, FULL_STATUS);
	assert_int_equal(f->t.kicks[0], 1);
	assert_ptr_equal(drv_reap(f, 0), &tok);
	fx_free(f);
}

static void packed_any_size(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_MODERN, NVEC, V1 | F_PACKED, VIO_ID_RNG, false);

	f->t.mode = TDEV_ECHO;
	drv_modern_up(f, V1 | F_PACKED, TQ, 12);        /* not a power of two: fine */
	run_io(f, 0, false);
	run_io(f, 1, false);
	fx_free(f);
}

static void transitional_modern_io(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_TRANSITIONAL, NVEC, V1, VIO_ID_RNG, false);

	f->t.mode = TDEV_ECHO;
	fx_msix_on(f);
	drv_modern_up(f, V1, TQ, TMAX);
	run_io(f, 0, false);
	assert_int_equal(f->nmsi, 1);
	assert_false(f->t.d.legacy);
	fx_free(f);
}

static void legacy_io_intx(void **state)
{
	enum vio_pci_dev_mode modes[] = { VIO_PCI_DEV_TRANSITIONAL, VIO_PCI_DEV_LEGACY };

	for (unsigned m = 0; m < 2; m++) {
		struct fx *f = fx_new(modes[m], NVEC, V1 | F_DEV0, VIO_ID_RNG, false);

		f->t.mode = TDEV_ECHO;
		assert_int_equal(br(f, LEGACY, VIO_PCI_LEGACY_HOST_FEATURES, 4), 1); /* no bit 32 */
		drv_legacy_up(f, 1, TQ);
		assert_true(f->t.d.legacy);
		assert_int_equal(br(f, LEGACY, VIO_PCI_LEGACY_GUEST_FEATURES, 4), 1);
		run_io(f, 1, true);
		assert_true(f->intx);
		assert_int_equal(br(f, LEGACY, VIO_PCI_LEGACY_ISR, 1), VIO_PCI_ISR_QUEUE);
		assert_false(f->intx);
		fx_free(f);
	}
}

static void legacy_layout_with_and_without_msix(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_LEGACY, NVEC, V1, VIO_ID_RNG, false);

	/* MSI-X off: device config at 0x14. */
	assert_int_equal(br(f, LEGACY, 0x14, 1), 0xa0);
	assert_int_equal(br(f, LEGACY, 0x16, 2), 0xa3a2);
	fx_msix_on(f);
	/* On: the two vector registers at 0x14 and 0x16, config at 0x18. */
	assert_int_equal(br(f, LEGACY, 0x18, 1), 0xa0);
	assert_int_equal(br(f, LEGACY, 0x14, 2), 0xffff);
	bw(f, LEGACY, VIO_PCI_LEGACY_MSIX_CONFIG, 2, 0);
	bw(f, LEGACY, VIO_PCI_LEGACY_QUEUE_SEL, 2, 1);
	bw(f, LEGACY, VIO_PCI_LEGACY_MSIX_QUEUE, 2, 3);
	assert_int_equal(br(f, LEGACY, 0x14, 2), 0);
	assert_int_equal(br(f, LEGACY, 0x16, 2), 3);
	f->t.mode = TDEV_ECHO;
	drv_legacy_up(f, 0, TQ);
	run_io(f, 1, true);
	assert_int_equal(f->nmsi, 1);
	assert_int_equal(f->msi_vec[0], 3);
	fx_free(f);
}

static void ring_reset_one_queue(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_MODERN, NVEC, V1 | F_RESET, VIO_ID_RNG, false);

	f->t.mode = TDEV_ECHO;
	drv_modern_up(f, V1 | F_RESET, TQ, TMAX);
	run_io(f, 0, false);
	mw(f, VIO_PCI_COMMON_Q_SELECT, 0);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_RESET), 0);
	mw(f, VIO_PCI_COMMON_Q_RESET, 1);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_RESET), 1);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_ENABLE), 0);
	assert_false(vio_dev_queue_live(&f->t.d, 0));
	assert_true(vio_dev_queue_live(&f->t.d, 1));
	assert_int_equal(f->t.qresets, 1);
	/* Set up again after DRIVER_OK: allowed for the queue reset alone. */
	memset(&f->dq[0], 0, sizeof(f->dq[0]));
	drv_queue(f, 0, 8);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_RESET), 0);
	assert_true(vio_dev_queue_live(&f->t.d, 0));
	run_io(f, 0, false);
	fx_free(f);
}

static void pci_cfg_window(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_MODERN, 0, V1, VIO_ID_RNG, false);
	unsigned c = VIO_PCI_DEV_CAP_PCI_CFG;

	/* Read num_queues through the window. */
	cw(f, c + 4, 1, 4);
	cw(f, c + 8, 4, VIO_PCI_COMMON_NUMQ);
	cw(f, c + 12, 4, 2);
	assert_int_equal(cr(f, c + 16, 4) & 0xffff, TQ);
	/* Write queue_select through it. */
	cw(f, c + 8, 4, VIO_PCI_COMMON_Q_SELECT);
	cw(f, c + 16, 4, 1);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_SELECT), 1);
	/* ISR through the window reads and clears. */
	drv_modern_up(f, V1, TQ, TMAX);
	vio_dev_config_changed(&f->t.d);
	assert_true(f->intx);
	cw(f, c + 8, 4, VIO_PCI_DEV_ISR_OFF);
	cw(f, c + 12, 4, 1);
	assert_int_equal(cr(f, c + 16, 1), VIO_PCI_ISR_CONFIG);
	assert_false(f->intx);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ids_modern),
		cmocka_unit_test(ids_transitional),
		cmocka_unit_test(ids_legacy_has_no_modern_caps),
		cmocka_unit_test(class_per_device_type),
		cmocka_unit_test(cap_list_modern),
		cmocka_unit_test(bar_sizing),
		cmocka_unit_test(config_writes_only_writable_bits),
		cmocka_unit_test(features_modern),
		cmocka_unit_test(modern_io_msix),
		cmocka_unit_test(modern_io_intx),
		cmocka_unit_test(config_interrupt_and_generation),
		cmocka_unit_test(device_config_modern),
		cmocka_unit_test(msix_masked_vector_pends),
		cmocka_unit_test(notify_callback_instead_of_device),
		cmocka_unit_test(kick_before_driver_ok_is_served_at_driver_ok),
		cmocka_unit_test(packed_any_size),
		cmocka_unit_test(transitional_modern_io),
		cmocka_unit_test(legacy_io_intx),
		cmocka_unit_test(legacy_layout_with_and_without_msix),
		cmocka_unit_test(ring_reset_one_queue),
		cmocka_unit_test(pci_cfg_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
