/*
 * vud.c - event loop and conventions shared by the vhost-user daemons.
 *
 * Ports. A process serves one device (vud_run) or several, each on a
 * socket of its own (vud_run_many: vhost-user-net --switch). Each device
 * is a *port* (struct vport): its backend, listen socket, accept back-off
 * timer, frontend, queue threads and requests are its own, and a frontend
 * leaving one port touches no other. What is shared: the signals, the
 * main epoll set and thread, the request eventfd, the stats timer, the
 * stop flag and the exit status. vud_run() is vud_run_many() with one
 * port, and says what it always said (no "port N" in its log lines).
 *
 * How the pieces fit. vud_run_many() is three steps, each a function below:
 *
 *   setup()     makes everything the daemon needs before a frontend may
 *               come, in this order: every port's backend, the signals
 *               (blocked in every thread, read from a signalfd), the main
 *               epoll set with the request eventfd, the timers
 *               (--stats-interval, each port's accept back-off), each
 *               port's queue threads and backend_up hook, and last the
 *               listen sockets (or the --fd frontend): once the sockets
 *               listen, the daemon is ready. A failure is a log line
 *               naming the call, and exit status 1.
 *   loop()      the main thread's epoll loop, until the stop flag is set.
 *               Each event's tag (below) names its handler, on_<tag>().
 *   teardown()  sets the stop flag, wakes and joins the queue threads,
 *               then closes what setup made, in reverse order. It also
 *               undoes a setup that failed half way.
 *
 * Threads. The main thread owns the frontends' sockets (accept, then one
 * vio_vu_backend_dispatch per readable event), the signals and the timers.
 * Each queue has a thread (queue_thread) that waits on the queue's kick
 * fd and on a "wake" eventfd the main thread rings when kick fds change
 * or when it is time to stop; the library's per-queue locks make its
 * dispatch safe against control messages on the main thread. Queues the
 * device serialises as a range of their own (a net device's queue pair:
 * vio_dev_queue's serial_first/serial_count) could never run at once
 * anyway: they share one thread, which waits on all their kick fds and
 * polls them together (group_queues). A queue
 * thread that fails asks the main thread to act (request(): bits in its
 * port, then the shared request eventfd). With
 * --single-thread the kick fds join the main epoll set instead
 * (kicks_sync); with --busy-poll the queues are polled without waiting.
 * A queue's event fd (vio_vu_backend_event_fd: a blk device's storage
 * completions) is the device's and the same for its whole life: it is
 * watched once, beside the kicks, by the thread that serves the queue (or
 * the main set with --single-thread), in every mode; a busy-polling queue
 * thread runs the queue's events each round instead, and adaptive polling
 * looks at them while it spins (vio_vu_backend_queues_poll_for).
 *
 * Epoll tags. epoll_data.u64 holds a tag in its low 32 bits (one of enum
 * tag, TAG_KICK + qi for queue qi's kick fd, or TAG_EVENT + qi for its
 * event fd) and the port's index in
 * its high 32 bits (0 for what all ports share). The main set and the
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
 * dropped (the next may come, on that port); accept4 failing for want of
 * fds or memory takes that listen socket out of the set for
 * ACCEPT_RETRY_MS; anything
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

/* One more --socket-path: false (message printed) past max. */
static bool add_socket(struct vud_opts *o, const char *path, unsigned max, const char *argv0)
{
	if (o->n_sockets >= max) {
		if (max == 1)
			fprintf(stderr, "%s: give --socket-path once\n", argv0);
		else
			fprintf(stderr, "%s: at most %u --socket-path\n", argv0, max);
		return false;
	}
	o->socket_paths[o->n_sockets++] = path;
	o->socket_path = o->socket_paths[0];
	return true;
}

int vud_parse(int *argc, char **argv, struct vud_opts *o, const char *caps_json,
	      void (*usage)(const char *argv0))
{
	return vud_parse_many(argc, argv, o, caps_json, usage, 1);
}

