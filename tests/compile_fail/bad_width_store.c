/*
 * bad_width_store.c - a 32-bit wire value stored into a 16-bit wire field.
 * Built as-is this must not compile; with -DVIO_CF_FIXED, where the marked
 * line goes through the accessors, it must.
 */
#include "vio/spec.h"

uint32_t vio_cf_case(struct vio_split_desc *d);

uint32_t vio_cf_case(struct vio_split_desc *d)
{
#ifdef VIO_CF_FIXED
	d->flags = vio_set16(false, 1);
#else
	d->flags = vio_set32(false, 1); /* expect-error */
#endif
	return 0;
}
