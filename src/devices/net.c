/*
 * net.c - the virtio network device: frames between the driver's queues
 * and a port (see vio/devices/net.h for the model and the guarantees).
 *
 * Written only against the device model. Transmit: a kick pops a batch of
 * chains, checks each, hands the good ones to the port as frames pointing
 * into the driver's memory, then returns the batch used. Receive: the port
 * calls vio_net_dev_receive(); each frame passes the filter, takes one
 * chain (or, with MRG_RXBUF, as many buffers as it needs) from the
 * buffers this pair has popped and kept, and is copied in behind its
 * header; a frame needing a receive offload the driver did not take has
 * its checksum finished or is cut into segments first (rx_soft). The
 * control queue is net_ctrl.c, hashing and steering net_rss.c, the
 * software offloads net_offload.c.
 *
 * The header may be split across descriptors any way the driver likes,
 * so it is always copied through the element's spans, never read in
 * place.
 */
#include "net_priv.h"

#define DEFAULT_QUEUE_SIZE 256u
#define DEFAULT_MTU        1500u
#define TX_BATCH           32u
#define TX_IN_SPANS        4u   /* writable spans a (bad) transmit chain may have */
#define RX_KEEP            128u /* receive buffers a pair may hold popped */
#define RX_SPANS           64u  /* spans of one receive chain */
#define RX_OUT_SPANS       4u

static const uint8_t default_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

#define net_log(net, level, ...) vio_dev_logf(&(net)->dev, level, __VA_ARGS__)

static bool link_up(const struct vio_net_dev *net)
{
	return __atomic_load_n(&net->link_up, __ATOMIC_RELAXED);
}

void vio__net_sync_config(struct vio_net_dev *net)
{
	net->config = net->config0;
	memcpy(net->config.mac, net->mac, 6);
	net->config.status = vio_cpu_to_le16(net->status); /* config is little-endian (core.h) */
}

#define sync_config vio__net_sync_config

/* ------------------------------------------------------------------------ */
/* Transmit                                                                 */

/* Drops the first `skip` bytes of e's readable spans, in place. */
static void skip_bytes(struct vio_elem *e, size_t skip)
{
	unsigned k = 0;

	while (k < e->out_num && skip >= e->out[k].len)
		skip -= e->out[k++].len;
	e->out += k;
	e->out_num -= k;
	e->out_cap -= k;
	if (e->out_num) {
		e->out[0].base = (uint8_t *)e->out[0].base + skip;
		e->out[0].len -= skip;
	}
}

static bool gso_ok(const struct vio_net_dev *net, unsigned type)
{
	const struct vio_dev_model *d = &net->dev;

	if ((type & VIO_NET_HDR_GSO_ECN) && !vio_dev_has_feature(d, VIO_NET_F_HOST_ECN))
		return false;
	switch (type & ~VIO_NET_HDR_GSO_ECN) {
	case VIO_NET_HDR_GSO_TCPV4:
		return vio_dev_has_feature(d, VIO_NET_F_HOST_TSO4);
	case VIO_NET_HDR_GSO_TCPV6:
		return vio_dev_has_feature(d, VIO_NET_F_HOST_TSO6);
	case VIO_NET_HDR_GSO_UDP:
		return !(type & VIO_NET_HDR_GSO_ECN) && vio_dev_has_feature(d, VIO_NET_F_HOST_UFO);
	default:
		return false;
	}
}

/* Checks chain e and turns it into frame f: 0, or the counter of the
 * reason it is dropped. */
static uint64_t *tx_check(struct vio_net_dev *net, struct vio__net_pair *p, struct vio_elem *e,
			  struct vio_net_frame *f)
{
	const size_t hl = vio_net_hdr_len(net->dev.features);
	const bool lg = net->dev.legacy;
	struct vio_net_hdr h;
	uint32_t len;

	if (e->in_num)
		return &p->stats.tx_writable;
	if (vio_iov_to_buf(e->out, e->out_num, 0, &h, hl) != hl)
		return &p->stats.tx_bad_header;
	len = e->out_len - (uint32_t)hl;
	if (len < VIO_NET_ETH_HLEN || len > VIO_NET_FRAME_MAX)
		return &p->stats.tx_bad_size;
	*f = (struct vio_net_frame){
		.flags = h.flags,
		.gso_type = h.gso_type,
		.hdr_len = vio_get16(lg, h.hdr_len),
		.gso_size = vio_get16(lg, h.gso_size),
		.csum_start = vio_get16(lg, h.csum_start),
		.csum_offset = vio_get16(lg, h.csum_offset),
		.len = len,
	};
	if (f->flags & VIO_NET_HDR_F_NEEDS_CSUM) {
		if (!vio_dev_has_feature(&net->dev, VIO_NET_F_CSUM) ||
		    (uint32_t)f->csum_start + f->csum_offset + 2 > len)
			return &p->stats.tx_bad_csum;
	}
	if (f->gso_type != VIO_NET_HDR_GSO_NONE && (f->gso_size == 0 || !gso_ok(net, f->gso_type)))
		return &p->stats.tx_bad_gso;
	skip_bytes(e, hl);
	f->iov = e->out;
	f->iovcnt = e->out_num;
	return NULL;
}

/* Points e's span arrays at their place in the pair's tx_iov again
 * (tx_check moves out past the header). */
static void tx_reset_elem(struct vio__net_pair *p, unsigned i)
{
	struct vio_elem *e = &p->tx[i];

	e->out = p->tx_iov + (size_t)i * (VIO_NET_FRAME_SPANS + TX_IN_SPANS);
	e->out_cap = VIO_NET_FRAME_SPANS;
	e->in = e->out + VIO_NET_FRAME_SPANS;
	e->in_cap = TX_IN_SPANS;
}

