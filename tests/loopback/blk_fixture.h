/*
 * blk_fixture.h - what the virtio-blk loopback tests share: the transport
 * matrix, the fixture and the registration.
 *
 * The virtio-blk driver runs against the virtio-blk device over the
 * loopback transport, for every row of the transport matrix: direct and
 * threaded loopback, split and packed rings, EVENT_IDX on and off, indirect
 * descriptors on and off (the tables below; their cross product makes the
 * rows). Tests that move data also run on each backend: RAM, a file through
 * io_uring, and a file through preadv/pwritev. Each test checks data end to
 * end: what the driver wrote is read back through the driver and is also
 * found in the backing store itself (the caller's RAM or the file, read
 * with pread).
 *
 * The tests are split by topic into tests/loopback/test_blk_*.c; each
 * passes its tables to blk_run().
 */

#ifndef BLK_FIXTURE_H
#define BLK_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "layouts.h"
#include "vio/devices.h"
#include "vio/drivers.h"
#include "vio/transport.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define V1 VIO_BIT(VIO_F_VERSION_1)
#define SECTOR 512u
#define DISK_BYTES (4u << 20)
#define DISK_SECTORS (DISK_BYTES / SECTOR)
#define ARENA_BYTES (16u << 20)
#define SERIAL "vio-blk-test-0042"
#define TIMEOUT_MS 20000

/* The matrix                                                               */
struct mode {
	const char *name;
	bool threaded;
};

static const struct mode modes[] = {
	{ "direct", false },
	{ "threaded", true },
};

/* The ring layouts: tests/lib/layouts.h. */
struct toggle {
	const char *name;
	uint64_t features;
};

static const struct toggle event_idx[] = {
	{ "noevt", 0 },
	{ "evt", VIO_BIT(VIO_F_EVENT_IDX) },
};

static const struct toggle indirect[] = {
	{ "noind", 0 },
	{ "ind", VIO_BIT(VIO_F_INDIRECT_DESC) },
};

struct backend {
	const char *name;
	enum vio_blk_backend_type type;
	bool no_io_uring;
};

static const struct backend backends[] = {
	{ "ram", VIO_BLK_BACKEND_RAM, false },
	{ "file-uring", VIO_BLK_BACKEND_FILE, false },
	{ "file-sync", VIO_BLK_BACKEND_FILE, true },
};

/* One row: a transport combination and a backend. */
struct row {
	const struct mode *mode;
	uint64_t ring;                  /* ring features the device offers */
	const struct backend *be;
};

extern char tmpdir[];

extern unsigned file_seq;

/* Fixture                                                                  */
struct fx {
	const struct row *row;
	/* Tests adjust these before fx_up(). */
	struct vio_blk_dev_opts dopts;
	struct vio_blk_drv_opts ropts;
	bool raw;                       /* bind the raw driver, not blk */
	uint64_t raw_features;          /* 0: everything the device offers */
	unsigned raw_nvqs;

	uint8_t *ram;                   /* RAM backend: the test's memory */
	int extra_fd;                   /* a test's own fd, closed at teardown */
	char path[256];                 /* FILE backend */
	struct vio_blk_dev blk;
	struct vio_loopback lb;
	struct vio_bus bus;
	struct vio_blk_driver drv;
	struct vio_driver rawdrv;
	uint32_t rawids[2];
	struct vio_drv_vq rawvqs[4];
	uint8_t *m;                     /* raw tests: DMA scratch */
	uint64_t m_dma;
	bool blk_up, lb_up, bus_up, thread_up;

	pthread_t thread;
	int stop, pause, parked;        /* atomics */

	pthread_mutex_t log_lock;
	unsigned nlogs;
	char last_log[512];
};

struct vio_drv_device *D(struct fx *fx);

void test_log(void *opaque, enum vio_log_level level, const char *msg);

unsigned nlogs(struct fx *fx);

/* The last log line mentions `what`. */
void assert_logged(struct fx *fx, const char *what);

void *xalloc(void *opaque, size_t n);

void xfree(void *opaque, void *p, size_t n);

/* The device thread of threaded mode; it parks while fx->pause is set. */
void *dev_thread(void *arg);

void fx_pause(struct fx *fx);

void fx_resume(struct fx *fx);

/* Raw driver: queues without callbacks; the test reaps by hand. */
int raw_probe(struct vio_drv_device *dev);

void raw_remove(struct vio_drv_device *dev);

int fx_setup(void **state);

int fx_teardown(void **state);

/* Device, transport, bus and driver, with the options the test set. */
void fx_up(struct fx *fx);

/* Bytes of the backing store itself, not through virtio. */
void backing_read(struct fx *fx, uint64_t off, void *dst, size_t len);

void stats(struct fx *fx, unsigned qi, struct vio_blk_queue_stats *s);

uint8_t pattern(uint64_t sector, size_t i, unsigned seed);

void fill_pattern(uint8_t *p, uint64_t sector, size_t len, unsigned seed);

void check_pattern(const uint8_t *p, uint64_t sector, size_t len, unsigned seed);

void check_value(const uint8_t *p, size_t len, uint8_t v);

bool all_free(struct vio_drv_device *dev);

/* Data tests (every backend)                                               */
/* Writes a pattern, reads it back through virtio and the backing store. */
void write_check(struct fx *fx, uint64_t sector, size_t len, unsigned seed);

struct actx {
	unsigned done, errors, canceled;
};

void async_done(void *opaque, int err);

/* Registration                                                             */
#define T(fn) { #fn, fn }

struct named_test {
	const char *name;
	CMUnitTestFunction fn;
};

#define NCOMBOS (ARRAY_LEN(modes) * ARRAY_LEN(layouts) * ARRAY_LEN(event_idx) * ARRAY_LEN(indirect))

extern struct row rows[NCOMBOS * ARRAY_LEN(backends)];

extern char row_names[NCOMBOS * ARRAY_LEN(backends)][64];

void add_test(struct CMUnitTest *t, size_t *n, const char *prefix,
	      const struct named_test *nt, const struct row *row);

/* The tables of one test program; a table it lacks is NULL and empty. */
struct blk_tables {
	const struct named_test *plain;     /* run once: the device alone */
	const struct named_test *data;      /* on every backend */
	const struct named_test *file;      /* on the file backends */
	const struct named_test *ram;       /* on RAM */
	const struct named_test *threaded;  /* on RAM with the threaded transport */
	size_t nplain, ndata, nfile, nram, nthreaded;
};

/* Runs group `group`: each table on every row of the matrix it belongs to. */
int blk_run(const char *group, const struct blk_tables *t);

#endif
