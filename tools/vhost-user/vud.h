/*
 * vud.h - the shared body of libvio's vhost-user device daemons.
 *
 * A daemon (vhost-user-blk, vhost-user-rng, ...) builds its device and
 * hands it to vud_run(), which follows the vhost-user "Backend program
 * conventions": --socket-path or --fd, --print-capabilities, no
 * daemonizing, a clean end on SIGTERM/SIGINT. It runs the epoll loop the
 * library leaves to its users: the control socket on the main thread, one
 * thread per queue, or per group of queues the device serialises together
 * (a net device's pair), or one thread for all, or busy polling; it waits
 * for the next frontend after a disconnect (QEMU's reconnect=).
 *
 * One process may also serve several devices, each on a socket of its
 * own (vud_run_many(): vhost-user-net's switch). Each such *port* has its
 * own backend, listen socket, frontend, queue threads and reconnects on
 * its own; the signals, the stats timer and the exit are shared.
 */
#ifndef VUD_H
#define VUD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vio/transport.h"
#include "vud_log.h"
#include "vud_stats.h"
#include "vud_sandbox.h"

#define VUD_DEFAULT_POLL_US 32u
#define VUD_MAX_PORTS 16u               /* sockets one process serves, at most */

struct vud_opts {
	const char *socket_path;        /* listen here (a server socket): socket_paths[0] */
	/* Every --socket-path given, in order (more than one only where the
	 * daemon asked for it: vud_parse_many()). */
	const char *socket_paths[VUD_MAX_PORTS];
	unsigned n_sockets;
	int fd;                         /* or serve this connected socket (-1: none) */
	bool busy_poll;                 /* queue threads spin instead of waiting */
	unsigned poll_us;               /* adaptive polling after each kick (0: none) */
	bool single_thread;             /* all queues on the main thread */
	unsigned stats_interval;        /* seconds between stats lines (0: only SIGUSR1) */
	bool stats_json;                /* stats as JSON objects on stdout (vud_stats.h) */
	bool quiet;
	bool log_timestamps;            /* vud_log.h */
	bool syslog;
	/* --sandbox, --seccomp, --socket-group, --sandbox-selftest; the
	 * daemon sets sandbox.allow (its allowlist) after vud_parse. */
	struct vud_sandbox_opts sandbox;
	/* Set by the daemon, not by options: VU_PROTOCOL_F bits not to offer. */
	uint64_t protocol_features_off;
	/* Optional, both or neither: called once the backend exists (before
	 * the first frontend; return -1 to end the daemon with status 1), and
	 * before it goes. A daemon whose device has work outside kicks (a
	 * port's threads) starts and stops it there, and holds the queue
	 * locks through vio_vu_backend_queue_lock(b, ...). */
	int (*backend_up)(void *opaque, struct vio_vu_backend *b);
	void (*backend_down)(void *opaque);
	void *hooks_opaque;
	/* Set by the daemon, optional: the device's counters for
	 * --stats-json, the numbers of vud_run()'s stats lines
	 * (struct vud_counters_ops below). */
	struct vud_counters_ops *counters;
};

/* Writes one device-specific stats line for queue qi (no newline). Called
 * with qi's lock held (vio_vu_backend_queue_lock). */
typedef void vud_stats_fn(void *opaque, unsigned qi, char *buf, size_t len);

/*
 * Parses the options common to every daemon from argv, removing them.
 * Returns 0, 1 after --help (usage() called) or --print-capabilities was
 * handled (the caller exits 0), or -1 on a usage error (message printed).
 */
int vud_parse(int *argc, char **argv, struct vud_opts *o, const char *caps_json,
	      void (*usage)(const char *argv0));
/* The same, but --socket-path may be given up to max_sockets times
 * (1..VUD_MAX_PORTS; vud_parse() is max_sockets 1). More than one socket
 * and --fd do not go together. */
int vud_parse_many(int *argc, char **argv, struct vud_opts *o, const char *caps_json,
		   void (*usage)(const char *argv0), unsigned max_sockets);

/* Serves dev until SIGTERM/SIGINT (or, with --fd, until the frontend
 * leaves). Returns the process exit status. */
int vud_run(struct vio_dev_model *dev, const struct vud_opts *o, const char *name,
	    vud_stats_fn *stats, void *stats_opaque);

/* Writes one stats line for a whole port (no newline), after its queues'
 * lines. Called with no lock held. */
typedef void vud_port_stats_fn(void *opaque, unsigned port, char *buf, size_t len);

/* One device of vud_run_many(), on its own socket. */
struct vud_port {
	struct vio_dev_model *dev;
	const char *socket_path;
	vud_stats_fn *stats;            /* per queue, optional */
	vud_port_stats_fn *port_stats;  /* per port, optional */
	struct vud_counters_ops *counters;      /* --stats-json, optional */
	void *stats_opaque;
	/* As vud_opts' hooks (which vud_run_many ignores), for this port's
	 * backend: up after it exists, down before it goes. */
	int (*backend_up)(void *opaque, struct vio_vu_backend *b);
	void (*backend_down)(void *opaque);
	void *hooks_opaque;
};

/* Serves ports[0..n) (1..VUD_MAX_PORTS), each device on its port's socket
 * and with its own frontend, until SIGTERM/SIGINT. o gives the shared
 * options; its socket paths and hooks are not used (the ports' are), and
 * its --fd only with n == 1 (instead of that port's socket path). A port's
 * frontend leaving or being dropped touches no other port. Returns the
 * process exit status. vud_run() is this with one port. */
int vud_run_many(const struct vud_port *ports, unsigned n, const struct vud_opts *o,
		 const char *name);

/* --stats-json: the device's counters, the same numbers as its stats
 * lines (vud_stats_fn, vud_port_stats_fn), as named counters
 * (vud_counter_add() up to max). queue: called with qi's lock held;
 * port (optional): with no lock held. */
struct vud_counters_ops {
	void (*queue)(void *opaque, unsigned qi, struct vud_counter *c, unsigned *n, unsigned max);
	void (*port)(void *opaque, unsigned port, struct vud_counter *c, unsigned *n, unsigned max);
};

/* Usage text of the common options, for the daemons' --help. */
extern const char vud_common_usage[];

#endif
