/*
 * test_net_dev_ctrl.c - the control queue and what it sets: RX mode, MAC
 * tables and address, VLAN filter, queue pairs, guest offloads, RSS
 * steering and hash reports (with the Toeplitz hash checked against the
 * published RSS verification vectors), every malformed command answered
 * VIO_NET_ERR; and link status and announce through config changes.
 *
 * Siblings, in tests/loopback/: test_net_dev_data.c (frames both ways),
 * test_net_dev_malformed.c (bad frames from the driver); the matrix and
 * the fixture are net_dev_fixture.{c,h}.
 */

#include "net_dev_fixture.h"

/* The key of the RSS verification suite. */
static const uint8_t ms_key[40] = {
	0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
	0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
	0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

/* Its IPv4 rows: source, destination, ports, the address hash and the
 * address-and-port hash. */
static const struct v4 {
	uint8_t src[4], dst[4];
	uint16_t sport, dport;
	uint32_t ip, tcp;
} v4[] = {
	{ { 66, 9, 149, 187 }, { 161, 142, 100, 80 }, 2794, 1766, 0x323e8fc2, 0x51ccc178 },
	{ { 199, 92, 111, 2 }, { 65, 69, 140, 83 }, 14230, 4739, 0xd718262a, 0xc626b0ea },
	{ { 24, 19, 198, 95 }, { 12, 22, 207, 184 }, 12898, 38024, 0xd2d0a5de, 0x5c2b394a },
	{ { 38, 27, 205, 30 }, { 209, 142, 163, 6 }, 48228, 2217, 0x82989176, 0xafc7327f },
	{ { 153, 39, 163, 191 }, { 202, 188, 127, 2 }, 44251, 1303, 0x5d1809c5, 0x10e828a2 },
};

/* Its first IPv6 row: 3ffe:2501:200:1fff::7 port 2794 to 3ffe:2501:200:3::1
 * port 1766. */
static const uint8_t v6_src[16] = { 0x3f, 0xfe, 0x25, 0x01, 0x02, 0x00, 0x1f, 0xff, 0, 0, 0, 0, 0, 0, 0, 7 };
static const uint8_t v6_dst[16] = { 0x3f, 0xfe, 0x25, 0x01, 0x02, 0x00, 0x00, 0x03, 0, 0, 0, 0, 0, 0, 0, 1 };
#define V6_IP  0x2cc18cd5u
#define V6_TCP 0x40207d3du

static void put16be(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void toeplitz_vectors(void **state)
{
	uint8_t in[36];

	(void)state;
	for (unsigned i = 0; i < ARRAY_LEN(v4); i++) {
		memcpy(in, v4[i].src, 4);
		memcpy(in + 4, v4[i].dst, 4);
		put16be(in + 8, v4[i].sport);
		put16be(in + 10, v4[i].dport);
		assert_int_equal(vio_net_toeplitz(ms_key, 40, in, 8), v4[i].ip);
		assert_int_equal(vio_net_toeplitz(ms_key, 40, in, 12), v4[i].tcp);
	}
	memcpy(in, v6_src, 16);
	memcpy(in + 16, v6_dst, 16);
	put16be(in + 32, 2794);
	put16be(in + 34, 1766);
	assert_int_equal(vio_net_toeplitz(ms_key, 40, in, 32), V6_IP);
	assert_int_equal(vio_net_toeplitz(ms_key, 40, in, 36), V6_TCP);
}

/* Frames                                                                   */

static size_t ip4_frame(uint8_t *f, const struct v4 *v, unsigned proto)
{
	make_frame(f, 64, MAC_DEV, MAC_PEER, 1);
	memset(f + 14, 0, 24);
	f[14] = 0x45;
	f[14 + 9] = (uint8_t)proto;
	memcpy(f + 14 + 12, v->src, 4);
	memcpy(f + 14 + 16, v->dst, 4);
	put16be(f + 34, v->sport);
	put16be(f + 36, v->dport);
	return 64;
}

static size_t ip6_frame(uint8_t *f)
{
	make_frame(f, 80, MAC_DEV, MAC_PEER, 2);
	f[12] = 0x86;
	f[13] = 0xdd;
	memset(f + 14, 0, 40);
	f[14] = 0x60;
	f[14 + 6] = 6;
	memcpy(f + 14 + 8, v6_src, 16);
	memcpy(f + 14 + 24, v6_dst, 16);
	put16be(f + 54, 2794);
	put16be(f + 56, 1766);
	return 80;
}

static size_t vlan_frame(uint8_t *f, unsigned vid)
{
	make_frame(f, 64, MAC_DEV, MAC_PEER, 3);
	f[12] = 0x81;
	f[13] = 0x00;
	put16be(f + 14, vid);
	f[16] = 0x08;
	f[17] = 0x00;
	return 64;
}

/* Is a frame to dst delivered? One buffer is kept posted on pair 0. */
static bool delivered(struct nfx *fx, const uint8_t *dst)
{
	uint8_t f[64];
	uint32_t len;

	/* The receive runs on this thread: when it returns, a delivered
	 * frame's buffer is used already. */
	make_frame(f, sizeof(f), dst, MAC_PEER, 4);
	assert_int_equal(rx_bytes(fx, 0, f, sizeof(f)), 1);
	if (!vio_drvq_has_used(&fx->vqs[rxq(0)].q))
		return false;
	reap(fx, rxq(0), &len);
	post_rx1(fx, 0, 2048);
	return true;
}

static uint8_t rx_mode(struct nfx *fx, unsigned cmd, uint8_t on)
{
	return ctrl(fx, VIO_NET_CTRL_RX, cmd, &on, 1);
}

static void c_rx_mode(void **state)
{
	struct nfx *fx = *state;
	struct vio_net_pair_stats s;

	nfx_up(fx);
	post_rx1(fx, 0, 2048);
	/* Promiscuous at reset. */
	assert_true(delivered(fx, MAC_OTHER));
	assert_int_equal(rx_mode(fx, VIO_NET_CTRL_RX_PROMISC, 0), VIO_NET_OK);
	assert_false(delivered(fx, MAC_OTHER));
	assert_true(delivered(fx, MAC_DEV));
	assert_true(delivered(fx, MAC_BCAST));
	assert_false(delivered(fx, MAC_MCAST));
	assert_int_equal(rx_mode(fx, VIO_NET_CTRL_RX_ALLMULTI, 1), VIO_NET_OK);
	assert_true(delivered(fx, MAC_MCAST));
	assert_int_equal(rx_mode(fx, VIO_NET_CTRL_RX_NOMULTI, 1), VIO_NET_OK);
	assert_false(delivered(fx, MAC_MCAST));
	assert_int_equal(rx_mode(fx, VIO_NET_CTRL_RX_NOBCAST, 1), VIO_NET_OK);
	assert_false(delivered(fx, MAC_BCAST));
	assert_int_equal(rx_mode(fx, VIO_NET_CTRL_RX_ALLUNI, 1), VIO_NET_OK);
	assert_true(delivered(fx, MAC_OTHER));
	assert_int_equal(rx_mode(fx, VIO_NET_CTRL_RX_NOUNI, 1), VIO_NET_OK);
	assert_false(delivered(fx, MAC_DEV));
	assert_int_equal(rx_mode(fx, VIO_NET_CTRL_RX_PROMISC, 1), VIO_NET_OK);
	assert_true(delivered(fx, MAC_OTHER));
	pair_stats(fx, 0, &s);
	assert_int_equal(s.rx_filtered, 5);
}

static size_t mac_tables(uint8_t *b, const uint8_t (*uni)[6], uint32_t nu,
			 const uint8_t (*multi)[6], uint32_t nm)
{
	size_t off = 0;
	const vio_le32 a = vio_cpu_to_le32(nu), m = vio_cpu_to_le32(nm);

	memcpy(b, &a, 4);
	off = 4;
	if (nu)
		memcpy(b + off, uni, (size_t)nu * 6);
	off += (size_t)nu * 6;
	memcpy(b + off, &m, 4);
	off += 4;
	if (nm)
		memcpy(b + off, multi, (size_t)nm * 6);
	return off + (size_t)nm * 6;
}

static void c_mac_table(void **state)
{
	struct nfx *fx = *state;
	static uint8_t many[65][6];
	const uint8_t mcast2[6] = { 0x01, 0x00, 0x5e, 0, 0, 2 };
	uint8_t b[1024];
	size_t len;

	nfx_up(fx);
	post_rx1(fx, 0, 2048);
	assert_int_equal(rx_mode(fx, VIO_NET_CTRL_RX_PROMISC, 0), VIO_NET_OK);
	len = mac_tables(b, &MAC_OTHER, 1, &MAC_MCAST, 1);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_MAC, VIO_NET_CTRL_MAC_TABLE_SET, b, len), VIO_NET_OK);
	assert_true(delivered(fx, MAC_OTHER));
	assert_true(delivered(fx, MAC_MCAST));
	assert_false(delivered(fx, mcast2));
	assert_false(delivered(fx, MAC_PEER));
	/* Malformed tables change nothing. */
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_MAC, VIO_NET_CTRL_MAC_TABLE_SET, b, len - 1),
			 VIO_NET_ERR);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_MAC, VIO_NET_CTRL_MAC_TABLE_SET, b, len + 1),
			 VIO_NET_ERR);
	b[0] = 0xff; /* a count far past the data */
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_MAC, VIO_NET_CTRL_MAC_TABLE_SET, b, len), VIO_NET_ERR);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_MAC, VIO_NET_CTRL_MAC_TABLE_SET, b, 3), VIO_NET_ERR);
	assert_true(delivered(fx, MAC_OTHER));
	/* More than the table holds: every unicast address passes. */
	for (unsigned i = 0; i < 65; i++)
		memcpy(many[i], MAC_PEER, 6);
	len = mac_tables(b, (const uint8_t (*)[6])many, 65, NULL, 0);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_MAC, VIO_NET_CTRL_MAC_TABLE_SET, b, len), VIO_NET_OK);
	assert_true(delivered(fx, MAC_OTHER));
	assert_false(delivered(fx, MAC_MCAST));
}

