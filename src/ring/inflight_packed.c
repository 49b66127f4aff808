/*
 * inflight_packed.c - the inflight log of a packed ring (vio/inflight.h's
 * struct vio_inflight_packed; the module is described in inflight_log.h).
 *
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
 * Recovery (recover()) sees "new" != "old" only inside a flush: if the
 * ring still holds the driver's available descriptor at old_used_idx the
 * batch never reached the driver and "old" stands; otherwise "new" is
 * committed. Entries on the free list are then not in flight, whatever
 * their flag says; every other entry belongs to exactly one chain in
 * flight, and those chains, by counter, are what pop() hands out again.
 */
#include "inflight_log.h"
#include "packed.h"

#define LOG_NONE 0xffffu        /* an empty chain_of slot; above any queue size */

static inline struct vio_inflight_packed *region(const struct vio_devq *q)
{
	return q->log->region;
}

/* The chain_of slot of a popped chain: by pop order with IN_ORDER (chains
 * in flight are consecutive there, and fill_in_order() only names the
 * newest), else by buffer id (unique while in flight). */
static inline uint16_t *chain_slot(const struct vio_devq *q, uint16_t id, uint32_t seq)
{
	return &q->log->chain_of[q->in_order ? seq % q->size : id];
}

uint16_t vio__ilog_packed_first_free(const struct vio_devq *q)
{
	return region(q)->old_free_head;
}

int vio__ilog_packed_copy(struct vio_devq *q, uint16_t *cur, uint16_t *last, const struct vio__desc *d)
{
	struct vio_inflight_packed_desc *x;

	if (*cur >= q->size)
		return dev_fail(q, -EIO, "inflight log: no free entry left (more descriptors in flight "
				"than the ring holds, or a damaged free list)");
	x = &region(q)->desc[*cur];
	x->inflight = 0;
	x->addr = d->addr;
	x->len = d->len;
	x->flags = d->flags;
	x->id = d->next;
	*last = *cur;
	*cur = x->next;
	return 0;
}

