/*
 * test_vu_net_reflect.c - vhost-user-net as a user runs it: the daemon
 * (tools/vhost-user/vhost-user-net --reflect, started here as a process)
 * against libvio's net driver over libvio's vhost-user frontend, so both
 * ends of virtio-net are libvio's but they meet only through a socket,
 * shared memory and eventfds, as with QEMU.
 *
 * Every frame sent comes back on the same pair with its MAC addresses
 * swapped and its payload intact; split and packed, one pair and two (MQ:
 * the driver switches the device to two pairs first, and the second pair's
 * frames come back on the second pair, and the daemon serves each pair
 * from one thread); the control queue answers; the daemon ends with
 * status 0 on SIGTERM.
 *
 * The same driver also meets a backend nobody here wrote: DPDK's vhost PMD
 * in dpdk-testpmd, forwarding with --forward-mode=macswap, which is the
 * reflect port's behaviour; one pair and two. That backend has no config
 * space and serves no control queue (QEMU's virtio-net keeps both): the
 * vhost-user frontend serves them itself, and the driver is unchanged.
 *
 * With `tap`, the daemon runs --tap instead, the tap moved into a network
 * namespace made here: the namespace's kernel answers the driver's ARP
 * request, and its TCP SYN to the driver arrives with NEEDS_CSUM when the
 * driver took GUEST_CSUM (the tap's offloads follow the driver) and
 * complete when it did not.
 *
 *   test_vu_net_reflect libvio VHOST-USER-NET
 *   test_vu_net_reflect tap VHOST-USER-NET   (as root)
 *   test_vu_net_reflect dpdk DPDK-TESTPMD    (the PMDs from /usr/lib/ * /dpdk/pmds-*)
 */
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <libgen.h>
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
#include "vio/drivers.h"
#include "vio/transport.h"

#define FRAMES 64u
#define WAIT_MS 5000

/* Library log lines go to stderr, for a failing run to say why. */
static void log_stderr(void *opaque, enum vio_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	fprintf(stderr, "libvio: %s\n", msg);
}

static const char *daemon_path;
static pid_t child;             /* the backend process while it runs */
static bool dpdk;               /* the backend is dpdk-testpmd's vhost PMD */
static bool tap;                /* libvio's daemon with --tap= in a namespace */
static uint64_t drv_offloads;   /* offloads the driver takes (run_up) */
static const char *pmd_dir;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct run {
	char dir[64], sock[96];
	pid_t pid;
	struct vio_vu_frontend fe;
	struct vio_bus bus;
	struct vio_net_driver drv;
};

