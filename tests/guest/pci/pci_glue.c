/*
 * pci_glue.c - vio_pci_check's way to the PCI functions (pci_glue.h).
 *
 * Stand-in until libvio's PCI transport (vio/transport/pci.h) and Linux
 * platform (vio/transport/pci_linux.h) are merged: it finds the virtio
 * functions in sysfs and refuses to open them, so that every device check
 * fails saying why, never passes.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vio/spec.h"
#include "vio/spec/pci.h"

#include "pci_glue.h"

static unsigned long sysfs_hex(const char *bdf, const char *attr)
{
	char path[256];
	unsigned long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, attr);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%lx", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

static const char *platform_driver;

unsigned pci_glue_find(struct pci_fn *fns, unsigned max, const char *platform,
		       vio_log_fn *log, void *log_opaque)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	struct dirent *e;
	unsigned n = 0;

	(void)log;
	(void)log_opaque;
	platform_driver = !strcmp(platform, "uio") ? "uio_pci_generic" : "vfio-pci";
	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max) {
		struct pci_fn *f = &fns[n];
		unsigned long dev;

		if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof(f->bdf) ||
		    sysfs_hex(e->d_name, "vendor") != VIO_PCI_VENDOR_ID)
			continue;
		dev = sysfs_hex(e->d_name, "device");
		memset(f, 0, sizeof(*f));
		memcpy(f->bdf, e->d_name, strlen(e->d_name) + 1);
		f->pci_device = (uint16_t)dev;
		f->virtio_id = dev >= VIO_PCI_MODERN_DEVICE_BASE ?
			(uint32_t)(dev - VIO_PCI_MODERN_DEVICE_BASE) :
			(uint32_t)sysfs_hex(e->d_name, "subsystem_device");
		f->platform_name = platform_driver;
		n++;
	}
	closedir(d);
	return n;
}

int pci_glue_open(struct pci_fn *f, struct vio_bus *bus)
{
	(void)bus;
	snprintf(f->why, sizeof(f->why), "libvio's PCI transport and Linux platform are not in this build");
	return -ENOSYS;
}

void pci_glue_close(struct pci_fn *f, struct vio_bus *bus)
{
	(void)f;
	(void)bus;
}
