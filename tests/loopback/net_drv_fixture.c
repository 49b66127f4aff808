/*
 * net_drv_fixture.c - the test network device, the fixture and the
 * registration of the net driver tests; see net_drv_fixture.h.
 */
#include "net_drv_fixture.h"

#include "forge.h"
#include "heap.h"

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

static struct ndev *nd_of(struct vio_dev_model *d)
{
	return container_of(d, struct ndev, d);
}

struct vio_drv_device *ND(struct nfx *fx)
{
	return &fx->lb.vdev;
}

static uint32_t dev_hdr_len(struct ndev *n)
{
	return (uint32_t)vio_net_hdr_len(n->d.features);
}

uint32_t nd_hdr_len(struct nfx *fx)
{
	return (uint32_t)vio_net_hdr_len(ND(fx)->features);
}

static bool pop(struct vio_devq *vq, struct nd_held *h)
{
	memset(h, 0, sizeof(*h));
	h->e.out = h->out;
	h->e.out_cap = ARRAY_LEN(h->out);
	h->e.in = h->in;
	h->e.in_cap = ARRAY_LEN(h->in);
	return vq && vio_devq_pop(vq, &h->e) == 0;
}

/* Echo: one transmitted frame (its bytes after the header) into a
 * receive buffer of the same pair, or dropped when none is posted. */
static void echo_frame(struct ndev *n, unsigned pair, const struct nd_held *t)
{
	struct vio_devq *rq = vio_dev_vq(&n->d, 2 * pair);
	uint32_t hl = dev_hdr_len(n);
	uint8_t buf[ND_REC_BYTES];
	size_t len = vio_iov_to_buf(t->e.out, t->e.out_num, 0, buf, sizeof(buf));
	struct vio_net_hdr h;
	struct nd_held r;

	if (!pop(rq, &r)) {
		n->echo_drops[pair]++;
		return;
	}
	memcpy(&h, buf, hl);
	h.num_buffers = vio_cpu_to_le16(1);
	memcpy(buf, &h, hl);
	len = vio_iov_from_buf(r.e.in, r.e.in_num, 0, buf, len);
	assert_int_equal(vio_devq_push(rq, &r.e, (uint32_t)len), 0);
	vio_dev_interrupt(&n->d, 2 * pair);
}

static void tx_notify(struct ndev *n, unsigned qi)
{
	unsigned pair = qi / 2;
	struct vio_devq *vq = vio_dev_vq(&n->d, qi);
	struct nd_held h;

	if (pair >= ND_MAX_PAIRS)
		return;
	while (n->n_tx_held[pair] < ND_QMAX && pop(vq, &h)) {
		unsigned k = n->ntx[pair] % ND_TX_REC;

		n->tx[pair][k].len = (uint32_t)vio_iov_to_buf(h.e.out, h.e.out_num, 0,
							      n->tx[pair][k].b, ND_REC_BYTES);
		n->tx[pair][k].descs = h.e.out_num;
		n->ntx[pair]++;
		if (n->echo)
			echo_frame(n, pair, &h);
		if (n->tx_hold) {
			n->tx_held[pair][n->n_tx_held[pair]++] = h;
			continue;
		}
		assert_int_equal(vio_devq_push(vq, &h.e, 0), 0);
	}
	vio_dev_interrupt(&n->d, qi);
}

static void ctrl_notify(struct ndev *n, unsigned qi)
{
	struct vio_devq *vq = vio_dev_vq(&n->d, qi);
	struct nd_held h;

	while (pop(vq, &h)) {
		n->ctrl_len = (uint32_t)vio_iov_to_buf(h.e.out, h.e.out_num, 0, n->ctrl,
						       sizeof(n->ctrl));
		n->ctrl_descs = h.e.out_num;
		n->ctrl_cmds++;
		if (n->ctrl_silent)
			continue; /* never answered */
		assert_int_equal(vio_iov_from_buf(h.e.in, h.e.in_num, 0, &n->ctrl_ack, 1), 1);
		assert_int_equal(vio_devq_push(vq, &h.e, 1), 0);
	}
	vio_dev_interrupt(&n->d, qi);
}

