/*
 * net.c - the virtio network driver (see vio/drivers/net.h).
 *
 * Written only against the driver model. Each queue pair owns a receive
 * and a transmit queue, and one DMA block per queue cut into fixed-size
 * buffers, one per ring entry; which buffers are free is kept in a stack
 * of indices in private memory the device cannot reach. A buffer's token
 * on the ring is its index + 1, so the ring's shadow (which checks every
 * used id) hands back only indices we posted.
 *
 * Both paths copy: a transmitted frame into a transmit buffer, a received
 * frame out of its receive buffers. That keeps ownership simple (the
 * caller's memory is never shared with the device) and lets the receive
 * ring be refilled before rx_burst returns.
 *
 * Everything a pair's data path changes lives in its struct net_pair, and
 * struct net_drv is only read by it: that is what lets one thread per
 * pair run without a lock. The control queue has its own state, used only
 * by the control calls.
 */
#include <stdarg.h>
#include <stddef.h>

#include "vio/drivers.h"

#include "../vio_libc.h"

#define RX_MRG_DEFAULT   2048u
#define ETH_MAX          (VIO_NET_ETH_HLEN + 4u + 1500u) /* with a VLAN tag */
#define FRAME_BIG        VIO_NET_FRAME_MAX                /* with TSO */
#define CACHE_LINE       64u

/* The control buffer: class and command, data, then the ack on a line of
 * its own. The largest command is RSS_CONFIG with the biggest table and
 * key we send. */
#define CTRL_DATA        2u
#define CTRL_DATA_MAX    (8u + 2u * VIO_NET_DRV_RSS_TABLE_MAX + 3u + VIO_NET_DRV_RSS_KEY_MAX)
#define CTRL_ACK         ((CTRL_DATA + CTRL_DATA_MAX + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE)
#define CTRL_BYTES       (CTRL_ACK + CACHE_LINE)
#define ACK_NONE         0xffu  /* no device writes this */
#define CTRL_PARTS_MAX   4u

#define WAIT_STEP_MS     100

#define OFFLOAD_BITS (VIO_BIT(VIO_NET_F_CSUM) | VIO_BIT(VIO_NET_F_GUEST_CSUM) | \
		      VIO_BIT(VIO_NET_F_HOST_TSO4) | VIO_BIT(VIO_NET_F_HOST_TSO6) | \
		      VIO_BIT(VIO_NET_F_GUEST_TSO4) | VIO_BIT(VIO_NET_F_GUEST_TSO6))
#define DRV_NET_FEATURES (VIO_BIT(VIO_NET_F_MAC) | VIO_BIT(VIO_NET_F_MTU) | \
			  VIO_BIT(VIO_NET_F_STATUS) | VIO_BIT(VIO_NET_F_MRG_RXBUF) | \
			  VIO_BIT(VIO_NET_F_CTRL_VQ) | VIO_BIT(VIO_NET_F_CTRL_RX) | \
			  VIO_BIT(VIO_NET_F_CTRL_RX_EXTRA) | VIO_BIT(VIO_NET_F_CTRL_VLAN) | \
			  VIO_BIT(VIO_NET_F_CTRL_MAC_ADDR) | \
			  VIO_BIT(VIO_NET_F_CTRL_GUEST_OFFLOADS) | \
			  VIO_BIT(VIO_NET_F_GUEST_ANNOUNCE) | VIO_BIT(VIO_NET_F_MQ) | \
			  VIO_BIT(VIO_NET_F_RSS) | VIO_BIT(VIO_NET_F_HASH_REPORT) | \
			  VIO_BIT(VIO_NET_F_SPEED_DUPLEX))
/* Legacy devices: bits above 31 do not exist there. */
#define DRV_NET_LEGACY_FEATURES (DRV_NET_FEATURES & UINT32_MAX)
#define DRV_RING_FEATURES (VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_INDIRECT_DESC) | \
			   VIO_BIT(VIO_F_EVENT_IDX) | VIO_BIT(VIO_F_RING_PACKED) | \
			   VIO_BIT(VIO_F_IN_ORDER))
#define DRV_LEGACY_RING_FEATURES (VIO_BIT(VIO_F_INDIRECT_DESC) | VIO_BIT(VIO_F_EVENT_IDX) | \
				  VIO_BIT(VIO_F_ANY_LAYOUT))

/* Buffers of one queue: a DMA block of n buffers of `bytes` each. */
struct bufs {
	struct vio_drv_vq *vq;
	uint8_t *dma;
	uint64_t dma_addr;
	size_t dma_len;
	uint32_t bytes;
	unsigned n;
	uint16_t *free;         /* stack of free buffer indices */
	unsigned nfree;
	const char *error;      /* why the queue broke (ours or the ring's) */
};

struct net_pair {
	struct bufs rx, tx;
	/* A received frame still being gathered (MRG_RXBUF): its buffers
	 * and their used lengths, and how many it needs. */
	uint16_t *pend;
	uint32_t *pend_len;
	unsigned npend, want;
	struct vio_net_hdr hdr; /* the pending frame's header */
	struct vio_net_drv_stats st;
};

struct net_drv {
	struct vio_drv_device *dev;
	struct vio_net_drv_opts opts;
	bool legacy, mrg, split_hdr;
	uint32_t hdr_len;       /* virtio header on the wire */
	unsigned npairs;        /* set up and usable */
	unsigned dev_pairs;     /* the device's max_virtqueue_pairs (1 without MQ) */
	unsigned mtu;
	struct vio_drv_vq *vqs;
	unsigned nvqs;
	struct net_pair pairs[VIO_NET_DRV_MAX_PAIRS];
	/* control queue */
	struct vio_drv_vq *cvq;
	uint8_t *ctrl;
	uint64_t ctrl_addr;
	bool ctrl_out;          /* a timed-out command still with the device */
};

static int net_probe(struct vio_drv_device *dev);

static struct net_drv *drv_of(struct vio_drv_device *dev)
{
	/* dev->priv is ours only while our driver is the one bound. */
	if (!dev || !dev->driver || dev->driver->probe != net_probe)
		return NULL;
	return dev->priv;
}

/* Log lines read "virtio0: virtio_net: ...", through vio_drv_logf(). */
#define PFX "%s: virtio_net: "

