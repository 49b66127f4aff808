/*
 * vio/transport/pci_linux.h - the Linux platforms under libvio's
 * driver-side PCI transport (struct vio_pci_platform): a virtio PCI
 * function driven from a user process, through vfio-pci in no-IOMMU mode
 * or through uio_pci_generic, with DMA memory in hugepages.
 *
 * Four pieces, usable on their own:
 *
 *   discovery (vio_pci_linux_scan, vio_pci_linux_bind): the virtio
 *     functions in sysfs, and moving one to vfio-pci or uio_pci_generic
 *     with driver_override. The sysfs root is a parameter, so a test can
 *     build a fake tree.
 *   DMA memory (struct vio_pci_linux_dma): hugepages (2 MiB, locked) whose
 *     physical addresses come from /proc/self/pagemap. Each hugepage is
 *     physically contiguous but two of them need not be adjacent, so an
 *     allocation never crosses one. Root is needed: without
 *     CAP_SYS_ADMIN the kernel reports every frame as 0.
 *   vfio (vio_pci_linux_open_vfio): config space and BARs through the vfio
 *     device fd's regions (memory BARs mmapped where vfio allows), MSI-X
 *     or INTx through eventfds. Without an IOMMU it needs a kernel built
 *     with CONFIG_VFIO_NOIOMMU and vfio loaded with
 *     enable_unsafe_noiommu_mode=1 (the device reaches all of memory; the
 *     kernel taints itself): Debian's 6.1 kernel is not built so. With an
 *     IOMMU (the type1 backend) the DMA memory is mapped for the device at
 *     I/O virtual addresses equal to its physical ones, so device
 *     addresses are the same either way.
 *   uio (vio_pci_linux_open_uio): config space through sysfs `config`,
 *     memory BARs by mmap of sysfs `resourceN`, I/O BARs by pread/pwrite
 *     of `resourceN`, INTx through /dev/uioN. Needs uio_pci_generic.
 *
 * A struct vio_pci_linux is the opaque pointer to hand the transport with
 * &p->plat. Only the driver-side transport (or a tool like
 * tools/vio-pci-probe) calls its ops; the calls documented in
 * pci_platform.h say which may run on which thread.
 *
 * docs/pci-linux.md says how to set a machine up, and what was verified
 * in a QEMU guest.
 */
#ifndef VIO_TRANSPORT_PCI_LINUX_H
#define VIO_TRANSPORT_PCI_LINUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vio/transport/dma_arena.h"
#include "vio/transport/pci_platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Discovery                                                                */

#define VIO_PCI_LINUX_BDF_MAX 32        /* "0000:00:04.0" and room to spare */
#define VIO_PCI_LINUX_DRIVER_MAX 64

struct vio_pci_linux_fn {
	char bdf[VIO_PCI_LINUX_BDF_MAX];        /* the sysfs name, "0000:00:04.0" */
	uint16_t vendor, device;                /* PCI ids */
	uint16_t subsys_vendor, subsys_device;  /* 0 when unreadable (modern) */
	uint16_t type;                          /* the virtio device id (2: blk) */
	bool transitional;                      /* 0x1000..0x103f: has legacy I/O */
	char driver[VIO_PCI_LINUX_DRIVER_MAX];  /* bound driver, "" when none */
};

/*
 * The virtio functions under SYSFS_ROOT/bus/pci/devices (sysfs_root NULL:
 * "/sys"): vendor 0x1af4 with device 0x1040 + type (modern) or
 * 0x1000..0x103f (transitional: the type is the subsystem device id).
 * Functions whose files are unreadable or hold garbage are skipped; a
 * transitional function with subsystem id 0 is skipped too (no type).
 * Fills at most cap entries of out in name order, and sets *n to how many
 * there are (which may exceed cap). 0, or -errno when the directory
 * cannot be listed (-ENOENT: no PCI bus there).
 * Context: any thread.
 */
int vio_pci_linux_scan(const char *sysfs_root, struct vio_pci_linux_fn *out, size_t cap,
		       size_t *n);

/* One function by its BDF ("0000:00:04.0"), whether or not it is virtio
 * (type 0 and transitional false when it is not). 0, -ENODEV (no such
 * function), -EINVAL (a malformed bdf), -EIO (its files are unreadable or
 * garbage). Context: any thread. */
