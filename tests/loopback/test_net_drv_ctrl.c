/*
 * test_net_drv_ctrl.c - the net driver's control queue against the test
 * device (net_drv_fixture.h): each command's bytes as the device reads
 * them, the ack mapped (OK 0, ERR and anything else -EIO), -ENOTSUP
 * without the feature, arguments refused before anything is sent, a
 * device that never answers (-ETIMEDOUT, then -EBUSY while it holds the
 * command), and the announce handshake through the config callback.
 */
#include "net_drv_fixture.h"

#define CTRL_ALL (NF(CTRL_VQ) | NF(CTRL_RX) | NF(CTRL_RX_EXTRA) | NF(CTRL_VLAN) | \
		  NF(CTRL_MAC_ADDR) | NF(CTRL_GUEST_OFFLOADS) | NF(GUEST_ANNOUNCE) | \
		  NF(MQ) | NF(RSS))

static void up_ctrl(struct nfx *fx)
{
	fx->offer |= CTRL_ALL;
	fx->pairs = 2;
	nfx_up(fx);
}

/* The device read exactly `want` from `descs` readable descriptors. */
static void expect_cmd(struct nfx *fx, const uint8_t *want, uint32_t len, unsigned descs)
{
	assert_int_equal(fx->nd.ctrl_len, len);
	assert_memory_equal(fx->nd.ctrl, want, len);
	assert_int_equal(fx->nd.ctrl_descs, descs);
}

static void t_set_mac(void **state)
{
	struct nfx *fx = *state;
	static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 9 };
	const uint8_t want[] = { VIO_NET_CTRL_MAC, VIO_NET_CTRL_MAC_ADDR_SET, 2, 0, 0, 0, 0, 9 };

	up_ctrl(fx);
	assert_int_equal(vio_net_drv_set_mac(ND(fx), mac), 0);
	expect_cmd(fx, want, sizeof(want), 2);
	fx->nd.ctrl_ack = VIO_NET_ERR;
	assert_int_equal(vio_net_drv_set_mac(ND(fx), mac), -EIO);
	fx->nd.ctrl_ack = 7; /* not an ack the spec has */
	assert_int_equal(vio_net_drv_set_mac(ND(fx), mac), -EIO);
	assert_int_equal(fx->nd.ctrl_cmds, 3);
}

static void t_rx_mode(void **state)
{
	struct nfx *fx = *state;
	const uint8_t promisc[] = { VIO_NET_CTRL_RX, VIO_NET_CTRL_RX_PROMISC, 1 };
	const uint8_t nobcast[] = { VIO_NET_CTRL_RX, VIO_NET_CTRL_RX_NOBCAST, 0 };

	up_ctrl(fx);
	assert_int_equal(vio_net_drv_set_rx_mode(ND(fx), VIO_NET_CTRL_RX_PROMISC, true), 0);
	expect_cmd(fx, promisc, sizeof(promisc), 2);
	assert_int_equal(vio_net_drv_set_rx_mode(ND(fx), VIO_NET_CTRL_RX_NOBCAST, false), 0);
	expect_cmd(fx, nobcast, sizeof(nobcast), 2);
	assert_int_equal(vio_net_drv_set_rx_mode(ND(fx), 6, true), -EINVAL);
	assert_int_equal(fx->nd.ctrl_cmds, 2);
}

static void t_rx_mode_extra_needs_feature(void **state)
{
	struct nfx *fx = *state;

	fx->offer = NF(CTRL_VQ) | NF(CTRL_RX);
	nfx_up(fx);
	assert_int_equal(vio_net_drv_set_rx_mode(ND(fx), VIO_NET_CTRL_RX_ALLMULTI, true), 0);
	assert_int_equal(vio_net_drv_set_rx_mode(ND(fx), VIO_NET_CTRL_RX_ALLUNI, true), -ENOTSUP);
	assert_int_equal(vio_net_drv_vlan_add(ND(fx), 5), -ENOTSUP);
	assert_int_equal(vio_net_drv_set_pairs(ND(fx), 1), -ENOTSUP);
	assert_int_equal(vio_net_drv_announce_ack(ND(fx)), -ENOTSUP);
	assert_int_equal(fx->nd.ctrl_cmds, 1);
}

