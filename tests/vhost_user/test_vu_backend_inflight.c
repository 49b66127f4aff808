/*
 * test_vu_backend_inflight.c - inflight I/O tracking (GET/SET_INFLIGHT_FD):
 * the log says which chains are out while the device holds them, a
 * restarted backend resubmits exactly those in order, on split rings
 * (EVENT_IDX off and on) and packed rings (also without INDIRECT_DESC);
 * damaged logs are refused, and so are malformed GET/SET_INFLIGHT_FD
 * messages.
 *
 * Siblings, all in tests/vhost_user/: test_vu_backend_io.c (the happy path
 * on every layout), test_vu_backend_hostile.c (hostile drivers: every
 * layout, split- and packed-specific), test_vu_backend_control.c (the
 * control plane), test_vu_backend_messages.c (broken framing, fds, queue
 * indices, stalls), test_vu_backend_setup.c (refused memory tables, ring
 * setup, features, config, eventfds) and test_vu_backend_inflight.c
 * (GET/SET_INFLIGHT_FD); the echo device, the fixture and the registration
 * are vu_backend_fixture.{c,h}.
 */

#include "vu_backend_fixture.h"

/* Without INDIRECT_DESC a request of several segments is a chain of ring
 * descriptors: what the packed inflight log copies entry by entry. */
static const struct layout packed_direct = { "packed, direct chains", V1 | F_PACKED };

/* Inflight I/O tracking (GET/SET_INFLIGHT_FD)                              */
#define LOG_STRIDE vio_inflight_queue_bytes(0, QSIZE)

#define LOG_BYTES (NQ * LOG_STRIDE)

/* The frontend's copy of the log: the fd it keeps and its own mapping,
 * in the layout of the test's rings. */
struct ilog {
	int fd;
	uint8_t *map;
	bool packed;
	size_t stride, bytes;
};

static bool lay_packed(const struct t *t)
{
	return vio_has_feature(t->lay->features, VIO_F_RING_PACKED);
}

static struct vio_inflight_split *qlog(const struct ilog *lg, unsigned qi)
{
	return (struct vio_inflight_split *)(lg->map + qi * lg->stride);
}

static struct vio_inflight_packed *plog(const struct ilog *lg, unsigned qi)
{
	return (struct vio_inflight_packed *)(lg->map + qi * lg->stride);
}

/* The in-flight flag of log entry i, whichever the layout. */
static uint8_t entry_flag(const struct ilog *lg, unsigned qi, unsigned i)
{
	return lg->packed ? plog(lg, qi)->desc[i].inflight : qlog(lg, qi)->desc[i].inflight;
}

static unsigned inflight_count(const struct ilog *lg, unsigned qi)
{
	unsigned n = 0;

	for (unsigned i = 0; i < QSIZE; i++)
		n += entry_flag(lg, qi, i);
	return n;
}

/* Is the chain of buffer id in flight by the log? Split: its head entry;
 * packed: a head whose copy carries the id. */
static bool chain_logged(const struct ilog *lg, unsigned qi, uint16_t id)
{
	if (!lg->packed)
		return qlog(lg, qi)->desc[id].inflight;
	for (unsigned i = 0; i < QSIZE; i++)
		if (plog(lg, qi)->desc[i].inflight && plog(lg, qi)->desc[i].id == id)
			return true;
	return false;
}

/* The used position the log records: split, the used index; packed, the
 * committed position. */
static uint16_t log_used(const struct ilog *lg, unsigned qi)
{
	return lg->packed ? plog(lg, qi)->old_used_idx : qlog(lg, qi)->used_idx;
}

/* GET_INFLIGHT_FD as QEMU sends it (after SET_FEATURES), then the
 * SET_INFLIGHT_FD it always follows with. */
static void get_log(struct t *t, struct ilog *lg)
{
	struct vu_inflight r;

	lg->packed = lay_packed(t);
	lg->stride = vio_inflight_queue_bytes(lg->packed, QSIZE);
	lg->bytes = NQ * lg->stride;
	assert_int_equal(vt_fe_get_inflight(&t->fe, NQ, QSIZE, &r, &lg->fd), 0);
	assert_true(lg->fd >= 0);
	assert_int_equal(r.mmap_size, lg->bytes);
	assert_int_equal(r.mmap_offset, 0);
	assert_int_equal(r.num_queues, NQ);
	assert_int_equal(r.queue_size, QSIZE);
	lg->map = mmap(NULL, lg->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, lg->fd, 0);
	assert_true(lg->map != MAP_FAILED);
	assert_int_equal(vt_fe_set_inflight(&t->fe, lg->fd, lg->bytes, 0, NQ, QSIZE), 0);
}

