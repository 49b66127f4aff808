/*
 * pair.h - test fixture: a driver-side and a device-side queue over one
 * arena of "guest memory".
 *
 * The arena is registered with the device's vio_mem at a guest address
 * (VT_GUEST_BASE) that differs from its host address, so a test passes
 * only if every address really goes through translation. The arena holds
 * the three ring areas (modern placement, or the legacy one-block layout),
 * the indirect tables, and a buffer area tests carve payloads from.
 *
 * Tests that play a hostile peer write the shared areas directly through
 * the p->desc / p->avail / p->used pointers (split layout) or p->pdesc /
 * p->driver_event / p->device_event (packed layout).
 */
#ifndef VT_PAIR_H
#define VT_PAIR_H

#include <stdbool.h>
#include <stdint.h>

#include "vio/mem.h"
#include "vio/ring.h"

#define VT_GUEST_BASE UINT64_C(0x40000000)

struct vt_pair_opts {
	bool legacy_layout;       /* one block, used ring 4096-aligned */
	unsigned indirect_max;    /* 0: no indirect tables */
	enum vio_len_policy len_policy;
	size_t buf_bytes;         /* size of the buffer area (default 1 MiB) */
	void (*notify)(void *opaque);
	void *opaque;
};

struct vt_pair {
	unsigned size;
	uint64_t features;
	uint8_t *arena;           /* host */
	size_t arena_len;
	struct vio_mem_region regions[8];
	struct vio_mem mem;
	struct vio_ring_addrs addrs;   /* guest addresses of the ring areas */
	struct vio_drvq_slot *slots;
	struct vio_drvq drv;
	struct vio_devq dev;
	/* Host views of the shared split areas, for hostile tests. */
	struct vio_split_desc *desc;
	struct vio_split_avail *avail;
	struct vio_split_used *used;
	/* The same areas seen as a packed ring, for packed hostile tests. */
	struct vio_packed_desc *pdesc;
	struct vio_packed_event *driver_event;   /* driver area */
	struct vio_packed_event *device_event;   /* device area */
	/* Buffer area. */
	uint8_t *buf;
	size_t buf_len;
	uint8_t *indirect;
};

/* Builds both queues (drv over the arena, dev over the same memory).
 * Returns 0 or the first init error. */
int vt_pair_init(struct vt_pair *p, unsigned size, uint64_t features, const struct vt_pair_opts *o);
void vt_pair_fini(struct vt_pair *p);

/* Guest address of a host pointer inside the arena, and back. */
uint64_t vt_gpa(const struct vt_pair *p, const void *host);
void *vt_hva(const struct vt_pair *p, uint64_t gpa);

/* A segment of the buffer area at byte offset `off`. */
struct vio_sg vt_sg(const struct vt_pair *p, size_t off, uint32_t len);

/* Re-creates the device side (e.g. after a hostile test stopped it). */
int vt_pair_dev_reinit(struct vt_pair *p);

#endif
