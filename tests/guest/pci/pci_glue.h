/*
 * pci_glue.h - how vio_pci_check finds and opens the guest's virtio PCI
 * functions: the only part of the guest program that knows the Linux PCI
 * platform (vio/transport/pci_linux.h) and the driver-side PCI transport
 * (vio/transport/pci.h). The checks in vio_pci_check.c see a struct
 * vio_drv_device on a bus, as over any transport.
 */
#ifndef VIO_TESTS_GUEST_PCI_GLUE_H
#define VIO_TESTS_GUEST_PCI_GLUE_H

#include <stdbool.h>
#include <stdint.h>

#include "vio/core.h"

struct pci_fn {
	char bdf[16];                   /* 0000:00:03.0 */
	uint16_t pci_device;            /* PCI device id */
	uint32_t virtio_id;             /* virtio device id */
	const char *platform_name;      /* "vfio-pci", "uio_pci_generic" */
	/* after pci_glue_open() */
	int open_err;                   /* 0, or why the function is not on the bus */
	char why[160];                  /* a sentence for open_err, or "" */
	char detail[96];                /* the interface and interrupts the transport chose */
	bool transport_legacy;          /* the transport drives the legacy interface */
	struct vio_drv_device *dev;     /* on the bus (bound or not) when open_err is 0 */
	void *priv;                     /* the glue's */
};

/* Fills fns with the virtio PCI functions (vendor 0x1af4) of the system,
 * at most max; returns how many. platform: "vfio" (behind an IOMMU),
 * "noiommu" (vfio in no-IOMMU mode) or "uio". */
unsigned pci_glue_find(struct pci_fn *fns, unsigned max, const char *platform,
		       vio_log_fn *log, void *log_opaque);
/* Binds f to the platform's kernel driver, opens it, puts the PCI
 * transport over it and adds it to bus (which binds a driver when one
 * matches). 0 or a negative errno, with f->why saying what failed. */
int pci_glue_open(struct pci_fn *f, struct vio_bus *bus);
/* Takes f off the bus and closes it. */
void pci_glue_close(struct pci_fn *f, struct vio_bus *bus);

#endif /* VIO_TESTS_GUEST_PCI_GLUE_H */
