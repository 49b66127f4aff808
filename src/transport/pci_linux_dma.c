/*
 * pci_linux_dma.c - DMA memory for a PCI function driven from a Linux
 * process (vio/transport/pci_linux.h): hugepages, locked, with the
 * physical address of each read from /proc/self/pagemap.
 *
 * Without an IOMMU (vfio no-IOMMU mode, uio) the device addresses memory
 * by its physical address. A process sees physical addresses only through
 * pagemap, one 64-bit entry per virtual page: bit 63 "present", bits 0..54
 * the page frame number, which the kernel shows only to CAP_SYS_ADMIN
 * (others read 0). A hugetlb page is one physically contiguous 2 MiB
 * block that is never swapped or migrated; two hugepages are wherever the
 * kernel found them. So the memory is a row of units, one per hugepage,
 * each carved by its own dma_arena (src/transport/dma_arena.c), and an
 * allocation never crosses from one unit into the next.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/mman.h>
#include <unistd.h>

#include "vio/transport/pci_linux.h"

#define PAGEMAP_PRESENT (UINT64_C(1) << 63)
#define PAGEMAP_PFN_MASK ((UINT64_C(1) << 55) - 1)
#define MAX_ALIGN 4096u

static int pagemap_read(int fd, const void *p, uint64_t *phys)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	uintptr_t va = (uintptr_t)p;
	uint64_t ent;
	ssize_t n = pread(fd, &ent, sizeof(ent), (off_t)(va / ps * sizeof(ent)));

	if (n < 0)
		return -errno;
	if (n != sizeof(ent))
		return -EIO;
	if (!(ent & PAGEMAP_PRESENT))
		return -EFAULT;
	if ((ent & PAGEMAP_PFN_MASK) == 0)
		return -EPERM;
	*phys = (ent & PAGEMAP_PFN_MASK) * ps + va % ps;
	return 0;
}

int vio_pci_linux_virt_to_phys(const char *pagemap, const void *p, uint64_t *phys)
{
	int r, fd = open(pagemap ? pagemap : "/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	r = pagemap_read(fd, p, phys);
	close(fd);
	return r;
}

static int arenas_init(struct vio_pci_linux_dma *d)
{
	d->arenas = calloc(d->units, sizeof(*d->arenas));
	if (!d->arenas)
		return -ENOMEM;
	for (size_t i = 0; i < d->units; i++) {
		int r = vio__dma_arena_init(&d->arenas[i], d->base + i * d->unit, d->unit, d->phys[i],
					    MAX_ALIGN);

		if (r < 0)
			return r;
	}
	return 0;
}

int vio__pci_linux_dma_init_mem(struct vio_pci_linux_dma *d, void *base, size_t unit,
				size_t units, const uint64_t *phys)
{
	int r;

	memset(d, 0, sizeof(*d));
	if (!base || unit < MAX_ALIGN || unit % MAX_ALIGN || units == 0 ||
	    (uintptr_t)base % MAX_ALIGN)
		return -EINVAL;
	d->base = base;
	d->unit = unit;
	d->units = units;
	d->len = unit * units;
	d->phys = malloc(units * sizeof(*d->phys));
	if (!d->phys)
		return -ENOMEM;
	memcpy(d->phys, phys, units * sizeof(*d->phys));
	r = arenas_init(d);
	if (r < 0)
		vio_pci_linux_dma_fini(d);
	return r;
}

int vio_pci_linux_dma_init(struct vio_pci_linux_dma *d, size_t bytes,
			   const struct vio_pci_linux_dma_opts *opts)
{
	bool small = opts && opts->small_pages;
	const char *pagemap = opts && opts->pagemap ? opts->pagemap : "/proc/self/pagemap";
	int flags = MAP_PRIVATE | MAP_ANONYMOUS;
	int r = 0, fd;
	void *m;

	memset(d, 0, sizeof(*d));
	if (bytes == 0)
		return -EINVAL;
	d->unit = small ? (size_t)sysconf(_SC_PAGESIZE) : VIO_PCI_LINUX_HUGEPAGE;
	if (bytes > SIZE_MAX - d->unit)
		return -EINVAL;
	d->units = (bytes + d->unit - 1) / d->unit;
	d->len = d->units * d->unit;
	/* 2 MiB pages whatever the system's default hugepage size. */
	if (!small)
		flags |= MAP_HUGETLB | MAP_HUGE_2MB;
	/* A private hugetlb mapping reserves its pages here: with none
	 * reserved (nr_hugepages 0) or free, this is where it fails. */
	m = mmap(NULL, d->len, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (m == MAP_FAILED) {
		r = -errno;
		memset(d, 0, sizeof(*d));
		return r == -EINVAL && !small ? -ENOMEM : r;
	}
	d->base = m;
	d->mapped = true;
	/* Locked and touched: every page present before its frame is read,
	 * and (small pages) not swapped out under the device afterwards. */
	if (mlock(d->base, d->len) < 0) {
		r = errno == EPERM ? -EPERM : -ENOMEM;
		goto fail;
	}
	memset(d->base, 0, d->len);

	d->phys = calloc(d->units, sizeof(*d->phys));
	if (!d->phys) {
		r = -ENOMEM;
		goto fail;
	}
	fd = open(pagemap, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = errno == EACCES || errno == EPERM ? -EPERM : -EIO;
		goto fail;
	}
	for (size_t i = 0; i < d->units; i++) {
		r = pagemap_read(fd, d->base + i * d->unit, &d->phys[i]);
		if (r < 0)
			break;
		/* A hugepage's frame is 2 MiB aligned: anything else means
		 * the mapping is not what we asked for. */
		if (!small && d->phys[i] % VIO_PCI_LINUX_HUGEPAGE) {
			r = -EIO;
			break;
		}
	}
	close(fd);
	if (r < 0) {
		if (r != -EPERM)
			r = -EIO;
		goto fail;
	}
	r = arenas_init(d);
	if (r < 0)
		goto fail;
	return 0;
fail:
	vio_pci_linux_dma_fini(d);
	return r;
}

void vio_pci_linux_dma_fini(struct vio_pci_linux_dma *d)
{
	if (d->arenas)
		for (size_t i = 0; i < d->units; i++)
			vio__dma_arena_fini(&d->arenas[i]);
	free(d->arenas);
	free(d->phys);
	if (d->mapped && d->base)
		munmap(d->base, d->len);
	memset(d, 0, sizeof(*d));
}

void *vio_pci_linux_dma_alloc(struct vio_pci_linux_dma *d, size_t size, size_t align,
			      uint64_t *dma)
{
	if (!d->arenas || size == 0 || size > d->unit)
		return NULL;
	/* First fit over the units: each arena keeps its allocation inside
	 * its own unit, so nothing straddles two physical blocks. */
	for (size_t i = 0; i < d->units; i++) {
		void *p = vio__dma_arena_alloc(&d->arenas[i], size, align, dma);

		if (p)
			return p;
	}
	return NULL;
}

void vio_pci_linux_dma_free(struct vio_pci_linux_dma *d, void *p, size_t size)
{
	const uint8_t *b = p;

	if (!d->arenas || !b || b < d->base || b >= d->base + d->len)
		return;
	vio__dma_arena_free(&d->arenas[(size_t)(b - d->base) / d->unit], p, size);
}

uint64_t vio_pci_linux_dma_addr(const struct vio_pci_linux_dma *d, const void *p)
{
	const uint8_t *b = p;
	size_t off;

	if (!d->phys || !b || b < d->base || b >= d->base + d->len)
		return UINT64_MAX;
	off = (size_t)(b - d->base);
	return d->phys[off / d->unit] + off % d->unit;
}
