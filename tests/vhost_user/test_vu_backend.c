/*
 * test_vu_backend.c - libvio's vhost-user backend against a test frontend.
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
 * Groups (TAP counts every case):
 *   <layout>: ...     happy path and hostile-driver cases, one suite run for
 *                     each row of `layouts` (split/packed, EVENT_IDX off/on);
 *                     for split and packed also "ring start refused: ..."
 *                     (ring addresses outside the table, or misaligned) and
 *                     "not an eventfd: ..." (kick, call, error fds)
 *   control: ...      the control plane: negotiation, config, status, reset,
 *                     memory slots, disconnect and reconnect, frontends that
 *                     never read (replies, the backend channel)
 *   malformed: ...    one test per rule a message can break; each checks the
 *                     refusal (non-zero REPLY_ACK, a log line, no fd leaked)
 *                     and that a following valid message still works
 *   split-specific / packed-specific: a hostile driver writing the ring
 *
 * Every test also checks, in its teardown, that the process has exactly the
 * file descriptors it had before the test: the backend closes what it is
 * given.
 *
 * Where the backend could block or spin on the frontend, the call runs on
 * a thread of its own (struct bg) and the test waits STUCK_MS for it; a
 * call still running then is a failure, and the test unblocks it (closes
 * a socket, kicks, stops feeding) so the suite goes on instead of hanging.
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
#define DEV_FEATURES (V1 | F_IND | F_EVT | F_PACKED | VIO_BIT(ECHO_F_REFUSED))

#define PF(x) VIO_BIT(VU_PROTOCOL_F_##x)
#define PF_OFFERED (PF(MQ) | PF(REPLY_ACK) | PF(BACKEND_REQ) | PF(CONFIG) | PF(RESET_DEVICE) | \
		    PF(CONFIGURE_MEM_SLOTS) | PF(STATUS) | PF(INFLIGHT_SHMFD))
#define PF_ALL PF_OFFERED

#define STATUS_NEGOTIATED (VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER | VIO_STATUS_FEATURES_OK)

/* The backend's patience with a frontend that stalls (config timeout_ms),
 * and the far longer bound a test waits before it calls the backend stuck. */
#define TIMEOUT_MS 300
#define STUCK_MS 5000

/* ======================================================================== */
/* The echo device                                                          */
/* ======================================================================== */

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
static int echo_fill(struct vio_devq *vq, struct vio_elem *el)
{
	uint8_t buf[4096];
	size_t n = vio_iov_to_buf(el->out, el->out_num, 0, buf, sizeof(buf));

	for (size_t i = 0; i < n; i++)
		buf[i] ^= 0xff;
	n = vio_iov_from_buf(el->in, el->in_num, 0, buf, n);
	return vio_devq_fill(vq, el, (uint32_t)n);
}

static int echo_features_ok(struct vio_dev_model *d, uint64_t features)
{
	return vio_has_feature(features, ECHO_F_REFUSED) ? -EINVAL : 0;
}

static void echo_notify(struct vio_dev_model *d, unsigned qi)
{
	struct echo *e = d->priv;
	struct vio_devq *vq = vio_dev_vq(d, qi);
	struct vio_iov out[8], in[8];
	struct vio_elem el = { .out = out, .out_cap = 8, .in = in, .in_cap = 8 };
	int r;

	if (!vq || __atomic_load_n(&e->wait[qi], __ATOMIC_RELAXED))
		return;
	for (;;) {
		if (e->hold[qi] && e->nheld[qi] < QSIZE) {
			struct held *h = &e->held[qi][e->nheld[qi]];

			h->el = (struct vio_elem){ .out = h->out, .out_cap = 8, .in = h->in, .in_cap = 8 };
			r = vio_devq_pop(vq, &h->el);
			if (r)
				break;
			e->hold[qi]--;
			e->nheld[qi]++;
			continue;
		}
		r = vio_devq_pop(vq, &el);
		if (r)
			break;
		echo_fill(vq, &el);
		vio_devq_flush(vq);
		e->chains[qi]++;
	}
	e->last_err[qi] = r;
	vio_dev_check(d, qi, r);
	vio_dev_interrupt(d, qi);
	{
		void (*fn)(struct t *, unsigned) = __atomic_load_n(&e->feed, __ATOMIC_RELAXED);

		if (fn)
			fn(e->feed_opaque, qi);
	}
}

static void echo_reset(struct vio_dev_model *d)
{
	((struct echo *)d->priv)->resets++;
}

static void echo_queue_reset(struct vio_dev_model *d, unsigned qi)
{
	((struct echo *)d->priv)->queue_resets++;
}

static void echo_config_write(struct vio_dev_model *d, unsigned off, unsigned len)
{
	struct echo *e = d->priv;

	e->config_writes++;
	e->write_off = off;
	e->write_len = len;
}

static const struct vio_dev_ops echo_ops = {
	.version = VIO_DEV_OPS_VERSION,
	.features_ok = echo_features_ok,
	.reset = echo_reset,
	.queue_notify = echo_notify,
	.config_write = echo_config_write,
	.queue_reset = echo_queue_reset,
};

static int echo_init(struct echo *e)
{
	vio_le32 magic = vio_cpu_to_le32(CFG_MAGIC);

	memset(e, 0, sizeof(*e));
	memcpy(e->config, &magic, sizeof(magic));
	e->dev.device_id = ECHO_ID;
	e->dev.host_features = DEV_FEATURES;
	e->dev.config = e->config;
	e->dev.config_len = CFG_LEN;
	e->dev.queues = e->q;
	e->dev.num_queues = NQ;
	e->dev.ops = &echo_ops;
	e->dev.priv = e;
	for (unsigned i = 0; i < NQ; i++)
		e->q[i].max_size = QMAX;
	return vio_dev_init(&e->dev);
}

/* ======================================================================== */
/* Fixture                                                                  */
/* ======================================================================== */

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

/* Without INDIRECT_DESC a request of several segments is a chain of ring
 * descriptors: what the packed inflight log copies entry by entry. */
static const struct layout packed_direct = { "packed, direct chains", V1 | F_PACKED };

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

static void log_cb(void *opaque, enum vio_log_level level, const char *msg)
{
	struct t *t = opaque;

	pthread_mutex_lock(&t->log_lock);
	t->nlog++;
	snprintf(t->lastlog, sizeof(t->lastlog), "%s", msg);
	pthread_mutex_unlock(&t->log_lock);
	if (getenv("VT_LOG"))
		fprintf(stderr, "# log %d: %s\n", (int)level, msg);
}

static void queues_changed_cb(void *opaque)
{
	((struct t *)opaque)->queues_changed++;
}

/* The backend reads the one message just sent. */
static void pump(void *opaque)
{
	struct t *t = opaque;

	/* Never block in dispatch: a message that did not arrive is a test
	 * failure, not a hang. */
	if (t->b.sock >= 0 && !vt_readable(t->b.sock, 2000)) {
		t->last = -ETIMEDOUT;
		return;
	}
	t->last = vio_vu_backend_dispatch(&t->b);
}

static struct vio_vu_backend_config backend_config(struct t *t)
{
	struct vio_vu_backend_config cfg = {
		.log = log_cb, .log_opaque = t,
		.queues_changed = queues_changed_cb, .opaque = t,
		.timeout_ms = TIMEOUT_MS,
	};

	return cfg;
}

static int setup(void **state)
{
	const struct param *p = *state;
	struct t *t = calloc(1, sizeof(*t));
	struct vio_vu_backend_config cfg;
	int sv[2];

	if (!t)
		return -1;
	t->fds_at_start = vt_count_fds();
	t->lay = p->lay;
	t->row = p->row;
	t->bch = -1;
	t->g2.fd = -1;
	pthread_mutex_init(&t->log_lock, NULL);
	cfg = backend_config(t);
	if (echo_init(&t->e) || vio_vu_backend_init(&t->b, &t->e.dev, &cfg) || vt_socketpair(sv))
		return -1;
	if (vio_vu_backend_attach(&t->b, sv[1]))
		return -1;
	vt_fe_init(&t->fe, sv[0], pump, t);
	if (vt_gmem_init(&t->g, MEM_SIZE, MMAP_OFF, GPA, UVA, 0))
		return -1;
	for (unsigned i = 0; i < NQ; i++)
		if (vt_ring_init(&t->r[i], &t->g, i, QSIZE, t->lay->features, IND_MAX))
			return -1;
	t->data = vt_gmem_alloc(&t->g, DATA_BYTES, 4096);
	if (!t->data)
		return -1;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	int fds = t->fds_at_start;

	vio_vu_backend_fini(&t->b);
	if (t->fe.sock >= 0)
		close(t->fe.sock);
	if (t->bch >= 0)
		close(t->bch);
	for (unsigned i = 0; i < NQ; i++)
		vt_ring_fini(&t->r[i]);
	vt_gmem_fini(&t->g);
	vt_gmem_fini(&t->g2);
	pthread_mutex_destroy(&t->log_lock);
	free(t);
	/* Whatever the backend was handed, it closed. */
	assert_int_equal(vt_count_fds(), fds);
	return 0;
}

static bool packed(const struct t *t)
{
	return t->lay->features & F_PACKED;
}

/* ------------------------------------------------------------------------ */
/* Frontend steps                                                           */

static void negotiate_features(struct t *t, uint64_t features, uint64_t pf)
{
	uint64_t offered = 0;

	assert_int_equal(vt_fe_handshake(&t->fe, features, pf, &offered), 0);
	assert_int_equal(t->last, 0);
	assert_int_equal(offered, DEV_FEATURES | BIT30);
}

static void negotiate(struct t *t, uint64_t pf)
{
	negotiate_features(t, t->lay->features | BIT30, pf);
}

static void map_memory(struct t *t)
{
	const struct vt_gmem *g = &t->g;

	assert_int_equal(vt_fe_mem_table(&t->fe, &g, 1), 0);
	assert_int_equal(t->b.nmaps, 1);
}

/* SET_VRING_BASE of a ring that never ran: packed rings start with their
 * wrap counter (bit 15) set, as QEMU sends it. */
static uint16_t fresh_base(const struct t *t)
{
	return (t->lay->features & F_PACKED) ? 0x8000 : 0;
}

static void start_at(struct t *t, unsigned qi, uint32_t base)
{
	assert_int_equal(vt_fe_start_ring(&t->fe, &t->r[qi], base, true), 0);
	assert_true(t->e.q[qi].live);
}

static void start(struct t *t, unsigned qi)
{
	start_at(t, qi, fresh_base(t));
}

/* Negotiated, memory mapped, both rings running. */
static void up(struct t *t)
{
	negotiate(t, PF_ALL);
	map_memory(t);
	start(t, 0);
	start(t, 1);
	assert_int_equal(t->e.dev.status, STATUS_NEGOTIATED | VIO_STATUS_DRIVER_OK);
}

/* A backend channel: we keep one end, the backend gets the other. */
static void backend_channel(struct t *t)
{
	int sv[2];

	assert_int_equal(vt_socketpair(sv), 0);
	assert_int_equal(vt_fe_set(&t->fe, VU_SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1), 0);
	close(sv[1]);
	t->bch = sv[0];
}

static void reconnect(struct t *t)
{
	int sv[2];

	if (t->fe.sock >= 0)
		close(t->fe.sock);
	assert_int_equal(vt_socketpair(sv), 0);
	assert_int_equal(vio_vu_backend_attach(&t->b, sv[1]), 0);
	vt_fe_init(&t->fe, sv[0], pump, t);
	/* The driver side starts over with the device. */
	for (unsigned i = 0; i < NQ; i++) {
		assert_int_equal(vt_ring_reinit(&t->r[i]), 0);
		t->posted[i] = t->reaped[i] = 0;
	}
}

static int set_addr(struct t *t, const struct vt_ring *r)
{
	return vt_fe_set(&t->fe, VU_SET_VRING_ADDR, &r->addr, sizeof(r->addr), NULL, 0);
}

/* A second memfd region, disjoint from t->g in both address spaces. */
static void second_region(struct t *t)
{
	assert_int_equal(vt_gmem_init(&t->g2, 0x10000, 0, GPA + 0x10000000, UVA + 0x10000000, 0),
			 0);
}

/* The backend is connected and answers a valid message correctly. */
static void assert_serving(struct t *t)
{
	uint64_t f = 0;

	assert_int_equal(t->last, 0);
	assert_true(t->b.sock >= 0);
	assert_int_equal(vt_fe_get_u64(&t->fe, VU_GET_FEATURES, &f), 0);
	assert_int_equal(t->last, 0);
	assert_int_equal(f, DEV_FEATURES | BIT30);
}

static uint8_t get_status(struct t *t)
{
	uint64_t s = 0;

	assert_int_equal(vt_fe_get_u64(&t->fe, VU_GET_STATUS, &s), 0);
	assert_true(s <= 0xff);
	return (uint8_t)s;
}

static bool log_says(struct t *t, const char *what)
{
	bool yes;

	pthread_mutex_lock(&t->log_lock);
	yes = strstr(t->lastlog, what) != NULL;
	pthread_mutex_unlock(&t->log_lock);
	return yes;
}

/* -- the backend on a thread of its own, for tests where it could block --- */

struct bg {
	struct t *t;
	pthread_t th;
	void (*fn)(struct bg *);
	int ret;
	bool done;                      /* atomic */
};

static void *bg_main(void *arg)
{
	struct bg *g = arg;

	g->fn(g);
	__atomic_store_n(&g->done, true, __ATOMIC_RELEASE);
	return NULL;
}

static void bg_start(struct bg *g, struct t *t, void (*fn)(struct bg *))
{
	*g = (struct bg){ .t = t, .fn = fn };
	assert_int_equal(pthread_create(&g->th, NULL, bg_main, g), 0);
}

static bool bg_done(struct bg *g)
{
	return __atomic_load_n(&g->done, __ATOMIC_ACQUIRE);
}

/* Waits up to STUCK_MS for fn to return. If it does not, `unstick` does
 * what lets it return (the test then fails rather than hangs). */
static bool bg_wait(struct bg *g, void (*unstick)(struct t *))
{
	bool done;

	for (unsigned ms = 0; ms < STUCK_MS && !bg_done(g); ms++)
		usleep(1000);
	done = bg_done(g);
	if (!done)
		unstick(g->t);
	pthread_join(g->th, NULL);
	return done;
}

/* Dispatch until the backend drops the frontend. */
static void bg_dispatch_all(struct bg *g)
{
	while ((g->ret = vio_vu_backend_dispatch(&g->t->b)) == 0)
		;
}

static void bg_dispatch_one(struct bg *g)
{
	g->ret = vio_vu_backend_dispatch(&g->t->b);
}

/* A backend blocked on the frontend's socket returns once it closes. */
static void close_frontend(struct t *t)
{
	close(t->fe.sock);
	t->fe.sock = -1;
}

/* /proc/self/fdinfo/fd ("" when it cannot be read). */
static const char *read_fdinfo(int fd)
{
	static char buf[1024];
	char path[64];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return "";
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* Lines of /proc/self/maps that map one of our guest memfds. */
static int guest_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "memfd:vt-guest"))
			n++;
	fclose(f);
	return n;
}

/* ------------------------------------------------------------------------ */
/* I/O through the rings                                                    */

