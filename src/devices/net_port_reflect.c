/*
 * net_port_reflect.c - the reflect port: every frame the driver sends
 * comes back to it on the same pair with its MAC addresses swapped, the
 * cheapest possible peer for a benchmark or a test.
 *
 * The driver's transmit buffers are read-only to the device, so the
 * swapped addresses are built in the port's own 12 bytes per frame, and
 * the frame it hands back is those bytes followed by the rest of the
 * driver's iovecs. A transmit call's frames go back together, in batches
 * of up to VIO_NET_REFLECT_BATCH (fewer when their iovecs fill the pair's
 * array), each batch in one vio_net_dev_receive() call: one used-ring
 * publication and one interrupt decision per batch, not per frame (per
 * frame, that decision's full barrier was most of the device's time at
 * 64 bytes). vio_net_dev_receive() copies everything before it returns.
 * The scratch and the counters are the pair's own: transmit runs on the
 * pair's thread, and pairs may run at once.
 */
#include "net_priv.h"

/* Hands the batch of k frames back: counts what went, and what did not
 * (no receive buffers: the rest of the batch is dropped). */
static unsigned reflect_flush(struct vio_net_reflect *r, unsigned pair, unsigned k)
{
	int got;

	if (k == 0)
		return 0;
	got = vio_net_dev_receive(r->net, pair, r->pair_[pair].frames, k);
	if (got < 0)
		got = 0;
	vio_stat_add(&r->pair_[pair].reflected, (unsigned)got);
	vio_stat_add(&r->pair_[pair].dropped, k - (unsigned)got);
	return (unsigned)got;
}

static int reflect_transmit(void *port, unsigned pair, const struct vio_net_frame *frames,
			    unsigned n)
{
	struct vio_net_reflect *r = port;
	unsigned took = 0, k = 0, used = 0;

	if (pair >= VIO_NET_MAX_PAIRS)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		const struct vio_net_frame *f = &frames[i];
		struct vio_net_frame *out;
		struct vio_iov *iov;
		size_t skip = 12;
		unsigned j = 0, m = 1;
		uint8_t tmp[12];

		/* The device gives frames of 14 bytes at least. */
		if (f->len < VIO_NET_ETH_HLEN || f->iovcnt > VIO_NET_FRAME_SPANS ||
		    vio_iov_to_buf(f->iov, f->iovcnt, 0, tmp, 12) != 12) {
			vio_stat_inc(&r->pair_[pair].dropped);
			continue;
		}
		/* Room for its iovecs (the addresses, then at most all of the
		 * frame's) and for the frame itself, or the batch goes first. */
		if (k == VIO_NET_REFLECT_BATCH ||
		    used + 1 + f->iovcnt > sizeof(r->pair_[pair].iov) / sizeof(r->pair_[pair].iov[0])) {
			took += reflect_flush(r, pair, k);
			k = used = 0;
		}
		out = &r->pair_[pair].frames[k];
		iov = &r->pair_[pair].iov[used];
		memcpy(r->pair_[pair].macs[k], tmp + 6, 6);
		memcpy(r->pair_[pair].macs[k] + 6, tmp, 6);
		iov[0] = (struct vio_iov){ r->pair_[pair].macs[k], 12 };
		while (j < f->iovcnt && skip >= f->iov[j].len)
			skip -= f->iov[j++].len;
		for (; j < f->iovcnt; j++, skip = 0)
			iov[m++] = (struct vio_iov){ (uint8_t *)f->iov[j].base + skip,
						     f->iov[j].len - skip };
		*out = *f;
		out->iov = iov;
		out->iovcnt = m;
		used += m;
		k++;
	}
	took += reflect_flush(r, pair, k);
	return (int)took;
}

const struct vio_net_port_ops vio_net_reflect_ops = {
	.version = VIO_NET_PORT_OPS_VERSION,
	.transmit = reflect_transmit,
};

void vio_net_reflect_init(struct vio_net_reflect *r, struct vio_net_dev *net)
{
	memset(r, 0, sizeof(*r));
	r->net = net;
}

void vio_net_reflect_counts(const struct vio_net_reflect *r, uint64_t *reflected,
			    uint64_t *dropped)
{
	*reflected = *dropped = 0;
	for (unsigned i = 0; i < VIO_NET_MAX_PAIRS; i++) {
		*reflected += vio_stat_read(&r->pair_[i].reflected);
		*dropped += vio_stat_read(&r->pair_[i].dropped);
	}
}
