/*
 * net_offload.c - the receive offloads done in software, for a driver that
 * did not take the one a frame needs.
 *
 * A port may hand the device a frame whose checksum is still to be
 * finished (NEEDS_CSUM) or a TCP segment larger than the MTU to be cut
 * (GSO): a switch forwarding what one guest sent with CSUM and HOST_TSO4
 * to a guest that negotiated neither GUEST_CSUM nor GUEST_TSO4. Such a
 * frame cannot be given to that driver as it is (5.1.6.4: the device must
 * not set NEEDS_CSUM or a gso_type the driver did not negotiate), so
 * net.c calls these to do the work here:
 *
 *   vio__net_csum_finish()  the one's-complement sum of [csum_start, end),
 *                           the field at csum_offset included (it holds the
 *                           pseudo-header's sum), stored complemented there;
 *   vio__net_gso_parse()    finds the Ethernet (up to two VLAN tags), IPv4
 *                           or IPv6 and TCP headers by reading them, never
 *                           trusting hdr_len, and refuses anything else
 *                           (UDP fragmentation offload, IPv6 extension
 *                           headers, IPv4 fragments, headers past the end);
 *   vio__net_gso_segment()  writes one segment's headers: IP lengths, the
 *                           IPv4 id (one more per segment) and header
 *                           checksum, the TCP sequence number, FIN and PSH
 *                           only on the last segment, CWR only on the
 *                           first, and the TCP checksum over pseudo-header,
 *                           header and that segment's payload.
 *
 * Everything works on a linear copy of the frame (the caller's scratch)
 * and checks each offset against the length it was given.
 */
#include "net_priv.h"

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* Adds n bytes as big-endian 16-bit words (an odd last byte padded with
 * zero). Only the last piece of a sum may have an odd length. */
static uint64_t csum_add(uint64_t s, const uint8_t *p, size_t n)
{
	for (; n > 1; p += 2, n -= 2)
		s += get16(p);
	if (n)
		s += (uint32_t)p[0] << 8;
	return s;
}

/* The complemented 16-bit one's-complement sum. */
static uint16_t csum_fold(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

bool vio__net_csum_finish(uint8_t *buf, size_t len, size_t start, size_t off)
{
	if (start > len || off > len - start || len - start - off < 2)
		return false;
	put16(buf + start + off, csum_fold(csum_add(0, buf + start, len - start)));
	return true;
}

#define ETH_P_IPV4  0x0800
#define ETH_P_IPV6  0x86dd
#define ETH_P_VLAN  0x8100
#define ETH_P_QINQ  0x88a8
#define IPPROTO_TCP_ 6u
#define TCP_FIN 0x01u
#define TCP_PSH 0x08u
#define TCP_CWR 0x80u

int vio__net_gso_parse(const uint8_t *b, size_t len, uint8_t gso_type, uint16_t gso_size,
		       struct vio__net_gso *g)
{
	size_t l3 = VIO_NET_ETH_HLEN, l4, doff;
	uint16_t et;

	if (len < VIO_NET_ETH_HLEN || gso_size == 0)
		return -EINVAL;
	et = get16(b + 12);
	for (int tags = 0; tags < 2 && (et == ETH_P_VLAN || et == ETH_P_QINQ); tags++) {
		if (len < l3 + 4)
			return -EINVAL;
		et = get16(b + l3 + 2);
		l3 += 4;
	}
	switch (gso_type & ~VIO_NET_HDR_GSO_ECN) {
	case VIO_NET_HDR_GSO_TCPV4:
		/* version 4, no options past the frame, TCP, not a fragment */
		if (et != ETH_P_IPV4 || len < l3 + 20 || b[l3] >> 4 != 4 || (b[l3] & 15) < 5 ||
		    b[l3 + 9] != IPPROTO_TCP_ || (get16(b + l3 + 6) & 0x3fff))
			return -EINVAL;
		l4 = l3 + (size_t)(b[l3] & 15) * 4;
		g->v6 = false;
		break;
	case VIO_NET_HDR_GSO_TCPV6:
		/* TCP right after the fixed header: no extension headers */
		if (et != ETH_P_IPV6 || len < l3 + 40 || b[l3] >> 4 != 6 || b[l3 + 6] != IPPROTO_TCP_)
			return -EINVAL;
		l4 = l3 + 40;
		g->v6 = true;
		break;
	default:
		return -ENOTSUP;
	}
	if (len < l4 + 20)
		return -EINVAL;
	doff = (size_t)(b[l4 + 12] >> 4) * 4;
	if (doff < 20 || len < l4 + doff)
		return -EINVAL;
	g->l3 = (unsigned)l3;
	g->l4 = (unsigned)l4;
	g->hdr = (unsigned)(l4 + doff);
	g->mss = gso_size;
	g->payload = len - g->hdr;
	g->nseg = g->payload ? (unsigned)((g->payload + gso_size - 1) / gso_size) : 1;
	return 0;
}

size_t vio__net_gso_segment(const uint8_t *b, const struct vio__net_gso *g, unsigned i,
			    uint8_t *hdr)
{
	const size_t off = (size_t)i * g->mss;
	const size_t m = g->payload - off < g->mss ? g->payload - off : g->mss;
	const size_t tcp_len = g->hdr - g->l4 + m;
	uint8_t *ip = hdr + g->l3, *tcp = hdr + g->l4;
	uint64_t s;
	uint8_t flags;

	memcpy(hdr, b, g->hdr);
	if (g->v6) {
		put16(ip + 4, (uint16_t)tcp_len);
		s = csum_add(0, ip + 8, 32);            /* source and destination */
	} else {
		const size_t ihl = g->l4 - g->l3;

		put16(ip + 2, (uint16_t)(ihl + tcp_len));
		put16(ip + 4, (uint16_t)(get16(b + g->l3 + 4) + i));
		put16(ip + 10, 0);
		put16(ip + 10, csum_fold(csum_add(0, ip, ihl)));
		s = csum_add(0, ip + 12, 8);            /* source and destination */
	}
	s += IPPROTO_TCP_ + tcp_len;
	put32(tcp + 4, get32(b + g->l4 + 4) + (uint32_t)off);
	flags = tcp[13];
	if (i + 1 < g->nseg)
		flags &= (uint8_t)~(TCP_FIN | TCP_PSH);
	if (i > 0)
		flags &= (uint8_t)~TCP_CWR;
	tcp[13] = flags;
	put16(tcp + 16, 0);
	s = csum_add(s, tcp, g->hdr - g->l4);
	s = csum_add(s, b + g->hdr + off, m);
	put16(tcp + 16, csum_fold(s));
	return m;
}
