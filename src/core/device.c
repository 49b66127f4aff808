/*
 * device.c - the device model: what every virtio device does whatever its
 * type and whatever carries it.
 *
 * The status machine (virtio 1.x 2.1 and 3.1): the driver resets the
 * device by writing 0, then sets ACKNOWLEDGE, DRIVER, writes its features,
 * sets FEATURES_OK and reads it back (the device may refuse), sets up
 * queues and sets DRIVER_OK. FAILED is the driver giving up; NEEDS_RESET is
 * the device saying the driver broke something. Config space is bytes with
 * a generation counter the device bumps on every change it makes.
 *
 * Transports call the vio_dev_* "register" functions below in whatever
 * order the driver does things; every call is checked against the state,
 * because the driver is not trusted either.
 */
#include "vio/core.h"

#include "../vio_libc.h"

#define STATUS_ALL (VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER | VIO_STATUS_DRIVER_OK | \
		    VIO_STATUS_FEATURES_OK | VIO_STATUS_NEEDS_RESET | VIO_STATUS_FAILED)

void vio_dev_log(const struct vio_dev_model *d, enum vio_log_level level, const char *msg)
{
	if (d->log)
		d->log(d->log_opaque, level, msg);
}

void vio_dev_logf(const struct vio_dev_model *d, enum vio_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vio_vlogf(d->log, d->log_opaque, level, NULL, fmt, ap);
	va_end(ap);
}

bool vio_dev_has_feature(const struct vio_dev_model *d, unsigned bit)
{
	return vio_has_feature(d->features, bit);
}

/*
 * Device status and the queues' live flags cross threads: a queue's
 * processing may set NEEDS_RESET and stop every queue (vio_dev_needs_reset)
 * while other queues' threads read them under their own locks and the
 * control path reads status holding none (core.h). So they are accessed
 * atomically, through these. Everything else the control path changes is
 * changed under the locks of the queues it touches.
 *
 * Status: only the control path changes it, except NEEDS_RESET, which any
 * queue's processing may add (fetch_or below). Nothing is published with a
 * status bit, so loads are relaxed: a stale value only lets one more round
 * run, or skips one, and the next kick sees the new value.
 */
static uint8_t status_load(const struct vio_dev_model *d)
{
	return __atomic_load_n(&d->status, __ATOMIC_RELAXED);
}

/* Adds bits to status, keeping a NEEDS_RESET another queue's processing
 * set since the caller read it: every store but reset's only adds bits.
 * Pairs with nothing (relaxed); returns the old status. */
static uint8_t status_or(struct vio_dev_model *d, uint8_t bits)
{
	return __atomic_fetch_or(&d->status, bits, __ATOMIC_RELAXED);
}

/* Stopping needs no ordering: a queue's thread that still sees true uses a
 * ring that is still initialised (its memory goes only under all the queue
 * locks) for one more round. */
static void queue_set_dead(struct vio_dev_queue *q)
{
	__atomic_store_n(&q->live, false, __ATOMIC_RELAXED);
}

/* Publishes the ring vio_devq_init() just set up: pairs with the acquire
 * load in vio_dev_queue_live(). */
static void queue_set_live(struct vio_dev_queue *q)
{
	__atomic_store_n(&q->live, true, __ATOMIC_RELEASE);
}

static void stop_queues(struct vio_dev_model *d)
{
	for (unsigned i = 0; i < d->num_queues; i++)
		queue_set_dead(&d->queues[i]);
}

/* Version 3 members, read only from a table that has them. */
static bool has_v3(const struct vio_dev_model *d)
{
	return d->ops->version >= 3;
}

/* Queue qi ends what it has in flight, while it is still live, so what
 * ends is returned as used before the queue stops. */
static void drain_queue(struct vio_dev_model *d, unsigned qi)
{
	if (has_v3(d) && d->ops->queue_drain)
		d->ops->queue_drain(d, qi);
}

void vio_dev_drain(struct vio_dev_model *d)
{
	for (unsigned i = 0; i < d->num_queues; i++)
		drain_queue(d, i);
}

int vio_dev_queue_event_fd(struct vio_dev_model *d, unsigned qi)
{
	if (qi >= d->num_queues || !has_v3(d) || !d->ops->queue_event_fd || !d->ops->queue_event)
		return -1;
	return d->ops->queue_event_fd(d, qi);
}

void vio_dev_queue_event(struct vio_dev_model *d, unsigned qi)
{
	if (qi < d->num_queues && has_v3(d) && d->ops->queue_event)
		d->ops->queue_event(d, qi);
}

