/*
 * test_net_drv_io.c - the net driver's data path against the test device
 * (net_drv_fixture.h): probe and config, frames sent (header and bytes as
 * the device sees them, ring full, reaping, refusals), frames received
 * (single buffers, merged buffers, partly published frames, truncation,
 * hash reports), and the receive ring kept full. Siblings:
 * test_net_drv_ctrl.c (control queue), test_net_drv_malformed.c (a hostile
 * device), test_net_drv_mq.c (two pairs on two threads).
 */
#include "net_drv_fixture.h"

static void fill_bytes(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed * 13 + 1);
}

static void t_probe_config(void **state)
{
	struct nfx *fx = *state;
	uint8_t mac[6];
	uint32_t speed;
	uint8_t duplex;

	fx->offer = NF(MAC) | NF(MTU) | NF(STATUS) | NF(SPEED_DUPLEX);
	fx->mtu = 9000;
	nfx_up(fx);
	assert_int_equal(vio_net_drv_mac(ND(fx), mac), 0);
	assert_memory_equal(mac, nd_mac, 6);
	assert_true(vio_net_drv_link_up(ND(fx)));
	assert_int_equal(vio_net_drv_mtu(ND(fx)), 9000);
	assert_int_equal(vio_net_drv_speed_duplex(ND(fx), &speed, &duplex), 0);
	assert_int_equal(speed, 10000);
	assert_int_equal(duplex, VIO_NET_DUPLEX_FULL);
	assert_int_equal(vio_net_drv_num_pairs(ND(fx)), 1);
	/* The receive ring is full from the start. */
	assert_int_equal(dev_rx_avail(fx, 0), ND_QMAX);
	/* The link goes down: the config callback hears it. */
	fx->nd.cfg.status = vio_cpu_to_le16(0);
	vio_dev_config_changed(&fx->nd.d);
	vio_drv_wait(ND(fx), 0);
	assert_false(vio_net_drv_link_up(ND(fx)));
}

static void t_link_callback_and_absent_fields(void **state)
{
	struct nfx *fx = *state;
	uint8_t mac[6];
	uint32_t speed;
	uint8_t duplex;

	fx->opts.config_changed = nd_config_cb;
	fx->opts.opaque = fx;
	nfx_up(fx);
	/* Without STATUS the link is up; without MAC or SPEED_DUPLEX: -ENOTSUP. */
	assert_true(vio_net_drv_link_up(ND(fx)));
	assert_int_equal(vio_net_drv_mac(ND(fx), mac), -ENOTSUP);
	assert_int_equal(vio_net_drv_speed_duplex(ND(fx), &speed, &duplex), -ENOTSUP);
	vio_dev_config_changed(&fx->nd.d);
	vio_drv_wait(ND(fx), 0);
	assert_int_equal(fx->ncb, 1);
	assert_int_equal(fx->events, VIO_NET_DRV_EV_LINK);
}

static void t_mtu_too_small_ignored(void **state)
{
	struct nfx *fx = *state;

	fx->offer = NF(MTU);
	fx->mtu = 40;
	nfx_up(fx);
	assert_int_equal(vio_net_drv_mtu(ND(fx)), 1500);
	nd_assert_logged(fx, "below 68");
}

/* Frames go out with their header fields and bytes; the caller's memory
 * may be reused as soon as tx_burst returns. */
