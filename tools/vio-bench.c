/*
 * vio-bench - the virtqueue benchmark: how fast do buffers go round one
 * libvio queue between two cores, and how many notifications does it take?
 *
 * Every option narrows a matrix (queue sizes x batch sizes x EVENT_IDX
 * off/on x poll/eventfd); with none, the whole matrix runs, about a second
 * per cell. Poll cells also run the same workload on a peer (DPDK's
 * rte_ring, when built in) and on the floor model of a packed ring
 * (bench_floor.c), and the table prints libvio's ns per buffer divided by
 * each. The machine is noisy (2 cpus shared with whatever else runs), so
 * a cell's time is cut into rounds that alternate libvio and the peers,
 * each figure is the median over rounds, and the cpu time
 * other processes took meanwhile is printed next to it. bench/README.md
 * explains the columns.
 *
 * This file is the command line and the report; the measuring is in
 * bench_vio.c, bench_rte.c, bench_floor.c and bench_harness.c.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "vio/ring.h"

#ifndef VIO_BENCH_BUILDTYPE
#define VIO_BENCH_BUILDTYPE "unknown"
#endif

#define MAX_LIST 16
#define MAX_ROUNDS 64

struct list {
	unsigned v[MAX_LIST];
	unsigned n;
};

struct opts {
	struct list sizes, batches;
	struct list event_idx;  /* 0 off, 1 on */
	struct list modes;      /* enum bench_mode */
	struct bench_cfg base;  /* everything but size, batch, event_idx, mode */
	unsigned rounds;        /* per cell */
	bool json, no_peer, no_floor, seconds_set;
};

struct layout {
	const char *name;
	uint64_t features;
};

/* A layout is only a feature bit here. A libvio that lacks one says so
 * with -ENOTSUP from vio_drvq_init(), which check() turns into a message. */
static const struct layout layouts[] = {
	{ "split", 0 },
	{ "packed", VIO_BIT(VIO_F_RING_PACKED) },
};

static void usage(FILE *f)
{
	fputs("usage: vio-bench [options]\n"
	      "  --size N[,N...]       queue sizes (default 256,1024)\n"
	      "  --batch N[,N...]      buffers per post and per flush (default 1,8,32,256;\n"
	      "                        clamped to what the queue holds)\n"
	      "  --event-idx on|off|both   VIRTIO_F_EVENT_IDX (default both)\n"
	      "  --mode poll|eventfd|both  notifications counted only, or eventfd(2)\n"
	      "                        with blocking waits (default both)\n"
	      "  --seconds S           run time per cell (default 1)\n"
	      "  --count N             buffers per cell instead of a run time\n"
	      "  --rounds N            rounds per cell, alternating libvio and the peer;\n"
	      "                        figures are medians over rounds (default 5)\n"
	      "  --quick               0.1 s per cell (CI)\n"
	      "  --buf-size B          bytes per segment (default 64)\n"
	      "  --segments N          readable segments per buffer (default 1)\n"
	      "  --layout split|packed ring layout (default split)\n"
	      "  --in-order            negotiate IN_ORDER: the device returns each batch\n"
	      "                        with one used entry\n"
	      "  --inflight            the device keeps an inflight log (vio/inflight.h)\n"
	      "  --cpus D,V            driver and device cpus (default 0,1)\n"
	      "  --no-peer             skip both peers (no ratios)\n"
	      "  --no-floor            skip the floor model (bench_floor.c) only\n"
	      "  --json                JSON instead of a markdown table\n", f);
}

static void bad(const char *opt, const char *arg)
{
	fprintf(stderr, "vio-bench: bad value for %s: '%s' (see --help)\n", opt, arg);
	exit(2);
}

static unsigned parse_uint(const char *opt, const char *s, unsigned lo, unsigned hi)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
		bad(opt, s);
	return (unsigned)v;
}

static void parse_list(struct list *l, const char *opt, const char *arg, unsigned lo, unsigned hi)
{
	char buf[256], *tok, *save = NULL;

	if (strlen(arg) >= sizeof(buf))
		bad(opt, arg);
	strcpy(buf, arg);
	l->n = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (l->n == MAX_LIST)
			bad(opt, arg);
		l->v[l->n++] = parse_uint(opt, tok, lo, hi);
	}
	if (l->n == 0)
		bad(opt, arg);
}

