/*
 * test_vu_frontend_net.c - the vhost-user frontend completing a net
 * backend made for QEMU's virtio-net (vio/transport/vhost_user_frontend.h,
 * "Net devices"; src/transport/vhost_user_fe_net.c).
 *
 * The backend is libvio's, in a thread (vhost_user/vu_frontend_fixture.h),
 * serving the net driver tests' device (loopback/net_drv_fixture.h) with
 * PROTOCOL_F_CONFIG turned off, as DPDK's vhost PMD has none: the
 * frontend must then serve config space and the control queue itself.
 *   - libvio's net driver, unchanged: the config it reads is the
 *     frontend's, its control commands are answered by the frontend (the
 *     backend's device never sees one), VQ_PAIRS_SET enables the
 *     backend's rings, and frames still flow on both pairs;
 *   - a restarted backend gets the pairs' state from the reconnect;
 *   - ctrl = LOCAL against a backend with config space: both served here;
 *   - more pairs asked for than the backend has: what it has;
 *   - ctrl = NONE: CTRL_VQ and what needs it are never negotiated;
 *   - a raw driver posts malformed commands on the control queue: each is
 *     answered VIO_NET_ERR (or, without room for the ack, with nothing),
 *     never a crash, and a ring that breaks the rules stops the device.
 * Split and packed where the ring matters.
 */
#include "vu_frontend_fixture.h"

#include "net_drv_fixture.h"

static const uint8_t our_mac[6] = { 0x02, 0x5e, 0x5e, 0x00, 0x00, 0x07 };

struct nf {
	struct ndev n;
	struct be *be;
	struct vio_vu_frontend fe;
	struct vio_bus bus;
	struct vio_net_driver drv;
	struct logbuf log;
	/* copied on the backend thread */
	uint64_t be_features;
	unsigned be_ctrl_cmds;
	bool be_enabled[5];
};

static void copy_backend(void *arg)
{
	struct nf *v = arg;

	v->be_features = v->n.d.features;
	v->be_ctrl_cmds = v->n.ctrl_cmds;
	for (unsigned i = 0; i < 5; i++)
		v->be_enabled[i] = v->be->b.queues[i].enabled;
}

/* Leave the backend its config space (PROTOCOL_F_CONFIG). */
static bool backend_has_config;

/* A new backend (a fresh device) in a thread; our end of its socket. */
static int backend_start(struct nf *v, uint64_t ring, unsigned pairs)
{
	int sv[2];

	ndev_init(&v->n, NF(CTRL_VQ) | NF(CTRL_MAC_ADDR) | NF(CTRL_RX) | NF(CTRL_VLAN) |
			 NF(GUEST_ANNOUNCE) | NF(MRG_RXBUF) | NF(MAC) | NF(STATUS) |
			 (pairs > 1 ? NF(MQ) : 0) | ring,
		  pairs, 0, 0, false);
	v->n.echo = true;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	be_next_pf_off = backend_has_config ? 0 : VIO_BIT(VU_PROTOCOL_F_CONFIG);
	v->be = be_start(&v->n.d, sv[1], -1);
	be_next_pf_off = 0;
	return sv[0];
}

/* The backend: the test device with `pairs` pairs and a control queue
 * it would serve, offering config-bound and control features, but with no
 * PROTOCOL_F_CONFIG. The frontend connected with `net`. */
static void nf_connect(struct nf *v, uint64_t ring, unsigned pairs,
		       const struct vio_vu_fe_net_opts *net)
{
	struct vio_vu_frontend_config cfg = {
		.device_id = VIO_ID_NET,
		.memory_bytes = 4u << 20,
		.num_queues = 2 * pairs + 1,
		.queue_max = ND_QMAX,
		.log = log_keep,
		.log_opaque = &v->log,
		.net = *net,
	};

	assert_int_equal(vio_vu_frontend_connect_fd(&v->fe, backend_start(v, ring, pairs), &cfg), 0);
	vio_bus_init(&v->bus, vt_heap_alloc, vt_heap_free, NULL);
}

