/*
 * test_corners.c - the seed's corners that issue #14 closed, on libvio's
 * real device types (blk, net, rng, console, balloon):
 *
 *   config writes a device refuses: a write to a field the device type
 *     does not declare writable comes back as an error and leaves config
 *     space as it was, over loopback (-EPERM to the driver) and over
 *     vhost-user with libvio's frontend and backend (SET_CONFIG refused
 *     through REPLY_ACK: -EIO); the one writable field of each type is
 *     taken;
 *   legacy byte order: a driver without VERSION_1 sees config space in
 *     its own byte order, here a simulated big-endian one (the device
 *     model's legacy_order), whole fields and byte by byte, reads and
 *     writes; modern drivers see little-endian whatever legacy_order says;
 *   RING_RESET through the driver model: vio_blk_drv_reset_queue() over
 *     loopback hands back every request of the queue (finished ones with
 *     their status, the rest -ECANCELED), leaves the other queue alone,
 *     and the queue works again; split and packed.
 *
 * The driver side is driven by hand through the transport's ops where the
 * test needs raw bytes (a driver would convert them), and by libvio's blk
 * driver for the queue reset.
 */
#include "vu_frontend_fixture.h"

#include "pci_model_platform.h"
#include "vio/transport/pci.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define V1 VIO_BIT(VIO_F_VERSION_1)
#define DISK_BYTES (1u << 20)
#define DISK_SECTORS (DISK_BYTES / 512u)
#define ARENA (4u << 20)

/* ======================================================================== */
/* Every device type, one at a time                                         */

enum kind { K_BLK, K_NET, K_RNG, K_CONSOLE, K_BALLOON };

struct anydev {
	enum kind kind;
	union {
		struct vio_blk_dev blk;
		struct vio_net_dev net;
		struct vio_rng_dev rng;
		struct vio_console_dev con;
		struct vio_balloon_dev bal;
	} u;
};

/* The device-type bits a hand-driven driver takes: what makes the
 * writable fields writable, nothing that makes them read-only
 * (CTRL_MAC_ADDR). */
#define TAKE (V1 | VIO_BIT(VIO_F_RING_PACKED) | VIO_BIT(VIO_F_RING_RESET) |                  \
	      VIO_BIT(VIO_BLK_F_FLUSH) | VIO_BIT(VIO_BLK_F_CONFIG_WCE) | VIO_BIT(VIO_BLK_F_MQ) | \
	      VIO_BIT(VIO_NET_F_MTU) | VIO_BIT(VIO_NET_F_MAC) | VIO_BIT(VIO_NET_F_STATUS) |     \
	      VIO_BIT(VIO_CONSOLE_F_SIZE) | VIO_BIT(VIO_CONSOLE_F_EMERG_WRITE))

static struct vio_dev_model *any_init(struct anydev *a, enum kind k, bool legacy_ok)
{
	memset(a, 0, sizeof(*a));
	a->kind = k;
	switch (k) {
	case K_BLK: {
		struct vio_blk_dev_opts o = { .backend = VIO_BLK_BACKEND_RAM, .size = DISK_BYTES,
					      .legacy_ok = legacy_ok, .queue_size = 64 };

		assert_int_equal(vio_blk_dev_init(&a->u.blk, &o), 0);
		return &a->u.blk.dev;
	}
	case K_NET: {
		struct vio_net_dev_opts o = { .mtu = 1500, .legacy_ok = legacy_ok, .queue_size = 64 };

		assert_int_equal(vio_net_dev_init(&a->u.net, &o), 0);
		return &a->u.net.dev;
	}
	case K_RNG: {
		struct vio_rng_dev_opts o = { .legacy_ok = legacy_ok, .queue_size = 64 };

		assert_int_equal(vio_rng_dev_init(&a->u.rng, &o), 0);
		return &a->u.rng.dev;
	}
	case K_CONSOLE: {
		struct vio_console_dev_opts o = { .in_fd = -1, .out_fd = -1, .legacy_ok = legacy_ok,
						  .queue_size = 64, .cols = 80, .rows = 25,
						  .emerg_write = true };

		assert_int_equal(vio_console_dev_init(&a->u.con, &o), 0);
		return &a->u.con.dev;
	}
	case K_BALLOON: {
		struct vio_balloon_dev_opts o = { .features = V1, .legacy_ok = legacy_ok,
						  .queue_size = 64 };

		assert_int_equal(vio_balloon_dev_init(&a->u.bal, &o), 0);
		return &a->u.bal.dev;
	}
	}
	fail();
	return NULL;
}

static void any_fini(struct anydev *a)
{
	switch (a->kind) {
	case K_BLK: vio_blk_dev_fini(&a->u.blk); break;
	case K_NET: vio_net_dev_fini(&a->u.net); break;
	case K_RNG: vio_rng_dev_fini(&a->u.rng); break;
	case K_CONSOLE: vio_console_dev_fini(&a->u.con); break;
	case K_BALLOON: vio_balloon_dev_fini(&a->u.bal); break;
	}
}

/* A driver by hand: ACKNOWLEDGE, DRIVER, features, and FEATURES_OK for a
 * modern one. A legacy one takes the 32 bits of the legacy interface. */
static void negotiate(struct vio_drv_device *v, bool legacy)
{
	const struct vio_transport_ops *ops = v->ops;
	uint64_t f;

	ops->set_status(v, 0);
	ops->set_status(v, VIO_STATUS_ACKNOWLEDGE);
	ops->set_status(v, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER);
	f = ops->get_features(v) & TAKE & ~VIO_BIT(VIO_F_RING_PACKED);
	if (legacy)
		f &= UINT32_MAX;
	assert_int_equal(ops->set_features(v, f), 0);
	v->features = f;
	v->legacy = legacy;
	if (!legacy) {
		ops->set_status(v, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER |
				       VIO_STATUS_FEATURES_OK);
		assert_true(ops->get_status(v) & VIO_STATUS_FEATURES_OK);
	}
}

