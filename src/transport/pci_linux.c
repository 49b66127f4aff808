/*
 * pci_linux.c - the Linux platforms under the driver-side PCI transport
 * (vio/transport/pci_linux.h): one virtio PCI function reached from a
 * user process through vfio-pci (no-IOMMU mode) or uio_pci_generic.
 *
 * Both fill the same struct vio_pci_platform and differ only in how an
 * access leaves the process:
 *
 *   vfio  one device fd; config space and each BAR are "regions" at
 *         offsets in it (VFIO_DEVICE_GET_REGION_INFO). Memory BARs are
 *         mmapped where the region says so (whole, or the sparse areas
 *         around an MSI-X table vfio keeps to itself); the rest, and I/O
 *         BARs, go through pread/pwrite at the region's offset. MSI-X
 *         and INTx are eventfds handed over with VFIO_DEVICE_SET_IRQS.
 *   uio   sysfs: `config` for config space, `resourceN` for the BARs
 *         (mmap for memory, pread/pwrite of exactly the access width for
 *         I/O ports), and /dev/uioN whose read returns an interrupt count.
 *         uio_pci_generic masks INTx with the command register's
 *         INTx-disable bit when the line fires; clearing it re-arms it.
 *
 * Memory BAR accesses through a mapping are single volatile loads and
 * stores of the access width: a register access must never be split or
 * merged. Everything read back is the device's and goes to the transport,
 * which checks it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "pci_linux_priv.h"
#include "vio/spec.h"
#include "vio/spec/pci.h"
#include "vio/transport/pci_linux.h"

enum { IRQ_NONE, IRQ_INTX, IRQ_MSIX };

static uint64_t ones(unsigned width)
{
	return width >= 8 ? UINT64_MAX : (UINT64_C(1) << (width * 8)) - 1;
}

static bool width_ok(unsigned width)
{
	return width == 1 || width == 2 || width == 4 || width == 8;
}

/* ------------------------------------------------------------------------ */
/* Register accesses                                                        */

static uint64_t mmio_read(const uint8_t *a, unsigned width)
{
	switch (width) {
	case 1: return *(const volatile uint8_t *)a;
	case 2: return *(const volatile uint16_t *)a;
	case 4: return *(const volatile uint32_t *)a;
	default: return *(const volatile uint64_t *)a;
	}
}

static void mmio_write(uint8_t *a, unsigned width, uint64_t v)
{
	switch (width) {
	case 1: *(volatile uint8_t *)a = (uint8_t)v; break;
	case 2: *(volatile uint16_t *)a = (uint16_t)v; break;
	case 4: *(volatile uint32_t *)a = (uint32_t)v; break;
	default: *(volatile uint64_t *)a = v; break;
	}
}

/* Where an access at off of width bytes lands in a mapping, or NULL when
 * no mapping covers it whole. */
static uint8_t *bar_ptr(struct vio_pci_linux_bar *b, uint64_t off, unsigned width)
{
	if (b->map)
		return b->map + off;
	for (unsigned i = 0; i < b->nsparse; i++)
		if (off >= b->sparse[i].off && off - b->sparse[i].off + width <= b->sparse[i].len)
			return b->sparse[i].map + (off - b->sparse[i].off);
	return NULL;
}

/* The file and offset where the BAR's bytes are read and written. */
static int bar_file(struct vio_pci_linux *p, struct vio_pci_linux_bar *b, uint64_t off,
		    off_t *pos)
{
	if (p->kind == VIO_PCI_LINUX_VFIO) {
		*pos = (off_t)(b->off + off);
		return p->dev_fd;
	}
	*pos = (off_t)off;
	return b->fd;
}

static bool access_ok(struct vio_pci_linux *p, unsigned bar, uint64_t off, unsigned width)
{
	return bar < VIO_PCI_NUM_BARS && width_ok(width) && p->bars[bar].len &&
	       off < p->bars[bar].len && width <= p->bars[bar].len - off;
}

