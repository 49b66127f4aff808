/*
 * vhost_user_backend.c - serve a libvio device to a vhost-user frontend.
 *
 * The frontend (QEMU) owns the virtio control plane the guest sees; over
 * the socket it hands us memory (fds to mmap), ring addresses in its own
 * virtual address space, the negotiated features and eventfds for kicks and
 * calls. We turn that into the calls of our device model: SET_FEATURES
 * negotiates (ACKNOWLEDGE, DRIVER, features, FEATURES_OK), a ring starts
 * when its kick fd arrives (the device goes DRIVER_OK with the first one),
 * GET_VRING_BASE stops it and reports where it was.
 *
 * Everything in a message is checked before it is used: the payload size
 * against the request, the fds against what the request carries, queue
 * indices, region arithmetic and overlaps, ring addresses against the
 * regions. A refused message gets a log line and, with REPLY_ACK, a
 * non-zero reply; only an unreadable stream drops the connection, or a
 * frontend that stops in the middle of a message or stops taking replies
 * (timeout_ms: nothing here waits on the frontend for longer).
 *
 * Locking: queue_dispatch holds the queue's lock while the device works on
 * that queue (with the locks of every queue the device type serialises it
 * with: vio_dev_queue's serial_first/serial_count, in index order). Messages that touch memory or a queue's setup take the
 * affected queue's lock, or all of them (all_lock) for memory changes, so
 * the device never runs on memory that is being unmapped, and for config
 * reads and writes, which a device may also change from a queue.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vio/transport/vhost_user_backend.h"
#include "vhost_user_codec.h"

/* Protocol features this backend implements. */
#define OUR_PROTOCOL_FEATURES                                                        \
	(VIO_BIT(VU_PROTOCOL_F_MQ) | VIO_BIT(VU_PROTOCOL_F_REPLY_ACK) |              \
	 VIO_BIT(VU_PROTOCOL_F_BACKEND_REQ) | VIO_BIT(VU_PROTOCOL_F_CONFIG) |        \
	 VIO_BIT(VU_PROTOCOL_F_RESET_DEVICE) | VIO_BIT(VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS) | \
	 VIO_BIT(VU_PROTOCOL_F_STATUS) | VIO_BIT(VU_PROTOCOL_F_INFLIGHT_SHMFD))

/* ------------------------------------------------------------------------ */
/* Logging                                                                  */

static void vlog(struct vio_vu_backend *b, enum vio_log_level level, const char *fmt, ...)
	VIO_PRINTF(3, 4);

static void vlog(struct vio_vu_backend *b, enum vio_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vio_vlogf(b->cfg.log, b->cfg.log_opaque, level, NULL, fmt, ap);
	va_end(ap);
}


/* ------------------------------------------------------------------------ */
/* Locks                                                                    */

_Static_assert(VIO_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS == VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS,
	       "the public protocol feature number is the wire's");

static unsigned nq(const struct vio_vu_backend *b)
{
	return b->dev->num_queues;
}

static void all_lock(struct vio_vu_backend *b)
{
	for (unsigned i = 0; i < nq(b); i++)
		pthread_mutex_lock(&b->queues[i].lock);
}

static void all_unlock(struct vio_vu_backend *b)
{
	for (unsigned i = nq(b); i-- > 0;)
		pthread_mutex_unlock(&b->queues[i].lock);
}

/* When the frontend's time to finish a message or take a reply runs out,
 * counted from now. */
static uint64_t deadline_ns(const struct vio_vu_backend *b)
{
	return vio__vu_deadline_ns(b->cfg.timeout_ms > 0 ? b->cfg.timeout_ms : VIO_VU_BACKEND_TIMEOUT_MS);
}

/* ------------------------------------------------------------------------ */
/* Device model plumbing                                                    */

/* The device used buffers on qi: signal the frontend's call eventfd. Runs
 * with qi's lock held (the device works on a queue only under it). The fd
 * is non-blocking (vring_fd_ok): a counter so full that one more would
 * wait is signalled already. */
