/*
 * mmio_drv.c - the driver side of virtio-mmio (virtio 1.x 4.2.3): a
 * struct vio_transport_ops over register accesses the platform supplies
 * (vio/transport/mmio.h).
 *
 * Version 2 sets a queue up with QueueNum, three 64-bit ring addresses and
 * QueueReady; version 1 (legacy) with QueueNum, QueueAlign and the page
 * number of one block (the core lays it out: legacy_align), the page size
 * having been told once at init. Interrupts are one line: wait() reads
 * InterruptStatus, acks what it read, and runs every queue's callback for
 * a used-buffer interrupt (the register does not say which queue).
 *
 * The device is not trusted: every wait on it is bounded (a reset that
 * never reads back 0 gives -ETIMEDOUT), and what it says about queues
 * (QueueNumMax) is checked before the core does arithmetic with it.
 */
#include <errno.h>
#include <string.h>

#include "vio/transport/mmio.h"

#define PAGE 4096u              /* GuestPageSize and QueueAlign for version 1 */
#define SPLIT_MAX 32768u

static struct vio_mmio_drv *drv_of(struct vio_drv_device *vdev)
{
	return vdev->transport;
}

static void tlog(const struct vio_mmio_drv *t, enum vio_log_level level, const char *fmt, ...)
	VIO_PRINTF(3, 4);

static void tlog(const struct vio_mmio_drv *t, enum vio_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vio_vlogf(t->opts.log, t->opts.log_opaque, level, "virtio-mmio: ", fmt, ap);
	va_end(ap);
}

static uint32_t rd(const struct vio_mmio_drv *t, uint32_t off)
{
	return t->plat.read(t->plat.opaque, off, 4);
}

static void wr(const struct vio_mmio_drv *t, uint32_t off, uint32_t v)
{
	t->plat.write(t->plat.opaque, off, 4, v);
}

static bool legacy(const struct vio_mmio_drv *t)
{
	return t->version == VIO_MMIO_VERSION_LEGACY;
}

/* ------------------------------------------------------------------------ */
/* Bounded waits                                                            */

struct bound {
	uint64_t end_ns;        /* with a clock */
	uint64_t polls_left;    /* without */
};

static void bound_start(const struct vio_mmio_drv *t, struct bound *b)
{
	uint64_t ms = (uint64_t)t->opts.reset_timeout_ms;

	if (t->plat.now_ns)
		b->end_ns = t->plat.now_ns(t->plat.opaque) + ms * 1000000u;
	b->polls_left = ms * 1000u;
}

static bool bound_passed(const struct vio_mmio_drv *t, struct bound *b)
{
	if (t->plat.now_ns)
		return t->plat.now_ns(t->plat.opaque) >= b->end_ns;
	if (b->polls_left == 0)
		return true;
	b->polls_left--;
	return false;
}

