/*
 * vio/core.h - the virtio device model and driver model.
 *
 * Everything of virtio that is not the ring: device status, feature
 * negotiation, config space with its generation counter, queue setup and
 * reset, and on the driver side the bus that matches drivers to devices by
 * id (the seed's autoprobe), names them virtio0, virtio1, ... and hands
 * back every outstanding buffer on reset.
 *
 *   device side: a device type (blk, rng, ...) fills a struct vio_dev_model and
 *   a const struct vio_dev_ops; a transport (loopback, vhost-user, an mmio
 *   or pci register model) turns what the driver does into calls to
 *   vio_dev_set_status(), vio_dev_queue_set(), vio_dev_notify()...
 *
 *   driver side: a transport fills a struct vio_drv_device with a const
 *   struct vio_transport_ops; vio_bus_add_device() negotiates and binds the
 *   matching struct vio_driver, which then uses vio_drv_find_vqs(),
 *   vio_drv_config_read() and the ring calls.
 *
 * Neither side knows which transport carries it. The core starts no
 * threads and does no I/O of its own; on the driver side it allocates ring
 * memory only through the transport's DMA allocator, in the control path.
 *
 * Concurrency: the control-plane calls on one vio_dev_model (status, features,
 * config, queue setup) are serialised by the transport, and never run at
 * the same time as the device type's queue processing of that device (the
 * transport stops the queues first). The same holds for one vio_drv_device.
 * Each call below says in a "Context:" line, or under its group's heading,
 * which thread may make it and what it must hold. Callbacks a call makes
 * (the ops tables, a driver's callbacks, log callbacks) run on the
 * caller's thread with whatever the caller holds still held. The core
 * takes no lock of its own, and blocks only inside a transport op.
 */
#ifndef VIO_CORE_H
#define VIO_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vio/mem.h"
#include "vio/ring.h"
#include "vio/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Log levels for the log callbacks below (syslog's numbers). */
enum vio_log_level { VIO_LOG_ERR = 3, VIO_LOG_WARN = 4, VIO_LOG_INFO = 6, VIO_LOG_DEBUG = 7 };
typedef void vio_log_fn(void *opaque, enum vio_log_level level, const char *msg);

/* Longest log line the *_logf() calls below build, terminator included;
 * longer ones are cut short. */
#define VIO_LOG_LINE_MAX 256

#if defined(__GNUC__)
#define VIO_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define VIO_PRINTF(f, a)
#endif

/*
 * A small snprintf for log lines, so that no layer needs libc's (the core
 * is freestanding). Conversions: %s, %c, %d and %u (with the length
 * modifiers l, ll and z), %x (the same, and the # flag for a 0x prefix),
 * and %%; no field widths or precision. A conversion outside that list is
 * copied out as it stands, consuming no argument. Always terminates buf
 * (when cap > 0), cutting the line short to fit, and returns the length
 * the whole line has (as snprintf does). Context (both): any thread; no
 * shared state.
 */
size_t vio_format(char *buf, size_t cap, const char *fmt, ...) VIO_PRINTF(3, 4);
size_t vio_vformat(char *buf, size_t cap, const char *fmt, va_list ap) VIO_PRINTF(3, 0);

/*
 * The one log helper of every layer that takes a log callback: formats
 * prefix (may be NULL) then fmt with vio_format() into a line of at most
 * VIO_LOG_LINE_MAX bytes and hands it to fn. Without fn nothing is
 * formatted. The layers' own log calls (vio_dev_logf, vio_drv_logf,
 * the transports' and drivers' wrappers) only pick fn and the prefix.
 * Context: any thread; fn runs on it, so fn must be safe on every thread
 * that logs through it.
 */
void vio_logf(vio_log_fn *fn, void *opaque, enum vio_log_level level, const char *prefix,
	      const char *fmt, ...) VIO_PRINTF(5, 6);
void vio_vlogf(vio_log_fn *fn, void *opaque, enum vio_log_level level, const char *prefix,
	       const char *fmt, va_list ap) VIO_PRINTF(5, 0);

/*
 * Op tables and their versions (SQLite's rule). Each table below says in
 * `version` which version of this header it was written for. Members are
 * only ever added at the end of a table, each with the version that
 * brought it, and the core reads a member only from a table whose version
 * has it. So a table written for an older header keeps working (the later
 * members count as absent) and one written for a newer header works too
 * (the members it adds are not read). A table is refused only when its
 * version is below the one its required members need (version 0: no
 * table at all).
 */

/* ======================================================================== */
/* Device side: the device model                                            */

struct vio_dev_model;

#define VIO_DEV_OPS_VERSION 3

