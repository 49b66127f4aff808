/*
 * vhost_user_frontend.c - the driver side of vhost-user: libvio's drivers
 * over any vhost-user backend (see vio/transport/vhost_user_frontend.h for the contract).
 *
 * We play the part QEMU plays for a guest: we own the memory (one memfd,
 * which is also the drivers' DMA memory), the rings in it and the virtio
 * status machine, and tell the backend over the socket where everything
 * is. The driver model's calls map onto messages: FEATURES_OK becomes
 * SET_FEATURES, DRIVER_OK starts the enabled rings, status 0 stops them.
 *
 * The backend is not trusted. Every reply is read with a deadline and
 * checked field by field before anything in it is used; a reply that is
 * wrong in any way drops the connection (the stream can no longer be
 * trusted to be in step) with a log line naming what was wrong. Nothing
 * the backend sends is ever used as a pointer or an index unchecked.
 *
 * Threads: the driver side of one device is single-threaded (vio/core.h).
 * The lock only keeps one request/reply exchange on the socket at a time,
 * so a caller polling from another thread cannot interleave messages.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vio/inflight.h"
#include "vio/transport/vhost_user_frontend.h"
#include "vhost_user_codec.h"
#include "vhost_user_fe_net.h"


/* Protocol features we can use. */
#define OUR_PROTOCOL_FEATURES                                                  \
	(VIO_BIT(VU_PROTOCOL_F_MQ) | VIO_BIT(VU_PROTOCOL_F_REPLY_ACK) |        \
	 VIO_BIT(VU_PROTOCOL_F_BACKEND_REQ) | VIO_BIT(VU_PROTOCOL_F_CONFIG) |  \
	 VIO_BIT(VU_PROTOCOL_F_RESET_DEVICE) | VIO_BIT(VU_PROTOCOL_F_STATUS) | \
	 VIO_BIT(VU_PROTOCOL_F_INFLIGHT_SHMFD) | VIO_BIT(VU_PROTOCOL_F_LOG_SHMFD))

/* Ring features this transport carries: the backend reads our rings
 * directly, so every layout and notification scheme works. Not
 * ACCESS_PLATFORM (we send no IOTLB) and not RING_RESET (vhost-user has
 * no per-queue reset). */
#define CARRIED_FEATURES                                                       \
	(VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_INDIRECT_DESC) |             \
	 VIO_BIT(VIO_F_EVENT_IDX) | VIO_BIT(VIO_F_NOTIFY_ON_EMPTY) |           \
	 VIO_BIT(VIO_F_ANY_LAYOUT) | VIO_BIT(VIO_F_RING_PACKED) |              \
	 VIO_BIT(VIO_F_IN_ORDER))

#define PACKED_WRAP_BIT (1u << VIO_PACKED_EVENT_WRAP_SHIFT)

static struct vio_vu_frontend *fe_of(struct vio_drv_device *vdev)
{
	return vdev->transport;
}

/* ------------------------------------------------------------------------ */
/* Logging                                                                  */

static void flog(struct vio_vu_frontend *fe, enum vio_log_level level, const char *fmt, ...)
	VIO_PRINTF(3, 4);

static void flog(struct vio_vu_frontend *fe, enum vio_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vio_vlogf(fe->cfg.log, fe->cfg.log_opaque, level, "vhost-user frontend: ", fmt, ap);
	va_end(ap);
}

