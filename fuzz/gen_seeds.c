/*
 * gen_seeds.c - writes the starting corpus of the fuzz targets.
 *
 * Random bytes rarely make a descriptor chain that walks anywhere, so each
 * target starts from a few hand-built inputs that reach deep: valid split
 * and packed rings with direct, indirect and region-crossing chains, plus
 * one example of each kind of breakage. They are built here from the
 * formats in fuzz_input.h rather than kept as binary files; the inflight
 * logs are written by the ring itself (a device pops and completes some
 * chains over the seed's memory), then damaged one way at a time. The
 * split and packed binaries of one target share its format, so most scripts seed
 * both; the rest are written for the layout they break. fuzz_vu_frontend's
 * seeds are a backend's scripts that follow the frontend's requests in
 * order, through a handshake, a bind and further.
 *
 * Usage: fuzz_gen_seeds CORPUS_ROOT   (writes CORPUS_ROOT/<target>/seed-*)
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vio/inflight.h"
#include "vio/mem.h"
#include "vio/ring.h"
#include "vio/spec.h"
#include "vio/spec/net.h"

#include "fuzz_input.h"
#include "../src/transport/vhost_user_proto.h"

struct out {
	uint8_t b[1 << 16];
	size_t n;
};

static void put8(struct out *o, unsigned v)
{
	if (o->n >= sizeof(o->b)) {
		fprintf(stderr, "gen_seeds: seed too large\n");
		exit(1);
	}
	o->b[o->n++] = (uint8_t)v;
}

static void put16(struct out *o, unsigned v)
{
	put8(o, v & 0xff);
	put8(o, (v >> 8) & 0xff);
}

static void put32(struct out *o, uint32_t v)
{
	put16(o, v & 0xffff);
	put16(o, v >> 16);
}

static void put_bytes(struct out *o, const void *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		put8(o, ((const uint8_t *)p)[i]);
}

static void save(const char *root, const char *target, const char *name, const struct out *o)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, target);
	if (mkdir(path, 0777) && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/seed-%s", root, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(o->b, 1, o->n, f) != o->n || fclose(f)) {
		perror(path);
		exit(1);
	}
}

/* ------------------------------------------------------------------------ */
/* fuzz_devq_pop                                                            */

#define REGION_SIZE 0x800u
#define R0          FZ_BASE     /* guest address of region 0 */
#define OFF_DESC    0x000u
#define OFF_DRIVER  0x100u
#define OFF_DEVICE  0x200u
#define OFF_TABLE   0x300u

/* Guest memory of two regions, little-endian as VERSION_1 wants. */
struct image {
	uint8_t m[2 * REGION_SIZE];
};

static void mem16(struct image *im, size_t off, uint16_t v)
{
	vio_le16 x = vio_cpu_to_le16(v);

	memcpy(im->m + off, &x, sizeof(x));
}

static void split_desc(struct image *im, size_t table, unsigned i, uint64_t addr, uint32_t len,
		       uint16_t flags, uint16_t next)
{
	struct vio_split_desc d = {
		vio_cpu_to_le64(addr), vio_cpu_to_le32(len),
		vio_cpu_to_le16(flags), vio_cpu_to_le16(next),
	};

	memcpy(im->m + table + i * sizeof(d), &d, sizeof(d));
}

/* Packed indirect tables hold packed descriptors too (id unused there). */
static void packed_desc(struct image *im, size_t table, unsigned i, uint64_t addr, uint32_t len,
			uint16_t id, uint16_t flags)
{
	struct vio_packed_desc d = {
		vio_cpu_to_le64(addr), vio_cpu_to_le32(len),
		vio_cpu_to_le16(id), vio_cpu_to_le16(flags),
	};

	memcpy(im->m + table + i * sizeof(d), &d, sizeof(d));
}

/* Header for two regions of REGION_SIZE, rings at the offsets above,
 * resumed at the given bases when resume is set.
 * size_log2 below 0x80 gives 1 << size_log2 entries; 0x80 | n gives n. */
static void devq_header_at(struct out *o, unsigned size_log2, unsigned feat, unsigned mode1,
			   unsigned mode0, bool resume, uint16_t avail, uint16_t used)
{
	put8(o, size_log2 & 0x80 ? 0x80 : size_log2);
	if (size_log2 & 0x80)
		put16(o, size_log2 & 0x7f);
	put8(o, feat);
	put8(o, 1);                     /* two regions */
	put8(o, mode0);
	put16(o, REGION_SIZE - 1);
	put8(o, 0);
	put8(o, mode1);
	put16(o, REGION_SIZE - 1);
	put8(o, 0);
	put8(o, 0);
	put16(o, OFF_DESC);
	put8(o, 0);
	put16(o, OFF_DRIVER);
	put8(o, 0);
	put16(o, OFF_DEVICE);
	put8(o, resume);
	put16(o, avail);
	put16(o, used);
	put8(o, FZ_MAX_IOV - 1);
	put8(o, FZ_MAX_IOV - 1);
}

/* A fresh queue. */
static void devq_header(struct out *o, unsigned size_log2, unsigned feat, unsigned mode1,
			unsigned mode0)
{
	devq_header_at(o, size_log2, feat, mode1, mode0, false, 0, 0);
}

static void dop(struct out *o, unsigned op, unsigned a, unsigned b, unsigned c)
{
	put8(o, op);
	put8(o, a);
	put8(o, b);
	put8(o, c);
}

/* A script: its length, then each op with its three arguments. */
static void script(struct out *o, const uint8_t (*ops)[4], size_t n)
{
	put8(o, (unsigned)n);
	for (size_t i = 0; i < n; i++)
		dop(o, ops[i][0], ops[i][1], ops[i][2], ops[i][3]);
}

/* A working script: pop, complete in several ways, look at notifications. */
static void devq_script(struct out *o)
{
	static const uint8_t ops[][4] = {
		{ FZ_DOP_POP, 0, 0, 0 },
		{ FZ_DOP_PUSH, 0, 1, 0 },
		{ FZ_DOP_NEED_INTERRUPT, 0, 0, 0 },
		{ FZ_DOP_POP, 1, 0, 0 },
		{ FZ_DOP_POP, 2, 0, 0 },
		{ FZ_DOP_FILL, 2, 3, 5 },
		{ FZ_DOP_FILL, 1, 1, 0 },
		{ FZ_DOP_FLUSH, 0, 0, 0 },
		{ FZ_DOP_NEED_INTERRUPT, 0, 0, 0 },
		{ FZ_DOP_KICK_ENABLE, 0, 0, 0 },
		{ FZ_DOP_POP, 3, 0, 0 },
		{ FZ_DOP_PUBLISH, 0, 0, 0 },
		{ FZ_DOP_HAS_AVAIL, 0, 0, 0 },
		{ FZ_DOP_KICK_DISABLE, 0, 0, 0 },
		{ FZ_DOP_POP, 3, 0, 0 },
		{ FZ_DOP_PUSH, 3, 2, 0 },
		{ FZ_DOP_PUSH, 3, 1, 0 },
		{ FZ_DOP_POKE, 2, 1, 9 },
		{ FZ_DOP_POP, 4, 0, 0 },
	};

	script(o, ops, sizeof(ops) / sizeof(ops[0]));
}

/* Split: a direct chain, an indirect one whose middle segment crosses from
 * region 0 into region 1, and a single readable descriptor. */
static void split_image(struct image *im)
{
	memset(im, 0, sizeof(*im));
	split_desc(im, OFF_DESC, 0, R0 + 0x400, 64, VIO_DESC_F_NEXT, 1);
	split_desc(im, OFF_DESC, 1, R0 + 0x480, 128, VIO_DESC_F_WRITE, 0);
	split_desc(im, OFF_DESC, 2, R0 + OFF_TABLE, 48, VIO_DESC_F_INDIRECT, 0);
	split_desc(im, OFF_DESC, 3, R0 + 0x700, 32, 0, 0);
	split_desc(im, OFF_TABLE, 0, R0 + 0x500, 16, VIO_DESC_F_NEXT, 1);
	split_desc(im, OFF_TABLE, 1, R0 + REGION_SIZE - 0x10, 0x20,
		   VIO_DESC_F_WRITE | VIO_DESC_F_NEXT, 2);
	split_desc(im, OFF_TABLE, 2, R0 + 0x600, 8, VIO_DESC_F_WRITE, 0);
	mem16(im, OFF_DRIVER + 2, 3);           /* avail->idx */
	mem16(im, OFF_DRIVER + 4, 0);           /* ring[0..2] */
	mem16(im, OFF_DRIVER + 6, 2);
	mem16(im, OFF_DRIVER + 8, 3);
}

