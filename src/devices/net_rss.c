/*
 * net_rss.c - the virtio-net device's hash: parsing a frame's headers
 * far enough to find its flow, the Toeplitz hash over it, and steering by
 * the indirection table (RSS) or reporting it (HASH_REPORT).
 *
 * The frame is the driver's peer's, so it is untrusted: the parser sees
 * only the first NET_PEEK bytes, copied out once, and checks every length
 * before it reads a field. A frame it does not understand (a truncated
 * header, IPv4 options past the copy, a fragment, an IPv6 extension
 * header) falls back to the address hash, or to none.
 */
#include "net_priv.h"

#define ETH_P_IPV4      0x0800u
#define ETH_P_IPV6      0x86ddu
#define ETH_P_8021Q     0x8100u
#define ETH_P_8021AD    0x88a8u
#define IPPROTO_TCP_    6u
#define IPPROTO_UDP_    17u

uint32_t vio_net_toeplitz(const uint8_t *key, unsigned key_len, const uint8_t *in, unsigned len)
{
	uint32_t result = 0, window = 0;
	unsigned next = 0; /* the key bit that enters the window next */

	/* The window is the 32 key bits from the current input bit on. */
	for (; next < 32; next++)
		window = window << 1 | (next / 8 < key_len ? (key[next / 8] >> (7 - next % 8)) & 1 : 0);
	for (unsigned i = 0; i < len; i++) {
		for (unsigned b = 0; b < 8; b++, next++) {
			if (in[i] & (0x80u >> b))
				result ^= window;
			window = window << 1 |
				 (next / 8 < key_len ? (key[next / 8] >> (7 - next % 8)) & 1 : 0);
		}
	}
	return result;
}

static unsigned be16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* What the hash may cover: source and destination addresses, then the
 * source and destination ports, in the order the hash takes them. */
struct flow {
	uint8_t in[36];
	unsigned alen;          /* 8 (IPv4) or 32 (IPv6); 0: not IP */
	bool tcp, udp;          /* in[alen..alen+4) holds the ports */
};

static void parse_l4(const uint8_t *p, size_t len, size_t off, unsigned proto, struct flow *fl)
{
	if ((proto != IPPROTO_TCP_ && proto != IPPROTO_UDP_) || len < off + 4)
		return;
	memcpy(fl->in + fl->alen, p + off, 4);
	fl->tcp = proto == IPPROTO_TCP_;
	fl->udp = proto == IPPROTO_UDP_;
}

static void parse(const uint8_t *p, size_t len, struct flow *fl)
{
	size_t off = 14;
	unsigned type;

	memset(fl, 0, sizeof(*fl));
	if (len < off)
		return;
	type = be16(p + 12);
	/* Up to two VLAN tags (802.1ad outer, 802.1Q inner). */
	for (unsigned i = 0; i < 2 && (type == ETH_P_8021Q || type == ETH_P_8021AD); i++) {
		if (len < off + 4)
			return;
		type = be16(p + off + 2);
		off += 4;
	}
	if (type == ETH_P_IPV4) {
		unsigned ihl;

		if (len < off + 20 || p[off] >> 4 != 4)
			return;
		ihl = (p[off] & 15u) * 4;
		if (ihl < 20 || len < off + ihl)
			return;
		memcpy(fl->in, p + off + 12, 8);
		fl->alen = 8;
		/* Only the first fragment has the ports, and only an
		 * unfragmented datagram hashes the same in every piece. */
		if ((be16(p + off + 6) & 0x3fffu) == 0)
			parse_l4(p, len, off + ihl, p[off + 9], fl);
	} else if (type == ETH_P_IPV6) {
		if (len < off + 40 || p[off] >> 4 != 6)
			return;
		memcpy(fl->in, p + off + 8, 32);
		fl->alen = 32;
		parse_l4(p, len, off + 40, p[off + 6], fl);
	}
}

bool vio__net_hash(const struct vio_net_dev *net, uint32_t types, const uint8_t *p, size_t len,
		   uint32_t *hash, uint16_t *report)
{
	struct flow fl;
	unsigned n;

	parse(p, len, &fl);
	*report = VIO_NET_HASH_REPORT_NONE;
	*hash = 0;
	if (fl.alen == 8) {
		if (fl.tcp && (types & VIO_NET_HASH_TYPE_TCPV4))
			*report = VIO_NET_HASH_REPORT_TCPV4;
		else if (fl.udp && (types & VIO_NET_HASH_TYPE_UDPV4))
			*report = VIO_NET_HASH_REPORT_UDPV4;
		else if (types & VIO_NET_HASH_TYPE_IPV4)
			*report = VIO_NET_HASH_REPORT_IPV4;
	} else if (fl.alen == 32) {
		if (fl.tcp && (types & VIO_NET_HASH_TYPE_TCPV6))
			*report = VIO_NET_HASH_REPORT_TCPV6;
		else if (fl.udp && (types & VIO_NET_HASH_TYPE_UDPV6))
			*report = VIO_NET_HASH_REPORT_UDPV6;
		else if (types & VIO_NET_HASH_TYPE_IPV6)
			*report = VIO_NET_HASH_REPORT_IPV6;
	}
	if (*report == VIO_NET_HASH_REPORT_NONE)
		return false;
	n = fl.alen;
	if (*report != VIO_NET_HASH_REPORT_IPV4 && *report != VIO_NET_HASH_REPORT_IPV6)
		n += 4;
	*hash = vio_net_toeplitz(net->key, net->key_len, fl.in, n);
	return true;
}

unsigned vio_net_dev_steer(const struct vio_net_dev *net, const struct vio_net_frame *f,
			   uint32_t *hash, uint16_t *report)
{
	uint8_t peek[NET_PEEK];
	size_t len = vio_iov_to_buf(f->iov, f->iovcnt, 0, peek, f->len < NET_PEEK ? f->len : NET_PEEK);
	uint32_t h = 0;
	uint16_t rep = VIO_NET_HASH_REPORT_NONE;
	unsigned q = 0;

	if (net->rss_on || net->hash_on) {
		bool hashed = vio__net_hash(net, net->hash_types, peek, len, &h, &rep);

		if (net->rss_on)
			q = hashed ? net->rss_table[h & net->rss_mask] : net->rss_unclassified;
	}
	if (hash)
		*hash = h;
	if (report)
		*report = rep;
	/* The table was checked against the pairs when it was set; VQ_PAIRS_SET
	 * may have shrunk them since. */
	return q < net->active_pairs ? q : 0;
}