int vud_parse_many(int *argc, char **argv, struct vud_opts *o, const char *caps_json,
		   void (*usage)(const char *argv0), unsigned max_sockets)
{
	int out = 1;

	if (max_sockets < 1 || max_sockets > VUD_MAX_PORTS)
		max_sockets = max_sockets ? VUD_MAX_PORTS : 1;

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
			if (!add_socket(o, a + 14, max_sockets, argv[0]))
				return -1;
		} else if (!strcmp(a, "--socket-path") && i + 1 < *argc) {
			if (!add_socket(o, argv[++i], max_sockets, argv[0]))
				return -1;
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
	for (unsigned i = 0; i < o->n_sockets; i++)
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(o->socket_paths[i], o->socket_paths[j])) {
				fprintf(stderr, "%s: --socket-path %s given twice\n", argv[0],
					o->socket_paths[i]);
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
	TAG_LISTEN,             /* a port's listen socket: a frontend to accept */
	TAG_LISTEN_RETRY,       /* a port's timerfd: the accept back-off is over */
	TAG_FRONTEND,           /* a port's frontend socket: one message */
	TAG_STATS,              /* timerfd: --stats-interval */
	TAG_REQUEST,            /* eventfd: a queue thread asks (enum request) */
	TAG_WAKE,               /* eventfd, in a queue thread's set: kick fd changed, or stop */
	TAG_KICK,               /* TAG_KICK + qi: queue qi's kick fd; must stay last */
};

/* TAG_EVENT + qi: queue qi's event fd, after every kick tag. */
#define TAG_EVENT (TAG_KICK + VIO_VU_MAX_QUEUES)

static uint64_t tag_of(unsigned port, uint32_t tag)
{
	return (uint64_t)port << 32 | tag;
}

/* What a queue thread asks of the main thread (bits in vport.requests). */
enum request {
	REQ_DROP = 1,           /* drop the port's frontend: a kick fd cannot be watched */
	REQ_FAIL = 2,           /* end the daemon with status 1: the thread stopped */
};

#define ACCEPT_RETRY_MS 100     /* accept4 back-off: no spinning on EMFILE */

/* An fd the backend owns, watched through a duplicate of our own. */
struct watched {
	int num;                /* the backend's number for it (-1: none) */
	int dup;                /* ours, in the epoll set (-1: none) */
};

struct vport;

#define GROUP_MAX 8u            /* most queues one thread serves */

/* A queue thread and the queues it serves. */
struct qthread {
	struct vport *p;
	unsigned qis[GROUP_MAX], n;
	pthread_t tid;
	bool started;           /* tid is to be joined */
	int ep;                 /* the thread's epoll set */
	int wake_fd;            /* eventfd, TAG_WAKE in ep */
};

/* One device on its own socket. */
struct vport {
	struct vud *v;
	unsigned idx;
	struct vud_port port;   /* what the caller gave */
	char tag[24];           /* "port N: " in log lines, "" with one port */
	struct vio_vu_backend b;
	bool backend_ready;     /* vio_vu_backend_init succeeded */
	bool hooks_up;          /* backend_up succeeded: backend_down is due */
	unsigned nq;

	int retry_fd;           /* TAG_LISTEN_RETRY (-1 with --fd) */
	int listen_fd;          /* TAG_LISTEN (-1 with --fd) */
	bool listen_watched;    /* in the set (not backing off) */
	unsigned accept_failures;       /* in a row */
	struct watched fe;      /* the frontend's socket, TAG_FRONTEND */

	struct qthread q[VIO_VU_MAX_QUEUES];    /* [0, nthreads) */
	unsigned nthreads;
	/* Each queue's kick fd as watched: by its thread, or with
	 * --single-thread in the main set. */
	struct watched kick[VIO_VU_MAX_QUEUES];
	unsigned requests;      /* atomic: enum request bits */
};

