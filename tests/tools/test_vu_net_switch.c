/*
 * test_vu_net_switch.c - vhost-user-net --switch as a user runs it: the
 * daemon (started here as a process) serves two or three sockets, and on
 * each a libvio net driver connects over libvio's vhost-user frontend, as
 * a QEMU guest would. The drivers then play guests on one Ethernet:
 *
 *   - a broadcast from port 0 reaches ports 1 and 2, whole, and not port 0;
 *   - port 1's reply to port 0 (learnt from the broadcast) reaches port 0
 *     only, and afterwards unicast to port 1 reaches port 1 only;
 *   - an unknown unicast address floods; a frame to an address learnt on
 *     its own port is dropped and counted;
 *   - split and packed rings; two queue pairs on each port;
 *   - a frame above the MTU is dropped and counted, a full-MTU one passes
 *     to a driver without MRG_RXBUF;
 *   - a receiver that stops reading: every frame sent is either delivered
 *     or counted as dropped (queue full, no buffers), and the switch goes
 *     on once it reads again;
 *   - one frontend leaves and comes back while the other keeps sending;
 *   - offloads: a TCP super-frame with a partial checksum reaches a driver
 *     that took GUEST_TSO4 whole, and one that did not as segments, each
 *     with its checksums finished by its device;
 *   - SIGTERM ends the daemon with status 0 (every case).
 *
 * The daemon's counters are read from its stats lines (SIGUSR1), as an
 * operator would.
 *
 *   test_vu_net_switch VHOST-USER-NET
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "heap.h"
#include "tcpip.h"
#include "vio/drivers.h"
#include "vio/transport.h"

#define WAIT_MS 5000
#define QUIET_MS 300            /* how long "nothing arrives" is watched */
#define MAX_PORTS 3

static void log_stderr(void *opaque, enum vio_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	fprintf(stderr, "libvio: %s\n", msg);
}

static const char *daemon_path;
static pid_t child;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct port {
	struct vio_vu_frontend fe;
	struct vio_bus bus;
	struct vio_net_driver drv;
	struct vio_drv_device *dev;
	uint8_t mac[6];
	bool up;
};

struct sw {
	char dir[64], sock[MAX_PORTS][96], log[96];
	pid_t pid;
	unsigned n, pairs;
	bool packed;
	struct port p[MAX_PORTS];
};

/* The switch's counters of one port, from its stats line. */
struct counters {
	unsigned long long in_frames, in_bytes, out_frames, out_bytes, flooded;
	unsigned long long queue_full, no_buffers, self, oversize, device;
	unsigned learned;
};

/* Connects port k's driver (opts: NULL for the defaults). */
static void port_up(struct sw *s, unsigned k, const struct vio_net_drv_opts *opts)
{
	struct port *p = &s->p[k];
	struct vio_vu_frontend_config cfg = {
		.device_id = VIO_ID_NET,
		.memory_bytes = 8u << 20,
		.num_queues = 2 * s->pairs + 1,
		.queue_max = 256,
		.features_off = s->packed ? 0 : VIO_BIT(VIO_F_RING_PACKED),
		.log = log_stderr,
	};
	struct vio_net_drv_opts o = { .timeout_ms = WAIT_MS };
	uint8_t want[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, (uint8_t)(0x56 + k) };

	if (opts)
		o = *opts;
	assert_int_equal(vio_vu_frontend_connect(&p->fe, s->sock[k], &cfg), 0);
	vio_bus_init(&p->bus, vt_heap_alloc, vt_heap_free, NULL);
	assert_int_equal(vio_net_drv_register(&p->bus, &p->drv, &o), 0);
	assert_int_equal(vio_bus_add_device(&p->bus, &p->fe.vdev), 0);
	assert_ptr_equal(p->fe.vdev.driver, &p->drv.drv);
	assert_int_equal(vio_drv_has_feature(&p->fe.vdev, VIO_F_RING_PACKED), s->packed);
	p->dev = &p->fe.vdev;
	/* Port k's address is --mac's (the default here) plus k. */
	assert_int_equal(vio_net_drv_mac(p->dev, p->mac), 0);
	assert_memory_equal(p->mac, want, 6);
	if (s->pairs > 1) {
		assert_int_equal(vio_net_drv_num_pairs(p->dev), s->pairs);
		assert_int_equal(vio_net_drv_set_pairs(p->dev, s->pairs), 0);
	}
	p->up = true;
}

