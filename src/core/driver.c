/*
 * driver.c - the driver model: the bus that binds drivers to devices.
 *
 * This is the seed's virtio core: a transport announces a device, the bus
 * gives it a name, resets it, and if a registered driver's id table names
 * its device id, negotiates features in the core (device offer AND driver
 * table AND what the transport carries), confirms FEATURES_OK by reading
 * status back, probes the driver and finally sets DRIVER_OK. Drivers only
 * ever see struct vio_drv_device and the helpers here; they never learn which
 * transport they run on.
 */
#include "vio/core.h"

#include "../vio_libc.h"

/* Feature bits that belong to the device type, not the transport:
 * 0..23 and 50..63 (virtio 1.x 2.2). */
#define DEVICE_TYPE_BITS ((VIO_BIT(24) - 1) | ~(VIO_BIT(50) - 1))

/* How often vio_drv_config_read() retries a read torn by a config change. */
#define CONFIG_READ_TRIES 16

static void bus_log(const struct vio_bus *bus, enum vio_log_level level, const char *msg)
{
	if (bus && bus->log)
		bus->log(bus->log_opaque, level, msg);
}

void vio_drv_log(const struct vio_drv_device *dev, enum vio_log_level level, const char *msg)
{
	bus_log(dev->bus, level, msg);
}

void vio_drv_logf(const struct vio_drv_device *dev, enum vio_log_level level, const char *fmt, ...)
{
	va_list ap;

	if (!dev->bus)
		return;
	va_start(ap, fmt);
	vio_vlogf(dev->bus->log, dev->bus->log_opaque, level, NULL, fmt, ap);
	va_end(ap);
}

bool vio_drv_has_feature(const struct vio_drv_device *dev, unsigned bit)
{
	return vio_has_feature(dev->features, bit);
}

static void add_status(struct vio_drv_device *dev, uint8_t bits)
{
	dev->ops->set_status(dev, (uint8_t)(dev->ops->get_status(dev) | bits));
}

void vio_drv_reset(struct vio_drv_device *dev)
{
	dev->ops->set_status(dev, 0);
	/* Reading back 0 tells us the device has finished resetting. The
	 * transports here reset synchronously, so one read suffices. */
	(void)dev->ops->get_status(dev);
}

uint8_t vio_drv_get_status(struct vio_drv_device *dev)
{
	return dev->ops->get_status(dev);
}

void vio_drv_ready(struct vio_drv_device *dev)
{
	add_status(dev, VIO_STATUS_DRIVER_OK);
}

static bool matches(const struct vio_driver *drv, uint32_t id)
{
	for (const uint32_t *p = drv->ids; p && *p; p++)
		if (*p == id)
			return true;
	return false;
}

/*
 * ACCESS_PLATFORM says the device reaches memory through the platform's
 * translation (an IOMMU): the driver must hand it DMA addresses, not
 * physical ones. libvio's drivers only ever hand a device addresses from
 * their transport's DMA allocator, so whether that holds is the
 * transport's to say: a transport that carries the bit takes it for every
 * driver (devices that need it, such as QEMU's with iommu_platform=on and
 * real hardware, refuse FEATURES_OK without it).
 */
#define TRANSPORT_SPEAKS_BITS VIO_BIT(VIO_F_ACCESS_PLATFORM)

/* Negotiates features for drv and, when that works, probes it. */
static int bind(struct vio_drv_device *dev, struct vio_driver *drv)
{
	uint64_t offer, want, transport;
	int r;

	add_status(dev, VIO_STATUS_DRIVER);
	offer = dev->ops->get_features(dev);
	dev->legacy = !vio_has_feature(offer, VIO_F_VERSION_1);
	want = (dev->legacy ? drv->legacy_features : drv->features) | TRANSPORT_SPEAKS_BITS;
	transport = dev->ops->transport_features(dev) | DEVICE_TYPE_BITS;
	dev->features = offer & want & transport;
	dev->legacy = !vio_has_feature(dev->features, VIO_F_VERSION_1);
	/* The legacy interface has 32 feature bits; the rest exist only in
	 * virtio 1.x (the packed ring, IN_ORDER, ...). */
	if (dev->legacy)
		dev->features &= UINT32_MAX;

	r = dev->ops->set_features(dev, dev->features);
	if (r < 0) {
		bus_log(dev->bus, VIO_LOG_ERR, "device refused the driver's features");
		goto fail;
	}
	if (!dev->legacy) {
		add_status(dev, VIO_STATUS_FEATURES_OK);
		if (!(dev->ops->get_status(dev) & VIO_STATUS_FEATURES_OK)) {
			bus_log(dev->bus, VIO_LOG_ERR, "device did not accept FEATURES_OK");
			r = -ENODEV;
			goto fail;
		}
	}
	dev->driver = drv;
	r = drv->probe(dev);
	if (r < 0) {
		dev->driver = NULL;
		vio_drv_logf(dev, VIO_LOG_ERR, "%s: %s: probe failed: %s", dev->name,
			     drv->name ? drv->name : "driver", vio_strerror(r));
		goto fail;
	}
	if (!(dev->ops->get_status(dev) & VIO_STATUS_DRIVER_OK))
		vio_drv_ready(dev);
	return 0;
fail:
	add_status(dev, VIO_STATUS_FAILED);
	return r;
}

