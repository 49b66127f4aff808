/*
 * bad_cast.c - a cast does not unwrap a wire value either.
 * Built as-is this must not compile; with -DVIO_CF_FIXED, where the marked
 * line goes through the accessors, it must.
 */
#include "vio/spec.h"

uint32_t vio_cf_case(vio_le16 a);

uint32_t vio_cf_case(vio_le16 a)
{
#ifdef VIO_CF_FIXED
	return vio_get16(false, a);
#else
	return (uint16_t)a; /* expect-error */
#endif
}
