/*
 * vio/inflight.h - the inflight log: which chains a device popped and has not
 * yet returned, kept in memory that outlives the device process.
 *
 * A vhost-user backend that completes requests out of order cannot be
 * restarted from the ring alone: the avail entries of requests it had taken
 * may already be overwritten. So the device side of a ring can keep a log
 * in a shared buffer the frontend holds on to (GET_INFLIGHT_FD and
 * SET_INFLIGHT_FD); a restarted backend reads it and hands those chains out
 * again before anything new.
 *
 * The layout is vhost-user's (docs/interop/vhost-user.rst, "Inflight I/O
 * tracking"): one region per queue, a header then one entry per descriptor,
 * all numbers in host byte order. Only the backend reads or writes it; the
 * frontend just keeps the memory. The ring (vio/ring.h, vio_devq_config's
 * `inflight`) maintains it; see docs/design.md for when each field changes.
 */
#ifndef VIO_INFLIGHT_H
#define VIO_INFLIGHT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version a region carries once initialised (0: never initialised). */
#define VIO_INFLIGHT_VERSION 1

/* Each queue's region starts at a multiple of this in the shared buffer. */
#define VIO_INFLIGHT_ALIGN 64

/* Split ring: one entry per descriptor, meaningful for chain heads. */
struct vio_inflight_split_desc {
	uint8_t inflight;       /* 1 while the chain is popped and not used */
	uint8_t padding[5];
	uint16_t next;          /* link in the list of the last used batch */
	uint64_t counter;       /* pop order */
};

struct vio_inflight_split {
	uint64_t features;      /* 0 */
	uint16_t version;       /* VIO_INFLIGHT_VERSION */
	uint16_t desc_num;      /* entries in desc[] */
	uint16_t last_batch_head;
	uint16_t used_idx;      /* used->idx once the last batch is recorded */
	struct vio_inflight_split_desc desc[];
};

/* Packed ring: entries hold copies of the descriptors of popped chains,
 * linked into chains and a free list. */
struct vio_inflight_packed_desc {
	uint8_t inflight;
	uint8_t padding;
	uint16_t next;          /* free list / next descriptor of the chain */
	uint16_t last;          /* head: last entry of the chain */
	uint16_t num;           /* head: descriptors in the chain */
	uint64_t counter;       /* head: pop order */
	uint16_t id;            /* the descriptor's buffer id */
	uint16_t flags;         /* the descriptor's flags */
	uint32_t len;
	uint64_t addr;
};

struct vio_inflight_packed {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t free_head;
	uint16_t old_free_head;
	uint16_t used_idx;
	uint16_t old_used_idx;
	uint8_t used_wrap_counter;
	uint8_t old_used_wrap_counter;
	uint8_t padding[7];
	struct vio_inflight_packed_desc desc[];
};

_Static_assert(sizeof(struct vio_inflight_split_desc) == 16, "vhost-user layout");
_Static_assert(sizeof(struct vio_inflight_split) == 16, "vhost-user layout");
_Static_assert(sizeof(struct vio_inflight_packed_desc) == 32, "vhost-user layout");
_Static_assert(sizeof(struct vio_inflight_packed) == 32, "vhost-user layout");

/* Bytes of one queue's region for `size` descriptors, rounded up to
 * VIO_INFLIGHT_ALIGN; `packed` picks the layout. */
size_t vio_inflight_queue_bytes(int packed, unsigned size);

#ifdef __cplusplus
}
#endif

#endif /* VIO_INFLIGHT_H */
