/*
 * test_vu_frontend.c - libvio's vhost-user frontend (driver side) against
 * libvio's own vhost-user backend, and against a scripted fake backend.
 *
 * The real pairing: a backend thread serves a device (the rng device, or
 * "tdev" below: two echo queues, config space, and a hold mode that keeps
 * requests in flight) over a socketpair or a unix socket path; on this
 * thread the frontend carries libvio's drivers (the rng driver, or "tdrv",
 * a small echo driver). Everything goes through the socket, the shared
 * memfd and the eventfds, as it would across processes.
 *
 * Groups:
 *   variants    per ring variant (split/packed x plain, EVENT_IDX,
 *               INDIRECT, IN_ORDER): rng reads, two echo queues, reset and
 *               rebind, reconnect after the backend restarts (with requests
 *               in flight, used but not reaped, and posted while away; and
 *               completed out of order, which needs the inflight log)
 *   session     negotiation, queue count with and without MQ, status
 *               and REPLY_ACK off, config read/write/change, NEEDS_RESET
 *               from the backend, DMA memory, a legacy driver, unix socket
 *               path, a backend that goes away or comes back without a
 *               feature in use, or without INFLIGHT_SHMFD
 *   blk         libvio's blk driver against a vhost-user-blk backend in a
 *               child process, SIGKILLed with a batch popped and unused
 *   hostile     a fake backend scripted here replies wrongly (size,
 *               request, flags, version, fds, oversize, silence, EOF,
 *               values out of range, a feature offer that changes, config
 *               replies of another size or offset, talk out of turn, a
 *               garbled backend channel, GET_INFLIGHT_FD replies with a log
 *               too small, no fd, two fds or an offset past the file): each
 *               is a clear error, logged, never a crash or a hang.
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
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "heap.h"

#include "vio/devices.h"
#include "vio/drivers.h"
#include "vio/inflight.h"
#include "vio/transport.h"
#include "vhost_user_proto.h"
#include "layouts.h"

#define WAIT_MS 5000            /* an upper bound for anything that should happen */
#define FAKE_TIMEOUT_MS 1000    /* the frontend's reply timeout against the fake */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void signal_fd(int fd)
{
	uint64_t one = 1;

	assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
}

static bool verbose(void)
{
	return getenv("VU_VERBOSE") != NULL;
}

/* The frontend's log: the last line is kept so tests can check that an
 * error says what went wrong. */
struct logbuf {
	char last[256];
	unsigned lines;
};

static void log_keep(void *opaque, enum vio_log_level level, const char *msg)
{
	struct logbuf *l = opaque;

	if (level <= VIO_LOG_WARN) {
		snprintf(l->last, sizeof(l->last), "%s", msg);
		l->lines++;
	}
	if (verbose())
		fprintf(stderr, "# fe[%d]: %s\n", level, msg);
}

static void log_backend(void *opaque, enum vio_log_level level, const char *msg)
{
	(void)opaque;
	if (verbose())
		fprintf(stderr, "# be[%d]: %s\n", level, msg);
}

/* ======================================================================== */
/* tdev: a test device with two echo queues, config space and hold mode     */

#define TD_ID 0x7e57u           /* no real device type uses it */
#define TD_QSIZE 64u
#define TD_CONFIG_LEN 16u
#define TD_MAGIC_OFF 4u
#define TD_MAGIC 0x12345678u
#define TD_HOLD_MAX 32u

struct td_elem {
	struct vio_elem e;
	struct vio_iov out[4], in[4];
	uint32_t len;
};

struct tdev {
	struct vio_dev_model dev;
	struct vio_dev_queue q[2];
	uint8_t config[TD_CONFIG_LEN];
	bool hold;                      /* queue 0 keeps what it pops */
	struct td_elem held[TD_HOLD_MAX];
	unsigned nheld;
	struct td_elem scratch;
	unsigned config_writes;
	uint64_t served[2];
};

static void td_elem_prepare(struct td_elem *h)
{
	h->e.out = h->out;
	h->e.out_cap = 4;
	h->e.in = h->in;
	h->e.in_cap = 4;
}

/* Copies what the driver wrote into what it lets us write. */
static void td_echo(struct td_elem *h)
{
	uint8_t buf[512];
	size_t n = vio_iov_to_buf(h->e.out, h->e.out_num, 0, buf, sizeof(buf));

	h->len = (uint32_t)vio_iov_from_buf(h->e.in, h->e.in_num, 0, buf, n);
}

static void td_notify(struct vio_dev_model *d, unsigned qi)
{
	struct tdev *t = d->priv;
	struct vio_devq *vq = vio_dev_vq(d, qi);
	bool pushed = false;

	while (vq) {
		bool keep = t->hold && qi == 0;
		struct td_elem *h = keep ? &t->held[t->nheld] : &t->scratch;
		int r;

		if (keep && t->nheld == TD_HOLD_MAX)
			break;
		td_elem_prepare(h);
		r = vio_devq_pop(vq, &h->e);
		if (r) {
			vio_dev_check(d, qi, r);
			break;
		}
		if (keep) {
			t->nheld++;
			continue;
		}
		td_echo(h);
		vio_devq_push(vq, &h->e, h->len);
		t->served[qi]++;
		pushed = true;
	}
	if (pushed)
		vio_dev_interrupt(d, qi);
}

static void td_reset(struct vio_dev_model *d)
{
	((struct tdev *)d->priv)->nheld = 0;
}

static void td_queue_reset(struct vio_dev_model *d, unsigned qi)
{
	if (qi == 0)
		((struct tdev *)d->priv)->nheld = 0;
}

static void td_config_write(struct vio_dev_model *d, unsigned off, unsigned len)
{
	((struct tdev *)d->priv)->config_writes++;
}

static const struct vio_dev_ops td_ops = {
	.version = VIO_DEV_OPS_VERSION,
	.reset = td_reset,
	.queue_notify = td_notify,
	.config_write = td_config_write,
	.queue_reset = td_queue_reset,
};

static struct tdev *td_new(uint64_t features)
{
	struct tdev *t = calloc(1, sizeof(*t));
	vio_le32 magic = vio_cpu_to_le32(TD_MAGIC);

	assert_non_null(t);
	t->q[0].max_size = t->q[1].max_size = TD_QSIZE;
	t->dev.device_id = TD_ID;
	t->dev.host_features = VIO_BIT(VIO_F_VERSION_1) | features;
	t->dev.config = t->config;
	t->dev.config_len = TD_CONFIG_LEN;
	t->dev.queues = t->q;
	t->dev.num_queues = 2;
	t->dev.ops = &td_ops;
	t->dev.priv = t;
	memcpy(t->config + TD_MAGIC_OFF, &magic, sizeof(magic));
	assert_int_equal(vio_dev_init(&t->dev), 0);
	return t;
}

/* Completes the oldest n held requests of queue 0; with `batch` and
 * IN_ORDER as one used entry for all of them. Backend thread only. */
static void td_release(struct tdev *t, unsigned n, bool batch)
{
	struct vio_devq *vq = vio_dev_vq(&t->dev, 0);

	if (!vq || n == 0)
		return;
	if (n > t->nheld)
		n = t->nheld;
	for (unsigned i = 0; i < n; i++)
		td_echo(&t->held[i]);
	if (batch && vio_dev_has_feature(&t->dev, VIO_F_IN_ORDER)) {
		const struct td_elem *last = &t->held[n - 1];

		assert_int_equal(vio_devq_fill_in_order(vq, &last->e, last->len), 0);
		assert_int_equal(vio_devq_flush(vq), 0);
	} else {
		for (unsigned i = 0; i < n; i++)
			assert_int_equal(vio_devq_push(vq, &t->held[i].e, t->held[i].len), 0);
	}
	t->served[0] += n;
	t->nheld -= n;
	memmove(t->held, t->held + n, t->nheld * sizeof(t->held[0]));
	for (unsigned i = 0; i < t->nheld; i++) {
		/* The spans moved with the elements: point at them again. */
		t->held[i].e.out = t->held[i].out;
		t->held[i].e.in = t->held[i].in;
	}
	vio_dev_interrupt(&t->dev, 0);
}

/* ======================================================================== */
/* tdrv: an echo driver for tdev                                            */

#define TS_SLOTS 32u
#define TS_SLOT_BYTES 512u
#define TS_OUT_LEN 64u
#define TS_IN_CAP 256u

struct ts_result {
	unsigned done;                  /* completions seen: must end at 1 */
	uint32_t len;
};

struct tdrv {
	struct vio_driver drv;
	uint32_t ids[2];
	unsigned nvqs_wanted;
	/* state while bound */
	struct vio_drv_vq vqs[2];
	unsigned nvqs;
	uint8_t *buf;
	uint64_t dma;
	struct ts_result res[TS_SLOTS];
	unsigned probes, config_changes;
	bool broken;
};

static struct tdrv *tdrv_of(struct vio_drv_device *dev)
{
	return (struct tdrv *)((char *)dev->driver - offsetof(struct tdrv, drv));
}

static void tdrv_cb(struct vio_drv_vq *vq)
{
	struct tdrv *t = vq->priv;

	do {
		void *token;
		uint32_t len;
		int r;

		vio_drvq_disable_cb(&vq->q);
		while ((r = vio_drvq_get_buf(&vq->q, &token, &len)) == 0) {
			struct ts_result *res = token;

			res->done++;
			res->len = len;
		}
		if (r != -EAGAIN) {
			t->broken = true;
			return;
		}
	} while (!vio_drvq_enable_cb(&vq->q));
}

static int tdrv_probe(struct vio_drv_device *dev)
{
	struct tdrv *t = tdrv_of(dev);
	struct vio_drv_vq_info info[2] = {
		{ .callback = tdrv_cb, .indirect_max = 2 },
		{ .callback = tdrv_cb, .indirect_max = 2 },
	};
	int r;

	t->nvqs = t->nvqs_wanted ? t->nvqs_wanted : 2;
	memset(t->res, 0, sizeof(t->res));
	t->broken = false;
	r = vio_drv_find_vqs(dev, t->nvqs, info, t->vqs);
	if (r)
		return r;
	for (unsigned i = 0; i < t->nvqs; i++)
		t->vqs[i].priv = t;
	t->buf = vio_drv_dma_alloc(dev, TS_SLOTS * TS_SLOT_BYTES, 64, &t->dma);
	if (!t->buf) {
		vio_drv_reset(dev);
		vio_drv_del_vqs(dev);
		return -ENOMEM;
	}
	t->probes++;
	return 0;
}

static void tdrv_remove(struct vio_drv_device *dev)
{
	struct tdrv *t = tdrv_of(dev);

	vio_drv_reset(dev);
	for (unsigned i = 0; i < t->nvqs; i++)
		while (vio_drvq_detach_unused(&t->vqs[i].q))
			;
	vio_drv_del_vqs(dev);
	vio_drv_dma_free(dev, t->buf, TS_SLOTS * TS_SLOT_BYTES);
	t->buf = NULL;
}

static void tdrv_config_changed(struct vio_drv_device *dev)
{
	tdrv_of(dev)->config_changes++;
}

static void tdrv_init(struct tdrv *t, uint64_t features, unsigned nvqs)
{
	memset(t, 0, sizeof(*t));
	t->ids[0] = TD_ID;
	t->drv.name = "tdrv";
	t->drv.ids = t->ids;
	t->drv.features = VIO_BIT(VIO_F_VERSION_1) | features;
	t->drv.probe = tdrv_probe;
	t->drv.remove = tdrv_remove;
	t->drv.config_changed = tdrv_config_changed;
	t->nvqs_wanted = nvqs;
}

static uint8_t ts_byte(unsigned slot, unsigned i)
{
	return (uint8_t)(slot * 37 + i * 3 + 1);
}

/* Posts slot's echo request on queue qi and kicks. */
static void ts_submit(struct tdrv *t, unsigned qi, unsigned slot)
{
	uint8_t *p = t->buf + (size_t)slot * TS_SLOT_BYTES;
	struct vio_sg out = { t->dma + (uint64_t)slot * TS_SLOT_BYTES, TS_OUT_LEN };
	struct vio_sg in = { out.addr + 256, TS_IN_CAP };

	for (unsigned i = 0; i < TS_OUT_LEN; i++)
		p[i] = ts_byte(slot, i);
	memset(p + 256, 0, TS_IN_CAP);
	t->res[slot].done = 0;
	assert_int_equal(vio_drvq_add(&t->vqs[qi].q, &out, 1, &in, 1, &t->res[slot]), 0);
	vio_drv_vq_kick(&t->vqs[qi]);
}

/* Waits until every slot in [first, first + n) completed. */
static bool ts_wait(struct vio_drv_device *dev, struct tdrv *t, unsigned first, unsigned n)
{
	const int64_t deadline = now_ms() + WAIT_MS;

	for (;;) {
		bool all = true;

		for (unsigned s = first; s < first + n; s++)
			all &= t->res[s].done > 0;
		if (all)
			return true;
		if (t->broken || now_ms() > deadline)
			return false;
		(void)vio_drv_wait(dev, 50);
	}
}

/* The slot completed exactly once with its bytes echoed. */
static void ts_check(const struct tdrv *t, unsigned slot)
{
	const uint8_t *in = t->buf + (size_t)slot * TS_SLOT_BYTES + 256;

	assert_int_equal(t->res[slot].done, 1);
	assert_true(t->res[slot].len >= TS_OUT_LEN);
	for (unsigned i = 0; i < TS_OUT_LEN; i++)
		assert_int_equal(in[i], ts_byte(slot, i));
}

/* ======================================================================== */
/* Backend thread                                                           */

struct be {
	struct vio_vu_backend b;
	int listen_fd;                  /* >= 0: accept the connection first */
	int stop_fd, cmd_fd, ack_fd;
	void (*cmd)(void *arg);         /* run on the backend thread */
	void *cmd_arg;
	unsigned acked;                 /* atomic */
	pthread_t thread;
};

static void be_poll_once(struct be *be)
{
	struct pollfd p[3 + VIO_VU_MAX_QUEUES];
	unsigned qmap[VIO_VU_MAX_QUEUES], n = 0;

	p[n++] = (struct pollfd){ be->stop_fd, POLLIN, 0 };
	p[n++] = (struct pollfd){ be->cmd_fd, POLLIN, 0 };
	p[n++] = (struct pollfd){ vio_vu_backend_fd(&be->b), POLLIN, 0 };
	for (unsigned qi = 0; qi < be->b.dev->num_queues; qi++) {
		int fd = vio_vu_backend_kick_fd(&be->b, qi);

		if (fd >= 0) {
			qmap[n - 3] = qi;
			p[n++] = (struct pollfd){ fd, POLLIN, 0 };
		}
	}
	if (poll(p, n, 50) <= 0)
		return;
	if (p[1].revents) {
		void (*fn)(void *) = __atomic_load_n(&be->cmd, __ATOMIC_ACQUIRE);
		uint64_t v;

		(void)!read(be->cmd_fd, &v, sizeof(v));
		fn(be->cmd_arg);
		__atomic_fetch_add(&be->acked, 1, __ATOMIC_RELEASE);
		signal_fd(be->ack_fd);
	}
	if (p[2].revents) {
		(void)vio_vu_backend_dispatch(&be->b);
		return; /* kick fds may have changed */
	}
	for (unsigned i = 3; i < n; i++) {
		if (p[i].revents)
			vio_vu_backend_queue_dispatch(&be->b, qmap[i - 3]);
	}
}

