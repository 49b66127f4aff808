/*
 * test_rbd_storage.c - the RBD storage (blk_storage_rbd.c) driven through
 * its ops against a real one-node Ceph cluster, as the blk device drives
 * it: queue_open, submit batches, poll queue_fd, process(), done().
 *
 *   test_rbd_storage CEPH_CONF CEPH_NODE_SH CLUSTER_DIR
 *
 * tests/rbd/test_rbd.py starts the cluster (scripts/ceph-node.sh) with
 * the images this program expects: rbd/img (64 MiB), rbd/snapimg (16 MiB),
 * and runs it; the OSD case stops and restarts the OSD through the same
 * script. Every wait has a deadline: a lost completion fails the case
 * instead of hanging it.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "vio/devices/blk_rbd.h"

static const char *conf, *node_sh, *cluster_dir;

static void test_log(void *opaque, enum vio_log_level level, const char *msg)
{
	(void)opaque;
	fprintf(stderr, "# log %d: %s\n", level, msg);
}

static struct vio_blk_rbd_opts opts(const char *image, const char *snap)
{
	struct vio_blk_rbd_opts o = {
		.pool = "rbd", .image = image, .snapshot = snap, .conf = conf,
		.log = test_log,
	};
	return o;
}

/* One queue's worth of bookkeeping: what done() saw. */
struct qctx {
	struct vio_blk_storage_queue *q;
	struct vio_blk_storage *s;
	unsigned done;
	unsigned in_flight;
	int bad_thread;
	pthread_t thread;
};

static void on_done(void *opaque, struct vio_blk_storage_req *req)
{
	struct qctx *c = opaque;

	(void)req;
	if (!pthread_equal(pthread_self(), c->thread))
		c->bad_thread++;
	c->done++;
	c->in_flight--;
}

static void qopen(struct qctx *c, struct vio_blk_storage *s, unsigned qi)
{
	memset(c, 0, sizeof(*c));
	c->s = s;
	c->thread = pthread_self();
	assert_int_equal(s->ops->queue_open(s, qi, 128, on_done, c, &c->q), 0);
	assert_true(s->ops->queue_fd(c->q) >= 0);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Submit reqs[0..n) as one batch and wait (poll, process) until all are
 * done or `secs` passed; returns how many completed. */
static unsigned run(struct qctx *c, struct vio_blk_storage_req **reqs, unsigned n, double secs)
{
	unsigned before = c->done;
	double end = now() + secs;
	int fd = c->s->ops->queue_fd(c->q);

	c->in_flight += n;
	c->s->ops->submit(c->q, reqs, n);
	while (c->done - before < n && now() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 100) > 0)
			c->s->ops->process(c->q);
	}
	return c->done - before;
}

static void req_rw(struct vio_blk_storage_req *r, uint8_t op, uint64_t off, struct vio_iov *iov,
		   unsigned iovcnt)
{
	memset(r, 0, sizeof(*r));
	r->op = op;
	r->off = off;
	r->iov = iov;
	r->iovcnt = iovcnt;
	for (unsigned i = 0; i < iovcnt; i++)
		r->len += iov[i].len;
	r->res = 12345;         /* must be overwritten */
}

static void req_op(struct vio_blk_storage_req *r, uint8_t op, uint64_t off, uint64_t len,
		   uint8_t flags)
{
	memset(r, 0, sizeof(*r));
	r->op = op;
	r->off = off;
	r->len = len;
	r->flags = flags;
	r->res = 12345;
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		p[i] = (uint8_t)(seed >> 56);
	}
}

/* Read [off, off+len) into buf through the storage; asserts success. */
static void read_back(struct qctx *c, uint64_t off, void *buf, size_t len)
{
	struct vio_iov iov = { buf, len };
	struct vio_blk_storage_req r, *rp = &r;

	memset(buf, 0xee, len);
	req_rw(&r, VIO_BLK_STORAGE_READ, off, &iov, 1);
	assert_int_equal(run(c, &rp, 1, 20), 1);
	assert_int_equal(r.res, 0);
}

static void do_one(struct qctx *c, struct vio_blk_storage_req *r, int want)
{
	assert_int_equal(run(c, &r, 1, 20), 1);
	assert_int_equal(r->res, want);
}

static int is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static void open_ok(struct vio_blk_storage *s, const char *image, const char *snap)
{
	struct vio_blk_rbd_opts o = opts(image, snap);

	assert_int_equal(vio_blk_storage_rbd_open(s, &o), 0);
}