/* "a|b|both" options: fills l with 0, 1 or both. */
static void parse_choice(struct list *l, const char *opt, const char *arg, const char *a,
			 const char *b)
{
	l->n = 0;
	if (!strcmp(arg, a) || !strcmp(arg, "both"))
		l->v[l->n++] = 0;
	if (!strcmp(arg, b) || !strcmp(arg, "both"))
		l->v[l->n++] = 1;
	if (l->n == 0)
		bad(opt, arg);
}

static void set_list(struct list *l, const unsigned *v, unsigned n)
{
	memcpy(l->v, v, n * sizeof(*v));
	l->n = n;
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	static const unsigned sizes[] = { 256, 1024 }, batches[] = { 1, 8, 32, 256 };
	static const unsigned both[] = { 0, 1 };
	static const struct option longopts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "batch", required_argument, NULL, 'b' },
		{ "event-idx", required_argument, NULL, 'e' },
		{ "mode", required_argument, NULL, 'm' },
		{ "seconds", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'n' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "quick", no_argument, NULL, 'q' },
		{ "buf-size", required_argument, NULL, 'B' },
		{ "segments", required_argument, NULL, 'S' },
		{ "layout", required_argument, NULL, 'l' },
		{ "in-order", no_argument, NULL, 'I' },
		{ "inflight", no_argument, NULL, 'L' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "no-peer", no_argument, NULL, 'P' },
		{ "no-floor", no_argument, NULL, 'F' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct list cpus;
	bool quick = false;
	char *end;
	int c;

	memset(o, 0, sizeof(*o));
	set_list(&o->sizes, sizes, 2);
	set_list(&o->batches, batches, 4);
	set_list(&o->event_idx, both, 2);
	set_list(&o->modes, both, 2);
	o->base.segs = 1;
	o->base.seg_bytes = 64;
	o->base.seconds = 1.0;
	o->rounds = 5;
	o->base.layout = layouts[0].name;
	o->base.layout_features = layouts[0].features;
	o->base.cpu_driver = 0;
	o->base.cpu_device = 1;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			parse_list(&o->sizes, "--size", optarg, 1, 32768);
			break;
		case 'b':
			parse_list(&o->batches, "--batch", optarg, 1, 32768);
			break;
		case 'e':
			parse_choice(&o->event_idx, "--event-idx", optarg, "off", "on");
			break;
		case 'm':
			parse_choice(&o->modes, "--mode", optarg, "poll", "eventfd");
			break;
		case 't': {
			double t = strtod(optarg, &end);

			/* Written so that NaN fails too. */
			if (*end || end == optarg || !(t > 0 && t < 3600))
				bad("--seconds", optarg);
			o->base.seconds = t;
			o->seconds_set = true;
			break;
		}
		case 'n':
			o->base.count = parse_uint("--count", optarg, 1, UINT32_MAX);
			break;
		case 'r':
			o->rounds = parse_uint("--rounds", optarg, 1, MAX_ROUNDS);
			break;
		case 'q':
			quick = true;
			break;
		case 'B':
			o->base.seg_bytes = parse_uint("--buf-size", optarg, 1, 1u << 20);
			break;
		case 'S':
			o->base.segs = parse_uint("--segments", optarg, 1, BENCH_MAX_SEGS);
			break;
		case 'l': {
			unsigned i;

			for (i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
				if (!strcmp(optarg, layouts[i].name))
					break;
			if (i == sizeof(layouts) / sizeof(layouts[0]))
				bad("--layout", optarg);
			o->base.layout = layouts[i].name;
			o->base.layout_features = layouts[i].features;
			break;
		}
		case 'I':
			o->base.in_order = true;
			break;
		case 'L':
			o->base.inflight = true;
			break;
		case 'c':
			parse_list(&cpus, "--cpus", optarg, 0, CPU_SETSIZE - 1);
			if (cpus.n != 2)
				bad("--cpus", optarg);
			o->base.cpu_driver = (int)cpus.v[0];
			o->base.cpu_device = (int)cpus.v[1];
			break;
		case 'P':
			o->no_peer = true;
			break;
		case 'F':
			o->no_floor = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc)
		bad("arguments", argv[optind]);
	if (quick && !o->seconds_set)
		o->base.seconds = 0.1;
}