static void *be_main(void *arg)
{
	struct be *be = arg;

	if (be->listen_fd >= 0) {
		int s = accept4(be->listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (s >= 0)
			(void)vio_vu_backend_attach(&be->b, s);
	}
	for (;;) {
		struct pollfd stop = { be->stop_fd, POLLIN, 0 };

		if (poll(&stop, 1, 0) > 0)
			break;
		be_poll_once(be);
	}
	return NULL;
}

/* Protocol features the next backend started refuses (env_setup clears it). */
static uint64_t be_next_pf_off;

/* Serves dev on sock (or, sock < 0, on the next connection to listen_fd). */
static struct be *be_start(struct vio_dev_model *dev, int sock, int listen_fd)
{
	struct vio_vu_backend_config cfg = { .log = log_backend,
					     .protocol_features_off = be_next_pf_off };
	struct be *be = calloc(1, sizeof(*be));

	assert_non_null(be);
	assert_int_equal(vio_vu_backend_init(&be->b, dev, &cfg), 0);
	if (sock >= 0)
		assert_int_equal(vio_vu_backend_attach(&be->b, sock), 0);
	be->listen_fd = listen_fd;
	be->stop_fd = eventfd(0, EFD_CLOEXEC);
	be->cmd_fd = eventfd(0, EFD_CLOEXEC);
	be->ack_fd = eventfd(0, EFD_CLOEXEC);
	assert_true(be->stop_fd >= 0 && be->cmd_fd >= 0 && be->ack_fd >= 0);
	assert_int_equal(pthread_create(&be->thread, NULL, be_main, be), 0);
	return be;
}

/* The backend process "dies": its thread stops and its connection closes. */
static void be_stop(struct be *be)
{
	if (!be)
		return;
	signal_fd(be->stop_fd);
	pthread_join(be->thread, NULL);
	vio_vu_backend_fini(&be->b);
	close(be->stop_fd);
	close(be->cmd_fd);
	close(be->ack_fd);
	free(be);
}

/* Runs fn(arg) on the backend thread and waits for it. */
static void be_call(struct be *be, void (*fn)(void *), void *arg)
{
	unsigned want = __atomic_load_n(&be->acked, __ATOMIC_ACQUIRE) + 1;
	const int64_t deadline = now_ms() + WAIT_MS;

	be->cmd_arg = arg;
	__atomic_store_n(&be->cmd, fn, __ATOMIC_RELEASE);
	signal_fd(be->cmd_fd);
	while (__atomic_load_n(&be->acked, __ATOMIC_ACQUIRE) != want) {
		struct pollfd p = { be->ack_fd, POLLIN, 0 };
		uint64_t v;

		assert_true(now_ms() < deadline);
		if (poll(&p, 1, 100) > 0)
			(void)!read(be->ack_fd, &v, sizeof(v));
	}
}

/* ======================================================================== */
/* Test environment                                                         */

enum dev_kind { DEV_RNG, DEV_TD };

struct variant {
	uint64_t features;              /* offered by the device, taken by the driver */
	char name[48];
};

struct env {
	const struct variant *v;
	enum dev_kind kind;
	struct vio_rng_dev *rng;
	struct tdev *td;
	struct be *be;
	struct vio_vu_frontend_config cfg;
	struct vio_vu_frontend fe;
	bool fe_up, on_bus;
	struct vio_bus bus;
	struct vio_rng_driver rdrv;
	struct tdrv tdrv;
	struct logbuf log;
	char path[108];
	int listen_fd;
};

static const struct variant plain_variant = { 0, "split" };

static int env_setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	const struct variant *v = *state;

	assert_non_null(e);
	e->v = v ? v : &plain_variant;
	e->listen_fd = -1;
	e->fe.sock = -1;
	be_next_pf_off = 0;
	vio_bus_init(&e->bus, vt_heap_alloc, vt_heap_free, NULL);
	*state = e;
	return 0;
}

static struct vio_dev_model *env_dev(struct env *e)
{
	return e->kind == DEV_RNG ? &e->rng->dev : &e->td->dev;
}

/* A new device of the kind the test uses (a restarted backend has lost
 * everything it knew). */
static void env_new_dev(struct env *e, uint64_t features)
{
	if (e->kind == DEV_RNG) {
		struct vio_rng_dev_opts o = { .features = features };

		e->rng = calloc(1, sizeof(*e->rng));
		assert_non_null(e->rng);
		assert_int_equal(vio_rng_dev_init(e->rng, &o), 0);
	} else {
		e->td = td_new(features);
	}
}

static void env_free_dev(struct env *e)
{
	if (e->rng)
		vio_rng_dev_fini(e->rng);
	free(e->rng);
	free(e->td);
	e->rng = NULL;
	e->td = NULL;
}

static int env_teardown(void **state)
{
	struct env *e = *state;

	if (e->on_bus)
		vio_bus_remove_device(&e->bus, &e->fe.vdev);
	if (e->fe_up)
		vio_vu_frontend_fini(&e->fe);
	be_stop(e->be);
	env_free_dev(e);
	if (e->listen_fd >= 0)
		close(e->listen_fd);
	if (e->path[0])
		unlink(e->path);
	free(e);
	return 0;
}

static void env_default_cfg(struct env *e)
{
	e->cfg = (struct vio_vu_frontend_config){
		.device_id = e->kind == DEV_RNG ? VIO_ID_RNG : TD_ID,
		.memory_bytes = 1u << 20,
		.num_queues = e->kind == DEV_RNG ? 1 : 2,
		.queue_max = e->kind == DEV_RNG ? VIO_RNG_DEV_QUEUE_MAX : TD_QSIZE,
		.log = log_keep,
		.log_opaque = &e->log,
	};
}

/* Starts a backend for the current device on a fresh socketpair and
 * returns the frontend's end. */
static int env_spawn_backend(struct env *e)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	e->be = be_start(env_dev(e), sv[1], -1);
	return sv[0];
}

/* Device, backend and frontend connected (not on a bus yet). */
static void env_connect(struct env *e, enum dev_kind kind)
{
	e->kind = kind;
	env_new_dev(e, e->v->features);
	if (!e->cfg.memory_bytes)
		env_default_cfg(e);
	assert_int_equal(vio_vu_frontend_connect_fd(&e->fe, env_spawn_backend(e), &e->cfg), 0);
	e->fe_up = true;
}

/* ... and the matching driver bound through a bus. */
static void env_bind(struct env *e)
{
	if (e->kind == DEV_RNG) {
		/* Several segments per request: chains, or indirect tables. */
		struct vio_rng_drv_opts o = { .segs = 4 };

		assert_int_equal(vio_rng_drv_register(&e->bus, &e->rdrv, &o), 0);
		/* before the device comes: it takes what the variant offers */
		e->rdrv.drv.features |= e->v->features;
	} else {
		if (!e->tdrv.drv.probe)
			tdrv_init(&e->tdrv, e->v->features, 2);
		assert_int_equal(vio_bus_register_driver(&e->bus, &e->tdrv.drv), 0);
	}
	assert_int_equal(vio_bus_add_device(&e->bus, &e->fe.vdev), 0);
	e->on_bus = true;
}

static void env_up(struct env *e, enum dev_kind kind)
{
	env_connect(e, kind);
	env_bind(e);
	assert_non_null(e->fe.vdev.driver);
}

/* The backend dies and a new one (new device, no memory of the session)
 * takes its place; the frontend reconnects. Returns reconnect's result. */
static int env_restart_backend(struct env *e, uint64_t features)
{
	be_stop(e->be);
	e->be = NULL;
	env_free_dev(e);
	env_new_dev(e, features);
	return vio_vu_frontend_reconnect_fd(&e->fe, env_spawn_backend(e));
}

static uint64_t served_seen[2];

static void snapshot_served(void *arg)
{
	struct env *e = arg;

	for (unsigned i = 0; i < 2; i++)
		__atomic_store_n(&served_seen[i], e->kind == DEV_TD ? e->td->served[i] :
				 e->rng->stats.bytes, __ATOMIC_RELEASE);
}

static void on_backend(struct env *e, void (*fn)(void *));

/* What the device did (tdev: requests per queue; rng: bytes), read on the
 * backend thread. */
static uint64_t served(struct env *e, unsigned qi)
{
	on_backend(e, snapshot_served);
	return __atomic_load_n(&served_seen[qi], __ATOMIC_ACQUIRE);
}

/* A round trip with a reply: every message sent before it is processed. */
static void fe_sync(struct env *e)
{
	uint8_t b;

	assert_int_equal(vio_drv_config_read(&e->fe.vdev, 0, &b, 1), 0);
}

static void rng_read_ok(struct env *e, size_t n)
{
	uint8_t *buf = calloc(1, n);
	size_t nonzero = 0;
	ssize_t got;

	assert_non_null(buf);
	got = vio_rng_drv_read(&e->fe.vdev, buf, n, WAIT_MS);
	for (size_t i = 0; i < n; i++)
		nonzero += buf[i] != 0;
	free(buf);
	assert_int_equal(got, (ssize_t)n);
	/* Random bytes: a zero-filled buffer would mean nothing arrived (a
	 * few bytes may all be zero by chance). */
	if (n >= 64)
		assert_true(nonzero > n / 2);
}

/* Runs fn on the backend thread with the env as argument. */
static void on_backend(struct env *e, void (*fn)(void *))
{
	be_call(e->be, fn, e);
}

/* ======================================================================== */
/* Variant tests                                                            */

/* The rng driver reads through the frontend: many requests, every
 * requested ring feature negotiated. */
static void test_rng_read(void **state)
{
	struct env *e = *state;

	env_up(e, DEV_RNG);
	assert_true((e->fe.vdev.features & e->v->features) == e->v->features);
	rng_read_ok(e, 100000);
	rng_read_ok(e, 1);
	assert_true(served(e, 0) >= 100001);
}

/* Both echo queues at once, with data checked end to end. */
static void test_echo_two_queues(void **state)
{
	struct env *e = *state;

	env_up(e, DEV_TD);
	assert_int_equal(e->fe.num_queues, 2);
	for (unsigned s = 0; s < 16; s++)
		ts_submit(&e->tdrv, s % 2, s);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 0, 16));
	for (unsigned s = 0; s < 16; s++)
		ts_check(&e->tdrv, s);
	assert_int_equal(served(e, 0), 8);
	assert_int_equal(served(e, 1), 8);
	assert_false(e->tdrv.broken);
}

/* Many rounds through a small ring: indices wrap. */
static void test_echo_wraps(void **state)
{
	struct env *e = *state;

	env_up(e, DEV_TD);
	for (unsigned round = 0; round < 300; round++) {
		unsigned s = round % TS_SLOTS;

		ts_submit(&e->tdrv, 0, s);
		assert_true(ts_wait(&e->fe.vdev, &e->tdrv, s, 1));
		ts_check(&e->tdrv, s);
	}
	assert_int_equal(served(e, 0), 300);
}

static void check_backend_reset(void *arg)
{
	struct env *e = arg;

	assert_int_equal(e->td->dev.status, 0);
	for (unsigned i = 0; i < 2; i++)
		assert_false(e->td->q[i].live);
}

/* Unbinding resets the device (rings stopped, status 0 in the backend);
 * binding again works and I/O flows. */
static void test_reset_rebind(void **state)
{
	struct env *e = *state;

	env_up(e, DEV_TD);
	ts_submit(&e->tdrv, 0, 0);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 0, 1));
	vio_drv_unbind(&e->fe.vdev);
	assert_int_equal(e->fe.vdev.ops->get_status(&e->fe.vdev), 0);
	/* GET_VRING_BASE said where the ring stopped: after one buffer. */
	if (vio_has_feature(e->v->features, VIO_F_RING_PACKED)) {
		unsigned pos = e->fe.queues[0].base & 0x7fff;

		assert_true(pos == 1 || pos == 2); /* one buffer: 1 or 2 descriptors */
		assert_true(e->fe.queues[0].base & 0x8000);
	} else {
		assert_int_equal(e->fe.queues[0].base, 1);
	}
	on_backend(e, check_backend_reset);
	assert_int_equal(vio_drv_bind(&e->fe.vdev), 0);
	assert_int_equal(e->tdrv.probes, 2);
	ts_submit(&e->tdrv, 1, 3);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 3, 1));
	ts_check(&e->tdrv, 3);
}

/* The rng backend restarts between reads; a read issued while it is
 * away times out, and its requests are served after the reconnect. */
static void test_reconnect_rng(void **state)
{
	struct env *e = *state;
	uint8_t b[64];

	env_up(e, DEV_RNG);
	rng_read_ok(e, 5000);
	be_stop(e->be);
	e->be = NULL;
	assert_int_equal(vio_rng_drv_read(&e->fe.vdev, b, sizeof(b), 100), -ETIMEDOUT);
	assert_false(vio_vu_frontend_connected(&e->fe));
	assert_int_equal(vio_vu_frontend_error(&e->fe), -ECONNRESET);
	/* A backend that went away is not a broken device. */
	assert_false(e->fe.vdev.ops->get_status(&e->fe.vdev) & VIO_STATUS_NEEDS_RESET);
	env_free_dev(e);
	env_new_dev(e, e->v->features);
	assert_int_equal(vio_vu_frontend_reconnect_fd(&e->fe, env_spawn_backend(e)), 0);
	assert_true(vio_vu_frontend_connected(&e->fe));
	rng_read_ok(e, 20000);
	rng_read_ok(e, 3);
}

static void td_hold_on(void *arg)
{
	((struct env *)arg)->td->hold = true;
}

static unsigned nheld_seen;

static void td_count_held(void *arg)
{
	__atomic_store_n(&nheld_seen, ((struct env *)arg)->td->nheld, __ATOMIC_RELEASE);
}

static void td_release_two(void *arg)
{
	struct env *e = arg;

	td_release(e->td, 2, true);
}

