/*
 * net_dev_fixture.h - what the virtio-net device's loopback tests share:
 * the matrix, a raw driver, a recording port and the registration.
 *
 * The device runs over the loopback transport against a "raw" driver made
 * in the test: it binds through the bus (so features are negotiated as a
 * real driver's would be) and then posts hand-made chains on the queues
 * with vio_drvq_add(). Frames the driver sends land in a recording port;
 * frames for the driver are handed to vio_net_dev_receive() by the test.
 *
 * Rows: split and packed, EVENT_IDX on and off, MRG_RXBUF on and off,
 * each in direct loopback mode; the tests of the threaded table run again
 * with the device on its own thread.
 *
 * Topics, each a program: test_net_dev_data.c (frames both ways, the
 * header in every split, mergeable buffers, reflect), test_net_dev_malformed.c
 * (one test per bad input from the driver), test_net_dev_ctrl.c (the
 * control queue, filters, RSS and hashes, link and announce),
 * test_net_dev_offloads.c (receive offloads: what the port is told, GSO
 * and checksum fields to the driver).
 */
#ifndef NET_DEV_FIXTURE_H
#define NET_DEV_FIXTURE_H

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

#include "cases.h"
#include "layouts.h"
#include "vio/devices.h"
#include "vio/transport.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define NFX_PAIRS 4u
#define NFX_QS (2 * NFX_PAIRS + 1)
#define NFX_DMA (4u << 20)
#define NFX_TIMEOUT_MS 20000
#define NFX_PORT_FRAMES 64u
#define NFX_PORT_BYTES (512u << 10)
#define NFX_OFFLOAD_CALLS 16u

struct nrow {
	bool threaded;
	uint64_t ring;          /* ring features the device offers */
	bool mrg;               /* the driver takes MRG_RXBUF */
	char name[48];
};

/* A frame the recording port saw. */
struct rec {
	unsigned pair;
	struct vio_net_frame f; /* iov/iovcnt not kept */
	uint8_t *data;          /* a copy, in the port's buffer */
};

struct tport {
	pthread_mutex_t lock;
	unsigned n;
	struct rec frames[NFX_PORT_FRAMES];
	uint8_t buf[NFX_PORT_BYTES];
	size_t used;
	int take;               /* frames a transmit call takes; < 0: all */
	unsigned rx_ready[NFX_PAIRS];   /* rx_ready calls per pair */
	unsigned n_offloads;            /* offloads calls, and the last ones' bits */
	uint64_t offloads[NFX_OFFLOAD_CALLS];
};

struct nfx {
	const struct nrow *row;
	/* Tests adjust these before nfx_up(). */
	struct vio_net_dev_opts dopts;
	uint64_t features_off;          /* bits the raw driver does not take */
	bool reflect;                   /* the reflect port instead of the recorder */
	unsigned port_version;          /* the recorder's ops version; 0: current */

	struct vio_net_dev net;
	struct vio_loopback lb;
	struct vio_bus bus;
	struct vio_driver drv;
	uint32_t ids[2];
	struct vio_drv_vq vqs[NFX_QS];
	unsigned nvqs;
	uint8_t *m;                     /* DMA scratch */
	uint64_t m_dma;
	size_t m_used;
	struct tport port;
	struct vio_net_reflect refl;
	bool net_up, lb_up, bus_up, thread_up;
	unsigned config_changes;        /* atomic: config interrupts seen */
	pthread_t thread;
	int stop;                       /* atomic */

	pthread_mutex_t log_lock;
	unsigned nlogs;
	char last_log[512];
};

struct vio_drv_device *D(struct nfx *fx);
void nfx_up(struct nfx *fx);
int nfx_setup(void **state);
int nfx_teardown(void **state);
void assert_logged(struct nfx *fx, const char *what);

/* Header length on the queues, and queue indices. */
size_t hlen(struct nfx *fx);
unsigned rxq(unsigned pair);
unsigned txq(unsigned pair);
unsigned ctrlq(struct nfx *fx);

/* DMA scratch: len bytes, with their device address. */
uint8_t *dma(struct nfx *fx, size_t len, uint64_t *addr);

/* Posts a receive buffer of n writable segments of the given lengths,
 * contiguous in memory (so the test reads it as one); returns its start,
 * which is also the token. Kicks. */
uint8_t *post_rx(struct nfx *fx, unsigned pair, const uint32_t *lens, unsigned n);
uint8_t *post_rx1(struct nfx *fx, unsigned pair, uint32_t len);

/* Waits for a used buffer on queue qi: its token and length. */
void *reap(struct nfx *fx, unsigned qi, uint32_t *len);
/* Nothing used on queue qi (direct mode: the device ran already). */
void assert_none_used(struct nfx *fx, unsigned qi);

/* Sends `bytes` (header and frame) as one chain cut into segments of the
 * lengths in cuts (the rest in a last segment), plus `in_len` writable
 * bytes; waits until the device returns it and gives the used length. */
uint32_t tx_chain(struct nfx *fx, unsigned pair, const uint8_t *bytes, size_t len,
		  const uint32_t *cuts, unsigned ncuts, uint32_t in_len);
/* A header with `h`'s fields and a frame, in one segment each. */
uint32_t tx_frame(struct nfx *fx, unsigned pair, const struct vio_net_hdr *h, const uint8_t *frame,
		  size_t len);

/* A control command with data in one segment; returns the ack byte. */
uint8_t ctrl(struct nfx *fx, unsigned cls, unsigned cmd, const void *data, size_t len);

/* VQ_PAIRS_SET n; returns the ack byte. */
uint8_t pairs_set(struct nfx *fx, unsigned n);

/* An Ethernet frame: dst, src, ethertype 0x0800 (unless the caller
 * overwrites it) and a pattern from seed. */
void make_frame(uint8_t *f, size_t len, const uint8_t *dst, const uint8_t *src, unsigned seed);
/* Receives one frame from its bytes (one iovec): 1 consumed, 0 not. */
int rx_bytes(struct nfx *fx, unsigned pair, const uint8_t *f, size_t len);
int rx_frames(struct nfx *fx, unsigned pair, const struct vio_net_frame *frames, unsigned n);

/* Link and announce, serialised with the control path as net.h says. */
void set_link(struct nfx *fx, bool up);
int announce(struct nfx *fx);
/* The driver's view of config status, after delivering interrupts. */
uint16_t config_status(struct nfx *fx);

void pair_stats(struct nfx *fx, unsigned pair, struct vio_net_pair_stats *s);
unsigned port_count(struct nfx *fx);
/* How many times the device called the port's offloads op; *last (may be
 * NULL) the bits of the last call (0 without one). */
unsigned port_offloads(struct nfx *fx, uint64_t *last);

extern const uint8_t MAC_DEV[6], MAC_PEER[6], MAC_OTHER[6], MAC_BCAST[6], MAC_MCAST[6];

/* Registration */
#define T(fn) { #fn, fn }

struct named_test {
	const char *name;
	CMUnitTestFunction fn;
};

/* The tables of one program; a table it lacks is NULL and empty. */
struct nfx_tables {
	const struct named_test *plain;     /* run once, no fixture */
	const struct named_test *direct;    /* on every direct row */
	const struct named_test *threaded;  /* on every threaded row */
	size_t nplain, ndirect, nthreaded;
};

int nfx_run(const char *group, const struct nfx_tables *t);

#endif
