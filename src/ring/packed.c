/*
 * packed.c - the packed virtqueue (virtio 1.x 2.8), driver side and device
 * side.
 *
 * One ring of descriptors that both sides write: the driver makes a
 * descriptor available by setting its AVAIL flag bit to the driver's wrap
 * counter and its USED bit to the inverse; the device marks a buffer used
 * by writing one descriptor, with both bits equal to its own wrap counter,
 * at its next used position, and then skips as many positions as the
 * buffer's chain had. Each side's wrap counter starts at 1 and flips when
 * its position passes the end of the ring, so sizes need not be powers of
 * two. Two small structures suppress events: the driver's (read by the
 * device) controls interrupts, the device's (read by the driver) kicks:
 * ENABLE, DISABLE, or DESC with a position and wrap counter (EVENT_IDX).
 *
 * The publishing protocol:
 *   driver: write a chain's descriptors, then the head's flags (release)
 *   device: read the head's flags (acquire), then the chain
 *   device: write used descriptors, then the first one's flags (release)
 *   driver: read the flags at last_used (acquire), then id and len
 * Event suppression uses the same store-barrier-load pairs as split.c.
 *
 * Positions and the event offsets are compared with vio_need_event() on
 * 16-bit "virtual" indices: old = new - moved, and an event offset whose
 * wrap counter differs from ours is taken to lie one lap behind (offset -
 * size), as the spec's own driver example does.
 */
#include "ring_internal.h"

/* ------------------------------------------------------------------------ */
/* Flag bits and event structures                                           */

#define AVAIL VIO_PACKED_DESC_F_AVAIL
#define USED  VIO_PACKED_DESC_F_USED
#define WRAP_BIT (1u << VIO_PACKED_EVENT_WRAP_SHIFT)

/* AVAIL = wrap counter, USED = its inverse: available. */
static inline uint16_t avail_bits(bool wrap)
{
	return wrap ? AVAIL : USED;
}

static inline bool is_avail(uint16_t flags, bool wrap)
{
	return !!(flags & AVAIL) == wrap && !!(flags & USED) != wrap;
}

/* Both bits equal to the wrap counter: used. */
static inline bool is_used(uint16_t flags, bool wrap)
{
	return !!(flags & AVAIL) == wrap && !!(flags & USED) == wrap;
}

static inline void advance(uint16_t *pos, bool *wrap, unsigned by, unsigned size)
{
	unsigned p = *pos + by;

	if (p >= size) {
		p -= size;
		*wrap = !*wrap;
	}
	*pos = (uint16_t)p;
}

struct event {
	uint16_t off_wrap;
	uint16_t flags;
};

typedef uint32_t __attribute__((may_alias)) u32_alias;

/* The event structures are read and written as one 32-bit access, so the
 * other side never sees a new flag with an old offset. */
static inline struct event ld_event(const struct vio_packed_event *ev, bool legacy)
{
	uint32_t raw = __atomic_load_n((const u32_alias *)ev, __ATOMIC_RELAXED);
	struct vio_packed_event v;

	memcpy(&v, &raw, sizeof(v));
	return (struct event){ vio_get16(legacy, v.off_wrap), vio_get16(legacy, v.flags) };
}

static inline void st_event(struct vio_packed_event *ev, bool legacy, uint16_t off_wrap, uint16_t flags)
{
	struct vio_packed_event v = { vio_set16(legacy, off_wrap), vio_set16(legacy, flags) };
	uint32_t raw;

	memcpy(&raw, &v, sizeof(raw));
	__atomic_store_n((u32_alias *)ev, raw, __ATOMIC_RELAXED);
}

/* Should the side that moved from (new - moved) to new at wrap `wrap`
 * notify, given the other side's event structure? */
static inline bool event_wanted(struct event ev, bool event_idx, uint16_t new_pos, bool wrap,
				unsigned moved, unsigned size)
{
	uint16_t off;

	if (ev.flags == VIO_PACKED_EVENT_DISABLE)
		return false;
	if (ev.flags != VIO_PACKED_EVENT_DESC || !event_idx)
		return true;
	if (moved >= size)
		return true;    /* a whole lap: the event lies somewhere in it */
	off = ev.off_wrap & (uint16_t)~WRAP_BIT;
	if (!!(ev.off_wrap & WRAP_BIT) != wrap)
		off = (uint16_t)(off - size);
	return vio_need_event(off, new_pos, (uint16_t)(new_pos - moved));
}

/* ======================================================================== */
/* Driver side                                                              */