static void t_tx_frames(void **state)
{
	struct nfx *fx = *state;
	uint8_t data[3][600];
	struct vio_net_drv_frame f[3];
	uint32_t hl;

	fx->opts.offloads = NF(CSUM);
	fx->offer = NF(CSUM);
	nfx_up(fx);
	hl = nd_hdr_len(fx);
	assert_int_equal(hl, VIO_NET_HDR_LEN_MRG);
	for (unsigned i = 0; i < 3; i++) {
		fill_bytes(data[i], sizeof(data[i]), i);
		f[i] = (struct vio_net_drv_frame){ .data = data[i], .len = 100 + 200 * i };
	}
	f[1].flags = VIO_NET_HDR_F_NEEDS_CSUM;
	f[1].csum_start = 34;
	f[1].csum_offset = 16;
	f[1].hdr_len = 54;
	assert_int_equal(vio_net_drv_tx_burst(ND(fx), 0, f, 3), 3);
	memset(data, 0, sizeof(data)); /* reused at once */
	assert_int_equal(fx->nd.ntx[0], 3);
	for (unsigned i = 0; i < 3; i++) {
		struct nd_rec *r = &fx->nd.tx[0][i];
		struct vio_net_hdr h;
		uint8_t want[600];

		fill_bytes(want, sizeof(want), i);
		assert_int_equal(r->len, hl + 100 + 200 * i);
		memset(&h, 0, sizeof(h));
		memcpy(&h, r->b, hl);
		assert_memory_equal(r->b + hl, want, 100 + 200 * i);
		assert_int_equal(h.flags, i == 1 ? VIO_NET_HDR_F_NEEDS_CSUM : 0);
		assert_int_equal(h.gso_type, VIO_NET_HDR_GSO_NONE);
		assert_int_equal(vio_le16_to_cpu(h.csum_start), i == 1 ? 34 : 0);
		assert_int_equal(vio_le16_to_cpu(h.csum_offset), i == 1 ? 16 : 0);
		assert_int_equal(vio_le16_to_cpu(h.hdr_len), i == 1 ? 54 : 0);
		assert_int_equal(vio_le16_to_cpu(h.num_buffers), 0);
	}
	assert_int_equal(vio_net_drv_tx_reap(ND(fx), 0), 3);
	assert_int_equal(vio_net_drv_tx_free(ND(fx), 0), ND_QMAX);
}

