/*
 * test_core.c - tests of the device model, the driver model (the bus) and
 * the loopback transport: everything of virtio that is not the ring.
 *
 * A device type of our own, "echo", stands on the device side: it copies
 * each chain's readable bytes into its writable part, has a 16-byte config
 * space, and its hooks (features_ok, start, reset, queue_reset,
 * config_write) count their calls; features_ok can be told to refuse. A
 * matching driver stands on the driver side; what its probe does is set
 * per device by the test. Both sit on the loopback transport, so every
 * address the driver posts goes through the device's translation.
 *
 * Groups (every TAP name starts with its group):
 *   status    the device model's status machine, driven through the
 *             vio_dev_* register calls the way a transport drives it
 *   features  vio_dev_set_features() rules; legacy negotiation end to end
 *   config    bounds, read-only config, the generation counter and the
 *             retries of vio_drv_config_read() (a wrapped transport ops table
 *             bumps the generation on every read)
 *   queue     queue size rules, rings outside the driver's memory,
 *             RING_RESET
 *   bus       autoprobe in both orders, id matching, names, negotiation
 *             rows, probe failure, rejected ops tables
 *   io        one suite run for every layout (split, packed) and mode
 *             (direct, threaded): echo end to end, interrupts, reset in the
 *             middle of I/O, NEEDS_RESET from a bad buffer, RING_RESET of
 *             one queue, unbind and rebind
 *   lb        the loopback DMA allocator and its address translation
 *   split     split-specific: a hostile driver writing the avail ring
 *
 * Checks whose failure is memory corruption run in a child process
 * (run_isolated), so a sanitizer abort fails that test, not the suite.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vio/core.h"
#include "vio/transport.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

#define B(n) VIO_BIT(n)
#define V1 B(VIO_F_VERSION_1)
#define F_IND B(VIO_F_INDIRECT_DESC)
#define F_EVT B(VIO_F_EVENT_IDX)
#define F_PACKED B(VIO_F_RING_PACKED)
#define F_RESET B(VIO_F_RING_RESET)
#define F_INORDER B(VIO_F_IN_ORDER)
#define F_NOE B(VIO_F_NOTIFY_ON_EMPTY)
#define F_ANY B(VIO_F_ANY_LAYOUT)
#define F_PLATFORM B(VIO_F_ACCESS_PLATFORM)

#define S_ACK VIO_STATUS_ACKNOWLEDGE
#define S_DRV VIO_STATUS_DRIVER
#define S_FOK VIO_STATUS_FEATURES_OK
#define S_DOK VIO_STATUS_DRIVER_OK
#define S_NR VIO_STATUS_NEEDS_RESET
#define S_FAIL VIO_STATUS_FAILED
#define S_LIVE (S_ACK | S_DRV | S_FOK | S_DOK)

#define ECHO_ID 42
#define OTHER_ID 43
#define ECHO_NQ 3               /* queues of an echo device (at most) */
#define ECHO_MAX 64             /* each queue's maximum size */
#define ECHO_CFG 16             /* config space bytes */
#define ARENA (1u << 20)        /* DMA arena of each loopback */
#define MSG 64u                 /* bytes of each request's out and in parts */
#define SLOT_BYTES (2 * MSG)
#define NSLOTS (ECHO_NQ * ECHO_MAX)
#define BUF_BYTES (NSLOTS * SLOT_BYTES)
#define WAIT_ROUNDS 500         /* of 10 ms: how long a completion may take */
#define MAX_FX 4

/* An address the driver never owns: below the loopback arena. */
#define FOREIGN_ADDR UINT64_C(0x1000)

/* ======================================================================== */
/* Parameters                                                               */

struct layout {
	const char *name;
	uint64_t features;      /* offered by the device, on top of the defaults */
	bool any_size;          /* queue sizes need not be powers of two */
};

static const struct layout layouts[] = {
	{ "split", 0, false },
	{ "packed", F_PACKED, true },
};

struct mode {
	const char *name;
	bool threaded;
};

static const struct mode modes[] = {
	{ "direct", false },
	{ "threaded", true },
};

/* One feature negotiation over the bus and what must come out of it. */
struct nego {
	const char *name;
	uint64_t offer;
	bool legacy_ok;
	uint64_t drv, drv_legacy;       /* the driver's tables */
	uint64_t extra;                 /* lb.extra_features */
	uint64_t want;                  /* dev->features afterwards */
};

static const struct nego negos[] = {
	{ .name = "offer_and_driver",
	  .offer = V1 | F_EVT | F_IND | B(0) | B(5),
	  .drv = V1 | F_EVT | B(0) | B(7),
	  .want = V1 | F_EVT | B(0) },
	{ .name = "device_type_bits_pass_transport",
	  .offer = V1 | B(0) | B(12) | B(23) | B(50) | B(63),
	  .drv = V1 | B(0) | B(12) | B(23) | B(50) | B(63),
	  .want = V1 | B(0) | B(12) | B(23) | B(50) | B(63) },
	{ .name = "transport_drops_what_it_cannot_carry",
	  .offer = V1 | F_PLATFORM | B(VIO_F_SR_IOV) | B(VIO_F_NOTIFICATION_DATA) | B(45),
	  .drv = V1 | F_PLATFORM | B(VIO_F_SR_IOV) | B(VIO_F_NOTIFICATION_DATA) | B(45),
	  .want = V1 },
	{ .name = "transport_extra_features_pass",
	  .offer = V1 | F_PLATFORM | B(VIO_F_NOTIFICATION_DATA),
	  .drv = V1 | F_PLATFORM | B(VIO_F_NOTIFICATION_DATA),
	  .extra = F_PLATFORM,
	  .want = V1 | F_PLATFORM },
	{ .name = "ring_features",
	  .offer = V1 | F_EVT | F_IND | F_PACKED | F_INORDER | F_RESET | F_NOE | F_ANY,
	  .drv = V1 | F_EVT | F_IND | F_PACKED | F_INORDER | F_RESET | F_NOE | F_ANY,
	  .want = V1 | F_EVT | F_IND | F_PACKED | F_INORDER | F_RESET | F_NOE | F_ANY },
	{ .name = "driver_without_ring_features",
	  .offer = V1 | F_EVT | F_IND | F_PACKED,
	  .drv = V1,
	  .want = V1 },
	{ .name = "legacy_transitional_device",
	  .offer = V1 | F_EVT | B(0), .legacy_ok = true,
	  .drv = F_EVT | B(0), .drv_legacy = F_EVT,
	  .want = F_EVT | B(0) },
	{ .name = "legacy_only_device_uses_legacy_table",
	  .offer = F_EVT | B(1) | B(2), .legacy_ok = true,
	  .drv = V1 | F_EVT | B(1), .drv_legacy = F_EVT | B(2),
	  .want = F_EVT | B(2) },
};

/* What a test runs with: a layout, a mode, maybe a negotiation row. */
struct param {
	const struct layout *lay;
	const struct mode *mode;
	const struct nego *nego;
};

static const struct param default_param = { &layouts[0], &modes[0], NULL };

/* ======================================================================== */
/* The echo device                                                          */

struct echo {
	struct vio_dev_model d;
	struct vio_dev_queue q[ECHO_NQ];
	uint8_t config[ECHO_CFG];
	int features_ok_ret;            /* what features_ok answers */
	uint64_t features_ok_seen;
	atomic_uint features_ok_calls, starts, resets, queue_resets, config_writes;
	atomic_uint notifies, chains, log_calls;
	atomic_uint chains_q[ECHO_NQ];
	unsigned last_queue_reset, cw_off, cw_len;
};

static struct echo *echo_of(struct vio_dev_model *d)
{
	return container_of(d, struct echo, d);
}

static int echo_features_ok(struct vio_dev_model *d, uint64_t features)
{
	struct echo *e = echo_of(d);

	e->features_ok_calls++;
	e->features_ok_seen = features;
	return e->features_ok_ret;
}

static int echo_start(struct vio_dev_model *d)
{
	echo_of(d)->starts++;
	return 0;
}

static void echo_reset(struct vio_dev_model *d)
{
	echo_of(d)->resets++;
}

/* Echoes every available chain: readable bytes go back as written bytes. */
static void echo_notify(struct vio_dev_model *d, unsigned qi)
{
	struct echo *e = echo_of(d);
	struct vio_devq *vq = vio_dev_vq(d, qi);
	struct vio_iov out[4], in[4];
	uint8_t data[MSG];
	struct vio_elem el;
	int r;

	e->notifies++;
	for (;;) {
		size_t n;

		memset(&el, 0, sizeof(el));
		el.out = out;
		el.out_cap = ARRAY_LEN(out);
		el.in = in;
		el.in_cap = ARRAY_LEN(in);
		r = vio_devq_pop(vq, &el);
		if (r)
			break;
		n = vio_iov_to_buf(out, el.out_num, 0, data, sizeof(data));
		n = vio_iov_from_buf(in, el.in_num, 0, data, n);
		(void)vio_devq_push(vq, &el, (uint32_t)n);
		e->chains++;
		e->chains_q[qi]++;
	}
	(void)vio_dev_check(d, qi, r);
	vio_dev_interrupt(d, qi);
}

static void echo_config_write(struct vio_dev_model *d, unsigned off, unsigned len)
{
	struct echo *e = echo_of(d);

	e->config_writes++;
	e->cw_off = off;
	e->cw_len = len;
}

static void echo_queue_reset(struct vio_dev_model *d, unsigned qi)
{
	struct echo *e = echo_of(d);

	e->queue_resets++;
	e->last_queue_reset = qi;
}

static const struct vio_dev_ops echo_ops = {
	.version = VIO_DEV_OPS_VERSION,
	.features_ok = echo_features_ok,
	.start = echo_start,
	.reset = echo_reset,
	.queue_notify = echo_notify,
	.config_write = echo_config_write,
	.queue_reset = echo_queue_reset,
};

/* The same device with a read-only config space. */
static const struct vio_dev_ops echo_ro_ops = {
	.version = VIO_DEV_OPS_VERSION,
	.features_ok = echo_features_ok,
	.start = echo_start,
	.reset = echo_reset,
	.queue_notify = echo_notify,
	.queue_reset = echo_queue_reset,
};

static void echo_log(void *opaque, enum vio_log_level level, const char *msg)
{
	struct echo *e = opaque;

	if (level == VIO_LOG_ERR && msg && *msg)
		e->log_calls++;
}

static int echo_setup(struct echo *e, uint64_t offer, bool legacy_ok, unsigned nq,
		      const struct vio_dev_ops *ops)
{
	e->d.device_id = ECHO_ID;
	e->d.host_features = offer;
	e->d.legacy_ok = legacy_ok;
	e->d.config = e->config;
	e->d.config_len = ECHO_CFG;
	e->d.queues = e->q;
	e->d.num_queues = nq;
	e->d.ops = ops;
	for (unsigned i = 0; i < ECHO_NQ; i++)
		e->q[i].max_size = ECHO_MAX;
	for (unsigned i = 0; i < ECHO_CFG; i++)
		e->config[i] = (uint8_t)(3 * i + 1);
	return vio_dev_init(&e->d);
}

/* ======================================================================== */
/* The fixture: an echo device on a loopback, and the driver's state        */

struct ring_mem {
	void *p;
	void *desc, *driver, *device;
	struct vio_ring_addrs dma;
};

struct fx {
	struct echo e;
	struct vio_loopback lb;
	bool lb_ready, added;

	/* what probe does */
	unsigned nvqs;
	struct vio_drv_vq_info info[ECHO_NQ];
	int probe_ret;                  /* fail probe with this before find_vqs */
	bool ready_in_probe;            /* vio_drv_ready + one echo in probe */
	int find_vqs_ret, probe_io_ret;
	uint8_t status_at_probe;
	unsigned probes, removes, config_changes;

	/* driver state */
	struct vio_drv_vq vqs[ECHO_NQ];
	uint8_t *buf;                   /* NSLOTS request slots, DMA memory */
	uint64_t buf_dma;
	bool outstanding[NSLOTS];
	uint32_t want_len[NSLOTS], got_len[NSLOTS];
	unsigned done[ECHO_NQ];         /* completions reaped, per queue */
	unsigned posted, reaped, detached, bad_tokens;
	pthread_t cb_thread;
	bool cb_ran;

