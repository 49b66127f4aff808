/*
 * vio/drivers/blk.h - the virtio block driver.
 *
 * Register a struct vio_blk_driver on a vio_bus; every block device (id 2)
 * the bus finds is probed: config read (capacity, block size, segment and
 * discard limits, queue count), one request queue per device queue (up to
 * VIO_BLK_DRV_MAX_QUEUES, with MQ), and per queue slot a request header,
 * segment area and status byte preallocated in DMA memory, so no request
 * allocates anything.
 *
 * Config the device gives is checked at probe, as Linux's virtio_blk does;
 * each refusal or adjustment is a line on the bus's log callback. Probe
 * fails (the device stays unbound, FAILED set) for a capacity whose byte
 * count does not fit 64 bits (-ERANGE), a blk_size that is not a power of
 * two from 512 to 64 KiB (-EINVAL), and num_queues 0 with MQ (-EINVAL).
 * seg_max 0 counts as 1; max_discard_sectors and max_write_zeroes_sectors
 * 0 as no limit; max_discard_seg 0 as seg_max, max_write_zeroes_seg 0 as 1.
 * A config change to a capacity that does not fit keeps the old one.
 *
 * Buffers: the data buffers of reads and writes must be DMA memory of the
 * device: get them from vio_blk_drv_alloc_buffer() (or vio_drv_dma_alloc()).
 * They are handed to the device as they are (no bounce copy); anything
 * else is refused with -EFAULT. A buffer must stay untouched until its
 * request completes.
 *
 * Two ways to do I/O:
 *   synchronous   vio_blk_drv_read/write/flush/discard/write_zeroes/get_id
 *                 and vio_blk_drv_execute(): submit, then wait in
 *                 vio_drv_wait() until the request completes. Transfers
 *                 beyond the device's limits are split.
 *   asynchronous  vio_blk_drv_submit() (or enqueue() several, then kick())
 *                 with a completion callback, and vio_blk_drv_poll() /
 *                 vio_blk_drv_wait() to reap completions. Callbacks run on
 *                 the thread that polls, waits, or kicks (a transport that
 *                 runs the device inside the kick completes there).
 *
 * Results are 0 or a negative errno: -EIO (the device said IOERR, or wrote
 * no status), -EOPNOTSUPP (UNSUPP, or a feature that was not negotiated),
 * -EROFS (a write to a read-only device: not submitted), -ECANCELED (the
 * device was reset first), -ETIMEDOUT (synchronous calls, opts.timeout_ms,
 * measured as struct vio_drv_deadline says: on the transport's clock).
 *
 * Threads: by default the caller serialises all calls on a device. A
 * program that gives each thread its own queues may instead let the
 * threads run concurrently, as long as each uses only the per-queue calls
 * on queues it owns: vio_blk_drv_submit() and _enqueue() (on io->queue),
 * vio_blk_drv_kick_queue(), _poll_queue() and _inflight_queue(). They touch
 * nothing but that queue. Every other call (poll, wait, kick, inflight,
 * the synchronous calls, abort) touches every queue, and vio_drv_wait()
 * delivers any queue's completions: those must not overlap the threads.
 * Such a program waits for completions itself, e.g. on the transport's
 * per-queue interrupt fd (vio_vu_frontend_call_fd()), then polls its queue.
 */
#ifndef VIO_DRIVERS_BLK_H
#define VIO_DRIVERS_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vio/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VIO_BLK_DRV_MAX_QUEUES        16u
#define VIO_BLK_DRV_MAX_SEGS          32u   /* data segments per request */
#define VIO_BLK_DRV_MAX_RANGES        16u   /* discard/write-zeroes segments per request */

struct vio_blk_drv_opts {
	unsigned max_queues;    /* 0: every queue the device has (with MQ) */
	unsigned queue_size;    /* 0: the device's maximum */
	unsigned indirect_max;  /* indirect entries per request; 0: data segments + 2 */
	uint64_t features_off;  /* VIO_BIT()s of features not to negotiate */
	int timeout_ms;         /* synchronous calls; 0: no limit */
};

/* One per bus; caller-allocated; fill with vio_blk_drv_register(). */
struct vio_blk_driver {
	struct vio_driver drv;
	/* private */
	struct vio_blk_drv_opts opts;
	uint32_t ids[2];
};

/* Fills bd from opts (NULL: defaults) and registers it: every block device
 * on the bus, now or later, gets probed. */
int vio_blk_drv_register(struct vio_bus *bus, struct vio_blk_driver *bd,
			 const struct vio_blk_drv_opts *opts);
void vio_blk_drv_unregister(struct vio_bus *bus, struct vio_blk_driver *bd);

/* One request. */
struct vio_blk_drv_io {
	uint32_t type;          /* VIO_BLK_T_IN, OUT, FLUSH, GET_ID, DISCARD, WRITE_ZEROES */
	unsigned queue;         /* below vio_blk_drv_num_queues() */
	uint64_t sector;        /* IN, OUT, DISCARD, WRITE_ZEROES: 512-byte units */
	/* IN/OUT: DMA memory, len a non-zero multiple of 512 and at most
	 * vio_blk_drv_max_transfer(). GET_ID: any memory of at least
	 * VIO_BLK_ID_BYTES, filled before `done` runs. */
	void *buf;
	size_t len;
	uint64_t nsectors;      /* DISCARD, WRITE_ZEROES */
	bool unmap;             /* WRITE_ZEROES: the device may deallocate */
	/* Called once, with 0 or a negative errno, when the request is over. */
	void (*done)(void *opaque, int err);
	void *opaque;
};

