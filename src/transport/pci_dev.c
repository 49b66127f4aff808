/*
 * pci_dev.c - the device side of virtio-pci: a register model that turns
 * a guest's PCI config and BAR accesses into calls on a device model
 * (see vio/transport/pci_dev.h for the personalities, the BAR layout and
 * the rules a VMM follows).
 *
 * Three kinds of state live here, each reset by its own event:
 *   - PCI function state (config space bytes, BARs, the MSI-X table):
 *     power-on values at init and at a function reset;
 *   - transport state the driver writes before it hands a queue to the
 *     device model (feature selects, the staged driver features,
 *     queue_select, per-queue sizes, addresses, vectors): cleared by a
 *     device reset (status 0), as the spec says the device's is;
 *   - everything of virtio itself (status, features, queues), which is
 *     the device model's (core.h) and only reached through vio_dev_*().
 *
 * The guest is not trusted: every access is checked against the BAR, the
 * structure and the register before anything is indexed, queue_select is
 * checked before every per-queue register (two VMMs indexed with it
 * first), and every value is checked before it reaches the device model.
 * Nothing here allocates, locks or does I/O, so the file builds
 * freestanding too.
 */
#include "vio/transport/pci_dev.h"

#include "../vio_libc.h"

#define ALL_ONES(width) ((width) == 4 ? UINT64_C(0xffffffff) : \
			 (width) == 2 ? UINT64_C(0xffff) : UINT64_C(0xff))

/* Command-register bits a driver may change. */
#define COMMAND_WMASK (VIO_PCI_COMMAND_IO | VIO_PCI_COMMAND_MEMORY | VIO_PCI_COMMAND_MASTER | \
		       VIO_PCI_COMMAND_INTX_DISABLE)
/* Status-register bit 3: the function's INTx is pending (PCI 6.2.3). */
#define STATUS_INTERRUPT 0x0008u

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */

static bool has_legacy(const struct vio_pci_dev *p)
{
	return p->mode != VIO_PCI_DEV_MODERN;
}

static bool has_modern(const struct vio_pci_dev *p)
{
	return p->mode != VIO_PCI_DEV_LEGACY;
}

static uint32_t cfg_get(const struct vio_pci_dev *p, unsigned off, unsigned width)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < width; i++)
		v |= (uint32_t)p->cfg[off + i] << (8 * i);
	return v;
}

static void cfg_put(struct vio_pci_dev *p, unsigned off, unsigned width, uint32_t v)
{
	for (unsigned i = 0; i < width; i++)
		p->cfg[off + i] = (uint8_t)(v >> (8 * i));
}

static void wmask_put(struct vio_pci_dev *p, unsigned off, unsigned width, uint32_t v)
{
	for (unsigned i = 0; i < width; i++)
		p->wmask[off + i] = (uint8_t)(v >> (8 * i));
}

static uint8_t status(const struct vio_pci_dev *p)
{
	return vio_dev_get_status(p->dev);
}

static unsigned nqueues(const struct vio_pci_dev *p)
{
	return p->dev->num_queues;
}

static bool msix_enabled(const struct vio_pci_dev *p)
{
	return p->nvec && (cfg_get(p, VIO_PCI_DEV_CAP_MSIX + VIO_PCI_MSIX_FLAGS, 2) &
			   VIO_PCI_MSIX_FLAGS_ENABLE);
}

static bool msix_function_masked(const struct vio_pci_dev *p)
{
	return cfg_get(p, VIO_PCI_DEV_CAP_MSIX + VIO_PCI_MSIX_FLAGS, 2) & VIO_PCI_MSIX_FLAGS_MASKALL;
}

/* A vector number the driver wrote: one of the table's, or NO_VECTOR
 * (4.1.4.3: the device answers NO_VECTOR when it cannot map it). */
static uint16_t valid_vector(const struct vio_pci_dev *p, uint64_t v)
{
	return v < p->nvec ? (uint16_t)v : (uint16_t)VIO_PCI_MSI_NO_VECTOR;
}

static uint64_t pow2_at_least(uint64_t n)
{
	uint64_t r = 1;

	while (r < n)
		r <<= 1;
	return r;
}

/* Is [off, off + width) a naturally aligned access of 1, 2 or 4 bytes
 * inside a space of size bytes? Written so nothing can wrap. */
static bool access_ok(uint64_t off, unsigned width, uint64_t size)
{
	if (width != 1 && width != 2 && width != 4)
		return false;
	if (off & (width - 1))
		return false;
	return off < size && width <= size - off;
}

/* ------------------------------------------------------------------------ */
/* Interrupts                                                               */

/* The INTx line follows ISR while MSI-X is off (4.1.4.5), unless the
 * command register disables it; the status register shows it pending
 * either way. */
static void update_intx(struct vio_pci_dev *p)
{
	bool pending = p->isr != 0 && !msix_enabled(p);
	bool level = pending && !(cfg_get(p, VIO_PCI_CFG_COMMAND, 2) & VIO_PCI_COMMAND_INTX_DISABLE);
	uint32_t st = cfg_get(p, VIO_PCI_CFG_STATUS, 2);

	st = pending ? (st | STATUS_INTERRUPT) : (st & ~STATUS_INTERRUPT);
	cfg_put(p, VIO_PCI_CFG_STATUS, 2, st);
	if (level == p->intx_level)
		return;
	p->intx_level = level;
	if (p->ops->intx)
		p->ops->intx(p->opaque, level);
}

static bool vector_masked(const struct vio_pci_dev *p, unsigned vec)
{
	return !msix_enabled(p) || msix_function_masked(p) ||
	       (p->msix[vec].ctrl & VIO_PCI_MSIX_ENTRY_CTRL_MASK);
}

static void send_vector(struct vio_pci_dev *p, unsigned vec)
{
	const struct vio_pci_dev_msix_entry *e = &p->msix[vec];

	p->pba &= ~(UINT64_C(1) << vec);
	p->ops->msix(p->opaque, vec, (uint64_t)e->addr_hi << 32 | e->addr_lo, e->data);
}

/* A vector fires: sent now, or left pending while masked (PCI 6.8.2). */
static void fire_vector(struct vio_pci_dev *p, uint16_t vec)
{
	if (vec >= p->nvec)
		return; /* NO_VECTOR: the driver asked for no interrupt */
	if (vector_masked(p, vec))
		p->pba |= UINT64_C(1) << vec;
	else
		send_vector(p, vec);
}

