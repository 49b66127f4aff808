/*
 * vud.c - event loop and conventions shared by the vhost-user daemons.
 *
 * Threads: the main thread owns the control socket (accept, then one
 * vio_vu_backend_dispatch per readable event) and the signals (signalfd).
 * Each queue has a thread that waits on the queue's kick eventfd and on a
 * "wake" eventfd the main thread rings when kick fds change or when it is
 * time to stop. The library's per-queue locks make dispatch on a queue
 * thread safe against control messages on the main thread.
 */
#include <errno.h>
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
#include <sys/un.h>
#include <time.h>
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

int vud_parse(int *argc, char **argv, struct vud_opts *o, const char *caps_json)
{
	int out = 1;

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
			o->stats_interval = (unsigned)strtoul(a + 17, NULL, 10);
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

struct qthread {
	struct vud *v;
	unsigned qi;
	pthread_t tid;
	int wake_fd;
};

struct vud {
	struct vio_vu_backend b;
	struct vio_dev *dev;
	const struct vud_opts *o;
	struct qthread q[VIO_VU_MAX_QUEUES];
	unsigned nq;
	bool stopping;                  /* atomic: queue threads read it */
	vud_stats_fn *stats;
	void *stats_opaque;
};

static bool stopping(const struct vud *v)
{
	return __atomic_load_n(&v->stopping, __ATOMIC_RELAXED);
}

static void stop(struct vud *v)
{
	__atomic_store_n(&v->stopping, true, __ATOMIC_RELAXED);
}

static void ring(int fd)
{
	uint64_t one = 1;

	(void)!write(fd, &one, sizeof(one));
}

/* The backend's kick fds changed: every queue thread re-reads its fd. */
static void queues_changed(void *opaque)
{
	struct vud *v = opaque;

	for (unsigned i = 0; i < v->nq; i++)
		if (v->q[i].wake_fd >= 0)
			ring(v->q[i].wake_fd);
}

static void *queue_thread(void *arg)
{
	struct qthread *t = arg;
	struct vud *v = t->v;
	int ep = epoll_create1(EPOLL_CLOEXEC), kick = -1;
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 0 };

	ev.data.u32 = 1;
	epoll_ctl(ep, EPOLL_CTL_ADD, t->wake_fd, &ev);
	while (!stopping(v)) {
		struct epoll_event got[2];
		int n, cur;

		if (v->o->busy_poll) {
			vio_vu_backend_queue_poll(&v->b, t->qi);
			continue;
		}
		cur = vio_vu_backend_kick_fd(&v->b, t->qi);
		if (cur != kick) {
			if (kick >= 0)
				epoll_ctl(ep, EPOLL_CTL_DEL, kick, NULL);
			kick = cur;
			if (kick >= 0) {
				ev.data.u32 = 0;
				if (epoll_ctl(ep, EPOLL_CTL_ADD, kick, &ev) < 0)
					kick = -1;
			}
		}
		n = epoll_wait(ep, got, 2, -1);
		for (int i = 0; i < n; i++) {
			if (got[i].data.u32 == 1) {
				uint64_t x;
				(void)!read(t->wake_fd, &x, sizeof(x));
				/* The fds changed: register the current one afresh.
				 * A new session's eventfd can get the number of the
				 * old one, whose registration died with it, and two
				 * changes can come in one wake-up; comparing numbers
				 * would then leave the queue deaf to kicks. */
				if (kick >= 0)
					epoll_ctl(ep, EPOLL_CTL_DEL, kick, NULL);
				kick = -1;
			} else {
				vio_vu_backend_queue_dispatch(&v->b, t->qi);
				/* Keep serving without kicks while the driver
				 * keeps the queue busy (QEMU's iothreads poll
				 * the same way, 32 us by default). */
				vio_vu_backend_queue_poll_for(&v->b, t->qi,
							      (uint64_t)v->o->poll_us * 1000);
			}
		}
	}
	close(ep);
	return NULL;
}