/* Starts the daemon with `pairs` queue pairs and connects to it. */
static void run_up(struct run *r, unsigned pairs, bool packed)
{
	char pairs_opt[32];
	struct vio_vu_frontend_config cfg = {
		.device_id = VIO_ID_NET,
		.memory_bytes = 8u << 20,
		.num_queues = 2 * pairs + 1,
		.queue_max = 256,
		.features_off = packed ? 0 : VIO_BIT(VIO_F_RING_PACKED),
		.log = log_stderr,
		/* DPDK's vhost PMD offers the control-queue features but
		 * serves no control queue, has no config space (no
		 * PROTOCOL_F_CONFIG) and reports 128 queues: the frontend
		 * serves config and control queue itself (as QEMU's
		 * virtio-net does) and needs to be told the pairs. Against
		 * libvio's daemon these options change nothing. */
		.net = { .max_pairs = pairs },
	};
	const struct vio_net_drv_opts o = { .timeout_ms = WAIT_MS, .offloads = drv_offloads };
	struct stat st;
	int64_t deadline;
	int err;

	snprintf(r->dir, sizeof(r->dir), "/tmp/vio-net-XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	snprintf(r->sock, sizeof(r->sock), "%s/net.sock", r->dir);
	snprintf(pairs_opt, sizeof(pairs_opt), "--queue-pairs=%u", pairs);
	r->pid = fork();
	assert_true(r->pid >= 0);
	child = r->pid;
	if (r->pid == 0) {
		char sock_opt[128], vdev[160], prefix[64], pmd_vhost[256], pmd_ring[256], rxq[16],
			txq[16];

		if (dpdk) {
			/* The vhost PMD creates its socket when the port starts. */
			snprintf(vdev, sizeof(vdev), "net_vhost0,iface=%s,queues=%u", r->sock, pairs);
			snprintf(prefix, sizeof(prefix), "vio-net-%d", (int)getpid());
			snprintf(pmd_vhost, sizeof(pmd_vhost), "%s/librte_net_vhost.so", pmd_dir);
			snprintf(pmd_ring, sizeof(pmd_ring), "%s/librte_mempool_ring.so", pmd_dir);
			snprintf(rxq, sizeof(rxq), "--rxq=%u", pairs);
			snprintf(txq, sizeof(txq), "--txq=%u", pairs);
			if (!freopen("/dev/null", "w", stdout))
				_exit(127);
			execl(daemon_path, daemon_path, "-l", "0,1", "--no-huge", "-m", "1024", "--no-pci",
			      "--file-prefix", prefix, "-d", pmd_vhost, "-d", pmd_ring, "--vdev", vdev,
			      "--", "--forward-mode=macswap", "--auto-start", "--stats-period", "1",
			      "--nb-cores=1", "--total-num-mbufs=8192", rxq, txq, (char *)NULL);
			_exit(127);
		}
		snprintf(sock_opt, sizeof(sock_opt), "--socket-path=%s", r->sock);
		if (tap) {
			char tap_opt[64];

			snprintf(tap_opt, sizeof(tap_opt), "--tap=viot%d", (int)getppid() % 100000);
			execl(daemon_path, daemon_path, sock_opt, tap_opt, pairs_opt, "--quiet",
			      (char *)NULL);
			_exit(127);
		}
		execl(daemon_path, daemon_path, sock_opt, "--reflect", pairs_opt, "--quiet",
		      (char *)NULL);
		_exit(127);
	}
	deadline = now_ms() + WAIT_MS;
	while (stat(r->sock, &st) != 0 && now_ms() < deadline)
		usleep(10000);
	/* The socket file exists from bind(); until listen() a connect is
	 * refused (testpmd's vhost PMD shows that window now and then). */
	while ((err = vio_vu_frontend_connect(&r->fe, r->sock, &cfg)) == -ECONNREFUSED &&
	       now_ms() < deadline)
		usleep(10000);
	assert_int_equal(err, 0);
	vio_bus_init(&r->bus, vt_heap_alloc, vt_heap_free, NULL);
	assert_int_equal(vio_net_drv_register(&r->bus, &r->drv, &o), 0);
	assert_int_equal(vio_bus_add_device(&r->bus, &r->fe.vdev), 0);
	assert_ptr_equal(r->fe.vdev.driver, &r->drv.drv);
	assert_int_equal(vio_drv_has_feature(&r->fe.vdev, VIO_F_RING_PACKED), packed);
}

/* Disconnects, stops the daemon with SIGTERM and checks it ended well. */
static void run_down(struct run *r)
{
	int status = 0;

	vio_bus_remove_device(&r->bus, &r->fe.vdev);
	vio_net_drv_unregister(&r->bus, &r->drv);
	vio_vu_frontend_fini(&r->fe);
	assert_int_equal(kill(r->pid, dpdk ? SIGINT : SIGTERM), 0);
	assert_int_equal(waitpid(r->pid, &status, 0), r->pid);
	child = 0;
	/* testpmd's own exit is not what is tested; libvio's daemon's is. */
	if (!dpdk) {
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	unlink(r->sock);
	rmdir(r->dir);
}

/* A frame from `src` to `dst` of `len` bytes whose payload says (pair, i). */
static void make_frame(uint8_t *f, unsigned len, const uint8_t dst[6], const uint8_t src[6],
		       unsigned pair, unsigned i)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x88;           /* a local experimental ethertype */
	f[13] = 0xb5;
	for (unsigned k = 14; k < len; k++)
		f[k] = (uint8_t)(pair * 101 + i * 7 + k);
}

/* Sends FRAMES frames on `pair` and checks each comes back there, in order,
 * with the addresses swapped and the rest unchanged. */
static void reflect_on(struct run *r, unsigned pair)
{
	static const uint8_t peer[6] = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01 };
	struct vio_drv_device *dev = &r->fe.vdev;
	static uint8_t tx[FRAMES][1514], rx[FRAMES][1600];
	struct vio_net_drv_frame f[FRAMES];
	uint8_t mac[6];
	unsigned sent = 0, got = 0;
	int64_t deadline = now_ms() + WAIT_MS;

	/* DPDK's vhost PMD has no config space: the frontend's answers. */
	assert_int_equal(vio_net_drv_mac(dev, mac), 0);
	for (unsigned i = 0; i < FRAMES; i++)
		make_frame(tx[i], 60 + (i * 97) % 1454, peer, mac, pair, i);
	while (got < FRAMES && now_ms() < deadline) {
		unsigned n = 0;
		int k;

		vio_net_drv_tx_reap(dev, pair);
		for (; sent + n < FRAMES && n < 16; n++)
			f[n] = (struct vio_net_drv_frame){
				.data = tx[sent + n], .len = 60 + ((sent + n) * 97) % 1454 };
		k = n ? vio_net_drv_tx_burst(dev, pair, f, n) : 0;
		assert_true(k >= 0);
		sent += (unsigned)k;
		for (unsigned i = 0; i < FRAMES; i++)
			f[i] = (struct vio_net_drv_frame){ .data = rx[i], .cap = sizeof(rx[i]) };
		k = vio_net_drv_rx_burst(dev, pair, f, FRAMES - got);
		assert_true(k >= 0);
		for (int i = 0; i < k; i++, got++) {
			const unsigned len = 60 + (got * 97) % 1454;

			assert_int_equal(f[i].len, len);
			assert_memory_equal(rx[i], tx[got] + 6, 6);     /* dst: the sender */
			assert_memory_equal(rx[i] + 6, tx[got], 6);     /* src: its peer */
			assert_memory_equal(rx[i] + 12, tx[got] + 12, len - 12);
		}
		if (k == 0)
			vio_drv_wait(dev, 10);
	}
	assert_int_equal(sent, FRAMES);
	assert_int_equal(got, FRAMES);
	assert_null(vio_net_drv_error(dev, pair));
}

