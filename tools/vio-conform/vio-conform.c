/*
 * vio-conform - how well does a vhost-user backend follow the protocol, and
 * does it survive a hostile frontend?
 *
 *   vio-conform --exec='vhost-user-blk --socket-path={socket} --ram=64M'
 *   vio-conform --socket=/run/blk.sock --pid=1234 --type=blk --json=out.json
 *
 * Runs every case of cases.c against the backend, each on a connection of
 * its own, and prints a table: the case, its kind (check or robustness),
 * where its rule comes from, and the verdict. After each robustness case
 * (and each check) it judges from the outside: the process is alive (with
 * --exec or --pid), no canary byte of the shared memory changed, the
 * process does not burn CPU with nothing to do, it holds no more fds than
 * before, and a new frontend is served (for blk: a write and a read back).
 * With --exec a backend that died or wedged is started again for the next
 * case.
 *
 * Exit status: 0 when every check passed or was skipped and every
 * robustness case was survived or dropped cleanly; 1 otherwise; 2 for
 * usage errors or a backend that could not be reached at all.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conform.h"

const char *vc_type;

static const char *const result_names[] = {
	[VC_PASS] = "pass", [VC_FAIL] = "FAIL", [VC_SKIP] = "skip",
	[VC_SURVIVED] = "survived", [VC_DROPPED] = "dropped", [VC_CRASHED] = "CRASHED",
	[VC_HUNG] = "HUNG", [VC_SPUN] = "SPUN", [VC_WROTE_OUTSIDE] = "WROTE-OUTSIDE",
	[VC_LEAKED] = "LEAKED-FDS", [VC_NO_REPLY] = "NO-REPLY", [VC_ERROR] = "error",
};

const char *vc_result_name(enum vc_result r)
{
	return result_names[r];
}

static bool good(enum vc_result r)
{
	return r == VC_PASS || r == VC_SKIP || r == VC_SURVIVED || r == VC_DROPPED;
}

static void usage(FILE *f, const char *argv0)
{
	fprintf(f,
		"usage: %s (--exec=CMD | --socket=PATH [--pid=PID]) [options]\n"
		"  --exec=CMD       start the backend: a shell command line in which {socket}\n"
		"                   is the socket path to serve (restarted after a case that kills it)\n"
		"  --socket=PATH    connect to a backend that is already listening there\n"
		"  --pid=PID        the process behind --socket (liveness, CPU and fd checks)\n"
		"  --type=TYPE      blk, rng or net (default: the type --print-capabilities\n"
		"                   of --exec's program reports; else generic cases only)\n"
		"  --only=TEXT      run the cases whose name contains TEXT\n"
		"  --timeout=MS     how long a reply may take (default 2000)\n"
		"  --json=FILE      also write the results as JSON (- for stdout)\n"
		"  --list           list the cases and exit\n"
		"  --quiet          print only failures and the summary\n"
		"  -h, --help       this text\n",
		argv0);
}

/* The type the program of cmd reports with --print-capabilities. */
static const char *type_from_capabilities(const char *cmd)
{
	char prog[512], line[512], run[600];
	const char *type = NULL;
	size_t n = strcspn(cmd, " \t");
	FILE *p;

	if (n == 0 || n >= sizeof(prog))
		return NULL;
	memcpy(prog, cmd, n);
	prog[n] = 0;
	snprintf(run, sizeof(run), "'%s' --print-capabilities 2>/dev/null", prog);
	p = popen(run, "r");
	if (!p)
		return NULL;
	while (fgets(line, sizeof(line), p)) {
		if (!strstr(line, "\"type\""))
			continue;
		if (strstr(line, "\"block\"") || strstr(line, "\"blk\""))
			type = "blk";
		else if (strstr(line, "\"rng\""))
			type = "rng";
		else if (strstr(line, "\"net\""))
			type = "net";
	}
	pclose(p);
	return type;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* How long the backend is watched for CPU use with nothing to do, and how
 * much of it counts as spinning. An idle backend uses next to nothing (a
 * polling window after the last kick is 32 us to 50 us in QEMU and libvio);
 * a spinning thread takes a cpu when it can, but on a loaded machine only
 * a share of one. So a short look first, and when it shows any use at all
 * a second, longer one that must show a steady share. */
#define SPIN_LOOK_MS 150
#define SPIN_SUSPECT_MS 10
#define SPIN_WATCH_MS 1000
#define SPIN_CPU_MS 120         /* in SPIN_WATCH_MS: 12 % of a cpu */

struct outcome {
	enum vc_result r;
	long ms;                /* how long the case and its judging took */
	char detail[400];
};

/* Runs one case and judges it. */
static void run_case(const struct vc_case *k, struct vc_ctx *c, struct outcome *o)
{
	int fds_before, fds_after;
	long cpu0, cpu1;
	bool spin = false;
	struct vc_sess s;
	bool canaries;
	char why[256];
	int e;

	o->detail[0] = 0;
	c->detail[0] = 0;
	if (k->type && (!vc_type || strcmp(k->type, vc_type))) {
		o->r = VC_SKIP;
		snprintf(o->detail, sizeof(o->detail), "for %s backends", k->type);
		return;
	}
	if (!vc_target_alive(c->t) && vc_target_start(c->t)) {
		o->r = VC_ERROR;
		snprintf(o->detail, sizeof(o->detail), "the backend is gone (%s)", c->t->ended_how);
		return;
	}
	fds_before = vc_target_nfds(c->t);
	e = vc_sess_open(&s, c->t, c->timeout_ms);
	if (e) {
		o->r = k->kind == VC_CHECK ? VC_FAIL : VC_ERROR;
		snprintf(o->detail, sizeof(o->detail), "negotiation: %s", s.why);
		vc_sess_close(&s);
		return;
	}
	o->r = k->run(c, &s);
	snprintf(o->detail, sizeof(o->detail), "%s", c->detail);
	canaries = vc_canaries_ok(&s);
	if (!canaries)
		snprintf(why, sizeof(why), "%s", s.why);
	/* With our connection still open and nothing on the rings, the
	 * backend should sleep. */
	cpu0 = vc_target_cpu_ms(c->t);
	sleep_ms(SPIN_LOOK_MS);
	cpu1 = vc_target_cpu_ms(c->t);
	if (cpu0 >= 0 && cpu1 - cpu0 >= SPIN_SUSPECT_MS) {
		cpu0 = cpu1;
		sleep_ms(SPIN_WATCH_MS);
		cpu1 = vc_target_cpu_ms(c->t);
		spin = cpu1 >= 0 && cpu1 - cpu0 >= SPIN_CPU_MS;
	}
	vc_sess_close(&s);

	if (!vc_target_alive(c->t)) {
		o->r = VC_CRASHED;
		snprintf(o->detail, sizeof(o->detail), "%s", c->t->ended_how);
	} else if (!canaries) {
		o->r = VC_WROTE_OUTSIDE;
		snprintf(o->detail, sizeof(o->detail), "%s", why);
	} else if (spin) {
		o->r = VC_SPUN;
		snprintf(o->detail, sizeof(o->detail), "%ld ms of CPU in %d ms with an idle frontend",
			 cpu1 - cpu0, SPIN_WATCH_MS);
	} else if (o->r != VC_SKIP && o->r != VC_ERROR && !vc_probe(c, vc_type, why, sizeof(why))) {
		if (!vc_target_alive(c->t)) {
			o->r = VC_CRASHED;
			snprintf(o->detail, sizeof(o->detail), "%s (after the case)", c->t->ended_how);
		} else {
			o->r = VC_HUNG;
			snprintf(o->detail, sizeof(o->detail), "%s", why);
		}
	} else if (fds_before >= 0) {
		sleep_ms(50);
		fds_after = vc_target_nfds(c->t);
		if (fds_after > fds_before) {
			o->r = VC_LEAKED;
			snprintf(o->detail, sizeof(o->detail), "%d fds before the case, %d after",
				 fds_before, fds_after);
		}
	}
	if (c->t->child && (o->r == VC_CRASHED || o->r == VC_HUNG || o->r == VC_SPUN)) {
		vc_target_stop(c->t);
		if (vc_target_start(c->t) == 0)
			(void)vc_probe(c, vc_type, why, sizeof(why));   /* set up, as at the start */
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "exec", required_argument, NULL, 'e' }, { "socket", required_argument, NULL, 's' },
		{ "pid", required_argument, NULL, 'p' }, { "type", required_argument, NULL, 't' },
		{ "only", required_argument, NULL, 'o' }, { "timeout", required_argument, NULL, 'T' },
		{ "json", required_argument, NULL, 'j' }, { "list", no_argument, NULL, 'l' },
		{ "quiet", no_argument, NULL, 'q' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vc_target t = { 0 };
	struct vc_ctx c = { .t = &t, .timeout_ms = 2000 };
	const char *only = NULL, *json = NULL;
	unsigned counts[VC_ERROR + 1] = { 0 }, bad = 0, run = 0;
	struct outcome *out;
	bool list = false, quiet = false;
	int ch;

	signal(SIGPIPE, SIG_IGN);
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'e': t.exec = optarg; break;
		case 's':
			if (strlen(optarg) >= sizeof(t.socket_path)) {
				fprintf(stderr, "vio-conform: socket path too long\n");
				return 2;
			}
			strcpy(t.socket_path, optarg);
			break;
		case 'p': t.pid = (pid_t)atoi(optarg); break;
		case 't':
			if (strcmp(optarg, "blk") && strcmp(optarg, "rng") && strcmp(optarg, "net")) {
				fprintf(stderr, "vio-conform: --type is blk, rng or net\n");
				return 2;
			}
			vc_type = optarg;
			break;
		case 'o': only = optarg; break;
		case 'T': c.timeout_ms = atoi(optarg); break;
		case 'j': json = optarg; break;
		case 'l': list = true; break;
		case 'q': quiet = true; break;
		case 'h': usage(stdout, argv[0]); return 0;
		default: usage(stderr, argv[0]); return 2;
		}
	}
	if (list) {
		for (unsigned i = 0; i < vc_ncases; i++)
			printf("%-26s %-6s %-5s %s (%s)\n", vc_cases[i].name,
			       vc_cases[i].kind == VC_CHECK ? "check" : "robust",
			       vc_cases[i].type ? vc_cases[i].type : "any", vc_cases[i].what,
			       vc_cases[i].section);
		return 0;
	}
	if (optind != argc || (!t.exec == !t.socket_path[0]) || c.timeout_ms <= 0) {
		usage(stderr, argv[0]);
		return 2;
	}
	if (!vc_type && t.exec)
		vc_type = type_from_capabilities(t.exec);
	if (vc_target_start(&t)) {
		fprintf(stderr, "vio-conform: the backend did not come up (%s); its log: %s/backend.log\n",
			t.ended_how[0] ? t.ended_how : "no socket", t.dir);
		return 2;
	}
	/* One whole session first: the backend is set up (a daemon may
	 * listen before it is done with setup), and the fd and CPU
	 * baselines of the first case are those of a backend at rest. */
	{
		char why[256];

		if (!vc_probe(&c, vc_type, why, sizeof(why))) {
			fprintf(stderr, "vio-conform: the backend does not serve a plain session: %s\n",
				why);
			vc_target_stop(&t);
			return 2;
		}
	}
	out = calloc(vc_ncases, sizeof(*out));
	if (!out)
		return 2;
	printf("vio-conform: %s, type %s\n", t.exec ? t.exec : t.socket_path,
	       vc_type ? vc_type : "unknown (generic cases only)");
	printf("%-26s %-6s %-14s %5s %s\n", "case", "kind", "verdict", "ms", "detail");
	for (unsigned i = 0; i < vc_ncases; i++) {
		const struct vc_case *k = &vc_cases[i];

		if (only && !strstr(k->name, only)) {
			out[i].r = VC_SKIP;
			snprintf(out[i].detail, sizeof(out[i].detail), "not selected");
			continue;
		}
		long t0 = now_ms();

		run_case(k, &c, &out[i]);
		out[i].ms = now_ms() - t0;
		run++;
		counts[out[i].r]++;
		bad += !good(out[i].r);
		if (!quiet || !good(out[i].r))
			printf("%-26s %-6s %-14s %5ld %s\n", k->name,
			       k->kind == VC_CHECK ? "check" : "robust", vc_result_name(out[i].r),
			       out[i].ms, out[i].detail);
		fflush(stdout);
	}
	printf("%u cases: %u pass, %u fail, %u skip; robustness: %u survived, %u dropped, "
	       "%u crashed, %u hung, %u spun, %u wrote outside, %u leaked fds, %u unanswered; "
	       "%u errors\n",
	       run, counts[VC_PASS], counts[VC_FAIL], counts[VC_SKIP], counts[VC_SURVIVED],
	       counts[VC_DROPPED], counts[VC_CRASHED], counts[VC_HUNG], counts[VC_SPUN],
	       counts[VC_WROTE_OUTSIDE], counts[VC_LEAKED], counts[VC_NO_REPLY], counts[VC_ERROR]);
	if (json) {
		FILE *f = strcmp(json, "-") ? fopen(json, "w") : stdout;

		if (!f) {
			perror(json);
			bad++;
		} else {
			fprintf(f, "{\"backend\": ");
			json_str(f, t.exec ? t.exec : t.socket_path);
			fprintf(f, ", \"type\": ");
			if (vc_type)
				json_str(f, vc_type);
			else
				fprintf(f, "null");
			fprintf(f, ", \"cases\": [");
			for (unsigned i = 0; i < vc_ncases; i++) {
				fprintf(f, "%s\n  {\"name\": ", i ? "," : "");
				json_str(f, vc_cases[i].name);
				fprintf(f, ", \"kind\": \"%s\", \"section\": ",
					vc_cases[i].kind == VC_CHECK ? "check" : "robustness");
				json_str(f, vc_cases[i].section);
				fprintf(f, ", \"what\": ");
				json_str(f, vc_cases[i].what);
				fprintf(f, ", \"verdict\": \"%s\", \"ok\": %s, \"ms\": %ld, \"detail\": ",
					vc_result_name(out[i].r), good(out[i].r) ? "true" : "false",
					out[i].ms);
				json_str(f, out[i].detail);
				fprintf(f, "}");
			}
			fprintf(f, "\n], \"failures\": %u}\n", bad);
			if (f != stdout)
				fclose(f);
		}
	}
	vc_target_stop(&t);
	if (t.dir[0]) {
		char p[300];

		snprintf(p, sizeof(p), "%s/vhost-user.sock", t.dir);
		unlink(p);
		if (bad == 0) {
			snprintf(p, sizeof(p), "%s/backend.log", t.dir);
			unlink(p);
			rmdir(t.dir);
		} else {
			printf("backend log: %s/backend.log\n", t.dir);
		}
	}
	free(out);
	return bad ? 1 : 0;
}
