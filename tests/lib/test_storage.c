/*
 * test_storage.c - the storage whose completions a test controls (see
 * test_storage.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "test_storage.h"

static void signal_fd(int fd)
{
	uint64_t one = 1;

	while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* The data part of a request, on the RAM. */
static int run(struct ts *ts, struct vio_blk_storage_req *r)
{
	uint8_t *p = ts->ram + r->off;

	if (r->off > ts->s.size || r->len > ts->s.size - r->off)
		return -EIO;
	if (ts->fail_op == r->op)
		return ts->fail_res;
	switch (r->op) {
	case VIO_BLK_STORAGE_READ:
		vio_iov_from_buf(r->iov, r->iovcnt, 0, p, (size_t)r->len);
		break;
	case VIO_BLK_STORAGE_WRITE:
		vio_iov_to_buf(r->iov, r->iovcnt, 0, p, (size_t)r->len);
		break;
	case VIO_BLK_STORAGE_DISCARD:
	case VIO_BLK_STORAGE_WRITE_ZEROES:
		memset(p, 0, (size_t)r->len);
		break;
	default:
		break;
	}
	return 0;
}

static int q_open(struct vio_blk_storage *s, unsigned qi, unsigned depth,
		  vio_blk_storage_done_fn *done, void *done_opaque, struct vio_blk_storage_queue **out)
{
	struct ts *ts = s->opaque;
	struct ts_queue *q;

	if (qi >= TS_MAX_QUEUES || depth > TS_MAX_PENDING)
		return -EINVAL;
	q = &ts->q[qi];
	memset(q, 0, sizeof(*q));
	q->ts = ts;
	q->qi = qi;
	q->depth = depth;
	q->done = done;
	q->done_opaque = done_opaque;
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0)
		return -errno;
	if (qi >= ts->nq)
		ts->nq = qi + 1;
	*out = (struct vio_blk_storage_queue *)q;
	return 0;
}

static void q_close(struct vio_blk_storage_queue *sq)
{
	struct ts_queue *q = (struct ts_queue *)sq;

	close(q->efd);
	q->efd = -1;
}

static void q_submit(struct vio_blk_storage_queue *sq, struct vio_blk_storage_req *const *reqs,
		     unsigned n)
{
	struct ts_queue *q = (struct ts_queue *)sq;
	struct ts *ts = q->ts;

	for (unsigned i = 0; i < n; i++) {
		struct vio_blk_storage_req *r = reqs[i];
		unsigned held;

		pthread_mutex_lock(&ts->lock);
		if (q->nlog < TS_MAX_LOG)
			q->log[q->nlog++] = (struct ts_op){ r->op, r->flags, r->off, r->len };
		if (ts->immediate) {
			pthread_mutex_unlock(&ts->lock);
			r->res = run(ts, r);
			q->done(q->done_opaque, r);
			continue;
		}
		if (q->npending + q->nready < TS_MAX_PENDING)
			q->pending[q->npending++] = r;
		held = q->npending + q->nready;
		if (held > q->max_held)
			q->max_held = held;
		pthread_mutex_unlock(&ts->lock);
	}
}

static int q_fd(const struct vio_blk_storage_queue *sq)
{
	return ((const struct ts_queue *)sq)->efd;
}

static void q_process(struct vio_blk_storage_queue *sq)
{
	struct ts_queue *q = (struct ts_queue *)sq;
	struct ts *ts = q->ts;
	uint64_t v;

	(void)!read(q->efd, &v, sizeof(v));
	pthread_mutex_lock(&ts->lock);
	q->processed++;
	while (q->nready) {
		struct vio_blk_storage_req *r = q->ready[0];
		int res = q->ready_res[0];

		q->nready--;
		memmove(q->ready, q->ready + 1, q->nready * sizeof(q->ready[0]));
		memmove(q->ready_res, q->ready_res + 1, q->nready * sizeof(q->ready_res[0]));
		pthread_mutex_unlock(&ts->lock);
		r->res = res ? res : run(ts, r);
		q->done(q->done_opaque, r);
		pthread_mutex_lock(&ts->lock);
	}
	pthread_mutex_unlock(&ts->lock);
}

static const struct vio_blk_storage_ops ts_ops = {
	.version = VIO_BLK_STORAGE_OPS_VERSION,
	.queue_open = q_open,
	.queue_close = q_close,
	.submit = q_submit,
	.queue_fd = q_fd,
	.process = q_process,
};

int ts_init(struct ts *ts, uint64_t size, uint32_t caps)
{
	memset(ts, 0, sizeof(*ts));
	ts->ram = calloc(1, (size_t)size);
	if (!ts->ram)
		return -ENOMEM;
	pthread_mutex_init(&ts->lock, NULL);
	ts->fail_op = -1;
	ts->s = (struct vio_blk_storage){
		.ops = &ts_ops,
		.opaque = ts,
		.size = size,
		.caps = caps,
		.name = "test",
	};
	return 0;
}

void ts_fini(struct ts *ts)
{
	pthread_mutex_destroy(&ts->lock);
	free(ts->ram);
	ts->ram = NULL;
}

unsigned ts_pending(struct ts *ts, unsigned qi)
{
	unsigned n;

	pthread_mutex_lock(&ts->lock);
	n = ts->q[qi].npending;
	pthread_mutex_unlock(&ts->lock);
	return n;
}

void ts_complete(struct ts *ts, unsigned qi, unsigned k, int res)
{
	struct ts_queue *q = &ts->q[qi];

	pthread_mutex_lock(&ts->lock);
	if (k < q->npending) {
		q->ready[q->nready] = q->pending[k];
		q->ready_res[q->nready++] = res;
		q->npending--;
		memmove(q->pending + k, q->pending + k + 1, (q->npending - k) * sizeof(q->pending[0]));
	}
	pthread_mutex_unlock(&ts->lock);
	signal_fd(q->efd);
}

void ts_complete_all(struct ts *ts, unsigned qi)
{
	while (ts_pending(ts, qi))
		ts_complete(ts, qi, 0, 0);
}

unsigned ts_nlog(struct ts *ts, unsigned qi)
{
	unsigned n;

	pthread_mutex_lock(&ts->lock);
	n = ts->q[qi].nlog;
	pthread_mutex_unlock(&ts->lock);
	return n;
}

struct ts_op ts_log(struct ts *ts, unsigned qi, unsigned i)
{
	struct ts_op op;

	pthread_mutex_lock(&ts->lock);
	op = ts->q[qi].log[i];
	pthread_mutex_unlock(&ts->lock);
	return op;
}

unsigned ts_max_held(struct ts *ts, unsigned qi)
{
	unsigned n;

	pthread_mutex_lock(&ts->lock);
	n = ts->q[qi].max_held;
	pthread_mutex_unlock(&ts->lock);
	return n;
}
