/*
 * vio/devices/blk.h - the virtio block device, on any storage.
 *
 * A struct vio_blk_dev is a complete virtio-blk device model: fill the
 * options, vio_blk_dev_init() it, and hand &blk->dev to any transport
 * (loopback, vhost-user, ...). It never learns which one carries it.
 *
 * Storage: the device runs on the asynchronous storage interface of
 * vio/devices/blk_storage.h. libvio's own storages are named by type:
 *   RAM   a caller-sized byte array, the caller's memory or allocated
 *         (opts.alloc, or calloc).
 *   NULL  stores nothing.
 *   FILE  a regular file or a block device, by path or by fd. Reads and
 *         writes go through io_uring (liburing) when the library was built
 *         with it and the kernel lets us set a ring up, else through
 *         preadv/pwritev. DISCARD punches a hole, WRITE_ZEROES zeroes a
 *         range with fallocate() (or writes zeroes where that is not
 *         supported), FLUSH is fdatasync(). Not in a freestanding build
 *         (no OS, no files): there FILE is -ENOTSUP.
 *   STORAGE  the caller's own struct vio_blk_storage (NBD, RBD, or one of
 *         the caller's making).
 *
 * Requests are asynchronous: a kick pops requests and submits them to the
 * storage, up to `depth` in flight per queue, while earlier ones are still
 * running; each is returned used as it completes (with IN_ORDER
 * negotiated, in the order they were popped: a request that finishes
 * early waits for its elders). Completions come inside the submit, or
 * later on the queue's event fd (vio_dev_queue_event_fd(), which the
 * transport polls next to the kicks); each batch of completions is
 * published with one used-index update and one interrupt decision. Reset,
 * queue reset and ring stop drain the queue first (the storage bounds how
 * long a request can take), so they never find a request in flight. The
 * device needs no locking of its own: the transport serialises a queue's
 * kicks and events and keeps them apart from control-plane calls.
 *
 * Everything in a request is the driver's to choose and is checked: header
 * size, where the status byte is, direction of the data buffers, lengths in
 * whole sectors, sector ranges (overflow-safe), discard segments against
 * the advertised limits. A bad request is answered IOERR or UNSUPP with a
 * log line saying why; it never crashes the device or touches memory
 * outside the buffers the ring mapped. A request the storage fails is
 * answered IOERR.
 */
#ifndef VIO_DEVICES_BLK_H
#define VIO_DEVICES_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "vio/core.h"
#include "vio/devices/blk_storage.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most request queues a blk device can have. */
#define VIO_BLK_MAX_QUEUES            64u

/* Ring features offered when vio_blk_dev_opts.ring_features is 0.
 * IN_ORDER is among them: every round returns its requests in pop order,
 * whatever order the backend finishes them in. */
#define VIO_BLK_DEV_RING_FEATURES (VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_INDIRECT_DESC) | \
				   VIO_BIT(VIO_F_EVENT_IDX) | VIO_BIT(VIO_F_RING_PACKED) | \
				   VIO_BIT(VIO_F_IN_ORDER))

enum vio_blk_backend_type {
	VIO_BLK_BACKEND_RAM = 0,
	VIO_BLK_BACKEND_FILE,
	/* Stores nothing: reads return zeroes, writes, flushes, discards
	 * succeed. For measuring everything but the storage (as QEMU's
	 * null-co with read-zeroes=on, or Linux's null_blk). */
	VIO_BLK_BACKEND_NULL,
	/* The caller's storage, vio_blk_dev_opts.storage. */
	VIO_BLK_BACKEND_STORAGE,
};

/* Zero is a sensible default for every field but the backend's. */
struct vio_blk_dev_opts {
	enum vio_blk_backend_type backend;
	/* STORAGE: the caller's storage, opened and filled (blk_storage.h);
	 * it must outlive the device, and stays the caller's to close. Its
	 * size, block size, optimal I/O size, read-only flag and caps make
	 * the config space (a read_only or blk_size below adds to them). */
	const struct vio_blk_storage *storage;
	/* Bytes of the disk, rounded down to whole 512-byte sectors. RAM and
	 * NULL: required (at least one sector). FILE: 0 takes the file's size
	 * (the block device's size for a block device). */
	uint64_t size;
	/* RAM: `size` bytes of caller memory that outlive the device, or NULL
	 * for zeroed memory that init allocates and fini frees. */
	void *ram;
	/* FILE: a path that init opens (read-write, or read-only with
	 * read_only) and fini closes; when NULL, `fd` is used and stays the
	 * caller's. */
	const char *path;
	int fd;
	bool no_io_uring;               /* FILE: preadv/pwritev even if io_uring works
					 * (always so on tmpfs/ramfs, where it is faster) */

