/*
 * fuzz_vu_backend.c - libFuzzer target: a hostile vhost-user frontend
 * against libvio's backend (src/transport/vhost_user_backend.c).
 *
 * The backend parses a byte stream with file descriptors from a peer it
 * must not trust, maps what it is told to map and then walks rings in that
 * memory. This target feeds it a stream of messages through a socketpair,
 * with fds attached (memfds and eventfds created per run, and one end of a
 * socketpair for the backend channel), and between messages lets every
 * queue run, so a message that leaves the backend in a bad state is caught
 * by the queue code touching it.
 *
 * Input (anything is valid; past the end every read is 0):
 *   u8 setup: bit 0 prelude: a valid session first (protocol features,
 *             SET_MEM_TABLE over memfd A, both rings set up and enabled;
 *             done with tests/vhost_user/frontend.c), so short inputs
 *             reach the ring code; bit 1 packed; bit 2 EVENT_IDX;
 *             bit 3 INDIRECT_DESC
 *   records until the input ends, each starting with a u8 op:
 *     0x00..0xef  a message. Each header field is either chosen near what
 *                 the request wants or taken raw, so both well-formed and
 *                 arbitrary messages are cheap to reach:
 *                   fds: op < 0x80: as many as the request carries, else
 *                        op % 11 (0..10: more than a message may carry)
 *                   u8 fd kinds (2 bits per fd, cycling: eventfd, memfd A,
 *                        memfd B, backend-channel socket)
 *                   u8 request: 0..254 -> value % 42; 255 -> raw u32
 *                   u8 flags: bit 7 -> raw u32; else VERSION, bit 0 adds
 *                        NEED_REPLY, bit 6 repairs the payload (below)
 *                   u8 size: 255 -> raw u32; 0xe0..0xfe -> the request's
 *                        size -8..+22; below -> its size (SET_MEM_TABLE:
 *                        value % 9 regions; config: value % 16 bytes)
 *                 then the payload: min(size, union) bytes from the input
 *                 (zero-padded), or 16 when the size is beyond the union
 *                 (the backend must drop us then). A repaired payload has
 *                 plausible indices, regions (pages near GPA/UVA, some
 *                 larger than the memfds), ring addresses and log
 *                 addresses, and SET_LOG_BASE sizes near what the memory
 *                 needs (memfd A holds such a log, B does not).
 *     0xf0..0xf7  write guest memory (memfd A): u16 offset, u8 len, bytes
 *     0xf8..0xfb  the driver side posts a buffer on ring op & 1 (prelude
 *                 only) and kicks; u8 out len, u8 in len
 *     0xfc        signal every eventfd (kicks, calls, errs, whatever the
 *                 backend was given)
 *     0xfd        the device changes its config space
 *     0xfe        reconnect: detach, new socketpair
 *     0xff        a torn message: u8 n, then n % 20 raw bytes, then EOF
 * After each record every queue is dispatched (the backend refuses a kick
 * fd that is not an eventfd, and an empty eventfd cannot block) and replies
 * and backend-channel messages are drained. At the end the stream is shut
 * and dispatched until the backend drops it; then every fd is closed and a
 * cheap check (the next free fd number) catches a leak at once. After the
 * backend drops a connection, the next message comes on a new one.
 *
 * FUZZ_VU_LONG_FILES=1 makes every memfd 1 GiB (sparse), so regions never
 * run past the end of their file: use it to fuzz past the known SIGBUS.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../tests/vhost_user/frontend.h"
#include "fuzz_input.h"
#include "vio/core.h"
#include "vio/transport.h"

#define NQ 2
#define QMAX 64
#define QSIZE 16
#define MEM_A 0x10000u          /* memfd A: 64 KiB, guest memory of the prelude */
#define MEM_B 0x1000u           /* memfd B: 4 KiB */
#define GPA UINT64_C(0x40000000)
#define UVA UINT64_C(0x7f0000000000)
#define NEFD 4
#define MAX_FDS 10

/* ------------------------------------------------------------------------ */
/* Input                                                                    */

/* The input is read with fuzz_input.h's struct fz: past its end, zeroes. */

/* ------------------------------------------------------------------------ */
/* A device that uses more of the ring API than an echo: batched used
 * entries, kick suppression while it works, config writes and changes. */

struct fzdev {
	struct vio_dev_model dev;
	struct vio_dev_queue q[NQ];
	uint8_t config[8];              /* bytes 0..3 read-only, 4..7 writable */
};

static const uint8_t fz_ro[4] = { 0xf0, 0x22, 0x5a, 0xa5 };

