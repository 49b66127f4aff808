/*
 * pci_fake.c - the scriptable fake virtio PCI function (see pci_fake.h).
 *
 * Registers are decoded by hand from the spec's numbers, so the transport
 * is checked against the layout and not against itself. DMA memory is
 * one arena at PF_DMA_BASE; the kick handler translates every address
 * the driver wrote through pf_host(), bounds checked.
 */
#include "pci_fake.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pf_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

void pf_put32(uint8_t *p, uint32_t v)
{
	pf_put16(p, (uint16_t)v);
	pf_put16(p + 2, (uint16_t)(v >> 16));
}

void pf_set_cap(struct pci_fake *f, unsigned pos, unsigned next, unsigned cap_len,
		unsigned type, unsigned bar, uint32_t off, uint32_t len)
{
	f->cfg[pos] = VIO_PCI_CAP_ID_VNDR;
	f->cfg[pos + 1] = (uint8_t)next;
	f->cfg[pos + 2] = (uint8_t)cap_len;
	f->cfg[pos + 3] = (uint8_t)type;
	f->cfg[pos + 4] = (uint8_t)bar;
	pf_put32(&f->cfg[pos + 8], off);
	pf_put32(&f->cfg[pos + 12], len);
}

void pf_fini(struct pci_fake *f)
{
	if (f->arena) {
		vio__dma_arena_fini(&f->dma);
		free(f->arena);
	}
	f->arena = NULL;
}

void *pf_host(struct pci_fake *f, uint64_t dma, size_t len)
{
	if (dma < f->dma_base || dma - f->dma_base > PF_ARENA_BYTES ||
	    len > PF_ARENA_BYTES - (dma - f->dma_base))
		return NULL;
	return f->arena + (dma - f->dma_base);
}

void pf_rebase_dma(struct pci_fake *f, uint64_t base)
{
	vio__dma_arena_fini(&f->dma);
	f->dma_base = base;
	if (vio__dma_arena_init(&f->dma, f->arena, PF_ARENA_BYTES, base, 4096))
		abort();
}

static void base_init(struct pci_fake *f, uint32_t id)
{
	pf_fini(f);
	memset(f, 0, sizeof(*f));
	f->arena = aligned_alloc(4096, PF_ARENA_BYTES);
	f->dma_base = PF_DMA_BASE;
	if (!f->arena || vio__dma_arena_init(&f->dma, f->arena, PF_ARENA_BYTES, PF_DMA_BASE, 4096))
		abort();
	pf_put16(&f->cfg[VIO_PCI_CFG_VENDOR_ID], VIO_PCI_VENDOR_ID);
	pf_put16(&f->cfg[VIO_PCI_CFG_SUBSYS_VENDOR_ID], VIO_PCI_VENDOR_ID);
	pf_put16(&f->cfg[VIO_PCI_CFG_SUBSYS_ID], (uint16_t)id);
	f->num_queues = 1;
	for (unsigned i = 0; i < PF_QUEUES; i++) {
		f->q[i].max = 64;
		f->q[i].size = 64;
		f->q[i].noff = (uint16_t)i;
		f->q[i].vector = VIO_PCI_MSI_NO_VECTOR;
	}
	f->config_vector = VIO_PCI_MSI_NO_VECTOR;
	f->host_features = VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_EVENT_IDX) |
			   VIO_BIT(VIO_F_RING_RESET);
	f->devcfg_len = 16;
	for (unsigned i = 0; i < sizeof(f->devcfg); i++)
		f->devcfg[i] = (uint8_t)(0x10 + i);
	f->msix_vectors = 8;
	f->intx = true;
	f->irq_nvec = -1;
}

static void add_modern(struct pci_fake *f)
{
	f->modern = true;
	pf_put16(&f->cfg[VIO_PCI_CFG_STATUS], VIO_PCI_STATUS_CAP_LIST);
	f->cfg[VIO_PCI_CFG_CAP_PTR] = PF_CAP_COMMON;
	pf_set_cap(f, PF_CAP_COMMON, PF_CAP_NOTIFY, 16, VIO_PCI_CAP_COMMON_CFG, PF_MBAR,
		   PF_COMMON_OFF, VIO_PCI_COMMON_CFG_SIZE);
	pf_set_cap(f, PF_CAP_NOTIFY, PF_CAP_ISR, 20, VIO_PCI_CAP_NOTIFY_CFG, PF_MBAR,
		   PF_NOTIFY_OFF, PF_NOTIFY_LEN);
	pf_put32(&f->cfg[PF_CAP_NOTIFY + 16], PF_NOTIFY_MULT);
	pf_set_cap(f, PF_CAP_ISR, PF_CAP_DEVICE, 16, VIO_PCI_CAP_ISR_CFG, PF_MBAR, PF_ISR_OFF, 4);
	pf_set_cap(f, PF_CAP_DEVICE, 0, 16, VIO_PCI_CAP_DEVICE_CFG, PF_MBAR, PF_DEVICE_OFF, 16);
	f->bar_len[PF_MBAR] = PF_BAR_MAX;
}