/* ------------------------------------------------------------------------ */
/* Report                                                                   */

struct cell {
	struct bench_cfg cfg;
	struct bench_result vio, peer, floor;  /* sums over the rounds */
	double vio_ns, peer_ns, floor_ns;      /* medians over the rounds */
	double vio_round[MAX_ROUNDS], peer_round[MAX_ROUNDS], floor_round[MAX_ROUNDS];
	unsigned rounds;
	bool has_peer, has_floor;
	double other_cpus, steal_cpus;  /* machine load while the cell ran */
};

static double per_buf(uint64_t v, const struct bench_result *r)
{
	return r->bufs ? (double)v / (double)r->bufs : 0.0;
}

static double ns_per_buf(const struct bench_result *r)
{
	return per_buf(r->ns, r);
}

/* Buffers the device handed back per flush: how much of a batch it saw. */
static double per_flush(const struct bench_result *r)
{
	return r->device_flushes ? (double)r->bufs / (double)r->device_flushes : 0.0;
}

static double mbufs(double ns)
{
	return ns > 0 ? 1e3 / ns : 0;
}

static double ratio(const struct cell *c)
{
	return c->vio_ns / c->peer_ns;
}

static double floor_ratio(const struct cell *c)
{
	return c->vio_ns / c->floor_ns;
}

static const char *mode_name(enum bench_mode m)
{
	return m == BENCH_POLL ? "poll" : "eventfd";
}

static const char *compiler(void)
{
#ifdef __clang__
	return "clang " __clang_version__;
#else
	return "gcc " __VERSION__;
#endif
}

/* Rates per buffer: exact zero, tiny, or four decimals. */
static void fmt_rate(char *buf, size_t n, double v)
{
	if (v == 0)
		snprintf(buf, n, "0");
	else if (v < 0.001)
		snprintf(buf, n, "%.1e", v);
	else
		snprintf(buf, n, "%.4f", v);
}

static void table_head(const struct opts *o, const char *peer, const char *floor)
{
	const struct bench_cfg *b = &o->base;

	printf("vio-bench: layout %s%s%s, %u-byte buffers x %u segment%s, ", b->layout,
	       b->in_order ? " + IN_ORDER" : "", b->inflight ? " + inflight log" : "", b->seg_bytes,
	       b->segs, b->segs == 1 ? "" : "s");
	if (b->count)
		printf("%llu buffers per cell, ", (unsigned long long)b->count);
	else
		printf("%.2f s per cell, ", b->seconds);
	printf("driver on cpu %d, device on cpu %d\n", b->cpu_driver, b->cpu_device);
	printf("build: %s, %s\n", VIO_BENCH_BUILDTYPE, compiler());
	printf("peer: %s\n", peer ? peer : "none");
	printf("%s\n\n", floor ? floor : "floor: none");
	printf("| size | batch | event-idx | mode | Mbuf/s | ns/buf | notif/buf | kicks/buf "
	       "| irqs/buf | peer ns/buf | ratio | floor ns/buf | floor ratio | other cpu |\n");
	printf("|-----:|------:|:---------:|:-----|-------:|-------:|----------:|----------:"
	       "|---------:|------------:|------:|-------------:|------------:|----------:|\n");
}

static void table_row(const struct cell *c)
{
	const struct bench_result *r = &c->vio;
	char notif[16], kicks[16], irqs[16], peer[16] = "-", rat[16] = "-";
	char floor[16] = "-", frat[16] = "-";

	fmt_rate(notif, sizeof(notif), per_buf(r->kicks + r->irqs, r));
	fmt_rate(kicks, sizeof(kicks), per_buf(r->kicks, r));
	fmt_rate(irqs, sizeof(irqs), per_buf(r->irqs, r));
	if (c->has_peer) {
		snprintf(peer, sizeof(peer), "%.1f", c->peer_ns);
		snprintf(rat, sizeof(rat), "%.2f", ratio(c));
	}
	if (c->has_floor) {
		snprintf(floor, sizeof(floor), "%.1f", c->floor_ns);
		snprintf(frat, sizeof(frat), "%.2f", floor_ratio(c));
	}
	printf("| %u | %u | %s | %s | %.2f | %.1f | %s | %s | %s | %s | %s | %s | %s | %.2f |\n",
	       c->cfg.size, c->cfg.batch, c->cfg.event_idx ? "on" : "off", mode_name(c->cfg.mode),
	       mbufs(c->vio_ns), c->vio_ns, notif, kicks, irqs, peer, rat, floor, frat,
	       c->other_cpus + c->steal_cpus);
	fflush(stdout);
}