static void fz_notify(struct vio_dev_model *d, unsigned qi)
{
	struct vio_devq *vq = vio_dev_vq(d, qi);
	struct vio_iov out[4], in[4];
	struct vio_elem e = { .out = out, .out_cap = 4, .in = in, .in_cap = 4 };
	uint8_t buf[512];
	unsigned n = 0;
	int r;

	if (!vq)
		return;
	do {
		vio_devq_kick_disable(vq);
		while ((r = vio_devq_pop(vq, &e)) == 0) {
			size_t len = vio_iov_to_buf(out, e.out_num, 0, buf, sizeof(buf));

			len = vio_iov_from_buf(in, e.in_num, 0, buf, len);
			/* Odd chains published one by one, even ones batched. */
			if (n++ & 1)
				vio_devq_push(vq, &e, (uint32_t)len);
			else if (vio_devq_fill(vq, &e, (uint32_t)len) == 0)
				vio_devq_flush(vq);
		}
		if (vio_dev_check(d, qi, r) != -EAGAIN)
			break;
	} while (!vio_devq_kick_enable(vq) && n < 4096);
	vio_dev_interrupt(d, qi);
}

/* The model stores the write before telling us: put the read-only bytes
 * back, and announce a change when the driver touched them. */
static void fz_config_write(struct vio_dev_model *d, unsigned off, unsigned len)
{
	if (off < sizeof(fz_ro) && len) {
		memcpy(d->config, fz_ro, sizeof(fz_ro));
		vio_dev_config_changed(d);
	}
}

static const struct vio_dev_ops fz_ops = {
	.version = VIO_DEV_OPS_VERSION,
	.queue_notify = fz_notify,
	.config_write = fz_config_write,
};

static int fzdev_init(struct fzdev *f)
{
	memset(f, 0, sizeof(*f));
	f->dev.device_id = 0xf022;
	f->dev.host_features = VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_EVENT_IDX) |
			       VIO_BIT(VIO_F_INDIRECT_DESC) | VIO_BIT(VIO_F_RING_PACKED) |
			       VIO_BIT(VIO_F_IN_ORDER) | VIO_BIT(0);
	f->dev.legacy_ok = true;
	memcpy(f->config, fz_ro, sizeof(fz_ro));
	f->dev.config = f->config;
	f->dev.config_len = sizeof(f->config);
	f->dev.queues = f->q;
	f->dev.num_queues = NQ;
	f->dev.ops = &fz_ops;
	for (unsigned i = 0; i < NQ; i++)
		f->q[i].max_size = QMAX;
	return vio_dev_init(&f->dev);
}

/* ------------------------------------------------------------------------ */
/* One run                                                                  */

struct run {
	struct fzdev dev;
	struct vio_vu_backend b;
	struct vt_fe fe;
	struct vt_gmem a;               /* memfd A (mapped here too) */
	int memfd_b;
	int efd[NEFD];
	int chan[2];                    /* [1] may be handed to the backend */
	struct vt_ring r[NQ];
	bool rings;                     /* prelude set up the driver side */
	uint32_t posted[NQ];
};

static void fz_log(void *opaque, enum vio_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

/* Reads and drops whatever the backend sent us. */
static void drain(int fd)
{
	if (fd < 0)
		return;
	for (;;) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * 16)];
			struct cmsghdr align;
		} control;
		uint8_t data[4096];
		struct iovec iov = { data, sizeof(data) };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = control.buf, .msg_controllen = sizeof(control.buf),
		};
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);

		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); n >= 0 && c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int k;

				memcpy(&k, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				close(k);
			}
		}
		if (n <= 0)
			return;
	}
}

static void run_queues(struct run *r)
{
	for (unsigned i = 0; i < NQ; i++)
		vio_vu_backend_queue_dispatch(&r->b, i);
	drain(r->fe.sock);
	drain(r->chan[0]);
	for (unsigned i = 0; i < NQ && r->rings; i++) {
		void *tok;
		uint32_t len;

		while (vio_drvq_get_buf(&r->r[i].q, &tok, &len) == 0)
			;
		vt_efd_take(r->r[i].call_fd);
		vt_efd_take(r->r[i].err_fd);
	}
}

/* The prelude's pump: the backend reads the message just sent. */
static void pump(void *opaque)
{
	struct run *r = opaque;

	if (r->b.sock >= 0)
		vio_vu_backend_dispatch(&r->b);
}

