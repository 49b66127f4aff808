/*
 * blk_backend.c - RAM and null storage for the virtio-blk device, and the
 * backend calls blk.c makes (see blk_backend.h).
 *
 * The device (blk.c) validates requests and speaks virtio; this file only
 * moves bytes. RAM and null need nothing but memory, so this part builds
 * freestanding; a file (preadv/pwritev2, fallocate, io_uring) is the OS's
 * and lives in blk_backend_file.c, which a freestanding build leaves out.
 */
#include <stddef.h>

#include "blk_backend.h"

/* ------------------------------------------------------------------------ */
/* Opening                                                                  */

/* A size for RAM and NULL: given, at least a sector, whole sectors. */
static int fixed_size(struct vio__blk_backend *be, const struct vio_blk_dev_opts *o)
{
	if (o->size < VIO_BLK_SECTOR_SIZE || o->size > SIZE_MAX)
		return -EINVAL;
	be->size = o->size & ~(uint64_t)(VIO_BLK_SECTOR_SIZE - 1);
	return 0;
}

static int open_ram(struct vio__blk_backend *be, const struct vio_blk_dev_opts *o)
{
	int r = fixed_size(be, o);

	if (r)
		return r;
	if (o->ram) {
		be->ram = o->ram;
		return 0;
	}
	be->ram = vio__zalloc(&be->alloc, 1, (size_t)be->size);
	if (!be->ram)
		return -ENOMEM;
	be->ram_owned = true;
	return 0;
}

int vio__blk_backend_open(struct vio__blk_backend **out, const struct vio_blk_dev_opts *o,
			  const struct vio__alloc *alloc)
{
	struct vio__blk_backend *be = vio__zalloc(alloc, 1, sizeof(*be));
	int r;

	*out = NULL;
	if (!be)
		return -ENOMEM;
	be->alloc = *alloc;
	be->fd = -1;
	be->type = o->backend;
	switch (o->backend) {
	case VIO_BLK_BACKEND_RAM:
		r = open_ram(be, o);
		break;
	case VIO_BLK_BACKEND_FILE:
		r = vio__blk_file_open(be, o);
		break;
	case VIO_BLK_BACKEND_NULL:
		r = fixed_size(be, o);
		break;
	default:
		r = -EINVAL;
		break;
	}
	if (r) {
		vio__blk_backend_close(be);
		return r;
	}
	*out = be;
	return 0;
}

void vio__blk_backend_close(struct vio__blk_backend *be)
{
	if (!be)
		return;
	if (be->ram_owned)
		vio__zfree(&be->alloc, be->ram, 1, (size_t)be->size);
	vio__blk_file_close(be);
	vio__zfree(&be->alloc, be, 1, sizeof(*be));
}

bool vio__blk_backend_can_unmap(const struct vio__blk_backend *be)
{
	return be->type == VIO_BLK_BACKEND_FILE;
}

/* ------------------------------------------------------------------------ */
/* Synchronous operations                                                   */

/* Drops n bytes from the front of io's spans and moves its offset on. */
void vio__blk_io_advance(struct vio__blk_io *io, uint64_t n)
{
	io->off += n;
	io->len -= n;
	while (io->iovcnt && (n || io->iov->len == 0)) {
		size_t step = n < io->iov->len ? (size_t)n : io->iov->len;

		io->iov->base = (uint8_t *)io->iov->base + step;
		io->iov->len -= step;
		n -= step;
		if (io->iov->len == 0) {
			io->iov++;
			io->iovcnt--;
		}
	}
}

static int run_ram(struct vio__blk_backend *be, struct vio__blk_io *io)
{
	uint8_t *p = be->ram + io->off;

	switch (io->op) {
	case VIO__BLK_READ:
		vio_iov_from_buf(io->iov, io->iovcnt, 0, p, (size_t)io->len);
		break;
	case VIO__BLK_WRITE:
		vio_iov_to_buf(io->iov, io->iovcnt, 0, p, (size_t)io->len);
		break;
	case VIO__BLK_DISCARD:
	case VIO__BLK_ZEROES:
		/* Memory cannot be deallocated here, but reading zeroes after a
		 * discard is what a user of a RAM disk expects. */
		memset(p, 0, (size_t)io->len);
		break;
	case VIO__BLK_FLUSH:
		break;
	}
	return 0;
}

static int run_null(struct vio__blk_io *io)
{
	/* Zeroes, not whatever the buffer held: a null disk reads as an
	 * empty one, and a driver's stale data never looks like a result. */
	if (io->op == VIO__BLK_READ)
		for (unsigned i = 0; i < io->iovcnt; i++)
			memset(io->iov[i].base, 0, io->iov[i].len);
	return 0;
}

void vio__blk_backend_run(struct vio__blk_backend *be, struct vio__blk_io *io)
{
	if (io->off > be->size || io->len > be->size - io->off) {
		io->res = -EIO; /* blk.c checked; this is a second line */
		return;
	}
	switch (be->type) {
	case VIO_BLK_BACKEND_RAM:
		io->res = run_ram(be, io);
		break;
	case VIO_BLK_BACKEND_NULL:
		io->res = run_null(io);
		break;
	default:
		io->res = vio__blk_file_run(be, io);
		break;
	}
}

