/*
 * run.h - what vio-perf's two modes (blk: vio-perf.c, net: net.c) share
 * about running one load: how a run ends and why, signals, the clock,
 * watching the backend's socket and error eventfds, eventfd counting,
 * log lines, the bus's allocator and number parsing.
 *
 * A run is owned by the main thread, which watches (run_watch) while
 * worker threads do the I/O and read the run's flags: stop (post nothing
 * new) and abort (stop waiting for what is in flight). The first reason
 * given to run_end() is the one reported.
 */
#ifndef VIO_PERF_RUN_H
#define VIO_PERF_RUN_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vio/core.h"

/* Why a run ended (END_OK: it ran its course). */
enum end_reason { END_OK, END_INTERRUPTED, END_DISCONNECTED, END_BACKEND_ERROR, END_STALLED,
		  END_BROKEN };

#define RUN_MAX_REPORTS 10      /* rare-path error lines printed per run */

struct run {
	int stop;               /* atomic: post nothing new */
	int abort;              /* atomic: stop waiting for what is in flight */
	int end;                /* atomic: enum end_reason, the first one wins */
	unsigned reports;       /* atomic: error lines printed */
};

/* Ends the run for `why` (the first reason sticks): stop, and abort
 * unless it ran its course or was interrupted. Context: any thread. */
void run_end(struct run *r, enum end_reason why);
static inline bool run_stopping(const struct run *r)
{
	return __atomic_load_n(&r->stop, __ATOMIC_RELAXED);
}

static inline bool run_aborting(const struct run *r)
{
	return __atomic_load_n(&r->abort, __ATOMIC_RELAXED);
}

static inline enum end_reason run_reason(const struct run *r)
{
	return (enum end_reason)__atomic_load_n(&r->end, __ATOMIC_RELAXED);
}
/* Whether one more rare-path line may be printed (RUN_MAX_REPORTS a run),
 * so a bad run stays readable. Context: any thread. */
bool run_may_report(struct run *r);
/* "ok", "interrupted", "disconnected", "backend-error", "stalled", "broken". */
const char *run_end_name(enum end_reason e);

/* SIGINT and SIGTERM counted (the first asks the run to finish, the
 * second to abandon what is in flight); SIGPIPE ignored. */
void run_signals_install(void);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t run_now_ns(void);

/* Empties an eventfd: the sum of what was written since the last read. */
uint64_t run_drain_fd(int fd);

/*
 * One look of the main thread, up to 50 ms: pfd[0] is the frontend's
 * socket (readable while no reply is due: the backend went away or spoke
 * out of turn, which ends the run as disconnected), pfd[1..n) the queues'
 * error eventfds (a write ends it as backend-error; queue i - 1 named).
 * Then signals: the first ends the run as interrupted and prints
 * `interrupted`, a second aborts. Context: the main thread.
 */
void run_watch(struct run *r, struct pollfd *pfd, unsigned n, const char *interrupted);

/* The driver bus's private memory (calloc/free), and log callbacks that
 * print warnings and errors (everything with VIO_DEBUG set) as
 * "vio-perf: vhost-user: ..." and "vio-perf: driver: ...". */
void *run_bus_alloc(void *opaque, size_t size);
void run_bus_free(void *opaque, void *ptr, size_t size);
void run_fe_log(void *opaque, enum vio_log_level level, const char *msg);
void run_drv_log(void *opaque, enum vio_log_level level, const char *msg);

/* a / b, 0 when b is 0. */
double run_per(double a, double b);

#endif /* VIO_PERF_RUN_H */
