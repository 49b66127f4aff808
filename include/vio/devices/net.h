/*
 * vio/devices/net.h - the virtio network device, behind a port.
 *
 * A struct vio_net_dev is a complete virtio-net device model: fill the
 * options, vio_net_dev_init() it, and hand &net->dev to any transport. It
 * never learns what carries it, nor what is behind it: frames go to and
 * come from a *port* (struct vio_net_port_ops), which may be a tap device,
 * a switch, a test, or the reflect port below.
 *
 * Queues (vio/spec/net.h): receive queue 2N and transmit queue 2N+1 for
 * each pair N below max_pairs, then the control queue with CTRL_VQ.
 *
 *   transmit: a kick on a transmit queue pops up to a batch of chains,
 *   checks each (header, sizes, offload fields, no writable descriptor)
 *   and hands the good ones to port->transmit() as frames whose iovecs
 *   point into the driver's memory, valid until transmit returns; then
 *   every chain is returned used, with one interrupt decision. A bad
 *   chain is dropped and counted; it never stops the queue.
 *
 *   receive: the port (or whoever embeds the device) calls
 *   vio_net_dev_receive() with frames; each passes the receive filter
 *   (RX mode, MAC tables, VLAN filter) and is copied into the driver's
 *   receive buffers: one chain per frame, or with MRG_RXBUF as many
 *   buffers as it needs (num_buffers). The device keeps the receive
 *   buffers it popped but has not filled yet, so a frame that finds too
 *   few buffers stays with the caller and is tried again later; nothing is
 *   given back half-written. A frame larger than one chain can hold,
 *   without MRG_RXBUF, is dropped and counted (rx_too_big), the chain
 *   kept for the next. Checksum and GSO fields go to the driver as the
 *   port gave them if the receive offloads in force allow them: those are
 *   the negotiated GUEST_* features, changed by the control queue's
 *   GUEST_OFFLOADS_SET, and the port hears of each change (its offloads
 *   op) so that it can produce only them. Otherwise the device does the
 *   work: NEEDS_CSUM gets its checksum finished here, a TCP GSO frame is
 *   cut into segments here (each with its checksums; all of them
 *   delivered, or none), DATA_VALID is left out; what it cannot do (UDP
 *   GSO, headers that do not parse) is dropped and counted (rx_offload).
 *
 *   control queue: every command is checked (class, command, feature,
 *   exact payload size, ranges) and answered VIO_NET_OK or VIO_NET_ERR.
 *
 *   Bad input on the data path is dropped and counted per pair (struct
 *   vio_net_pair_stats), never logged: a driver could flood the log with
 *   it. A refused control command is counted and logged with its reason.
 *
 * Concurrency (core.h's rules, per queue, plus these):
 *   - the two queues of a pair are served by one thread at a time (the
 *     pair's thread): its transmit kicks, and vio_net_dev_receive() for
 *     that pair. The port's transmit() runs on it and may call
 *     vio_net_dev_receive() for the same pair (the reflect port does);
 *   - the control queue changes what every receive reads (filters, RSS,
 *     active pairs, offloads): serialise its processing with the receive
 *     of every pair (one thread for all queues, as loopback gives, or the
 *     transport's locks);
 *   - vio_net_dev_receive(dev, VIO_NET_STEER, ...) may deliver to any
 *     pair: serialise it with every pair;
 *   - vio_net_dev_set_link() and vio_net_dev_announce() change config
 *     space: call them serialised with the control path, as
 *     vio_dev_config_changed() says (loopback: under vio_loopback_lock());
 *   - vio_net_dev_stats() may be called from any thread.
 */
#ifndef VIO_DEVICES_NET_H
#define VIO_DEVICES_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "vio/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most queue pairs a net device can have here. */
#define VIO_NET_MAX_PAIRS             16u
/* Spans of one transmit chain (its descriptors, and more where one crosses
 * memory regions); a chain with more stops its queue (NEEDS_RESET). Also
 * the most iovecs of one frame the reflect port handles. */
#define VIO_NET_FRAME_SPANS           64u
/* Most addresses in each MAC table; a longer table turns the filter for
 * that kind (unicast or multicast) into "accept all", as QEMU does. */
#define VIO_NET_MAC_TABLE_MAX         64u
/* Longest RSS indirection table and key this device supports. */
#define VIO_NET_RSS_TABLE_MAX         128u
#define VIO_NET_RSS_KEY_MAX           40u
/* Hash types computed here: addresses and TCP/UDP ports of IPv4 and IPv6
 * (no IPv6 extension-header addresses). */
