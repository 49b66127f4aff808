/*
 * blk_backend.h - libvio's own storages under the virtio-blk device (private
 * to src/devices/blk*.c).
 *
 * The device (blk.c) speaks to every storage through the public interface
 * of vio/devices/blk_storage.h. The storages vio_blk_dev_opts names by
 * backend type are built here on that same interface, so the device has
 * one path for all of them:
 *
 *   RAM, null   (blk_backend.c) every request completes inside submit();
 *               no fd. They need nothing but memory, so they build
 *               freestanding.
 *   FILE        (blk_backend_file.c, hosted builds only) with io_uring:
 *               one ring per device queue, an eventfd registered with it
 *               (io_uring_register_eventfd) is the queue's fd, and
 *               process() reaps the completions. Without io_uring (no
 *               liburing, a ring the kernel refused, --no-io-uring, or a
 *               file on tmpfs/ramfs, where preadv is faster): preadv/
 *               pwritev2 and fallocate inside submit(), no fd.
 *
 * Offsets and lengths arriving here were checked by blk.c against the
 * storage's size, and are checked once more, cheaply.
 */
#ifndef VIO_SRC_DEVICES_BLK_BACKEND_H
#define VIO_SRC_DEVICES_BLK_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "vio/devices/blk.h"
#include "vio/devices/blk_storage.h"

#include "dev_os.h"

/* The storage's opaque, for the three built-in kinds. */
struct vio__blk_backend {
	enum vio_blk_backend_type type;
	struct vio__alloc alloc;        /* where this struct and an owned RAM came from */
	uint64_t size;                  /* bytes, a whole number of sectors */
	uint8_t *ram;
	bool ram_owned;
	int fd;
	bool fd_owned;
	bool want_uring;                /* FILE, built with liburing, not refused by options */
	/* Set by queue_open: did queue rings come up, or why not (control
	 * path only). */
	bool uring_up;
	int uring_err;
	/* Learned at run time, so the next request does not ask again; atomic
	 * as several queue threads share the backend. */
	bool no_punch, no_zero_range, no_dsync_flag;
};

/* Opens the built-in storage the options name (RAM, NULL, FILE) into s,
 * taking memory from alloc: 0 or a negative errno (nothing left open).
 * s->ops->close releases it. */
int vio__blk_builtin_open(struct vio_blk_storage *s, const struct vio_blk_dev_opts *o,
			  const struct vio__alloc *alloc);

/* The built-in storages' close op. */
void vio__blk_builtin_close(struct vio_blk_storage *s);

/* Is s a built-in FILE storage whose queues use io_uring? And if it
 * wanted io_uring but could not have it, why (else 0)? */
bool vio__blk_builtin_uses_uring(const struct vio_blk_storage *s);
int vio__blk_builtin_uring_err(const struct vio_blk_storage *s);

/* One request run to completion on this thread, skipping the first
 * `done` bytes of a READ/WRITE (what io_uring already moved): 0 or a
 * negative errno. */
int vio__blk_backend_run(struct vio__blk_backend *be, const struct vio_blk_storage_req *req,
			 uint64_t done);

/* Waits up to timeout_ms for fd to be readable (poll); a freestanding
 * build has nothing to wait with and returns at once. */
#if __STDC_HOSTED__
void vio__blk_wait_fd(int fd, int timeout_ms);
#else
static inline void vio__blk_wait_fd(int fd, int timeout_ms)
{
}
#endif

/*
 * The FILE storage (blk_backend_file.c): open sets be->fd, be->size and
 * be->want_uring from the options; run runs one request; close closes
 * what open opened; the queue calls are the storage ops for FILE.
 */
#if __STDC_HOSTED__
int vio__blk_file_open(struct vio__blk_backend *be, const struct vio_blk_dev_opts *o);
int vio__blk_file_run(struct vio__blk_backend *be, const struct vio_blk_storage_req *req,
		      uint64_t done);
void vio__blk_file_close(struct vio__blk_backend *be);
extern const struct vio_blk_storage_ops vio__blk_file_ops;
#else
static inline int vio__blk_file_open(struct vio__blk_backend *be, const struct vio_blk_dev_opts *o)
{
	return -ENOTSUP;
}

static inline int vio__blk_file_run(struct vio__blk_backend *be,
				    const struct vio_blk_storage_req *req, uint64_t done)
{
	return -EIO;
}

static inline void vio__blk_file_close(struct vio__blk_backend *be)
{
}
#endif

#endif /* VIO_SRC_DEVICES_BLK_BACKEND_H */
