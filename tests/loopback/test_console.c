/*
 * test_console.c - the console driver against the console device over the
 * loopback transport, with pipes or a socketpair as the device's backend.
 *
 * Every test runs once per variant: direct mode (the device runs inside
 * the driver's kick; the test itself plays the host and the device's
 * owner, pumping fds without blocking) and threaded mode (a device thread
 * polls the kick eventfd and the backend fds as the device asks; a host
 * thread feeds and drains the other ends; the driver blocks), times each
 * ring layout, EVENT_IDX off/on and INDIRECT_DESC off/on, plus a legacy
 * (no VERSION_1) row and IN_ORDER rows. main() expands tests x variants
 * into one cmocka group, one TAP line each.
 *
 * Groups:
 *   streams        bytes both ways, 1 MiB checked byte for byte, over pipes
 *                  and a socketpair; backpressure; input before the driver;
 *                  the input callback (an echo); EOF; a dead output
 *   config         SIZE, EMERG_WRITE (also before the driver is there),
 *                  read-only fields
 *   lifecycle      remove while output is blocked, rebind
 *   malformed      buffers crafted with the raw ring API by a stand-in
 *                  driver: pointing the wrong way, mixed, zero-length,
 *                  chains as long as the ring
 *   split-specific a hostile avail index written into the shared ring
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "layouts.h"

#include "heap.h"

#include "vio/devices.h"
#include "vio/drivers.h"
#include "vio/transport.h"

/* ======================================================================== */
/* Variants                                                                 */

/* The ring layouts: tests/lib/layouts.h. */

struct variant {
	bool threaded;
	bool legacy;            /* the driver does not take VERSION_1 */
	uint64_t features;      /* ring features the device offers */
	unsigned queue_size;    /* the driver's choice; 0: the device's */
	char name[64];
};

#define MAX_VARIANTS 32
static struct variant variants[MAX_VARIANTS];
static size_t nvariants;

static void add_variant(bool threaded, const struct layout *l, uint64_t extra, bool legacy,
			unsigned queue_size, const char *tag)
{
	struct variant *v = &variants[nvariants++];

	v->threaded = threaded;
	v->legacy = legacy;
	v->features = l->features | extra;
	v->queue_size = queue_size;
	snprintf(v->name, sizeof(v->name), "%s/%s%s%s%s", threaded ? "threaded" : "direct", l->name,
		 vio_has_feature(extra, VIO_F_EVENT_IDX) ? "/evidx" : "",
		 vio_has_feature(extra, VIO_F_INDIRECT_DESC) ? "/indirect" : "", tag);
}

static void build_variants(void)
{
	const uint64_t ev = VIO_BIT(VIO_F_EVENT_IDX), ind = VIO_BIT(VIO_F_INDIRECT_DESC);

	const uint64_t in_order = VIO_BIT(VIO_F_IN_ORDER);

	for (int t = 0; t < 2; t++) {
		for (size_t l = 0; l < sizeof(layouts) / sizeof(layouts[0]); l++) {
			for (unsigned axes = 0; axes < 4; axes++) {
				uint64_t f = ((axes & 1) ? ev : 0) | ((axes & 2) ? ind : 0);

				add_variant(t, &layouts[l], f, false, 0, "");
			}
		}
		add_variant(t, &layouts[0], ev | ind, true, 0, "/legacy");
		add_variant(t, &layouts[0], ev | ind | in_order, false, 0, "/in_order");
		/* A packed queue need not be a power of two. */
		add_variant(t, &layouts[1], ev | ind | in_order, false, 100, "/in_order/q100");
	}
}

static bool is_packed(const struct variant *v)
{
	return vio_has_feature(v->features, VIO_F_RING_PACKED);
}

/* ======================================================================== */
/* Environment                                                              */

#define ARENA_BYTES (4u << 20)
#define WAIT_MS 20000
#define SEGS 4u                 /* segments per driver buffer */
#define MIB (1u << 20)
#define EMERG_OFF offsetof(struct vio_console_config, emerg_wr)

enum backend { PIPES, SOCKETPAIR };

/* How a test wants its environment built. */
struct start {
	enum backend backend;
	bool raw;               /* bind the stand-in driver, not the console driver */
	bool defer_bind;        /* do not add the device to the bus yet */
	uint16_t cols, rows;
	bool emerg;
	int out_pipe_size;      /* 0: the default */
	void (*on_input)(struct vio_drv_device *dev, void *opaque);
};

struct env {
	const struct variant *v;
	struct vio_console_dev con;
	struct vio_loopback lb;
	struct vio_bus bus;
	struct vio_console_driver drv;
	bool lb_live, dev_added;

	/* Backend: the device's ends and the host's ends (the same fd on
	 * both sides for a socketpair). */
	int dev_in, dev_out, host_in, host_out;

	/* The stand-in driver of the malformed tests: queues, nothing else. */
	struct vio_driver raw;
	uint32_t raw_ids[2];
	struct vio_drv_vq raw_vqs[2];

	pthread_t thread;
	int stop_fd;
	bool thread_live;

	pthread_mutex_t log_lock;
	unsigned nlogs;
	char last_log[200];

	unsigned inputs;        /* on_input calls */
	size_t echoed;
};

#define DEV(e) (&(e)->lb.vdev)

/* The loopback lock serialises the device with kick dispatch and the
 * control plane: held around every call into the device from here. */
static void lock(struct env *e)
{
	vio_loopback_lock(&e->lb);
}