/* Starts over from reset and binds the first driver that matches. */
int vio_drv_bind(struct vio_drv_device *dev)
{
	struct vio_bus *bus = dev->bus;

	if (dev->driver)
		return -EBUSY;
	vio_drv_reset(dev);
	add_status(dev, VIO_STATUS_ACKNOWLEDGE);
	for (struct vio_driver *drv = bus->drivers_; drv; drv = drv->next_) {
		if (matches(drv, dev->id))
			return bind(dev, drv);
	}
	return 0; /* no driver yet: stays acknowledged */
}

void vio_drv_unbind(struct vio_drv_device *dev)
{
	if (!dev->driver)
		return;
	dev->driver->remove(dev);
	dev->driver = NULL;
	/* Whatever the driver left, the device must stop using it. */
	vio_drv_reset(dev);
	if (dev->vqs)
		vio_drv_del_vqs(dev);
	dev->priv = NULL;
}

void vio_bus_init(struct vio_bus *bus, void *(*alloc)(void *opaque, size_t size),
		  void (*free_fn)(void *opaque, void *p, size_t size), void *alloc_opaque)
{
	memset(bus, 0, sizeof(*bus));
	bus->alloc = alloc;
	bus->free = free_fn;
	bus->alloc_opaque = alloc_opaque;
}

int vio_bus_register_driver(struct vio_bus *bus, struct vio_driver *drv)
{
	if (!drv->probe || !drv->remove || !drv->ids)
		return -EINVAL;
	for (struct vio_driver *d = bus->drivers_; d; d = d->next_)
		if (d == drv)
			return -EEXIST;
	drv->next_ = bus->drivers_;
	bus->drivers_ = drv;
	for (struct vio_drv_device *dev = bus->devices_; dev; dev = dev->next_) {
		if (!dev->driver && matches(drv, dev->id))
			(void)vio_drv_bind(dev);
	}
	return 0;
}

void vio_bus_unregister_driver(struct vio_bus *bus, struct vio_driver *drv)
{
	struct vio_driver **pp;

	for (struct vio_drv_device *dev = bus->devices_; dev; dev = dev->next_) {
		if (dev->driver == drv)
			vio_drv_unbind(dev);
	}
	for (pp = &bus->drivers_; *pp; pp = &(*pp)->next_) {
		if (*pp == drv) {
			*pp = drv->next_;
			break;
		}
	}
}

static void set_name(struct vio_drv_device *dev)
{
	vio_format(dev->name, sizeof(dev->name), "virtio%u", dev->index);
}

int vio_bus_add_device(struct vio_bus *bus, struct vio_drv_device *dev)
{
	const struct vio_transport_ops *ops = dev->ops;

	if (!bus->alloc || !bus->free)
		return -EINVAL;
	/* Every required member is in version 1 (see "Op tables and their
	 * versions" in core.h). */
	if (!ops || ops->version < 1 || !ops->get_status ||
	    !ops->set_status || !ops->get_features || !ops->set_features ||
	    !ops->transport_features || !ops->config_read || !ops->config_generation ||
	    !ops->num_queues || !ops->queue_max || !ops->queue_setup || !ops->queue_enable ||
	    !ops->notify || !ops->dma_alloc || !ops->dma_free || !ops->dma_addr)
		return -EINVAL;
	dev->bus = bus;
	dev->index = bus->next_index_++;
	set_name(dev);
	dev->driver = NULL;
	dev->vqs = NULL;
	dev->nvqs = 0;
	dev->priv = NULL;
	dev->next_ = bus->devices_;
	bus->devices_ = dev;
	(void)vio_drv_bind(dev);
	return 0;
}