/* Something was unmasked: send what became deliverable. */
static void send_pending(struct vio_pci_dev *p)
{
	for (unsigned v = 0; v < p->nvec; v++) {
		if ((p->pba & (UINT64_C(1) << v)) && !vector_masked(p, v))
			send_vector(p, v);
	}
}

static void raise_irq(struct vio_pci_dev *p, uint16_t vec, uint8_t isr_bit)
{
	if (msix_enabled(p)) {
		fire_vector(p, vec);
		return;
	}
	p->isr |= isr_bit;
	update_intx(p);
}

/* The device model's transport callbacks. */
static void tp_interrupt(void *opaque, unsigned qi)
{
	struct vio_pci_dev *p = opaque;

	if (qi < nqueues(p))
		raise_irq(p, p->q[qi].vector, VIO_PCI_ISR_QUEUE);
}

static void tp_config_interrupt(void *opaque)
{
	struct vio_pci_dev *p = opaque;

	raise_irq(p, p->config_vector, VIO_PCI_ISR_CONFIG);
}

static uint8_t isr_read(struct vio_pci_dev *p)
{
	uint8_t v = p->isr;

	p->isr = 0;
	update_intx(p);
	return v;
}

/* ------------------------------------------------------------------------ */
/* Device reset and notifications                                           */

/* The transport's part of a device reset: what the driver wrote is gone. */
static void transport_reset(struct vio_pci_dev *p)
{
	p->dfselect = p->gfselect = 0;
	p->gfeatures = 0;
	p->qsel = 0;
	p->config_vector = VIO_PCI_MSI_NO_VECTOR;
	for (unsigned i = 0; i < VIO_PCI_DEV_MAX_QUEUES; i++) {
		struct vio_pci_dev_queue *q = &p->q[i];

		memset(q, 0, sizeof(*q));
		q->size = (uint16_t)vio_dev_queue_max(p->dev, i);
		q->vector = VIO_PCI_MSI_NO_VECTOR;
	}
	p->isr = 0;
	update_intx(p);
}

/* Status 0: the device stops using every ring (the device model stops the
 * queues and its type drops what it holds), then forget what the driver
 * wrote. */
static void device_reset(struct vio_pci_dev *p)
{
	(void)vio_dev_set_status(p->dev, 0);
	transport_reset(p);
}

static void notify_queue(struct vio_pci_dev *p, unsigned qi)
{
	uint8_t st = status(p);

	/* Not before DRIVER_OK, nor for a queue that is absent or not live:
	 * the VMM's notify op gets only kicks the device can take. */
	if (qi >= nqueues(p) || !(st & VIO_STATUS_DRIVER_OK) ||
	    (st & (VIO_STATUS_NEEDS_RESET | VIO_STATUS_FAILED)) || !vio_dev_queue_live(p->dev, qi))
		return;
	if (p->ops->notify)
		p->ops->notify(p->opaque, qi);
	else
		vio_dev_notify(p->dev, qi);
}

/* After DRIVER_OK, every live queue is kicked once: a kick the driver
 * sent before DRIVER_OK was dropped, and its buffers must not wait for the
 * next one. */
static void kick_live_queues(struct vio_pci_dev *p)
{
	for (unsigned i = 0; i < nqueues(p); i++)
		notify_queue(p, i);
}

static void status_write(struct vio_pci_dev *p, uint8_t v, bool legacy_regs)
{
	struct vio_dev_model *d = p->dev;
	uint8_t old = status(p), added;

	if (v == 0) {
		device_reset(p);
		return;
	}
	added = (uint8_t)(v & ~old);
	if (!legacy_regs && (added & VIO_STATUS_FEATURES_OK)) {
		/* The modern interface takes VERSION_1 drivers only, and bits
		 * never offered make FEATURES_OK read back clear. */
		if (!vio_has_feature(p->gfeatures, VIO_F_VERSION_1) ||
		    vio_dev_set_features(d, p->gfeatures) < 0)
			v &= (uint8_t)~(VIO_STATUS_FEATURES_OK | VIO_STATUS_DRIVER_OK);
	}
	if (legacy_regs && (added & VIO_STATUS_DRIVER_OK) && !d->legacy) {
		/* A legacy driver that never wrote guest features took none:
		 * it is legacy all the same. */
		(void)vio_dev_set_features(d, d->features & UINT32_MAX);
	}
	if (vio_dev_set_status(d, v) < 0)
		return; /* a write the spec forbids: ignored */
	if ((added & VIO_STATUS_DRIVER_OK) && (status(p) & VIO_STATUS_DRIVER_OK))
		kick_live_queues(p);
}

/* ------------------------------------------------------------------------ */
/* Modern: common configuration (4.1.4.3)                                   */

/* The width of the common-config register starting at off, 0 if none
 * starts there. */
static unsigned common_width(uint64_t off)
{
	switch (off) {
	case VIO_PCI_COMMON_DFSELECT: case VIO_PCI_COMMON_DF:
	case VIO_PCI_COMMON_GFSELECT: case VIO_PCI_COMMON_GF:
	case VIO_PCI_COMMON_Q_DESCLO: case VIO_PCI_COMMON_Q_DESCHI:
	case VIO_PCI_COMMON_Q_AVAILLO: case VIO_PCI_COMMON_Q_AVAILHI:
	case VIO_PCI_COMMON_Q_USEDLO: case VIO_PCI_COMMON_Q_USEDHI:
		return 4;
	case VIO_PCI_COMMON_MSIX: case VIO_PCI_COMMON_NUMQ:
	case VIO_PCI_COMMON_Q_SELECT: case VIO_PCI_COMMON_Q_SIZE:
	case VIO_PCI_COMMON_Q_MSIX: case VIO_PCI_COMMON_Q_ENABLE:
	case VIO_PCI_COMMON_Q_NOFF: case VIO_PCI_COMMON_Q_NDATA:
	case VIO_PCI_COMMON_Q_RESET:
		return 2;
	case VIO_PCI_COMMON_STATUS: case VIO_PCI_COMMON_CFGGENERATION:
		return 1;
	default:
		return 0;
	}
}

static uint32_t half(uint64_t v, bool high)
{
	return high ? (uint32_t)(v >> 32) : (uint32_t)v;
}

static void set_half(uint64_t *v, bool high, uint32_t x)
{
	if (high)
		*v = (*v & UINT32_MAX) | (uint64_t)x << 32;
	else
		*v = (*v & ~(uint64_t)UINT32_MAX) | x;
}

