/*
 * console.c - the console device, one port over a pair of fds (see
 * vio/devices/console.h for the contract).
 *
 * Both directions work on "held" buffers: the one receive buffer the
 * device has popped and is waiting to fill from in_fd, and the one
 * transmit buffer whose bytes are not all on out_fd yet. Holding at most
 * one per queue, and completing it before popping the next, keeps bytes in
 * order and completions in ring order (which IN_ORDER requires) without
 * any buffering of our own: readv/writev go straight between the fds and
 * the driver's memory, through the spans vio_devq_pop mapped. The fd calls
 * themselves are in dev_os.c (a freestanding build has no fds).
 */
#include <stddef.h>

#include "vio/devices.h"

#include "dev_os.h"

#define CON_RING_FEATURES (VIO_BIT(VIO_F_INDIRECT_DESC) | VIO_BIT(VIO_F_EVENT_IDX) | \
			   VIO_BIT(VIO_F_NOTIFY_ON_EMPTY) | VIO_BIT(VIO_F_ANY_LAYOUT) | \
			   VIO_BIT(VIO_F_RING_PACKED) | VIO_BIT(VIO_F_IN_ORDER) | \
			   VIO_BIT(VIO_F_RING_RESET))

#define RX VIO_CONSOLE_QUEUE_RX
#define TX VIO_CONSOLE_QUEUE_TX

static struct vio_console_dev *con_of(struct vio_dev_model *d)
{
	return d->priv;
}

/* Config space as the driver reads it: rows and cols, one port, and
 * emerg_wr reading back as 0. Rewritten after every driver write, which
 * is how the read-only fields stay read-only. */
static void config_fill(struct vio_console_dev *c)
{
	/* Little-endian for every driver: the core turns the fields around
	 * for a big-endian legacy one (con_config_fields). */
	c->config.rows = vio_cpu_to_le16(c->rows);
	c->config.cols = vio_cpu_to_le16(c->cols);
	c->config.max_nr_ports = vio_cpu_to_le32(1);
	c->config.emerg_wr = vio_cpu_to_le32(0);
}

#define CON_FIELD(m) { offsetof(struct vio_console_config, m), \
		       sizeof(((struct vio_console_config *)0)->m) }
static const struct vio_config_field con_config_fields[] = {
	CON_FIELD(rows), CON_FIELD(cols), CON_FIELD(max_nr_ports), CON_FIELD(emerg_wr),
};
#undef CON_FIELD

static void held_forget(struct vio_console_held *h)
{
	h->held = false;
	h->idx = 0;
}

static void held_setup(struct vio_console_held *h)
{
	h->elem.out = h->out;
	h->elem.out_cap = VIO_CONSOLE_DEV_SPANS;
	h->elem.in = h->in;
	h->elem.in_cap = VIO_CONSOLE_DEV_SPANS;
	held_forget(h);
}

/* ------------------------------------------------------------------------ */
/* Buffers                                                                  */

/* Returns the held buffer of queue qi as used with len bytes written. */
static void complete(struct vio_console_dev *c, unsigned qi, uint32_t len)
{
	struct vio_console_held *h = qi == RX ? &c->rx : &c->tx;
	struct vio_devq *vq = vio_dev_vq(&c->dev, qi);
	int err;

	held_forget(h);
	if (!vq)
		return; /* the queue stopped meanwhile: the buffer is forgotten */
	err = vio_devq_push(vq, &h->elem, len);
	if (err) {
		vio_dev_needs_reset(&c->dev, "console: could not return a used buffer");
		return;
	}
	if (qi == RX)
		vio_stat_inc(&c->stats.rx_bufs);
	else
		vio_stat_inc(&c->stats.tx_bufs);
}

/*
 * Pops the next usable buffer of queue qi into its held slot. Buffers
 * pointing the wrong way, or with nothing to read or write, are completed
 * with length 0 on the way (*pushed says so). Returns 1 when a buffer is
 * held, 0 when the ring is empty or stopped.
 */
