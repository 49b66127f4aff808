/*
 * blk_storage_nbd.c - an NBD export as blk storage, through libnbd's
 * asynchronous API (hosted builds with libnbd only; the design is in
 * vio/devices/blk_nbd.h).
 *
 * The pieces:
 *
 *   struct nbd_st     the storage: URI, options, what the handshake said,
 *                     and the connections, made on demand and kept until
 *                     close (a device reset reopens its queues; it should
 *                     not cost a reconnect).
 *   struct nbd_conn   one libnbd handle and its state (up, connecting,
 *                     down waiting for the backoff), the requests in flight
 *                     on it and those waiting for it, and a mutex: every
 *                     libnbd call on the handle and every list of the
 *                     connection is under it. Uncontended with multi-conn
 *                     (one connection per queue); shared by every queue
 *                     without it.
 *   struct vio_blk_storage_queue
 *                     one per device queue: its request slots (depth of
 *                     them, each with an optional bounce buffer), the epoll
 *                     fd it hands out, its timerfd and eventfd, and the
 *                     list of its finished slots (under the connection's
 *                     mutex, since another queue's thread may finish them).
 *
 * libnbd calls a command's completion callback from inside whichever
 * libnbd call read the reply (nbd_aio_notify_read, mostly): there we only
 * move the slot to its queue's finished list. done() runs later, outside
 * the mutex, on the queue's own thread (deliver()), so the device may
 * submit from done().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vio/devices/blk_nbd.h"

#ifndef VIO_HAVE_LIBNBD

int vio_blk_storage_nbd_open(struct vio_blk_storage *s, const struct vio_blk_nbd_opts *o)
{
	(void)s;
	(void)o;
	return -ENOTSUP;
}

void vio_blk_storage_nbd_stats(const struct vio_blk_storage *s, struct vio_blk_nbd_stats *out)
{
	(void)s;
	memset(out, 0, sizeof(*out));
}

#else

#include <libnbd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define NBD_MAX_CONNS   64u
#define NBD_RW_CHUNK    (32u << 20)     /* libnbd takes at most 64 MiB per command */
#define NBD_ZERO_CHUNK  (1u << 30)      /* TRIM/WRITE_ZEROES lengths are 32-bit */
#define READ_BATCH      64u             /* replies read in one conn_drive() at most */

enum { TAG_SOCK, TAG_TIMER, TAG_WAKE };
enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_UP };
enum slot_state { SLOT_FREE, SLOT_PENDING, SLOT_INFLIGHT, SLOT_DONE };

struct nbd_st;
struct nbd_conn;

struct nbd_slot {
	struct vio_blk_storage_req *req;
	struct vio_blk_storage_queue *q;
	struct nbd_slot *next, *prev;   /* conn's pending or inflight list */
	struct nbd_slot *fnext;         /* queue's free or finished list */
	uint64_t deadline;              /* ns, CLOCK_MONOTONIC */
	unsigned parts;                 /* NBD commands not yet answered */
	int err;                        /* first error among them (positive errno) */
	uint8_t state;                  /* enum slot_state */
	bool issuing, bounced;
	void *bounce;
	size_t bounce_cap;
};

struct nbd_list { struct nbd_slot *head, *tail; };

struct nbd_conn {
	struct nbd_st *st;
	pthread_mutex_t lock;
	struct nbd_handle *h;           /* NULL when down */
	enum conn_state state;
	unsigned gen;                   /* bumped whenever h changes */
	uint64_t started;               /* when the current attempt began (ns) */
	uint64_t next_try;              /* when down: the next attempt (ns) */
	uint32_t backoff_ms;
	bool tearing;                   /* closing h: its callbacks are stale */
	bool was_up;                    /* has been up before: the next up is a reconnect */
	struct vio_blk_storage_queue *driver;   /* the queue calling libnbd now */
	struct nbd_list inflight, pending;
	struct vio_blk_storage_queue *queues;   /* attached queues (qnext) */
};

struct nbd_st {
	struct vio_blk_storage *s;
	char *uri;
	struct vio_blk_nbd_opts o;
	bool can_fua;
	unsigned nconns;
	pthread_mutex_t lock;           /* conns[] and attaching queues */
	struct nbd_conn *conns[NBD_MAX_CONNS];
	_Atomic uint64_t connects, disconnects, timeouts, bounced;
};

