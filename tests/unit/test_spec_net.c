/*
 * test_spec_net.c - unit tests of the network device's wire format
 * (include/vio/spec/net.h).
 *
 * As in test_spec.c, the expected values are written out by hand from the
 * virtio 1.x "Network Device" section, never derived from the header under
 * test: a wrong bit number or offset would let libvio talk to itself and
 * fail only against Linux, QEMU or DPDK.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vio/spec.h"

static void feature_bits_match_the_spec(void **state)
{
	(void)state;
	assert_int_equal(VIO_NET_F_CSUM, 0);
	assert_int_equal(VIO_NET_F_GUEST_CSUM, 1);
	assert_int_equal(VIO_NET_F_CTRL_GUEST_OFFLOADS, 2);
	assert_int_equal(VIO_NET_F_MTU, 3);
	assert_int_equal(VIO_NET_F_MAC, 5);
	assert_int_equal(VIO_NET_F_GSO, 6);
	assert_int_equal(VIO_NET_F_GUEST_TSO4, 7);
	assert_int_equal(VIO_NET_F_GUEST_TSO6, 8);
	assert_int_equal(VIO_NET_F_GUEST_ECN, 9);
	assert_int_equal(VIO_NET_F_GUEST_UFO, 10);
	assert_int_equal(VIO_NET_F_HOST_TSO4, 11);
	assert_int_equal(VIO_NET_F_HOST_TSO6, 12);
	assert_int_equal(VIO_NET_F_HOST_ECN, 13);
	assert_int_equal(VIO_NET_F_HOST_UFO, 14);
	assert_int_equal(VIO_NET_F_MRG_RXBUF, 15);
	assert_int_equal(VIO_NET_F_STATUS, 16);
	assert_int_equal(VIO_NET_F_CTRL_VQ, 17);
	assert_int_equal(VIO_NET_F_CTRL_RX, 18);
	assert_int_equal(VIO_NET_F_CTRL_VLAN, 19);
	assert_int_equal(VIO_NET_F_CTRL_RX_EXTRA, 20);
	assert_int_equal(VIO_NET_F_GUEST_ANNOUNCE, 21);
	assert_int_equal(VIO_NET_F_MQ, 22);
	assert_int_equal(VIO_NET_F_CTRL_MAC_ADDR, 23);
	assert_int_equal(VIO_NET_F_HOST_USO, 56);
	assert_int_equal(VIO_NET_F_HASH_REPORT, 57);
	assert_int_equal(VIO_NET_F_GUEST_HDRLEN, 59);
	assert_int_equal(VIO_NET_F_RSS, 60);
	assert_int_equal(VIO_NET_F_RSC_EXT, 61);
	assert_int_equal(VIO_NET_F_STANDBY, 62);
	assert_int_equal(VIO_NET_F_SPEED_DUPLEX, 63);
	assert_int_equal(VIO_ID_NET, 1);
}

/* The config space as bytes: each field written through the struct lands
 * at the spec's offset, little-endian. */
static void config_bytes_at_spec_offsets(void **state)
{
	struct vio_net_config c;
	uint8_t b[24];

	(void)state;
	memset(&c, 0, sizeof(c));
	memcpy(c.mac, "\x52\x54\x00\x12\x34\x56", 6);
	c.status = vio_set16(false, VIO_NET_S_LINK_UP | VIO_NET_S_ANNOUNCE);
	c.max_virtqueue_pairs = vio_set16(false, 0x0102);
	c.mtu = vio_set16(false, 9000);
	c.speed = vio_set32(false, 0x0a0b0c0d);
	c.duplex = VIO_NET_DUPLEX_FULL;
	c.rss_max_key_size = 40;
	c.rss_max_indirection_table_length = vio_set16(false, 128);
	c.supported_hash_types = vio_set32(false, VIO_NET_HASH_TYPE_ALL);
	assert_int_equal(sizeof(c), sizeof(b));
	memcpy(b, &c, sizeof(b));
	assert_memory_equal(b, "\x52\x54\x00\x12\x34\x56", 6);
	assert_int_equal(b[6], 3);      /* status */
	assert_int_equal(b[7], 0);
	assert_int_equal(b[8], 0x02);   /* max_virtqueue_pairs */
	assert_int_equal(b[9], 0x01);
	assert_int_equal(b[10], 9000 & 0xff); /* mtu */
	assert_int_equal(b[11], 9000 >> 8);
	assert_int_equal(b[12], 0x0d);  /* speed */
	assert_int_equal(b[15], 0x0a);
	assert_int_equal(b[16], 1);     /* duplex */
	assert_int_equal(b[17], 40);    /* rss_max_key_size */
	assert_int_equal(b[18], 128);   /* rss_max_indirection_table_length */
	assert_int_equal(b[19], 0);
	assert_int_equal(b[20], 0xff);  /* supported_hash_types: 9 bits */
	assert_int_equal(b[21], 0x01);
	assert_int_equal(b[22], 0);
}

/* A header with every field set, against the bytes the spec's layout
 * gives: flags, gso_type, then le16 hdr_len, gso_size, csum_start,
 * csum_offset, num_buffers, le32 hash_value, le16 hash_report. */