static uint64_t plat_read(void *opaque, unsigned bar, uint64_t off, unsigned width)
{
	struct vio_pci_linux *p = opaque;
	struct vio_pci_linux_bar *b;
	uint64_t v = 0;
	uint8_t *a;
	off_t pos;
	int fd;

	if (!access_ok(p, bar, off, width))
		return ones(width);
	b = &p->bars[bar];
	a = bar_ptr(b, off, width);
	if (a)
		return mmio_read(a, width);
	fd = bar_file(p, b, off, &pos);
	if (fd < 0 || pread(fd, &v, width, pos) != (ssize_t)width)
		return ones(width);
	return v;
}

static void plat_write(void *opaque, unsigned bar, uint64_t off, unsigned width, uint64_t val)
{
	struct vio_pci_linux *p = opaque;
	struct vio_pci_linux_bar *b;
	uint8_t *a;
	off_t pos;
	int fd;

	if (!access_ok(p, bar, off, width))
		return;
	b = &p->bars[bar];
	a = bar_ptr(b, off, width);
	if (a) {
		mmio_write(a, width, val);
		return;
	}
	fd = bar_file(p, b, off, &pos);
	/* A failed write has nowhere to go: PCI drops it too, and the
	 * transport notices the device not answering. */
	if (fd >= 0)
		(void)!pwrite(fd, &val, width, pos);
}

static uint64_t plat_bar_len(void *opaque, unsigned bar, bool *io)
{
	struct vio_pci_linux *p = opaque;

	if (bar >= VIO_PCI_NUM_BARS) {
		*io = false;
		return 0;
	}
	*io = p->bars[bar].io;
	return p->bars[bar].len;
}

/* ------------------------------------------------------------------------ */
/* Config space                                                             */

static int cfg_fd(struct vio_pci_linux *p, unsigned off, off_t *pos)
{
	if (p->kind == VIO_PCI_LINUX_VFIO) {
		*pos = (off_t)(p->cfg_off + off);
		return p->dev_fd;
	}
	*pos = (off_t)off;
	return p->cfg_fd;
}

static int plat_cfg_read(void *opaque, unsigned off, void *buf, unsigned len)
{
	struct vio_pci_linux *p = opaque;
	off_t pos;
	int fd;

	if ((len != 1 && len != 2 && len != 4) || off % len || off >= p->cfg_len ||
	    len > p->cfg_len - off)
		return -EINVAL;
	fd = cfg_fd(p, off, &pos);
	return pread(fd, buf, len, pos) == (ssize_t)len ? 0 : -EIO;
}

static int plat_cfg_write(void *opaque, unsigned off, const void *buf, unsigned len)
{
	struct vio_pci_linux *p = opaque;
	off_t pos;
	int fd;

	if ((len != 1 && len != 2 && len != 4) || off % len || off >= p->cfg_len ||
	    len > p->cfg_len - off)
		return -EINVAL;
	fd = cfg_fd(p, off, &pos);
	return pwrite(fd, buf, len, pos) == (ssize_t)len ? 0 : -EIO;
}

/* Sets (and clears) bits of the command register. */
static int command_update(struct vio_pci_linux *p, uint16_t set, uint16_t clear)
{
	uint16_t cmd;
	int r = plat_cfg_read(p, VIO_PCI_CFG_COMMAND, &cmd, 2);

	if (r < 0)
		return r;
	cmd = (uint16_t)((cmd | set) & ~clear);
	return plat_cfg_write(p, VIO_PCI_CFG_COMMAND, &cmd, 2);
}

/* ------------------------------------------------------------------------ */
/* Interrupts                                                               */

static void irq_close(struct vio_pci_linux *p)
{
	for (unsigned i = 0; i < VIO_PCI_LINUX_MAX_VECTORS; i++) {
		if (p->irq_fds[i] >= 0)
			close(p->irq_fds[i]);
		p->irq_fds[i] = -1;
	}
	p->nvec = 0;
	p->irq_mode = IRQ_NONE;
}