/* Packed, one wrap in: a direct chain (id 0), an indirect one (id 1) and
 * a single readable descriptor (id 2). */
static void packed_image(struct image *im)
{
	memset(im, 0, sizeof(*im));
	packed_desc(im, OFF_DESC, 0, R0 + 0x400, 64, 0, VIO_PACKED_DESC_F_AVAIL | VIO_DESC_F_NEXT);
	packed_desc(im, OFF_DESC, 1, R0 + 0x480, 128, 0,
		    VIO_PACKED_DESC_F_AVAIL | VIO_DESC_F_WRITE);
	packed_desc(im, OFF_DESC, 2, R0 + OFF_TABLE, 48, 1,
		    VIO_PACKED_DESC_F_AVAIL | VIO_DESC_F_INDIRECT);
	packed_desc(im, OFF_DESC, 3, R0 + 0x700, 32, 2, VIO_PACKED_DESC_F_AVAIL);
	packed_desc(im, OFF_TABLE, 0, R0 + 0x500, 16, 0, 0);
	packed_desc(im, OFF_TABLE, 1, R0 + REGION_SIZE - 0x10, 0x20, 0, VIO_DESC_F_WRITE);
	packed_desc(im, OFF_TABLE, 2, R0 + 0x600, 8, 0, VIO_DESC_F_WRITE);
}

static void gen_devq(const char *root)
{
	const unsigned modern = FZ_F_VERSION_1 | FZ_F_EVENT_IDX | FZ_F_INDIRECT;
	const char *t = "fuzz_devq_pop";
	struct image im;
	struct out o;

	/* split, adjacent regions */
	split_image(&im);
	o.n = 0;
	devq_header(&o, 3, modern, FZ_R_ADJACENT, FZ_R_ADJACENT);
	devq_script(&o);
	put_bytes(&o, im.m, sizeof(im.m));
	save(root, t, "split", &o);

	/* the same with a hole where the crossing segment lands: -EFAULT */
	o.n = 0;
	devq_header(&o, 3, modern | FZ_F_NOTIFY_EMPTY, FZ_R_HOLE, FZ_R_ADJACENT);
	devq_script(&o);
	put_bytes(&o, im.m, sizeof(im.m));
	save(root, t, "split-hole", &o);

	/* legacy, no features, and a chain that loops: -EIO */
	split_image(&im);
	split_desc(&im, OFF_DESC, 1, R0 + 0x480, 128, VIO_DESC_F_NEXT, 0);
	o.n = 0;
	devq_header(&o, 2, 0, FZ_R_ADJACENT, FZ_R_ADJACENT);
	devq_script(&o);
	put_bytes(&o, im.m, sizeof(im.m));
	save(root, t, "split-loop", &o);

	/* packed, one wrap in: a direct chain and an indirect one */
	t = "fuzz_devq_pop_packed";
	packed_image(&im);
	o.n = 0;
	devq_header(&o, 3, modern | FZ_F_PACKED, FZ_R_ADJACENT, FZ_R_ADJACENT);
	devq_script(&o);
	put_bytes(&o, im.m, sizeof(im.m));
	save(root, t, "packed", &o);

	/* packed with IN_ORDER */
	o.n = 0;
	devq_header(&o, 3, modern | FZ_F_PACKED | FZ_F_IN_ORDER, FZ_R_ADJACENT, FZ_R_ADJACENT);
	devq_script(&o);
	put_bytes(&o, im.m, sizeof(im.m));
	save(root, t, "packed-in-order", &o);

	/* a queue of 5: PUBLISH makes the ring wrap, so the wrap counter and
	 * the position arithmetic are not a power-of-two mask */
	o.n = 0;
	devq_header(&o, 0x80 | 5, modern | FZ_F_PACKED | FZ_F_NOTIFY_EMPTY, FZ_R_ADJACENT,
		    FZ_R_ADJACENT);
	devq_script(&o);
	put_bytes(&o, im.m, sizeof(im.m));
	save(root, t, "packed-size5", &o);

	/* a chain whose second descriptor is not available: -EIO */
	packed_desc(&im, OFF_DESC, 1, R0 + 0x480, 128, 0,
		    VIO_PACKED_DESC_F_USED | VIO_DESC_F_WRITE);
	o.n = 0;
	devq_header(&o, 3, modern | FZ_F_PACKED, FZ_R_ADJACENT, FZ_R_ADJACENT);
	devq_script(&o);
	put_bytes(&o, im.m, sizeof(im.m));
	save(root, t, "packed-short-chain", &o);

	/* inconsistent wrap bits (both set) at the head: -EIO */
	packed_desc(&im, OFF_DESC, 0, R0 + 0x400, 64, 0,
		    VIO_PACKED_DESC_F_AVAIL | VIO_PACKED_DESC_F_USED | VIO_DESC_F_NEXT);
	o.n = 0;
	devq_header(&o, 2, modern | FZ_F_PACKED, FZ_R_ADJACENT, FZ_R_ADJACENT);
	devq_script(&o);
	put_bytes(&o, im.m, sizeof(im.m));
	save(root, t, "packed-bad-wrap", &o);
}

/* ------------------------------------------------------------------------ */
/* fuzz_drvq_get_buf                                                        */

static void qadd(struct out *o, unsigned nout, unsigned nin, unsigned len)
{
	put8(o, FZ_QOP_ADD);
	put8(o, nout);
	put8(o, nin);
	for (unsigned i = 0; i < nout + nin; i++)
		put16(o, len + i);
}

static void qcomplete(struct out *o, unsigned pick, unsigned mode)
{
	put8(o, FZ_QOP_COMPLETE);
	put8(o, pick);
	put8(o, mode);
	if (mode % 4 == 3)
		put32(o, 100);
}

static void qop(struct out *o, unsigned op)
{
	put8(o, op);
}

/* Post, complete some in and out of order, reap, play with callbacks. */
static void drvq_script(struct out *o)
{
	qadd(o, 1, 1, 64);
	qadd(o, 2, 2, 32);
	qadd(o, 0, 1, 512);
	qadd(o, 1, 0, 16);
	qop(o, FZ_QOP_KICK);
	qcomplete(o, 2, 0);
	qop(o, FZ_QOP_GET_BUF);
	qcomplete(o, 0, 2 | 40 << 2);
	qcomplete(o, 1, 3);
	qop(o, FZ_QOP_HAS_USED);
	qop(o, FZ_QOP_GET_BUF);
	qop(o, FZ_QOP_GET_BUF);
	qop(o, FZ_QOP_GET_BUF);
	qadd(o, 4, 4, 8);
	qop(o, FZ_QOP_DISABLE_CB);
	put8(o, FZ_QOP_EVENTS);
	put16(o, VIO_USED_F_NO_NOTIFY);
	put16(o, 3);
	qop(o, FZ_QOP_KICK);
	qop(o, FZ_QOP_ENABLE_CB);
	qop(o, FZ_QOP_POLL);
	qop(o, FZ_QOP_ENABLE_CB_DELAYED);
	qcomplete(o, 0, 0);
	qop(o, FZ_QOP_GET_BUF);
	put8(o, FZ_QOP_ENTRY);
	put8(o, 0);
	put32(o, 1);
	put32(o, 8);
	put8(o, FZ_QOP_SET_IDX);
	put8(o, 1);
	qop(o, FZ_QOP_GET_BUF);
	qcomplete(o, 0, 1);             /* one byte too many */
	qop(o, FZ_QOP_GET_BUF);
	qadd(o, 1, 1, 64);
}

static void drvq_header(struct out *o, unsigned size_log2, unsigned feat, unsigned clamp,
			unsigned indirect_max)
{
	put8(o, size_log2);
	put8(o, feat);
	put8(o, clamp);
	put8(o, indirect_max);
}

/* A packed device at its worst: event suppression structure set to DESC
 * at chosen offsets (right and wrong wrap), used descriptors with wrong
 * bits, a position that jumps back, a used id out of range. */
