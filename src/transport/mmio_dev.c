/*
 * mmio_dev.c - the virtio-mmio register model a VMM puts in front of a
 * libvio device model (virtio 1.x 4.2; the API is vio/transport/mmio.h).
 *
 * The guest's loads and stores arrive as (offset, width, value). Each is
 * decoded here and becomes a device-model call, after the checks the
 * device model cannot make because it never sees registers: the access's
 * width and alignment, which version has the register, whether QueueSel
 * names a queue, and whether the status phase allows the write (features
 * between DRIVER and FEATURES_OK, queue setup between FEATURES_OK and
 * DRIVER_OK, or after DRIVER_OK on a queue reset with RING_RESET).
 * Whatever fails a check is dropped, logged and counted, never trusted:
 * the guest is not.
 *
 * The model holds what the guest writes before the device model can take
 * it: the 64-bit driver features, assembled from two 32-bit halves, go to
 * vio_dev_set_features() at FEATURES_OK (version 1, which has no
 * FEATURES_OK: at the first queue set up or at DRIVER_OK); a queue's size
 * and ring addresses go to vio_dev_queue_set() when the guest writes
 * QueueReady (version 1: QueuePFN).
 *
 * Interrupts: InterruptStatus is an atomic word here, since the device's
 * queues raise from their threads while the guest acks from a vCPU.
 */
#include <errno.h>
#include <string.h>

#include "vio/transport/mmio.h"

/* ------------------------------------------------------------------------ */
/* Logging: every access dropped says why (the first ones)                 */

static void drop(struct vio_mmio_dev *m, const char *fmt, ...) VIO_PRINTF(2, 3);

/* A guest can make accesses as fast as it likes: the first
 * VIO_MMIO_LOG_IGNORED are logged, all are counted. */
#define VIO_MMIO_LOG_IGNORED 32u

