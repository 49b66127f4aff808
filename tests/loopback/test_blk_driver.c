/*
 * test_blk_driver.c - the virtio-blk driver on RAM: GET_ID, config,
 * read-only, multiqueue, cache mode, refusals, features not negotiated,
 * reset in the middle of I/O, legacy.
 *
 * Siblings, all in tests/loopback/: test_blk_data.c (data through every
 * backend), test_blk_driver.c (the driver's features and life cycle),
 * test_blk_malformed.c (broken requests posted raw), test_blk_backend.c
 * (backend errors and rare answers), test_blk_device.c (the device alone);
 * the matrix and the fixture are blk_fixture.{c,h}.
 */

#include "blk_fixture.h"

/* Driver tests (RAM)                                                       */
static void t_get_id(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;
	char id[VIO_BLK_ID_BYTES + 1];

	fx_up(fx);
	memset(id, 'x', sizeof(id));
	assert_int_equal(vio_blk_drv_get_id(D(fx), id), 0);
	assert_string_equal(id, SERIAL);
	stats(fx, 0, &s);
	assert_int_equal(s.get_ids, 1);
}

/* An id of exactly 20 bytes has no NUL on the wire. */
static void t_get_id_20_bytes(void **state)
{
	struct fx *fx = *state;
	char id[VIO_BLK_ID_BYTES + 1];

	fx->dopts.serial = "ABCDEFGHIJKLMNOPQRST";
	fx_up(fx);
	assert_int_equal(vio_blk_drv_get_id(D(fx), id), 0);
	assert_string_equal(id, "ABCDEFGHIJKLMNOPQRST");
}

static void t_config(void **state)
{
	struct fx *fx = *state;

	fx->dopts.blk_size = 4096;
	fx->dopts.seg_max = 8;
	fx_up(fx);
	assert_int_equal(vio_blk_drv_capacity(D(fx)), DISK_SECTORS);
	assert_int_equal(vio_blk_drv_block_size(D(fx)), 4096);
	assert_int_equal(vio_blk_drv_num_queues(D(fx)), 1);
	assert_false(vio_blk_drv_read_only(D(fx)));
	/* No SIZE_MAX: one segment may carry the whole transfer limit. */
	assert_int_equal(vio_blk_drv_max_transfer(D(fx)), 1u << 30);
	assert_true(vio_drv_has_feature(D(fx), VIO_BLK_F_DISCARD));
	assert_true(vio_drv_has_feature(D(fx), VIO_BLK_F_WRITE_ZEROES));
	assert_true(vio_drv_has_feature(D(fx), VIO_BLK_F_FLUSH));
	assert_false(vio_drv_has_feature(D(fx), VIO_BLK_F_MQ));
	assert_false(vio_drv_has_feature(D(fx), VIO_BLK_F_SIZE_MAX));
	/* Legacy bits are defined but never offered. */
	assert_false(vio_dev_get_features(&fx->blk.dev) & VIO_BIT(VIO_BLK_F_BARRIER));
	assert_false(vio_dev_get_features(&fx->blk.dev) & VIO_BIT(VIO_BLK_F_SCSI));
}

static void t_ro_driver_refuses(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;
	struct vio_blk_drv_io io;
	uint8_t *buf;

	fx->dopts.read_only = true;
	fx_up(fx);
	buf = vio_blk_drv_alloc_buffer(D(fx), 4096);
	assert_non_null(buf);
	assert_true(vio_blk_drv_read_only(D(fx)));
	assert_int_equal(vio_blk_drv_write(D(fx), 0, buf, 4096), -EROFS);
	assert_int_equal(vio_blk_drv_discard(D(fx), 0, 8), -EROFS);
	assert_int_equal(vio_blk_drv_write_zeroes(D(fx), 0, 8, false), -EROFS);
	io = (struct vio_blk_drv_io){ .type = VIO_BLK_T_OUT, .buf = buf, .len = 4096,
				      .done = async_done };
	assert_int_equal(vio_blk_drv_submit(D(fx), &io), -EROFS);
	stats(fx, 0, &s);
	assert_int_equal(s.requests, 0); /* nothing reached the device */
	/* Reads still work. */
	fx->ram[0] = 0x5a;
	assert_int_equal(vio_blk_drv_read(D(fx), 0, buf, 4096), 0);
	assert_int_equal(buf[0], 0x5a);
}

