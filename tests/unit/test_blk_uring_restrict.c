/*
 * test_blk_uring_restrict.c - the block device's io_uring rings take only
 * what the device submits (src/devices/blk_uring_restrict.c).
 *
 * A ring from vio__blk_uring_init() over a memfd: readv, writev and fsync
 * complete as usual; every other opcode tried here (nop, openat, read,
 * write, close, the socket calls) and any SQE flag completes with -EACCES
 * instead of running, and registrations other than an eventfd are
 * refused. A ring from plain io_uring_queue_init() takes the same
 * submissions, which shows the refusals come from the restrictions.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "blk_uring_restrict.h"

/* One submission, its completion's result. */
static int run_one(struct io_uring *ring, void (*prep)(struct io_uring_sqe *, int), int fd)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int r;

	assert_non_null(sqe);
	prep(sqe, fd);
	assert_int_equal(io_uring_submit(ring), 1);
	assert_int_equal(io_uring_wait_cqe(ring, &cqe), 0);
	r = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return r;
}

static char buf[512];
static struct iovec iov = { buf, sizeof(buf) };

static void p_readv(struct io_uring_sqe *s, int fd) { io_uring_prep_readv(s, fd, &iov, 1, 0); }
static void p_writev(struct io_uring_sqe *s, int fd) { io_uring_prep_writev(s, fd, &iov, 1, 0); }
static void p_fsync(struct io_uring_sqe *s, int fd) { io_uring_prep_fsync(s, fd, IORING_FSYNC_DATASYNC); }
static void p_nop(struct io_uring_sqe *s, int fd) { (void)fd; io_uring_prep_nop(s); }
static void p_openat(struct io_uring_sqe *s, int fd)
{
	(void)fd;
	io_uring_prep_openat(s, AT_FDCWD, "/", O_RDONLY | O_DIRECTORY, 0);
}
static void p_read(struct io_uring_sqe *s, int fd) { io_uring_prep_read(s, fd, buf, sizeof(buf), 0); }
static void p_write(struct io_uring_sqe *s, int fd) { io_uring_prep_write(s, fd, buf, sizeof(buf), 0); }
static void p_close(struct io_uring_sqe *s, int fd) { (void)fd; io_uring_prep_close(s, 1000); }
static void p_socket(struct io_uring_sqe *s, int fd)
{
	(void)fd;
	io_uring_prep_socket(s, AF_UNIX, SOCK_STREAM, 0, 0);
}
static void p_readv_async(struct io_uring_sqe *s, int fd)
{
	io_uring_prep_readv(s, fd, &iov, 1, 0);
	s->flags |= IOSQE_ASYNC;
}

static int make_file(void)
{
	int fd = memfd_create("blk-uring-test", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	return fd;
}

static void allowed_ops_run(void **state)
{
	struct io_uring ring;
	int fd = make_file();

	(void)state;
	assert_int_equal(vio__blk_uring_init(8, &ring), 0);
	memset(buf, 0xab, sizeof(buf));
	assert_int_equal(run_one(&ring, p_writev, fd), (int)sizeof(buf));
	memset(buf, 0, sizeof(buf));
	assert_int_equal(run_one(&ring, p_readv, fd), (int)sizeof(buf));
	assert_int_equal((unsigned char)buf[0], 0xab);
	assert_int_equal(run_one(&ring, p_fsync, fd), 0);
	io_uring_queue_exit(&ring);
	close(fd);
}

static void (*const refused[])(struct io_uring_sqe *, int) = {
	p_nop, p_openat, p_read, p_write, p_close, p_socket, p_readv_async,
};

static void other_ops_refused(void **state)
{
	struct io_uring ring;
	int fd = make_file();

	(void)state;
	assert_int_equal(vio__blk_uring_init(8, &ring), 0);
	for (unsigned i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		int r = run_one(&ring, refused[i], fd);

		if (r != -EACCES)
			fail_msg("case %u: result %d, want -EACCES", i, r);
	}
	io_uring_queue_exit(&ring);
	close(fd);
}

/* The same submissions on an unrestricted ring do run (or fail for
 * reasons of their own, never with EACCES). */
static void unrestricted_ring_runs_them(void **state)
{
	struct io_uring ring;
	int fd = make_file();

	(void)state;
	assert_int_equal(io_uring_queue_init(8, &ring, 0), 0);
	for (unsigned i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		int r = run_one(&ring, refused[i], fd);

		if (r == -EACCES)
			fail_msg("case %u: -EACCES on an unrestricted ring", i);
		if (refused[i] == p_openat || refused[i] == p_socket)
			close(r);
	}
	io_uring_queue_exit(&ring);
	close(fd);
}

static void registrations(void **state)
{
	struct io_uring ring;
	int fd = make_file(), efd = eventfd(0, EFD_CLOEXEC);

	(void)state;
	assert_true(efd >= 0);
	assert_int_equal(vio__blk_uring_init(8, &ring), 0);
	assert_int_equal(io_uring_register_files(&ring, &fd, 1), -EACCES);
	assert_int_equal(io_uring_register_buffers(&ring, &iov, 1), -EACCES);
	assert_int_equal(io_uring_register_eventfd(&ring, efd), 0);
	assert_int_equal(io_uring_unregister_eventfd(&ring), 0);
	io_uring_queue_exit(&ring);
	close(efd);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(allowed_ops_run),
		cmocka_unit_test(other_ops_refused),
		cmocka_unit_test(unrestricted_ring_runs_them),
		cmocka_unit_test(registrations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
