/*
 * vio/drivers/balloon.h - the memory balloon driver (virtio id 5), the
 * seed's driver.
 *
 * When the device's target (num_pages) differs from what the driver holds,
 * vio_balloon_drv_update() takes pages from the page source and hands
 * their frame numbers to the device (inflate), or asks for pages back and
 * returns them to the source (deflate), in batches of up to 256 frames,
 * waiting for the device to use each batch before it counts it, and then
 * writes `actual`. With MUST_TELL_HOST a deflated page goes back to the
 * source only after the device has used the deflate buffer; without it,
 * at once. The page source is the device's DMA memory by default (over
 * loopback: the very memory the device sees), or the embedder's.
 *
 * Calls on one device are serialised by the caller, on the thread that
 * also waits for the device (the callbacks below run inside
 * vio_drv_wait() on that thread). They block until the device answers
 * or the driver's timeout passes; so does probe, which moves towards a
 * target the device set before the driver came up (a threaded device
 * must be running by then).
 */
#ifndef VIO_DRIVERS_BALLOON_H
#define VIO_DRIVERS_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "vio/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Frame numbers per inflate or deflate buffer (the seed's array size). */
#define VIO_BALLOON_DRV_BATCH 256u

/*
 * Where balloon pages come from and go back to. alloc returns one
 * 4096-byte, 4096-aligned page the device can address (*dma: its device
 * address, below 2^44 so a 32-bit frame number names it), or NULL when
 * there is none to spare. The driver never reads or writes the pages.
 */
struct vio_balloon_page_ops {
	void *(*alloc)(void *opaque, struct vio_drv_device *dev, uint64_t *dma);
	void (*free)(void *opaque, struct vio_drv_device *dev, void *page, uint64_t dma);
	void *opaque;
};

/* Fills vals[tag] for the tags the driver reports (vals is zeroed first).
 * Runs inside vio_drv_wait() or a kick, when the device asks. */
typedef void vio_balloon_stats_fn(void *opaque, struct vio_drv_device *dev,
				  uint64_t vals[VIO_BALLOON_S_NR]);

/* The driver's options; zero means the default. */
struct vio_balloon_drv_opts {
	uint32_t max_pages;         /* balloon bookkeeping capacity (65536) */
	int timeout_ms;             /* per device answer (10000) */
	const struct vio_balloon_page_ops *pages;       /* NULL: DMA memory */
	/* Statistics: the tags reported (bit t: tag t), and who fills them.
	 * Without a provider STATS_VQ is not negotiated. */
	uint32_t stats_tags;
	vio_balloon_stats_fn *stats;
	void *stats_opaque;
	/* VIO_BIT()s of features not to negotiate, e.g.
	 * VIO_BALLOON_F_MUST_TELL_HOST (without VERSION_1, RING_PACKED and
	 * IN_ORDER go too). */
	uint64_t features_off;
};

/* The driver. Caller-allocated, one per bus; fill it with
 * vio_balloon_drv_register(). */
struct vio_balloon_driver {
	struct vio_driver drv;
	/* private */
	struct vio_balloon_drv_opts opts;
};

/* Checks opts (NULL: the defaults), fills b from them and registers it on
 * bus: every balloon device on the bus, now or later, gets probed. Returns
 * 0, or -EINVAL for stats_tags naming undefined tags or a provider without
 * tags (then nothing is registered), or vio_bus_register_driver()'s
 * error. */
int vio_balloon_drv_register(struct vio_bus *bus, struct vio_balloon_driver *b,
			     const struct vio_balloon_drv_opts *opts);
/* Unbinds b from its devices (remove) and forgets it. */
void vio_balloon_drv_unregister(struct vio_bus *bus, struct vio_balloon_driver *b);

/*
 * Moves the balloon towards the device's target. Called by the driver
 * itself on a config change, and by the embedder at any time (e.g. to
 * retry). Returns 0 once pages == target, or:
 *   -ENOMEM     the page source ran dry (the balloon holds what it got)
 *   -ENOSPC     the target is above max_pages (inflated to max_pages)
 *   -ETIMEDOUT  the device did not use a buffer in time (the batch stays
 *               out; the next call finishes it first)
 *   -EIO        a queue is broken
 *   -ENODEV     dev is not bound to the balloon driver
 * A call made from inside one of the driver's own waits (a config
 * interrupt during an update) returns 0 at once: the running update
 * reads the target again after every batch.
 */
int vio_balloon_drv_update(struct vio_drv_device *dev);

/* Pages in the balloon (acknowledged by the device), and in bytes. */
uint64_t vio_balloon_drv_pages(struct vio_drv_device *dev);
uint64_t vio_balloon_drv_bytes(struct vio_drv_device *dev);

/* The device's target as last read, clamped to max_pages. */
uint64_t vio_balloon_drv_target(struct vio_drv_device *dev);

/*
 * DEFLATE_ON_OOM: under memory pressure, take up to n pages back from the
 * balloon even though the target says otherwise (telling the device, and
 * with MUST_TELL_HOST waiting for it, as for any deflate). Returns how
 * many pages went back to the page source (0 when the balloon is empty),
 * or a negative errno when none did: -EPERM without DEFLATE_ON_OOM
 * negotiated, -EBUSY from inside one of the driver's own waits, otherwise
 * as update(). A later vio_balloon_drv_update() inflates towards the
 * target again: the embedder decides when.
 */
int64_t vio_balloon_drv_leak(struct vio_drv_device *dev, uint32_t n);

#ifdef __cplusplus
}
#endif

#endif /* VIO_DRIVERS_BALLOON_H */
