/*
 * test_nbd_storage.c - the NBD storage (vio/devices/blk_nbd.h) against
 * real NBD servers nobody here wrote: nbdkit's memory plugin (with its
 * error and delay filters for faults, killed and restarted on the same
 * socket for disconnects) and qemu-nbd on raw and qcow2 files.
 *
 * Each case drives the storage the way the blk device does: open a
 * queue, submit requests, poll queue_fd() and process() until done()
 * has been called for each, with a deadline so a hang is a failure.
 * The servers are started here; without nbdkit or qemu-nbd the cases
 * fail saying so.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vio/devices/blk_nbd.h"

static char dir[48];
static char sock[96];
static pid_t server = -1;

static uint64_t ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void log_cb(void *opaque, enum vio_log_level level, const char *msg)
{
	(void)opaque;
	if (getenv("NBD_TEST_VERBOSE"))
		fprintf(stderr, "# log %d: %s\n", (int)level, msg);
}

static bool have(const char *prog)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
	return system(cmd) == 0;
}

static bool sock_ready(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
	bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* Starts argv (a server on `sock`) and waits until it accepts. */
static void start_argv(char *const argv[])
{
	unlink(sock);
	server = fork();
	assert_true(server >= 0);
	if (server == 0) {
		int null = open("/dev/null", O_RDWR);
		if (!getenv("NBD_TEST_VERBOSE")) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	uint64_t end = ms_now() + 5000;
	while (!sock_ready()) {
		int st;
		if (waitpid(server, &st, WNOHANG) == server) {
			server = -1;
			fail_msg("%s exited before serving %s", argv[0], sock);
		}
		if (ms_now() > end)
			fail_msg("%s did not serve %s within 5 s", argv[0], sock);
		usleep(10000);
	}
}

/* nbdkit -U sock [-options...] memory size=64M [key=value...] */
static void start_nbdkit(const char *a1, const char *a2, const char *a3, const char *a4)
{
	if (!have("nbdkit"))
		fail_msg("nbdkit not found: install nbdkit (scripts/deps.sh)");
	char *argv[16];
	int n = 0;
	argv[n++] = "nbdkit";
	argv[n++] = "-f";
	argv[n++] = "--exit-with-parent";
	argv[n++] = "-U";
	argv[n++] = sock;
	const char *extra[] = { a1, a2, a3, a4 };
	for (int i = 0; i < 4; i++)     /* options before the plugin */
		if (extra[i] && extra[i][0] == '-')
			argv[n++] = (char *)extra[i];
	argv[n++] = "memory";
	argv[n++] = "size=64M";
	for (int i = 0; i < 4; i++)     /* key=value (filters' too) after it */
		if (extra[i] && extra[i][0] != '-')
			argv[n++] = (char *)extra[i];
	argv[n] = NULL;
	start_argv(argv);
}

static void stop_server(void)
{
	if (server > 0) {
		kill(server, SIGKILL);
		waitpid(server, NULL, 0);
	}
	server = -1;
	unlink(sock);
}

static void uri(char *buf, size_t cap)
{
	snprintf(buf, cap, "nbd+unix:///?socket=%s", sock);
}

/* ---- driving a queue ---------------------------------------------------- */

struct tq {
	struct vio_blk_storage *s;
	struct vio_blk_storage_queue *q;
	unsigned done;
};

static void done_cb(void *opaque, struct vio_blk_storage_req *req)
{
	struct tq *t = opaque;
	req->priv[1] = 0xd0e;   /* ours again: mark it done */
	t->done++;
}

static void tq_open(struct tq *t, struct vio_blk_storage *s, unsigned qi, unsigned depth)
{
	memset(t, 0, sizeof(*t));
	t->s = s;
	assert_int_equal(s->ops->queue_open(s, qi, depth, done_cb, t, &t->q), 0);
	assert_true(s->ops->queue_fd(t->q) >= 0);
}

/* Submits reqs and polls until each is done; fails after limit_ms. */
static uint64_t tq_run(struct tq *t, struct vio_blk_storage_req **reqs, unsigned n, unsigned limit_ms)
{
	uint64_t start = ms_now();
	unsigned want = t->done + n;
	int fd = t->s->ops->queue_fd(t->q);

	t->s->ops->submit(t->q, reqs, n);
	while (t->done < want) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (ms_now() - start > limit_ms)
			fail_msg("%u of %u requests still in flight after %u ms", want - t->done, n,
				 limit_ms);
		poll(&p, 1, 50);
		t->s->ops->process(t->q);
	}
	return ms_now() - start;
}

