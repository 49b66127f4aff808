/*
 * vio/ring.h - virtqueues, both ends.
 *
 * A virtqueue is a ring of buffer descriptors in memory shared by a driver
 * (which posts buffers) and a device (which consumes them and hands them
 * back). This layer holds the ring algorithms and nothing else: no I/O, no
 * allocation, no threads, no knowledge of what carries notifications.
 *
 *   driver side (struct vio_drvq): add() buffers, kick_prepare() to learn
 *   whether the device must be notified, get_buf() to reap used buffers,
 *   disable_cb()/enable_cb*() to control interrupts, detach_unused() after a
 *   reset. The shape of the seed's virtqueue_ops, as modern Linux has them.
 *
 *   device side (struct vio_devq): pop() a descriptor chain into a
 *   caller-supplied element, push() or fill()+flush() it back as used,
 *   need_interrupt() to learn whether the driver must be interrupted, and
 *   kick_disable()/kick_enable() to suppress kicks while polling. The shape
 *   of QEMU's virtqueue_pop/push and Linux's vringh.
 *
 * The calls do not depend on the ring layout: a queue is created split or
 * packed by its features (VIO_F_RING_PACKED), and everything else is the
 * same. Each side of one queue is single-threaded: the caller serialises
 * all calls on one vio_drvq (or one vio_devq). The two sides may run on
 * different threads or processes at the same time; they synchronise only
 * through the ring itself.
 *
 * The other side is not trusted. A driver-side queue that sees the device
 * return something impossible (an id it never posted, a length beyond the
 * buffer, an index that runs ahead) becomes *broken*: sticky, every later
 * call fails fast with -EIO, nothing spins. A device-side queue that sees a
 * malformed chain *stops* the same way; the device model then sets
 * NEEDS_RESET. vio_*q_error() says what went wrong, in words.
 *
 * Memory: the driver side works with host pointers to its own rings and
 * with device-visible (DMA) addresses, which it writes into descriptors and
 * never reads back. The device side reaches every ring and buffer through a
 * struct vio_mem, which checks each address.
 */
#ifndef VIO_RING_H
#define VIO_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vio/inflight.h"
#include "vio/mem.h"
#include "vio/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Common                                                                   */

/* Features this layer acts on; others are ignored here. */
#define VIO_RING_FEATURES (VIO_BIT(VIO_F_INDIRECT_DESC) | VIO_BIT(VIO_F_EVENT_IDX) | \
			   VIO_BIT(VIO_F_NOTIFY_ON_EMPTY) | VIO_BIT(VIO_F_VERSION_1) | \
			   VIO_BIT(VIO_F_RING_PACKED) | VIO_BIT(VIO_F_IN_ORDER))

/* Notification counters, per queue and side. The driver side counts kicks
 * (needed: kick_prepare said yes; suppressed: it said no; full: sent on a
 * full ring although the device suppressed them, see vio_drvq_add()); the
 * device side counts interrupts the same way. Each counter is written only by the
 * thread that owns its side of the queue, with a relaxed atomic store; any
 * thread may read one with vio_stat_read() (a relaxed atomic load): a
 * statistics thread sees a recent value, never a torn one, and no data
 * race. */
struct vio_ring_stats {
	uint64_t kicks;
	uint64_t kicks_suppressed;
	uint64_t interrupts;
	uint64_t interrupts_suppressed;
	uint64_t kicks_full;
};