static void close_all(struct qctx *c, struct vio_blk_storage *s)
{
	assert_int_equal(c->in_flight, 0);
	assert_int_equal(c->bad_thread, 0);
	s->ops->queue_close(c->q);
	s->ops->close(s);
}

/* What the storage tells the device: the image's size, no FUA. */
static void test_open_geometry(void **state)
{
	struct vio_blk_storage s;

	(void)state;
	open_ok(&s, "img", NULL);
	assert_int_equal(s.size, 64ull << 20);
	assert_int_equal(s.block_size, 512);
	assert_int_equal(s.opt_io_size, 4u << 20);   /* the default object size */
	assert_int_equal(s.caps & VIO_BLK_STORAGE_CAN_FUA, 0);
	assert_true(s.caps & VIO_BLK_STORAGE_CAN_FLUSH);
	assert_true(s.caps & VIO_BLK_STORAGE_CAN_DISCARD);
	assert_true(s.caps & VIO_BLK_STORAGE_CAN_WRITE_ZEROES);
	assert_false(s.read_only);
	assert_string_equal(s.name, "rbd");
	assert_int_equal(s.ops->version, VIO_BLK_STORAGE_OPS_VERSION);
	s.ops->close(&s);
}

/* 64 writes of scattered iovs in one batch (crossing an object boundary
 * too), a flush, then reads in one batch: every byte back. */
static void test_write_read_batch(void **state)
{
	enum { N = 64, SZ = 8192 };
	struct vio_blk_storage s;
	struct qctx c;
	static uint8_t wbuf[N][SZ], rbuf[N][SZ];
	struct vio_iov wiov[N][3], riov[N][2];
	struct vio_blk_storage_req reqs[N], *rp[N], fl;

	(void)state;
	open_ok(&s, "img", NULL);
	qopen(&c, &s, 0);
	for (unsigned i = 0; i < N; i++) {
		/* request i at (4 MiB - 16 KiB) + i * 24 KiB: the first few
		 * straddle the first object boundary */
		uint64_t off = (4u << 20) - 16384 + (uint64_t)i * 24576;

		fill(wbuf[i], SZ, i + 1);
		wiov[i][0] = (struct vio_iov){ wbuf[i], 512 };
		wiov[i][1] = (struct vio_iov){ wbuf[i] + 512, 4096 };
		wiov[i][2] = (struct vio_iov){ wbuf[i] + 4608, SZ - 4608 };
		req_rw(&reqs[i], VIO_BLK_STORAGE_WRITE, off, wiov[i], 3);
		rp[i] = &reqs[i];
	}
	assert_int_equal(run(&c, rp, N, 30), N);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(reqs[i].res, 0);
	req_op(&fl, VIO_BLK_STORAGE_FLUSH, 0, 0, 0);
	do_one(&c, &fl, 0);
	for (unsigned i = 0; i < N; i++) {
		uint64_t off = (4u << 20) - 16384 + (uint64_t)i * 24576;

		memset(rbuf[i], 0xee, SZ);
		riov[i][0] = (struct vio_iov){ rbuf[i], 1024 };
		riov[i][1] = (struct vio_iov){ rbuf[i] + 1024, SZ - 1024 };
		req_rw(&reqs[i], VIO_BLK_STORAGE_READ, off, riov[i], 2);
	}
	assert_int_equal(run(&c, rp, N, 30), N);
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(reqs[i].res, 0);
		assert_memory_equal(rbuf[i], wbuf[i], SZ);
	}
	close_all(&c, &s);
}

/* Discard of a whole object, then write-zeroes (with and without UNMAP) of
 * ranges inside objects: each reads back as zeroes, the bytes around them
 * stay. */