struct vio_blk_storage_queue {
	struct nbd_st *st;
	struct nbd_conn *c;
	struct vio_blk_storage_queue *qnext;    /* conn's queues */
	unsigned qi, depth;
	vio_blk_storage_done_fn *done;
	void *done_opaque;
	int epfd, tfd, efd;
	int wfd;                        /* socket registered in epfd, or -1 */
	unsigned wgen;                  /* conn gen when wfd was registered */
	uint32_t wmask;                 /* its epoll events */
	bool timer_on, delivering;
	unsigned busy;                  /* slots not free (q's thread only) */
	struct nbd_slot *free;          /* q's thread only */
	struct nbd_slot *fin_head, *fin_tail;   /* under c->lock */
	struct nbd_slot slots[];
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define LOG(st, lvl, ...) vio_logf((st)->o.log, (st)->o.log_opaque, (lvl), "nbd: ", __VA_ARGS__)

/* libnbd's errno for the call that just failed on this thread, never 0. */
static int nbd_err(void)
{
	int e = nbd_get_errno();
	return e > 0 ? e : EIO;
}

/* ---- lists ------------------------------------------------------------ */

static void list_add(struct nbd_list *l, struct nbd_slot *s)
{
	s->next = NULL;
	s->prev = l->tail;
	if (l->tail)
		l->tail->next = s;
	else
		l->head = s;
	l->tail = s;
}

static void list_del(struct nbd_list *l, struct nbd_slot *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		l->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		l->tail = s->prev;
	s->next = s->prev = NULL;
}

static void wake(struct vio_blk_storage_queue *q)
{
	uint64_t one = 1;
	ssize_t r = write(q->efd, &one, sizeof(one));
	(void)r;        /* EAGAIN: the counter is already non-zero, q wakes anyway */
}

/* ---- slots finishing (c->lock held) ------------------------------------ */

/* Copies req's first len bytes of spans into buf (in) or back out of it;
 * the spans may hold more than len (blk_storage.h says exactly len). */
static void bounce_copy(const struct vio_blk_storage_req *req, uint8_t *buf, bool in)
{
	uint64_t left = req->len;

	for (unsigned i = 0; i < req->iovcnt && left; i++) {
		size_t n = req->iov[i].len < left ? req->iov[i].len : (size_t)left;
		if (in)
			memcpy(buf, req->iov[i].base, n);
		else
			memcpy(req->iov[i].base, buf, n);
		buf += n;
		left -= n;
	}
}

/* The slot is over: copy a bounced READ out, hand it to its queue. */
static void slot_finish(struct nbd_conn *c, struct nbd_slot *s, int err)
{
	struct vio_blk_storage_req *req = s->req;
	struct vio_blk_storage_queue *q = s->q;

	if (s->state == SLOT_INFLIGHT)
		list_del(&c->inflight, s);
	else if (s->state == SLOT_PENDING)
		list_del(&c->pending, s);
	if (!s->err)
		s->err = err;
	if (!s->err && s->bounced && req->op == VIO_BLK_STORAGE_READ)
		bounce_copy(req, s->bounce, false);
	req->res = -s->err;
	s->state = SLOT_DONE;
	s->fnext = NULL;
	if (q->fin_tail)
		q->fin_tail->fnext = s;
	else
		q->fin_head = s;
	q->fin_tail = s;
	if (q != c->driver)
		wake(q);
}

/* libnbd's completion callback, inside a libnbd call made under c->lock.
 * Returning 1 retires the command. */
static int slot_cb(void *ud, int *error)
{
	struct nbd_slot *s = ud;
	struct nbd_conn *c = s->q->c;

	if (c->tearing || s->state != SLOT_INFLIGHT)
		return 1;       /* the slot was already failed by a teardown */
	if (*error && !s->err)
		s->err = *error;
	if (--s->parts == 0 && !s->issuing)
		slot_finish(c, s, 0);
	return 1;
}

/* ---- issuing (c->lock held, c up) --------------------------------------- */

static void cmd_result(struct nbd_slot *s, int64_t cookie)
{
	if (cookie < 0) {
		/* Refused before it was queued: libnbd will not call back. */
		s->parts--;
		if (!s->err)
			s->err = nbd_err();
	}
}

static void send_rw(struct nbd_conn *c, struct nbd_slot *s, bool write, void *buf, uint64_t len,
		    uint64_t off, uint32_t flags)
{
	nbd_completion_callback cb = { .callback = slot_cb, .user_data = s };

	while (len && !s->err) {
		size_t n = len > NBD_RW_CHUNK ? NBD_RW_CHUNK : (size_t)len;
		s->parts++;
		if (write)
			cmd_result(s, nbd_aio_pwrite(c->h, buf, n, off, cb, flags));
		else
			cmd_result(s, nbd_aio_pread(c->h, buf, n, off, cb, 0));
		buf = (uint8_t *)buf + n;
		off += n;
		len -= n;
	}
}

/* One NBD command per request: a READ or WRITE in more than one span goes
 * through the slot's bounce buffer. Measured with tests/nbd/nbd_bench on
 * nbdkit's memory plugin (64 KiB reads at depth 32, runs alternated on a
 * loaded machine): one command per span was no faster at 2 spans and 2 to
 * 6 times slower at 8 and 16 spans than one bounced command (each command
 * costs the server a request, a thread hand-off and a reply); the copy is
 * cheap beside that. A single span goes straight to the driver's memory. */
static bool need_bounce(const struct vio_blk_storage_req *req)
{
	return req->iovcnt > 1 && req->iov[0].len < req->len;
}

/* The spans hold at least len bytes (blk_storage.h promises it; checked
 * anyway, since a short span would be written past). */
static bool spans_hold(const struct vio_blk_storage_req *req)
{
	uint64_t have = 0;

	for (unsigned i = 0; i < req->iovcnt && have < req->len; i++)
		have += req->iov[i].len;
	return have >= req->len;
}

static int bounce_fit(struct nbd_slot *s, size_t len)
{
	if (s->bounce_cap >= len)
		return 0;
	void *p = realloc(s->bounce, len);
	if (!p)
		return ENOMEM;
	s->bounce = p;
	s->bounce_cap = len;
	return 0;
}

static void slot_issue(struct nbd_conn *c, struct nbd_slot *s)
{
	struct nbd_st *st = c->st;
	struct vio_blk_storage_req *req = s->req;
	nbd_completion_callback cb = { .callback = slot_cb, .user_data = s };
	uint32_t fua = (req->flags & VIO_BLK_STORAGE_REQ_FUA) && st->can_fua ? LIBNBD_CMD_FLAG_FUA : 0;
	bool write = req->op == VIO_BLK_STORAGE_WRITE;

	s->err = 0;
	s->parts = 0;
	s->issuing = true;
	s->bounced = false;
	s->state = SLOT_INFLIGHT;
	list_add(&c->inflight, s);

	switch (req->op) {
	case VIO_BLK_STORAGE_READ:
	case VIO_BLK_STORAGE_WRITE:
		if (!spans_hold(req)) {
			s->err = EINVAL;        /* the device broke blk_storage.h's rule */
			break;
		}
		if (need_bounce(req)) {
			s->err = bounce_fit(s, req->len);
			if (s->err)
				break;
			s->bounced = true;
			atomic_fetch_add_explicit(&st->bounced, 1, memory_order_relaxed);
			if (write)
				bounce_copy(req, s->bounce, true);
			send_rw(c, s, write, s->bounce, req->len, req->off, fua);
		} else if (req->len) {
			send_rw(c, s, write, req->iov[0].base, req->len, req->off, fua);
		}
		break;
	case VIO_BLK_STORAGE_FLUSH:
		s->parts++;
		cmd_result(s, nbd_aio_flush(c->h, cb, 0));
		break;
	case VIO_BLK_STORAGE_DISCARD:
	case VIO_BLK_STORAGE_WRITE_ZEROES: {
		uint64_t off = req->off, left = req->len;
		uint32_t fl = fua;
		if (req->op == VIO_BLK_STORAGE_WRITE_ZEROES && !(req->flags & VIO_BLK_STORAGE_REQ_UNMAP))
			fl |= LIBNBD_CMD_FLAG_NO_HOLE;
		while (left && !s->err) {
			uint64_t n = left > NBD_ZERO_CHUNK ? NBD_ZERO_CHUNK : left;
			s->parts++;
			if (req->op == VIO_BLK_STORAGE_DISCARD)
				cmd_result(s, nbd_aio_trim(c->h, n, off, cb, fl));
			else
				cmd_result(s, nbd_aio_zero(c->h, n, off, cb, fl));
			off += n;
			left -= n;
		}
		break;
	}
	default:
		s->err = EOPNOTSUPP;
		break;
	}
	s->issuing = false;
	if (s->parts == 0)
		slot_finish(c, s, 0);
}

/* ---- connection (c->lock held) ----------------------------------------- */

/* Every queue on c looks at its registrations and timer again. */
static void wake_all(struct nbd_conn *c)
{
	for (struct vio_blk_storage_queue *q = c->queues; q; q = q->qnext)
		if (q != c->driver)
			wake(q);
}

/* Drops the handle: what was in flight on it fails with err, and the
 * next attempt is after the backoff. */
static void conn_down(struct nbd_conn *c, int err, const char *why)
{
	struct nbd_st *st = c->st;
	uint64_t now = now_ns();

	if (c->state == CONN_UP) {
		LOG(st, VIO_LOG_WARN, "connection lost (%s); reconnecting in %u ms", why,
		    (unsigned)c->backoff_ms);
		atomic_fetch_add_explicit(&st->disconnects, 1, memory_order_relaxed);
	} else if (c->h) {
		LOG(st, VIO_LOG_DEBUG, "connection attempt failed (%s); next in %u ms", why,
		    (unsigned)c->backoff_ms);
	}
	c->tearing = true;
	while (c->inflight.head) {
		struct nbd_slot *s = c->inflight.head;
		int e = err;
		if (s->deadline <= now) {
			e = ETIMEDOUT;
			atomic_fetch_add_explicit(&st->timeouts, 1, memory_order_relaxed);
		}
		slot_finish(c, s, e);
	}
	nbd_close(c->h);
	c->tearing = false;
	c->h = NULL;
	c->state = CONN_DOWN;
	c->gen++;
	c->next_try = now + (uint64_t)c->backoff_ms * 1000000u;
	c->backoff_ms = c->backoff_ms * 2 > st->o.reconnect_max_ms ? st->o.reconnect_max_ms
								 : c->backoff_ms * 2;
	wake_all(c);
}

/* Starts an asynchronous connection attempt. */
static int conn_start(struct nbd_conn *c)
{
	struct nbd_st *st = c->st;
	struct nbd_handle *h = nbd_create();

	if (!h)
		return -nbd_err();
	if (nbd_aio_connect_uri(h, st->uri) < 0) {
		int e = nbd_err();
		LOG(st, VIO_LOG_WARN, "connect %s: %s", st->uri, nbd_get_error());
		nbd_close(h);
		return -e;
	}
	c->h = h;
	c->state = CONN_CONNECTING;
	c->started = now_ns();
	c->gen++;
	wake_all(c);
	return 0;
}

static void conn_issue_pending(struct nbd_conn *c)
{
	while (c->state == CONN_UP && c->pending.head) {
		struct nbd_slot *s = c->pending.head;
		list_del(&c->pending, s);
		s->state = SLOT_FREE;   /* neither list: slot_issue links it */
		slot_issue(c, s);
	}
}

/* After any libnbd call: notice a connection that came up or died. */
static void conn_check(struct nbd_conn *c)
{
	struct nbd_st *st = c->st;

	if (!c->h)
		return;
	if (nbd_aio_is_dead(c->h) || nbd_aio_is_closed(c->h)) {
		conn_down(c, EIO, nbd_get_error() ? nbd_get_error() : "closed");
		return;
	}
	if (c->state == CONN_CONNECTING && nbd_aio_is_ready(c->h)) {
		c->state = CONN_UP;
		c->backoff_ms = st->o.reconnect_min_ms;
		atomic_fetch_add_explicit(&st->connects, 1, memory_order_relaxed);
		if (c->was_up)
			LOG(st, VIO_LOG_INFO, "reconnected to %s", st->uri);
		c->was_up = true;
		conn_issue_pending(c);
	}
}

/* Drives libnbd with what epoll saw on the socket.
 *
 * Never tell libnbd "readable" when nothing is there: notified in READY,
 * it enters the reply state, finds no data, and stays there, and commands
 * submitted afterwards wait for READY, so they are never sent and the
 * server has nothing to answer (seen here: a shared connection stuck with
 * 32 commands queued and the socket empty both ways). With one queue on
 * the connection what its own epoll_wait saw is still true here: only
 * this thread reads the socket. With several, another queue's thread may
 * have read it meanwhile, so the socket is asked again, under the lock. */
static void conn_drive(struct nbd_conn *c, uint32_t ev)
{
	bool did = false;

	if (!c->h)
		return;
	unsigned dir = nbd_aio_get_direction(c->h);
	if (c->queues && c->queues->qnext) {
		struct pollfd p = { .fd = nbd_aio_get_fd(c->h), .events = 0 };
		if (dir & LIBNBD_AIO_DIRECTION_READ)
			p.events |= POLLIN;
		if (dir & LIBNBD_AIO_DIRECTION_WRITE)
			p.events |= POLLOUT;
		if (poll(&p, 1, 0) <= 0)
			return;
		ev = ((p.revents & POLLIN) ? EPOLLIN : 0) | ((p.revents & POLLOUT) ? EPOLLOUT : 0) |
		     ((p.revents & POLLHUP) ? EPOLLHUP : 0) | ((p.revents & POLLERR) ? EPOLLERR : 0);
	}
	if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && (dir & LIBNBD_AIO_DIRECTION_READ)) {
		nbd_aio_notify_read(c->h);
		did = true;
		/* libnbd reads one reply per notification. While more are
		 * waiting, read them now: one poll() instead of a trip through
		 * the caller's loop and two epoll_wait()s, and the device gets
		 * its completions as one batch (one used-ring publish, one
		 * interrupt). Asked fresh each time, so never spurious. */
		for (unsigned k = 0; k < READ_BATCH && c->h && !nbd_aio_is_dead(c->h) &&
				     !nbd_aio_is_closed(c->h) && nbd_aio_in_flight(c->h) > 0 &&
				     (nbd_aio_get_direction(c->h) & LIBNBD_AIO_DIRECTION_READ); k++) {
			struct pollfd p = { .fd = nbd_aio_get_fd(c->h), .events = POLLIN };
			if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR)))
				break;
			nbd_aio_notify_read(c->h);
		}
	}
	if (c->h && !nbd_aio_is_dead(c->h) && (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) &&
	    (nbd_aio_get_direction(c->h) & LIBNBD_AIO_DIRECTION_WRITE)) {
		nbd_aio_notify_write(c->h);
		did = true;
	}
	if (!did && (ev & (EPOLLHUP | EPOLLERR))) {
		conn_down(c, EIO, "socket hung up");
		return;
	}
	conn_check(c);
}

