/*
 * fuzz_net_dev.c - the virtio-net device's parsers of driver input: the
 * transmit path (the header in any split, sizes, offload fields) and the
 * control queue (every class and command, any data), with the receive
 * path behind them (filters, RSS parsing, mergeable buffers).
 *
 * The harness is the driver: it negotiates features from the input, sets
 * up real rings (split or packed) in guest memory with the ring's driver
 * side, and posts chains whose shapes and bytes come from the input. The
 * rings themselves are always well formed (fuzz_devq_pop covers malformed
 * rings), so the device must never need a reset, the driver side must
 * never see an impossible used entry, every ack is 0 or 1, and every frame
 * the port sees keeps the promises net.h makes. The port sends each frame
 * straight back (as the reflect port does) so the receive path runs on
 * whatever the driver sent.
 *
 * Input: u8 setup (bit 0: packed; bit 1: EVENT_IDX; bit 2: IN_ORDER;
 * bit 3: two pairs), u32 feature bits to drop from the offer (bit i drops
 * net feature i, bits 24..31 drop HASH_REPORT, RSS, MQ, CTRL_VQ,
 * MRG_RXBUF, CSUM, GUEST_CSUM, STATUS), then ops until the input ends:
 *   0 tx:   u8 pair, u8 nseg (1..4), per segment u16 len (% 2048) and its
 *           bytes, u8 writable bytes (0: none)
 *   1 ctrl: u8 class, u8 cmd, u16 data len (% 1100) and the data, u8 cut
 *           of the readable part into two, u8 writable bytes (1 + v % 3)
 *   2 rx:   u8 pair, u8 nseg (1..4), per segment u16 len (% 4096)
 *   3 reap every queue
 *   4 receive: u16 len (% 2048) and the bytes, steered
 *   5 link: u8 (bit 0: up; bit 1: announce)
 *   6 receive with offload fields, as a port may hand them (unchecked):
 *           u16 len (% 2048) and the bytes, u8 flags, u8 gso_type,
 *           u16 gso_size, u16 csum_start, u16 csum_offset; for a driver
 *           without the GUEST_ features they need, the device finishes
 *           the checksum or cuts the segments itself (net_offload.c)
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vio/devices.h"

#include "fuzz_input.h"
#include "heap.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

#define GUEST_BASE  UINT64_C(0x40000000)
#define GUEST_BYTES (1u << 20)
#define QSIZE       16u
#define MAX_QS      5u
#define DATA_START  (64u << 10)

struct harness {
	struct vio_net_dev net;
	uint8_t *mem;
	struct vio_mem_region table[1];
	struct vio_mem vm;
	struct vio_drvq q[MAX_QS];
	struct vio_drvq_slot slots[MAX_QS][QSIZE];
	unsigned nq, ctrl_qi, pairs;
	size_t bump;
	uint8_t tokens[MAX_QS][QSIZE];
};

static void no_irq(void *opaque, unsigned qi)
{
	(void)opaque;
	(void)qi;
}

static void no_config_irq(void *opaque)
{
	(void)opaque;
}

static const struct vio_dev_transport transport = {
	.version = VIO_DEV_TRANSPORT_VERSION,
	.interrupt = no_irq,
	.config_interrupt = no_config_irq,
};

/* The port: checks what net.h promises, then sends it back. */
static int port_transmit(void *port, unsigned pair, const struct vio_net_frame *frames, unsigned n)
{
	struct harness *h = port;
	size_t total;
	uint8_t sink = 0;

	for (unsigned i = 0; i < n; i++) {
		const struct vio_net_frame *f = &frames[i];

		CHECK(f->len >= VIO_NET_ETH_HLEN && f->len <= VIO_NET_FRAME_MAX);
		total = vio_iov_length(f->iov, f->iovcnt);
		CHECK(total == f->len);
		if (f->flags & VIO_NET_HDR_F_NEEDS_CSUM)
			CHECK((uint32_t)f->csum_start + f->csum_offset + 2 <= f->len);
		if (f->gso_type != VIO_NET_HDR_GSO_NONE)
			CHECK(f->gso_size > 0);
		/* Every byte is inside guest memory (ASan sees the rest). */
		for (unsigned k = 0; k < f->iovcnt; k++) {
			const uint8_t *b = f->iov[k].base;

			CHECK(b >= h->mem && b + f->iov[k].len <= h->mem + GUEST_BYTES);
			for (size_t j = 0; j < f->iov[k].len; j++)
				sink ^= b[j];
		}
	}
	(void)sink;
	return vio_net_dev_receive(&h->net, pair, frames, n) < 0 ? 0 : (int)n;
}

static const struct vio_net_port_ops port_ops = {
	.version = VIO_NET_PORT_OPS_VERSION,
	.transmit = port_transmit,
};

static uint8_t *gbuf(struct harness *h, size_t len, uint64_t *addr)
{
	uint8_t *p;

	if (len == 0)
		len = 1;
	if (h->bump + len > GUEST_BYTES)
		return NULL;
	p = h->mem + h->bump;
	*addr = GUEST_BASE + h->bump;
	h->bump += (len + 15) & ~(size_t)15;
	return p;
}

