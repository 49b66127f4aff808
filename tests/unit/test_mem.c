/*
 * test_mem.c - unit tests of the mem layer (include/vio/mem.h).
 *
 * vio_mem is the only code in libvio that turns a peer's address into a
 * host pointer, so a mistake here is a memory-safety hole for every device.
 * The tests cover the region table (add/remove and everything add must
 * refuse), translation at every edge (adjacent regions, holes, the top of
 * the 64-bit space, wrap-around, span capacity), the all-or-nothing copy
 * helpers, the iovec helpers, and finally a randomized comparison against
 * a byte-by-byte reference model with a fixed seed.
 *
 * Host buffers of adjacent guest regions are deliberately NOT adjacent in
 * host memory, so an implementation that walks past a region's end on the
 * host side instead of switching regions gets caught.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vio/mem.h"

#define TOP (UINT64_MAX)          /* the last byte of the 64-bit space */
#define PAGE 4096u
#define POISON 0xa5

/* A value that no successful call leaves in *n, to see that errors clear it. */
#define N_SENTINEL 77u

/* ------------------------------------------------------------------------ */
/* Fixture                                                                  */

/*
 * Three guest regions, A and B adjacent, then a hole, then C:
 *
 *   A [0x10000, 0x11000)  B [0x11000, 0x12000)  hole  C [0x20000, 0x21000)
 *
 * Each region's host bytes live in their own array, with a gap between
 * them, so A's host end is not B's host start.
 */
#define A_ADDR UINT64_C(0x10000)
#define B_ADDR UINT64_C(0x11000)
#define C_ADDR UINT64_C(0x20000)

struct fix {
	struct vio_mem_region table[8];
	struct vio_mem mem;
	uint8_t a[PAGE], gap1[64], b[PAGE], gap2[64], c[PAGE];
};

static struct fix fx;

/* The byte every region holds at guest address `addr`: distinct per region
 * and per offset, so a wrong pointer shows up as a wrong byte. */
static uint8_t pattern(uint64_t addr)
{
	return (uint8_t)(addr * 7 + (addr >> 12) * 13 + 1);
}

static void fill_region(uint8_t *host, uint64_t addr, size_t len)
{
	for (size_t i = 0; i < len; i++)
		host[i] = pattern(addr + i);
}

static int setup_abc(void **state)
{
	memset(&fx, POISON, sizeof(fx));
	fill_region(fx.a, A_ADDR, PAGE);
	fill_region(fx.b, B_ADDR, PAGE);
	fill_region(fx.c, C_ADDR, PAGE);
	vio_mem_init(&fx.mem, fx.table, 8);
	/* Out of address order on purpose: the table must sort itself. */
	if (vio_mem_add(&fx.mem, C_ADDR, PAGE, fx.c) ||
	    vio_mem_add(&fx.mem, A_ADDR, PAGE, fx.a) ||
	    vio_mem_add(&fx.mem, B_ADDR, PAGE, fx.b))
		return -1;
	*state = &fx;
	return 0;
}

static void assert_region(const struct vio_mem *m, unsigned i, uint64_t addr, uint64_t size,
			  const void *host)
{
	const struct vio_mem_region *r = vio_mem_region_at(m, i);

	assert_non_null(r);
	assert_true(r->addr == addr);
	assert_true(r->size == size);
	assert_ptr_equal(r->host, host);
}

/* translate() must fail with `err` and leave *n at 0. */
static void assert_translate_fails(const struct vio_mem *m, uint64_t addr, uint64_t len,
				   unsigned cap, int err)
{
	struct vio_iov iov[8];
	unsigned n = N_SENTINEL;

	assert_int_equal(vio_mem_translate(m, addr, len, iov, cap, &n), err);
	assert_int_equal(n, 0);
}

/* ------------------------------------------------------------------------ */
/* Region table                                                             */

static void test_init_empty(void **state)
{
	struct vio_mem_region table[2];
	struct vio_mem m;

	vio_mem_init(&m, table, 2);
	assert_int_equal(vio_mem_count(&m), 0);
	assert_null(vio_mem_region_at(&m, 0));
	assert_translate_fails(&m, 0, 1, 8, -EFAULT);
	assert_null(vio_mem_ptr(&m, 0, 1));
}

static void test_init_null_table_is_full(void **state)
{
	static uint8_t buf[16];
	struct vio_mem m;

	vio_mem_init(&m, NULL, 4);
	assert_int_equal(vio_mem_add(&m, 0x1000, sizeof(buf), buf), -ENOSPC);
	assert_int_equal(vio_mem_count(&m), 0);
}

static void test_add_and_lookup(void **state)
{
	static uint8_t buf[64];
	struct vio_mem_region table[2];
	struct vio_mem m;

	vio_mem_init(&m, table, 2);
	assert_int_equal(vio_mem_add(&m, 0x1000, sizeof(buf), buf), 0);
	assert_int_equal(vio_mem_count(&m), 1);
	assert_region(&m, 0, 0x1000, sizeof(buf), buf);
	assert_null(vio_mem_region_at(&m, 1));
	assert_ptr_equal(vio_mem_ptr(&m, 0x1010, 4), buf + 0x10);
}

struct bad_add {
	const char *what;
	uint64_t addr, size;
	bool null_host;
	int err;
};

static const struct bad_add bad_adds[] = {
	{ "size 0", 0x1000, 0, false, -EINVAL },
	{ "NULL host", 0x1000, 16, true, -EINVAL },
	{ "wraps by one byte", TOP - PAGE + 1, PAGE + 1, false, -EINVAL },
	{ "starts at the last byte, size 2", TOP, 2, false, -EINVAL },
	{ "size 2^64-1 from 2", 2, UINT64_MAX, false, -EINVAL },
	/* Fits the guest space, but host + size - 1 wraps the host's. */
	{ "host range wraps", 0, UINT64_MAX, false, -EINVAL },
};

static void test_add_rejects_invalid(void **state)
{
	static uint8_t buf[16];
	struct vio_mem_region table[4];
	struct vio_mem m;

	vio_mem_init(&m, table, 4);
	for (size_t i = 0; i < sizeof(bad_adds) / sizeof(bad_adds[0]); i++) {
		const struct bad_add *b = &bad_adds[i];
		int r = vio_mem_add(&m, b->addr, b->size, b->null_host ? NULL : buf);

		if (r != b->err)
			fail_msg("add(%s) returned %d, want %d", b->what, r, b->err);
		assert_int_equal(vio_mem_count(&m), 0);
	}
}

/*
 * Overlap: one existing region X = [0x1000, 0x2000), one candidate per
 * row. Adjacent is fine; a single shared byte is not.
 */
struct overlap_row {
	uint64_t addr, size;
	int err;
};

#define X_ADDR 0x1000
#define X_SIZE 0x1000

static const struct overlap_row overlap_rows[] = {
	{ 0x0800, 0x1000, -EEXIST },        /* before, tail overlaps */
	{ 0x1800, 0x1000, -EEXIST },        /* after, head overlaps */
	{ 0x0800, 0x2000, -EEXIST },        /* contains X */
	{ 0x1400, 0x0400, -EEXIST },        /* contained in X */
	{ X_ADDR, X_SIZE, -EEXIST },        /* identical */
	{ X_ADDR, 1, -EEXIST },             /* same start, shorter */
	{ 0x0000, 0x1001, -EEXIST },        /* shares X's first byte */
	{ 0x1fff, 0x1000, -EEXIST },        /* shares X's last byte */
	{ 0x0000, 0x1000, 0 },              /* adjacent below */
	{ 0x2000, 0x1000, 0 },              /* adjacent above */
};

