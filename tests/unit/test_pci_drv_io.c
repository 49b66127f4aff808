/*
 * test_pci_drv_io.c - the driver-side PCI transport's happy paths: libvio's
 * rng driver probes and reads through it, modern and legacy, with every
 * interrupt mode (MSI-X per queue, shared, INTx, polling), over the fake
 * function of pci_fake.c, whose kicks fill buffers and interrupt. And the
 * register-level details a driver never sees: 64-bit features through the
 * selects, where kicks land, the legacy config offset with and without
 * MSI-X, queue reset, and the removal path.
 *
 * The full data path against a real device model is the pcidev branch's.
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

/* init, a bus with the rng driver, the device bound. */
static void bring_up(struct pf_ctx *c, bool legacy, bool poll)
{
	pf_config(&c->f, &c->cfg);
	c->cfg.legacy = legacy;
	c->cfg.poll = poll;
	assert_int_equal(vio_pci_drv_init(&c->p, &c->cfg), 0);
	pf_bus_init(&c->f, &c->bus);
	assert_int_equal(vio_rng_drv_register(&c->bus, &c->rng, NULL), 0);
	assert_int_equal(vio_bus_add_device(&c->bus, &c->p.vdev), 0);
	assert_non_null(c->p.vdev.driver);
	assert_true(c->f.status & VIO_STATUS_DRIVER_OK);
}

/* The removal path: everything stopped, freed and disabled. */
static void take_down(struct pf_ctx *c)
{
	vio_bus_remove_device(&c->bus, &c->p.vdev);
	vio_pci_drv_fini(&c->p);
	assert_int_equal(c->f.status, 0);
	assert_int_equal(c->f.dma_live, 0);
	assert_int_equal(c->f.irq_nvec, -1);
	assert_false(c->f.cfg[VIO_PCI_CFG_COMMAND] & VIO_PCI_COMMAND_MASTER);
	assert_int_equal(c->f.bad_accesses, 0);
}