static void c_mac_addr_set(void **state)
{
	struct nfx *fx = *state;
	uint8_t mac[6];

	nfx_up(fx);
	post_rx1(fx, 0, 2048);
	assert_int_equal(rx_mode(fx, VIO_NET_CTRL_RX_PROMISC, 0), VIO_NET_OK);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_MAC, VIO_NET_CTRL_MAC_ADDR_SET, MAC_OTHER, 5),
			 VIO_NET_ERR);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_MAC, VIO_NET_CTRL_MAC_ADDR_SET, MAC_OTHER, 6),
			 VIO_NET_OK);
	assert_int_equal(vio_drv_config_read(D(fx), 0, mac, 6), 0);
	assert_memory_equal(mac, MAC_OTHER, 6);
	assert_true(delivered(fx, MAC_OTHER));
	assert_false(delivered(fx, MAC_DEV));
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_MAC, 2, MAC_OTHER, 6), VIO_NET_ERR);
}

static bool vlan_delivered(struct nfx *fx, unsigned vid)
{
	uint8_t f[64];
	uint32_t len;

	vlan_frame(f, vid);
	assert_int_equal(rx_bytes(fx, 0, f, sizeof(f)), 1);
	if (!vio_drvq_has_used(&fx->vqs[rxq(0)].q))
		return false;
	reap(fx, rxq(0), &len);
	post_rx1(fx, 0, 2048);
	return true;
}