/* ======================================================================== */
/* Config writes: refused and taken                                         */

/* One device type's read-only field (a write there is refused) and its
 * writable one, with a value the test writes. */
struct field_case {
	enum kind kind;
	const char *name;
	unsigned ro_off, ro_len;
	unsigned rw_off, rw_len;
	uint8_t rw_val[8];
	bool rw_reads_back;     /* the written bytes read back (emerg_wr reads 0) */
};

static const struct field_case cases[] = {
	{ K_BLK, "blk capacity / writeback", 0, 8, 32, 1, { 0 }, true },
	{ K_NET, "net status / mac", 6, 2, 0, 6, { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 }, true },
	{ K_CONSOLE, "console rows / emerg_wr", 0, 2, 8, 4, { 'x', 0, 0, 0 }, false },
	{ K_BALLOON, "balloon num_pages / actual", 0, 4, 4, 4, { 7, 0, 0, 0 }, true },
};

/* The refused write leaves every byte as it was; the taken one changes
 * its own bytes and nothing else. */
static void check_case(struct vio_drv_device *v, const struct field_case *c, int refused_err)
{
	uint8_t before[64], after[64], junk[8];
	unsigned len = 0;

	/* Config space length: read as much as the device has. */
	while (len < sizeof(before) && vio_drv_config_read(v, 0, before, len + 1) == 0)
		len++;
	assert_true(len >= c->rw_off + c->rw_len && len >= c->ro_off + c->ro_len);
	assert_int_equal(vio_drv_config_read(v, 0, before, len), 0);

	memset(junk, 0xa5, sizeof(junk));
	assert_int_equal(vio_drv_config_write(v, c->ro_off, junk, c->ro_len), refused_err);
	assert_int_equal(vio_drv_config_read(v, 0, after, len), 0);
	assert_memory_equal(before, after, len);
	/* Over the writable field and a read-only byte: refused whole. */
	if (c->rw_off > 0) {
		assert_int_equal(vio_drv_config_write(v, c->rw_off - 1, junk, c->rw_len + 1),
				 refused_err);
		assert_int_equal(vio_drv_config_read(v, 0, after, len), 0);
		assert_memory_equal(before, after, len);
	}

	assert_int_equal(vio_drv_config_write(v, c->rw_off, c->rw_val, c->rw_len), 0);
	assert_int_equal(vio_drv_config_read(v, 0, after, len), 0);
	if (c->rw_reads_back) {
		memcpy(before + c->rw_off, c->rw_val, c->rw_len);
	}
	assert_memory_equal(before, after, len);
}

struct lb_env {
	struct anydev a;
	struct vio_dev_model *d;
	struct vio_loopback lb;
};

static struct lb_env *lb_up(enum kind k, bool legacy_ok)
{
	struct lb_env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	e->d = any_init(&e->a, k, legacy_ok);
	assert_int_equal(vio_loopback_init(&e->lb, e->d, ARENA, false), 0);
	return e;
}

static void lb_down(struct lb_env *e)
{
	vio_loopback_fini(&e->lb);
	any_fini(&e->a);
	free(e);
}

static void config_refused_loopback(void **state)
{
	(void)state;
	for (unsigned i = 0; i < ARRAY_LEN(cases); i++) {
		struct lb_env *e = lb_up(cases[i].kind, false);

		negotiate(&e->lb.vdev, false);
		check_case(&e->lb.vdev, &cases[i], -EPERM);
		lb_down(e);
	}
}

/* What the device type saw of the taken writes. */
static void config_taken_effects(void **state)
{
	struct lb_env *e;
	vio_le32 v32 = vio_cpu_to_le32(123);
	uint8_t b = 0;

	(void)state;
	/* blk: writeback 0 is writethrough once running */
	e = lb_up(K_BLK, false);
	negotiate(&e->lb.vdev, false);
	e->lb.vdev.ops->set_status(&e->lb.vdev, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER |
					       VIO_STATUS_FEATURES_OK | VIO_STATUS_DRIVER_OK);
	assert_false(vio_blk_dev_writethrough(&e->a.u.blk));
	assert_int_equal(vio_drv_config_write(&e->lb.vdev, 32, &b, 1), 0);
	assert_true(vio_blk_dev_writethrough(&e->a.u.blk));
	lb_down(e);

	/* balloon: actual reaches the embedder */
	e = lb_up(K_BALLOON, false);
	negotiate(&e->lb.vdev, false);
	assert_int_equal(vio_drv_config_write(&e->lb.vdev, 4, &v32, 4), 0);
	assert_int_equal(vio_balloon_dev_actual(&e->a.u.bal), 123);
	lb_down(e);

	/* console: emerg_wr's character goes out */
	e = lb_up(K_CONSOLE, false);
	negotiate(&e->lb.vdev, false);
	v32 = vio_cpu_to_le32('!');
	assert_int_equal(vio_drv_config_write(&e->lb.vdev, 8, &v32, 4), 0);
	assert_int_equal(vio_stat_read(&e->a.u.con.stats.emerg_dropped), 1); /* no out_fd */
	lb_down(e);
}

/* net: the MAC is read-only once CTRL_MAC_ADDR is negotiated (it is the
 * control queue's then), writable before. */
