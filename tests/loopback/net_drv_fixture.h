/*
 * net_drv_fixture.h - the virtio-net driver against a test device.
 *
 * The device side is the test's own: a struct vio_dev_model with a
 * network config space and small ops, whose rings the test works by hand
 * with vio_devq_pop/fill/flush, over the loopback transport in direct
 * mode (a kick runs the device on the kicking thread). What it does per
 * queue:
 *   transmit queues   pop every chain and record its bytes (header and
 *                     frame), or hold them (tx_hold); with echo, copy each
 *                     frame into a receive buffer of the same pair
 *   receive queues    nothing on a kick: the test puts frames in with
 *                     dev_rx_frame(), which can lie (used lengths,
 *                     num_buffers) for the hostile cases
 *   control queue     record the command's bytes and answer ctrl_ack, or
 *                     keep it unanswered (ctrl_silent)
 *
 * The tests are split by topic into tests/loopback/test_net_drv_*.c; each
 * runs its table on every ring layout (tests/lib/layouts.h), with and
 * without IN_ORDER (the test device always offers EVENT_IDX and
 * INDIRECT_DESC).
 */
#ifndef NET_DRV_FIXTURE_H
#define NET_DRV_FIXTURE_H

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "layouts.h"
#include "vio/drivers.h"
#include "vio/transport.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define NF(bit) VIO_BIT(VIO_NET_F_##bit)
#define ND_MAX_PAIRS 4u
#define ND_NQ (2 * ND_MAX_PAIRS + 1)
#define ND_QMAX 16u
#define ND_ARENA (16u << 20)
#define ND_TX_REC 64u            /* transmit chains recorded per pair */
#define ND_REC_BYTES 4096u
#define ND_CTRL_BYTES 8192u

static const uint8_t nd_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

struct nd_rec {
	uint8_t b[ND_REC_BYTES];
	uint32_t len;
	unsigned descs;
};

struct ndev {
	struct vio_dev_model d;
	struct vio_dev_queue q[ND_NQ];
	struct vio_net_config cfg;
	unsigned pairs;                 /* max_virtqueue_pairs */
	/* behaviour */
	bool tx_hold;                   /* leave transmit chains on the ring */
	bool echo;                      /* transmit frames come back on rx */
	uint8_t ctrl_ack;
	bool ctrl_silent;
	/* what the device saw */
	struct nd_rec tx[ND_MAX_PAIRS][ND_TX_REC];
	unsigned ntx[ND_MAX_PAIRS];
	unsigned echo_drops[ND_MAX_PAIRS];
	uint8_t ctrl[ND_CTRL_BYTES];
	uint32_t ctrl_len;
	unsigned ctrl_descs, ctrl_cmds;
	/* chains popped and not yet returned */
	struct nd_held {
		struct vio_elem e;
		struct vio_iov out[4], in[4];
		uint32_t len;
	} rx_held[ND_MAX_PAIRS][8], tx_held[ND_MAX_PAIRS][ND_QMAX];
	unsigned n_rx_held[ND_MAX_PAIRS], n_tx_held[ND_MAX_PAIRS];
};

struct nfx {
	const struct layout *lay;
	/* set by the test before nfx_up() */
	uint64_t offer;                 /* net features offered (ring ones added) */
	unsigned pairs;
	unsigned qmax;
	unsigned mtu;                   /* config mtu; 0: 1500 */
	bool legacy;                    /* legacy_ok device, driver without VERSION_1 */
	struct vio_net_drv_opts opts;

	struct ndev nd;
	struct vio_loopback lb;
	struct vio_bus bus;
	struct vio_net_driver drv;
	bool lb_up, bus_up;

	pthread_mutex_t log_lock;
	unsigned nlogs;
	char last_log[512];

	/* config callback */
	unsigned events, ncb;
};

struct vio_drv_device *ND(struct nfx *fx);
/* The test device alone (any transport): features offered (VERSION_1,
 * EVENT_IDX and INDIRECT_DESC added), max_virtqueue_pairs, each queue's
 * maximum (0: ND_QMAX), mtu (0: 1500). */
void ndev_init(struct ndev *n, uint64_t features, unsigned pairs, unsigned qmax, unsigned mtu,
	       bool legacy_ok);
/* The device, loopback (direct mode), a bus and the net driver bound. */
void nfx_up(struct nfx *fx);
void nd_assert_logged(struct nfx *fx, const char *what);
/* opts.config_changed for a test (opaque: the fixture): ORs the events
 * into fx->events and counts the calls in fx->ncb. */
void nd_config_cb(void *opaque, struct vio_drv_device *dev, unsigned events);

/* The header length on the wire for what was negotiated. */
uint32_t nd_hdr_len(struct nfx *fx);

/*
 * Device side, receive: puts one frame (header h, then data) into as many
 * receive buffers of `pair` as it needs (at most max_bufs, 0: any). With
 * MRG_RXBUF num_buffers is set to the count unless num_buffers >= 0 says
 * otherwise. used_len[k] > 0 replaces the used length of buffer k (forged
 * straight into the ring). Publishes the first `publish` buffers (0: all)
 * and interrupts. Returns the buffers used.
 */
struct nd_rx {
	struct vio_net_hdr h;
	const void *data;
	uint32_t len;
	int num_buffers;
	uint32_t used_len[8];
	unsigned publish;
};
unsigned dev_rx_frame(struct nfx *fx, unsigned pair, const struct nd_rx *rx);
/* Publishes buffers of a frame dev_rx_frame() held back. */
void dev_rx_publish(struct nfx *fx, unsigned pair);
/* Transmit chains the device holds (tx_hold): complete them all. */
unsigned dev_tx_complete(struct nfx *fx, unsigned pair);
/* The same, each with a used length of len forged into the ring. */
unsigned dev_tx_complete_len(struct nfx *fx, unsigned pair, uint32_t len);
/* Receive buffers the driver has posted on `pair` and not reaped. */
unsigned dev_rx_avail(struct nfx *fx, unsigned pair);

/* Registration                                                             */
struct nd_test {
	const char *name;
	CMUnitTestFunction fn;
};
#define T(fn) { #fn, fn }

int nd_run(const char *group, const struct nd_test *t, size_t n);

#endif
