/*
 * ring.c - the layout-independent face of the virtqueue.
 *
 * Every public vio_drvq_* / vio_devq_* call lands here and is passed to the
 * split or packed implementation, so drivers, devices and transports never
 * care which layout a queue has. Sizes and alignments of the ring areas
 * also live here. The algorithms are in one file per side and layout
 * (split_drv.c, split_dev.c, packed_drv.c, packed_dev.c, declared in
 * layouts.h), which never call back into this one; docs/design.md, "The
 * ring", shows the files and what they share.
 */
#include "dev_chain.h"
#include "drv_slots.h"
#include "layouts.h"

static bool is_packed(uint64_t features)
{
	return vio_has_feature(features, VIO_F_RING_PACKED);
}

/* Are the three ring areas at addresses (host or guest) aligned as the
 * layout requires? Checked here once for both sides and layouts. */
static bool areas_aligned(uint64_t features, uint64_t desc, uint64_t driver, uint64_t device)
{
	return desc % vio_ring_desc_align(features) == 0 &&
	       driver % vio_ring_driver_align(features) == 0 &&
	       device % vio_ring_device_align(features) == 0;
}

bool vio_ring_size_valid(uint64_t features, unsigned size)
{
	if (is_packed(features))
		return size >= 1 && size <= VIO_PACKED_MAX_SIZE;
	return size >= 1 && size <= VIO_SPLIT_MAX_SIZE && (size & (size - 1)) == 0;
}

size_t vio_ring_desc_bytes(uint64_t features, unsigned size)
{
	if (is_packed(features))
		return sizeof(struct vio_packed_desc) * (size_t)size;
	return vio_split_desc_size(size);
}

size_t vio_ring_driver_bytes(uint64_t features, unsigned size)
{
	if (is_packed(features))
		return sizeof(struct vio_packed_event);
	return vio_split_avail_size(size);
}

size_t vio_ring_device_bytes(uint64_t features, unsigned size)
{
	if (is_packed(features))
		return sizeof(struct vio_packed_event);
	return vio_split_used_size(size);
}

size_t vio_ring_desc_align(uint64_t features)
{
	return is_packed(features) ? VIO_PACKED_DESC_ALIGN : VIO_SPLIT_DESC_ALIGN;
}

size_t vio_ring_driver_align(uint64_t features)
{
	return is_packed(features) ? VIO_PACKED_EVENT_ALIGN : VIO_SPLIT_AVAIL_ALIGN;
}

size_t vio_ring_device_align(uint64_t features)
{
	return is_packed(features) ? VIO_PACKED_EVENT_ALIGN : VIO_SPLIT_USED_ALIGN;
}

size_t vio_inflight_queue_bytes(int packed, unsigned size)
{
	size_t n = packed ? sizeof(struct vio_inflight_packed) + sizeof(struct vio_inflight_packed_desc) * (size_t)size
			  : sizeof(struct vio_inflight_split) + sizeof(struct vio_inflight_split_desc) * (size_t)size;

	return (n + VIO_INFLIGHT_ALIGN - 1) & ~(size_t)(VIO_INFLIGHT_ALIGN - 1);
}

void vio_ring_legacy_layout(uint64_t base, unsigned size, size_t align, struct vio_ring_addrs *a)
{
	a->desc = base;
	a->driver = base + vio_split_desc_size(size);
	a->device = base + ((vio_split_desc_size(size) + vio_split_avail_size(size) + align - 1) & ~(uint64_t)(align - 1));
}

/* ------------------------------------------------------------------------ */
/* Driver side                                                              */

/* Calls the split or packed half of a driver-side operation. */
#define DRV(q, fn, ...) ((q)->packed ? vio__packed_##fn(__VA_ARGS__) : vio__split_##fn(__VA_ARGS__))

size_t vio_drvq_slots_bytes(unsigned size)
{
	return sizeof(struct vio_drvq_slot) * (size_t)size;
}

int vio_drvq_init(struct vio_drvq *q, const struct vio_drvq_config *cfg)
{
	memset(q, 0, sizeof(*q));
	if (!vio_ring_size_valid(cfg->features, cfg->size) || !cfg->slots ||
	    !cfg->desc || !cfg->driver || !cfg->device)
		return -EINVAL;
	if (!areas_aligned(cfg->features, (uintptr_t)cfg->desc, (uintptr_t)cfg->driver,
			   (uintptr_t)cfg->device))
		return -EINVAL;
	if (cfg->indirect_max && (!cfg->indirect || (uintptr_t)cfg->indirect % 16 ||
				  cfg->indirect_dma % 16 || cfg->indirect_max > VIO_SPLIT_MAX_SIZE))
		return -EINVAL;
	if (is_packed(cfg->features)) {
		/* The packed ring exists only in virtio 1.x. */
		if (!vio_has_feature(cfg->features, VIO_F_VERSION_1))
			return -EINVAL;
		return vio__packed_drv_init(q, cfg);
	}
	return vio__split_drv_init(q, cfg);
}

/*
 * An add() of a buffer with readable parts found the ring full: kick
 * whatever the device said about kicks (see vio_drvq_add() in ring.h).
 * kick_prepare() publishes what was staged and counts a kick the device
 * asked for; one it did not ask for counts as kicks_full.
 */
static int full_ring(struct vio_drvq *q, int r, unsigned out_n)
{
	if (r != -ENOSPC || out_n == 0 || !q->notify || q->broken)
		return r;
	if (!DRV(q, kick_prepare, q))
		vio_stat_inc(&q->stats.kicks_full);
	q->notify(q->opaque);
	return r;
}

