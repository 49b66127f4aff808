/*
 * fuzz_inflight.c - libFuzzer target: a device-side queue with an inflight
 * log (vio/inflight.h) the input controls, byte for byte.
 *
 * The log lives in memory the vhost-user frontend owns and may write at any
 * time; a restarted backend reads it at queue start and hands the chains it
 * names out again (docs/design.md, "Inflight I/O tracking"). So the log is
 * untrusted input as much as the ring is. The input (fuzz_input.h) is the
 * fuzz_devq_pop one (queue size, features, guest memory, the ring's start
 * position, a script of device calls) plus the log region's length and
 * every byte of it; the script may also write the log between calls and
 * kill the device and start a new one on the same log. A final restart
 * and drain follow the script.
 *
 * The log and the scratch are heap blocks of exactly their lengths, so
 * ASan sees any access outside them. Invariants, on top of the shared ones
 * (devq_harness.c), which trap:
 *  - init returns 0, -EINVAL or -EFAULT, and -EINVAL (or -EFAULT) for a
 *    log shorter than the queue needs; a fresh queue leaves an empty log
 *    (version 1, desc_num = size, nothing in flight); a log it refuses
 *    stops the queue with an "inflight log: ..." sentence and -EIO;
 *  - chains the log names come out of pop first (the avail position stays
 *    where recovery put it), each at most once, with a head below the
 *    size and spans inside guest memory: split heads the log marked in
 *    flight, in counter order, as many as the used ring says are missing;
 *    packed chains the log holds, in counter order, and the avail position
 *    is the used one plus their descriptors;
 *  - a restart on a log only the ring wrote (no scribbles since the last
 *    start, no used index changed behind the device, no head popped twice)
 *    is accepted, resumes at the same positions and hands out exactly the
 *    chains popped and not yet published, oldest first (packed: as many
 *    ring descriptors each);
 *  - a fill fails only on a log written behind the ring's back, and then
 *    stops the queue.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devq_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One chain popped by the current device, by its pop number. */
struct chain {
	uint16_t id, ndescs;
	uint8_t state;
	/* Its log entry is the ring's work: popped from the ring, or handed
	 * out again from a log that was. A chain from a log of the input's
	 * (or one written since) keeps the counter it had there, which a
	 * later start may refuse. */
	bool trusted;
};

enum { OUT, FILLED, DONE };

struct ictx {
	struct fz_devq d;       /* first: the hooks get this back */
	uint8_t *log;           /* the region, exactly log_len bytes */
	size_t log_len;
	uint16_t *scratch;      /* exactly 2 * size entries */
	uint8_t *snap;          /* the log as the input gave it */

	/* What the current device popped (by pop number - 1), what it filled
	 * since the last flush, and per id how many are out (popped and not
	 * published). */
	struct chain *rec;
	uint32_t rec_cap;
	uint32_t *filled;
	uint32_t nfilled;
	uint16_t *out;
	bool dup;               /* split: a head popped while out (the log cannot
				 * tell the two apart) */

	/* The chains the current device must hand out again, when known. */
	struct chain *expect;
	uint32_t nexpect, expect_cap;
	bool expect_known;
	uint32_t nresub;
	bool resub_complete;

	/* The device started where its log says: split without IN_ORDER, the
	 * avail index as many ahead of the used one as chains are in flight;
	 * packed, as many descriptors. A frontend may give other positions to
	 * a queue with nothing in flight (they are all it has); the log the
	 * device then writes is one the next start refuses. */
	bool consistent;
	bool from_input;        /* the current device recovered the input's log */
	bool scribbled;         /* the log was written since the device started */
	uint64_t last_counter;  /* split, from_input: of the last resubmitted head */
	uint32_t resub_descs;   /* descriptors of the chains resubmitted */
	uint16_t *cand;         /* packed, from_input: log heads by counter */
	uint32_t ncand, next_cand;
	uint16_t start_avail, start_used;
};

static struct ictx *ic(struct fz_devq *d)
{
	return (struct ictx *)d;
}

/* ------------------------------------------------------------------------ */
/* The log as the input gave it                                             */

