/*
 * test_pci_dev_bounds.c - the virtio-pci register model against a driver
 * that gets every access wrong, one case per mistake: widths, alignment,
 * accesses past every space and structure, queue_select past the last
 * queue followed by every per-queue register (the register two VMMs
 * panicked on), queue sizes, status phases, feature selects, MSI-X
 * vectors and table, notifications nobody can take, a reset with I/O in
 * flight, rings outside guest memory, the pci_cfg window pointed
 * anywhere, the legacy QUEUE_PFN.
 *
 * Each case checks the model refused or ignored the access (what reads
 * back, what reached the device type), and ASan checks nothing was
 * touched outside the model and the guest's memory.
 */
#include "test_pci_dev_fixture.h"

#define FULL_STATUS (S_ACK | S_DRV | S_FOK | S_DOK)

/* A read the model must refuse: -EINVAL and all ones. */
static void bad_bar_read(struct fx *f, unsigned bar, uint64_t off, unsigned width)
{
	uint64_t v = 0x5a;

	assert_int_equal(vio_pci_dev_bar_read(&f->p, bar, off, width, &v), -EINVAL);
	assert_true(v == 0xff || v == 0xffff || v == 0xffffffff);
}

static void bad_bar_write(struct fx *f, unsigned bar, uint64_t off, unsigned width)
{
	assert_int_equal(vio_pci_dev_bar_write(&f->p, bar, off, width, 0xffffffff), -EINVAL);
}

static void bad_cfg(struct fx *f, unsigned off, unsigned width)
{
	uint32_t v = 0;

	assert_int_equal(vio_pci_dev_cfg_read(&f->p, off, width, &v), -EINVAL);
	assert_true(v == 0xff || v == 0xffff || v == 0xffffffff);
	assert_int_equal(vio_pci_dev_cfg_write(&f->p, off, width, 0xffffffff), -EINVAL);
}

static struct fx *modern(uint64_t offer)
{
	return fx_new(VIO_PCI_DEV_MODERN, NVEC, offer, VIO_ID_RNG, false);
}

/* ------------------------------------------------------------------------ */

static void cfg_wrong_width(void **state)
{
	struct fx *f = modern(V1);

	bad_cfg(f, 0, 0);
	bad_cfg(f, 0, 3);
	bad_cfg(f, 0, 8);
	bad_cfg(f, 0x10, 8);
	assert_int_equal(cr(f, 0, 2), 0x1af4);
	fx_free(f);
}

static void cfg_unaligned(void **state)
{
	struct fx *f = modern(V1);

	bad_cfg(f, 1, 2);
	bad_cfg(f, 0x11, 4);
	bad_cfg(f, 0x12, 4);
	bad_cfg(f, 0xff, 2);            /* would straddle the end, too */
	assert_int_equal(cr(f, 0x10, 4), 0); /* BAR 0 untouched (absent in modern) */
	fx_free(f);
}

static void cfg_past_the_end(void **state)
{
	struct fx *f = modern(V1);

	bad_cfg(f, 256, 1);
	bad_cfg(f, 256, 4);
	bad_cfg(f, 0x1000, 4);
	bad_cfg(f, UINT32_MAX, 1);
	bad_cfg(f, UINT32_MAX - 3, 4);
	assert_int_equal(cr(f, 252, 4), 0);   /* the last word is fine */
	fx_free(f);
}

static void bar_wrong_width(void **state)
{
	struct fx *f = modern(V1);

	/* device_feature_select is 32 bits: 1, 2 and 8-byte accesses fail. */
	bad_bar_read(f, MODERN, COMMON(VIO_PCI_COMMON_DFSELECT), 1);
	bad_bar_read(f, MODERN, COMMON(VIO_PCI_COMMON_DFSELECT), 2);
	bad_bar_read(f, MODERN, COMMON(VIO_PCI_COMMON_DFSELECT), 8);
	/* queue_select is 16: a 4-byte write there would also hit queue_size. */
	bad_bar_write(f, MODERN, COMMON(VIO_PCI_COMMON_Q_SELECT), 4);
	/* status is 8 bits. */
	bad_bar_write(f, MODERN, COMMON(VIO_PCI_COMMON_STATUS), 2);
	bad_bar_read(f, MODERN, VIO_PCI_DEV_ISR_OFF, 4);
	bad_bar_write(f, MODERN, NOTIFY(0), 1);
	bad_bar_read(f, MODERN, VIO_PCI_DEV_DEVICE_OFF, 3);
	assert_int_equal(mr(f, VIO_PCI_COMMON_STATUS), 0);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_SELECT), 0);
	fx_free(f);
}