int vio_pci_linux_lookup(const char *sysfs_root, const char *bdf, struct vio_pci_linux_fn *fn);

/*
 * Binds the function bdf to driver ("vfio-pci" or "uio_pci_generic", or
 * any other driver name): unbinds it from its current driver, writes
 * driver_override and asks drivers_probe, then checks it is bound. Already
 * bound to driver: nothing to do. The driver's module must be loaded (and
 * for vfio-pci without an IOMMU, with enable_unsafe_noiommu_mode=1).
 * 0, -ENODEV (no such function), -EINVAL (a malformed name), -EACCES or
 * -EPERM (not root), -ENXIO (probed, but not bound to driver afterwards:
 * the driver is missing or refused it; the override is cleared again and
 * the function probed once more, so its old driver may take it back), or
 * the errno of a sysfs write.
 * Context: any thread; not atomic against others binding the same device.
 */
int vio_pci_linux_bind(const char *sysfs_root, const char *bdf, const char *driver);

/* ------------------------------------------------------------------------ */
/* DMA memory                                                               */

#define VIO_PCI_LINUX_HUGEPAGE (2u * 1024 * 1024)

struct vio_pci_linux_dma_opts {
	/* false: hugepages of VIO_PCI_LINUX_HUGEPAGE (MAP_HUGETLB), each a
	 * unit. true: ordinary locked memory, where only a system page is
	 * known to be physically contiguous, so each system page is a unit
	 * and no allocation exceeds one (tests; a machine without hugepages
	 * where small allocations suffice: the kernel may still migrate
	 * such a page, compaction moves locked pages, so not for real use). */
	bool small_pages;
	/* The pagemap file to read ("/proc/self/pagemap" when NULL): tests
	 * hand a fake one. */
	const char *pagemap;
};

struct vio_pci_linux_dma {
	/* read-only */
	uint8_t *base;                  /* the mapping */
	size_t len;                     /* units * unit */
	size_t unit;                    /* physically contiguous unit */
	size_t units;
	/* private */
	bool mapped;                    /* base is ours to munmap */
	uint64_t *phys;                 /* the physical address of each unit */
	struct vio__dma_arena *arenas;  /* one per unit */
};

/*
 * Maps bytes (rounded up to whole units) of DMA memory, locks it, touches
 * every page and reads each unit's physical address. opts NULL: hugepages
 * from /proc/self/pagemap. 0, or:
 *   -ENOMEM   no hugepages reserved or free (reserve them:
 *             echo N > /proc/sys/vm/nr_hugepages), or mlock failed
 *             (RLIMIT_MEMLOCK);
 *   -EPERM    pagemap gives frame numbers of 0: the process is not root
 *             (CAP_SYS_ADMIN);
 *   -EIO      pagemap unreadable, or a page not present after touching;
 *   -EINVAL   bytes 0.
 * Context: one thread, before any other use of d.
 */
int vio_pci_linux_dma_init(struct vio_pci_linux_dma *d, size_t bytes,
			   const struct vio_pci_linux_dma_opts *opts);
/* Context: after the last use of d and of all memory it gave; the device
 * must have stopped reaching it (reset). */
void vio_pci_linux_dma_fini(struct vio_pci_linux_dma *d);

/* size bytes, zeroed, aligned to align (a power of two up to 4096), inside
 * one unit; the device address in *dma. NULL when it does not fit (size
 * larger than a unit, or no room). Context: serialised with every alloc
 * and free on d. */
void *vio_pci_linux_dma_alloc(struct vio_pci_linux_dma *d, size_t size, size_t align,
			      uint64_t *dma);
void vio_pci_linux_dma_free(struct vio_pci_linux_dma *d, void *p, size_t size);
/* The device address of any byte inside d, UINT64_MAX when p is outside.
 * Context: any thread. */
uint64_t vio_pci_linux_dma_addr(const struct vio_pci_linux_dma *d, const void *p);

/* For tests of the allocator's rules: takes units units of unit bytes at
 * base (the caller's memory, kept until fini) whose physical addresses
 * are phys[0..units) (copied), without pagemap. 0, -EINVAL, -ENOMEM. */
int vio__pci_linux_dma_init_mem(struct vio_pci_linux_dma *d, void *base, size_t unit,
				size_t units, const uint64_t *phys);