	/* a queue re-created by hand after RING_RESET */
	struct ring_mem rr;
	struct vio_drvq_slot *rr_slots;

	/* the device thread (threaded mode) */
	pthread_t thread;
	bool thread_live;
	atomic_bool stop;

	/* a wrapped transport ops table, and the loopback's own */
	struct vio_transport_ops wrap_ops;
	const struct vio_transport_ops *inner_ops;
	int bumps_left;                 /* -1: bump on every read */
	unsigned cfg_reads;
	unsigned setup_calls, setup_max;        /* queue_setup sizes seen */
};

struct ctx {
	const struct param *p;
	struct vio_bus bus;
	struct vio_driver drv, drv2;
	bool drv_reg, drv2_reg;
	size_t bus_bytes;               /* bus allocations outstanding */
	struct fx *fx[MAX_FX];
	unsigned nfx;
};

static struct fx *fx_of(struct vio_drv_device *dev)
{
	return container_of(dev, struct fx, lb.vdev);
}

static void *bus_alloc(void *opaque, size_t size)
{
	struct ctx *c = opaque;
	void *p = calloc(1, size);

	if (p)
		c->bus_bytes += size;
	return p;
}

static void bus_free(void *opaque, void *p, size_t size)
{
	struct ctx *c = opaque;

	c->bus_bytes -= size;
	free(p);
}

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Ring memory for one queue in the arena, in the modern placement. */
static int ring_alloc(struct vio_drv_device *dev, uint64_t features, unsigned size,
		      struct ring_mem *m)
{
	size_t off_drv = align_up(vio_ring_desc_bytes(features, size),
				  vio_ring_driver_align(features));
	size_t off_dev = align_up(off_drv + vio_ring_driver_bytes(features, size),
				  vio_ring_device_align(features));
	uint64_t dma;

	m->p = vio_drv_dma_alloc(dev, off_dev + vio_ring_device_bytes(features, size), 4096, &dma);
	if (!m->p)
		return -ENOMEM;
	m->desc = m->p;
	m->driver = (uint8_t *)m->p + off_drv;
	m->device = (uint8_t *)m->p + off_dev;
	m->dma.desc = dma;
	m->dma.driver = dma + off_drv;
	m->dma.device = dma + off_dev;
	return 0;
}

/* Is the whole arena free (nothing the driver allocated was kept)? */
static bool arena_all_free(struct fx *f)
{
	uint64_t dma;
	void *p = vio_drv_dma_alloc(&f->lb.vdev, ARENA, 4096, &dma);

	if (!p)
		return false;
	vio_drv_dma_free(&f->lb.vdev, p, ARENA);
	return true;
}

/* The device status as the driver reads it (under the transport's lock). */
static uint8_t status_of(struct fx *f)
{
	return f->lb.vdev.ops->get_status(&f->lb.vdev);
}

/* ------------------------------------------------------------------------ */
/* The driver                                                               */

/* A buffer came back, used (from get_buf) or not (from detach_unused). */
static void token_back(struct fx *f, void *tok, uint32_t len, bool used)
{
	size_t s = f->buf ? (size_t)((uint8_t *)tok - f->buf) / SLOT_BYTES : NSLOTS;

	if (!f->buf || (uint8_t *)tok < f->buf || s >= NSLOTS || !f->outstanding[s]) {
		f->bad_tokens++;
		return;
	}
	f->outstanding[s] = false;
	f->got_len[s] = len;
	if (used)
		f->reaped++;
	else
		f->detached++;
}

static void echo_cb(struct vio_drv_vq *vq)
{
	struct fx *f = fx_of(vq->dev);
	void *tok;
	uint32_t len;

	f->cb_thread = pthread_self();
	f->cb_ran = true;
	while (vio_drvq_get_buf(&vq->q, &tok, &len) == 0) {
		token_back(f, tok, len, true);
		f->done[vq->index]++;
	}
}

/* Posts slot `s` on queue qi: `len` pattern bytes out, MSG bytes in. */
static int echo_post(struct fx *f, unsigned qi, unsigned s, uint32_t len)
{
	uint8_t *o = f->buf + (size_t)s * SLOT_BYTES;
	struct vio_sg out = { f->buf_dma + (uint64_t)s * SLOT_BYTES, len };
	struct vio_sg in = { out.addr + MSG, MSG };
	int r;

	if (f->outstanding[s])
		return -EBUSY;
	for (uint32_t i = 0; i < len; i++)
		o[i] = (uint8_t)(s * 7 + i + 1);
	memset(o + MSG, 0, MSG);
	r = vio_drvq_add(&f->vqs[qi].q, &out, 1, &in, 1, o);
	if (r == 0) {
		f->outstanding[s] = true;
		f->want_len[s] = len;
		f->posted++;
	}
	return r;
}

/* Did slot s come back with its bytes echoed? */
static bool echo_ok(const struct fx *f, unsigned s)
{
	const uint8_t *o = f->buf + (size_t)s * SLOT_BYTES;

	return !f->outstanding[s] && f->got_len[s] == f->want_len[s] &&
	       memcmp(o, o + MSG, f->want_len[s]) == 0;
}

static int wait_done(struct fx *f, unsigned qi, unsigned target)
{
	for (unsigned i = 0; i < WAIT_ROUNDS && f->done[qi] < target; i++)
		(void)vio_drv_wait(&f->lb.vdev, 10);
	return f->done[qi] >= target ? 0 : -ETIMEDOUT;
}

/* One request on qi through slot s, waited for and checked. No cmocka
 * asserts: it also runs inside probe, called from the library. */
static int echo_roundtrip(struct fx *f, unsigned qi, unsigned s, uint32_t len)
{
	unsigned before = f->done[qi];
	int r = echo_post(f, qi, s, len);

	if (r)
		return r;
	(void)vio_drv_vq_kick(&f->vqs[qi]);
	r = wait_done(f, qi, before + 1);
	if (r)
		return r;
	return echo_ok(f, s) ? 0 : -EBADMSG;
}

/* Many round trips on qi, past the ring size so its indices wrap. */
static void echo_many(struct fx *f, unsigned qi, unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		unsigned s = qi * ECHO_MAX + k % ECHO_MAX;

		assert_int_equal(echo_roundtrip(f, qi, s, k % MSG + 1), 0);
	}
}

static int echo_probe(struct vio_drv_device *dev)
{
	struct fx *f = fx_of(dev);
	int r;

	f->probes++;
	f->status_at_probe = status_of(f);
	if (f->probe_ret)
		return f->probe_ret;
	f->find_vqs_ret = r = vio_drv_find_vqs(dev, f->nvqs, f->info, f->vqs);
	if (r)
		return r;
	f->buf = vio_drv_dma_alloc(dev, BUF_BYTES, 64, &f->buf_dma);
	if (!f->buf) {
		vio_drv_reset(dev);
		vio_drv_del_vqs(dev);
		return -ENOMEM;
	}
	dev->priv = f;
	if (f->ready_in_probe) {
		vio_drv_ready(dev);
		f->probe_io_ret = echo_roundtrip(f, 0, 0, 5);
	}
	return 0;
}

static void echo_remove(struct vio_drv_device *dev)
{
	struct fx *f = fx_of(dev);
	void *tok;

	vio_drv_reset(dev);
	for (unsigned i = 0; i < dev->nvqs; i++)
		while ((tok = vio_drvq_detach_unused(&dev->vqs[i].q)))
			token_back(f, tok, 0, false);
	vio_drv_del_vqs(dev);
	vio_drv_dma_free(dev, f->buf, BUF_BYTES);
	f->buf = NULL;
	f->removes++;
}

static void echo_config_changed(struct vio_drv_device *dev)
{
	fx_of(dev)->config_changes++;
}

static const uint32_t echo_ids[] = { ECHO_ID, 0 };
static const uint32_t other_ids[] = { OTHER_ID, 0 };

static void drv_setup(struct vio_driver *drv, const uint32_t *ids)
{
	memset(drv, 0, sizeof(*drv));
	drv->name = "echo";
	drv->ids = ids;
	drv->features = V1 | F_IND | F_EVT | F_PACKED | F_RESET;
	drv->legacy_features = F_IND | F_EVT;
	drv->probe = echo_probe;
	drv->remove = echo_remove;
	drv->config_changed = echo_config_changed;
}

/* ------------------------------------------------------------------------ */
/* Fixture life cycle                                                       */

static void *device_thread(void *arg)
{
	struct fx *f = arg;
	struct pollfd pfd = { .fd = f->lb.kick_fd, .events = POLLIN };

	while (!atomic_load(&f->stop)) {
		if (poll(&pfd, 1, 10) > 0)
			vio_loopback_device_dispatch(&f->lb);
	}
	return NULL;
}

static void fx_start_thread(struct fx *f)
{
	atomic_store(&f->stop, false);
	assert_int_equal(pthread_create(&f->thread, NULL, device_thread, f), 0);
	f->thread_live = true;
}

static void fx_stop_thread(struct fx *f)
{
	if (!f->thread_live)
		return;
	atomic_store(&f->stop, true);
	pthread_join(f->thread, NULL);
	f->thread_live = false;
}

static bool threaded(const struct ctx *c)
{
	return c->p->mode->threaded;
}

/* The default offer: VERSION_1, indirect, event index, the row's layout. */
static uint64_t default_offer(const struct ctx *c)
{
	return V1 | F_IND | F_EVT | c->p->lay->features;
}

/* A new echo device with `nq` queues on a loopback in the ctx's mode. */
static struct fx *fx_make(struct ctx *c, uint64_t offer, bool legacy_ok, unsigned nq,
			  const struct vio_dev_ops *ops)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_true(c->nfx < MAX_FX);
	c->fx[c->nfx++] = f;
	assert_int_equal(echo_setup(&f->e, offer, legacy_ok, nq, ops), 0);
	assert_int_equal(vio_loopback_init(&f->lb, &f->e.d, ARENA, threaded(c)), 0);
	f->lb_ready = true;
	f->e.d.log = echo_log;
	f->e.d.log_opaque = &f->e;
	f->nvqs = nq;
	for (unsigned i = 0; i < ECHO_NQ; i++) {
		f->info[i].callback = echo_cb;
		f->info[i].indirect_max = 4;
	}
	return f;
}

static struct fx *fx_new(struct ctx *c)
{
	return fx_make(c, default_offer(c), false, 2, &echo_ops);
}

/* Adds the device to the bus; in threaded mode its thread runs first. */
static void fx_add(struct ctx *c, struct fx *f)
{
	if (threaded(c) && !f->thread_live)
		fx_start_thread(f);
	assert_int_equal(vio_bus_add_device(&c->bus, &f->lb.vdev), 0);
	f->added = true;
}

static void ctx_register(struct ctx *c)
{
	assert_int_equal(vio_bus_register_driver(&c->bus, &c->drv), 0);
	c->drv_reg = true;
}

/* The usual start: driver registered, one device added and bound. */
static struct fx *ctx_bound(struct ctx *c)
{
	struct fx *f = fx_new(c);

	ctx_register(c);
	fx_add(c, f);
	assert_ptr_equal(f->lb.vdev.driver, &c->drv);
	return f;
}

static int ctx_setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	c->p = *state ? *state : &default_param;
	vio_bus_init(&c->bus, bus_alloc, bus_free, c);
	drv_setup(&c->drv, echo_ids);
	drv_setup(&c->drv2, other_ids);
	*state = c;
	return 0;
}

static int ctx_teardown(void **state)
{
	struct ctx *c = *state;

	for (unsigned i = 0; i < c->nfx; i++)
		fx_stop_thread(c->fx[i]);
	for (unsigned i = 0; i < c->nfx; i++) {
		if (c->fx[i]->added)
			vio_bus_remove_device(&c->bus, &c->fx[i]->lb.vdev);
	}
	if (c->drv_reg)
		vio_bus_unregister_driver(&c->bus, &c->drv);
	if (c->drv2_reg)
		vio_bus_unregister_driver(&c->bus, &c->drv2);
	for (unsigned i = 0; i < c->nfx; i++) {
		struct fx *f = c->fx[i];

		free(f->rr_slots);
		if (f->lb_ready)
			vio_loopback_fini(&f->lb);
		free(f);
	}
	free(c);
	return 0;
}