static void td_wait_held(struct env *e, unsigned n)
{
	const int64_t deadline = now_ms() + WAIT_MS;

	do {
		on_backend(e, td_count_held);
		if (__atomic_load_n(&nheld_seen, __ATOMIC_ACQUIRE) == n)
			return;
		usleep(2000);
	} while (now_ms() < deadline);
	fail_msg("the device holds %u requests, expected %u", nheld_seen, n);
}

/*
 * The backend restarts with requests in every state: completed and
 * reaped (1..2), completed but not reaped (3..4), taken but not completed
 * (5..6), and posted while it was away (7). Each completes exactly once
 * (a duplicate would break the driver's queue), with its data.
 */
static void reconnect_in_every_state(struct env *e)
{
	ts_submit(&e->tdrv, 0, 0);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 0, 1));
	on_backend(e, td_hold_on);
	for (unsigned s = 1; s <= 6; s++)
		ts_submit(&e->tdrv, 0, s);
	td_wait_held(e, 6);
	on_backend(e, td_release_two);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 1, 2));
	on_backend(e, td_release_two);
	/* 3..4 are used now; do not reap them. */
	be_stop(e->be);
	e->be = NULL;
	ts_submit(&e->tdrv, 0, 7);
	env_free_dev(e);
	env_new_dev(e, e->v->features);
	assert_int_equal(vio_vu_frontend_reconnect_fd(&e->fe, env_spawn_backend(e)), 0);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 0, 8));
	for (unsigned s = 0; s <= 7; s++)
		ts_check(&e->tdrv, s);
	assert_false(e->tdrv.broken);
	/* The new backend served exactly what the old one had not used. */
	assert_int_equal(served(e, 0), 3);
	ts_submit(&e->tdrv, 1, 8);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 8, 1));
	ts_check(&e->tdrv, 8);
}

static void test_reconnect_inflight(void **state)
{
	struct env *e = *state;

	env_up(e, DEV_TD);
	reconnect_in_every_state(e);
}

/* Completes held[2] and held[3] of the six the device holds, leaving
 * held[0], held[1], held[4] and held[5] taken and unused. */
static void td_release_middle(void *arg)
{
	struct tdev *t = ((struct env *)arg)->td;
	struct vio_devq *vq = vio_dev_vq(&t->dev, 0);

	assert_int_equal(t->nheld, 6);
	for (unsigned i = 2; i < 4; i++) {
		td_echo(&t->held[i]);
		assert_int_equal(vio_devq_push(vq, &t->held[i].e, t->held[i].len), 0);
	}
	t->served[0] += 2;
	vio_dev_interrupt(&t->dev, 0);
}

/*
 * Out of order: the device completes the 3rd and 4th of six requests, then
 * dies. The used index (2) no longer says where to resume: avail entries 2
 * and 3 are the completed ones, and 0, 1, 4, 5 are outstanding. The
 * inflight log the frontend kept and handed to the new backend says so
 * (split and packed), and each request completes exactly once with its
 * data.
 */
static void test_reconnect_out_of_order(void **state)
{
	struct env *e = *state;
	env_up(e, DEV_TD);
	assert_true(e->fe.inflight_fd >= 0);
	on_backend(e, td_hold_on);
	for (unsigned s = 0; s < 6; s++)
		ts_submit(&e->tdrv, 0, s);
	td_wait_held(e, 6);
	on_backend(e, td_release_middle);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 2, 2));
	/* Killed: no GET_VRING_BASE, the log stays as the device left it. */
	be_stop(e->be);
	e->be = NULL;
	ts_submit(&e->tdrv, 0, 6);
	env_free_dev(e);
	env_new_dev(e, e->v->features);
	assert_int_equal(vio_vu_frontend_reconnect_fd(&e->fe, env_spawn_backend(e)), 0);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 0, 7));
	for (unsigned s = 0; s <= 6; s++)
		ts_check(&e->tdrv, s);
	assert_false(e->tdrv.broken);
	/* The new backend served the four outstanding and the new one. */
	assert_int_equal(served(e, 0), 5);
}

/* With INFLIGHT_SHMFD turned off on our side, reconnect works as before
 * (libvio's devices complete in order). */
static void test_reconnect_without_inflight(void **state)
{
	struct env *e = *state;

	e->kind = DEV_TD;
	env_default_cfg(e);
	e->cfg.protocol_features_off = VIO_BIT(VU_PROTOCOL_F_INFLIGHT_SHMFD);
	env_up(e, DEV_TD);
	assert_false(e->fe.protocol_features & VIO_BIT(VU_PROTOCOL_F_INFLIGHT_SHMFD));
	assert_int_equal(e->fe.inflight_fd, -1);
	reconnect_in_every_state(e);
	assert_int_equal(e->fe.inflight_fd, -1);
}

/* The backend that comes back no longer offers INFLIGHT_SHMFD: the log is
 * dropped (the new backend would leave it stale) and the ring resumes at
 * the used index, as without a log. */
static void test_reconnect_to_backend_without_inflight(void **state)
{
	struct env *e = *state;

	env_up(e, DEV_TD);
	assert_true(e->fe.inflight_fd >= 0);
	on_backend(e, td_hold_on);
	for (unsigned s = 0; s < 4; s++)
		ts_submit(&e->tdrv, 0, s);
	td_wait_held(e, 4);
	be_next_pf_off = VIO_BIT(VU_PROTOCOL_F_INFLIGHT_SHMFD);
	assert_int_equal(env_restart_backend(e, e->v->features), 0);
	assert_false(e->fe.protocol_features & VIO_BIT(VU_PROTOCOL_F_INFLIGHT_SHMFD));
	assert_int_equal(e->fe.inflight_fd, -1);
	assert_true(strstr(e->log.last, "ours is dropped") != NULL);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 0, 4));
	for (unsigned s = 0; s < 4; s++)
		ts_check(&e->tdrv, s);
	assert_int_equal(served(e, 0), 4);
}

/* ======================================================================== */
/* blk: libvio's blk driver, a vhost-user-blk backend process killed mid-I/O */

/*
 * The backend runs in a child process over a RAM disk in a memfd the test
 * also maps, so the disk outlives the process as a file would. The first
 * child is rigged: a region of the disk is PROT_NONE in it, and a fault
 * there parks the faulting thread in the SIGSEGV handler for good, after
 * telling us. A batch of requests that touches the region is then popped
 * and not used (the blk device uses a batch only when all of it is done),
 * exactly what a process killed during I/O leaves. The test SIGKILLs it
 * and starts a clean child on the same disk.
 */
#define BK_DISK (1u << 20)
#define BK_TRAP_OFF (BK_DISK - 64 * 1024u)     /* the rigged region, to the end */
#define BK_IO 4096u
#define BK_NREQ 6

struct bk_req {
	uint64_t off;           /* byte offset on the disk */
	uint32_t type;
	uint8_t fill;           /* writes: the byte written; reads: 0 */
	uint8_t *buf;
	unsigned done;
	int err;
};

struct bk_env {
	uint64_t features_off;  /* the driver's, from the row */
	int disk_fd;
	uint8_t *disk;
	pid_t child[2];
	int stuck_rd, log_rd;   /* the rigged child's signal; the clean one's log */
	struct vio_vu_frontend fe;
	bool fe_up, on_bus;
	struct vio_bus bus;
	struct vio_blk_driver bd;
	struct bk_req req[BK_NREQ];
	struct logbuf log;
};

static int bk_stuck_wfd = -1;  /* child only */

static void bk_trap(int sig)
{
	const char c = 1;

	(void)sig;
	(void)!write(bk_stuck_wfd, &c, 1);
	for (;;)
		pause();
}

static void bk_child_log(void *opaque, enum vio_log_level level, const char *msg)
{
	int fd = (int)(intptr_t)opaque;

	(void)level;
	if (fd >= 0) {
		(void)!write(fd, msg, strlen(msg));
		(void)!write(fd, "\n", 1);
	}
	if (verbose())
		fprintf(stderr, "# child be: %s\n", msg);
}

/* The child: serves a blk device on the shared disk until the socket
 * closes. Never returns. */
static void bk_child(int sock, int disk_fd, bool rigged, int log_fd)
{
	struct vio_vu_backend_config bc = { .log = bk_child_log,
					    .log_opaque = (void *)(intptr_t)log_fd };
	struct vio_blk_dev_opts o = { .backend = VIO_BLK_BACKEND_RAM, .size = BK_DISK };
	static struct vio_blk_dev blk;
	static struct vio_vu_backend b;
	uint8_t *disk = mmap(NULL, BK_DISK, PROT_READ | PROT_WRITE, MAP_SHARED, disk_fd, 0);

	if (disk == MAP_FAILED)
		_exit(2);
	o.ram = disk;
	if (vio_blk_dev_init(&blk, &o) || vio_vu_backend_init(&b, &blk.dev, &bc) ||
	    vio_vu_backend_attach(&b, sock))
		_exit(3);
	if (rigged) {
		struct sigaction sa = { .sa_handler = bk_trap };

		if (sigaction(SIGSEGV, &sa, NULL) || sigaction(SIGBUS, &sa, NULL) ||
		    mprotect(disk + BK_TRAP_OFF, BK_DISK - BK_TRAP_OFF, PROT_NONE))
			_exit(4);
	}
	for (;;) {
		struct pollfd p[1 + VIO_VU_MAX_QUEUES];
		unsigned qmap[VIO_VU_MAX_QUEUES], n = 0;

		p[n++] = (struct pollfd){ vio_vu_backend_fd(&b), POLLIN, 0 };
		for (unsigned qi = 0; qi < blk.dev.num_queues; qi++) {
			int fd = vio_vu_backend_kick_fd(&b, qi);

			if (fd >= 0) {
				qmap[n - 1] = qi;
				p[n++] = (struct pollfd){ fd, POLLIN, 0 };
			}
		}
		if (poll(p, n, 1000) <= 0)
			continue;
		if (p[0].revents) {
			if (vio_vu_backend_dispatch(&b) == -ECONNRESET)
				_exit(0);
			continue;
		}
		for (unsigned i = 1; i < n; i++) {
			if (p[i].revents)
				vio_vu_backend_queue_dispatch(&b, qmap[i - 1]);
		}
	}
}

/* Forks a backend child on a new socketpair: our end. */
static int bk_spawn(struct bk_env *be, unsigned which, bool rigged)
{
	int sv[2], stuck[2], logp[2];
	pid_t pid;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(pipe2(stuck, O_CLOEXEC), 0);
	assert_int_equal(pipe2(logp, O_CLOEXEC | O_NONBLOCK), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		bk_stuck_wfd = stuck[1];
		bk_child(sv[1], be->disk_fd, rigged, logp[1]);
	}
	be->child[which] = pid;
	close(sv[1]);
	close(stuck[1]);
	close(logp[1]);
	if (rigged) {
		be->stuck_rd = stuck[0];
		close(logp[0]);
	} else {
		be->log_rd = logp[0];
		close(stuck[0]);
	}
	return sv[0];
}

static void bk_reap(struct bk_env *be, unsigned which)
{
	if (be->child[which] > 0) {
		kill(be->child[which], SIGKILL);
		(void)waitpid(be->child[which], NULL, 0);
	}
	be->child[which] = 0;
}

static int bk_setup(void **state)
{
	struct bk_env *be = calloc(1, sizeof(*be));

	assert_non_null(be);
	be->features_off = *state ? *(const uint64_t *)*state : 0;
	be->stuck_rd = be->log_rd = -1;
	be->disk_fd = memfd_create("bk-disk", MFD_CLOEXEC);
	assert_true(be->disk_fd >= 0);
	assert_int_equal(ftruncate(be->disk_fd, BK_DISK), 0);
	be->disk = mmap(NULL, BK_DISK, PROT_READ | PROT_WRITE, MAP_SHARED, be->disk_fd, 0);
	assert_true(be->disk != MAP_FAILED);
	for (unsigned i = 0; i < BK_DISK; i++)
		be->disk[i] = (uint8_t)(i * 7 + i / 4096);
	vio_bus_init(&be->bus, vt_heap_alloc, vt_heap_free, NULL);
	*state = be;
	return 0;
}

static int bk_teardown(void **state)
{
	struct bk_env *be = *state;

	if (be->on_bus)
		vio_bus_remove_device(&be->bus, &be->fe.vdev);
	if (be->fe_up)
		vio_vu_frontend_fini(&be->fe);
	bk_reap(be, 0);
	bk_reap(be, 1);
	if (be->stuck_rd >= 0)
		close(be->stuck_rd);
	if (be->log_rd >= 0)
		close(be->log_rd);
	munmap(be->disk, BK_DISK);
	close(be->disk_fd);
	free(be);
	return 0;
}

static void bk_done(void *opaque, int err)
{
	struct bk_req *r = opaque;

	r->done++;
	r->err = err;
}

static void bk_enqueue(struct bk_env *be, struct bk_req *r)
{
	struct vio_blk_drv_io io = {
		.type = r->type, .sector = r->off / 512, .buf = r->buf, .len = BK_IO,
		.done = bk_done, .opaque = r,
	};

	if (r->type == VIO_BLK_T_OUT)
		memset(r->buf, r->fill, BK_IO);
	else
		memset(r->buf, 0, BK_IO);
	assert_int_equal(vio_blk_drv_enqueue(&be->fe.vdev, &io), 0);
}

/* Chain heads the inflight log of queue 0 marks as taken and unused. */
static unsigned bk_log_inflight(const struct bk_env *be, bool packed)
{
	const size_t len = (size_t)(be->fe.inflight_offset + be->fe.inflight_size);
	uint8_t *map = mmap(NULL, len, PROT_READ, MAP_SHARED, be->fe.inflight_fd, 0);
	unsigned n = 0;

	assert_true(map != MAP_FAILED);
	if (packed) {
		/* A chain in flight is flagged at its first entry. */
		const struct vio_inflight_packed *l = (const void *)(map + be->fe.inflight_offset);

		for (unsigned i = 0; i < l->desc_num; i++)
			n += l->desc[i].inflight == 1;
	} else {
		const struct vio_inflight_split *l = (const void *)(map + be->fe.inflight_offset);

		for (unsigned i = 0; i < l->desc_num; i++)
			n += l->desc[i].inflight == 1;
	}
	munmap(map, len);
	return n;
}

/* Does the clean child's log contain `what`? */
static bool bk_log_says(struct bk_env *be, const char *what)
{
	static char text[16384];
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(text) - 1 &&
	       (n = read(be->log_rd, text + got, sizeof(text) - 1 - got)) > 0)
		got += (size_t)n;
	text[got] = 0;
	return strstr(text, what) != NULL;
}