static void nf_up(struct nf *v, uint64_t ring, unsigned pairs, const struct vio_vu_fe_net_opts *net)
{
	struct vio_net_drv_opts o = { .timeout_ms = WAIT_MS };

	nf_connect(v, ring, pairs, net);
	assert_int_equal(vio_net_drv_register(&v->bus, &v->drv, &o), 0);
	assert_int_equal(vio_bus_add_device(&v->bus, &v->fe.vdev), 0);
	assert_ptr_equal(v->fe.vdev.driver, &v->drv.drv);
}

static void nf_down(struct nf *v)
{
	vio_bus_remove_device(&v->bus, &v->fe.vdev);
	vio_net_drv_unregister(&v->bus, &v->drv);
	vio_vu_frontend_fini(&v->fe);
	be_stop(v->be);
}

/* 8 frames out on `pair`, the same 8 back. */
static void echo_on(struct nf *v, unsigned pair)
{
	struct vio_drv_device *dev = &v->fe.vdev;
	uint8_t tx[8][200], rx[8][300];
	struct vio_net_drv_frame f[8];
	unsigned got = 0;
	int64_t deadline = now_ms() + WAIT_MS;

	for (unsigned i = 0; i < 8; i++) {
		for (unsigned k = 0; k < sizeof(tx[i]); k++)
			tx[i][k] = (uint8_t)(pair * 31 + i * 17 + k);
		f[i] = (struct vio_net_drv_frame){ .data = tx[i], .len = 60 + 10 * i };
	}
	assert_int_equal(vio_net_drv_tx_burst(dev, pair, f, 8), 8);
	while (got < 8 && now_ms() < deadline) {
		int r;

		for (unsigned i = 0; i < 8; i++)
			f[i] = (struct vio_net_drv_frame){ .data = rx[i], .cap = sizeof(rx[i]) };
		r = vio_net_drv_rx_burst(dev, pair, f, 8 - got);
		assert_true(r >= 0);
		for (int i = 0; i < r; i++, got++) {
			assert_int_equal(f[i].len, 60 + 10 * got);
			assert_memory_equal(rx[i], tx[got], f[i].len);
		}
		if (got < 8)
			vio_drv_wait(dev, 100);
	}
	assert_int_equal(got, 8);
	assert_true(vio_net_drv_tx_reap(dev, pair) >= 0);
}

/* The net driver over a backend with neither config space nor control
 * queue: the frontend's config and control queue, the backend's data. */
static void driver_unchanged(uint64_t ring)
{
	const struct vio_vu_fe_net_opts net = { .max_pairs = 2, .mtu = 1400,
						.mac = { 0x02, 0x5e, 0x5e, 0x00, 0x00, 0x07 } };
	static const uint8_t new_mac[6] = { 0x02, 1, 2, 3, 4, 5 };
	struct nf *v = calloc(1, sizeof(*v));
	struct vio_drv_device *dev;
	uint8_t mac[6];
	vio_le16 st = vio_cpu_to_le16(0);

	assert_non_null(v);
	nf_up(v, ring, 2, &net);
	dev = &v->fe.vdev;
	assert_int_equal(v->fe.num_queues, 5);
	/* Config space: the frontend's, from the options. */
	assert_int_equal(vio_net_drv_mac(dev, mac), 0);
	assert_memory_equal(mac, our_mac, 6);
	assert_int_equal(vio_net_drv_mtu(dev), 1400);
	assert_int_equal(vio_drv_config_read(dev, 6, &st, 2), 0);
	assert_int_equal(vio_le16_to_cpu(st), VIO_NET_S_LINK_UP);
	assert_int_equal(vio_net_drv_num_pairs(dev), 2);
	/* Only the MAC is writable. */
	assert_int_equal(vio_drv_config_write(dev, 6, &st, 2), -EPERM);
	assert_int_equal(vio_drv_config_read(dev, 20, mac, 6), -EINVAL);
	/* Features: what is served here, not what needs more. */
	assert_true(vio_drv_has_feature(dev, VIO_NET_F_CTRL_VQ));
	assert_true(vio_drv_has_feature(dev, VIO_NET_F_CTRL_MAC_ADDR));
	assert_true(vio_drv_has_feature(dev, VIO_NET_F_MQ));
	assert_true(vio_drv_has_feature(dev, VIO_NET_F_MTU));
	assert_false(vio_drv_has_feature(dev, VIO_NET_F_CTRL_RX));
	assert_false(vio_drv_has_feature(dev, VIO_NET_F_CTRL_VLAN));
	assert_false(vio_drv_has_feature(dev, VIO_NET_F_GUEST_ANNOUNCE));
	/* The backend got its data features, none for the control queue,
	 * and MTU it never offered neither; the second pair is disabled. */
	be_call(v->be, copy_backend, v);
	assert_true(v->be_features & NF(MRG_RXBUF));
	assert_true(v->be_features & NF(MQ));
	assert_int_equal(v->be_features & (NF(CTRL_VQ) | NF(CTRL_MAC_ADDR) | NF(MTU)), 0);
	assert_true(v->be_enabled[0] && v->be_enabled[1]);
	assert_false(v->be_enabled[2] || v->be_enabled[3]);
	echo_on(v, 0);
	/* Control commands: answered here. */
	assert_int_equal(vio_net_drv_set_mac(dev, new_mac), 0);
	assert_int_equal(vio_net_drv_mac(dev, mac), 0);
	assert_memory_equal(mac, new_mac, 6);
	assert_int_equal(vio_net_drv_set_pairs(dev, 2), 0);
	be_call(v->be, copy_backend, v);
	assert_int_equal(v->be_ctrl_cmds, 0);
	assert_true(v->be_enabled[2] && v->be_enabled[3]);
	echo_on(v, 1);
	echo_on(v, 0);
	assert_int_equal(vio_net_drv_set_pairs(dev, 1), 0);
	be_call(v->be, copy_backend, v);
	assert_true(v->be_enabled[0] && v->be_enabled[1]);
	assert_false(v->be_enabled[2] || v->be_enabled[3]);
	/* A command nobody serves here: the driver hears ERR. */
	assert_int_equal(vio_net_drv_set_rx_mode(dev, VIO_NET_CTRL_RX_PROMISC, true), -ENOTSUP);
	nf_down(v);
	free(v);
}

