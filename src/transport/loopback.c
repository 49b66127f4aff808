/*
 * loopback.c - a device model and a driver in one process (see
 * vio/transport/loopback.h for the two modes).
 *
 * The driver-side transport ops map one to one onto the device model's
 * register calls; the only real work here is the notification plumbing.
 * The DMA arena is carved up by the transports' allocator (dma_arena.c),
 * whose bookkeeping lives outside the arena, where the device cannot
 * reach.
 */
#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "vio/transport/loopback.h"

static struct vio_loopback *lb_of(struct vio_drv_device *vdev)
{
	return vdev->transport;
}

/* ------------------------------------------------------------------------ */
/* DMA memory: the arena, through the transports' allocator                 */

static void *lb_dma_alloc(struct vio_drv_device *vdev, size_t size, size_t align, uint64_t *dma)
{
	struct vio_loopback *lb = lb_of(vdev);
	void *p;

	pthread_mutex_lock(&lb->lock);
	p = vio__dma_arena_alloc(&lb->dma, size, align, dma);
	pthread_mutex_unlock(&lb->lock);
	return p;
}

static void lb_dma_free(struct vio_drv_device *vdev, void *p, size_t size)
{
	struct vio_loopback *lb = lb_of(vdev);

	pthread_mutex_lock(&lb->lock);
	vio__dma_arena_free(&lb->dma, p, size);
	pthread_mutex_unlock(&lb->lock);
}

static uint64_t lb_dma_addr(struct vio_drv_device *vdev, const void *p)
{
	return vio__dma_arena_addr(&lb_of(vdev)->dma, p);
}

/* ------------------------------------------------------------------------ */
/* Control plane: straight onto the device model, under the lock           */

#define LOCKED(lb, expr) ({ __typeof__(expr) r_; pthread_mutex_lock(&(lb)->lock); \
			    r_ = (expr); pthread_mutex_unlock(&(lb)->lock); r_; })

static uint8_t lb_get_status(struct vio_drv_device *vdev)
{
	return LOCKED(lb_of(vdev), vio_dev_get_status(lb_of(vdev)->dev));
}

static void lb_set_status(struct vio_drv_device *vdev, uint8_t status)
{
	(void)LOCKED(lb_of(vdev), vio_dev_set_status(lb_of(vdev)->dev, status));
}

static uint64_t lb_get_features(struct vio_drv_device *vdev)
{
	return LOCKED(lb_of(vdev), vio_dev_get_features(lb_of(vdev)->dev));
}

static int lb_set_features(struct vio_drv_device *vdev, uint64_t f)
{
	return LOCKED(lb_of(vdev), vio_dev_set_features(lb_of(vdev)->dev, f));
}

static uint64_t lb_transport_features(struct vio_drv_device *vdev)
{
	return VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_INDIRECT_DESC) | VIO_BIT(VIO_F_EVENT_IDX) |
	       VIO_BIT(VIO_F_NOTIFY_ON_EMPTY) | VIO_BIT(VIO_F_ANY_LAYOUT) |
	       VIO_BIT(VIO_F_RING_PACKED) | VIO_BIT(VIO_F_IN_ORDER) | VIO_BIT(VIO_F_RING_RESET) |
	       lb_of(vdev)->extra_features;
}

static int lb_config_read(struct vio_drv_device *vdev, unsigned off, void *buf, unsigned len)
{
	return LOCKED(lb_of(vdev), vio_dev_config_read(lb_of(vdev)->dev, off, buf, len));
}

static int lb_config_write(struct vio_drv_device *vdev, unsigned off, const void *buf, unsigned len)
{
	return LOCKED(lb_of(vdev), vio_dev_config_write(lb_of(vdev)->dev, off, buf, len));
}

static uint32_t lb_config_generation(struct vio_drv_device *vdev)
{
	return LOCKED(lb_of(vdev), vio_dev_config_generation(lb_of(vdev)->dev));
}

