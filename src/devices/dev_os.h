/*
 * dev_os.h - what the device types ask of the operating system (private
 * to src/devices/).
 *
 * The device types (rng.c, console.c, balloon.c, blk.c) are written
 * against the device model and build freestanding. The few things they
 * take from the OS by default are declared here and live in dev_os.c (and
 * blk_backend_file.c for files and io_uring), which only a hosted build
 * compiles:
 *
 *   rng      entropy (getrandom) and a clock (CLOCK_MONOTONIC), each used
 *            when the caller gives none;
 *   console  reading and writing its fds;
 *   balloon  a lock (pthread), giving pages back (madvise) and the host's
 *            page size;
 *   blk, balloon  control-path memory (calloc/free) when the caller gives
 *            no allocator.
 *
 * A freestanding build (__STDC_HOSTED__ == 0) has none of it: the
 * defaults are NULL, so an init without the caller's source, clock or
 * allocator fails with -EINVAL; the console has no fds (any fd is
 * -EBADF); the balloon records pages without giving memory back, assumes
 * 4 KiB host pages, and locks with a spinlock.
 */
#ifndef VIO_SRC_DEVICES_DEV_OS_H
#define VIO_SRC_DEVICES_DEV_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vio/devices.h"

#include "../vio_libc.h"

#if __STDC_HOSTED__

ssize_t vio__os_random(void *opaque, void *buf, size_t len);
uint64_t vio__os_clock_ns(void *opaque);
#define VIO__OS_RANDOM   vio__os_random
#define VIO__OS_CLOCK    vio__os_clock_ns

void *vio__os_alloc(void *opaque, size_t size);
void vio__os_free(void *opaque, void *p, size_t size);
#define VIO__OS_ALLOC    vio__os_alloc
#define VIO__OS_FREE     vio__os_free

/* The in_fd must be open and O_NONBLOCK, the out_fd open: 0, -EBADF or
 * -EINVAL. *out_is_socket says whether writes go through sendmsg. */
int vio__os_console_fds(int in_fd, int out_fd, bool *out_is_socket);
/* readv/writev (sendmsg with MSG_NOSIGNAL on a socket): bytes moved, or
 * a negative errno. */
ssize_t vio__os_readv(int fd, const struct vio_iov *iov, unsigned n);
ssize_t vio__os_writev(int fd, bool is_socket, const struct vio_iov *iov, unsigned n);

/* Memory the balloon took can go back to the host. */
#define VIO__OS_CAN_RELEASE 1
/* madvise(MADV_DONTNEED): 0 or a negative errno. */
int vio__os_release(void *p, size_t len);
size_t vio__os_page_size(void);

/* The balloon's lock (vio__balloon_lock in vio/devices/balloon.h). */
static inline void vio__lock_init(vio__balloon_lock *l)
{
	pthread_mutex_init(l, NULL);
}

static inline void vio__lock_destroy(vio__balloon_lock *l)
{
	pthread_mutex_destroy(l);
}

static inline void vio__lock(vio__balloon_lock *l)
{
	pthread_mutex_lock(l);
}

static inline void vio__unlock(vio__balloon_lock *l)
{
	pthread_mutex_unlock(l);
}

#else /* freestanding: no OS under the device types */

#define VIO__OS_RANDOM   NULL
#define VIO__OS_CLOCK    NULL
#define VIO__OS_ALLOC    NULL
#define VIO__OS_FREE     NULL

static inline int vio__os_console_fds(int in_fd, int out_fd, bool *out_is_socket)
{
	*out_is_socket = false;
	return in_fd >= 0 || out_fd >= 0 ? -EBADF : 0;
}

static inline ssize_t vio__os_readv(int fd, const struct vio_iov *iov, unsigned n)
{
	return -ENOSYS;
}

static inline ssize_t vio__os_writev(int fd, bool is_socket, const struct vio_iov *iov, unsigned n)
{
	return -ENOSYS;
}

#define VIO__OS_CAN_RELEASE 0

static inline int vio__os_release(void *p, size_t len)
{
	return -ENOSYS;
}

static inline size_t vio__os_page_size(void)
{
	return 4096;
}

/* Nothing to sleep on: spin. The balloon holds it only while it walks a
 * buffer of frame numbers or answers a getter. */
static inline void vio__lock_init(vio__balloon_lock *l)
{
	__atomic_store_n(&l->held, 0, __ATOMIC_RELAXED);
}

static inline void vio__lock_destroy(vio__balloon_lock *l)
{
}

static inline void vio__lock(vio__balloon_lock *l)
{
	/* Pairs with the release in vio__unlock(). */
	while (__atomic_exchange_n(&l->held, 1, __ATOMIC_ACQUIRE)) {
		while (__atomic_load_n(&l->held, __ATOMIC_RELAXED)) {
#if defined(__x86_64__) || defined(__i386__)
			__builtin_ia32_pause();
#endif
		}
	}
}

static inline void vio__unlock(vio__balloon_lock *l)
{
	__atomic_store_n(&l->held, 0, __ATOMIC_RELEASE);
}

#endif /* __STDC_HOSTED__ */

/*
 * Picks the caller's allocator (both hooks given) or the OS's: false when
 * the caller gave one hook without the other, or none in a freestanding
 * build.
 */
static inline bool vio__alloc_pick(struct vio__alloc *a, void *(*alloc)(void *, size_t),
				   void (*free_fn)(void *, void *, size_t), void *opaque)
{
	if (!alloc != !free_fn)
		return false;
	a->alloc = alloc ? alloc : VIO__OS_ALLOC;
	a->free = alloc ? free_fn : VIO__OS_FREE;
	a->opaque = alloc ? opaque : NULL;
	a->zeroed = !alloc;
	return a->alloc && a->free;
}

/* n zeroed elements of size bytes, or NULL (also when n * size overflows). */
static inline void *vio__zalloc(const struct vio__alloc *a, size_t n, size_t size)
{
	size_t bytes;
	void *p;

	if (__builtin_mul_overflow(n, size, &bytes) || bytes == 0)
		return NULL;
	p = a->alloc(a->opaque, bytes);
	/* calloc's memory is zero already, and a RAM disk's stays untouched
	 * (and uncommitted) until used. */
	if (p && !a->zeroed)
		memset(p, 0, bytes);
	return p;
}

/* Gives back what vio__zalloc(a, n, size) returned; NULL is fine. */
static inline void vio__zfree(const struct vio__alloc *a, void *p, size_t n, size_t size)
{
	if (p)
		a->free(a->opaque, p, n * size);
}

#endif /* VIO_SRC_DEVICES_DEV_OS_H */
