/*
 * event.h - ring positions and the notification decision (private to
 * src/ring/).
 *
 * The one function that moves a position round a ring (advance()) and the
 * counting every kick and interrupt decision ends with. The event-index
 * test itself is vio_need_event() in vio/spec.h; the packed ring's use of
 * it is event_wanted() in packed.h. Inline: each runs once or more per
 * buffer.
 */
#ifndef VIO_RING_EVENT_H
#define VIO_RING_EVENT_H

#include "vio/ring.h"

/* The wrap counter bit in a packed event offset and in a resume base. */
#define WRAP_BIT (1u << VIO_PACKED_EVENT_WRAP_SHIFT)

/*
 * Moves (*pos, *wrap) `by` positions on a ring of `size`, by <= size (a
 * chain or batch never covers more than the ring): past the end the
 * position starts again at 0 and the wrap counter flips. The split ring's
 * free-running indices need none of this; the packed ring and the
 * driver's IN_ORDER bookkeeping use it.
 */
static inline void advance(uint16_t *pos, bool *wrap, unsigned by, unsigned size)
{
	unsigned p = *pos + by;

	if (p >= size) {
		p -= size;
		*wrap = !*wrap;
	}
	*pos = (uint16_t)p;
}

/* Counts a kick decision (driver) and returns it. */
static inline bool count_kick(struct vio_ring_stats *s, bool needed)
{
	vio_stat_inc(needed ? &s->kicks : &s->kicks_suppressed);
	return needed;
}

/* Counts an interrupt decision (device) and returns it. */
static inline bool count_interrupt(struct vio_ring_stats *s, bool needed)
{
	vio_stat_inc(needed ? &s->interrupts : &s->interrupts_suppressed);
	return needed;
}

#endif
