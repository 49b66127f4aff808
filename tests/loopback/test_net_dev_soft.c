/*
 * test_net_dev_soft.c - receive offloads the device does itself for a
 * driver that did not negotiate them (src/devices/net_offload.c): a
 * checksum left to finish (NEEDS_CSUM without GUEST_CSUM) and TCP
 * segments larger than the MTU (GSO TCPV4/TCPV6 without GUEST_TSO4/6).
 *
 * The frames come from the port as a switch would forward them from a
 * driver with CSUM and HOST_TSO; the raw driver here takes no GUEST_*
 * feature (the device offers none), so every one of them goes through
 * the software path. Each segment is checked byte by byte: headers,
 * lengths, IPv4 ids, sequence numbers, TCP flags, both checksums and the
 * payload slice. A GSO frame is delivered whole or not at all. Headers
 * that cannot be cut by (each case its own test) are dropped and counted;
 * offload fields that contradict each other are test_net_dev_offloads.c's.
 *
 * Siblings: test_net_dev_data.c, test_net_dev_malformed.c,
 * test_net_dev_ctrl.c; the matrix and fixture are net_dev_fixture.{c,h}.
 */

#include "net_dev_fixture.h"
#include "tcpip.h"

/* A TCP frame from the peer to the device (tcpip.h). */
static size_t tcp_frame(uint8_t *f, bool v6, size_t pay, unsigned seed, uint8_t flags)
{
	return vt_tcp_frame(f, MAC_DEV, MAC_PEER, v6, pay, seed, flags);
}

static struct vio_net_frame gso_frame(const struct vio_iov *iov, bool v6, uint16_t mss)
{
	return (struct vio_net_frame){
		.flags = VIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = v6 ? VIO_NET_HDR_GSO_TCPV6 : VIO_NET_HDR_GSO_TCPV4,
		.gso_size = mss,
		.hdr_len = v6 ? 74 : 54,
		.csum_start = v6 ? 54 : 34,
		.csum_offset = 16,
		.len = (uint32_t)iov->len,
		.iov = iov,
		.iovcnt = 1,
	};
}

/* The header the driver got: no offload flags, no GSO, nbufs buffers. */
static void check_plain_hdr(struct nfx *fx, const uint8_t *buf, unsigned nbufs)
{
	struct vio_net_hdr h;

	memset(&h, 0, sizeof(h));
	memcpy(&h, buf, hlen(fx));
	assert_int_equal(h.flags, 0);
	assert_int_equal(h.gso_type, VIO_NET_HDR_GSO_NONE);
	if (hlen(fx) >= VIO_NET_HDR_LEN_MRG)
		assert_int_equal(vio_le16_to_cpu(h.num_buffers), nbufs);
}

/* Segment i (m payload bytes) of template f against what arrived. */
static void check_segment(const uint8_t *seg, const uint8_t *f, bool v6, unsigned i,
			  unsigned nseg, size_t mss, size_t m)
{
	const size_t l4 = v6 ? 54 : 34;
	const uint8_t *ip = seg + 14, *tcp = seg + l4;
	uint8_t want_flags = f[l4 + 13];

	assert_memory_equal(seg, f, 14);
	if (v6) {
		assert_int_equal(vt_get16(ip + 4), 20 + m);
		assert_memory_equal(ip + 6, f + 14 + 6, 34);
	} else {
		assert_int_equal(vt_get16(ip + 2), 40 + m);
		assert_int_equal(vt_get16(ip + 4), (VT_IP_ID0 + i) & 0xffff);
		assert_int_equal(vt_sum(0, ip, 20), 0xffff);       /* header checksum */
		assert_memory_equal(ip + 12, f + 14 + 12, 8);
	}
	assert_int_equal(vt_get32(tcp + 4), VT_TCP_SEQ0 + i * mss);
	if (i + 1 < nseg)
		want_flags &= (uint8_t)~(VT_TCP_FIN | VT_TCP_PSH);
	if (i > 0)
		want_flags &= (uint8_t)~VT_TCP_CWR;
	assert_int_equal(tcp[13], want_flags);
	assert_int_equal(vt_sum(vt_pseudo(ip, v6, 20 + m), tcp, 20 + m), 0xffff);
	assert_memory_equal(tcp + 20, f + l4 + 20 + i * mss, m);
}

