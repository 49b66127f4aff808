/*
 * split_drv.c - the driver side of the split virtqueue: posting buffers
 * into the descriptor table and avail ring, deciding kicks, reaping the
 * used ring, and the interrupt-suppression calls.
 *
 * The layout and its publishing protocol are in split.h; the bookkeeping
 * both layouts share (argument checks, the private slots, IN_ORDER
 * batches) in drv_slots.h.
 */
#include "drv_slots.h"
#include "event.h"
#include "layouts.h"
#include "split.h"

static inline vio_le16 *used_event(struct vio_drvq *q)
{
	return split_used_event(q->u.split.avail, q->size);
}

static inline vio_le16 *avail_event(struct vio_drvq *q)
{
	return split_avail_event(q->u.split.used, q->size);
}

int vio__split_drv_init(struct vio_drvq *q, const struct vio_drvq_config *cfg)
{
	vio__drv_init_common(q, cfg);
	q->u.split.desc = cfg->desc;
	q->u.split.avail = cfg->driver;
	q->u.split.used = cfg->device;
	memset(cfg->desc, 0, vio_split_desc_size(q->size));
	memset(cfg->driver, 0, vio_split_avail_size(q->size));
	memset(cfg->device, 0, vio_split_used_size(q->size));
	return 0;
}

/* Writes one descriptor. The link comes from our private free list, never
 * from the shared table. */
static inline void put_desc(struct vio_split_desc *d, bool legacy, const struct vio_sg *sg,
			    uint16_t flags, uint16_t next)
{
	d->addr = vio_set64(legacy, sg->addr);
	d->len = vio_set32(legacy, sg->len);
	d->flags = vio_set16(legacy, flags);
	d->next = vio_set16(legacy, next);
}

/* Makes every buffer added so far visible to the device. */
static inline void publish_avail(struct vio_drvq *q)
{
	if (q->u.split.avail_pub == q->u.split.avail_idx)
		return;
	q->u.split.avail_pub = q->u.split.avail_idx;
	/* Publish: descriptors and ring entries become visible before the
	 * new index. Pairs with the acquire in the device's pop. */
	st16_release(&q->u.split.avail->idx, q->legacy, q->u.split.avail_idx);
}

static inline int split_add(struct vio_drvq *q, const struct vio_sg *out, unsigned out_n,
			    const struct vio_sg *in, unsigned in_n, void *token, bool publish)
{
	const bool legacy = q->legacy;
	const unsigned n = out_n + in_n;
	struct vio_split_desc *desc = q->u.split.desc;
	uint16_t head, last;
	uint32_t in_cap;
	bool indirect;
	unsigned k;
	int needed, r;

	needed = drv_check_add(q, out, out_n, in, in_n, token, &indirect, &in_cap);
	if (needed < 0)
		return needed;
	r = drv_check_window(q, 1);
	if (r < 0)
		return r;
	if (r > 0 && vio__split_kick_prepare(q))
		q->notify(q->opaque);

	head = q->free_head;
	if (indirect) {
		size_t off = (size_t)head * q->indirect_max * sizeof(struct vio_split_desc);
		struct vio_split_desc *table = (struct vio_split_desc *)(q->indirect + off);
		struct vio_sg ind = { q->indirect_dma + off, (uint32_t)(n * sizeof(*table)) };

		for (k = 0; k < n; k++)
			put_desc(&table[k], legacy, k < out_n ? &out[k] : &in[k - out_n],
				 (k < out_n ? 0 : VIO_DESC_F_WRITE) | (k + 1 < n ? VIO_DESC_F_NEXT : 0),
				 (uint16_t)(k + 1));
		put_desc(&desc[head], legacy, &ind, VIO_DESC_F_INDIRECT, 0);
		last = drv_take_id(q);
	} else {
		/* The chain follows the free list: each descriptor's next is
		 * the free head left after taking it. */
		last = head;
		for (k = 0; k < n; k++) {
			last = drv_take_id(q);
			put_desc(&desc[last], legacy, k < out_n ? &out[k] : &in[k - out_n],
				 (k < out_n ? 0 : VIO_DESC_F_WRITE) | (k + 1 < n ? VIO_DESC_F_NEXT : 0),
				 q->free_head);
		}
	}
	drv_record(q, head, token, in_cap, (uint16_t)needed, last);

	q->u.split.avail->ring[q->u.split.avail_idx & (q->size - 1)] = vio_set16(legacy, head);
	q->u.split.avail_idx++;
	if (publish)
		publish_avail(q);
	q->num_added++;
	return 0;
}

int vio__split_add(struct vio_drvq *q, const struct vio_sg *out, unsigned out_n,
		   const struct vio_sg *in, unsigned in_n, void *token)
{
	return split_add(q, out, out_n, in, in_n, token, true);
}

int vio__split_add_staged(struct vio_drvq *q, const struct vio_sg *out, unsigned out_n,
			  const struct vio_sg *in, unsigned in_n, void *token)
{
	return split_add(q, out, out_n, in, in_n, token, false);
}

bool vio__split_kick_prepare(struct vio_drvq *q)
{
	uint16_t new_idx = q->u.split.avail_idx;
	uint16_t old_idx = (uint16_t)(new_idx - q->num_added);
	bool needed;

	publish_avail(q);       /* what add_staged() left for the kick */
	/* Our avail->idx store must be visible before we read the device's
	 * suppression state. Pairs with the barrier in the device's
	 * kick_enable() (and pop's idle path) between its avail_event/flags
	 * store and its avail->idx load: one of us sees the other. */
	full_barrier();
	q->num_added = 0;
	if (q->broken || new_idx == old_idx)
		return false;   /* nothing new: no kick, and nothing to count */
	if (q->event_idx)
		needed = vio_need_event(ld16(avail_event(q), q->legacy), new_idx, old_idx);
	else
		needed = !(ld16(&q->u.split.used->flags, q->legacy) & VIO_USED_F_NO_NOTIFY);
	return count_kick(&q->stats, needed);
}

