/*
 * vio/devices/blk_rbd.h - a Ceph RBD image as the storage under a
 * virtio-blk device, through librbd.
 *
 * vio_blk_storage_rbd_open() connects to the cluster (librados), opens the
 * image (or one of its snapshots) and fills a struct vio_blk_storage
 * (blk_storage.h) whose ops hand every request to librbd's asynchronous
 * calls: rbd_aio_readv/rbd_aio_writev straight on the request's iov spans
 * (no copy), rbd_aio_flush, rbd_aio_discard, rbd_aio_write_zeroes.
 *
 * librbd completes requests on threads of its own. Each storage queue
 * keeps a lock-free list of finished requests and an eventfd (its
 * queue_fd): a completion pushes onto the list and writes the eventfd when
 * the list was empty; process(), on the queue's thread, takes the whole
 * list at once and calls done() for each request in the order they
 * finished. One image handle serves every queue (librbd's handle is
 * thread-safe); the lists and eventfds are per queue.
 *
 * What the storage offers the device: FLUSH (librbd's cache is writeback
 * once the driver has flushed once, the "writethrough until flush" rule),
 * DISCARD, WRITE_ZEROES and UNMAP (without REQ_UNMAP, write-zeroes asks
 * librbd for a thick, allocated extent). Not FUA: librbd has no
 * per-request FUA, so the device follows such a write with a flush. The
 * size is the image's (or the snapshot's) at open; a resize while the
 * storage is open is not seen. A snapshot is a read-only disk; so is an
 * image opened with read_only.
 *
 * When the OSDs do not answer (stopped, partitioned), librbd holds a
 * request and resends it when they come back; alone it would wait
 * forever, and a device that must drain its queue (reset, ring stop)
 * would hang with it. So the storage sets librados' OSD op timeout:
 * each operation librbd sends that the cluster has not answered within
 * op_timeout seconds fails with -ETIMEDOUT, and the request with it (the
 * driver sees IOERR); later requests work again once the OSDs are back.
 * A request may take a few timeouts, as librbd can send its operations
 * one after another (here, with 3 s: 4 requests failed after 9 s). The
 * default is 30 s (Linux's default command timeout for SCSI disks, what
 * a guest would wait for a real disk); a negative op_timeout lets librbd
 * wait for as long as it takes (QEMU's behaviour, where a VM stalls with
 * its storage), at the price of a drain that may not end.
 *
 * Only in a build that found librbd (librbd-dev); elsewhere open returns
 * -ENOTSUP. Not in a freestanding build.
 */
#ifndef VIO_DEVICES_BLK_RBD_H
#define VIO_DEVICES_BLK_RBD_H

#include <stdbool.h>

#include "vio/core.h"
#include "vio/devices/blk_storage.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Seconds a request may wait for the cluster when opts.op_timeout is 0. */
#define VIO_BLK_RBD_OP_TIMEOUT_DEFAULT 30

struct vio_blk_rbd_opts {
	const char *pool;               /* required */
	const char *image;              /* required */
	const char *snapshot;           /* optional: serve this snapshot, read-only */
	const char *conf;               /* ceph.conf path; NULL: librados' default search
					 * ($CEPH_CONF, /etc/ceph/ceph.conf, ...) */
	const char *id;                 /* client id without "client."; NULL: "admin" */
	bool read_only;                 /* open the image read-only */
	/* Seconds before an unanswered request fails with -ETIMEDOUT, also
	 * the limit for connecting; 0: VIO_BLK_RBD_OP_TIMEOUT_DEFAULT;
	 * negative: wait forever (see above). */
	int op_timeout;
	vio_log_fn *log;                /* optional; called from the open thread and
					 * the queue threads */
	void *log_opaque;
};

/*
 * Connects, opens the image and fills *s (ops, size, caps, read_only,
 * name "rbd"); close it with s->ops->close(s) once no device uses it.
 * Returns 0, or -EINVAL (opts, pool or image missing or empty), -ENOTSUP
 * (built without librbd), -ENOMEM, or librados/librbd's error (-ENOENT:
 * no such pool, image or snapshot; -ETIMEDOUT: no monitor answered in
 * time), with a log line saying which step failed. On error nothing stays
 * open.
 * Context: control path; blocks while it talks to the cluster.
 */
int vio_blk_storage_rbd_open(struct vio_blk_storage *s, const struct vio_blk_rbd_opts *o);

#ifdef __cplusplus
}
#endif

#endif /* VIO_DEVICES_BLK_RBD_H */