static void port_down(struct sw *s, unsigned k)
{
	struct port *p = &s->p[k];

	if (!p->up)
		return;
	for (unsigned q = 0; q < s->pairs; q++)
		assert_null(vio_net_drv_error(p->dev, q));
	vio_bus_remove_device(&p->bus, &p->fe.vdev);
	vio_net_drv_unregister(&p->bus, &p->drv);
	vio_vu_frontend_fini(&p->fe);
	p->up = false;
}

/* Starts the daemon on n sockets (extra: one more option or NULL) and
 * connects a driver to each (opts[k] or the defaults). */
static struct sw *sw_up(unsigned n, unsigned pairs, bool packed, const char *extra,
			const struct vio_net_drv_opts *opts[])
{
	struct sw *s = calloc(1, sizeof(*s));
	char pairs_opt[32], sock_opt[MAX_PORTS][128];
	int64_t deadline;

	assert_non_null(s);
	s->n = n;
	s->pairs = pairs;
	s->packed = packed;
	snprintf(s->dir, sizeof(s->dir), "/tmp/vio-sw-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->log, sizeof(s->log), "%s/daemon.log", s->dir);
	for (unsigned k = 0; k < n; k++) {
		snprintf(s->sock[k], sizeof(s->sock[k]), "%s/p%u.sock", s->dir, k);
		snprintf(sock_opt[k], sizeof(sock_opt[k]), "--socket-path=%s", s->sock[k]);
	}
	snprintf(pairs_opt, sizeof(pairs_opt), "--queue-pairs=%u", pairs);
	s->pid = fork();
	assert_true(s->pid >= 0);
	child = s->pid;
	if (s->pid == 0) {
		const char *argv[16];
		unsigned a = 0;

		if (!freopen(s->log, "w", stderr))
			_exit(127);
		argv[a++] = daemon_path;
		argv[a++] = "--switch";
		for (unsigned k = 0; k < n; k++)
			argv[a++] = sock_opt[k];
		argv[a++] = pairs_opt;
		if (extra)
			argv[a++] = extra;
		argv[a] = NULL;
		execv(daemon_path, (char *const *)argv);
		_exit(127);
	}
	deadline = now_ms() + WAIT_MS;
	for (unsigned k = 0; k < n; k++) {
		struct stat st;

		while (stat(s->sock[k], &st) != 0 && now_ms() < deadline)
			usleep(10000);
	}
	for (unsigned k = 0; k < n; k++)
		port_up(s, k, opts ? opts[k] : NULL);
	return s;
}

/* Disconnects every port, stops the daemon with SIGTERM: status 0. */
static void sw_down(struct sw *s)
{
	int status = 0;

	for (unsigned k = 0; k < s->n; k++)
		port_down(s, k);
	assert_int_equal(kill(s->pid, SIGTERM), 0);
	assert_int_equal(waitpid(s->pid, &status, 0), s->pid);
	child = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	for (unsigned k = 0; k < s->n; k++)
		unlink(s->sock[k]);
	unlink(s->log);
	rmdir(s->dir);
	free(s);
}

/* Asks for the stats (SIGUSR1) and reads port k's switch line from the
 * daemon's log. */
static void counters(struct sw *s, unsigned k, struct counters *c)
{
	struct stat st;
	off_t from;
	int64_t deadline = now_ms() + WAIT_MS;
	char want[32], line[1024];
	bool found = false;

	assert_int_equal(stat(s->log, &st), 0);
	from = st.st_size;
	assert_int_equal(kill(s->pid, SIGUSR1), 0);
	snprintf(want, sizeof(want), "port %u: switch: ", k);
	while (!found && now_ms() < deadline) {
		FILE *f = fopen(s->log, "r");

		assert_non_null(f);
		assert_int_equal(fseeko(f, from, SEEK_SET), 0);
		while (!found && fgets(line, sizeof(line), f)) {
			const char *at = strstr(line, want);

			if (!at)
				continue;
			assert_int_equal(
				sscanf(at + strlen(want),
				       "in %llu frames %llu bytes, out %llu frames %llu bytes, "
				       "flooded %llu, drops (queue-full %llu no-buffers %llu self %llu "
				       "oversize %llu device %llu), learned %u",
				       &c->in_frames, &c->in_bytes, &c->out_frames, &c->out_bytes,
				       &c->flooded, &c->queue_full, &c->no_buffers, &c->self,
				       &c->oversize, &c->device, &c->learned),
				11);
			found = true;
		}
		fclose(f);
		if (!found)
			usleep(10000);
	}
	assert_true(found);
}

/* A frame of len bytes from src to dst whose payload is made from tag. */
static void make_frame(uint8_t *f, unsigned len, const uint8_t dst[6], const uint8_t src[6],
		       unsigned tag)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x88;           /* a local experimental ethertype */
	f[13] = 0xb5;
	for (unsigned k = 14; k < len; k++)
		f[k] = (uint8_t)(tag * 31 + k * 7 + (k >> 8));
}