static void *token(uint32_t seq)
{
	return (void *)(uintptr_t)(seq + 1);
}

static uint32_t msg_len(uint32_t seq)
{
	return 16 + seq % 200;
}

static uint8_t pattern(unsigned qi, uint32_t seq, size_t j)
{
	return (uint8_t)(qi * 31 + seq * 7 + j);
}

static uint8_t *slot_out(struct t *t, unsigned qi, uint32_t seq)
{
	return t->data + ((size_t)(qi * SLOTS + seq % SLOTS) * 2) * BUF_SLOT;
}

/* Posts n buffers on queue qi, each `segs` (1 or 2) readable and as many
 * writable segments (two segments go indirect). */
static void post(struct t *t, unsigned qi, unsigned n, unsigned segs)
{
	for (unsigned k = 0; k < n; k++) {
		uint32_t seq = t->posted[qi]++;
		uint8_t *out = slot_out(t, qi, seq), *in = out + BUF_SLOT;
		uint64_t og = vt_gmem_gpa(&t->g, out), ig = vt_gmem_gpa(&t->g, in);
		uint32_t len = msg_len(seq);
		struct vio_sg o[2] = { { og, len }, { 0, 0 } };
		struct vio_sg i[2] = { { ig, BUF_SLOT }, { 0, 0 } };

		for (uint32_t j = 0; j < len; j++)
			out[j] = pattern(qi, seq, j);
		memset(in, 0, BUF_SLOT);
		if (segs == 2) {
			o[0].len = 5;
			o[1] = (struct vio_sg){ og + 5, len - 5 };
			i[0].len = 7;
			i[1] = (struct vio_sg){ ig + 7, BUF_SLOT - 7 };
		}
		assert_int_equal(vio_drvq_add(&t->r[qi].q, o, segs, i, segs, token(seq)), 0);
	}
}

/* Reaps one used buffer and checks it came back echoed, in order. */
static bool reap_one(struct t *t, unsigned qi)
{
	void *tok = NULL;
	uint32_t len = 0, seq;
	const uint8_t *in;
	int r = vio_drvq_get_buf(&t->r[qi].q, &tok, &len);

	if (r == -EAGAIN)
		return false;
	assert_int_equal(r, 0);
	seq = t->reaped[qi]++;
	assert_ptr_equal(tok, token(seq));
	assert_int_equal(len, msg_len(seq));
	in = slot_out(t, qi, seq) + BUF_SLOT;
	for (uint32_t j = 0; j < len; j++)
		assert_int_equal(in[j], (uint8_t)~pattern(qi, seq, j));
	return true;
}

/* Posts n buffers, kicks, lets the backend's queue dispatch run (as a poll
 * loop would on the kick fd) and checks each buffer and the interrupt. */
static void expect_io(struct t *t, unsigned qi, unsigned n, unsigned segs)
{
	uint64_t kicks = t->b.queues[qi].kicks;

	post(t, qi, n, segs);
	assert_true(vt_ring_kick(&t->r[qi]));
	assert_true(vt_readable(vio_vu_backend_kick_fd(&t->b, qi), 0));
	vio_vu_backend_queue_dispatch(&t->b, qi);
	assert_int_equal(t->b.queues[qi].kicks, kicks + 1);
	assert_true(vt_efd_take(t->r[qi].call_fd) > 0);
	for (unsigned k = 0; k < n; k++)
		assert_true(reap_one(t, qi));
	assert_false(reap_one(t, qi));
}

/* Posts buffers that the backend must NOT process now. */
static void expect_no_io(struct t *t, unsigned qi, unsigned n)
{
	post(t, qi, n, 1);
	vt_ring_kick(&t->r[qi]);
	vio_vu_backend_queue_dispatch(&t->b, qi);
	vio_vu_backend_queue_poll(&t->b, qi);
	assert_false(reap_one(t, qi));
}

/* The base GET_VRING_BASE reports after n single-descriptor buffers from a
 * fresh ring, all used: split counts buffers; packed has the avail position
 * and wrap counter (bit 15) in the low half and the used ones in the high
 * half, QEMU's encoding. */
static uint32_t base_after(const struct t *t, uint32_t n)
{
	uint32_t pos;

	if (!packed(t))
		return n & 0xffff;
	pos = (n % QSIZE) | ((1u ^ ((n / QSIZE) & 1u)) << 15);
	return pos | pos << 16;
}

/* ======================================================================== */
/* Layout suite: happy path                                                 */
/* ======================================================================== */

static void test_io(void **state)
{
	struct t *t = *state;

	up(t);
	for (unsigned round = 0; round < 3; round++) {
		expect_io(t, 0, 5, 1);
		expect_io(t, 0, 4, 2);
	}
	assert_int_equal(t->e.chains[0], 27);
	assert_int_equal(t->b.queues[0].calls, 6);
}

static void test_io_both_queues(void **state)
{
	struct t *t = *state;

	up(t);
	expect_io(t, 1, 3, 1);
	expect_io(t, 0, 2, 2);
	expect_io(t, 1, QSIZE, 1);
	assert_int_equal(t->e.chains[0], 2);
	assert_int_equal(t->e.chains[1], 3 + QSIZE);
}

/* Many buffers, through index wrap-around of the ring. */
static void test_io_wraps(void **state)
{
	struct t *t = *state;

	up(t);
	for (unsigned round = 0; round < 3 * QSIZE / 7 + 2; round++)
		expect_io(t, 0, 7, 1 + round % 2);
	assert_true(t->posted[0] > 2 * QSIZE);
}

/* GET_VRING_BASE reports where the ring is and stops it; a restart at that
 * base carries on, including buffers posted while it was stopped. */
static void test_vring_base_stop_restart(void **state)
{
	struct t *t = *state;
	uint32_t base = 0;

	up(t);
	expect_io(t, 0, 7, 1);
	t->queues_changed = 0;
	assert_int_equal(vt_fe_get_vring_base(&t->fe, 0, &base), 0);
	assert_int_equal(base, base_after(t, 7));
	assert_false(t->e.q[0].live);
	assert_int_equal(vio_vu_backend_kick_fd(&t->b, 0), -1);
	assert_true(t->queues_changed > 0);
	/* Queue 1 is not affected. */
	assert_true(t->e.q[1].live);

	expect_no_io(t, 0, 2);
	start_at(t, 0, base);
	/* The two buffers posted while stopped were picked up at start. */
	assert_true(reap_one(t, 0));
	assert_true(reap_one(t, 0));
	expect_io(t, 0, 3, 1);
}

/* Bug check: a second GET_VRING_BASE must report the same position. */
static void test_vring_base_twice(void **state)
{
	struct t *t = *state;
	uint32_t b1 = 0, b2 = 0;

	up(t);
	expect_io(t, 0, 5, 1);
	assert_int_equal(vt_fe_get_vring_base(&t->fe, 0, &b1), 0);
	assert_int_equal(vt_fe_get_vring_base(&t->fe, 0, &b2), 0);
	assert_int_equal(b1, base_after(t, 5));
	assert_int_equal(b2, b1);
}

/* Bug check: before the ring ever ran, GET_VRING_BASE reports what
 * SET_VRING_BASE set (QEMU stops rings that never started, too). */
static void test_vring_base_before_start(void **state)
{
	struct t *t = *state;
	uint32_t base = 0;
	uint32_t want = packed(t) ? (0x8000u | 5) * 0x10001u : 5;

	negotiate(t, PF_ALL);
	map_memory(t);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_BASE, 0, want), 0);
	assert_int_equal(vt_fe_get_vring_base(&t->fe, 0, &base), 0);
	assert_int_equal(base, want);
}

/* Bug check: buffers kicked while a ring is disabled are handled when it is
 * enabled again (the kick was consumed while disabled). */
static void test_disable_enable(void **state)
{
	struct t *t = *state;

	up(t);
	expect_io(t, 0, 2, 1);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_ENABLE, 0, 0), 0);
	expect_no_io(t, 0, 3);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_ENABLE, 0, 1), 0);
	/* No further kick: the frontend already kicked once. */
	for (unsigned k = 0; k < 3; k++)
		assert_true(reap_one(t, 0));
}

/* SET_VRING_KICK with NOFD: no kick fd, the caller polls the queue. */
static void test_kick_nofd_polling(void **state)
{
	struct t *t = *state;

	negotiate(t, PF_ALL);
	map_memory(t);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_NUM, 0, QSIZE), 0);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_BASE, 0, fresh_base(t)), 0);
	assert_int_equal(set_addr(t, &t->r[0]), 0);
	assert_int_equal(vt_fe_vring_fd(&t->fe, VU_SET_VRING_CALL, 0, t->r[0].call_fd), 0);
	assert_int_equal(vt_fe_vring_fd(&t->fe, VU_SET_VRING_KICK, 0, -1), 0);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_ENABLE, 0, 1), 0);
	assert_true(t->e.q[0].live);
	assert_true(t->b.queues[0].polling);
	assert_int_equal(vio_vu_backend_kick_fd(&t->b, 0), -1);
	post(t, 0, 4, 1);
	vio_vu_backend_queue_poll(&t->b, 0);
	assert_true(vt_efd_take(t->r[0].call_fd) > 0);
	for (unsigned k = 0; k < 4; k++)
		assert_true(reap_one(t, 0));
}

struct poller {
	struct t *t;
	bool done;                      /* atomic: read while the thread runs */
};

static void *poll_thread(void *arg)
{
	struct poller *pl = arg;

	vio_vu_backend_queue_poll(&pl->t->b, 0);
	__atomic_store_n(&pl->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* vio_vu_backend_queue_lock keeps the device off the queue: a poll from
 * another thread waits until the owner unlocks. */
static void test_queue_lock(void **state)
{
	struct t *t = *state;
	struct poller pl = { t, false };
	pthread_t tid;
	uint64_t before;

	up(t);
	post(t, 0, 3, 1);
	before = t->e.chains[0];
	vio_vu_backend_queue_lock(&t->b, 0);
	assert_int_equal(pthread_create(&tid, NULL, poll_thread, &pl), 0);
	usleep(100 * 1000);
	assert_false(__atomic_load_n(&pl.done, __ATOMIC_ACQUIRE));
	assert_int_equal(t->e.chains[0], before);
	vio_vu_backend_queue_unlock(&t->b, 0);
	pthread_join(tid, NULL);
	assert_true(pl.done);
	assert_int_equal(t->e.chains[0], before + 3);
	for (unsigned k = 0; k < 3; k++)
		assert_true(reap_one(t, 0));
}

/* SET_VRING_BASE is optional: without it a ring starts fresh (for packed:
 * position 0 with the wrap counters set, not cleared). */
static void test_no_vring_base(void **state)
{
	struct t *t = *state;
	struct vt_ring *r = &t->r[0];

	negotiate(t, PF_ALL);
	map_memory(t);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_NUM, 0, QSIZE), 0);
	assert_int_equal(set_addr(t, r), 0);
	assert_int_equal(vt_fe_vring_fd(&t->fe, VU_SET_VRING_CALL, 0, r->call_fd), 0);
	assert_int_equal(vt_fe_vring_fd(&t->fe, VU_SET_VRING_KICK, 0, r->kick_fd), 0);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_ENABLE, 0, 1), 0);
	expect_io(t, 0, 3, 1);
	assert_int_equal(t->e.dev.status & VIO_STATUS_NEEDS_RESET, 0);
}

/* SET_VRING_CALL with NOFD: no interrupts, the used ring still fills. */
static void test_call_nofd(void **state)
{
	struct t *t = *state;

	up(t);
	assert_int_equal(vt_fe_vring_fd(&t->fe, VU_SET_VRING_CALL, 0, -1), 0);
	post(t, 0, 3, 1);
	vt_ring_kick(&t->r[0]);
	vio_vu_backend_queue_dispatch(&t->b, 0);
	assert_int_equal(vt_efd_take(t->r[0].call_fd), 0);
	for (unsigned k = 0; k < 3; k++)
		assert_true(reap_one(t, 0));
}

/* The in-band VRING_KICK message also kicks. */
static void test_inband_kick(void **state)
{
	struct t *t = *state;

	up(t);
	post(t, 0, 2, 1);
	assert_int_equal(vt_fe_state(&t->fe, VU_VRING_KICK, 0, 0), 0);
	assert_true(reap_one(t, 0));
	assert_true(reap_one(t, 0));
}

/* QEMU sends SET_MEM_TABLE again while rings run (memory hotplug): rings
 * keep running and keep listening to their kick fd. */
static void test_mem_table_while_running(void **state)
{
	struct t *t = *state;

	up(t);
	expect_io(t, 0, 2, 1);
	map_memory(t);
	assert_true(t->e.q[0].live);
	assert_int_equal(t->e.dev.status & VIO_STATUS_NEEDS_RESET, 0);
	assert_true(vio_vu_backend_kick_fd(&t->b, 0) >= 0);
	expect_io(t, 0, 3, 1);
	expect_io(t, 1, 1, 1);
}

static void bg_poll_for(struct bg *g)
{
	g->ret = vio_vu_backend_queue_poll_for(&g->t->b, 0, 1000000);
}

static void stop_waiting(struct t *t)
{
	__atomic_store_n(&t->e.wait[0], false, __ATOMIC_RELAXED);
}

/* Adaptive polling with buffers the device leaves on the ring: the window
 * ends 1 ms after the last buffer the device took, not never. */
static void test_poll_for_device_waits(void **state)
{
	struct t *t = *state;
	struct bg g;

	up(t);
	expect_io(t, 0, 2, 1);
	__atomic_store_n(&t->e.wait[0], true, __ATOMIC_RELAXED);
	post(t, 0, 3, 1);
	bg_start(&g, t, bg_poll_for);
	assert_true(bg_wait(&g, stop_waiting));
	assert_int_equal(g.ret, true);          /* the device ran (and took nothing) */
	assert_false(reap_one(t, 0));
	/* The buffers are still there for the device once it stops waiting. */
	stop_waiting(t);
	vio_vu_backend_queue_poll(&t->b, 0);
	for (unsigned k = 0; k < 3; k++)
		assert_true(reap_one(t, 0));
	/* Buffers the device takes are still served by polling. */
	post(t, 0, 2, 1);
	assert_true(vio_vu_backend_queue_poll_for(&t->b, 0, 1000000));
	assert_true(reap_one(t, 0));
	assert_true(reap_one(t, 0));
}

/* Feeding mode: after each round the echo device hands the driver side a
 * turn (reap, post one more), so there is always a buffer waiting: a
 * driver that keeps the queue busy, without timing or another thread. */
static void feed(struct t *t, unsigned qi)
{
	struct vt_ring *r = &t->r[qi];
	uint64_t out = vt_gmem_gpa(&t->g, t->data), in = out + BUF_SLOT;
	struct vio_sg o = { out, 16 }, i = { in, 16 };
	uint32_t len;
	void *tok;

	while (vio_drvq_get_buf(&r->q, &tok, &len) == 0)
		t->fed++;
	if (vio_drvq_add(&r->q, &o, 1, &i, 1, token(0)) == 0)
		vio_drvq_kick_prepare(&r->q);   /* counts; the device polls */
}

static void stop_feeding(struct t *t)
{
	__atomic_store_n(&t->e.feed, NULL, __ATOMIC_RELAXED);
}

