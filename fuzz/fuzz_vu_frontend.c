/*
 * fuzz_vu_frontend.c - libFuzzer target: a hostile vhost-user backend
 * against libvio's frontend (src/transport/vhost_user_frontend.c).
 *
 * The frontend parses everything a backend sends: replies on the main
 * socket (with fds), messages on the backend channel, config bytes (which
 * the blk driver then parses), the inflight log fd it is handed, and the
 * rings in the shared memory. Here every byte of that comes from the
 * input, and the input also says what the driver side does, so a reply can
 * land on any request the frontend makes in any state.
 *
 * One thread, no timing: the fake backend is the input itself. Bytes for
 * the main socket are written into the backend's end of a socketpair
 * before the frontend call that reads them (or, held, from inside that
 * call: the transport ops are interposed), and fds ride along as
 * SCM_RIGHTS. The frontend's requests are drained from that end after
 * every call, which is also where the backend channel's socket (the fd of
 * SET_BACKEND_REQ_FD) is picked up: channel bytes written before that
 * wait until it arrives. A reply the script does not hold times out
 * (timeout_ms is 1) and drops the connection, and at the end of the input
 * the backend's write sides are shut, so everything after sees EOF at
 * once. Whether a read finds its bytes never depends on timing, only on
 * the input.
 *
 * Input (anything is valid; past the end every read is 0; numbers are
 * little-endian; constants in fuzz_input.h):
 *   u8 setup: FZ_FE_RNG the rng device and driver, else blk;
 *             FZ_FE_TWO_QUEUES num_queues 2, else 1 (what the frontend
 *             assumes without MQ); FZ_FE_QMAX64 queue_max 64, else 8;
 *             FZ_FE_PF_OFF(0..3) protocol features the frontend does not
 *             use: none, INFLIGHT_SHMFD, REPLY_ACK, STATUS + RESET_DEVICE;
 *             FZ_FE_F_OFF(0..3) ring features it does not carry: none,
 *             RING_PACKED, EVENT_IDX + INDIRECT_DESC, VERSION_1 (legacy)
 *   records until the input ends, each starting with a u8 tag:
 *     bits 0-1: FZ_FE_MAIN the main socket, FZ_FE_CHAN the backend
 *             channel, FZ_FE_NEXT the main socket of the next connection
 *             (the next CONNECT or RECONNECT reads it), FZ_FE_ACTION
 *     messages:
 *       FZ_FE_FDS(n), bits 2-3: fds riding along: 0, 1, 2, or (3) nine,
 *             more than the frontend's control buffer holds
 *       FZ_FE_BUILT, bit 4: u8 request, u8 flags, u16 len, len bytes,
 *             sent as the header {request, flags, len} and the payload;
 *             else raw: u16 len, len bytes sent as they are (len at most
 *             FZ_FE_MSG_MAX in both)
 *       FZ_FE_HELD, bit 5 (main socket and channel): sent just before the
 *             frontend's next transport op that may talk to the backend
 *             (status, config, queue enable), whether the core, the
 *             driver or a dispatch calls it. So a script can answer a
 *             request made inside a dispatch (the driver rereads its config
 *             after a config change) without the answer being on the
 *             socket when the dispatch looks for unsolicited messages.
 *             SHUT and CLOSE actions can be held the same way: the backend
 *             dies in the middle of an exchange, with requests unread.
 *       then per fd, u8 kind (FZ_FE_FD_*): a memfd of u32 bytes (that
 *             follow), a memfd of u8 pages (that follow), an eventfd, or
 *             the read end of a pipe
 *       Each message is one sendmsg, never blocking the harness. The
 *       frontend's answers to NEED_REPLY are read only after its call
 *       returns: enough of them fill its socket, and its send there then
 *       misses its deadline and drops the connection, as against a real
 *       backend that stops reading.
 *     actions: u8 FZ_FE_A_* (value % FZ_FE_A_COUNT) and its arguments:
 *       CONNECT      connect (the first action of any kind connects first;
 *                    after a failed connect, this tries the next socket)
 *       BIND         put the device on the bus (the driver binds: status,
 *                    features, config, rings, GET_INFLIGHT_FD), or bind
 *                    it again
 *       DISPATCH     vio_vu_frontend_dispatch(): interrupts, the backend
 *                    channel, the socket
 *       POLL         the driver reaps (blk poll, rng poll)
 *       CONFIG_READ  u8 off, u8 len: vio_drv_config_read
 *       CONFIG_WRITE u8 off, u8 len, len bytes: vio_drv_config_write
 *       GENERATION   the config generation (serves the backend channel)
 *       STATUS       vio_drv_get_status
 *       UNBIND       vio_drv_unbind (resets: GET_VRING_BASE, ...)
 *       RECONNECT    vio_vu_frontend_reconnect_fd on the next socket (an
 *                    empty one gives EOF at once)
 *       DISCONNECT   vio_vu_frontend_disconnect
 *       IO           u8 what, u8 sector: blk submits a request (bits 0-2
 *                    type, bits 3-6 queue) on a 4 KiB DMA buffer; rng
 *                    starts a read of 1 + what % 64 bytes
 *       POKE         u32 off, u8 len, len bytes: the backend writes the
 *                    shared memory (rings, buffers, status bytes)
 *       SIGNAL       u8 q: the backend signals ring q's call eventfd (bit
 *                    7: its error eventfd)
 *       SHUT         the backend shuts its write sides (main and channel)
 *       ABORT        vio_blk_drv_abort
 *       CLOSE        the backend dies: it closes its end of the main socket
 *                    and of the channel (the frontend can still read what
 *                    was sent; its sends fail)
 * At the end the backend's write sides are shut, the driver side connects
 * if it never tried, the device leaves the bus and the frontend is
 * finished. No fd may stay open (the count in /proc/self/fd is compared
 * with the one before the run), none of the harness's may be closed behind
 * its back (EBADF when it closes one), and LeakSanitizer checks memory.
 *
 * FUZZ_VU_FE_TRACE=1 prints what happens (every request the frontend
 * sends, each action and its result, the frontend's log, and a summary of
 * how far the run got): use it to check a seed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vhost_user_codec.h"
#include "vio/core.h"
#include "vio/drivers.h"
#include "vio/transport.h"

#include "fuzz_input.h"

#define FZ_MAX_INPUT 32768
#define CHAN_PENDING 32         /* channel records held until the channel exists */
#define HELD_MAX 16             /* records held for the next transport op */
#define MAX_CONNS 6             /* connect attempts per run */
#define IOBUF 4096
#define NREADS 2
#define SNDBUF (4 << 20)

