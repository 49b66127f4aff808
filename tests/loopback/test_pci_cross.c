/*
 * test_pci_cross.c - libvio's driver-side virtio-pci transport
 * (vio/transport/pci.h) driving libvio's device-side register model
 * (vio/transport/pci_dev.h), in one process through
 * tests/lib/pci_model_platform.c: the two halves checked against each
 * other for every device type, where test_spec_pci.c checks each against
 * the spec.
 *
 * Every device type (blk: write, read back, flush, discard, data checked;
 * rng: bytes from a known source; console: bytes both ways; balloon:
 * inflate and deflate; net: frames out and back through the reflect
 * port) over every row of the matrix: modern split and packed,
 * transitional through either interface, legacy-only; MSI-X per queue,
 * MSI-X shared, INTx. Each row checks the interface and interrupt mode
 * the transport chose, that interrupts really came (messages or the
 * line), and that every MSI-X message was the one the platform
 * programmed.
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
#include <unistd.h>

#include <cmocka.h>

#include "pci_model_platform.h"
#include "vio/devices.h"
#include "vio/drivers.h"
#include "vio/transport/pci.h"

#define ARENA (4u << 20)
#define QSIZE 64u
#define RING_FEATURES (VIO_BIT(VIO_F_INDIRECT_DESC) | VIO_BIT(VIO_F_EVENT_IDX))

struct row {
	const char *name;
	enum vio_pci_dev_mode mode;
	unsigned nvec;
	bool legacy_drv;        /* a transitional device through its legacy interface */
	bool packed;
};

static const struct row rows[] = {
	{ "modern msix split", VIO_PCI_DEV_MODERN, 8, false, false },
	{ "modern msix packed", VIO_PCI_DEV_MODERN, 8, false, true },
	{ "modern msix-shared split", VIO_PCI_DEV_MODERN, 2, false, false },
	{ "modern intx packed", VIO_PCI_DEV_MODERN, 0, false, true },
	{ "transitional modern msix", VIO_PCI_DEV_TRANSITIONAL, 8, false, false },
	{ "transitional legacy msix", VIO_PCI_DEV_TRANSITIONAL, 8, true, false },
	{ "transitional legacy intx", VIO_PCI_DEV_TRANSITIONAL, 0, true, false },
	{ "legacy msix", VIO_PCI_DEV_LEGACY, 8, false, false },
	{ "legacy intx", VIO_PCI_DEV_LEGACY, 0, false, false },
};

static bool row_legacy(const struct row *r)
{
	return r->legacy_drv || r->mode == VIO_PCI_DEV_LEGACY;
}

static uint64_t row_ring(const struct row *r)
{
	return RING_FEATURES | (r->packed ? VIO_BIT(VIO_F_RING_PACKED) : 0);
}

static void *xalloc(void *opaque, size_t size)
{
	return calloc(1, size);
}

static void xfree(void *opaque, void *p, size_t size)
{
	free(p);
}

struct cx {
	struct mpf m;
	struct vio_pci_drv pd;
	struct vio_bus bus;
	const struct row *row;
};

/* Platform and transport over d, a bus; the caller registers its driver
 * and calls cx_add(). */
static void cx_up(struct cx *c, struct vio_dev_model *d, const struct row *r)
{
	struct vio_pci_drv_config cfg;

	print_message("# %s\n", r->name);
	memset(c, 0, sizeof(*c));
	c->row = r;
	assert_int_equal(mpf_init(&c->m, d, r->mode, r->nvec, ARENA), 0);
	vio_bus_init(&c->bus, xalloc, xfree, NULL);
	memset(&cfg, 0, sizeof(cfg));
	cfg.platform = &mpf_platform;
	cfg.platform_opaque = &c->m;
	cfg.legacy = r->legacy_drv;
	assert_int_equal(vio_pci_drv_init(&c->pd, &cfg), 0);
	assert_int_equal(c->pd.legacy, row_legacy(r));
	/* The transport calls a transitional id transitional, whether the
	 * modern capabilities are there or not. */
	assert_int_equal(c->pd.transitional, r->mode != VIO_PCI_DEV_MODERN);
	assert_int_equal(c->pd.virtio_id, d->device_id);
	if (r->nvec == 0)
		assert_int_equal(c->pd.irq_mode, VIO_PCI_IRQ_INTX);
	else if (r->nvec >= d->num_queues + 1)
		assert_int_equal(c->pd.irq_mode, VIO_PCI_IRQ_MSIX);     /* one per queue + config */
	else
		assert_int_equal(c->pd.irq_mode, VIO_PCI_IRQ_MSIX_SHARED);
}

