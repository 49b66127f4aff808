/*
 * test_vu_backend_net_rarp.c - vhost-user's SEND_RARP and NET_SET_MTU,
 * through the backend, into the net device.
 *
 * After a migration QEMU asks the backend to send a RARP for a guest
 * whose driver cannot announce itself (no GUEST_ANNOUNCE): the net device
 * must put a broadcast RARP from the guest's MAC out through its port,
 * which is how the switch in front of it learns where the guest went.
 * NET_SET_MTU tells the backend the MTU QEMU offered the driver; the net
 * device makes it its config's mtu. Each is checked byte for byte here,
 * and each way to get them wrong (the protocol feature not negotiated, a
 * payload of the wrong size, the link down, an MTU out of range, a device
 * type without them) is refused with its own case, and nothing leaves.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "frontend.h"
#include "vio/devices/net.h"
#include "vio/devices/rng.h"
#include "vio/spec/net.h"
#include "vio/transport/vhost_user_backend.h"

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };

#define MAX_CAUGHT 4u

/* A port that keeps what the device transmits. */
struct catcher {
	unsigned n;
	unsigned pair[MAX_CAUGHT];
	uint8_t frame[MAX_CAUGHT][128];
	uint32_t len[MAX_CAUGHT];
};

static int catch_transmit(void *port, unsigned pair, const struct vio_net_frame *frames, unsigned n)
{
	struct catcher *c = port;

	for (unsigned i = 0; i < n && c->n < MAX_CAUGHT; i++, c->n++) {
		size_t at = 0;

		c->pair[c->n] = pair;
		c->len[c->n] = frames[i].len;
		for (unsigned k = 0; k < frames[i].iovcnt; k++) {
			const struct vio_iov *v = &frames[i].iov[k];
			size_t take = v->len < sizeof(c->frame[0]) - at ? v->len : sizeof(c->frame[0]) - at;

			memcpy(c->frame[c->n] + at, v->base, take);
			at += take;
		}
	}
	return (int)n;
}

static const struct vio_net_port_ops catch_ops = {
	.version = VIO_NET_PORT_OPS_VERSION,
	.transmit = catch_transmit,
};

struct rt {
	struct vio_net_dev net;
	struct vio_rng_dev rng;
	struct catcher port;
	struct vio_vu_backend b;
	struct vt_fe fe;
};

static void pump(void *opaque)
{
	struct rt *t = opaque;

	if (vt_readable(t->b.sock, 2000))
		(void)vio_vu_backend_dispatch(&t->b);
}

static void attach(struct rt *t, struct vio_dev_model *d)
{
	struct vio_vu_backend_config cfg = { .timeout_ms = 2000 };
	int sv[2];

	assert_int_equal(vio_vu_backend_init(&t->b, d, &cfg), 0);
	assert_int_equal(vt_socketpair(sv), 0);
	assert_int_equal(vio_vu_backend_attach(&t->b, sv[1]), 0);
	vt_fe_init(&t->fe, sv[0], pump, t);
}

static int setup_net(void **state)
{
	struct rt *t = calloc(1, sizeof(*t));
	struct vio_net_dev_opts o = { .port_ops = &catch_ops };

	assert_non_null(t);
	o.port = &t->port;
	assert_int_equal(vio_net_dev_init(&t->net, &o), 0);
	attach(t, &t->net.dev);
	*state = t;
	return 0;
}

static int teardown_net(void **state)
{
	struct rt *t = *state;

	vio_vu_backend_fini(&t->b);
	close(t->fe.sock);
	vio_net_dev_fini(&t->net);
	free(t);
	return 0;
}

/* Protocol features: REPLY_ACK (so refusals come back) and `more`, as far
 * as offered; returns what was negotiated. */
static uint64_t negotiate(struct rt *t, uint64_t more)
{
	assert_int_equal(vt_fe_negotiate_protocol(&t->fe, VIO_BIT(VU_PROTOCOL_F_REPLY_ACK) | more, NULL), 0);
	return t->fe.protocol_features;
}

static uint64_t mac_u64(const uint8_t mac[6])
{
	uint64_t v = 0;

	memcpy(&v, mac, 6);
	return v;
}

static uint16_t config_mtu(struct rt *t)
{
	uint8_t b[2];

	assert_int_equal(vt_fe_get_config(&t->fe, offsetof(struct vio_net_config, mtu), 2, b), 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

static void t_rarp_offered_and_sent(void **state)
{
	struct rt *t = *state;
	const uint8_t *f;

	assert_true(negotiate(t, VIO_BIT(VU_PROTOCOL_F_RARP)) & VIO_BIT(VU_PROTOCOL_F_RARP));
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SEND_RARP, mac_u64(guest_mac)), 0);
	assert_int_equal(t->port.n, 1);
	assert_int_equal(t->port.pair[0], 0);
	assert_int_equal(t->port.len[0], 60);
	f = t->port.frame[0];
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(f[i], 0xff);                   /* broadcast */
	assert_memory_equal(f + 6, guest_mac, 6);               /* from the guest */
	assert_int_equal(f[12] << 8 | f[13], 0x8035);           /* RARP */
	assert_int_equal(f[14] << 8 | f[15], 1);                /* Ethernet */
	assert_int_equal(f[16] << 8 | f[17], 0x0800);           /* IPv4 */
	assert_int_equal(f[18], 6);
	assert_int_equal(f[19], 4);
	assert_int_equal(f[20] << 8 | f[21], 3);                /* reverse request */
	assert_memory_equal(f + 22, guest_mac, 6);
	assert_memory_equal(f + 32, guest_mac, 6);
	for (unsigned i = 28; i < 32; i++)
		assert_int_equal(f[i], 0);                      /* sender IP */
	for (unsigned i = 38; i < 60; i++)
		assert_int_equal(f[i], 0);                      /* target IP, padding */
}