static void c_vlan(void **state)
{
	struct nfx *fx = *state;
	vio_le16 vid = vio_cpu_to_le16(5);

	nfx_up(fx);
	post_rx1(fx, 0, 2048);
	assert_false(vlan_delivered(fx, 5));
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_VLAN, VIO_NET_CTRL_VLAN_ADD, &vid, 2), VIO_NET_OK);
	assert_true(vlan_delivered(fx, 5));
	assert_true(vlan_delivered(fx, 5 | 0xe000)); /* priority bits are not the id */
	assert_false(vlan_delivered(fx, 6));
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_VLAN, VIO_NET_CTRL_VLAN_DEL, &vid, 2), VIO_NET_OK);
	assert_false(vlan_delivered(fx, 5));
	vid = vio_cpu_to_le16(4096);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_VLAN, VIO_NET_CTRL_VLAN_ADD, &vid, 2), VIO_NET_ERR);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_VLAN, VIO_NET_CTRL_VLAN_ADD, &vid, 1), VIO_NET_ERR);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_VLAN, 2, &vid, 2), VIO_NET_ERR);
	/* Untagged frames are not filtered by VLAN. */
	assert_true(delivered(fx, MAC_DEV));
}

/* Without CTRL_VLAN no VLAN is filtered, and the commands are refused. */
static void c_vlan_not_negotiated(void **state)
{
	struct nfx *fx = *state;
	vio_le16 vid = vio_cpu_to_le16(5);

	fx->features_off |= VIO_BIT(VIO_NET_F_CTRL_VLAN) | VIO_BIT(VIO_NET_F_CTRL_RX_EXTRA);
	nfx_up(fx);
	post_rx1(fx, 0, 2048);
	assert_true(vlan_delivered(fx, 5));
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_VLAN, VIO_NET_CTRL_VLAN_ADD, &vid, 2), VIO_NET_ERR);
	assert_int_equal(rx_mode(fx, VIO_NET_CTRL_RX_NOBCAST, 1), VIO_NET_ERR);
	assert_int_equal(rx_mode(fx, VIO_NET_CTRL_RX_ALLMULTI, 1), VIO_NET_OK);
}