static void read_some(struct pf_ctx *c, size_t n)
{
	uint8_t buf[300];

	assert_true(n <= sizeof(buf));
	memset(buf, 0, sizeof(buf));
	assert_int_equal(vio_rng_drv_read(&c->p.vdev, buf, n, 1000), (ssize_t)n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(buf[i], PF_FILL);
	assert_true(c->f.q[0].completed > 0);
}

static void modern_msix_per_queue(void **state)
{
	struct pf_ctx *c = *state;

	bring_up(c, false, false);
	assert_false(c->p.legacy);
	assert_int_equal(c->p.virtio_id, VIO_ID_RNG);
	assert_int_equal(c->p.irq_mode, VIO_PCI_IRQ_MSIX);
	assert_int_equal(c->p.nvec, 2);
	assert_int_equal(c->f.config_vector, 0);
	assert_int_equal(c->f.q[0].vector, 1);
	assert_true(c->f.cfg[VIO_PCI_CFG_COMMAND] & VIO_PCI_COMMAND_MASTER);
	read_some(c, 300);
	/* The kick: queue 0's index at queue_notify_off * multiplier. */
	assert_true(c->f.notify_writes > 0);
	assert_int_equal(c->f.last_notify_off, c->f.q[0].noff * PF_NOTIFY_MULT);
	assert_int_equal(c->f.last_notify_val, 0);
	take_down(c);
}

static void modern_notify_offsets(void **state)
{
	struct pf_ctx *c = *state;

	c->f.q[0].noff = 7;
	bring_up(c, false, false);
	read_some(c, 10);
	assert_int_equal(c->f.last_notify_off, 7 * PF_NOTIFY_MULT);
	take_down(c);
}

static void modern_msix_shared(void **state)
{
	struct pf_ctx *c = *state;

	/* Two vectors for three queues: config on 0, every queue on 1. */
	c->f.num_queues = 3;
	c->f.msix_vectors = 2;
	bring_up(c, false, false);
	assert_int_equal(c->p.irq_mode, VIO_PCI_IRQ_MSIX_SHARED);
	assert_int_equal(c->f.q[0].vector, 1);
	read_some(c, 100);
	take_down(c);
}

static void modern_msix_one_vector(void **state)
{
	struct pf_ctx *c = *state;

	c->f.msix_vectors = 1;
	bring_up(c, false, false);
	assert_int_equal(c->p.irq_mode, VIO_PCI_IRQ_MSIX_SHARED);
	assert_int_equal(c->f.config_vector, 0);
	assert_int_equal(c->f.q[0].vector, 0);
	read_some(c, 100);
	take_down(c);
}

static void modern_intx(void **state)
{
	struct pf_ctx *c = *state;

	c->f.msix_vectors = 0;
	bring_up(c, false, false);
	assert_int_equal(c->p.irq_mode, VIO_PCI_IRQ_INTX);
	read_some(c, 100);
	take_down(c);
}

static void modern_polling_no_interrupts(void **state)
{
	struct pf_ctx *c = *state;

	c->f.msix_vectors = 0;
	c->f.intx = false;
	bring_up(c, false, false);
	assert_int_equal(c->p.irq_mode, VIO_PCI_IRQ_POLL);
	assert_true(pf_logged(&c->f, "polling"));
	read_some(c, 100);
	take_down(c);
}

static void modern_polling_asked(void **state)
{
	struct pf_ctx *c = *state;

	bring_up(c, false, true);
	assert_int_equal(c->p.irq_mode, VIO_PCI_IRQ_POLL);
	assert_int_equal(c->f.irq_enables, 0);
	read_some(c, 100);
	take_down(c);
}

static void polling_without_clock(void **state)
{
	struct pf_ctx *c = *state;
	uint8_t b;

	c->f.no_clock = true;
	bring_up(c, false, false);
	assert_int_equal(c->p.irq_mode, VIO_PCI_IRQ_POLL);
	read_some(c, 50);
	/* Nothing outstanding completes: a read with a timeout still ends. */
	c->f.no_complete = true;
	assert_true(vio_rng_drv_read(&c->p.vdev, &b, 1, 20) < 0);
	take_down(c);
}

static void irq_wait_failing_falls_back_to_polling(void **state)
{
	struct pf_ctx *c = *state;
	uint8_t b[2];

	pf_init_legacy(&c->f, VIO_ID_RNG);
	bring_up(c, false, false);
	assert_int_equal(c->p.irq_mode, VIO_PCI_IRQ_MSIX);
	c->f.irq_wait_error = true;
	read_some(c, 100);
	assert_true(pf_logged(&c->f, "waiting for an interrupt: "));
	assert_int_equal(c->p.irq_mode, VIO_PCI_IRQ_POLL);
	assert_int_equal(c->f.irq_nvec, -1); /* given back */
	/* MSI-X off: legacy config is back at 0x14. */
	assert_int_equal(vio_drv_config_read(&c->p.vdev, 0, b, 2), 0);
	assert_int_equal(b[0], 0x10);
	assert_int_equal(b[1], 0x11);
	take_down(c);
}

static void modern_wait_times_out(void **state)
{
	struct pf_ctx *c = *state;
	uint64_t t0;

	bring_up(c, false, false);
	t0 = c->f.now_ns;
	assert_int_equal(vio_drv_wait(&c->p.vdev, 30), -ETIMEDOUT);
	assert_true(c->f.now_ns - t0 >= UINT64_C(30000000));
	take_down(c);
}

static void modern_features_64bit(void **state)
{
	struct pf_ctx *c = *state;

	bring_up(c, false, false);
	/* VERSION_1 is bit 32: written through driver_feature_select 1. */
	assert_true(c->f.guest_features & VIO_BIT(VIO_F_VERSION_1));
	assert_true(c->f.guest_features & VIO_BIT(VIO_F_EVENT_IDX));
	/* Offered but not the rng driver's. */
	assert_false(c->f.guest_features & VIO_BIT(VIO_F_RING_RESET));
	assert_int_equal(c->p.vdev.features, c->f.guest_features);
	take_down(c);
}

static int rr_probe(struct vio_drv_device *dev)
{
	static struct vio_drv_vq vq;
	const struct vio_drv_vq_info info = { .size = 16 };

	return vio_drv_find_vqs(dev, 1, &info, &vq);
}

static void rr_remove(struct vio_drv_device *dev)
{
	(void)dev;
}

static const uint32_t rng_ids[] = { VIO_ID_RNG, 0 };

static void modern_queue_reset(void **state)
{
	struct pf_ctx *c = *state;
	struct vio_driver drv = {
		.name = "rr", .ids = rng_ids,
		.features = VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_RING_RESET),
		.probe = rr_probe, .remove = rr_remove,
	};

	pf_config(&c->f, &c->cfg);
	assert_int_equal(vio_pci_drv_init(&c->p, &c->cfg), 0);
	pf_bus_init(&c->f, &c->bus);
	assert_int_equal(vio_bus_register_driver(&c->bus, &drv), 0);
	assert_int_equal(vio_bus_add_device(&c->bus, &c->p.vdev), 0);
	assert_non_null(c->p.vdev.driver);
	/* The driver's size went to the device. */
	assert_int_equal(c->f.q[0].size, 16);
	assert_int_equal(c->f.q[0].enable, 1);
	assert_non_null(c->p.vdev.ops->queue_reset);
	assert_int_equal(c->p.vdev.ops->queue_reset(&c->p.vdev, 0), 0);
	assert_int_equal(c->f.q[0].enable, 0);
	assert_int_equal(c->f.q[0].reset, 1);
	take_down(c);
}

