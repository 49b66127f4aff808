/*
 * core_fixture.h - what the tests of the device model, the driver model
 * (the bus) and the loopback transport share: everything of virtio that is
 * not the ring.
 *
 * A device type of our own, "echo", stands on the device side: it copies
 * each chain's readable bytes into its writable part, has a 16-byte config
 * space, and its hooks (features_ok, start, reset, queue_reset,
 * config_write) count their calls; features_ok can be told to refuse. A
 * matching driver stands on the driver side; what its probe does is set
 * per device by the test. Both sit on the loopback transport, so every
 * address the driver posts goes through the device's translation.
 *
 * The tests are split by group into tests/loopback/test_core_*.c (every TAP
 * name starts with its group); each passes its tables to core_run(). Checks
 * whose failure is memory corruption run in a child process
 * (run_isolated), so a sanitizer abort fails that test, not the suite.
 */

#ifndef CORE_FIXTURE_H
#define CORE_FIXTURE_H

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
	{ .name = "transport_takes_access_platform_for_the_driver",
	  .offer = V1 | F_PLATFORM | B(0),
	  .drv = V1 | B(0),
	  .extra = F_PLATFORM,
	  .want = V1 | F_PLATFORM | B(0) },
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

struct echo *echo_of(struct vio_dev_model *d);

int echo_features_ok(struct vio_dev_model *d, uint64_t features);

int echo_start(struct vio_dev_model *d);

void echo_reset(struct vio_dev_model *d);

/* Echoes every available chain: readable bytes go back as written bytes. */
void echo_notify(struct vio_dev_model *d, unsigned qi);

void echo_config_write(struct vio_dev_model *d, unsigned off, unsigned len);

void echo_queue_reset(struct vio_dev_model *d, unsigned qi);

static const struct vio_dev_ops echo_ops = {
	.version = VIO_DEV_OPS_VERSION,
	.features_ok = echo_features_ok,
	.start = echo_start,
	.reset = echo_reset,
	.queue_notify = echo_notify,
	.config_write = echo_config_write,
	.queue_reset = echo_queue_reset,
};

void echo_log(void *opaque, enum vio_log_level level, const char *msg);

int echo_setup(struct echo *e, uint64_t offer, bool legacy_ok, unsigned nq,
	       const struct vio_dev_ops *ops);

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

struct fx *fx_of(struct vio_drv_device *dev);

void *bus_alloc(void *opaque, size_t size);

void bus_free(void *opaque, void *p, size_t size);

size_t align_up(size_t v, size_t a);

/* Ring memory for one queue in the arena, in the modern placement. */
int ring_alloc(struct vio_drv_device *dev, uint64_t features, unsigned size,
	       struct ring_mem *m);

/* Is the whole arena free (nothing the driver allocated was kept)? */
bool arena_all_free(struct fx *f);

/* The device status as the driver reads it (under the transport's lock). */
uint8_t status_of(struct fx *f);

/* ------------------------------------------------------------------------ */
/* The driver                                                               */
/* A buffer came back, used (from get_buf) or not (from detach_unused). */
void token_back(struct fx *f, void *tok, uint32_t len, bool used);

void echo_cb(struct vio_drv_vq *vq);

/* Posts slot `s` on queue qi: `len` pattern bytes out, MSG bytes in. */
int echo_post(struct fx *f, unsigned qi, unsigned s, uint32_t len);

/* Did slot s come back with its bytes echoed? */
bool echo_ok(const struct fx *f, unsigned s);

int wait_done(struct fx *f, unsigned qi, unsigned target);

/* One request on qi through slot s, waited for and checked. No cmocka
 * asserts: it also runs inside probe, called from the library. */
int echo_roundtrip(struct fx *f, unsigned qi, unsigned s, uint32_t len);

/* Many round trips on qi, past the ring size so its indices wrap. */
void echo_many(struct fx *f, unsigned qi, unsigned n);

int echo_probe(struct vio_drv_device *dev);

void echo_remove(struct vio_drv_device *dev);

void echo_config_changed(struct vio_drv_device *dev);

static const uint32_t echo_ids[] = { ECHO_ID, 0 };

static const uint32_t other_ids[] = { OTHER_ID, 0 };

void drv_setup(struct vio_driver *drv, const uint32_t *ids);

/* ------------------------------------------------------------------------ */
/* Fixture life cycle                                                       */
void *device_thread(void *arg);

void fx_start_thread(struct fx *f);

void fx_stop_thread(struct fx *f);

bool threaded(const struct ctx *c);

/* The default offer: VERSION_1, indirect, event index, the row's layout. */
uint64_t default_offer(const struct ctx *c);

/* A new echo device with `nq` queues on a loopback in the ctx's mode. */
struct fx *fx_make(struct ctx *c, uint64_t offer, bool legacy_ok, unsigned nq,
		   const struct vio_dev_ops *ops);

struct fx *fx_new(struct ctx *c);

/* Adds the device to the bus; in threaded mode its thread runs first. */
void fx_add(struct ctx *c, struct fx *f);

void ctx_register(struct ctx *c);

/* The usual start: driver registered, one device added and bound. */
struct fx *ctx_bound(struct ctx *c);

int ctx_setup(void **state);

int ctx_teardown(void **state);

/*
 * Runs fn in a child process and reports whether it returned 0. For checks
 * whose failure is memory corruption: a sanitizer abort then fails one
 * test instead of ending the whole TAP stream. fn must not use cmocka.
 */
int run_isolated(int (*fn)(void));

/* status: the device model's status machine                                */
/* ACKNOWLEDGE, DRIVER, features, FEATURES_OK: what every modern start does. */
void dm_negotiate(struct vio_dev_model *d, uint64_t features);

/* Sets queue qi up over fresh ring memory and enables it. */
void dm_queue(struct fx *f, unsigned qi, unsigned size, struct ring_mem *m);

/* A live device: negotiated, queue 0 enabled, DRIVER_OK. */
void dm_live(struct fx *f, uint64_t features);

struct test_def {
	const char *name;
	CMUnitTestFunction fn;
};

#define T(fn) { #fn, fn }

extern struct param layout_params[ARRAY_LEN(layouts)];

extern struct param io_params[ARRAY_LEN(layouts) * ARRAY_LEN(modes)];

extern struct param nego_params[ARRAY_LEN(negos)];

void add_test(struct CMUnitTest *t, size_t *n, const char *name, const char *suffix,
	      CMUnitTestFunction fn, const struct param *p);

/* The tables of one test program; a table it lacks is NULL and empty. */
struct core_tables {
	const struct test_def *single;      /* run once */
	const struct test_def *layout;      /* once per layout (direct mode) */
	const struct test_def *io;          /* once per layout and mode */
	const struct test_def *threaded;    /* once per layout, threaded mode only */
	size_t nsingle, nlayout, nio, nthreaded;
	CMUnitTestFunction negotiation;     /* run once per row of negos[] */
};

/* Runs group `group`: each table on the parameters it belongs to. */
int core_run(const char *group, const struct core_tables *t);

#endif
