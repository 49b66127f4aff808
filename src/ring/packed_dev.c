/*
 * packed_dev.c - the device side of the packed virtqueue: taking chains at
 * the avail position (each descriptor checked and translated once),
 * staging and publishing used descriptors, deciding interrupts, and kick
 * suppression.
 *
 * The layout and its publishing protocol are in packed.h; chain mapping
 * and checks both layouts share in dev_chain.h. With an inflight log
 * attached (q->log), every chain taken and returned is recorded through
 * inflight_log.h, and the chains it recovered are handed out first.
 * With a dirty log on the memory (vio_mem_log_set), every store into the
 * descriptor ring or the device event structure is marked after it is
 * made (log_desc, log_device).
 */
#include "dev_chain.h"
#include "inflight_log.h"
#include "layouts.h"
#include "packed.h"

static inline void log_desc(const struct vio_devq *q, const void *p, size_t len)
{
	dev_log_ring(q, q->u.packed.desc, q->log_desc, p, len);
}

static inline void log_device(const struct vio_devq *q, const void *p, size_t len)
{
	dev_log_ring(q, q->u.packed.device, q->log_device, p, len);
}

int vio__packed_dev_init(struct vio_devq *q, const struct vio_devq_config *cfg)
{
	const struct vio_ring_addrs *a = &cfg->addrs;

	q->u.packed.desc = vio_mem_ptr(cfg->mem, a->desc, sizeof(struct vio_packed_desc) * (uint64_t)cfg->size);
	q->u.packed.driver = vio_mem_ptr(cfg->mem, a->driver, sizeof(struct vio_packed_event));
	q->u.packed.device = vio_mem_ptr(cfg->mem, a->device, sizeof(struct vio_packed_event));
	if (!q->u.packed.desc || !q->u.packed.driver || !q->u.packed.device)
		return -EFAULT;
	if ((uintptr_t)q->u.packed.desc % 8 || (uintptr_t)q->u.packed.driver % 4 ||
	    (uintptr_t)q->u.packed.device % 4)
		return -EINVAL;

	vio__dev_init_common(q, cfg);
	q->u.packed.avail_wrap = true;
	q->u.packed.used_wrap = true;
	if (cfg->resume) {
		q->last_avail = cfg->avail_base & (uint16_t)~WRAP_BIT;
		q->u.packed.avail_wrap = !!(cfg->avail_base & WRAP_BIT);
		q->used_idx = cfg->used_base & (uint16_t)~WRAP_BIT;
		q->u.packed.used_wrap = !!(cfg->used_base & WRAP_BIT);
		if (q->last_avail >= q->size || q->used_idx >= q->size)
			return -EINVAL;
	}
	/* A new queue takes kicks (kicks_disabled is false), and the ring must
	 * say so: a queue started again on the same memory (GET_VRING_BASE,
	 * then SET_VRING_BASE) finds whatever the last one wrote there, and
	 * DISABLE, left by a queue stopped while its thread polled, is a kick
	 * the driver never sends. */
	st16(&q->u.packed.device->flags, q->legacy, VIO_PACKED_EVENT_ENABLE);
	log_device(q, &q->u.packed.device->flags, 2);
	if (cfg->inflight)
		return vio__ilog_packed_attach(q, cfg);
	return 0;
}

/* Walks an indirect table: entries in order, only WRITE meaningful. */
static int walk_indirect(struct vio_devq *q, struct vio_elem *e, const struct vio__desc *ind,
			 bool chained, bool *seen_write, uint64_t *total)
{
	const void *table;
	unsigned entries = 0, i;
	int r;

	r = vio__dev_indirect_table(q, ind, chained, &table, &entries);
	if (r)
		return r;
	for (i = 0; i < entries; i++) {
		struct vio_packed_desc raw;
		struct vio__desc d;

		dev_indirect_entry(q, table, ind->addr, i, &raw);
		d = packed_load_desc(&raw, q->legacy);
		if (d.flags & VIO_DESC_F_INDIRECT)
			return dev_fail(q, -EIO, "indirect descriptor inside an indirect table");
		d.flags &= VIO_DESC_F_WRITE;    /* the rest is reserved, ignored */
		r = dev_map_desc(q, e, &d, seen_write, total);
		if (r)
			return r;
	}
	return 0;
}

