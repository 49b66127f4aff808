/*
 * vio/spec/net.h - wire format of the virtio network device (device id 1).
 *
 * What a driver and a network device exchange, as virtio 1.x "Network
 * Device" defines it: the feature bits, the config space, the header in
 * front of every frame, and the commands of the control queue.
 *
 * Queues: receive queue 2N and transmit queue 2N+1 for each queue pair N
 * (one pair without MQ or RSS), then the control queue, last, with
 * CTRL_VQ. Every buffer on a receive or transmit queue starts with a
 * struct vio_net_hdr, in one of three lengths (vio_net_hdr_len()):
 *
 *   10 bytes   legacy, without MRG_RXBUF: flags .. csum_offset
 *   12 bytes   with VERSION_1 or MRG_RXBUF: + num_buffers
 *   20 bytes   with HASH_REPORT: + hash_value, hash_report, padding
 *
 * The header may be split across descriptors in any way; the frame
 * follows it at once. Legacy (no VERSION_1) devices use the guest's
 * native byte order for the header and the config space: read them with
 * vio_get*(legacy, ...). This header is data only, like vio/spec.h, which
 * includes it.
 */
#ifndef VIO_SPEC_NET_H
#define VIO_SPEC_NET_H

#include <stddef.h>
#include <stdint.h>

#include "vio/spec.h"

/* ------------------------------------------------------------------------ */
/* Feature bits                                                             */

#define VIO_NET_F_CSUM                0   /* device takes frames with a partial checksum */
#define VIO_NET_F_GUEST_CSUM          1   /* driver takes frames with a partial checksum */
#define VIO_NET_F_CTRL_GUEST_OFFLOADS 2   /* GUEST_OFFLOADS_SET on the control queue */
#define VIO_NET_F_MTU                 3   /* mtu is valid */
#define VIO_NET_F_MAC                 5   /* mac is valid */
#define VIO_NET_F_GUEST_TSO4          7   /* driver takes TCP/IPv4 segments */
#define VIO_NET_F_GUEST_TSO6          8   /* driver takes TCP/IPv6 segments */
#define VIO_NET_F_GUEST_ECN           9   /* ... with the ECN bit */
#define VIO_NET_F_GUEST_UFO           10  /* driver takes UDP fragmentation offload */
#define VIO_NET_F_HOST_TSO4           11  /* device takes TCP/IPv4 segments */
#define VIO_NET_F_HOST_TSO6           12  /* device takes TCP/IPv6 segments */
#define VIO_NET_F_HOST_ECN            13  /* ... with the ECN bit */
#define VIO_NET_F_HOST_UFO            14  /* device takes UDP fragmentation offload */
#define VIO_NET_F_MRG_RXBUF           15  /* a received frame may span several buffers */
#define VIO_NET_F_STATUS              16  /* status is valid */
#define VIO_NET_F_CTRL_VQ             17  /* the control queue exists */
#define VIO_NET_F_CTRL_RX             18  /* RX mode commands */
#define VIO_NET_F_CTRL_VLAN           19  /* VLAN filter commands */
#define VIO_NET_F_CTRL_RX_EXTRA       20  /* ALLUNI, NOMULTI, NOUNI, NOBCAST */
#define VIO_NET_F_GUEST_ANNOUNCE      21  /* driver sends gratuitous packets on request */
#define VIO_NET_F_MQ                  22  /* several queue pairs, steered by the device */
#define VIO_NET_F_CTRL_MAC_ADDR       23  /* MAC_ADDR_SET on the control queue */
#define VIO_NET_F_HOST_USO            56  /* device takes UDP segmentation offload */
#define VIO_NET_F_HASH_REPORT         57  /* device reports a hash in the header */
#define VIO_NET_F_GUEST_HDRLEN        59  /* driver sets hdr_len exactly */
#define VIO_NET_F_RSS                 60  /* receive-side scaling */
#define VIO_NET_F_RSC_EXT             61  /* coalesced-segment info in the header */
#define VIO_NET_F_STANDBY             62  /* a standby for a passthrough device */
#define VIO_NET_F_SPEED_DUPLEX        63  /* speed and duplex are valid */

/* Legacy interface only: defined so it can be named, never offered. */
#define VIO_NET_F_GSO                 6   /* any GSO type, any direction */

/* ------------------------------------------------------------------------ */
/* Config space                                                             */

#define VIO_NET_S_LINK_UP             1u  /* status: the link is up */
#define VIO_NET_S_ANNOUNCE            2u  /* status: please announce (GUEST_ANNOUNCE) */

