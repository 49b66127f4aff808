/*
 * access.h - how the ring touches memory the other side writes at the same
 * time (private to src/ring/).
 *
 * Rules for shared memory (docs/design.md, "Concurrency"):
 *  - an index or flag the other side may be writing right now is read and
 *    written with a single atomic access (relaxed, acquire or release as
 *    each call site says), never a plain access the compiler could split
 *    or repeat;
 *  - anything the other side wrote (a descriptor, an inflight log entry)
 *    is copied once into a local with read_once() and only the copy is
 *    used;
 *  - every barrier names, at its call site, the access it pairs with.
 *
 * These are single instructions on the data path, so they stay inline.
 */
#ifndef VIO_RING_ACCESS_H
#define VIO_RING_ACCESS_H

#include <stdbool.h>
#include <stdint.h>

#include "vio/spec.h"

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

/* 32-bit fields the other side writes (split used entries). */
static inline uint32_t ld32(const vio_le32 *p, bool legacy)
{
	vio_le32 v = { __atomic_load_n(&p->raw, __ATOMIC_RELAXED) };
	return vio_get32(legacy, v);
}

/* A full barrier: orders a store before a later load (store-load), which
 * acquire/release cannot. Used around event suppression. */
static inline void full_barrier(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/*
 * Copies n bytes of shared memory into *dst exactly once. The empty asm
 * tells the compiler the local copy may have changed, so it cannot drop
 * the copy and re-read shared memory later (a double fetch a hostile peer
 * could race). Works for any alignment. n is a constant at every call.
 */
#define read_once(dst, src, n)                                                \
	do {                                                                  \
		memcpy((dst), (src), (n));                                    \
		__asm__ volatile("" : "+m"(*(char (*)[n])(void *)(dst)));     \
	} while (0)

#endif