static void config_net_mac_with_ctrl_mac(void **state)
{
	struct lb_env *e = lb_up(K_NET, false);
	struct vio_drv_device *v = &e->lb.vdev;
	const uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 1 };
	uint8_t got[6], was[6];
	uint64_t f;

	(void)state;
	v->ops->set_status(v, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER);
	f = v->ops->get_features(v);
	assert_true(vio_has_feature(f, VIO_NET_F_CTRL_MAC_ADDR));
	assert_int_equal(v->ops->set_features(v, V1 | VIO_BIT(VIO_NET_F_MAC) |
						    VIO_BIT(VIO_NET_F_CTRL_VQ) |
						    VIO_BIT(VIO_NET_F_CTRL_MAC_ADDR)), 0);
	v->ops->set_status(v, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER | VIO_STATUS_FEATURES_OK);
	assert_int_equal(vio_drv_config_read(v, 0, was, 6), 0);
	assert_int_equal(vio_drv_config_write(v, 0, mac, 6), -EPERM);
	assert_int_equal(vio_drv_config_read(v, 0, got, 6), 0);
	assert_memory_equal(got, was, 6);
	lb_down(e);
}

/* rng has no config space: every write is refused, even an empty one. */
static void config_rng_none(void **state)
{
	struct lb_env *e = lb_up(K_RNG, false);
	uint8_t b = 1;

	(void)state;
	negotiate(&e->lb.vdev, false);
	assert_int_equal(vio_drv_config_write(&e->lb.vdev, 0, &b, 0), -EPERM);
	assert_int_equal(vio_drv_config_write(&e->lb.vdev, 0, &b, 1), -EINVAL);
	lb_down(e);
}

/* The same over vhost-user: libvio's frontend, libvio's backend in a
 * thread. A refused SET_CONFIG is a REPLY_ACK failure: -EIO. */
static void config_refused_vhost_user(void **state)
{
	(void)state;
	for (unsigned i = 0; i < ARRAY_LEN(cases); i++) {
		struct anydev *a = calloc(1, sizeof(*a));
		struct vio_vu_frontend *fe = calloc(1, sizeof(*fe));
		struct logbuf log = { { 0 }, 0 };
		struct vio_dev_model *d;
		struct vio_vu_frontend_config cfg;
		struct be *be;
		int sv[2];

		assert_non_null(a);
		assert_non_null(fe);
		d = any_init(a, cases[i].kind, false);
		cfg = (struct vio_vu_frontend_config){
			.device_id = d->device_id,
			.memory_bytes = 1u << 20,
			.num_queues = d->num_queues,
			.queue_max = d->queues[0].max_size,
			.log = log_keep,
			.log_opaque = &log,
		};
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		be = be_start(d, sv[1], -1);
		fe->sock = -1;
		assert_int_equal(vio_vu_frontend_connect_fd(fe, sv[0], &cfg), 0);
		check_case(&fe->vdev, &cases[i], -EIO);
		assert_non_null(strstr(log.last, "refused SET_CONFIG"));
		vio_vu_frontend_fini(fe);
		be_stop(be);
		any_fini(a);
		free(fe);
		free(a);
	}
}

/* The register models cannot answer a write: a refused one is dropped,
 * counted (and its first ones logged), config space unchanged; the
 * writable byte still goes through. blk on virtio-mmio and virtio-pci. */
static void irq_none(void *opaque, bool level)
{
	(void)opaque;
	(void)level;
}

static void config_refused_mmio(void **state)
{
	struct anydev *a = calloc(1, sizeof(*a));
	struct vio_mmio_dev m;
	const struct vio_mmio_dev_opts o = { .version = VIO_MMIO_VERSION_MODERN, .irq = irq_none };
	struct vio_dev_model *d;
	uint64_t ignored;

	(void)state;
	assert_non_null(a);
	d = any_init(a, K_BLK, false);
	assert_int_equal(vio_mmio_dev_init(&m, d, &o), 0);
	ignored = m.ignored;
	vio_mmio_dev_write(&m, VIO_MMIO_CONFIG, 4, 0xffffffffu);
	assert_int_equal(m.ignored, ignored + 1);
	assert_int_equal(vio_mmio_dev_read(&m, VIO_MMIO_CONFIG, 4), DISK_SECTORS);
	vio_mmio_dev_write(&m, VIO_MMIO_CONFIG + 32, 1, 0);
	assert_int_equal(m.ignored, ignored + 1);
	assert_int_equal(vio_mmio_dev_read(&m, VIO_MMIO_CONFIG + 32, 1), 0);
	vio_mmio_dev_fini(&m);
	any_fini(a);
	free(a);
}

static void config_refused_pci(void **state)
{
	struct anydev *a = calloc(1, sizeof(*a));
	struct vio_pci_dev *p = calloc(1, sizeof(*p));
	static const struct vio_pci_dev_ops ops = { .version = VIO_PCI_DEV_OPS_VERSION };
	const struct vio_pci_dev_opts o = { .mode = VIO_PCI_DEV_MODERN, .ops = &ops };
	const uint64_t cfg = VIO_PCI_DEV_DEVICE_OFF;
	struct vio_dev_model *d;
	uint64_t v;

	(void)state;
	assert_non_null(a);
	assert_non_null(p);
	d = any_init(a, K_BLK, false);
	assert_int_equal(vio_pci_dev_init(p, d, &o), 0);
	/* memory decoding on, so the BAR answers */
	assert_int_equal(vio_pci_dev_cfg_write(p, VIO_PCI_CFG_COMMAND, 2, VIO_PCI_COMMAND_MEMORY), 0);
	assert_int_equal(vio_pci_dev_bar_write(p, VIO_PCI_DEV_BAR_MODERN, cfg, 4, 0xffffffffu), 0);
	assert_int_equal(__atomic_load_n(&p->config_refused, __ATOMIC_RELAXED), 1);
	assert_int_equal(vio_pci_dev_bar_read(p, VIO_PCI_DEV_BAR_MODERN, cfg, 4, &v), 0);
	assert_int_equal(v, DISK_SECTORS);
	assert_int_equal(vio_pci_dev_bar_write(p, VIO_PCI_DEV_BAR_MODERN, cfg + 32, 1, 0), 0);
	assert_int_equal(__atomic_load_n(&p->config_refused, __ATOMIC_RELAXED), 1);
	assert_int_equal(vio_pci_dev_bar_read(p, VIO_PCI_DEV_BAR_MODERN, cfg + 32, 1, &v), 0);
	assert_int_equal(v, 0);
	vio_pci_dev_fini(p);
	any_fini(a);
	free(p);
	free(a);
}