static void t_driver_unchanged_split(void **state)
{
	(void)state;
	driver_unchanged(0);
}

static void t_driver_unchanged_packed(void **state)
{
	(void)state;
	driver_unchanged(VIO_BIT(VIO_F_RING_PACKED));
}

/* The backend restarts: the new one gets the pairs' enable state the
 * control queue served here set, and the control queue (ours) carries on. */
static void t_reconnect(void **state)
{
	const struct vio_vu_fe_net_opts net = { .max_pairs = 2 };
	static const uint8_t new_mac[6] = { 0x02, 7, 7, 7, 7, 7 };
	struct nf *v = calloc(1, sizeof(*v));
	struct vio_drv_device *dev;
	uint8_t mac[6];

	(void)state;
	assert_non_null(v);
	nf_up(v, 0, 2, &net);
	dev = &v->fe.vdev;
	assert_int_equal(vio_net_drv_set_pairs(dev, 2), 0);
	echo_on(v, 1);
	be_stop(v->be);
	assert_int_equal(vio_vu_frontend_reconnect_fd(&v->fe, backend_start(v, 0, 2)), 0);
	be_call(v->be, copy_backend, v);
	for (unsigned i = 0; i < 4; i++)
		assert_true(v->be_enabled[i]);
	echo_on(v, 1);
	assert_int_equal(vio_net_drv_set_mac(dev, new_mac), 0);
	assert_int_equal(vio_net_drv_mac(dev, mac), 0);
	assert_memory_equal(mac, new_mac, 6);
	assert_int_equal(vio_net_drv_set_pairs(dev, 1), 0);
	be_call(v->be, copy_backend, v);
	assert_false(v->be_enabled[2] || v->be_enabled[3]);
	assert_int_equal(v->be_ctrl_cmds, 0);
	nf_down(v);
	free(v);
}

/* ctrl = LOCAL against a backend with config space: config served here
 * too (the control queue changes it), the backend's never read. */