/* Polls register off until it reads 0: 0, or -ETIMEDOUT. */
static int wait_zero(const struct vio_mmio_drv *t, uint32_t off)
{
	struct bound b = { 0, 0 };

	bound_start(t, &b);
	while (rd(t, off) != 0) {
		if (bound_passed(t, &b))
			return -ETIMEDOUT;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Status and features                                                      */

static uint8_t m_get_status(struct vio_drv_device *vdev)
{
	return (uint8_t)rd(drv_of(vdev), VIO_MMIO_STATUS);
}

/* Writes status and, for a reset, waits until the device reads back 0
 * (4.2.3.1.1 wants the driver to): a device that never does is logged
 * and marked, never waited on forever. */
static int set_status(struct vio_mmio_drv *t, uint8_t s)
{
	wr(t, VIO_MMIO_STATUS, s);
	if (s != 0)
		return 0;
	if (wait_zero(t, VIO_MMIO_STATUS) < 0) {
		t->reset_failed = true;
		tlog(t, VIO_LOG_ERR, "the device did not finish its reset within %d ms",
		     t->opts.reset_timeout_ms);
		return -ETIMEDOUT;
	}
	return 0;
}

static void m_set_status(struct vio_drv_device *vdev, uint8_t s)
{
	(void)set_status(drv_of(vdev), s);
}

static uint64_t m_get_features(struct vio_drv_device *vdev)
{
	struct vio_mmio_drv *t = drv_of(vdev);
	uint64_t f;

	wr(t, VIO_MMIO_DEVICE_FEATURES_SEL, 1);
	f = (uint64_t)rd(t, VIO_MMIO_DEVICE_FEATURES) << 32;
	wr(t, VIO_MMIO_DEVICE_FEATURES_SEL, 0);
	f |= rd(t, VIO_MMIO_DEVICE_FEATURES);
	return f;
}

static int m_set_features(struct vio_drv_device *vdev, uint64_t f)
{
	struct vio_mmio_drv *t = drv_of(vdev);

	/* Version 2 is the modern interface (4.2.3.1.1). */
	if (!legacy(t) && !vio_has_feature(f, VIO_F_VERSION_1)) {
		tlog(t, VIO_LOG_ERR, "a version 2 device must offer VERSION_1");
		return -EINVAL;
	}
	wr(t, VIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(t, VIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
	wr(t, VIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(t, VIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
	return 0;
}

static uint64_t m_transport_features(struct vio_drv_device *vdev)
{
	uint64_t f = VIO_BIT(VIO_F_INDIRECT_DESC) | VIO_BIT(VIO_F_EVENT_IDX) |
		     VIO_BIT(VIO_F_NOTIFY_ON_EMPTY) | VIO_BIT(VIO_F_ANY_LAYOUT);

	if (legacy(drv_of(vdev)))
		return f;
	/* Ring addresses come from the platform's DMA calls, so they are
	 * what ACCESS_PLATFORM asks for. */
	return f | VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_RING_PACKED) |
	       VIO_BIT(VIO_F_IN_ORDER) | VIO_BIT(VIO_F_RING_RESET) | VIO_BIT(VIO_F_ACCESS_PLATFORM);
}

/* ------------------------------------------------------------------------ */
/* Config space                                                             */

/* The widest access (4, 2, 1) aligned at off that fits in len. */
static unsigned width_at(unsigned off, unsigned len)
{
	if (len >= 4 && off % 4 == 0)
		return 4;
	if (len >= 2 && off % 2 == 0)
		return 2;
	return 1;
}

/* Modern config is little-endian in the registers; legacy native, so
 * the bytes are the register value's in memory. */
static void put_bytes(const struct vio_mmio_drv *t, uint8_t *p, unsigned w, uint32_t v)
{
	if (legacy(t)) {
		uint8_t v8 = (uint8_t)v;
		uint16_t v16 = (uint16_t)v;

		if (w == 1)
			memcpy(p, &v8, 1);
		else if (w == 2)
			memcpy(p, &v16, 2);
		else
			memcpy(p, &v, 4);
		return;
	}
	for (unsigned i = 0; i < w; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_bytes(const struct vio_mmio_drv *t, const uint8_t *p, unsigned w)
{
	uint32_t v = 0;

	if (legacy(t)) {
		uint8_t v8;
		uint16_t v16;

		if (w == 1) {
			memcpy(&v8, p, 1);
			return v8;
		}
		if (w == 2) {
			memcpy(&v16, p, 2);
			return v16;
		}
		memcpy(&v, p, 4);
		return v;
	}
	for (unsigned i = 0; i < w; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static int m_config_read(struct vio_drv_device *vdev, unsigned off, void *buf, unsigned len)
{
	struct vio_mmio_drv *t = drv_of(vdev);
	uint8_t *p = buf;

	if (len > UINT32_MAX - VIO_MMIO_CONFIG || off > UINT32_MAX - VIO_MMIO_CONFIG - len)
		return -EINVAL;
	while (len) {
		unsigned w = width_at(off, len);

		put_bytes(t, p, w, t->plat.read(t->plat.opaque, VIO_MMIO_CONFIG + off, w));
		p += w;
		off += w;
		len -= w;
	}
	return 0;
}

static int m_config_write(struct vio_drv_device *vdev, unsigned off, const void *buf, unsigned len)
{
	struct vio_mmio_drv *t = drv_of(vdev);
	const uint8_t *p = buf;

	if (len > UINT32_MAX - VIO_MMIO_CONFIG || off > UINT32_MAX - VIO_MMIO_CONFIG - len)
		return -EINVAL;
	while (len) {
		unsigned w = width_at(off, len);

		t->plat.write(t->plat.opaque, VIO_MMIO_CONFIG + off, w, get_bytes(t, p, w));
		p += w;
		off += w;
		len -= w;
	}
	return 0;
}

static uint32_t m_config_generation(struct vio_drv_device *vdev)
{
	struct vio_mmio_drv *t = drv_of(vdev);

	/* Version 1 has no generation: the core reads once. */
	return legacy(t) ? 0 : rd(t, VIO_MMIO_CONFIG_GENERATION);
}

/* ------------------------------------------------------------------------ */
/* Queues                                                                   */

static unsigned m_num_queues(struct vio_drv_device *vdev)
{
	return drv_of(vdev)->nqueues;
}

/* QueueNumMax, made safe: 0 (absent) stays 0; a split ring takes a power of
 * two up to 32768, so a device offering another size gets the largest
 * power of two below it, said in the log. */
static unsigned m_queue_max(struct vio_drv_device *vdev, unsigned qi)
{
	struct vio_mmio_drv *t = drv_of(vdev);
	uint32_t max;
	unsigned p2;

	if (qi >= t->nqueues)
		return 0;
	wr(t, VIO_MMIO_QUEUE_SEL, qi);
	max = rd(t, VIO_MMIO_QUEUE_NUM_MAX);
	if (max > SPLIT_MAX) {
		tlog(t, VIO_LOG_WARN, "queue %u: QueueNumMax %u above %u: clamped", qi, max,
		     SPLIT_MAX);
		max = SPLIT_MAX;
	}
	if (max == 0 || vio_has_feature(vdev->features, VIO_F_RING_PACKED) || !(max & (max - 1)))
		return max;
	for (p2 = 1; p2 * 2 <= max; p2 *= 2)
		;
	tlog(t, VIO_LOG_WARN, "queue %u: QueueNumMax %u is not a power of two: using %u", qi, max,
	     p2);
	return p2;
}

static int m_queue_setup(struct vio_drv_device *vdev, unsigned qi, unsigned size,
			 const struct vio_ring_addrs *a)
{
	struct vio_mmio_drv *t = drv_of(vdev);

	if (qi >= t->nqueues)
		return -EINVAL;
	wr(t, VIO_MMIO_QUEUE_SEL, qi);
	if (rd(t, legacy(t) ? VIO_MMIO_QUEUE_PFN : VIO_MMIO_QUEUE_READY) != 0) {
		tlog(t, VIO_LOG_ERR, "queue %u is already in use", qi);
		return -EBUSY;
	}
	if (legacy(t)) {
		struct vio_ring_addrs want;

		/* One block at a page boundary, laid out as the device will
		 * lay it out from QueuePFN and QueueAlign. */
		vio_ring_legacy_layout(a->desc, size, PAGE, &want);
		if (a->desc % PAGE || a->desc / PAGE > UINT32_MAX || a->desc / PAGE == 0 ||
		    want.driver != a->driver || want.device != a->device) {
			tlog(t, VIO_LOG_ERR, "queue %u: rings not one legacy block at a page", qi);
			return -EINVAL;
		}
		wr(t, VIO_MMIO_QUEUE_NUM, size);
		wr(t, VIO_MMIO_QUEUE_ALIGN, PAGE);
		wr(t, VIO_MMIO_QUEUE_PFN, (uint32_t)(a->desc / PAGE));
		return 0;
	}
	wr(t, VIO_MMIO_QUEUE_NUM, size);
	wr(t, VIO_MMIO_QUEUE_DESC_LOW, (uint32_t)a->desc);
	wr(t, VIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(a->desc >> 32));
	wr(t, VIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)a->driver);
	wr(t, VIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(a->driver >> 32));
	wr(t, VIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)a->device);
	wr(t, VIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(a->device >> 32));
	return 0;
}

static int m_queue_enable(struct vio_drv_device *vdev, unsigned qi)
{
	struct vio_mmio_drv *t = drv_of(vdev);

	if (qi >= t->nqueues)
		return -EINVAL;
	wr(t, VIO_MMIO_QUEUE_SEL, qi);
	/* Version 1: QueuePFN enabled it. Either way, reading back says
	 * whether the device took the queue. */
	if (!legacy(t))
		wr(t, VIO_MMIO_QUEUE_READY, 1);
	if (rd(t, legacy(t) ? VIO_MMIO_QUEUE_PFN : VIO_MMIO_QUEUE_READY) == 0) {
		tlog(t, VIO_LOG_ERR, "queue %u: the device did not take it", qi);
		return -EIO;
	}
	return 0;
}

static int m_queue_reset(struct vio_drv_device *vdev, unsigned qi)
{
	struct vio_mmio_drv *t = drv_of(vdev);

	if (legacy(t) || !vio_has_feature(vdev->features, VIO_F_RING_RESET))
		return -ENOTSUP;
	if (qi >= t->nqueues)
		return -EINVAL;
	wr(t, VIO_MMIO_QUEUE_SEL, qi);
	wr(t, VIO_MMIO_QUEUE_RESET, 1);
	/* Done when QueueReset reads 0 and the queue is no longer ready. */
	if (wait_zero(t, VIO_MMIO_QUEUE_RESET) < 0 || wait_zero(t, VIO_MMIO_QUEUE_READY) < 0) {
		tlog(t, VIO_LOG_ERR, "queue %u: the device did not finish its reset", qi);
		return -ETIMEDOUT;
	}
	return 0;
}

static void m_notify(struct vio_drv_device *vdev, unsigned qi)
{
	wr(drv_of(vdev), VIO_MMIO_QUEUE_NOTIFY, qi);
}

/* ------------------------------------------------------------------------ */
/* Interrupts                                                               */

/* Reads and acks InterruptStatus and hands what it said to the core.
 * Returns whether there was anything. */
static bool deliver(struct vio_mmio_drv *t)
{
	uint32_t st = rd(t, VIO_MMIO_INTERRUPT_STATUS) & (VIO_MMIO_INT_VRING | VIO_MMIO_INT_CONFIG);

	if (!st)
		return false;
	/* Ack first: an interrupt raised while the callbacks run stays
	 * pending for the next wait. */
	wr(t, VIO_MMIO_INTERRUPT_ACK, st);
	if (st & VIO_MMIO_INT_CONFIG)
		vio_drv_config_interrupt(&t->vdev);
	if (st & VIO_MMIO_INT_VRING)
		for (unsigned i = 0; i < t->vdev.nvqs; i++)
			vio_drv_interrupt(&t->vdev, i);
	return true;
}

static int m_wait(struct vio_drv_device *vdev, int timeout_ms)
{
	struct vio_mmio_drv *t = drv_of(vdev);
	int r;

	/* Something pending already: no need to sleep on the line. */
	if (deliver(t))
		return 0;
	/* A platform error counts as the time passing: the caller's
	 * deadline then ends the wait rather than a busy loop. */
	r = t->plat.wait_irq(t->plat.opaque, timeout_ms);
	if (r <= 0)
		return -ETIMEDOUT;
	(void)deliver(t);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* DMA memory and time: the platform's                                      */

static void *m_dma_alloc(struct vio_drv_device *vdev, size_t size, size_t align, uint64_t *dma)
{
	struct vio_mmio_drv *t = drv_of(vdev);

	return t->plat.dma_alloc(t->plat.opaque, size, align, dma);
}

static void m_dma_free(struct vio_drv_device *vdev, void *p, size_t size)
{
	struct vio_mmio_drv *t = drv_of(vdev);

	t->plat.dma_free(t->plat.opaque, p, size);
}

static uint64_t m_dma_addr(struct vio_drv_device *vdev, const void *p)
{
	struct vio_mmio_drv *t = drv_of(vdev);

	return t->plat.dma_addr(t->plat.opaque, p);
}

static uint64_t m_now_ns(struct vio_drv_device *vdev)
{
	struct vio_mmio_drv *t = drv_of(vdev);

	return t->plat.now_ns(t->plat.opaque);
}

/* ------------------------------------------------------------------------ */
/* Lifecycle                                                                */

int vio_mmio_drv_init(struct vio_mmio_drv *t, const struct vio_mmio_platform *plat,
		      const struct vio_mmio_drv_opts *opts)
{
	uint32_t v;
	int r;

	memset(t, 0, sizeof(*t));
	if (!plat || !plat->read || !plat->write || !plat->dma_alloc || !plat->dma_free ||
	    !plat->dma_addr)
		return -EINVAL;
	t->plat = *plat;
	if (opts)
		t->opts = *opts;
	if (t->opts.reset_timeout_ms <= 0)
		t->opts.reset_timeout_ms = 1000;

	/* 4.2.3.1.1: magic, version, device id, in that order. */
	v = rd(t, VIO_MMIO_MAGIC_VALUE);
	if (v != VIO_MMIO_MAGIC) {
		tlog(t, VIO_LOG_ERR, "no virtio-mmio device here: magic %#x, not %#x", v,
		     VIO_MMIO_MAGIC);
		return -ENODEV;
	}
	v = rd(t, VIO_MMIO_VERSION);
	if (v != VIO_MMIO_VERSION_LEGACY && v != VIO_MMIO_VERSION_MODERN) {
		tlog(t, VIO_LOG_ERR, "virtio-mmio version %u: only 1 (legacy) and 2 are known", v);
		return -ENODEV;
	}
	t->version = v;
	v = rd(t, VIO_MMIO_DEVICE_ID);
	if (v == 0) {
		tlog(t, VIO_LOG_INFO, "virtio-mmio transport without a device (device id 0)");
		return -ENODEV;
	}
	t->vdev.id = v;
	t->vendor_id = rd(t, VIO_MMIO_VENDOR_ID);

	r = set_status(t, 0);
	if (r < 0)
		return r;
	if (legacy(t))
		wr(t, VIO_MMIO_GUEST_PAGE_SIZE, PAGE);
	/* Queues are numbered from 0 up to the first that is absent. */
	while (t->nqueues < VIO_MMIO_DRV_MAX_QUEUES) {
		wr(t, VIO_MMIO_QUEUE_SEL, t->nqueues);
		if (rd(t, VIO_MMIO_QUEUE_NUM_MAX) == 0)
			break;
		t->nqueues++;
	}

	t->ops.version = VIO_TRANSPORT_OPS_VERSION;
	t->ops.get_status = m_get_status;
	t->ops.set_status = m_set_status;
	t->ops.get_features = m_get_features;
	t->ops.set_features = m_set_features;
	t->ops.transport_features = m_transport_features;
	t->ops.config_read = m_config_read;
	t->ops.config_write = m_config_write;
	t->ops.config_generation = m_config_generation;
	t->ops.num_queues = m_num_queues;
	t->ops.queue_max = m_queue_max;
	t->ops.queue_setup = m_queue_setup;
	t->ops.queue_enable = m_queue_enable;
	t->ops.queue_reset = legacy(t) ? NULL : m_queue_reset;
	t->ops.notify = m_notify;
	t->ops.dma_alloc = m_dma_alloc;
	t->ops.dma_free = m_dma_free;
	t->ops.dma_addr = m_dma_addr;
	t->ops.wait = plat->wait_irq ? m_wait : NULL;
	t->ops.legacy_align = legacy(t) ? PAGE : 0;
	t->ops.now_ns = plat->now_ns ? m_now_ns : NULL;
	t->vdev.ops = &t->ops;
	t->vdev.transport = t;
	return 0;
}

void vio_mmio_drv_fini(struct vio_mmio_drv *t)
{
	memset(t, 0, sizeof(*t));
}