static void one_pair(bool packed)
{
	struct run *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	run_up(r, 1, packed);
	reflect_on(r, 0);
	/* The control queue answers (against DPDK's vhost PMD, the
	 * frontend's): a new address, then the frames of a second round
	 * are sent from it. */
	{
		static const uint8_t mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
		uint8_t now[6];

		assert_int_equal(vio_net_drv_set_mac(&r->fe.vdev, mac), 0);
		assert_int_equal(vio_net_drv_mac(&r->fe.vdev, now), 0);
		assert_memory_equal(now, mac, 6);
	}
	reflect_on(r, 0);
	run_down(r);
	free(r);
}

/* The process that serves: the child a sandboxed daemon (the default)
 * forked into its sandbox (vud_sandbox.c), or pid itself. */
static pid_t worker_of(pid_t pid)
{
	struct dirent *e;
	DIR *d = opendir("/proc");
	pid_t w = pid;

	assert_non_null(d);
	while ((e = readdir(d))) {
		char path[300], buf[512];
		const char *paren;
		FILE *f;
		int ppid;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && (paren = strrchr(buf, ')')) &&
		    sscanf(paren + 1, " %*c %d", &ppid) == 1 && ppid == pid)
			w = (pid_t)atoi(e->d_name);
		fclose(f);
	}
	closedir(d);
	return w;
}