static void t_no_ctrl_vq(void **state)
{
	struct nfx *fx = *state;
	static const uint8_t mac[6] = { 2 };

	fx->offer = NF(CTRL_RX) | NF(CTRL_MAC_ADDR); /* without the queue they mean nothing */
	nfx_up(fx);
	assert_int_equal(vio_net_drv_set_mac(ND(fx), mac), -ENOTSUP);
	assert_int_equal(vio_net_drv_set_rx_mode(ND(fx), VIO_NET_CTRL_RX_PROMISC, true),
			 -ENOTSUP);
	assert_int_equal(vio_net_drv_set_mac_table(ND(fx), mac, 1, NULL, 0), -ENOTSUP);
}

static void t_mac_table(void **state)
{
	struct nfx *fx = *state;
	static const uint8_t uc[12] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2 };
	static const uint8_t mc[6] = { 1, 0, 0x5e, 0, 0, 1 };
	uint8_t want[2 + 4 + 12 + 4 + 6] = { VIO_NET_CTRL_MAC, VIO_NET_CTRL_MAC_TABLE_SET, 2 };

	memcpy(want + 6, uc, 12);
	want[18] = 1;
	memcpy(want + 22, mc, 6);
	up_ctrl(fx);
	assert_int_equal(vio_net_drv_set_mac_table(ND(fx), uc, 2, mc, 1), 0);
	expect_cmd(fx, want, sizeof(want), 3);
	/* Empty tables are two counts of 0. */
	assert_int_equal(vio_net_drv_set_mac_table(ND(fx), NULL, 0, NULL, 0), 0);
	assert_int_equal(fx->nd.ctrl_len, 10);
	assert_int_equal(vio_net_drv_set_mac_table(ND(fx), uc, VIO_NET_DRV_MAC_TABLE_MAX + 1,
						   NULL, 0), -EINVAL);
}

static void t_vlan(void **state)
{
	struct nfx *fx = *state;
	const uint8_t add[] = { VIO_NET_CTRL_VLAN, VIO_NET_CTRL_VLAN_ADD, 0x64, 0x00 };
	const uint8_t del[] = { VIO_NET_CTRL_VLAN, VIO_NET_CTRL_VLAN_DEL, 0xff, 0x0f };

	up_ctrl(fx);
	assert_int_equal(vio_net_drv_vlan_add(ND(fx), 100), 0);
	expect_cmd(fx, add, sizeof(add), 2);
	assert_int_equal(vio_net_drv_vlan_del(ND(fx), 4095), 0);
	expect_cmd(fx, del, sizeof(del), 2);
	assert_int_equal(vio_net_drv_vlan_add(ND(fx), 4096), -EINVAL);
}

static void t_pairs(void **state)
{
	struct nfx *fx = *state;
	const uint8_t want[] = { VIO_NET_CTRL_MQ, VIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2, 0 };

	up_ctrl(fx);
	assert_int_equal(vio_net_drv_num_pairs(ND(fx)), 2);
	assert_int_equal(vio_net_drv_set_pairs(ND(fx), 2), 0);
	expect_cmd(fx, want, sizeof(want), 2);
	assert_int_equal(vio_net_drv_set_pairs(ND(fx), 0), -EINVAL);
	assert_int_equal(vio_net_drv_set_pairs(ND(fx), 3), -EINVAL);
}

/* The device has more pairs than the driver takes: the control queue is
 * still found after all of them. */
static void t_pairs_capped(void **state)
{
	struct nfx *fx = *state;
	const uint8_t want[] = { VIO_NET_CTRL_MQ, VIO_NET_CTRL_MQ_VQ_PAIRS_SET, 1, 0 };

	fx->offer = CTRL_ALL;
	fx->pairs = 4;
	fx->opts.max_pairs = 1;
	nfx_up(fx);
	assert_int_equal(vio_net_drv_num_pairs(ND(fx)), 1);
	assert_int_equal(vio_net_drv_set_pairs(ND(fx), 1), 0);
	expect_cmd(fx, want, sizeof(want), 2);
}

