/*
 * vud.c - event loop and conventions shared by the vhost-user daemons.
 *
 * How the pieces fit. vud_run() is three steps, each a function below:
 *
 *   setup()     makes everything the daemon needs before a frontend may
 *               come, in this order: the backend, the signals (blocked in
 *               every thread, read from a signalfd), the main epoll set
 *               with the request eventfd, the timers (--stats-interval,
 *               the accept back-off), the queue threads, and last the
 *               listen socket (or the --fd frontend): once the socket
 *               listens, the daemon is ready. A failure is a log line
 *               naming the call, and exit status 1.
 *   loop()      the main thread's epoll loop, until the stop flag is set.
 *               Each event's tag (below) names its handler, on_<tag>().
 *   teardown()  sets the stop flag, wakes and joins the queue threads,
 *               then closes what setup made, in reverse order. It also
 *               undoes a setup that failed half way.
 *
 * Threads. The main thread owns the frontend's socket (accept, then one
 * vio_vu_backend_dispatch per readable event), the signals and the timers.
 * Each queue has a thread (queue_thread) that waits on the queue's kick
 * fd and on a "wake" eventfd the main thread rings when kick fds change
 * or when it is time to stop; the library's per-queue locks make its
 * dispatch safe against control messages on the main thread. A queue
 * thread that fails asks the main thread to act (request()). With
 * --single-thread the kick fds join the main epoll set instead
 * (kicks_sync); with --busy-poll the queues are polled without waiting.
 *
 * Epoll tags. epoll_data.u64 holds a tag and nothing else: one of enum
 * tag, or TAG_KICK + qi for queue qi's kick fd. The main set and the
 * queue threads' sets use the same tags.
 *
 * Whose fds. The backend owns the frontend's socket and the kick fds, and
 * closes them while it handles a message (a new kick fd, GET_VRING_BASE,
 * the frontend leaving). An epoll registration outlives that close when
 * another reference to the file is open, as the frontend's is for a kick
 * eventfd: it goes on firing under a number EPOLL_CTL_DEL can no longer
 * name. So the loop watches a duplicate of its own of each (struct
 * watched) and takes it out of the set before closing it.
 *
 * Failures once the loop runs: a frontend whose fds cannot be watched is
 * dropped (the next may come); accept4 failing for want of fds or memory
 * takes the listen socket out of the set for ACCEPT_RETRY_MS; anything
 * that would leave the loop unable to wait or to hear a signal ends the
 * daemon with status 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "vud.h"

const char vud_common_usage[] =
	"  --socket-path=PATH     listen for the vhost-user frontend on PATH\n"
	"  --fd=N                 serve the already connected socket N\n"
	"  --print-capabilities   print the backend's capabilities as JSON and exit\n"
	"  --busy-poll            queue threads poll instead of waiting for kicks\n"
	"  --poll-us=N            after a kick, keep polling N us before sleeping again (default 32)\n"
	"  --single-thread        serve every queue from the main thread\n"
	"  --stats-interval=SEC   print per-queue stats every SEC seconds (also on SIGUSR1)\n"
	"  --quiet                log errors only\n";

static const char *daemon_name = "vhost-user";
static bool quiet;

void vud_log(void *opaque, enum vio_log_level level, const char *msg)
{
	static const char *const names[] = { [VIO_LOG_ERR] = "error", [VIO_LOG_WARN] = "warning",
					     [VIO_LOG_INFO] = "info", [VIO_LOG_DEBUG] = "debug" };

	(void)opaque;
	if (quiet && level > VIO_LOG_ERR)
		return;
	if (level == VIO_LOG_DEBUG && !getenv("VIO_DEBUG"))
		return;
	fprintf(stderr, "%s: %s: %s\n", daemon_name, level <= VIO_LOG_DEBUG ? names[level] : "log", msg);
}

int vud_parse(int *argc, char **argv, struct vud_opts *o, const char *caps_json,
	      void (*usage)(const char *argv0))
{
	int out = 1;

	/* --help first, whatever else the command line holds. */
	for (int i = 1; i < *argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(argv[0]);
			return 1;
		}
	}
	memset(o, 0, sizeof(*o));
	o->fd = -1;
	o->poll_us = VUD_DEFAULT_POLL_US;
	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];

		if (!strncmp(a, "--socket-path=", 14)) {
			o->socket_path = a + 14;
		} else if (!strcmp(a, "--socket-path") && i + 1 < *argc) {
			o->socket_path = argv[++i];
		} else if (!strncmp(a, "--fd=", 5)) {
			char *end;
			long v = strtol(a + 5, &end, 10);
			if (*end || v < 0 || v > 65535) {
				fprintf(stderr, "%s: bad --fd value '%s'\n", argv[0], a + 5);
				return -1;
			}
			o->fd = (int)v;
		} else if (!strcmp(a, "--print-capabilities")) {
			printf("%s\n", caps_json);
			return 1;
		} else if (!strcmp(a, "--busy-poll")) {
			o->busy_poll = true;
		} else if (!strncmp(a, "--poll-us=", 10)) {
			char *end;
			unsigned long v = strtoul(a + 10, &end, 10);
			if (*end || a[10] == '\0' || v > 1000000) {
				fprintf(stderr, "%s: bad --poll-us value '%s' (0..1000000)\n", argv[0], a + 10);
				return -1;
			}
			o->poll_us = (unsigned)v;
		} else if (!strcmp(a, "--single-thread")) {
			o->single_thread = true;
		} else if (!strncmp(a, "--stats-interval=", 17)) {
			char *end;
			unsigned long v = strtoul(a + 17, &end, 10);
			if (*end || a[17] < '0' || a[17] > '9' || v > 86400) {
				fprintf(stderr, "%s: bad --stats-interval value '%s' (0..86400)\n",
					argv[0], a + 17);
				return -1;
			}
			o->stats_interval = (unsigned)v;
		} else if (!strcmp(a, "--quiet")) {
			o->quiet = true;
		} else {
			argv[out++] = argv[i];
			continue;
		}
	}
	*argc = out;
	argv[out] = NULL;
	if (!!o->socket_path == (o->fd >= 0)) {
		fprintf(stderr, "%s: give exactly one of --socket-path and --fd\n", argv[0]);
		return -1;
	}
	return 0;
}


