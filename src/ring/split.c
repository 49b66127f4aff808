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
	unsigned i;

	if ((uintptr_t)cfg->desc % VIO_SPLIT_DESC_ALIGN ||
	    (uintptr_t)cfg->driver % VIO_SPLIT_AVAIL_ALIGN ||
	    (uintptr_t)cfg->device % VIO_SPLIT_USED_ALIGN)
		return -EINVAL;
	if (cfg->indirect_max && (!cfg->indirect || (uintptr_t)cfg->indirect % 16 ||
				  cfg->indirect_dma % 16 || cfg->indirect_max > VIO_SPLIT_MAX_SIZE))
		return -EINVAL;

	q->size = cfg->size;
	q->features = cfg->features;
	q->legacy = !vio_has_feature(cfg->features, VIO_F_VERSION_1);
	q->event_idx = vio_has_feature(cfg->features, VIO_F_EVENT_IDX);
	q->indirect_ok = vio_has_feature(cfg->features, VIO_F_INDIRECT_DESC) && cfg->indirect_max > 1;
	q->len_policy = cfg->len_policy;
	q->slots = cfg->slots;
	q->notify = cfg->notify;
	q->opaque = cfg->opaque;
	q->indirect = cfg->indirect;
	q->indirect_dma = cfg->indirect_dma;
	q->indirect_max = cfg->indirect_max;
	q->u.split.desc = cfg->desc;
	q->u.split.avail = cfg->driver;
	q->u.split.used = cfg->device;

	memset(cfg->desc, 0, vio_split_desc_size(q->size));
	memset(cfg->driver, 0, vio_split_avail_size(q->size));
	memset(cfg->device, 0, vio_split_used_size(q->size));

	/* Every descriptor free, linked in order. */
	for (i = 0; i < q->size; i++) {
		q->slots[i] = (struct vio__drv_slot){ .next = (uint16_t)(i + 1) };
	}
	q->free_head = 0;
	q->num_free = q->size;
	return 0;
}

int vio__split_add(struct vio_drvq *q, const struct vio_sg *out, unsigned out_n,
		   const struct vio_sg *in, unsigned in_n, void *token)
{
	const bool legacy = q->legacy;
	const unsigned n = out_n + in_n;
	struct vio__drv_slot *slots = q->slots;
	struct vio_split_desc *table;
	uint64_t in_cap = 0;
	uint16_t head, i, last = 0, needed;
	bool indirect;
	unsigned k;

	if (q->broken)
		return -EIO;
	if (n == 0 || token == NULL || n < out_n)
		return -EINVAL;
	for (k = 0; k < in_n; k++)
		in_cap += in[k].len;
	if (in_cap > UINT32_MAX)
		return -EINVAL;

	indirect = q->indirect_ok && n > 1 && n <= q->indirect_max;
	if (!indirect && n > q->size)
		return -EINVAL;                 /* could never fit */
	needed = indirect ? 1 : (uint16_t)n;
	if (q->num_free < needed)
		return -ENOSPC;

	if (q->num_added == UINT16_MAX) {
		/* 65535 adds since the last kick: one more and the device's
		 * avail_event window could be lost. */
		if (!q->notify)
			return -EAGAIN;
		vio_drvq_kick(q);
	}

	head = q->free_head;
	if (indirect) {
		uint64_t table_dma = q->indirect_dma + (uint64_t)head * q->indirect_max * 16;

		table = (struct vio_split_desc *)(q->indirect + (size_t)head * q->indirect_max * 16);
		for (k = 0; k < n; k++) {
			const struct vio_sg *sg = k < out_n ? &out[k] : &in[k - out_n];
			uint16_t flags = (k < out_n ? 0 : VIO_DESC_F_WRITE) | (k + 1 < n ? VIO_DESC_F_NEXT : 0);

			table[k].addr = vio_set64(legacy, sg->addr);
			table[k].len = vio_set32(legacy, sg->len);
			table[k].flags = vio_set16(legacy, flags);
			table[k].next = vio_set16(legacy, (uint16_t)(k + 1));
		}
		table = q->u.split.desc;
		table[head].addr = vio_set64(legacy, table_dma);
		table[head].len = vio_set32(legacy, (uint32_t)(n * sizeof(struct vio_split_desc)));
		table[head].flags = vio_set16(legacy, VIO_DESC_F_INDIRECT);
		last = head;
		q->free_head = slots[head].next;
	} else {
		table = q->u.split.desc;
		i = head;
		for (k = 0; k < n; k++) {
			const struct vio_sg *sg = k < out_n ? &out[k] : &in[k - out_n];
			uint16_t flags = (k < out_n ? 0 : VIO_DESC_F_WRITE) | (k + 1 < n ? VIO_DESC_F_NEXT : 0);

			/* The link comes from our private free list, never
			 * from the shared descriptor. */
			table[i].addr = vio_set64(legacy, sg->addr);
			table[i].len = vio_set32(legacy, sg->len);
			table[i].flags = vio_set16(legacy, flags);
			table[i].next = vio_set16(legacy, slots[i].next);
			last = i;
			i = slots[i].next;
		}
		q->free_head = i;
	}
	q->num_free -= needed;

	slots[head].token = token;
	slots[head].in_cap = (uint32_t)in_cap;
	slots[head].ndescs = needed;
	slots[head].last = last;

	q->u.split.avail->ring[q->u.split.avail_idx & (q->size - 1)] = vio_set16(legacy, head);
	q->u.split.avail_idx++;
	/* Publish: descriptors and the ring entry above become visible before
	 * the new index. Pairs with the acquire in the device's pop. */
	st16_release(&q->u.split.avail->idx, legacy, q->u.split.avail_idx);
	q->num_added++;
	return 0;
}

