/*
 * bad_assign_field.c - a host uint16_t stored straight into a vio_le32 field.
 * Built as-is this must not compile; with -DVIO_CF_FIXED, where the marked
 * line goes through the accessors, it must.
 */
#include "vio/spec.h"

uint32_t vio_cf_case(struct vio_split_desc *d, uint16_t v);

uint32_t vio_cf_case(struct vio_split_desc *d, uint16_t v)
{
#ifdef VIO_CF_FIXED
	d->len = vio_set32(false, v);
#else
	d->len = v; /* expect-error */
#endif
	return 0;
}
