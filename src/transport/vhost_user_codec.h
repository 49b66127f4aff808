/*
 * vhost_user_codec.h - the vhost-user codec both roles use: framing (one
 * message, fds as SCM_RIGHTS, sent or received before a deadline) and the
 * table of requests (what each may carry, what needs which protocol
 * feature, what is answered). Private to src/transport.
 *
 * Adding a request means one row in vio__vu_requests[] (vhost_user_codec.c)
 * and one handler on the side that serves it. The test peer in
 * tests/vhost_user/frontend.c keeps its own copy of all this on purpose:
 * a bug shared by both ends of a test is a bug no test sees.
 *
 * Deadlines are CLOCK_MONOTONIC nanoseconds (vio__vu_now_ns); a deadline that
 * has passed times out without waiting. Sockets are read and written
 * with MSG_DONTWAIT and poll, so no call here blocks past its deadline
 * whatever the socket's O_NONBLOCK says, except vio__vu_recv's unbounded wait
 * for the first byte of a message, which the caller asks for.
 */
#ifndef VIO_VHOST_USER_CODEC_H
#define VIO_VHOST_USER_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhost_user_proto.h"

/* ------------------------------------------------------------------------ */
/* Framing                                                                  */

/* Where received fds go: up to `max` are kept in fds[] (the rest closed),
 * all are counted in n. truncated: the kernel cut the ancillary data
 * (more fds than one message may carry; those never arrived). A NULL sink
 * closes every fd. */
struct vu_fd_sink {
	int *fds;
	unsigned max;
	unsigned n;
	bool truncated;
};

void vio__vu_fd_sink_take(struct vu_fd_sink *s, int fd);
/* Closes what the sink kept and empties it. */
void vio__vu_fd_sink_close(struct vu_fd_sink *s);
/* Closes *fd if open and sets it to -1. */
void vio__vu_close_fd(int *fd);

uint64_t vio__vu_now_ns(void);
/* now + ms milliseconds */
uint64_t vio__vu_deadline_ns(int ms);

/* Waits for `events` on fd until the deadline: 0 (ready), -ETIMEDOUT,
 * -ECONNRESET (hung up or in error with nothing of `events`), or poll's
 * -errno. EINTR does not move the deadline. */
int vio__vu_wait_fd(int fd, short events, uint64_t deadline);

/* Sends one message (header, `size` payload bytes, up to VU_MAX_FDS fds
 * with the first byte), all of it, before the deadline: 0, -ETIMEDOUT (the
 * peer stopped reading), -ECONNRESET, or -EINVAL (size or nfds too large). */
int vio__vu_send(int sock, uint64_t deadline, uint32_t req, uint32_t flags, const void *payload,
	    uint32_t size, const int *fds, unsigned nfds);

/* Reads exactly len bytes before the deadline; fds that come with them go
 * to the sink. 0, -ETIMEDOUT, -ECONNRESET (EOF or error), or poll's -errno. */
int vio__vu_recv_full(int sock, void *buf, size_t len, uint64_t deadline, struct vu_fd_sink *sink);

/*
 * Receives one message: the header, then the payload of the size it
 * announces (the payload buffer, `max` bytes, is zeroed first). Fds go to
 * the sink. The deadline: if *deadline is 0, the wait for the message's
 * first byte is unbounded (a blocking recvmsg) and the deadline is set to
 * timeout_ms after it arrived; otherwise *deadline bounds the whole
 * message. 0, -ETIMEDOUT, -ECONNRESET, -EPROTO (version is not 1),
 * -EMSGSIZE (payload larger than max: the stream cannot be resynced); the
 * header is filled in whenever it was read.
 */
int vio__vu_recv(int sock, struct vu_header *h, void *payload, size_t max, struct vu_fd_sink *sink,
	    uint64_t *deadline, int timeout_ms);

/* ------------------------------------------------------------------------ */
/* The request table                                                        */

enum vu_size_rule {
	VU_SIZE_EXACT,          /* size == min */
	VU_SIZE_RANGE,          /* min <= size <= max (max 0xffff: a minimum only) */
	VU_SIZE_CONFIG,         /* VU_CONFIG_HDR + the u32 size field, <= VU_CONFIG_MAX */
	VU_SIZE_MEM_TABLE,      /* 8 + nregions * region, 1 <= nregions <= VU_MEM_TABLE_MAX */
};

struct vu_size {
	uint8_t rule;           /* enum vu_size_rule */
	uint16_t min, max;
};

enum vu_fd_rule {
	VU_FDS_NONE,            /* exactly 0 */
	VU_FDS_ONE,             /* exactly 1 */
	VU_FDS_UNLESS_NOFD,     /* 1, or 0 with VU_VRING_NOFD in the u64 */
	VU_FDS_PER_REGION,      /* one per region of a SET_MEM_TABLE */
	VU_FDS_UP_TO_ONE,       /* 0 or 1 */
};

enum vu_reply_rule {
	VU_REPLY_ACK,           /* no reply of its own: a u64 verdict with REPLY_ACK, if asked */
	VU_REPLY_ALWAYS,        /* a reply of reply_size, whatever the flags */
};

#define VU_NO_FEATURE (-1)

struct vu_request_row {
	uint32_t request;
	const char *name;
	struct vu_size size;            /* the request's payload */
	uint8_t fds;                    /* enum vu_fd_rule: fds with the request */
	int8_t feature;                 /* protocol feature it needs, or VU_NO_FEATURE */
	uint8_t reply;                  /* enum vu_reply_rule */
	struct vu_size reply_size;      /* VU_REPLY_ALWAYS: the reply's payload */
	uint8_t reply_fds;              /* at most this many fds with the reply */
};

/* The rows: frontend-to-backend requests, and backend-channel requests. */
extern const struct vu_request_row vio__vu_requests[];
extern const unsigned vio__vu_nrequests;
extern const struct vu_request_row vio__vu_backend_requests[];
extern const unsigned vio__vu_nbackend_requests;

/* The row of a request; NULL for one nobody here knows. */
const struct vu_request_row *vio__vu_request_row(uint32_t req);
const struct vu_request_row *vio__vu_backend_request_row(uint32_t req);

/* Names for log lines ("unknown request" when not in the table). */
const char *vio__vu_request_name(uint32_t req);
const char *vio__vu_backend_request_name(uint32_t req);

/* Does a payload of `size` bytes (its first bytes at p, zero-filled past
 * size) follow the rule? */
bool vio__vu_size_ok(const struct vu_size *rule, uint32_t size, const union vu_payload *p);

/* The number of fds a request must carry: exactly that many, or -1 for
 * "0 or 1". Unknown requests (row NULL) carry none. */
int vio__vu_fds_expected(const struct vu_request_row *row, uint32_t size, const union vu_payload *p);

/* May the request be sent with these protocol features negotiated? */
bool vio__vu_feature_ok(const struct vu_request_row *row, uint64_t protocol_features);

#endif