/* Sends the frames on port k's pair (all of them, waiting for room). */
static void send_frames(struct sw *s, unsigned k, unsigned pair, uint8_t *const data[],
			const unsigned len[], unsigned n)
{
	struct vio_drv_device *dev = s->p[k].dev;
	unsigned sent = 0;
	int64_t deadline = now_ms() + WAIT_MS;

	while (sent < n && now_ms() < deadline) {
		struct vio_net_drv_frame f[16];
		unsigned m = 0;
		int r;

		vio_net_drv_tx_reap(dev, pair);
		for (; m < 16 && sent + m < n; m++)
			f[m] = (struct vio_net_drv_frame){ .data = data[sent + m],
							   .len = len[sent + m] };
		r = vio_net_drv_tx_burst(dev, pair, f, m);
		assert_true(r >= 0);
		sent += (unsigned)r;
		if (r == 0)
			usleep(1000);
	}
	assert_int_equal(sent, n);
}

static void send_one(struct sw *s, unsigned k, const uint8_t *frame, unsigned len)
{
	uint8_t *d[1] = { (uint8_t *)frame };

	send_frames(s, k, 0, d, &len, 1);
}

#define RX_MAX 512
static uint8_t rxbuf[RX_MAX][2048];
static unsigned rxlen[RX_MAX];

/* Collects what port k receives on any pair into rxbuf, until `want`
 * frames came or ms passed: how many came. */
static unsigned collect(struct sw *s, unsigned k, unsigned want, int ms)
{
	struct vio_drv_device *dev = s->p[k].dev;
	int64_t deadline = now_ms() + ms;
	unsigned got = 0;

	do {
		bool any = false;

		for (unsigned q = 0; q < s->pairs && got < RX_MAX; q++) {
			struct vio_net_drv_frame f[32];
			unsigned m = RX_MAX - got < 32 ? RX_MAX - got : 32;
			int r;

			for (unsigned i = 0; i < m; i++)
				f[i] = (struct vio_net_drv_frame){ .data = rxbuf[got + i],
								   .cap = sizeof(rxbuf[0]) };
			r = vio_net_drv_rx_burst(dev, q, f, m);
			assert_true(r >= 0);
			for (int i = 0; i < r; i++) {
				assert_int_equal(f[i].len, f[i].frame_len);
				rxlen[got + (unsigned)i] = f[i].len;
			}
			got += (unsigned)r;
			any |= r > 0;
		}
		if (got >= want && want)
			break;
		if (!any)
			vio_drv_wait(dev, 5);
	} while (now_ms() < deadline);
	return got;
}

