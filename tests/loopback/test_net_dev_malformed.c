/*
 * test_net_dev_malformed.c - bad input from the driver, one test each: a
 * transmit chain too short for its header (cut in every place), a
 * checksum past the frame or not negotiated, GSO with gso_size 0 or a
 * type not offered, frames too long and too short, writable descriptors
 * on a transmit chain, a receive buffer too short for the header, and
 * frames from the port out of bounds. Each is dropped and counted, the
 * queue keeps going (a good frame follows), and nothing needs a reset.
 *
 * Siblings, in tests/loopback/: test_net_dev_data.c (frames both ways),
 * test_net_dev_ctrl.c (control queue, filters, RSS, link); the matrix and
 * the fixture are net_dev_fixture.{c,h}.
 */

#include "net_dev_fixture.h"

static const struct vio_net_hdr zero_hdr;

/* After a drop: the device is healthy and the next good frame goes out. */
static void still_works(struct nfx *fx, unsigned sent_before)
{
	uint8_t f[64];

	assert_false(vio_dev_get_status(&fx->net.dev) & VIO_STATUS_NEEDS_RESET);
	assert_int_equal(port_count(fx), sent_before);
	make_frame(f, sizeof(f), MAC_PEER, MAC_DEV, 99);
	assert_int_equal(tx_frame(fx, 0, &zero_hdr, f, sizeof(f)), 0);
	assert_int_equal(port_count(fx), sent_before + 1);
	assert_memory_equal(fx->port.frames[sent_before].data, f, sizeof(f));
}

static struct vio_net_pair_stats stats0(struct nfx *fx)
{
	struct vio_net_pair_stats s;

	pair_stats(fx, 0, &s);
	return s;
}

/* Every chain shorter than the header, cut at every byte. */
static void m_chain_short_for_header(void **state)
{
	struct nfx *fx = *state;
	uint8_t b[32] = { 0 };
	unsigned n = 0;
	size_t hl;

	nfx_up(fx);
	hl = hlen(fx);
	for (uint32_t len = 1; len < hl; len++) {
		for (uint32_t c = 0; c < len; c++) {
			uint32_t cut = c;

			assert_int_equal(tx_chain(fx, 0, b, len, &cut, c ? 1 : 0, 0), 0);
			n++;
		}
	}
	assert_int_equal(stats0(fx).tx_bad_header, n);
	still_works(fx, 0);
}

/* csum_start + csum_offset + 2 one byte past the frame: dropped; exactly
 * at its end: sent. */
static void m_csum_beyond_frame(void **state)
{
	struct nfx *fx = *state;
	uint8_t f[60];
	struct vio_net_hdr h = { .flags = VIO_NET_HDR_F_NEEDS_CSUM };

	fx->dopts.offloads = VIO_BIT(VIO_NET_F_CSUM);
	nfx_up(fx);
	make_frame(f, sizeof(f), MAC_PEER, MAC_DEV, 1);
	h.csum_start = vio_cpu_to_le16(50);
	h.csum_offset = vio_cpu_to_le16(9);
	tx_frame(fx, 0, &h, f, sizeof(f));
	h.csum_start = vio_cpu_to_le16(0xffff);
	h.csum_offset = vio_cpu_to_le16(0xffff);
	tx_frame(fx, 0, &h, f, sizeof(f));
	assert_int_equal(stats0(fx).tx_bad_csum, 2);
	assert_int_equal(port_count(fx), 0);
	h.csum_start = vio_cpu_to_le16(50);
	h.csum_offset = vio_cpu_to_le16(8);
	tx_frame(fx, 0, &h, f, sizeof(f));
	still_works(fx, 1);
}

/* NEEDS_CSUM when CSUM was not negotiated. */
static void m_csum_not_negotiated(void **state)
{
	struct nfx *fx = *state;
	uint8_t f[60];
	struct vio_net_hdr h = { .flags = VIO_NET_HDR_F_NEEDS_CSUM,
				 .csum_start = vio_cpu_to_le16(14),
				 .csum_offset = vio_cpu_to_le16(6) };

	nfx_up(fx);
	make_frame(f, sizeof(f), MAC_PEER, MAC_DEV, 2);
	tx_frame(fx, 0, &h, f, sizeof(f));
	assert_int_equal(stats0(fx).tx_bad_csum, 1);
	still_works(fx, 0);
}