void vio_bus_remove_device(struct vio_bus *bus, struct vio_drv_device *dev)
{
	struct vio_drv_device **pp;

	vio_drv_unbind(dev);
	vio_drv_reset(dev);
	for (pp = &bus->devices_; *pp; pp = &(*pp)->next_) {
		if (*pp == dev) {
			*pp = dev->next_;
			break;
		}
	}
}

int vio_drv_config_read(struct vio_drv_device *dev, unsigned off, void *buf, unsigned len)
{
	for (unsigned tries = 0; tries < CONFIG_READ_TRIES; tries++) {
		uint32_t before = dev->ops->config_generation(dev);
		int r = dev->ops->config_read(dev, off, buf, len);

		if (r < 0)
			return r;
		if (dev->ops->config_generation(dev) == before)
			return 0;
	}
	return -EAGAIN;
}

int vio_drv_config_write(struct vio_drv_device *dev, unsigned off, const void *buf, unsigned len)
{
	if (!dev->ops->config_write)
		return -ENOTSUP;
	return dev->ops->config_write(dev, off, buf, len);
}

void *vio_drv_priv_alloc(struct vio_drv_device *dev, size_t size)
{
	void *p = dev->bus->alloc(dev->bus->alloc_opaque, size);

	if (p)
		memset(p, 0, size);
	return p;
}

void vio_drv_priv_free(struct vio_drv_device *dev, void *p, size_t size)
{
	if (p)
		dev->bus->free(dev->bus->alloc_opaque, p, size);
}

void *vio_drv_dma_alloc(struct vio_drv_device *dev, size_t size, size_t align, uint64_t *dma)
{
	return dev->ops->dma_alloc(dev, size, align, dma);
}

void vio_drv_dma_free(struct vio_drv_device *dev, void *p, size_t size)
{
	if (p)
		dev->ops->dma_free(dev, p, size);
}

uint64_t vio_drv_dma_addr(struct vio_drv_device *dev, const void *p)
{
	return dev->ops->dma_addr(dev, p);
}

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Frees one queue's memory (either part may be missing). */
static void free_vq(struct vio_drv_device *dev, struct vio_drv_vq *vq)
{
	vio_drv_dma_free(dev, vq->mem_, vq->mem_len_);
	if (vq->slots_)
		dev->bus->free(dev->bus->alloc_opaque, vq->slots_, vq->slots_len_);
	vq->mem_ = NULL;
	vq->slots_ = NULL;
}

/*
 * Ring memory of one queue: one DMA block holding the three areas (legacy
 * placement when the transport needs it) and then the indirect tables. The
 * shadow slots come from the bus's private allocator: the device must
 * never be able to reach the driver's bookkeeping.
 */
static int setup_vq(struct vio_drv_device *dev, unsigned qi, const struct vio_drv_vq_info *info,
		    struct vio_drv_vq *vq)
{
	const unsigned max = dev->ops->queue_max(dev, qi);
	const uint64_t f = dev->features;
	const unsigned indirect_max = vio_has_feature(f, VIO_F_INDIRECT_DESC) ? info->indirect_max : 0;
	unsigned size = info->size ? info->size : max;
	size_t off_drv, off_dev, off_ind, align = 4096;
	struct vio_drvq_config c;
	uint64_t dma, ind_bytes;
	int r;

	/* Legacy transports take one block at a fixed alignment and cannot
	 * change the size. */
	if (dev->legacy && dev->ops->legacy_align)
		size = max;
	/* max comes from the device: check before any size arithmetic. */
	if (max == 0 || size > max || !vio_ring_size_valid(f, size) ||
	    indirect_max > VIO_SPLIT_MAX_SIZE)
		return -EINVAL;
	if (dev->legacy && dev->ops->legacy_align) {
		struct vio_ring_addrs a;

		if (dev->ops->legacy_align > align)
			align = dev->ops->legacy_align;
		vio_ring_legacy_layout(0, size, dev->ops->legacy_align, &a);
		off_drv = (size_t)a.driver;
		off_dev = (size_t)a.device;
		off_ind = align_up(vio_split_legacy_size(size, dev->ops->legacy_align), 16);
	} else {
		off_drv = align_up(vio_ring_desc_bytes(f, size), vio_ring_driver_align(f));
		off_dev = align_up(off_drv + vio_ring_driver_bytes(f, size), vio_ring_device_align(f));
		off_ind = align_up(off_dev + vio_ring_device_bytes(f, size), 16);
	}

