/*
 * blk_backend.c - libvio's RAM and null storages for the virtio-blk device,
 * on the public storage interface (vio/devices/blk_storage.h), and the
 * opening of every built-in storage (see blk_backend.h).
 *
 * The device (blk.c) validates requests and speaks virtio; a storage only
 * moves bytes. RAM and null need nothing but memory and complete each
 * request inside submit(), so they have no fd and this part builds
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

/* ------------------------------------------------------------------------ */
/* RAM and null: every request completes inside submit()                    */

/* A queue of a storage that completes inline: all it needs is done(). */
struct vio_blk_storage_queue {
	struct vio__blk_backend *be;
	vio_blk_storage_done_fn *done;
	void *done_opaque;
};

static int run_ram(struct vio__blk_backend *be, const struct vio_blk_storage_req *req)
{
	uint8_t *p = be->ram + req->off;

	switch (req->op) {
	case VIO_BLK_STORAGE_READ:
		vio_iov_from_buf(req->iov, req->iovcnt, 0, p, (size_t)req->len);
		break;
	case VIO_BLK_STORAGE_WRITE:
		vio_iov_to_buf(req->iov, req->iovcnt, 0, p, (size_t)req->len);
		break;
	case VIO_BLK_STORAGE_DISCARD:
	case VIO_BLK_STORAGE_WRITE_ZEROES:
		/* Memory cannot be deallocated here, but reading zeroes after a
		 * discard is what a user of a RAM disk expects. */
		memset(p, 0, (size_t)req->len);
		break;
	default:
		break;
	}
	return 0;
}

static int run_null(const struct vio_blk_storage_req *req)
{
	/* Zeroes, not whatever the buffer held: a null disk reads as an
	 * empty one, and a driver's stale data never looks like a result. */
	if (req->op == VIO_BLK_STORAGE_READ)
		for (unsigned i = 0; i < req->iovcnt; i++)
			memset(req->iov[i].base, 0, req->iov[i].len);
	return 0;
}

int vio__blk_backend_run(struct vio__blk_backend *be, const struct vio_blk_storage_req *req,
			 uint64_t done)
{
	/* blk.c checked; this is a second line */
	if (req->off > be->size || req->len > be->size - req->off)
		return -EIO;
	switch (be->type) {
	case VIO_BLK_BACKEND_RAM:
		return run_ram(be, req);
	case VIO_BLK_BACKEND_NULL:
		return run_null(req);
	default:
		return vio__blk_file_run(be, req, done);
	}
}

static int inline_queue_open(struct vio_blk_storage *s, unsigned qi, unsigned depth,
			     vio_blk_storage_done_fn *done, void *done_opaque,
			     struct vio_blk_storage_queue **out)
{
	struct vio__blk_backend *be = s->opaque;
	struct vio_blk_storage_queue *q = vio__zalloc(&be->alloc, 1, sizeof(*q));

	(void)qi;
	(void)depth;
	if (!q)
		return -ENOMEM;
	q->be = be;
	q->done = done;
	q->done_opaque = done_opaque;
	*out = q;
	return 0;
}

static void inline_queue_close(struct vio_blk_storage_queue *q)
{
	if (q)
		vio__zfree(&q->be->alloc, q, 1, sizeof(*q));
}

static void inline_submit(struct vio_blk_storage_queue *q, struct vio_blk_storage_req *const *reqs,
			  unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		reqs[i]->res = vio__blk_backend_run(q->be, reqs[i], 0);
		q->done(q->done_opaque, reqs[i]);
	}
}

void vio__blk_builtin_close(struct vio_blk_storage *s)
{
	struct vio__blk_backend *be = s->opaque;

	if (!be)
		return;
	if (be->ram_owned)
		vio__zfree(&be->alloc, be->ram, 1, (size_t)be->size);
	vio__blk_file_close(be);
	vio__zfree(&be->alloc, be, 1, sizeof(*be));
	s->opaque = NULL;
}

static const struct vio_blk_storage_ops inline_ops = {
	.version = VIO_BLK_STORAGE_OPS_VERSION,
	.queue_open = inline_queue_open,
	.queue_close = inline_queue_close,
	.submit = inline_submit,
	.close = vio__blk_builtin_close,
};

/* ------------------------------------------------------------------------ */
/* Opening                                                                  */

int vio__blk_builtin_open(struct vio_blk_storage *s, const struct vio_blk_dev_opts *o,
			  const struct vio__alloc *alloc)
{
	struct vio__blk_backend *be = vio__zalloc(alloc, 1, sizeof(*be));
	int r;

	memset(s, 0, sizeof(*s));
	if (!be)
		return -ENOMEM;
	be->alloc = *alloc;
	be->fd = -1;
	be->type = o->backend;
	s->opaque = be;
	s->ops = &inline_ops;
	/* RAM and null have no cache to flush: a write is there at once. */
	s->caps = VIO_BLK_STORAGE_CAN_DISCARD | VIO_BLK_STORAGE_CAN_WRITE_ZEROES;
	switch (o->backend) {
	case VIO_BLK_BACKEND_RAM:
		s->name = "ram";
		r = open_ram(be, o);
		break;
	case VIO_BLK_BACKEND_FILE:
		s->name = "file";
		r = vio__blk_file_open(be, o);
#if __STDC_HOSTED__
		s->ops = &vio__blk_file_ops;
#endif
		s->caps |= VIO_BLK_STORAGE_CAN_FLUSH | VIO_BLK_STORAGE_CAN_FUA |
			   VIO_BLK_STORAGE_CAN_UNMAP;
		break;
	case VIO_BLK_BACKEND_NULL:
		s->name = "null";
		r = fixed_size(be, o);
		break;
	default:
		r = -EINVAL;
		break;
	}
	if (r) {
		vio__blk_builtin_close(s);
		memset(s, 0, sizeof(*s));
		return r;
	}
	s->size = be->size;
	s->read_only = o->read_only;
	return 0;
}

bool vio__blk_builtin_uses_uring(const struct vio_blk_storage *s)
{
	const struct vio__blk_backend *be = s->opaque;

	return be && be->type == VIO_BLK_BACKEND_FILE && be->uring_up;
}

int vio__blk_builtin_uring_err(const struct vio_blk_storage *s)
{
	const struct vio__blk_backend *be = s->opaque;

	return be && be->type == VIO_BLK_BACKEND_FILE && be->want_uring ? be->uring_err : 0;
}
