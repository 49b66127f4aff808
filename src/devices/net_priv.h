/*
 * net_priv.h - what the virtio-net device's files share (private to
 * src/devices/): net.c (set-up, transmit, receive), net_ctrl.c (the
 * control queue), net_rss.c (frame parsing, Toeplitz, steering).
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

#endif /* VIO_SRC_DEVICES_NET_PRIV_H */
