/*
 * vhost_user_fe_net.c - what the vhost-user frontend serves itself for a
 * net backend made for QEMU's virtio-net: config space and the control
 * queue (vio/transport/vhost_user_frontend.h, "Net devices").
 *
 * QEMU's virtio-net keeps config space and the control queue in QEMU and
 * gives a vhost-user backend only the data queues; DPDK's vhost PMD is
 * written for that (no PROTOCOL_F_CONFIG, CTRL_VQ offered but no control
 * queue served). So that libvio's net driver runs over such a backend
 * unchanged, and without knowing, the frontend plays QEMU's part here:
 *
 *   - features: fe->presented is what the driver sees; the backend's
 *     SET_FEATURES gets only bits it offered, less the control-queue ones
 *     when the control queue is served here;
 *   - config: a struct vio_net_config held here (mac, status LINK_UP,
 *     max_virtqueue_pairs, mtu from the options);
 *   - control queue: the device side of a ring (libvio's ring layer) over
 *     our own memory, processed on the driver's kick: MAC_ADDR_SET and
 *     VQ_PAIRS_SET (SET_VRING_ENABLE of the backend's rings) are answered
 *     OK, every other command ERR. The driver is ours but the ring is
 *     checked as any device checks one: a broken chain stops the queue and
 *     the device reports NEEDS_RESET.
 *
 * Context: the driver's thread, as every frontend call.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "vhost_user_fe_net.h"
#include "vhost_user_proto.h"

#define NB(x) VIO_BIT(VIO_NET_F_##x)

/* Features that need the control queue (the spec's dependencies). */
#define CTRL_FEATURES (NB(CTRL_VQ) | NB(CTRL_RX) | NB(CTRL_VLAN) | NB(CTRL_RX_EXTRA) | \
		       NB(GUEST_ANNOUNCE) | NB(MQ) | NB(CTRL_MAC_ADDR) |                \
		       NB(CTRL_GUEST_OFFLOADS) | NB(RSS) | NB(HASH_REPORT))
/* Features whose meaning is a config field. */
#define CONFIG_FEATURES (NB(MAC) | NB(STATUS) | NB(MTU) | NB(SPEED_DUPLEX) | NB(MQ) | NB(RSS) | \
			 NB(HASH_REPORT))
/* What the control queue served here answers. */
#define LOCAL_CTRL_FEATURES (NB(CTRL_VQ) | NB(CTRL_MAC_ADDR))

#define CTRL_SPANS 8u           /* spans of one command chain */
#define CTRL_DATA_MAX 64u       /* longest command data we take */

static const uint8_t default_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static bool is_net(const struct vio_vu_frontend *fe)
{
	return fe->cfg.device_id == VIO_ID_NET;
}

static void set_initial_config(struct vio_vu_frontend *fe)
{
	static const uint8_t zero[6];
	const uint8_t *mac = memcmp(fe->cfg.net.mac, zero, 6) ? fe->cfg.net.mac : default_mac;

	memset(&fe->net.config, 0, sizeof(fe->net.config));
	memcpy(fe->net.config.mac, mac, 6);
	fe->net.active_pairs = 1;
}

void vio__vu_fe_net_setup(struct vio_vu_frontend *fe)
{
	struct vio__vu_fe_net *n = &fe->net;
	const bool pf_config = vio_has_feature(fe->protocol_features, VU_PROTOCOL_F_CONFIG);
	uint64_t p = fe->offered;
	unsigned want = fe->cfg.net.max_pairs ? fe->cfg.net.max_pairs : 1;

	memset(n, 0, sizeof(*n));
	fe->presented = p;
	if (!is_net(fe))
		return;
	switch (fe->cfg.net.ctrl) {
	case VIO_VU_FE_NET_CTRL_AUTO:
		n->ctrl_local = !pf_config;
		break;
	case VIO_VU_FE_NET_CTRL_LOCAL:
		n->ctrl_local = true;
		break;
	case VIO_VU_FE_NET_CTRL_NONE:
		n->ctrl_none = true;
		break;
	default:
		break;
	}
	/* The control queue changes config (the MAC) and must agree with it
	 * on the pairs (where the driver puts the control queue): whoever
	 * serves the one serves the other. */
	n->config_local = !pf_config || n->ctrl_local;
	/* Data pairs: what the options say, within the backend's queues. */
	if (want > fe->num_queues / 2)
		want = fe->num_queues / 2 ? fe->num_queues / 2 : 1;
	if (want > VIO_NET_MQ_PAIRS_MAX)
		want = VIO_NET_MQ_PAIRS_MAX;
	n->pairs = want;
	set_initial_config(fe);
	if (n->config_local) {
		p &= ~CONFIG_FEATURES;
		p |= NB(MAC) | NB(STATUS) | (fe->cfg.net.mtu ? NB(MTU) : 0);
		/* max_virtqueue_pairs is ours now: MQ stays only if the
		 * backend can take it and the control queue can set it. */
		if (vio_has_feature(fe->offered, VIO_NET_F_MQ) && n->pairs > 1)
			p |= NB(MQ);
	}
	if (n->ctrl_local) {
		p &= ~CTRL_FEATURES;
		p |= LOCAL_CTRL_FEATURES | (n->pairs > 1 ? NB(MQ) : 0);
		fe->num_queues = 2 * n->pairs + 1;
	} else if (n->ctrl_none || !vio_has_feature(p, VIO_NET_F_CTRL_VQ)) {
		p &= ~CTRL_FEATURES;
	}
	fe->presented = p;
	if (n->config_local || n->ctrl_local || n->ctrl_none)
		vio__vu_fe_log(fe, VIO_LOG_INFO,
			       "net: config space %s, control queue %s, %u pair(s); features %#llx "
			       "(the backend offers %#llx)",
			       n->config_local ? "served here" : "the backend's",
			       n->ctrl_local ? "served here" : n->ctrl_none ? "none" : "the backend's",
			       n->pairs, (unsigned long long)p, (unsigned long long)fe->offered);
}