static int reconnect(struct run *r)
{
	int sv[2];

	if (r->b.sock >= 0)
		vio_vu_backend_detach(&r->b);
	if (r->fe.sock >= 0)
		close(r->fe.sock);
	r->fe.sock = -1;
	if (vt_socketpair(sv))
		return -1;
	vio_vu_backend_attach(&r->b, sv[1]);
	vt_fe_init(&r->fe, sv[0], pump, r);
	return 0;
}

static void prelude(struct run *r, uint8_t setup)
{
	uint64_t f = VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VU_F_PROTOCOL_FEATURES);
	const struct vt_gmem *g = &r->a;

	if (setup & 2)
		f |= VIO_BIT(VIO_F_RING_PACKED);
	if (setup & 4)
		f |= VIO_BIT(VIO_F_EVENT_IDX);
	if (setup & 8)
		f |= VIO_BIT(VIO_F_INDIRECT_DESC);
	for (unsigned i = 0; i < NQ; i++)
		if (vt_ring_init(&r->r[i], &r->a, i, QSIZE, f, (setup & 8) ? 4 : 0))
			abort();
	r->rings = true;
	vt_fe_handshake(&r->fe, f, ~UINT64_C(0), NULL);
	vt_fe_mem_table(&r->fe, &g, 1);
	for (unsigned i = 0; i < NQ; i++)
		vt_fe_start_ring(&r->fe, &r->r[i], (setup & 2) ? 0x8000 : 0, true);
	run_queues(r);
}

static int memfd(size_t len)
{
	int fd = memfd_create("fz", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, (off_t)len))
		abort();
	return fd;
}

static bool long_files(void)
{
	static int on = -1;

	if (on < 0)
		on = getenv("FUZZ_VU_LONG_FILES") != NULL;
	return on;
}

