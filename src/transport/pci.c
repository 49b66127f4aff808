/*
 * pci.c - the driver-side virtio-pci transport (see vio/transport/pci.h):
 * the seed's virtio_pci, redone for a driver that is not in a kernel.
 *
 * It reaches the function only through a struct vio_pci_platform, and
 * everything that comes back from there is the device's word: an offset,
 * a length, a BAR index, a queue size, a status that should have become 0.
 * So the rule here is that a value read from the device is checked where
 * it enters, once, and the check keeps every later access inside a region
 * that was itself checked against its BAR (struct vio_pci_drv_region).
 * Every wait on a register is bounded (struct bound).
 *
 * The file reads top down: logging and config space; the regions and the
 * capability walk (modern); the bounded waits and reset; the ops of the
 * transport table (status, features, config, queues, notify, DMA);
 * interrupts and the wait op; init and fini.
 *
 * No allocation, no locks, no libc beyond memset: the state lives in the
 * caller's struct vio_pci_drv, and the core's rules serialise the calls.
 */
#include <stdarg.h>

#include "vio/transport/pci.h"
#include "vio/spec/pci.h"

#include "../vio_libc.h"

/* The capability list has at most (256 - 64) / 4 distinct entries: a walk
 * longer than that has visited one twice. */
#define CAP_WALK_MAX ((VIO_PCI_CFG_SPACE_SIZE - 0x40u) / 4u)
#define CAP_FIRST 0x40u

#define NS_PER_US UINT64_C(1000)

static struct vio_pci_drv *pci_of(struct vio_drv_device *vdev)
{
	return vdev->transport;
}

/* ------------------------------------------------------------------------ */
/* Logging: the caller's callback, else the bus's once the device is on one */

static void plog(const struct vio_pci_drv *p, enum vio_log_level level, const char *fmt, ...)
	VIO_PRINTF(3, 4);