static struct vio_drv_device *cx_add(struct cx *c, struct vio_driver *drv)
{
	assert_int_equal(vio_bus_add_device(&c->bus, &c->pd.vdev), 0);
	assert_ptr_equal(c->pd.vdev.driver, drv);
	assert_int_equal(c->pd.vdev.legacy, row_legacy(c->row));
	assert_int_equal(vio_has_feature(c->pd.vdev.features, VIO_F_RING_PACKED), c->row->packed);
	assert_int_equal(c->m.d->legacy, row_legacy(c->row));
	return &c->pd.vdev;
}

/* Interrupts came, the way the row says, and no message was forged. */
static void cx_check_irqs(struct cx *c)
{
	assert_int_equal(c->m.bad_msis, 0);
	if (c->row->nvec)
		assert_true(c->m.msis > 0);
	else
		assert_true(c->m.intx_raised > 0);
}

static void cx_down(struct cx *c)
{
	cx_check_irqs(c);
	vio_bus_remove_device(&c->bus, &c->pd.vdev);
	vio_pci_drv_fini(&c->pd);
	/* The driver reset the device on the way out. */
	assert_int_equal(vio_dev_get_status(c->m.d), 0);
	mpf_fini(&c->m);
}

/* ------------------------------------------------------------------------ */
/* rng                                                                      */

static ssize_t counting_source(void *opaque, void *buf, size_t len)
{
	uint8_t *next = opaque, *b = buf;

	for (size_t i = 0; i < len; i++)
		b[i] = (*next)++;
	return (ssize_t)len;
}

static void rng_all_rows(void **state)
{
	for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		uint8_t next = 0, buf[300];
		struct vio_rng_dev_opts o = {
			.features = row_ring(r), .legacy_ok = true, .queue_size = QSIZE,
			.source = counting_source, .source_opaque = &next,
		};
		struct vio_rng_dev *rng = calloc(1, sizeof(*rng));
		struct vio_rng_driver drv;
		struct vio_drv_device *dev;
		struct cx c;
		size_t got = 0;

		assert_non_null(rng);
		assert_int_equal(vio_rng_dev_init(rng, &o), 0);
		cx_up(&c, &rng->dev, r);
		assert_int_equal(vio_rng_drv_register(&c.bus, &drv, NULL), 0);
		dev = cx_add(&c, &drv.drv);
		/* The bytes come in order from the source. */
		while (got < sizeof(buf)) {
			ssize_t n = vio_rng_drv_read(dev, buf + got, sizeof(buf) - got, 1000);

			assert_true(n > 0);
			got += (size_t)n;
		}
		for (size_t k = 1; k < sizeof(buf); k++)
			assert_int_equal(buf[k], (uint8_t)(buf[k - 1] + 1));
		cx_down(&c);
		vio_rng_drv_unregister(&c.bus, &drv);
		vio_rng_dev_fini(rng);
		free(rng);
	}
}

/* ------------------------------------------------------------------------ */
/* blk                                                                      */

static void blk_all_rows(void **state)
{
	for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		static uint8_t disk[256 * 1024];
		struct vio_blk_dev_opts o = {
			.backend = VIO_BLK_BACKEND_RAM, .size = sizeof(disk), .ram = disk,
			.queue_size = QSIZE, .legacy_ok = true,
			.ring_features = VIO_BIT(VIO_F_VERSION_1) | row_ring(r),
		};
		struct vio_blk_dev *bd = calloc(1, sizeof(*bd));
		struct vio_blk_driver drv;
		struct vio_blk_drv_opts dopts = { .timeout_ms = 2000 }; /* a broken pair fails, not hangs */
		struct vio_drv_device *dev;
		struct cx c;
		uint8_t *wbuf, *rbuf;
		const size_t len = 8192;

		assert_non_null(bd);
		memset(disk, 0xee, sizeof(disk));
		assert_int_equal(vio_blk_dev_init(bd, &o), 0);
		cx_up(&c, &bd->dev, r);
		assert_int_equal(vio_blk_drv_register(&c.bus, &drv, &dopts), 0);
		dev = cx_add(&c, &drv.drv);
		assert_int_equal(vio_blk_drv_capacity(dev), sizeof(disk) / 512);
		wbuf = vio_blk_drv_alloc_buffer(dev, len);
		rbuf = vio_blk_drv_alloc_buffer(dev, len);
		assert_non_null(wbuf);
		assert_non_null(rbuf);
		for (size_t k = 0; k < len; k++)
			wbuf[k] = (uint8_t)(k * 7 + i);
		assert_int_equal(vio_blk_drv_write(dev, 16, wbuf, len), 0);
		assert_memory_equal(disk + 16 * 512, wbuf, len);       /* on the disk */
		assert_int_equal(vio_blk_drv_read(dev, 16, rbuf, len), 0);
		assert_memory_equal(rbuf, wbuf, len);                  /* and back */
		assert_int_equal(vio_blk_drv_flush(dev), 0);
		if (vio_has_feature(dev->features, VIO_BLK_F_DISCARD)) {
			assert_int_equal(vio_blk_drv_discard(dev, 16, 8), 0);
			assert_int_equal(vio_blk_drv_read(dev, 16, rbuf, 4096), 0);
			assert_memory_equal(rbuf, disk + 16 * 512, 4096);
		}
		vio_blk_drv_free_buffer(dev, wbuf, len);
		vio_blk_drv_free_buffer(dev, rbuf, len);
		cx_down(&c);
		vio_blk_drv_unregister(&c.bus, &drv);
		vio_blk_dev_fini(bd);
		free(bd);
	}
}