/* Reads a counter another thread writes (ring stats, transport counters). */
static inline uint64_t vio_stat_read(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/* Adds n to a counter only this thread writes: a relaxed load and store,
 * no locked instruction (readers use vio_stat_read()). */
static inline void vio_stat_add(uint64_t *counter, uint64_t n)
{
	__atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline void vio_stat_inc(uint64_t *counter)
{
	vio_stat_add(counter, 1);
}

/* Where the three areas of a ring are. For split: descriptor table, avail
 * ring (driver area), used ring (device area). For packed: descriptor ring,
 * driver event suppression, device event suppression. */
struct vio_ring_addrs {
	uint64_t desc;
	uint64_t driver;
	uint64_t device;
};

/* True when `size` is a valid queue size for the layout `features` select:
 * a power of two in 1..32768 for split, any of 1..32768 for packed. */
bool vio_ring_size_valid(uint64_t features, unsigned size);

/* Bytes and alignment of each area for a queue of `size` entries. */
size_t vio_ring_desc_bytes(uint64_t features, unsigned size);
size_t vio_ring_driver_bytes(uint64_t features, unsigned size);
size_t vio_ring_device_bytes(uint64_t features, unsigned size);
size_t vio_ring_desc_align(uint64_t features);
size_t vio_ring_driver_align(uint64_t features);
size_t vio_ring_device_align(uint64_t features);

/*
 * Legacy (0.9.5) split layout: all three areas in one block, the used ring
 * at the next multiple of `align` (a power of two; VIO_LEGACY_VRING_ALIGN
 * for virtio-pci legacy). Fills *a from the block's start address.
 */
void vio_ring_legacy_layout(uint64_t base, unsigned size, size_t align, struct vio_ring_addrs *a);

/* ------------------------------------------------------------------------ */
/* Driver side                                                              */

/* One buffer segment, in device-visible (DMA) addresses. */
struct vio_sg {
	uint64_t addr;
	uint32_t len;
};

/* What get_buf does when the device reports more bytes written than the
 * buffer could hold. */
enum vio_len_policy {
	VIO_LEN_BROKEN = 0, /* the device is buggy or hostile: queue broken */
	VIO_LEN_CLAMP,      /* trust the buffer, not the device: clamp */
};

/*
 * The driver side's private shadow of what it posted: one slot per head
 * descriptor (split) or buffer id (packed). The caller allocates `size` of
 * them (vio_drvq_slots_bytes()) where the device cannot reach, and never
 * reads or writes them: the fields are the ring's.
 */
struct vio_drvq_slot {
	void *token;      /* non-NULL while the buffer is out */
	uint32_t in_cap;  /* total writable bytes of the buffer */
	uint16_t next;    /* free list / chain link, never read from the ring */
	uint16_t ndescs;  /* ring descriptors the buffer occupies */
	uint16_t last;    /* split: last descriptor of the chain */
	uint16_t order;   /* IN_ORDER: next outstanding buffer in avail order */
};

struct vio_drvq_config {
	unsigned size;                 /* entries; see vio_ring_size_valid() */
	uint64_t features;             /* negotiated; see VIO_RING_FEATURES */
	enum vio_len_policy len_policy;

	/* Host pointers to the three areas (vio_ring_*_bytes/align each) and
	 * their device-visible addresses. The driver zeroes the areas. */
	void *desc, *driver, *device;
	struct vio_ring_addrs dma;

	/* Indirect tables, used when INDIRECT_DESC is negotiated and a buffer
	 * has 2..indirect_max segments (with IN_ORDER, only when its chain
	 * does not fit in the free descriptors). Caller-supplied DMA memory of
	 * size * indirect_max descriptors (16 bytes each, 16-aligned); one
	 * table per head. indirect_max 0 disables indirect use. */
	void *indirect;
	uint64_t indirect_dma;
	unsigned indirect_max;

	/* Private shadow state: `size` slots (caller-allocated). */
	struct vio_drvq_slot *slots;

	/* Optional: called by add() when 65535 buffers were added since the
	 * last kick_prepare(), so the 16-bit event window cannot be lost. The
	 * transport's notify. May be NULL: add() then returns -EAGAIN until
	 * the caller kicks. */
	void (*notify)(void *opaque);
	void *opaque;
};

struct vio_drvq {
	/* read-only for callers */
	unsigned size;
	uint64_t features;
	struct vio_ring_stats stats;

	/* private */
	bool legacy, event_idx, indirect_ok, packed, broken;
	enum vio_len_policy len_policy;
	const char *error;
	struct vio_drvq_slot *slots;
	void (*notify)(void *opaque);
	void *opaque;
	unsigned num_free;
	uint16_t free_head;
	uint16_t num_added;   /* since the last kick_prepare(): entries (split)
			       * or descriptors (packed) */
	uint16_t last_used;   /* next used entry (split) / descriptor (packed) */
	/* IN_ORDER: outstanding buffers in the order they were made available,
	 * and a used entry that covers a batch still being handed out. */
	bool in_order, batch_pending;
	uint16_t order_head, order_tail;
	uint16_t batch_id;
	uint32_t batch_len;
	unsigned indirect_max;
	uint8_t *indirect;
	uint64_t indirect_dma;
	union {
		struct {
			struct vio_split_desc *desc;
			struct vio_split_avail *avail;
			struct vio_split_used *used;
			uint16_t avail_idx;      /* shadow of avail->idx */
			uint16_t avail_pub;      /* avail->idx as last stored */
			uint16_t avail_flags;    /* shadow of avail->flags */
			uint16_t used_idx;       /* last used->idx read */
		} split;
		struct {
			struct vio_packed_desc *desc;
			struct vio_packed_event *driver;
			struct vio_packed_event *device;
			uint16_t next_avail;     /* next descriptor to fill */
			bool avail_wrap;         /* driver ring wrap counter */
			bool used_wrap;          /* wrap counter at last_used */
			uint16_t event_flags;    /* shadow of driver->flags */
		} packed;
	} u;
};

/* Bytes of private state a queue of `size` entries needs (the `slots`). */
size_t vio_drvq_slots_bytes(unsigned size);

/*
 * Sets up a driver-side queue over the areas in cfg and zeroes them.
 * Errors: -EINVAL for an invalid size, missing areas or slots, misaligned
 * areas, or an indirect table that is misaligned.
 */
int vio_drvq_init(struct vio_drvq *q, const struct vio_drvq_config *cfg);

/*
 * Posts one buffer: `out_n` segments the device reads, then `in_n` segments
 * the device writes. `token` (non-NULL) comes back from get_buf().
 * Errors: -ENOSPC when the ring has no room now; -EINVAL for no segments, a
 * NULL token, more segments than could ever fit, or a writable total above
 * 2^32-1; -EAGAIN when 65535 adds happened without a kick and no notify
 * callback was given; -EIO when broken.
 *
 * Kick on a full ring (the seed's rule, still Linux's virtqueue_add()): an
 * add() refused with -ENOSPC for a buffer with readable segments (out_n >
 * 0) kicks the device through the notify callback, even when the device
 * suppressed kicks: the ring is full of work it has not taken, and a
 * driver that now waits for room should not wait on a device that is not
 * looking. What was staged is published first; the kick counts in
 * stats.kicks when the device wanted one anyway, else in stats.kicks_full.
 * Without a notify callback nothing is sent.
 * Context: serialised with every other call on this queue.
 */
int vio_drvq_add(struct vio_drvq *q, const struct vio_sg *out, unsigned out_n,
		 const struct vio_sg *in, unsigned in_n, void *token);

/*
 * add() for a caller that always kicks after a batch: the buffer reaches
 * the device at the next kick_prepare() (or kick(), or add()), together
 * with every buffer staged before it. The split ring then stores its
 * avail index once per batch instead of once per buffer: a device polling
 * that index takes its line from the driver's cpu at each store, which
 * costs the driver a trip between cpus per buffer (measured against a
 * null blk device: 1.03-1.05x the IOPS with both cpus close, 1.1-1.5x in
 * pairs with them further apart). The packed ring has no such index: there it is add().
 * Errors and context: as add().
 */
int vio_drvq_add_staged(struct vio_drvq *q, const struct vio_sg *out, unsigned out_n,
			const struct vio_sg *in, unsigned in_n, void *token);

/*
 * Does the device need a notification for what was added since the last
 * call? Reads the device's NO_NOTIFY flag or, with EVENT_IDX, its
 * avail_event (wrap-safe). Counts into stats.kicks / kicks_suppressed.
 * False, and not counted, when nothing was added.
 * The caller then notifies through its transport, without holding locks.
 */
bool vio_drvq_kick_prepare(struct vio_drvq *q);

/* kick_prepare() and, if needed, the notify callback. Returns whether it
 * notified. */
bool vio_drvq_kick(struct vio_drvq *q);

/*
 * Reaps one used buffer: 0 with *token and *len (bytes the device wrote),
 * -EAGAIN when there is none, -EIO when broken (now or before).
 * Becomes broken when the used index runs more than `size` ahead, the id is
 * out of range or not outstanding, or the length exceeds the buffer's
 * writable capacity (unless the policy is VIO_LEN_CLAMP).
 */
int vio_drvq_get_buf(struct vio_drvq *q, void **token, uint32_t *len);

/* Are there used buffers waiting? (false when broken) */
bool vio_drvq_has_used(struct vio_drvq *q);

/* Ask the device not to interrupt (best effort: it may still). */
void vio_drvq_disable_cb(struct vio_drvq *q);

/*
 * Re-enable interrupts. Returns false when used buffers are already pending
 * (the caller must poll them, or it would sleep through them), true when
 * none were and the next used buffer will interrupt.
 */
bool vio_drvq_enable_cb(struct vio_drvq *q);

/* Split form of enable_cb: enable and return an opaque position; later,
 * poll(q, pos) says whether buffers were used since. */
uint32_t vio_drvq_enable_cb_prepare(struct vio_drvq *q);
bool vio_drvq_poll(struct vio_drvq *q, uint32_t pos);

/* Like enable_cb, but with EVENT_IDX asks for the interrupt only after
 * about 3/4 of the outstanding buffers are used. Returns false when that
 * many are already used. */
bool vio_drvq_enable_cb_delayed(struct vio_drvq *q);

/*
 * After the device was reset (it will never use them): returns and frees
 * one outstanding token per call, NULL when none is left. Works on a broken
 * queue. The ring is then empty and may be re-initialised.
 */
void *vio_drvq_detach_unused(struct vio_drvq *q);

/*
 * Where a device taking over this queue (a restarted vhost-user backend)
 * should resume: the first buffer the old device had not used, counted
 * from what it wrote to the used ring (and, with IN_ORDER, the batches its
 * entries cover). In vio_devq_config's avail_base encoding: the avail
 * index for split, position|wrap<<15 for packed. Reads the shared ring but
 * trusts it only within the bounds of what is outstanding.
 */
uint16_t vio_drvq_resume_base(const struct vio_drvq *q);

static inline bool vio_drvq_is_broken(const struct vio_drvq *q) { return q->broken; }
static inline const char *vio_drvq_error(const struct vio_drvq *q) { return q->error; }
static inline unsigned vio_drvq_num_free(const struct vio_drvq *q) { return q->num_free; }

/* ------------------------------------------------------------------------ */
/* Device side                                                              */

/*
 * One popped descriptor chain. The caller sets out/out_cap and in/in_cap
 * (iovec arrays and their capacity); pop() fills the rest. `out` spans are
 * what the driver wrote (the device reads them), `in` spans what the device
 * writes. A descriptor that crosses regions yields several spans.
 */
struct vio_elem {
	uint16_t id;        /* give this back to push() */
	uint16_t ndescs;    /* private: ring descriptors the chain used */
	uint32_t seq_;      /* private: chains popped through this one */
	uint32_t dseq_;     /* private: descriptors popped through this one */
	uint16_t pos_;      /* private: packed: ring position of the chain's first
			     * descriptor, VIO_ELEM_NO_POS when it came from the
			     * inflight log (for the dirty log) */
	unsigned out_num, in_num;
	uint32_t out_len, in_len;
	struct vio_iov *out, *in;
	unsigned out_cap, in_cap;
};

#define VIO_ELEM_NO_POS 0xffffu

struct vio_devq_config {
	unsigned size;
	uint64_t features;
	struct vio_ring_addrs addrs;      /* in the driver's address space */
	const struct vio_mem *mem;        /* rings and buffers live here */
	/* A fresh queue starts at the beginning (packed: position 0, wrap
	 * counters 1). With `resume`, it starts where avail_base/used_base
	 * say: for split the free-running avail and used indices; for packed
	 * the descriptor position in bits 0..14 and the wrap counter in bit 15,
	 * as vhost-user's SET_VRING_BASE carries them. */
	bool resume;
	uint16_t avail_base;
	uint16_t used_base;
	/* Raises the longest indirect table pop() accepts above the queue
	 * size (smaller values, 0 included, leave it at the queue size). A
	 * device that advertises longer requests than the queue holds sets
	 * it: Linux sizes its blk tables from seg_max, not from the queue
	 * size the frontend picked later. At most 32768. */
	unsigned indirect_max;
	/*
	 * Optional inflight log (vio/inflight.h): this queue's region of
	 * `inflight_len` bytes, 8-aligned, and 2 * `size` entries of scratch the
	 * ring keeps to itself while the queue lives. pop(), fill(),
	 * fill_in_order() and flush() then record every chain taken and
	 * returned. Without `resume` the region is (re)initialised; with it
	 * the region is checked and the chains still in flight are handed out
	 * by pop() again, oldest first, before any new one (and the avail
	 * position follows from the log, not from avail_base and, for packed,
	 * the used position too). Both layouts.
	 */
	void *inflight;
	size_t inflight_len;
	uint16_t *inflight_scratch;
};

struct vio_devq {
	/* read-only for callers */
	unsigned size;
	uint64_t features;
	struct vio_ring_stats stats;

	/* private */
	bool legacy, event_idx, indirect_ok, notify_on_empty, in_order, packed, broken;
	bool kicks_disabled;
	int err;
	const char *error;
	const struct vio_mem *mem;
	unsigned indirect_max;   /* longest indirect table accepted */
	unsigned mem_hint;       /* region of the last buffer, for mem */
	uint16_t last_avail;     /* next avail entry to consume */
	uint16_t avail_idx;      /* last avail->idx read */
	uint16_t used_idx;       /* used->idx as last published */
	uint16_t used_pending;   /* filled but not flushed */
	uint16_t signalled_used; /* split: used index at the last interrupt decision */
	uint32_t popped;         /* chains popped, free-running */
	uint32_t filled;         /* chains filled, free-running */
	uint32_t popped_descs;   /* descriptors popped, free-running */
	uint32_t filled_descs;   /* descriptors filled, free-running */
	uint32_t resubmit;       /* chains pop() hands out from the log first */
	/* Dirty logging (vio_mem_log_set() on mem): whether ring writes are
	 * logged, and at which addresses the device area (split: used ring;
	 * packed: device event structure) and the descriptor area (packed
	 * used descriptors) are logged. vio_devq_log_ring() sets them. */
	bool log_ring;
	uint64_t log_device, log_desc;
	/* The inflight log (src/ring/inflight_log.h): NULL when none is
	 * attached, else &log_state (so a queue is not moved or copied once
	 * initialised). */
	struct vio__devq_log *log;
	struct vio__devq_log {
		void *region;        /* the shared log: vio_inflight_split or _packed */
		/* [size] the log head of the chain popped k-th, at k mod size:
		 * the first `resubmit` are the chains to hand out again,
		 * oldest first; split with IN_ORDER records every chain, for
		 * fill_in_order() */
		uint16_t *order;
		/* packed, [size]: the log head of each chain popped and not
		 * yet filled, by buffer id (by pop order with IN_ORDER) */
		uint16_t *chain_of;
		uint64_t counter;    /* pop order for the next chain */
		uint32_t batch;      /* chains filled since the last flush */
		uint16_t batch_head; /* packed: newest chain filled since flush */
		uint16_t batch_tail; /* packed: ... and the last entry of the oldest */
	} log_state;
	union {
		struct {
			struct vio_split_desc *desc;
			struct vio_split_avail *avail;
			struct vio_split_used *used;
		} split;
		struct {
			struct vio_packed_desc *desc;
			struct vio_packed_event *driver;
			struct vio_packed_event *device;
			bool avail_wrap;         /* wrap counter at last_avail */
			bool used_wrap;          /* wrap counter at used_idx */
			uint16_t pending_pos;    /* first staged used descriptor */
			uint16_t pending_flags;  /* its flags, written by flush */
			uint16_t pending_descs;  /* descriptors the staged entries cover */
			uint16_t since_signal;   /* descriptors used since need_interrupt */
		} packed;
	} u;
};

/*
 * Sets up a device-side queue over rings the driver placed at cfg->addrs.
 * Each area must lie inside one region of cfg->mem and be aligned as the
 * layout requires. Errors: -EINVAL (size, features, alignment), -EFAULT
 * (an area not inside the regions).
 */
int vio_devq_init(struct vio_devq *q, const struct vio_devq_config *cfg);

/*
 * Takes the next available chain into *e. Returns 0, -EAGAIN when nothing
 * is available, or, when the driver broke a rule, a negative errno with the
 * queue stopped (vio_devq_error() says which rule):
 *   -EIO       avail index more than size ahead; head or next out of range;
 *              a chain longer than the ring (a loop); a readable
 *              descriptor after a writable one; INDIRECT with NEXT;
 *              indirect inside indirect; indirect table length not a
 *              non-zero multiple of 16 or longer than size entries;
 *              INDIRECT when not negotiated; chain total above 2^32-1
 *   -EFAULT    an address range outside the regions
 *   -ENOBUFS   more spans than out_cap/in_cap
 * No memory outside the regions is touched, and each descriptor is read
 * from shared memory exactly once.
 */
int vio_devq_pop(struct vio_devq *q, struct vio_elem *e);

/* Returns chain `id` as used with `len` bytes written, published at once. */
int vio_devq_push(struct vio_devq *q, const struct vio_elem *e, uint32_t len);

/* Batched form: fill() stages one used entry, flush() publishes all staged
 * entries with one index update (packed: one flags store). -EINVAL for an
 * element this queue did not pop, len above the element's in_len, or, with
 * IN_ORDER, an element that is not the oldest one still unused. */
int vio_devq_fill(struct vio_devq *q, const struct vio_elem *e, uint32_t len);
int vio_devq_flush(struct vio_devq *q);

/*
 * IN_ORDER batch: every chain popped before `last` and not yet filled, and
 * `last` itself, are used; one used entry with last's id and `len` says so
 * (the driver takes the earlier ones as fully used); the used index (split)
 * or position (packed) moves past the whole batch, as the spec says. Needs
 * VIO_F_IN_ORDER; publish with flush(). -EINVAL without IN_ORDER, for an
 * element already filled, or len above last's in_len.
 */
int vio_devq_fill_in_order(struct vio_devq *q, const struct vio_elem *last, uint32_t len);

/*
 * After flush/push: does the driver want an interrupt for what was used
 * since the last call? NO_INTERRUPT flag, or used_event with EVENT_IDX;
 * with NOTIFY_ON_EMPTY also when the avail ring has run empty. Counts into
 * stats.interrupts / interrupts_suppressed.
 */
bool vio_devq_need_interrupt(struct vio_devq *q);

/* Suppress kicks while the device polls (NO_NOTIFY, or with EVENT_IDX an
 * avail_event that is never reached) and enable them again. kick_enable()
 * returns false when buffers became available meanwhile: pop them before
 * waiting for a kick. */
void vio_devq_kick_disable(struct vio_devq *q);
bool vio_devq_kick_enable(struct vio_devq *q);

/* Is a chain available? (false when stopped) */
bool vio_devq_has_avail(struct vio_devq *q);

/* The next avail entry to consume and used entry to write, in the
 * encoding of vio_devq_config's avail_base/used_base: the state
 * vhost-user's GET_VRING_BASE reports and SET_VRING_BASE restores. */
uint16_t vio_devq_avail_base(const struct vio_devq *q);
uint16_t vio_devq_used_base(const struct vio_devq *q);

/*
 * Dirty logging. While the queue's vio_mem has a log (vio_mem_log_set()),
 * the device side marks every byte it writes into the driver's memory:
 * fill() and fill_in_order() mark the first `len` bytes of the chain's
 * writable descriptors, in order, read again from the ring (a device may
 * have trimmed the element's spans: blk takes its status byte off them)
 * (fill_in_order() also marks every writable
 * descriptor of the batch's earlier chains, which the driver takes as
 * written in full: it reads them again from the ring, as it cannot see
 * their elements); the used ring entries, index,
 * flags and avail_event (split), the used descriptors and the device event
 * structure (packed), as they are written. Ring writes are logged at the
 * ring addresses the queue was set up with, unless vio_devq_log_ring()
 * says otherwise: `on` false logs no ring writes (buffers still are), and
 * `device_addr` is where the device area is logged (vhost-user's
 * log_guest_addr). Context: the queue's thread, or with it stopped; until
 * the next vio_devq_init().
 */
static inline void vio_devq_log_ring(struct vio_devq *q, bool on, uint64_t device_addr)
{
	q->log_ring = on;
	q->log_device = device_addr;
}

/* Chains pop() has handed out, free-running: progress, for a poller. */
static inline uint32_t vio_devq_popped(const struct vio_devq *q) { return q->popped; }

/* Chains recovered from the inflight log that pop() has yet to hand out
 * again (all of them right after init). */
static inline uint32_t vio_devq_resubmit_pending(const struct vio_devq *q)
{
	return q->popped < q->resubmit ? q->resubmit - q->popped : 0;
}

static inline bool vio_devq_is_stopped(const struct vio_devq *q) { return q->broken; }
static inline const char *vio_devq_error(const struct vio_devq *q) { return q->error; }

/* For a side that busy-polls a ring: a short breath between two looks, so
 * the other side's cpu keeps the ring's lines for a moment instead of
 * losing them to the next look at once (and a sibling hyperthread gets
 * the core). */
static inline void vio_ring_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

#ifdef __cplusplus
}
#endif

#endif /* VIO_RING_H */