static void drvq_packed_script(struct out *o)
{
	for (unsigned i = 0; i < 6; i++)
		qadd(o, 1 + i % 2, 1, 32);
	put8(o, FZ_QOP_EVENTS);
	put16(o, VIO_PACKED_EVENT_DESC);
	put16(o, 3 | 1u << VIO_PACKED_EVENT_WRAP_SHIFT);
	qop(o, FZ_QOP_KICK);
	qop(o, FZ_QOP_ENABLE_CB_DELAYED);
	qcomplete(o, 1, 0);
	qcomplete(o, 0, 2 | 9 << 2);
	qop(o, FZ_QOP_GET_BUF);
	qop(o, FZ_QOP_GET_BUF);
	qop(o, FZ_QOP_ENABLE_CB);
	put8(o, FZ_QOP_FLAGS);              /* AVAIL only: looks available, not used */
	put8(o, 0);
	put16(o, VIO_PACKED_DESC_F_AVAIL);
	qop(o, FZ_QOP_HAS_USED);
	qop(o, FZ_QOP_GET_BUF);
	for (unsigned i = 0; i < 12; i++) {
		qcomplete(o, 0, 0);
		qop(o, FZ_QOP_GET_BUF);
		qadd(o, 1, i % 3, 16);
		qop(o, FZ_QOP_KICK);
	}
	put8(o, FZ_QOP_EVENTS);
	put16(o, VIO_PACKED_EVENT_DESC);
	put16(o, 1);
	qadd(o, 2, 2, 8);
	qop(o, FZ_QOP_KICK);
	put8(o, FZ_QOP_SET_IDX);            /* one back: a stale position */
	put8(o, 0xff);
	qcomplete(o, 0, 0);
	qop(o, FZ_QOP_GET_BUF);
	put8(o, FZ_QOP_ENTRY);              /* an id beyond the queue */
	put8(o, 0);
	put32(o, 0xffff);
	put32(o, 1);
	put8(o, FZ_QOP_FLAGS);
	put8(o, 0);
	put16(o, VIO_PACKED_DESC_F_AVAIL | VIO_PACKED_DESC_F_USED);
	qop(o, FZ_QOP_GET_BUF);
}

/* The same scripts for the split binary and the packed one. */
static void gen_drvq_layout(const char *root, const char *t, bool packed)
{
	const unsigned modern = FZ_F_VERSION_1 | FZ_F_EVENT_IDX | FZ_F_INDIRECT;
	struct out o;

	o.n = 0;
	drvq_header(&o, 3, modern, 0, 4);
	drvq_script(&o);
	save(root, t, "indirect-broken", &o);

	o.n = 0;
	drvq_header(&o, 3, modern, 1, 4);
	drvq_script(&o);
	save(root, t, "indirect-clamp", &o);

	o.n = 0;
	drvq_header(&o, 4, FZ_F_VERSION_1, 0, 0);
	drvq_script(&o);
	save(root, t, "direct", &o);

	o.n = 0;
	drvq_header(&o, 3, modern | FZ_F_IN_ORDER, 1, 4);
	drvq_script(&o);
	save(root, t, "in-order", &o);

	/* Small queue, many rounds: the free list turns over many times. */
	o.n = 0;
	drvq_header(&o, 2, FZ_F_VERSION_1 | FZ_F_EVENT_IDX, 1, 0);
	for (unsigned i = 0; i < 60; i++) {
		qadd(&o, i % 3, 1, 16);
		qadd(&o, 1, 0, 16);
		qcomplete(&o, i, 0);
		qcomplete(&o, i + 1, 2);
		qop(&o, FZ_QOP_GET_BUF);
		qop(&o, FZ_QOP_GET_BUF);
	}
	save(root, t, "rounds", &o);

	if (!packed)
		return;
	/* Sizes 7 and 3 (bit 7 of the size byte): no power-of-two masks. */
	o.n = 0;
	drvq_header(&o, 0x80 | 6, modern, 0, 4);
	drvq_script(&o);
	drvq_packed_script(&o);
	save(root, t, "size7", &o);

	o.n = 0;
	drvq_header(&o, 0x80 | 2, FZ_F_VERSION_1 | FZ_F_EVENT_IDX | FZ_F_IN_ORDER, 1, 0);
	drvq_packed_script(&o);
	save(root, t, "size3-in-order", &o);

	o.n = 0;
	drvq_header(&o, 3, modern, 1, 4);
	drvq_packed_script(&o);
	save(root, t, "events", &o);
}

static void gen_drvq(const char *root)
{
	gen_drvq_layout(root, "fuzz_drvq_get_buf", false);
	gen_drvq_layout(root, "fuzz_drvq_get_buf_packed", true);
}

/* ------------------------------------------------------------------------ */
/* fuzz_inflight                                                            */

#define LOG_QSIZE 8     /* the seeds' queue size (devq_header's 3) */

/* 8-byte words of a log region for LOG_QSIZE, either layout. */
#define LOG_WORDS ((sizeof(struct vio_inflight_packed) + \
		    LOG_QSIZE * sizeof(struct vio_inflight_packed_desc)) / 8)

static size_t log_len(bool packed)
{
	return packed ? sizeof(struct vio_inflight_packed) +
			LOG_QSIZE * sizeof(struct vio_inflight_packed_desc)
		      : sizeof(struct vio_inflight_split) +
			LOG_QSIZE * sizeof(struct vio_inflight_split_desc);
}

/* What a device left behind: the log, the ring's memory and the
 * positions a frontend would resume it at. */
struct crashed {
	struct image im;
	uint64_t log[LOG_WORDS];
	uint16_t avail, used;
};

/* Runs a device with a fresh log over the seed image: pops `pops` chains,
 * then pushes the ones `push` names (bit k: the k-th popped), in order,
 * or with IN_ORDER completes the oldest `push` chains in one batch. */
static void crash_device(struct crashed *cr, bool packed, unsigned feat, unsigned pops,
			 unsigned push)
{
	struct vio_mem_region table[2];
	uint16_t scratch[2 * LOG_QSIZE];
	struct vio_iov out[3][FZ_MAX_IOV], in[3][FZ_MAX_IOV];
	struct vio_elem e[3];
	struct vio_mem mem;
	struct vio_devq q;
	struct vio_devq_config cfg = {
		.size = LOG_QSIZE,
		.features = VIO_BIT(VIO_F_VERSION_1) |
			    ((feat & FZ_F_EVENT_IDX) ? VIO_BIT(VIO_F_EVENT_IDX) : 0) |
			    ((feat & FZ_F_INDIRECT) ? VIO_BIT(VIO_F_INDIRECT_DESC) : 0) |
			    ((feat & FZ_F_IN_ORDER) ? VIO_BIT(VIO_F_IN_ORDER) : 0) |
			    (packed ? VIO_BIT(VIO_F_RING_PACKED) : 0),
		.addrs = { R0 + OFF_DESC, R0 + OFF_DRIVER, R0 + OFF_DEVICE },
		.mem = &mem,
		.inflight = cr->log,
		.inflight_len = log_len(packed),
		.inflight_scratch = scratch,
	};
	bool in_order = feat & FZ_F_IN_ORDER;

	if (packed)
		packed_image(&cr->im);
	else
		split_image(&cr->im);
	memset(cr->log, 0, sizeof(cr->log));
	vio_mem_init(&mem, table, 2);
	if (vio_mem_add(&mem, R0, REGION_SIZE, cr->im.m) ||
	    vio_mem_add(&mem, R0 + REGION_SIZE, REGION_SIZE, cr->im.m + REGION_SIZE) ||
	    vio_devq_init(&q, &cfg)) {
		fprintf(stderr, "gen_seeds: the seed device does not start\n");
		exit(1);
	}
	for (unsigned k = 0; k < pops; k++) {
		e[k] = (struct vio_elem){ .out = out[k], .in = in[k], .out_cap = FZ_MAX_IOV,
					  .in_cap = FZ_MAX_IOV };
		if (vio_devq_pop(&q, &e[k])) {
			fprintf(stderr, "gen_seeds: the seed device cannot pop: %s\n",
				vio_devq_error(&q) ? vio_devq_error(&q) : "nothing available");
			exit(1);
		}
	}
	if (in_order && push) {
		vio_devq_fill_in_order(&q, &e[push - 1], 0);
		vio_devq_flush(&q);
	}
	for (unsigned k = 0; !in_order && k < pops; k++)
		if (push & (1u << k))
			vio_devq_push(&q, &e[k], 0);
	cr->avail = vio_devq_avail_base(&q);
	cr->used = vio_devq_used_base(&q);
}

/* A script for a queue that resumes with a log: the chains handed out
 * again, some completed out of order, new ones, a log write behind the
 * device's back, a restart, and more. */
