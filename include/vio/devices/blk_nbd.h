/*
 * vio/devices/blk_nbd.h - an NBD export as the storage under a virtio-blk
 * device (vio/devices/blk_storage.h), through libnbd.
 *
 * Part of the hosted library when meson found libnbd at build time
 * (VIO_HAVE_LIBNBD); without it vio_blk_storage_nbd_open() returns
 * -ENOTSUP. Never in the freestanding build.
 *
 * What the storage does:
 *
 *   - Every request is an asynchronous libnbd command (nbd_aio_pread,
 *     _pwrite, _flush, _trim, _zero); a queue keeps up to its depth of
 *     requests in flight, one NBD command per request. A READ or WRITE
 *     in one span goes straight to and from the driver's memory; one in
 *     several spans goes through its slot's bounce buffer, allocated the
 *     first time the slot needs one and kept (no malloc per I/O after
 *     that): measured, one command per span cost more than the copy.
 *   - Connections: when the server says the export is safe for several
 *     connections (NBD_FLAG_CAN_MULTI_CONN, nbd_can_multi_conn), each
 *     device queue gets its own connection (at most opts.connections).
 *     Without that flag the NBD spec says a client should use one
 *     connection only (a flush on one connection need not cover writes
 *     made on another, and a read on one need not see them), so every
 *     queue shares a single connection, serialised by a lock, and a
 *     completion read by one queue's thread is handed to the queue it
 *     belongs to through that queue's eventfd.
 *   - Capabilities and geometry come from the handshake: size
 *     (nbd_get_size), read-only (nbd_is_read_only), flush, FUA, trim,
 *     write-zeroes (nbd_can_*), and the server's preferred and maximum
 *     block sizes. WRITE_ZEROES without REQ_UNMAP is sent with NO_HOLE.
 *   - Faults: a request that has not completed after opts.timeout_ms ends
 *     with -ETIMEDOUT, and the connection it was sent on is closed (the
 *     server's answer can no longer be trusted to arrive, nor the buffer
 *     to be left alone otherwise). A connection the server closed or broke
 *     fails what was in flight on it with the error libnbd gives (-ENOTCONN
 *     or -EIO). Either way the storage reconnects in the background with an
 *     exponential backoff (reconnect_min_ms doubling up to
 *     reconnect_max_ms); requests submitted meanwhile wait for the new
 *     connection up to their own timeout. Errors the server returns
 *     (EIO, ENOSPC, EPERM, ...) complete the request with that errno.
 *   - queue_fd() is an epoll fd holding the connection's socket (with the
 *     directions libnbd asks for), a timerfd (timeouts, backoff; armed
 *     only while the queue has requests or its connection is down) and
 *     an eventfd (completions and reconnects from other threads).
 *
 * queue_open() connects (blocking, at most connect_timeout_ms) when its
 * connection is down or was closed by the server while no queue watched
 * it; a failure there is logged and left to the background reconnect.
 *
 * Threads: as blk_storage.h says. The log callback may run on any queue's
 * thread and on the thread that opens the storage.
 */
#ifndef VIO_DEVICES_BLK_NBD_H
#define VIO_DEVICES_BLK_NBD_H

#include <stdint.h>

#include "vio/core.h"
#include "vio/devices/blk_storage.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vio_blk_nbd_opts {
	/* nbd://host[:port]/export or nbd+unix:///export?socket=PATH (any
	 * URI libnbd's nbd_connect_uri takes). Copied. */
	const char *uri;
	unsigned connections;           /* most connections with multi-conn; 0: one per queue */
	uint32_t timeout_ms;            /* request timeout; 0: 30000 */
	uint32_t connect_timeout_ms;    /* one connection attempt; 0: 5000 */
	uint32_t reconnect_min_ms;      /* first backoff; 0: 100 */
	uint32_t reconnect_max_ms;      /* backoff cap; 0: 5000 */
	vio_log_fn *log;                /* optional */
	void *log_opaque;
};

/*
 * Connects to o->uri (blocking, at most connect_timeout_ms), reads the
 * export's size and capabilities into *s and fills s->ops. The connection
 * made here serves queue 0 afterwards. Returns 0, -EINVAL (no URI, bad
 * options), -ENOTSUP (library built without libnbd), -ENOMEM, or the
 * connection's error (-ECONNREFUSED, -ETIMEDOUT, -ENOENT, ...). Release
 * with s->ops->close(s) once every queue is closed.
 * Context: control path; blocks while it connects.
 */
int vio_blk_storage_nbd_open(struct vio_blk_storage *s, const struct vio_blk_nbd_opts *o);

/* Counters of one storage, for tests and logs. Context: any thread
 * (relaxed atomic reads). */
struct vio_blk_nbd_stats {
	uint64_t connects;              /* connections made, the first included */
	uint64_t disconnects;           /* connections lost or closed on a timeout */
	uint64_t timeouts;              /* requests ended with -ETIMEDOUT */
	uint64_t bounced;               /* READ/WRITE requests through a bounce buffer */
	unsigned conns;                 /* connections the storage may open (1 without multi-conn) */
};
void vio_blk_storage_nbd_stats(const struct vio_blk_storage *s, struct vio_blk_nbd_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* VIO_DEVICES_BLK_NBD_H */
