/*
 * bad_raw_to_get.c - a host integer passed where a wire value is expected.
 * Built as-is this must not compile; with -DVIO_CF_FIXED, where the marked
 * line goes through the accessors, it must.
 */
#include "vio/spec.h"

uint32_t vio_cf_case(uint64_t v);

uint32_t vio_cf_case(uint64_t v)
{
#ifdef VIO_CF_FIXED
	return (uint32_t)vio_get64(false, vio_set64(false, v));
#else
	return (uint32_t)vio_get64(false, v); /* expect-error */
#endif
}