uint64_t vio__vu_fe_net_backend_features(const struct vio_vu_frontend *fe, uint64_t f)
{
	f &= fe->offered;
	if (fe->net.ctrl_local)
		f &= ~(CTRL_FEATURES & ~NB(MQ));        /* QEMU forwards MQ too */
	return f;
}

unsigned vio__vu_fe_net_backend_queues(const struct vio_vu_frontend *fe)
{
	return fe->net.ctrl_local ? 2 * fe->net.pairs : fe->num_queues;
}

/* The config space as the driver reads it now. */
static void config_now(const struct vio_vu_frontend *fe, struct vio_net_config *c)
{
	const bool legacy = fe->vdev.legacy;

	*c = fe->net.config;
	c->status = vio_set16(legacy, VIO_NET_S_LINK_UP);
	c->max_virtqueue_pairs = vio_set16(legacy, (uint16_t)fe->net.pairs);
	c->mtu = vio_set16(legacy, fe->cfg.net.mtu);
}

int vio__vu_fe_net_config(struct vio_vu_frontend *fe, bool write, unsigned off, void *buf,
			  unsigned len)
{
	struct vio_net_config c;

	if (off > sizeof(c) || len > sizeof(c) - off)
		return -EINVAL;
	if (write) {
		/* The MAC only (a driver without CTRL_MAC_ADDR sets it so). */
		if (off + len > VIO_NET_MAC_LEN)
			return -EPERM;
		memcpy(fe->net.config.mac + off, buf, len);
		return 0;
	}
	config_now(fe, &c);
	memcpy(buf, (const uint8_t *)&c + off, len);
	return 0;
}

/* Where the driver puts its control queue: after every pair with MQ. */
static unsigned ctrl_index(const struct vio_vu_frontend *fe)
{
	return vio_has_feature(fe->driver_features, VIO_NET_F_MQ) ? 2 * fe->net.pairs : 2;
}

bool vio__vu_fe_net_local_queue(const struct vio_vu_frontend *fe, unsigned qi)
{
	return fe->net.ctrl_local && vio_has_feature(fe->driver_features, VIO_NET_F_CTRL_VQ) &&
	       qi == ctrl_index(fe);
}

bool vio__vu_fe_net_ring_enabled(const struct vio_vu_frontend *fe, unsigned qi)
{
	if (!fe->net.ctrl_local || !vio_has_feature(fe->driver_features, VIO_NET_F_MQ))
		return true;
	return qi >= 2 * fe->net.pairs || qi < 2 * fe->net.active_pairs;
}

int vio__vu_fe_net_ctrl_start(struct vio_vu_frontend *fe)
{
	struct vio__vu_fe_net *n = &fe->net;
	const unsigned qi = ctrl_index(fe);
	const struct vio_vu_fe_queue *q = &fe->queues[qi];
	struct vio_devq_config c = {
		.size = q->size,
		.features = fe->vdev.features,
		.addrs = q->dma,
		.mem = &n->mem,
	};
	int r;

	vio_mem_init(&n->mem, &n->region, 1);
	r = vio_mem_add(&n->mem, VIO_VU_FE_GUEST_BASE, fe->mem_len, fe->mem);
	if (r == 0)
		r = vio_devq_init(&n->ctrlq, &c);
	if (r) {
		vio__vu_fe_log(fe, VIO_LOG_ERR, "net: control queue %u did not start: %s", qi,
			       vio_strerror(r));
		return r;
	}
	n->ctrlq_live = true;
	return 0;
}

static uint8_t refuse(struct vio_vu_frontend *fe, unsigned cls, unsigned cmd, size_t len,
		      const char *why)
{
	vio__vu_fe_log(fe, VIO_LOG_WARN, "net: control command %u.%u (%zu bytes) refused: %s", cls,
		       cmd, len, why);
	return VIO_NET_ERR;
}