/* However busy the driver keeps the queue, a poll_for call returns within
 * a bounded time, so its thread gets back to its other fds (a daemon's
 * stop request) rather than polling for as long as the driver likes. */
static void test_poll_for_busy_driver(void **state)
{
	struct t *t = *state;
	struct bg g;

	up(t);
	t->e.feed_opaque = t;
	__atomic_store_n(&t->e.feed, feed, __ATOMIC_RELAXED);
	post(t, 0, 1, 1);
	t->posted[0] = t->reaped[0] = 0;        /* feed() reaps it */
	bg_start(&g, t, bg_poll_for);
	assert_true(bg_wait(&g, stop_feeding));
	stop_feeding(t);
	assert_int_equal(g.ret, true);
	assert_true(t->fed > 0);
	assert_int_equal(t->e.dev.status & VIO_STATUS_NEEDS_RESET, 0);
}

static void bg_queue_dispatch(struct bg *g)
{
	vio_vu_backend_queue_dispatch(&g->t->b, 0);
}

static void kick_ring0(struct t *t)
{
	vt_efd_signal(t->r[0].kick_fd);
}

static void drain_call0(struct t *t)
{
	(void)vt_efd_take(t->r[0].call_fd);
}

/* Ring 0 gets a blocking eventfd of ours for its kick or call fd (what a
 * frontend may hand over), and everything starts. */
static void up_blocking_efd(struct t *t, int *which)
{
	close(*which);
	*which = eventfd(0, EFD_CLOEXEC);
	assert_true(*which >= 0);
	up(t);
	/* The backend made it non-blocking: the flag is shared with us. */
	assert_true(fcntl(*which, F_GETFL) & O_NONBLOCK);
}

/* The frontend may read its own kick fd between the kick the daemon's
 * poll saw and the daemon's read, and may clear O_NONBLOCK on it: the
 * queue's dispatch must not wait for another kick with its lock held. */
static void test_kick_fd_drained(void **state)
{
	struct t *t = *state;
	struct bg g;

	up_blocking_efd(t, &t->r[0].kick_fd);
	bg_start(&g, t, bg_queue_dispatch);
	assert_true(bg_wait(&g, kick_ring0));
	assert_int_equal(fcntl(t->r[0].kick_fd, F_SETFL, 0), 0);
	bg_start(&g, t, bg_queue_dispatch);
	assert_true(bg_wait(&g, kick_ring0));
	expect_io(t, 0, 3, 1);
}

/* A call eventfd the frontend filled to its maximum and never reads: the
 * interrupt must not wait for room, with the queue's lock held. */
static void test_call_fd_full(void **state)
{
	struct t *t = *state;
	uint64_t full = UINT64_C(0xfffffffffffffffe);
	struct bg g;

	up_blocking_efd(t, &t->r[0].call_fd);
	assert_int_equal(write(t->r[0].call_fd, &full, sizeof(full)), sizeof(full));
	post(t, 0, 2, 1);
	vt_ring_kick(&t->r[0]);
	bg_start(&g, t, bg_queue_dispatch);
	assert_true(bg_wait(&g, drain_call0));
	assert_true(reap_one(t, 0));
	assert_true(reap_one(t, 0));
	/* Still signalled, with the count it had. */
	assert_int_equal(vt_efd_take(t->r[0].call_fd), full);
	expect_io(t, 0, 1, 1);
}

/* -- a thread per queue -------------------------------------------------- */

struct qthread {
	struct vio_vu_backend *b;
	unsigned qi;
	int kick_fd, stop_fd;
	pthread_t th;
};

/* What a daemon's queue thread does: poll the kick fd, dispatch. */
static void *qthread_main(void *arg)
{
	struct qthread *q = arg;

	for (;;) {
		struct pollfd p[2] = { { q->kick_fd, POLLIN, 0 }, { q->stop_fd, POLLIN, 0 } };

		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents)
			break;
		if (p[0].revents & POLLIN)
			vio_vu_backend_queue_dispatch(q->b, q->qi);
	}
	return NULL;
}

/* Reaps until every posted buffer on qi is back, sleeping on the call fd
 * as a driver would: enable callbacks, recheck, wait. A lost interrupt
 * shows up as a timeout. */
static void wait_all(struct t *t, unsigned qi, uint64_t *irqs)
{
	while (t->reaped[qi] != t->posted[qi]) {
		if (reap_one(t, qi))
			continue;
		if (!vio_drvq_enable_cb(&t->r[qi].q))
			continue;
		assert_true(vt_readable(t->r[qi].call_fd, 5000));
		*irqs += vt_efd_take(t->r[qi].call_fd);
	}
}

static void test_io_threaded(void **state)
{
	struct t *t = *state;
	struct qthread q[NQ];
	uint64_t irqs[NQ] = { 0, 0 };
	const unsigned rounds = 300;
	uint8_t cfg[CFG_LEN];

	up(t);
	for (unsigned i = 0; i < NQ; i++) {
		q[i] = (struct qthread){ .b = &t->b, .qi = i, .stop_fd = vt_eventfd() };
		q[i].kick_fd = vio_vu_backend_kick_fd(&t->b, i);
		assert_true(q[i].stop_fd >= 0);
		assert_int_equal(pthread_create(&q[i].th, NULL, qthread_main, &q[i]), 0);
	}
	for (unsigned round = 0; round < rounds; round++) {
		for (unsigned i = 0; i < NQ; i++) {
			post(t, i, 1 + round % 9, 1 + round % 2);
			vt_ring_kick(&t->r[i]);
		}
		/* Control messages keep flowing while the queues run. */
		if (round % 10 == 0)
			assert_int_equal(vt_fe_get_config(&t->fe, 0, CFG_LEN, cfg), (int)CFG_LEN);
		if (round == rounds / 2) {
			int fd = vt_eventfd();

			/* Replace queue 1's call fd under its running thread. */
			assert_int_equal(vt_fe_vring_fd(&t->fe, VU_SET_VRING_CALL, 1, fd), 0);
			close(t->r[1].call_fd);
			t->r[1].call_fd = fd;
		}
		for (unsigned i = 0; i < NQ; i++)
			wait_all(t, i, &irqs[i]);
	}
	for (unsigned i = 0; i < NQ; i++) {
		vt_efd_signal(q[i].stop_fd);
		pthread_join(q[i].th, NULL);
		close(q[i].stop_fd);
		assert_int_equal(t->e.chains[i], t->posted[i]);
		/* The driver sleeps only when it must (a lost interrupt is a
		 * timeout in wait_all); interrupts were sent either way. */
		assert_true(t->b.queues[i].calls > 0);
		assert_true(irqs[i] + vt_efd_take(t->r[i].call_fd) > 0);
	}
	for (unsigned i = 0; i < NQ; i++) {
		uint32_t base = 0;

		assert_int_equal(vt_fe_get_vring_base(&t->fe, i, &base), 0);
		assert_int_equal(base, base_after(t, t->posted[i]));
	}
}

/* ======================================================================== */
/* Layout suite: a hostile driver                                           */
/* ======================================================================== */

/* The device went NEEDS_RESET: error fds of both rings signalled, the
 * frontend told on the backend channel, control messages still served. */
static void assert_needs_reset(struct t *t)
{
	struct vt_msg m;

	assert_true(t->e.dev.status & VIO_STATUS_NEEDS_RESET);
	for (unsigned i = 0; i < NQ; i++) {
		assert_false(t->e.q[i].live);
		assert_true(vt_efd_take(t->r[i].err_fd) > 0);
	}
	assert_int_equal(vt_recv_msg(t->bch, &m, 1000), 0);
	assert_int_equal(m.hdr.request, VU_BACKEND_CONFIG_CHANGE_MSG);
	assert_int_equal(m.hdr.flags & VU_VERSION_MASK, VU_VERSION);
	assert_int_equal(m.hdr.size, 0);
	assert_true(get_status(t) & VIO_STATUS_NEEDS_RESET);
	assert_serving(t);
}

/* After NEEDS_RESET the frontend resets the device and starts over. */
static void recover(struct t *t)
{
	assert_int_equal(vt_fe_set(&t->fe, VU_RESET_DEVICE, NULL, 0, NULL, 0), 0);
	assert_int_equal(get_status(t), 0);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_FEATURES, t->lay->features | BIT30), 0);
	for (unsigned i = 0; i < NQ; i++) {
		assert_int_equal(vt_ring_reinit(&t->r[i]), 0);
		t->posted[i] = t->reaped[i] = 0;
		start(t, i);
	}
	expect_io(t, 0, 3, 1);
	expect_io(t, 1, 3, 2);
}

/* A thread per queue, and queue 0 gets a chain outside guest memory: its
 * thread sets NEEDS_RESET and stops both queues while queue 1's thread
 * keeps running the device and the frontend asks for the status. Device
 * status and the live flags cross threads here (TSan checks the pairs). */
static void test_needs_reset_threaded(void **state)
{
	struct t *t = *state;
	struct vio_sg o = { GPA + MEM_SIZE + 0x1000, 64 }, i = { GPA, 64 };
	struct qthread q[NQ];
	uint64_t irqs = 0;
	unsigned n;

	up(t);
	for (unsigned k = 0; k < NQ; k++) {
		q[k] = (struct qthread){ .b = &t->b, .qi = k, .stop_fd = vt_eventfd() };
		q[k].kick_fd = vio_vu_backend_kick_fd(&t->b, k);
		assert_true(q[k].stop_fd >= 0);
		assert_int_equal(pthread_create(&q[k].th, NULL, qthread_main, &q[k]), 0);
	}
	for (unsigned round = 0; round < 20; round++) {
		post(t, 1, 1 + round % 4, 1);
		vt_ring_kick(&t->r[1]);
		assert_int_equal(get_status(t), STATUS_NEGOTIATED | VIO_STATUS_DRIVER_OK);
		wait_all(t, 1, &irqs);
	}
	assert_int_equal(vio_drvq_add(&t->r[0].q, &o, 1, &i, 1, token(999)), 0);
	vt_ring_kick(&t->r[0]);
	/* Queue 1 stays busy until the device stops it. */
	for (n = 0; !(get_status(t) & VIO_STATUS_NEEDS_RESET); n++) {
		assert_true(n < 100000);
		while (reap_one(t, 1))
			;
		if (t->posted[1] - t->reaped[1] < QSIZE / 2) {
			post(t, 1, 1, 1);
			vt_ring_kick(&t->r[1]);
		}
	}
	for (unsigned k = 0; k < NQ; k++) {
		vt_efd_signal(q[k].stop_fd);
		pthread_join(q[k].th, NULL);
		close(q[k].stop_fd);
	}
	assert_int_equal(t->e.last_err[0], -EFAULT);
	assert_true(get_status(t) & VIO_STATUS_NEEDS_RESET);
	for (unsigned k = 0; k < NQ; k++) {
		assert_false(t->e.q[k].live);
		assert_true(vt_efd_take(t->r[k].err_fd) > 0);
	}
	assert_serving(t);
	recover(t);
}

static void test_hostile_buffer_outside_memory(void **state)
{
	struct t *t = *state;
	struct vio_sg o = { GPA + MEM_SIZE + 0x1000, 64 }, i = { GPA, 64 };

	negotiate(t, PF_ALL);
	backend_channel(t);
	map_memory(t);
	start(t, 0);
	start(t, 1);
	expect_io(t, 0, 2, 1);
	assert_int_equal(vio_drvq_add(&t->r[0].q, &o, 1, &i, 1, token(999)), 0);
	vt_ring_kick(&t->r[0]);
	vio_vu_backend_queue_dispatch(&t->b, 0);
	assert_int_equal(t->e.last_err[0], -EFAULT);
	assert_needs_reset(t);
	/* Further kicks do nothing and break nothing. */
	vio_vu_backend_queue_dispatch(&t->b, 0);
	vio_vu_backend_queue_poll(&t->b, 1);
	recover(t);
}

/* ======================================================================== */
/* Control plane                                                            */
/* ======================================================================== */

static void test_handshake(void **state)
{
	struct t *t = *state;
	uint64_t f = 0, pf = 0, n = 0;

	assert_int_equal(vt_fe_get_u64(&t->fe, VU_GET_FEATURES, &f), 0);
	assert_int_equal(f, DEV_FEATURES | BIT30);
	/* Legal before SET_FEATURES. */
	assert_int_equal(vt_fe_get_u64(&t->fe, VU_GET_PROTOCOL_FEATURES, &pf), 0);
	assert_int_equal(pf, PF_OFFERED);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_PROTOCOL_FEATURES, PF_ALL), 0);
	assert_int_equal(t->b.protocol_features, PF_ALL);
	t->fe.protocol_features = PF_ALL;
	assert_int_equal(vt_fe_set(&t->fe, VU_SET_OWNER, NULL, 0, NULL, 0), 0);
	assert_true(t->b.owner);
	assert_int_equal(vt_fe_get_u64(&t->fe, VU_GET_QUEUE_NUM, &n), 0);
	assert_int_equal(n, NQ);
	assert_int_equal(get_status(t), 0);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_FEATURES, V1 | F_EVT | BIT30), 0);
	assert_int_equal(t->e.dev.features, V1 | F_EVT);
	assert_int_equal(get_status(t), STATUS_NEGOTIATED);
	/* QEMU repeats SET_FEATURES; the same value again is fine. */
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_FEATURES, V1 | F_EVT | BIT30), 0);
	/* And before the rings run it may change them. */
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_FEATURES, V1 | F_PACKED | BIT30), 0);
	assert_int_equal(t->e.dev.features, V1 | F_PACKED);
	assert_int_equal(get_status(t), STATUS_NEGOTIATED);
}

static void test_set_owner_twice(void **state)
{
	struct t *t = *state;

	negotiate(t, PF_ALL);
	assert_int_equal(vt_fe_set(&t->fe, VU_SET_OWNER, NULL, 0, NULL, 0), 1);
	assert_serving(t);
}

/* protocol_features_off in the backend config takes bits off the offer. */
static void test_protocol_features_off(void **state)
{
	struct t *t = *state;
	struct vio_vu_backend_config cfg = backend_config(t);
	uint64_t pf = 0;
	int sv[2];

	vio_vu_backend_fini(&t->b);
	cfg.protocol_features_off = PF(CONFIG) | PF(STATUS);
	assert_int_equal(vio_vu_backend_init(&t->b, &t->e.dev, &cfg), 0);
	close(t->fe.sock);
	assert_int_equal(vt_socketpair(sv), 0);
	assert_int_equal(vio_vu_backend_attach(&t->b, sv[1]), 0);
	vt_fe_init(&t->fe, sv[0], pump, t);
	assert_int_equal(vt_fe_get_u64(&t->fe, VU_GET_PROTOCOL_FEATURES, &pf), 0);
	assert_int_equal(pf, PF_OFFERED & ~(PF(CONFIG) | PF(STATUS)));
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_PROTOCOL_FEATURES, PF(REPLY_ACK)), 0);
	t->fe.protocol_features = PF(REPLY_ACK);
	pf = PF(REPLY_ACK) | PF(CONFIG);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_PROTOCOL_FEATURES, pf), 1);
	assert_int_equal(t->b.protocol_features, PF(REPLY_ACK));
	assert_serving(t);
}

