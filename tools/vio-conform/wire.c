/*
 * wire.c - vio-conform's vhost-user messages on a unix socket.
 *
 * A message is a 12-byte header (request, flags, payload size, host byte
 * order) and the payload; fds travel as SCM_RIGHTS with the header's first
 * byte. Receiving waits with a deadline, so a backend that never answers
 * is seen as such (-ETIMEDOUT) rather than hanging the tool.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conform.h"

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int vc_send_raw(int sock, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VC_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	size_t done = 0;

	if (nfds > VC_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	while (done < len) {
		ssize_t n;

		iov.iov_base = (char *)buf + done;
		iov.iov_len = len - done;
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = { sock, POLLOUT, 0 };

			if (poll(&p, 1, 2000) <= 0)
				return -ETIMEDOUT;
			continue;
		}
		if (n < 0)
			return -errno;
		done += (size_t)n;
		mh.msg_control = NULL;  /* fds go with the first byte only */
		mh.msg_controllen = 0;
	}
	return 0;
}

int vc_send(int sock, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
	    const int *fds, unsigned nfds)
{
	uint8_t buf[12 + VC_MAX_PAYLOAD];
	uint32_t h[3] = { req, flags, size };

	if (size > VC_MAX_PAYLOAD)
		return -EINVAL;
	memcpy(buf, h, 12);
	if (size)
		memcpy(buf + 12, payload, size);
	return vc_send_raw(sock, buf, 12 + size, fds, nfds);
}

/* Reads exactly len bytes before the deadline, collecting fds. */
static int read_full(int sock, void *buf, size_t len, long deadline, struct vc_msg *m)
{
	size_t got = 0;

	while (got < len) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * VC_MAX_FDS)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { (char *)buf + got, len - got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				     .msg_controllen = sizeof(ctl.buf) };
		struct pollfd p = { sock, POLLIN, 0 };
		long left = deadline - now_ms();
		ssize_t n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			return -ETIMEDOUT;
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return errno == ECONNRESET ? -ECONNRESET : -errno;
		if (n == 0)
			return -ECONNRESET;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			int fds[VC_MAX_FDS * 2];

			if (k > VC_MAX_FDS * 2)
				k = VC_MAX_FDS * 2;
			memcpy(fds, CMSG_DATA(c), k * sizeof(int));
			for (unsigned i = 0; i < k; i++) {
				if (m && m->nfds < VC_MAX_FDS)
					m->fds[m->nfds++] = fds[i];
				else
					close(fds[i]);
			}
		}
		got += (size_t)n;
	}
	return 0;
}

int vc_recv(int sock, struct vc_msg *m, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	uint32_t h[3];
	int r;

	m->nfds = 0;
	m->size = 0;
	r = read_full(sock, h, sizeof(h), deadline, m);
	if (r)
		return r;
	m->req = h[0];
	m->flags = h[1];
	m->size = h[2];
	if (m->size > VC_MAX_PAYLOAD)
		return -EPROTO;
	return m->size ? read_full(sock, m->payload, m->size, deadline, m) : 0;
}

void vc_msg_close_fds(struct vc_msg *m)
{
	for (unsigned i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	m->nfds = 0;
}

bool vc_peer_closed(int sock, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	char buf[512];

	for (;;) {
		struct pollfd p = { sock, POLLIN, 0 };
		long left = deadline - now_ms();
		ssize_t n;

		if (left <= 0)
			return false;
		if (poll(&p, 1, (int)left) <= 0)
			return false;
		n = recv(sock, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return true;
	}
}

const char *vc_req_name(uint32_t req)
{
	static const char *const names[] = {
		[VU_GET_FEATURES] = "GET_FEATURES", [VU_SET_FEATURES] = "SET_FEATURES",
		[VU_SET_OWNER] = "SET_OWNER", [VU_RESET_OWNER] = "RESET_OWNER",
		[VU_SET_MEM_TABLE] = "SET_MEM_TABLE", [VU_SET_LOG_BASE] = "SET_LOG_BASE",
		[VU_SET_LOG_FD] = "SET_LOG_FD", [VU_SET_VRING_NUM] = "SET_VRING_NUM",
		[VU_SET_VRING_ADDR] = "SET_VRING_ADDR", [VU_SET_VRING_BASE] = "SET_VRING_BASE",
		[VU_GET_VRING_BASE] = "GET_VRING_BASE", [VU_SET_VRING_KICK] = "SET_VRING_KICK",
		[VU_SET_VRING_CALL] = "SET_VRING_CALL", [VU_SET_VRING_ERR] = "SET_VRING_ERR",
		[VU_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
		[VU_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
		[VU_GET_QUEUE_NUM] = "GET_QUEUE_NUM", [VU_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
		[VU_GET_CONFIG] = "GET_CONFIG", [VU_SET_CONFIG] = "SET_CONFIG",
		[VU_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD", [VU_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
		[VU_RESET_DEVICE] = "RESET_DEVICE", [VU_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
		[VU_ADD_MEM_REG] = "ADD_MEM_REG", [VU_REM_MEM_REG] = "REM_MEM_REG",
		[VU_SET_STATUS] = "SET_STATUS", [VU_GET_STATUS] = "GET_STATUS",
	};

	if (req < sizeof(names) / sizeof(names[0]) && names[req])
		return names[req];
	return "?";
}