#define VIO_NET_DEV_HASH_TYPES (VIO_NET_HASH_TYPE_IPV4 | VIO_NET_HASH_TYPE_TCPV4 | \
				VIO_NET_HASH_TYPE_UDPV4 | VIO_NET_HASH_TYPE_IPV6 | \
				VIO_NET_HASH_TYPE_TCPV6 | VIO_NET_HASH_TYPE_UDPV6)

/* Ring features offered when vio_net_dev_opts.ring_features is 0. */
#define VIO_NET_DEV_RING_FEATURES (VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_INDIRECT_DESC) | \
				   VIO_BIT(VIO_F_EVENT_IDX) | VIO_BIT(VIO_F_RING_PACKED) | \
				   VIO_BIT(VIO_F_IN_ORDER))

/* Network features offered when vio_net_dev_opts.net_features is 0: every
 * one this device implements except the offloads, which only the port can
 * promise (see vio_net_dev_opts.offloads). */
#define VIO_NET_DEV_FEATURES (VIO_BIT(VIO_NET_F_MAC) | VIO_BIT(VIO_NET_F_MTU) | \
			      VIO_BIT(VIO_NET_F_STATUS) | VIO_BIT(VIO_NET_F_MRG_RXBUF) | \
			      VIO_BIT(VIO_NET_F_CTRL_VQ) | VIO_BIT(VIO_NET_F_CTRL_RX) | \
			      VIO_BIT(VIO_NET_F_CTRL_RX_EXTRA) | VIO_BIT(VIO_NET_F_CTRL_VLAN) | \
			      VIO_BIT(VIO_NET_F_CTRL_MAC_ADDR) | \
			      VIO_BIT(VIO_NET_F_GUEST_ANNOUNCE) | VIO_BIT(VIO_NET_F_MQ) | \
			      VIO_BIT(VIO_NET_F_CTRL_GUEST_OFFLOADS) | VIO_BIT(VIO_NET_F_RSS) | \
			      VIO_BIT(VIO_NET_F_HASH_REPORT) | VIO_BIT(VIO_NET_F_SPEED_DUPLEX))

/* The offload bits a port may pass through (vio_net_dev_opts.offloads). */
#define VIO_NET_DEV_OFFLOADS (VIO_BIT(VIO_NET_F_CSUM) | VIO_BIT(VIO_NET_F_GUEST_CSUM) | \
			      VIO_BIT(VIO_NET_F_HOST_TSO4) | VIO_BIT(VIO_NET_F_HOST_TSO6) | \
			      VIO_BIT(VIO_NET_F_HOST_ECN) | VIO_BIT(VIO_NET_F_HOST_UFO) | \
			      VIO_BIT(VIO_NET_F_GUEST_TSO4) | VIO_BIT(VIO_NET_F_GUEST_TSO6) | \
			      VIO_BIT(VIO_NET_F_GUEST_ECN) | VIO_BIT(VIO_NET_F_GUEST_UFO))

/*
 * One frame, either way: the virtio header's fields in host order, and the
 * Ethernet frame (no virtio header) as iovecs. From transmit: what the
 * driver wrote, checked (len 14..65535, csum_start + csum_offset + 2 <= len
 * with NEEDS_CSUM, gso_size > 0 with a GSO type the device offered). To
 * vio_net_dev_receive(): what the driver should see, under the same rules
 * plus the spec's for the device (5.1.6.4, device requirements: a GSO
 * frame has NEEDS_CSUM) and only with fields of the offloads in force
 * (port op offloads); hash fields are ignored (the device computes them).
 */
struct vio_net_frame {
	uint8_t flags;                  /* VIO_NET_HDR_F_* */
	uint8_t gso_type;               /* VIO_NET_HDR_GSO_* */
	uint16_t hdr_len, gso_size, csum_start, csum_offset;
	uint32_t len;                   /* bytes in iov */
	const struct vio_iov *iov;
	unsigned iovcnt;
};

/* 1: transmit, rx_ready; 2: offloads. A table of an older version works
 * (the members it lacks count as NULL): core.h, "Op tables and their
 * versions". */
#define VIO_NET_PORT_OPS_VERSION 2

/* The offloads a driver may take on receive (VIO_NET_DEV_OFFLOADS' GUEST_*
 * bits): what vio_net_port_ops.offloads reports. */