/* Reads the flags at the next avail position; fails on bits no driver
 * could have written there. 1 available, 0 not, or a negative errno. */
static int head_avail(struct vio_devq *q, uint16_t *flags)
{
	/* Acquire: the chain is written before the head's flags. Pairs with
	 * the release in the driver's add. */
	*flags = ld16_acquire(&q->u.packed.desc[q->last_avail].flags, q->legacy);
	if (is_avail(*flags, q->u.packed.avail_wrap))
		return 1;
	if (is_used(*flags, q->u.packed.avail_wrap))
		return dev_fail(q, -EIO, "descriptor at the avail position has inconsistent wrap bits");
	return 0;
}

/* Maps descriptor d, the latest of the chain in *e: 1 when it ends the
 * chain (*id is the buffer id), 0 when more follow, or a negative errno.
 * Forced inline, as pop_ring: out of line it costs pop() ~10% without a
 * log (a call per descriptor). */
static inline __attribute__((always_inline)) int take_desc(struct vio_devq *q, struct vio_elem *e,
							   const struct vio__desc *d, bool *seen_write,
							   uint64_t *total, uint16_t *id)
{
	int r;

	if (d->flags & VIO_DESC_F_INDIRECT) {
		r = walk_indirect(q, e, d, e->ndescs > 1, seen_write, total);
		*id = d->next;
		return r ? r : 1;
	}
	r = dev_map_desc(q, e, d, seen_write, total);
	if (r)
		return r;
	*id = d->next;          /* the buffer id is in the last descriptor */
	return !(d->flags & VIO_DESC_F_NEXT);
}

/* Hands out again chain `head` of the log, in flight when the last device
 * stopped: rebuilt from the log's copies, checked like a new one. */
static __attribute__((cold)) int pop_resubmit(struct vio_devq *q, struct vio_elem *e, uint16_t head)
{
	uint16_t i = head, num, id = 0;
	bool seen_write = false;
	uint64_t total = 0;
	int r;

	r = vio__ilog_packed_resubmit_len(q, head, &num);
	if (r)
		return r;
	elem_reset(e);
	e->pos_ = VIO_ELEM_NO_POS;
	for (uint16_t k = 0; k < num; k++) {
		struct vio__desc d;

		if (r == 1)
			return dev_fail(q, -EIO, "inflight log: a chain ends before its length");
		r = vio__ilog_packed_resubmit_desc(q, i, &d, &i);
		if (r)
			return r;
		e->ndescs++;
		r = take_desc(q, e, &d, &seen_write, &total, &id);
		if (r < 0)
			return r;
	}
	if (r != 1)
		return dev_fail(q, -EIO, "inflight log: a chain runs past its length");
	if (id >= q->size)
		return dev_fail(q, -EIO, "buffer id beyond the queue size");
	r = vio__ilog_packed_resubmitted(q, head, id);
	if (r)
		return r;
	elem_done(q, e, id);
	return 0;
}

/* Takes the chain at the avail position; `logged` (a constant in each
 * caller, so the path without a log carries none of the log's code) copies
 * it into the inflight log. */
