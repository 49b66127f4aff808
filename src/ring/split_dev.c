/*
 * split_dev.c - the device side of the split virtqueue: taking chains
 * from the avail ring (each descriptor checked and translated once),
 * staging and publishing used entries, deciding interrupts, and kick
 * suppression.
 *
 * The layout and its publishing protocol are in split.h; chain mapping
 * and checks both layouts share in dev_chain.h. With an inflight log
 * attached (q->log), every chain taken and returned is recorded through
 * inflight_log.h. With a dirty log on the memory (vio_mem_log_set), every
 * store into the used ring is marked after it is made (log_used).
 */
#include "dev_chain.h"
#include "event.h"
#include "inflight_log.h"
#include "layouts.h"
#include "split.h"

static inline vio_le16 *used_event(struct vio_devq *q)
{
	return split_used_event(q->u.split.avail, q->size);
}

static inline vio_le16 *avail_event(struct vio_devq *q)
{
	return split_avail_event(q->u.split.used, q->size);
}

/* Dirty log: the device wrote [p, p + len) inside the used ring. */
static inline void log_used(const struct vio_devq *q, const void *p, size_t len)
{
	dev_log_ring(q, q->u.split.used, q->log_device, p, len);
}

/* A 16-bit store into the used ring (flags, avail_event), logged. */
static inline void st16_used(struct vio_devq *q, vio_le16 *p, uint16_t v)
{
	st16(p, q->legacy, v);
	log_used(q, p, sizeof(*p));
}

int vio__split_dev_init(struct vio_devq *q, const struct vio_devq_config *cfg)
{
	const struct vio_ring_addrs *a = &cfg->addrs;

	q->u.split.desc = vio_mem_ptr(cfg->mem, a->desc, vio_split_desc_size(cfg->size));
	q->u.split.avail = vio_mem_ptr(cfg->mem, a->driver, vio_split_avail_size(cfg->size));
	q->u.split.used = vio_mem_ptr(cfg->mem, a->device, vio_split_used_size(cfg->size));
	if (!q->u.split.desc || !q->u.split.avail || !q->u.split.used)
		return -EFAULT;
	/* Host pointers keep the guest's alignment only if regions are mapped
	 * with at least that alignment; check what we will dereference. */
	if ((uintptr_t)q->u.split.desc % 8 || (uintptr_t)q->u.split.avail % 2 ||
	    (uintptr_t)q->u.split.used % 4)
		return -EINVAL;

	vio__dev_init_common(q, cfg);
	if (cfg->resume) {
		q->last_avail = cfg->avail_base;
		q->used_idx = cfg->used_base;
	}
	if (cfg->inflight) {
		int r = vio__ilog_split_attach(q, cfg);

		if (r)
			return r;
	}
	q->avail_idx = q->last_avail;
	q->signalled_used = q->used_idx;
	/* A new queue takes kicks (kicks_disabled is false), and the ring must
	 * say so: a queue started again on the same memory finds whatever the
	 * last one wrote there, and NO_NOTIFY, or an avail_event behind the
	 * driver, left by a queue stopped while its thread polled, is a kick
	 * the driver never sends. */
	if (q->event_idx)
		st16_used(q, avail_event(q), q->last_avail);
	else
		st16_used(q, &q->u.split.used->flags, 0);
	return 0;
}

/* Walks an indirect table; entries chain by `next` within the table. */
static int walk_indirect(struct vio_devq *q, struct vio_elem *e, const struct vio__desc *ind,
			 bool *seen_write, uint64_t *total)
{
	const void *table;
	unsigned entries = 0, count = 0;
	uint16_t i = 0;
	int r;

	r = vio__dev_indirect_table(q, ind, false, &table, &entries);
	if (r)
		return r;
	for (;;) {
		struct vio_split_desc raw;
		struct vio__desc d;

		if (++count > entries)
			return dev_fail(q, -EIO, "indirect chain loops");
		dev_indirect_entry(q, table, ind->addr, i, &raw);
		d = split_load_desc(&raw, q->legacy);
		if (d.flags & VIO_DESC_F_INDIRECT)
			return dev_fail(q, -EIO, "indirect descriptor inside an indirect table");
		r = dev_map_desc(q, e, &d, seen_write, total);
		if (r)
			return r;
		if (!(d.flags & VIO_DESC_F_NEXT))
			return 0;
		if (d.next >= entries)
			return dev_fail(q, -EIO, "indirect next index beyond the table");
		i = d.next;
	}
}

