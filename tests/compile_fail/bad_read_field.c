/*
 * bad_read_field.c - a wire field read into a host integer without vio_get32().
 * Built as-is this must not compile; with -DVIO_CF_FIXED, where the marked
 * line goes through the accessors, it must.
 */
#include "vio/spec.h"

uint32_t vio_cf_case(const struct vio_split_desc *d);

uint32_t vio_cf_case(const struct vio_split_desc *d)
{
	uint32_t len;

#ifdef VIO_CF_FIXED
	len = vio_get32(false, d->len);
#else
	len = d->len; /* expect-error */
#endif
	return len;
}