static void nd_notify(struct vio_dev_model *d, unsigned qi)
{
	struct ndev *n = nd_of(d);

	if (qi == 2 * n->pairs)
		ctrl_notify(n, qi);
	else if (qi & 1)
		tx_notify(n, qi);
	/* receive: the test fills buffers itself */
}

static void nd_reset(struct vio_dev_model *d)
{
	struct ndev *n = nd_of(d);

	memset(n->n_rx_held, 0, sizeof(n->n_rx_held));
	memset(n->n_tx_held, 0, sizeof(n->n_tx_held));
}

static const struct vio_dev_ops nd_ops = {
	.version = VIO_DEV_OPS_VERSION,
	.reset = nd_reset,
	.queue_notify = nd_notify,
};

static void forge_used_len(struct nfx *fx, unsigned qi, unsigned k, uint32_t len)
{
	vt_forge_used_len(&ND(fx)->vqs[qi].q, k, len);
}

unsigned dev_rx_frame(struct nfx *fx, unsigned pair, const struct nd_rx *rx)
{
	struct ndev *n = &fx->nd;
	struct vio_devq *vq = vio_dev_vq(&n->d, 2 * pair);
	uint32_t hl = dev_hdr_len(n);
	bool mrg = vio_dev_has_feature(&n->d, VIO_NET_F_MRG_RXBUF);
	uint8_t frame[1 << 17];
	uint32_t total = hl + rx->len, off = 0;
	struct vio_net_hdr h = rx->h;
	unsigned nb = 0, publish;

	assert_true(total <= sizeof(frame));
	memcpy(frame + hl, rx->data, rx->len);
	/* Pop the buffers first: num_buffers must say how many. */
	while (off < total || nb == 0) {
		struct nd_held *e = &n->rx_held[pair][nb];

		assert_true(nb < 8);
		assert_true(pop(vq, e));
		e->len = (uint32_t)vio_iov_length(e->e.in, e->e.in_num);
		if (e->len > total - off)
			e->len = total - off;
		off += e->len;
		nb++;
		if (!mrg)
			break;
	}
	h.num_buffers = vio_cpu_to_le16(rx->num_buffers >= 0 ? (uint16_t)rx->num_buffers :
					(uint16_t)(mrg ? nb : 1));
	memcpy(frame, &h, hl);
	off = 0;
	for (unsigned k = 0; k < nb; k++) {
		struct nd_held *e = &n->rx_held[pair][k];

		vio_iov_from_buf(e->e.in, e->e.in_num, 0, frame + off, e->len);
		off += e->len;
	}
	n->n_rx_held[pair] = nb;
	publish = rx->publish && rx->publish < nb ? rx->publish : nb;
	for (unsigned k = 0; k < publish; k++) {
		struct nd_held *e = &n->rx_held[pair][k];

		assert_int_equal(vio_devq_fill(vq, &e->e, e->len), 0);
		if (k < ARRAY_LEN(rx->used_len) && rx->used_len[k])
			forge_used_len(fx, 2 * pair, k, rx->used_len[k]);
	}
	assert_int_equal(vio_devq_flush(vq), 0);
	vio_dev_interrupt(&n->d, 2 * pair);
	/* What is left is published by dev_rx_publish(). */
	memmove(n->rx_held[pair], n->rx_held[pair] + publish,
		(nb - publish) * sizeof(n->rx_held[pair][0]));
	n->n_rx_held[pair] = nb - publish;
	return nb;
}

