/*
 * vio/devices/blk_storage.h - the storage under a virtio-blk device: a
 * public, asynchronous interface.
 *
 * The blk device (vio/devices/blk.h) turns the driver's requests into
 * byte-level operations (read, write, flush, discard, write-zeroes) and
 * hands them to a struct vio_blk_storage. libvio has storages of its own
 * (RAM, null and a file through io_uring or preadv/pwritev, which
 * vio_blk_dev_opts names; an NBD export through libnbd, blk_nbd.h; a Ceph
 * RBD image through librbd, blk_rbd.h); a VMM author plugs in their own by
 * filling the ops below and naming it in vio_blk_dev_opts.storage.
 *
 * The model, one storage queue per device queue:
 *
 *   queue_open()   once per device queue, with the most requests the
 *                  device will ever have in flight on it (depth) and the
 *                  function that completes one (done);
 *   submit()       starts a batch; it never blocks on the storage and never
 *                  refuses: each request completes later, through done(),
 *                  with req->res set (0 or a negative errno);
 *   queue_fd()     an fd the device's thread polls for reading: when it is
 *                  readable, call process(). A storage that completes
 *                  every request inside submit() (RAM, null) has none (-1).
 *   process()      does what the storage has waiting (completions, sending
 *                  queued requests, reconnecting, timeouts), never blocking,
 *                  and calls done() for each request that finished.
 *
 * done() runs only inside submit() or process(), on the thread that called
 * them: a storage whose completions arrive on threads of its own (librbd's)
 * hands them over (a list and an eventfd) and delivers them in process().
 * So the device needs no lock of its own, as with the rest of a queue.
 *
 * A storage bounds how long a request can stay in flight: a stalled
 * server ends in -ETIMEDOUT (or -EIO) through done(), never in a request
 * that waits forever. The device relies on that to drain a queue (reset,
 * ring stop): it polls queue_fd() and calls process() until every request
 * it submitted is done.
 *
 * Threads: the calls on one storage queue come from one thread at a time
 * (the one serving that device queue); different queues' calls may run at
 * once on different threads, so whatever the queues share, the storage
 * protects itself. open/close of the storage and queue_open/queue_close
 * are control-path calls, never concurrent with I/O on the queue.
 */
#ifndef VIO_DEVICES_BLK_STORAGE_H
#define VIO_DEVICES_BLK_STORAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "vio/mem.h"

#ifdef __cplusplus
extern "C" {
#endif

enum vio_blk_storage_op {
	VIO_BLK_STORAGE_READ,           /* [off, off + len) -> iov */
	VIO_BLK_STORAGE_WRITE,          /* iov -> [off, off + len) */
	VIO_BLK_STORAGE_FLUSH,          /* completed writes -> stable storage (off, len 0) */
	VIO_BLK_STORAGE_DISCARD,        /* [off, off + len) may be deallocated */
	VIO_BLK_STORAGE_WRITE_ZEROES,   /* [off, off + len) reads back as zeroes */
};

/* Request flags. */
#define VIO_BLK_STORAGE_REQ_FUA   0x1u  /* WRITE/WRITE_ZEROES: stable before done() */
#define VIO_BLK_STORAGE_REQ_UNMAP 0x2u  /* WRITE_ZEROES: deallocating is allowed */

/*
 * One request, owned by the device (it lives in the device's per-request
 * state, so nothing is allocated per I/O). Offsets and lengths are bytes,
 * whole multiples of 512, inside the storage's size: the device checked
 * them against what the driver may ask. The iov spans are driver memory,
 * valid until done(); READ fills exactly len bytes of them, WRITE takes
 * exactly len bytes. While the request is in flight the storage may use
 * `priv` as it likes; everything else it only reads, but `res`.
 */
struct vio_blk_storage_req {
	uint8_t op;                     /* enum vio_blk_storage_op */
	uint8_t flags;                  /* VIO_BLK_STORAGE_REQ_* */
	int32_t res;                    /* set by the storage before done(): 0 or -errno */
	uint64_t off, len;
	const struct vio_iov *iov;      /* READ/WRITE */
	unsigned iovcnt;
	uintptr_t priv[2];              /* the storage's, while in flight */
};

/* Completes req (req->res is set). Runs on the queue's thread, inside
 * submit() or process(); it may call submit() again (the device refills). */
typedef void vio_blk_storage_done_fn(void *opaque, struct vio_blk_storage_req *req);

/* What a storage can do, beyond READ and WRITE. */
#define VIO_BLK_STORAGE_CAN_FLUSH        0x1u   /* has a volatile cache to flush */
#define VIO_BLK_STORAGE_CAN_FUA          0x2u   /* honours REQ_FUA natively (else the
						 * device follows a write with a flush) */
#define VIO_BLK_STORAGE_CAN_DISCARD      0x4u
#define VIO_BLK_STORAGE_CAN_WRITE_ZEROES 0x8u
#define VIO_BLK_STORAGE_CAN_UNMAP        0x10u  /* WRITE_ZEROES with UNMAP may deallocate */

struct vio_blk_storage;
struct vio_blk_storage_queue;   /* the storage's own, per device queue */

#define VIO_BLK_STORAGE_OPS_VERSION 1

struct vio_blk_storage_ops {
	unsigned version;               /* VIO_BLK_STORAGE_OPS_VERSION */
	/* Opens the storage's side of device queue qi: at most `depth`
	 * requests will be in flight on it at once. 0 or a negative errno. */
	int (*queue_open)(struct vio_blk_storage *s, unsigned qi, unsigned depth,
			  vio_blk_storage_done_fn *done, void *done_opaque,
			  struct vio_blk_storage_queue **out);
	/* Closes it; nothing is in flight (the device drained it first). */
	void (*queue_close)(struct vio_blk_storage_queue *q);
	/* Starts reqs[0..n); each completes through done(), perhaps before
	 * submit() returns. Never blocks on the storage. */
	void (*submit)(struct vio_blk_storage_queue *q, struct vio_blk_storage_req *const *reqs,
		       unsigned n);
	/* The fd to poll for reading, the same for the queue's whole life,
	 * or -1 when every request completes inside submit(). Optional: NULL
	 * is -1. */
	int (*queue_fd)(const struct vio_blk_storage_queue *q);
	/* The fd was readable (or the device drains): make progress without
	 * blocking, calling done() for what finished. Optional with no fd. */
	void (*process)(struct vio_blk_storage_queue *q);
	/* Releases the storage (every queue is closed). Optional. */
	void (*close)(struct vio_blk_storage *s);
};

/*
 * A storage: ops plus what the device builds its config space from. Filled
 * by the storage's open call (or by hand for a storage of one's own), and
 * read by the device at init; it must outlive the device.
 */
struct vio_blk_storage {
	const struct vio_blk_storage_ops *ops;
	void *opaque;                   /* the storage's */
	uint64_t size;                  /* bytes, a whole number of 512-byte sectors */
	uint32_t block_size;            /* smallest unit the storage writes atomically,
					 * a power of 2 >= 512; 0: 512 */
	uint32_t opt_io_size;           /* preferred request size in bytes; 0: none */
	uint32_t max_transfer;          /* most bytes in one READ/WRITE; 0: no limit */
	uint32_t caps;                  /* VIO_BLK_STORAGE_CAN_* */
	bool read_only;                 /* WRITE, DISCARD, WRITE_ZEROES are refused */
	const char *name;               /* for log lines ("nbd", "file", ...) */
};

#ifdef __cplusplus
}
#endif

#endif /* VIO_DEVICES_BLK_STORAGE_H */