int vio__packed_drv_init(struct vio_drvq *q, const struct vio_drvq_config *cfg)
{
	if ((uintptr_t)cfg->desc % VIO_PACKED_DESC_ALIGN ||
	    (uintptr_t)cfg->driver % VIO_PACKED_EVENT_ALIGN ||
	    (uintptr_t)cfg->device % VIO_PACKED_EVENT_ALIGN)
		return -EINVAL;

	drv_init_common(q, cfg);
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
	int needed;

	needed = drv_prepare_add(q, out, out_n, in, in_n, token, &indirect, &in_cap);
	if (needed < 0)
		return needed;

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
	if (needed)
		vio_stat_inc(&q->stats.kicks);
	else
		vio_stat_inc(&q->stats.kicks_suppressed);
	return needed;
}

static inline uint16_t used_pos_wrap(const struct vio_drvq *q)
{
	return (uint16_t)(q->last_used | (q->u.packed.used_wrap ? WRAP_BIT : 0));
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
		l = vio_get32(legacy, (vio_le32){ __atomic_load_n(&d->len.raw, __ATOMIC_RELAXED) });
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
	enable_interrupts(q, (uint16_t)(pos | (wrap ? WRAP_BIT : 0)));
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
		(void)drv_order_skip_to(q, &cursor, q->batch_id, &pos, &wrap);
	for (unsigned steps = 0; steps < q->size; steps++) {
		const struct vio_packed_desc *d = &q->u.packed.desc[pos];
		uint16_t flags = ld16(&d->flags, legacy), id;
		bool avail = flags & VIO_PACKED_DESC_F_AVAIL;
		bool usedf = flags & VIO_PACKED_DESC_F_USED;

		if (avail != wrap || usedf != wrap)
			break; /* not used: the old backend stopped here */
		id = ld16(&d->id, legacy);
		if (id >= q->size || !q->slots[id].token)
			break;
		if (q->in_order) {
			if (!drv_order_skip_to(q, &cursor, id, &pos, &wrap))
				break;
		} else {
			unsigned p = pos + q->slots[id].ndescs;

			if (p >= q->size) {
				p -= q->size;
				wrap = !wrap;
			}
			pos = (uint16_t)p;
		}
	}
	return (uint16_t)(pos | (wrap ? WRAP_BIT : 0));
}

/* ======================================================================== */
/* Device side                                                              */

/* ------------------------------------------------------------------------ */
/* The inflight log (vio/inflight.h)                                        */

/*
 * The descriptors of a chain in flight may be overwritten by used entries
 * of later chains, so the log keeps copies of them, in entries taken from
 * a free list. Every step is set, then committed with one store, in an
 * order that leaves something recovery can finish or undo:
 *
 *  pop:   copy the chain into free entries from old_free_head on (each
 *         with inflight 0), then head's num/last/counter, inflight = 1,
 *         then old_free_head = free_head = the entry after the chain.
 *  fill:  link the chain into the batch (its last entry's next = the
 *         previous batch head); the log still calls it in flight.
 *  flush: batch tail's next = old_free_head, free_head = batch head,
 *         used_idx/used_wrap_counter = after the batch (the "new" state);
 *         publish the used descriptors; inflight = 0 along the batch;
 *         old_* = new (the commit).
 *
 * Recovery (log_recover) sees "new" != "old" only inside a flush: if
 * the ring still holds the driver's available descriptor at old_used_idx
 * the batch never reached the driver and "old" stands; otherwise "new" is
 * committed. Entries on the free list are then not in flight, whatever
 * their flag says; every other entry belongs to exactly one chain in
 * flight, and those chains, by counter, are what pop() hands out again.
 */

#define LOG_NONE 0xffffu        /* an empty map slot; above any queue size */

static inline struct vio_inflight_packed *plog(const struct vio_devq *q)
{
	return q->inflight;
}

/* The private map from a popped chain to its log head: by pop order with
 * IN_ORDER (chains in flight are consecutive there, and fill_in_order()
 * only names the newest), else by buffer id (unique while in flight). */
static inline uint16_t *log_slot(const struct vio_devq *q, uint16_t id, uint32_t seq)
{
	return &q->inflight_fifo[q->size + (q->in_order ? seq % q->size : id)];
}

/* Copies descriptor d of the chain being popped into the free entry *cur
 * and steps *cur along the free list; *last is the entry written. */
