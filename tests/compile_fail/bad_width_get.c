/*
 * bad_width_get.c - a 32-bit wire field read with the 16-bit accessor.
 * Built as-is this must not compile; with -DVIO_CF_FIXED, where the marked
 * line goes through the accessors, it must.
 */
#include "vio/spec.h"

uint32_t vio_cf_case(const struct vio_split_desc *d);

uint32_t vio_cf_case(const struct vio_split_desc *d)
{
#ifdef VIO_CF_FIXED
	return vio_get32(false, d->len);
#else
	return vio_get16(false, d->len); /* expect-error */
#endif
}
