/*
 * gen_seeds.c - writes the starting corpus of the fuzz targets.
 *
 * Random bytes rarely make a descriptor chain that walks anywhere, so each
 * target starts from a few hand-built inputs that reach deep: valid split
 * and packed rings with direct, indirect and region-crossing chains, plus
 * one example of each kind of breakage. They are built here from the
 * formats in fuzz_input.h rather than kept as binary files. The split and
 * packed binaries of one target share its format, so most scripts seed
 * both; the rest are written for the layout they break.
 *
 * Usage: fuzz_gen_seeds CORPUS_ROOT   (writes CORPUS_ROOT/<target>/seed-*)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vio/spec.h"

#include "fuzz_input.h"

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

/* Header for two regions of REGION_SIZE, rings at the offsets above.
 * size_log2 below 0x80 gives 1 << size_log2 entries; 0x80 | n gives n. */
static void devq_header(struct out *o, unsigned size_log2, unsigned feat, unsigned mode1,
			unsigned mode0)
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
	put8(o, 0);                     /* fresh queue */
	put16(o, 0);
	put16(o, 0);
	put8(o, FZ_MAX_IOV - 1);
	put8(o, FZ_MAX_IOV - 1);
}

static void dop(struct out *o, unsigned op, unsigned a, unsigned b, unsigned c)
{
	put8(o, op);
	put8(o, a);
	put8(o, b);
	put8(o, c);
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

	put8(o, sizeof(ops) / sizeof(ops[0]));
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		dop(o, ops[i][0], ops[i][1], ops[i][2], ops[i][3]);
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
	memset(&im, 0, sizeof(im));
	packed_desc(&im, OFF_DESC, 0, R0 + 0x400, 64, 0, VIO_PACKED_DESC_F_AVAIL | VIO_DESC_F_NEXT);
	packed_desc(&im, OFF_DESC, 1, R0 + 0x480, 128, 0,
		    VIO_PACKED_DESC_F_AVAIL | VIO_DESC_F_WRITE);
	packed_desc(&im, OFF_DESC, 2, R0 + OFF_TABLE, 48, 1,
		    VIO_PACKED_DESC_F_AVAIL | VIO_DESC_F_INDIRECT);
	packed_desc(&im, OFF_DESC, 3, R0 + 0x700, 32, 2, VIO_PACKED_DESC_F_AVAIL);
	packed_desc(&im, OFF_TABLE, 0, R0 + 0x500, 16, 0, 0);
	packed_desc(&im, OFF_TABLE, 1, R0 + REGION_SIZE - 0x10, 0x20, 0, VIO_DESC_F_WRITE);
	packed_desc(&im, OFF_TABLE, 2, R0 + 0x600, 8, 0, VIO_DESC_F_WRITE);
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
	return 0;
}