static void bar_unaligned(void **state)
{
	struct fx *f = modern(V1);

	bad_bar_read(f, MODERN, COMMON(1), 1);          /* inside a 32-bit register */
	bad_bar_read(f, MODERN, COMMON(0x13), 2);
	bad_bar_write(f, MODERN, COMMON(0x17), 2);      /* straddles queue_select and queue_size */
	bad_bar_read(f, MODERN, VIO_PCI_DEV_DEVICE_OFF + 1, 2);
	bad_bar_write(f, MODERN, NOTIFY(0) + 2, 2);     /* between two queues' addresses */
	bad_bar_read(f, MSIXBAR, 2, 4);
	assert_int_equal(f->t.kicks[0] + f->t.kicks[1], 0);
	fx_free(f);
}

static void bar_past_the_bar(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_TRANSITIONAL, NVEC, V1, VIO_ID_RNG, false);
	uint64_t s0 = vio_pci_dev_bar_size(&f->p, 0, NULL);
	uint64_t s4 = vio_pci_dev_bar_size(&f->p, 4, NULL);

	bad_bar_read(f, MODERN, s4, 4);
	bad_bar_write(f, MODERN, s4, 2);
	bad_bar_read(f, MODERN, s4 - 2, 4);
	bad_bar_read(f, MODERN, UINT64_MAX - 3, 4);
	bad_bar_write(f, MODERN, UINT64_MAX - 1, 2);
	bad_bar_read(f, LEGACY, s0, 1);
	bad_bar_read(f, MSIXBAR, VIO_PCI_DEV_MSIX_BAR_SIZE, 4);
	/* BARs the function does not have. */
	bad_bar_read(f, 2, 0, 4);
	bad_bar_read(f, 3, 0, 4);
	bad_bar_read(f, 5, 0, 4);       /* the modern BAR's high half */
	bad_bar_write(f, 6, 0, 4);
	bad_bar_write(f, UINT32_MAX, 0, 4);
	/* Holes in the modern BAR: past common config, ISR's one byte,
	 * device config and the notify area. */
	bad_bar_read(f, MODERN, COMMON(VIO_PCI_COMMON_CFG_SIZE), 4);
	bad_bar_read(f, MODERN, VIO_PCI_DEV_ISR_OFF + 1, 1);
	bad_bar_read(f, MODERN, VIO_PCI_DEV_DEVICE_OFF + 0x800, 4);
	bad_bar_write(f, MODERN, NOTIFY(TQ), 2);
	fx_free(f);
}

/* queue_select past the last queue, then every per-queue register, read
 * and written: reads 0, writes change nothing anywhere. */
static void queue_select_out_of_range_every_register(void **state)
{
	static const unsigned regs[] = {
		VIO_PCI_COMMON_Q_SIZE, VIO_PCI_COMMON_Q_MSIX, VIO_PCI_COMMON_Q_ENABLE,
		VIO_PCI_COMMON_Q_NOFF, VIO_PCI_COMMON_Q_DESCLO, VIO_PCI_COMMON_Q_DESCHI,
		VIO_PCI_COMMON_Q_AVAILLO, VIO_PCI_COMMON_Q_AVAILHI, VIO_PCI_COMMON_Q_USEDLO,
		VIO_PCI_COMMON_Q_USEDHI, VIO_PCI_COMMON_Q_NDATA, VIO_PCI_COMMON_Q_RESET,
	};
	static const unsigned sels[] = { TQ, TQ + 1, VIO_PCI_DEV_MAX_QUEUES, 0x7fff, 0xffff };
	struct fx *f = modern(V1 | F_RESET);
	struct vio_pci_dev before;

	fx_msix_on(f);
	drv_features(f, V1 | F_RESET);
	memcpy(&before, &f->p, sizeof(before));
	for (unsigned s = 0; s < sizeof(sels) / sizeof(sels[0]); s++) {
		mw(f, VIO_PCI_COMMON_Q_SELECT, sels[s]);
		assert_int_equal(mr(f, VIO_PCI_COMMON_Q_SELECT), sels[s]);
		for (unsigned r = 0; r < sizeof(regs) / sizeof(regs[0]); r++) {
			assert_int_equal(mr(f, regs[r]), 0);
			mw(f, regs[r], 1);
			mw(f, regs[r], 0xffff);
			assert_int_equal(mr(f, regs[r]), 0);
		}
	}
	/* Nothing changed but queue_select. */
	mw(f, VIO_PCI_COMMON_Q_SELECT, 0);
	assert_memory_equal(&before, &f->p, sizeof(before));
	for (unsigned qi = 0; qi < TQ; qi++)
		assert_false(f->t.q[qi].enabled);
	assert_int_equal(f->t.qresets, 0);
	/* The same through the legacy registers. */
	fx_free(f);
	f = fx_new(VIO_PCI_DEV_LEGACY, NVEC, V1, VIO_ID_RNG, false);
	fx_msix_on(f);
	memcpy(&before, &f->p, sizeof(before));
	bw(f, LEGACY, VIO_PCI_LEGACY_QUEUE_SEL, 2, 0xffff);
	assert_int_equal(br(f, LEGACY, VIO_PCI_LEGACY_QUEUE_NUM, 2), 0);
	assert_int_equal(br(f, LEGACY, VIO_PCI_LEGACY_QUEUE_PFN, 4), 0);
	assert_int_equal(br(f, LEGACY, VIO_PCI_LEGACY_MSIX_QUEUE, 2), 0);
	bw(f, LEGACY, VIO_PCI_LEGACY_MSIX_QUEUE, 2, 1);
	bw(f, LEGACY, VIO_PCI_LEGACY_QUEUE_PFN, 4, 0x100);
	assert_int_equal(br(f, LEGACY, VIO_PCI_LEGACY_MSIX_QUEUE, 2), 0);
	bw(f, LEGACY, VIO_PCI_LEGACY_QUEUE_SEL, 2, 0);
	assert_memory_equal(&before, &f->p, sizeof(before));
	fx_free(f);
}