/* A device type's config_check is asked before anything is stored, with
 * the bytes the driver proposed; a version-2 table (config_write only)
 * still takes every write. */
struct probe {
	struct vio_dev_model dev;
	struct vio_dev_queue q;
	uint8_t config[8];
	uint8_t seen[8];
	unsigned checks, writes;
	int verdict;
};

static void probe_notify(struct vio_dev_model *d, unsigned qi)
{
	(void)d;
	(void)qi;
}

static int probe_check(struct vio_dev_model *d, unsigned off, const void *buf, unsigned len)
{
	struct probe *p = (struct probe *)d;

	p->checks++;
	/* nothing stored yet */
	assert_memory_not_equal(d->config + off, buf, len);
	memcpy(p->seen, buf, len);
	return p->verdict;
}

static void probe_write(struct vio_dev_model *d, unsigned off, unsigned len)
{
	(void)d;
	(void)off;
	(void)len;
	((struct probe *)d)->writes++;
}

static const struct vio_dev_ops probe_ops3 = {
	.version = 3, .queue_notify = probe_notify, .config_write = probe_write,
	.config_check = probe_check,
};

static const struct vio_dev_ops probe_ops2 = {
	.version = 2, .queue_notify = probe_notify, .config_write = probe_write,
	.config_check = probe_check, /* not read: version 2 */
};

static void probe_init(struct probe *p, const struct vio_dev_ops *ops)
{
	memset(p, 0, sizeof(*p));
	p->q.max_size = 8;
	p->dev.queues = &p->q;
	p->dev.num_queues = 1;
	p->dev.config = p->config;
	p->dev.config_len = sizeof(p->config);
	p->dev.ops = ops;
	p->dev.host_features = V1;
	assert_int_equal(vio_dev_init(&p->dev), 0);
}

static void config_check_contract(void **state)
{
	struct probe p;
	const uint8_t w[2] = { 9, 8 };

	(void)state;
	probe_init(&p, &probe_ops3);
	p.verdict = -EACCES;
	assert_int_equal(vio_dev_config_write(&p.dev, 2, w, 2), -EACCES);
	assert_int_equal(p.checks, 1);
	assert_int_equal(p.writes, 0);
	assert_memory_equal(p.seen, w, 2);
	assert_int_equal(p.config[2], 0);
	p.verdict = 1; /* positive means no too */
	assert_int_equal(vio_dev_config_write(&p.dev, 2, w, 2), -EPERM);
	p.verdict = 0;
	assert_int_equal(vio_dev_config_write(&p.dev, 2, w, 2), 0);
	assert_int_equal(p.writes, 1);
	assert_memory_equal(p.config + 2, w, 2);

	probe_init(&p, &probe_ops2);
	p.verdict = -EPERM;
	assert_int_equal(vio_dev_config_write(&p.dev, 2, w, 2), 0);
	assert_int_equal(p.checks, 0);
	assert_int_equal(p.writes, 1);
}

/* vio_dev_init() checks the field table a device type gives. */
static void config_fields_checked(void **state)
{
	static const struct vio_config_field overlap[] = { { 0, 4 }, { 2, 2 } };
	static const struct vio_config_field order[] = { { 4, 2 }, { 0, 2 } };
	static const struct vio_config_field width[] = { { 0, 3 } };
	static const struct vio_config_field outside[] = { { 4, 8 } };
	static const struct vio_config_field good[] = { { 0, 2 }, { 2, 2 }, { 4, 4 } };
	const struct {
		const struct vio_config_field *f;
		unsigned n;
		int want;
	} t[] = {
		{ overlap, 2, -EINVAL }, { order, 2, -EINVAL }, { width, 1, -EINVAL },
		{ outside, 1, -EINVAL }, { NULL, 1, -EINVAL }, { good, 3, 0 },
	};
	struct probe p;

	(void)state;
	for (unsigned i = 0; i < ARRAY_LEN(t); i++) {
		probe_init(&p, &probe_ops3);
		p.dev.config_fields = t[i].f;
		p.dev.config_nfields = t[i].n;
		assert_int_equal(vio_dev_init(&p.dev), t[i].want);
	}
}

/* ======================================================================== */
/* Legacy byte order                                                        */

static void read_raw(struct vio_drv_device *v, unsigned off, uint8_t *b, unsigned len)
{
	uint8_t one[8];

	assert_int_equal(vio_drv_config_read(v, off, b, len), 0);
	/* byte by byte: the same bytes */
	for (unsigned i = 0; i < len; i++)
		assert_int_equal(vio_drv_config_read(v, off + i, &one[i], 1), 0);
	assert_memory_equal(one, b, len);
}

static void expect_be(struct vio_drv_device *v, unsigned off, unsigned len, uint64_t val)
{
	uint8_t b[8], want[8];

	for (unsigned i = 0; i < len; i++)
		want[i] = (uint8_t)(val >> (8 * (len - 1 - i)));
	read_raw(v, off, b, len);
	assert_memory_equal(b, want, len);
}

