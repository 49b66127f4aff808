/*
 * devq_harness.h - what the device-side fuzz targets share: guest memory
 * built from the input, a device-side queue over it, the script of device
 * calls and the invariants checked after each.
 *
 * fuzz_devq_pop drives a queue with nothing else; fuzz_inflight drives one
 * with an inflight log, whose recovery hands chains out again before any
 * new one and whose checks may stop the queue on a fill. Both read the same
 * header (fuzz_input.h) and run the same ops, so one harness serves both;
 * the log target adds its checks through the hooks below.
 */
#ifndef VIO_FUZZ_DEVQ_HARNESS_H
#define VIO_FUZZ_DEVQ_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "vio/mem.h"
#include "vio/ring.h"

#include "fuzz_input.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

struct fz_region {
	uint64_t addr;
	size_t size;
	uint8_t *host;
	bool added;
};

struct fz_held {
	struct vio_elem e;
	struct vio_iov out[FZ_MAX_IOV], in[FZ_MAX_IOV];
	bool live;
};

struct fz_devq;

/* Called after each successful pop (resubmitted: the chain came from the
 * inflight log, not the ring), and after each successful fill, push or
 * fill_in_order, which completed n chains: e's and, for fill_in_order, the
 * n - 1 popped before it and not yet filled. Any may be NULL. */
struct fz_devq_hooks {
	void (*popped)(struct fz_devq *c, const struct vio_elem *e, bool resubmitted);
	void (*filled)(struct fz_devq *c, const struct vio_elem *e, uint32_t filled_before,
		       uint32_t n);
	/* A flush (or push) published everything filled so far. */
	void (*flushed)(struct fz_devq *c);
	/* The pops that hand out chains again are over (the first one from
	 * the ring, or the first -EAGAIN, came). */
	void (*resubmit_done)(struct fz_devq *c);
};

struct fz_devq {
	struct fz_region reg[FZ_MAX_REGIONS];
	unsigned nreg;
	struct vio_mem_region table[FZ_MAX_REGIONS];
	struct vio_mem mem;
	struct vio_devq q;
	struct vio_devq_config cfg;
	struct fz_held held[FZ_MAX_HELD];
	unsigned out_cap, in_cap;
	uint8_t ops[255][4];
	unsigned nops;
	int stop_err;           /* the error pop returned when the queue stopped */
	bool packed;
	/* The used position at the last flush, and what fills staged since:
	 * entries (split) or descriptors (packed); unknown after an IN_ORDER
	 * batch, whose extent depends on the chains it covers. */
	uint16_t used_base;
	unsigned staged;
	bool staged_unknown;
	/* Inflight log: pops may hand out logged chains again (without moving
	 * the avail position) until the first chain from the ring; once the
	 * log was written behind the ring's back, a fill may find it damaged
	 * and stop the queue. */
	bool resubmitting;
	bool fill_may_stop;
	struct fz_devq_hooks hooks;
};

/* Reads the header of fuzz_input.h's devq format, up to and including the
 * ops, into c (memory regions allocated, cfg filled but for the log). */
void fz_devq_parse(struct fz_devq *c, struct fz *f);

/* Guest memory: the rest of the input, region after region. */
void fz_devq_fill_memory(struct fz_devq *c, struct fz *f);

/* After a successful init: notes where the queue starts. */
void fz_devq_started(struct fz_devq *c);

/* Then: one op of the script (fuzz_input.h's FZ_DOP_*,
 * taken modulo FZ_DOP_COUNT), then the final drain, which pops and pushes
 * until nothing is left or the queue stops. */
void fz_devq_op(struct fz_devq *c, uint8_t op, uint8_t a, uint8_t b, uint8_t cc);
void fz_devq_drain(struct fz_devq *c);

/* Frees the regions. */
void fz_devq_free(struct fz_devq *c);

/* The queue just stopped, for a reason pop() reports as r: checks r is a
 * documented error and that the queue stays stopped. */
void fz_devq_stopped_with(struct fz_devq *c, int r);

/* A position in vio_devq_avail_base/used_base encoding moved on by n. */
uint16_t fz_devq_base_plus(const struct fz_devq *c, uint16_t base, unsigned n);

#endif
