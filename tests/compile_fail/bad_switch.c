/*
 * bad_switch.c - a switch on a wire field.
 * Built as-is this must not compile; with -DVIO_CF_FIXED, where the marked
 * line goes through the accessors, it must.
 */
#include "vio/spec.h"

uint32_t vio_cf_case(const struct vio_split_desc *d);

uint32_t vio_cf_case(const struct vio_split_desc *d)
{
#ifdef VIO_CF_FIXED
	switch (vio_get16(false, d->flags)) {
#else
	switch (d->flags) { /* expect-error */
#endif
	case 0:
		return 0;
	default:
		return 1;
	}
}
