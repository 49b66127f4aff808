/*
 * rng.c - vio-pci-probe --rng: one virtio-rng request, by hand, through
 * the platform alone (no transport, no ring library), to prove the Linux
 * platform end to end: the device reads a descriptor and writes random
 * bytes at the physical addresses pagemap gave, then raises an interrupt
 * that reaches the process (an MSI-X eventfd with vfio, /dev/uioN's INTx
 * with uio).
 *
 * A split ring of the device's queue 0 size in DMA memory: one writable
 * descriptor of 64 zeroed bytes. Modern functions are driven through the
 * common config (VERSION_1 only), legacy ones through the I/O BAR (the
 * ring at QUEUE_PFN, laid out with 4096-byte alignment). The buffer must
 * come back with used length 64 and not all zero.
 */
#include <inttypes.h>
#include <string.h>

#include "probe.h"
#include "vio/spec.h"
#include "vio/spec/pci.h"

#define BUF 64u

struct rng_q {
	uint8_t *desc, *avail, *used, *buf;
	uint64_t desc_dma, avail_dma, used_dma, buf_dma;
	unsigned n;
};

static void put16(uint8_t *a, uint16_t v) { memcpy(a, &v, 2); }
static void put32(uint8_t *a, uint32_t v) { memcpy(a, &v, 4); }
static void put64(uint8_t *a, uint64_t v) { memcpy(a, &v, 8); }
static uint16_t get16(const volatile uint8_t *a) { return (uint16_t)(a[0] | a[1] << 8); }
static uint32_t get32(const volatile uint8_t *a)
{
	return (uint32_t)a[0] | (uint32_t)a[1] << 8 | (uint32_t)a[2] << 16 | (uint32_t)a[3] << 24;
}