static void test_discard_write_zeroes(void **state)
{
	struct vio_blk_storage s;
	struct qctx c;
	static uint8_t buf[3 << 20], want[3 << 20];
	struct vio_iov iov = { want, sizeof(want) };
	struct vio_blk_storage_req r;
	const uint64_t obj = 8u << 20;  /* object 2: [8 MiB, 12 MiB) */

	(void)state;
	open_ok(&s, "img", NULL);
	qopen(&c, &s, 0);
	fill(want, sizeof(want), 77);
	/* data in [8 MiB, 11 MiB) */
	req_rw(&r, VIO_BLK_STORAGE_WRITE, obj, &iov, 1);
	do_one(&c, &r, 0);
	read_back(&c, obj, buf, sizeof(buf));
	assert_memory_equal(buf, want, sizeof(buf));

	/* write-zeroes, thick: [8 MiB + 4 KiB, + 8 KiB) */
	req_op(&r, VIO_BLK_STORAGE_WRITE_ZEROES, obj + 4096, 8192, 0);
	do_one(&c, &r, 0);
	memset(want + 4096, 0, 8192);
	/* write-zeroes with UNMAP: [8 MiB + 1 MiB + 512, + 3 KiB) */
	req_op(&r, VIO_BLK_STORAGE_WRITE_ZEROES, obj + (1 << 20) + 512, 3072,
	       VIO_BLK_STORAGE_REQ_UNMAP);
	do_one(&c, &r, 0);
	memset(want + (1 << 20) + 512, 0, 3072);
	read_back(&c, obj, buf, sizeof(buf));
	assert_memory_equal(buf, want, sizeof(buf));

	/* discard the whole object: all of it reads zero */
	req_op(&r, VIO_BLK_STORAGE_DISCARD, obj, 4u << 20, 0);
	do_one(&c, &r, 0);
	read_back(&c, obj, buf, sizeof(buf));
	assert_true(is_zero(buf, sizeof(buf)));
	close_all(&c, &s);
}

/* Requests librbd would refuse never reach it: a zero-length read
 * completes 0, an empty iov with a length is -EINVAL, an unknown op is
 * -EOPNOTSUPP; each inside submit(), on the queue's thread. */
static void test_refused_in_submit(void **state)
{
	struct vio_blk_storage s;
	struct qctx c;
	struct vio_blk_storage_req r, *rp = &r;

	(void)state;
	open_ok(&s, "img", NULL);
	qopen(&c, &s, 0);
	req_rw(&r, VIO_BLK_STORAGE_READ, 0, NULL, 0);
	c.in_flight++;
	s.ops->submit(c.q, &rp, 1);
	assert_int_equal(c.done, 1);
	assert_int_equal(r.res, 0);

	req_rw(&r, VIO_BLK_STORAGE_WRITE, 0, NULL, 0);
	r.len = 4096;
	c.in_flight++;
	s.ops->submit(c.q, &rp, 1);
	assert_int_equal(c.done, 2);
	assert_int_equal(r.res, -EINVAL);

	req_op(&r, 99, 0, 512, 0);
	c.in_flight++;
	s.ops->submit(c.q, &rp, 1);
	assert_int_equal(c.done, 3);
	assert_int_equal(r.res, -EOPNOTSUPP);
	close_all(&c, &s);
}

/* A snapshot: read-only, its size, its data (not the image's later
 * writes); writes, discards and write-zeroes -EROFS. */
static void test_snapshot_read_only(void **state)
{
	static uint8_t a[65536], b[65536], buf[65536];
	struct vio_iov ia = { a, sizeof(a) }, ib = { b, sizeof(b) };
	struct vio_blk_storage s;
	struct qctx c;
	struct vio_blk_storage_req r;
	char cmd[1024];

	(void)state;
	fill(a, sizeof(a), 1);
	fill(b, sizeof(b), 2);
	open_ok(&s, "snapimg", NULL);
	qopen(&c, &s, 0);
	req_rw(&r, VIO_BLK_STORAGE_WRITE, 1 << 20, &ia, 1);
	do_one(&c, &r, 0);
	req_op(&r, VIO_BLK_STORAGE_FLUSH, 0, 0, 0);
	do_one(&c, &r, 0);
	close_all(&c, &s);

	snprintf(cmd, sizeof(cmd), "timeout 60 rbd -c '%s' snap create rbd/snapimg@s1", conf);
	assert_int_equal(system(cmd), 0);

	open_ok(&s, "snapimg", NULL);
	qopen(&c, &s, 0);
	req_rw(&r, VIO_BLK_STORAGE_WRITE, 1 << 20, &ib, 1);
	do_one(&c, &r, 0);
	read_back(&c, 1 << 20, buf, sizeof(buf));
	assert_memory_equal(buf, b, sizeof(buf));
	close_all(&c, &s);

	open_ok(&s, "snapimg", "s1");
	assert_true(s.read_only);
	assert_int_equal(s.size, 16ull << 20);
	qopen(&c, &s, 0);
	read_back(&c, 1 << 20, buf, sizeof(buf));
	assert_memory_equal(buf, a, sizeof(buf));
	req_rw(&r, VIO_BLK_STORAGE_WRITE, 1 << 20, &ib, 1);
	do_one(&c, &r, -EROFS);
	req_op(&r, VIO_BLK_STORAGE_DISCARD, 0, 4096, 0);
	do_one(&c, &r, -EROFS);
	req_op(&r, VIO_BLK_STORAGE_WRITE_ZEROES, 0, 4096, 0);
	do_one(&c, &r, -EROFS);
	read_back(&c, 1 << 20, buf, sizeof(buf));
	assert_memory_equal(buf, a, sizeof(buf));
	close_all(&c, &s);

	/* read_only on the image itself */
	{
		struct vio_blk_rbd_opts o = opts("snapimg", NULL);

		o.read_only = true;
		assert_int_equal(vio_blk_storage_rbd_open(&s, &o), 0);
		assert_true(s.read_only);
		qopen(&c, &s, 0);
		req_rw(&r, VIO_BLK_STORAGE_WRITE, 0, &ia, 1);
		do_one(&c, &r, -EROFS);
		close_all(&c, &s);
	}
}

