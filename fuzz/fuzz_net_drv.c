/*
 * fuzz_net_drv.c - libFuzzer target: the virtio-net driver's receive path
 * against a device that writes whatever the input says.
 *
 * The net driver binds over the loopback transport (direct mode) to a
 * device model of the harness's, whose receive queues the input works:
 * frames written honestly, raw bytes in receive buffers (any header, any
 * num_buffers) with any used length (forged straight into the shared ring
 * when it is beyond the buffer), used entries forged with any id and
 * length, and rx_burst calls with any burst size and room. A transmit op
 * keeps the transmit side moving too.
 *
 * Input (past the end every read gives zero):
 *   u8   setup: bit 0 packed, bit 1 MRG_RXBUF, bit 2 HASH_REPORT, bit 3
 *        queue size 8 (else 16), bits 4-5 receive buffer size with MRG
 *        (128, 256, 512, 2048), bit 6 EVENT_IDX, bit 7 IN_ORDER
 *   ...  ops until the input ends: u8 op (% OP_COUNT) and its arguments
 *
 * The harness traps when:
 *  - rx_burst returns more frames than asked, a frame with len above its
 *    cap or above frame_len, or len < frame_len while len < cap;
 *  - a broken pair works again (a later rx_burst does not return -EIO),
 *    or rx_burst returns -EIO with no error sentence;
 *  - while the device has only been honest: any error, a frame that is
 *    not the next one written (length, bytes, header fields), or a
 *    frame lost.
 * ASan and UBSan catch any read or write past a buffer.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "forge.h"
#include "heap.h"
#include "vio/drivers.h"
#include "vio/transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define ARENA       (2u << 20)
#define MAX_HELD    8u
#define MAX_FRAME   3000u
#define MAX_EXPECT  64u

enum { OP_GOOD, OP_RAW, OP_FORGE, OP_RX, OP_TX, OP_COUNT };

struct in {
	const uint8_t *p;
	size_t n, off;
};

static uint8_t u8(struct in *in)
{
	return in->off < in->n ? in->p[in->off++] : 0;
}

static uint16_t u16(struct in *in)
{
	uint16_t lo = u8(in);

	return (uint16_t)(lo | (uint16_t)u8(in) << 8);
}

static uint32_t u32(struct in *in)
{
	uint32_t lo = u16(in);

	return lo | (uint32_t)u16(in) << 16;
}

struct expect {
	uint32_t len;
	uint8_t seed;
	uint16_t csum_start;
};

struct h {
	struct vio_dev_model d;
	struct vio_dev_queue q[3];
	struct vio_net_config cfg;
	struct vio_loopback lb;
	struct vio_bus bus;
	struct vio_net_driver drv;
	bool honest, broken;
	struct expect exp[MAX_EXPECT];
	unsigned nexp, exp_head;
};

static void dev_notify(struct vio_dev_model *d, unsigned qi)
{
	struct vio_devq *vq = vio_dev_vq(d, qi);
	struct vio_iov out[4], in[4];
	struct vio_elem e;

	if (qi != 1 || !vq)
		return;
	/* Transmit: take every frame and complete it. */
	for (;;) {
		memset(&e, 0, sizeof(e));
		e.out = out;
		e.out_cap = ARRAY_LEN(out);
		e.in = in;
		e.in_cap = ARRAY_LEN(in);
		if (vio_devq_pop(vq, &e) || vio_devq_push(vq, &e, 0))
			break;
	}
	vio_dev_interrupt(d, qi);
}

static const struct vio_dev_ops dev_ops = {
	.version = VIO_DEV_OPS_VERSION,
	.queue_notify = dev_notify,
};

static struct vio_drv_device *D(struct h *h)
{
	return &h->lb.vdev;
}

static uint8_t pattern(uint8_t seed, uint32_t i)
{
	return (uint8_t)(seed * 29u + i * 7u + 3u);
}

struct held {
	struct vio_elem e;
	struct vio_iov out[2], in[4];
	uint32_t cap;
};

static bool pop(struct vio_devq *vq, struct held *x)
{
	memset(x, 0, sizeof(*x));
	x->e.out = x->out;
	x->e.out_cap = ARRAY_LEN(x->out);
	x->e.in = x->in;
	x->e.in_cap = ARRAY_LEN(x->in);
	if (!vq || vio_devq_pop(vq, &x->e))
		return false;
	x->cap = (uint32_t)vio_iov_length(x->e.in, x->e.in_num);
	return true;
}