/* Two queues, I/O on both, one disk behind them. */
static void t_multiqueue(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s0, s1;
	struct actx c = { 0 };
	uint8_t *w, *r;

	fx->dopts.num_queues = 2;
	fx_up(fx);
	assert_true(vio_drv_has_feature(D(fx), VIO_BLK_F_MQ));
	assert_int_equal(vio_blk_drv_num_queues(D(fx)), 2);
	w = vio_blk_drv_alloc_buffer(D(fx), 8192);
	r = vio_blk_drv_alloc_buffer(D(fx), 8192);
	assert_non_null(w);
	assert_non_null(r);
	fill_pattern(w, 40, 8192, 2);
	/* Written on queue 0, read back on queue 1. */
	assert_int_equal(vio_blk_drv_execute(D(fx), &(struct vio_blk_drv_io){
		.type = VIO_BLK_T_OUT, .queue = 0, .sector = 40, .buf = w, .len = 8192 }), 0);
	assert_int_equal(vio_blk_drv_execute(D(fx), &(struct vio_blk_drv_io){
		.type = VIO_BLK_T_IN, .queue = 1, .sector = 40, .buf = r, .len = 8192 }), 0);
	check_pattern(r, 40, 8192, 2);
	/* Both queues busy at once. */
	for (unsigned q = 0; q < 2; q++)
		assert_int_equal(vio_blk_drv_enqueue(D(fx), &(struct vio_blk_drv_io){
			.type = VIO_BLK_T_IN, .queue = q, .sector = 40 + q * 8, .buf = r + q * 4096,
			.len = 4096, .done = async_done, .opaque = &c }), 0);
	vio_blk_drv_kick(D(fx));
	while (vio_blk_drv_inflight(D(fx)))
		assert_true(vio_blk_drv_wait(D(fx), TIMEOUT_MS) >= 0);
	assert_int_equal(c.done, 2);
	assert_int_equal(c.errors, 0);
	check_pattern(r, 40, 8192, 2);
	assert_int_equal(vio_blk_drv_enqueue(D(fx), &(struct vio_blk_drv_io){
		.type = VIO_BLK_T_IN, .queue = 2, .buf = r, .len = 4096 }), -EINVAL);
	stats(fx, 0, &s0);
	stats(fx, 1, &s1);
	assert_int_equal(s0.writes, 1);
	assert_int_equal(s0.reads, 1);
	assert_int_equal(s1.reads, 2);
	assert_int_equal(s1.bytes_read, 8192 + 4096);
}

/* ------------------------------------------------------------------------ */
/* Per-queue calls: what a thread that owns a queue uses                    */
/* Reaps queue qi alone until c has seen n completions. Threaded: nobody
 * else delivers completions (the test never waits on the device), so this
 * is the only reaper. Direct: the kick already completed them. */
static void poll_queue_until(struct fx *fx, unsigned qi, struct actx *c, unsigned n)
{
	for (unsigned spins = 0; c->done < n; spins++) {
		assert_true(vio_blk_drv_poll_queue(D(fx), qi) >= 0);
		if (c->done < n)
			usleep(100);
		assert_true(spins < TIMEOUT_MS * 10); /* hang guard */
	}
}

static void enqueue_read(struct fx *fx, unsigned qi, uint8_t *buf, struct actx *c)
{
	assert_int_equal(vio_blk_drv_enqueue(D(fx), &(struct vio_blk_drv_io){
		.type = VIO_BLK_T_IN, .queue = qi, .sector = 8 * qi, .buf = buf, .len = 4096,
		.done = async_done, .opaque = c }), 0);
}

/* Bad indices and an unbound device are refused, not dereferenced. */
static void t_queue_calls_bad_index(void **state)
{
	struct fx *fx = *state;

	fx_up(fx);
	assert_int_equal(vio_blk_drv_poll_queue(D(fx), 1), -EINVAL);
	assert_int_equal(vio_blk_drv_poll_queue(D(fx), 0), 0);
	assert_int_equal(vio_blk_drv_inflight_queue(D(fx), 1), 0);
	assert_false(vio_blk_drv_kick_queue(D(fx), 1));
	assert_false(vio_blk_drv_kick_queue(D(fx), 0)); /* nothing to kick for */
	vio_drv_unbind(D(fx));
	assert_int_equal(vio_blk_drv_poll_queue(D(fx), 0), -ENODEV);
	assert_int_equal(vio_blk_drv_inflight_queue(D(fx), 0), 0);
	assert_false(vio_blk_drv_kick_queue(D(fx), 0));
	assert_int_equal(vio_drv_bind(D(fx)), 0);
}