int vio__ilog_packed_pop(struct vio_devq *q, uint16_t head, uint16_t last, uint16_t next, uint16_t n,
			 uint16_t id)
{
	struct vio_inflight_packed *l = region(q);
	struct vio_inflight_packed_desc *h = &l->desc[head];
	uint16_t *slot = chain_slot(q, id, q->popped + 1);

	if (*slot != LOG_NONE)
		return dev_fail(q, -EIO, "buffer id already in flight");
	h->num = n;
	h->last = last;
	h->counter = q->log->counter++;
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

int vio__ilog_packed_resubmit_len(struct vio_devq *q, uint16_t head, uint16_t *num)
{
	*num = head < q->size ? region(q)->desc[head].num : 0;
	if (*num == 0 || *num > q->size)
		return dev_fail(q, -EIO, "inflight log: a chain to resubmit changed");
	return 0;
}

int vio__ilog_packed_resubmit_desc(struct vio_devq *q, uint16_t i, struct vio__desc *d, uint16_t *next)
{
	struct vio_inflight_packed_desc x;

	if (i >= q->size)
		return dev_fail(q, -EIO, "inflight log: a chain to resubmit leaves the queue");
	/* One copy of the shared entry; only the copy is used. */
	read_once(&x, &region(q)->desc[i], sizeof(x));
	*d = (struct vio__desc){ x.addr, x.len, x.flags, x.id };
	*next = x.next;
	return 0;
}

int vio__ilog_packed_resubmitted(struct vio_devq *q, uint16_t head, uint16_t id)
{
	uint16_t *slot = chain_slot(q, id, q->popped + 1);

	if (*slot != LOG_NONE)
		return dev_fail(q, -EIO, "buffer id already in flight");
	*slot = head;
	return 0;
}

int vio__ilog_packed_fill_check(struct vio_devq *q, uint16_t id, uint32_t seq, uint16_t *head,
				uint16_t *last)
{
	*head = *chain_slot(q, id, seq);
	if (*head >= q->size)
		return dev_fail(q, -EIO, "inflight log: a chain handed back is not in the log");
	*last = region(q)->desc[*head].last;
	if (*last >= q->size)
		return dev_fail(q, -EIO, "inflight log: last entry of a chain beyond the queue size");
	return 0;
}

void vio__ilog_packed_fill(struct vio_devq *q, uint16_t id, uint32_t seq, uint16_t head, uint16_t last)
{
	struct vio__devq_log *log = q->log;

	*chain_slot(q, id, seq) = LOG_NONE;
	if (log->batch == 0)
		log->batch_tail = last;
	region(q)->desc[last].next = log->batch_head;
	log->batch_head = head;
	log->batch++;
}

void vio__ilog_packed_flush_stage(struct vio_devq *q, uint16_t used, bool wrap)
{
	struct vio_inflight_packed *l = region(q);

	l->desc[q->log->batch_tail].next = l->old_free_head;
	l->free_head = q->log->batch_head;
	l->used_idx = used;
	l->used_wrap_counter = wrap;
	/* Staged before the used descriptors can be seen. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

void vio__ilog_packed_flush_commit(struct vio_devq *q)
{
	struct vio_inflight_packed *l = region(q);
	uint16_t h = q->log->batch_head;

	__atomic_thread_fence(__ATOMIC_RELEASE);
	/* Indices re-checked: the region is shared with the frontend. */
	for (uint32_t k = 0; k < q->log->batch && h < q->size; k++) {
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
	q->log->batch = 0;
}

/* An empty log at the queue's current positions: every entry free. */
static void reset(struct vio_devq *q)
{
	struct vio_inflight_packed *l = region(q);

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
static int settle_flush(struct vio_devq *q, uint16_t *used, bool *wrap)
{
	struct vio_inflight_packed *l = region(q);
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
static uint16_t claim_chain(const struct vio_devq *q, uint16_t head, uint16_t *mark)
{
	const struct vio_inflight_packed *l = region(q);
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
static int recover(struct vio_devq *q)
{
	struct vio_inflight_packed *l = region(q);
	uint16_t *heads = q->log->order, *mark = q->log->chain_of;
	uint32_t n = 0, free = 0, busy = 0;
	uint16_t i, used = 0;
	bool used_wrap = true;

	if (l->version != VIO_INFLIGHT_VERSION || l->desc_num < q->size)
		return vio__ilog_bad(q, "inflight log: unknown version or fewer entries than the queue");
	if (settle_flush(q, &used, &used_wrap))
		return 0;
	memset(mark, 0, sizeof(*mark) * q->size);
	for (i = l->free_head; i < q->size; i = l->desc[i].next) {
		if (mark[i])
			return vio__ilog_bad(q, "inflight log: the free list loops");
		mark[i] = 1;
		l->desc[i].inflight = 0;
		free++;
	}
	for (i = 0; i < q->size; i++) {
		if (l->desc[i].inflight > 1)
			return vio__ilog_bad(q, "inflight log: flag neither 0 nor 1");
		if (l->desc[i].inflight)
			heads[n++] = i;
	}
	for (uint32_t k = 0; k < n; k++) {
		uint16_t num = claim_chain(q, heads[k], mark);

		if (num == 0)
			return vio__ilog_bad(q, "inflight log: a chain in flight is broken or shares entries");
		busy += num;
	}
	if (free + busy != q->size)
		return vio__ilog_bad(q, "inflight log: entries neither free nor in flight");
	if (!vio__ilog_sort_heads(heads, n, l->desc, sizeof(l->desc[0])))
		return vio__ilog_bad(q, "inflight log: two chains with the same counter");
	q->used_idx = used;
	q->u.packed.used_wrap = used_wrap;
	q->last_avail = q->used_idx;
	q->u.packed.avail_wrap = q->u.packed.used_wrap;
	advance(&q->last_avail, &q->u.packed.avail_wrap, busy, q->size);
	if (n)
		q->log->counter = vio__ilog_counter(l->desc, sizeof(l->desc[0]), heads[n - 1]) + 1;
	q->resubmit = n;
	return 0;
}

/* Sets up the log at init: a fresh queue (or a region nobody initialised)
 * starts an empty one, a resumed queue takes over what the last device
 * left. */
int vio__ilog_packed_attach(struct vio_devq *q, const struct vio_devq_config *cfg)
{
	struct vio_inflight_packed *l = cfg->inflight;
	int r;

	r = vio__ilog_attach(q, cfg, sizeof(*l), sizeof(l->desc[0]));
	if (r)
		return r;
	q->log->batch_head = LOG_NONE;
	if (!cfg->resume || l->version == 0)
		reset(q);
	else
		recover(q);
	for (unsigned i = 0; i < q->size; i++)
		q->log->chain_of[i] = LOG_NONE;
	return 0;
}