static void run_init(struct run *r)
{
	struct vio_vu_backend_config cfg = { .log = fz_log };
	int sv[2];

	memset(r, 0, sizeof(*r));
	if (fzdev_init(&r->dev) || vio_vu_backend_init(&r->b, &r->dev.dev, &cfg))
		abort();
	if (vt_gmem_init(&r->a, MEM_A, 0, GPA, UVA, long_files() ? (1u << 30) : 0))
		abort();
	r->memfd_b = memfd(long_files() ? (1u << 30) : MEM_B);
	for (unsigned i = 0; i < NEFD; i++)
		if ((r->efd[i] = vt_eventfd()) < 0)
			abort();
	/* Non-blocking on both ends: the flag lives in the open file, which
	 * the backend's copy shares, so its send() cannot block either. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, r->chan))
		abort();
	r->fe.sock = -1;
	if (vt_socketpair(sv))
		abort();
	vio_vu_backend_attach(&r->b, sv[1]);
	vt_fe_init(&r->fe, sv[0], pump, r);
}

static void run_fini(struct run *r)
{
	vio_vu_backend_fini(&r->b);
	if (r->fe.sock >= 0)
		close(r->fe.sock);
	for (unsigned i = 0; i < NQ && r->rings; i++)
		vt_ring_fini(&r->r[i]);
	vt_gmem_fini(&r->a);
	close(r->memfd_b);
	for (unsigned i = 0; i < NEFD; i++)
		close(r->efd[i]);
	close(r->chan[0]);
	close(r->chan[1]);
}

static int pick_fd(struct run *r, unsigned kind, unsigned i)
{
	switch (kind & 3) {
	case 0: return r->efd[i % NEFD];
	case 1: return r->a.fd;
	case 2: return r->memfd_b;
	default: return r->chan[1];
	}
}

/* The payload size a request has, and how many fds it carries. */
static uint32_t natural_size(uint32_t req, uint8_t sz)
{
	switch (req) {
	case VU_SET_FEATURES: case VU_SET_PROTOCOL_FEATURES: case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL: case VU_SET_VRING_ERR: case VU_SET_STATUS:
	case VU_SET_VRING_NUM: case VU_SET_VRING_BASE: case VU_GET_VRING_BASE:
	case VU_SET_VRING_ENABLE: case VU_VRING_KICK: case VU_SET_VRING_ENDIAN:
		return 8;
	case VU_SET_VRING_ADDR:
		return sizeof(struct vu_vring_addr);
	case VU_ADD_MEM_REG: case VU_REM_MEM_REG:
		return sizeof(struct vu_mem_single);
	case VU_GET_INFLIGHT_FD: case VU_SET_INFLIGHT_FD:
		return sizeof(struct vu_inflight);
	case VU_SET_LOG_BASE:
		return sizeof(struct vu_log);
	case VU_SET_MEM_TABLE:
		return 8 + (uint32_t)sizeof(struct vu_mem_region) * (sz % (VU_MEM_TABLE_MAX + 1));
	case VU_GET_CONFIG: case VU_SET_CONFIG:
		return VU_CONFIG_HDR + sz % 16;
	default:
		return 0;
	}
}

static unsigned natural_fds(const struct vu_header *h, const union vu_payload *p)
{
	switch (h->request) {
	case VU_SET_MEM_TABLE:
		return h->size >= 8 && p->mem.nregions <= VU_MEM_TABLE_MAX ? p->mem.nregions : 0;
	case VU_ADD_MEM_REG: case VU_SET_BACKEND_REQ_FD:
	case VU_SET_LOG_FD: case VU_SET_INFLIGHT_FD: case VU_SET_LOG_BASE:
		return 1;
	case VU_SET_VRING_KICK: case VU_SET_VRING_CALL: case VU_SET_VRING_ERR:
		return (p->u64 & VU_VRING_NOFD) ? 0 : 1;
	default:
		return 0;
	}
}

/* A region near the prelude's, sized in pages: sometimes overlapping,
 * sometimes larger than the file behind it. */
static void repair_region(struct vu_mem_region *r)
{
	r->guest_addr = GPA + (r->guest_addr & 0xf) * 0x10000;
	r->size = ((r->size & 0x1f) + 1) * 0x1000;
	r->user_addr = UVA + (r->user_addr & 0xf) * 0x10000;
	r->mmap_offset = (r->mmap_offset & 3) * 0x1000;
}

/* Plausible values where random ones would just be refused. */
static void repair(struct vu_header *h, union vu_payload *p, uint8_t sz)
{
	switch (h->request) {
	case VU_SET_MEM_TABLE:
		p->mem.nregions = (h->size - 8) / (uint32_t)sizeof(struct vu_mem_region);
		for (unsigned i = 0; i < VU_MEM_TABLE_MAX; i++)
			repair_region(&p->mem.regions[i]);
		break;
	case VU_ADD_MEM_REG: case VU_REM_MEM_REG:
		repair_region(&p->mem_reg.region);
		break;
	case VU_SET_VRING_ADDR:
		p->addr.index &= 1;
		p->addr.flags &= VU_VRING_F_LOG;
		p->addr.desc = UVA + (p->addr.desc & 0xfff) * 16;
		p->addr.avail = UVA + (p->addr.avail & 0xfff) * 16;
		p->addr.used = UVA + (p->addr.used & 0xfff) * 16;
		/* The ring's log address: in guest memory, or past any log. */
		p->addr.log = (p->addr.log & 0x10000) ? p->addr.log : GPA + (p->addr.log & 0xfff) * 16;
		break;
	case VU_SET_LOG_BASE:
		/* Around what memory at GPA needs (32 KiB and a bit), in
		 * memfd A (64 KiB) or past the end of B (4 KiB). */
		p->log.mmap_size = 0x8000 + (p->log.mmap_size & 0x3f) * 8 - 0x100;
		p->log.mmap_offset = (p->log.mmap_offset & 3) * 0x1000;
		break;
	case VU_SET_VRING_KICK: case VU_SET_VRING_CALL: case VU_SET_VRING_ERR:
		p->u64 &= 1 | VU_VRING_NOFD;
		break;
	case VU_SET_VRING_NUM: case VU_SET_VRING_BASE: case VU_GET_VRING_BASE:
	case VU_SET_VRING_ENABLE: case VU_VRING_KICK:
		p->state.index &= 1;
		if (h->request == VU_SET_VRING_NUM)
			p->state.num = 1u << (p->state.num % 7);
		else if (h->request == VU_SET_VRING_ENABLE)
			p->state.num &= 1;
		break;
	case VU_GET_CONFIG: case VU_SET_CONFIG:
		p->config.offset %= 12;
		p->config.size = sz % 16;
		p->config.flags &= 1;
		break;
	default:
		break;
	}
}

static void op_message(struct run *r, struct fz *in, uint8_t op)
{
	uint8_t buf[sizeof(struct vu_header) + sizeof(union vu_payload)];
	union vu_payload p;
	struct vu_header h;
	uint8_t kinds = fz_u8(in), req = fz_u8(in), fl = fz_u8(in), sz;
	unsigned nfds;
	int fds[MAX_FDS];
	size_t body;

	h.request = req == 0xff ? fz_u32(in) : req % 42u;
	h.flags = (fl & 0x80) ? fz_u32(in) : VU_VERSION | ((fl & 1) ? VU_FLAG_NEED_REPLY : 0);
	sz = fz_u8(in);
	if (sz == 0xff)
		h.size = fz_u32(in);
	else if (sz >= 0xe0)
		h.size = (uint32_t)((int)natural_size(h.request, 0) + (sz - 0xe0) - 8);
	else
		h.size = natural_size(h.request, sz);
	body = h.size <= sizeof(p) ? h.size : 16;
	memset(&p, 0, sizeof(p));
	fz_fill(in, &p, body);
	if ((fl & 0x40) && !(fl & 0x80) && h.size <= sizeof(p))
		repair(&h, &p, sz);
	nfds = op < 0x80 ? natural_fds(&h, &p) : op % (MAX_FDS + 1u);
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), &p, body);
	for (unsigned i = 0; i < nfds; i++)
		fds[i] = pick_fd(r, (unsigned)(kinds >> (2 * (i % 4))), i);
	/* A dropped connection is followed by a new frontend, as a daemon
	 * would accept one. */
	if (r->b.sock < 0 && reconnect(r))
		return;
	if (vt_send_raw(r->fe.sock, buf, sizeof(h) + body, fds, nfds))
		return;
	/* The whole message is there: dispatch cannot block. */
	vio_vu_backend_dispatch(&r->b);
}

