/*
 * conform.h - vio-conform's shared declarations.
 *
 * vio-conform connects to any vhost-user backend as a frontend and reports
 * (1) conformance: named rules of QEMU's vhost-user specification
 * (docs/interop/vhost-user.rst) and of the virtio ring that a backend must
 * follow, each with the section it comes from; and (2) robustness: named
 * malformed messages, rings and descriptor chains, each with a verdict
 * read from the outside (the process, the socket, CPU time, and canaries
 * in the shared memory).
 *
 * Its wire code, ring code and request builders are its own, written from
 * the specifications, and share nothing with libvio's vhost-user codec or
 * rings: a bug there cannot hide itself here. The files:
 *
 *   wire.c     messages on the socket (send with fds, receive with a deadline)
 *   target.c   the backend under test: started with --exec (and restarted
 *              after a case that killed it) or reached with --socket; its
 *              liveness, CPU time and open fds
 *   guest.c    a frontend session: features, shared memory with canaries, a
 *              split ring of our own, virtio-blk requests
 *   cases.c    the conformance checks and the robustness cases
 *   vio-conform.c  options, the run, the table and the JSON report
 */
#ifndef VIO_CONFORM_H
#define VIO_CONFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- vhost-user wire (vhost-user.rst, "Message specification") ---- */

enum {
	VU_GET_FEATURES = 1, VU_SET_FEATURES = 2, VU_SET_OWNER = 3, VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5, VU_SET_LOG_BASE = 6, VU_SET_LOG_FD = 7, VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9, VU_SET_VRING_BASE = 10, VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12, VU_SET_VRING_CALL = 13, VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15, VU_SET_PROTOCOL_FEATURES = 16, VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18, VU_GET_CONFIG = 24, VU_SET_CONFIG = 25,
	VU_GET_INFLIGHT_FD = 31, VU_SET_INFLIGHT_FD = 32, VU_RESET_DEVICE = 34,
	VU_GET_MAX_MEM_SLOTS = 36, VU_ADD_MEM_REG = 37, VU_REM_MEM_REG = 38,
	VU_SET_STATUS = 39, VU_GET_STATUS = 40,
};

#define VU_VERSION        0x1u
#define VU_REPLY          0x4u
#define VU_NEED_REPLY     0x8u
#define VU_F_PROTOCOL_FEATURES 30
#define VU_PF_MQ          0
#define VU_PF_LOG_SHMFD   1
#define VU_PF_REPLY_ACK   3
#define VU_PF_CONFIG      9
#define VU_PF_INFLIGHT    12
#define VU_PF_RESET_DEVICE 13
#define VU_PF_MEM_SLOTS   15
#define VU_PF_STATUS      16
#define VU_NOFD           0x100u

#define VC_MAX_PAYLOAD 4096u
#define VC_MAX_FDS     8u

struct vc_msg {
	uint32_t req, flags, size;
	uint8_t payload[VC_MAX_PAYLOAD];
	int fds[VC_MAX_FDS];
	unsigned nfds;
};

struct vc_region {
	uint64_t gpa, size, uaddr, mmap_offset;
};

/* Sends one message: header + payload (+ fds). 0 or -errno. */
int vc_send(int sock, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
	    const int *fds, unsigned nfds);
/* Sends raw bytes (a malformed header, a cut message). 0 or -errno. */
int vc_send_raw(int sock, const void *buf, size_t len, const int *fds, unsigned nfds);
/* Receives one whole message within timeout_ms: 0, -ETIMEDOUT, -ECONNRESET
 * (closed by the backend), -EPROTO (a header we cannot take). Fds that came
 * with it are in m->fds (the caller closes them: vc_msg_close_fds()). */
int vc_recv(int sock, struct vc_msg *m, int timeout_ms);
void vc_msg_close_fds(struct vc_msg *m);
/* Did the backend close the socket (within timeout_ms)? Consumes nothing
 * but what it reads while waiting. */
bool vc_peer_closed(int sock, int timeout_ms);
const char *vc_req_name(uint32_t req);