static const struct vio_inflight_split *snap_split(const struct ictx *c)
{
	return (const struct vio_inflight_split *)c->snap;
}

static const struct vio_inflight_packed *snap_packed(const struct ictx *c)
{
	return (const struct vio_inflight_packed *)c->snap;
}

static uint64_t cand_counter(const struct ictx *c, uint16_t h)
{
	return snap_packed(c)->desc[h].counter;
}

/* Packed: the snapshot's heads in flight, by counter (insertion sort on a
 * list the queue size bounds; only small queues get here, see below). */
static void collect_candidates(struct ictx *c)
{
	const struct vio_inflight_packed *l = snap_packed(c);
	unsigned size = c->d.q.size;

	c->ncand = 0;
	for (unsigned i = 0; i < size; i++) {
		uint32_t k = c->ncand++;

		if (l->desc[i].inflight != 1) {
			c->ncand--;
			continue;
		}
		while (k > 0 && cand_counter(c, c->cand[k - 1]) > l->desc[i].counter) {
			c->cand[k] = c->cand[k - 1];
			k--;
		}
		c->cand[k] = (uint16_t)i;
	}
	c->next_cand = 0;
}

/* Packed: does snapshot head h hold a chain like e (its length, and the
 * buffer id in its last entry)? */
static bool cand_matches(const struct ictx *c, uint16_t h, const struct vio_elem *e)
{
	const struct vio_inflight_packed *l = snap_packed(c);
	uint16_t i = h;

	if (l->desc[h].num != e->ndescs)
		return false;
	for (unsigned k = 1; k < e->ndescs; k++) {
		i = l->desc[i].next;
		if (i >= c->d.q.size)
			return false;
	}
	return l->desc[i].id == e->id;
}

/* A chain resubmitted from the input's log: one the log held in flight,
 * newer than the one before. */
static void check_from_snapshot(struct ictx *c, const struct vio_elem *e)
{
	if (!c->d.packed) {
		const struct vio_inflight_split_desc *x = &snap_split(c)->desc[e->id];

		CHECK(x->inflight == 1);
		CHECK(c->nresub == 1 || x->counter > c->last_counter);
		c->last_counter = x->counter;
		return;
	}
	/* A chain rebuilt from copies the frontend has since changed need not
	 * match; the candidate list exists for small queues only. */
	if (c->scribbled || !c->cand)
		return;
	/* Recovery skips heads on the free list, so the next match, not the
	 * next candidate; the first match is the oldest it can be. */
	while (c->next_cand < c->ncand && !cand_matches(c, c->cand[c->next_cand], e))
		c->next_cand++;
	CHECK(c->next_cand < c->ncand);
	c->next_cand++;
}

/* ------------------------------------------------------------------------ */
/* Hooks                                                                    */

static void on_popped(struct fz_devq *d, const struct vio_elem *e, bool again)
{
	struct ictx *c = ic(d);
	uint32_t k = e->seq_;

	CHECK(k >= 1 && k <= c->rec_cap);
	c->rec[k - 1] = (struct chain){ e->id, e->ndescs, OUT, !again };
	if (c->out[e->id] && !d->packed)
		c->dup = true;
	c->out[e->id]++;
	if (!again)
		return;
	c->nresub++;
	CHECK(c->nresub == k);          /* before any chain from the ring */
	c->resub_descs += e->ndescs;
	if (c->expect_known) {
		const struct chain *x = &c->expect[k - 1];

		CHECK(k <= c->nexpect);
		/* Split heads come from the device's own list; packed chains
		 * from the log's copies of their ring descriptors, which the
		 * frontend may have changed since (an indirect table stays in
		 * guest memory, so the lengths may differ anyway). */
		if (!d->packed)
			CHECK(e->id == x->id);
		else if (!c->scribbled)
			CHECK(e->id == x->id && e->ndescs == x->ndescs);
		c->rec[k - 1].trusted = x->trusted && !c->scribbled;
	}
	if (c->from_input)
		check_from_snapshot(c, e);
}