/* Without PROTOCOL_FEATURES (an old frontend) rings start enabled at the
 * kick fd. */
static void test_no_protocol_features(void **state)
{
	struct t *t = *state;

	negotiate_features(t, t->lay->features, 0);
	assert_int_equal(t->b.protocol_features, 0);
	map_memory(t);
	assert_int_equal(vt_fe_start_ring(&t->fe, &t->r[0], fresh_base(t), false), 0);
	assert_true(t->e.q[0].live);
	expect_io(t, 0, 3, 2);
}

static void test_set_features_unchanged_while_running(void **state)
{
	struct t *t = *state;

	up(t);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_FEATURES, t->lay->features | BIT30), 0);
	assert_true(t->e.q[0].live);
	expect_io(t, 0, 2, 1);
}

static void test_get_set_config(void **state)
{
	struct t *t = *state;
	uint8_t cfg[CFG_LEN], v = 0x5c;
	vio_le32 magic;
	uint32_t gen = t->e.dev.config_generation;

	negotiate(t, PF_ALL);
	assert_int_equal(vt_fe_get_config(&t->fe, 0, CFG_LEN, cfg), (int)CFG_LEN);
	memcpy(&magic, cfg, sizeof(magic));
	assert_int_equal(vio_le32_to_cpu(magic), CFG_MAGIC);
	assert_int_equal(vt_fe_get_config(&t->fe, 2, 3, cfg), 3);
	assert_memory_equal(cfg, t->e.config + 2, 3);
	assert_int_equal(vt_fe_set_config(&t->fe, CFG_RW, 1, &v, 0), 0);
	assert_int_equal(t->e.config_writes, 1);
	assert_int_equal(t->e.write_off, CFG_RW);
	assert_int_equal(t->e.write_len, 1);
	assert_int_equal(vt_fe_get_config(&t->fe, CFG_RW, 1, cfg), 1);
	assert_int_equal(cfg[0], v);
	/* A write from the driver is no device-side change. */
	assert_int_equal(t->e.dev.config_generation, gen);
	/* The live-migration flag is legal too. */
	assert_int_equal(vt_fe_set_config(&t->fe, CFG_RW, 1, &v, 1), 0);
}

static void test_config_change_msg(void **state)
{
	struct t *t = *state;
	struct vt_msg m;

	negotiate(t, PF_ALL);
	backend_channel(t);
	map_memory(t);
	start(t, 0);
	t->e.config[CFG_RW] = 0x77;
	vio_dev_config_changed(&t->e.dev);
	assert_int_equal(vt_recv_msg(t->bch, &m, 1000), 0);
	assert_int_equal(m.hdr.request, VU_BACKEND_CONFIG_CHANGE_MSG);
	assert_int_equal(m.hdr.flags, VU_VERSION);
	assert_int_equal(m.hdr.size, 0);
	assert_int_equal(m.nfds, 0);
	assert_int_equal(t->e.dev.config_generation, 1);
	assert_serving(t);
}

static void assert_dropped(struct t *t);

static void bg_config_changes(struct bg *g)
{
	for (unsigned i = 0; i < 20000; i++)
		vio_dev_config_changed(&g->t->e.dev);
}

/* Our end of the backend channel closed: a send blocked on it returns. */
static void close_channel(struct t *t)
{
	close(t->bch);
	t->bch = -1;
}

/* Config changes the frontend never reads from the backend channel: once
 * the channel is full the backend drops the frontend (both its sockets
 * shut) instead of blocking in send, with the queue's lock held, for as
 * long as the frontend likes. */
static void test_backend_channel_never_read(void **state)
{
	struct t *t = *state;
	struct bg g;
	char c;

	up(t);
	backend_channel(t);
	bg_start(&g, t, bg_config_changes);
	assert_true(bg_wait(&g, close_channel));
	assert_true(log_says(t, "does not read the backend channel"));
	/* The frontend sees both sockets hang up ... */
	assert_true(vt_readable(t->bch, 1000));
	assert_int_equal(recv(t->bch, &c, 1, MSG_DONTWAIT), sizeof(c)); /* what was sent */
	assert_true(vt_readable(t->fe.sock, 1000));
	assert_int_equal(recv(t->fe.sock, &c, 1, MSG_DONTWAIT), 0);
	/* ... and the dispatch thread, woken by that, detaches. */
	pump(t);
	assert_dropped(t);
}

/* Without PF_CONFIG the frontend did not ask to hear about changes. */
static void test_config_change_needs_pf_config(void **state)
{
	struct t *t = *state;

	negotiate(t, PF_ALL & ~PF(CONFIG));
	backend_channel(t);
	map_memory(t);
	start(t, 0);
	vio_dev_config_changed(&t->e.dev);
	assert_false(vt_readable(t->bch, 100));
}

static void test_reset_device(void **state)
{
	struct t *t = *state;
	unsigned resets;

	up(t);
	expect_io(t, 0, 3, 1);
	resets = t->e.resets;
	assert_int_equal(vt_fe_set(&t->fe, VU_RESET_DEVICE, NULL, 0, NULL, 0), 0);
	assert_true(t->e.resets > resets);
	assert_int_equal(get_status(t), 0);
	for (unsigned i = 0; i < NQ; i++) {
		assert_false(t->e.q[i].live);
		assert_int_equal(vio_vu_backend_kick_fd(&t->b, i), -1);
	}
	/* The owner stays the owner; the frontend sets the device up again. */
	assert_true(t->b.owner);
	recover(t);
}

static void test_status(void **state)
{
	struct t *t = *state;

	/* No SET_FEATURES yet: status 0. */
	assert_int_equal(vt_fe_negotiate_protocol(&t->fe, PF_ALL, NULL), 0);
	assert_int_equal(get_status(t), 0);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_STATUS, VIO_STATUS_ACKNOWLEDGE), 0);
	assert_int_equal(get_status(t), VIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_STATUS,
				       VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER), 0);
	assert_int_equal(get_status(t), VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_FEATURES, t->lay->features | BIT30), 0);
	assert_int_equal(get_status(t), STATUS_NEGOTIATED);
	map_memory(t);
	start(t, 0);
	/* QEMU sets DRIVER_OK after starting the rings. */
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_STATUS,
				       STATUS_NEGOTIATED | VIO_STATUS_DRIVER_OK), 0);
	assert_int_equal(get_status(t), STATUS_NEGOTIATED | VIO_STATUS_DRIVER_OK);
	/* Status values are 8 bits. */
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_STATUS, 0x100 | VIO_STATUS_ACKNOWLEDGE), 1);
	assert_int_equal(get_status(t), STATUS_NEGOTIATED | VIO_STATUS_DRIVER_OK);
	/* FAILED stops the device. */
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_STATUS, STATUS_NEGOTIATED |
				       VIO_STATUS_DRIVER_OK | VIO_STATUS_FAILED), 0);
	assert_true(get_status(t) & VIO_STATUS_FAILED);
	assert_false(t->e.q[0].live);
	/* 0 resets it. */
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_STATUS, 0), 0);
	assert_int_equal(get_status(t), 0);
	assert_int_equal(vio_vu_backend_kick_fd(&t->b, 0), -1);
}

static void test_mem_slots(void **state)
{
	struct t *t = *state;
		uint64_t slots = 0;
	int maps = guest_maps();

	negotiate(t, PF_ALL);
	assert_int_equal(vt_fe_get_u64(&t->fe, VU_GET_MAX_MEM_SLOTS, &slots), 0);
	assert_int_equal(slots, VIO_VU_MAX_MEM_SLOTS);
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_ADD_MEM_REG, &t->g), 0);
	assert_int_equal(t->b.nmaps, 1);
	start(t, 0);
	expect_io(t, 0, 3, 1);
	/* A second region, disjoint in both address spaces. */
	second_region(t);
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_ADD_MEM_REG, &t->g2), 0);
	assert_int_equal(t->b.nmaps, 2);
	assert_int_equal(guest_maps(), maps + 1 + 2);
	/* The same region twice overlaps itself. */
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_ADD_MEM_REG, &t->g2), 1);
	assert_int_equal(t->b.nmaps, 2);
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_REM_MEM_REG, &t->g2), 0);
	assert_int_equal(t->b.nmaps, 1);
	assert_int_equal(guest_maps(), maps + 1 + 1);
	/* Gone now. */
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_REM_MEM_REG, &t->g2), 1);
	assert_serving(t);
	/* The ring's region was never touched: the rings run on. */
	expect_io(t, 0, 2, 2);
	assert_int_equal(t->e.dev.status & VIO_STATUS_NEEDS_RESET, 0);
}

/* Older frontends send REM_MEM_REG with an fd: accepted, fd closed. */
static void test_rem_mem_reg_with_fd(void **state)
{
	struct t *t = *state;
	struct vu_mem_single s = { 0, vt_gmem_region(&t->g) };
	int fds;

	negotiate(t, PF_ALL);
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_ADD_MEM_REG, &t->g), 0);
	fds = vt_count_fds();
	assert_int_equal(vt_fe_set(&t->fe, VU_REM_MEM_REG, &s, sizeof(s), &t->g.fd, 1), 0);
	assert_int_equal(t->b.nmaps, 0);
	assert_int_equal(vt_count_fds(), fds);
}

/* Taking away the memory a running ring lives in stops the device. */
static void test_rem_mem_reg_under_ring(void **state)
{
	struct t *t = *state;

	negotiate(t, PF_ALL);
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_ADD_MEM_REG, &t->g), 0);
	start(t, 0);
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_REM_MEM_REG, &t->g), 0);
	assert_false(t->e.q[0].live);
	assert_true(get_status(t) & VIO_STATUS_NEEDS_RESET);
	/* A kick now must not touch the unmapped memory. */
	vt_efd_signal(t->r[0].kick_fd);
	vio_vu_backend_queue_dispatch(&t->b, 0);
	assert_serving(t);
}

static void test_reset_owner(void **state)
{
	struct t *t = *state;

	up(t);
	assert_int_equal(vt_fe_set(&t->fe, VU_RESET_OWNER, NULL, 0, NULL, 0), 0);
	for (unsigned i = 0; i < NQ; i++) {
		assert_false(t->e.q[i].live);
		assert_int_equal(vio_vu_backend_kick_fd(&t->b, i), -1);
	}
	assert_serving(t);
}

/* The frontend goes away: everything is torn down, and a new frontend
 * starts from scratch. */
static void test_disconnect_reconnect(void **state)
{
	struct t *t = *state;
	int maps = guest_maps();
	unsigned resets;

	up(t);
	expect_io(t, 0, 3, 1);
	assert_int_equal(guest_maps(), maps + 1);
	resets = t->e.resets;
	close(t->fe.sock);
	t->fe.sock = -1;
	pump(t);
	assert_int_equal(t->last, -ECONNRESET);
	assert_int_equal(vio_vu_backend_fd(&t->b), -1);
	assert_int_equal(t->b.nmaps, 0);
	assert_int_equal(vio_mem_count(&t->b.mem), 0);
	assert_int_equal(guest_maps(), maps);
	assert_int_equal(t->e.dev.status, 0);
	assert_true(t->e.resets > resets);
	for (unsigned i = 0; i < NQ; i++) {
		assert_false(t->e.q[i].live);
		assert_int_equal(vio_vu_backend_kick_fd(&t->b, i), -1);
	}
	assert_false(t->b.owner);
	assert_int_equal(t->b.protocol_features, 0);
	/* Nothing attached: dispatch says so without blocking. */
	assert_int_equal(vio_vu_backend_dispatch(&t->b), -ECONNRESET);

	reconnect(t);
	up(t);
	expect_io(t, 0, 4, 2);
	expect_io(t, 1, 2, 1);
}

static void test_detach_attach(void **state)
{
	struct t *t = *state;
	int sv[2];

	up(t);
	assert_int_equal(vt_socketpair(sv), 0);
	/* One frontend at a time; a refused fd stays the caller's. */
	assert_int_equal(vio_vu_backend_attach(&t->b, sv[1]), -EBUSY);
	close(sv[0]);
	close(sv[1]);
	vio_vu_backend_detach(&t->b);
	assert_int_equal(t->b.nmaps, 0);
	assert_false(t->e.q[0].live);
	reconnect(t);
	up(t);
	expect_io(t, 0, 2, 1);
}

/* A frontend that sends requests and never reads the replies: once the
 * socket is full the backend gives it TIMEOUT_MS to make room, then drops
 * it, instead of blocking in send for as long as the frontend likes. */
static void test_replies_never_read(void **state)
{
	struct t *t = *state;
	struct vu_header h = { VU_GET_FEATURES, VU_VERSION, 0 };
	struct bg g;
	unsigned sent = 0;

	negotiate(t, PF_ALL);
	bg_start(&g, t, bg_dispatch_all);
	/* Our own sends must not block either: the backend stops reading
	 * while it waits for room for its replies. */
	for (unsigned ms = 0; ms < STUCK_MS && !bg_done(&g);) {
		ssize_t n = send(t->fe.sock, &h, sizeof(h), MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n == (ssize_t)sizeof(h)) {
			sent++;
			continue;
		}
		assert_true(n < 0);
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			break;          /* the backend closed its end */
		usleep(1000);
		ms++;
	}
	assert_true(bg_wait(&g, close_frontend));
	assert_int_equal(g.ret, -ECONNRESET);
	assert_int_equal(vio_vu_backend_fd(&t->b), -1);
	assert_true(log_says(t, "does not read its replies"));
	/* More than a socket's worth of replies was asked for. */
	assert_true(sent > 100);
	reconnect(t);
	negotiate(t, PF_ALL);
	assert_serving(t);
}

/* ======================================================================== */
/* Malformed messages                                                       */
/* ======================================================================== */

/* Is m a refusal of `req`: a non-zero ack, or for GET_CONFIG an empty
 * config payload? */
static bool is_refusal(const struct vt_msg *m, uint32_t req)
{
	if (m->hdr.size == sizeof(uint64_t))
		return m->p.u64 != 0;
	return req == VU_GET_CONFIG && m->hdr.size == VU_CONFIG_HDR && m->p.config.size == 0;
}

/*
 * Sends a message the backend must refuse, with NEED_REPLY, and checks the
 * refusal: a reply saying so, a log line, every fd it was given closed, and
 * a valid message afterwards still answered.
 */
static void send_refused(struct t *t, uint32_t req, uint32_t flags, const void *p, uint32_t size,
			 const int *fds, unsigned nfds)
{
	int nfd = vt_count_fds();
	unsigned nlog = t->nlog;
	struct vt_msg m;

	flags |= VU_FLAG_NEED_REPLY;
	assert_int_equal(vt_fe_msg(&t->fe, req, flags, p, size, fds, nfds, &m), 0);
	assert_int_equal(t->last, 0);
	assert_true(is_refusal(&m, req));
	assert_true(t->nlog > nlog);
	assert_int_equal(vt_count_fds(), nfd);
	assert_serving(t);
}

/* A broken stream: the backend drops the connection and resets. */
static void assert_dropped(struct t *t)
{
	assert_int_equal(t->last, -ECONNRESET);
	assert_int_equal(vio_vu_backend_fd(&t->b), -1);
	assert_int_equal(t->b.nmaps, 0);
	assert_int_equal(t->e.dev.status, 0);
	for (unsigned i = 0; i < NQ; i++)
		assert_false(t->e.q[i].live);
	/* And the next frontend is served. */
	reconnect(t);
	negotiate(t, PF_ALL);
	assert_serving(t);
}