static void vu_interrupt(void *opaque, unsigned qi)
{
	struct vio_vu_backend *b = opaque;
	uint64_t one = 1;

	if (qi >= nq(b) || b->queues[qi].call_fd < 0)
		return;
	vio_stat_inc(&b->queues[qi].calls);
	while (write(b->queues[qi].call_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/*
 * CONFIG_CHANGE_MSG on the backend channel, without waiting: we may run on
 * a queue's thread under its lock. A full channel is a frontend that left
 * a socket's worth of messages unread; it is dropped (both its sockets
 * shut down, so the dispatch thread sees it gone and detaches) rather than
 * allowed to hold the queue, and then every other lock, for as long as it
 * likes. Called with backend_lock held.
 */
static void send_config_change(struct vio_vu_backend *b)
{
	/* A deadline already passed: one try, no waiting. */
	int r = vio__vu_send(b->backend_fd, 0, VU_BACKEND_CONFIG_CHANGE_MSG, VU_VERSION, NULL, 0, NULL, 0);

	if (r == 0)
		return;
	if (r == -ETIMEDOUT) {
		/* Full, or (a partial message) out of step for good. */
		vlog(b, VIO_LOG_ERR, "vhost-user: the frontend does not read the backend channel: "
		     "dropping it");
		vio__vu_close_fd(&b->backend_fd);
		if (b->sock >= 0)
			shutdown(b->sock, SHUT_RDWR);
		return;
	}
	vlog(b, VIO_LOG_WARN, "vhost-user: could not send CONFIG_CHANGE_MSG: %s", vio_strerror(r));
}

/* Config change (or NEEDS_RESET): tell the frontend on the backend channel,
 * and signal the error fds of rings that stopped. */
static void vu_config_interrupt(void *opaque)
{
	struct vio_vu_backend *b = opaque;
	uint64_t one = 1;

	/* backend_lock also guards the err fds (we may run on one queue's
	 * thread while another queue's SET_VRING_ERR replaces its fd), the
	 * backend channel and, for writes, the socket. */
	pthread_mutex_lock(&b->backend_lock);
	if (vio_dev_get_status(b->dev) & VIO_STATUS_NEEDS_RESET) {
		for (unsigned i = 0; i < nq(b); i++)
			if (b->queues[i].err_fd >= 0)
				(void)!write(b->queues[i].err_fd, &one, sizeof(one));
	}
	if (b->backend_fd >= 0 && (b->protocol_features & VIO_BIT(VU_PROTOCOL_F_CONFIG)))
		send_config_change(b);
	pthread_mutex_unlock(&b->backend_lock);
}

static const struct vio_dev_transport vu_dev_transport = {
	.version = VIO_DEV_TRANSPORT_VERSION,
	.interrupt = vu_interrupt,
	.config_interrupt = vu_config_interrupt,
};

/* ------------------------------------------------------------------------ */
/* Memory                                                                   */

/* The mapping that holds frontend user address [ua, ua + len), or NULL. */
static const struct vio_vu_mapping *map_of_ua(const struct vio_vu_backend *b, uint64_t ua, uint64_t len)
{
	for (unsigned i = 0; i < b->nmaps; i++) {
		const struct vio_vu_mapping *m = &b->maps[i];

		if (ua >= m->user_addr && ua - m->user_addr < m->size &&
		    len <= m->size - (ua - m->user_addr))
			return m;
	}
	return NULL;
}

/* Frontend user address -> guest address (what our vio_mem is keyed on). */
static int ua_to_gpa(const struct vio_vu_backend *b, uint64_t ua, uint64_t len, uint64_t *gpa)
{
	const struct vio_vu_mapping *m = map_of_ua(b, ua, len ? len : 1);

	if (!m)
		return -EFAULT;
	*gpa = m->guest_addr + (ua - m->user_addr);
	return 0;
}

static void unmap_one(struct vio_vu_mapping *m)
{
	if (m->map)
		munmap(m->map, m->map_len);
	memset(m, 0, sizeof(*m));
}

static void unmap_all(struct vio_vu_backend *b)
{
	for (unsigned i = 0; i < b->nmaps; i++)
		unmap_one(&b->maps[i]);
	b->nmaps = 0;
	vio_mem_clear(&b->mem);
}

/*
 * Checks one region description against itself and the table, maps it
 * from fd and adds it. The fd is not closed here.
 *
 * share (ADD_MEM_REG): a region identical to a mapped one (guest address,
 * size, user address, mmap offset) whose fd is the same file (st_dev and
 * st_ino) takes a reference on it instead. QEMU drives a multiqueue
 * vhost-user-net device as one vhost device per queue pair on the same
 * socket, and with CONFIGURE_MEM_SLOTS each of them sends ADD_MEM_REG for
 * every region (vhost-user.rst says nothing either way). Anything less than
 * identical that overlaps is still refused, and so is a table
 * (SET_MEM_TABLE) that names a region twice.
 */
static int map_region(struct vio_vu_backend *b, const struct vu_mem_region *r, int fd, bool share)
{
	struct vio_vu_mapping *m;
	struct stat st;
	uint64_t len;
	void *p;
	int err;

	if (r->size == 0 || r->guest_addr + (r->size - 1) < r->guest_addr ||
	    r->user_addr + (r->size - 1) < r->user_addr ||
	    r->mmap_offset + r->size < r->mmap_offset || r->mmap_offset + r->size > SIZE_MAX)
		return -EINVAL;
	if (fstat(fd, &st))
		return -errno;
	for (unsigned i = 0; i < b->nmaps; i++) {
		struct vio_vu_mapping *o = &b->maps[i];

		if (share && o->guest_addr == r->guest_addr && o->size == r->size &&
		    o->user_addr == r->user_addr && o->mmap_offset == r->mmap_offset &&
		    o->file_dev == (uint64_t)st.st_dev && o->file_ino == (uint64_t)st.st_ino) {
			if (o->refs == UINT_MAX)
				return -ENOSPC;
			o->refs++;
			vlog(b, VIO_LOG_INFO, "vhost-user: ADD_MEM_REG of mapped region (guest %#llx, "
			     "%llu bytes) again: %u users", (unsigned long long)o->guest_addr,
			     (unsigned long long)o->size, o->refs);
			return 0;
		}
		if (r->user_addr <= o->user_addr + (o->size - 1) &&
		    o->user_addr <= r->user_addr + (r->size - 1))
			return -EEXIST;         /* user ranges overlap */
	}
	/* Only distinct regions count against the slots. */
	if (b->nmaps >= VIO_VU_MAX_MEM_SLOTS)
		return -ENOSPC;
	len = r->mmap_offset + r->size;
	/* Pages past the end of a file map fine but fault (SIGBUS) when
	 * touched: the region must lie inside its file. */
	if (S_ISREG(st.st_mode) && len > (uint64_t)st.st_size)
		return -EINVAL;
	p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	err = vio_mem_add(&b->mem, r->guest_addr, r->size, (uint8_t *)p + r->mmap_offset);
	if (err) {
		munmap(p, (size_t)len);
		return err;             /* guest ranges overlap, or similar */
	}
	m = &b->maps[b->nmaps++];
	m->guest_addr = r->guest_addr;
	m->size = r->size;
	m->user_addr = r->user_addr;
	m->mmap_offset = r->mmap_offset;
	m->refs = 1;
	m->file_dev = (uint64_t)st.st_dev;
	m->file_ino = (uint64_t)st.st_ino;
	m->map = p;
	m->map_len = (size_t)len;
	m->host = (uint8_t *)p + r->mmap_offset;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Rings                                                                    */

static bool protocol_features_on(const struct vio_vu_backend *b)
{
	return vio_has_feature(b->acked_features, VU_F_PROTOCOL_FEATURES);
}

/* ------------------------------------------------------------------------ */
/* Inflight log                                                             */

static bool packed_negotiated(const struct vio_vu_backend *b)
{
	return vio_has_feature(b->dev->features, VIO_F_RING_PACKED);
}

static void inflight_release(struct vio_vu_backend *b)
{
	if (b->inflight_map)
		munmap(b->inflight_map, b->inflight_map_len);
	b->inflight_map = NULL;
	b->inflight_map_len = 0;
	b->inflight = NULL;
	b->inflight_queues = b->inflight_queue_size = 0;
	for (unsigned i = 0; i < nq(b); i++)
		(void)vio_dev_queue_set_inflight(b->dev, i, NULL, 0, b->queues[i].inflight_scratch);
}

/* Gives ring qi its region of the log, if there is a log. Called with qi's
 * lock held, before the ring starts. */
static int inflight_attach(struct vio_vu_backend *b, unsigned qi)
{
	uint16_t *scratch = b->queues[qi].inflight_scratch;
	int r = vio_dev_queue_set_inflight(b->dev, qi, NULL, 0, scratch);

	if (r || !b->inflight)
		return r;
	if (b->inflight_packed != packed_negotiated(b)) {
		vlog(b, VIO_LOG_ERR, "vhost-user: ring %u: the inflight log was made for %s rings",
		     qi, b->inflight_packed ? "packed" : "split");
		return -EINVAL;
	}
	if (qi >= b->inflight_queues || b->queues[qi].num > b->inflight_queue_size) {
		/* QEMU sizes the log from its queue-size property, but a
		 * virtio-mmio guest may pick a larger ring (1024): the ring
		 * runs, untracked, rather than leaving the guest hung. */
		vlog(b, VIO_LOG_WARN, "vhost-user: ring %u (size %u) is not covered by the inflight log "
		     "(%u queues of %u): it runs without one, and a restart would lose what it has "
		     "in flight", qi, b->queues[qi].num, b->inflight_queues, b->inflight_queue_size);
		return 0;
	}
	return vio_dev_queue_set_inflight(b->dev, qi, b->inflight + (size_t)qi * b->inflight_stride,
					  b->inflight_stride, scratch);
}

/* Checks num_queues and queue_size of a GET/SET_INFLIGHT_FD against the
 * device. */
static bool inflight_geometry_ok(struct vio_vu_backend *b, const struct vu_inflight *in, const char *what)
{
	if (in->num_queues == 0 || in->num_queues > nq(b) || in->queue_size == 0) {
		vlog(b, VIO_LOG_ERR, "vhost-user: %s for %u queues of %u (the device has %u)", what,
		     in->num_queues, in->queue_size, nq(b));
		return false;
	}
	for (unsigned i = 0; i < in->num_queues; i++) {
		if (in->queue_size > b->dev->queues[i].max_size) {
			vlog(b, VIO_LOG_ERR, "vhost-user: %s queue size %u above ring %u's maximum %u", what,
			     in->queue_size, i, b->dev->queues[i].max_size);
			return false;
		}
	}
	return true;
}

/* The log may change only while no ring uses it. */
static bool rings_idle(struct vio_vu_backend *b, const char *what)
{
	for (unsigned i = 0; i < nq(b); i++) {
		if (vio_dev_queue_live(b->dev, i)) {
			vlog(b, VIO_LOG_ERR, "vhost-user: %s while ring %u runs", what, i);
			return false;
		}
	}
	return true;
}

/* Takes map (len bytes, the log at offset off) as the log. */
static void inflight_install(struct vio_vu_backend *b, void *map, size_t len, size_t off,
			     const struct vu_inflight *in)
{
	vlog(b, VIO_LOG_INFO, "vhost-user: inflight log for %u %s queues of %u", in->num_queues,
	     packed_negotiated(b) ? "packed" : "split", in->queue_size);
	all_lock(b);
	inflight_release(b);
	b->inflight_map = map;
	b->inflight_map_len = len;
	b->inflight = (uint8_t *)map + off;
	b->inflight_stride = vio_inflight_queue_bytes(packed_negotiated(b), in->queue_size);
	b->inflight_packed = packed_negotiated(b);
	b->inflight_queues = in->num_queues;
	b->inflight_queue_size = in->queue_size;
	all_unlock(b);
}

/*
 * The locks for a message on ring qi: its own, or, when the message may
 * start the ring (may_start) before the device is DRIVER_OK, every queue's:
 * the first ring to start sets DRIVER_OK, which starts every enabled queue
 * and calls the device type's start() (core.h: a call that touches every
 * queue holds every lock). Only this thread sets or clears DRIVER_OK, so
 * the choice holds until ring_unlock(). Returns what to pass it.
 */
static bool ring_lock(struct vio_vu_backend *b, unsigned qi, bool may_start)
{
	if (may_start && !(vio_dev_get_status(b->dev) & VIO_STATUS_DRIVER_OK)) {
		all_lock(b);
		return true;
	}
	pthread_mutex_lock(&b->queues[qi].lock);
	return false;
}

static void ring_unlock(struct vio_vu_backend *b, unsigned qi, bool all)
{
	if (all)
		all_unlock(b);
	else
		pthread_mutex_unlock(&b->queues[qi].lock);
}

/* Starts queue qi in the device model if it is started and enabled.
 * Called with qi's lock held, or every lock (ring_lock). */
static int ring_start(struct vio_vu_backend *b, unsigned qi)
{
	struct vio_vu_queue *vq = &b->queues[qi];
	struct vio_dev_model *d = b->dev;
	struct vio_ring_addrs a;
	bool packed = vio_has_feature(d->features, VIO_F_RING_PACKED);
	uint16_t used_base;
	int r;

	if (vio_dev_queue_live(d, qi)) {
		/* Enabled again: kicks that came while it was disabled were
		 * drained without running the device. */
		if (vq->started && vq->enabled)
			d->ops->queue_notify(d, qi);
		return 0;
	}
	if (!vq->started || !vq->enabled)
		return 0;
	if (!b->features_set || !vq->addr_set || vq->num == 0) {
		vlog(b, VIO_LOG_ERR, "vhost-user: ring %u started before features, size and addresses", qi);
		return -EPROTO;
	}
	if (ua_to_gpa(b, vq->desc_ua, vio_ring_desc_bytes(d->features, vq->num), &a.desc) ||
	    ua_to_gpa(b, vq->avail_ua, vio_ring_driver_bytes(d->features, vq->num), &a.driver) ||
	    ua_to_gpa(b, vq->used_ua, vio_ring_device_bytes(d->features, vq->num), &a.device)) {
		vlog(b, VIO_LOG_ERR, "vhost-user: ring %u addresses are outside the memory table", qi);
		return -EFAULT;
	}
	r = vio_dev_queue_set(d, qi, vq->num, &a);
	if (r) {
		vlog(b, VIO_LOG_ERR, "vhost-user: ring %u: size %u refused", qi, vq->num);
		return r;
	}
	r = inflight_attach(b, qi);
	if (r)
		return r;
	if (packed && !vq->base_set)
		vq->base = 0x80008000u;         /* a fresh ring: wrap counters 1 */
	if (packed) {
		/* Packed bases carry the avail position and wrap counter in the
		 * low 16 bits and the used ones in the high 16 (QEMU's
		 * encoding); a frontend that sends only the low half restarts
		 * with everything before the avail position used. */
		used_base = (vq->base >> 16) ? (uint16_t)(vq->base >> 16) : (uint16_t)vq->base;
	} else {
		vio_le16 idx;

		/* Split: the used index lives in the ring. */
		if (vio_mem_read(&b->mem, a.device + 2, &idx, sizeof(idx)))
			return -EFAULT;
		used_base = vio_get16(d->legacy, idx);
	}
	r = vio_dev_queue_resume(d, qi, (uint16_t)vq->base, used_base);
	if (!r)
		r = vio_dev_queue_enable(d, qi);
	if (r)
		return r;
	/* The first ring sets DRIVER_OK, which starts every enabled queue:
	 * the caller holds every queue lock then (ring_lock). */
	if (!(vio_dev_get_status(d) & VIO_STATUS_DRIVER_OK))
		vio_dev_set_status(d, (uint8_t)(vio_dev_get_status(d) | VIO_STATUS_DRIVER_OK));
	if (!vio_dev_queue_live(d, qi)) {
		vlog(b, VIO_LOG_ERR, "vhost-user: ring %u could not start", qi);
		return -EIO;
	}
	if (vio_dev_queue_resubmitted(d, qi))
		vlog(b, VIO_LOG_INFO, "vhost-user: ring %u: %u requests in flight before the restart, "
		     "resubmitted from the inflight log", qi, vio_dev_queue_resubmitted(d, qi));
	/* Buffers may have been posted before the kick fd arrived. */
	d->ops->queue_notify(d, qi);
	return 0;
}

/* Stops queue qi; returns the base to report (packed: avail | used << 16).
 * Called with qi's lock held. */
static uint32_t ring_stop(struct vio_vu_backend *b, unsigned qi)
{
	struct vio_vu_queue *vq = &b->queues[qi];
	uint16_t avail = (uint16_t)vq->base, used = (uint16_t)(vq->base >> 16);

	if (vio_dev_queue_live(b->dev, qi)) {
		vio_dev_queue_stop(b->dev, qi, &avail, &used);
		vq->base = vio_has_feature(b->dev->features, VIO_F_RING_PACKED) ?
			   (uint32_t)avail | (uint32_t)used << 16 : avail;
		vq->base_set = true;
	} else {
		vio_dev_queue_stop(b->dev, qi, NULL, NULL);
	}
	vq->started = false;
	vq->polling = false;
	vio__vu_close_fd(&vq->kick_fd);
	return vq->base;
}

static void rings_reset(struct vio_vu_backend *b)
{
	for (unsigned i = 0; i < nq(b); i++) {
		struct vio_vu_queue *vq = &b->queues[i];

		ring_stop(b, i);
		vio__vu_close_fd(&vq->call_fd);
		pthread_mutex_lock(&b->backend_lock);   /* see vu_config_interrupt */
		vio__vu_close_fd(&vq->err_fd);
		pthread_mutex_unlock(&b->backend_lock);
		vq->enabled = false;
		vq->addr_set = false;
		vq->num = 0;
		vq->base = 0;
		vq->base_set = false;
	}
}

/* ------------------------------------------------------------------------ */
/* Message I/O                                                              */

struct msg {
	struct vu_header hdr;
	union vu_payload p;
	int fds[VU_MAX_FDS];
	unsigned nfds;          /* how many came (those past VU_MAX_FDS closed) */
};

static void msg_close_fds(struct msg *m)
{
	for (unsigned i = 0; i < m->nfds && i < VU_MAX_FDS; i++)
		vio__vu_close_fd(&m->fds[i]);
	m->nfds = 0;
}

/* Takes fd i out of the message (the handler now owns it). */
static int msg_take_fd(struct msg *m, unsigned i)
{
	int fd = m->fds[i];

	m->fds[i] = -1;
	return fd;
}

/* Reads one message: waiting for it is unbounded, the rest of it must
 * come within timeout_ms of its first byte. */
static int recv_msg(struct vio_vu_backend *b, struct msg *m)
{
	struct vu_fd_sink sink = { m->fds, VU_MAX_FDS, 0, false };
	uint64_t deadline = 0;
	int r;

	r = vio__vu_recv(b->sock, &m->hdr, &m->p, sizeof(m->p), &sink,
		    &deadline, b->cfg.timeout_ms > 0 ? b->cfg.timeout_ms : VIO_VU_BACKEND_TIMEOUT_MS);
	m->nfds = sink.n;
	if (r == -ETIMEDOUT)
		vlog(b, VIO_LOG_ERR, "vhost-user: the frontend stopped in the middle of a "
		     "message: dropping it");
	if (sink.truncated && (r == 0 || r == -EPROTO || r == -EMSGSIZE))
		vlog(b, VIO_LOG_WARN, "vhost-user: too many fds with %s", vio__vu_request_name(m->hdr.request));
	if (r == -EPROTO)
		vlog(b, VIO_LOG_ERR, "vhost-user: message version %u, expected 1", m->hdr.flags & VU_VERSION_MASK);
	/* Too large: we cannot find the next message boundary without
	 * reading an arbitrary amount, so the stream is no longer
	 * trustworthy. */
	if (r == -EMSGSIZE)
		vlog(b, VIO_LOG_ERR, "vhost-user: %s payload of %u bytes is too large",
		     vio__vu_request_name(m->hdr.request), m->hdr.size);
	if (r) {
		msg_close_fds(m);
		return -ECONNRESET;
	}
	return 0;
}

/*
 * Sends a reply (with at most one fd). The socket may be full: a frontend
 * that does not read its replies gets timeout_ms to make room, and is then
 * taken as gone, rather than holding this thread (and with it the signals,
 * the next frontend, a daemon's shutdown) forever.
 */
static int send_reply(struct vio_vu_backend *b, const struct msg *req, const void *payload,
		      uint32_t size, const int *fds, unsigned nfds)
{
	int r = vio__vu_send(b->sock, deadline_ns(b), req->hdr.request, VU_VERSION | VU_FLAG_REPLY,
			payload, size, fds, nfds);

	if (r == -ETIMEDOUT)
		vlog(b, VIO_LOG_ERR, "vhost-user: the frontend does not read its replies: "
		     "dropping it");
	return r ? -ECONNRESET : 0;
}

static int reply_u64(struct vio_vu_backend *b, const struct msg *req, uint64_t v)
{
	return send_reply(b, req, &v, sizeof(v), NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* Validation helpers                                                       */

/* Is queue index i valid? Logs if not. */
static bool queue_ok(struct vio_vu_backend *b, const struct msg *m, uint32_t i)
{
	if (i < nq(b))
		return true;
	vlog(b, VIO_LOG_ERR, "vhost-user: %s for queue %u, the device has %u",
	     vio__vu_request_name(m->hdr.request), i, nq(b));
	return false;
}

/* ------------------------------------------------------------------------ */
/* Handlers: each returns 0 (done), a negative errno (refused), or 1 when it
 * already sent its own reply. */

static int do_set_features(struct vio_vu_backend *b, uint64_t f)
{
	struct vio_dev_model *d = b->dev;
	uint64_t dev_f = f & ~VIO_BIT(VU_F_PROTOCOL_FEATURES);
	int r;

	if (f & ~(d->host_features | VIO_BIT(VU_F_PROTOCOL_FEATURES))) {
		vlog(b, VIO_LOG_ERR, "vhost-user: SET_FEATURES %#llx has bits we never offered (%#llx)",
		     (unsigned long long)f, (unsigned long long)(f & ~d->host_features));
		return -EINVAL;
	}
	if (b->features_set && dev_f == d->features && b->acked_features == f)
		return 0;       /* unchanged (QEMU repeats it) */
	/* The device model's own rules, before anything is reset. */
	if (!vio_has_feature(dev_f, VIO_F_VERSION_1) &&
	    (!d->legacy_ok || vio_has_feature(dev_f, VIO_F_RING_PACKED))) {
		vlog(b, VIO_LOG_ERR, "vhost-user: SET_FEATURES %#llx without VERSION_1 refused",
		     (unsigned long long)f);
		return -EINVAL;
	}
	for (unsigned i = 0; i < nq(b); i++) {
		if (vio_dev_queue_live(d, i)) {
			vlog(b, VIO_LOG_ERR, "vhost-user: SET_FEATURES changes features while ring %u runs", i);
			return -EBUSY;
		}
	}
	all_lock(b);
	vio_dev_set_status(d, 0);
	vio_dev_set_status(d, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER);
	r = vio_dev_set_features(d, dev_f);
	if (r == 0 && !d->legacy) {
		vio_dev_set_status(d, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER | VIO_STATUS_FEATURES_OK);
		if (!(vio_dev_get_status(d) & VIO_STATUS_FEATURES_OK))
			r = -EINVAL;
	}
	all_unlock(b);
	if (r) {
		vlog(b, VIO_LOG_ERR, "vhost-user: the device refused features %#llx", (unsigned long long)dev_f);
		return r;
	}
	b->acked_features = f;
	b->features_set = true;
	/* Without protocol features, rings start enabled. */
	for (unsigned i = 0; i < nq(b); i++)
		if (!protocol_features_on(b))
			b->queues[i].enabled = true;
	return 0;
}

static int do_set_mem_table(struct vio_vu_backend *b, struct msg *m)
{
	const struct vu_mem_table *t = &m->p.mem;
	int r = 0;

	if (!vio__vu_size_ok(&vio__vu_request_row(VU_SET_MEM_TABLE)->size, m->hdr.size, &m->p)) {
		vlog(b, VIO_LOG_ERR, "vhost-user: SET_MEM_TABLE with %u regions in %u bytes",
		     m->hdr.size >= 8 ? t->nregions : 0, m->hdr.size);
		return -EINVAL;
	}
	all_lock(b);
	/* Requests in flight point into the memory about to go: they end
	 * first. */
	vio_dev_drain(b->dev);
	unmap_all(b);
	for (unsigned i = 0; i < t->nregions && r == 0; i++) {
		r = map_region(b, &t->regions[i], m->fds[i], false);
		if (r)
			vlog(b, VIO_LOG_ERR, "vhost-user: SET_MEM_TABLE region %u (guest %#llx, %llu bytes) refused: %s",
			     i, (unsigned long long)t->regions[i].guest_addr,
			     (unsigned long long)t->regions[i].size, vio_strerror(r));
	}
	if (r)
		unmap_all(b);
	/* Rings that run keep running only if their memory is still there. */
	for (unsigned i = 0; i < nq(b); i++) {
		if (vio_dev_queue_live(b->dev, i)) {
			struct vio_vu_queue *vq = &b->queues[i];
			int kick = vq->kick_fd;
			bool polling = vq->polling;

			/* Restart on the new table, listening to the same kicks. */
			vq->kick_fd = -1;
			ring_stop(b, i);
			vq->kick_fd = kick;
			vq->polling = polling;
			vq->started = true;
			if (ring_start(b, i))
				vio_dev_needs_reset(b->dev, "ring memory went away in SET_MEM_TABLE");
		}
	}
	all_unlock(b);
	return r;
}

static int do_add_mem_reg(struct vio_vu_backend *b, struct msg *m)
{
	int r;

	all_lock(b);
	r = map_region(b, &m->p.mem_reg.region, m->fds[0], true);
	all_unlock(b);
	if (r)
		vlog(b, VIO_LOG_ERR, "vhost-user: ADD_MEM_REG refused: %s", vio_strerror(r));
	return r;
}

static int do_rem_mem_reg(struct vio_vu_backend *b, struct msg *m)
{
	const struct vu_mem_region *r = &m->p.mem_reg.region;

	all_lock(b);
	for (unsigned i = 0; i < b->nmaps; i++) {
		struct vio_vu_mapping *mp = &b->maps[i];

		if (mp->guest_addr != r->guest_addr || mp->user_addr != r->user_addr || mp->size != r->size)
			continue;
		/* Another vhost device on this socket still has it (map_region). */
		if (mp->refs > 1) {
			mp->refs--;
			all_unlock(b);
			return 0;
		}
		/* A running ring must not lose its memory. */
		for (unsigned q = 0; q < nq(b); q++) {
			const struct vio_dev_queue *dq = &b->dev->queues[q];
			const uint64_t a[3] = { dq->addrs.desc, dq->addrs.driver, dq->addrs.device };

			for (unsigned k = 0; k < 3 && vio_dev_queue_live(b->dev, q); k++)
				if (a[k] - mp->guest_addr < mp->size)
					vio_dev_needs_reset(b->dev, "REM_MEM_REG of a running ring's memory");
		}
		vio_dev_drain(b->dev);  /* nothing in flight may point into it */
		vio_mem_remove(&b->mem, mp->guest_addr, mp->size);
		unmap_one(mp);
		b->maps[i] = b->maps[--b->nmaps];
		memset(&b->maps[b->nmaps], 0, sizeof(b->maps[0]));
		all_unlock(b);
		return 0;
	}
	all_unlock(b);
	vlog(b, VIO_LOG_ERR, "vhost-user: REM_MEM_REG of a region we do not have");
	return -ENOENT;
}

/* Does the kernel say this eventfd counts as a semaphore (fdinfo)? Kernels
 * that do not say get the benefit of the doubt. */
static bool eventfd_semaphore(int fd)
{
	char path[48], buf[512];
	const char *p;
	ssize_t n;
	int f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return false;
	n = read(f, buf, sizeof(buf) - 1);
	close(f);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	p = strstr(buf, "eventfd-semaphore:");
	return p && strtol(p + strlen("eventfd-semaphore:"), NULL, 10) == 1;
}

/*
 * Kick, call and error fds must be eventfds. Anything else could block a
 * read or a write for as long as the frontend likes (a pipe nobody
 * drains, a file on a filesystem it serves) or stay readable with nothing
 * to read (a pipe at end of file, a timerfd), and a kick eventfd in
 * semaphore mode stays readable through 2^64 reads: each holds up or spins
 * the queue's thread. The fd is made non-blocking, since the frontend may
 * have made it without EFD_NONBLOCK; the flag is shared with the frontend,
 * which may clear it again, so kick reads also ask for RWF_NOWAIT.
 */
static int vring_fd_ok(struct vio_vu_backend *b, const struct msg *m, int fd)
{
	const char *what = vio__vu_request_name(m->hdr.request);
	char path[48], link[32];
	struct stat st;
	ssize_t n;
	int fl;

	/* An eventfd is an anonymous inode, which has no file type ... */
	if (fstat(fd, &st) || (st.st_mode & S_IFMT))
		goto refuse;
	/* ... and /proc, where there is one, says which kind. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n >= 0) {
		link[n] = '\0';
		if (strcmp(link, "anon_inode:[eventfd]"))
			goto refuse;
	}
	if (m->hdr.request == VU_SET_VRING_KICK && eventfd_semaphore(fd)) {
		vlog(b, VIO_LOG_ERR, "vhost-user: %s with a semaphore eventfd refused", what);
		return -EINVAL;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0))
		goto refuse;
	return 0;
refuse:
	vlog(b, VIO_LOG_ERR, "vhost-user: %s with an fd that is not an eventfd refused", what);
	return -EINVAL;
}

static int do_vring_fd(struct vio_vu_backend *b, struct msg *m)
{
	unsigned qi = (unsigned)(m->p.u64 & VU_VRING_IDX_MASK);
	bool nofd = m->p.u64 & VU_VRING_NOFD;
	struct vio_vu_queue *vq;
	int fd, r = 0;
	bool all;

	if (m->p.u64 & ~(uint64_t)(VU_VRING_IDX_MASK | VU_VRING_NOFD)) {
		vlog(b, VIO_LOG_ERR, "vhost-user: %s with unknown bits %#llx",
		     vio__vu_request_name(m->hdr.request), (unsigned long long)m->p.u64);
		return -EINVAL;
	}
	if (!queue_ok(b, m, qi))
		return -EINVAL;
	if (!nofd && (r = vring_fd_ok(b, m, m->fds[0])) < 0)
		return r;       /* the fd is closed with the message */
	vq = &b->queues[qi];
	fd = nofd ? -1 : msg_take_fd(m, 0);
	all = ring_lock(b, qi, m->hdr.request == VU_SET_VRING_KICK);
	switch (m->hdr.request) {
	case VU_SET_VRING_KICK:
		vio__vu_close_fd(&vq->kick_fd);
		vq->kick_fd = fd;
		vq->polling = nofd;
		vq->started = true;
		r = ring_start(b, qi);
		break;
	case VU_SET_VRING_CALL:
		vio__vu_close_fd(&vq->call_fd);
		vq->call_fd = fd;
		break;
	default:
		pthread_mutex_lock(&b->backend_lock);   /* see vu_config_interrupt */
		vio__vu_close_fd(&vq->err_fd);
		vq->err_fd = fd;
		pthread_mutex_unlock(&b->backend_lock);
		break;
	}
	ring_unlock(b, qi, all);
	if (m->hdr.request == VU_SET_VRING_KICK && b->cfg.queues_changed)
		b->cfg.queues_changed(b->cfg.opaque);
	return r;
}

static int do_vring_state(struct vio_vu_backend *b, struct msg *m)
{
	const struct vu_vring_state *s = &m->p.state;
	struct vio_vu_queue *vq;
	int r = 0;
	bool all;

	if (!queue_ok(b, m, s->index))
		return -EINVAL;
	vq = &b->queues[s->index];
	all = ring_lock(b, s->index, m->hdr.request == VU_SET_VRING_ENABLE && s->num == 1);
	switch (m->hdr.request) {
	case VU_SET_VRING_NUM:
		if (vio_dev_queue_live(b->dev, s->index) || s->num == 0 ||
		    s->num > b->dev->queues[s->index].max_size) {
			vlog(b, VIO_LOG_ERR, "vhost-user: SET_VRING_NUM %u for ring %u (max %u)%s", s->num,
			     s->index, b->dev->queues[s->index].max_size,
			     vio_dev_queue_live(b->dev, s->index) ? " while it runs" : "");
			r = -EINVAL;
		} else {
			vq->num = s->num;
		}
		break;
	case VU_SET_VRING_BASE:
		/* Split: a 16-bit index. Packed: two 16-bit position|wrap halves. */
		if (vio_dev_queue_live(b->dev, s->index) ||
		    (!vio_has_feature(b->dev->features, VIO_F_RING_PACKED) && s->num > UINT16_MAX)) {
			vlog(b, VIO_LOG_ERR, "vhost-user: SET_VRING_BASE %u for ring %u refused", s->num, s->index);
			r = -EINVAL;
		} else {
			vq->base = s->num;
			vq->base_set = true;
		}
		break;
	case VU_SET_VRING_ENABLE:
		if (s->num > 1) {
			vlog(b, VIO_LOG_ERR, "vhost-user: SET_VRING_ENABLE %u for ring %u", s->num, s->index);
			r = -EINVAL;
			break;
		}
		vq->enabled = s->num == 1;
		if (vq->enabled)
			r = ring_start(b, s->index);
		break;
	case VU_VRING_KICK:
		/* In-band kicks are not offered; accept them as kicks anyway. */
		if (vio_dev_queue_live(b->dev, s->index))
			vio_dev_notify(b->dev, s->index);
		break;
	default: /* VU_GET_VRING_BASE */
		{
			struct vu_vring_state st = { s->index, ring_stop(b, s->index) };

			ring_unlock(b, s->index, all);
			if (b->cfg.queues_changed)
				b->cfg.queues_changed(b->cfg.opaque);
			return send_reply(b, m, &st, sizeof(st), NULL, 0) ? -ECONNRESET : 1;
		}
	}
	ring_unlock(b, s->index, all);
	return r;
}

static int do_vring_addr(struct vio_vu_backend *b, struct msg *m)
{
	const struct vu_vring_addr *a = &m->p.addr;
	struct vio_vu_queue *vq;

	if (!queue_ok(b, m, a->index))
		return -EINVAL;
	if (a->flags & ~1u) {
		vlog(b, VIO_LOG_ERR, "vhost-user: SET_VRING_ADDR flags %#x", a->flags);
		return -EINVAL;
	}
	vq = &b->queues[a->index];
	pthread_mutex_lock(&vq->lock);
	if (vio_dev_queue_live(b->dev, a->index)) {
		pthread_mutex_unlock(&vq->lock);
		vlog(b, VIO_LOG_ERR, "vhost-user: SET_VRING_ADDR for running ring %u", a->index);
		return -EBUSY;
	}
	/* Checked against the memory table when the ring starts. */
	vq->desc_ua = a->desc;
	vq->used_ua = a->used;
	vq->avail_ua = a->avail;
	vq->addr_set = true;
	pthread_mutex_unlock(&vq->lock);
	return 0;
}

static int do_get_config(struct vio_vu_backend *b, struct msg *m)
{
	struct vu_config c = m->p.config;
	int r;

	if (!vio__vu_size_ok(&vio__vu_request_row(VU_GET_CONFIG)->size, m->hdr.size, &m->p)) {
		vlog(b, VIO_LOG_ERR, "vhost-user: GET_CONFIG of %u bytes in a %u-byte message",
		     m->hdr.size >= VU_CONFIG_HDR ? c.size : 0, m->hdr.size);
		c.size = 0;
		return send_reply(b, m, &c, VU_CONFIG_HDR, NULL, 0) ? -ECONNRESET : 1;
	}
	/* Every queue lock, as for SET_CONFIG: a device type may change its
	 * config bytes while it processes a queue (the net device's control
	 * queue: MAC_ADDR_SET, ANNOUNCE_ACK), on that queue's thread under its
	 * lock, and the reply must not see them half rewritten. */
	all_lock(b);
	r = vio_dev_config_read(b->dev, c.offset, c.data, c.size);
	all_unlock(b);
	if (r) {
		vlog(b, VIO_LOG_ERR, "vhost-user: GET_CONFIG [%u, +%u) outside config space (%u bytes)",
		     c.offset, c.size, b->dev->config_len);
		c.size = 0;
		return send_reply(b, m, &c, VU_CONFIG_HDR, NULL, 0) ? -ECONNRESET : 1;
	}
	return send_reply(b, m, &c, VU_CONFIG_HDR + c.size, NULL, 0) ? -ECONNRESET : 1;
}

static int do_set_config(struct vio_vu_backend *b, struct msg *m)
{
	const struct vu_config *c = &m->p.config;
	int r;

	if (!vio__vu_size_ok(&vio__vu_request_row(VU_SET_CONFIG)->size, m->hdr.size, &m->p) || c->flags > 1) {
		vlog(b, VIO_LOG_ERR, "vhost-user: malformed SET_CONFIG");
		return -EINVAL;
	}
	/* Control-plane calls never overlap queue processing (core.h). */
	all_lock(b);
	r = vio_dev_config_write(b->dev, c->offset, c->data, c->size);
	all_unlock(b);
	if (r)
		vlog(b, VIO_LOG_ERR, "vhost-user: SET_CONFIG [%u, +%u) refused: %s", c->offset, c->size,
		     vio_strerror(r));
	return r;
}

/*
 * GET_INFLIGHT_FD: a new zeroed log in a memfd, each queue's header
 * initialised; the frontend keeps the fd and hands it to the next backend.
 * We use it at once, as if SET_INFLIGHT_FD had followed. A request we
 * cannot serve gets mmap_size 0 and no fd, which QEMU takes as "no
 * inflight tracking".
 */
static int do_get_inflight(struct vio_vu_backend *b, struct msg *m)
{
	struct vu_inflight in = m->p.inflight;
	size_t stride, len;
	void *map = MAP_FAILED;
	int fd = -1, r;

	in.mmap_size = 0;
	in.mmap_offset = 0;
	if (!inflight_geometry_ok(b, &in, "GET_INFLIGHT_FD") || !rings_idle(b, "GET_INFLIGHT_FD"))
		goto refuse;
	stride = vio_inflight_queue_bytes(packed_negotiated(b), in.queue_size);
	len = stride * in.num_queues;
	fd = memfd_create("vio-inflight", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)len) ||
	    (map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		vlog(b, VIO_LOG_ERR, "vhost-user: GET_INFLIGHT_FD: no memory for the log: %s",
		     vio_strerror(-errno));
		goto refuse;
	}
	/* Split: a zeroed region with a header is an empty log. Packed: the
	 * free list must be built, at the positions the ring starts from, so
	 * the region stays at version 0 and the ring initialises it. */
	for (unsigned i = 0; i < in.num_queues && !packed_negotiated(b); i++) {
		struct vio_inflight_split *l = (struct vio_inflight_split *)((uint8_t *)map + i * stride);

		l->version = VIO_INFLIGHT_VERSION;
		l->desc_num = in.queue_size;
	}
	in.mmap_size = len;
	inflight_install(b, map, len, 0, &in);
	r = send_reply(b, m, &in, sizeof(in), &fd, 1);
	close(fd);
	return r ? -ECONNRESET : 1;
refuse:
	if (fd >= 0)
		close(fd);
	return send_reply(b, m, &in, sizeof(in), NULL, 0) ? -ECONNRESET : 1;
}

/* SET_INFLIGHT_FD: the log a previous backend (or GET_INFLIGHT_FD) made. */
static int do_set_inflight(struct vio_vu_backend *b, struct msg *m)
{
	const struct vu_inflight *in = &m->p.inflight;
	struct stat st;
	uint64_t need, end;
	void *map;

	if (!inflight_geometry_ok(b, in, "SET_INFLIGHT_FD") || !rings_idle(b, "SET_INFLIGHT_FD"))
		return -EINVAL;
	need = (uint64_t)vio_inflight_queue_bytes(packed_negotiated(b), in->queue_size) *
	       in->num_queues;
	end = in->mmap_offset + in->mmap_size;
	if (in->mmap_size < need || end < in->mmap_offset || end > SIZE_MAX ||
	    in->mmap_offset % 8) {
		vlog(b, VIO_LOG_ERR, "vhost-user: SET_INFLIGHT_FD of %llu bytes at offset %llu, "
		     "%llu needed for %u queues of %u", (unsigned long long)in->mmap_size,
		     (unsigned long long)in->mmap_offset, (unsigned long long)need, in->num_queues,
		     in->queue_size);
		return -EINVAL;
	}
	/* Pages past the end of a file fault when touched. */
	if (fstat(m->fds[0], &st) || !S_ISREG(st.st_mode) || end > (uint64_t)st.st_size) {
		vlog(b, VIO_LOG_ERR, "vhost-user: SET_INFLIGHT_FD: the log does not fit in its file");
		return -EINVAL;
	}
	map = mmap(NULL, (size_t)end, PROT_READ | PROT_WRITE, MAP_SHARED, m->fds[0], 0);
	if (map == MAP_FAILED) {
		vlog(b, VIO_LOG_ERR, "vhost-user: SET_INFLIGHT_FD: mmap: %s", vio_strerror(-errno));
		return -EINVAL;
	}
	inflight_install(b, map, (size_t)end, (size_t)in->mmap_offset, in);
	return 0;
}

static void reset_device(struct vio_vu_backend *b)
{
	all_lock(b);
	rings_reset(b);
	vio_dev_set_status(b->dev, 0);
	b->features_set = false;
	b->acked_features = 0;
	all_unlock(b);
}

static int do_set_status(struct vio_vu_backend *b, uint64_t v)
{
	struct vio_dev_model *d = b->dev;
	uint8_t keep = VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER | VIO_STATUS_FEATURES_OK | VIO_STATUS_FAILED;

	if (v > UINT8_MAX)
		return -EINVAL;
	if (v == 0) {
		reset_device(b);
		return 0;
	}
	/* DRIVER_OK follows the rings here; the rest goes to the model. */
	if (v & VIO_STATUS_FAILED) {
		all_lock(b);
		vio_dev_set_status(d, (uint8_t)(vio_dev_get_status(d) | VIO_STATUS_FAILED));
		all_unlock(b);
	} else if ((v & keep & ~vio_dev_get_status(d)) & (VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER)) {
		/* Touches no queue: no queue lock (core.h). */
		vio_dev_set_status(d, (uint8_t)(vio_dev_get_status(d) |
						(v & (VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER))));
	}
	return 0;
}

/* What we offer: a device without config space has no use for CONFIG
 * (and QEMU warns about it for device types that have none). */
static uint64_t offered_protocol_features(const struct vio_vu_backend *b)
{
	uint64_t f = OUR_PROTOCOL_FEATURES & ~b->cfg.protocol_features_off;

	if (b->dev->config_len == 0)
		f &= ~VIO_BIT(VU_PROTOCOL_F_CONFIG);
	/* RARP and MTU are the device type's to serve (vio_dev_ops v2). */
	if (vio_dev_can_announce(b->dev))
		f |= VIO_BIT(VU_PROTOCOL_F_RARP) & ~b->cfg.protocol_features_off;
	if (vio_dev_can_set_mtu(b->dev))
		f |= VIO_BIT(VU_PROTOCOL_F_MTU) & ~b->cfg.protocol_features_off;
	return f;
}

/* SEND_RARP: the first six bytes of the u64 are the driver's MAC (in
 * memory order); the device announces it (a network device sends a RARP
 * from it through whatever is behind it). NET_SET_MTU: the MTU the
 * frontend offers the driver; the device may refuse it. Both are control
 * requests: every queue is held. */
static int do_send_rarp(struct vio_vu_backend *b, const struct msg *m)
{
	uint8_t mac[6];
	int r;

	memcpy(mac, &m->p.u64, sizeof(mac));
	all_lock(b);
	r = vio_dev_announce(b->dev, mac);
	all_unlock(b);
	if (r)
		vlog(b, VIO_LOG_ERR, "vhost-user: SEND_RARP refused: %s", vio_strerror(r));
	return r;
}

static int do_net_set_mtu(struct vio_vu_backend *b, const struct msg *m)
{
	int r = -EINVAL;

	all_lock(b);
	if (m->p.u64 <= UINT16_MAX)
		r = vio_dev_set_mtu(b->dev, (unsigned)m->p.u64);
	all_unlock(b);
	if (r)
		vlog(b, VIO_LOG_ERR, "vhost-user: NET_SET_MTU %llu refused: %s",
		     (unsigned long long)m->p.u64, vio_strerror(r));
	return r;
}

/* Handles one validated message. */
static int handle(struct vio_vu_backend *b, struct msg *m)
{
	struct vio_dev_model *d = b->dev;

	switch (m->hdr.request) {
	case VU_GET_FEATURES:
		return reply_u64(b, m, d->host_features | VIO_BIT(VU_F_PROTOCOL_FEATURES)) ? -ECONNRESET : 1;
	case VU_SET_FEATURES:
		return do_set_features(b, m->p.u64);
	case VU_GET_PROTOCOL_FEATURES:
		return reply_u64(b, m, offered_protocol_features(b)) ? -ECONNRESET : 1;
	case VU_SET_PROTOCOL_FEATURES:
		if (m->p.u64 & ~offered_protocol_features(b)) {
			vlog(b, VIO_LOG_ERR, "vhost-user: protocol features %#llx not offered",
			     (unsigned long long)m->p.u64);
			return -EINVAL;
		}
		b->protocol_features = m->p.u64;
		return 0;
	case VU_SET_OWNER:
		if (b->owner) {
			vlog(b, VIO_LOG_WARN, "vhost-user: SET_OWNER twice");
			return -EBUSY;
		}
		b->owner = true;
		return 0;
	case VU_RESET_OWNER:
		/* Deprecated; the spec recommends treating it as "disable all
		 * rings" and nothing more. */
		all_lock(b);
		for (unsigned i = 0; i < nq(b); i++)
			ring_stop(b, i);
		all_unlock(b);
		return 0;
	case VU_RESET_DEVICE:
		reset_device(b);
		return 0;
	case VU_GET_QUEUE_NUM:
		return reply_u64(b, m, nq(b)) ? -ECONNRESET : 1;
	case VU_GET_MAX_MEM_SLOTS:
		return reply_u64(b, m, VIO_VU_MAX_MEM_SLOTS) ? -ECONNRESET : 1;
	case VU_SET_MEM_TABLE:
		return do_set_mem_table(b, m);
	case VU_ADD_MEM_REG:
		return do_add_mem_reg(b, m);
	case VU_REM_MEM_REG:
		return do_rem_mem_reg(b, m);
	case VU_SET_VRING_NUM: case VU_SET_VRING_BASE: case VU_GET_VRING_BASE:
	case VU_SET_VRING_ENABLE: case VU_VRING_KICK:
		return do_vring_state(b, m);
	case VU_SET_VRING_ADDR:
		return do_vring_addr(b, m);
	case VU_SET_VRING_KICK: case VU_SET_VRING_CALL: case VU_SET_VRING_ERR:
		return do_vring_fd(b, m);
	case VU_GET_CONFIG:
		return do_get_config(b, m);
	case VU_SET_CONFIG:
		return do_set_config(b, m);
	case VU_SET_BACKEND_REQ_FD:
		pthread_mutex_lock(&b->backend_lock);
		vio__vu_close_fd(&b->backend_fd);
		b->backend_fd = msg_take_fd(m, 0);
		pthread_mutex_unlock(&b->backend_lock);
		return 0;
	case VU_GET_INFLIGHT_FD:
		return do_get_inflight(b, m);
	case VU_SET_INFLIGHT_FD:
		return do_set_inflight(b, m);
	case VU_SET_STATUS:
		return do_set_status(b, m->p.u64);
	case VU_GET_STATUS:
		return reply_u64(b, m, vio_dev_get_status(d)) ? -ECONNRESET : 1;
	case VU_SEND_RARP:
		return do_send_rarp(b, m);
	case VU_NET_SET_MTU:
		return do_net_set_mtu(b, m);
	default:
		vlog(b, VIO_LOG_ERR, "vhost-user: %s (%u) is not supported", vio__vu_request_name(m->hdr.request),
		     m->hdr.request);
		return -ENOTSUP;
	}
}

int vio_vu_backend_dispatch(struct vio_vu_backend *b)
{
	const struct vu_request_row *row;
	struct msg m;
	int want_fds, r;

	if (b->sock < 0)
		return -ECONNRESET;
	if (recv_msg(b, &m)) {
		vio_vu_backend_detach(b);
		return -ECONNRESET;
	}
	row = vio__vu_request_row(m.hdr.request);
	want_fds = vio__vu_fds_expected(row, m.hdr.size, &m.p);
	if (m.hdr.flags & ~(VU_VERSION_MASK | VU_FLAG_NEED_REPLY)) {
		vlog(b, VIO_LOG_ERR, "vhost-user: %s with flags %#x", vio__vu_request_name(m.hdr.request), m.hdr.flags);
		r = -EINVAL;
	} else if (row && row->size.rule == VU_SIZE_EXACT && !vio__vu_size_ok(&row->size, m.hdr.size, &m.p)) {
		/* Sizes that depend on the payload (SET_MEM_TABLE, the
		 * config messages) are checked by their handlers, with the
		 * same rule, so the log line can name the fields. */
		vlog(b, VIO_LOG_ERR, "vhost-user: %s with a %u-byte payload, expected %u",
		     vio__vu_request_name(m.hdr.request), m.hdr.size, row->size.min);
		r = -EINVAL;
	} else if (want_fds >= 0 && m.nfds != (unsigned)want_fds) {
		vlog(b, VIO_LOG_ERR, "vhost-user: %s with %u fds, expected %d", vio__vu_request_name(m.hdr.request),
		     m.nfds, want_fds);
		r = -EINVAL;
	} else if (!vio__vu_feature_ok(row, b->protocol_features)) {
		vlog(b, VIO_LOG_ERR, "vhost-user: %s without its protocol feature", vio__vu_request_name(m.hdr.request));
		r = -EPROTO;
	} else {
		r = handle(b, &m);
	}
	msg_close_fds(&m);
	if (r == -ECONNRESET) {
		vio_vu_backend_detach(b);
		return r;
	}
	/* REPLY_ACK: a status for messages that have no reply of their own. */
	if (r != 1 && (m.hdr.flags & VU_FLAG_NEED_REPLY) &&
	    (b->protocol_features & VIO_BIT(VU_PROTOCOL_F_REPLY_ACK))) {
		if (reply_u64(b, &m, r ? 1 : 0)) {
			vio_vu_backend_detach(b);
			return -ECONNRESET;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Queues                                                                   */

int vio_vu_backend_kick_fd(struct vio_vu_backend *b, unsigned qi)
{
	int fd;

	if (qi >= nq(b))
		return -1;
	/* Under the lock: a queue's thread asks while the dispatch thread
	 * may be replacing the fd. */
	pthread_mutex_lock(&b->queues[qi].lock);
	fd = b->queues[qi].kick_fd;
	pthread_mutex_unlock(&b->queues[qi].lock);
	return fd;
}

/* Takes the kicks off a kick eventfd, never waiting for one: the caller
 * saw it readable, but the frontend shares it and may have read it since,
 * or cleared O_NONBLOCK (see vring_fd_ok). */
static bool take_kick(int fd)
{
	uint64_t v;
	ssize_t n;
#ifdef RWF_NOWAIT
	struct iovec iov = { &v, sizeof(v) };

	n = preadv2(fd, &iov, 1, -1, RWF_NOWAIT);
	if (n >= 0 || (errno != EOPNOTSUPP && errno != EINVAL && errno != ENOSYS))
		return n == (ssize_t)sizeof(v);
	/* A kernel without RWF_NOWAIT for eventfds (before 5.12). */
#endif
	n = read(fd, &v, sizeof(v));
	return n == (ssize_t)sizeof(v);
}

/*
 * The locks the device's work on queue qi needs: qi's own, or the range
 * the device type asked for (vio_dev_queue's serial_first/serial_count),
 * taken in index order as all_lock() takes them, so no two threads can
 * wait for each other. A range that leaves out qi is widened to hold it.
 */
static void serial_range(const struct vio_vu_backend *b, unsigned qi, unsigned *first,
			 unsigned *last)
{
	const struct vio_dev_queue *q = &b->dev->queues[qi];
	unsigned lo = qi, hi = qi;

	if (q->serial_count && q->serial_first < nq(b)) {
		/* The range's end, clipped to the queues there are. */
		unsigned end = q->serial_count > nq(b) - q->serial_first ?
				       nq(b) : q->serial_first + q->serial_count;

		lo = q->serial_first < qi ? q->serial_first : qi;
		hi = end - 1 > qi ? end - 1 : qi;
	}
	*first = lo;
	*last = hi;
}

static void serial_lock(struct vio_vu_backend *b, unsigned qi)
{
	unsigned i, last;

	serial_range(b, qi, &i, &last);
	for (; i <= last; i++)
		pthread_mutex_lock(&b->queues[i].lock);
}

static void serial_unlock(struct vio_vu_backend *b, unsigned qi)
{
	unsigned first, i;

	serial_range(b, qi, &first, &i);
	for (;; i--) {
		pthread_mutex_unlock(&b->queues[i].lock);
		if (i == first)
			break;
	}
}

void vio_vu_backend_queue_dispatch(struct vio_vu_backend *b, unsigned qi)
{
	struct vio_vu_queue *vq;

	if (qi >= nq(b))
		return;
	vq = &b->queues[qi];
	serial_lock(b, qi);
	if (vq->kick_fd >= 0 && take_kick(vq->kick_fd))
		vio_stat_inc(&vq->kicks);
	if (vq->enabled)
		vio_dev_notify(b->dev, qi);
	serial_unlock(b, qi);
}

int vio_vu_backend_event_fd(struct vio_vu_backend *b, unsigned qi)
{
	return qi < nq(b) ? vio_dev_queue_event_fd(b->dev, qi) : -1;
}

void vio_vu_backend_queue_event(struct vio_vu_backend *b, unsigned qi)
{
	if (qi >= nq(b))
		return;
	serial_lock(b, qi);
	vio_dev_queue_event(b->dev, qi);
	serial_unlock(b, qi);
}

void vio_vu_backend_queue_poll(struct vio_vu_backend *b, unsigned qi)
{
	struct vio_vu_queue *vq;

	if (qi >= nq(b))
		return;
	vq = &b->queues[qi];
	serial_lock(b, qi);
	if (vq->enabled)
		vio_dev_notify(b->dev, qi);
	serial_unlock(b, qi);
}

/* Is qi's event fd readable? (false without one) */
static bool event_ready(struct vio_vu_backend *b, unsigned qi)
{
	struct pollfd p = { .fd = vio_dev_queue_event_fd(b->dev, qi), .events = POLLIN };

	return p.fd >= 0 && poll(&p, 1, 0) > 0;
}

/* One look at queue qi under its lock: runs the device if buffers are
 * waiting. *live is false when the queue cannot run (stopped, disabled). */
enum poll_result { POLL_IDLE, POLL_RAN, POLL_TOOK };

static enum poll_result poll_once(struct vio_vu_backend *b, unsigned qi, bool *live)
{
	struct vio_vu_queue *vq = &b->queues[qi];
	enum poll_result res = POLL_IDLE;
	struct vio_devq *dq;

	serial_lock(b, qi);
	dq = vq->enabled ? vio_dev_vq(b->dev, qi) : NULL;
	*live = dq != NULL;
	if (dq && event_ready(b, qi)) {
		/* The device's own work (a storage's completions) ends while
		 * the thread spins, not only when it sleeps again. */
		uint32_t popped = vio_devq_popped(dq);

		vio_dev_queue_event(b->dev, qi);
		res = vio_devq_popped(dq) != popped ? POLL_TOOK : POLL_RAN;
		dq = vio_dev_vq(b->dev, qi);
	}
	if (dq && vio_devq_has_avail(dq)) {
		uint32_t popped = vio_devq_popped(dq);

		vio_dev_notify(b->dev, qi);
		/* Did the device take any? It may leave them (a receive queue
		 * waiting for input, a rate limit, a device holding as many as
		 * it can): buffers there are not work done. */
		res = vio_devq_popped(dq) != popped ? POLL_TOOK : POLL_RAN;
	}
	serial_unlock(b, qi);
	return res;
}

/* Turns the driver's kicks for qi off or back on. On: false when buffers
 * came meanwhile (look again before sleeping). */
static bool set_kicks(struct vio_vu_backend *b, unsigned qi, bool on)
{
	struct vio_vu_queue *vq = &b->queues[qi];
	struct vio_devq *dq;
	bool idle = true;

	pthread_mutex_lock(&vq->lock);
	dq = vq->enabled ? vio_dev_vq(b->dev, qi) : NULL;
	if (dq && on)
		idle = vio_devq_kick_enable(dq);
	else if (dq)
		vio_devq_kick_disable(dq);
	pthread_mutex_unlock(&vq->lock);
	return idle;
}

bool vio_vu_backend_queues_poll_for(struct vio_vu_backend *b, const unsigned *qis, unsigned n,
				    uint64_t ns)
{
	uint64_t start, deadline, end;
	bool ran = false;

	if (n == 0 || ns == 0)
		return false;
	for (unsigned i = 0; i < n; i++)
		if (qis[i] >= nq(b))
			return false;
	if (ns > VIO_VU_POLL_MAX_NS)
		ns = VIO_VU_POLL_MAX_NS;
	for (unsigned i = 0; i < n; i++)
		set_kicks(b, qis[i], false);
	start = vio__vu_now_ns();
	deadline = start + ns;
	/* However busy the driver keeps the queues, the caller gets its
	 * thread back: fixed when the call starts, not moved by buffers. */
	end = start + (ns > VIO_VU_POLL_CALL_NS ? ns : VIO_VU_POLL_CALL_NS);
	for (unsigned spins = 0;; spins++) {
		bool took = false, any_live = false;

		for (unsigned i = 0; i < n; i++) {
			bool live;
			enum poll_result r = poll_once(b, qis[i], &live);

			ran |= r != POLL_IDLE;
			took |= r == POLL_TOOK;
			any_live |= live;
		}
		if (!any_live)
			break;
		if (took || spins % 16 == 0) {
			uint64_t now = vio__vu_now_ns();

			/* Busy: keep polling. Only the device taking buffers
			 * moves the window; buffers it leaves on the ring would
			 * otherwise keep this thread spinning for good. */
			if (took)
				deadline = now + ns < end ? now + ns : end;
			if (now >= deadline) {
				for (unsigned i = 0; i < n; i++) {
					bool live;

					if (set_kicks(b, qis[i], true))
						continue;
					/* Buffers came as kicks came back on. */
					poll_once(b, qis[i], &live);
					ran = true;
				}
				break;
			}
		}
		vio_ring_pause();
	}
	return ran;
}

bool vio_vu_backend_queue_poll_for(struct vio_vu_backend *b, unsigned qi, uint64_t ns)
{
	return vio_vu_backend_queues_poll_for(b, &qi, 1, ns);
}

void vio_vu_backend_queue_lock(struct vio_vu_backend *b, unsigned qi)
{
	if (qi < nq(b))
		serial_lock(b, qi);
}

void vio_vu_backend_queue_unlock(struct vio_vu_backend *b, unsigned qi)
{
	if (qi < nq(b))
		serial_unlock(b, qi);
}

/* ------------------------------------------------------------------------ */
/* Lifecycle                                                                */

int vio_vu_backend_init(struct vio_vu_backend *b, struct vio_dev_model *dev,
			const struct vio_vu_backend_config *cfg)
{
	memset(b, 0, sizeof(*b));
	if (dev->num_queues > VIO_VU_MAX_QUEUES)
		return -EINVAL;
	if (cfg)
		b->cfg = *cfg;
	b->dev = dev;
	b->sock = -1;
	b->backend_fd = -1;
	pthread_mutex_init(&b->backend_lock, NULL);
	for (unsigned i = 0; i < VIO_VU_MAX_QUEUES; i++) {
		struct vio_vu_queue *vq = &b->queues[i];

		pthread_mutex_init(&vq->lock, NULL);
		vq->kick_fd = vq->call_fd = vq->err_fd = -1;
	}
	if (dev->num_queues) {
		size_t total = 0;

		/* Two entries per descriptor: the packed log maps popped
		 * chains to their entries besides the resubmission list. */
		for (unsigned i = 0; i < dev->num_queues; i++)
			total += 2 * (size_t)dev->queues[i].max_size;
		b->scratch = calloc(total, sizeof(*b->scratch));
		if (!b->scratch)
			return -ENOMEM;
		total = 0;
		for (unsigned i = 0; i < dev->num_queues; i++) {
			b->queues[i].inflight_scratch = b->scratch + total;
			total += 2 * (size_t)dev->queues[i].max_size;
		}
	}
	vio_mem_init(&b->mem, b->regions, VIO_VU_MAX_MEM_SLOTS);
	dev->mem = &b->mem;
	dev->transport = &vu_dev_transport;
	dev->transport_opaque = b;
	if (cfg && cfg->log && !dev->log) {
		dev->log = cfg->log;
		dev->log_opaque = cfg->log_opaque;
	}
	return 0;
}

int vio_vu_backend_attach(struct vio_vu_backend *b, int sock)
{
	if (b->sock >= 0)
		return -EBUSY;
	pthread_mutex_lock(&b->backend_lock);   /* see vu_config_interrupt */
	b->sock = sock;
	pthread_mutex_unlock(&b->backend_lock);
	b->owner = false;
	b->protocol_features = 0;
	return 0;
}

void vio_vu_backend_detach(struct vio_vu_backend *b)
{
	all_lock(b);
	rings_reset(b);
	vio_dev_set_status(b->dev, 0);
	unmap_all(b);
	inflight_release(b);
	b->features_set = false;
	b->acked_features = 0;
	b->protocol_features = 0;
	b->owner = false;
	all_unlock(b);
	pthread_mutex_lock(&b->backend_lock);
	vio__vu_close_fd(&b->backend_fd);
	vio__vu_close_fd(&b->sock);
	pthread_mutex_unlock(&b->backend_lock);
	if (b->cfg.queues_changed)
		b->cfg.queues_changed(b->cfg.opaque);
}

void vio_vu_backend_fini(struct vio_vu_backend *b)
{
	vio_vu_backend_detach(b);
	for (unsigned i = 0; i < VIO_VU_MAX_QUEUES; i++)
		pthread_mutex_destroy(&b->queues[i].lock);
	pthread_mutex_destroy(&b->backend_lock);
	free(b->scratch);
	b->scratch = NULL;
}
