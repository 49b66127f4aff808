/*
 * frontend.c - the test vhost-user frontend; see frontend.h.
 *
 * Test code: it allocates, and it reports errors as -errno rather than
 * asserting, so the tests decide what a failure means.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "frontend.h"

/* ------------------------------------------------------------------------ */
/* Raw messages                                                             */

int vt_socketpair(int fds[2])
{
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) ? -errno : 0;
}

int vt_send_raw(int sock, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 253)];
		struct cmsghdr align;
	} control;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	size_t done = 0;

	if (nfds > 253)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *c;

		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	/* The fds ride on the first chunk only; a stream may take the rest in
	 * further writes. */
	while (done < len || (len == 0 && nfds && mh.msg_control)) {
		ssize_t n;

		iov.iov_base = (uint8_t *)buf + done;
		iov.iov_len = len - done;
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		if (len == 0)
			break;
	}
	return 0;
}

int vt_send_msg(int sock, uint32_t request, uint32_t flags, const void *payload, uint32_t size,
		const int *fds, unsigned nfds)
{
	uint8_t buf[sizeof(struct vu_header) + 4096];
	struct vu_header h = { request, flags, size };

	/* Hostile tests that claim more than they send use vt_send_raw. */
	if (size > sizeof(buf) - sizeof(h))
		return -EMSGSIZE;
	memcpy(buf, &h, sizeof(h));
	if (size)
		memcpy(buf + sizeof(h), payload, size);
	return vt_send_raw(sock, buf, sizeof(h) + size, fds, nfds);
}