static void reap(struct harness *h, unsigned qi)
{
	void *t;
	uint32_t len;

	while (vio_drvq_get_buf(&h->q[qi], &t, &len) == 0) {
		uint8_t *tok = t;

		/* A control chain: its ack is 0 or 1. */
		if (qi == h->ctrl_qi && len)
			CHECK(*tok == VIO_NET_OK || *tok == VIO_NET_ERR);
	}
	CHECK(!vio_drvq_is_broken(&h->q[qi]));
}

static void post(struct harness *h, unsigned qi, const struct vio_sg *out, unsigned nout,
		 const struct vio_sg *in, unsigned nin, void *token)
{
	/* A full ring refuses the chain; the kick goes anyway (a device
	 * must cope with kicks for nothing). */
	(void)vio_drvq_add(&h->q[qi], out, nout, in, nin, token);
	(void)vio_drvq_kick_prepare(&h->q[qi]);
	vio_dev_notify(&h->net.dev, qi);
}

static void op_tx(struct harness *h, struct fz *f)
{
	unsigned pair = fz_u8(f) % h->pairs, n = 1 + fz_u8(f) % 4, inb;
	struct vio_sg out[4], in[1];

	for (unsigned i = 0; i < n; i++) {
		uint16_t len = fz_u16(f) % 2048;
		uint8_t *p = gbuf(h, len, &out[i].addr);

		if (!p)
			return;
		out[i].len = len ? len : 1;
		fz_fill(f, p, out[i].len);
	}
	inb = fz_u8(f);
	if (inb && !gbuf(h, inb, &in[0].addr))
		return;
	in[0].len = inb;
	post(h, 2 * pair + 1, out, n, in, inb ? 1 : 0, &h->tokens[2 * pair + 1][0]);
}

static void op_ctrl(struct harness *h, struct fz *f)
{
	uint8_t cls = fz_u8(f), cmd = fz_u8(f);
	uint16_t dlen = fz_u16(f) % 1100;
	struct vio_sg out[2], in[1];
	uint8_t *p = gbuf(h, 2u + dlen, &out[0].addr), *ack;
	unsigned cut, n = 1;

	if (!p || h->ctrl_qi == ~0u)
		return;
	p[0] = cls;
	p[1] = cmd;
	fz_fill(f, p + 2, dlen);
	cut = fz_u8(f) % (2u + dlen + 1);
	out[0].len = 2u + dlen;
	if (cut && cut < out[0].len) {
		out[1] = (struct vio_sg){ out[0].addr + cut, out[0].len - cut };
		out[0].len = cut;
		n = 2;
	}
	in[0].len = 1 + fz_u8(f) % 3;
	ack = gbuf(h, in[0].len, &in[0].addr);
	if (!ack)
		return;
	/* The token is the ack byte, the chain's last writable one. */
	post(h, h->ctrl_qi, out, n, in, 1, ack + in[0].len - 1);
}

static void op_rx(struct harness *h, struct fz *f)
{
	unsigned pair = fz_u8(f) % h->pairs, n = 1 + fz_u8(f) % 4;
	struct vio_sg in[4];

	for (unsigned i = 0; i < n; i++) {
		uint16_t len = fz_u16(f) % 4096;

		in[i].len = len ? len : 1;
		if (!gbuf(h, in[i].len, &in[i].addr))
			return;
	}
	post(h, 2 * pair, NULL, 0, in, n, &h->tokens[2 * pair][0]);
}

static void op_receive(struct harness *h, struct fz *f)
{
	uint8_t buf[2048];
	uint16_t len = fz_u16(f) % sizeof(buf);
	struct vio_iov iov = { buf, len };
	struct vio_net_frame fr = { .len = len, .iov = &iov, .iovcnt = 1 };

	fz_fill(f, buf, len);
	CHECK(vio_net_dev_receive(&h->net, VIO_NET_STEER, &fr, 1) <= 1);
}

static void op_receive_offload(struct harness *h, struct fz *f)
{
	uint8_t buf[2048];
	uint16_t len = fz_u16(f) % sizeof(buf);
	struct vio_iov iov = { buf, len };
	struct vio_net_frame fr = { .len = len, .iov = &iov, .iovcnt = 1 };

	fz_fill(f, buf, len);
	fr.flags = fz_u8(f);
	fr.gso_type = fz_u8(f);
	fr.gso_size = fz_u16(f);
	fr.csum_start = fz_u16(f);
	fr.csum_offset = fz_u16(f);
	CHECK(vio_net_dev_receive(&h->net, VIO_NET_STEER, &fr, 1) <= 1);
}