static void forge_len(struct h *h, unsigned k, uint32_t len)
{
	vt_forge_used_len(&D(h)->vqs[0].q, k, len);
}

/* An honest frame: header and pattern bytes over as many buffers as it
 * takes (one without MRG_RXBUF, where it always fits). */
static void op_good(struct h *h, struct in *in)
{
	struct vio_devq *vq = vio_dev_vq(&h->d, 0);
	bool mrg = vio_dev_has_feature(&h->d, VIO_NET_F_MRG_RXBUF);
	uint32_t hl = (uint32_t)vio_net_hdr_len(h->d.features);
	uint32_t len = 1u + u16(in) % MAX_FRAME, total, off = 0;
	uint8_t seed = u8(in);
	uint16_t cs = u16(in);
	uint8_t frame[MAX_FRAME + 32];
	struct held x[MAX_HELD];
	struct vio_net_hdr hdr;
	unsigned nb = 0;

	if (!mrg && len > 1514)
		len = 1514;
	total = hl + len;
	while (off < total) {
		if (nb == MAX_HELD || !pop(vq, &x[nb]))
			break;
		off += x[nb].cap < total - off ? x[nb].cap : total - off;
		nb++;
		if (!mrg)
			break;
	}
	if (off < total) {
		/* Not enough buffers: give back what was taken as empty
		 * frames would lie; stop being honest instead. */
		h->honest = false;
		for (unsigned k = 0; k < nb; k++)
			vio_devq_fill(vq, &x[k].e, 0);
		vio_devq_flush(vq);
		vio_dev_interrupt(&h->d, 0);
		return;
	}
	memset(&hdr, 0, sizeof(hdr));
	hdr.csum_start = vio_cpu_to_le16(cs);
	hdr.num_buffers = vio_cpu_to_le16((uint16_t)(mrg ? nb : 1));
	memcpy(frame, &hdr, hl);
	for (uint32_t i = 0; i < len; i++)
		frame[hl + i] = pattern(seed, i);
	off = 0;
	for (unsigned k = 0; k < nb; k++) {
		uint32_t n = x[k].cap < total - off ? x[k].cap : total - off;

		vio_iov_from_buf(x[k].e.in, x[k].e.in_num, 0, frame + off, n);
		CHECK(vio_devq_fill(vq, &x[k].e, n) == 0);
		off += n;
	}
	vio_devq_flush(vq);
	vio_dev_interrupt(&h->d, 0);
	if (h->nexp < MAX_EXPECT) {
		h->exp[(h->exp_head + h->nexp) % MAX_EXPECT] =
			(struct expect){ .len = len, .seed = seed, .csum_start = cs };
		h->nexp++;
	} else {
		h->honest = false;
	}
}

/* Raw buffers: up to 4, each with input bytes and an input used length
 * (beyond the buffer: forged into the ring). */
static void op_raw(struct h *h, struct in *in)
{
	struct vio_devq *vq = vio_dev_vq(&h->d, 0);
	unsigned nb = 1u + u8(in) % 4u, got = 0;
	struct held x[4];
	uint8_t bytes[64];

	h->honest = false;
	for (; got < nb && pop(vq, &x[got]); got++) {
		uint32_t len = u32(in);
		uint8_t nbytes = u8(in) % sizeof(bytes);

		for (unsigned i = 0; i < nbytes; i++)
			bytes[i] = u8(in);
		vio_iov_from_buf(x[got].e.in, x[got].e.in_num, 0, bytes, nbytes);
		if (vio_devq_fill(vq, &x[got].e, len <= x[got].cap ? len : x[got].cap))
			break;
		if (len > x[got].cap)
			forge_len(h, got, len);
	}
	vio_devq_flush(vq);
	vio_dev_interrupt(&h->d, 0);
}

/* A used entry with any id and length, published straight into the ring. */
static void op_forge(struct h *h, struct in *in)
{
	uint16_t id = u16(in);
	uint32_t len = u32(in);
	uint8_t ahead = u8(in) % 4u;

	h->honest = false;
	vt_forge_used(&D(h)->vqs[0].q, ahead, id, len);
}