/* -- payload size wrong for the request ----------------------------------- */

struct size_row {
	const char *name;
	uint32_t req;
	uint32_t size;
	bool fd;                /* attach one fd */
};

static const struct size_row size_rows[] = {
	{ "GET_FEATURES with 8 bytes", VU_GET_FEATURES, 8, false },
	{ "SET_FEATURES with 4 bytes", VU_SET_FEATURES, 4, false },
	{ "SET_FEATURES with 12 bytes", VU_SET_FEATURES, 12, false },
	{ "SET_OWNER with 8 bytes", VU_SET_OWNER, 8, false },
	{ "SET_PROTOCOL_FEATURES with 0 bytes", VU_SET_PROTOCOL_FEATURES, 0, false },
	{ "GET_PROTOCOL_FEATURES with 8 bytes", VU_GET_PROTOCOL_FEATURES, 8, false },
	{ "SET_VRING_NUM with 4 bytes", VU_SET_VRING_NUM, 4, false },
	{ "SET_VRING_NUM with 12 bytes", VU_SET_VRING_NUM, 12, false },
	{ "SET_VRING_BASE with 16 bytes", VU_SET_VRING_BASE, 16, false },
	{ "GET_VRING_BASE with 4 bytes", VU_GET_VRING_BASE, 4, false },
	{ "SET_VRING_ENABLE with 0 bytes", VU_SET_VRING_ENABLE, 0, false },
	{ "SET_VRING_ADDR with 32 bytes", VU_SET_VRING_ADDR, 32, false },
	{ "SET_VRING_ADDR with 48 bytes", VU_SET_VRING_ADDR, 48, false },
	{ "SET_VRING_KICK with 4 bytes", VU_SET_VRING_KICK, 4, true },
	{ "SET_VRING_CALL with 16 bytes", VU_SET_VRING_CALL, 16, true },
	{ "SET_MEM_TABLE with 4 bytes", VU_SET_MEM_TABLE, 4, false },
	{ "ADD_MEM_REG with 32 bytes", VU_ADD_MEM_REG, 32, true },
	{ "REM_MEM_REG with 48 bytes", VU_REM_MEM_REG, 48, false },
	{ "SET_BACKEND_REQ_FD with 8 bytes", VU_SET_BACKEND_REQ_FD, 8, true },
	{ "RESET_DEVICE with 8 bytes", VU_RESET_DEVICE, 8, false },
	{ "GET_MAX_MEM_SLOTS with 8 bytes", VU_GET_MAX_MEM_SLOTS, 8, false },
	{ "SET_STATUS with 4 bytes", VU_SET_STATUS, 4, false },
	{ "GET_STATUS with 8 bytes", VU_GET_STATUS, 8, false },
	{ "GET_QUEUE_NUM with 8 bytes", VU_GET_QUEUE_NUM, 8, false },
	{ "GET_CONFIG shorter than its header", VU_GET_CONFIG, 8, false },
	{ "SET_CONFIG shorter than its header", VU_SET_CONFIG, 8, false },
};

/* What a refused message must not have changed. */
struct snap {
	uint64_t features, pf;
	uint8_t status;
	bool owner, addr_set, started;
	unsigned nmaps, num;
	uint16_t base;
	int call_fd;
};

static struct snap snap(const struct t *t)
{
	const struct vio_vu_queue *q = &t->b.queues[0];

	return (struct snap){ t->e.dev.features, t->b.protocol_features, t->e.dev.status,
			      t->b.owner, q->addr_set, q->started, t->b.nmaps, q->num, q->base,
			      q->call_fd };
}

static void assert_snap_equal(const struct snap *a, const struct snap *b)
{
	assert_int_equal(a->features, b->features);
	assert_int_equal(a->pf, b->pf);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->owner, b->owner);
	assert_int_equal(a->addr_set, b->addr_set);
	assert_int_equal(a->started, b->started);
	assert_int_equal(a->nmaps, b->nmaps);
	assert_int_equal(a->num, b->num);
	assert_int_equal(a->base, b->base);
	assert_int_equal(a->call_fd, b->call_fd);
}

/* A payload that would be accepted (and change something) if only its size
 * were right, so the size check alone must refuse it. */
static void valid_payload(struct t *t, uint32_t req, union vu_payload *p)
{
	memset(p, 0, sizeof(*p));
	switch (req) {
	case VU_SET_FEATURES:
		p->u64 = (t->lay->features ^ F_EVT) | BIT30;
		break;
	case VU_SET_VRING_NUM: case VU_SET_VRING_BASE: case VU_SET_VRING_ENABLE:
		p->state = (struct vu_vring_state){ 0, QSIZE };
		break;
	case VU_SET_VRING_ADDR:
		p->addr = t->r[0].addr;
		break;
	case VU_ADD_MEM_REG:
		p->mem_reg.region = vt_gmem_region(&t->g2);
		break;
	case VU_REM_MEM_REG:
		p->mem_reg.region = vt_gmem_region(&t->g);
		break;
	case VU_SET_STATUS:
		p->u64 = VIO_STATUS_FAILED;
		break;
	case VU_GET_CONFIG: case VU_SET_CONFIG:
		p->config.size = 1;
		break;
	default:
		break;
	}
}

static void test_size_row(void **state)
{
	struct t *t = *state;
	const struct size_row *row = t->row;
	union vu_payload p;
	struct snap before, after;
	uint64_t pf = 0;
	int fd = -1;

	/* Protocol features, but no SET_OWNER yet: a SET_OWNER would work. */
	assert_int_equal(vt_fe_get_u64(&t->fe, VU_GET_PROTOCOL_FEATURES, &pf), 0);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_PROTOCOL_FEATURES, PF_ALL), 0);
	t->fe.protocol_features = PF_ALL;
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_FEATURES, t->lay->features | BIT30), 0);
	map_memory(t);
	second_region(t);
	valid_payload(t, row->req, &p);
	if (row->fd)
		fd = row->req == VU_ADD_MEM_REG ? t->g2.fd : vt_eventfd();
	before = snap(t);
	send_refused(t, row->req, 0, &p, row->size, &fd, row->fd ? 1 : 0);
	if (fd >= 0 && fd != t->g2.fd)
		close(fd);
	/* Nothing of it took effect. */
	after = snap(t);
	assert_snap_equal(&before, &after);
}

/* -- a size the backend cannot even buffer -------------------------------- */

struct oversize_row {
	const char *name;
	uint32_t size;
};

static const struct oversize_row oversize_rows[] = {
	{ "size one past the payload union", sizeof(union vu_payload) + 1 },
	{ "size 4096", 4096 },
	{ "size 0xffffffff", 0xffffffffu },
};

static void test_oversize_row(void **state)
{
	struct t *t = *state;
	const struct oversize_row *row = t->row;
	uint8_t buf[sizeof(struct vu_header) + 300];
	struct vu_header h = { VU_SET_CONFIG, VU_VERSION, row->size };

	up(t);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, &h, sizeof(h));
	assert_int_equal(vt_send_raw(t->fe.sock, buf, sizeof(buf), NULL, 0), 0);
	pump(t);
	assert_dropped(t);
}

/* -- header fields --------------------------------------------------------- */

struct flags_row {
	const char *name;
	uint32_t flags;
};

/* The version is how the backend knows it is in sync at all: a wrong one
 * drops the connection. */
static const struct flags_row version_rows[] = {
	{ "version 0", 0 },
	{ "version 2", 2 },
	{ "version 3", 3 },
	{ "version 0 with NEED_REPLY", VU_FLAG_NEED_REPLY },
};

static void test_version_row(void **state)
{
	struct t *t = *state;
	const struct flags_row *row = t->row;

	negotiate(t, PF_ALL);
	assert_int_equal(vt_send_msg(t->fe.sock, VU_GET_FEATURES, row->flags, NULL, 0, NULL, 0), 0);
	pump(t);
	assert_dropped(t);
}

/* Bits a frontend must not set: refused, the stream stays in sync. */
static const struct flags_row flag_rows[] = {
	{ "REPLY flag from the frontend", VU_FLAG_REPLY },
	{ "flag bit 4", 1u << 4 },
	{ "flag bit 31", 1u << 31 },
};

static void test_flags_row(void **state)
{
	struct t *t = *state;
	const struct flags_row *row = t->row;
	struct vu_vring_state s = { 0, QSIZE };

	negotiate(t, PF_ALL);
	send_refused(t, VU_SET_VRING_NUM, row->flags, &s, sizeof(s), NULL, 0);
	assert_int_equal(t->b.queues[0].num, 0);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_NUM, 0, QSIZE), 0);
	assert_int_equal(t->b.queues[0].num, QSIZE);
}

/* -- requests the backend does not implement ------------------------------- */

struct unknown_row {
	const char *name;
	uint32_t req;
	uint32_t size;
	bool fd;
};

static const struct unknown_row unknown_rows[] = {
	{ "request 0", 0, 0, false },
	{ "request 26 (CREATE_CRYPTO_SESSION)", 26, 64, false },
	{ "request 41 (one past the last known)", 41, 8, false },
	{ "request 1000", 1000, 8, false },
	{ "request 0xffffffff", 0xffffffffu, 16, false },
	{ "SET_LOG_BASE with an fd", VU_SET_LOG_BASE, 8, true },
	{ "SET_LOG_FD", VU_SET_LOG_FD, 0, true },
	{ "SEND_RARP", VU_SEND_RARP, 8, false },
	{ "IOTLB_MSG", VU_IOTLB_MSG, 40, false },
	{ "SET_VRING_ENDIAN", VU_SET_VRING_ENDIAN, 8, false },
	{ "POSTCOPY_ADVISE", 28, 0, false },
};

static void test_unknown_row(void **state)
{
	struct t *t = *state;
	const struct unknown_row *row = t->row;
	uint8_t payload[64];
	int fd = -1;

	negotiate(t, PF_ALL);
	memset(payload, 0, sizeof(payload));
	if (row->fd) {
		fd = vt_eventfd();
		assert_true(fd >= 0);
	}
	send_refused(t, row->req, 0, payload, row->size, &fd, row->fd ? 1 : 0);
	if (fd >= 0)
		close(fd);
}

/* -- file descriptors -------------------------------------------------------- */

/* How many fds to send along with a message. */
static void send_with_fds(struct t *t, uint32_t req, const void *p, uint32_t size, unsigned nfds)
{
	int fds[16];

	assert_true(nfds <= ARRAY_LEN(fds));
	for (unsigned i = 0; i < nfds; i++) {
		fds[i] = vt_eventfd();
		assert_true(fds[i] >= 0);
	}
	send_refused(t, req, 0, p, size, fds, nfds);
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
}

static void test_kick_without_fd(void **state)
{
	struct t *t = *state;
	uint64_t v = 0;

	negotiate(t, PF_ALL);
	send_with_fds(t, VU_SET_VRING_KICK, &v, sizeof(v), 0);
	assert_false(t->b.queues[0].started);
}

static void test_call_nofd_with_fd(void **state)
{
	struct t *t = *state;
	uint64_t v = VU_VRING_NOFD;

	negotiate(t, PF_ALL);
	send_with_fds(t, VU_SET_VRING_CALL, &v, sizeof(v), 1);
}

static void test_get_features_with_fds(void **state)
{
	struct t *t = *state;

	negotiate(t, PF_ALL);
	send_with_fds(t, VU_GET_FEATURES, NULL, 0, 2);
}

/* More fds than any message may carry: the kernel truncates, the backend
 * must neither overflow nor leak. */
static void test_too_many_fds(void **state)
{
	struct t *t = *state;

	negotiate(t, PF_ALL);
	send_with_fds(t, VU_GET_FEATURES, NULL, 0, 12);
}

static void test_add_mem_reg_without_fd(void **state)
{
	struct t *t = *state;
	struct vu_mem_single s = { 0, vt_gmem_region(&t->g) };

	negotiate(t, PF_ALL);
	send_with_fds(t, VU_ADD_MEM_REG, &s, sizeof(s), 0);
	assert_int_equal(t->b.nmaps, 0);
}

static void test_backend_req_fd_without_fd(void **state)
{
	struct t *t = *state;

	negotiate(t, PF_ALL);
	send_with_fds(t, VU_SET_BACKEND_REQ_FD, NULL, 0, 0);
}

static void test_mem_table_fd_count(void **state)
{
	struct t *t = *state;
	struct vu_mem_table tb;

	negotiate(t, PF_ALL);
	memset(&tb, 0, sizeof(tb));
	tb.nregions = 1;
	tb.regions[0] = vt_gmem_region(&t->g);
	send_with_fds(t, VU_SET_MEM_TABLE, &tb, 8 + sizeof(tb.regions[0]), 2);
	send_with_fds(t, VU_SET_MEM_TABLE, &tb, 8 + sizeof(tb.regions[0]), 0);
	assert_int_equal(t->b.nmaps, 0);
}

/* -- queue index out of range ------------------------------------------------ */

enum qkind { Q_STATE, Q_ADDR, Q_FD };

struct queue_row {
	const char *name;
	uint32_t req;
	enum qkind kind;
};

static const struct queue_row queue_rows[] = {
	{ "SET_VRING_NUM", VU_SET_VRING_NUM, Q_STATE },
	{ "SET_VRING_BASE", VU_SET_VRING_BASE, Q_STATE },
	{ "GET_VRING_BASE", VU_GET_VRING_BASE, Q_STATE },
	{ "SET_VRING_ENABLE", VU_SET_VRING_ENABLE, Q_STATE },
	{ "VRING_KICK", VU_VRING_KICK, Q_STATE },
	{ "SET_VRING_ADDR", VU_SET_VRING_ADDR, Q_ADDR },
	{ "SET_VRING_KICK", VU_SET_VRING_KICK, Q_FD },
	{ "SET_VRING_CALL", VU_SET_VRING_CALL, Q_FD },
	{ "SET_VRING_ERR", VU_SET_VRING_ERR, Q_FD },
};

static void test_queue_row(void **state)
{
	struct t *t = *state;
	const struct queue_row *row = t->row;
	/* NQ is one past the device's queues; 63 and 64 are inside and just
	 * outside the backend's own array. */
	static const uint32_t bad[] = { NQ, VIO_VU_MAX_QUEUES - 1, VIO_VU_MAX_QUEUES, 255,
					0x100 | 0, 0xffffffffu };

	negotiate(t, PF_ALL);
	map_memory(t);
	for (unsigned k = 0; k < ARRAY_LEN(bad); k++) {
		if (row->kind == Q_STATE) {
			struct vu_vring_state s = { bad[k], 1 };

			send_refused(t, row->req, 0, &s, sizeof(s), NULL, 0);
		} else if (row->kind == Q_ADDR) {
			struct vu_vring_addr a = t->r[0].addr;

			a.index = bad[k];
			send_refused(t, row->req, 0, &a, sizeof(a), NULL, 0);
		} else if (bad[k] < 0x100) {
			uint64_t v = bad[k];

			/* The index is bits 0..7 here; 0x100 and up are flags. */
			send_with_fds(t, row->req, &v, sizeof(v), 1);
		}
	}
	/* Queue 0 itself is fine. */
	start(t, 0);
}