static void t_ctrl_local_forced(void **state)
{
	const struct vio_vu_fe_net_opts net = { .ctrl = VIO_VU_FE_NET_CTRL_LOCAL,
						.mac = { 0x02, 0x5e, 0x5e, 0x00, 0x00, 0x07 } };
	static const uint8_t new_mac[6] = { 0x02, 3, 3, 3, 3, 3 };
	struct nf *v = calloc(1, sizeof(*v));
	struct vio_drv_device *dev;
	uint8_t mac[6];

	(void)state;
	assert_non_null(v);
	backend_has_config = true;
	nf_up(v, 0, 1, &net);
	backend_has_config = false;
	dev = &v->fe.vdev;
	assert_true(vio_has_feature(v->fe.protocol_features, VU_PROTOCOL_F_CONFIG));
	assert_int_equal(vio_net_drv_mac(dev, mac), 0);
	assert_memory_equal(mac, our_mac, 6);
	assert_int_equal(vio_net_drv_set_mac(dev, new_mac), 0);
	assert_int_equal(vio_net_drv_mac(dev, mac), 0);
	assert_memory_equal(mac, new_mac, 6);
	echo_on(v, 0);
	be_call(v->be, copy_backend, v);
	assert_int_equal(v->be_ctrl_cmds, 0);
	assert_int_equal(v->be_features & NF(CTRL_VQ), 0);
	nf_down(v);
	free(v);
}

/* Options that ask for more pairs than the backend has queues for get
 * what it has: one pair, no MQ, the control queue right after it. */
static void t_pairs_clamped(void **state)
{
	const struct vio_vu_fe_net_opts net = { .max_pairs = 4 };
	struct nf *v = calloc(1, sizeof(*v));
	struct vio_drv_device *dev;

	(void)state;
	assert_non_null(v);
	nf_up(v, 0, 1, &net);
	dev = &v->fe.vdev;
	assert_int_equal(v->fe.num_queues, 3);
	assert_int_equal(vio_net_drv_num_pairs(dev), 1);
	assert_false(vio_drv_has_feature(dev, VIO_NET_F_MQ));
	assert_true(vio_drv_has_feature(dev, VIO_NET_F_CTRL_VQ));
	assert_int_equal(vio_net_drv_set_mac(dev, our_mac), 0);
	echo_on(v, 0);
	nf_down(v);
	free(v);
}

/* ctrl = NONE: the clean refusal; config still served here. */
static void t_ctrl_none(void **state)
{
	const struct vio_vu_fe_net_opts net = { .ctrl = VIO_VU_FE_NET_CTRL_NONE };
	struct nf *v = calloc(1, sizeof(*v));
	struct vio_drv_device *dev;
	uint8_t mac[6];

	(void)state;
	assert_non_null(v);
	nf_up(v, 0, 1, &net);
	dev = &v->fe.vdev;
	assert_false(vio_drv_has_feature(dev, VIO_NET_F_CTRL_VQ));
	assert_false(vio_drv_has_feature(dev, VIO_NET_F_CTRL_MAC_ADDR));
	assert_false(vio_drv_has_feature(dev, VIO_NET_F_MQ));
	assert_false(vio_drv_has_feature(dev, VIO_NET_F_MTU));
	assert_int_equal(vio_net_drv_mac(dev, mac), 0);
	assert_memory_equal(mac, nd_mac, 6);            /* the default */
	assert_int_equal(vio_net_drv_set_mac(dev, our_mac), -ENOTSUP);
	echo_on(v, 0);
	be_call(v->be, copy_backend, v);
	assert_int_equal(v->be_features & NF(CTRL_VQ), 0);
	nf_down(v);
	free(v);
}

/* A raw driver on the control queue the frontend serves                  */

struct raw {
	struct vio_driver drv;
	uint32_t ids[2];
	struct vio_drv_vq vqs[3];
	uint8_t *buf;
	uint64_t dma;
};

static struct raw *raw_of(struct vio_drv_device *dev)
{
	return (struct raw *)((char *)dev->driver - offsetof(struct raw, drv));
}

static int raw_probe(struct vio_drv_device *dev)
{
	struct raw *w = raw_of(dev);
	struct vio_drv_vq_info info[3] = { { .size = 8 }, { .size = 8 }, { .size = 8 } };
	int r = vio_drv_find_vqs(dev, 3, info, w->vqs);

	if (r)
		return r;
	w->buf = vio_drv_dma_alloc(dev, 4096, 64, &w->dma);
	return w->buf ? 0 : -ENOMEM;
}

static void raw_remove(struct vio_drv_device *dev)
{
	struct raw *w = raw_of(dev);

	vio_drv_reset(dev);
	for (unsigned i = 0; i < 3; i++)
		while (vio_drvq_detach_unused(&w->vqs[i].q))
			;
	vio_drv_del_vqs(dev);
	vio_drv_dma_free(dev, w->buf, 4096);
}

