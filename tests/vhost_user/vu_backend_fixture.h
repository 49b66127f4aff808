/*
 * vu_backend_fixture.h - what the tests of libvio's vhost-user backend
 * share.
 *
 * The backend (src/transport/vhost_user_backend.c) is where libvio meets
 * QEMU: every byte of every message, every passed fd and every address in
 * guest memory comes from a peer it must not trust. These tests play that
 * peer with tests/vhost_user/frontend.c over a socketpair in one process.
 * The test calls vio_vu_backend_dispatch() after each message (the `pump`)
 * and vio_vu_backend_queue_dispatch() where a daemon's poll loop would, or
 * runs a thread per queue for the threaded tests.
 *
 * The device is a tiny "echo" type defined here: two queues, each chain's
 * readable bytes come back inverted in its writable part; config space is
 * a read-only magic word and one writable byte; device-type feature bit 0 is
 * offered but refused at FEATURES_OK. Guest memory is a memfd whose region
 * sits at an mmap offset, at a guest address and a user address that are
 * both different from our own pointer, so confusing any two of the three
 * address spaces fails.
 *
 * The tests are split by topic into tests/vhost_user/test_vu_backend_*.c;
 * TAP names keep their groups ("<layout>: ...", "control: ...",
 * "malformed: ...", "inflight ...: ...").
 */

#ifndef VU_BACKEND_FIXTURE_H
#define VU_BACKEND_FIXTURE_H

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
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "frontend.h"
#include "vio/core.h"
#include "vio/transport.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define NQ 2
#define QMAX 64                 /* the device's largest queue */
#define QSIZE 32                /* what the frontend asks for */
#define IND_MAX 4
#define CFG_LEN 8u
#define CFG_RW 4u               /* offset of the one writable config byte */
#define CFG_MAGIC 0x0cab0d1eu
#define ECHO_ID 0x7e57u
#define ECHO_F_REFUSED 0        /* offered, refused by features_ok */
#define GPA UINT64_C(0x40000000)
#define UVA UINT64_C(0x200000000000)
#define MEM_SIZE (1u << 20)
#define MMAP_OFF 0x3000u
#define BUF_SLOT 256u           /* bytes per buffer half (out or in) */
#define SLOTS 64u               /* buffer slots per queue */
#define DATA_BYTES (NQ * SLOTS * 2 * BUF_SLOT)
#define V1 VIO_BIT(VIO_F_VERSION_1)
#define F_IND VIO_BIT(VIO_F_INDIRECT_DESC)
#define F_EVT VIO_BIT(VIO_F_EVENT_IDX)
#define F_PACKED VIO_BIT(VIO_F_RING_PACKED)
#define BIT30 VIO_BIT(VU_F_PROTOCOL_FEATURES)
/* VHOST_F_LOG_ALL: the backend offers it besides the device's features. */
#define BIT26 VIO_BIT(VU_F_LOG_ALL)
#define DEV_FEATURES (V1 | F_IND | F_EVT | F_PACKED | VIO_BIT(ECHO_F_REFUSED))
#define PF(x) VIO_BIT(VU_PROTOCOL_F_##x)

#define PF_OFFERED (PF(MQ) | PF(REPLY_ACK) | PF(BACKEND_REQ) | PF(CONFIG) | PF(RESET_DEVICE) | \
		    PF(CONFIGURE_MEM_SLOTS) | PF(STATUS) | PF(INFLIGHT_SHMFD) | PF(LOG_SHMFD))

#define PF_ALL PF_OFFERED
#define STATUS_NEGOTIATED (VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER | VIO_STATUS_FEATURES_OK)

/* The backend's patience with a frontend that stalls (config timeout_ms),
 * and the far longer bound a test waits before it calls the backend stuck. */
#define TIMEOUT_MS 300

#define STUCK_MS 5000

/* The echo device                                                          */
/* A chain the echo device popped and keeps (hold mode). */
struct held {
	struct vio_elem el;
	struct vio_iov out[8], in[8];
};

struct t;