static void modern_queue_reset_never_completes(void **state)
{
	struct pf_ctx *c = *state;
	struct vio_driver drv = {
		.name = "rr", .ids = rng_ids,
		.features = VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_RING_RESET),
		.probe = rr_probe, .remove = rr_remove,
	};
	uint64_t t0;

	c->f.queue_reset_stuck = true;
	pf_config(&c->f, &c->cfg);
	assert_int_equal(vio_pci_drv_init(&c->p, &c->cfg), 0);
	pf_bus_init(&c->f, &c->bus);
	assert_int_equal(vio_bus_register_driver(&c->bus, &drv), 0);
	assert_int_equal(vio_bus_add_device(&c->bus, &c->p.vdev), 0);
	t0 = c->f.now_ns;
	assert_int_equal(c->p.vdev.ops->queue_reset(&c->p.vdev, 0), -ETIMEDOUT);
	assert_true(c->f.now_ns - t0 >= UINT64_C(50000000));
	assert_true(c->f.now_ns - t0 <= UINT64_C(51000000));
	assert_true(pf_logged(&c->f, "queue 0: reset did not complete within 50 ms"));
	take_down(c);
}

static void modern_1_0_common_cfg(void **state)
{
	struct pf_ctx *c = *state;

	/* A virtio 1.0 common config, without queue_reset: no op, no feature. */
	pf_set_cap(&c->f, PF_CAP_COMMON, PF_CAP_NOTIFY, 16, VIO_PCI_CAP_COMMON_CFG, PF_MBAR,
		   PF_COMMON_OFF, VIO_PCI_COMMON_CFG_SIZE_1_0);
	bring_up(c, false, false);
	assert_null(c->p.vdev.ops->queue_reset);
	assert_false(c->p.vdev.ops->transport_features(&c->p.vdev) & VIO_BIT(VIO_F_RING_RESET));
	read_some(c, 20);
	take_down(c);
}

/* A driver with three queues whose callbacks count, for interrupt routing. */
static struct vio_drv_vq mq_vqs[3];
static unsigned mq_calls[3];

static void mq_cb(struct vio_drv_vq *vq)
{
	mq_calls[vq->index]++;
}

static int mq_probe(struct vio_drv_device *dev)
{
	const struct vio_drv_vq_info info[3] = {
		{ .callback = mq_cb }, { .callback = mq_cb }, { .callback = mq_cb },
	};

	return vio_drv_find_vqs(dev, 3, info, mq_vqs);
}