static void unlock(struct env *e)
{
	vio_loopback_unlock(&e->lb);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void capture_log(void *opaque, enum vio_log_level level, const char *msg)
{
	struct env *e = opaque;

	(void)level;
	pthread_mutex_lock(&e->log_lock);
	e->nlogs++;
	snprintf(e->last_log, sizeof(e->last_log), "%s", msg);
	pthread_mutex_unlock(&e->log_lock);
}

static bool logged(struct env *e, const char *needle)
{
	bool r;

	pthread_mutex_lock(&e->log_lock);
	r = e->nlogs && strstr(e->last_log, needle);
	pthread_mutex_unlock(&e->log_lock);
	return r;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Adds fd to a poll set, merging with an entry for the same fd. */
static void poll_add(struct pollfd *p, unsigned *n, int fd, short events)
{
	for (unsigned i = 0; i < *n; i++) {
		if (p[i].fd == fd) {
			p[i].events |= events;
			return;
		}
	}
	p[*n] = (struct pollfd){ fd, events, 0 };
	(*n)++;
}

static short revents_of(const struct pollfd *p, unsigned n, int fd)
{
	for (unsigned i = 0; i < n; i++)
		if (p[i].fd == fd)
			return p[i].revents;
	return 0;
}

/* The device's owner in threaded mode: kicks, and the backend fds the
 * device asks to be watched. */
static void *device_thread(void *arg)
{
	struct env *e = arg;

	for (;;) {
		struct pollfd p[4];
		unsigned n = 0;
		bool wi, wo;
		short rin, rout;

		lock(e);
		wi = vio_console_dev_wants_input(&e->con);
		wo = vio_console_dev_wants_output(&e->con);
		unlock(e);
		poll_add(p, &n, e->lb.kick_fd, POLLIN);
		poll_add(p, &n, e->stop_fd, POLLIN);
		if (wi)
			poll_add(p, &n, e->dev_in, POLLIN);
		if (wo)
			poll_add(p, &n, e->dev_out, POLLOUT);
		if (poll(p, n, -1) < 0)
			continue;
		if (revents_of(p, n, e->stop_fd))
			return NULL;
		if (revents_of(p, n, e->lb.kick_fd))
			vio_loopback_device_dispatch(&e->lb);
		rin = wi ? revents_of(p, n, e->dev_in) : 0;
		rout = wo ? revents_of(p, n, e->dev_out) : 0;
		lock(e);
		if (rin & (POLLIN | POLLHUP | POLLERR))
			vio_console_dev_input_ready(&e->con);
		if (rout & (POLLOUT | POLLHUP | POLLERR))
			vio_console_dev_output_ready(&e->con);
		unlock(e);
	}
}

/* Direct mode: what the device thread would do, once, without waiting. */
static void owner_step(struct env *e)
{
	lock(e);
	if (vio_console_dev_wants_output(&e->con))
		vio_console_dev_output_ready(&e->con);
	if (vio_console_dev_wants_input(&e->con))
		vio_console_dev_input_ready(&e->con);
	unlock(e);
}

static int env_setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	if (!e)
		return -1;
	e->v = *state;
	e->stop_fd = e->dev_in = e->dev_out = e->host_in = e->host_out = -1;
	pthread_mutex_init(&e->log_lock, NULL);
	*state = e;
	return 0;
}

static void remove_device(struct env *e)
{
	if (e->dev_added)
		vio_bus_remove_device(&e->bus, DEV(e));
	e->dev_added = false;
}

static void stop_thread(struct env *e)
{
	uint64_t one = 1;

	if (!e->thread_live)
		return;
	if (write(e->stop_fd, &one, sizeof(one)) != sizeof(one))
		abort();
	pthread_join(e->thread, NULL);
	e->thread_live = false;
}

static int env_teardown(void **state)
{
	struct env *e = *state;

	remove_device(e);
	stop_thread(e);
	close_fd(&e->stop_fd);
	if (e->lb_live)
		vio_loopback_fini(&e->lb);
	vio_console_dev_fini(&e->con);
	if (e->host_in == e->host_out)
		e->host_out = -1;
	if (e->dev_in == e->dev_out)
		e->dev_out = -1;
	close_fd(&e->dev_in);
	close_fd(&e->dev_out);
	close_fd(&e->host_in);
	close_fd(&e->host_out);
	pthread_mutex_destroy(&e->log_lock);
	free(e);
	return 0;
}

static void make_backend(struct env *e, const struct start *s)
{
	int in[2], out[2];

	if (s->backend == SOCKETPAIR) {
		const int type = SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC;

		assert_int_equal(socketpair(AF_UNIX, type, 0, in), 0);
		e->dev_in = e->dev_out = in[0];
		e->host_in = e->host_out = in[1];
		return;
	}
	assert_int_equal(pipe2(in, O_NONBLOCK | O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_NONBLOCK | O_CLOEXEC), 0);
	e->dev_in = in[0];
	e->host_in = in[1];
	e->dev_out = out[1];
	e->host_out = out[0];
	if (s->out_pipe_size)
		assert_true(fcntl(e->dev_out, F_SETPIPE_SZ, s->out_pipe_size) >= s->out_pipe_size);
}

static int raw_probe(struct vio_drv_device *dev)
{
	struct env *e = (struct env *)((char *)dev->driver - offsetof(struct env, raw));
	struct vio_drv_vq_info info[2] = {
		{ .indirect_max = 8, .size = e->v->queue_size },
		{ .indirect_max = 8, .size = e->v->queue_size },
	};

	return vio_drv_find_vqs(dev, 2, info, e->raw_vqs);
}

static void raw_remove(struct vio_drv_device *dev)
{
	vio_drv_reset(dev);
	for (unsigned qi = 0; qi < 2; qi++)
		while (vio_drvq_detach_unused(&dev->vqs[qi].q))
			;
	vio_drv_del_vqs(dev);
}

static void add_device(struct env *e)
{
	assert_int_equal(vio_bus_add_device(&e->bus, DEV(e)), 0);
	e->dev_added = true;
	assert_ptr_equal(DEV(e)->driver, e->raw.probe ? &e->raw : &e->drv.drv);
	assert_int_equal(DEV(e)->legacy, e->v->legacy);
	assert_int_equal(vio_drv_has_feature(DEV(e), VIO_F_RING_PACKED), is_packed(e->v));
}

static void env_start_with(struct env *e, const struct start *s)
{
	struct vio_console_dev_opts o = {
		.features = e->v->features, .legacy_ok = true,
		.cols = s->cols, .rows = s->rows, .emerg_write = s->emerg,
	};
	struct vio_console_drv_opts dopts = {
		.queue_size = e->v->queue_size, .segs = SEGS, .on_input = s->on_input, .opaque = e,
	};

	make_backend(e, s);
	o.in_fd = e->dev_in;
	o.out_fd = e->dev_out;
	assert_int_equal(vio_console_dev_init(&e->con, &o), 0);
	e->con.dev.log = capture_log;
	e->con.dev.log_opaque = e;
	assert_int_equal(vio_loopback_init(&e->lb, &e->con.dev, ARENA_BYTES, e->v->threaded), 0);
	e->lb_live = true;
	vio_bus_init(&e->bus, vt_heap_alloc, vt_heap_free, NULL);
	if (e->v->threaded) {
		e->stop_fd = eventfd(0, EFD_CLOEXEC);
		assert_true(e->stop_fd >= 0);
		assert_int_equal(pthread_create(&e->thread, NULL, device_thread, e), 0);
		e->thread_live = true;
	}
	if (e->v->legacy)
		dopts.features_off = VIO_BIT(VIO_F_VERSION_1);
	assert_int_equal(vio_console_drv_register(&e->bus, &e->drv, &dopts), 0);
	if (s->raw) {
		/* The stand-in takes the console driver's feature tables, and
		 * its place on the bus (no device is there yet). */
		vio_console_drv_unregister(&e->bus, &e->drv);
		e->raw_ids[0] = VIO_ID_CONSOLE;
		e->raw.name = "raw";
		e->raw.ids = e->raw_ids;
		e->raw.features = e->drv.drv.features;
		e->raw.legacy_features = e->drv.drv.legacy_features;
		e->raw.probe = raw_probe;
		e->raw.remove = raw_remove;
		assert_int_equal(vio_bus_register_driver(&e->bus, &e->raw), 0);
	}
	if (!s->defer_bind)
		add_device(e);
}

static void env_start(struct env *e)
{
	static const struct start pipes;

	env_start_with(e, &pipes);
}

static struct vio_console_dev_stats dev_stats(struct env *e)
{
	struct vio_console_dev_stats s;

	lock(e);
	s = e->con.stats;
	unlock(e);
	return s;
}

static uint8_t dev_status(struct env *e)
{
	uint8_t s;

	lock(e);
	s = vio_dev_get_status(&e->con.dev);
	unlock(e);
	return s;
}

/* Waits until pred(e) holds, letting the device (direct mode) and the
 * driver make progress meanwhile. */
static bool eventually(struct env *e, bool (*pred)(struct env *e))
{
	const int64_t end = now_ms() + WAIT_MS;

	while (!pred(e)) {
		if (now_ms() >= end)
			return false;
		if (!e->v->threaded)
			owner_step(e);
		(void)vio_drv_wait(DEV(e), 2);
		if (DEV(e)->driver == &e->drv.drv)
			vio_console_drv_poll(DEV(e));
	}
	return true;
}

static bool wants_output(struct env *e)
{
	bool r;

	lock(e);
	r = vio_console_dev_wants_output(&e->con);
	unlock(e);
	return r;
}

static bool input_stopped(struct env *e)
{
	bool r;

	lock(e);
	r = !vio_console_dev_wants_input(&e->con);
	unlock(e);
	return r && logged(e, "end of input");
}

/* All 16 receive buffers came back filled, and the driver has them. */
static bool all_rx_buffers_full(struct env *e)
{
	struct vio_console_dev_stats st = dev_stats(e);

	return st.rx_bufs == 16 && vio_console_drv_readable(DEV(e)) == st.rx_bytes;
}

/* ======================================================================== */
/* Streams: the host ends, and a transfer engine for both modes             */

struct xfer {
	/* host -> driver */
	const uint8_t *in;
	size_t in_len, host_sent, drv_got;
	uint8_t *drv_buf;
	/* driver -> host */
	const uint8_t *out;
	size_t out_len, drv_sent, host_got;
	uint8_t *host_buf;
	struct env *e;
	bool host_failed;
};

static void pattern(uint8_t *p, size_t n, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(x >> 16);
	}
}