static void tx_batch(struct vio_net_dev *net, unsigned pair, struct vio_devq *vq, unsigned n)
{
	struct vio__net_pair *p = &net->pairs[pair];
	struct vio_net_pair_stats *s = &p->stats;
	unsigned m = 0;
	bool none_writable = true;
	uint64_t bytes = 0;

	for (unsigned i = 0; i < n; i++) {
		uint64_t *drop = tx_check(net, p, &p->tx[i], &p->frames[m]);

		none_writable &= p->tx[i].in_len == 0;
		if (drop) {
			vio_stat_inc(drop);
			continue;
		}
		bytes += p->frames[m++].len;
	}
	if (m && !link_up(net)) {
		vio_stat_add(&s->tx_link_down, m);
	} else if (m) {
		int took = net->port_ops ? net->port_ops->transmit(net->port, pair, p->frames, m) : 0;

		if (took < 0)
			took = 0;
		if ((unsigned)took > m)
			took = (int)m;
		vio_stat_add(&s->tx_frames, m);
		vio_stat_add(&s->tx_bytes, bytes);
		vio_stat_add(&s->tx_port_drops, m - (unsigned)took);
	}
	/* Nothing is written to a transmit chain. With IN_ORDER one entry
	 * covers the batch, when no chain had writable bytes the driver
	 * would then count as written. None can fail: the chains were popped
	 * from vq, in this order. */
	if (n > 1 && none_writable && vio_dev_has_feature(&net->dev, VIO_F_IN_ORDER))
		(void)vio_devq_fill_in_order(vq, &p->tx[n - 1], 0);
	else
		for (unsigned i = 0; i < n; i++)
			(void)vio_devq_fill(vq, &p->tx[i], 0);
	(void)vio_devq_flush(vq);
}

static void tx_notify(struct vio_net_dev *net, unsigned pair, unsigned qi)
{
	struct vio__net_pair *p = &net->pairs[pair];
	struct vio_devq *vq = vio_dev_vq(&net->dev, qi);
	int r = 0;

	if (!vq)
		return;
	do {
		unsigned n = 0;

		for (; n < TX_BATCH; n++) {
			tx_reset_elem(p, n);
			r = vio_devq_pop(vq, &p->tx[n]);
			if (r)
				break;
		}
		if (n) {
			tx_batch(net, pair, vq, n);
			vio_dev_interrupt(&net->dev, qi);
		}
	} while (r == 0);
	vio_dev_check(&net->dev, qi, r);
}

/* ------------------------------------------------------------------------ */
/* Receive                                                                  */

/* memcmp is not among the libc calls the freestanding layers may make. */
static bool mac_eq(const uint8_t *a, const uint8_t *b)
{
	unsigned diff = 0;

	for (unsigned i = 0; i < 6; i++)
		diff |= (unsigned)(a[i] ^ b[i]);
	return diff == 0;
}

static bool mac_in(const uint8_t (*t)[6], unsigned n, const uint8_t *mac)
{
	for (unsigned i = 0; i < n; i++)
		if (mac_eq(t[i], mac))
			return true;
	return false;
}

/* RX mode, MAC tables and VLAN filter: does the driver want this frame? */
static bool rx_wanted(const struct vio_net_dev *net, const uint8_t *peek, size_t len)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	const uint8_t *dst = peek;

	if (vio_dev_has_feature(&net->dev, VIO_NET_F_CTRL_VLAN) && len >= 18 &&
	    peek[12] == 0x81 && peek[13] == 0x00) {
		unsigned vid = ((unsigned)peek[14] << 8 | peek[15]) & 0xfffu;

		if (!(net->vlans[vid / 64] & (UINT64_C(1) << (vid % 64))))
			return false;
	}
	if (net->promisc)
		return true;
	if (mac_eq(dst, bcast))
		return !net->nobcast;
	if (dst[0] & 1) {
		if (net->nomulti)
			return false;
		return net->allmulti || net->multi_overflow || mac_in(net->multi, net->n_multi, dst);
	}
	if (net->nouni)
		return false;
	return net->alluni || net->uni_overflow || mac_eq(dst, net->mac) ||
	       mac_in(net->uni, net->n_uni, dst);
}

/* The offload fields of a frame from the port make sense (the spec's
 * 5.1.6.4, device requirements): a checksum to finish lies inside the
 * frame, and a GSO frame has one and a segment size. Whether the driver
 * takes them is rx_offload_ok's. */
static bool rx_fields_ok(const struct vio_net_frame *f)
{
	if ((f->flags & VIO_NET_HDR_F_NEEDS_CSUM) &&
	    (uint32_t)f->csum_start + f->csum_offset + 2 > f->len)
		return false;
	return f->gso_type == VIO_NET_HDR_GSO_NONE ||
	       ((f->flags & VIO_NET_HDR_F_NEEDS_CSUM) && f->gso_size != 0);
}

/* Checksum and GSO the driver takes now. */
static bool rx_offload_ok(const struct vio_net_dev *net, const struct vio_net_frame *f)
{
	const uint64_t o = net->offloads;

	if ((f->flags & (VIO_NET_HDR_F_NEEDS_CSUM | VIO_NET_HDR_F_DATA_VALID)) &&
	    !(o & VIO_BIT(VIO_NET_F_GUEST_CSUM)))
		return false;
	if (f->gso_type == VIO_NET_HDR_GSO_NONE)
		return true;
	if ((f->gso_type & VIO_NET_HDR_GSO_ECN) && !(o & VIO_BIT(VIO_NET_F_GUEST_ECN)))
		return false;
	switch (f->gso_type & ~VIO_NET_HDR_GSO_ECN) {
	case VIO_NET_HDR_GSO_TCPV4:
		return o & VIO_BIT(VIO_NET_F_GUEST_TSO4);
	case VIO_NET_HDR_GSO_TCPV6:
		return o & VIO_BIT(VIO_NET_F_GUEST_TSO6);
	case VIO_NET_HDR_GSO_UDP:
		return o & VIO_BIT(VIO_NET_F_GUEST_UFO);
	default:
		return false;
	}
}