#define VIO_NET_DUPLEX_HALF           0x00u
#define VIO_NET_DUPLEX_FULL           0x01u
#define VIO_NET_DUPLEX_UNKNOWN        0xffu
#define VIO_NET_SPEED_UNKNOWN         0xffffffffu /* speed in Mbit/s, or this */

/*
 * Fields other than mac and status are meaningful only when their feature
 * is offered (see the comments); mac only with MAC, status only with
 * STATUS (without it the link is always up).
 */
struct vio_net_config {
	uint8_t mac[6];                         /* MAC */
	vio_le16 status;                        /* STATUS: VIO_NET_S_* */
	vio_le16 max_virtqueue_pairs;           /* MQ or RSS: 1 to 0x8000 */
	vio_le16 mtu;                           /* MTU: at least 68 */
	vio_le32 speed;                         /* SPEED_DUPLEX: Mbit/s */
	uint8_t duplex;                         /* SPEED_DUPLEX: VIO_NET_DUPLEX_* */
	uint8_t rss_max_key_size;               /* RSS or HASH_REPORT: at least 40 */
	vio_le16 rss_max_indirection_table_length; /* RSS: at least 128 */
	vio_le32 supported_hash_types;          /* RSS or HASH_REPORT: VIO_NET_HASH_TYPE_* */
};

_Static_assert(offsetof(struct vio_net_config, status) == 6, "virtio_net_config layout");
_Static_assert(offsetof(struct vio_net_config, max_virtqueue_pairs) == 8, "virtio_net_config layout");
_Static_assert(offsetof(struct vio_net_config, mtu) == 10, "virtio_net_config layout");
_Static_assert(offsetof(struct vio_net_config, speed) == 12, "virtio_net_config layout");
_Static_assert(offsetof(struct vio_net_config, duplex) == 16, "virtio_net_config layout");
_Static_assert(offsetof(struct vio_net_config, rss_max_key_size) == 17, "virtio_net_config layout");
_Static_assert(offsetof(struct vio_net_config, rss_max_indirection_table_length) == 18,
	       "virtio_net_config layout");
_Static_assert(offsetof(struct vio_net_config, supported_hash_types) == 20, "virtio_net_config layout");
_Static_assert(sizeof(struct vio_net_config) == 24, "virtio_net_config layout");

#define VIO_NET_MQ_PAIRS_MIN          1u
#define VIO_NET_MQ_PAIRS_MAX          0x8000u
#define VIO_NET_MTU_MIN               68u      /* the least the device may put in mtu */
#define VIO_NET_RSS_KEY_MIN           40u      /* rss_max_key_size at least this */
#define VIO_NET_RSS_TABLE_MIN         128u     /* rss_max_indirection_table_length at least this */

/* ------------------------------------------------------------------------ */
/* The header in front of every frame                                       */

/* flags */
#define VIO_NET_HDR_F_NEEDS_CSUM      1u  /* checksum from csum_start, stored at + csum_offset */
#define VIO_NET_HDR_F_DATA_VALID      2u  /* receive: the checksum was checked (GUEST_CSUM) */
#define VIO_NET_HDR_F_RSC_INFO        4u  /* receive: csum fields hold coalescing info (RSC_EXT) */

/* gso_type */
#define VIO_NET_HDR_GSO_NONE          0u
#define VIO_NET_HDR_GSO_TCPV4         1u
#define VIO_NET_HDR_GSO_UDP           3u  /* UDP fragmentation (UFO) */
#define VIO_NET_HDR_GSO_TCPV6         4u
#define VIO_NET_HDR_GSO_UDP_L4        5u  /* UDP segmentation (USO) */
#define VIO_NET_HDR_GSO_ECN           0x80u /* OR-ed into TCPV4/TCPV6: the ECN CWR bit is set */

/*
 * The full header. Only its first vio_net_hdr_len() bytes are on the
 * wire; the fields past that length do not exist for the queue.
 */
struct vio_net_hdr {
	uint8_t flags;                  /* VIO_NET_HDR_F_* */
	uint8_t gso_type;               /* VIO_NET_HDR_GSO_* */
	vio_le16 hdr_len;               /* bytes of L2-L4 headers (a hint unless GUEST_HDRLEN) */
	vio_le16 gso_size;              /* payload bytes per segment */
	vio_le16 csum_start;            /* NEEDS_CSUM: checksum from this frame offset ... */
	vio_le16 csum_offset;           /* ... stored this many bytes after csum_start */
	vio_le16 num_buffers;           /* receive with MRG_RXBUF: buffers this frame used */
	vio_le32 hash_value;            /* receive with HASH_REPORT */
	vio_le16 hash_report;           /* VIO_NET_HASH_REPORT_* */
	vio_le16 padding_reserved;
};