struct vud {
	const struct vud_opts *o;
	int fd;                 /* --fd (one port only), or -1 */
	unsigned nports;
	struct vport *ports;

	int sig_fd;             /* TAG_SIGNAL */
	int ep;                 /* the main epoll set */
	int req_fd;             /* TAG_REQUEST */
	int stats_fd;           /* TAG_STATS (-1 without --stats-interval) */

	bool stopping;          /* atomic: queue threads read it */
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

/* Watches the port's frontend socket in the main set. */
static int frontend_watch(struct vport *p, int sock)
{
	int dup = fcntl(sock, F_DUPFD_CLOEXEC, 0);

	return watched_set(&p->fe, p->v->ep, sock, dup, errno, tag_of(p->idx, TAG_FRONTEND),
			   "the frontend's socket");
}

/* Watches queue qi's current kick fd in ep. The number is read and the
 * duplicate made under the queue's lock, so that both are the same file
 * even while the main thread replaces it. 0 or -errno (logged). */
static int kick_watch(struct vport *p, struct watched *w, unsigned qi, int ep)
{
	char what[40];
	int num, dup = -1, err = 0;

	vio_vu_backend_queue_lock(&p->b, qi);
	num = p->b.queues[qi].kick_fd;
	if (num >= 0 && (dup = fcntl(num, F_DUPFD_CLOEXEC, 0)) < 0)
		err = errno;
	vio_vu_backend_queue_unlock(&p->b, qi);
	snprintf(what, sizeof(what), "queue %u's kick fd", qi);
	return watched_set(w, ep, num, dup, err, tag_of(p->idx, TAG_KICK + qi), what);
}

/*
 * --single-thread: after each frontend message, brings the main set's
 * kick fds of that port up to date; each is added once, when it comes,
 * and taken out when it goes. Only a message changes a kick fd
 * (SET_VRING_KICK brings one, GET_VRING_BASE and the frontend leaving
 * close it), one message changes it at most once, and a new one arrives
 * before the old one is closed: after one message, a changed fd always has
 * another number (or -1), so comparing numbers after every message misses
 * no change. vio_vu_backend_kick_fd takes the queue's lock; nothing here
 * holds it. 0, or -1 when a kick fd could not be watched (logged).
 */
static int kicks_sync(struct vport *p)
{
	int r = 0;

	for (unsigned i = 0; i < p->nq; i++) {
		struct watched *w = &p->kick[i];

		if (vio_vu_backend_kick_fd(&p->b, i) == w->num)
			continue;
		watched_del(w, p->v->ep);
		if (kick_watch(p, w, i, p->v->ep) < 0)
			r = -1;
	}
	return r;
}

/* The backend's kick fds changed (called by the port's backend, on the
 * main thread, no queue lock held): each queue thread watches its afresh.
 * --single-thread needs no call: kicks_sync follows every message. */
static void queues_changed(void *opaque)
{
	struct vport *p = opaque;

	for (unsigned i = 0; i < p->nthreads; i++)
		if (p->q[i].wake_fd >= 0)
			ring(p->q[i].wake_fd);
}

/* ------------------------------------------------------------------------ */
/* Queue threads                                                            */

/* From a queue thread: ask the main thread to act for its port. */
static void request(struct vport *p, enum request req)
{
	__atomic_fetch_or(&p->requests, (unsigned)req, __ATOMIC_RELEASE);
	ring(p->v->req_fd);
}

/* Watches the current kick fd of each of t's queues in its set, afresh
 * (the old ones out first): its number cannot tell whether it changed,
 * the old fd may have been closed and its number given to another
 * between two looks. */
static void kicks_rewatch(struct qthread *t)
{
	struct vport *p = t->p;

	for (unsigned i = 0; i < t->n; i++)
		watched_del(&p->kick[t->qis[i]], t->ep);
	if (stopping(p->v))
		return;
	for (unsigned i = 0; i < t->n; i++)
		if (kick_watch(p, &p->kick[t->qis[i]], t->qis[i], t->ep) < 0)
			request(p, REQ_DROP);
}

static void *queue_thread(void *arg)
{
	struct qthread *t = arg;
	struct vport *p = t->p;
	struct vud *v = p->v;
	const uint64_t poll_ns = (uint64_t)v->o->poll_us * 1000;

	if (v->o->busy_poll) {
		while (!stopping(v))
			for (unsigned i = 0; i < t->n; i++) {
				if (vio_vu_backend_event_fd(&p->b, t->qis[i]) >= 0)
					vio_vu_backend_queue_event(&p->b, t->qis[i]);
				vio_vu_backend_queue_poll(&p->b, t->qis[i]);
			}
		return NULL;
	}
	kicks_rewatch(t);
	while (!stopping(v)) {
		struct epoll_event got[2 * GROUP_MAX + 1];
		int n = epoll_wait(t->ep, got, 2 * (int)t->n + 1, -1);
		bool kicked = false;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sys_err("epoll_wait (queue thread)", errno);
			request(p, REQ_FAIL);
			break;
		}
		for (int i = 0; i < n; i++) {
			const uint32_t tag = (uint32_t)got[i].data.u64;
			uint64_t x;

			if (tag != TAG_WAKE) {
				if (tag >= TAG_KICK && tag - TAG_KICK < p->nq) {
					vio_vu_backend_queue_dispatch(&p->b, tag - TAG_KICK);
					kicked = true;
				} else if (tag >= TAG_EVENT && tag - TAG_EVENT < p->nq) {
					vio_vu_backend_queue_event(&p->b, tag - TAG_EVENT);
					kicked = true;
				}
				continue;
			}
			if (!take(t->wake_fd, &x, sizeof(x), "read (wake eventfd)")) {
				request(p, REQ_FAIL);
				goto out;
			}
			/* The kick fds changed, or it is time to stop. */
			kicks_rewatch(t);
		}
		/* Keep serving without kicks while the driver keeps the
		 * queues busy (QEMU's iothreads poll the same way, 32 us by
		 * default). */
		if (kicked && !stopping(v))
			vio_vu_backend_queues_poll_for(&p->b, t->qis, t->n, poll_ns);
	}
out:
	for (unsigned i = 0; i < t->n; i++)
		watched_del(&p->kick[t->qis[i]], t->ep);
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Event handlers (main thread)                                             */

/* One line per queue of each port, then the port's own line. Each
 * queue's numbers are read under its lock: its thread changes them as it
 * serves (the stats callback too). */
static void print_stats(struct vud *v)
{
	for (unsigned k = 0; k < v->nports; k++) {
		struct vport *p = &v->ports[k];
		char extra[256];

		if (!p->backend_ready)
			continue;
		for (unsigned i = 0; i < p->nq; i++) {
			const struct vio_vu_queue *q = &p->b.queues[i];
			const struct vio_dev_queue *dq = &p->port.dev->queues[i];
			unsigned long long kicks, calls, suppressed;
			bool live;

			extra[0] = '\0';
			vio_vu_backend_queue_lock(&p->b, i);
			live = vio_dev_queue_live(p->port.dev, i);
			kicks = q->kicks;
			calls = q->calls;
			suppressed = dq->vq.stats.interrupts_suppressed;
			if (p->port.stats)
				p->port.stats(p->port.stats_opaque, i, extra, sizeof(extra));
			vio_vu_backend_queue_unlock(&p->b, i);
			fprintf(stderr,
				"%s: %squeue %u: %s kicks %llu interrupts %llu (suppressed %llu)%s%s\n",
				daemon_name, p->tag, i, live ? "running" : "stopped", kicks, calls,
				suppressed, extra[0] ? " " : "", extra);
		}
		if (p->port.port_stats) {
			extra[0] = '\0';
			p->port.port_stats(p->port.stats_opaque, k, extra, sizeof(extra));
			if (extra[0])
				fprintf(stderr, "%s: %s%s\n", daemon_name, p->tag, extra);
		}
	}
}

/* The port's backend has detached (the frontend left, or was dropped). */
static void frontend_left(struct vport *p)
{
	struct vud *v = p->v;

	watched_del(&p->fe, v->ep);
	if (v->o->single_thread)
		kicks_sync(p);  /* every kick fd is gone: out of the set */
	if (!v->o->quiet)
		fprintf(stderr, "%s: %sfrontend disconnected%s\n", daemon_name, p->tag,
			p->listen_fd >= 0 ? "; waiting for the next one" : "");
	if (p->listen_fd < 0)
		stop(v);        /* --fd: there is no next one */
}

/* A failure of ours leaves the frontend unserved: it goes, the next may come. */
static void frontend_drop(struct vport *p, const char *why)
{
	if (vio_vu_backend_fd(&p->b) < 0)
		return;
	fprintf(stderr, "%s: error: %sdropping the frontend: %s\n", daemon_name, p->tag, why);
	vio_vu_backend_detach(&p->b);
	frontend_left(p);
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
static void accept_backoff(struct vport *p, int err)
{
	const struct itimerspec its = { .it_value.tv_nsec = ACCEPT_RETRY_MS * 1000000L };

	if (p->accept_failures++ == 0)
		fprintf(stderr, "%s: error: %saccept4: %s; trying again every %u ms\n", daemon_name,
			p->tag, strerror(err), ACCEPT_RETRY_MS);
	if (unwatch(p->v->ep, p->listen_fd) < 0) {
		fail(p->v);
		return;
	}
	p->listen_watched = false;
	if (timerfd_settime(p->retry_fd, 0, &its, NULL) < 0) {
		sys_err("timerfd_settime (accept back-off)", errno);
		fail(p->v);
	}
}

static void on_listen_retry(struct vport *p)
{
	uint64_t n;

	if (!take(p->retry_fd, &n, sizeof(n), "read (timerfd)") ||
	    (!p->listen_watched && watch(p->v->ep, p->listen_fd, tag_of(p->idx, TAG_LISTEN)) < 0)) {
		fail(p->v);
		return;
	}
	p->listen_watched = true;
}

static void on_listen(struct vport *p)
{
	int c;

	if (!p->listen_watched)
		return;         /* backing off since earlier in this batch */
	c = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0) {
		/* Nothing to take after all, or that one is gone already. */
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
		    errno == ECONNABORTED)
			return;
		accept_backoff(p, errno);
		return;
	}
	if (p->accept_failures) {
		fprintf(stderr, "%s: %saccept4 works again, after %u failures\n", daemon_name,
			p->tag, p->accept_failures);
		p->accept_failures = 0;
	}
	if (vio_vu_backend_attach(&p->b, c) < 0) {
		close(c);       /* one frontend at a time */
		return;
	}
	if (frontend_watch(p, c) < 0) {
		frontend_drop(p, "its socket cannot be watched");
		return;
	}
	if (!p->v->o->quiet)
		fprintf(stderr, "%s: %sfrontend connected\n", daemon_name, p->tag);
}