static void expect_le(struct vio_drv_device *v, unsigned off, unsigned len, uint64_t val)
{
	uint8_t b[8], want[8];

	for (unsigned i = 0; i < len; i++)
		want[i] = (uint8_t)(val >> (8 * i));
	read_raw(v, off, b, len);
	assert_memory_equal(b, want, len);
}

static void blk_fields(struct vio_drv_device *v, bool big)
{
	void (*expect)(struct vio_drv_device *, unsigned, unsigned, uint64_t) =
		big ? expect_be : expect_le;

	expect(v, offsetof(struct vio_blk_config, capacity), 8, DISK_SECTORS);
	expect(v, offsetof(struct vio_blk_config, blk_size), 4, 512);
	expect(v, offsetof(struct vio_blk_config, seg_max), 4, 62);
	expect(v, offsetof(struct vio_blk_config, geometry.cylinders), 2, DISK_SECTORS / (16 * 63));
	expect(v, offsetof(struct vio_blk_config, num_queues), 2, 1);
	/* single bytes are bytes */
	expect(v, offsetof(struct vio_blk_config, geometry.heads), 1, 16);
}

static void legacy_blk_big_endian(void **state)
{
	struct lb_env *e = lb_up(K_BLK, true);

	(void)state;
	e->d->legacy_order = VIO_ORDER_BIG;
	negotiate(&e->lb.vdev, true);
	assert_true(e->d->legacy);
	blk_fields(&e->lb.vdev, true);
	/* the device's own copy stays little-endian */
	assert_int_equal(vio_le64_to_cpu(e->a.u.blk.config.capacity), DISK_SECTORS);
	/* the writeback byte is still writable, still one byte */
	{
		uint8_t b = 0;

		assert_int_equal(vio_drv_config_write(&e->lb.vdev, 32, &b, 1), 0);
		assert_int_equal(e->a.u.blk.config.writeback, 0);
		/* a read-only field refused in big-endian too */
		assert_int_equal(vio_drv_config_write(&e->lb.vdev, 21, &b, 1), -EPERM);
		blk_fields(&e->lb.vdev, true);
	}
	/* reset, then a modern driver: little-endian */
	negotiate(&e->lb.vdev, false);
	assert_false(e->d->legacy);
	blk_fields(&e->lb.vdev, false);
	lb_down(e);
}

static void legacy_blk_little_and_native(void **state)
{
	const enum vio_byte_order orders[] = { VIO_ORDER_LITTLE, VIO_ORDER_NATIVE };

	(void)state;
	for (unsigned i = 0; i < ARRAY_LEN(orders); i++) {
		struct lb_env *e = lb_up(K_BLK, true);

		e->d->legacy_order = orders[i];
		negotiate(&e->lb.vdev, true);
		/* this machine is little-endian: native is little */
		blk_fields(&e->lb.vdev, !VIO_HOST_LITTLE_ENDIAN && orders[i] == VIO_ORDER_NATIVE);
		lb_down(e);
	}
}

static void legacy_net_big_endian(void **state)
{
	struct lb_env *e = lb_up(K_NET, true);
	struct vio_drv_device *v = &e->lb.vdev;
	const uint8_t mac[6] = { 0x02, 1, 2, 3, 4, 5 };
	uint8_t got[6];

	(void)state;
	e->d->legacy_order = VIO_ORDER_BIG;
	negotiate(v, true);
	expect_be(v, offsetof(struct vio_net_config, mtu), 2, 1500);
	expect_be(v, offsetof(struct vio_net_config, status), 2, VIO_NET_S_LINK_UP);
	expect_be(v, offsetof(struct vio_net_config, max_virtqueue_pairs), 2, 1);
	/* the MAC is bytes: written and read as they are */
	assert_int_equal(vio_drv_config_write(v, 0, mac, 6), 0);
	read_raw(v, 0, got, 6);
	assert_memory_equal(got, mac, 6);
	negotiate(v, false);
	expect_le(v, offsetof(struct vio_net_config, mtu), 2, 1500);
	expect_le(v, offsetof(struct vio_net_config, status), 2, VIO_NET_S_LINK_UP);
	lb_down(e);
}

static void legacy_console_big_endian(void **state)
{
	struct lb_env *e = lb_up(K_CONSOLE, true);

	(void)state;
	e->d->legacy_order = VIO_ORDER_BIG;
	negotiate(&e->lb.vdev, true);
	expect_be(&e->lb.vdev, offsetof(struct vio_console_config, cols), 2, 80);
	expect_be(&e->lb.vdev, offsetof(struct vio_console_config, rows), 2, 25);
	expect_be(&e->lb.vdev, offsetof(struct vio_console_config, max_nr_ports), 4, 1);
	lb_down(e);
}

/* Writes too: a big-endian `actual` whole, and its low byte alone (the
 * last one in big-endian), which the core proposes as the whole field. */
static void legacy_balloon_big_endian_writes(void **state)
{
	struct lb_env *e = lb_up(K_BALLOON, true);
	struct vio_drv_device *v = &e->lb.vdev;
	const uint8_t be_actual[4] = { 0x00, 0x01, 0x02, 0x03 };
	const uint8_t low = 0x09;

	(void)state;
	e->d->legacy_order = VIO_ORDER_BIG;
	negotiate(v, true);
	assert_int_equal(vio_balloon_dev_set_target(&e->a.u.bal, 0x2a), 0);
	expect_be(v, offsetof(struct vio_balloon_config, num_pages), 4, 0x2a);
	assert_int_equal(vio_drv_config_write(v, 4, be_actual, 4), 0);
	assert_int_equal(vio_balloon_dev_actual(&e->a.u.bal), 0x010203);
	expect_be(v, 4, 4, 0x010203);
	assert_int_equal(vio_drv_config_write(v, 7, &low, 1), 0);
	assert_int_equal(vio_balloon_dev_actual(&e->a.u.bal), 0x010209);
	/* num_pages stays the device's, in any byte order */
	assert_int_equal(vio_drv_config_write(v, 3, &low, 1), -EPERM);
	expect_be(v, 0, 4, 0x2a);
	lb_down(e);
}