static void queue_size_zero(void **state)
{
	struct fx *f = modern(V1);

	drv_features(f, V1);
	mw(f, VIO_PCI_COMMON_Q_SIZE, 0);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_SIZE), TMAX);
	fx_free(f);
}

static void queue_size_above_max(void **state)
{
	struct fx *f = modern(V1);

	drv_features(f, V1);
	mw(f, VIO_PCI_COMMON_Q_SIZE, TMAX * 2);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_SIZE), TMAX);
	mw(f, VIO_PCI_COMMON_Q_SIZE, 0x8000);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_SIZE), TMAX);
	mw(f, VIO_PCI_COMMON_Q_SIZE, 0xffff);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_SIZE), TMAX);
	fx_free(f);
}

static void queue_size_not_power_of_two_split(void **state)
{
	struct fx *f = modern(V1 | F_PACKED);

	drv_features(f, V1);            /* split */
	mw(f, VIO_PCI_COMMON_Q_SIZE, 12);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_SIZE), TMAX);
	mw(f, VIO_PCI_COMMON_Q_SIZE, 8);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_SIZE), 8);
	fx_free(f);
	/* Packed takes it. */
	f = modern(V1 | F_PACKED);
	drv_features(f, V1 | F_PACKED);
	mw(f, VIO_PCI_COMMON_Q_SIZE, 12);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_SIZE), 12);
	fx_free(f);
}

static void queue_size_written_as_32_bits(void **state)
{
	struct fx *f = modern(V1);

	drv_features(f, V1);
	bad_bar_write(f, MODERN, COMMON(VIO_PCI_COMMON_Q_SIZE), 4);
	assert_int_equal(vio_pci_dev_bar_write(&f->p, MODERN, COMMON(VIO_PCI_COMMON_Q_SIZE), 4,
					       0x10000), -EINVAL);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_SIZE), TMAX);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_MSIX), 0xffff);
	/* A 16-bit register takes the low 16 bits of a wider value only
	 * through its own width: 0x10000 truncates to 0, which is refused. */
	mw(f, VIO_PCI_COMMON_Q_SIZE, 0x10000);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_SIZE), TMAX);
	fx_free(f);
}

static void queue_registers_in_the_wrong_phase(void **state)
{
	struct fx *f = modern(V1);

	/* Before FEATURES_OK. */
	drv_status(f, S_ACK | S_DRV);
	mw(f, VIO_PCI_COMMON_Q_SIZE, 8);
	mw(f, VIO_PCI_COMMON_Q_DESCLO, 0x1000);
	mw(f, VIO_PCI_COMMON_Q_ENABLE, 1);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_SIZE), TMAX);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_DESCLO), 0);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_ENABLE), 0);
	assert_false(f->t.q[0].enabled);
	fx_free(f);

	/* After DRIVER_OK (no RING_RESET): queue 1 was never set up. */
	f = modern(V1);
	drv_modern_up(f, V1, 1, TMAX);
	mw(f, VIO_PCI_COMMON_Q_SELECT, 1);
	mw(f, VIO_PCI_COMMON_Q_SIZE, 8);
	mw(f, VIO_PCI_COMMON_Q_USEDLO, 0x1000);
	mw(f, VIO_PCI_COMMON_Q_ENABLE, 1);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_SIZE), TMAX);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_USEDLO), 0);
	assert_false(f->t.q[1].enabled);
	/* Nor can an enabled queue be moved. */
	mw(f, VIO_PCI_COMMON_Q_SELECT, 0);
	mw(f, VIO_PCI_COMMON_Q_DESCLO, 0x2000);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_DESCLO), (uint32_t)GPA);
	/* queue_reset without RING_RESET: nothing. */
	mw(f, VIO_PCI_COMMON_Q_RESET, 1);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_RESET), 0);
	assert_true(vio_dev_queue_live(&f->t.d, 0));
	fx_free(f);
}