/* A frame whose checksum is left to finish: finished, flag cleared. */
static void soft_csum(void **state)
{
	struct nfx *fx = *state;
	uint8_t f[34 + 20 + 301], *buf;
	const size_t len = tcp_frame(f, false, 301, 1, VT_TCP_ACK | VT_TCP_PSH);
	const struct vio_iov iov = { f, len };
	const struct vio_net_frame fr = { .flags = VIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34,
					  .csum_offset = 16, .len = (uint32_t)len, .iov = &iov,
					  .iovcnt = 1 };
	struct vio_net_pair_stats s;
	uint32_t used;

	nfx_up(fx);
	buf = post_rx1(fx, 0, 2048);
	assert_int_equal(rx_frames(fx, 0, &fr, 1), 1);
	assert_ptr_equal(reap(fx, rxq(0), &used), buf);
	assert_int_equal(used, hlen(fx) + len);
	check_plain_hdr(fx, buf, 1);
	buf += hlen(fx);
	assert_int_equal(vt_sum(vt_pseudo(buf + 14, false, 20 + 301), buf + 34, 20 + 301), 0xffff);
	/* Only the checksum field changed. */
	assert_memory_equal(buf, f, 34 + 16);
	assert_memory_equal(buf + 34 + 18, f + 34 + 18, len - 34 - 18);
	pair_stats(fx, 0, &s);
	assert_int_equal(s.rx_soft_csum, 1);
	assert_int_equal(s.rx_frames, 1);
	assert_int_equal(s.rx_offload, 0);
	/* The caller's frame is untouched. */
	assert_int_equal(vt_get16(f + 34 + 16), vt_pseudo(f + 14, false, 20 + 301));
}

static void soft_tso(struct nfx *fx, bool v6, size_t pay, uint16_t mss)
{
	static uint8_t f[74 + 8000];
	const size_t len = tcp_frame(f, v6, pay, 3, VT_TCP_ACK | VT_TCP_PSH | VT_TCP_FIN | VT_TCP_CWR);
	const struct vio_iov iov = { f, len };
	const struct vio_net_frame fr = gso_frame(&iov, v6, mss);
	const unsigned nseg = (unsigned)((pay + mss - 1) / mss);
	const size_t hl = (nfx_up(fx), hlen(fx));
	uint8_t *buf[8];
	struct vio_net_pair_stats s;

	assert_true(nseg <= 8);
	for (unsigned i = 0; i < nseg; i++)
		buf[i] = post_rx1(fx, 0, 2048);
	assert_int_equal(rx_frames(fx, 0, &fr, 1), 1);
	for (unsigned i = 0; i < nseg; i++) {
		const size_t m = i + 1 < nseg ? mss : pay - (size_t)i * mss;
		uint32_t used;

		assert_ptr_equal(reap(fx, rxq(0), &used), buf[i]);
		assert_int_equal(used, hl + (v6 ? 74 : 54) + m);
		check_plain_hdr(fx, buf[i], 1);
		check_segment(buf[i] + hl, f, v6, i, nseg, mss, m);
	}
	assert_none_used(fx, rxq(0));
	pair_stats(fx, 0, &s);
	assert_int_equal(s.rx_soft_gso, 1);
	assert_int_equal(s.rx_soft_segments, nseg);
	assert_int_equal(s.rx_frames, nseg);
	assert_int_equal(s.rx_offload + s.rx_too_big, 0);
}

/* 4000 bytes at MSS 1448: 1448, 1448, 1104, each with its own headers. */
static void soft_tso4(void **state)
{
	soft_tso(*state, false, 4000, 1448);
}

static void soft_tso6(void **state)
{
	soft_tso(*state, true, 3000, 1400);
}

/* The payload a whole number of segments long; and one segment only. */
static void soft_tso4_even(void **state)
{
	soft_tso(*state, false, 2 * 1000, 1000);
}

static void soft_tso4_one_segment(void **state)
{
	soft_tso(*state, false, 500, 1448);
}

/* Buffers for two of three segments: nothing is written, the frame stays
 * the caller's; with the third posted, all three go in order. */
