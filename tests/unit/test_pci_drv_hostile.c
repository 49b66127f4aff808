/*
 * test_pci_drv_hostile.c - the driver-side PCI transport against a device
 * that breaks the rules through its registers (the fake of pci_fake.c,
 * scripted per case).
 *
 * One case per misbehaviour. Each checks the outcome the transport
 * promises (the error, the device left FAILED and unbound, the fallback
 * that works), that it said why in a log line, that it stayed inside the
 * BARs (bad_accesses) and, for the waits, that the fake clock moved no
 * further than the bound.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pci_fake.h"
#include "vio/drivers/rng.h"

static int init(struct pf_ctx *c)
{
	pf_config(&c->f, &c->cfg);
	return vio_pci_drv_init(&c->p, &c->cfg);
}

/* Init must fail with err, say `why`, and touch nothing outside a BAR. */
static void expect_init_fails(struct pf_ctx *c, int err, const char *why)
{
	assert_int_equal(init(c), err);
	assert_true(pf_logged(&c->f, why));
	assert_int_equal(c->f.bad_accesses, 0);
	assert_int_equal(c->f.dma_live, 0);
}

/* ------------------------------------------------------------------------ */
/* The capability list                                                      */

static void cap_pointer_outside_config_space(void **state)
{
	struct pf_ctx *c = *state;

	/* Below 0x40 is the standard header: not a capability. */
	c->f.cfg[VIO_PCI_CFG_CAP_PTR] = 0x30;
	expect_init_fails(c, -EINVAL, "capability pointer 0x30");
}

static void cap_pointer_not_aligned(void **state)
{
	struct pf_ctx *c = *state;

	c->f.cfg[PF_CAP_COMMON + 1] = PF_CAP_NOTIFY + 2;
	expect_init_fails(c, -EINVAL, "not 4-aligned");
}

static void cap_len_past_config_space(void **state)
{
	struct pf_ctx *c = *state;

	/* The common capability claims 0xc8 bytes from 0x40: past 0x100. */
	c->f.cfg[PF_CAP_COMMON + 2] = 0xc8;
	expect_init_fails(c, -ENODEV, "runs past config space");
	assert_true(pf_logged(&c->f, "no usable common config capability"));
}

static void cap_past_its_bar(void **state)
{
	struct pf_ctx *c = *state;

	pf_set_cap(&c->f, PF_CAP_COMMON, PF_CAP_NOTIFY, 16, VIO_PCI_CAP_COMMON_CFG, PF_MBAR,
		   PF_BAR_MAX - 0x10, VIO_PCI_COMMON_CFG_SIZE);
	expect_init_fails(c, -ENODEV, "past BAR 4");
}

static void cap_offset_length_overflow(void **state)
{
	struct pf_ctx *c = *state;

	/* offset + length wraps 32 bits: must still be past the BAR. */
	pf_set_cap(&c->f, PF_CAP_ISR, PF_CAP_DEVICE, 16, VIO_PCI_CAP_ISR_CFG, PF_MBAR,
		   0xfffffff0u, 0x20);
	expect_init_fails(c, -ENODEV, "no usable ISR capability");
	assert_true(pf_logged(&c->f, "past BAR 4"));
}

static void cap_bar_index_6(void **state)
{
	struct pf_ctx *c = *state;

	c->f.cfg[PF_CAP_COMMON + 4] = 6;
	expect_init_fails(c, -ENODEV, "BAR 6 is reserved");
}

static void cap_bar_absent(void **state)
{
	struct pf_ctx *c = *state;

	c->f.cfg[PF_CAP_NOTIFY + 4] = 2; /* BAR 2 has no length */
	expect_init_fails(c, -ENODEV, "BAR 2 is absent");
	assert_true(pf_logged(&c->f, "no usable notify capability"));
}

static void cap_len_too_short(void **state)
{
	struct pf_ctx *c = *state;

	c->f.cfg[PF_CAP_COMMON + 2] = 12;
	expect_init_fails(c, -ENODEV, "cap_len 12, below 16");
}

static void notify_cap_len_too_short(void **state)
{
	struct pf_ctx *c = *state;

	/* 16 bytes leave no notify_off_multiplier. */
	c->f.cfg[PF_CAP_NOTIFY + 2] = 16;
	expect_init_fails(c, -ENODEV, "cap_len 16, below 20");
}

