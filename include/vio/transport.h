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
#define VIO_LOOPBACK_MAX_ALIGN 65536u           /* largest dma_alloc alignment */

struct vio_loopback {
	/* read-only */
	struct vio_device vdev;         /* add this to a vio_bus */
	struct vio_dev *dev;
	bool threaded;
	int kick_fd, irq_fd;            /* threaded mode */
	uint64_t extra_features;        /* transport-level features it carries */

	/* private */
	pthread_mutex_t lock;
	bool lock_ok;
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

/* For the embedder of the device side: hold the lock that serialises the
 * device with control-plane calls and kick dispatch, e.g. around
 * vio_balloon_dev_set_target() from a thread of its own. */
void vio_loopback_lock(struct vio_loopback *lb);
void vio_loopback_unlock(struct vio_loopback *lb);

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
 *
 * Kick, call and error fds must be eventfds (a kick fd not in semaphore
 * mode, where the kernel tells); the backend sets O_NONBLOCK on them and
 * reads kicks with RWF_NOWAIT. The flag is shared with the frontend: one
 * that clears it again and fills its call eventfd to the top can still
 * hold an interrupt's write (eventfd has no per-call non-blocking write).
 *
 * Nothing waits on the frontend for long: once a message has started to
 * arrive, the rest must come within timeout_ms, and a reply must find room
 * on the socket within timeout_ms; otherwise the frontend is taken as gone
 * and the backend detaches (dispatch returns -ECONNRESET).
 */

#define VIO_VU_MAX_QUEUES 64
#define VIO_VU_MAX_MEM_SLOTS 32
#define VIO_VU_BACKEND_TIMEOUT_MS 5000  /* default: see timeout_ms */

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
	uint32_t base;                  /* SET_VRING_BASE (packed: avail | used << 16) */
	bool base_set;                  /* SET_VRING_BASE seen (or a stop) */
	uint64_t kicks;                 /* received */
	uint64_t calls;                 /* sent */
	uint16_t *inflight_scratch;     /* 2 * max_size entries for the ring's log */
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
	/* How long the rest of a message that started to arrive, and room for
	 * a reply, may take before the frontend is dropped; 0:
	 * VIO_VU_BACKEND_TIMEOUT_MS. */
	int timeout_ms;
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
	/* Inflight log (GET/SET_INFLIGHT_FD): our mapping of the frontend's
	 * buffer, one region of inflight_stride bytes per queue. */
	void *inflight_map;
	size_t inflight_map_len;
	uint8_t *inflight;              /* inflight_map + mmap offset */
	size_t inflight_stride;
	uint16_t inflight_queues, inflight_queue_size;
	bool inflight_packed;           /* the log's layout: packed or split */
	uint16_t *scratch;              /* all queues' inflight_scratch */
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

/* Queue qi's kick eventfd, or -1. Takes the queue's lock: not to be
 * called while holding it (vio_vu_backend_queue_lock). */
int vio_vu_backend_kick_fd(struct vio_vu_backend *b, unsigned qi);
/* Drains qi's kick fd and lets the device process the queue. */
void vio_vu_backend_queue_dispatch(struct vio_vu_backend *b, unsigned qi);
/* Lets the device process qi without a kick (busy polling, or a device
 * event such as console input), under the queue's lock. */
void vio_vu_backend_queue_poll(struct vio_vu_backend *b, unsigned qi);

/*
 * Adaptive polling, for a queue thread about to sleep until the next kick:
 * with the driver's kicks suppressed, looks for new buffers for up to `ns`
 * nanoseconds (at most VIO_VU_POLL_MAX_NS; the window restarts whenever
 * the device takes some off the ring, while buffers it leaves there, as a
 * device waiting for input or for a rate limit does, do not restart it),
 * then turns kicks back on and returns. A driver that keeps the queue busy
 * has to kick about once per VIO_VU_POLL_CALL_NS (or `ns`, if longer): the
 * call returns then whatever the driver does, so the thread gets back to
 * its other fds (a request to stop). An idle queue costs `ns` of spinning
 * per wake-up. Returns whether the device ran. Call it after
 * vio_vu_backend_queue_dispatch(), from the thread that serves qi.
 */
#define VIO_VU_POLL_MAX_NS UINT64_C(1000000000)   /* longest window: 1 s */
#define VIO_VU_POLL_CALL_NS UINT64_C(10000000)    /* a busy queue: 10 ms a call */
bool vio_vu_backend_queue_poll_for(struct vio_vu_backend *b, unsigned qi, uint64_t ns);

/* For the device's owner: hold queue qi's lock around work on that queue
 * started outside a dispatch call (e.g. vio_console_dev_input_ready() when
 * its input fd is readable). */
void vio_vu_backend_queue_lock(struct vio_vu_backend *b, unsigned qi);
void vio_vu_backend_queue_unlock(struct vio_vu_backend *b, unsigned qi);

/* ======================================================================== */
/* vhost-user frontend (driver side)                                        */

/*
 * The driver side of vhost-user, as DPDK's virtio-user and SPDK's virtio
 * driver are: connects to any vhost-user backend socket and presents what
 * it serves as a struct vio_device, so libvio's drivers run over it
 * unchanged. Add &fe->vdev to a vio_bus after connecting.
 *
 * Memory: the driver side's DMA memory is one memfd region, mapped here and
 * shared with SET_MEM_TABLE at guest address VIO_VU_FE_GUEST_BASE (what
 * descriptors carry) and user address = our mapping (what SET_VRING_ADDR
 * carries). Rings and I/O buffers come from it (vio_dma_alloc); the
 * allocator's bookkeeping lives outside it, where the backend cannot reach.
 *
 * Control plane (vio_transport_ops):
 *   status      with PROTOCOL_F_STATUS, SET_STATUS follows every write and
 *               GET_STATUS refines what we report (FEATURES_OK only if the
 *               backend has it too, its NEEDS_RESET); otherwise tracked
 *               here. FEATURES_OK sends SET_FEATURES; DRIVER_OK starts the
 *               enabled rings (SET_VRING_NUM/BASE/ADDR/CALL/ERR/KICK, then
 *               SET_VRING_ENABLE); 0 stops them (GET_VRING_BASE) and, where
 *               offered, sends RESET_DEVICE.
 *   features    the GET_FEATURES offer without bit 30; it may not change
 *               later (a later GET_FEATURES with other bits is an error).
 *   config      GET_CONFIG/SET_CONFIG with PROTOCOL_F_CONFIG (-ENOTSUP
 *               without). Reads ask GET_CONFIG from offset 0 (up to the
 *               last byte wanted, within one message), as QEMU does:
 *               libvhost-user backends (qemu-storage-daemon) ignore the
 *               offset. The generation counts CONFIG_CHANGE_MSGs from the
 *               backend channel (PROTOCOL_F_BACKEND_REQ).
 *   queues      GET_QUEUE_NUM with PROTOCOL_F_MQ, else the caller's count;
 *               ring sizes up to the caller's queue_max.
 *   notify      writes the queue's kick eventfd.
 *   wait        polls the call eventfds (interrupts go to
 *               vio_device_interrupt()), the error eventfds (NEEDS_RESET),
 *               the backend channel (config changes) and the socket (a
 *               backend that went away).
 *
 * Trust: every reply is checked (version, REPLY flag, request, payload
 * size, fds, values: a config reply of another size, a queue count of 0, a
 * feature offer that changed, a GET_VRING_BASE for another ring). A bad
 * reply or a timeout (timeout_ms per reply) drops the connection with a
 * log line and an error (vio_vu_frontend_error()); the device then reports
 * NEEDS_RESET. A backend that merely goes away (EOF) leaves the device as
 * it was, ready for vio_vu_frontend_reconnect().
 *
 * Reconnect: after the backend restarts, reconnect() replays the session:
 * features, protocol features, memory table, and every running ring from
 * where the old backend stopped. The driver's buffers are never re-posted;
 * the new backend resumes at the first buffer the old one had not used:
 *   split   SET_VRING_BASE = the used index in the shared ring (with
 *           IN_ORDER: the avail position after the last buffer a used
 *           entry covers, so batched entries count every buffer);
 *   packed  SET_VRING_BASE = the position (and wrap counter) after the
 *           last used descriptor the old backend wrote, found by walking
 *           the ring from where the driver has reaped.
 * So buffers the old backend had taken but not used are processed again,
 * and nothing it used is processed twice, provided it used buffers in the
 * order they were made available (every libvio device does; QEMU makes
 * the same assumption without inflight tracking).
 *
 * Inflight log: when the backend offers PROTOCOL_F_INFLIGHT_SHMFD (and
 * protocol_features_off does not remove it), DRIVER_OK first asks
 * GET_INFLIGHT_FD (every queue, the largest ring set up) and keeps the fd
 * the backend made; each start of the rings, a reconnect's replay in
 * particular, hands it back with SET_INFLIGHT_FD before any SET_VRING_*.
 * A restarted backend then resubmits what the old one had taken and not
 * used, even if it completed out of order (docs/design.md, "Inflight I/O
 * tracking"). A reply of mmap_size 0 and no fd declines: the rings run
 * without a log, as above. A reply with a log too small for the request,
 * no fd or several, or a range beyond the end of its file is a broken
 * reply (-EPROTO). The log is dropped on reset (status 0), when a new
 * backend no longer offers the feature (it would go stale), and on fini.
 * Rings enabled after DRIVER_OK must not be larger than those set up
 * before it: the log was sized for those.
 *
 * Concurrency: like any struct vio_device, one thread at a time (the
 * driver's). The backend runs in another thread or process.
 */

#define VIO_VU_FE_GUEST_BASE UINT64_C(0x100000000) /* guest address of the DMA memory */
#define VIO_VU_FE_QUEUE_MAX 256u                   /* default largest ring */
#define VIO_VU_FE_TIMEOUT_MS 5000                  /* default reply timeout */

struct vio_vu_frontend_config {
	uint32_t device_id;             /* what the backend serves (not on the wire) */
	size_t memory_bytes;            /* DMA memory to share; rounded up to pages */
	/* Queues when the backend does not offer PROTOCOL_F_MQ: the device
	 * type's count (rng 1, console 2, ...). With MQ, GET_QUEUE_NUM says. */
	unsigned num_queues;
	unsigned queue_max;             /* largest ring to use; 0: VIO_VU_FE_QUEUE_MAX */
	int timeout_ms;                 /* per reply; 0: VIO_VU_FE_TIMEOUT_MS */
	uint64_t protocol_features_off; /* VU_PROTOCOL_F bits not to use */
	uint64_t features_off;          /* ring features not to carry (VIO_F_* bits) */
	vio_log_fn *log;                /* optional */
	void *log_opaque;
};

struct vio_vu_fe_queue {
	int kick_fd, call_fd, err_fd;   /* ours; the backend gets copies */
	unsigned size;                  /* queue_setup */
	struct vio_ring_addrs dma;      /* guest addresses, queue_setup */
	bool set_up, enabled;           /* queue_setup, queue_enable */
	bool started;                   /* the backend runs it */
	uint32_t base;                  /* GET_VRING_BASE's answer at the last stop
					 * (packed: avail | used << 16, QEMU's way) */
};

struct vio_vu_frontend {
	/* read-only */
	struct vio_device vdev;         /* add this to a vio_bus */
	int sock;                       /* -1 when not connected */
	uint64_t offered;               /* GET_FEATURES without bit 30 */
	bool protocol;                  /* bit 30 negotiated */
	uint64_t protocol_features;     /* negotiated */
	unsigned num_queues;
	int err;                        /* why the last connection was dropped */
	int inflight_fd;                /* the backend's inflight log, or -1 */
	uint64_t inflight_size, inflight_offset;   /* the log's range in it */
	uint16_t inflight_queues, inflight_queue_size; /* what it was asked for */
	struct vio_vu_fe_queue queues[VIO_VU_MAX_QUEUES];