static void inflight_script(struct out *o)
{
	static const uint8_t ops[][4] = {
		{ FZ_DOP_POP, 0, 0, 0 },
		{ FZ_DOP_POP, 1, 0, 0 },
		{ FZ_DOP_FILL, 1, 1, 0 },
		{ FZ_DOP_FLUSH, 0, 0, 0 },
		{ FZ_DOP_POP, 2, 0, 0 },
		{ FZ_IOP_RESTART, 0, 0, 0 },
		{ FZ_DOP_POP, 0, 0, 0 },
		{ FZ_DOP_POP, 1, 0, 0 },
		{ FZ_DOP_FILL_IN_ORDER, 1, 1, 0 },
		{ FZ_DOP_PUSH, 0, 1, 0 },
		{ FZ_DOP_PUBLISH, 0, 0, 0 },
		{ FZ_DOP_POP, 3, 0, 0 },
		{ FZ_IOP_LOG_POKE, 16, 0, 1 },
		{ FZ_DOP_PUSH, 3, 1, 0 },
		{ FZ_DOP_FLUSH, 0, 0, 0 },
		{ FZ_IOP_RESTART, 0, 0, 0 },
		{ FZ_DOP_POP, 4, 0, 0 },
	};

	script(o, ops, sizeof(ops) / sizeof(ops[0]));
}

/* One fuzz_inflight input: the queue resumed (or not) at the crashed
 * device's positions, with its log and memory. */
static void inflight_seed(const char *root, const char *t, const char *name, const struct crashed *cr,
			  bool packed, unsigned feat, bool resume, unsigned log_mode)
{
	struct out o;

	o.n = 0;
	devq_header_at(&o, 3, feat | (packed ? FZ_F_PACKED : 0), FZ_R_ADJACENT, FZ_R_ADJACENT,
		       resume, cr->avail, cr->used);
	inflight_script(&o);
	put8(&o, log_mode);
	put8(&o, 8);                    /* extra entries, for FZ_LOG_LARGER */
	put_bytes(&o, cr->log, log_len(packed));
	if (log_mode == FZ_LOG_ALIGNED || log_mode == FZ_LOG_LARGER)
		for (size_t n = log_len(packed); n < vio_inflight_queue_bytes(packed, LOG_QSIZE +
				(log_mode == FZ_LOG_LARGER ? 8 : 0)); n++)
			put8(&o, 0);
	put_bytes(&o, cr->im.m, sizeof(cr->im.m));
	save(root, t, name, &o);
}

/* Split: chains 0 and 3 (heads 0 and 3) in flight, chain 1 (head 2) used. */
static void sbad_flag(struct vio_inflight_split *l)
{
	l->desc[0].inflight = 2;
}

static void sbad_same_counter(struct vio_inflight_split *l)
{
	l->desc[3].counter = l->desc[0].counter;
}

static void sbad_extra_chain(struct vio_inflight_split *l)
{
	l->desc[5].inflight = 1;
	l->desc[5].counter = l->desc[3].counter + 7;
}

static void sbad_used_ahead(struct vio_inflight_split *l)
{
	l->used_idx = (uint16_t)(l->used_idx + 1);
}

static void sbad_batch_head(struct vio_inflight_split *l)
{
	l->used_idx = (uint16_t)(l->used_idx - 1);
	l->last_batch_head = 0xffff;
}

static void sbad_batch_list(struct vio_inflight_split *l)
{
	l->used_idx = (uint16_t)(l->used_idx - 2);
	l->desc[l->last_batch_head].next = LOG_QSIZE;
}

static void sbad_version(struct vio_inflight_split *l)
{
	l->version = 2;
}

static void sbad_desc_num(struct vio_inflight_split *l)
{
	l->desc_num = LOG_QSIZE - 1;
}

/* Packed: the log entry heading the k-th chain still in flight, oldest
 * first. */
static unsigned phead(const struct vio_inflight_packed *l, unsigned k)
{
	for (unsigned i = 0, seen = 0; i < LOG_QSIZE; i++)
		for (unsigned j = 0; j < LOG_QSIZE; j++)
			if (l->desc[j].inflight && l->desc[j].counter == i && seen++ == k)
				return j;
	fprintf(stderr, "gen_seeds: no chain %u in flight\n", k);
	exit(1);
}

static void pbad_flag(struct vio_inflight_packed *l)
{
	l->desc[phead(l, 0)].inflight = 2;
}

static void pbad_same_counter(struct vio_inflight_packed *l)
{
	l->desc[phead(l, 1)].counter = l->desc[phead(l, 0)].counter;
}

static void pbad_free_loop(struct vio_inflight_packed *l)
{
	l->desc[l->free_head].next = l->free_head;
}

static void pbad_free_short(struct vio_inflight_packed *l)
{
	l->desc[l->free_head].next = 0xffff;
}

static void pbad_free_head(struct vio_inflight_packed *l)
{
	l->free_head = l->old_free_head = LOG_QSIZE;
}

static void pbad_num_zero(struct vio_inflight_packed *l)
{
	l->desc[phead(l, 1)].num = 0;
}

static void pbad_num_big(struct vio_inflight_packed *l)
{
	l->desc[phead(l, 1)].num = LOG_QSIZE + 1;
}

static void pbad_last(struct vio_inflight_packed *l)
{
	unsigned h = phead(l, 0);

	l->desc[h].last = (uint16_t)((l->desc[h].last + 1) % LOG_QSIZE);
}

static void pbad_overlap(struct vio_inflight_packed *l)
{
	unsigned h0 = phead(l, 0), h1 = phead(l, 1);

	l->desc[h1].num = 2;
	l->desc[h1].next = (uint16_t)h0;
	l->desc[h1].last = (uint16_t)h0;
}

static void pbad_used_idx(struct vio_inflight_packed *l)
{
	l->used_idx = l->old_used_idx = LOG_QSIZE;
}

static void pbad_wrap(struct vio_inflight_packed *l)
{
	l->old_used_wrap_counter = 2;
}

static void pbad_version(struct vio_inflight_packed *l)
{
	l->version = 2;
}

static void pbad_desc_num(struct vio_inflight_packed *l)
{
	l->desc_num = LOG_QSIZE - 1;
}

static void pbad_copy(struct vio_inflight_packed *l)
{
	unsigned h = phead(l, 1);

	l->desc[h].flags = VIO_DESC_F_INDIRECT;
	l->desc[h].len = 0;
}

static void pbad_next_flag(struct vio_inflight_packed *l)
{
	uint16_t last = l->desc[phead(l, 1)].last;

	l->desc[last].flags = (uint16_t)((l->desc[last].flags & ~VIO_DESC_F_INDIRECT) |
					 VIO_DESC_F_NEXT);
}

static void pbad_addr(struct vio_inflight_packed *l)
{
	l->desc[phead(l, 0)].addr = 1ull << 60;
}

/* A flush that staged its state and died before publishing. */
static void pmid_flush(struct vio_inflight_packed *l)
{
	l->free_head = (uint16_t)phead(l, 0);
	l->used_idx = (uint16_t)((l->used_idx + 3) % LOG_QSIZE);
}

struct damage {
	const char *name;
	void (*split)(struct vio_inflight_split *l);
	void (*packed)(struct vio_inflight_packed *l);
};

/* The kinds of damage the backend tests name (tests/vhost_user,
 * "bad log"), one seed each. */
static const struct damage damages[] = {
	{ "flag-2", sbad_flag, pbad_flag },
	{ "same-counter", sbad_same_counter, pbad_same_counter },
	{ "extra-chain", sbad_extra_chain, NULL },
	{ "used-ahead", sbad_used_ahead, NULL },
	{ "batch-head", sbad_batch_head, NULL },
	{ "batch-list", sbad_batch_list, NULL },
	{ "version-2", sbad_version, pbad_version },
	{ "desc-num-low", sbad_desc_num, pbad_desc_num },
	{ "free-loop", NULL, pbad_free_loop },
	{ "free-short", NULL, pbad_free_short },
	{ "free-head", NULL, pbad_free_head },
	{ "num-zero", NULL, pbad_num_zero },
	{ "num-big", NULL, pbad_num_big },
	{ "last-wrong", NULL, pbad_last },
	{ "overlap", NULL, pbad_overlap },
	{ "used-idx", NULL, pbad_used_idx },
	{ "wrap-2", NULL, pbad_wrap },
	{ "copy-indirect-empty", NULL, pbad_copy },
	{ "copy-runs-past", NULL, pbad_next_flag },
	{ "copy-addr", NULL, pbad_addr },
	{ "mid-flush", NULL, pmid_flush },
};