/* kick_queue notifies its own queue only: the other queue's request is not
 * seen by the device until that queue is kicked. */
static void t_kick_queue_only_its_queue(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;
	struct actx c0 = { 0 }, c1 = { 0 };
	uint8_t *buf;

	fx->dopts.num_queues = 2;
	fx_up(fx);
	buf = vio_blk_drv_alloc_buffer(D(fx), 8192);
	assert_non_null(buf);
	enqueue_read(fx, 0, buf, &c0);
	enqueue_read(fx, 1, buf + 4096, &c1);
	assert_int_equal(vio_blk_drv_inflight_queue(D(fx), 0), 1);
	assert_int_equal(vio_blk_drv_inflight_queue(D(fx), 1), 1);
	assert_int_equal(vio_blk_drv_inflight(D(fx)), 2);
	assert_true(vio_blk_drv_kick_queue(D(fx), 0));
	poll_queue_until(fx, 0, &c0, 1);
	assert_int_equal(c0.errors, 0);
	assert_int_equal(vio_blk_drv_inflight_queue(D(fx), 0), 0);
	assert_int_equal(vio_blk_drv_inflight_queue(D(fx), 1), 1);
	assert_int_equal(c1.done, 0);
	stats(fx, 1, &s);
	assert_int_equal(s.requests, 0);
	assert_true(vio_blk_drv_kick_queue(D(fx), 1));
	assert_false(vio_blk_drv_kick_queue(D(fx), 1)); /* nothing new */
	poll_queue_until(fx, 1, &c1, 1);
	assert_int_equal(c1.errors, 0);
	assert_int_equal(vio_blk_drv_inflight(D(fx)), 0);
}

/* submit kicks the queue it posted on, and leaves another queue's
 * enqueued request to that queue's owner. */
static void t_submit_kicks_only_its_queue(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;
	struct actx c0 = { 0 }, c1 = { 0 };
	uint8_t *buf;

	fx->dopts.num_queues = 2;
	fx_up(fx);
	buf = vio_blk_drv_alloc_buffer(D(fx), 8192);
	assert_non_null(buf);
	enqueue_read(fx, 1, buf + 4096, &c1);
	assert_int_equal(vio_blk_drv_submit(D(fx), &(struct vio_blk_drv_io){
		.type = VIO_BLK_T_IN, .queue = 0, .buf = buf, .len = 4096,
		.done = async_done, .opaque = &c0 }), 0);
	poll_queue_until(fx, 0, &c0, 1);
	stats(fx, 1, &s);
	assert_int_equal(s.requests, 0);
	assert_int_equal(c1.done, 0);
	vio_blk_drv_kick(D(fx)); /* every queue with something new */
	poll_queue_until(fx, 1, &c1, 1);
	assert_int_equal(c1.errors, 0);
}

/* A queue the device broke says so (-EIO), so a poller does not spin on it.
 * The device side refuses to misbehave, so the test forges a used entry
 * naming a buffer id that does not exist, straight into the ring. */
