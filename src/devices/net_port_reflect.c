/*
 * net_port_reflect.c - the reflect port: every frame the driver sends
 * comes back to it on the same pair with its MAC addresses swapped, the
 * cheapest possible peer for a benchmark or a test.
 *
 * The driver's transmit buffers are read-only to the device, so the
 * swapped addresses are built in the port's own 12 bytes and the frame
 * it hands back is those bytes followed by the rest of the driver's
 * iovecs (vio_net_dev_receive() copies it all before returning).
 */
#include "net_priv.h"

static int reflect_transmit(void *port, unsigned pair, const struct vio_net_frame *frames,
			    unsigned n)
{
	struct vio_net_reflect *r = port;
	unsigned took = 0;

	for (unsigned i = 0; i < n; i++) {
		struct vio_net_frame f = frames[i];
		size_t skip = 12;
		unsigned k = 0, m = 1;
		uint8_t tmp[12];

		/* The device gives frames of 14 bytes at least. */
		if (f.len < VIO_NET_ETH_HLEN || f.iovcnt > VIO_NET_FRAME_SPANS ||
		    vio_iov_to_buf(f.iov, f.iovcnt, 0, tmp, 12) != 12) {
			vio_stat_inc(&r->dropped);
			continue;
		}
		memcpy(r->macs, tmp + 6, 6);
		memcpy(r->macs + 6, tmp, 6);
		r->iov[0] = (struct vio_iov){ r->macs, 12 };
		while (k < f.iovcnt && skip >= f.iov[k].len)
			skip -= f.iov[k++].len;
		for (; k < f.iovcnt; k++, skip = 0)
			r->iov[m++] = (struct vio_iov){ (uint8_t *)f.iov[k].base + skip,
							f.iov[k].len - skip };
		f.iov = r->iov;
		f.iovcnt = m;
		if (vio_net_dev_receive(r->net, pair, &f, 1) == 1) {
			vio_stat_inc(&r->reflected);
			took++;
		} else {
			vio_stat_inc(&r->dropped);
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