/* ---- the backend under test ---- */

struct vc_target {
	const char *exec;       /* command line with {socket}, or NULL */
	char socket_path[256];
	char dir[128];          /* scratch directory (exec mode) */
	pid_t pid;              /* 0: unknown */
	bool child;             /* we started it */
	int exit_status;        /* once it ended: waitpid status */
	bool ended;
	char ended_how[64];
};

int vc_target_start(struct vc_target *t);
void vc_target_stop(struct vc_target *t);
/* Is it still running? Updates ended/ended_how. */
bool vc_target_alive(struct vc_target *t);
/* CPU time (user + system) of the whole process in ms, or -1. */
long vc_target_cpu_ms(const struct vc_target *t);
/* Open fds of the process, or -1. */
int vc_target_nfds(const struct vc_target *t);
/* Connects to its socket, retrying for up to timeout_ms. fd or -errno. */
int vc_target_connect(struct vc_target *t, int timeout_ms);

/* ---- a frontend session ---- */

#define VC_MEM_SIZE   (8u << 20)        /* shared "guest" memory */
#define VC_GPA_BASE   0x40000000ull     /* where it sits in guest-physical space */
#define VC_CANARY     0xa5u
#define VC_GUARD      256u              /* canary bytes around each allocation */
#define VC_QMAX       8u

/* The split ring's three parts (virtio 1.2, 2.7). */
struct vc_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct vc_avail {
	uint16_t flags, idx, ring[];
};

struct vc_used_elem {
	uint32_t id, len;
};

struct vc_used {
	uint16_t flags, idx;
	struct vc_used_elem ring[];
};

struct vc_vring {
	unsigned num;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	struct vc_desc *desc;
	struct vc_avail *avail;
	struct vc_used *used;
	uint16_t avail_idx, last_used, next_desc;
	int kick, call;
	bool started;
	size_t scratch;         /* a blk header (0) and status byte (16) */
};

struct vc_sess {
	int sock;
	int timeout_ms;
	uint64_t features, protocol;            /* offered */
	uint64_t acked, acked_protocol;         /* set */
	bool reply_ack;
	unsigned nqueues;                       /* GET_QUEUE_NUM, or 1 */
	int memfd;
	uint8_t *mem;                           /* VC_MEM_SIZE bytes */
	size_t brk;                             /* bump allocator */
	/* every allocation, for the canary check */
	struct { size_t off, len; } allocs[512];
	unsigned nallocs;
	struct vc_vring vr[VC_QMAX];
	char why[200];                          /* what went wrong, for the report */
};

/* Connects and negotiates: GET_FEATURES, protocol features (REPLY_ACK,
 * MQ, CONFIG, ... as offered), SET_OWNER. 0 or -errno (why set). */
int vc_sess_open(struct vc_sess *s, struct vc_target *t, int timeout_ms);
void vc_sess_close(struct vc_sess *s);
/* A request with no reply of its own: with REPLY_ACK, asks for the ack
 * and returns it (0 ok, 1 refused), else 0 once sent. -errno on a broken
 * connection. */
int vc_sess_ack(struct vc_sess *s, uint32_t req, const void *p, uint32_t size, const int *fds,
		unsigned nfds);
/* A request with a reply: 0 with the reply in r, -errno. */
int vc_sess_call(struct vc_sess *s, uint32_t req, const void *p, uint32_t size,
		 struct vc_msg *r);
/* Shared memory and its SET_MEM_TABLE (features set first). */
int vc_sess_mem(struct vc_sess *s, uint64_t features);
/* Bump allocation in the shared memory, guarded by canaries: offset. */
size_t vc_alloc(struct vc_sess *s, size_t len, size_t align);
static inline uint64_t vc_gpa(size_t off) { return VC_GPA_BASE + off; }
/* Are all canaries intact? Else why says where. */
bool vc_canaries_ok(struct vc_sess *s);
/* Sets up and starts ring qi with num entries (NUM, ADDR, BASE, CALL,
 * KICK, ENABLE). 0 or -errno/1 (refused). */