/* One non-blocking round of the host's I/O. */
static void host_step(struct xfer *x)
{
	struct env *e = x->e;
	ssize_t n;

	if (x->host_sent < x->in_len) {
		n = write(e->host_in, x->in + x->host_sent, x->in_len - x->host_sent);
		if (n > 0)
			x->host_sent += (size_t)n;
		else if (n < 0 && errno != EAGAIN)
			x->host_failed = true;
	}
	if (x->host_got < x->out_len) {
		n = read(e->host_out, x->host_buf + x->host_got, x->out_len - x->host_got);
		if (n > 0)
			x->host_got += (size_t)n;
		else if (n == 0 || errno != EAGAIN)
			x->host_failed = true;
	}
}

static bool host_done(const struct xfer *x)
{
	return x->host_sent == x->in_len && x->host_got == x->out_len;
}

static void *host_thread(void *arg)
{
	struct xfer *x = arg;
	const int64_t end = now_ms() + WAIT_MS;

	while (!host_done(x) && !x->host_failed && now_ms() < end) {
		struct pollfd p[2];
		unsigned n = 0;

		if (x->host_sent < x->in_len)
			poll_add(p, &n, x->e->host_in, POLLOUT);
		if (x->host_got < x->out_len)
			poll_add(p, &n, x->e->host_out, POLLIN);
		(void)poll(p, n, 10);
		host_step(x);
	}
	return NULL;
}

static void xfer_init(struct xfer *x, struct env *e, size_t in_len, size_t out_len)
{
	memset(x, 0, sizeof(*x));
	x->e = e;
	x->in_len = in_len;
	x->out_len = out_len;
	x->in = malloc(in_len + 1);
	x->drv_buf = calloc(1, in_len + 1);
	x->out = malloc(out_len + 1);
	x->host_buf = calloc(1, out_len + 1);
	pattern((uint8_t *)x->in, in_len, 1);
	pattern((uint8_t *)x->out, out_len, 2);
}

static void xfer_free(struct xfer *x)
{
	free((void *)x->in);
	free(x->drv_buf);
	free((void *)x->out);
	free(x->host_buf);
}

static bool xfer_done(const struct xfer *x)
{
	return host_done(x) && x->drv_sent == x->out_len && x->drv_got == x->in_len;
}

/* The driver's side of a transfer: write or read what is left. */
static ssize_t drv_write_rest(struct xfer *x, int timeout_ms)
{
	ssize_t n = vio_console_drv_write(DEV(x->e), x->out + x->drv_sent,
					  x->out_len - x->drv_sent, timeout_ms);

	if (n > 0)
		x->drv_sent += (size_t)n;
	return n;
}

static ssize_t drv_read_rest(struct xfer *x, int timeout_ms)
{
	ssize_t n = vio_console_drv_read(DEV(x->e), x->drv_buf + x->drv_got,
					 x->in_len - x->drv_got, timeout_ms);

	if (n > 0)
		x->drv_got += (size_t)n;
	return n;
}

/* Direct mode: the test is host, device owner and driver in turn. */
static void run_direct(struct xfer *x)
{
	struct env *e = x->e;
	const int64_t end = now_ms() + WAIT_MS;
	ssize_t n;

	while (!xfer_done(x)) {
		assert_true(now_ms() < end);
		assert_false(x->host_failed);
		if (x->drv_sent < x->out_len) {
			n = drv_write_rest(x, 0);
			assert_true(n > 0 || n == -EAGAIN);
		}
		if (x->drv_got < x->in_len) {
			n = drv_read_rest(x, 0);
			assert_true(n > 0 || n == -EAGAIN);
		}
		host_step(x);
		owner_step(e);
	}
}

