/*
 * pci_glue.c - vio_pci_check's way to the PCI functions (pci_glue.h):
 * libvio's Linux platform (vio/transport/pci_linux.h) finds them in
 * sysfs, binds each to vfio-pci or uio_pci_generic and opens it; libvio's
 * driver-side PCI transport (vio/transport/pci.h) drives it; the bus
 * binds libvio's driver.
 *
 * All functions share one pool of DMA memory in hugepages (physical
 * addresses from pagemap; under vfio with an IOMMU the platform maps it
 * at I/O addresses equal to those).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vio/spec.h"
#include "vio/spec/pci.h"
#include "vio/transport/pci.h"
#include "vio/transport/pci_linux.h"

#include "pci_glue.h"

/* 80 MiB: the balloon takes 16 MiB of it, net's buffers about 1 MiB,
 * blk's data buffer 1 MiB, the rings and the rest a few MiB. The guest
 * reserves more hugepages than this (pci_init.sh). */
#define DMA_BYTES (80u << 20)

struct glue {
	struct vio_pci_linux plat;
	struct vio_pci_drv drv;
	bool plat_open, drv_init, on_bus;
};

static struct vio_pci_linux_dma dma;
static int dma_err = 1;                 /* 1: not tried yet */
static bool use_uio;
static bool want_noiommu;               /* vfio must be in no-IOMMU mode */
static vio_log_fn *glue_log;
static void *glue_log_opaque;

unsigned pci_glue_find(struct pci_fn *fns, unsigned max, const char *platform,
		       vio_log_fn *log, void *log_opaque)
{
	static struct vio_pci_linux_fn found[32];
	size_t n = 0;
	unsigned k = 0;
	int err;

	use_uio = !strcmp(platform, "uio");
	want_noiommu = !strcmp(platform, "noiommu");
	glue_log = log;
	glue_log_opaque = log_opaque;
	err = vio_pci_linux_scan(NULL, found, sizeof(found) / sizeof(found[0]), &n);
	if (err) {
		printf("pci_glue: vio_pci_linux_scan: %s\n", strerror(-err));
		return 0;
	}
	for (size_t i = 0; i < n && i < sizeof(found) / sizeof(found[0]) && k < max; i++) {
		struct pci_fn *f = &fns[k++];

		memset(f, 0, sizeof(*f));
		snprintf(f->bdf, sizeof(f->bdf), "%.15s", found[i].bdf);
		f->pci_device = found[i].device;
		f->virtio_id = found[i].type;
		f->platform_name = use_uio ? "uio_pci_generic" : "vfio-pci";
	}
	return k;
}

static void step(const char *what, const struct pci_fn *f, int err)
{
	char line[160];

	if (!glue_log)
		return;
	snprintf(line, sizeof(line), "pci_glue: %s %s: %d", f->bdf, what, err);
	glue_log(glue_log_opaque, VIO_LOG_DEBUG, line);
}

static const char *irq_name(enum vio_pci_irq_mode m)
{
	switch (m) {
	case VIO_PCI_IRQ_POLL: return "polling";
	case VIO_PCI_IRQ_INTX: return "INTx";
	case VIO_PCI_IRQ_MSIX_SHARED: return "MSI-X shared";
	case VIO_PCI_IRQ_MSIX: return "MSI-X per queue";
	}
	return "?";
}

int pci_glue_open(struct pci_fn *f, struct vio_bus *bus)
{
	struct glue *g;
	struct vio_pci_drv_config cfg = { 0 };
	int err;

	if (dma_err == 1)
		dma_err = vio_pci_linux_dma_init(&dma, DMA_BYTES, NULL);
	step("DMA memory", f, dma_err);
	if (dma_err) {
		snprintf(f->why, sizeof(f->why), "DMA memory (%u MiB of hugepages): %s",
			 DMA_BYTES >> 20, strerror(-dma_err));
		return dma_err;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		snprintf(f->why, sizeof(f->why), "out of memory");
		return -ENOMEM;
	}
	f->priv = g;
	err = vio_pci_linux_bind(NULL, f->bdf, f->platform_name);
	step("bind", f, err);
	if (err) {
		snprintf(f->why, sizeof(f->why), "binding to %s: %s", f->platform_name, strerror(-err));
		return err;
	}
	err = use_uio ? vio_pci_linux_open_uio(&g->plat, NULL, NULL, f->bdf, &dma) :
			vio_pci_linux_open_vfio(&g->plat, NULL, f->bdf, &dma);
	step("open", f, err);
	if (err) {
		snprintf(f->why, sizeof(f->why), "opening through %s: %s", f->platform_name,
			 strerror(-err));
		return err;
	}
	g->plat_open = true;
	if (!use_uio && g->plat.noiommu != want_noiommu) {
		snprintf(f->why, sizeof(f->why), "vfio opened %s, the platform asked for %s",
			 g->plat.noiommu ? "in no-IOMMU mode" : "behind an IOMMU (type1)",
			 want_noiommu ? "no-IOMMU mode" : "an IOMMU");
		return -EINVAL;
	}
	cfg.platform = &g->plat.plat;
	cfg.platform_opaque = &g->plat;
	cfg.log = glue_log;
	cfg.log_opaque = glue_log_opaque;
	err = vio_pci_drv_init(&g->drv, &cfg);
	step("vio_pci_drv_init", f, err);
	if (err) {
		snprintf(f->why, sizeof(f->why), "vio_pci_drv_init: %s", strerror(-err));
		return err;
	}
	g->drv_init = true;
	snprintf(f->detail, sizeof(f->detail), "%s%s interface, %s%s",
		 use_uio ? "" : g->plat.noiommu ? "no-IOMMU, " : "type1 IOMMU, ",
		 g->drv.legacy ? "legacy" : "modern", irq_name(g->drv.irq_mode),
		 g->drv.transitional ? ", transitional" : "");
	f->transport_legacy = g->drv.legacy;
	err = vio_bus_add_device(bus, &g->drv.vdev);
	step("vio_bus_add_device", f, err);
	if (err) {
		snprintf(f->why, sizeof(f->why), "vio_bus_add_device: %s", strerror(-err));
		return err;
	}
	g->on_bus = true;
	f->dev = &g->drv.vdev;
	return 0;
}

void pci_glue_close(struct pci_fn *f, struct vio_bus *bus)
{
	struct glue *g = f->priv;

	if (!g)
		return;
	if (g->on_bus)
		vio_bus_remove_device(bus, &g->drv.vdev);
	if (g->drv_init)
		vio_pci_drv_fini(&g->drv);
	if (g->plat_open)
		vio_pci_linux_close(&g->plat);
	free(g);
	f->priv = NULL;
	f->dev = NULL;
}
