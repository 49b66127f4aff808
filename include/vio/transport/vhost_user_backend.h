/*
 * vio/transport/vhost_user_backend.h - the vhost-user backend: serves a
 * device (struct vio_dev_model) to a vhost-user frontend.
 *
 * Serves one struct vio_dev_model to a vhost-user frontend (QEMU, or libvio's own
 * frontend) over a connected unix socket, per QEMU's vhost-user.rst. The
 * library runs no loop: the caller polls the fds it exposes and calls the
 * dispatch functions.
 *
 *   vio_vu_backend_fd()             the socket: call vio_vu_backend_dispatch()
 *                                   when readable (one message per call)
 *   vio_vu_backend_kick_fd(qi)      queue qi's kick eventfd (-1 when none):
 *                                   call vio_vu_backend_queue_dispatch(qi)
 *   vio_vu_backend_event_fd(qi)     queue qi's event fd, the device's (-1
 *                                   when none; a blk device's storage
 *                                   completions): call
 *                                   vio_vu_backend_queue_event(qi)
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
 *
 * Threads: one dispatch thread owns the connection (attach, dispatch,
 * detach, fd, fini). The queue calls (queue_dispatch, queue_poll,
 * queue_poll_for) may come from any thread, typically one per queue, and
 * take that queue's lock; kick_fd and the queue lock calls from any thread.
 * The dispatch thread takes every queue lock in index order, then
 * backend_lock: so no call below may be made while holding a queue lock
 * (but vio_vu_backend_queue_unlock()), nor two taken elsewhere. The device's
 * callbacks run on the calling thread under the locks each call names.
 */
#ifndef VIO_TRANSPORT_VHOST_USER_BACKEND_H
#define VIO_TRANSPORT_VHOST_USER_BACKEND_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vio/core.h"
#include "vio/transport/vhost_user.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VIO_VU_BACKEND_TIMEOUT_MS 5000  /* default: see timeout_ms */

struct vio_vu_mapping {
	uint64_t guest_addr, size, user_addr, mmap_offset;
	void *map;                      /* mmap'd base */
	size_t map_len;
	uint8_t *host;                  /* map + mmap_offset */
	/* ADD_MEM_REG of this very region again (QEMU sends one per vhost
	 * device on the socket: one per queue pair of a multiqueue net
	 * device) takes a reference; REM_MEM_REG drops one and unmaps at 0. */
	unsigned refs;
	uint64_t file_dev, file_ino;    /* fstat of the fd it was mapped from */
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
	uint64_t kicks;                 /* received; read with vio_stat_read() */
	uint64_t calls;                 /* sent; read with vio_stat_read() */
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
	struct vio_dev_model *dev;
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
 * VIO_VU_MAX_QUEUES queues). No connection yet. Context: before any other
 * use of b (it creates the locks). */
int vio_vu_backend_init(struct vio_vu_backend *b, struct vio_dev_model *dev,
			const struct vio_vu_backend_config *cfg);
/* Closes any connection and releases everything. Context: the dispatch
 * thread, once no queue thread runs (it destroys the locks). */
void vio_vu_backend_fini(struct vio_vu_backend *b);

/* Serves a connected socket (accepted, or passed with --fd). -EBUSY when
 * one is already attached. The backend owns the fd from here on.
 * Context: the dispatch thread. */
int vio_vu_backend_attach(struct vio_vu_backend *b, int sock);
/* Drops the connection: rings stop, memory is unmapped, the device is
 * reset, and the backend is ready for the next frontend. Context: the
 * dispatch thread, holding no queue lock: it takes every queue lock
 * (waiting for each queue's current device work), then backend_lock, and
 * calls queues_changed on this thread. */
void vio_vu_backend_detach(struct vio_vu_backend *b);

/* Context: the dispatch thread (the socket changes only there). */
static inline int vio_vu_backend_fd(const struct vio_vu_backend *b) { return b->sock; }