#define VIO_NET_DEV_GUEST_OFFLOADS (VIO_BIT(VIO_NET_F_GUEST_CSUM) | VIO_BIT(VIO_NET_F_GUEST_TSO4) | \
				    VIO_BIT(VIO_NET_F_GUEST_TSO6) | VIO_BIT(VIO_NET_F_GUEST_ECN) | \
				    VIO_BIT(VIO_NET_F_GUEST_UFO))

/* What is behind the device. */
struct vio_net_port_ops {
	unsigned version;       /* VIO_NET_PORT_OPS_VERSION */
	/*
	 * The driver sent frames[0..n) on pair `pair`. Their iovecs point
	 * into the driver's memory and are valid only until this returns:
	 * copy what must outlive the call. Return how many the port took
	 * (0..n); the rest are counted as dropped by the port. Runs on the
	 * pair's thread.
	 */
	int (*transmit)(void *port, unsigned pair, const struct vio_net_frame *frames, unsigned n);
	/* The driver posted receive buffers on `pair` (a kick on its
	 * receive queue): frames left over for want of buffers may be
	 * offered again. Optional. Runs on the pair's thread. */
	void (*rx_ready)(void *port, unsigned pair);
	/*
	 * Since version 2, optional. The receive offloads in force changed:
	 * `guest_offloads` (VIO_NET_DEV_GUEST_OFFLOADS bits) says which
	 * checksum and GSO fields the driver takes from now on. A frame
	 * given to vio_net_dev_receive() with a field outside them is
	 * dropped and counted (rx_offload), so a port that can produce them
	 * (a tap: TUNSETOFFLOAD) should produce only these. Called at
	 * DRIVER_OK with what was negotiated, after each accepted
	 * GUEST_OFFLOADS_SET that changes them, and with 0 at reset when
	 * any were in force. Runs on the control path, serialised with
	 * every pair (the device model's start and reset, or the control
	 * queue). A vhost-user frontend that keeps the control queue to
	 * itself (QEMU) does not forward GUEST_OFFLOADS_SET: there only
	 * DRIVER_OK and reset report.
	 */
	void (*offloads)(void *port, uint64_t guest_offloads);
};

/* Zero is a sensible default for every field. */
struct vio_net_dev_opts {
	uint8_t mac[6];                 /* offered with MAC; all zero: 52:54:00:12:34:56 */
	uint16_t mtu;                   /* offered with MTU; 0: 1500 (at least 68) */
	unsigned max_pairs;             /* queue pairs, 1..VIO_NET_MAX_PAIRS; 0: 1 */
	unsigned queue_size;            /* largest queue, a power of 2; 0: 256 */
	uint32_t speed;                 /* SPEED_DUPLEX: Mbit/s; 0: unknown */
	uint8_t duplex;                 /* VIO_NET_DUPLEX_*, with a speed (else unknown) */
	bool link_down;                 /* start with the link down (STATUS) */

	/* Device-type features to offer, within VIO_NET_DEV_FEATURES; 0:
	 * all of them, but MQ and RSS only with max_pairs > 1 and
	 * SPEED_DUPLEX only with a speed. */
	uint64_t net_features;
	/* Offload features the port can take (HOST_*, CSUM) or produce
	 * (GUEST_*): a subset of VIO_NET_DEV_OFFLOADS, offered as given. */
	uint64_t offloads;
	/* Transport-independent features (VIO_F_*); 0:
	 * VIO_NET_DEV_RING_FEATURES. */
	uint64_t ring_features;
	bool legacy_ok;                 /* also serve drivers without VERSION_1 */

	const struct vio_net_port_ops *port_ops;   /* NULL: transmitted frames are dropped */
	void *port;

	vio_log_fn *log;                /* optional; a transport may replace it */
	void *log_opaque;

	/* Optional control-path memory (init and fini only), both or
	 * neither; without them calloc/free (a freestanding build must give
	 * them). */
	void *(*alloc)(void *opaque, size_t size);
	void (*free)(void *opaque, void *p, size_t size);
	void *alloc_opaque;
};

/* Per-pair counters. Each is written by the pair's thread; read them with
 * vio_net_dev_stats() from any thread. */