static inline __attribute__((always_inline)) int pop_ring(struct vio_devq *q, struct vio_elem *e,
						      const bool logged)
{
	const bool legacy = q->legacy;
	uint16_t pos = q->last_avail, flags, id = 0, lhead = 0, lcur = 0, llast = 0;
	bool wrap = q->u.packed.avail_wrap, seen_write = false;
	uint64_t total = 0;
	int r;

	r = head_avail(q, &flags);
	if (r == 0 && q->event_idx && !q->kicks_disabled) {
		/* Going idle: ask for a kick at this position, then look again
		 * (pairs with the driver's kick_prepare). */
		st_event(q->u.packed.device, legacy, pos_wrap(pos, wrap), VIO_PACKED_EVENT_DESC);
		full_barrier();
		r = head_avail(q, &flags);
	}
	if (r <= 0)
		return r < 0 ? r : -EAGAIN;

	if (logged)
		lhead = lcur = vio__ilog_packed_first_free(q);
	elem_reset(e);
	e->pos_ = pos;
	do {
		struct vio__desc d;

		if (e->ndescs == q->size)
			return dev_fail(q, -EIO, "descriptor chain longer than the ring");
		if (e->ndescs > 0) {
			/* Ordered by the head's acquire. */
			flags = ld16(&q->u.packed.desc[pos].flags, legacy);
			if (!is_avail(flags, wrap))
				return dev_fail(q, -EIO, "descriptor chain runs past the available descriptors");
		}
		d = packed_load_desc(&q->u.packed.desc[pos], legacy);
		d.flags = flags;        /* the value we checked, not a second read */
		e->ndescs++;
		advance(&pos, &wrap, 1, q->size);
		if (logged) {
			r = vio__ilog_packed_copy(q, &lcur, &llast, &d);
			if (r)
				return r;
		}
		r = take_desc(q, e, &d, &seen_write, &total, &id);
		if (r < 0)
			return r;
	} while (r == 0);
	if (id >= q->size)
		return dev_fail(q, -EIO, "buffer id beyond the queue size");
	if (logged) {
		r = vio__ilog_packed_pop(q, lhead, llast, lcur, e->ndescs, id);
		if (r)
			return r;
	}
	q->last_avail = pos;
	q->u.packed.avail_wrap = wrap;
	elem_done(q, e, id);
	return 0;
}

int vio__packed_pop(struct vio_devq *q, struct vio_elem *e)
{
	if (q->broken)
		return q->err;
	if (!q->log)
		return pop_ring(q, e, false);
	if (q->popped < q->resubmit)
		return pop_resubmit(q, e, q->log->order[q->popped]);
	return pop_ring(q, e, true);
}

/* Stages one used descriptor for `id` covering `skip` ring positions. The
 * first staged one's flags wait for flush(), which publishes them all. */
static int put_used(struct vio_devq *q, uint16_t id, uint32_t len, uint32_t skip)
{
	const bool legacy = q->legacy;
	struct vio_packed_desc *d;
	uint16_t pos = q->used_idx, flags;
	bool wrap = q->u.packed.used_wrap;

	if (skip == 0 || skip > q->size - q->u.packed.pending_descs)
		return -EINVAL;
	advance(&pos, &wrap, q->u.packed.pending_descs, q->size);
	d = &q->u.packed.desc[pos];
	d->id = vio_set16(legacy, id);
	d->len = vio_set32(legacy, len);
	flags = (wrap ? AVAIL | USED : 0) | (len ? VIO_DESC_F_WRITE : 0);
	if (q->used_pending == 0) {
		q->u.packed.pending_pos = pos;
		q->u.packed.pending_flags = flags;
	} else {
		st16(&d->flags, legacy, flags);
	}
	/* The whole descriptor: flush() stores the first one's flags, which
	 * lie in the same page as its id and len. */
	log_desc(q, d, sizeof(*d));
	q->used_pending++;
	q->u.packed.pending_descs = (uint16_t)(q->u.packed.pending_descs + skip);
	return 0;
}

/*
 * Dirty log: the first `len` bytes the element's chain lets the device
 * write, read again from the ring at its position. Used descriptors are
 * written from the used position on, over descriptors of chains already
 * taken: the positions [used position, + descriptors taken and not yet
 * used) are untouched, so a chain that lies inside them (always, when
 * chains are used in the order they were taken) is read from the ring;
 * one already written over (used out of order), or handed out again from
 * the inflight log, is marked through its element's spans. fill() calls
 * this before it writes the used descriptor.
 */