static void add_legacy(struct pci_fake *f)
{
	f->legacy = true;
	f->bar_len[0] = 0x40;
	f->bar_io[0] = true;
}

void pf_init_modern(struct pci_fake *f, uint32_t id)
{
	base_init(f, id);
	pf_put16(&f->cfg[VIO_PCI_CFG_DEVICE_ID], (uint16_t)(VIO_PCI_MODERN_DEVICE_BASE + id));
	f->cfg[VIO_PCI_CFG_REVISION_ID] = 1;
	add_modern(f);
}

static uint16_t trans_id(uint32_t id)
{
	switch (id) {
	case VIO_ID_NET: return VIO_PCI_TRANS_NET;
	case VIO_ID_BLOCK: return VIO_PCI_TRANS_BLOCK;
	case VIO_ID_BALLOON: return VIO_PCI_TRANS_BALLOON;
	case VIO_ID_CONSOLE: return VIO_PCI_TRANS_CONSOLE;
	default: return VIO_PCI_TRANS_RNG;
	}
}

void pf_init_legacy(struct pci_fake *f, uint32_t id)
{
	base_init(f, id);
	pf_put16(&f->cfg[VIO_PCI_CFG_DEVICE_ID], trans_id(id));
	f->host_features = VIO_BIT(VIO_F_EVENT_IDX) | VIO_BIT(VIO_F_NOTIFY_ON_EMPTY);
	add_legacy(f);
}

void pf_init_transitional(struct pci_fake *f, uint32_t id)
{
	base_init(f, id);
	pf_put16(&f->cfg[VIO_PCI_CFG_DEVICE_ID], trans_id(id));
	add_modern(f);
	add_legacy(f);
}

/* ------------------------------------------------------------------------ */
/* The device                                                               */

static void device_reset(struct pci_fake *f)
{
	f->status = 0;
	f->guest_features = 0;
	f->isr = 0;
	f->config_vector = VIO_PCI_MSI_NO_VECTOR;
	for (unsigned i = 0; i < PF_QUEUES; i++) {
		struct pf_queue *q = &f->q[i];

		q->size = q->max;
		q->vector = VIO_PCI_MSI_NO_VECTOR;
		q->enable = 0;
		q->reset = 0;
		q->desc = q->driver = q->device = 0;
		q->pfn = 0;
		q->last_avail = q->used_idx = 0;
	}
}

static void raise_irq(struct pci_fake *f, uint16_t vector)
{
	if (f->irq_nvec > 0 && vector != VIO_PCI_MSI_NO_VECTOR) {
		f->pending |= UINT64_C(1) << (vector < 63 ? vector : 63);
	} else if (f->irq_nvec == 0) {
		f->isr |= VIO_PCI_ISR_QUEUE;
		f->pending |= 1;
	}
}