static void raw_up(struct nf *v, struct raw *w, uint64_t ring)
{
	const struct vio_vu_fe_net_opts net = { 0 };

	memset(w, 0, sizeof(*w));
	w->ids[0] = VIO_ID_NET;
	w->drv.name = "rawnet";
	w->drv.ids = w->ids;
	w->drv.features = VIO_BIT(VIO_F_VERSION_1) | NF(CTRL_VQ) | NF(CTRL_MAC_ADDR) | NF(MAC) | ring;
	w->drv.probe = raw_probe;
	w->drv.remove = raw_remove;
	nf_connect(v, ring, 1, &net);
	assert_int_equal(vio_bus_register_driver(&v->bus, &w->drv), 0);
	assert_int_equal(vio_bus_add_device(&v->bus, &v->fe.vdev), 0);
	assert_ptr_equal(v->fe.vdev.driver, &w->drv);
}

static void raw_down(struct nf *v, struct raw *w)
{
	vio_bus_remove_device(&v->bus, &v->fe.vdev);
	vio_bus_unregister_driver(&v->bus, &w->drv);
	vio_vu_frontend_fini(&v->fe);
	be_stop(v->be);
}

/* Posts out = buf[0, out_len) and in = buf[512, 512 + in_len) (none for
 * 0) on the control queue, kicks, and waits for it to come back: the
 * used length into *len. The ack byte, if any, is buf[512 + in_len - 1]. */
static void raw_cmd(struct nf *v, struct raw *w, const void *out, uint32_t out_len,
		    uint32_t in_len, uint32_t *len)
{
	struct vio_drv_vq *q = &w->vqs[2];
	struct vio_sg o = { w->dma, out_len }, i = { w->dma + 512, in_len };
	int64_t deadline = now_ms() + WAIT_MS;
	void *tok = NULL;

	memcpy(w->buf, out, out_len);
	memset(w->buf + 512, 0xee, 64);
	assert_int_equal(vio_drvq_add(&q->q, &o, out_len ? 1 : 0, &i, in_len ? 1 : 0, w), 0);
	vio_drv_vq_kick(q);
	while (vio_drvq_get_buf(&q->q, &tok, len) == -EAGAIN && now_ms() < deadline)
		vio_drv_wait(&v->fe.vdev, 50);
	assert_ptr_equal(tok, w);
}

static uint8_t ack_of(const struct raw *w, uint32_t in_len)
{
	return w->buf[512 + in_len - 1];
}