static void cap_list_loop(void **state)
{
	struct pf_ctx *c = *state;

	/* The last capability points back at the first. */
	c->f.cfg[PF_CAP_DEVICE + 1] = PF_CAP_COMMON;
	expect_init_fails(c, -EINVAL, "a loop");
}

static void cap_list_self_loop(void **state)
{
	struct pf_ctx *c = *state;

	c->f.cfg[PF_CAP_COMMON + 1] = PF_CAP_COMMON;
	expect_init_fails(c, -EINVAL, "a loop");
}

static void common_cfg_too_short(void **state)
{
	struct pf_ctx *c = *state;

	pf_set_cap(&c->f, PF_CAP_COMMON, PF_CAP_NOTIFY, 16, VIO_PCI_CAP_COMMON_CFG, PF_MBAR,
		   PF_COMMON_OFF, 0x30);
	expect_init_fails(c, -ENODEV, "length 48, below 56");
}

static void isr_cfg_empty(void **state)
{
	struct pf_ctx *c = *state;

	pf_set_cap(&c->f, PF_CAP_ISR, PF_CAP_DEVICE, 16, VIO_PCI_CAP_ISR_CFG, PF_MBAR, PF_ISR_OFF, 0);
	expect_init_fails(c, -ENODEV, "length 0, below 1");
}

static void modern_without_capabilities(void **state)
{
	struct pf_ctx *c = *state;

	pf_put16(&c->f.cfg[VIO_PCI_CFG_STATUS], 0); /* no CAP_LIST */
	expect_init_fails(c, -ENODEV, "without virtio capabilities");
}

static void not_a_virtio_device(void **state)
{
	struct pf_ctx *c = *state;

	pf_put16(&c->f.cfg[VIO_PCI_CFG_VENDOR_ID], 0x8086);
	expect_init_fails(c, -ENODEV, "not a virtio device");
}

/* ------------------------------------------------------------------------ */
/* Reset                                                                    */

static void reset_never_completes(void **state)
{
	struct pf_ctx *c = *state;

	c->f.status = VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER;
	c->f.reset_stuck = true;
	c->f.now_ns = 1000;
	expect_init_fails(c, -ETIMEDOUT, "reset did not complete within 50 ms");
	/* Bounded by the configured 50 ms, not one poll more. */
	assert_true(c->f.now_ns - 1000 >= UINT64_C(50000000));
	assert_true(c->f.now_ns - 1000 <= UINT64_C(50000000) + VIO_PCI_DRV_POLL_US * 1000u);
}

static void reset_never_completes_without_clock(void **state)
{
	struct pf_ctx *c = *state;

	c->f.status = VIO_STATUS_ACKNOWLEDGE;
	c->f.reset_stuck = true;
	c->f.no_clock = true;
	expect_init_fails(c, -ETIMEDOUT, "reset did not complete");
	/* 50 ms of 1 ms polls, counted. */
	assert_true(c->f.status_reads >= 50 && c->f.status_reads <= 52);
}

static void reset_stuck_at_removal(void **state)
{
	struct pf_ctx *c = *state;

	assert_int_equal(init(c), 0);
	pf_bus_init(&c->f, &c->bus);
	assert_int_equal(vio_rng_drv_register(&c->bus, &c->rng, NULL), 0);
	assert_int_equal(vio_bus_add_device(&c->bus, &c->p.vdev), 0);
	assert_non_null(c->p.vdev.driver);
	c->f.reset_stuck = true;
	c->f.now_ns = 0;
	vio_bus_remove_device(&c->bus, &c->p.vdev);
	vio_pci_drv_fini(&c->p);
	assert_true(pf_logged(&c->f, "reset did not complete"));
	/* The first timeout marks it broken: later resets do not wait again. */
	assert_true(c->f.now_ns <= UINT64_C(51000000));
	assert_int_equal(c->f.dma_live, 0);
	assert_int_equal(c->f.irq_nvec, -1);
}

/* ------------------------------------------------------------------------ */
/* Binding a driver                                                         */

/* Adds the device with the rng driver registered; it must stay unbound
 * and FAILED, with nothing left allocated. */