/*
 * The blk driver over the frontend; the backend process is killed with a
 * batch of requests popped and unused (two writes and a read done in RAM
 * but not reported, the write that faulted, and a write and a read after
 * it), no GET_VRING_BASE; a write is posted while it is away; a new
 * backend process on the same disk takes over. Every request completes
 * exactly once and OK, the writes are on the disk, the reads return the
 * disk's bytes. The new backend resubmitted the five from the log the
 * frontend handed it (it says so, and the log ends empty), split and
 * packed alike.
 */
static void test_blk_reconnect_after_kill(void **state)
{
	struct bk_env *be = *state;
	const bool pk = !(be->features_off & VIO_BIT(VIO_F_RING_PACKED));
	const struct vio_vu_frontend_config cfg = {
		.device_id = VIO_ID_BLOCK, .memory_bytes = 4u << 20, .num_queues = 1,
		.log = log_keep, .log_opaque = &be->log,
	};
	const struct vio_blk_drv_opts dopts = { .features_off = be->features_off };
	static const struct { uint64_t off; uint32_t type; uint8_t fill; } plan[BK_NREQ] = {
		{ 0, VIO_BLK_T_OUT, 0xa1 },
		{ 64 * 512, VIO_BLK_T_IN, 0 },
		{ 128 * 512, VIO_BLK_T_OUT, 0xc3 },
		{ BK_TRAP_OFF, VIO_BLK_T_OUT, 0xb2 },   /* faults in the rigged child */
		{ 256 * 512, VIO_BLK_T_IN, 0 },
		{ 300 * 512, VIO_BLK_T_OUT, 0xd4 },     /* posted while the backend is away */
	};
	uint8_t before[2][BK_IO];
	struct pollfd stuck;
	int64_t deadline;
	char c;

	memcpy(before[0], be->disk + plan[1].off, BK_IO);
	memcpy(before[1], be->disk + plan[4].off, BK_IO);
	assert_int_equal(vio_vu_frontend_connect_fd(&be->fe, bk_spawn(be, 0, true), &cfg), 0);
	be->fe_up = true;
	assert_int_equal(vio_blk_drv_register(&be->bus, &be->bd, &dopts), 0);
	assert_int_equal(vio_bus_add_device(&be->bus, &be->fe.vdev), 0);
	be->on_bus = true;
	assert_non_null(be->fe.vdev.driver);
	assert_int_equal(vio_has_feature(be->fe.vdev.features, VIO_F_RING_PACKED), pk);
	assert_true(be->fe.inflight_fd >= 0);
	for (unsigned i = 0; i < BK_NREQ; i++) {
		be->req[i] = (struct bk_req){ .off = plan[i].off, .type = plan[i].type,
					      .fill = plan[i].fill };
		be->req[i].buf = vio_blk_drv_alloc_buffer(&be->fe.vdev, BK_IO);
		assert_non_null(be->req[i].buf);
	}
	for (unsigned i = 0; i < BK_NREQ - 1; i++)
		bk_enqueue(be, &be->req[i]);
	vio_blk_drv_kick(&be->fe.vdev);
	stuck = (struct pollfd){ be->stuck_rd, POLLIN, 0 };
	assert_int_equal(poll(&stuck, 1, WAIT_MS), 1);
	assert_int_equal(read(be->stuck_rd, &c, 1), 1);
	/* Stuck inside the batch: nothing used, everything in the log. */
	assert_int_equal(vio_blk_drv_poll(&be->fe.vdev), 0);
	assert_int_equal(bk_log_inflight(be, pk), BK_NREQ - 1);
	bk_reap(be, 0);
	bk_enqueue(be, &be->req[BK_NREQ - 1]);
	vio_blk_drv_kick(&be->fe.vdev);
	assert_int_equal(vio_vu_frontend_reconnect_fd(&be->fe, bk_spawn(be, 1, false)), 0);
	deadline = now_ms() + WAIT_MS;
	while (vio_blk_drv_inflight(&be->fe.vdev) && now_ms() < deadline)
		(void)vio_blk_drv_wait(&be->fe.vdev, 100);
	assert_int_equal(vio_blk_drv_inflight(&be->fe.vdev), 0);
	for (unsigned i = 0; i < BK_NREQ; i++) {
		const struct bk_req *r = &be->req[i];

		assert_int_equal(r->done, 1);
		assert_int_equal(r->err, 0);
		if (r->type == VIO_BLK_T_OUT) {
			for (unsigned k = 0; k < BK_IO; k++)
				assert_int_equal(be->disk[r->off + k], r->fill);
		}
	}
	assert_memory_equal(be->req[1].buf, before[0], BK_IO);
	assert_memory_equal(be->req[4].buf, before[1], BK_IO);
	assert_true(bk_log_says(be, "resubmitted from the inflight log"));
	assert_int_equal(bk_log_inflight(be, pk), 0);
	for (unsigned i = 0; i < BK_NREQ; i++)
		vio_blk_drv_free_buffer(&be->fe.vdev, be->req[i].buf, BK_IO);
}

/* ======================================================================== */
/* Session tests (one variant)                                              */

/* What the two libvio ends agree on. */
static void test_negotiation(void **state)
{
	struct env *e = *state;
	const uint64_t want = VIO_BIT(VU_PROTOCOL_F_MQ) | VIO_BIT(VU_PROTOCOL_F_REPLY_ACK) |
			      VIO_BIT(VU_PROTOCOL_F_BACKEND_REQ) | VIO_BIT(VU_PROTOCOL_F_CONFIG) |
			      VIO_BIT(VU_PROTOCOL_F_RESET_DEVICE) | VIO_BIT(VU_PROTOCOL_F_STATUS) |
			      VIO_BIT(VU_PROTOCOL_F_INFLIGHT_SHMFD);

	env_up(e, DEV_TD);
	/* DRIVER_OK asked for an inflight log: both queues, the ring size. */
	assert_true(e->fe.inflight_fd >= 0);
	assert_int_equal(e->fe.inflight_queues, 2);
	assert_int_equal(e->fe.inflight_queue_size, TD_QSIZE);
	assert_true(e->fe.inflight_size >= 2 * vio_inflight_queue_bytes(0, TD_QSIZE));
	assert_true(e->fe.protocol);
	assert_int_equal(e->fe.protocol_features, want);
	assert_int_equal(e->fe.offered, e->td->dev.host_features);
	assert_false(e->fe.vdev.ops->get_features(&e->fe.vdev) & VIO_BIT(VU_F_PROTOCOL_FEATURES));
	assert_int_equal(e->fe.vdev.ops->get_status(&e->fe.vdev),
			 VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER | VIO_STATUS_FEATURES_OK |
			 VIO_STATUS_DRIVER_OK);
	assert_int_equal(e->fe.vdev.ops->queue_max(&e->fe.vdev, 0), TD_QSIZE);
	assert_int_equal(e->fe.vdev.ops->queue_max(&e->fe.vdev, 2), 0);
	assert_true(vio_vu_frontend_call_fd(&e->fe, 0) >= 0);
	assert_int_equal(vio_vu_frontend_call_fd(&e->fe, 2), -1);
}

/* Without MQ the caller's count holds: one queue of tdev's two. */
static void test_mq_off(void **state)
{
	struct env *e = *state;

	e->kind = DEV_TD;
	env_default_cfg(e);
	e->cfg.protocol_features_off = VIO_BIT(VU_PROTOCOL_F_MQ);
	e->cfg.num_queues = 1;
	tdrv_init(&e->tdrv, 0, 1);
	env_up(e, DEV_TD);
	assert_int_equal(e->fe.num_queues, 1);
	assert_int_equal(e->fe.vdev.ops->num_queues(&e->fe.vdev), 1);
	ts_submit(&e->tdrv, 0, 0);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 0, 1));
	ts_check(&e->tdrv, 0);
}

/* Queue count from GET_QUEUE_NUM wins over the caller's guess. */
static void test_mq_count_from_backend(void **state)
{
	struct env *e = *state;

	e->kind = DEV_TD;
	env_default_cfg(e);
	e->cfg.num_queues = 1;
	env_connect(e, DEV_TD);
	assert_int_equal(e->fe.num_queues, 2);
}

/* The status tracked here without PROTOCOL_F_STATUS; the backend still
 * runs the rings (its own DRIVER_OK). */
static void check_backend_running(void *arg)
{
	struct env *e = arg;

	assert_true(e->td->dev.status & VIO_STATUS_DRIVER_OK);
	assert_true(e->td->q[0].live);
}

static void test_status_off(void **state)
{
	struct env *e = *state;

	e->kind = DEV_TD;
	env_default_cfg(e);
	e->cfg.protocol_features_off = VIO_BIT(VU_PROTOCOL_F_STATUS);
	env_up(e, DEV_TD);
	assert_false(e->fe.protocol_features & VIO_BIT(VU_PROTOCOL_F_STATUS));
	assert_true(e->fe.vdev.ops->get_status(&e->fe.vdev) & VIO_STATUS_DRIVER_OK);
	on_backend(e, check_backend_running);
	ts_submit(&e->tdrv, 0, 1);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 1, 1));
}

/* Without REPLY_ACK (and without RESET_DEVICE) everything still works. */
static void test_reply_ack_off(void **state)
{
	struct env *e = *state;

	e->kind = DEV_TD;
	env_default_cfg(e);
	e->cfg.protocol_features_off = VIO_BIT(VU_PROTOCOL_F_REPLY_ACK) |
				       VIO_BIT(VU_PROTOCOL_F_RESET_DEVICE);
	env_up(e, DEV_TD);
	ts_submit(&e->tdrv, 1, 2);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 2, 1));
	vio_drv_unbind(&e->fe.vdev);
	fe_sync(e);
	on_backend(e, check_backend_reset);
	assert_int_equal(vio_drv_bind(&e->fe.vdev), 0);
	ts_submit(&e->tdrv, 0, 3);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 3, 1));
}

static void test_config_read(void **state)
{
	struct env *e = *state;
	vio_le32 v;
	uint8_t all[TD_CONFIG_LEN];

	env_up(e, DEV_TD);
	assert_int_equal(vio_drv_config_read(&e->fe.vdev, TD_MAGIC_OFF, &v, sizeof(v)), 0);
	assert_int_equal(vio_le32_to_cpu(v), TD_MAGIC);
	assert_int_equal(vio_drv_config_read(&e->fe.vdev, 0, all, sizeof(all)), 0);
	assert_memory_equal(all + TD_MAGIC_OFF, &v, sizeof(v));
}

static unsigned config_writes_seen;
static uint8_t config_seen[TD_CONFIG_LEN];

static void td_snapshot_config(void *arg)
{
	struct env *e = arg;

	memcpy(config_seen, e->td->config, sizeof(config_seen));
	config_writes_seen = e->td->config_writes;
}

static void test_config_write(void **state)
{
	struct env *e = *state;
	const uint8_t w[4] = { 0xde, 0xad, 0xbe, 0xef };
	uint8_t r[4];

	env_up(e, DEV_TD);
	assert_int_equal(vio_drv_config_write(&e->fe.vdev, 8, w, sizeof(w)), 0);
	on_backend(e, td_snapshot_config);
	assert_memory_equal(config_seen + 8, w, sizeof(w));
	assert_int_equal(config_writes_seen, 1);
	assert_int_equal(vio_drv_config_read(&e->fe.vdev, 8, r, sizeof(r)), 0);
	assert_memory_equal(r, w, sizeof(w));
}

/* A range outside the backend's config space: it refuses, we report
 * -EIO, and the connection stays (the refusal is legitimate). */
static void test_config_out_of_range(void **state)
{
	struct env *e = *state;
	uint8_t b[8];

	env_up(e, DEV_TD);
	assert_int_equal(vio_drv_config_read(&e->fe.vdev, TD_CONFIG_LEN - 4, b, sizeof(b)), -EIO);
	assert_true(vio_vu_frontend_connected(&e->fe));
	assert_int_equal(vio_drv_config_write(&e->fe.vdev, TD_CONFIG_LEN, b, 1), -EIO);
	assert_true(vio_vu_frontend_connected(&e->fe));
	assert_int_equal(vio_drv_config_read(&e->fe.vdev, 0, b, 4), 0);
}

static void td_change_config(void *arg)
{
	struct env *e = arg;
	vio_le32 v = vio_cpu_to_le32(0xcafe);

	memcpy(e->td->config + TD_MAGIC_OFF, &v, sizeof(v));
	vio_dev_config_changed(&e->td->dev);
}

/* The device changes its config: CONFIG_CHANGE_MSG on the backend channel
 * bumps the generation and reaches the driver's config_changed. */
static void test_config_change(void **state)
{
	struct env *e = *state;
	const int64_t deadline = now_ms() + WAIT_MS;
	uint32_t gen;
	vio_le32 v;

	env_up(e, DEV_TD);
	gen = e->fe.vdev.ops->config_generation(&e->fe.vdev);
	on_backend(e, td_change_config);
	while (e->tdrv.config_changes == 0 && now_ms() < deadline)
		(void)vio_drv_wait(&e->fe.vdev, 50);
	assert_int_equal(e->tdrv.config_changes, 1);
	assert_int_equal(e->fe.vdev.ops->config_generation(&e->fe.vdev), gen + 1);
	assert_int_equal(vio_drv_config_read(&e->fe.vdev, TD_MAGIC_OFF, &v, sizeof(v)), 0);
	assert_int_equal(vio_le32_to_cpu(v), 0xcafe);
}

static void test_config_without_protocol_feature(void **state)
{
	struct env *e = *state;
	uint8_t b[4];

	e->kind = DEV_TD;
	env_default_cfg(e);
	e->cfg.protocol_features_off = VIO_BIT(VU_PROTOCOL_F_CONFIG);
	env_up(e, DEV_TD);
	assert_int_equal(vio_drv_config_read(&e->fe.vdev, 0, b, sizeof(b)), -ENOTSUP);
	assert_int_equal(vio_drv_config_write(&e->fe.vdev, 0, b, sizeof(b)), -ENOTSUP);
}

static void td_needs_reset(void *arg)
{
	vio_dev_needs_reset(&((struct env *)arg)->td->dev, "test: the device gave up");
}

/* The device needs a reset: the error eventfd fires, the driver hears of
 * it and the status says so; a reset clears it. */
static void test_needs_reset_from_backend(void **state)
{
	struct env *e = *state;
	const int64_t deadline = now_ms() + WAIT_MS;

	env_up(e, DEV_TD);
	on_backend(e, td_needs_reset);
	while (e->tdrv.config_changes == 0 && now_ms() < deadline)
		(void)vio_drv_wait(&e->fe.vdev, 50);
	assert_true(e->tdrv.config_changes >= 1);
	assert_true(e->fe.vdev.ops->get_status(&e->fe.vdev) & VIO_STATUS_NEEDS_RESET);
	vio_drv_unbind(&e->fe.vdev);
	assert_int_equal(vio_drv_bind(&e->fe.vdev), 0);
	assert_false(e->fe.vdev.ops->get_status(&e->fe.vdev) & VIO_STATUS_NEEDS_RESET);
	ts_submit(&e->tdrv, 0, 0);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 0, 1));
}