/* ======================================================================== */
/* RING_RESET through the driver model: libvio's blk driver                 */

struct rr_env {
	struct vio_blk_dev blk;
	struct vio_loopback lb;
	struct vio_bus bus;
	struct vio_blk_driver drv;
	uint8_t *buf[8];
	int err[8];
	unsigned done[8];
};

struct rr_req {
	struct rr_env *e;
	unsigned i;
};

static struct rr_req rr_reqs[8];

static void rr_done(void *opaque, int err)
{
	struct rr_req *r = opaque;

	r->e->err[r->i] = err;
	r->e->done[r->i]++;
}

static void *rr_alloc(void *opaque, size_t n)
{
	(void)opaque;
	return malloc(n);
}

static void rr_free(void *opaque, void *p, size_t n)
{
	(void)opaque;
	(void)n;
	free(p);
}

static struct rr_env *rr_up(uint64_t ring, bool ring_reset)
{
	struct rr_env *e = calloc(1, sizeof(*e));
	struct vio_blk_dev_opts o = {
		.backend = VIO_BLK_BACKEND_RAM, .size = DISK_BYTES, .queue_size = 64,
		.num_queues = 2,
		.ring_features = (VIO_BLK_DEV_RING_FEATURES & ~VIO_BIT(VIO_F_RING_PACKED)) | ring |
				 (ring_reset ? VIO_BIT(VIO_F_RING_RESET) : 0),
	};
	struct vio_drv_device *v;

	assert_non_null(e);
	assert_int_equal(vio_blk_dev_init(&e->blk, &o), 0);
	assert_int_equal(vio_loopback_init(&e->lb, &e->blk.dev, ARENA, false), 0);
	vio_bus_init(&e->bus, rr_alloc, rr_free, NULL);
	assert_int_equal(vio_blk_drv_register(&e->bus, &e->drv, NULL), 0);
	assert_int_equal(vio_bus_add_device(&e->bus, &e->lb.vdev), 0);
	v = &e->lb.vdev;
	assert_non_null(v->driver);
	assert_int_equal(vio_blk_drv_num_queues(v), 2);
	assert_int_equal(vio_drv_has_feature(v, VIO_F_RING_RESET), ring_reset);
	assert_int_equal(vio_drv_has_feature(v, VIO_F_RING_PACKED), ring != 0);
	for (unsigned i = 0; i < ARRAY_LEN(e->buf); i++) {
		e->buf[i] = vio_blk_drv_alloc_buffer(v, 4096);
		assert_non_null(e->buf[i]);
		memset(e->buf[i], 0x10 + (int)i, 4096);
		rr_reqs[i] = (struct rr_req){ e, i };
	}
	return e;
}

static void rr_down(struct rr_env *e)
{
	for (unsigned i = 0; i < ARRAY_LEN(e->buf); i++)
		vio_blk_drv_free_buffer(&e->lb.vdev, e->buf[i], 4096);
	vio_bus_remove_device(&e->bus, &e->lb.vdev);
	vio_blk_drv_unregister(&e->bus, &e->drv);
	vio_loopback_fini(&e->lb);
	vio_blk_dev_fini(&e->blk);
	free(e);
}

/* Request i: a 4 KiB write of buf[i] at sector 8 * i, on queue q. */
static int rr_enqueue(struct rr_env *e, unsigned i, unsigned q)
{
	const struct vio_blk_drv_io io = { .type = VIO_BLK_T_OUT, .queue = q, .sector = 8u * i,
					   .buf = e->buf[i], .len = 4096, .done = rr_done,
					   .opaque = &rr_reqs[i] };

	return vio_blk_drv_enqueue(&e->lb.vdev, &io);
}

static const uint64_t rr_layouts[] = { 0, VIO_BIT(VIO_F_RING_PACKED) };

/* Requests posted on queue 0 and never kicked are in flight where the
 * device cannot see them (direct mode runs the device only in a kick):
 * the reset hands each back -ECANCELED; queue 1 keeps its own. */