/* A split ring's worth of service: fill and return every available buffer. */
static void kick(struct pci_fake *f, unsigned qi)
{
	struct pf_queue *q = &f->q[qi];
	uint8_t *desc, *avail, *used;
	unsigned size = q->size;
	uint16_t avail_idx;

	q->kicks++;
	if (f->no_complete || !(f->status & VIO_STATUS_DRIVER_OK))
		return;
	if (q->pfn) { /* set up through the legacy interface */
		struct vio_ring_addrs a;

		vio_ring_legacy_layout((uint64_t)q->pfn << 12, size, VIO_LEGACY_VRING_ALIGN, &a);
		q->desc = a.desc;
		q->driver = a.driver;
		q->device = a.device;
	} else if (!q->enable) {
		return;
	}
	desc = pf_host(f, q->desc, 16u * size);
	avail = pf_host(f, q->driver, 6u + 2u * size);
	used = pf_host(f, q->device, 6u + 8u * size);
	if (!desc || !avail || !used)
		return;
	memcpy(&avail_idx, avail + 2, 2);
	while (q->last_avail != avail_idx) {
		uint16_t head, next, flags;
		uint32_t total = 0, len;
		uint64_t addr;
		unsigned n = 0;

		memcpy(&head, avail + 4 + 2 * (q->last_avail % size), 2);
		next = head;
		do {
			uint8_t *d = desc + 16 * (next % size);

			memcpy(&addr, d, 8);
			memcpy(&len, d + 8, 4);
			memcpy(&flags, d + 12, 2);
			memcpy(&next, d + 14, 2);
			if (flags & 2) { /* WRITE */
				uint8_t *buf = pf_host(f, addr, len);

				if (!buf)
					return;
				memset(buf, PF_FILL, len);
				total += len;
			}
		} while ((flags & 1) && ++n < size);
		{
			uint8_t *e = used + 4 + 8 * (q->used_idx % size);
			uint32_t id = head;

			memcpy(e, &id, 4);
			memcpy(e + 4, &total, 4);
		}
		q->used_idx++;
		q->last_avail++;
		q->completed++;
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(used + 2, &q->used_idx, 2);
	/* EVENT_IDX: kick me at the next buffer (avail_event after the ring). */
	memcpy(used + 4 + 8 * size, &q->last_avail, 2);
	raise_irq(f, q->vector);
}

static uint16_t vector_store(struct pci_fake *f, uint16_t v, bool refuse)
{
	if (refuse || f->irq_nvec <= 0 || v >= (unsigned)f->irq_nvec)
		return VIO_PCI_MSI_NO_VECTOR;
	return v;
}

static uint8_t status_read(struct pci_fake *f)
{
	f->status_reads++;
	return f->status;
}

static void status_write(struct pci_fake *f, uint8_t v)
{
	if (v == 0) {
		if (f->reset_stuck)
			return; /* keeps reading its old status forever */
		device_reset(f);
		return;
	}
	if ((v & VIO_STATUS_FEATURES_OK) && f->refuse_features_ok)
		v &= (uint8_t)~VIO_STATUS_FEATURES_OK;
	f->status = v;
}

static uint64_t common_read(struct pci_fake *f, uint64_t off, unsigned width)
{
	struct pf_queue *q = f->qsel < PF_QUEUES ? &f->q[f->qsel] : NULL;

	(void)width;
	switch (off) {
	case VIO_PCI_COMMON_DFSELECT: return f->dfsel;
	case VIO_PCI_COMMON_DF: return f->dfsel < 2 ? (uint32_t)(f->host_features >> (32 * f->dfsel)) : 0;
	case VIO_PCI_COMMON_GFSELECT: return f->gfsel;
	case VIO_PCI_COMMON_GF: return f->gfsel < 2 ? (uint32_t)(f->guest_features >> (32 * f->gfsel)) : 0;
	case VIO_PCI_COMMON_MSIX: return f->config_vector;
	case VIO_PCI_COMMON_NUMQ: return f->num_queues;
	case VIO_PCI_COMMON_STATUS: return status_read(f);
	case VIO_PCI_COMMON_CFGGENERATION: return f->generation;
	case VIO_PCI_COMMON_Q_SELECT: return f->qsel;
	case VIO_PCI_COMMON_Q_SIZE: return q && f->qsel < f->num_queues ? q->size : 0;
	case VIO_PCI_COMMON_Q_MSIX: return q ? q->vector : VIO_PCI_MSI_NO_VECTOR;
	case VIO_PCI_COMMON_Q_ENABLE: return f->stale_enable ? 1 : q ? q->enable : 0;
	case VIO_PCI_COMMON_Q_NOFF: return q ? q->noff : 0;
	case VIO_PCI_COMMON_Q_RESET: return q ? q->reset : 0;
	default: return 0;
	}
}

static void set_lo(uint64_t *v, uint32_t lo)
{
	*v = (*v & ~(uint64_t)UINT32_MAX) | lo;
}

static void set_hi(uint64_t *v, uint32_t hi)
{
	*v = (*v & UINT32_MAX) | (uint64_t)hi << 32;
}

static void common_write(struct pci_fake *f, uint64_t off, unsigned width, uint64_t v)
{
	struct pf_queue *q = f->qsel < PF_QUEUES ? &f->q[f->qsel] : NULL;

	(void)width;
	switch (off) {
	case VIO_PCI_COMMON_DFSELECT: f->dfsel = (uint32_t)v; break;
	case VIO_PCI_COMMON_GFSELECT: f->gfsel = (uint32_t)v; break;
	case VIO_PCI_COMMON_GF:
		if (f->gfsel == 0)
			set_lo(&f->guest_features, (uint32_t)v);
		else if (f->gfsel == 1)
			set_hi(&f->guest_features, (uint32_t)v);
		break;
	case VIO_PCI_COMMON_MSIX:
		f->config_vector = vector_store(f, (uint16_t)v, f->refuse_config_vector);
		break;
	case VIO_PCI_COMMON_STATUS: status_write(f, (uint8_t)v); break;
	case VIO_PCI_COMMON_Q_SELECT: f->qsel = (uint16_t)v; break;
	default:
		if (!q)
			break;
		switch (off) {
		case VIO_PCI_COMMON_Q_SIZE: q->size = (uint16_t)v; break;
		case VIO_PCI_COMMON_Q_MSIX:
			q->vector = vector_store(f, (uint16_t)v, f->refuse_queue_vector);
			break;
		case VIO_PCI_COMMON_Q_ENABLE: q->enable = (uint16_t)v; break;
		case VIO_PCI_COMMON_Q_DESCLO: set_lo(&q->desc, (uint32_t)v); break;
		case VIO_PCI_COMMON_Q_DESCHI: set_hi(&q->desc, (uint32_t)v); break;
		case VIO_PCI_COMMON_Q_AVAILLO: set_lo(&q->driver, (uint32_t)v); break;
		case VIO_PCI_COMMON_Q_AVAILHI: set_hi(&q->driver, (uint32_t)v); break;
		case VIO_PCI_COMMON_Q_USEDLO: set_lo(&q->device, (uint32_t)v); break;
		case VIO_PCI_COMMON_Q_USEDHI: set_hi(&q->device, (uint32_t)v); break;
		case VIO_PCI_COMMON_Q_RESET:
			if (v == 1 && !f->queue_reset_stuck) {
				q->enable = 0;
				q->last_avail = q->used_idx = 0;
				q->reset = 1;
			}
			break;
		default: break;
		}
	}
}

/* The legacy registers, with the MSI-X pair when vectors are set up. */
static bool legacy_msix(const struct pci_fake *f)
{
	return f->irq_nvec > 0;
}

static unsigned legacy_cfg_off(const struct pci_fake *f)
{
	return legacy_msix(f) ? VIO_PCI_LEGACY_CONFIG_OFF_MSIX : VIO_PCI_LEGACY_CONFIG_OFF;
}

static uint64_t legacy_read(struct pci_fake *f, uint64_t off, unsigned width)
{
	struct pf_queue *q = f->qsel < PF_QUEUES ? &f->q[f->qsel] : NULL;
	uint64_t v = 0;

	if (off >= legacy_cfg_off(f)) {
		off -= legacy_cfg_off(f);
		if (off + width <= f->devcfg_len)
			memcpy(&v, &f->devcfg[off], width);
		return v;
	}
	switch (off) {
	case VIO_PCI_LEGACY_HOST_FEATURES: return (uint32_t)f->host_features;
	case VIO_PCI_LEGACY_GUEST_FEATURES: return (uint32_t)f->guest_features;
	case VIO_PCI_LEGACY_QUEUE_PFN: return f->stale_pfn ? 0x1234 : q ? q->pfn : 0;
	case VIO_PCI_LEGACY_QUEUE_NUM: return q && f->qsel < f->num_queues ? q->max : 0;
	case VIO_PCI_LEGACY_QUEUE_SEL: return f->qsel;
	case VIO_PCI_LEGACY_STATUS: return status_read(f);
	case VIO_PCI_LEGACY_ISR: v = f->isr; f->isr = 0; return v;
	case VIO_PCI_LEGACY_MSIX_CONFIG: return f->config_vector;
	case VIO_PCI_LEGACY_MSIX_QUEUE: return q ? q->vector : VIO_PCI_MSI_NO_VECTOR;
	default: return 0;
	}
}

static void legacy_write(struct pci_fake *f, uint64_t off, unsigned width, uint64_t v)
{
	struct pf_queue *q = f->qsel < PF_QUEUES ? &f->q[f->qsel] : NULL;

	(void)width;
	if (off >= legacy_cfg_off(f))
		return;
	switch (off) {
	case VIO_PCI_LEGACY_GUEST_FEATURES: f->guest_features = (uint32_t)v; break;
	case VIO_PCI_LEGACY_QUEUE_PFN: if (q) q->pfn = (uint32_t)v; break;
	case VIO_PCI_LEGACY_QUEUE_SEL: f->qsel = (uint16_t)v; break;
	case VIO_PCI_LEGACY_QUEUE_NOTIFY:
		f->notify_writes++;
		f->last_notify_off = off;
		f->last_notify_val = (uint16_t)v;
		if (v < PF_QUEUES)
			kick(f, (unsigned)v);
		break;
	case VIO_PCI_LEGACY_STATUS: status_write(f, (uint8_t)v); break;
	case VIO_PCI_LEGACY_MSIX_CONFIG:
		if (legacy_msix(f))
			f->config_vector = vector_store(f, (uint16_t)v, f->refuse_config_vector);
		break;
	case VIO_PCI_LEGACY_MSIX_QUEUE:
		if (legacy_msix(f) && q)
			q->vector = vector_store(f, (uint16_t)v, f->refuse_queue_vector);
		break;
	default: break;
	}
}

/* ------------------------------------------------------------------------ */
/* The platform                                                             */

static int p_cfg_read(void *opaque, unsigned off, void *buf, unsigned len)
{
	struct pci_fake *f = opaque;

	if (off >= VIO_PCI_CFG_SPACE_SIZE || len > VIO_PCI_CFG_SPACE_SIZE - off)
		return -EINVAL;
	memcpy(buf, &f->cfg[off], len);
	return 0;
}

static int p_cfg_write(void *opaque, unsigned off, const void *buf, unsigned len)
{
	struct pci_fake *f = opaque;

	if (off >= VIO_PCI_CFG_SPACE_SIZE || len > VIO_PCI_CFG_SPACE_SIZE - off)
		return -EINVAL;
	/* Only the command register is writable here. */
	if (off == VIO_PCI_CFG_COMMAND)
		memcpy(&f->cfg[off], buf, len);
	return 0;
}

static uint64_t p_bar_len(void *opaque, unsigned bar, bool *io)
{
	struct pci_fake *f = opaque;

	if (bar >= VIO_PCI_NUM_BARS) {
		f->bad_accesses++;
		return 0;
	}
	if (io)
		*io = f->bar_io[bar];
	return f->bar_len[bar];
}

static bool access_ok(struct pci_fake *f, unsigned bar, uint64_t off, unsigned width)
{
	if (bar >= VIO_PCI_NUM_BARS || f->bar_len[bar] == 0 || off > f->bar_len[bar] ||
	    width > f->bar_len[bar] - off || (width != 1 && width != 2 && width != 4)) {
		f->bad_accesses++;
		return false;
	}
	return true;
}

static uint64_t p_read(void *opaque, unsigned bar, uint64_t off, unsigned width)
{
	struct pci_fake *f = opaque;
	uint64_t v = 0;

	if (!access_ok(f, bar, off, width))
		return UINT64_MAX;
	if (bar == 0 && f->legacy)
		return legacy_read(f, off, width);
	if (bar == PF_MBAR && f->modern) {
		if (off < PF_ISR_OFF)
			return common_read(f, off - PF_COMMON_OFF, width);
		if (off == PF_ISR_OFF) {
			v = f->isr;
			f->isr = 0;
			return v;
		}
		if (off >= PF_DEVICE_OFF && off < PF_NOTIFY_OFF) {
			off -= PF_DEVICE_OFF;
			if (off + width <= f->devcfg_len)
				memcpy(&v, &f->devcfg[off], width);
			return v;
		}
	}
	memcpy(&v, &f->bar[bar][off], width);
	return v;
}

static void p_write(void *opaque, unsigned bar, uint64_t off, unsigned width, uint64_t v)
{
	struct pci_fake *f = opaque;

	if (!access_ok(f, bar, off, width))
		return;
	if (bar == 0 && f->legacy) {
		legacy_write(f, off, width, v);
		return;
	}
	if (bar == PF_MBAR && f->modern) {
		if (off < PF_ISR_OFF) {
			common_write(f, off - PF_COMMON_OFF, width, v);
			return;
		}
		if (off >= PF_NOTIFY_OFF) {
			f->notify_writes++;
			f->last_notify_off = off - PF_NOTIFY_OFF;
			f->last_notify_val = (uint16_t)v;
			for (unsigned i = 0; i < PF_QUEUES; i++)
				if (off - PF_NOTIFY_OFF == (uint64_t)f->q[i].noff * PF_NOTIFY_MULT && v == i)
					kick(f, i);
			return;
		}
		if (off >= PF_DEVICE_OFF) {
			off -= PF_DEVICE_OFF;
			if (off + width <= f->devcfg_len)
				memcpy(&f->devcfg[off], &v, width);
			return;
		}
	}
	memcpy(&f->bar[bar][off], &v, width);
}

static int p_irq_enable(void *opaque, unsigned nvec)
{
	struct pci_fake *f = opaque;

	f->irq_enables++;
	if (nvec == 0) {
		if (!f->intx)
			return -ENOTSUP;
		f->irq_nvec = 0;
		return 0;
	}
	if (f->msix_vectors == 0)
		return -ENOTSUP;
	f->irq_nvec = (int)(nvec < f->msix_vectors ? nvec : f->msix_vectors);
	return f->irq_nvec;
}

static void p_irq_disable(void *opaque)
{
	struct pci_fake *f = opaque;

	f->irq_disables++;
	f->irq_nvec = -1;
}

static int64_t p_irq_wait(void *opaque, int timeout_ms)
{
	struct pci_fake *f = opaque;
	uint64_t m = f->pending;

	if (f->irq_wait_error)
		return -EIO;
	f->pending = 0;
	if (m)
		return (int64_t)m;
	/* Nothing will come in a single-threaded test: the time passes. */
	f->now_ns += (uint64_t)(timeout_ms < 0 ? 1 : timeout_ms) * 1000000u;
	return 0;
}

static void *p_dma_alloc(void *opaque, size_t size, size_t align, uint64_t *dma)
{
	struct pci_fake *f = opaque;
	void *p = vio__dma_arena_alloc(&f->dma, size, align, dma);

	if (p)
		f->dma_live++;
	return p;
}

static void p_dma_free(void *opaque, void *p, size_t size)
{
	struct pci_fake *f = opaque;

	if (!p)
		return;
	f->dma_live--;
	vio__dma_arena_free(&f->dma, p, size);
}

static uint64_t p_dma_addr(void *opaque, const void *p)
{
	return vio__dma_arena_addr(&((struct pci_fake *)opaque)->dma, p);
}

static uint64_t p_now_ns(void *opaque)
{
	return ((struct pci_fake *)opaque)->now_ns;
}

static void p_delay_us(void *opaque, unsigned us)
{
	((struct pci_fake *)opaque)->now_ns += (uint64_t)us * 1000u;
}

const struct vio_pci_platform pf_platform = {
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

/* Neither clock nor sleep nor interrupts: bounds must hold by counting. */
const struct vio_pci_platform pf_platform_noclock = {
	.version = VIO_PCI_PLATFORM_VERSION,
	.cfg_read = p_cfg_read,
	.cfg_write = p_cfg_write,
	.bar_len = p_bar_len,
	.read = p_read,
	.write = p_write,
	.dma_alloc = p_dma_alloc,
	.dma_free = p_dma_free,
	.dma_addr = p_dma_addr,
};

void pf_log(void *opaque, enum vio_log_level level, const char *msg)
{
	struct pci_fake *f = opaque;
	int n;

	(void)level;
	if (getenv("PF_VERBOSE"))
		fprintf(stderr, "# log: %s\n", msg);
	n = snprintf(f->log + f->log_len, sizeof(f->log) - f->log_len, "%s\n", msg);
	if (n > 0)
		f->log_len += (size_t)n < sizeof(f->log) - f->log_len ? (size_t)n :
			      sizeof(f->log) - f->log_len - 1;
}

bool pf_logged(const struct pci_fake *f, const char *s)
{
	return strstr(f->log, s) != NULL;
}

void pf_config(struct pci_fake *f, struct vio_pci_drv_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->platform = f->no_clock ? &pf_platform_noclock : &pf_platform;
	cfg->platform_opaque = f;
	cfg->reset_timeout_ms = 50;
	cfg->log = pf_log;
	cfg->log_opaque = f;
}

static void *bus_alloc(void *opaque, size_t size)
{
	(void)opaque;
	return calloc(1, size);
}

static void bus_free(void *opaque, void *p, size_t size)
{
	(void)opaque;
	(void)size;
	free(p);
}

void pf_bus_init(struct pci_fake *f, struct vio_bus *bus)
{
	vio_bus_init(bus, bus_alloc, bus_free, NULL);
	bus->log = pf_log;
	bus->log_opaque = f;
}

int pf_ctx_setup(void **state)
{
	struct pf_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	pf_init_modern(&c->f, VIO_ID_RNG);
	*state = c;
	return 0;
}

int pf_ctx_teardown(void **state)
{
	struct pf_ctx *c = *state;

	pf_fini(&c->f);
	free(c);
	return 0;
}
