/*
 * bad_condition.c - a wire value used as a condition.
 * Built as-is this must not compile; with -DVIO_CF_FIXED, where the marked
 * line goes through the accessors, it must.
 */
#include "vio/spec.h"

uint32_t vio_cf_case(const struct vio_split_used *u);

uint32_t vio_cf_case(const struct vio_split_used *u)
{
#ifdef VIO_CF_FIXED
	if (vio_get16(false, u->idx))
#else
	if (u->idx) /* expect-error */
#endif
		return 1;
	return 0;
}