/* ------------------------------------------------------------------------ */
/* console                                                                  */

static void console_all_rows(void **state)
{
	for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		int in[2], out[2];
		struct vio_console_dev *con = calloc(1, sizeof(*con));
		struct vio_console_driver drv;
		struct vio_drv_device *dev;
		struct cx c;
		static const char to_drv[] = "bytes for the driver", to_dev[] = "and for the device";
		char buf[64];
		size_t got = 0;

		assert_non_null(con);
		assert_int_equal(pipe2(in, O_NONBLOCK | O_CLOEXEC), 0);
		assert_int_equal(pipe2(out, O_NONBLOCK | O_CLOEXEC), 0);
		{
			struct vio_console_dev_opts o = {
				.in_fd = in[0], .out_fd = out[1], .features = row_ring(r),
				.legacy_ok = true, .queue_size = QSIZE,
			};

			assert_int_equal(vio_console_dev_init(con, &o), 0);
		}
		cx_up(&c, &con->dev, r);
		assert_int_equal(vio_console_drv_register(&c.bus, &drv, NULL), 0);
		dev = cx_add(&c, &drv.drv);
		/* Host to driver. */
		assert_int_equal(write(in[1], to_drv, sizeof(to_drv)), (ssize_t)sizeof(to_drv));
		vio_console_dev_input_ready(con);
		while (got < sizeof(to_drv)) {
			ssize_t n = vio_console_drv_read(dev, buf + got, sizeof(buf) - got, 1000);

			assert_true(n > 0);
			got += (size_t)n;
		}
		assert_int_equal(got, sizeof(to_drv));
		assert_memory_equal(buf, to_drv, sizeof(to_drv));
		/* Driver to host. */
		assert_int_equal(vio_console_drv_write(dev, to_dev, sizeof(to_dev), 1000),
				 (ssize_t)sizeof(to_dev));
		assert_int_equal(vio_console_drv_flush(dev, 1000), 0);
		assert_int_equal(read(out[0], buf, sizeof(buf)), (ssize_t)sizeof(to_dev));
		assert_memory_equal(buf, to_dev, sizeof(to_dev));
		cx_down(&c);
		vio_console_drv_unregister(&c.bus, &drv);
		vio_console_dev_fini(con);
		free(con);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
	}
}

/* ------------------------------------------------------------------------ */
/* balloon                                                                  */