static struct net_pair *pair_of(struct vio_drv_device *dev, unsigned pair)
{
	struct net_drv *nd = drv_of(dev);

	return nd && pair < nd->npairs ? &nd->pairs[pair] : NULL;
}

/* The driver and pair of a per-pair call: 0, -ENODEV or -EINVAL. */
static int pair_call(struct vio_drv_device *dev, unsigned pair, struct net_drv **nd,
		     struct net_pair **p)
{
	*nd = drv_of(dev);
	if (!*nd)
		return -ENODEV;
	*p = pair_of(dev, pair);
	return *p ? 0 : -EINVAL;
}

/* The device broke a rule on b's queue: remember why (sticky) and say so.
 * The ring keeps its own sentence for what it caught itself. */
static int queue_broke(struct net_drv *nd, struct bufs *b, const char *why)
{
	if (!b->error) {
		b->error = why;
		vio_drv_logf(nd->dev, VIO_LOG_ERR, PFX "queue %u broken: %s", nd->dev->name,
			     b->vq->index, why);
	}
	return -EIO;
}

/* Is b's queue broken, by us or by the ring's own checks? The first time
 * the ring's is seen it is logged like ours. */
static bool queue_broken(struct net_drv *nd, struct bufs *b)
{
	if (!b->error && vio_drvq_is_broken(&b->vq->q))
		queue_broke(nd, b, vio_drvq_error(&b->vq->q));
	return b->error != NULL;
}

static uint64_t buf_addr(const struct bufs *b, unsigned i)
{
	return b->dma_addr + (uint64_t)i * b->bytes;
}

static uint8_t *buf_ptr(const struct bufs *b, unsigned i)
{
	return b->dma + (size_t)i * b->bytes;
}

/* Turns a token back into a buffer index; the ring only returns tokens we
 * posted, so a bad one is our own bug, but a check costs nothing. */
static bool token_index(const struct bufs *b, void *token, unsigned *i)
{
	uintptr_t t = (uintptr_t)token;

	if (t == 0 || t > b->n)
		return false;
	*i = (unsigned)(t - 1);
	return true;
}

static void *index_token(unsigned i)
{
	return (void *)(uintptr_t)(i + 1);
}

/* ------------------------------------------------------------------------ */
/* Receive                                                                  */

/* Posts every free receive buffer (one writable descriptor each, or the
 * header apart for legacy devices without ANY_LAYOUT) and kicks. */
static void rx_refill(struct net_drv *nd, struct net_pair *p)
{
	struct bufs *b = &p->rx;
	bool added = false;

	while (b->nfree) {
		unsigned i = b->free[b->nfree - 1];
		struct vio_sg in[2];
		unsigned nin = 1;
		int r;

		in[0].addr = buf_addr(b, i);
		in[0].len = b->bytes;
		if (nd->split_hdr) {
			in[0].len = nd->hdr_len;
			in[1].addr = in[0].addr + nd->hdr_len;
			in[1].len = b->bytes - nd->hdr_len;
			nin = 2;
		}
		r = vio_drvq_add_staged(&b->vq->q, NULL, 0, in, nin, index_token(i));
		if (r == -EAGAIN) {
			vio_drv_vq_kick(b->vq);
			r = vio_drvq_add_staged(&b->vq->q, NULL, 0, in, nin, index_token(i));
		}
		if (r)
			break;
		b->nfree--;
		added = true;
	}
	if (added)
		vio_drv_vq_kick(b->vq);
}

/* Copies [off, off + len) of buffer i to the frame at *at, within cap. */
static void rx_copy(struct bufs *b, unsigned i, uint32_t off, uint32_t len,
		    struct vio_net_drv_frame *f)
{
	uint32_t room = f->cap - f->len;
	uint32_t n = len < room ? len : room;

	if (n)
		memcpy((uint8_t *)f->data + f->len, buf_ptr(b, i) + off, n);
	f->len += n;
	f->frame_len += len;
}

/* The pending frame is complete: copy it out, free its buffers. */
static void rx_deliver(struct net_drv *nd, struct net_pair *p, struct vio_net_drv_frame *f)
{
	const struct vio_net_hdr *h = &p->hdr;
	const bool lg = nd->legacy;

	f->flags = h->flags;
	f->gso_type = h->gso_type;
	f->hdr_len = vio_get16(lg, h->hdr_len);
	f->gso_size = vio_get16(lg, h->gso_size);
	f->csum_start = vio_get16(lg, h->csum_start);
	f->csum_offset = vio_get16(lg, h->csum_offset);
	f->num_buffers = (uint16_t)p->npend;
	f->hash_value = 0;
	f->hash_report = 0;
	if (nd->hdr_len >= VIO_NET_HDR_LEN_HASH) {
		f->hash_value = vio_get32(lg, h->hash_value);
		f->hash_report = vio_get16(lg, h->hash_report);
	}
	f->len = 0;
	f->frame_len = 0;
	if (!f->data)
		f->cap = 0;
	for (unsigned k = 0; k < p->npend; k++) {
		uint32_t off = k == 0 ? nd->hdr_len : 0;

		rx_copy(&p->rx, p->pend[k], off, p->pend_len[k] - off, f);
		p->rx.free[p->rx.nfree++] = p->pend[k];
	}
	if (f->frame_len > f->len)
		vio_stat_inc(&p->st.rx_truncated);
	vio_stat_inc(&p->st.rx_frames);
	vio_stat_add(&p->st.rx_bytes, f->frame_len);
	p->npend = 0;
	p->want = 0;
}

/*
 * Takes one used receive buffer into the pending frame. 0 when taken,
 * -EAGAIN when none is there, -EIO when the queue broke. The first buffer
 * of a frame must hold the header; with MRG_RXBUF its num_buffers must be
 * at least 1 and no more than the buffers the device still holds (this
 * one included), or the frame could never be put together.
 */