static void op_rx(struct h *h, struct in *in)
{
	static uint8_t room[8][MAX_FRAME + 64];
	struct vio_net_drv_frame f[8];
	unsigned n = 1u + u8(in) % 8u;
	uint32_t cap = h->honest ? MAX_FRAME + 64 : u16(in) % (MAX_FRAME + 64);
	int r;

	for (unsigned i = 0; i < n; i++)
		f[i] = (struct vio_net_drv_frame){ .data = room[i], .cap = cap };
	r = vio_net_drv_rx_burst(D(h), 0, f, n);
	if (h->broken)
		CHECK(r == -EIO);
	if (r < 0) {
		CHECK(r == -EIO);
		CHECK(!h->honest);
		CHECK(vio_net_drv_error(D(h), 0) != NULL);
		h->broken = true;
		return;
	}
	CHECK((unsigned)r <= n);
	for (int i = 0; i < r; i++) {
		CHECK(f[i].len <= f[i].cap);
		CHECK(f[i].len <= f[i].frame_len);
		CHECK(f[i].len == f[i].frame_len || f[i].len == f[i].cap);
		if (!h->honest)
			continue;
		CHECK(h->nexp > 0);
		{
			struct expect *e = &h->exp[h->exp_head];

			CHECK(f[i].frame_len == e->len && f[i].len == e->len);
			CHECK(f[i].csum_start == e->csum_start);
			for (uint32_t k = 0; k < e->len; k++)
				CHECK(room[i][k] == pattern(e->seed, k));
		}
		h->exp_head = (h->exp_head + 1) % MAX_EXPECT;
		h->nexp--;
	}
	/* Honest frames are all whole: a burst with room takes them all. */
	if (h->honest && (unsigned)r < n)
		CHECK(h->nexp == 0);
}

static void op_tx(struct h *h, struct in *in)
{
	static uint8_t bytes[1514];
	struct vio_net_drv_frame f = { .data = bytes, .len = 1u + u16(in) % 1514u };

	int r = vio_net_drv_tx_burst(D(h), 0, &f, 1);

	CHECK(r == 0 || r == 1);
	CHECK(vio_net_drv_tx_reap(D(h), 0) >= 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t rxb[4] = { 128, 256, 512, 2048 };
	struct in in = { data, size, 0 };
	struct vio_net_drv_opts o = { 0 };
	uint8_t setup = u8(&in);
	struct h *h = calloc(1, sizeof(*h));
	unsigned ops = 0;

	if (!h)
		return 0;
	h->honest = true;
	h->cfg.status = vio_cpu_to_le16(VIO_NET_S_LINK_UP);
	h->d.device_id = VIO_ID_NET;
	h->d.host_features = VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_INDIRECT_DESC);
	if (setup & 1)
		h->d.host_features |= VIO_BIT(VIO_F_RING_PACKED);
	if (setup & 2)
		h->d.host_features |= VIO_BIT(VIO_NET_F_MRG_RXBUF);
	if (setup & 4)
		h->d.host_features |= VIO_BIT(VIO_NET_F_HASH_REPORT);
	if (setup & 0x40)
		h->d.host_features |= VIO_BIT(VIO_F_EVENT_IDX);
	if (setup & 0x80)
		h->d.host_features |= VIO_BIT(VIO_F_IN_ORDER);
	h->d.config = (uint8_t *)&h->cfg;
	h->d.config_len = sizeof(h->cfg);
	h->d.queues = h->q;
	h->d.num_queues = 2;
	h->d.ops = &dev_ops;
	for (unsigned i = 0; i < 2; i++)
		h->q[i].max_size = setup & 8 ? 8 : 16;
	o.rx_buf_bytes = rxb[(setup >> 4) & 3];
	o.timeout_ms = 10;
	CHECK(vio_dev_init(&h->d) == 0);
	CHECK(vio_loopback_init(&h->lb, &h->d, ARENA, false) == 0);
	vio_bus_init(&h->bus, vt_heap_alloc, vt_heap_free, NULL);
	CHECK(vio_net_drv_register(&h->bus, &h->drv, &o) == 0);
	CHECK(vio_bus_add_device(&h->bus, D(h)) == 0);
	CHECK(D(h)->driver == &h->drv.drv);
	while (in.off < in.n && ops++ < 512) {
		switch (u8(&in) % OP_COUNT) {
		case OP_GOOD:
			op_good(h, &in);
			break;
		case OP_RAW:
			op_raw(h, &in);
			break;
		case OP_FORGE:
			op_forge(h, &in);
			break;
		case OP_RX:
			op_rx(h, &in);
			break;
		default:
			op_tx(h, &in);
			break;
		}
	}
	vio_bus_remove_device(&h->bus, D(h));
	vio_net_drv_unregister(&h->bus, &h->drv);
	vio_loopback_fini(&h->lb);
	free(h);
	return 0;
}