static void malformed(uint64_t ring)
{
	struct nf *v = calloc(1, sizeof(*v));
	struct raw w;
	uint32_t len = 0;
	uint8_t mac[6];
	static const uint8_t set_mac[8] = { VIO_NET_CTRL_MAC, VIO_NET_CTRL_MAC_ADDR_SET, 2, 9, 9, 9, 9, 9 };
	static const uint8_t short_mac[7] = { VIO_NET_CTRL_MAC, VIO_NET_CTRL_MAC_ADDR_SET, 2, 8, 8, 8, 8 };
	static const uint8_t pairs[4] = { VIO_NET_CTRL_MQ, VIO_NET_CTRL_MQ_VQ_PAIRS_SET, 1, 0 };
	static const uint8_t rx_mode[3] = { VIO_NET_CTRL_RX, VIO_NET_CTRL_RX_PROMISC, 1 };
	static const uint8_t unknown[2] = { 0x7f, 0x7f };
	uint8_t longer[100] = { VIO_NET_CTRL_MAC, VIO_NET_CTRL_MAC_ADDR_SET };

	assert_non_null(v);
	raw_up(v, &w, ring);
	/* Well-formed: OK, and the config says so. */
	raw_cmd(v, &w, set_mac, sizeof(set_mac), 1, &len);
	assert_int_equal(len, 1);
	assert_int_equal(ack_of(&w, 1), VIO_NET_OK);
	assert_int_equal(vio_drv_config_read(&v->fe.vdev, 0, mac, 6), 0);
	assert_memory_equal(mac, set_mac + 2, 6);
	/* The ack goes to the last byte the driver offers. */
	raw_cmd(v, &w, set_mac, sizeof(set_mac), 4, &len);
	assert_int_equal(len, 4);
	assert_int_equal(ack_of(&w, 4), VIO_NET_OK);
	/* A MAC of 5 bytes: ERR, the MAC stays. */
	raw_cmd(v, &w, short_mac, sizeof(short_mac), 1, &len);
	assert_int_equal(ack_of(&w, 1), VIO_NET_ERR);
	assert_int_equal(vio_drv_config_read(&v->fe.vdev, 0, mac, 6), 0);
	assert_memory_equal(mac, set_mac + 2, 6);
	/* One header byte only. */
	raw_cmd(v, &w, set_mac, 1, 1, &len);
	assert_int_equal(ack_of(&w, 1), VIO_NET_ERR);
	/* No header at all. */
	raw_cmd(v, &w, set_mac, 0, 1, &len);
	assert_int_equal(ack_of(&w, 1), VIO_NET_ERR);
	/* Longer than any command served here. */
	raw_cmd(v, &w, longer, sizeof(longer), 1, &len);
	assert_int_equal(ack_of(&w, 1), VIO_NET_ERR);
	/* VQ_PAIRS_SET without MQ negotiated. */
	raw_cmd(v, &w, pairs, sizeof(pairs), 1, &len);
	assert_int_equal(ack_of(&w, 1), VIO_NET_ERR);
	/* A class served nowhere here, and one unknown anywhere. */
	raw_cmd(v, &w, rx_mode, sizeof(rx_mode), 1, &len);
	assert_int_equal(ack_of(&w, 1), VIO_NET_ERR);
	raw_cmd(v, &w, unknown, sizeof(unknown), 1, &len);
	assert_int_equal(ack_of(&w, 1), VIO_NET_ERR);
	assert_true(strstr(v->log.last, "refused") != NULL);
	/* No room for the ack: used with nothing written. */
	raw_cmd(v, &w, set_mac, sizeof(set_mac), 0, &len);
	assert_int_equal(len, 0);
	/* The queue still serves, and the device is well. */
	raw_cmd(v, &w, set_mac, sizeof(set_mac), 1, &len);
	assert_int_equal(ack_of(&w, 1), VIO_NET_OK);
	assert_int_equal(vio_drv_get_status(&v->fe.vdev) & VIO_STATUS_NEEDS_RESET, 0);
	raw_down(v, &w);
	free(v);
}

static void t_malformed_split(void **state)
{
	(void)state;
	malformed(0);
}

static void t_malformed_packed(void **state)
{
	(void)state;
	malformed(VIO_BIT(VIO_F_RING_PACKED));
}

/* A ring that breaks the rules (split: an avail index far ahead) stops
 * the control queue served here, and the device asks for a reset. */
static void t_broken_ring(void **state)
{
	struct nf *v = calloc(1, sizeof(*v));
	struct raw w;
	struct vio_drvq *q;
	int64_t deadline;

	(void)state;
	assert_non_null(v);
	raw_up(v, &w, 0);
	q = &w.vqs[2].q;
	/* The driver's own ring memory, forged. */
	q->u.split.avail->idx = vio_cpu_to_le16(100);
	/* The ring would see nothing to kick for: notify as a driver would. */
	v->fe.vdev.ops->notify(&v->fe.vdev, 2);
	deadline = now_ms() + WAIT_MS;
	while (!(vio_drv_get_status(&v->fe.vdev) & VIO_STATUS_NEEDS_RESET) && now_ms() < deadline)
		vio_drv_wait(&v->fe.vdev, 50);
	assert_true(vio_drv_get_status(&v->fe.vdev) & VIO_STATUS_NEEDS_RESET);
	assert_true(strstr(v->log.last, "control queue stopped") != NULL);
	/* Further kicks do nothing. */
	v->fe.vdev.ops->notify(&v->fe.vdev, 2);
	raw_down(v, &w);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_driver_unchanged_split),
		cmocka_unit_test(t_driver_unchanged_packed),
		cmocka_unit_test(t_reconnect),
		cmocka_unit_test(t_ctrl_local_forced),
		cmocka_unit_test(t_pairs_clamped),
		cmocka_unit_test(t_ctrl_none),
		cmocka_unit_test(t_malformed_split),
		cmocka_unit_test(t_malformed_packed),
		cmocka_unit_test(t_broken_ring),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("vu_frontend_net", tests, NULL, NULL);
}