/* Posts the buffer as descriptor 0 and makes it available. */
static void post(struct rng_q *q)
{
	put64(q->desc, q->buf_dma);
	put32(q->desc + 8, BUF);
	put16(q->desc + 12, VIO_DESC_F_WRITE);
	put16(q->desc + 14, 0);
	put16(q->avail + 4, 0);                 /* ring[0]: head 0 */
	/* The descriptor and the ring entry before the index the device
	 * reads (release; the device's acquire is its read of idx). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	put16(q->avail + 2, 1);
	/* The index before the notify register write. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Interrupt, then the used ring: reports. isr: how to read (and so clear)
 * the ISR byte, needed for a level-triggered INTx line. */
static void reap(struct vio_pci_linux *p, struct rng_q *q, int isr_bar, uint64_t isr_off,
		 bool msix)
{
	int64_t fired = 0;
	unsigned nonzero = 0;
	uint16_t idx;

	for (int tries = 0; tries < 50 && !fired; tries++) {
		fired = p->plat.irq_wait(p, 100);
		if (fired < 0)
			break;
	}
	if (fired > 0) {
		uint64_t isr = isr_bar >= 0 ? p->plat.read(p, (unsigned)isr_bar, isr_off, 1) : 0;

		OK("rng: interrupt (%s), vector mask 0x%" PRIx64 ", ISR 0x%" PRIx64,
		   msix ? "MSI-X" : "INTx", (uint64_t)fired, isr);
	} else {
		FAIL("rng: no interrupt in 5 s (%" PRId64 ")", fired);
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	idx = get16(q->used + 2);
	if (idx != 1) {
		FAIL("rng: used idx %u, expected 1", idx);
		return;
	}
	for (unsigned i = 0; i < BUF; i++)
		nonzero += q->buf[i] != 0;
	if (get32(q->used + 4) != 0 || get32(q->used + 8) != BUF || nonzero == 0)
		FAIL("rng: used id %" PRIu32 " len %" PRIu32 ", %u nonzero bytes", get32(q->used + 4),
		     get32(q->used + 8), nonzero);
	else
		OK("rng: device wrote %u bytes at device address 0x%" PRIx64 " (%02x %02x %02x %02x ...)",
		   get32(q->used + 8), q->buf_dma, q->buf[0], q->buf[1], q->buf[2], q->buf[3]);
}

/* MSI-X vector 0 when the platform gives one, else the INTx line. */
static bool irq_setup(struct vio_pci_linux *p, bool *msix)
{
	int r = probe_intx ? -1 : p->plat.irq_enable(p, 1);

	*msix = r > 0;
	if (r > 0)
		return true;
	r = p->plat.irq_enable(p, 0);
	if (r < 0) {
		FAIL("rng: no interrupt: %d", r);
		return false;
	}
	return true;
}

static void legacy(struct vio_pci_linux *p)
{
	struct rng_q q;
	unsigned base_cfg, ring_len, used_off;
	uint8_t *ring;
	uint64_t ring_dma;
	bool msix;

	p->plat.write(p, 0, VIO_PCI_LEGACY_STATUS, 1, 0);
	p->plat.write(p, 0, VIO_PCI_LEGACY_STATUS, 1, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER);
	p->plat.write(p, 0, VIO_PCI_LEGACY_GUEST_FEATURES, 4, 0);
	p->plat.write(p, 0, VIO_PCI_LEGACY_QUEUE_SEL, 2, 0);
	q.n = (unsigned)p->plat.read(p, 0, VIO_PCI_LEGACY_QUEUE_NUM, 2);
	if (q.n == 0 || q.n > 1024 || (q.n & (q.n - 1))) {
		FAIL("rng legacy: queue 0 size %u", q.n);
		return;
	}
	used_off = (16 * q.n + 6 + 2 * q.n + VIO_LEGACY_VRING_ALIGN - 1) & ~(VIO_LEGACY_VRING_ALIGN - 1);
	ring_len = used_off + 6 + 8 * q.n;
	ring = p->plat.dma_alloc(p, ring_len, 4096, &ring_dma);
	q.buf = p->plat.dma_alloc(p, BUF, 64, &q.buf_dma);
	if (!ring || !q.buf) {
		FAIL("rng legacy: no DMA memory for a ring of %u", q.n);
		return;
	}
	q.desc = ring;
	q.avail = ring + 16 * q.n;
	q.used = ring + used_off;
	if (!irq_setup(p, &msix))
		return;
	base_cfg = msix ? VIO_PCI_LEGACY_CONFIG_OFF_MSIX : VIO_PCI_LEGACY_CONFIG_OFF;
	if (msix) {
		p->plat.write(p, 0, VIO_PCI_LEGACY_MSIX_CONFIG, 2, VIO_PCI_MSI_NO_VECTOR);
		p->plat.write(p, 0, VIO_PCI_LEGACY_MSIX_QUEUE, 2, 0);
		if (p->plat.read(p, 0, VIO_PCI_LEGACY_MSIX_QUEUE, 2) != 0)
			FAIL("rng legacy: the device refused vector 0 for queue 0");
	}
	p->plat.write(p, 0, VIO_PCI_LEGACY_QUEUE_PFN, 4, ring_dma >> VIO_PCI_LEGACY_PFN_SHIFT);
	p->plat.write(p, 0, VIO_PCI_LEGACY_STATUS, 1,
		      VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER | VIO_STATUS_DRIVER_OK);
	OK("rng legacy: queue 0 (size %u) at physical 0x%" PRIx64 ", %s, device config at 0x%x", q.n,
	   ring_dma, msix ? "MSI-X" : "INTx", base_cfg);
	post(&q);
	p->plat.write(p, 0, VIO_PCI_LEGACY_QUEUE_NOTIFY, 2, 0);
	reap(p, &q, msix ? -1 : 0, VIO_PCI_LEGACY_ISR, msix);
	p->plat.write(p, 0, VIO_PCI_LEGACY_STATUS, 1, 0);
	p->plat.irq_disable(p);
	p->plat.dma_free(p, ring, ring_len);
	p->plat.dma_free(p, q.buf, BUF);
}

static void modern(struct vio_pci_linux *p, const struct probe_locs *l)
{
	unsigned cb = (unsigned)l->common.bar;
	uint64_t c = l->common.off, noff;
	struct rng_q q;
	uint8_t st;
	bool msix;

#define CW(reg, w, v) p->plat.write(p, cb, c + (reg), (w), (v))
#define CR(reg, w) p->plat.read(p, cb, c + (reg), (w))
	if (l->notify.bar < 0 || l->isr.bar < 0) {
		FAIL("rng modern: no notify or ISR capability");
		return;
	}
	CW(VIO_PCI_COMMON_STATUS, 1, 0);
	for (int i = 0; i < 1000 && CR(VIO_PCI_COMMON_STATUS, 1) != 0; i++)
		p->plat.delay_us(p, 100);
	CW(VIO_PCI_COMMON_STATUS, 1, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER);
	CW(VIO_PCI_COMMON_GFSELECT, 4, 0);
	CW(VIO_PCI_COMMON_GF, 4, 0);
	CW(VIO_PCI_COMMON_GFSELECT, 4, 1);
	CW(VIO_PCI_COMMON_GF, 4, 1);            /* VERSION_1, bit 32 */
	CW(VIO_PCI_COMMON_STATUS, 1, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER | VIO_STATUS_FEATURES_OK);
	st = (uint8_t)CR(VIO_PCI_COMMON_STATUS, 1);
	if (!(st & VIO_STATUS_FEATURES_OK)) {
		FAIL("rng modern: FEATURES_OK refused (status 0x%02x)", st);
		return;
	}
	CW(VIO_PCI_COMMON_Q_SELECT, 2, 0);
	q.n = (unsigned)CR(VIO_PCI_COMMON_Q_SIZE, 2);
	if (q.n == 0 || q.n > 1024) {
		FAIL("rng modern: queue 0 size %u", q.n);
		return;
	}
	q.desc = p->plat.dma_alloc(p, 16 * q.n, 16, &q.desc_dma);
	q.avail = p->plat.dma_alloc(p, 6 + 2 * q.n, 2, &q.avail_dma);
	q.used = p->plat.dma_alloc(p, 6 + 8 * q.n, 4, &q.used_dma);
	q.buf = p->plat.dma_alloc(p, BUF, 64, &q.buf_dma);
	if (!q.desc || !q.avail || !q.used || !q.buf) {
		FAIL("rng modern: no DMA memory");
		return;
	}
	if (!irq_setup(p, &msix))
		return;
	if (msix) {
		CW(VIO_PCI_COMMON_MSIX, 2, VIO_PCI_MSI_NO_VECTOR);
		CW(VIO_PCI_COMMON_Q_MSIX, 2, 0);
		if (CR(VIO_PCI_COMMON_Q_MSIX, 2) != 0)
			FAIL("rng modern: the device refused vector 0 for queue 0");
	}
	CW(VIO_PCI_COMMON_Q_DESCLO, 4, (uint32_t)q.desc_dma);
	CW(VIO_PCI_COMMON_Q_DESCHI, 4, q.desc_dma >> 32);
	CW(VIO_PCI_COMMON_Q_AVAILLO, 4, (uint32_t)q.avail_dma);
	CW(VIO_PCI_COMMON_Q_AVAILHI, 4, q.avail_dma >> 32);
	CW(VIO_PCI_COMMON_Q_USEDLO, 4, (uint32_t)q.used_dma);
	CW(VIO_PCI_COMMON_Q_USEDHI, 4, q.used_dma >> 32);
	CW(VIO_PCI_COMMON_Q_ENABLE, 2, 1);
	noff = l->notify.off + CR(VIO_PCI_COMMON_Q_NOFF, 2) * l->notify.mult;
	CW(VIO_PCI_COMMON_STATUS, 1, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER |
	   VIO_STATUS_FEATURES_OK | VIO_STATUS_DRIVER_OK);
	OK("rng modern: queue 0 (size %u): desc 0x%" PRIx64 " avail 0x%" PRIx64 " used 0x%" PRIx64 ", %s",
	   q.n, q.desc_dma, q.avail_dma, q.used_dma, msix ? "MSI-X" : "INTx");
	post(&q);
	p->plat.write(p, (unsigned)l->notify.bar, noff, 2, 0);
	reap(p, &q, msix ? -1 : l->isr.bar, l->isr.off, msix);
	CW(VIO_PCI_COMMON_STATUS, 1, 0);
	p->plat.irq_disable(p);
#undef CW
#undef CR
}

void probe_rng(struct vio_pci_linux *p, bool transitional, const struct probe_locs *locs)
{
	if (!p->plat.dma_alloc) {
		FAIL("rng: no DMA memory");
		return;
	}
	if (transitional)
		legacy(p);
	else if (locs->common.bar >= 0)
		modern(p, locs);
	else
		FAIL("rng: neither a legacy I/O BAR nor a common config");
}