static void gen_inflight_layout(const char *root, const char *t, bool packed)
{
	const unsigned modern = FZ_F_VERSION_1 | FZ_F_EVENT_IDX | FZ_F_INDIRECT;
	struct crashed cr;
	char name[64];

	/* A fresh queue and an empty log; a region nobody initialised */
	crash_device(&cr, packed, modern, 0, 0);
	memset(cr.log, 0, sizeof(cr.log));
	inflight_seed(root, t, "empty-log", &cr, packed, modern, false, FZ_LOG_EXACT);
	inflight_seed(root, t, "version-0", &cr, packed, modern, true, FZ_LOG_ALIGNED);
	inflight_seed(root, t, "short", &cr, packed, modern, false, FZ_LOG_SHORT);

	/* Three chains popped, the middle one used: two in flight */
	crash_device(&cr, packed, modern, 3, 2);
	inflight_seed(root, t, "in-flight", &cr, packed, modern, true, FZ_LOG_EXACT);
	inflight_seed(root, t, "in-flight-larger", &cr, packed, modern, true, FZ_LOG_LARGER);
	for (size_t i = 0; i < sizeof(damages) / sizeof(damages[0]); i++) {
		struct crashed bad = cr;

		if (packed ? !damages[i].packed : !damages[i].split)
			continue;
		if (packed)
			damages[i].packed((struct vio_inflight_packed *)bad.log);
		else
			damages[i].split((struct vio_inflight_split *)bad.log);
		snprintf(name, sizeof(name), "bad-%s", damages[i].name);
		inflight_seed(root, t, name, &bad, packed, modern, true, FZ_LOG_EXACT);
	}

	/* IN_ORDER: the oldest two completed in one batch, one in flight */
	crash_device(&cr, packed, modern | FZ_F_IN_ORDER, 3, 2);
	inflight_seed(root, t, "in-order", &cr, packed, modern | FZ_F_IN_ORDER, true,
		      FZ_LOG_EXACT);
}

static void gen_inflight(const char *root)
{
	gen_inflight_layout(root, "fuzz_inflight", false);
	gen_inflight_layout(root, "fuzz_inflight_packed", true);
}

/* ------------------------------------------------------------------------ */
/* fuzz_vu_frontend                                                         */

/*
 * A backend's script: every reply the frontend waits for, in the order it
 * asks, so the seeds get through the handshake and the driver's bind. The
 * frontend's requests (in vhost_user_frontend.c and the core's bind) are
 * mirrored here: acks only with REPLY_ACK, status messages only with
 * STATUS. FUZZ_VU_FE_TRACE=1 on the target shows how far a seed gets.
 */
#define FE "fuzz_vu_frontend"

#define PF(bit) VIO_BIT(VU_PROTOCOL_F_##bit)
#define FE_PF (PF(MQ) | PF(REPLY_ACK) | PF(BACKEND_REQ) | PF(CONFIG))
#define FE_F (VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VU_F_PROTOCOL_FEATURES))
#define BLK_F_ALL (VIO_BIT(VIO_BLK_F_SIZE_MAX) | VIO_BIT(VIO_BLK_F_SEG_MAX) | \
		   VIO_BIT(VIO_BLK_F_BLK_SIZE) | VIO_BIT(VIO_BLK_F_FLUSH) | \
		   VIO_BIT(VIO_BLK_F_CONFIG_WCE) | VIO_BIT(VIO_BLK_F_MQ) | \
		   VIO_BIT(VIO_BLK_F_DISCARD) | VIO_BIT(VIO_BLK_F_WRITE_ZEROES))

/* Where the driver side's memory puts things with queue_max 8 and no
 * INDIRECT_DESC or EVENT_IDX: the harness's 4 KiB I/O buffer at 0, ring 0
 * at 0x1000 (descriptors, avail at +0x80, used at +0x98), ring 1 at
 * 0x2000, then blk's request slots of 384 bytes (status byte at +320)
 * after ring 0, or the rng driver's bounce buffer. */
#define FE_RING0        0x1000u
#define FE_USED         0x98u
#define FE_BLK_STATUS0  (0x1100u + 320u)

struct fe_be {
	struct out *o;
	unsigned where;         /* FZ_FE_MAIN, or FZ_FE_NEXT for a reconnect */
	uint64_t features;      /* offered */
	uint64_t pf;            /* negotiated */
	uint8_t config[64];     /* device config space */
};

static void fe_msg(struct out *o, unsigned tag, uint32_t req, uint32_t flags, const void *p,
		   size_t len)
{
	put8(o, tag | FZ_FE_BUILT);
	put8(o, req);
	put8(o, flags);
	put16(o, (unsigned)len);
	put_bytes(o, p, len);
}

static void fe_reply(struct fe_be *b, uint32_t req, const void *p, size_t len)
{
	fe_msg(b->o, b->where, req, VU_VERSION | VU_FLAG_REPLY, p, len);
}

static void fe_u64(struct fe_be *b, uint32_t req, uint64_t v)
{
	fe_reply(b, req, &v, sizeof(v));
}

static bool fe_has(const struct fe_be *b, unsigned bit)
{
	return b->pf & VIO_BIT(bit);
}

/* What a message without a reply of its own gets with REPLY_ACK. */
static void fe_ack(struct fe_be *b, uint32_t req)
{
	if (fe_has(b, VU_PROTOCOL_F_REPLY_ACK))
		fe_u64(b, req, 0);
}

static void fe_action(struct out *o, unsigned a)
{
	put8(o, FZ_FE_ACTION);
	put8(o, a);
}

static void fe_set_status(struct fe_be *b)
{
	if (fe_has(b, VU_PROTOCOL_F_STATUS))
		fe_ack(b, VU_SET_STATUS);
}

/* GET_STATUS: the backend agrees with what the driver wrote. */
static void fe_get_status(struct fe_be *b)
{
	if (fe_has(b, VU_PROTOCOL_F_STATUS))
		fe_u64(b, VU_GET_STATUS, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER |
			VIO_STATUS_FEATURES_OK);
}

/* connect (or the handshake of a reconnect): the replies; pf is what the
 * backend offers and the frontend uses. */
static void fe_handshake(struct fe_be *b, uint64_t features, uint64_t pf, uint64_t queues)
{
	b->features = features;
	b->pf = 0;
	fe_u64(b, VU_GET_FEATURES, features);
	if (features & VIO_BIT(VU_F_PROTOCOL_FEATURES)) {
		fe_u64(b, VU_GET_PROTOCOL_FEATURES, pf);
		b->pf = pf;
	}
	fe_ack(b, VU_SET_OWNER);
	if (fe_has(b, VU_PROTOCOL_F_MQ))
		fe_u64(b, VU_GET_QUEUE_NUM, queues);
	if (fe_has(b, VU_PROTOCOL_F_BACKEND_REQ))
		fe_ack(b, VU_SET_BACKEND_REQ_FD);
	fe_ack(b, VU_SET_MEM_TABLE);
}

/* SET_FEATURES: acked, or without REPLY_ACK confirmed by GET_FEATURES. */
static void fe_features(struct fe_be *b)
{
	if (fe_has(b, VU_PROTOCOL_F_REPLY_ACK))
		fe_ack(b, VU_SET_FEATURES);
	else
		fe_u64(b, VU_GET_FEATURES, b->features);
}

/* A config read of [off, off + n): the frontend asks from offset 0. */
static void fe_config(struct fe_be *b, unsigned off, unsigned n)
{
	uint8_t p[VU_CONFIG_HDR + sizeof(b->config)];
	const uint32_t h[3] = { 0, off + n, 0 };

	memcpy(p, h, sizeof(h));
	memcpy(p + VU_CONFIG_HDR, b->config, off + n);
	fe_reply(b, VU_GET_CONFIG, p, VU_CONFIG_HDR + off + n);
}

/* The rings going to the backend: seven messages each. */
static void fe_rings(struct fe_be *b, unsigned nq)
{
	static const uint32_t ring_msgs[] = {
		VU_SET_VRING_NUM, VU_SET_VRING_BASE, VU_SET_VRING_ADDR, VU_SET_VRING_CALL,
		VU_SET_VRING_ERR, VU_SET_VRING_KICK, VU_SET_VRING_ENABLE,
	};

	for (unsigned q = 0; q < nq; q++)
		for (unsigned i = 0; i < 7; i++)
			if (i < 6 || (b->features & VIO_BIT(VU_F_PROTOCOL_FEATURES)))
				fe_ack(b, ring_msgs[i]);
}

/* GET_INFLIGHT_FD answered with a memfd of `size` bytes (the log). */
static void fe_inflight_reply(struct fe_be *b, uint64_t size, uint16_t nq, uint16_t qsize,
			      unsigned nfds)
{
	struct vu_inflight in = { size, 0, nq, qsize };

	fe_msg(b->o, b->where | FZ_FE_FDS(nfds), VU_GET_INFLIGHT_FD, VU_VERSION | VU_FLAG_REPLY,
	       &in, sizeof(in));
	for (unsigned i = 0; i < nfds; i++) {
		put8(b->o, FZ_FE_FD_MEMFD);
		put32(b->o, (uint32_t)size);
	}
}