/* Port k receives exactly this frame, and nothing else within QUIET_MS. */
static void expect_only(struct sw *s, unsigned k, const uint8_t *frame, unsigned len)
{
	unsigned got = collect(s, k, 1, WAIT_MS);

	assert_int_equal(got, 1);
	assert_int_equal(rxlen[0], len);
	assert_memory_equal(rxbuf[0], frame, len);
	assert_int_equal(collect(s, k, 0, QUIET_MS), 0);
}

static void expect_none(struct sw *s, unsigned k)
{
	assert_int_equal(collect(s, k, 0, QUIET_MS), 0);
}

/* Lines of the daemon's log that hold `what`. */
static unsigned log_count(struct sw *s, const char *what)
{
	FILE *f = fopen(s->log, "r");
	char line[1024];
	unsigned n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, what) != NULL;
	fclose(f);
	return n;
}

/* ------------------------------------------------------------------------ */

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t unknown[6] = { 0x02, 0x00, 0x5e, 0x99, 0x99, 0x99 };

/* Three ports: flooding, learning, unicast, self. */
static void learning(bool packed)
{
	struct sw *s = sw_up(3, 1, packed, NULL, NULL);
	static uint8_t f[4][1514];
	struct counters c0, c1, c2;

	/* A broadcast from 0 reaches 1 and 2, not 0. */
	make_frame(f[0], 300, bcast, s->p[0].mac, 1);
	send_one(s, 0, f[0], 300);
	expect_only(s, 1, f[0], 300);
	expect_only(s, 2, f[0], 300);
	expect_none(s, 0);
	/* 1 answers 0, whose address the broadcast taught: 0 alone gets it. */
	make_frame(f[1], 1514, s->p[0].mac, s->p[1].mac, 2);
	send_one(s, 1, f[1], 1514);
	expect_only(s, 0, f[1], 1514);
	expect_none(s, 2);
	/* Now 1 is known too: unicast to it goes to 1 alone. */
	make_frame(f[2], 60, s->p[1].mac, s->p[0].mac, 3);
	send_one(s, 0, f[2], 60);
	expect_only(s, 1, f[2], 60);
	expect_none(s, 2);
	/* An address nobody sent from floods to 1 and 2. */
	make_frame(f[3], 1000, unknown, s->p[0].mac, 4);
	send_one(s, 0, f[3], 1000);
	expect_only(s, 1, f[3], 1000);
	expect_only(s, 2, f[3], 1000);
	expect_none(s, 0);
	/* To an address that lives on the sender's own port: dropped. */
	make_frame(f[0], 100, s->p[0].mac, s->p[0].mac, 5);
	send_one(s, 0, f[0], 100);
	expect_none(s, 1);
	expect_none(s, 2);
	expect_none(s, 0);

	counters(s, 0, &c0);
	counters(s, 1, &c1);
	counters(s, 2, &c2);
	assert_int_equal(c0.in_frames, 4);
	assert_int_equal(c0.in_bytes, 300 + 60 + 1000 + 100);
	assert_int_equal(c0.flooded, 2);        /* the broadcast and the unknown */
	assert_int_equal(c0.self, 1);
	assert_int_equal(c0.learned, 1);        /* its address */
	assert_int_equal(c1.learned, 1);
	assert_int_equal(c2.learned, 0);        /* 2 never sent */
	assert_int_equal(c1.in_frames, 1);
	assert_int_equal(c1.flooded, 0);
	assert_int_equal(c0.out_frames, 1);
	assert_int_equal(c0.out_bytes, 1514);
	assert_int_equal(c1.out_frames, 3);
	assert_int_equal(c2.out_frames, 2);
	assert_int_equal(c2.out_bytes, 300 + 1000);
	assert_int_equal(c0.queue_full + c0.no_buffers + c0.device + c0.oversize, 0);
	sw_down(s);
}

static void t_learning_split(void **state)
{
	(void)state;
	learning(false);
}

static void t_learning_packed(void **state)
{
	(void)state;
	learning(true);
}

