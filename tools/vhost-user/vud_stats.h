/*
 * vud_stats.h - the vhost-user daemons' statistics as JSON (--stats-json).
 *
 * With --stats-json a daemon prints, every --stats-interval seconds and on
 * SIGUSR1, one JSON object per queue on stdout, one object a line, instead
 * of the text lines on stderr. The schema ("schema": 1), every key always
 * present:
 *
 *   {"schema": 1, "daemon": "vhost-user-blk", "port": 0, "queue": 0,
 *    "time": 1765136588.123, "state": "running",
 *    "counters": {"kicks": 12, "interrupts": 10, "interrupts_suppressed": 2,
 *                 "requests": 12, ...}}
 *
 *   daemon    the program's name
 *   port      the port (socket) index: 0, or 0..N-1 with vhost-user-net --switch
 *   queue     the queue index; null for a port's own object (the switch's
 *             counters of that port, after its queues')
 *   time      when the numbers were read: seconds since the Unix epoch (UTC)
 *   state     "running" or "stopped" (the queue; "port" for a port's object)
 *   counters  name to non-negative integer: kicks, interrupts and
 *             interrupts_suppressed for every queue, then the device's own
 *             (the same numbers as the text line, under names in snake_case)
 *
 * Counters only grow while a frontend stays; a new frontend starts the
 * device's queues again but not their counters.
 */
#ifndef VUD_STATS_H
#define VUD_STATS_H

#include <stdint.h>
#include <stdio.h>

#define VUD_MAX_COUNTERS 40u

struct vud_counter {
	const char *name;       /* snake_case, a string that lives as long as the program */
	uint64_t value;
};

/* Appends one counter to c[0..*n) when there is room (max). */
void vud_counter_add(struct vud_counter *c, unsigned *n, unsigned max, const char *name,
		     uint64_t value);

/* Writes one object, and a newline, to f. queue < 0: a port's object. */
void vud_stats_json(FILE *f, const char *daemon, unsigned port, int queue, const char *state,
		    const struct vud_counter *c, unsigned n);

#endif
