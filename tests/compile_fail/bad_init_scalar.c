/*
 * bad_init_scalar.c - a wire variable initialised from a plain integer.
 * Built as-is this must not compile; with -DVIO_CF_FIXED, where the marked
 * line goes through the accessors, it must.
 */
#include "vio/spec.h"

uint32_t vio_cf_case(uint32_t v);

uint32_t vio_cf_case(uint32_t v)
{
#ifdef VIO_CF_FIXED
	vio_le32 x = vio_set32(false, v);
#else
	vio_le32 x = v; /* expect-error */
#endif

	return vio_get32(false, x);
}