/* ------------------------------------------------------------------------ */
/* State                                                                    */

/* What an epoll_data carries: see "Epoll tags" at the top. */
enum tag {
	TAG_NONE,               /* never registered: a zeroed epoll_data */
	TAG_SIGNAL,             /* the signalfd: stop, or stats */
	TAG_LISTEN,             /* the listen socket: a frontend to accept */
	TAG_LISTEN_RETRY,       /* timerfd: the accept back-off is over */
	TAG_FRONTEND,           /* the frontend's socket: one message */
	TAG_STATS,              /* timerfd: --stats-interval */
	TAG_REQUEST,            /* eventfd: a queue thread asks (enum request) */
	TAG_WAKE,               /* eventfd, in a queue thread's set: kick fd changed, or stop */
	TAG_KICK,               /* TAG_KICK + qi: queue qi's kick fd; must stay last */
};

/* What a queue thread asks of the main thread (bits in vud.requests). */
enum request {
	REQ_DROP = 1,           /* drop the frontend: a kick fd cannot be watched */
	REQ_FAIL = 2,           /* end the daemon with status 1: the thread stopped */
};

#define ACCEPT_RETRY_MS 100     /* accept4 back-off: no spinning on EMFILE */

/* An fd the backend owns, watched through a duplicate of our own. */
struct watched {
	int num;                /* the backend's number for it (-1: none) */
	int dup;                /* ours, in the epoll set (-1: none) */
};

struct qthread {
	struct vud *v;
	unsigned qi;
	pthread_t tid;
	bool started;           /* tid is to be joined */
	int ep;                 /* the thread's epoll set */
	int wake_fd;            /* eventfd, TAG_WAKE in ep */
	struct watched kick;    /* with --single-thread: in the main set */
};