/* Threaded mode: a host thread, and the driver blocking here. */
static void run_threaded(struct xfer *x)
{
	pthread_t host;
	ssize_t n;

	assert_int_equal(pthread_create(&host, NULL, host_thread, x), 0);
	if (x->drv_sent < x->out_len)
		(void)drv_write_rest(x, WAIT_MS);
	do {
		n = x->drv_got < x->in_len ? drv_read_rest(x, WAIT_MS) : 0;
	} while (n > 0);
	pthread_join(host, NULL);
	assert_false(x->host_failed);
	assert_int_equal(x->drv_sent, x->out_len);
	assert_int_equal(x->drv_got, x->in_len);
	assert_true(host_done(x));
}

/* Nothing more than expected came out on the host side. */
static void assert_no_more_output(struct env *e)
{
	uint8_t b;

	assert_int_equal(read(e->host_out, &b, 1), -1);
	assert_int_equal(errno, EAGAIN);
}

/* Runs the transfer to the end, then checks every byte both ways. */
static void xfer_run(struct xfer *x)
{
	struct env *e = x->e;

	if (e->v->threaded)
		run_threaded(x);
	else
		run_direct(x);
	assert_int_equal(vio_console_drv_flush(DEV(e), WAIT_MS), 0);
	assert_memory_equal(x->drv_buf, x->in, x->in_len);
	assert_memory_equal(x->host_buf, x->out, x->out_len);
	assert_no_more_output(e);
	assert_int_equal(vio_console_drv_readable(DEV(e)), 0);
}

static void transfer(struct env *e, size_t in_len, size_t out_len)
{
	struct xfer x;

	xfer_init(&x, e, in_len, out_len);
	xfer_run(&x);
	assert_int_equal(dev_stats(e).rx_bytes, in_len);
	assert_int_equal(dev_stats(e).tx_bytes, out_len);
	xfer_free(&x);
}

/* Writes all of s to the host's input end (it fits in the pipe). */
static void host_write(struct env *e, const char *s)
{
	assert_int_equal(write(e->host_in, s, strlen(s)), (ssize_t)strlen(s));
}

/* Reads exactly strlen(want) bytes from the host's output end. */
static void host_expect(struct env *e, const char *want)
{
	const int64_t end = now_ms() + WAIT_MS;
	struct xfer x;

	memset(&x, 0, sizeof(x));
	x.e = e;
	x.out_len = strlen(want);
	x.host_buf = calloc(1, x.out_len + 1);
	while (!host_done(&x)) {
		struct pollfd p = { e->host_out, POLLIN, 0 };

		assert_true(now_ms() < end);
		if (!e->v->threaded)
			owner_step(e);
		(void)poll(&p, 1, 5);
		host_step(&x);
		assert_false(x.host_failed);
	}
	assert_string_equal((char *)x.host_buf, want);
	free(x.host_buf);
}

/* Reads exactly strlen(want) bytes through the driver. */
static void driver_expect(struct env *e, const char *want)
{
	size_t n = strlen(want), got = 0;
	char *buf = calloc(1, n + 1);
	const int64_t end = now_ms() + WAIT_MS;

	while (got < n) {
		const int timeout = e->v->threaded ? WAIT_MS : 0;
		ssize_t r = vio_console_drv_read(DEV(e), buf + got, n - got, timeout);

		assert_true(now_ms() < end);
		if (r == -EAGAIN) {
			owner_step(e);
			continue;
		}
		assert_true(r > 0);
		got += (size_t)r;
	}
	assert_string_equal(buf, want);
	free(buf);
}

/* ======================================================================== */
/* Streams                                                                  */

static void test_write_small(void **state)
{
	struct env *e = *state;

	env_start(e);
	assert_int_equal(vio_console_drv_write(DEV(e), "hello, console", 14, WAIT_MS), 14);
	host_expect(e, "hello, console");
	assert_int_equal(vio_console_drv_flush(DEV(e), WAIT_MS), 0);
	assert_no_more_output(e);
}

static void test_read_small(void **state)
{
	struct env *e = *state;

	env_start(e);
	host_write(e, "hello, driver");
	driver_expect(e, "hello, driver");
	assert_int_equal(vio_console_drv_readable(DEV(e)), 0);
}

static void test_zero_length_calls(void **state)
{
	struct env *e = *state;
	char b = 'x';

	env_start(e);
	assert_int_equal(vio_console_drv_write(DEV(e), &b, 0, 0), 0);
	assert_int_equal(vio_console_drv_read(DEV(e), &b, 0, 0), 0);
	assert_int_equal(b, 'x');
	assert_int_equal(dev_stats(e).tx_bufs, 0);
}

static void test_read_timeout(void **state)
{
	struct env *e = *state;
	char b[4];
	int64_t t0;

	env_start(e);
	assert_int_equal(vio_console_drv_read(DEV(e), b, sizeof(b), 0), -EAGAIN);
	t0 = now_ms();
	assert_int_equal(vio_console_drv_read(DEV(e), b, sizeof(b), 30), -ETIMEDOUT);
	assert_true(now_ms() - t0 >= 30);
}

static void test_to_host_1mib(void **state)
{
	struct env *e = *state;

	env_start(e);
	transfer(e, 0, MIB);
}

static void test_from_host_1mib(void **state)
{
	struct env *e = *state;

	env_start(e);
	transfer(e, MIB, 0);
}

static void test_both_ways_1mib(void **state)
{
	struct env *e = *state;

	env_start(e);
	transfer(e, MIB, MIB);
}

static void test_both_ways_1mib_socketpair(void **state)
{
	struct env *e = *state;
	const struct start s = { .backend = SOCKETPAIR };

	env_start_with(e, &s);
	transfer(e, MIB, MIB);
}

/* out_fd takes 4 KiB at a time and the host does not read at first: the
 * device must keep the transmit buffer it could not finish, ask for
 * POLLOUT, and lose nothing once the host reads. */
static void test_output_backpressure(void **state)
{
	struct env *e = *state;
	const struct start s = { .out_pipe_size = 4096 };
	struct xfer x;
	ssize_t n;

	env_start_with(e, &s);
	xfer_init(&x, e, 0, 256 * 1024);
	n = vio_console_drv_write(DEV(e), x.out, x.out_len, 50);
	assert_true(n > 0);
	assert_true((size_t)n < x.out_len); /* the transmit buffers ran out */
	x.drv_sent = (size_t)n;
	assert_true(eventually(e, wants_output));
	assert_int_equal(vio_console_drv_flush(DEV(e), 0), -ETIMEDOUT);
	assert_true(dev_stats(e).tx_blocked > 0);
	xfer_run(&x);
	assert_false(wants_output(e));
	xfer_free(&x);
}