/* The DMA allocator: addresses in the shared region, aligned, distinct,
 * translatable, and exhaustion is NULL, not a crash. */
static void test_dma_memory(void **state)
{
	struct env *e = *state;
	struct vio_drv_device *d = &e->fe.vdev;
	uint64_t a, b, c;
	uint8_t *pa, *pb;
	int local;

	env_connect(e, DEV_TD);
	pa = vio_drv_dma_alloc(d, 100, 4096, &a);
	pb = vio_drv_dma_alloc(d, 100, 64, &b);
	assert_non_null(pa);
	assert_non_null(pb);
	assert_true(a >= VIO_VU_FE_GUEST_BASE);
	assert_true(a + 100 <= VIO_VU_FE_GUEST_BASE + e->cfg.memory_bytes);
	assert_int_equal(a % 4096, 0);
	assert_int_equal(b % 64, 0);
	assert_true(a != b);
	assert_int_equal(vio_drv_dma_addr(d, pa + 5), a + 5);
	assert_int_equal(vio_drv_dma_addr(d, &local), UINT64_MAX);
	assert_null(vio_drv_dma_alloc(d, e->cfg.memory_bytes + 1, 64, &c));
	assert_null(vio_drv_dma_alloc(d, 64, 3, &c));
	vio_drv_dma_free(d, pa, 100);
	assert_non_null(vio_drv_dma_alloc(d, 100, 4096, &c));
	assert_int_equal(c, a);
}

/* A legacy driver (no VERSION_1): no FEATURES_OK, so the features go to
 * the backend with DRIVER_OK; native-endian rings work end to end. */
static void test_legacy_rng(void **state)
{
	struct env *e = *state;
	struct vio_rng_dev_opts o = { .legacy_ok = true };
	const struct vio_rng_drv_opts no_v1 = { .features_off = VIO_BIT(VIO_F_VERSION_1) };

	e->kind = DEV_RNG;
	env_default_cfg(e);
	e->rng = calloc(1, sizeof(*e->rng));
	assert_non_null(e->rng);
	assert_int_equal(vio_rng_dev_init(e->rng, &o), 0);
	assert_int_equal(vio_vu_frontend_connect_fd(&e->fe, env_spawn_backend(e), &e->cfg), 0);
	e->fe_up = true;
	assert_int_equal(vio_rng_drv_register(&e->bus, &e->rdrv, &no_v1), 0);
	assert_int_equal(vio_bus_add_device(&e->bus, &e->fe.vdev), 0);
	e->on_bus = true;
	assert_non_null(e->fe.vdev.driver);
	assert_true(e->fe.vdev.legacy);
	rng_read_ok(e, 10000);
}

/* Bad arguments to connect: refused before any I/O. */
static void test_connect_bad_config(void **state)
{
	struct vio_vu_frontend fe;
	struct vio_vu_frontend_config cfg = { .device_id = TD_ID, .num_queues = 1 };
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(vio_vu_frontend_connect_fd(&fe, sv[0], &cfg), -EINVAL);
	/* The frontend owned sv[0] and closed it. */
	assert_int_equal(send(sv[1], "x", 1, MSG_NOSIGNAL), -1);
	close(sv[1]);
	cfg.memory_bytes = 4096;
	cfg.num_queues = VIO_VU_MAX_QUEUES + 1;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(vio_vu_frontend_connect_fd(&fe, sv[0], &cfg), -EINVAL);
	close(sv[1]);
	cfg.num_queues = 1;
	assert_true(vio_vu_frontend_connect(&fe, "/nonexistent/vio.sock", &cfg) < 0);
	assert_false(vio_vu_frontend_connected(&fe));
}

static void env_listen(struct env *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static unsigned n;

	snprintf(e->path, sizeof(e->path), "/tmp/vio-vufront-%d-%u.sock", (int)getpid(), n++);
	unlink(e->path);
	memcpy(sa.sun_path, e->path, strlen(e->path) + 1);
	e->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(e->listen_fd >= 0);
	assert_int_equal(bind(e->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(e->listen_fd, 4), 0);
}

/* The usual deployment: the backend listens on a path; connect and, after
 * it restarts, reconnect by path. */
static void test_unix_socket_path(void **state)
{
	struct env *e = *state;

	e->kind = DEV_RNG;
	env_default_cfg(e);
	env_listen(e);
	env_new_dev(e, 0);
	e->be = be_start(&e->rng->dev, -1, e->listen_fd);
	assert_int_equal(vio_vu_frontend_connect(&e->fe, e->path, &e->cfg), 0);
	e->fe_up = true;
	env_bind(e);
	rng_read_ok(e, 4096);
	be_stop(e->be);
	env_free_dev(e);
	env_new_dev(e, 0);
	e->be = be_start(&e->rng->dev, -1, e->listen_fd);
	assert_int_equal(vio_vu_frontend_reconnect(&e->fe, e->path), 0);
	rng_read_ok(e, 4096);
}

/* The backend goes away while the driver waits: wait returns, the
 * connection is marked gone, nothing else changes. */
static void test_backend_gone_during_wait(void **state)
{
	struct env *e = *state;
	const int64_t deadline = now_ms() + WAIT_MS;
	uint8_t b[4];

	env_up(e, DEV_TD);
	be_stop(e->be);
	e->be = NULL;
	while (vio_vu_frontend_connected(&e->fe) && now_ms() < deadline)
		(void)vio_drv_wait(&e->fe.vdev, 50);
	assert_false(vio_vu_frontend_connected(&e->fe));
	assert_int_equal(vio_vu_frontend_error(&e->fe), -ECONNRESET);
	assert_int_equal(vio_drv_wait(&e->fe.vdev, 10), -ETIMEDOUT);
	/* Control calls fail cleanly while away. */
	assert_int_equal(vio_drv_config_read(&e->fe.vdev, 0, b, sizeof(b)), -ENOTCONN);
	assert_true(strstr(e->log.last, "went away") != NULL);
}

/* The restarted backend no longer offers EVENT_IDX, which is in use:
 * reconnect refuses with a clear error. */
static void test_reconnect_missing_feature(void **state)
{
	static const struct variant v = { VIO_BIT(VIO_F_EVENT_IDX), "split+event_idx" };
	struct env *e = *state;

	e->v = &v;
	env_up(e, DEV_TD);
	assert_true(vio_drv_has_feature(&e->fe.vdev, VIO_F_EVENT_IDX));
	assert_int_equal(env_restart_backend(e, 0), -EPROTO);
	assert_false(vio_vu_frontend_connected(&e->fe));
	assert_true(strstr(e->log.last, "no longer offers") != NULL ||
		    strstr(e->log.last, "reconnect failed") != NULL);
	/* A proper backend afterwards: fine again. */
	assert_int_equal(env_restart_backend(e, VIO_BIT(VIO_F_EVENT_IDX)), 0);
	ts_submit(&e->tdrv, 0, 1);
	assert_true(ts_wait(&e->fe.vdev, &e->tdrv, 1, 1));
}

/* ======================================================================== */
/* Hostile: a fake backend scripted here                                    */

enum fake_mode {
	FAKE_OK,
	FAKE_WRONG_SIZE,        /* the reply's size field is off by 4 */
	FAKE_WRONG_REQUEST,     /* the reply names another request */
	FAKE_NO_REPLY_FLAG,
	FAKE_BAD_VERSION,
	FAKE_WITH_FD,           /* an fd rides along */
	FAKE_HUGE,              /* a 1 MiB payload announced */
	FAKE_SILENT,            /* never answers */
	FAKE_CLOSE,             /* hangs up instead of answering */
	FAKE_VALUE,             /* answers `value` (u64 replies and acks) */
	FAKE_CONFIG_SHORT,      /* GET_CONFIG: one byte less than asked */
	FAKE_CONFIG_REFUSE,     /* GET_CONFIG: the 12-byte refusal */
	FAKE_CONFIG_OFFSET,     /* GET_CONFIG: right size, another offset */
	FAKE_CONFIG_FROM_START, /* GET_CONFIG: byte i of config space is i, and the
				 * answer starts at 0 whatever the offset asked,
				 * as libvhost-user's does */
	FAKE_WRONG_INDEX,       /* GET_VRING_BASE: another ring */
	FAKE_INFLIGHT_DECLINE,  /* GET_INFLIGHT_FD: mmap_size 0, no fd */
	FAKE_INFLIGHT_SMALL,    /* GET_INFLIGHT_FD: a log one byte too small */
	FAKE_INFLIGHT_NO_FD,    /* GET_INFLIGHT_FD: a log but no fd */
	FAKE_INFLIGHT_TWO_FDS,  /* GET_INFLIGHT_FD: the log's fd twice */
	FAKE_INFLIGHT_OFFSET,   /* GET_INFLIGHT_FD: an offset past the file's end */
	FAKE_REFUSE_STATUS,     /* SET_STATUS: refused (ack 1) when it has a bit of `value` */
	FAKE_DEAF,              /* stops reading the socket for good */
	FAKE_DRIP,              /* the reply goes out one byte every 100 ms */
};

struct fake {
	int sock;
	uint64_t features, later_features, protocol_features, queue_num;
	uint32_t target;
	enum fake_mode mode;
	uint64_t value;
	/* seen by the fake (atomic) */
	unsigned seen[VU_REQUEST_MAX];
	int backend_fd;                 /* atomic: from SET_BACKEND_REQ_FD */
	uint64_t status;
	bool deaf, quit;                /* atomic: FAKE_DEAF; teardown */
	pthread_t thread;
};

struct fake_msg {
	struct vu_header h;
	union vu_payload p;
	int fds[VU_MAX_FDS];
	unsigned nfds;
};

/* Reads one whole message with its fds; false on EOF or error. */
static bool fake_recv(int sock, struct fake_msg *m)
{
	char control[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
	struct iovec iov = { &m->h, sizeof(m->h) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			     .msg_controllen = sizeof(control) };
	struct pollfd p = { sock, POLLIN, 0 };
	size_t got = 0;

	m->nfds = 0;
	if (poll(&p, 1, 10000) <= 0)
		return false;
	if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL) != sizeof(m->h))
		return false;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (size_t i = 0; i < k && m->nfds < VU_MAX_FDS; i++)
			memcpy(&m->fds[m->nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	if (m->h.size > sizeof(m->p))
		return false;
	while (got < m->h.size) {
		ssize_t n = recv(sock, (uint8_t *)&m->p + got, m->h.size - got, MSG_WAITALL);

		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	return true;
}

/* Sends a reply with up to two fds (fds[i] < 0: none). */
static void fake_send(int sock, uint32_t req, uint32_t flags, const void *p, uint32_t size,
		      uint32_t announce, const int fds[2])
{
	struct vu_header h = { req, flags, announce };
	uint8_t buf[sizeof(h) + sizeof(union vu_payload)];
	char control[CMSG_SPACE(2 * sizeof(int))];
	const unsigned n = (fds[0] >= 0) + (fds[1] >= 0);
	struct iovec iov = { buf, sizeof(h) + size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), p, size);
	if (n) {
		struct cmsghdr *c;

		memset(control, 0, sizeof(control));
		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(c), fds[0] >= 0 ? &fds[0] : &fds[1], n * sizeof(int));
	}
	(void)sendmsg(sock, &mh, MSG_NOSIGNAL);
}

/* Answers m as a simple, correct backend would: fills *p, returns the
 * payload size, or -1 when the request has no reply of its own. */
static int fake_answer(struct fake *f, struct fake_msg *m, union vu_payload *p)
{
	unsigned seen = f->seen[m->h.request];

	switch (m->h.request) {
	case VU_GET_FEATURES:
		p->u64 = seen > 1 && f->later_features ? f->later_features : f->features;
		return 8;
	case VU_GET_PROTOCOL_FEATURES:
		p->u64 = f->protocol_features;
		return 8;
	case VU_GET_QUEUE_NUM:
		p->u64 = f->queue_num;
		return 8;
	case VU_GET_STATUS:
		p->u64 = f->status;
		return 8;
	case VU_GET_VRING_BASE:
		p->state = m->p.state;
		p->state.num = 0;
		return sizeof(p->state);
	case VU_GET_CONFIG:
		*p = m->p;
		memset(p->config.data, 0x5a, sizeof(p->config.data));
		return (int)m->h.size;
	case VU_GET_INFLIGHT_FD:
		/* The log itself is made in fake_handle. */
		*p = m->p;
		p->inflight.mmap_offset = 0;
		p->inflight.mmap_size = (uint64_t)vio_inflight_queue_bytes(0, m->p.inflight.queue_size) *
					m->p.inflight.num_queues;
		return sizeof(p->inflight);
	default:
		return -1;
	}
}

/* Sends a reply one byte every 100 ms, until it is out or the test ends. */
static void fake_drip(struct fake *f, uint32_t req, uint32_t flags, const void *p, uint32_t size)
{
	struct vu_header h = { req, flags, size };
	uint8_t buf[sizeof(h) + sizeof(union vu_payload)];

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), p, size);
	for (size_t i = 0; i < sizeof(h) + size && !__atomic_load_n(&f->quit, __ATOMIC_ACQUIRE);
	     i++) {
		if (send(f->sock, buf + i, 1, MSG_NOSIGNAL) != 1)
			return;
		usleep(100 * 1000);
	}
}