/* A chain with the given readable bytes and writable length; the used
 * length and the last writable byte. */
static uint32_t ctrl_raw(struct nfx *fx, const uint8_t *out, uint32_t out_len, uint32_t in_len,
			 uint8_t *ack)
{
	struct vio_drv_vq *vq = &fx->vqs[ctrlq(fx)];
	struct vio_sg o = { 0, out_len }, i = { 0, in_len };
	uint8_t *p = dma(fx, out_len ? out_len : 1, &o.addr);
	uint8_t *a = dma(fx, in_len ? in_len : 1, &i.addr);
	uint32_t used;
	int token;

	if (out_len)
		memcpy(p, out, out_len);
	assert_int_equal(vio_drvq_add(&vq->q, &o, out_len ? 1 : 0, &i, in_len ? 1 : 0, &token), 0);
	vio_drv_vq_kick(vq);
	assert_ptr_equal(reap(fx, ctrlq(fx), &used), &token);
	if (in_len)
		*ack = a[in_len - 1];
	return used;
}

static void c_malformed_commands(void **state)
{
	struct nfx *fx = *state;
	const uint8_t two = 2, one = 1, eight[8] = { 0 };
	struct vio_net_ctrl_stats s;
	uint8_t ack = 0;

	nfx_up(fx);
	assert_int_equal(ctrl_raw(fx, (const uint8_t *)"\0", 1, 1, &ack), 1);
	assert_int_equal(ack, VIO_NET_ERR);
	assert_int_equal(ctrl_raw(fx, NULL, 0, 1, &ack), 1);
	assert_int_equal(ack, VIO_NET_ERR);
	assert_int_equal(ctrl(fx, 9, 0, NULL, 0), VIO_NET_ERR);
	assert_logged(fx, "unknown class 9");
	assert_int_equal(ctrl(fx, 0xff, 0xff, NULL, 0), VIO_NET_ERR);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_RX, 6, &one, 1), VIO_NET_ERR);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_RX, VIO_NET_CTRL_RX_PROMISC, &two, 1), VIO_NET_ERR);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_RX, VIO_NET_CTRL_RX_PROMISC, eight, 2), VIO_NET_ERR);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_RX, VIO_NET_CTRL_RX_PROMISC, NULL, 0), VIO_NET_ERR);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_ANNOUNCE, VIO_NET_CTRL_ANNOUNCE_ACK, &one, 1),
			 VIO_NET_ERR);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_ANNOUNCE, 1, NULL, 0), VIO_NET_ERR);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_GUEST_OFFLOADS, 0, eight, 7), VIO_NET_ERR);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_GUEST_OFFLOADS, 1, eight, 8), VIO_NET_ERR);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_MQ, 3, NULL, 0), VIO_NET_ERR);
	/* max_pairs 1: no MQ, no RSS to configure. */
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_MQ, VIO_NET_CTRL_MQ_VQ_PAIRS_SET, eight, 2),
			 VIO_NET_ERR);
	/* No room for the ack: returned unanswered. */
	assert_int_equal(ctrl_raw(fx, (const uint8_t *)"\0\0\1", 3, 0, &ack), 0);
	vio_net_dev_ctrl_stats(&fx->net, &s);
	assert_int_equal(s.err, 14);
	assert_int_equal(s.ok, 0);
	assert_int_equal(s.commands, 14);
	assert_int_equal(s.unanswered, 1);
	assert_false(vio_dev_get_status(&fx->net.dev) & VIO_STATUS_NEEDS_RESET);
	/* Still answering. */
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_RX, VIO_NET_CTRL_RX_PROMISC, &one, 1), VIO_NET_OK);
}

