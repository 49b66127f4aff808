/*
 * frontend.h - a small vhost-user FRONTEND for tests: it plays QEMU against
 * libvio's backend.
 *
 * Why a separate library: the backend tests (and later the frontend and
 * cross-process tests) all need the same plumbing: a socketpair, messages
 * with file descriptors as SCM_RIGHTS, replies read back, guest memory in a
 * memfd, and rings set up in that memory by libvio's own driver side
 * (vio_drvq) so that real I/O can flow. None of it trusts the backend: a
 * reply with the wrong request, flags or size is an error here.
 *
 * Three address spaces, kept apart on purpose (vhost-user.rst, "Memory
 * access"): the region's GUEST address (what descriptors carry), the
 * frontend's USER address (what SET_VRING_ADDR carries) and our own host
 * pointer. The user address is a made-up number, so a backend that confused
 * user and host addresses, or user and guest addresses, fails.
 *
 * Single-threaded use: the test owns both ends. After each message it calls
 * the `pump` callback, which lets the backend read that one message, and
 * only then waits for a reply. With a backend on another thread or process,
 * `pump` is NULL and replies are awaited with a timeout.
 */
#ifndef VT_FRONTEND_H
#define VT_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhost_user_proto.h"
#include "vio/ring.h"

/* ------------------------------------------------------------------------ */
/* Raw messages                                                             */

/* One message as read off the socket. */
struct vt_msg {
	struct vu_header hdr;
	union vu_payload p;
	int fds[VU_MAX_FDS];
	unsigned nfds;
};

/* A connected AF_UNIX stream pair: fds[0] for the frontend, fds[1] for the
 * backend. 0 or -errno. */
int vt_socketpair(int fds[2]);

/* Writes bytes with optional fds attached (SCM_RIGHTS), all or nothing.
 * 0 or -errno (-EPIPE when the peer is gone; never raises SIGPIPE). */
int vt_send_raw(int sock, const void *buf, size_t len, const int *fds, unsigned nfds);

/* Writes one message with exactly these header fields. */
int vt_send_msg(int sock, uint32_t request, uint32_t flags, const void *payload, uint32_t size,
		const int *fds, unsigned nfds);

/* Reads one message (payload up to sizeof(union vu_payload)); waits at most
 * timeout_ms. 0, -ETIMEDOUT, -ECONNRESET (EOF), -EPROTO (oversized). The
 * caller closes m->fds (vt_msg_close_fds). */
int vt_recv_msg(int sock, struct vt_msg *m, int timeout_ms);
void vt_msg_close_fds(struct vt_msg *m);

/* Is something readable on fd within timeout_ms? */
bool vt_readable(int fd, int timeout_ms);

/* ------------------------------------------------------------------------ */
/* Eventfds                                                                 */

/* A non-blocking eventfd, or -errno. */
int vt_eventfd(void);
/* Drains an eventfd: the count it held, 0 when it was not signalled. */
uint64_t vt_efd_take(int fd);
void vt_efd_signal(int fd);

/* Number of open file descriptors of this process (from /proc/self/fd). */
int vt_count_fds(void);

/* ------------------------------------------------------------------------ */
/* Guest memory                                                             */

/*
 * One region of guest memory in a memfd. The file holds `mmap_offset`
 * bytes of padding, then the region (vhost-user's mmap offset), so the
 * backend must honour the offset. A bump allocator hands out pieces.
 */
struct vt_gmem {
	int fd;
	uint8_t *file;          /* our mapping of the whole file */
	size_t file_len;
	uint8_t *host;          /* region start: file + mmap_offset */
	uint64_t size;          /* region bytes */
	uint64_t mmap_offset;
	uint64_t gpa;           /* guest address of the region */
	uint64_t uva;           /* frontend "user" address of the region */
	size_t brk;             /* allocator position */
};

/* file_len 0: exactly mmap_offset + size. A smaller file_len makes the
 * region run past the end of the file (for hostile tests). */
int vt_gmem_init(struct vt_gmem *g, uint64_t size, uint64_t mmap_offset, uint64_t gpa,
		 uint64_t uva, size_t file_len);
void vt_gmem_fini(struct vt_gmem *g);
/* Zeroed, aligned memory from the region, or NULL when it is full. */
void *vt_gmem_alloc(struct vt_gmem *g, size_t len, size_t align);
uint64_t vt_gmem_gpa(const struct vt_gmem *g, const void *host);
uint64_t vt_gmem_uva(const struct vt_gmem *g, const void *host);
/* The region as SET_MEM_TABLE / ADD_MEM_REG describe it. */
struct vu_mem_region vt_gmem_region(const struct vt_gmem *g);

/* ------------------------------------------------------------------------ */
/* Rings: libvio's driver side over guest memory                            */

struct vt_ring {
	unsigned index, size;
	uint64_t features;
	struct vio_drvq q;
	struct vio_drvq_slot *slots;
	void *desc, *driver, *device, *indirect;
	uint64_t indirect_dma;
	unsigned indirect_max;
	struct vio_ring_addrs gpa;      /* guest addresses of the three areas */
	struct vu_vring_addr addr;      /* SET_VRING_ADDR payload (user addresses) */
	int kick_fd, call_fd, err_fd;   /* our ends: non-blocking eventfds */
};