static void t_rss(void **state)
{
	struct nfx *fx = *state;
	uint16_t table[4] = { 0, 1, 1, 0 };
	uint8_t key[40];
	struct vio_net_drv_rss rss = {
		.hash_types = VIO_NET_HASH_TYPE_TCPV4 | VIO_NET_HASH_TYPE_IPV4,
		.table = table, .table_len = 4, .unclassified_queue = 1,
		.key = key, .key_len = sizeof(key),
	};
	uint8_t want[2 + 8 + 8 + 3 + 40] = {
		VIO_NET_CTRL_MQ, VIO_NET_CTRL_MQ_RSS_CONFIG,
		0x03, 0, 0, 0,  /* hash types */
		3, 0,           /* mask */
		1, 0,           /* unclassified */
		0, 0, 1, 0, 1, 0, 0, 0,
		2, 0,           /* max_tx_vq: the pairs */
		40,
	};

	for (unsigned i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(0xa0 + i);
	memcpy(want + 21, key, sizeof(key));
	up_ctrl(fx);
	assert_int_equal(vio_net_drv_set_rss(ND(fx), &rss), 0);
	expect_cmd(fx, want, sizeof(want), 4);
	rss.table_len = 3;
	assert_int_equal(vio_net_drv_set_rss(ND(fx), &rss), -EINVAL);
	rss.table_len = 4;
	table[2] = 2; /* no such queue */
	assert_int_equal(vio_net_drv_set_rss(ND(fx), &rss), -EINVAL);
	table[2] = 1;
	rss.key_len = 41; /* the device takes 40 */
	assert_int_equal(vio_net_drv_set_rss(ND(fx), &rss), -EINVAL);
	rss.key_len = 40;
	fx->nd.cfg.supported_hash_types = vio_cpu_to_le32(VIO_NET_HASH_TYPE_IPV4);
	assert_int_equal(vio_net_drv_set_rss(ND(fx), &rss), -EINVAL);
	fx->nd.cfg.rss_max_indirection_table_length = vio_cpu_to_le16(2);
	rss.hash_types = VIO_NET_HASH_TYPE_IPV4;
	assert_int_equal(vio_net_drv_set_rss(ND(fx), &rss), -EINVAL);
	assert_int_equal(fx->nd.ctrl_cmds, 1);
}

static void t_guest_offloads(void **state)
{
	struct nfx *fx = *state;
	const uint8_t want[] = { VIO_NET_CTRL_GUEST_OFFLOADS, VIO_NET_CTRL_GUEST_OFFLOADS_SET,
				 0x02, 0, 0, 0, 0, 0, 0, 0 };

	fx->offer = NF(GUEST_CSUM);
	fx->opts.offloads = NF(GUEST_CSUM);
	up_ctrl(fx);
	assert_int_equal(vio_net_drv_set_guest_offloads(ND(fx), NF(GUEST_CSUM)), 0);
	expect_cmd(fx, want, sizeof(want), 2);
	/* TSO4 was not negotiated. */
	assert_int_equal(vio_net_drv_set_guest_offloads(ND(fx), NF(GUEST_TSO4)), -EINVAL);
}

static void t_announce(void **state)
{
	struct nfx *fx = *state;
	const uint8_t want[] = { VIO_NET_CTRL_ANNOUNCE, VIO_NET_CTRL_ANNOUNCE_ACK };

	fx->offer = NF(STATUS);
	fx->opts.config_changed = nd_config_cb;
	fx->opts.opaque = fx;
	up_ctrl(fx);
	fx->nd.cfg.status = vio_cpu_to_le16(VIO_NET_S_LINK_UP | VIO_NET_S_ANNOUNCE);
	vio_dev_config_changed(&fx->nd.d);
	vio_drv_wait(ND(fx), 0);
	assert_int_equal(fx->ncb, 1);
	assert_int_equal(fx->events, VIO_NET_DRV_EV_LINK | VIO_NET_DRV_EV_ANNOUNCE);
	assert_int_equal(vio_net_drv_announce_ack(ND(fx)), 0);
	expect_cmd(fx, want, sizeof(want), 1);
}

/* A device that never answers: the command times out, and the next one
 * is refused while the device still holds the buffer. */
static void t_timeout_then_busy(void **state)
{
	struct nfx *fx = *state;
	static const uint8_t mac[6] = { 2 };

	fx->opts.timeout_ms = 50;
	up_ctrl(fx);
	fx->nd.ctrl_silent = true;
	assert_int_equal(vio_net_drv_set_mac(ND(fx), mac), -ETIMEDOUT);
	assert_int_equal(vio_net_drv_vlan_add(ND(fx), 1), -EBUSY);
	assert_int_equal(fx->nd.ctrl_cmds, 1);
}

static const struct nd_test tests[] = {
	T(t_set_mac),
	T(t_rx_mode),
	T(t_rx_mode_extra_needs_feature),
	T(t_no_ctrl_vq),
	T(t_mac_table),
	T(t_vlan),
	T(t_pairs),
	T(t_pairs_capped),
	T(t_rss),
	T(t_guest_offloads),
	T(t_announce),
	T(t_timeout_then_busy),
};

int main(void)
{
	return nd_run("net_drv_ctrl", tests, ARRAY_LEN(tests));
}