static void blk_config(struct fe_be *b, uint64_t capacity, uint16_t queues)
{
	vio_le64 cap = vio_cpu_to_le64(capacity);
	vio_le32 v;
	vio_le16 nq = vio_cpu_to_le16(queues);

	memset(b->config, 0, sizeof(b->config));
	memcpy(b->config + offsetof(struct vio_blk_config, capacity), &cap, sizeof(cap));
	v = vio_cpu_to_le32(65536);
	memcpy(b->config + offsetof(struct vio_blk_config, size_max), &v, sizeof(v));
	v = vio_cpu_to_le32(4);
	memcpy(b->config + offsetof(struct vio_blk_config, seg_max), &v, sizeof(v));
	v = vio_cpu_to_le32(4096);
	memcpy(b->config + offsetof(struct vio_blk_config, blk_size), &v, sizeof(v));
	b->config[offsetof(struct vio_blk_config, writeback)] = 1;
	memcpy(b->config + offsetof(struct vio_blk_config, num_queues), &nq, sizeof(nq));
	v = vio_cpu_to_le32(1024);
	memcpy(b->config + offsetof(struct vio_blk_config, max_discard_sectors), &v, sizeof(v));
	memcpy(b->config + offsetof(struct vio_blk_config, max_write_zeroes_sectors), &v,
	       sizeof(v));
	v = vio_cpu_to_le32(2);
	memcpy(b->config + offsetof(struct vio_blk_config, max_discard_seg), &v, sizeof(v));
	memcpy(b->config + offsetof(struct vio_blk_config, max_write_zeroes_seg), &v, sizeof(v));
}

/* The blk driver's config reads at probe, in its order. */
static void fe_blk_probe(struct fe_be *b)
{
	const uint64_t f = b->features;

#define RD(field) fe_config(b, offsetof(struct vio_blk_config, field), \
			    sizeof(((struct vio_blk_config *)0)->field))
	RD(capacity);
	if (f & VIO_BIT(VIO_BLK_F_BLK_SIZE))
		RD(blk_size);
	if (f & VIO_BIT(VIO_BLK_F_SEG_MAX))
		RD(seg_max);
	if (f & VIO_BIT(VIO_BLK_F_SIZE_MAX))
		RD(size_max);
	if (f & VIO_BIT(VIO_BLK_F_MQ))
		RD(num_queues);
	if (f & VIO_BIT(VIO_BLK_F_DISCARD)) {
		RD(max_discard_sectors);
		RD(max_discard_seg);
	}
	if (f & VIO_BIT(VIO_BLK_F_WRITE_ZEROES)) {
		RD(max_write_zeroes_sectors);
		RD(max_write_zeroes_seg);
	}
#undef RD
}

/* The core's bind (reset, status, features, probe, DRIVER_OK) as the
 * backend sees it, then the BIND action. blk probes config; `inflight`
 * answers GET_INFLIGHT_FD with a log for nq rings of 8. */
static void fe_bind(struct fe_be *b, bool blk, unsigned nq, bool inflight)
{
	if (fe_has(b, VU_PROTOCOL_F_RESET_DEVICE))
		fe_ack(b, VU_RESET_DEVICE);
	fe_set_status(b);               /* 0 */
	fe_set_status(b);               /* ACKNOWLEDGE */
	fe_get_status(b);
	fe_set_status(b);               /* DRIVER */
	if (b->features & VIO_BIT(VIO_F_VERSION_1)) {
		fe_get_status(b);
		fe_features(b);
		fe_set_status(b);       /* FEATURES_OK */
		fe_get_status(b);       /* did it stick? */
	}
	if (blk)
		fe_blk_probe(b);
	fe_get_status(b);               /* DRIVER_OK yet? */
	fe_get_status(b);
	if (!(b->features & VIO_BIT(VIO_F_VERSION_1)))
		fe_features(b);         /* a legacy driver: at DRIVER_OK */
	if (inflight) {
		fe_inflight_reply(b, vio_inflight_queue_bytes(false, 8) * nq, (uint16_t)nq, 8, 1);
		fe_ack(b, VU_SET_INFLIGHT_FD);
	}
	fe_rings(b, nq);
	fe_set_status(b);               /* DRIVER_OK */
	fe_action(b->o, FZ_FE_A_BIND);
}

static void fe_poke(struct out *o, uint32_t off, const void *p, unsigned len)
{
	fe_action(o, FZ_FE_A_POKE);
	put32(o, off);
	put8(o, len);
	put_bytes(o, p, len);
}

/* The backend uses the chains with these heads (a split used ring at
 * ring 0), then interrupts: the driver reaps them in a dispatch. */
static void fe_complete(struct out *o, unsigned ring, const uint16_t *heads, unsigned n,
			uint32_t len)
{
	const uint32_t used = FE_RING0 + ring * 0x1000u + FE_USED;
	uint16_t idx = (uint16_t)n;

	for (unsigned i = 0; i < n; i++) {
		const uint32_t e[2] = { heads[i], len };

		fe_poke(o, used + 4 + i * 8, e, sizeof(e));
	}
	fe_poke(o, used + 2, &idx, sizeof(idx));
	fe_action(o, FZ_FE_A_SIGNAL);
	put8(o, ring);
	fe_action(o, FZ_FE_A_DISPATCH);
}

static void fe_io(struct out *o, unsigned what, unsigned sector)
{
	fe_action(o, FZ_FE_A_IO);
	put8(o, what);
	put8(o, sector);
}

/* UNBIND: the driver's remove resets the device (GET_VRING_BASE for each
 * ring), then the core resets it again. */
static void fe_unbind(struct fe_be *b, unsigned nq, uint32_t base)
{
	for (unsigned q = 0; q < nq; q++) {
		const struct vu_vring_state st = { q, base };

		fe_reply(b, VU_GET_VRING_BASE, &st, sizeof(st));
	}
	for (unsigned i = 0; i < 2; i++) {
		if (fe_has(b, VU_PROTOCOL_F_RESET_DEVICE))
			fe_ack(b, VU_RESET_DEVICE);
		fe_set_status(b);
	}
	fe_action(b->o, FZ_FE_A_UNBIND);
}


