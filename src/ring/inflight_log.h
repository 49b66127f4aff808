/*
 * inflight_log.h - the device side's inflight log, a module under the ring
 * (private to src/ring/).
 *
 * A vhost-user backend that completes requests out of order keeps, in
 * memory the frontend holds on to, which chains it popped and has not
 * used yet (vio/inflight.h has the layout and why). The ring maintains
 * that log: the device side of each layout calls this module at four
 * points (pop, fill, flush, and init to attach and recover), always
 * through `q->log`, which is NULL when no log is attached, so a queue
 * without one pays a pointer test and nothing else.
 *
 * The module's private state is struct vio__devq_log (vio/ring.h): the
 * shared region and two arrays from the caller's scratch (vio_devq_config's
 * inflight_scratch, 2 * size entries):
 *   order[size]     the log head of the chain popped k-th, at k mod size;
 *                   the first q->resubmit are the chains recovered at init,
 *                   oldest first, which pop() hands out before anything
 *                   new; the split ring with IN_ORDER records every chain
 *                   here, so fill_in_order() can find the chains an entry
 *                   covers;
 *   chain_of[size]  packed only: the log head of each chain popped and not
 *                   yet filled, by buffer id (by pop order with IN_ORDER,
 *                   where fill_in_order() names only the newest); recovery
 *                   borrows it as its mark array before filling it.
 *
 * Crash ordering: every step of the log is written, then committed with
 * one store, so that a device killed between any two stores leaves a log
 * the next one can settle (each layout's file says how). The frontend may
 * write the region at any time: everything read from it is checked, and a
 * log that makes no sense stops the queue (init itself succeeds, so the
 * first pop() reports why).
 */
#ifndef VIO_RING_INFLIGHT_LOG_H
#define VIO_RING_INFLIGHT_LOG_H

#include "dev_chain.h"

/* Split ring (inflight_split.c). attach() runs at the end of init, with
 * the positions set from the config; it may move them (resume). */
int vio__ilog_split_attach(struct vio_devq *q, const struct vio_devq_config *cfg);
void vio__ilog_split_pop(struct vio_devq *q, uint16_t head);
void vio__ilog_split_fill(struct vio_devq *q, uint16_t head);
void vio__ilog_split_fill_in_order(struct vio_devq *q, uint32_t n);
void vio__ilog_split_flush(struct vio_devq *q);

/* Packed ring (inflight_packed.c). pop() copies each descriptor of a chain
 * into a free entry as it walks it (copy(), starting at first_free()), and
 * commits the chain with pop() once it is whole. */
int vio__ilog_packed_attach(struct vio_devq *q, const struct vio_devq_config *cfg);
uint16_t vio__ilog_packed_first_free(const struct vio_devq *q);
int vio__ilog_packed_copy(struct vio_devq *q, uint16_t *cur, uint16_t *last, const struct vio__desc *d);
int vio__ilog_packed_pop(struct vio_devq *q, uint16_t head, uint16_t last, uint16_t next, uint16_t n,
			 uint16_t id);
/* A chain to hand out again: its length, then each descriptor (once, as
 * one copy of the shared entry) with the entry after it, then the buffer
 * id it ended with. Each returns 0 or stops the queue. */
int vio__ilog_packed_resubmit_len(struct vio_devq *q, uint16_t head, uint16_t *num);
int vio__ilog_packed_resubmit_desc(struct vio_devq *q, uint16_t i, struct vio__desc *d, uint16_t *next);
int vio__ilog_packed_resubmitted(struct vio_devq *q, uint16_t head, uint16_t id);
/* fill(): the chain (id, seq) is checked before anything is staged
 * (fill_check) and linked into the batch after (fill). */
int vio__ilog_packed_fill_check(struct vio_devq *q, uint16_t id, uint32_t seq, uint16_t *head,
				uint16_t *last);
void vio__ilog_packed_fill(struct vio_devq *q, uint16_t id, uint32_t seq, uint16_t head, uint16_t last);
/* flush(): stage() before the used descriptors are published, with the
 * used position after them; commit() after. */
void vio__ilog_packed_flush_stage(struct vio_devq *q, uint16_t used, bool wrap);
void vio__ilog_packed_flush_commit(struct vio_devq *q);

/* inflight_log.c: what both layouts' logs share. */

/* Checks the region and scratch in cfg against an entry size and attaches
 * them: q->log set, order and chain_of named. -EINVAL when they cannot
 * hold a log for the queue. */
int vio__ilog_attach(struct vio_devq *q, const struct vio_devq_config *cfg, size_t header,
		     size_t entry);

/* A log that makes no sense stops the queue; init itself succeeds, so the
 * first pop() reports why. Returns 0 for init to return. */
int vio__ilog_bad(struct vio_devq *q, const char *why);

/* The pop counter of log entry h; both layouts keep it at offset 8 of an
 * entry of `stride` bytes. */
uint64_t vio__ilog_counter(const void *entries, size_t stride, uint16_t h);

/* Sorts heads[0..n) by their log counters and checks no two are equal,
 * which no log we wrote can hold. False then. */
bool vio__ilog_sort_heads(uint16_t *heads, uint32_t n, const void *entries, size_t stride);

#endif