static void op_memory(struct run *r, struct fz *in)
{
	uint16_t off;
	uint8_t len, data[255];

	fz_fill(in, &off, sizeof(off));
	len = fz_u8(in);
	fz_fill(in, data, len);
	off %= MEM_A;
	if (len > MEM_A - off)
		len = (uint8_t)(MEM_A - off);
	memcpy(r->a.host + off, data, len);
}

/* The driver side posts one buffer from memfd A's tail and kicks. */
static void op_post(struct run *r, struct fz *in, unsigned qi)
{
	uint32_t out_len = fz_u8(in), in_len = fz_u8(in);
	uint64_t base = r->a.gpa + MEM_A / 2 + (r->posted[qi]++ % 32) * 512;
	struct vio_sg o = { base, out_len + 1 }, i = { base + 256, in_len + 1 };

	if (!r->rings)
		return;
	if (vio_drvq_add(&r->r[qi].q, &o, 1, &i, 1, (void *)(uintptr_t)(base | 1)) == 0)
		vt_ring_kick(&r->r[qi]);
}

static void op_signal_all(struct run *r)
{
	for (unsigned i = 0; i < NEFD; i++)
		vt_efd_signal(r->efd[i]);
	for (unsigned i = 0; i < NQ && r->rings; i++)
		vt_efd_signal(r->r[i].kick_fd);
}

/* Part of a message, then the end of the stream. */
static void op_torn(struct run *r, struct fz *in)
{
	uint8_t buf[20];
	size_t n = fz_u8(in) % sizeof(buf);

	fz_fill(in, buf, n);
	if (r->b.sock < 0)
		return;
	if (n)
		vt_send_raw(r->fe.sock, buf, n, NULL, 0);
	shutdown(r->fe.sock, SHUT_WR);
	while (vio_vu_backend_dispatch(&r->b) == 0)
		;
}

/* Runs must leave the fd table as they found it. The lowest free fd
 * number is cheap to learn; libFuzzer's own fds come and go, so a leak is
 * that number climbing well above the lowest it has been. */
static void check_fd_leak(void)
{
	static int lowest = -1;
	int probe = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (probe < 0)
		abort();
	close(probe);
	if (lowest < 0 || probe < lowest)
		lowest = probe;
	if (probe > lowest + 16) {
		fprintf(stderr, "fuzz_vu_backend: fd leak: next free fd %d, lowest was %d\n", probe,
			lowest);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };
	static struct run r;
	uint8_t setup;

	if (size > 65536)
		return 0;
	run_init(&r);
	setup = fz_u8(&in);
	if (setup & 1)
		prelude(&r, setup);
	while (in.n) {
		uint8_t op = fz_u8(&in);

		if (op < 0xf0)
			op_message(&r, &in, op);
		else if (op < 0xf8)
			op_memory(&r, &in);
		else if (op < 0xfc)
			op_post(&r, &in, op & 1);
		else if (op == 0xfc)
			op_signal_all(&r);
		else if (op == 0xfd)
			vio_dev_config_changed(&r.dev.dev);
		else if (op == 0xfe)
			reconnect(&r);
		else
			op_torn(&r, &in);
		run_queues(&r);
	}
	/* End of stream: the backend sees EOF and drops the connection. */
	if (r.b.sock >= 0) {
		shutdown(r.fe.sock, SHUT_WR);
		while (vio_vu_backend_dispatch(&r.b) == 0)
			run_queues(&r);
	}
	run_fini(&r);
	check_fd_leak();
	return 0;
}