/* -- SET_MEM_TABLE ------------------------------------------------------------ */

/* Sends a table that must be refused and checks nothing stays mapped. */
static void mem_table_refused(struct t *t, const struct vu_mem_table *tb, uint32_t size,
			      const int *fds, unsigned nfds)
{
	int maps = guest_maps();

	send_refused(t, VU_SET_MEM_TABLE, 0, tb, size, fds, nfds);
	assert_int_equal(t->b.nmaps, 0);
	assert_int_equal(vio_mem_count(&t->b.mem), 0);
	assert_int_equal(guest_maps(), maps);
}

/* A one-region table over t->g, with `fix` applied to the region. */
static void one_region_refused(struct t *t, void (*fix)(struct vu_mem_region *r))
{
	struct vu_mem_table tb;

	negotiate(t, PF_ALL);
	memset(&tb, 0, sizeof(tb));
	tb.nregions = 1;
	tb.regions[0] = vt_gmem_region(&t->g);
	fix(&tb.regions[0]);
	mem_table_refused(t, &tb, 8 + sizeof(tb.regions[0]), &t->g.fd, 1);
	/* A good table still goes in afterwards. */
	map_memory(t);
}

static void fix_size0(struct vu_mem_region *r)
{
	r->size = 0;
}

static void fix_guest_overflow(struct vu_mem_region *r)
{
	r->guest_addr = UINT64_MAX - 0xfff;
}

static void fix_user_overflow(struct vu_mem_region *r)
{
	r->user_addr = UINT64_MAX - 0xfff;
}

static void fix_offset_overflow(struct vu_mem_region *r)
{
	r->mmap_offset = UINT64_MAX - 0xfff;
}

static void fix_offset_huge(struct vu_mem_region *r)
{
	r->mmap_offset = UINT64_C(1) << 62;
}

static void test_mem_region_size0(void **state)
{
	one_region_refused(*state, fix_size0);
}

static void test_mem_region_guest_overflow(void **state)
{
	one_region_refused(*state, fix_guest_overflow);
}

static void test_mem_region_user_overflow(void **state)
{
	one_region_refused(*state, fix_user_overflow);
}

static void test_mem_region_offset_overflow(void **state)
{
	one_region_refused(*state, fix_offset_overflow);
}

static void test_mem_region_offset_huge(void **state)
{
	one_region_refused(*state, fix_offset_huge);
}

static void test_mem_table_zero_regions(void **state)
{
	struct t *t = *state;
	struct vu_mem_table tb;

	negotiate(t, PF_ALL);
	memset(&tb, 0, sizeof(tb));
	mem_table_refused(t, &tb, 8, NULL, 0);
}

/* Nine regions claimed in a message with room for eight. */
static void test_mem_table_nine_regions(void **state)
{
	struct t *t = *state;
	struct vu_mem_table tb;

	negotiate(t, PF_ALL);
	memset(&tb, 0, sizeof(tb));
	tb.nregions = VU_MEM_TABLE_MAX + 1;
	mem_table_refused(t, &tb, sizeof(tb), NULL, 0);
}

/* nregions says 1, the payload holds two. */
static void test_mem_table_count_mismatch(void **state)
{
	struct t *t = *state;
	struct vu_mem_table tb;

	negotiate(t, PF_ALL);
	memset(&tb, 0, sizeof(tb));
	tb.nregions = 1;
	tb.regions[0] = vt_gmem_region(&t->g);
	mem_table_refused(t, &tb, 8 + 2 * sizeof(tb.regions[0]), &t->g.fd, 1);
}

/* Two regions over two memfds; `second` is adjusted from a disjoint one. */
static void two_regions_refused(struct t *t, void (*fix)(const struct vu_mem_region *a,
							 struct vu_mem_region *b))
{
	struct vu_mem_table tb;
	int fds[2];

	negotiate(t, PF_ALL);
	second_region(t);
	memset(&tb, 0, sizeof(tb));
	tb.nregions = 2;
	tb.regions[0] = vt_gmem_region(&t->g);
	tb.regions[1] = vt_gmem_region(&t->g2);
	fix(&tb.regions[0], &tb.regions[1]);
	fds[0] = t->g.fd;
	fds[1] = t->g2.fd;
	mem_table_refused(t, &tb, 8 + 2 * sizeof(tb.regions[0]), fds, 2);
}

static void fix_guest_overlap(const struct vu_mem_region *a, struct vu_mem_region *b)
{
	b->guest_addr = a->guest_addr + a->size - 0x1000;
}

static void fix_user_overlap(const struct vu_mem_region *a, struct vu_mem_region *b)
{
	b->user_addr = a->user_addr + 0x1000;
}

static void fix_second_bad(const struct vu_mem_region *a, struct vu_mem_region *b)
{
	b->size = 0;
}

static void test_mem_table_guest_overlap(void **state)
{
	two_regions_refused(*state, fix_guest_overlap);
}

static void test_mem_table_user_overlap(void **state)
{
	two_regions_refused(*state, fix_user_overlap);
}

/* The first region was fine and got mapped: it must not stay mapped. */
static void test_mem_table_second_bad(void **state)
{
	two_regions_refused(*state, fix_second_bad);
}

/* An fd that cannot be mapped. */
static void test_mem_table_unmappable_fd(void **state)
{
	struct t *t = *state;
	struct vu_mem_table tb;
	int fd = vt_eventfd();

	negotiate(t, PF_ALL);
	memset(&tb, 0, sizeof(tb));
	tb.nregions = 1;
	tb.regions[0] = vt_gmem_region(&t->g);
	mem_table_refused(t, &tb, 8 + sizeof(tb.regions[0]), &fd, 1);
	close(fd);
}

/*
 * A region that runs past the end of its file: mmap() succeeds, but a
 * touch beyond the file's end is SIGBUS. Run in a child so a crash is a
 * failed test, not a dead suite. The backend may refuse the table (best:
 * fstat the fd) or refuse what lies beyond the file, but must not die.
 * Child exit codes: 0 survived, 2 a setup step failed.
 */
enum beyond { BEYOND_BUFFER, BEYOND_RING };

static int beyond_child(struct t *t, enum beyond what)
{
	const size_t file_len = 0x10000;        /* the region claims MEM_SIZE */
	struct vt_gmem g;
	const struct vt_gmem *gp = &g;
	struct vt_ring *r = &t->r[0];
	int e;

	if (vt_fe_handshake(&t->fe, t->lay->features | BIT30, PF_ALL, NULL))
		return 2;
	if (vt_gmem_init(&g, MEM_SIZE, 0, GPA, UVA, file_len))
		return 2;
	e = vt_fe_mem_table(&t->fe, &gp, 1);
	if (e == 1)
		return 0;               /* refused up front: fine */
	if (e)
		return 2;
	/* The ring itself lies inside the file (the allocator stays there). */
	vt_ring_fini(r);
	if (vt_ring_init(r, &g, 0, QSIZE, t->lay->features, 0))
		return 2;
	if (what == BEYOND_RING) {
		/* Split reads the used index at start; both read descriptors at
		 * the first pop. */
		r->addr.desc = UVA + file_len + 0x1000;
		r->addr.used = UVA + file_len + 0x4000;
	}
	e = vt_fe_start_ring(&t->fe, r, fresh_base(t), true);
	if (e < 0 || (e && what == BEYOND_BUFFER))
		return 2;
	if (e == 0) {
		struct vio_sg o = { GPA + 0x8000, 64 }, i = { GPA + 0x9000, 64 };

		if (what == BEYOND_BUFFER) {
			o.addr = GPA + file_len + 0x2000;
			i.addr = GPA + file_len + 0x3000;
		}
		if (vio_drvq_add(&r->q, &o, 1, &i, 1, token(0)))
			return 2;
		vt_ring_kick(r);
		vio_vu_backend_queue_dispatch(&t->b, 0);
	}
	/* Still alive: and still serving? */
	return t->b.sock >= 0 ? 0 : 3;
}

static void run_beyond(struct t *t, enum beyond what)
{
	pid_t pid;
	int status = 0;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* cmocka catches SIGBUS/SIGSEGV and longjmps: here a fault must
		 * end the child so the parent sees it. */
		signal(SIGBUS, SIG_DFL);
		signal(SIGSEGV, SIG_DFL);
		_exit(beyond_child(t, what));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("the backend died of signal %d touching memory past the end of a "
			 "region's file", WTERMSIG(status));
	if (WEXITSTATUS(status) != 0)
		fail_msg("the child exited with %d (1: sanitizer report, e.g. SIGBUS; 2: setup; "
			 "3: backend dropped the connection)", WEXITSTATUS(status));
}

static void test_mem_region_beyond_file_buffer(void **state)
{
	run_beyond(*state, BEYOND_BUFFER);
}

static void test_mem_region_beyond_file_ring(void **state)
{
	run_beyond(*state, BEYOND_RING);
}

/* -- ring setup ----------------------------------------------------------------- */

struct ring_addr_row {
	const char *name;
	uint64_t desc, avail, used;     /* added to ring 0's user addresses */
	bool use_gpa;                   /* send guest addresses instead of user ones */
	const char *log;                /* what the log line says */
};

static const struct ring_addr_row ring_addr_rows[] = {
	{ "descriptors outside the memory table", MEM_SIZE, 0, 0, false, "outside" },
	{ "avail ring outside the memory table", 0, MEM_SIZE, 0, false, "outside" },
	{ "used ring outside the memory table", 0, 0, MEM_SIZE, false, "outside" },
	{ "used ring at the top of the address space", 0, 0, UINT64_MAX, false, "outside" },
	{ "guest addresses where user addresses belong", 0, 0, 0, true, "outside" },
	{ "descriptors misaligned", 8, 0, 0, false, "" },
	{ "avail ring misaligned", 0, 1, 0, false, "" },
	{ "used ring misaligned", 0, 0, 2, false, "" },
};

/* A refused ring start: logged, the ring does not run, the backend serves,
 * and with good addresses the ring then starts. */
static void test_ring_addr_row(void **state)
{
	struct t *t = *state;
	const struct ring_addr_row *row = t->row;
	struct vt_ring *r = &t->r[0];
	struct vu_vring_addr good = r->addr;
	unsigned nlog;

	negotiate(t, PF_ALL);
	map_memory(t);
	if (row->use_gpa) {
		r->addr.desc = r->gpa.desc;
		r->addr.avail = r->gpa.driver;
		r->addr.used = r->gpa.device;
	}
	r->addr.desc += row->desc;
	r->addr.avail += row->avail;
	/* UINT64_MAX: an aligned address whose ring would wrap past 2^64. */
	r->addr.used = row->used == UINT64_MAX ? UINT64_MAX - 0xf : r->addr.used + row->used;
	nlog = t->nlog;
	assert_int_equal(vt_fe_start_ring(&t->fe, r, fresh_base(t), true), 1);
	assert_true(t->nlog > nlog);
	assert_true(log_says(t, row->log));
	assert_false(t->e.q[0].live);
	assert_serving(t);
	if (t->e.dev.status & VIO_STATUS_NEEDS_RESET)
		return;         /* the device model gave up on it; a reset recovers */
	r->addr = good;
	start(t, 0);
	expect_io(t, 0, 2, 1);
}

static void test_vring_num_zero(void **state)
{
	struct t *t = *state;
	struct vu_vring_state s = { 0, 0 };

	negotiate(t, PF_ALL);
	send_refused(t, VU_SET_VRING_NUM, 0, &s, sizeof(s), NULL, 0);
}

static void test_vring_num_above_max(void **state)
{
	struct t *t = *state;
	struct vu_vring_state s = { 0, QMAX * 2 };

	negotiate(t, PF_ALL);
	send_refused(t, VU_SET_VRING_NUM, 0, &s, sizeof(s), NULL, 0);
	s.num = 0xffffffffu;
	send_refused(t, VU_SET_VRING_NUM, 0, &s, sizeof(s), NULL, 0);
}

/* Changing a running ring's size, addresses or base is refused; it runs on. */
static void test_running_ring_setup(void **state)
{
	struct t *t = *state;
	struct vu_vring_state s = { 0, QSIZE / 2 };
	struct vu_vring_addr a = t->r[0].addr;

	up(t);
	send_refused(t, VU_SET_VRING_NUM, 0, &s, sizeof(s), NULL, 0);
	a.desc += 0x1000;
	send_refused(t, VU_SET_VRING_ADDR, 0, &a, sizeof(a), NULL, 0);
	s.num = 3;
	send_refused(t, VU_SET_VRING_BASE, 0, &s, sizeof(s), NULL, 0);
	assert_true(t->e.q[0].live);
	expect_io(t, 0, 3, 1);
}

static void test_vring_addr_flags(void **state)
{
	struct t *t = *state;
	struct vu_vring_addr a = t->r[0].addr;

	negotiate(t, PF_ALL);
	a.flags = 2;
	send_refused(t, VU_SET_VRING_ADDR, 0, &a, sizeof(a), NULL, 0);
	assert_false(t->b.queues[0].addr_set);
}

static void test_vring_base_too_big(void **state)
{
	struct t *t = *state;
	struct vu_vring_state s = { 0, 0x10000 };

	negotiate(t, PF_ALL);
	send_refused(t, VU_SET_VRING_BASE, 0, &s, sizeof(s), NULL, 0);
}

static void test_vring_enable_two(void **state)
{
	struct t *t = *state;
	struct vu_vring_state s = { 0, 2 };

	negotiate(t, PF_ALL);
	send_refused(t, VU_SET_VRING_ENABLE, 0, &s, sizeof(s), NULL, 0);
	assert_false(t->b.queues[0].enabled);
}

/* A ring enabled before SET_FEATURES: refused; once features are set, the
 * next kick fd starts it. */
static void test_ring_before_features(void **state)
{
	struct t *t = *state;

	assert_int_equal(vt_fe_negotiate_protocol(&t->fe, PF_ALL, NULL), 0);
	map_memory(t);
	assert_int_equal(vt_fe_start_ring(&t->fe, &t->r[0], fresh_base(t), true), 1);
	assert_true(log_says(t, "before features"));
	assert_false(t->e.q[0].live);
	assert_serving(t);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_FEATURES, t->lay->features | BIT30), 0);
	start(t, 0);
	expect_io(t, 0, 2, 1);
}

/* A ring enabled before SET_VRING_ADDR (or SET_VRING_NUM): refused. */
static void test_ring_before_addr(void **state)
{
	struct t *t = *state;

	negotiate(t, PF_ALL);
	map_memory(t);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_NUM, 0, QSIZE), 0);
	assert_int_equal(vt_fe_vring_fd(&t->fe, VU_SET_VRING_KICK, 0, t->r[0].kick_fd), 0);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_ENABLE, 0, 1), 1);
	assert_false(t->e.q[0].live);
	assert_serving(t);
	start(t, 0);
	expect_io(t, 0, 2, 1);
}

struct kick_bits_row {
	const char *name;
	uint64_t v;
};

static const struct kick_bits_row kick_bits_rows[] = {
	{ "bit 9", 1u << 9 },
	{ "bit 32", UINT64_C(1) << 32 },
	{ "bit 63", UINT64_C(1) << 63 },
};