/*
 * Runs fn in a child process and reports whether it returned 0. For checks
 * whose failure is memory corruption: a sanitizer abort then fails one
 * test instead of ending the whole TAP stream. fn must not use cmocka.
 */
static int run_isolated(int (*fn)(void))
{
	pid_t pid;
	int st;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(fn() == 0 ? 0 : 1);
	if (waitpid(pid, &st, 0) != pid)
		return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* ======================================================================== */
/* status: the device model's status machine                                */

/* ACKNOWLEDGE, DRIVER, features, FEATURES_OK: what every modern start does. */
static void dm_negotiate(struct vio_dev_model *d, uint64_t features)
{
	assert_int_equal(vio_dev_set_status(d, S_ACK), 0);
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV), 0);
	assert_int_equal(vio_dev_set_features(d, features), 0);
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV | S_FOK), 0);
	assert_int_equal(vio_dev_get_status(d), S_ACK | S_DRV | S_FOK);
}

/* Sets queue qi up over fresh ring memory and enables it. */
static void dm_queue(struct fx *f, unsigned qi, unsigned size, struct ring_mem *m)
{
	struct vio_dev_model *d = &f->e.d;

	assert_int_equal(ring_alloc(&f->lb.vdev, d->features, size, m), 0);
	assert_int_equal(vio_dev_queue_set(d, qi, size, &m->dma), 0);
	assert_int_equal(vio_dev_queue_enable(d, qi), 0);
}

/* A live device: negotiated, queue 0 enabled, DRIVER_OK. */
static void dm_live(struct fx *f, uint64_t features)
{
	struct vio_dev_model *d = &f->e.d;
	unsigned starts = f->e.starts;
	struct ring_mem m;

	dm_negotiate(d, features);
	dm_queue(f, 0, ECHO_MAX, &m);
	assert_false(d->queues[0].live);
	assert_int_equal(vio_dev_set_status(d, S_LIVE), 0);
	assert_int_equal(vio_dev_get_status(d), S_LIVE);
	assert_true(d->queues[0].live);
	assert_non_null(vio_dev_vq(d, 0));
	assert_int_equal(f->e.starts, starts + 1);
}

static void status_reset_clears_everything(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_dev_model *d = &f->e.d;
	unsigned resets;

	dm_live(f, V1 | F_EVT);
	vio_dev_needs_reset(d, "test");
	resets = f->e.resets;
	assert_int_equal(vio_dev_set_status(d, 0), 0);
	assert_int_equal(vio_dev_get_status(d), 0);
	assert_int_equal(d->features, 0);
	assert_false(d->legacy);
	assert_int_equal(f->e.resets, resets + 1);
	for (unsigned i = 0; i < d->num_queues; i++) {
		assert_false(d->queues[i].enabled);
		assert_false(d->queues[i].live);
		assert_int_equal(d->queues[i].size, ECHO_MAX);
		assert_int_equal(d->queues[i].addrs.desc, 0);
		assert_int_equal(d->queues[i].addrs.driver, 0);
		assert_int_equal(d->queues[i].addrs.device, 0);
		assert_null(vio_dev_vq(d, i));
	}
	/* and it starts over cleanly */
	dm_live(f, V1);
}

static void status_driver_needs_acknowledge(void **state)
{
	struct ctx *c = *state;
	struct vio_dev_model *d = &fx_new(c)->e.d;

	assert_int_equal(vio_dev_set_status(d, S_DRV), -EINVAL);
	assert_int_equal(vio_dev_get_status(d), 0);
	assert_int_equal(vio_dev_set_status(d, S_ACK), 0);
	assert_int_equal(vio_dev_get_status(d), S_ACK);
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV), 0);
	assert_int_equal(vio_dev_get_status(d), S_ACK | S_DRV);
}

static void status_unknown_bits_refused(void **state)
{
	struct ctx *c = *state;
	struct vio_dev_model *d = &fx_new(c)->e.d;

	assert_int_equal(vio_dev_set_status(d, S_ACK), 0);
	assert_int_equal(vio_dev_set_status(d, S_ACK | 0x10), -EINVAL);
	assert_int_equal(vio_dev_set_status(d, S_ACK | 0x20), -EINVAL);
	assert_int_equal(vio_dev_get_status(d), S_ACK);
}

static void status_features_ok_refused_reads_back_clear(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_dev_model *d = &f->e.d;

	f->e.features_ok_ret = -EINVAL;
	assert_int_equal(vio_dev_set_status(d, S_ACK), 0);
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV), 0);
	assert_int_equal(vio_dev_set_features(d, V1 | F_EVT), 0);
	(void)vio_dev_set_status(d, S_ACK | S_DRV | S_FOK);
	assert_int_equal(f->e.features_ok_calls, 1);
	assert_int_equal(f->e.features_ok_seen, V1 | F_EVT);
	assert_int_equal(vio_dev_get_status(d) & S_FOK, 0);
	assert_int_equal(vio_dev_get_status(d), S_ACK | S_DRV);
	/* and without FEATURES_OK, DRIVER_OK is refused */
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV | S_DOK), -EINVAL);
	assert_int_equal(vio_dev_get_status(d) & S_DOK, 0);
	assert_int_equal(f->e.starts, 0);
}

static void status_features_ok_accepted_sees_features(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);

	dm_negotiate(&f->e.d, V1 | F_IND);
	assert_int_equal(f->e.features_ok_calls, 1);
	assert_int_equal(f->e.features_ok_seen, V1 | F_IND);
}

static void status_driver_ok_needs_features_ok(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_dev_model *d = &f->e.d;
	struct ring_mem m;

	assert_int_equal(vio_dev_set_status(d, S_ACK), 0);
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV), 0);
	assert_int_equal(vio_dev_set_features(d, V1), 0);
	dm_queue(f, 0, ECHO_MAX, &m);
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV | S_DOK), -EINVAL);
	assert_int_equal(vio_dev_get_status(d), S_ACK | S_DRV);
	assert_false(d->queues[0].live);
	assert_int_equal(f->e.starts, 0);
}

static void status_bits_not_cleared_without_reset(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_dev_model *d = &f->e.d;

	dm_live(f, V1);
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV | S_FOK), -EINVAL);
	assert_int_equal(vio_dev_set_status(d, S_ACK), -EINVAL);
	assert_int_equal(vio_dev_get_status(d), S_LIVE);
	assert_true(d->queues[0].live);
}

static void status_failed_stops_queues(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_dev_model *d = &f->e.d;
	unsigned notifies;

	dm_live(f, V1);
	assert_int_equal(vio_dev_set_status(d, S_LIVE | S_FAIL), 0);
	assert_true(vio_dev_get_status(d) & S_FAIL);
	assert_false(d->queues[0].live);
	assert_null(vio_dev_vq(d, 0));
	notifies = f->e.notifies;
	vio_dev_notify(d, 0);
	assert_int_equal(f->e.notifies, notifies);
	/* a failed device takes nothing more but a reset */
	assert_int_equal(vio_dev_queue_enable(d, 1), -EINVAL);
	assert_int_equal(vio_dev_set_features(d, V1), -EINVAL);
	assert_int_equal(vio_dev_set_status(d, 0), 0);
	dm_live(f, V1);
}

static void status_needs_reset_by_device(void **state)
{
	struct ctx *c = *state;
	struct fx *f = ctx_bound(c);
	struct vio_dev_model *d = &f->e.d;
	unsigned notifies = f->e.notifies;

	assert_true(d->queues[0].live);
	vio_dev_needs_reset(d, "test: the driver broke a rule");
	(void)vio_drv_wait(&f->lb.vdev, 0);
	assert_int_equal(status_of(f), S_LIVE | S_NR);
	assert_int_equal(f->config_changes, 1);
	assert_true(f->e.log_calls >= 1);
	for (unsigned i = 0; i < d->num_queues; i++) {
		assert_false(d->queues[i].live);
		assert_null(vio_dev_vq(d, i));
	}
	/* kicks are not processed any more */
	assert_int_equal(echo_post(f, 0, 0, 8), 0);
	(void)vio_drv_vq_kick(&f->vqs[0]);
	assert_int_equal(f->e.notifies, notifies);
	assert_int_equal(f->done[0], 0);
}

static void status_needs_reset_sticky_until_reset(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_dev_model *d = &f->e.d;

	dm_live(f, V1);
	/* the driver cannot set it */
	assert_int_equal(vio_dev_set_status(d, S_LIVE | S_NR), 0);
	assert_int_equal(vio_dev_get_status(d) & S_NR, 0);
	/* nor clear it by writing status without it */
	vio_dev_needs_reset(d, "test");
	assert_int_equal(vio_dev_set_status(d, S_LIVE), 0);
	assert_int_equal(vio_dev_get_status(d), S_LIVE | S_NR);
	assert_int_equal(vio_dev_set_status(d, 0), 0);
	assert_int_equal(vio_dev_get_status(d), 0);
}

/* The device checks a stopped queue: NEEDS_RESET and the driver is told. */
static void status_needs_reset_by_check(void **state)
{
	struct ctx *c = *state;
	struct fx *f = ctx_bound(c);
	struct vio_dev_model *d = &f->e.d;
	struct vio_sg out = { FOREIGN_ADDR, 16 }, in = { f->buf_dma + MSG, MSG };

	/* vio_dev_check passes other errors and -EAGAIN through untouched */
	assert_int_equal(vio_dev_check(d, 0, -EAGAIN), -EAGAIN);
	assert_int_equal(vio_dev_check(d, 0, -ENOBUFS), -ENOBUFS);
	assert_int_equal(status_of(f), S_LIVE);
	/* a buffer outside the driver's memory stops the queue */
	f->outstanding[0] = true;
	assert_int_equal(vio_drvq_add(&f->vqs[0].q, &out, 1, &in, 1, f->buf), 0);
	(void)vio_drv_vq_kick(&f->vqs[0]);
	(void)vio_drv_wait(&f->lb.vdev, 0);
	assert_true(vio_devq_is_stopped(&d->queues[0].vq));
	assert_int_equal(status_of(f), S_LIVE | S_NR);
	assert_int_equal(f->config_changes, 1);
	assert_false(d->queues[1].live);
}

/* ======================================================================== */
/* features: vio_dev_set_features and legacy negotiation                    */

static void features_not_offered_refused(void **state)
{
	struct ctx *c = *state;
	struct vio_dev_model *d = &fx_make(c, V1 | F_EVT, false, 1, &echo_ops)->e.d;

	assert_int_equal(vio_dev_set_status(d, S_ACK), 0);
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV), 0);
	assert_int_equal(vio_dev_set_features(d, V1 | F_IND), -EINVAL);
	assert_int_equal(vio_dev_set_features(d, V1 | B(0)), -EINVAL);
	assert_int_equal(d->features, 0);
	assert_int_equal(vio_dev_get_features(d), V1 | F_EVT);
	assert_int_equal(vio_dev_set_features(d, V1 | F_EVT), 0);
	assert_int_equal(d->features, V1 | F_EVT);
}

static void features_after_features_ok_refused(void **state)
{
	struct ctx *c = *state;
	struct vio_dev_model *d = &fx_new(c)->e.d;

	dm_negotiate(d, V1);
	assert_int_equal(vio_dev_set_features(d, V1 | F_EVT), -EINVAL);
	assert_int_equal(d->features, V1);
}

static void features_without_version_1_refused(void **state)
{
	struct ctx *c = *state;
	struct vio_dev_model *d = &fx_make(c, V1 | F_EVT, false, 1, &echo_ops)->e.d;

	assert_int_equal(vio_dev_set_status(d, S_ACK), 0);
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV), 0);
	assert_int_equal(vio_dev_set_features(d, F_EVT), -EINVAL);
	assert_int_equal(d->features, 0);
	assert_false(d->legacy);
}

