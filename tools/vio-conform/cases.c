/*
 * cases.c - what vio-conform checks and what it throws at a backend.
 *
 * Conformance checks (VC_CHECK) each test one rule a backend must follow,
 * named after the section of QEMU's docs/interop/vhost-user.rst ("vu: ...")
 * or of the virtio 1.2 specification ("virtio: ...") it comes from. Rules
 * the text states with "should" say so in their description.
 *
 * Robustness cases (VC_ROBUST) each send one malformed thing: a message
 * cut short or too large, a memory table or ring setup that cannot be
 * honoured, a descriptor chain that loops, points outside memory or lies
 * about its direction, a request the device type cannot serve. They are
 * written from the vhost-user and virtio rules and from the kinds of bugs
 * backends have had (QEMU's libvhost-user, DPDK's vhost library: out of
 * range queue indices, memory tables whose sizes overflow, descriptor
 * loops, indirect tables of odd sizes). A case only does the harm and
 * says whether the backend refused (or ignored) it or closed the
 * connection; the runner (vio-conform.c) then judges from the outside:
 * process alive, canaries intact, no CPU spinning, and a fresh frontend
 * served.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "conform.h"

#define SEC_SIZE 512u

#define DETAIL(...) snprintf(c->detail, sizeof(c->detail), __VA_ARGS__)

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static bool has_pf(const struct vc_sess *s, unsigned bit)
{
	return s->acked_protocol & (1ull << bit);
}

/* Features, memory and ring 0 of 64 entries: the usual start. */
static int setup(struct vc_ctx *c, struct vc_sess *s)
{
	int e = vc_sess_mem(s, vc_default_features(s));

	if (!e)
		e = vc_ring_start(s, 0, 64);
	if (e)
		DETAIL("setup failed: %s", s->why[0] ? s->why : strerror(e < 0 ? -e : EPERM));
	return e;
}

/* The answer to a robustness case's message: refused or ignored while the
 * connection lives on (SURVIVED), or a closed connection (DROPPED). A
 * request that wanted an ack and got a zero one was accepted: SURVIVED too,
 * the runner looks for damage. */
static enum vc_result answer(struct vc_ctx *c, struct vc_sess *s)
{
	struct vc_msg r;
	int e = vc_send(s->sock, VU_GET_FEATURES, VU_VERSION, NULL, 0, NULL, 0);

	if (!e)
		e = vc_recv(s->sock, &r, c->timeout_ms);
	/* replies owed to earlier requests may come first: skip them */
	for (int i = 0; !e && r.req != VU_GET_FEATURES && i < 4; i++) {
		vc_msg_close_fds(&r);
		e = vc_recv(s->sock, &r, c->timeout_ms);
	}
	if (e == -ECONNRESET || e == -EPIPE) {
		if (!c->detail[0])
			DETAIL("connection closed");
		return VC_DROPPED;
	}
	if (e == -ETIMEDOUT) {
		if (!c->detail[0])
			DETAIL("no answer to GET_FEATURES after the case");
		return VC_HUNG;
	}
	vc_msg_close_fds(&r);
	return VC_SURVIVED;
}

/* Sends a request that expects no reply of its own, asking for an ack when
 * REPLY_ACK is there, notes the ack, and answers as above. */
static enum vc_result send_bad(struct vc_ctx *c, struct vc_sess *s, uint32_t req, uint32_t flags,
			       const void *p, uint32_t size, const int *fds, unsigned nfds)
{
	bool ask = s->reply_ack && !(flags & VU_REPLY);
	struct vc_msg r;
	int e = vc_send(s->sock, req, flags | (ask ? VU_NEED_REPLY : 0), p, size, fds, nfds);

	if (e)
		return e == -EPIPE || e == -ECONNRESET ? VC_DROPPED : VC_ERROR;
	if (ask) {
		e = vc_recv(s->sock, &r, c->timeout_ms);
		if (e == -ECONNRESET)
			return DETAIL("connection closed"), VC_DROPPED;
		if (!e) {
			uint64_t v = 0;

			if (r.size == 8)
				memcpy(&v, r.payload, 8);
			vc_msg_close_fds(&r);
			DETAIL("%s (ack %llu)", v ? "refused" : "accepted", (unsigned long long)v);
		}
	}
	return answer(c, s);
}

/* ======================================================================= */
/* Conformance checks                                                      */

static enum vc_result chk_reply_header(struct vc_ctx *c, struct vc_sess *s)
{
	struct vc_msg r;
	int e = vc_send(s->sock, VU_GET_FEATURES, VU_VERSION, NULL, 0, NULL, 0);

	if (!e)
		e = vc_recv(s->sock, &r, c->timeout_ms);
	if (e)
		return DETAIL("no reply: %s", strerror(-e)), VC_FAIL;
	vc_msg_close_fds(&r);
	if (r.req != VU_GET_FEATURES || (r.flags & 3u) != VU_VERSION || !(r.flags & VU_REPLY) ||
	    (r.flags & VU_NEED_REPLY))
		return DETAIL("reply request %u flags %#x", r.req, r.flags), VC_FAIL;
	if (r.size != 8)
		return DETAIL("GET_FEATURES reply of %u bytes, u64 expected", r.size), VC_FAIL;
	return VC_PASS;
}

static enum vc_result chk_protocol_features(struct vc_ctx *c, struct vc_sess *s)
{
	(void)c;
	/* vc_sess_open() asked GET_PROTOCOL_FEATURES before SET_FEATURES and
	 * checked its reply's header and size. */
	if (!(s->features & (1ull << VU_F_PROTOCOL_FEATURES)))
		return DETAIL("PROTOCOL_FEATURES (bit 30) not offered"), VC_SKIP;
	DETAIL("protocol features %#llx", (unsigned long long)s->protocol);
	return VC_PASS;
}

static enum vc_result chk_mq(struct vc_ctx *c, struct vc_sess *s)
{
	struct vc_msg r;
	uint64_t n;

	if (!(s->protocol & (1ull << VU_PF_MQ)))
		return DETAIL("MQ protocol feature not offered"), VC_FAIL;
	if (vc_sess_call(s, VU_GET_QUEUE_NUM, NULL, 0, &r))
		return DETAIL("%s", s->why), VC_FAIL;
	if (r.size != 8)
		return DETAIL("reply of %u bytes", r.size), VC_FAIL;
	memcpy(&n, r.payload, 8);
	if (n == 0)
		return DETAIL("GET_QUEUE_NUM says 0 queues"), VC_FAIL;
	DETAIL("%llu queues", (unsigned long long)n);
	return VC_PASS;
}

static enum vc_result chk_reply_ack(struct vc_ctx *c, struct vc_sess *s)
{
	struct { uint32_t i, n; } st = { 0, 64 };
	int e;

	if (!s->reply_ack)
		return DETAIL("REPLY_ACK not offered"), VC_SKIP;
	if ((e = vc_sess_mem(s, vc_default_features(s))))
		return DETAIL("%s", s->why), VC_FAIL;
	e = vc_sess_ack(s, VU_SET_VRING_NUM, &st, 8, NULL, 0);
	if (e)
		return DETAIL("a valid SET_VRING_NUM: %s", s->why), VC_FAIL;
	st.i = 255;     /* no device has 256 queues here */
	e = vc_sess_ack(s, VU_SET_VRING_NUM, &st, 8, NULL, 0);
	if (e < 0)
		return DETAIL("SET_VRING_NUM for queue 255: %s", s->why), VC_FAIL;
	if (e == 0)
		return DETAIL("SET_VRING_NUM for queue 255 acknowledged as done"), VC_FAIL;
	return VC_PASS;
}

