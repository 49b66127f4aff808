/*
 * heap.h - the private allocator test buses use (vio_bus_init wants one):
 * plain calloc/free, in one place instead of a copy per test program.
 */
#ifndef VT_HEAP_H
#define VT_HEAP_H

#include <stdlib.h>

static inline void *vt_heap_alloc(void *opaque, size_t n)
{
	(void)opaque;
	return calloc(1, n);
}

static inline void vt_heap_free(void *opaque, void *p, size_t n)
{
	(void)opaque;
	(void)n;
	free(p);
}

#endif