/* Two ports with two queue pairs each: frames sent on either pair of
 * port 0 all reach port 1, whole and in order per pair. */
static void two_pairs(bool packed)
{
	struct sw *s = sw_up(2, 2, packed, NULL, NULL);
	static uint8_t f[2][64][1514];
	uint8_t *d[64];
	unsigned len[64], seen[2] = { 0, 0 }, got;

	for (unsigned q = 0; q < 2; q++) {
		for (unsigned i = 0; i < 64; i++) {
			len[i] = 60 + (i * 97 + q * 13) % 1454;
			make_frame(f[q][i], len[i], unknown, s->p[0].mac, q * 64 + i);
			f[q][i][14] = (uint8_t)q;       /* which pair sent it */
			f[q][i][15] = (uint8_t)i;
			d[i] = f[q][i];
		}
		send_frames(s, 0, q, d, len, 64);
	}
	got = collect(s, 1, 128, WAIT_MS);
	assert_int_equal(got, 128);
	for (unsigned j = 0; j < got; j++) {
		unsigned q = rxbuf[j][14], i = rxbuf[j][15];

		assert_true(q < 2);
		assert_int_equal(i, seen[q]);   /* in order within the sending pair */
		seen[q]++;
		assert_int_equal(rxlen[j], 60 + (i * 97 + q * 13) % 1454);
		assert_memory_equal(rxbuf[j], f[q][i], rxlen[j]);
	}
	expect_none(s, 0);
	sw_down(s);
}

static void t_two_pairs_split(void **state)
{
	(void)state;
	two_pairs(false);
}

static void t_two_pairs_packed(void **state)
{
	(void)state;
	two_pairs(true);
}

/* --mtu=1500: port 0's driver (transmit buffers big enough) sends 1519
 * bytes, one more than MTU + 18: dropped and counted; a 1518-byte frame
 * reaches port 1, whose driver has no MRG_RXBUF (buffers of MTU + 18). */
static void t_oversize(void **state)
{
	const struct vio_net_drv_opts big = { .timeout_ms = WAIT_MS, .tx_buf_bytes = 4096 };
	const struct vio_net_drv_opts nomrg = { .timeout_ms = WAIT_MS,
						.features_off = VIO_BIT(VIO_NET_F_MRG_RXBUF) };
	const struct vio_net_drv_opts *opts[2] = { &big, &nomrg };
	struct sw *s;
	static uint8_t f[2][2000];
	struct counters c0, c1;

	(void)state;
	s = sw_up(2, 1, false, "--mtu=1500", opts);
	assert_false(vio_drv_has_feature(s->p[1].dev, VIO_NET_F_MRG_RXBUF));
	make_frame(f[0], 1519, unknown, s->p[0].mac, 1);
	send_one(s, 0, f[0], 1519);
	make_frame(f[1], 1518, unknown, s->p[0].mac, 2);
	send_one(s, 0, f[1], 1518);
	expect_only(s, 1, f[1], 1518);
	counters(s, 0, &c0);
	counters(s, 1, &c1);
	assert_int_equal(c0.in_frames, 2);
	assert_int_equal(c0.oversize, 1);
	assert_int_equal(c1.out_frames, 1);
	assert_int_equal(c1.out_bytes, 1518);
	sw_down(s);
}

/* Collects up to want frames of port k (pair 0) into big[], 64 KiB each,
 * with their header fields in f[]; how many came within WAIT_MS. */
static unsigned collect_big(struct sw *s, unsigned k, struct vio_net_drv_frame *f,
			    uint8_t (*big)[65536], unsigned want)
{
	int64_t deadline = now_ms() + WAIT_MS;
	unsigned got = 0;

	while (got < want && now_ms() < deadline) {
		int r;

		for (unsigned i = got; i < want; i++)
			f[i] = (struct vio_net_drv_frame){ .data = big[i], .cap = sizeof(big[0]) };
		r = vio_net_drv_rx_burst(s->p[k].dev, 0, f + got, want - got);
		assert_true(r >= 0);
		got += (unsigned)r;
		if (r == 0)
			vio_drv_wait(s->p[k].dev, 5);
	}
	return got;
}