void dev_rx_publish(struct nfx *fx, unsigned pair)
{
	struct ndev *n = &fx->nd;
	struct vio_devq *vq = vio_dev_vq(&n->d, 2 * pair);

	for (unsigned k = 0; k < n->n_rx_held[pair]; k++)
		assert_int_equal(vio_devq_fill(vq, &n->rx_held[pair][k].e,
					       n->rx_held[pair][k].len), 0);
	assert_int_equal(vio_devq_flush(vq), 0);
	n->n_rx_held[pair] = 0;
	vio_dev_interrupt(&n->d, 2 * pair);
}

unsigned dev_tx_complete(struct nfx *fx, unsigned pair)
{
	return dev_tx_complete_len(fx, pair, 0);
}

unsigned dev_tx_complete_len(struct nfx *fx, unsigned pair, uint32_t len)
{
	struct ndev *n = &fx->nd;
	struct vio_devq *vq = vio_dev_vq(&n->d, 2 * pair + 1);
	unsigned done = n->n_tx_held[pair];

	for (unsigned k = 0; k < done; k++) {
		assert_int_equal(vio_devq_fill(vq, &n->tx_held[pair][k].e, 0), 0);
		if (len)
			forge_used_len(fx, 2 * pair + 1, k, len);
	}
	assert_int_equal(vio_devq_flush(vq), 0);
	n->n_tx_held[pair] = 0;
	vio_dev_interrupt(&n->d, 2 * pair + 1);
	return done;
}

unsigned dev_rx_avail(struct nfx *fx, unsigned pair)
{
	/* Buffers the driver has posted and not reaped (whether used yet or
	 * not): ND_QMAX right after a refill. */
	struct vio_drvq *q = &ND(fx)->vqs[2 * pair].q;

	(void)fx;
	return q->size - vio_drvq_num_free(q);
}

/* Fixture                                                                  */

void nd_config_cb(void *opaque, struct vio_drv_device *dev, unsigned events)
{
	struct nfx *fx = opaque;

	(void)dev;
	fx->events |= events;
	fx->ncb++;
}

static void nd_log(void *opaque, enum vio_log_level level, const char *msg)
{
	struct nfx *fx = opaque;

	(void)level;
	pthread_mutex_lock(&fx->log_lock);
	fx->nlogs++;
	snprintf(fx->last_log, sizeof(fx->last_log), "%s", msg);
	pthread_mutex_unlock(&fx->log_lock);
}

void nd_assert_logged(struct nfx *fx, const char *what)
{
	pthread_mutex_lock(&fx->log_lock);
	if (!strstr(fx->last_log, what))
		fail_msg("last log line \"%s\" does not mention \"%s\"", fx->last_log, what);
	pthread_mutex_unlock(&fx->log_lock);
}

void ndev_init(struct ndev *n, uint64_t features, unsigned pairs, unsigned qmax, unsigned mtu,
	       bool legacy_ok)
{
	n->pairs = pairs;
	n->cfg = (struct vio_net_config){
		.status = vio_cpu_to_le16(VIO_NET_S_LINK_UP),
		.max_virtqueue_pairs = vio_cpu_to_le16((uint16_t)pairs),
		.mtu = vio_cpu_to_le16((uint16_t)(mtu ? mtu : 1500)),
		.speed = vio_cpu_to_le32(10000),
		.duplex = VIO_NET_DUPLEX_FULL,
		.rss_max_key_size = 40,
		.rss_max_indirection_table_length = vio_cpu_to_le16(128),
		.supported_hash_types = vio_cpu_to_le32(VIO_NET_HASH_TYPE_ALL),
	};
	memcpy(n->cfg.mac, nd_mac, 6);
	n->d.device_id = VIO_ID_NET;
	n->d.host_features = features | VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_EVENT_IDX) |
			     VIO_BIT(VIO_F_INDIRECT_DESC);
	n->d.legacy_ok = legacy_ok;
	n->d.config = (uint8_t *)&n->cfg;
	n->d.config_len = sizeof(n->cfg);
	n->d.queues = n->q;
	n->d.num_queues = 2 * pairs + (features & NF(CTRL_VQ) ? 1 : 0);
	n->d.ops = &nd_ops;
	for (unsigned i = 0; i < ND_NQ; i++)
		n->q[i].max_size = qmax ? qmax : ND_QMAX;
	assert_int_equal(vio_dev_init(&n->d), 0);
}