int vio_drvq_add(struct vio_drvq *q, const struct vio_sg *out, unsigned out_n,
		 const struct vio_sg *in, unsigned in_n, void *token)
{
	return full_ring(q, DRV(q, add, q, out, out_n, in, in_n, token), out_n);
}

int vio_drvq_add_staged(struct vio_drvq *q, const struct vio_sg *out, unsigned out_n,
			const struct vio_sg *in, unsigned in_n, void *token)
{
	int r = q->packed ? vio__packed_add(q, out, out_n, in, in_n, token) :
			    vio__split_add_staged(q, out, out_n, in, in_n, token);

	return full_ring(q, r, out_n);
}

bool vio_drvq_kick_prepare(struct vio_drvq *q)
{
	return DRV(q, kick_prepare, q);
}

bool vio_drvq_kick(struct vio_drvq *q)
{
	if (!vio_drvq_kick_prepare(q))
		return false;
	if (q->notify)
		q->notify(q->opaque);
	return true;
}

int vio_drvq_get_buf(struct vio_drvq *q, void **token, uint32_t *len)
{
	return DRV(q, get_buf, q, token, len);
}

bool vio_drvq_has_used(struct vio_drvq *q)
{
	return DRV(q, has_used, q);
}

void vio_drvq_disable_cb(struct vio_drvq *q)
{
	if (q->packed)
		vio__packed_disable_cb(q);
	else
		vio__split_disable_cb(q);
}

uint32_t vio_drvq_enable_cb_prepare(struct vio_drvq *q)
{
	return DRV(q, enable_cb_prepare, q);
}

bool vio_drvq_poll(struct vio_drvq *q, uint32_t pos)
{
	return DRV(q, poll, q, pos);
}

bool vio_drvq_enable_cb(struct vio_drvq *q)
{
	return !vio_drvq_poll(q, vio_drvq_enable_cb_prepare(q));
}

bool vio_drvq_enable_cb_delayed(struct vio_drvq *q)
{
	return DRV(q, enable_cb_delayed, q);
}

uint16_t vio_drvq_resume_base(const struct vio_drvq *q)
{
	return q->packed ? vio__packed_resume_base(q) : vio__split_resume_base(q);
}

void *vio_drvq_detach_unused(struct vio_drvq *q)
{
	return vio__drv_detach_one(q);
}

/* ------------------------------------------------------------------------ */
/* Device side                                                              */

#define DEV(q, fn, ...) ((q)->packed ? vio__packed_##fn(__VA_ARGS__) : vio__split_##fn(__VA_ARGS__))

int vio_devq_init(struct vio_devq *q, const struct vio_devq_config *cfg)
{
	memset(q, 0, sizeof(*q));
	if (!vio_ring_size_valid(cfg->features, cfg->size) || !cfg->mem ||
	    cfg->indirect_max > VIO_SPLIT_MAX_SIZE ||
	    !areas_aligned(cfg->features, cfg->addrs.desc, cfg->addrs.driver, cfg->addrs.device))
		return -EINVAL;
	if (is_packed(cfg->features)) {
		if (!vio_has_feature(cfg->features, VIO_F_VERSION_1))
			return -EINVAL;
		return vio__packed_dev_init(q, cfg);
	}
	return vio__split_dev_init(q, cfg);
}

int vio_devq_pop(struct vio_devq *q, struct vio_elem *e)
{
	return DEV(q, pop, q, e);
}

/* Dirty log: what the device wrote into e's buffers, the first len bytes
 * of its writable descriptors, read again from the ring (ring.h). Before
 * fill stages the used entry (a packed one may be written over the
 * chain's own first descriptor), after the device's writes. */
static void log_elem(struct vio_devq *q, const struct vio_elem *e, uint32_t len)
{
	if (e->id >= q->size || len > e->in_len || len == 0)
		return;
	if (q->packed)
		vio__packed_log_elem(q, e, len);
	else
		vio__split_log_elem(q, e, len);
}

int vio_devq_fill(struct vio_devq *q, const struct vio_elem *e, uint32_t len)
{
	if (dev_logging(q))
		log_elem(q, e, len);
	return DEV(q, fill, q, e, len);
}

int vio_devq_fill_in_order(struct vio_devq *q, const struct vio_elem *last, uint32_t len)
{
	/* `last`'s written prefix here; the layouts mark the batch's earlier
	 * chains, which the driver takes as written in full. */
	if (dev_logging(q))
		log_elem(q, last, len);
	return DEV(q, fill_in_order, q, last, len);
}

int vio_devq_flush(struct vio_devq *q)
{
	return DEV(q, flush, q);
}

int vio_devq_push(struct vio_devq *q, const struct vio_elem *e, uint32_t len)
{
	int r = vio_devq_fill(q, e, len);

	return r ? r : vio_devq_flush(q);
}

bool vio_devq_need_interrupt(struct vio_devq *q)
{
	return DEV(q, need_interrupt, q);
}

void vio_devq_kick_disable(struct vio_devq *q)
{
	if (q->packed)
		vio__packed_kick_disable(q);
	else
		vio__split_kick_disable(q);
}

bool vio_devq_kick_enable(struct vio_devq *q)
{
	return DEV(q, kick_enable, q);
}

bool vio_devq_has_avail(struct vio_devq *q)
{
	return DEV(q, has_avail, q);
}

uint16_t vio_devq_avail_base(const struct vio_devq *q)
{
	return q->packed ? vio__packed_avail_base(q) : q->last_avail;
}

uint16_t vio_devq_used_base(const struct vio_devq *q)
{
	return q->packed ? vio__packed_used_base(q) : q->used_idx;
}