static int vfio_set_irqs(struct vio_pci_linux *p, unsigned index, uint32_t flags, unsigned count,
			 const int *fds)
{
	size_t sz = sizeof(struct vfio_irq_set) + (size_t)count * sizeof(int32_t);
	struct vfio_irq_set *s = calloc(1, sz);
	int r;

	if (!s)
		return -ENOMEM;
	s->argsz = (uint32_t)sz;
	s->flags = flags;
	s->index = index;
	s->start = 0;
	s->count = count;
	if (fds)
		memcpy(s->data, fds, (size_t)count * sizeof(int32_t));
	r = ioctl(p->dev_fd, VFIO_DEVICE_SET_IRQS, s) < 0 ? -errno : 0;
	free(s);
	return r;
}

static int vfio_irq_enable(struct vio_pci_linux *p, unsigned nvec)
{
	unsigned n = nvec, index = VFIO_PCI_MSIX_IRQ_INDEX;
	int r;

	if (nvec == 0) {
		if (!p->intx)
			return -ENODEV;
		n = 1;
		index = VFIO_PCI_INTX_IRQ_INDEX;
	} else {
		if (p->msix_max == 0)
			return -ENODEV;
		if (n > p->msix_max)
			n = p->msix_max;
		if (n > VIO_PCI_LINUX_MAX_VECTORS)
			n = VIO_PCI_LINUX_MAX_VECTORS;
	}
	for (unsigned i = 0; i < n; i++) {
		p->irq_fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (p->irq_fds[i] < 0) {
			r = -errno;
			irq_close(p);
			return r;
		}
	}
	r = vfio_set_irqs(p, index, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, n,
			  p->irq_fds);
	if (r < 0) {
		irq_close(p);
		return r;
	}
	p->nvec = n;
	p->irq_mode = nvec ? IRQ_MSIX : IRQ_INTX;
	/* vfio leaves the line's INTx-disable bit to itself; MSI-X does not
	 * need the line at all. */
	return nvec ? (int)n : 0;
}

static int plat_irq_enable(void *opaque, unsigned nvec)
{
	struct vio_pci_linux *p = opaque;

	if (p->irq_mode != IRQ_NONE)
		return -EBUSY;
	if (p->kind == VIO_PCI_LINUX_VFIO)
		return vfio_irq_enable(p, nvec);
	/* uio_pci_generic has the line only. */
	if (nvec)
		return -ENOTSUP;
	if (p->uio_fd < 0 || !p->intx)
		return -ENODEV;
	p->irq_mode = IRQ_INTX;
	p->nvec = 0;
	return command_update(p, 0, VIO_PCI_COMMAND_INTX_DISABLE);
}

static void plat_irq_disable(void *opaque)
{
	struct vio_pci_linux *p = opaque;

	if (p->irq_mode == IRQ_NONE)
		return;
	if (p->kind == VIO_PCI_LINUX_VFIO)
		(void)vfio_set_irqs(p, p->irq_mode == IRQ_MSIX ? VFIO_PCI_MSIX_IRQ_INDEX :
				    VFIO_PCI_INTX_IRQ_INDEX,
				    VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0, NULL);
	else
		(void)command_update(p, VIO_PCI_COMMAND_INTX_DISABLE, 0);
	irq_close(p);
}