static void features_packed_without_version_1_refused(void **state)
{
	struct ctx *c = *state;
	struct vio_dev_model *d = &fx_make(c, V1 | F_PACKED, true, 1, &echo_ops)->e.d;

	assert_int_equal(vio_dev_set_status(d, S_ACK), 0);
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV), 0);
	assert_int_equal(vio_dev_set_features(d, F_PACKED), -EINVAL);
	assert_int_equal(d->features, 0);
	assert_int_equal(vio_dev_set_features(d, V1 | F_PACKED), 0);
}

static void features_legacy_device_model(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_make(c, V1 | F_EVT, true, 1, &echo_ops);
	struct vio_dev_model *d = &f->e.d;
	struct ring_mem m;

	assert_int_equal(vio_dev_set_status(d, S_ACK), 0);
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV), 0);
	assert_int_equal(vio_dev_set_features(d, F_EVT), 0);
	assert_true(d->legacy);
	/* legacy has no FEATURES_OK, and DRIVER_OK does not need it */
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV | S_FOK), -EINVAL);
	dm_queue(f, 0, ECHO_MAX, &m);
	assert_int_equal(vio_dev_set_status(d, S_ACK | S_DRV | S_DOK), 0);
	assert_true(d->queues[0].live);
	assert_int_equal(f->e.features_ok_calls, 0);
}

/* Legacy over the bus: checks the legacy layout, then echoes. */
static void legacy_end_to_end(struct ctx *c, struct fx *f, uint64_t want)
{
	struct vio_dev_model *d = &f->e.d;
	struct vio_ring_addrs a;

	f->info[0].size = 16;   /* legacy cannot choose: the maximum it is */
	ctx_register(c);
	fx_add(c, f);
	assert_ptr_equal(f->lb.vdev.driver, &c->drv);
	assert_true(f->lb.vdev.legacy);
	assert_true(d->legacy);
	assert_int_equal(f->lb.vdev.features, want);
	assert_int_equal(d->features, want);
	assert_int_equal(status_of(f), S_ACK | S_DRV | S_DOK);
	assert_int_equal(f->e.features_ok_calls, 0);
	assert_int_equal(f->vqs[0].q.size, ECHO_MAX);
	assert_int_equal(d->queues[0].size, ECHO_MAX);
	vio_ring_legacy_layout(d->queues[0].addrs.desc, ECHO_MAX, VIO_LEGACY_VRING_ALIGN, &a);
	assert_int_equal(d->queues[0].addrs.desc % VIO_LEGACY_VRING_ALIGN, 0);
	assert_int_equal(d->queues[0].addrs.driver, a.driver);
	assert_int_equal(d->queues[0].addrs.device, a.device);
	echo_many(f, 0, 2 * ECHO_MAX + 3);
	echo_many(f, 1, 5);
}

static void features_legacy_transitional_end_to_end(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_make(c, V1 | F_EVT | F_IND, true, 2, &echo_ops);

	c->drv.features = F_EVT | F_IND;        /* a driver without VERSION_1 */
	legacy_end_to_end(c, f, F_EVT | F_IND);
}

static void features_legacy_only_device_end_to_end(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_make(c, F_EVT | F_IND | B(3), true, 2, &echo_ops);

	c->drv.legacy_features = F_IND | B(3);
	legacy_end_to_end(c, f, F_IND | B(3));
}

/* ======================================================================== */
/* config                                                                   */

static void config_read_bounds(void **state)
{
	struct ctx *c = *state;
	struct fx *f = ctx_bound(c);
	struct vio_dev_model *d = &f->e.d;
	uint8_t buf[ECHO_CFG + 8];

	assert_int_equal(vio_dev_config_read(d, 0, buf, ECHO_CFG), 0);
	assert_memory_equal(buf, f->e.config, ECHO_CFG);
	assert_int_equal(vio_dev_config_read(d, ECHO_CFG - 4, buf, 4), 0);
	assert_int_equal(vio_dev_config_read(d, ECHO_CFG, buf, 0), 0);
	assert_int_equal(vio_dev_config_read(d, ECHO_CFG - 4, buf, 5), -EINVAL);
	assert_int_equal(vio_dev_config_read(d, ECHO_CFG, buf, 1), -EINVAL);
	assert_int_equal(vio_dev_config_read(d, ECHO_CFG + 1, buf, 0), -EINVAL);
	assert_int_equal(vio_dev_config_read(d, 0, buf, ECHO_CFG + 1), -EINVAL);
	/* off + len wraps around to a small number */
	assert_int_equal(vio_dev_config_read(d, 4, buf, UINT32_MAX - 1), -EINVAL);
	assert_int_equal(vio_dev_config_read(d, UINT32_MAX, buf, 2), -EINVAL);
	/* the driver side passes the error on */
	assert_int_equal(vio_drv_config_read(&f->lb.vdev, ECHO_CFG - 1, buf, 2), -EINVAL);
	assert_int_equal(vio_drv_config_read(&f->lb.vdev, 2, buf, 4), 0);
	assert_memory_equal(buf, f->e.config + 2, 4);
}

static void config_write_bounds(void **state)
{
	struct ctx *c = *state;
	struct fx *f = ctx_bound(c);
	struct vio_dev_model *d = &f->e.d;
	uint8_t before[ECHO_CFG], buf[ECHO_CFG + 8];

	memset(buf, 0xee, sizeof(buf));
	memcpy(before, f->e.config, ECHO_CFG);
	assert_int_equal(vio_dev_config_write(d, ECHO_CFG - 4, buf, 5), -EINVAL);
	assert_int_equal(vio_dev_config_write(d, ECHO_CFG, buf, 1), -EINVAL);
	assert_int_equal(vio_dev_config_write(d, 4, buf, UINT32_MAX - 1), -EINVAL);
	assert_int_equal(vio_dev_config_write(d, UINT32_MAX, buf, 2), -EINVAL);
	assert_int_equal(vio_drv_config_write(&f->lb.vdev, ECHO_CFG - 1, buf, 2), -EINVAL);
	assert_memory_equal(f->e.config, before, ECHO_CFG);
	assert_int_equal(f->e.config_writes, 0);
}

static void config_write_reaches_device(void **state)
{
	struct ctx *c = *state;
	struct fx *f = ctx_bound(c);
	const uint8_t v[3] = { 0xa1, 0xb2, 0xc3 };

	assert_int_equal(vio_drv_config_write(&f->lb.vdev, 5, v, 3), 0);
	assert_memory_equal(f->e.config + 5, v, 3);
	assert_int_equal(f->e.config_writes, 1);
	assert_int_equal(f->e.cw_off, 5);
	assert_int_equal(f->e.cw_len, 3);
	assert_int_equal(vio_dev_config_write(&f->e.d, ECHO_CFG - 1, v, 1), 0);
	assert_int_equal(f->e.config[ECHO_CFG - 1], 0xa1);
	assert_int_equal(f->e.config_writes, 2);
}

static void config_read_only(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_make(c, default_offer(c), false, 1, &echo_ro_ops);
	uint8_t before[ECHO_CFG], v = 0x5a;

	ctx_register(c);
	fx_add(c, f);
	memcpy(before, f->e.config, ECHO_CFG);
	assert_int_equal(vio_dev_config_write(&f->e.d, 0, &v, 1), -EPERM);
	assert_int_equal(vio_drv_config_write(&f->lb.vdev, 3, &v, 1), -EPERM);
	assert_memory_equal(f->e.config, before, ECHO_CFG);
}

static void config_generation_bumps_and_driver_told(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_dev_model *d = &f->e.d;
	uint32_t g0 = vio_dev_config_generation(d);

	/* before a driver is bound: the generation moves, nobody is told */
	vio_dev_config_changed(d);
	assert_int_equal(vio_dev_config_generation(d), g0 + 1);
	ctx_register(c);
	fx_add(c, f);
	assert_int_equal(f->config_changes, 0);
	vio_dev_config_changed(d);
	assert_int_equal(vio_dev_config_generation(d), g0 + 2);
	assert_int_equal(f->lb.vdev.ops->config_generation(&f->lb.vdev), g0 + 2);
	for (unsigned i = 0; i < WAIT_ROUNDS && f->config_changes == 0; i++)
		(void)vio_drv_wait(&f->lb.vdev, 10);
	assert_int_equal(f->config_changes, 1);
}

/* A config read the device "changes" after: bumps the generation while
 * bumps_left says so, counting reads. */
static int bumping_config_read(struct vio_drv_device *vdev, unsigned off, void *buf, unsigned len)
{
	struct fx *f = fx_of(vdev);
	int r = vio_dev_config_read(&f->e.d, off, buf, len);

	f->cfg_reads++;
	if (f->bumps_left) {
		if (f->bumps_left > 0)
			f->bumps_left--;
		f->e.config[0]++;
		vio_dev_config_changed(&f->e.d);
	}
	return r;
}

/* A bound device whose transport bumps the generation on reads. */
static struct fx *bumping_bound(struct ctx *c)
{
	struct fx *f = fx_new(c);

	f->wrap_ops = *f->lb.vdev.ops;
	f->wrap_ops.config_read = bumping_config_read;
	f->lb.vdev.ops = &f->wrap_ops;
	ctx_register(c);
	fx_add(c, f);
	assert_ptr_equal(f->lb.vdev.driver, &c->drv);
	return f;
}

static void config_read_retries_while_generation_moves(void **state)
{
	struct ctx *c = *state;
	struct fx *f = bumping_bound(c);
	uint8_t first = f->e.config[0], v[4];

	f->cfg_reads = 0;
	f->bumps_left = 3;
	assert_int_equal(vio_drv_config_read(&f->lb.vdev, 0, v, sizeof(v)), 0);
	assert_int_equal(f->cfg_reads, 4);
	/* what it returns is the last, stable read */
	assert_int_equal(v[0], (uint8_t)(first + 3));
	assert_memory_equal(v, f->e.config, sizeof(v));
}

static void config_read_gives_up_when_generation_keeps_moving(void **state)
{
	struct ctx *c = *state;
	struct fx *f = bumping_bound(c);
	uint8_t v[4];

	f->cfg_reads = 0;
	f->bumps_left = -1;
	assert_int_equal(vio_drv_config_read(&f->lb.vdev, 0, v, sizeof(v)), -EAGAIN);
	assert_true(f->cfg_reads >= 2);
	assert_true(f->cfg_reads <= 17);   /* "at most 16" retries */
	/* once the device settles, reads work again */
	f->bumps_left = 0;
	assert_int_equal(vio_drv_config_read(&f->lb.vdev, 0, v, sizeof(v)), 0);
}

/* A device without config space: zero-length accesses are in bounds, and
 * must not hand a NULL pointer to memcpy (undefined even for 0 bytes). */
static int no_config_child(void)
{
	static struct echo e;
	uint8_t b = 0;

	if (echo_setup(&e, V1, false, 1, &echo_ops))
		return 1;
	e.d.config = NULL;
	e.d.config_len = 0;
	if (vio_dev_init(&e.d))
		return 2;
	if (vio_dev_config_read(&e.d, 0, &b, 0) != 0 || vio_dev_config_write(&e.d, 0, &b, 0) != 0)
		return 3;
	if (vio_dev_config_read(&e.d, 0, &b, 1) != -EINVAL)
		return 4;
	return 0;
}

static void config_empty_space_zero_length_access(void **state)
{
	(void)state;
	assert_int_equal(run_isolated(no_config_child), 0);
}

/* ======================================================================== */
/* queue                                                                    */

static void queue_set_size_above_maximum(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_dev_model *d = &f->e.d;
	struct ring_mem m;

	dm_negotiate(d, V1 | c->p->lay->features);
	assert_int_equal(ring_alloc(&f->lb.vdev, d->features, 2 * ECHO_MAX, &m), 0);
	assert_int_equal(vio_dev_queue_max(d, 0), ECHO_MAX);
	assert_int_equal(vio_dev_queue_max(d, ECHO_NQ), 0);
	assert_int_equal(vio_dev_queue_set(d, 0, 2 * ECHO_MAX, &m.dma), -EINVAL);
	assert_int_equal(vio_dev_queue_set(d, 0, ECHO_MAX + 1, &m.dma), -EINVAL);
	assert_int_equal(vio_dev_queue_set(d, 0, 0, &m.dma), -EINVAL);
	assert_int_equal(vio_dev_queue_set(d, 2, ECHO_MAX, &m.dma), -EINVAL); /* no queue 2 */
	assert_int_equal(d->queues[0].addrs.desc, 0);
	assert_int_equal(vio_dev_queue_set(d, 0, ECHO_MAX, &m.dma), 0);
	assert_int_equal(vio_dev_queue_enable(d, 0), 0);
	/* not while enabled */
	assert_int_equal(vio_dev_queue_set(d, 0, ECHO_MAX / 2, &m.dma), -EINVAL);
	assert_int_equal(d->queues[0].size, ECHO_MAX);
}