/* The timer: request deadlines, connection attempts. */
static void conn_tick(struct nbd_conn *c)
{
	struct nbd_st *st = c->st;
	uint64_t now = now_ns();

	for (struct nbd_slot *s = c->pending.head, *n; s; s = n) {
		n = s->next;
		if (s->deadline <= now) {
			atomic_fetch_add_explicit(&st->timeouts, 1, memory_order_relaxed);
			slot_finish(c, s, ETIMEDOUT);
		}
	}
	for (struct nbd_slot *s = c->inflight.head; s; s = s->next) {
		if (s->deadline <= now) {
			/* The server owes an answer it is not giving: nothing on
			 * this connection can be trusted to finish. */
			LOG(st, VIO_LOG_WARN, "request timed out, %d commands in flight on the connection",
			    nbd_aio_in_flight(c->h));
			conn_down(c, EIO, "request timed out");
			break;
		}
	}
	if (c->state == CONN_CONNECTING &&
	    now - c->started > (uint64_t)st->o.connect_timeout_ms * 1000000u)
		conn_down(c, EIO, "connect timed out");
	if (c->state == CONN_DOWN && now >= c->next_try && conn_start(c) < 0) {
		c->next_try = now + (uint64_t)c->backoff_ms * 1000000u;
		c->backoff_ms = c->backoff_ms * 2 > st->o.reconnect_max_ms ? st->o.reconnect_max_ms
									 : c->backoff_ms * 2;
	}
}

