/*
 * bad_flag_test.c - a flag tested with & on a wire field.
 * Built as-is this must not compile; with -DVIO_CF_FIXED, where the marked
 * line goes through the accessors, it must.
 */
#include "vio/spec.h"

uint32_t vio_cf_case(const struct vio_split_desc *d);

uint32_t vio_cf_case(const struct vio_split_desc *d)
{
#ifdef VIO_CF_FIXED
	return (vio_get16(false, d->flags) & VIO_DESC_F_NEXT) != 0;
#else
	return (d->flags & VIO_DESC_F_NEXT) != 0; /* expect-error */
#endif
}