	/* At most 2^15 * 2^15 * 16 bytes of tables: fits 64 bits, maybe not
	 * a 32-bit size_t. */
	ind_bytes = (uint64_t)size * indirect_max * 16;
	if (ind_bytes > SIZE_MAX - off_ind)
		return -ENOMEM;
	vq->mem_len_ = off_ind + (size_t)ind_bytes;
	vq->mem_ = vio_drv_dma_alloc(dev, vq->mem_len_, align, &dma);
	vq->slots_len_ = vio_drvq_slots_bytes(size);
	vq->slots_ = dev->bus->alloc(dev->bus->alloc_opaque, vq->slots_len_);
	if (!vq->mem_ || !vq->slots_) {
		free_vq(dev, vq);
		return -ENOMEM;
	}

	memset(&c, 0, sizeof(c));
	c.size = size;
	c.features = f;
	c.len_policy = info->len_policy;
	c.desc = vq->mem_;
	c.driver = (uint8_t *)vq->mem_ + off_drv;
	c.device = (uint8_t *)vq->mem_ + off_dev;
	c.dma.desc = dma;
	c.dma.driver = dma + off_drv;
	c.dma.device = dma + off_dev;
	c.indirect = indirect_max ? (uint8_t *)vq->mem_ + off_ind : NULL;
	c.indirect_dma = dma + off_ind;
	c.indirect_max = indirect_max;
	c.slots = vq->slots_;
	r = vio_drvq_init(&vq->q, &c);
	if (r == 0)
		r = dev->ops->queue_setup(dev, qi, size, &c.dma);
	if (r == 0)
		r = dev->ops->queue_enable(dev, qi);
	if (r) {
		free_vq(dev, vq);
		return r;
	}
	vq->dev = dev;
	vq->index = qi;
	vq->callback = info->callback;
	vq->cfg_ = c;
	return 0;
}

int vio_drv_find_vqs(struct vio_drv_device *dev, unsigned n, const struct vio_drv_vq_info *info,
		     struct vio_drv_vq *vqs)
{
	unsigned i;
	int r;

	if (dev->vqs || n > dev->ops->num_queues(dev))
		return -EINVAL;
	memset(vqs, 0, n * sizeof(*vqs));
	for (i = 0; i < n; i++) {
		r = setup_vq(dev, i, &info[i], &vqs[i]);
		if (r) {
			while (i--)
				free_vq(dev, &vqs[i]);
			memset(vqs, 0, n * sizeof(*vqs));
			return r;
		}
	}
	dev->vqs = vqs;
	dev->nvqs = n;
	return 0;
}

void vio_drv_del_vqs(struct vio_drv_device *dev)
{
	for (unsigned i = 0; i < dev->nvqs; i++)
		free_vq(dev, &dev->vqs[i]);
	dev->vqs = NULL;
	dev->nvqs = 0;
}

int vio_drv_vq_reap(struct vio_drv_vq *vq, void (*fn)(void *opaque, void *token, uint32_t len),
		    void *opaque)
{
	struct vio_drvq *q = &vq->q;

	do {
		void *token;
		uint32_t len;
		int r;

		vio_drvq_disable_cb(q);
		while ((r = vio_drvq_get_buf(q, &token, &len)) == 0)
			fn(opaque, token, len);
		if (r != -EAGAIN)
			return -EIO;
	} while (!vio_drvq_enable_cb(q));
	return 0;
}

int vio_drv_vq_reset(struct vio_drv_vq *vq,
		     void (*fn)(void *opaque, void *token, bool used, uint32_t len), void *opaque)
{
	struct vio_drv_device *dev = vq->dev;
	void *token;
	uint32_t len;
	int r;

	if (!dev || !vq->mem_)
		return -EINVAL;
	if (!vio_drv_has_feature(dev, VIO_F_RING_RESET) || !dev->ops->queue_reset)
		return -ENOTSUP;
	/* The transports here come back once the device has let go of the
	 * queue (pci: the reset register reads 1): from now on nothing
	 * writes the ring but us. */
	r = dev->ops->queue_reset(dev, vq->index);
	if (r)
		return r;
	/* What the device finished is a completion, not a loss: its used
	 * entries are still in the ring. A broken ring gives none, and
	 * everything then comes back as unused. */
	while (vio_drvq_get_buf(&vq->q, &token, &len) == 0) {
		if (fn)
			fn(opaque, token, true, len);
	}
	while ((token = vio_drvq_detach_unused(&vq->q)) != NULL) {
		if (fn)
			fn(opaque, token, false, 0);
	}
	/* Start over as find_vqs did: zeroed areas, an empty shadow, and
	 * the device told where the rings are. */
	memset(vq->mem_, 0, vq->mem_len_);
	r = vio_drvq_init(&vq->q, &vq->cfg_);
	if (r == 0)
		r = dev->ops->queue_setup(dev, vq->index, vq->cfg_.size, &vq->cfg_.dma);
	if (r == 0)
		r = dev->ops->queue_enable(dev, vq->index);
	return r;
}