static void t_poll_queue_broken(void **state)
{
	struct fx *fx = *state;
	struct vio_drvq *q;
	struct actx c = { 0 };
	uint8_t *buf;

	fx_up(fx);
	buf = vio_blk_drv_alloc_buffer(D(fx), SECTOR);
	assert_non_null(buf);
	assert_int_equal(vio_blk_drv_enqueue(D(fx), &(struct vio_blk_drv_io){
		.type = VIO_BLK_T_IN, .buf = buf, .len = SECTOR, .done = async_done,
		.opaque = &c }), 0);
	q = &D(fx)->vqs[0].q;
	if (q->packed) {
		struct vio_packed_desc *d = &q->u.packed.desc[0];

		d->id = vio_cpu_to_le16((uint16_t)q->size);
		d->len = vio_cpu_to_le32(1);
		__atomic_thread_fence(__ATOMIC_RELEASE);
		d->flags = vio_cpu_to_le16(VIO_PACKED_DESC_F_AVAIL | VIO_PACKED_DESC_F_USED);
	} else {
		struct vio_split_used *u = q->u.split.used;

		u->ring[0].id = vio_cpu_to_le32(q->size);
		u->ring[0].len = vio_cpu_to_le32(1);
		__atomic_thread_fence(__ATOMIC_RELEASE);
		u->idx = vio_cpu_to_le16(1);
	}
	assert_int_equal(vio_blk_drv_poll_queue(D(fx), 0), -EIO);
	assert_true(vio_drvq_is_broken(q));
	assert_int_equal(c.done, 0);
	/* Taking the device down still hands the request back. */
	vio_drv_unbind(D(fx));
	assert_int_equal(c.done, 1);
	assert_int_equal(c.canceled, 1);
	assert_int_equal(vio_drv_bind(D(fx)), 0);
}

/* Threaded transport only (direct mode runs the device inside each kick,
 * on the kicking thread, so two driver threads would share it). */

/* poll_queue reaps its own queue and leaves the other's completions. */
static void t_poll_queue_only_its_queue(void **state)
{
	struct fx *fx = *state;
	struct actx c0 = { 0 }, c1 = { 0 };
	uint8_t *buf;

	fx->dopts.num_queues = 2;
	fx_up(fx);
	buf = vio_blk_drv_alloc_buffer(D(fx), 8192);
	assert_non_null(buf);
	enqueue_read(fx, 0, buf, &c0);
	enqueue_read(fx, 1, buf + 4096, &c1);
	vio_blk_drv_kick(D(fx));
	for (unsigned spins = 0; !vio_drvq_has_used(&D(fx)->vqs[1].q); spins++) {
		usleep(100);
		assert_true(spins < TIMEOUT_MS * 10);
	}
	poll_queue_until(fx, 0, &c0, 1);
	assert_int_equal(c1.done, 0);
	assert_int_equal(vio_blk_drv_inflight_queue(D(fx), 1), 1);
	assert_int_equal(vio_blk_drv_poll_queue(D(fx), 1), 1);
	assert_int_equal(c1.done, 1);
	assert_int_equal(c1.errors, 0);
}

/* Two threads, each owning a queue, write and read back their own region
 * with several requests in flight, using only the per-queue calls. (Under
 * TSan this is what catches state the queues share.) */
enum { OWN_N = 300, OWN_DEPTH = 16 };

struct owner {
	struct fx *fx;
	unsigned qi;
	uint8_t *bufs;                  /* OWN_DEPTH blocks of 4 KiB */
	struct actx c;
	unsigned slot_busy[OWN_DEPTH];
	bool mismatch;
};

struct owner_io {
	struct owner *o;
	unsigned slot;
	unsigned block;
	uint32_t type;
};

static struct owner_io owner_ios[2][OWN_DEPTH];

static void owner_done(void *opaque, int err)
{
	struct owner_io *io = opaque;

	if (io->type == VIO_BLK_T_IN) {
		/* Written last by request block + 256 where there was one. */
		const unsigned last = io->block + (io->block < OWN_N - 256 ? 256 : 0);
		const uint8_t *b = io->o->bufs + (size_t)io->slot * 4096;

		for (unsigned i = 0; i < 4096; i++)
			if (b[i] != (uint8_t)(last * 3 + io->o->qi))
				io->o->mismatch = true;
	}
	io->o->slot_busy[io->slot] = 0;
	async_done(&io->o->c, err);
}

/* Runs OWN_N requests of `type` on the owner's queue, OWN_DEPTH at a time;
 * request i moves block i of the owner's region through slot i % depth. */