static const char *const action_names[FZ_FE_A_COUNT] = {
	"CONNECT", "BIND", "DISPATCH", "POLL", "CONFIG_READ", "CONFIG_WRITE", "GENERATION",
	"STATUS", "UNBIND", "RECONNECT", "DISCONNECT", "IO", "POKE", "SIGNAL", "SHUT", "ABORT",
	"CLOSE",
};

/* ------------------------------------------------------------------------ */
/* Input                                                                    */

/* The input is read with fuzz_input.h's struct fz: past its end, zeroes. */

/* ------------------------------------------------------------------------ */
/* Tracing                                                                  */

static bool tracing(void)
{
	static int on = -1;

	if (on < 0)
		on = getenv("FUZZ_VU_FE_TRACE") != NULL;
	return on;
}

#define trace(...) do { if (tracing()) fprintf(stderr, __VA_ARGS__); } while (0)

static void fe_log(void *opaque, enum vio_log_level level, const char *msg)
{
	(void)opaque;
	trace("  log[%d] %s\n", level, msg);
}

static void bus_log(void *opaque, enum vio_log_level level, const char *msg)
{
	(void)opaque;
	trace("  bus[%d] %s\n", level, msg);
}

/* ------------------------------------------------------------------------ */
/* One run                                                                  */

/* A message record, kept until it can be sent. */
struct rec {
	uint8_t tag;
	uint8_t buf[FZ_FE_MSG_MAX];
	size_t len;
	unsigned nfds;
	uint8_t kind[9];
	uint32_t size[9];
};

/* How far a run got (the summary FUZZ_VU_FE_TRACE prints). */
struct reach {
	unsigned connects, connected, binds, bound, driver_ok, rings, inflight,
		 config_reads, config_ok, reconnects, reconnected, requests, chan_msgs, io,
		 io_done;
};

