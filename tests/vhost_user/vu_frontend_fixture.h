/*
 * vu_frontend_fixture.h - what the tests of libvio's vhost-user frontend
 * (driver side) share.
 *
 * The real pairing: a backend thread serves a device (the rng device, or
 * "tdev": two echo queues, config space, and a hold mode that keeps
 * requests in flight) over a socketpair or a unix socket path; on this
 * thread the frontend carries libvio's drivers (the rng driver, or "tdrv",
 * a small echo driver). Everything goes through the socket, the shared
 * memfd and the eventfds, as it would across processes.
 *
 * The hostile pairing: a fake backend scripted in the test replies wrongly,
 * and each wrong reply must be a clear error, logged, never a crash or a
 * hang.
 *
 * The tests are split by group into tests/vhost_user/test_vu_frontend_*.c.
 */

#ifndef VU_FRONTEND_FIXTURE_H
#define VU_FRONTEND_FIXTURE_H

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

int64_t now_ms(void);

void signal_fd(int fd);

bool verbose(void);

/* The frontend's log: the last line is kept so tests can check that an
 * error says what went wrong. */
struct logbuf {
	char last[256];
	unsigned lines;
};

void log_keep(void *opaque, enum vio_log_level level, const char *msg);

void log_backend(void *opaque, enum vio_log_level level, const char *msg);

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

void td_elem_prepare(struct td_elem *h);

/* Copies what the driver wrote into what it lets us write. */
void td_echo(struct td_elem *h);

void td_notify(struct vio_dev_model *d, unsigned qi);

void td_reset(struct vio_dev_model *d);

void td_queue_reset(struct vio_dev_model *d, unsigned qi);

void td_config_write(struct vio_dev_model *d, unsigned off, unsigned len);

static const struct vio_dev_ops td_ops = {
	.version = VIO_DEV_OPS_VERSION,
	.reset = td_reset,
	.queue_notify = td_notify,
	.config_write = td_config_write,
	.queue_reset = td_queue_reset,
};

struct tdev *td_new(uint64_t features);

/* Completes the oldest n held requests of queue 0; with `batch` and
 * IN_ORDER as one used entry for all of them. Backend thread only. */
void td_release(struct tdev *t, unsigned n, bool batch);

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

struct tdrv *tdrv_of(struct vio_drv_device *dev);

void tdrv_cb(struct vio_drv_vq *vq);

int tdrv_probe(struct vio_drv_device *dev);

void tdrv_remove(struct vio_drv_device *dev);

void tdrv_config_changed(struct vio_drv_device *dev);

void tdrv_init(struct tdrv *t, uint64_t features, unsigned nvqs);

uint8_t ts_byte(unsigned slot, unsigned i);

/* Posts slot's echo request on queue qi and kicks. */
void ts_submit(struct tdrv *t, unsigned qi, unsigned slot);

/* Waits until every slot in [first, first + n) completed. */
bool ts_wait(struct vio_drv_device *dev, struct tdrv *t, unsigned first, unsigned n);

/* The slot completed exactly once with its bytes echoed. */
void ts_check(const struct tdrv *t, unsigned slot);

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

void be_poll_once(struct be *be);

void *be_main(void *arg);

extern uint64_t be_next_pf_off;

/* Serves dev on sock (or, sock < 0, on the next connection to listen_fd). */
struct be *be_start(struct vio_dev_model *dev, int sock, int listen_fd);

/* The backend process "dies": its thread stops and its connection closes. */
void be_stop(struct be *be);

/* Runs fn(arg) on the backend thread and waits for it. */
void be_call(struct be *be, void (*fn)(void *), void *arg);

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

int env_setup(void **state);

struct vio_dev_model *env_dev(struct env *e);

/* A new device of the kind the test uses (a restarted backend has lost
 * everything it knew). */
void env_new_dev(struct env *e, uint64_t features);

void env_free_dev(struct env *e);

int env_teardown(void **state);

void env_default_cfg(struct env *e);

/* Starts a backend for the current device on a fresh socketpair and
 * returns the frontend's end. */
int env_spawn_backend(struct env *e);

/* Device, backend and frontend connected (not on a bus yet). */
void env_connect(struct env *e, enum dev_kind kind);

/* ... and the matching driver bound through a bus. */
void env_bind(struct env *e);

void env_up(struct env *e, enum dev_kind kind);

extern uint64_t served_seen[2];

void snapshot_served(void *arg);

/* What the device did (tdev: requests per queue; rng: bytes), read on the
 * backend thread. */
uint64_t served(struct env *e, unsigned qi);

void rng_read_ok(struct env *e, size_t n);

/* Runs fn on the backend thread with the env as argument. */
void on_backend(struct env *e, void (*fn)(void *));

void check_backend_reset(void *arg);

void td_hold_on(void *arg);

extern unsigned nheld_seen;

void td_count_held(void *arg);

void td_release_two(void *arg);

void td_wait_held(struct env *e, unsigned n);

/*
 * The backend restarts with requests in every state: completed and
 * reaped (1..2), completed but not reaped (3..4), taken but not completed
 * (5..6), and posted while it was away (7). Each completes exactly once
 * (a duplicate would break the driver's queue), with its data.
 */
void reconnect_in_every_state(struct env *e);

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
bool fake_recv(int sock, struct fake_msg *m);

/* Sends a reply with up to two fds (fds[i] < 0: none). */
void fake_send(int sock, uint32_t req, uint32_t flags, const void *p, uint32_t size,
	       uint32_t announce, const int fds[2]);

/* Answers m as a simple, correct backend would: fills *p, returns the
 * payload size, or -1 when the request has no reply of its own. */
int fake_answer(struct fake *f, struct fake_msg *m, union vu_payload *p);

/* Sends a reply one byte every 100 ms, until it is out or the test ends. */
void fake_drip(struct fake *f, uint32_t req, uint32_t flags, const void *p, uint32_t size);

void fake_handle(struct fake *f, struct fake_msg *m);

void *fake_main(void *arg);

/* A fake offering a typical set; tests adjust it before fake_connect. */
void fake_init(struct fake *f);

/* What the fake does wrong, and to which request. Settable while it runs. */
void fake_script(struct fake *f, uint32_t target, enum fake_mode mode, uint64_t value);

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

int fake_setup(void **state);

int fake_teardown(void **state);

/* Starts the fake and connects the frontend to it: connect's result. */
int fake_connect(struct fake_env *fx);

unsigned fake_seen(struct fake_env *fx, uint32_t req);

void fake_bind(struct fake_env *fx);

int fake_backend_channel(struct fake_env *fx);

struct named_test {
	const char *name;
	CMUnitTestFunction fn;
};

#define T(fn) { #fn, fn }
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Appends a run named "base [row]" (or just base). */
void add_run(const char *base, const char *row, CMUnitTestFunction fn,
	     CMFixtureFunction setup, CMFixtureFunction teardown, const void *param);

/* Runs every run added so far as group `group`, then frees their names. */
int run_all(const char *group);

#endif