void vio__packed_log_elem(struct vio_devq *q, const struct vio_elem *e, uint32_t len)
{
	uint64_t left = len;
	uint16_t pos = e->pos_, used = q->used_idx;
	bool wrap = false, uw = q->u.packed.used_wrap;
	uint32_t ahead;

	advance(&used, &uw, q->u.packed.pending_descs, q->size);
	ahead = pos < q->size ? (pos + q->size - used) % q->size : UINT32_MAX;
	if (ahead == UINT32_MAX ||
	    (uint64_t)ahead + e->ndescs > (uint32_t)(q->popped_descs - q->filled_descs)) {
		vio_mem_log_iov(q->mem, e->in, e->in_num, len);
		return;
	}
	for (unsigned k = 0; k < e->ndescs && left; k++) {
		struct vio__desc d = packed_load_desc(&q->u.packed.desc[pos], q->legacy);

		vio__dev_log_desc(q, &d, true, &left);
		advance(&pos, &wrap, 1, q->size);
	}
}

int vio__packed_fill(struct vio_devq *q, const struct vio_elem *e, uint32_t len)
{
	uint16_t head = 0, last = 0;
	int r = dev_check_fill(q, e, len);

	if (r)
		return r;
	if (q->log) {
		r = vio__ilog_packed_fill_check(q, e->id, e->seq_, &head, &last);
		if (r)
			return r;
	}
	r = put_used(q, e->id, len, e->ndescs);
	if (r)
		return r;
	if (q->log)
		vio__ilog_packed_fill(q, e->id, e->seq_, head, last);
	q->filled++;
	q->filled_descs += e->ndescs;
	return 0;
}

int vio__packed_fill_in_order(struct vio_devq *q, const struct vio_elem *last, uint32_t len)
{
	int n = dev_check_fill_in_order(q, last, len);
	int r;

	if (n < 0)
		return n;
	/* The log checks every chain the entry covers before anything is
	 * staged (IN_ORDER: the map is by pop order, the id unused). */
	for (int k = 1; q->log && k <= n; k++) {
		uint16_t head, tail;

		r = vio__ilog_packed_fill_check(q, 0, q->filled + (uint32_t)k, &head, &tail);
		if (r)
			return r;
	}
	/* Dirty log, before put_used() overwrites the batch's first
	 * descriptor: the earlier chains' descriptors, in ring order from
	 * the next used position (dev_chain.h, vio__dev_log_desc). */
	if (n > 1 && dev_logging(q) && last->dseq_ - q->filled_descs <= q->size) {
		uint16_t pos = q->used_idx;
		bool wrap = q->u.packed.used_wrap;
		uint32_t descs = last->dseq_ - last->ndescs - q->filled_descs;

		advance(&pos, &wrap, q->u.packed.pending_descs, q->size);
		uint64_t all = UINT64_MAX;

		for (uint32_t k = 0; k < descs; k++) {
			struct vio__desc d = packed_load_desc(&q->u.packed.desc[pos], q->legacy);

			vio__dev_log_desc(q, &d, true, &all);
			advance(&pos, &wrap, 1, q->size);
		}
	}
	r = put_used(q, last->id, len, last->dseq_ - q->filled_descs);
	if (r)
		return r;
	for (int k = 1; q->log && k <= n; k++) {
		uint16_t head = 0, tail = 0;

		/* Read again, so checked again: the frontend may have written
		 * the log since, and a tail beyond the queue would send
		 * the fill outside it. The queue is then stopped. */
		r = vio__ilog_packed_fill_check(q, 0, q->filled + (uint32_t)k, &head, &tail);
		if (r)
			return r;
		vio__ilog_packed_fill(q, 0, q->filled + (uint32_t)k, head, tail);
	}
	q->filled += (uint32_t)n;
	q->filled_descs = last->dseq_;
	return 0;
}