/* Bytes the host sent before any driver existed arrive once it does. */
static void test_input_before_driver(void **state)
{
	struct env *e = *state;
	const struct start s = { .defer_bind = true };

	env_start_with(e, &s);
	host_write(e, "early bird");
	lock(e);
	vio_console_dev_input_ready(&e->con); /* not live: must leave the bytes */
	assert_false(vio_console_dev_wants_input(&e->con));
	unlock(e);
	assert_int_equal(dev_stats(e).rx_bytes, 0);
	add_device(e);
	driver_expect(e, "early bird");
}

/* The driver stops reading: its buffers fill, the device stops taking
 * input, and the rest waits in the pipe until the driver reads again. */
static void test_input_waits_for_buffers(void **state)
{
	struct env *e = *state;
	struct xfer x;

	env_start(e);
	xfer_init(&x, e, 256 * 1024, 0);
	while (x.host_sent < x.in_len) {
		ssize_t k = write(e->host_in, x.in + x.host_sent, x.in_len - x.host_sent);

		if (k <= 0)
			break;
		x.host_sent += (size_t)k;
	}
	assert_true(x.host_sent < x.in_len); /* the pipe is full */
	/* All 16 receive buffers come back filled and unread; then the device
	 * stops reading, and the rest stays in the pipe. */
	assert_true(eventually(e, all_rx_buffers_full));
	assert_int_equal(vio_console_drv_readable(DEV(e)), dev_stats(e).rx_bytes);
	assert_true(dev_stats(e).rx_bytes <= 16 * 4096);
	lock(e);
	assert_false(vio_console_dev_wants_input(&e->con));
	unlock(e);
	assert_int_equal(dev_stats(e).rx_bufs, 16);
	xfer_run(&x);
	xfer_free(&x);
}

/* on_input runs on the driver's thread and may read and write: an echo. */
static void echo_input(struct vio_drv_device *dev, void *opaque)
{
	struct env *e = opaque;
	char buf[64];
	ssize_t n;

	e->inputs++;
	while ((n = vio_console_drv_read(dev, buf, sizeof(buf), 0)) > 0) {
		if (vio_console_drv_write(dev, buf, (size_t)n, WAIT_MS) == n)
			e->echoed += (size_t)n;
	}
}

static void test_input_callback_echo(void **state)
{
	struct env *e = *state;
	const struct start s = { .on_input = echo_input };
	const int64_t end = now_ms() + WAIT_MS;

	env_start_with(e, &s);
	host_write(e, "ping?");
	while (e->echoed < 5) {
		assert_true(now_ms() < end);
		if (!e->v->threaded)
			owner_step(e);
		(void)vio_drv_wait(DEV(e), 5);
		vio_console_drv_poll(DEV(e));
	}
	host_expect(e, "ping?");
	assert_true(e->inputs >= 1);
}

/* The host closes its end: the bytes before EOF arrive, then input stops
 * for good, and the device says so instead of spinning on a dead fd. */
static void test_input_eof(void **state)
{
	struct env *e = *state;
	char b[8];

	env_start(e);
	host_write(e, "bye");
	close_fd(&e->host_in);
	driver_expect(e, "bye");
	assert_true(eventually(e, input_stopped));
	assert_true(logged(e, "end of input"));
	assert_int_equal(vio_console_drv_read(DEV(e), b, sizeof(b), 20), -ETIMEDOUT);
}

/* The reader of out_fd is gone: output is discarded after a logged error,
 * and the driver's writes and flush still complete. */
static void test_output_dead(void **state)
{
	struct env *e = *state;
	static uint8_t junk[10000];

	env_start(e);
	close_fd(&e->host_out);
	assert_int_equal(vio_console_drv_write(DEV(e), junk, sizeof(junk), WAIT_MS), sizeof(junk));
	assert_int_equal(vio_console_drv_flush(DEV(e), WAIT_MS), 0);
	assert_true(logged(e, "writing output failed"));
	assert_int_equal(dev_stats(e).tx_bytes, sizeof(junk));
	assert_false(dev_status(e) & VIO_STATUS_NEEDS_RESET);
}

/* ======================================================================== */
/* Config space                                                             */

static void test_size(void **state)
{
	struct env *e = *state;
	const struct start s = { .cols = 80, .rows = 25 };
	uint16_t cols = 0, rows = 0;
	vio_le16 first;
	uint32_t gen;

	env_start_with(e, &s);
	assert_true(vio_drv_has_feature(DEV(e), VIO_CONSOLE_F_SIZE));
	assert_int_equal(vio_console_drv_get_size(DEV(e), &cols, &rows), 0);
	assert_int_equal(cols, 80);
	assert_int_equal(rows, 25);
	/* The spec's order: rows first. */
	assert_int_equal(vio_drv_config_read(DEV(e), 0, &first, sizeof(first)), 0);
	assert_int_equal(vio_get16(DEV(e)->legacy, first), 25);

	lock(e);
	gen = vio_dev_config_generation(&e->con.dev);
	assert_int_equal(vio_console_dev_set_size(&e->con, 132, 43), 0);
	assert_int_equal(vio_dev_config_generation(&e->con.dev), gen + 1);
	assert_int_equal(vio_console_dev_set_size(&e->con, 0, 43), -EINVAL);
	unlock(e);
	assert_int_equal(vio_console_drv_get_size(DEV(e), &cols, &rows), 0);
	assert_int_equal(cols, 132);
	assert_int_equal(rows, 43);
}

static void test_no_optional_features(void **state)
{
	struct env *e = *state;
	uint16_t cols, rows;

	env_start(e);
	assert_false(vio_drv_has_feature(DEV(e), VIO_CONSOLE_F_SIZE));
	assert_false(vio_drv_has_feature(DEV(e), VIO_CONSOLE_F_EMERG_WRITE));
	assert_false(vio_drv_has_feature(DEV(e), VIO_CONSOLE_F_MULTIPORT));
	assert_int_equal(vio_console_drv_get_size(DEV(e), &cols, &rows), -ENOTSUP);
	assert_int_equal(vio_console_drv_emerg_write(DEV(e), '!'), -ENOTSUP);
	lock(e);
	assert_int_equal(vio_console_dev_set_size(&e->con, 10, 10), -ENOTSUP);
	unlock(e);
}

static void test_emerg_write(void **state)
{
	struct env *e = *state;
	const struct start s = { .emerg = true };
	vio_le32 back;

	env_start_with(e, &s);
	assert_int_equal(vio_console_drv_emerg_write(DEV(e), '!'), 0);
	host_expect(e, "!");
	assert_int_equal(dev_stats(e).emerg_bytes, 1);
	assert_int_equal(vio_drv_config_read(DEV(e), EMERG_OFF, &back, sizeof(back)), 0);
	assert_int_equal(vio_get32(DEV(e)->legacy, back), 0);
}