static void t_tx_tso(void **state)
{
	struct nfx *fx = *state;
	static uint8_t data[20000];
	struct vio_net_drv_frame f = {
		.flags = VIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIO_NET_HDR_GSO_TCPV4,
		.gso_size = 1448, .hdr_len = 66, .csum_start = 34, .csum_offset = 16,
		.data = data, .len = 3000,
	};
	struct vio_net_hdr h;

	fx->opts.offloads = NF(CSUM) | NF(HOST_TSO4);
	fx->offer = NF(CSUM) | NF(HOST_TSO4);
	nfx_up(fx);
	fill_bytes(data, sizeof(data), 9);
	assert_int_equal(vio_net_drv_tx_burst(ND(fx), 0, &f, 1), 1);
	memcpy(&h, fx->nd.tx[0][0].b, VIO_NET_HDR_LEN_MRG);
	assert_int_equal(h.gso_type, VIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(vio_le16_to_cpu(h.gso_size), 1448);
	assert_memory_equal(fx->nd.tx[0][0].b + VIO_NET_HDR_LEN_MRG, data, 3000);
	/* TCPV6 was not negotiated. */
	f.gso_type = VIO_NET_HDR_GSO_TCPV6;
	assert_int_equal(vio_net_drv_tx_burst(ND(fx), 0, &f, 1), -ENOTSUP);
	/* GSO without NEEDS_CSUM breaks the spec's rule. */
	f.gso_type = VIO_NET_HDR_GSO_TCPV4;
	f.flags = 0;
	assert_int_equal(vio_net_drv_tx_burst(ND(fx), 0, &f, 1), -EINVAL);
}

static void t_tx_refusals(void **state)
{
	struct nfx *fx = *state;
	uint8_t data[4000] = { 0 };
	struct vio_net_drv_frame f[2] = {
		{ .data = data, .len = 60 },
		{ .data = data, .len = 60, .flags = VIO_NET_HDR_F_NEEDS_CSUM },
	};

	nfx_up(fx);
	assert_int_equal(vio_net_drv_tx_burst(ND(fx), 0, &f[1], 1), -ENOTSUP);
	/* The good frame before a bad one goes; the count says so. */
	assert_int_equal(vio_net_drv_tx_burst(ND(fx), 0, f, 2), 1);
	f[0].len = 0;
	assert_int_equal(vio_net_drv_tx_burst(ND(fx), 0, f, 1), -EINVAL);
	f[0].len = sizeof(data); /* longer than a buffer of 1518 + header */
	assert_int_equal(vio_net_drv_tx_burst(ND(fx), 0, f, 1), -EINVAL);
	f[0].len = 60;
	f[0].flags = VIO_NET_HDR_F_DATA_VALID;
	assert_int_equal(vio_net_drv_tx_burst(ND(fx), 0, f, 1), -EINVAL);
	assert_int_equal(vio_net_drv_tx_burst(ND(fx), 1, f, 1), -EINVAL);
	assert_int_equal(fx->nd.ntx[0], 1);
}

/* A full ring queues what fits; reaping makes room again. */
static void t_tx_ring_full(void **state)
{
	struct nfx *fx = *state;
	uint8_t data[64];
	struct vio_net_drv_frame f[ND_QMAX + 3];

	nfx_up(fx);
	fx->nd.tx_hold = true;
	fill_bytes(data, sizeof(data), 1);
	for (unsigned i = 0; i < ARRAY_LEN(f); i++)
		f[i] = (struct vio_net_drv_frame){ .data = data, .len = sizeof(data) };
	assert_int_equal(vio_net_drv_tx_burst(ND(fx), 0, f, ARRAY_LEN(f)), ND_QMAX);
	assert_int_equal(vio_net_drv_tx_burst(ND(fx), 0, f, 1), 0);
	assert_int_equal(vio_net_drv_tx_reap(ND(fx), 0), 0);
	assert_int_equal(dev_tx_complete(fx, 0), ND_QMAX);
	/* tx_burst reaps by itself. */
	assert_int_equal(vio_net_drv_tx_burst(ND(fx), 0, f, 3), 3);
	assert_int_equal(vio_net_drv_tx_free(ND(fx), 0), ND_QMAX - 3);
	{
		struct vio_net_drv_stats s;

		vio_net_drv_pair_stats(ND(fx), 0, &s);
		assert_int_equal(s.tx_frames, ND_QMAX + 3);
		assert_int_equal(s.tx_done, ND_QMAX);
		assert_int_equal(s.tx_bytes, (ND_QMAX + 3) * sizeof(data));
	}
}

/* One frame per buffer without MRG_RXBUF: fields and bytes come out. */
static void t_rx_single(void **state)
{
	struct nfx *fx = *state;
	uint8_t data[1500], out[2][2000];
	struct vio_net_drv_frame f[2] = {
		{ .data = out[0], .cap = sizeof(out[0]) },
		{ .data = out[1], .cap = sizeof(out[1]) },
	};
	struct nd_rx rx = { .data = data, .len = 1500, .num_buffers = -1 };

	fx->opts.offloads = NF(GUEST_CSUM);
	fx->offer = NF(GUEST_CSUM);
	nfx_up(fx);
	fill_bytes(data, sizeof(data), 3);
	assert_int_equal(vio_net_drv_rx_burst(ND(fx), 0, f, 2), 0);
	rx.h.flags = VIO_NET_HDR_F_DATA_VALID;
	rx.h.csum_start = vio_cpu_to_le16(34);
	rx.h.csum_offset = vio_cpu_to_le16(6);
	assert_int_equal(dev_rx_frame(fx, 0, &rx), 1);
	rx.h = (struct vio_net_hdr){ 0 };
	rx.len = 60;
	assert_int_equal(dev_rx_frame(fx, 0, &rx), 1);
	assert_int_equal(vio_net_drv_rx_burst(ND(fx), 0, f, 2), 2);
	assert_int_equal(f[0].len, 1500);
	assert_int_equal(f[0].frame_len, 1500);
	assert_int_equal(f[0].flags, VIO_NET_HDR_F_DATA_VALID);
	assert_int_equal(f[0].csum_start, 34);
	assert_int_equal(f[0].csum_offset, 6);
	assert_int_equal(f[0].num_buffers, 1);
	assert_memory_equal(out[0], data, 1500);
	assert_int_equal(f[1].len, 60);
	assert_int_equal(f[1].flags, 0);
	assert_memory_equal(out[1], data, 60);
	/* Refilled before the call returned. */
	assert_int_equal(dev_rx_avail(fx, 0), ND_QMAX);
}

/* MRG_RXBUF: a frame over several small buffers comes out whole. */
static void t_rx_merged(void **state)
{
	struct nfx *fx = *state;
	uint8_t data[3000], out[4000];
	struct vio_net_drv_frame f = { .data = out, .cap = sizeof(out) };
	struct nd_rx rx = { .data = data, .len = sizeof(data), .num_buffers = -1 };
	unsigned nb;

	fx->offer = NF(MRG_RXBUF);
	fx->opts.rx_buf_bytes = 1024;
	nfx_up(fx);
	fill_bytes(data, sizeof(data), 5);
	rx.h.gso_size = vio_cpu_to_le16(77);
	nb = dev_rx_frame(fx, 0, &rx);
	assert_int_equal(nb, 3); /* (3000 + 12) / 1024 rounded up */
	assert_int_equal(vio_net_drv_rx_burst(ND(fx), 0, &f, 1), 1);
	assert_int_equal(f.len, sizeof(data));
	assert_int_equal(f.num_buffers, 3);
	assert_int_equal(f.gso_size, 77);
	assert_memory_equal(out, data, sizeof(data));
	assert_int_equal(dev_rx_avail(fx, 0), ND_QMAX);
}

/* Buffers of a frame published in two steps: the frame waits in the
 * driver until its last buffer is there. */
static void t_rx_merged_partial(void **state)
{
	struct nfx *fx = *state;
	uint8_t data[2000], out[4000];
	struct vio_net_drv_frame f = { .data = out, .cap = sizeof(out) };
	struct nd_rx rx = { .data = data, .len = sizeof(data), .num_buffers = -1,
			    .publish = 2 };

	fx->offer = NF(MRG_RXBUF);
	fx->opts.rx_buf_bytes = 512;
	nfx_up(fx);
	fill_bytes(data, sizeof(data), 6);
	assert_int_equal(dev_rx_frame(fx, 0, &rx), 4);
	assert_int_equal(vio_net_drv_rx_burst(ND(fx), 0, &f, 1), 0);
	assert_null(vio_net_drv_error(ND(fx), 0));
	dev_rx_publish(fx, 0);
	assert_int_equal(vio_net_drv_rx_burst(ND(fx), 0, &f, 1), 1);
	assert_int_equal(f.len, sizeof(data));
	assert_int_equal(f.num_buffers, 4);
	assert_memory_equal(out, data, sizeof(data));
	assert_int_equal(dev_rx_avail(fx, 0), ND_QMAX);
}

/* A frame larger than the caller's room is cut and counted. */
static void t_rx_truncated(void **state)
{
	struct nfx *fx = *state;
	uint8_t data[1000], out[100];
	struct vio_net_drv_frame f = { .data = out, .cap = sizeof(out) };
	struct nd_rx rx = { .data = data, .len = sizeof(data), .num_buffers = -1 };
	struct vio_net_drv_stats s;

	nfx_up(fx);
	fill_bytes(data, sizeof(data), 7);
	dev_rx_frame(fx, 0, &rx);
	assert_int_equal(vio_net_drv_rx_burst(ND(fx), 0, &f, 1), 1);
	assert_int_equal(f.len, sizeof(out));
	assert_int_equal(f.frame_len, sizeof(data));
	assert_memory_equal(out, data, sizeof(out));
	vio_net_drv_pair_stats(ND(fx), 0, &s);
	assert_int_equal(s.rx_truncated, 1);
	assert_int_equal(s.rx_frames, 1);
	assert_int_equal(s.rx_bytes, sizeof(data));
}

static void t_rx_hash_report(void **state)
{
	struct nfx *fx = *state;
	uint8_t data[200], out[300];
	struct vio_net_drv_frame f = { .data = out, .cap = sizeof(out) };
	struct nd_rx rx = { .data = data, .len = sizeof(data), .num_buffers = -1 };

	fx->offer = NF(HASH_REPORT) | NF(MRG_RXBUF);
	nfx_up(fx);
	assert_int_equal(nd_hdr_len(fx), VIO_NET_HDR_LEN_HASH);
	fill_bytes(data, sizeof(data), 8);
	rx.h.hash_value = vio_cpu_to_le32(0xdeadbeef);
	rx.h.hash_report = vio_cpu_to_le16(VIO_NET_HASH_REPORT_TCPV4);
	dev_rx_frame(fx, 0, &rx);
	assert_int_equal(vio_net_drv_rx_burst(ND(fx), 0, &f, 1), 1);
	assert_int_equal(f.hash_value, 0xdeadbeef);
	assert_int_equal(f.hash_report, VIO_NET_HASH_REPORT_TCPV4);
	assert_memory_equal(out, data, sizeof(data));
}

/* Many more frames than the ring holds, in rounds: every one arrives, in
 * order, and the ring is full after every round. */
static void t_rx_refill_many(void **state)
{
	struct nfx *fx = *state;
	uint8_t data[300], out[8][400];
	struct vio_net_drv_frame f[8];
	unsigned seq = 0, got = 0;

	fx->offer = NF(MRG_RXBUF);
	fx->opts.rx_buf_bytes = 128;
	nfx_up(fx);
	for (unsigned round = 0; round < 40; round++) {
		unsigned sent = 0, n;

		/* up to 3 buffers each: 4 frames fit in a ring of 16 */
		for (; sent < 4; sent++) {
			struct nd_rx rx = { .data = data, .len = 100 + (seq % 3) * 90,
					    .num_buffers = -1 };

			fill_bytes(data, sizeof(data), seq++);
			dev_rx_frame(fx, 0, &rx);
		}
		for (unsigned i = 0; i < 8; i++)
			f[i] = (struct vio_net_drv_frame){ .data = out[i], .cap = sizeof(out[i]) };
		n = (unsigned)vio_net_drv_rx_burst(ND(fx), 0, f, 8);
		assert_int_equal(n, sent);
		for (unsigned i = 0; i < n; i++, got++) {
			uint8_t want[300];

			fill_bytes(want, sizeof(want), got);
			assert_int_equal(f[i].len, 100 + (got % 3) * 90);
			assert_memory_equal(out[i], want, f[i].len);
		}
		assert_int_equal(dev_rx_avail(fx, 0), ND_QMAX);
	}
	assert_int_equal(got, 160);
}

/* A legacy device without ANY_LAYOUT: the 10-byte header in a descriptor
 * of its own, both ways (and the split ring, whatever the row offers). */
static void t_legacy_header_apart(void **state)
{
	struct nfx *fx = *state;
	uint8_t data[300], out[400];
	struct vio_net_drv_frame f = { .data = data, .len = sizeof(data) };
	struct nd_rx rx = { .data = data, .len = sizeof(data), .num_buffers = -1 };
	struct vio_net_hdr h;

	fx->legacy = true;
	nfx_up(fx);
	assert_true(ND(fx)->legacy);
	assert_int_equal(nd_hdr_len(fx), VIO_NET_HDR_LEN_LEGACY);
	fill_bytes(data, sizeof(data), 4);
	assert_int_equal(vio_net_drv_tx_burst(ND(fx), 0, &f, 1), 1);
	assert_int_equal(fx->nd.tx[0][0].descs, 2);
	assert_int_equal(fx->nd.tx[0][0].len, VIO_NET_HDR_LEN_LEGACY + sizeof(data));
	memcpy(&h, fx->nd.tx[0][0].b, VIO_NET_HDR_LEN_LEGACY);
	assert_int_equal(h.flags, 0);
	assert_memory_equal(fx->nd.tx[0][0].b + VIO_NET_HDR_LEN_LEGACY, data, sizeof(data));
	rx.h.csum_start = vio_set16(true, 20);
	dev_rx_frame(fx, 0, &rx);
	f = (struct vio_net_drv_frame){ .data = out, .cap = sizeof(out) };
	assert_int_equal(vio_net_drv_rx_burst(ND(fx), 0, &f, 1), 1);
	assert_int_equal(f.len, sizeof(data));
	assert_int_equal(f.csum_start, 20);
	assert_memory_equal(out, data, sizeof(data));
}

static const struct nd_test tests[] = {
	T(t_probe_config),
	T(t_link_callback_and_absent_fields),
	T(t_mtu_too_small_ignored),
	T(t_tx_frames),
	T(t_tx_tso),
	T(t_tx_refusals),
	T(t_tx_ring_full),
	T(t_rx_single),
	T(t_rx_merged),
	T(t_rx_merged_partial),
	T(t_rx_truncated),
	T(t_rx_hash_report),
	T(t_rx_refill_many),
	T(t_legacy_header_apart),
};

int main(void)
{
	return nd_run("net_drv_io", tests, ARRAY_LEN(tests));
}
