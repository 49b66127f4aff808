/*
 * vio/transport.h - transports: what joins a driver to a device.
 *
 * A transport carries the control plane (status, features, config, queue
 * setup) and the notifications in both directions, and on the driver side
 * provides the DMA memory the device can address. Devices and drivers
 * never see which one they run on.
 *
 * Loopback: a device model (struct vio_dev) and a driver-side device
 * (struct vio_device) in one process. The driver's DMA memory is one arena
 * registered with the device's vio_mem at a device address unrelated to
 * its host address, so everything still goes through translation.
 *
 *   direct mode: one thread. A kick runs the device's queue_notify at
 *   once; its interrupts are delivered right after it returns.
 *   threaded mode: the device runs on its own thread. Kicks and
 *   interrupts are eventfds: the device thread polls kick_fd and calls
 *   vio_loopback_device_dispatch(); the driver side blocks in
 *   vio_device_wait() (or polls irq_fd and calls
 *   vio_loopback_driver_dispatch()). Control-plane calls from the driver
 *   take a lock the device dispatch also holds, so they never race with
 *   queue processing.
 */
#ifndef VIO_TRANSPORT_H
#define VIO_TRANSPORT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vio/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VIO_LOOPBACK_MAX_QUEUES 64
#define VIO_LOOPBACK_BASE UINT64_C(0x100000000) /* device address of the arena */

struct vio_loopback {
	/* read-only */
	struct vio_device vdev;         /* add this to a vio_bus */
	struct vio_dev *dev;
	bool threaded;
	int kick_fd, irq_fd;            /* threaded mode */
	uint64_t extra_features;        /* transport-level features it carries */

	/* private */
	pthread_mutex_t lock;
	struct vio_mem mem;
	struct vio_mem_region region;
	uint8_t *arena;
	size_t arena_len;
	uint64_t *chunk_map;            /* one bit per 64-byte chunk in use */
	size_t chunks;
	uint64_t kicks_pending;         /* bit per queue, atomic */
	uint64_t irqs_pending;          /* bit per queue, atomic */
	bool config_irq_pending;        /* atomic */
};

/*
 * Joins `dev` (already vio_dev_init()ed) to a driver-side device with an
 * arena of `arena_bytes` DMA memory. Errors: -EINVAL (more than
 * VIO_LOOPBACK_MAX_QUEUES queues), -ENOMEM, or eventfd's error.
 */
int vio_loopback_init(struct vio_loopback *lb, struct vio_dev *dev, size_t arena_bytes, bool threaded);
void vio_loopback_fini(struct vio_loopback *lb);

/* Threaded mode, device thread: handle pending kicks. */
void vio_loopback_device_dispatch(struct vio_loopback *lb);
/* Threaded mode, driver thread: deliver pending interrupts. */
void vio_loopback_driver_dispatch(struct vio_loopback *lb);

/* ======================================================================== */
/* vhost-user backend (device side)                                         */

/*
 * Serves one struct vio_dev to a vhost-user frontend (QEMU, or libvio's own
 * frontend) over a connected unix socket, per QEMU's vhost-user.rst. The
 * library runs no loop: the caller polls the fds it exposes and calls the
 * dispatch functions.
 *
 *   vio_vu_backend_fd()             the socket: call vio_vu_backend_dispatch()
 *                                   when readable (one message per call)
 *   vio_vu_backend_kick_fd(qi)      queue qi's kick eventfd (-1 when none):
 *                                   call vio_vu_backend_queue_dispatch(qi)
 *
 * Every message is validated before it acts (size for its type, fd count,
 * flags and version, queue index, region count and arithmetic, overlaps,
 * ring addresses inside the regions, config ranges, message order). A bad
 * message gets an error reply (REPLY_ACK) and a log line, and the backend
 * keeps serving; a broken stream (short read, bad header) closes the
 * connection. Each queue has a lock held by queue_dispatch; messages that
 * change memory or queue state take every lock, so a queue thread never
 * sees memory disappear under it.
 */