static int log_copy(struct vio_devq *q, uint16_t *cur, uint16_t *last, const struct vio__desc *d)
{
	struct vio_inflight_packed_desc *x;

	if (*cur >= q->size)
		return dev_fail(q, -EIO, "inflight log: no free entry left (more descriptors in flight "
				"than the ring holds, or a damaged free list)");
	x = &plog(q)->desc[*cur];
	x->inflight = 0;
	x->addr = d->addr;
	x->len = d->len;
	x->flags = d->flags;
	x->id = d->next;
	*last = *cur;
	*cur = x->next;
	return 0;
}

/* pop() took a chain of n descriptors, copied from `head` to `last`; `next`
 * is the free entry after them. Commits it as in flight. */
static int log_pop(struct vio_devq *q, uint16_t head, uint16_t last, uint16_t next, uint16_t n,
		   uint16_t id)
{
	struct vio_inflight_packed *l = plog(q);
	struct vio_inflight_packed_desc *h = &l->desc[head];
	uint16_t *slot = log_slot(q, id, q->popped + 1);

	if (*slot != LOG_NONE)
		return dev_fail(q, -EIO, "buffer id already in flight");
	h->num = n;
	h->last = last;
	h->counter = q->counter++;
	/* The copies are in place before the head counts, and the head counts
	 * before it leaves the free list: a crash in between leaves a free
	 * chain, simply taken from the ring again. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	h->inflight = 1;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	l->old_free_head = next;
	l->free_head = next;
	*slot = head;
	return 0;
}

/* fill() of the chain (id, seq): it joins the batch the next flush frees.
 * Checked before anything is staged, linked after. */
static int log_fill_head(struct vio_devq *q, uint16_t id, uint32_t seq, uint16_t *head,
			 uint16_t *last)
{
	*head = *log_slot(q, id, seq);
	if (*head >= q->size)
		return dev_fail(q, -EIO, "inflight log: a chain handed back is not in the log");
	*last = plog(q)->desc[*head].last;
	if (*last >= q->size)
		return dev_fail(q, -EIO, "inflight log: last entry of a chain beyond the queue size");
	return 0;
}

static void log_fill(struct vio_devq *q, uint16_t id, uint32_t seq, uint16_t head, uint16_t last)
{
	struct vio_inflight_packed *l = plog(q);

	*log_slot(q, id, seq) = LOG_NONE;
	if (q->batch == 0)
		q->u.packed.log_batch_tail = last;
	l->desc[last].next = q->u.packed.log_batch_head;
	q->u.packed.log_batch_head = head;
	q->batch++;
}

/* flush(), before publishing: the state after the batch, not yet trusted. */
static void log_flush_stage(struct vio_devq *q, uint16_t used, bool wrap)
{
	struct vio_inflight_packed *l = plog(q);

	l->desc[q->u.packed.log_batch_tail].next = l->old_free_head;
	l->free_head = q->u.packed.log_batch_head;
	l->used_idx = used;
	l->used_wrap_counter = wrap;
	/* Staged before the used descriptors can be seen. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

/* flush(), after publishing: the batch is used; commit. */
static void log_flush_commit(struct vio_devq *q)
{
	struct vio_inflight_packed *l = plog(q);
	uint16_t h = q->u.packed.log_batch_head;

	__atomic_thread_fence(__ATOMIC_RELEASE);
	/* Indices re-checked: the region is shared with the frontend. */
	for (uint32_t k = 0; k < q->batch && h < q->size; k++) {
		uint16_t last = l->desc[h].last;

		l->desc[h].inflight = 0;
		if (last >= q->size)
			break;
		h = l->desc[last].next;
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
	l->old_free_head = l->free_head;
	l->old_used_idx = l->used_idx;
	l->old_used_wrap_counter = l->used_wrap_counter;
	q->batch = 0;
}

/* An empty log at the queue's current positions: every entry free. */
static void log_reset(struct vio_devq *q)
{
	struct vio_inflight_packed *l = plog(q);

	memset(l, 0, sizeof(*l) + sizeof(l->desc[0]) * (size_t)q->size);
	for (unsigned i = 0; i < q->size; i++)
		l->desc[i].next = (uint16_t)(i + 1);
	l->desc[q->size - 1].next = LOG_NONE;
	l->desc_num = (uint16_t)q->size;
	l->used_idx = l->old_used_idx = q->used_idx;
	l->used_wrap_counter = l->old_used_wrap_counter = q->u.packed.used_wrap;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	l->version = VIO_INFLIGHT_VERSION;
}

/* Reads one field of the shared log exactly once: the frontend holds the
 * log and may write it at any time, so a value is checked and used as the
 * same local copy. */
#define LOG_ONCE(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

/* Finishes or undoes a flush the last device died in (see above), and
 * says where the used position is: *used and *wrap, both checked. */
static int log_settle_flush(struct vio_devq *q, uint16_t *used, bool *wrap)
{
	struct vio_inflight_packed *l = plog(q);
	uint16_t idx = LOG_ONCE(l->used_idx), old_idx = LOG_ONCE(l->old_used_idx);
	uint8_t w = LOG_ONCE(l->used_wrap_counter), old_w = LOG_ONCE(l->old_used_wrap_counter);
	uint16_t free_head = LOG_ONCE(l->free_head), old_free_head = LOG_ONCE(l->old_free_head);
	uint16_t flags;

	if (idx >= q->size || old_idx >= q->size || w > 1 || old_w > 1)
		return dev_fail(q, -EIO, "inflight log: used index or wrap counter out of range");
	if (idx != old_idx || w != old_w) {
		flags = ld16_acquire(&q->u.packed.desc[old_idx].flags, q->legacy);
		if (!is_avail(flags, old_w)) {
			/* The batch reached the ring: commit it. */
			old_free_head = free_head;
			old_idx = idx;
			old_w = w;
		}
	}
	l->free_head = l->old_free_head = old_free_head;
	l->used_idx = l->old_used_idx = old_idx;
	l->used_wrap_counter = l->old_used_wrap_counter = old_w;
	*used = old_idx;
	*wrap = old_w;
	return 0;
}

/* Marks the entries of the chain at `head` in mark[]; returns its length,
 * or 0 when it is not a chain of fresh entries ending at its `last`. */
static uint16_t log_claim_chain(const struct vio_devq *q, uint16_t head, uint16_t *mark)
{
	const struct vio_inflight_packed *l = plog(q);
	uint16_t num = l->desc[head].num, i = head;

	if (num == 0 || num > q->size)
		return 0;
	for (uint16_t k = 0;; k++) {
		if (i >= q->size || mark[i])
			return 0;
		mark[i] = 1;
		if (k + 1 == num)
			break;
		i = l->desc[i].next;
	}
	return i == l->desc[head].last ? num : 0;
}

/*
 * Takes over the log of a resumed queue: settles an interrupted flush,
 * frees the free list, checks that every other entry belongs to exactly one
 * chain in flight, and queues those chains, oldest first, for pop(). The
 * positions come from the log: the used one as recorded, the avail one
 * after every descriptor in flight.
 */
static int log_recover(struct vio_devq *q)
{
	struct vio_inflight_packed *l = plog(q);
	uint16_t *heads = q->inflight_fifo, *mark = q->inflight_fifo + q->size;
	uint32_t n = 0, free = 0, busy = 0;
	uint16_t i, used = 0;
	bool used_wrap = true;

	if (l->version != VIO_INFLIGHT_VERSION || l->desc_num < q->size)
		return dev_log_bad(q, "inflight log: unknown version or fewer entries than the queue");
	if (log_settle_flush(q, &used, &used_wrap))
		return 0;
	memset(mark, 0, sizeof(*mark) * q->size);
	for (i = l->free_head; i < q->size; i = l->desc[i].next) {
		if (mark[i])
			return dev_log_bad(q, "inflight log: the free list loops");
		mark[i] = 1;
		l->desc[i].inflight = 0;
		free++;
	}
	for (i = 0; i < q->size; i++) {
		if (l->desc[i].inflight > 1)
			return dev_log_bad(q, "inflight log: flag neither 0 nor 1");
		if (l->desc[i].inflight)
			heads[n++] = i;
	}
	for (uint32_t k = 0; k < n; k++) {
		uint16_t num = log_claim_chain(q, heads[k], mark);

		if (num == 0)
			return dev_log_bad(q, "inflight log: a chain in flight is broken or shares entries");
		busy += num;
	}
	if (free + busy != q->size)
		return dev_log_bad(q, "inflight log: entries neither free nor in flight");
	sort_heads_by_counter(heads, n, l->desc, sizeof(l->desc[0]));
	if (!heads_strictly_ordered(heads, n, l->desc, sizeof(l->desc[0])))
		return dev_log_bad(q, "inflight log: two chains with the same counter");
	q->used_idx = used;
	q->u.packed.used_wrap = used_wrap;
	q->last_avail = q->used_idx;
	q->u.packed.avail_wrap = q->u.packed.used_wrap;
	advance(&q->last_avail, &q->u.packed.avail_wrap, busy, q->size);
	if (n)
		q->counter = log_counter(l->desc, sizeof(l->desc[0]), heads[n - 1]) + 1;
	q->resubmit = n;
	return 0;
}

/* Sets up the log at init: a fresh queue (or a region nobody initialised)
 * starts an empty one, a resumed queue takes over what the last device
 * left. */
static int log_init(struct vio_devq *q, const struct vio_devq_config *cfg)
{
	struct vio_inflight_packed *l = cfg->inflight;

	if (!cfg->inflight_scratch || (uintptr_t)l % 8 ||
	    cfg->inflight_len < sizeof(*l) + sizeof(l->desc[0]) * (size_t)q->size)
		return -EINVAL;
	q->inflight = l;
	q->inflight_fifo = cfg->inflight_scratch;
	q->u.packed.log_batch_head = LOG_NONE;
	if (!cfg->resume || l->version == 0)
		log_reset(q);
	else
		log_recover(q);
	for (unsigned i = 0; i < q->size; i++)
		q->inflight_fifo[q->size + i] = LOG_NONE;
	return 0;
}

int vio__packed_dev_init(struct vio_devq *q, const struct vio_devq_config *cfg)
{
	const struct vio_ring_addrs *a = &cfg->addrs;

	if (a->desc % VIO_PACKED_DESC_ALIGN || a->driver % VIO_PACKED_EVENT_ALIGN ||
	    a->device % VIO_PACKED_EVENT_ALIGN)
		return -EINVAL;
	q->u.packed.desc = vio_mem_ptr(cfg->mem, a->desc, sizeof(struct vio_packed_desc) * (uint64_t)cfg->size);
	q->u.packed.driver = vio_mem_ptr(cfg->mem, a->driver, sizeof(struct vio_packed_event));
	q->u.packed.device = vio_mem_ptr(cfg->mem, a->device, sizeof(struct vio_packed_event));
	if (!q->u.packed.desc || !q->u.packed.driver || !q->u.packed.device)
		return -EFAULT;
	if ((uintptr_t)q->u.packed.desc % 8 || (uintptr_t)q->u.packed.driver % 4 ||
	    (uintptr_t)q->u.packed.device % 4)
		return -EINVAL;

	dev_init_common(q, cfg);
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
	if (cfg->inflight)
		return log_init(q, cfg);
	return 0;
}

static inline struct vio__desc load_desc(const void *src, bool legacy)
{
	struct vio_packed_desc raw;
	struct vio__desc d;

	read_once16(&raw, src);
	d.addr = vio_get64(legacy, raw.addr);
	d.len = vio_get32(legacy, raw.len);
	d.flags = vio_get16(legacy, raw.flags);
	d.next = vio_get16(legacy, raw.id);
	return d;
}

/* Walks an indirect table: entries in order, only WRITE meaningful. */
static int walk_indirect(struct vio_devq *q, struct vio_elem *e, const struct vio__desc *ind,
			 bool chained, bool *seen_write, uint64_t *total)
{
	const void *table;
	unsigned entries = 0, i;
	int r;

	r = dev_indirect_table(q, ind, chained, &table, &entries);
	if (r)
		return r;
	for (i = 0; i < entries; i++) {
		struct vio_packed_desc raw;
		struct vio__desc d;

		dev_indirect_entry(q, table, ind->addr, i, &raw);
		d = load_desc(&raw, q->legacy);
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
	const struct vio_inflight_packed *l = plog(q);
	uint16_t i = head, num, id = 0, *slot;
	bool seen_write = false;
	uint64_t total = 0;
	int r = 0;

	num = head < q->size ? l->desc[head].num : 0;
	if (num == 0 || num > q->size)
		return dev_fail(q, -EIO, "inflight log: a chain to resubmit changed");
	elem_reset(e);
	for (uint16_t k = 0; k < num; k++) {
		struct vio_inflight_packed_desc x;
		struct vio__desc d;

		if (r == 1)
			return dev_fail(q, -EIO, "inflight log: a chain ends before its length");
		if (i >= q->size)
			return dev_fail(q, -EIO, "inflight log: a chain to resubmit leaves the queue");
		/* One copy of the shared entry; only the copy is used. */
		memcpy(&x, &l->desc[i], sizeof(x));
		__asm__ volatile("" : "+m"(x));
		d = (struct vio__desc){ x.addr, x.len, x.flags, x.id };
		e->ndescs++;
		r = take_desc(q, e, &d, &seen_write, &total, &id);
		if (r < 0)
			return r;
		i = x.next;
	}
	if (r != 1)
		return dev_fail(q, -EIO, "inflight log: a chain runs past its length");
	if (id >= q->size)
		return dev_fail(q, -EIO, "buffer id beyond the queue size");
	slot = log_slot(q, id, q->popped + 1);
	if (*slot != LOG_NONE)
		return dev_fail(q, -EIO, "buffer id already in flight");
	*slot = head;
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
		st_event(q->u.packed.device, legacy, (uint16_t)(pos | (wrap ? WRAP_BIT : 0)),
			 VIO_PACKED_EVENT_DESC);
		full_barrier();
		r = head_avail(q, &flags);
	}
	if (r <= 0)
		return r < 0 ? r : -EAGAIN;

	if (logged)
		lhead = lcur = plog(q)->old_free_head;
	elem_reset(e);
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
		d = load_desc(&q->u.packed.desc[pos], legacy);
		d.flags = flags;        /* the value we checked, not a second read */
		e->ndescs++;
		advance(&pos, &wrap, 1, q->size);
		if (logged) {
			r = log_copy(q, &lcur, &llast, &d);
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
		r = log_pop(q, lhead, llast, lcur, e->ndescs, id);
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
	if (!q->inflight)
		return pop_ring(q, e, false);
	if (q->popped < q->resubmit)
		return pop_resubmit(q, e, q->inflight_fifo[q->popped]);
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
	q->used_pending++;
	q->u.packed.pending_descs = (uint16_t)(q->u.packed.pending_descs + skip);
	return 0;
}

int vio__packed_fill(struct vio_devq *q, const struct vio_elem *e, uint32_t len)
{
	uint16_t head = 0, last = 0;
	int r = dev_check_fill(q, e, len);

	if (r)
		return r;
	if (q->inflight) {
		r = log_fill_head(q, e->id, e->seq_, &head, &last);
		if (r)
			return r;
	}
	r = put_used(q, e->id, len, e->ndescs);
	if (r)
		return r;
	if (q->inflight)
		log_fill(q, e->id, e->seq_, head, last);
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
	for (int k = 1; q->inflight && k <= n; k++) {
		uint16_t head, tail;

		r = log_fill_head(q, 0, q->filled + (uint32_t)k, &head, &tail);
		if (r)
			return r;
	}
	r = put_used(q, last->id, len, last->dseq_ - q->filled_descs);
	if (r)
		return r;
	for (int k = 1; q->inflight && k <= n; k++) {
		uint16_t head = 0, tail = 0;

		/* Read again, so checked again: the frontend may have written
		 * the log since, and a tail beyond the queue would send
		 * log_fill() outside it. The queue is then stopped. */
		r = log_fill_head(q, 0, q->filled + (uint32_t)k, &head, &tail);
		if (r)
			return r;
		log_fill(q, 0, q->filled + (uint32_t)k, head, tail);
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
	if (q->inflight) {
		used = q->used_idx;
		wrap = q->u.packed.used_wrap;
		advance(&used, &wrap, q->u.packed.pending_descs, q->size);
		log_flush_stage(q, used, wrap);
	}
	/* Publish: every staged descriptor is written before this. Pairs with
	 * the acquire in the driver's get_buf. */
	st16_release(&q->u.packed.desc[q->u.packed.pending_pos].flags, q->legacy,
		     q->u.packed.pending_flags);
	if (q->inflight)
		log_flush_commit(q);
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
	if (needed)
		vio_stat_inc(&q->stats.interrupts);
	else
		vio_stat_inc(&q->stats.interrupts_suppressed);
	return needed;
}

void vio__packed_kick_disable(struct vio_devq *q)
{
	if (q->kicks_disabled)
		return;
	q->kicks_disabled = true;
	st16(&q->u.packed.device->flags, q->legacy, VIO_PACKED_EVENT_DISABLE);
}

bool vio__packed_kick_enable(struct vio_devq *q)
{
	q->kicks_disabled = false;
	if (q->event_idx)
		st_event(q->u.packed.device, q->legacy,
			 (uint16_t)(q->last_avail | (q->u.packed.avail_wrap ? WRAP_BIT : 0)),
			 VIO_PACKED_EVENT_DESC);
	else
		st16(&q->u.packed.device->flags, q->legacy, VIO_PACKED_EVENT_ENABLE);
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