struct run {
	struct vio_vu_frontend fe;
	struct vio_vu_frontend_config cfg;
	bool up;                        /* connect succeeded: fini owed */
	bool tried;                     /* connect was attempted */
	bool on_bus;
	bool rng;
	unsigned conns;
	struct vio_bus bus;
	struct vio_blk_driver blk;
	struct vio_rng_driver rngd;
	/* The backend's ends. peer: current main socket; next: the next
	 * connection's (next_fe is the frontend's end, not yet handed over);
	 * chan: the backend channel, once SET_BACKEND_REQ_FD brought it. */
	int peer, fe_end, next, next_fe, chan;
	struct rec pending[CHAN_PENDING];
	unsigned npending;
	/* Records held for the frontend's next transport op (FZ_FE_HELD); a held
 * SHUT or CLOSE is a record tagged FZ_FE_ACTION with the code in buf[0]. */
	struct rec held[HELD_MAX];
	unsigned nheld;
	struct vio_transport_ops shim;
	struct rec m;                           /* the record being read */
	const struct vio_transport_ops *ops;    /* the frontend's own */
	uint8_t *iobuf;
	char id[VIO_BLK_ID_BYTES + 1];
	struct vio_rng_read rd[NREADS];
	uint8_t rdbuf[NREADS][64];
	bool rd_busy[NREADS];
	struct reach reach;
};

static void *heap_alloc(void *opaque, size_t size)
{
	(void)opaque;
	return malloc(size);
}

static void heap_free(void *opaque, void *p, size_t size)
{
	(void)opaque;
	(void)size;
	free(p);
}

/* Closes an fd of ours. EBADF means someone closed it behind our back:
 * the frontend closed an fd it does not own. */
static void xclose(int fd)
{
	if (close(fd) && errno == EBADF) {
		fprintf(stderr, "fuzz_vu_frontend: fd %d of the harness was closed behind its "
			"back\n", fd);
		abort();
	}
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		xclose(*fd);
	*fd = -1;
}

static void big_sndbuf(int fd)
{
	int v = SNDBUF;

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)))
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

/* A connection's socketpair: [0] the frontend's, [1] ours. Both ends
 * buffer a lot, so neither side's sends ever wait on the other. */
static void pair(int *fe_end, int *peer)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	big_sndbuf(sv[0]);
	big_sndbuf(sv[1]);
	*fe_end = sv[0];
	*peer = sv[1];
}

static int make_fd(uint8_t kind, uint32_t size)
{
	int fd = -1, p[2];

	switch (kind & 3) {
	case FZ_FE_FD_MEMFD:
	case FZ_FE_FD_MEMFD_PAGES:
		fd = memfd_create("fz", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, (off_t)size))
			abort();
		break;
	case FZ_FE_FD_EVENTFD:
		fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		break;
	default:
		if (pipe2(p, O_CLOEXEC))
			abort();
		xclose(p[1]);
		fd = p[0];
		break;
	}
	if (fd < 0)
		abort();
	return fd;
}

/* Sends a record (the fds are made now and closed after: the frontend
 * gets its own copies). Never waits: the socket may be full or gone. */
static void send_rec(int sock, const struct rec *m)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 9)];
		struct cmsghdr align;
	} control;
	struct iovec iov = { (void *)m->buf, m->len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[9];

	if (sock < 0 || (m->len == 0 && m->nfds == 0))
		return;
	for (unsigned i = 0; i < m->nfds; i++)
		fds[i] = make_fd(m->kind[i], m->size[i]);
	if (m->nfds) {
		struct cmsghdr *c;

		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * m->nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * m->nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * m->nfds);
	}
	if (sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		trace("  (record of %zu bytes not sent: %s)\n", m->len, strerror(errno));
	for (unsigned i = 0; i < m->nfds; i++)
		xclose(fds[i]);
}

