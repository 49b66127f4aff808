/*
 * bench_harness.c - the part of vio-bench that is the same for every
 * subject: two pinned threads, the clock, the stop signal, a watchdog,
 * eventfds and the driver's buffers. Keeping it shared is what makes the
 * libvio/peer ratio fair: both subjects run in the same threads with the
 * same pinning, the same buffers and the same stop protocol.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

void bench_die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("vio-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void add_ns(struct timespec *ts, uint64_t ns)
{
	ns += (uint64_t)ts->tv_nsec;
	ts->tv_sec += (time_t)(ns / 1000000000u);
	ts->tv_nsec = (long)(ns % 1000000000u);
}

static void start_pinned(pthread_t *t, int cpu, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	cpu_set_t set;
	int r;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_attr_init(&attr);
	r = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	if (!r)
		r = pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	if (r)
		bench_die("cannot start a thread on cpu %d: %s", cpu, strerror(r));
}

/* Joins t, or dies when it is still running at `deadline`. */
static void join_by(pthread_t t, const struct timespec *deadline, const char *who, const char *what)
{
	int r = pthread_timedjoin_np(t, NULL, deadline);

	if (r == ETIMEDOUT)
		bench_die("%s: the %s thread is stuck (lost notification?)", what, who);
	if (r)
		bench_die("%s: joining the %s thread: %s", what, who, strerror(r));
}

void bench_run_threads(const struct bench_cfg *cfg, struct bench_sync *sync,
		       void *(*driver)(void *), void *(*device)(void *), void *arg,
		       const char *what)
{
	/* Generous: a healthy run overshoots its time by microseconds. A
	 * counted run gets 10 us per buffer, 100x the slowest cell seen. */
	const uint64_t grace = 10000000000u;
	struct timespec deadline;
	pthread_t td, tv;

	atomic_store(&sync->stop_req, false);
	atomic_store(&sync->done, false);
	if (pthread_barrier_init(&sync->start, NULL, 3))
		bench_die("pthread_barrier_init failed");
	start_pinned(&tv, cfg->cpu_device, device, arg);
	start_pinned(&td, cfg->cpu_driver, driver, arg);
	pthread_barrier_wait(&sync->start);

	clock_gettime(CLOCK_REALTIME, &deadline);
	if (cfg->count) {
		add_ns(&deadline, grace + cfg->count * 10000u);
	} else {
		struct timespec run = { 0, 0 };

		add_ns(&run, (uint64_t)(cfg->seconds * 1e9));
		while (nanosleep(&run, &run) && errno == EINTR)
			;
		atomic_store_explicit(&sync->stop_req, true, memory_order_relaxed);
		add_ns(&deadline, grace + (uint64_t)(cfg->seconds * 1e9));
	}
	join_by(td, &deadline, "driver", what);
	join_by(tv, &deadline, "device", what);
	pthread_barrier_destroy(&sync->start);
}

void bench_finish(struct bench_sync *sync, int kick_fd)
{
	atomic_store_explicit(&sync->done, true, memory_order_release);
	if (kick_fd >= 0)
		bench_efd_signal(kick_fd);
}

int bench_efd_new(void)
{
	int fd = eventfd(0, EFD_CLOEXEC);

	if (fd < 0)
		bench_die("eventfd: %s", strerror(errno));
	return fd;
}

void bench_efd_signal(int fd)
{
	uint64_t one = 1;

	while (write(fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		if (errno != EINTR)
			bench_die("eventfd write: %s", strerror(errno));
}

void bench_efd_wait(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		if (errno != EINTR)
			bench_die("eventfd read: %s", strerror(errno));
}

int bench_pool_init(struct bench_pool *p, unsigned nbufs)
{
	p->idx = malloc(sizeof(*p->idx) * (nbufs ? nbufs : 1));
	if (!p->idx)
		return -ENOMEM;
	/* Highest index at the bottom, so buffer 0 goes out first. */
	for (p->n = 0; p->n < nbufs; p->n++)
		p->idx[p->n] = nbufs - 1 - p->n;
	return 0;
}

void bench_pool_fini(struct bench_pool *p)
{
	free(p->idx);
	p->idx = NULL;
	p->n = 0;
}

static size_t seg_stride(const struct bench_cfg *cfg)
{
	return (cfg->seg_bytes + 63u) & ~(size_t)63u;
}

size_t bench_bufs_bytes(const struct bench_cfg *cfg, unsigned nbufs)
{
	return (size_t)nbufs * cfg->segs * seg_stride(cfg);
}

void bench_bufs_init(struct bench_bufs *b, const struct bench_cfg *cfg, unsigned nbufs, void *mem)
{
	b->base = mem;
	b->stride = seg_stride(cfg);
	b->nbufs = nbufs;
	b->segs = cfg->segs;
	/* Fault every page in now, not in the timed loop. */
	for (size_t i = 0; i < bench_bufs_bytes(cfg, nbufs); i++)
		b->base[i] = (uint8_t)(i * 131u + 7u);
}

/* The "cpu" line of /proc/stat: user nice system idle iowait irq softirq
 * steal. Zeros when it cannot be read (the load is then unknown, 0). */
static void proc_stat(uint64_t *busy, uint64_t *steal)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");

	*busy = *steal = 0;
	if (!f)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
		   &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
		*busy = v[0] + v[1] + v[2] + v[5] + v[6];
		*steal = v[7];
	}
	fclose(f);
}

static uint64_t own_cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

void bench_load_start(struct bench_load *l)
{
	proc_stat(&l->busy_ticks, &l->steal_ticks);
	l->own_ns = own_cpu_ns();
	l->wall_ns = bench_now_ns();
}

void bench_load_end(const struct bench_load *l, double *other_cpus, double *steal_cpus)
{
	const double ns_per_tick = 1e9 / (double)sysconf(_SC_CLK_TCK);
	double wall = (double)(bench_now_ns() - l->wall_ns);
	uint64_t busy, steal;
	double other;

	proc_stat(&busy, &steal);
	other = (double)(busy - l->busy_ticks) * ns_per_tick - (double)(own_cpu_ns() - l->own_ns);
	/* Tick rounding can make a quiet machine look slightly negative. */
	*other_cpus = other > 0 && wall > 0 ? other / wall : 0;
	*steal_cpus = wall > 0 ? (double)(steal - l->steal_ticks) * ns_per_tick / wall : 0;
}
