/*
 * net_switch.h - vhost-user-net's switch port: an L2 learning switch
 * joining the net devices of one process (one per vhost-user socket), so
 * that guests on different sockets talk to each other with no tap, bridge
 * or privilege. See net_switch.c for how frames cross and why.
 */
#ifndef NET_SWITCH_H
#define NET_SWITCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "net_fdb.h"
#include "vio/devices.h"
#include "vio/transport.h"

#define NET_SWITCH_MAX_PORTS 16u
#define NET_SWITCH_AGE_NS (300 * INT64_C(1000000000))  /* learnt addresses live 300 s */
#define NET_SWITCH_FDB_ENTRIES 4096u
#define NET_SWITCH_WAIT_MS 100  /* longest a frame waits for receive buffers */
#define NET_SWITCH_QUEUE_BYTES (4u << 20)       /* frame bytes queued toward a port */
#define NET_SWITCH_QUEUE_SLOTS 256u             /* frames queued toward a port */
/* The offloads every switch port offers (the device finishes or cuts what
 * a receiving driver did not take). */
#define NET_SWITCH_OFFLOADS (VIO_BIT(VIO_NET_F_CSUM) | VIO_BIT(VIO_NET_F_GUEST_CSUM) | \
			     VIO_BIT(VIO_NET_F_HOST_TSO4) | VIO_BIT(VIO_NET_F_HOST_TSO6) | \
			     VIO_BIT(VIO_NET_F_GUEST_TSO4) | VIO_BIT(VIO_NET_F_GUEST_TSO6) | \
			     VIO_BIT(VIO_NET_F_HOST_ECN) | VIO_BIT(VIO_NET_F_GUEST_ECN))

/* Per-port counters (atomic; read with net_switch_port_stats()). "in",
 * flooded, self and oversize count frames the port's driver sent; "out",
 * queue_full, no_buffers and device count frames toward the port. */
struct net_switch_stats {
	uint64_t in_frames, in_bytes;   /* sent by the port's driver */
	uint64_t out_frames, out_bytes; /* put in the port's receive buffers */
	uint64_t flooded;               /* in frames sent to every other port */
	uint64_t self;                  /* in frames to an address on this port: dropped */
	uint64_t oversize;              /* in frames above the MTU + 18 (a GSO
					   frame: 65535): dropped */
	uint64_t queue_full;            /* toward it, its queue full: dropped */
	uint64_t no_buffers;            /* toward it, no receive buffers in time: dropped */
	uint64_t device;                /* toward it, dropped by its device (filter,
					   too big, pair not enabled, no driver) */
	uint64_t learned;               /* addresses that became entries */
};

/* A frame waiting in a port's queue: its header fields and its bytes. */
struct net_switch_slot {
	uint8_t flags, gso_type;
	uint16_t hdr_len, gso_size, csum_start, csum_offset;
	uint32_t len;
	uint32_t span;                  /* bytes of the ring it holds (its data,
					   rounded up, and a tail skipped to wrap) */
	int64_t since;                  /* ns: when it was queued */
	uint8_t *data;
};

struct net_switch;

struct net_switch_port {
	struct net_switch *sw;
	unsigned idx;
	struct vio_net_dev *net;        /* its device */
	struct vio_vu_backend *b;       /* its backend: set by net_switch_up() */
	unsigned lock_qi;               /* queue whose lock serialises the whole device */

	/* Frames toward this port, oldest at head; producers (other ports'
	 * pair threads) append under `lock`; the delivery thread alone
	 * takes from head, and slots in [head, head + count) are its until
	 * it advances head. The frames' bytes sit in a ring of
	 * NET_SWITCH_QUEUE_BYTES, each frame contiguous, in queue order:
	 * `wpos` is where the next one goes, `used` what the queued ones
	 * hold. */
	pthread_mutex_t lock;
	struct net_switch_slot *slots;
	uint8_t *bytes;
	unsigned cap, head, count;
	size_t wpos, used;

	int wake;                       /* eventfd: frames queued, buffers posted, or stop */
	pthread_t th;
	bool started;
	bool stop;                      /* atomic */
	struct net_switch_stats st;
};

struct net_switch {
	unsigned nports;
	uint32_t frame_max;             /* largest frame passed but GSO: MTU + 18 */
	struct net_fdb fdb;
	struct net_switch_port port[NET_SWITCH_MAX_PORTS];
};

/* The port for vio_net_dev_opts.port_ops; its port is &sw->port[k]. */
extern const struct vio_net_port_ops net_switch_ops;

/* Joins nports (2..NET_SWITCH_MAX_PORTS) devices: devs[k] is port k's
 * (vio_net_dev_init() it afterwards with &net_switch_ops and &sw->port[k];
 * it must offer CTRL_VQ, whose queue's lock covers every queue). mtu as
 * the devices'. 0, -EINVAL, -ENOMEM, -errno; net_switch_fini() undoes it,
 * also after a failure. */
int net_switch_init(struct net_switch *sw, unsigned nports, struct vio_net_dev *devs,
		    uint16_t mtu);
void net_switch_fini(struct net_switch *sw);

/* vud's backend_up / backend_down for port p (hooks_opaque = p): start
 * and stop its delivery thread. */
int net_switch_up(void *p, struct vio_vu_backend *b);
void net_switch_down(void *p);

/* A port's counters, and its live learnt addresses in *learned_now. */
void net_switch_port_stats(struct net_switch_port *p, struct net_switch_stats *out,
			   unsigned *learned_now);

#endif