static void req_init(struct vio_blk_storage_req *r, uint8_t op, uint64_t off, uint64_t len,
		     struct vio_iov *iov, unsigned iovcnt)
{
	memset(r, 0, sizeof(*r));
	r->op = op;
	r->off = off;
	r->len = len;
	r->iov = iov;
	r->iovcnt = iovcnt;
	r->res = 1;     /* anything but 0 or -errno: done() must set it */
}

static int one(struct tq *t, uint8_t op, uint8_t flags, uint64_t off, void *buf, uint64_t len,
	       unsigned limit_ms)
{
	struct vio_iov iov = { .base = buf, .len = len };
	struct vio_blk_storage_req r, *rp = &r;
	req_init(&r, op, off, len, buf ? &iov : NULL, buf ? 1 : 0);
	r.flags = flags;
	tq_run(t, &rp, 1, limit_ms);
	return r.res;
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static struct vio_blk_storage st;
static struct vio_blk_nbd_opts opts;
static char uribuf[256];

static void open_nbd(uint32_t timeout_ms, unsigned connections)
{
	uri(uribuf, sizeof(uribuf));
	memset(&opts, 0, sizeof(opts));
	opts.uri = uribuf;
	opts.timeout_ms = timeout_ms;
	opts.connections = connections;
	opts.connect_timeout_ms = 2000;
	opts.reconnect_min_ms = 20;
	opts.reconnect_max_ms = 200;
	opts.log = log_cb;
	assert_int_equal(vio_blk_storage_nbd_open(&st, &opts), 0);
}

static void close_nbd(struct tq *qs, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		st.ops->queue_close(qs[i].q);
	st.ops->close(&st);
}

static int teardown(void **state)
{
	(void)state;
	stop_server();
	return 0;
}

/* ---- cases --------------------------------------------------------------- */

/* What nbdkit's memory plugin says in the handshake reaches the storage. */
static void nbdkit_geometry(void **state)
{
	(void)state;
	struct vio_blk_nbd_stats ss;
	start_nbdkit(NULL, NULL, NULL, NULL);
	open_nbd(5000, 0);
	assert_int_equal(st.size, 64u << 20);
	assert_false(st.read_only);
	assert_int_equal(st.block_size, 512);
	assert_true(st.max_transfer >= 65536 && st.max_transfer % 512 == 0);
	assert_int_equal(st.caps & (VIO_BLK_STORAGE_CAN_FLUSH | VIO_BLK_STORAGE_CAN_FUA |
				    VIO_BLK_STORAGE_CAN_DISCARD | VIO_BLK_STORAGE_CAN_WRITE_ZEROES),
			 VIO_BLK_STORAGE_CAN_FLUSH | VIO_BLK_STORAGE_CAN_FUA |
			 VIO_BLK_STORAGE_CAN_DISCARD | VIO_BLK_STORAGE_CAN_WRITE_ZEROES);
	assert_string_equal(st.name, "nbd");
	vio_blk_storage_nbd_stats(&st, &ss);
	assert_true(ss.conns > 1);      /* the memory plugin allows multi-conn */
	assert_int_equal(ss.connects, 1);
	st.ops->close(&st);
}

/* 64 writes in flight at once, in one, three (uneven) and twenty spans,
 * read back split differently: every byte where it belongs. */
#define NREQ 64
#define RLEN 8192
static void rw_depth(struct tq *t)
{
	static uint8_t wbuf[NREQ][RLEN], rbuf[NREQ][RLEN];
	static struct vio_iov wiov[NREQ][20], riov[NREQ][20];
	struct vio_blk_storage_req w[NREQ], r[NREQ], *wp[NREQ], *rp[NREQ];
	struct vio_blk_nbd_stats before, after;

	vio_blk_storage_nbd_stats(t->s, &before);
	for (unsigned i = 0; i < NREQ; i++) {
		uint64_t off = (uint64_t)((i * 37) % NREQ) * RLEN + (1u << 20);
		unsigned spans = i % 3 == 0 ? 1 : i % 3 == 1 ? 3 : 20;
		fill(wbuf[i], RLEN, i + 1);
		memset(rbuf[i], 0xee, RLEN);
		/* spans: 1 x 8192; 3 x (512, 100, 7580); 20 x (19 x 400, 592) */
		for (unsigned k = 0, o = 0; k < spans; k++) {
			unsigned l = spans == 1 ? RLEN : spans == 3 ? (k == 0 ? 512 : k == 1 ? 100 : 7580)
							   : (k < 19 ? 400 : 592);
			wiov[i][k] = (struct vio_iov){ .base = wbuf[i] + o, .len = l };
			/* read back split differently: spans reversed in size */
			o += l;
		}
		unsigned rs = spans == 20 ? 1 : spans == 1 ? 20 : 3;
		for (unsigned k = 0, o = 0; k < rs; k++) {
			unsigned l = rs == 1 ? RLEN : rs == 3 ? (k == 0 ? 4096 : k == 1 ? 1 : 4095)
						   : (k < 19 ? 400 : 592);
			riov[i][k] = (struct vio_iov){ .base = rbuf[i] + o, .len = l };
			o += l;
		}
		req_init(&w[i], VIO_BLK_STORAGE_WRITE, off, RLEN, wiov[i], spans);
		req_init(&r[i], VIO_BLK_STORAGE_READ, off, RLEN, riov[i], rs);
		wp[i] = &w[i];
		rp[i] = &r[i];
	}
	tq_run(t, wp, NREQ, 10000);
	for (unsigned i = 0; i < NREQ; i++)
		assert_int_equal(w[i].res, 0);
	tq_run(t, rp, NREQ, 10000);
	for (unsigned i = 0; i < NREQ; i++) {
		assert_int_equal(r[i].res, 0);
		assert_memory_equal(rbuf[i], wbuf[i], RLEN);
	}
	vio_blk_storage_nbd_stats(t->s, &after);
	/* every request in more than one span went through a bounce buffer */
	unsigned multi = 0;
	for (unsigned i = 0; i < NREQ; i++)
		multi += (w[i].iovcnt > 1) + (r[i].iovcnt > 1);
	assert_int_equal(after.bounced - before.bounced, multi);
}

static void nbdkit_rw(void **state)
{
	(void)state;
	struct tq t;
	start_nbdkit(NULL, NULL, NULL, NULL);
	open_nbd(5000, 0);
	tq_open(&t, &st, 0, NREQ);
	rw_depth(&t);
	close_nbd(&t, 1);
}

/* FLUSH, FUA, DISCARD and WRITE_ZEROES with and without UNMAP. */
static void nbdkit_flush_trim_zero(void **state)
{
	(void)state;
	struct tq t;
	static uint8_t a[65536], b[65536], z[65536];
	start_nbdkit(NULL, NULL, NULL, NULL);
	open_nbd(5000, 0);
	tq_open(&t, &st, 0, 8);

	fill(a, sizeof(a), 9);
	assert_int_equal(one(&t, VIO_BLK_STORAGE_WRITE, VIO_BLK_STORAGE_REQ_FUA, 0, a, sizeof(a), 5000), 0);
	assert_int_equal(one(&t, VIO_BLK_STORAGE_FLUSH, 0, 0, NULL, 0, 5000), 0);
	assert_int_equal(one(&t, VIO_BLK_STORAGE_READ, 0, 0, b, sizeof(b), 5000), 0);
	assert_memory_equal(a, b, sizeof(a));

	/* zeroes, allocated (NO_HOLE) */
	assert_int_equal(one(&t, VIO_BLK_STORAGE_WRITE_ZEROES, 0, 4096, NULL, 8192, 5000), 0);
	assert_int_equal(one(&t, VIO_BLK_STORAGE_READ, 0, 0, b, sizeof(b), 5000), 0);
	assert_memory_equal(b, a, 4096);
	assert_memory_equal(b + 4096, z, 8192);
	assert_memory_equal(b + 12288, a + 12288, sizeof(a) - 12288);

	/* zeroes that may deallocate, with FUA */
	assert_int_equal(one(&t, VIO_BLK_STORAGE_WRITE_ZEROES,
			     VIO_BLK_STORAGE_REQ_UNMAP | VIO_BLK_STORAGE_REQ_FUA, 32768, NULL, 4096, 5000), 0);
	assert_int_equal(one(&t, VIO_BLK_STORAGE_READ, 0, 32768, b, 4096, 5000), 0);
	assert_memory_equal(b, z, 4096);

	/* discard: the memory plugin reads a trimmed range back as zeroes */
	assert_int_equal(one(&t, VIO_BLK_STORAGE_DISCARD, 0, 0, NULL, 65536, 5000), 0);
	assert_int_equal(one(&t, VIO_BLK_STORAGE_READ, 0, 0, b, sizeof(b), 5000), 0);
	assert_memory_equal(b, z, sizeof(b));

	/* spans shorter than len (a broken device): -EINVAL, nothing written
	 * past them */
	struct vio_iov shortv[2] = { { .base = b, .len = 512 }, { .base = b + 512, .len = 512 } };
	struct vio_blk_storage_req bad, *badp = &bad;
	req_init(&bad, VIO_BLK_STORAGE_READ, 0, 4096, shortv, 2);
	tq_run(&t, &badp, 1, 5000);
	assert_int_equal(bad.res, -EINVAL);
	req_init(&bad, VIO_BLK_STORAGE_READ, 0, 4096, NULL, 0);
	tq_run(&t, &badp, 1, 5000);
	assert_int_equal(bad.res, -EINVAL);

	/* a whole-disk WRITE_ZEROES: one request, still one done() */
	assert_int_equal(one(&t, VIO_BLK_STORAGE_WRITE_ZEROES, VIO_BLK_STORAGE_REQ_UNMAP, 0, NULL,
			     st.size, 5000), 0);
	close_nbd(&t, 1);
}

/* A read-only export gives a read-only storage; a write is refused. */
static void nbdkit_read_only(void **state)
{
	(void)state;
	struct tq t;
	static uint8_t a[4096];
	start_nbdkit("-r", NULL, NULL, NULL);
	open_nbd(5000, 0);
	assert_true(st.read_only);
	tq_open(&t, &st, 0, 4);
	assert_int_equal(one(&t, VIO_BLK_STORAGE_READ, 0, 0, a, sizeof(a), 5000), 0);
	int r = one(&t, VIO_BLK_STORAGE_WRITE, 0, 0, a, sizeof(a), 5000);
	assert_true(r < 0);
	close_nbd(&t, 1);
}

/* The server answers EIO to every read: each read completes with -EIO,
 * writes still work, and the connection stays. */
static void nbdkit_errors(void **state)
{
	(void)state;
	struct tq t;
	static uint8_t a[8][4096];
	struct vio_iov iov[8];
	struct vio_blk_storage_req r[8], *rp[8];
	struct vio_blk_nbd_stats ss;

	start_nbdkit("--filter=error", "error=EIO", "error-pread-rate=100%", NULL);
	open_nbd(5000, 0);
	tq_open(&t, &st, 0, 8);
	for (unsigned i = 0; i < 8; i++) {
		iov[i] = (struct vio_iov){ .base = a[i], .len = 4096 };
		req_init(&r[i], VIO_BLK_STORAGE_READ, i * 4096, 4096, &iov[i], 1);
		rp[i] = &r[i];
	}
	tq_run(&t, rp, 8, 5000);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(r[i].res, -EIO);
	assert_int_equal(one(&t, VIO_BLK_STORAGE_WRITE, 0, 0, a[0], 4096, 5000), 0);
	vio_blk_storage_nbd_stats(&st, &ss);
	assert_int_equal(ss.disconnects, 0);
	close_nbd(&t, 1);
}

/* The server stalls reads for 3 s; the request timeout is 300 ms: the
 * reads end with -ETIMEDOUT in well under a second, the storage
 * reconnects, and a write (not delayed) then works. */
static void nbdkit_stall(void **state)
{
	(void)state;
	struct tq t;
	static uint8_t a[4][4096];
	struct vio_iov iov[4];
	struct vio_blk_storage_req r[4], *rp[4];
	struct vio_blk_nbd_stats ss;

	start_nbdkit("--filter=delay", "delay-read=3", NULL, NULL);
	open_nbd(300, 0);
	tq_open(&t, &st, 0, 4);
	for (unsigned i = 0; i < 4; i++) {
		iov[i] = (struct vio_iov){ .base = a[i], .len = 4096 };
		req_init(&r[i], VIO_BLK_STORAGE_READ, i * 4096, 4096, &iov[i], 1);
		rp[i] = &r[i];
	}
	uint64_t ms = tq_run(&t, rp, 4, 2500);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(r[i].res, -ETIMEDOUT);
	assert_true(ms >= 300 && ms < 1000);
	uint64_t start = ms_now();
	assert_int_equal(one(&t, VIO_BLK_STORAGE_WRITE, 0, 0, a[0], 4096, 2000), 0);
	vio_blk_storage_nbd_stats(&st, &ss);
	assert_int_equal(ss.timeouts, 4);
	assert_true(ss.disconnects >= 1);
	assert_true(ss.connects >= 2);
	assert_true(ms_now() - start < 1000);
	close_nbd(&t, 1);
}

/* The server dies with reads in flight: they fail at once (not after the
 * timeout); while it is away requests fail; it comes back on the same
 * socket and requests work again. */
static void nbdkit_disconnect(void **state)
{
	(void)state;
	struct tq t;
	static uint8_t a[4][4096];
	struct vio_iov iov[4];
	struct vio_blk_storage_req r[4], *rp[4];
	struct vio_blk_nbd_stats ss;

	start_nbdkit("--filter=delay", "delay-read=2", NULL, NULL);
	open_nbd(3000, 0);
	tq_open(&t, &st, 0, 4);
	for (unsigned i = 0; i < 4; i++) {
		iov[i] = (struct vio_iov){ .base = a[i], .len = 4096 };
		req_init(&r[i], VIO_BLK_STORAGE_READ, i * 4096, 4096, &iov[i], 1);
		rp[i] = &r[i];
	}
	uint64_t start = ms_now();
	st.ops->submit(t.q, rp, 4);
	st.ops->process(t.q);
	usleep(100000);
	stop_server();
	while (t.done < 4) {
		struct pollfd p = { .fd = st.ops->queue_fd(t.q), .events = POLLIN };
		if (ms_now() - start > 2500)
			fail_msg("reads still in flight 2.5 s after the server died");
		poll(&p, 1, 50);
		st.ops->process(t.q);
	}
	for (unsigned i = 0; i < 4; i++)
		assert_true(r[i].res < 0 && r[i].res != -ETIMEDOUT);
	assert_true(ms_now() - start < 1000);

	/* away: a request waits for the connection, then times out */
	int res = one(&t, VIO_BLK_STORAGE_WRITE, 0, 0, a[0], 4096, 5000);
	assert_int_equal(res, -ETIMEDOUT);

	/* back, on the same socket: within the backoff cap, I/O works */
	start_nbdkit(NULL, NULL, NULL, NULL);
	fill(a[1], 4096, 5);
	assert_int_equal(one(&t, VIO_BLK_STORAGE_WRITE, 0, 8192, a[1], 4096, 3000), 0);
	assert_int_equal(one(&t, VIO_BLK_STORAGE_READ, 0, 8192, a[2], 4096, 3000), 0);
	assert_memory_equal(a[1], a[2], 4096);
	vio_blk_storage_nbd_stats(&st, &ss);
	assert_true(ss.connects >= 2);
	assert_true(ss.disconnects >= 1);
	close_nbd(&t, 1);
}

/* The server restarts while no queue is open (a device reset, a frontend
 * gone): the next queue_open notices the closed connection and makes a
 * new one, so the first request after it works. */
static void idle_restart(void **state)
{
	(void)state;
	struct tq t;
	static uint8_t a[4096], b[4096];
	struct vio_blk_nbd_stats ss;

	start_nbdkit(NULL, NULL, NULL, NULL);
	open_nbd(2000, 0);
	tq_open(&t, &st, 0, 4);
	assert_int_equal(one(&t, VIO_BLK_STORAGE_READ, 0, 0, a, sizeof(a), 2000), 0);
	st.ops->queue_close(t.q);
	stop_server();
	start_nbdkit(NULL, NULL, NULL, NULL);
	tq_open(&t, &st, 0, 4);
	fill(a, sizeof(a), 3);
	assert_int_equal(one(&t, VIO_BLK_STORAGE_WRITE, 0, 0, a, sizeof(a), 2000), 0);
	assert_int_equal(one(&t, VIO_BLK_STORAGE_READ, 0, 0, b, sizeof(b), 2000), 0);
	assert_memory_equal(a, b, sizeof(a));
	vio_blk_storage_nbd_stats(&st, &ss);
	assert_int_equal(ss.connects, 2);
	close_nbd(&t, 1);
}

/* One connection shared by two queues on two threads (connections=1, as
 * without multi-conn): each queue gets exactly its own completions. */
struct worker { struct tq t; unsigned idx; int fails; };

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	static uint8_t bufs[2][16][4096], back[2][16][4096];
	struct vio_iov iov[16], riov[16];
	struct vio_blk_storage_req r[16], rr[16], *rp[16], *rrp[16];
	for (unsigned round = 0; round < 20; round++) {
		for (unsigned i = 0; i < 16; i++) {
			uint64_t off = ((uint64_t)w->idx * 16 + i) * 4096;
			fill(bufs[w->idx][i], 4096, round * 100 + w->idx * 16 + i);
			iov[i] = (struct vio_iov){ .base = bufs[w->idx][i], .len = 4096 };
			riov[i] = (struct vio_iov){ .base = back[w->idx][i], .len = 4096 };
			req_init(&r[i], VIO_BLK_STORAGE_WRITE, off, 4096, &iov[i], 1);
			req_init(&rr[i], VIO_BLK_STORAGE_READ, off, 4096, &riov[i], 1);
			rp[i] = &r[i];
			rrp[i] = &rr[i];
		}
		tq_run(&w->t, rp, 16, 10000);
		tq_run(&w->t, rrp, 16, 10000);
		for (unsigned i = 0; i < 16; i++)
			if (r[i].res || rr[i].res || memcmp(bufs[w->idx][i], back[w->idx][i], 4096)) {
				if (!w->fails)
					print_message("# queue %u round %u req %u: write %d read %d\n", w->idx,
						      round, i, r[i].res, rr[i].res);
				w->fails++;
			}
	}
	return NULL;
}