/* Is there an avail entry at last_avail? 1, 0 or a negative errno. */
static int more_avail(struct vio_devq *q)
{
	const bool legacy = q->legacy;

	if (q->last_avail != q->avail_idx)
		return 1;
	/* Acquire: the ring entries and descriptors before this index are
	 * written. Pairs with the release in the driver's add. */
	q->avail_idx = ld16_acquire(&q->u.split.avail->idx, legacy);
	if (q->avail_idx == q->last_avail && q->event_idx && !q->kicks_disabled) {
		/* Going idle: ask for a kick at the next entry, then look
		 * again, or an add racing with us would be lost. */
		st16_used(q, avail_event(q), q->last_avail);
		full_barrier(); /* pairs with the driver's kick_prepare */
		q->avail_idx = ld16_acquire(&q->u.split.avail->idx, legacy);
	}
	if ((uint16_t)(q->avail_idx - q->last_avail) > q->size)
		return dev_fail(q, -EIO, "driver moved the avail index more than the queue size ahead");
	return q->avail_idx != q->last_avail;
}

/* Asks for the next available chain's first descriptor now, a line the
 * driver's cpu has just written: fetched while this chain is walked, it
 * is there when the next pop wants it. Only a hint: the entry is read
 * again, and checked, when that chain is popped; masking keeps the hint
 * inside the table whatever the driver wrote. */
static inline void prefetch_next_head(const struct vio_devq *q)
{
	uint16_t next;

	if ((uint16_t)(q->avail_idx - q->last_avail) < 2)
		return;
	next = ld16(&q->u.split.avail->ring[(uint16_t)(q->last_avail + 1) & (q->size - 1)],
		    q->legacy);
	__builtin_prefetch(&q->u.split.desc[next & (q->size - 1)]);
}

int vio__split_pop(struct vio_devq *q, struct vio_elem *e)
{
	const bool legacy = q->legacy;
	bool seen_write = false;
	uint64_t total = 0;
	uint16_t head, i;
	int r;

	if (q->broken)
		return q->err;
	if (q->popped < q->resubmit) {
		/* In flight when the last device stopped: its chain again,
		 * not a new avail entry. */
		head = q->log->order[q->popped];
	} else {
		r = more_avail(q);
		if (r <= 0)
			return r < 0 ? r : -EAGAIN;
		head = ld16(&q->u.split.avail->ring[q->last_avail & (q->size - 1)], legacy);
		if (head >= q->size)
			return dev_fail(q, -EIO, "avail ring names a head beyond the queue size");
		prefetch_next_head(q);
	}

	elem_reset(e);
	i = head;
	for (;;) {
		struct vio__desc d;

		if (++e->ndescs > q->size)
			return dev_fail(q, -EIO, "descriptor chain longer than the queue (a loop)");
		d = split_load_desc(&q->u.split.desc[i], legacy);
		if (d.flags & VIO_DESC_F_INDIRECT) {
			r = walk_indirect(q, e, &d, &seen_write, &total);
			if (r)
				return r;
			break;
		}
		r = dev_map_desc(q, e, &d, &seen_write, &total);
		if (r)
			return r;
		if (!(d.flags & VIO_DESC_F_NEXT))
			break;
		if (d.next >= q->size)
			return dev_fail(q, -EIO, "descriptor next index beyond the queue size");
		i = d.next;
	}
	if (q->popped >= q->resubmit) {
		q->last_avail++;
		if (q->log)
			vio__ilog_split_pop(q, head);
	}
	elem_done(q, e, head);
	return 0;
}

/* Stages one used entry after those already pending, standing for n
 * buffers: 1, or with IN_ORDER a batch. The spec's in-order rule (2.7.9):
 * the entry goes where the batch's first buffer's would, and the used
 * index moves by the size of the batch, so the next entry lands where the
 * next batch's first buffer's would. */
static void put_used(struct vio_devq *q, uint16_t id, uint32_t len, uint32_t n)
{
	struct vio_split_used_elem *ue;

	ue = &q->u.split.used->ring[(uint16_t)(q->used_idx + q->used_pending) & (q->size - 1)];
	ue->id = vio_set32(q->legacy, id);
	ue->len = vio_set32(q->legacy, len);
	log_used(q, ue, sizeof(*ue));
	q->used_pending += n;
}

int vio__split_fill(struct vio_devq *q, const struct vio_elem *e, uint32_t len)
{
	int r = dev_check_fill(q, e, len);

	if (r)
		return r;
	if (q->used_pending >= q->size)
		return -EINVAL;
	put_used(q, e->id, len, 1);
	if (q->log)
		vio__ilog_split_fill(q, e->id);
	q->filled++;
	q->filled_descs += e->ndescs;
	return 0;
}

/* Dirty log: the first `left` bytes the chain at `head` lets the device
 * write (dev_chain.h, vio__dev_log_desc). */
