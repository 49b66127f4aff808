/*
 * vio_libc.h - the C library as libvio's freestanding layers see it
 * (private to src/).
 *
 * spec, mem, ring, core, the drivers and the device types (without their
 * OS backends) use nothing of libc but memcpy, memmove and memset, which
 * every freestanding C environment has to provide anyway (compilers emit
 * calls to them for struct copies). Errno values come from vio/spec.h,
 * included here for that.
 *
 * A hosted build gets the declarations from <string.h>. A freestanding
 * one (-ffreestanding, where <string.h> may not exist) declares them here
 * and routes them through the compiler's builtins, so that small copies of
 * a known size are still inlined rather than called (-ffreestanding turns
 * that off for the plain names).
 *
 * Included by relative path ("../vio_libc.h"), so every target that
 * compiles these sources finds it without an extra include directory.
 */
#ifndef VIO_SRC_LIBC_H
#define VIO_SRC_LIBC_H

#include <stddef.h>

#include "vio/spec.h" /* errno values (and ssize_t) */

#if __STDC_HOSTED__
#include <string.h>
#else
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
#define memcpy(d, s, n)  __builtin_memcpy((d), (s), (n))
#define memmove(d, s, n) __builtin_memmove((d), (s), (n))
#define memset(d, c, n)  __builtin_memset((d), (c), (n))
#endif

#endif /* VIO_SRC_LIBC_H */
