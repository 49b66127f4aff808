/*
 * inflight_log.c - what the split and packed inflight logs share:
 * attaching a region to a queue, stopping the queue on a log that makes
 * no sense, and ordering the recovered chains by their pop counters.
 * The layouts' own rules are in inflight_split.c and inflight_packed.c;
 * the module as a whole is described in inflight_log.h.
 */
#include <stddef.h>

#include "inflight_log.h"

_Static_assert(offsetof(struct vio_inflight_split_desc, counter) == 8, "counter offset");
_Static_assert(offsetof(struct vio_inflight_packed_desc, counter) == 8, "counter offset");

int vio__ilog_attach(struct vio_devq *q, const struct vio_devq_config *cfg, size_t header,
		     size_t entry)
{
	struct vio__devq_log *log = &q->log_state;

	if (!cfg->inflight_scratch || (uintptr_t)cfg->inflight % 8 ||
	    cfg->inflight_len < header + entry * (size_t)q->size)
		return -EINVAL;
	*log = (struct vio__devq_log){
		.region = cfg->inflight,
		.order = cfg->inflight_scratch,
		.chain_of = cfg->inflight_scratch + q->size,
	};
	q->log = log;
	return 0;
}

int vio__ilog_bad(struct vio_devq *q, const char *why)
{
	dev_fail(q, -EIO, why);
	return 0;
}

uint64_t vio__ilog_counter(const void *entries, size_t stride, uint16_t h)
{
	uint64_t c;

	memcpy(&c, (const uint8_t *)entries + (size_t)h * stride + 8, sizeof(c));
	return c;
}

/* Heapsort: bounded and in place, whatever the counters say. */
static void sort_by_counter(uint16_t *heads, uint32_t n, const void *entries, size_t stride)
{
	for (uint32_t end = n, start = n / 2; end > 1;) {
		uint32_t root, child;
		uint16_t tmp;

		if (start > 0) {
			start--;
		} else {
			end--;
			tmp = heads[0];
			heads[0] = heads[end];
			heads[end] = tmp;
		}
		for (root = start; (child = 2 * root + 1) < end; root = child) {
			if (child + 1 < end && vio__ilog_counter(entries, stride, heads[child]) <
					       vio__ilog_counter(entries, stride, heads[child + 1]))
				child++;
			if (vio__ilog_counter(entries, stride, heads[root]) >=
			    vio__ilog_counter(entries, stride, heads[child]))
				break;
			tmp = heads[root];
			heads[root] = heads[child];
			heads[child] = tmp;
		}
	}
}

bool vio__ilog_sort_heads(uint16_t *heads, uint32_t n, const void *entries, size_t stride)
{
	sort_by_counter(heads, n, entries, stride);
	for (uint32_t k = 1; k < n; k++)
		if (vio__ilog_counter(entries, stride, heads[k - 1]) >=
		    vio__ilog_counter(entries, stride, heads[k]))
			return false;
	return true;
}