/* What a device type implements. Optional members may be NULL. */
struct vio_dev_ops {
	unsigned version;       /* VIO_DEV_OPS_VERSION */
	/* The driver asks for FEATURES_OK with these features (already
	 * checked to be a subset of what was offered). Return 0 to accept or
	 * a negative errno to refuse: FEATURES_OK then stays clear. Optional. */
	int (*features_ok)(struct vio_dev_model *d, uint64_t features);
	/* DRIVER_OK: the enabled queues are live. Optional. */
	int (*start)(struct vio_dev_model *d);
	/* The device is being reset (status 0): forget all queue state. */
	void (*reset)(struct vio_dev_model *d);
	/* A kick (available buffer notification) for queue qi. */
	void (*queue_notify)(struct vio_dev_model *d, unsigned qi);
	/* The driver wrote config bytes [off, off + len), already stored in
	 * d->config. Optional: without it config space is read-only. */
	void (*config_write)(struct vio_dev_model *d, unsigned off, unsigned len);
	/* Queue qi was reset alone (VIRTIO_F_RING_RESET). Optional. */
	void (*queue_reset)(struct vio_dev_model *d, unsigned qi);
	/* -- version 2 -- */
	/* Requests a transport may carry for its VMM, outside the virtio
	 * interface; a network device's, in practice (vhost-user's SEND_RARP
	 * and NET_SET_MTU). Optional: a transport offers them only to a
	 * device that has them (vio_dev_can_announce(), ..._set_mtu()).
	 * They run in the transport's control path, serialised with every
	 * queue (as config_write). */
	/* Make the network learn that the driver's station address `mac` is
	 * now here (after a migration, for a driver that cannot announce
	 * itself: no GUEST_ANNOUNCE). 0 or a negative errno. */
	int (*announce)(struct vio_dev_model *d, const uint8_t mac[6]);
	/* The MTU the VMM promised the driver: 0, or -EINVAL when the device
	 * cannot carry it (the transport then refuses the request). */
	int (*set_mtu)(struct vio_dev_model *d, unsigned mtu);
	/* -- version 3 -- */
	/* Work a queue's device type finishes later, away from the kicks (a
	 * storage's completions under a blk device): an fd the transport
	 * polls for reading next to the kick, one per queue. */
	/* Queue qi's event fd, or -1 for none; the same fd from vio_dev_init()
	 * until the device type's fini, so a transport may watch it once.
	 * Optional: NULL is -1 for every queue. */
	int (*queue_event_fd)(struct vio_dev_model *d, unsigned qi);
	/* Queue qi's event fd was readable: do what is waiting, never
	 * blocking (completions become used buffers and interrupts, new
	 * requests are taken). Runs whether or not the queue is live (work
	 * that ends on a stopped queue is dropped). Required with
	 * queue_event_fd. */
	void (*queue_event)(struct vio_dev_model *d, unsigned qi);
	/* Finish everything queue qi has in flight before returning
	 * (blocking as long as that takes: the device type bounds it),
	 * returning it as used while the queue is live, and take no new
	 * buffers. The core calls it before a queue stops (reset, queue
	 * reset, vio_dev_queue_stop) and in vio_dev_drain(), in the control
	 * path. Optional: a device type with nothing in flight between
	 * calls needs none. */
	void (*queue_drain)(struct vio_dev_model *d, unsigned qi);
};

#define VIO_DEV_TRANSPORT_VERSION 1

/* What the transport gives the device model: how to notify the driver. */
struct vio_dev_transport {
	unsigned version;       /* VIO_DEV_TRANSPORT_VERSION */
	void (*interrupt)(void *opaque, unsigned qi);   /* used buffers on qi */
	void (*config_interrupt)(void *opaque);         /* config or status changed */
};

/* Control-path memory of a device type (private: the device types take it
 * from their options, or from the OS by default). */
struct vio__alloc {
	void *(*alloc)(void *opaque, size_t size);
	void (*free)(void *opaque, void *p, size_t size);
	void *opaque;
	bool zeroed;            /* alloc returns zeroed memory (calloc) */
};

struct vio_dev_queue {
	/* read-only for device types */
	struct vio_devq vq;
	unsigned max_size;          /* set by the device type */
	unsigned indirect_max;      /* device type: longest indirect table, 0 = size */
	/* Device type: the queues whose processing must never overlap this
	 * one's, as the range [serial_first, serial_first + serial_count),
	 * which holds this queue (count 0: this queue alone). A transport
	 * that serves queues on several threads holds the whole range while
	 * the device works on this queue (a net device's receive and
	 * transmit queue of one pair; its control queue with every pair). */
	unsigned serial_first, serial_count;
	unsigned size;              /* chosen by the driver */
	struct vio_ring_addrs addrs;
	bool enabled;               /* the driver enabled it */
	/* vq is initialised and may be used: atomic, since another queue's
	 * processing may clear it (vio_dev_needs_reset); read it with
	 * vio_dev_queue_live() */
	bool live;
	/* private: set with vio_dev_queue_resume() and
	 * vio_dev_queue_set_inflight() */
	bool resume;
	uint16_t avail_base, used_base;
	void *inflight;
	size_t inflight_len;
	uint16_t *inflight_scratch;
};

