/*
 * vio/transport/loopback.h - the loopback transport: a device and its
 * driver in one process.
 *
 * Loopback: a device model (struct vio_dev_model) and a driver-side device
 * (struct vio_drv_device) in one process. The driver's DMA memory is one arena
 * registered with the device's vio_mem at a device address unrelated to
 * its host address, so everything still goes through translation.
 *
 *   direct mode: one thread. A kick runs the device's queue_notify at
 *   once; its interrupts are delivered right after it returns.
 *   threaded mode: the device runs on its own thread. Kicks and
 *   interrupts are eventfds: the device thread polls kick_fd and calls
 *   vio_loopback_device_dispatch(). A device whose queues have event
 *   fds (vio_dev_queue_event_fd(): a blk device's storage completions)
 *   gets them in the same poll: kick_fd is then an epoll set holding the
 *   kick eventfd and every queue's event fd, and dispatch runs
 *   vio_dev_queue_event() for each that is readable. In direct mode the
 *   driver's vio_drv_wait() polls the event fds and runs the events on
 *   the driver's thread. The driver side blocks in
 *   vio_drv_wait() (or polls irq_fd and calls
 *   vio_loopback_driver_dispatch()). Control-plane calls from the driver
 *   take a lock the device dispatch also holds, so they never race with
 *   queue processing.
 *
 * Threads: the driver side follows core.h's rules for a vio_drv_device; its
 * control-plane ops take the lock (in both modes), so no driver call that
 * reaches them may be made while holding vio_loopback_lock(). Interrupts
 * run the driver's callbacks on the driver's thread, holding no lock.
 * Kicks run the device's queue_notify on the device thread under the lock
 * (threaded), or on the kicking thread without it (direct: one thread).
 */
#ifndef VIO_TRANSPORT_LOOPBACK_H
#define VIO_TRANSPORT_LOOPBACK_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vio/core.h"
#include "vio/transport/dma_arena.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VIO_LOOPBACK_MAX_QUEUES 64
#define VIO_LOOPBACK_BASE UINT64_C(0x100000000) /* device address of the arena */
#define VIO_LOOPBACK_MAX_ALIGN 65536u           /* largest dma_alloc alignment */

struct vio_loopback {
	/* read-only */
	struct vio_drv_device vdev;         /* add this to a vio_bus */
	struct vio_dev_model *dev;
	bool threaded;
	int kick_fd, irq_fd;            /* threaded mode (kick_fd: see above) */
	uint64_t extra_features;        /* transport-level features it carries */

	/* private */
	pthread_mutex_t lock;
	bool lock_ok;
	struct vio_mem mem;
	struct vio_mem_region region;
	uint8_t *arena;
	size_t arena_len;
	struct vio__dma_arena dma;      /* carves up the arena */
	uint64_t kicks_pending;         /* bit per queue, atomic */
	uint64_t irqs_pending;          /* bit per queue, atomic */
	bool config_irq_pending;        /* atomic */
	int kick_efd;                   /* threaded, with event fds: the kick eventfd */
	bool has_events;                /* some queue of dev has an event fd */
};

/*
 * Joins `dev` (already vio_dev_init()ed) to a driver-side device with an
 * arena of `arena_bytes` DMA memory. Errors: -EINVAL (more than
 * VIO_LOOPBACK_MAX_QUEUES queues), -ENOMEM, or eventfd's error.
 */
int vio_loopback_init(struct vio_loopback *lb, struct vio_dev_model *dev, size_t arena_bytes,
		      bool threaded);
/* Context (init and fini): one thread, while no other uses lb or dev: fini
 * after &lb->vdev left its bus and the device thread stopped. */
void vio_loopback_fini(struct vio_loopback *lb);

/* Threaded mode, device thread: handle pending kicks, and the queues'
 * event fds that are readable. Context: the device thread (one at a time),
 * not holding the lock: it takes it and runs queue_notify of each kicked
 * queue, and queue_event of each readable event fd, under it. Does not
 * block otherwise. */
void vio_loopback_device_dispatch(struct vio_loopback *lb);
/* Threaded mode, driver thread: deliver pending interrupts. Context: the
 * driver's thread, as vio_drv_wait() (serialised with every call on the
 * device and its queues); the callbacks run on it, holding no lock. Does
 * not block. */
void vio_loopback_driver_dispatch(struct vio_loopback *lb);

/* For the embedder of the device side: hold the lock that serialises the
 * device with control-plane calls and kick dispatch, e.g. around
 * vio_balloon_dev_set_target() from a thread of its own.
 * Context: any thread; not recursive: while holding it, call neither
 * vio_loopback_device_dispatch() nor a driver call that reaches the
 * control plane (both take it). In direct mode kicks run without it. */
void vio_loopback_lock(struct vio_loopback *lb);
void vio_loopback_unlock(struct vio_loopback *lb);

#ifdef __cplusplus
}
#endif

#endif /* VIO_TRANSPORT_LOOPBACK_H */