static void c_mq_pairs(void **state)
{
	struct nfx *fx = *state;
	const uint8_t v[3] = { 2, 0, 0 };       /* le16 2, and a byte more */

	fx->dopts.max_pairs = 4;
	nfx_up(fx);
	assert_int_equal(fx->nvqs, 9);
	assert_int_equal(vio_net_dev_active_pairs(&fx->net), 1);
	assert_int_equal(pairs_set(fx, 0), VIO_NET_ERR);
	assert_logged(fx, "VQ_PAIRS_SET 0");
	assert_int_equal(pairs_set(fx, 5), VIO_NET_ERR);
	assert_int_equal(pairs_set(fx, 0x8000), VIO_NET_ERR);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_MQ, VIO_NET_CTRL_MQ_VQ_PAIRS_SET, v, 1), VIO_NET_ERR);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_MQ, VIO_NET_CTRL_MQ_VQ_PAIRS_SET, v, 3), VIO_NET_ERR);
	assert_int_equal(vio_net_dev_active_pairs(&fx->net), 1);
	assert_int_equal(pairs_set(fx, 4), VIO_NET_OK);
	assert_int_equal(vio_net_dev_active_pairs(&fx->net), 4);
	assert_int_equal(pairs_set(fx, 1), VIO_NET_OK);
	assert_int_equal(vio_net_dev_active_pairs(&fx->net), 1);
}

/* RSS_CONFIG's bytes. */
static size_t rss_cfg(uint8_t *b, uint32_t types, unsigned tlen, const uint16_t *table,
		      unsigned uncl, unsigned max_tx, const uint8_t *key, unsigned key_len)
{
	const vio_le32 t = vio_cpu_to_le32(types);
	const vio_le16 mask = vio_cpu_to_le16((uint16_t)(tlen - 1));
	const vio_le16 u = vio_cpu_to_le16((uint16_t)uncl), mt = vio_cpu_to_le16((uint16_t)max_tx);
	size_t off = 8;

	memcpy(b, &t, 4);
	memcpy(b + 4, &mask, 2);
	memcpy(b + 6, &u, 2);
	for (unsigned i = 0; i < tlen; i++) {
		const vio_le16 e = vio_cpu_to_le16(table[i]);

		memcpy(b + off, &e, 2);
		off += 2;
	}
	memcpy(b + off, &mt, 2);
	b[off + 2] = (uint8_t)key_len;
	memcpy(b + off + 3, key, key_len);
	return off + 3 + key_len;
}

static uint8_t rss(struct nfx *fx, const uint8_t *b, size_t len)
{
	return ctrl(fx, VIO_NET_CTRL_MQ, VIO_NET_CTRL_MQ_RSS_CONFIG, b, len);
}

static void c_rss_bad_config(void **state)
{
	struct nfx *fx = *state;
	uint16_t table[256] = { 0 };
	uint8_t b[1024], key[64] = { 0 };
	const uint32_t tcp = VIO_NET_HASH_TYPE_TCPV4;
	size_t len;

	fx->dopts.max_pairs = 4;
	nfx_up(fx);
	len = rss_cfg(b, tcp, 3, table, 0, 4, key, 40);          /* mask 2: length 3 */
	assert_int_equal(rss(fx, b, len), VIO_NET_ERR);
	len = rss_cfg(b, tcp, 256, table, 0, 4, key, 40);        /* above the maximum */
	assert_int_equal(rss(fx, b, len), VIO_NET_ERR);
	table[5] = 4;                                           /* queue past the pairs */
	len = rss_cfg(b, tcp, 8, table, 0, 4, key, 40);
	assert_int_equal(rss(fx, b, len), VIO_NET_ERR);
	table[5] = 3;
	len = rss_cfg(b, tcp, 8, table, 4, 4, key, 40);         /* unclassified past them */
	assert_int_equal(rss(fx, b, len), VIO_NET_ERR);
	len = rss_cfg(b, tcp, 8, table, 0, 4, key, 41);         /* key too long */
	assert_int_equal(rss(fx, b, len), VIO_NET_ERR);
	assert_logged(fx, "hash key of 41 bytes");
	len = rss_cfg(b, VIO_NET_HASH_TYPE_IP_EX, 8, table, 0, 4, key, 40);
	assert_int_equal(rss(fx, b, len), VIO_NET_ERR);         /* hash type not supported */
	len = rss_cfg(b, tcp, 8, table, 0, 0, key, 40);         /* max_tx_vq 0 */
	assert_int_equal(rss(fx, b, len), VIO_NET_ERR);
	len = rss_cfg(b, tcp, 8, table, 0, 5, key, 40);         /* max_tx_vq past the pairs */
	assert_int_equal(rss(fx, b, len), VIO_NET_ERR);
	len = rss_cfg(b, tcp, 8, table, 0, 4, key, 40);
	assert_int_equal(rss(fx, b, len - 1), VIO_NET_ERR);     /* short */
	assert_int_equal(rss(fx, b, len + 1), VIO_NET_ERR);     /* long */
	assert_int_equal(rss(fx, b, 10), VIO_NET_ERR);          /* no table */
	assert_int_equal(rss(fx, b, 3), VIO_NET_ERR);
	assert_int_equal(vio_net_dev_active_pairs(&fx->net), 1);
	assert_int_equal(rss(fx, b, len), VIO_NET_OK);
	assert_int_equal(vio_net_dev_active_pairs(&fx->net), 4);
	/* HASH_CONFIG: the same rules for types and key. */
	memset(b, 0, 13);
	b[12] = 41;
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_MQ, VIO_NET_CTRL_MQ_HASH_CONFIG, b, 13 + 41),
			 VIO_NET_ERR);
	b[12] = 40;
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_MQ, VIO_NET_CTRL_MQ_HASH_CONFIG, b, 13 + 39),
			 VIO_NET_ERR);
	b[0] = 0x40;
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_MQ, VIO_NET_CTRL_MQ_HASH_CONFIG, b, 13 + 40),
			 VIO_NET_ERR);
	b[0] = VIO_NET_HASH_TYPE_IPV4;
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_MQ, VIO_NET_CTRL_MQ_HASH_CONFIG, b, 13 + 40),
			 VIO_NET_OK);
}

