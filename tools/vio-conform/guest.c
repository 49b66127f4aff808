/*
 * guest.c - vio-conform as a frontend: a session with the backend, shared
 * "guest" memory with canaries, a split virtqueue of its own, and
 * virtio-blk requests.
 *
 * The memory is one memfd of VC_MEM_SIZE bytes at guest-physical address
 * VC_GPA_BASE, filled with the canary byte. Everything a case hands to the
 * backend (rings, headers, data buffers) is carved out of it by a bump
 * allocator, so every byte not handed out must still hold the canary when
 * the case ends: a backend that writes past a buffer, or through an
 * address it should have refused, is caught there.
 *
 * The ring is the virtio 1.x split layout (descriptor table, available
 * ring, used ring), driven one request at a time: simple, and enough to
 * see what a backend does with each chain. Numbers are little-endian on
 * the wire; this file assumes a little-endian host (checked at build time).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "conform.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "vio-conform writes rings in host order");

/* Feature bits vio-conform acknowledges when offered. */
#define F_INDIRECT 28
#define F_VERSION_1 32
#define BLK_F_FLUSH 9

static void why(struct vc_sess *s, const char *fmt, const char *a, int err)
{
	snprintf(s->why, sizeof(s->why), fmt, a, strerror(err < 0 ? -err : err));
}

int vc_sess_call(struct vc_sess *s, uint32_t req, const void *p, uint32_t size, struct vc_msg *r)
{
	int e = vc_send(s->sock, req, VU_VERSION, p, size, NULL, 0);

	if (!e)
		e = vc_recv(s->sock, r, s->timeout_ms);
	if (e) {
		why(s, "%s: %s", vc_req_name(req), e);
		return e;
	}
	vc_msg_close_fds(r);
	if (r->req != req || (r->flags & 3u) != VU_VERSION || !(r->flags & VU_REPLY)) {
		snprintf(s->why, sizeof(s->why), "%s: reply with request %u flags %#x", vc_req_name(req),
			 r->req, r->flags);
		return -EPROTO;
	}
	return 0;
}

int vc_sess_ack(struct vc_sess *s, uint32_t req, const void *p, uint32_t size, const int *fds,
		unsigned nfds)
{
	struct vc_msg r;
	uint64_t v;
	int e;

	e = vc_send(s->sock, req, VU_VERSION | (s->reply_ack ? VU_NEED_REPLY : 0), p, size, fds,
		    nfds);
	if (e || !s->reply_ack) {
		if (e)
			why(s, "%s: %s", vc_req_name(req), e);
		return e;
	}
	e = vc_recv(s->sock, &r, s->timeout_ms);
	if (e) {
		why(s, "%s: no ack: %s", vc_req_name(req), e);
		return e;
	}
	vc_msg_close_fds(&r);
	if (r.req != req || r.size != 8 || !(r.flags & VU_REPLY)) {
		snprintf(s->why, sizeof(s->why), "%s: ack with request %u size %u flags %#x",
			 vc_req_name(req), r.req, r.size, r.flags);
		return -EPROTO;
	}
	memcpy(&v, r.payload, 8);
	if (v)
		snprintf(s->why, sizeof(s->why), "%s refused (ack %llu)", vc_req_name(req),
			 (unsigned long long)v);
	return v != 0;
}

static int get_u64(struct vc_sess *s, uint32_t req, uint64_t *out)
{
	struct vc_msg r;
	int e = vc_sess_call(s, req, NULL, 0, &r);

	if (e)
		return e;
	if (r.size != 8) {
		snprintf(s->why, sizeof(s->why), "%s: reply of %u bytes", vc_req_name(req), r.size);
		return -EPROTO;
	}
	memcpy(out, r.payload, 8);
	return 0;
}

int vc_sess_open(struct vc_sess *s, struct vc_target *t, int timeout_ms)
{
	uint64_t want;
	int e;

	memset(s, 0, sizeof(*s));
	s->memfd = -1;
	for (unsigned i = 0; i < VC_QMAX; i++)
		s->vr[i].kick = s->vr[i].call = -1;
	s->timeout_ms = timeout_ms;
	s->nqueues = 1;
	s->sock = vc_target_connect(t, timeout_ms);
	if (s->sock < 0) {
		why(s, "connect %.120s: %s", t->socket_path, s->sock);
		return s->sock;
	}
	e = get_u64(s, VU_GET_FEATURES, &s->features);
	if (e)
		return e;
	if (s->features & (1ull << VU_F_PROTOCOL_FEATURES)) {
		e = get_u64(s, VU_GET_PROTOCOL_FEATURES, &s->protocol);
		if (e)
			return e;
		want = s->protocol & ((1ull << VU_PF_MQ) | (1ull << VU_PF_REPLY_ACK) |
				      (1ull << VU_PF_CONFIG) | (1ull << VU_PF_INFLIGHT) |
				      (1ull << VU_PF_RESET_DEVICE));
		e = vc_send(s->sock, VU_SET_PROTOCOL_FEATURES, VU_VERSION, &want, 8, NULL, 0);
		if (e) {
			why(s, "%s: %s", "SET_PROTOCOL_FEATURES", e);
			return e;
		}
		s->acked_protocol = want;
		s->reply_ack = want & (1ull << VU_PF_REPLY_ACK);
		if (want & (1ull << VU_PF_MQ)) {
			uint64_t n;

			e = get_u64(s, VU_GET_QUEUE_NUM, &n);
			if (e)
				return e;
			s->nqueues = n == 0 ? 1 : n > VC_QMAX ? VC_QMAX : (unsigned)n;
		}
	}
	e = vc_sess_ack(s, VU_SET_OWNER, NULL, 0, NULL, 0);
	return e > 0 ? -EPERM : e;
}