/* Back to the state after power-on: no status, no features, no queues. */
static void reset(struct vio_dev_model *d)
{
	vio_dev_drain(d);
	stop_queues(d);
	if (d->ops->reset)
		d->ops->reset(d);
	for (unsigned i = 0; i < d->num_queues; i++) {
		struct vio_dev_queue *q = &d->queues[i];

		q->size = q->max_size;
		memset(&q->addrs, 0, sizeof(q->addrs));
		q->enabled = false;
		q->resume = false;
		q->avail_base = q->used_base = 0;
	}
	/* Every queue is stopped and none is processed (the control path
	 * holds them all): no NEEDS_RESET can come in between. */
	__atomic_store_n(&d->status, 0, __ATOMIC_RELAXED);
	d->features = 0;
	d->legacy = false;
}

int vio_dev_init(struct vio_dev_model *d)
{
	/* Version 1 has every member (see "Op tables and their versions"). */
	if (!d->ops || d->ops->version < 1 || !d->ops->queue_notify ||
	    (d->num_queues && !d->queues) || (d->config_len && !d->config))
		return -EINVAL;
	for (unsigned i = 0; i < d->num_queues; i++) {
		/* The maximum must be a size both layouts accept. */
		if (!vio_ring_size_valid(0, d->queues[i].max_size))
			return -EINVAL;
	}
	d->config_generation = 0;
	reset(d);
	return 0;
}

uint8_t vio_dev_get_status(const struct vio_dev_model *d)
{
	return status_load(d);
}

/* Sets up queue qi's ring over the driver's memory, without making it
 * live: the rings must lie inside that memory, or the device needs a
 * reset. */
static int init_queue(struct vio_dev_model *d, unsigned qi)
{
	struct vio_dev_queue *q = &d->queues[qi];
	struct vio_devq_config c = {
		.size = q->size,
		.features = d->features,
		.addrs = q->addrs,
		.mem = d->mem,
		.resume = q->resume,
		.avail_base = q->avail_base,
		.used_base = q->used_base,
		.indirect_max = q->indirect_max,
		.inflight = q->inflight,
		.inflight_len = q->inflight_len,
		.inflight_scratch = q->inflight_scratch,
	};
	int r;

	if (!d->mem)
		return -EFAULT;
	r = vio_devq_init(&q->vq, &c);
	if (r)
		vio_dev_needs_reset(d, "queue rings are not inside the driver's memory");
	return r;
}

/* Makes queue qi live (DRIVER_OK, or enable after it). */
static int start_queue(struct vio_dev_model *d, unsigned qi)
{
	int r = init_queue(d, qi);

	if (r == 0)
		queue_set_live(&d->queues[qi]);
	return r;
}

int vio_dev_set_status(struct vio_dev_model *d, uint8_t status)
{
	uint8_t old = status_load(d), added;

	if (status == 0) {
		reset(d);
		return 0;
	}
	if (status & ~STATUS_ALL)
		return -EINVAL;
	/* The driver may set NEEDS_RESET only by echoing ours. */
	status = (uint8_t)((status & ~VIO_STATUS_NEEDS_RESET) | (old & VIO_STATUS_NEEDS_RESET));
	/* Bits cannot be cleared without a reset. */
	if ((old & status) != old)
		return -EINVAL;
	added = (uint8_t)(status & ~old);

	if (added & VIO_STATUS_FAILED) {
		status_or(d, VIO_STATUS_FAILED);
		stop_queues(d);
		return 0;
	}
	if (old & VIO_STATUS_FAILED)
		return -EINVAL;
	if ((added & VIO_STATUS_DRIVER) && !(status & VIO_STATUS_ACKNOWLEDGE))
		return -EINVAL;
	if (added & VIO_STATUS_FEATURES_OK) {
		if (!(status & VIO_STATUS_DRIVER) || d->legacy)
			return -EINVAL;
		if (d->ops->features_ok && d->ops->features_ok(d, d->features) < 0) {
			/* Refused: everything else is taken, FEATURES_OK is not,
			 * and the driver sees that when it reads status back. */
			status_or(d, (uint8_t)(status & ~(VIO_STATUS_FEATURES_OK | VIO_STATUS_DRIVER_OK)));
			return 0;
		}
	}
	if (added & VIO_STATUS_DRIVER_OK) {
		/* Modern drivers must have had FEATURES_OK accepted first. */
		if (!(status & VIO_STATUS_DRIVER) || (!d->legacy && !(status & VIO_STATUS_FEATURES_OK)))
			return -EINVAL;
		status_or(d, status);
		for (unsigned i = 0; i < d->num_queues; i++) {
			if (d->queues[i].enabled && start_queue(d, i) < 0)
				return 0; /* NEEDS_RESET is set */
		}
		if (d->ops->start && d->ops->start(d) < 0)
			vio_dev_needs_reset(d, "the device could not start");
		return 0;
	}
	status_or(d, status);
	return 0;
}

