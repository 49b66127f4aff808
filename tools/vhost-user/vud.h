/*
 * vud.h - the shared body of libvio's vhost-user device daemons.
 *
 * A daemon (vhost-user-blk, vhost-user-rng, ...) builds its device and
 * hands it to vud_run(), which follows the vhost-user "Backend program
 * conventions": --socket-path or --fd, --print-capabilities, no
 * daemonizing, a clean end on SIGTERM/SIGINT. It runs the epoll loop the
 * library leaves to its users: the control socket on the main thread, one
 * thread per queue (or one thread for all, or busy polling), and it waits
 * for the next frontend after a disconnect (QEMU's reconnect=).
 */
#ifndef VUD_H
#define VUD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vio/transport.h"

#define VUD_DEFAULT_POLL_US 32u

struct vud_opts {
	const char *socket_path;        /* listen here (a server socket) */
	int fd;                         /* or serve this connected socket (-1: none) */
	bool busy_poll;                 /* queue threads spin instead of waiting */
	unsigned poll_us;               /* adaptive polling after each kick (0: none) */
	bool single_thread;             /* all queues on the main thread */
	unsigned stats_interval;        /* seconds between stats lines (0: only SIGUSR1) */
	bool quiet;
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

/* Serves dev until SIGTERM/SIGINT (or, with --fd, until the frontend
 * leaves). Returns the process exit status. */
int vud_run(struct vio_dev_model *dev, const struct vud_opts *o, const char *name,
	    vud_stats_fn *stats, void *stats_opaque);

/* Log callback for the library: "name: level: msg" on stderr. */
void vud_log(void *opaque, enum vio_log_level level, const char *msg);

/* Usage text of the common options, for the daemons' --help. */
extern const char vud_common_usage[];

#endif