/* Port 0's driver (CSUM, HOST_TSO4) sends a 4000-byte TCP super-frame
 * with a partial checksum to an unknown address: port 1's driver took
 * GUEST_CSUM and GUEST_TSO4 and gets it whole with its fields; port 2's
 * took neither and gets three segments, cut and checksummed by its
 * device, the payload in order. */
static void offloads(bool packed)
{
	const struct vio_net_drv_opts o0 = {
		.timeout_ms = WAIT_MS,
		.offloads = VIO_BIT(VIO_NET_F_CSUM) | VIO_BIT(VIO_NET_F_HOST_TSO4),
		.tx_buf_bytes = 8192,   /* 64 KiB buffers would not fit the memory */
	};
	const struct vio_net_drv_opts o1 = {
		.timeout_ms = WAIT_MS,
		.offloads = VIO_BIT(VIO_NET_F_GUEST_CSUM) | VIO_BIT(VIO_NET_F_GUEST_TSO4),
	};
	const struct vio_net_drv_opts o2 = { .timeout_ms = WAIT_MS };
	const struct vio_net_drv_opts *opts[3] = { &o0, &o1, &o2 };
	static uint8_t f[54 + 4000], big[4][65536];
	struct vio_net_drv_frame tx, rx[4];
	struct sw *s = sw_up(3, 1, packed, NULL, opts);
	const size_t len = vt_tcp_frame(f, unknown, s->p[0].mac, false, 4000, 3,
					VT_TCP_ACK | VT_TCP_PSH);
	int64_t deadline = now_ms() + WAIT_MS;
	int r = 0;

	assert_true(vio_drv_has_feature(s->p[0].dev, VIO_NET_F_HOST_TSO4));
	assert_true(vio_drv_has_feature(s->p[1].dev, VIO_NET_F_GUEST_TSO4));
	assert_false(vio_drv_has_feature(s->p[2].dev, VIO_NET_F_GUEST_CSUM));
	tx = (struct vio_net_drv_frame){
		.flags = VIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIO_NET_HDR_GSO_TCPV4,
		.gso_size = 1448, .hdr_len = 54, .csum_start = 34, .csum_offset = 16,
		.data = f, .len = (uint32_t)len,
	};
	while (r == 0 && now_ms() < deadline)
		r = vio_net_drv_tx_burst(s->p[0].dev, 0, &tx, 1);
	assert_int_equal(r, 1);

	assert_int_equal(collect_big(s, 1, rx, big, 1), 1);
	assert_int_equal(rx[0].len, len);
	assert_int_equal(rx[0].gso_type, VIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(rx[0].gso_size, 1448);
	assert_int_equal(rx[0].flags & VIO_NET_HDR_F_NEEDS_CSUM, VIO_NET_HDR_F_NEEDS_CSUM);
	assert_memory_equal(big[0], f, len);

	assert_int_equal(collect_big(s, 2, rx, big, 4), 3);
	for (unsigned i = 0; i < 3; i++) {
		const size_t m = i < 2 ? 1448 : 4000 - 2 * 1448;

		assert_int_equal(rx[i].len, 54 + m);
		assert_int_equal(rx[i].flags, 0);
		assert_int_equal(rx[i].gso_type, VIO_NET_HDR_GSO_NONE);
		assert_true(vt_tcp_csum_ok(big[i], false, 20 + m));
		assert_int_equal(vt_get32(big[i] + 38), VT_TCP_SEQ0 + i * 1448);
		assert_memory_equal(big[i] + 54, f + 54 + i * 1448, m);
	}
	expect_none(s, 0);
	sw_down(s);
}

static void t_offloads_split(void **state)
{
	(void)state;
	offloads(false);
}

static void t_offloads_packed(void **state)
{
	(void)state;
	offloads(true);
}

/* Port 1 stops reading while port 0 sends far more than its receive ring
 * and the switch's queue hold: every frame is delivered or counted as
 * dropped, the daemon neither blocks nor spins, and once port 1 reads
 * again frames flow. */
static void t_receiver_full(void **state)
{
	enum { N = 1500, LEN = 700 };
	struct sw *s;
	static uint8_t f[64][LEN];
	uint8_t *d[64];
	unsigned len[64], got = 0;
	struct counters c0, c1;
	int64_t deadline;

	(void)state;
	s = sw_up(2, 1, false, NULL, NULL);
	for (unsigned i = 0; i < 64; i++) {
		make_frame(f[i], LEN, s->p[1].mac, s->p[0].mac, i);
		d[i] = f[i];
		len[i] = LEN;
	}
	for (unsigned sent = 0; sent < N; sent += 50)
		send_frames(s, 0, 0, d, len, 50);
	/* Past NET_SWITCH_WAIT_MS: the switch has given up on what waited. */
	usleep(400 * 1000);
	deadline = now_ms() + WAIT_MS;
	do {
		counters(s, 1, &c1);
		if (c1.out_frames + c1.queue_full + c1.no_buffers + c1.device == N)
			break;
		usleep(50 * 1000);
	} while (now_ms() < deadline);
	counters(s, 0, &c0);
	assert_int_equal(c0.in_frames, N);
	assert_int_equal(c1.out_frames + c1.queue_full + c1.no_buffers + c1.device, N);
	assert_int_equal(c1.device, 0);
	assert_true(c1.queue_full + c1.no_buffers > 0);
	assert_true(c1.out_frames > 0 && c1.out_frames < N);
	fprintf(stderr, "# receiver_full: %llu delivered, %llu queue-full, %llu no-buffers\n",
		c1.out_frames, c1.queue_full, c1.no_buffers);
	/* What the device delivered is what port 1's driver now finds. */
	for (unsigned k = 1; k > 0 && got <= c1.out_frames;) {
		k = collect(s, 1, 0, 200);
		got += k;
	}
	assert_int_equal(got, c1.out_frames);
	/* And the switch still works. */
	make_frame(f[0], 200, s->p[1].mac, s->p[0].mac, 99);
	send_one(s, 0, f[0], 200);
	expect_only(s, 1, f[0], 200);
	sw_down(s);
}

/* Port 0 keeps sending (a thread of its own) while port 1's frontend
 * leaves and comes back: the daemon serves the new one, and port 0's
 * frames reach it. */
struct sender {
	struct sw *s;
	bool stop;
	unsigned sent;
};

static void *sender_main(void *arg)
{
	struct sender *t = arg;
	struct vio_drv_device *dev = t->s->p[0].dev;
	static uint8_t f[1000];

	while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
		struct vio_net_drv_frame fr = { .data = f, .len = sizeof(f) };

		make_frame(f, sizeof(f), unknown, t->s->p[0].mac, t->sent);
		f[14] = (uint8_t)(t->sent >> 8);        /* the sequence number */
		f[15] = (uint8_t)t->sent;
		vio_net_drv_tx_reap(dev, 0);
		if (vio_net_drv_tx_burst(dev, 0, &fr, 1) == 1)
			t->sent++;
		usleep(500);
	}
	return NULL;
}