void vio__vu_fe_log(struct vio_vu_frontend *fe, enum vio_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vio_vlogf(fe->cfg.log, fe->cfg.log_opaque, level, "vhost-user frontend: ", fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */

static int64_t now_ms(void)
{
	return (int64_t)(vio__vu_now_ns() / 1000000u);
}

/* A deadline of ours (now_ms) as the codec's (vio__vu_now_ns). */
static uint64_t ns_of(int64_t ms)
{
	return (uint64_t)ms * 1000000u;
}

static void signal_fd(int fd)
{
	uint64_t one = 1;

	while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/*
 * Empties an eventfd (they are all non-blocking); whether it had fired.
 * One read takes the whole count, so one is all it does: the backend
 * holds a copy and could keep a loop of reads going forever.
 */
static bool drain_fd(int fd)
{
	uint64_t v;
	ssize_t n;

	while ((n = read(fd, &v, sizeof(v))) < 0 && errno == EINTR)
		;
	return n == (ssize_t)sizeof(v);
}

static bool has_pf(const struct vio_vu_frontend *fe, unsigned bit)
{
	return vio_has_feature(fe->protocol_features, bit);
}

static bool connected(const struct vio_vu_frontend *fe)
{
	return fe->sock >= 0;
}

/* ------------------------------------------------------------------------ */
/* DMA memory: the shared memfd, carved up by the transports' allocator      */

static void *fe_dma_alloc(struct vio_drv_device *vdev, size_t size, size_t align, uint64_t *dma)
{
	return vio__dma_arena_alloc(&fe_of(vdev)->dma, size, align, dma);
}

static void fe_dma_free(struct vio_drv_device *vdev, void *p, size_t size)
{
	vio__dma_arena_free(&fe_of(vdev)->dma, p, size);
}

static uint64_t fe_dma_addr(struct vio_drv_device *vdev, const void *p)
{
	return vio__dma_arena_addr(&fe_of(vdev)->dma, p);
}

/* Is guest range [ga, ga + len) inside our memory? */
static bool guest_range_ok(const struct vio_vu_frontend *fe, uint64_t ga, uint64_t len)
{
	return ga >= VIO_VU_FE_GUEST_BASE && ga - VIO_VU_FE_GUEST_BASE <= fe->mem_len &&
	       len <= fe->mem_len - (ga - VIO_VU_FE_GUEST_BASE);
}

/* Guest address -> our user address (what SET_VRING_ADDR carries). */
static uint64_t guest_to_user(const struct vio_vu_frontend *fe, uint64_t ga)
{
	return (uint64_t)(uintptr_t)fe->mem + (ga - VIO_VU_FE_GUEST_BASE);
}

static int memory_create(struct vio_vu_frontend *fe, size_t bytes)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t pg = page > 0 ? (size_t)page : 4096;
	int r;

	if (bytes == 0 || bytes > SIZE_MAX - pg)
		return -EINVAL;
	fe->mem_len = (bytes + pg - 1) / pg * pg;
	fe->mem_fd = memfd_create("vio-vu-frontend", MFD_CLOEXEC);
	if (fe->mem_fd < 0)
		return -errno;
	if (ftruncate(fe->mem_fd, (off_t)fe->mem_len) < 0)
		return -errno;
	fe->mem = mmap(NULL, fe->mem_len, PROT_READ | PROT_WRITE, MAP_SHARED, fe->mem_fd, 0);
	if (fe->mem == MAP_FAILED) {
		r = -errno;
		fe->mem = NULL;
		return r;
	}
	/* Alignments up to a page are real in the mapping and at the guest
	 * address alike. */
	return vio__dma_arena_init(&fe->dma, fe->mem, fe->mem_len, VIO_VU_FE_GUEST_BASE, pg);
}

/* ------------------------------------------------------------------------ */
/* Connection                                                               */

/*
 * Drops the connection. err says why: -ECONNRESET when the backend simply
 * went away (the device keeps its state for reconnect), anything else when
 * it broke the protocol (the device then needs a reset).
 */
static void drop(struct vio_vu_frontend *fe, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void drop(struct vio_vu_frontend *fe, int err, const char *fmt, ...)
{
	char why[200];
	va_list ap;

	va_start(ap, fmt);
	vio_vformat(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (connected(fe))
		flog(fe, err == -ECONNRESET ? VIO_LOG_WARN : VIO_LOG_ERR,
		     "%s; connection dropped", why);
	vio__vu_close_fd(&fe->sock);
	vio__vu_close_fd(&fe->backend_fd);
	for (unsigned i = 0; i < VIO_VU_MAX_QUEUES; i++)
		fe->queues[i].started = false;
	fe->err = err;
	if (err != -ECONNRESET) {
		fe->needs_reset = true;
		fe->config_irq_pending = true;
	}
}

/* ------------------------------------------------------------------------ */
/* The backend channel's budget                                             */

/*
 * Messages on the backend channel come unasked, and a backend could send
 * them without end: each costs us a read and perhaps a reply, and while
 * we read them we do not read the main socket. So the channel is served
 * at most CHANNEL_BURST messages per CHANNEL_WINDOW_MS; beyond that it is
 * left unread until the window ends (the backend's sends block: its
 * problem, not ours) and the main socket is waited on alone. A backend
 * that behaves sends a handful a second.
 */
#define CHANNEL_BURST 64u
#define CHANNEL_WINDOW_MS 100

/* Milliseconds until the channel may be read again; 0: it may now. */
static int64_t channel_throttled(const struct vio_vu_frontend *fe, int64_t now)
{
	if (now >= fe->channel_window_end || fe->channel_served < CHANNEL_BURST)
		return 0;
	return fe->channel_window_end - now;
}

/* Takes one message from the budget; false when it is spent. */
static bool channel_take(struct vio_vu_frontend *fe)
{
	const int64_t now = now_ms();

	if (now >= fe->channel_window_end) {
		fe->channel_window_end = now + CHANNEL_WINDOW_MS;
		fe->channel_served = 0;
	}
	if (fe->channel_served >= CHANNEL_BURST) {
		if (!fe->channel_flood_logged)
			flog(fe, VIO_LOG_WARN, "the backend sends more than %u messages per %d ms "
			     "on its channel: they are read at that rate", CHANNEL_BURST,
			     CHANNEL_WINDOW_MS);
		fe->channel_flood_logged = true;
		return false;
	}
	fe->channel_served++;
	return true;
}

static void service_backend_channel(struct vio_vu_frontend *fe, int64_t deadline);

/*
 * Waits for the socket to become readable before the deadline, serving
 * the backend channel meanwhile (within its budget): a backend may wait
 * for our answer there before it answers us here. The deadline is fixed
 * when the exchange begins; nothing the channel brings moves it.
 */
static int wait_reply(struct vio_vu_frontend *fe, int64_t deadline)
{
	while (connected(fe)) {
		const int64_t now = now_ms();
		const int64_t throttled = channel_throttled(fe, now);
		struct pollfd pfd[2] = { { fe->sock, POLLIN, 0 },
					 { throttled ? -1 : fe->backend_fd, POLLIN, 0 } };
		int64_t left = deadline - now;
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		if (throttled && throttled < left)
			left = throttled;
		r = poll(pfd, 2, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (pfd[0].revents)
			return 0;
		if (pfd[1].revents)
			service_backend_channel(fe, deadline);
	}
	return 0; /* the channel broke the connection: the caller sees it */
}

/* The checks of recv_reply_fds; fds that came are in sink either way. */
static int recv_reply_checked(struct vio_vu_frontend *fe, int64_t deadline, uint32_t req,
			      const struct vu_size *rule, unsigned max_fds, void *payload,
			      uint32_t size, bool *size_ok, struct vu_fd_sink *sink)
{
	struct vu_header h;
	int r;

	r = wait_reply(fe, deadline);
	if (r == 0 && !connected(fe))
		return fe->err;         /* the backend channel broke the stream */
	if (r == 0)
		r = vio__vu_recv_full(fe->sock, &h, sizeof(h), ns_of(deadline), sink);
	if (r == -ETIMEDOUT) {
		drop(fe, r, "no reply to %s within %d ms", vio__vu_request_name(req), fe->cfg.timeout_ms);
		return r;
	}
	if (r) {
		drop(fe, -ECONNRESET, "backend closed the connection waiting for the %s reply",
		     vio__vu_request_name(req));
		return -ECONNRESET;
	}
	if ((h.flags & VU_VERSION_MASK) != VU_VERSION) {
		drop(fe, -EPROTO, "%s reply has version %u, not 1", vio__vu_request_name(req),
		     h.flags & VU_VERSION_MASK);
		return -EPROTO;
	}
	if (!(h.flags & VU_FLAG_REPLY) || (h.flags & ~(VU_VERSION_MASK | VU_FLAG_REPLY))) {
		drop(fe, -EPROTO, "%s reply has flags %#x (REPLY missing or unknown bits)",
		     vio__vu_request_name(req), h.flags);
		return -EPROTO;
	}
	if (h.request != req) {
		drop(fe, -EPROTO, "reply to request %u where %s (%u) was asked", h.request,
		     vio__vu_request_name(req), req);
		return -EPROTO;
	}
	if (sink->n > max_fds) {
		drop(fe, -EPROTO, "%s reply carried %u file descriptors", vio__vu_request_name(req),
		     sink->n);
		return -EPROTO;
	}
	/* A config reply has the size asked for, or only its header: the
	 * backend's way to refuse. The table's rule is checked on the
	 * payload too once it is read (config_get compares the fields). */
	if (rule->rule == VU_SIZE_CONFIG && size_ok && h.size == VU_CONFIG_HDR &&
	    size != VU_CONFIG_HDR) {
		*size_ok = false;
		size = VU_CONFIG_HDR;
	} else if (h.size != size) {
		drop(fe, -EPROTO, "%s reply has a %u-byte payload, expected %u", vio__vu_request_name(req),
		     h.size, size);
		return -EPROTO;
	} else if (size_ok) {
		*size_ok = true;
	}
	r = vio__vu_recv_full(fe->sock, payload, size, ns_of(deadline), sink);
	if (r == 0 && sink->n > max_fds)
		r = -EPROTO;
	if (r == -ETIMEDOUT) {
		drop(fe, r, "the %s reply was not complete within %d ms", vio__vu_request_name(req),
		     fe->cfg.timeout_ms);
		return r;
	}
	if (r) {
		drop(fe, r == -EPROTO ? r : -ECONNRESET, "%s reply payload: %s", vio__vu_request_name(req),
		     r == -EPROTO ? "unexpected file descriptors" : vio_strerror(r));
		return r == -EPROTO ? r : -ECONNRESET;
	}
	return 0;
}

/* REPLY_ACK's verdict: a u64, no fds. */
static const struct vu_size verdict_size = { VU_SIZE_EXACT, sizeof(uint64_t), sizeof(uint64_t) };

/*
 * Reads the reply to `req` into `payload` (`size` bytes): its payload and
 * fds as the table says (rule, max_fds), checked as it arrives. For
 * GET_CONFIG (size_ok != NULL) a 12-byte reply is also accepted: the
 * backend's way to say it refused, reported through *size_ok = false.
 * Fds the reply carries are kept in fds->fds (how many in fds->n);
 * without `fds`, there may be none. Anything else wrong drops the
 * connection and closes the fds.
 */
static int recv_reply_fds(struct vio_vu_frontend *fe, int64_t deadline, uint32_t req,
			  const struct vu_size *rule, unsigned max_fds, void *payload, uint32_t size,
			  bool *size_ok, struct vu_fd_sink *fds)
{
	struct vu_fd_sink none = { NULL, 0, 0, false };
	struct vu_fd_sink *sink = fds ? fds : &none;
	int r = recv_reply_checked(fe, deadline, req, rule, fds ? max_fds : 0, payload, size,
				   size_ok, sink);

	if (r)
		vio__vu_fd_sink_close(sink);
	return r;
}

/* What one exchange sends, and where its reply goes (requests the table
 * says are answered: VU_REPLY_ALWAYS). */
struct exchange {
	uint32_t req;
	const void *payload;            /* what we send */
	uint32_t size;
	const int *fds;
	unsigned nfds;
	void *reply;                    /* VU_REPLY_ALWAYS: the reply's payload */
	uint32_t reply_size;
	bool *size_ok;                  /* GET_CONFIG: see recv_reply_fds */
	struct vu_fd_sink *reply_fds;   /* fds the reply may carry */
};

/*
 * One exchange, under the lock and within one deadline fixed now: sends
 * req and, when the table says it is answered, reads its reply. Without a
 * reply of its own, with REPLY_ACK, the message asks for the backend's
 * verdict: non-zero is -EIO (refused; the connection stays). Without
 * REPLY_ACK a refusal cannot be seen.
 */
static int exchange(struct vio_vu_frontend *fe, const struct exchange *x)
{
	const struct vu_request_row *row = vio__vu_request_row(x->req);
	const bool answered = row && row->reply == VU_REPLY_ALWAYS;
	const bool ack = !answered && has_pf(fe, VU_PROTOCOL_F_REPLY_ACK);
	uint64_t verdict = 0;
	int64_t deadline;
	int r;

	/* Our own calls must match the table: a reply buffer for exactly
	 * the requests that are answered, of the size they are answered. */
	if (!row || answered != (x->reply != NULL) ||
	    (answered && row->reply_size.rule == VU_SIZE_EXACT &&
	     x->reply_size != row->reply_size.min))
		return -EINVAL;
	if (!connected(fe))
		return -ENOTCONN;
	pthread_mutex_lock(&fe->lock);
	deadline = now_ms() + fe->cfg.timeout_ms;
	r = vio__vu_send(fe->sock, ns_of(deadline), x->req, VU_VERSION | (ack ? VU_FLAG_NEED_REPLY : 0),
		    x->payload, x->size, x->fds, x->nfds);
	if (r) {
		r = r == -ETIMEDOUT ? r : -ECONNRESET;
		drop(fe, r, "could not send %s: %s", vio__vu_request_name(x->req), vio_strerror(r));
	} else if (answered) {
		r = recv_reply_fds(fe, deadline, x->req, &row->reply_size, row->reply_fds, x->reply,
				   x->reply_size, x->size_ok, x->reply_fds);
	} else if (ack) {
		r = recv_reply_fds(fe, deadline, x->req, &verdict_size, 0, &verdict, sizeof(verdict),
				   NULL, NULL);
		if (r == 0 && verdict) {
			flog(fe, VIO_LOG_ERR, "the backend refused %s (%llu)",
			     vio__vu_request_name(x->req), (unsigned long long)verdict);
			r = -EIO;
		}
	}
	pthread_mutex_unlock(&fe->lock);
	return r;
}

/* An exchange with a plain reply (or REPLY_ACK's verdict). */
static int xact(struct vio_vu_frontend *fe, uint32_t req, const void *payload, uint32_t size,
		const int *fds, unsigned nfds, void *reply, uint32_t reply_size)
{
	const struct exchange x = { req, payload, size, fds, nfds, reply, reply_size, NULL, NULL };

	return exchange(fe, &x);
}

static int send_u64(struct vio_vu_frontend *fe, uint32_t req, uint64_t v)
{
	return xact(fe, req, &v, sizeof(v), NULL, 0, NULL, 0);
}

static int get_u64(struct vio_vu_frontend *fe, uint32_t req, uint64_t *v)
{
	return xact(fe, req, NULL, 0, NULL, 0, v, sizeof(*v));
}

static int send_state(struct vio_vu_frontend *fe, uint32_t req, unsigned qi, uint32_t num)
{
	struct vu_vring_state s = { qi, num };

	return xact(fe, req, &s, sizeof(s), NULL, 0, NULL, 0);
}

static int send_vring_fd(struct vio_vu_frontend *fe, uint32_t req, unsigned qi, int fd)
{
	uint64_t v = qi;

	return xact(fe, req, &v, sizeof(v), &fd, 1, NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* Dirty log                                                                */

static void log_release(struct vio_vu_frontend *fe)
{
	if (fe->log)
		munmap(fe->log, (size_t)fe->log_size);
	fe->log = NULL;
	fe->log_size = 0;
	fe->logging = false;
	vio__vu_close_fd(&fe->log_fd);
}

/*
 * SET_LOG_BASE: answered whatever the flags (QEMU waits for it), so not a
 * plain exchange: with REPLY_ACK we ask for the verdict and the reply is a
 * u64, without it the reply is empty and a refusal cannot be seen.
 */
static int send_log_base(struct vio_vu_frontend *fe)
{
	static const struct vu_size verdict_rule = { VU_SIZE_EXACT, 8, 8 };
	static const struct vu_size empty_rule = { VU_SIZE_EXACT, 0, 0 };
	const bool ack = has_pf(fe, VU_PROTOCOL_F_REPLY_ACK);
	const struct vu_log l = { .mmap_size = fe->log_size, .mmap_offset = 0 };
	uint64_t verdict = 0;
	int64_t deadline;
	int r;

	pthread_mutex_lock(&fe->lock);
	deadline = now_ms() + fe->cfg.timeout_ms;
	r = vio__vu_send(fe->sock, ns_of(deadline), VU_SET_LOG_BASE,
			 VU_VERSION | (ack ? VU_FLAG_NEED_REPLY : 0), &l, sizeof(l), &fe->log_fd, 1);
	if (r) {
		r = r == -ETIMEDOUT ? r : -ECONNRESET;
		drop(fe, r, "could not send SET_LOG_BASE: %s", vio_strerror(r));
	} else {
		r = recv_reply_fds(fe, deadline, VU_SET_LOG_BASE, ack ? &verdict_rule : &empty_rule, 0,
				   &verdict, ack ? sizeof(verdict) : 0, NULL, NULL);
		if (r == 0 && verdict) {
			flog(fe, VIO_LOG_ERR, "the backend refused the dirty log (%llu)",
			     (unsigned long long)verdict);
			r = -EIO;
		}
	}
	pthread_mutex_unlock(&fe->lock);
	return r;
}

/* SET_VRING_ADDR again on every running ring, with the log flag as
 * fe->logging says. */
static int log_rings(struct vio_vu_frontend *fe)
{
	int r = 0;

	for (unsigned i = 0; i < fe->num_queues && r == 0; i++) {
		struct vio_vu_fe_queue *q = &fe->queues[i];
		struct vu_vring_addr a = {
			.index = i,
			.flags = fe->logging ? VU_VRING_F_LOG : 0,
			.desc = guest_to_user(fe, q->dma.desc),
			.used = guest_to_user(fe, q->dma.device),
			.avail = guest_to_user(fe, q->dma.driver),
			.log = q->dma.device,
		};

		if (q->started)
			r = xact(fe, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, NULL, 0);
	}
	return r;
}

static int send_features(struct vio_vu_frontend *fe);

int vio_vu_frontend_log_start(struct vio_vu_frontend *fe)
{
	uint64_t bytes = vio_mem_log_bytes_for(VIO_VU_FE_GUEST_BASE + fe->mem_len);
	void *map;
	int r;

	if (!connected(fe))
		return -ENOTCONN;
	if (!fe->log_all_offered || !has_pf(fe, VU_PROTOCOL_F_LOG_SHMFD))
		return -ENOTSUP;
	if (fe->logging || !fe->features_sent)
		return -EBUSY;
	log_release(fe);
	fe->log_fd = memfd_create("vio-dirty-log", MFD_CLOEXEC);
	if (fe->log_fd < 0)
		return -errno;
	if (ftruncate(fe->log_fd, (off_t)bytes)) {
		r = -errno;
		log_release(fe);
		return r;
	}
	map = mmap(NULL, (size_t)bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fe->log_fd, 0);
	if (map == MAP_FAILED) {
		r = -errno;
		log_release(fe);
		return r;
	}
	fe->log = map;
	fe->log_size = bytes;
	/* QEMU's order: the log, then LOG_ALL, then the rings' flags. */
	r = send_log_base(fe);
	if (r == 0) {
		fe->logging = true;
		r = send_features(fe);
	}
	if (r == 0)
		r = log_rings(fe);
	if (r) {
		flog(fe, VIO_LOG_ERR, "dirty logging did not start: %s", vio_strerror(r));
		if (connected(fe))
			(void)vio_vu_frontend_log_stop(fe);
		log_release(fe);
	}
	return r;
}

int vio_vu_frontend_log_stop(struct vio_vu_frontend *fe)
{
	int r = 0;

	if (fe->logging && connected(fe)) {
		fe->logging = false;
		r = send_features(fe);
		if (r == 0)
			r = log_rings(fe);
	}
	log_release(fe);
	return r;
}

size_t vio_vu_frontend_log_sync(struct vio_vu_frontend *fe, uint8_t *dst, size_t len)
{
	size_t n = fe->log ? (fe->log_size < len ? (size_t)fe->log_size : len) : 0;

	/* An exchange per byte: a bit the backend sets after we read the byte
	 * stays for the next sync. Relaxed, as the backend's fetch_or. */
	for (size_t i = 0; i < n; i++)
		dst[i] = __atomic_exchange_n(&fe->log[i], 0, __ATOMIC_RELAXED);
	return n;
}

/* ------------------------------------------------------------------------ */
/* Features                                                                 */

/*
 * GET_FEATURES. The first answer of a connection is the offer; a later
 * one (a sync point) must say the same: a device's offer does not change.
 */
static int fetch_features(struct vio_vu_frontend *fe, bool first, uint64_t *out)
{
	uint64_t f;
	int r = get_u64(fe, VU_GET_FEATURES, &f);

	if (r)
		return r;
	if (!first && (f & ~(VIO_BIT(VU_F_PROTOCOL_FEATURES) | VIO_BIT(VU_F_LOG_ALL))) != fe->offered) {
		drop(fe, -EPROTO, "GET_FEATURES now says %#llx, the backend offered %#llx",
		     (unsigned long long)f, (unsigned long long)fe->offered);
		return -EPROTO;
	}
	if (!first && vio_has_feature(f, VU_F_PROTOCOL_FEATURES) != fe->protocol) {
		drop(fe, -EPROTO, "GET_FEATURES changed the protocol-features bit");
		return -EPROTO;
	}
	*out = f;
	return 0;
}

/* SET_FEATURES with what the driver chose. */
static int send_features(struct vio_vu_frontend *fe)
{
	uint64_t v = vio__vu_fe_net_backend_features(fe, fe->driver_features) |
		     (fe->protocol ? VIO_BIT(VU_F_PROTOCOL_FEATURES) : 0) |
		     (fe->logging ? VIO_BIT(VU_F_LOG_ALL) : 0);
	uint64_t sync;
	int r = send_u64(fe, VU_SET_FEATURES, v);

	/* Without REPLY_ACK, a GET_FEATURES round trip at least proves the
	 * backend read it (and that its offer still stands). */
	if (r == 0 && !has_pf(fe, VU_PROTOCOL_F_REPLY_ACK))
		r = fetch_features(fe, false, &sync);
	if (r == 0)
		fe->features_sent = true;
	return r;
}

/* ------------------------------------------------------------------------ */
/* Rings                                                                    */

static bool packed(const struct vio_vu_frontend *fe)
{
	return vio_has_feature(fe->vdev.features, VIO_F_RING_PACKED);
}

static int queue_fds(struct vio_vu_fe_queue *q)
{
	int *fds[3] = { &q->kick_fd, &q->call_fd, &q->err_fd };

	for (unsigned i = 0; i < 3; i++) {
		if (*fds[i] >= 0)
			continue;
		*fds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (*fds[i] < 0)
			return -errno;
	}
	return 0;
}

/* Hands ring qi to the backend, to resume from `base`. */
static int ring_start(struct vio_vu_frontend *fe, unsigned qi, uint16_t base)
{
	struct vio_vu_fe_queue *q = &fe->queues[qi];
	struct vu_vring_addr a = {
		.index = qi,
		.desc = guest_to_user(fe, q->dma.desc),
		.used = guest_to_user(fe, q->dma.device),
		.avail = guest_to_user(fe, q->dma.driver),
		/* Where the backend logs its used ring writes: the ring's
		 * guest address, as QEMU sends it. */
		.flags = fe->logging ? VU_VRING_F_LOG : 0,
		.log = q->dma.device,
	};
	int r;

	r = queue_fds(q);
	if (r)
		return r;
	r = send_state(fe, VU_SET_VRING_NUM, qi, q->size);
	if (!r)
		r = send_state(fe, VU_SET_VRING_BASE, qi, base);
	if (!r)
		r = xact(fe, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, NULL, 0);
	if (!r)
		r = send_vring_fd(fe, VU_SET_VRING_CALL, qi, q->call_fd);
	if (!r)
		r = send_vring_fd(fe, VU_SET_VRING_ERR, qi, q->err_fd);
	if (!r)
		r = send_vring_fd(fe, VU_SET_VRING_KICK, qi, q->kick_fd);
	if (!r && fe->protocol)
		r = send_state(fe, VU_SET_VRING_ENABLE, qi, vio__vu_fe_net_ring_enabled(fe, qi));
	if (r) {
		flog(fe, VIO_LOG_ERR, "ring %u did not start: %s", qi, vio_strerror(r));
		return r;
	}
	q->started = true;
	return 0;
}

/* SET_VRING_ENABLE of a started ring (the net part's VQ_PAIRS_SET). */
int vio__vu_fe_vring_enable(struct vio_vu_frontend *fe, unsigned qi, bool on)
{
	if (!connected(fe))
		return -ENOTCONN;
	return send_state(fe, VU_SET_VRING_ENABLE, qi, on);
}

/*
 * Is num a base for ring q? Split: a 16-bit index. Packed: a position
 * below the ring size with the wrap counter in bit 15, and in the high
 * half the same for the used side (QEMU's encoding; a backend that sends
 * only the low half leaves it 0).
 */
static bool base_ok(const struct vio_vu_frontend *fe, const struct vio_vu_fe_queue *q, uint32_t num)
{
	if (!packed(fe))
		return num <= UINT16_MAX;
	return (num & 0x7fffu) < q->size && ((num >> 16) & 0x7fffu) < q->size;
}

/* Stops ring qi (GET_VRING_BASE) and checks the answer. */
static int ring_stop(struct vio_vu_frontend *fe, unsigned qi)
{
	struct vio_vu_fe_queue *q = &fe->queues[qi];
	struct vu_vring_state s = { qi, 0 };
	int r;

	q->started = false;
	r = xact(fe, VU_GET_VRING_BASE, &s, sizeof(s), NULL, 0, &s, sizeof(s));
	if (r)
		return r;
	if (s.index != qi || !base_ok(fe, q, s.num)) {
		drop(fe, -EPROTO, "GET_VRING_BASE for ring %u answered ring %u, base %#x", qi,
		     s.index, s.num);
		return -EPROTO;
	}
	q->base = s.num;
	return 0;
}

/*
 * SET_VRING_BASE: for packed we send the avail half only (position and
 * wrap counter), which every backend reads the same way: everything before
 * it is used. That is true both for a fresh ring and for a resumed one.
 * QEMU's high half (the used position) would only differ from it while
 * buffers are in flight, and some backends refuse values above 16 bits.
 */
static uint16_t fresh_base(const struct vio_vu_frontend *fe)
{
	/* Packed: position 0 with the wrap counter at 1. */
	return packed(fe) ? PACKED_WRAP_BIT : 0;
}

static bool ring_ready(const struct vio_vu_fe_queue *q)
{
	return q->set_up && q->enabled && !q->started;
}

/* ------------------------------------------------------------------------ */
/* Inflight log                                                             */

/*
 * The backend makes the log (GET_INFLIGHT_FD) and only it reads or writes
 * it; we keep the fd so that the next backend finds what this one had
 * taken and not used. We never map it.
 */

static void inflight_release(struct vio_vu_frontend *fe)
{
	vio__vu_close_fd(&fe->inflight_fd);
	fe->inflight_size = fe->inflight_offset = 0;
	fe->inflight_queues = fe->inflight_queue_size = 0;
}

/* The ring size the log must cover: the largest set up (all queues of a
 * log share one size). */
static unsigned largest_ring(const struct vio_vu_frontend *fe)
{
	unsigned m = 0;

	for (unsigned i = 0; i < fe->num_queues; i++) {
		if (fe->queues[i].set_up && fe->queues[i].size > m)
			m = fe->queues[i].size;
	}
	return m;
}

/* Is the log the backend described usable for what we asked? (logs and
 * drops the connection when not) */
static bool inflight_reply_ok(struct vio_vu_frontend *fe, const struct vu_inflight *in,
			      unsigned nfds, int fd, unsigned qsize)
{
	const uint64_t need = (uint64_t)vio_inflight_queue_bytes(packed(fe), qsize) *
			      fe->num_queues;
	struct stat st;

	if (nfds != 1) {
		drop(fe, -EPROTO, "GET_INFLIGHT_FD reply: a %llu-byte log with %u fds, not 1",
		     (unsigned long long)in->mmap_size, nfds);
		return false;
	}
	if (in->mmap_size < need) {
		drop(fe, -EPROTO, "GET_INFLIGHT_FD reply: a %llu-byte log, %llu needed for %u queues "
		     "of %u", (unsigned long long)in->mmap_size, (unsigned long long)need,
		     fe->num_queues, qsize);
		return false;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || in->mmap_offset > UINT64_MAX - in->mmap_size ||
	    in->mmap_offset + in->mmap_size > (uint64_t)st.st_size) {
		drop(fe, -EPROTO, "GET_INFLIGHT_FD reply: log [%llu, +%llu) is not inside its file",
		     (unsigned long long)in->mmap_offset, (unsigned long long)in->mmap_size);
		return false;
	}
	return true;
}

/* GET_INFLIGHT_FD for every queue at the largest ring. A backend that
 * declines (mmap_size 0) leaves us without a log, which is no error. */
static int inflight_get(struct vio_vu_frontend *fe)
{
	const unsigned qsize = largest_ring(fe);
	struct vu_inflight in;
	int fd = -1;
	struct vu_fd_sink sink = { &fd, 1, 0, false };
	int r;

	if (qsize == 0)
		return 0;
	memset(&in, 0, sizeof(in));     /* the padding goes on the wire too */
	in.num_queues = (uint16_t)fe->num_queues;
	in.queue_size = (uint16_t)qsize;
	r = exchange(fe, &(struct exchange){ .req = VU_GET_INFLIGHT_FD, .payload = &in,
					     .size = sizeof(in), .reply = &in,
					     .reply_size = sizeof(in), .reply_fds = &sink });
	if (r)
		return r;
	if (in.mmap_size == 0) {
		flog(fe, VIO_LOG_INFO, "the backend keeps no inflight log%s",
		     sink.n ? " (and sent an fd anyway: closed)" : "");
		vio__vu_fd_sink_close(&sink);
		return 0;
	}
	if (!inflight_reply_ok(fe, &in, sink.n, fd, qsize)) {
		vio__vu_fd_sink_close(&sink);
		return -EPROTO;
	}
	fe->inflight_fd = fd;
	fe->inflight_size = in.mmap_size;
	fe->inflight_offset = in.mmap_offset;
	fe->inflight_queues = (uint16_t)fe->num_queues;
	fe->inflight_queue_size = (uint16_t)qsize;
	return 0;
}

/*
 * Before the rings start: the log goes (back) to the backend, made first
 * if we have none. A backend without the feature gets none, and a log we
 * held is dropped: rings it runs would leave it stale, and a later backend
 * would resubmit from it what was long completed.
 */
static int inflight_start(struct vio_vu_frontend *fe)
{
	struct vu_inflight in;
	int r;

	if (!has_pf(fe, VU_PROTOCOL_F_INFLIGHT_SHMFD)) {
		if (fe->inflight_fd >= 0) {
			flog(fe, VIO_LOG_WARN, "the backend keeps no inflight log: ours is dropped");
			inflight_release(fe);
		}
		return 0;
	}
	if (fe->inflight_fd < 0) {
		r = inflight_get(fe);
		if (r || fe->inflight_fd < 0)
			return r;
	}
	memset(&in, 0, sizeof(in));     /* the padding goes on the wire too */
	in.mmap_size = fe->inflight_size;
	in.mmap_offset = fe->inflight_offset;
	in.num_queues = fe->inflight_queues;
	in.queue_size = fe->inflight_queue_size;
	return xact(fe, VU_SET_INFLIGHT_FD, &in, sizeof(in), &fe->inflight_fd, 1, NULL, 0);
}

/* DRIVER_OK: every enabled ring goes to the backend. */
static int rings_start(struct vio_vu_frontend *fe)
{
	int r = 0;

	/* A legacy driver never sets FEATURES_OK: the features go now. */
	if (!fe->features_sent)
		r = send_features(fe);
	if (!r)
		r = inflight_start(fe);
	for (unsigned i = 0; i < fe->num_queues && r == 0; i++) {
		if (!ring_ready(&fe->queues[i]))
			continue;
		r = vio__vu_fe_net_local_queue(fe, i) ? vio__vu_fe_net_ctrl_start(fe)
						      : ring_start(fe, i, fresh_base(fe));
	}
	return r;
}

/* ------------------------------------------------------------------------ */
/* Resume positions for reconnect                                           */

/*
 * Where a new backend must resume each ring: the first buffer the old one
 * had not used. The shared rings say what it used; the driver queue's
 * shadow says what is still outstanding and how many descriptors each
 * buffer took. Reading that shadow reaches into fields ring.h calls
 * private: the ring layer has no call for this yet, and it belongs there.
 * Everything read from the ring is bounded: a wild value ends the walk.
 */






static uint16_t resume_base(struct vio_vu_frontend *fe, unsigned qi)
{
	const struct vio_drvq *q;

	if (!fe->vdev.vqs || qi >= fe->vdev.nvqs || !fe->vdev.vqs[qi].q.slots)
		return fresh_base(fe);
	q = &fe->vdev.vqs[qi].q;
	return vio_drvq_resume_base(q);
}

/* ------------------------------------------------------------------------ */
/* Backend channel and notifications                                        */

/* Reads and answers one message on the backend channel, if one waits. */
static void backend_msg(struct vio_vu_frontend *fe, int64_t outer)
{
	const int64_t own = now_ms() + fe->cfg.timeout_ms;
	const int64_t deadline = own < outer ? own : outer;
	uint64_t ns = ns_of(deadline);
	union vu_payload p;
	struct vu_header h = { 0, 0, 0 };       /* named in the log even if cut short */
	struct vu_fd_sink fds = { NULL, 0, 0, false }; /* none expected: count and close */
	const struct vu_request_row *row;
	uint64_t verdict = 0;
	int r;

	r = vio__vu_recv(fe->backend_fd, &h, &p, sizeof(p), &fds, &ns, 0);
	if (r == -ECONNRESET) {
		/* The backend may close its end; the main socket tells us
		 * whether it is gone. */
		flog(fe, VIO_LOG_WARN, "the backend closed its channel");
		vio__vu_close_fd(&fe->backend_fd);
		return;
	}
	if (r) {
		drop(fe, -EPROTO, "malformed message on the backend channel (request %u, %u bytes)",
		     h.request, h.size);
		return;
	}
	if (fds.n)
		flog(fe, VIO_LOG_WARN, "closed %u unexpected fds from the backend", fds.n);
	row = vio__vu_backend_request_row(h.request);
	if (!row) {
		flog(fe, VIO_LOG_WARN, "backend request %u not supported", h.request);
		verdict = 1;
	} else if (!vio__vu_size_ok(&row->size, h.size, &p)) {
		flog(fe, VIO_LOG_WARN, "backend request %s with a %u-byte payload: refused",
		     row->name, h.size);
		verdict = 1;
	} else if (!vio__vu_feature_ok(row, fe->protocol_features)) {
		flog(fe, VIO_LOG_WARN, "backend request %s without its protocol feature: refused",
		     row->name);
		verdict = 1;
	} else {
		switch (h.request) {
		case VU_BACKEND_CONFIG_CHANGE_MSG:
			fe->config_generation++;
			fe->config_irq_pending = true;
			break;
		}
	}
	if (!(h.flags & VU_FLAG_NEED_REPLY) || !has_pf(fe, VU_PROTOCOL_F_REPLY_ACK))
		return;
	/* A backend that asks and does not read the answers fills the
	 * channel: past the deadline it is as good as gone. */
	r = vio__vu_send(fe->backend_fd, ns_of(deadline), h.request, VU_VERSION | VU_FLAG_REPLY, &verdict,
		    sizeof(verdict), NULL, 0);
	if (r == -ETIMEDOUT) {
		drop(fe, r, "the backend does not read the replies on its channel");
	} else if (r) {
		flog(fe, VIO_LOG_WARN, "the backend closed its channel");
		vio__vu_close_fd(&fe->backend_fd);
	}
}

/*
 * Serves the messages waiting on the backend channel without blocking,
 * as many as its budget allows; replies are sent before the deadline.
 */
static void service_backend_channel(struct vio_vu_frontend *fe, int64_t deadline)
{
	while (fe->backend_fd >= 0) {
		struct pollfd pfd = { fe->backend_fd, POLLIN, 0 };

		if (poll(&pfd, 1, 0) <= 0 || !channel_take(fe))
			return;
		backend_msg(fe, deadline);
	}
}

/* The socket is readable while no reply is due: EOF, or a backend that
 * talks out of turn. */
static void check_socket(struct vio_vu_frontend *fe)
{
	uint8_t b;
	ssize_t n;

	pthread_mutex_lock(&fe->lock);
	if (connected(fe)) {
		n = recv(fe->sock, &b, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			drop(fe, -ECONNRESET, "the backend went away");
		else if (n > 0)
			drop(fe, -EPROTO, "the backend sent a message nobody asked for");
	}
	pthread_mutex_unlock(&fe->lock);
}

/*
 * One poll over everything the backend can wake us with, until the
 * deadline (INT64_MAX: none). A backend channel over its budget is left
 * out until its window ends, and then polled again within the same wait.
 * Returns poll's result; pfd[] holds the calls and errors of each queue,
 * then the channel, then the main socket.
 */
static int wait_events(struct vio_vu_frontend *fe, struct pollfd *pfd, unsigned n,
		       int64_t deadline)
{
	for (;;) {
		const int64_t now = now_ms();
		const int64_t throttled = channel_throttled(fe, now);
		int64_t left = deadline == INT64_MAX ? -1 : deadline > now ? deadline - now : 0;
		int r;

		pfd[n - 2].fd = throttled ? -1 : fe->backend_fd;
		if (throttled && (left < 0 || throttled < left))
			left = throttled;
		r = poll(pfd, n, left > INT32_MAX ? INT32_MAX : (int)left);
		if (r != 0 || now_ms() >= deadline)
			return r;
	}
}

static int fe_wait(struct vio_drv_device *vdev, int timeout_ms)
{
	struct vio_vu_frontend *fe = fe_of(vdev);
	struct pollfd pfd[2 * VIO_VU_MAX_QUEUES + 2];
	unsigned n = 0, nq = fe->num_queues;
	int64_t deadline = timeout_ms < 0 ? INT64_MAX : now_ms() + timeout_ms;
	bool any;
	int r;

	for (unsigned i = 0; i < nq; i++) {
		pfd[n++] = (struct pollfd){ fe->queues[i].call_fd, POLLIN, 0 };
		pfd[n++] = (struct pollfd){ fe->queues[i].err_fd, POLLIN, 0 };
	}
	pfd[n++] = (struct pollfd){ fe->backend_fd, POLLIN, 0 };
	pfd[n++] = (struct pollfd){ fe->sock, POLLIN, 0 };
	/* Something already pending needs no sleep. */
	if (fe->config_irq_pending)
		deadline = 0;
	r = wait_events(fe, pfd, n, deadline);
	if (r < 0)
		return errno == EINTR ? 0 : -errno; /* a signal: a spurious wakeup */
	any = r > 0 || fe->config_irq_pending;
	if (r > 0 && pfd[n - 1].revents)
		check_socket(fe);
	if (r > 0 && pfd[n - 2].revents) {
		pthread_mutex_lock(&fe->lock);
		service_backend_channel(fe, now_ms() + fe->cfg.timeout_ms);
		pthread_mutex_unlock(&fe->lock);
	}
	for (unsigned i = 0; r > 0 && i < nq; i++) {
		if (pfd[2 * i + 1].revents && drain_fd(fe->queues[i].err_fd)) {
			flog(fe, VIO_LOG_ERR, "the backend reports an error on ring %u", i);
			fe->needs_reset = true;
			fe->config_irq_pending = true;
		}
	}
	if (fe->config_irq_pending) {
		fe->config_irq_pending = false;
		vio_drv_config_interrupt(vdev);
	}
	for (unsigned i = 0; r > 0 && i < nq; i++) {
		if (pfd[2 * i].revents && drain_fd(fe->queues[i].call_fd))
			vio_drv_interrupt(vdev, i);
	}
	return any ? 0 : -ETIMEDOUT;
}

static void fe_notify(struct vio_drv_device *vdev, unsigned qi)
{
	struct vio_vu_frontend *fe = fe_of(vdev);

	if (vio__vu_fe_net_local_queue(fe, qi))
		vio__vu_fe_net_ctrl_kick(fe);
	else if (qi < fe->num_queues && fe->queues[qi].kick_fd >= 0)
		signal_fd(fe->queues[qi].kick_fd);
}

/* ------------------------------------------------------------------------ */
/* Status                                                                   */

/* Status 0: the backend stops every ring and forgets the session's
 * device state; we forget the queues. */
static void reset(struct vio_vu_frontend *fe)
{
	for (unsigned i = 0; i < fe->num_queues; i++) {
		if (fe->queues[i].started)
			(void)ring_stop(fe, i);
	}
	if (connected(fe) && has_pf(fe, VU_PROTOCOL_F_RESET_DEVICE))
		(void)xact(fe, VU_RESET_DEVICE, NULL, 0, NULL, 0, NULL, 0);
	if (connected(fe) && has_pf(fe, VU_PROTOCOL_F_STATUS))
		(void)send_u64(fe, VU_SET_STATUS, 0);
	/* A new session starts with a new log, as QEMU's vhost-user-blk
	 * does: the old one describes rings that are gone. */
	inflight_release(fe);
	vio__vu_fe_net_reset(fe);
	for (unsigned i = 0; i < VIO_VU_MAX_QUEUES; i++) {
		struct vio_vu_fe_queue *q = &fe->queues[i];

		q->set_up = q->enabled = q->started = false;
		q->size = 0;
		memset(&q->dma, 0, sizeof(q->dma));
		if (q->call_fd >= 0)
			drain_fd(q->call_fd);
		if (q->kick_fd >= 0)
			drain_fd(q->kick_fd);
		if (q->err_fd >= 0)
			drain_fd(q->err_fd);
	}
	fe->status = 0;
	fe->needs_reset = false;
	fe->features_sent = false;
	fe->driver_features = 0;
}

static uint8_t fe_get_status(struct vio_drv_device *vdev)
{
	struct vio_vu_frontend *fe = fe_of(vdev);
	uint8_t s = fe->status;
	uint64_t b;

	if (connected(fe) && has_pf(fe, VU_PROTOCOL_F_STATUS) && s &&
	    get_u64(fe, VU_GET_STATUS, &b) == 0) {
		if (b > UINT8_MAX) {
			drop(fe, -EPROTO, "GET_STATUS answered %#llx, not a status byte",
			     (unsigned long long)b);
		} else {
			/* The backend can refuse features and ask for a reset;
			 * the rest is what the driver wrote. */
			if (!(b & VIO_STATUS_FEATURES_OK))
				s &= (uint8_t)~VIO_STATUS_FEATURES_OK;
			if (b & VIO_STATUS_NEEDS_RESET)
				fe->needs_reset = true;
		}
	}
	if (fe->needs_reset)
		s |= VIO_STATUS_NEEDS_RESET;
	return s;
}

/*
 * The backend refused (REPLY_ACK) a SET_STATUS that added `add`. A device
 * that will not take FEATURES_OK does not read it back, and the driver
 * model then gives up, as Linux does; one that will not take DRIVER_OK
 * cannot be used: it reads back NEEDS_RESET, and the driver is told.
 */
static void status_refused(struct vio_vu_frontend *fe, uint8_t add)
{
	if (add & VIO_STATUS_FEATURES_OK) {
		flog(fe, VIO_LOG_ERR, "the backend refused FEATURES_OK: the device failed");
		fe->status &= (uint8_t)~VIO_STATUS_FEATURES_OK;
	}
	if (add & VIO_STATUS_DRIVER_OK) {
		flog(fe, VIO_LOG_ERR, "the backend refused DRIVER_OK: the device needs a reset");
		fe->needs_reset = true;
		fe->config_irq_pending = true;
	}
}

static void fe_set_status(struct vio_drv_device *vdev, uint8_t status)
{
	struct vio_vu_frontend *fe = fe_of(vdev);
	uint8_t add = (uint8_t)(status & ~fe->status & ~VIO_STATUS_NEEDS_RESET);

	if (status == 0) {
		reset(fe);
		return;
	}
	if (add & VIO_STATUS_FEATURES_OK) {
		if (!connected(fe) || send_features(fe))
			add &= (uint8_t)~VIO_STATUS_FEATURES_OK;
	}
	fe->status |= add;
	if ((add & VIO_STATUS_DRIVER_OK) && connected(fe) && rings_start(fe)) {
		fe->needs_reset = true;
		fe->config_irq_pending = true;
	}
	if (add && connected(fe) && has_pf(fe, VU_PROTOCOL_F_STATUS) &&
	    send_u64(fe, VU_SET_STATUS, fe->status) == -EIO)
		status_refused(fe, add);
}

/* ------------------------------------------------------------------------ */
/* The rest of the driver-side transport                                    */

static uint64_t fe_get_features(struct vio_drv_device *vdev)
{
	return fe_of(vdev)->presented;
}

static int fe_set_features(struct vio_drv_device *vdev, uint64_t features)
{
	struct vio_vu_frontend *fe = fe_of(vdev);

	if (features & ~fe->presented)
		return -EINVAL;
	if (fe->status & VIO_STATUS_FEATURES_OK)
		return -EBUSY;
	fe->driver_features = features;
	fe->features_sent = false;
	return 0;
}

static uint64_t fe_transport_features(struct vio_drv_device *vdev)
{
	return CARRIED_FEATURES & ~fe_of(vdev)->cfg.features_off;
}

/*
 * GET_CONFIG of [off, off + n), n <= VU_CONFIG_MAX. Asked as [0, off + n)
 * whenever that fits in one message, as QEMU's frontend always asks from
 * offset 0: libvhost-user hands its device only the size, so
 * qemu-storage-daemon answers from the start of its config space whatever
 * offset was asked, and a read of one field at its offset would return the
 * first bytes (the capacity) instead.
 */
static int config_get(struct vio_vu_frontend *fe, unsigned off, void *buf, unsigned n)
{
	const unsigned from = off + n <= VU_CONFIG_MAX ? 0 : off;
	const unsigned len = off + n - from;
	struct vu_config c = { .offset = from, .size = len, .flags = 0 };
	bool size_ok = true;
	int r;

	r = exchange(fe, &(struct exchange){ .req = VU_GET_CONFIG, .payload = &c,
					     .size = VU_CONFIG_HDR + len, .reply = &c,
					     .reply_size = VU_CONFIG_HDR + len,
					     .size_ok = &size_ok });
	if (r)
		return r;
	if (!size_ok) {
		flog(fe, VIO_LOG_ERR, "the backend refused GET_CONFIG [%u, +%u)", from, len);
		return -EIO;
	}
	if (c.offset != from || c.size != len) {
		drop(fe, -EPROTO, "GET_CONFIG [%u, +%u) answered [%u, +%u)", from, len, c.offset,
		     c.size);
		return -EPROTO;
	}
	memcpy(buf, c.data + (off - from), n);
	return 0;
}

/* SET_CONFIG of [off, off + n), n <= VU_CONFIG_MAX. */
static int config_set(struct vio_vu_frontend *fe, unsigned off, const void *buf, unsigned n)
{
	struct vu_config c = { .offset = off, .size = n, .flags = 0 }; /* 0: the driver writes */

	memcpy(c.data, buf, n);
	return xact(fe, VU_SET_CONFIG, &c, VU_CONFIG_HDR + n, NULL, 0, NULL, 0);
}

/* Config space in chunks a message can carry. */
static int config_access(struct vio_vu_frontend *fe, bool write, unsigned off, void *buf,
			 unsigned len)
{
	if (fe->net.config_local)
		return vio__vu_fe_net_config(fe, write, off, buf, len);
	if (!has_pf(fe, VU_PROTOCOL_F_CONFIG))
		return -ENOTSUP;
	if (off > UINT32_MAX - len)
		return -EINVAL;
	while (len) {
		unsigned n = len < VU_CONFIG_MAX ? len : VU_CONFIG_MAX;
		int r;

		if (!connected(fe))
			return -ENOTCONN;
		r = write ? config_set(fe, off, buf, n) : config_get(fe, off, buf, n);
		if (r)
			return r;
		off += n;
		buf = (uint8_t *)buf + n;
		len -= n;
	}
	return 0;
}

static int fe_config_read(struct vio_drv_device *vdev, unsigned off, void *buf, unsigned len)
{
	return config_access(fe_of(vdev), false, off, buf, len);
}

static int fe_config_write(struct vio_drv_device *vdev, unsigned off, const void *buf, unsigned len)
{
	return config_access(fe_of(vdev), true, off, (void *)buf, len);
}

static uint32_t fe_config_generation(struct vio_drv_device *vdev)
{
	struct vio_vu_frontend *fe = fe_of(vdev);

	/* A change the backend announced counts even before wait() ran. */
	pthread_mutex_lock(&fe->lock);
	service_backend_channel(fe, now_ms() + fe->cfg.timeout_ms);
	pthread_mutex_unlock(&fe->lock);
	return fe->config_generation;
}

static unsigned fe_num_queues(struct vio_drv_device *vdev)
{
	return fe_of(vdev)->num_queues;
}

static unsigned fe_queue_max(struct vio_drv_device *vdev, unsigned qi)
{
	struct vio_vu_frontend *fe = fe_of(vdev);

	return qi < fe->num_queues ? fe->cfg.queue_max : 0;
}

static int fe_queue_setup(struct vio_drv_device *vdev, unsigned qi, unsigned size,
			  const struct vio_ring_addrs *dma)
{
	struct vio_vu_frontend *fe = fe_of(vdev);
	const uint64_t f = vdev->features;
	struct vio_vu_fe_queue *q;

	if (qi >= fe->num_queues || size == 0 || size > fe->cfg.queue_max ||
	    !vio_ring_size_valid(f, size))
		return -EINVAL;
	q = &fe->queues[qi];
	if (q->started || q->enabled)
		return -EBUSY;
	if (!guest_range_ok(fe, dma->desc, vio_ring_desc_bytes(f, size)) ||
	    !guest_range_ok(fe, dma->driver, vio_ring_driver_bytes(f, size)) ||
	    !guest_range_ok(fe, dma->device, vio_ring_device_bytes(f, size)))
		return -EFAULT; /* the backend could not reach it */
	q->size = size;
	q->dma = *dma;
	q->set_up = true;
	return 0;
}

static int fe_queue_enable(struct vio_drv_device *vdev, unsigned qi)
{
	struct vio_vu_frontend *fe = fe_of(vdev);
	struct vio_vu_fe_queue *q;
	int r;

	if (qi >= fe->num_queues || !fe->queues[qi].set_up)
		return -EINVAL;
	q = &fe->queues[qi];
	r = queue_fds(q);
	if (r)
		return r;
	q->enabled = true;
	/* After DRIVER_OK a ring goes live at once. */
	if ((fe->status & VIO_STATUS_DRIVER_OK) && vio__vu_fe_net_local_queue(fe, qi))
		return fe->net.ctrlq_live ? 0 : vio__vu_fe_net_ctrl_start(fe);
	if ((fe->status & VIO_STATUS_DRIVER_OK) && connected(fe) && !q->started)
		return ring_start(fe, qi, fresh_base(fe));
	return 0;
}

/* The drivers' deadlines run on the clock the exchanges use. */
static uint64_t fe_now_ns(struct vio_drv_device *vdev)
{
	(void)vdev;
	return vio__vu_now_ns();
}

static const struct vio_transport_ops vu_frontend_ops = {
	.version = VIO_TRANSPORT_OPS_VERSION,
	.get_status = fe_get_status,
	.set_status = fe_set_status,
	.get_features = fe_get_features,
	.set_features = fe_set_features,
	.transport_features = fe_transport_features,
	.config_read = fe_config_read,
	.config_write = fe_config_write,
	.config_generation = fe_config_generation,
	.num_queues = fe_num_queues,
	.queue_max = fe_queue_max,
	.queue_setup = fe_queue_setup,
	.queue_enable = fe_queue_enable,
	.notify = fe_notify,
	.dma_alloc = fe_dma_alloc,
	.dma_free = fe_dma_free,
	.dma_addr = fe_dma_addr,
	.wait = fe_wait,
	.now_ns = fe_now_ns,
	.legacy_align = 0,      /* the three areas travel separately */
};

/* ------------------------------------------------------------------------ */
/* Handshake                                                                */

static int setup_backend_channel(struct vio_vu_frontend *fe)
{
	int sv[2], r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	r = xact(fe, VU_SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1, NULL, 0);
	close(sv[1]);
	if (r) {
		close(sv[0]);
		return r;
	}
	fe->backend_fd = sv[0];
	return 0;
}

static int send_mem_table(struct vio_vu_frontend *fe)
{
	struct vu_mem_table t = { .nregions = 1 };

	t.regions[0] = (struct vu_mem_region){
		.guest_addr = VIO_VU_FE_GUEST_BASE,
		.size = fe->mem_len,
		.user_addr = (uint64_t)(uintptr_t)fe->mem,
		.mmap_offset = 0,
	};
	return xact(fe, VU_SET_MEM_TABLE, &t, 8 + sizeof(t.regions[0]), &fe->mem_fd, 1, NULL, 0);
}

/* Queue count: GET_QUEUE_NUM with MQ; on reconnect it may not shrink. */
static int fetch_queue_num(struct vio_vu_frontend *fe, bool first)
{
	uint64_t n = fe->cfg.num_queues;
	int r;

	if (has_pf(fe, VU_PROTOCOL_F_MQ)) {
		r = get_u64(fe, VU_GET_QUEUE_NUM, &n);
		if (r)
			return r;
		if (n == 0) {
			drop(fe, -EPROTO, "GET_QUEUE_NUM answered 0");
			return -EPROTO;
		}
		if (n > VIO_VU_MAX_QUEUES) {
			flog(fe, VIO_LOG_WARN, "backend has %llu queues; using %u",
			     (unsigned long long)n, VIO_VU_MAX_QUEUES);
			n = VIO_VU_MAX_QUEUES;
		}
	}
	if (first && n == 0) {
		flog(fe, VIO_LOG_ERR, "no queue count: no MQ, and the caller gave none");
		return -EINVAL;
	}
	if (first) {
		fe->num_queues = (unsigned)n;
	} else if (n < vio__vu_fe_net_backend_queues(fe)) {
		drop(fe, -EPROTO, "the backend now has %llu queues, we use %u",
		     (unsigned long long)n, vio__vu_fe_net_backend_queues(fe));
		return -EPROTO;
	}
	return 0;
}

/*
 * The handshake every connection starts with. On a reconnect (first ==
 * false) the new backend must still offer what the session uses.
 */
static int handshake(struct vio_vu_frontend *fe, bool first)
{
	uint64_t f, pf = 0;
	int r;

	fe->protocol_features = 0;
	r = fetch_features(fe, true, &f);
	if (r)
		return r;
	if (!first && (vio__vu_fe_net_backend_features(fe, fe->driver_features) & ~f)) {
		drop(fe, -EPROTO, "the backend no longer offers features %#llx in use",
		     (unsigned long long)(vio__vu_fe_net_backend_features(fe, fe->driver_features) &
					  ~f));
		return -EPROTO;
	}
	/* Bits 30 and 26 are vhost-user's, not the device's. */
	/* A new backend has no log: logging ends (log_start again). */
	fe->logging = false;
	fe->offered = f & ~(VIO_BIT(VU_F_PROTOCOL_FEATURES) | VIO_BIT(VU_F_LOG_ALL));
	fe->protocol = vio_has_feature(f, VU_F_PROTOCOL_FEATURES);
	fe->log_all_offered = vio_has_feature(f, VU_F_LOG_ALL);
	if (fe->protocol) {
		r = get_u64(fe, VU_GET_PROTOCOL_FEATURES, &pf);
		if (r)
			return r;
		/* Bits we do not know are the backend's business: we use
		 * the ones we both have. */
		pf &= OUR_PROTOCOL_FEATURES & ~fe->cfg.protocol_features_off;
		r = send_u64(fe, VU_SET_PROTOCOL_FEATURES, pf);
		if (r)
			return r;
		fe->protocol_features = pf;
	}
	r = xact(fe, VU_SET_OWNER, NULL, 0, NULL, 0, NULL, 0);
	if (!r)
		r = fetch_queue_num(fe, first);
	if (!r && first)
		vio__vu_fe_net_setup(fe);
	if (!r && has_pf(fe, VU_PROTOCOL_F_BACKEND_REQ))
		r = setup_backend_channel(fe);
	if (!r)
		r = send_mem_table(fe);
	return r;
}

static int config_check(struct vio_vu_frontend_config *c)
{
	if (c->queue_max == 0)
		c->queue_max = VIO_VU_FE_QUEUE_MAX;
	if (c->timeout_ms <= 0)
		c->timeout_ms = VIO_VU_FE_TIMEOUT_MS;
	if (c->memory_bytes == 0 || c->num_queues > VIO_VU_MAX_QUEUES || c->queue_max > 32768)
		return -EINVAL;
	return 0;
}

int vio_vu_frontend_connect_fd(struct vio_vu_frontend *fe, int sock,
			       const struct vio_vu_frontend_config *cfg)
{
	int r;

	memset(fe, 0, sizeof(*fe));
	fe->sock = fe->backend_fd = fe->mem_fd = fe->inflight_fd = fe->log_fd = -1;
	for (unsigned i = 0; i < VIO_VU_MAX_QUEUES; i++)
		fe->queues[i].kick_fd = fe->queues[i].call_fd = fe->queues[i].err_fd = -1;
	pthread_mutex_init(&fe->lock, NULL);
	fe->cfg = *cfg;
	r = config_check(&fe->cfg);
	if (r == 0)
		r = memory_create(fe, fe->cfg.memory_bytes);
	fe->sock = sock;
	fe->vdev.ops = &vu_frontend_ops;
	fe->vdev.transport = fe;
	fe->vdev.id = cfg->device_id;
	if (r == 0)
		r = handshake(fe, true);
	if (r) {
		vio_vu_frontend_fini(fe);
		return r;
	}
	fe->err = 0;
	return 0;
}

/*
 * A connected unix stream socket to path, within timeout_ms. A listener
 * whose backlog is full (one that never accepts) would block a plain
 * connect() for good; non-blocking, it says EAGAIN and we try again until
 * the deadline.
 */
static int dial(const char *path, int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : VIO_VU_FE_TIMEOUT_MS);
	int s, r;

	if (!path || strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -errno;
	while (connect(s, (const struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		if (r == -EINTR)
			continue;
		if (r == -EAGAIN && now_ms() < deadline) {
			usleep(5000);
			continue;
		}
		close(s);
		return r == -EAGAIN ? -ETIMEDOUT : r;
	}
	return s;
}

int vio_vu_frontend_connect(struct vio_vu_frontend *fe, const char *socket_path,
			    const struct vio_vu_frontend_config *cfg)
{
	int s = dial(socket_path, cfg->timeout_ms);

	if (s < 0) {
		memset(fe, 0, sizeof(*fe));
		fe->sock = fe->backend_fd = fe->mem_fd = fe->inflight_fd = fe->log_fd = -1;
		return s;
	}
	return vio_vu_frontend_connect_fd(fe, s, cfg);
}

/* Replays the session on a fresh connection: status, features, rings. */
static int replay(struct vio_vu_frontend *fe)
{
	const uint8_t s = fe->status;
	const bool st = has_pf(fe, VU_PROTOCOL_F_STATUS);
	int r = 0;

	if (st && (s & (VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER)))
		r = send_u64(fe, VU_SET_STATUS, s & (VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER));
	if (!r && ((s & VIO_STATUS_FEATURES_OK) || fe->features_sent))
		r = send_features(fe);
	if (!r && st && (s & VIO_STATUS_FEATURES_OK))
		r = send_u64(fe, VU_SET_STATUS, s & (uint8_t)~VIO_STATUS_DRIVER_OK);
	if (r || !(s & VIO_STATUS_DRIVER_OK))
		return r;
	r = inflight_start(fe);
	for (unsigned i = 0; i < fe->num_queues && !r; i++) {
		if (ring_ready(&fe->queues[i]) && !vio__vu_fe_net_local_queue(fe, i))
			r = ring_start(fe, i, resume_base(fe, i));
	}
	if (!r && st)
		r = send_u64(fe, VU_SET_STATUS, s);
	/* Buffers posted while we were away need a kick; buffers the old
	 * backend used just before it died may never have been announced
	 * (with EVENT_IDX the new one will not announce them either): an
	 * interrupt of our own makes the driver look. */
	for (unsigned i = 0; i < fe->num_queues && !r; i++) {
		if (fe->queues[i].started) {
			signal_fd(fe->queues[i].kick_fd);
			signal_fd(fe->queues[i].call_fd);
		}
	}
	return r;
}

int vio_vu_frontend_reconnect_fd(struct vio_vu_frontend *fe, int sock)
{
	int r;

	if (!fe->mem) {
		close(sock);
		return -EINVAL;
	}
	vio_vu_frontend_disconnect(fe);
	fe->sock = sock;
	fe->err = 0;
	fe->channel_flood_logged = false;
	r = handshake(fe, false);
	if (r == 0)
		r = replay(fe);
	if (r) {
		flog(fe, VIO_LOG_ERR, "reconnect failed: %s", vio_strerror(r));
		if (connected(fe))
			drop(fe, r, "reconnect failed");
		fe->err = r;
		return r;
	}
	flog(fe, VIO_LOG_INFO, "reconnected");
	return 0;
}

int vio_vu_frontend_reconnect(struct vio_vu_frontend *fe, const char *socket_path)
{
	int s = dial(socket_path, fe->cfg.timeout_ms);

	if (s < 0)
		return s;
	return vio_vu_frontend_reconnect_fd(fe, s);
}

void vio_vu_frontend_disconnect(struct vio_vu_frontend *fe)
{
	int err = fe->err;

	vio__vu_close_fd(&fe->sock);
	vio__vu_close_fd(&fe->backend_fd);
	for (unsigned i = 0; i < VIO_VU_MAX_QUEUES; i++)
		fe->queues[i].started = false;
	fe->err = err;
}

void vio_vu_frontend_fini(struct vio_vu_frontend *fe)
{
	vio_vu_frontend_disconnect(fe);
	inflight_release(fe);
	log_release(fe);
	for (unsigned i = 0; i < VIO_VU_MAX_QUEUES; i++) {
		vio__vu_close_fd(&fe->queues[i].kick_fd);
		vio__vu_close_fd(&fe->queues[i].call_fd);
		vio__vu_close_fd(&fe->queues[i].err_fd);
	}
	if (fe->mem)
		munmap(fe->mem, fe->mem_len);
	fe->mem = NULL;
	vio__vu_close_fd(&fe->mem_fd);
	vio__dma_arena_fini(&fe->dma);
	pthread_mutex_destroy(&fe->lock);
}

int vio_vu_frontend_call_fd(const struct vio_vu_frontend *fe, unsigned qi)
{
	return qi < fe->num_queues ? fe->queues[qi].call_fd : -1;
}

void vio_vu_frontend_dispatch(struct vio_vu_frontend *fe)
{
	(void)fe_wait(&fe->vdev, 0);
}