static void m_gso_size_zero(void **state)
{
	struct nfx *fx = *state;
	uint8_t f[200];
	struct vio_net_hdr h = { .flags = VIO_NET_HDR_F_NEEDS_CSUM,
				 .gso_type = VIO_NET_HDR_GSO_TCPV4,
				 .csum_start = vio_cpu_to_le16(34),
				 .csum_offset = vio_cpu_to_le16(16) };

	fx->dopts.offloads = VIO_BIT(VIO_NET_F_CSUM) | VIO_BIT(VIO_NET_F_HOST_TSO4);
	nfx_up(fx);
	make_frame(f, sizeof(f), MAC_PEER, MAC_DEV, 3);
	tx_frame(fx, 0, &h, f, sizeof(f));
	assert_int_equal(stats0(fx).tx_bad_gso, 1);
	h.gso_size = vio_cpu_to_le16(100);
	tx_frame(fx, 0, &h, f, sizeof(f));
	assert_int_equal(port_count(fx), 1);
	assert_int_equal(fx->port.frames[0].f.gso_size, 100);
	assert_int_equal(fx->port.frames[0].f.gso_type, VIO_NET_HDR_GSO_TCPV4);
	still_works(fx, 1);
}

/* Unknown GSO types, and known ones the device did not offer. */
static void m_gso_unknown(void **state)
{
	struct nfx *fx = *state;
	static const uint8_t types[] = {
		2, 6, 0x7f, VIO_NET_HDR_GSO_UDP_L4, VIO_NET_HDR_GSO_TCPV6,
		VIO_NET_HDR_GSO_UDP, VIO_NET_HDR_GSO_TCPV4 | VIO_NET_HDR_GSO_ECN,
		VIO_NET_HDR_GSO_ECN,
	};
	uint8_t f[200];
	struct vio_net_hdr h = { .flags = VIO_NET_HDR_F_NEEDS_CSUM,
				 .gso_size = vio_cpu_to_le16(100),
				 .csum_start = vio_cpu_to_le16(34),
				 .csum_offset = vio_cpu_to_le16(16) };

	fx->dopts.offloads = VIO_BIT(VIO_NET_F_CSUM) | VIO_BIT(VIO_NET_F_HOST_TSO4);
	nfx_up(fx);
	make_frame(f, sizeof(f), MAC_PEER, MAC_DEV, 4);
	for (unsigned i = 0; i < ARRAY_LEN(types); i++) {
		h.gso_type = types[i];
		tx_frame(fx, 0, &h, f, sizeof(f));
	}
	assert_int_equal(stats0(fx).tx_bad_gso, ARRAY_LEN(types));
	still_works(fx, 0);
}

static void m_frame_too_long(void **state)
{
	struct nfx *fx = *state;
	uint8_t *f = malloc(VIO_NET_FRAME_MAX + 1);

	assert_non_null(f);
	nfx_up(fx);
	make_frame(f, VIO_NET_FRAME_MAX + 1, MAC_PEER, MAC_DEV, 5);
	tx_frame(fx, 0, &zero_hdr, f, VIO_NET_FRAME_MAX + 1);
	assert_int_equal(stats0(fx).tx_bad_size, 1);
	assert_int_equal(port_count(fx), 0);
	tx_frame(fx, 0, &zero_hdr, f, VIO_NET_FRAME_MAX);
	assert_int_equal(port_count(fx), 1);
	assert_int_equal(fx->port.frames[0].f.len, VIO_NET_FRAME_MAX);
	still_works(fx, 1);
	free(f);
}

static void m_frame_too_short(void **state)
{
	struct nfx *fx = *state;
	uint8_t f[14];

	nfx_up(fx);
	make_frame(f, sizeof(f), MAC_PEER, MAC_DEV, 6);
	for (size_t len = 0; len < 14; len++)
		tx_frame(fx, 0, &zero_hdr, f, len);
	assert_int_equal(stats0(fx).tx_bad_size, 14);
	assert_int_equal(port_count(fx), 0);
	tx_frame(fx, 0, &zero_hdr, f, 14);
	still_works(fx, 1);
}