static void parse_rec(struct fz *in, uint8_t tag, struct rec *m)
{
	static const unsigned nfds[4] = { 0, 1, 2, 9 };
	size_t len;

	m->tag = tag;
	m->nfds = nfds[(tag >> 2) & 3];
	if (tag & FZ_FE_BUILT) {
		struct vu_header h;

		h.request = fz_u8(in);
		h.flags = fz_u8(in);
		len = fz_u16(in);
		if (len > FZ_FE_MSG_MAX - sizeof(h))
			len = FZ_FE_MSG_MAX - sizeof(h);
		h.size = (uint32_t)len;
		memcpy(m->buf, &h, sizeof(h));
		fz_fill(in, m->buf + sizeof(h), len);
		m->len = sizeof(h) + len;
	} else {
		len = fz_u16(in);
		if (len > FZ_FE_MSG_MAX)
			len = FZ_FE_MSG_MAX;
		fz_fill(in, m->buf, len);
		m->len = len;
	}
	for (unsigned i = 0; i < m->nfds; i++) {
		m->kind[i] = fz_u8(in);
		m->size[i] = 0;
		if ((m->kind[i] & 3) == FZ_FE_FD_MEMFD)
			m->size[i] = fz_u32(in);
		else if ((m->kind[i] & 3) == FZ_FE_FD_MEMFD_PAGES)
			m->size[i] = (uint32_t)fz_u8(in) * 4096;
	}
}

static void send_chan(struct run *r, const struct rec *m)
{
	r->reach.chan_msgs++;
	send_rec(r->chan, m);
}

/* Reads one message the frontend sent (whole messages: it sends each in
 * one call); 0, or -1 when none. Keeps the backend channel's socket. */
static int recv_request(struct run *r, int sock, bool main)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct vu_header h;
	uint8_t payload[sizeof(union vu_payload)];
	struct iovec iov = { &h, sizeof(h) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf) };
	ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	int fds[VU_MAX_FDS];
	unsigned nfds = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); n >= 0 && c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (nfds < VU_MAX_FDS)
				fds[nfds++] = fd;
			else
				xclose(fd);
		}
	}
	if (n != (ssize_t)sizeof(h)) {
		for (unsigned i = 0; i < nfds; i++)
			xclose(fds[i]);
		return -1;
	}
	memset(payload, 0, sizeof(payload));
	if (h.size && h.size <= sizeof(payload))
		(void)recv(sock, payload, h.size, MSG_DONTWAIT);
	if (main) {
		r->reach.requests++;
		trace("  fe> %s%s, %u bytes, %u fds\n", vio__vu_request_name(h.request),
		      (h.flags & VU_FLAG_NEED_REPLY) ? " (needs a reply)" : "", h.size, nfds);
		if (h.request == VU_SET_VRING_ADDR && r->fe.mem) {
			/* Where the rings are, for writing seeds that use them. */
			struct vu_vring_addr a;
			const uint64_t base = (uint64_t)(uintptr_t)r->fe.mem;

			memcpy(&a, payload, sizeof(a));
			trace("      ring %u at memory offsets desc %#llx avail %#llx used %#llx\n",
			      a.index, (unsigned long long)(a.desc - base),
			      (unsigned long long)(a.avail - base), (unsigned long long)(a.used - base));
		}
	} else {
		trace("  fe> channel reply to %u, %u bytes\n", h.request, h.size);
	}
	if (main && h.request == VU_SET_BACKEND_REQ_FD && nfds == 1) {
		close_fd(&r->chan);
		r->chan = fds[0];
		big_sndbuf(r->chan);
		nfds = 0;
	}
	for (unsigned i = 0; i < nfds; i++)
		xclose(fds[i]);
	return 0;
}

/* After every frontend call: read what it sent, then send the channel
 * records that were waiting for the channel. */
static void drain(struct run *r)
{
	while (r->peer >= 0 && recv_request(r, r->peer, true) == 0)
		;
	if (r->chan >= 0) {
		for (unsigned i = 0; i < r->npending; i++)
			send_chan(r, &r->pending[i]);
		r->npending = 0;
		while (recv_request(r, r->chan, false) == 0)
			;
	}
}

/* The next connection's socketpair; empty, it is shut at once (EOF). */
static void ensure_next(struct run *r, bool shut)
{
	if (r->next < 0) {
		pair(&r->next_fe, &r->next);
		if (shut)
			shutdown(r->next, SHUT_WR);
	}
}

/* The next connection becomes the current one: its frontend end, for
 * connect or reconnect. */