/* Places a ring of `size` entries (and indirect tables) in g and sets up
 * the driver side with `features`. 0 or -errno. */
int vt_ring_init(struct vt_ring *r, struct vt_gmem *g, unsigned index, unsigned size,
		 uint64_t features, unsigned indirect_max);
/* The driver side again over the same areas (after a device reset). */
int vt_ring_reinit(struct vt_ring *r);
void vt_ring_fini(struct vt_ring *r);
/* Kicks through kick_fd if the ring says the device wants it. */
bool vt_ring_kick(struct vt_ring *r);

/* ------------------------------------------------------------------------ */
/* The frontend                                                             */

struct vt_fe {
	int sock;
	/* Negotiated; with REPLY_ACK every message without its own reply is
	 * sent with NEED_REPLY and its ack checked. */
	uint64_t protocol_features;
	/* Called after each message is sent (single-threaded tests). */
	void (*pump)(void *opaque);
	void *opaque;
	int timeout_ms;
};

void vt_fe_init(struct vt_fe *fe, int sock, void (*pump)(void *opaque), void *opaque);

/*
 * Sends one message (VU_VERSION | extra_flags) and pumps. With `reply`, it
 * then reads the reply and checks it answers this request. 0 or -errno.
 */
int vt_fe_msg(struct vt_fe *fe, uint32_t request, uint32_t extra_flags, const void *payload,
	      uint32_t size, const int *fds, unsigned nfds, struct vt_msg *reply);

/*
 * A message that has no reply of its own. Returns 0 when it was accepted
 * (ack 0, or no REPLY_ACK), 1 when the backend refused it (non-zero ack),
 * or -errno for a transport error or a malformed ack.
 */
int vt_fe_set(struct vt_fe *fe, uint32_t request, const void *payload, uint32_t size,
	      const int *fds, unsigned nfds);
int vt_fe_set_u64(struct vt_fe *fe, uint32_t request, uint64_t v);
int vt_fe_get_u64(struct vt_fe *fe, uint32_t request, uint64_t *v);
int vt_fe_state(struct vt_fe *fe, uint32_t request, uint32_t index, uint32_t num);
int vt_fe_get_vring_base(struct vt_fe *fe, uint32_t index, uint32_t *num);
/* SET_VRING_KICK/CALL/ERR: fd < 0 sends NOFD. The fd stays ours. */
int vt_fe_vring_fd(struct vt_fe *fe, uint32_t request, uint32_t index, int fd);
int vt_fe_mem_table(struct vt_fe *fe, const struct vt_gmem *const *g, unsigned n);
/* ADD_MEM_REG (with g's fd) or REM_MEM_REG (without fd). */
int vt_fe_mem_reg(struct vt_fe *fe, uint32_t request, const struct vt_gmem *g);
/* GET_CONFIG: returns the reply's data size (0: the backend refused) or
 * -errno; the data goes to buf. */
int vt_fe_get_config(struct vt_fe *fe, uint32_t off, uint32_t len, void *buf);
int vt_fe_set_config(struct vt_fe *fe, uint32_t off, uint32_t len, const void *buf, uint32_t flags);

/*
 * GET_INFLIGHT_FD for num_queues queues of queue_size: *out gets the reply
 * and *fd the log's fd (ours to close), -1 when the backend sent none. 0 or
 * -errno (-EPROTO for a malformed reply or more than one fd).
 */
int vt_fe_get_inflight(struct vt_fe *fe, uint16_t num_queues, uint16_t queue_size,
		       struct vu_inflight *out, int *fd);
/* SET_INFLIGHT_FD with fd (not closed). 0, 1 (refused) or -errno. */
int vt_fe_set_inflight(struct vt_fe *fe, int fd, uint64_t mmap_size, uint64_t mmap_offset,
		       uint16_t num_queues, uint16_t queue_size);

/*
 * GET_FEATURES (into *offered, may be NULL), GET/SET_PROTOCOL_FEATURES with
 * want_pf & offered (acks apply from then on), SET_OWNER. 0, 1, -errno.
 */
int vt_fe_negotiate_protocol(struct vt_fe *fe, uint64_t want_pf, uint64_t *offered);

/*
 * What QEMU does first: GET_FEATURES (must offer PROTOCOL_FEATURES unless
 * `features` leaves bit 30 out), GET/SET_PROTOCOL_FEATURES with
 * `want_pf` & offered, SET_OWNER, SET_FEATURES(features). *offered gets the
 * device's feature offer (may be NULL). 0, 1 (a step was refused), -errno.
 */
int vt_fe_handshake(struct vt_fe *fe, uint64_t features, uint64_t want_pf, uint64_t *offered);

/* SET_VRING_NUM, SET_VRING_BASE(base), SET_VRING_ADDR, SET_VRING_CALL,
 * SET_VRING_ERR, SET_VRING_KICK, then SET_VRING_ENABLE 1 when protocol
 * features are in use (`enable`). 0, 1 (refused) or -errno. */
int vt_fe_start_ring(struct vt_fe *fe, const struct vt_ring *r, uint32_t base, bool enable);

#endif