static int64_t plat_irq_wait(void *opaque, int timeout_ms)
{
	struct vio_pci_linux *p = opaque;
	struct pollfd pfd[VIO_PCI_LINUX_MAX_VECTORS];
	unsigned n = 0;
	int64_t fired = 0;
	int r;

	if (p->irq_mode == IRQ_NONE)
		return -EINVAL;
	if (p->kind == VIO_PCI_LINUX_UIO) {
		/* The handler masked the line when it fired; unmask it. */
		r = command_update(p, 0, VIO_PCI_COMMAND_INTX_DISABLE);
		if (r < 0)
			return r;
		pfd[0] = (struct pollfd){ .fd = p->uio_fd, .events = POLLIN };
		n = 1;
	} else {
		if (p->irq_mode == IRQ_INTX) {
			r = vfio_set_irqs(p, VFIO_PCI_INTX_IRQ_INDEX,
					  VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK, 1, NULL);
			if (r < 0)
				return r;
		}
		for (n = 0; n < p->nvec; n++)
			pfd[n] = (struct pollfd){ .fd = p->irq_fds[n], .events = POLLIN };
	}
	r = poll(pfd, n, timeout_ms < 0 ? -1 : timeout_ms);
	if (r < 0)
		return -errno;
	for (unsigned i = 0; i < n; i++) {
		if (!(pfd[i].revents & POLLIN))
			continue;
		if (p->kind == VIO_PCI_LINUX_UIO) {
			uint32_t count;

			if (read(p->uio_fd, &count, sizeof(count)) != sizeof(count))
				return -EIO;
			p->uio_count = count;
		} else {
			uint64_t c;

			if (read(pfd[i].fd, &c, sizeof(c)) != sizeof(c))
				continue;
		}
		fired |= INT64_C(1) << (i < 63 ? i : 63);
	}
	return fired;
}

/* ------------------------------------------------------------------------ */
/* DMA, clock                                                               */

static void *plat_dma_alloc(void *opaque, size_t size, size_t align, uint64_t *dma)
{
	struct vio_pci_linux *p = opaque;

	return vio_pci_linux_dma_alloc(p->dma, size, align, dma);
}

static void plat_dma_free(void *opaque, void *ptr, size_t size)
{
	struct vio_pci_linux *p = opaque;

	vio_pci_linux_dma_free(p->dma, ptr, size);
}

static uint64_t plat_dma_addr(void *opaque, const void *ptr)
{
	struct vio_pci_linux *p = opaque;

	return vio_pci_linux_dma_addr(p->dma, ptr);
}

static uint64_t plat_now_ns(void *opaque)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void plat_delay_us(void *opaque, unsigned us)
{
	struct timespec ts = { .tv_sec = us / 1000000u, .tv_nsec = (long)(us % 1000000u) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ------------------------------------------------------------------------ */
/* Opening and closing                                                      */

static void init_common(struct vio_pci_linux *p, enum vio_pci_linux_kind kind, const char *bdf,
			struct vio_pci_linux_dma *dma)
{
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	strcpy(p->bdf, bdf);
	p->dma = dma;
	p->dev_fd = p->group_fd = p->container_fd = p->cfg_fd = p->uio_fd = -1;
	for (unsigned i = 0; i < VIO_PCI_NUM_BARS; i++)
		p->bars[i].fd = -1;
	for (unsigned i = 0; i < VIO_PCI_LINUX_MAX_VECTORS; i++)
		p->irq_fds[i] = -1;

	p->plat = (struct vio_pci_platform){
		.version = VIO_PCI_PLATFORM_VERSION,
		.cfg_read = plat_cfg_read,
		.cfg_write = plat_cfg_write,
		.bar_len = plat_bar_len,
		.read = plat_read,
		.write = plat_write,
		.irq_enable = plat_irq_enable,
		.irq_disable = plat_irq_disable,
		.irq_wait = plat_irq_wait,
		.dma_alloc = dma ? plat_dma_alloc : NULL,
		.dma_free = dma ? plat_dma_free : NULL,
		.dma_addr = dma ? plat_dma_addr : NULL,
		.now_ns = plat_now_ns,
		.delay_us = plat_delay_us,
	};
}

/* Checks the function exists and is bound to driver. */
static int check_bound(const char *sysfs_root, const char *bdf, const char *driver)
{
	struct vio_pci_linux_fn fn;
	int r = vio_pci_linux_lookup(sysfs_root, bdf, &fn);

	if (r == -EIO)
		r = vio__pci_linux_driver(sysfs_root, bdf, fn.driver, sizeof(fn.driver));
	if (r < 0)
		return r;
	return strcmp(fn.driver, driver) == 0 ? 0 : -ENXIO;
}

static size_t page_round(uint64_t len)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);

	return (size_t)((len + ps - 1) / ps * ps);
}