/* Posts one device-writable buffer on queue qi, kicks, waits. */
static void mq_roundtrip(struct pf_ctx *c, unsigned qi)
{
	uint64_t dma;
	uint8_t *buf = vio_drv_dma_alloc(&c->p.vdev, 64, 64, &dma);
	const struct vio_sg sg = { dma, 64 };
	void *token;
	uint32_t len;

	assert_non_null(buf);
	memset(mq_calls, 0, sizeof(mq_calls));
	assert_int_equal(vio_drvq_add(&mq_vqs[qi].q, NULL, 0, &sg, 1, buf), 0);
	assert_true(vio_drv_vq_kick(&mq_vqs[qi]));
	assert_int_equal(c->f.last_notify_off, c->f.q[qi].noff * PF_NOTIFY_MULT);
	assert_int_equal(c->f.last_notify_val, qi);
	assert_int_equal(vio_drv_wait(&c->p.vdev, 100), 0);
	assert_true(mq_calls[qi] >= 1);
	assert_int_equal(vio_drvq_get_buf(&mq_vqs[qi].q, &token, &len), 0);
	assert_ptr_equal(token, buf);
	assert_int_equal(len, 64);
	assert_int_equal(buf[63], PF_FILL);
	vio_drv_dma_free(&c->p.vdev, buf, 64);
}

static void mq_bring_up(struct pf_ctx *c, struct vio_driver *drv)
{
	c->f.num_queues = 3;
	pf_config(&c->f, &c->cfg);
	assert_int_equal(vio_pci_drv_init(&c->p, &c->cfg), 0);
	pf_bus_init(&c->f, &c->bus);
	assert_int_equal(vio_bus_register_driver(&c->bus, drv), 0);
	assert_int_equal(vio_bus_add_device(&c->bus, &c->p.vdev), 0);
	assert_non_null(c->p.vdev.driver);
}

static void msix_vectors_route_to_their_queue(void **state)
{
	struct pf_ctx *c = *state;
	struct vio_driver drv = {
		.name = "mq", .ids = rng_ids, .features = VIO_BIT(VIO_F_VERSION_1),
		.probe = mq_probe, .remove = rr_remove,
	};

	mq_bring_up(c, &drv);
	assert_int_equal(c->p.irq_mode, VIO_PCI_IRQ_MSIX);
	for (unsigned qi = 0; qi < 3; qi++) {
		assert_int_equal(c->f.q[qi].vector, 1 + qi);
		mq_roundtrip(c, qi);
		/* Only that queue's callback ran. */
		for (unsigned o = 0; o < 3; o++)
			if (o != qi)
				assert_int_equal(mq_calls[o], 0);
	}
	take_down(c);
}

static void msix_shared_reaches_every_queue(void **state)
{
	struct pf_ctx *c = *state;
	struct vio_driver drv = {
		.name = "mq", .ids = rng_ids, .features = VIO_BIT(VIO_F_VERSION_1),
		.probe = mq_probe, .remove = rr_remove,
	};

	c->f.msix_vectors = 2;
	mq_bring_up(c, &drv);
	assert_int_equal(c->p.irq_mode, VIO_PCI_IRQ_MSIX_SHARED);
	for (unsigned qi = 0; qi < 3; qi++) {
		assert_int_equal(c->f.q[qi].vector, 1);
		mq_roundtrip(c, qi);
	}
	take_down(c);
}

static void intx_reaches_every_queue(void **state)
{
	struct pf_ctx *c = *state;
	struct vio_driver drv = {
		.name = "mq", .ids = rng_ids, .features = VIO_BIT(VIO_F_VERSION_1),
		.probe = mq_probe, .remove = rr_remove,
	};

	c->f.msix_vectors = 0;
	mq_bring_up(c, &drv);
	assert_int_equal(c->p.irq_mode, VIO_PCI_IRQ_INTX);
	for (unsigned qi = 0; qi < 3; qi++)
		mq_roundtrip(c, qi);
	/* The ISR was read (and so cleared) by the wait. */
	assert_int_equal(c->f.isr, 0);
	take_down(c);
}

