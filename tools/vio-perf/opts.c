/*
 * opts.c - vio-perf's command line: long options only, fio's names where
 * fio has one (rw, bs, rwmixread, size), the rest after the tool's terms.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"

static const char *const rw_names[] = {
	[RW_RANDREAD] = "randread", [RW_RANDWRITE] = "randwrite", [RW_READ] = "read",
	[RW_WRITE] = "write", [RW_RANDRW] = "randrw", [RW_RW] = "rw",
};

const char *rw_name(enum rw_mode rw)
{
	return rw_names[rw];
}

bool rw_random(enum rw_mode rw)
{
	return rw == RW_RANDREAD || rw == RW_RANDWRITE || rw == RW_RANDRW;
}

bool rw_reads(enum rw_mode rw)
{
	return rw != RW_RANDWRITE && rw != RW_WRITE;
}

bool rw_writes(enum rw_mode rw)
{
	return rw != RW_RANDREAD && rw != RW_READ;
}

static void usage(FILE *f, const char *argv0)
{
	fprintf(f,
		"usage: %s --socket=PATH [options]\n"
		"Drives a vhost-user-blk backend with block I/O and measures it.\n\n"
		"  --socket=PATH        the backend's vhost-user socket\n"
		"  --rw=MODE            randread (default), randwrite, read, write, randrw, rw\n"
		"  --rwmixread=PCT      reads in randrw/rw (default 50)\n"
		"  --bs=BYTES           block size, k/m/g suffixes, a multiple of 512 (default 4k)\n"
		"  --qd=N               requests in flight per queue (default 32)\n"
		"  --queues=N           virtqueues (default 1; the backend needs MQ)\n"
		"  --threads=N          threads, queues divided among them (default: one per queue)\n"
		"  --time=SECONDS       run time (default 10)\n"
		"  --count=N            total I/Os instead (with --time too: whichever ends first)\n"
		"  --size=BYTES         use only the first BYTES of the device (default: all)\n"
		"  --verify             write every block with a tagged pattern, read it all back\n"
		"                       and check it (randrw/rw also mix the two in between);\n"
		"                       exit 1 on any mismatch\n"
		"  --verify-phase=P     all (default), write (only write), read (only check what an\n"
		"                       earlier write phase with the same --seed left)\n"
		"  --seed=N             verify pattern and random offsets (default: from the clock)\n"
		"  --ring=split|packed  ring layout (default split; packed needs the backend's offer)\n"
		"  --no-event-idx       do not negotiate VIRTIO_F_EVENT_IDX\n"
		"  --no-indirect        do not negotiate VIRTIO_F_INDIRECT_DESC\n"
		"  --no-in-order        do not negotiate VIRTIO_F_IN_ORDER (with it, requests go\n"
		"                       as direct chains)\n"
		"  --poll               busy-poll completions instead of waiting for interrupts\n"
		"  --json               print the result as one JSON object on stdout\n"
		"  --quiet              no progress line\n"
		"  --net                drive a vhost-user-net backend instead (--net --help)\n\n"
		"Exit status: 0 ok, 1 I/O or verify errors (or the backend went away),\n"
		"2 usage or connection errors.\n", argv0);
}

/* A byte count with an optional k/m/g/t suffix (powers of 1024). */
static int parse_bytes(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (*s == '-' || *s == '\0')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end != '\0' || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	uint64_t v;

	if (parse_bytes(s, &v) || v < lo || v > hi)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end != '\0' || !(v > 0) || v > 1e7)
		return -EINVAL;
	*out = v;
	return 0;
}

