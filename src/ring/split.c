/*
 * split.c - the split virtqueue (virtio 1.x 2.7, and the 0.9.5 vring of the
 * seed), driver side and device side.
 *
 * Three areas: a descriptor table, the avail ring the driver writes (head
 * ids, plus used_event with EVENT_IDX), and the used ring the device writes
 * ((id, len) pairs, plus avail_event). Indices are free-running 16-bit
 * counters; a ring slot is index & (size - 1), which is why split sizes are
 * powers of two.
 *
 * The publishing protocol, which every barrier below refers to:
 *   driver: write descriptors and avail->ring[i], then avail->idx (release)
 *   device: read avail->idx (acquire), then the ring entry and descriptors
 *   device: write used->ring[i], then used->idx (release)
 *   driver: read used->idx (acquire), then the used entry
 * Event suppression needs store-then-load ordering on each side (write my
 * "wake me" field, then look at the other side's index), hence the full
 * barriers in kick_prepare/enable_cb and need_interrupt/kick_enable, which
 * pair with each other.
 *
 * What both layouts share (argument checks, the private slots, IN_ORDER
 * batches, the descriptor checks) is in ring_internal.h.
 */
#include "ring_internal.h"

/* ======================================================================== */
/* Driver side                                                              */

/* used_event sits after avail->ring[size]; avail_event after used->ring[size]. */
static inline vio_le16 *used_event(struct vio_drvq *q)
{
	return &q->u.split.avail->ring[q->size];
}

static inline vio_le16 *avail_event(struct vio_drvq *q)
{
	return (vio_le16 *)&q->u.split.used->ring[q->size];
}

int vio__split_drv_init(struct vio_drvq *q, const struct vio_drvq_config *cfg)
{
	if ((uintptr_t)cfg->desc % VIO_SPLIT_DESC_ALIGN ||
	    (uintptr_t)cfg->driver % VIO_SPLIT_AVAIL_ALIGN ||
	    (uintptr_t)cfg->device % VIO_SPLIT_USED_ALIGN)
		return -EINVAL;

	drv_init_common(q, cfg);
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
	int needed;

	needed = drv_prepare_add(q, out, out_n, in, in_n, token, &indirect, &in_cap);
	if (needed < 0)
		return needed;

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
	if (needed)
		vio_stat_inc(&q->stats.kicks);
	else
		vio_stat_inc(&q->stats.kicks_suppressed);
	return needed;
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
		drv_next_in_batch(q, token, len, &done);
	} else {
		const struct vio_split_used_elem *ue;
		uint32_t id, l;

		r = more_used(q);
		if (r <= 0)
			return r < 0 ? r : -EAGAIN;
		ue = &q->u.split.used->ring[q->last_used & (q->size - 1)];
		id = vio_get32(legacy, (vio_le32){ __atomic_load_n(&ue->id.raw, __ATOMIC_RELAXED) });
		l = vio_get32(legacy, (vio_le32){ __atomic_load_n(&ue->len.raw, __ATOMIC_RELAXED) });
		r = drv_take_used(q, id, l, token, len, &done);
		if (r < 0)
			return r;
	}
	if (!done)
		return 0;       /* the used entry still covers more of its batch */
	q->last_used++;

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
	/* About 3/4 of the outstanding buffers. With IN_ORDER one used entry
	 * may cover them all, so only the next entry is sure to come. */
	bufs = q->in_order ? 0 : (uint16_t)((uint16_t)(q->u.split.avail_idx - q->last_used) * 3 / 4);
	st16(used_event(q), q->legacy, (uint16_t)(q->last_used + bufs));
	full_barrier(); /* as in poll() */
	if (q->broken)
		return false;
	return !q->batch_pending &&
	       (uint16_t)(ld16(&q->u.split.used->idx, q->legacy) - q->last_used) <= bufs;
}

