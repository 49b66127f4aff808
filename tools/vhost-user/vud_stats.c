/*
 * vud_stats.c - one JSON object of daemon statistics (vud_stats.h has the
 * schema). The names are ours (plain snake_case, no escaping needed), the
 * daemon's name too; they are still escaped, so that a line is valid JSON
 * whatever a caller passes.
 */
#include <time.h>

#include "vud_stats.h"

void vud_counter_add(struct vud_counter *c, unsigned *n, unsigned max, const char *name,
		     uint64_t value)
{
	if (*n < max)
		c[(*n)++] = (struct vud_counter){ .name = name, .value = value };
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

void vud_stats_json(FILE *f, const char *daemon, unsigned port, int queue, const char *state,
		    const struct vud_counter *c, unsigned n)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	fputs("{\"schema\": 1, \"daemon\": ", f);
	json_string(f, daemon);
	fprintf(f, ", \"port\": %u, \"queue\": ", port);
	if (queue < 0)
		fputs("null", f);
	else
		fprintf(f, "%d", queue);
	fprintf(f, ", \"time\": %lld.%03ld, \"state\": ", (long long)ts.tv_sec, ts.tv_nsec / 1000000);
	json_string(f, state);
	fputs(", \"counters\": {", f);
	for (unsigned i = 0; i < n; i++) {
		if (i)
			fputs(", ", f);
		json_string(f, c[i].name);
		fprintf(f, ": %llu", (unsigned long long)c[i].value);
	}
	fputs("}}\n", f);
}