static struct vio_elem *kept(struct vio__net_pair *p, unsigned k)
{
	return &p->rx[(p->rx_head + k) % p->rx_cap];
}

/* Gives back the oldest kept buffer as used with len bytes. */
static void rx_use(struct vio__net_pair *p, struct vio_devq *vq, uint32_t len)
{
	(void)vio_devq_fill(vq, kept(p, 0), len);
	p->rx_head = (p->rx_head + 1) % p->rx_cap;
	p->rx_n--;
}

/* Makes sure at least k buffers are kept: 0, -EAGAIN when the ring has no
 * more (or stopped: the check has made that NEEDS_RESET). */
static int rx_keep(struct vio_net_dev *net, struct vio__net_pair *p, struct vio_devq *vq,
		   unsigned qi, unsigned k)
{
	while (p->rx_n < k) {
		struct vio_elem *e = kept(p, p->rx_n);
		int r;

		e->out = p->rx_iov + (size_t)((p->rx_head + p->rx_n) % p->rx_cap) *
				     (RX_SPANS + RX_OUT_SPANS);
		e->out_cap = RX_OUT_SPANS;
		e->in = e->out + RX_OUT_SPANS;
		e->in_cap = RX_SPANS;
		r = vio_devq_pop(vq, e);
		if (r) {
			vio_dev_check(&net->dev, qi, r);
			return -EAGAIN;
		}
		p->rx_n++;
	}
	return 0;
}

/* Reads a frame's bytes from a cursor over its iovecs. */
struct cursor {
	const struct vio_iov *iov;
	unsigned n, i;
	size_t off;
};

static void cursor_read(struct cursor *c, uint8_t *dst, size_t len)
{
	while (len && c->i < c->n) {
		size_t k = c->iov[c->i].len - c->off;

		if (k > len)
			k = len;
		memcpy(dst, (const uint8_t *)c->iov[c->i].base + c->off, k);
		dst += k;
		len -= k;
		c->off += k;
		if (c->off == c->iov[c->i].len) {
			c->i++;
			c->off = 0;
		}
	}
}

/* Writes the header (hl bytes, 0 for a buffer after the first) and then
 * frame data from c into buffer e; returns the bytes written. */
static uint32_t rx_copy(struct vio_elem *e, const void *hdr, size_t hl, struct cursor *c,
			size_t *left)
{
	size_t at = hl ? vio_iov_from_buf(e->in, e->in_num, 0, hdr, hl) : 0;
	size_t written = at;

	for (unsigned i = 0; i < e->in_num && *left; i++) {
		size_t k;

		if (at >= e->in[i].len) {
			at -= e->in[i].len;
			continue;
		}
		k = e->in[i].len - at;
		if (k > *left)
			k = *left;
		cursor_read(c, (uint8_t *)e->in[i].base + at, k);
		at = 0;
		*left -= k;
		written += k;
	}
	return (uint32_t)written;
}

static void rx_header(struct vio_net_dev *net, const struct vio_net_frame *f, unsigned nbufs,
		      const uint8_t *peek, size_t plen, struct vio_net_hdr *h)
{
	const bool lg = net->dev.legacy;

	*h = (struct vio_net_hdr){
		.flags = f->flags & (VIO_NET_HDR_F_NEEDS_CSUM | VIO_NET_HDR_F_DATA_VALID),
		.gso_type = f->gso_type,
		.hdr_len = vio_set16(lg, f->hdr_len),
		.gso_size = vio_set16(lg, f->gso_size),
		.csum_start = vio_set16(lg, f->csum_start),
		.csum_offset = vio_set16(lg, f->csum_offset),
		.num_buffers = vio_set16(lg, (uint16_t)nbufs),
	};
	if (vio_dev_has_feature(&net->dev, VIO_NET_F_HASH_REPORT) && (net->rss_on || net->hash_on)) {
		uint32_t hash;
		uint16_t report;

		vio__net_hash(net, net->hash_types, peek, plen, &hash, &report);
		h->hash_value = vio_set32(lg, hash);
		h->hash_report = vio_set16(lg, report);
	}
}

/* Buffers a pair may hold for one frame, or for the segments of one. */
static unsigned rx_limit(const struct vio__net_pair *p, const struct vio_devq *vq)
{
	return p->rx_cap < vq->size ? p->rx_cap : vq->size;
}

static int rx_soft(struct vio_net_dev *net, unsigned pair, struct vio_devq *vq,
		   const struct vio_net_frame *f);

/* One frame onto pair p: 0 consumed (delivered or dropped and counted),
 * -EAGAIN too few buffers. */