static void test_kick_bits_row(void **state)
{
	struct t *t = *state;
	const struct kick_bits_row *row = t->row;

	negotiate(t, PF_ALL);
	send_with_fds(t, VU_SET_VRING_KICK, &row->v, sizeof(row->v), 1);
	assert_false(t->b.queues[0].started);
}

/* -- features ----------------------------------------------------------------- */

static void test_features_not_offered(void **state)
{
	struct t *t = *state;
	uint64_t f = t->lay->features | BIT30 | VIO_BIT(5);

	negotiate(t, PF_ALL);
	send_refused(t, VU_SET_FEATURES, 0, &f, sizeof(f), NULL, 0);
	assert_int_equal(t->e.dev.features, t->lay->features);
}

static void test_features_packed_without_v1(void **state)
{
	struct t *t = *state;
	uint64_t f = F_PACKED | BIT30;

	negotiate(t, PF_ALL);
	send_refused(t, VU_SET_FEATURES, 0, &f, sizeof(f), NULL, 0);
	assert_int_equal(t->e.dev.features, t->lay->features);
}

/* The device type refuses at FEATURES_OK. */
static void test_features_refused_by_device(void **state)
{
	struct t *t = *state;
	uint64_t f = V1 | VIO_BIT(ECHO_F_REFUSED) | BIT30;

	negotiate(t, PF_ALL);
	send_refused(t, VU_SET_FEATURES, 0, &f, sizeof(f), NULL, 0);
	assert_int_equal(get_status(t) & VIO_STATUS_FEATURES_OK, 0);
}

static void test_features_change_while_running(void **state)
{
	struct t *t = *state;
	uint64_t f = (t->lay->features ^ F_EVT) | BIT30;

	up(t);
	send_refused(t, VU_SET_FEATURES, 0, &f, sizeof(f), NULL, 0);
	assert_int_equal(t->e.dev.features, t->lay->features);
	assert_true(t->e.q[0].live);
	expect_io(t, 0, 2, 1);
}

static void test_protocol_features_not_offered(void **state)
{
	struct t *t = *state;
	uint64_t pf = PF_ALL | PF(LOG_SHMFD);
	uint64_t n = 0;

	negotiate(t, PF_ALL);
	send_refused(t, VU_SET_PROTOCOL_FEATURES, 0, &pf, sizeof(pf), NULL, 0);
	pf = PF(INBAND_NOTIFICATIONS);
	send_refused(t, VU_SET_PROTOCOL_FEATURES, 0, &pf, sizeof(pf), NULL, 0);
	assert_int_equal(t->b.protocol_features, PF_ALL);
	assert_int_equal(vt_fe_get_u64(&t->fe, VU_GET_QUEUE_NUM, &n), 0);
	assert_int_equal(n, NQ);
}

/* -- messages that need a protocol feature ---------------------------------- */

#define MEM_SINGLE ((uint32_t)sizeof(struct vu_mem_single))

struct needs_row {
	const char *name;
	uint32_t req;
	uint32_t size;
	bool fd;
};

static const struct needs_row needs_rows[] = {
	{ "GET_QUEUE_NUM without MQ", VU_GET_QUEUE_NUM, 0, false },
	{ "GET_CONFIG without CONFIG", VU_GET_CONFIG, VU_CONFIG_HDR + 4, false },
	{ "SET_CONFIG without CONFIG", VU_SET_CONFIG, VU_CONFIG_HDR + 1, false },
	{ "SET_BACKEND_REQ_FD without BACKEND_REQ", VU_SET_BACKEND_REQ_FD, 0, true },
	{ "RESET_DEVICE without RESET_DEVICE", VU_RESET_DEVICE, 0, false },
	{ "GET_MAX_MEM_SLOTS without CONFIGURE_MEM_SLOTS", VU_GET_MAX_MEM_SLOTS, 0, false },
	{ "ADD_MEM_REG without CONFIGURE_MEM_SLOTS", VU_ADD_MEM_REG, MEM_SINGLE, true },
	{ "REM_MEM_REG without CONFIGURE_MEM_SLOTS", VU_REM_MEM_REG, MEM_SINGLE, false },
	{ "SET_STATUS without STATUS", VU_SET_STATUS, 8, false },
	{ "GET_STATUS without STATUS", VU_GET_STATUS, 0, false },
	{ "GET_INFLIGHT_FD without INFLIGHT_SHMFD", VU_GET_INFLIGHT_FD, sizeof(struct vu_inflight), false },
	{ "SET_INFLIGHT_FD without INFLIGHT_SHMFD", VU_SET_INFLIGHT_FD, sizeof(struct vu_inflight), true },
};

static void test_needs_row(void **state)
{
	struct t *t = *state;
	const struct needs_row *row = t->row;
	union vu_payload p;
	int fd = t->g.fd;

	negotiate(t, PF(REPLY_ACK));
	memset(&p, 0, sizeof(p));
	if (row->req == VU_GET_CONFIG || row->req == VU_SET_CONFIG)
		p.config.size = row->size - VU_CONFIG_HDR;
	else if (row->req == VU_ADD_MEM_REG || row->req == VU_REM_MEM_REG)
		p.mem_reg.region = vt_gmem_region(&t->g);
	else if (row->req == VU_SET_STATUS)
		p.u64 = VIO_STATUS_ACKNOWLEDGE;
	if (row->req == VU_SET_BACKEND_REQ_FD)
		fd = vt_eventfd();
	send_refused(t, row->req, 0, &p, row->size, &fd, row->fd ? 1 : 0);
	if (row->req == VU_SET_BACKEND_REQ_FD)
		close(fd);
	assert_int_equal(t->b.nmaps, 0);
	assert_int_equal(t->e.dev.status, STATUS_NEGOTIATED);
}

/* -- config ranges ------------------------------------------------------------ */

struct config_row {
	const char *name;
	uint32_t offset, size;  /* the fields */
	uint32_t msg_size;      /* the header's payload size (0: VU_CONFIG_HDR + size) */
	uint32_t flags;
};

static const struct config_row config_rows[] = {
	{ "offset at the end", CFG_LEN, 1, 0, 0 },
	{ "size past the end", 0, CFG_LEN + 1, 0, 0 },
	{ "offset past the end", 100, 1, 0, 0 },
	{ "offset plus size wraps", 0xffffffffu, 2, 0, 0 },
	{ "size field above 256", 0, 300, VU_CONFIG_HDR + VU_CONFIG_MAX, 0 },
	{ "size field not the payload's", 0, 4, VU_CONFIG_HDR + 8, 0 },
};

static uint32_t config_msg_size(const struct config_row *row)
{
	return row->msg_size ? row->msg_size : VU_CONFIG_HDR + row->size;
}

/* GET_CONFIG says "error" with an empty payload. */
static void test_get_config_row(void **state)
{
	struct t *t = *state;
	const struct config_row *row = t->row;
	struct vu_config c;
	struct vt_msg m;
	uint32_t size;

	negotiate(t, PF_ALL);
	memset(&c, 0, sizeof(c));
	c.offset = row->offset;
	c.size = row->size;
	size = config_msg_size(row);
	assert_int_equal(vt_fe_msg(&t->fe, VU_GET_CONFIG, 0, &c, size, NULL, 0, &m), 0);
	assert_int_equal(m.hdr.size, VU_CONFIG_HDR);
	assert_int_equal(m.p.config.size, 0);
	assert_serving(t);
}

static void test_set_config_row(void **state)
{
	struct t *t = *state;
	const struct config_row *row = t->row;
	uint8_t before[CFG_LEN];
	struct vu_config c;

	negotiate(t, PF_ALL);
	memcpy(before, t->e.config, CFG_LEN);
	memset(&c, 0x33, sizeof(c));
	c.offset = row->offset;
	c.size = row->size;
	c.flags = row->flags;
	send_refused(t, VU_SET_CONFIG, 0, &c, config_msg_size(row), NULL, 0);
	assert_memory_equal(t->e.config, before, CFG_LEN);
	assert_int_equal(t->e.config_writes, 0);
}

static void test_set_config_flags(void **state)
{
	struct t *t = *state;
	struct vu_config c;

	negotiate(t, PF_ALL);
	memset(&c, 0, sizeof(c));
	c.offset = CFG_RW;
	c.size = 1;
	c.flags = 2;
	send_refused(t, VU_SET_CONFIG, 0, &c, VU_CONFIG_HDR + 1, NULL, 0);
	assert_int_equal(t->e.config_writes, 0);
}

/* -- memory slots ---------------------------------------------------------------- */

static void test_rem_mem_reg_unknown(void **state)
{
	struct t *t = *state;
	struct vu_mem_single s = { 0, vt_gmem_region(&t->g) };

	negotiate(t, PF_ALL);
	send_refused(t, VU_REM_MEM_REG, 0, &s, sizeof(s), NULL, 0);
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_ADD_MEM_REG, &t->g), 0);
	/* Same start, other size: not that region either. */
	s.region.size /= 2;
	send_refused(t, VU_REM_MEM_REG, 0, &s, sizeof(s), NULL, 0);
	assert_int_equal(t->b.nmaps, 1);
}

static void test_add_mem_reg_bad(void **state)
{
	struct t *t = *state;
	struct vu_mem_single s = { 0, vt_gmem_region(&t->g) };

	negotiate(t, PF_ALL);
	s.region.guest_addr = UINT64_MAX - 0xfff;
	send_refused(t, VU_ADD_MEM_REG, 0, &s, sizeof(s), &t->g.fd, 1);
	s.region = vt_gmem_region(&t->g);
	s.region.size = 0;
	send_refused(t, VU_ADD_MEM_REG, 0, &s, sizeof(s), &t->g.fd, 1);
	assert_int_equal(t->b.nmaps, 0);
}

/* -- kick, call and error fds that are not eventfds --------------------------- */

enum fd_kind { FD_PIPE_READ, FD_PIPE_WRITE, FD_MEMFD, FD_SOCKET, FD_TIMERFD, FD_SEMAPHORE };

struct efd_row {
	const char *name;
	uint32_t req;
	enum fd_kind kind;
};

static const struct efd_row efd_rows[] = {
	{ "SET_VRING_KICK with a pipe at end of file", VU_SET_VRING_KICK, FD_PIPE_READ },
	{ "SET_VRING_KICK with a timerfd", VU_SET_VRING_KICK, FD_TIMERFD },
	{ "SET_VRING_KICK with a semaphore eventfd", VU_SET_VRING_KICK, FD_SEMAPHORE },
	{ "SET_VRING_CALL with a pipe nobody reads", VU_SET_VRING_CALL, FD_PIPE_WRITE },
	{ "SET_VRING_CALL with a memfd", VU_SET_VRING_CALL, FD_MEMFD },
	{ "SET_VRING_ERR with a socket", VU_SET_VRING_ERR, FD_SOCKET },
};

/* The fd of that kind; the caller closes it, and *keep (an other end that
 * must stay open, or -1) after it. */
static int odd_fd(enum fd_kind kind, int *keep)
{
	struct itimerspec ts = { { 0, 1000 }, { 0, 1000 } };
	int p[2], fd = -1;

	*keep = -1;
	switch (kind) {
	case FD_PIPE_READ:
		/* The writer gone: readable (end of file) for good. */
		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
		fd = p[0];
		close(p[1]);
		break;
	case FD_PIPE_WRITE:
		/* A reader that never reads: writes block once it is full. */
		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
		fd = p[1];
		*keep = p[0];
		break;
	case FD_MEMFD:
		fd = memfd_create("vt-odd", MFD_CLOEXEC);
		break;
	case FD_SOCKET:
		assert_int_equal(vt_socketpair(p), 0);
		fd = p[0];
		close(p[1]);
		break;
	case FD_TIMERFD:
		fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
		assert_int_equal(timerfd_settime(fd, 0, &ts, NULL), 0);
		break;
	case FD_SEMAPHORE:
		fd = eventfd(0, EFD_CLOEXEC | EFD_SEMAPHORE);
		assert_true(fd >= 0);
		vt_efd_signal(fd);
		break;
	}
	assert_true(fd >= 0);
	return fd;
}

/* A queue thread would block on such an fd, or find it readable with
 * nothing to take, again and again: refused, the ring keeps what it had. */
static void test_efd_row(void **state)
{
	struct t *t = *state;
	const struct efd_row *row = t->row;
	uint64_t v = 0;
	int fd, keep;

	negotiate(t, PF_ALL);
	map_memory(t);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_NUM, 0, QSIZE), 0);
	assert_int_equal(set_addr(t, &t->r[0]), 0);
	if (row->kind == FD_SEMAPHORE && !strstr(read_fdinfo(t->r[0].kick_fd), "eventfd-semaphore:")) {
		skip();         /* the kernel does not say */
		return;
	}
	fd = odd_fd(row->kind, &keep);
	send_refused(t, row->req, 0, &v, sizeof(v), &fd, 1);
	close(fd);
	if (keep >= 0)
		close(keep);
	assert_false(t->e.q[0].live);
	assert_int_equal(vio_vu_backend_kick_fd(&t->b, 0), -1);
	start(t, 0);
	expect_io(t, 0, 2, 1);
}

/* -- truncated streams -------------------------------------------------------- */

struct trunc_row {
	const char *name;
	size_t bytes;           /* of the message below that get sent */
};

static const struct trunc_row trunc_rows[] = {
	{ "header only, then close", sizeof(struct vu_header) },
	{ "5 bytes of a header, then close", 5 },
	{ "half the payload, then close", sizeof(struct vu_header) + 4 },
};

static const struct trunc_row stall_rows[] = {
	{ "header only, frontend stays", sizeof(struct vu_header) },
	{ "5 bytes of a header, frontend stays", 5 },
	{ "half the payload, frontend stays", sizeof(struct vu_header) + 4 },
};

/* The same messages cut short, with the frontend staying connected: the
 * backend waits TIMEOUT_MS for the rest, not forever. */
static void test_stall_row(void **state)
{
	struct t *t = *state;
	const struct trunc_row *row = t->row;
	struct {
		struct vu_header h;
		uint64_t v;
	} __attribute__((packed)) msg = { { VU_SET_FEATURES, VU_VERSION, 8 }, V1 };
	struct bg g;

	up(t);
	assert_int_equal(vt_send_raw(t->fe.sock, &msg, row->bytes, NULL, 0), 0);
	bg_start(&g, t, bg_dispatch_one);
	assert_true(bg_wait(&g, close_frontend));
	t->last = g.ret;
	assert_true(log_says(t, "stopped in the middle of a message"));
	assert_dropped(t);
}

static void test_trunc_row(void **state)
{
	struct t *t = *state;
	const struct trunc_row *row = t->row;
	struct {
		struct vu_header h;
		uint64_t v;
	} __attribute__((packed)) msg = { { VU_SET_FEATURES, VU_VERSION, 8 }, V1 };

	up(t);
	assert_int_equal(vt_send_raw(t->fe.sock, &msg, row->bytes, NULL, 0), 0);
	close(t->fe.sock);
	t->fe.sock = -1;
	pump(t);
	assert_dropped(t);
}

/* ======================================================================== */
/* Split-specific: a hostile driver writing the split ring                  */
/* ======================================================================== */