static void gen_vu_frontend(const char *root)
{
	static struct out o;
	struct fe_be b = { .o = &o, .where = FZ_FE_MAIN };
	const uint8_t zero = 0;
	const uint16_t head0 = 0;

	/* blk with every config field it reads, two queues; a read completed
	 * by the backend (used entry, status byte, interrupt); a config read;
	 * the reset stops both rings. */
	o.n = 0;
	put8(&o, 0);
	fe_handshake(&b, FE_F | BLK_F_ALL, FE_PF, 2);
	fe_action(&o, FZ_FE_A_CONNECT);
	blk_config(&b, 2048, 2);
	fe_bind(&b, true, 2, false);
	fe_io(&o, 0, 0);
	fe_poke(&o, FE_BLK_STATUS0, &zero, 1);
	fe_complete(&o, 0, &head0, 1, 1);
	fe_config(&b, 0, 8);
	fe_action(&o, FZ_FE_A_CONFIG_READ);
	put8(&o, 0);
	put8(&o, 8);
	fe_unbind(&b, 2, 1);
	save(root, FE, "blk", &o);

	/* The same with STATUS and RESET_DEVICE: GET_STATUS at every step. */
	o.n = 0;
	put8(&o, 0);
	fe_handshake(&b, FE_F | VIO_BIT(VIO_BLK_F_FLUSH), FE_PF | PF(STATUS) | PF(RESET_DEVICE), 1);
	fe_action(&o, FZ_FE_A_CONNECT);
	blk_config(&b, 4096, 1);
	fe_bind(&b, true, 1, false);
	fe_get_status(&b);
	fe_action(&o, FZ_FE_A_STATUS);
	fe_unbind(&b, 1, 0);
	save(root, FE, "blk-status", &o);

	/* A config change announced on the backend channel, NEED_REPLY: the
	 * driver rereads the capacity (answered when it asks), the frontend
	 * acks on the channel. */
	o.n = 0;
	put8(&o, 0);
	fe_handshake(&b, FE_F, FE_PF, 1);
	fe_action(&o, FZ_FE_A_CONNECT);
	blk_config(&b, 2048, 1);
	fe_bind(&b, true, 1, false);
	fe_msg(&o, FZ_FE_CHAN, VU_BACKEND_CONFIG_CHANGE_MSG, VU_VERSION | VU_FLAG_NEED_REPLY,
	       NULL, 0);
	blk_config(&b, 8192, 1);
	b.where = FZ_FE_MAIN | FZ_FE_HELD;      /* sent when the driver asks */
	fe_config(&b, 0, 8);
	b.where = FZ_FE_MAIN;
	fe_action(&o, FZ_FE_A_DISPATCH);
	fe_action(&o, FZ_FE_A_GENERATION);
	save(root, FE, "config-change", &o);

	/* GET_INFLIGHT_FD answered with a memfd log; SET_INFLIGHT_FD; then the
	 * backend restarts and the reconnect replays the session, the log
	 * handed to the new backend before its rings. */
	o.n = 0;
	put8(&o, 0);
	fe_handshake(&b, FE_F, FE_PF | PF(INFLIGHT_SHMFD), 1);
	fe_action(&o, FZ_FE_A_CONNECT);
	blk_config(&b, 2048, 1);
	fe_bind(&b, true, 1, true);
	b.where = FZ_FE_NEXT;
	fe_handshake(&b, FE_F, FE_PF | PF(INFLIGHT_SHMFD), 1);
	fe_features(&b);
	fe_ack(&b, VU_SET_INFLIGHT_FD);
	fe_rings(&b, 1);
	b.where = FZ_FE_MAIN;
	fe_action(&o, FZ_FE_A_RECONNECT);
	fe_action(&o, FZ_FE_A_DISPATCH);
	save(root, FE, "inflight-reconnect", &o);

	/* The backend dies with a read in flight (the driver sees EOF in a
	 * dispatch) and a new one takes over: the reconnect replays the ring
	 * from the used index, and the new backend completes the read. */
	o.n = 0;
	put8(&o, 0);
	fe_handshake(&b, FE_F | VIO_BIT(VIO_BLK_F_FLUSH), FE_PF, 1);
	fe_action(&o, FZ_FE_A_CONNECT);
	blk_config(&b, 2048, 1);
	fe_bind(&b, true, 1, false);
	fe_io(&o, 0, 3);
	fe_action(&o, FZ_FE_A_CLOSE);
	fe_action(&o, FZ_FE_A_DISPATCH);
	b.where = FZ_FE_NEXT;
	fe_handshake(&b, FE_F | VIO_BIT(VIO_BLK_F_FLUSH), FE_PF, 1);
	fe_features(&b);
	fe_rings(&b, 1);
	b.where = FZ_FE_MAIN;
	fe_action(&o, FZ_FE_A_RECONNECT);
	fe_poke(&o, FE_BLK_STATUS0, &zero, 1);
	fe_complete(&o, 0, &head0, 1, 1);
	save(root, FE, "blk-restart", &o);

	/* The backend dies inside a dispatch: it announces a config change
	 * (NEED_REPLY) and closes everything before reading the ack, as the
	 * driver starts rereading its config. */
	o.n = 0;
	put8(&o, 0);
	fe_handshake(&b, FE_F, FE_PF, 1);
	fe_action(&o, FZ_FE_A_CONNECT);
	blk_config(&b, 2048, 1);
	fe_bind(&b, true, 1, false);
	fe_msg(&o, FZ_FE_CHAN, VU_BACKEND_CONFIG_CHANGE_MSG, VU_VERSION | VU_FLAG_NEED_REPLY,
	       NULL, 0);
	put8(&o, FZ_FE_ACTION | FZ_FE_HELD);
	put8(&o, FZ_FE_A_CLOSE);
	fe_action(&o, FZ_FE_A_DISPATCH);
	save(root, FE, "dies-in-dispatch", &o);

	/* GET_CONFIG refused (a 12-byte reply): -EIO, the connection stays,
	 * and the next read works. */
	o.n = 0;
	put8(&o, 0);
	fe_handshake(&b, FE_F, FE_PF, 1);
	fe_action(&o, FZ_FE_A_CONNECT);
	blk_config(&b, 2048, 1);
	fe_bind(&b, true, 1, false);
	{
		const uint32_t h[3] = { 0, 0, 0 };

		fe_reply(&b, VU_GET_CONFIG, h, VU_CONFIG_HDR);
	}
	fe_action(&o, FZ_FE_A_CONFIG_READ);
	put8(&o, 4);
	put8(&o, 4);
	fe_config(&b, 4, 4);
	fe_action(&o, FZ_FE_A_CONFIG_READ);
	put8(&o, 4);
	put8(&o, 4);
	save(root, FE, "config-refused", &o);

	/* rng, no MQ: a read served by the backend (the chain at head 0),
	 * another left in flight, then a restart: the reconnect resumes the
	 * ring at its used index. */
	o.n = 0;
	put8(&o, FZ_FE_RNG);
	fe_handshake(&b, FE_F, PF(REPLY_ACK) | PF(BACKEND_REQ) | PF(CONFIG), 1);
	fe_action(&o, FZ_FE_A_CONNECT);
	fe_bind(&b, false, 1, false);
	fe_io(&o, 0x3f, 0);
	fe_complete(&o, 0, &head0, 1, 64);
	fe_io(&o, 0x3e, 0);
	b.where = FZ_FE_NEXT;
	fe_handshake(&b, FE_F, PF(REPLY_ACK) | PF(BACKEND_REQ) | PF(CONFIG), 1);
	fe_features(&b);
	fe_rings(&b, 1);
	b.where = FZ_FE_MAIN;
	fe_action(&o, FZ_FE_A_RECONNECT);
	fe_action(&o, FZ_FE_A_DISPATCH);
	fe_action(&o, FZ_FE_A_POLL);
	save(root, FE, "rng-reconnect", &o);

	/* No protocol features (so no config space: rng) and no VERSION_1: a
	 * legacy device; SET_FEATURES goes at DRIVER_OK, confirmed by
	 * GET_FEATURES, and rings start without ENABLE. */
	o.n = 0;
	put8(&o, FZ_FE_RNG | FZ_FE_TWO_QUEUES);
	fe_handshake(&b, VIO_BIT(VIO_F_INDIRECT_DESC), 0, 0);
	fe_action(&o, FZ_FE_A_CONNECT);
	fe_bind(&b, false, 1, false);
	fe_io(&o, 7, 0);
	fe_unbind(&b, 1, 0);
	save(root, FE, "legacy", &o);

	/* Packed rings: the reset's GET_VRING_BASE answers a packed base. */
	o.n = 0;
	put8(&o, 0);
	fe_handshake(&b, FE_F | VIO_BIT(VIO_F_RING_PACKED), FE_PF, 1);
	fe_action(&o, FZ_FE_A_CONNECT);
	blk_config(&b, 2048, 1);
	fe_bind(&b, true, 1, false);
	fe_unbind(&b, 1, 0x8000u | (0x8000u << 16));
	save(root, FE, "packed", &o);

	/* Malformed: GET_FEATURES of version 2 with nine fds riding along. */
	o.n = 0;
	put8(&o, 0);
	{
		const uint64_t f = FE_F;

		fe_msg(&o, FZ_FE_MAIN | FZ_FE_FDS(3), VU_GET_FEATURES, 2 | VU_FLAG_REPLY, &f, 8);
		for (unsigned i = 0; i < 9; i++) {
			put8(&o, i % 3 ? FZ_FE_FD_EVENTFD + i % 3 - 1 : FZ_FE_FD_MEMFD_PAGES);
			if (i % 3 == 0)
				put8(&o, i);
		}
	}
	save(root, FE, "bad-version-fds", &o);

	/* Malformed: GET_INFLIGHT_FD answered with a log too small for the
	 * ring, and two fds. */
	o.n = 0;
	put8(&o, 0);
	fe_handshake(&b, FE_F, FE_PF | PF(INFLIGHT_SHMFD), 1);
	fe_action(&o, FZ_FE_A_CONNECT);
	blk_config(&b, 2048, 1);
	fe_features(&b);
	fe_blk_probe(&b);
	fe_inflight_reply(&b, 64, 1, 8, 2);
	fe_action(&o, FZ_FE_A_BIND);
	save(root, FE, "bad-inflight", &o);

	/* Malformed: garbage on the backend channel (version 3) and a reply
	 * nobody asked for on the main socket, then a torn header. */
	o.n = 0;
	put8(&o, 0);
	fe_handshake(&b, FE_F, FE_PF, 1);
	fe_action(&o, FZ_FE_A_CONNECT);
	blk_config(&b, 2048, 1);
	fe_bind(&b, true, 1, false);
	fe_msg(&o, FZ_FE_CHAN, VU_BACKEND_CONFIG_CHANGE_MSG, 3, NULL, 0);
	fe_action(&o, FZ_FE_A_DISPATCH);
	save(root, FE, "bad-channel", &o);

	o.n = 0;
	put8(&o, 0);
	fe_handshake(&b, FE_F, FE_PF, 1);
	fe_action(&o, FZ_FE_A_CONNECT);
	blk_config(&b, 2048, 1);
	fe_bind(&b, true, 1, false);
	fe_u64(&b, VU_GET_FEATURES, FE_F);
	fe_action(&o, FZ_FE_A_DISPATCH);
	save(root, FE, "unsolicited", &o);

	/* Torn: half the header of the GET_VRING_BASE reply, then EOF. */
	o.n = 0;
	put8(&o, 0);
	fe_handshake(&b, FE_F, FE_PF, 1);
	fe_action(&o, FZ_FE_A_CONNECT);
	blk_config(&b, 2048, 1);
	fe_bind(&b, true, 1, false);
	put8(&o, FZ_FE_MAIN);           /* raw */
	put16(&o, 6);
	put32(&o, VU_GET_VRING_BASE);
	put16(&o, VU_VERSION | VU_FLAG_REPLY);
	fe_action(&o, FZ_FE_A_SHUT);
	fe_action(&o, FZ_FE_A_UNBIND);
	save(root, FE, "torn", &o);
}