static void put_log(struct ilog *lg)
{
	munmap(lg->map, lg->bytes);
	close(lg->fd);
}

/* Negotiated, a log, memory mapped, both rings running. */
static void up_logged(struct t *t, struct ilog *lg)
{
	negotiate(t, PF_ALL);
	get_log(t, lg);
	map_memory(t);
	start(t, 0);
	start(t, 1);
}

/* Posts n buffers that the device pops and keeps. */
static void hold_io(struct t *t, unsigned qi, unsigned n)
{
	unsigned before = t->e.nheld[qi];

	post(t, qi, n, 1 + n % 2);
	t->e.hold[qi] = n;
	vt_ring_kick(&t->r[qi]);
	vio_vu_backend_queue_dispatch(&t->b, qi);
	assert_int_equal(t->e.nheld[qi], before + n);
}

/* The device completes held chain k (fill; flush too if asked). */
static void complete(struct t *t, unsigned qi, unsigned k, bool flush)
{
	struct vio_devq *vq;

	vio_vu_backend_queue_lock(&t->b, qi);
	vq = vio_dev_vq(&t->e.dev, qi);
	assert_non_null(vq);
	assert_int_equal(echo_fill(vq, &t->e.held[qi][k].el), 0);
	if (flush) {
		assert_int_equal(vio_devq_flush(vq), 0);
		vio_dev_interrupt(&t->e.dev, qi);
	}
	vio_vu_backend_queue_unlock(&t->b, qi);
}

static void flush_q(struct t *t, unsigned qi)
{
	vio_vu_backend_queue_lock(&t->b, qi);
	assert_int_equal(vio_devq_flush(vio_dev_vq(&t->e.dev, qi)), 0);
	vio_vu_backend_queue_unlock(&t->b, qi);
}

/* Reaps one used buffer, checks its bytes, returns its sequence number
 * (-1: none). */
static int reap_seq(struct t *t, unsigned qi)
{
	void *tok = NULL;
	uint32_t len = 0, seq;
	const uint8_t *in;
	int r = vio_drvq_get_buf(&t->r[qi].q, &tok, &len);

	if (r == -EAGAIN)
		return -1;
	assert_int_equal(r, 0);
	seq = (uint32_t)((uintptr_t)tok - 1);
	assert_true(seq < t->posted[qi]);
	assert_int_equal(len, msg_len(seq));
	in = slot_out(t, qi, seq) + BUF_SLOT;
	for (uint32_t j = 0; j < len; j++)
		assert_int_equal(in[j], (uint8_t)~pattern(qi, seq, j));
	return (int)seq;
}

/* The backend process dies: no GET_VRING_BASE, the chains it held are
 * gone. A new instance of the device and backend takes the socket's place. */
static void crash(struct t *t)
{
	struct vio_vu_backend_config cfg = backend_config(t);
	int sv[2];

	close(t->fe.sock);
	t->fe.sock = -1;
	vio_vu_backend_fini(&t->b);
	assert_int_equal(echo_init(&t->e), 0);
	assert_int_equal(vio_vu_backend_init(&t->b, &t->e.dev, &cfg), 0);
	assert_int_equal(vt_socketpair(sv), 0);
	assert_int_equal(vio_vu_backend_attach(&t->b, sv[1]), 0);
	vt_fe_init(&t->fe, sv[0], pump, t);
}

/* What QEMU does with the new backend: the same log, and each ring resumed
 * at the used index (for split: the ring's own). */
static void restart(struct t *t, const struct ilog *lg, unsigned nrings)
{
	negotiate(t, PF_ALL);
	assert_int_equal(vt_fe_set_inflight(&t->fe, lg->fd, lg->bytes, 0, NQ, QSIZE), 0);
	map_memory(t);
	for (unsigned qi = 0; qi < nrings; qi++)
		assert_int_equal(vt_fe_start_ring(&t->fe, &t->r[qi], vio_drvq_resume_base(&t->r[qi].q), true),
				 0);
}

/* After a restart: exactly the sequence numbers want[0..n), in that order. */
static void expect_seqs(struct t *t, unsigned qi, const int *want, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		assert_int_equal(reap_seq(t, qi), want[k]);
	assert_int_equal(reap_seq(t, qi), -1);
}

/* New buffers after a restart go through, in order, from where the avail
 * ring was. */
static void expect_fresh_io(struct t *t, unsigned qi, unsigned n)
{
	int first = (int)t->posted[qi];

	post(t, qi, n, 1);
	vt_ring_kick(&t->r[qi]);
	vio_vu_backend_queue_dispatch(&t->b, qi);
	for (unsigned k = 0; k < n; k++)
		assert_int_equal(reap_seq(t, qi), first + (int)k);
	assert_int_equal(reap_seq(t, qi), -1);
}