static void soft_tso_all_or_nothing(void **state)
{
	struct nfx *fx = *state;
	static uint8_t f[54 + 4000];
	const size_t len = tcp_frame(f, false, 4000, 4, VT_TCP_ACK);
	const struct vio_iov iov = { f, len };
	const struct vio_net_frame fr = gso_frame(&iov, false, 1448);
	struct vio_net_pair_stats s;
	uint8_t *buf[3];
	uint32_t used;

	nfx_up(fx);
	buf[0] = post_rx1(fx, 0, 2048);
	buf[1] = post_rx1(fx, 0, 2048);
	assert_int_equal(rx_frames(fx, 0, &fr, 1), 0);
	assert_none_used(fx, rxq(0));
	pair_stats(fx, 0, &s);
	assert_true(s.rx_no_room >= 1);
	assert_int_equal(s.rx_frames, 0);
	buf[2] = post_rx1(fx, 0, 2048);
	assert_int_equal(rx_frames(fx, 0, &fr, 1), 1);
	for (unsigned i = 0; i < 3; i++) {
		assert_ptr_equal(reap(fx, rxq(0), &used), buf[i]);
		check_segment(buf[i] + hlen(fx), f, false, i, 3, 1448, i < 2 ? 1448 : 4000 - 2896);
	}
	pair_stats(fx, 0, &s);
	assert_int_equal(s.rx_soft_segments, 3);
}

/* A buffer too short for the header among them: given back empty, as
 * for any frame, and the segments take the next ones. */
static void soft_tso_short_buffer(void **state)
{
	struct nfx *fx = *state;
	static uint8_t f[54 + 4000];
	const size_t len = tcp_frame(f, false, 4000, 10, VT_TCP_ACK);
	const struct vio_iov iov = { f, len };
	const struct vio_net_frame fr = gso_frame(&iov, false, 1448);
	struct vio_net_pair_stats s;
	uint8_t *shortbuf, *buf[3];
	uint32_t used;

	nfx_up(fx);
	buf[0] = post_rx1(fx, 0, 2048);
	shortbuf = post_rx1(fx, 0, 4);
	buf[1] = post_rx1(fx, 0, 2048);
	buf[2] = post_rx1(fx, 0, 2048);
	assert_int_equal(rx_frames(fx, 0, &fr, 1), 1);
	assert_ptr_equal(reap(fx, rxq(0), &used), buf[0]);
	assert_ptr_equal(reap(fx, rxq(0), &used), shortbuf);
	assert_int_equal(used, 0);
	for (unsigned i = 1; i < 3; i++) {
		assert_ptr_equal(reap(fx, rxq(0), &used), buf[i]);
		check_segment(buf[i] + hlen(fx), f, false, i, 3, 1448, i < 2 ? 1448 : 4000 - 2896);
	}
	pair_stats(fx, 0, &s);
	assert_int_equal(s.rx_bad_buffer, 1);
	assert_int_equal(s.rx_soft_segments, 3);
}

/* Buffers of 1000 bytes: with MRG_RXBUF each segment takes two; without,
 * no segment fits one and the frame is dropped as too big, its buffers
 * left for the next frame. */
static void soft_tso_small_buffers(void **state)
{
	struct nfx *fx = *state;
	static uint8_t f[54 + 4000];
	const size_t len = tcp_frame(f, false, 4000, 5, VT_TCP_ACK);
	const struct vio_iov iov = { f, len };
	const struct vio_net_frame fr = gso_frame(&iov, false, 1448);
	struct vio_net_pair_stats s;
	uint8_t *buf[6], small[60];
	uint32_t used;

	nfx_up(fx);
	for (unsigned i = 0; i < 6; i++)
		buf[i] = post_rx1(fx, 0, 1000);
	assert_int_equal(rx_frames(fx, 0, &fr, 1), 1);
	pair_stats(fx, 0, &s);
	if (!fx->row->mrg) {
		assert_int_equal(s.rx_too_big, 1);
		assert_none_used(fx, rxq(0));
		make_frame(small, sizeof(small), MAC_DEV, MAC_PEER, 6);
		assert_int_equal(rx_bytes(fx, 0, small, sizeof(small)), 1);
		assert_ptr_equal(reap(fx, rxq(0), &used), buf[0]);
		assert_int_equal(used, hlen(fx) + sizeof(small));
		return;
	}
	assert_int_equal(s.rx_soft_segments, 3);
	for (unsigned i = 0; i < 3; i++) {
		const size_t m = i < 2 ? 1448 : 4000 - 2896;
		uint8_t seg[54 + 1448];

		assert_ptr_equal(reap(fx, rxq(0), &used), buf[2 * i]);
		assert_int_equal(used, 1000);
		check_plain_hdr(fx, buf[2 * i], 2);
		memcpy(seg, buf[2 * i] + hlen(fx), 1000 - hlen(fx));
		assert_ptr_equal(reap(fx, rxq(0), &used), buf[2 * i + 1]);
		assert_int_equal(used, hlen(fx) + 54 + m - 1000);
		memcpy(seg + 1000 - hlen(fx), buf[2 * i + 1], used);
		check_segment(seg, f, false, i, 3, 1448, m);
	}
}