static void fake_handle(struct fake *f, struct fake_msg *m)
{
	union vu_payload p;
	int size = fake_answer(f, m, &p);
	bool ack = size < 0 && (m->h.flags & VU_FLAG_NEED_REPLY);
	uint32_t req = m->h.request, flags = VU_VERSION | VU_FLAG_REPLY;
	uint32_t announce;
	int fds[2] = { -1, -1 }, log_fd = -1;

	if (m->h.request == VU_SET_STATUS)
		f->status = m->p.u64;
	if (m->h.request == VU_SET_BACKEND_REQ_FD && m->nfds == 1) {
		__atomic_store_n(&f->backend_fd, m->fds[0], __ATOMIC_RELEASE);
		m->nfds = 0;
	}
	if (ack) {
		p.u64 = 0;
		size = 8;
	}
	if (m->h.request == __atomic_load_n(&f->target, __ATOMIC_ACQUIRE) &&
	    __atomic_load_n(&f->mode, __ATOMIC_ACQUIRE) == FAKE_DEAF) {
		__atomic_store_n(&f->deaf, true, __ATOMIC_RELEASE);
		return;
	}
	if (size < 0)
		return;
	if (req == VU_GET_INFLIGHT_FD) {
		log_fd = memfd_create("fake-inflight", MFD_CLOEXEC);
		assert_true(log_fd >= 0);
		assert_int_equal(ftruncate(log_fd, (off_t)p.inflight.mmap_size), 0);
		fds[0] = log_fd;
	}
	announce = (uint32_t)size;
	if (m->h.request == __atomic_load_n(&f->target, __ATOMIC_ACQUIRE)) {
		switch (__atomic_load_n(&f->mode, __ATOMIC_ACQUIRE)) {
		case FAKE_WRONG_SIZE: announce = (uint32_t)size + 4; break;
		case FAKE_WRONG_REQUEST: req++; break;
		case FAKE_NO_REPLY_FLAG: flags = VU_VERSION; break;
		case FAKE_BAD_VERSION: flags = 2 | VU_FLAG_REPLY; break;
		case FAKE_WITH_FD: fds[0] = f->sock; break;
		case FAKE_HUGE: announce = 1u << 20; break;
		case FAKE_SILENT: return;
		case FAKE_CLOSE: shutdown(f->sock, SHUT_RDWR); return;
		case FAKE_VALUE: p.u64 = __atomic_load_n(&f->value, __ATOMIC_ACQUIRE); break;
		case FAKE_CONFIG_SHORT: p.config.size--; size--; announce--; break;
		case FAKE_CONFIG_REFUSE: p.config.size = 0; size = announce = VU_CONFIG_HDR; break;
		case FAKE_CONFIG_OFFSET: p.config.offset++; break;
		case FAKE_CONFIG_FROM_START:
			for (unsigned i = 0; i < p.config.size && i < VU_CONFIG_MAX; i++)
				p.config.data[i] = (uint8_t)i;
			break;
		case FAKE_WRONG_INDEX: p.state.index++; break;
		case FAKE_INFLIGHT_DECLINE: p.inflight.mmap_size = 0; fds[0] = -1; break;
		case FAKE_INFLIGHT_SMALL: p.inflight.mmap_size--; break;
		case FAKE_INFLIGHT_NO_FD: fds[0] = -1; break;
		case FAKE_INFLIGHT_TWO_FDS: fds[1] = log_fd; break;
		case FAKE_INFLIGHT_OFFSET: p.inflight.mmap_offset = p.inflight.mmap_size; break;
		case FAKE_REFUSE_STATUS:
			if (m->p.u64 & __atomic_load_n(&f->value, __ATOMIC_ACQUIRE))
				p.u64 = 1;
			break;
		case FAKE_DEAF: return; /* above */
		case FAKE_DRIP: fake_drip(f, req, flags, &p, (uint32_t)size); return;
		case FAKE_OK: break;
		}
	}
	fake_send(f->sock, req, flags, &p, (uint32_t)size, announce, fds);
	if (log_fd >= 0)
		close(log_fd);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct fake_msg m;

	while (fake_recv(f->sock, &m)) {
		if (m.h.request < VU_REQUEST_MAX)
			__atomic_fetch_add(&f->seen[m.h.request], 1, __ATOMIC_RELAXED);
		fake_handle(f, &m);
		for (unsigned i = 0; i < m.nfds; i++)
			close(m.fds[i]);
		/* Deaf: alive, holding the socket, reading nothing. */
		while (__atomic_load_n(&f->deaf, __ATOMIC_ACQUIRE) &&
		       !__atomic_load_n(&f->quit, __ATOMIC_ACQUIRE))
			usleep(1000);
	}
	return NULL;
}

/* A fake offering a typical set; tests adjust it before fake_connect. */
static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	f->features = VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VU_F_PROTOCOL_FEATURES);
	f->protocol_features = VIO_BIT(VU_PROTOCOL_F_MQ) | VIO_BIT(VU_PROTOCOL_F_REPLY_ACK) |
			       VIO_BIT(VU_PROTOCOL_F_CONFIG) | VIO_BIT(VU_PROTOCOL_F_STATUS) |
			       VIO_BIT(VU_PROTOCOL_F_BACKEND_REQ) |
			       VIO_BIT(VU_PROTOCOL_F_RESET_DEVICE);
	f->queue_num = 1;
	f->backend_fd = -1;
}

/* What the fake does wrong, and to which request. Settable while it runs. */
static void fake_script(struct fake *f, uint32_t target, enum fake_mode mode, uint64_t value)
{
	__atomic_store_n(&f->value, value, __ATOMIC_RELEASE);
	__atomic_store_n(&f->mode, mode, __ATOMIC_RELEASE);
	__atomic_store_n(&f->target, target, __ATOMIC_RELEASE);
}

struct fake_env {
	struct fake f;
	struct vio_vu_frontend fe;
	struct vio_vu_frontend_config cfg;
	struct logbuf log;
	struct vio_bus bus;
	struct tdrv drv;
	bool fe_up, on_bus, fake_up;
	const void *param;              /* the test's row, if any */
};

static int fake_setup(void **state)
{
	struct fake_env *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fake_init(&fx->f);
	fx->cfg = (struct vio_vu_frontend_config){
		.device_id = TD_ID, .memory_bytes = 1u << 20, .num_queues = 1, .queue_max = 64,
		.timeout_ms = FAKE_TIMEOUT_MS, .log = log_keep, .log_opaque = &fx->log,
	};
	vio_bus_init(&fx->bus, vt_heap_alloc, vt_heap_free, NULL);
	tdrv_init(&fx->drv, 0, 1);
	fx->param = *state;
	*state = fx;
	return 0;
}

static int fake_teardown(void **state)
{
	struct fake_env *fx = *state;
	int bfd;

	if (fx->on_bus)
		vio_bus_remove_device(&fx->bus, &fx->fe.vdev);
	if (fx->fe_up)
		vio_vu_frontend_fini(&fx->fe);
	if (fx->fake_up) {
		__atomic_store_n(&fx->f.quit, true, __ATOMIC_RELEASE);
		shutdown(fx->f.sock, SHUT_RDWR);
		pthread_join(fx->f.thread, NULL);
		close(fx->f.sock);
	}
	bfd = __atomic_load_n(&fx->f.backend_fd, __ATOMIC_ACQUIRE);
	if (bfd >= 0)
		close(bfd);
	free(fx);
	return 0;
}

/* Starts the fake and connects the frontend to it: connect's result. */
static int fake_connect(struct fake_env *fx)
{
	int sv[2], r;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fx->f.sock = sv[1];
	assert_int_equal(pthread_create(&fx->f.thread, NULL, fake_main, &fx->f), 0);
	fx->fake_up = true;
	r = vio_vu_frontend_connect_fd(&fx->fe, sv[0], &fx->cfg);
	fx->fe_up = r == 0;
	return r;
}

static unsigned fake_seen(struct fake_env *fx, uint32_t req)
{
	return __atomic_load_n(&fx->f.seen[req], __ATOMIC_RELAXED);
}

/* Waits until the fake has seen n messages of req (it answers some of
 * them only when asked to, so the frontend may be ahead of it). */
static bool fake_wait_seen(struct fake_env *fx, uint32_t req, unsigned n)
{
	const int64_t deadline = now_ms() + WAIT_MS;

	while (fake_seen(fx, req) < n && now_ms() < deadline)
		usleep(1000);
	return fake_seen(fx, req) == n;
}

static void fake_bind(struct fake_env *fx)
{
	assert_int_equal(vio_bus_register_driver(&fx->bus, &fx->drv.drv), 0);
	assert_int_equal(vio_bus_add_device(&fx->bus, &fx->fe.vdev), 0);
	fx->on_bus = true;
}

/* connect fails with err, and the log says why (contains `says`). */
static void expect_connect_error(struct fake_env *fx, int err, const char *says)
{
	const int64_t t0 = now_ms();

	assert_int_equal(fake_connect(fx), err);
	assert_true(now_ms() - t0 < WAIT_MS);
	if (!strstr(fx->log.last, says))
		fail_msg("log says \"%s\", expected \"%s\"", fx->log.last, says);
}

/* One wrong reply during connect, and what the frontend must say. */
struct hostile_reply {
	const char *name;
	uint32_t req;
	enum fake_mode mode;
	int err;
	const char *says;       /* in the log line */
};

static const struct hostile_reply hostile_replies[] = {
	{ "wrong size", VU_GET_FEATURES, FAKE_WRONG_SIZE, -EPROTO, "12-byte payload" },
	{ "wrong request", VU_GET_FEATURES, FAKE_WRONG_REQUEST, -EPROTO, "reply to request 2" },
	{ "no reply flag", VU_GET_PROTOCOL_FEATURES, FAKE_NO_REPLY_FLAG, -EPROTO, "REPLY missing" },
	{ "bad version", VU_GET_FEATURES, FAKE_BAD_VERSION, -EPROTO, "version 2" },
	{ "reply with an fd", VU_GET_QUEUE_NUM, FAKE_WITH_FD, -EPROTO, "file descriptors" },
	{ "huge payload", VU_GET_FEATURES, FAKE_HUGE, -EPROTO, "1048576-byte" },
	{ "silence", VU_GET_PROTOCOL_FEATURES, FAKE_SILENT, -ETIMEDOUT, "no reply" },
	{ "close mid-handshake", VU_GET_PROTOCOL_FEATURES, FAKE_CLOSE, -ECONNRESET, "closed" },
	{ "ack of wrong size", VU_SET_OWNER, FAKE_WRONG_SIZE, -EPROTO, "SET_OWNER" },
	{ "no ack", VU_SET_MEM_TABLE, FAKE_SILENT, -ETIMEDOUT, "SET_MEM_TABLE" },
	{ "no queues", VU_GET_QUEUE_NUM, FAKE_VALUE, -EPROTO, "GET_QUEUE_NUM answered 0" },
};

static void test_hostile_reply(void **state)
{
	struct fake_env *fx = *state;
	const struct hostile_reply *c = fx->param;

	fake_script(&fx->f, c->req, c->mode, 0);
	expect_connect_error(fx, c->err, c->says);
}

/* No MQ and no queue count from the caller: nothing to go on. */
static void test_hostile_no_queue_count(void **state)
{
	struct fake_env *fx = *state;

	fx->f.protocol_features &= ~VIO_BIT(VU_PROTOCOL_F_MQ);
	fx->cfg.num_queues = 0;
	expect_connect_error(fx, -EINVAL, "no queue count");
}

/* A backend with more queues than we support is capped, not refused. */
static void test_hostile_queue_num_huge(void **state)
{
	struct fake_env *fx = *state;

	fx->f.queue_num = UINT64_MAX;
	assert_int_equal(fake_connect(fx), 0);
	assert_int_equal(fx->fe.num_queues, VIO_VU_MAX_QUEUES);
}

/* A legitimate refusal (REPLY_ACK non-zero) is an error, not a crash. */
static void test_hostile_refuses_mem_table(void **state)
{
	struct fake_env *fx = *state;

	fake_script(&fx->f, VU_SET_MEM_TABLE, FAKE_VALUE, 1);
	expect_connect_error(fx, -EIO, "refused SET_MEM_TABLE");
}

/* Protocol feature bits nobody knows are ignored, not acked. */
static void test_hostile_unknown_protocol_features(void **state)
{
	struct fake_env *fx = *state;

	fx->f.protocol_features = ~UINT64_C(0);
	assert_int_equal(fake_connect(fx), 0);
	assert_int_equal(fx->fe.protocol_features & ~(VIO_BIT(17) - 1), 0);
	assert_false(fx->fe.protocol_features & VIO_BIT(VU_PROTOCOL_F_INBAND_NOTIFICATIONS));
}

/* A backend without protocol features: no protocol messages, rings start
 * enabled (no SET_VRING_ENABLE), and GET_FEATURES confirms SET_FEATURES. */
static void test_hostile_ok_without_protocol_features(void **state)
{
	struct fake_env *fx = *state;

	fx->f.features = VIO_BIT(VIO_F_VERSION_1);
	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_non_null(fx->fe.vdev.driver);
	assert_false(fx->fe.protocol);
	assert_true(fake_wait_seen(fx, VU_SET_VRING_KICK, 1));
	assert_int_equal(fake_seen(fx, VU_GET_PROTOCOL_FEATURES), 0);
	assert_int_equal(fake_seen(fx, VU_SET_VRING_ENABLE), 0);
	assert_int_equal(fake_seen(fx, VU_SET_FEATURES), 1);
	assert_true(fake_seen(fx, VU_GET_FEATURES) >= 2);
}

/* The feature offer changes between GET_FEATURES calls (bits it never
 * offered appear): FEATURES_OK fails, the driver is not bound, and the
 * device is FAILED, with the reason logged. */
static void test_hostile_features_change(void **state)
{
	struct fake_env *fx = *state;

	fx->f.features = VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VU_F_PROTOCOL_FEATURES);
	fx->f.later_features = fx->f.features | VIO_BIT(VIO_F_EVENT_IDX) | VIO_BIT(3);
	fx->f.protocol_features &= ~VIO_BIT(VU_PROTOCOL_F_REPLY_ACK);
	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_null(fx->fe.vdev.driver);
	assert_true(fx->fe.vdev.ops->get_status(&fx->fe.vdev) & VIO_STATUS_FAILED);
	assert_int_equal(vio_vu_frontend_error(&fx->fe), -EPROTO);
	assert_true(strstr(fx->log.last, "GET_FEATURES now says") != NULL);
}

/* The driver may not ask for features the backend did not offer. */
static void test_hostile_set_features_not_offered(void **state)
{
	struct fake_env *fx = *state;
	struct vio_drv_device *d = &fx->fe.vdev;

	assert_int_equal(fake_connect(fx), 0);
	assert_int_equal(d->ops->set_features(d, VIO_BIT(VIO_F_EVENT_IDX)), -EINVAL);
}

static void config_hostile(void **state, enum fake_mode mode, int err, bool still_connected,
			   const char *says)
{
	struct fake_env *fx = *state;
	uint8_t b[8];

	fake_script(&fx->f, VU_GET_CONFIG, mode, 0);
	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_int_equal(vio_drv_config_read(&fx->fe.vdev, 4, b, sizeof(b)), err);
	assert_int_equal(vio_vu_frontend_connected(&fx->fe), still_connected);
	assert_int_equal(!!(fx->fe.vdev.ops->get_status(&fx->fe.vdev) & VIO_STATUS_NEEDS_RESET),
			 !still_connected);
	if (!strstr(fx->log.last, says))
		fail_msg("log says \"%s\", expected \"%s\"", fx->log.last, says);
}

static void test_hostile_config_wrong_size(void **state)
{
	config_hostile(state, FAKE_CONFIG_SHORT, -EPROTO, false, "23-byte payload, expected 24");
}