	bool read_only;                 /* offer RO; refuse writes with IOERR */
	unsigned num_queues;            /* 0: 1. More than one offers MQ */
	unsigned queue_size;            /* largest queue, a power of 2; 0: 256 */
	unsigned batch;                 /* requests popped per submit to the storage;
					 * 0: 64 for a storage with an fd, 16 otherwise */
	unsigned depth;                 /* requests in flight per queue at most; 0: 128
					 * for a storage with an fd (io_uring, STORAGE),
					 * else the batch (all complete inside submit) */
	uint32_t blk_size;              /* logical block size, a power of 2 >= 512; 0: the
					 * storage's block_size, or 512 */
	uint32_t seg_max;               /* data segments per request; 0: queue_size - 2 */
	uint32_t size_max;              /* bytes per segment; 0: SIZE_MAX not offered */
	uint32_t max_discard_sectors;   /* per segment; 0: 4194303 (2 GiB - 512) */
	uint32_t max_discard_seg;       /* 0: 16 (at most 256) */
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	const char *serial;             /* GET_ID string, at most 20 bytes used; NULL: "" */

	/* Transport-independent features to offer (VIO_F_*, VERSION_1 among
	 * them unless the device is legacy-only); 0: VIO_BLK_DEV_RING_FEATURES. */
	uint64_t ring_features;
	uint64_t blk_features_off;      /* VIO_BIT(VIO_BLK_F_*) not to offer */
	bool legacy_ok;                 /* also serve drivers without VERSION_1 */

	vio_log_fn *log;                /* optional; a transport may replace it */
	void *log_opaque;

	/* Optional: memory for the queues' bookkeeping and an owned RAM disk
	 * (control path: init and fini only), both or neither; size is what
	 * was asked for. Without them calloc and free; a freestanding build
	 * has neither, so init fails with -EINVAL unless they are given. */
	void *(*alloc)(void *opaque, size_t size);
	void (*free)(void *opaque, void *p, size_t size);
	void *alloc_opaque;
};

/* Per-queue counters. Written only by the thread that serves the queue;
 * read them with vio_blk_dev_stats() from any thread. */
struct vio_blk_queue_stats {
	uint64_t requests;              /* answered with a status byte */
	uint64_t reads, writes, flushes, discards, write_zeroes, get_ids; /* answered OK */
	uint64_t bytes_read, bytes_written;     /* data moved by OK reads / writes */
	uint64_t ioerr, unsupp;         /* answered IOERR / UNSUPP */
	uint64_t unanswered;            /* chains with no writable byte for a status */
	uint64_t batches;               /* batches of completions published */
	uint64_t max_batch;             /* most requests in flight at once */
};

struct vio__blk_queue;

struct vio_blk_dev {
	struct vio_dev_model dev;             /* hand this to a transport */

	/* private */
	struct vio_blk_config config;   /* what the driver reads (dev.config) */
	struct vio_blk_config config0;  /* as at power-on: reset restores it */
	struct vio__alloc alloc;
	const struct vio_blk_storage *st;    /* what runs the requests */
	struct vio_blk_storage own;     /* RAM, NULL, FILE: the built-in one */
	bool own_open;
	struct vio__blk_queue *qs;
	struct vio_dev_queue *dqs;
	unsigned nq;
	uint64_t capacity;              /* sectors */
	bool read_only;
	uint8_t writeback;              /* the live cache mode byte */
	bool writethrough;              /* writes must be stable before completion */
	uint32_t max_discard_sectors, max_discard_seg;
	uint32_t max_wz_sectors, max_wz_seg;
	uint64_t max_transfer;          /* bytes per storage READ/WRITE; 0: any */
	char id[VIO_BLK_ID_BYTES];
};

/*
 * Opens the backend, builds config space and queues, and vio_dev_init()s
 * &blk->dev. Returns 0, or: -EINVAL for opts NULL (there is no default
 * backend) or bad options (no size for RAM, a size below one sector,
 * queue_size not a power of 2, too many queues, blk_size not a power of 2
 * >= 512, a serial longer than 20 bytes, allocator hooks missing or only
 * one of them, STORAGE without a storage, or one without ops, submit,
 * queue_open, process where it has queue_fd, or whose size is below a
 * sector); -ENOMEM; a storage's queue_open error; the errno of opening or sizing the file (-ENOTSUP
 * for FILE in a freestanding build). On error nothing stays allocated.
 */
int vio_blk_dev_init(struct vio_blk_dev *blk, const struct vio_blk_dev_opts *opts);

/* Frees what init allocated and closes what it opened. The transport
 * must be done with the device. */
void vio_blk_dev_fini(struct vio_blk_dev *blk);

/* Counters of queue qi: 0, or -EINVAL for a queue that does not exist. */
int vio_blk_dev_stats(const struct vio_blk_dev *blk, unsigned qi, struct vio_blk_queue_stats *out);

/* Disk size in 512-byte sectors. */
uint64_t vio_blk_dev_capacity(const struct vio_blk_dev *blk);

/* Do writes now complete only once stable (writethrough)? Follows the
 * negotiated features and, with CONFIG_WCE, the driver's writeback byte. */
bool vio_blk_dev_writethrough(const struct vio_blk_dev *blk);

/* Does the FILE backend use io_uring? (false for any other storage) */
bool vio_blk_dev_uses_io_uring(const struct vio_blk_dev *blk);

#ifdef __cplusplus
}
#endif

#endif /* VIO_DEVICES_BLK_H */
