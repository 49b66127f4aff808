/*
 * test_net_dev_offloads.c - the virtio-net device's receive offloads: what
 * the port is told (its offloads op, at DRIVER_OK, on GUEST_OFFLOADS_SET
 * and at reset, and never through a version-1 table), and how checksum
 * and GSO fields from the port reach the driver: carried into its header
 * when the offloads in force allow them; otherwise (the spec's 5.1.6.4,
 * device requirements: a device must not hand a driver a GSO type or
 * NEEDS_CSUM it did not negotiate) finished or cut by the device where it
 * can (the arithmetic is test_net_dev_soft.c's) and dropped and counted
 * where it cannot; dropped as bad when they contradict each other; and a
 * GSO frame too big for a driver's single buffer (no MRG_RXBUF) dropped
 * without touching any buffer.
 *
 * Siblings and the fixture: see net_dev_fixture.h.
 */

#include "net_dev_fixture.h"

#define GCSUM VIO_BIT(VIO_NET_F_GUEST_CSUM)
#define GTSO4 VIO_BIT(VIO_NET_F_GUEST_TSO4)
#define GTSO6 VIO_BIT(VIO_NET_F_GUEST_TSO6)
#define GECN  VIO_BIT(VIO_NET_F_GUEST_ECN)
#define GUFO  VIO_BIT(VIO_NET_F_GUEST_UFO)

static uint8_t set_offloads(struct nfx *fx, uint64_t bits)
{
	const vio_le64 v = vio_cpu_to_le64(bits);

	return ctrl(fx, VIO_NET_CTRL_GUEST_OFFLOADS, VIO_NET_CTRL_GUEST_OFFLOADS_SET, &v, 8);
}

/* A frame of len bytes from f with the given offload fields. */
static struct vio_net_frame frame(struct vio_iov *iov, uint8_t *f, uint32_t len, uint8_t flags,
				  uint8_t gso_type, uint16_t gso_size, uint16_t csum_start,
				  uint16_t csum_offset)
{
	*iov = (struct vio_iov){ f, len };
	return (struct vio_net_frame){
		.flags = flags, .gso_type = gso_type, .hdr_len = (uint16_t)(csum_start + 32),
		.gso_size = gso_size, .csum_start = csum_start, .csum_offset = csum_offset,
		.len = len, .iov = iov, .iovcnt = 1,
	};
}

static void assert_hdr(struct nfx *fx, const uint8_t *buf, const struct vio_net_frame *want,
		       unsigned nbufs)
{
	struct vio_net_hdr h;

	memset(&h, 0, sizeof(h));
	memcpy(&h, buf, hlen(fx));
	assert_int_equal(h.flags, want->flags);
	assert_int_equal(h.gso_type, want->gso_type);
	assert_int_equal(vio_le16_to_cpu(h.hdr_len), want->hdr_len);
	assert_int_equal(vio_le16_to_cpu(h.gso_size), want->gso_size);
	assert_int_equal(vio_le16_to_cpu(h.csum_start), want->csum_start);
	assert_int_equal(vio_le16_to_cpu(h.csum_offset), want->csum_offset);
	if (hlen(fx) >= VIO_NET_HDR_LEN_MRG)
		assert_int_equal(vio_le16_to_cpu(h.num_buffers), nbufs);
}

/* The port hears the negotiated GUEST_* bits once at DRIVER_OK (not the
 * offered ones the driver left, not the HOST_* ones), and 0 at reset;
 * a reset with nothing in force tells it nothing. */
static void port_told_at_driver_ok(void **state)
{
	struct nfx *fx = *state;
	uint64_t last;

	fx->dopts.offloads = VIO_BIT(VIO_NET_F_CSUM) | VIO_BIT(VIO_NET_F_HOST_TSO4) | GCSUM |
			     GTSO4 | GTSO6 | GECN;
	fx->features_off |= GTSO6;
	nfx_up(fx);
	assert_int_equal(port_offloads(fx, &last), 1);
	assert_int_equal(last, GCSUM | GTSO4 | GECN);
	vio_drv_reset(D(fx));
	assert_int_equal(port_offloads(fx, &last), 2);
	assert_int_equal(last, 0);
	vio_drv_reset(D(fx));
	assert_int_equal(port_offloads(fx, NULL), 2);
}