/* Reads and handles one message. 0: handled (even if it was refused);
 * -ECONNRESET: the frontend went away or sent something unparseable, and
 * the backend has detached.
 * Context: the dispatch thread, one call at a time, holding no queue lock.
 * A message takes the locks it needs (its queue's, or every one for
 * memory, features, config writes and resets), so it waits for the
 * device's current work on those queues; the device type's control
 * callbacks and queues_changed run on this thread. Call it when the socket
 * is readable: the start of a message is awaited without limit, the rest
 * and room for the reply for at most timeout_ms. */
int vio_vu_backend_dispatch(struct vio_vu_backend *b);

/* Queue qi's kick eventfd, or -1. The backend closes it when the frontend
 * replaces it or the ring stops; a caller that polls it with epoll should
 * register a dup() of its own. Context: any thread. Takes the queue's lock:
 * not to be called while holding it (vio_vu_backend_queue_lock). */
int vio_vu_backend_kick_fd(struct vio_vu_backend *b, unsigned qi);
/* Drains qi's kick fd and lets the device process the queue.
 * Context: the thread that serves qi, holding no queue lock: it takes qi's
 * lock, and those of the queues the device type serialises qi with
 * (vio_dev_queue's serial range), waiting while the dispatch thread
 * handles a message that holds one, and runs the device's queue
 * processing under them, on this thread. Never
 * waits on the frontend: interrupts are non-blocking eventfd writes. */
void vio_vu_backend_queue_dispatch(struct vio_vu_backend *b, unsigned qi);
/* Queue qi's event fd (vio_dev_queue_event_fd()), or -1: the device's,
 * the same fd for the device's whole life, whatever the frontend does, so
 * a caller may watch it once; never close or read it. Poll it on the
 * thread that serves qi, next to the kick fd, in every mode (a busy-polling
 * thread polls it too, or calls vio_vu_backend_queue_event() each round).
 * Context: any thread; takes no lock. */
int vio_vu_backend_event_fd(struct vio_vu_backend *b, unsigned qi);
/* qi's event fd was readable: the device does what is waiting (its
 * storage's completions become used buffers and interrupts; chains are
 * taken into the room they freed). Context: as
 * vio_vu_backend_queue_dispatch(): qi's lock and its serial range. Runs
 * whether the ring is started or not, so work in flight when it stopped
 * ends. */
void vio_vu_backend_queue_event(struct vio_vu_backend *b, unsigned qi);
/* Lets the device process qi without a kick (busy polling, or a device
 * event such as console input), under the queue's lock. Context: as
 * vio_vu_backend_queue_dispatch(). */
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
 * Context: as vio_vu_backend_queue_dispatch(); it takes and drops qi's lock
 * for each look, so the dispatch thread gets it between looks, and spins
 * for at most max(ns, VIO_VU_POLL_CALL_NS).
 */
#define VIO_VU_POLL_MAX_NS UINT64_C(1000000000)   /* longest window: 1 s */
#define VIO_VU_POLL_CALL_NS UINT64_C(10000000)    /* a busy queue: 10 ms a call */
bool vio_vu_backend_queue_poll_for(struct vio_vu_backend *b, unsigned qi, uint64_t ns);
/* The same over queues qis[0..n) at once, for a thread that serves
 * several (a net device's queue pair): kicks off on all of them, each
 * looked at in turn, the window restarted when the device takes buffers
 * off any, kicks back on for all. */
bool vio_vu_backend_queues_poll_for(struct vio_vu_backend *b, const unsigned *qis, unsigned n,
				    uint64_t ns);

/* For the device's owner: hold queue qi's lock (with its serial range, as
 * dispatch does) around work on that queue started outside a dispatch call
 * (e.g. vio_console_dev_input_ready() when its input fd is readable).
 * Context: any thread, holding no other queue lock; not recursive: while
 * holding it, call none of the calls above that take it (kick_fd,
 * queue_dispatch, queue_poll, queue_poll_for, dispatch, detach, fini). */
void vio_vu_backend_queue_lock(struct vio_vu_backend *b, unsigned qi);
void vio_vu_backend_queue_unlock(struct vio_vu_backend *b, unsigned qi);

#ifdef __cplusplus
}
#endif

#endif /* VIO_TRANSPORT_VHOST_USER_BACKEND_H */