static unsigned lb_num_queues(struct vio_drv_device *vdev)
{
	return vio_dev_num_queues(lb_of(vdev)->dev);
}

static unsigned lb_queue_max(struct vio_drv_device *vdev, unsigned qi)
{
	return vio_dev_queue_max(lb_of(vdev)->dev, qi);
}

static int lb_queue_setup(struct vio_drv_device *vdev, unsigned qi, unsigned size,
			  const struct vio_ring_addrs *dma)
{
	return LOCKED(lb_of(vdev), vio_dev_queue_set(lb_of(vdev)->dev, qi, size, dma));
}

static int lb_queue_enable(struct vio_drv_device *vdev, unsigned qi)
{
	return LOCKED(lb_of(vdev), vio_dev_queue_enable(lb_of(vdev)->dev, qi));
}

static int lb_queue_reset(struct vio_drv_device *vdev, unsigned qi)
{
	return LOCKED(lb_of(vdev), vio_dev_queue_reset(lb_of(vdev)->dev, qi));
}

/* ------------------------------------------------------------------------ */
/* Notifications                                                            */

static void signal_fd(int fd)
{
	uint64_t one = 1;

	while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void drain_fd(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
}

/* Delivers interrupts the device raised (and a config change). */
static void deliver_irqs(struct vio_loopback *lb)
{
	uint64_t bits = __atomic_exchange_n(&lb->irqs_pending, 0, __ATOMIC_ACQ_REL);

	if (__atomic_exchange_n(&lb->config_irq_pending, false, __ATOMIC_ACQ_REL))
		vio_drv_config_interrupt(&lb->vdev);
	while (bits) {
		unsigned qi = (unsigned)__builtin_ctzll(bits);

		bits &= bits - 1;
		vio_drv_interrupt(&lb->vdev, qi);
	}
}

static void lb_notify(struct vio_drv_device *vdev, unsigned qi)
{
	struct vio_loopback *lb = lb_of(vdev);

	if (qi >= VIO_LOOPBACK_MAX_QUEUES)
		return;
	if (lb->threaded) {
		__atomic_fetch_or(&lb->kicks_pending, UINT64_C(1) << qi, __ATOMIC_RELEASE);
		signal_fd(lb->has_events ? lb->kick_efd : lb->kick_fd);
		return;
	}
	vio_dev_notify(lb->dev, qi);
	deliver_irqs(lb);
}

/* Direct mode with event fds: the device's work finishes only when its
 * fds are served, and here that is the driver's thread, while it waits. */
static int direct_wait_events(struct vio_loopback *lb, int timeout_ms)
{
	struct pollfd p[VIO_LOOPBACK_MAX_QUEUES];
	unsigned qis[VIO_LOOPBACK_MAX_QUEUES];
	nfds_t n = 0;
	int r;

	for (unsigned i = 0; i < lb->dev->num_queues; i++) {
		int fd = vio_dev_queue_event_fd(lb->dev, i);

		if (fd >= 0) {
			p[n] = (struct pollfd){ .fd = fd, .events = POLLIN };
			qis[n++] = i;
		}
	}
	r = poll(p, n, timeout_ms);
	if (r == 0)
		return -ETIMEDOUT;
	for (nfds_t i = 0; r > 0 && i < n; i++)
		if (p[i].revents)
			vio_dev_queue_event(lb->dev, qis[i]);
	deliver_irqs(lb);
	return 0;
}

static int lb_wait(struct vio_drv_device *vdev, int timeout_ms)
{
	struct vio_loopback *lb = lb_of(vdev);
	struct pollfd pfd;
	int r;

	if (!lb->threaded) {
		if (lb->has_events && !__atomic_load_n(&lb->irqs_pending, __ATOMIC_ACQUIRE) &&
		    !__atomic_load_n(&lb->config_irq_pending, __ATOMIC_ACQUIRE))
			return direct_wait_events(lb, timeout_ms);
		deliver_irqs(lb);
		return 0;
	}
	pfd.fd = lb->irq_fd;
	pfd.events = POLLIN;
	r = poll(&pfd, 1, timeout_ms);
	if (r == 0)
		return -ETIMEDOUT;
	if (r > 0)
		vio_loopback_driver_dispatch(lb);
	return 0;
}

/* Device model -> driver. */
static void lb_interrupt(void *opaque, unsigned qi)
{
	struct vio_loopback *lb = opaque;

	if (qi >= VIO_LOOPBACK_MAX_QUEUES)
		return;
	__atomic_fetch_or(&lb->irqs_pending, UINT64_C(1) << qi, __ATOMIC_RELEASE);
	if (lb->threaded)
		signal_fd(lb->irq_fd);
}

static void lb_config_interrupt(void *opaque)
{
	struct vio_loopback *lb = opaque;

	__atomic_store_n(&lb->config_irq_pending, true, __ATOMIC_RELEASE);
	if (lb->threaded)
		signal_fd(lb->irq_fd);
}

/* epoll_data of kick_fd's members (with event fds): 0 the kick eventfd,
 * qi + 1 queue qi's event fd. */
void vio_loopback_device_dispatch(struct vio_loopback *lb)
{
	struct epoll_event ev[VIO_LOOPBACK_MAX_QUEUES + 1];
	int nev = 0;
	uint64_t bits;

	if (lb->has_events)
		nev = epoll_wait(lb->kick_fd, ev, VIO_LOOPBACK_MAX_QUEUES + 1, 0);
	drain_fd(lb->has_events ? lb->kick_efd : lb->kick_fd);
	bits = __atomic_exchange_n(&lb->kicks_pending, 0, __ATOMIC_ACQ_REL);
	pthread_mutex_lock(&lb->lock);
	for (int i = 0; i < nev; i++)
		if (ev[i].data.u64)
			vio_dev_queue_event(lb->dev, (unsigned)ev[i].data.u64 - 1);
	while (bits) {
		unsigned qi = (unsigned)__builtin_ctzll(bits);

		bits &= bits - 1;
		vio_dev_notify(lb->dev, qi);
	}
	pthread_mutex_unlock(&lb->lock);
}

void vio_loopback_lock(struct vio_loopback *lb)
{
	pthread_mutex_lock(&lb->lock);
}

void vio_loopback_unlock(struct vio_loopback *lb)
{
	pthread_mutex_unlock(&lb->lock);
}

void vio_loopback_driver_dispatch(struct vio_loopback *lb)
{
	drain_fd(lb->irq_fd);
	deliver_irqs(lb);
}

/* The drivers' deadlines run on CLOCK_MONOTONIC. */
static uint64_t lb_now_ns(struct vio_drv_device *vdev)
{
	struct timespec ts;

	(void)vdev;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const struct vio_transport_ops loopback_ops = {
	.version = VIO_TRANSPORT_OPS_VERSION,
	.get_status = lb_get_status,
	.set_status = lb_set_status,
	.get_features = lb_get_features,
	.set_features = lb_set_features,
	.transport_features = lb_transport_features,
	.config_read = lb_config_read,
	.config_write = lb_config_write,
	.config_generation = lb_config_generation,
	.num_queues = lb_num_queues,
	.queue_max = lb_queue_max,
	.queue_setup = lb_queue_setup,
	.queue_enable = lb_queue_enable,
	.queue_reset = lb_queue_reset,
	.notify = lb_notify,
	.dma_alloc = lb_dma_alloc,
	.dma_free = lb_dma_free,
	.dma_addr = lb_dma_addr,
	.wait = lb_wait,
	.now_ns = lb_now_ns,
	.legacy_align = VIO_LEGACY_VRING_ALIGN,
};

static const struct vio_dev_transport loopback_dev_transport = {
	.version = VIO_DEV_TRANSPORT_VERSION,
	.interrupt = lb_interrupt,
	.config_interrupt = lb_config_interrupt,
};

/* Threaded mode with event fds: kick_fd becomes an epoll set of the kick
 * eventfd and the queues' event fds (the same for the device's life). */
static int events_set_up(struct vio_loopback *lb, struct vio_dev_model *dev)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0 };
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		return -errno;
	lb->kick_efd = lb->kick_fd;
	lb->kick_fd = ep;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lb->kick_efd, &ev) < 0)
		return -errno;
	for (unsigned i = 0; i < dev->num_queues; i++) {
		int fd = vio_dev_queue_event_fd(dev, i);

		ev.data.u64 = i + 1;
		if (fd >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			return -errno;
	}
	return 0;
}