/* No receive offloads negotiated: DRIVER_OK still tells the port (0). */
static void port_told_none(void **state)
{
	struct nfx *fx = *state;
	uint64_t last = 1;

	fx->dopts.offloads = GCSUM | GTSO4;
	fx->features_off |= GCSUM | GTSO4;
	nfx_up(fx);
	assert_int_equal(port_offloads(fx, &last), 1);
	assert_int_equal(last, 0);
}

/* GUEST_OFFLOADS_SET: each accepted change reaches the port; a repeat, a
 * refused command (a bit not negotiated, a bad size) does not. */
static void port_told_on_set(void **state)
{
	struct nfx *fx = *state;
	const vio_le64 v = vio_cpu_to_le64(GCSUM);
	uint64_t last;

	fx->dopts.offloads = GCSUM | GTSO4 | GTSO6;
	nfx_up(fx);
	assert_int_equal(port_offloads(fx, &last), 1);
	assert_int_equal(last, GCSUM | GTSO4 | GTSO6);
	assert_int_equal(set_offloads(fx, GCSUM | GTSO4), VIO_NET_OK);
	assert_int_equal(port_offloads(fx, &last), 2);
	assert_int_equal(last, GCSUM | GTSO4);
	assert_int_equal(set_offloads(fx, GCSUM | GTSO4), VIO_NET_OK);
	assert_int_equal(port_offloads(fx, NULL), 2);
	assert_int_equal(set_offloads(fx, GCSUM | GUFO), VIO_NET_ERR);
	assert_int_equal(ctrl(fx, VIO_NET_CTRL_GUEST_OFFLOADS, VIO_NET_CTRL_GUEST_OFFLOADS_SET, &v, 7),
			 VIO_NET_ERR);
	assert_int_equal(port_offloads(fx, &last), 2);
	assert_int_equal(last, GCSUM | GTSO4);
	assert_int_equal(set_offloads(fx, 0), VIO_NET_OK);
	assert_int_equal(port_offloads(fx, &last), 3);
	assert_int_equal(last, 0);
	/* Nothing in force: the reset has nothing to take back. */
	vio_drv_reset(D(fx));
	assert_int_equal(port_offloads(fx, NULL), 3);
}

/* A port table of version 1 predates the op: never called, even though
 * the table's memory holds a pointer there. */
static void port_v1_not_told(void **state)
{
	struct nfx *fx = *state;

	fx->port_version = 1;
	fx->dopts.offloads = GCSUM | GTSO4;
	nfx_up(fx);
	assert_int_equal(set_offloads(fx, GCSUM), VIO_NET_OK);
	vio_drv_reset(D(fx));
	assert_int_equal(port_offloads(fx, NULL), 0);
}

/* Receives f into buffers posted for it (with MRG_RXBUF 1536-byte ones,
 * else one chain: the header, then 64 KiB in four parts, as Linux's "big
 * packets") and checks what the driver sees: header fields and data. */
static void deliver_and_check(struct nfx *fx, const struct vio_net_frame *f, const uint8_t *data)
{
	const size_t hl = hlen(fx);
	uint8_t *got = malloc(hl + f->len), *bufs[64];
	unsigned k = 1;
	size_t off = 0;
	uint32_t len;

	assert_non_null(got);
	if (fx->row->mrg) {
		k = (unsigned)((hl + f->len + 1535) / 1536);
		assert_true(k <= ARRAY_LEN(bufs));
		for (unsigned i = 0; i < k; i++)
			bufs[i] = post_rx1(fx, 0, 1536);
	} else {
		const uint32_t lens[5] = { (uint32_t)hl, 16384, 16384, 16384, 16384 };

		bufs[0] = post_rx(fx, 0, lens, 5);
	}
	assert_int_equal(rx_frames(fx, 0, f, 1), 1);
	for (unsigned i = 0; i < k; i++) {
		assert_ptr_equal(reap(fx, rxq(0), &len), bufs[i]);
		memcpy(got + off, bufs[i], len);
		off += len;
	}
	assert_int_equal(off, hl + f->len);
	assert_hdr(fx, got, f, k);
	assert_memory_equal(got + hl, data, f->len);
	assert_none_used(fx, rxq(0));
	free(got);
}

/* GSO frames, TCPv4 with ECN and TCPv6, to a driver that took TSO4, TSO6
 * and ECN: each arrives whole with its checksum and GSO fields. */