static int rx_one(struct vio_net_dev *net, unsigned pair, struct vio_devq *vq,
		  const struct vio_net_frame *f)
{
	struct vio__net_pair *p = &net->pairs[pair];
	struct vio_net_pair_stats *s = &p->stats;
	const size_t hl = vio_net_hdr_len(net->dev.features);
	const bool mrg = vio_dev_has_feature(&net->dev, VIO_NET_F_MRG_RXBUF);
	const uint64_t need = hl + (uint64_t)f->len;
	uint8_t peek[NET_PEEK];
	struct vio_net_hdr h;
	struct cursor c = { f->iov, f->iovcnt, 0, 0 };
	size_t plen, left = f->len;
	unsigned k = 0;
	uint64_t have = 0;

	if (!link_up(net)) {
		vio_stat_inc(&s->rx_link_down);
		return 0;
	}
	if (f->len < VIO_NET_ETH_HLEN || f->len > VIO_NET_FRAME_MAX ||
	    vio_iov_length(f->iov, f->iovcnt) < f->len || !rx_fields_ok(f)) {
		vio_stat_inc(&s->rx_bad_frame);
		return 0;
	}
	plen = vio_iov_to_buf(f->iov, f->iovcnt, 0, peek, f->len < NET_PEEK ? f->len : NET_PEEK);
	if (!rx_wanted(net, peek, plen)) {
		vio_stat_inc(&s->rx_filtered);
		return 0;
	}
	if (!rx_offload_ok(net, f))
		return rx_soft(net, pair, vq, f);
	/* Buffers for it, oldest first: one chain, or with MRG_RXBUF as
	 * many as it takes. A first buffer that cannot even hold the header
	 * is given back empty. */
	while (have < need) {
		struct vio_elem *e;

		if (k == rx_limit(p, vq) || (!mrg && k == 1)) {
			vio_stat_inc(&s->rx_too_big);
			return 0;
		}
		if (rx_keep(net, p, vq, 2 * pair, k + 1)) {
			vio_stat_inc(&s->rx_no_room);
			return -EAGAIN;
		}
		e = kept(p, k);
		if (k == 0 && (e->in_len < hl || e->out_num)) {
			vio_stat_inc(&s->rx_bad_buffer);
			rx_use(p, vq, 0);
			continue;
		}
		have += e->in_len;
		k++;
	}
	rx_header(net, f, mrg ? k : 1, peek, plen, &h);
	for (unsigned i = 0; i < k; i++) {
		uint32_t w = rx_copy(kept(p, 0), &h, i == 0 ? hl : 0, &c, &left);

		rx_use(p, vq, w);
	}
	vio_stat_inc(&s->rx_frames);
	vio_stat_add(&s->rx_bytes, f->len);
	if (f->gso_type != VIO_NET_HDR_GSO_NONE)
		vio_stat_inc(&s->rx_gso);
	if (f->flags & VIO_NET_HDR_F_NEEDS_CSUM)
		vio_stat_inc(&s->rx_csum);
	return 0;
}

/*
 * Whether the buffers for every segment of g are kept: 0, -EAGAIN (not
 * yet), -E2BIG (never: more than one buffer per segment without
 * MRG_RXBUF, or more than the pair may hold). Picks buffers as rx_one
 * will, a first buffer too short for the header skipped (rx_one gives it
 * back empty), so that rx_one then finds them all kept.
 */
static int rx_room(struct vio_net_dev *net, struct vio__net_pair *p, struct vio_devq *vq,
		   unsigned pair, const struct vio__net_gso *g)
{
	const size_t hl = vio_net_hdr_len(net->dev.features);
	const bool mrg = vio_dev_has_feature(&net->dev, VIO_NET_F_MRG_RXBUF);
	const unsigned limit = rx_limit(p, vq);
	unsigned k = 0;

	for (unsigned i = 0; i < g->nseg; i++) {
		const size_t m = i + 1 < g->nseg ? g->mss : g->payload - (size_t)i * g->mss;
		const uint64_t need = hl + g->hdr + m;
		uint64_t have = 0;
		unsigned n = 0;

		while (have < need) {
			struct vio_elem *e;

			if (k == limit || (!mrg && n == 1))
				return -E2BIG;
			if (rx_keep(net, p, vq, 2 * pair, k + 1))
				return -EAGAIN;
			e = kept(p, k++);
			if (n == 0 && (e->in_len < hl || e->out_num))
				continue;
			have += e->in_len;
			n++;
		}
	}
	return 0;
}

/*
 * A frame that needs a receive offload the driver did not take (rx_one
 * found it so; link, size and filter already passed): the checksum is
 * finished here, a TCP GSO frame cut into segments here (net_offload.c),
 * anything else dropped and counted. A GSO frame goes in whole or not at
 * all: every segment's buffers are kept before the first is written.
 */
static int rx_soft(struct vio_net_dev *net, unsigned pair, struct vio_devq *vq,
		   const struct vio_net_frame *f)
{
	struct vio__net_pair *p = &net->pairs[pair];
	struct vio_net_pair_stats *s = &p->stats;
	struct vio_net_frame one = { .len = f->len, .iov = f->iov, .iovcnt = f->iovcnt };
	const uint64_t delivered = s->rx_frames;
	struct vio_iov iov[2];
	struct vio__net_gso g;
	int r;

	if (f->gso_type == VIO_NET_HDR_GSO_NONE) {
		/* DATA_VALID alone: the driver just does not learn it. */
		if (f->flags & VIO_NET_HDR_F_NEEDS_CSUM) {
			(void)vio_iov_to_buf(f->iov, f->iovcnt, 0, p->soft, f->len);
			if (!vio__net_csum_finish(p->soft, f->len, f->csum_start, f->csum_offset)) {
				vio_stat_inc(&s->rx_offload);
				return 0;
			}
			iov[0] = (struct vio_iov){ .base = p->soft, .len = f->len };
			one.iov = iov;
			one.iovcnt = 1;
		}
		r = rx_one(net, pair, vq, &one);
		if (s->rx_frames != delivered && (f->flags & VIO_NET_HDR_F_NEEDS_CSUM))
			vio_stat_inc(&s->rx_soft_csum);
		return r;
	}
	(void)vio_iov_to_buf(f->iov, f->iovcnt, 0, p->soft, f->len);
	if (vio__net_gso_parse(p->soft, f->len, f->gso_type, f->gso_size, &g)) {
		vio_stat_inc(&s->rx_offload);
		return 0;
	}
	r = rx_room(net, p, vq, pair, &g);
	if (r == -E2BIG) {
		vio_stat_inc(&s->rx_too_big);
		return 0;
	}
	if (r) {
		vio_stat_inc(&s->rx_no_room);
		return -EAGAIN;
	}
	for (unsigned i = 0; i < g.nseg; i++) {
		const size_t m = vio__net_gso_segment(p->soft, &g, i, p->soft_hdr);

		iov[0] = (struct vio_iov){ .base = p->soft_hdr, .len = g.hdr };
		iov[1] = (struct vio_iov){ .base = p->soft + g.hdr + (size_t)i * g.mss, .len = m };
		one = (struct vio_net_frame){ .len = (uint32_t)(g.hdr + m), .iov = iov,
					      .iovcnt = m ? 2 : 1 };
		/* Its buffers are kept: it cannot run short now. */
		(void)rx_one(net, pair, vq, &one);
	}
	vio_stat_inc(&s->rx_soft_gso);
	vio_stat_add(&s->rx_soft_segments, s->rx_frames - delivered);
	return 0;
}

