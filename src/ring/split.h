/*
 * split.h - what the two sides of the split virtqueue (virtio 1.x 2.7, and
 * the 0.9.5 vring of the seed) share: the protocol, the event fields, and
 * reading one descriptor (private to src/ring/).
 *
 * Three areas: a descriptor table, the avail ring the driver writes (head
 * ids, plus used_event with EVENT_IDX), and the used ring the device writes
 * ((id, len) pairs, plus avail_event). Indices are free-running 16-bit
 * counters; a ring slot is index & (size - 1), which is why split sizes are
 * powers of two.
 *
 * The publishing protocol, which every barrier in split_drv.c and
 * split_dev.c refers to:
 *   driver: write descriptors and avail->ring[i], then avail->idx (release)
 *   device: read avail->idx (acquire), then the ring entry and descriptors
 *   device: write used->ring[i], then used->idx (release)
 *   driver: read used->idx (acquire), then the used entry
 * Event suppression needs store-then-load ordering on each side (write my
 * "wake me" field, then look at the other side's index), hence the full
 * barriers in kick_prepare/enable_cb and need_interrupt/kick_enable, which
 * pair with each other.
 */
#ifndef VIO_RING_SPLIT_H
#define VIO_RING_SPLIT_H

#include "dev_chain.h"

/* used_event sits after avail->ring[size]; avail_event after used->ring[size]. */
static inline vio_le16 *split_used_event(struct vio_split_avail *avail, unsigned size)
{
	return &avail->ring[size];
}

static inline vio_le16 *split_avail_event(struct vio_split_used *used, unsigned size)
{
	return (vio_le16 *)&used->ring[size];
}

/* Copies one descriptor out of shared memory (or an indirect entry out of
 * a local copy), once. */
static inline struct vio__desc split_load_desc(const void *src, bool legacy)
{
	struct vio_split_desc raw;
	struct vio__desc d;

	read_once(&raw, src, 16);
	d.addr = vio_get64(legacy, raw.addr);
	d.len = vio_get32(legacy, raw.len);
	d.flags = vio_get16(legacy, raw.flags);
	d.next = vio_get16(legacy, raw.next);
	return d;
}

#endif