static void on_frontend(struct vport *p)
{
	if (p->fe.dup < 0)
		return;         /* it left earlier in this batch of events */
	if (vio_vu_backend_dispatch(&p->b) == -ECONNRESET) {
		frontend_left(p);
		return;
	}
	if (p->v->o->single_thread && kicks_sync(p) < 0)
		frontend_drop(p, "a kick fd cannot be watched");
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

	if (!take(v->req_fd, &x, sizeof(x), "read (request eventfd)")) {
		fail(v);
		return;
	}
	for (unsigned k = 0; k < v->nports; k++) {
		struct vport *p = &v->ports[k];
		unsigned req = __atomic_exchange_n(&p->requests, 0, __ATOMIC_ACQUIRE);

		if (req & REQ_FAIL) {
			fprintf(stderr, "%s: error: %sa queue thread stopped\n", daemon_name, p->tag);
			fail(v);
		} else if (req & REQ_DROP) {
			frontend_drop(p, "a kick fd cannot be watched");
		}
	}
}

static void on_event(struct vud *v, uint64_t u64)
{
	const uint32_t tag = (uint32_t)u64;
	const uint32_t port = (uint32_t)(u64 >> 32);
	struct vport *p;

	switch (tag) {
	case TAG_SIGNAL:        on_signal(v); return;
	case TAG_STATS:         on_stats(v); return;
	case TAG_REQUEST:       on_request(v); return;
	default:                break;
	}
	if (port >= v->nports)
		return;         /* not a tag of ours: cannot happen */
	p = &v->ports[port];
	switch (tag) {
	case TAG_LISTEN:        on_listen(p); break;
	case TAG_LISTEN_RETRY:  on_listen_retry(p); break;
	case TAG_FRONTEND:      on_frontend(p); break;
	default:
		/* --single-thread: a kick (maybe stale: the fd may have
		 * left earlier in this batch; a dispatch then finds none). */
		if (tag >= TAG_KICK && tag - TAG_KICK < p->nq)
			vio_vu_backend_queue_dispatch(&p->b, tag - TAG_KICK);
		else if (tag >= TAG_EVENT && tag - TAG_EVENT < p->nq)
			vio_vu_backend_queue_event(&p->b, tag - TAG_EVENT);
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

/* The stats timer (periodic, with --stats-interval) and each port's
 * accept back-off timer (disarmed until accept4 fails): made here, so
 * that the loop has nothing to create when fds run out. */
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
	if (v->fd >= 0)
		return 0;
	for (unsigned k = 0; k < v->nports; k++) {
		struct vport *p = &v->ports[k];

		p->retry_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (p->retry_fd < 0) {
			sys_err("timerfd_create", errno);
			return -1;
		}
		if (watch(v->ep, p->retry_fd, tag_of(k, TAG_LISTEN_RETRY)))
			return -1;
	}
	return 0;
}

/*
 * Which queues share a thread: queue i joins queue f's when the device
 * serialises both as the same range [f, f + c) of their own (c from 2 to
 * GROUP_MAX): a net device's pair, whose two queues could never run at
 * once anyway. Every other queue has a thread of its own (a net device's
 * control queue, whose range is every queue; each blk queue).
 */
static void group_queues(struct vport *p)
{
	const struct vio_dev_queue *dq = p->port.dev->queues;
	unsigned thread_of[VIO_VU_MAX_QUEUES];

	p->nthreads = 0;
	for (unsigned i = 0; i < p->nq; i++) {
		const unsigned f = dq[i].serial_first, c = dq[i].serial_count;
		struct qthread *t;

		if (c >= 2 && c <= GROUP_MAX && f < i && i < f + c &&
		    dq[f].serial_first == f && dq[f].serial_count == c) {
			thread_of[i] = thread_of[f];
		} else {
			thread_of[i] = p->nthreads++;
			p->q[thread_of[i]].n = 0;
		}
		t = &p->q[thread_of[i]];
		t->qis[t->n++] = i;
	}
}

/* A thread per group of the port's queues, each with its epoll set and
 * wake eventfd (none with --single-thread: kicks_sync puts the kick fds in
 * the main set). */
static int setup_queues(struct vport *p)
{
	if (p->v->o->single_thread) {
		/* The event fds stay for the device's life: watched once. */
		for (unsigned i = 0; i < p->nq; i++) {
			int fd = vio_vu_backend_event_fd(&p->b, i);

			if (fd >= 0 && watch(p->v->ep, fd, tag_of(p->idx, TAG_EVENT + i)))
				return -1;
		}
		return 0;
	}
	group_queues(p);
	for (unsigned i = 0; i < p->nthreads; i++) {
		struct qthread *t = &p->q[i];
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
		if (watch(t->ep, t->wake_fd, tag_of(p->idx, TAG_WAKE)))
			return -1;
		for (unsigned k = 0; k < t->n; k++) {
			int fd = vio_vu_backend_event_fd(&p->b, t->qis[k]);

			if (fd >= 0 && watch(t->ep, fd, tag_of(p->idx, TAG_EVENT + t->qis[k])))
				return -1;
		}
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

/* Last: the listen sockets (from here on frontends can come), or the
 * frontend already connected (--fd, one port). */
static int setup_frontends(struct vud *v)
{
	if (v->fd >= 0) {
		struct vport *p = &v->ports[0];
		/* The backend owns the fd from here on. */
		int r = vio_vu_backend_attach(&p->b, v->fd);

		if (r < 0) {
			fprintf(stderr, "%s: error: cannot serve --fd=%d: %s\n", daemon_name,
				v->fd, vio_strerror(r));
			return -1;
		}
		return frontend_watch(p, v->fd) < 0 ? -1 : 0;
	}
	for (unsigned k = 0; k < v->nports; k++) {
		struct vport *p = &v->ports[k];

		p->listen_fd = listen_on(p->port.socket_path);
		if (p->listen_fd < 0 || watch(v->ep, p->listen_fd, tag_of(k, TAG_LISTEN)))
			return -1;
		p->listen_watched = true;
		if (!v->o->quiet)
			fprintf(stderr, "%s: %slistening on %s\n", daemon_name, p->tag,
				p->port.socket_path);
	}
	return 0;
}

static int setup_backend(struct vport *p)
{
	struct vio_vu_backend_config cfg = {
		.log = vud_log,
		.queues_changed = queues_changed,
		.opaque = p,
		.protocol_features_off = p->v->o->protocol_features_off,
	};
	int r = vio_vu_backend_init(&p->b, p->port.dev, &cfg);

	if (r) {
		fprintf(stderr, "%s: error: %scannot set up the vhost-user backend: %s\n",
			daemon_name, p->tag, vio_strerror(r));
		return -1;
	}
	p->backend_ready = true;
	p->nq = p->port.dev->num_queues;        /* at most VIO_VU_MAX_QUEUES: init checked */
	return 0;
}

static int setup(struct vud *v)
{
	for (unsigned k = 0; k < v->nports; k++)
		if (setup_backend(&v->ports[k]))
			return -1;
	if (setup_signals(v) || setup_epoll(v) || setup_timers(v))
		return -1;
	for (unsigned k = 0; k < v->nports; k++) {
		struct vport *p = &v->ports[k];

		if (setup_queues(p))
			return -1;
		/* The daemon's own threads (a port's), with the signals blocked. */
		if (p->port.backend_up) {
			if (p->port.backend_up(p->port.hooks_opaque, &p->b) < 0)
				return -1;
			p->hooks_up = true;
		}
	}
	return setup_frontends(v);
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
		for (unsigned k = 0; spin && k < v->nports; k++)
			for (unsigned i = 0; i < v->ports[k].nq; i++)
				vio_vu_backend_queue_poll(&v->ports[k].b, i);
	}
}

/* Undoes setup, in reverse order, from wherever it got to. Returns the
 * exit status. Signals stay blocked: one that comes now must not end the
 * daemon halfway through. */
static int teardown(struct vud *v)
{
	stop(v);
	/* setup_frontends */
	for (unsigned k = 0; k < v->nports; k++) {
		struct vport *p = &v->ports[k];

		watched_del(&p->fe, v->ep);
		if (p->listen_fd >= 0) {
			close_fd(&p->listen_fd);
			if (unlink(p->port.socket_path) < 0 && errno != ENOENT)
				fprintf(stderr, "%s: warning: unlink %s: %s\n", daemon_name,
					p->port.socket_path, strerror(errno));
		}
	}
	/* setup_queues: every thread sees the stop flag at its next wake-up. */
	for (unsigned k = 0; k < v->nports; k++)
		for (unsigned i = 0; i < v->ports[k].nthreads; i++)
			if (v->ports[k].q[i].started)
				ring(v->ports[k].q[i].wake_fd);
	for (unsigned k = 0; k < v->nports; k++) {
		struct vport *p = &v->ports[k];

		for (unsigned i = 0; i < p->nthreads; i++) {
			struct qthread *t = &p->q[i];

			if (t->started) {
				int r = pthread_join(t->tid, NULL);

				if (r) {
					sys_err("pthread_join", r);
					v->status = 1;
				}
			}
			close_fd(&t->wake_fd);
			close_fd(&t->ep);
		}
		if (v->o->single_thread)
			for (unsigned i = 0; i < p->nq; i++)
				watched_del(&p->kick[i], v->ep);
		close_fd(&p->retry_fd);
	}
	/* setup_timers, setup_epoll, setup_signals */
	close_fd(&v->stats_fd);
	close_fd(&v->req_fd);
	close_fd(&v->ep);
	close_fd(&v->sig_fd);
	for (unsigned k = 0; k < v->nports; k++) {
		struct vport *p = &v->ports[k];

		/* The daemon's threads stop before the backend goes. */
		if (p->hooks_up)
			p->port.backend_down(p->port.hooks_opaque);
		/* setup_backend: the backend (closing the frontend's socket) */
		if (p->backend_ready)
			vio_vu_backend_fini(&p->b);
	}
	if (!v->o->quiet)
		fprintf(stderr, "%s: stopped\n", daemon_name);
	return v->status;
}

static int run(const struct vud_port *ports, unsigned n, const struct vud_opts *o,
	       const char *name, int fd)
{
	struct vud v = { .o = o, .fd = fd, .nports = n, .status = 0 };
	int status;

	daemon_name = name;
	quiet = o->quiet;
	if (n == 0 || n > VUD_MAX_PORTS || (fd >= 0 && n != 1)) {
		fprintf(stderr, "%s: error: cannot serve %u ports%s\n", name, n,
			fd >= 0 ? " on one --fd" : "");
		return 1;
	}
	v.ports = calloc(n, sizeof(*v.ports));
	if (!v.ports) {
		fprintf(stderr, "%s: error: out of memory\n", name);
		return 1;
	}
	v.sig_fd = v.ep = v.req_fd = v.stats_fd = -1;
	for (unsigned k = 0; k < n; k++) {
		struct vport *p = &v.ports[k];

		p->v = &v;
		p->idx = k;
		p->port = ports[k];
		if (n > 1)
			snprintf(p->tag, sizeof(p->tag), "port %u: ", k);
		p->retry_fd = p->listen_fd = -1;
		p->fe.num = p->fe.dup = -1;
		for (unsigned i = 0; i < VIO_VU_MAX_QUEUES; i++) {
			struct qthread *t = &p->q[i];

			t->p = p;
			t->ep = t->wake_fd = -1;
			p->kick[i].num = p->kick[i].dup = -1;
		}
	}
	if (setup(&v) < 0)
		v.status = 1;
	else
		loop(&v);
	status = teardown(&v);
	free(v.ports);
	return status;
}

int vud_run_many(const struct vud_port *ports, unsigned n, const struct vud_opts *o,
		 const char *name)
{
	return run(ports, n, o, name, n == 1 ? o->fd : -1);
}

int vud_run(struct vio_dev_model *dev, const struct vud_opts *o, const char *name,
	    vud_stats_fn *stats, void *stats_opaque)
{
	const struct vud_port port = {
		.dev = dev,
		.socket_path = o->socket_path,
		.stats = stats,
		.stats_opaque = stats_opaque,
		.backend_up = o->backend_up,
		.backend_down = o->backend_down,
		.hooks_opaque = o->hooks_opaque,
	};

	return run(&port, 1, o, name, o->fd);
}