static void gso_delivered(void **state)
{
	struct nfx *fx = *state;
	const uint32_t n4 = 30000, n6 = 62000;
	uint8_t *f4 = malloc(n4), *f6 = malloc(n6);
	struct vio_iov iov[2];
	struct vio_net_frame fr;
	struct vio_net_pair_stats s;

	assert_non_null(f4);
	assert_non_null(f6);
	fx->dopts.offloads = GCSUM | GTSO4 | GTSO6 | GECN;
	nfx_up(fx);
	make_frame(f4, n4, MAC_DEV, MAC_PEER, 21);
	make_frame(f6, n6, MAC_DEV, MAC_PEER, 22);
	f6[12] = 0x86, f6[13] = 0xdd;
	fr = frame(&iov[0], f4, n4, VIO_NET_HDR_F_NEEDS_CSUM,
		   VIO_NET_HDR_GSO_TCPV4 | VIO_NET_HDR_GSO_ECN, 1448, 34, 16);
	deliver_and_check(fx, &fr, f4);
	fr = frame(&iov[1], f6, n6, VIO_NET_HDR_F_NEEDS_CSUM, VIO_NET_HDR_GSO_TCPV6, 1428, 54, 16);
	deliver_and_check(fx, &fr, f6);
	pair_stats(fx, 0, &s);
	assert_int_equal(s.rx_frames, 2);
	assert_int_equal(s.rx_bytes, n4 + n6);
	assert_int_equal(s.rx_gso, 2);
	assert_int_equal(s.rx_csum, 2);
	assert_int_equal(s.rx_offload + s.rx_too_big + s.rx_bad_frame, 0);
	free(f4);
	free(f6);
}

/* A partial checksum alone (no GSO) with GUEST_CSUM: delivered as is. */
static void csum_delivered(void **state)
{
	struct nfx *fx = *state;
	uint8_t f[300];
	struct vio_iov iov;
	struct vio_net_frame fr;
	struct vio_net_pair_stats s;

	fx->dopts.offloads = GCSUM;
	nfx_up(fx);
	make_frame(f, sizeof(f), MAC_DEV, MAC_PEER, 23);
	fr = frame(&iov, f, sizeof(f), VIO_NET_HDR_F_NEEDS_CSUM, VIO_NET_HDR_GSO_NONE, 0, 34, 6);
	deliver_and_check(fx, &fr, f);
	pair_stats(fx, 0, &s);
	assert_int_equal(s.rx_csum, 1);
	assert_int_equal(s.rx_gso, 0);
}

/* Posts one buffer big enough for anything (so only the offload rules can
 * refuse a frame). */
static uint8_t *post_big(struct nfx *fx)
{
	const uint32_t lens[2] = { (uint32_t)hlen(fx), 65536 };

	return post_rx(fx, 0, lens, 2);
}

/* GSO types the driver did not take, or has turned off, on frames the
 * device cannot cut either (make_frame's pattern has no TCP header): each
 * is consumed, counted in rx_offload, and the buffer waits untouched for a
 * frame the driver does take. */
static void gso_refused(void **state)
{
	struct nfx *fx = *state;
	const uint32_t n = 20000;
	uint8_t *f = malloc(n), *buf;
	struct vio_iov iov;
	struct vio_net_frame v4, v6ecn, v6;
	struct vio_net_pair_stats s;
	uint32_t len;

	assert_non_null(f);
	fx->dopts.offloads = GCSUM | GTSO4 | GTSO6 | GECN;
	fx->features_off |= GTSO4 | GECN;
	nfx_up(fx);
	make_frame(f, n, MAC_DEV, MAC_PEER, 24);
	v4 = frame(&iov, f, n, VIO_NET_HDR_F_NEEDS_CSUM, VIO_NET_HDR_GSO_TCPV4, 1448, 34, 16);
	v6ecn = v4;
	v6ecn.gso_type = VIO_NET_HDR_GSO_TCPV6 | VIO_NET_HDR_GSO_ECN;
	v6 = v4;
	v6.gso_type = VIO_NET_HDR_GSO_TCPV6;
	buf = post_big(fx);
	assert_int_equal(rx_frames(fx, 0, &v4, 1), 1);
	assert_int_equal(rx_frames(fx, 0, &v6ecn, 1), 1);
	assert_none_used(fx, rxq(0));
	pair_stats(fx, 0, &s);
	assert_int_equal(s.rx_offload, 2);
	assert_int_equal(s.rx_frames + s.rx_gso, 0);
	/* TSO6 without ECN was negotiated: that one goes, into the buffer. */
	assert_int_equal(rx_frames(fx, 0, &v6, 1), 1);
	assert_ptr_equal(reap(fx, rxq(0), &len), buf);
	assert_int_equal(len, hlen(fx) + n);
	assert_hdr(fx, buf, &v6, 1);
	assert_memory_equal(buf + hlen(fx), f, n);
	/* The driver turns TSO6 off: refused again. */
	assert_int_equal(set_offloads(fx, GCSUM), VIO_NET_OK);
	post_big(fx);
	assert_int_equal(rx_frames(fx, 0, &v6, 1), 1);
	assert_none_used(fx, rxq(0));
	pair_stats(fx, 0, &s);
	assert_int_equal(s.rx_offload, 3);
	assert_int_equal(s.rx_gso, 1);
	free(f);
}