static void balloon_all_rows(void **state)
{
	for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct vio_balloon_dev_opts o = {
			.features = VIO_BIT(VIO_F_VERSION_1) | row_ring(r), .legacy_ok = true,
			.queue_size = QSIZE,
		};
		struct vio_balloon_dev *bd = calloc(1, sizeof(*bd));
		struct vio_balloon_driver drv;
		struct vio_balloon_drv_opts dopts = { .timeout_ms = 2000 };
		struct vio_drv_device *dev;
		struct cx c;

		assert_non_null(bd);
		assert_int_equal(vio_balloon_dev_init(bd, &o), 0);
		cx_up(&c, &bd->dev, r);
		assert_int_equal(vio_balloon_drv_register(&c.bus, &drv, &dopts), 0);
		dev = cx_add(&c, &drv.drv);
		/* Inflate: the target reaches the driver through config space
		 * (a config interrupt), the pages reach the device. */
		assert_int_equal(vio_balloon_dev_set_target(bd, 40), 0);
		assert_int_equal(vio_balloon_drv_update(dev), 0);
		assert_int_equal(vio_balloon_drv_pages(dev), 40);
		assert_int_equal(vio_balloon_dev_pages(bd), 40);
		assert_int_equal(vio_balloon_dev_actual(bd), 40);
		/* Deflate. */
		assert_int_equal(vio_balloon_dev_set_target(bd, 8), 0);
		assert_int_equal(vio_balloon_drv_update(dev), 0);
		assert_int_equal(vio_balloon_drv_pages(dev), 8);
		assert_int_equal(vio_balloon_dev_pages(bd), 8);
		assert_int_equal(vio_balloon_dev_set_target(bd, 0), 0);
		assert_int_equal(vio_balloon_drv_update(dev), 0);
		assert_int_equal(vio_balloon_dev_pages(bd), 0);
		{
			struct vio_balloon_dev_counters k;

			vio_balloon_dev_counters(bd, &k);
			assert_int_equal(k.inflated, 40);
			assert_int_equal(k.deflated, 40);
			assert_int_equal(k.bad_pfns + k.unknown_pfns + k.bad_buffers, 0);
		}
		cx_down(&c);
		vio_balloon_drv_unregister(&c.bus, &drv);
		vio_balloon_dev_fini(bd);
		free(bd);
	}
}

/* ------------------------------------------------------------------------ */
/* net                                                                      */

static void net_all_rows(void **state)
{
	for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct vio_net_dev *net = calloc(1, sizeof(*net));
		struct vio_net_reflect *refl = calloc(1, sizeof(*refl));
		struct vio_net_driver drv;
		struct vio_net_drv_opts dopts = { .timeout_ms = 2000 };
		struct vio_drv_device *dev;
		struct cx c;
		uint8_t frame[4][100], rx[4][2048];
		struct vio_net_drv_frame tx[4], in[4];
		unsigned got = 0;

		assert_non_null(net);
		assert_non_null(refl);
		{
			struct vio_net_dev_opts o = {
				.queue_size = QSIZE, .legacy_ok = true,
				.ring_features = VIO_BIT(VIO_F_VERSION_1) | row_ring(r),
				.port_ops = &vio_net_reflect_ops, .port = refl,
			};

			vio_net_reflect_init(refl, net);
			assert_int_equal(vio_net_dev_init(net, &o), 0);
		}
		cx_up(&c, &net->dev, r);
		assert_int_equal(vio_net_drv_register(&c.bus, &drv, &dopts), 0);
		dev = cx_add(&c, &drv.drv);
		memset(tx, 0, sizeof(tx));
		for (unsigned f = 0; f < 4; f++) {
			for (unsigned k = 0; k < sizeof(frame[f]); k++)
				frame[f][k] = (uint8_t)(k + f * 3);
			tx[f].data = frame[f];
			tx[f].len = 60 + f * 10;
		}
		assert_int_equal(vio_net_drv_tx_burst(dev, 0, tx, 4), 4);
		/* Back through the reflect port, addresses swapped. */
		for (unsigned tries = 0; got < 4 && tries < 100; tries++) {
			int n;

			memset(in, 0, sizeof(in));
			for (unsigned f = 0; f < 4; f++) {
				in[f].data = rx[f];
				in[f].cap = sizeof(rx[f]);
			}
			n = vio_net_drv_rx_burst(dev, 0, in, 4 - got);
			assert_true(n >= 0);
			for (int f = 0; f < n; f++, got++) {
				const uint8_t *s = frame[got];

				assert_int_equal(in[f].len, 60 + got * 10);
				assert_memory_equal(rx[f], s + 6, 6);
				assert_memory_equal(rx[f] + 6, s, 6);
				assert_memory_equal(rx[f] + 12, s + 12, in[f].len - 12);
			}
			if (got < 4)
				(void)vio_drv_wait(dev, 10);
		}
		assert_int_equal(got, 4);
		assert_true(vio_net_drv_tx_reap(dev, 0) >= 0);
		cx_down(&c);
		vio_net_drv_unregister(&c.bus, &drv);
		vio_net_dev_fini(net);
		free(net);
		free(refl);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rng_all_rows),
		cmocka_unit_test(blk_all_rows),
		cmocka_unit_test(console_all_rows),
		cmocka_unit_test(balloon_all_rows),
		cmocka_unit_test(net_all_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