static void features_in_the_wrong_phase(void **state)
{
	struct fx *f = modern(V1 | F_DEV0);

	/* Before DRIVER. */
	drv_status(f, S_ACK);
	mw(f, VIO_PCI_COMMON_GF, 1);
	assert_int_equal(mr(f, VIO_PCI_COMMON_GF), 0);
	/* After FEATURES_OK. */
	drv_features(f, V1);
	mw(f, VIO_PCI_COMMON_GFSELECT, 0);
	mw(f, VIO_PCI_COMMON_GF, 1);
	assert_int_equal(mr(f, VIO_PCI_COMMON_GF), 0);
	assert_int_equal(f->t.d.features, V1);
	/* Legacy: guest features after DRIVER_OK are ignored. */
	fx_free(f);
	f = fx_new(VIO_PCI_DEV_LEGACY, 0, V1 | F_DEV0, VIO_ID_RNG, false);
	drv_legacy_up(f, 0, 1);
	bw(f, LEGACY, VIO_PCI_LEGACY_GUEST_FEATURES, 4, 1);
	assert_int_equal(br(f, LEGACY, VIO_PCI_LEGACY_GUEST_FEATURES, 4), 0);
	fx_free(f);
}

static void features_ok_with_bits_never_offered(void **state)
{
	struct fx *f = modern(V1);

	drv_status(f, S_ACK | S_DRV);
	mw(f, VIO_PCI_COMMON_GFSELECT, 0);
	mw(f, VIO_PCI_COMMON_GF, F_DEV0);               /* not offered */
	mw(f, VIO_PCI_COMMON_GFSELECT, 1);
	mw(f, VIO_PCI_COMMON_GF, 1);
	drv_status(f, S_ACK | S_DRV | S_FOK);
	assert_int_equal(mr(f, VIO_PCI_COMMON_STATUS), S_ACK | S_DRV);
	/* Nor DRIVER_OK after it. */
	drv_status(f, FULL_STATUS);
	assert_int_equal(mr(f, VIO_PCI_COMMON_STATUS) & (S_FOK | S_DOK), 0);
	fx_free(f);

	/* Without VERSION_1 on the modern interface: refused too. */
	f = modern(V1 | F_DEV0);
	drv_status(f, S_ACK | S_DRV);
	mw(f, VIO_PCI_COMMON_GF, F_DEV0);
	drv_status(f, S_ACK | S_DRV | S_FOK);
	assert_int_equal(mr(f, VIO_PCI_COMMON_STATUS), S_ACK | S_DRV);
	fx_free(f);

	/* Legacy: bits never offered are dropped. */
	f = fx_new(VIO_PCI_DEV_LEGACY, 0, V1, VIO_ID_RNG, false);
	bw(f, LEGACY, VIO_PCI_LEGACY_STATUS, 1, S_ACK | S_DRV);
	bw(f, LEGACY, VIO_PCI_LEGACY_GUEST_FEATURES, 4, 0xffffffff);
	assert_int_equal(br(f, LEGACY, VIO_PCI_LEGACY_GUEST_FEATURES, 4), 0);
	fx_free(f);
}

static void feature_select_above_one(void **state)
{
	struct fx *f = modern(V1 | F_DEV0 | B(63));

	for (uint32_t sel = 2; sel < 6; sel++) {
		mw(f, VIO_PCI_COMMON_DFSELECT, sel);
		assert_int_equal(mr(f, VIO_PCI_COMMON_DF), 0);
	}
	mw(f, VIO_PCI_COMMON_DFSELECT, UINT32_MAX);
	assert_int_equal(mr(f, VIO_PCI_COMMON_DF), 0);
	drv_status(f, S_ACK | S_DRV);
	mw(f, VIO_PCI_COMMON_GFSELECT, 2);
	mw(f, VIO_PCI_COMMON_GF, 0xffffffff);
	assert_int_equal(mr(f, VIO_PCI_COMMON_GF), 0);
	mw(f, VIO_PCI_COMMON_GFSELECT, UINT32_MAX);
	mw(f, VIO_PCI_COMMON_GF, 0xffffffff);
	mw(f, VIO_PCI_COMMON_GFSELECT, 0);
	assert_int_equal(mr(f, VIO_PCI_COMMON_GF), 0);
	mw(f, VIO_PCI_COMMON_GFSELECT, 1);
	assert_int_equal(mr(f, VIO_PCI_COMMON_GF), 0);
	fx_free(f);
}