/* Blocking connect for the control path (open, queue_open), at most
 * connect_timeout_ms. */
static int conn_connect_wait(struct nbd_conn *c)
{
	struct nbd_st *st = c->st;
	uint64_t end = now_ns() + (uint64_t)st->o.connect_timeout_ms * 1000000u;
	int r = conn_start(c);

	if (r < 0)
		return r;
	while (c->state == CONN_CONNECTING) {
		uint64_t now = now_ns();
		if (now >= end) {
			LOG(st, VIO_LOG_WARN, "connect %s: timed out", st->uri);
			conn_down(c, EIO, "connect timed out");
			return -ETIMEDOUT;
		}
		unsigned dir = nbd_aio_get_direction(c->h);
		struct pollfd p = { .fd = nbd_aio_get_fd(c->h), .events = 0 };
		if (dir & LIBNBD_AIO_DIRECTION_READ)
			p.events |= POLLIN;
		if (dir & LIBNBD_AIO_DIRECTION_WRITE)
			p.events |= POLLOUT;
		int n = poll(&p, 1, (int)((end - now) / 1000000u) + 1);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0) {
			uint32_t ev = 0;
			ev |= (p.revents & POLLIN) ? EPOLLIN : 0;
			ev |= (p.revents & POLLOUT) ? EPOLLOUT : 0;
			ev |= (p.revents & POLLHUP) ? EPOLLHUP : 0;
			ev |= (p.revents & POLLERR) ? EPOLLERR : 0;
			conn_drive(c, ev);
		}
		if (c->state == CONN_DOWN) {
			LOG(st, VIO_LOG_WARN, "connect %s failed", st->uri);
			return -ECONNREFUSED;
		}
	}
	return 0;
}