/* Without GUEST_CSUM a partial checksum is finished by the device: the
 * frame arrives with flags 0 and only its two checksum bytes changed. */
static void csum_finished_without_guest_csum(void **state)
{
	struct nfx *fx = *state;
	uint8_t f[200], *buf;
	struct vio_iov iov;
	struct vio_net_frame fr, plain;
	struct vio_net_pair_stats s;
	uint32_t len;

	fx->dopts.offloads = GCSUM;
	fx->features_off |= GCSUM;
	nfx_up(fx);
	make_frame(f, sizeof(f), MAC_DEV, MAC_PEER, 25);
	fr = frame(&iov, f, sizeof(f), VIO_NET_HDR_F_NEEDS_CSUM, VIO_NET_HDR_GSO_NONE, 0, 34, 6);
	plain = frame(&iov, f, sizeof(f), 0, VIO_NET_HDR_GSO_NONE, 0, 0, 0);
	plain.hdr_len = 0;
	buf = post_rx1(fx, 0, 2048);
	assert_int_equal(rx_frames(fx, 0, &fr, 1), 1);
	assert_ptr_equal(reap(fx, rxq(0), &len), buf);
	assert_int_equal(len, hlen(fx) + sizeof(f));
	assert_hdr(fx, buf, &plain, 1);
	assert_memory_equal(buf + hlen(fx), f, 40);
	assert_memory_equal(buf + hlen(fx) + 42, f + 42, sizeof(f) - 42);
	pair_stats(fx, 0, &s);
	assert_int_equal(s.rx_offload, 0);
	assert_int_equal(s.rx_frames, 1);
	assert_int_equal(s.rx_csum, 0);
	assert_int_equal(s.rx_soft_csum, 1);
}

/* A 20000-byte GSO frame against 2 KiB buffers. Without MRG_RXBUF no
 * single buffer can hold it: dropped and counted, no buffer used or
 * written, and the next frame lands whole in the first. With MRG_RXBUF
 * four buffers are too few: it stays the caller's until more come. */