void vio_pci_linux_close(struct vio_pci_linux *p)
{
	if (p->irq_mode != IRQ_NONE)
		plat_irq_disable(p);
	for (unsigned i = 0; i < VIO_PCI_NUM_BARS; i++) {
		struct vio_pci_linux_bar *b = &p->bars[i];

		if (b->map)
			munmap(b->map, page_round(b->len));
		for (unsigned j = 0; j < b->nsparse; j++)
			munmap(b->sparse[j].map, page_round(b->sparse[j].len));
		if (b->fd >= 0)
			close(b->fd);
	}
	if (p->dev_fd >= 0)
		close(p->dev_fd);
	if (p->group_fd >= 0)
		close(p->group_fd);
	if (p->container_fd >= 0)
		close(p->container_fd);
	if (p->cfg_fd >= 0)
		close(p->cfg_fd);
	if (p->uio_fd >= 0)
		close(p->uio_fd);
	memset(p, 0, sizeof(*p));
	p->dev_fd = p->group_fd = p->container_fd = p->cfg_fd = p->uio_fd = -1;
}

/* Memory and I/O decoding and bus mastering on: the device answers its
 * BARs and may DMA. */
static int enable_device(struct vio_pci_linux *p)
{
	return command_update(p, VIO_PCI_COMMAND_IO | VIO_PCI_COMMAND_MEMORY | VIO_PCI_COMMAND_MASTER,
			      0);
}

/* --- vfio --- */

/* A region's info with its capability chain: *out (free it), 0 or -errno. */
static int vfio_region(int fd, unsigned index, struct vfio_region_info **out)
{
	struct vfio_region_info *ri = calloc(1, sizeof(*ri)), *big;

	if (!ri)
		return -ENOMEM;
	ri->argsz = sizeof(*ri);
	ri->index = index;
	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, ri) < 0) {
		int e = -errno;

		free(ri);
		return e;
	}
	if (ri->argsz > sizeof(*ri) && ri->argsz < 65536) {
		uint32_t sz = ri->argsz;

		big = realloc(ri, sz);
		if (!big) {
			free(ri);
			return -ENOMEM;
		}
		ri = big;
		memset(ri, 0, sz);
		ri->argsz = sz;
		ri->index = index;
		if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, ri) < 0) {
			int e = -errno;

			free(ri);
			return e;
		}
	}
	*out = ri;
	return 0;
}

static const struct vfio_region_info_cap_sparse_mmap *sparse_cap(const struct vfio_region_info *ri)
{
	uint32_t off;
	unsigned hops = 0;

	if (!(ri->flags & VFIO_REGION_INFO_FLAG_CAPS) || ri->argsz <= sizeof(*ri))
		return NULL;
	/* The chain comes from the kernel; still, stay inside the buffer. */
	for (off = ri->cap_offset; off && hops < 16; hops++) {
		const struct vfio_info_cap_header *h;

		if (off < sizeof(*ri) || off > ri->argsz - sizeof(*h))
			return NULL;
		h = (const void *)((const uint8_t *)ri + off);
		if (h->id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
			const struct vfio_region_info_cap_sparse_mmap *s = (const void *)h;

			if (off + sizeof(*s) > ri->argsz ||
			    s->nr_areas > (ri->argsz - off - sizeof(*s)) / sizeof(s->areas[0]))
				return NULL;
			return s;
		}
		off = h->next;
	}
	return NULL;
}