/* VQ_PAIRS_SET: the backend's rings of pairs [0, want) enabled, the
 * others disabled; each started ring is told. */
static uint8_t pairs_set(struct vio_vu_frontend *fe, unsigned want)
{
	bool ok = true;

	if (want < VIO_NET_MQ_PAIRS_MIN || want > fe->net.pairs)
		return refuse(fe, VIO_NET_CTRL_MQ, VIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2,
			      "pair count out of range");
	if (!fe->protocol && want != fe->net.active_pairs)
		return refuse(fe, VIO_NET_CTRL_MQ, VIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2,
			      "the backend has no SET_VRING_ENABLE (no protocol features)");
	fe->net.active_pairs = want;
	for (unsigned qi = 0; qi < 2 * fe->net.pairs; qi++) {
		if (fe->queues[qi].started && fe->protocol &&
		    vio__vu_fe_vring_enable(fe, qi, qi < 2 * want))
			ok = false;
	}
	return ok ? VIO_NET_OK : refuse(fe, VIO_NET_CTRL_MQ, VIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2,
					"SET_VRING_ENABLE failed");
}

/* One command: its header and data in d[0, len). The ack to write. */
static uint8_t command(struct vio_vu_frontend *fe, const uint8_t *d, size_t len)
{
	const unsigned cls = d[0], cmd = d[1];
	const uint8_t *data = d + 2;
	const size_t dlen = len - 2;
	const uint64_t f = fe->driver_features;

	if (cls == VIO_NET_CTRL_MAC && cmd == VIO_NET_CTRL_MAC_ADDR_SET) {
		if (!vio_has_feature(f, VIO_NET_F_CTRL_MAC_ADDR))
			return refuse(fe, cls, cmd, dlen, "CTRL_MAC_ADDR not negotiated");
		if (dlen != VIO_NET_MAC_LEN)
			return refuse(fe, cls, cmd, dlen, "not a MAC address");
		memcpy(fe->net.config.mac, data, VIO_NET_MAC_LEN);
		return VIO_NET_OK;
	}
	if (cls == VIO_NET_CTRL_MQ && cmd == VIO_NET_CTRL_MQ_VQ_PAIRS_SET) {
		vio_le16 v;

		if (!vio_has_feature(f, VIO_NET_F_MQ))
			return refuse(fe, cls, cmd, dlen, "MQ not negotiated");
		if (dlen != sizeof(v))
			return refuse(fe, cls, cmd, dlen, "not a pair count");
		memcpy(&v, data, sizeof(v));
		return pairs_set(fe, vio_get16(fe->vdev.legacy, v));
	}
	return refuse(fe, cls, cmd, dlen, "not served by this frontend");
}

void vio__vu_fe_net_ctrl_kick(struct vio_vu_frontend *fe)
{
	struct vio__vu_fe_net *n = &fe->net;
	struct vio_iov out[CTRL_SPANS], in[CTRL_SPANS];
	struct vio_elem e = { .out = out, .out_cap = CTRL_SPANS, .in = in, .in_cap = CTRL_SPANS };
	bool used = false;
	int r;

	if (!n->ctrlq_live)
		return;
	while ((r = vio_devq_pop(&n->ctrlq, &e)) == 0) {
		uint8_t d[2 + CTRL_DATA_MAX], ack;
		uint32_t written = 0;

		if (e.out_len < 2)
			ack = refuse(fe, 0, 0, e.out_len, "no command header");
		else if (e.out_len > sizeof(d))
			ack = refuse(fe, 0, 0, e.out_len, "longer than any command served here");
		else
			ack = command(fe, d, vio_iov_to_buf(e.out, e.out_num, 0, d, e.out_len));
		/* The ack is the last byte the driver lets us write. */
		if (e.in_len >= 1 && vio_iov_from_buf(e.in, e.in_num, e.in_len - 1, &ack, 1) == 1)
			written = e.in_len;
		else
			refuse(fe, 0, 0, e.out_len, "no room for the ack");
		r = vio_devq_push(&n->ctrlq, &e, written);
		if (r)
			break;
		used = true;
	}
	if (r != -EAGAIN) {
		vio__vu_fe_log(fe, VIO_LOG_ERR, "net: control queue stopped: %s",
			       vio_devq_error(&n->ctrlq) ? vio_devq_error(&n->ctrlq) : vio_strerror(r));
		n->ctrlq_live = false;
		fe->needs_reset = true;
		fe->config_irq_pending = true;
	}
	if (used && vio_devq_need_interrupt(&n->ctrlq)) {
		uint64_t one = 1;
		int fd = fe->queues[ctrl_index(fe)].call_fd;

		while (fd >= 0 && write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	}
}

void vio__vu_fe_net_reset(struct vio_vu_frontend *fe)
{
	fe->net.ctrlq_live = false;
	if (is_net(fe))
		set_initial_config(fe);
}