static void test_hostile_config_refused(void **state)
{
	config_hostile(state, FAKE_CONFIG_REFUSE, -EIO, true, "refused GET_CONFIG");
}

/* A backend that answers from offset 0 whatever was asked (libvhost-user:
 * qemu-storage-daemon) still gives the driver the bytes it asked for. */
static void test_config_read_from_start(void **state)
{
	struct fake_env *fx = *state;
	uint8_t b[8];

	fake_script(&fx->f, VU_GET_CONFIG, FAKE_CONFIG_FROM_START, 0);
	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_int_equal(vio_drv_config_read(&fx->fe.vdev, 34, b, sizeof(b)), 0);
	for (unsigned i = 0; i < sizeof(b); i++)
		assert_int_equal(b[i], 34 + i);
	assert_true(vio_vu_frontend_connected(&fx->fe));
}

static void test_hostile_config_wrong_offset(void **state)
{
	config_hostile(state, FAKE_CONFIG_OFFSET, -EPROTO, false, "answered [1, +12)");
}

/* GET_VRING_BASE answers for another ring while the driver resets the
 * device: the reset completes here, the connection is dropped. */
static void test_hostile_vring_base_wrong_index(void **state)
{
	struct fake_env *fx = *state;

	fake_script(&fx->f, VU_GET_VRING_BASE, FAKE_WRONG_INDEX, 0);
	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_non_null(fx->fe.vdev.driver);
	vio_drv_unbind(&fx->fe.vdev);
	assert_false(vio_vu_frontend_connected(&fx->fe));
	assert_int_equal(vio_vu_frontend_error(&fx->fe), -EPROTO);
	assert_true(strstr(fx->log.last, "GET_VRING_BASE for ring 0 answered ring 1") != NULL);
	/* Rebinding without a backend fails cleanly. */
	(void)vio_drv_bind(&fx->fe.vdev);
	assert_null(fx->fe.vdev.driver);
}

/* A GET_INFLIGHT_FD reply that is wrong: the rings never go to the
 * backend, the connection drops with a line saying why, no fd is kept. */
struct hostile_inflight {
	const char *name;
	enum fake_mode mode;
	const char *says;
};

static const struct hostile_inflight hostile_inflights[] = {
	{ "log too small", FAKE_INFLIGHT_SMALL, "needed for 1 queues of 64" },
	{ "no fd", FAKE_INFLIGHT_NO_FD, "with 0 fds" },
	{ "two fds", FAKE_INFLIGHT_TWO_FDS, "carried 2 file descriptors" },
	{ "offset past the end", FAKE_INFLIGHT_OFFSET, "is not inside its file" },
};

static void test_hostile_inflight(void **state)
{
	struct fake_env *fx = *state;
	const struct hostile_inflight *c = fx->param;

	fx->f.protocol_features |= VIO_BIT(VU_PROTOCOL_F_INFLIGHT_SHMFD);
	fake_script(&fx->f, VU_GET_INFLIGHT_FD, c->mode, 0);
	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_int_equal(fake_seen(fx, VU_GET_INFLIGHT_FD), 1);
	assert_false(vio_vu_frontend_connected(&fx->fe));
	assert_int_equal(vio_vu_frontend_error(&fx->fe), -EPROTO);
	if (!strstr(fx->log.last, c->says))
		fail_msg("log says \"%s\", expected \"%s\"", fx->log.last, c->says);
	assert_int_equal(fx->fe.inflight_fd, -1);
	assert_int_equal(fake_seen(fx, VU_SET_INFLIGHT_FD), 0);
	assert_int_equal(fake_seen(fx, VU_SET_VRING_KICK), 0);
	assert_true(fx->fe.vdev.ops->get_status(&fx->fe.vdev) & VIO_STATUS_NEEDS_RESET);
}

/* mmap_size 0 and no fd: the backend declines; the rings start without. */
static void test_hostile_inflight_declined(void **state)
{
	struct fake_env *fx = *state;

	fx->f.protocol_features |= VIO_BIT(VU_PROTOCOL_F_INFLIGHT_SHMFD);
	fake_script(&fx->f, VU_GET_INFLIGHT_FD, FAKE_INFLIGHT_DECLINE, 0);
	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_non_null(fx->fe.vdev.driver);
	assert_true(vio_vu_frontend_connected(&fx->fe));
	assert_int_equal(fake_seen(fx, VU_GET_INFLIGHT_FD), 1);
	assert_int_equal(fx->fe.inflight_fd, -1);
	assert_int_equal(fake_seen(fx, VU_SET_INFLIGHT_FD), 0);
	assert_true(fake_wait_seen(fx, VU_SET_VRING_KICK, 1));
}

/* A well-formed log: kept, and handed back with SET_INFLIGHT_FD before the
 * first ring message. */
static void test_inflight_get_then_set(void **state)
{
	struct fake_env *fx = *state;

	fx->f.protocol_features |= VIO_BIT(VU_PROTOCOL_F_INFLIGHT_SHMFD);
	assert_int_equal(fake_connect(fx), 0);
	assert_int_equal(fake_seen(fx, VU_GET_INFLIGHT_FD), 0); /* not before DRIVER_OK */
	fake_bind(fx);
	assert_non_null(fx->fe.vdev.driver);
	assert_true(fx->fe.inflight_fd >= 0);
	assert_int_equal(fx->fe.inflight_size, vio_inflight_queue_bytes(0, 64));
	assert_true(fake_wait_seen(fx, VU_SET_INFLIGHT_FD, 1));
	assert_true(fake_wait_seen(fx, VU_SET_VRING_KICK, 1));
	/* Reset: the log describes rings that are gone, so it goes. */
	vio_drv_unbind(&fx->fe.vdev);
	assert_int_equal(fx->fe.inflight_fd, -1);
}

/* A backend that does not offer INFLIGHT_SHMFD is never asked. */
static void test_inflight_not_offered(void **state)
{
	struct fake_env *fx = *state;

	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_non_null(fx->fe.vdev.driver);
	assert_true(fake_wait_seen(fx, VU_SET_VRING_KICK, 1));
	assert_int_equal(fake_seen(fx, VU_GET_INFLIGHT_FD), 0);
	assert_int_equal(fx->fe.inflight_fd, -1);
}

static void test_hostile_status_out_of_range(void **state)
{
	struct fake_env *fx = *state;

	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	fake_script(&fx->f, VU_GET_STATUS, FAKE_VALUE, 0x1ff);
	assert_true(fx->fe.vdev.ops->get_status(&fx->fe.vdev) & VIO_STATUS_NEEDS_RESET);
	assert_int_equal(vio_vu_frontend_error(&fx->fe), -EPROTO);
	assert_true(strstr(fx->log.last, "not a status byte") != NULL);
}

/* The backend refuses the features (REPLY_ACK 1): FEATURES_OK stays
 * clear and the driver is not bound. */
static void test_hostile_refuses_features(void **state)
{
	struct fake_env *fx = *state;

	fake_script(&fx->f, VU_SET_FEATURES, FAKE_VALUE, 1);
	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_null(fx->fe.vdev.driver);
	assert_false(fx->fe.vdev.ops->get_status(&fx->fe.vdev) & VIO_STATUS_FEATURES_OK);
	assert_true(vio_vu_frontend_connected(&fx->fe));
}

/* The backend writes a message nobody asked for on the main socket. */
static void test_hostile_unsolicited(void **state)
{
	struct fake_env *fx = *state;
	struct vu_header h = { VU_GET_FEATURES, VU_VERSION | VU_FLAG_REPLY, 0 };

	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_int_equal(send(fx->f.sock, &h, sizeof(h), MSG_NOSIGNAL), sizeof(h));
	(void)vio_drv_wait(&fx->fe.vdev, 1000);
	assert_false(vio_vu_frontend_connected(&fx->fe));
	assert_int_equal(vio_vu_frontend_error(&fx->fe), -EPROTO);
	assert_true(strstr(fx->log.last, "nobody asked for") != NULL);
}

static int fake_backend_channel(struct fake_env *fx)
{
	int fd = __atomic_load_n(&fx->f.backend_fd, __ATOMIC_ACQUIRE);

	assert_true(fd >= 0);
	return fd;
}

/* CONFIG_CHANGE_MSG with NEED_REPLY: the frontend answers 0 on the
 * channel, bumps the generation and tells the driver. */
static void test_hostile_channel_config_change(void **state)
{
	struct fake_env *fx = *state;
	struct vu_header h = { VU_BACKEND_CONFIG_CHANGE_MSG, VU_VERSION | VU_FLAG_NEED_REPLY, 0 };
	struct { struct vu_header h; uint64_t v; } __attribute__((packed)) reply;
	struct pollfd p;
	uint32_t gen;
	int bfd;

	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	bfd = fake_backend_channel(fx);
	gen = fx->fe.vdev.ops->config_generation(&fx->fe.vdev);
	assert_int_equal(send(bfd, &h, sizeof(h), MSG_NOSIGNAL), sizeof(h));
	assert_int_equal(vio_drv_wait(&fx->fe.vdev, 1000), 0);
	assert_int_equal(fx->drv.config_changes, 1);
	assert_int_equal(fx->fe.vdev.ops->config_generation(&fx->fe.vdev), gen + 1);
	p = (struct pollfd){ bfd, POLLIN, 0 };
	assert_int_equal(poll(&p, 1, 1000), 1);
	assert_int_equal(recv(bfd, &reply, sizeof(reply), MSG_WAITALL), sizeof(reply));
	assert_int_equal(reply.h.request, VU_BACKEND_CONFIG_CHANGE_MSG);
	assert_int_equal(reply.h.flags, VU_VERSION | VU_FLAG_REPLY);
	assert_int_equal(reply.h.size, 8);
	assert_int_equal(reply.v, 0);
}

/* Garbage on the backend channel drops the connection with a reason. */
static void test_hostile_channel_garbage(void **state)
{
	struct fake_env *fx = *state;
	struct vu_header h = { VU_BACKEND_CONFIG_CHANGE_MSG, 3, 0 };

	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_int_equal(send(fake_backend_channel(fx), &h, sizeof(h), MSG_NOSIGNAL), sizeof(h));
	(void)vio_drv_wait(&fx->fe.vdev, 1000);
	assert_false(vio_vu_frontend_connected(&fx->fe));
	assert_int_equal(vio_vu_frontend_error(&fx->fe), -EPROTO);
	assert_true(strstr(fx->log.last, "backend channel") != NULL);
}

/* The backend hangs up while the driver binds: the bus marks the device
 * FAILED; nothing hangs and nothing crashes. */
static void test_hostile_close_during_bind(void **state)
{
	struct fake_env *fx = *state;

	fake_script(&fx->f, VU_SET_FEATURES, FAKE_CLOSE, 0);
	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_null(fx->fe.vdev.driver);
	assert_false(vio_vu_frontend_connected(&fx->fe));
	assert_int_equal(vio_vu_frontend_error(&fx->fe), -ECONNRESET);
}

/* ======================================================================== */
/* Hostile: deadlines, bounded sends, refused status, split and packed      */

/* The ring layouts: tests/lib/layouts.h. */

static int64_t thread_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connects and binds the test driver on the row's ring layout. */
static void fake_up_layout(struct fake_env *fx)
{
	const struct layout *l = fx->param;

	fx->f.features |= l->features;
	tdrv_init(&fx->drv, l->features, 1);
	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_non_null(fx->fe.vdev.driver);
	assert_int_equal(fx->fe.vdev.features & VIO_BIT(VIO_F_RING_PACKED), l->features);
}

static void expect_log(struct fake_env *fx, const char *says)
{
	if (!strstr(fx->log.last, says))
		fail_msg("log says \"%s\", expected \"%s\"", fx->log.last, says);
}

/*
 * A backend that listens and never accepts, its backlog full: connect
 * (and reconnect) by path fail when the timeout passes, not never.
 */
static void test_hostile_never_accepts(void **state)
{
	struct fake_env *fx = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/vio-fe-XXXXXX";
	int lfd, filler[4];
	unsigned nfill = 0;
	int64_t t0, wall;
	int r;

	assert_non_null(mkdtemp(dir));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", dir);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	/* Fill the backlog: connect without blocking until it says so. */
	while (nfill < 4) {
		int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

		assert_true(c >= 0);
		if (connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			assert_int_equal(errno, EAGAIN);
			close(c);
			break;
		}
		filler[nfill++] = c;
	}
	assert_true(nfill >= 1 && nfill < 4);
	t0 = now_ms();
	r = vio_vu_frontend_connect(&fx->fe, sa.sun_path, &fx->cfg);
	wall = now_ms() - t0;
	assert_int_equal(r, -ETIMEDOUT);
	if (wall < FAKE_TIMEOUT_MS - 10 || wall > FAKE_TIMEOUT_MS + 1500)
		fail_msg("connect took %lld ms, its deadline was %d ms", (long long)wall,
			 FAKE_TIMEOUT_MS);
	while (nfill)
		close(filler[--nfill]);
	close(lfd);
	unlink(sa.sun_path);
	rmdir(dir);
}

/* A thread that sends CONFIG_CHANGE on the backend channel as fast as
 * the socket takes it, and never reads. */
struct flood {
	int fd;
	bool need_reply;
	bool stop;                      /* atomic */
	unsigned sent;                  /* atomic */
	pthread_t thread;
};

