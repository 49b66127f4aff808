/*
 * net_priv.h - what the virtio-net device's files share (private to
 * src/devices/): net.c (set-up, transmit, receive), net_ctrl.c (the
 * control queue), net_rss.c (frame parsing, Toeplitz, steering),
 * net_offload.c (checksums and segmentation done for the driver).
 */
#ifndef VIO_SRC_DEVICES_NET_PRIV_H
#define VIO_SRC_DEVICES_NET_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vio/devices.h"

#include "dev_os.h"

/* Bytes of a frame's start copied out for the filter and the hash: the
 * Ethernet header, two VLAN tags, the longest IPv4 header and the ports. */
#define NET_PEEK 128u

/* One queue pair's state. */
struct vio__net_pair {
	struct vio_net_pair_stats stats;
	/* transmit: a batch of chains and the frames made of them */
	struct vio_elem *tx;
	struct vio_net_frame *frames;
	struct vio_iov *tx_iov;
	/* receive: buffers popped and not yet used, oldest first, in a
	 * circular array of rx_cap */
	struct vio_elem *rx;
	struct vio_iov *rx_iov;
	unsigned rx_cap, rx_head, rx_n;
	/* receive offloads done here (net_offload.c): a linear copy of the
	 * frame, and one segment's headers */
	uint8_t *soft;                  /* VIO_NET_FRAME_MAX bytes */
	uint8_t *soft_hdr;              /* NET_SOFT_HDR_MAX bytes */
};

static inline struct vio_net_dev *vio__net_of(struct vio_dev_model *d)
{
	return (struct vio_net_dev *)((char *)d - offsetof(struct vio_net_dev, dev));
}

/* Pairs the negotiated features give the driver (1 without MQ or RSS). */
static inline unsigned vio__net_pairs(const struct vio_net_dev *net)
{
	return vio_dev_has_feature(&net->dev, VIO_NET_F_MQ) ||
	       vio_dev_has_feature(&net->dev, VIO_NET_F_RSS) ? net->max_pairs : 1;
}

/* The control queue's index under the negotiated features. */
static inline unsigned vio__net_ctrl_qi(const struct vio_net_dev *net)
{
	return 2 * vio__net_pairs(net);
}

/* Config space from config0 and the live mac and status. */
void vio__net_sync_config(struct vio_net_dev *net);

/* The control queue had a kick (net_ctrl.c). */
void vio__net_ctrl_notify(struct vio_net_dev *net, unsigned qi);

/* Puts `offloads` (VIO_NET_DEV_GUEST_OFFLOADS bits) in force for receive
 * and tells the port (its offloads op) when they changed, or always. */
void vio__net_set_offloads(struct vio_net_dev *net, uint64_t offloads, bool always);

/* The filter state at reset: promiscuous, no tables, no VLANs, no RSS. */
void vio__net_filters_reset(struct vio_net_dev *net);

/*
 * The hash of a frame whose first `len` bytes are `p` under `types` and
 * the device's key (net_rss.c): true with *hash and *report when a type
 * applies, false (report NONE) otherwise.
 */
bool vio__net_hash(const struct vio_net_dev *net, uint32_t types, const uint8_t *p, size_t len,
		   uint32_t *hash, uint16_t *report);

/*
 * Software receive offloads (net_offload.c), on a linear copy of a frame.
 *
 * Finishes the checksum of buf[0..len): the one's-complement sum of
 * [start, len), stored complemented at start + off. false (nothing
 * written) unless start + off + 2 <= len.
 */
bool vio__net_csum_finish(uint8_t *buf, size_t len, size_t start, size_t off);

/* Longest headers a segment can have: Ethernet, two VLAN tags, IPv4 with
 * options or IPv6, TCP with options. */
#define NET_SOFT_HDR_MAX (VIO_NET_ETH_HLEN + 8u + 60u + 60u)

/* Where a TCP GSO frame's headers are, and how it splits. */
struct vio__net_gso {
	unsigned l3, l4, hdr;           /* IP header, TCP header, payload offsets */
	bool v6;
	unsigned mss, nseg;             /* payload bytes per segment, segments */
	size_t payload;                 /* bytes after the headers */
};

/* Parses the headers of a GSO frame of gso_type (TCPV4 or TCPV6, ECN
 * allowed) from the frame itself: 0, -EINVAL for headers that do not fit
 * or do not match the type, -ENOTSUP for a type done only by the driver
 * (UDP). */
int vio__net_gso_parse(const uint8_t *b, size_t len, uint8_t gso_type, uint16_t gso_size,
		       struct vio__net_gso *g);

/* Writes segment i's headers (g->hdr bytes) into hdr and returns its
 * payload length; the payload is b + g->hdr + i * g->mss. */
size_t vio__net_gso_segment(const uint8_t *b, const struct vio__net_gso *g, unsigned i,
			    uint8_t *hdr);

#endif /* VIO_SRC_DEVICES_NET_PRIV_H */