static void owner_pass(struct owner *o, uint32_t type)
{
	struct vio_drv_device *dev = D(o->fx);
	const uint64_t base = 2048u * o->qi;
	unsigned next = 0;

	memset(&o->c, 0, sizeof(o->c));
	for (unsigned spins = 0; o->c.done < OWN_N; spins++) {
		while (next < OWN_N && !o->slot_busy[next % OWN_DEPTH]) {
			const unsigned slot = next % OWN_DEPTH;
			uint8_t *b = o->bufs + (size_t)slot * 4096;

			if (type == VIO_BLK_T_OUT)
				memset(b, (int)(next * 3 + o->qi), 4096);
			o->slot_busy[slot] = 1;
			owner_ios[o->qi][slot] = (struct owner_io){ o, slot, next % 256, type };
			if (vio_blk_drv_enqueue(dev, &(struct vio_blk_drv_io){
				.type = type, .queue = o->qi, .sector = base + next % 256 * 8,
				.buf = b, .len = 4096, .done = owner_done,
				.opaque = &owner_ios[o->qi][slot] }) != 0) {
				o->c.errors++;
				return;
			}
			next++;
		}
		vio_blk_drv_kick_queue(dev, o->qi);
		if (vio_blk_drv_poll_queue(dev, o->qi) < 0 || spins > TIMEOUT_MS * 10u) {
			o->c.errors++;
			return;
		}
		usleep(20);
	}
}

static void *owner_thread(void *arg)
{
	struct owner *o = arg;
	unsigned writes_done, writes_err;

	/* Blocks 0..255 of the region, each written with its request number
	 * (the last 44 of the 300 requests overwrite 0..43). */
	owner_pass(o, VIO_BLK_T_OUT);
	writes_done = o->c.done;
	writes_err = o->c.errors;
	owner_pass(o, VIO_BLK_T_IN);
	o->c.done += writes_done;
	o->c.errors += writes_err;
	return NULL;
}

static void t_queues_on_two_threads(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;
	struct owner own[2];
	pthread_t th[2];

	fx->dopts.num_queues = 2;
	fx_up(fx);
	for (unsigned q = 0; q < 2; q++) {
		own[q] = (struct owner){ .fx = fx, .qi = q };
		own[q].bufs = vio_blk_drv_alloc_buffer(D(fx), OWN_DEPTH * 4096);
		assert_non_null(own[q].bufs);
	}
	for (unsigned q = 0; q < 2; q++)
		assert_int_equal(pthread_create(&th[q], NULL, owner_thread, &own[q]), 0);
	for (unsigned q = 0; q < 2; q++)
		pthread_join(th[q], NULL);
	for (unsigned q = 0; q < 2; q++) {
		assert_int_equal(own[q].c.errors, 0);
		assert_int_equal(own[q].c.done, 2 * OWN_N);
		assert_false(own[q].mismatch);
		stats(fx, q, &s);
		assert_int_equal(s.writes, OWN_N);
		assert_int_equal(s.reads, OWN_N);
		/* Each block of each region holds its last writer's bytes. */
		for (unsigned blk = 0; blk < 256; blk++) {
			const unsigned last = blk + (blk < OWN_N - 256 ? 256 : 0);
			uint8_t want = (uint8_t)(last * 3 + q);
			uint8_t got[4096];

			backing_read(fx, (2048u * q + blk * 8) * SECTOR, got, sizeof(got));
			check_value(got, sizeof(got), want);
		}
	}
	assert_int_equal(vio_blk_drv_inflight(D(fx)), 0);
}

/* Requests the device has not looked at when the driver resets it: every
 * one completes with -ECANCELED, the rings are empty, and after a rebind
 * the device works again. */
static void t_reset_mid_io(void **state)
{
	enum { N = 64 };
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;
	struct actx c = { 0 };
	uint8_t *buf;

	fx_up(fx);
	buf = vio_blk_drv_alloc_buffer(D(fx), N * SECTOR);
	assert_non_null(buf);
	fx_pause(fx);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(vio_blk_drv_enqueue(D(fx), &(struct vio_blk_drv_io){
			.type = VIO_BLK_T_IN, .sector = i, .buf = buf + i * SECTOR, .len = SECTOR,
			.done = async_done, .opaque = &c }), 0);
	/* Threaded: the kick reaches a device thread that is parked. Direct:
	 * no kick, or the device would run them right here. */
	if (fx->row->mode->threaded)
		vio_blk_drv_kick(D(fx));
	assert_int_equal(vio_blk_drv_inflight(D(fx)), N);
	assert_int_equal(c.done, 0);

	assert_int_equal(vio_blk_drv_abort(D(fx)), 0);
	assert_int_equal(c.done, N);
	assert_int_equal(c.canceled, N);
	assert_int_equal(vio_blk_drv_inflight(D(fx)), 0);
	assert_true(all_free(D(fx)));
	assert_int_equal(vio_dev_get_status(&fx->blk.dev), 0);
	fx_resume(fx);
	/* The stale kick finds a reset device, which ignores it. */
	usleep(20000);
	stats(fx, 0, &s);
	assert_int_equal(s.requests, 0);
	assert_int_equal(vio_blk_drv_submit(D(fx), &(struct vio_blk_drv_io){
		.type = VIO_BLK_T_IN, .buf = buf, .len = SECTOR, .done = async_done }), -ENODEV);

	vio_drv_unbind(D(fx));
	assert_int_equal(vio_drv_bind(D(fx)), 0);
	fx->ram[0] = 0x42;
	assert_int_equal(vio_blk_drv_read(D(fx), 0, buf, SECTOR), 0);
	assert_int_equal(buf[0], 0x42);
}