bool vio__split_kick_prepare(struct vio_drvq *q)
{
	uint16_t new_idx = q->u.split.avail_idx;
	uint16_t old_idx = (uint16_t)(new_idx - q->num_added);
	bool needed;

	/* Our avail->idx store must be visible before we read the device's
	 * suppression state. Pairs with the barrier in the device's
	 * kick_enable() between its avail_event/flags store and its avail->idx
	 * load: one of us sees the other. */
	full_barrier();
	q->num_added = 0;
	if (q->broken)
		return false;
	if (q->event_idx)
		needed = vio_need_event(ld16(avail_event(q), q->legacy), new_idx, old_idx);
	else
		needed = !(ld16(&q->u.split.used->flags, q->legacy) & VIO_USED_F_NO_NOTIFY);
	if (needed)
		q->stats.kicks++;
	else
		q->stats.kicks_suppressed++;
	return needed;
}

/* Is there a used entry at last_used? Reloads used->idx only when the last
 * value read is used up, and checks it never runs more than size ahead. */
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
	struct vio_split_used_elem *ue;
	struct vio__drv_slot *s;
	uint32_t id, l;
	int more;

	if (q->broken)
		return -EIO;
	more = more_used(q);
	if (more <= 0)
		return more < 0 ? more : -EAGAIN;

	ue = &q->u.split.used->ring[q->last_used & (q->size - 1)];
	id = vio_get32(legacy, (vio_le32){ __atomic_load_n(&ue->id.raw, __ATOMIC_RELAXED) });
	l = vio_get32(legacy, (vio_le32){ __atomic_load_n(&ue->len.raw, __ATOMIC_RELAXED) });
	if (id >= q->size)
		return drv_fail(q, "device returned a used id beyond the queue size");
	s = &q->slots[id];
	if (s->token == NULL)
		return drv_fail(q, "device returned a used id that is not outstanding");
	if (l > s->in_cap) {
		if (q->len_policy != VIO_LEN_CLAMP)
			return drv_fail(q, "device wrote more bytes than the buffer holds");
		l = s->in_cap;
	}

	*token = s->token;
	*len = l;
	s->token = NULL;
	q->slots[s->last].next = q->free_head;
	q->free_head = (uint16_t)id;
	q->num_free += s->ndescs;
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
	return !q->broken && more_used(q) > 0;
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

uint32_t vio__split_enable_cb_prepare(struct vio_drvq *q)
{
	if (q->u.split.avail_flags & VIO_AVAIL_F_NO_INTERRUPT) {
		q->u.split.avail_flags &= (uint16_t)~VIO_AVAIL_F_NO_INTERRUPT;
		if (!q->event_idx)
			st16(&q->u.split.avail->flags, q->legacy, q->u.split.avail_flags);
	}
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
	return ld16(&q->u.split.used->idx, q->legacy) != (uint16_t)pos;
}

bool vio__split_enable_cb_delayed(struct vio_drvq *q)
{
	uint16_t bufs;

	if (q->u.split.avail_flags & VIO_AVAIL_F_NO_INTERRUPT) {
		q->u.split.avail_flags &= (uint16_t)~VIO_AVAIL_F_NO_INTERRUPT;
		if (!q->event_idx)
			st16(&q->u.split.avail->flags, q->legacy, q->u.split.avail_flags);
	}
	/* About 3/4 of the outstanding buffers. */
	bufs = (uint16_t)((uint16_t)(q->u.split.avail_idx - q->last_used) * 3 / 4);
	st16(used_event(q), q->legacy, (uint16_t)(q->last_used + bufs));
	full_barrier(); /* as in poll() */
	if (q->broken)
		return false;
	return (uint16_t)(ld16(&q->u.split.used->idx, q->legacy) - q->last_used) <= bufs;
}