static void expect_bind_fails(struct pf_ctx *c, const char *why)
{
	assert_int_equal(init(c), 0);
	pf_bus_init(&c->f, &c->bus);
	assert_int_equal(vio_rng_drv_register(&c->bus, &c->rng, NULL), 0);
	assert_int_equal(vio_bus_add_device(&c->bus, &c->p.vdev), 0);
	assert_null(c->p.vdev.driver);
	assert_true(c->f.status & VIO_STATUS_FAILED);
	assert_false(c->f.status & VIO_STATUS_DRIVER_OK);
	assert_true(pf_logged(&c->f, why));
	assert_int_equal(c->f.bad_accesses, 0);
	assert_int_equal(c->f.dma_live, 0);
	vio_bus_remove_device(&c->bus, &c->p.vdev);
	vio_pci_drv_fini(&c->p);
	assert_int_equal(c->f.status, 0);
}

static void queue_size_zero(void **state)
{
	struct pf_ctx *c = *state;

	c->f.q[0].max = c->f.q[0].size = 0;
	expect_bind_fails(c, "queue 0: size 0, the queue is absent");
}

static void queue_size_not_power_of_two(void **state)
{
	struct pf_ctx *c = *state;

	c->f.q[0].max = c->f.q[0].size = 100;
	expect_bind_fails(c, "queue 0: size 100 is not a power of two");
}

static void queue_size_too_big(void **state)
{
	struct pf_ctx *c = *state;

	c->f.q[0].max = c->f.q[0].size = 0xffff;
	expect_bind_fails(c, "size 65535 above 32768");
}

static void features_ok_cleared(void **state)
{
	struct pf_ctx *c = *state;

	c->f.refuse_features_ok = true;
	expect_bind_fails(c, "did not accept FEATURES_OK");
}

static void no_version_1(void **state)
{
	struct pf_ctx *c = *state;

	c->f.host_features &= ~VIO_BIT(VIO_F_VERSION_1);
	expect_bind_fails(c, "modern interface without VERSION_1");
}

static void notify_offset_past_region(void **state)
{
	struct pf_ctx *c = *state;

	/* 0x400 * 4 = the region's length: a 2-byte write would leave it. */
	c->f.q[0].noff = PF_NOTIFY_LEN / PF_NOTIFY_MULT;
	expect_bind_fails(c, "queue 0: notify offset 1024 * 4 outside the 4096-byte notify region");
	assert_int_equal(c->f.notify_writes, 0);
}

static void notify_offset_past_bar(void **state)
{
	struct pf_ctx *c = *state;

	/* A huge multiplier: offset * multiplier far past the BAR. */
	pf_put32(&c->f.cfg[PF_CAP_NOTIFY + 16], 0x80000000u);
	c->f.q[0].noff = 3;
	expect_bind_fails(c, "notify offset 3 * 2147483648");
	assert_int_equal(c->f.notify_writes, 0);
}

/* ------------------------------------------------------------------------ */
/* Interrupts the device refuses                                            */

static void rng_reads(struct pf_ctx *c)
{
	uint8_t buf[100];

	memset(buf, 0, sizeof(buf));
	assert_int_equal(vio_rng_drv_read(&c->p.vdev, buf, sizeof(buf), 1000), sizeof(buf));
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], PF_FILL);
}

static void msix_queue_vector_refused(void **state)
{
	struct pf_ctx *c = *state;

	c->f.refuse_queue_vector = true;
	assert_int_equal(init(c), 0);
	assert_int_equal(c->p.irq_mode, VIO_PCI_IRQ_MSIX);
	pf_bus_init(&c->f, &c->bus);
	assert_int_equal(vio_rng_drv_register(&c->bus, &c->rng, NULL), 0);
	assert_int_equal(vio_bus_add_device(&c->bus, &c->p.vdev), 0);
	assert_non_null(c->p.vdev.driver);
	assert_true(pf_logged(&c->f, "queue 0: device refused MSI-X vector 1 (read 0xffff)"));
	assert_int_equal(c->f.q[0].vector, VIO_PCI_MSI_NO_VECTOR);
	/* The fallback: the queue is polled, and reads still complete. */
	rng_reads(c);
	assert_true(c->f.q[0].completed > 0);
	vio_bus_remove_device(&c->bus, &c->p.vdev);
	vio_pci_drv_fini(&c->p);
	assert_int_equal(c->f.dma_live, 0);
}