static void table_foot(const struct opts *o, const char *peer, const char *floor)
{
	printf("\nns/buf: median of %u rounds per cell. notif/buf = (kicks + interrupts the ring "
	       "asked for) / buffers; in eventfd mode each is an eventfd write.\n", o->rounds);
	if (peer)
		printf("ratio = libvio ns/buf / peer ns/buf; in poll cells the rounds alternate "
		       "libvio and the peer.\n");
	if (floor)
		printf("floor ratio = libvio ns/buf / floor ns/buf (bench_floor.c: a packed ring "
		       "that checks nothing), measured in the same rounds.\n");
	printf("other cpu: cpus' worth of time other processes (or the hypervisor) took while "
	       "the cell ran; above ~0.1 the row is disturbed.\n");
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

static void json_head(const struct opts *o, const char *peer, const char *floor)
{
	const struct bench_cfg *b = &o->base;

	printf("{\"tool\": \"vio-bench\", \"layout\": ");
	json_str(b->layout);
	printf(", \"in_order\": %s", b->in_order ? "true" : "false");
	printf(", \"inflight\": %s", b->inflight ? "true" : "false");
	printf(", \"buildtype\": ");
	json_str(VIO_BENCH_BUILDTYPE);
	printf(", \"compiler\": ");
	json_str(compiler());
	printf(", \"buf_bytes\": %u, \"segments\": %u, \"seconds_per_cell\": %g, \"count\": %llu, "
	       "\"rounds\": %u, \"cpus\": [%d, %d], \"peer\": ", b->seg_bytes, b->segs,
	       b->count ? 0.0 : b->seconds, (unsigned long long)b->count, o->rounds, b->cpu_driver,
	       b->cpu_device);
	if (peer)
		json_str(peer);
	else
		printf("null");
	printf(", \"floor\": ");
	if (floor)
		json_str(floor);
	else
		printf("null");
	printf(",\n \"cells\": [");
}

static void json_rounds(const double *v, unsigned n)
{
	putchar('[');
	for (unsigned i = 0; i < n; i++)
		printf("%s%.3f", i ? ", " : "", v[i]);
	putchar(']');
}

static double median(const double *v, unsigned n);

/* The median of the rounds' own ratios (each round's two runs are a
 * fraction of a second apart): steadier than a ratio of medians when the
 * machine changes state during the cell. */
static double round_ratio_median(const double *num, const double *den, unsigned n)
{
	double r[MAX_ROUNDS];

	for (unsigned i = 0; i < n; i++)
		r[i] = den[i] > 0 ? num[i] / den[i] : 0;
	return median(r, n);
}

static void json_cell(const struct cell *c, bool first)
{
	const struct bench_result *r = &c->vio;

	printf("%s\n  {\"size\": %u, \"batch\": %u, \"event_idx\": %s, \"mode\": \"%s\", "
	       "\"bufs\": %llu, \"seconds\": %.6f, \"mbufs_per_s\": %.4f, \"ns_per_buf\": %.3f, "
	       "\"ns_per_buf_mean\": %.3f, \"notif_per_buf\": %.6g, \"kicks_per_buf\": %.6g, "
	       "\"irqs_per_buf\": %.6g, \"kicks\": %llu, \"kicks_suppressed\": %llu, "
	       "\"irqs\": %llu, \"irqs_suppressed\": %llu, \"driver_sleeps\": %llu, "
	       "\"device_sleeps\": %llu, \"bufs_per_device_flush\": %.2f, \"other_cpus\": %.3f, "
	       "\"steal_cpus\": %.3f, \"ns_per_buf_rounds\": ",
	       first ? "" : ",", c->cfg.size, c->cfg.batch, c->cfg.event_idx ? "true" : "false",
	       mode_name(c->cfg.mode), (unsigned long long)r->bufs, (double)r->ns / 1e9,
	       mbufs(c->vio_ns), c->vio_ns, ns_per_buf(r), per_buf(r->kicks + r->irqs, r),
	       per_buf(r->kicks, r), per_buf(r->irqs, r), (unsigned long long)r->kicks,
	       (unsigned long long)r->kicks_suppressed, (unsigned long long)r->irqs,
	       (unsigned long long)r->irqs_suppressed, (unsigned long long)r->driver_sleeps,
	       (unsigned long long)r->device_sleeps, per_flush(r), c->other_cpus, c->steal_cpus);
	json_rounds(c->vio_round, c->rounds);
	if (c->has_peer) {
		printf(", \"peer\": {\"bufs\": %llu, \"seconds\": %.6f, \"ns_per_buf\": %.3f, "
		       "\"bufs_per_device_flush\": %.2f, \"ns_per_buf_rounds\": ",
		       (unsigned long long)c->peer.bufs, (double)c->peer.ns / 1e9, c->peer_ns,
		       per_flush(&c->peer));
		json_rounds(c->peer_round, c->rounds);
		printf("}, \"ratio\": %.4f, \"ratio_rounds_median\": %.4f", ratio(c),
		       round_ratio_median(c->vio_round, c->peer_round, c->rounds));
	} else {
		printf(", \"peer\": null, \"ratio\": null");
	}
	if (c->has_floor) {
		printf(", \"floor\": {\"bufs\": %llu, \"seconds\": %.6f, \"ns_per_buf\": %.3f, "
		       "\"bufs_per_device_flush\": %.2f, \"ns_per_buf_rounds\": ",
		       (unsigned long long)c->floor.bufs, (double)c->floor.ns / 1e9, c->floor_ns,
		       per_flush(&c->floor));
		json_rounds(c->floor_round, c->rounds);
		printf("}, \"floor_ratio\": %.4f, \"floor_ratio_rounds_median\": %.4f}",
		       floor_ratio(c), round_ratio_median(c->vio_round, c->floor_round, c->rounds));
	} else {
		printf(", \"floor\": null, \"floor_ratio\": null}");
	}
	fflush(stdout);
}

/* ------------------------------------------------------------------------ */
/* Matrix                                                                   */

/* Batch as run: no more than the ring holds at once. */
static unsigned clamp_batch(const struct bench_cfg *base, unsigned size, unsigned batch)
{
	unsigned fit = size / base->segs;

	return batch < fit ? batch : fit;
}

/* A batch that clamps to the same value as an earlier one is not rerun. */
static bool batch_seen(const struct opts *o, unsigned size, unsigned upto, unsigned eff)
{
	for (unsigned i = 0; i < upto; i++)
		if (clamp_batch(&o->base, size, o->batches.v[i]) == eff)
			return true;
	return false;
}

/* Caches, page tables and clocks settle on a short unreported run. */
static void warm_up(const struct opts *o, bool peer, bool floor)
{
	struct bench_cfg cfg = o->base;
	struct bench_result r;

	cfg.size = o->sizes.v[0];
	cfg.batch = clamp_batch(&cfg, cfg.size, 32);
	cfg.event_idx = true;
	cfg.mode = BENCH_POLL;
	cfg.count = 0;
	cfg.seconds = cfg.seconds < 0.2 ? cfg.seconds : 0.2;
	bench_vio_run(&cfg, &r);
	if (peer)
		bench_peer_run(&cfg, &r);
	if (floor)
		bench_floor_run(&cfg, &r);
}

/* Fails early, with a clear message, on what no cell could run. */
static void check(const struct opts *o)
{
	for (unsigned i = 0; i < o->sizes.n; i++) {
		struct bench_cfg cfg = o->base;
		int r;

		cfg.size = o->sizes.v[i];
		if (cfg.segs > cfg.size) {
			fprintf(stderr, "vio-bench: %u segments do not fit a queue of %u\n",
				cfg.segs, cfg.size);
			exit(2);
		}
		r = bench_vio_probe(&cfg);
		if (r == -ENOTSUP) {
			fprintf(stderr, "vio-bench: the %s layout is not implemented in this "
				"libvio yet; use --layout split\n", cfg.layout);
			exit(2);
		}
		if (r) {
			fprintf(stderr, "vio-bench: cannot build a %s queue of size %u: %s\n",
				cfg.layout, cfg.size, strerror(-r));
			exit(2);
		}
	}
}

static void add_result(struct bench_result *sum, const struct bench_result *r)
{
	sum->bufs += r->bufs;
	sum->ns += r->ns;
	sum->kicks += r->kicks;
	sum->kicks_suppressed += r->kicks_suppressed;
	sum->irqs += r->irqs;
	sum->irqs_suppressed += r->irqs_suppressed;
	sum->driver_sleeps += r->driver_sleeps;
	sum->device_sleeps += r->device_sleeps;
	sum->device_flushes += r->device_flushes;
	sum->sink += r->sink;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(const double *v, unsigned n)
{
	double s[MAX_ROUNDS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

enum subject { SUBJ_VIO, SUBJ_PEER, SUBJ_FLOOR };

/* One round of one subject: its result is summed, its ns/buf kept. */
static void run_round(const struct bench_cfg *cfg, enum subject who, struct bench_result *sum,
		      double *ns)
{
	struct bench_result r;

	if (who == SUBJ_PEER)
		bench_peer_run(cfg, &r);
	else if (who == SUBJ_FLOOR)
		bench_floor_run(cfg, &r);
	else
		bench_vio_run(cfg, &r);
	add_result(sum, &r);
	*ns = ns_per_buf(&r);
}

/* Runs c->cfg in rounds, libvio and (if any) the peer and the floor
 * taking turns, so that a disturbance hits them alike. */
static void run_cell(const struct opts *o, struct cell *c)
{
	struct bench_cfg rc = c->cfg;
	struct bench_load load;

	c->rounds = o->rounds;
	if (rc.count)
		rc.count = rc.count / o->rounds ? rc.count / o->rounds : 1;
	else
		rc.seconds /= o->rounds;
	bench_load_start(&load);
	for (unsigned i = 0; i < c->rounds; i++) {
		run_round(&rc, SUBJ_VIO, &c->vio, &c->vio_round[i]);
		if (c->has_peer)
			run_round(&rc, SUBJ_PEER, &c->peer, &c->peer_round[i]);
		if (c->has_floor)
			run_round(&rc, SUBJ_FLOOR, &c->floor, &c->floor_round[i]);
	}
	bench_load_end(&load, &c->other_cpus, &c->steal_cpus);
	c->vio_ns = median(c->vio_round, c->rounds);
	if (c->has_peer)
		c->peer_ns = median(c->peer_round, c->rounds);
	if (c->has_floor)
		c->floor_ns = median(c->floor_round, c->rounds);
}

/* Runs and reports every event-idx x mode cell of one size and batch. */
static void run_cells(const struct opts *o, unsigned size, unsigned batch, const char *peer,
		      const char *floor, bool *first)
{
	for (unsigned ei = 0; ei < o->event_idx.n; ei++) {
		for (unsigned mi = 0; mi < o->modes.n; mi++) {
			struct cell c;

			memset(&c, 0, sizeof(c));
			c.cfg = o->base;
			c.cfg.size = size;
			c.cfg.batch = batch;
			c.cfg.event_idx = o->event_idx.v[ei];
			c.cfg.mode = (enum bench_mode)o->modes.v[mi];
			c.has_peer = peer && c.cfg.mode == BENCH_POLL;
			c.has_floor = floor && c.cfg.mode == BENCH_POLL;
			run_cell(o, &c);
			if (o->json)
				json_cell(&c, *first);
			else
				table_row(&c);
			*first = false;
		}
	}
}

int main(int argc, char **argv)
{
	const char *peer, *floor;
	struct opts o;
	bool first = true;

	parse_args(argc, argv, &o);
	check(&o);
	peer = o.no_peer ? NULL : bench_peer_name();
	floor = o.no_peer || o.no_floor ? NULL : bench_floor_name();

	warm_up(&o, peer != NULL, floor != NULL);
	if (o.json)
		json_head(&o, peer, floor);
	else
		table_head(&o, peer, floor);
	for (unsigned si = 0; si < o.sizes.n; si++) {
		unsigned size = o.sizes.v[si];

		for (unsigned bi = 0; bi < o.batches.n; bi++) {
			unsigned batch = clamp_batch(&o.base, size, o.batches.v[bi]);

			if (!batch_seen(&o, size, bi, batch))
				run_cells(&o, size, batch, peer, floor, &first);
		}
	}
	if (o.json)
		printf("\n]}\n");
	else
		table_foot(&o, peer, floor);
	return 0;
}