/* Resume bases and the inflight log go through checked calls: before the
 * queue is enabled (a log may be taken away at any time), a real queue,
 * a log with its scratch. */
static void queue_resume_and_inflight_checked(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_dev_model *d = &f->e.d;
	static uint16_t scratch[2 * ECHO_MAX];
	static uint64_t log[64];
	struct ring_mem m;

	dm_negotiate(d, V1 | c->p->lay->features);
	assert_int_equal(ring_alloc(&f->lb.vdev, d->features, ECHO_MAX, &m), 0);
	assert_int_equal(vio_dev_queue_resume(d, ECHO_NQ, 1, 1), -EINVAL);
	assert_int_equal(vio_dev_queue_set_inflight(d, ECHO_NQ, NULL, 0, scratch), -EINVAL);
	assert_int_equal(vio_dev_queue_set_inflight(d, 0, log, sizeof(log), NULL), -EINVAL);
	assert_int_equal(vio_dev_queue_resume(d, 0, 3, 3), 0);
	assert_true(d->queues[0].resume);
	assert_int_equal(d->queues[0].avail_base, 3);
	assert_int_equal(vio_dev_queue_set_inflight(d, 0, log, sizeof(log), scratch), 0);
	assert_ptr_equal(d->queues[0].inflight, log);
	assert_int_equal(d->queues[0].inflight_len, sizeof(log));
	/* (the log holds junk: take it away and forget the bases before the
	 * queue is checked at enable) */
	assert_int_equal(vio_dev_queue_set_inflight(d, 0, NULL, 0, scratch), 0);
	assert_int_equal(vio_dev_queue_stop(d, 0, NULL, NULL), 0);
	assert_false(d->queues[0].resume);
	assert_int_equal(vio_dev_queue_set(d, 0, ECHO_MAX, &m.dma), 0);
	assert_int_equal(vio_dev_queue_enable(d, 0), 0);
	/* enabled: no new bases, no new log; taking the log away is fine */
	assert_int_equal(vio_dev_queue_resume(d, 0, 5, 5), -EINVAL);
	assert_int_equal(d->queues[0].avail_base, 3);
	assert_int_equal(vio_dev_queue_set_inflight(d, 0, log, sizeof(log), scratch), -EINVAL);
	assert_int_equal(vio_dev_queue_set_inflight(d, 0, NULL, 0, scratch), 0);
	assert_null(d->queues[0].inflight);
	assert_int_equal(vio_dev_queue_resubmitted(d, 0), 0);   /* not live yet */
}

/* A transport that would take any size (and passes the sizes it can on):
 * the core itself must refuse what is above the queue's maximum. */
static int lenient_queue_setup(struct vio_drv_device *vdev, unsigned qi, unsigned size,
			       const struct vio_ring_addrs *dma)
{
	struct fx *f = fx_of(vdev);

	f->setup_calls++;
	if (size > f->setup_max)
		f->setup_max = size;
	if (size > vdev->ops->queue_max(vdev, qi))
		return 0;
	return f->inner_ops->queue_setup(vdev, qi, size, dma);
}

static void queue_find_vqs_size_above_maximum(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);

	f->inner_ops = f->lb.vdev.ops;
	f->wrap_ops = *f->lb.vdev.ops;
	f->wrap_ops.queue_setup = lenient_queue_setup;
	f->lb.vdev.ops = &f->wrap_ops;
	f->info[1].size = 2 * ECHO_MAX;
	ctx_register(c);
	fx_add(c, f);
	assert_int_equal(f->find_vqs_ret, -EINVAL);
	assert_int_equal(f->setup_calls, 1);            /* queue 0 only */
	assert_int_equal(f->setup_max, ECHO_MAX);
	assert_null(f->lb.vdev.driver);
	assert_null(f->lb.vdev.vqs);
	assert_true(status_of(f) & S_FAIL);
	/* nothing of queue 0 stayed allocated */
	assert_int_equal(c->bus_bytes, 0);
	assert_true(arena_all_free(f));
}

/* Split sizes are powers of two; packed takes any size up to the maximum. */
static void queue_size_rules_of_layout(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_dev_model *d = &f->e.d;
	struct ring_mem m;
	const int want = c->p->lay->any_size ? 0 : -EINVAL;

	dm_negotiate(d, V1 | c->p->lay->features);
	assert_int_equal(ring_alloc(&f->lb.vdev, d->features, ECHO_MAX, &m), 0);
	assert_int_equal(vio_dev_queue_set(d, 0, 48, &m.dma), want);
	assert_int_equal(vio_dev_queue_set(d, 1, 3, &m.dma), want);
	assert_int_equal(vio_dev_queue_set(d, 1, 32, &m.dma), 0);
}

/* The same through the bus: a driver asking for 48 entries. */
static void queue_find_vqs_size_rules_of_layout(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);

	f->info[0].size = 48;
	ctx_register(c);
	fx_add(c, f);
	if (!c->p->lay->any_size) {
		assert_int_equal(f->find_vqs_ret, -EINVAL);
		assert_null(f->lb.vdev.driver);
		assert_true(status_of(f) & S_FAIL);
		return;
	}
	assert_int_equal(f->find_vqs_ret, 0);
	assert_int_equal(f->vqs[0].q.size, 48);
	assert_int_equal(f->e.d.queues[0].size, 48);
	echo_many(f, 0, 2 * 48 + 1);
}

static void queue_rings_outside_memory_at_enable(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_dev_model *d = &f->e.d;
	const struct vio_ring_addrs bad = {
		FOREIGN_ADDR, FOREIGN_ADDR + 0x400, FOREIGN_ADDR + 0x1000
	};

	dm_negotiate(d, V1);
	assert_int_equal(vio_dev_queue_set(d, 0, ECHO_MAX, &bad), 0);
	assert_int_equal(vio_dev_queue_enable(d, 0), -EFAULT);
	assert_true(vio_dev_get_status(d) & S_NR);
	(void)vio_dev_set_status(d, S_LIVE);
	assert_true(vio_dev_get_status(d) & S_NR);
	assert_false(d->queues[0].live);
	assert_null(vio_dev_vq(d, 0));
}

/* Enabled after DRIVER_OK (as after a queue reset), with its used ring
 * running past the end of the arena. */
static void queue_rings_outside_memory_after_driver_ok(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_dev_model *d = &f->e.d;
	struct ring_mem m;
	struct vio_ring_addrs bad;

	dm_live(f, V1);
	assert_int_equal(ring_alloc(&f->lb.vdev, d->features, ECHO_MAX, &m), 0);
	bad = m.dma;
	bad.device = VIO_LOOPBACK_BASE + ARENA - 8;
	assert_int_equal(vio_dev_queue_set(d, 1, ECHO_MAX, &bad), 0);
	assert_int_equal(vio_dev_queue_enable(d, 1), -EFAULT);
	assert_int_equal(vio_dev_get_status(d), S_LIVE | S_NR);
	assert_false(d->queues[1].live);
	assert_false(d->queues[0].live);   /* NEEDS_RESET stops them all */
}

static void queue_reset_needs_ring_reset(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_make(c, V1 | F_RESET, false, 2, &echo_ops);
	struct vio_dev_model *d = &f->e.d;

	dm_live(f, V1);
	assert_int_equal(vio_dev_queue_reset(d, 0), -ENOTSUP);
	assert_int_equal(f->lb.vdev.ops->queue_reset(&f->lb.vdev, 0), -ENOTSUP);
	assert_true(d->queues[0].live);
	assert_int_equal(f->e.queue_resets, 0);
	assert_int_equal(vio_dev_set_status(d, 0), 0);
	dm_live(f, V1 | F_RESET);
	assert_int_equal(vio_dev_queue_reset(d, ECHO_NQ), -EINVAL);
	assert_int_equal(vio_dev_queue_reset(d, 0), 0);
	assert_false(d->queues[0].live);
	assert_false(d->queues[0].enabled);
	assert_int_equal(f->e.queue_resets, 1);
}

/* ======================================================================== */
/* bus                                                                      */

static void bus_autoprobe_driver_first(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);

	ctx_register(c);
	assert_int_equal(f->probes, 0);
	fx_add(c, f);
	assert_int_equal(f->probes, 1);
	assert_ptr_equal(f->lb.vdev.driver, &c->drv);
	assert_int_equal(status_of(f), S_LIVE);
	echo_many(f, 0, 3);
}

static void bus_autoprobe_device_first(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);

	fx_add(c, f);
	assert_int_equal(f->probes, 0);
	assert_null(f->lb.vdev.driver);
	assert_int_equal(status_of(f), S_ACK);
	ctx_register(c);
	assert_int_equal(f->probes, 1);
	assert_ptr_equal(f->lb.vdev.driver, &c->drv);
	assert_int_equal(status_of(f), S_LIVE);
	echo_many(f, 0, 3);
}

static void bus_id_must_match(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);

	f->e.d.device_id = OTHER_ID;
	f->lb.vdev.id = OTHER_ID;
	ctx_register(c);
	fx_add(c, f);
	assert_int_equal(f->probes, 0);
	assert_null(f->lb.vdev.driver);
	assert_int_equal(status_of(f), S_ACK);
	/* a driver for 43 takes it */
	assert_int_equal(vio_bus_register_driver(&c->bus, &c->drv2), 0);
	c->drv2_reg = true;
	assert_int_equal(f->probes, 1);
	assert_ptr_equal(f->lb.vdev.driver, &c->drv2);
}

static void bus_names_unique(void **state)
{
	struct ctx *c = *state;
	struct fx *f[4];

	ctx_register(c);
	for (unsigned i = 0; i < 3; i++) {
		char want[16];

		f[i] = fx_new(c);
		fx_add(c, f[i]);
		snprintf(want, sizeof(want), "virtio%u", i);
		assert_string_equal(f[i]->lb.vdev.name, want);
		assert_int_equal(f[i]->lb.vdev.index, i);
		assert_ptr_equal(f[i]->lb.vdev.driver, &c->drv);
	}
	/* a removed device's index is not handed out again */
	vio_bus_remove_device(&c->bus, &f[1]->lb.vdev);
	f[1]->added = false;
	assert_int_equal(f[1]->removes, 1);
	f[3] = fx_new(c);
	fx_add(c, f[3]);
	assert_string_equal(f[3]->lb.vdev.name, "virtio3");
	assert_int_equal(f[3]->lb.vdev.index, 3);
	/* every device still works on its own */
	for (unsigned i = 0; i < 4; i++)
		if (i != 1)
			echo_many(f[i], 0, 2);
}

/* The largest index, 4294967295, must still give a terminated name. */
static int big_name_child(void)
{
	static struct echo e;
	static struct vio_loopback lb;
	static struct ctx c;
	char got[sizeof(lb.vdev.name) + 1];
	bool ok;

	if (echo_setup(&e, V1, false, 1, &echo_ops) || vio_loopback_init(&lb, &e.d, 1 << 16, false))
		return 1;
	vio_bus_init(&c.bus, bus_alloc, bus_free, &c);
	c.bus.next_index_ = UINT32_MAX;    /* private: as after 2^32 - 1 adds */
	if (vio_bus_add_device(&c.bus, &lb.vdev))
		return 2;
	/* copied out, so the comparison cannot run off the end of name[] */
	memset(got, 0, sizeof(got));
	memcpy(got, lb.vdev.name, sizeof(lb.vdev.name));
	ok = memchr(lb.vdev.name, '\0', sizeof(lb.vdev.name)) &&
	     strcmp(got, "virtio4294967295") == 0;
	vio_bus_remove_device(&c.bus, &lb.vdev);
	vio_loopback_fini(&lb);
	return ok ? 0 : 3;
}