static void on_filled(struct fz_devq *d, const struct vio_elem *e, uint32_t before, uint32_t n)
{
	struct ictx *c = ic(d);

	(void)before;
	for (uint32_t s = e->seq_ - n + 1; s <= e->seq_; s++) {
		CHECK(s >= 1 && s <= c->rec_cap && c->rec[s - 1].state == OUT);
		c->rec[s - 1].state = FILLED;
		c->filled[c->nfilled++] = s;
	}
}

static void on_flushed(struct fz_devq *d)
{
	struct ictx *c = ic(d);

	for (uint32_t k = 0; k < c->nfilled; k++) {
		struct chain *x = &c->rec[c->filled[k] - 1];

		x->state = DONE;
		c->out[x->id]--;
	}
	c->nfilled = 0;
}

static bool positions_consistent(const struct ictx *c)
{
	if (!c->d.packed)
		return vio_has_feature(c->d.cfg.features, VIO_F_IN_ORDER) ||
		       (uint16_t)(c->start_avail - c->start_used) == c->nresub;
	return c->start_avail == fz_devq_base_plus(&c->d, c->start_used, c->resub_descs);
}

static void on_resubmit_done(struct fz_devq *d)
{
	struct ictx *c = ic(d);

	c->resub_complete = true;
	if (!c->expect_known)
		c->consistent = positions_consistent(c);
	if (c->expect_known)
		CHECK(c->nresub == c->nexpect);
	if (!c->from_input || c->nresub == 0)
		return;
	if (!d->packed) {
		/* Counters are avail indices. With IN_ORDER the chains in
		 * flight are the newest taken; without, each chain taken is
		 * used or in flight, and the newest in flight came before. */
		if (vio_has_feature(d->cfg.features, VIO_F_IN_ORDER)) {
			CHECK(c->start_avail == (uint16_t)(c->last_counter + 1));
		} else {
			CHECK((uint16_t)(c->start_avail - c->start_used) == c->nresub);
			CHECK((uint16_t)(c->start_avail - 1 - (uint16_t)c->last_counter) < 0x8000);
		}
	} else if (!c->scribbled) {
		/* Every descriptor popped is used or in flight. */
		CHECK(c->start_avail == fz_devq_base_plus(d, c->start_used, c->resub_descs));
	}
}

/* ------------------------------------------------------------------------ */
/* Starting a device                                                        */

/* Everything about the device before is forgotten; what it popped and did
 * not publish becomes what the next one must hand out again (known only
 * when the log is the ring's own work). Returns whether it is known. */
static bool reset_device_state(struct ictx *c, bool known)
{
	struct fz_devq *d = &c->d;
	uint32_t n = 0;

	if (known) {
		/* Pop order: what the old device resubmitted (popped first),
		 * then what it still owed of its own resubmissions, then the
		 * chains it took from the ring. */
		uint32_t popped = d->q.popped, k;

		for (k = 0; k < c->nresub; k++)
			if (c->rec[k].state != DONE)
				c->expect[n++] = c->rec[k];
		for (k = c->nresub; k < c->nexpect; k++)
			c->expect[n++] = c->expect[k];
		for (k = c->nresub; k < popped; k++)
			if (c->rec[k].state != DONE)
				c->expect[n++] = c->rec[k];
		/* More than the ring holds can only follow a head popped twice,
		 * which known excludes. */
		CHECK(n <= d->q.size);
		for (k = 0; k < n; k++)
			known = known && c->expect[k].trusted;
	}
	c->nexpect = n;
	c->expect_known = known;
	c->consistent = known;
	c->nresub = 0;
	c->resub_descs = 0;
	c->resub_complete = false;
	c->nfilled = 0;
	c->scribbled = false;
	c->dup = false;
	memset(c->out, 0, sizeof(*c->out) * d->cfg.size);
	for (unsigned i = 0; i < FZ_MAX_HELD; i++)
		d->held[i].live = false;
	d->stop_err = 0;
	d->staged = 0;
	d->staged_unknown = false;
	d->fill_may_stop = false;
	return known;
}