static int take(struct vio_console_dev *c, unsigned qi, bool *pushed)
{
	struct vio_console_held *h = qi == RX ? &c->rx : &c->tx;
	struct vio_devq *vq = vio_dev_vq(&c->dev, qi);

	while (vq) {
		const struct vio_elem *e = &h->elem;
		int err = vio_devq_pop(vq, &h->elem);
		bool wrong, empty;

		if (err) {
			vio_dev_check(&c->dev, qi, err);
			return 0;
		}
		h->held = true;
		h->idx = 0;
		wrong = qi == RX ? (e->out_num || e->out_len) : (e->in_num || e->in_len);
		empty = qi == RX ? e->in_len == 0 : e->out_len == 0;
		if (wrong) {
			if (qi == RX)
				vio_stat_inc(&c->stats.rx_malformed);
			else
				vio_stat_inc(&c->stats.tx_malformed);
			vio_dev_log(&c->dev, VIO_LOG_WARN, qi == RX ?
				    "console: receive buffer has device-readable segments; "
				    "completed with length 0" :
				    "console: transmit buffer has device-writable segments; "
				    "completed with length 0");
		}
		if (!wrong && !empty)
			return 1;
		complete(c, qi, 0);
		*pushed = true;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Receive: in_fd -> receiveq                                               */

static void rx_run(struct vio_console_dev *c)
{
	bool pushed = false;

	while (vio_dev_vq(&c->dev, RX)) {
		ssize_t n;

		if (!c->rx.held && !take(c, RX, &pushed))
			break;
		if (c->in_fd < 0 || c->in_done)
			break;
		n = vio__os_readv(c->in_fd, c->rx.in, c->rx.elem.in_num);
		if (n > 0) {
			vio_stat_add(&c->stats.rx_bytes, (uint64_t)n);
			complete(c, RX, (uint32_t)n);
			pushed = true;
			continue;
		}
		if (n == -EINTR)
			continue;
		if (n == -EAGAIN || n == -EWOULDBLOCK)
			break;
		c->in_done = true;
		vio_dev_log(&c->dev, n == 0 ? VIO_LOG_INFO : VIO_LOG_ERR,
			    n == 0 ? "console: end of input" :
				     "console: reading input failed; input stopped");
		break;
	}
	if (pushed)
		vio_dev_interrupt(&c->dev, RX);
}

/* ------------------------------------------------------------------------ */
/* Transmit: transmitq -> out_fd                                            */

/* Also read by emergency writes, which come from the control path while
 * the transmit side may be running on another thread. */
static bool out_dead(const struct vio_console_dev *c)
{
	return __atomic_load_n(&c->out_dead, __ATOMIC_RELAXED);
}

/* Bytes written, or a negative errno. */
static ssize_t out_write(struct vio_console_dev *c, const struct vio_iov *iov, unsigned n)
{
	return vio__os_writev(c->out_fd, c->out_is_socket, iov, n);
}

/* Moves the held transmit buffer's cursor past n written bytes. */
static void tx_advance(struct vio_console_held *h, size_t n)
{
	while (n && h->idx < h->elem.out_num) {
		struct vio_iov *v = &h->out[h->idx];

		if (n < v->len) {
			v->base = (uint8_t *)v->base + n;
			v->len -= n;
			return;
		}
		n -= v->len;
		h->idx++;
	}
}

static void tx_discard_rest(struct vio_console_dev *c)
{
	struct vio_console_held *h = &c->tx;

	for (; h->idx < h->elem.out_num; h->idx++)
		vio_stat_add(&c->stats.tx_bytes, h->out[h->idx].len);
}

/* Writes what is left of the held transmit buffer: true when all of it
 * is gone, false when out_fd would block. */
static bool tx_write(struct vio_console_dev *c)
{
	struct vio_console_held *h = &c->tx;

	for (;;) {
		ssize_t n;

		while (h->idx < h->elem.out_num && h->out[h->idx].len == 0)
			h->idx++;
		if (h->idx == h->elem.out_num)
			return true;
		if (c->out_fd < 0 || out_dead(c)) {
			tx_discard_rest(c);
			return true;
		}
		n = out_write(c, &h->out[h->idx], h->elem.out_num - h->idx);
		if (n > 0) {
			vio_stat_add(&c->stats.tx_bytes, (uint64_t)n);
			tx_advance(h, (size_t)n);
			continue;
		}
		if (n == -EINTR)
			continue;
		if (n == -EAGAIN || n == -EWOULDBLOCK)
			return false;
		__atomic_store_n(&c->out_dead, true, __ATOMIC_RELAXED);
		vio_dev_log(&c->dev, VIO_LOG_ERR,
			    "console: writing output failed; output is discarded");
	}
}

static void tx_run(struct vio_console_dev *c)
{
	bool pushed = false;

	c->tx_blocked = false;
	while (vio_dev_vq(&c->dev, TX)) {
		if (!c->tx.held && !take(c, TX, &pushed))
			break;
		if (!tx_write(c)) {
			c->tx_blocked = true;
			vio_stat_inc(&c->stats.tx_blocked);
			break;
		}
		complete(c, TX, 0);
		pushed = true;
	}
	if (pushed)
		vio_dev_interrupt(&c->dev, TX);
}

/* ------------------------------------------------------------------------ */
/* Device model callbacks                                                   */

static void emerg_write(struct vio_console_dev *c, uint8_t ch)
{
	ssize_t n;

	if (c->out_fd < 0 || out_dead(c)) {
		vio_stat_inc(&c->stats.emerg_dropped);
		return;
	}
	do {
		struct vio_iov v = { &ch, 1 };

		n = out_write(c, &v, 1);
	} while (n == -EINTR);
	if (n == 1)
		vio_stat_inc(&c->stats.emerg_bytes);
	else
		vio_stat_inc(&c->stats.emerg_dropped);
}

/* Only emerg_wr is writable, and only with EMERG_WRITE offered (virtio
 * 1.x 5.3.5.1: even before the device is configured): every other write
 * is refused before anything is stored. */
static int con_config_check(struct vio_dev_model *d, unsigned off, const void *buf, unsigned len)
{
	const unsigned emerg = offsetof(struct vio_console_config, emerg_wr);

	(void)buf;
	if (vio_has_feature(d->host_features, VIO_CONSOLE_F_EMERG_WRITE) && off >= emerg &&
	    off + len <= emerg + sizeof(vio_le32))
		return 0;
	return -EPERM;
}

/* emerg_wr was written (con_config_check took it): its low byte goes out,
 * and it reads back as 0. */
static void con_config_write(struct vio_dev_model *d, unsigned off, unsigned len)
{
	struct vio_console_dev *c = con_of(d);

	(void)off;
	(void)len;
	emerg_write(c, (uint8_t)vio_le32_to_cpu(c->config.emerg_wr));
	config_fill(c);
}

static int con_features_ok(struct vio_dev_model *d, uint64_t features)
{
	(void)features;
	config_fill(con_of(d));
	return 0;
}

static int con_start(struct vio_dev_model *d)
{
	struct vio_console_dev *c = con_of(d);

	/* Buffers posted before DRIVER_OK got no kick that reached us. */
	config_fill(c);
	rx_run(c);
	tx_run(c);
	return 0;
}

static void con_reset(struct vio_dev_model *d)
{
	struct vio_console_dev *c = con_of(d);

	held_forget(&c->rx);
	held_forget(&c->tx);
	c->tx_blocked = false;
	c->in_done = false;
	__atomic_store_n(&c->out_dead, false, __ATOMIC_RELAXED);
	config_fill(c);
}

static void con_queue_reset(struct vio_dev_model *d, unsigned qi)
{
	struct vio_console_dev *c = con_of(d);

	if (qi == RX) {
		held_forget(&c->rx);
	} else if (qi == TX) {
		held_forget(&c->tx);
		c->tx_blocked = false;
	}
}

static void con_queue_notify(struct vio_dev_model *d, unsigned qi)
{
	if (qi == RX)
		rx_run(con_of(d));
	else if (qi == TX)
		tx_run(con_of(d));
}

static const struct vio_dev_ops con_ops = {
	.version = VIO_DEV_OPS_VERSION,
	.features_ok = con_features_ok,
	.start = con_start,
	.reset = con_reset,
	.queue_notify = con_queue_notify,
	.config_write = con_config_write,
	.config_check = con_config_check,
	.queue_reset = con_queue_reset,
};

/* ------------------------------------------------------------------------ */
/* Public                                                                   */

static int check_fds(struct vio_console_dev *c, int in_fd, int out_fd)
{
	int r = vio__os_console_fds(in_fd, out_fd, &c->out_is_socket);

	if (r)
		return r;
	c->in_fd = in_fd;
	c->out_fd = out_fd;
	return 0;
}

int vio_console_dev_init(struct vio_console_dev *c, const struct vio_console_dev_opts *opts)
{
	static const struct vio_console_dev_opts defaults = { .in_fd = -1, .out_fd = -1 };
	const struct vio_console_dev_opts *o = opts ? opts : &defaults;
	unsigned qsize = o->queue_size ? o->queue_size : VIO_CONSOLE_DEV_QUEUE_MAX;
	uint64_t features = VIO_BIT(VIO_F_VERSION_1) | o->features;
	int r;

	memset(c, 0, sizeof(*c));
	if (o->features & ~CON_RING_FEATURES)
		return -EINVAL;
	if (qsize > VIO_CONSOLE_DEV_QUEUE_MAX || !vio_ring_size_valid(0, qsize))
		return -EINVAL;
	r = check_fds(c, o->in_fd, o->out_fd);
	if (r)
		return r;
	if (o->cols && o->rows) {
		features |= VIO_BIT(VIO_CONSOLE_F_SIZE);
		c->cols = o->cols;
		c->rows = o->rows;
	}
	if (o->emerg_write)
		features |= VIO_BIT(VIO_CONSOLE_F_EMERG_WRITE);
	held_setup(&c->rx);
	held_setup(&c->tx);

	c->queues[RX].max_size = qsize;
	c->queues[TX].max_size = qsize;
	c->dev.device_id = VIO_ID_CONSOLE;
	c->dev.host_features = features;
	c->dev.legacy_ok = o->legacy_ok;
	c->dev.config = (uint8_t *)&c->config;
	c->dev.config_len = sizeof(c->config);
	c->dev.config_fields = con_config_fields;
	c->dev.config_nfields = sizeof(con_config_fields) / sizeof(con_config_fields[0]);
	c->dev.queues = c->queues;
	c->dev.num_queues = 2;
	c->dev.ops = &con_ops;
	c->dev.priv = c;
	return vio_dev_init(&c->dev);
}

void vio_console_dev_fini(struct vio_console_dev *c)
{
	memset(c, 0, sizeof(*c));
	c->in_fd = c->out_fd = -1;
}

void vio_console_dev_input_ready(struct vio_console_dev *c)
{
	rx_run(c);
}

void vio_console_dev_output_ready(struct vio_console_dev *c)
{
	tx_run(c);
}

bool vio_console_dev_wants_input(struct vio_console_dev *c)
{
	struct vio_devq *vq = vio_dev_vq(&c->dev, RX);

	if (c->in_fd < 0 || c->in_done || !vq)
		return false;
	return c->rx.held || vio_devq_has_avail(vq);
}

bool vio_console_dev_wants_output(const struct vio_console_dev *c)
{
	return c->tx_blocked && c->tx.held && vio_dev_queue_live(&c->dev, TX);
}

int vio_console_dev_set_size(struct vio_console_dev *c, uint16_t cols, uint16_t rows)
{
	if (!vio_has_feature(c->dev.host_features, VIO_CONSOLE_F_SIZE))
		return -ENOTSUP;
	if (!cols || !rows)
		return -EINVAL;
	c->cols = cols;
	c->rows = rows;
	config_fill(c);
	vio_dev_config_changed(&c->dev);
	return 0;
}