static int take_next(struct run *r)
{
	int fe_end;

	ensure_next(r, true);
	close_fd(&r->peer);
	close_fd(&r->chan);
	close_fd(&r->fe_end);
	r->npending = 0;
	r->peer = r->next;
	fe_end = r->next_fe;
	r->next = r->next_fe = -1;
	return fe_end;
}

/* The backend stops talking: it shuts its write sides, or dies. */
static void backend_stop(struct run *r, uint8_t code)
{
	if (code == FZ_FE_A_CLOSE) {
		close_fd(&r->peer);
		close_fd(&r->chan);
		return;
	}
	if (r->peer >= 0)
		shutdown(r->peer, SHUT_WR);
	if (r->chan >= 0)
		shutdown(r->chan, SHUT_WR);
}

/* Sends a record where its tag says (the channel's wait for the channel);
 * a held SHUT or CLOSE happens now. */
static void deliver(struct run *r, const struct rec *m)
{
	if ((m->tag & 3) == FZ_FE_ACTION) {
		trace("  (held %s)\n", action_names[m->buf[0]]);
		backend_stop(r, m->buf[0]);
	} else if ((m->tag & 3) == FZ_FE_MAIN) {
		send_rec(r->peer, m);
	} else if ((m->tag & 3) == FZ_FE_NEXT) {
		ensure_next(r, false);
		send_rec(r->next, m);
	} else if (r->chan >= 0) {
		send_chan(r, m);
	} else if (r->npending < CHAN_PENDING) {
		r->pending[r->npending++] = *m;
	}
}

/*
 * The frontend's transport ops, interposed: before each op that may talk
 * to the backend (status, config, queue enable; called by the core and
 * the drivers, also from inside a dispatch) the held records go out. So a
 * script can answer a request the frontend makes in the middle of a
 * dispatch (a config read after a config change) without the answer
 * being on the socket while the frontend looks for unsolicited messages.
 */
static struct run *run_of(struct vio_drv_device *dev)
{
	return (struct run *)(void *)((char *)dev - offsetof(struct run, fe.vdev));
}

static void release_held(struct run *r)
{
	if (r->nheld)
		trace("  (%u held records sent)\n", r->nheld);
	for (unsigned i = 0; i < r->nheld; i++)
		deliver(r, &r->held[i]);
	r->nheld = 0;
}

static uint8_t sh_get_status(struct vio_drv_device *dev)
{
	release_held(run_of(dev));
	return run_of(dev)->ops->get_status(dev);
}

static void sh_set_status(struct vio_drv_device *dev, uint8_t status)
{
	release_held(run_of(dev));
	run_of(dev)->ops->set_status(dev, status);
}

static int sh_config_read(struct vio_drv_device *dev, unsigned off, void *buf, unsigned len)
{
	release_held(run_of(dev));
	return run_of(dev)->ops->config_read(dev, off, buf, len);
}

static int sh_config_write(struct vio_drv_device *dev, unsigned off, const void *buf, unsigned len)
{
	release_held(run_of(dev));
	return run_of(dev)->ops->config_write(dev, off, buf, len);
}

static uint32_t sh_config_generation(struct vio_drv_device *dev)
{
	release_held(run_of(dev));
	return run_of(dev)->ops->config_generation(dev);
}

static int sh_queue_enable(struct vio_drv_device *dev, unsigned qi)
{
	release_held(run_of(dev));
	return run_of(dev)->ops->queue_enable(dev, qi);
}

static void interpose(struct run *r)
{
	r->ops = r->fe.vdev.ops;
	r->shim = *r->ops;
	r->shim.get_status = sh_get_status;
	r->shim.set_status = sh_set_status;
	r->shim.config_read = sh_config_read;
	r->shim.config_write = sh_config_write;
	r->shim.config_generation = sh_config_generation;
	r->shim.queue_enable = sh_queue_enable;
	r->fe.vdev.ops = &r->shim;
}

static void io_done(void *opaque, int err)
{
	struct run *r = opaque;

	r->reach.io_done++;
	trace("  blk request done: %d\n", err);
}

static void read_done(struct vio_rng_read *rd, int err)
{
	struct run *r = rd->opaque;

	r->rd_busy[rd - r->rd] = false;
	r->reach.io_done++;
	trace("  rng read done: %d (%zu bytes)\n", err, rd->got);
}

