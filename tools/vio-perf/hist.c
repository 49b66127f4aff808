/*
 * hist.c - vio-perf's latency histogram (see hist.h).
 */
#include <string.h>

#include "hist.h"

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void hist_merge(struct hist *into, const struct hist *from)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		into->b[i] += from->b[i];
	into->count += from->count;
	into->sum += from->sum;
	if (from->min < into->min)
		into->min = from->min;
	if (from->max > into->max)
		into->max = from->max;
}

/* Smallest value bucket i holds, and how many values it spans. */
static void bucket_range(unsigned i, uint64_t *lo, uint64_t *width)
{
	unsigned e, m;

	if (i < HIST_SUB) {
		*lo = i;
		*width = 1;
		return;
	}
	e = i / HIST_SUB + HIST_SUB_BITS - 1u;
	m = i % HIST_SUB;
	*lo = (uint64_t)(HIST_SUB + m) << (e - HIST_SUB_BITS);
	*width = UINT64_C(1) << (e - HIST_SUB_BITS);
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0, lo, width, v;

	if (h->count == 0)
		return 0;
	if (q <= 0)
		return h->min;
	/* The rank-th smallest sample, counting from 1. */
	rank = (uint64_t)(q * (double)h->count);
	if ((double)rank < q * (double)h->count)
		rank++;
	if (rank > h->count)
		rank = h->count;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen < rank)
			continue;
		bucket_range(i, &lo, &width);
		v = lo + width / 2;
		if (v > h->max)
			v = h->max;
		if (v < h->min)
			v = h->min;
		return v;
	}
	return h->max;
}