int vc_ring_start(struct vc_sess *s, unsigned qi, unsigned num);
/* Raw descriptor write and publication. */
void vc_ring_desc(struct vc_sess *s, unsigned qi, unsigned i, uint64_t gpa, uint32_t len,
		  uint16_t flags, uint16_t next);
void vc_ring_publish(struct vc_sess *s, unsigned qi, uint16_t head);
void vc_ring_kick(struct vc_sess *s, unsigned qi);
/* Waits for the used index to reach want (0: one more than last seen):
 * 0, or -ETIMEDOUT. */
int vc_ring_wait_used(struct vc_sess *s, unsigned qi, uint16_t want, int timeout_ms);
uint16_t vc_ring_used_idx(struct vc_sess *s, unsigned qi);
/* Features a session acknowledges by default when offered (VERSION_1,
 * PROTOCOL_FEATURES, INDIRECT_DESC, and for --type=blk its FLUSH). */
uint64_t vc_default_features(const struct vc_sess *s);
void vc_ring_used_elem(struct vc_sess *s, unsigned qi, uint16_t i, uint32_t *id, uint32_t *len);

#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4

/* virtio-blk: one request of type t at sector, with data of len bytes at
 * data_off (written for OUT, read for IN), status byte returned. 0 with
 * *status, or -errno. */
#define VC_BLK_IN 0u
#define VC_BLK_OUT 1u
#define VC_BLK_FLUSH 4u
#define VC_BLK_GET_ID 8u
int vc_blk_io(struct vc_sess *s, unsigned qi, uint32_t type, uint64_t sector, size_t data_off,
	      uint32_t len, uint8_t *status, uint32_t *used_len, int timeout_ms);

/* ---- cases ---- */

enum vc_kind { VC_CHECK, VC_ROBUST };

enum vc_result {
	VC_PASS,                /* conformance: followed the rule */
	VC_FAIL,                /* conformance: broke it */
	VC_SKIP,                /* the backend does not offer what the check needs */
	VC_SURVIVED,            /* robustness: refused or ignored it, still serves */
	VC_DROPPED,             /* robustness: closed the connection cleanly, still serves */
	VC_CRASHED,             /* the process died */
	VC_HUNG,                /* alive, but a new frontend is not served */
	VC_SPUN,                /* burned CPU with nothing to do */
	VC_WROTE_OUTSIDE,       /* canaries around our buffers changed */
	VC_LEAKED,              /* kept fds it was not given to keep */
	VC_NO_REPLY,            /* left a request that needs a reply unanswered:
				 * its frontend would wait forever */
	VC_ERROR,               /* vio-conform could not run the case */
};

struct vc_ctx {
	struct vc_target *t;
	int timeout_ms;
	char detail[384];       /* filled by the case */
	bool fresh;             /* the case wants a backend nobody touched */
};

struct vc_case {
	const char *name;
	enum vc_kind kind;
	const char *section;    /* where the rule comes from */
	const char *what;       /* one line */
	const char *type;       /* device type it needs, or NULL for any */
	/* A check returns PASS/FAIL/SKIP/ERROR. A robustness case does its
	 * harm and returns SURVIVED when the backend refused or carried on,
	 * DROPPED when it closed the connection; the runner then looks at
	 * the process, canaries, CPU and a fresh session itself. */
	enum vc_result (*run)(struct vc_ctx *c, struct vc_sess *s);
	bool needs_session;     /* run() gets an open session */
};

extern const struct vc_case vc_cases[];
extern const unsigned vc_ncases;

const char *vc_result_name(enum vc_result r);
/* A full health probe on a fresh connection: negotiation, memory, ring
 * 0, and for blk a write and a read back. true when served. */
bool vc_probe(struct vc_ctx *c, const char *type, char *why, size_t whylen);

extern const char *vc_type;     /* "blk", "rng", "net", or NULL (generic only) */

#endif
