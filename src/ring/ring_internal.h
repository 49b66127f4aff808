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

#include <errno.h>
#include <string.h>

#include "vio/ring.h"

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

/* split.c */
int vio__split_drv_init(struct vio_drvq *q, const struct vio_drvq_config *cfg);
int vio__split_add(struct vio_drvq *q, const struct vio_sg *out, unsigned out_n,
		   const struct vio_sg *in, unsigned in_n, void *token);
bool vio__split_kick_prepare(struct vio_drvq *q);
int vio__split_get_buf(struct vio_drvq *q, void **token, uint32_t *len);
bool vio__split_has_used(struct vio_drvq *q);
void vio__split_disable_cb(struct vio_drvq *q);
uint32_t vio__split_enable_cb_prepare(struct vio_drvq *q);
bool vio__split_poll(struct vio_drvq *q, uint32_t pos);
bool vio__split_enable_cb_delayed(struct vio_drvq *q);
void *vio__split_detach_unused(struct vio_drvq *q);

int vio__split_dev_init(struct vio_devq *q, const struct vio_devq_config *cfg);
int vio__split_pop(struct vio_devq *q, struct vio_elem *e);
int vio__split_fill(struct vio_devq *q, const struct vio_elem *e, uint32_t len);
int vio__split_flush(struct vio_devq *q);
bool vio__split_need_interrupt(struct vio_devq *q);
void vio__split_kick_disable(struct vio_devq *q);
bool vio__split_kick_enable(struct vio_devq *q);
bool vio__split_has_avail(struct vio_devq *q);

#endif