void vc_sess_close(struct vc_sess *s)
{
	if (s->sock >= 0)
		close(s->sock);
	s->sock = -1;
	for (unsigned i = 0; i < VC_QMAX; i++) {
		if (s->vr[i].kick >= 0)
			close(s->vr[i].kick);
		if (s->vr[i].call >= 0)
			close(s->vr[i].call);
		s->vr[i].kick = s->vr[i].call = -1;
	}
	if (s->mem)
		munmap(s->mem, VC_MEM_SIZE);
	s->mem = NULL;
	if (s->memfd >= 0)
		close(s->memfd);
	s->memfd = -1;
}

size_t vc_alloc(struct vc_sess *s, size_t len, size_t align)
{
	size_t off = (s->brk + VC_GUARD + align - 1) & ~(align - 1);

	if (off + len + VC_GUARD > VC_MEM_SIZE || s->nallocs == sizeof(s->allocs) / sizeof(s->allocs[0]))
		return 0;       /* offset 0 is never handed out */
	s->allocs[s->nallocs].off = off;
	s->allocs[s->nallocs].len = len;
	s->nallocs++;
	memset(s->mem + off, 0, len);
	s->brk = off + len;
	return off;
}

bool vc_canaries_ok(struct vc_sess *s)
{
	size_t at = 0;

	if (!s->mem)
		return true;
	for (unsigned i = 0; i <= s->nallocs; i++) {
		size_t end = i < s->nallocs ? s->allocs[i].off : VC_MEM_SIZE;

		for (size_t b = at; b < end; b++)
			if (s->mem[b] != VC_CANARY) {
				snprintf(s->why, sizeof(s->why),
					 "canary at guest address %#llx (%zu bytes %s an allocation) is %#x",
					 (unsigned long long)vc_gpa(b),
					 i ? b - (s->allocs[i - 1].off + s->allocs[i - 1].len) : 0,
					 i ? "after" : "into", s->mem[b]);
				return false;
			}
		if (i < s->nallocs)
			at = s->allocs[i].off + s->allocs[i].len;
	}
	return true;
}

int vc_sess_mem(struct vc_sess *s, uint64_t features)
{
	struct {
		uint32_t n, pad;
		struct vc_region r;
	} mt = { 1, 0, { 0 } };
	int e;

	s->acked = features & s->features;
	e = vc_sess_ack(s, VU_SET_FEATURES, &s->acked, 8, NULL, 0);
	if (e)
		return e;
	s->memfd = memfd_create("vio-conform", MFD_CLOEXEC);
	if (s->memfd < 0 || ftruncate(s->memfd, VC_MEM_SIZE) < 0)
		return -errno;
	s->mem = mmap(NULL, VC_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, s->memfd, 0);
	if (s->mem == MAP_FAILED) {
		s->mem = NULL;
		return -errno;
	}
	memset(s->mem, VC_CANARY, VC_MEM_SIZE);
	s->brk = 4096;
	mt.r.gpa = VC_GPA_BASE;
	mt.r.size = VC_MEM_SIZE;
	mt.r.uaddr = (uintptr_t)s->mem;
	mt.r.mmap_offset = 0;
	return vc_sess_ack(s, VU_SET_MEM_TABLE, &mt, sizeof(mt), &s->memfd, 1);
}

uint64_t vc_default_features(const struct vc_sess *s)
{
	uint64_t f = (1ull << VU_F_PROTOCOL_FEATURES) | (1ull << F_VERSION_1) | (1ull << F_INDIRECT);

	/* device-type bits mean different things per type: only blk's FLUSH */
	if (vc_type && !strcmp(vc_type, "blk"))
		f |= 1ull << BLK_F_FLUSH;
	return s->features & f;
}

