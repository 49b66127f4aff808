/*
 * packed_drv.c - the driver side of the packed virtqueue: writing chains
 * into the descriptor ring, deciding kicks, reaping used descriptors, and
 * the interrupt-suppression calls.
 *
 * The layout and its publishing protocol are in packed.h; the bookkeeping
 * both layouts share (argument checks, the private slots, IN_ORDER
 * batches) in drv_slots.h.
 */
#include "drv_slots.h"
#include "layouts.h"
#include "packed.h"

int vio__packed_drv_init(struct vio_drvq *q, const struct vio_drvq_config *cfg)
{
	vio__drv_init_common(q, cfg);
	q->u.packed.desc = cfg->desc;
	q->u.packed.driver = cfg->driver;
	q->u.packed.device = cfg->device;
	q->u.packed.avail_wrap = true;
	q->u.packed.used_wrap = true;
	q->u.packed.event_flags = VIO_PACKED_EVENT_ENABLE;
	memset(cfg->desc, 0, sizeof(struct vio_packed_desc) * q->size);
	memset(cfg->driver, 0, sizeof(struct vio_packed_event));
	memset(cfg->device, 0, sizeof(struct vio_packed_event));
	return 0;
}

static inline void put_desc(struct vio_packed_desc *d, bool legacy, uint64_t addr, uint32_t len,
			    uint16_t id)
{
	d->addr = vio_set64(legacy, addr);
	d->len = vio_set32(legacy, len);
	d->id = vio_set16(legacy, id);
}

int vio__packed_add(struct vio_drvq *q, const struct vio_sg *out, unsigned out_n,
		    const struct vio_sg *in, unsigned in_n, void *token)
{
	const bool legacy = q->legacy;
	const unsigned n = out_n + in_n;
	struct vio_packed_desc *desc = q->u.packed.desc;
	uint16_t id, head, pos = q->u.packed.next_avail, head_flags;
	bool wrap = q->u.packed.avail_wrap;
	uint32_t in_cap;
	bool indirect;
	unsigned k;
	int needed, r;

	needed = drv_check_add(q, out, out_n, in, in_n, token, &indirect, &in_cap);
	if (needed < 0)
		return needed;
	r = drv_check_window(q, (unsigned)needed);
	if (r < 0)
		return r;
	if (r > 0 && vio__packed_kick_prepare(q))
		q->notify(q->opaque);

	id = drv_take_id(q);
	head = pos;
	if (indirect) {
		size_t off = (size_t)id * q->indirect_max * sizeof(struct vio_packed_desc);
		struct vio_packed_desc *table = (struct vio_packed_desc *)(q->indirect + off);

		/* In a table only WRITE means anything; entries follow in order. */
		for (k = 0; k < n; k++) {
			const struct vio_sg *sg = k < out_n ? &out[k] : &in[k - out_n];

			put_desc(&table[k], legacy, sg->addr, sg->len, 0);
			table[k].flags = vio_set16(legacy, k < out_n ? 0 : VIO_DESC_F_WRITE);
		}
		put_desc(&desc[pos], legacy, q->indirect_dma + off, (uint32_t)(n * sizeof(*table)), id);
		head_flags = VIO_DESC_F_INDIRECT | avail_bits(wrap);
		advance(&pos, &wrap, 1, q->size);
	} else {
		head_flags = 0;
		for (k = 0; k < n; k++) {
			const struct vio_sg *sg = k < out_n ? &out[k] : &in[k - out_n];
			uint16_t f = (k < out_n ? 0 : VIO_DESC_F_WRITE) |
				     (k + 1 < n ? VIO_DESC_F_NEXT : 0) | avail_bits(wrap);

			/* The id goes in every descriptor; the device reads
			 * it from the last. */
			put_desc(&desc[pos], legacy, sg->addr, sg->len, id);
			if (k == 0)
				head_flags = f;
			else
				st16(&desc[pos].flags, legacy, f);
			advance(&pos, &wrap, 1, q->size);
		}
	}
	/* Publish: the whole chain becomes visible with the head's flags.
	 * Pairs with the acquire in the device's pop. */
	st16_release(&desc[head].flags, legacy, head_flags);

	drv_record(q, id, token, in_cap, (uint16_t)needed, id);
	q->u.packed.next_avail = pos;
	q->u.packed.avail_wrap = wrap;
	q->num_added = (uint16_t)(q->num_added + needed);
	return 0;
}

bool vio__packed_kick_prepare(struct vio_drvq *q)
{
	unsigned moved = q->num_added;
	bool needed;

	/* Our head flags store must be visible before we read the device's
	 * event structure. Pairs with the barrier in the device's kick_enable
	 * (and pop's idle path). */
	full_barrier();
	q->num_added = 0;
	if (q->broken || moved == 0)
		return false;   /* nothing new: no kick, and nothing to count */
	needed = event_wanted(ld_event(q->u.packed.device, q->legacy), q->event_idx,
			      q->u.packed.next_avail, q->u.packed.avail_wrap, moved, q->size);
	return count_kick(&q->stats, needed);
}

static inline uint16_t used_pos_wrap(const struct vio_drvq *q)
{
	return pos_wrap(q->last_used, q->u.packed.used_wrap);
}