static void device_config_past_the_end(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_TRANSITIONAL, 0, V1, VIO_ID_RNG, false);

	/* TCFG is 6: offset 6 is past it, a 4-byte access at 4 straddles it. */
	bad_bar_read(f, MODERN, VIO_PCI_DEV_DEVICE_OFF + TCFG, 1);
	bad_bar_read(f, MODERN, VIO_PCI_DEV_DEVICE_OFF + 4, 4);
	bad_bar_write(f, MODERN, VIO_PCI_DEV_DEVICE_OFF + 4, 4);
	bad_bar_write(f, MODERN, VIO_PCI_DEV_DEVICE_OFF + 8, 4);
	bad_bar_read(f, LEGACY, VIO_PCI_LEGACY_CONFIG_OFF + 4, 4);
	bad_bar_write(f, LEGACY, VIO_PCI_LEGACY_CONFIG_OFF + TCFG, 1);
	assert_int_equal(f->t.cfg_writes, 0);
	assert_int_equal(br(f, MODERN, VIO_PCI_DEV_DEVICE_OFF + 4, 2), 0xa5a4); /* the last two */
	fx_free(f);
}

static void msix_vector_beyond_the_table(void **state)
{
	struct fx *f = modern(V1);

	fx_msix_on(f);
	drv_features(f, V1);
	mw(f, VIO_PCI_COMMON_MSIX, NVEC);
	assert_int_equal(mr(f, VIO_PCI_COMMON_MSIX), 0xffff);
	mw(f, VIO_PCI_COMMON_MSIX, 0x7ff);
	assert_int_equal(mr(f, VIO_PCI_COMMON_MSIX), 0xffff);
	mw(f, VIO_PCI_COMMON_Q_SELECT, 1);
	mw(f, VIO_PCI_COMMON_Q_MSIX, NVEC);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_MSIX), 0xffff);
	mw(f, VIO_PCI_COMMON_Q_MSIX, 0xfffe);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_MSIX), 0xffff);
	mw(f, VIO_PCI_COMMON_Q_MSIX, NVEC - 1);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_MSIX), NVEC - 1);
	/* A config change with NO_VECTOR: no message, no crash. */
	drv_status(f, FULL_STATUS);
	vio_dev_config_changed(&f->t.d);
	assert_int_equal(f->nmsi, 0);
	fx_free(f);

	f = fx_new(VIO_PCI_DEV_LEGACY, NVEC, V1, VIO_ID_RNG, false);
	fx_msix_on(f);
	bw(f, LEGACY, VIO_PCI_LEGACY_MSIX_CONFIG, 2, NVEC);
	assert_int_equal(br(f, LEGACY, VIO_PCI_LEGACY_MSIX_CONFIG, 2), 0xffff);
	bw(f, LEGACY, VIO_PCI_LEGACY_MSIX_QUEUE, 2, 0x1234);
	assert_int_equal(br(f, LEGACY, VIO_PCI_LEGACY_MSIX_QUEUE, 2), 0xffff);
	fx_free(f);
}

static void msix_table_past_the_table(void **state)
{
	struct fx *f = modern(V1);
	struct vio_pci_dev before;

	memcpy(&before, &f->p, sizeof(before));
	bad_bar_read(f, MSIXBAR, NVEC * 16, 4);
	bad_bar_write(f, MSIXBAR, NVEC * 16, 4);
	bad_bar_write(f, MSIXBAR, NVEC * 16 + 12, 4);
	bad_bar_write(f, MSIXBAR, 0x7fc, 4);
	bad_bar_write(f, MSIXBAR, 0, 2);                /* the table takes 32-bit accesses */
	bad_bar_write(f, MSIXBAR, 0, 1);
	bad_bar_read(f, MSIXBAR, VIO_PCI_DEV_MSIX_PBA_OFF + 8, 4);
	bad_bar_write(f, MSIXBAR, VIO_PCI_DEV_MSIX_PBA_OFF + 8, 4);
	assert_memory_equal(&before, &f->p, sizeof(before));
	/* The PBA is read-only. */
	bw(f, MSIXBAR, VIO_PCI_DEV_MSIX_PBA_OFF, 4, 0xffffffff);
	assert_int_equal(br(f, MSIXBAR, VIO_PCI_DEV_MSIX_PBA_OFF, 4), 0);
	fx_free(f);
}

static void notify_for_a_queue_that_does_not_exist(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_TRANSITIONAL, NVEC, V1, VIO_ID_RNG, true);

	drv_modern_up(f, V1, TQ, TMAX);
	memset(f->notify_cb, 0, sizeof(f->notify_cb));
	bad_bar_write(f, MODERN, NOTIFY(TQ), 2);        /* past the notify area */
	bad_bar_write(f, MODERN, NOTIFY(TQ + 100), 2);
	/* The legacy register names the queue in its value. */
	bw(f, LEGACY, VIO_PCI_LEGACY_QUEUE_NOTIFY, 2, TQ);
	bw(f, LEGACY, VIO_PCI_LEGACY_QUEUE_NOTIFY, 2, 0xffff);
	assert_int_equal(f->notify_cb[0] + f->notify_cb[1], 0);
	fx_free(f);
}