static void vfio_bar(struct vio_pci_linux *p, unsigned i)
{
	struct vio_pci_linux_bar *b = &p->bars[i];
	const struct vfio_region_info_cap_sparse_mmap *s;
	struct vfio_region_info *ri;
	uint32_t reg = 0;

	if (vfio_region(p->dev_fd, VFIO_PCI_BAR0_REGION_INDEX + i, &ri) < 0)
		return;
	if (ri->size == 0 || !(ri->flags & VFIO_REGION_INFO_FLAG_READ)) {
		free(ri);
		return;
	}
	b->len = ri->size;
	b->off = ri->offset;
	if (plat_cfg_read(p, VIO_PCI_CFG_BAR0 + 4 * i, &reg, 4) == 0)
		b->io = reg & VIO_PCI_BAR_IO;
	if (!b->io && (ri->flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		s = sparse_cap(ri);
		if (!s) {
			void *m = mmap(NULL, page_round(b->len), PROT_READ | PROT_WRITE, MAP_SHARED,
				       p->dev_fd, (off_t)b->off);

			if (m != MAP_FAILED)
				b->map = m;
		} else {
			for (uint32_t a = 0; a < s->nr_areas && b->nsparse < VIO_PCI_LINUX_MAX_SPARSE; a++) {
				uint64_t aoff = s->areas[a].offset, alen = s->areas[a].size;
				void *m;

				if (alen == 0 || aoff >= b->len || alen > b->len - aoff)
					continue;
				m = mmap(NULL, page_round(alen), PROT_READ | PROT_WRITE, MAP_SHARED,
					 p->dev_fd, (off_t)(b->off + aoff));
				if (m == MAP_FAILED)
					continue;
				b->sparse[b->nsparse].off = aoff;
				b->sparse[b->nsparse].len = alen;
				b->sparse[b->nsparse].map = m;
				b->nsparse++;
			}
		}
	}
	free(ri);
}

/* Type1: each unit of the DMA memory at an I/O virtual address equal to
 * its physical address, so dma_addr() answers the same as without an
 * IOMMU. Physical addresses of RAM never meet the IOMMU's reserved
 * windows (the MSI range), and no two units share one. */
static int vfio_map_dma(struct vio_pci_linux *p, const struct vio_pci_linux_dma *dma)
{
	for (size_t i = 0; i < dma->units; i++) {
		struct vfio_iommu_type1_dma_map m = {
			.argsz = sizeof(m),
			.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
			.vaddr = (uintptr_t)(dma->base + i * dma->unit),
			.iova = dma->phys[i],
			.size = dma->unit,
		};

		if (ioctl(p->container_fd, VFIO_IOMMU_MAP_DMA, &m) < 0)
			return -errno;
	}
	return 0;
}

int vio_pci_linux_open_vfio(struct vio_pci_linux *p, const char *sysfs_root, const char *bdf,
			    struct vio_pci_linux_dma *dma)
{
	char path[PATH_MAX], link[PATH_MAX], gname[16];
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	struct vfio_device_info di = { .argsz = sizeof(di) };
	struct vfio_region_info *ri;
	const char *group;
	unsigned long iommu;
	ssize_t len;
	int r;

	if (!vio__pci_linux_bdf_ok(bdf))
		return -EINVAL;
	init_common(p, VIO_PCI_LINUX_VFIO, bdf, dma);
	r = check_bound(sysfs_root, bdf, "vfio-pci");
	if (r < 0)
		goto fail;
	r = vio__pci_linux_path(path, sizeof(path), sysfs_root, bdf, "iommu_group");
	if (r < 0)
		goto fail;
	len = readlink(path, link, sizeof(link) - 1);
	if (len < 0) {
		r = -ENOENT;
		goto fail;
	}
	link[len] = '\0';
	group = strrchr(link, '/');
	group = group ? group + 1 : link;
	/* A group is a number; anything else is not a path we open. */
	if (!group[0] || strlen(group) > 10 || strspn(group, "0123456789") != strlen(group)) {
		r = -ENOENT;
		goto fail;
	}
	/* Without an IOMMU, vfio-pci in no-IOMMU mode gave the function a
	 * group of its own under this name. */
	p->noiommu = true;
	strcpy(gname, group);
	snprintf(path, sizeof(path), "/dev/vfio/noiommu-%s", gname);
	p->group_fd = open(path, O_RDWR | O_CLOEXEC);
	if (p->group_fd < 0 && errno == ENOENT) {
		/* Behind a real IOMMU the group is plain /dev/vfio/N. */
		p->noiommu = false;
		snprintf(path, sizeof(path), "/dev/vfio/%s", gname);
		p->group_fd = open(path, O_RDWR | O_CLOEXEC);
	}
	if (p->group_fd < 0) {
		r = -errno;
		goto fail;
	}
	iommu = p->noiommu ? VFIO_NOIOMMU_IOMMU : VFIO_TYPE1v2_IOMMU;
	p->container_fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (p->container_fd < 0) {
		r = -errno;
		goto fail;
	}
	if (ioctl(p->container_fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
	    ioctl(p->container_fd, VFIO_CHECK_EXTENSION, iommu) <= 0) {
		r = -ENOTSUP;
		goto fail;
	}
	if (ioctl(p->group_fd, VFIO_GROUP_GET_STATUS, &gs) < 0) {
		r = -errno;
		goto fail;
	}
	if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		/* Another function of the group is bound to a host driver. */
		r = -EBUSY;
		goto fail;
	}
	if (ioctl(p->group_fd, VFIO_GROUP_SET_CONTAINER, &p->container_fd) < 0 ||
	    ioctl(p->container_fd, VFIO_SET_IOMMU, iommu) < 0) {
		r = -errno;
		goto fail;
	}
	if (!p->noiommu && dma) {
		r = vfio_map_dma(p, dma);
		if (r < 0)
			goto fail;
	}
	p->dev_fd = ioctl(p->group_fd, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (p->dev_fd < 0) {
		r = -errno;
		goto fail;
	}
	if (ioctl(p->dev_fd, VFIO_DEVICE_GET_INFO, &di) < 0) {
		r = -errno;
		goto fail;
	}
	r = vfio_region(p->dev_fd, VFIO_PCI_CONFIG_REGION_INDEX, &ri);
	if (r < 0)
		goto fail;
	p->cfg_off = ri->offset;
	p->cfg_len = ri->size;
	free(ri);

	for (unsigned i = 0; i < VIO_PCI_NUM_BARS && VFIO_PCI_BAR0_REGION_INDEX + i < di.num_regions; i++)
		vfio_bar(p, i);

	if (di.num_irqs > VFIO_PCI_MSIX_IRQ_INDEX) {
		struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = VFIO_PCI_MSIX_IRQ_INDEX };

		if (ioctl(p->dev_fd, VFIO_DEVICE_GET_IRQ_INFO, &ii) == 0 &&
		    (ii.flags & VFIO_IRQ_INFO_EVENTFD))
			p->msix_max = ii.count;
	}
	if (di.num_irqs > VFIO_PCI_INTX_IRQ_INDEX) {
		struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = VFIO_PCI_INTX_IRQ_INDEX };

		if (ioctl(p->dev_fd, VFIO_DEVICE_GET_IRQ_INFO, &ii) == 0 && ii.count > 0)
			p->intx = true;
	}
	r = enable_device(p);
	if (r < 0)
		goto fail;
	return 0;
fail:
	vio_pci_linux_close(p);
	return r;
}