static int rx_take(struct net_drv *nd, struct net_pair *p)
{
	struct bufs *b = &p->rx;
	unsigned i, held;
	void *token;
	uint32_t len;
	int r;

	r = vio_drvq_get_buf(&b->vq->q, &token, &len);
	if (r == -EAGAIN)
		return r;
	if (r) {
		queue_broken(nd, b);
		return -EIO;
	}
	if (!token_index(b, token, &i))
		return queue_broke(nd, b, "the ring returned a token the driver never posted");
	/* Buffers the device held before this one came back. */
	held = b->n - b->nfree - p->npend;
	p->pend[p->npend] = (uint16_t)i;
	p->pend_len[p->npend] = len;
	p->npend++;
	if (p->npend > 1)
		return 0;
	if (len < nd->hdr_len)
		return queue_broke(nd, b, "a used length shorter than the virtio-net header");
	memset(&p->hdr, 0, sizeof(p->hdr));
	memcpy(&p->hdr, buf_ptr(b, i), nd->hdr_len);
	p->want = 1;
	if (nd->mrg) {
		unsigned nb = vio_get16(nd->legacy, p->hdr.num_buffers);

		if (nb == 0)
			return queue_broke(nd, b, "num_buffers 0 in a received frame's header");
		if (nb > held)
			return queue_broke(nd, b, "num_buffers counts more receive buffers than "
					   "the device holds");
		p->want = nb;
	}
	return 0;
}

int vio_net_drv_rx_burst(struct vio_drv_device *dev, unsigned pair,
			 struct vio_net_drv_frame *frames, unsigned n)
{
	struct net_drv *nd;
	struct net_pair *p;
	unsigned got = 0;
	int r = pair_call(dev, pair, &nd, &p);

	if (r)
		return r;
	if (queue_broken(nd, &p->rx))
		return -EIO;
	while (got < n) {
		r = rx_take(nd, p);
		if (r)
			break;
		if (p->npend == p->want)
			rx_deliver(nd, p, &frames[got++]);
	}
	if (r == -EIO)
		return got ? (int)got : -EIO;
	rx_refill(nd, p);
	return (int)got;
}

/* ------------------------------------------------------------------------ */
/* Transmit                                                                 */

int vio_net_drv_tx_reap(struct vio_drv_device *dev, unsigned pair)
{
	struct net_drv *nd;
	struct net_pair *p;
	struct bufs *b;
	int done = 0, r = pair_call(dev, pair, &nd, &p);

	if (r)
		return r;
	b = &p->tx;
	if (queue_broken(nd, b))
		return -EIO;
	for (;;) {
		void *token;
		uint32_t len;
		unsigned i;

		r = vio_drvq_get_buf(&b->vq->q, &token, &len);
		if (r == -EAGAIN)
			break;
		if (r) {
			queue_broken(nd, b);
			return -EIO;
		}
		if (!token_index(b, token, &i) || b->nfree >= b->n)
			return queue_broke(nd, b, "the ring returned a token the driver never posted");
		/* The used length of a transmit buffer means nothing. */
		b->free[b->nfree++] = (uint16_t)i;
		done++;
	}
	vio_stat_add(&p->st.tx_done, (uint64_t)done);
	return done;
}

unsigned vio_net_drv_tx_free(struct vio_drv_device *dev, unsigned pair)
{
	struct net_pair *p = pair_of(dev, pair);

	return p ? p->tx.nfree : 0;
}

/* Can the device take f as it is? 0 or the errno that refuses it. */
static int tx_check(struct net_drv *nd, const struct vio_net_drv_frame *f)
{
	struct vio_drv_device *dev = nd->dev;
	uint8_t gso = f->gso_type & (uint8_t)~VIO_NET_HDR_GSO_ECN;

	if (!f->data || f->len == 0 || f->len > nd->pairs[0].tx.bytes - nd->hdr_len)
		return -EINVAL;
	if (f->flags & ~VIO_NET_HDR_F_NEEDS_CSUM)
		return -EINVAL; /* DATA_VALID and RSC_INFO are receive-only */
	if (f->flags & VIO_NET_HDR_F_NEEDS_CSUM) {
		if (!vio_drv_has_feature(dev, VIO_NET_F_CSUM))
			return -ENOTSUP;
		if ((uint32_t)f->csum_start + f->csum_offset + 2u > f->len)
			return -EINVAL;
	}
	if (f->gso_type == VIO_NET_HDR_GSO_NONE)
		return 0;
	if (!(f->flags & VIO_NET_HDR_F_NEEDS_CSUM) || f->gso_size == 0)
		return -EINVAL;
	if ((f->gso_type & VIO_NET_HDR_GSO_ECN) && !vio_drv_has_feature(dev, VIO_NET_F_HOST_ECN))
		return -ENOTSUP;
	if (gso == VIO_NET_HDR_GSO_TCPV4 && vio_drv_has_feature(dev, VIO_NET_F_HOST_TSO4))
		return 0;
	if (gso == VIO_NET_HDR_GSO_TCPV6 && vio_drv_has_feature(dev, VIO_NET_F_HOST_TSO6))
		return 0;
	return -ENOTSUP;
}

/* Writes f's header and bytes into transmit buffer i. */
static void tx_fill(struct net_drv *nd, struct bufs *b, unsigned i,
		    const struct vio_net_drv_frame *f)
{
	const bool lg = nd->legacy;
	struct vio_net_hdr h;
	uint8_t *d = buf_ptr(b, i);

	memset(&h, 0, sizeof(h));
	h.flags = f->flags;
	h.gso_type = f->gso_type;
	h.hdr_len = vio_set16(lg, f->hdr_len);
	h.gso_size = vio_set16(lg, f->gso_size);
	h.csum_start = vio_set16(lg, f->csum_start);
	h.csum_offset = vio_set16(lg, f->csum_offset);
	h.num_buffers = vio_set16(lg, 0);
	memcpy(d, &h, nd->hdr_len);
	memcpy(d + nd->hdr_len, f->data, f->len);
}