/* Is there a used entry at last_used? Reloads used->idx only when the last
 * value read is used up, and checks it never runs more than size ahead.
 * 1: yes, 0: no, -EIO: broken. */
static int more_used(struct vio_drvq *q)
{
	uint16_t idx;

	if (q->last_used != q->u.split.used_idx)
		return 1;
	/* Acquire: the used entries before this index are complete. Pairs with
	 * the release in the device's flush. */
	idx = ld16_acquire(&q->u.split.used->idx, q->legacy);
	if ((uint16_t)(idx - q->last_used) > q->size)
		return drv_fail(q, "device moved the used index more than the queue size ahead");
	q->u.split.used_idx = idx;
	return idx != q->last_used;
}

int vio__split_get_buf(struct vio_drvq *q, void **token, uint32_t *len)
{
	const bool legacy = q->legacy;
	bool done;
	int r;

	if (q->broken)
		return -EIO;
	if (q->batch_pending) {
		/* The batch's buffers sit at the used positions after its
		 * entry (the spec's in-order rule): the used index the device
		 * published with the entry covers them all. */
		r = more_used(q);
		if (r < 0)
			return r;
		if (r == 0)
			return drv_fail(q, "device's IN_ORDER used entry covers more buffers than "
					   "it moved the used index by");
		drv_next_in_batch(q, token, len, &done);
	} else {
		const struct vio_split_used_elem *ue;
		uint32_t id, l;

		r = more_used(q);
		if (r <= 0)
			return r < 0 ? r : -EAGAIN;
		ue = &q->u.split.used->ring[q->last_used & (q->size - 1)];
		id = ld32(&ue->id, legacy);
		l = ld32(&ue->len, legacy);
		r = drv_take_used(q, id, l, token, len, &done);
		if (r < 0)
			return r;
	}
	/* One used position per buffer, also within an IN_ORDER batch. */
	q->last_used++;
	if (!done)
		return 0;       /* the used entry still covers more of its batch */

	/* With callbacks on, keep used_event at the next entry we expect, so
	 * the device interrupts for it. The store must be visible before our
	 * next used->idx load, or we could both miss: we see no new entry and
	 * the device sees an old used_event. Pairs with the barrier in the
	 * device's need_interrupt. */
	if (q->event_idx && !(q->u.split.avail_flags & VIO_AVAIL_F_NO_INTERRUPT)) {
		st16(used_event(q), legacy, q->last_used);
		full_barrier();
	}
	return 0;
}

bool vio__split_has_used(struct vio_drvq *q)
{
	return !q->broken && (q->batch_pending || more_used(q) > 0);
}

void vio__split_disable_cb(struct vio_drvq *q)
{
	if (q->u.split.avail_flags & VIO_AVAIL_F_NO_INTERRUPT)
		return;
	q->u.split.avail_flags |= VIO_AVAIL_F_NO_INTERRUPT;
	if (q->event_idx)
		/* An event index just behind us is one the device has
		 * already passed: it will not fire for 65535 entries. */
		st16(used_event(q), q->legacy, (uint16_t)(q->last_used - 1));
	else
		st16(&q->u.split.avail->flags, q->legacy, q->u.split.avail_flags);
}

/* Clears NO_INTERRUPT in our shadow and, without EVENT_IDX, in the ring. */
static void enable_interrupts(struct vio_drvq *q)
{
	if (q->u.split.avail_flags & VIO_AVAIL_F_NO_INTERRUPT) {
		q->u.split.avail_flags &= (uint16_t)~VIO_AVAIL_F_NO_INTERRUPT;
		if (!q->event_idx)
			st16(&q->u.split.avail->flags, q->legacy, q->u.split.avail_flags);
	}
}

uint32_t vio__split_enable_cb_prepare(struct vio_drvq *q)
{
	enable_interrupts(q);
	st16(used_event(q), q->legacy, q->last_used);
	return q->last_used;
}

bool vio__split_poll(struct vio_drvq *q, uint32_t pos)
{
	/* Our flags/used_event store must be visible before we read used->idx.
	 * Pairs with the barrier in the device's need_interrupt between its
	 * used->idx store and its flags/used_event load. */
	full_barrier();
	if (q->broken)
		return false;
	return q->batch_pending || ld16(&q->u.split.used->idx, q->legacy) != (uint16_t)pos;
}

bool vio__split_enable_cb_delayed(struct vio_drvq *q)
{
	uint16_t bufs;

	enable_interrupts(q);
	/* About 3/4 of the outstanding buffers (with IN_ORDER too: the used
	 * index moves past every buffer of a batch). */
	bufs = (uint16_t)((uint16_t)(q->u.split.avail_idx - q->last_used) * 3 / 4);
	st16(used_event(q), q->legacy, (uint16_t)(q->last_used + bufs));
	full_barrier(); /* as in poll() */
	if (q->broken)
		return false;
	return !q->batch_pending &&
	       (uint16_t)(ld16(&q->u.split.used->idx, q->legacy) - q->last_used) <= bufs;
}

uint16_t vio__split_resume_base(const struct vio_drvq *q)
{
	/* The used index counts buffers, one position each, with IN_ORDER
	 * batches too. */
	return ld16(&q->u.split.used->idx, q->legacy);
}
