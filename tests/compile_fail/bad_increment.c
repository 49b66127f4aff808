/*
 * bad_increment.c - a wire index bumped with ++.
 * Built as-is this must not compile; with -DVIO_CF_FIXED, where the marked
 * line goes through the accessors, it must.
 */
#include "vio/spec.h"

uint32_t vio_cf_case(struct vio_split_avail *a);

uint32_t vio_cf_case(struct vio_split_avail *a)
{
#ifdef VIO_CF_FIXED
	a->idx = vio_set16(false, (uint16_t)(vio_get16(false, a->idx) + 1));
#else
	a->idx++; /* expect-error */
#endif
	return 0;
}