static void run_overlap_row(const struct overlap_row *row)
{
	static uint8_t xbuf[X_SIZE], ybuf[0x2001];
	struct vio_mem_region table[4];
	struct vio_mem m;

	vio_mem_init(&m, table, 4);
	assert_int_equal(vio_mem_add(&m, X_ADDR, X_SIZE, xbuf), 0);
	assert_int_equal(vio_mem_add(&m, row->addr, row->size, ybuf), row->err);
	assert_int_equal(vio_mem_count(&m), row->err ? 1 : 2);
	/* X itself is untouched whatever happened. */
	assert_ptr_equal(vio_mem_ptr(&m, X_ADDR, X_SIZE), xbuf);
}

static void test_overlap_row(void **state)
{
	run_overlap_row(*state);
}

/* A candidate overlapping a region that is not its sorted neighbour. */
static void test_add_rejects_overlap_spanning_several(void **state)
{
	static uint8_t buf[0x10000];
	struct vio_mem_region table[8];
	struct vio_mem m;

	vio_mem_init(&m, table, 8);
	assert_int_equal(vio_mem_add(&m, 0x1000, 0x100, buf), 0);
	assert_int_equal(vio_mem_add(&m, 0x3000, 0x100, buf + 0x1000), 0);
	assert_int_equal(vio_mem_add(&m, 0x5000, 0x100, buf + 0x2000), 0);
	assert_int_equal(vio_mem_add(&m, 0x0, 0x6000, buf), -EEXIST);
	assert_int_equal(vio_mem_add(&m, 0x2000, 0x2000, buf), -EEXIST);
	assert_int_equal(vio_mem_add(&m, 0x1100, 0x3f00, buf), -EEXIST);
	assert_int_equal(vio_mem_count(&m), 3);
}

static void test_add_table_full(void **state)
{
	static uint8_t buf[4 * 64];
	struct vio_mem_region table[3];
	struct vio_mem m;

	vio_mem_init(&m, table, 3);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(vio_mem_add(&m, 0x1000 * (i + 1), 64, buf + 64 * i), 0);
	assert_int_equal(vio_mem_add(&m, 0x8000, 64, buf + 192), -ENOSPC);
	assert_int_equal(vio_mem_add(&m, 0x0, 64, buf + 192), -ENOSPC);
	assert_int_equal(vio_mem_count(&m), 3);
	/* Room again after a remove. */
	assert_int_equal(vio_mem_remove(&m, 0x2000, 64), 0);
	assert_int_equal(vio_mem_add(&m, 0x8000, 64, buf + 192), 0);
	assert_region(&m, 2, 0x8000, 64, buf + 192);
}

/* Every insertion order of five regions ends in the same sorted table. */
static void test_add_sorted_any_order(void **state)
{
	static uint8_t buf[5][32];
	static const uint64_t addrs[5] = { 0x100, 0x120, 0x4000, 0x9000, 0x9020 };

	/* Permutation k of 0..119, decoded digit by digit (factorial base). */
	for (unsigned k = 0; k < 120; k++) {
		unsigned pool[5] = { 0, 1, 2, 3, 4 }, perm[5], code = k;
		struct vio_mem_region table[5];
		struct vio_mem m;

		for (unsigned pos = 0, left = 5; pos < 5; pos++, left--) {
			unsigned pick = code % left;

			code /= left;
			perm[pos] = pool[pick];
			memmove(&pool[pick], &pool[pick + 1], (left - pick - 1) * sizeof(pool[0]));
		}
		vio_mem_init(&m, table, 5);
		for (unsigned i = 0; i < 5; i++)
			assert_int_equal(vio_mem_add(&m, addrs[perm[i]], 32, buf[perm[i]]), 0);
		for (unsigned i = 0; i < 5; i++)
			assert_region(&m, i, addrs[i], 32, buf[i]);
	}
}

static void test_region_ending_at_top(void **state)
{
	static uint8_t buf[PAGE];
	struct vio_mem_region table[2];
	struct vio_mem m;
	struct vio_iov iov[2];
	unsigned n = 0;

	fill_region(buf, TOP - PAGE + 1, PAGE);
	vio_mem_init(&m, table, 2);
	assert_int_equal(vio_mem_add(&m, TOP - PAGE + 1, PAGE, buf), 0);
	assert_ptr_equal(vio_mem_ptr(&m, TOP, 1), buf + PAGE - 1);
	assert_ptr_equal(vio_mem_ptr(&m, TOP - PAGE + 1, PAGE), buf);
	assert_int_equal(vio_mem_translate(&m, TOP - 15, 16, iov, 2, &n), 0);
	assert_int_equal(n, 1);
	assert_ptr_equal(iov[0].base, buf + PAGE - 16);
	assert_int_equal(iov[0].len, 16);
	/* One byte more would need address 2^64. */
	assert_translate_fails(&m, TOP - 15, 17, 2, -EOVERFLOW);
	assert_null(vio_mem_ptr(&m, TOP - 15, 17));
	/* And a one-byte region at the very last address. */
	assert_int_equal(vio_mem_remove(&m, TOP - PAGE + 1, PAGE), 0);
	assert_int_equal(vio_mem_add(&m, TOP, 1, buf), 0);
	assert_ptr_equal(vio_mem_ptr(&m, TOP, 1), buf);
	assert_null(vio_mem_ptr(&m, TOP - 1, 2));
}

static void test_region_at_zero(void **state)
{
	static uint8_t buf[16];
	struct vio_mem_region table[1];
	struct vio_mem m;

	vio_mem_init(&m, table, 1);
	assert_int_equal(vio_mem_add(&m, 0, sizeof(buf), buf), 0);
	assert_ptr_equal(vio_mem_ptr(&m, 0, 1), buf);
	assert_ptr_equal(vio_mem_ptr(&m, 15, 1), buf + 15);
	assert_null(vio_mem_ptr(&m, 16, 1));
}

static void test_remove(void **state)
{
	struct fix *f = *state;

	/* No region there; the tail of one; inside one with its size. */
	assert_int_equal(vio_mem_remove(&f->mem, 0x30000, PAGE), -ENOENT);
	assert_int_equal(vio_mem_remove(&f->mem, A_ADDR + 0x100, PAGE - 0x100), -ENOENT);
	assert_int_equal(vio_mem_remove(&f->mem, A_ADDR + 1, PAGE), -ENOENT);
	/* Right start, wrong size: smaller, larger, spanning A and B. */
	assert_int_equal(vio_mem_remove(&f->mem, A_ADDR, PAGE - 1), -ENOENT);
	assert_int_equal(vio_mem_remove(&f->mem, A_ADDR, PAGE + 1), -ENOENT);
	assert_int_equal(vio_mem_remove(&f->mem, A_ADDR, 2 * PAGE), -ENOENT);
	assert_int_equal(vio_mem_count(&f->mem), 3);

	/* The middle one goes; the others keep their order. */
	assert_int_equal(vio_mem_remove(&f->mem, B_ADDR, PAGE), 0);
	assert_int_equal(vio_mem_count(&f->mem), 2);
	assert_region(&f->mem, 0, A_ADDR, PAGE, f->a);
	assert_region(&f->mem, 1, C_ADDR, PAGE, f->c);
	assert_null(vio_mem_ptr(&f->mem, B_ADDR, 1));
	assert_int_equal(vio_mem_remove(&f->mem, B_ADDR, PAGE), -ENOENT);

	/* The hole it left can be filled again. */
	assert_int_equal(vio_mem_add(&f->mem, B_ADDR, PAGE, f->b), 0);
	assert_region(&f->mem, 1, B_ADDR, PAGE, f->b);
}