static void plog(const struct vio_pci_drv *p, enum vio_log_level level, const char *fmt, ...)
{
	vio_log_fn *fn = p->cfg.log;
	void *opaque = p->cfg.log_opaque;
	va_list ap;

	if (!fn && p->vdev.bus) {
		fn = p->vdev.bus->log;
		opaque = p->vdev.bus->log_opaque;
	}
	va_start(ap, fmt);
	vio_vlogf(fn, opaque, level, "virtio-pci: ", fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* Config space                                                             */

static int cfg_rd(struct vio_pci_drv *p, unsigned off, unsigned len, uint32_t *v)
{
	uint8_t b[4] = { 0, 0, 0, 0 };
	int r = p->pf->cfg_read(p->pfo, off, b, len);

	if (r < 0)
		return r;
	/* Little-endian, whatever the host. */
	*v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	return 0;
}

static int cfg_wr16(struct vio_pci_drv *p, unsigned off, uint16_t v)
{
	const uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	return p->pf->cfg_write(p->pfo, off, b, 2);
}

/* ------------------------------------------------------------------------ */
/* Registers: every access inside a checked region                          */

/* [off, off + width) inside r? Regions were checked against their BAR, so
 * this keeps the access inside the BAR too. */
static bool in_region(const struct vio_pci_drv_region *r, uint64_t off, unsigned width)
{
	return r->len >= width && off <= r->len - width;
}

/* A read outside the region returns all ones, as a failed PCI read does:
 * only a bug here could ask for one, and it must not reach the BAR. */
static uint64_t rd(struct vio_pci_drv *p, const struct vio_pci_drv_region *r, uint64_t off,
		   unsigned width)
{
	if (!in_region(r, off, width))
		return UINT64_MAX >> (64 - 8 * width);
	return p->pf->read(p->pfo, r->bar, r->off + off, width) & (UINT64_MAX >> (64 - 8 * width));
}

static void wr(struct vio_pci_drv *p, const struct vio_pci_drv_region *r, uint64_t off,
	       unsigned width, uint64_t v)
{
	if (in_region(r, off, width))
		p->pf->write(p->pfo, r->bar, r->off + off, width, v);
}

/* Common config (modern) or BAR 0 (legacy): both are p->common. */
#define RD8(p, off)      ((uint8_t)rd((p), &(p)->common, (off), 1))
#define RD16(p, off)     ((uint16_t)rd((p), &(p)->common, (off), 2))
#define RD32(p, off)     ((uint32_t)rd((p), &(p)->common, (off), 4))
#define WR8(p, off, v)   wr((p), &(p)->common, (off), 1, (v))
#define WR16(p, off, v)  wr((p), &(p)->common, (off), 2, (v))
#define WR32(p, off, v)  wr((p), &(p)->common, (off), 4, (v))

/* ------------------------------------------------------------------------ */
/* Identification and the capability walk                                   */

uint32_t vio_pci_drv_virtio_id(uint16_t vendor, uint16_t device, uint16_t subsys,
			       bool *transitional)
{
	if (transitional)
		*transitional = false;
	if (vendor != VIO_PCI_VENDOR_ID)
		return 0;
	if (device >= VIO_PCI_LEGACY_DEVICE_FIRST && device <= VIO_PCI_LEGACY_DEVICE_LAST) {
		if (transitional)
			*transitional = true;
		return subsys;
	}
	if (device > VIO_PCI_MODERN_DEVICE_BASE && device <= VIO_PCI_MODERN_DEVICE_BASE + 0x3fu)
		return device - VIO_PCI_MODERN_DEVICE_BASE;
	return 0;
}

static const char *cap_name(unsigned type)
{
	switch (type) {
	case VIO_PCI_CAP_COMMON_CFG: return "common config";
	case VIO_PCI_CAP_NOTIFY_CFG: return "notify";
	case VIO_PCI_CAP_ISR_CFG: return "ISR";
	default: return "device config";
	}
}

/*
 * One virtio vendor capability at pos (pos + 4 <= 256 checked by the
 * walk). A capability we cannot use is logged and skipped: the spec lets
 * a device offer several of a type, the driver taking the first it can
 * use. Returns 1 when it was a virtio structure type (usable or not), 0
 * for another vendor capability, or a negative errno when config space
 * cannot be read.
 */
static int vendor_cap(struct vio_pci_drv *p, unsigned pos, bool *have)
{
	uint32_t cap_len, type, bar, off, len, mult = 0;
	struct vio_pci_drv_region *dst;
	uint64_t bar_len;
	unsigned need;
	bool io;
	int r;

	if ((r = cfg_rd(p, pos + 2, 1, &cap_len)) || (r = cfg_rd(p, pos + 3, 1, &type)))
		return r;
	switch (type) {
	case VIO_PCI_CAP_COMMON_CFG: dst = &p->common; break;
	case VIO_PCI_CAP_NOTIFY_CFG: dst = &p->notify; break;
	case VIO_PCI_CAP_ISR_CFG: dst = &p->isr; break;
	case VIO_PCI_CAP_DEVICE_CFG: dst = &p->device; break;
	default: return 0; /* PCI config access, shared memory, vendor: not used */
	}
	need = type == VIO_PCI_CAP_NOTIFY_CFG ? VIO_PCI_NOTIFY_CAP_LEN : VIO_PCI_CAP_LEN;
	if (cap_len < need) {
		plog(p, VIO_LOG_WARN, "%s capability at %#x: cap_len %u, below %u: ignored",
		     cap_name(type), pos, cap_len, need);
		return 1;
	}
	if (pos + cap_len > VIO_PCI_CFG_SPACE_SIZE) {
		plog(p, VIO_LOG_WARN, "%s capability at %#x: cap_len %u runs past config space: ignored",
		     cap_name(type), pos, cap_len);
		return 1;
	}
	if ((r = cfg_rd(p, pos + 4, 1, &bar)))
		return r;
	if (bar >= VIO_PCI_NUM_BARS) {
		/* Reserved: the spec has the driver ignore the structure. */
		plog(p, VIO_LOG_WARN, "%s capability at %#x: BAR %u is reserved: ignored",
		     cap_name(type), pos, bar);
		return 1;
	}
	if (have[type])
		return 1; /* the first usable one of a type wins */
	if ((r = cfg_rd(p, pos + 8, 4, &off)) || (r = cfg_rd(p, pos + 12, 4, &len)))
		return r;
	if (type == VIO_PCI_CAP_NOTIFY_CFG && (r = cfg_rd(p, pos + 16, 4, &mult)))
		return r;
	bar_len = p->pf->bar_len(p->pfo, bar, &io);
	if (bar_len == 0) {
		plog(p, VIO_LOG_WARN, "%s capability at %#x: BAR %u is absent: ignored",
		     cap_name(type), pos, bar);
		return 1;
	}
	/* 32-bit values in 64-bit arithmetic: no overflow; compare so none can. */
	if (off > bar_len || len > bar_len - off) {
		plog(p, VIO_LOG_WARN,
		     "%s capability at %#x: [%#x, +%#x) past BAR %u's %#llx bytes: ignored",
		     cap_name(type), pos, off, len, bar, (unsigned long long)bar_len);
		return 1;
	}
	switch (type) {
	case VIO_PCI_CAP_COMMON_CFG: need = VIO_PCI_COMMON_CFG_SIZE_1_0; break;
	case VIO_PCI_CAP_NOTIFY_CFG: need = 2; break;  /* one queue's 16-bit write */
	case VIO_PCI_CAP_ISR_CFG: need = 1; break;
	default: need = 0; break;
	}
	if (len < need) {
		plog(p, VIO_LOG_WARN, "%s capability at %#x: length %u, below %u: ignored",
		     cap_name(type), pos, len, need);
		return 1;
	}
	dst->bar = bar;
	dst->off = off;
	dst->len = len;
	if (type == VIO_PCI_CAP_NOTIFY_CFG)
		p->notify_mult = mult;
	have[type] = true;
	return 1;
}

/*
 * Walks the capability list. -ENOENT when the device has no virtio
 * capability at all (it is legacy only); -EINVAL when the list is not a
 * list; -ENODEV when a structure the transport needs is missing or
 * unusable (each logged).
 */
static int find_caps(struct vio_pci_drv *p)
{
	bool have[VIO_PCI_CAP_DEVICE_CFG + 1] = { false };
	bool any = false;
	uint32_t status, pos, id, next;
	unsigned steps;
	int r;

	if ((r = cfg_rd(p, VIO_PCI_CFG_STATUS, 2, &status)))
		return r;
	if (!(status & VIO_PCI_STATUS_CAP_LIST))
		return -ENOENT;
	if ((r = cfg_rd(p, VIO_PCI_CFG_CAP_PTR, 1, &pos)))
		return r;
	for (steps = 0; pos != 0; steps++) {
		if (steps == CAP_WALK_MAX) {
			plog(p, VIO_LOG_ERR, "capability list longer than %u entries: a loop",
			     CAP_WALK_MAX);
			return -EINVAL;
		}
		if (pos < CAP_FIRST || pos >= VIO_PCI_CFG_SPACE_SIZE || (pos & 3)) {
			plog(p, VIO_LOG_ERR,
			     "capability pointer %#x outside 0x40..0xfc or not 4-aligned", pos);
			return -EINVAL;
		}
		if ((r = cfg_rd(p, pos, 1, &id)) || (r = cfg_rd(p, pos + 1, 1, &next)))
			return r;
		if (id == VIO_PCI_CAP_ID_VNDR) {
			r = vendor_cap(p, pos, have);
			if (r < 0)
				return r;
			any |= r > 0;
		}
		pos = next;
	}
	if (!any)
		return -ENOENT;
	for (unsigned t = VIO_PCI_CAP_COMMON_CFG; t <= VIO_PCI_CAP_ISR_CFG; t++) {
		if (!have[t]) {
			plog(p, VIO_LOG_ERR, "no usable %s capability", cap_name(t));
			return -ENODEV;
		}
	}
	if (!have[VIO_PCI_CAP_DEVICE_CFG])
		p->device.len = 0; /* no device config: every read fails */
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Bounded waits                                                            */

/*
 * A bound on a wait: the platform's clock when it has one, else a count of
 * the poll interval (each poll sleeps it, through delay_us, if the platform
 * can). Either way the wait ends.
 */
struct bound {
	bool forever;
	bool clock;
	uint64_t end_ns;
	uint64_t left_us;
};

static void bound_start(struct vio_pci_drv *p, struct bound *b, int64_t ms)
{
	b->forever = ms < 0;
	b->clock = p->pf->now_ns != NULL;
	b->left_us = ms > 0 ? (uint64_t)ms * 1000u : 0;
	b->end_ns = 0;
	if (!b->forever && b->clock) {
		uint64_t now = p->pf->now_ns(p->pfo);

		b->end_ns = now + b->left_us * NS_PER_US;
		if (b->end_ns < now)
			b->end_ns = UINT64_MAX;
	}
}

static bool bound_passed(struct vio_pci_drv *p, const struct bound *b)
{
	if (b->forever)
		return false;
	if (b->clock)
		return p->pf->now_ns(p->pfo) >= b->end_ns;
	return b->left_us == 0;
}

/* Microseconds left, at most cap_us. */
static uint64_t bound_left_us(struct vio_pci_drv *p, const struct bound *b, uint64_t cap_us)
{
	uint64_t left;

	if (b->forever)
		return cap_us;
	if (b->clock) {
		uint64_t now = p->pf->now_ns(p->pfo);

		left = now >= b->end_ns ? 0 : (b->end_ns - now + NS_PER_US - 1) / NS_PER_US;
	} else {
		left = b->left_us;
	}
	return left < cap_us ? left : cap_us;
}

/* Time spent waiting us: counted when there is no clock. */
static void bound_spent(struct bound *b, uint64_t us)
{
	if (!b->forever && !b->clock)
		b->left_us -= us < b->left_us ? us : b->left_us;
}

/* Sleeps one poll interval (or what is left of b). */
static void poll_sleep(struct vio_pci_drv *p, struct bound *b)
{
	uint64_t us = bound_left_us(p, b, p->cfg.poll_us);

	if (us == 0)
		us = 1; /* even a bound that passed advances */
	if (p->pf->delay_us)
		p->pf->delay_us(p->pfo, (unsigned)us);
	bound_spent(b, us);
}

/*
 * Polls until reg (1 or 2 bytes at off in p->common) reads want, at most
 * reset_timeout_ms. 0 or -ETIMEDOUT.
 */
static int wait_reg(struct vio_pci_drv *p, uint64_t off, unsigned width, uint64_t want)
{
	struct bound b;

	bound_start(p, &b, p->cfg.reset_timeout_ms);
	for (;;) {
		if (rd(p, &p->common, off, width) == want)
			return 0;
		if (bound_passed(p, &b))
			return -ETIMEDOUT;
		poll_sleep(p, &b);
	}
}

static uint64_t status_off(const struct vio_pci_drv *p)
{
	return p->legacy ? VIO_PCI_LEGACY_STATUS : VIO_PCI_COMMON_STATUS;
}

/* Writes the config vector and reads it back (MSI-X only). */
static void program_config_vector(struct vio_pci_drv *p)
{
	uint64_t off = p->legacy ? VIO_PCI_LEGACY_MSIX_CONFIG : VIO_PCI_COMMON_MSIX;
	uint16_t got;

	p->config_polled = p->irq_mode == VIO_PCI_IRQ_POLL;
	if (p->irq_mode < VIO_PCI_IRQ_MSIX_SHARED)
		return;
	WR16(p, off, p->config_vector);
	got = RD16(p, off);
	if (got != p->config_vector) {
		/* Once: this runs after every reset. */
		if (!p->config_vector_logged)
			plog(p, VIO_LOG_WARN, "device refused MSI-X vector %u for config changes "
			     "(read %#x): polling for them", p->config_vector, got);
		p->config_vector_logged = true;
		p->config_polled = true;
	}
}

/*
 * Resets the device: status 0, then wait (bounded) until it reads 0, which
 * is when the device has finished. Afterwards the device has forgotten its
 * queues and vectors. -ETIMEDOUT marks p broken.
 */
static int do_reset(struct vio_pci_drv *p)
{
	int r;

	WR8(p, status_off(p), 0);
	/* A device whose reset timed out once gets one look, not another
	 * wait: the removal path resets several times. */
	if (p->broken)
		r = RD8(p, status_off(p)) == 0 ? 0 : -ETIMEDOUT;
	else
		r = wait_reg(p, status_off(p), 1, 0);
	for (unsigned i = 0; i < p->nq; i++) {
		p->q[i].set_up = false;
		p->q[i].polled = false;
	}
	if (r) {
		if (!p->broken)
			plog(p, VIO_LOG_ERR, "reset did not complete within %u ms: device broken",
			     p->cfg.reset_timeout_ms);
		p->broken = true;
		return r;
	}
	p->broken = false;
	program_config_vector(p);
	if (!p->legacy)
		p->last_generation = RD8(p, VIO_PCI_COMMON_CFGGENERATION);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The transport ops: status, features, config                              */

static uint8_t pci_get_status(struct vio_drv_device *vdev)
{
	struct vio_pci_drv *p = pci_of(vdev);

	return RD8(p, status_off(p));
}

static void pci_set_status(struct vio_drv_device *vdev, uint8_t status)
{
	struct vio_pci_drv *p = pci_of(vdev);

	if (status == 0) {
		(void)do_reset(p); /* logged; the core reads status back */
		return;
	}
	WR8(p, status_off(p), status);
}

static uint64_t pci_get_features(struct vio_drv_device *vdev)
{
	struct vio_pci_drv *p = pci_of(vdev);
	uint64_t lo, hi;

	if (p->legacy)
		return RD32(p, VIO_PCI_LEGACY_HOST_FEATURES);
	WR32(p, VIO_PCI_COMMON_DFSELECT, 0);
	lo = RD32(p, VIO_PCI_COMMON_DF);
	WR32(p, VIO_PCI_COMMON_DFSELECT, 1);
	hi = RD32(p, VIO_PCI_COMMON_DF);
	return lo | hi << 32;
}

static int pci_set_features(struct vio_drv_device *vdev, uint64_t f)
{
	struct vio_pci_drv *p = pci_of(vdev);

	if (p->legacy) {
		if (f >> 32)
			return -EINVAL;
		WR32(p, VIO_PCI_LEGACY_GUEST_FEATURES, (uint32_t)f);
		return 0;
	}
	/* The modern interface is virtio 1.x: without VERSION_1 the device and
	 * the driver would disagree on every layout. */
	if (!vio_has_feature(f, VIO_F_VERSION_1)) {
		plog(p, VIO_LOG_ERR, "modern interface without VERSION_1 (device offer or driver): "
		     "refused");
		return -EINVAL;
	}
	WR32(p, VIO_PCI_COMMON_GFSELECT, 0);
	WR32(p, VIO_PCI_COMMON_GF, (uint32_t)f);
	WR32(p, VIO_PCI_COMMON_GFSELECT, 1);
	WR32(p, VIO_PCI_COMMON_GF, (uint32_t)(f >> 32));
	return 0;
}

static bool has_queue_reset(const struct vio_pci_drv *p)
{
	return !p->legacy && p->common.len >= VIO_PCI_COMMON_CFG_SIZE;
}

static uint64_t pci_transport_features(struct vio_drv_device *vdev)
{
	struct vio_pci_drv *p = pci_of(vdev);
	uint64_t f = VIO_BIT(VIO_F_INDIRECT_DESC) | VIO_BIT(VIO_F_EVENT_IDX) |
		     VIO_BIT(VIO_F_NOTIFY_ON_EMPTY) | VIO_BIT(VIO_F_ANY_LAYOUT);

	if (p->legacy)
		return f;
	/* ACCESS_PLATFORM: the platform's DMA addresses are what the device
	 * uses, which is what the bit asks of a driver. */
	f |= VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_ACCESS_PLATFORM) |
	     VIO_BIT(VIO_F_RING_PACKED) | VIO_BIT(VIO_F_IN_ORDER);
	if (has_queue_reset(p))
		f |= VIO_BIT(VIO_F_RING_RESET);
	return f;
}

/* Device config: naturally aligned pieces of 4, 2 or 1 bytes (an 8-byte
 * field is read as two 4-byte halves; the core's generation check makes
 * the whole consistent). Past the region: -EINVAL. */
static int pci_config_read(struct vio_drv_device *vdev, unsigned off, void *buf, unsigned len)
{
	struct vio_pci_drv *p = pci_of(vdev);
	uint8_t *out = buf;

	if (off > p->device.len || len > p->device.len - off)
		return -EINVAL;
	while (len) {
		unsigned w = (off % 4 == 0 && len >= 4) ? 4 : (off % 2 == 0 && len >= 2) ? 2 : 1;
		uint64_t v = rd(p, &p->device, off, w);

		for (unsigned i = 0; i < w; i++)
			out[i] = (uint8_t)(v >> (8 * i));
		out += w;
		off += w;
		len -= w;
	}
	return 0;
}

static int pci_config_write(struct vio_drv_device *vdev, unsigned off, const void *buf,
			    unsigned len)
{
	struct vio_pci_drv *p = pci_of(vdev);
	const uint8_t *in = buf;

	if (off > p->device.len || len > p->device.len - off)
		return -EINVAL;
	while (len) {
		unsigned w = (off % 4 == 0 && len >= 4) ? 4 : (off % 2 == 0 && len >= 2) ? 2 : 1;
		uint64_t v = 0;

		for (unsigned i = 0; i < w; i++)
			v |= (uint64_t)in[i] << (8 * i);
		wr(p, &p->device, off, w, v);
		in += w;
		off += w;
		len -= w;
	}
	return 0;
}

static uint32_t pci_config_generation(struct vio_drv_device *vdev)
{
	struct vio_pci_drv *p = pci_of(vdev);

	/* Legacy has no generation: reads are as consistent as the device
	 * makes them. */
	return p->legacy ? 0 : RD8(p, VIO_PCI_COMMON_CFGGENERATION);
}

/* ------------------------------------------------------------------------ */
/* Queues                                                                   */

static unsigned pci_num_queues(struct vio_drv_device *vdev)
{
	return pci_of(vdev)->nq;
}

static void select_queue(struct vio_pci_drv *p, unsigned qi)
{
	if (p->legacy)
		WR16(p, VIO_PCI_LEGACY_QUEUE_SEL, qi);
	else
		WR16(p, VIO_PCI_COMMON_Q_SELECT, qi);
}

/* The device's size for qi: 0 (logged) when absent or unusable. */
static unsigned pci_queue_max(struct vio_drv_device *vdev, unsigned qi)
{
	struct vio_pci_drv *p = pci_of(vdev);
	bool packed = !p->legacy && vio_has_feature(vdev->features, VIO_F_RING_PACKED);
	unsigned size;

	if (qi >= p->nq)
		return 0;
	select_queue(p, qi);
	size = p->legacy ? RD16(p, VIO_PCI_LEGACY_QUEUE_NUM) : RD16(p, VIO_PCI_COMMON_Q_SIZE);
	if (size == 0) {
		plog(p, VIO_LOG_WARN, "queue %u: size 0, the queue is absent", qi);
		return 0;
	}
	if (size > VIO_SPLIT_MAX_SIZE) {
		plog(p, VIO_LOG_ERR, "queue %u: size %u above %u: refused", qi, size,
		     VIO_SPLIT_MAX_SIZE);
		return 0;
	}
	if (!packed && (size & (size - 1))) {
		plog(p, VIO_LOG_ERR, "queue %u: size %u is not a power of two (split ring): refused",
		     qi, size);
		return 0;
	}
	return size;
}

/* Programs qi's MSI-X vector (selected already) and reads it back. */
static void program_queue_vector(struct vio_pci_drv *p, unsigned qi)
{
	uint64_t off = p->legacy ? VIO_PCI_LEGACY_MSIX_QUEUE : VIO_PCI_COMMON_Q_MSIX;
	struct vio_pci_drv_queue *q = &p->q[qi];
	uint16_t got;

	q->polled = p->irq_mode == VIO_PCI_IRQ_POLL;
	if (p->irq_mode < VIO_PCI_IRQ_MSIX_SHARED)
		return;
	WR16(p, off, q->vector);
	got = RD16(p, off);
	if (got != q->vector) {
		/* The device ran out of vectors (NO_VECTOR back) or reported
		 * another: either way no interrupt can be trusted for qi. */
		plog(p, VIO_LOG_WARN, "queue %u: device refused MSI-X vector %u (read %#x): "
		     "polling it", qi, q->vector, got);
		q->polled = true;
	}
}

static int legacy_queue_setup(struct vio_pci_drv *p, unsigned qi, unsigned size,
			      const struct vio_ring_addrs *a)
{
	struct vio_ring_addrs want;
	unsigned num;

	/* A ring the device still uses (a page number left over, whatever the
	 * reset said) must not be replaced under it. */
	if (RD32(p, VIO_PCI_LEGACY_QUEUE_PFN)) {
		plog(p, VIO_LOG_ERR, "queue %u: already active (QUEUE_PFN not 0)", qi);
		return -EBUSY;
	}
	num = RD16(p, VIO_PCI_LEGACY_QUEUE_NUM);
	if (size != num) {
		plog(p, VIO_LOG_ERR, "queue %u: legacy size is the device's %u, not %u", qi, num,
		     size);
		return -EINVAL;
	}
	/* One block: the device finds the rest from the page number alone. */
	vio_ring_legacy_layout(a->desc, size, VIO_LEGACY_VRING_ALIGN, &want);
	if ((a->desc & (VIO_LEGACY_VRING_ALIGN - 1)) || a->driver != want.driver ||
	    a->device != want.device || (a->desc >> VIO_PCI_LEGACY_PFN_SHIFT) > UINT32_MAX) {
		plog(p, VIO_LOG_ERR, "queue %u: ring at %#llx is not one legacy block", qi,
		     (unsigned long long)a->desc);
		return -EINVAL;
	}
	p->q[qi].pfn = (uint32_t)(a->desc >> VIO_PCI_LEGACY_PFN_SHIFT);
	return 0;
}

static int modern_queue_setup(struct vio_pci_drv *p, unsigned qi, unsigned size,
			      const struct vio_ring_addrs *a)
{
	uint64_t noff, addr;

	if (RD16(p, VIO_PCI_COMMON_Q_ENABLE)) {
		plog(p, VIO_LOG_ERR, "queue %u: enabled before setup", qi);
		return -EBUSY;
	}
	/* Where its kick goes: inside the notify region, 2-aligned, or the
	 * queue cannot be used. */
	noff = RD16(p, VIO_PCI_COMMON_Q_NOFF);
	addr = noff * p->notify_mult;
	if (!in_region(&p->notify, addr, 2) || ((p->notify.off + addr) & 1)) {
		plog(p, VIO_LOG_ERR, "queue %u: notify offset %llu * %u outside the %llu-byte "
		     "notify region", qi, (unsigned long long)noff, p->notify_mult,
		     (unsigned long long)p->notify.len);
		return -EINVAL;
	}
	p->q[qi].notify_off = addr;
	WR16(p, VIO_PCI_COMMON_Q_SIZE, size);
	WR32(p, VIO_PCI_COMMON_Q_DESCLO, (uint32_t)a->desc);
	WR32(p, VIO_PCI_COMMON_Q_DESCHI, (uint32_t)(a->desc >> 32));
	WR32(p, VIO_PCI_COMMON_Q_AVAILLO, (uint32_t)a->driver);
	WR32(p, VIO_PCI_COMMON_Q_AVAILHI, (uint32_t)(a->driver >> 32));
	WR32(p, VIO_PCI_COMMON_Q_USEDLO, (uint32_t)a->device);
	WR32(p, VIO_PCI_COMMON_Q_USEDHI, (uint32_t)(a->device >> 32));
	return 0;
}

static int pci_queue_setup(struct vio_drv_device *vdev, unsigned qi, unsigned size,
			   const struct vio_ring_addrs *a)
{
	struct vio_pci_drv *p = pci_of(vdev);
	int r;

	if (qi >= p->nq)
		return -EINVAL;
	if (p->broken)
		return -EIO;
	p->q[qi].set_up = false;
	select_queue(p, qi);
	r = p->legacy ? legacy_queue_setup(p, qi, size, a) : modern_queue_setup(p, qi, size, a);
	if (r)
		return r;
	program_queue_vector(p, qi);
	p->q[qi].set_up = true;
	return 0;
}

static int pci_queue_enable(struct vio_drv_device *vdev, unsigned qi)
{
	struct vio_pci_drv *p = pci_of(vdev);

	if (qi >= p->nq || !p->q[qi].set_up)
		return -EINVAL;
	select_queue(p, qi);
	if (p->legacy)
		WR32(p, VIO_PCI_LEGACY_QUEUE_PFN, p->q[qi].pfn);
	else
		WR16(p, VIO_PCI_COMMON_Q_ENABLE, 1);
	return 0;
}

/* RING_RESET: write 1, then the reset is done when it reads 1 back. */
static int pci_queue_reset(struct vio_drv_device *vdev, unsigned qi)
{
	struct vio_pci_drv *p = pci_of(vdev);
	int r;

	if (!has_queue_reset(p) || !vio_has_feature(vdev->features, VIO_F_RING_RESET))
		return -ENOTSUP;
	if (qi >= p->nq)
		return -EINVAL;
	select_queue(p, qi);
	WR16(p, VIO_PCI_COMMON_Q_RESET, 1);
	r = wait_reg(p, VIO_PCI_COMMON_Q_RESET, 2, 1);
	p->q[qi].set_up = false;
	if (r) {
		plog(p, VIO_LOG_ERR, "queue %u: reset did not complete within %u ms", qi,
		     p->cfg.reset_timeout_ms);
		return r;
	}
	return 0;
}

/* A kick: the queue's index, 16 bits, at its notify address. Context: the
 * queue's owner thread; reads only what queue_setup fixed. */
static void pci_notify(struct vio_drv_device *vdev, unsigned qi)
{
	struct vio_pci_drv *p = pci_of(vdev);

	if (qi >= p->nq || !p->q[qi].set_up)
		return;
	if (p->legacy)
		WR16(p, VIO_PCI_LEGACY_QUEUE_NOTIFY, qi);
	else
		wr(p, &p->notify, p->q[qi].notify_off, 2, qi);
}

/* ------------------------------------------------------------------------ */
/* DMA memory and the clock: the platform's                                 */

static void *pci_dma_alloc(struct vio_drv_device *vdev, size_t size, size_t align, uint64_t *dma)
{
	struct vio_pci_drv *p = pci_of(vdev);

	return p->pf->dma_alloc(p->pfo, size, align, dma);
}

static void pci_dma_free(struct vio_drv_device *vdev, void *ptr, size_t size)
{
	struct vio_pci_drv *p = pci_of(vdev);

	p->pf->dma_free(p->pfo, ptr, size);
}

static uint64_t pci_dma_addr(struct vio_drv_device *vdev, const void *ptr)
{
	struct vio_pci_drv *p = pci_of(vdev);

	return p->pf->dma_addr(p->pfo, ptr);
}

static uint64_t pci_now_ns(struct vio_drv_device *vdev)
{
	struct vio_pci_drv *p = pci_of(vdev);

	return p->pf->now_ns(p->pfo);
}

/* ------------------------------------------------------------------------ */
/* Interrupts and the wait op                                               */

/*
 * Asks the platform for MSI-X vectors: one for config and one per queue;
 * then two (config, all queues); then one (everything); then INTx; then
 * nothing (polling). Vectors go to the device later, as each queue is set
 * up (and the config vector after every reset).
 */
static void irq_setup(struct vio_pci_drv *p)
{
	const unsigned tries[3] = { 1 + p->nq, 2, 1 };

	p->irq_mode = VIO_PCI_IRQ_POLL;
	p->nvec = 0;
	p->config_vector = VIO_PCI_MSI_NO_VECTOR;
	for (unsigned i = 0; i < p->nq; i++)
		p->q[i].vector = VIO_PCI_MSI_NO_VECTOR;
	if (p->cfg.poll || !p->pf->irq_enable || !p->pf->irq_wait)
		return;
	for (unsigned t = 0; t < 3; t++) {
		int r;

		if (t > 0 && tries[t] >= tries[t - 1])
			continue;
		r = p->pf->irq_enable(p->pfo, tries[t]);
		if (r > 0) {
			p->irq_on = true;
			p->nvec = (unsigned)r < tries[t] ? (unsigned)r : tries[t];
			break;
		}
		if (r == 0 && p->pf->irq_disable)
			p->pf->irq_disable(p->pfo); /* INTx instead of vectors: ask for it plainly */
	}
	if (p->nvec) {
		bool own = p->nvec >= 1 + p->nq;

		p->irq_mode = own ? VIO_PCI_IRQ_MSIX : VIO_PCI_IRQ_MSIX_SHARED;
		p->config_vector = 0;
		for (unsigned i = 0; i < p->nq; i++)
			p->q[i].vector = (uint16_t)(own ? 1 + i : p->nvec >= 2 ? 1 : 0);
		return;
	}
	if (p->pf->irq_enable(p->pfo, 0) == 0) {
		p->irq_on = true;
		p->irq_mode = VIO_PCI_IRQ_INTX;
		return;
	}
	plog(p, VIO_LOG_INFO, "no interrupts from the platform: polling");
}

/* Did vector v fire in mask (bit 63: every vector from 63 up)? */
static bool fired(int64_t mask, uint16_t v)
{
	return v != VIO_PCI_MSI_NO_VECTOR && ((uint64_t)mask & (UINT64_C(1) << (v < 63 ? v : 63)));
}

/* Delivers what the platform reported. Returns whether anything ran. */
static bool deliver_irq(struct vio_pci_drv *p, int64_t mask)
{
	struct vio_drv_device *vdev = &p->vdev;
	bool any = false;

	if (p->irq_mode == VIO_PCI_IRQ_INTX) {
		/* The ISR says what, and reading it lowers the line. */
		uint8_t bits = p->legacy ? RD8(p, VIO_PCI_LEGACY_ISR) : (uint8_t)rd(p, &p->isr, 0, 1);

		if (bits & VIO_PCI_ISR_CONFIG) {
			vio_drv_config_interrupt(vdev);
			any = true;
		}
		if (bits & VIO_PCI_ISR_QUEUE) {
			for (unsigned i = 0; i < vdev->nvqs; i++)
				vio_drv_interrupt(vdev, i);
			any = true;
		}
		return any;
	}
	if (!p->config_polled && fired(mask, p->config_vector)) {
		vio_drv_config_interrupt(vdev);
		any = true;
	}
	for (unsigned i = 0; i < vdev->nvqs && i < p->nq; i++) {
		if (!p->q[i].polled && fired(mask, p->q[i].vector)) {
			vio_drv_interrupt(vdev, i);
			any = true;
		}
	}
	return any;
}

/* Queues without an interrupt, and config without one: look. */
static bool poll_once(struct vio_pci_drv *p)
{
	struct vio_drv_device *vdev = &p->vdev;
	bool any = false;

	if (p->config_polled && !p->legacy) {
		uint32_t gen = RD8(p, VIO_PCI_COMMON_CFGGENERATION);

		if (gen != p->last_generation) {
			p->last_generation = gen;
			vio_drv_config_interrupt(vdev);
			any = true;
		}
	}
	for (unsigned i = 0; i < vdev->nvqs && i < p->nq; i++) {
		if (p->q[i].polled && vio_drvq_has_used(&vdev->vqs[i].q)) {
			vio_drv_interrupt(vdev, i);
			any = true;
		}
	}
	return any;
}

static bool needs_polling(const struct vio_pci_drv *p)
{
	if (p->irq_mode == VIO_PCI_IRQ_POLL || p->config_polled)
		return true;
	for (unsigned i = 0; i < p->vdev.nvqs && i < p->nq; i++)
		if (p->q[i].polled)
			return true;
	return false;
}

/* Legacy device config follows the MSI-X registers while MSI-X is on. */
static void legacy_device_region(struct vio_pci_drv *p)
{
	unsigned off = p->irq_mode >= VIO_PCI_IRQ_MSIX_SHARED ? VIO_PCI_LEGACY_CONFIG_OFF_MSIX
							      : VIO_PCI_LEGACY_CONFIG_OFF;

	if (p->legacy)
		p->device = (struct vio_pci_drv_region){ 0, off, p->common.len > off ?
							 p->common.len - off : 0 };
}

/* The platform's interrupts failed: give them up, poll everything. */
static void fall_back_to_polling(struct vio_pci_drv *p)
{
	if (p->irq_on && p->pf->irq_disable)
		p->pf->irq_disable(p->pfo);
	p->irq_on = false;
	p->irq_mode = VIO_PCI_IRQ_POLL;
	p->nvec = 0;
	legacy_device_region(p);
	p->config_polled = true;
	for (unsigned i = 0; i < p->nq; i++)
		p->q[i].polled = true;
}

/*
 * Waits for an interrupt (or, for what has none, polls every poll_us) and
 * delivers it. 0 when something was delivered or an interrupt came, else
 * -ETIMEDOUT once the whole timeout passed. The platform's mask may have
 * bit 63 set (vectors 63 and up), which makes it negative: only -4095..-1
 * are errors.
 */
static int pci_wait(struct vio_drv_device *vdev, int timeout_ms)
{
	struct vio_pci_drv *p = pci_of(vdev);
	const bool polling = needs_polling(p);
	struct bound b;

	bound_start(p, &b, timeout_ms);
	for (;;) {
		int64_t mask;
		int ms = -1;

		if (polling && poll_once(p))
			return 0;
		if (p->irq_mode == VIO_PCI_IRQ_POLL) {
			if (bound_passed(p, &b))
				return -ETIMEDOUT;
			poll_sleep(p, &b);
			continue;
		}
		/* Never block past the next poll when something is polled. */
		if (polling || !b.forever) {
			uint64_t us = bound_left_us(p, &b, polling ? p->cfg.poll_us : UINT64_MAX);
			uint64_t m = (us + 999) / 1000;

			ms = m < __INT_MAX__ ? (int)m : __INT_MAX__;
		}
		mask = p->pf->irq_wait(p->pfo, ms);
		if (mask < 0 && mask >= -4095) {
			/* The core's wait has no room for another error, and a
			 * driver would only wait again: poll from now on. */
			plog(p, VIO_LOG_ERR, "waiting for an interrupt: %s: polling from now on",
			     vio_strerror((int)mask));
			fall_back_to_polling(p);
			return pci_wait(vdev, timeout_ms);
		}
		if (mask != 0) {
			(void)deliver_irq(p, mask);
			if (polling)
				(void)poll_once(p);
			return 0;
		}
		if (ms > 0)
			bound_spent(&b, (uint64_t)ms * 1000u);
		if (bound_passed(p, &b))
			return -ETIMEDOUT;
	}
}

/* ------------------------------------------------------------------------ */
/* Init and fini                                                            */

/* The legacy interface: BAR 0, the ABI revision, queues counted. */
static int legacy_init(struct vio_pci_drv *p)
{
	uint64_t len;
	bool io = false;

	if (p->revision != VIO_PCI_LEGACY_ABI_VERSION) {
		plog(p, VIO_LOG_ERR, "legacy device with ABI revision %u, this driver speaks %u",
		     p->revision, VIO_PCI_LEGACY_ABI_VERSION);
		return -ENODEV;
	}
	len = p->pf->bar_len(p->pfo, 0, &io);
	if (len < VIO_PCI_LEGACY_CONFIG_OFF) {
		plog(p, VIO_LOG_ERR, "legacy BAR 0 has %llu bytes, below %u",
		     (unsigned long long)len, VIO_PCI_LEGACY_CONFIG_OFF);
		return -ENODEV;
	}
	if (!io)
		plog(p, VIO_LOG_WARN, "legacy BAR 0 is not I/O space: driving it anyway");
	p->legacy = true;
	p->common = (struct vio_pci_drv_region){ 0, 0, len };
	return 0;
}

static void count_legacy_queues(struct vio_pci_drv *p)
{
	/* Legacy says nothing of how many: queues are there while they have
	 * a size. */
	for (p->nq = 0; p->nq < VIO_PCI_DRV_MAX_QUEUES; p->nq++) {
		WR16(p, VIO_PCI_LEGACY_QUEUE_SEL, p->nq);
		if (RD16(p, VIO_PCI_LEGACY_QUEUE_NUM) == 0)
			break;
	}
}

static const struct vio_transport_ops pci_ops_template = {
	.version = VIO_TRANSPORT_OPS_VERSION,
	.get_status = pci_get_status,
	.set_status = pci_set_status,
	.get_features = pci_get_features,
	.set_features = pci_set_features,
	.transport_features = pci_transport_features,
	.config_read = pci_config_read,
	.config_write = pci_config_write,
	.config_generation = pci_config_generation,
	.num_queues = pci_num_queues,
	.queue_max = pci_queue_max,
	.queue_setup = pci_queue_setup,
	.queue_enable = pci_queue_enable,
	.queue_reset = pci_queue_reset,
	.notify = pci_notify,
	.dma_alloc = pci_dma_alloc,
	.dma_free = pci_dma_free,
	.dma_addr = pci_dma_addr,
	.wait = pci_wait,
	.legacy_align = 0,
	.now_ns = pci_now_ns,
};

static bool platform_ok(const struct vio_pci_platform *pf)
{
	return pf && pf->version >= 1 && pf->cfg_read && pf->cfg_write && pf->bar_len &&
	       pf->read && pf->write && pf->dma_alloc && pf->dma_free && pf->dma_addr;
}

int vio_pci_drv_init(struct vio_pci_drv *p, const struct vio_pci_drv_config *cfg)
{
	uint32_t vendor, device, rev, subsys, cmd;
	int r;

	memset(p, 0, sizeof(*p));
	if (!cfg || !platform_ok(cfg->platform))
		return -EINVAL;
	p->cfg = *cfg;
	if (!p->cfg.reset_timeout_ms)
		p->cfg.reset_timeout_ms = VIO_PCI_DRV_RESET_TIMEOUT_MS;
	if (!p->cfg.poll_us)
		p->cfg.poll_us = VIO_PCI_DRV_POLL_US;
	p->pf = cfg->platform;
	p->pfo = cfg->platform_opaque;

	if ((r = cfg_rd(p, VIO_PCI_CFG_VENDOR_ID, 2, &vendor)) ||
	    (r = cfg_rd(p, VIO_PCI_CFG_DEVICE_ID, 2, &device)) ||
	    (r = cfg_rd(p, VIO_PCI_CFG_REVISION_ID, 1, &rev)) ||
	    (r = cfg_rd(p, VIO_PCI_CFG_SUBSYS_ID, 2, &subsys))) {
		plog(p, VIO_LOG_ERR, "config space unreadable: %s", vio_strerror(r));
		goto fail;
	}
	p->pci_device_id = (uint16_t)device;
	p->revision = (uint8_t)rev;
	p->virtio_id = vio_pci_drv_virtio_id((uint16_t)vendor, (uint16_t)device,
					     (uint16_t)subsys, &p->transitional);
	if (!p->virtio_id) {
		plog(p, VIO_LOG_ERR, "%#x:%#x (subsystem %#x) is not a virtio device", vendor,
		     device, subsys);
		r = -ENODEV;
		goto fail;
	}

	if (cfg->legacy && !p->transitional) {
		plog(p, VIO_LOG_ERR, "legacy interface asked of a modern-only device %#x", device);
		r = -ENODEV;
		goto fail;
	}
	r = cfg->legacy ? -ENOENT : find_caps(p);
	if (r == -ENOENT && p->transitional)
		r = legacy_init(p);
	else if (r == -ENOENT) {
		plog(p, VIO_LOG_ERR, "modern-only device %#x without virtio capabilities", device);
		r = -ENODEV;
	}
	if (r)
		goto fail;

	/* Decode its BARs and let it master the bus (the rings are in memory
	 * it reads itself). */
	if ((r = cfg_rd(p, VIO_PCI_CFG_COMMAND, 2, &cmd)) ||
	    (r = cfg_wr16(p, VIO_PCI_CFG_COMMAND, (uint16_t)(cmd | VIO_PCI_COMMAND_IO |
							    VIO_PCI_COMMAND_MEMORY |
							    VIO_PCI_COMMAND_MASTER)))) {
		plog(p, VIO_LOG_ERR, "command register: %s", vio_strerror(r));
		goto fail;
	}

	/* Reset first: whatever it was doing, it must stop before anything
	 * else is set up. */
	r = do_reset(p);
	if (r)
		goto fail;
	if (p->legacy) {
		count_legacy_queues(p);
	} else {
		unsigned n = RD16(p, VIO_PCI_COMMON_NUMQ);

		if (n > VIO_PCI_DRV_MAX_QUEUES)
			plog(p, VIO_LOG_WARN, "%u queues: driving the first %u", n,
			     VIO_PCI_DRV_MAX_QUEUES);
		p->nq = n < VIO_PCI_DRV_MAX_QUEUES ? n : VIO_PCI_DRV_MAX_QUEUES;
	}
	irq_setup(p);
	legacy_device_region(p);
	program_config_vector(p);

	p->ops = pci_ops_template;
	if (!p->pf->now_ns)
		p->ops.now_ns = NULL;
	if (!has_queue_reset(p))
		p->ops.queue_reset = NULL;
	if (p->legacy)
		p->ops.legacy_align = VIO_LEGACY_VRING_ALIGN;
	p->vdev.ops = &p->ops;
	p->vdev.transport = p;
	p->vdev.id = p->virtio_id;
	plog(p, VIO_LOG_INFO, "%#x: virtio type %u, %s, %u queues, %s", device, p->virtio_id,
	     p->legacy ? "legacy" : "modern", p->nq,
	     p->irq_mode == VIO_PCI_IRQ_MSIX ? "MSI-X per queue" :
	     p->irq_mode == VIO_PCI_IRQ_MSIX_SHARED ? "MSI-X shared" :
	     p->irq_mode == VIO_PCI_IRQ_INTX ? "INTx" : "polling");
	return 0;
fail:
	vio_pci_drv_fini(p);
	return r;
}

void vio_pci_drv_fini(struct vio_pci_drv *p)
{
	uint32_t cmd;

	if (!p->pf)
		return;
	if (p->common.len) {
		/* Stop the device before its memory goes (bounded; not again
		 * when a reset already timed out), and its bus mastering. */
		(void)do_reset(p);
		if (cfg_rd(p, VIO_PCI_CFG_COMMAND, 2, &cmd) == 0)
			(void)cfg_wr16(p, VIO_PCI_CFG_COMMAND,
				       (uint16_t)(cmd & ~VIO_PCI_COMMAND_MASTER));
	}
	if (p->irq_on && p->pf->irq_disable)
		p->pf->irq_disable(p->pfo);
	memset(p, 0, sizeof(*p));
}