uint16_t vio__split_resume_base(const struct vio_drvq *q)
{
	const bool legacy = q->legacy;
	uint16_t used = ld16(&q->u.split.used->idx, legacy);
	uint16_t cursor = q->order_head;

	if (!q->in_order)
		return used; /* one used entry per buffer */
	/* IN_ORDER: a used entry may stand for a batch. Count the buffers
	 * the entries cover, then the ones still in flight after them. */
	if (q->batch_pending && !drv_order_skip_to(q, &cursor, q->batch_id, NULL, NULL))
		return used;
	if ((uint16_t)(used - q->last_used) > q->size)
		return used;
	for (uint16_t i = q->last_used; i != used; i++) {
		const struct vio_split_used_elem *e = &q->u.split.used->ring[i % q->size];
		vio_le32 raw = { __atomic_load_n(&e->id.raw, __ATOMIC_RELAXED) };
		uint32_t id = vio_get32(legacy, raw);

		if (id >= q->size || !drv_order_skip_to(q, &cursor, (uint16_t)id, NULL, NULL))
			return used;
	}
	return (uint16_t)(q->u.split.avail_idx - drv_order_len(q, cursor));
}

/* ======================================================================== */
/* Device side                                                              */

static inline vio_le16 *dev_used_event(struct vio_devq *q)
{
	return &q->u.split.avail->ring[q->size];
}

static inline vio_le16 *dev_avail_event(struct vio_devq *q)
{
	return (vio_le16 *)&q->u.split.used->ring[q->size];
}

/* ------------------------------------------------------------------------ */
/* The inflight log (vio/inflight.h)                                        */

static inline struct vio_inflight_split *ilog(const struct vio_devq *q)
{
	return q->inflight;
}

