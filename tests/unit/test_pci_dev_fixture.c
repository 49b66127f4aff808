/*
 * test_pci_dev_fixture.c - the device type, guest memory, VMM callbacks and
 * register-level driver the virtio-pci model's tests share (see
 * test_pci_dev_fixture.h).
 */
#include "test_pci_dev_fixture.h"

/* ------------------------------------------------------------------------ */
/* The device type                                                          */

static struct tdev *tdev_of(struct vio_dev_model *d)
{
	return (struct tdev *)((char *)d - offsetof(struct tdev, d));
}

static void tdev_notify(struct vio_dev_model *d, unsigned qi)
{
	struct tdev *t = tdev_of(d);
	struct vio_devq *vq = vio_dev_vq(d, qi);

	t->kicks[qi]++;
	if (!vq || t->mode == TDEV_IDLE)
		return;
	for (;;) {
		struct vio_elem *e = &t->held[t->nheld];
		struct vio_elem tmp;

		if (t->mode == TDEV_ECHO)
			e = &tmp;
		memset(e, 0, sizeof(*e));
		e->out = t->iov[t->nheld][0];
		e->in = t->iov[t->nheld][1];
		e->out_cap = e->in_cap = 4;
		if (vio_dev_check(d, qi, vio_devq_pop(vq, e)) < 0)
			break;
		if (t->mode == TDEV_ECHO)
			assert_int_equal(vio_devq_push(vq, e, 0), 0);
		else
			t->nheld++;
	}
	vio_dev_interrupt(d, qi);
}

static void tdev_reset(struct vio_dev_model *d)
{
	struct tdev *t = tdev_of(d);

	t->resets++;
	t->nheld = 0; /* the chains held are forgotten: the driver takes them back */
}

static void tdev_config_write(struct vio_dev_model *d, unsigned off, unsigned len)
{
	tdev_of(d)->cfg_writes++;
}

static void tdev_queue_reset(struct vio_dev_model *d, unsigned qi)
{
	tdev_of(d)->qresets++;
}

static const struct vio_dev_ops tdev_ops = {
	.version = VIO_DEV_OPS_VERSION,
	.reset = tdev_reset,
	.queue_notify = tdev_notify,
	.config_write = tdev_config_write,
	.queue_reset = tdev_queue_reset,
};

/* ------------------------------------------------------------------------ */
/* The VMM's callbacks                                                      */

static void on_msix(void *opaque, unsigned vector, uint64_t addr, uint32_t data)
{
	struct fx *f = opaque;

	assert_true(f->nmsi < 256);
	f->msi_vec[f->nmsi] = vector;
	f->msi_addr[f->nmsi] = addr;
	f->msi_data[f->nmsi] = data;
	f->nmsi++;
}

static void on_intx(void *opaque, bool level)
{
	struct fx *f = opaque;

	assert_true(level != f->intx); /* only changes are reported */
	f->intx = level;
	f->intx_changes++;
}

static void on_notify(void *opaque, unsigned qi)
{
	struct fx *f = opaque;

	assert_true(qi < TQ);
	f->notify_cb[qi]++;
}

struct fx *fx_new(enum vio_pci_dev_mode mode, unsigned nvec, uint64_t features, uint32_t id,
		  bool notify_cb)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct vio_pci_dev_opts o;

	assert_non_null(f);
	f->guest = aligned_alloc(4096, GMEM);
	assert_non_null(f->guest);
	memset(f->guest, 0, GMEM);
	vio_mem_init(&f->mem, f->regions, 2);
	assert_int_equal(vio_mem_add(&f->mem, GPA, GMEM, f->guest), 0);

	f->t.d.device_id = id;
	f->t.d.host_features = features;
	f->t.d.legacy_ok = true;
	f->t.d.config = f->t.config;
	f->t.d.config_len = TCFG;
	f->t.d.queues = f->t.q;
	f->t.d.num_queues = TQ;
	f->t.d.ops = &tdev_ops;
	for (unsigned i = 0; i < TQ; i++)
		f->t.q[i].max_size = TMAX;
	for (unsigned i = 0; i < TCFG; i++)
		f->t.config[i] = (uint8_t)(0xa0 + i);
	assert_int_equal(vio_dev_init(&f->t.d), 0);
	f->t.d.mem = &f->mem;

	f->ops.version = VIO_PCI_DEV_OPS_VERSION;
	f->ops.msix = on_msix;
	f->ops.intx = on_intx;
	f->ops.notify = notify_cb ? on_notify : NULL;
	memset(&o, 0, sizeof(o));
	o.mode = mode;
	o.msix_vectors = nvec;
	o.ops = &f->ops;
	o.opaque = f;
	assert_int_equal(vio_pci_dev_init(&f->p, &f->t.d, &o), 0);
	return f;
}

