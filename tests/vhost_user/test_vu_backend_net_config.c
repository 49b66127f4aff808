/*
 * test_vu_backend_net_config.c - GET_CONFIG against the net device's
 * control queue, on two threads, through the vhost-user backend.
 *
 * The net device (src/devices/net.c) changes its config space from the
 * control queue: MAC_ADDR_SET rewrites the config's MAC on the thread that
 * processes that queue. The frontend may ask for the config (GET_CONFIG) at
 * any time, and the backend answers on its dispatch thread. Here a thread
 * of its own runs the control queue while this thread sends GET_CONFIGs
 * and MAC_ADDR_SETs through the test frontend (vhost_user/frontend.c):
 * every MAC read must be one that was set (or the first), never the
 * device's original one put back for a moment while the config is rebuilt,
 * and under TSan (meson setup -Db_sanitize=thread) the two threads'
 * accesses to the config bytes must be ordered by the backend's locks.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "frontend.h"
#include "vio/devices/net.h"
#include "vio/spec/net.h"
#include "vio/transport/vhost_user_backend.h"

#define GPA UINT64_C(0x40000000)
#define UVA UINT64_C(0x200000000000)
#define MEM_SIZE (1u << 20)
#define QSIZE 64u
#define CTRL_QI 2u              /* one pair: rx 0, tx 1, ctrl 2 */
#define BATCH 32u               /* commands in flight at once */
#define ROUNDS 40u
#define READS 16u               /* GET_CONFIGs while a batch runs */
#define CMD_BYTES 16u           /* per command: header, MAC, ack */

static const uint8_t mac0[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t mac_a[6] = { 0x02, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa };
static const uint8_t mac_b[6] = { 0x02, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb };

struct nt {
	struct vio_net_dev net;
	struct vio_vu_backend b;
	struct vt_fe fe;
	struct vt_gmem g;
	struct vt_ring r;
	uint8_t *cmds;                  /* BATCH command slots in guest memory */
	pthread_t ctrl_thread;
	bool stop;                      /* atomic */
};

/* The frontend's messages are read on this thread. */
static void pump(void *opaque)
{
	struct nt *t = opaque;

	if (vt_readable(t->b.sock, 2000))
		(void)vio_vu_backend_dispatch(&t->b);
}

/* The control queue's thread, as a daemon would run it. */
static void *ctrl_main(void *arg)
{
	struct nt *t = arg;

	while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd p = { vio_vu_backend_kick_fd(&t->b, CTRL_QI), POLLIN, 0 };

		if (p.fd >= 0 && poll(&p, 1, 10) > 0)
			vio_vu_backend_queue_dispatch(&t->b, CTRL_QI);
	}
	return NULL;
}

