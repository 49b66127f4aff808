/*
 * dev_os.c - the OS under the device types, hosted builds only (see
 * dev_os.h): entropy and a clock for rng, the console's fds, the
 * balloon's madvise and page size, and calloc/free for the control-path
 * memory of blk and balloon when the caller gives no allocator.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "dev_os.h"

/* readv/writev take the spans as they are. */
_Static_assert(sizeof(struct vio_iov) == sizeof(struct iovec) &&
	       offsetof(struct vio_iov, base) == offsetof(struct iovec, iov_base) &&
	       offsetof(struct vio_iov, len) == offsetof(struct iovec, iov_len),
	       "struct vio_iov must match struct iovec");
_Static_assert(VIO_CONSOLE_DEV_SPANS <= IOV_MAX, "spans go to readv/writev in one call");

ssize_t vio__os_random(void *opaque, void *buf, size_t len)
{
	ssize_t n = getrandom(buf, len, 0);

	(void)opaque;
	return n < 0 ? -errno : n;
}

uint64_t vio__os_clock_ns(void *opaque)
{
	struct timespec ts;

	(void)opaque;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void *vio__os_alloc(void *opaque, size_t size)
{
	(void)opaque;
	return calloc(1, size);
}

void vio__os_free(void *opaque, void *p, size_t size)
{
	(void)opaque;
	(void)size;
	free(p);
}

int vio__os_console_fds(int in_fd, int out_fd, bool *out_is_socket)
{
	struct stat st;

	*out_is_socket = false;
	if (in_fd >= 0) {
		int fl = fcntl(in_fd, F_GETFL);

		if (fl < 0)
			return -EBADF;
		if (!(fl & O_NONBLOCK))
			return -EINVAL;
	}
	if (out_fd >= 0) {
		if (fstat(out_fd, &st) < 0)
			return -EBADF;
		*out_is_socket = S_ISSOCK(st.st_mode);
	}
	return 0;
}

ssize_t vio__os_readv(int fd, const struct vio_iov *iov, unsigned n)
{
	ssize_t r = readv(fd, (const struct iovec *)iov, (int)n);

	return r < 0 ? -errno : r;
}

ssize_t vio__os_writev(int fd, bool is_socket, const struct vio_iov *iov, unsigned n)
{
	ssize_t r;

	if (is_socket) {
		struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = n };

		r = sendmsg(fd, &m, MSG_NOSIGNAL);
	} else {
		r = writev(fd, (const struct iovec *)iov, (int)n);
	}
	return r < 0 ? -errno : r;
}

int vio__os_release(void *p, size_t len)
{
	return madvise(p, len, MADV_DONTNEED) == 0 ? 0 : -errno;
}

size_t vio__os_page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (size_t)ps : 4096;
}