uint64_t vio_dev_get_features(const struct vio_dev_model *d)
{
	return d->host_features;
}

int vio_dev_set_features(struct vio_dev_model *d, uint64_t features)
{
	if (status_load(d) & (VIO_STATUS_FEATURES_OK | VIO_STATUS_DRIVER_OK | VIO_STATUS_FAILED))
		return -EINVAL;
	if (features & ~d->host_features)
		return -EINVAL;
	if (!vio_has_feature(features, VIO_F_VERSION_1) && !d->legacy_ok)
		return -EINVAL;
	/* The packed ring exists only in virtio 1.x. */
	if (vio_has_feature(features, VIO_F_RING_PACKED) && !vio_has_feature(features, VIO_F_VERSION_1))
		return -EINVAL;
	d->features = features;
	d->legacy = !vio_has_feature(features, VIO_F_VERSION_1);
	return 0;
}

static bool config_range_ok(const struct vio_dev_model *d, unsigned off, unsigned len)
{
	return off <= d->config_len && len <= d->config_len - off;
}

int vio_dev_config_read(struct vio_dev_model *d, unsigned off, void *buf, unsigned len)
{
	if (!config_range_ok(d, off, len))
		return -EINVAL;
	if (len)
		memcpy(buf, d->config + off, len);
	return 0;
}

int vio_dev_config_write(struct vio_dev_model *d, unsigned off, const void *buf, unsigned len)
{
	if (!config_range_ok(d, off, len))
		return -EINVAL;
	if (!d->ops->config_write)
		return -EPERM;
	if (len)
		memcpy(d->config + off, buf, len);
	d->ops->config_write(d, off, len);
	return 0;
}

/* Version 2 of the ops table brought announce and set_mtu. */
bool vio_dev_can_announce(const struct vio_dev_model *d)
{
	return d->ops->version >= 2 && d->ops->announce;
}

bool vio_dev_can_set_mtu(const struct vio_dev_model *d)
{
	return d->ops->version >= 2 && d->ops->set_mtu;
}

int vio_dev_announce(struct vio_dev_model *d, const uint8_t mac[6])
{
	return vio_dev_can_announce(d) ? d->ops->announce(d, mac) : -ENOTSUP;
}

int vio_dev_set_mtu(struct vio_dev_model *d, unsigned mtu)
{
	return vio_dev_can_set_mtu(d) ? d->ops->set_mtu(d, mtu) : -ENOTSUP;
}

uint32_t vio_dev_config_generation(const struct vio_dev_model *d)
{
	return d->config_generation;
}

unsigned vio_dev_num_queues(const struct vio_dev_model *d)
{
	return d->num_queues;
}

unsigned vio_dev_queue_max(const struct vio_dev_model *d, unsigned qi)
{
	return qi < d->num_queues ? d->queues[qi].max_size : 0;
}

int vio_dev_queue_set(struct vio_dev_model *d, unsigned qi, unsigned size,
		      const struct vio_ring_addrs *a)
{
	struct vio_dev_queue *q;

	if (qi >= d->num_queues)
		return -EINVAL;
	q = &d->queues[qi];
	/* A split queue of the driver's size must be a power of two; the
	 * layout is only known once features are, so check both rules then. */
	if (q->enabled || size == 0 || size > q->max_size || !vio_ring_size_valid(d->features, size))
		return -EINVAL;
	q->size = size;
	q->addrs = *a;
	return 0;
}

int vio_dev_queue_resume(struct vio_dev_model *d, unsigned qi, uint16_t avail_base,
			 uint16_t used_base)
{
	struct vio_dev_queue *q;

	if (qi >= d->num_queues || d->queues[qi].enabled)
		return -EINVAL;
	q = &d->queues[qi];
	q->resume = true;
	q->avail_base = avail_base;
	q->used_base = used_base;
	return 0;
}

int vio_dev_queue_set_inflight(struct vio_dev_model *d, unsigned qi, void *log, size_t len,
			       uint16_t *scratch)
{
	struct vio_dev_queue *q;

	/* Taking a log away is always safe: a live ring keeps what it was
	 * given, and the queue goes live without one next time. */
	if (qi >= d->num_queues || (log && (d->queues[qi].enabled || !scratch)))
		return -EINVAL;
	q = &d->queues[qi];
	q->inflight = log;
	q->inflight_len = log ? len : 0;
	q->inflight_scratch = scratch;
	return 0;
}

