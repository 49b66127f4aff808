/*
 * net_tap.c - the tap port of vhost-user-net: the device's frames go to a
 * Linux tap interface and come from it (net_tap.h).
 *
 * One tap queue per queue pair (IFF_MULTI_QUEUE when there are several),
 * opened with IFF_VNET_HDR so that the checksum and segmentation fields
 * of the virtio header travel with each frame, both ways. The driver may
 * hand over a frame with a partial checksum or a TSO super-frame (the
 * device offers CSUM and HOST_TSO4/6) and the kernel finishes it. The
 * other way, the kernel hands the tap such frames only as far as
 * TUNSETOFFLOAD allows: the device tells the port which receive offloads
 * the driver takes (its offloads op: GUEST_CSUM, GUEST_TSO4/6,
 * GUEST_ECN, GUEST_UFO, at DRIVER_OK and whenever they change) and the
 * port sets the tap's offloads to match (TUN_F_CSUM, TUN_F_TSO4/6,
 * TUN_F_TSO_ECN, TUN_F_UFO; none until a driver is there). A frame
 * already queued under a wider set when they narrow is dropped and
 * counted by the device (rx_offload).
 *
 * Transmit runs on the pair's queue thread, inside the device: a
 * non-blocking writev per frame; a full tap queue drops the frame (the
 * device counts it). Receive has a thread per pair that reads the tap and
 * hands each frame to vio_net_dev_receive() under the pair's queue locks
 * (vio_vu_backend_queue_lock: the device serialises a pair's two queues,
 * so that lock keeps the pair's own thread out). A frame that finds no
 * receive buffers waits for the driver's next receive kick (rx_ready) or
 * 10 ms, then is offered again; it is dropped after 100 ms.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net_tap.h"
#include "vud.h"

#define VNET_HDR_LEN 10         /* struct virtio_net_hdr, as TUNSETVNETHDRSZ says */
#define RETRY_MS 10
#define GIVE_UP_MS 100

/* The 10-byte header the tap reads and writes, host byte order (a tap is
 * little-endian on little-endian hosts unless told otherwise). */
struct tap_hdr {
	uint8_t flags, gso_type;
	uint16_t hdr_len, gso_size, csum_start, csum_offset;
};

_Static_assert(sizeof(struct tap_hdr) == VNET_HDR_LEN, "virtio_net_hdr as the tap has it");

int net_tap_open(struct net_tap *t, const char *name, unsigned pairs)
{
	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i < VIO_NET_MAX_PAIRS; i++)
		t->fd[i] = t->wake[i] = -1;
	if (pairs == 0 || pairs > VIO_NET_MAX_PAIRS || strlen(name) >= IFNAMSIZ)
		return -EINVAL;
	t->pairs = pairs;
	for (unsigned i = 0; i < pairs; i++) {
		struct ifreq ifr;
		int sz = VNET_HDR_LEN;

		t->fd[i] = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
		if (t->fd[i] < 0)
			return -errno;
		memset(&ifr, 0, sizeof(ifr));
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (pairs > 1 ? IFF_MULTI_QUEUE : 0);
		memcpy(ifr.ifr_name, name, strlen(name));
		if (ioctl(t->fd[i], TUNSETIFF, &ifr) < 0 ||
		    ioctl(t->fd[i], TUNSETVNETHDRSZ, &sz) < 0 ||
		    ioctl(t->fd[i], TUNSETOFFLOAD, 0) < 0)
			return -errno;
		t->wake[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (t->wake[i] < 0)
			return -errno;
	}
	return 0;
}

void net_tap_close(struct net_tap *t)
{
	for (unsigned i = 0; i < VIO_NET_MAX_PAIRS; i++) {
		if (t->fd[i] >= 0)
			close(t->fd[i]);
		if (t->wake[i] >= 0)
			close(t->wake[i]);
		t->fd[i] = t->wake[i] = -1;
	}
}

static int tap_transmit(void *port, unsigned pair, const struct vio_net_frame *frames, unsigned n)
{
	struct net_tap *t = port;
	int taken = 0;

	if (pair >= t->pairs)
		return 0;
	for (unsigned k = 0; k < n; k++) {
		const struct vio_net_frame *f = &frames[k];
		struct iovec iov[VIO_NET_FRAME_SPANS + 1];
		struct tap_hdr h = {
			.flags = f->flags, .gso_type = f->gso_type, .hdr_len = f->hdr_len,
			.gso_size = f->gso_size, .csum_start = f->csum_start,
			.csum_offset = f->csum_offset,
		};
		unsigned cnt = f->iovcnt < VIO_NET_FRAME_SPANS ? f->iovcnt : VIO_NET_FRAME_SPANS;

		iov[0] = (struct iovec){ &h, sizeof(h) };
		for (unsigned i = 0; i < cnt; i++)
			iov[i + 1] = (struct iovec){ f->iov[i].base, f->iov[i].len };
		if (cnt < f->iovcnt || writev(t->fd[pair], iov, (int)cnt + 1) < 0)
			continue;       /* not taken: the device counts it */
		taken++;
	}
	return taken;
}

/* The driver posted receive buffers: a waiting frame may go now. Runs on
 * the pair's thread, inside the device. */
static void tap_rx_ready(void *port, unsigned pair)
{
	struct net_tap *t = port;
	uint64_t one = 1;

	if (pair < t->pairs && write(t->wake[pair], &one, sizeof(one)) < 0) {
		/* A full eventfd already says "wake up". */
	}
}

/* TUN_F_* flags for the receive offloads in force. Without GUEST_CSUM
 * none: the kernel ignores the others without TUN_F_CSUM, and the device
 * refuses them then. */