struct vio_net_pair_stats {
	uint64_t tx_frames, tx_bytes;   /* handed to the port (bytes: frame only) */
	uint64_t rx_frames, rx_bytes;   /* put in the driver's receive buffers */
	uint64_t rx_gso, rx_csum;       /* ... of them with a GSO type / NEEDS_CSUM */
	/* transmit drops, by reason */
	uint64_t tx_bad_header;         /* chain shorter than the virtio header */
	uint64_t tx_writable;           /* chain with device-writable descriptors */
	uint64_t tx_bad_size;           /* frame below 14 or above 65535 bytes */
	uint64_t tx_bad_csum;           /* NEEDS_CSUM without CSUM, or past the frame */
	uint64_t tx_bad_gso;            /* unknown or not negotiated GSO type, gso_size 0 */
	uint64_t tx_port_drops;         /* frames the port did not take */
	uint64_t tx_link_down;          /* sent while the link was down */
	/* receive drops, by reason */
	uint64_t rx_filtered;           /* refused by RX mode, MAC or VLAN filter */
	uint64_t rx_too_big;            /* larger than the buffers could ever hold */
	uint64_t rx_bad_frame;          /* from the port: below 14 or above 65535 bytes,
					 * NEEDS_CSUM past its end, GSO without
					 * NEEDS_CSUM or with gso_size 0 */
	uint64_t rx_offload;            /* an offload the driver lacks, not done here:
					 * UDP GSO, or headers that do not parse */
	uint64_t rx_link_down;          /* arrived while the link was down */
	uint64_t rx_inactive;           /* for a pair the driver has not enabled */
	uint64_t rx_bad_buffer;         /* buffers shorter than the header: given back empty */
	uint64_t rx_no_room;            /* receive calls that stopped: no buffers */
	/* receive offloads done here for a driver without them (delivered) */
	uint64_t rx_soft_csum;          /* frames whose checksum was finished */
	uint64_t rx_soft_gso;           /* GSO frames cut into segments ... */
	uint64_t rx_soft_segments;      /* ... and the segments delivered */
};

struct vio_net_ctrl_stats {
	uint64_t commands;              /* answered */
	uint64_t ok, err;               /* ... with VIO_NET_OK / VIO_NET_ERR */
	uint64_t unanswered;            /* chains without a byte for the ack */
};

struct vio__net_pair;

struct vio_net_dev {
	struct vio_dev_model dev;        /* hand this to a transport */

	/* private */
	struct vio_net_config config;
	struct vio_net_config config0;
	struct vio__alloc alloc;
	struct vio__net_pair *pairs;
	struct vio_dev_queue *dqs;
	unsigned max_pairs, nq, queue_size;
	const struct vio_net_port_ops *port_ops;
	void *port;
	bool link_up;                    /* atomic */
	uint16_t status;                 /* VIO_NET_S_*, host order */
	uint8_t mac[6];                  /* the live address */
	struct vio_net_ctrl_stats ctrl_stats;
	struct vio_elem ctrl_elem;
	struct vio_iov ctrl_iov[2 * VIO_NET_FRAME_SPANS];
	/* the state the control queue sets, read by receive */
	unsigned active_pairs;
	uint64_t offloads;               /* GUEST_* offloads enabled */
	bool promisc, allmulti, alluni, nomulti, nouni, nobcast;
	bool uni_overflow, multi_overflow;
	unsigned n_uni, n_multi;
	uint8_t uni[VIO_NET_MAC_TABLE_MAX][6];
	uint8_t multi[VIO_NET_MAC_TABLE_MAX][6];
	uint64_t vlans[4096 / 64];
	bool rss_on, hash_on;            /* RSS_CONFIG / HASH_CONFIG in force */
	uint32_t hash_types;
	uint16_t rss_mask, rss_unclassified;
	uint16_t rss_table[VIO_NET_RSS_TABLE_MAX];
	uint8_t key_len;
	uint8_t key[VIO_NET_RSS_KEY_MAX];
};

/*
 * Builds config space and queues and vio_dev_init()s &net->dev. opts NULL:
 * the defaults. Returns 0, or -EINVAL for bad options (max_pairs above
 * VIO_NET_MAX_PAIRS, queue_size not a power of 2, mtu below 68, offloads
 * outside VIO_NET_DEV_OFFLOADS, net_features outside what this device
 * implements, one allocator hook without the other), -ENOMEM. On error
 * nothing stays allocated.
 */
int vio_net_dev_init(struct vio_net_dev *net, const struct vio_net_dev_opts *opts);

/* Frees what init allocated. The transport must be done with the device. */
void vio_net_dev_fini(struct vio_net_dev *net);

/* vio_net_dev_receive()'s pair: steer each frame (RSS, or pair 0). */
#define VIO_NET_STEER 0xffffffffu

