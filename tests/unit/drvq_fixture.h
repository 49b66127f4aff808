/*
 * drvq_fixture.h - what the driver-side virtqueue tests share.
 *
 * The driver side is the half of the ring a guest runs, and the half that
 * has to survive a device that lies. These tests drive it two ways:
 *
 *  - against libvio's own device side (vio_devq_*) over the tests/lib pair
 *    fixture, wherever a well-behaved peer is wanted: end to end traffic,
 *    kick and interrupt suppression, callbacks, detach after reset
 *    (test_drvq_add.c, test_drvq_get.c);
 *  - against a fake, hostile device, which pokes the shared split ring by
 *    hand (used entries, used->idx, used->flags, avail_event;
 *    test_drvq_split.c) or the packed ring (used descriptors: id, len,
 *    AVAIL/USED bits; test_drvq_packed.c) to return impossible things and
 *    to scribble over memory the driver must never read its own bookkeeping
 *    back from.
 *
 * Tests that only use the public API are parametrised by a ring layout row
 * (tests/lib/layouts.h) and, where it matters, by EVENT_IDX, INDIRECT_DESC,
 * byte order (VERSION_1) and IN_ORDER. drvq_run() expands a table into one
 * cmocka group, one TAP line per test and variant.
 */

#ifndef DRVQ_FIXTURE_H
#define DRVQ_FIXTURE_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pair.h"
#include "layouts.h"

/* Parameters                                                               */
/* The ring layouts: tests/lib/layouts.h. */
/* Axes a test asks to run along; each one doubles its variants. */
#define AX_EVIDX	(1u << 0)	/* VIO_F_EVENT_IDX off, on */

#define AX_INDIRECT	(1u << 1)	/* VIO_F_INDIRECT_DESC off, on */
#define AX_LEGACY	(1u << 2)	/* VIO_F_VERSION_1 on, off (byte order) */
#define AX_ALL		(AX_EVIDX | AX_INDIRECT | AX_LEGACY)
#define AX_INORDER	(1u << 3)	/* VIO_F_IN_ORDER off, on; not in AX_ALL */
#define AX_EVERY	(AX_ALL | AX_INORDER)

/* Indirect table entries per head when the indirect axis is on. */
#define INDIRECT_MAX	8u

struct variant {
	const struct layout *layout;
	uint64_t features;
	unsigned indirect_max;
	char name[112];
};

/* Per-test context and helpers                                             */
#define MAX_SEGS	40u

#define IOV_CAP		64u
#define SEG_LEN		64u
#define MAX_ELEMS	256u

struct ctx {
	const struct variant *v;
	struct vt_pair p;
	bool live;
	unsigned indirect_max;  /* what the current pair was built with */
	size_t cursor;          /* next unused byte of the buffer area */
	unsigned notifies;      /* calls of the notify callback */
	uint16_t fake_used;     /* used->idx as the fake device last wrote it */
	uint16_t fake_pos;      /* packed: where the fake device writes its */
	bool fake_wrap;         /* next used descriptor, and its wrap counter */
	struct vio_iov out_iov[IOV_CAP], in_iov[IOV_CAP];
};

int ctx_setup(void **state);

int ctx_teardown(void **state);

/* Tokens are opaque to the queue: small integers dressed up as pointers. */
#define TOK(i)		((void *)(uintptr_t)(0x10000u + (unsigned)(i)))

unsigned tok_idx(void *tok);

bool has(const struct ctx *c, unsigned bit);

/* The byte order the ring uses: native without VERSION_1. */
bool wire_legacy(const struct ctx *c);

void count_notify(void *opaque);

/*
 * (Re)builds the pair with the variant's features plus `extra`. The
 * variant's indirect table size applies unless opts names its own.
 */
struct vt_pair *pair_with(struct ctx *c, unsigned size, uint64_t extra,
			  const struct vt_pair_opts *opts);

struct vt_pair *pair(struct ctx *c, unsigned size);

/* A fresh segment of the buffer area (wraps: the ring does not care). */
struct vio_sg next_seg(struct ctx *c, uint32_t len);

void make_sgs(struct ctx *c, struct vio_sg *sg, unsigned n, uint32_t len);

/* Posts nout readable and nin writable segments of SEG_LEN bytes each. */
typedef int add_fn(struct vio_drvq *q, const struct vio_sg *out, unsigned out_n,
		   const struct vio_sg *in, unsigned in_n, void *token);

/* A buffer of nout + nin fresh SEG_LEN segments, posted with `add`. */
int post_with(struct ctx *c, add_fn *add, unsigned nout, unsigned nin, void *tok);

int post(struct ctx *c, unsigned nout, unsigned nin, void *tok);

void reap(struct ctx *c, void *want_tok, uint32_t want_len);

void assert_nothing_used(struct ctx *c);

/* ------------------------------------------------------------------------ */
/* The real, well-behaved device                                            */
int dev_pop(struct ctx *c, struct vio_elem *e);

/* Pops everything available. The spans are not kept (they share one iov
 * array): callers need only id and in_len, which is all push() looks at. */
unsigned dev_pop_all(struct ctx *c, struct vio_elem *e, unsigned max);

void dev_push(struct ctx *c, const struct vio_elem *e, uint32_t len);

/* Pops one chain and returns it whole; says whether the device would
 * interrupt for it. */
bool dev_serve_one(struct ctx *c);

/*
 * One single-descriptor buffer through the whole queue (so it fits any
 * queue size and counts the same in every layout): add, maybe kick_prepare, the device
 * pops it (and with `idle`, pops again and finds nothing, which is when a
 * device with EVENT_IDX asks for the next kick), returns it, get_buf.
 */
void cycle(struct ctx *c, uint32_t i, bool kick, bool idle);

/* ------------------------------------------------------------------------ */
/* A broken queue                                                           */
/*
 * The queue is broken, says why, and stays so: every call fails at once,
 * even though used entries may be sitting in the ring, and the counters
 * and the first reason do not move.
 */
void assert_broken_for_good(struct ctx *c);

/* get_buf on the entry the hostile device just wrote must break the queue. */
void expect_break(struct ctx *c);

/* Detaches until NULL: every outstanding token exactly once, then nothing. */
void detach_all(struct ctx *c, const bool *outstanding, unsigned ntok);

/*
 * One request and reply through the real device: three readable segments
 * carrying a pattern, two writable ones the device fills. Checks the bytes
 * both ways and the length the driver gets back.
 */
void roundtrip_once(struct ctx *c, unsigned seq);

/* Enough round trips to wrap the ring indices a few times. */
void roundtrips(struct ctx *c, unsigned size, const struct vt_pair_opts *o);

#define WRAP_CYCLES 70000u

/* Registration                                                             */
struct test_def {
	const char *name;
	CMUnitTestFunction fn;
	unsigned axes;
};

#define T(fn, axes) { #fn, fn, axes }
#define MAX_RUNS 512

extern struct variant variants[MAX_RUNS];

extern struct CMUnitTest runs[MAX_RUNS];

/* Appends one run per combination of the test's axes. */
size_t expand(const struct test_def *t, const struct layout *l, size_t n);

/* Which layout rows a table runs on. */
enum drvq_rows { ROWS_ALL, ROWS_SPLIT, ROWS_PACKED };

/* Runs group `group`: each of the n tests on every layout row of `rows`,
 * once per combination of the test's axes. */
int drvq_run(const char *group, const struct test_def *t, size_t nt, enum drvq_rows rows);

#endif
