/*
 * vhost_user_codec.c - vhost-user framing and the request table, shared
 * by the backend and the frontend (see vhost_user_codec.h).
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "vhost_user_codec.h"

/* ------------------------------------------------------------------------ */
/* Framing                                                                  */

void vio__vu_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void vio__vu_fd_sink_take(struct vu_fd_sink *s, int fd)
{
	if (s && s->n < s->max)
		s->fds[s->n] = fd;
	else
		close(fd);
	if (s)
		s->n++;
}

void vio__vu_fd_sink_close(struct vu_fd_sink *s)
{
	for (unsigned i = 0; i < s->n && i < s->max; i++)
		vio__vu_close_fd(&s->fds[i]);
	s->n = 0;
}

uint64_t vio__vu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t vio__vu_deadline_ns(int ms)
{
	return vio__vu_now_ns() + (uint64_t)(ms > 0 ? ms : 0) * 1000000u;
}

int vio__vu_wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		const uint64_t now = vio__vu_now_ns();
		uint64_t ms;
		int r;

		if (now >= deadline)
			return -ETIMEDOUT;
		ms = (deadline - now + 999999u) / 1000000u;
		r = poll(&p, 1, ms > INT32_MAX ? INT32_MAX : (int)ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			continue;       /* the loop's check says whether time is up */
		if (p.revents & events)
			return 0;
		return -ECONNRESET;     /* POLLHUP or POLLERR, and nothing to do */
	}
}

int vio__vu_send(int sock, uint64_t deadline, uint32_t req, uint32_t flags, const void *payload,
	    uint32_t size, const int *fds, unsigned nfds)
{
	struct vu_header h = { req, flags, size };
	uint8_t buf[sizeof(h) + sizeof(union vu_payload)];
	char control[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
	const size_t total = sizeof(h) + size;
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	size_t done = 0;

	if (size > sizeof(union vu_payload) || nfds > VU_MAX_FDS)
		return -EINVAL;
	memcpy(buf, &h, sizeof(h));
	if (size)
		memcpy(buf + sizeof(h), payload, size);
	if (nfds) {
		struct cmsghdr *c;

		memset(control, 0, sizeof(control));
		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	while (done < total) {
		ssize_t n;

		iov.iov_base = buf + done;
		iov.iov_len = total - done;
		n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = vio__vu_wait_fd(sock, POLLOUT, deadline);

			if (r)
				return r == -ETIMEDOUT ? r : -ECONNRESET;
			continue;
		}
		if (n <= 0)
			return -ECONNRESET;
		done += (size_t)n;
		/* The fds went with the first bytes. */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
	}
	return 0;
}

/* The fds of a recvmsg that succeeded go to the sink. */
static void take_fds(struct msghdr *mh, struct vu_fd_sink *sink)
{
	if ((mh->msg_flags & MSG_CTRUNC) && sink)
		sink->truncated = true;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int got;

			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			vio__vu_fd_sink_take(sink, got);
		}
	}
}

/* One recvmsg with room for VU_MAX_FDS; cmsgs are looked at only when it
 * succeeded. */
static ssize_t recv_some(int sock, void *buf, size_t len, int flags, struct vu_fd_sink *sink)
{
	char control[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = control, .msg_controllen = sizeof(control) };
	ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags);

	if (n >= 0)
		take_fds(&mh, sink);
	return n;
}