/* Unbinding (remove) cancels what is outstanding. */
static void t_remove_cancels(void **state)
{
	enum { N = 10 };
	struct fx *fx = *state;
	struct actx c = { 0 };
	uint8_t *buf;

	fx_up(fx);
	buf = vio_blk_drv_alloc_buffer(D(fx), SECTOR);
	assert_non_null(buf);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(vio_blk_drv_enqueue(D(fx), &(struct vio_blk_drv_io){
			.type = VIO_BLK_T_IN, .sector = i, .buf = buf, .len = SECTOR,
			.done = async_done, .opaque = &c }), 0);
	vio_drv_unbind(D(fx));
	assert_int_equal(c.done, N);
	assert_int_equal(c.canceled, N);
	assert_int_equal(vio_drv_bind(D(fx)), 0);
	assert_int_equal(vio_blk_drv_capacity(D(fx)), DISK_SECTORS);
}

static void t_writeback_toggle(void **state)
{
	struct fx *fx = *state;

	fx_up(fx);
	assert_int_equal(vio_blk_drv_get_writeback(D(fx)), 1);
	assert_false(vio_blk_dev_writethrough(&fx->blk));
	assert_int_equal(vio_blk_drv_set_writeback(D(fx), false), 0);
	assert_int_equal(vio_blk_drv_get_writeback(D(fx)), 0);
	assert_true(vio_blk_dev_writethrough(&fx->blk));
	write_check(fx, 3, 4096, 4);
	assert_int_equal(vio_blk_drv_set_writeback(D(fx), true), 0);
	assert_false(vio_blk_dev_writethrough(&fx->blk));
}

/* The driver cannot change anything in config space but writeback: a
 * write to a read-only field is refused (-EPERM back to the driver) and
 * config space stays as it was. */
static void t_config_readonly_fields(void **state)
{
	struct fx *fx = *state;
	uint64_t cap = UINT64_C(0x1234);
	uint8_t two[2] = { 0, 0 };

	fx_up(fx);
	assert_int_equal(vio_drv_config_write(D(fx), 0, &cap, sizeof(cap)), -EPERM);
	assert_int_equal(vio_drv_config_read(D(fx), 0, &cap, sizeof(cap)), 0);
	assert_int_equal(cap, DISK_SECTORS);
	/* writeback with its neighbour: refused whole, writeback kept */
	assert_int_equal(vio_drv_config_write(D(fx), offsetof(struct vio_blk_config, writeback),
					      two, 2), -EPERM);
	assert_int_equal(vio_blk_drv_get_writeback(D(fx)), 1);
}

/* Without FLUSH the device has no cache: flush is a no-op, writes are
 * stable at completion. */
static void t_flush_not_negotiated(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;

	fx->ropts.features_off = VIO_BIT(VIO_BLK_F_FLUSH);
	fx_up(fx);
	assert_false(vio_drv_has_feature(D(fx), VIO_BLK_F_FLUSH));
	assert_int_equal(vio_blk_drv_flush(D(fx)), 0);
	assert_true(vio_blk_dev_writethrough(&fx->blk));
	assert_int_equal(vio_blk_drv_submit(D(fx), &(struct vio_blk_drv_io){
		.type = VIO_BLK_T_FLUSH, .done = async_done }), -EOPNOTSUPP);
	stats(fx, 0, &s);
	assert_int_equal(s.requests, 0);
}