struct vio_dev_model {
	/* Set by the device type before vio_dev_init(). */
	uint32_t device_id;
	uint64_t host_features;     /* offered; the ring features included */
	bool legacy_ok;             /* serves drivers without VERSION_1 */
	uint8_t *config;            /* config space, little-endian (or native for legacy) */
	unsigned config_len;
	struct vio_dev_queue *queues;
	unsigned num_queues;
	const struct vio_dev_ops *ops;
	void *priv;                 /* the device type's */

	/* Set by the transport. */
	const struct vio_mem *mem;  /* the driver's memory */
	const struct vio_dev_transport *transport;
	void *transport_opaque;
	vio_log_fn *log;            /* optional */
	void *log_opaque;

	/* read-only */
	uint8_t status;             /* atomic (NEEDS_RESET comes from any queue's
				     * processing): vio_dev_get_status() */
	uint64_t features;          /* what the driver acked */
	uint32_t config_generation;
	bool legacy;                /* negotiated without VERSION_1 */
};

/* Checks the fields the device type set and puts the device in its reset
 * state. -EINVAL for a missing ops table, queue array or config pointer.
 * Context: before a transport takes d; no other thread uses d yet. */
int vio_dev_init(struct vio_dev_model *d);

/* -- called by transports ------------------------------------------------ */

/*
 * Context, for every call of this group but vio_dev_notify(): the
 * transport's control path, one call at a time per device, never while the
 * device type processes a queue the call touches. Loopback makes them under
 * its lock (the one vio_loopback_device_dispatch() holds); the vhost-user
 * backend on its dispatch thread, holding the lock of the queue a call
 * touches, or every queue lock for one that touches them all (reset,
 * features, config writes, memory, and the status writes that call back or
 * start or stop queues: see vio_dev_set_status()). The device type's
 * callbacks (features_ok, start, reset, config_write, queue_reset) run on
 * this thread with those locks held: they must not block for long, nor
 * call back into the transport's control path. The getters only read d;
 * from another thread, only under the same serialisation, but for
 * vio_dev_get_status(), which any thread may call (a queue's processing
 * may add NEEDS_RESET at any time, so status is atomic).
 */

uint8_t vio_dev_get_status(const struct vio_dev_model *d);

/*
 * The driver writes the status register. 0 resets the device and every
 * queue. Setting FEATURES_OK asks the device type (features_ok); a refusal
 * leaves the bit clear, which the driver sees when it reads status back.
 * DRIVER_OK makes the enabled queues live and calls start(). Bits may only
 * be added (clearing one without a reset is ignored, as the spec allows).
 * Returns 0, or a negative errno for a write the spec forbids (which is
 * then ignored; the device stays as it was). A write that adds only
 * ACKNOWLEDGE or DRIVER touches no queue (it needs no queue lock); one
 * that sets 0, FAILED, FEATURES_OK or DRIVER_OK touches them all. A
 * NEEDS_RESET set meanwhile by a queue's processing is kept.
 */
int vio_dev_set_status(struct vio_dev_model *d, uint8_t status);

uint64_t vio_dev_get_features(const struct vio_dev_model *d);

/* The driver's features: -EINVAL when not a subset of the offer, without
 * VERSION_1 on a device that is not legacy_ok, or after FEATURES_OK. */
int vio_dev_set_features(struct vio_dev_model *d, uint64_t features);

/* Config space access: -EINVAL when [off, off + len) is not inside it. */
int vio_dev_config_read(struct vio_dev_model *d, unsigned off, void *buf, unsigned len);
int vio_dev_config_write(struct vio_dev_model *d, unsigned off, const void *buf, unsigned len);
uint32_t vio_dev_config_generation(const struct vio_dev_model *d);

unsigned vio_dev_num_queues(const struct vio_dev_model *d);
/* Largest size of queue qi, 0 when qi does not exist. */
unsigned vio_dev_queue_max(const struct vio_dev_model *d, unsigned qi);

/* Size and ring addresses of queue qi, before it is enabled (or after a
 * queue reset): -EINVAL for a bad index, a size above the maximum or not
 * valid for the layout, or a queue that is enabled. */
int vio_dev_queue_set(struct vio_dev_model *d, unsigned qi, unsigned size,
		      const struct vio_ring_addrs *a);

/* Queue qi resumes from saved bases (in vio_devq_config's encoding, what
 * vhost-user's SET_VRING_BASE carries) when it goes live, instead of from
 * the start: before it is enabled. -EINVAL for a bad index or an enabled
 * queue. Reset and vio_dev_queue_stop() forget it. */
