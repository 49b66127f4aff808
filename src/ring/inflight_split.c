/*
 * inflight_split.c - the inflight log of a split ring (vio/inflight.h's
 * struct vio_inflight_split; the module is described in inflight_log.h).
 *
 * One entry per descriptor, meaningful for chain heads: `inflight` is 1
 * from pop to the flush that publishes the chain as used, `counter` is the
 * avail index the chain was taken at, extended to 64 bits. A flush links
 * its batch through `next` from last_batch_head and then records the used
 * index it published, so a device killed between the two is caught up by
 * walking that list (settle_last_batch()).
 */
#include "inflight_log.h"
#include "split.h"

static inline struct vio_inflight_split *region(const struct vio_devq *q)
{
	return q->log->region;
}

void vio__ilog_split_pop(struct vio_devq *q, uint16_t head)
{
	struct vio_inflight_split_desc *d = &region(q)->desc[head];

	d->counter = q->log->counter++;
	/* The counter is in place before the entry counts: a crash between
	 * the two leaves a chain that is simply taken from the ring again. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	d->inflight = 1;
	if (q->in_order)
		q->log->order[q->popped & (q->size - 1)] = head;
}

void vio__ilog_split_fill(struct vio_devq *q, uint16_t head)
{
	struct vio_inflight_split *l = region(q);

	l->desc[head].next = l->last_batch_head;
	l->last_batch_head = head;
	q->log->batch++;
}

void vio__ilog_split_fill_in_order(struct vio_devq *q, uint32_t n)
{
	/* Every chain the entry covers, oldest first, so the newest heads
	 * the batch list. */
	for (uint32_t k = 0; k < n; k++)
		vio__ilog_split_fill(q, q->log->order[(q->filled + k) & (q->size - 1)]);
}

void vio__ilog_split_flush(struct vio_devq *q)
{
	struct vio_inflight_split *l = region(q);
	uint16_t i = l->last_batch_head;

	/* used->idx first: a crash before the flags are cleared leaves the
	 * log's used_idx behind the ring's, which recovery detects and
	 * settles by walking this same list. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (uint32_t k = 0; k < q->log->batch && i < q->size; k++) {
		l->desc[i].inflight = 0;
		i = l->desc[i].next;
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
	l->used_idx = q->used_idx;
	q->log->batch = 0;
}

/*
 * A crash may have come after the last batch reached the used ring but
 * before the log said so (flush): the log's used_idx then lags the
 * ring's, and the batch list names the chains to settle. With IN_ORDER one
 * used entry stands for several chains, so everything popped up to the
 * newest chain of the batch is settled instead.
 */
static int settle_last_batch(struct vio_devq *q, uint16_t used)
{
	struct vio_inflight_split *l = region(q);
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
 * Takes over the log at init. A fresh queue (or a region nobody
 * initialised) starts an empty log. A resumed one settles the last batch,
 * collects the chains still in flight, oldest first, for pop() to hand out
 * again, and continues the avail ring after every chain taken: the used
 * index plus those in flight (with IN_ORDER, after the newest of them).
 */
int vio__ilog_split_attach(struct vio_devq *q, const struct vio_devq_config *cfg)
{
	struct vio_inflight_split *l = cfg->inflight;
	uint16_t used, *heads;
	uint64_t newest;
	uint32_t n = 0;
	int r;

	r = vio__ilog_attach(q, cfg, sizeof(*l), sizeof(l->desc[0]));
	if (r)
		return r;
	heads = q->log->order;
	q->log->counter = q->last_avail;
	if (!cfg->resume || l->version == 0) {
		memset(l, 0, sizeof(*l) + sizeof(l->desc[0]) * (size_t)q->size);
		l->desc_num = (uint16_t)q->size;
		l->used_idx = q->used_idx;
		l->version = VIO_INFLIGHT_VERSION;
		return 0;
	}
	if (l->version != VIO_INFLIGHT_VERSION || l->desc_num < q->size)
		return vio__ilog_bad(q, "inflight log: unknown version or fewer entries than the queue");
	used = ld16(&q->u.split.used->idx, q->legacy);
	q->used_idx = used;
	if (settle_last_batch(q, used))
		return 0;
	for (unsigned i = 0; i < q->size; i++) {
		uint8_t v = l->desc[i].inflight;

		if (v > 1)
			return vio__ilog_bad(q, "inflight log: flag neither 0 nor 1");
		if (v)
			heads[n++] = (uint16_t)i;
	}
	if (n == 0)
		return 0;
	if (!vio__ilog_sort_heads(heads, n, l->desc, sizeof(l->desc[0])))
		return vio__ilog_bad(q, "inflight log: two chains with the same counter");
	newest = l->desc[heads[n - 1]].counter;
	/* Positions are 16 bits: chains taken further apart than half that
	 * cannot be placed on the ring again. */
	if (newest - l->desc[heads[0]].counter >= 0x8000)
		return vio__ilog_bad(q, "inflight log: chains in flight further apart than the "
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
			return vio__ilog_bad(q, "inflight log does not match the used ring");
	}
	/* Counters stay avail indices, extended past the newest. */
	q->log->counter = newest + 1 + (uint16_t)(q->last_avail - (uint16_t)(newest + 1));
	q->resubmit = n;
	return 0;
}