static void reconnect(bool packed)
{
	struct sw *s = sw_up(2, 1, packed, NULL, NULL);
	struct sender t = { .s = s };
	pthread_t th;
	unsigned got;

	assert_int_equal(pthread_create(&th, NULL, sender_main, &t), 0);
	got = collect(s, 1, 20, WAIT_MS);
	assert_true(got >= 20);
	for (int round = 0; round < 2; round++) {
		port_down(s, 1);
		usleep(100 * 1000);     /* port 0 sends into a port with no frontend */
		port_up(s, 1, NULL);
		got = collect(s, 1, 20, WAIT_MS);
		assert_true(got >= 20);
		for (unsigned j = 0; j < got; j++) {
			uint8_t want[1000];
			unsigned seq = (unsigned)rxbuf[j][14] << 8 | rxbuf[j][15];

			assert_int_equal(rxlen[j], 1000);
			make_frame(want, 1000, unknown, s->p[0].mac, seq);
			want[14] = rxbuf[j][14];
			want[15] = rxbuf[j][15];
			assert_memory_equal(rxbuf[j], want, 1000);
		}
	}
	__atomic_store_n(&t.stop, true, __ATOMIC_RELEASE);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(t.sent > 40);
	/* Port 1 came three times and left twice; port 0 stayed. */
	assert_int_equal(log_count(s, "port 1: frontend connected"), 3);
	assert_int_equal(log_count(s, "port 1: frontend disconnected"), 2);
	assert_int_equal(log_count(s, "port 0: frontend connected"), 1);
	assert_int_equal(log_count(s, "port 0: frontend disconnected"), 0);
	sw_down(s);
}