static enum vc_result chk_config(struct vc_ctx *c, struct vc_sess *s)
{
	struct { uint32_t off, size, flags; uint8_t data[8]; } q = { 0, 8, 0, { 0 } };
	struct vc_msg r;
	uint64_t cap;

	if (!has_pf(s, VU_PF_CONFIG))
		return DETAIL("CONFIG not offered"), VC_SKIP;
	if (vc_sess_call(s, VU_GET_CONFIG, &q, sizeof(q), &r))
		return DETAIL("%s", s->why), VC_FAIL;
	if (r.size != sizeof(q))
		return DETAIL("reply of %u bytes for 8 config bytes", r.size), VC_FAIL;
	memcpy(&q, r.payload, sizeof(q));
	if (q.off != 0 || q.size != 8)
		return DETAIL("reply names offset %u size %u", q.off, q.size), VC_FAIL;
	if (vc_type && !strcmp(vc_type, "blk")) {
		memcpy(&cap, q.data, 8);
		if (cap == 0)
			return DETAIL("blk capacity 0"), VC_FAIL;
		DETAIL("capacity %llu sectors", (unsigned long long)cap);
	}
	return VC_PASS;
}

static enum vc_result chk_vring_base(struct vc_ctx *c, struct vc_sess *s)
{
	struct { uint32_t i, n; } st = { 0, 0 };
	uint32_t used = 0;
	size_t buf;
	uint8_t status;
	struct vc_msg r;
	int e;

	if (setup(c, s))
		return VC_ERROR;
	buf = vc_alloc(s, SEC_SIZE, 16);
	if (!strcmp(vc_type ? vc_type : "", "blk")) {
		e = vc_blk_io(s, 0, VC_BLK_IN, 0, buf, SEC_SIZE, &status, &used, c->timeout_ms);
		if (e)
			return DETAIL("a read before the stop was not served: %s", strerror(-e)), VC_FAIL;
	}
	if (vc_sess_call(s, VU_GET_VRING_BASE, &st, 8, &r))
		return DETAIL("%s", s->why), VC_FAIL;
	if (r.size != 8)
		return DETAIL("reply of %u bytes", r.size), VC_FAIL;
	memcpy(&st, r.payload, 8);
	if (st.i != 0 || st.n != s->vr[0].avail_idx)
		return DETAIL("reply index %u num %u, expected 0 and %u", st.i, st.n,
			      s->vr[0].avail_idx), VC_FAIL;
	return VC_PASS;
}

static enum vc_result chk_stop(struct vc_ctx *c, struct vc_sess *s)
{
	struct { uint32_t i, n; } st = { 0, 0 };
	uint16_t before;
	struct vc_msg r;
	size_t buf;

	if (!vc_type || strcmp(vc_type, "blk"))
		return DETAIL("needs a device with requests: --type=blk"), VC_SKIP;
	if (setup(c, s))
		return VC_ERROR;
	if (vc_sess_call(s, VU_GET_VRING_BASE, &st, 8, &r))
		return DETAIL("%s", s->why), VC_FAIL;
	before = vc_ring_used_idx(s, 0);
	buf = vc_alloc(s, SEC_SIZE, 16);
	/* a read posted on the stopped ring */
	vc_ring_desc(s, 0, 0, vc_gpa(s->vr[0].scratch), 16, VRING_DESC_F_NEXT, 1);
	vc_ring_desc(s, 0, 1, vc_gpa(buf), SEC_SIZE, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	vc_ring_desc(s, 0, 2, vc_gpa(s->vr[0].scratch + 16), 1, VRING_DESC_F_WRITE, 0);
	vc_ring_publish(s, 0, 0);
	vc_ring_kick(s, 0);
	sleep_ms(300);
	if (vc_ring_used_idx(s, 0) != before)
		return DETAIL("a buffer added after GET_VRING_BASE was used"), VC_FAIL;
	return VC_PASS;
}

static enum vc_result chk_call(struct vc_ctx *c, struct vc_sess *s)
{
	struct pollfd p;
	uint8_t status;
	uint32_t used;
	size_t buf;
	uint64_t v;

	if (!vc_type || strcmp(vc_type, "blk"))
		return DETAIL("needs --type=blk"), VC_SKIP;
	if (setup(c, s))
		return VC_ERROR;
	buf = vc_alloc(s, SEC_SIZE, 16);
	if (read(s->vr[0].call, &v, 8) < 0) {
		/* empty: fine */
	}
	if (vc_blk_io(s, 0, VC_BLK_IN, 0, buf, SEC_SIZE, &status, &used, c->timeout_ms))
		return DETAIL("read not served"), VC_FAIL;
	p.fd = s->vr[0].call;
	p.events = POLLIN;
	if (poll(&p, 1, c->timeout_ms) != 1)
		return DETAIL("no call after a used buffer, with notifications not suppressed"), VC_FAIL;
	return VC_PASS;
}

static enum vc_result chk_blk_rw(struct vc_ctx *c, struct vc_sess *s)
{
	uint8_t st;
	uint32_t used;
	size_t w, r;

	if (setup(c, s))
		return VC_ERROR;
	w = vc_alloc(s, 4096, 16);
	r = vc_alloc(s, 4096, 16);
	for (unsigned i = 0; i < 4096; i++)
		s->mem[w + i] = (uint8_t)(i * 7 + 3);
	if (vc_blk_io(s, 0, VC_BLK_OUT, 8, w, 4096, &st, &used, c->timeout_ms) || st != 0)
		return DETAIL("write: status %u", st), VC_FAIL;
	if (vc_blk_io(s, 0, VC_BLK_IN, 8, r, 4096, &st, &used, c->timeout_ms) || st != 0)
		return DETAIL("read: status %u", st), VC_FAIL;
	if (memcmp(s->mem + w, s->mem + r, 4096))
		return DETAIL("read back differs from what was written"), VC_FAIL;
	if (used != 4097)
		return DETAIL("read's used length %u, 4096 bytes + status = 4097 expected", used),
		       VC_FAIL;
	return VC_PASS;
}

static uint64_t blk_capacity(struct vc_sess *s)
{
	struct { uint32_t off, size, flags; uint8_t data[8]; } q = { 0, 8, 0, { 0 } };
	struct vc_msg r;
	uint64_t cap = 0;

	if (has_pf(s, VU_PF_CONFIG) && !vc_sess_call(s, VU_GET_CONFIG, &q, sizeof(q), &r) &&
	    r.size == sizeof(q))
		memcpy(&cap, r.payload + 12, 8);
	return cap;
}

static enum vc_result chk_blk_beyond(struct vc_ctx *c, struct vc_sess *s)
{
	uint64_t cap = blk_capacity(s);
	uint8_t st;
	uint32_t used;
	size_t r;

	if (!cap)
		return DETAIL("capacity unknown (no CONFIG)"), VC_SKIP;
	if (setup(c, s))
		return VC_ERROR;
	r = vc_alloc(s, 1024, 16);
	if (vc_blk_io(s, 0, VC_BLK_IN, cap - 1, r, 1024, &st, &used, c->timeout_ms))
		return DETAIL("not answered"), VC_FAIL;
	if (st != 1)
		return DETAIL("read across the end of the disk: status %u, IOERR (1) expected", st),
		       VC_FAIL;
	return VC_PASS;
}

static enum vc_result chk_blk_flush(struct vc_ctx *c, struct vc_sess *s)
{
	uint8_t st;
	uint32_t used;