void fx_free(struct fx *f)
{
	vio_pci_dev_fini(&f->p);
	free(f->guest);
	free(f);
}

/* ------------------------------------------------------------------------ */
/* Accesses                                                                 */

uint32_t cr(struct fx *f, unsigned off, unsigned width)
{
	uint32_t v = 0;

	assert_int_equal(vio_pci_dev_cfg_read(&f->p, off, width, &v), 0);
	return v;
}

void cw(struct fx *f, unsigned off, unsigned width, uint32_t v)
{
	assert_int_equal(vio_pci_dev_cfg_write(&f->p, off, width, v), 0);
}

uint64_t br(struct fx *f, unsigned bar, uint64_t off, unsigned width)
{
	uint64_t v = 0;

	assert_int_equal(vio_pci_dev_bar_read(&f->p, bar, off, width, &v), 0);
	return v;
}

void bw(struct fx *f, unsigned bar, uint64_t off, unsigned width, uint64_t v)
{
	assert_int_equal(vio_pci_dev_bar_write(&f->p, bar, off, width, v), 0);
}

/* The spec's widths, written out here rather than taken from the model. */
unsigned common_reg_width(unsigned off)
{
	if (off < 0x10 || (off >= 0x20 && off < 0x38))
		return 4;
	if (off == 0x14 || off == 0x15)
		return 1;
	return 2;
}

uint64_t mr(struct fx *f, unsigned off)
{
	return br(f, MODERN, COMMON(off), common_reg_width(off));
}

void mw(struct fx *f, unsigned off, uint64_t v)
{
	bw(f, MODERN, COMMON(off), common_reg_width(off), v);
}

void fx_msix_on(struct fx *f)
{
	for (unsigned v = 0; v < f->p.nvec; v++) {
		uint64_t e = VIO_PCI_DEV_MSIX_TABLE_OFF + v * VIO_PCI_MSIX_ENTRY_SIZE;

		bw(f, MSIXBAR, e + VIO_PCI_MSIX_ENTRY_ADDR_LO, 4, (uint32_t)MSI_ADDR(v));
		bw(f, MSIXBAR, e + VIO_PCI_MSIX_ENTRY_ADDR_HI, 4, MSI_ADDR(v) >> 32);
		bw(f, MSIXBAR, e + VIO_PCI_MSIX_ENTRY_DATA, 4, MSI_DATA(v));
		bw(f, MSIXBAR, e + VIO_PCI_MSIX_ENTRY_CTRL, 4, 0);
	}
	cw(f, VIO_PCI_DEV_CAP_MSIX + VIO_PCI_MSIX_FLAGS, 2, VIO_PCI_MSIX_FLAGS_ENABLE);
}

/* ------------------------------------------------------------------------ */
/* The driver                                                               */

void drv_status(struct fx *f, uint8_t s)
{
	mw(f, VIO_PCI_COMMON_STATUS, s);
}

void drv_features(struct fx *f, uint64_t features)
{
	drv_status(f, S_ACK);
	drv_status(f, S_ACK | S_DRV);
	mw(f, VIO_PCI_COMMON_GFSELECT, 0);
	mw(f, VIO_PCI_COMMON_GF, (uint32_t)features);
	mw(f, VIO_PCI_COMMON_GFSELECT, 1);
	mw(f, VIO_PCI_COMMON_GF, features >> 32);
	drv_status(f, S_ACK | S_DRV | S_FOK);
	assert_int_equal(mr(f, VIO_PCI_COMMON_STATUS), S_ACK | S_DRV | S_FOK);
	f->features = features;
}