int vio_dev_queue_resume(struct vio_dev_model *d, unsigned qi, uint16_t avail_base,
			 uint16_t used_base);

/* Queue qi keeps an inflight log of len bytes at `log` (vio/inflight.h),
 * or none (log NULL), from the next time it goes live, with a scratch of
 * 2 * max_size entries (needed with a log, and for IN_ORDER). A log is
 * given before the queue is enabled; taken away, at any time. -EINVAL for
 * a bad index, a log for an enabled queue, or a log without a scratch.
 * The log is checked when the queue goes live. */
int vio_dev_queue_set_inflight(struct vio_dev_model *d, unsigned qi, void *log, size_t len,
			       uint16_t *scratch);

/* Chains queue qi recovered from its inflight log that it has yet to hand
 * out again (all of them right after it went live); 0 when not live. */
unsigned vio_dev_queue_resubmitted(const struct vio_dev_model *d, unsigned qi);

/* The driver enables queue qi. It goes live at DRIVER_OK, or at once if
 * DRIVER_OK is already set (after a RING_RESET). -EFAULT when its rings
 * are not inside the driver's memory: the device then needs a reset. */
int vio_dev_queue_enable(struct vio_dev_model *d, unsigned qi);

/* VIRTIO_F_RING_RESET: reset queue qi alone. -ENOTSUP if not negotiated. */
int vio_dev_queue_reset(struct vio_dev_model *d, unsigned qi);

/*
 * The transport stops queue qi (vhost-user's GET_VRING_BASE): the device
 * type drops its per-queue state (queue_reset), and the queue can be set up
 * and enabled again, e.g. resuming from the bases reported here (either
 * pointer may be NULL). Works whatever the features; -EINVAL for a bad
 * index.
 */
int vio_dev_queue_stop(struct vio_dev_model *d, unsigned qi, uint16_t *avail_base,
		       uint16_t *used_base);

/* The device type's version-2 requests (vio_dev_ops.announce, set_mtu):
 * whether it has them, and the calls, which return -ENOTSUP without.
 * Context: as vio_dev_config_write() (every queue held) for the calls;
 * any thread for the vio_dev_can_*() tests (they read only the ops). */
bool vio_dev_can_announce(const struct vio_dev_model *d);
bool vio_dev_can_set_mtu(const struct vio_dev_model *d);
int vio_dev_announce(struct vio_dev_model *d, const uint8_t mac[6]);
int vio_dev_set_mtu(struct vio_dev_model *d, unsigned mtu);

/* A kick for queue qi: passed to the device type if the queue is live.
 * Context: the thread serving qi, serialised with every other call on qi
 * and with the control path (loopback: its device thread under its lock,
 * or the kicking thread in direct mode; vhost-user: the queue's thread
 * under its lock). queue_notify, and the interrupts it raises, run on this
 * thread. */
void vio_dev_notify(struct vio_dev_model *d, unsigned qi);

/* Queue qi's event fd (vio_dev_ops.queue_event_fd), or -1: poll it for
 * reading, and call vio_dev_queue_event() when it is, under the same
 * serialisation as vio_dev_notify(). The fd is the same for the device's
 * whole life (from vio_dev_init() to the device type's fini); it is the
 * device type's: never close or read it. Context: any thread. */
int vio_dev_queue_event_fd(struct vio_dev_model *d, unsigned qi);

/* Queue qi's event fd was readable (or the transport polls instead of
 * waiting): the device type does what is waiting. Runs even when the
 * queue is not live, so work that was in flight when it stopped ends.
 * Context: as vio_dev_notify(). */
void vio_dev_queue_event(struct vio_dev_model *d, unsigned qi);

/* Waits until no queue of d has work in flight (vio_dev_ops.queue_drain):
 * what a transport calls before the driver's memory changes under the
 * device (vhost-user's SET_MEM_TABLE, REM_MEM_REG). Reset, queue reset
 * and vio_dev_queue_stop() drain on their own. Context: the control path
 * with every queue held (as vio_dev_set_status(0)); may block as long as
 * the device type's work takes to end. */
void vio_dev_drain(struct vio_dev_model *d);

/* -- called by device types ---------------------------------------------- */

/*
 * Context, unless a call says otherwise: the device type's processing of
 * queue qi (inside queue_notify, or work of its own started under the
 * transport's lock for qi: vio_vu_backend_queue_lock(), vio_loopback_lock()),
 * serialised with every other call on qi. The transport callbacks these
 * make (interrupt, config_interrupt) run on this thread and do not wait:
 * an eventfd write, or vhost-user's one send on the backend channel that
 * gives up at once when the channel is full (taking backend_lock).
 */

/* The live ring of queue qi, or NULL. */
struct vio_devq *vio_dev_vq(struct vio_dev_model *d, unsigned qi);