static void test_inflight_get(void **state)
{
	struct t *t = *state;
	struct ilog lg;

	negotiate(t, PF_ALL);
	get_log(t, &lg);
	for (unsigned qi = 0; qi < NQ; qi++) {
		/* Packed: the ring builds the free list when it starts. */
		assert_int_equal(qlog(&lg, qi)->version, lg.packed ? 0 : VIO_INFLIGHT_VERSION);
		assert_int_equal(inflight_count(&lg, qi), 0);
	}
	map_memory(t);
	start(t, 0);
	assert_int_equal(qlog(&lg, 0)->version, VIO_INFLIGHT_VERSION);
	assert_int_equal(qlog(&lg, 0)->desc_num, QSIZE);
	assert_int_equal(log_used(&lg, 0), 0);
	expect_io(t, 0, 5, 1);
	/* Completed chains leave nothing in flight; the log followed the ring. */
	assert_int_equal(inflight_count(&lg, 0), 0);
	/* Packed: a position, past every descriptor of the 5 chains. */
	if (lg.packed)
		assert_int_equal(log_used(&lg, 0),
				 vio_devq_used_base(vio_dev_vq(&t->e.dev, 0)) & 0x7fff);
	assert_int_equal(log_used(&lg, 0), lg.packed ? t->e.dev.queues[0].vq.popped_descs : 5);
	put_log(&lg);
}

/* The log says which chains are out while the device holds them. */
static void test_inflight_tracks(void **state)
{
	struct t *t = *state;
	struct ilog lg;

	up_logged(t, &lg);
	hold_io(t, 0, 4);
	assert_int_equal(inflight_count(&lg, 0), 4);
	complete(t, 0, 2, true);
	assert_int_equal(inflight_count(&lg, 0), 3);
	assert_int_equal(log_used(&lg, 0), t->e.held[0][2].el.ndescs);
	assert_false(chain_logged(&lg, 0, t->e.held[0][2].el.id));
	assert_true(chain_logged(&lg, 0, t->e.held[0][0].el.id));
	put_log(&lg);
}

/* The backend dies holding chains, two of the held ones already completed
 * out of order: the next backend completes exactly the others, oldest
 * first, then carries on with new buffers. */
static void test_inflight_crash_resubmits(void **state)
{
	struct t *t = *state;
	const int want[] = { 3, 5, 6, 8 };
	struct ilog lg;

	up_logged(t, &lg);
	expect_io(t, 0, 3, 1);
	hold_io(t, 0, 6);               /* seq 3..8 */
	complete(t, 0, 4, true);
	complete(t, 0, 1, true);
	assert_int_equal(reap_seq(t, 0), 7);
	assert_int_equal(reap_seq(t, 0), 4);
	expect_io(t, 1, 2, 1);          /* the other queue has nothing out */
	crash(t);
	restart(t, &lg, NQ);
	expect_seqs(t, 0, want, ARRAY_LEN(want));
	assert_int_equal(t->e.chains[0], ARRAY_LEN(want));
	assert_int_equal(t->e.chains[1], 0);
	assert_int_equal(inflight_count(&lg, 0), 0);
	expect_fresh_io(t, 0, 5);
	expect_fresh_io(t, 1, 3);
	put_log(&lg);
}

/* Used entries written but not published (fill without flush) when the
 * backend died: the driver never saw them, so they are done again. */
static void test_inflight_crash_unflushed(void **state)
{
	struct t *t = *state;
	const int want[] = { 0, 1, 2, 3 };
	struct ilog lg;

	up_logged(t, &lg);
	hold_io(t, 0, 4);
	complete(t, 0, 2, false);
	complete(t, 0, 0, false);
	assert_int_equal(reap_seq(t, 0), -1);
	crash(t);
	restart(t, &lg, 1);
	expect_seqs(t, 0, want, ARRAY_LEN(want));
	expect_fresh_io(t, 0, 2);
	put_log(&lg);
}

/*
 * Winds the log of queue 0 back to where a backend that died inside flush,
 * right after publishing, left it. Split: nothing of the flush recorded
 * (snap is the log before it). Packed: the new state staged, nothing
 * committed (the old_* fields and in-flight flags of snap).
 */
static void rewind_flush(struct ilog *lg, const uint8_t *snap)
{
	struct vio_inflight_packed *l = plog(lg, 0);
	const struct vio_inflight_packed *was = (const void *)snap;

	if (!lg->packed) {
		memcpy(qlog(lg, 0), snap, lg->stride);
		return;
	}
	l->old_free_head = was->old_free_head;
	l->old_used_idx = was->old_used_idx;
	l->old_used_wrap_counter = was->old_used_wrap_counter;
	for (unsigned i = 0; i < QSIZE; i++)
		l->desc[i].inflight = was->desc[i].inflight;
}

