/*
 * vud_log.c - the vhost-user daemons' log, rate-limited per cause (vud_log.h).
 *
 * Why a cause is the line with its numbers masked. The library logs
 * through one callback with a level and a finished line; it has no cause
 * ids, and giving every log call in every layer one would be a large API
 * change for the one user that needs it. The lines themselves are made
 * from a few hundred format strings, and what varies between two lines of
 * the same format is, nearly always, a number: a queue index, a size, an
 * address ("%u", "%#llx"). So the key of a line is a hash (FNV-1a, 64
 * bits) of its level and its text with every run of decimal digits, and
 * every 0x-prefixed hex number, replaced by one '#'. "ring 3: size 7
 * refused" and "ring 0: size 4096 refused" are one cause; "SET_VRING_NUM
 * ..." and "SET_VRING_BASE ..." are two. Two formats that differ only in
 * numbers merge (harmless: both are still logged, at one rate), and a
 * peer that could put text of its choosing into a line could make many
 * causes: the total limit below still holds the whole log to a bound.
 *
 * The bucket. Each cause is a token bucket, kept as GCRA does it: one
 * time, tat, at which the bucket would be full again. A line at `now` is
 * allowed when now >= tat - (burst - 1) * T (T = 1 s / rate), which then
 * moves tat to max(tat, now) + T: a burst of `burst` lines, then one per
 * T. The total limit is one more such bucket that every allowed line must
 * also pass.
 *
 * Counting. A line not allowed adds one to its cause's count and becomes
 * its sample. When a cause's next line is allowed, its count goes out
 * first ("N similar messages suppressed"); a cause that goes quiet has its
 * count logged by the next line of any cause once its own bucket allows
 * it (each call looks), and at exit by vud_log_flush(). The table holds
 * VUD_LOG_CAUSES causes; a new one takes the slot used least recently,
 * and that slot's pending count goes to `evicted`, logged with the next
 * count.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "vud_log.h"

#define NS_PER_SEC 1000000000ull

/* ------------------------------------------------------------------------ */
/* The limiter                                                              */

void vud_rl_init(struct vud_rl *rl, vud_rl_out_fn *out, void *opaque)
{
	memset(rl, 0, sizeof(*rl));
	rl->out = out;
	rl->opaque = opaque;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

uint64_t vud_rl_key(enum vio_log_level level, const char *msg)
{
	uint64_t h = 0xcbf29ce484222325ull;     /* FNV-1a offset basis */
	const char *p = msg;

#define MIX(c) (h = (h ^ (uint8_t)(c)) * 0x100000001b3ull)
	MIX(level);
	while (*p) {
		if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && is_hex(p[2])) {
			for (p += 2; is_hex(*p); p++)
				;
			MIX('#');
		} else if (*p >= '0' && *p <= '9') {
			while (*p >= '0' && *p <= '9')
				p++;
			MIX('#');
		} else {
			MIX(*p);
			p++;
		}
	}
#undef MIX
	return h ? h : 1;       /* 0 marks a free slot */
}

/* GCRA: may a line pass a bucket of burst lines refilled at per_sec a
 * second, at now? If so, take it. */
static bool bucket_take(uint64_t *tat, uint64_t now, unsigned burst, unsigned per_sec)
{
	const uint64_t t = NS_PER_SEC / per_sec;
	const uint64_t slack = (uint64_t)(burst - 1) * t;

	if (*tat > now + slack)
		return false;
	*tat = (*tat > now ? *tat : now) + t;
	return true;
}

static bool bucket_would(uint64_t tat, uint64_t now, unsigned burst, unsigned per_sec)
{
	return tat <= now + (uint64_t)(burst - 1) * (NS_PER_SEC / per_sec);
}

/* Logs c's pending count (and what was pushed out of the table). */
static void emit_count(struct vud_rl *rl, struct vud_rl_cause *c)
{
	char line[200];

	if (c->suppressed) {
		snprintf(line, sizeof(line), "%llu similar messages suppressed, the last: %s",
			 (unsigned long long)c->suppressed, c->sample);
		rl->out(rl->opaque, c->level, line);
		c->suppressed = 0;
	}
	if (rl->evicted) {
		snprintf(line, sizeof(line), "%llu more messages suppressed (of causes no longer tracked)",
			 (unsigned long long)rl->evicted);
		rl->out(rl->opaque, VIO_LOG_WARN, line);
		rl->evicted = 0;
	}
}

static struct vud_rl_cause *find(struct vud_rl *rl, uint64_t key, uint64_t now)
{
	struct vud_rl_cause *lru = &rl->cause[0];

	for (unsigned i = 0; i < VUD_LOG_CAUSES; i++) {
		struct vud_rl_cause *c = &rl->cause[i];

		if (c->key == key)
			return c;
		if (c->key == 0 || (lru->key != 0 && c->last < lru->last))
			lru = c;
	}
	/* A new cause: the least recently used slot (a free one first). */
	rl->evicted += lru->suppressed;
	memset(lru, 0, sizeof(*lru));
	lru->key = key;
	lru->last = now;
	return lru;
}