int vc_ring_start(struct vc_sess *s, unsigned qi, unsigned num)
{
	struct vc_vring *v = &s->vr[qi];
	struct { uint32_t index, num; } st = { qi, num };
	struct {
		uint32_t index, flags;
		uint64_t desc, used, avail, log;
	} addr = { qi, 0, 0, 0, 0, 0 };
	uint64_t idx = qi;
	size_t d, a, u;
	int e;

	if (qi >= VC_QMAX || !s->mem)
		return -EINVAL;
	d = vc_alloc(s, 16u * num, 16);
	a = vc_alloc(s, 6u + 2u * num, 2);
	u = vc_alloc(s, 6u + 8u * num, 4);
	if (!d || !a || !u)
		return -ENOMEM;
	v->num = num;
	v->desc = (struct vc_desc *)(s->mem + d);
	v->avail = (struct vc_avail *)(s->mem + a);
	v->used = (struct vc_used *)(s->mem + u);
	v->desc_gpa = vc_gpa(d);
	v->avail_gpa = vc_gpa(a);
	v->used_gpa = vc_gpa(u);
	v->avail_idx = v->last_used = v->next_desc = 0;
	v->scratch = vc_alloc(s, 32, 16);
	if (!v->scratch)
		return -ENOMEM;
	if (v->kick < 0)
		v->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v->call < 0)
		v->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v->kick < 0 || v->call < 0)
		return -errno;
	if ((e = vc_sess_ack(s, VU_SET_VRING_NUM, &st, 8, NULL, 0)))
		return e;
	st.num = 0;
	if ((e = vc_sess_ack(s, VU_SET_VRING_BASE, &st, 8, NULL, 0)))
		return e;
	addr.desc = (uintptr_t)v->desc;
	addr.used = (uintptr_t)v->used;
	addr.avail = (uintptr_t)v->avail;
	if ((e = vc_sess_ack(s, VU_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0)))
		return e;
	if ((e = vc_sess_ack(s, VU_SET_VRING_CALL, &idx, 8, &v->call, 1)))
		return e;
	if ((e = vc_sess_ack(s, VU_SET_VRING_KICK, &idx, 8, &v->kick, 1)))
		return e;
	if (s->acked & (1ull << VU_F_PROTOCOL_FEATURES)) {
		st.num = 1;
		if ((e = vc_sess_ack(s, VU_SET_VRING_ENABLE, &st, 8, NULL, 0)))
			return e;
	}
	v->started = true;
	return 0;
}

void vc_ring_desc(struct vc_sess *s, unsigned qi, unsigned i, uint64_t gpa, uint32_t len,
		  uint16_t flags, uint16_t next)
{
	struct vc_desc *d = &s->vr[qi].desc[i % s->vr[qi].num];

	d->addr = gpa;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

void vc_ring_publish(struct vc_sess *s, unsigned qi, uint16_t head)
{
	struct vc_vring *v = &s->vr[qi];

	v->avail->ring[v->avail_idx % v->num] = head;
	v->avail_idx++;
	__atomic_store_n(&v->avail->idx, v->avail_idx, __ATOMIC_RELEASE);
}

void vc_ring_kick(struct vc_sess *s, unsigned qi)
{
	uint64_t one = 1;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (write(s->vr[qi].kick, &one, 8) != 8) {
		/* a full eventfd counter still wakes the backend */
	}
}

uint16_t vc_ring_used_idx(struct vc_sess *s, unsigned qi)
{
	return __atomic_load_n(&s->vr[qi].used->idx, __ATOMIC_ACQUIRE);
}

void vc_ring_used_elem(struct vc_sess *s, unsigned qi, uint16_t i, uint32_t *id, uint32_t *len)
{
	struct vc_used_elem *e = &s->vr[qi].used->ring[i % s->vr[qi].num];

	*id = e->id;
	*len = e->len;
}

int vc_ring_wait_used(struct vc_sess *s, unsigned qi, uint16_t want, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited++) {
		if ((uint16_t)(vc_ring_used_idx(s, qi) - want) < 0x8000u)
			return 0;
		struct timespec ts = { 0, 1000000L };

		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

int vc_blk_io(struct vc_sess *s, unsigned qi, uint32_t type, uint64_t sector, size_t data_off,
	      uint32_t len, uint8_t *status, uint32_t *used_len, int timeout_ms)
{
	struct vc_vring *v = &s->vr[qi];
	struct { uint32_t type, ioprio; uint64_t sector; } hdr = { type, 0, sector };
	uint16_t head, i, want;
	uint32_t id;
	size_t h;
	int e;

	if (!v->started || v->num < 4)
		return -EINVAL;
	h = v->scratch;
	memcpy(s->mem + h, &hdr, 16);
	s->mem[h + 16] = 0xff;
	head = i = v->next_desc % v->num;
	vc_ring_desc(s, qi, i, vc_gpa(h), 16, VRING_DESC_F_NEXT, (uint16_t)((i + 1) % v->num));
	i = (i + 1) % v->num;
	if (len) {
		uint16_t f = VRING_DESC_F_NEXT | (type == VC_BLK_OUT ? 0 : VRING_DESC_F_WRITE);

		vc_ring_desc(s, qi, i, vc_gpa(data_off), len, f, (uint16_t)((i + 1) % v->num));
		i = (i + 1) % v->num;
	}
	vc_ring_desc(s, qi, i, vc_gpa(h + 16), 1, VRING_DESC_F_WRITE, 0);
	v->next_desc = (uint16_t)((i + 1) % v->num);
	want = (uint16_t)(v->last_used + 1);
	vc_ring_publish(s, qi, head);
	vc_ring_kick(s, qi);
	e = vc_ring_wait_used(s, qi, want, timeout_ms);
	if (e)
		return e;
	vc_ring_used_elem(s, qi, v->last_used, &id, used_len);
	v->last_used = want;
	*status = s->mem[h + 16];
	return id == head ? 0 : -EPROTO;
}