/* May the driver set up queue qi now? After FEATURES_OK (the layout is
 * known then), while the queue is not enabled, and before DRIVER_OK
 * unless the queue was reset alone (RING_RESET) since. */
static bool queue_setup_phase(const struct vio_pci_dev *p, unsigned qi)
{
	uint8_t st = status(p);

	if ((st & (VIO_STATUS_FAILED | VIO_STATUS_NEEDS_RESET)) || !(st & VIO_STATUS_FEATURES_OK))
		return false;
	if (p->dev->queues[qi].enabled)
		return false;
	return !(st & VIO_STATUS_DRIVER_OK) || p->q[qi].reset;
}

static bool ring_reset_negotiated(const struct vio_pci_dev *p)
{
	return vio_dev_has_feature(p->dev, VIO_F_RING_RESET);
}

static uint64_t common_read(struct vio_pci_dev *p, unsigned off)
{
	struct vio_dev_model *d = p->dev;
	unsigned qi = p->qsel;
	const struct vio_pci_dev_queue *q;

	switch (off) {
	case VIO_PCI_COMMON_DFSELECT: return p->dfselect;
	case VIO_PCI_COMMON_DF:
		return p->dfselect > 1 ? 0 : half(vio_dev_get_features(d), p->dfselect);
	case VIO_PCI_COMMON_GFSELECT: return p->gfselect;
	case VIO_PCI_COMMON_GF:
		return p->gfselect > 1 ? 0 : half(p->gfeatures, p->gfselect);
	case VIO_PCI_COMMON_MSIX: return p->config_vector;
	case VIO_PCI_COMMON_NUMQ: return nqueues(p);
	case VIO_PCI_COMMON_STATUS: return status(p);
	case VIO_PCI_COMMON_CFGGENERATION: return (uint8_t)vio_dev_config_generation(d);
	case VIO_PCI_COMMON_Q_SELECT: return p->qsel;
	default: break;
	}
	/* Every other register is the selected queue's: nothing past the
	 * last one. */
	if (qi >= nqueues(p))
		return 0;
	q = &p->q[qi];
	switch (off) {
	case VIO_PCI_COMMON_Q_SIZE: return q->size;
	case VIO_PCI_COMMON_Q_MSIX: return q->vector;
	case VIO_PCI_COMMON_Q_ENABLE: return d->queues[qi].enabled;
	case VIO_PCI_COMMON_Q_NOFF: return qi;
	case VIO_PCI_COMMON_Q_DESCLO: return half(q->addrs.desc, false);
	case VIO_PCI_COMMON_Q_DESCHI: return half(q->addrs.desc, true);
	case VIO_PCI_COMMON_Q_AVAILLO: return half(q->addrs.driver, false);
	case VIO_PCI_COMMON_Q_AVAILHI: return half(q->addrs.driver, true);
	case VIO_PCI_COMMON_Q_USEDLO: return half(q->addrs.device, false);
	case VIO_PCI_COMMON_Q_USEDHI: return half(q->addrs.device, true);
	case VIO_PCI_COMMON_Q_RESET: return ring_reset_negotiated(p) && q->reset;
	default: return 0; /* queue_notify_data: no NOTIF_CONFIG_DATA */
	}
}

/* queue_enable: hand the queue to the device model. Rings outside the
 * guest's memory make the device NEEDS_RESET (the model does that). */
static void queue_enable(struct vio_pci_dev *p, unsigned qi)
{
	struct vio_pci_dev_queue *q = &p->q[qi];
	int r;

	if (vio_dev_queue_set(p->dev, qi, q->size, &q->addrs) < 0)
		return;
	r = vio_dev_queue_enable(p->dev, qi);
	if (r == 0)
		q->reset = false;
	else if (r == -EFAULT && !(status(p) & VIO_STATUS_NEEDS_RESET))
		vio_dev_needs_reset(p->dev, "virtio-pci: queue enabled without guest memory");
}

static void common_write(struct vio_pci_dev *p, unsigned off, uint32_t v)
{
	struct vio_dev_model *d = p->dev;
	unsigned qi = p->qsel;
	struct vio_pci_dev_queue *q;
	uint8_t st = status(p);

	switch (off) {
	case VIO_PCI_COMMON_DFSELECT: p->dfselect = v; return;
	case VIO_PCI_COMMON_GFSELECT: p->gfselect = v; return;
	case VIO_PCI_COMMON_GF:
		/* After DRIVER and before FEATURES_OK only (3.1.1). */
		if (p->gfselect > 1 || !(st & VIO_STATUS_DRIVER) ||
		    (st & (VIO_STATUS_FEATURES_OK | VIO_STATUS_DRIVER_OK | VIO_STATUS_FAILED)))
			return;
		set_half(&p->gfeatures, p->gfselect, v);
		return;
	case VIO_PCI_COMMON_MSIX: p->config_vector = valid_vector(p, v); return;
	case VIO_PCI_COMMON_STATUS: status_write(p, (uint8_t)v, false); return;
	case VIO_PCI_COMMON_Q_SELECT: p->qsel = (uint16_t)v; return;
	default: break;
	}
	if (qi >= nqueues(p))
		return;
	q = &p->q[qi];
	switch (off) {
	case VIO_PCI_COMMON_Q_MSIX:
		q->vector = valid_vector(p, v);
		return;
	case VIO_PCI_COMMON_Q_RESET:
		if (v != 1 || !ring_reset_negotiated(p) || !(st & VIO_STATUS_FEATURES_OK) ||
		    vio_dev_queue_reset(d, qi) < 0)
			return;
		q->reset = true;
		q->size = (uint16_t)vio_dev_queue_max(d, qi);
		memset(&q->addrs, 0, sizeof(q->addrs));
		return;
	default: break;
	}
	if (!queue_setup_phase(p, qi))
		return;
	switch (off) {
	case VIO_PCI_COMMON_Q_SIZE:
		/* 1..max, and a power of two for the split layout. */
		if (v <= vio_dev_queue_max(d, qi) && vio_ring_size_valid(d->features, v))
			q->size = (uint16_t)v;
		return;
	case VIO_PCI_COMMON_Q_ENABLE:
		if (v == 1)
			queue_enable(p, qi);
		return; /* 0: the driver must not write it; ignored */
	case VIO_PCI_COMMON_Q_DESCLO: set_half(&q->addrs.desc, false, v); return;
	case VIO_PCI_COMMON_Q_DESCHI: set_half(&q->addrs.desc, true, v); return;
	case VIO_PCI_COMMON_Q_AVAILLO: set_half(&q->addrs.driver, false, v); return;
	case VIO_PCI_COMMON_Q_AVAILHI: set_half(&q->addrs.driver, true, v); return;
	case VIO_PCI_COMMON_Q_USEDLO: set_half(&q->addrs.device, false, v); return;
	case VIO_PCI_COMMON_Q_USEDHI: set_half(&q->addrs.device, true, v); return;
	default: return; /* read-only */
	}
}

