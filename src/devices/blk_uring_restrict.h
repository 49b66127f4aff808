/*
 * blk_uring_restrict.h - io_uring rings that carry only what the block
 * device submits (blk_uring_restrict.c).
 */
#ifndef VIO_SRC_DEVICES_BLK_URING_RESTRICT_H
#define VIO_SRC_DEVICES_BLK_URING_RESTRICT_H

#ifdef VIO_HAVE_LIBURING
#include <liburing.h>

/*
 * io_uring_queue_init(depth, ring, 0), but the ring is created disabled,
 * restricted to readv, writev and fsync with no SQE flags, and to the
 * eventfd registrations, then enabled. 0 or -errno: a kernel that cannot
 * restrict a ring (before 5.10) gets no ring (the caller falls back to
 * preadv/pwritev), since an unrestricted ring would let the daemon do
 * through io_uring what its seccomp filter forbids. Context: any thread;
 * the ring is not shared yet.
 */
int vio__blk_uring_init(unsigned depth, struct io_uring *ring);
#endif

#endif
