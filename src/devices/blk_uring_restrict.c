/*
 * blk_uring_restrict.c - the block device's io_uring rings, restricted to
 * the operations it submits.
 *
 * A ring's operations run in the kernel without passing through seccomp:
 * a daemon whose filter forbids openat could still open files with
 * IORING_OP_OPENAT on a ring it holds. So each ring is created disabled
 * (IORING_SETUP_R_DISABLED), told which submissions it may ever take
 * (IORING_REGISTER_RESTRICTIONS: the opcodes blk_backend_file.c prepares,
 * and no SQE flags), and only then enabled
 * (IORING_REGISTER_ENABLE_RINGS). Restrictions cannot be changed or lifted
 * afterwards; a submission outside them completes with -EACCES. Add an
 * opcode here when the file backend starts submitting it.
 */
#ifdef VIO_HAVE_LIBURING

#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "blk_uring_restrict.h"

int vio__blk_uring_init(unsigned depth, struct io_uring *ring)
{
	static const unsigned char ops[] = { IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC };
	/* Registrations after enabling: an eventfd for completions, if the
	 * backend wants one; nothing else (no files, buffers or
	 * personalities can be added to the ring later). */
	static const unsigned char regs[] = { IORING_REGISTER_EVENTFD,
					      IORING_REGISTER_EVENTFD_ASYNC,
					      IORING_UNREGISTER_EVENTFD };
	struct io_uring_restriction res[sizeof(ops) + sizeof(regs) + 1];
	struct io_uring_params p;
	unsigned n = 0;
	int r;

	memset(res, 0, sizeof(res));
	for (unsigned i = 0; i < sizeof(ops); i++) {
		res[n].opcode = IORING_RESTRICTION_SQE_OP;
		res[n++].sqe_op = ops[i];
	}
	for (unsigned i = 0; i < sizeof(regs); i++) {
		res[n].opcode = IORING_RESTRICTION_REGISTER_OP;
		res[n++].register_op = regs[i];
	}
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	res[n++].sqe_flags = 0;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_R_DISABLED;
	r = io_uring_queue_init_params(depth, ring, &p);
	if (r < 0)
		return r;
	/* The system call itself: Debian 12's liburing 2.3 declares
	 * io_uring_register_restrictions() and io_uring_enable_rings() but
	 * its shared library does not export them. */
	r = (int)syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_RESTRICTIONS, res, n);
	if (r == 0)
		r = (int)syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_ENABLE_RINGS,
				 NULL, 0);
	if (r < 0) {
		r = -errno;
		io_uring_queue_exit(ring);
		return r;
	}
	return 0;
}

#else
/* Without liburing there are no rings to restrict. */
typedef int vio__blk_uring_restrict_unused;
#endif
