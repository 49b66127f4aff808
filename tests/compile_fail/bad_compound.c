/*
 * bad_compound.c - a flag set with |= on a wire field.
 * Built as-is this must not compile; with -DVIO_CF_FIXED, where the marked
 * line goes through the accessors, it must.
 */
#include "vio/spec.h"

uint32_t vio_cf_case(struct vio_split_desc *d);

uint32_t vio_cf_case(struct vio_split_desc *d)
{
#ifdef VIO_CF_FIXED
	d->flags = vio_set16(false, vio_get16(false, d->flags) | VIO_DESC_F_NEXT);
#else
	d->flags |= VIO_DESC_F_NEXT; /* expect-error */
#endif
	return 0;
}