/* A fresh start leaves an empty log. */
static void check_fresh_log(const struct ictx *c)
{
	unsigned size = c->d.q.size;

	if (c->d.packed) {
		const struct vio_inflight_packed *l = (const void *)c->log;

		CHECK(l->version == VIO_INFLIGHT_VERSION && l->desc_num == size);
		for (unsigned i = 0; i < size; i++)
			CHECK(l->desc[i].inflight == 0);
	} else {
		const struct vio_inflight_split *l = (const void *)c->log;

		CHECK(l->version == VIO_INFLIGHT_VERSION && l->desc_num == size);
		for (unsigned i = 0; i < size; i++)
			CHECK(l->desc[i].inflight == 0);
	}
}

static uint16_t log_version(const struct ictx *c)
{
	uint16_t v;

	memcpy(&v, c->log + offsetof(struct vio_inflight_split, version), sizeof(v));
	return v;
}

/* After a successful init (recovery has run): checks what it says and
 * arms the resubmission checks. */
static void started(struct ictx *c, bool fresh)
{
	struct fz_devq *d = &c->d;

	fz_devq_started(d);
	c->start_avail = vio_devq_avail_base(&d->q);
	c->start_used = vio_devq_used_base(&d->q);
	if (vio_devq_is_stopped(&d->q)) {
		/* Only a log it refuses stops a queue at init. */
		CHECK(!fresh);
		CHECK(strncmp(vio_devq_error(&d->q), "inflight log", 12) == 0);
		fz_devq_stopped_with(d, -EIO);
		d->resubmitting = false;
		return;
	}
	if (fresh) {
		check_fresh_log(c);
		CHECK(c->nexpect == 0);
		c->resub_complete = true;
		c->consistent = positions_consistent(c);
	}
	d->resubmitting = !fresh;
}

/* FZ_IOP_RESTART: the device dies between two calls; a new one resumes at
 * the positions the old one reached, as a vhost-user frontend would pass
 * them (GET_VRING_BASE, or the used index after a crash). */
static void op_restart(struct ictx *c)
{
	struct fz_devq *d = &c->d;
	uint16_t avail = vio_devq_avail_base(&d->q), used = vio_devq_used_base(&d->q);
	bool known = !c->scribbled && !c->dup && c->consistent &&
		     (c->expect_known || c->resub_complete);
	int r;

	if (!d->packed) {
		/* Recovery reads the used index the driver could have written
		 * too; with another one, other chains are missing. */
		vio_le16 raw;
		bool legacy = !vio_has_feature(d->cfg.features, VIO_F_VERSION_1);

		if (vio_mem_read(&d->mem, d->cfg.addrs.device + 2, &raw, sizeof(raw)) ||
		    vio_get16(legacy, raw) != used)
			known = false;
	}
	known = reset_device_state(c, known);
	c->from_input = false;
	d->cfg.resume = true;
	d->cfg.avail_base = avail;
	d->cfg.used_base = used;
	r = vio_devq_init(&d->q, &d->cfg);
	CHECK(r == 0);                  /* the same rings and log as before */
	started(c, false);
	if (known) {
		CHECK(!vio_devq_is_stopped(&d->q));
		CHECK(vio_devq_avail_base(&d->q) == avail);
		CHECK(vio_devq_used_base(&d->q) == used);
		if (c->nexpect == 0)
			d->resubmitting = false;
	}
}

static void op_log_poke(struct ictx *c, uint8_t a, uint8_t b, uint8_t val)
{
	c->log[(a | (size_t)b << 8) % c->log_len] = val;
	c->scribbled = true;
	c->d.fill_may_stop = true;
}

static void run(struct ictx *c)
{
	struct fz_devq *d = &c->d;

	for (unsigned i = 0; i < d->nops; i++) {
		const uint8_t *o = d->ops[i];
		uint8_t op = o[0] % FZ_IOP_COUNT;

		if (op == FZ_IOP_LOG_POKE)
			op_log_poke(c, o[1], o[2], o[3]);
		else if (op == FZ_IOP_RESTART)
			op_restart(c);
		else
			fz_devq_op(d, op, o[1], o[2], o[3]);
	}
	fz_devq_drain(d);
	/* Whatever is still out (held, or dropped by the script) must come
	 * back from the log. */
	op_restart(c);
	fz_devq_drain(d);
}