static void *flood_main(void *arg)
{
	struct flood *fl = arg;
	const struct vu_header h = { VU_BACKEND_CONFIG_CHANGE_MSG,
				     VU_VERSION | (fl->need_reply ? VU_FLAG_NEED_REPLY : 0), 0 };
	const int64_t end = now_ms() + 2 * WAIT_MS;   /* a guard, should a test forget */

	while (!__atomic_load_n(&fl->stop, __ATOMIC_ACQUIRE) && now_ms() < end) {
		struct pollfd p = { fl->fd, POLLOUT, 0 };

		if (poll(&p, 1, 20) <= 0)
			continue;
		if (p.revents & (POLLERR | POLLHUP))
			break;
		if (send(fl->fd, &h, sizeof(h), MSG_NOSIGNAL | MSG_DONTWAIT) == sizeof(h))
			__atomic_fetch_add(&fl->sent, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void flood_start(struct flood *fl, int fd, bool need_reply)
{
	*fl = (struct flood){ .fd = fd, .need_reply = need_reply };
	assert_int_equal(pthread_create(&fl->thread, NULL, flood_main, fl), 0);
}

static unsigned flood_stop(struct flood *fl)
{
	__atomic_store_n(&fl->stop, true, __ATOMIC_RELEASE);
	pthread_join(fl->thread, NULL);
	return fl->sent;
}

/*
 * The backend withholds the GET_CONFIG reply and floods the backend
 * channel meanwhile: the read still fails when the reply's deadline
 * passes (not when the flood ends), and serving the flood costs the
 * waiting thread a small share of its time, not a whole CPU.
 */
static void test_hostile_withheld_reply_channel_flood(void **state)
{
	struct fake_env *fx = *state;
	struct flood fl;
	uint8_t b[8];
	int64_t t0, c0, wall, cpu;
	int r;

	fake_up_layout(fx);
	fake_script(&fx->f, VU_GET_CONFIG, FAKE_SILENT, 0);
	flood_start(&fl, fake_backend_channel(fx), false);
	t0 = now_ms();
	c0 = thread_cpu_ms();
	r = vio_drv_config_read(&fx->fe.vdev, 4, b, sizeof(b));
	cpu = thread_cpu_ms() - c0;
	wall = now_ms() - t0;
	assert_true(flood_stop(&fl) > 256);     /* the flood did flow */
	assert_int_equal(r, -ETIMEDOUT);
	expect_log(fx, "no reply to GET_CONFIG within 1000 ms");
	if (wall < FAKE_TIMEOUT_MS - 10 || wall > FAKE_TIMEOUT_MS + 1500)
		fail_msg("the reply wait took %lld ms, its deadline was %d ms", (long long)wall,
			 FAKE_TIMEOUT_MS);
	if (cpu * 4 > wall)
		fail_msg("the wait used %lld ms of cpu in %lld ms", (long long)cpu, (long long)wall);
	assert_false(vio_vu_frontend_connected(&fx->fe));
	/* The channel's messages were read too, at their rate. */
	assert_true(fx->fe.config_generation > 0);
}

/*
 * The backend asks for replies on its channel (NEED_REPLY) and never
 * reads them: once the channel is full, the reply that cannot go out
 * within the deadline drops the connection; nothing blocks for good.
 */
static void test_hostile_channel_replies_unread(void **state)
{
	struct fake_env *fx = *state;
	struct flood fl;
	uint8_t b[8];
	int64_t t0, c0, wall, cpu;

	fake_up_layout(fx);
	flood_start(&fl, fake_backend_channel(fx), true);
	t0 = now_ms();
	c0 = thread_cpu_ms();
	while (vio_vu_frontend_connected(&fx->fe) && now_ms() - t0 < 3 * WAIT_MS)
		(void)vio_drv_wait(&fx->fe.vdev, 100);
	cpu = thread_cpu_ms() - c0;
	wall = now_ms() - t0;
	flood_stop(&fl);
	assert_false(vio_vu_frontend_connected(&fx->fe));
	assert_int_equal(vio_vu_frontend_error(&fx->fe), -ETIMEDOUT);
	expect_log(fx, "does not read the replies on its channel");
	if (cpu * 4 > wall)
		fail_msg("the waits used %lld ms of cpu in %lld ms", (long long)cpu, (long long)wall);
	assert_true(vio_drv_get_status(&fx->fe.vdev) & VIO_STATUS_NEEDS_RESET);
	/* The lock is free: the next call answers at once. */
	assert_int_equal(vio_drv_config_read(&fx->fe.vdev, 0, b, sizeof(b)), -ENOTCONN);
}

/*
 * The backend stops reading the main socket. Without REPLY_ACK, config
 * writes need no answer and fill the socket: the send that cannot finish
 * within the deadline fails and drops the connection.
 */
static void test_hostile_main_socket_unread(void **state)
{
	struct fake_env *fx = *state;
	uint8_t b[VU_CONFIG_MAX];
	int64_t t0, slowest = 0;
	int r = 0;

	fx->f.protocol_features &= ~VIO_BIT(VU_PROTOCOL_F_REPLY_ACK);
	fake_up_layout(fx);
	fake_script(&fx->f, VU_SET_CONFIG, FAKE_DEAF, 0);
	memset(b, 0xa5, sizeof(b));
	t0 = now_ms();
	while (r == 0 && now_ms() - t0 < 3 * WAIT_MS) {
		const int64_t t = now_ms();

		r = vio_drv_config_write(&fx->fe.vdev, 0, b, sizeof(b));
		if (now_ms() - t > slowest)
			slowest = now_ms() - t;
	}
	assert_int_equal(r, -ETIMEDOUT);
	expect_log(fx, "could not send SET_CONFIG");
	if (slowest < FAKE_TIMEOUT_MS - 10 || slowest > FAKE_TIMEOUT_MS + 1500)
		fail_msg("the longest send took %lld ms, its deadline was %d ms",
			 (long long)slowest, FAKE_TIMEOUT_MS);
	assert_false(vio_vu_frontend_connected(&fx->fe));
}

/* A reply that trickles in (a byte every 100 ms, 20 bytes) misses its
 * deadline: each byte is progress, none moves the deadline. */
static void test_hostile_reply_drips(void **state)
{
	struct fake_env *fx = *state;
	uint64_t st;
	int64_t t0, wall;

	fake_up_layout(fx);
	fake_script(&fx->f, VU_GET_STATUS, FAKE_DRIP, 0);
	t0 = now_ms();
	st = vio_drv_get_status(&fx->fe.vdev);
	wall = now_ms() - t0;
	assert_false(vio_vu_frontend_connected(&fx->fe));
	assert_int_equal(vio_vu_frontend_error(&fx->fe), -ETIMEDOUT);
	assert_true(st & VIO_STATUS_NEEDS_RESET);
	expect_log(fx, "GET_STATUS");
	if (wall < FAKE_TIMEOUT_MS - 10 || wall > FAKE_TIMEOUT_MS + 1500)
		fail_msg("the reply wait took %lld ms, its deadline was %d ms", (long long)wall,
			 FAKE_TIMEOUT_MS);
}

/* The backend refuses SET_STATUS with FEATURES_OK: FEATURES_OK does not
 * read back, the driver is not bound, the device is FAILED. */
static void test_hostile_refuses_features_ok(void **state)
{
	struct fake_env *fx = *state;
	const struct layout *l = fx->param;

	fx->f.features |= l->features;
	tdrv_init(&fx->drv, l->features, 1);
	fake_script(&fx->f, VU_SET_STATUS, FAKE_REFUSE_STATUS, VIO_STATUS_FEATURES_OK);
	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	assert_null(fx->fe.vdev.driver);
	assert_int_equal(fx->drv.probes, 0);
	assert_false(vio_drv_get_status(&fx->fe.vdev) & VIO_STATUS_FEATURES_OK);
	assert_true(vio_drv_get_status(&fx->fe.vdev) & VIO_STATUS_FAILED);
	assert_int_equal(fake_seen(fx, VU_SET_VRING_KICK), 0);
	assert_true(strstr(fx->log.last, "FEATURES_OK") != NULL);
}

/* The backend refuses SET_STATUS with DRIVER_OK: the device reads back
 * NEEDS_RESET and the driver hears of it (a config interrupt). */
static void test_hostile_refuses_driver_ok(void **state)
{
	struct fake_env *fx = *state;
	const struct layout *l = fx->param;
	struct logbuf seen;

	fx->f.features |= l->features;
	tdrv_init(&fx->drv, l->features, 1);
	fake_script(&fx->f, VU_SET_STATUS, FAKE_REFUSE_STATUS, VIO_STATUS_DRIVER_OK);
	assert_int_equal(fake_connect(fx), 0);
	fake_bind(fx);
	seen = fx->log;
	assert_true(vio_drv_get_status(&fx->fe.vdev) & VIO_STATUS_NEEDS_RESET);
	assert_int_equal(vio_drv_wait(&fx->fe.vdev, 0), 0);
	assert_true(fx->drv.config_changes >= 1);
	if (!strstr(seen.last, "refused DRIVER_OK"))
		fail_msg("log says \"%s\", expected \"refused DRIVER_OK\"", seen.last);
}

/* ======================================================================== */
/* main: variant tests x variants, then the single tests                    */

static const struct { const char *name; uint64_t features; } extras[] = {
	{ "", 0 },
	{ "+event_idx", VIO_BIT(VIO_F_EVENT_IDX) },
	{ "+indirect", VIO_BIT(VIO_F_INDIRECT_DESC) },
	{ "+in_order", VIO_BIT(VIO_F_IN_ORDER) },
	{ "+in_order+event_idx+indirect",
	  VIO_BIT(VIO_F_IN_ORDER) | VIO_BIT(VIO_F_EVENT_IDX) | VIO_BIT(VIO_F_INDIRECT_DESC) },
};

#define NVARIANTS (sizeof(layouts) / sizeof(layouts[0]) * sizeof(extras) / sizeof(extras[0]))

static struct variant variants[NVARIANTS];

struct named_test {
	const char *name;
	CMUnitTestFunction fn;
};

#define T(fn) { #fn, fn }

static const struct named_test variant_tests[] = {
	T(test_rng_read),
	T(test_echo_two_queues),
	T(test_echo_wraps),
	T(test_reset_rebind),
	T(test_reconnect_rng),
	T(test_reconnect_inflight),
};

static const struct named_test session_tests[] = {
	T(test_negotiation),
	T(test_mq_off),
	T(test_mq_count_from_backend),
	T(test_status_off),
	T(test_reply_ack_off),
	T(test_config_read),
	T(test_config_write),
	T(test_config_out_of_range),
	T(test_config_change),
	T(test_config_without_protocol_feature),
	T(test_needs_reset_from_backend),
	T(test_dma_memory),
	T(test_connect_bad_config),
	T(test_legacy_rng),
	T(test_unix_socket_path),
	T(test_backend_gone_during_wait),
	T(test_reconnect_missing_feature),
	T(test_reconnect_without_inflight),
	T(test_reconnect_to_backend_without_inflight),
};

/* Hostile cases run once per ring layout. */
static const struct named_test layout_hostile_tests[] = {
	T(test_hostile_withheld_reply_channel_flood),
	T(test_hostile_channel_replies_unread),
	T(test_hostile_main_socket_unread),
	T(test_hostile_reply_drips),
	T(test_hostile_refuses_features_ok),
	T(test_hostile_refuses_driver_ok),
};

static const struct named_test hostile_tests[] = {
	T(test_hostile_never_accepts),
	T(test_hostile_queue_num_huge),
	T(test_hostile_no_queue_count),
	T(test_hostile_refuses_mem_table),
	T(test_hostile_unknown_protocol_features),
	T(test_hostile_ok_without_protocol_features),
	T(test_hostile_features_change),
	T(test_hostile_set_features_not_offered),
	T(test_hostile_config_wrong_size),
	T(test_hostile_config_refused),
	T(test_hostile_config_wrong_offset),
	T(test_config_read_from_start),
	T(test_hostile_vring_base_wrong_index),
	T(test_hostile_status_out_of_range),
	T(test_hostile_refuses_features),
	T(test_hostile_unsolicited),
	T(test_hostile_channel_config_change),
	T(test_hostile_channel_garbage),
	T(test_hostile_close_during_bind),
	T(test_hostile_inflight_declined),
	T(test_inflight_get_then_set),
	T(test_inflight_not_offered),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The blk rows: the driver's features_off. */
static const uint64_t split_only = VIO_BIT(VIO_F_RING_PACKED);
static const uint64_t packed_allowed;

static struct CMUnitTest runs[(COUNT(variant_tests) + 1) * NVARIANTS + COUNT(session_tests) +
			      COUNT(hostile_replies) + COUNT(hostile_inflights) +
			      COUNT(hostile_tests) + COUNT(layout_hostile_tests) * COUNT(layouts) +
			      2];
static char *names[COUNT(runs)];
static size_t nruns;

/* Appends a run named "base [row]" (or just base). */
static void add_run(const char *base, const char *row, CMUnitTestFunction fn,
		    CMFixtureFunction setup, CMFixtureFunction teardown, const void *param)
{
	char *name = malloc(128);

	assert_non_null(name);
	if (row)
		snprintf(name, 128, "%s [%s]", base, row);
	else
		snprintf(name, 128, "%s", base);
	names[nruns] = name;
	runs[nruns++] = (struct CMUnitTest){ name, fn, setup, teardown, (void *)param };
}

int main(void)
{
	size_t v = 0;
	int r;

	for (size_t l = 0; l < COUNT(layouts); l++) {
		for (size_t x = 0; x < COUNT(extras); x++, v++) {
			struct variant *var = &variants[v];

			var->features = layouts[l].features | extras[x].features;
			snprintf(var->name, sizeof(var->name), "%s%s", layouts[l].name,
				 extras[x].name);
		}
	}
	for (size_t t = 0; t < COUNT(variant_tests); t++)
		for (v = 0; v < NVARIANTS; v++)
			add_run(variant_tests[t].name + 5, variants[v].name, variant_tests[t].fn,
				env_setup, env_teardown, &variants[v]);
	/* Out of order only where the device may complete out of order. */
	for (v = 0; v < NVARIANTS; v++) {
		if (!vio_has_feature(variants[v].features, VIO_F_IN_ORDER))
			add_run("reconnect_out_of_order", variants[v].name,
				test_reconnect_out_of_order, env_setup, env_teardown, &variants[v]);
	}
	for (size_t t = 0; t < COUNT(session_tests); t++)
		add_run(session_tests[t].name + 5, NULL, session_tests[t].fn, env_setup,
			env_teardown, NULL);
	for (size_t i = 0; i < COUNT(hostile_replies); i++)
		add_run("hostile_reply", hostile_replies[i].name, test_hostile_reply, fake_setup,
			fake_teardown, &hostile_replies[i]);
	add_run("blk_reconnect_after_kill", "split", test_blk_reconnect_after_kill, bk_setup,
		bk_teardown, &split_only);
	add_run("blk_reconnect_after_kill", "packed", test_blk_reconnect_after_kill, bk_setup,
		bk_teardown, &packed_allowed);
	for (size_t i = 0; i < COUNT(hostile_inflights); i++)
		add_run("hostile_inflight", hostile_inflights[i].name, test_hostile_inflight,
			fake_setup, fake_teardown, &hostile_inflights[i]);
	for (size_t t = 0; t < COUNT(hostile_tests); t++)
		add_run(hostile_tests[t].name + 5, NULL, hostile_tests[t].fn, fake_setup,
			fake_teardown, NULL);
	for (size_t t = 0; t < COUNT(layout_hostile_tests); t++)
		for (size_t l = 0; l < COUNT(layouts); l++)
			add_run(layout_hostile_tests[t].name + 5, layouts[l].name,
				layout_hostile_tests[t].fn, fake_setup, fake_teardown, &layouts[l]);
	r = _cmocka_run_group_tests("vu_frontend", runs, nruns, NULL, NULL);
	for (size_t i = 0; i < nruns; i++)
		free(names[i]);
	return r;
}
