/*
 * rng.c - the entropy device (see vio/devices/rng.h for what it promises).
 *
 * Each kick drains the request queue: pop a chain, check it is a
 * device-writable buffer, fill its spans straight from the entropy source
 * (no bounce copy: the spans are the driver's memory as vio_devq_pop
 * mapped it), push it back with the byte count. The optional rate limit is
 * a token bucket of bytes; when it is empty the device leaves requests in
 * the ring and the caller comes back after vio_rng_dev_timeout_ms(). The
 * default source and clock are the OS's (dev_os.c).
 */
#include "vio/devices.h"

#include "dev_os.h"

#define NSEC_PER_SEC UINT64_C(1000000000)

/* A request served under the rate limit gets at least this much budget
 * (or the whole bucket, if smaller) before the device asks to be woken:
 * fewer, larger completions instead of a trickle of tiny ones. */
#define THROTTLE_CHUNK 256u

/* Consecutive EINTR/EAGAIN answers from the source before giving up on
 * one request, so that a source stuck in EAGAIN cannot hang the device. */
#define SOURCE_RETRIES 64u

/* Ring features the device may offer on the caller's request. */
#define RNG_RING_FEATURES (VIO_BIT(VIO_F_INDIRECT_DESC) | VIO_BIT(VIO_F_EVENT_IDX) | \
			   VIO_BIT(VIO_F_NOTIFY_ON_EMPTY) | VIO_BIT(VIO_F_ANY_LAYOUT) | \
			   VIO_BIT(VIO_F_RING_PACKED) | VIO_BIT(VIO_F_IN_ORDER) | \
			   VIO_BIT(VIO_F_RING_RESET))

static struct vio_rng_dev *rng_of(struct vio_dev_model *d)
{
	return d->priv;
}

/* ------------------------------------------------------------------------ */
/* Rate limit                                                               */

static uint64_t bucket_size(const struct vio_rng_dev *r)
{
	return r->rate ? r->rate : 1;
}

/* Adds the budget earned since the last top-up. A fraction of a byte is
 * not lost: the clock mark only moves when at least one byte is credited. */