void nfx_up(struct nfx *fx)
{
	ndev_init(&fx->nd, fx->offer | fx->lay->features, fx->pairs ? fx->pairs : 1, fx->qmax,
		  fx->mtu, fx->legacy);
	if (fx->legacy)
		fx->opts.features_off |= VIO_BIT(VIO_F_VERSION_1);
	assert_int_equal(vio_loopback_init(&fx->lb, &fx->nd.d, ND_ARENA, false), 0);
	fx->lb_up = true;
	vio_bus_init(&fx->bus, vt_heap_alloc, vt_heap_free, NULL);
	fx->bus.log = nd_log;
	fx->bus.log_opaque = fx;
	fx->bus_up = true;
	if (fx->opts.timeout_ms == 0)
		fx->opts.timeout_ms = 2000;
	assert_int_equal(vio_net_drv_register(&fx->bus, &fx->drv, &fx->opts), 0);
	assert_int_equal(vio_bus_add_device(&fx->bus, ND(fx)), 0);
	assert_ptr_equal(ND(fx)->driver, &fx->drv.drv);
}

static int nfx_setup(void **state)
{
	struct nfx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->lay = *state;
	pthread_mutex_init(&fx->log_lock, NULL);
	*state = fx;
	return 0;
}

static int nfx_teardown(void **state)
{
	struct nfx *fx = *state;

	if (fx->bus_up) {
		vio_bus_remove_device(&fx->bus, ND(fx));
		vio_net_drv_unregister(&fx->bus, &fx->drv);
	}
	if (fx->lb_up)
		vio_loopback_fini(&fx->lb);
	pthread_mutex_destroy(&fx->log_lock);
	free(fx);
	return 0;
}

/* Ring features crossed with the layouts: every test runs with and
 * without IN_ORDER. */
static const struct {
	const char *name;
	uint64_t features;
} orders[] = {
	{ "", 0 },
	{ ",in_order", VIO_BIT(VIO_F_IN_ORDER) },
};

static struct layout rows[ARRAY_LEN(layouts) * ARRAY_LEN(orders)];
static char row_names[ARRAY_LEN(rows)][32];

int nd_run(const char *group, const struct nd_test *t, size_t n)
{
	size_t total = n * ARRAY_LEN(rows), k = 0;
	struct CMUnitTest *tests = calloc(total, sizeof(*tests));
	char (*names)[128] = calloc(total, sizeof(*names));
	int r;

	for (size_t l = 0; l < ARRAY_LEN(layouts); l++) {
		for (size_t o = 0; o < ARRAY_LEN(orders); o++) {
			size_t i = l * ARRAY_LEN(orders) + o;

			snprintf(row_names[i], sizeof(row_names[i]), "%s%s", layouts[l].name,
				 orders[o].name);
			rows[i] = (struct layout){ row_names[i],
						   layouts[l].features | orders[o].features };
		}
	}
	for (size_t l = 0; l < ARRAY_LEN(rows); l++) {
		for (size_t i = 0; i < n; i++, k++) {
			snprintf(names[k], sizeof(names[k]), "%s %s [%s]", group, t[i].name,
				 rows[l].name);
			tests[k] = (struct CMUnitTest){
				.name = names[k],
				.test_func = t[i].fn,
				.setup_func = nfx_setup,
				.teardown_func = nfx_teardown,
				.initial_state = (void *)&rows[l],
			};
		}
	}
	r = _cmocka_run_group_tests(group, tests, total, NULL, NULL);
	free(tests);
	free(names);
	return r;
}
