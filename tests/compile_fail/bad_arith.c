/*
 * bad_arith.c - arithmetic on a wire value (`a + 1` on a vio_le16).
 * Built as-is this must not compile; with -DVIO_CF_FIXED, where the marked
 * line goes through the accessors, it must.
 */
#include "vio/spec.h"

uint32_t vio_cf_case(vio_le16 a);

uint32_t vio_cf_case(vio_le16 a)
{
#ifdef VIO_CF_FIXED
	return vio_get16(false, a) + 1u;
#else
	return a + 1; /* expect-error */
#endif
}