int vio_loopback_init(struct vio_loopback *lb, struct vio_dev_model *dev, size_t arena_bytes,
		      bool threaded)
{
	int r;

	memset(lb, 0, sizeof(*lb));
	lb->kick_fd = lb->irq_fd = lb->kick_efd = -1;
	if (dev->num_queues > VIO_LOOPBACK_MAX_QUEUES || arena_bytes == 0)
		return -EINVAL;
	if (arena_bytes > SIZE_MAX - VIO_LOOPBACK_MAX_ALIGN)
		return -EINVAL;
	/* Aligned as much as the largest alignment dma_alloc grants, so an
	 * aligned device address is an aligned host pointer too. */
	arena_bytes = (arena_bytes + VIO_LOOPBACK_MAX_ALIGN - 1) & ~(size_t)(VIO_LOOPBACK_MAX_ALIGN - 1);
	pthread_mutex_init(&lb->lock, NULL);
	lb->lock_ok = true;
	lb->arena = aligned_alloc(VIO_LOOPBACK_MAX_ALIGN, arena_bytes);
	if (!lb->arena || vio__dma_arena_init(&lb->dma, lb->arena, arena_bytes, VIO_LOOPBACK_BASE,
					      VIO_LOOPBACK_MAX_ALIGN)) {
		vio_loopback_fini(lb);
		return -ENOMEM;
	}
	lb->arena_len = arena_bytes;
	vio_mem_init(&lb->mem, &lb->region, 1);
	r = vio_mem_add(&lb->mem, VIO_LOOPBACK_BASE, arena_bytes, lb->arena);
	if (r) {
		vio_loopback_fini(lb);
		return r;
	}
	lb->threaded = threaded;
	if (threaded) {
		lb->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		lb->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (lb->kick_fd < 0 || lb->irq_fd < 0) {
			r = -errno;
			vio_loopback_fini(lb);
			return r;
		}
	}
	for (unsigned i = 0; i < dev->num_queues; i++)
		lb->has_events |= vio_dev_queue_event_fd(dev, i) >= 0;
	if (threaded && lb->has_events) {
		r = events_set_up(lb, dev);
		if (r) {
			vio_loopback_fini(lb);
			return r;
		}
	}
	lb->dev = dev;
	dev->mem = &lb->mem;
	dev->transport = &loopback_dev_transport;
	dev->transport_opaque = lb;
	lb->vdev.ops = &loopback_ops;
	lb->vdev.transport = lb;
	lb->vdev.id = dev->device_id;
	return 0;
}

void vio_loopback_fini(struct vio_loopback *lb)
{
	if (lb->kick_fd >= 0)
		close(lb->kick_fd);
	if (lb->irq_fd >= 0)
		close(lb->irq_fd);
	if (lb->kick_efd >= 0)
		close(lb->kick_efd);
	if (lb->lock_ok)
		pthread_mutex_destroy(&lb->lock);
	vio__dma_arena_fini(&lb->dma);
	free(lb->arena);
	memset(lb, 0, sizeof(*lb));
	lb->kick_fd = lb->irq_fd = lb->kick_efd = -1;
}