struct echo {
	struct vio_dev_model dev;
	struct vio_dev_queue q[NQ];
	uint8_t config[CFG_LEN];
	unsigned resets, queue_resets, config_writes, write_off, write_len;
	uint64_t chains[NQ];            /* chains echoed */
	int last_err[NQ];               /* what the last pop loop ended with */
	/* Hold mode: the next hold[qi] chains are popped and kept in
	 * held[qi][], to be completed later in any order (as a device with
	 * requests in flight would). */
	unsigned hold[NQ], nheld[NQ];
	struct held held[NQ][QSIZE];
	/* Waiting mode (atomic): the device leaves buffers on the ring, as a
	 * receive queue waiting for input or a rate-limited device does. */
	bool wait[NQ];
	/* Feeding mode (atomic): called after each round on a queue. */
	void (*feed)(struct t *t, unsigned qi);
	struct t *feed_opaque;
};

/* Echoes one chain's readable bytes, inverted, into its writable part and
 * stages it as used. */
int echo_fill(struct vio_devq *vq, struct vio_elem *el);

int echo_features_ok(struct vio_dev_model *d, uint64_t features);

void echo_notify(struct vio_dev_model *d, unsigned qi);

void echo_reset(struct vio_dev_model *d);

void echo_queue_reset(struct vio_dev_model *d, unsigned qi);

void echo_config_write(struct vio_dev_model *d, unsigned off, unsigned len);

static const struct vio_dev_ops echo_ops = {
	.version = VIO_DEV_OPS_VERSION,
	.features_ok = echo_features_ok,
	.reset = echo_reset,
	.queue_notify = echo_notify,
	.config_write = echo_config_write,
	.queue_reset = echo_queue_reset,
};

int echo_init(struct echo *e);

/* Fixture                                                                  */
struct layout {
	const char *name;
	uint64_t features;      /* what the frontend acks (bit 30 added) */
};

static const struct layout layouts[] = {
	{ "split", V1 | F_IND },
	{ "packed", V1 | F_IND | F_PACKED },
	{ "split+event_idx", V1 | F_IND | F_EVT },
	{ "packed+event_idx", V1 | F_IND | F_EVT | F_PACKED },
};

/* What a test is registered with: its layout and, for table-driven tests,
 * its row. */
struct param {
	const struct layout *lay;
	const void *row;
};

struct t {
	const struct layout *lay;
	const void *row;
	struct echo e;
	struct vio_vu_backend b;
	struct vt_fe fe;
	int last;                       /* what the last dispatch returned */
	struct vt_gmem g;
	struct vt_gmem g2;              /* a second region, for tests that want one */
	struct vt_ring r[NQ];
	uint8_t *data;                  /* buffer area in guest memory */
	uint32_t posted[NQ], reaped[NQ];
	int bch;                        /* our end of the backend channel */
	int fds_at_start;
	pthread_mutex_t log_lock;       /* the log may come from queue threads */
	unsigned nlog;
	char lastlog[256];
	unsigned queues_changed;
	unsigned long fed;              /* buffers feed() reaped */
};

void log_cb(void *opaque, enum vio_log_level level, const char *msg);

void queues_changed_cb(void *opaque);

/* The backend reads the one message just sent. */
void pump(void *opaque);

struct vio_vu_backend_config backend_config(struct t *t);

int setup(void **state);

int teardown(void **state);

bool packed(const struct t *t);

/* ------------------------------------------------------------------------ */
/* Frontend steps                                                           */
void negotiate_features(struct t *t, uint64_t features, uint64_t pf);

void negotiate(struct t *t, uint64_t pf);

void map_memory(struct t *t);

/* SET_VRING_BASE of a ring that never ran: packed rings start with their
 * wrap counter (bit 15) set, as QEMU sends it. */
uint16_t fresh_base(const struct t *t);

void start_at(struct t *t, unsigned qi, uint32_t base);

void start(struct t *t, unsigned qi);

/* Negotiated, memory mapped, both rings running. */
void up(struct t *t);

/* A backend channel: we keep one end, the backend gets the other. */
void backend_channel(struct t *t);

void reconnect(struct t *t);

int set_addr(struct t *t, const struct vt_ring *r);

/* A second memfd region, disjoint from t->g in both address spaces. */
void second_region(struct t *t);

/* The backend is connected and answers a valid message correctly. */
void assert_serving(struct t *t);

uint8_t get_status(struct t *t);

bool log_says(struct t *t, const char *what);

/* -- the backend on a thread of its own, for tests where it could block --- */
struct bg {
	struct t *t;
	pthread_t th;
	void (*fn)(struct bg *);
	int ret;
	bool done;                      /* atomic */
};

void *bg_main(void *arg);