int vio_net_drv_tx_burst(struct vio_drv_device *dev, unsigned pair,
			 const struct vio_net_drv_frame *frames, unsigned n)
{
	struct net_drv *nd;
	struct net_pair *p;
	struct bufs *b;
	unsigned sent = 0;
	int err = pair_call(dev, pair, &nd, &p);

	if (err)
		return err;
	b = &p->tx;
	if (b->nfree < n) {
		int r = vio_net_drv_tx_reap(dev, pair);

		if (r < 0)
			return r;
	}
	if (queue_broken(nd, b))
		return -EIO;
	for (; sent < n && b->nfree; sent++) {
		const struct vio_net_drv_frame *f = &frames[sent];
		unsigned i = b->free[b->nfree - 1];
		struct vio_sg out[2];
		unsigned nout = 1;

		err = tx_check(nd, f);
		if (err)
			break;
		tx_fill(nd, b, i, f);
		out[0].addr = buf_addr(b, i);
		out[0].len = nd->hdr_len + f->len;
		if (nd->split_hdr) {
			out[0].len = nd->hdr_len;
			out[1].addr = out[0].addr + nd->hdr_len;
			out[1].len = f->len;
			nout = 2;
		}
		err = vio_drvq_add_staged(&b->vq->q, out, nout, NULL, 0, index_token(i));
		if (err == -EAGAIN) {
			vio_drv_vq_kick(b->vq);
			err = vio_drvq_add_staged(&b->vq->q, out, nout, NULL, 0, index_token(i));
		}
		if (err)
			break;
		b->nfree--;
		vio_stat_inc(&p->st.tx_frames);
		vio_stat_add(&p->st.tx_bytes, f->len);
	}
	if (sent)
		vio_drv_vq_kick(b->vq);
	if (sent == 0 && err && err != -ENOSPC)
		return err;
	return (int)sent;
}

/* ------------------------------------------------------------------------ */
/* Per pair: errors and counters                                            */

const char *vio_net_drv_error(struct vio_drv_device *dev, unsigned pair)
{
	struct net_pair *p = pair_of(dev, pair);

	if (!p)
		return NULL;
	queue_broken(drv_of(dev), &p->rx);
	queue_broken(drv_of(dev), &p->tx);
	return p->rx.error ? p->rx.error : p->tx.error;
}

void vio_net_drv_pair_stats(struct vio_drv_device *dev, unsigned pair,
			    struct vio_net_drv_stats *s)
{
	struct net_pair *p = pair_of(dev, pair);

	memset(s, 0, sizeof(*s));
	if (!p)
		return;
	s->rx_frames = vio_stat_read(&p->st.rx_frames);
	s->rx_bytes = vio_stat_read(&p->st.rx_bytes);
	s->rx_truncated = vio_stat_read(&p->st.rx_truncated);
	s->tx_frames = vio_stat_read(&p->st.tx_frames);
	s->tx_bytes = vio_stat_read(&p->st.tx_bytes);
	s->tx_done = vio_stat_read(&p->st.tx_done);
}

unsigned vio_net_drv_num_pairs(struct vio_drv_device *dev)
{
	struct net_drv *nd = drv_of(dev);

	return nd ? nd->npairs : 0;
}

/* ------------------------------------------------------------------------ */
/* Config                                                                   */

#define CFG_OFF(field) offsetof(struct vio_net_config, field)

static int cfg16(struct vio_drv_device *dev, unsigned off, uint16_t *v)
{
	vio_le16 w;
	int r = vio_drv_config_read(dev, off, &w, sizeof(w));

	if (r == 0)
		*v = vio_get16(dev->legacy, w);
	return r;
}

int vio_net_drv_mac(struct vio_drv_device *dev, uint8_t *mac)
{
	if (!drv_of(dev))
		return -ENODEV;
	if (!vio_drv_has_feature(dev, VIO_NET_F_MAC))
		return -ENOTSUP;
	return vio_drv_config_read(dev, CFG_OFF(mac), mac, VIO_NET_MAC_LEN);
}

uint16_t vio_net_drv_status(struct vio_drv_device *dev)
{
	uint16_t s = VIO_NET_S_LINK_UP;

	if (drv_of(dev) && vio_drv_has_feature(dev, VIO_NET_F_STATUS) &&
	    cfg16(dev, CFG_OFF(status), &s))
		s = 0; /* unreadable: say the link is down */
	return s;
}

bool vio_net_drv_link_up(struct vio_drv_device *dev)
{
	return drv_of(dev) && (vio_net_drv_status(dev) & VIO_NET_S_LINK_UP);
}

unsigned vio_net_drv_mtu(struct vio_drv_device *dev)
{
	struct net_drv *nd = drv_of(dev);

	return nd ? nd->mtu : 0;
}

int vio_net_drv_speed_duplex(struct vio_drv_device *dev, uint32_t *speed, uint8_t *duplex)
{
	/* speed and duplex in one read: one generation for both */
	uint8_t b[CFG_OFF(duplex) + 1 - CFG_OFF(speed)];
	vio_le32 s;
	int r;

	if (!drv_of(dev))
		return -ENODEV;
	if (!vio_drv_has_feature(dev, VIO_NET_F_SPEED_DUPLEX))
		return -ENOTSUP;
	r = vio_drv_config_read(dev, CFG_OFF(speed), b, sizeof(b));
	if (r)
		return r;
	memcpy(&s, b, sizeof(s));
	*duplex = b[sizeof(b) - 1];
	*speed = vio_get32(dev->legacy, s);
	/* Values the spec does not define read as unknown, as Linux does. */
	if (*duplex != VIO_NET_DUPLEX_HALF && *duplex != VIO_NET_DUPLEX_FULL)
		*duplex = VIO_NET_DUPLEX_UNKNOWN;
	return 0;
}

static void net_config_changed(struct vio_drv_device *dev)
{
	struct net_drv *nd = drv_of(dev);
	unsigned ev = VIO_NET_DRV_EV_LINK;

	if (!nd || !nd->opts.config_changed)
		return;
	if (vio_drv_has_feature(dev, VIO_NET_F_GUEST_ANNOUNCE) &&
	    (vio_net_drv_status(dev) & VIO_NET_S_ANNOUNCE))
		ev |= VIO_NET_DRV_EV_ANNOUNCE;
	nd->opts.config_changed(nd->opts.opaque, dev, ev);
}

/* ------------------------------------------------------------------------ */
/* Control queue                                                            */

struct part {
	const void *p;
	uint32_t len;
};

/* Takes back a command that timed out, if the device has let it go. */
static bool ctrl_idle(struct net_drv *nd)
{
	void *token;
	uint32_t len;

	while (nd->ctrl_out && vio_drvq_get_buf(&nd->cvq->q, &token, &len) == 0)
		nd->ctrl_out = false;
	return !nd->ctrl_out;
}