struct vud {
	struct vio_vu_backend b;
	bool backend_ready;     /* vio_vu_backend_init succeeded */
	bool hooks_up;          /* backend_up succeeded: backend_down is due */
	struct vio_dev_model *dev;
	const struct vud_opts *o;
	unsigned nq;
	vud_stats_fn *stats;
	void *stats_opaque;

	int sig_fd;             /* TAG_SIGNAL */
	int ep;                 /* the main epoll set */
	int req_fd;             /* TAG_REQUEST */
	int stats_fd;           /* TAG_STATS (-1 without --stats-interval) */
	int retry_fd;           /* TAG_LISTEN_RETRY (-1 with --fd) */
	int listen_fd;          /* TAG_LISTEN (-1 with --fd) */
	bool listen_watched;    /* in the set (not backing off) */
	unsigned accept_failures;       /* in a row */
	struct watched fe;      /* the frontend's socket, TAG_FRONTEND */

	struct qthread q[VIO_VU_MAX_QUEUES];
	bool stopping;          /* atomic: queue threads read it */
	unsigned requests;      /* atomic: enum request bits */
	int status;             /* exit status: 1 after a failure */
};

static bool stopping(const struct vud *v)
{
	return __atomic_load_n(&v->stopping, __ATOMIC_RELAXED);
}

static void stop(struct vud *v)
{
	__atomic_store_n(&v->stopping, true, __ATOMIC_RELAXED);
}

/* A system call failed: a log line naming it (errors show even with --quiet). */
static void sys_err(const char *call, int err)
{
	fprintf(stderr, "%s: error: %s: %s\n", daemon_name, call, strerror(err));
}

/* The daemon cannot go on: it ends with status 1. Main thread only. */
static void fail(struct vud *v)
{
	v->status = 1;
	stop(v);
}

static void close_fd(int *fd)
{
	/* Nothing written through these can be lost on close (sockets whose
	 * data went out already, eventfds, timerfds, epoll sets), so close's
	 * result says nothing worth acting on. */
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Adds one to an eventfd of ours. It cannot fail short of a bug
 * (EAGAIN, a full counter, would mean a wake-up is pending anyway). */
static void ring(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		sys_err("write (eventfd)", errno);
}

/* Reads an eventfd, timerfd or signalfd of ours that epoll said was
 * readable (all non-blocking). false: the read failed (logged); the fd
 * would stay readable, so the caller must not just go back to waiting. */
static bool take(int fd, void *buf, size_t len, const char *what)
{
	ssize_t n = read(fd, buf, len);

	if (n == (ssize_t)len || (n < 0 && (errno == EAGAIN || errno == EINTR)))
		return true;    /* EAGAIN: someone took it already, or a stale event */
	sys_err(what, n < 0 ? errno : EIO);
	return false;
}

static int watch(int ep, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = errno;

		sys_err("epoll_ctl (add)", err);
		return -err;
	}
	return 0;
}