/* Is queue qi live (its ring set up, the device may use it)? false for a
 * bad index. The acquire pairs with the release that makes the queue live
 * (device.c, queue_set_live), so a caller that sees true sees the ring set
 * up. Context: any thread; the answer holds only while the caller holds
 * what keeps the control path off qi (then it can only turn false: another
 * queue's processing may set NEEDS_RESET). */
static inline bool vio_dev_queue_live(const struct vio_dev_model *d, unsigned qi)
{
	return qi < d->num_queues && __atomic_load_n(&d->queues[qi].live, __ATOMIC_ACQUIRE);
}

/* After pushing to qi: interrupt the driver if the ring says it wants one. */
void vio_dev_interrupt(struct vio_dev_model *d, unsigned qi);

/* The device changed its config space: bump the generation, tell the driver.
 * Context: serialised with the control path rather than with one queue
 * (it and the config bytes are read there): loopback: under
 * vio_loopback_lock(); vhost-user backend: its dispatch thread, between
 * dispatch calls. The transports read and write config space (GET_CONFIG,
 * SET_CONFIG, the driver's config reads) only while no queue is being
 * processed, so a device type may also rewrite its config bytes inside a
 * queue's processing (the net control queue's MAC_ADDR_SET). A change made
 * outside queue processing must then also be serialised with the queues
 * that change config (vhost-user: vio_vu_backend_queue_lock() of each). */
void vio_dev_config_changed(struct vio_dev_model *d);

/* The driver broke the rules (e.g. a queue stopped): set NEEDS_RESET, tell
 * the driver, stop all queues, log why. Context: the processing of any
 * queue of d (as above), or the transport's control path. */
void vio_dev_needs_reset(struct vio_dev_model *d, const char *why);

/* Handles a vio_devq_pop() result: a stopped queue becomes NEEDS_RESET.
 * Returns err unchanged. Context: the processing of queue qi (the
 * group's rule); it may call vio_dev_needs_reset(). */
int vio_dev_check(struct vio_dev_model *d, unsigned qi, int err);

/* Context: queue processing, or any thread serialised with the control
 * path (the features change only there). */
bool vio_dev_has_feature(const struct vio_dev_model *d, unsigned bit);

/* Log through the log callback, if any. Context (both): any thread; the
 * callback runs on it. */
void vio_dev_log(const struct vio_dev_model *d, enum vio_log_level level, const char *msg);
/* The same, formatted by vio_format() (nothing is formatted without a
 * callback); at most VIO_LOG_LINE_MAX bytes. */
void vio_dev_logf(const struct vio_dev_model *d, enum vio_log_level level, const char *fmt, ...)
	VIO_PRINTF(3, 4);

/* ======================================================================== */
/* Driver side: the driver model                                            */

struct vio_drv_device;
struct vio_drv_vq;

#define VIO_TRANSPORT_OPS_VERSION 2   /* 1: up to legacy_align; 2: now_ns */

/*
 * What a driver-side transport implements. Every member is required
 * unless marked optional. Config offsets are device-specific config space
 * offsets; queue indices are below num_queues(). Each op is called in the
 * context of the core call that makes it (see that call's Context).
 */
struct vio_transport_ops {
	unsigned version;       /* VIO_TRANSPORT_OPS_VERSION */
	uint8_t (*get_status)(struct vio_drv_device *dev);
	void (*set_status)(struct vio_drv_device *dev, uint8_t status);
	uint64_t (*get_features)(struct vio_drv_device *dev);
	int (*set_features)(struct vio_drv_device *dev, uint64_t features);
	/* Feature bits the transport itself can carry (ring layouts,
	 * ACCESS_PLATFORM, ...). Device-type bits (0..23, 50+) always pass.
	 * ACCESS_PLATFORM, when carried, is taken for every driver: drivers
	 * hand a device only addresses from dma_alloc, so the transport
	 * speaks for them. */
	uint64_t (*transport_features)(struct vio_drv_device *dev);
	int (*config_read)(struct vio_drv_device *dev, unsigned off, void *buf, unsigned len);
	int (*config_write)(struct vio_drv_device *dev, unsigned off, const void *buf,
			    unsigned len); /* optional: config is read-only */
	uint32_t (*config_generation)(struct vio_drv_device *dev);
	unsigned (*num_queues)(struct vio_drv_device *dev);
	unsigned (*queue_max)(struct vio_drv_device *dev, unsigned qi);
	int (*queue_setup)(struct vio_drv_device *dev, unsigned qi, unsigned size,
			   const struct vio_ring_addrs *dma);
	int (*queue_enable)(struct vio_drv_device *dev, unsigned qi);
	int (*queue_reset)(struct vio_drv_device *dev, unsigned qi); /* optional */
	void (*notify)(struct vio_drv_device *dev, unsigned qi);
	/* DMA memory: memory the device can address; *dma is its address. */
	void *(*dma_alloc)(struct vio_drv_device *dev, size_t size, size_t align, uint64_t *dma);
	void (*dma_free)(struct vio_drv_device *dev, void *p, size_t size);
	/* Device address of a pointer inside DMA memory (UINT64_MAX if not). */
	uint64_t (*dma_addr)(struct vio_drv_device *dev, const void *p);
	/* Block until the device may have interrupted (at most timeout_ms;
	 * -1: no limit), delivering interrupts through vio_drv_interrupt()
	 * on this thread. Optional: without it, synchronous driver calls poll.
	 * Returns 0, or -ETIMEDOUT when the whole timeout passed without an
	 * interrupt. */
	int (*wait)(struct vio_drv_device *dev, int timeout_ms);
	/* Legacy layout alignment (0: modern placement only). */
	size_t legacy_align;
	/* -- version 2 -- */
	/* A monotonic clock in nanoseconds: the time the deadlines of the
	 * drivers' synchronous calls are measured in (struct vio_drv_deadline).
	 * Optional: the core makes no syscalls and has no clock of its own,
	 * so without it time passes only by waiting (see vio_drv_deadline). */
	uint64_t (*now_ns)(struct vio_drv_device *dev);
};

