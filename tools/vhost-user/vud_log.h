/*
 * vud_log.h - the vhost-user daemons' log: lines a peer cannot flood.
 *
 * Everything the daemons log goes through here, to stderr ("name: level:
 * message", with --log-timestamps an RFC 3339 UTC time in front) or, with
 * --syslog, to syslog(3) (facility daemon, the level as the priority).
 *
 * A frontend or a guest can make a daemon log: every refused message,
 * malformed request or bad chain is a line. Such lines go through a rate
 * limiter (vud_log(), the library's log callback, and vud_logf()): each
 * *cause* may log a burst of VUD_LOG_BURST lines, then one a second; what
 * it could not log is counted, and the count is logged ("N similar
 * messages suppressed") once its cause may log again, or at exit
 * (vud_log_flush()). All limited lines together are held to a burst of
 * VUD_LOG_TOTAL_BURST and VUD_LOG_TOTAL_PER_SEC a second, so no set of
 * causes, however many, floods the log either. Lines only the daemon
 * itself causes (start, stop, stats, its own failures) are never limited:
 * vud_log_line().
 *
 * What is a cause (vud_log.c says why): the message with its numbers
 * masked, and its level. The library's API stays as it is (a level and a
 * formatted line).
 */
#ifndef VUD_LOG_H
#define VUD_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "vio/core.h"

#define VUD_LOG_BURST 10u               /* lines of one cause at once */
#define VUD_LOG_PER_SEC 1u              /* then this many a second */
#define VUD_LOG_TOTAL_BURST 50u         /* all limited causes together */
#define VUD_LOG_TOTAL_PER_SEC 10u
#define VUD_LOG_CAUSES 64u              /* causes tracked at once */

struct vud_log_config {
	const char *name;               /* "name: " before each stderr line */
	bool quiet;                     /* errors only */
	bool timestamps;                /* --log-timestamps */
	bool syslog;                    /* --syslog: syslog(3) instead of stderr */
};

/* Sets up (or changes) the daemon's log. Before the first call: stderr,
 * name "vhost-user". Call it from the main thread, before the daemon's
 * threads exist. */
void vud_log_setup(const struct vud_log_config *c);

/* The library's log callback (vio_log_fn): rate-limited per cause.
 * Any thread. */
void vud_log(void *opaque, enum vio_log_level level, const char *msg);

/* A line of the daemon's own that a peer can cause (a frontend
 * connecting, leaving, being dropped): rate-limited as vud_log(). */
void vud_logf(enum vio_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A line only the daemon causes: never limited (--quiet still drops all
 * but errors). */
void vud_log_line(enum vio_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Logs every suppressed count still pending, whether or not its cause may
 * log again: at exit, so that no count is lost. */
void vud_log_flush(void);

/* ------------------------------------------------------------------------ */
/* The limiter itself, with the clock and the output passed in (tests).    */

typedef void vud_rl_out_fn(void *opaque, enum vio_log_level level, const char *line);

struct vud_rl_cause {
	uint64_t key;                   /* 0: a free slot */
	uint64_t tat;                   /* ns: when the bucket is full again (GCRA) */
	uint64_t last;                  /* ns: last line of this cause, logged or not */
	uint64_t suppressed;            /* lines not logged since the last count */
	enum vio_log_level level;
	char sample[96];                /* the last line suppressed, cut short */
};

struct vud_rl {
	vud_rl_out_fn *out;
	void *opaque;
	struct vud_rl_cause cause[VUD_LOG_CAUSES];
	uint64_t total_tat;             /* all causes together */
	uint64_t evicted;               /* suppressed counts of causes pushed out of the table */
};

void vud_rl_init(struct vud_rl *rl, vud_rl_out_fn *out, void *opaque);
/* msg at level, now_ns on a monotonic clock: logged through out (after
 * the count of its cause's suppressed lines, when there is one), or
 * counted. Not thread-safe: the caller serialises. */
void vud_rl_log(struct vud_rl *rl, uint64_t now_ns, enum vio_log_level level, const char *msg);
/* Every pending count, through out. */
void vud_rl_flush(struct vud_rl *rl);
/* The key of msg at level: what vud_rl_log() calls its cause. */
uint64_t vud_rl_key(enum vio_log_level level, const char *msg);

#endif