static void ring_reset_cancels_inflight(void **state)
{
	(void)state;
	for (unsigned l = 0; l < ARRAY_LEN(rr_layouts); l++) {
		struct rr_env *e = rr_up(rr_layouts[l], true);
		struct vio_drv_device *v = &e->lb.vdev;
		uint8_t *back = vio_blk_drv_alloc_buffer(v, 4096);

		for (unsigned i = 0; i < 3; i++)
			assert_int_equal(rr_enqueue(e, i, 0), 0);
		assert_int_equal(rr_enqueue(e, 3, 1), 0);
		assert_int_equal(vio_blk_drv_inflight_queue(v, 0), 3);

		assert_int_equal(vio_blk_drv_reset_queue(v, 0), 0);
		for (unsigned i = 0; i < 3; i++) {
			assert_int_equal(e->done[i], 1);
			assert_int_equal(e->err[i], -ECANCELED);
		}
		assert_int_equal(vio_blk_drv_inflight_queue(v, 0), 0);
		/* queue 1 untouched: its request still waits, then completes */
		assert_int_equal(e->done[3], 0);
		assert_int_equal(vio_blk_drv_inflight_queue(v, 1), 1);
		vio_blk_drv_kick(v);
		vio_blk_drv_poll(v);
		assert_int_equal(e->done[3], 1);
		assert_int_equal(e->err[3], 0);

		/* queue 0 works again: a write and its read back, on it */
		assert_int_equal(rr_enqueue(e, 4, 0), 0);
		vio_blk_drv_kick(v);
		vio_blk_drv_poll(v);
		assert_int_equal(e->done[4], 1);
		assert_int_equal(e->err[4], 0);
		{
			const struct vio_blk_drv_io rd = { .type = VIO_BLK_T_IN, .queue = 0,
							   .sector = 32, .buf = back, .len = 4096 };

			assert_int_equal(vio_blk_drv_execute(v, &rd), 0);
			assert_memory_equal(back, e->buf[4], 4096);
		}
		/* the cancelled writes never reached the disk */
		{
			const struct vio_blk_drv_io rd = { .type = VIO_BLK_T_IN, .queue = 1,
							   .sector = 0, .buf = back, .len = 4096 };
			uint8_t zero[4096] = { 0 };

			assert_int_equal(vio_blk_drv_execute(v, &rd), 0);
			assert_memory_equal(back, zero, 4096);
		}
		vio_blk_drv_free_buffer(v, back, 4096);
		rr_down(e);
	}
}

/* A request the device finished but the driver had not reaped comes back
 * with its status (0), not cancelled: the reset loses no completion. */
static void ring_reset_keeps_finished(void **state)
{
	(void)state;
	for (unsigned l = 0; l < ARRAY_LEN(rr_layouts); l++) {
		struct rr_env *e = rr_up(rr_layouts[l], true);
		struct vio_drv_device *v = &e->lb.vdev;

		/* no interrupts on queue 0: the kick runs the device, nothing
		 * reaps */
		vio_drvq_disable_cb(&v->vqs[0].q);
		assert_int_equal(rr_enqueue(e, 0, 0), 0);
		vio_blk_drv_kick(v);
		assert_int_equal(e->done[0], 0);
		assert_true(vio_drvq_has_used(&v->vqs[0].q));
		assert_int_equal(rr_enqueue(e, 1, 0), 0); /* not kicked */

		assert_int_equal(vio_blk_drv_reset_queue(v, 0), 0);
		assert_int_equal(e->done[0], 1);
		assert_int_equal(e->err[0], 0);
		assert_int_equal(e->done[1], 1);
		assert_int_equal(e->err[1], -ECANCELED);
		/* and it takes requests again */
		assert_int_equal(rr_enqueue(e, 2, 0), 0);
		vio_blk_drv_kick(v);
		vio_blk_drv_poll(v);
		assert_int_equal(e->done[2], 1);
		assert_int_equal(e->err[2], 0);
		rr_down(e);
	}
}

/* Without RING_RESET negotiated: refused, nothing touched. */
static void ring_reset_not_negotiated(void **state)
{
	struct rr_env *e = rr_up(0, false);
	struct vio_drv_device *v = &e->lb.vdev;

	(void)state;
	assert_int_equal(rr_enqueue(e, 0, 0), 0);
	assert_int_equal(vio_blk_drv_reset_queue(v, 0), -EOPNOTSUPP);
	assert_int_equal(vio_drv_vq_reset(&v->vqs[0], NULL, NULL), -ENOTSUP);
	assert_int_equal(e->done[0], 0);
	assert_int_equal(vio_blk_drv_reset_queue(v, 2), -EINVAL);
	vio_blk_drv_kick(v);
	vio_blk_drv_poll(v);
	assert_int_equal(e->done[0], 1);
	assert_int_equal(e->err[0], 0);
	rr_down(e);
}

/* The same through libvio's virtio-pci driver transport against the pci
 * register model (tests/lib/pci_model_platform.c): Q_RESET, then the
 * queue programmed and enabled again. Split and packed, MSI-X. */