static int unwatch(int ep, int fd)
{
	if (epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL) < 0) {
		int err = errno;

		sys_err("epoll_ctl (del)", err);
		return -err;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Watching the backend's fds                                               */

/* Finishes watching one of the backend's fds, number num (-1: none), in ep
 * under tag: dup is the caller's duplicate of it, or -1 with err = the
 * errno of the dup that failed. 0 or -errno (logged; dup closed). */
static int watched_set(struct watched *w, int ep, int num, int dup, int err, uint64_t tag,
		       const char *what)
{
	w->num = num;
	w->dup = -1;
	if (num < 0)
		return 0;
	if (dup < 0) {
		fprintf(stderr, "%s: error: fcntl (F_DUPFD_CLOEXEC) of %s: %s\n", daemon_name,
			what, strerror(err));
		return -err;
	}
	if ((err = watch(ep, dup, tag)) < 0) {
		close(dup);
		return err;
	}
	w->dup = dup;
	return 0;
}

static void watched_del(struct watched *w, int ep)
{
	if (w->dup >= 0) {
		/* Out of the set first: once ours is closed, nothing could
		 * name the registration (see "Whose fds" at the top). */
		unwatch(ep, w->dup);
		close(w->dup);
	}
	w->num = w->dup = -1;
}

/* Watches the frontend's socket in the main set. */
static int frontend_watch(struct vud *v, int sock)
{
	int dup = fcntl(sock, F_DUPFD_CLOEXEC, 0);

	return watched_set(&v->fe, v->ep, sock, dup, errno, TAG_FRONTEND, "the frontend's socket");
}

/* Watches queue qi's current kick fd in ep. The number is read and the
 * duplicate made under the queue's lock, so that both are the same file
 * even while the main thread replaces it. 0 or -errno (logged). */
static int kick_watch(struct vud *v, struct watched *w, unsigned qi, int ep)
{
	char what[40];
	int num, dup = -1, err = 0;

	vio_vu_backend_queue_lock(&v->b, qi);
	num = v->b.queues[qi].kick_fd;
	if (num >= 0 && (dup = fcntl(num, F_DUPFD_CLOEXEC, 0)) < 0)
		err = errno;
	vio_vu_backend_queue_unlock(&v->b, qi);
	snprintf(what, sizeof(what), "queue %u's kick fd", qi);
	return watched_set(w, ep, num, dup, err, TAG_KICK + qi, what);
}

/*
 * --single-thread: after each frontend message, brings the main set's
 * kick fds up to date; each is added once, when it comes, and taken out
 * when it goes. Only a message changes a kick fd (SET_VRING_KICK brings
 * one, GET_VRING_BASE and the frontend leaving close it), one message
 * changes it at most once, and a new one arrives before the old one is
 * closed: after one message, a changed fd always has another number (or
 * -1), so comparing numbers after every message misses no change.
 * vio_vu_backend_kick_fd takes the queue's lock; nothing here holds it.
 * 0, or -1 when a kick fd could not be watched (logged).
 */
static int kicks_sync(struct vud *v)
{
	int r = 0;

	for (unsigned i = 0; i < v->nq; i++) {
		struct watched *w = &v->q[i].kick;

		if (vio_vu_backend_kick_fd(&v->b, i) == w->num)
			continue;
		watched_del(w, v->ep);
		if (kick_watch(v, w, i, v->ep) < 0)
			r = -1;
	}
	return r;
}

/* The backend's kick fds changed (called by the backend, on the main
 * thread, no queue lock held): each queue thread watches its afresh.
 * --single-thread needs no call: kicks_sync follows every message. */
static void queues_changed(void *opaque)
{
	struct vud *v = opaque;

	for (unsigned i = 0; i < v->nq; i++)
		if (v->q[i].wake_fd >= 0)
			ring(v->q[i].wake_fd);
}

/* ------------------------------------------------------------------------ */
/* Queue threads                                                            */

/* From a queue thread: ask the main thread to act. */
static void request(struct vud *v, enum request req)
{
	__atomic_fetch_or(&v->requests, (unsigned)req, __ATOMIC_RELEASE);
	ring(v->req_fd);
}

static void *queue_thread(void *arg)
{
	struct qthread *t = arg;
	struct vud *v = t->v;
	const uint64_t poll_ns = (uint64_t)v->o->poll_us * 1000;

	if (v->o->busy_poll) {
		while (!stopping(v))
			vio_vu_backend_queue_poll(&v->b, t->qi);
		return NULL;
	}
	if (kick_watch(v, &t->kick, t->qi, t->ep) < 0)
		request(v, REQ_DROP);
	while (!stopping(v)) {
		struct epoll_event got[2];
		int n = epoll_wait(t->ep, got, 2, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sys_err("epoll_wait (queue thread)", errno);
			request(v, REQ_FAIL);
			break;
		}
		for (int i = 0; i < n; i++) {
			uint64_t x;

			if (got[i].data.u64 != TAG_WAKE) {
				vio_vu_backend_queue_dispatch(&v->b, t->qi);
				/* Keep serving without kicks while the driver
				 * keeps the queue busy (QEMU's iothreads poll
				 * the same way, 32 us by default). */
				vio_vu_backend_queue_poll_for(&v->b, t->qi, poll_ns);
				continue;
			}
			if (!take(t->wake_fd, &x, sizeof(x), "read (wake eventfd)")) {
				request(v, REQ_FAIL);
				goto out;
			}
			/* The kick fd changed, or it is time to stop: watch
			 * the current one afresh. Its number cannot tell: the
			 * old fd may have been closed and its number given to
			 * another between two looks. */
			watched_del(&t->kick, t->ep);
			if (!stopping(v) && kick_watch(v, &t->kick, t->qi, t->ep) < 0)
				request(v, REQ_DROP);
		}
	}
out:
	watched_del(&t->kick, t->ep);
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Event handlers (main thread)                                             */

/* One line per queue. Each queue's numbers are read under its lock: its
 * thread changes them as it serves (the stats callback too). */
static void print_stats(struct vud *v)
{
	for (unsigned i = 0; i < v->nq; i++) {
		const struct vio_vu_queue *q = &v->b.queues[i];
		const struct vio_dev_queue *dq = &v->dev->queues[i];
		unsigned long long kicks, calls, suppressed;
		char extra[160] = "";
		bool live;

		vio_vu_backend_queue_lock(&v->b, i);
		live = vio_dev_queue_live(v->dev, i);
		kicks = q->kicks;
		calls = q->calls;
		suppressed = dq->vq.stats.interrupts_suppressed;
		if (v->stats)
			v->stats(v->stats_opaque, i, extra, sizeof(extra));
		vio_vu_backend_queue_unlock(&v->b, i);
		fprintf(stderr, "%s: queue %u: %s kicks %llu interrupts %llu (suppressed %llu)%s%s\n",
			daemon_name, i, live ? "running" : "stopped", kicks, calls, suppressed,
			extra[0] ? " " : "", extra);
	}
}

/* The backend has detached (the frontend left, or was dropped). */
static void frontend_left(struct vud *v)
{
	watched_del(&v->fe, v->ep);
	if (v->o->single_thread)
		kicks_sync(v);  /* every kick fd is gone: out of the set */
	if (!v->o->quiet)
		fprintf(stderr, "%s: frontend disconnected%s\n", daemon_name,
			v->listen_fd >= 0 ? "; waiting for the next one" : "");
	if (v->listen_fd < 0)
		stop(v);        /* --fd: there is no next one */
}

/* A failure of ours leaves the frontend unserved: it goes, the next may come. */
static void frontend_drop(struct vud *v, const char *why)
{
	if (vio_vu_backend_fd(&v->b) < 0)
		return;
	fprintf(stderr, "%s: error: dropping the frontend: %s\n", daemon_name, why);
	vio_vu_backend_detach(&v->b);
	frontend_left(v);
}

static void on_signal(struct vud *v)
{
	struct signalfd_siginfo si = { 0 };

	if (!take(v->sig_fd, &si, sizeof(si), "read (signalfd)")) {
		fail(v);
		return;
	}
	if (si.ssi_signo == SIGUSR1)
		print_stats(v);
	else if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM)
		stop(v);
	/* SIGPIPE: a frontend gone under a reply; dispatch says so. */
}

/* accept4 failed in a way that would fail again at once (EMFILE, ENFILE,
 * ENOBUFS, ENOMEM, ...): the listen socket stays readable, so stop
 * watching it for ACCEPT_RETRY_MS instead of spinning on it. The
 * frontend waits in the backlog meanwhile. */
static void accept_backoff(struct vud *v, int err)
{
	const struct itimerspec its = { .it_value.tv_nsec = ACCEPT_RETRY_MS * 1000000L };

	if (v->accept_failures++ == 0)
		fprintf(stderr, "%s: error: accept4: %s; trying again every %u ms\n", daemon_name,
			strerror(err), ACCEPT_RETRY_MS);
	if (unwatch(v->ep, v->listen_fd) < 0) {
		fail(v);
		return;
	}
	v->listen_watched = false;
	if (timerfd_settime(v->retry_fd, 0, &its, NULL) < 0) {
		sys_err("timerfd_settime (accept back-off)", errno);
		fail(v);
	}
}

static void on_listen_retry(struct vud *v)
{
	uint64_t n;

	if (!take(v->retry_fd, &n, sizeof(n), "read (timerfd)") ||
	    (!v->listen_watched && watch(v->ep, v->listen_fd, TAG_LISTEN) < 0)) {
		fail(v);
		return;
	}
	v->listen_watched = true;
}

static void on_listen(struct vud *v)
{
	int c = accept4(v->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (c < 0) {
		/* Nothing to take after all, or that one is gone already. */
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
		    errno == ECONNABORTED)
			return;
		accept_backoff(v, errno);
		return;
	}
	if (v->accept_failures) {
		fprintf(stderr, "%s: accept4 works again, after %u failures\n", daemon_name,
			v->accept_failures);
		v->accept_failures = 0;
	}
	if (vio_vu_backend_attach(&v->b, c) < 0) {
		close(c);       /* one frontend at a time */
		return;
	}
	if (frontend_watch(v, c) < 0) {
		frontend_drop(v, "its socket cannot be watched");
		return;
	}
	if (!v->o->quiet)
		fprintf(stderr, "%s: frontend connected\n", daemon_name);
}

static void on_frontend(struct vud *v)
{
	if (v->fe.dup < 0)
		return;         /* it left earlier in this batch of events */
	if (vio_vu_backend_dispatch(&v->b) == -ECONNRESET) {
		frontend_left(v);
		return;
	}
	if (v->o->single_thread && kicks_sync(v) < 0)
		frontend_drop(v, "a kick fd cannot be watched");
}

static void on_stats(struct vud *v)
{
	uint64_t n;

	if (!take(v->stats_fd, &n, sizeof(n), "read (timerfd)")) {
		fail(v);
		return;
	}
	print_stats(v);
}

static void on_request(struct vud *v)
{
	uint64_t x;
	unsigned req;

	if (!take(v->req_fd, &x, sizeof(x), "read (request eventfd)")) {
		fail(v);
		return;
	}
	req = __atomic_exchange_n(&v->requests, 0, __ATOMIC_ACQUIRE);
	if (req & REQ_FAIL) {
		fprintf(stderr, "%s: error: a queue thread stopped\n", daemon_name);
		fail(v);
	} else if (req & REQ_DROP) {
		frontend_drop(v, "a kick fd cannot be watched");
	}
}

static void on_event(struct vud *v, uint64_t tag)
{
	switch (tag) {
	case TAG_SIGNAL:        on_signal(v); break;
	case TAG_LISTEN:        on_listen(v); break;
	case TAG_LISTEN_RETRY:  on_listen_retry(v); break;
	case TAG_FRONTEND:      on_frontend(v); break;
	case TAG_STATS:         on_stats(v); break;
	case TAG_REQUEST:       on_request(v); break;
	default:
		/* --single-thread: a kick (maybe stale: the fd may have
		 * left earlier in this batch; a dispatch then finds none). */
		if (tag >= TAG_KICK && tag - TAG_KICK < v->nq)
			vio_vu_backend_queue_dispatch(&v->b, (unsigned)(tag - TAG_KICK));
		break;
	}
}

/* ------------------------------------------------------------------------ */
/* setup, loop, teardown                                                    */

/* Blocked in every thread (the queue threads inherit the mask), taken from
 * a signalfd by the main thread. SIGPIPE too: a frontend that goes away
 * under a reply must not end the daemon. */
static int setup_signals(struct vud *v)
{
	sigset_t mask;
	int r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGPIPE);
	r = pthread_sigmask(SIG_BLOCK, &mask, NULL);
	if (r) {
		sys_err("pthread_sigmask", r);
		return -1;
	}
	v->sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (v->sig_fd < 0) {
		sys_err("signalfd", errno);
		return -1;
	}
	return 0;
}