/* The backend died inside flush: the used entries published, the log not
 * yet told (it still says in flight, at the old used position). Recovery
 * settles that batch: its chains are not done twice. */
static void test_inflight_crash_mid_flush(void **state)
{
	struct t *t = *state;
	const int want[] = { 10, 12, 14 };
	struct ilog lg;
	uint8_t *snap_log;
	uint16_t used;

	up_logged(t, &lg);
	snap_log = malloc(lg.stride);
	assert_non_null(snap_log);
	expect_io(t, 0, 10, 1);
	hold_io(t, 0, 5);               /* seq 10..14 */
	complete(t, 0, 3, false);
	complete(t, 0, 1, false);
	used = log_used(&lg, 0);
	memcpy(snap_log, qlog(&lg, 0), lg.stride);
	flush_q(t, 0);
	rewind_flush(&lg, snap_log);
	assert_int_equal(log_used(&lg, 0), used);
	assert_int_equal(inflight_count(&lg, 0), 5);
	assert_int_equal(reap_seq(t, 0), 13);
	assert_int_equal(reap_seq(t, 0), 11);
	crash(t);
	restart(t, &lg, 1);
	expect_seqs(t, 0, want, ARRAY_LEN(want));
	assert_int_equal(inflight_count(&lg, 0), 0);
	assert_int_equal(log_used(&lg, 0), vio_devq_used_base(vio_dev_vq(&t->e.dev, 0)) & 0x7fff);
	expect_fresh_io(t, 0, 3);
	free(snap_log);
	put_log(&lg);
}

/* Packed: the backend died inside flush before publishing (the new state
 * staged in the log, the first used descriptor still the driver's): the
 * batch is rolled back and done again, in order. */
static void test_inflight_crash_before_publish(void **state)
{
	struct t *t = *state;
	const int want[] = { 10, 11, 12, 13, 14 };
	struct vio_packed_desc *ring;
	struct ilog lg;
	uint8_t *snap_log;
	uint16_t used, flags;

	up_logged(t, &lg);
	snap_log = malloc(lg.stride);
	assert_non_null(snap_log);
	expect_io(t, 0, 10, 1);
	hold_io(t, 0, 5);               /* seq 10..14 */
	complete(t, 0, 3, false);
	complete(t, 0, 1, false);
	used = log_used(&lg, 0);
	ring = t->r[0].desc;
	flags = ring[used].flags.raw;
	memcpy(snap_log, qlog(&lg, 0), lg.stride);
	flush_q(t, 0);
	rewind_flush(&lg, snap_log);
	ring[used].flags.raw = flags;   /* not published after all */
	assert_int_equal(reap_seq(t, 0), -1);
	crash(t);
	restart(t, &lg, 1);
	expect_seqs(t, 0, want, ARRAY_LEN(want));
	assert_int_equal(inflight_count(&lg, 0), 0);
	expect_fresh_io(t, 0, 3);
	free(snap_log);
	put_log(&lg);
}

/* Two crashes in a row: chains resubmitted once and held again keep their
 * place in line. */
static void test_inflight_crash_twice(void **state)
{
	struct t *t = *state;
	const int want[] = { 0, 2, 3, 4, 5 };
	struct ilog lg;

	up_logged(t, &lg);
	hold_io(t, 0, 4);
	complete(t, 0, 1, true);
	assert_int_equal(reap_seq(t, 0), 1);
	crash(t);
	t->e.hold[0] = 3;               /* the new backend holds them again */
	restart(t, &lg, 1);
	assert_int_equal(t->e.nheld[0], 3);
	assert_int_equal(reap_seq(t, 0), -1);
	post(t, 0, 2, 1);               /* seq 4, 5 arrive meanwhile */
	crash(t);
	restart(t, &lg, 1);
	/* The old ones first, then the new ones the ring start found. */
	expect_seqs(t, 0, want, ARRAY_LEN(want));
	put_log(&lg);
}

/* A log the new backend cannot believe stops the ring (NEEDS_RESET, a log
 * line); the backend itself keeps serving. */
struct bad_log_row {
	const char *name;
	void (*split)(struct vio_inflight_split *l, const struct t *t);
	void (*packed)(struct vio_inflight_packed *l, const struct t *t);
	const char *why;        /* in the log line (NULL: "inflight log") */
};

static void bad_flag(struct vio_inflight_split *l, const struct t *t)
{
	l->desc[t->e.held[0][0].el.id].inflight = 2;
}

static void bad_same_counter(struct vio_inflight_split *l, const struct t *t)
{
	l->desc[t->e.held[0][1].el.id].counter = l->desc[t->e.held[0][0].el.id].counter;
}