static void print_stats(struct vud *v)
{
	for (unsigned i = 0; i < v->nq; i++) {
		const struct vio_vu_queue *q = &v->b.queues[i];
		const struct vio_dev_queue *dq = &v->dev->queues[i];
		char extra[160] = "";

		if (v->stats)
			v->stats(v->stats_opaque, i, extra, sizeof(extra));
		fprintf(stderr, "%s: queue %u: %s kicks %llu interrupts %llu (suppressed %llu)%s%s\n",
			daemon_name, i, dq->live ? "running" : "stopped", (unsigned long long)q->kicks,
			(unsigned long long)q->calls, (unsigned long long)dq->vq.stats.interrupts_suppressed,
			extra[0] ? " " : "", extra);
	}
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "%s: socket path too long: %s\n", daemon_name, path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		fprintf(stderr, "%s: cannot listen on %s: %s\n", daemon_name, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int vud_run(struct vio_dev *dev, const struct vud_opts *o, const char *name,
	    vud_stats_fn *stats, void *stats_opaque)
{
	struct vud *v = calloc(1, sizeof(*v));
	struct vio_vu_backend_config cfg = { 0 };
	int listen_fd = -1, sig_fd, ep, status = 0;
	struct epoll_event ev;
	sigset_t mask;
	time_t next_stats;

	if (!v)
		return 1;
	daemon_name = name;
	quiet = o->quiet;
	v->dev = dev;
	v->o = o;
	v->nq = dev->num_queues;
	v->stats = stats;
	v->stats_opaque = stats_opaque;
	cfg.log = vud_log;
	cfg.queues_changed = queues_changed;
	cfg.opaque = v;
	if (vio_vu_backend_init(&v->b, dev, &cfg)) {
		fprintf(stderr, "%s: cannot set up the vhost-user backend\n", name);
		free(v);
		return 1;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);      /* threads inherit it */
	sig_fd = signalfd(-1, &mask, SFD_CLOEXEC);

	if (o->socket_path) {
		listen_fd = listen_on(o->socket_path);
		if (listen_fd < 0) {
			free(v);
			return 1;
		}
	} else {
		vio_vu_backend_attach(&v->b, o->fd);
	}

	for (unsigned i = 0; i < v->nq && !o->single_thread; i++) {
		v->q[i].v = v;
		v->q[i].qi = i;
		v->q[i].wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		pthread_create(&v->q[i].tid, NULL, queue_thread, &v->q[i]);
	}
	if (o->single_thread)
		for (unsigned i = 0; i < v->nq; i++)
			v->q[i].wake_fd = -1;

	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.events = EPOLLIN;
	ev.data.u32 = 1000;
	epoll_ctl(ep, EPOLL_CTL_ADD, sig_fd, &ev);
	if (listen_fd >= 0) {
		ev.data.u32 = 1001;
		epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev);
		if (!o->quiet)
			fprintf(stderr, "%s: listening on %s\n", name, o->socket_path);
	} else {
		ev.data.u32 = 1002;
		epoll_ctl(ep, EPOLL_CTL_ADD, o->fd, &ev);
	}
	next_stats = o->stats_interval ? time(NULL) + o->stats_interval : 0;

	while (!stopping(v)) {
		struct epoll_event got[8];
		int timeout = next_stats ? 1000 : -1, n;
		int kicks[VIO_VU_MAX_QUEUES];

		/* Single-thread mode: the queues' kick fds join this loop. */
		if (o->single_thread) {
			for (unsigned i = 0; i < v->nq; i++) {
				kicks[i] = vio_vu_backend_kick_fd(&v->b, i);
				if (kicks[i] >= 0) {
					ev.data.u32 = i;
					epoll_ctl(ep, EPOLL_CTL_ADD, kicks[i], &ev);
				}
			}
		}
		n = epoll_wait(ep, got, 8, o->busy_poll && o->single_thread ? 0 : timeout);
		for (int k = 0; k < n && !stopping(v); k++) {
			uint32_t id = got[k].data.u32;

			if (id == 1000) {
				struct signalfd_siginfo si;

				if (read(sig_fd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGUSR1)
					print_stats(v);
				else if (si.ssi_signo != SIGPIPE)
					stop(v);
			} else if (id == 1001) {
				int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

				if (c < 0)
					continue;
				if (vio_vu_backend_attach(&v->b, c) < 0) {
					close(c);       /* one frontend at a time */
					continue;
				}
				if (!o->quiet)
					fprintf(stderr, "%s: frontend connected\n", name);
				ev.data.u32 = 1002;
				epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
			} else if (id == 1002) {
				int sock = vio_vu_backend_fd(&v->b);

				if (vio_vu_backend_dispatch(&v->b) == -ECONNRESET) {
					epoll_ctl(ep, EPOLL_CTL_DEL, sock, NULL);
					if (!o->quiet)
						fprintf(stderr, "%s: frontend disconnected%s\n", name,
							listen_fd >= 0 ? "; waiting for the next one" : "");
					if (listen_fd < 0)
						stop(v);
				}
			} else if (id < v->nq) {
				vio_vu_backend_queue_dispatch(&v->b, id);
			}
		}
		if (o->single_thread) {
			for (unsigned i = 0; i < v->nq; i++)
				if (kicks[i] >= 0)
					epoll_ctl(ep, EPOLL_CTL_DEL, kicks[i], NULL);
			if (o->busy_poll)
				for (unsigned i = 0; i < v->nq; i++)
					vio_vu_backend_queue_poll(&v->b, i);
		}
		if (next_stats && time(NULL) >= next_stats) {
			print_stats(v);
			next_stats = time(NULL) + o->stats_interval;
		}
	}

	for (unsigned i = 0; i < v->nq && !o->single_thread; i++)
		ring(v->q[i].wake_fd);
	for (unsigned i = 0; i < v->nq && !o->single_thread; i++) {
		pthread_join(v->q[i].tid, NULL);
		close(v->q[i].wake_fd);
	}
	vio_vu_backend_fini(&v->b);
	if (listen_fd >= 0) {
		close(listen_fd);
		unlink(o->socket_path);
	}
	close(ep);
	close(sig_fd);
	if (!o->quiet)
		fprintf(stderr, "%s: stopped\n", name);
	free(v);
	return status;
}