/* ------------------------------------------------------------------------ */
/* Input                                                                    */

static size_t log_bytes(const struct ictx *c, uint8_t mode, uint8_t extra)
{
	unsigned size = c->d.cfg.size;
	size_t exact = c->d.packed ? sizeof(struct vio_inflight_packed) +
				     sizeof(struct vio_inflight_packed_desc) * (size_t)size
				   : sizeof(struct vio_inflight_split) +
				     sizeof(struct vio_inflight_split_desc) * (size_t)size;

	switch (mode % FZ_LOG_MODES) {
	case FZ_LOG_EXACT:
		return exact;
	case FZ_LOG_ALIGNED:
		return vio_inflight_queue_bytes(c->d.packed, size);
	case FZ_LOG_SHORT:
		return exact - 1;
	default:
		return vio_inflight_queue_bytes(c->d.packed, size + extra);
	}
}

static void *xcalloc(size_t n, size_t each)
{
	void *p = calloc(n ? n : 1, each);

	if (!p)
		abort();
	return p;
}

/* Packed candidate matching walks chains per resubmission: kept to queues
 * whose quadratic worst case stays cheap. */
#define CAND_MAX_SIZE 1024u

static void setup(struct ictx *c, struct fz *f)
{
	struct fz_devq *d = &c->d;
	uint8_t mode = fz_u8(f), extra = fz_u8(f);
	unsigned size = d->cfg.size;

	c->log_len = log_bytes(c, mode, extra);
	c->log = xcalloc(c->log_len, 1);
	fz_take(f, c->log, c->log_len);
	c->snap = xcalloc(c->log_len + sizeof(struct vio_inflight_packed_desc), 1);
	memcpy(c->snap, c->log, c->log_len);
	c->scratch = xcalloc(2 * (size_t)size, sizeof(uint16_t));
	/* Pops per device: the script's, the drain's and the resubmitted. */
	c->rec_cap = 255 + 3 * size + 16;
	c->rec = xcalloc(c->rec_cap, sizeof(*c->rec));
	c->filled = xcalloc(c->rec_cap, sizeof(*c->filled));
	c->expect = xcalloc(size + 1, sizeof(*c->expect));
	c->out = xcalloc(size + 1, sizeof(*c->out));
	if (d->packed && size <= CAND_MAX_SIZE)
		c->cand = xcalloc(size, sizeof(*c->cand));
	d->cfg.inflight = c->log;
	d->cfg.inflight_len = c->log_len;
	d->cfg.inflight_scratch = c->scratch;
	d->hooks = (struct fz_devq_hooks){ on_popped, on_filled, on_flushed, on_resubmit_done };
}

static void teardown(struct ictx *c)
{
	free(c->log);
	free(c->snap);
	free(c->scratch);
	free(c->rec);
	free(c->filled);
	free(c->expect);
	free(c->out);
	free(c->cand);
	fz_devq_free(&c->d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ictx ctx;
	struct ictx *c = &ctx;
	struct fz f = { data, size };
	bool fresh;
	int r;

	memset(c, 0, sizeof(*c));
	fz_devq_parse(&c->d, &f);
	if (!vio_ring_size_valid(c->d.cfg.features, c->d.cfg.size)) {
		/* Nothing to size a log by; init must refuse the queue. */
		CHECK(vio_devq_init(&c->d.q, &c->d.cfg) == -EINVAL);
		fz_devq_free(&c->d);
		return 0;
	}
	setup(c, &f);
	fz_devq_fill_memory(&c->d, &f);
	fresh = !c->d.cfg.resume || log_version(c) == 0;
	r = vio_devq_init(&c->d.q, &c->d.cfg);
	CHECK(r == 0 || r == -EINVAL || r == -EFAULT);
	if (c->log_len < log_bytes(c, FZ_LOG_EXACT, 0))
		CHECK(r != 0);
	if (r == 0) {
		(void)reset_device_state(c, fresh);
		c->from_input = !fresh;
		if (c->from_input && c->cand)
			collect_candidates(c);
		started(c, fresh);
		run(c);
	}
	teardown(c);
	return 0;
}