static void bad_extra_chain(struct vio_inflight_split *l, const struct t *t)
{
	for (unsigned i = 0; i < QSIZE; i++) {
		if (!l->desc[i].inflight) {
			l->desc[i].inflight = 1;
			l->desc[i].counter = l->desc[t->e.held[0][2].el.id].counter + 7;
			return;
		}
	}
}

/* The oldest chain in flight taken 0x9000 before the newest. */
static void bad_old_counter(struct vio_inflight_split *l, const struct t *t)
{
	l->desc[t->e.held[0][0].el.id].counter = l->desc[t->e.held[0][2].el.id].counter - 0x9000;
}

static void bad_used_ahead(struct vio_inflight_split *l, const struct t *t)
{
	l->used_idx = (uint16_t)(l->used_idx + 1);
}

static void bad_batch_head(struct vio_inflight_split *l, const struct t *t)
{
	l->used_idx = (uint16_t)(l->used_idx - 1);
	l->last_batch_head = 0xffff;
}

static void bad_batch_list(struct vio_inflight_split *l, const struct t *t)
{
	l->used_idx = (uint16_t)(l->used_idx - 2);
	l->desc[l->last_batch_head].next = QSIZE;
}

static void bad_version(struct vio_inflight_split *l, const struct t *t)
{
	l->version = 2;
}

static void bad_desc_num(struct vio_inflight_split *l, const struct t *t)
{
	l->desc_num = QSIZE - 1;
}

/* Packed: the head entry of held chain k (-1: none). */
static int phead(const struct vio_inflight_packed *l, const struct t *t, unsigned k)
{
	for (unsigned i = 0; i < QSIZE; i++)
		if (l->desc[i].inflight && l->desc[i].id == t->e.held[0][k].el.id)
			return (int)i;
	fail();
	return -1;
}

static void pbad_flag(struct vio_inflight_packed *l, const struct t *t)
{
	l->desc[phead(l, t, 0)].inflight = 2;
}

static void pbad_same_counter(struct vio_inflight_packed *l, const struct t *t)
{
	l->desc[phead(l, t, 1)].counter = l->desc[phead(l, t, 0)].counter;
}

static void pbad_free_loop(struct vio_inflight_packed *l, const struct t *t)
{
	(void)t;
	l->desc[l->free_head].next = l->free_head;
}

static void pbad_free_short(struct vio_inflight_packed *l, const struct t *t)
{
	(void)t;
	l->desc[l->free_head].next = 0xffff;    /* the rest of the entries lost */
}

static void pbad_free_head(struct vio_inflight_packed *l, const struct t *t)
{
	(void)t;
	l->free_head = l->old_free_head = QSIZE;
}

static void pbad_num_zero(struct vio_inflight_packed *l, const struct t *t)
{
	l->desc[phead(l, t, 1)].num = 0;
}

static void pbad_num_big(struct vio_inflight_packed *l, const struct t *t)
{
	l->desc[phead(l, t, 1)].num = QSIZE + 1;
}

static void pbad_last(struct vio_inflight_packed *l, const struct t *t)
{
	int h = phead(l, t, 2);

	l->desc[h].last = (uint16_t)((l->desc[h].last + 1) % QSIZE);
}

/* Chain 1 claims chain 0's head as its second entry. */
static void pbad_overlap(struct vio_inflight_packed *l, const struct t *t)
{
	int h1 = phead(l, t, 1);

	l->desc[h1].num = 2;
	l->desc[h1].next = (uint16_t)phead(l, t, 0);
	l->desc[h1].last = (uint16_t)phead(l, t, 0);
}

static void pbad_used_idx(struct vio_inflight_packed *l, const struct t *t)
{
	(void)t;
	l->used_idx = l->old_used_idx = QSIZE;
}

static void pbad_wrap(struct vio_inflight_packed *l, const struct t *t)
{
	(void)t;
	l->old_used_wrap_counter = 2;
}

static void pbad_version(struct vio_inflight_packed *l, const struct t *t)
{
	(void)t;
	l->version = 2;
}

static void pbad_desc_num(struct vio_inflight_packed *l, const struct t *t)
{
	(void)t;
	l->desc_num = QSIZE - 1;
}

/* Indirect flag on a one-descriptor chain whose copy says 0 bytes. */
static void pbad_copy(struct vio_inflight_packed *l, const struct t *t)
{
	int h = phead(l, t, 0);

	l->desc[h].flags = VIO_DESC_F_INDIRECT;
	l->desc[h].len = 0;
}

/* A copy says another descriptor follows, the chain holds no more. */
static void pbad_next_flag(struct vio_inflight_packed *l, const struct t *t)
{
	uint16_t last = l->desc[phead(l, t, 0)].last;

	l->desc[last].flags = (uint16_t)((l->desc[last].flags & ~VIO_DESC_F_INDIRECT) | VIO_DESC_F_NEXT);
}