/* Each bad name gets its error, with nothing left open. */
static void test_open_errors(void **state)
{
	struct vio_blk_storage s;
	struct vio_blk_rbd_opts o;

	(void)state;
	o = opts("img", NULL);
	assert_int_equal(vio_blk_storage_rbd_open(NULL, &o), -EINVAL);
	assert_int_equal(vio_blk_storage_rbd_open(&s, NULL), -EINVAL);
	o = opts("", NULL);
	assert_int_equal(vio_blk_storage_rbd_open(&s, &o), -EINVAL);
	o = opts(NULL, NULL);
	assert_int_equal(vio_blk_storage_rbd_open(&s, &o), -EINVAL);
	o = opts("img", "");
	assert_int_equal(vio_blk_storage_rbd_open(&s, &o), -EINVAL);
	o = opts("img", NULL);
	o.pool = "nosuchpool";
	assert_int_equal(vio_blk_storage_rbd_open(&s, &o), -ENOENT);
	o = opts("nosuchimage", NULL);
	assert_int_equal(vio_blk_storage_rbd_open(&s, &o), -ENOENT);
	o = opts("img", "nosuchsnap");
	assert_int_equal(vio_blk_storage_rbd_open(&s, &o), -ENOENT);
	o = opts("img", NULL);
	o.conf = "/nonexistent/ceph.conf";
	assert_true(vio_blk_storage_rbd_open(&s, &o) < 0);
}

/* Two queues served by two threads at once, each writing and reading its
 * own region: completions reach the thread of their own queue only. */
struct thr_arg {
	struct vio_blk_storage *s;
	unsigned qi;
	int failures;
};

static void *queue_thread(void *p)
{
	enum { N = 32, SZ = 4096 };
	struct thr_arg *a = p;
	struct qctx c;
	static uint8_t wbuf[2][N][SZ], rbuf[2][N][SZ];
	struct vio_iov wiov[N], riov[N];
	struct vio_blk_storage_req reqs[N], *rp[N];

	memset(&c, 0, sizeof(c));
	c.s = a->s;
	c.thread = pthread_self();
	if (a->s->ops->queue_open(a->s, a->qi, N, on_done, &c, &c.q)) {
		a->failures++;
		return NULL;
	}
	for (unsigned round = 0; round < 4; round++) {
		for (unsigned i = 0; i < N; i++) {
			fill(wbuf[a->qi][i], SZ, (a->qi + 1) * 1000 + round * 100 + i);
			wiov[i] = (struct vio_iov){ wbuf[a->qi][i], SZ };
			req_rw(&reqs[i], VIO_BLK_STORAGE_WRITE,
			       (32ull << 20) + a->qi * (1 << 20) + i * SZ, &wiov[i], 1);
			rp[i] = &reqs[i];
		}
		if (run(&c, rp, N, 30) != N)
			a->failures++;
		for (unsigned i = 0; i < N; i++) {
			a->failures += reqs[i].res != 0;
			riov[i] = (struct vio_iov){ rbuf[a->qi][i], SZ };
			req_rw(&reqs[i], VIO_BLK_STORAGE_READ,
			       (32ull << 20) + a->qi * (1 << 20) + i * SZ, &riov[i], 1);
		}
		if (run(&c, rp, N, 30) != N)
			a->failures++;
		for (unsigned i = 0; i < N; i++)
			a->failures += reqs[i].res != 0 ||
				       memcmp(rbuf[a->qi][i], wbuf[a->qi][i], SZ) != 0;
	}
	a->failures += c.bad_thread + (int)c.in_flight;
	a->s->ops->queue_close(c.q);
	return NULL;
}

