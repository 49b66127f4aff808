/*
 * forge.h - a hostile device's used entries, written straight into a
 * driver-side queue's shared ring, for tests and fuzz targets of drivers:
 * what the device-side ring refuses to write (an id never posted, a
 * length beyond the buffer). Both layouts.
 */
#ifndef VT_FORGE_H
#define VT_FORGE_H

#include <stdint.h>

#include "vio/ring.h"

/* The position of the k-th used entry after the driver's last reaped one. */
static inline unsigned vt_used_pos(const struct vio_drvq *q, unsigned k)
{
	if (q->packed)
		return (q->last_used + k) % q->size;
	return (uint16_t)(q->last_used + k) & (q->size - 1);
}

/* Sets the length of the k-th used entry the driver has not reaped yet,
 * one the device wrote (staged or published). */
static inline void vt_forge_used_len(struct vio_drvq *q, unsigned k, uint32_t len)
{
	if (q->packed)
		q->u.packed.desc[vt_used_pos(q, k)].len = vio_cpu_to_le32(len);
	else
		q->u.split.used->ring[vt_used_pos(q, k)].len = vio_cpu_to_le32(len);
}

/* Writes and publishes a used entry (id, len) k entries after the driver's
 * last reaped one (packed: with the flags of the driver's used wrap
 * counter; split: moving used->idx to just past it). */
static inline void vt_forge_used(struct vio_drvq *q, unsigned k, uint32_t id, uint32_t len)
{
	if (q->packed) {
		struct vio_packed_desc *d = &q->u.packed.desc[vt_used_pos(q, k)];
		uint16_t w = q->u.packed.used_wrap ? VIO_PACKED_DESC_F_AVAIL |
						     VIO_PACKED_DESC_F_USED : 0;

		d->id = vio_cpu_to_le16((uint16_t)id);
		d->len = vio_cpu_to_le32(len);
		__atomic_thread_fence(__ATOMIC_RELEASE);
		d->flags = vio_cpu_to_le16(w);
	} else {
		struct vio_split_used *u = q->u.split.used;

		u->ring[vt_used_pos(q, k)].id = vio_cpu_to_le32(id);
		u->ring[vt_used_pos(q, k)].len = vio_cpu_to_le32(len);
		__atomic_thread_fence(__ATOMIC_RELEASE);
		u->idx = vio_cpu_to_le16((uint16_t)(q->last_used + k + 1));
	}
}

#endif