/* Config interrupts: the config vector (MSI-X) or ISR bit 1 (INTx). */
static unsigned cfg_calls;

static void cfg_cb(struct vio_drv_device *dev)
{
	(void)dev;
	cfg_calls++;
}

static void config_interrupt(struct pf_ctx *c, bool intx)
{
	struct vio_driver drv = {
		.name = "mq", .ids = rng_ids, .features = VIO_BIT(VIO_F_VERSION_1),
		.probe = mq_probe, .remove = rr_remove, .config_changed = cfg_cb,
	};

	if (intx)
		c->f.msix_vectors = 0;
	mq_bring_up(c, &drv);
	cfg_calls = 0;
	memset(mq_calls, 0, sizeof(mq_calls));
	if (intx)
		c->f.isr |= VIO_PCI_ISR_CONFIG;
	c->f.pending |= 1; /* vector 0, or the INTx line */
	assert_int_equal(vio_drv_wait(&c->p.vdev, 100), 0);
	assert_int_equal(cfg_calls, 1);
	/* Config alone: no queue callback. */
	assert_int_equal(mq_calls[0] + mq_calls[1] + mq_calls[2], 0);
	take_down(c);
}

static void msix_config_interrupt(void **state)
{
	config_interrupt(*state, false);
}

static void intx_config_interrupt(void **state)
{
	config_interrupt(*state, true);
}

/* ------------------------------------------------------------------------ */
/* Legacy and transitional                                                  */

static void legacy_intx(void **state)
{
	struct pf_ctx *c = *state;
	uint8_t b[4];

	pf_init_legacy(&c->f, VIO_ID_RNG);
	c->f.msix_vectors = 0;
	bring_up(c, false, false);
	assert_true(c->p.legacy);
	assert_true(c->p.vdev.legacy);
	assert_int_equal(c->p.irq_mode, VIO_PCI_IRQ_INTX);
	/* The device's fixed size, and one page-aligned block. */
	assert_int_equal(c->f.q[0].pfn != 0, 1);
	read_some(c, 200);
	assert_int_equal(c->f.last_notify_off, VIO_PCI_LEGACY_QUEUE_NOTIFY);
	assert_int_equal(c->f.last_notify_val, 0);
	/* Config at 0x14 without MSI-X. */
	assert_int_equal(vio_drv_config_read(&c->p.vdev, 0, b, 4), 0);
	assert_int_equal(b[0], 0x10);
	assert_int_equal(b[3], 0x13);
	take_down(c);
}

static void legacy_msix(void **state)
{
	struct pf_ctx *c = *state;
	uint8_t b[2];

	pf_init_legacy(&c->f, VIO_ID_RNG);
	bring_up(c, false, false);
	assert_true(c->p.legacy);
	assert_int_equal(c->p.irq_mode, VIO_PCI_IRQ_MSIX);
	assert_int_equal(c->f.config_vector, 0);
	assert_int_equal(c->f.q[0].vector, 1);
	read_some(c, 200);
	/* Config moved to 0x18 with MSI-X: the fake serves it there only. */
	assert_int_equal(vio_drv_config_read(&c->p.vdev, 0, b, 2), 0);
	assert_int_equal(b[0], 0x10);
	assert_int_equal(b[1], 0x11);
	/* BAR 0 is 0x40 bytes: 0x28 of config. */
	assert_int_equal(vio_drv_config_read(&c->p.vdev, 0x27, b, 1), 0);
	assert_int_equal(vio_drv_config_read(&c->p.vdev, 0x28, b, 1), -EINVAL);
	take_down(c);
}

static void legacy_polling(void **state)
{
	struct pf_ctx *c = *state;

	pf_init_legacy(&c->f, VIO_ID_RNG);
	bring_up(c, false, true);
	assert_int_equal(c->p.irq_mode, VIO_PCI_IRQ_POLL);
	read_some(c, 64);
	take_down(c);
}