	/* private */
	struct vio_vu_frontend_config cfg;
	pthread_mutex_t lock;           /* one request/reply at a time */
	int backend_fd;                 /* our end of the backend channel */
	int mem_fd;
	uint8_t *mem;
	size_t mem_len;
	uint64_t *chunk_map;            /* one bit per 64-byte chunk in use */
	size_t chunks;
	uint8_t status;                 /* as the driver wrote it */
	bool needs_reset;
	bool features_sent;
	bool config_irq_pending;
	uint64_t driver_features;       /* set_features */
	uint32_t config_generation;
	int64_t channel_window_end;     /* the backend channel's budget: */
	unsigned channel_served;        /* messages served in this window */
	bool channel_flood_logged;
};

/*
 * Connects to the backend listening at socket_path (or, _fd, uses a
 * connected socket, which it then owns), creates the DMA memory and does
 * the handshake: GET_FEATURES, protocol features, SET_OWNER, GET_QUEUE_NUM,
 * the backend channel, SET_MEM_TABLE. Then add &fe->vdev to a bus.
 * Errors: -EINVAL (config), -ENOMEM, the socket's errno, -ETIMEDOUT,
 * -ECONNRESET (the backend went away), -EPROTO (it broke the protocol);
 * on error nothing stays allocated.
 */
int vio_vu_frontend_connect(struct vio_vu_frontend *fe, const char *socket_path,
			    const struct vio_vu_frontend_config *cfg);
int vio_vu_frontend_connect_fd(struct vio_vu_frontend *fe, int sock,
			       const struct vio_vu_frontend_config *cfg);

/*
 * The backend restarted: drops the old connection (if any), connects again
 * and replays the session (see above), so the bound driver carries on with
 * its outstanding buffers. Errors as connect; -EPROTO also when the new
 * backend no longer offers a feature or queue in use. On error the device
 * stays disconnected and reconnect may be tried again.
 */
int vio_vu_frontend_reconnect(struct vio_vu_frontend *fe, const char *socket_path);
int vio_vu_frontend_reconnect_fd(struct vio_vu_frontend *fe, int sock);

/* Drops the connection (the backend sees EOF); the device keeps its state
 * for a later reconnect. */
void vio_vu_frontend_disconnect(struct vio_vu_frontend *fe);

/* Disconnects and frees everything. Remove &fe->vdev from its bus first. */
void vio_vu_frontend_fini(struct vio_vu_frontend *fe);

static inline bool vio_vu_frontend_connected(const struct vio_vu_frontend *fe) { return fe->sock >= 0; }
static inline int vio_vu_frontend_error(const struct vio_vu_frontend *fe) { return fe->err; }

/* For callers with their own event loop: queue qi's call eventfd (-1 for a
 * bad index), and a non-blocking wait (the work vio_device_wait() does). */
int vio_vu_frontend_call_fd(const struct vio_vu_frontend *fe, unsigned qi);
void vio_vu_frontend_dispatch(struct vio_vu_frontend *fe);

#ifdef __cplusplus
}
#endif

#endif /* VIO_TRANSPORT_H */