_Static_assert(offsetof(struct vio_net_hdr, num_buffers) == 10, "virtio_net_hdr layout");
_Static_assert(offsetof(struct vio_net_hdr, hash_value) == 12, "virtio_net_hdr layout");
_Static_assert(offsetof(struct vio_net_hdr, hash_report) == 16, "virtio_net_hdr layout");
_Static_assert(sizeof(struct vio_net_hdr) == 20, "virtio_net_hdr layout");

#define VIO_NET_HDR_LEN_LEGACY        10u
#define VIO_NET_HDR_LEN_MRG           12u
#define VIO_NET_HDR_LEN_HASH          20u

/* The length of the header on the queues of a device with `features`
 * negotiated. */
static inline size_t vio_net_hdr_len(uint64_t features)
{
	if (vio_has_feature(features, VIO_NET_F_HASH_REPORT))
		return VIO_NET_HDR_LEN_HASH;
	if (vio_has_feature(features, VIO_F_VERSION_1) ||
	    vio_has_feature(features, VIO_NET_F_MRG_RXBUF))
		return VIO_NET_HDR_LEN_MRG;
	return VIO_NET_HDR_LEN_LEGACY;
}

/* Frames: an Ethernet header at least, and the largest frame the header's
 * 16-bit offsets and GSO can describe. */
#define VIO_NET_ETH_HLEN              14u
#define VIO_NET_FRAME_MAX             65535u /* + the virtio header */

/* ------------------------------------------------------------------------ */
/* Hashes: RSS and HASH_REPORT                                              */

/* supported_hash_types and hash_types: what the hash is computed over. */
#define VIO_NET_HASH_TYPE_IPV4        (1u << 0)   /* addresses */
#define VIO_NET_HASH_TYPE_TCPV4       (1u << 1)   /* addresses and TCP ports */
#define VIO_NET_HASH_TYPE_UDPV4       (1u << 2)   /* addresses and UDP ports */
#define VIO_NET_HASH_TYPE_IPV6        (1u << 3)
#define VIO_NET_HASH_TYPE_TCPV6       (1u << 4)
#define VIO_NET_HASH_TYPE_UDPV6       (1u << 5)
#define VIO_NET_HASH_TYPE_IP_EX       (1u << 6)   /* IPv6 with extension-header addresses */
#define VIO_NET_HASH_TYPE_TCP_EX      (1u << 7)
#define VIO_NET_HASH_TYPE_UDP_EX      (1u << 8)
#define VIO_NET_HASH_TYPE_ALL         0x1ffu

/* hash_report: what the reported hash was computed over. */
#define VIO_NET_HASH_REPORT_NONE      0u
#define VIO_NET_HASH_REPORT_IPV4      1u
#define VIO_NET_HASH_REPORT_TCPV4     2u
#define VIO_NET_HASH_REPORT_UDPV4     3u
#define VIO_NET_HASH_REPORT_IPV6      4u
#define VIO_NET_HASH_REPORT_TCPV6     5u
#define VIO_NET_HASH_REPORT_UDPV6     6u
#define VIO_NET_HASH_REPORT_IPV6_EX   7u
#define VIO_NET_HASH_REPORT_TCPV6_EX  8u
#define VIO_NET_HASH_REPORT_UDPV6_EX  9u

/* ------------------------------------------------------------------------ */
/* Control queue                                                            */

/*
 * Each command is one chain: the device-readable class and command bytes,
 * then the command's data (device-readable), then one device-writable
 * ack byte, VIO_NET_OK or VIO_NET_ERR.
 */
struct vio_net_ctrl_hdr {
	uint8_t class;
	uint8_t cmd;
};

#define VIO_NET_OK                    0u
#define VIO_NET_ERR                   1u

/* RX mode (CTRL_RX; the last four need CTRL_RX_EXTRA): data is one byte,
 * 0 off, 1 on. */
#define VIO_NET_CTRL_RX               0u
#define VIO_NET_CTRL_RX_PROMISC       0u
#define VIO_NET_CTRL_RX_ALLMULTI      1u
#define VIO_NET_CTRL_RX_ALLUNI        2u
#define VIO_NET_CTRL_RX_NOMULTI       3u
#define VIO_NET_CTRL_RX_NOUNI         4u
#define VIO_NET_CTRL_RX_NOBCAST       5u