static void connect_now(struct run *r)
{
	int fe_end, ret;

	if (r->up || r->conns >= MAX_CONNS)
		return;
	if (r->tried) {
		fe_end = take_next(r);
	} else {
		fe_end = r->fe_end;
		r->fe_end = -1;
	}
	r->tried = true;
	r->conns++;
	r->reach.connects++;
	ret = vio_vu_frontend_connect_fd(&r->fe, fe_end, &r->cfg);
	trace("  connect: %d\n", ret);
	if (ret)
		return;
	r->up = true;
	r->reach.connected++;
	interpose(r);
	r->iobuf = vio_blk_drv_alloc_buffer(&r->fe.vdev, IOBUF);
}

/* What the frontend holds now, for the summary: the most seen. */
static void note_state(struct run *r)
{
	unsigned rings = 0;

	if (!r->up)
		return;
	if (r->fe.vdev.driver)
		r->reach.bound = 1;
	if (vio_vu_frontend_connected(&r->fe) && (r->fe.status & VIO_STATUS_DRIVER_OK))
		r->reach.driver_ok = 1;
	for (unsigned i = 0; i < r->fe.num_queues; i++)
		rings += r->fe.queues[i].started;
	if (rings > r->reach.rings)
		r->reach.rings = rings;
	if (r->fe.inflight_fd >= 0)
		r->reach.inflight = 1;
}

static void do_io(struct run *r, uint8_t what, uint8_t sector)
{
	static const uint32_t types[8] = {
		VIO_BLK_T_IN, VIO_BLK_T_OUT, VIO_BLK_T_FLUSH, VIO_BLK_T_GET_ID,
		VIO_BLK_T_DISCARD, VIO_BLK_T_WRITE_ZEROES, VIO_BLK_T_IN, VIO_BLK_T_IN,
	};
	int ret;

	if (r->rng) {
		unsigned i = what & 1;

		if (r->rd_busy[i])
			return;
		r->rd[i] = (struct vio_rng_read){ .buf = r->rdbuf[i], .len = 1 + what % 64,
						   .done = read_done, .opaque = r };
		r->rd_busy[i] = true;
		ret = vio_rng_drv_read_async(&r->fe.vdev, &r->rd[i]);
		if (ret < 0)
			r->rd_busy[i] = false;
	} else {
		struct vio_blk_drv_io io = {
			.type = types[what & 7],
			.queue = (what >> 3) & 15,
			.sector = sector,
			.buf = types[what & 7] == VIO_BLK_T_GET_ID ? (void *)r->id : r->iobuf,
			.len = types[what & 7] == VIO_BLK_T_GET_ID ? sizeof(r->id) :
			       512u * (1u + sector % 8),
			.nsectors = 1u + sector % 4,
			.unmap = sector & 1,
			.done = io_done,
			.opaque = r,
		};

		ret = r->iobuf ? vio_blk_drv_submit(&r->fe.vdev, &io) : -ENOMEM;
	}
	r->reach.io += ret == 0;
	trace("  io: %d\n", ret);
}