static void bus_name_of_largest_index_fits(void **state)
{
	(void)state;
	assert_int_equal(run_isolated(big_name_child), 0);
}

/* One negotiation row: exactly offer AND driver AND transport. */
static void bus_negotiation(void **state)
{
	struct ctx *c = *state;
	const struct nego *n = c->p->nego;
	const bool legacy = !vio_has_feature(n->want, VIO_F_VERSION_1);
	struct fx *f = fx_make(c, n->offer, n->legacy_ok, 2, &echo_ops);

	c->drv.features = n->drv;
	c->drv.legacy_features = n->drv_legacy;
	f->lb.extra_features = n->extra;
	ctx_register(c);
	fx_add(c, f);
	assert_ptr_equal(f->lb.vdev.driver, &c->drv);
	assert_int_equal(f->lb.vdev.features, n->want);
	assert_int_equal(f->e.d.features, n->want);
	assert_int_equal(f->lb.vdev.legacy, legacy);
	assert_int_equal(f->e.d.legacy, legacy);
	if (legacy) {
		assert_int_equal(f->e.features_ok_calls, 0);
		assert_int_equal(status_of(f), S_ACK | S_DRV | S_DOK);
	} else {
		assert_int_equal(f->e.features_ok_seen, n->want);
		assert_int_equal(status_of(f), S_LIVE);
	}
	assert_int_equal(vio_has_feature(f->vqs[0].q.features, VIO_F_RING_PACKED),
			 vio_has_feature(n->want, VIO_F_RING_PACKED));
	echo_many(f, 0, 4);
	echo_many(f, 1, 4);
}

static void bus_probe_failure_fails_device(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);

	f->probe_ret = -EIO;
	ctx_register(c);
	fx_add(c, f);
	assert_int_equal(f->probes, 1);
	assert_null(f->lb.vdev.driver);
	assert_true(status_of(f) & S_FAIL);
	assert_int_equal(status_of(f) & S_DOK, 0);
	assert_int_equal(f->e.starts, 0);
	/* unbound: nothing to remove */
	vio_drv_unbind(&f->lb.vdev);
	vio_bus_unregister_driver(&c->bus, &c->drv);
	c->drv_reg = false;
	assert_int_equal(f->removes, 0);
	/* a later driver that probes fine takes it */
	f->probe_ret = 0;
	ctx_register(c);
	assert_int_equal(f->probes, 2);
	assert_ptr_equal(f->lb.vdev.driver, &c->drv);
	assert_int_equal(status_of(f), S_LIVE);
}

static void bus_features_ok_refused_fails_device(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);

	f->e.features_ok_ret = -EINVAL;
	ctx_register(c);
	fx_add(c, f);
	assert_int_equal(f->e.features_ok_calls, 1);
	assert_int_equal(f->probes, 0);
	assert_null(f->lb.vdev.driver);
	assert_true(status_of(f) & S_FAIL);
	assert_int_equal(status_of(f) & S_FOK, 0);
}

static void bus_driver_ok_after_probe(void **state)
{
	struct ctx *c = *state;
	struct fx *f = ctx_bound(c);

	assert_int_equal(f->status_at_probe, S_ACK | S_DRV | S_FOK);
	assert_int_equal(status_of(f), S_LIVE);
	assert_int_equal(f->e.starts, 1);
}

static void bus_ready_in_probe(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);

	f->ready_in_probe = true;
	ctx_register(c);
	fx_add(c, f);
	assert_int_equal(f->probe_io_ret, 0);
	assert_int_equal(status_of(f), S_LIVE);
	assert_int_equal(f->e.starts, 1);      /* DRIVER_OK was not set twice */
}

static void bus_register_rules(void **state)
{
	struct ctx *c = *state;
	struct vio_driver bad;

	ctx_register(c);
	assert_int_equal(vio_bus_register_driver(&c->bus, &c->drv), -EEXIST);
	drv_setup(&bad, echo_ids);
	bad.probe = NULL;
	assert_int_equal(vio_bus_register_driver(&c->bus, &bad), -EINVAL);
	drv_setup(&bad, echo_ids);
	bad.remove = NULL;
	assert_int_equal(vio_bus_register_driver(&c->bus, &bad), -EINVAL);
	drv_setup(&bad, NULL);
	assert_int_equal(vio_bus_register_driver(&c->bus, &bad), -EINVAL);
}

#define OP(m) { #m, offsetof(struct vio_transport_ops, m) }

/* The members vio_transport_ops calls required. */
static const struct {
	const char *name;
	size_t off;
} required_ops[] = {
	OP(get_status), OP(set_status), OP(get_features), OP(set_features),
	OP(transport_features), OP(config_read), OP(config_generation), OP(num_queues),
	OP(queue_max), OP(queue_setup), OP(queue_enable), OP(notify), OP(dma_alloc),
	OP(dma_free), OP(dma_addr),
};

static void bus_add_rejects_bad_ops(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	const struct vio_transport_ops *good = f->lb.vdev.ops;
	struct vio_transport_ops bad;

	ctx_register(c);
	bad = *good;
	bad.version = 0;	/* not a table of any version */
	f->lb.vdev.ops = &bad;
	assert_int_equal(vio_bus_add_device(&c->bus, &f->lb.vdev), -EINVAL);
	f->lb.vdev.ops = NULL;
	assert_int_equal(vio_bus_add_device(&c->bus, &f->lb.vdev), -EINVAL);
	for (size_t i = 0; i < ARRAY_LEN(required_ops); i++) {
		bad = *good;
		memset((char *)&bad + required_ops[i].off, 0, sizeof(bad.notify));
		f->lb.vdev.ops = &bad;
		if (vio_bus_add_device(&c->bus, &f->lb.vdev) != -EINVAL)
			fail_msg("accepted an ops table without %s", required_ops[i].name);
	}
	f->lb.vdev.ops = good;
	assert_int_equal(f->probes, 0);
	assert_int_equal(status_of(f), 0);
	/* a rejected device got no index: the first real one is virtio0 */
	fx_add(c, f);
	assert_string_equal(f->lb.vdev.name, "virtio0");
	assert_int_equal(f->probes, 1);
}

/* Op tables of an older and of a newer version are both taken (core.h,
 * "Op tables and their versions"): the driver binds either way. */
static struct vio_transport_ops ops_v1, ops_newer;

static void bus_add_takes_older_and_newer_ops(void **state)
{
	struct ctx *c = *state;
	struct fx *old = fx_new(c), *newer = fx_new(c);

	ctx_register(c);
	ops_v1 = *old->lb.vdev.ops;
	ops_v1.version = 1;
	old->lb.vdev.ops = &ops_v1;
	ops_newer = *newer->lb.vdev.ops;
	ops_newer.version = VIO_TRANSPORT_OPS_VERSION + 1;
	newer->lb.vdev.ops = &ops_newer;
	fx_add(c, old);
	fx_add(c, newer);
	assert_int_equal(old->probes, 1);
	assert_int_equal(newer->probes, 1);
	assert_true(status_of(old) & VIO_STATUS_DRIVER_OK);
	assert_true(status_of(newer) & VIO_STATUS_DRIVER_OK);
}

static void bus_add_rejects_bus_without_allocators(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_bus bus;

	vio_bus_init(&bus, NULL, bus_free, c);
	assert_int_equal(vio_bus_add_device(&bus, &f->lb.vdev), -EINVAL);
	vio_bus_init(&bus, bus_alloc, NULL, c);
	assert_int_equal(vio_bus_add_device(&bus, &f->lb.vdev), -EINVAL);
	assert_int_equal(status_of(f), 0);
}

/* config_write is optional in practice (vio_drv_config_write says -ENOTSUP). */
static void bus_config_write_optional(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	uint8_t v = 1;

	f->wrap_ops = *f->lb.vdev.ops;
	f->wrap_ops.config_write = NULL;
	f->lb.vdev.ops = &f->wrap_ops;
	ctx_register(c);
	fx_add(c, f);
	assert_ptr_equal(f->lb.vdev.driver, &c->drv);
	assert_int_equal(vio_drv_config_write(&f->lb.vdev, 0, &v, 1), -ENOTSUP);
}

static void bus_remove_device_unbinds_and_resets(void **state)
{
	struct ctx *c = *state;
	struct fx *f = ctx_bound(c);

	vio_bus_remove_device(&c->bus, &f->lb.vdev);
	f->added = false;
	assert_int_equal(f->removes, 1);
	assert_null(f->lb.vdev.driver);
	assert_int_equal(status_of(f), 0);
	assert_int_equal(c->bus_bytes, 0);
	assert_true(arena_all_free(f));
	/* the bus forgot it: a new driver for its id does not probe it */
	vio_bus_unregister_driver(&c->bus, &c->drv);
	c->drv_reg = false;
	ctx_register(c);
	assert_int_equal(f->probes, 1);
}

/* ======================================================================== */
/* io: one suite for every layout and mode                                  */

static struct fx *io_bound(struct ctx *c)
{
	struct fx *f = fx_make(c, default_offer(c) | F_RESET, false, ECHO_NQ, &echo_ops);

	ctx_register(c);
	fx_add(c, f);
	assert_ptr_equal(f->lb.vdev.driver, &c->drv);
	assert_int_equal(vio_has_feature(f->lb.vdev.features, VIO_F_RING_PACKED),
			 vio_has_feature(c->p->lay->features, VIO_F_RING_PACKED));
	return f;
}

static void io_echo_end_to_end(void **state)
{
	struct ctx *c = *state;
	struct fx *f = io_bound(c);
	const unsigned batch = 8;
	unsigned before;

	for (unsigned qi = 0; qi < ECHO_NQ; qi++)
		echo_many(f, qi, 2 * ECHO_MAX + 5);
	/* a batch under one kick */
	before = f->done[1];
	for (unsigned s = 0; s < batch; s++)
		assert_int_equal(echo_post(f, 1, ECHO_MAX + s, s + 1), 0);
	(void)vio_drv_vq_kick(&f->vqs[1]);
	assert_int_equal(wait_done(f, 1, before + batch), 0);
	for (unsigned s = 0; s < batch; s++)
		assert_true(echo_ok(f, ECHO_MAX + s));
	assert_int_equal(f->bad_tokens, 0);
	assert_int_equal(f->reaped, f->posted);
}

static void io_interrupts_delivered(void **state)
{
	struct ctx *c = *state;
	struct fx *f = io_bound(c);

	assert_int_equal(echo_post(f, 0, 0, 9), 0);
	assert_true(vio_drv_vq_kick(&f->vqs[0]));
	if (!threaded(c))
		assert_int_equal(f->done[0], 1);        /* before the kick returned */
	assert_int_equal(wait_done(f, 0, 1), 0);
	assert_true(f->cb_ran);
	assert_true(pthread_equal(f->cb_thread, pthread_self()));
	assert_true(echo_ok(f, 0));
	/* config interrupts too */
	vio_dev_config_changed(&f->e.d);
	for (unsigned i = 0; i < WAIT_ROUNDS && f->config_changes == 0; i++)
		(void)vio_drv_wait(&f->lb.vdev, 10);
	assert_int_equal(f->config_changes, 1);
	fx_stop_thread(f);
	assert_true(f->e.q[0].vq.stats.interrupts >= 1);
}

/* Every buffer comes back exactly once, used or detached. */
static void check_all_back(struct fx *f)
{
	assert_int_equal(f->bad_tokens, 0);
	assert_int_equal(f->reaped + f->detached, f->posted);
	for (unsigned s = 0; s < NSLOTS; s++)
		assert_false(f->outstanding[s]);
	for (unsigned qi = 0; qi < f->lb.vdev.nvqs; qi++) {
		assert_int_equal(vio_drvq_num_free(&f->vqs[qi].q), f->vqs[qi].q.size);
		assert_null(vio_drvq_detach_unused(&f->vqs[qi].q));
	}
}

static void detach_all(struct fx *f)
{
	void *tok;

	for (unsigned qi = 0; qi < f->lb.vdev.nvqs; qi++)
		while ((tok = vio_drvq_detach_unused(&f->vqs[qi].q)))
			token_back(f, tok, 0, false);
}