#define VIO_VU_MAX_QUEUES 64
#define VIO_VU_MAX_MEM_SLOTS 32

struct vio_vu_mapping {
	uint64_t guest_addr, size, user_addr;
	void *map;                      /* mmap'd base */
	size_t map_len;
	uint8_t *host;                  /* map + mmap_offset */
};

struct vio_vu_queue {
	pthread_mutex_t lock;
	int kick_fd, call_fd, err_fd;
	bool started;                   /* kick fd (or NOFD) received */
	bool enabled;                   /* SET_VRING_ENABLE (or no protocol features) */
	bool polling;                   /* NOFD kick: the caller must poll */
	unsigned num;
	uint64_t desc_ua, used_ua, avail_ua;
	bool addr_set;
	uint16_t base;                  /* SET_VRING_BASE */
	uint64_t kicks;                 /* received */
	uint64_t calls;                 /* sent */
};

struct vio_vu_backend_config {
	vio_log_fn *log;                /* optional */
	void *log_opaque;
	/* Called (on the dispatch thread, no queue lock held) when a queue's
	 * kick fd changed, so the caller can update its poll sets. Optional. */
	void (*queues_changed)(void *opaque);
	void *opaque;
	/* Extra protocol features to refuse (a mask of VU_PROTOCOL_F bits). */
	uint64_t protocol_features_off;
};

struct vio_vu_backend {
	/* read-only */
	struct vio_dev *dev;
	int sock;                       /* -1 when not connected */
	uint64_t protocol_features;     /* negotiated */
	bool owner;
	struct vio_vu_queue queues[VIO_VU_MAX_QUEUES];

	/* private */
	struct vio_vu_backend_config cfg;
	int backend_fd;                 /* backend channel (BACKEND_REQ) */
	pthread_mutex_t backend_lock;
	struct vio_mem mem;
	struct vio_mem_region regions[VIO_VU_MAX_MEM_SLOTS];
	struct vio_vu_mapping maps[VIO_VU_MAX_MEM_SLOTS];
	unsigned nmaps;
	bool features_set;
	uint64_t acked_features;        /* as the frontend sent them */
};

/* Prepares a backend for `dev` (vio_dev_init()ed, at most
 * VIO_VU_MAX_QUEUES queues). No connection yet. */
int vio_vu_backend_init(struct vio_vu_backend *b, struct vio_dev *dev,
			const struct vio_vu_backend_config *cfg);
/* Closes any connection and releases everything. */
void vio_vu_backend_fini(struct vio_vu_backend *b);

/* Serves a connected socket (accepted, or passed with --fd). -EBUSY when
 * one is already attached. The backend owns the fd from here on. */
int vio_vu_backend_attach(struct vio_vu_backend *b, int sock);
/* Drops the connection: rings stop, memory is unmapped, the device is
 * reset, and the backend is ready for the next frontend. */
void vio_vu_backend_detach(struct vio_vu_backend *b);

static inline int vio_vu_backend_fd(const struct vio_vu_backend *b) { return b->sock; }

/* Reads and handles one message. 0: handled (even if it was refused);
 * -ECONNRESET: the frontend went away or sent something unparseable, and
 * the backend has detached. */
int vio_vu_backend_dispatch(struct vio_vu_backend *b);

/* Queue qi's kick eventfd, or -1. */
int vio_vu_backend_kick_fd(struct vio_vu_backend *b, unsigned qi);
/* Drains qi's kick fd and lets the device process the queue. */
void vio_vu_backend_queue_dispatch(struct vio_vu_backend *b, unsigned qi);
/* Lets the device process qi without a kick (busy polling, or a device
 * event such as console input), under the queue's lock. */
void vio_vu_backend_queue_poll(struct vio_vu_backend *b, unsigned qi);

#ifdef __cplusplus
}
#endif

#endif /* VIO_TRANSPORT_H */
