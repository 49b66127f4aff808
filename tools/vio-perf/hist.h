/*
 * hist.h - vio-perf's latency histogram.
 *
 * Log-linear buckets over nanoseconds, as HdrHistogram lays them out: exact
 * below 64 ns, then each power of two split into 64 equal buckets, so a
 * reported percentile is within 1/64 (1.6 %) of the true value. Fixed
 * memory (no allocation when recording), one per thread, merged at the end.
 */
#ifndef VIO_PERF_HIST_H
#define VIO_PERF_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 6u
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_MAX_EXP  47u                               /* 2^47 ns: 39 hours */
#define HIST_BUCKETS  ((HIST_MAX_EXP - HIST_SUB_BITS + 2u) * HIST_SUB)

struct hist {
	uint64_t count;
	uint64_t sum;                   /* ns, for the mean */
	uint64_t min, max;
	uint64_t b[HIST_BUCKETS];
};

void hist_init(struct hist *h);

static inline unsigned hist_bucket(uint64_t v)
{
	unsigned e;

	if (v < HIST_SUB)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	if (e > HIST_MAX_EXP)
		return HIST_BUCKETS - 1;
	return (e - HIST_SUB_BITS + 1u) * HIST_SUB + (unsigned)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

static inline void hist_add(struct hist *h, uint64_t ns)
{
	h->b[hist_bucket(ns)]++;
	h->count++;
	h->sum += ns;
	if (ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
}

/* into += from */
void hist_merge(struct hist *into, const struct hist *from);

/* The value below which a fraction q (0..1) of the samples lie: the middle
 * of its bucket, never above the largest sample. 0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);

#endif /* VIO_PERF_HIST_H */