/* A driver. Caller-allocated; registered with vio_bus_register_driver(). */
struct vio_driver {
	const char *name;
	const uint32_t *ids;            /* device ids it drives, 0-terminated */
	uint64_t features;              /* what it supports, VERSION_1 included */
	uint64_t legacy_features;       /* with a device that is not VERSION_1 */
	int (*probe)(struct vio_drv_device *dev);
	void (*remove)(struct vio_drv_device *dev);
	void (*config_changed)(struct vio_drv_device *dev);         /* optional */
	/* private */
	struct vio_driver *next_;
};

/* Per-queue setup for vio_drv_find_vqs(). */
struct vio_drv_vq_info {
	void (*callback)(struct vio_drv_vq *vq);     /* used buffers (optional) */
	unsigned size;                  /* 0: the device's maximum */
	unsigned indirect_max;          /* indirect table entries per buffer (0: none) */
	enum vio_len_policy len_policy;
};

struct vio_drv_vq {
	/* read-only */
	struct vio_drvq q;
	struct vio_drv_device *dev;
	unsigned index;
	/* for the driver */
	void (*callback)(struct vio_drv_vq *vq);
	void *priv;
	/* private: ring memory from the transport, slots from the bus */
	void *mem_;
	size_t mem_len_;
	struct vio_drvq_slot *slots_;
	size_t slots_len_;
};

struct vio_bus;

struct vio_drv_device {
	/* set by the transport before vio_bus_add_device() */
	const struct vio_transport_ops *ops;
	void *transport;                /* the transport's own state */
	uint32_t id;                    /* device id */

	/* read-only */
	unsigned index;                 /* unique on its bus */
	char name[20];                  /* "virtio%u" */
	uint64_t features;              /* negotiated */
	bool legacy;                    /* negotiated without VERSION_1 */
	struct vio_driver *driver;      /* bound driver, or NULL */
	struct vio_drv_vq *vqs;
	unsigned nvqs;
	struct vio_bus *bus;

	/* for the bound driver */
	void *priv;

	/* private */
	struct vio_drv_device *next_;
};

/* Drivers and devices, matched by id. Caller-allocated; no globals. */
struct vio_bus {
	/* Private (not device-visible) memory for the drivers' bookkeeping,
	 * such as each queue's shadow slots: required, as the core itself is
	 * freestanding. Control path only. */
	void *(*alloc)(void *opaque, size_t size);
	void (*free)(void *opaque, void *p, size_t size);
	void *alloc_opaque;
	vio_log_fn *log;                /* optional */
	void *log_opaque;
	/* private */
	struct vio_driver *drivers_;
	struct vio_drv_device *devices_;
	unsigned next_index_;
};

/*
 * The bus and its devices' lifecycle. Context: one thread at a time per
 * bus (the caller serialises), and no other thread may be using a device
 * these calls bind, unbind, reset or remove, its queues included. probe()
 * and remove() run on this thread; the transport's control-plane ops they
 * make may block (the vhost-user frontend: up to its timeout_ms per
 * exchange; loopback: for its lock, while the device thread holds it).
 */

/* Empties the bus and sets its private-memory allocator. Context: before
 * any other use of bus. */
void vio_bus_init(struct vio_bus *bus, void *(*alloc)(void *opaque, size_t size),
		  void (*free_fn)(void *opaque, void *p, size_t size), void *alloc_opaque);