static void do_action(struct run *r, struct fz *in, uint8_t code)
{
	struct vio_drv_device *dev = &r->fe.vdev;
	uint8_t buf[512];
	int ret = 0;

	trace("action %s\n", action_names[code]);
	if (code != FZ_FE_A_CONNECT && !r->tried)
		connect_now(r);
	switch (code) {
	case FZ_FE_A_CONNECT:
		connect_now(r);
		break;
	case FZ_FE_A_BIND:
		if (!r->up)
			break;
		r->reach.binds++;
		if (!r->on_bus) {
			ret = vio_bus_add_device(&r->bus, dev);
			r->on_bus = ret == 0;
		} else {
			ret = vio_drv_bind(dev);
		}
		trace("  bound: %s\n", dev->driver ? dev->driver->name : "no");
		break;
	case FZ_FE_A_DISPATCH:
		if (r->up)
			vio_vu_frontend_dispatch(&r->fe);
		break;
	case FZ_FE_A_POLL:
		if (r->up && r->rng)
			vio_rng_drv_poll(dev);
		else if (r->up)
			ret = vio_blk_drv_poll(dev);
		break;
	case FZ_FE_A_CONFIG_READ: {
		uint8_t off = fz_u8(in), len = fz_u8(in);

		if (!r->up || !r->on_bus)
			break;
		r->reach.config_reads++;
		ret = vio_drv_config_read(dev, off, buf, len);
		r->reach.config_ok += ret == 0;
		break;
	}
	case FZ_FE_A_CONFIG_WRITE: {
		uint8_t off = fz_u8(in), len = fz_u8(in);

		fz_fill(in, buf, len);
		if (r->up && r->on_bus)
			ret = vio_drv_config_write(dev, off, buf, len);
		break;
	}
	case FZ_FE_A_GENERATION:
		if (r->up && r->on_bus)
			ret = (int)dev->ops->config_generation(dev);
		break;
	case FZ_FE_A_STATUS:
		if (r->up && r->on_bus)
			ret = vio_drv_get_status(dev);
		break;
	case FZ_FE_A_UNBIND:
		if (r->up && r->on_bus)
			vio_drv_unbind(dev);
		break;
	case FZ_FE_A_RECONNECT:
		if (!r->up) {
			connect_now(r);
			break;
		}
		if (r->conns >= MAX_CONNS)
			break;
		r->conns++;
		r->reach.reconnects++;
		ret = vio_vu_frontend_reconnect_fd(&r->fe, take_next(r));
		r->reach.reconnected += ret == 0;
		break;
	case FZ_FE_A_DISCONNECT:
		if (r->up)
			vio_vu_frontend_disconnect(&r->fe);
		break;
	case FZ_FE_A_IO: {
		uint8_t what = fz_u8(in), sector = fz_u8(in);

		if (r->up && r->on_bus)
			do_io(r, what, sector);
		break;
	}
	case FZ_FE_A_POKE: {
		uint32_t off = fz_u32(in);
		uint8_t len = fz_u8(in);

		fz_fill(in, buf, len);
		if (r->up) {
			off %= (uint32_t)r->fe.mem_len;
			if (len > r->fe.mem_len - off)
				len = (uint8_t)(r->fe.mem_len - off);
			memcpy(r->fe.mem + off, buf, len);
		}
		break;
	}
	case FZ_FE_A_SIGNAL: {
		uint8_t q = fz_u8(in);
		uint64_t one = 1;
		int fd;

		if (!r->up || !r->fe.num_queues)
			break;
		fd = (q & 0x80) ? r->fe.queues[(q & 0x7f) % r->fe.num_queues].err_fd
				: vio_vu_frontend_call_fd(&r->fe, (q & 0x7f) % r->fe.num_queues);
		if (fd >= 0 && write(fd, &one, sizeof(one)) != sizeof(one))
			abort();
		break;
	}
	case FZ_FE_A_SHUT:
		backend_stop(r, code);
		break;
	case FZ_FE_A_ABORT:
		if (r->up && r->on_bus && !r->rng)
			ret = vio_blk_drv_abort(dev);
		break;
	default:
		backend_stop(r, code);
		break;
	}
	if (ret)
		trace("  -> %d\n", ret);
	note_state(r);
	drain(r);
}

static void run_init(struct run *r, uint8_t setup)
{
	static const uint64_t pf_off[4] = {
		0, VIO_BIT(VU_PROTOCOL_F_INFLIGHT_SHMFD), VIO_BIT(VU_PROTOCOL_F_REPLY_ACK),
		VIO_BIT(VU_PROTOCOL_F_STATUS) | VIO_BIT(VU_PROTOCOL_F_RESET_DEVICE),
	};
	static const uint64_t f_off[4] = {
		0, VIO_BIT(VIO_F_RING_PACKED), VIO_BIT(VIO_F_EVENT_IDX) | VIO_BIT(VIO_F_INDIRECT_DESC),
		VIO_BIT(VIO_F_VERSION_1),
	};
	const struct vio_rng_drv_opts ro = { .buf_bytes = 64, .bufs = 2, .segs = 2 };

	memset(r, 0, sizeof(*r));
	r->rng = setup & FZ_FE_RNG;
	r->cfg = (struct vio_vu_frontend_config){
		.device_id = r->rng ? VIO_ID_RNG : VIO_ID_BLOCK,
		.memory_bytes = 512u << 10,
		.num_queues = (setup & FZ_FE_TWO_QUEUES) ? 2 : 1,
		.queue_max = (setup & FZ_FE_QMAX64) ? 64 : 8,
		.timeout_ms = 1,
		.protocol_features_off = pf_off[(setup >> 3) & 3],
		.features_off = f_off[(setup >> 5) & 3],
		.log = fe_log,
	};
	r->fe.sock = r->fe.backend_fd = -1;
	r->chan = r->next = r->next_fe = -1;
	pair(&r->fe_end, &r->peer);
	vio_bus_init(&r->bus, heap_alloc, heap_free, NULL);
	r->bus.log = bus_log;
	if (vio_blk_drv_register(&r->bus, &r->blk, NULL))
		abort();
	if (vio_rng_drv_register(&r->bus, &r->rngd, &ro))
		abort();
}