/* Unbind and bind again, then prove I/O works. */
static void rebind_and_echo(struct ctx *c, struct fx *f)
{
	unsigned probes = f->probes;

	vio_drv_unbind(&f->lb.vdev);
	assert_null(f->lb.vdev.driver);
	assert_null(f->lb.vdev.vqs);
	assert_int_equal(c->bus_bytes, 0);
	assert_true(arena_all_free(f));
	if (threaded(c) && !f->thread_live)
		fx_start_thread(f);
	memset(f->done, 0, sizeof(f->done));
	assert_int_equal(vio_drv_bind(&f->lb.vdev), 0);
	assert_int_equal(f->probes, probes + 1);
	assert_int_equal(status_of(f), S_LIVE);
	echo_many(f, 0, ECHO_MAX + 2);
}

/*
 * Reset with buffers in every state: used but not yet reaped (queue 0,
 * callback off), and kicked but not yet seen by the device (queue 1: in
 * threaded mode the device thread does not run yet; in direct mode they
 * are simply not kicked).
 */
static void io_reset_mid_io_returns_every_buffer(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_make(c, default_offer(c), false, 2, &echo_ops);
	unsigned notifies, n0 = 0, n1 = 0;
	int r = 0;

	ctx_register(c);
	f->info[0].callback = NULL;
	f->info[1].indirect_max = 0;    /* chains of two descriptors */
	assert_int_equal(vio_bus_add_device(&c->bus, &f->lb.vdev), 0);   /* no thread */
	f->added = true;
	assert_ptr_equal(f->lb.vdev.driver, &c->drv);
	while (n1 < ECHO_MAX && (r = echo_post(f, 1, ECHO_MAX + n1, 8)) == 0)
		n1++;
	assert_int_equal(r, -ENOSPC);   /* the ring is full */
	assert_true(n1 >= ECHO_MAX / 2);
	if (threaded(c))
		(void)vio_drv_vq_kick(&f->vqs[1]);
	if (!threaded(c)) {
		for (; n0 < ECHO_MAX / 2; n0++)
			assert_int_equal(echo_post(f, 0, n0, 4), 0);
		(void)vio_drv_vq_kick(&f->vqs[0]);
		assert_int_equal(f->e.chains_q[0], n0);     /* used, not reaped */
	}
	vio_drv_reset(&f->lb.vdev);
	assert_int_equal(status_of(f), 0);
	detach_all(f);
	assert_int_equal(f->detached, n0 + n1);
	assert_int_equal(f->reaped, 0);
	check_all_back(f);
	/* the device sees the stale kick only now: it must ignore it */
	notifies = f->e.notifies;
	if (threaded(c))
		vio_loopback_device_dispatch(&f->lb);
	assert_int_equal(f->e.notifies, notifies);
	assert_int_equal(f->e.chains_q[1], 0);
	f->info[0].callback = echo_cb;
	rebind_and_echo(c, f);
}

static void io_needs_reset_from_bad_buffer(void **state)
{
	struct ctx *c = *state;
	struct fx *f = io_bound(c);
	struct vio_sg out = { FOREIGN_ADDR, 16 }, in = { f->buf_dma + MSG, MSG };

	echo_many(f, 0, 2);
	f->outstanding[5] = true;
	f->posted++;
	assert_int_equal(vio_drvq_add(&f->vqs[0].q, &out, 1, &in, 1, f->buf + 5 * SLOT_BYTES), 0);
	(void)vio_drv_vq_kick(&f->vqs[0]);
	for (unsigned i = 0; i < WAIT_ROUNDS && f->config_changes == 0; i++)
		(void)vio_drv_wait(&f->lb.vdev, 10);
	assert_int_equal(f->config_changes, 1);
	assert_int_equal(status_of(f), S_LIVE | S_NR);
	assert_true(f->e.log_calls >= 1);
	/* the driver recovers by resetting: its buffer comes back detached */
	rebind_and_echo(c, f);
	assert_int_equal(f->detached, 1);
	assert_int_equal(f->bad_tokens, 0);
}

/* Re-creates driver queue qi over new ring memory after a queue reset
 * (the driver model has no per-queue reset call of its own). */
static void requeue(struct fx *f, unsigned qi)
{
	struct vio_drv_device *dev = &f->lb.vdev;
	struct vio_drvq_config cfg;

	assert_int_equal(ring_alloc(dev, dev->features, ECHO_MAX, &f->rr), 0);
	f->rr_slots = calloc(ECHO_MAX, sizeof(*f->rr_slots));
	assert_non_null(f->rr_slots);
	memset(&cfg, 0, sizeof(cfg));
	cfg.size = ECHO_MAX;
	cfg.features = dev->features;
	cfg.desc = f->rr.desc;
	cfg.driver = f->rr.driver;
	cfg.device = f->rr.device;
	cfg.dma = f->rr.dma;
	cfg.slots = f->rr_slots;
	assert_int_equal(vio_drvq_init(&f->vqs[qi].q, &cfg), 0);
	assert_int_equal(dev->ops->queue_setup(dev, qi, ECHO_MAX, &f->rr.dma), 0);
	assert_int_equal(dev->ops->queue_enable(dev, qi), 0);
}

static void io_ring_reset_one_queue(void **state)
{
	struct ctx *c = *state;
	struct fx *f = io_bound(c);
	struct vio_drv_device *dev = &f->lb.vdev;
	unsigned q1_chains;

	assert_true(vio_drv_has_feature(dev, VIO_F_RING_RESET));
	echo_many(f, 0, 3);
	echo_many(f, 1, 3);
	/* one buffer left on queue 1, never kicked */
	assert_int_equal(echo_post(f, 1, ECHO_MAX + 10, 8), 0);
	assert_int_equal(dev->ops->queue_reset(dev, 1), 0);
	assert_int_equal(f->e.queue_resets, 1);
	assert_int_equal(f->e.last_queue_reset, 1);
	assert_false(f->e.q[1].enabled);
	assert_int_equal(status_of(f), S_LIVE);
	/* a kick on the reset queue is ignored; the others keep working */
	q1_chains = f->e.chains_q[1];
	dev->ops->notify(dev, 1);
	echo_many(f, 0, ECHO_MAX + 1);
	echo_many(f, 2, 3);
	assert_int_equal(f->e.chains_q[1], q1_chains);
	/* the driver takes its buffer back and sets the queue up again */
	detach_all(f);
	assert_int_equal(f->detached, 1);
	requeue(f, 1);
	echo_many(f, 1, ECHO_MAX + 1);
	echo_many(f, 0, 2);
	assert_int_equal(f->bad_tokens, 0);
	assert_int_equal(status_of(f), S_LIVE);
}

static void io_rebind_unbind_bind(void **state)
{
	struct ctx *c = *state;
	struct fx *f = io_bound(c);

	echo_many(f, 0, 3);
	rebind_and_echo(c, f);
	assert_int_equal(f->removes, 1);
	assert_int_equal(vio_drv_bind(&f->lb.vdev), -EBUSY);
}

static void io_rebind_unregister_register(void **state)
{
	struct ctx *c = *state;
	struct fx *f = io_bound(c);

	echo_many(f, 0, 3);
	vio_bus_unregister_driver(&c->bus, &c->drv);
	c->drv_reg = false;
	assert_int_equal(f->removes, 1);
	assert_null(f->lb.vdev.driver);
	assert_int_equal(status_of(f), 0);
	assert_int_equal(c->bus_bytes, 0);
	assert_true(arena_all_free(f));
	memset(f->done, 0, sizeof(f->done));
	ctx_register(c);
	assert_int_equal(f->probes, 2);
	assert_int_equal(status_of(f), S_LIVE);
	echo_many(f, 0, ECHO_MAX + 2);
	echo_many(f, 2, 2);
}

/* Threaded only: the device works while the driver resets; whatever was
 * used before the reset is reaped or detached, never both, never lost. */
static void io_reset_races_device(void **state)
{
	struct ctx *c = *state;
	struct fx *f = io_bound(c);
	unsigned next = 0;

	for (unsigned round = 0; round < 40; round++) {
		for (unsigned k = 0; k < ECHO_MAX; k++, next++) {
			unsigned s = next % ECHO_MAX;

			if (f->outstanding[s])
				continue;
			if (echo_post(f, 0, s, s % MSG + 1))
				break;
		}
		(void)vio_drv_vq_kick(&f->vqs[0]);
		(void)vio_drv_wait(&f->lb.vdev, round % 4 ? 0 : 1);
	}
	vio_drv_reset(&f->lb.vdev);
	detach_all(f);
	check_all_back(f);
	assert_true(f->reaped > 0);
	rebind_and_echo(c, f);
}

/* ======================================================================== */
/* lb: the loopback transport's DMA memory                                  */

/*
 * Alignments up to a quarter of the arena. Where the arena itself lands is
 * malloc's choice, and an allocator that aligns only device addresses is
 * caught only when the arena is less aligned than what is asked: so take
 * (peeking at the private arena pointer) a loopback whose arena is not
 * already ARENA / 4 aligned, which makes the check the same on every run.
 */
static void lb_dma_alignment(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_drv_device *dev;
	uint64_t dma;

	while (((uintptr_t)f->lb.arena & (ARENA / 4 - 1)) == 0 && c->nfx < MAX_FX)
		f = fx_new(c);
	dev = &f->lb.vdev;

	for (size_t align = 1; align <= ARENA / 4; align *= 2) {
		/* a small block first, so the next free chunk is not aligned */
		void *skew = vio_drv_dma_alloc(dev, 1, 1, &dma);
		void *p = vio_drv_dma_alloc(dev, 100, align, &dma);

		assert_non_null(skew);
		if (align <= 4096)
			assert_non_null(p);
		if (p) {
			/* both the CPU's and the device's view are aligned */
			if ((uintptr_t)p % align || dma % align)
				fail_msg("align %zu: host %p dma %#llx", align, p,
					 (unsigned long long)dma);
			vio_drv_dma_free(dev, p, 100);
		}
		vio_drv_dma_free(dev, skew, 1);
	}
}

static void lb_dma_disjoint(void **state)
{
	struct ctx *c = *state;
	struct vio_drv_device *dev = &fx_new(c)->lb.vdev;
	enum { N = 40 };
	uint8_t *p[N];
	uint64_t dma[N];
	size_t len[N];

	for (unsigned i = 0; i < N; i++) {
		len[i] = 1 + (i * 997) % 5000;
		p[i] = vio_drv_dma_alloc(dev, len[i], (size_t)1 << (i % 8), &dma[i]);
		assert_non_null(p[i]);
		assert_int_equal(vio_drv_dma_addr(dev, p[i]), dma[i]);
		assert_int_equal(vio_drv_dma_addr(dev, p[i] + len[i] - 1), dma[i] + len[i] - 1);
		memset(p[i], (int)i, len[i]);
	}
	for (unsigned i = 0; i < N; i++) {
		for (unsigned j = 0; j < N; j++) {
			if (i != j && p[i] < p[j] + len[j] && p[j] < p[i] + len[i])
				fail_msg("blocks %u and %u overlap", i, j);
			if (i != j && dma[i] < dma[j] + len[j] && dma[j] < dma[i] + len[i])
				fail_msg("device addresses of %u and %u overlap", i, j);
		}
		/* nobody else wrote into it */
		for (size_t k = 0; k < len[i]; k++)
			assert_int_equal(p[i][k], i);
	}
}

static void lb_dma_reuse_and_exhaustion(void **state)
{
	struct ctx *c = *state;
	struct vio_drv_device *dev = &fx_new(c)->lb.vdev;
	enum { BLK = 4096, NBLK = ARENA / BLK };
	static void *p[NBLK];
	uint64_t dma, d5;
	unsigned n = 0;
	void *q;

	while (n < NBLK && (p[n] = vio_drv_dma_alloc(dev, BLK, 64, &dma)))
		n++;
	assert_int_equal(n, NBLK);
	assert_null(vio_drv_dma_alloc(dev, 1, 1, &dma));
	d5 = vio_drv_dma_addr(dev, p[5]);
	vio_drv_dma_free(dev, p[5], BLK);
	memset(p[5], 0xab, BLK);
	q = vio_drv_dma_alloc(dev, BLK, 64, &dma);
	assert_ptr_equal(q, p[5]);
	assert_int_equal(dma, d5);
	assert_int_equal(((uint8_t *)q)[BLK - 1], 0);  /* handed out zeroed */
	assert_null(vio_drv_dma_alloc(dev, 1, 1, &dma));
	for (unsigned i = 0; i < n; i++)
		vio_drv_dma_free(dev, p[i], BLK);
	assert_non_null(q = vio_drv_dma_alloc(dev, ARENA, 4096, &dma));
	vio_drv_dma_free(dev, q, ARENA);
}