static void budget_refill(struct vio_rng_dev *r)
{
	uint64_t now = r->clock(r->clock_opaque), elapsed, credit;

	if (now <= r->budget_ns)
		return;
	elapsed = now - r->budget_ns;
	if (elapsed >= NSEC_PER_SEC) {
		r->budget = bucket_size(r);
		r->budget_ns = now;
		return;
	}
	/* elapsed < 2^30 and rate < 2^32: the product fits in 64 bits. */
	credit = elapsed * r->rate / NSEC_PER_SEC;
	if (credit == 0)
		return;
	r->budget += credit;
	if (r->budget > bucket_size(r))
		r->budget = bucket_size(r);
	r->budget_ns = now;
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */

/* Fills one span; returns the bytes written (short on a source failure). */
static size_t fill_span(struct vio_rng_dev *r, uint8_t *p, size_t len)
{
	size_t got = 0;
	unsigned retries = 0;

	while (got < len) {
		ssize_t n = r->source(r->source_opaque, p + got, len - got);

		if ((n == -EINTR || n == -EAGAIN) && ++retries < SOURCE_RETRIES)
			continue;
		if (n <= 0 || (size_t)n > len - got) {
			vio_stat_inc(&r->stats.source_errors);
			vio_dev_log(&r->dev, VIO_LOG_ERR,
				    "rng: the entropy source failed; request completed short");
			break;
		}
		retries = 0;
		got += (size_t)n;
	}
	return got;
}

/* Writes up to `want` random bytes into the element's writable spans. */
static size_t fill_elem(struct vio_rng_dev *r, const struct vio_elem *e, size_t want)
{
	size_t done = 0;

	for (unsigned i = 0; i < e->in_num && done < want; i++) {
		size_t len = e->in[i].len < want - done ? e->in[i].len : want - done;
		size_t got = fill_span(r, e->in[i].base, len);

		done += got;
		if (got < len)
			break;
	}
	return done;
}

/* Bytes one request gets: 0 for a malformed one. */
static size_t serve(struct vio_rng_dev *r, const struct vio_elem *e)
{
	size_t want = e->in_len, got;

	if (e->out_num || e->out_len) {
		/* 5.4.6.1: the driver MUST NOT place device-readable buffers. */
		vio_stat_inc(&r->stats.malformed);
		vio_dev_log(&r->dev, VIO_LOG_WARN,
			    "rng: request has device-readable segments; completed with length 0");
		return 0;
	}
	if (r->rate && want > r->budget)
		want = (size_t)r->budget;
	got = fill_elem(r, e, want);
	if (r->rate)
		r->budget -= got;
	vio_stat_add(&r->stats.bytes, got);
	return got;
}

/* Serves waiting requests until the ring is empty or the budget is spent. */
static void run(struct vio_rng_dev *r)
{
	struct vio_dev_model *d = &r->dev;
	struct vio_devq *vq = vio_dev_vq(d, VIO_RNG_QUEUE_REQUEST);
	bool pushed = false;
	int err;

	if (!vq)
		return;
	for (;;) {
		size_t len;

		if (r->rate) {
			budget_refill(r);
			if (r->budget == 0) {
				/* Stopping without having seen the ring empty: with
				 * EVENT_IDX nothing would then ask the driver to kick
				 * for its next request, and a caller that sleeps
				 * while no request waits would sleep through it. */
				if (!vio_devq_kick_enable(vq))
					vio_stat_inc(&r->stats.throttled);
				break;
			}
		}
		err = vio_devq_pop(vq, &r->elem);
		if (err) {
			vio_dev_check(d, VIO_RNG_QUEUE_REQUEST, err);
			break;
		}
		len = serve(r, &r->elem);
		err = vio_devq_push(vq, &r->elem, (uint32_t)len);
		if (err) {
			vio_dev_needs_reset(d, "rng: could not return a used buffer");
			break;
		}
		vio_stat_inc(&r->stats.requests);
		pushed = true;
	}
	if (pushed)
		vio_dev_interrupt(d, VIO_RNG_QUEUE_REQUEST);
}

static void rng_queue_notify(struct vio_dev_model *d, unsigned qi)
{
	if (qi == VIO_RNG_QUEUE_REQUEST)
		run(rng_of(d));
}

static int rng_start(struct vio_dev_model *d)
{
	/* Buffers posted before DRIVER_OK got no kick that reached us. */
	run(rng_of(d));
	return 0;
}

static const struct vio_dev_ops rng_ops = {
	.version = VIO_DEV_OPS_VERSION,
	.start = rng_start,
	.queue_notify = rng_queue_notify,
};

/* ------------------------------------------------------------------------ */
/* Public                                                                   */

int vio_rng_dev_init(struct vio_rng_dev *r, const struct vio_rng_dev_opts *opts)
{
	static const struct vio_rng_dev_opts defaults;
	const struct vio_rng_dev_opts *o = opts ? opts : &defaults;
	unsigned qsize = o->queue_size ? o->queue_size : VIO_RNG_DEV_QUEUE_MAX;

	memset(r, 0, sizeof(*r));
	if (o->features & ~RNG_RING_FEATURES)
		return -EINVAL;
	if (qsize > VIO_RNG_DEV_QUEUE_MAX || !vio_ring_size_valid(0, qsize))
		return -EINVAL;

	/* The OS's getrandom(2) and CLOCK_MONOTONIC by default (dev_os.h);
	 * a freestanding build has neither, and needs the caller's. */
	r->source = o->source ? o->source : VIO__OS_RANDOM;
	r->source_opaque = o->source_opaque;
	r->clock = o->clock ? o->clock : VIO__OS_CLOCK;
	r->clock_opaque = o->clock_opaque;
	r->rate = o->rate_bytes_per_sec;
	if (!r->source || (r->rate && !r->clock)) {
		memset(r, 0, sizeof(*r));
		return -EINVAL;
	}
	if (r->rate) {
		r->budget = bucket_size(r);
		r->budget_ns = r->clock(r->clock_opaque);
	}
	r->elem.out = r->out_iov;
	r->elem.out_cap = VIO_RNG_DEV_SPANS;
	r->elem.in = r->in_iov;
	r->elem.in_cap = VIO_RNG_DEV_SPANS;

	r->queue.max_size = qsize;
	r->dev.device_id = VIO_ID_RNG;
	r->dev.host_features = VIO_BIT(VIO_F_VERSION_1) | o->features;
	r->dev.legacy_ok = o->legacy_ok;
	r->dev.queues = &r->queue;
	r->dev.num_queues = VIO_RNG_NUM_QUEUES;
	r->dev.ops = &rng_ops;
	r->dev.priv = r;
	return vio_dev_init(&r->dev);
}

void vio_rng_dev_fini(struct vio_rng_dev *r)
{
	memset(r, 0, sizeof(*r));
}

void vio_rng_dev_process(struct vio_rng_dev *r)
{
	run(r);
}

int vio_rng_dev_timeout_ms(struct vio_rng_dev *r)
{
	struct vio_devq *vq = vio_dev_vq(&r->dev, VIO_RNG_QUEUE_REQUEST);
	uint64_t target, ns, ms;

	if (!r->rate || !vq || !vio_devq_has_avail(vq))
		return -1;
	budget_refill(r);
	target = bucket_size(r) < THROTTLE_CHUNK ? bucket_size(r) : THROTTLE_CHUNK;
	if (r->budget >= target)
		return 0;
	ns = ((target - r->budget) * NSEC_PER_SEC + r->rate - 1) / r->rate;
	ms = (ns + 999999) / 1000000;
	return ms > 60000 ? 60000 : (int)(ms ? ms : 1);
}