	if (!(s->features & (1ull << 9)))
		return DETAIL("FLUSH not offered"), VC_SKIP;
	if (setup(c, s))
		return VC_ERROR;
	if (vc_blk_io(s, 0, VC_BLK_FLUSH, 0, 0, 0, &st, &used, c->timeout_ms) || st != 0)
		return DETAIL("flush: status %u", st), VC_FAIL;
	if (used < 1)
		return DETAIL("used length %u: the status byte was written", used), VC_FAIL;
	return VC_PASS;
}

static enum vc_result chk_blk_get_id(struct vc_ctx *c, struct vc_sess *s)
{
	uint8_t st;
	uint32_t used;
	size_t r;

	if (setup(c, s))
		return VC_ERROR;
	r = vc_alloc(s, 20, 1);
	if (vc_blk_io(s, 0, VC_BLK_GET_ID, 0, r, 20, &st, &used, c->timeout_ms))
		return DETAIL("not answered"), VC_FAIL;
	if (st != 0 && st != 2)
		return DETAIL("status %u: OK or UNSUPP expected", st), VC_FAIL;
	if (used > 21)
		return DETAIL("used length %u for 20 bytes + status", used), VC_FAIL;
	return VC_PASS;
}

static enum vc_result chk_inflight(struct vc_ctx *c, struct vc_sess *s)
{
	struct { uint64_t size, off; uint16_t nq, qsize; } in = { 0, 0, 1, 64 };
	struct vc_msg r;
	int e;

	if (!has_pf(s, VU_PF_INFLIGHT))
		return DETAIL("INFLIGHT_SHMFD not offered"), VC_SKIP;
	if ((e = vc_sess_mem(s, vc_default_features(s))))
		return DETAIL("%s", s->why), VC_ERROR;
	e = vc_send(s->sock, VU_GET_INFLIGHT_FD, VU_VERSION, &in, sizeof(in), NULL, 0);
	if (!e)
		e = vc_recv(s->sock, &r, c->timeout_ms);
	if (e)
		return DETAIL("no reply: %s", strerror(-e)), VC_FAIL;
	if (r.size != sizeof(in) || r.nfds != 1) {
		DETAIL("reply of %u bytes with %u fds", r.size, r.nfds);
		vc_msg_close_fds(&r);
		return VC_FAIL;
	}
	memcpy(&in, r.payload, sizeof(in));
	vc_msg_close_fds(&r);
	/* a split queue region: 16 bytes of header and 16 per descriptor */
	if (in.size < 16u + 16u * 64u)
		return DETAIL("mmap_size %llu below one split queue region of 64 (1040)",
			      (unsigned long long)in.size), VC_FAIL;
	DETAIL("mmap_size %llu", (unsigned long long)in.size);
	return VC_PASS;
}

static enum vc_result chk_reset_device(struct vc_ctx *c, struct vc_sess *s)
{
	int e;

	if (!has_pf(s, VU_PF_RESET_DEVICE))
		return DETAIL("RESET_DEVICE not offered"), VC_SKIP;
	if (setup(c, s))
		return VC_ERROR;
	e = vc_sess_ack(s, VU_RESET_DEVICE, NULL, 0, NULL, 0);
	if (e)
		return DETAIL("%s", s->why), VC_FAIL;
	return answer(c, s) == VC_SURVIVED ? VC_PASS : (DETAIL("connection lost"), VC_FAIL);
}

/* A frontend that leaves and comes back is served again, with its I/O. */
static enum vc_result chk_reconnect(struct vc_ctx *c, struct vc_sess *s)
{
	char why[256];

	if (setup(c, s))
		return VC_ERROR;
	vc_sess_close(s);
	if (!vc_probe(c, vc_type, why, sizeof(why)))
		return DETAIL("after a disconnect: %s", why), VC_FAIL;
	if (!vc_probe(c, vc_type, why, sizeof(why)))
		return DETAIL("after a second disconnect: %s", why), VC_FAIL;
	return VC_PASS;
}

/* rng: one 64-byte buffer, filled with at most 64 bytes. */
static enum vc_result chk_rng_read(struct vc_ctx *c, struct vc_sess *s)
{
	uint32_t id, len;
	size_t buf;

	if (setup(c, s))
		return VC_ERROR;
	buf = vc_alloc(s, 64, 16);
	vc_ring_desc(s, 0, 0, vc_gpa(buf), 64, VRING_DESC_F_WRITE, 0);
	vc_ring_publish(s, 0, 0);
	vc_ring_kick(s, 0);
	if (vc_ring_wait_used(s, 0, 1, c->timeout_ms))
		return DETAIL("a 64-byte buffer was not returned"), VC_FAIL;
	vc_ring_used_elem(s, 0, 0, &id, &len);
	if (id != 0 || len == 0 || len > 64)
		return DETAIL("used id %u len %u for a 64-byte buffer", id, len), VC_FAIL;
	DETAIL("%u bytes", len);
	return VC_PASS;
}

/* net: a minimal frame on the first transmit queue (1) is taken and returned. */
static enum vc_result chk_net_tx(struct vc_ctx *c, struct vc_sess *s)
{
	uint32_t id, len;
	size_t f;
	int e;

	if ((e = vc_sess_mem(s, vc_default_features(s))) || (e = vc_ring_start(s, 0, 64)) ||
	    (e = vc_ring_start(s, 1, 64)))
		return DETAIL("setup: %s", s->why), VC_ERROR;
	/* 12-byte virtio-net header (VERSION_1), then a 60-byte broadcast frame */
	f = vc_alloc(s, 12 + 60, 16);
	memset(s->mem + f + 12, 0xff, 6);
	memset(s->mem + f + 18, 0x02, 6);
	s->mem[f + 24] = 0x88;
	s->mem[f + 25] = 0xb5;  /* a local experimental ethertype */
	vc_ring_desc(s, 1, 0, vc_gpa(f), 12 + 60, 0, 0);
	vc_ring_publish(s, 1, 0);
	vc_ring_kick(s, 1);
	if (vc_ring_wait_used(s, 1, 1, c->timeout_ms))
		return DETAIL("a transmitted frame was not returned"), VC_FAIL;
	vc_ring_used_elem(s, 1, 0, &id, &len);
	if (id != 0)
		return DETAIL("used id %u", id), VC_FAIL;
	return VC_PASS;
}

/* ======================================================================= */
/* Robustness: messages                                                    */

static enum vc_result rb_header_cut(struct vc_ctx *c, struct vc_sess *s)
{
	uint32_t h[2] = { VU_GET_FEATURES, VU_VERSION };

	(void)c;
	vc_send_raw(s->sock, h, 6, NULL, 0);
	return VC_SURVIVED;     /* we close: the backend must see a frontend gone */
}

static enum vc_result rb_payload_cut(struct vc_ctx *c, struct vc_sess *s)
{
	uint32_t h[4] = { VU_SET_FEATURES, VU_VERSION, 8, 0 };

	(void)c;
	vc_send_raw(s->sock, h, 16, NULL, 0);
	sleep_ms(200);
	return VC_SURVIVED;
}

static enum vc_result rb_payload_huge(struct vc_ctx *c, struct vc_sess *s)
{
	uint32_t h[3] = { VU_SET_MEM_TABLE, VU_VERSION, 0x7fffffffu };

	vc_send_raw(s->sock, h, 12, NULL, 0);
	return vc_peer_closed(s->sock, c->timeout_ms) ? VC_DROPPED : VC_SURVIVED;
}

static enum vc_result rb_unknown(struct vc_ctx *c, struct vc_sess *s)
{
	return send_bad(c, s, 0xdead, VU_VERSION, NULL, 0, NULL, 0);
}

static enum vc_result rb_version(struct vc_ctx *c, struct vc_sess *s)
{
	uint64_t f = 0;

