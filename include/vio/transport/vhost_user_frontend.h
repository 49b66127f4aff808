/*
 * vio/transport/vhost_user_frontend.h - the vhost-user frontend: libvio's
 * drivers over any vhost-user backend.
 *
 * The driver side of vhost-user, as DPDK's virtio-user and SPDK's virtio
 * driver are: connects to any vhost-user backend socket and presents what
 * it serves as a struct vio_drv_device, so libvio's drivers run over it
 * unchanged. Add &fe->vdev to a vio_bus after connecting.
 *
 * Memory: the driver side's DMA memory is one memfd region, mapped here and
 * shared with SET_MEM_TABLE at guest address VIO_VU_FE_GUEST_BASE (what
 * descriptors carry) and user address = our mapping (what SET_VRING_ADDR
 * carries). Rings and I/O buffers come from it (vio_drv_dma_alloc); the
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
 *               vio_drv_interrupt()), the error eventfds (NEEDS_RESET),
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
 * Net devices (device_id VIO_ID_NET): a backend written for QEMU's
 * virtio-net, which emulates config space and the control queue itself
 * and hands the backend only the data queues (DPDK's vhost PMD: no
 * PROTOCOL_F_CONFIG, CTRL_VQ offered but no control queue served, 128
 * queues reported), is completed here so the net driver runs over it
 * unchanged (cfg.net):
 *   config      without PROTOCOL_F_CONFIG, or with the control queue
 *               served here, served here: mac, status
 *               LINK_UP, max_virtqueue_pairs, mtu (from cfg.net); the
 *               driver may write the MAC; MAC, STATUS (and MTU) offered,
 *               SPEED_DUPLEX, RSS and HASH_REPORT not.
 *   control q.  cfg.net.ctrl: served here (LOCAL, and AUTO without
 *               PROTOCOL_F_CONFIG) at index 2 * pairs with MQ, else 2, as
 *               a device-side ring over our own memory: MAC_ADDR_SET sets
 *               the config MAC, VQ_PAIRS_SET enables and disables the
 *               backend's rings (SET_VRING_ENABLE), everything else is
 *               answered VIO_NET_ERR; CTRL_VQ, CTRL_MAC_ADDR and (pairs >
 *               1) MQ offered, the other control features not. NONE masks
 *               CTRL_VQ and every feature that needs it.
 *   queues      with the control queue served here: 2 * pairs + 1, pairs
 *               = cfg.net.max_pairs (at most half the backend's queues).
 * The backend's SET_FEATURES carries only what it offered, less the
 * control-queue features when the control queue is served here.
 *
 * Concurrency: like any struct vio_drv_device, one thread at a time (the
 * driver's): every call below and every core.h call on &fe->vdev, except
 * that the thread owning a queue may kick it (vio_drv_vq_kick(): a write to the
 * queue's kick eventfd) alongside the driver's thread, and
 * vio_vu_frontend_call_fd() may come from any thread. The lock inside
 * serialises request/reply exchanges only; it does not make the rest of
 * the state safe for two threads. Each exchange is bounded by timeout_ms.
 * The backend runs in another thread or process.
 */
#ifndef VIO_TRANSPORT_VHOST_USER_FRONTEND_H
#define VIO_TRANSPORT_VHOST_USER_FRONTEND_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vio/core.h"
#include "vio/mem.h"
#include "vio/ring.h"
#include "vio/spec.h"
#include "vio/transport/dma_arena.h"
#include "vio/transport/vhost_user.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VIO_VU_FE_GUEST_BASE UINT64_C(0x100000000) /* guest address of the DMA memory */

/* Who serves a net device's control queue (vio_vu_fe_net_opts.ctrl). */
enum vio_vu_fe_net_ctrl {
	/* The backend when it has config space (PROTOCOL_F_CONFIG), else
	 * the frontend: a backend without config space was written for a
	 * frontend that keeps config and control queue itself (QEMU). */
	VIO_VU_FE_NET_CTRL_AUTO = 0,
	VIO_VU_FE_NET_CTRL_BACKEND,     /* pass it through */
	VIO_VU_FE_NET_CTRL_LOCAL,       /* the frontend answers it */
	VIO_VU_FE_NET_CTRL_NONE,        /* nobody: CTRL_VQ and what needs it masked */
};