/* 5.3.5.1: emerg_wr works on a device no driver has set up. */
static void test_emerg_write_unconfigured(void **state)
{
	struct env *e = *state;
	const struct start s = { .emerg = true, .defer_bind = true };
	vio_le32 v = vio_cpu_to_le32('#');

	env_start_with(e, &s);
	lock(e);
	assert_int_equal(vio_dev_get_status(&e->con.dev), 0);
	assert_int_equal(vio_dev_config_write(&e->con.dev, EMERG_OFF, &v, sizeof(v)), 0);
	unlock(e);
	host_expect(e, "#");
}

/* Fields other than emerg_wr cannot be changed by the driver: a write
 * over them is refused whole (emerg_wr's part too), nothing changes. */
static void test_config_read_only(void **state)
{
	struct env *e = *state;
	const struct start s = { .cols = 80, .rows = 25, .emerg = true };
	uint8_t junk[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint16_t cols, rows;
	vio_le32 ports;

	env_start_with(e, &s);
	assert_int_equal(vio_drv_config_write(DEV(e), 0, junk, sizeof(junk)), -EPERM);
	assert_int_equal(vio_drv_config_write(DEV(e), 6, junk, 4), -EPERM); /* straddles emerg_wr */
	assert_int_equal(vio_console_drv_get_size(DEV(e), &cols, &rows), 0);
	assert_int_equal(cols, 80);
	assert_int_equal(rows, 25);
	assert_int_equal(vio_drv_config_read(DEV(e),
					     offsetof(struct vio_console_config, max_nr_ports),
					     &ports, sizeof(ports)), 0);
	assert_int_equal(vio_get32(DEV(e)->legacy, ports), 1);
	assert_int_equal(dev_stats(e).emerg_bytes, 0); /* emerg_wr was not touched */
}

/* ======================================================================== */
/* Lifecycle                                                                */

/* Removing the driver while the device holds a half-written transmit
 * buffer: nothing hangs, the device forgets the buffer. */
static void test_remove_while_blocked(void **state)
{
	struct env *e = *state;
	const struct start s = { .out_pipe_size = 4096 };
	static uint8_t data[64 * 1024];

	env_start_with(e, &s);
	assert_true(vio_console_drv_write(DEV(e), data, sizeof(data), 50) > 0);
	assert_true(eventually(e, wants_output));
	remove_device(e);
	assert_false(wants_output(e));
	lock(e);
	assert_false(vio_console_dev_wants_input(&e->con));
	vio_console_dev_output_ready(&e->con); /* harmless now */
	unlock(e);
}

static void test_rebind(void **state)
{
	struct env *e = *state;

	env_start(e);
	transfer(e, 1000, 1000);
	vio_drv_unbind(DEV(e));
	assert_int_equal(vio_console_drv_write(DEV(e), "x", 1, 0), -ENODEV);
	assert_int_equal(vio_drv_bind(DEV(e)), 0);
	assert_ptr_equal(DEV(e)->driver, &e->drv.drv);
	assert_int_equal(vio_console_drv_write(DEV(e), "again", 5, WAIT_MS), 5);
	host_expect(e, "again");
	host_write(e, "back");
	driver_expect(e, "back");
}

/* ======================================================================== */
/* Malformed buffers, through the raw ring API                              */

static void start_raw(struct env *e)
{
	const struct start s = { .raw = true };

	env_start_with(e, &s);
}

static uint8_t *dma_buf(struct env *e, size_t n, uint64_t *dma)
{
	uint8_t *p = vio_drv_dma_alloc(DEV(e), n, 64, dma);

	assert_non_null(p);
	return p;
}

/* Waits for the used buffer `token` on raw queue qi; returns its length. */
static uint32_t raw_wait(struct env *e, unsigned qi, void *token)
{
	struct vio_drvq *q = &e->raw_vqs[qi].q;
	const int64_t end = now_ms() + WAIT_MS;
	void *t;
	uint32_t len;

	for (;;) {
		int r = vio_drvq_get_buf(q, &t, &len);

		if (r == 0) {
			assert_ptr_equal(t, token);
			return len;
		}
		assert_int_equal(r, -EAGAIN);
		assert_true(now_ms() < end);
		if (!e->v->threaded)
			owner_step(e);
		if (vio_drvq_enable_cb(q))
			(void)vio_drv_wait(DEV(e), 5);
	}
}

static void raw_post(struct env *e, unsigned qi, const struct vio_sg *out, unsigned out_n,
		     const struct vio_sg *in, unsigned in_n, void *token)
{
	assert_int_equal(vio_drvq_add(&e->raw_vqs[qi].q, out, out_n, in, in_n, token), 0);
	vio_drv_vq_kick(&e->raw_vqs[qi]);
}

static uint32_t raw_request(struct env *e, unsigned qi, const struct vio_sg *out, unsigned out_n,
			    const struct vio_sg *in, unsigned in_n)
{
	int token;

	raw_post(e, qi, out, out_n, in, in_n, &token);
	return raw_wait(e, qi, &token);
}

/* A good transmit buffer after a bad one still goes out. */
static void assert_tx_still_works(struct env *e)
{
	uint64_t dma;
	uint8_t *p = dma_buf(e, 8, &dma);
	struct vio_sg out = { dma, 2 };

	memcpy(p, "ok", 2);
	assert_int_equal(raw_request(e, VIO_CONSOLE_QUEUE_TX, &out, 1, NULL, 0), 0);
	host_expect(e, "ok");
	assert_no_more_output(e);
	assert_false(dev_status(e) & VIO_STATUS_NEEDS_RESET);
}

/* A good receive buffer after a bad one still gets the input. */
static void assert_rx_still_works(struct env *e)
{
	uint64_t dma;
	uint8_t *p = dma_buf(e, 64, &dma);
	struct vio_sg in = { dma, 64 };

	host_write(e, "data");
	assert_int_equal(raw_request(e, VIO_CONSOLE_QUEUE_RX, NULL, 0, &in, 1), 4);
	assert_memory_equal(p, "data", 4);
	assert_false(dev_status(e) & VIO_STATUS_NEEDS_RESET);
}

static void test_malformed_tx_writable_only(void **state)
{
	struct env *e = *state;
	uint64_t dma;
	uint8_t *p;
	struct vio_sg in;

	start_raw(e);
	p = dma_buf(e, 64, &dma);
	memset(p, 0xaa, 64);
	in = (struct vio_sg){ dma, 64 };
	assert_int_equal(raw_request(e, VIO_CONSOLE_QUEUE_TX, NULL, 0, &in, 1), 0);
	assert_int_equal(dev_stats(e).tx_malformed, 1);
	assert_true(logged(e, "transmit buffer has device-writable"));
	for (int i = 0; i < 64; i++)
		assert_int_equal(p[i], 0xaa);
	assert_no_more_output(e);
	assert_tx_still_works(e);
}

/* Readable bytes followed by a writable part: refused whole, the readable
 * bytes never reach out_fd. */
static void test_malformed_tx_mixed(void **state)
{
	struct env *e = *state;
	uint64_t dma;
	uint8_t *p;
	struct vio_sg out, in;

	start_raw(e);
	p = dma_buf(e, 128, &dma);
	memcpy(p, "secret", 6);
	out = (struct vio_sg){ dma, 6 };
	in = (struct vio_sg){ dma + 64, 64 };
	assert_int_equal(raw_request(e, VIO_CONSOLE_QUEUE_TX, &out, 1, &in, 1), 0);
	assert_int_equal(dev_stats(e).tx_malformed, 1);
	assert_no_more_output(e);
	assert_tx_still_works(e);
}

static void test_malformed_rx_readable_only(void **state)
{
	struct env *e = *state;
	uint64_t dma;
	uint8_t *p;
	struct vio_sg out;

	start_raw(e);
	host_write(e, "xyz"); /* input is there: it must not go into this buffer */
	p = dma_buf(e, 64, &dma);
	memset(p, 0xaa, 64);
	out = (struct vio_sg){ dma, 64 };
	assert_int_equal(raw_request(e, VIO_CONSOLE_QUEUE_RX, &out, 1, NULL, 0), 0);
	assert_int_equal(dev_stats(e).rx_malformed, 1);
	assert_true(logged(e, "receive buffer has device-readable"));
	for (int i = 0; i < 64; i++)
		assert_int_equal(p[i], 0xaa);
	assert_int_equal(dev_stats(e).rx_bytes, 0);
	{
		uint64_t d2;
		uint8_t *q = dma_buf(e, 64, &d2);
		struct vio_sg in = { d2, 64 };

		assert_int_equal(raw_request(e, VIO_CONSOLE_QUEUE_RX, NULL, 0, &in, 1), 3);
		assert_memory_equal(q, "xyz", 3);
	}
}

static void test_malformed_rx_mixed(void **state)
{
	struct env *e = *state;
	uint64_t dma;
	uint8_t *p;
	struct vio_sg out, in;

	start_raw(e);
	p = dma_buf(e, 128, &dma);
	memset(p, 0xaa, 128);
	out = (struct vio_sg){ dma, 8 };
	in = (struct vio_sg){ dma + 64, 64 };
	assert_int_equal(raw_request(e, VIO_CONSOLE_QUEUE_RX, &out, 1, &in, 1), 0);
	assert_int_equal(dev_stats(e).rx_malformed, 1);
	for (int i = 0; i < 128; i++)
		assert_int_equal(p[i], 0xaa);
	assert_rx_still_works(e);
}

/* A receive buffer with no room: completed empty, and not mistaken for
 * end of input (a zero-length read returns 0 too). */
static void test_rx_zero_length(void **state)
{
	struct env *e = *state;
	uint64_t dma;
	struct vio_sg in;

	start_raw(e);
	(void)dma_buf(e, 64, &dma);
	in = (struct vio_sg){ dma, 0 };
	assert_int_equal(raw_request(e, VIO_CONSOLE_QUEUE_RX, NULL, 0, &in, 1), 0);
	assert_int_equal(dev_stats(e).rx_malformed, 0);
	assert_rx_still_works(e); /* the empty read was not taken for EOF */
}

static void test_tx_zero_length(void **state)
{
	struct env *e = *state;
	uint64_t dma;
	struct vio_sg out;

	start_raw(e);
	(void)dma_buf(e, 64, &dma);
	out = (struct vio_sg){ dma, 0 };
	assert_int_equal(raw_request(e, VIO_CONSOLE_QUEUE_TX, &out, 1, NULL, 0), 0);
	assert_int_equal(dev_stats(e).tx_malformed, 0);
	assert_no_more_output(e);
	assert_tx_still_works(e);
}

/* As many one-byte segments as the ring has descriptors, each followed by
 * a byte that must not be sent (tx) or touched (rx). */
static struct vio_sg *one_byte_segments(struct env *e, unsigned n, uint8_t **p)
{
	uint64_t dma;
	struct vio_sg *sg = calloc(n, sizeof(*sg));

	*p = dma_buf(e, 2 * (size_t)n, &dma);
	memset(*p, '-', 2 * (size_t)n);
	for (unsigned i = 0; i < n; i++)
		sg[i] = (struct vio_sg){ dma + 2 * i, 1 };
	return sg;
}

static void letters(char *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		s[i] = (char)('a' + i % 26);
	s[n] = '\0';
}

static void test_tx_chain_as_long_as_ring(void **state)
{
	struct env *e = *state;
	unsigned n;
	uint8_t *p;
	struct vio_sg *sg;
	char want[300];

	start_raw(e);
	n = e->raw_vqs[VIO_CONSOLE_QUEUE_TX].q.size;
	sg = one_byte_segments(e, n, &p);
	letters(want, n);
	for (unsigned i = 0; i < n; i++)
		p[2 * i] = (uint8_t)want[i];
	assert_int_equal(raw_request(e, VIO_CONSOLE_QUEUE_TX, sg, n, NULL, 0), 0);
	host_expect(e, want);
	assert_no_more_output(e);
	free(sg);
}

static void test_rx_chain_as_long_as_ring(void **state)
{
	struct env *e = *state;
	unsigned n;
	uint8_t *p;
	struct vio_sg *sg;
	char want[300];

	start_raw(e);
	n = e->raw_vqs[VIO_CONSOLE_QUEUE_RX].q.size;
	sg = one_byte_segments(e, n, &p);
	letters(want, n);
	host_write(e, want);
	assert_int_equal(raw_request(e, VIO_CONSOLE_QUEUE_RX, NULL, 0, sg, n), n);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(p[2 * i], want[i]);
		assert_int_equal(p[2 * i + 1], '-');
	}
	free(sg);
}