int vio_net_dev_receive(struct vio_net_dev *net, unsigned pair, const struct vio_net_frame *frames,
			unsigned n)
{
	bool used[VIO_NET_MAX_PAIRS] = { false };
	unsigned done = 0;

	if (pair != VIO_NET_STEER && pair >= net->max_pairs)
		return -EINVAL;
	for (; done < n; done++) {
		const struct vio_net_frame *f = &frames[done];
		unsigned q = pair == VIO_NET_STEER ? vio_net_dev_steer(net, f, NULL, NULL) : pair;
		struct vio_devq *vq = vio_dev_vq(&net->dev, 2 * q);

		if (q >= net->active_pairs || !vq) {
			vio_stat_inc(&net->pairs[q].stats.rx_inactive);
			continue;
		}
		used[q] = true;
		if (rx_one(net, q, vq, f))
			break;
	}
	for (unsigned q = 0; q < net->max_pairs; q++) {
		struct vio_devq *vq = used[q] ? vio_dev_vq(&net->dev, 2 * q) : NULL;

		if (vq) {
			(void)vio_devq_flush(vq);
			vio_dev_interrupt(&net->dev, 2 * q);
		}
	}
	return (int)done;
}

/* ------------------------------------------------------------------------ */
/* Device model callbacks                                                   */

static void net_queue_notify(struct vio_dev_model *d, unsigned qi)
{
	struct vio_net_dev *net = vio__net_of(d);
	const unsigned pairs = vio__net_pairs(net);

	if (vio_dev_has_feature(d, VIO_NET_F_CTRL_VQ) && qi == vio__net_ctrl_qi(net)) {
		vio__net_ctrl_notify(net, qi);
		return;
	}
	if (qi >= 2 * pairs)
		return;
	if (qi & 1)
		tx_notify(net, qi / 2, qi);
	else if (net->port_ops && net->port_ops->rx_ready)
		net->port_ops->rx_ready(net->port, qi / 2);
}

static int net_features_ok(struct vio_dev_model *d, uint64_t f)
{
	struct vio_net_dev *net = vio__net_of(d);

	/*
	 * The dependencies the spec names (5.1.3.1), but one: the features
	 * that need the control queue are taken without it. A vhost-user
	 * frontend (QEMU) keeps the control queue to itself and passes on
	 * what shapes the data path (GUEST_ANNOUNCE, MQ, RSS) without
	 * CTRL_VQ; the device then serves the data queues only, and every
	 * pair whose queues the frontend started is in use.
	 */
	if (vio_has_feature(f, VIO_NET_F_CTRL_RX_EXTRA) && !vio_has_feature(f, VIO_NET_F_CTRL_RX))
		goto bad;
	if ((f & (VIO_BIT(VIO_NET_F_GUEST_TSO4) | VIO_BIT(VIO_NET_F_GUEST_TSO6) |
		  VIO_BIT(VIO_NET_F_GUEST_UFO))) && !vio_has_feature(f, VIO_NET_F_GUEST_CSUM))
		goto bad;
	if ((f & (VIO_BIT(VIO_NET_F_HOST_TSO4) | VIO_BIT(VIO_NET_F_HOST_TSO6) |
		  VIO_BIT(VIO_NET_F_HOST_UFO))) && !vio_has_feature(f, VIO_NET_F_CSUM))
		goto bad;
	if (vio_has_feature(f, VIO_NET_F_GUEST_ECN) &&
	    !(f & (VIO_BIT(VIO_NET_F_GUEST_TSO4) | VIO_BIT(VIO_NET_F_GUEST_TSO6))))
		goto bad;
	if (vio_has_feature(f, VIO_NET_F_HOST_ECN) &&
	    !(f & (VIO_BIT(VIO_NET_F_HOST_TSO4) | VIO_BIT(VIO_NET_F_HOST_TSO6))))
		goto bad;
	if (!vio_has_feature(f, VIO_NET_F_CTRL_VQ))
		net->active_pairs = net->max_pairs;
	return 0;
bad:
	net_log(net, VIO_LOG_WARN, "net: features %#llx break the spec's dependencies",
		(unsigned long long)f);
	return -EINVAL;
}

static void rx_forget(struct vio_net_dev *net, unsigned pair)
{
	net->pairs[pair].rx_head = 0;
	net->pairs[pair].rx_n = 0;
}