/* pop() took chain `head` from the avail ring: it is in flight from now on. */
static inline void log_pop(struct vio_devq *q, uint16_t head)
{
	struct vio_inflight_split_desc *d = &ilog(q)->desc[head];

	d->counter = q->counter++;
	/* The counter is in place before the entry counts: a crash between
	 * the two leaves a chain that is simply taken from the ring again. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	d->inflight = 1;
	if (q->in_order)
		q->inflight_fifo[q->popped & (q->size - 1)] = head;
}

/* fill() staged chain `head`: it joins the batch the next flush publishes. */
static inline void log_fill(struct vio_devq *q, uint16_t head)
{
	struct vio_inflight_split *l = ilog(q);

	l->desc[head].next = l->last_batch_head;
	l->last_batch_head = head;
	q->batch++;
}

/* flush() published used->idx: the batch is no longer in flight. */
static void log_flush(struct vio_devq *q)
{
	struct vio_inflight_split *l = ilog(q);
	uint16_t i = l->last_batch_head;

	/* used->idx first: a crash before the flags are cleared leaves the
	 * log's used_idx behind the ring's, which recovery detects and
	 * settles by walking this same list. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (uint32_t k = 0; k < q->batch && i < q->size; k++) {
		l->desc[i].inflight = 0;
		i = l->desc[i].next;
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
	l->used_idx = q->used_idx;
	q->batch = 0;
}

/*
 * A crash may have come after the last batch reached the used ring but
 * before the log said so (log_flush): the log's used_idx then lags the
 * ring's, and the batch list names the chains to settle. With IN_ORDER one
 * used entry stands for several chains, so everything popped up to the
 * newest chain of the batch is settled instead.
 */
static int log_settle_last_batch(struct vio_devq *q, uint16_t used)
{
	struct vio_inflight_split *l = ilog(q);
	uint16_t n = (uint16_t)(used - l->used_idx), h = l->last_batch_head;

	if (n == 0)
		return 0;
	if (n > q->size)
		return dev_fail(q, -EIO, "inflight log: used index more than the queue size behind the ring");
	if (q->in_order) {
		uint64_t newest;

		if (h >= q->size)
			return dev_fail(q, -EIO, "inflight log: last batch head beyond the queue size");
		newest = l->desc[h].counter;
		for (unsigned i = 0; i < q->size; i++)
			if (l->desc[i].counter <= newest)
				l->desc[i].inflight = 0;
	} else {
		for (unsigned k = 0; k < n; k++) {
			if (h >= q->size)
				return dev_fail(q, -EIO, "inflight log: last batch list leaves the queue");
			l->desc[h].inflight = 0;
			h = l->desc[h].next;
		}
	}
	l->used_idx = used;
	return 0;
}

/*
 * Takes over the inflight log at init. A fresh queue (or a region nobody
 * initialised) starts an empty log. A resumed one settles the last batch,
 * collects the chains still in flight, oldest first, for pop() to hand out
 * again, and continues the avail ring after every chain taken: the used
 * index plus those in flight (with IN_ORDER, after the newest of them).
 * Counters are the avail index each chain was taken at, extended to 64
 * bits.
 * Everything read is checked; a log that makes no sense stops the queue.
 */
static int inflight_init(struct vio_devq *q, const struct vio_devq_config *cfg)
{
	struct vio_inflight_split *l = cfg->inflight;
	uint16_t *fifo = cfg->inflight_scratch;
	uint16_t used = ld16(&q->u.split.used->idx, q->legacy);
	uint64_t newest;
	uint32_t n = 0;
	int r;

	if (!fifo || (uintptr_t)l % 8 ||
	    cfg->inflight_len < sizeof(*l) + sizeof(l->desc[0]) * (size_t)q->size)
		return -EINVAL;
	q->inflight = l;
	q->inflight_fifo = fifo;
	q->counter = q->last_avail;
	if (!cfg->resume || l->version == 0) {
		memset(l, 0, sizeof(*l) + sizeof(l->desc[0]) * (size_t)q->size);
		l->desc_num = (uint16_t)q->size;
		l->used_idx = q->used_idx;
		l->version = VIO_INFLIGHT_VERSION;
		return 0;
	}
	if (l->version != VIO_INFLIGHT_VERSION || l->desc_num < q->size)
		return dev_log_bad(q, "inflight log: unknown version or fewer entries than the queue");
	q->used_idx = used;
	r = log_settle_last_batch(q, used);
	if (r)
		return 0;
	for (unsigned i = 0; i < q->size; i++) {
		uint8_t v = l->desc[i].inflight;

		if (v > 1)
			return dev_log_bad(q, "inflight log: flag neither 0 nor 1");
		if (v)
			fifo[n++] = (uint16_t)i;
	}
	if (n == 0)
		return 0;
	sort_heads_by_counter(fifo, n, l->desc, sizeof(l->desc[0]));
	if (!heads_strictly_ordered(fifo, n, l->desc, sizeof(l->desc[0])))
		return dev_log_bad(q, "inflight log: two chains with the same counter");
	newest = l->desc[fifo[n - 1]].counter;
	/* Positions are 16 bits: chains taken further apart than half that
	 * cannot be placed on the ring again. */
	if (newest - l->desc[fifo[0]].counter >= 0x8000)
		return dev_log_bad(q, "inflight log: chains in flight further apart than the "
				   "ring's 16-bit positions can tell");
	if (q->in_order) {
		/* Chains are used in the order they were taken, so those in
		 * flight are the newest: the ring continues after them. */
		q->last_avail = (uint16_t)(newest + 1);
	} else {
		/* Every chain taken is either used (one entry each) or in
		 * flight; the newest ones may well be used already, so the
		 * newest in flight does not say where the ring is. */
		q->last_avail = (uint16_t)(used + n);
		/* It was taken before that position, not at or after it. */
		if ((uint16_t)(q->last_avail - 1 - (uint16_t)newest) >= 0x8000)
			return dev_log_bad(q, "inflight log does not match the used ring");
	}
	/* Counters stay avail indices, extended past the newest. */
	q->counter = newest + 1 + (uint16_t)(q->last_avail - (uint16_t)(newest + 1));
	q->resubmit = n;
	return 0;
}

int vio__split_dev_init(struct vio_devq *q, const struct vio_devq_config *cfg)
{
	const struct vio_ring_addrs *a = &cfg->addrs;

	if (a->desc % VIO_SPLIT_DESC_ALIGN || a->driver % VIO_SPLIT_AVAIL_ALIGN ||
	    a->device % VIO_SPLIT_USED_ALIGN)
		return -EINVAL;
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

	dev_init_common(q, cfg);
	if (cfg->resume) {
		q->last_avail = cfg->avail_base;
		q->used_idx = cfg->used_base;
	}
	if (cfg->inflight) {
		int r = inflight_init(q, cfg);

		if (r)
			return r;
	}
	q->avail_idx = q->last_avail;
	q->signalled_used = q->used_idx;
	return 0;
}

static inline struct vio__desc load_desc(const void *src, bool legacy)
{
	struct vio_split_desc raw;
	struct vio__desc d;

	read_once16(&raw, src);
	d.addr = vio_get64(legacy, raw.addr);
	d.len = vio_get32(legacy, raw.len);
	d.flags = vio_get16(legacy, raw.flags);
	d.next = vio_get16(legacy, raw.next);
	return d;
}

/* Walks an indirect table; entries chain by `next` within the table. */
static int walk_indirect(struct vio_devq *q, struct vio_elem *e, const struct vio__desc *ind,
			 bool *seen_write, uint64_t *total)
{
	const void *table;
	unsigned entries = 0, count = 0;
	uint16_t i = 0;
	int r;

	r = dev_indirect_table(q, ind, false, &table, &entries);
	if (r)
		return r;
	for (;;) {
		struct vio_split_desc raw;
		struct vio__desc d;

		if (++count > entries)
			return dev_fail(q, -EIO, "indirect chain loops");
		dev_indirect_entry(q, table, ind->addr, i, &raw);
		d = load_desc(&raw, q->legacy);
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
		st16(dev_avail_event(q), legacy, q->last_avail);
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
		head = q->inflight_fifo[q->popped];
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
		d = load_desc(&q->u.split.desc[i], legacy);
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
		if (q->inflight)
			log_pop(q, head);
	}
	elem_done(q, e, head);
	return 0;
}

/* Stages one used entry after those already pending. */
static void put_used(struct vio_devq *q, uint16_t id, uint32_t len)
{
	struct vio_split_used_elem *ue;

	ue = &q->u.split.used->ring[(uint16_t)(q->used_idx + q->used_pending) & (q->size - 1)];
	ue->id = vio_set32(q->legacy, id);
	ue->len = vio_set32(q->legacy, len);
	q->used_pending++;
}

int vio__split_fill(struct vio_devq *q, const struct vio_elem *e, uint32_t len)
{
	int r = dev_check_fill(q, e, len);

	if (r)
		return r;
	if (q->used_pending >= q->size)
		return -EINVAL;
	put_used(q, e->id, len);
	if (q->inflight)
		log_fill(q, e->id);
	q->filled++;
	q->filled_descs += e->ndescs;
	return 0;
}

int vio__split_fill_in_order(struct vio_devq *q, const struct vio_elem *last, uint32_t len)
{
	int n = dev_check_fill_in_order(q, last, len);

	if (n < 0)
		return n;
	if (q->used_pending >= q->size)
		return -EINVAL;
	put_used(q, last->id, len);
	if (q->inflight) {
		/* Every chain the entry covers, oldest first, so the newest
		 * heads the batch list. */
		for (int k = 0; k < n; k++)
			log_fill(q, q->inflight_fifo[(q->filled + (uint32_t)k) & (q->size - 1)]);
	}
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
	if (q->inflight)
		log_flush(q);
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
		needed = vio_need_event(ld16(dev_used_event(q), legacy), new_idx, old_idx);
	else
		needed = !(ld16(&q->u.split.avail->flags, legacy) & VIO_AVAIL_F_NO_INTERRUPT);
	if (needed)
		vio_stat_inc(&q->stats.interrupts);
	else
		vio_stat_inc(&q->stats.interrupts_suppressed);
	return needed;
}

void vio__split_kick_disable(struct vio_devq *q)
{
	if (q->kicks_disabled)
		return;
	q->kicks_disabled = true;
	/* With EVENT_IDX, an avail_event just behind us is one the driver has
	 * already passed: no kick for 65535 entries. */
	if (q->event_idx)
		st16(dev_avail_event(q), q->legacy, (uint16_t)(q->last_avail - 1));
	else
		st16(&q->u.split.used->flags, q->legacy, VIO_USED_F_NO_NOTIFY);
}

bool vio__split_kick_enable(struct vio_devq *q)
{
	q->kicks_disabled = false;
	if (q->event_idx)
		st16(dev_avail_event(q), q->legacy, q->last_avail);
	else
		st16(&q->u.split.used->flags, q->legacy, 0);
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
