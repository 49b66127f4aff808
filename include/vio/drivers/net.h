/*
 * vio/drivers/net.h - the virtio network driver.
 *
 * Register a struct vio_net_driver on a vio_bus; every network device (id
 * 1) the bus finds is probed: config read (MAC, status, MTU, queue
 * pairs), one receive and one transmit queue per queue pair, the control
 * queue with CTRL_VQ, and every buffer preallocated in DMA memory
 * (vio_drv_dma_alloc()) at probe, so no frame allocates anything.
 *
 * Features: VERSION_1, MAC, MTU, STATUS, MRG_RXBUF, CTRL_VQ, CTRL_RX,
 * CTRL_RX_EXTRA, CTRL_VLAN, CTRL_MAC_ADDR, CTRL_GUEST_OFFLOADS,
 * GUEST_ANNOUNCE, MQ, RSS, HASH_REPORT, SPEED_DUPLEX and the ring features
 * (EVENT_IDX, INDIRECT_DESC, RING_PACKED, IN_ORDER) are negotiated unless
 * opts.features_off names them. The offloads (CSUM, GUEST_CSUM,
 * HOST_TSO4/6, GUEST_TSO4/6) only when opts.offloads names them: the
 * caller must then fill (transmit) or honour (receive) the header fields
 * they bring.
 *
 * Buffers and ownership (copying, on both paths):
 *   transmit  vio_net_drv_tx_burst() copies each frame's header fields and
 *             bytes into a transmit buffer of the driver's (DMA memory,
 *             one per ring entry, opts.tx_buf_bytes each), so the
 *             caller's frame memory (any memory) may be reused as soon as
 *             the call returns. Transmit buffers come back when the device
 *             has sent them: tx_burst reaps them first, and
 *             vio_net_drv_tx_reap() does it on its own.
 *   receive   vio_net_drv_rx_burst() copies each received frame out of the
 *             driver's receive buffers into the caller's memory
 *             (frame->data, frame->cap bytes) and gives the buffers back to
 *             the device at once (the ring is refilled before the call
 *             returns): there is nothing to release. With MRG_RXBUF a frame
 *             may span several receive buffers (num_buffers in its header);
 *             they are gathered into one contiguous copy.
 *
 * A hostile or broken device: every used entry and every header is
 * checked before use. These break the queue pair's receive or transmit
 * queue (sticky; the calls on it return -EIO, vio_net_drv_error() says
 * why in a sentence, and a line goes to the bus's log):
 *   - a used length beyond the buffer posted (rx), an id never posted
 *     (the ring's own checks);
 *   - a used length shorter than the header on the first buffer of a frame;
 *   - num_buffers 0, or more than the buffers the device still holds
 *     (with MRG_RXBUF): the frame cannot be put together;
 * A frame longer than the caller's cap is cut to cap bytes (frame->len
 * says what was copied, frame->frame_len the whole length) and counted
 * in the pair's rx_truncated. Transmit used lengths mean nothing and are
 * not read. Nothing waits for a device without a deadline; nothing is
 * read past a buffer.
 *
 * Threads: one owner thread per queue pair, and no lock. The per-pair
 * calls (tx_burst, tx_reap, rx_burst, tx_free, pair_stats, error) touch
 * only that pair's queues and state: calls on different pairs may run
 * concurrently; calls on one pair are serialised by the caller. The
 * control calls (the control-queue commands below: set_*, vlan_*,
 * announce_ack) and the config readers (mac, status, link_up,
 * speed_duplex: they read config space) are serialised with each other
 * and with vio_drv_wait(), on the driver's thread; they may run alongside
 * the pair owners (the rx and tx queues have no callbacks, so a wait
 * delivers nothing into a pair's state). pair_stats may be called from any
 * thread. opts.config_changed runs where the transport delivers config
 * interrupts: inside vio_drv_wait() or the transport's dispatch call (and
 * on loopback's direct mode, inside any kick, so on a pair owner's thread:
 * there a program with pair threads must not make control calls from the
 * callback).
 *
 * Multiqueue: with MQ the device starts on pair 0 alone; every pair the
 * driver set up (vio_net_drv_num_pairs()) has its receive ring filled, and
 * vio_net_drv_set_pairs() tells the device to use more. Nothing on the
 * data path waits: rx_burst and tx_burst never block, and a pair owner
 * waits for work on the transport's per-queue interrupt fd
 * (vio_vu_frontend_call_fd()) or polls.
 */
#ifndef VIO_DRIVERS_NET_H
#define VIO_DRIVERS_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vio/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VIO_NET_DRV_MAX_PAIRS       16u    /* queue pairs the driver uses, at most */
#define VIO_NET_DRV_MAC_TABLE_MAX   64u    /* entries per MAC_TABLE_SET table */
#define VIO_NET_DRV_RSS_TABLE_MAX   1024u  /* RSS indirection table entries */
#define VIO_NET_DRV_RSS_KEY_MAX     255u