/*
 * MAC filtering. TABLE_SET (CTRL_RX): data is two tables, unicast then
 * multicast, each a le32 entry count followed by that many 6-byte
 * addresses, usually in two descriptors. ADDR_SET (CTRL_MAC_ADDR): data is
 * the 6-byte address.
 */
#define VIO_NET_CTRL_MAC              1u
#define VIO_NET_CTRL_MAC_TABLE_SET    0u
#define VIO_NET_CTRL_MAC_ADDR_SET     1u

#define VIO_NET_MAC_LEN               6u

/* VLAN filter (CTRL_VLAN): data is a le16 VLAN id (0 to 4095). */
#define VIO_NET_CTRL_VLAN             2u
#define VIO_NET_CTRL_VLAN_ADD         0u
#define VIO_NET_CTRL_VLAN_DEL         1u

#define VIO_NET_VLAN_MAX              4095u

/* Announce (GUEST_ANNOUNCE): the driver has sent its gratuitous packets;
 * the device clears VIO_NET_S_ANNOUNCE. No data. */
#define VIO_NET_CTRL_ANNOUNCE         3u
#define VIO_NET_CTRL_ANNOUNCE_ACK     0u

/*
 * Multiqueue. VQ_PAIRS_SET (MQ): data is a le16 number of queue pairs to
 * use, VIO_NET_MQ_PAIRS_MIN to max_virtqueue_pairs. RSS_CONFIG (RSS): data
 * is a struct vio_net_rss_config. HASH_CONFIG (HASH_REPORT): data is a
 * struct vio_net_hash_config.
 */
#define VIO_NET_CTRL_MQ               4u
#define VIO_NET_CTRL_MQ_VQ_PAIRS_SET  0u
#define VIO_NET_CTRL_MQ_RSS_CONFIG    1u
#define VIO_NET_CTRL_MQ_HASH_CONFIG   2u

/* Guest offloads (CTRL_GUEST_OFFLOADS): data is a le64 mask of the GUEST_*
 * offload feature bits (GUEST_CSUM, GUEST_TSO4/6, GUEST_ECN, GUEST_UFO)
 * the driver takes from now on, a subset of those negotiated. */
#define VIO_NET_CTRL_GUEST_OFFLOADS   5u
#define VIO_NET_CTRL_GUEST_OFFLOADS_SET 0u

/*
 * RSS_CONFIG data, variable-sized, in this order:
 *   le32 hash_types                      VIO_NET_HASH_TYPE_*, within supported
 *   le16 indirection_table_mask          table length - 1; the length is a
 *                                        power of two, at most
 *                                        rss_max_indirection_table_length
 *   le16 unclassified_queue              receive queue index for frames no
 *                                        hash type covers
 *   le16 indirection_table[mask + 1]     receive queue index per hash value
 *   le16 max_tx_vq                       transmit queues the driver uses
 *   u8   hash_key_length                 at most rss_max_key_size
 *   u8   hash_key_data[hash_key_length]  the Toeplitz key
 * Queue indices name receive queues (0 = receiveq1, 1 = receiveq2, ...).
 * The two structs below are the fixed parts before and after the table.
 */
struct vio_net_rss_config_head {
	vio_le32 hash_types;
	vio_le16 indirection_table_mask;
	vio_le16 unclassified_queue;
};

struct vio_net_rss_config_tail {
	vio_le16 max_tx_vq;
	uint8_t hash_key_length;
};

_Static_assert(sizeof(struct vio_net_rss_config_head) == 8, "virtio_net_rss_config layout");
_Static_assert(sizeof(struct vio_net_rss_config_tail) == 4, "virtio_net_rss_config layout (padded)");
#define VIO_NET_RSS_CONFIG_TAIL_LEN   3u  /* on the wire: no padding */

/*
 * HASH_CONFIG data (hash reporting without steering): le32 hash_types,
 * le16 reserved[4], u8 hash_key_length, u8 hash_key_data[hash_key_length].
 */
struct vio_net_hash_config_head {
	vio_le32 hash_types;
	vio_le16 reserved[4];
	uint8_t hash_key_length;
};

#define VIO_NET_HASH_CONFIG_HEAD_LEN  13u /* on the wire: no padding */
_Static_assert(offsetof(struct vio_net_hash_config_head, hash_key_length) == 12,
	       "virtio_net_hash_config layout");

#endif /* VIO_SPEC_NET_H */