	return send_bad(c, s, VU_SET_FEATURES, 2, &f, 8, NULL, 0);
}

static enum vc_result rb_features_unoffered(struct vc_ctx *c, struct vc_sess *s)
{
	uint64_t f = ~0ull;

	return send_bad(c, s, VU_SET_FEATURES, VU_VERSION, &f, 8, NULL, 0);
}

static enum vc_result rb_short_payload(struct vc_ctx *c, struct vc_sess *s)
{
	uint32_t v = 0;

	return send_bad(c, s, VU_SET_VRING_NUM, VU_VERSION, &v, 4, NULL, 0);
}

static enum vc_result rb_fds_unwanted(struct vc_ctx *c, struct vc_sess *s)
{
	int fds[4];
	enum vc_result r;

	for (int i = 0; i < 4; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	r = send_bad(c, s, VU_SET_OWNER, VU_VERSION, NULL, 0, fds, 4);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	return r;
}

/* A memory table message: n regions described, the memfd passed nfds times. */
static enum vc_result mem_table(struct vc_ctx *c, struct vc_sess *s, uint32_t n,
				const struct vc_region *rg, unsigned nr, unsigned nfds,
				uint32_t size_override)
{
	struct { uint32_t n, pad; struct vc_region r[9]; } mt = { n, 0, { { 0 } } };
	int fds[8];
	int e;

	if ((e = vc_sess_mem(s, vc_default_features(s))))
		return DETAIL("setup: %s", s->why), VC_ERROR;
	if (nr)
		memcpy(mt.r, rg, nr * sizeof(*rg));
	for (unsigned i = 0; i < nfds; i++)
		fds[i] = s->memfd;
	return send_bad(c, s, VU_SET_MEM_TABLE, VU_VERSION, &mt,
			size_override ? size_override : 8u + nr * 32u, fds, nfds);
}

static struct vc_region region(const struct vc_sess *s, uint64_t gpa, uint64_t size, uint64_t off)
{
	struct vc_region r = { gpa, size, (uintptr_t)s->mem, off };

	return r;
}

static enum vc_result rb_mem_zero(struct vc_ctx *c, struct vc_sess *s)
{
	return mem_table(c, s, 0, NULL, 0, 0, 8);
}

static enum vc_result rb_mem_nine(struct vc_ctx *c, struct vc_sess *s)
{
	struct vc_region r[9];

	if (vc_sess_mem(s, vc_default_features(s)))
		return VC_ERROR;
	for (int i = 0; i < 9; i++)
		r[i] = region(s, VC_GPA_BASE + (uint64_t)i * 0x100000, 0x100000, 0);
	return mem_table(c, s, 9, r, 9, 8, 0);
}

static enum vc_result rb_mem_fd_missing(struct vc_ctx *c, struct vc_sess *s)
{
	struct vc_region r[2];

	if (vc_sess_mem(s, vc_default_features(s)))
		return VC_ERROR;
	r[0] = region(s, VC_GPA_BASE, 0x100000, 0);
	r[1] = region(s, VC_GPA_BASE + 0x100000, 0x100000, 0x100000);
	return mem_table(c, s, 2, r, 2, 1, 0);
}

static enum vc_result rb_mem_size_zero(struct vc_ctx *c, struct vc_sess *s)
{
	struct vc_region r;

	if (vc_sess_mem(s, vc_default_features(s)))
		return VC_ERROR;
	r = region(s, VC_GPA_BASE, 0, 0);
	return mem_table(c, s, 1, &r, 1, 1, 0);
}

static enum vc_result rb_mem_beyond_file(struct vc_ctx *c, struct vc_sess *s)
{
	struct vc_region r;

	if (vc_sess_mem(s, vc_default_features(s)))
		return VC_ERROR;
	/* the file has VC_MEM_SIZE bytes; this maps 1 GiB from 1 GiB on */
	r = region(s, VC_GPA_BASE, 1ull << 30, 1ull << 30);
	return mem_table(c, s, 1, &r, 1, 1, 0);
}

static enum vc_result rb_mem_wrap(struct vc_ctx *c, struct vc_sess *s)
{
	struct vc_region r;

	if (vc_sess_mem(s, vc_default_features(s)))
		return VC_ERROR;
	r = region(s, ~0ull - 0xfff, VC_MEM_SIZE, 0);  /* guest range wraps past 2^64 */
	return mem_table(c, s, 1, &r, 1, 1, 0);
}

static enum vc_result rb_mem_offset_wrap(struct vc_ctx *c, struct vc_sess *s)
{
	struct vc_region r;

	if (vc_sess_mem(s, vc_default_features(s)))
		return VC_ERROR;
	r = region(s, VC_GPA_BASE, VC_MEM_SIZE, ~0ull - 0xfff);        /* offset + size wraps */
	return mem_table(c, s, 1, &r, 1, 1, 0);
}

static enum vc_result rb_mem_overlap(struct vc_ctx *c, struct vc_sess *s)
{
	struct vc_region r[2];

	if (vc_sess_mem(s, vc_default_features(s)))
		return VC_ERROR;
	r[0] = region(s, VC_GPA_BASE, 0x200000, 0);
	r[1] = region(s, VC_GPA_BASE + 0x100000, 0x200000, 0x200000);
	return mem_table(c, s, 2, r, 2, 2, 0);
}

static enum vc_result rb_mem_short(struct vc_ctx *c, struct vc_sess *s)
{
	struct vc_region r[2];