static void header_bytes_at_spec_offsets(void **state)
{
	static const uint8_t want[20] = {
		0x01, 0x81,             /* NEEDS_CSUM; TCPV4 | ECN */
		0x36, 0x00,             /* hdr_len 54 */
		0xa8, 0x05,             /* gso_size 1448 */
		0x22, 0x00,             /* csum_start 34 */
		0x10, 0x00,             /* csum_offset 16 */
		0x03, 0x00,             /* num_buffers 3 */
		0x44, 0x33, 0x22, 0x11, /* hash_value */
		0x02, 0x00,             /* hash_report TCPV4 */
		0x00, 0x00,
	};
	struct vio_net_hdr h;

	(void)state;
	memset(&h, 0, sizeof(h));
	h.flags = VIO_NET_HDR_F_NEEDS_CSUM;
	h.gso_type = VIO_NET_HDR_GSO_TCPV4 | VIO_NET_HDR_GSO_ECN;
	h.hdr_len = vio_set16(false, 54);
	h.gso_size = vio_set16(false, 1448);
	h.csum_start = vio_set16(false, 34);
	h.csum_offset = vio_set16(false, 16);
	h.num_buffers = vio_set16(false, 3);
	h.hash_value = vio_set32(false, 0x11223344);
	h.hash_report = vio_set16(false, VIO_NET_HASH_REPORT_TCPV4);
	assert_memory_equal(&h, want, sizeof(want));
	assert_int_equal(VIO_NET_HDR_GSO_UDP, 3);
	assert_int_equal(VIO_NET_HDR_GSO_TCPV6, 4);
	assert_int_equal(VIO_NET_HDR_GSO_UDP_L4, 5);
	assert_int_equal(VIO_NET_HDR_F_DATA_VALID, 2);
	assert_int_equal(VIO_NET_HDR_F_RSC_INFO, 4);
}

/* 10 bytes legacy, 12 with VERSION_1 or MRG_RXBUF, 20 with HASH_REPORT. */
static void header_length_follows_the_features(void **state)
{
	const uint64_t v1 = VIO_BIT(VIO_F_VERSION_1), mrg = VIO_BIT(VIO_NET_F_MRG_RXBUF);
	const uint64_t hash = VIO_BIT(VIO_NET_F_HASH_REPORT);

	(void)state;
	assert_int_equal(vio_net_hdr_len(0), 10);
	assert_int_equal(vio_net_hdr_len(VIO_BIT(VIO_NET_F_CSUM) | VIO_BIT(VIO_NET_F_MQ)), 10);
	assert_int_equal(vio_net_hdr_len(mrg), 12);
	assert_int_equal(vio_net_hdr_len(v1), 12);
	assert_int_equal(vio_net_hdr_len(v1 | mrg), 12);
	assert_int_equal(vio_net_hdr_len(v1 | hash), 20);
	assert_int_equal(vio_net_hdr_len(v1 | mrg | hash), 20);
}

static void control_classes_and_commands_match_the_spec(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct vio_net_ctrl_hdr), 2);
	assert_int_equal(VIO_NET_OK, 0);
	assert_int_equal(VIO_NET_ERR, 1);
	assert_int_equal(VIO_NET_CTRL_RX, 0);
	assert_int_equal(VIO_NET_CTRL_RX_NOBCAST, 5);
	assert_int_equal(VIO_NET_CTRL_MAC, 1);
	assert_int_equal(VIO_NET_CTRL_MAC_ADDR_SET, 1);
	assert_int_equal(VIO_NET_CTRL_VLAN, 2);
	assert_int_equal(VIO_NET_CTRL_VLAN_DEL, 1);
	assert_int_equal(VIO_NET_CTRL_ANNOUNCE, 3);
	assert_int_equal(VIO_NET_CTRL_MQ, 4);
	assert_int_equal(VIO_NET_CTRL_MQ_VQ_PAIRS_SET, 0);
	assert_int_equal(VIO_NET_CTRL_MQ_RSS_CONFIG, 1);
	assert_int_equal(VIO_NET_CTRL_MQ_HASH_CONFIG, 2);
	assert_int_equal(VIO_NET_CTRL_GUEST_OFFLOADS, 5);
	assert_int_equal(VIO_NET_MQ_PAIRS_MAX, 0x8000);
}

/* RSS_CONFIG as a driver lays it out: 8 fixed bytes, the table, then
 * max_tx_vq and the key length with no padding between. */
static void rss_config_fixed_parts(void **state)
{
	struct vio_net_rss_config_head h;
	uint8_t b[8];

	(void)state;
	h.hash_types = vio_set32(false, VIO_NET_HASH_TYPE_TCPV4 | VIO_NET_HASH_TYPE_IPV6);
	h.indirection_table_mask = vio_set16(false, 127);
	h.unclassified_queue = vio_set16(false, 2);
	memcpy(b, &h, sizeof(b));
	assert_int_equal(b[0], 0x0a);
	assert_int_equal(b[4], 127);
	assert_int_equal(b[6], 2);
	assert_int_equal(offsetof(struct vio_net_rss_config_tail, hash_key_length), 2);
	assert_int_equal(VIO_NET_RSS_CONFIG_TAIL_LEN, 3);
	assert_int_equal(offsetof(struct vio_net_hash_config_head, hash_key_length), 12);
	assert_int_equal(VIO_NET_HASH_CONFIG_HEAD_LEN, 13);
	assert_int_equal(VIO_NET_HASH_REPORT_UDPV6_EX, 9);
	assert_int_equal(VIO_NET_HASH_TYPE_UDP_EX, 1u << 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(feature_bits_match_the_spec),
		cmocka_unit_test(config_bytes_at_spec_offsets),
		cmocka_unit_test(header_bytes_at_spec_offsets),
		cmocka_unit_test(header_length_follows_the_features),
		cmocka_unit_test(control_classes_and_commands_match_the_spec),
		cmocka_unit_test(rss_config_fixed_parts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