static void test_two_queues_two_threads(void **state)
{
	struct vio_blk_storage s;
	struct thr_arg a[2];
	pthread_t t[2];

	(void)state;
	open_ok(&s, "img", NULL);
	for (unsigned i = 0; i < 2; i++) {
		a[i] = (struct thr_arg){ &s, i, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, queue_thread, &a[i]), 0);
	}
	for (unsigned i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].failures, 0);
	}
	s.ops->close(&s);
}

static void node(const char *what)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "'%s' %s '%s' >&2", node_sh, what, cluster_dir);
	assert_int_equal(system(cmd), 0);
}

/* The OSD goes away under I/O. With a 3 s op timeout the requests fail
 * with -ETIMEDOUT (not a hang); with the default (30 s) a request waits
 * and succeeds once the OSD is back a few seconds later. Afterwards I/O
 * works on both storages, the data written before intact. */
static void test_osd_down(void **state)
{
	static uint8_t w[16384], buf[16384];
	struct vio_iov iov = { w, sizeof(w) };
	struct vio_blk_storage s_short, s_wait;
	struct vio_blk_rbd_opts o = opts("img", NULL);
	struct qctx cs, cw;
	struct vio_blk_storage_req rs[4], *rps[4], rw, *rpw = &rw;
	double t0, t;

	(void)state;
	o.op_timeout = 3;
	assert_int_equal(vio_blk_storage_rbd_open(&s_short, &o), 0);
	open_ok(&s_wait, "img", NULL);
	qopen(&cs, &s_short, 0);
	qopen(&cw, &s_wait, 0);
	fill(w, sizeof(w), 5);
	req_rw(&rs[0], VIO_BLK_STORAGE_WRITE, 40u << 20, &iov, 1);
	do_one(&cs, &rs[0], 0);

	node("stop-osd");
	/* short timeout: reads and writes fail in about 3 s */
	t0 = now();
	for (unsigned i = 0; i < 4; i++) {
		/* in an object that exists: librbd answers reads of objects
		 * its object map says are absent with zeroes, no OSD asked */
		req_rw(&rs[i], i & 1 ? VIO_BLK_STORAGE_WRITE : VIO_BLK_STORAGE_READ,
		       (40u << 20) + (i + 1) * 16384, &iov, 1);
		rps[i] = &rs[i];
	}
	/* ...on the read that must wait, submitted meanwhile on the other */
	req_rw(&rw, VIO_BLK_STORAGE_READ, 40u << 20, &(struct vio_iov){ buf, sizeof(buf) }, 1);
	cw.in_flight++;
	s_wait.ops->submit(cw.q, &rpw, 1);
	assert_int_equal(run(&cs, rps, 4, 20), 4);
	t = now() - t0;
	fprintf(stderr, "# short timeout: 4 requests failed after %.1f s\n", t);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(rs[i].res, -ETIMEDOUT);
	assert_true(t >= 2.0);
	/* the waiting read is still waiting */
	cw.s->ops->process(cw.q);
	assert_int_equal(cw.done, 0);

	node("start-osd");
	/* it completes now, with the data written before */
	while (cw.done == 0 && now() - t0 < 28) {
		struct pollfd p = { .fd = s_wait.ops->queue_fd(cw.q), .events = POLLIN };

		if (poll(&p, 1, 100) > 0)
			s_wait.ops->process(cw.q);
	}
	assert_int_equal(cw.done, 1);
	assert_int_equal(rw.res, 0);
	assert_memory_equal(buf, w, sizeof(w));
	/* and the short-timeout storage works again */
	req_rw(&rs[0], VIO_BLK_STORAGE_WRITE, 44u << 20, &iov, 1);
	do_one(&cs, &rs[0], 0);
	read_back(&cs, 44u << 20, buf, sizeof(buf));
	assert_memory_equal(buf, w, sizeof(w));
	read_back(&cw, 44u << 20, buf, sizeof(buf));
	assert_memory_equal(buf, w, sizeof(w));
	close_all(&cs, &s_short);
	close_all(&cw, &s_wait);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_geometry),
		cmocka_unit_test(test_write_read_batch),
		cmocka_unit_test(test_discard_write_zeroes),
		cmocka_unit_test(test_refused_in_submit),
		cmocka_unit_test(test_snapshot_read_only),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_two_queues_two_threads),
		cmocka_unit_test(test_osd_down),
	};

	if (argc != 4) {
		fprintf(stderr, "usage: %s CEPH_CONF CEPH_NODE_SH CLUSTER_DIR\n", argv[0]);
		return 2;
	}
	conf = argv[1];
	node_sh = argv[2];
	cluster_dir = argv[3];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
