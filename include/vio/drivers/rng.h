/*
 * vio/drivers/rng.h - the entropy (rng) driver.
 *
 * Written only against the driver model: register a struct vio_rng_driver
 * on a bus with vio_rng_drv_register(), and every rng device the bus sees
 * is probed. Reads then go through the struct vio_drv_device the
 * bus bound.
 *
 * Requests are preallocated at probe: `bufs` slots of `buf_bytes` in one
 * DMA bounce buffer, each posted as `segs` device-writable segments (more
 * than one exercises chains and, when negotiated, indirect tables). A read
 * of any size is served by as many requests as it takes; the random bytes
 * of a completed request go to the oldest read still waiting, so reads
 * complete in the order they were submitted.
 *
 * Concurrency: one thread per device. The completion callbacks run on the
 * thread that calls the driver (inside vio_rng_drv_read(),
 * vio_rng_drv_read_async() or vio_drv_wait()), never elsewhere.
 */
#ifndef VIO_DRIVERS_RNG_H
#define VIO_DRIVERS_RNG_H

#include "vio/core.h" /* ssize_t comes with vio/spec.h */

#ifdef __cplusplus
extern "C" {
#endif

struct vio_rng_drv_opts {
	unsigned queue_size;    /* 0: the device's maximum */
	uint32_t buf_bytes;     /* bytes per request; 0: 4096 */
	unsigned bufs;          /* requests in flight at most; 0: 8 (capped at the queue size) */
	unsigned segs;          /* segments per request; 0: 1 (capped at buf_bytes
				 * and at the queue size) */
	uint64_t features_off;  /* VIO_BIT()s of features not to negotiate (without
				 * VERSION_1, RING_PACKED and IN_ORDER go too) */
};

/* The driver. Caller-allocated, one per bus; fill it with
 * vio_rng_drv_register(). */
struct vio_rng_driver {
	struct vio_driver drv;
	struct vio_rng_drv_opts opts;
	/* private */
	uint32_t ids_[2];
};

/* Fills d from opts (NULL: the defaults) and registers it on bus: every
 * rng device on the bus, now or later, gets probed. Returns 0 or
 * vio_bus_register_driver()'s error. */
int vio_rng_drv_register(struct vio_bus *bus, struct vio_rng_driver *d,
			 const struct vio_rng_drv_opts *opts);
/* Unbinds d from its devices (remove) and forgets it. */
void vio_rng_drv_unregister(struct vio_bus *bus, struct vio_rng_driver *d);

/*
 * An asynchronous read. The caller owns it and keeps it alive until done()
 * runs or vio_rng_drv_cancel() takes it back. done() gets 0 when all `len`
 * bytes are in `buf`, or -ECANCELED (driver removed) or -EIO (the device
 * broke the ring) with `got` bytes delivered.
 */
struct vio_rng_read {
	void *buf;
	size_t len;             /* > 0 */
	void (*done)(struct vio_rng_read *rd, int err);
	void *opaque;
	size_t got;             /* read-only: bytes delivered so far */
	/* private */
	struct vio_rng_read *next_;
};

/*
 * Queues rd and starts requests for it. done() may run before this
 * returns (a device that answers at once). done() may submit or cancel
 * other reads but must not call vio_rng_drv_read(). Errors: -ENODEV (no
 * rng driver bound), -EINVAL (len 0, no buffer or no done), -EIO (the
 * device broke the ring earlier).
 */
int vio_rng_drv_read_async(struct vio_drv_device *dev, struct vio_rng_read *rd);

/* Takes back a read that has not completed; done() is not called. Its
 * requests in flight still complete, and their bytes go to later reads.
 * Returns whether rd was still queued. */
bool vio_rng_drv_cancel(struct vio_drv_device *dev, struct vio_rng_read *rd);

/*
 * Reads n random bytes into buf, waiting at most timeout_ms (-1: no limit)
 * in vio_drv_wait(). Returns n, or fewer when the time ran out or the
 * device failed after some bytes arrived, or a negative errno when none
 * did: -EAGAIN (timeout 0), -ETIMEDOUT, -EIO, -ECANCELED, -ENODEV.
 * n == 0 returns 0. Time is the transport's (struct vio_drv_deadline).
 */
ssize_t vio_rng_drv_read(struct vio_drv_device *dev, void *buf, size_t n, int timeout_ms);

/* Reaps completed requests and keeps reads fed, without waiting: for a
 * caller that polls instead of blocking. */
void vio_rng_drv_poll(struct vio_drv_device *dev);

#ifdef __cplusplus
}
#endif

#endif /* VIO_DRIVERS_RNG_H */