static void run_fini(struct run *r)
{
	if (r->on_bus)
		vio_bus_remove_device(&r->bus, &r->fe.vdev);
	note_state(r);
	for (unsigned i = 0; i < NREADS; i++)
		if (r->rd_busy[i])
			abort(); /* the driver's remove must have completed every read */
	if (r->up) {
		if (r->iobuf)
			vio_blk_drv_free_buffer(&r->fe.vdev, r->iobuf, IOBUF);
		vio_vu_frontend_fini(&r->fe);
	}
	close_fd(&r->peer);
	close_fd(&r->fe_end);
	close_fd(&r->next);
	close_fd(&r->next_fe);
	close_fd(&r->chan);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		abort();
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };
	static struct run r;
	int fds_before;

	if (size > FZ_MAX_INPUT)
		return 0;
	fds_before = count_fds();
	run_init(&r, fz_u8(&in));
	while (in.n) {
		uint8_t tag = fz_u8(&in);

		if ((tag & 3) == FZ_FE_ACTION) {
			const uint8_t code = fz_u8(&in) % FZ_FE_A_COUNT;

			if ((tag & FZ_FE_HELD) && (code == FZ_FE_A_SHUT || code == FZ_FE_A_CLOSE) &&
			    r.nheld < HELD_MAX) {
				r.held[r.nheld] = (struct rec){ .tag = tag, .buf = { code } };
				r.nheld++;
			} else {
				do_action(&r, &in, code);
			}
			continue;
		}
		if ((tag & FZ_FE_HELD) && (tag & 3) != FZ_FE_NEXT) {
			struct rec skip;

			parse_rec(&in, tag, r.nheld < HELD_MAX ? &r.held[r.nheld++] : &skip);
			continue;
		}
		parse_rec(&in, tag, &r.m);
		deliver(&r, &r.m);
	}
	/* The end of the script: the backend says nothing more. */
	trace("end of input\n");
	if (r.peer >= 0)
		shutdown(r.peer, SHUT_WR);
	if (r.chan >= 0)
		shutdown(r.chan, SHUT_WR);
	if (!r.tried) {
		connect_now(&r);
		drain(&r);
		if (r.chan >= 0)
			shutdown(r.chan, SHUT_WR);
	}
	run_fini(&r);
	trace("reached: connects %u (ok %u), binds %u, bound %s, DRIVER_OK %s, rings running %u, "
	      "inflight log %s, config reads %u (ok %u), config generation %u, channel messages "
	      "%u, reconnects %u (ok %u), requests %u (done %u), frontend messages %u\n",
	      r.reach.connects, r.reach.connected, r.reach.binds, r.reach.bound ? "yes" : "no",
	      r.reach.driver_ok ? "yes" : "no", r.reach.rings, r.reach.inflight ? "yes" : "no",
	      r.reach.config_reads, r.reach.config_ok, r.up ? r.fe.config_generation : 0,
	      r.reach.chan_msgs, r.reach.reconnects, r.reach.reconnected, r.reach.io,
	      r.reach.io_done, r.reach.requests);
	if (count_fds() != fds_before) {
		fprintf(stderr, "fuzz_vu_frontend: fd leak: %d fds open, %d before the run\n",
			count_fds(), fds_before);
		abort();
	}
	return 0;
}