static bool setup(struct harness *h, struct fz *f)
{
	const uint8_t s = fz_u8(f);
	const uint32_t drop = fz_u32(f);
	static const unsigned high[8] = { VIO_NET_F_HASH_REPORT, VIO_NET_F_RSS, VIO_NET_F_MQ,
					  VIO_NET_F_CTRL_VQ, VIO_NET_F_MRG_RXBUF, VIO_NET_F_CSUM,
					  VIO_NET_F_GUEST_CSUM, VIO_NET_F_STATUS };
	struct vio_net_dev_opts o = {
		.max_pairs = (s & 8) ? 2 : 1,
		.queue_size = QSIZE,
		.offloads = VIO_NET_DEV_OFFLOADS,
		.ring_features = VIO_BIT(VIO_F_VERSION_1) |
				 ((s & 1) ? VIO_BIT(VIO_F_RING_PACKED) : 0) |
				 ((s & 2) ? VIO_BIT(VIO_F_EVENT_IDX) : 0) |
				 ((s & 4) ? VIO_BIT(VIO_F_IN_ORDER) : 0),
		.port_ops = &port_ops,
		.port = h,
		.alloc = vt_heap_alloc,
		.free = vt_heap_free,
	};
	uint64_t feat;
	size_t off = 0;

	if (vio_net_dev_init(&h->net, &o))
		return false;
	h->mem = calloc(1, GUEST_BYTES);
	CHECK(h->mem);
	vio_mem_init(&h->vm, h->table, 1);
	CHECK(vio_mem_add(&h->vm, GUEST_BASE, GUEST_BYTES, h->mem) == 0);
	h->net.dev.mem = &h->vm;
	h->net.dev.transport = &transport;
	feat = h->net.dev.host_features;
	for (unsigned i = 0; i < 24; i++)
		if (drop & (1u << i))
			feat &= ~VIO_BIT(i);
	for (unsigned i = 0; i < 8; i++)
		if (drop & (1u << (24 + i)))
			feat &= ~VIO_BIT(high[i]);
	vio_dev_set_status(&h->net.dev, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER);
	if (vio_dev_set_features(&h->net.dev, feat))
		return false;
	vio_dev_set_status(&h->net.dev, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER |
					VIO_STATUS_FEATURES_OK);
	if (!(vio_dev_get_status(&h->net.dev) & VIO_STATUS_FEATURES_OK))
		return false;
	h->pairs = vio_has_feature(feat, VIO_NET_F_MQ) || vio_has_feature(feat, VIO_NET_F_RSS) ?
		   o.max_pairs : 1;
	h->nq = 2 * h->pairs + (vio_has_feature(feat, VIO_NET_F_CTRL_VQ) ? 1 : 0);
	h->ctrl_qi = vio_has_feature(feat, VIO_NET_F_CTRL_VQ) ? 2 * h->pairs : ~0u;
	for (unsigned qi = 0; qi < h->nq; qi++) {
		struct vio_drvq_config c = { .size = QSIZE, .features = feat,
					     .slots = h->slots[qi] };
		struct vio_ring_addrs a;

		off = (off + 4095) & ~(size_t)4095;
		c.desc = h->mem + off;
		a.desc = GUEST_BASE + off;
		off += (vio_ring_desc_bytes(feat, QSIZE) + 63) & ~(size_t)63;
		c.driver = h->mem + off;
		a.driver = GUEST_BASE + off;
		off += (vio_ring_driver_bytes(feat, QSIZE) + 63) & ~(size_t)63;
		c.device = h->mem + off;
		a.device = GUEST_BASE + off;
		off += (vio_ring_device_bytes(feat, QSIZE) + 63) & ~(size_t)63;
		c.dma = a;
		CHECK(vio_drvq_init(&h->q[qi], &c) == 0);
		CHECK(vio_dev_queue_set(&h->net.dev, qi, QSIZE, &a) == 0);
		CHECK(vio_dev_queue_enable(&h->net.dev, qi) == 0);
	}
	CHECK(off <= DATA_START);
	h->bump = DATA_START;
	vio_dev_set_status(&h->net.dev, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER |
					VIO_STATUS_FEATURES_OK | VIO_STATUS_DRIVER_OK);
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct harness h;
	struct fz f = { data, size };

	memset(&h, 0, sizeof(h));
	if (setup(&h, &f)) {
		while (f.n) {
			uint8_t op = fz_u8(&f) % 7, v;

			switch (op) {
			case 0:
				op_tx(&h, &f);
				break;
			case 1:
				op_ctrl(&h, &f);
				break;
			case 2:
				op_rx(&h, &f);
				break;
			case 3:
				for (unsigned qi = 0; qi < h.nq; qi++)
					reap(&h, qi);
				break;
			case 4:
				op_receive(&h, &f);
				break;
			case 6:
				op_receive_offload(&h, &f);
				break;
			default:
				v = fz_u8(&f);
				vio_net_dev_set_link(&h.net, v & 1);
				if (v & 2)
					(void)vio_net_dev_announce(&h.net);
				break;
			}
			CHECK(!(vio_dev_get_status(&h.net.dev) & VIO_STATUS_NEEDS_RESET));
		}
		for (unsigned qi = 0; qi < h.nq; qi++)
			reap(&h, qi);
		vio_dev_set_status(&h.net.dev, 0);
	}
	vio_net_dev_fini(&h.net);
	free(h.mem);
	return 0;
}