/* What the caller's config callback is told. */
#define VIO_NET_DRV_EV_LINK         1u     /* status (link) may have changed */
#define VIO_NET_DRV_EV_ANNOUNCE     2u     /* the device asks for an announce */

struct vio_net_drv_opts {
	unsigned max_pairs;     /* 0: every pair the device has, up to MAX_PAIRS */
	unsigned queue_size;    /* rx and tx rings; 0: the device's maximum */
	/* VIO_BIT()s of VIO_NET_F_CSUM, GUEST_CSUM, HOST_TSO4/6, GUEST_TSO4/6
	 * the caller handles (TSO needs its CSUM: -EINVAL otherwise). */
	uint64_t offloads;
	uint64_t features_off;  /* VIO_BIT()s of features not to negotiate */
	int timeout_ms;         /* control commands; 0: no limit */
	/* Bytes per transmit buffer, header included; 0: the virtio header +
	 * 1518 (or MTU + 18 with MTU), or 65535 + the header with HOST_TSO. */
	uint32_t tx_buf_bytes;
	/* Bytes per receive buffer with MRG_RXBUF; 0: 2048. Without it every
	 * buffer holds a whole frame: the header + 1518 (or MTU + 18), or
	 * 65535 + the header with GUEST_TSO. */
	uint32_t rx_buf_bytes;
	/* Config changes (events VIO_NET_DRV_EV_*), on the driver's thread
	 * inside vio_drv_wait(). On EV_ANNOUNCE the caller sends its
	 * gratuitous packets and then calls vio_net_drv_announce_ack() (after
	 * the callback returned: not from inside it). Optional. */
	void (*config_changed)(void *opaque, struct vio_drv_device *dev, unsigned events);
	void *opaque;
};

/* One per bus; caller-allocated; fill with vio_net_drv_register(). */
struct vio_net_driver {
	struct vio_driver drv;
	/* private */
	struct vio_net_drv_opts opts;
	uint32_t ids[2];
};

/* Fills nd from opts (NULL: defaults) and registers it. -EINVAL for
 * offloads outside the list above or TSO without its CSUM. */
int vio_net_drv_register(struct vio_bus *bus, struct vio_net_driver *nd,
			 const struct vio_net_drv_opts *opts);
void vio_net_drv_unregister(struct vio_bus *bus, struct vio_net_driver *nd);

/*
 * One frame and its virtio header fields (struct vio_net_hdr in host
 * order). Transmit: the caller fills the header fields and data/len (any
 * memory; copied). Receive: the caller sets data and cap; the driver
 * fills the rest.
 */
struct vio_net_drv_frame {
	uint8_t flags;          /* VIO_NET_HDR_F_* */
	uint8_t gso_type;       /* VIO_NET_HDR_GSO_* */
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;   /* rx: receive buffers the frame came in */
	uint32_t hash_value;    /* rx with HASH_REPORT */
	uint16_t hash_report;   /* rx with HASH_REPORT: VIO_NET_HASH_REPORT_* */
	void *data;
	uint32_t len;           /* tx: bytes to send; rx: bytes copied */
	uint32_t cap;           /* rx: room at data */
	uint32_t frame_len;     /* rx: the frame's whole length (> len: cut) */
};

/*
 * Queues up to n frames on pair's transmit queue and kicks it once;
 * returns how many were queued (fewer when the ring is full: reap or
 * retry), or, when not even the first was: -EINVAL (bad pair, a frame
 * with no data or longer than a transmit buffer holds), -ENOTSUP (NEEDS_CSUM
 * without CSUM, a GSO type the negotiated HOST_TSO bits do not cover),
 * -EIO (the queue is broken), -ENODEV (not bound). Reaps finished
 * transmit buffers first. The frames' memory may be reused at once.
 */
int vio_net_drv_tx_burst(struct vio_drv_device *dev, unsigned pair,
			 const struct vio_net_drv_frame *frames, unsigned n);
/* Takes back the transmit buffers the device has sent: how many, or -EIO
 * (broken), -EINVAL, -ENODEV. */
int vio_net_drv_tx_reap(struct vio_drv_device *dev, unsigned pair);
/* Transmit buffers free right now (0 for a bad pair). */
unsigned vio_net_drv_tx_free(struct vio_drv_device *dev, unsigned pair);

/*
 * Takes up to n received frames off pair's receive queue into frames[]
 * (each with data and cap set by the caller), refills the ring and kicks
 * it; returns how many, 0 when none is there, or -EIO (the queue is
 * broken: vio_net_drv_error()), -EINVAL, -ENODEV. A frame whose buffers
 * (MRG_RXBUF) are not all used yet stays in the driver until they are.
 */