bool vt_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	do {
		r = poll(&p, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	return r == 1 && (p.revents & (POLLIN | POLLHUP));
}

static int read_all(int sock, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = recv(sock, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void vt_msg_close_fds(struct vt_msg *m)
{
	for (unsigned i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	m->nfds = 0;
}

int vt_recv_msg(int sock, struct vt_msg *m, int timeout_ms)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct iovec iov = { &m->hdr, sizeof(m->hdr) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control.buf, .msg_controllen = sizeof(control.buf),
	};
	ssize_t n;
	int r;

	memset(m, 0, sizeof(*m));
	if (!vt_readable(sock, timeout_ms))
		return -ETIMEDOUT;
	do {
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));

		for (unsigned i = 0; i < k && m->nfds < VU_MAX_FDS; i++)
			memcpy(&m->fds[m->nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	if (n == 0) {
		vt_msg_close_fds(m);
		return -ECONNRESET;
	}
	if ((size_t)n < sizeof(m->hdr)) {
		r = read_all(sock, (uint8_t *)&m->hdr + n, sizeof(m->hdr) - (size_t)n);
		if (r) {
			vt_msg_close_fds(m);
			return r;
		}
	}
	if (m->hdr.size > sizeof(m->p)) {
		vt_msg_close_fds(m);
		return -EPROTO;
	}
	r = read_all(sock, &m->p, m->hdr.size);
	if (r)
		vt_msg_close_fds(m);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Eventfds                                                                 */

int vt_eventfd(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

uint64_t vt_efd_take(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		return 0;
	return v;
}

void vt_efd_signal(int fd)
{
	uint64_t one = 1;

	(void)!write(fd, &one, sizeof(one));
}

int vt_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;   /* the directory's own fd */
}

/* ------------------------------------------------------------------------ */
/* Guest memory                                                             */

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

int vt_gmem_init(struct vt_gmem *g, uint64_t size, uint64_t mmap_offset, uint64_t gpa,
		 uint64_t uva, size_t file_len)
{
	size_t map_len = (size_t)(mmap_offset + size);

	memset(g, 0, sizeof(*g));
	g->fd = memfd_create("vt-guest", MFD_CLOEXEC);
	if (g->fd < 0)
		return -errno;
	g->file_len = file_len ? file_len : map_len;
	if (ftruncate(g->fd, (off_t)g->file_len)) {
		int e = -errno;

		close(g->fd);
		g->fd = -1;
		return e;
	}
	/* Map what the region claims; pages past the file's end are not ours
	 * to touch (SIGBUS), which is the point of a short file_len. */
	g->file = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, g->fd, 0);
	if (g->file == MAP_FAILED) {
		int e = -errno;

		close(g->fd);
		g->fd = -1;
		g->file = NULL;
		return e;
	}
	g->host = g->file + mmap_offset;
	g->size = size;
	g->mmap_offset = mmap_offset;
	g->gpa = gpa;
	g->uva = uva;
	return 0;
}

void vt_gmem_fini(struct vt_gmem *g)
{
	if (g->file)
		munmap(g->file, (size_t)(g->mmap_offset + g->size));
	if (g->fd >= 0)
		close(g->fd);
	memset(g, 0, sizeof(*g));
	g->fd = -1;
}

void *vt_gmem_alloc(struct vt_gmem *g, size_t len, size_t align)
{
	size_t at = align_up(g->brk, align ? align : 1);
	size_t usable = g->file_len > g->mmap_offset ? g->file_len - (size_t)g->mmap_offset : 0;

	if (usable > g->size)
		usable = (size_t)g->size;
	if (at > usable || len > usable - at)
		return NULL;
	g->brk = at + len;
	memset(g->host + at, 0, len);
	return g->host + at;
}

uint64_t vt_gmem_gpa(const struct vt_gmem *g, const void *host)
{
	return g->gpa + (uint64_t)((const uint8_t *)host - g->host);
}

uint64_t vt_gmem_uva(const struct vt_gmem *g, const void *host)
{
	return g->uva + (uint64_t)((const uint8_t *)host - g->host);
}

struct vu_mem_region vt_gmem_region(const struct vt_gmem *g)
{
	struct vu_mem_region r = { g->gpa, g->size, g->uva, g->mmap_offset };

	return r;
}

/* ------------------------------------------------------------------------ */
/* Rings                                                                    */

static void *ring_area(struct vt_gmem *g, size_t bytes, size_t align)
{
	/* A gap before each area, as a modern driver may leave. */
	if (!vt_gmem_alloc(g, 64, 1))
		return NULL;
	return vt_gmem_alloc(g, bytes, align);
}

int vt_ring_init(struct vt_ring *r, struct vt_gmem *g, unsigned index, unsigned size,
		 uint64_t features, unsigned indirect_max)
{
	memset(r, 0, sizeof(*r));
	r->kick_fd = r->call_fd = r->err_fd = -1;
	r->index = index;
	r->size = size;
	r->features = features;
	r->indirect_max = indirect_max;
	if (!vio_ring_size_valid(features, size))
		return -EINVAL;
	r->desc = ring_area(g, vio_ring_desc_bytes(features, size), vio_ring_desc_align(features));
	r->driver = ring_area(g, vio_ring_driver_bytes(features, size),
			      vio_ring_driver_align(features));
	r->device = ring_area(g, vio_ring_device_bytes(features, size), 4096);
	if (indirect_max)
		r->indirect = vt_gmem_alloc(g, (size_t)size * indirect_max * 16, 16);
	if (!r->desc || !r->driver || !r->device || (indirect_max && !r->indirect))
		return -ENOMEM;
	r->gpa.desc = vt_gmem_gpa(g, r->desc);
	r->gpa.driver = vt_gmem_gpa(g, r->driver);
	r->gpa.device = vt_gmem_gpa(g, r->device);
	r->addr.index = index;
	r->addr.desc = vt_gmem_uva(g, r->desc);
	r->addr.avail = vt_gmem_uva(g, r->driver);
	r->addr.used = vt_gmem_uva(g, r->device);
	r->indirect_dma = 0;
	if (r->indirect)
		r->indirect_dma = vt_gmem_gpa(g, r->indirect);
	r->slots = calloc(1, vio_drvq_slots_bytes(size));
	if (!r->slots)
		return -ENOMEM;
	r->kick_fd = vt_eventfd();
	r->call_fd = vt_eventfd();
	r->err_fd = vt_eventfd();
	if (r->kick_fd < 0 || r->call_fd < 0 || r->err_fd < 0)
		return -EMFILE;
	return vt_ring_reinit(r);
}

int vt_ring_reinit(struct vt_ring *r)
{
	struct vio_drvq_config c;

	memset(&c, 0, sizeof(c));
	c.size = r->size;
	c.features = r->features;
	c.len_policy = VIO_LEN_BROKEN;
	c.desc = r->desc;
	c.driver = r->driver;
	c.device = r->device;
	c.dma = r->gpa;
	c.indirect = r->indirect;
	c.indirect_dma = r->indirect_dma;
	c.indirect_max = r->indirect_max;
	c.slots = r->slots;
	return vio_drvq_init(&r->q, &c);
}

void vt_ring_fini(struct vt_ring *r)
{
	int *fds[] = { &r->kick_fd, &r->call_fd, &r->err_fd };

	for (unsigned i = 0; i < 3; i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
	free(r->slots);
	memset(r, 0, sizeof(*r));
	r->kick_fd = r->call_fd = r->err_fd = -1;
}

bool vt_ring_kick(struct vt_ring *r)
{
	if (!vio_drvq_kick_prepare(&r->q))
		return false;
	vt_efd_signal(r->kick_fd);
	return true;
}

/* ------------------------------------------------------------------------ */
/* The frontend                                                             */

void vt_fe_init(struct vt_fe *fe, int sock, void (*pump)(void *opaque), void *opaque)
{
	memset(fe, 0, sizeof(*fe));
	fe->sock = sock;
	fe->pump = pump;
	fe->opaque = opaque;
	fe->timeout_ms = 2000;
}

int vt_fe_msg(struct vt_fe *fe, uint32_t request, uint32_t extra_flags, const void *payload,
	      uint32_t size, const int *fds, unsigned nfds, struct vt_msg *reply)
{
	int r = vt_send_msg(fe->sock, request, VU_VERSION | extra_flags, payload, size, fds, nfds);

	if (r)
		return r;
	if (fe->pump)
		fe->pump(fe->opaque);
	if (!reply)
		return 0;
	/* A backend that handled the message has already replied: in the
	 * single-threaded case there is nothing to wait for. */
	r = vt_recv_msg(fe->sock, reply, fe->pump ? 0 : fe->timeout_ms);
	if (r)
		return r;
	if (reply->hdr.request != request ||
	    reply->hdr.flags != (VU_VERSION | VU_FLAG_REPLY) || reply->nfds) {
		vt_msg_close_fds(reply);
		return -EPROTO;
	}
	return 0;
}

static bool acking(const struct vt_fe *fe)
{
	return fe->protocol_features & VIO_BIT(VU_PROTOCOL_F_REPLY_ACK);
}

int vt_fe_set(struct vt_fe *fe, uint32_t request, const void *payload, uint32_t size,
	      const int *fds, unsigned nfds)
{
	struct vt_msg ack;
	int r;

	if (!acking(fe))
		return vt_fe_msg(fe, request, 0, payload, size, fds, nfds, NULL);
	r = vt_fe_msg(fe, request, VU_FLAG_NEED_REPLY, payload, size, fds, nfds, &ack);
	if (r)
		return r;
	if (ack.hdr.size != sizeof(uint64_t))
		return -EPROTO;
	return ack.p.u64 ? 1 : 0;
}

int vt_fe_set_u64(struct vt_fe *fe, uint32_t request, uint64_t v)
{
	return vt_fe_set(fe, request, &v, sizeof(v), NULL, 0);
}

int vt_fe_get_u64(struct vt_fe *fe, uint32_t request, uint64_t *v)
{
	struct vt_msg m;
	int r = vt_fe_msg(fe, request, 0, NULL, 0, NULL, 0, &m);

	if (r)
		return r;
	if (m.hdr.size != sizeof(uint64_t))
		return -EPROTO;
	*v = m.p.u64;
	return 0;
}

int vt_fe_state(struct vt_fe *fe, uint32_t request, uint32_t index, uint32_t num)
{
	struct vu_vring_state s = { index, num };

	return vt_fe_set(fe, request, &s, sizeof(s), NULL, 0);
}

int vt_fe_get_vring_base(struct vt_fe *fe, uint32_t index, uint32_t *num)
{
	struct vu_vring_state s = { index, 0 };
	struct vt_msg m;
	int r = vt_fe_msg(fe, VU_GET_VRING_BASE, 0, &s, sizeof(s), NULL, 0, &m);

	if (r)
		return r;
	if (m.hdr.size != sizeof(s) || m.p.state.index != index)
		return -EPROTO;
	*num = m.p.state.num;
	return 0;
}

int vt_fe_vring_fd(struct vt_fe *fe, uint32_t request, uint32_t index, int fd)
{
	uint64_t v = index | (fd < 0 ? VU_VRING_NOFD : 0);

	return vt_fe_set(fe, request, &v, sizeof(v), fd < 0 ? NULL : &fd, fd < 0 ? 0 : 1);
}

int vt_fe_mem_table(struct vt_fe *fe, const struct vt_gmem *const *g, unsigned n)
{
	struct vu_mem_table t;
	int fds[VU_MEM_TABLE_MAX];

	if (n > VU_MEM_TABLE_MAX)
		return -EINVAL;
	memset(&t, 0, sizeof(t));
	t.nregions = n;
	for (unsigned i = 0; i < n; i++) {
		t.regions[i] = vt_gmem_region(g[i]);
		fds[i] = g[i]->fd;
	}
	return vt_fe_set(fe, VU_SET_MEM_TABLE, &t,
			 (uint32_t)(8 + n * sizeof(struct vu_mem_region)), fds, n);
}

int vt_fe_mem_reg(struct vt_fe *fe, uint32_t request, const struct vt_gmem *g)
{
	struct vu_mem_single s = { 0, vt_gmem_region(g) };
	bool add = request == VU_ADD_MEM_REG;

	return vt_fe_set(fe, request, &s, sizeof(s), add ? &g->fd : NULL, add ? 1 : 0);
}

int vt_fe_get_config(struct vt_fe *fe, uint32_t off, uint32_t len, void *buf)
{
	struct vu_config c;
	struct vt_msg m;
	int r;

	if (len > VU_CONFIG_MAX)
		return -EINVAL;
	memset(&c, 0, sizeof(c));
	c.offset = off;
	c.size = len;
	r = vt_fe_msg(fe, VU_GET_CONFIG, 0, &c, VU_CONFIG_HDR + len, NULL, 0, &m);
	if (r)
		return r;
	if (m.hdr.size < VU_CONFIG_HDR || m.p.config.size != m.hdr.size - VU_CONFIG_HDR)
		return -EPROTO;
	memcpy(buf, m.p.config.data, m.p.config.size);
	return (int)m.p.config.size;
}

int vt_fe_set_config(struct vt_fe *fe, uint32_t off, uint32_t len, const void *buf, uint32_t flags)
{
	struct vu_config c;

	if (len > VU_CONFIG_MAX)
		return -EINVAL;
	memset(&c, 0, sizeof(c));
	c.offset = off;
	c.size = len;
	c.flags = flags;
	memcpy(c.data, buf, len);
	return vt_fe_set(fe, VU_SET_CONFIG, &c, VU_CONFIG_HDR + len, NULL, 0);
}

int vt_fe_negotiate_protocol(struct vt_fe *fe, uint64_t want_pf, uint64_t *offered)
{
	uint64_t f, pf = 0;
	int r;

	fe->protocol_features = 0;
	r = vt_fe_get_u64(fe, VU_GET_FEATURES, &f);
	if (r)
		return r;
	if (offered)
		*offered = f;
	if (!(f & VIO_BIT(VU_F_PROTOCOL_FEATURES)))
		return 1;
	r = vt_fe_get_u64(fe, VU_GET_PROTOCOL_FEATURES, &pf);
	if (r)
		return r;
	pf &= want_pf;
	r = vt_fe_set_u64(fe, VU_SET_PROTOCOL_FEATURES, pf);
	if (r)
		return r;
	/* Acks apply from the next message on. */
	fe->protocol_features = pf;
	return vt_fe_set(fe, VU_SET_OWNER, NULL, 0, NULL, 0);
}

int vt_fe_handshake(struct vt_fe *fe, uint64_t features, uint64_t want_pf, uint64_t *offered)
{
	uint64_t f;
	int r;

	if (features & VIO_BIT(VU_F_PROTOCOL_FEATURES)) {
		r = vt_fe_negotiate_protocol(fe, want_pf, offered);
	} else {
		/* An old frontend: no protocol features at all. */
		fe->protocol_features = 0;
		r = vt_fe_get_u64(fe, VU_GET_FEATURES, &f);
		if (r == 0 && offered)
			*offered = f;
		if (r == 0)
			r = vt_fe_set(fe, VU_SET_OWNER, NULL, 0, NULL, 0);
	}
	if (r)
		return r;
	return vt_fe_set_u64(fe, VU_SET_FEATURES, features);
}

int vt_fe_start_ring(struct vt_fe *fe, const struct vt_ring *r, uint32_t base, bool enable)
{
	int e;

	if ((e = vt_fe_state(fe, VU_SET_VRING_NUM, r->index, r->size)) ||
	    (e = vt_fe_state(fe, VU_SET_VRING_BASE, r->index, base)) ||
	    (e = vt_fe_set(fe, VU_SET_VRING_ADDR, &r->addr, sizeof(r->addr), NULL, 0)) ||
	    (e = vt_fe_vring_fd(fe, VU_SET_VRING_CALL, r->index, r->call_fd)) ||
	    (e = vt_fe_vring_fd(fe, VU_SET_VRING_ERR, r->index, r->err_fd)) ||
	    (e = vt_fe_vring_fd(fe, VU_SET_VRING_KICK, r->index, r->kick_fd)))
		return e;
	return enable ? vt_fe_state(fe, VU_SET_VRING_ENABLE, r->index, 1) : 0;
}

int vt_fe_get_inflight(struct vt_fe *fe, uint16_t num_queues, uint16_t queue_size,
		       struct vu_inflight *out, int *fd)
{
	struct vu_inflight in = { 0, 0, num_queues, queue_size };
	struct vt_msg m;
	int r = vt_send_msg(fe->sock, VU_GET_INFLIGHT_FD, VU_VERSION, &in, sizeof(in), NULL, 0);

	*fd = -1;
	if (r)
		return r;
	if (fe->pump)
		fe->pump(fe->opaque);
	r = vt_recv_msg(fe->sock, &m, fe->pump ? 0 : fe->timeout_ms);
	if (r)
		return r;
	if (m.hdr.request != VU_GET_INFLIGHT_FD || m.hdr.flags != (VU_VERSION | VU_FLAG_REPLY) ||
	    m.hdr.size != sizeof(*out) || m.nfds > 1) {
		vt_msg_close_fds(&m);
		return -EPROTO;
	}
	*out = m.p.inflight;
	if (m.nfds)
		*fd = m.fds[0];
	return 0;
}

int vt_fe_set_inflight(struct vt_fe *fe, int fd, uint64_t mmap_size, uint64_t mmap_offset,
		       uint16_t num_queues, uint16_t queue_size)
{
	struct vu_inflight in = { mmap_size, mmap_offset, num_queues, queue_size };

	return vt_fe_set(fe, VU_SET_INFLIGHT_FD, &in, sizeof(in), &fd, 1);
}