static void test_clear(void **state)
{
	struct fix *f = *state;

	vio_mem_clear(&f->mem);
	assert_int_equal(vio_mem_count(&f->mem), 0);
	assert_null(vio_mem_ptr(&f->mem, A_ADDR, 1));
	assert_translate_fails(&f->mem, A_ADDR, 1, 8, -EFAULT);
	assert_int_equal(vio_mem_remove(&f->mem, A_ADDR, PAGE), -ENOENT);
	/* The table is reusable at full capacity. */
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(vio_mem_add(&f->mem, 0x100000 * (i + 1), 16, f->a), 0);
}

/* ------------------------------------------------------------------------ */
/* translate                                                                */

static void test_translate_inside_one(void **state)
{
	struct fix *f = *state;
	struct vio_iov iov[4];
	unsigned n = N_SENTINEL;

	assert_int_equal(vio_mem_translate(&f->mem, C_ADDR + 0x123, 0x200, iov, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_ptr_equal(iov[0].base, f->c + 0x123);
	assert_int_equal(iov[0].len, 0x200);

	/* A whole region, exactly. */
	assert_int_equal(vio_mem_translate(&f->mem, A_ADDR, PAGE, iov, 1, &n), 0);
	assert_int_equal(n, 1);
	assert_ptr_equal(iov[0].base, f->a);
	assert_int_equal(iov[0].len, PAGE);
}

static void test_translate_len0(void **state)
{
	struct fix *f = *state;
	struct vio_iov iov[1];
	unsigned n = N_SENTINEL;

	assert_int_equal(vio_mem_translate(&f->mem, A_ADDR, 0, iov, 1, &n), 0);
	assert_int_equal(n, 0);
	/* Zero bytes touch no memory, so even a hole or cap 0 is fine. */
	n = N_SENTINEL;
	assert_int_equal(vio_mem_translate(&f->mem, 0x50000, 0, iov, 0, &n), 0);
	assert_int_equal(n, 0);
}

static void test_translate_adjacent(void **state)
{
	struct fix *f = *state;
	struct vio_iov iov[4];
	unsigned n = N_SENTINEL;

	assert_int_equal(vio_mem_translate(&f->mem, B_ADDR - 0x10, 0x30, iov, 4, &n), 0);
	assert_int_equal(n, 2);
	assert_ptr_equal(iov[0].base, f->a + PAGE - 0x10);
	assert_int_equal(iov[0].len, 0x10);
	assert_ptr_equal(iov[1].base, f->b);
	assert_int_equal(iov[1].len, 0x20);

	/* All of A and B. */
	assert_int_equal(vio_mem_translate(&f->mem, A_ADDR, 2 * PAGE, iov, 2, &n), 0);
	assert_int_equal(n, 2);
	assert_ptr_equal(iov[0].base, f->a);
	assert_int_equal(iov[0].len, PAGE);
	assert_ptr_equal(iov[1].base, f->b);
	assert_int_equal(iov[1].len, PAGE);
}

static void test_translate_three_regions(void **state)
{
	static uint8_t h[3][16];
	struct vio_mem_region table[3];
	struct vio_mem m;
	struct vio_iov iov[3];
	unsigned n = N_SENTINEL;

	vio_mem_init(&m, table, 3);
	assert_int_equal(vio_mem_add(&m, 0x20, 16, h[2]), 0);
	assert_int_equal(vio_mem_add(&m, 0x00, 16, h[0]), 0);
	assert_int_equal(vio_mem_add(&m, 0x10, 16, h[1]), 0);
	assert_int_equal(vio_mem_translate(&m, 0x08, 0x20, iov, 3, &n), 0);
	assert_int_equal(n, 3);
	assert_ptr_equal(iov[0].base, h[0] + 8);
	assert_int_equal(iov[0].len, 8);
	assert_ptr_equal(iov[1].base, h[1]);
	assert_int_equal(iov[1].len, 16);
	assert_ptr_equal(iov[2].base, h[2]);
	assert_int_equal(iov[2].len, 8);
}

static void test_translate_into_hole(void **state)
{
	struct fix *f = *state;

	/* B's last byte plus the first byte of the hole after it. */
	assert_translate_fails(&f->mem, B_ADDR + PAGE - 1, 2, 8, -EFAULT);
	/* From A through B into the hole. */
	assert_translate_fails(&f->mem, A_ADDR, 2 * PAGE + 1, 8, -EFAULT);
	/* From B across the hole into C: both ends mapped, middle not. */
	assert_translate_fails(&f->mem, B_ADDR, C_ADDR - B_ADDR + 1, 8, -EFAULT);
}

static void test_translate_from_hole(void **state)
{
	struct fix *f = *state;

	assert_translate_fails(&f->mem, B_ADDR + PAGE, 1, 8, -EFAULT);
	assert_translate_fails(&f->mem, C_ADDR - 1, 2, 8, -EFAULT);  /* ends in C */
	assert_translate_fails(&f->mem, A_ADDR - 1, 1, 8, -EFAULT);  /* below all */
	assert_translate_fails(&f->mem, C_ADDR + PAGE, 1, 8, -EFAULT); /* above all */
	assert_translate_fails(&f->mem, 0, 1, 8, -EFAULT);
	assert_translate_fails(&f->mem, TOP, 1, 8, -EFAULT);
}

static void test_translate_wrap(void **state)
{
	struct fix *f = *state;

	assert_translate_fails(&f->mem, TOP, 2, 8, -EOVERFLOW);
	assert_translate_fails(&f->mem, A_ADDR, UINT64_MAX, 8, -EOVERFLOW);
	assert_translate_fails(&f->mem, TOP - 9, 11, 8, -EOVERFLOW);
	/* Exactly reaching the last byte is not a wrap (just unmapped here). */
	assert_translate_fails(&f->mem, TOP - 9, 10, 8, -EFAULT);
}

static void test_translate_cap(void **state)
{
	struct fix *f = *state;
	struct vio_iov iov[2];
	unsigned n = N_SENTINEL;

	assert_translate_fails(&f->mem, B_ADDR - 1, 2, 1, -ENOBUFS);
	assert_translate_fails(&f->mem, A_ADDR, 1, 0, -ENOBUFS);
	/* Exactly enough room. */
	assert_int_equal(vio_mem_translate(&f->mem, B_ADDR - 1, 2, iov, 2, &n), 0);
	assert_int_equal(n, 2);
}

/* A failed call must not leave half a translation in iov for a caller that
 * ignores the return value and trusts n: n is 0 after every error. */
static void test_translate_error_clears_n(void **state)
{
	struct fix *f = *state;

	assert_translate_fails(&f->mem, A_ADDR, 2 * PAGE, 1, -ENOBUFS);
	assert_translate_fails(&f->mem, A_ADDR, 2 * PAGE + 1, 8, -EFAULT);
	assert_translate_fails(&f->mem, TOP, 2, 8, -EOVERFLOW);
}

/* ------------------------------------------------------------------------ */
/* vio_mem_ptr                                                              */

static void test_ptr_inside(void **state)
{
	struct fix *f = *state;

	assert_ptr_equal(vio_mem_ptr(&f->mem, A_ADDR, PAGE), f->a);
	assert_ptr_equal(vio_mem_ptr(&f->mem, B_ADDR + 0x10, 0x20), f->b + 0x10);
	assert_ptr_equal(vio_mem_ptr(&f->mem, C_ADDR + 0x800, 1), f->c + 0x800);
}

static void test_ptr_region_end(void **state)
{
	struct fix *f = *state;

	/* The last byte of C (a hole follows), the last 4 bytes, one past. */
	assert_ptr_equal(vio_mem_ptr(&f->mem, C_ADDR + PAGE - 1, 1), f->c + PAGE - 1);
	assert_ptr_equal(vio_mem_ptr(&f->mem, C_ADDR + PAGE - 4, 4), f->c + PAGE - 4);
	assert_null(vio_mem_ptr(&f->mem, C_ADDR + PAGE - 3, 4));
	assert_null(vio_mem_ptr(&f->mem, C_ADDR + PAGE, 1));
	/* Same at the end of A, where B follows: still one region only. */
	assert_ptr_equal(vio_mem_ptr(&f->mem, B_ADDR - 4, 4), f->a + PAGE - 4);
	assert_null(vio_mem_ptr(&f->mem, B_ADDR - 3, 4));
}

static void test_ptr_rejects(void **state)
{
	struct fix *f = *state;

	assert_null(vio_mem_ptr(&f->mem, A_ADDR, 0));             /* len 0 */
	assert_null(vio_mem_ptr(&f->mem, A_ADDR, 2 * PAGE));      /* crosses into B */
	assert_null(vio_mem_ptr(&f->mem, B_ADDR + PAGE, 1));      /* hole */
	assert_null(vio_mem_ptr(&f->mem, C_ADDR - 1, 2));         /* from hole into C */
	assert_null(vio_mem_ptr(&f->mem, TOP, 2));                /* wraps */
	assert_null(vio_mem_ptr(&f->mem, A_ADDR, UINT64_MAX));    /* wraps */
}

/* ------------------------------------------------------------------------ */
/* vio_mem_read / vio_mem_write                                             */

static void test_read_across_adjacent(void **state)
{
	struct fix *f = *state;
	uint8_t dst[0x40], want[0x40];

	for (size_t i = 0; i < sizeof(want); i++)
		want[i] = pattern(B_ADDR - 0x18 + i);
	memset(dst, 0, sizeof(dst));
	assert_int_equal(vio_mem_read(&f->mem, B_ADDR - 0x18, dst, sizeof(dst)), 0);
	assert_memory_equal(dst, want, sizeof(want));
}

static void test_write_across_adjacent(void **state)
{
	struct fix *f = *state;
	uint8_t src[0x40], a_before[PAGE], b_before[PAGE];

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(0xc0 ^ i);
	memcpy(a_before, f->a, PAGE);
	memcpy(b_before, f->b, PAGE);
	assert_int_equal(vio_mem_write(&f->mem, B_ADDR - 0x18, src, sizeof(src)), 0);
	/* The right bytes landed on each side... */
	assert_memory_equal(f->a + PAGE - 0x18, src, 0x18);
	assert_memory_equal(f->b, src + 0x18, sizeof(src) - 0x18);
	/* ...and nothing else moved, on either side or in the host gap. */
	assert_memory_equal(f->a, a_before, PAGE - 0x18);
	assert_memory_equal(f->b + 0x28, b_before + 0x28, PAGE - 0x28);
	for (size_t i = 0; i < sizeof(f->gap1); i++)
		assert_int_equal(f->gap1[i], POISON);
}

static void test_read_len0(void **state)
{
	struct fix *f = *state;
	uint8_t dst = POISON;

	assert_int_equal(vio_mem_read(&f->mem, 0x50000, &dst, 0), 0);
	assert_int_equal(vio_mem_write(&f->mem, 0x50000, &dst, 0), 0);
	assert_int_equal(dst, POISON);
}

/* Ranges that start mapped and fail part-way, plus wrap and hole starts. */
struct bad_copy {
	uint64_t addr;
	size_t len;
	int err;
};

static const struct bad_copy bad_copies[] = {
	{ A_ADDR, 2 * PAGE + 1, -EFAULT },         /* A, B, then the hole */
	{ B_ADDR + PAGE - 8, 16, -EFAULT },        /* B, then the hole */
	{ B_ADDR, (size_t)(C_ADDR - B_ADDR + 8), -EFAULT }, /* across the hole into C */
	{ C_ADDR - 8, 16, -EFAULT },               /* hole first */
	{ TOP - 7, 16, -EOVERFLOW },
};

#define NBAD_COPIES (sizeof(bad_copies) / sizeof(bad_copies[0]))

static void test_read_failure_copies_nothing(void **state)
{
	struct fix *f = *state;
	static uint8_t dst[C_ADDR - B_ADDR + 8];

	for (size_t i = 0; i < NBAD_COPIES; i++) {
		const struct bad_copy *b = &bad_copies[i];

		memset(dst, POISON, sizeof(dst));
		assert_int_equal(vio_mem_read(&f->mem, b->addr, dst, b->len), b->err);
		for (size_t k = 0; k < b->len; k++)
			if (dst[k] != POISON)
				fail_msg("read case %zu wrote dst[%zu] before failing", i, k);
	}
}

static void test_write_failure_copies_nothing(void **state)
{
	struct fix *f = *state;
	static uint8_t src[C_ADDR - B_ADDR + 8];
	static struct fix before;

	memset(src, 0x3c, sizeof(src));
	memcpy(&before, f, sizeof(before));
	for (size_t i = 0; i < NBAD_COPIES; i++) {
		const struct bad_copy *b = &bad_copies[i];

		assert_int_equal(vio_mem_write(&f->mem, b->addr, src, b->len), b->err);
		assert_memory_equal(f->a, before.a, PAGE);
		assert_memory_equal(f->b, before.b, PAGE);
		assert_memory_equal(f->c, before.c, PAGE);
	}
}

/* ------------------------------------------------------------------------ */
/* iovec helpers                                                            */

/* Five spans of 3, 5, 0, 7 and 2 bytes (17 in all) over separate storage;
 * the empty one checks that zero-length spans are stepped over. */
#define IOV_N 5
#define IOV_TOTAL 17

struct iovs {
	uint8_t store[IOV_N][8];
	struct vio_iov iov[IOV_N];
};

static void iovs_init(struct iovs *v, uint8_t fill)
{
	static const size_t lens[IOV_N] = { 3, 5, 0, 7, 2 };

	memset(v->store, fill, sizeof(v->store));
	for (unsigned i = 0; i < IOV_N; i++) {
		v->iov[i].base = v->store[i];
		v->iov[i].len = lens[i];
	}
}

/* Flat view of what the spans hold, in order. */
static void iovs_flatten(const struct iovs *v, uint8_t *out)
{
	size_t k = 0;

	for (unsigned i = 0; i < IOV_N; i++)
		for (size_t j = 0; j < v->iov[i].len; j++)
			out[k++] = ((const uint8_t *)v->iov[i].base)[j];
}

static size_t expect_copied(size_t off, size_t len)
{
	size_t avail = off < IOV_TOTAL ? IOV_TOTAL - off : 0;

	return len < avail ? len : avail;
}

static void test_iov_length(void **state)
{
	struct iovs v;

	iovs_init(&v, 0);
	assert_int_equal(vio_iov_length(v.iov, IOV_N), IOV_TOTAL);
	assert_int_equal(vio_iov_length(v.iov, 2), 8);
	assert_int_equal(vio_iov_length(v.iov, 0), 0);
}

/* Every (off, len) up to past the end, against the flat reference. */
static void test_iov_to_buf(void **state)
{
	struct iovs v;
	uint8_t flat[IOV_TOTAL];

	iovs_init(&v, 0);
	for (unsigned i = 0; i < IOV_N; i++)
		for (size_t j = 0; j < v.iov[i].len; j++)
			v.store[i][j] = (uint8_t)(i * 16 + j + 1);
	iovs_flatten(&v, flat);

	for (size_t off = 0; off <= IOV_TOTAL + 2; off++) {
		for (size_t len = 0; len <= IOV_TOTAL + 2; len++) {
			uint8_t dst[IOV_TOTAL + 4];
			size_t want = expect_copied(off, len), got;

			memset(dst, POISON, sizeof(dst));
			got = vio_iov_to_buf(v.iov, IOV_N, off, dst, len);
			if (got != want)
				fail_msg("to_buf(off=%zu, len=%zu) = %zu, want %zu",
					 off, len, got, want);
			if (want)
				assert_memory_equal(dst, flat + off, want);
			for (size_t k = want; k < sizeof(dst); k++)
				assert_int_equal(dst[k], POISON);
		}
	}
}

static void test_iov_from_buf(void **state)
{
	uint8_t src[IOV_TOTAL + 4];

	for (size_t k = 0; k < sizeof(src); k++)
		src[k] = (uint8_t)(0x40 + k);

	for (size_t off = 0; off <= IOV_TOTAL + 2; off++) {
		for (size_t len = 0; len <= IOV_TOTAL + 2; len++) {
			struct iovs v;
			uint8_t flat[IOV_TOTAL];
			size_t want = expect_copied(off, len), got;

			iovs_init(&v, POISON);
			got = vio_iov_from_buf(v.iov, IOV_N, off, src, len);
			if (got != want)
				fail_msg("from_buf(off=%zu, len=%zu) = %zu, want %zu",
					 off, len, got, want);
			iovs_flatten(&v, flat);
			for (size_t k = 0; k < IOV_TOTAL; k++) {
				bool written = k >= off && k < off + want;
				uint8_t exp = written ? src[k - off] : POISON;

				if (flat[k] != exp)
					fail_msg("from_buf(off=%zu, len=%zu): byte %zu",
						 off, len, k);
			}
			/* Bytes past each span's length are never written. */
			assert_int_equal(v.store[2][0], POISON);
			assert_int_equal(v.store[0][3], POISON);
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Randomized comparison against a byte-by-byte reference model             */

/* xorshift64*: deterministic, so a failure reproduces from the seed alone. */
static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

#define PR_MAX 8                  /* regions per table */
#define PR_MAX_SIZE 200           /* bytes per region */
#define PR_HOST 4096              /* host arena */
#define PR_TABLES 500
#define PR_QUERIES 20             /* per table: 10000 queries per property */

struct model {
	unsigned n;
	struct vio_mem_region r[PR_MAX];  /* sorted by guest address */
	uint64_t lo, span;                /* the guest window queries aim at */
	struct vio_mem_region table[PR_MAX + 1];  /* room for one probe */
	struct vio_mem mem;
	uint8_t host[PR_HOST];
};

static struct model md;

/*
 * A random table: 1..8 regions of 1..200 bytes, half of them adjacent to
 * the previous one, the rest after a gap. One table in four is placed so
 * its last region ends exactly at 2^64. Host slices are handed out in a
 * shuffled order with gaps, and the regions are added in a shuffled order.
 */
static void model_build(struct model *m)
{
	uint64_t sizes[PR_MAX], gaps[PR_MAX], total = 0, addr;
	unsigned order[PR_MAX];
	size_t host_off = 0;

	m->n = 1 + (unsigned)rnd_below(PR_MAX);
	for (unsigned i = 0; i < m->n; i++) {
		sizes[i] = 1 + rnd_below(PR_MAX_SIZE);
		gaps[i] = (i > 0 && rnd_below(2) == 0) ? 0 : 1 + rnd_below(64);
		total += gaps[i] + sizes[i];
		order[i] = i;
	}
	addr = rnd_below(4) == 0 ? 0 - total : 0x1000 + rnd_below(1u << 20);
	for (unsigned i = 0; i < m->n; i++) {
		addr += gaps[i];
		m->r[i].addr = addr;
		m->r[i].size = sizes[i];
		addr += sizes[i];
	}
	m->lo = m->r[0].addr - gaps[0];
	m->span = total;

	/* Host slices: shuffled order, random gaps, all inside the arena. */
	for (unsigned i = m->n - 1; i > 0; i--) {
		unsigned j = (unsigned)rnd_below(i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned k = 0; k < m->n; k++) {
		unsigned i = order[k];

		host_off += 1 + rnd_below(16);
		m->r[i].host = m->host + host_off;
		host_off += sizes[i];
	}
	for (size_t k = 0; k < PR_HOST; k++)
		m->host[k] = (uint8_t)rnd();

	vio_mem_init(&m->mem, m->table, PR_MAX + 1);
	for (unsigned i = m->n - 1; i > 0; i--) {
		unsigned j = (unsigned)rnd_below(i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned k = 0; k < m->n; k++) {
		const struct vio_mem_region *r = &m->r[order[k]];

		assert_int_equal(vio_mem_add(&m->mem, r->addr, r->size, r->host), 0);
	}
	assert_int_equal(vio_mem_count(&m->mem), m->n);
	for (unsigned i = 0; i < m->n; i++)
		assert_region(&m->mem, i, m->r[i].addr, m->r[i].size, m->r[i].host);
}

/* Reference: the region holding guest byte `a`, or -1. */
static int model_find(const struct model *m, uint64_t a)
{
	for (unsigned i = 0; i < m->n; i++)
		if (a - m->r[i].addr < m->r[i].size)
			return (int)i;
	return -1;
}

static uint8_t *model_host(const struct model *m, uint64_t a)
{
	int i = model_find(m, a);

	return i < 0 ? NULL : (uint8_t *)m->r[i].host + (a - m->r[i].addr);
}

/*
 * What the reference model says about [addr, addr+len). `spans` counts the
 * regions crossed before the first unmapped byte, so for -EFAULT it tells
 * how far a region-by-region walk gets before it hits the hole.
 */
struct verdict {
	int err;          /* 0, -EOVERFLOW or -EFAULT */
	unsigned spans;
};

static struct verdict model_judge(const struct model *m, uint64_t addr, uint64_t len)
{
	struct verdict v = { 0, 0 };
	int prev = -1;

	if (len == 0)
		return v;
	if (addr + (len - 1) < addr) {
		v.err = -EOVERFLOW;
		return v;
	}
	for (uint64_t k = 0; k < len; k++) {
		int i = model_find(m, addr + k);

		if (i < 0) {
			v.err = -EFAULT;
			return v;
		}
		if (i != prev)
			v.spans++;
		prev = i;
	}
	return v;
}

/* One query, and where it came from for the failure message. */
struct query {
	unsigned table, nr;
	uint64_t addr, len;
};

/*
 * A query aimed at the table's window, spilling a little past both ends
 * (and past 2^64 for tables at the top): mostly short, some long, and one
 * in three starting just before a region's end, where the edge cases are.
 */
static void random_query(const struct model *m, struct query *q)
{
	const struct vio_mem_region *r = &m->r[rnd_below(m->n)];

	q->addr = m->lo - 16 + rnd_below(m->span + 32);
	switch (rnd_below(6)) {
	case 0:
		q->len = rnd_below(4);
		break;
	case 1:
		q->len = rnd_below(m->span + 32);
		break;
	case 2:
	case 3:
		q->addr = r->addr + r->size - 1 - rnd_below(r->size < 8 ? r->size : 8);
		q->len = 1 + rnd_below(2 * PR_MAX_SIZE);
		break;
	default:
		q->len = 1 + rnd_below(64);
		break;
	}
}

static void fail_query(const char *what, const struct query *q)
{
	fail_msg("%s: table %u query %u: addr=%#llx len=%llu", what, q->table, q->nr,
		 (unsigned long long)q->addr, (unsigned long long)q->len);
}

/* Runs `check` on PR_TABLES random tables x PR_QUERIES random queries. */
static void for_each_query(uint64_t seed, void (*check)(const struct query *q))
{
	struct query q;

	rng_state = seed;
	for (q.table = 0; q.table < PR_TABLES; q.table++) {
		model_build(&md);
		for (q.nr = 0; q.nr < PR_QUERIES; q.nr++) {
			random_query(&md, &q);
			check(&q);
		}
	}
}

static void check_translate(const struct query *q)
{
	struct vio_iov iov[PR_MAX];
	unsigned cap = (unsigned)rnd_below(PR_MAX + 1), n = N_SENTINEL;
	struct verdict v = model_judge(&md, q->addr, q->len);
	int r = vio_mem_translate(&md.mem, q->addr, q->len, iov, cap, &n);
	int want = v.err ? v.err : (v.spans > cap ? -ENOBUFS : 0);
	uint64_t a = q->addr;

	/* A range that runs into a hole after more regions than cap may
	 * report either: the contract does not rank the two errors. */
	if (r != want && !(v.err == -EFAULT && v.spans > cap && r == -ENOBUFS))
		fail_query("translate result", q);
	if (r != 0) {
		if (n != 0)
			fail_query("translate error left n", q);
		return;
	}
	if (n != v.spans)
		fail_query("translate span count", q);
	/* Each span maps its bytes to exactly the reference's host bytes; as
	 * the count matches, no span straddles two regions. */
	for (unsigned s = 0; s < n; s++) {
		if (iov[s].len == 0)
			fail_query("translate empty span", q);
		for (size_t k = 0; k < iov[s].len; k++, a++)
			if ((uint8_t *)iov[s].base + k != model_host(&md, a))
				fail_query("translate host pointer", q);
	}
	if (a - q->addr != q->len)
		fail_query("translate total length", q);
}

static void check_ptr(const struct query *q)
{
	struct verdict v = model_judge(&md, q->addr, q->len);
	void *p = vio_mem_ptr(&md.mem, q->addr, q->len);
	bool want = q->len > 0 && v.err == 0 && v.spans == 1;

	if ((p != NULL) != want)
		fail_query("ptr NULL-ness", q);
	if (p && p != model_host(&md, q->addr))
		fail_query("ptr value", q);
}

/* Big enough for the longest query random_query() makes. */
static uint8_t scratch[PR_MAX * (PR_MAX_SIZE + 64) + 64];

static void check_read(const struct query *q)
{
	struct verdict v = model_judge(&md, q->addr, q->len);
	int r;

	memset(scratch, POISON, (size_t)q->len);
	r = vio_mem_read(&md.mem, q->addr, scratch, (size_t)q->len);
	if (r != v.err)
		fail_query("read result", q);
	for (uint64_t k = 0; k < q->len; k++) {
		uint8_t want = r == 0 ? *model_host(&md, q->addr + k) : POISON;

		if (scratch[k] != want)
			fail_query("read bytes", q);
	}
}

static void check_write(const struct query *q)
{
	static uint8_t expect[PR_HOST];
	struct verdict v = model_judge(&md, q->addr, q->len);
	int r;

	for (uint64_t k = 0; k < q->len; k++)
		scratch[k] = (uint8_t)rnd();
	memcpy(expect, md.host, PR_HOST);
	if (v.err == 0)
		for (uint64_t k = 0; k < q->len; k++)
			expect[model_host(&md, q->addr + k) - md.host] = scratch[k];
	r = vio_mem_write(&md.mem, q->addr, scratch, (size_t)q->len);
	if (r != v.err)
		fail_query("write result", q);
	/* The whole arena: the right bytes written, nothing else touched. */
	if (memcmp(md.host, expect, PR_HOST) != 0)
		fail_query("write bytes", q);
}

/* add() refuses exactly the candidates that share a byte with a region. */
static void check_add_overlap(const struct query *q)
{
	bool overlap = false;
	int r;

	if (q->len == 0 || q->addr + (q->len - 1) < q->addr)
		return;         /* invalid for other reasons, tested above */
	for (uint64_t k = 0; k < q->len && !overlap; k++)
		overlap = model_find(&md, q->addr + k) >= 0;
	r = vio_mem_add(&md.mem, q->addr, q->len, md.host);
	if (r != (overlap ? -EEXIST : 0))
		fail_query("add overlap verdict", q);
	if (r == 0 && vio_mem_remove(&md.mem, q->addr, q->len) != 0)
		fail_query("remove after add", q);
	if (vio_mem_count(&md.mem) != md.n)
		fail_query("table size changed", q);
}

static void test_prop_translate(void **state)
{
	for_each_query(0x5eed0001, check_translate);
}

static void test_prop_ptr(void **state)
{
	for_each_query(0x5eed0002, check_ptr);
}

static void test_prop_read(void **state)
{
	for_each_query(0x5eed0003, check_read);
}

static void test_prop_write(void **state)
{
	for_each_query(0x5eed0004, check_write);
}

static void test_prop_add_overlap(void **state)
{
	for_each_query(0x5eed0005, check_add_overlap);
}

/* ------------------------------------------------------------------------ */

/* ------------------------------------------------------------------------ */
/* translate_hint: the one-region fast path must give translate()'s answers */

static void test_hint_hit_keeps_hint(void **state)
{
	struct fix *f = *state;
	struct vio_iov iov[2];
	unsigned n = N_SENTINEL, hint = 2;      /* C */

	assert_int_equal(vio_mem_translate_hint(&f->mem, &hint, C_ADDR + 0x10, 0x20, iov, 2, &n), 0);
	assert_int_equal(n, 1);
	assert_ptr_equal(iov[0].base, f->c + 0x10);
	assert_int_equal(iov[0].len, 0x20);
	assert_int_equal(hint, 2);
}

static void test_hint_miss_moves_hint(void **state)
{
	struct fix *f = *state;
	struct vio_iov iov[2];
	unsigned n = N_SENTINEL, hint = 2;      /* C, but the address is in A */

	assert_int_equal(vio_mem_translate_hint(&f->mem, &hint, A_ADDR + 8, 8, iov, 2, &n), 0);
	assert_int_equal(n, 1);
	assert_ptr_equal(iov[0].base, f->a + 8);
	assert_int_equal(hint, 0);
}

/* A range that starts in the hinted region and runs on into the next must
 * come back as two spans, not one span past the region's end. */
static void test_hint_range_leaving_region(void **state)
{
	struct fix *f = *state;
	struct vio_iov iov[2];
	unsigned n = N_SENTINEL, hint = 0;      /* A */

	assert_int_equal(vio_mem_translate_hint(&f->mem, &hint, B_ADDR - 0x10, 0x30, iov, 2, &n), 0);
	assert_int_equal(n, 2);
	assert_ptr_equal(iov[0].base, f->a + PAGE - 0x10);
	assert_int_equal(iov[0].len, 0x10);
	assert_ptr_equal(iov[1].base, f->b);
	assert_int_equal(iov[1].len, 0x20);
}

/* An address below the hinted region (addr - region start wraps). */
static void test_hint_address_below_region(void **state)
{
	struct fix *f = *state;
	struct vio_iov iov[1];
	unsigned n = N_SENTINEL, hint = 2;      /* C */

	assert_int_equal(vio_mem_translate_hint(&f->mem, &hint, B_ADDR, 4, iov, 1, &n), 0);
	assert_ptr_equal(iov[0].base, f->b);
	assert_int_equal(hint, 1);
}

static void test_hint_out_of_range_or_stale(void **state)
{
	struct fix *f = *state;
	struct vio_iov iov[1];
	unsigned n = N_SENTINEL, hint = 99;

	assert_int_equal(vio_mem_translate_hint(&f->mem, &hint, C_ADDR, 4, iov, 1, &n), 0);
	assert_ptr_equal(iov[0].base, f->c);
	assert_int_equal(hint, 2);
	/* C removed: the stale hint must not translate into it. */
	assert_int_equal(vio_mem_remove(&f->mem, C_ADDR, PAGE), 0);
	n = N_SENTINEL;
	assert_int_equal(vio_mem_translate_hint(&f->mem, &hint, C_ADDR, 4, iov, 1, &n), -EFAULT);
	assert_int_equal(n, 0);
}

static void test_hint_errors_as_translate(void **state)
{
	struct fix *f = *state;
	struct vio_iov iov[1];
	unsigned n = N_SENTINEL, hint = 0;

	/* A hole, a wrap past 2^64, no room for a span, and zero bytes. */
	assert_int_equal(vio_mem_translate_hint(&f->mem, &hint, 0x50000, 1, iov, 1, &n), -EFAULT);
	assert_int_equal(n, 0);
	assert_int_equal(vio_mem_translate_hint(&f->mem, &hint, A_ADDR, TOP, iov, 1, &n), -EOVERFLOW);
	assert_int_equal(vio_mem_translate_hint(&f->mem, &hint, A_ADDR, 1, iov, 0, &n), -ENOBUFS);
	n = N_SENTINEL;
	assert_int_equal(vio_mem_translate_hint(&f->mem, &hint, 0x50000, 0, iov, 0, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(hint, 0);
}

/* Random ranges around the regions: the same result, spans and error as
 * translate(), whatever the hint held before. */
static void test_prop_hint_matches_translate(void **state)
{
	struct fix *f = *state;
	uint64_t x = 0x9e3779b97f4a7c15u;
	unsigned hint = 0;

	for (int i = 0; i < 20000; i++) {
		struct vio_iov a[3], b[3];
		unsigned na = N_SENTINEL, nb = N_SENTINEL;
		uint64_t addr, len;
		int ra, rb;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		addr = A_ADDR - 0x40 + x % (C_ADDR + PAGE + 0x80 - A_ADDR);
		len = (x >> 32) % (x & 1 ? 0x80 : 2 * PAGE + 0x40);
		ra = vio_mem_translate(&f->mem, addr, len, a, 1 + (x >> 40) % 3, &na);
		rb = vio_mem_translate_hint(&f->mem, &hint, addr, len, b, 1 + (x >> 40) % 3, &nb);
		assert_int_equal(ra, rb);
		assert_int_equal(na, nb);
		for (unsigned k = 0; k < na; k++) {
			assert_ptr_equal(a[k].base, b[k].base);
			assert_int_equal(a[k].len, b[k].len);
		}
	}
}

/* -- dirty log ------------------------------------------------------------ */

static bool bit(const uint8_t *log, uint64_t page)
{
	return log[page / 8] & (1u << (page % 8));
}

static unsigned bits_set(const uint8_t *log, size_t n)
{
	unsigned c = 0;

	for (size_t i = 0; i < n; i++)
		c += (unsigned)__builtin_popcount(log[i]);
	return c;
}

/* vio_mem_log_set(): size checks against the regions; off with NULL. */
static void test_log_set(void **state)
{
	static uint8_t host[3 * 4096], log[64];
	struct vio_mem_region t[2];
	struct vio_mem m;

	(void)state;
	vio_mem_init(&m, t, 2);
	assert_false(vio_mem_logging(&m));
	assert_int_equal(vio_mem_log_bytes_for(0), 0);
	assert_int_equal(vio_mem_log_bytes_for(1), 1);
	assert_int_equal(vio_mem_log_bytes_for(8 * 4096), 1);
	assert_int_equal(vio_mem_log_bytes_for(8 * 4096 + 1), 2);
	assert_int_equal(vio_mem_add(&m, 0x40000, sizeof(host), host), 0);
	assert_int_equal(vio_mem_end(&m), 0x40000 + sizeof(host));
	/* 0x43000 / 4096 = 67 pages: 9 bytes. */
	assert_int_equal(vio_mem_log_set(&m, log, 8), -ENOSPC);
	assert_false(vio_mem_logging(&m));
	assert_int_equal(vio_mem_log_set(&m, log, 0), -EINVAL);
	assert_int_equal(vio_mem_log_set(&m, log, 9), 0);
	assert_true(vio_mem_logging(&m));
	assert_int_equal(vio_mem_log_set(&m, NULL, 0), 0);
	assert_false(vio_mem_logging(&m));
}

/* Ranges: first and last pages, whole bytes, clipping at the bitmap's end,
 * and nothing without a log. */
static void test_log_ranges(void **state)
{
	static uint8_t host[64 * 4096], log[16];
	struct vio_mem_region t[1];
	struct vio_mem m;

	(void)state;
	vio_mem_init(&m, t, 1);
	assert_int_equal(vio_mem_add(&m, 0, sizeof(host), host), 0);
	vio_mem_log_write(&m, 0, 4096);         /* not logging: nothing */
	assert_int_equal(vio_mem_log_set(&m, log, sizeof(log)), 0);
	assert_int_equal(bits_set(log, sizeof(log)), 0);
	vio_mem_log_write(&m, 4095, 2);         /* pages 0 and 1 */
	assert_true(bit(log, 0) && bit(log, 1));
	assert_int_equal(bits_set(log, sizeof(log)), 2);
	memset(log, 0, sizeof(log));
	vio_mem_log_write(&m, 3 * 4096 + 7, 20 * 4096);  /* pages 3..23 */
	for (uint64_t p = 0; p < 128; p++)
		assert_int_equal(bit(log, p), p >= 3 && p <= 23);
	memset(log, 0, sizeof(log));
	vio_mem_log_write(&m, 5 * 4096, 0);     /* empty */
	assert_int_equal(bits_set(log, sizeof(log)), 0);
	vio_mem_log_write(&m, 120 * 4096, UINT64_MAX);  /* wraps: to the end */
	assert_int_equal(bits_set(log, sizeof(log)), 8);
	assert_true(bit(log, 127));
	memset(log, 0, sizeof(log));
	vio_mem_log_write(&m, 4096ull * 1000, 4096);    /* past the bitmap */
	assert_int_equal(bits_set(log, sizeof(log)), 0);
	/* vio_mem_write() marks what it wrote, and only on success. */
	assert_int_equal(vio_mem_write(&m, 10 * 4096 - 1, "ab", 2), 0);
	assert_true(bit(log, 9) && bit(log, 10));
	assert_int_equal(bits_set(log, sizeof(log)), 2);
	assert_int_equal(vio_mem_write(&m, sizeof(host) - 1, "ab", 2), -EFAULT);
	assert_int_equal(bits_set(log, sizeof(log)), 2);
}

/* Host spans: back to the address they stand for, across two regions
 * whose host order is the reverse of their address order; bytes outside
 * every region are ignored. */
static void test_log_host(void **state)
{
	static uint8_t host[8 * 4096], other[4096], log[8];
	struct vio_mem_region t[2];
	struct { struct vio_iov v[2]; } iv;
	struct vio_mem m;

	(void)state;
	vio_mem_init(&m, t, 2);
	/* address 0x10000.. is host[4 pages..], 0x14000.. is host[0..] */
	assert_int_equal(vio_mem_add(&m, 0x10000, 4 * 4096, host + 4 * 4096), 0);
	assert_int_equal(vio_mem_add(&m, 0x14000, 4 * 4096, host), 0);
	assert_int_equal(vio_mem_log_set(&m, log, sizeof(log)), 0);
	vio_mem_log_host(&m, host + 4 * 4096 + 4095, 2);        /* 0x10fff: pages 16, 17 */
	assert_true(bit(log, 16) && bit(log, 17));
	assert_int_equal(bits_set(log, sizeof(log)), 2);
	memset(log, 0, sizeof(log));
	vio_mem_log_host(&m, host + 4095, 1);                   /* 0x14fff: page 20 */
	assert_true(bit(log, 20));
	vio_mem_log_host(&m, other, sizeof(other));             /* not ours */
	assert_int_equal(bits_set(log, sizeof(log)), 1);
	memset(log, 0, sizeof(log));
	/* The first 4097 bytes of two spans: all of the first, 1 of the next. */
	iv.v[0] = (struct vio_iov){ host + 4 * 4096 + 4096 * 3, 4096 };  /* page 19 */
	iv.v[1] = (struct vio_iov){ host + 2 * 4096, 4096 };             /* page 22 */
	vio_mem_log_iov(&m, iv.v, 2, 4097);
	assert_true(bit(log, 19) && bit(log, 22));
	assert_int_equal(bits_set(log, sizeof(log)), 2);
	memset(log, 0, sizeof(log));
	vio_mem_log_iov(&m, iv.v, 2, 4096);
	assert_int_equal(bits_set(log, sizeof(log)), 1);
	memset(log, 0, sizeof(log));
	vio_mem_log_all(&m);
	for (uint64_t p = 0; p < 64; p++)
		assert_int_equal(bit(log, p), p >= 16 && p < 24);
}

#define OVERLAP_CASE(i, label) \
	{ "add_overlap_" label, test_overlap_row, NULL, NULL, (void *)&overlap_rows[i] }

#define ABC(f) cmocka_unit_test_setup(f, setup_abc)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_empty),
		cmocka_unit_test(test_init_null_table_is_full),
		cmocka_unit_test(test_add_and_lookup),
		cmocka_unit_test(test_add_rejects_invalid),
		OVERLAP_CASE(0, "before"),
		OVERLAP_CASE(1, "after"),
		OVERLAP_CASE(2, "containing"),
		OVERLAP_CASE(3, "contained"),
		OVERLAP_CASE(4, "identical"),
		OVERLAP_CASE(5, "same_start_shorter"),
		OVERLAP_CASE(6, "first_byte"),
		OVERLAP_CASE(7, "last_byte"),
		OVERLAP_CASE(8, "adjacent_below_ok"),
		OVERLAP_CASE(9, "adjacent_above_ok"),
		cmocka_unit_test(test_add_rejects_overlap_spanning_several),
		cmocka_unit_test(test_add_table_full),
		cmocka_unit_test(test_add_sorted_any_order),
		cmocka_unit_test(test_region_ending_at_top),
		cmocka_unit_test(test_region_at_zero),
		ABC(test_remove),
		ABC(test_clear),
		ABC(test_translate_inside_one),
		ABC(test_translate_len0),
		ABC(test_translate_adjacent),
		cmocka_unit_test(test_translate_three_regions),
		ABC(test_translate_into_hole),
		ABC(test_translate_from_hole),
		ABC(test_translate_wrap),
		ABC(test_translate_cap),
		ABC(test_translate_error_clears_n),
		ABC(test_ptr_inside),
		ABC(test_ptr_region_end),
		ABC(test_ptr_rejects),
		ABC(test_read_across_adjacent),
		ABC(test_write_across_adjacent),
		ABC(test_read_len0),
		ABC(test_read_failure_copies_nothing),
		ABC(test_write_failure_copies_nothing),
		cmocka_unit_test(test_iov_length),
		cmocka_unit_test(test_iov_to_buf),
		cmocka_unit_test(test_iov_from_buf),
		cmocka_unit_test(test_prop_translate),
		ABC(test_hint_hit_keeps_hint),
		ABC(test_hint_miss_moves_hint),
		ABC(test_hint_range_leaving_region),
		ABC(test_hint_address_below_region),
		ABC(test_hint_out_of_range_or_stale),
		ABC(test_hint_errors_as_translate),
		ABC(test_prop_hint_matches_translate),
		cmocka_unit_test(test_prop_ptr),
		cmocka_unit_test(test_prop_read),
		cmocka_unit_test(test_prop_write),
		cmocka_unit_test(test_prop_add_overlap),
		cmocka_unit_test(test_log_set),
		cmocka_unit_test(test_log_ranges),
		cmocka_unit_test(test_log_host),
	};

	return cmocka_run_group_tests_name("mem", tests, NULL, NULL);
}
