/*
 * net_tap.h - vhost-user-net's tap port: a Linux tap interface behind the
 * net device, one tap queue and one reader thread per queue pair. See
 * net_tap.c for how frames and their offload fields cross.
 */
#ifndef NET_TAP_H
#define NET_TAP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vio/devices.h"
#include "vio/transport.h"

struct net_tap {
	unsigned pairs;
	int fd[VIO_NET_MAX_PAIRS];      /* tap queues */
	int wake[VIO_NET_MAX_PAIRS];    /* eventfds: receive buffers posted, or stop */
	pthread_t th[VIO_NET_MAX_PAIRS];
	bool started[VIO_NET_MAX_PAIRS];
	bool stop;                      /* atomic */
	struct vio_net_dev *net;
	struct vio_vu_backend *b;
	uint64_t rx_dropped;            /* atomic: frames no receive buffer took in time */
	unsigned tun_offloads;          /* atomic: the TUN_F_* flags set last */
};

/* The receive offloads the port can produce (vio_net_dev_opts.offloads
 * with CSUM and HOST_TSO4/6, which it can take). */
#define NET_TAP_GUEST_OFFLOADS (VIO_BIT(VIO_NET_F_GUEST_CSUM) | VIO_BIT(VIO_NET_F_GUEST_TSO4) | \
				VIO_BIT(VIO_NET_F_GUEST_TSO6) | VIO_BIT(VIO_NET_F_GUEST_ECN))

/* The port for vio_net_dev_opts.port_ops (with the struct as its port). */
extern const struct vio_net_port_ops net_tap_ops;

/* Opens (creating if needed) tap interface `name` with `pairs` queues:
 * 0 or a negative errno. net_tap_close() undoes it, also after a failure. */
int net_tap_open(struct net_tap *t, const char *name, unsigned pairs);
void net_tap_close(struct net_tap *t);

/* Starts the reader threads once the backend exists (vud's backend_up),
 * and stops them before it goes (backend_down). */
int net_tap_start(struct net_tap *t, struct vio_net_dev *net, struct vio_vu_backend *b);
void net_tap_stop(struct net_tap *t);

#endif
