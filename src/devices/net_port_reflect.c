/*
 * net_port_reflect.c - the reflect port: every frame the driver sends
 * comes back to it on the same pair with its MAC addresses swapped, the
 * cheapest possible peer for a benchmark or a test.
 *
 * The driver's transmit buffers are read-only to the device, so the
 * swapped addresses are built in the port's own 12 bytes and the frame
 * it hands back is those bytes followed by the rest of the driver's
 * iovecs (vio_net_dev_receive() copies it all before returning). Those
 * bytes, the iovecs and the counters are the pair's own: transmit runs on
 * the pair's thread, and pairs may run at once.
 */
#include "net_priv.h"

static int reflect_transmit(void *port, unsigned pair, const struct vio_net_frame *frames,
			    unsigned n)
{
	struct vio_net_reflect *r = port;
	unsigned took = 0;

	if (pair >= VIO_NET_MAX_PAIRS)
		return 0;

	for (unsigned i = 0; i < n; i++) {
		struct vio_net_frame f = frames[i];
		uint8_t *macs = r->pair_[pair].macs;
		struct vio_iov *iov = r->pair_[pair].iov;
		size_t skip = 12;
		unsigned k = 0, m = 1;
		uint8_t tmp[12];

		/* The device gives frames of 14 bytes at least. */
		if (f.len < VIO_NET_ETH_HLEN || f.iovcnt > VIO_NET_FRAME_SPANS ||
		    vio_iov_to_buf(f.iov, f.iovcnt, 0, tmp, 12) != 12) {
			vio_stat_inc(&r->pair_[pair].dropped);
			continue;
		}
		memcpy(macs, tmp + 6, 6);
		memcpy(macs + 6, tmp, 6);
		iov[0] = (struct vio_iov){ macs, 12 };
		while (k < f.iovcnt && skip >= f.iov[k].len)
			skip -= f.iov[k++].len;
		for (; k < f.iovcnt; k++, skip = 0)
			iov[m++] = (struct vio_iov){ (uint8_t *)f.iov[k].base + skip,
						      f.iov[k].len - skip };
		f.iov = iov;
		f.iovcnt = m;
		if (vio_net_dev_receive(r->net, pair, &f, 1) == 1) {
			vio_stat_inc(&r->pair_[pair].reflected);
			took++;
		} else {
			vio_stat_inc(&r->pair_[pair].dropped);
		}
	}
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