void bg_start(struct bg *g, struct t *t, void (*fn)(struct bg *));

bool bg_done(struct bg *g);

/* Waits up to STUCK_MS for fn to return. If it does not, `unstick` does
 * what lets it return (the test then fails rather than hangs). */
bool bg_wait(struct bg *g, void (*unstick)(struct t *));

/* A backend blocked on the frontend's socket returns once it closes. */
void close_frontend(struct t *t);

/* Lines of /proc/self/maps that map one of our guest memfds. */
int guest_maps(void);

/* ------------------------------------------------------------------------ */
/* I/O through the rings                                                    */
void *token(uint32_t seq);

uint32_t msg_len(uint32_t seq);

uint8_t pattern(unsigned qi, uint32_t seq, size_t j);

uint8_t *slot_out(struct t *t, unsigned qi, uint32_t seq);

/* Posts n buffers on queue qi, each `segs` (1 or 2) readable and as many
 * writable segments (two segments go indirect). */
void post(struct t *t, unsigned qi, unsigned n, unsigned segs);

/* Reaps one used buffer and checks it came back echoed, in order. */
bool reap_one(struct t *t, unsigned qi);

/* Posts n buffers, kicks, lets the backend's queue dispatch run (as a poll
 * loop would on the kick fd) and checks each buffer and the interrupt. */
void expect_io(struct t *t, unsigned qi, unsigned n, unsigned segs);

/* Feeding mode: after each round the echo device hands the driver side a
 * turn (reap, post one more), so there is always a buffer waiting: a
 * driver that keeps the queue busy, without timing or another thread. */
void feed(struct t *t, unsigned qi);

/* -- a thread per queue -------------------------------------------------- */
struct qthread {
	struct vio_vu_backend *b;
	unsigned qi;
	int kick_fd, stop_fd;
	pthread_t th;
};

/* What a daemon's queue thread does: poll the kick fd, dispatch. */
void *qthread_main(void *arg);

/* Reaps until every posted buffer on qi is back, sleeping on the call fd
 * as a driver would: enable callbacks, recheck, wait. A lost interrupt
 * shows up as a timeout. */
void wait_all(struct t *t, unsigned qi, uint64_t *irqs);

/* After NEEDS_RESET the frontend resets the device and starts over. */
void recover(struct t *t);

/* Malformed messages                                                       */
/* Is m a refusal of `req`: a non-zero ack, or for GET_CONFIG an empty
 * config payload? */
bool is_refusal(const struct vt_msg *m, uint32_t req);

/*
 * Sends a message the backend must refuse, with NEED_REPLY, and checks the
 * refusal: a reply saying so, a log line, every fd it was given closed, and
 * a valid message afterwards still answered.
 */
void send_refused(struct t *t, uint32_t req, uint32_t flags, const void *p, uint32_t size,
		  const int *fds, unsigned nfds);

/* A broken stream: the backend drops the connection and resets. */
void assert_dropped(struct t *t);

/* What a refused message must not have changed. */
struct snap {
	uint64_t features, pf;
	uint8_t status;
	bool owner, addr_set, started;
	unsigned nmaps, num;
	uint16_t base;
	int call_fd;
};

struct snap snap(const struct t *t);

/* -- file descriptors -------------------------------------------------------- */
/* How many fds to send along with a message. */
void send_with_fds(struct t *t, uint32_t req, const void *p, uint32_t size, unsigned nfds);

struct test_def {
	const char *name;
	CMUnitTestFunction fn;
};

#define MAX_TESTS 512

extern struct CMUnitTest tests[MAX_TESTS];

extern struct param params[MAX_TESTS];

extern size_t ntests;

void add(const char *prefix, const char *group, const char *name, CMUnitTestFunction fn,
	 const struct layout *lay, const void *row);

void add_defs(const char *prefix, const struct test_def *d, size_t n,
	      const struct layout *lay);

/* Rows of a table: each row struct starts with its name. */
#define ADD_ROWS(group, rows, fn)                                                       \
	for (size_t i_ = 0; i_ < ARRAY_LEN(rows); i_++)                                 \
		add("malformed", group, rows[i_].name, fn, &layouts[0], &rows[i_])

/* Runs every test added so far as group `group`, then frees their names.
 * VT_FILTER="packed: *" runs the matching tests only (for debugging). */
int run_added(const char *group);

#endif