void vio__net_set_offloads(struct vio_net_dev *net, uint64_t offloads, bool always)
{
	const struct vio_net_port_ops *ops = net->port_ops;
	const bool changed = offloads != net->offloads;

	net->offloads = offloads;
	/* The member exists from version 2 on (core.h's rule). */
	if ((changed || always) && ops && ops->version >= 2 && ops->offloads)
		ops->offloads(net->port, offloads);
}

static int net_start(struct vio_dev_model *d)
{
	vio__net_set_offloads(vio__net_of(d), d->features & VIO_NET_DEV_GUEST_OFFLOADS, true);
	return 0;
}

static void net_reset(struct vio_dev_model *d)
{
	struct vio_net_dev *net = vio__net_of(d);
	uint16_t st = link_up(net) ? VIO_NET_S_LINK_UP : 0;

	net->status = st;
	memcpy(net->mac, net->config0.mac, 6);
	sync_config(net);
	vio__net_filters_reset(net);
	vio__net_set_offloads(net, 0, false);
	for (unsigned i = 0; i < net->max_pairs; i++)
		rx_forget(net, i);
}

static void net_queue_reset(struct vio_dev_model *d, unsigned qi)
{
	struct vio_net_dev *net = vio__net_of(d);

	/* The kept buffers belong to the ring that is gone. */
	if (qi < 2 * net->max_pairs && !(qi & 1))
		rx_forget(net, qi / 2);
}

/* Only the MAC is writable, and only for a driver without CTRL_MAC_ADDR
 * (legacy drivers set it so): every other write is refused before
 * anything is stored. */
static int net_config_check(struct vio_dev_model *d, unsigned off, const void *buf, unsigned len)
{
	(void)buf;
	if (off + len <= 6 && !vio_dev_has_feature(d, VIO_NET_F_CTRL_MAC_ADDR))
		return 0;
	return -EPERM;
}

/* The MAC was written (net_config_check took it). */
static void net_config_write(struct vio_dev_model *d, unsigned off, unsigned len)
{
	struct vio_net_dev *net = vio__net_of(d);

	(void)off;
	(void)len;
	memcpy(net->mac, net->config.mac, 6);
	sync_config(net);
}

/*
 * The transport asks for a RARP on behalf of the driver (vhost-user's
 * SEND_RARP, after a migration, for a driver without GUEST_ANNOUNCE): a
 * broadcast "reverse request" from `mac`, which is how QEMU has always
 * made switches learn where a migrated guest went. It leaves through the
 * port as if the driver had sent it on pair 0; the transport holds every
 * queue, so it cannot race that pair's own transmits.
 */
#define RARP_FRAME_LEN 60u      /* the Ethernet minimum: 42 bytes and padding */

static int net_announce(struct vio_dev_model *d, const uint8_t mac[6])
{
	struct vio_net_dev *net = vio__net_of(d);
	uint8_t f[RARP_FRAME_LEN] = { 0 };
	struct vio_iov iov = { f, sizeof(f) };
	struct vio_net_frame frame = { .len = sizeof(f), .iov = &iov, .iovcnt = 1 };
	int took;

	memset(f, 0xff, 6);                     /* to everyone */
	memcpy(f + 6, mac, 6);
	f[12] = 0x80, f[13] = 0x35;             /* ethertype RARP */
	f[14] = 0x00, f[15] = 0x01;             /* hardware: Ethernet */
	f[16] = 0x08, f[17] = 0x00;             /* protocol: IPv4 */
	f[18] = 6, f[19] = 4;                   /* address lengths */
	f[20] = 0x00, f[21] = 0x03;             /* operation: reverse request */
	memcpy(f + 22, mac, 6);                 /* sender: mac, 0.0.0.0 */
	memcpy(f + 32, mac, 6);                 /* target: mac, 0.0.0.0 */
	if (!link_up(net) || !net->port_ops) {
		net_log(net, VIO_LOG_WARN, "net: no RARP for %x:%x:%x:%x:%x:%x: %s", mac[0], mac[1],
			mac[2], mac[3], mac[4], mac[5], net->port_ops ? "the link is down" : "no port");
		return -EIO;
	}
	took = net->port_ops->transmit(net->port, 0, &frame, 1);
	net_log(net, took == 1 ? VIO_LOG_INFO : VIO_LOG_WARN, "net: RARP for %x:%x:%x:%x:%x:%x %s",
		mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
		took == 1 ? "sent" : "dropped by the port");
	return took == 1 ? 0 : -EIO;
}

/* The VMM tells the MTU it promised the driver (vhost-user's NET_SET_MTU,
 * sent when it offers VIRTIO_NET_F_MTU itself): it becomes the config's
 * mtu, which the device offers only with MTU too. Any MTU whose frames
 * the device carries is accepted (the ports take frames up to
 * VIO_NET_FRAME_MAX). */
static int net_set_mtu(struct vio_dev_model *d, unsigned mtu)
{
	struct vio_net_dev *net = vio__net_of(d);

	if (!vio_has_feature(d->host_features, VIO_NET_F_MTU)) {
		net_log(net, VIO_LOG_ERR, "net: MTU %u set, but the device does not offer MTU", mtu);
		return -ENOTSUP;
	}
	if (mtu < VIO_NET_MTU_MIN || mtu > VIO_NET_FRAME_MAX - 14) {
		net_log(net, VIO_LOG_ERR, "net: MTU %u refused: outside %u..%u", mtu, VIO_NET_MTU_MIN,
			VIO_NET_FRAME_MAX - 14);
		return -EINVAL;
	}
	net->config0.mtu = vio_cpu_to_le16((uint16_t)mtu);
	sync_config(net);
	net_log(net, VIO_LOG_INFO, "net: MTU %u", mtu);
	return 0;
}