/* The physical address of the byte at p in this process (which must be
 * mapped and present), read from pagemap (NULL: /proc/self/pagemap).
 * 0, -EPERM (frame 0: not root), -EFAULT (not present), -EIO. Context:
 * any thread. */
int vio_pci_linux_virt_to_phys(const char *pagemap, const void *p, uint64_t *phys);

/* ------------------------------------------------------------------------ */
/* The platform                                                             */

#define VIO_PCI_LINUX_MAX_VECTORS 64
#define VIO_PCI_LINUX_MAX_SPARSE 4

enum vio_pci_linux_kind {
	VIO_PCI_LINUX_VFIO = 1,
	VIO_PCI_LINUX_UIO = 2,
};

struct vio_pci_linux_bar {
	uint64_t len;                   /* 0: absent */
	bool io;                        /* I/O space */
	uint8_t *map;                   /* whole-BAR mapping, or NULL */
	uint64_t off;                   /* vfio: region offset in the device fd */
	/* vfio: mmapped parts when the region is sparse (MSI-X table left
	 * out); accesses elsewhere go through pread/pwrite. */
	unsigned nsparse;
	struct {
		uint64_t off, len;
		uint8_t *map;
	} sparse[VIO_PCI_LINUX_MAX_SPARSE];
	int fd;                         /* uio: resourceN (I/O, or unmappable), else -1 */
};

struct vio_pci_linux {
	/* read-only */
	struct vio_pci_platform plat;   /* hand the transport &plat, opaque: this */
	enum vio_pci_linux_kind kind;
	char bdf[VIO_PCI_LINUX_BDF_MAX];
	struct vio_pci_linux_dma *dma;  /* the caller's, or NULL (no DMA ops) */
	bool noiommu;                   /* vfio: no-IOMMU mode (else type1) */
	unsigned msix_max;              /* vectors the device offers (vfio) */
	bool intx;                      /* the line exists (vfio: count > 0) */

	/* private */
	int dev_fd;                     /* vfio device fd */
	int group_fd, container_fd;     /* vfio */
	uint64_t cfg_off, cfg_len;      /* vfio config region */
	int cfg_fd;                     /* uio: sysfs config */
	int uio_fd;                     /* uio: /dev/uioN */
	struct vio_pci_linux_bar bars[6];
	int irq_fds[VIO_PCI_LINUX_MAX_VECTORS];
	unsigned nvec;                  /* vectors set up */
	int irq_mode;                   /* 0 none, 1 INTx, 2 MSI-X */
	uint32_t uio_count;             /* last interrupt count read */
};

/*
 * Opens the function bdf (already bound: vio_pci_linux_bind) and fills
 * p->plat. vfio: the function's group, /dev/vfio/noiommu-N (a container
 * set to VFIO_NOIOMMU_IOMMU) or else /dev/vfio/N (VFIO_TYPE1v2_IOMMU, each
 * unit of dma mapped at its physical address), and the device fd. uio: sysfs config and resources,
 * /dev/uioN (dev_root NULL: "/dev"). Both map the memory BARs, then turn
 * on memory and I/O decoding and bus mastering in the command register.
 * dma: the memory the device may reach (may be NULL: then the platform's
 * DMA ops are NULL). 0, or:
 *   -ENODEV  no such function;
 *   -ENXIO   not bound to vfio-pci / uio_pci_generic;
 *   -ENOENT  vfio: no group (no IOMMU and vfio not in no-IOMMU mode),
 *            uio: no /dev/uioN;
 *   -EACCES, -EPERM: not root; -EBUSY: the group is open elsewhere;
 *   or the errno of an ioctl.
 * Context: one thread, before any use of p. close: after the transport
 * stopped using it (interrupts are disabled, mappings dropped).
 */
int vio_pci_linux_open_vfio(struct vio_pci_linux *p, const char *sysfs_root, const char *bdf,
			    struct vio_pci_linux_dma *dma);
int vio_pci_linux_open_uio(struct vio_pci_linux *p, const char *sysfs_root, const char *dev_root,
			   const char *bdf, struct vio_pci_linux_dma *dma);
void vio_pci_linux_close(struct vio_pci_linux *p);

#ifdef __cplusplus
}
#endif

#endif /* VIO_TRANSPORT_PCI_LINUX_H */