bool vio_drv_vq_kick(struct vio_drv_vq *vq)
{
	if (!vio_drvq_kick_prepare(&vq->q))
		return false;
	vq->dev->ops->notify(vq->dev, vq->index);
	return true;
}

int vio_drv_wait(struct vio_drv_device *dev, int timeout_ms)
{
	if (!dev->ops->wait) {
		/* Nothing to block on: poll every queue's used ring once. */
		for (unsigned i = 0; i < dev->nvqs; i++)
			if (vio_drvq_has_used(&dev->vqs[i].q))
				vio_drv_interrupt(dev, i);
		return 0;
	}
	return dev->ops->wait(dev, timeout_ms);
}

/* ------------------------------------------------------------------------ */
/* Deadlines: time is the transport's                                       */

#define NS_PER_MS UINT64_C(1000000)

/* The transport's clock, if its table is new enough to have one. */
static uint64_t (*clock_of(const struct vio_drv_device *dev))(struct vio_drv_device *)
{
	return dev->ops->version >= 2 ? dev->ops->now_ns : NULL;
}

void vio_drv_deadline_start(struct vio_drv_device *dev, struct vio_drv_deadline *dl, int timeout_ms)
{
	dl->forever = timeout_ms < 0;
	dl->left_ms = timeout_ms > 0 ? (uint64_t)timeout_ms : 0;
	dl->end_ns = 0;
	if (!dl->forever && clock_of(dev)) {
		uint64_t now = clock_of(dev)(dev);

		/* A clock this close to wrapping saturates rather than wraps. */
		dl->end_ns = now + dl->left_ms * NS_PER_MS;
		if (dl->end_ns < now)
			dl->end_ns = UINT64_MAX;
	}
}

bool vio_drv_deadline_passed(struct vio_drv_device *dev, const struct vio_drv_deadline *dl)
{
	if (dl->forever)
		return false;
	if (clock_of(dev))
		return clock_of(dev)(dev) >= dl->end_ns;
	return dl->left_ms == 0;
}

int vio_drv_deadline_left_ms(struct vio_drv_device *dev, const struct vio_drv_deadline *dl,
			     int max_ms)
{
	uint64_t left;

	if (dl->forever)
		return max_ms < 0 ? -1 : max_ms;
	if (clock_of(dev)) {
		uint64_t now = clock_of(dev)(dev);

		left = now >= dl->end_ns ? 0 : (dl->end_ns - now + NS_PER_MS - 1) / NS_PER_MS;
	} else {
		left = dl->left_ms;
	}
	if (max_ms >= 0 && left > (uint64_t)max_ms)
		left = (uint64_t)max_ms;
	/* __INT_MAX__: gcc's <limits.h> needs the C library's. */
	return left > __INT_MAX__ ? __INT_MAX__ : (int)left;
}

int vio_drv_deadline_wait(struct vio_drv_device *dev, struct vio_drv_deadline *dl, int max_ms)
{
	const int ms = vio_drv_deadline_left_ms(dev, dl, max_ms);
	const int r = vio_drv_wait(dev, ms);

	/* No clock: a wait that ran its whole course is the only time known
	 * to have passed. */
	if (r == -ETIMEDOUT && !clock_of(dev) && !dl->forever && ms > 0)
		dl->left_ms -= (uint64_t)ms < dl->left_ms ? (uint64_t)ms : dl->left_ms;
	return r;
}

void vio_drv_interrupt(struct vio_drv_device *dev, unsigned qi)
{
	if (qi < dev->nvqs && dev->vqs[qi].callback)
		dev->vqs[qi].callback(&dev->vqs[qi]);
}

void vio_drv_config_interrupt(struct vio_drv_device *dev)
{
	if (dev->driver && dev->driver->config_changed)
		dev->driver->config_changed(dev);
}