static void pbad_addr(struct vio_inflight_packed *l, const struct t *t)
{
	l->desc[phead(l, t, 0)].addr = 1ull << 60;
}

static const struct bad_log_row packed_bad_log_rows[] = {
	{ "flag 2", NULL, pbad_flag, "flag neither 0 nor 1" },
	{ "two chains with one counter", NULL, pbad_same_counter, "same counter" },
	{ "free list loops", NULL, pbad_free_loop, "free list loops" },
	{ "free list cut short", NULL, pbad_free_short, "neither free nor in flight" },
	{ "free head out of range", NULL, pbad_free_head, "neither free nor in flight" },
	{ "chain of 0 entries", NULL, pbad_num_zero, "broken or shares entries" },
	{ "chain longer than the queue", NULL, pbad_num_big, "broken or shares entries" },
	{ "chain's last entry wrong", NULL, pbad_last, "broken or shares entries" },
	{ "two chains share an entry", NULL, pbad_overlap, "broken or shares entries" },
	{ "used_idx out of range", NULL, pbad_used_idx, "used index or wrap counter out of range" },
	{ "wrap counter 2", NULL, pbad_wrap, "used index or wrap counter out of range" },
	{ "version 2", NULL, pbad_version, "unknown version" },
	{ "desc_num below the ring size", NULL, pbad_desc_num, "fewer entries than the queue" },
	{ "copied descriptor invalid", NULL, pbad_copy, "indirect" },
	{ "copied chain runs past its length", NULL, pbad_next_flag, "runs past its length" },
	{ "copied address outside memory", NULL, pbad_addr, "outside guest memory" },
};

static const struct bad_log_row bad_log_rows[] = {
	{ "flag 2", bad_flag, NULL, NULL },
	{ "two chains with one counter", bad_same_counter, NULL, NULL },
	{ "more in flight than the used ring allows", bad_extra_chain, NULL, NULL },
	{ "chains in flight 0x9000 apart", bad_old_counter, NULL, "16-bit positions" },
	{ "used_idx ahead of the ring", bad_used_ahead, NULL, NULL },
	{ "last_batch_head out of range", bad_batch_head, NULL, NULL },
	{ "batch list leaving the queue", bad_batch_list, NULL, NULL },
	{ "version 2", bad_version, NULL, NULL },
	{ "desc_num below the ring size", bad_desc_num, NULL, NULL },
};

static void test_bad_log_row(void **state)
{
	struct t *t = *state;
	const struct bad_log_row *row = t->row;
	struct ilog lg;

	up_logged(t, &lg);
	expect_io(t, 0, 3, 1);
	hold_io(t, 0, 3);
	if (lg.packed)
		row->packed(plog(&lg, 0), t);
	else
		row->split(qlog(&lg, 0), t);
	crash(t);
	negotiate(t, PF_ALL);
	assert_int_equal(vt_fe_set_inflight(&t->fe, lg.fd, lg.bytes, 0, NQ, QSIZE), 0);
	map_memory(t);
	assert_true(vt_fe_start_ring(&t->fe, &t->r[0], vio_drvq_resume_base(&t->r[0].q), true) >= 0);
	assert_true(t->e.dev.status & VIO_STATUS_NEEDS_RESET);
	assert_false(t->e.q[0].live);
	/* Damage to the log itself is named as such; a copied descriptor
	 * that is wrong fails the checks every descriptor gets. */
	assert_true(log_says(t, row->why ? row->why : "inflight log"));
	assert_int_equal(reap_seq(t, 0), -1);
	assert_serving(t);
	put_log(&lg);
}

/* -- messages ------------------------------------------------------------ */
/* A GET_INFLIGHT_FD the backend cannot serve: mmap_size 0, no fd (QEMU
 * then runs without a log), a log line, and the backend serves on. */
static void expect_get_refused(struct t *t, uint16_t nqs, uint16_t qsize)
{
	unsigned nlog = t->nlog;
	struct vu_inflight r;
	int fd = -1;

	assert_int_equal(vt_fe_get_inflight(&t->fe, nqs, qsize, &r, &fd), 0);
	assert_int_equal(fd, -1);
	assert_int_equal(r.mmap_size, 0);
	assert_true(t->nlog > nlog);
	assert_null(t->b.inflight);
	assert_serving(t);
}

struct get_row {
	const char *name;
	uint16_t num_queues, queue_size;
};

static const struct get_row get_rows[] = {
	{ "0 queues", 0, QSIZE },
	{ "more queues than the device", NQ + 1, QSIZE },
	{ "queue size 0", NQ, 0 },
	{ "queue size above the maximum", NQ, QMAX + 1 },
};

