/*
 * dev_chain.h - the device side's handling of descriptor chains, common to
 * both layouts (private to src/ring/): the sticky stop, mapping each
 * descriptor the driver wrote into the element's spans through the region
 * table, indirect tables, and the checks on what the caller hands back
 * to fill().
 *
 * Every descriptor is copied once out of shared memory (struct
 * vio__desc) before any of this looks at it. split_dev.c and packed_dev.c
 * call these; the per-descriptor and per-chain ones are inline, the rest
 * are in dev_chain.c.
 */
#ifndef VIO_RING_DEV_CHAIN_H
#define VIO_RING_DEV_CHAIN_H

#include "vio/ring.h"

#include "access.h"

/* One descriptor, as copied out of shared memory. */
struct vio__desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;  /* split: next; packed: buffer id */
};

/* Sticky failure: the queue is stopped from now on. Returns the error, so
 * callers can `return dev_fail(...)`. */
static inline int dev_fail(struct vio_devq *q, int err, const char *why)
{
	if (!q->broken) {
		q->broken = true;
		q->err = err;
		q->error = why;
	}
	return q->err;
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

/* Dirty log: is the queue's memory logged? One load and test, the only
 * cost of logging when it is off. */
static inline bool dev_logging(const struct vio_devq *q)
{
	return __builtin_expect(q->mem->log != NULL, 0);
}

/* Dirty log: the device wrote [p, p + len) inside a ring area whose host
 * start is `base` and which is logged at `log_addr` (vio_devq_log_ring).
 * Called after the write. */
static inline void dev_log_ring(const struct vio_devq *q, const void *base, uint64_t log_addr,
				const void *p, size_t len)
{
	if (dev_logging(q) && q->log_ring)
		vio__mem_log_range(q->mem, log_addr + (uint64_t)((const uint8_t *)p - (const uint8_t *)base),
				   len);
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

/* Copies indirect entry i (raw wire bytes) once, from the table pointer or
 * through the region table. */
static inline void dev_indirect_entry(const struct vio_devq *q, const void *table, uint64_t addr,
				      unsigned i, void *raw)
{
	if (table)
		read_once(raw, (const uint8_t *)table + (size_t)i * 16, 16);
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

/*
 * Dirty log for fill_in_order(): the batch's earlier chains are used in
 * full, but their elements are not ours to see, so their descriptors are
 * read again from the ring (still the device's until the used entry is
 * published) and every writable one is marked whole. A descriptor the
 * driver changed meanwhile only changes what is marked in its own memory:
 * the addresses go to the bitmap, never through a pointer, and walks are
 * bounded. vio__dev_log_desc() takes one descriptor (an indirect table:
 * its writable entries, split ones in `next` order) and marks at most
 * *left bytes of what is writable, counting them off (UINT64_MAX: all);
 * fill() uses it too, for a chain's written prefix. In dev_chain.c.
 */
void vio__dev_log_desc(struct vio_devq *q, const struct vio__desc *d, bool packed_layout,
		       uint64_t *left);

/* dev_chain.c */

/* The fields both layouts set up the same way. */
void vio__dev_init_common(struct vio_devq *q, const struct vio_devq_config *cfg);

/*
 * Checks the descriptor that points at an indirect table and finds the
 * table: a host pointer when it lies in one region, NULL (with 0 returned)
 * when it straddles adjacent regions and must be read entry by entry.
 * `chained` says the descriptor came after others in a chain.
 */
int vio__dev_indirect_table(struct vio_devq *q, const struct vio__desc *ind, bool chained,
			    const void **table, unsigned *entries);

#endif