void drv_queue(struct fx *f, unsigned qi, unsigned size)
{
	uint8_t *base = f->guest + qi * RING_STRIDE;
	uint64_t dma = GPA + qi * RING_STRIDE;
	struct vio_drvq_config c;

	memset(&c, 0, sizeof(c));
	c.size = size;
	c.features = f->features;
	c.desc = base;
	c.driver = base + 0x1000;
	c.device = base + 0x2000;
	c.dma.desc = dma;
	c.dma.driver = dma + 0x1000;
	c.dma.device = dma + 0x2000;
	c.slots = f->slots[qi];
	assert_int_equal(vio_drvq_init(&f->dq[qi], &c), 0);

	mw(f, VIO_PCI_COMMON_Q_SELECT, qi);
	mw(f, VIO_PCI_COMMON_Q_SIZE, size);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_SIZE), size);
	mw(f, VIO_PCI_COMMON_Q_MSIX, qi + 1);
	mw(f, VIO_PCI_COMMON_Q_DESCLO, (uint32_t)c.dma.desc);
	mw(f, VIO_PCI_COMMON_Q_DESCHI, c.dma.desc >> 32);
	mw(f, VIO_PCI_COMMON_Q_AVAILLO, (uint32_t)c.dma.driver);
	mw(f, VIO_PCI_COMMON_Q_AVAILHI, c.dma.driver >> 32);
	mw(f, VIO_PCI_COMMON_Q_USEDLO, (uint32_t)c.dma.device);
	mw(f, VIO_PCI_COMMON_Q_USEDHI, c.dma.device >> 32);
	mw(f, VIO_PCI_COMMON_Q_ENABLE, 1);
	assert_int_equal(mr(f, VIO_PCI_COMMON_Q_ENABLE), 1);
}

void drv_modern_up(struct fx *f, uint64_t features, unsigned nq, unsigned size)
{
	drv_features(f, features);
	mw(f, VIO_PCI_COMMON_MSIX, 0);
	for (unsigned qi = 0; qi < nq; qi++)
		drv_queue(f, qi, size);
	drv_status(f, S_ACK | S_DRV | S_FOK | S_DOK);
	assert_int_equal(mr(f, VIO_PCI_COMMON_STATUS), S_ACK | S_DRV | S_FOK | S_DOK);
}

void drv_kick(struct fx *f, unsigned qi)
{
	bw(f, MODERN, NOTIFY(qi), 2, qi);
}

void drv_legacy_up(struct fx *f, uint32_t features, unsigned nq)
{
	bw(f, LEGACY, VIO_PCI_LEGACY_STATUS, 1, S_ACK);
	bw(f, LEGACY, VIO_PCI_LEGACY_STATUS, 1, S_ACK | S_DRV);
	bw(f, LEGACY, VIO_PCI_LEGACY_GUEST_FEATURES, 4, features);
	f->features = features;
	for (unsigned qi = 0; qi < nq; qi++) {
		uint64_t dma = GPA + qi * RING_STRIDE;
		struct vio_drvq_config c;
		struct vio_ring_addrs a;
		unsigned size;

		bw(f, LEGACY, VIO_PCI_LEGACY_QUEUE_SEL, 2, qi);
		size = (unsigned)br(f, LEGACY, VIO_PCI_LEGACY_QUEUE_NUM, 2);
		assert_int_equal(size, TMAX);
		vio_ring_legacy_layout(dma, size, VIO_LEGACY_VRING_ALIGN, &a);
		memset(&c, 0, sizeof(c));
		c.size = size;
		c.features = features;
		c.desc = f->guest + (a.desc - GPA);
		c.driver = f->guest + (a.driver - GPA);
		c.device = f->guest + (a.device - GPA);
		c.dma = a;
		c.slots = f->slots[qi];
		assert_int_equal(vio_drvq_init(&f->dq[qi], &c), 0);
		bw(f, LEGACY, VIO_PCI_LEGACY_QUEUE_PFN, 4, dma >> VIO_PCI_LEGACY_PFN_SHIFT);
		assert_int_equal(br(f, LEGACY, VIO_PCI_LEGACY_QUEUE_PFN, 4),
				 dma >> VIO_PCI_LEGACY_PFN_SHIFT);
	}
	bw(f, LEGACY, VIO_PCI_LEGACY_STATUS, 1, S_ACK | S_DRV | S_DOK);
	assert_int_equal(br(f, LEGACY, VIO_PCI_LEGACY_STATUS, 1), S_ACK | S_DRV | S_DOK);
}

void drv_legacy_kick(struct fx *f, unsigned qi)
{
	bw(f, LEGACY, VIO_PCI_LEGACY_QUEUE_NOTIFY, 2, qi);
}

void drv_post(struct fx *f, unsigned qi, void *tok)
{
	uint64_t buf = GPA + BUF_OFF + qi * 0x100;
	struct vio_sg out = { buf, 16 }, in = { buf + 16, 16 };

	assert_int_equal(vio_drvq_add(&f->dq[qi], &out, 1, &in, 1, tok), 0);
	(void)vio_drvq_kick_prepare(&f->dq[qi]);
}

void *drv_reap(struct fx *f, unsigned qi)
{
	void *tok = NULL;
	uint32_t len;

	if (vio_drvq_get_buf(&f->dq[qi], &tok, &len) < 0)
		return NULL;
	return tok;
}
