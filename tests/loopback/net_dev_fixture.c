/*
 * net_dev_fixture.c - the matrix, the raw driver, the recording port and
 * the registration of the virtio-net device tests; see net_dev_fixture.h.
 */

#include "net_dev_fixture.h"

#include "heap.h"

const uint8_t MAC_DEV[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0x01 };
const uint8_t MAC_PEER[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0x02 };
const uint8_t MAC_OTHER[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0x03 };
const uint8_t MAC_BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
const uint8_t MAC_MCAST[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };

struct vio_drv_device *D(struct nfx *fx)
{
	return &fx->lb.vdev;
}

static void test_log(void *opaque, enum vio_log_level level, const char *msg)
{
	struct nfx *fx = opaque;

	pthread_mutex_lock(&fx->log_lock);
	fx->nlogs++;
	snprintf(fx->last_log, sizeof(fx->last_log), "%s", msg);
	pthread_mutex_unlock(&fx->log_lock);
}

void assert_logged(struct nfx *fx, const char *what)
{
	char line[512];

	pthread_mutex_lock(&fx->log_lock);
	snprintf(line, sizeof(line), "%s", fx->last_log);
	pthread_mutex_unlock(&fx->log_lock);
	if (!strstr(line, what))
		fail_msg("log line \"%s\" does not mention \"%s\"", line, what);
}

/* The recording port                                                       */