int vio__packed_get_buf(struct vio_drvq *q, void **token, uint32_t *len)
{
	const bool legacy = q->legacy;
	uint16_t id;
	bool done;
	int r;

	if (q->broken)
		return -EIO;
	if (q->batch_pending) {
		id = drv_next_in_batch(q, token, len, &done);
	} else {
		struct vio_packed_desc *d = &q->u.packed.desc[q->last_used];
		uint16_t flags;
		uint32_t l;

		/* Acquire: id and len are written before the flags. Pairs with
		 * the release in the device's flush. Anything but both bits
		 * at our wrap counter (including inconsistent bits a broken
		 * device wrote) is "not used yet": nothing here can spin. */
		flags = ld16_acquire(&d->flags, legacy);
		if (!is_used(flags, q->u.packed.used_wrap))
			return -EAGAIN;
		id = ld16(&d->id, legacy);
		l = ld32(&d->len, legacy);
		r = drv_take_used(q, id, l, token, len, &done);
		if (r < 0)
			return r;
		id = (uint16_t)r;
	}
	/* The device skips as many positions as the buffer had descriptors;
	 * for an IN_ORDER batch, the sum over the batch. */
	advance(&q->last_used, &q->u.packed.used_wrap, q->slots[id].ndescs, q->size);

	/* With EVENT_IDX interrupts on, keep the event at the next position
	 * we expect; ordered before our next flags load as in split.c. */
	if (done && q->u.packed.event_flags == VIO_PACKED_EVENT_DESC) {
		st16(&q->u.packed.driver->off_wrap, legacy, used_pos_wrap(q));
		full_barrier();
	}
	return 0;
}

bool vio__packed_has_used(struct vio_drvq *q)
{
	if (q->broken)
		return false;
	return q->batch_pending ||
	       is_used(ld16_acquire(&q->u.packed.desc[q->last_used].flags, q->legacy), q->u.packed.used_wrap);
}

void vio__packed_disable_cb(struct vio_drvq *q)
{
	if (q->u.packed.event_flags == VIO_PACKED_EVENT_DISABLE)
		return;
	q->u.packed.event_flags = VIO_PACKED_EVENT_DISABLE;
	st16(&q->u.packed.driver->flags, q->legacy, VIO_PACKED_EVENT_DISABLE);
}

/* Turns interrupts on, for the position `pos_wrap` with EVENT_IDX. */
static void enable_interrupts(struct vio_drvq *q, uint16_t pos_wrap)
{
	q->u.packed.event_flags = q->event_idx ? VIO_PACKED_EVENT_DESC : VIO_PACKED_EVENT_ENABLE;
	st_event(q->u.packed.driver, q->legacy, pos_wrap, q->u.packed.event_flags);
}

uint32_t vio__packed_enable_cb_prepare(struct vio_drvq *q)
{
	enable_interrupts(q, used_pos_wrap(q));
	return used_pos_wrap(q);
}

bool vio__packed_poll(struct vio_drvq *q, uint32_t pos)
{
	uint16_t off = (uint16_t)(pos & ~WRAP_BIT);

	/* Pairs with the barrier in the device's need_interrupt. */
	full_barrier();
	if (q->broken || off >= q->size)
		return false;
	return q->batch_pending ||
	       is_used(ld16(&q->u.packed.desc[off].flags, q->legacy), !!(pos & WRAP_BIT));
}

bool vio__packed_enable_cb_delayed(struct vio_drvq *q)
{
	uint16_t pos = q->last_used;
	bool wrap = q->u.packed.used_wrap;

	/* About 3/4 of the outstanding descriptors ahead. */
	if (q->event_idx)
		advance(&pos, &wrap, (q->size - q->num_free) * 3 / 4, q->size);
	enable_interrupts(q, pos_wrap(pos, wrap));
	full_barrier(); /* as in poll() */
	if (q->broken)
		return false;
	return !q->batch_pending &&
	       !is_used(ld16(&q->u.packed.desc[q->last_used].flags, q->legacy), q->u.packed.used_wrap);
}

uint16_t vio__packed_resume_base(const struct vio_drvq *q)
{
	const bool legacy = q->legacy;
	uint16_t pos = q->last_used, cursor = q->order_head;
	bool wrap = q->u.packed.used_wrap;

	if (q->in_order && q->batch_pending)
		(void)vio__drv_order_skip_to(q, &cursor, q->batch_id, &pos, &wrap);
	for (unsigned steps = 0; steps < q->size; steps++) {
		const struct vio_packed_desc *d = &q->u.packed.desc[pos];
		uint16_t flags = ld16(&d->flags, legacy), id;
		if (!is_used(flags, wrap))
			break; /* not used: the old backend stopped here */
		id = ld16(&d->id, legacy);
		if (id >= q->size || !q->slots[id].token)
			break;
		if (q->in_order) {
			if (!vio__drv_order_skip_to(q, &cursor, id, &pos, &wrap))
				break;
		} else {
			advance(&pos, &wrap, q->slots[id].ndescs, q->size);
		}
	}
	return pos_wrap(pos, wrap);
}