	if (vc_sess_mem(s, vc_default_features(s)))
		return VC_ERROR;
	r[0] = region(s, VC_GPA_BASE, 0x100000, 0);
	r[1] = region(s, VC_GPA_BASE + 0x100000, 0x100000, 0x100000);
	/* says 2 regions, carries one */
	return mem_table(c, s, 2, r, 2, 2, 8 + 32);
}

/* Sends a request that owes a reply of its own and judges the answer: a
 * closed connection is DROPPED, silence NO_REPLY (its frontend would wait
 * forever), anything else goes on to answer(). */
static enum vc_result ask_owed(struct vc_ctx *c, struct vc_sess *s, uint32_t req, const void *p,
			       uint32_t size)
{
	struct vc_msg r;
	int e = vc_send(s->sock, req, VU_VERSION, p, size, NULL, 0);

	if (!e)
		e = vc_recv(s->sock, &r, c->timeout_ms);
	if (e == -ECONNRESET || e == -EPIPE)
		return VC_DROPPED;
	if (e == -ETIMEDOUT)
		return DETAIL("%s needs a reply (vu: Communication)", vc_req_name(req)), VC_NO_REPLY;
	if (!e) {
		vc_msg_close_fds(&r);
		DETAIL("replied (%u bytes)", r.size);
	}
	return answer(c, s);
}

/* A vring message for queue `qi` with the given payload. */
static enum vc_result vring_msg(struct vc_ctx *c, struct vc_sess *s, uint32_t req, uint32_t qi,
				uint32_t num)
{
	struct { uint32_t i, n; } st = { qi, num };
	struct {
		uint32_t index, flags;
		uint64_t desc, used, avail, log;
	} addr = { qi, 0, 0, 0, 0, 0 };
	uint64_t idx = qi;
	int fd = -1;
	enum vc_result r;

	if (vc_sess_mem(s, vc_default_features(s)))
		return DETAIL("setup: %s", s->why), VC_ERROR;
	switch (req) {
	case VU_SET_VRING_ADDR:
		addr.desc = addr.used = addr.avail = (uintptr_t)s->mem + 4096;
		return send_bad(c, s, req, VU_VERSION, &addr, sizeof(addr), NULL, 0);
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		fd = eventfd(0, EFD_CLOEXEC);
		r = send_bad(c, s, req, VU_VERSION, &idx, 8, &fd, 1);
		close(fd);
		return r;
	case VU_GET_VRING_BASE:
		return ask_owed(c, s, req, &st, 8);
	default:
		return send_bad(c, s, req, VU_VERSION, &st, 8, NULL, 0);
	}
}

#define VRING_INDEX_CASE(fn, req) \
	static enum vc_result fn(struct vc_ctx *c, struct vc_sess *s) \
	{ return vring_msg(c, s, req, 255, 64); }
VRING_INDEX_CASE(rb_idx_num, VU_SET_VRING_NUM)
VRING_INDEX_CASE(rb_idx_addr, VU_SET_VRING_ADDR)
VRING_INDEX_CASE(rb_idx_base, VU_SET_VRING_BASE)
VRING_INDEX_CASE(rb_idx_get_base, VU_GET_VRING_BASE)
VRING_INDEX_CASE(rb_idx_kick, VU_SET_VRING_KICK)
VRING_INDEX_CASE(rb_idx_call, VU_SET_VRING_CALL)
VRING_INDEX_CASE(rb_idx_err, VU_SET_VRING_ERR)
VRING_INDEX_CASE(rb_idx_enable, VU_SET_VRING_ENABLE)

static enum vc_result rb_num_zero(struct vc_ctx *c, struct vc_sess *s)
{
	return vring_msg(c, s, VU_SET_VRING_NUM, 0, 0);
}

static enum vc_result rb_num_odd(struct vc_ctx *c, struct vc_sess *s)
{
	return vring_msg(c, s, VU_SET_VRING_NUM, 0, 3);
}

static enum vc_result rb_num_huge(struct vc_ctx *c, struct vc_sess *s)
{
	return vring_msg(c, s, VU_SET_VRING_NUM, 0, 0x80000000u);
}

/* Starts ring 0 (64 entries), stops it, and restarts it with one of its
 * three addresses (0 desc, 1 used, 2 avail) replaced: by `ua`, or when ua is
 * 0, by an address `from_end` bytes before the end of the shared memory. */
static enum vc_result ring_addr(struct vc_ctx *c, struct vc_sess *s, int which, uint64_t ua,
				size_t from_end)
{
	struct {
		uint32_t index, flags;
		uint64_t desc, used, avail, log;
	} addr = { 0, 0, 0, 0, 0, 0 };
	struct { uint32_t i, n; } st = { 0, 0 };
	uint64_t idx = 0;
	struct vc_msg m;
	enum vc_result r;

	if (setup(c, s))
		return VC_ERROR;
	if (!ua)
		ua = (uintptr_t)s->mem + VC_MEM_SIZE - from_end;
	if (vc_sess_call(s, VU_GET_VRING_BASE, &st, 8, &m))
		return DETAIL("%s", s->why), VC_ERROR;
	addr.desc = (uintptr_t)s->vr[0].desc;
	addr.used = (uintptr_t)s->vr[0].used;
	addr.avail = (uintptr_t)s->vr[0].avail;
	if (which == 0)
		addr.desc = ua;
	else if (which == 1)
		addr.used = ua;
	else
		addr.avail = ua;
	r = send_bad(c, s, VU_SET_VRING_ADDR, VU_VERSION, &addr, sizeof(addr), NULL, 0);
	if (r != VC_SURVIVED)
		return r;
	st.n = 0;
	vc_sess_ack(s, VU_SET_VRING_BASE, &st, 8, NULL, 0);
	vc_sess_ack(s, VU_SET_VRING_KICK, &idx, 8, &s->vr[0].kick, 1);
	/* something to chew on, if it started anyway */
	vc_ring_publish(s, 0, 0);
	vc_ring_kick(s, 0);
	sleep_ms(100);
	return answer(c, s);
}

static enum vc_result rb_addr_desc_outside(struct vc_ctx *c, struct vc_sess *s)
{
	return ring_addr(c, s, 0, 0x1000, 0);
}

static enum vc_result rb_addr_used_end(struct vc_ctx *c, struct vc_sess *s)
{
	/* the used ring would run past the end of the region */
	return ring_addr(c, s, 1, 0, 8);
}

static enum vc_result rb_addr_avail_end(struct vc_ctx *c, struct vc_sess *s)
{
	return ring_addr(c, s, 2, 0, 4);
}

static enum vc_result rb_kick_no_fd(struct vc_ctx *c, struct vc_sess *s)
{
	uint64_t idx = 0;       /* neither an fd nor the NOFD flag */

	if (vc_sess_mem(s, vc_default_features(s)))
		return VC_ERROR;
	return send_bad(c, s, VU_SET_VRING_KICK, VU_VERSION, &idx, 8, NULL, 0);
}

static enum vc_result rb_config_huge(struct vc_ctx *c, struct vc_sess *s)
{
	struct { uint32_t off, size, flags; } q = { 0, 0x100000, 0 };
	if (!has_pf(s, VU_PF_CONFIG))
		return DETAIL("CONFIG not offered"), VC_SKIP;
	return ask_owed(c, s, VU_GET_CONFIG, &q, sizeof(q));
}

static enum vc_result rb_config_wrap(struct vc_ctx *c, struct vc_sess *s)
{
	struct { uint32_t off, size, flags; uint8_t d[8]; } q = { 0xfffffffcu, 8, 0, { 0 } };
	if (!has_pf(s, VU_PF_CONFIG))
		return DETAIL("CONFIG not offered"), VC_SKIP;
	return ask_owed(c, s, VU_GET_CONFIG, &q, sizeof(q));
}

static enum vc_result rb_set_config_ro(struct vc_ctx *c, struct vc_sess *s)
{
	struct { uint32_t off, size, flags; uint8_t d[8]; } q = { 0, 8, 0, { 1, 2, 3, 4, 5, 6, 7, 8 } };