static int setup(void **state)
{
	struct nt *t = calloc(1, sizeof(*t));
	struct vio_net_dev_opts o = {
		.net_features = VIO_BIT(VIO_NET_F_MAC) | VIO_BIT(VIO_NET_F_CTRL_VQ) |
				VIO_BIT(VIO_NET_F_CTRL_MAC_ADDR),
	};
	struct vio_vu_backend_config cfg = { .timeout_ms = 2000 };
	const uint64_t features = VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_NET_F_MAC) |
				  VIO_BIT(VIO_NET_F_CTRL_VQ) | VIO_BIT(VIO_NET_F_CTRL_MAC_ADDR);
	const struct vt_gmem *gs[1];
	int sv[2];

	assert_non_null(t);
	memcpy(o.mac, mac0, 6);
	assert_int_equal(vio_net_dev_init(&t->net, &o), 0);
	assert_int_equal(vio_vu_backend_init(&t->b, &t->net.dev, &cfg), 0);
	assert_int_equal(vt_socketpair(sv), 0);
	assert_int_equal(vio_vu_backend_attach(&t->b, sv[1]), 0);
	vt_fe_init(&t->fe, sv[0], pump, t);
	assert_int_equal(vt_gmem_init(&t->g, MEM_SIZE, 0, GPA, UVA, 0), 0);
	assert_int_equal(vt_ring_init(&t->r, &t->g, CTRL_QI, QSIZE, features, 0), 0);
	t->cmds = vt_gmem_alloc(&t->g, BATCH * CMD_BYTES, 64);
	assert_non_null(t->cmds);
	assert_int_equal(vt_fe_handshake(&t->fe, features | VIO_BIT(VU_F_PROTOCOL_FEATURES),
					 VIO_BIT(VU_PROTOCOL_F_CONFIG) | VIO_BIT(VU_PROTOCOL_F_REPLY_ACK),
					 NULL), 0);
	gs[0] = &t->g;
	assert_int_equal(vt_fe_mem_table(&t->fe, gs, 1), 0);
	assert_int_equal(vt_fe_start_ring(&t->fe, &t->r, 0, true), 0);
	assert_true(vio_dev_queue_live(&t->net.dev, CTRL_QI));
	assert_int_equal(pthread_create(&t->ctrl_thread, NULL, ctrl_main, t), 0);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct nt *t = *state;

	__atomic_store_n(&t->stop, true, __ATOMIC_RELEASE);
	pthread_join(t->ctrl_thread, NULL);
	vio_vu_backend_fini(&t->b);
	close(t->fe.sock);
	vt_ring_fini(&t->r);
	vt_gmem_fini(&t->g);
	vio_net_dev_fini(&t->net);
	free(t);
	return 0;
}

/* Posts MAC_ADDR_SET(mac) in command slot k. */
static void post_mac(struct nt *t, unsigned k, const uint8_t *mac)
{
	uint8_t *c = t->cmds + (size_t)k * CMD_BYTES;
	uint64_t gpa = vt_gmem_gpa(&t->g, c);
	struct vio_sg out = { gpa, 8 }, in = { gpa + 8, 1 };

	c[0] = VIO_NET_CTRL_MAC;
	c[1] = VIO_NET_CTRL_MAC_ADDR_SET;
	memcpy(c + 2, mac, 6);
	c[8] = 0xff;
	assert_int_equal(vio_drvq_add(&t->r.q, &out, 1, &in, 1, c), 0);
}

static void get_mac(struct nt *t, uint8_t *mac)
{
	assert_int_equal(vt_fe_get_config(&t->fe, 0, 6, mac), 6);
}

static void t_get_config_while_ctrl_sets_mac(void **state)
{
	struct nt *t = *state;
	uint8_t mac[6];
	unsigned reaped_total = 0;

	get_mac(t, mac);
	assert_memory_equal(mac, mac0, 6);
	for (unsigned round = 0; round < ROUNDS; round++) {
		unsigned reaped = 0;

		for (unsigned k = 0; k < BATCH; k++)
			post_mac(t, k, k % 2 ? mac_b : mac_a);
		(void)vt_ring_kick(&t->r);
		/* While the control thread works through the batch. */
		for (unsigned i = 0; i < READS; i++) {
			get_mac(t, mac);
			if (round > 0 || memcmp(mac, mac0, 6))
				assert_true(!memcmp(mac, mac_a, 6) || !memcmp(mac, mac_b, 6));
		}
		while (reaped < BATCH) {
			void *tok;
			uint32_t len;
			int r = vio_drvq_get_buf(&t->r.q, &tok, &len);

			if (r == -EAGAIN) {
				assert_true(vt_readable(t->r.call_fd, 5000));
				(void)vt_efd_take(t->r.call_fd);
				continue;
			}
			assert_int_equal(r, 0);
			assert_int_equal(len, 1);
			assert_int_equal(((uint8_t *)tok)[8], VIO_NET_OK);
			reaped++;
		}
		reaped_total += reaped;
		/* The batch ends with B. */
		get_mac(t, mac);
		assert_memory_equal(mac, mac_b, 6);
	}
	assert_int_equal(reaped_total, ROUNDS * BATCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_get_config_while_ctrl_sets_mac, setup, teardown),
	};

	return cmocka_run_group_tests_name("vu_backend_net_config", tests, NULL, NULL);
}