static void notify_for_a_queue_not_ready(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_MODERN, NVEC, V1, VIO_ID_RNG, true);

	drv_modern_up(f, V1, 1, TMAX);                  /* queue 1 never enabled */
	memset(f->notify_cb, 0, sizeof(f->notify_cb));
	drv_kick(f, 1);
	assert_int_equal(f->notify_cb[1], 0);
	assert_int_equal(f->t.kicks[1], 0);
	drv_kick(f, 0);
	assert_int_equal(f->notify_cb[0], 1);           /* the live one does */
	fx_free(f);
}

static void notify_before_driver_ok(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_MODERN, NVEC, V1, VIO_ID_RNG, true);

	drv_features(f, V1);
	drv_queue(f, 0, TMAX);
	drv_kick(f, 0);
	assert_int_equal(f->notify_cb[0], 0);
	assert_int_equal(f->t.kicks[0], 0);
	fx_free(f);
	/* Legacy too. */
	f = fx_new(VIO_PCI_DEV_LEGACY, 0, V1, VIO_ID_RNG, false);
	bw(f, LEGACY, VIO_PCI_LEGACY_QUEUE_NOTIFY, 2, 0);
	assert_int_equal(f->t.kicks[0], 0);
	fx_free(f);
}

/* A reset while the device holds buffers: it stops using the rings at
 * once (nothing is pushed, a kick reaches nothing), and the driver takes
 * every buffer back. */
static void reset_with_io_in_flight(void **state)
{
	enum vio_pci_dev_mode modes[] = { VIO_PCI_DEV_MODERN, VIO_PCI_DEV_LEGACY };

	for (unsigned m = 0; m < 2; m++) {
		struct fx *f = fx_new(modes[m], 0, V1, VIO_ID_RNG, false);
		int toks[3];
		unsigned got = 0, resets, kicks;
		void *t;

		f->t.mode = TDEV_HOLD;
		if (m == 0)
			drv_modern_up(f, V1, TQ, TMAX);
		else
			drv_legacy_up(f, 0, TQ);
		for (unsigned i = 0; i < 3; i++)
			drv_post(f, 0, &toks[i]);
		if (m == 0)
			drv_kick(f, 0);
		else
			drv_legacy_kick(f, 0);
		assert_int_equal(f->t.nheld, 3);
		resets = f->t.resets;
		if (m == 0)
			drv_status(f, 0);
		else
			bw(f, LEGACY, VIO_PCI_LEGACY_STATUS, 1, 0);
		assert_int_equal(f->t.resets, resets + 1);
		assert_int_equal(f->t.nheld, 0);
		kicks = f->t.kicks[0];
		assert_false(vio_dev_queue_live(&f->t.d, 0));
		assert_null(vio_dev_vq(&f->t.d, 0));
		assert_int_equal(vio_dev_get_status(&f->t.d), 0);
		/* A kick after the reset reaches nothing. */
		if (m == 0)
			drv_kick(f, 0);
		else
			drv_legacy_kick(f, 0);
		assert_int_equal(f->t.kicks[0], kicks);
		/* Nothing came back through the ring... */
		assert_null(drv_reap(f, 0));
		/* ...and the driver takes all three back. */
		while ((t = vio_drvq_detach_unused(&f->dq[0])) != NULL) {
			assert_true(t == &toks[0] || t == &toks[1] || t == &toks[2]);
			got++;
		}
		assert_int_equal(got, 3);
		/* The transport forgot what the driver wrote. */
		if (m == 0) {
			assert_int_equal(mr(f, VIO_PCI_COMMON_Q_DESCLO), 0);
			assert_int_equal(mr(f, VIO_PCI_COMMON_Q_ENABLE), 0);
		} else {
			assert_int_equal(br(f, LEGACY, VIO_PCI_LEGACY_QUEUE_PFN, 4), 0);
		}
		fx_free(f);
	}
}

