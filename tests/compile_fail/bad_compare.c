/*
 * bad_compare.c - two wire values compared with ==.
 * Built as-is this must not compile; with -DVIO_CF_FIXED, where the marked
 * line goes through the accessors, it must.
 */
#include "vio/spec.h"

uint32_t vio_cf_case(vio_le32 a, vio_le32 b);

uint32_t vio_cf_case(vio_le32 a, vio_le32 b)
{
#ifdef VIO_CF_FIXED
	return vio_get32(false, a) == vio_get32(false, b);
#else
	return a == b; /* expect-error */
#endif
}