static void shared_conn_threads(void **state)
{
	(void)state;
	struct worker w[2];
	struct tq qs[2];
	pthread_t th[2];
	struct vio_blk_nbd_stats ss;

	start_nbdkit(NULL, NULL, NULL, NULL);
	open_nbd(5000, 1);
	vio_blk_storage_nbd_stats(&st, &ss);
	assert_int_equal(ss.conns, 1);
	for (unsigned i = 0; i < 2; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].idx = i;
		tq_open(&w[i].t, &st, i, 16);
	}
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	for (unsigned i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(w[i].fails, 0);
		assert_int_equal(w[i].t.done, 20 * 32);
		qs[i] = w[i].t;
	}
	vio_blk_storage_nbd_stats(&st, &ss);
	assert_int_equal(ss.connects, 1);
	close_nbd(qs, 2);
}

/* qemu-nbd on a raw and on a qcow2 file, two queues. */
static void qemu_nbd_fmt(const char *fmt)
{
	char img[128], cmd[512];
	struct tq qs[2];
	struct vio_blk_nbd_stats ss;

	if (!have("qemu-nbd") || !have("qemu-img"))
		fail_msg("qemu-nbd/qemu-img not found: install qemu-utils (scripts/deps.sh)");
	snprintf(img, sizeof(img), "%s/disk.%s", dir, fmt);
	snprintf(cmd, sizeof(cmd), "qemu-img create -q -f %s %s 32M", fmt, img);
	assert_int_equal(system(cmd), 0);
	char *argv[] = { "qemu-nbd", "-t", "-k", sock, "-f", (char *)fmt, img, NULL };
	start_argv(argv);
	open_nbd(5000, 0);
	assert_int_equal(st.size, 32u << 20);
	assert_false(st.read_only);
	vio_blk_storage_nbd_stats(&st, &ss);
	print_message("# qemu-nbd %s: multi-conn %s, caps %#x\n", fmt, ss.conns > 1 ? "yes" : "no",
		      (unsigned)st.caps);
	tq_open(&qs[0], &st, 0, NREQ);
	tq_open(&qs[1], &st, 1, NREQ);
	rw_depth(&qs[0]);
	rw_depth(&qs[1]);
	assert_int_equal(one(&qs[1], VIO_BLK_STORAGE_FLUSH, 0, 0, NULL, 0, 5000), 0);
	close_nbd(qs, 2);
	unlink(img);
}

