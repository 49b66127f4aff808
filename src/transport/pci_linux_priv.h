/*
 * pci_linux_priv.h - what the Linux PCI platform's files share: sysfs
 * paths and small-file reads and writes (pci_linux_sysfs.c), used by the
 * vfio and uio code (pci_linux.c). Private to src/transport.
 */
#ifndef VIO_PCI_LINUX_PRIV_H
#define VIO_PCI_LINUX_PRIV_H

#include <stdbool.h>
#include <stddef.h>

/* sysfs_root, or "/sys" when it is NULL. */
const char *vio__pci_linux_root(const char *sysfs_root);
/* Is bdf a plausible sysfs PCI name (hex, two colons, one dot)? */
bool vio__pci_linux_bdf_ok(const char *bdf);
/* ROOT/bus/pci/devices/BDF[/FILE] into buf: 0 or -ENAMETOOLONG. */
int vio__pci_linux_path(char *buf, size_t cap, const char *sysfs_root, const char *bdf,
			const char *file);
/* Reads at most cap - 1 bytes, NUL-terminated: their count or -errno. */
int vio__pci_linux_read_text(const char *path, char *buf, size_t cap);
/* Writes text whole: 0 or -errno (-EIO on a short write). */
int vio__pci_linux_write_text(const char *path, const char *text);
/* The name of the driver bdf is bound to ("" for none): 0 or -errno. */
int vio__pci_linux_driver(const char *sysfs_root, const char *bdf, char *out, size_t cap);

#endif /* VIO_PCI_LINUX_PRIV_H */