static int pick(const char *s, const char *const *names, unsigned n, unsigned *out)
{
	for (unsigned i = 0; i < n; i++) {
		if (names[i] && !strcmp(s, names[i])) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

enum {
	O_SOCKET = 256, O_RW, O_RWMIX, O_BS, O_QD, O_QUEUES, O_THREADS, O_TIME, O_COUNT,
	O_SIZE, O_VERIFY, O_PHASE, O_SEED, O_RING, O_NO_EVT, O_NO_IND, O_NO_INO, O_POLL, O_JSON,
	O_QUIET, O_HELP,
};

static const struct option longopts[] = {
	{ "socket", required_argument, NULL, O_SOCKET },
	{ "rw", required_argument, NULL, O_RW },
	{ "rwmixread", required_argument, NULL, O_RWMIX },
	{ "bs", required_argument, NULL, O_BS },
	{ "qd", required_argument, NULL, O_QD },
	{ "queues", required_argument, NULL, O_QUEUES },
	{ "threads", required_argument, NULL, O_THREADS },
	{ "time", required_argument, NULL, O_TIME },
	{ "count", required_argument, NULL, O_COUNT },
	{ "size", required_argument, NULL, O_SIZE },
	{ "verify", no_argument, NULL, O_VERIFY },
	{ "verify-phase", required_argument, NULL, O_PHASE },
	{ "seed", required_argument, NULL, O_SEED },
	{ "ring", required_argument, NULL, O_RING },
	{ "no-event-idx", no_argument, NULL, O_NO_EVT },
	{ "no-indirect", no_argument, NULL, O_NO_IND },
	{ "no-in-order", no_argument, NULL, O_NO_INO },
	{ "poll", no_argument, NULL, O_POLL },
	{ "json", no_argument, NULL, O_JSON },
	{ "quiet", no_argument, NULL, O_QUIET },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

/* One option's value into o: 0, or -EINVAL with *what naming the option. */
static int apply(struct perf_opts *o, int c, const char *arg, bool *time_set)
{
	static const char *const rings[] = { [RING_SPLIT] = "split", [RING_PACKED] = "packed" };
	static const char *const phases[] = { [PHASE_ALL] = "all", [PHASE_WRITE] = "write",
					      [PHASE_READ] = "read" };
	unsigned u = 0;
	int r = 0;

	switch (c) {
	case O_SOCKET: o->socket = arg; break;
	case O_RW: r = pick(arg, rw_names, 6, &u); o->rw = (enum rw_mode)u; break;
	case O_RWMIX: r = parse_uint(arg, 0, 100, &o->rwmixread); break;
	case O_BS:
		r = parse_bytes(arg, &o->bs);
		if (!r && (o->bs == 0 || o->bs % 512 || o->bs > (UINT64_C(1) << 30)))
			r = -EINVAL;
		break;
	case O_QD: r = parse_uint(arg, 1, 16384, &o->qd); break;
	case O_QUEUES: r = parse_uint(arg, 1, 16, &o->queues); break;
	case O_THREADS: r = parse_uint(arg, 1, 16, &o->threads); break;
	case O_TIME: r = parse_seconds(arg, &o->seconds); *time_set = true; break;
	case O_COUNT: r = parse_bytes(arg, &o->count); if (!r && !o->count) r = -EINVAL; break;
	case O_SIZE: r = parse_bytes(arg, &o->size); if (!r && !o->size) r = -EINVAL; break;
	case O_VERIFY: o->verify = true; break;
	case O_PHASE: r = pick(arg, phases, 3, &u); o->phase = (enum verify_phase)u; break;
	case O_SEED: r = parse_bytes(arg, &o->seed); o->seed_set = true; break;
	case O_RING: r = pick(arg, rings, 2, &u); o->ring = (enum ring_kind)u; break;
	case O_NO_EVT: o->no_event_idx = true; break;
	case O_NO_IND: o->no_indirect = true; break;
	case O_NO_INO: o->no_in_order = true; break;
	case O_POLL: o->poll = true; break;
	case O_JSON: o->json = true; break;
	case O_QUIET: o->quiet = true; break;
	default: r = -EINVAL; break;
	}
	return r;
}

static const char *const limits[] = {
	[O_RW - O_SOCKET] = "randread, randwrite, read, write, randrw or rw",
	[O_RWMIX - O_SOCKET] = "a percentage, 0 to 100",
	[O_BS - O_SOCKET] = "a non-zero multiple of 512, at most 1g",
	[O_QD - O_SOCKET] = "1 to 16384",
	[O_QUEUES - O_SOCKET] = "1 to 16",
	[O_THREADS - O_SOCKET] = "1 to 16",
	[O_TIME - O_SOCKET] = "a positive number of seconds",
	[O_COUNT - O_SOCKET] = "a positive count",
	[O_SIZE - O_SOCKET] = "a positive byte count",
	[O_PHASE - O_SOCKET] = "all, write or read",
	[O_SEED - O_SOCKET] = "a number",
	[O_RING - O_SOCKET] = "split or packed",
};

int opts_parse(struct perf_opts *o, int argc, char **argv)
{
	bool time_set = false;
	int c;

	memset(o, 0, sizeof(*o));
	o->rwmixread = 50;
	o->bs = 4096;
	o->qd = 32;
	o->queues = 1;
	o->seconds = 10;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'h' || c == O_HELP) {
			usage(stdout, argv[0]);
			return 1;
		}
		if (c == '?' || c == ':') {
			fprintf(stderr, "vio-perf: unknown option or missing value: %s\n"
				"Try --help.\n", argv[optind - 1]);
			return -1;
		}
		if (apply(o, c, optarg, &time_set)) {
			const char *lim = c - O_SOCKET < (int)(sizeof(limits) / sizeof(limits[0])) ?
					  limits[c - O_SOCKET] : NULL;

			fprintf(stderr, "vio-perf: bad value for --%s: '%s'%s%s\n",
				longopts[c - O_SOCKET].name, optarg ? optarg : "",
				lim ? ": want " : "", lim ? lim : "");
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vio-perf: unexpected argument '%s'\nTry --help.\n", argv[optind]);
		return -1;
	}
	if (!o->socket) {
		fprintf(stderr, "vio-perf: --socket=PATH is required\nTry --help.\n");
		return -1;
	}
	/* --count alone: no time limit; both: whichever comes first. */
	if (o->count && !time_set)
		o->seconds = 0;
	if (!o->threads)
		o->threads = o->queues;
	if (o->threads > o->queues) {
		fprintf(stderr, "vio-perf: --threads=%u is more than --queues=%u: each thread "
			"needs a queue of its own\n", o->threads, o->queues);
		return -1;
	}
	if (o->phase != PHASE_ALL && !o->verify) {
		fprintf(stderr, "vio-perf: --verify-phase needs --verify\n");
		return -1;
	}
	if (o->phase == PHASE_READ && !o->seed_set) {
		fprintf(stderr, "vio-perf: --verify-phase=read needs the --seed of the write phase\n");
		return -1;
	}
	return 0;
}