	if (!has_pf(s, VU_PF_CONFIG))
		return DETAIL("CONFIG not offered"), VC_SKIP;
	/* blk's capacity is not the driver's to write */
	return send_bad(c, s, VU_SET_CONFIG, VU_VERSION, &q, sizeof(q), NULL, 0);
}

/* ======================================================================= */
/* Robustness: rings and chains                                            */

/* Publishes the chain whose head is descriptor 0 (written by the case),
 * kicks, and gives the backend time to look at it. */
static enum vc_result post(struct vc_ctx *c, struct vc_sess *s)
{
	vc_ring_publish(s, 0, 0);
	vc_ring_kick(s, 0);
	vc_ring_wait_used(s, 0, (uint16_t)(s->vr[0].last_used + 1), 100);
	return answer(c, s);
}

/* A blk read of one sector as a 3-descriptor chain, for cases to spoil. */
static size_t blk_read_chain(struct vc_sess *s, uint64_t sector)
{
	struct { uint32_t t, p; uint64_t sec; } h = { VC_BLK_IN, 0, sector };
	size_t buf = vc_alloc(s, SEC_SIZE, 16);

	memcpy(s->mem + s->vr[0].scratch, &h, 16);
	s->mem[s->vr[0].scratch + 16] = 0xff;
	vc_ring_desc(s, 0, 0, vc_gpa(s->vr[0].scratch), 16, VRING_DESC_F_NEXT, 1);
	vc_ring_desc(s, 0, 1, vc_gpa(buf), SEC_SIZE, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	vc_ring_desc(s, 0, 2, vc_gpa(s->vr[0].scratch + 16), 1, VRING_DESC_F_WRITE, 0);
	return buf;
}

static enum vc_result rb_desc_outside(struct vc_ctx *c, struct vc_sess *s)
{
	if (setup(c, s))
		return VC_ERROR;
	blk_read_chain(s, 0);
	vc_ring_desc(s, 0, 1, 0x1000, SEC_SIZE, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	return post(c, s);
}

static enum vc_result rb_desc_past_end(struct vc_ctx *c, struct vc_sess *s)
{
	if (setup(c, s))
		return VC_ERROR;
	blk_read_chain(s, 0);
	/* starts inside memory, ends 4 KiB past its end */
	vc_ring_desc(s, 0, 1, vc_gpa(VC_MEM_SIZE - 512), 4608,
		     VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	return post(c, s);
}

static enum vc_result rb_desc_len_huge(struct vc_ctx *c, struct vc_sess *s)
{
	if (setup(c, s))
		return VC_ERROR;
	blk_read_chain(s, 0);
	vc_ring_desc(s, 0, 1, vc_gpa(4096), 0xffffffffu, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	return post(c, s);
}

static enum vc_result rb_desc_addr_wrap(struct vc_ctx *c, struct vc_sess *s)
{
	if (setup(c, s))
		return VC_ERROR;
	blk_read_chain(s, 0);
	vc_ring_desc(s, 0, 1, ~0ull - 255, SEC_SIZE, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	return post(c, s);
}

static enum vc_result rb_desc_loop(struct vc_ctx *c, struct vc_sess *s)
{
	if (setup(c, s))
		return VC_ERROR;
	blk_read_chain(s, 0);
	vc_ring_desc(s, 0, 1, vc_gpa(s->vr[0].scratch), 1, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	return post(c, s);
}

static enum vc_result rb_desc_cycle(struct vc_ctx *c, struct vc_sess *s)
{
	if (setup(c, s))
		return VC_ERROR;
	blk_read_chain(s, 0);
	for (unsigned i = 1; i < 64; i++)
		vc_ring_desc(s, 0, i, vc_gpa(s->vr[0].scratch + 16), 1,
			     VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, (uint16_t)((i + 1) % 64));
	return post(c, s);
}

static enum vc_result rb_desc_next_range(struct vc_ctx *c, struct vc_sess *s)
{
	if (setup(c, s))
		return VC_ERROR;
	blk_read_chain(s, 0);
	vc_ring_desc(s, 0, 1, vc_gpa(4096), SEC_SIZE, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1000);
	return post(c, s);
}

static enum vc_result rb_head_range(struct vc_ctx *c, struct vc_sess *s)
{
	if (setup(c, s))
		return VC_ERROR;
	vc_ring_publish(s, 0, 1000);
	vc_ring_kick(s, 0);
	sleep_ms(100);
	return answer(c, s);
}

static enum vc_result rb_avail_jump(struct vc_ctx *c, struct vc_sess *s)
{
	if (setup(c, s))
		return VC_ERROR;
	blk_read_chain(s, 0);
	__atomic_store_n(&s->vr[0].avail->idx, (uint16_t)(64 + 10), __ATOMIC_RELEASE);
	vc_ring_kick(s, 0);
	sleep_ms(200);
	return answer(c, s);
}

/* An indirect table of `len` bytes at descriptor 0, holding the read chain. */
static enum vc_result indirect(struct vc_ctx *c, struct vc_sess *s, uint32_t len, bool nested)
{
	size_t t;
	struct { uint64_t a; uint32_t l; uint16_t f, n; } d[3];

	if (setup(c, s))
		return VC_ERROR;
	if (!(s->acked & (1ull << 28)))
		return DETAIL("INDIRECT_DESC not offered"), VC_SKIP;
	t = vc_alloc(s, sizeof(d), 16);
	blk_read_chain(s, 0);
	memcpy(d, s->vr[0].desc, sizeof(d));
	if (nested)
		d[1].f = VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, d[1].a = vc_gpa(t), d[1].l = 48;
	memcpy(s->mem + t, d, sizeof(d));
	vc_ring_desc(s, 0, 0, vc_gpa(t), len, VRING_DESC_F_INDIRECT, 0);
	return post(c, s);
}

static enum vc_result rb_indirect_odd(struct vc_ctx *c, struct vc_sess *s)
{
	return indirect(c, s, 17, false);
}

static enum vc_result rb_indirect_zero(struct vc_ctx *c, struct vc_sess *s)
{
	return indirect(c, s, 0, false);
}

static enum vc_result rb_indirect_nested(struct vc_ctx *c, struct vc_sess *s)
{
	return indirect(c, s, 48, true);
}

static enum vc_result rb_indirect_huge(struct vc_ctx *c, struct vc_sess *s)
{
	return indirect(c, s, 0x100000u * 16u, false);
}

/* blk requests that lie about themselves. */
static enum vc_result rb_blk_status_ro(struct vc_ctx *c, struct vc_sess *s)
{
	enum vc_result r;

	if (setup(c, s))
		return VC_ERROR;
	blk_read_chain(s, 0);
	vc_ring_desc(s, 0, 2, vc_gpa(s->vr[0].scratch + 16), 1, 0, 0);  /* readable status */
	r = post(c, s);
	if (s->mem[s->vr[0].scratch + 16] != 0xff)
		return DETAIL("the device wrote a status byte into a readable descriptor"),
		       VC_WROTE_OUTSIDE;
	return r;
}

static enum vc_result rb_blk_in_ro(struct vc_ctx *c, struct vc_sess *s)
{
	enum vc_result r;
	size_t buf;

	if (setup(c, s))
		return VC_ERROR;
	buf = blk_read_chain(s, 0);
	memset(s->mem + buf, 0x5a, SEC_SIZE);
	vc_ring_desc(s, 0, 1, vc_gpa(buf), SEC_SIZE, VRING_DESC_F_NEXT, 2);     /* readable */
	r = post(c, s);
	for (unsigned i = 0; i < SEC_SIZE; i++)
		if (s->mem[buf + i] != 0x5a)
			return DETAIL("a read wrote into a readable buffer"), VC_WROTE_OUTSIDE;
	return r;
}

static enum vc_result rb_blk_short_buf(struct vc_ctx *c, struct vc_sess *s)
{
	if (setup(c, s))
		return VC_ERROR;
	blk_read_chain(s, 0);
	vc_ring_desc(s, 0, 1, vc_gpa(vc_alloc(s, 100, 1)), 100, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE,
		     2);
	return post(c, s);
}

static enum vc_result rb_blk_hdr_short(struct vc_ctx *c, struct vc_sess *s)
{
	if (setup(c, s))
		return VC_ERROR;
	blk_read_chain(s, 0);
	vc_ring_desc(s, 0, 0, vc_gpa(s->vr[0].scratch), 8, VRING_DESC_F_NEXT, 1);
	return post(c, s);
}

static enum vc_result rb_blk_no_status(struct vc_ctx *c, struct vc_sess *s)
{
	if (setup(c, s))
		return VC_ERROR;
	blk_read_chain(s, 0);
	vc_ring_desc(s, 0, 0, vc_gpa(s->vr[0].scratch), 16, 0, 0);      /* header alone */
	return post(c, s);
}

static enum vc_result rb_blk_sector_huge(struct vc_ctx *c, struct vc_sess *s)
{
	if (setup(c, s))
		return VC_ERROR;
	blk_read_chain(s, 1ull << 63);
	return post(c, s);
}

static enum vc_result rb_kick_flood(struct vc_ctx *c, struct vc_sess *s)
{
	if (setup(c, s))
		return VC_ERROR;
	for (int i = 0; i < 100000; i++)
		vc_ring_kick(s, 0);
	return answer(c, s);
}

#define CHECK(n, sec, w, t, fn) { n, VC_CHECK, sec, w, t, fn, true }
#define ROBUST(n, sec, w, t, fn) { n, VC_ROBUST, sec, w, t, fn, true }

const struct vc_case vc_cases[] = {
	CHECK("reply-header", "vu: Message specification",
	      "a reply carries the request's code, version 1 and the reply flag", NULL,
	      chk_reply_header),
	CHECK("protocol-features-early", "vu: Front-end message types (GET_PROTOCOL_FEATURES)",
	      "GET_PROTOCOL_FEATURES is answered before SET_FEATURES", NULL, chk_protocol_features),
	CHECK("mq-queue-num", "vu: Multiple queue support",
	      "(should) MQ is offered and GET_QUEUE_NUM names at least one queue", NULL, chk_mq),
	CHECK("reply-ack", "vu: REPLY_ACK", "NEED_REPLY gets 0 on success and non-zero on failure",
	      NULL, chk_reply_ack),
	CHECK("config-read", "vu: Front-end message types (GET_CONFIG)",
	      "GET_CONFIG replies with the asked offset and size", NULL, chk_config),
	CHECK("vring-base", "vu: Front-end message types (GET_VRING_BASE)",
	      "GET_VRING_BASE replies with the ring's next available index", NULL, chk_vring_base),
	CHECK("ring-stop", "vu: Ring states",
	      "after GET_VRING_BASE the ring is stopped: new buffers are not used", "blk", chk_stop),
	CHECK("used-call", "virtio: 2.7.10 Used Buffer Notification",
	      "a used buffer is signalled on the call fd when not suppressed", "blk", chk_call),
	CHECK("inflight-fd", "vu: Inflight I/O tracking",
	      "GET_INFLIGHT_FD returns an fd and room for the queue regions", NULL, chk_inflight),
	CHECK("reset-device", "vu: Front-end message types (RESET_DEVICE)",
	      "RESET_DEVICE is acknowledged and the connection lives on", NULL, chk_reset_device),
	CHECK("reconnect", "vu: Communication (reconnection)",
	      "a frontend that disconnects and comes back is served again", NULL, chk_reconnect),
	CHECK("blk-write-read", "virtio: 5.2.6 Device Operation (blk)",
	      "data written reads back, used length = data + status", "blk", chk_blk_rw),
	CHECK("blk-beyond-capacity", "virtio: 5.2.6.1 Device Requirements (blk)",
	      "a read across the disk's end gets IOERR", "blk", chk_blk_beyond),
	CHECK("blk-flush", "virtio: 5.2.6 Device Operation (blk)", "FLUSH completes with OK", "blk",
	      chk_blk_flush),
	CHECK("blk-get-id", "virtio: 5.2.6 Device Operation (blk)",
	      "GET_ID answers OK or UNSUPP within 20 bytes", "blk", chk_blk_get_id),
	CHECK("rng-read", "virtio: 5.4.6 Device Operation (entropy)",
	      "a 64-byte buffer comes back with 1 to 64 bytes", "rng", chk_rng_read),
	CHECK("net-tx", "virtio: 5.1.6.2 Packet Transmission",
	      "a frame on the first transmit queue is taken and returned", "net", chk_net_tx),

	ROBUST("msg-header-cut", "vu: Message specification", "6 bytes of a header, then close", NULL,
	       rb_header_cut),
	ROBUST("msg-payload-cut", "vu: Message specification",
	       "SET_FEATURES with 4 of its 8 payload bytes, then close", NULL, rb_payload_cut),
	ROBUST("msg-payload-huge", "vu: Message specification",
	       "a header announcing a 2 GiB payload", NULL, rb_payload_huge),
	ROBUST("msg-unknown", "vu: Front-end message types", "request code 0xdead", NULL, rb_unknown),
	ROBUST("msg-bad-version", "vu: Message specification", "flags with version 2", NULL,
	       rb_version),
	ROBUST("msg-short-payload", "vu: Front-end message types (SET_VRING_NUM)",
	       "SET_VRING_NUM with a 4-byte payload", NULL, rb_short_payload),
	ROBUST("msg-unwanted-fds", "vu: Communication", "SET_OWNER carrying 4 fds", NULL,
	       rb_fds_unwanted),
	ROBUST("features-unoffered", "vu: Front-end message types (SET_FEATURES)",
	       "SET_FEATURES with every bit set", NULL, rb_features_unoffered),
	ROBUST("mem-zero-regions", "vu: Front-end message types (SET_MEM_TABLE)",
	       "a memory table of 0 regions", NULL, rb_mem_zero),
	ROBUST("mem-nine-regions", "vu: Front-end message types (SET_MEM_TABLE)",
	       "9 regions, 8 fds (the limit is 8)", NULL, rb_mem_nine),
	ROBUST("mem-fd-missing", "vu: Front-end message types (SET_MEM_TABLE)",
	       "2 regions, 1 fd", NULL, rb_mem_fd_missing),
	ROBUST("mem-size-zero", "vu: Front-end message types (SET_MEM_TABLE)",
	       "a region of 0 bytes", NULL, rb_mem_size_zero),
	ROBUST("mem-beyond-file", "vu: Memory access",
	       "a region mapping 1 GiB from offset 1 GiB of an 8 MiB file", NULL, rb_mem_beyond_file),
	ROBUST("mem-gpa-wrap", "vu: Memory access", "a region whose guest range wraps past 2^64",
	       NULL, rb_mem_wrap),
	ROBUST("mem-offset-wrap", "vu: Memory access", "mmap_offset + size wraps past 2^64", NULL,
	       rb_mem_offset_wrap),
	ROBUST("mem-overlap", "vu: Memory access", "two regions overlapping in guest space", NULL,
	       rb_mem_overlap),
	ROBUST("mem-table-short", "vu: Front-end message types (SET_MEM_TABLE)",
	       "says 2 regions, carries 1", NULL, rb_mem_short),
	ROBUST("vring-index-num", "vu: Multiple queue support", "SET_VRING_NUM for queue 255", NULL,
	       rb_idx_num),
	ROBUST("vring-index-addr", "vu: Multiple queue support", "SET_VRING_ADDR for queue 255", NULL,
	       rb_idx_addr),
	ROBUST("vring-index-base", "vu: Multiple queue support", "SET_VRING_BASE for queue 255", NULL,
	       rb_idx_base),
	ROBUST("vring-index-get-base", "vu: Multiple queue support", "GET_VRING_BASE for queue 255",
	       NULL, rb_idx_get_base),
	ROBUST("vring-index-kick", "vu: Multiple queue support", "SET_VRING_KICK for queue 255", NULL,
	       rb_idx_kick),
	ROBUST("vring-index-call", "vu: Multiple queue support", "SET_VRING_CALL for queue 255", NULL,
	       rb_idx_call),
	ROBUST("vring-index-err", "vu: Multiple queue support", "SET_VRING_ERR for queue 255", NULL,
	       rb_idx_err),
	ROBUST("vring-index-enable", "vu: Multiple queue support", "SET_VRING_ENABLE for queue 255",
	       NULL, rb_idx_enable),
	ROBUST("vring-num-zero", "virtio: 2.7 Split Virtqueues", "a queue of 0 entries", NULL,
	       rb_num_zero),
	ROBUST("vring-num-odd", "virtio: 2.7 Split Virtqueues", "a queue of 3 entries", NULL,
	       rb_num_odd),
	ROBUST("vring-num-huge", "virtio: 2.7 Split Virtqueues", "a queue of 2^31 entries", NULL,
	       rb_num_huge),
	ROBUST("vring-addr-outside", "vu: Memory access",
	       "a descriptor table at an address no region holds", NULL, rb_addr_desc_outside),
	ROBUST("vring-used-past-end", "vu: Memory access",
	       "a used ring starting 8 bytes before the region's end", NULL, rb_addr_used_end),
	ROBUST("vring-avail-past-end", "vu: Memory access",
	       "an available ring starting 4 bytes before the region's end", NULL, rb_addr_avail_end),
	ROBUST("vring-kick-no-fd", "vu: Front-end message types (SET_VRING_KICK)",
	       "SET_VRING_KICK with neither an fd nor the no-fd flag", NULL, rb_kick_no_fd),
	ROBUST("config-huge", "vu: Front-end message types (GET_CONFIG)",
	       "GET_CONFIG of 1 MiB", NULL, rb_config_huge),
	ROBUST("config-offset-wrap", "vu: Front-end message types (GET_CONFIG)",
	       "GET_CONFIG at offset 2^32 - 4", NULL, rb_config_wrap),
	ROBUST("config-write-readonly", "virtio: 5.2.4 Device configuration layout (blk)",
	       "SET_CONFIG over the capacity", "blk", rb_set_config_ro),
	ROBUST("desc-outside", "virtio: 2.7.5 The Virtqueue Descriptor Table",
	       "a data buffer at an address no region holds", "blk", rb_desc_outside),
	ROBUST("desc-past-end", "virtio: 2.7.5 The Virtqueue Descriptor Table",
	       "a data buffer running 4 KiB past the region's end", "blk", rb_desc_past_end),
	ROBUST("desc-len-huge", "virtio: 2.7.5 The Virtqueue Descriptor Table",
	       "a data buffer of 4 GiB - 1", "blk", rb_desc_len_huge),
	ROBUST("desc-addr-wrap", "virtio: 2.7.5 The Virtqueue Descriptor Table",
	       "a data buffer whose range wraps past 2^64", "blk", rb_desc_addr_wrap),
	ROBUST("desc-self-loop", "virtio: 2.7.5.1 Device Requirements",
	       "a descriptor whose next is itself", "blk", rb_desc_loop),
	ROBUST("desc-cycle", "virtio: 2.7.5.1 Device Requirements",
	       "a chain that cycles through the whole table", "blk", rb_desc_cycle),
	ROBUST("desc-next-range", "virtio: 2.7.5.1 Device Requirements",
	       "next = 1000 in a table of 64", "blk", rb_desc_next_range),
	ROBUST("avail-head-range", "virtio: 2.7.6 The Virtqueue Available Ring",
	       "an available head of 1000 in a table of 64", "blk", rb_head_range),
	ROBUST("avail-idx-jump", "virtio: 2.7.6 The Virtqueue Available Ring",
	       "the available index 74 ahead of the used one in a ring of 64", "blk", rb_avail_jump),
	ROBUST("indirect-odd-len", "virtio: 2.7.5.3 Indirect Descriptors",
	       "an indirect table of 17 bytes", "blk", rb_indirect_odd),
	ROBUST("indirect-zero-len", "virtio: 2.7.5.3 Indirect Descriptors",
	       "an indirect table of 0 bytes", "blk", rb_indirect_zero),
	ROBUST("indirect-nested", "virtio: 2.7.5.3.1 Driver Requirements",
	       "an indirect table holding an indirect descriptor", "blk", rb_indirect_nested),
	ROBUST("indirect-huge", "virtio: 2.7.5.3 Indirect Descriptors",
	       "an indirect table of 16 MiB", "blk", rb_indirect_huge),
	ROBUST("blk-status-readonly", "virtio: 5.2.6 Device Operation (blk)",
	       "the status byte in a device-readable descriptor", "blk", rb_blk_status_ro),
	ROBUST("blk-read-into-readonly", "virtio: 2.7.4 Message Framing",
	       "a read whose data buffer is device-readable", "blk", rb_blk_in_ro),
	ROBUST("blk-short-buffer", "virtio: 5.2.6 Device Operation (blk)",
	       "a read into 100 bytes (not whole sectors)", "blk", rb_blk_short_buf),
	ROBUST("blk-header-short", "virtio: 5.2.6 Device Operation (blk)",
	       "a request header of 8 bytes", "blk", rb_blk_hdr_short),
	ROBUST("blk-no-status", "virtio: 5.2.6 Device Operation (blk)",
	       "a request with no writable byte for its status", "blk", rb_blk_no_status),
	ROBUST("blk-sector-huge", "virtio: 5.2.6 Device Operation (blk)",
	       "a read at sector 2^63", "blk", rb_blk_sector_huge),
	ROBUST("kick-flood", "vu: Ring states", "100,000 kicks with nothing on the ring", NULL,
	       rb_kick_flood),
};

const unsigned vc_ncases = sizeof(vc_cases) / sizeof(vc_cases[0]);

bool vc_probe(struct vc_ctx *c, const char *type, char *why, size_t whylen)
{
	struct vc_sess s;
	uint8_t st = 0xff;
	uint32_t used;
	bool ok = false;
	size_t w, r;
	int e;

	e = vc_sess_open(&s, c->t, c->timeout_ms);
	if (!e)
		e = vc_sess_mem(&s, vc_default_features(&s));
	if (!e)
		e = vc_ring_start(&s, 0, 64);
	if (e) {
		snprintf(why, whylen, "a new frontend is not served: %s",
			 s.why[0] ? s.why : strerror(e < 0 ? -e : EPERM));
		goto out;
	}
	if (type && !strcmp(type, "rng")) {
		uint32_t id, len;

		w = vc_alloc(&s, 16, 16);
		vc_ring_desc(&s, 0, 0, vc_gpa(w), 16, VRING_DESC_F_WRITE, 0);
		vc_ring_publish(&s, 0, 0);
		vc_ring_kick(&s, 0);
		if (vc_ring_wait_used(&s, 0, 1, c->timeout_ms)) {
			snprintf(why, whylen, "a new frontend's entropy request was not served");
			goto out;
		}
		vc_ring_used_elem(&s, 0, 0, &id, &len);
		(void)id;
	}
	if (type && !strcmp(type, "blk")) {
		w = vc_alloc(&s, SEC_SIZE, 16);
		r = vc_alloc(&s, SEC_SIZE, 16);
		memset(s.mem + w, 0x3c, SEC_SIZE);
		e = vc_blk_io(&s, 0, VC_BLK_OUT, 0, w, SEC_SIZE, &st, &used, c->timeout_ms);
		if (!e && st == 0)
			e = vc_blk_io(&s, 0, VC_BLK_IN, 0, r, SEC_SIZE, &st, &used, c->timeout_ms);
		if (e || st != 0 || memcmp(s.mem + w, s.mem + r, SEC_SIZE)) {
			snprintf(why, whylen, "a new frontend's write and read back failed (%s, status %u)",
				 e ? strerror(-e) : "served", st);
			goto out;
		}
	}
	ok = true;
out:
	vc_sess_close(&s);
	return ok;
}
