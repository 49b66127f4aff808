/*
 * blk_storage_rbd.c - a Ceph RBD image as blk storage, through librbd
 * (vio/devices/blk_rbd.h says what it offers and why).
 *
 * The path of one request:
 *
 *   submit()         queue thread: a librbd completion whose argument is
 *                    the request, then rbd_aio_*() on the request's iov
 *                    spans. Nothing is copied and nothing waits.
 *   rbd_complete()   a librbd thread: the result goes into req->res, the
 *                    request is pushed onto its queue's `done` stack, and
 *                    the eventfd is written if the stack was empty.
 *   process()        queue thread, when the eventfd is readable: empties
 *                    the eventfd, takes the whole stack with one atomic
 *                    exchange, and calls done() for each request, oldest
 *                    first.
 *
 * The stack is a Treiber stack that only ever gets pushed onto node by
 * node and emptied whole, so it has no ABA problem: a push's CAS only
 * needs the head it read to still be the head, whatever happened to that
 * node meanwhile. While a request is in flight its priv[0] points to the
 * queue, and once on the stack priv[1] links it to the next one.
 *
 * Built with librbd only (VIO_HAVE_LIBRBD); without it the open call says
 * -ENOTSUP, so the daemon can still link and say why.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vio/devices/blk_rbd.h"

#ifndef VIO_HAVE_LIBRBD

int vio_blk_storage_rbd_open(struct vio_blk_storage *s, const struct vio_blk_rbd_opts *o)
{
	if (!s || !o)
		return -EINVAL;
	vio_logf(o->log, o->log_opaque, VIO_LOG_ERR, "rbd: ",
		 "this libvio was built without librbd (install librbd-dev and rebuild)");
	return -ENOTSUP;
}

#else /* VIO_HAVE_LIBRBD */

#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/uio.h>

#include <rados/librados.h>
#include <rbd/librbd.h>

/*
 * A request's fields, written on the queue thread before rbd_aio_*(), are
 * read in rbd_complete() on a librbd thread: librbd's own locks and queues
 * order the two, but they are not built for ThreadSanitizer, which would
 * call it a race. Under TSan the hand-over is told to it explicitly.
 */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RBD_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define RBD_TSAN 1
#endif
#ifdef RBD_TSAN
#include <sanitizer/tsan_interface.h>
#define rbd_handover_release(p) __tsan_release(p)
#define rbd_handover_acquire(p) __tsan_acquire(p)
#else
#define rbd_handover_release(p) ((void)(p))
#define rbd_handover_acquire(p) ((void)(p))
#endif

/* The request's iov goes to librbd as it is: the two layouts must agree. */
_Static_assert(sizeof(struct vio_iov) == sizeof(struct iovec), "vio_iov is not an iovec");
_Static_assert(offsetof(struct vio_iov, base) == offsetof(struct iovec, iov_base),
	       "vio_iov.base is not iov_base");
_Static_assert(offsetof(struct vio_iov, len) == offsetof(struct iovec, iov_len),
	       "vio_iov.len is not iov_len");

struct rbd_storage {
	rados_t cluster;
	rados_ioctx_t io;
	rbd_image_t image;
	bool read_only;
	vio_log_fn *log;
	void *log_opaque;
};

struct vio_blk_storage_queue {
	struct rbd_storage *rs;
	vio_blk_storage_done_fn *done;
	void *done_opaque;
	int efd;                        /* eventfd: the stack went non-empty */
	/* Finished requests, newest first, linked through priv[1]. Pushed by
	 * librbd's threads, emptied by the queue thread. */
	_Atomic(struct vio_blk_storage_req *) stack;
	/* Callbacks between their push and their last touch of the queue
	 * (the eventfd write): queue_close() waits for none, since once a
	 * request is pushed the device may see it done and close the queue
	 * while its callback is still about to write the eventfd. */
	atomic_uint busy;
	unsigned qi;
};

#define RBD_Q(req) ((struct vio_blk_storage_queue *)(req)->priv[0])
#define RBD_NEXT(req) ((struct vio_blk_storage_req *)(req)->priv[1])

static void rbd_logf(const struct rbd_storage *rs, enum vio_log_level lvl, const char *fmt, ...)
	VIO_PRINTF(3, 4);
static void rbd_logf(const struct rbd_storage *rs, enum vio_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vio_vlogf(rs->log, rs->log_opaque, lvl, "rbd: ", fmt, ap);
	va_end(ap);
}

