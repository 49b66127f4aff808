/*
 * devq_fixture.h - what the device-side virtqueue tests share.
 *
 * The tests of vio_devq_* are split by topic into tests/unit/test_devq_*.c:
 * test_devq_api.c plays the real driver over tests/lib/pair on every ring
 * layout; test_devq_elem.c, test_devq_malformed.c and test_devq_used.c play
 * a hostile driver that writes the split ring by hand.
 *
 * The hostile fixture (struct hq) builds guest memory out of three
 * separately mapped regions, A and B adjacent in guest space but not in host
 * space, then a hole, then C, whose host mapping is deliberately 4 bytes off
 * 8-alignment. Around every region lie canary bytes that are mapped but not
 * registered, and around those PROT_NONE guard pages, so a stray write shows
 * up in the canary and a wild access faults. A few of these tests also run
 * for the legacy (0.9.5) ring layout and without VERSION_1, the `variants`
 * table. Every test names one rule; TAP counts them one by one.
 */

#ifndef DEVQ_FIXTURE_H
#define DEVQ_FIXTURE_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "guard.h"
#include "pair.h"
#include "vio/mem.h"
#include "vio/ring.h"
#include "vio/spec.h"
#include "layouts.h"
#include "cases.h"

#define PAGE 4096u
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define V1 VIO_BIT(VIO_F_VERSION_1)
#define F_IND VIO_BIT(VIO_F_INDIRECT_DESC)
#define F_EVT VIO_BIT(VIO_F_EVENT_IDX)

/* More than 65536 buffers, so every 16-bit index wraps at least once. */
#define WRAP_RUN 70000u

void elem_prepare(struct vio_elem *e, struct vio_iov *out, unsigned out_cap,
		  struct vio_iov *in, unsigned in_cap);

/*
 * Guest memory of the hostile fixture:
 *
 *   A [GA, GA+64K)  rings at +0 / +8K / +12K (room for 512 entries),
 *                   indirect tables at +20K, buffers from +32K to the end
 *   B [GB, GB+8K)   adjacent to A in guest space, a separate mapping
 *   hole (4K)
 *   C [GC, GC+4K)   host mapping 4 bytes past 8-alignment
 *   D [GD, GD+2G)   only for the 4 GiB tests: reserved, never accessible
 *   E0 E1 E2        only for one test: three adjacent one-page regions
 *
 * Each region is its own guarded mmap (tests/lib/guard.h).
 */
#define GA UINT64_C(0x7f000000)

#define A_LEN (16 * PAGE)
#define GB (GA + A_LEN)
#define B_LEN (2 * PAGE)
#define GC (GB + B_LEN + PAGE)
#define C_LEN PAGE
#define C_SKEW 4u
#define OFF_AVAIL 0x2000u
#define OFF_USED 0x3000u
#define OFF_IND 0x5000u
#define OFF_BUF 0x8000u
#define BUF(off) (GA + OFF_BUF + (off))
#define IND(off) (GA + OFF_IND + (off))
#define HQ_IOVS 16

struct variant {
	const char *name;
	uint64_t features;      /* VERSION_1 or not */
	bool legacy_layout;     /* 0.9.5 one-block layout */
};

static const struct variant variants[] = {
	{ "split-modern", V1, false },
	{ "split-modern-areas-native-endian", 0, false },
	{ "split-legacy-0.9.5", 0, true },
};

struct hq {
	const struct variant *var;
	struct vt_guarded a, b, c, d, e3[3];
	struct vio_mem_region table[8];
	struct vio_mem mem;
	unsigned size;
	uint64_t features;
	bool legacy;
	struct vio_ring_addrs addrs;
	struct vio_split_desc *desc;
	struct vio_split_avail *avail;
	struct vio_split_used *used;
	uint16_t aidx;          /* the hostile driver's avail index */
	struct vio_devq q;
	struct vio_iov out[HQ_IOVS], in[HQ_IOVS];
	struct vio_elem e;
	uint8_t snap_a[A_LEN], snap_b[B_LEN], snap_c[C_LEN];
};

int hq_setup(void **state);

int hq_teardown(void **state);

void *hva(struct hq *h, uint64_t gpa);

struct vio_devq_config hq_cfg(const struct hq *h, uint16_t avail_base, uint16_t used_base);

/* Maps A, B and C, places the rings in A and starts a device queue whose
 * avail and used indices start at the given bases. */
struct hq *hq_init_at(void **state, unsigned size, uint64_t features,
		      uint16_t avail_base, uint16_t used_base);

struct hq *hq_init(void **state, unsigned size, uint64_t features);

/* Writes one descriptor at guest address `at` (ring slot or table entry),
 * through mem so that a table may straddle regions. */
void put_desc_at(struct hq *h, uint64_t at, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next);

void put_desc(struct hq *h, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
	      uint16_t next);

/* Table entry i of an indirect table at guest address `table`. */
void put_ind(struct hq *h, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
	     uint16_t flags, uint16_t next);

/* Makes head `head` available. */
void publish(struct hq *h, uint16_t head);

void set_avail_idx(struct hq *h, uint16_t idx);

uint16_t used_idx(const struct hq *h);

void snapshot(struct hq *h);

/* Since the snapshot nothing changed: not the canaries outside the regions,
 * and not the driver's memory inside them. Only the used area is the
 * device's to write. */
void assert_untouched(struct hq *h);

/*
 * The heart of the malformed-ring tests: pop fails with `err`, the queue is
 * stopped with a reason, memory is untouched, and the stop is sticky: even
 * once the driver "repairs" the ring, pop keeps failing the same way and
 * the other calls refuse to act.
 */
void expect_stop(struct hq *h, int err);

void pop_ok(struct hq *h);

void assert_span(const struct vio_iov *iov, const void *base, size_t len);

#define HQ_TEST(f) { #f, f }

/* Runs group `group`: the hostile tests in the default variant, the variant
 * tests in every other one. */
int hq_run(const char *group, const struct vt_named_test *hostile, size_t nhostile,
	   const struct vt_named_test *variant, size_t nvariant);

#endif
