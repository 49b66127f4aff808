/*
 * run.c - the running of a vio-perf load, shared by its blk and net modes
 * (see run.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

static volatile sig_atomic_t signals;

static void on_signal(int sig)
{
	(void)sig;
	signals++;
}

void run_signals_install(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

void run_end(struct run *r, enum end_reason why)
{
	int none = END_OK;

	__atomic_compare_exchange_n(&r->end, &none, (int)why, false, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELAXED);
	if (why != END_OK && why != END_INTERRUPTED)
		__atomic_store_n(&r->abort, 1, __ATOMIC_RELAXED);
}

bool run_may_report(struct run *r)
{
	return __atomic_fetch_add(&r->reports, 1, __ATOMIC_RELAXED) < RUN_MAX_REPORTS;
}

const char *run_end_name(enum end_reason e)
{
	static const char *const names[] = {
		[END_OK] = "ok", [END_INTERRUPTED] = "interrupted",
		[END_DISCONNECTED] = "disconnected", [END_BACKEND_ERROR] = "backend-error",
		[END_STALLED] = "stalled", [END_BROKEN] = "broken",
	};

	return names[e];
}

uint64_t run_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t run_drain_fd(int fd)
{
	uint64_t v, n = 0;
	ssize_t r;

	while ((r = read(fd, &v, sizeof(v))) == (ssize_t)sizeof(v) || (r < 0 && errno == EINTR))
		if (r > 0)
			n += v;
	return n;
}

/* The socket is readable while no reply is due: the backend went away
 * (EOF), or spoke out of turn; either way the session is over. */
static void check_socket(struct run *r, int sock)
{
	uint8_t b;
	ssize_t n = recv(sock, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (run_reason(r) == END_OK)
		fprintf(stderr, "\nvio-perf: the backend %s\n",
			n > 0 ? "sent a message nobody asked for" : "went away (disconnected)");
	run_end(r, END_DISCONNECTED);
}

void run_watch(struct run *r, struct pollfd *pfd, unsigned n, const char *interrupted)
{
	if (poll(pfd, n, 50) > 0) {
		if (pfd[0].revents)
			check_socket(r, pfd[0].fd);
		for (unsigned i = 1; i < n; i++) {
			if (pfd[i].revents && run_drain_fd(pfd[i].fd)) {
				if (run_may_report(r))
					fprintf(stderr, "\nvio-perf: the backend reports an error on "
						"queue %u\n", i - 1);
				run_end(r, END_BACKEND_ERROR);
			}
		}
		if (run_aborting(r))
			pfd[0].fd = -1; /* said once is enough */
	}
	if (signals) {
		if (run_reason(r) == END_OK)
			fprintf(stderr, "\nvio-perf: interrupted: %s\n", interrupted);
		run_end(r, END_INTERRUPTED);
		if (signals > 1)
			__atomic_store_n(&r->abort, 1, __ATOMIC_RELAXED);
	}
}

void *run_bus_alloc(void *opaque, size_t size)
{
	(void)opaque;
	return calloc(1, size);
}

void run_bus_free(void *opaque, void *ptr, size_t size)
{
	(void)opaque;
	(void)size;
	free(ptr);
}

void run_fe_log(void *opaque, enum vio_log_level level, const char *msg)
{
	(void)opaque;
	if (level <= VIO_LOG_WARN || getenv("VIO_DEBUG"))
		fprintf(stderr, "vio-perf: vhost-user: %s\n", msg);
}

/* The drivers' sentences: why they refuse or adjust what the backend says
 * about the device (capacity, block size, queues, limits, MAC, MTU). */
void run_drv_log(void *opaque, enum vio_log_level level, const char *msg)
{
	(void)opaque;
	if (level <= VIO_LOG_WARN || getenv("VIO_DEBUG"))
		fprintf(stderr, "vio-perf: driver: %s\n", msg);
}

double run_per(double a, double b)
{
	return b > 0 ? a / b : 0;
}