/* Makes entry `head` available on ring 0 behind the driver side's back. */
static void split_publish(struct t *t, uint16_t head)
{
	struct vio_split_avail *avail = t->r[0].driver;
	uint16_t idx = vio_le16_to_cpu(avail->idx);

	avail->ring[idx % QSIZE] = vio_cpu_to_le16(head);
	__atomic_store_n(&avail->idx.raw, vio_cpu_to_le16((uint16_t)(idx + 1)).raw,
			 __ATOMIC_RELEASE);
}

static void hostile_setup(struct t *t)
{
	negotiate(t, PF_ALL);
	backend_channel(t);
	map_memory(t);
	start(t, 0);
	start(t, 1);
}

/* Kicks ring 0 and expects the pop to stop with err (0: any stop). */
static void hostile_fire(struct t *t, int err)
{
	vt_efd_signal(t->r[0].kick_fd);
	vio_vu_backend_queue_dispatch(&t->b, 0);
	if (err)
		assert_int_equal(t->e.last_err[0], err);
	assert_true(t->e.last_err[0] < 0 && t->e.last_err[0] != -EAGAIN);
	assert_needs_reset(t);
}

static void test_split_head_out_of_range(void **state)
{
	struct t *t = *state;

	hostile_setup(t);
	split_publish(t, QSIZE + 3);
	hostile_fire(t, -EIO);
	recover(t);
}

static void test_split_desc_loop(void **state)
{
	struct t *t = *state;
	struct vio_split_desc *d = t->r[0].desc;

	hostile_setup(t);
	d[0].addr = vio_cpu_to_le64(vt_gmem_gpa(&t->g, t->data));
	d[0].len = vio_cpu_to_le32(16);
	d[0].flags = vio_cpu_to_le16(VIO_DESC_F_NEXT);
	d[0].next = vio_cpu_to_le16(0);
	split_publish(t, 0);
	/* -EIO for the loop, or -ENOBUFS when the device's iovec fills first. */
	hostile_fire(t, 0);
}

/* avail->idx runs more than a ring ahead. */
static void test_split_avail_idx_ahead(void **state)
{
	struct t *t = *state;
	struct vio_split_avail *avail = t->r[0].driver;

	hostile_setup(t);
	avail->idx = vio_cpu_to_le16(QSIZE + 1);
	hostile_fire(t, -EIO);
}

/* Split sizes are powers of two: a ring of 24 entries does not start (the
 * backend may refuse the number itself or the start). */
static void test_split_num_not_pow2(void **state)
{
	struct t *t = *state;
	struct vt_ring *r = &t->r[0];
	int e;

	negotiate(t, PF_ALL);
	map_memory(t);
	e = vt_fe_state(&t->fe, VU_SET_VRING_NUM, 0, 24);
	assert_true(e >= 0);
	assert_int_equal(set_addr(t, r), 0);
	assert_int_equal(vt_fe_vring_fd(&t->fe, VU_SET_VRING_KICK, 0, r->kick_fd), 0);
	e += vt_fe_state(&t->fe, VU_SET_VRING_ENABLE, 0, 1);
	assert_int_equal(e, 1);
	assert_false(t->e.q[0].live);
	assert_serving(t);
	start(t, 0);
	expect_io(t, 0, 2, 1);
}

/* ======================================================================== */
/* Packed-specific: a hostile driver writing the packed ring                */
/* ======================================================================== */

static void test_packed_bad_indirect(void **state)
{
	struct t *t = *state;
	struct vio_packed_desc *d = t->r[0].desc;

	hostile_setup(t);
	d[0].addr = vio_cpu_to_le64(vt_gmem_gpa(&t->g, t->data));
	d[0].len = vio_cpu_to_le32(7);          /* not a multiple of 16 */
	d[0].id = vio_cpu_to_le16(0);
	__atomic_store_n(&d[0].flags.raw,
			 vio_cpu_to_le16(VIO_DESC_F_INDIRECT | VIO_PACKED_DESC_F_AVAIL).raw,
			 __ATOMIC_RELEASE);
	hostile_fire(t, -EIO);
	recover(t);
}

/* Packed sizes need not be powers of two. */
static void test_packed_num_24(void **state)
{
	struct t *t = *state;

	vt_ring_fini(&t->r[0]);
	assert_int_equal(vt_ring_init(&t->r[0], &t->g, 0, 24, t->lay->features, IND_MAX), 0);
	up(t);
	for (unsigned round = 0; round < 10; round++)
		expect_io(t, 0, 7, 1 + round % 2);
}

/* ======================================================================== */
/* Registration                                                             */
/* ======================================================================== */

/* ======================================================================== */
/* Inflight I/O tracking (GET/SET_INFLIGHT_FD)                              */
/* ======================================================================== */

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

struct test_def {
	const char *name;
	CMUnitTestFunction fn;
};

static const struct test_def layout_tests[] = {
	{ "io through the ring", test_io },
	{ "io on both queues", test_io_both_queues },
	{ "io across index wrap-around", test_io_wraps },
	{ "io with a thread per queue", test_io_threaded },
	{ "GET_VRING_BASE stops the ring, restart at that base", test_vring_base_stop_restart },
	{ "GET_VRING_BASE twice reports the same base", test_vring_base_twice },
	{ "GET_VRING_BASE before start reports SET_VRING_BASE", test_vring_base_before_start },
	{ "buffers kicked while disabled run on enable", test_disable_enable },
	{ "SET_VRING_KICK NOFD: the caller polls", test_kick_nofd_polling },
	{ "queue_lock keeps the device off the queue", test_queue_lock },
	{ "SET_VRING_CALL NOFD: no interrupts, ring still used", test_call_nofd },
	{ "no SET_VRING_BASE: the ring starts fresh", test_no_vring_base },
	{ "in-band VRING_KICK", test_inband_kick },
	{ "SET_MEM_TABLE again while rings run", test_mem_table_while_running },
	{ "adaptive polling ends while the device leaves buffers", test_poll_for_device_waits },
	{ "adaptive polling ends while the driver keeps it busy", test_poll_for_busy_driver },
	{ "a kick fd the frontend drained does not block dispatch", test_kick_fd_drained },
	{ "a call fd at its maximum does not block the device", test_call_fd_full },
	{ "SET_FEATURES unchanged while rings run", test_set_features_unchanged_while_running },
	{ "no PROTOCOL_FEATURES: rings start enabled", test_no_protocol_features },
	{ "hostile driver: buffer outside guest memory", test_hostile_buffer_outside_memory },
	{ "hostile driver on one queue's thread, the other busy", test_needs_reset_threaded },
	{ "RESET_DEVICE and set up again", test_reset_device },
	{ "disconnect, reconnect from scratch", test_disconnect_reconnect },
	{ "ring beyond the end of the region's file", test_mem_region_beyond_file_ring },
	{ "buffer beyond the end of the region's file", test_mem_region_beyond_file_buffer },
};

static const struct test_def control_tests[] = {
	{ "handshake: features, protocol features, owner, queues", test_handshake },
	{ "SET_OWNER twice", test_set_owner_twice },
	{ "protocol_features_off", test_protocol_features_off },
	{ "GET_CONFIG/SET_CONFIG", test_get_set_config },
	{ "CONFIG_CHANGE_MSG on the backend channel", test_config_change_msg },
	{ "no CONFIG_CHANGE_MSG without PF_CONFIG", test_config_change_needs_pf_config },
	{ "SET_STATUS/GET_STATUS", test_status },
	{ "GET_MAX_MEM_SLOTS, ADD_MEM_REG, REM_MEM_REG", test_mem_slots },
	{ "REM_MEM_REG with an fd", test_rem_mem_reg_with_fd },
	{ "REM_MEM_REG under a running ring", test_rem_mem_reg_under_ring },
	{ "RESET_OWNER stops the rings", test_reset_owner },
	{ "detach, attach busy, attach", test_detach_attach },
	{ "a frontend that never reads its replies is dropped", test_replies_never_read },
	{ "a frontend that never reads the backend channel is dropped",
	  test_backend_channel_never_read },
};

static const struct test_def malformed_tests[] = {
	{ "SET_VRING_KICK without NOFD and without fd", test_kick_without_fd },
	{ "SET_VRING_CALL with NOFD and an fd", test_call_nofd_with_fd },
	{ "GET_FEATURES with two fds", test_get_features_with_fds },
	{ "twelve fds on one message", test_too_many_fds },
	{ "ADD_MEM_REG without fd", test_add_mem_reg_without_fd },
	{ "SET_BACKEND_REQ_FD without fd", test_backend_req_fd_without_fd },
	{ "SET_MEM_TABLE with the wrong number of fds", test_mem_table_fd_count },
	{ "SET_MEM_TABLE with 0 regions", test_mem_table_zero_regions },
	{ "SET_MEM_TABLE with 9 regions", test_mem_table_nine_regions },
	{ "SET_MEM_TABLE nregions not matching size", test_mem_table_count_mismatch },
	{ "SET_MEM_TABLE region size 0", test_mem_region_size0 },
	{ "SET_MEM_TABLE guest address overflow", test_mem_region_guest_overflow },
	{ "SET_MEM_TABLE user address overflow", test_mem_region_user_overflow },
	{ "SET_MEM_TABLE mmap offset overflow", test_mem_region_offset_overflow },
	{ "SET_MEM_TABLE mmap offset 2^62", test_mem_region_offset_huge },
	{ "SET_MEM_TABLE overlapping guest ranges", test_mem_table_guest_overlap },
	{ "SET_MEM_TABLE overlapping user ranges", test_mem_table_user_overlap },
	{ "SET_MEM_TABLE second region bad, first unmapped", test_mem_table_second_bad },
	{ "SET_MEM_TABLE fd that cannot be mapped", test_mem_table_unmappable_fd },
	{ "SET_VRING_NUM 0", test_vring_num_zero },
	{ "SET_VRING_NUM above the maximum", test_vring_num_above_max },
	{ "SET_VRING_NUM/ADDR/BASE while running", test_running_ring_setup },
	{ "SET_VRING_ADDR unknown flags", test_vring_addr_flags },
	{ "SET_VRING_BASE above 16 bits", test_vring_base_too_big },
	{ "SET_VRING_ENABLE 2", test_vring_enable_two },
	{ "ring enabled before SET_FEATURES", test_ring_before_features },
	{ "ring enabled before SET_VRING_ADDR", test_ring_before_addr },
	{ "SET_FEATURES with bits not offered", test_features_not_offered },
	{ "SET_FEATURES packed without VERSION_1", test_features_packed_without_v1 },
	{ "SET_FEATURES refused by the device", test_features_refused_by_device },
	{ "SET_FEATURES changing while rings run", test_features_change_while_running },
	{ "SET_PROTOCOL_FEATURES with bits not offered", test_protocol_features_not_offered },
	{ "SET_CONFIG flags 2", test_set_config_flags },
	{ "REM_MEM_REG of an unknown region", test_rem_mem_reg_unknown },
	{ "ADD_MEM_REG with a bad region", test_add_mem_reg_bad },
};

static const struct test_def split_tests[] = {
	{ "head index out of range", test_split_head_out_of_range },
	{ "descriptor loop", test_split_desc_loop },
	{ "avail index a ring ahead", test_split_avail_idx_ahead },
	{ "SET_VRING_NUM not a power of two", test_split_num_not_pow2 },
};

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

static const struct test_def packed_tests[] = {
	{ "indirect table of 7 bytes", test_packed_bad_indirect },
	{ "ring of 24 entries", test_packed_num_24 },
};

#define MAX_TESTS 512

static struct CMUnitTest tests[MAX_TESTS];
static struct param params[MAX_TESTS];
static size_t ntests;

static void add(const char *prefix, const char *group, const char *name, CMUnitTestFunction fn,
		const struct layout *lay, const void *row)
{
	size_t len = strlen(prefix) + strlen(group) + strlen(name) + 8;
	char *s = malloc(len);

	if (!s || ntests == MAX_TESTS)
		abort();
	snprintf(s, len, "%s: %s%s", prefix, group, name);
	params[ntests] = (struct param){ lay, row };
	tests[ntests] = (struct CMUnitTest){ s, fn, setup, teardown, &params[ntests] };
	ntests++;
}

static void add_defs(const char *prefix, const struct test_def *d, size_t n,
		     const struct layout *lay)
{
	for (size_t i = 0; i < n; i++)
		add(prefix, "", d[i].name, d[i].fn, lay, NULL);
}

/* Rows of a table: each row struct starts with its name. */
#define ADD_ROWS(group, rows, fn)                                                       \
	for (size_t i_ = 0; i_ < ARRAY_LEN(rows); i_++)                                 \
		add("malformed", group, rows[i_].name, fn, &layouts[0], &rows[i_])

int main(void)
{
	int r;

	for (size_t v = 0; v < ARRAY_LEN(layouts); v++)
		add_defs(layouts[v].name, layout_tests, ARRAY_LEN(layout_tests), &layouts[v]);
	/* Ring placement rules differ per layout: split and packed rows. */
	for (size_t v = 0; v < 2; v++)
		for (size_t i = 0; i < ARRAY_LEN(ring_addr_rows); i++)
			add(layouts[v].name, "ring start refused: ", ring_addr_rows[i].name,
			    test_ring_addr_row, &layouts[v], &ring_addr_rows[i]);
	/* Kick, call and error fds that are not eventfds, refused before a
	 * ring starts: split and packed rows. */
	for (size_t v = 0; v < 2; v++)
		for (size_t i = 0; i < ARRAY_LEN(efd_rows); i++)
			add(layouts[v].name, "not an eventfd: ", efd_rows[i].name, test_efd_row,
			    &layouts[v], &efd_rows[i]);
	add_defs("control", control_tests, ARRAY_LEN(control_tests), &layouts[0]);
	add_defs("malformed", malformed_tests, ARRAY_LEN(malformed_tests), &layouts[0]);
	ADD_ROWS("payload size: ", size_rows, test_size_row);
	ADD_ROWS("oversized: ", oversize_rows, test_oversize_row);
	ADD_ROWS("bad ", version_rows, test_version_row);
	ADD_ROWS("unknown ", flag_rows, test_flags_row);
	ADD_ROWS("unsupported ", unknown_rows, test_unknown_row);
	ADD_ROWS("queue index out of range: ", queue_rows, test_queue_row);
	ADD_ROWS("SET_VRING_KICK unknown ", kick_bits_rows, test_kick_bits_row);
	ADD_ROWS("needs its protocol feature: ", needs_rows, test_needs_row);
	ADD_ROWS("GET_CONFIG ", config_rows, test_get_config_row);
	ADD_ROWS("SET_CONFIG ", config_rows, test_set_config_row);
	ADD_ROWS("truncated: ", trunc_rows, test_trunc_row);
	ADD_ROWS("stalled: ", stall_rows, test_stall_row);
	add_defs("split-specific", split_tests, ARRAY_LEN(split_tests), &layouts[0]);
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
	add_defs("packed-specific", packed_tests, ARRAY_LEN(packed_tests), &layouts[1]);
	/* VT_FILTER="packed: *": run the matching tests only (for debugging). */
	if (getenv("VT_FILTER"))
		cmocka_set_test_filter(getenv("VT_FILTER"));
	r = _cmocka_run_group_tests("vu_backend", tests, ntests, NULL, NULL);
	for (size_t i = 0; i < ntests; i++)
		free((void *)tests[i].name);
	return r;
}