/* Is waiting for the control queue pointless? */
static int ctrl_stuck(struct net_drv *nd, const struct vio_drv_deadline *dl)
{
	if (vio_drvq_is_broken(&nd->cvq->q) ||
	    (vio_drv_get_status(nd->dev) & (VIO_STATUS_NEEDS_RESET | VIO_STATUS_FAILED)))
		return -EIO;
	if (vio_drv_deadline_passed(nd->dev, dl))
		return -ETIMEDOUT;
	return 0;
}

/*
 * Runs one command: class and cmd, then the parts (each its own readable
 * descriptor, copied into the control buffer), then the ack byte. Needs
 * feature `bit` (and the control queue).
 */
static int ctrl_cmd(struct vio_drv_device *dev, unsigned bit, uint8_t class, uint8_t cmd,
		    const struct part *parts, unsigned nparts)
{
	struct net_drv *nd = drv_of(dev);
	struct vio_sg out[1 + CTRL_PARTS_MAX], in[1];
	struct vio_drv_deadline dl;
	uint32_t off = CTRL_DATA;
	volatile uint8_t *ack;
	int r;

	if (!nd)
		return -ENODEV;
	if (!nd->cvq || !vio_drv_has_feature(dev, bit))
		return -ENOTSUP;
	if (vio_drvq_is_broken(&nd->cvq->q))
		return -EIO;
	if (!ctrl_idle(nd))
		return -EBUSY;
	nd->ctrl[0] = class;
	nd->ctrl[1] = cmd;
	out[0] = (struct vio_sg){ nd->ctrl_addr, CTRL_DATA };
	for (unsigned k = 0; k < nparts; k++) {
		if (parts[k].len > CTRL_DATA + CTRL_DATA_MAX - off)
			return -EINVAL;
		memcpy(nd->ctrl + off, parts[k].p, parts[k].len);
		out[1 + k] = (struct vio_sg){ nd->ctrl_addr + off, parts[k].len };
		off += parts[k].len;
	}
	ack = nd->ctrl + CTRL_ACK;
	*ack = ACK_NONE;
	in[0] = (struct vio_sg){ nd->ctrl_addr + CTRL_ACK, 1 };
	vio_drv_deadline_start(dev, &dl, nd->opts.timeout_ms > 0 ? nd->opts.timeout_ms : -1);
	r = vio_drvq_add(&nd->cvq->q, out, 1 + nparts, in, 1, nd);
	if (r)
		return r == -EIO ? -EIO : -EBUSY;
	nd->ctrl_out = true;
	vio_drv_vq_kick(nd->cvq);
	for (;;) {
		void *token;
		uint32_t len;

		r = vio_drvq_get_buf(&nd->cvq->q, &token, &len);
		if (r == 0) {
			nd->ctrl_out = false;
			break;
		}
		if (r != -EAGAIN) {
			vio_drv_logf(dev, VIO_LOG_ERR, PFX "control queue broken: %s", dev->name,
				     vio_drvq_error(&nd->cvq->q));
			return -EIO;
		}
		r = ctrl_stuck(nd, &dl);
		if (r)
			return r;
		vio_drv_deadline_wait(dev, &dl, WAIT_STEP_MS);
	}
	/* Anything but OK, no ack written included, is a failure. */
	return *ack == VIO_NET_OK ? 0 : -EIO;
}

int vio_net_drv_set_mac(struct vio_drv_device *dev, const uint8_t *mac)
{
	struct part p = { mac, VIO_NET_MAC_LEN };

	return ctrl_cmd(dev, VIO_NET_F_CTRL_MAC_ADDR, VIO_NET_CTRL_MAC, VIO_NET_CTRL_MAC_ADDR_SET,
			&p, 1);
}

int vio_net_drv_set_rx_mode(struct vio_drv_device *dev, unsigned cmd, bool on)
{
	uint8_t v = on;
	struct part p = { &v, 1 };
	unsigned bit = VIO_NET_F_CTRL_RX;

	if (cmd > VIO_NET_CTRL_RX_NOBCAST)
		return -EINVAL;
	if (cmd > VIO_NET_CTRL_RX_ALLMULTI)
		bit = VIO_NET_F_CTRL_RX_EXTRA;
	return ctrl_cmd(dev, bit, VIO_NET_CTRL_RX, (uint8_t)cmd, &p, 1);
}

int vio_net_drv_set_mac_table(struct vio_drv_device *dev, const uint8_t *uc, unsigned n_uc,
			      const uint8_t *mc, unsigned n_mc)
{
	/* Each table in one descriptor, as the spec shows them: the le32
	 * count and its addresses together. */
	uint8_t t[2][4 + VIO_NET_DRV_MAC_TABLE_MAX * VIO_NET_MAC_LEN];
	const uint8_t *addrs[2] = { uc, mc };
	const unsigned count[2] = { n_uc, n_mc };
	struct part p[2];

	if (!drv_of(dev))
		return -ENODEV;
	for (unsigned k = 0; k < 2; k++) {
		vio_le32 n = vio_set32(dev->legacy, count[k]);
		uint32_t bytes = count[k] * VIO_NET_MAC_LEN;

		if (count[k] > VIO_NET_DRV_MAC_TABLE_MAX || (count[k] && !addrs[k]))
			return -EINVAL;
		memcpy(t[k], &n, sizeof(n));
		if (bytes)
			memcpy(t[k] + 4, addrs[k], bytes);
		p[k] = (struct part){ t[k], 4 + bytes };
	}
	return ctrl_cmd(dev, VIO_NET_F_CTRL_RX, VIO_NET_CTRL_MAC, VIO_NET_CTRL_MAC_TABLE_SET, p, 2);
}

static int vlan_cmd(struct vio_drv_device *dev, uint8_t cmd, uint16_t vid)
{
	vio_le16 v;
	struct part p = { &v, sizeof(v) };

	if (!drv_of(dev))
		return -ENODEV;
	if (vid > VIO_NET_VLAN_MAX)
		return -EINVAL;
	v = vio_set16(dev->legacy, vid);
	return ctrl_cmd(dev, VIO_NET_F_CTRL_VLAN, VIO_NET_CTRL_VLAN, cmd, &p, 1);
}