unsigned vio_dev_queue_resubmitted(const struct vio_dev_model *d, unsigned qi)
{
	if (!vio_dev_queue_live(d, qi))
		return 0;
	return vio_devq_resubmit_pending(&d->queues[qi].vq);
}

int vio_dev_queue_enable(struct vio_dev_model *d, unsigned qi)
{
	struct vio_dev_queue *q;

	if (qi >= d->num_queues || (status_load(d) & VIO_STATUS_FAILED))
		return -EINVAL;
	q = &d->queues[qi];
	if (q->enabled)
		return 0;
	if (!vio_ring_size_valid(d->features, q->size))
		return -EINVAL;
	q->enabled = true;
	if (status_load(d) & VIO_STATUS_DRIVER_OK)
		return start_queue(d, qi);
	/* Check the rings now, so the driver learns at once; DRIVER_OK sets
	 * the queue up again (nothing was read from its memory yet). */
	return init_queue(d, qi);
}

int vio_dev_queue_stop(struct vio_dev_model *d, unsigned qi, uint16_t *avail_base,
		       uint16_t *used_base)
{
	struct vio_dev_queue *q;
	bool live;

	if (qi >= d->num_queues)
		return -EINVAL;
	q = &d->queues[qi];
	/* Nothing in flight when the bases are read: what was ends first. */
	drain_queue(d, qi);
	/* Read once: another queue's NEEDS_RESET may clear it meanwhile. */
	live = vio_dev_queue_live(d, qi);
	if (avail_base)
		*avail_base = live ? vio_devq_avail_base(&q->vq) : q->avail_base;
	if (used_base)
		*used_base = live ? vio_devq_used_base(&q->vq) : q->used_base;
	queue_set_dead(q);
	if (d->ops->queue_reset)
		d->ops->queue_reset(d, qi);
	q->enabled = false;
	q->resume = false;
	return 0;
}

int vio_dev_queue_reset(struct vio_dev_model *d, unsigned qi)
{
	struct vio_dev_queue *q;

	if (!vio_has_feature(d->features, VIO_F_RING_RESET))
		return -ENOTSUP;
	if (qi >= d->num_queues)
		return -EINVAL;
	q = &d->queues[qi];
	drain_queue(d, qi);
	queue_set_dead(q);
	if (d->ops->queue_reset)
		d->ops->queue_reset(d, qi);
	q->enabled = false;
	q->resume = false;
	q->size = q->max_size;
	memset(&q->addrs, 0, sizeof(q->addrs));
	return 0;
}

void vio_dev_notify(struct vio_dev_model *d, unsigned qi)
{
	uint8_t status = status_load(d);

	if (!vio_dev_queue_live(d, qi) || !(status & VIO_STATUS_DRIVER_OK) ||
	    (status & (VIO_STATUS_NEEDS_RESET | VIO_STATUS_FAILED)))
		return;
	d->ops->queue_notify(d, qi);
}

struct vio_devq *vio_dev_vq(struct vio_dev_model *d, unsigned qi)
{
	if (!vio_dev_queue_live(d, qi))
		return NULL;
	return &d->queues[qi].vq;
}

void vio_dev_interrupt(struct vio_dev_model *d, unsigned qi)
{
	struct vio_devq *vq = vio_dev_vq(d, qi);

	if (vq && vio_devq_need_interrupt(vq) && d->transport && d->transport->interrupt)
		d->transport->interrupt(d->transport_opaque, qi);
}

static void config_interrupt(struct vio_dev_model *d)
{
	if (d->transport && d->transport->config_interrupt)
		d->transport->config_interrupt(d->transport_opaque);
}

void vio_dev_config_changed(struct vio_dev_model *d)
{
	d->config_generation++;
	if (status_load(d) & VIO_STATUS_DRIVER_OK)
		config_interrupt(d);
}

void vio_dev_needs_reset(struct vio_dev_model *d, const char *why)
{
	vio_dev_log(d, VIO_LOG_ERR, why);
	/* Two queues' threads may both get here: one stops the queues and
	 * tells the driver. */
	if (status_or(d, VIO_STATUS_NEEDS_RESET) & VIO_STATUS_NEEDS_RESET)
		return;
	stop_queues(d);
	/* A legacy driver has no NEEDS_RESET; it still gets the interrupt. */
	config_interrupt(d);
}

int vio_dev_check(struct vio_dev_model *d, unsigned qi, int err)
{
	struct vio_devq *vq = qi < d->num_queues ? &d->queues[qi].vq : NULL;

	if (err < 0 && err != -EAGAIN && vq && vio_devq_is_stopped(vq))
		vio_dev_needs_reset(d, vio_devq_error(vq));
	return err;
}