/*
 * Posts io on its queue and kicks that queue. 0: `done` will run exactly once (maybe
 * before this returns). Errors, with nothing posted and `done` never
 * called: -EINVAL (bad type, queue, length, range), -EFAULT (buf is not
 * DMA memory), -EROFS, -EOPNOTSUPP, -ENOSPC (the queue is full: reap
 * completions and retry), -EIO (queue broken), -ENODEV (aborted or not
 * bound).
 */
int vio_blk_drv_submit(struct vio_drv_device *dev, const struct vio_blk_drv_io *io);
/* The same without the kick; vio_blk_drv_kick() notifies every queue that
 * has new requests, so a batch costs one notification. */
int vio_blk_drv_enqueue(struct vio_drv_device *dev, const struct vio_blk_drv_io *io);
void vio_blk_drv_kick(struct vio_drv_device *dev);

/* Reaps completions on every queue (running their callbacks): how many. */
int vio_blk_drv_poll(struct vio_drv_device *dev);
/* Waits up to timeout_ms (-1: no limit) for the device, then reaps: how
 * many completed, 0 when nothing is in flight, or -ETIMEDOUT. */
int vio_blk_drv_wait(struct vio_drv_device *dev, int timeout_ms);
/* Requests posted and not yet completed. */
unsigned vio_blk_drv_inflight(struct vio_drv_device *dev);

/* Per queue (see "Threads" above). kick_queue: notifies queue qi of the
 * requests enqueued on it since its last kick, if the ring says the device
 * wants a notification; whether it notified. poll_queue: reaps qi's
 * completions (running their callbacks): how many, -EIO when none and the
 * queue is broken (it will never complete anything again), -EINVAL for a
 * bad qi, -ENODEV when no blk driver is bound. inflight_queue: requests on
 * qi not yet completed (0 for a bad qi). */
bool vio_blk_drv_kick_queue(struct vio_drv_device *dev, unsigned qi);
int vio_blk_drv_poll_queue(struct vio_drv_device *dev, unsigned qi);
unsigned vio_blk_drv_inflight_queue(struct vio_drv_device *dev, unsigned qi);

/* Synchronous: runs io (its done/opaque are ignored) to completion. */
int vio_blk_drv_execute(struct vio_drv_device *dev, const struct vio_blk_drv_io *io);

/* Synchronous helpers on queue 0. buf is DMA memory; len a multiple of
 * 512 of any size (split as the device requires). */
int vio_blk_drv_read(struct vio_drv_device *dev, uint64_t sector, void *buf, size_t len);
int vio_blk_drv_write(struct vio_drv_device *dev, uint64_t sector, const void *buf, size_t len);
/* 0 at once when FLUSH was not negotiated: the device then has no
 * volatile cache to flush (writes are stable when they complete). */
int vio_blk_drv_flush(struct vio_drv_device *dev);
int vio_blk_drv_discard(struct vio_drv_device *dev, uint64_t sector, uint64_t nsectors);
int vio_blk_drv_write_zeroes(struct vio_drv_device *dev, uint64_t sector, uint64_t nsectors,
			     bool unmap);
/* The device's id string, NUL-terminated (id has VIO_BLK_ID_BYTES + 1). */
int vio_blk_drv_get_id(struct vio_drv_device *dev, char *id);

/* DMA memory for data buffers, 512-byte aligned. */
void *vio_blk_drv_alloc_buffer(struct vio_drv_device *dev, size_t len);
void vio_blk_drv_free_buffer(struct vio_drv_device *dev, void *buf, size_t len);

/* What probe learned (0 / false when no blk driver is bound to dev). */
uint64_t vio_blk_drv_capacity(struct vio_drv_device *dev);      /* 512-byte sectors */
uint32_t vio_blk_drv_block_size(struct vio_drv_device *dev);    /* logical block size */
bool vio_blk_drv_read_only(struct vio_drv_device *dev);
unsigned vio_blk_drv_num_queues(struct vio_drv_device *dev);
size_t vio_blk_drv_max_transfer(struct vio_drv_device *dev);     /* bytes per IN/OUT request */

/* Cache mode with CONFIG_WCE (1 writeback, 0 writethrough): -EOPNOTSUPP
 * without it. */
int vio_blk_drv_get_writeback(struct vio_drv_device *dev);
int vio_blk_drv_set_writeback(struct vio_drv_device *dev, bool writeback);

/*
 * Error recovery for one queue (VIRTIO_F_RING_RESET): resets queue qi
 * alone and enables it again, while the other queues run on. Its requests
 * the device had finished complete as the device said; every other one
 * completes with -ECANCELED (a write may or may not have reached the
 * disk), each exactly once, on this thread, before this returns. The
 * queue is then empty and takes requests again. 0, -ENODEV (not bound, or
 * aborted), -EINVAL (bad qi), -EOPNOTSUPP (RING_RESET not negotiated, or a
 * transport that cannot reset one queue: vhost-user), or the transport's
 * error (then, if requests were handed back, the queue takes no more:
 * vio_blk_drv_abort()). Context: the caller's serialisation of every
 * call on qi; a thread that owns another queue may run on.
 */
int vio_blk_drv_reset_queue(struct vio_drv_device *dev, unsigned qi);

/*
 * Error recovery: resets the device, completes what it had finished, and
 * completes every other request with -ECANCELED; every queue is then empty.
 * The device stays stopped and further requests fail with -ENODEV: unbind
 * and bind it again (vio_drv_unbind / vio_drv_bind) to start over.
 */
int vio_blk_drv_abort(struct vio_drv_device *dev);

#ifdef __cplusplus
}
#endif

#endif /* VIO_DRIVERS_BLK_H */