int vio__vu_recv_full(int sock, void *buf, size_t len, uint64_t deadline, struct vu_fd_sink *sink)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = recv_some(sock, p, len, MSG_DONTWAIT, sink);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = vio__vu_wait_fd(sock, POLLIN, deadline);

			if (r)
				return r;
			continue;
		}
		if (n <= 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int vio__vu_recv(int sock, struct vu_header *h, void *payload, size_t max, struct vu_fd_sink *sink,
	    uint64_t *deadline, int timeout_ms)
{
	size_t got = 0;
	int r;

	if (*deadline == 0) {
		/* Waiting for a message may take any time; finishing it may not. */
		ssize_t n;

		do {
			n = recv_some(sock, h, sizeof(*h), 0, sink);
		} while (n < 0 && errno == EINTR);
		if (n <= 0)
			return -ECONNRESET;
		got = (size_t)n;
		*deadline = vio__vu_deadline_ns(timeout_ms);
	}
	r = vio__vu_recv_full(sock, (uint8_t *)h + got, sizeof(*h) - got, *deadline, sink);
	if (r)
		return r;
	if ((h->flags & VU_VERSION_MASK) != VU_VERSION)
		return -EPROTO;
	if (h->size > max)
		return -EMSGSIZE;
	memset(payload, 0, max);
	return vio__vu_recv_full(sock, payload, h->size, *deadline, sink);
}

/* ------------------------------------------------------------------------ */
/* The request table                                                        */

#define EXACT(n) { VU_SIZE_EXACT, (n), (n) }
#define NOTHING EXACT(0)
#define U64 EXACT(sizeof(uint64_t))
#define STATE EXACT(sizeof(struct vu_vring_state))
#define CONFIG { VU_SIZE_CONFIG, VU_CONFIG_HDR, VU_CONFIG_HDR + VU_CONFIG_MAX }
#define MEM_TABLE { VU_SIZE_MEM_TABLE, 8 + sizeof(struct vu_mem_region), sizeof(struct vu_mem_table) }
#define NONE VU_NO_FEATURE
#define PF(f) VU_PROTOCOL_F_##f
#define ROWS(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Rows in request order. Columns: request, name, payload size, fds with
 * it, the protocol feature it needs, reply rule, reply payload, fds with
 * the reply. A needed feature is listed where the backend enforces it;
 * requests libvio serves on neither side (SET_VRING_ENDIAN, VRING_KICK)
 * keep the checks the backend made before it refuses them as not
 * supported.
 */
const struct vu_request_row vio__vu_requests[] = {
	{ VU_GET_FEATURES, "GET_FEATURES", NOTHING, VU_FDS_NONE, NONE, VU_REPLY_ALWAYS, U64, 0 },
	{ VU_SET_FEATURES, "SET_FEATURES", U64, VU_FDS_NONE, NONE, VU_REPLY_ACK, NOTHING, 0 },
	{ VU_SET_OWNER, "SET_OWNER", NOTHING, VU_FDS_NONE, NONE, VU_REPLY_ACK, NOTHING, 0 },
	{ VU_RESET_OWNER, "RESET_OWNER", NOTHING, VU_FDS_NONE, NONE, VU_REPLY_ACK, NOTHING, 0 },
	{ VU_SET_MEM_TABLE, "SET_MEM_TABLE", MEM_TABLE, VU_FDS_PER_REGION, NONE, VU_REPLY_ACK, NOTHING, 0 },
	/* Size and fd checked by the handler, which must answer even a
	 * malformed one: QEMU always waits for this reply (with LOG_SHMFD),
	 * empty, or a u64 verdict when it asked for one with REPLY_ACK. */
	{ VU_SET_LOG_BASE, "SET_LOG_BASE", { VU_SIZE_RANGE, 0, 0xffff }, VU_FDS_UP_TO_ONE,
	  PF(LOG_SHMFD), VU_REPLY_ALWAYS, { VU_SIZE_RANGE, 0, 8 }, 0 },
	{ VU_SET_LOG_FD, "SET_LOG_FD", NOTHING, VU_FDS_ONE, NONE, VU_REPLY_ACK, NOTHING, 0 },
	{ VU_SET_VRING_NUM, "SET_VRING_NUM", STATE, VU_FDS_NONE, NONE, VU_REPLY_ACK, NOTHING, 0 },
	{ VU_SET_VRING_ADDR, "SET_VRING_ADDR", EXACT(sizeof(struct vu_vring_addr)), VU_FDS_NONE, NONE,
	  VU_REPLY_ACK, NOTHING, 0 },
	{ VU_SET_VRING_BASE, "SET_VRING_BASE", STATE, VU_FDS_NONE, NONE, VU_REPLY_ACK, NOTHING, 0 },
	{ VU_GET_VRING_BASE, "GET_VRING_BASE", STATE, VU_FDS_NONE, NONE, VU_REPLY_ALWAYS, STATE, 0 },
	{ VU_SET_VRING_KICK, "SET_VRING_KICK", U64, VU_FDS_UNLESS_NOFD, NONE, VU_REPLY_ACK, NOTHING, 0 },
	{ VU_SET_VRING_CALL, "SET_VRING_CALL", U64, VU_FDS_UNLESS_NOFD, NONE, VU_REPLY_ACK, NOTHING, 0 },
	{ VU_SET_VRING_ERR, "SET_VRING_ERR", U64, VU_FDS_UNLESS_NOFD, NONE, VU_REPLY_ACK, NOTHING, 0 },
	{ VU_GET_PROTOCOL_FEATURES, "GET_PROTOCOL_FEATURES", NOTHING, VU_FDS_NONE, NONE,
	  VU_REPLY_ALWAYS, U64, 0 },
	{ VU_SET_PROTOCOL_FEATURES, "SET_PROTOCOL_FEATURES", U64, VU_FDS_NONE, NONE, VU_REPLY_ACK,
	  NOTHING, 0 },
	{ VU_GET_QUEUE_NUM, "GET_QUEUE_NUM", NOTHING, VU_FDS_NONE, PF(MQ), VU_REPLY_ALWAYS, U64, 0 },
	{ VU_SET_VRING_ENABLE, "SET_VRING_ENABLE", STATE, VU_FDS_NONE, NONE, VU_REPLY_ACK, NOTHING, 0 },
	{ VU_SEND_RARP, "SEND_RARP", U64, VU_FDS_NONE, PF(RARP), VU_REPLY_ACK, NOTHING, 0 },
	{ VU_NET_SET_MTU, "NET_SET_MTU", U64, VU_FDS_NONE, PF(MTU), VU_REPLY_ACK, NOTHING, 0 },
	{ VU_SET_BACKEND_REQ_FD, "SET_BACKEND_REQ_FD", NOTHING, VU_FDS_ONE, PF(BACKEND_REQ),
	  VU_REPLY_ACK, NOTHING, 0 },
	{ VU_SET_VRING_ENDIAN, "SET_VRING_ENDIAN", STATE, VU_FDS_NONE, NONE, VU_REPLY_ACK, NOTHING, 0 },
	{ VU_GET_CONFIG, "GET_CONFIG", CONFIG, VU_FDS_NONE, PF(CONFIG), VU_REPLY_ALWAYS, CONFIG, 0 },
	{ VU_SET_CONFIG, "SET_CONFIG", CONFIG, VU_FDS_NONE, PF(CONFIG), VU_REPLY_ACK, NOTHING, 0 },
	{ VU_GET_INFLIGHT_FD, "GET_INFLIGHT_FD", EXACT(sizeof(struct vu_inflight)), VU_FDS_NONE,
	  PF(INFLIGHT_SHMFD), VU_REPLY_ALWAYS, EXACT(sizeof(struct vu_inflight)), 1 },
	{ VU_SET_INFLIGHT_FD, "SET_INFLIGHT_FD", EXACT(sizeof(struct vu_inflight)), VU_FDS_ONE,
	  PF(INFLIGHT_SHMFD), VU_REPLY_ACK, NOTHING, 0 },
	{ VU_RESET_DEVICE, "RESET_DEVICE", NOTHING, VU_FDS_NONE, PF(RESET_DEVICE), VU_REPLY_ACK,
	  NOTHING, 0 },
	{ VU_VRING_KICK, "VRING_KICK", STATE, VU_FDS_NONE, NONE, VU_REPLY_ACK, NOTHING, 0 },
	{ VU_GET_MAX_MEM_SLOTS, "GET_MAX_MEM_SLOTS", NOTHING, VU_FDS_NONE, PF(CONFIGURE_MEM_SLOTS),
	  VU_REPLY_ALWAYS, U64, 0 },
	{ VU_ADD_MEM_REG, "ADD_MEM_REG", EXACT(sizeof(struct vu_mem_single)), VU_FDS_ONE,
	  PF(CONFIGURE_MEM_SLOTS), VU_REPLY_ACK, NOTHING, 0 },
	/* 0 fds, or 1 from older frontends (closed unused) */
	{ VU_REM_MEM_REG, "REM_MEM_REG", EXACT(sizeof(struct vu_mem_single)), VU_FDS_UP_TO_ONE,
	  PF(CONFIGURE_MEM_SLOTS), VU_REPLY_ACK, NOTHING, 0 },
	{ VU_SET_STATUS, "SET_STATUS", U64, VU_FDS_NONE, PF(STATUS), VU_REPLY_ACK, NOTHING, 0 },
	{ VU_GET_STATUS, "GET_STATUS", NOTHING, VU_FDS_NONE, PF(STATUS), VU_REPLY_ALWAYS, U64, 0 },
};
const unsigned vio__vu_nrequests = ROWS(vio__vu_requests);

/* Requests on the backend channel (backend to frontend). */
const struct vu_request_row vio__vu_backend_requests[] = {
	{ VU_BACKEND_CONFIG_CHANGE_MSG, "CONFIG_CHANGE_MSG", NOTHING, VU_FDS_NONE, PF(CONFIG),
	  VU_REPLY_ACK, NOTHING, 0 },
};
const unsigned vio__vu_nbackend_requests = ROWS(vio__vu_backend_requests);

static const struct vu_request_row *find(const struct vu_request_row *rows, unsigned n, uint32_t req)
{
	for (unsigned i = 0; i < n; i++)
		if (rows[i].request == req)
			return &rows[i];
	return NULL;
}

const struct vu_request_row *vio__vu_request_row(uint32_t req)
{
	return find(vio__vu_requests, vio__vu_nrequests, req);
}

const struct vu_request_row *vio__vu_backend_request_row(uint32_t req)
{
	return find(vio__vu_backend_requests, vio__vu_nbackend_requests, req);
}

const char *vio__vu_request_name(uint32_t req)
{
	const struct vu_request_row *r = vio__vu_request_row(req);

	return r ? r->name : "unknown request";
}

const char *vio__vu_backend_request_name(uint32_t req)
{
	const struct vu_request_row *r = vio__vu_backend_request_row(req);

	return r ? r->name : "unknown request";
}

bool vio__vu_size_ok(const struct vu_size *rule, uint32_t size, const union vu_payload *p)
{
	switch (rule->rule) {
	case VU_SIZE_EXACT:
		return size == rule->min;
	case VU_SIZE_RANGE:
		return size >= rule->min && size <= rule->max;
	case VU_SIZE_CONFIG:
		return size >= VU_CONFIG_HDR && p->config.size <= VU_CONFIG_MAX &&
		       size == VU_CONFIG_HDR + p->config.size;
	case VU_SIZE_MEM_TABLE:
		return size >= 8 && p->mem.nregions >= 1 && p->mem.nregions <= VU_MEM_TABLE_MAX &&
		       size == 8 + p->mem.nregions * sizeof(struct vu_mem_region);
	default:
		return false;
	}
}

int vio__vu_fds_expected(const struct vu_request_row *row, uint32_t size, const union vu_payload *p)
{
	if (!row)
		return 0;
	switch (row->fds) {
	case VU_FDS_ONE:
		return 1;
	case VU_FDS_UNLESS_NOFD:
		return (p->u64 & VU_VRING_NOFD) ? 0 : 1;
	case VU_FDS_PER_REGION:
		return size >= 8 && p->mem.nregions <= VU_MEM_TABLE_MAX ? (int)p->mem.nregions : 0;
	case VU_FDS_UP_TO_ONE:
		return -1;
	default:
		return 0;
	}
}

bool vio__vu_feature_ok(const struct vu_request_row *row, uint64_t protocol_features)
{
	return !row || row->feature == VU_NO_FEATURE || ((protocol_features >> row->feature) & 1);
}