/* ------------------------------------------------------------------------ */
/* fuzz_net_dev (its format is at the top of fuzz_net_dev.c)                */

static void net_ctrl(struct out *o, unsigned cls, unsigned cmd, const void *data, unsigned len)
{
	put8(o, 1);
	put8(o, cls);
	put8(o, cmd);
	put16(o, len);
	put_bytes(o, data, len);
	put8(o, 1);             /* cut after the class byte */
	put8(o, 0);             /* one writable byte */
}

static void net_rx(struct out *o, unsigned pair, unsigned len)
{
	put8(o, 2);
	put8(o, pair);
	put8(o, 0);             /* one segment */
	put16(o, len);
}

/* A TCP/IPv4 frame behind a zero header of hdr bytes, cut after the
 * header's third byte. */
static void net_tx(struct out *o, unsigned pair, unsigned hdr, unsigned sport)
{
	uint8_t f[64] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x52, 0x54, 0, 0xaa, 0xbb, 2, 0x08, 0 };

	f[14] = 0x45;
	f[23] = 6;
	f[26] = 10;
	f[30] = 10;
	f[33] = 1;
	f[34] = (uint8_t)(sport >> 8);
	f[35] = (uint8_t)sport;
	put8(o, 0);
	put8(o, pair);
	put8(o, 1);             /* two segments */
	put16(o, 3);
	for (unsigned i = 0; i < 3; i++)
		put8(o, 0);
	put16(o, hdr - 3 + sizeof(f));
	for (unsigned i = 3; i < hdr; i++)
		put8(o, 0);
	put_bytes(o, f, sizeof(f));
	put8(o, 0);             /* nothing writable */
}

/* Op 6: a TCP/IPv4 frame with `pay` payload bytes and offload fields. */
static void net_receive_offload(struct out *o, unsigned pay, unsigned flags, unsigned gso_type,
				unsigned gso_size)
{
	uint8_t f[54] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x52, 0x54, 0, 0xaa, 0xbb, 2, 0x08, 0 };

	f[14] = 0x45;
	f[22] = 64;
	f[23] = 6;
	f[26] = 10;
	f[30] = 10;
	f[33] = 1;
	f[46] = 5 << 4;
	f[47] = 0x19;           /* ACK, PSH, FIN */
	put8(o, 6);
	put16(o, sizeof(f) + pay);
	put_bytes(o, f, sizeof(f));
	for (unsigned i = 0; i < pay; i++)
		put8(o, (uint8_t)(i * 7));
	put8(o, flags);
	put8(o, gso_type);
	put16(o, gso_size);
	put16(o, 34);           /* csum_start: the TCP header */
	put16(o, 16);           /* csum_offset: its checksum */
}

/* The receive offloads the device does itself: a driver without any
 * GUEST_ offload, a checksum to finish and a TCP frame to cut. */
static void gen_net_dev_soft(const char *root)
{
	static const char *names[] = { "soft-split", "soft-packed" };

	for (unsigned layout = 0; layout < 2; layout++) {
		struct out o = { .n = 0 };

		put8(&o, 0x02 | layout);                /* one pair, EVENT_IDX */
		put32(&o, 1u << VIO_NET_F_GUEST_CSUM | 1u << VIO_NET_F_GUEST_TSO4 |
			  1u << VIO_NET_F_GUEST_TSO6 | 1u << VIO_NET_F_GUEST_ECN |
			  1u << VIO_NET_F_GUEST_UFO);
		for (unsigned i = 0; i < 5; i++)
			net_rx(&o, 0, 2048);
		net_receive_offload(&o, 300, VIO_NET_HDR_F_NEEDS_CSUM, VIO_NET_HDR_GSO_NONE, 0);
		net_receive_offload(&o, 1200, VIO_NET_HDR_F_NEEDS_CSUM, VIO_NET_HDR_GSO_TCPV4, 400);
		put8(&o, 3);                            /* reap */
		save(root, "fuzz_net_dev", names[layout], &o);
	}
}

static void gen_net_dev(const char *root)
{
	static const char *names[] = { "split", "packed" };
	const uint8_t off = 0, on = 1;
	uint8_t rss[8 + 2 * 8 + 3 + 40] = { 0x13, 0, 0, 0, 7, 0, 1, 0 };
	uint8_t hash[13 + 40] = { 0x3f, 0 };
	uint8_t tables[4 + 6 + 4 + 6] = { 1, 0, 0, 0, 0x52, 0x54, 0, 0xaa, 0xbb, 3,
					  1, 0, 0, 0, 1, 0, 0x5e, 0, 0, 1 };
	const uint8_t pairs[2] = { 2, 0 }, vlan[2] = { 5, 0 };
	const uint8_t offloads[8] = { 1 << VIO_NET_F_GUEST_CSUM };

	for (unsigned i = 0; i < 8; i++)
		rss[8 + 2 * i] = (uint8_t)(i & 1);
	rss[8 + 16] = 2;
	rss[8 + 18] = 40;
	for (unsigned i = 0; i < 40; i++)
		rss[8 + 19 + i] = hash[13 + i] = (uint8_t)(i * 37 + 11);
	hash[12] = 40;
	for (unsigned layout = 0; layout < 2; layout++) {
		struct out o = { .n = 0 };

		put8(&o, 0x08 | 0x02 | layout);         /* two pairs, EVENT_IDX */
		put32(&o, 0);                           /* every feature */
		for (unsigned p = 0; p < 2; p++) {
			net_rx(&o, p, 2048);
			net_rx(&o, p, 100);
		}
		net_ctrl(&o, VIO_NET_CTRL_MQ, VIO_NET_CTRL_MQ_VQ_PAIRS_SET, pairs, 2);
		net_ctrl(&o, VIO_NET_CTRL_RX, VIO_NET_CTRL_RX_PROMISC, &off, 1);
		net_ctrl(&o, VIO_NET_CTRL_RX, VIO_NET_CTRL_RX_ALLMULTI, &on, 1);
		net_ctrl(&o, VIO_NET_CTRL_MAC, VIO_NET_CTRL_MAC_TABLE_SET, tables, sizeof(tables));
		net_ctrl(&o, VIO_NET_CTRL_VLAN, VIO_NET_CTRL_VLAN_ADD, vlan, 2);
		net_ctrl(&o, VIO_NET_CTRL_GUEST_OFFLOADS, 0, offloads, 8);
		net_ctrl(&o, VIO_NET_CTRL_MQ, VIO_NET_CTRL_MQ_RSS_CONFIG, rss, sizeof(rss));
		net_tx(&o, 0, VIO_NET_HDR_LEN_HASH, 1000);
		net_tx(&o, 1, VIO_NET_HDR_LEN_HASH, 2000);
		net_ctrl(&o, VIO_NET_CTRL_MQ, VIO_NET_CTRL_MQ_HASH_CONFIG, hash, sizeof(hash));
		net_ctrl(&o, VIO_NET_CTRL_ANNOUNCE, VIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0);
		put8(&o, 3);                            /* reap */
		save(root, "fuzz_net_dev", names[layout], &o);
	}
	gen_net_dev_soft(root);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_ROOT\n", argv[0]);
		return 2;
	}
	if (mkdir(argv[1], 0777) && errno != EEXIST) {
		perror(argv[1]);
		return 1;
	}
	gen_devq(argv[1]);
	gen_drvq(argv[1]);
	gen_inflight(argv[1]);
	gen_vu_frontend(argv[1]);
	gen_net_dev(argv[1]);
	return 0;
}