void *vio__split_detach_unused(struct vio_drvq *q)
{
	for (unsigned i = 0; i < q->size; i++) {
		struct vio__drv_slot *s = &q->slots[i];
		void *token = s->token;

		if (!token)
			continue;
		s->token = NULL;
		q->slots[s->last].next = q->free_head;
		q->free_head = (uint16_t)i;
		q->num_free += s->ndescs;
		/* The device was reset and never saw it: take the avail entry
		 * back too, so the ring is consistent for reuse. */
		q->u.split.avail_idx--;
		st16(&q->u.split.avail->idx, q->legacy, q->u.split.avail_idx);
		return token;
	}
	return NULL;
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

	q->size = cfg->size;
	q->features = cfg->features;
	q->legacy = !vio_has_feature(cfg->features, VIO_F_VERSION_1);
	q->event_idx = vio_has_feature(cfg->features, VIO_F_EVENT_IDX);
	q->indirect_ok = vio_has_feature(cfg->features, VIO_F_INDIRECT_DESC);
	q->notify_on_empty = vio_has_feature(cfg->features, VIO_F_NOTIFY_ON_EMPTY);
	q->mem = cfg->mem;
	q->last_avail = cfg->avail_base;
	q->avail_idx = cfg->avail_base;
	q->used_idx = cfg->used_base;
	q->signalled_used = cfg->used_base;
	return 0;
}

/* One descriptor, as copied out of shared memory. */
struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static inline struct desc load_desc(const struct vio_split_desc *src, bool legacy)
{
	struct vio_split_desc raw;
	struct desc d;

	read_once16(&raw, src);
	d.addr = vio_get64(legacy, raw.addr);
	d.len = vio_get32(legacy, raw.len);
	d.flags = vio_get16(legacy, raw.flags);
	d.next = vio_get16(legacy, raw.next);
	return d;
}

/* Maps one buffer descriptor into the element's readable or writable spans. */
static int map_desc(struct vio_devq *q, struct vio_elem *e, const struct desc *d,
		    bool *seen_write, uint64_t *total)
{
	unsigned n;
	int r;

	*total += d->len;
	if (*total > UINT32_MAX)
		return dev_fail(q, -EIO, "descriptor chain longer than 4 GiB");
	if (d->flags & VIO_DESC_F_WRITE) {
		*seen_write = true;
		r = vio_mem_translate(q->mem, d->addr, d->len, e->in + e->in_num, e->in_cap - e->in_num, &n);
		e->in_num += n;
		e->in_len += d->len;
	} else {
		if (*seen_write)
			return dev_fail(q, -EIO, "readable descriptor after a writable one");
		r = vio_mem_translate(q->mem, d->addr, d->len, e->out + e->out_num, e->out_cap - e->out_num, &n);
		e->out_num += n;
		e->out_len += d->len;
	}
	if (r == -ENOBUFS)
		return dev_fail(q, -ENOBUFS, "descriptor chain needs more spans than the element holds");
	if (r < 0)
		return dev_fail(q, -EFAULT, "descriptor address outside guest memory");
	return 0;
}

/*
 * Walks an indirect table at d->addr. Each entry is copied once; the table
 * is read through one host pointer when it lies in one region, entry by
 * entry through vio_mem_read() when it straddles two.
 */
static int walk_indirect(struct vio_devq *q, struct vio_elem *e, const struct desc *ind,
			 bool *seen_write, uint64_t *total)
{
	const bool legacy = q->legacy;
	const struct vio_split_desc *table;
	unsigned entries, count = 0;
	uint16_t i = 0;
	int r;

	if (!q->indirect_ok)
		return dev_fail(q, -EIO, "indirect descriptor without INDIRECT_DESC");
	if (ind->flags & VIO_DESC_F_NEXT)
		return dev_fail(q, -EIO, "indirect descriptor with NEXT set");
	if (ind->len == 0 || ind->len % sizeof(struct vio_split_desc))
		return dev_fail(q, -EIO, "indirect table length not a non-zero multiple of 16");
	entries = ind->len / sizeof(struct vio_split_desc);
	if (entries > q->size)
		return dev_fail(q, -EIO, "indirect table longer than the queue");
	table = vio_mem_ptr(q->mem, ind->addr, ind->len);
	if (!table) {
		/* Not in one region: all of it must still be in guest memory. */
		struct vio_iov probe[2];
		unsigned n;
		if (vio_mem_translate(q->mem, ind->addr, ind->len, probe, 2, &n) < 0)
			return dev_fail(q, -EFAULT, "indirect table outside guest memory");
	}

	for (;;) {
		struct desc d;

		if (++count > entries)
			return dev_fail(q, -EIO, "indirect chain loops");
		if (table) {
			d = load_desc(&table[i], legacy);
		} else {
			struct vio_split_desc raw;
			vio_mem_read(q->mem, ind->addr + (uint64_t)i * sizeof(raw), &raw, sizeof(raw));
			d = load_desc(&raw, legacy);
		}
		if (d.flags & VIO_DESC_F_INDIRECT)
			return dev_fail(q, -EIO, "indirect descriptor inside an indirect table");
		r = map_desc(q, e, &d, seen_write, total);
		if (r)
			return r;
		if (!(d.flags & VIO_DESC_F_NEXT))
			return 0;
		if (d.next >= entries)
			return dev_fail(q, -EIO, "indirect next index beyond the table");
		i = d.next;
	}
}