/* ======================================================================== */
/* Split-specific: a hostile driver writes the shared ring                  */

static bool needs_reset(struct env *e)
{
	return dev_status(e) & VIO_STATUS_NEEDS_RESET;
}

/* The transmitq's avail index runs more than a ring ahead: the device
 * must stop. It holds a receive buffer at that moment (posted before any
 * input): input that arrives later must not go into it or be pushed. */
static void test_split_hostile_avail_index(void **state)
{
	struct env *e = *state;
	struct vio_drvq *q;
	uint64_t dma;
	uint8_t *p;
	struct vio_sg in;
	int token;

	start_raw(e);
	q = &e->raw_vqs[VIO_CONSOLE_QUEUE_TX].q;
	p = dma_buf(e, 64, &dma);
	memset(p, 0xaa, 64);
	in = (struct vio_sg){ dma, 64 };
	/* Held by the device: its kick is handled before the one below. */
	raw_post(e, VIO_CONSOLE_QUEUE_RX, NULL, 0, &in, 1, &token);
	__atomic_store_n(&q->u.split.avail->idx.raw,
			 vio_set16(q->legacy, (uint16_t)(q->size + 7)).raw, __ATOMIC_RELEASE);
	DEV(e)->ops->notify(DEV(e), VIO_CONSOLE_QUEUE_TX);
	assert_true(eventually(e, needs_reset));
	assert_true(logged(e, "avail index"));
	host_write(e, "late");
	lock(e);
	vio_console_dev_input_ready(&e->con);
	assert_false(vio_console_dev_wants_input(&e->con));
	unlock(e);
	for (int i = 0; i < 64; i++)
		assert_int_equal(p[i], 0xaa);
	assert_int_equal(dev_stats(e).rx_bytes, 0);
	assert_int_equal(dev_stats(e).rx_bufs, 0);
	assert_int_equal(dev_stats(e).tx_bufs, 0);
}