/*
 * Puts frames[0..n) into the driver's receive queue of `pair` (or of the
 * pair RSS picks, with VIO_NET_STEER), with one interrupt decision at the
 * end. Returns how many frames were consumed, in order: delivered, or
 * dropped and counted (filtered, too big, bad, link down, pair not
 * enabled). It stops early, at the first frame that finds too few
 * receive buffers (counted in rx_no_room): that frame and the rest stay
 * the caller's, to offer again (rx_ready says when) or to drop. -EINVAL
 * for a pair that does not exist. Copies the data: the frames' memory is
 * the caller's again when this returns. Context: the pair's thread (see
 * the top of this file).
 */
int vio_net_dev_receive(struct vio_net_dev *net, unsigned pair, const struct vio_net_frame *frames,
			unsigned n);

/*
 * The pair RSS would deliver a frame to, and the hash it would report
 * (*hash and *report may be NULL): for an embedder whose pairs run on
 * threads of their own, which routes frames itself. Pair 0 without RSS
 * in force. Context: serialised with the control queue.
 */
unsigned vio_net_dev_steer(const struct vio_net_dev *net, const struct vio_net_frame *f,
			   uint32_t *hash, uint16_t *report);

/* Link up or down: updates status in config space and, with STATUS
 * offered, raises a config interrupt. While down, received and sent
 * frames are dropped and counted. Context: as vio_dev_config_changed(),
 * and serialised with the control queue (which rewrites config space too). */
void vio_net_dev_set_link(struct vio_net_dev *net, bool up);

/* Asks the driver to announce itself (gratuitous ARP after a migration):
 * sets VIO_NET_S_ANNOUNCE and raises a config interrupt; the driver's
 * ANNOUNCE_ACK clears it. -ENOTSUP unless GUEST_ANNOUNCE was negotiated.
 * Context: as vio_dev_config_changed(), and serialised with the control
 * queue (which rewrites config space too). */
int vio_net_dev_announce(struct vio_net_dev *net);

/* Pairs the driver uses (VQ_PAIRS_SET or RSS_CONFIG; 1 otherwise). */
unsigned vio_net_dev_active_pairs(const struct vio_net_dev *net);

/* Counters of a pair, and of the control queue: 0, or -EINVAL for a pair
 * that does not exist. Context: any thread. */
int vio_net_dev_stats(const struct vio_net_dev *net, unsigned pair, struct vio_net_pair_stats *out);
void vio_net_dev_ctrl_stats(const struct vio_net_dev *net, struct vio_net_ctrl_stats *out);

/*
 * The Toeplitz hash of `len` bytes of input under `key` (key_len bytes;
 * key bits past the end count as zero), as RSS defines it.
 * Context: any thread.
 */
uint32_t vio_net_toeplitz(const uint8_t *key, unsigned key_len, const uint8_t *in, unsigned len);

/* ------------------------------------------------------------------------ */
/* The reflect port: every frame goes back to the pair it came from with its
 * MAC addresses swapped (for benchmarks and tests). Freestanding. Each pair
 * has its own scratch and counters, so pairs may run on threads of their
 * own. */

/* Frames the reflect port hands back in one vio_net_dev_receive() call. */
#define VIO_NET_REFLECT_BATCH 32u

struct vio_net_reflect {
	struct vio_net_dev *net;        /* set by vio_net_reflect_init() */
	/* private: per pair, its counters (vio_net_reflect_counts() sums
	 * them), and the batch being built: its frames, their swapped
	 * addresses and their iovecs */
	struct {
		uint64_t reflected, dropped;
		struct vio_net_frame frames[VIO_NET_REFLECT_BATCH];
		uint8_t macs[VIO_NET_REFLECT_BATCH][12];
		struct vio_iov iov[2 * (VIO_NET_FRAME_SPANS + 1)];
	} pair_[VIO_NET_MAX_PAIRS];
};

extern const struct vio_net_port_ops vio_net_reflect_ops;

/* Binds r to net. Give the device &vio_net_reflect_ops and r as its port
 * (before or after init: transmit only happens once the driver runs). */
void vio_net_reflect_init(struct vio_net_reflect *r, struct vio_net_dev *net);

/* Frames sent back, and frames dropped (no receive buffer, or unusable),
 * over every pair. Context: any thread. */
void vio_net_reflect_counts(const struct vio_net_reflect *r, uint64_t *reflected,
			    uint64_t *dropped);

#ifdef __cplusplus
}
#endif

#endif /* VIO_DEVICES_NET_H */