/* Causes gone quiet whose buckets allow a line again: their counts. */
static void emit_ready_counts(struct vud_rl *rl, uint64_t now)
{
	for (unsigned i = 0; i < VUD_LOG_CAUSES; i++) {
		struct vud_rl_cause *c = &rl->cause[i];

		if (c->suppressed &&
		    bucket_would(c->tat, now, VUD_LOG_BURST, VUD_LOG_PER_SEC) &&
		    bucket_would(rl->total_tat, now, VUD_LOG_TOTAL_BURST, VUD_LOG_TOTAL_PER_SEC)) {
			bucket_take(&c->tat, now, VUD_LOG_BURST, VUD_LOG_PER_SEC);
			bucket_take(&rl->total_tat, now, VUD_LOG_TOTAL_BURST, VUD_LOG_TOTAL_PER_SEC);
			emit_count(rl, c);
		}
	}
}

void vud_rl_log(struct vud_rl *rl, uint64_t now, enum vio_log_level level, const char *msg)
{
	struct vud_rl_cause *c = find(rl, vud_rl_key(level, msg), now);

	c->level = level;
	c->last = now;
	if (bucket_would(c->tat, now, VUD_LOG_BURST, VUD_LOG_PER_SEC) &&
	    bucket_would(rl->total_tat, now, VUD_LOG_TOTAL_BURST, VUD_LOG_TOTAL_PER_SEC)) {
		bucket_take(&c->tat, now, VUD_LOG_BURST, VUD_LOG_PER_SEC);
		bucket_take(&rl->total_tat, now, VUD_LOG_TOTAL_BURST, VUD_LOG_TOTAL_PER_SEC);
		emit_count(rl, c);
		rl->out(rl->opaque, level, msg);
	} else {
		c->suppressed++;
		snprintf(c->sample, sizeof(c->sample), "%s", msg);
	}
	emit_ready_counts(rl, now);
}

void vud_rl_flush(struct vud_rl *rl)
{
	for (unsigned i = 0; i < VUD_LOG_CAUSES; i++)
		if (rl->cause[i].suppressed)
			emit_count(rl, &rl->cause[i]);
	if (rl->evicted) {
		struct vud_rl_cause none = { .level = VIO_LOG_WARN };

		emit_count(rl, &none);
	}
}

/* ------------------------------------------------------------------------ */
/* The daemons' log                                                         */

static struct vud_log_config cfg = { .name = "vhost-user" };
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct vud_rl limiter;
static bool limiter_ready;

static const char *level_name(enum vio_log_level level)
{
	switch (level) {
	case VIO_LOG_ERR:       return "error";
	case VIO_LOG_WARN:      return "warning";
	case VIO_LOG_INFO:      return "info";
	case VIO_LOG_DEBUG:     return "debug";
	}
	return "log";
}

/* One line out, as configured. Called with lock held, so that lines of
 * two threads never interleave and a count stays before its line. */
static void out(void *opaque, enum vio_log_level level, const char *line)
{
	(void)opaque;
	if (cfg.syslog) {
		syslog((int)level, "%s", line);
		return;
	}
	if (cfg.timestamps) {
		struct timespec ts;
		struct tm tm;
		char when[40] = "";

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ ", when, ts.tv_nsec / 1000000);
	}
	fprintf(stderr, "%s: %s: %s\n", cfg.name, level_name(level), line);
}

static bool wanted(enum vio_log_level level)
{
	if (cfg.quiet && level > VIO_LOG_ERR)
		return false;
	if (level == VIO_LOG_DEBUG && !getenv("VIO_DEBUG"))
		return false;
	return true;
}

void vud_log_setup(const struct vud_log_config *c)
{
	pthread_mutex_lock(&lock);
	if (cfg.syslog && !c->syslog)
		closelog();
	cfg = *c;
	if (!cfg.name)
		cfg.name = "vhost-user";
	if (cfg.syslog)
		openlog(cfg.name, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	pthread_mutex_unlock(&lock);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

void vud_log(void *opaque, enum vio_log_level level, const char *msg)
{
	(void)opaque;
	if (!wanted(level))
		return;
	pthread_mutex_lock(&lock);
	if (!limiter_ready) {
		vud_rl_init(&limiter, out, NULL);
		limiter_ready = true;
	}
	vud_rl_log(&limiter, now_ns(), level, msg);
	pthread_mutex_unlock(&lock);
}

void vud_logf(enum vio_log_level level, const char *fmt, ...)
{
	char line[VIO_LOG_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	vud_log(NULL, level, line);
}

void vud_log_line(enum vio_log_level level, const char *fmt, ...)
{
	char line[VIO_LOG_LINE_MAX];
	va_list ap;

	if (!wanted(level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&lock);
	out(NULL, level, line);
	pthread_mutex_unlock(&lock);
}

void vud_log_flush(void)
{
	pthread_mutex_lock(&lock);
	if (limiter_ready)
		vud_rl_flush(&limiter);
	pthread_mutex_unlock(&lock);
}