static void rings_outside_guest_memory(void **state)
{
	static const uint64_t descs[] = {
		0xdead0000,                     /* nowhere */
		GPA + GMEM - 64,                /* straddles the end */
		UINT64_MAX - 15,                /* wraps */
	};

	for (unsigned i = 0; i < sizeof(descs) / sizeof(descs[0]); i++) {
		struct fx *f = modern(V1);

		fx_msix_on(f);
		drv_features(f, V1);
		mw(f, VIO_PCI_COMMON_MSIX, 0);
		mw(f, VIO_PCI_COMMON_Q_DESCLO, (uint32_t)descs[i]);
		mw(f, VIO_PCI_COMMON_Q_DESCHI, descs[i] >> 32);
		mw(f, VIO_PCI_COMMON_Q_AVAILLO, (uint32_t)GPA);
		mw(f, VIO_PCI_COMMON_Q_USEDLO, (uint32_t)GPA + 0x1000);
		mw(f, VIO_PCI_COMMON_Q_ENABLE, 1);
		assert_true(mr(f, VIO_PCI_COMMON_STATUS) & S_NR);
		assert_false(vio_dev_queue_live(&f->t.d, 0));
		/* DRIVER_OK does not bring it to life. */
		drv_status(f, FULL_STATUS | S_NR);
		assert_false(vio_dev_queue_live(&f->t.d, 0));
		drv_kick(f, 0);
		assert_int_equal(f->t.kicks[0], 0);
		/* A reset recovers. */
		drv_status(f, 0);
		assert_int_equal(mr(f, VIO_PCI_COMMON_STATUS), 0);
		fx_free(f);
	}
	/* Legacy: a PFN outside memory. */
	{
		struct fx *f = fx_new(VIO_PCI_DEV_LEGACY, 0, V1, VIO_ID_RNG, false);

		bw(f, LEGACY, VIO_PCI_LEGACY_STATUS, 1, S_ACK | S_DRV);
		bw(f, LEGACY, VIO_PCI_LEGACY_QUEUE_PFN, 4, 0xfffff);
		assert_true(br(f, LEGACY, VIO_PCI_LEGACY_STATUS, 1) & S_NR);
		assert_int_equal(br(f, LEGACY, VIO_PCI_LEGACY_QUEUE_PFN, 4), 0);
		fx_free(f);
	}
}

static void pci_cfg_window_outside_a_bar(void **state)
{
	struct fx *f = modern(V1);
	unsigned c = VIO_PCI_DEV_CAP_PCI_CFG;
	uint64_t s4 = vio_pci_dev_bar_size(&f->p, 4, NULL);
	static const struct { uint8_t bar; uint32_t off, len; } w[] = {
		{ 4, 0, 0 }, { 4, 0, 3 }, { 4, 0, 8 }, { 4, 1, 4 }, { 4, 0xffffffff, 1 },
		{ 4, 0x3c, 4 }, { 2, 0, 4 }, { 5, 0, 4 }, { 6, 0, 4 }, { 0xff, 0, 4 },
		{ 0, 0, 4 },
	};

	drv_status(f, S_ACK);
	for (unsigned i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		cw(f, c + 4, 1, w[i].bar);
		cw(f, c + 8, 4, w[i].off);
		cw(f, c + 12, 4, w[i].len);
		assert_int_equal(cr(f, c + 16, 4), 0);
		cw(f, c + 16, 4, 0);                    /* would reset if it reached status */
		assert_int_equal(mr(f, VIO_PCI_COMMON_STATUS), S_ACK);
	}
	cw(f, c + 4, 1, 4);
	cw(f, c + 8, 4, (uint32_t)s4);
	cw(f, c + 12, 4, 4);
	assert_int_equal(cr(f, c + 16, 4), 0);
	/* Straddling the BAR's end. */
	cw(f, c + 8, 4, (uint32_t)s4 - 2);
	assert_int_equal(cr(f, c + 16, 4), 0);
	fx_free(f);
}

static void legacy_pfn_for_an_absent_queue(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_LEGACY, 0, V1, VIO_ID_RNG, false);

	bw(f, LEGACY, VIO_PCI_LEGACY_STATUS, 1, S_ACK | S_DRV);
	bw(f, LEGACY, VIO_PCI_LEGACY_QUEUE_SEL, 2, TQ);
	bw(f, LEGACY, VIO_PCI_LEGACY_QUEUE_PFN, 4, GPA >> 12);
	assert_int_equal(br(f, LEGACY, VIO_PCI_LEGACY_QUEUE_PFN, 4), 0);
	assert_int_equal(br(f, LEGACY, VIO_PCI_LEGACY_QUEUE_NUM, 2), 0);
	for (unsigned qi = 0; qi < TQ; qi++)
		assert_false(f->t.q[qi].enabled);
	assert_int_equal(br(f, LEGACY, VIO_PCI_LEGACY_STATUS, 1), S_ACK | S_DRV);
	fx_free(f);
}