static int setup_epoll(struct vud *v)
{
	v->ep = epoll_create1(EPOLL_CLOEXEC);
	if (v->ep < 0) {
		sys_err("epoll_create1", errno);
		return -1;
	}
	v->req_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v->req_fd < 0) {
		sys_err("eventfd", errno);
		return -1;
	}
	if (watch(v->ep, v->sig_fd, TAG_SIGNAL) || watch(v->ep, v->req_fd, TAG_REQUEST))
		return -1;
	return 0;
}

/* The stats timer (periodic, with --stats-interval) and the accept
 * back-off timer (disarmed until accept4 fails): made here, so that the
 * loop has nothing to create when fds run out. */
static int setup_timers(struct vud *v)
{
	if (v->o->stats_interval) {
		const struct itimerspec its = {
			.it_interval.tv_sec = v->o->stats_interval,
			.it_value.tv_sec = v->o->stats_interval,
		};

		v->stats_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (v->stats_fd < 0) {
			sys_err("timerfd_create", errno);
			return -1;
		}
		if (timerfd_settime(v->stats_fd, 0, &its, NULL) < 0) {
			sys_err("timerfd_settime (--stats-interval)", errno);
			return -1;
		}
		if (watch(v->ep, v->stats_fd, TAG_STATS))
			return -1;
	}
	if (v->o->socket_path) {
		v->retry_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (v->retry_fd < 0) {
			sys_err("timerfd_create", errno);
			return -1;
		}
		if (watch(v->ep, v->retry_fd, TAG_LISTEN_RETRY))
			return -1;
	}
	return 0;
}

