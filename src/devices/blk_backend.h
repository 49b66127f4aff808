/*
 * blk_backend.h - the storage under the virtio-blk device (private to
 * src/devices/blk*.c).
 *
 * The protocol side (blk.c) turns a request into byte-level operations on
 * the disk and hands them here. Three backends: RAM, a file descriptor,
 * and null (stores nothing, reads zeroes). RAM and null (blk_backend.c)
 * build freestanding; files and io_uring (blk_backend_file.c) are the
 * OS's, and a freestanding build has neither (FILE is -ENOTSUP there).
 * Every operation can run synchronously (vio__blk_backend_run); reads,
 * writes and flushes of a file can also be batched through io_uring (the
 * "aq": one ring per request queue, as one queue is served by one thread).
 * Offsets and lengths arriving here were range-checked by blk.c, and are
 * checked once more, cheaply, against the disk size.
 */
#ifndef VIO_SRC_DEVICES_BLK_BACKEND_H
#define VIO_SRC_DEVICES_BLK_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "vio/devices/blk.h"

#include "dev_os.h"

struct vio__blk_backend {
	enum vio_blk_backend_type type;
	struct vio__alloc alloc;        /* where this struct and an owned RAM came from */
	uint64_t size;          /* bytes, a whole number of sectors */
	uint8_t *ram;
	bool ram_owned;
	int fd;
	bool fd_owned;
	bool want_uring;        /* FILE, built with liburing, not refused by options */
	/* Learned at run time, so the next request does not ask again; atomic
	 * as several queue threads share the backend. */
	bool no_punch, no_zero_range, no_dsync_flag;
};

enum vio__blk_op {
	VIO__BLK_READ,          /* disk -> iov */
	VIO__BLK_WRITE,         /* iov -> disk */
	VIO__BLK_FLUSH,         /* completed writes -> stable storage */
	VIO__BLK_DISCARD,       /* may deallocate [off, off + len) */
	VIO__BLK_ZEROES,        /* [off, off + len) reads back as zeroes */
};

/* One operation. READ/WRITE consume iov as they progress. */
struct vio__blk_io {
	enum vio__blk_op op;
	bool dsync;             /* WRITE/ZEROES: stable before completion */
	bool unmap;             /* ZEROES: deallocating is allowed */
	uint64_t off, len;      /* bytes */
	struct vio_iov *iov;    /* READ/WRITE: exactly len bytes of spans */
	unsigned iovcnt;
	int res;                /* 0 or a negative errno, once run */
};

/* Opens the backend the options name, taking memory from alloc: 0 or a
 * negative errno. */
int vio__blk_backend_open(struct vio__blk_backend **out, const struct vio_blk_dev_opts *o,
			  const struct vio__alloc *alloc);
void vio__blk_backend_close(struct vio__blk_backend *be);

/* Runs io to completion on this thread; the result is in io->res. */
void vio__blk_backend_run(struct vio__blk_backend *be, struct vio__blk_io *io);

/* Can WRITE_ZEROES with unmap deallocate (the config's may_unmap)? */
bool vio__blk_backend_can_unmap(const struct vio__blk_backend *be);

/* Drops n bytes from the front of io's spans and moves its offset on. */
void vio__blk_io_advance(struct vio__blk_io *io, uint64_t n);

/*
 * The FILE backend (blk_backend_file.c): open sets be->fd, be->size and
 * be->want_uring from the options; run runs one operation (0 or a negative
 * errno); close closes what open opened.
 */
#if __STDC_HOSTED__
int vio__blk_file_open(struct vio__blk_backend *be, const struct vio_blk_dev_opts *o);
int vio__blk_file_run(struct vio__blk_backend *be, struct vio__blk_io *io);
void vio__blk_file_close(struct vio__blk_backend *be);
#else
static inline int vio__blk_file_open(struct vio__blk_backend *be, const struct vio_blk_dev_opts *o)
{
	return -ENOTSUP;
}

static inline int vio__blk_file_run(struct vio__blk_backend *be, struct vio__blk_io *io)
{
	return -EIO;
}

static inline void vio__blk_file_close(struct vio__blk_backend *be)
{
}
#endif

/*
 * Batches through io_uring. new() fails with -ENOTSUP when the backend
 * does not want io_uring or the library was built without it, or with
 * io_uring_queue_init()'s error. add() prepares io and returns true, or
 * false when io must be run synchronously instead (an op the ring does not
 * carry, too many spans, a full batch, a ring that failed earlier).
 * submit() hands everything added to the kernel and returns at once (what
 * the kernel refuses runs synchronously there); wait() returns when every
 * one of them is complete, short transfers finished synchronously.
 */
struct vio__blk_aq;
#if __STDC_HOSTED__
int vio__blk_aq_new(struct vio__blk_backend *be, unsigned depth, struct vio__blk_aq **out);
void vio__blk_aq_free(struct vio__blk_aq *aq);
bool vio__blk_aq_add(struct vio__blk_aq *aq, struct vio__blk_io *io);
void vio__blk_aq_submit(struct vio__blk_aq *aq);
void vio__blk_aq_wait(struct vio__blk_aq *aq);
#else
static inline int vio__blk_aq_new(struct vio__blk_backend *be, unsigned depth,
				  struct vio__blk_aq **out)
{
	*out = NULL;
	return -ENOTSUP;
}

static inline void vio__blk_aq_free(struct vio__blk_aq *aq)
{
}

static inline bool vio__blk_aq_add(struct vio__blk_aq *aq, struct vio__blk_io *io)
{
	return false;
}

static inline void vio__blk_aq_submit(struct vio__blk_aq *aq)
{
}

static inline void vio__blk_aq_wait(struct vio__blk_aq *aq)
{
}
#endif

#endif /* VIO_SRC_DEVICES_BLK_BACKEND_H */