static void gso_small_buffers(void **state)
{
	struct nfx *fx = *state;
	const uint32_t n = 20000;
	uint8_t *f = malloc(n), small[100], *bufs[16];
	struct vio_iov iov, siov;
	struct vio_net_frame fr, sfr;
	struct vio_net_pair_stats s;
	uint32_t len;
	size_t hl;

	assert_non_null(f);
	fx->dopts.offloads = GCSUM | GTSO4;
	nfx_up(fx);
	hl = hlen(fx);
	make_frame(f, n, MAC_DEV, MAC_PEER, 26);
	make_frame(small, sizeof(small), MAC_DEV, MAC_PEER, 27);
	fr = frame(&iov, f, n, VIO_NET_HDR_F_NEEDS_CSUM, VIO_NET_HDR_GSO_TCPV4, 1448, 34, 16);
	sfr = frame(&siov, small, sizeof(small), 0, VIO_NET_HDR_GSO_NONE, 0, 0, 0);
	sfr.hdr_len = 0;
	for (unsigned i = 0; i < 4; i++)
		bufs[i] = post_rx1(fx, 0, 2048);
	if (!fx->row->mrg) {
		assert_int_equal(rx_frames(fx, 0, &fr, 1), 1);
		assert_none_used(fx, rxq(0));
		pair_stats(fx, 0, &s);
		assert_int_equal(s.rx_too_big, 1);
		assert_int_equal(s.rx_frames + s.rx_gso, 0);
		for (unsigned i = 0; i < 4; i++)
			for (unsigned b = 0; b < 2048; b++)
				assert_int_equal(bufs[i][b], 0xee);
		assert_int_equal(rx_frames(fx, 0, &sfr, 1), 1);
		assert_ptr_equal(reap(fx, rxq(0), &len), bufs[0]);
		assert_int_equal(len, hl + sizeof(small));
		assert_hdr(fx, bufs[0], &sfr, 1);
		assert_memory_equal(bufs[0] + hl, small, sizeof(small));
		assert_none_used(fx, rxq(0));
	} else {
		const unsigned k = (unsigned)((hl + n + 2047) / 2048);
		uint8_t *got = malloc(hl + n);
		size_t off = 0;

		assert_non_null(got);
		assert_int_equal(rx_frames(fx, 0, &fr, 1), 0);
		assert_none_used(fx, rxq(0));
		pair_stats(fx, 0, &s);
		assert_int_equal(s.rx_no_room, 1);
		for (unsigned i = 4; i < k; i++)
			bufs[i] = post_rx1(fx, 0, 2048);
		assert_int_equal(rx_frames(fx, 0, &fr, 1), 1);
		for (unsigned i = 0; i < k; i++) {
			assert_ptr_equal(reap(fx, rxq(0), &len), bufs[i]);
			memcpy(got + off, bufs[i], len);
			off += len;
		}
		assert_int_equal(off, hl + n);
		assert_hdr(fx, got, &fr, k);
		assert_memory_equal(got + hl, f, n);
		free(got);
	}
	free(f);
}

/* Fields that contradict each other, from the port: a GSO frame without
 * NEEDS_CSUM (the spec's device must set it), a GSO frame with segment
 * size 0, a checksum to store past the frame's end. Each is consumed and
 * counted as bad, and never reaches the driver. */
static void bad_fields_from_port(void **state)
{
	struct nfx *fx = *state;
	uint8_t f[1000], *buf;
	struct vio_iov iov;
	struct vio_net_frame bad[3], good;
	struct vio_net_pair_stats s;
	uint32_t len;

	fx->dopts.offloads = GCSUM | GTSO4 | GTSO6 | GECN;
	nfx_up(fx);
	make_frame(f, sizeof(f), MAC_DEV, MAC_PEER, 28);
	bad[0] = frame(&iov, f, sizeof(f), 0, VIO_NET_HDR_GSO_TCPV4, 500, 34, 16);
	bad[1] = frame(&iov, f, sizeof(f), VIO_NET_HDR_F_NEEDS_CSUM, VIO_NET_HDR_GSO_TCPV4, 0, 34, 16);
	bad[2] = frame(&iov, f, sizeof(f), VIO_NET_HDR_F_NEEDS_CSUM, VIO_NET_HDR_GSO_NONE, 0, 990, 9);
	good = bad[2];
	good.csum_offset = 8;   /* 990 + 8 + 2: just inside */
	buf = post_rx1(fx, 0, 2048);
	assert_int_equal(rx_frames(fx, 0, bad, 3), 3);
	assert_none_used(fx, rxq(0));
	pair_stats(fx, 0, &s);
	assert_int_equal(s.rx_bad_frame, 3);
	assert_int_equal(s.rx_frames, 0);
	assert_int_equal(rx_frames(fx, 0, &good, 1), 1);
	assert_ptr_equal(reap(fx, rxq(0), &len), buf);
	assert_hdr(fx, buf, &good, 1);
}

static const struct named_test tests[] = {
	T(port_told_at_driver_ok),
	T(port_told_none),
	T(port_told_on_set),
	T(port_v1_not_told),
	T(gso_delivered),
	T(csum_delivered),
	T(gso_refused),
	T(csum_finished_without_guest_csum),
	T(gso_small_buffers),
	T(bad_fields_from_port),
};

static const struct named_test threaded[] = {
	T(port_told_on_set),
	T(gso_delivered),
	T(gso_small_buffers),
};

int main(void)
{
	static const struct nfx_tables t = {
		.direct = tests, .ndirect = ARRAY_LEN(tests),
		.threaded = threaded, .nthreaded = ARRAY_LEN(threaded),
	};

	return nfx_run("lb_net_dev_offloads", &t);
}