static struct nbd_conn *conn_new(struct nbd_st *st)
{
	struct nbd_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->st = st;
	c->backoff_ms = st->o.reconnect_min_ms;
	if (pthread_mutex_init(&c->lock, NULL)) {
		free(c);
		return NULL;
	}
	return c;
}

static void conn_free(struct nbd_conn *c)
{
	if (!c)
		return;
	nbd_close(c->h);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* ---- queues -------------------------------------------------------------- */

/* Keeps q's epoll set on c's current socket, with the directions libnbd
 * wants, and q's timer running while anything could need it. */
static void q_watch(struct vio_blk_storage_queue *q)
{
	struct nbd_conn *c = q->c;
	int fd = c->h ? nbd_aio_get_fd(c->h) : -1;
	uint32_t want = EPOLLIN;

	if (fd < 0)
		fd = -1;
	else if (nbd_aio_get_direction(c->h) & LIBNBD_AIO_DIRECTION_WRITE)
		want |= EPOLLOUT;
	if (fd != q->wfd || c->gen != q->wgen) {
		struct epoll_event e = { .events = want, .data.u32 = TAG_SOCK };
		if (q->wfd >= 0)
			epoll_ctl(q->epfd, EPOLL_CTL_DEL, q->wfd, NULL);  /* ENOENT once closed */
		if (fd >= 0 && epoll_ctl(q->epfd, EPOLL_CTL_ADD, fd, &e) < 0 && errno == EEXIST)
			epoll_ctl(q->epfd, EPOLL_CTL_MOD, fd, &e);
		q->wfd = fd;
		q->wgen = c->gen;
		q->wmask = want;
	} else if (fd >= 0 && want != q->wmask) {
		struct epoll_event e = { .events = want, .data.u32 = TAG_SOCK };
		epoll_ctl(q->epfd, EPOLL_CTL_MOD, fd, &e);
		q->wmask = want;
	}

	/* The timer: on while requests wait or the connection is not up;
	 * off lazily, at a tick that finds nothing to do, so a queue going
	 * busy and idle at every request costs no timerfd_settime. */
	bool need = q->busy || c->state != CONN_UP;
	if (need && !q->timer_on) {
		uint32_t t = q->st->o.timeout_ms / 4;
		t = t < 10 ? 10 : t > 250 ? 250 : t;
		struct itimerspec its = {
			.it_interval = { t / 1000, (long)(t % 1000) * 1000000 },
			.it_value = { t / 1000, (long)(t % 1000) * 1000000 },
		};
		if (timerfd_settime(q->tfd, 0, &its, NULL) == 0)
			q->timer_on = true;
	}
}

static void q_timer_off(struct vio_blk_storage_queue *q)
{
	struct itimerspec its = { 0 };
	if (timerfd_settime(q->tfd, 0, &its, NULL) == 0)
		q->timer_on = false;
}

/* Calls done() for q's finished requests, outside the lock, on q's
 * thread; not again from inside done() (the outer call loops). */
static void deliver(struct vio_blk_storage_queue *q)
{
	if (q->delivering)
		return;
	q->delivering = true;
	for (;;) {
		pthread_mutex_lock(&q->c->lock);
		struct nbd_slot *s = q->fin_head;
		q->fin_head = q->fin_tail = NULL;
		pthread_mutex_unlock(&q->c->lock);
		if (!s)
			break;
		while (s) {
			struct nbd_slot *n = s->fnext;
			struct vio_blk_storage_req *req = s->req;
			s->state = SLOT_FREE;
			s->req = NULL;
			s->fnext = q->free;
			q->free = s;
			q->busy--;
			q->done(q->done_opaque, req);
			s = n;
		}
	}
	q->delivering = false;
}

static void nbd_submit(struct vio_blk_storage_queue *q, struct vio_blk_storage_req *const *reqs,
		       unsigned n)
{
	struct nbd_conn *c = q->c;
	uint64_t deadline = now_ns() + (uint64_t)q->st->o.timeout_ms * 1000000u;
	bool over = false;

	pthread_mutex_lock(&c->lock);
	c->driver = q;
	for (unsigned i = 0; i < n; i++) {
		struct nbd_slot *s = q->free;
		reqs[i]->priv[0] = 0;
		if (!s) {
			/* More than the depth the device promised: refused
			 * below, rather than overrunning a slot. */
			reqs[i]->priv[0] = 1;
			over = true;
			continue;
		}
		q->free = s->fnext;
		q->busy++;
		s->req = reqs[i];
		s->deadline = deadline;
		s->err = 0;
		s->bounced = false;
		if (c->state == CONN_UP) {
			s->state = SLOT_FREE;
			slot_issue(c, s);
		} else {
			s->state = SLOT_PENDING;
			list_add(&c->pending, s);
		}
	}
	conn_check(c);
	q_watch(q);
	c->driver = NULL;
	pthread_mutex_unlock(&c->lock);
	for (unsigned i = 0; over && i < n; i++) {
		if (reqs[i]->priv[0] == 1) {
			reqs[i]->res = -EBUSY;
			q->done(q->done_opaque, reqs[i]);
		}
	}
	deliver(q);
}

static int nbd_queue_fd(const struct vio_blk_storage_queue *q)
{
	return q->epfd;
}

static void nbd_process(struct vio_blk_storage_queue *q)
{
	struct nbd_conn *c = q->c;
	struct epoll_event ev[4];
	uint32_t sock = 0;
	bool tick = false;
	uint64_t v;
	int n = epoll_wait(q->epfd, ev, 4, 0);

	/* Nothing ready, nothing to do: this thread's own completions were
	 * delivered by the call that read them, and another thread's come
	 * with an eventfd write (a busy-polling caller lands here often). */
	if (n <= 0)
		return;
	for (int i = 0; i < n; i++) {
		switch (ev[i].data.u32) {
		case TAG_SOCK:
			sock |= ev[i].events;
			break;
		case TAG_TIMER:
			tick = read(q->tfd, &v, sizeof(v)) == (ssize_t)sizeof(v);
			break;
		default:
			if (read(q->efd, &v, sizeof(v)) < 0) {
				/* EAGAIN: another read took it; nothing lost */
			}
			break;
		}
	}

	pthread_mutex_lock(&c->lock);
	c->driver = q;
	if (sock && q->wgen == c->gen)
		conn_drive(c, sock);
	if (tick) {
		conn_tick(c);
		if (!q->busy && c->state == CONN_UP)
			q_timer_off(q);
	}
	q_watch(q);
	c->driver = NULL;
	pthread_mutex_unlock(&c->lock);
	deliver(q);
}

static int nbd_queue_open(struct vio_blk_storage *s, unsigned qi, unsigned depth,
			  vio_blk_storage_done_fn *done, void *done_opaque,
			  struct vio_blk_storage_queue **out)
{
	struct nbd_st *st = s->opaque;
	struct vio_blk_storage_queue *q;
	int r = -ENOMEM;

	if (!depth || depth > 65536 || !done)
		return -EINVAL;
	q = calloc(1, sizeof(*q) + depth * sizeof(q->slots[0]));
	if (!q)
		return -ENOMEM;
	q->st = st;
	q->qi = qi;
	q->depth = depth;
	q->done = done;
	q->done_opaque = done_opaque;
	q->wfd = -1;
	q->epfd = epoll_create1(EPOLL_CLOEXEC);
	q->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->epfd < 0 || q->tfd < 0 || q->efd < 0) {
		r = -errno;
		goto fail;
	}
	struct epoll_event et = { .events = EPOLLIN, .data.u32 = TAG_TIMER };
	struct epoll_event ew = { .events = EPOLLIN, .data.u32 = TAG_WAKE };
	if (epoll_ctl(q->epfd, EPOLL_CTL_ADD, q->tfd, &et) < 0 ||
	    epoll_ctl(q->epfd, EPOLL_CTL_ADD, q->efd, &ew) < 0) {
		r = -errno;
		goto fail;
	}
	for (unsigned i = depth; i-- > 0;) {
		q->slots[i].q = q;
		q->slots[i].fnext = q->free;
		q->free = &q->slots[i];
	}

	pthread_mutex_lock(&st->lock);
	unsigned ci = qi % st->nconns;
	struct nbd_conn *c = st->conns[ci];
	if (!c) {
		c = conn_new(st);
		if (!c) {
			pthread_mutex_unlock(&st->lock);
			goto fail;
		}
		st->conns[ci] = c;
	}
	q->c = c;
	pthread_mutex_lock(&c->lock);
	q->qnext = c->queues;
	c->queues = q;
	c->driver = q;
	if (c->h && c->state == CONN_UP && !c->inflight.head) {
		/* A kept connection may have been closed by the server while no
		 * queue watched it: idle, a readable socket can only be EOF (or
		 * junk), so telling libnbd is no spurious notify. */
		struct pollfd p = { .fd = nbd_aio_get_fd(c->h), .events = POLLIN };
		if (poll(&p, 1, 0) > 0)
			conn_drive(c, EPOLLIN | ((p.revents & POLLHUP) ? EPOLLHUP : 0));
		if (c->state == CONN_DOWN)
			c->backoff_ms = st->o.reconnect_min_ms;
	}
	if (!c->h && conn_connect_wait(c) < 0)
		LOG(st, VIO_LOG_WARN, "queue %u: no connection yet; retrying in the background", qi);
	q_watch(q);
	c->driver = NULL;
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_unlock(&st->lock);
	*out = q;
	return 0;
fail:
	if (q->epfd >= 0)
		close(q->epfd);
	if (q->tfd >= 0)
		close(q->tfd);
	if (q->efd >= 0)
		close(q->efd);
	free(q);
	return r;
}