/* MSS 1 on 4000 bytes: more segments than the pair could ever hold at
 * once. Dropped as too big, never left waiting for buffers. */
static void soft_tso_too_many_segments(void **state)
{
	struct nfx *fx = *state;
	static uint8_t f[54 + 4000];
	const size_t len = tcp_frame(f, false, 4000, 7, VT_TCP_ACK);
	const struct vio_iov iov = { f, len };
	const struct vio_net_frame fr = gso_frame(&iov, false, 1);
	struct vio_net_pair_stats s;

	nfx_up(fx);
	for (unsigned i = 0; i < 8; i++)
		post_rx1(fx, 0, 2048);
	/* The ring keeps refilling: post more than the pair keeps. */
	for (unsigned i = 0; i < 4 && rx_frames(fx, 0, &fr, 1) == 0; i++)
		for (unsigned k = 0; k < 64; k++)
			post_rx1(fx, 0, 64);
	pair_stats(fx, 0, &s);
	assert_int_equal(s.rx_too_big, 1);
	assert_int_equal(s.rx_frames, 0);
	assert_none_used(fx, rxq(0));
}

/* A driver that took GUEST_CSUM and GUEST_TSO4 gets the frame as it is. */
static void tso_negotiated_passes(void **state)
{
	struct nfx *fx = *state;
	static uint8_t f[54 + 4000];
	const size_t len = tcp_frame(f, false, 4000, 8, VT_TCP_ACK);
	const struct vio_iov iov = { f, len };
	const struct vio_net_frame fr = gso_frame(&iov, false, 1448);
	struct vio_net_pair_stats s;
	struct vio_net_hdr h;
	uint8_t *buf;
	uint32_t used;

	fx->dopts.offloads = VIO_BIT(VIO_NET_F_GUEST_CSUM) | VIO_BIT(VIO_NET_F_GUEST_TSO4);
	nfx_up(fx);
	buf = post_rx1(fx, 0, 8192);
	assert_int_equal(rx_frames(fx, 0, &fr, 1), 1);
	assert_ptr_equal(reap(fx, rxq(0), &used), buf);
	assert_int_equal(used, hlen(fx) + len);
	memset(&h, 0, sizeof(h));
	memcpy(&h, buf, hlen(fx));
	assert_int_equal(h.flags, VIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(h.gso_type, VIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(vio_le16_to_cpu(h.gso_size), 1448);
	assert_memory_equal(buf + hlen(fx), f, len);
	pair_stats(fx, 0, &s);
	assert_int_equal(s.rx_soft_gso + s.rx_soft_csum, 0);
}

/* Headers the device cannot cut by: dropped, counted, nothing used. */
static void expect_offload_drop(struct nfx *fx, const struct vio_net_frame *fr)
{
	struct vio_net_pair_stats s;

	post_rx1(fx, 0, 2048);
	assert_int_equal(rx_frames(fx, 0, fr, 1), 1);
	assert_none_used(fx, rxq(0));
	pair_stats(fx, 0, &s);
	assert_int_equal(s.rx_offload, 1);
	assert_int_equal(s.rx_frames + s.rx_soft_gso, 0);
}

static uint8_t bad[74 + 3000];

static void bad_tso4_on_ipv6(void **state)
{
	const size_t len = tcp_frame(bad, true, 3000, 9, VT_TCP_ACK);
	const struct vio_iov iov = { bad, len };
	const struct vio_net_frame fr = gso_frame(&iov, false, 1000);

	nfx_up(*state);
	expect_offload_drop(*state, &fr);
}

static void bad_tso6_extension_header(void **state)
{
	const size_t len = tcp_frame(bad, true, 3000, 9, VT_TCP_ACK);
	const struct vio_iov iov = { bad, len };
	const struct vio_net_frame fr = gso_frame(&iov, true, 1000);

	bad[14 + 6] = 0;        /* hop-by-hop options next */
	nfx_up(*state);
	expect_offload_drop(*state, &fr);
}

static void bad_tso4_fragment(void **state)
{
	const size_t len = tcp_frame(bad, false, 3000, 9, VT_TCP_ACK);
	const struct vio_iov iov = { bad, len };
	const struct vio_net_frame fr = gso_frame(&iov, false, 1000);

	vt_put16(bad + 14 + 6, 0x2000);    /* more fragments */
	nfx_up(*state);
	expect_offload_drop(*state, &fr);
}

static void bad_tso4_not_tcp(void **state)
{
	const size_t len = tcp_frame(bad, false, 3000, 9, VT_TCP_ACK);
	const struct vio_iov iov = { bad, len };
	const struct vio_net_frame fr = gso_frame(&iov, false, 1000);

	bad[14 + 9] = 17;
	nfx_up(*state);
	expect_offload_drop(*state, &fr);
}

static void bad_tso4_short_ihl(void **state)
{
	const size_t len = tcp_frame(bad, false, 3000, 9, VT_TCP_ACK);
	const struct vio_iov iov = { bad, len };
	const struct vio_net_frame fr = gso_frame(&iov, false, 1000);

	bad[14] = 0x44;
	nfx_up(*state);
	expect_offload_drop(*state, &fr);
}

static void bad_tso4_short_tcp_offset(void **state)
{
	const size_t len = tcp_frame(bad, false, 3000, 9, VT_TCP_ACK);
	const struct vio_iov iov = { bad, len };
	const struct vio_net_frame fr = gso_frame(&iov, false, 1000);

	bad[34 + 12] = 4 << 4;
	nfx_up(*state);
	expect_offload_drop(*state, &fr);
}

/* TCP options said to run past the end of the frame. */
static void bad_tso4_headers_past_end(void **state)
{
	const size_t len = tcp_frame(bad, false, 0, 9, VT_TCP_ACK);
	const struct vio_iov iov = { bad, len };
	const struct vio_net_frame fr = gso_frame(&iov, false, 1000);

	bad[34 + 12] = 6 << 4;
	nfx_up(*state);
	expect_offload_drop(*state, &fr);
}

/* The IP header cut off by the frame's end. */
static void bad_tso4_cut_ip_header(void **state)
{
	const struct vio_iov iov = { bad, 30 };
	struct vio_net_frame fr = gso_frame(&iov, false, 1000);

	tcp_frame(bad, false, 0, 9, VT_TCP_ACK);
	fr.len = 30;
	fr.csum_start = 14;     /* inside the frame, or it is a bad frame */
	fr.csum_offset = 10;
	nfx_up(*state);
	expect_offload_drop(*state, &fr);
}

/* UDP fragmentation offload is not done in software. */
static void bad_gso_udp(void **state)
{
	const size_t len = tcp_frame(bad, false, 3000, 9, VT_TCP_ACK);
	const struct vio_iov iov = { bad, len };
	struct vio_net_frame fr = gso_frame(&iov, false, 1000);

	bad[14 + 9] = 17;
	fr.gso_type = VIO_NET_HDR_GSO_UDP;
	nfx_up(*state);
	expect_offload_drop(*state, &fr);
}

static const struct named_test tests[] = {
	T(soft_csum),
	T(soft_tso4),
	T(soft_tso6),
	T(soft_tso4_even),
	T(soft_tso4_one_segment),
	T(soft_tso_all_or_nothing),
	T(soft_tso_short_buffer),
	T(soft_tso_small_buffers),
	T(soft_tso_too_many_segments),
	T(tso_negotiated_passes),
	T(bad_tso4_on_ipv6),
	T(bad_tso6_extension_header),
	T(bad_tso4_fragment),
	T(bad_tso4_not_tcp),
	T(bad_tso4_short_ihl),
	T(bad_tso4_short_tcp_offset),
	T(bad_tso4_headers_past_end),
	T(bad_tso4_cut_ip_header),
	T(bad_gso_udp),
};

static const struct named_test threaded[] = {
	T(soft_tso4),
	T(soft_tso_all_or_nothing),
};

int main(void)
{
	static const struct nfx_tables t = {
		.direct = tests, .ndirect = ARRAY_LEN(tests),
		.threaded = threaded, .nthreaded = ARRAY_LEN(threaded),
	};

	return nfx_run("lb_net_dev_soft", &t);
}