int vio__split_pop(struct vio_devq *q, struct vio_elem *e)
{
	const bool legacy = q->legacy;
	const uint16_t mask = (uint16_t)(q->size - 1);
	bool seen_write = false;
	uint64_t total = 0;
	unsigned count = 0;
	uint16_t head, i;
	int r;

	if (q->broken)
		return q->err;
	if (q->last_avail == q->avail_idx) {
		/* Acquire: the ring entries and descriptors before this index
		 * are written. Pairs with the release in the driver's add. */
		q->avail_idx = ld16_acquire(&q->u.split.avail->idx, legacy);
		if (q->avail_idx == q->last_avail && q->event_idx && !q->kicks_disabled) {
			/* Going idle: ask for a kick at the next entry, then
			 * look again, or an add racing with us would be lost. */
			st16(dev_avail_event(q), legacy, q->last_avail);
			full_barrier(); /* pairs with the driver's kick_prepare */
			q->avail_idx = ld16_acquire(&q->u.split.avail->idx, legacy);
		}
		if ((uint16_t)(q->avail_idx - q->last_avail) > q->size)
			return dev_fail(q, -EIO, "driver moved the avail index more than the queue size ahead");
		if (q->avail_idx == q->last_avail)
			return -EAGAIN;
	}

	head = ld16(&q->u.split.avail->ring[q->last_avail & mask], legacy);
	if (head >= q->size)
		return dev_fail(q, -EIO, "avail ring names a head beyond the queue size");

	e->id = head;
	e->ndescs = 1;
	e->out_num = e->in_num = 0;
	e->out_len = e->in_len = 0;
	i = head;
	for (;;) {
		struct desc d;

		if (++count > q->size)
			return dev_fail(q, -EIO, "descriptor chain longer than the queue (a loop)");
		d = load_desc(&q->u.split.desc[i], legacy);
		if (d.flags & VIO_DESC_F_INDIRECT) {
			r = walk_indirect(q, e, &d, &seen_write, &total);
			if (r)
				return r;
			break;
		}
		r = map_desc(q, e, &d, &seen_write, &total);
		if (r)
			return r;
		if (!(d.flags & VIO_DESC_F_NEXT))
			break;
		if (d.next >= q->size)
			return dev_fail(q, -EIO, "descriptor next index beyond the queue size");
		i = d.next;
	}
	q->last_avail++;
	q->inflight++;
	return 0;
}

int vio__split_fill(struct vio_devq *q, const struct vio_elem *e, uint32_t len)
{
	struct vio_split_used_elem *ue;

	if (q->broken)
		return q->err;
	if (e->id >= q->size || len > e->in_len || q->used_pending >= q->size)
		return -EINVAL;
	ue = &q->u.split.used->ring[(uint16_t)(q->used_idx + q->used_pending) & (q->size - 1)];
	ue->id = vio_set32(q->legacy, e->id);
	ue->len = vio_set32(q->legacy, len);
	q->used_pending++;
	if (q->inflight)
		q->inflight--;
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
	 * enable_cb/poll. */
	full_barrier();
	q->signalled_used = new_idx;
	if (q->notify_on_empty && q->inflight == 0 &&
	    ld16(&q->u.split.avail->idx, legacy) == q->last_avail)
		needed = true;
	else if (q->event_idx)
		needed = vio_need_event(ld16(dev_used_event(q), legacy), new_idx, old_idx);
	else
		needed = !(ld16(&q->u.split.avail->flags, legacy) & VIO_AVAIL_F_NO_INTERRUPT);
	if (needed)
		q->stats.interrupts++;
	else
		q->stats.interrupts_suppressed++;
	return needed;
}

void vio__split_kick_disable(struct vio_devq *q)
{
	if (q->kicks_disabled)
		return;
	q->kicks_disabled = true;
	/* With EVENT_IDX, leaving avail_event behind is the suppression. */
	if (!q->event_idx)
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