static void lb_dma_size_too_large(void **state)
{
	struct ctx *c = *state;
	struct vio_drv_device *dev = &fx_new(c)->lb.vdev;
	uint64_t dma = 0;

	assert_null(vio_drv_dma_alloc(dev, ARENA + 1, 64, &dma));
	assert_null(vio_drv_dma_alloc(dev, SIZE_MAX / 2, 64, &dma));
	/* sizes whose rounding to chunks wraps around */
	assert_null(vio_drv_dma_alloc(dev, SIZE_MAX, 64, &dma));
	assert_null(vio_drv_dma_alloc(dev, SIZE_MAX - 40, 1, &dma));
	assert_null(vio_drv_dma_alloc(dev, 0, 64, &dma));
	assert_null(vio_drv_dma_alloc(dev, 64, 0, &dma));
	assert_null(vio_drv_dma_alloc(dev, 64, 48, &dma));
}

static void lb_dma_addr_outside_arena(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	struct vio_drv_device *dev = &f->lb.vdev;
	uint64_t dma;
	uint8_t *p = vio_drv_dma_alloc(dev, 64, 64, &dma), *arena;
	int on_stack;

	assert_non_null(p);
	arena = p - (dma - VIO_LOOPBACK_BASE);
	assert_int_equal(vio_drv_dma_addr(dev, arena), VIO_LOOPBACK_BASE);
	assert_int_equal(vio_drv_dma_addr(dev, arena + ARENA - 1), VIO_LOOPBACK_BASE + ARENA - 1);
	assert_int_equal(vio_drv_dma_addr(dev, arena + ARENA), UINT64_MAX);
	assert_int_equal(vio_drv_dma_addr(dev, (void *)((uintptr_t)arena - 1)), UINT64_MAX);
	assert_int_equal(vio_drv_dma_addr(dev, &on_stack), UINT64_MAX);
	assert_int_equal(vio_drv_dma_addr(dev, f), UINT64_MAX);
	assert_int_equal(vio_drv_dma_addr(dev, NULL), UINT64_MAX);
}

/* Device addresses are not host addresses, and the device's memory table
 * turns them back into exactly the driver's pointers. */
static void lb_device_addresses_translate(void **state)
{
	struct ctx *c = *state;
	struct fx *f = fx_new(c);
	uint64_t dma;
	uint8_t *p = vio_drv_dma_alloc(&f->lb.vdev, 256, 64, &dma);

	assert_non_null(p);
	assert_true(dma != (uint64_t)(uintptr_t)p);
	assert_true(dma >= VIO_LOOPBACK_BASE && dma + 256 <= VIO_LOOPBACK_BASE + ARENA);
	assert_ptr_equal(vio_mem_ptr(f->e.d.mem, dma, 256), p);
	assert_null(vio_mem_ptr(f->e.d.mem, (uint64_t)(uintptr_t)p, 1));
	p[17] = 0x42;
	assert_int_equal(*(uint8_t *)vio_mem_ptr(f->e.d.mem, dma + 17, 1), 0x42);
}

static void bare_notify(struct vio_dev_model *d, unsigned qi)
{
}

/* For a bare struct vio_dev_model: the echo hooks would look for a struct echo. */
static const struct vio_dev_ops bare_ops = {
	.version = VIO_DEV_OPS_VERSION,
	.queue_notify = bare_notify,
};

static void lb_init_limits(void **state)
{
	static struct vio_dev_queue many[VIO_LOOPBACK_MAX_QUEUES + 1];
	struct vio_loopback lb;
	struct vio_dev_model d;

	(void)state;
	memset(&d, 0, sizeof(d));
	d.device_id = ECHO_ID;
	d.ops = &bare_ops;
	d.queues = many;
	d.num_queues = ARRAY_LEN(many);
	for (size_t i = 0; i < ARRAY_LEN(many); i++)
		many[i].max_size = 8;
	assert_int_equal(vio_dev_init(&d), 0);
	assert_int_equal(vio_loopback_init(&lb, &d, 4096, false), -EINVAL);
	d.num_queues = VIO_LOOPBACK_MAX_QUEUES;
	assert_int_equal(vio_loopback_init(&lb, &d, 0, false), -EINVAL);
	assert_int_equal(vio_loopback_init(&lb, &d, 4096, true), 0);
	assert_true(lb.kick_fd >= 0 && lb.irq_fd >= 0);
	vio_loopback_fini(&lb);
	assert_int_equal(vio_loopback_init(&lb, &d, 4096, false), 0);
	assert_true(lb.kick_fd < 0 && lb.irq_fd < 0);
	vio_loopback_fini(&lb);
}

/* ======================================================================== */
/* split-specific: a hostile driver writes the split avail ring directly    */

static void split_avail_index_runs_ahead_needs_reset(void **state)
{
	struct ctx *c = *state;
	struct fx *f = ctx_bound(c);
	struct vio_drvq *q = &f->vqs[0].q;

	echo_many(f, 0, 2);
	assert_false(q->packed);
	q->u.split.avail->idx = vio_cpu_to_le16((uint16_t)(q->u.split.avail_idx + ECHO_MAX + 1));
	f->lb.vdev.ops->notify(&f->lb.vdev, 0);
	(void)vio_drv_wait(&f->lb.vdev, 0);
	assert_true(vio_devq_is_stopped(&f->e.q[0].vq));
	assert_int_equal(status_of(f), S_LIVE | S_NR);
	assert_int_equal(f->config_changes, 1);
}

/* ======================================================================== */

struct test_def {
	const char *name;
	CMUnitTestFunction fn;
};

#define T(fn) { #fn, fn }

static const struct test_def single_tests[] = {
	T(status_reset_clears_everything),
	T(status_driver_needs_acknowledge),
	T(status_unknown_bits_refused),
	T(status_features_ok_refused_reads_back_clear),
	T(status_features_ok_accepted_sees_features),
	T(status_driver_ok_needs_features_ok),
	T(status_bits_not_cleared_without_reset),
	T(status_failed_stops_queues),
	T(status_needs_reset_by_device),
	T(status_needs_reset_sticky_until_reset),
	T(status_needs_reset_by_check),
	T(features_not_offered_refused),
	T(features_after_features_ok_refused),
	T(features_without_version_1_refused),
	T(features_packed_without_version_1_refused),
	T(features_legacy_device_model),
	T(features_legacy_transitional_end_to_end),
	T(features_legacy_only_device_end_to_end),
	T(config_read_bounds),
	T(config_write_bounds),
	T(config_write_reaches_device),
	T(config_read_only),
	T(config_generation_bumps_and_driver_told),
	T(config_read_retries_while_generation_moves),
	T(config_read_gives_up_when_generation_keeps_moving),
	T(config_empty_space_zero_length_access),
	T(queue_find_vqs_size_above_maximum),
	T(queue_rings_outside_memory_at_enable),
	T(queue_rings_outside_memory_after_driver_ok),
	T(queue_reset_needs_ring_reset),
	T(bus_autoprobe_driver_first),
	T(bus_autoprobe_device_first),
	T(bus_id_must_match),
	T(bus_names_unique),
	T(bus_name_of_largest_index_fits),
	T(bus_probe_failure_fails_device),
	T(bus_features_ok_refused_fails_device),
	T(bus_driver_ok_after_probe),
	T(bus_ready_in_probe),
	T(bus_register_rules),
	T(bus_add_rejects_bad_ops),
	T(bus_add_takes_older_and_newer_ops),
	T(queue_resume_and_inflight_checked),
	T(bus_add_rejects_bus_without_allocators),
	T(bus_config_write_optional),
	T(bus_remove_device_unbinds_and_resets),
	T(lb_dma_alignment),
	T(lb_dma_disjoint),
	T(lb_dma_reuse_and_exhaustion),
	T(lb_dma_size_too_large),
	T(lb_dma_addr_outside_arena),
	T(lb_device_addresses_translate),
	T(lb_init_limits),
	T(split_avail_index_runs_ahead_needs_reset),
};

/* Run once per layout (direct mode). */
static const struct test_def layout_tests[] = {
	T(queue_set_size_above_maximum),
	T(queue_size_rules_of_layout),
	T(queue_find_vqs_size_rules_of_layout),
};

/* Run once per layout and mode. */
static const struct test_def io_tests[] = {
	T(io_echo_end_to_end),
	T(io_interrupts_delivered),
	T(io_reset_mid_io_returns_every_buffer),
	T(io_needs_reset_from_bad_buffer),
	T(io_ring_reset_one_queue),
	T(io_rebind_unbind_bind),
	T(io_rebind_unregister_register),
};

/* Run once per layout, threaded mode only. */
static const struct test_def threaded_tests[] = {
	T(io_reset_races_device),
};

static struct param layout_params[ARRAY_LEN(layouts)];
static struct param io_params[ARRAY_LEN(layouts) * ARRAY_LEN(modes)];
static struct param nego_params[ARRAY_LEN(negos)];

static void add_test(struct CMUnitTest *t, size_t *n, const char *name, const char *suffix,
		     CMUnitTestFunction fn, const struct param *p)
{
	size_t len = strlen(name) + strlen(suffix) + 4;
	char *s = malloc(len);

	if (!s)
		abort();
	snprintf(s, len, "%s%s%s", name, *suffix ? " " : "", suffix);
	t[*n] = (struct CMUnitTest){ s, fn, ctx_setup, ctx_teardown, (void *)p };
	(*n)++;
}

int main(void)
{
	const size_t total = ARRAY_LEN(single_tests) +
			     ARRAY_LEN(layouts) * ARRAY_LEN(layout_tests) +
			     ARRAY_LEN(io_params) * ARRAY_LEN(io_tests) +
			     ARRAY_LEN(layouts) * ARRAY_LEN(threaded_tests) + ARRAY_LEN(negos);
	struct CMUnitTest *tests = calloc(total, sizeof(*tests));
	char suffix[64];
	size_t n = 0;
	int r;

	if (!tests)
		return 1;
	for (size_t i = 0; i < ARRAY_LEN(single_tests); i++)
		add_test(tests, &n, single_tests[i].name, "", single_tests[i].fn, &default_param);
	for (size_t l = 0; l < ARRAY_LEN(layouts); l++) {
		layout_params[l] = (struct param){ &layouts[l], &modes[0], NULL };
		for (size_t i = 0; i < ARRAY_LEN(layout_tests); i++)
			add_test(tests, &n, layout_tests[i].name, layouts[l].name,
				 layout_tests[i].fn, &layout_params[l]);
	}
	for (size_t l = 0; l < ARRAY_LEN(layouts); l++) {
		for (size_t m = 0; m < ARRAY_LEN(modes); m++) {
			struct param *p = &io_params[l * ARRAY_LEN(modes) + m];

			*p = (struct param){ &layouts[l], &modes[m], NULL };
			snprintf(suffix, sizeof(suffix), "%s %s", layouts[l].name, modes[m].name);
			for (size_t i = 0; i < ARRAY_LEN(io_tests); i++)
				add_test(tests, &n, io_tests[i].name, suffix, io_tests[i].fn, p);
			if (!modes[m].threaded)
				continue;
			for (size_t i = 0; i < ARRAY_LEN(threaded_tests); i++)
				add_test(tests, &n, threaded_tests[i].name, suffix,
					 threaded_tests[i].fn, p);
		}
	}
	for (size_t i = 0; i < ARRAY_LEN(negos); i++) {
		nego_params[i] = (struct param){ &layouts[0], &modes[0], &negos[i] };
		add_test(tests, &n, "bus_negotiation", negos[i].name, bus_negotiation,
			 &nego_params[i]);
	}
	r = _cmocka_run_group_tests("core", tests, n, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		free((void *)tests[i].name);
	free(tests);
	return r;
}
