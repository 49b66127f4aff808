/*
 * opts.h - vio-perf's command line.
 */
#ifndef VIO_PERF_OPTS_H
#define VIO_PERF_OPTS_H

#include <stdbool.h>
#include <stdint.h>

enum rw_mode { RW_RANDREAD, RW_RANDWRITE, RW_READ, RW_WRITE, RW_RANDRW, RW_RW };
enum ring_kind { RING_SPLIT, RING_PACKED };
enum verify_phase { PHASE_ALL, PHASE_WRITE, PHASE_READ };

struct perf_opts {
	const char *socket;
	enum rw_mode rw;
	unsigned rwmixread;             /* percent */
	uint64_t bs;
	unsigned qd, queues, threads;
	double seconds;                 /* 0: no time limit */
	uint64_t count;                 /* 0: no count limit */
	uint64_t size;                  /* 0: the whole device */
	bool verify;
	enum verify_phase phase;
	uint64_t seed;
	bool seed_set;
	enum ring_kind ring;
	bool no_event_idx, no_indirect, no_in_order;
	bool poll;
	bool json, quiet;
};

/* Parses argv into o. 0: run; 1: --help was printed, exit 0; -1: a usage
 * error was printed, exit 2. */
int opts_parse(struct perf_opts *o, int argc, char **argv);

const char *rw_name(enum rw_mode rw);
bool rw_random(enum rw_mode rw);
bool rw_reads(enum rw_mode rw);
bool rw_writes(enum rw_mode rw);

#endif /* VIO_PERF_OPTS_H */
