/*
 * ring_internal.h - what split.c and packed.c share: access to fields the
 * other side writes concurrently, memory barriers, and the error paths.
 *
 * Rules for shared memory (docs/design.md, "Concurrency"):
 *  - an index or flag the other side may be writing right now is read and
 *    written with a single atomic access (relaxed, acquire or release as
 *    each call site says), never a plain access the compiler could split
 *    or repeat;
 *  - a descriptor the other side wrote is copied once into a local and
 *    only the copy is used (read_once16 below);
 *  - every barrier names the access it pairs with.
 */
#ifndef VIO_RING_INTERNAL_H
#define VIO_RING_INTERNAL_H

#include <stddef.h>

#include "vio/ring.h"

#include "../vio_libc.h"

/* 16-bit ring fields (indices, flags, event indices). */
static inline uint16_t ld16(const vio_le16 *p, bool legacy)
{
	vio_le16 v = { __atomic_load_n(&p->raw, __ATOMIC_RELAXED) };
	return vio_get16(legacy, v);
}

static inline uint16_t ld16_acquire(const vio_le16 *p, bool legacy)
{
	vio_le16 v = { __atomic_load_n(&p->raw, __ATOMIC_ACQUIRE) };
	return vio_get16(legacy, v);
}

static inline void st16(vio_le16 *p, bool legacy, uint16_t v)
{
	__atomic_store_n(&p->raw, vio_set16(legacy, v).raw, __ATOMIC_RELAXED);
}

static inline void st16_release(vio_le16 *p, bool legacy, uint16_t v)
{
	__atomic_store_n(&p->raw, vio_set16(legacy, v).raw, __ATOMIC_RELEASE);
}

/* A full barrier: orders a store before a later load (store-load), which
 * acquire/release cannot. Used around event suppression. */