int vio_net_drv_vlan_add(struct vio_drv_device *dev, uint16_t vid)
{
	return vlan_cmd(dev, VIO_NET_CTRL_VLAN_ADD, vid);
}

int vio_net_drv_vlan_del(struct vio_drv_device *dev, uint16_t vid)
{
	return vlan_cmd(dev, VIO_NET_CTRL_VLAN_DEL, vid);
}

int vio_net_drv_set_pairs(struct vio_drv_device *dev, unsigned pairs)
{
	struct net_drv *nd = drv_of(dev);
	vio_le16 v;
	struct part p = { &v, sizeof(v) };

	if (!nd)
		return -ENODEV;
	if (pairs < VIO_NET_MQ_PAIRS_MIN || pairs > nd->npairs)
		return -EINVAL;
	v = vio_set16(dev->legacy, (uint16_t)pairs);
	return ctrl_cmd(dev, VIO_NET_F_MQ, VIO_NET_CTRL_MQ, VIO_NET_CTRL_MQ_VQ_PAIRS_SET, &p, 1);
}

/* What the device says it takes (config, read now): the hash types it
 * supports, its longest table and key. 0, -EINVAL, or the read's error. */
static int rss_limits_ok(struct vio_drv_device *dev, const struct vio_net_drv_rss *rss)
{
	uint8_t key_max;
	uint16_t table_max;
	vio_le32 w;
	int r;

	if (!vio_drv_has_feature(dev, VIO_NET_F_RSS))
		return -ENOTSUP;
	r = vio_drv_config_read(dev, CFG_OFF(rss_max_key_size), &key_max, 1);
	if (r == 0)
		r = cfg16(dev, CFG_OFF(rss_max_indirection_table_length), &table_max);
	if (r == 0)
		r = vio_drv_config_read(dev, CFG_OFF(supported_hash_types), &w, sizeof(w));
	if (r)
		return r;
	if (rss->key_len > key_max || rss->table_len > table_max ||
	    (rss->hash_types & ~vio_get32(dev->legacy, w)))
		return -EINVAL;
	return 0;
}

int vio_net_drv_set_rss(struct vio_drv_device *dev, const struct vio_net_drv_rss *rss)
{
	struct net_drv *nd = drv_of(dev);
	struct vio_net_rss_config_head head;
	vio_le16 table[VIO_NET_DRV_RSS_TABLE_MAX];
	uint8_t tail[VIO_NET_RSS_CONFIG_TAIL_LEN + VIO_NET_DRV_RSS_KEY_MAX];
	struct part p[3];
	const bool lg = dev ? dev->legacy : false;
	unsigned n;
	int r;

	if (!nd)
		return -ENODEV;
	n = rss->table_len;
	if (n == 0 || n > VIO_NET_DRV_RSS_TABLE_MAX || (n & (n - 1)) || !rss->table ||
	    rss->key_len > VIO_NET_DRV_RSS_KEY_MAX || (rss->key_len && !rss->key) ||
	    rss->unclassified_queue >= nd->npairs || rss->max_tx_vq > nd->npairs)
		return -EINVAL;
	r = rss_limits_ok(dev, rss);
	if (r)
		return r;
	for (unsigned k = 0; k < n; k++) {
		if (rss->table[k] >= nd->npairs)
			return -EINVAL;
		table[k] = vio_set16(lg, rss->table[k]);
	}
	head.hash_types = vio_set32(lg, rss->hash_types);
	head.indirection_table_mask = vio_set16(lg, (uint16_t)(n - 1));
	head.unclassified_queue = vio_set16(lg, rss->unclassified_queue);
	{
		vio_le16 mtx = vio_set16(lg, (uint16_t)(rss->max_tx_vq ? rss->max_tx_vq :
							 nd->npairs));

		memcpy(tail, &mtx, 2);
	}
	tail[2] = (uint8_t)rss->key_len;
	if (rss->key_len)
		memcpy(tail + VIO_NET_RSS_CONFIG_TAIL_LEN, rss->key, rss->key_len);
	p[0] = (struct part){ &head, sizeof(head) };
	p[1] = (struct part){ table, n * 2u };
	p[2] = (struct part){ tail, VIO_NET_RSS_CONFIG_TAIL_LEN + rss->key_len };
	return ctrl_cmd(dev, VIO_NET_F_RSS, VIO_NET_CTRL_MQ, VIO_NET_CTRL_MQ_RSS_CONFIG, p, 3);
}

int vio_net_drv_set_guest_offloads(struct vio_drv_device *dev, uint64_t offloads)
{
	const uint64_t guest = VIO_BIT(VIO_NET_F_GUEST_CSUM) | VIO_BIT(VIO_NET_F_GUEST_TSO4) |
			       VIO_BIT(VIO_NET_F_GUEST_TSO6) | VIO_BIT(VIO_NET_F_GUEST_ECN) |
			       VIO_BIT(VIO_NET_F_GUEST_UFO);
	vio_le64 v;
	struct part p = { &v, sizeof(v) };

	if (!drv_of(dev))
		return -ENODEV;
	if (offloads & ~(guest & dev->features))
		return -EINVAL;
	v = vio_set64(dev->legacy, offloads);
	return ctrl_cmd(dev, VIO_NET_F_CTRL_GUEST_OFFLOADS, VIO_NET_CTRL_GUEST_OFFLOADS,
			VIO_NET_CTRL_GUEST_OFFLOADS_SET, &p, 1);
}