/* ------------------------------------------------------------------------ */
/* Device-specific config, through either interface                         */

static int devcfg_read(struct vio_pci_dev *p, uint64_t off, unsigned width, bool legacy,
		       uint64_t *val)
{
	uint8_t b[4];

	if (off >= p->dev->config_len || width > p->dev->config_len - off)
		return -EINVAL;
	if (vio_dev_config_read(p->dev, (unsigned)off, b, width) < 0)
		return -EINVAL;
	if (legacy && width > 1) {
		/* The legacy interface is in the guest's (native) order. */
		uint16_t v16;
		uint32_t v32;

		if (width == 2) {
			memcpy(&v16, b, 2);
			*val = v16;
		} else {
			memcpy(&v32, b, 4);
			*val = v32;
		}
		return 0;
	}
	*val = 0;
	for (unsigned i = 0; i < width; i++)
		*val |= (uint64_t)b[i] << (8 * i);
	return 0;
}

static int devcfg_write(struct vio_pci_dev *p, uint64_t off, unsigned width, bool legacy,
			uint64_t val)
{
	uint8_t b[4];
	int r;

	if (off >= p->dev->config_len || width > p->dev->config_len - off)
		return -EINVAL;
	if (legacy && width == 2) {
		uint16_t v16 = (uint16_t)val;

		memcpy(b, &v16, 2);
	} else if (legacy && width == 4) {
		uint32_t v32 = (uint32_t)val;

		memcpy(b, &v32, 4);
	} else {
		for (unsigned i = 0; i < width; i++)
			b[i] = (uint8_t)(val >> (8 * i));
	}
	/* Refused by the device type (a read-only field, or read-only
	 * config): the write is dropped, the access itself was fine. A
	 * guest can refuse itself as fast as it likes: only the first few
	 * are logged, all are counted. */
	r = vio_dev_config_write(p->dev, (unsigned)off, b, width);
	if (r < 0 && __atomic_fetch_add(&p->config_refused, 1, __ATOMIC_RELAXED) <
			     VIO_PCI_DEV_LOG_REFUSED)
		vio_dev_logf(p->dev, VIO_LOG_WARN,
			     "virtio-pci: config write of %u bytes at %#llx refused: %s", width,
			     (unsigned long long)off, vio_strerror(r));
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The modern BAR                                                           */

static uint64_t notify_len(const struct vio_pci_dev *p)
{
	unsigned n = nqueues(p) ? nqueues(p) : 1;

	return (uint64_t)n * VIO_PCI_DEV_NOTIFY_MULT;
}

static int modern_read(struct vio_pci_dev *p, uint64_t off, unsigned width, uint64_t *val)
{
	if (off < VIO_PCI_DEV_ISR_OFF) {
		if (off >= VIO_PCI_COMMON_CFG_SIZE || common_width(off) != width)
			return -EINVAL;
		*val = common_read(p, (unsigned)off);
		return 0;
	}
	if (off < VIO_PCI_DEV_DEVICE_OFF) {
		if (off != VIO_PCI_DEV_ISR_OFF || width != 1)
			return -EINVAL;
		*val = isr_read(p);
		return 0;
	}
	if (off < VIO_PCI_DEV_NOTIFY_OFF)
		return devcfg_read(p, off - VIO_PCI_DEV_DEVICE_OFF, width, false, val);
	if (off - VIO_PCI_DEV_NOTIFY_OFF >= notify_len(p))
		return -EINVAL;
	*val = 0; /* the notify area is write-only */
	return 0;
}

static int modern_write(struct vio_pci_dev *p, uint64_t off, unsigned width, uint64_t val)
{
	uint64_t n;

	if (off < VIO_PCI_DEV_ISR_OFF) {
		if (off >= VIO_PCI_COMMON_CFG_SIZE || common_width(off) != width)
			return -EINVAL;
		common_write(p, (unsigned)off, (uint32_t)val);
		return 0;
	}
	if (off < VIO_PCI_DEV_DEVICE_OFF) {
		if (off != VIO_PCI_DEV_ISR_OFF || width != 1)
			return -EINVAL;
		return 0; /* ISR is read-only */
	}
	if (off < VIO_PCI_DEV_NOTIFY_OFF)
		return devcfg_write(p, off - VIO_PCI_DEV_DEVICE_OFF, width, false, val);
	/* Notify: the address says which queue (4.1.4.4); a 16-bit write of
	 * its index, or 32 bits with notification data. */
	n = off - VIO_PCI_DEV_NOTIFY_OFF;
	if (n >= notify_len(p) || n % VIO_PCI_DEV_NOTIFY_MULT || width == 1)
		return -EINVAL;
	notify_queue(p, (unsigned)(n / VIO_PCI_DEV_NOTIFY_MULT));
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The legacy I/O BAR (4.1.4.8)                                             */

static bool legacy_msix_regs(const struct vio_pci_dev *p)
{
	return msix_enabled(p);
}

static uint64_t legacy_config_off(const struct vio_pci_dev *p)
{
	return legacy_msix_regs(p) ? VIO_PCI_LEGACY_CONFIG_OFF_MSIX : VIO_PCI_LEGACY_CONFIG_OFF;
}

/* The width of the legacy register at off, 0 for none. */
static unsigned legacy_width(const struct vio_pci_dev *p, uint64_t off)
{
	switch (off) {
	case VIO_PCI_LEGACY_HOST_FEATURES: case VIO_PCI_LEGACY_GUEST_FEATURES:
	case VIO_PCI_LEGACY_QUEUE_PFN:
		return 4;
	case VIO_PCI_LEGACY_QUEUE_NUM: case VIO_PCI_LEGACY_QUEUE_SEL:
	case VIO_PCI_LEGACY_QUEUE_NOTIFY:
		return 2;
	case VIO_PCI_LEGACY_STATUS: case VIO_PCI_LEGACY_ISR:
		return 1;
	case VIO_PCI_LEGACY_MSIX_CONFIG: case VIO_PCI_LEGACY_MSIX_QUEUE:
		return legacy_msix_regs(p) ? 2 : 0;
	default:
		return 0;
	}
}

/* QUEUE_PFN: one block at pfn << 12, laid out for the queue's maximum
 * size (a legacy driver cannot choose one); 0 releases the queue. */
static void legacy_set_pfn(struct vio_pci_dev *p, unsigned qi, uint32_t pfn)
{
	struct vio_dev_model *d = p->dev;
	struct vio_ring_addrs a;
	unsigned size = vio_dev_queue_max(d, qi);

	if (pfn == 0) {
		(void)vio_dev_queue_stop(d, qi, NULL, NULL);
		p->q[qi].pfn = 0;
		return;
	}
	if ((status(p) & (VIO_STATUS_DRIVER_OK | VIO_STATUS_FAILED | VIO_STATUS_NEEDS_RESET)) ||
	    d->queues[qi].enabled)
		return;
	vio_ring_legacy_layout((uint64_t)pfn << VIO_PCI_LEGACY_PFN_SHIFT, size,
			       VIO_LEGACY_VRING_ALIGN, &a);
	p->q[qi].addrs = a;
	p->q[qi].size = (uint16_t)size;
	if (vio_dev_queue_set(d, qi, size, &a) < 0)
		return;
	if (vio_dev_queue_enable(d, qi) == 0)
		p->q[qi].pfn = pfn;
}

static int legacy_read(struct vio_pci_dev *p, uint64_t off, unsigned width, uint64_t *val)
{
	struct vio_dev_model *d = p->dev;
	unsigned qi = p->qsel;
	bool q_ok = qi < nqueues(p);
	uint64_t cfg_off = legacy_config_off(p);

	if (off >= cfg_off)
		return devcfg_read(p, off - cfg_off, width, true, val);
	if (legacy_width(p, off) != width)
		return -EINVAL;
	switch (off) {
	case VIO_PCI_LEGACY_HOST_FEATURES: *val = (uint32_t)vio_dev_get_features(d); break;
	case VIO_PCI_LEGACY_GUEST_FEATURES: *val = (uint32_t)d->features; break;
	case VIO_PCI_LEGACY_QUEUE_PFN: *val = q_ok ? p->q[qi].pfn : 0; break;
	case VIO_PCI_LEGACY_QUEUE_NUM: *val = vio_dev_queue_max(d, qi); break;
	case VIO_PCI_LEGACY_QUEUE_SEL: *val = p->qsel; break;
	case VIO_PCI_LEGACY_QUEUE_NOTIFY: *val = 0; break;
	case VIO_PCI_LEGACY_STATUS: *val = status(p); break;
	case VIO_PCI_LEGACY_ISR: *val = isr_read(p); break;
	case VIO_PCI_LEGACY_MSIX_CONFIG: *val = p->config_vector; break;
	default: /* VIO_PCI_LEGACY_MSIX_QUEUE */
		*val = q_ok ? p->q[qi].vector : 0;
		break;
	}
	return 0;
}

static int legacy_write(struct vio_pci_dev *p, uint64_t off, unsigned width, uint64_t val)
{
	struct vio_dev_model *d = p->dev;
	unsigned qi = p->qsel;
	bool q_ok = qi < nqueues(p);
	uint64_t cfg_off = legacy_config_off(p);

	if (off >= cfg_off)
		return devcfg_write(p, off - cfg_off, width, true, val);
	if (legacy_width(p, off) != width)
		return -EINVAL;
	switch (off) {
	case VIO_PCI_LEGACY_GUEST_FEATURES:
		/* 32 bits, no FEATURES_OK: bits never offered are dropped;
		 * refused after DRIVER_OK by the device model. */
		(void)vio_dev_set_features(d, val & (uint32_t)vio_dev_get_features(d));
		break;
	case VIO_PCI_LEGACY_QUEUE_PFN:
		if (q_ok)
			legacy_set_pfn(p, qi, (uint32_t)val);
		break;
	case VIO_PCI_LEGACY_QUEUE_SEL: p->qsel = (uint16_t)val; break;
	case VIO_PCI_LEGACY_QUEUE_NOTIFY: notify_queue(p, (unsigned)val); break;
	case VIO_PCI_LEGACY_STATUS: status_write(p, (uint8_t)val, true); break;
	case VIO_PCI_LEGACY_MSIX_CONFIG: p->config_vector = valid_vector(p, val); break;
	case VIO_PCI_LEGACY_MSIX_QUEUE:
		if (q_ok)
			p->q[qi].vector = valid_vector(p, val);
		break;
	default: break; /* read-only */
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The MSI-X BAR: table and PBA (PCI 6.8.2)                                 */

static uint64_t pba_len(const struct vio_pci_dev *p)
{
	return (uint64_t)(p->nvec + 63) / 64 * 8;
}

static int msix_read(struct vio_pci_dev *p, uint64_t off, unsigned width, uint64_t *val)
{
	if (width != 4)
		return -EINVAL;
	if (off >= VIO_PCI_DEV_MSIX_PBA_OFF) {
		off -= VIO_PCI_DEV_MSIX_PBA_OFF;
		if (off >= pba_len(p))
			return -EINVAL;
		*val = half(p->pba, off >= 4);
		return 0;
	}
	if (off / VIO_PCI_MSIX_ENTRY_SIZE >= p->nvec)
		return -EINVAL;
	{
		const struct vio_pci_dev_msix_entry *e = &p->msix[off / VIO_PCI_MSIX_ENTRY_SIZE];
		const uint32_t f[4] = { e->addr_lo, e->addr_hi, e->data, e->ctrl };

		*val = f[(off % VIO_PCI_MSIX_ENTRY_SIZE) / 4];
	}
	return 0;
}

static int msix_write(struct vio_pci_dev *p, uint64_t off, unsigned width, uint64_t val)
{
	struct vio_pci_dev_msix_entry *e;

	if (width != 4)
		return -EINVAL;
	if (off >= VIO_PCI_DEV_MSIX_PBA_OFF)
		return off - VIO_PCI_DEV_MSIX_PBA_OFF < pba_len(p) ? 0 : -EINVAL; /* read-only */
	if (off / VIO_PCI_MSIX_ENTRY_SIZE >= p->nvec)
		return -EINVAL;
	e = &p->msix[off / VIO_PCI_MSIX_ENTRY_SIZE];
	switch (off % VIO_PCI_MSIX_ENTRY_SIZE) {
	case VIO_PCI_MSIX_ENTRY_ADDR_LO: e->addr_lo = (uint32_t)val; break;
	case VIO_PCI_MSIX_ENTRY_ADDR_HI: e->addr_hi = (uint32_t)val; break;
	case VIO_PCI_MSIX_ENTRY_DATA: e->data = (uint32_t)val; break;
	default:
		e->ctrl = (uint32_t)val & VIO_PCI_MSIX_ENTRY_CTRL_MASK;
		send_pending(p);
		break;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* BAR accesses                                                             */

int vio_pci_dev_bar_read(struct vio_pci_dev *p, unsigned bar, uint64_t off, unsigned width,
			 uint64_t *val)
{
	int r = -EINVAL;

	*val = 0;
	if (bar < VIO_PCI_NUM_BARS && access_ok(off, width, p->bar_size[bar])) {
		if (bar == VIO_PCI_DEV_BAR_LEGACY)
			r = legacy_read(p, off, width, val);
		else if (bar == VIO_PCI_DEV_BAR_MSIX)
			r = msix_read(p, off, width, val);
		else if (bar == VIO_PCI_DEV_BAR_MODERN)
			r = modern_read(p, off, width, val);
	}
	if (r < 0)
		*val = ALL_ONES(width == 1 || width == 2 ? width : 4);
	else
		*val &= ALL_ONES(width);
	return r;
}

int vio_pci_dev_bar_write(struct vio_pci_dev *p, unsigned bar, uint64_t off, unsigned width,
			  uint64_t val)
{
	if (bar >= VIO_PCI_NUM_BARS || !access_ok(off, width, p->bar_size[bar]))
		return -EINVAL;
	val &= ALL_ONES(width);
	if (bar == VIO_PCI_DEV_BAR_LEGACY)
		return legacy_write(p, off, width, val);
	if (bar == VIO_PCI_DEV_BAR_MSIX)
		return msix_write(p, off, width, val);
	if (bar == VIO_PCI_DEV_BAR_MODERN)
		return modern_write(p, off, width, val);
	return -EINVAL;
}

uint64_t vio_pci_dev_bar_size(const struct vio_pci_dev *p, unsigned bar, bool *io)
{
	if (io)
		*io = bar == VIO_PCI_DEV_BAR_LEGACY && has_legacy(p);
	return bar < VIO_PCI_NUM_BARS ? p->bar_size[bar] : 0;
}

static uint32_t bar_reg(const struct vio_pci_dev *p, unsigned bar)
{
	return cfg_get(p, VIO_PCI_CFG_BAR0 + 4 * bar, 4);
}

uint64_t vio_pci_dev_bar_addr(const struct vio_pci_dev *p, unsigned bar)
{
	if (bar >= VIO_PCI_NUM_BARS || !p->bar_size[bar])
		return 0;
	if (bar == VIO_PCI_DEV_BAR_LEGACY)
		return bar_reg(p, bar) & ~UINT32_C(0x3);
	if (bar == VIO_PCI_DEV_BAR_MODERN)
		return (uint64_t)bar_reg(p, bar + 1) << 32 | (bar_reg(p, bar) & ~UINT32_C(0xf));
	return bar_reg(p, bar) & ~UINT32_C(0xf);
}

/* ------------------------------------------------------------------------ */
/* Config space                                                             */

/* The flag bits of each BAR the model has (low bits, read-only). */
static uint32_t bar_flags(unsigned bar)
{
	if (bar == VIO_PCI_DEV_BAR_LEGACY)
		return VIO_PCI_BAR_IO;
	if (bar == VIO_PCI_DEV_BAR_MODERN)
		return VIO_PCI_BAR_MEM_TYPE_64 | VIO_PCI_BAR_MEM_PREFETCH;
	return 0;
}

/* A BAR register after a write: its size's low bits read back zero, so
 * writing all ones reads back the size mask (PCI 6.2.5.1); the high half
 * of the 64-bit BAR keeps every bit (the BAR is below 4 GiB long). */
static void fix_bars(struct vio_pci_dev *p)
{
	for (unsigned b = 0; b < VIO_PCI_NUM_BARS; b++) {
		uint64_t size = p->bar_size[b];
		uint32_t flags_mask = b == VIO_PCI_DEV_BAR_LEGACY ? 0x3u : 0xfu;

		if (!size)
			continue;
		cfg_put(p, VIO_PCI_CFG_BAR0 + 4 * b, 4,
			(bar_reg(p, b) & ~(uint32_t)(size - 1) & ~flags_mask) | bar_flags(b));
	}
}

/* The PCI-config-access window (4.1.4.9): an access of cap.length bytes
 * at cap.offset in BAR cap.bar, through pci_cfg_data. A window the
 * driver pointed anywhere but a register reads 0 and drops writes. */
#define PCICFG_BAR  (VIO_PCI_DEV_CAP_PCI_CFG + 4)
#define PCICFG_OFF  (VIO_PCI_DEV_CAP_PCI_CFG + 8)
#define PCICFG_LEN  (VIO_PCI_DEV_CAP_PCI_CFG + 12)
#define PCICFG_DATA (VIO_PCI_DEV_CAP_PCI_CFG + 16)

static bool has_pci_cfg_cap(const struct vio_pci_dev *p)
{
	return has_modern(p);
}

static bool touches(unsigned off, unsigned width, unsigned start, unsigned len)
{
	return off < start + len && start < off + width;
}

static void window_read(struct vio_pci_dev *p)
{
	unsigned bar = p->cfg[PCICFG_BAR];
	unsigned len = cfg_get(p, PCICFG_LEN, 4);
	uint64_t v;

	if (vio_pci_dev_bar_read(p, bar, cfg_get(p, PCICFG_OFF, 4), len, &v) < 0)
		v = 0;
	cfg_put(p, PCICFG_DATA, 4, (uint32_t)v);
}

static void window_write(struct vio_pci_dev *p)
{
	unsigned len = cfg_get(p, PCICFG_LEN, 4);
	uint32_t v = cfg_get(p, PCICFG_DATA, 4);

	if (len < 4)
		v &= (uint32_t)ALL_ONES(len);
	(void)vio_pci_dev_bar_write(p, p->cfg[PCICFG_BAR], cfg_get(p, PCICFG_OFF, 4), len, v);
}

int vio_pci_dev_cfg_read(struct vio_pci_dev *p, unsigned off, unsigned width, uint32_t *val)
{
	if (!access_ok(off, width, VIO_PCI_CFG_SPACE_SIZE)) {
		*val = (uint32_t)ALL_ONES(width == 1 || width == 2 ? width : 4);
		return -EINVAL;
	}
	if (has_pci_cfg_cap(p) && touches(off, width, PCICFG_DATA, 4))
		window_read(p);
	*val = cfg_get(p, off, width);
	return 0;
}

int vio_pci_dev_cfg_write(struct vio_pci_dev *p, unsigned off, unsigned width, uint32_t val)
{
	uint32_t old_cmd = cfg_get(p, VIO_PCI_CFG_COMMAND, 2);
	uint32_t old_msix = p->nvec ? cfg_get(p, VIO_PCI_DEV_CAP_MSIX + VIO_PCI_MSIX_FLAGS, 2) : 0;

	if (!access_ok(off, width, VIO_PCI_CFG_SPACE_SIZE))
		return -EINVAL;
	for (unsigned i = 0; i < width; i++) {
		uint8_t m = p->wmask[off + i];

		p->cfg[off + i] = (uint8_t)((p->cfg[off + i] & ~m) | ((val >> (8 * i)) & m));
	}
	if (touches(off, width, VIO_PCI_CFG_BAR0, 4 * VIO_PCI_NUM_BARS))
		fix_bars(p);
	if (cfg_get(p, VIO_PCI_CFG_COMMAND, 2) != old_cmd)
		update_intx(p);
	if (p->nvec && cfg_get(p, VIO_PCI_DEV_CAP_MSIX + VIO_PCI_MSIX_FLAGS, 2) != old_msix) {
		/* Enabling MSI-X takes the line down; unmasking sends what
		 * waited. */
		update_intx(p);
		send_pending(p);
	}
	if (has_pci_cfg_cap(p) && touches(off, width, PCICFG_DATA, 4))
		window_write(p);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Building the function                                                    */

/* PCI class codes (PCI code and id assignment spec), as QEMU gives them:
 * the high byte the class, the low one the subclass. */
static uint16_t class_of(uint32_t device_id)
{
	switch (device_id) {
	case VIO_ID_NET: return 0x0200;       /* network, ethernet */
	case VIO_ID_BLOCK: return 0x0100;     /* mass storage, SCSI */
	case VIO_ID_SCSI: return 0x0100;
	case VIO_ID_CONSOLE: return 0x0780;   /* communication, other */
	case VIO_ID_GPU: return 0x0380;       /* display, other */
	case VIO_ID_INPUT: return 0x0980;     /* input, other */
	default: return 0xff00;               /* unassigned class */
	}
}

/* The transitional device id of a device type (4.1.2.1), 0 if none. */
static uint16_t transitional_id(uint32_t device_id)
{
	switch (device_id) {
	case VIO_ID_NET: return VIO_PCI_TRANS_NET;
	case VIO_ID_BLOCK: return VIO_PCI_TRANS_BLOCK;
	case VIO_ID_BALLOON: return VIO_PCI_TRANS_BALLOON;
	case VIO_ID_CONSOLE: return VIO_PCI_TRANS_CONSOLE;
	case VIO_ID_SCSI: return VIO_PCI_TRANS_SCSI;
	case VIO_ID_RNG: return VIO_PCI_TRANS_RNG;
	case VIO_ID_9P: return VIO_PCI_TRANS_9P;
	default: return 0;
	}
}

/* One virtio vendor capability at off (struct vio_pci_cap's layout). */
static void put_vcap(struct vio_pci_dev *p, unsigned off, unsigned len, uint8_t type,
		     uint8_t bar, uint32_t offset, uint32_t length)
{
	p->cfg[off] = VIO_PCI_CAP_ID_VNDR;
	p->cfg[off + 2] = (uint8_t)len;
	p->cfg[off + 3] = type;
	p->cfg[off + 4] = bar;
	cfg_put(p, off + 8, 4, offset);
	cfg_put(p, off + 12, 4, length);
}

static void build_config(struct vio_pci_dev *p)
{
	struct vio_dev_model *d = p->dev;
	uint16_t devid = p->mode == VIO_PCI_DEV_MODERN
			 ? (uint16_t)(VIO_PCI_MODERN_DEVICE_BASE + d->device_id)
			 : transitional_id(d->device_id);
	unsigned caps[8], n = 0;

	memset(p->cfg, 0, sizeof(p->cfg));
	memset(p->wmask, 0, sizeof(p->wmask));
	cfg_put(p, VIO_PCI_CFG_VENDOR_ID, 2, VIO_PCI_VENDOR_ID);
	cfg_put(p, VIO_PCI_CFG_DEVICE_ID, 2, devid);
	cfg_put(p, VIO_PCI_CFG_STATUS, 2, VIO_PCI_STATUS_CAP_LIST);
	p->cfg[VIO_PCI_CFG_REVISION_ID] = p->mode == VIO_PCI_DEV_MODERN ? 1 : VIO_PCI_LEGACY_ABI_VERSION;
	cfg_put(p, VIO_PCI_CFG_CLASS_DEVICE, 2, class_of(d->device_id));
	cfg_put(p, VIO_PCI_CFG_SUBSYS_VENDOR_ID, 2, VIO_PCI_VENDOR_ID);
	cfg_put(p, VIO_PCI_CFG_SUBSYS_ID, 2, (uint16_t)d->device_id);
	p->cfg[VIO_PCI_CFG_INTERRUPT_PIN] = 1; /* INTA# */
	wmask_put(p, VIO_PCI_CFG_COMMAND, 2, COMMAND_WMASK);
	p->wmask[VIO_PCI_CFG_INTERRUPT_LINE] = 0xff;
	for (unsigned b = 0; b < VIO_PCI_NUM_BARS; b++) {
		if (p->bar_size[b])
			wmask_put(p, VIO_PCI_CFG_BAR0 + 4 * b, 4, UINT32_MAX);
	}
	if (p->bar_size[VIO_PCI_DEV_BAR_MODERN]) /* its high half */
		wmask_put(p, VIO_PCI_CFG_BAR0 + 4 * (VIO_PCI_DEV_BAR_MODERN + 1), 4, UINT32_MAX);
	fix_bars(p);

	if (p->nvec) {
		unsigned c = VIO_PCI_DEV_CAP_MSIX;

		p->cfg[c] = VIO_PCI_CAP_ID_MSIX;
		cfg_put(p, c + VIO_PCI_MSIX_FLAGS, 2, (p->nvec - 1) & VIO_PCI_MSIX_FLAGS_QSIZE);
		cfg_put(p, c + VIO_PCI_MSIX_TABLE, 4, VIO_PCI_DEV_MSIX_TABLE_OFF | VIO_PCI_DEV_BAR_MSIX);
		cfg_put(p, c + VIO_PCI_MSIX_PBA, 4, VIO_PCI_DEV_MSIX_PBA_OFF | VIO_PCI_DEV_BAR_MSIX);
		wmask_put(p, c + VIO_PCI_MSIX_FLAGS, 2,
			  VIO_PCI_MSIX_FLAGS_ENABLE | VIO_PCI_MSIX_FLAGS_MASKALL);
		caps[n++] = c;
	}
	if (has_modern(p)) {
		put_vcap(p, VIO_PCI_DEV_CAP_COMMON, VIO_PCI_CAP_LEN, VIO_PCI_CAP_COMMON_CFG,
			 VIO_PCI_DEV_BAR_MODERN, VIO_PCI_DEV_COMMON_OFF, VIO_PCI_COMMON_CFG_SIZE);
		caps[n++] = VIO_PCI_DEV_CAP_COMMON;
		put_vcap(p, VIO_PCI_DEV_CAP_NOTIFY, VIO_PCI_NOTIFY_CAP_LEN, VIO_PCI_CAP_NOTIFY_CFG,
			 VIO_PCI_DEV_BAR_MODERN, VIO_PCI_DEV_NOTIFY_OFF, (uint32_t)notify_len(p));
		cfg_put(p, VIO_PCI_DEV_CAP_NOTIFY + VIO_PCI_CAP_LEN, 4, VIO_PCI_DEV_NOTIFY_MULT);
		caps[n++] = VIO_PCI_DEV_CAP_NOTIFY;
		put_vcap(p, VIO_PCI_DEV_CAP_ISR, VIO_PCI_CAP_LEN, VIO_PCI_CAP_ISR_CFG,
			 VIO_PCI_DEV_BAR_MODERN, VIO_PCI_DEV_ISR_OFF, 1);
		caps[n++] = VIO_PCI_DEV_CAP_ISR;
		if (d->config_len) {
			put_vcap(p, VIO_PCI_DEV_CAP_DEVICE, VIO_PCI_CAP_LEN, VIO_PCI_CAP_DEVICE_CFG,
				 VIO_PCI_DEV_BAR_MODERN, VIO_PCI_DEV_DEVICE_OFF, d->config_len);
			caps[n++] = VIO_PCI_DEV_CAP_DEVICE;
		}
		put_vcap(p, VIO_PCI_DEV_CAP_PCI_CFG, VIO_PCI_CFG_CAP_LEN, VIO_PCI_CAP_PCI_CFG, 0, 0, 0);
		/* bar, offset, length and data are the driver's. */
		p->wmask[PCICFG_BAR] = 0xff;
		wmask_put(p, PCICFG_OFF, 4, UINT32_MAX);
		wmask_put(p, PCICFG_LEN, 4, UINT32_MAX);
		wmask_put(p, PCICFG_DATA, 4, UINT32_MAX);
		caps[n++] = VIO_PCI_DEV_CAP_PCI_CFG;
	}
	p->cfg[VIO_PCI_CFG_CAP_PTR] = n ? (uint8_t)caps[0] : 0;
	if (!n)
		cfg_put(p, VIO_PCI_CFG_STATUS, 2, 0);
	for (unsigned i = 0; i + 1 < n; i++)
		p->cfg[caps[i] + 1] = (uint8_t)caps[i + 1];
}

static void msix_reset(struct vio_pci_dev *p)
{
	memset(p->msix, 0, sizeof(p->msix));
	for (unsigned v = 0; v < VIO_PCI_DEV_MSIX_MAX; v++)
		p->msix[v].ctrl = VIO_PCI_MSIX_ENTRY_CTRL_MASK; /* masked at reset */
	p->pba = 0;
}

int vio_pci_dev_init(struct vio_pci_dev *p, struct vio_dev_model *d,
		     const struct vio_pci_dev_opts *opts)
{
	if (!p || !d || !opts || !opts->ops || opts->ops->version < 1)
		return -EINVAL;
	if (opts->mode > VIO_PCI_DEV_LEGACY || opts->msix_vectors > VIO_PCI_DEV_MSIX_MAX ||
	    (opts->msix_vectors && !opts->ops->msix))
		return -EINVAL;
	if (d->num_queues > VIO_PCI_DEV_MAX_QUEUES || d->config_len > VIO_PCI_DEV_CONFIG_MAX)
		return -EINVAL;
	/* Modern ids run 0x1040..0x107f; transitional ones exist for a few
	 * types only, and need a device that serves legacy drivers. */
	if (opts->mode == VIO_PCI_DEV_MODERN ? d->device_id > 0x3f
	    : (!transitional_id(d->device_id) || !d->legacy_ok))
		return -EINVAL;
	for (unsigned i = 0; i < d->num_queues; i++) {
		if (d->queues[i].max_size > UINT16_MAX)
			return -EINVAL;
	}

	memset(p, 0, sizeof(*p));
	p->dev = d;
	p->mode = opts->mode;
	p->ops = opts->ops;
	p->opaque = opts->opaque;
	p->nvec = opts->msix_vectors;
	p->transport.version = VIO_DEV_TRANSPORT_VERSION;
	p->transport.interrupt = tp_interrupt;
	p->transport.config_interrupt = tp_config_interrupt;

	if (has_legacy(p))
		p->bar_size[VIO_PCI_DEV_BAR_LEGACY] =
			pow2_at_least(VIO_PCI_LEGACY_CONFIG_OFF_MSIX + (uint64_t)d->config_len);
	if (p->nvec)
		p->bar_size[VIO_PCI_DEV_BAR_MSIX] = VIO_PCI_DEV_MSIX_BAR_SIZE;
	if (has_modern(p))
		p->bar_size[VIO_PCI_DEV_BAR_MODERN] = pow2_at_least(VIO_PCI_DEV_NOTIFY_OFF + notify_len(p));

	d->transport = &p->transport;
	d->transport_opaque = p;
	vio_pci_dev_reset(p);
	return 0;
}

void vio_pci_dev_reset(struct vio_pci_dev *p)
{
	(void)vio_dev_set_status(p->dev, 0);
	build_config(p);
	msix_reset(p);
	transport_reset(p);
}

void vio_pci_dev_fini(struct vio_pci_dev *p)
{
	if (p->dev && p->dev->transport == &p->transport) {
		p->dev->transport = NULL;
		p->dev->transport_opaque = NULL;
	}
	p->dev = NULL;
}