int vio_net_drv_rx_burst(struct vio_drv_device *dev, unsigned pair,
			 struct vio_net_drv_frame *frames, unsigned n);

/* Why pair's queues broke, or NULL while they work. */
const char *vio_net_drv_error(struct vio_drv_device *dev, unsigned pair);

/* Per pair; written by the pair's owner, read from any thread. */
struct vio_net_drv_stats {
	uint64_t rx_frames, rx_bytes, rx_truncated;
	uint64_t tx_frames, tx_bytes, tx_done;
};
void vio_net_drv_pair_stats(struct vio_drv_device *dev, unsigned pair,
			    struct vio_net_drv_stats *s);

/* Pairs set up (what set_pairs may ask for) and in use. */
unsigned vio_net_drv_num_pairs(struct vio_drv_device *dev);

/* -- config ----------------------------------------------------------------- */

/* The MAC address (config; with MAC) into mac[6]: -ENOTSUP without MAC. */
int vio_net_drv_mac(struct vio_drv_device *dev, uint8_t *mac);
/* Link up? (true without STATUS). */
bool vio_net_drv_link_up(struct vio_drv_device *dev);
/* Raw status (VIO_NET_S_*); VIO_NET_S_LINK_UP without STATUS. */
uint16_t vio_net_drv_status(struct vio_drv_device *dev);
/* MTU: the device's (with MTU and at least 68), else 1500. */
unsigned vio_net_drv_mtu(struct vio_drv_device *dev);
/* Speed (Mbit/s, or VIO_NET_SPEED_UNKNOWN) and duplex
 * (VIO_NET_DUPLEX_*): -ENOTSUP without SPEED_DUPLEX. */
int vio_net_drv_speed_duplex(struct vio_drv_device *dev, uint32_t *speed, uint8_t *duplex);

/* -- control queue: synchronous, opts.timeout_ms ---------------------------
 *
 * Each returns 0 when the device acked VIO_NET_OK, -EIO for VIO_NET_ERR
 * (or any other ack, or a broken control queue), -ENOTSUP when the feature
 * the command needs was not negotiated, -EINVAL for arguments out of
 * range, -ETIMEDOUT past the timeout, -EBUSY while a command that timed
 * out is still with the device, -ENODEV when not bound.
 */
int vio_net_drv_set_mac(struct vio_drv_device *dev, const uint8_t *mac);     /* CTRL_MAC_ADDR */
/* cmd: VIO_NET_CTRL_RX_* (PROMISC, ALLMULTI: CTRL_RX; the others:
 * CTRL_RX_EXTRA). */
int vio_net_drv_set_rx_mode(struct vio_drv_device *dev, unsigned cmd, bool on);
/* CTRL_RX: unicast then multicast tables of 6-byte addresses. */
int vio_net_drv_set_mac_table(struct vio_drv_device *dev, const uint8_t *uc, unsigned n_uc,
			      const uint8_t *mc, unsigned n_mc);
int vio_net_drv_vlan_add(struct vio_drv_device *dev, uint16_t vid);          /* CTRL_VLAN */
int vio_net_drv_vlan_del(struct vio_drv_device *dev, uint16_t vid);
/* MQ: pairs 1..vio_net_drv_num_pairs(). */
int vio_net_drv_set_pairs(struct vio_drv_device *dev, unsigned pairs);
/* RSS: the indirection table (table_len a power of two, at most the
 * device's rss_max_indirection_table_length and VIO_NET_DRV_RSS_TABLE_MAX;
 * entries receive queue numbers below the pairs set up), the key (at most
 * rss_max_key_size bytes) and hash types within supported_hash_types. */
struct vio_net_drv_rss {
	uint32_t hash_types;            /* within the device's supported ones */
	const uint16_t *table;
	unsigned table_len;
	uint16_t unclassified_queue;
	uint16_t max_tx_vq;             /* 0: the pairs set up */
	const uint8_t *key;
	unsigned key_len;
};
int vio_net_drv_set_rss(struct vio_drv_device *dev, const struct vio_net_drv_rss *rss);
/* CTRL_GUEST_OFFLOADS: mask of VIO_BIT(GUEST_*) bits, within those
 * negotiated. */
int vio_net_drv_set_guest_offloads(struct vio_drv_device *dev, uint64_t offloads);
/* GUEST_ANNOUNCE: the caller has announced itself. */
int vio_net_drv_announce_ack(struct vio_drv_device *dev);

#ifdef __cplusplus
}
#endif

#endif /* VIO_DRIVERS_NET_H */