/* A thread per queue, each with its epoll set and wake eventfd (none with
 * --single-thread: kicks_sync puts the kick fds in the main set). */
static int setup_queues(struct vud *v)
{
	if (v->o->single_thread)
		return 0;
	for (unsigned i = 0; i < v->nq; i++) {
		struct qthread *t = &v->q[i];
		int r;

		t->ep = epoll_create1(EPOLL_CLOEXEC);
		if (t->ep < 0) {
			sys_err("epoll_create1", errno);
			return -1;
		}
		t->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (t->wake_fd < 0) {
			sys_err("eventfd", errno);
			return -1;
		}
		if (watch(t->ep, t->wake_fd, TAG_WAKE))
			return -1;
		r = pthread_create(&t->tid, NULL, queue_thread, t);
		if (r) {
			sys_err("pthread_create", r);
			return -1;
		}
		t->started = true;
	}
	return 0;
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "%s: error: socket path too long: %s\n", daemon_name, path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	/* A socket left by an earlier run (bind would fail on it). */
	if (unlink(path) < 0 && errno != ENOENT) {
		fprintf(stderr, "%s: error: unlink %s: %s\n", daemon_name, path, strerror(errno));
		return -1;
	}
	/* Non-blocking: an event for a connection that is gone by the time
	 * accept4 looks must not hold up the loop. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		sys_err("socket", errno);
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		fprintf(stderr, "%s: error: cannot listen on %s: %s\n", daemon_name, path,
			strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Last: the listen socket (from here on frontends can come), or the
 * frontend already connected (--fd). */
static int setup_frontend(struct vud *v)
{
	if (v->o->fd >= 0) {
		/* The backend owns the fd from here on. */
		int r = vio_vu_backend_attach(&v->b, v->o->fd);

		if (r < 0) {
			fprintf(stderr, "%s: error: cannot serve --fd=%d: %s\n", daemon_name,
				v->o->fd, vio_strerror(r));
			return -1;
		}
		return frontend_watch(v, v->o->fd) < 0 ? -1 : 0;
	}
	v->listen_fd = listen_on(v->o->socket_path);
	if (v->listen_fd < 0 || watch(v->ep, v->listen_fd, TAG_LISTEN))
		return -1;
	v->listen_watched = true;
	if (!v->o->quiet)
		fprintf(stderr, "%s: listening on %s\n", daemon_name, v->o->socket_path);
	return 0;
}

static int setup(struct vud *v)
{
	struct vio_vu_backend_config cfg = {
		.log = vud_log,
		.queues_changed = queues_changed,
		.opaque = v,
		.protocol_features_off = v->o->protocol_features_off,
	};
	int r = vio_vu_backend_init(&v->b, v->dev, &cfg);

	if (r) {
		fprintf(stderr, "%s: error: cannot set up the vhost-user backend: %s\n",
			daemon_name, vio_strerror(r));
		return -1;
	}
	v->backend_ready = true;
	v->nq = v->dev->num_queues;     /* at most VIO_VU_MAX_QUEUES: init checked */
	if (setup_signals(v) || setup_epoll(v) || setup_timers(v) || setup_queues(v))
		return -1;
	/* The daemon's own threads (a port's), with the signals blocked. */
	if (v->o->backend_up) {
		if (v->o->backend_up(v->o->hooks_opaque, &v->b) < 0)
			return -1;
		v->hooks_up = true;
	}
	if (setup_frontend(v))
		return -1;
	return 0;
}

static void loop(struct vud *v)
{
	/* --busy-poll --single-thread: look at every queue between events. */
	const bool spin = v->o->busy_poll && v->o->single_thread;

	while (!stopping(v)) {
		struct epoll_event got[8];
		int n = epoll_wait(v->ep, got, 8, spin ? 0 : -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sys_err("epoll_wait", errno);
			fail(v);
			break;
		}
		for (int k = 0; k < n && !stopping(v); k++)
			on_event(v, got[k].data.u64);
		for (unsigned i = 0; spin && i < v->nq; i++)
			vio_vu_backend_queue_poll(&v->b, i);
	}
}

/* Undoes setup, in reverse order, from wherever it got to. Returns the
 * exit status. Signals stay blocked: one that comes now must not end the
 * daemon halfway through. */
static int teardown(struct vud *v)
{
	stop(v);
	/* setup_frontend */
	watched_del(&v->fe, v->ep);
	if (v->listen_fd >= 0) {
		close_fd(&v->listen_fd);
		if (unlink(v->o->socket_path) < 0 && errno != ENOENT)
			fprintf(stderr, "%s: warning: unlink %s: %s\n", daemon_name,
				v->o->socket_path, strerror(errno));
	}
	/* setup_queues: every thread sees the stop flag at its next wake-up. */
	for (unsigned i = 0; i < v->nq; i++)
		if (v->q[i].started)
			ring(v->q[i].wake_fd);
	for (unsigned i = 0; i < v->nq; i++) {
		struct qthread *t = &v->q[i];

		if (t->started) {
			int r = pthread_join(t->tid, NULL);

			if (r) {
				sys_err("pthread_join", r);
				v->status = 1;
			}
		}
		if (v->o->single_thread)
			watched_del(&t->kick, v->ep);
		close_fd(&t->wake_fd);
		close_fd(&t->ep);
	}
	/* setup_timers, setup_epoll, setup_signals */
	close_fd(&v->retry_fd);
	close_fd(&v->stats_fd);
	close_fd(&v->req_fd);
	close_fd(&v->ep);
	close_fd(&v->sig_fd);
	/* The daemon's threads stop before the backend goes. */
	if (v->hooks_up)
		v->o->backend_down(v->o->hooks_opaque);
	/* setup: the backend (closing the frontend's socket) */
	if (v->backend_ready)
		vio_vu_backend_fini(&v->b);
	if (!v->o->quiet)
		fprintf(stderr, "%s: stopped\n", daemon_name);
	return v->status;
}

int vud_run(struct vio_dev_model *dev, const struct vud_opts *o, const char *name,
	    vud_stats_fn *stats, void *stats_opaque)
{
	struct vud *v = calloc(1, sizeof(*v));
	int status;

	daemon_name = name;
	quiet = o->quiet;
	if (!v) {
		fprintf(stderr, "%s: error: out of memory\n", name);
		return 1;
	}
	v->dev = dev;
	v->o = o;
	v->stats = stats;
	v->stats_opaque = stats_opaque;
	v->sig_fd = v->ep = v->req_fd = v->stats_fd = v->retry_fd = v->listen_fd = -1;
	v->fe.num = v->fe.dup = -1;
	for (unsigned i = 0; i < VIO_VU_MAX_QUEUES; i++) {
		struct qthread *t = &v->q[i];

		t->v = v;
		t->qi = i;
		t->ep = t->wake_fd = -1;
		t->kick.num = t->kick.dup = -1;
	}
	if (setup(v) < 0)
		v->status = 1;
	else
		loop(v);
	status = teardown(v);
	free(v);
	return status;
}
