/*
 * vio/devices/rng.h - the entropy device: fills the driver's buffers with
 * random bytes from the operating system (getrandom()).
 *
 * Written only against the device model: embed a struct vio_rng_dev, call
 * vio_rng_dev_init(), and hand &rng.dev to any transport. The device runs
 * no loop and starts no thread; it does its work when the transport
 * delivers a kick. With a rate limit it may leave requests waiting for
 * budget: the caller then asks vio_rng_dev_timeout_ms() how long to sleep
 * and calls vio_rng_dev_process() when that time has passed (a daemon puts
 * it in its poll timeout).
 *
 * What the device does with each request (virtio 1.x 5.4.6.2: it MUST
 * write at least one byte and MAY write fewer than the buffer holds):
 *   - writable-only buffer: filled whole (or up to the rate budget), used
 *     length = bytes written;
 *   - no writable bytes (zero-length): completed with length 0;
 *   - any device-readable segment (the driver MUST NOT post one): nothing
 *     is written, completed with length 0, and a warning is logged;
 *   - the entropy source fails: completed with the bytes obtained so far
 *     (possibly 0) and an error is logged.
 * A malformed ring (as opposed to a malformed request) makes the device
 * NEEDS_RESET through vio_dev_check().
 *
 * Concurrency: every call here, and the transport's dispatch of kicks and
 * control-plane calls for this device, must be serialised by the caller
 * (the loopback transport holds its lock around dispatch, so a device
 * thread wraps vio_rng_dev_process() and vio_rng_dev_timeout_ms() in
 * vio_loopback_lock(); over vhost-user, the request queue's lock).
 */
#ifndef VIO_DEVICES_RNG_H
#define VIO_DEVICES_RNG_H

#include "vio/core.h" /* ssize_t comes with vio/spec.h */

#ifdef __cplusplus
extern "C" {
#endif

/* Largest queue the device offers; also the default. */
#define VIO_RNG_DEV_QUEUE_MAX         1024u /* QEMU's VIRTQUEUE_MAX_SIZE */
/* Spans one request may map to (a descriptor crossing regions takes more
 * than one): two per descriptor of the longest possible chain. */
#define VIO_RNG_DEV_SPANS             (2u * VIO_RNG_DEV_QUEUE_MAX)

/*
 * An entropy source: fill buf with up to len bytes. Returns the number
 * written (> 0; fewer than len is fine, the device asks again), or a
 * negative errno; -EINTR and -EAGAIN make the device retry (64 times in a
 * row at most, so that a stuck source cannot hang the device).
 */
typedef ssize_t vio_rng_source_fn(void *opaque, void *buf, size_t len);

/* A monotonic clock in nanoseconds (for the rate limit). */
typedef uint64_t vio_rng_clock_fn(void *opaque);

struct vio_rng_dev_opts {
	/* Transport-independent ring features to offer, beyond VERSION_1:
	 * any of INDIRECT_DESC, EVENT_IDX, NOTIFY_ON_EMPTY, ANY_LAYOUT,
	 * RING_PACKED, IN_ORDER, RING_RESET. */
	uint64_t features;
	bool legacy_ok;             /* also serve drivers without VERSION_1 */
	unsigned queue_size;        /* power of two <= VIO_RNG_DEV_QUEUE_MAX; 0: the maximum */
	/* Bytes per second, 0: unlimited. Budget accumulates up to one
	 * second's worth (at least one byte). */
	uint32_t rate_bytes_per_sec;
	/* Optional: the entropy source (default: getrandom(2)) and clock
	 * (default: CLOCK_MONOTONIC). Tests replace them. A freestanding
	 * build has no defaults: the source is required, and the clock with
	 * a rate limit (init says -EINVAL without them). */
	vio_rng_source_fn *source;
	void *source_opaque;
	vio_rng_clock_fn *clock;
	void *clock_opaque;
};

/* Counters, read-only for callers: written by the device's queue thread,
 * read from any thread with vio_stat_read() (vio/ring.h). */
struct vio_rng_dev_stats {
	uint64_t requests;          /* completed requests, malformed included */
	uint64_t bytes;             /* random bytes written */
	uint64_t malformed;         /* requests with device-readable segments */
	uint64_t source_errors;     /* source failures (retries exhausted included) */
	uint64_t throttled;         /* times a request waited for rate budget */
};

struct vio_rng_dev {
	struct vio_dev_model dev;         /* give &dev to the transport */
	struct vio_rng_dev_stats stats;

	/* private */
	struct vio_dev_queue queue;
	vio_rng_source_fn *source;
	void *source_opaque;
	vio_rng_clock_fn *clock;
	void *clock_opaque;
	uint32_t rate;
	uint64_t budget;            /* bytes that may be written now */
	uint64_t budget_ns;         /* clock when budget was last topped up */
	struct vio_elem elem;
	struct vio_iov out_iov[VIO_RNG_DEV_SPANS];
	struct vio_iov in_iov[VIO_RNG_DEV_SPANS];
};

/*
 * Fills in r->dev (device id 4, one queue, no config) and puts it in its
 * reset state. The caller then sets r->dev.log if it wants messages and
 * joins r->dev to a transport. opts NULL: the defaults (every option 0).
 * Returns 0, or -EINVAL for a bad queue size, a feature outside the list
 * above or a missing source or clock (freestanding), or vio_dev_init()'s
 * error.
 */
int vio_rng_dev_init(struct vio_rng_dev *r, const struct vio_rng_dev_opts *opts);

/* Forgets everything; the transport must no longer reach r->dev. */
void vio_rng_dev_fini(struct vio_rng_dev *r);

/*
 * Serves whatever requests are waiting (as a kick would). Call it when
 * vio_rng_dev_timeout_ms() has run out. Harmless at any other time.
 */
void vio_rng_dev_process(struct vio_rng_dev *r);

/*
 * Milliseconds until the rate limit has budget for a waiting request, 0
 * when it has some now (call vio_rng_dev_process() at once), or -1 when
 * nothing waits for budget: then only a kick brings new work.
 */
int vio_rng_dev_timeout_ms(struct vio_rng_dev *r);

#ifdef __cplusplus
}
#endif

#endif /* VIO_DEVICES_RNG_H */