/* librbd's thread: hand req to its queue's thread. */
static void rbd_complete(rbd_completion_t c, void *arg)
{
	struct vio_blk_storage_req *req = arg;
	struct vio_blk_storage_queue *q;
	ssize_t ret = rbd_aio_get_return_value(c);
	struct vio_blk_storage_req *head;

	rbd_handover_acquire(req);      /* pairs with the release in rbd_start() */
	q = RBD_Q(req);
	/* Before the push; the push's release CAS publishes it to whoever
	 * takes the request, and so to a queue_close() after that. */
	atomic_fetch_add_explicit(&q->busy, 1, memory_order_relaxed);
	rbd_aio_release(c);
	if (ret < 0)
		req->res = ret < -4095 ? -EIO : (int32_t)ret;
	else if (req->op == VIO_BLK_STORAGE_READ && (uint64_t)ret != req->len)
		req->res = -EIO;        /* a short read: never hand back stale bytes as data */
	else
		req->res = 0;
	head = atomic_load_explicit(&q->stack, memory_order_relaxed);
	do
		req->priv[1] = (uintptr_t)head;
	/* release: req->res, priv[1] and the bytes librbd read into the iov
	 * are visible to the queue thread's acquire exchange in process(). */
	while (!atomic_compare_exchange_weak_explicit(&q->stack, &head, req,
						      memory_order_release,
						      memory_order_relaxed));
	/* Only the push that made the stack non-empty wakes the queue thread:
	 * later pushes find a wake-up on its way (or process() already
	 * running, which empties the eventfd before it takes the stack). */
	if (!head) {
		uint64_t one = 1;
		ssize_t w;

		do
			w = write(q->efd, &one, sizeof(one));
		while (w < 0 && errno == EINTR);
		/* EAGAIN only with the counter near 2^64: it is readable anyway. */
	}
	/* release: pairs with queue_close()'s acquire; q is not touched after. */
	atomic_fetch_sub_explicit(&q->busy, 1, memory_order_release);
}

static void rbd_finish_now(struct vio_blk_storage_queue *q, struct vio_blk_storage_req *req,
			   int res)
{
	req->res = res;
	q->done(q->done_opaque, req);
}

static int rbd_start(struct vio_blk_storage_queue *q, struct vio_blk_storage_req *req)
{
	struct rbd_storage *rs = q->rs;
	const struct iovec *iov = (const struct iovec *)(const void *)req->iov;
	rbd_completion_t c;
	int r;

	if (rs->read_only && req->op != VIO_BLK_STORAGE_READ && req->op != VIO_BLK_STORAGE_FLUSH)
		return -EROFS;          /* the device refuses these first; this is the backstop */
	switch (req->op) {
	case VIO_BLK_STORAGE_READ:
	case VIO_BLK_STORAGE_WRITE:
		if (req->iovcnt == 0 || req->iovcnt > IOV_MAX)
			return -EINVAL;
		break;
	case VIO_BLK_STORAGE_FLUSH:
	case VIO_BLK_STORAGE_DISCARD:
		break;
	case VIO_BLK_STORAGE_WRITE_ZEROES:
		if (req->len > SIZE_MAX)
			return -EINVAL;
		break;
	default:
		return -EOPNOTSUPP;
	}
	req->priv[0] = (uintptr_t)q;
	r = rbd_aio_create_completion(req, rbd_complete, &c);
	if (r < 0)
		return r;
	rbd_handover_release(req);
	switch (req->op) {
	case VIO_BLK_STORAGE_READ:
		r = rbd_aio_readv(rs->image, iov, (int)req->iovcnt, req->off, c);
		break;
	case VIO_BLK_STORAGE_WRITE:
		r = rbd_aio_writev(rs->image, iov, (int)req->iovcnt, req->off, c);
		break;
	case VIO_BLK_STORAGE_FLUSH:
		r = rbd_aio_flush(rs->image, c);
		break;
	case VIO_BLK_STORAGE_DISCARD:
		r = rbd_aio_discard(rs->image, req->off, req->len, c);
		break;
	default: /* WRITE_ZEROES: thick unless the driver allowed deallocating */
		r = rbd_aio_write_zeroes(rs->image, req->off, (size_t)req->len, c,
					 req->flags & VIO_BLK_STORAGE_REQ_UNMAP ?
					 0 : RBD_WRITE_ZEROES_FLAG_THICK_PROVISION, 0);
		break;
	}
	if (r < 0)                      /* refused up front: the callback never runs */
		rbd_aio_release(c);
	return r;
}