/* Threads of process pid (its /proc/PID/task entries). */
static unsigned threads_of(pid_t pid)
{
	char path[64];
	struct dirent *e;
	unsigned n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void two_pairs(bool packed)
{
	struct run *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	run_up(r, 2, packed);
	/* libvio's daemon serves each pair's two queues from one thread:
	 * the main thread, one per pair, one for the control queue. */
	if (!dpdk)
		assert_int_equal(threads_of(worker_of(r->pid)), 1 + 2 + 1);
	assert_int_equal(vio_net_drv_num_pairs(&r->fe.vdev), 2);
	assert_int_equal(vio_net_drv_set_pairs(&r->fe.vdev, 2), 0);
	reflect_on(r, 1);
	reflect_on(r, 0);
	run_down(r);
	free(r);
}

static void t_split_one_pair(void **state)
{
	(void)state;
	one_pair(false);
}

static void t_packed_one_pair(void **state)
{
	(void)state;
	one_pair(true);
}

static void t_split_two_pairs(void **state)
{
	(void)state;
	two_pairs(false);
}

static void t_packed_two_pairs(void **state)
{
	(void)state;
	two_pairs(true);
}

/*
 * --tap: the tap goes into a network namespace of its own with address
 * 10.77.0.1; the driver, as 10.77.0.2, asks for that address with an ARP
 * request, and the namespace's kernel must answer it through the tap and
 * the device: a frame each way through a peer nobody here wrote.
 */
static void arp_through_tap(bool packed)
{
	struct run *r = calloc(1, sizeof(*r));
	struct vio_drv_device *dev;
	char cmd[512], ns[32], ifn[32];
	uint8_t mac[6], req[42], rx[16][1600];
	struct vio_net_drv_frame f[16];
	int64_t deadline;
	bool answered = false;

	assert_non_null(r);
	snprintf(ns, sizeof(ns), "vions%d", (int)getpid() % 100000);
	snprintf(ifn, sizeof(ifn), "viot%d", (int)getpid() % 100000);
	run_up(r, 1, packed);
	dev = &r->fe.vdev;
	snprintf(cmd, sizeof(cmd),
		 "ip netns add %s && ip link set %s netns %s && "
		 "ip -n %s addr add 10.77.0.1/24 dev %s && ip -n %s link set %s up",
		 ns, ifn, ns, ns, ifn, ns, ifn);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(vio_net_drv_mac(dev, mac), 0);
	memset(req, 0, sizeof(req));
	memset(req, 0xff, 6);                           /* broadcast */
	memcpy(req + 6, mac, 6);
	req[12] = 0x08, req[13] = 0x06;                 /* ARP */
	req[14] = 0, req[15] = 1, req[16] = 0x08, req[17] = 0;  /* Ethernet, IPv4 */
	req[18] = 6, req[19] = 4, req[20] = 0, req[21] = 1;     /* request */
	memcpy(req + 22, mac, 6);
	memcpy(req + 28, "\x0a\x4d\x00\x02", 4);     /* 10.77.0.2 */
	memcpy(req + 38, "\x0a\x4d\x00\x01", 4);     /* who has 10.77.0.1 */
	deadline = now_ms() + WAIT_MS;
	while (!answered && now_ms() < deadline) {
		int k;

		f[0] = (struct vio_net_drv_frame){ .data = req, .len = sizeof(req) };
		vio_net_drv_tx_reap(dev, 0);
		assert_true(vio_net_drv_tx_burst(dev, 0, f, 1) >= 0);
		vio_drv_wait(dev, 100);
		for (unsigned i = 0; i < 16; i++)
			f[i] = (struct vio_net_drv_frame){ .data = rx[i], .cap = sizeof(rx[i]) };
		k = vio_net_drv_rx_burst(dev, 0, f, 16);
		assert_true(k >= 0);
		for (int i = 0; i < k; i++) {
			const uint8_t *a = rx[i];

			/* An ARP reply to us from 10.77.0.1. */
			if (f[i].len >= 42 && !memcmp(a, mac, 6) && a[12] == 0x08 && a[13] == 0x06 &&
			    a[21] == 2 && !memcmp(a + 28, "\x0a\x4d\x00\x01", 4) &&
			    !memcmp(a + 32, mac, 6))
				answered = true;
		}
	}
	snprintf(cmd, sizeof(cmd), "ip netns del %s", ns);
	if (system(cmd) != 0)
		fprintf(stderr, "could not delete namespace %s\n", ns);
	assert_true(answered);
	assert_null(vio_net_drv_error(dev, 0));
	run_down(r);
	free(r);
}

/* The ones' complement sum of len bytes at p, added to sum. */
static uint32_t sum16(const uint8_t *p, unsigned len, uint32_t sum)
{
	for (unsigned i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

/* Does the TCP segment in IPv4 frame f (len bytes) carry a correct
 * checksum? */
static bool tcp4_csum_ok(const uint8_t *f, unsigned len)
{
	const unsigned ihl = (f[14] & 15u) * 4, tlen = len - 14 - ihl;
	uint32_t sum = sum16(f + 26, 8, 0) + 6 + tlen;  /* addresses, protocol, length */

	sum = sum16(f + 14 + ihl, tlen, sum);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

/*
 * --tap's receive offloads follow the driver: the namespace connects to
 * the driver's address (a fixed neighbour entry, so no ARP), and its TCP
 * SYN reaches the driver through the tap and the device. With GUEST_CSUM
 * taken, the daemon has set TUN_F_CSUM on the tap, so the kernel leaves
 * the checksum to the driver: NEEDS_CSUM, csum_start at the TCP header,
 * csum_offset at its checksum field. Without, no flags and a checksum
 * that is right.
 */
static void syn_through_tap(bool csum)
{
	struct run *r = calloc(1, sizeof(*r));
	struct vio_drv_device *dev;
	char cmd[1024], ns[16], ifn[16];
	static uint8_t rx[16][1600];
	struct vio_net_drv_frame f[16], syn = { 0 };
	uint8_t mac[6];
	int64_t deadline;
	bool seen = false;

	assert_non_null(r);
	snprintf(ns, sizeof(ns), "vions%d", (int)getpid() % 100000);
	snprintf(ifn, sizeof(ifn), "viot%d", (int)getpid() % 100000);
	drv_offloads = csum ? VIO_BIT(VIO_NET_F_GUEST_CSUM) : 0;
	run_up(r, 1, false);
	drv_offloads = 0;
	dev = &r->fe.vdev;
	assert_int_equal(vio_drv_has_feature(dev, VIO_NET_F_GUEST_CSUM), csum);
	assert_int_equal(vio_net_drv_mac(dev, mac), 0);
	snprintf(cmd, sizeof(cmd),
		 "ip netns add %s && ip link set %s netns %s && "
		 "ip -n %s addr add 10.77.0.1/24 dev %s && ip -n %s link set %s up && "
		 "ip -n %s neigh replace 10.77.0.2 lladdr %02x:%02x:%02x:%02x:%02x:%02x dev %s "
		 "nud permanent && "
		 "{ ip netns exec %s timeout 3 busybox nc 10.77.0.2 7 </dev/null >/dev/null 2>&1 & }",
		 ns, ifn, ns, ns, ifn, ns, ifn, ns, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
		 ifn, ns);
	assert_int_equal(system(cmd), 0);
	deadline = now_ms() + WAIT_MS;
	while (!seen && now_ms() < deadline) {
		int k;

		vio_drv_wait(dev, 100);
		for (unsigned i = 0; i < 16; i++)
			f[i] = (struct vio_net_drv_frame){ .data = rx[i], .cap = sizeof(rx[i]) };
		k = vio_net_drv_rx_burst(dev, 0, f, 16);
		assert_true(k >= 0);
		for (int i = 0; i < k && !seen; i++) {
			const uint8_t *a = rx[i];

			/* IPv4, TCP, to 10.77.0.2, SYN. */
			if (f[i].len >= 54 && a[12] == 0x08 && a[13] == 0x00 && a[23] == 6 &&
			    !memcmp(a + 30, "\x0a\x4d\x00\x02", 4) && (a[14 + (a[14] & 15) * 4 + 13] & 2)) {
				syn = f[i];
				seen = true;
			}
		}
	}
	snprintf(cmd, sizeof(cmd), "ip netns del %s", ns);
	if (system(cmd) != 0)
		fprintf(stderr, "could not delete namespace %s\n", ns);
	assert_true(seen);
	assert_int_equal(syn.gso_type, VIO_NET_HDR_GSO_NONE);
	if (csum) {
		assert_int_equal(syn.flags & VIO_NET_HDR_F_NEEDS_CSUM, VIO_NET_HDR_F_NEEDS_CSUM);
		assert_int_equal(syn.csum_start, 14 + (((uint8_t *)syn.data)[14] & 15) * 4);
		assert_int_equal(syn.csum_offset, 16);
	} else {
		assert_int_equal(syn.flags, 0);
		assert_true(tcp4_csum_ok(syn.data, syn.len));
	}
	assert_null(vio_net_drv_error(dev, 0));
	run_down(r);
	free(r);
}

static void t_tap_csum_on(void **state)
{
	(void)state;
	syn_through_tap(true);
}

static void t_tap_csum_off(void **state)
{
	(void)state;
	syn_through_tap(false);
}

static void t_tap_split(void **state)
{
	(void)state;
	arp_through_tap(false);
}

static void t_tap_packed(void **state)
{
	(void)state;
	arp_through_tap(true);
}

/* After a failed case: no backend left running (testpmd would poll on). */
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
		cmocka_unit_test_teardown(t_split_one_pair, kill_child),
		cmocka_unit_test_teardown(t_packed_one_pair, kill_child),
		cmocka_unit_test_teardown(t_split_two_pairs, kill_child),
		cmocka_unit_test_teardown(t_packed_two_pairs, kill_child),
	};
	const struct CMUnitTest tap_tests[] = {
		cmocka_unit_test_teardown(t_tap_split, kill_child),
		cmocka_unit_test_teardown(t_tap_packed, kill_child),
		cmocka_unit_test_teardown(t_tap_csum_on, kill_child),
		cmocka_unit_test_teardown(t_tap_csum_off, kill_child),
	};
	const struct CMUnitTest dpdk_tests[] = {
		cmocka_unit_test_teardown(t_split_one_pair, kill_child),
		cmocka_unit_test_teardown(t_packed_one_pair, kill_child),
		cmocka_unit_test_teardown(t_split_two_pairs, kill_child),
		cmocka_unit_test_teardown(t_packed_two_pairs, kill_child),
	};

	if (argc == 3 && !strcmp(argv[1], "libvio")) {
		daemon_path = argv[2];
	} else if (argc == 3 && !strcmp(argv[1], "tap")) {
		daemon_path = argv[2];
		tap = true;
	} else if (argc == 3 && !strcmp(argv[1], "dpdk")) {
		glob_t g;

		dpdk = true;
		daemon_path = argv[2];
		if (glob("/usr/lib/*/dpdk/pmds-*/librte_net_vhost.so", 0, NULL, &g) || !g.gl_pathc) {
			/* One failing case that says why, not a silent pass. */
			printf("1..1\nnot ok 1 - DPDK's vhost PMD is not installed: "
			       "install dpdk-dev (scripts/deps.sh)\n");
			return 1;
		}
		pmd_dir = strdup(dirname(g.gl_pathv[0]));
		globfree(&g);
	} else {
		fprintf(stderr, "usage: %s libvio|tap VHOST-USER-NET | dpdk DPDK-TESTPMD\n",
			argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (dpdk)
		return cmocka_run_group_tests_name("dpdk_vhost_macswap", dpdk_tests, NULL, NULL);
	if (tap)
		return cmocka_run_group_tests_name("vu_net_tap", tap_tests, NULL, NULL);
	return cmocka_run_group_tests_name("vu_net_reflect", tests, NULL, NULL);
}