/* A driver with a config_changed counter, for the config vector. */
static unsigned config_changes;

static void cfg_changed(struct vio_drv_device *dev)
{
	(void)dev;
	config_changes++;
}

static int nop_probe(struct vio_drv_device *dev)
{
	(void)dev;
	return 0;
}

static void nop_remove(struct vio_drv_device *dev)
{
	(void)dev;
}

static const uint32_t rng_ids[] = { VIO_ID_RNG, 0 };

static void msix_config_vector_refused(void **state)
{
	struct pf_ctx *c = *state;
	struct vio_driver drv = {
		.name = "cfg", .ids = rng_ids, .features = VIO_BIT(VIO_F_VERSION_1),
		.probe = nop_probe, .remove = nop_remove, .config_changed = cfg_changed,
	};

	c->f.refuse_config_vector = true;
	assert_int_equal(init(c), 0);
	assert_true(pf_logged(&c->f, "device refused MSI-X vector 0 for config changes"));
	pf_bus_init(&c->f, &c->bus);
	assert_int_equal(vio_bus_register_driver(&c->bus, &drv), 0);
	assert_int_equal(vio_bus_add_device(&c->bus, &c->p.vdev), 0);
	assert_non_null(c->p.vdev.driver);
	/* Said once, though every reset (the bind's too) asks again. */
	{
		const char *first = strstr(c->f.log, "for config changes");

		assert_null(strstr(first + 1, "for config changes"));
	}
	config_changes = 0;
	/* Nothing changed: the wait times out. */
	assert_int_equal(vio_drv_wait(&c->p.vdev, 5), -ETIMEDOUT);
	assert_int_equal(config_changes, 0);
	/* The generation moves: the polled fallback notices. */
	c->f.generation++;
	assert_int_equal(vio_drv_wait(&c->p.vdev, 5), 0);
	assert_int_equal(config_changes, 1);
	vio_bus_remove_device(&c->bus, &c->p.vdev);
	vio_pci_drv_fini(&c->p);
}

/* ------------------------------------------------------------------------ */
/* Device config                                                            */

static void device_config_past_its_length(void **state)
{
	struct pf_ctx *c = *state;
	uint8_t b[16];

	assert_int_equal(init(c), 0);
	pf_bus_init(&c->f, &c->bus);
	assert_int_equal(vio_bus_add_device(&c->bus, &c->p.vdev), 0);
	assert_int_equal(vio_drv_config_read(&c->p.vdev, 0, b, 16), 0);
	assert_int_equal(b[0], 0x10);
	assert_int_equal(b[15], 0x1f);
	assert_int_equal(vio_drv_config_read(&c->p.vdev, 12, b, 8), -EINVAL);
	assert_int_equal(vio_drv_config_read(&c->p.vdev, 16, b, 1), -EINVAL);
	assert_int_equal(vio_drv_config_read(&c->p.vdev, UINT32_MAX, b, 2), -EINVAL);
	assert_int_equal(vio_drv_config_write(&c->p.vdev, 15, b, 2), -EINVAL);
	assert_int_equal(c->f.bad_accesses, 0);
	vio_bus_remove_device(&c->bus, &c->p.vdev);
	vio_pci_drv_fini(&c->p);
}

static void no_device_config(void **state)
{
	struct pf_ctx *c = *state;
	uint8_t b;

	c->f.cfg[PF_CAP_ISR + 1] = 0; /* the device capability is gone */
	assert_int_equal(init(c), 0);
	pf_bus_init(&c->f, &c->bus);
	assert_int_equal(vio_bus_add_device(&c->bus, &c->p.vdev), 0);
	assert_int_equal(vio_drv_config_read(&c->p.vdev, 0, &b, 1), -EINVAL);
	vio_bus_remove_device(&c->bus, &c->p.vdev);
	vio_pci_drv_fini(&c->p);
}

/* ------------------------------------------------------------------------ */
/* Legacy                                                                   */

static void legacy_wrong_abi_revision(void **state)
{
	struct pf_ctx *c = *state;

	pf_init_legacy(&c->f, VIO_ID_RNG);
	c->f.cfg[VIO_PCI_CFG_REVISION_ID] = 1;
	expect_init_fails(c, -ENODEV, "legacy device with ABI revision 1, this driver speaks 0");
}