static void rbd_submit(struct vio_blk_storage_queue *q, struct vio_blk_storage_req *const *reqs,
		       unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct vio_blk_storage_req *req = reqs[i];
		int r;

		/* Zero-length data requests are nothing to ask the cluster
		 * (librbd refuses an empty iov). */
		if ((req->op == VIO_BLK_STORAGE_READ || req->op == VIO_BLK_STORAGE_WRITE ||
		     req->op == VIO_BLK_STORAGE_DISCARD ||
		     req->op == VIO_BLK_STORAGE_WRITE_ZEROES) && req->len == 0) {
			rbd_finish_now(q, req, 0);
			continue;
		}
		r = rbd_start(q, req);
		if (r < 0 && r != -EROFS) {
			rbd_logf(q->rs, VIO_LOG_WARN, "queue %u: op %u at %llu+%llu refused: %s",
				 q->qi, req->op, (unsigned long long)req->off,
				 (unsigned long long)req->len, strerror(-r));
		}
		if (r < 0)
			rbd_finish_now(q, req, r);
	}
}

static void rbd_process(struct vio_blk_storage_queue *q)
{
	struct vio_blk_storage_req *list, *fifo = NULL;
	uint64_t v;

	/* The eventfd first, then the stack: a push after the exchange
	 * writes the eventfd again, so none is left without a wake-up. */
	while (read(q->efd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	/* acquire: pairs with the release CAS in rbd_complete(). */
	list = atomic_exchange_explicit(&q->stack, NULL, memory_order_acquire);
	while (list) {                  /* newest first: reverse it */
		struct vio_blk_storage_req *next = RBD_NEXT(list);

		list->priv[1] = (uintptr_t)fifo;
		fifo = list;
		list = next;
	}
	while (fifo) {
		struct vio_blk_storage_req *next = RBD_NEXT(fifo);

		/* done() may submit again, which reuses priv: read next first. */
		q->done(q->done_opaque, fifo);
		fifo = next;
	}
}

static int rbd_queue_fd(const struct vio_blk_storage_queue *q)
{
	return q->efd;
}

static int rbd_queue_open(struct vio_blk_storage *s, unsigned qi, unsigned depth,
			  vio_blk_storage_done_fn *done, void *done_opaque,
			  struct vio_blk_storage_queue **out)
{
	struct vio_blk_storage_queue *q;

	(void)depth;    /* librbd queues whatever it is given: nothing to size */
	if (!done || !out)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0) {
		int e = -errno;

		free(q);
		return e;
	}
	q->rs = s->opaque;
	q->done = done;
	q->done_opaque = done_opaque;
	q->qi = qi;
	atomic_init(&q->stack, NULL);
	atomic_init(&q->busy, 0);
	*out = q;
	return 0;
}

static void rbd_queue_close(struct vio_blk_storage_queue *q)
{
	if (!q)
		return;
	/* Every request is done, but the callback of the last may still be
	 * on its way out (a few instructions: the eventfd write). */
	while (atomic_load_explicit(&q->busy, memory_order_acquire))
		sched_yield();
	close(q->efd);
	free(q);
}

static void rbd_release(struct rbd_storage *rs)
{
	if (rs->image)
		rbd_close(rs->image);
	if (rs->io)
		rados_ioctx_destroy(rs->io);
	if (rs->cluster)
		rados_shutdown(rs->cluster);
	free(rs);
}

static void rbd_storage_close(struct vio_blk_storage *s)
{
	if (!s || !s->opaque)
		return;
	rbd_release(s->opaque);
	s->opaque = NULL;
}

static const struct vio_blk_storage_ops rbd_ops = {
	.version = VIO_BLK_STORAGE_OPS_VERSION,
	.queue_open = rbd_queue_open,
	.queue_close = rbd_queue_close,
	.submit = rbd_submit,
	.queue_fd = rbd_queue_fd,
	.process = rbd_process,
	.close = rbd_storage_close,
};

static int rbd_set(struct rbd_storage *rs, const char *key, const char *val)
{
	int r = rados_conf_set(rs->cluster, key, val);

	if (r < 0)
		rbd_logf(rs, VIO_LOG_ERR, "cannot set %s=%s: %s", key, val, strerror(-r));
	return r;
}

int vio_blk_storage_rbd_open(struct vio_blk_storage *s, const struct vio_blk_rbd_opts *o)
{
	struct rbd_storage *rs;
	bool ro;
	uint64_t size;
	rbd_image_info_t info;
	char secs[16];
	int timeout, r;

	if (!s || !o || !o->pool || !*o->pool || !o->image || !*o->image)
		return -EINVAL;
	if (o->snapshot && !*o->snapshot)
		return -EINVAL;
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	rs->log = o->log;
	rs->log_opaque = o->log_opaque;
	ro = o->read_only || o->snapshot;
	timeout = o->op_timeout ? o->op_timeout : VIO_BLK_RBD_OP_TIMEOUT_DEFAULT;

	r = rados_create(&rs->cluster, o->id);
	if (r < 0) {
		rs->cluster = NULL;
		rbd_logf(rs, VIO_LOG_ERR, "rados_create(id %s): %s", o->id ? o->id : "admin",
			 strerror(-r));
		goto fail;
	}
	/* With no path librados searches its usual places and fails when it
	 * finds nothing: a cluster can still be named by the environment
	 * (CEPH_ARGS), so only a file the caller named must be read. */
	r = rados_conf_read_file(rs->cluster, o->conf);
	if (r < 0 && o->conf) {
		rbd_logf(rs, VIO_LOG_ERR, "cannot read ceph config %s: %s", o->conf, strerror(-r));
		goto fail;
	}
	r = rados_conf_parse_env(rs->cluster, NULL);
	if (r < 0) {
		rbd_logf(rs, VIO_LOG_ERR, "CEPH_ARGS: %s", strerror(-r));
		goto fail;
	}
	/* The library never prints: librados' own messages stay out of
	 * stderr whatever the config file says. */
	if ((r = rbd_set(rs, "log_to_stderr", "false")) < 0 ||
	    (r = rbd_set(rs, "err_to_stderr", "false")) < 0)
		goto fail;
	if (timeout > 0) {
		snprintf(secs, sizeof(secs), "%d", timeout);
		if ((r = rbd_set(rs, "rados_osd_op_timeout", secs)) < 0 ||
		    (r = rbd_set(rs, "rados_mon_op_timeout", secs)) < 0 ||
		    (r = rbd_set(rs, "client_mount_timeout", secs)) < 0)
			goto fail;
	}
	r = rados_connect(rs->cluster);
	if (r < 0) {
		rbd_logf(rs, VIO_LOG_ERR, "cannot connect to the cluster (%s): %s",
			 o->conf ? o->conf : "default config", strerror(-r));
		goto fail;
	}
	r = rados_ioctx_create(rs->cluster, o->pool, &rs->io);
	if (r < 0) {
		rs->io = NULL;
		rbd_logf(rs, VIO_LOG_ERR, "pool %s: %s", o->pool, strerror(-r));
		goto fail;
	}
	if (ro)
		r = rbd_open_read_only(rs->io, o->image, &rs->image, o->snapshot);
	else
		r = rbd_open(rs->io, o->image, &rs->image, NULL);
	if (r < 0) {
		rs->image = NULL;
		rbd_logf(rs, VIO_LOG_ERR, "image %s/%s%s%s: %s", o->pool, o->image,
			 o->snapshot ? "@" : "", o->snapshot ? o->snapshot : "", strerror(-r));
		goto fail;
	}
	r = rbd_get_size(rs->image, &size);
	if (r < 0) {
		rbd_logf(rs, VIO_LOG_ERR, "image %s/%s: size: %s", o->pool, o->image, strerror(-r));
		goto fail;
	}
	if (size < 512) {
		rbd_logf(rs, VIO_LOG_ERR, "image %s/%s: %llu bytes, less than a sector", o->pool,
			 o->image, (unsigned long long)size);
		r = -EINVAL;
		goto fail;
	}
	memset(s, 0, sizeof(*s));
	/* The object size is what RBD stripes by: requests of that size,
	 * aligned, touch one object each (Linux's rbd driver says the same
	 * as its io_opt). */
	if (rbd_stat(rs->image, &info, sizeof(info)) == 0 && info.obj_size <= UINT32_MAX)
		s->opt_io_size = (uint32_t)info.obj_size;
	s->ops = &rbd_ops;
	s->opaque = rs;
	s->size = size & ~(uint64_t)511;
	s->block_size = 512;
	s->caps = VIO_BLK_STORAGE_CAN_FLUSH | VIO_BLK_STORAGE_CAN_DISCARD |
		  VIO_BLK_STORAGE_CAN_WRITE_ZEROES | VIO_BLK_STORAGE_CAN_UNMAP;
	s->read_only = ro;
	rs->read_only = ro;
	s->name = "rbd";
	return 0;

fail:
	rbd_release(rs);
	return r;
}

#endif /* VIO_HAVE_LIBRBD */
