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
		q->stats.kicks++;
	else
		q->stats.kicks_suppressed++;
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

int vio__packed_pop(struct vio_devq *q, struct vio_elem *e)
{
	const bool legacy = q->legacy;
	uint16_t pos = q->last_avail, flags, id;
	bool wrap = q->u.packed.avail_wrap, seen_write = false;
	uint64_t total = 0;
	int r;

	if (q->broken)
		return q->err;
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

	elem_reset(e);
	for (;;) {
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
		if (d.flags & VIO_DESC_F_INDIRECT) {
			r = walk_indirect(q, e, &d, e->ndescs > 1, &seen_write, &total);
			if (r)
				return r;
			id = d.next;
			break;
		}
		r = dev_map_desc(q, e, &d, &seen_write, &total);
		if (r)
			return r;
		if (!(d.flags & VIO_DESC_F_NEXT)) {
			id = d.next;    /* the buffer id is in the last descriptor */
			break;
		}
	}
	if (id >= q->size)
		return dev_fail(q, -EIO, "buffer id beyond the queue size");
	q->last_avail = pos;
	q->u.packed.avail_wrap = wrap;
	elem_done(q, e, id);
	return 0;
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
	int r = dev_check_fill(q, e, len);

	if (r)
		return r;
	r = put_used(q, e->id, len, e->ndescs);
	if (r)
		return r;
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
	r = put_used(q, last->id, len, last->dseq_ - q->filled_descs);
	if (r)
		return r;
	q->filled += (uint32_t)n;
	q->filled_descs = last->dseq_;
	return 0;
}

int vio__packed_flush(struct vio_devq *q)
{
	unsigned since;

	if (q->broken)
		return q->err;
	if (q->used_pending == 0)
		return 0;
	/* Publish: every staged descriptor is written before this. Pairs with
	 * the acquire in the driver's get_buf. */
	st16_release(&q->u.packed.desc[q->u.packed.pending_pos].flags, q->legacy,
		     q->u.packed.pending_flags);
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
		q->stats.interrupts++;
	else
		q->stats.interrupts_suppressed++;
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