/* Registers a driver and binds it to every unbound device it matches. */
int vio_bus_register_driver(struct vio_bus *bus, struct vio_driver *drv);
/* Unbinds it (remove) from its devices, then forgets it. */
void vio_bus_unregister_driver(struct vio_bus *bus, struct vio_driver *drv);

/*
 * A transport found a device: give it an index and name, reset it,
 * ACKNOWLEDGE, and bind a matching driver if one is registered:
 * DRIVER, negotiate (device offer AND driver table AND transport), write
 * and read back FEATURES_OK, probe, then DRIVER_OK. A failed negotiation
 * or probe sets FAILED; the device stays on the bus unbound. Returns 0 when
 * added (bound or not), or a negative errno.
 */
int vio_bus_add_device(struct vio_bus *bus, struct vio_drv_device *dev);
/* Unbinds (remove) and resets the device, then forgets it. */
void vio_bus_remove_device(struct vio_bus *bus, struct vio_drv_device *dev);

/* Binds dev again after its driver was unbound (vio_drv_unbind). */
int vio_drv_bind(struct vio_drv_device *dev);
void vio_drv_unbind(struct vio_drv_device *dev);

/* -- for drivers --------------------------------------------------------- */

/*
 * Context, unless a call says otherwise: the driver's thread, the one that
 * owns dev. Calls on one vio_drv_device, the bus calls above included, are
 * serialised by the caller: the transports do not lock their state for
 * them. Calls that reach the transport's control path may block (the
 * vhost-user frontend: up to timeout_ms per exchange) and on loopback take
 * its lock: not while holding vio_loopback_lock(). The per-queue calls
 * (vio_drv_vq_kick(), vio_drv_vq_reap() and the ring calls on vq->q) may come
 * instead from the thread that owns that queue.
 */

/* Context: any thread (the features do not change while a driver is
 * bound). */
bool vio_drv_has_feature(const struct vio_drv_device *dev, unsigned bit);

/* Log through the bus's log callback, if any: how a driver says why it
 * refuses or clamps what the device told it (the library never prints).
 * Context (both): any thread; the callback runs on it. */
void vio_drv_log(const struct vio_drv_device *dev, enum vio_log_level level, const char *msg);
/* The same, formatted by vio_format() (nothing is formatted without a
 * callback); at most VIO_LOG_LINE_MAX bytes. */
void vio_drv_logf(const struct vio_drv_device *dev, enum vio_log_level level, const char *fmt, ...)
	VIO_PRINTF(3, 4);

/*
 * Reads config space consistently: retries while the generation changes,
 * at most 16 times, then -EAGAIN. Other errors from the transport pass.
 * Context (both): the driver's thread, as above; each try is several
 * transport calls, each of which may block.
 */
int vio_drv_config_read(struct vio_drv_device *dev, unsigned off, void *buf, unsigned len);
int vio_drv_config_write(struct vio_drv_device *dev, unsigned off, const void *buf, unsigned len);

/* Sets up queues 0..n-1 with ring memory from the transport. On error
 * nothing stays allocated. Context (both): the driver's thread, while no
 * thread uses dev's queues (in probe(), or after vio_drv_reset()). */
int vio_drv_find_vqs(struct vio_drv_device *dev, unsigned n, const struct vio_drv_vq_info *info,
		     struct vio_drv_vq *vqs);
/* Frees what vio_drv_find_vqs() allocated; the device must be reset first. */
void vio_drv_del_vqs(struct vio_drv_device *dev);

/* Zeroed private memory from the bus's allocator, for a driver's own
 * bookkeeping (never visible to the device); control path only.
 * Context: the driver's thread (the bus's allocator need not be
 * thread-safe). */
void *vio_drv_priv_alloc(struct vio_drv_device *dev, size_t size);
void vio_drv_priv_free(struct vio_drv_device *dev, void *p, size_t size);

/* Device address of a pointer inside DMA memory, and the allocator.
 * Context: alloc and free: the driver's thread (the vhost-user frontend's
 * arena has no lock); vio_drv_dma_addr(): any thread (it reads only what the
 * transport fixed at init). */
void *vio_drv_dma_alloc(struct vio_drv_device *dev, size_t size, size_t align, uint64_t *dma);
void vio_drv_dma_free(struct vio_drv_device *dev, void *p, size_t size);
uint64_t vio_drv_dma_addr(struct vio_drv_device *dev, const void *p);

/* Kicks queue vq if the ring says the device wants it. Context: the
 * thread that owns vq, serialised with every other call on vq->q; it may
 * run alongside other queues' owners and the driver's thread. The
 * transport's notify runs on it: an eventfd write, except in loopback's
 * direct mode, which runs the device's queue_notify and then every pending
 * interrupt callback (any queue's) on this thread. */
bool vio_drv_vq_kick(struct vio_drv_vq *vq);