/* The multi-byte fields of struct vio_net_config: the core turns them
 * around for a big-endian legacy driver (core.h, vio_dev_model.config). */
#define NET_FIELD(m) { offsetof(struct vio_net_config, m), sizeof(((struct vio_net_config *)0)->m) }
static const struct vio_config_field net_config_fields[] = {
	NET_FIELD(status), NET_FIELD(max_virtqueue_pairs), NET_FIELD(mtu), NET_FIELD(speed),
	NET_FIELD(rss_max_indirection_table_length), NET_FIELD(supported_hash_types),
};
#undef NET_FIELD

static const struct vio_dev_ops net_ops = {
	.version = VIO_DEV_OPS_VERSION,
	.features_ok = net_features_ok,
	.start = net_start,
	.reset = net_reset,
	.queue_notify = net_queue_notify,
	.config_write = net_config_write,
	.queue_reset = net_queue_reset,
	.announce = net_announce,
	.set_mtu = net_set_mtu,
	.config_check = net_config_check,
};

/* ------------------------------------------------------------------------ */
/* Link and announce                                                        */

static void set_status_bits(struct vio_net_dev *net, uint16_t set, uint16_t clear)
{
	net->status = (uint16_t)((net->status & ~clear) | set);
	sync_config(net);
	if (vio_has_feature(net->dev.host_features, VIO_NET_F_STATUS))
		vio_dev_config_changed(&net->dev);
}

void vio_net_dev_set_link(struct vio_net_dev *net, bool up)
{
	__atomic_store_n(&net->link_up, up, __ATOMIC_RELAXED);
	set_status_bits(net, up ? VIO_NET_S_LINK_UP : 0, up ? 0 : VIO_NET_S_LINK_UP);
}

int vio_net_dev_announce(struct vio_net_dev *net)
{
	if (!vio_dev_has_feature(&net->dev, VIO_NET_F_GUEST_ANNOUNCE))
		return -ENOTSUP;
	set_status_bits(net, VIO_NET_S_ANNOUNCE, 0);
	return 0;
}

unsigned vio_net_dev_active_pairs(const struct vio_net_dev *net)
{
	return net->active_pairs;
}

/* ------------------------------------------------------------------------ */
/* Setting up                                                               */

static void pairs_fini(struct vio_net_dev *net)
{
	for (unsigned i = 0; net->pairs && i < net->max_pairs; i++) {
		struct vio__net_pair *p = &net->pairs[i];

		vio__zfree(&net->alloc, p->tx, TX_BATCH, sizeof(*p->tx));
		vio__zfree(&net->alloc, p->frames, TX_BATCH, sizeof(*p->frames));
		vio__zfree(&net->alloc, p->tx_iov, TX_BATCH * (VIO_NET_FRAME_SPANS + TX_IN_SPANS),
			   sizeof(*p->tx_iov));
		vio__zfree(&net->alloc, p->rx, p->rx_cap, sizeof(*p->rx));
		vio__zfree(&net->alloc, p->rx_iov, (size_t)p->rx_cap * (RX_SPANS + RX_OUT_SPANS),
			   sizeof(*p->rx_iov));
		vio__zfree(&net->alloc, p->soft, VIO_NET_FRAME_MAX, 1);
		vio__zfree(&net->alloc, p->soft_hdr, NET_SOFT_HDR_MAX, 1);
	}
	vio__zfree(&net->alloc, net->pairs, net->max_pairs, sizeof(*net->pairs));
	vio__zfree(&net->alloc, net->dqs, net->nq, sizeof(*net->dqs));
	net->pairs = NULL;
	net->dqs = NULL;
}

static int pairs_init(struct vio_net_dev *net)
{
	const unsigned keep = net->queue_size < RX_KEEP ? net->queue_size : RX_KEEP;

	net->dqs = vio__zalloc(&net->alloc, net->nq, sizeof(*net->dqs));
	net->pairs = vio__zalloc(&net->alloc, net->max_pairs, sizeof(*net->pairs));
	if (!net->dqs || !net->pairs)
		return -ENOMEM;
	for (unsigned i = 0; i < net->nq; i++) {
		struct vio_dev_queue *q = &net->dqs[i];

		q->max_size = net->queue_size;
		/* A pair's two queues share their state (the reflect port
		 * receives while transmitting); the control queue changes
		 * what every pair reads: a transport that runs queues on
		 * threads of their own serialises them so (core.h). */
		q->serial_first = i < 2 * net->max_pairs ? i & ~1u : 0;
		q->serial_count = i < 2 * net->max_pairs ? 2 : net->nq;
	}
	for (unsigned i = 0; i < net->max_pairs; i++) {
		struct vio__net_pair *p = &net->pairs[i];

		p->tx = vio__zalloc(&net->alloc, TX_BATCH, sizeof(*p->tx));
		p->frames = vio__zalloc(&net->alloc, TX_BATCH, sizeof(*p->frames));
		p->tx_iov = vio__zalloc(&net->alloc, TX_BATCH * (VIO_NET_FRAME_SPANS + TX_IN_SPANS),
					sizeof(*p->tx_iov));
		p->rx_cap = keep;
		p->rx = vio__zalloc(&net->alloc, keep, sizeof(*p->rx));
		p->rx_iov = vio__zalloc(&net->alloc, (size_t)keep * (RX_SPANS + RX_OUT_SPANS),
					sizeof(*p->rx_iov));
		p->soft = vio__zalloc(&net->alloc, VIO_NET_FRAME_MAX, 1);
		p->soft_hdr = vio__zalloc(&net->alloc, NET_SOFT_HDR_MAX, 1);
		if (!p->tx || !p->frames || !p->tx_iov || !p->rx || !p->rx_iov || !p->soft ||
		    !p->soft_hdr)
			return -ENOMEM;
	}
	net->ctrl_elem.out = net->ctrl_iov;
	net->ctrl_elem.out_cap = VIO_NET_FRAME_SPANS;
	net->ctrl_elem.in = net->ctrl_iov + VIO_NET_FRAME_SPANS;
	net->ctrl_elem.in_cap = VIO_NET_FRAME_SPANS;
	return 0;
}