static void ring_reset_over_pci(void **state)
{
	(void)state;
	for (unsigned l = 0; l < ARRAY_LEN(rr_layouts); l++) {
		struct vio_blk_dev_opts o = {
			.backend = VIO_BLK_BACKEND_RAM, .size = DISK_BYTES, .queue_size = 64,
			.num_queues = 2,
			.ring_features = V1 | rr_layouts[l] | VIO_BIT(VIO_F_RING_RESET),
		};
		struct vio_blk_drv_opts dopts = { .timeout_ms = 2000 };
		struct vio_blk_dev *blk = calloc(1, sizeof(*blk));
		struct mpf *m = calloc(1, sizeof(*m));
		struct vio_pci_drv *pd = calloc(1, sizeof(*pd));
		struct vio_pci_drv_config cfg = { .platform = &mpf_platform };
		struct vio_blk_driver drv;
		struct vio_bus bus;
		struct vio_drv_device *v;
		struct rr_env e; /* only its buffers and results */
		uint8_t *back;

		assert_non_null(blk);
		assert_non_null(m);
		assert_non_null(pd);
		assert_int_equal(vio_blk_dev_init(blk, &o), 0);
		assert_int_equal(mpf_init(m, &blk->dev, VIO_PCI_DEV_MODERN, 8, ARENA), 0);
		cfg.platform_opaque = m;
		assert_int_equal(vio_pci_drv_init(pd, &cfg), 0);
		vio_bus_init(&bus, rr_alloc, rr_free, NULL);
		assert_int_equal(vio_blk_drv_register(&bus, &drv, &dopts), 0);
		assert_int_equal(vio_bus_add_device(&bus, &pd->vdev), 0);
		v = &pd->vdev;
		assert_non_null(v->driver);
		assert_true(vio_drv_has_feature(v, VIO_F_RING_RESET));
		assert_int_equal(vio_drv_has_feature(v, VIO_F_RING_PACKED), rr_layouts[l] != 0);

		memset(&e, 0, sizeof(e));
		for (unsigned i = 0; i < 3; i++) {
			e.buf[i] = vio_blk_drv_alloc_buffer(v, 4096);
			assert_non_null(e.buf[i]);
			memset(e.buf[i], 0x20 + (int)i, 4096);
			rr_reqs[i] = (struct rr_req){ &e, i };
		}
		back = vio_blk_drv_alloc_buffer(v, 4096);
		assert_non_null(back);
		/* two on queue 0, never kicked; one on queue 1 */
		for (unsigned i = 0; i < 3; i++) {
			const struct vio_blk_drv_io io = {
				.type = VIO_BLK_T_OUT, .queue = i == 2 ? 1 : 0, .sector = 8u * i,
				.buf = e.buf[i], .len = 4096, .done = rr_done, .opaque = &rr_reqs[i],
			};

			assert_int_equal(vio_blk_drv_enqueue(v, &io), 0);
		}
		assert_int_equal(vio_blk_drv_reset_queue(v, 0), 0);
		assert_int_equal(e.done[0] + e.done[1], 2);
		assert_int_equal(e.err[0], -ECANCELED);
		assert_int_equal(e.err[1], -ECANCELED);
		assert_int_equal(e.done[2], 0);
		vio_blk_drv_kick(v);
		assert_int_equal(vio_blk_drv_wait(v, 2000) >= 0, true);
		assert_int_equal(e.done[2], 1);
		assert_int_equal(e.err[2], 0);
		/* queue 0 again: write request 0 for real, read it back */
		{
			const struct vio_blk_drv_io wr = { .type = VIO_BLK_T_OUT, .queue = 0,
							   .sector = 0, .buf = e.buf[0], .len = 4096 };
			const struct vio_blk_drv_io rd = { .type = VIO_BLK_T_IN, .queue = 0,
							   .sector = 0, .buf = back, .len = 4096 };

			assert_int_equal(vio_blk_drv_execute(v, &wr), 0);
			assert_int_equal(vio_blk_drv_execute(v, &rd), 0);
			assert_memory_equal(back, e.buf[0], 4096);
		}
		vio_blk_drv_free_buffer(v, back, 4096);
		for (unsigned i = 0; i < 3; i++)
			vio_blk_drv_free_buffer(v, e.buf[i], 4096);
		vio_bus_remove_device(&bus, v);
		vio_blk_drv_unregister(&bus, &drv);
		vio_pci_drv_fini(pd);
		mpf_fini(m);
		vio_blk_dev_fini(blk);
		free(pd);
		free(m);
		free(blk);
	}
}

/* The core call alone: every token back exactly once, used ones first. */
struct back_log {
	void *tokens[8];
	bool used[8];
	unsigned n;
};

static void back_fn(void *opaque, void *token, bool used, uint32_t len)
{
	struct back_log *b = opaque;

	(void)len;
	assert_true(b->n < 8);
	b->tokens[b->n] = token;
	b->used[b->n++] = used;
}

static void ring_reset_core_hands_back(void **state)
{
	(void)state;
	for (unsigned l = 0; l < ARRAY_LEN(rr_layouts); l++) {
		struct rr_env *e = rr_up(rr_layouts[l], true);
		struct vio_drv_device *v = &e->lb.vdev;
		struct vio_drv_vq *vq = &v->vqs[1];
		struct back_log b = { .n = 0 };
		uint8_t tok[3];
		uint64_t dma = vio_drv_dma_addr(v, e->buf[0]);
		struct vio_sg sg = { .addr = dma, .len = 16 };

		/* queue 1's ring by hand: three one-segment buffers the blk
		 * device would refuse, never kicked */
		vio_blk_drv_poll(v);
		for (unsigned i = 0; i < 3; i++)
			assert_int_equal(vio_drvq_add(&vq->q, &sg, 1, NULL, 0, &tok[i]), 0);
		assert_int_equal(vio_drv_vq_reset(vq, back_fn, &b), 0);
		assert_int_equal(b.n, 3);
		for (unsigned i = 0; i < 3; i++) {
			bool seen = false;

			for (unsigned k = 0; k < b.n; k++)
				seen |= b.tokens[k] == &tok[i];
			assert_true(seen);
			assert_false(b.used[i]);
		}
		assert_false(vio_drvq_has_used(&vq->q));
		rr_down(e);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(config_refused_loopback),
		cmocka_unit_test(config_taken_effects),
		cmocka_unit_test(config_net_mac_with_ctrl_mac),
		cmocka_unit_test(config_rng_none),
		cmocka_unit_test(config_refused_vhost_user),
		cmocka_unit_test(config_refused_mmio),
		cmocka_unit_test(config_refused_pci),
		cmocka_unit_test(config_check_contract),
		cmocka_unit_test(config_fields_checked),
		cmocka_unit_test(legacy_blk_big_endian),
		cmocka_unit_test(legacy_blk_little_and_native),
		cmocka_unit_test(legacy_net_big_endian),
		cmocka_unit_test(legacy_console_big_endian),
		cmocka_unit_test(legacy_balloon_big_endian_writes),
		cmocka_unit_test(ring_reset_cancels_inflight),
		cmocka_unit_test(ring_reset_keeps_finished),
		cmocka_unit_test(ring_reset_not_negotiated),
		cmocka_unit_test(ring_reset_core_hands_back),
		cmocka_unit_test(ring_reset_over_pci),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