/* A net device's parts the frontend serves when the backend lacks them. */
struct vio_vu_fe_net_opts {
	uint8_t mac[6];                 /* config MAC; all zero: 52:54:00:12:34:56 */
	uint16_t mtu;                   /* config MTU (and F_MTU); 0: not offered */
	unsigned max_pairs;             /* pairs the backend serves; 0: 1 */
	enum vio_vu_fe_net_ctrl ctrl;
};
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
	/* device_id VIO_ID_NET only (see "Net devices" above). */
	struct vio_vu_fe_net_opts net;
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
	struct vio_drv_device vdev;         /* add this to a vio_bus */
	int sock;                       /* -1 when not connected */
	uint64_t offered;               /* GET_FEATURES without bits 30 and 26 */
	bool protocol;                  /* bit 30 negotiated */
	bool log_all_offered;           /* bit 26 (VHOST_F_LOG_ALL) offered */
	bool logging;                   /* dirty log handed over, LOG_ALL on */
	uint8_t *log;                   /* the dirty log's bitmap, or NULL */
	uint64_t log_size;              /* its bytes */
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
	int log_fd;                     /* the dirty log's memfd, or -1 */
	int backend_fd;                 /* our end of the backend channel */
	int mem_fd;
	uint8_t *mem;
	size_t mem_len;
	struct vio__dma_arena dma;      /* carves up mem */
	uint8_t status;                 /* as the driver wrote it */
	bool needs_reset;
	bool features_sent;
	bool config_irq_pending;
	uint64_t driver_features;       /* set_features */
	uint32_t config_generation;
	int64_t channel_window_end;     /* the backend channel's budget: */
	unsigned channel_served;        /* messages served in this window */
	bool channel_flood_logged;
	uint64_t presented;             /* features the driver sees (net: not `offered`) */
	/* Net devices: what is served here (vhost_user_fe_net.c). */
	struct vio__vu_fe_net {
		bool config_local, ctrl_local, ctrl_none;
		unsigned pairs;             /* data pairs the driver may use */
		unsigned active_pairs;      /* VQ_PAIRS_SET, with MQ */
		unsigned ctrl_qi;           /* the control queue, once features are set */
		struct vio_net_config config;
		struct vio_mem mem;         /* our memory, for the control ring */
		struct vio_mem_region region;
		struct vio_devq ctrlq;
		bool ctrlq_live;
	} net;
};

/*
 * Connects to the backend listening at socket_path (or, _fd, uses a
 * connected socket, which it then owns), creates the DMA memory and does
 * the handshake: GET_FEATURES, protocol features, SET_OWNER, GET_QUEUE_NUM,
 * the backend channel, SET_MEM_TABLE. Then add &fe->vdev to a bus.
 * Errors: -EINVAL (config), -ENOMEM, the socket's errno, -ETIMEDOUT,
 * -ECONNRESET (the backend went away), -EPROTO (it broke the protocol);
 * on error nothing stays allocated.
 * Context: one thread, before any other use of fe (it creates the lock).
 * Blocks for the dial and the handshake, each step within timeout_ms.
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
 * Context: the driver's thread, while no other thread uses the device or
 * its queues (the replay reads how far the driver reaped each ring).
 * Blocks as connect does.
 */
int vio_vu_frontend_reconnect(struct vio_vu_frontend *fe, const char *socket_path);
int vio_vu_frontend_reconnect_fd(struct vio_vu_frontend *fe, int sock);

/* Drops the connection (the backend sees EOF); the device keeps its state
 * for a later reconnect. Context: the driver's thread (it closes the
 * socket without the lock). */
void vio_vu_frontend_disconnect(struct vio_vu_frontend *fe);

/* Disconnects and frees everything. Remove &fe->vdev from its bus first.
 * Context: the driver's thread, with no other thread using fe. */
void vio_vu_frontend_fini(struct vio_vu_frontend *fe);

/* Context: the driver's thread (a dropped exchange writes both). */
static inline bool vio_vu_frontend_connected(const struct vio_vu_frontend *fe) { return fe->sock >= 0; }
static inline int vio_vu_frontend_error(const struct vio_vu_frontend *fe) { return fe->err; }

/*
 * Dirty logging, the frontend's half of live migration (QEMU's, for
 * libvio's own tests and tools): log_start() makes a bitmap covering our
 * memory (one bit per 4 KiB of guest address, vio_mem_log_bytes_for() of
 * its end) in a memfd, hands it over with SET_LOG_BASE, turns VHOST_F_LOG_ALL
 * on with SET_FEATURES and sets VHOST_VRING_F_LOG (log address: the used
 * ring's guest address) on every running ring, as QEMU does before a
 * migration; rings started later get the flag too. log_stop() undoes it
 * and unmaps the log. log_sync() copies the bitmap into dst (up to len
 * bytes, the rest of dst untouched) and clears what it copied, byte by byte
 * atomically, so a bit the backend sets meanwhile is either copied or kept
 * for the next sync. Errors: -ENOTSUP when the backend offers no LOG_ALL or
 * no PROTOCOL_F_LOG_SHMFD was negotiated, -EBUSY before the features are
 * set or when already logging, -EIO when the backend refused the log (with
 * REPLY_ACK), and the exchange's errors. A reconnect ends logging (the new
 * backend has no log). Context: the driver's thread, as the control calls;
 * log_sync any thread.
 */
int vio_vu_frontend_log_start(struct vio_vu_frontend *fe);
int vio_vu_frontend_log_stop(struct vio_vu_frontend *fe);
size_t vio_vu_frontend_log_sync(struct vio_vu_frontend *fe, uint8_t *dst, size_t len);

/* For callers with their own event loop: queue qi's call eventfd (-1 for a
 * bad index), and a non-blocking wait (the work vio_drv_wait() does).
 * Context: call_fd: any thread, once vio_drv_find_vqs() set qi up (the fd
 * lives until fini); dispatch: the driver's thread, as vio_drv_wait():
 * the callbacks run on it, and serving the backend channel may take up to
 * timeout_ms. */
int vio_vu_frontend_call_fd(const struct vio_vu_frontend *fe, unsigned qi);
void vio_vu_frontend_dispatch(struct vio_vu_frontend *fe);

#ifdef __cplusplus
}
#endif

#endif /* VIO_TRANSPORT_VHOST_USER_FRONTEND_H */