static unsigned tun_flags(uint64_t guest)
{
	unsigned f = 0;

	if (!(guest & VIO_BIT(VIO_NET_F_GUEST_CSUM)))
		return 0;
	f |= TUN_F_CSUM;
	if (guest & VIO_BIT(VIO_NET_F_GUEST_TSO4))
		f |= TUN_F_TSO4;
	if (guest & VIO_BIT(VIO_NET_F_GUEST_TSO6))
		f |= TUN_F_TSO6;
	if (guest & VIO_BIT(VIO_NET_F_GUEST_ECN))
		f |= TUN_F_TSO_ECN;
	if (guest & VIO_BIT(VIO_NET_F_GUEST_UFO))
		f |= TUN_F_UFO;
	return f;
}

/* The receive offloads the driver takes changed: the tap produces those.
 * Runs on the device's control path. */
static void tap_offloads(void *port, uint64_t guest)
{
	struct net_tap *t = port;
	const unsigned f = tun_flags(guest);
	char msg[128];

	/* One queue's ioctl sets the offloads of the whole interface. */
	if (t->fd[0] < 0)
		return;
	if (ioctl(t->fd[0], TUNSETOFFLOAD, (unsigned long)f) < 0) {
		snprintf(msg, sizeof(msg), "tap: TUNSETOFFLOAD %#x failed (%s): offloads unchanged",
			 f, vio_strerror(-errno));
		vud_log(NULL, VIO_LOG_WARN, msg);
		return;
	}
	__atomic_store_n(&t->tun_offloads, f, __ATOMIC_RELAXED);
	snprintf(msg, sizeof(msg), "tap: receive offloads:%s%s%s%s%s%s", f ? "" : " none",
		 f & TUN_F_CSUM ? " csum" : "", f & TUN_F_TSO4 ? " tso4" : "",
		 f & TUN_F_TSO6 ? " tso6" : "", f & TUN_F_TSO_ECN ? " ecn" : "",
		 f & TUN_F_UFO ? " ufo" : "");
	vud_log(NULL, VIO_LOG_INFO, msg);
}

const struct vio_net_port_ops net_tap_ops = {
	.version = VIO_NET_PORT_OPS_VERSION,
	.transmit = tap_transmit,
	.rx_ready = tap_rx_ready,
	.offloads = tap_offloads,
};

struct reader {
	struct net_tap *t;
	unsigned pair;
};

static struct reader readers[VIO_NET_MAX_PAIRS];

/* Offers one frame until the device takes it, the driver has had
 * GIVE_UP_MS to post buffers, or the port stops. */
static void deliver(struct net_tap *t, unsigned pair, const struct vio_net_frame *f)
{
	for (int waited = 0; !__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE); waited += RETRY_MS) {
		struct pollfd p = { .fd = t->wake[pair], .events = POLLIN };
		uint64_t x;
		int r;

		vio_vu_backend_queue_lock(t->b, 2 * pair);
		r = vio_net_dev_receive(t->net, pair, f, 1);
		vio_vu_backend_queue_unlock(t->b, 2 * pair);
		if (r != 0 || waited >= GIVE_UP_MS) {
			if (r == 0)
				__atomic_fetch_add(&t->rx_dropped, 1, __ATOMIC_RELAXED);
			return;
		}
		if (poll(&p, 1, RETRY_MS) > 0 && read(t->wake[pair], &x, sizeof(x)) < 0) {
			/* Nothing to take: someone read it first. */
		}
	}
}

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	struct net_tap *t = rd->t;
	static __thread uint8_t buf[VNET_HDR_LEN + 65536];

	while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd p[2] = {
			{ .fd = t->fd[rd->pair], .events = POLLIN },
			{ .fd = t->wake[rd->pair], .events = POLLIN },
		};
		struct tap_hdr h;
		struct vio_iov iov;
		struct vio_net_frame f;
		ssize_t n;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents & POLLIN) {
			uint64_t x;

			if (read(t->wake[rd->pair], &x, sizeof(x)) < 0) {
				/* Taken already. */
			}
		}
		if (!(p[0].revents & POLLIN))
			continue;
		n = read(t->fd[rd->pair], buf, sizeof(buf));
		if (n < (ssize_t)(VNET_HDR_LEN + VIO_NET_ETH_HLEN))
			continue;       /* nothing, or not a frame */
		memcpy(&h, buf, sizeof(h));
		iov = (struct vio_iov){ buf + VNET_HDR_LEN, (size_t)n - VNET_HDR_LEN };
		f = (struct vio_net_frame){
			.flags = h.flags, .gso_type = h.gso_type, .hdr_len = h.hdr_len,
			.gso_size = h.gso_size, .csum_start = h.csum_start,
			.csum_offset = h.csum_offset, .len = (uint32_t)iov.len, .iov = &iov,
			.iovcnt = 1,
		};
		deliver(t, rd->pair, &f);
	}
	return NULL;
}

int net_tap_start(struct net_tap *t, struct vio_net_dev *net, struct vio_vu_backend *b)
{
	t->net = net;
	t->b = b;
	for (unsigned i = 0; i < t->pairs; i++) {
		int r;

		readers[i] = (struct reader){ t, i };
		r = pthread_create(&t->th[i], NULL, reader_main, &readers[i]);
		if (r) {
			net_tap_stop(t);
			return -r;
		}
		t->started[i] = true;
	}
	return 0;
}

void net_tap_stop(struct net_tap *t)
{
	uint64_t one = 1;

	__atomic_store_n(&t->stop, true, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < t->pairs; i++) {
		if (!t->started[i])
			continue;
		if (write(t->wake[i], &one, sizeof(one)) < 0) {
			/* Full: it wakes all the same. */
		}
		pthread_join(t->th[i], NULL);
		t->started[i] = false;
	}
}