static const uint64_t implemented = VIO_NET_DEV_FEATURES;

static uint64_t offered_features(const struct vio_net_dev *net, const struct vio_net_dev_opts *o)
{
	uint64_t f = o->net_features ? o->net_features : VIO_NET_DEV_FEATURES;

	if (!o->net_features && net->max_pairs == 1)
		f &= ~(VIO_BIT(VIO_NET_F_MQ) | VIO_BIT(VIO_NET_F_RSS));
	if (!o->net_features && !o->speed)
		f &= ~VIO_BIT(VIO_NET_F_SPEED_DUPLEX);
	return f | o->offloads | (o->ring_features ? o->ring_features : VIO_NET_DEV_RING_FEATURES);
}

static void build_config(struct vio_net_dev *net, const struct vio_net_dev_opts *o)
{
	struct vio_net_config *c = &net->config0;
	static const uint8_t zero[6];

	memset(c, 0, sizeof(*c));
	memcpy(c->mac, mac_eq(o->mac, zero) ? default_mac : o->mac, 6);
	c->max_virtqueue_pairs = vio_cpu_to_le16((uint16_t)net->max_pairs);
	c->mtu = vio_cpu_to_le16(o->mtu ? o->mtu : DEFAULT_MTU);
	c->speed = vio_cpu_to_le32(o->speed ? o->speed : VIO_NET_SPEED_UNKNOWN);
	c->duplex = o->speed ? o->duplex : VIO_NET_DUPLEX_UNKNOWN;
	c->rss_max_key_size = VIO_NET_RSS_KEY_MAX;
	c->rss_max_indirection_table_length = vio_cpu_to_le16(VIO_NET_RSS_TABLE_MAX);
	c->supported_hash_types = vio_cpu_to_le32(VIO_NET_DEV_HASH_TYPES);
	memcpy(net->mac, c->mac, 6);
	net->status = o->link_down ? 0 : VIO_NET_S_LINK_UP;
	sync_config(net);
}

int vio_net_dev_init(struct vio_net_dev *net, const struct vio_net_dev_opts *opts)
{
	static const struct vio_net_dev_opts defaults;
	const struct vio_net_dev_opts *o = opts ? opts : &defaults;
	int r;

	memset(net, 0, sizeof(*net));
	net->max_pairs = o->max_pairs ? o->max_pairs : 1;
	net->queue_size = o->queue_size ? o->queue_size : DEFAULT_QUEUE_SIZE;
	if (net->max_pairs > VIO_NET_MAX_PAIRS || !vio_ring_size_valid(0, net->queue_size) ||
	    (o->mtu && o->mtu < VIO_NET_MTU_MIN) || (o->offloads & ~VIO_NET_DEV_OFFLOADS) ||
	    (o->net_features & ~implemented) ||
	    !vio__alloc_pick(&net->alloc, o->alloc, o->free, o->alloc_opaque))
		return -EINVAL;
	net->dev.log = o->log;
	net->dev.log_opaque = o->log_opaque;
	net->port_ops = o->port_ops;
	net->port = o->port;
	net->link_up = !o->link_down;
	net->dev.host_features = offered_features(net, o);
	net->nq = 2 * net->max_pairs +
		  (vio_has_feature(net->dev.host_features, VIO_NET_F_CTRL_VQ) ? 1 : 0);
	r = pairs_init(net);
	if (r)
		goto fail;
	vio__net_filters_reset(net);
	build_config(net, o);
	net->dev.device_id = VIO_ID_NET;
	net->dev.legacy_ok = o->legacy_ok;
	net->dev.queues = net->dqs;
	net->dev.num_queues = net->nq;
	net->dev.ops = &net_ops;
	net->dev.config = (uint8_t *)&net->config;
	net->dev.config_len = sizeof(net->config);
	net->dev.config_fields = net_config_fields;
	net->dev.config_nfields = sizeof(net_config_fields) / sizeof(net_config_fields[0]);
	r = vio_dev_init(&net->dev);
	if (r)
		goto fail;
	return 0;
fail:
	vio_net_dev_fini(net);
	return r;
}

void vio_net_dev_fini(struct vio_net_dev *net)
{
	pairs_fini(net);
	memset(net, 0, sizeof(*net));
}

int vio_net_dev_stats(const struct vio_net_dev *net, unsigned pair, struct vio_net_pair_stats *out)
{
	const uint64_t *src;
	uint64_t *dst = (uint64_t *)out;

	if (pair >= net->max_pairs)
		return -EINVAL;
	/* Every member is a counter. */
	src = (const uint64_t *)&net->pairs[pair].stats;
	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = vio_stat_read(&src[i]);
	return 0;
}

void vio_net_dev_ctrl_stats(const struct vio_net_dev *net, struct vio_net_ctrl_stats *out)
{
	out->commands = vio_stat_read(&net->ctrl_stats.commands);
	out->ok = vio_stat_read(&net->ctrl_stats.ok);
	out->err = vio_stat_read(&net->ctrl_stats.err);
	out->unanswered = vio_stat_read(&net->ctrl_stats.unanswered);
}