static void t_reconnect_split(void **state)
{
	(void)state;
	reconnect(false);
}

static void t_reconnect_packed(void **state)
{
	(void)state;
	reconnect(true);
}

/* SIGTERM while both frontends are connected and frames wait in the
 * switch for a receiver that does not read: the daemon ends at once,
 * with status 0 (its delivery threads stop before the devices go). */
static void t_sigterm_loaded(void **state)
{
	enum { LEN = 600 };
	struct sw *s;
	static uint8_t f[64][LEN];
	uint8_t *d[64];
	unsigned len[64];
	int status = 0;
	int64_t t0;

	(void)state;
	s = sw_up(3, 1, true, NULL, NULL);
	for (unsigned i = 0; i < 64; i++) {
		make_frame(f[i], LEN, bcast, s->p[0].mac, i);
		d[i] = f[i];
		len[i] = LEN;
	}
	for (unsigned k = 0; k < 8; k++)
		send_frames(s, 0, 0, d, len, 64);
	t0 = now_ms();
	assert_int_equal(kill(s->pid, SIGTERM), 0);
	assert_int_equal(waitpid(s->pid, &status, 0), s->pid);
	child = 0;
	assert_true(now_ms() - t0 < 2000);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(log_count(s, "stopped"), 1);
	for (unsigned k = 0; k < s->n; k++) {
		vio_bus_remove_device(&s->p[k].bus, &s->p[k].fe.vdev);
		vio_net_drv_unregister(&s->p[k].bus, &s->p[k].drv);
		vio_vu_frontend_fini(&s->p[k].fe);
		unlink(s->sock[k]);
	}
	unlink(s->log);
	rmdir(s->dir);
	free(s);
}

/* --switch with one socket is a usage error (status 2). */
static void t_usage(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stderr) || !freopen("/dev/null", "w", stdout))
			_exit(127);
		execl(daemon_path, daemon_path, "--switch", "--socket-path=/tmp/vio-sw-one.sock",
		      (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 2);
}

static int kill_child(void **state)
{
	(void)state;
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		child = 0;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(t_learning_split, kill_child),
		cmocka_unit_test_teardown(t_learning_packed, kill_child),
		cmocka_unit_test_teardown(t_two_pairs_split, kill_child),
		cmocka_unit_test_teardown(t_two_pairs_packed, kill_child),
		cmocka_unit_test_teardown(t_oversize, kill_child),
		cmocka_unit_test_teardown(t_offloads_split, kill_child),
		cmocka_unit_test_teardown(t_offloads_packed, kill_child),
		cmocka_unit_test_teardown(t_receiver_full, kill_child),
		cmocka_unit_test_teardown(t_reconnect_split, kill_child),
		cmocka_unit_test_teardown(t_reconnect_packed, kill_child),
		cmocka_unit_test_teardown(t_sigterm_loaded, kill_child),
		cmocka_unit_test_teardown(t_usage, kill_child),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s VHOST-USER-NET\n", argv[0]);
		return 2;
	}
	daemon_path = argv[1];
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("vu_net_switch", tests, NULL, NULL);
}