static void drop(struct vio_mmio_dev *m, const char *fmt, ...)
{
	va_list ap;

	if (__atomic_fetch_add(&m->ignored, 1, __ATOMIC_RELAXED) >= VIO_MMIO_LOG_IGNORED)
		return;
	va_start(ap, fmt);
	vio_vlogf(m->dev->log, m->dev->log_opaque, VIO_LOG_WARN, "virtio-mmio: ", fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* Interrupts                                                               */

/*
 * Tells the VMM the line's level: `level` first (a raise is told even when
 * the line is high already, so that an edge-style VMM injects each), then
 * again for as long as InterruptStatus, read after the call, says
 * otherwise. A queue thread's raise and a vCPU's ack may reach the VMM in
 * either order, each with the level it saw; whichever call comes last is
 * followed by its own look at the status, and any change after that look
 * is followed by the changer's call. So the last level the VMM is told is
 * the status's (the seq_cst accesses pair with the fetch_or and fetch_and
 * below).
 */
static void tell_line(struct vio_mmio_dev *m, bool level)
{
	for (;;) {
		bool now;

		m->opts.irq(m->opts.opaque, level);
		now = __atomic_load_n(&m->int_status, __ATOMIC_SEQ_CST) != 0;
		if (now == level)
			return;
		level = now;
	}
}

static void raise_bits(struct vio_mmio_dev *m, uint32_t bits)
{
	__atomic_fetch_or(&m->int_status, bits, __ATOMIC_SEQ_CST);
	tell_line(m, true);
}

static void mmio_interrupt(void *opaque, unsigned qi)
{
	(void)qi; /* the line is one for all queues: the guest scans them */
	raise_bits(opaque, VIO_MMIO_INT_VRING);
}

static void mmio_config_interrupt(void *opaque)
{
	raise_bits(opaque, VIO_MMIO_INT_CONFIG);
}

static void ack(struct vio_mmio_dev *m, uint32_t bits)
{
	uint32_t old = __atomic_fetch_and(&m->int_status, ~bits, __ATOMIC_SEQ_CST);

	/* The line goes low only when this ack took the last bit. */
	if (old == 0 || (old & ~bits) != 0)
		return;
	tell_line(m, false);
}

uint32_t vio_mmio_dev_int_status(const struct vio_mmio_dev *m)
{
	return __atomic_load_n(&m->int_status, __ATOMIC_SEQ_CST);
}

/* ------------------------------------------------------------------------ */
/* State                                                                    */

static uint8_t status(const struct vio_mmio_dev *m)
{
	return vio_dev_get_status(m->dev);
}

static bool legacy(const struct vio_mmio_dev *m)
{
	return m->version == VIO_MMIO_VERSION_LEGACY;
}

/* Features the device offers through this transport. Version 1 has the
 * legacy interface's 32 bits (no VERSION_1, so no packed ring either);
 * version 2 all but NOTIFICATION_DATA, which would change what QueueNotify
 * carries. */
static uint64_t offered(const struct vio_mmio_dev *m)
{
	uint64_t f = vio_dev_get_features(m->dev);

	if (legacy(m))
		return f & UINT32_MAX;
	return f & ~VIO_BIT(VIO_F_NOTIFICATION_DATA);
}

/* The queue registers as after a reset. */
static void queue_regs_reset(struct vio_mmio_dev *m, unsigned qi)
{
	struct vio__mmio_queue *q = &m->q[qi];

	memset(q, 0, sizeof(*q));
	q->num = vio_dev_queue_max(m->dev, qi);
	q->align = VIO_LEGACY_VRING_ALIGN;
}

/* Status 0: everything but GuestPageSize, which Linux writes once at probe,
 * before the reset that starts each driver's life. */
static void regs_reset(struct vio_mmio_dev *m)
{
	m->dev_features_sel = m->drv_features_sel = m->queue_sel = m->shm_sel = 0;
	m->drv_features = 0;
	m->features_done = false;
	memset(m->early_kicks, 0, sizeof(m->early_kicks));
	for (unsigned i = 0; i < m->dev->num_queues; i++)
		queue_regs_reset(m, i);
	if (__atomic_exchange_n(&m->int_status, 0, __ATOMIC_SEQ_CST))
		m->opts.irq(m->opts.opaque, false);
}

/* Hands the driver's features to the device model. Version 2 (at
 * FEATURES_OK): all or nothing, the device model refusing bits never
 * offered. Version 1 has no way to refuse, so bits never offered are
 * dropped, as QEMU does. */
static int commit_features(struct vio_mmio_dev *m)
{
	uint64_t f = m->drv_features;
	int r;

	if (m->features_done)
		return 0;
	if (legacy(m)) {
		if (f & ~offered(m))
			drop(m, "driver features %#llx were never offered: dropped",
			     (unsigned long long)(f & ~offered(m)));
		f &= offered(m);
	} else if (f & ~offered(m)) {
		drop(m, "FEATURES_OK with features %#llx never offered",
		     (unsigned long long)(f & ~offered(m)));
		return -EINVAL;
	}
	r = vio_dev_set_features(m->dev, f);
	if (r < 0) {
		drop(m, "the device refused features %#llx", (unsigned long long)f);
		return r;
	}
	m->features_done = true;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Status                                                                   */

/* Kicks that came before DRIVER_OK reach the queues now live, so that a
 * driver that kicked early still gets served. */
static void replay_early_kicks(struct vio_mmio_dev *m)
{
	for (unsigned qi = 0; qi < m->dev->num_queues; qi++) {
		uint64_t bit = UINT64_C(1) << (qi % 64);

		if (!(m->early_kicks[qi / 64] & bit))
			continue;
		m->early_kicks[qi / 64] &= ~bit;
		if (!vio_dev_queue_live(m->dev, qi))
			continue;
		if (m->opts.notify)
			m->opts.notify(m->opts.opaque, qi);
		else
			vio_dev_notify(m->dev, qi);
	}
}

static void write_status(struct vio_mmio_dev *m, uint32_t value)
{
	uint8_t s = (uint8_t)value, old = status(m);
	int r;

	if (value > 0xff) {
		drop(m, "status %#x has bits above the low byte", value);
		return;
	}
	if (s == 0) {
		(void)vio_dev_set_status(m->dev, 0);
		regs_reset(m);
		return;
	}
	if ((s & VIO_STATUS_FEATURES_OK) && !(old & VIO_STATUS_FEATURES_OK)) {
		if (legacy(m)) {
			drop(m, "FEATURES_OK on a version 1 device");
			s &= (uint8_t)~VIO_STATUS_FEATURES_OK;
		} else if (!(s & VIO_STATUS_DRIVER) || commit_features(m) < 0) {
			/* Refused: the rest of the write is taken, and the
			 * driver reads FEATURES_OK back clear. */
			s &= (uint8_t)~VIO_STATUS_FEATURES_OK;
		}
	}
	if (legacy(m) && (s & VIO_STATUS_DRIVER_OK) && !(old & VIO_STATUS_DRIVER_OK) &&
	    (s & VIO_STATUS_DRIVER))
		(void)commit_features(m);
	r = vio_dev_set_status(m->dev, s);
	if (r < 0) {
		drop(m, "status %#x not allowed after %#x", s, old);
		return;
	}
	if ((s & VIO_STATUS_DRIVER_OK) && !(old & VIO_STATUS_DRIVER_OK))
		replay_early_kicks(m);
}

/* ------------------------------------------------------------------------ */
/* Queues                                                                   */

/* The selected queue's registers, or NULL (logged) when QueueSel names no
 * queue. */
static struct vio__mmio_queue *selected(struct vio_mmio_dev *m, const char *reg)
{
	if (m->queue_sel >= m->dev->num_queues) {
		drop(m, "%s of queue %u, which does not exist", reg, m->queue_sel);
		return NULL;
	}
	return &m->q[m->queue_sel];
}

/* May the guest set up the selected queue now? Version 2: after
 * FEATURES_OK and before DRIVER_OK, or after it on a queue that was reset
 * alone (RING_RESET). Version 1: after DRIVER and before DRIVER_OK. */
static bool setup_phase(struct vio_mmio_dev *m, const struct vio__mmio_queue *q, const char *reg)
{
	uint8_t s = status(m);
	bool ok;

	if (s & (VIO_STATUS_FAILED | VIO_STATUS_NEEDS_RESET))
		ok = false;
	else if (legacy(m))
		ok = (s & VIO_STATUS_DRIVER) && !(s & VIO_STATUS_DRIVER_OK);
	else if (!(s & VIO_STATUS_FEATURES_OK))
		ok = false;
	else if (!(s & VIO_STATUS_DRIVER_OK))
		ok = true;
	else
		ok = vio_has_feature(m->dev->features, VIO_F_RING_RESET) && !q->ready;
	if (!ok)
		drop(m, "%s of queue %u with status %#x: not in the queue setup phase", reg,
		     m->queue_sel, s);
	else if (q->ready)
		drop(m, "%s of queue %u while it is in use", reg, m->queue_sel);
	return ok && !q->ready;
}

static void write_queue_num(struct vio_mmio_dev *m, uint32_t value)
{
	struct vio__mmio_queue *q = selected(m, "QueueNum");
	unsigned max;

	if (!q || !setup_phase(m, q, "QueueNum"))
		return;
	max = vio_dev_queue_max(m->dev, m->queue_sel);
	/* Version 1 rings are always split; version 2 knows its layout, the
	 * features being set by now. A bad size is remembered as none, so
	 * the queue cannot go live on a size the driver did not ask for. */
	if (value == 0 || value > max ||
	    !vio_ring_size_valid(legacy(m) ? 0 : m->dev->features, value)) {
		drop(m, "QueueNum %u of queue %u: not a valid size (max %u)", value, m->queue_sel,
		     max);
		q->num = 0;
		return;
	}
	q->num = value;
}

/* The device model takes the selected queue: its size and rings, then
 * enable. Rings outside the guest's memory make the device model set
 * NEEDS_RESET; the queue then stays not ready. */
static bool queue_go(struct vio_mmio_dev *m, struct vio__mmio_queue *q,
		     const struct vio_ring_addrs *a)
{
	unsigned qi = m->queue_sel;
	int r;

	if (q->num == 0) {
		drop(m, "queue %u enabled without a valid QueueNum", qi);
		return false;
	}
	r = vio_dev_queue_set(m->dev, qi, q->num, a);
	if (r == 0)
		r = vio_dev_queue_enable(m->dev, qi);
	if (r < 0) {
		drop(m, "queue %u could not be enabled: %s", qi, vio_strerror(r));
		(void)vio_dev_queue_stop(m->dev, qi, NULL, NULL);
		return false;
	}
	q->ready = true;
	return true;
}

static void write_queue_ready(struct vio_mmio_dev *m, uint32_t value)
{
	struct vio__mmio_queue *q = selected(m, "QueueReady");
	struct vio_ring_addrs a;

	if (!q)
		return;
	if (value == 0) {
		/* Giving a queue up: allowed only while the device is not
		 * running it (a live queue stops by reset or QueueReset). */
		if (!q->ready)
			return;
		if (status(m) & VIO_STATUS_DRIVER_OK) {
			drop(m, "QueueReady 0 of live queue %u: use a reset", m->queue_sel);
			return;
		}
		(void)vio_dev_queue_stop(m->dev, m->queue_sel, NULL, NULL);
		q->ready = false;
		return;
	}
	if (value != 1) {
		drop(m, "QueueReady %u of queue %u", value, m->queue_sel);
		return;
	}
	if (!setup_phase(m, q, "QueueReady"))
		return;
	a.desc = q->desc;
	a.driver = q->driver;
	a.device = q->device;
	(void)queue_go(m, q, &a);
}

static void write_queue_reset(struct vio_mmio_dev *m, uint32_t value)
{
	struct vio__mmio_queue *q = selected(m, "QueueReset");
	unsigned qi = m->queue_sel;

	if (!q)
		return;
	if (!vio_has_feature(m->dev->features, VIO_F_RING_RESET)) {
		drop(m, "QueueReset without RING_RESET negotiated");
		return;
	}
	if (value != 1) {
		drop(m, "QueueReset %u of queue %u", value, qi);
		return;
	}
	/* Synchronous: QueueReset reads 0 again at once, and QueueReady 0. */
	(void)vio_dev_queue_reset(m->dev, qi);
	queue_regs_reset(m, qi);
}

/* Version 2's 64-bit ring addresses, one half at a time. */
enum ring_area { AREA_DESC, AREA_DRIVER, AREA_DEVICE };

static void write_addr_half(struct vio_mmio_dev *m, enum ring_area area, bool high, uint32_t value)
{
	static const char *const names[] = { "QueueDesc", "QueueDriver", "QueueDevice" };
	struct vio__mmio_queue *q = selected(m, names[area]);
	uint64_t *field;

	if (!q || !setup_phase(m, q, names[area]))
		return;
	field = area == AREA_DESC ? &q->desc : area == AREA_DRIVER ? &q->driver : &q->device;
	if (high)
		*field = (*field & UINT32_MAX) | ((uint64_t)value << 32);
	else
		*field = (*field & ~(uint64_t)UINT32_MAX) | value;
}

static void write_queue_align(struct vio_mmio_dev *m, uint32_t value)
{
	struct vio__mmio_queue *q = selected(m, "QueueAlign");

	if (!q || !setup_phase(m, q, "QueueAlign"))
		return;
	/* The used ring holds 32-bit words; past a page the block grows
	 * for nothing. */
	if (value < 4 || value > 65536 || (value & (value - 1))) {
		drop(m, "QueueAlign %u of queue %u: not a power of two in 4..65536", value,
		     m->queue_sel);
		return;
	}
	q->align = value;
}

static void write_queue_pfn(struct vio_mmio_dev *m, uint32_t value)
{
	struct vio__mmio_queue *q = selected(m, "QueuePFN");
	struct vio_ring_addrs a;

	if (!q)
		return;
	if (value == 0) {
		/* The legacy way to release a queue. A live one stops too:
		 * the legacy interface has no other. */
		if (q->ready) {
			(void)vio_dev_queue_stop(m->dev, m->queue_sel, NULL, NULL);
			q->ready = false;
			q->pfn = 0;
		}
		return;
	}
	if (!setup_phase(m, q, "QueuePFN"))
		return;
	/* The ring layout depends on the features (EVENT_IDX): they are
	 * final once a queue is set up. */
	if (commit_features(m) < 0)
		return;
	/* At most 2^32 pages of at most 2^31 bytes: fits 64 bits. */
	vio_ring_legacy_layout((uint64_t)value * m->page_size, q->num ? q->num : 1, q->align, &a);
	if (queue_go(m, q, &a))
		q->pfn = value;
}

static void notify(struct vio_mmio_dev *m, uint32_t qi)
{
	uint8_t s = status(m);

	if (qi >= m->dev->num_queues) {
		drop(m, "kick of queue %u, which does not exist", qi);
		return;
	}
	if (!(s & VIO_STATUS_DRIVER_OK)) {
		/* Served once the queue is live (replay_early_kicks). */
		m->early_kicks[qi / 64] |= UINT64_C(1) << (qi % 64);
		drop(m, "kick of queue %u before DRIVER_OK: kept for later", qi);
		return;
	}
	if (!vio_dev_queue_live(m->dev, qi)) {
		drop(m, "kick of queue %u, which is not live", qi);
		return;
	}
	if (m->opts.notify)
		m->opts.notify(m->opts.opaque, qi);
	else
		vio_dev_notify(m->dev, qi);
}

/* ------------------------------------------------------------------------ */
/* Config space                                                             */

/* [off, off + width) inside config space, and aligned to its width, as the
 * spec asks of drivers (4.2.2.2). */
static bool config_ok(struct vio_mmio_dev *m, uint64_t rel, unsigned width, const char *what)
{
	if (width != 1 && width != 2 && width != 4) {
		drop(m, "config %s of width %u", what, width);
		return false;
	}
	if (rel % width) {
		drop(m, "config %s of width %u at unaligned offset %#llx", what, width,
		     (unsigned long long)rel);
		return false;
	}
	if (rel >= m->dev->config_len || width > m->dev->config_len - rel) {
		drop(m, "config %s of %u bytes at %#llx, past its end (%u bytes)", what, width,
		     (unsigned long long)rel, m->dev->config_len);
		return false;
	}
	return true;
}

/* Modern config space is little-endian; legacy the device's native order,
 * which the register value then carries as it is. */
static uint32_t config_read(struct vio_mmio_dev *m, uint64_t rel, unsigned width)
{
	uint8_t b[4] = { 0 };
	uint32_t v = 0;

	if (!config_ok(m, rel, width, "read"))
		return 0;
	(void)vio_dev_config_read(m->dev, (unsigned)rel, b, width);
	if (legacy(m) || m->dev->legacy) {
		uint8_t v8;
		uint16_t v16;

		switch (width) {
		case 1: memcpy(&v8, b, 1); return v8;
		case 2: memcpy(&v16, b, 2); return v16;
		default: memcpy(&v, b, 4); return v;
		}
	}
	for (unsigned i = 0; i < width; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return v;
}

static void config_write(struct vio_mmio_dev *m, uint64_t rel, unsigned width, uint32_t value)
{
	uint8_t b[4];
	int r;

	if (!config_ok(m, rel, width, "write"))
		return;
	if (legacy(m) || m->dev->legacy) {
		uint8_t v8 = (uint8_t)value;
		uint16_t v16 = (uint16_t)value;

		switch (width) {
		case 1: memcpy(b, &v8, 1); break;
		case 2: memcpy(b, &v16, 2); break;
		default: memcpy(b, &value, 4); break;
		}
	} else {
		for (unsigned i = 0; i < width; i++)
			b[i] = (uint8_t)(value >> (8 * i));
	}
	r = vio_dev_config_write(m->dev, (unsigned)rel, b, width);
	if (r < 0)
		drop(m, "config write at %#llx refused: %s", (unsigned long long)rel,
		     vio_strerror(r));
}

/* ------------------------------------------------------------------------ */
/* The decoder                                                              */

/* Registers of one version only. */
static bool v1_only(uint64_t off)
{
	return off == VIO_MMIO_GUEST_PAGE_SIZE || off == VIO_MMIO_QUEUE_ALIGN ||
	       off == VIO_MMIO_QUEUE_PFN;
}

static bool v2_only(uint64_t off)
{
	return off == VIO_MMIO_QUEUE_READY || off == VIO_MMIO_CONFIG_GENERATION ||
	       (off >= VIO_MMIO_QUEUE_DESC_LOW && off <= VIO_MMIO_QUEUE_RESET);
}

/* A register access (below VIO_MMIO_CONFIG) that may go on. */
static bool reg_ok(struct vio_mmio_dev *m, uint64_t off, unsigned width, const char *what)
{
	if (width != 4 || (off & 3)) {
		drop(m, "%s of width %u at %#llx: registers take aligned 32-bit accesses", what,
		     width, (unsigned long long)off);
		return false;
	}
	if ((legacy(m) && v2_only(off)) || (!legacy(m) && v1_only(off))) {
		drop(m, "%s at %#llx: no such register in version %u", what,
		     (unsigned long long)off, m->version);
		return false;
	}
	return true;
}

static uint32_t queue_reg_read(struct vio_mmio_dev *m, uint64_t off)
{
	const struct vio__mmio_queue *q;

	/* QueueNumMax of a queue that does not exist reads 0 (the spec's
	 * "not available"): not an error, it is how drivers count queues. */
	if (m->queue_sel >= m->dev->num_queues) {
		if (off != VIO_MMIO_QUEUE_NUM_MAX)
			drop(m, "read %#llx of queue %u, which does not exist",
			     (unsigned long long)off, m->queue_sel);
		return 0;
	}
	q = &m->q[m->queue_sel];
	switch (off) {
	case VIO_MMIO_QUEUE_NUM_MAX: return vio_dev_queue_max(m->dev, m->queue_sel);
	case VIO_MMIO_QUEUE_READY: return q->ready;
	case VIO_MMIO_QUEUE_PFN: return q->ready ? q->pfn : 0;
	default: return 0; /* QueueReset: resets are synchronous */
	}
}

uint32_t vio_mmio_dev_read(struct vio_mmio_dev *m, uint64_t off, unsigned width)
{
	if (off >= VIO_MMIO_CONFIG)
		return config_read(m, off - VIO_MMIO_CONFIG, width);
	if (!reg_ok(m, off, width, "read"))
		return 0;
	switch (off) {
	case VIO_MMIO_MAGIC_VALUE: return VIO_MMIO_MAGIC;
	case VIO_MMIO_VERSION: return m->version;
	case VIO_MMIO_DEVICE_ID: return m->dev->device_id;
	case VIO_MMIO_VENDOR_ID: return m->opts.vendor_id;
	case VIO_MMIO_DEVICE_FEATURES:
		if (m->dev_features_sel > 1)
			return 0;
		return (uint32_t)(offered(m) >> (32 * m->dev_features_sel));
	case VIO_MMIO_QUEUE_NUM_MAX:
	case VIO_MMIO_QUEUE_READY:
	case VIO_MMIO_QUEUE_PFN:
	case VIO_MMIO_QUEUE_RESET:
		return queue_reg_read(m, off);
	case VIO_MMIO_INTERRUPT_STATUS: return vio_mmio_dev_int_status(m);
	case VIO_MMIO_STATUS: return status(m);
	case VIO_MMIO_SHM_LEN_LOW:
	case VIO_MMIO_SHM_LEN_HIGH:
	case VIO_MMIO_SHM_BASE_LOW:
	case VIO_MMIO_SHM_BASE_HIGH:
		return UINT32_MAX; /* no shared memory regions: length -1 */
	case VIO_MMIO_CONFIG_GENERATION: return vio_dev_config_generation(m->dev);
	default:
		drop(m, "read of %#llx: not a readable register", (unsigned long long)off);
		return 0;
	}
}

static void write_driver_features(struct vio_mmio_dev *m, uint32_t value)
{
	uint8_t s = status(m);
	unsigned sh;

	if (m->drv_features_sel > 1) {
		drop(m, "DriverFeatures with DriverFeaturesSel %u", m->drv_features_sel);
		return;
	}
	if (!(s & VIO_STATUS_DRIVER) || m->features_done ||
	    (s & (VIO_STATUS_FEATURES_OK | VIO_STATUS_DRIVER_OK | VIO_STATUS_FAILED))) {
		drop(m, "DriverFeatures with status %#x: not the feature phase", s);
		return;
	}
	sh = 32 * m->drv_features_sel;
	m->drv_features = (m->drv_features & ~((uint64_t)UINT32_MAX << sh)) | ((uint64_t)value << sh);
}

static void write_page_size(struct vio_mmio_dev *m, uint32_t value)
{
	if (value == 0 || (value & (value - 1)) || value > (UINT32_C(1) << 31)) {
		drop(m, "GuestPageSize %u: not a power of two", value);
		return;
	}
	if (status(m) & VIO_STATUS_DRIVER_OK) {
		drop(m, "GuestPageSize after DRIVER_OK");
		return;
	}
	m->page_size = value;
}

void vio_mmio_dev_write(struct vio_mmio_dev *m, uint64_t off, unsigned width, uint32_t value)
{
	if (off >= VIO_MMIO_CONFIG) {
		config_write(m, off - VIO_MMIO_CONFIG, width, value);
		return;
	}
	if (!reg_ok(m, off, width, "write"))
		return;
	switch (off) {
	case VIO_MMIO_DEVICE_FEATURES_SEL: m->dev_features_sel = value; break;
	case VIO_MMIO_DRIVER_FEATURES: write_driver_features(m, value); break;
	case VIO_MMIO_DRIVER_FEATURES_SEL: m->drv_features_sel = value; break;
	case VIO_MMIO_GUEST_PAGE_SIZE: write_page_size(m, value); break;
	case VIO_MMIO_QUEUE_SEL: m->queue_sel = value; break;
	case VIO_MMIO_QUEUE_NUM: write_queue_num(m, value); break;
	case VIO_MMIO_QUEUE_ALIGN: write_queue_align(m, value); break;
	case VIO_MMIO_QUEUE_PFN: write_queue_pfn(m, value); break;
	case VIO_MMIO_QUEUE_READY: write_queue_ready(m, value); break;
	case VIO_MMIO_QUEUE_NOTIFY: notify(m, value); break;
	case VIO_MMIO_INTERRUPT_ACK: ack(m, value & (VIO_MMIO_INT_VRING | VIO_MMIO_INT_CONFIG)); break;
	case VIO_MMIO_STATUS: write_status(m, value); break;
	case VIO_MMIO_QUEUE_DESC_LOW:
	case VIO_MMIO_QUEUE_DESC_HIGH:
		write_addr_half(m, AREA_DESC, off == VIO_MMIO_QUEUE_DESC_HIGH, value);
		break;
	case VIO_MMIO_QUEUE_DRIVER_LOW:
	case VIO_MMIO_QUEUE_DRIVER_HIGH:
		write_addr_half(m, AREA_DRIVER, off == VIO_MMIO_QUEUE_DRIVER_HIGH, value);
		break;
	case VIO_MMIO_QUEUE_DEVICE_LOW:
	case VIO_MMIO_QUEUE_DEVICE_HIGH:
		write_addr_half(m, AREA_DEVICE, off == VIO_MMIO_QUEUE_DEVICE_HIGH, value);
		break;
	case VIO_MMIO_SHM_SEL: m->shm_sel = value; break;
	case VIO_MMIO_QUEUE_RESET: write_queue_reset(m, value); break;
	default:
		drop(m, "write of %#x to %#llx: not a writable register", value,
		     (unsigned long long)off);
		break;
	}
}

/* ------------------------------------------------------------------------ */
/* Lifecycle                                                                */

int vio_mmio_dev_init(struct vio_mmio_dev *m, struct vio_dev_model *d,
		      const struct vio_mmio_dev_opts *o)
{
	memset(m, 0, sizeof(*m));
	if (!d || !o || !o->irq || d->num_queues > VIO_MMIO_MAX_QUEUES)
		return -EINVAL;
	if (o->version == VIO_MMIO_VERSION_LEGACY) {
		if (!d->legacy_ok)
			return -EINVAL;
	} else if (o->version == VIO_MMIO_VERSION_MODERN) {
		if (!vio_has_feature(d->host_features, VIO_F_VERSION_1))
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	m->dev = d;
	m->version = o->version;
	m->opts = *o;
	if (!m->opts.vendor_id)
		m->opts.vendor_id = VIO_MMIO_VENDOR_LIBVIO;
	m->page_size = 4096;
	m->transport.version = VIO_DEV_TRANSPORT_VERSION;
	m->transport.interrupt = mmio_interrupt;
	m->transport.config_interrupt = mmio_config_interrupt;
	d->transport = &m->transport;
	d->transport_opaque = m;
	(void)vio_dev_set_status(d, 0);
	regs_reset(m);
	return 0;
}

void vio_mmio_dev_fini(struct vio_mmio_dev *m)
{
	if (!m->dev)
		return;
	(void)vio_dev_set_status(m->dev, 0);
	m->dev->transport = NULL;
	m->dev->transport_opaque = NULL;
	m->dev = NULL;
}