/* The pair whose receive queue got the frame, with its header. */
static unsigned steered_to(struct nfx *fx, const uint8_t *f, size_t len, struct vio_net_hdr *h)
{
	unsigned got = ~0u;

	assert_int_equal(rx_bytes(fx, VIO_NET_STEER, f, len), 1);
	for (unsigned p = 0; p < 4; p++) {
		uint32_t l;
		uint8_t *buf;

		if (!vio_drvq_has_used(&fx->vqs[rxq(p)].q))
			continue;
		assert_int_equal(got, ~0u);
		buf = reap(fx, rxq(p), &l);
		assert_int_equal(l, hlen(fx) + len);
		memset(h, 0, sizeof(*h));
		memcpy(h, buf, hlen(fx));
		post_rx1(fx, p, 2048);
		got = p;
	}
	assert_int_not_equal(got, ~0u);
	return got;
}

static void c_rss_steer(void **state)
{
	struct nfx *fx = *state;
	const uint16_t table[8] = { 3, 2, 1, 0, 1, 2, 3, 0 };
	struct vio_net_hdr h;
	uint8_t b[256], f[128];
	size_t len;

	fx->dopts.max_pairs = 4;
	nfx_up(fx);
	for (unsigned p = 0; p < 4; p++)
		post_rx1(fx, p, 2048);
	len = rss_cfg(b, VIO_NET_HASH_TYPE_TCPV4 | VIO_NET_HASH_TYPE_IPV4 | VIO_NET_HASH_TYPE_IPV6,
		      8, table, 2, 4, ms_key, 40);
	assert_int_equal(rss(fx, b, len), VIO_NET_OK);
	for (unsigned i = 0; i < ARRAY_LEN(v4); i++) {
		/* TCP: the four-tuple hash; UDP (not enabled): the address hash. */
		len = ip4_frame(f, &v4[i], 6);
		assert_int_equal(steered_to(fx, f, len, &h), table[v4[i].tcp & 7]);
		if (hlen(fx) == VIO_NET_HDR_LEN_HASH) {
			assert_int_equal(vio_le32_to_cpu(h.hash_value), v4[i].tcp);
			assert_int_equal(vio_le16_to_cpu(h.hash_report), VIO_NET_HASH_REPORT_TCPV4);
		}
		len = ip4_frame(f, &v4[i], 17);
		assert_int_equal(steered_to(fx, f, len, &h), table[v4[i].ip & 7]);
		if (hlen(fx) == VIO_NET_HDR_LEN_HASH) {
			assert_int_equal(vio_le32_to_cpu(h.hash_value), v4[i].ip);
			assert_int_equal(vio_le16_to_cpu(h.hash_report), VIO_NET_HASH_REPORT_IPV4);
		}
		/* A fragment has no ports to hash. */
		len = ip4_frame(f, &v4[i], 6);
		f[14 + 6] = 0x20;
		assert_int_equal(steered_to(fx, f, len, &h), table[v4[i].ip & 7]);
	}
	len = ip6_frame(f);
	assert_int_equal(steered_to(fx, f, len, &h), table[V6_IP & 7]);
	if (hlen(fx) == VIO_NET_HDR_LEN_HASH) {
		assert_int_equal(vio_le32_to_cpu(h.hash_value), V6_IP);
		assert_int_equal(vio_le16_to_cpu(h.hash_report), VIO_NET_HASH_REPORT_IPV6);
	}
	/* Not IP, or IP cut short: the unclassified queue, no hash. */
	make_frame(f, 64, MAC_DEV, MAC_PEER, 5);
	f[12] = 0x08;
	f[13] = 0x06;
	assert_int_equal(steered_to(fx, f, 64, &h), 2);
	if (hlen(fx) == VIO_NET_HDR_LEN_HASH)
		assert_int_equal(vio_le16_to_cpu(h.hash_report), VIO_NET_HASH_REPORT_NONE);
	len = ip4_frame(f, &v4[0], 6);
	assert_int_equal(steered_to(fx, f, 30, &h), 2);
	/* VQ_PAIRS_SET turns RSS off: everything to pair 0. */
	assert_int_equal(pairs_set(fx, 4), VIO_NET_OK);
	len = ip4_frame(f, &v4[1], 6);
	assert_int_equal(steered_to(fx, f, len, &h), 0);
}