/* ======================================================================== */
/* Device options                                                           */

static void test_init_rejects_bad_options(void **state)
{
	struct env *e = *state;
	int p[2], closed[2];
	struct vio_console_dev_opts o = { .in_fd = -1, .out_fd = -1, .queue_size = 3 };

	/* No options: no input, output discarded. */
	assert_int_equal(vio_console_dev_init(&e->con, NULL), 0);
	assert_int_equal(e->con.in_fd, -1);
	assert_int_equal(e->con.out_fd, -1);
	vio_console_dev_fini(&e->con);
	assert_int_equal(vio_console_dev_init(&e->con, &o), -EINVAL);
	o.queue_size = 2 * VIO_CONSOLE_DEV_QUEUE_MAX;
	assert_int_equal(vio_console_dev_init(&e->con, &o), -EINVAL);
	o.queue_size = 0;
	o.features = VIO_BIT(VIO_CONSOLE_F_MULTIPORT); /* never offered */
	assert_int_equal(vio_console_dev_init(&e->con, &o), -EINVAL);
	o.features = 0;

	/* in_fd must not block: the device reads it until EAGAIN. */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	o.in_fd = p[0];
	assert_int_equal(vio_console_dev_init(&e->con, &o), -EINVAL);
	close(p[0]);
	close(p[1]);
	assert_int_equal(pipe2(closed, O_CLOEXEC | O_NONBLOCK), 0);
	close(closed[0]);
	close(closed[1]);
	o.in_fd = closed[0];
	assert_int_equal(vio_console_dev_init(&e->con, &o), -EBADF);
	o.in_fd = -1;
	o.out_fd = closed[1];
	assert_int_equal(vio_console_dev_init(&e->con, &o), -EBADF);

	/* No fds at all is a device that discards output and has no input. */
	o.out_fd = -1;
	o.cols = 80;
	o.rows = 0; /* SIZE needs both */
	assert_int_equal(vio_console_dev_init(&e->con, &o), 0);
	assert_int_equal(e->con.dev.device_id, VIO_ID_CONSOLE);
	assert_int_equal(e->con.dev.num_queues, 2);
	assert_int_equal(e->con.dev.config_len, sizeof(struct vio_console_config));
	assert_int_equal(vio_dev_get_features(&e->con.dev), VIO_BIT(VIO_F_VERSION_1));
	assert_false(vio_console_dev_wants_input(&e->con));
	assert_false(vio_console_dev_wants_output(&e->con));
}

/* ======================================================================== */

struct test {
	const char *name;
	CMUnitTestFunction fn;
	bool split_only;
	bool once;              /* does not depend on the variant: run it once */
};

#define T(f) { #f, f, false, false }
#define SPLIT(f) { #f, f, true, false }
#define ONCE(f) { #f, f, false, true }

static const struct test tests[] = {
	T(test_write_small),
	T(test_read_small),
	T(test_zero_length_calls),
	T(test_read_timeout),
	T(test_to_host_1mib),
	T(test_from_host_1mib),
	T(test_both_ways_1mib),
	T(test_both_ways_1mib_socketpair),
	T(test_output_backpressure),
	T(test_input_before_driver),
	T(test_input_waits_for_buffers),
	T(test_input_callback_echo),
	T(test_input_eof),
	T(test_output_dead),
	T(test_size),
	T(test_no_optional_features),
	T(test_emerg_write),
	T(test_emerg_write_unconfigured),
	T(test_config_read_only),
	T(test_remove_while_blocked),
	T(test_rebind),
	T(test_malformed_tx_writable_only),
	T(test_malformed_tx_mixed),
	T(test_malformed_rx_readable_only),
	T(test_malformed_rx_mixed),
	T(test_rx_zero_length),
	T(test_tx_zero_length),
	T(test_tx_chain_as_long_as_ring),
	T(test_rx_chain_as_long_as_ring),
	SPLIT(test_split_hostile_avail_index),
	ONCE(test_init_rejects_bad_options),
};

int main(void)
{
	const size_t nt = sizeof(tests) / sizeof(tests[0]);
	struct CMUnitTest *runs;
	size_t n = 0;

	/* A dead pipe reader must show up as EPIPE, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	build_variants();
	runs = calloc(nt * nvariants, sizeof(*runs));
	for (size_t v = 0; v < nvariants; v++) {
		for (size_t t = 0; t < nt; t++) {
			char *name;

			if ((tests[t].split_only && is_packed(&variants[v])) || (tests[t].once && v))
				continue;
			name = malloc(strlen(tests[t].name) + strlen(variants[v].name) + 4);
			sprintf(name, "%s [%s]", tests[t].name + 5,
				tests[t].once ? "any" : variants[v].name);
			runs[n++] = (struct CMUnitTest){ name, tests[t].fn, env_setup, env_teardown,
							 &variants[v] };
		}
	}
	return _cmocka_run_group_tests("lb_console", runs, n, NULL, NULL);
}