/* --- uio --- */

/* The N of BDF/uio/uioN. */
static int uio_number(const char *sysfs_root, const char *bdf, char *name, size_t cap)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dir;
	int r = vio__pci_linux_path(path, sizeof(path), sysfs_root, bdf, "uio");

	if (r < 0)
		return r;
	dir = opendir(path);
	if (!dir)
		return -ENOENT;
	r = -ENOENT;
	while ((de = readdir(dir))) {
		if (strncmp(de->d_name, "uio", 3) != 0 || !de->d_name[3] ||
		    strspn(de->d_name + 3, "0123456789") != strlen(de->d_name + 3) ||
		    strlen(de->d_name) >= cap)
			continue;
		strcpy(name, de->d_name);
		r = 0;
		break;
	}
	closedir(dir);
	return r;
}

#define IORESOURCE_IO 0x100u
#define IORESOURCE_MEM 0x200u

/* sysfs `resource`: one line per resource, "start end flags" in hex. */
static void uio_bars(struct vio_pci_linux *p, const char *sysfs_root, const char *bdf)
{
	char path[PATH_MAX], text[2048], *line, *save = NULL;
	unsigned i = 0;

	if (vio__pci_linux_path(path, sizeof(path), sysfs_root, bdf, "resource") < 0 ||
	    vio__pci_linux_read_text(path, text, sizeof(text)) < 0)
		return;
	for (line = strtok_r(text, "\n", &save); line && i < VIO_PCI_NUM_BARS;
	     line = strtok_r(NULL, "\n", &save), i++) {
		struct vio_pci_linux_bar *b = &p->bars[i];
		unsigned long long start, end, flags;
		char file[16];
		int fd;

		if (sscanf(line, "%llx %llx %llx", &start, &end, &flags) != 3 || end <= start ||
		    !(flags & (IORESOURCE_IO | IORESOURCE_MEM)))
			continue;
		snprintf(file, sizeof(file), "resource%u", i);
		if (vio__pci_linux_path(path, sizeof(path), sysfs_root, bdf, file) < 0)
			continue;
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		b->len = end - start + 1;
		b->io = flags & IORESOURCE_IO;
		if (b->io) {
			/* sysfs I/O resources answer pread/pwrite of 1, 2 or
			 * 4 bytes with inb/inw/inl and their outs. */
			b->fd = fd;
			continue;
		}
		b->map = mmap(NULL, page_round(b->len), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		if (b->map == MAP_FAILED) {
			/* A memory resource offers mmap only. */
			b->map = NULL;
			b->len = 0;
		}
	}
}

int vio_pci_linux_open_uio(struct vio_pci_linux *p, const char *sysfs_root, const char *dev_root,
			   const char *bdf, struct vio_pci_linux_dma *dma)
{
	char path[PATH_MAX], name[32];
	struct stat st;
	int r;

	if (!vio__pci_linux_bdf_ok(bdf))
		return -EINVAL;
	init_common(p, VIO_PCI_LINUX_UIO, bdf, dma);
	r = check_bound(sysfs_root, bdf, "uio_pci_generic");
	if (r < 0)
		goto fail;
	r = vio__pci_linux_path(path, sizeof(path), sysfs_root, bdf, "config");
	if (r < 0)
		goto fail;
	p->cfg_fd = open(path, O_RDWR | O_CLOEXEC);
	if (p->cfg_fd < 0 || fstat(p->cfg_fd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	p->cfg_len = st.st_size > 0 ? (uint64_t)st.st_size : VIO_PCI_CFG_SPACE_SIZE;

	r = uio_number(sysfs_root, bdf, name, sizeof(name));
	if (r < 0)
		goto fail;
	r = snprintf(path, sizeof(path), "%s/%s", dev_root ? dev_root : "/dev", name);
	if (r < 0 || (size_t)r >= sizeof(path)) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	p->uio_fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (p->uio_fd < 0) {
		r = -errno;
		goto fail;
	}
	{
		/* No pin, no line: uio_pci_generic then never signals. */
		uint8_t pin = 0;

		p->intx = plat_cfg_read(p, VIO_PCI_CFG_INTERRUPT_PIN, &pin, 1) == 0 && pin != 0;
	}
	uio_bars(p, sysfs_root, bdf);
	r = enable_device(p);
	if (r < 0)
		goto fail;
	return 0;
fail:
	vio_pci_linux_close(p);
	return r;
}