static void legacy_pfn_zero_releases_the_queue(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_LEGACY, 0, V1, VIO_ID_RNG, false);

	unsigned kicks;

	drv_legacy_up(f, 0, TQ);
	kicks = f->t.kicks[1];
	assert_true(vio_dev_queue_live(&f->t.d, 1));
	bw(f, LEGACY, VIO_PCI_LEGACY_QUEUE_SEL, 2, 1);
	bw(f, LEGACY, VIO_PCI_LEGACY_QUEUE_PFN, 4, 0);
	assert_int_equal(br(f, LEGACY, VIO_PCI_LEGACY_QUEUE_PFN, 4), 0);
	assert_false(vio_dev_queue_live(&f->t.d, 1));
	assert_false(f->t.q[1].enabled);
	assert_true(vio_dev_queue_live(&f->t.d, 0));
	assert_int_equal(f->t.qresets, 1);
	drv_legacy_kick(f, 1);
	assert_int_equal(f->t.kicks[1], kicks);
	/* A second PFN while one is live is refused: release first. */
	bw(f, LEGACY, VIO_PCI_LEGACY_QUEUE_SEL, 2, 0);
	bw(f, LEGACY, VIO_PCI_LEGACY_QUEUE_PFN, 4, (GPA + RING_STRIDE) >> 12);
	assert_int_equal(br(f, LEGACY, VIO_PCI_LEGACY_QUEUE_PFN, 4), GPA >> 12);
	fx_free(f);
}

static void legacy_wrong_width(void **state)
{
	struct fx *f = fx_new(VIO_PCI_DEV_LEGACY, NVEC, V1, VIO_ID_RNG, false);

	bad_bar_read(f, LEGACY, VIO_PCI_LEGACY_HOST_FEATURES, 2);
	bad_bar_write(f, LEGACY, VIO_PCI_LEGACY_QUEUE_PFN, 2);
	bad_bar_write(f, LEGACY, VIO_PCI_LEGACY_QUEUE_SEL, 4);
	bad_bar_write(f, LEGACY, VIO_PCI_LEGACY_STATUS, 2);
	bad_bar_read(f, LEGACY, VIO_PCI_LEGACY_STATUS + 1, 2);  /* unaligned */
	bad_bar_read(f, LEGACY, 0x02, 2);                       /* inside a register */
	fx_free(f);
}

static void init_refuses_what_it_cannot_model(void **state)
{
	struct fx *f = modern(V1);
	struct vio_pci_dev p;
	struct vio_pci_dev_opts o = { .mode = VIO_PCI_DEV_TRANSITIONAL, .ops = &f->ops };

	f->t.d.device_id = VIO_ID_GPU;                  /* no transitional id */
	assert_int_equal(vio_pci_dev_init(&p, &f->t.d, &o), -EINVAL);
	f->t.d.device_id = VIO_ID_RNG;
	f->t.d.legacy_ok = false;                       /* no legacy driver */
	assert_int_equal(vio_pci_dev_init(&p, &f->t.d, &o), -EINVAL);
	o.mode = VIO_PCI_DEV_MODERN;
	o.msix_vectors = VIO_PCI_DEV_MSIX_MAX + 1;
	assert_int_equal(vio_pci_dev_init(&p, &f->t.d, &o), -EINVAL);
	o.msix_vectors = 0;
	o.mode = (enum vio_pci_dev_mode)7;
	assert_int_equal(vio_pci_dev_init(&p, &f->t.d, &o), -EINVAL);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cfg_wrong_width),
		cmocka_unit_test(cfg_unaligned),
		cmocka_unit_test(cfg_past_the_end),
		cmocka_unit_test(bar_wrong_width),
		cmocka_unit_test(bar_unaligned),
		cmocka_unit_test(bar_past_the_bar),
		cmocka_unit_test(queue_select_out_of_range_every_register),
		cmocka_unit_test(queue_size_zero),
		cmocka_unit_test(queue_size_above_max),
		cmocka_unit_test(queue_size_not_power_of_two_split),
		cmocka_unit_test(queue_size_written_as_32_bits),
		cmocka_unit_test(queue_registers_in_the_wrong_phase),
		cmocka_unit_test(features_in_the_wrong_phase),
		cmocka_unit_test(features_ok_with_bits_never_offered),
		cmocka_unit_test(feature_select_above_one),
		cmocka_unit_test(device_config_past_the_end),
		cmocka_unit_test(msix_vector_beyond_the_table),
		cmocka_unit_test(msix_table_past_the_table),
		cmocka_unit_test(notify_for_a_queue_that_does_not_exist),
		cmocka_unit_test(notify_for_a_queue_not_ready),
		cmocka_unit_test(notify_before_driver_ok),
		cmocka_unit_test(reset_with_io_in_flight),
		cmocka_unit_test(rings_outside_guest_memory),
		cmocka_unit_test(pci_cfg_window_outside_a_bar),
		cmocka_unit_test(legacy_pfn_for_an_absent_queue),
		cmocka_unit_test(legacy_pfn_zero_releases_the_queue),
		cmocka_unit_test(legacy_wrong_width),
		cmocka_unit_test(init_refuses_what_it_cannot_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