static void t_rarp_without_protocol_feature(void **state)
{
	struct rt *t = *state;

	assert_false(negotiate(t, 0) & VIO_BIT(VU_PROTOCOL_F_RARP));
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SEND_RARP, mac_u64(guest_mac)), 1);
	assert_int_equal(t->port.n, 0);
}

static void t_rarp_wrong_size(void **state)
{
	struct rt *t = *state;
	uint8_t mac[6];

	memcpy(mac, guest_mac, 6);
	negotiate(t, VIO_BIT(VU_PROTOCOL_F_RARP));
	assert_int_equal(vt_fe_set(&t->fe, VU_SEND_RARP, mac, sizeof(mac), NULL, 0), 1);
	assert_int_equal(t->port.n, 0);
	/* ... and the connection still serves. */
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SEND_RARP, mac_u64(guest_mac)), 0);
	assert_int_equal(t->port.n, 1);
}

static void t_rarp_link_down(void **state)
{
	struct rt *t = *state;

	negotiate(t, VIO_BIT(VU_PROTOCOL_F_RARP));
	vio_net_dev_set_link(&t->net, false);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SEND_RARP, mac_u64(guest_mac)), 1);
	assert_int_equal(t->port.n, 0);
}

static void t_mtu_set(void **state)
{
	struct rt *t = *state;

	assert_true(negotiate(t, VIO_BIT(VU_PROTOCOL_F_MTU) | VIO_BIT(VU_PROTOCOL_F_CONFIG)) &
		    VIO_BIT(VU_PROTOCOL_F_MTU));
	assert_int_equal(config_mtu(t), 1500);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_NET_SET_MTU, 9000), 0);
	assert_int_equal(config_mtu(t), 9000);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_NET_SET_MTU, VIO_NET_MTU_MIN), 0);
	assert_int_equal(config_mtu(t), VIO_NET_MTU_MIN);
}

static void t_mtu_out_of_range(void **state)
{
	struct rt *t = *state;
	static const uint64_t bad[] = { 0, VIO_NET_MTU_MIN - 1, VIO_NET_FRAME_MAX - 13, 65536,
					UINT64_C(1) << 32 | 1500 };

	negotiate(t, VIO_BIT(VU_PROTOCOL_F_MTU) | VIO_BIT(VU_PROTOCOL_F_CONFIG));
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(vt_fe_set_u64(&t->fe, VU_NET_SET_MTU, bad[i]), 1);
		assert_int_equal(config_mtu(t), 1500);
	}
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_NET_SET_MTU, VIO_NET_FRAME_MAX - 14), 0);
	assert_int_equal(config_mtu(t), VIO_NET_FRAME_MAX - 14);
}

static void t_mtu_without_protocol_feature(void **state)
{
	struct rt *t = *state;

	assert_false(negotiate(t, VIO_BIT(VU_PROTOCOL_F_CONFIG)) & VIO_BIT(VU_PROTOCOL_F_MTU));
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_NET_SET_MTU, 9000), 1);
	assert_int_equal(config_mtu(t), 1500);
}

/* A net device that does not offer VIRTIO_NET_F_MTU has no MTU to set. */
static void t_mtu_device_without_mtu_feature(void **state)
{
	struct rt *t = calloc(1, sizeof(*t));
	struct vio_net_dev_opts o = { .net_features = VIO_BIT(VIO_NET_F_MAC) };

	(void)state;
	assert_non_null(t);
	assert_int_equal(vio_net_dev_init(&t->net, &o), 0);
	attach(t, &t->net.dev);
	assert_true(negotiate(t, VIO_BIT(VU_PROTOCOL_F_MTU)) & VIO_BIT(VU_PROTOCOL_F_MTU));
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_NET_SET_MTU, 9000), 1);
	teardown_net((void **)&t);
}

/* A device type without announce or set_mtu (rng) offers neither, and
 * the requests are refused. */
static void t_rng_offers_neither(void **state)
{
	struct rt *t = calloc(1, sizeof(*t));
	struct vio_rng_dev_opts o = { 0 };
	uint64_t pf;

	(void)state;
	assert_non_null(t);
	assert_int_equal(vio_rng_dev_init(&t->rng, &o), 0);
	attach(t, &t->rng.dev);
	pf = negotiate(t, VIO_BIT(VU_PROTOCOL_F_RARP) | VIO_BIT(VU_PROTOCOL_F_MTU));
	assert_false(pf & (VIO_BIT(VU_PROTOCOL_F_RARP) | VIO_BIT(VU_PROTOCOL_F_MTU)));
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SEND_RARP, mac_u64(guest_mac)), 1);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_NET_SET_MTU, 1500), 1);
	vio_vu_backend_fini(&t->b);
	close(t->fe.sock);
	vio_rng_dev_fini(&t->rng);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_rarp_offered_and_sent, setup_net, teardown_net),
		cmocka_unit_test_setup_teardown(t_rarp_without_protocol_feature, setup_net, teardown_net),
		cmocka_unit_test_setup_teardown(t_rarp_wrong_size, setup_net, teardown_net),
		cmocka_unit_test_setup_teardown(t_rarp_link_down, setup_net, teardown_net),
		cmocka_unit_test_setup_teardown(t_mtu_set, setup_net, teardown_net),
		cmocka_unit_test_setup_teardown(t_mtu_out_of_range, setup_net, teardown_net),
		cmocka_unit_test_setup_teardown(t_mtu_without_protocol_feature, setup_net, teardown_net),
		cmocka_unit_test(t_mtu_device_without_mtu_feature),
		cmocka_unit_test(t_rng_offers_neither),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