static void c_guest_offloads(void **state)
{
	struct nfx *fx = *state;
	uint8_t f[64];
	struct vio_iov iov = { f, sizeof(f) };
	struct vio_net_frame fr = { .flags = VIO_NET_HDR_F_DATA_VALID, .len = sizeof(f),
				    .iov = &iov, .iovcnt = 1 };
	vio_le64 o = vio_cpu_to_le64(VIO_BIT(VIO_NET_F_GUEST_TSO6));
	struct vio_net_pair_stats s;
	struct vio_net_hdr h;
	uint8_t *buf;
	uint32_t len;

	fx->dopts.offloads = VIO_BIT(VIO_NET_F_GUEST_CSUM) | VIO_BIT(VIO_NET_F_GUEST_TSO4);
	nfx_up(fx);
	make_frame(f, sizeof(f), MAC_DEV, MAC_PEER, 6);
	buf = post_rx1(fx, 0, 2048);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_GUEST_OFFLOADS, 0, &o, 8), VIO_NET_ERR);
	o = vio_cpu_to_le64(0);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_GUEST_OFFLOADS, 0, &o, 8), VIO_NET_OK);
	/* DATA_VALID for a driver with GUEST_CSUM off: delivered without it. */
	assert_int_equal(rx_frames(fx, 0, &fr, 1), 1);
	assert_ptr_equal(reap(fx, rxq(0), &len), buf);
	memcpy(&h, buf, sizeof(h.flags));
	assert_int_equal(h.flags, 0);
	buf = post_rx1(fx, 0, 2048);
	o = vio_cpu_to_le64(VIO_BIT(VIO_NET_F_GUEST_CSUM));
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_GUEST_OFFLOADS, 0, &o, 8), VIO_NET_OK);
	assert_int_equal(rx_frames(fx, 0, &fr, 1), 1);
	assert_ptr_equal(reap(fx, rxq(0), &len), buf);
	memcpy(&h, buf, sizeof(h.flags));
	assert_int_equal(h.flags, VIO_NET_HDR_F_DATA_VALID);
	/* TSO4 was negotiated but is off now: the device would cut the
	 * frame itself (test_net_dev_soft.c), but this one has no TCP
	 * header to cut by. */
	fr.flags = VIO_NET_HDR_F_NEEDS_CSUM;
	fr.csum_start = 34;
	fr.csum_offset = 16;
	fr.gso_type = VIO_NET_HDR_GSO_TCPV4;
	fr.gso_size = 1000;
	post_rx1(fx, 0, 2048);
	assert_int_equal(rx_frames(fx, 0, &fr, 1), 1);
	pair_stats(fx, 0, &s);
	assert_int_equal(s.rx_offload, 1);
	assert_none_used(fx, rxq(0));
}