static int rec_transmit(void *port, unsigned pair, const struct vio_net_frame *frames, unsigned n)
{
	struct tport *t = port;
	unsigned take;

	pthread_mutex_lock(&t->lock);
	take = t->take < 0 || (unsigned)t->take > n ? n : (unsigned)t->take;
	for (unsigned i = 0; i < take && t->n < NFX_PORT_FRAMES; i++) {
		struct rec *r = &t->frames[t->n++];

		r->pair = pair;
		r->f = frames[i];
		r->f.iov = NULL;
		r->f.iovcnt = 0;
		r->data = NULL;
		if (t->used + frames[i].len <= sizeof(t->buf)) {
			r->data = t->buf + t->used;
			assert_int_equal(vio_iov_to_buf(frames[i].iov, frames[i].iovcnt, 0, r->data,
							frames[i].len), frames[i].len);
			assert_int_equal(vio_iov_length(frames[i].iov, frames[i].iovcnt),
					 frames[i].len);
			t->used += frames[i].len;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return (int)take;
}

static void rec_rx_ready(void *port, unsigned pair)
{
	struct tport *t = port;

	pthread_mutex_lock(&t->lock);
	t->rx_ready[pair]++;
	pthread_mutex_unlock(&t->lock);
}

static void rec_offloads(void *port, uint64_t guest_offloads)
{
	struct tport *t = port;

	pthread_mutex_lock(&t->lock);
	if (t->n_offloads < NFX_OFFLOAD_CALLS)
		t->offloads[t->n_offloads] = guest_offloads;
	t->n_offloads++;
	pthread_mutex_unlock(&t->lock);
}

static const struct vio_net_port_ops rec_ops = {
	.version = VIO_NET_PORT_OPS_VERSION,
	.transmit = rec_transmit,
	.rx_ready = rec_rx_ready,
	.offloads = rec_offloads,
};

/* The same members in a table of version 1, which had no offloads op: the
 * device must not call it. */
static const struct vio_net_port_ops rec_ops_v1 = {
	.version = 1,
	.transmit = rec_transmit,
	.rx_ready = rec_rx_ready,
	.offloads = rec_offloads,
};

unsigned port_offloads(struct nfx *fx, uint64_t *last)
{
	unsigned n;

	pthread_mutex_lock(&fx->port.lock);
	n = fx->port.n_offloads;
	assert_true(n <= NFX_OFFLOAD_CALLS);
	if (last)
		*last = n ? fx->port.offloads[n - 1] : 0;
	pthread_mutex_unlock(&fx->port.lock);
	return n;
}

unsigned port_count(struct nfx *fx)
{
	unsigned n;

	pthread_mutex_lock(&fx->port.lock);
	n = fx->port.n;
	pthread_mutex_unlock(&fx->port.lock);
	return n;
}

/* The raw driver                                                           */

static int raw_probe(struct vio_drv_device *dev)
{
	struct nfx *fx = (struct nfx *)((char *)dev->driver - offsetof(struct nfx, drv));
	struct vio_drv_vq_info info[NFX_QS];
	unsigned pairs = 1;

	if (vio_drv_has_feature(dev, VIO_NET_F_MQ) || vio_drv_has_feature(dev, VIO_NET_F_RSS))
		pairs = fx->dopts.max_pairs ? fx->dopts.max_pairs : 1;
	fx->nvqs = 2 * pairs + (vio_drv_has_feature(dev, VIO_NET_F_CTRL_VQ) ? 1 : 0);
	for (unsigned i = 0; i < fx->nvqs; i++)
		info[i] = (struct vio_drv_vq_info){ .indirect_max = 8 };
	return vio_drv_find_vqs(dev, fx->nvqs, info, fx->vqs);
}

static void raw_remove(struct vio_drv_device *dev)
{
	vio_drv_reset(dev);
	for (unsigned i = 0; i < dev->nvqs; i++)
		while (vio_drvq_detach_unused(&dev->vqs[i].q))
			;
	vio_drv_del_vqs(dev);
}

static void raw_config_changed(struct vio_drv_device *dev)
{
	struct nfx *fx = (struct nfx *)((char *)dev->driver - offsetof(struct nfx, drv));

	__atomic_add_fetch(&fx->config_changes, 1, __ATOMIC_RELAXED);
}

static void *dev_thread(void *arg)
{
	struct nfx *fx = arg;
	struct pollfd p = { .fd = fx->lb.kick_fd, .events = POLLIN };

	while (!__atomic_load_n(&fx->stop, __ATOMIC_ACQUIRE))
		if (poll(&p, 1, 5) > 0)
			vio_loopback_device_dispatch(&fx->lb);
	return NULL;
}

int nfx_setup(void **state)
{
	struct nfx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->row = *state;
	pthread_mutex_init(&fx->log_lock, NULL);
	pthread_mutex_init(&fx->port.lock, NULL);
	fx->port.take = -1;
	memcpy(fx->dopts.mac, MAC_DEV, 6);
	fx->dopts.ring_features = VIO_BIT(VIO_F_VERSION_1) | fx->row->ring;
	fx->dopts.log = test_log;
	fx->dopts.log_opaque = fx;
	if (!fx->row->mrg)
		fx->features_off |= VIO_BIT(VIO_NET_F_MRG_RXBUF);
	*state = fx;
	return 0;
}

int nfx_teardown(void **state)
{
	struct nfx *fx = *state;

	if (fx->bus_up) {
		vio_bus_remove_device(&fx->bus, D(fx));
		vio_bus_unregister_driver(&fx->bus, &fx->drv);
	}
	if (fx->thread_up) {
		__atomic_store_n(&fx->stop, 1, __ATOMIC_RELEASE);
		pthread_join(fx->thread, NULL);
	}
	if (fx->lb_up)
		vio_loopback_fini(&fx->lb);
	if (fx->net_up)
		vio_net_dev_fini(&fx->net);
	pthread_mutex_destroy(&fx->log_lock);
	pthread_mutex_destroy(&fx->port.lock);
	free(fx);
	return 0;
}

void nfx_up(struct nfx *fx)
{
	if (fx->reflect) {
		fx->dopts.port_ops = &vio_net_reflect_ops;
		fx->dopts.port = &fx->refl;
	} else {
		fx->dopts.port_ops = fx->port_version == 1 ? &rec_ops_v1 : &rec_ops;
		fx->dopts.port = &fx->port;
	}
	assert_int_equal(vio_net_dev_init(&fx->net, &fx->dopts), 0);
	fx->net_up = true;
	vio_net_reflect_init(&fx->refl, &fx->net);
	assert_int_equal(vio_loopback_init(&fx->lb, &fx->net.dev, NFX_DMA + (8u << 20),
					   fx->row->threaded), 0);
	fx->lb_up = true;
	if (fx->row->threaded) {
		assert_int_equal(pthread_create(&fx->thread, NULL, dev_thread, fx), 0);
		fx->thread_up = true;
	}
	vio_bus_init(&fx->bus, vt_heap_alloc, vt_heap_free, NULL);
	fx->ids[0] = VIO_ID_NET;
	fx->drv = (struct vio_driver){
		.name = "raw-net",
		.ids = fx->ids,
		.features = ~fx->features_off,
		.probe = raw_probe,
		.remove = raw_remove,
		.config_changed = raw_config_changed,
	};
	assert_int_equal(vio_bus_register_driver(&fx->bus, &fx->drv), 0);
	assert_int_equal(vio_bus_add_device(&fx->bus, D(fx)), 0);
	fx->bus_up = true;
	assert_non_null(D(fx)->driver);
	assert_true(vio_dev_get_status(&fx->net.dev) & VIO_STATUS_DRIVER_OK);
	fx->m = vio_drv_dma_alloc(D(fx), NFX_DMA, 4096, &fx->m_dma);
	assert_non_null(fx->m);
}

/* Helpers                                                                  */

size_t hlen(struct nfx *fx)
{
	return vio_net_hdr_len(D(fx)->features);
}

unsigned rxq(unsigned pair)
{
	return 2 * pair;
}

unsigned txq(unsigned pair)
{
	return 2 * pair + 1;
}

unsigned ctrlq(struct nfx *fx)
{
	return fx->nvqs - 1;
}

uint8_t *dma(struct nfx *fx, size_t len, uint64_t *addr)
{
	uint8_t *p;

	len = (len + 63) & ~(size_t)63;
	assert_true(fx->m_used + len <= NFX_DMA);
	p = fx->m + fx->m_used;
	*addr = fx->m_dma + fx->m_used;
	fx->m_used += len;
	memset(p, 0xee, len);
	return p;
}

uint8_t *post_rx(struct nfx *fx, unsigned pair, const uint32_t *lens, unsigned n)
{
	struct vio_sg sg[16];
	size_t total = 0;
	uint64_t a;
	uint8_t *p;

	assert_true(n <= ARRAY_LEN(sg));
	for (unsigned i = 0; i < n; i++)
		total += lens[i];
	p = dma(fx, total, &a);
	for (unsigned i = 0; i < n; i++) {
		sg[i] = (struct vio_sg){ a, lens[i] };
		a += lens[i];
	}
	assert_int_equal(vio_drvq_add(&fx->vqs[rxq(pair)].q, NULL, 0, sg, n, p), 0);
	vio_drv_vq_kick(&fx->vqs[rxq(pair)]);
	return p;
}

uint8_t *post_rx1(struct nfx *fx, unsigned pair, uint32_t len)
{
	return post_rx(fx, pair, &len, 1);
}

void *reap(struct nfx *fx, unsigned qi, uint32_t *len)
{
	for (int tries = 0; tries < NFX_TIMEOUT_MS / 10; tries++) {
		void *t;
		int r = vio_drvq_get_buf(&fx->vqs[qi].q, &t, len);

		if (r == 0)
			return t;
		assert_int_equal(r, -EAGAIN);
		vio_drv_wait(D(fx), 10);
	}
	fail_msg("queue %u: the device returned nothing", qi);
	return NULL;
}

void assert_none_used(struct nfx *fx, unsigned qi)
{
	assert_false(vio_drvq_has_used(&fx->vqs[qi].q));
}

uint32_t tx_chain(struct nfx *fx, unsigned pair, const uint8_t *bytes, size_t len,
		  const uint32_t *cuts, unsigned ncuts, uint32_t in_len)
{
	struct vio_sg out[32], in[1];
	unsigned n = 0;
	size_t off = 0;
	uint64_t a, ia;
	uint8_t *p = dma(fx, len ? len : 1, &a);
	int token;
	uint32_t used;

	memcpy(p, bytes, len);
	for (unsigned i = 0; i < ncuts && off < len; i++) {
		out[n++] = (struct vio_sg){ a + off, cuts[i] };
		off += cuts[i];
	}
	if (off < len)
		out[n++] = (struct vio_sg){ a + off, (uint32_t)(len - off) };
	if (in_len) {
		dma(fx, in_len, &ia);
		in[0] = (struct vio_sg){ ia, in_len };
	}
	assert_int_equal(vio_drvq_add(&fx->vqs[txq(pair)].q, out, n, in, in_len ? 1 : 0, &token), 0);
	vio_drv_vq_kick(&fx->vqs[txq(pair)]);
	assert_ptr_equal(reap(fx, txq(pair), &used), &token);
	return used;
}

uint32_t tx_frame(struct nfx *fx, unsigned pair, const struct vio_net_hdr *h, const uint8_t *frame,
		  size_t len)
{
	const size_t hl = hlen(fx);
	uint8_t *b = malloc(hl + len);
	uint32_t cut = (uint32_t)hl, r;

	assert_non_null(b);
	memcpy(b, h, hl);
	memcpy(b + hl, frame, len);
	r = tx_chain(fx, pair, b, hl + len, &cut, 1, 0);
	free(b);
	return r;
}

uint8_t ctrl(struct nfx *fx, unsigned cls, unsigned cmd, const void *data, size_t len)
{
	struct vio_drv_vq *vq = &fx->vqs[ctrlq(fx)];
	struct vio_sg out[2], in[1];
	uint64_t a, da = 0, aa;
	uint8_t *h = dma(fx, 2, &a), *ack = dma(fx, 1, &aa);
	uint32_t used;
	int token;

	h[0] = (uint8_t)cls;
	h[1] = (uint8_t)cmd;
	if (len)
		memcpy(dma(fx, len, &da), data, len);
	out[0] = (struct vio_sg){ a, 2 };
	out[1] = (struct vio_sg){ da, (uint32_t)len };
	in[0] = (struct vio_sg){ aa, 1 };
	*ack = 0xee;
	assert_int_equal(vio_drvq_add(&vq->q, out, len ? 2 : 1, in, 1, &token), 0);
	vio_drv_vq_kick(vq);
	assert_ptr_equal(reap(fx, ctrlq(fx), &used), &token);
	assert_int_equal(used, 1);
	return *ack;
}

uint8_t pairs_set(struct nfx *fx, unsigned n)
{
	const vio_le16 v = vio_cpu_to_le16((uint16_t)n);

	return ctrl(fx, VIO_NET_CTRL_MQ, VIO_NET_CTRL_MQ_VQ_PAIRS_SET, &v, 2);
}

void make_frame(uint8_t *f, size_t len, const uint8_t *dst, const uint8_t *src, unsigned seed)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x08;
	f[13] = 0x00;
	for (size_t i = 14; i < len; i++)
		f[i] = (uint8_t)(i * 7 + seed * 13 + (i >> 8));
}

int rx_frames(struct nfx *fx, unsigned pair, const struct vio_net_frame *frames, unsigned n)
{
	int r;

	/* The device's receive is serialised with its queues: in threaded
	 * mode the device thread serves them under the loopback lock. */
	if (fx->row->threaded)
		vio_loopback_lock(&fx->lb);
	r = vio_net_dev_receive(&fx->net, pair, frames, n);
	if (fx->row->threaded)
		vio_loopback_unlock(&fx->lb);
	return r;
}

int rx_bytes(struct nfx *fx, unsigned pair, const uint8_t *f, size_t len)
{
	struct vio_iov iov = { (void *)f, len };
	struct vio_net_frame fr = { .len = (uint32_t)len, .iov = &iov, .iovcnt = 1 };

	return rx_frames(fx, pair, &fr, 1);
}

void set_link(struct nfx *fx, bool up)
{
	vio_loopback_lock(&fx->lb);
	vio_net_dev_set_link(&fx->net, up);
	vio_loopback_unlock(&fx->lb);
}

int announce(struct nfx *fx)
{
	int r;

	vio_loopback_lock(&fx->lb);
	r = vio_net_dev_announce(&fx->net);
	vio_loopback_unlock(&fx->lb);
	return r;
}

uint16_t config_status(struct nfx *fx)
{
	vio_le16 st;

	vio_drv_wait(D(fx), 10);
	assert_int_equal(vio_drv_config_read(D(fx), offsetof(struct vio_net_config, status), &st,
					     sizeof(st)), 0);
	return vio_le16_to_cpu(st);
}

void pair_stats(struct nfx *fx, unsigned pair, struct vio_net_pair_stats *s)
{
	assert_int_equal(vio_net_dev_stats(&fx->net, pair, s), 0);
}

/* Registration                                                             */

static struct nrow rows[2 * 2 * 2 * 2];

int nfx_run(const char *group, const struct nfx_tables *tab)
{
	static const struct { const char *name; uint64_t f; } evt[] = {
		{ "noevt", 0 }, { "evt", VIO_BIT(VIO_F_EVENT_IDX) },
	};
	struct CMUnitTest *t = calloc(tab->nplain + ARRAY_LEN(rows) * (tab->ndirect + tab->nthreaded),
				      sizeof(*t));
	size_t nt = 0, nrows = 0;

	if (!t)
		return 1;
	for (size_t k = 0; k < tab->nplain; k++)
		vt_add_test(t, &nt, "plain", tab->plain[k].name, tab->plain[k].fn, NULL, NULL, NULL);
	for (unsigned m = 0; m < 2; m++)
	for (unsigned l = 0; l < ARRAY_LEN(layouts); l++)
	for (unsigned e = 0; e < ARRAY_LEN(evt); e++)
	for (unsigned g = 0; g < 2; g++) {
		struct nrow *row = &rows[nrows++];
		const struct named_test *tests = m ? tab->threaded : tab->direct;
		size_t ntests = m ? tab->nthreaded : tab->ndirect;

		row->threaded = m;
		row->mrg = g;
		row->ring = layouts[l].features | evt[e].f | VIO_BIT(VIO_F_INDIRECT_DESC) |
			    VIO_BIT(VIO_F_IN_ORDER);
		snprintf(row->name, sizeof(row->name), "%s/%s/%s/%s", m ? "threaded" : "direct",
			 layouts[l].name, evt[e].name, g ? "mrg" : "nomrg");
		for (size_t k = 0; k < ntests; k++)
			vt_add_test(t, &nt, row->name, tests[k].name, tests[k].fn, nfx_setup,
				    nfx_teardown, row);
	}
	return vt_run_group(group, t, nt);
}
