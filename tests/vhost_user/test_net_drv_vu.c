/*
 * test_net_drv_vu.c - the net driver, unchanged, over libvio's vhost-user
 * frontend, against the net driver tests' device (loopback/net_drv_fixture.h)
 * served by libvio's vhost-user backend in a thread
 * (vhost_user/vu_frontend_fixture.h): config through GET_CONFIG, frames
 * through the shared memfd and the eventfds (the device echoes each
 * transmitted frame back on the receive queue), and a control command.
 * Split and packed.
 */
#include "vu_frontend_fixture.h"

#include "net_drv_fixture.h"

struct vu {
	struct ndev n;
	struct be *be;
	struct vio_vu_frontend fe;
	struct vio_bus bus;
	struct vio_net_driver drv;
	struct logbuf log;
	/* the last control command, copied on the backend thread */
	uint8_t ctrl[64];
	uint32_t ctrl_len;
};

/* Runs on the backend thread (be_call): what the device recorded is
 * written there; the ring's ordering is across two mappings of the
 * memfd, which TSan cannot pair, so the test reads it there. */
static void copy_ctrl(void *arg)
{
	struct vu *v = arg;

	v->ctrl_len = v->n.ctrl_len < sizeof(v->ctrl) ? v->n.ctrl_len : sizeof(v->ctrl);
	memcpy(v->ctrl, v->n.ctrl, v->ctrl_len);
}

static void vu_up(struct vu *v, uint64_t ring)
{
	struct vio_vu_frontend_config cfg = {
		.device_id = VIO_ID_NET,
		.memory_bytes = 4u << 20,
		.num_queues = 3,
		.queue_max = ND_QMAX,
		.log = log_keep,
		.log_opaque = &v->log,
	};
	struct vio_net_drv_opts o = { .timeout_ms = WAIT_MS };
	int sv[2];

	ndev_init(&v->n, NF(CTRL_VQ) | NF(CTRL_MAC_ADDR) | NF(MRG_RXBUF) | NF(MAC) | ring, 1, 0, 0,
		  false);
	v->n.echo = true;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	v->be = be_start(&v->n.d, sv[1], -1);
	assert_int_equal(vio_vu_frontend_connect_fd(&v->fe, sv[0], &cfg), 0);
	vio_bus_init(&v->bus, vt_heap_alloc, vt_heap_free, NULL);
	assert_int_equal(vio_net_drv_register(&v->bus, &v->drv, &o), 0);
	assert_int_equal(vio_bus_add_device(&v->bus, &v->fe.vdev), 0);
	assert_ptr_equal(v->fe.vdev.driver, &v->drv.drv);
}

static void vu_down(struct vu *v)
{
	vio_bus_remove_device(&v->bus, &v->fe.vdev);
	vio_net_drv_unregister(&v->bus, &v->drv);
	vio_vu_frontend_fini(&v->fe);
	be_stop(v->be);
}

static void echo_and_ctrl(uint64_t ring)
{
	struct vu *v = calloc(1, sizeof(*v));
	struct vio_drv_device *dev;
	uint8_t tx[8][300], rx[8][400], mac[6];
	static const uint8_t new_mac[6] = { 2, 1, 2, 3, 4, 5 };
	const uint8_t want[] = { VIO_NET_CTRL_MAC, VIO_NET_CTRL_MAC_ADDR_SET, 2, 1, 2, 3, 4, 5 };
	struct vio_net_drv_frame f[8];
	unsigned got = 0;
	int64_t deadline;

	assert_non_null(v);
	vu_up(v, ring);
	dev = &v->fe.vdev;
	assert_int_equal(vio_drv_has_feature(dev, VIO_F_RING_PACKED), ring != 0);
	assert_int_equal(vio_net_drv_mac(dev, mac), 0);
	assert_memory_equal(mac, nd_mac, 6);
	for (unsigned i = 0; i < 8; i++) {
		for (unsigned k = 0; k < sizeof(tx[i]); k++)
			tx[i][k] = (uint8_t)(i * 17 + k);
		f[i] = (struct vio_net_drv_frame){ .data = tx[i], .len = 100 + 20 * i };
	}
	assert_int_equal(vio_net_drv_tx_burst(dev, 0, f, 8), 8);
	deadline = now_ms() + WAIT_MS;
	while (got < 8 && now_ms() < deadline) {
		int r;

		for (unsigned i = 0; i < 8; i++)
			f[i] = (struct vio_net_drv_frame){ .data = rx[i], .cap = sizeof(rx[i]) };
		r = vio_net_drv_rx_burst(dev, 0, f, 8 - got);
		assert_true(r >= 0);
		for (int i = 0; i < r; i++, got++) {
			assert_int_equal(f[i].len, 100 + 20 * got);
			assert_memory_equal(rx[i], tx[got], f[i].len);
		}
		if (got < 8)
			vio_drv_wait(dev, 100);
	}
	assert_int_equal(got, 8);
	assert_int_equal(vio_net_drv_tx_reap(dev, 0) >= 0, 1);
	assert_int_equal(vio_net_drv_set_mac(dev, new_mac), 0);
	be_call(v->be, copy_ctrl, v);
	assert_int_equal(v->ctrl_len, sizeof(want));
	assert_memory_equal(v->ctrl, want, sizeof(want));
	vu_down(v);
	free(v);
}

static void t_echo_and_ctrl_split(void **state)
{
	(void)state;
	echo_and_ctrl(0);
}

static void t_echo_and_ctrl_packed(void **state)
{
	(void)state;
	echo_and_ctrl(VIO_BIT(VIO_F_RING_PACKED));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_echo_and_ctrl_split),
		cmocka_unit_test(t_echo_and_ctrl_packed),
	};

	return cmocka_run_group_tests_name("net_drv_vu", tests, NULL, NULL);
}
