/*
 * devq_packed_fixture.h - what the packed ring's device-side tests share.
 *
 * The tests are split by topic into tests/unit/test_devq_packed_*.c; each
 * plays a driver that writes the descriptor ring and the event suppression
 * structures by hand, with vio_set16/32/64, and checks what the device
 * makes of each good or broken ring. The packed ring has rules of its own
 * that no API-level test can reach: AVAIL/USED bits against a wrap counter,
 * the buffer id in the LAST descriptor of a chain, used descriptors that
 * overwrite the chain's first slot and skip the rest, one event structure
 * per direction with an offset and a wrap bit.
 *
 * The fixture (struct pq) maps separate regions: A holds the rings, the
 * indirect tables and buffers; B is adjacent to A in guest space but a
 * different host mapping; then a hole; then C, whose host mapping is 4 bytes
 * off 8-alignment; D (only for the 4 GiB tests) is 2 GiB of reserved,
 * inaccessible memory. Every region has mapped-but-unregistered canary
 * bytes around it and PROT_NONE guard pages around those: a stray write
 * shows in a canary, a wild access faults.
 */

#ifndef DEVQ_PACKED_FIXTURE_H
#define DEVQ_PACKED_FIXTURE_H

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
#include "cases.h"

#define PAGE 4096u
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define V1 VIO_BIT(VIO_F_VERSION_1)
#define F_PACKED VIO_BIT(VIO_F_RING_PACKED)
#define F_IND VIO_BIT(VIO_F_INDIRECT_DESC)
#define D_NEXT VIO_DESC_F_NEXT
#define D_WRITE VIO_DESC_F_WRITE
#define D_IND VIO_DESC_F_INDIRECT
#define D_AVAIL VIO_PACKED_DESC_F_AVAIL
#define D_USED VIO_PACKED_DESC_F_USED

/* Bit 15 of an event offset and of avail_base/used_base: the wrap counter. */
#define WRAP (1u << VIO_PACKED_EVENT_WRAP_SHIFT)

void elem_prepare(struct vio_elem *e, struct vio_iov *out, unsigned out_cap,
		  struct vio_iov *in, unsigned in_cap);

/* A position and a wrap counter, encoded as avail_base/used_base and the
 * event structures' off_wrap encode them. */
uint16_t enc(unsigned pos, bool wrap);

/* AVAIL = wrap counter, USED = its inverse: what a driver writes. */
uint16_t avail_bits(bool wrap);

/* Both bits equal to the wrap counter: what a device writes. */
uint16_t used_bits(bool wrap);

/*
 * Guest memory of the fixture:
 *
 *   A [GA, GA+128K)  descriptor ring at +0 (room for 1024 entries), driver
 *                    event structure at +16K, device event structure at
 *                    +16K+256, indirect tables at +20K, buffers at +64K
 *   B [GB, GB+8K)    right after A in guest space, its own mapping
 *   hole (4K)
 *   C [GC, GC+4K)    host mapping 4 bytes past 8-alignment
 *   D [GD, GD+2G)    only for the 4 GiB tests: never accessible
 */
#define GA UINT64_C(0x10000000)

#define A_LEN (32 * PAGE)
#define GB (GA + A_LEN)
#define B_LEN (2 * PAGE)
#define GC (GB + B_LEN + PAGE)
#define C_LEN PAGE
#define C_SKEW 4u
#define OFF_RING 0x0000u
#define OFF_DRV_EV 0x4000u
#define OFF_DEV_EV 0x4100u
#define OFF_IND 0x5000u
#define OFF_BUF 0x10000u
#define BUF(off) (GA + OFF_BUF + (off))
#define IND(off) (GA + OFF_IND + (off))
#define IOVS 16

/* The id a chain carries in its non-last descriptors: beyond any queue
 * size, so a device that took the id from the wrong descriptor stops. */
#define JUNK_ID 0xbeefu

struct pq {
	struct vt_guarded a, b, c, d;
	struct vio_mem_region regions[8];
	struct vio_mem mem;
	unsigned size;
	uint64_t features;
	struct vio_ring_addrs addrs;
	struct vio_packed_desc *ring;
	struct vio_packed_event *drv_ev;   /* driver area: read by the device */
	struct vio_packed_event *dev_ev;   /* device area: written by the device */
	uint16_t pos;           /* the hostile driver's next position ... */
	bool wrap;              /* ... and its wrap counter */
	struct vio_devq q;
	struct vio_iov out[IOVS], in[IOVS];
	struct vio_elem e;
	uint8_t snap_a[A_LEN], snap_b[B_LEN], snap_c[C_LEN];
};

int pq_setup(void **state);

int pq_teardown(void **state);

struct vio_devq_config pq_cfg(const struct pq *h, bool resume, uint16_t avail_base,
			      uint16_t used_base);

void ring_set_flags(struct pq *h, unsigned pos, uint16_t flags);

uint16_t ring_flags(const struct pq *h, unsigned pos);

uint16_t ring_id(const struct pq *h, unsigned pos);

uint32_t ring_len(const struct pq *h, unsigned pos);

/*
 * (Re)starts the device queue at position|wrap `base` for both sides, as a
 * resumed queue when `resume`. The ring is made to look as a real one would
 * there: slots before the position were used in this lap, the rest in the
 * previous one (a zero slot at wrap 0 would be a used descriptor of the
 * current lap, which no driver can produce).
 */
void pq_restart(struct pq *h, bool resume, uint16_t base);

struct pq *pq_start(void **state, unsigned size, uint64_t features, bool resume,
		    uint16_t base);

/* A fresh queue: position 0, wrap counters 1. */
struct pq *pq_new(void **state, unsigned size, uint64_t features);

/* A queue resumed with both sides at position|wrap `base`. */
struct pq *pq_new_at(void **state, unsigned size, uint64_t features, uint16_t base);

/* ---- the hostile driver ------------------------------------------------- */
/* One descriptor as a test describes it; avail bits are added on posting. */
struct pd {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;         /* WRITE, NEXT, INDIRECT, or anything at all */
	uint16_t id;
};

/*
 * Makes n descriptors available from the driver's position, advancing it
 * and flipping its wrap counter at the end of the ring; the head's flags
 * are written last, as a driver publishes. With `link`, NEXT is added to
 * all but the last and the buffer id `id` goes in the last only (the others
 * carry JUNK_ID); without, each descriptor is written as given.
 */
void drv_post(struct pq *h, const struct pd *d, unsigned n, bool link, uint16_t id);

/* One descriptor that is a whole buffer. */
void drv_post1(struct pq *h, uint64_t addr, uint32_t len, uint16_t flags, uint16_t id);

/* Entry i of an indirect table at guest address `table`, through mem so a
 * table may straddle regions. */
void ind_put(struct pq *h, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
	     uint16_t flags, uint16_t id);

/* ---- what the device did ------------------------------------------------ */
void snapshot(struct pq *h);

/* Since the snapshot nothing changed, but for bytes [lo, hi) of A: not the
 * canaries outside the regions, not the driver's memory inside them. */
void assert_untouched_but(const struct pq *h, size_t lo, size_t hi);

void assert_untouched(const struct pq *h);

void assert_bases(const struct pq *h, uint16_t avail_base, uint16_t used_base);

void pop_ok(struct pq *h);

void assert_span(const struct vio_iov *iov, const void *base, size_t len);

uint8_t *abuf(const struct pq *h, size_t off);

#define P_TEST(f) { #f, f }

/* Runs group `group`: the n packed-specific tests, each on a fresh struct pq. */
int pq_run(const char *group, const struct vt_named_test *t, size_t n);

#endif