int vio_net_drv_announce_ack(struct vio_drv_device *dev)
{
	return ctrl_cmd(dev, VIO_NET_F_GUEST_ANNOUNCE, VIO_NET_CTRL_ANNOUNCE,
			VIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* Probe and remove                                                         */

static void bufs_free(struct net_drv *nd, struct bufs *b)
{
	if (b->dma)
		vio_drv_dma_free(nd->dev, b->dma, b->dma_len);
	if (b->free)
		vio_drv_priv_free(nd->dev, b->free, b->n * sizeof(*b->free));
	b->dma = NULL;
	b->free = NULL;
}

static int bufs_setup(struct net_drv *nd, struct bufs *b, struct vio_drv_vq *vq, uint32_t bytes)
{
	b->vq = vq;
	b->n = vq->q.size;
	b->bytes = (bytes + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
	b->dma_len = (size_t)b->n * b->bytes;
	b->dma = vio_drv_dma_alloc(nd->dev, b->dma_len, CACHE_LINE, &b->dma_addr);
	b->free = vio_drv_priv_alloc(nd->dev, b->n * sizeof(*b->free));
	if (!b->dma || !b->free)
		return -ENOMEM;
	for (unsigned i = 0; i < b->n; i++)
		b->free[i] = (uint16_t)(b->n - 1 - i);
	b->nfree = b->n;
	return 0;
}

static void free_all(struct net_drv *nd)
{
	struct vio_drv_device *dev = nd->dev;

	for (unsigned i = 0; i < nd->npairs; i++) {
		struct net_pair *p = &nd->pairs[i];

		if (p->pend)
			vio_drv_priv_free(dev, p->pend, p->rx.n * sizeof(*p->pend));
		if (p->pend_len)
			vio_drv_priv_free(dev, p->pend_len, p->rx.n * sizeof(*p->pend_len));
		bufs_free(nd, &p->rx);
		bufs_free(nd, &p->tx);
	}
	if (nd->ctrl)
		vio_drv_dma_free(dev, nd->ctrl, CTRL_BYTES);
	nd->ctrl = NULL;
}

/*
 * Reads and checks what the device says about itself, as Linux's
 * virtio_net does: an MTU below 68 is ignored (1500 is used) and a
 * max_virtqueue_pairs outside 1..0x8000 or without the control queue
 * means one pair; each with a log line.
 */
static int read_config(struct net_drv *nd)
{
	struct vio_drv_device *dev = nd->dev;
	uint16_t v;
	int r;

	nd->mtu = 1500;
	if (vio_drv_has_feature(dev, VIO_NET_F_MTU)) {
		r = cfg16(dev, CFG_OFF(mtu), &v);
		if (r)
			return r;
		if (v < VIO_NET_MTU_MIN)
			vio_drv_logf(dev, VIO_LOG_WARN, PFX "device MTU %u is below %u: using 1500",
				     dev->name, v, VIO_NET_MTU_MIN);
		else
			nd->mtu = v;
	}
	nd->dev_pairs = 1;
	if (vio_drv_has_feature(dev, VIO_NET_F_MQ) || vio_drv_has_feature(dev, VIO_NET_F_RSS)) {
		r = cfg16(dev, CFG_OFF(max_virtqueue_pairs), &v);
		if (r)
			return r;
		if (!vio_drv_has_feature(dev, VIO_NET_F_CTRL_VQ))
			vio_drv_logf(dev, VIO_LOG_WARN, PFX "MQ without the control queue: one pair",
				     dev->name);
		else if (v < VIO_NET_MQ_PAIRS_MIN || v > VIO_NET_MQ_PAIRS_MAX)
			vio_drv_logf(dev, VIO_LOG_WARN, PFX "max_virtqueue_pairs %u out of range: "
				     "one pair", dev->name, v);
		else
			nd->dev_pairs = v;
	}
	return 0;
}

/* Buffer sizes: a whole frame per receive buffer without MRG_RXBUF. */
static uint32_t rx_bytes(const struct net_drv *nd)
{
	struct vio_drv_device *dev = nd->dev;

	if (nd->mrg) {
		uint32_t b = nd->opts.rx_buf_bytes ? nd->opts.rx_buf_bytes : RX_MRG_DEFAULT;

		return b < nd->hdr_len + 64u ? nd->hdr_len + 64u : b;
	}
	if (vio_drv_has_feature(dev, VIO_NET_F_GUEST_TSO4) ||
	    vio_drv_has_feature(dev, VIO_NET_F_GUEST_TSO6))
		return nd->hdr_len + FRAME_BIG;
	return nd->hdr_len + (nd->mtu > 1500 ? nd->mtu + 18u : ETH_MAX);
}

static uint32_t tx_bytes(const struct net_drv *nd)
{
	struct vio_drv_device *dev = nd->dev;

	if (nd->opts.tx_buf_bytes)
		return nd->opts.tx_buf_bytes > nd->hdr_len + 1u ? nd->opts.tx_buf_bytes :
		       nd->hdr_len + 1u;
	if (vio_drv_has_feature(dev, VIO_NET_F_HOST_TSO4) ||
	    vio_drv_has_feature(dev, VIO_NET_F_HOST_TSO6))
		return nd->hdr_len + FRAME_BIG;
	return nd->hdr_len + (nd->mtu > 1500 ? nd->mtu + 18u : ETH_MAX);
}

static void net_remove(struct vio_drv_device *dev)
{
	struct net_drv *nd = dev->priv;

	if (!nd)
		return;
	vio_drv_reset(dev);
	for (unsigned i = 0; i < nd->nvqs; i++)
		while (vio_drvq_detach_unused(&nd->vqs[i].q))
			;
	free_all(nd);
	vio_drv_del_vqs(dev);
	vio_drv_priv_free(dev, nd->vqs, nd->nvqs * sizeof(*nd->vqs));
	dev->priv = NULL;
	vio_drv_priv_free(dev, nd, sizeof(*nd));
}

static unsigned ring_size(struct net_drv *nd, unsigned qi)
{
	unsigned max = nd->dev->ops->queue_max(nd->dev, qi);
	unsigned want = nd->opts.queue_size;

	return want && want < max ? want : 0;
}

static int setup_queues(struct net_drv *nd)
{
	struct vio_drv_device *dev = nd->dev;
	bool cvq = vio_drv_has_feature(dev, VIO_NET_F_CTRL_VQ);
	struct vio_drv_vq_info *info;
	size_t info_len;
	int r;

	nd->nvqs = cvq ? 2 * nd->dev_pairs + 1 : 2 * nd->npairs;
	if (nd->nvqs > dev->ops->num_queues(dev)) {
		vio_drv_logf(dev, VIO_LOG_ERR, PFX "the device has %u queues, %u needed",
			     dev->name, dev->ops->num_queues(dev), nd->nvqs);
		return -EINVAL;
	}
	info_len = nd->nvqs * sizeof(*info);
	info = vio_drv_priv_alloc(dev, info_len);
	nd->vqs = vio_drv_priv_alloc(dev, nd->nvqs * sizeof(*nd->vqs));
	if (!info || !nd->vqs) {
		r = -ENOMEM;
		goto out;
	}
	for (unsigned q = 0; q < nd->nvqs; q++) {
		info[q].len_policy = VIO_LEN_BROKEN;
		if (q < 2 * nd->npairs) {
			info[q].size = ring_size(nd, q);
			/* Transmit used lengths mean nothing: never break on them. */
			if (q & 1)
				info[q].len_policy = VIO_LEN_CLAMP;
		} else {
			/* The control queue, or a pair we do not use: tiny. */
			info[q].size = q == 2 * nd->dev_pairs ? 0 : 1;
		}
		/* The control queue holds one command at a time. */
		if (cvq && q == 2 * nd->dev_pairs) {
			unsigned max = dev->ops->queue_max(dev, q);

			info[q].size = max < 8 ? 0 : 8;
			info[q].indirect_max = CTRL_PARTS_MAX + 2;
		}
	}
	r = vio_drv_find_vqs(dev, nd->nvqs, info, nd->vqs);
out:
	if (info)
		vio_drv_priv_free(dev, info, info_len);
	if (r && nd->vqs) {
		vio_drv_priv_free(dev, nd->vqs, nd->nvqs * sizeof(*nd->vqs));
		nd->vqs = NULL;
	}
	return r;
}

static int net_probe(struct vio_drv_device *dev)
{
	const struct vio_net_driver *drv = (const struct vio_net_driver *)dev->driver;
	unsigned want;
	struct net_drv *nd;
	int r;

	nd = vio_drv_priv_alloc(dev, sizeof(*nd));
	if (!nd)
		return -ENOMEM;
	nd->dev = dev;
	nd->opts = drv->opts;
	nd->legacy = dev->legacy;
	nd->mrg = vio_drv_has_feature(dev, VIO_NET_F_MRG_RXBUF);
	nd->split_hdr = dev->legacy && !vio_drv_has_feature(dev, VIO_F_ANY_LAYOUT);
	nd->hdr_len = (uint32_t)vio_net_hdr_len(dev->features);
	r = read_config(nd);
	if (r)
		goto fail;
	want = nd->opts.max_pairs ? nd->opts.max_pairs : VIO_NET_DRV_MAX_PAIRS;
	if (want > VIO_NET_DRV_MAX_PAIRS)
		want = VIO_NET_DRV_MAX_PAIRS;
	nd->npairs = nd->dev_pairs < want ? nd->dev_pairs : want;
	r = setup_queues(nd);
	if (r)
		goto fail;
	for (unsigned i = 0; i < nd->npairs && r == 0; i++) {
		struct net_pair *p = &nd->pairs[i];

		r = bufs_setup(nd, &p->rx, &nd->vqs[2 * i], rx_bytes(nd));
		if (r == 0)
			r = bufs_setup(nd, &p->tx, &nd->vqs[2 * i + 1], tx_bytes(nd));
		if (r == 0) {
			p->pend = vio_drv_priv_alloc(dev, p->rx.n * sizeof(*p->pend));
			p->pend_len = vio_drv_priv_alloc(dev, p->rx.n * sizeof(*p->pend_len));
			if (!p->pend || !p->pend_len)
				r = -ENOMEM;
		}
	}
	if (r == 0 && vio_drv_has_feature(dev, VIO_NET_F_CTRL_VQ)) {
		nd->cvq = &nd->vqs[2 * nd->dev_pairs];
		nd->ctrl = vio_drv_dma_alloc(dev, CTRL_BYTES, CACHE_LINE, &nd->ctrl_addr);
		if (!nd->ctrl)
			r = -ENOMEM;
	}
	if (r) {
		vio_drv_reset(dev);
		free_all(nd);
		vio_drv_del_vqs(dev);
		vio_drv_priv_free(dev, nd->vqs, nd->nvqs * sizeof(*nd->vqs));
		goto fail;
	}
	dev->priv = nd;
	/* Receive buffers go to the device once it is live. */
	vio_drv_ready(dev);
	for (unsigned i = 0; i < nd->npairs; i++)
		rx_refill(nd, &nd->pairs[i]);
	return 0;
fail:
	vio_drv_priv_free(dev, nd, sizeof(*nd));
	return r;
}

int vio_net_drv_register(struct vio_bus *bus, struct vio_net_driver *nd,
			 const struct vio_net_drv_opts *opts)
{
	uint64_t off, on;

	memset(nd, 0, sizeof(*nd));
	if (opts)
		nd->opts = *opts;
	on = nd->opts.offloads;
	if ((on & ~OFFLOAD_BITS) ||
	    ((on & (VIO_BIT(VIO_NET_F_HOST_TSO4) | VIO_BIT(VIO_NET_F_HOST_TSO6))) &&
	     !(on & VIO_BIT(VIO_NET_F_CSUM))) ||
	    ((on & (VIO_BIT(VIO_NET_F_GUEST_TSO4) | VIO_BIT(VIO_NET_F_GUEST_TSO6))) &&
	     !(on & VIO_BIT(VIO_NET_F_GUEST_CSUM))))
		return -EINVAL;
	off = nd->opts.features_off;
	/* Without VERSION_1 the 1.x-only ring features cannot be had either. */
	if (off & VIO_BIT(VIO_F_VERSION_1))
		off |= VIO_BIT(VIO_F_RING_PACKED) | VIO_BIT(VIO_F_IN_ORDER);
	nd->ids[0] = VIO_ID_NET;
	nd->drv.name = "virtio_net";
	nd->drv.ids = nd->ids;
	nd->drv.features = (DRV_NET_FEATURES | on | DRV_RING_FEATURES) & ~off;
	nd->drv.legacy_features = ((DRV_NET_LEGACY_FEATURES | on) & UINT32_MAX &
				   ~VIO_BIT(VIO_NET_F_HASH_REPORT)) | DRV_LEGACY_RING_FEATURES;
	nd->drv.legacy_features &= ~off;
	nd->drv.probe = net_probe;
	nd->drv.remove = net_remove;
	nd->drv.config_changed = net_config_changed;
	return vio_bus_register_driver(bus, &nd->drv);
}

void vio_net_drv_unregister(struct vio_bus *bus, struct vio_net_driver *nd)
{
	vio_bus_unregister_driver(bus, &nd->drv);
}