static void c_link(void **state)
{
	struct nfx *fx = *state;
	const struct vio_net_hdr zh = { 0 };
	uint8_t f[64];
	struct vio_net_pair_stats s;
	uint32_t gen = vio_dev_config_generation(&fx->net.dev);
	uint32_t len;

	nfx_up(fx);
	make_frame(f, sizeof(f), MAC_DEV, MAC_PEER, 7);
	assert_int_equal(config_status(fx), VIO_NET_S_LINK_UP);
	gen = __atomic_load_n(&fx->config_changes, __ATOMIC_RELAXED);
	set_link(fx, false);
	assert_int_equal(config_status(fx), 0);
	assert_true(__atomic_load_n(&fx->config_changes, __ATOMIC_RELAXED) > gen);
	post_rx1(fx, 0, 2048);
	assert_int_equal(rx_bytes(fx, 0, f, sizeof(f)), 1);
	tx_frame(fx, 0, &zh, f, sizeof(f));
	pair_stats(fx, 0, &s);
	assert_int_equal(s.rx_link_down, 1);
	assert_int_equal(s.tx_link_down, 1);
	assert_int_equal(port_count(fx), 0);
	set_link(fx, true);
	assert_int_equal(config_status(fx), VIO_NET_S_LINK_UP);
	assert_int_equal(rx_bytes(fx, 0, f, sizeof(f)), 1);
	reap(fx, rxq(0), &len);
	tx_frame(fx, 0, &zh, f, sizeof(f));
	assert_int_equal(port_count(fx), 1);
}

static void c_announce(void **state)
{
	struct nfx *fx = *state;
	unsigned before;

	nfx_up(fx);
	before = __atomic_load_n(&fx->config_changes, __ATOMIC_RELAXED);
	assert_int_equal(announce(fx), 0);
	assert_int_equal(config_status(fx), VIO_NET_S_LINK_UP | VIO_NET_S_ANNOUNCE);
	assert_true(__atomic_load_n(&fx->config_changes, __ATOMIC_RELAXED) > before);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_ANNOUNCE, VIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0),
			 VIO_NET_OK);
	assert_int_equal(config_status(fx), VIO_NET_S_LINK_UP);
}

static void c_announce_not_negotiated(void **state)
{
	struct nfx *fx = *state;

	fx->features_off |= VIO_BIT(VIO_NET_F_GUEST_ANNOUNCE);
	nfx_up(fx);
	assert_int_equal(announce(fx), -ENOTSUP);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_ANNOUNCE, VIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0),
			 VIO_NET_ERR);
}

/* The device alone: options. */
static void init_options(void **state)
{
	struct vio_net_dev net;
	struct vio_net_dev_opts o = { 0 };

	(void)state;
	assert_int_equal(vio_net_dev_init(&net, NULL), 0);
	assert_true(net.dev.host_features & VIO_BIT(VIO_NET_F_MAC));
	assert_false(net.dev.host_features & VIO_BIT(VIO_NET_F_MQ));
	assert_int_equal(net.dev.num_queues, 3);
	vio_net_dev_fini(&net);
	o.max_pairs = VIO_NET_MAX_PAIRS + 1;
	assert_int_equal(vio_net_dev_init(&net, &o), -EINVAL);
	o.max_pairs = 2;
	o.queue_size = 100;
	assert_int_equal(vio_net_dev_init(&net, &o), -EINVAL);
	o.queue_size = 0;
	o.mtu = 67;
	assert_int_equal(vio_net_dev_init(&net, &o), -EINVAL);
	o.mtu = 0;
	o.offloads = VIO_BIT(VIO_NET_F_MQ);
	assert_int_equal(vio_net_dev_init(&net, &o), -EINVAL);
	o.offloads = 0;
	assert_int_equal(vio_net_dev_init(&net, &o), 0);
	assert_true(net.dev.host_features & VIO_BIT(VIO_NET_F_MQ));
	assert_true(net.dev.host_features & VIO_BIT(VIO_NET_F_RSS));
	assert_int_equal(net.dev.num_queues, 5);
	vio_net_dev_fini(&net);
}

static const struct named_test tests[] = {
	T(c_rx_mode),
	T(c_mac_table),
	T(c_mac_addr_set),
	T(c_vlan),
	T(c_vlan_not_negotiated),
	T(c_malformed_commands),
	T(c_mq_pairs),
	T(c_rss_bad_config),
	T(c_rss_steer),
	T(c_guest_offloads),
	T(c_link),
	T(c_announce),
	T(c_announce_not_negotiated),
};

static const struct named_test threaded[] = {
	T(c_link),
	T(c_announce),
	T(c_rss_steer),
};

static const struct named_test plain[] = {
	T(toeplitz_vectors),
	T(init_options),
};

int main(void)
{
	static const struct nfx_tables t = {
		.plain = plain, .nplain = ARRAY_LEN(plain),
		.direct = tests, .ndirect = ARRAY_LEN(tests),
		.threaded = threaded, .nthreaded = ARRAY_LEN(threaded),
	};

	return nfx_run("lb_net_dev_ctrl", &t);
}