static void nbd_queue_close(struct vio_blk_storage_queue *q)
{
	struct nbd_st *st = q->st;
	struct nbd_conn *c = q->c;

	pthread_mutex_lock(&st->lock);
	pthread_mutex_lock(&c->lock);
	/* The device drained q; whatever is left (it broke the rule) fails
	 * here, so no callback can reach freed memory. */
	for (struct nbd_slot *s = c->inflight.head; s; s = s->next) {
		if (s->q == q) {
			conn_down(c, EIO, "queue closed with requests in flight");
			break;
		}
	}
	for (struct nbd_slot *s = c->pending.head, *n; s; s = n) {
		n = s->next;
		if (s->q == q)
			list_del(&c->pending, s);
	}
	for (struct vio_blk_storage_queue **pp = &c->queues; *pp; pp = &(*pp)->qnext) {
		if (*pp == q) {
			*pp = q->qnext;
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_unlock(&st->lock);
	for (unsigned i = 0; i < q->depth; i++)
		free(q->slots[i].bounce);
	close(q->epfd);
	close(q->tfd);
	close(q->efd);
	free(q);
}

static void nbd_close_storage(struct vio_blk_storage *s)
{
	struct nbd_st *st = s->opaque;

	if (!st)
		return;
	for (unsigned i = 0; i < NBD_MAX_CONNS; i++)
		conn_free(st->conns[i]);
	pthread_mutex_destroy(&st->lock);
	free(st->uri);
	free(st);
	s->opaque = NULL;
}

static const struct vio_blk_storage_ops nbd_ops = {
	.version = VIO_BLK_STORAGE_OPS_VERSION,
	.queue_open = nbd_queue_open,
	.queue_close = nbd_queue_close,
	.submit = nbd_submit,
	.queue_fd = nbd_queue_fd,
	.process = nbd_process,
	.close = nbd_close_storage,
};

void vio_blk_storage_nbd_stats(const struct vio_blk_storage *s, struct vio_blk_nbd_stats *out)
{
	const struct nbd_st *st = s->opaque;

	memset(out, 0, sizeof(*out));
	if (!st || s->ops != &nbd_ops)
		return;
	out->connects = atomic_load_explicit(&st->connects, memory_order_relaxed);
	out->disconnects = atomic_load_explicit(&st->disconnects, memory_order_relaxed);
	out->timeouts = atomic_load_explicit(&st->timeouts, memory_order_relaxed);
	out->bounced = atomic_load_explicit(&st->bounced, memory_order_relaxed);
	out->conns = st->nconns;
}

static uint32_t pow2_floor(uint64_t v)
{
	uint32_t p = 1;
	while (v >= 2 * (uint64_t)p && p < (1u << 30))
		p *= 2;
	return p;
}

int vio_blk_storage_nbd_open(struct vio_blk_storage *s, const struct vio_blk_nbd_opts *o)
{
	struct nbd_st *st;
	struct nbd_conn *c;
	int r;

	if (!s || !o || !o->uri || !*o->uri)
		return -EINVAL;
	if (o->reconnect_min_ms && o->reconnect_max_ms && o->reconnect_min_ms > o->reconnect_max_ms)
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->o = *o;
	st->o.timeout_ms = o->timeout_ms ? o->timeout_ms : 30000;
	st->o.connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 5000;
	st->o.reconnect_min_ms = o->reconnect_min_ms ? o->reconnect_min_ms : 100;
	st->o.reconnect_max_ms = o->reconnect_max_ms ? o->reconnect_max_ms : 5000;
	if (st->o.reconnect_max_ms < st->o.reconnect_min_ms)
		st->o.reconnect_max_ms = st->o.reconnect_min_ms;
	st->uri = strdup(o->uri);
	st->o.uri = st->uri;
	st->s = s;
	if (!st->uri || pthread_mutex_init(&st->lock, NULL)) {
		free(st->uri);
		free(st);
		return -ENOMEM;
	}
	c = conn_new(st);
	if (!c) {
		r = -ENOMEM;
		goto fail;
	}
	st->conns[0] = c;
	r = conn_connect_wait(c);
	if (r < 0)
		goto fail;

	struct nbd_handle *h = c->h;
	int64_t size = nbd_get_size(h);
	if (size < 0) {
		r = -nbd_err();
		goto fail;
	}
	int64_t bmin = nbd_get_block_size(h, LIBNBD_SIZE_MINIMUM);
	int64_t bpref = nbd_get_block_size(h, LIBNBD_SIZE_PREFERRED);
	int64_t bmax = nbd_get_block_size(h, LIBNBD_SIZE_MAXIMUM);
	st->can_fua = nbd_can_fua(h) > 0;
	st->nconns = 1;
	if (nbd_can_multi_conn(h) > 0)
		st->nconns = o->connections && o->connections < NBD_MAX_CONNS ? o->connections
									 : NBD_MAX_CONNS;

	memset(s, 0, sizeof(*s));
	s->ops = &nbd_ops;
	s->opaque = st;
	/* The device counts sectors: a tail of less than 512 bytes is not
	 * addressable. */
	s->size = (uint64_t)size & ~(uint64_t)511;
	s->block_size = bmin > 512 ? pow2_floor((uint64_t)bmin) : 512;
	s->opt_io_size = bpref > 0 ? (uint32_t)bpref : 0;
	uint64_t mx = bmax >= 512 && (uint64_t)bmax < NBD_RW_CHUNK ? (uint64_t)bmax : NBD_RW_CHUNK;
	s->max_transfer = (uint32_t)mx & ~511u;
	s->read_only = nbd_is_read_only(h) > 0;
	s->caps = 0;
	if (nbd_can_flush(h) > 0)
		s->caps |= VIO_BLK_STORAGE_CAN_FLUSH;
	if (st->can_fua)
		s->caps |= VIO_BLK_STORAGE_CAN_FUA;
	if (nbd_can_trim(h) > 0)
		s->caps |= VIO_BLK_STORAGE_CAN_DISCARD;
	if (nbd_can_zero(h) > 0)
		s->caps |= VIO_BLK_STORAGE_CAN_WRITE_ZEROES | VIO_BLK_STORAGE_CAN_UNMAP;
	s->name = "nbd";
	LOG(st, VIO_LOG_INFO,
	    "%s: %llu bytes%s, block %u, max transfer %u, %u connection(s)%s", st->uri,
	    (unsigned long long)s->size, s->read_only ? " read-only" : "", (unsigned)s->block_size,
	    (unsigned)s->max_transfer, st->nconns,
	    st->nconns > 1 ? " (multi-conn)" : " (no multi-conn: one shared)");
	return 0;
fail:
	for (unsigned i = 0; i < NBD_MAX_CONNS; i++)
		conn_free(st->conns[i]);
	pthread_mutex_destroy(&st->lock);
	free(st->uri);
	free(st);
	return r;
}

#endif /* VIO_HAVE_LIBNBD */