static void test_get_inflight_row(void **state)
{
	struct t *t = *state;
	const struct get_row *row = t->row;

	negotiate(t, PF_ALL);
	expect_get_refused(t, row->num_queues, row->queue_size);
}

static void test_get_inflight_running(void **state)
{
	struct t *t = *state;

	up(t);
	expect_get_refused(t, NQ, QSIZE);
	expect_io(t, 0, 2, 1);
}

/* A memfd of len bytes, as a frontend's own log would be. */
static int log_file(size_t len)
{
	int fd = memfd_create("vt-inflight", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)len), 0);
	return fd;
}

struct set_row {
	const char *name;
	uint64_t size, offset;
	uint16_t num_queues, queue_size;
	size_t file_len;        /* 0: an eventfd, not a file */
};

static const struct set_row set_rows[] = {
	{ "mmap_size too small", 2 * 576 - 1, 0, NQ, QSIZE, 4096 },
	{ "mmap_offset + mmap_size overflows", 2 * 576, UINT64_MAX - 7, NQ, QSIZE, 4096 },
	{ "mmap_offset not 8-aligned", 2 * 576, 4, NQ, QSIZE, 4096 },
	{ "log beyond the end of its file", 2 * 576, 64, NQ, QSIZE, 2 * 576 },
	{ "fd not a file", 2 * 576, 0, NQ, QSIZE, 0 },
	{ "0 queues", 2 * 576, 0, 0, QSIZE, 4096 },
	{ "more queues than the device", 3 * 576, 0, NQ + 1, QSIZE, 4096 },
	{ "queue size above the maximum", 4096, 0, NQ, QMAX + 1, 8192 },
};

static void test_set_inflight_row(void **state)
{
	struct t *t = *state;
	const struct set_row *row = t->row;
	struct vu_inflight in = { row->size, row->offset, row->num_queues, row->queue_size };
	int fd = row->file_len ? log_file(row->file_len) : vt_eventfd();

	assert_int_equal(LOG_STRIDE, 576);
	negotiate(t, PF_ALL);
	send_refused(t, VU_SET_INFLIGHT_FD, 0, &in, sizeof(in), &fd, 1);
	close(fd);
	assert_null(t->b.inflight);
}

static void test_set_inflight_fds(void **state)
{
	struct t *t = *state;
	struct vu_inflight in = { LOG_BYTES, 0, NQ, QSIZE };

	negotiate(t, PF_ALL);
	send_with_fds(t, VU_SET_INFLIGHT_FD, &in, sizeof(in), 0);
	send_with_fds(t, VU_SET_INFLIGHT_FD, &in, sizeof(in), 2);
	assert_null(t->b.inflight);
}

static void test_set_inflight_running(void **state)
{
	struct t *t = *state;
	struct vu_inflight in = { LOG_BYTES, 0, NQ, QSIZE };
	int fd = log_file(LOG_BYTES);

	up(t);
	send_refused(t, VU_SET_INFLIGHT_FD, 0, &in, sizeof(in), &fd, 1);
	close(fd);
	assert_null(t->b.inflight);
	expect_io(t, 0, 2, 1);
}

/* A ring bigger than the log's queues cannot be tracked (QEMU sizes the log
 * from its queue-size property; a virtio-mmio guest picks 1024): it runs
 * untracked, with a warning, and the log stays untouched. */
static void test_inflight_ring_too_big(void **state)
{
	struct t *t = *state;
	struct vu_inflight r;
	int fd = -1;

	negotiate(t, PF_ALL);
	assert_int_equal(vt_fe_get_inflight(&t->fe, NQ, QSIZE / 2, &r, &fd), 0);
	assert_true(fd >= 0);
	map_memory(t);
	assert_int_equal(vt_fe_start_ring(&t->fe, &t->r[0], 0, true), 0);
	assert_true(t->e.q[0].live);
	assert_true(log_says(t, "runs without one"));
	assert_null(t->e.q[0].inflight);
	expect_io(t, 0, 2, 1);
	close(fd);
	assert_serving(t);
}

/* The log's layout is the one negotiated when it was made: a split log is
 * not read as a packed one, the ring does not start. */
static void test_inflight_other_layout(void **state)
{
	struct t *t = *state;
	struct vu_inflight r;
	int fd = -1;

	negotiate(t, PF_ALL);
	assert_int_equal(vt_fe_get_inflight(&t->fe, NQ, QSIZE, &r, &fd), 0);
	assert_true(fd >= 0);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_FEATURES, V1 | F_PACKED | BIT30), 0);
	map_memory(t);
	assert_int_equal(vt_fe_start_ring(&t->fe, &t->r[0], 0, true), 1);
	assert_false(t->e.q[0].live);
	assert_true(log_says(t, "inflight log was made for split rings"));
	close(fd);
	assert_serving(t);
}