static void t_discard_not_negotiated(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;

	fx->ropts.features_off = VIO_BIT(VIO_BLK_F_DISCARD) | VIO_BIT(VIO_BLK_F_WRITE_ZEROES);
	fx_up(fx);
	assert_int_equal(vio_blk_drv_discard(D(fx), 0, 8), -EOPNOTSUPP);
	assert_int_equal(vio_blk_drv_write_zeroes(D(fx), 0, 8, true), -EOPNOTSUPP);
	stats(fx, 0, &s);
	assert_int_equal(s.requests, 0);
}

/* Requests the driver refuses before they reach the device. */
static void t_driver_refuses_bad_requests(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;
	uint8_t *buf, plain[SECTOR];

	fx_up(fx);
	buf = vio_blk_drv_alloc_buffer(D(fx), 2 * SECTOR);
	assert_non_null(buf);
	assert_int_equal(vio_blk_drv_read(D(fx), 0, buf, 100), -EINVAL);
	assert_int_equal(vio_blk_drv_read(D(fx), 0, buf, 0), -EINVAL);
	assert_int_equal(vio_blk_drv_read(D(fx), DISK_SECTORS, buf, SECTOR), -EINVAL);
	assert_int_equal(vio_blk_drv_read(D(fx), DISK_SECTORS - 1, buf, 2 * SECTOR), -EINVAL);
	assert_int_equal(vio_blk_drv_read(D(fx), UINT64_MAX, buf, SECTOR), -EINVAL);
	assert_int_equal(vio_blk_drv_read(D(fx), 0, plain, SECTOR), -EFAULT);
	assert_int_equal(vio_blk_drv_discard(D(fx), DISK_SECTORS - 1, 2), -EINVAL);
	assert_int_equal(vio_blk_drv_execute(D(fx), &(struct vio_blk_drv_io){
		.type = 99, .buf = buf, .len = SECTOR }), -EINVAL);
	assert_int_equal(vio_blk_drv_execute(D(fx), &(struct vio_blk_drv_io){
		.type = VIO_BLK_T_IN, .queue = 1, .buf = buf, .len = SECTOR }), -EINVAL);
	stats(fx, 0, &s);
	assert_int_equal(s.requests, 0);
	assert_true(all_free(D(fx)));
}

/* A driver without VERSION_1 on a transitional device. */
static void t_legacy_rw(void **state)
{
	struct fx *fx = *state;
	char id[VIO_BLK_ID_BYTES + 1];

	fx->dopts.legacy_ok = true;
	fx->ropts.features_off = V1;
	fx_up(fx);
	assert_true(D(fx)->legacy);
	assert_true(fx->blk.dev.legacy);
	write_check(fx, 11, 8192, 6);
	assert_int_equal(vio_blk_drv_get_id(D(fx), id), 0);
	assert_string_equal(id, SERIAL);
	assert_int_equal(vio_blk_drv_discard(D(fx), 11, 16), 0);
}

/* Run on RAM. */
static const struct named_test ram_tests[] = {
	T(t_get_id),
	T(t_get_id_20_bytes),
	T(t_config),
	T(t_ro_driver_refuses),
	T(t_multiqueue),
	T(t_reset_mid_io),
	T(t_remove_cancels),
	T(t_writeback_toggle),
	T(t_config_readonly_fields),
	T(t_flush_not_negotiated),
	T(t_discard_not_negotiated),
	T(t_driver_refuses_bad_requests),
	T(t_legacy_rw),
	T(t_queue_calls_bad_index),
	T(t_kick_queue_only_its_queue),
	T(t_submit_kicks_only_its_queue),
	T(t_poll_queue_broken),
};

/* Run on RAM with the threaded transport. */
static const struct named_test threaded_tests[] = {
	T(t_poll_queue_only_its_queue),
	T(t_queues_on_two_threads),
};

int main(void)
{
	static const struct blk_tables t = {
		.ram = ram_tests, .nram = ARRAY_LEN(ram_tests),
		.threaded = threaded_tests, .nthreaded = ARRAY_LEN(threaded_tests),
	};

	return blk_run("lb_blk_driver", &t);
}