static void log_chain(struct vio_devq *q, uint16_t head, uint64_t left)
{
	uint16_t i = head;

	for (unsigned n = 0; n < q->size && i < q->size && left; n++) {
		struct vio__desc d = split_load_desc(&q->u.split.desc[i], q->legacy);

		vio__dev_log_desc(q, &d, false, &left);
		if ((d.flags & VIO_DESC_F_INDIRECT) || !(d.flags & VIO_DESC_F_NEXT))
			break;
		i = d.next;
	}
}

/* Dirty log: the chains seq filled+1 .. filled+k, popped from the avail
 * ring in order (dev_chain.h, vio__dev_log_desc). Chains the inflight log
 * handed out again came from elsewhere: then every region is marked. */
static void log_batch(struct vio_devq *q, uint32_t k)
{
	if (q->filled < q->resubmit) {
		vio_mem_log_all(q->mem);
		return;
	}
	for (uint32_t s = q->filled + 1; s <= q->filled + k; s++) {
		/* The chain popped s-th sat where last_avail was then. */
		uint16_t pos = (uint16_t)(q->last_avail - (q->popped - s) - 1);
		uint16_t i = ld16(&q->u.split.avail->ring[pos & (q->size - 1)], q->legacy);

		log_chain(q, i, UINT64_MAX);
	}
}

void vio__split_log_elem(struct vio_devq *q, const struct vio_elem *e, uint32_t len)
{
	log_chain(q, e->id, len);
}

int vio__split_fill_in_order(struct vio_devq *q, const struct vio_elem *last, uint32_t len)
{
	int n = dev_check_fill_in_order(q, last, len);

	if (n < 0)
		return n;
	if (q->used_pending + (uint32_t)n > q->size)
		return -EINVAL;
	if (n > 1 && dev_logging(q))
		log_batch(q, (uint32_t)n - 1);
	put_used(q, last->id, len, (uint32_t)n);
	if (q->log)
		vio__ilog_split_fill_in_order(q, (uint32_t)n);
	q->filled += (uint32_t)n;
	q->filled_descs = last->dseq_;
	return 0;
}

int vio__split_flush(struct vio_devq *q)
{
	if (q->broken)
		return q->err;
	if (q->used_pending == 0)
		return 0;
	q->used_idx = (uint16_t)(q->used_idx + q->used_pending);
	q->used_pending = 0;
	/* Publish: the used entries become visible before the index. Pairs
	 * with the acquire in the driver's get_buf. */
	st16_release(&q->u.split.used->idx, q->legacy, q->used_idx);
	log_used(q, &q->u.split.used->idx, sizeof(q->u.split.used->idx));
	if (q->log)
		vio__ilog_split_flush(q);
	return 0;
}

bool vio__split_need_interrupt(struct vio_devq *q)
{
	const bool legacy = q->legacy;
	uint16_t old_idx = q->signalled_used, new_idx = q->used_idx;
	bool needed;

	if (q->broken || old_idx == new_idx)
		return false;
	/* Our used->idx store must be visible before we read the driver's
	 * suppression state. Pairs with the barrier in the driver's
	 * enable_cb/poll and get_buf. */
	full_barrier();
	q->signalled_used = new_idx;
	if (q->notify_on_empty && q->popped == q->filled &&
	    ld16(&q->u.split.avail->idx, legacy) == q->last_avail)
		needed = true;
	else if (q->event_idx)
		needed = vio_need_event(ld16(used_event(q), legacy), new_idx, old_idx);
	else
		needed = !(ld16(&q->u.split.avail->flags, legacy) & VIO_AVAIL_F_NO_INTERRUPT);
	return count_interrupt(&q->stats, needed);
}

void vio__split_kick_disable(struct vio_devq *q)
{
	if (q->kicks_disabled)
		return;
	q->kicks_disabled = true;
	/* With EVENT_IDX, an avail_event just behind us is one the driver has
	 * already passed: no kick for 65535 entries. */
	if (q->event_idx)
		st16_used(q, avail_event(q), (uint16_t)(q->last_avail - 1));
	else
		st16_used(q, &q->u.split.used->flags, VIO_USED_F_NO_NOTIFY);
}

bool vio__split_kick_enable(struct vio_devq *q)
{
	q->kicks_disabled = false;
	if (q->event_idx)
		st16_used(q, avail_event(q), q->last_avail);
	else
		st16_used(q, &q->u.split.used->flags, 0);
	/* Pairs with the barrier in the driver's kick_prepare. */
	full_barrier();
	return ld16(&q->u.split.avail->idx, q->legacy) == q->last_avail;
}

bool vio__split_has_avail(struct vio_devq *q)
{
	if (q->broken)
		return false;
	if (q->last_avail != q->avail_idx)
		return true;
	return ld16_acquire(&q->u.split.avail->idx, q->legacy) != q->last_avail;
}