static void legacy_features_32bit(void **state)
{
	struct pf_ctx *c = *state;

	pf_init_legacy(&c->f, VIO_ID_RNG);
	c->f.host_features |= VIO_BIT(VIO_F_VERSION_1); /* cannot be seen in 32 bits */
	bring_up(c, false, false);
	assert_true(c->p.vdev.legacy);
	assert_false(c->p.vdev.features >> 32);
	assert_true(c->f.guest_features & VIO_BIT(VIO_F_EVENT_IDX));
	assert_false(c->f.guest_features >> 32);
	take_down(c);
}

static void legacy_queue_count(void **state)
{
	struct pf_ctx *c = *state;

	pf_init_legacy(&c->f, VIO_ID_RNG);
	c->f.num_queues = 3;
	bring_up(c, false, false);
	assert_int_equal(c->p.vdev.ops->num_queues(&c->p.vdev), 3);
	take_down(c);
}

static void transitional_modern_by_default(void **state)
{
	struct pf_ctx *c = *state;

	pf_init_transitional(&c->f, VIO_ID_RNG);
	bring_up(c, false, false);
	assert_true(c->p.transitional);
	assert_false(c->p.legacy);
	assert_true(c->f.guest_features & VIO_BIT(VIO_F_VERSION_1));
	read_some(c, 100);
	assert_int_equal(c->f.q[0].pfn, 0);
	take_down(c);
}

static void transitional_legacy_when_asked(void **state)
{
	struct pf_ctx *c = *state;

	pf_init_transitional(&c->f, VIO_ID_RNG);
	bring_up(c, true, false);
	assert_true(c->p.legacy);
	assert_true(c->p.vdev.legacy);
	read_some(c, 100);
	assert_true(c->f.q[0].pfn != 0);
	take_down(c);
}

static void virtio_ids(void **state)
{
	bool t;

	(void)state;
	assert_int_equal(vio_pci_drv_virtio_id(0x1af4, 0x1044, 0, &t), 4);
	assert_false(t);
	assert_int_equal(vio_pci_drv_virtio_id(0x1af4, 0x1001, 2, &t), 2);
	assert_true(t);
	assert_int_equal(vio_pci_drv_virtio_id(0x1af4, 0x1040, 0, &t), 0);
	assert_int_equal(vio_pci_drv_virtio_id(0x1af4, 0x1080, 0, &t), 0);
	assert_int_equal(vio_pci_drv_virtio_id(0x1af4, 0x0fff, 1, &t), 0);
	assert_int_equal(vio_pci_drv_virtio_id(0x8086, 0x1044, 0, &t), 0);
}

static void bad_config(void **state)
{
	struct pf_ctx *c = *state;
	struct vio_pci_platform pf = pf_platform;

	assert_int_equal(vio_pci_drv_init(&c->p, NULL), -EINVAL);
	pf_config(&c->f, &c->cfg);
	pf.read = NULL;
	c->cfg.platform = &pf;
	assert_int_equal(vio_pci_drv_init(&c->p, &c->cfg), -EINVAL);
	/* fini of a failed init is harmless. */
	vio_pci_drv_fini(&c->p);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, pf_ctx_setup, pf_ctx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(modern_msix_per_queue),
		T(modern_notify_offsets),
		T(modern_msix_shared),
		T(modern_msix_one_vector),
		T(modern_intx),
		T(modern_polling_no_interrupts),
		T(modern_polling_asked),
		T(polling_without_clock),
		T(modern_wait_times_out),
		T(irq_wait_failing_falls_back_to_polling),
		T(modern_features_64bit),
		T(modern_queue_reset),
		T(modern_queue_reset_never_completes),
		T(modern_1_0_common_cfg),
		T(msix_vectors_route_to_their_queue),
		T(msix_shared_reaches_every_queue),
		T(intx_reaches_every_queue),
		T(msix_config_interrupt),
		T(intx_config_interrupt),
		T(legacy_intx),
		T(legacy_msix),
		T(legacy_polling),
		T(legacy_features_32bit),
		T(legacy_queue_count),
		T(transitional_modern_by_default),
		T(transitional_legacy_when_asked),
		T(virtio_ids),
		T(bad_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