static void qemu_nbd_raw(void **state)
{
	(void)state;
	qemu_nbd_fmt("raw");
}

static void qemu_nbd_qcow2(void **state)
{
	(void)state;
	qemu_nbd_fmt("qcow2");
}

/* Bad URIs and servers that never answer: errors, never a hang. */
static void open_errors(void **state)
{
	(void)state;
	struct vio_blk_nbd_opts o = { 0 };
	struct vio_blk_storage s;
	char u[256];

	assert_int_equal(vio_blk_storage_nbd_open(&s, &o), -EINVAL);
	assert_int_equal(vio_blk_storage_nbd_open(&s, NULL), -EINVAL);
	o.uri = "nbd+unix:///?socket=/nonexistent/sock";
	o.connect_timeout_ms = 1000;
	assert_true(vio_blk_storage_nbd_open(&s, &o) < 0);
	o.uri = "not a uri";
	assert_true(vio_blk_storage_nbd_open(&s, &o) < 0);
	o.uri = "nbd+unix:///?socket=x";
	o.reconnect_min_ms = 100;
	o.reconnect_max_ms = 10;
	assert_int_equal(vio_blk_storage_nbd_open(&s, &o), -EINVAL);

	/* a socket that listens but never speaks: -ETIMEDOUT after 300 ms */
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unlink(sock);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	uri(u, sizeof(u));
	memset(&o, 0, sizeof(o));
	o.uri = u;
	o.connect_timeout_ms = 300;
	uint64_t start = ms_now();
	assert_int_equal(vio_blk_storage_nbd_open(&s, &o), -ETIMEDOUT);
	assert_true(ms_now() - start < 1000);
	close(lfd);
	unlink(sock);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/vio-nbd-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/nbd.sock", dir);
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(open_errors, teardown),
		cmocka_unit_test_teardown(nbdkit_geometry, teardown),
		cmocka_unit_test_teardown(nbdkit_rw, teardown),
		cmocka_unit_test_teardown(nbdkit_flush_trim_zero, teardown),
		cmocka_unit_test_teardown(nbdkit_read_only, teardown),
		cmocka_unit_test_teardown(nbdkit_errors, teardown),
		cmocka_unit_test_teardown(nbdkit_stall, teardown),
		cmocka_unit_test_teardown(nbdkit_disconnect, teardown),
		cmocka_unit_test_teardown(idle_restart, teardown),
		cmocka_unit_test_teardown(shared_conn_threads, teardown),
		cmocka_unit_test_teardown(qemu_nbd_raw, teardown),
		cmocka_unit_test_teardown(qemu_nbd_qcow2, teardown),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(dir);
	return r;
}