static void m_tx_writable(void **state)
{
	struct nfx *fx = *state;
	uint8_t b[128] = { 0 };
	size_t hl;

	nfx_up(fx);
	hl = hlen(fx);
	make_frame(b + hl, 100, MAC_PEER, MAC_DEV, 7);
	/* Nothing is written to it: used length 0. */
	assert_int_equal(tx_chain(fx, 0, b, hl + 100, NULL, 0, 64), 0);
	assert_int_equal(stats0(fx).tx_writable, 1);
	still_works(fx, 0);
}

/* A receive buffer shorter than the header could never hold a frame: it
 * is given back empty, and the frame goes to the next one. */
static void m_rx_buffer_short_for_header(void **state)
{
	struct nfx *fx = *state;
	uint8_t f[64];
	uint8_t *tiny, *good;
	uint32_t len;
	struct vio_net_pair_stats s;

	nfx_up(fx);
	make_frame(f, sizeof(f), MAC_DEV, MAC_PEER, 8);
	tiny = post_rx1(fx, 0, (uint32_t)hlen(fx) - 1);
	good = post_rx1(fx, 0, 2048);
	assert_int_equal(rx_bytes(fx, 0, f, sizeof(f)), 1);
	assert_ptr_equal(reap(fx, rxq(0), &len), tiny);
	assert_int_equal(len, 0);
	assert_ptr_equal(reap(fx, rxq(0), &len), good);
	assert_int_equal(len, hlen(fx) + sizeof(f));
	pair_stats(fx, 0, &s);
	assert_int_equal(s.rx_bad_buffer, 1);
	assert_int_equal(s.rx_frames, 1);
	assert_false(vio_dev_get_status(&fx->net.dev) & VIO_STATUS_NEEDS_RESET);
}

/* Frames from the port out of bounds, and for a pair that does not exist
 * or is not in use. */
static void m_rx_bad_frames(void **state)
{
	struct nfx *fx = *state;
	uint8_t f[64];
	struct vio_iov iov = { f, 10 };
	struct vio_net_frame fr[3] = {
		{ .len = 13, .iov = &iov, .iovcnt = 1 },
		{ .len = VIO_NET_FRAME_MAX + 1, .iov = &iov, .iovcnt = 1 },
		{ .len = 64, .iov = &iov, .iovcnt = 1 }, /* iovecs hold only 10 */
	};
	struct vio_net_pair_stats s;

	fx->dopts.max_pairs = 2;
	nfx_up(fx);
	make_frame(f, sizeof(f), MAC_DEV, MAC_PEER, 9);
	post_rx1(fx, 0, 2048);
	assert_int_equal(rx_frames(fx, 0, fr, 3), 3);
	pair_stats(fx, 0, &s);
	assert_int_equal(s.rx_bad_frame, 3);
	assert_none_used(fx, rxq(0));
	assert_int_equal(rx_bytes(fx, 2, f, sizeof(f)), -EINVAL);
	/* Pair 1 exists but the driver uses one pair. */
	assert_int_equal(rx_bytes(fx, 1, f, sizeof(f)), 1);
	pair_stats(fx, 1, &s);
	assert_int_equal(s.rx_inactive, 1);
}

/* A port that takes only some frames: the rest are counted. */
static void m_port_refuses(void **state)
{
	struct nfx *fx = *state;
	uint8_t f[64];

	nfx_up(fx);
	fx->port.take = 0;
	make_frame(f, sizeof(f), MAC_PEER, MAC_DEV, 10);
	tx_frame(fx, 0, &zero_hdr, f, sizeof(f));
	assert_int_equal(stats0(fx).tx_port_drops, 1);
	fx->port.take = -1;
	still_works(fx, 0);
}

static const struct named_test tests[] = {
	T(m_chain_short_for_header),
	T(m_csum_beyond_frame),
	T(m_csum_not_negotiated),
	T(m_gso_size_zero),
	T(m_gso_unknown),
	T(m_frame_too_long),
	T(m_frame_too_short),
	T(m_tx_writable),
	T(m_rx_buffer_short_for_header),
	T(m_rx_bad_frames),
	T(m_port_refuses),
};

int main(void)
{
	static const struct nfx_tables t = { .direct = tests, .ndirect = ARRAY_LEN(tests) };

	return nfx_run("lb_net_dev_malformed", &t);
}