int vio__packed_flush(struct vio_devq *q)
{
	unsigned since;
	uint16_t used;
	bool wrap;

	if (q->broken)
		return q->err;
	if (q->used_pending == 0)
		return 0;
	if (q->log) {
		used = q->used_idx;
		wrap = q->u.packed.used_wrap;
		advance(&used, &wrap, q->u.packed.pending_descs, q->size);
		vio__ilog_packed_flush_stage(q, used, wrap);
	}
	/* Publish: every staged descriptor is written before this. Pairs with
	 * the acquire in the driver's get_buf. */
	st16_release(&q->u.packed.desc[q->u.packed.pending_pos].flags, q->legacy,
		     q->u.packed.pending_flags);
	log_desc(q, &q->u.packed.desc[q->u.packed.pending_pos].flags, 2);
	if (q->log)
		vio__ilog_packed_flush_commit(q);
	advance(&q->used_idx, &q->u.packed.used_wrap, q->u.packed.pending_descs, q->size);
	since = q->u.packed.since_signal + q->u.packed.pending_descs;
	q->u.packed.since_signal = (uint16_t)(since > UINT16_MAX ? UINT16_MAX : since);
	q->used_pending = 0;
	q->u.packed.pending_descs = 0;
	return 0;
}

bool vio__packed_need_interrupt(struct vio_devq *q)
{
	unsigned moved = q->u.packed.since_signal;
	bool needed;

	if (q->broken || moved == 0)
		return false;
	/* Our flags store must be visible before we read the driver's event
	 * structure. Pairs with the barrier in the driver's enable_cb/poll and
	 * get_buf. */
	full_barrier();
	q->u.packed.since_signal = 0;
	if (q->notify_on_empty && q->popped == q->filled &&
	    !is_avail(ld16(&q->u.packed.desc[q->last_avail].flags, q->legacy), q->u.packed.avail_wrap))
		needed = true;
	else
		needed = event_wanted(ld_event(q->u.packed.driver, q->legacy), q->event_idx,
				      q->used_idx, q->u.packed.used_wrap, moved, q->size);
	return count_interrupt(&q->stats, needed);
}

void vio__packed_kick_disable(struct vio_devq *q)
{
	if (q->kicks_disabled)
		return;
	q->kicks_disabled = true;
	st16(&q->u.packed.device->flags, q->legacy, VIO_PACKED_EVENT_DISABLE);
	log_device(q, &q->u.packed.device->flags, 2);
}

bool vio__packed_kick_enable(struct vio_devq *q)
{
	q->kicks_disabled = false;
	if (q->event_idx)
		st_event(q->u.packed.device, q->legacy, pos_wrap(q->last_avail, q->u.packed.avail_wrap),
			 VIO_PACKED_EVENT_DESC);
	else
		st16(&q->u.packed.device->flags, q->legacy, VIO_PACKED_EVENT_ENABLE);
	log_device(q, q->u.packed.device, sizeof(*q->u.packed.device));
	/* Pairs with the barrier in the driver's kick_prepare. */
	full_barrier();
	return !is_avail(ld16(&q->u.packed.desc[q->last_avail].flags, q->legacy), q->u.packed.avail_wrap);
}

bool vio__packed_has_avail(struct vio_devq *q)
{
	uint16_t flags;

	if (q->broken)
		return false;
	/* Only peek: a descriptor whose AVAIL bit matches is either
	 * available or malformed, and pop() is where malformed is reported. */
	flags = ld16_acquire(&q->u.packed.desc[q->last_avail].flags, q->legacy);
	return !!(flags & AVAIL) == q->u.packed.avail_wrap;
}

uint16_t vio__packed_avail_base(const struct vio_devq *q)
{
	return pos_wrap(q->last_avail, q->u.packed.avail_wrap);
}

uint16_t vio__packed_used_base(const struct vio_devq *q)
{
	return pos_wrap(q->used_idx, q->u.packed.used_wrap);
}
