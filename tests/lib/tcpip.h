/*
 * tcpip.h - TCP over IPv4 or IPv6 frames for the net tests: building one
 * as a sender with checksum offload leaves it (the TCP checksum field
 * holding the pseudo-header's sum, to be finished), and checking the
 * checksums of one that arrived. Written from RFC 791/793/1071/8200, for
 * tests only: every offset is fixed (no IP options, no extension headers,
 * a 20-byte TCP header).
 *
 *   frame: Ethernet (14) | IPv4 (20) or IPv6 (40) | TCP (20) | payload
 */
#ifndef VT_TCPIP_H
#define VT_TCPIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define VT_TCP_FIN 0x01
#define VT_TCP_PSH 0x08
#define VT_TCP_ACK 0x10
#define VT_TCP_CWR 0x80
#define VT_TCP_SEQ0 1000u       /* the first sequence number */
#define VT_IP_ID0 0x1234u       /* the IPv4 id */

static inline uint16_t vt_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t vt_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void vt_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The one's-complement sum of n bytes added to s, folded (not
 * complemented): 0xffff over data that holds its own valid checksum. */
static inline uint32_t vt_sum(uint32_t s, const uint8_t *p, size_t n)
{
	for (; n > 1; p += 2, n -= 2)
		s += vt_get16(p);
	if (n)
		s += (uint32_t)p[0] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return s;
}

/* The pseudo-header's sum for tcp_len bytes of TCP behind the IP header
 * at ip. */
static inline uint32_t vt_pseudo(const uint8_t *ip, bool v6, size_t tcp_len)
{
	return vt_sum(6 + (uint32_t)tcp_len, v6 ? ip + 8 : ip + 12, v6 ? 32 : 8);
}

/* Offsets: the IP header, the TCP header, the payload. */
static inline size_t vt_l4(bool v6)
{
	return v6 ? 54 : 34;
}

/* A frame from src to dst with pay payload bytes (a pattern from seed)
 * and TCP flags; returns its length. */
static inline size_t vt_tcp_frame(uint8_t *f, const uint8_t dst[6], const uint8_t src[6], bool v6,
				  size_t pay, unsigned seed, uint8_t flags)
{
	const size_t l4 = vt_l4(v6);
	uint8_t *ip = f + 14, *tcp = f + l4;

	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	memset(f + 12, 0, l4 + 20 - 12);
	for (size_t i = 0; i < pay; i++)
		f[l4 + 20 + i] = (uint8_t)(i * 7 + seed * 13 + (i >> 8));
	if (v6) {
		f[12] = 0x86, f[13] = 0xdd;
		ip[0] = 0x60;
		vt_put16(ip + 4, (uint16_t)(20 + pay));
		ip[6] = 6;
		ip[7] = 64;
		ip[8] = 0xfd, ip[23] = 1;
		ip[24] = 0xfd, ip[39] = 2;
	} else {
		f[12] = 0x08, f[13] = 0x00;
		ip[0] = 0x45;
		vt_put16(ip + 2, (uint16_t)(40 + pay));
		vt_put16(ip + 4, VT_IP_ID0);
		vt_put16(ip + 6, 0x4000);      /* DF */
		ip[8] = 64;
		ip[9] = 6;
		ip[12] = 10, ip[15] = 1;
		ip[16] = 10, ip[19] = 2;
		vt_put16(ip + 10, (uint16_t)~vt_sum(0, ip, 20));
	}
	vt_put16(tcp, 40000);
	vt_put16(tcp + 2, 5001);
	tcp[4] = VT_TCP_SEQ0 >> 24, tcp[5] = (VT_TCP_SEQ0 >> 16) & 0xff;
	tcp[6] = (VT_TCP_SEQ0 >> 8) & 0xff, tcp[7] = VT_TCP_SEQ0 & 0xff;
	tcp[11] = 7;            /* ack */
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	vt_put16(tcp + 14, 0xffff);
	vt_put16(tcp + 16, (uint16_t)vt_pseudo(ip, v6, 20 + pay));
	return l4 + 20 + pay;
}

/* Whether a frame's IPv4 header checksum (if IPv4) and TCP checksum
 * hold, for tcp_len bytes of TCP. */
static inline bool vt_tcp_csum_ok(const uint8_t *f, bool v6, size_t tcp_len)
{
	if (!v6 && vt_sum(0, f + 14, 20) != 0xffff)
		return false;
	return vt_sum(vt_pseudo(f + 14, v6, tcp_len), f + vt_l4(v6), tcp_len) == 0xffff;
}

#endif