static inline void full_barrier(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/*
 * Copy 16 bytes of shared memory into *dst exactly once. The empty asm
 * tells the compiler the local copy may have changed, so it cannot drop the
 * copy and re-read shared memory later (a double fetch a hostile peer
 * could race). Works for any alignment.
 */
static inline void read_once16(void *dst, const void *src)
{
	memcpy(dst, src, 16);
	__asm__ volatile("" : "+m"(*(char (*)[16])dst));
}

/* Sticky failure: the driver side calls the queue broken, the device side
 * stopped. Both return the error so callers can `return fail(...)`. */
static inline int drv_fail(struct vio_drvq *q, const char *why)
{
	if (!q->broken) {
		q->broken = true;
		q->error = why;
	}
	return -EIO;
}

static inline int dev_fail(struct vio_devq *q, int err, const char *why)
{
	if (!q->broken) {
		q->broken = true;
		q->err = err;
		q->error = why;
	}
	return q->err;
}

/* ------------------------------------------------------------------------ */
/* Driver side, common to both layouts                                      */

#define VIO__NONE 0xffffu /* end of a slot list; above any queue size */

/*
 * Checks an add() request and makes room for it. Returns the number of
 * ring descriptors it needs (> 0) or a negative errno; *indirect says
 * whether to use an indirect table, *in_cap is the writable total.
 */
static inline int drv_prepare_add(struct vio_drvq *q, const struct vio_sg *out, unsigned out_n,
				  const struct vio_sg *in, unsigned in_n, void *token,
				  bool *indirect, uint32_t *in_cap)
{
	const unsigned n = out_n + in_n;
	uint64_t cap = 0;
	unsigned needed, k;

	if (q->broken)
		return -EIO;
	if (n == 0 || token == NULL || n < out_n)
		return -EINVAL;
	for (k = 0; k < in_n; k++)
		cap += in[k].len;
	if (cap > UINT32_MAX)
		return -EINVAL;
	*in_cap = (uint32_t)cap;
	/* A table longer than the queue is one the device must refuse. With
	 * IN_ORDER, a chain that fits goes direct: buffers come back in
	 * order, so consecutive chains sit in neighbouring descriptors and
	 * the device finds each in the lines it is already reading, where a
	 * table would be one more line to fetch from the driver's cpu
	 * (measured against a null blk backend: 1.2x the IOPS split, 1.16x
	 * packed; without IN_ORDER, direct split chains were slower). The
	 * rule is the same for both layouts, so num_free() does not tell
	 * them apart. */
	*indirect = q->indirect_ok && n > 1 && n <= q->indirect_max && n <= q->size &&
		    !(q->in_order && n <= q->num_free);
	needed = *indirect ? 1 : n;
	if (needed > q->size)
		return -EINVAL;                 /* could never fit */
	if (q->num_free < needed)
		return -ENOSPC;
	/* num_added counts avail entries (split: one per add) or
	 * descriptors (packed), the units kick_prepare() compares. */
	if (q->num_added > UINT16_MAX - (q->packed ? needed : 1u)) {
		/* 65535 entries since the last kick: any more and the
		 * 16-bit window kick_prepare() reasons about could wrap. */
		if (!q->notify)
			return -EAGAIN;
		vio_drvq_kick(q);
	}
	return (int)needed;
}

/* Takes a free slot id (split: the head descriptor; packed: a buffer id). */
static inline uint16_t drv_take_id(struct vio_drvq *q)
{
	uint16_t id = q->free_head;

	q->free_head = q->slots[id].next;
	return id;
}

/* Records a posted buffer in its slot, and in avail order for IN_ORDER. */
static inline void drv_record(struct vio_drvq *q, uint16_t id, void *token, uint32_t in_cap,
			      uint16_t ndescs, uint16_t last)
{
	struct vio_drvq_slot *s = &q->slots[id];

	s->token = token;
	s->in_cap = in_cap;
	s->ndescs = ndescs;
	s->last = last;
	q->num_free -= ndescs;
	if (q->in_order) {
		s->order = VIO__NONE;
		if (q->order_head == VIO__NONE)
			q->order_head = id;
		else
			q->slots[q->order_tail].order = id;
		q->order_tail = id;
	}
}

/* Gives buffer `id` back to the caller and its descriptors (split: the
 * chain from id to last; packed: the id) to the free list. */
static inline void drv_hand_out(struct vio_drvq *q, uint16_t id, uint32_t l,
				void **token, uint32_t *len)
{
	struct vio_drvq_slot *s = &q->slots[id];

	*token = s->token;
	*len = l;
	s->token = NULL;
	q->slots[s->last].next = q->free_head;
	q->free_head = id;
	q->num_free += s->ndescs;
	if (q->in_order && q->order_head == id)
		q->order_head = s->order;
}

/* Hands out the next buffer of an IN_ORDER batch. Returns its id; *done
 * says whether it was the last one, named by the used entry. */
static inline uint16_t drv_next_in_batch(struct vio_drvq *q, void **token, uint32_t *len, bool *done)
{
	uint16_t id = q->order_head;

	*done = id == q->batch_id;
	q->batch_pending = !*done;
	/* The device used the earlier buffers of the batch whole. */
	drv_hand_out(q, id, *done ? q->batch_len : q->slots[id].in_cap, token, len);
	return id;
}

/*
 * Checks the used entry (id, l) the device wrote and hands out the buffer
 * it completes. With IN_ORDER the entry may complete a batch: then the
 * oldest outstanding buffer goes out first and *done is false until the
 * named one does. Returns the id handed out or -EIO (broken).
 */
static inline int drv_take_used(struct vio_drvq *q, uint32_t id, uint32_t l,
				void **token, uint32_t *len, bool *done)
{
	const struct vio_drvq_slot *s;

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
	if (q->in_order && id != q->order_head) {
		q->batch_id = (uint16_t)id;
		q->batch_len = l;
		return drv_next_in_batch(q, token, len, done);
	}
	*done = true;
	drv_hand_out(q, (uint16_t)id, l, token, len);
	return (int)id;
}

/* Steps along the IN_ORDER list from *cursor up to and including buffer
 * `id`, moving *pos (if given) past each buffer's descriptors. False when
 * id is not on the list. */
static inline bool drv_order_skip_to(const struct vio_drvq *q, uint16_t *cursor, uint16_t id, uint16_t *pos,
			  bool *wrap)
{
	for (unsigned steps = 0; *cursor < q->size && steps < q->size; steps++) {
		uint16_t c = *cursor;

		*cursor = q->slots[c].order;
		if (pos) {
			unsigned p = *pos + q->slots[c].ndescs;

			if (p >= q->size) {
				p -= q->size;
				*wrap = !*wrap;
			}
			*pos = (uint16_t)p;
		}
		if (c == id)
			return true;
	}
	return false;
}

static inline unsigned drv_order_len(const struct vio_drvq *q, uint16_t cursor)
{
	unsigned n = 0;

	while (cursor < q->size && n < q->size) {
		cursor = q->slots[cursor].order;
		n++;
	}
	return n;
}

/* Common part of init: slots all free, linked in order. */
static inline void drv_init_common(struct vio_drvq *q, const struct vio_drvq_config *cfg)
{
	unsigned i;

	q->size = cfg->size;
	q->features = cfg->features;
	q->legacy = !vio_has_feature(cfg->features, VIO_F_VERSION_1);
	q->event_idx = vio_has_feature(cfg->features, VIO_F_EVENT_IDX);
	q->indirect_ok = vio_has_feature(cfg->features, VIO_F_INDIRECT_DESC) && cfg->indirect_max > 1;
	q->in_order = vio_has_feature(cfg->features, VIO_F_IN_ORDER);
	q->packed = vio_has_feature(cfg->features, VIO_F_RING_PACKED);
	q->len_policy = cfg->len_policy;
	q->slots = cfg->slots;
	q->notify = cfg->notify;
	q->opaque = cfg->opaque;
	q->indirect = cfg->indirect;
	q->indirect_dma = cfg->indirect_dma;
	q->indirect_max = cfg->indirect_max;
	q->order_head = q->order_tail = VIO__NONE;
	for (i = 0; i < q->size; i++)
		q->slots[i] = (struct vio_drvq_slot){ .next = (uint16_t)(i + 1), .order = VIO__NONE };
	q->free_head = 0;
	q->num_free = q->size;
}

/* Returns one outstanding buffer after a reset, or NULL. */
static inline void *drv_detach_one(struct vio_drvq *q)
{
	for (unsigned i = 0; i < q->size; i++) {
		void *token;
		uint32_t len;

		if (!q->slots[i].token)
			continue;
		drv_hand_out(q, (uint16_t)i, 0, &token, &len);
		q->batch_pending = false;
		q->order_head = q->order_tail = VIO__NONE; /* never used again */
		return token;
	}
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Device side, common to both layouts                                      */

/* One descriptor, as copied out of shared memory. */
struct vio__desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;  /* split: next; packed: buffer id */
};

static inline void dev_init_common(struct vio_devq *q, const struct vio_devq_config *cfg)
{
	q->size = cfg->size;
	q->features = cfg->features;
	q->legacy = !vio_has_feature(cfg->features, VIO_F_VERSION_1);
	q->event_idx = vio_has_feature(cfg->features, VIO_F_EVENT_IDX);
	q->indirect_ok = vio_has_feature(cfg->features, VIO_F_INDIRECT_DESC);
	q->notify_on_empty = vio_has_feature(cfg->features, VIO_F_NOTIFY_ON_EMPTY);
	q->in_order = vio_has_feature(cfg->features, VIO_F_IN_ORDER);
	q->packed = vio_has_feature(cfg->features, VIO_F_RING_PACKED);
	q->mem = cfg->mem;
	q->indirect_max = cfg->indirect_max > cfg->size ? cfg->indirect_max : cfg->size;
}

/* Starts a pop: clears the element's results. */
static inline void elem_reset(struct vio_elem *e)
{
	e->ndescs = 0;
	e->out_num = e->in_num = 0;
	e->out_len = e->in_len = 0;
}

/* Finishes a pop: counts the chain. */
static inline void elem_done(struct vio_devq *q, struct vio_elem *e, uint16_t id)
{
	e->id = id;
	q->popped++;
	q->popped_descs += e->ndescs;
	e->seq_ = q->popped;
	e->dseq_ = q->popped_descs;
}

/* Maps one buffer descriptor into the element's readable or writable spans. */
static inline int dev_map_desc(struct vio_devq *q, struct vio_elem *e, const struct vio__desc *d,
			       bool *seen_write, uint64_t *total)
{
	unsigned n;
	int r;

	*total += d->len;
	if (*total > UINT32_MAX)
		return dev_fail(q, -EIO, "descriptor chain longer than 4 GiB");
	if (d->flags & VIO_DESC_F_WRITE) {
		*seen_write = true;
		r = vio_mem_translate_hint(q->mem, &q->mem_hint, d->addr, d->len, e->in + e->in_num,
					   e->in_cap - e->in_num, &n);
		e->in_num += n;
		e->in_len += d->len;
	} else {
		if (*seen_write)
			return dev_fail(q, -EIO, "readable descriptor after a writable one");
		r = vio_mem_translate_hint(q->mem, &q->mem_hint, d->addr, d->len, e->out + e->out_num,
					   e->out_cap - e->out_num, &n);
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
 * Checks the descriptor that points at an indirect table and finds the
 * table: a host pointer when it lies in one region, NULL (with 0 returned)
 * when it straddles adjacent regions and must be read entry by entry.
 * `chained` says the descriptor came after others in a chain.
 */
static inline int dev_indirect_table(struct vio_devq *q, const struct vio__desc *ind, bool chained,
				     const void **table, unsigned *entries)
{
	if (!q->indirect_ok)
		return dev_fail(q, -EIO, "indirect descriptor without INDIRECT_DESC");
	if (ind->flags & VIO_DESC_F_NEXT)
		return dev_fail(q, -EIO, "indirect descriptor with NEXT set");
	if (chained && q->packed)
		return dev_fail(q, -EIO, "indirect descriptor inside a chain");
	if (ind->len == 0 || ind->len % 16)
		return dev_fail(q, -EIO, "indirect table length not a non-zero multiple of 16");
	*entries = ind->len / 16;
	if (*entries > q->indirect_max)
		return dev_fail(q, -EIO, "indirect table longer than the queue allows");
	*table = vio_mem_ptr(q->mem, ind->addr, ind->len);
	if (*table && (uintptr_t)*table % 8 == 0)
		return 0;
	*table = NULL;
	/* Not one aligned span here (it crosses regions, or the mapping is
	 * misaligned): all of it must still be in guest memory, and then it is
	 * read entry by entry. */
	if (vio_mem_check(q->mem, ind->addr, ind->len) < 0)
		return dev_fail(q, -EFAULT, "indirect table outside guest memory");
	return 0;
}

/* Copies indirect entry i (raw wire bytes) once, from the table pointer or
 * through the region table. */
static inline void dev_indirect_entry(const struct vio_devq *q, const void *table, uint64_t addr,
				      unsigned i, void *raw)
{
	if (table)
		read_once16(raw, (const uint8_t *)table + (size_t)i * 16);
	else
		vio_mem_read(q->mem, addr + (uint64_t)i * 16, raw, 16);
}

/* Validates an element handed back to fill(): something must be popped
 * and not filled (which one cannot be checked when the device completes
 * out of order; with IN_ORDER it must be the oldest), and len must fit the
 * element's writable spans. */
static inline int dev_check_fill(struct vio_devq *q, const struct vio_elem *e, uint32_t len)
{
	if (q->broken)
		return q->err;
	if (e->id >= q->size || len > e->in_len || q->popped == q->filled)
		return -EINVAL;
	/* IN_ORDER: buffers are used in the order they were made available. */
	if (q->in_order && e->seq_ != q->filled + 1)
		return -EINVAL;
	return 0;
}

/* For fill_in_order(): `last` must be popped and not yet filled, which in
 * order means its sequence number lies in (filled, popped]. Returns the
 * number of chains the batch completes, or a negative errno. */
static inline int dev_check_fill_in_order(struct vio_devq *q, const struct vio_elem *last, uint32_t len)
{
	uint32_t n = last->seq_ - q->filled;

	if (q->broken)
		return q->err;
	if (!q->in_order || last->id >= q->size || len > last->in_len ||
	    n == 0 || n > q->popped - q->filled)
		return -EINVAL;
	return (int)n;
}

/* ------------------------------------------------------------------------ */
/* Inflight log, common to both layouts                                     */

_Static_assert(offsetof(struct vio_inflight_split_desc, counter) == 8, "counter offset");
_Static_assert(offsetof(struct vio_inflight_packed_desc, counter) == 8, "counter offset");

/* A log that makes no sense stops the queue; init itself succeeds, so the
 * first pop() reports why. */
static inline int dev_log_bad(struct vio_devq *q, const char *why)
{
	dev_fail(q, -EIO, why);
	return 0;
}

/* The pop counter of log entry h; both layouts keep it at offset 8 of an
 * entry of `stride` bytes. */
static inline uint64_t log_counter(const void *entries, size_t stride, uint16_t h)
{
	uint64_t c;

	memcpy(&c, (const uint8_t *)entries + (size_t)h * stride + 8, sizeof(c));
	return c;
}

/* Sorts heads[0..n) by their log counters (heapsort: bounded, in place,
 * whatever the counters say). */
static inline void sort_heads_by_counter(uint16_t *heads, uint32_t n, const void *entries,
					 size_t stride)
{
	for (uint32_t end = n, start = n / 2; end > 1;) {
		uint32_t root, child;
		uint16_t tmp;

		if (start > 0) {
			start--;
		} else {
			end--;
			tmp = heads[0];
			heads[0] = heads[end];
			heads[end] = tmp;
		}
		for (root = start; (child = 2 * root + 1) < end; root = child) {
			if (child + 1 < end && log_counter(entries, stride, heads[child]) <
					       log_counter(entries, stride, heads[child + 1]))
				child++;
			if (log_counter(entries, stride, heads[root]) >=
			    log_counter(entries, stride, heads[child]))
				break;
			tmp = heads[root];
			heads[root] = heads[child];
			heads[child] = tmp;
		}
	}
}

/* After sorting: false when two chains share a counter, which no log we
 * wrote can hold. */
static inline bool heads_strictly_ordered(const uint16_t *heads, uint32_t n, const void *entries,
					  size_t stride)
{
	for (uint32_t k = 1; k < n; k++)
		if (log_counter(entries, stride, heads[k - 1]) >=
		    log_counter(entries, stride, heads[k]))
			return false;
	return true;
}

/* split.c and packed.c: the layout-specific halves of the public calls. */
int vio__split_drv_init(struct vio_drvq *q, const struct vio_drvq_config *cfg);
int vio__split_add(struct vio_drvq *q, const struct vio_sg *out, unsigned out_n,
		   const struct vio_sg *in, unsigned in_n, void *token);
int vio__split_add_staged(struct vio_drvq *q, const struct vio_sg *out, unsigned out_n,
			  const struct vio_sg *in, unsigned in_n, void *token);
bool vio__split_kick_prepare(struct vio_drvq *q);
int vio__split_get_buf(struct vio_drvq *q, void **token, uint32_t *len);
bool vio__split_has_used(struct vio_drvq *q);
void vio__split_disable_cb(struct vio_drvq *q);
uint32_t vio__split_enable_cb_prepare(struct vio_drvq *q);
bool vio__split_poll(struct vio_drvq *q, uint32_t pos);
bool vio__split_enable_cb_delayed(struct vio_drvq *q);
uint16_t vio__split_resume_base(const struct vio_drvq *q);

int vio__split_dev_init(struct vio_devq *q, const struct vio_devq_config *cfg);
int vio__split_pop(struct vio_devq *q, struct vio_elem *e);
int vio__split_fill(struct vio_devq *q, const struct vio_elem *e, uint32_t len);
int vio__split_fill_in_order(struct vio_devq *q, const struct vio_elem *last, uint32_t len);
int vio__split_flush(struct vio_devq *q);
bool vio__split_need_interrupt(struct vio_devq *q);
void vio__split_kick_disable(struct vio_devq *q);
bool vio__split_kick_enable(struct vio_devq *q);
bool vio__split_has_avail(struct vio_devq *q);

int vio__packed_drv_init(struct vio_drvq *q, const struct vio_drvq_config *cfg);
int vio__packed_add(struct vio_drvq *q, const struct vio_sg *out, unsigned out_n,
		    const struct vio_sg *in, unsigned in_n, void *token);
bool vio__packed_kick_prepare(struct vio_drvq *q);
int vio__packed_get_buf(struct vio_drvq *q, void **token, uint32_t *len);
bool vio__packed_has_used(struct vio_drvq *q);
void vio__packed_disable_cb(struct vio_drvq *q);
uint32_t vio__packed_enable_cb_prepare(struct vio_drvq *q);
bool vio__packed_poll(struct vio_drvq *q, uint32_t pos);
bool vio__packed_enable_cb_delayed(struct vio_drvq *q);
uint16_t vio__packed_resume_base(const struct vio_drvq *q);

int vio__packed_dev_init(struct vio_devq *q, const struct vio_devq_config *cfg);
int vio__packed_pop(struct vio_devq *q, struct vio_elem *e);
int vio__packed_fill(struct vio_devq *q, const struct vio_elem *e, uint32_t len);
int vio__packed_fill_in_order(struct vio_devq *q, const struct vio_elem *last, uint32_t len);
int vio__packed_flush(struct vio_devq *q);
bool vio__packed_need_interrupt(struct vio_devq *q);
void vio__packed_kick_disable(struct vio_devq *q);
bool vio__packed_kick_enable(struct vio_devq *q);
bool vio__packed_has_avail(struct vio_devq *q);

#endif
