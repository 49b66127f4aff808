/*
 * pci_model_platform.c - libvio's PCI platform over libvio's virtio-pci
 * register model, in one process (see pci_model_platform.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pci_model_platform.h"

/* ------------------------------------------------------------------------ */
/* The VMM side: what leaves the model                                      */

static void on_msix(void *opaque, unsigned vector, uint64_t addr, uint32_t data)
{
	struct mpf *m = opaque;

	/* The message is what the platform programmed: data names the
	 * vector, as an interrupt controller would see it. */
	if (addr != MPF_MSI_ADDR || data != vector) {
		m->bad_msis++;
		return;
	}
	m->msis++;
	m->pending |= UINT64_C(1) << (data < 63 ? data : 63);
}

static void on_intx(void *opaque, bool level)
{
	struct mpf *m = opaque;

	m->intx = level;
	if (level)
		m->intx_raised++;
}

/* ------------------------------------------------------------------------ */
/* The platform ops                                                         */

static int p_cfg_read(void *opaque, unsigned off, void *buf, unsigned len)
{
	struct mpf *m = opaque;
	uint32_t v;
	uint8_t *b = buf;

	if (vio_pci_dev_cfg_read(&m->pci, off, len, &v) < 0)
		return -EINVAL;
	for (unsigned i = 0; i < len; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	return 0;
}

static int p_cfg_write(void *opaque, unsigned off, const void *buf, unsigned len)
{
	struct mpf *m = opaque;
	const uint8_t *b = buf;
	uint32_t v = 0;

	if (len > 4)
		return -EINVAL;
	for (unsigned i = 0; i < len; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return vio_pci_dev_cfg_write(&m->pci, off, len, v) < 0 ? -EINVAL : 0;
}

static uint64_t p_bar_len(void *opaque, unsigned bar, bool *io)
{
	struct mpf *m = opaque;

	return vio_pci_dev_bar_size(&m->pci, bar, io);
}

static uint64_t p_read(void *opaque, unsigned bar, uint64_t off, unsigned width)
{
	struct mpf *m = opaque;
	uint64_t v;

	(void)vio_pci_dev_bar_read(&m->pci, bar, off, width, &v);
	return v;
}

static void p_write(void *opaque, unsigned bar, uint64_t off, unsigned width, uint64_t val)
{
	struct mpf *m = opaque;

	(void)vio_pci_dev_bar_write(&m->pci, bar, off, width, val);
}

static uint32_t cfg16(struct mpf *m, unsigned off)
{
	uint32_t v = 0;

	(void)vio_pci_dev_cfg_read(&m->pci, off, 2, &v);
	return v;
}

/* What vfio does for its user: program the table (vector i: data i),
 * unmask, and turn MSI-X on; or, for nvec 0, the INTx line. */
static int p_irq_enable(void *opaque, unsigned nvec)
{
	struct mpf *m = opaque;
	unsigned c = VIO_PCI_DEV_CAP_MSIX, table, n;

	m->pending = 0;
	if (nvec == 0) {
		(void)vio_pci_dev_cfg_write(&m->pci, VIO_PCI_CFG_COMMAND, 2,
					    cfg16(m, VIO_PCI_CFG_COMMAND) &
					    ~VIO_PCI_COMMAND_INTX_DISABLE);
		return 0;
	}
	if (!m->pci.nvec)
		return -ENOTSUP;
	table = (cfg16(m, c + VIO_PCI_MSIX_FLAGS) & VIO_PCI_MSIX_FLAGS_QSIZE) + 1;
	n = nvec < table ? nvec : table;
	for (unsigned i = 0; i < n; i++) {
		uint64_t e = VIO_PCI_DEV_MSIX_TABLE_OFF + (uint64_t)i * VIO_PCI_MSIX_ENTRY_SIZE;

		(void)vio_pci_dev_bar_write(&m->pci, VIO_PCI_DEV_BAR_MSIX,
					    e + VIO_PCI_MSIX_ENTRY_ADDR_LO, 4, (uint32_t)MPF_MSI_ADDR);
		(void)vio_pci_dev_bar_write(&m->pci, VIO_PCI_DEV_BAR_MSIX,
					    e + VIO_PCI_MSIX_ENTRY_ADDR_HI, 4, MPF_MSI_ADDR >> 32);
		(void)vio_pci_dev_bar_write(&m->pci, VIO_PCI_DEV_BAR_MSIX,
					    e + VIO_PCI_MSIX_ENTRY_DATA, 4, i);
		(void)vio_pci_dev_bar_write(&m->pci, VIO_PCI_DEV_BAR_MSIX,
					    e + VIO_PCI_MSIX_ENTRY_CTRL, 4, 0);
	}
	(void)vio_pci_dev_cfg_write(&m->pci, c + VIO_PCI_MSIX_FLAGS, 2, VIO_PCI_MSIX_FLAGS_ENABLE);
	return (int)n;
}

static void p_irq_disable(void *opaque)
{
	struct mpf *m = opaque;

	if (m->pci.nvec)
		(void)vio_pci_dev_cfg_write(&m->pci, VIO_PCI_DEV_CAP_MSIX + VIO_PCI_MSIX_FLAGS, 2, 0);
	(void)vio_pci_dev_cfg_write(&m->pci, VIO_PCI_CFG_COMMAND, 2,
				    cfg16(m, VIO_PCI_CFG_COMMAND) | VIO_PCI_COMMAND_INTX_DISABLE);
	m->pending = 0;
}

static void sleep_us(unsigned us)
{
	struct timespec ts = { us / 1000000u, (long)(us % 1000000u) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* One thread: whatever fired did so inside an access the driver made, so
 * nothing more comes while waiting; an empty wait sleeps a little (at
 * most 1 ms) so a driver's bounded loop measures real time. */
static int64_t p_irq_wait(void *opaque, int timeout_ms)
{
	struct mpf *m = opaque;
	uint64_t bits = m->pending;

	m->pending = 0;
	if (!bits && m->intx)
		bits = 1;
	if (!bits && timeout_ms != 0)
		sleep_us(1000);
	return (int64_t)bits;
}

static void *p_dma_alloc(void *opaque, size_t size, size_t align, uint64_t *dma)
{
	struct mpf *m = opaque;

	return vio__dma_arena_alloc(&m->dma, size, align, dma);
}

static void p_dma_free(void *opaque, void *p, size_t size)
{
	struct mpf *m = opaque;

	vio__dma_arena_free(&m->dma, p, size);
}

static uint64_t p_dma_addr(void *opaque, const void *p)
{
	struct mpf *m = opaque;

	return vio__dma_arena_addr(&m->dma, p);
}

static uint64_t p_now_ns(void *opaque)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void p_delay_us(void *opaque, unsigned us)
{
	sleep_us(us);
}

const struct vio_pci_platform mpf_platform = {
	.version = VIO_PCI_PLATFORM_VERSION,
	.cfg_read = p_cfg_read,
	.cfg_write = p_cfg_write,
	.bar_len = p_bar_len,
	.read = p_read,
	.write = p_write,
	.irq_enable = p_irq_enable,
	.irq_disable = p_irq_disable,
	.irq_wait = p_irq_wait,
	.dma_alloc = p_dma_alloc,
	.dma_free = p_dma_free,
	.dma_addr = p_dma_addr,
	.now_ns = p_now_ns,
	.delay_us = p_delay_us,
};

int mpf_init(struct mpf *m, struct vio_dev_model *d, enum vio_pci_dev_mode mode, unsigned nvec,
	     size_t arena_bytes)
{
	struct vio_pci_dev_opts o;
	int r;

	memset(m, 0, sizeof(*m));
	m->d = d;
	arena_bytes = (arena_bytes + 4095) & ~(size_t)4095;
	m->arena = aligned_alloc(4096, arena_bytes);
	if (!m->arena)
		return -ENOMEM;
	m->arena_len = arena_bytes;
	r = vio__dma_arena_init(&m->dma, m->arena, arena_bytes, MPF_DMA_BASE, 4096);
	if (r < 0)
		goto fail;
	vio_mem_init(&m->mem, &m->region, 1);
	r = vio_mem_add(&m->mem, MPF_DMA_BASE, arena_bytes, m->arena);
	if (r < 0)
		goto fail_arena;
	d->mem = &m->mem;
	m->dev_ops.version = VIO_PCI_DEV_OPS_VERSION;
	m->dev_ops.msix = on_msix;
	m->dev_ops.intx = on_intx;
	memset(&o, 0, sizeof(o));
	o.mode = mode;
	o.msix_vectors = nvec;
	o.ops = &m->dev_ops;
	o.opaque = m;
	r = vio_pci_dev_init(&m->pci, d, &o);
	if (r < 0)
		goto fail_arena;
	return 0;
fail_arena:
	vio__dma_arena_fini(&m->dma);
fail:
	free(m->arena);
	m->arena = NULL;
	return r;
}

void mpf_fini(struct mpf *m)
{
	vio_pci_dev_fini(&m->pci);
	if (m->d)
		m->d->mem = NULL;
	vio__dma_arena_fini(&m->dma);
	free(m->arena);
	m->arena = NULL;
}