static void legacy_bar0_too_short(void **state)
{
	struct pf_ctx *c = *state;

	pf_init_legacy(&c->f, VIO_ID_RNG);
	c->f.bar_len[0] = 0x10;
	expect_init_fails(c, -ENODEV, "legacy BAR 0 has 16 bytes");
}

static void legacy_ring_above_16_tib(void **state)
{
	struct pf_ctx *c = *state;

	/* DMA memory the 32-bit QUEUE_PFN cannot name. */
	pf_init_legacy(&c->f, VIO_ID_RNG);
	pf_rebase_dma(&c->f, UINT64_C(1) << 44);
	expect_bind_fails(c, "queue 0: ring at 0x100000000000 is not one legacy block");
	assert_int_equal(c->f.q[0].pfn, 0);
}

static void queue_enabled_before_setup(void **state)
{
	struct pf_ctx *c = *state;

	c->f.stale_enable = true;
	expect_bind_fails(c, "queue 0: enabled before setup");
	assert_int_equal(c->f.q[0].desc, 0); /* its rings were not replaced */
}

static void legacy_queue_already_active(void **state)
{
	struct pf_ctx *c = *state;

	pf_init_legacy(&c->f, VIO_ID_RNG);
	c->f.stale_pfn = true;
	expect_bind_fails(c, "queue 0: already active (QUEUE_PFN not 0)");
	assert_int_equal(c->f.q[0].pfn, 0); /* never overwritten */
}

static void queue_setup_after_failed_reset(void **state)
{
	struct pf_ctx *c = *state;

	assert_int_equal(init(c), 0);
	pf_bus_init(&c->f, &c->bus);
	assert_int_equal(vio_bus_add_device(&c->bus, &c->p.vdev), 0); /* no driver: unbound */
	c->f.reset_stuck = true;
	c->f.status = VIO_STATUS_ACKNOWLEDGE;
	assert_int_equal(vio_rng_drv_register(&c->bus, &c->rng, NULL), 0);
	/* The bind's reset times out: the queue is refused, nothing bound. */
	assert_null(c->p.vdev.driver);
	assert_true(c->p.broken);
	assert_true(pf_logged(&c->f, "reset did not complete"));
	assert_true(pf_logged(&c->f, "probe failed"));
	assert_int_equal(c->f.q[0].enable, 0);
	assert_int_equal(c->f.dma_live, 0);
	/* The device comes back: the next reset clears broken. */
	c->f.reset_stuck = false;
	vio_bus_remove_device(&c->bus, &c->p.vdev);
	assert_false(c->p.broken);
	vio_pci_drv_fini(&c->p);
}

static void legacy_asked_of_modern_only(void **state)
{
	struct pf_ctx *c = *state;

	pf_config(&c->f, &c->cfg);
	c->cfg.legacy = true;
	assert_int_equal(vio_pci_drv_init(&c->p, &c->cfg), -ENODEV);
	assert_true(pf_logged(&c->f, "legacy interface asked of a modern-only device"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, pf_ctx_setup, pf_ctx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(cap_pointer_outside_config_space),
		T(cap_pointer_not_aligned),
		T(cap_len_past_config_space),
		T(cap_past_its_bar),
		T(cap_offset_length_overflow),
		T(cap_bar_index_6),
		T(cap_bar_absent),
		T(cap_len_too_short),
		T(notify_cap_len_too_short),
		T(cap_list_loop),
		T(cap_list_self_loop),
		T(common_cfg_too_short),
		T(isr_cfg_empty),
		T(modern_without_capabilities),
		T(not_a_virtio_device),
		T(reset_never_completes),
		T(reset_never_completes_without_clock),
		T(reset_stuck_at_removal),
		T(queue_size_zero),
		T(queue_size_not_power_of_two),
		T(queue_size_too_big),
		T(features_ok_cleared),
		T(no_version_1),
		T(notify_offset_past_region),
		T(notify_offset_past_bar),
		T(msix_queue_vector_refused),
		T(msix_config_vector_refused),
		T(device_config_past_its_length),
		T(no_device_config),
		T(legacy_wrong_abi_revision),
		T(legacy_bar0_too_short),
		T(legacy_asked_of_modern_only),
		T(legacy_ring_above_16_tib),
		T(queue_enabled_before_setup),
		T(legacy_queue_already_active),
		T(queue_setup_after_failed_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