/*
 * Hands every used buffer of vq to fn, with the race-free dance of the
 * seed's drivers: callbacks off, drain, callbacks on, and drain again if
 * buffers slipped in meanwhile. 0, or -EIO when the queue is broken.
 * Context: the thread that owns vq, as vio_drv_vq_kick(); fn runs on it.
 */
int vio_drv_vq_reap(struct vio_drv_vq *vq, void (*fn)(void *opaque, void *token, uint32_t len),
		    void *opaque);

/* Waits for the device (see vio_transport_ops.wait): 0 or -ETIMEDOUT.
 * Context: the driver's thread, serialised with every call on every queue
 * of dev: the queues' callbacks and config_changed run on this thread,
 * holding no transport lock. Blocks up to timeout_ms (< 0: no limit),
 * plus on the vhost-user frontend up to its timeout_ms serving the
 * backend channel. A program whose threads
 * each own queues waits on each queue's own fd instead
 * (vio_vu_frontend_call_fd()). */
int vio_drv_wait(struct vio_drv_device *dev, int timeout_ms);

/*
 * A deadline for a driver's synchronous call: the one place drivers get
 * time from, so that they need no clock of their own. Time is the
 * transport's (vio_transport_ops.now_ns). A transport without a clock
 * leaves only waiting to measure by: each vio_drv_deadline_wait() whose wait
 * returned -ETIMEDOUT counts as the time it asked for, and nothing else
 * counts. That never ends a call early; it ends late, or not at all, if
 * the device keeps interrupting without finishing (and a transport with
 * neither clock nor wait, which only polls, has no time at all: a
 * deadline then passes only when it was 0). Give the transport a clock
 * where a hostile or dead device must not hold a call.
 *
 * Context, for the calls below: the thread that owns dl (a deadline is not
 * shared). start, passed and left_ms only read the transport's clock
 * (now_ns, which any thread may call) and never block; vio_drv_deadline_wait()
 * is vio_drv_wait(), in its context.
 */
struct vio_drv_deadline {
	/* private */
	uint64_t end_ns;        /* with a clock: when it passes */
	uint64_t left_ms;       /* without: waiting still to count */
	bool forever;           /* no deadline */
};

/* Starts dl timeout_ms from now: < 0 never passes, 0 has passed already. */
void vio_drv_deadline_start(struct vio_drv_device *dev, struct vio_drv_deadline *dl,
			    int timeout_ms);
bool vio_drv_deadline_passed(struct vio_drv_device *dev, const struct vio_drv_deadline *dl);
/* Milliseconds left, rounded up, at most max_ms (< 0: no cap); 0 once
 * passed; -1 with neither a deadline nor a cap. */
int vio_drv_deadline_left_ms(struct vio_drv_device *dev, const struct vio_drv_deadline *dl,
			     int max_ms);
/* vio_drv_wait() for vio_drv_deadline_left_ms(dev, dl, max_ms) (so once
 * passed, a look without blocking), counting it without a clock. */
int vio_drv_deadline_wait(struct vio_drv_device *dev, struct vio_drv_deadline *dl, int max_ms);

/*
 * Resets the device (status 0, read back) so it stops using every queue.
 * The driver then takes its buffers back with vio_drvq_detach_unused() on
 * each vq->q, and may vio_drv_del_vqs() or re-negotiate.
 * Context: the driver's thread, while no other thread uses dev's queues
 * (this stops them all); may block, as a control-plane call.
 */
void vio_drv_reset(struct vio_drv_device *dev);

/* The device status as the device reports it: a driver checks for
 * VIO_STATUS_NEEDS_RESET here instead of waiting on a dead device.
 * Context: the driver's thread (vhost-user frontend: may be a GET_STATUS
 * exchange). */
uint8_t vio_drv_get_status(struct vio_drv_device *dev);

/* Sets DRIVER_OK early (from probe, before using queues); the bus does it
 * after probe otherwise. Context: the driver's thread, in probe(). */
void vio_drv_ready(struct vio_drv_device *dev);

/* -- for driver-side transports ----------------------------------------- */

/*
 * Context (both): the thread that waits for dev, inside vio_drv_wait()
 * or a dispatch call of the transport's (vio_loopback_driver_dispatch(),
 * vio_vu_frontend_dispatch(); loopback's direct mode: inside the kick),
 * holding none of the transport's locks, serialised with every call on
 * queue qi (interrupt) or on dev (config). The queue's callback, or the
 * driver's config_changed, runs on that thread.
 */

/* The device interrupted for queue qi: run that queue's callback. */
void vio_drv_interrupt(struct vio_drv_device *dev, unsigned qi);
/* The device's config changed: tell the driver. */
void vio_drv_config_interrupt(struct vio_drv_device *dev);

#ifdef __cplusplus
}
#endif

#endif /* VIO_CORE_H */