/* Lines of /proc/self/maps that map a memfd whose name contains `name`. */
static int maps_of(const char *name)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, name))
			n++;
	fclose(f);
	return n;
}

/* A new log replaces the old mapping; a disconnect releases it; an offset
 * into the file is honoured. */
static void test_inflight_release(void **state)
{
	struct t *t = *state;
	struct vu_inflight r;
	int got = -1, mine = log_file(4096 + LOG_BYTES);

	negotiate(t, PF_ALL);
	assert_int_equal(vt_fe_get_inflight(&t->fe, NQ, QSIZE, &r, &got), 0);
	assert_int_equal(maps_of("memfd:vio-inflight"), 1);
	assert_int_equal(vt_fe_set_inflight(&t->fe, mine, LOG_BYTES, 4096, NQ, QSIZE), 0);
	assert_int_equal(maps_of("memfd:vio-inflight"), 0);
	assert_int_equal(maps_of("memfd:vt-inflight"), 1);
	assert_ptr_equal(t->b.inflight, (uint8_t *)t->b.inflight_map + 4096);
	map_memory(t);
	start(t, 0);
	assert_ptr_equal(t->e.q[0].inflight, t->b.inflight);
	expect_io(t, 0, 3, 1);
	close(t->fe.sock);
	t->fe.sock = -1;
	pump(t);
	assert_int_equal(maps_of("memfd:vt-inflight"), 0);
	assert_null(t->b.inflight);
	close(got);
	close(mine);
}

static const struct test_def inflight_tests[] = {
	{ "GET_INFLIGHT_FD gives an initialised log", test_inflight_get },
	{ "the log follows pop and use", test_inflight_tracks },
	{ "crash: held chains resubmitted in order, once", test_inflight_crash_resubmits },
	{ "crash: filled but unflushed chains done again", test_inflight_crash_unflushed },
	{ "crash inside flush: last batch settled", test_inflight_crash_mid_flush },
	{ "two crashes in a row", test_inflight_crash_twice },
};

static const struct test_def inflight_packed_tests[] = {
	{ "crash inside flush before publishing: batch done again", test_inflight_crash_before_publish },
};

static const struct test_def inflight_control_tests[] = {
	{ "GET_INFLIGHT_FD while a ring runs", test_get_inflight_running },
	{ "SET_INFLIGHT_FD with 0 or 2 fds", test_set_inflight_fds },
	{ "SET_INFLIGHT_FD while a ring runs", test_set_inflight_running },
	{ "ring bigger than the log's queues", test_inflight_ring_too_big },
	{ "packed ring with a log made for split", test_inflight_other_layout },
	{ "log replaced and released", test_inflight_release },
};

int main(void)
{
	/* Inflight tracking: split rings, EVENT_IDX off and on. */
	add_defs("inflight split", inflight_tests, ARRAY_LEN(inflight_tests), &layouts[0]);
	add_defs("inflight split+event_idx", inflight_tests, ARRAY_LEN(inflight_tests), &layouts[2]);
	/* Packed: with and without EVENT_IDX, and without INDIRECT_DESC so
	 * chains span several ring descriptors. */
	{
		const struct layout *pl[] = { &layouts[1], &layouts[3], &packed_direct };

		for (size_t v = 0; v < ARRAY_LEN(pl); v++) {
			char prefix[64];

			snprintf(prefix, sizeof(prefix), "inflight %s", pl[v]->name);
			add_defs(prefix, inflight_tests, ARRAY_LEN(inflight_tests), pl[v]);
			add_defs(prefix, inflight_packed_tests, ARRAY_LEN(inflight_packed_tests), pl[v]);
		}
	}
	for (size_t i = 0; i < ARRAY_LEN(bad_log_rows); i++)
		add("inflight", "bad log: ", bad_log_rows[i].name, test_bad_log_row, &layouts[0],
		    &bad_log_rows[i]);
	for (size_t i = 0; i < ARRAY_LEN(packed_bad_log_rows); i++)
		add("inflight packed", "bad log: ", packed_bad_log_rows[i].name, test_bad_log_row,
		    &packed_direct, &packed_bad_log_rows[i]);
	add_defs("malformed", inflight_control_tests, ARRAY_LEN(inflight_control_tests), &layouts[0]);
	ADD_ROWS("GET_INFLIGHT_FD ", get_rows, test_get_inflight_row);
	ADD_ROWS("SET_INFLIGHT_FD ", set_rows, test_set_inflight_row);
	return run_added("vu_backend_inflight");
}
