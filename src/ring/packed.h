/*
 * packed.h - what the two sides of the packed virtqueue (virtio 1.x 2.8)
 * share: the protocol, the flag bits, the event structures, and reading
 * one descriptor (private to src/ring/).
 *
 * One ring of descriptors that both sides write: the driver makes a
 * descriptor available by setting its AVAIL flag bit to the driver's wrap
 * counter and its USED bit to the inverse; the device marks a buffer used
 * by writing one descriptor, with both bits equal to its own wrap counter,
 * at its next used position, and then skips as many positions as the
 * buffer's chain had. Each side's wrap counter starts at 1 and flips when
 * its position passes the end of the ring (advance() in event.h), so sizes
 * need not be powers of two. Two small structures suppress events: the
 * driver's (read by the device) controls interrupts, the device's (read by
 * the driver) kicks: ENABLE, DISABLE, or DESC with a position and wrap
 * counter (EVENT_IDX).
 *
 * The publishing protocol, which every barrier in packed_drv.c and
 * packed_dev.c refers to:
 *   driver: write a chain's descriptors, then the head's flags (release)
 *   device: read the head's flags (acquire), then the chain
 *   device: write used descriptors, then the first one's flags (release)
 *   driver: read the flags at last_used (acquire), then id and len
 * Event suppression uses the same store-barrier-load pairs as the split
 * ring (split.h).
 */
#ifndef VIO_RING_PACKED_H
#define VIO_RING_PACKED_H

#include "dev_chain.h"
#include "event.h"

#define AVAIL VIO_PACKED_DESC_F_AVAIL
#define USED  VIO_PACKED_DESC_F_USED

/* The two bits that say who owns a descriptor. */
#define OWNER_BITS (AVAIL | USED)

/* AVAIL = wrap counter, USED = its inverse: available. */
static inline uint16_t avail_bits(bool wrap)
{
	return wrap ? AVAIL : USED;
}

/* Both bits equal to the wrap counter: used. */
static inline uint16_t used_bits(bool wrap)
{
	return wrap ? AVAIL | USED : 0;
}

/* Each test is one mask and one compare against the pattern expected at
 * this wrap counter; flipping the wrap counter flips the pattern
 * (pattern ^ OWNER_BITS), which is how a loop that keeps the pattern in a
 * register follows a wrap. */
static inline bool is_avail(uint16_t flags, bool wrap)
{
	return (flags & OWNER_BITS) == avail_bits(wrap);
}

static inline bool is_used(uint16_t flags, bool wrap)
{
	return (flags & OWNER_BITS) == used_bits(wrap);
}

/* A position and wrap counter in the 16-bit form of event offsets and
 * resume bases. */
static inline uint16_t pos_wrap(uint16_t pos, bool wrap)
{
	return (uint16_t)(pos | (wrap ? WRAP_BIT : 0));
}

struct event {
	uint16_t off_wrap;
	uint16_t flags;
};

typedef uint32_t __attribute__((may_alias)) u32_alias;

/* The event structures are read and written as one 32-bit access, so the
 * other side never sees a new flag with an old offset. */
static inline struct event ld_event(const struct vio_packed_event *ev, bool legacy)
{
	uint32_t raw = __atomic_load_n((const u32_alias *)ev, __ATOMIC_RELAXED);
	struct vio_packed_event v;

	memcpy(&v, &raw, sizeof(v));
	return (struct event){ vio_get16(legacy, v.off_wrap), vio_get16(legacy, v.flags) };
}

static inline void st_event(struct vio_packed_event *ev, bool legacy, uint16_t off_wrap, uint16_t flags)
{
	struct vio_packed_event v = { vio_set16(legacy, off_wrap), vio_set16(legacy, flags) };
	uint32_t raw;

	memcpy(&raw, &v, sizeof(raw));
	__atomic_store_n((u32_alias *)ev, raw, __ATOMIC_RELAXED);
}

/*
 * Should the side that moved from (new_pos - moved) to new_pos at wrap
 * counter `wrap` notify, given the other side's event structure?
 * Positions are compared with vio_need_event() on 16-bit "virtual"
 * indices: an event offset whose wrap counter differs from ours lies one
 * lap behind (offset - size), as the spec's own driver example takes it.
 */
static inline bool event_wanted(struct event ev, bool event_idx, uint16_t new_pos, bool wrap,
				unsigned moved, unsigned size)
{
	uint16_t off;

	if (ev.flags == VIO_PACKED_EVENT_DISABLE)
		return false;
	if (ev.flags != VIO_PACKED_EVENT_DESC || !event_idx)
		return true;
	if (moved >= size)
		return true;    /* a whole lap: the event lies somewhere in it */
	off = ev.off_wrap & (uint16_t)~WRAP_BIT;
	if (!!(ev.off_wrap & WRAP_BIT) != wrap)
		off = (uint16_t)(off - size);
	return vio_need_event(off, new_pos, (uint16_t)(new_pos - moved));
}

/* Copies one descriptor out of shared memory (or an indirect entry out of
 * a local copy), once. */
static inline struct vio__desc packed_load_desc(const void *src, bool legacy)
{
	struct vio_packed_desc raw;
	struct vio__desc d;

	read_once(&raw, src, 16);
	d.addr = vio_get64(legacy, raw.addr);
	d.len = vio_get32(legacy, raw.len);
	d.flags = vio_get16(legacy, raw.flags);
	d.next = vio_get16(legacy, raw.id);
	return d;
}

#endif
