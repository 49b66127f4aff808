/*
 * test_mmio_dev.c - the virtio-mmio register model (src/transport/mmio_dev.c)
 * driven register by register, as a hostile or careless guest would.
 *
 * The device behind it is a stand-in written here: two queues (at most
 * 256 entries), 6 bytes of config space, and ops that count what reaches
 * them, so each test sees exactly which accesses got through to the
 * device model and which the register model dropped. Guest memory is one
 * 256 KiB block at GPA; ring addresses are picked inside it, or outside
 * it on purpose.
 *
 * Every malformed access the brief names has its own case; each checks
 * that the access was dropped (read 0, state unchanged, logged and
 * counted) and, where it matters, that the well-formed twin works.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vio/core.h"
#include "vio/transport/mmio.h"

#define GPA UINT64_C(0x80000000)
#define MEM_BYTES (256u << 10)
#define QMAX 256u
#define NQ 2u
#define CFG_LEN 6u              /* not a multiple of 4: an aligned word can straddle its end */
#define DEV_BIT0 VIO_BIT(0)

struct fx {
	struct vio_dev_model d;
	struct vio_dev_queue queues[NQ];
	struct vio_dev_ops ops;
	uint8_t config[CFG_LEN];
	struct vio_mem mem;
	struct vio_mem_region region;
	uint8_t *ram;
	struct vio_mmio_dev m;
	unsigned notified[NQ], resets, queue_resets, config_writes;
	unsigned irq_raises, irq_lowers;
	bool line;
	unsigned cb_kicks[NQ];
	unsigned nlogs;
	char last_log[256];
};

static void t_log(void *opaque, enum vio_log_level level, const char *msg)
{
	struct fx *fx = opaque;

	(void)level;
	fx->nlogs++;
	snprintf(fx->last_log, sizeof(fx->last_log), "%s", msg);
}

static struct fx *fx_of(struct vio_dev_model *d)
{
	return (struct fx *)((char *)d - offsetof(struct fx, d));
}

static void t_notify(struct vio_dev_model *d, unsigned qi)
{
	fx_of(d)->notified[qi]++;
}

static void t_reset(struct vio_dev_model *d)
{
	fx_of(d)->resets++;
}

static void t_queue_reset(struct vio_dev_model *d, unsigned qi)
{
	(void)qi;
	fx_of(d)->queue_resets++;
}

static void t_config_write(struct vio_dev_model *d, unsigned off, unsigned len)
{
	(void)off;
	(void)len;
	fx_of(d)->config_writes++;
}

static void t_irq(void *opaque, bool level)
{
	struct fx *fx = opaque;

	if (level)
		fx->irq_raises++;
	else
		fx->irq_lowers++;
	fx->line = level;
}

static void t_kick(void *opaque, unsigned qi)
{
	struct fx *fx = opaque;

	fx->cb_kicks[qi]++;
}

/* A device offering `extra` besides VERSION_1, EVENT_IDX and bit 0, behind
 * a model of `version`. */
static struct fx *fx_new(unsigned version, uint64_t extra, bool kick_cb)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct vio_mmio_dev_opts o = { .version = version, .irq = t_irq,
				       .notify = kick_cb ? t_kick : NULL };

	assert_non_null(fx);
	o.opaque = fx;
	fx->ram = calloc(1, MEM_BYTES);
	assert_non_null(fx->ram);
	vio_mem_init(&fx->mem, &fx->region, 1);
	assert_int_equal(vio_mem_add(&fx->mem, GPA, MEM_BYTES, fx->ram), 0);
	fx->ops = (struct vio_dev_ops){ .version = VIO_DEV_OPS_VERSION, .queue_notify = t_notify,
					.reset = t_reset, .queue_reset = t_queue_reset,
					.config_write = t_config_write };
	for (unsigned i = 0; i < NQ; i++)
		fx->queues[i].max_size = QMAX;
	for (unsigned i = 0; i < CFG_LEN; i++)
		fx->config[i] = (uint8_t)(0xa0 + i);
	fx->d.device_id = 42;
	fx->d.host_features = VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_EVENT_IDX) | DEV_BIT0 | extra;
	fx->d.legacy_ok = true;
	fx->d.config = fx->config;
	fx->d.config_len = CFG_LEN;
	fx->d.queues = fx->queues;
	fx->d.num_queues = NQ;
	fx->d.ops = &fx->ops;
	fx->d.log = t_log;
	fx->d.log_opaque = fx;
	assert_int_equal(vio_dev_init(&fx->d), 0);
	fx->d.mem = &fx->mem;
	assert_int_equal(vio_mmio_dev_init(&fx->m, &fx->d, &o), 0);
	return fx;
}

static void fx_free(struct fx *fx)
{
	vio_mmio_dev_fini(&fx->m);
	free(fx->ram);
	free(fx);
}

static uint32_t R(struct fx *fx, uint64_t off)
{
	return vio_mmio_dev_read(&fx->m, off, 4);
}

static void W(struct fx *fx, uint64_t off, uint32_t v)
{
	vio_mmio_dev_write(&fx->m, off, 4, v);
}

static uint64_t ignored(struct fx *fx)
{
	return fx->m.ignored;
}

/* The access just made was dropped: counted and logged. */
#define assert_dropped(fx, before)                                         \
	do {                                                               \
		assert_true(ignored(fx) > (before));                       \
		assert_true((fx)->nlogs > 0);                              \
	} while (0)

static void write_features(struct fx *fx, uint64_t f)
{
	W(fx, VIO_MMIO_DRIVER_FEATURES_SEL, 0);
	W(fx, VIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
	W(fx, VIO_MMIO_DRIVER_FEATURES_SEL, 1);
	W(fx, VIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
}

/* Reset, ACKNOWLEDGE, DRIVER, features, and (version 2) FEATURES_OK. */
static void negotiate(struct fx *fx, uint64_t f)
{
	W(fx, VIO_MMIO_STATUS, 0);
	W(fx, VIO_MMIO_STATUS, VIO_STATUS_ACKNOWLEDGE);
	W(fx, VIO_MMIO_STATUS, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER);
	write_features(fx, f);
	if (fx->m.version == 2) {
		W(fx, VIO_MMIO_STATUS,
		  VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER | VIO_STATUS_FEATURES_OK);
		assert_true(R(fx, VIO_MMIO_STATUS) & VIO_STATUS_FEATURES_OK);
	}
}

static const uint64_t V2F = VIO_BIT(VIO_F_VERSION_1) | DEV_BIT0;

/* Rings of queue qi inside guest memory: 16 KiB per queue. */
static uint64_t ring_base(unsigned qi)
{
	return GPA + 0x1000 + (uint64_t)qi * 0x4000;
}

static void set_addrs(struct fx *fx, uint64_t desc, uint64_t drv, uint64_t dev)
{
	W(fx, VIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	W(fx, VIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	W(fx, VIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)drv);
	W(fx, VIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(drv >> 32));
	W(fx, VIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)dev);
	W(fx, VIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(dev >> 32));
}

/* Version 2: queue qi of `num` entries, made ready. */
static void setup_v2(struct fx *fx, unsigned qi, unsigned num)
{
	uint64_t b = ring_base(qi);

	W(fx, VIO_MMIO_QUEUE_SEL, qi);
	W(fx, VIO_MMIO_QUEUE_NUM, num);
	set_addrs(fx, b, b + 0x1000, b + 0x2000);
	W(fx, VIO_MMIO_QUEUE_READY, 1);
}

static void setup_v1(struct fx *fx, unsigned qi, unsigned num)
{
	W(fx, VIO_MMIO_QUEUE_SEL, qi);
	W(fx, VIO_MMIO_QUEUE_NUM, num);
	W(fx, VIO_MMIO_QUEUE_ALIGN, 4096);
	W(fx, VIO_MMIO_QUEUE_PFN, (uint32_t)(ring_base(qi) / 4096));
}

static void driver_ok(struct fx *fx)
{
	W(fx, VIO_MMIO_STATUS, (uint32_t)(R(fx, VIO_MMIO_STATUS) | VIO_STATUS_DRIVER_OK));
	assert_true(R(fx, VIO_MMIO_STATUS) & VIO_STATUS_DRIVER_OK);
}

/* Version 2 up and running: both queues of 64 entries. */
static struct fx *up_v2(uint64_t extra, uint64_t f, bool kick_cb)
{
	struct fx *fx = fx_new(2, extra, kick_cb);

	negotiate(fx, f);
	setup_v2(fx, 0, 64);
	setup_v2(fx, 1, 64);
	driver_ok(fx);
	return fx;
}

/* ======================================================================== */
/* Identity, and the well-formed paths                                      */

static void identity_registers(void **state)
{
	(void)state;
	for (unsigned v = 1; v <= 2; v++) {
		struct fx *fx = fx_new(v, 0, false);

		assert_int_equal(R(fx, VIO_MMIO_MAGIC_VALUE), 0x74726976u);
		assert_int_equal(R(fx, VIO_MMIO_VERSION), v);
		assert_int_equal(R(fx, VIO_MMIO_DEVICE_ID), 42);
		assert_int_equal(R(fx, VIO_MMIO_VENDOR_ID), VIO_MMIO_VENDOR_LIBVIO);
		assert_int_equal(ignored(fx), 0);
		fx_free(fx);
	}
}

static void init_refuses_bad_options(void **state)
{
	struct fx *fx = fx_new(2, 0, false);
	struct vio_mmio_dev m;
	struct vio_mmio_dev_opts o = { .version = 3, .irq = t_irq };

	(void)state;
	assert_int_equal(vio_mmio_dev_init(&m, &fx->d, &o), -EINVAL);
	o.version = 2;
	o.irq = NULL;
	assert_int_equal(vio_mmio_dev_init(&m, &fx->d, &o), -EINVAL);
	/* Version 1 needs a device that serves legacy drivers. */
	o.irq = t_irq;
	o.version = 1;
	fx->d.legacy_ok = false;
	assert_int_equal(vio_mmio_dev_init(&m, &fx->d, &o), -EINVAL);
	fx->d.legacy_ok = true;
	/* Version 2 needs VERSION_1. */
	fx->d.host_features &= ~VIO_BIT(VIO_F_VERSION_1);
	o.version = 2;
	assert_int_equal(vio_mmio_dev_init(&m, &fx->d, &o), -EINVAL);
	fx->d.host_features |= VIO_BIT(VIO_F_VERSION_1);
	fx_free(fx);
}

static void v2_features_and_queue_setup(void **state)
{
	struct fx *fx = fx_new(2, VIO_BIT(VIO_F_RING_RESET) | VIO_BIT(VIO_F_NOTIFICATION_DATA), false);
	uint64_t offer;

	(void)state;
	W(fx, VIO_MMIO_DEVICE_FEATURES_SEL, 0);
	offer = R(fx, VIO_MMIO_DEVICE_FEATURES);
	W(fx, VIO_MMIO_DEVICE_FEATURES_SEL, 1);
	offer |= (uint64_t)R(fx, VIO_MMIO_DEVICE_FEATURES) << 32;
	/* NOTIFICATION_DATA would change what QueueNotify carries: not offered. */
	assert_int_equal(offer, VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_EVENT_IDX) | DEV_BIT0 |
				VIO_BIT(VIO_F_RING_RESET));
	negotiate(fx, V2F | VIO_BIT(VIO_F_EVENT_IDX));
	assert_int_equal(fx->d.features, V2F | VIO_BIT(VIO_F_EVENT_IDX));
	setup_v2(fx, 1, 128);
	assert_int_equal(R(fx, VIO_MMIO_QUEUE_READY), 1);
	assert_int_equal(fx->queues[1].size, 128);
	assert_int_equal(fx->queues[1].addrs.desc, ring_base(1));
	assert_int_equal(fx->queues[1].addrs.driver, ring_base(1) + 0x1000);
	assert_int_equal(fx->queues[1].addrs.device, ring_base(1) + 0x2000);
	assert_false(vio_dev_queue_live(&fx->d, 1));
	driver_ok(fx);
	assert_true(vio_dev_queue_live(&fx->d, 1));
	W(fx, VIO_MMIO_QUEUE_NOTIFY, 1);
	assert_int_equal(fx->notified[1], 1);
	assert_int_equal(ignored(fx), 0);
	fx_free(fx);
}

static void v1_legacy_queue_setup(void **state)
{
	struct fx *fx = fx_new(1, 0, false);
	struct vio_ring_addrs want;

	(void)state;
	/* 32 feature bits only: no VERSION_1. */
	W(fx, VIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(R(fx, VIO_MMIO_DEVICE_FEATURES), 0);
	W(fx, VIO_MMIO_DEVICE_FEATURES_SEL, 0);
	assert_int_equal(R(fx, VIO_MMIO_DEVICE_FEATURES), VIO_BIT(VIO_F_EVENT_IDX) | DEV_BIT0);
	W(fx, VIO_MMIO_GUEST_PAGE_SIZE, 4096);
	negotiate(fx, VIO_BIT(VIO_F_EVENT_IDX));
	setup_v1(fx, 0, 128);
	assert_int_equal(R(fx, VIO_MMIO_QUEUE_PFN), ring_base(0) / 4096);
	assert_true(fx->d.legacy);
	assert_int_equal(fx->d.features, VIO_BIT(VIO_F_EVENT_IDX));
	vio_ring_legacy_layout(ring_base(0), 128, 4096, &want);
	assert_int_equal(fx->queues[0].addrs.desc, want.desc);
	assert_int_equal(fx->queues[0].addrs.driver, want.driver);
	assert_int_equal(fx->queues[0].addrs.device, want.device);
	driver_ok(fx);
	assert_true(vio_dev_queue_live(&fx->d, 0));
	W(fx, VIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(fx->notified[0], 1);
	/* QueuePFN 0 releases the queue. */
	W(fx, VIO_MMIO_QUEUE_PFN, 0);
	assert_int_equal(R(fx, VIO_MMIO_QUEUE_PFN), 0);
	assert_false(vio_dev_queue_live(&fx->d, 0));
	assert_int_equal(ignored(fx), 0);
	fx_free(fx);
}

/* GuestPageSize is told once at probe, before the driver's reset: it
 * survives a status reset, and QueuePFN counts in it. */
static void v1_page_size_survives_reset(void **state)
{
	struct fx *fx = fx_new(1, 0, false);

	(void)state;
	W(fx, VIO_MMIO_GUEST_PAGE_SIZE, 8192);
	negotiate(fx, 0);
	W(fx, VIO_MMIO_QUEUE_SEL, 0);
	W(fx, VIO_MMIO_QUEUE_NUM, 16);
	W(fx, VIO_MMIO_QUEUE_PFN, (uint32_t)((GPA + 0x4000) / 8192));
	assert_int_equal(fx->queues[0].addrs.desc, GPA + 0x4000);
	fx_free(fx);
}

/* ======================================================================== */
/* Malformed accesses                                                       */

static void wrong_width_register(void **state)
{
	struct fx *fx = fx_new(2, 0, false);
	uint64_t n = ignored(fx);

	(void)state;
	W(fx, VIO_MMIO_STATUS, VIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(vio_mmio_dev_read(&fx->m, VIO_MMIO_MAGIC_VALUE, 2), 0);
	assert_dropped(fx, n);
	assert_non_null(strstr(fx->last_log, "width"));
	n = ignored(fx);
	assert_int_equal(vio_mmio_dev_read(&fx->m, VIO_MMIO_STATUS, 1), 0);
	assert_int_equal(vio_mmio_dev_read(&fx->m, VIO_MMIO_STATUS, 8), 0);
	vio_mmio_dev_write(&fx->m, VIO_MMIO_STATUS, 1, 0);
	vio_mmio_dev_write(&fx->m, VIO_MMIO_STATUS, 2, 0);
	assert_int_equal(ignored(fx), n + 4);
	/* The reset writes were dropped. */
	assert_int_equal(R(fx, VIO_MMIO_STATUS), VIO_STATUS_ACKNOWLEDGE);
	fx_free(fx);
}

static void unaligned_register(void **state)
{
	struct fx *fx = fx_new(2, 0, false);
	uint64_t n = ignored(fx);

	(void)state;
	W(fx, VIO_MMIO_STATUS, VIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(R(fx, VIO_MMIO_MAGIC_VALUE + 1), 0);
	assert_int_equal(R(fx, VIO_MMIO_STATUS + 2), 0);
	W(fx, VIO_MMIO_STATUS + 1, 0);
	W(fx, VIO_MMIO_STATUS - 2, 0);
	assert_int_equal(ignored(fx), n + 4);
	assert_true(fx->nlogs >= 4);
	assert_int_equal(R(fx, VIO_MMIO_STATUS), VIO_STATUS_ACKNOWLEDGE);
	fx_free(fx);
}

static void unknown_register(void **state)
{
	struct fx *fx = fx_new(2, 0, false);
	uint64_t n = ignored(fx);

	(void)state;
	assert_int_equal(R(fx, 0x018), 0);
	W(fx, 0x0c4, 1);
	/* Write-only and read-only registers the other way round. */
	assert_int_equal(R(fx, VIO_MMIO_QUEUE_NUM), 0);
	W(fx, VIO_MMIO_MAGIC_VALUE, 0);
	assert_int_equal(ignored(fx), n + 4);
	assert_int_equal(R(fx, VIO_MMIO_MAGIC_VALUE), VIO_MMIO_MAGIC);
	fx_free(fx);
}

/* Every per-queue register with QueueSel past the last queue. */
static void queue_sel_out_of_range(void **state)
{
	static const uint32_t sels[] = { NQ, 1000, UINT32_MAX };

	(void)state;
	for (unsigned v = 1; v <= 2; v++) {
		for (size_t s = 0; s < sizeof(sels) / sizeof(sels[0]); s++) {
			struct fx *fx = fx_new(v, 0, false);
			uint64_t n;

			negotiate(fx, v == 2 ? V2F : 0);
			W(fx, VIO_MMIO_QUEUE_SEL, sels[s]);
			assert_int_equal(R(fx, VIO_MMIO_QUEUE_NUM_MAX), 0);
			n = ignored(fx);
			W(fx, VIO_MMIO_QUEUE_NUM, 16);
			if (v == 2) {
				set_addrs(fx, ring_base(0), ring_base(0) + 0x1000, ring_base(0) + 0x2000);
				W(fx, VIO_MMIO_QUEUE_READY, 1);
				assert_int_equal(R(fx, VIO_MMIO_QUEUE_READY), 0);
				W(fx, VIO_MMIO_QUEUE_RESET, 1);
				assert_int_equal(R(fx, VIO_MMIO_QUEUE_RESET), 0);
				assert_int_equal(ignored(fx), n + 11);
			} else {
				W(fx, VIO_MMIO_QUEUE_ALIGN, 4096);
				W(fx, VIO_MMIO_QUEUE_PFN, (uint32_t)(ring_base(0) / 4096));
				assert_int_equal(R(fx, VIO_MMIO_QUEUE_PFN), 0);
				assert_int_equal(ignored(fx), n + 4);
			}
			assert_non_null(strstr(fx->last_log, "does not exist"));
			/* Nothing reached a real queue. */
			for (unsigned qi = 0; qi < NQ; qi++) {
				assert_false(fx->queues[qi].enabled);
				assert_int_equal(fx->queues[qi].size, QMAX);
			}
			fx_free(fx);
		}
	}
}

/* A size that is refused leaves the queue without one: QueueReady then
 * does not take it. */
static void check_bad_num(unsigned num, uint64_t extra)
{
	struct fx *fx = fx_new(2, extra, false);
	uint64_t n;

	negotiate(fx, V2F | extra);
	W(fx, VIO_MMIO_QUEUE_SEL, 0);
	n = ignored(fx);
	W(fx, VIO_MMIO_QUEUE_NUM, num);
	assert_dropped(fx, n);
	assert_non_null(strstr(fx->last_log, "QueueNum"));
	set_addrs(fx, ring_base(0), ring_base(0) + 0x1000, ring_base(0) + 0x2000);
	W(fx, VIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(R(fx, VIO_MMIO_QUEUE_READY), 0);
	assert_false(fx->queues[0].enabled);
	/* A good size afterwards works. */
	W(fx, VIO_MMIO_QUEUE_NUM, 32);
	W(fx, VIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(R(fx, VIO_MMIO_QUEUE_READY), 1);
	assert_int_equal(fx->queues[0].size, 32);
	fx_free(fx);
}

static void queue_num_zero(void **state)
{
	(void)state;
	check_bad_num(0, 0);
}

static void queue_num_above_max(void **state)
{
	(void)state;
	check_bad_num(QMAX + 1, 0);
	check_bad_num(QMAX * 2, 0);
}

static void queue_num_not_power_of_two_split(void **state)
{
	(void)state;
	check_bad_num(100, 0);
}

static void queue_num_0x10000(void **state)
{
	(void)state;
	check_bad_num(0x10000, 0);
	check_bad_num(0x10000, VIO_BIT(VIO_F_RING_PACKED));
}

/* The packed ring takes any size. */
static void queue_num_not_power_of_two_packed(void **state)
{
	struct fx *fx = fx_new(2, VIO_BIT(VIO_F_RING_PACKED), false);

	(void)state;
	negotiate(fx, V2F | VIO_BIT(VIO_F_RING_PACKED));
	setup_v2(fx, 0, 100);
	assert_int_equal(R(fx, VIO_MMIO_QUEUE_READY), 1);
	assert_int_equal(fx->queues[0].size, 100);
	assert_int_equal(ignored(fx), 0);
	fx_free(fx);
}

static void features_after_features_ok(void **state)
{
	struct fx *fx = fx_new(2, 0, false);
	uint64_t n;

	(void)state;
	negotiate(fx, V2F);
	n = ignored(fx);
	write_features(fx, V2F | VIO_BIT(VIO_F_EVENT_IDX));
	assert_dropped(fx, n);
	assert_int_equal(fx->d.features, V2F);
	/* Nor after DRIVER_OK. */
	setup_v2(fx, 0, 64);
	driver_ok(fx);
	n = ignored(fx);
	write_features(fx, VIO_BIT(VIO_F_VERSION_1));
	assert_dropped(fx, n);
	assert_int_equal(fx->d.features, V2F);
	fx_free(fx);
}

/* Features before DRIVER is set are dropped too. */
static void features_before_driver(void **state)
{
	struct fx *fx = fx_new(2, 0, false);
	uint64_t n;

	(void)state;
	W(fx, VIO_MMIO_STATUS, VIO_STATUS_ACKNOWLEDGE);
	n = ignored(fx);
	write_features(fx, V2F);
	assert_dropped(fx, n);
	W(fx, VIO_MMIO_STATUS, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER);
	W(fx, VIO_MMIO_STATUS, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER | VIO_STATUS_FEATURES_OK);
	/* Features 0: no VERSION_1, refused. */
	assert_false(R(fx, VIO_MMIO_STATUS) & VIO_STATUS_FEATURES_OK);
	fx_free(fx);
}

static void queue_setup_before_features_ok(void **state)
{
	struct fx *fx = fx_new(2, 0, false);
	uint64_t n;

	(void)state;
	W(fx, VIO_MMIO_STATUS, VIO_STATUS_ACKNOWLEDGE);
	W(fx, VIO_MMIO_STATUS, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER);
	n = ignored(fx);
	setup_v2(fx, 0, 64);
	assert_dropped(fx, n);
	assert_non_null(strstr(fx->last_log, "setup phase"));
	assert_int_equal(R(fx, VIO_MMIO_QUEUE_READY), 0);
	assert_false(fx->queues[0].enabled);
	fx_free(fx);
}

static void queue_setup_after_driver_ok(void **state)
{
	struct fx *fx = fx_new(2, 0, false);
	uint64_t n;

	(void)state;
	negotiate(fx, V2F);
	setup_v2(fx, 0, 64);
	driver_ok(fx);
	/* Queue 1, never set up: too late without RING_RESET. */
	n = ignored(fx);
	setup_v2(fx, 1, 64);
	assert_dropped(fx, n);
	assert_int_equal(R(fx, VIO_MMIO_QUEUE_READY), 0);
	assert_false(fx->queues[1].enabled);
	/* Queue 0, live: its registers cannot change under it. */
	n = ignored(fx);
	W(fx, VIO_MMIO_QUEUE_SEL, 0);
	W(fx, VIO_MMIO_QUEUE_NUM, 16);
	W(fx, VIO_MMIO_QUEUE_DESC_LOW, 0);
	W(fx, VIO_MMIO_QUEUE_READY, 0);
	assert_int_equal(ignored(fx), n + 3);
	assert_int_equal(fx->queues[0].size, 64);
	assert_true(vio_dev_queue_live(&fx->d, 0));
	fx_free(fx);
}

/* Version 1: no queue setup before DRIVER, nor after DRIVER_OK. */
static void v1_queue_setup_wrong_phase(void **state)
{
	struct fx *fx = fx_new(1, 0, false);
	uint64_t n;

	(void)state;
	W(fx, VIO_MMIO_STATUS, VIO_STATUS_ACKNOWLEDGE);
	n = ignored(fx);
	setup_v1(fx, 0, 64);
	assert_dropped(fx, n);
	assert_int_equal(R(fx, VIO_MMIO_QUEUE_PFN), 0);
	W(fx, VIO_MMIO_STATUS, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER);
	setup_v1(fx, 0, 64);
	driver_ok(fx);
	n = ignored(fx);
	setup_v1(fx, 1, 64);
	assert_dropped(fx, n);
	assert_int_equal(R(fx, VIO_MMIO_QUEUE_PFN), 0);
	assert_false(fx->queues[1].enabled);
	fx_free(fx);
}

static void features_ok_with_bits_never_offered(void **state)
{
	struct fx *fx = fx_new(2, 0, false);

	(void)state;
	W(fx, VIO_MMIO_STATUS, VIO_STATUS_ACKNOWLEDGE);
	W(fx, VIO_MMIO_STATUS, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER);
	write_features(fx, V2F | VIO_BIT(VIO_F_RING_PACKED) | VIO_BIT(5));
	W(fx, VIO_MMIO_STATUS, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER | VIO_STATUS_FEATURES_OK);
	/* Read back: the rest of the write was taken, FEATURES_OK was not. */
	assert_int_equal(R(fx, VIO_MMIO_STATUS), VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER);
	assert_non_null(strstr(fx->last_log, "never offered"));
	assert_int_equal(fx->d.features, 0);
	fx_free(fx);
}

/* Version 1 cannot refuse: bits never offered are dropped. */
static void v1_features_never_offered_dropped(void **state)
{
	struct fx *fx = fx_new(1, 0, false);

	(void)state;
	negotiate(fx, DEV_BIT0 | VIO_BIT(5));
	setup_v1(fx, 0, 64);
	assert_int_equal(fx->d.features, DEV_BIT0);
	fx_free(fx);
}

static void features_sel_above_1(void **state)
{
	struct fx *fx = fx_new(2, 0, false);
	uint64_t n;

	(void)state;
	W(fx, VIO_MMIO_STATUS, VIO_STATUS_ACKNOWLEDGE);
	W(fx, VIO_MMIO_STATUS, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER);
	for (uint32_t sel = 2; sel < 5; sel++) {
		W(fx, VIO_MMIO_DEVICE_FEATURES_SEL, sel);
		assert_int_equal(R(fx, VIO_MMIO_DEVICE_FEATURES), 0);
	}
	W(fx, VIO_MMIO_DEVICE_FEATURES_SEL, UINT32_MAX);
	assert_int_equal(R(fx, VIO_MMIO_DEVICE_FEATURES), 0);
	write_features(fx, V2F);
	n = ignored(fx);
	W(fx, VIO_MMIO_DRIVER_FEATURES_SEL, 2);
	W(fx, VIO_MMIO_DRIVER_FEATURES, UINT32_MAX);
	W(fx, VIO_MMIO_DRIVER_FEATURES_SEL, UINT32_MAX);
	W(fx, VIO_MMIO_DRIVER_FEATURES, UINT32_MAX);
	assert_int_equal(ignored(fx), n + 2);
	/* What the driver wrote at selects 0 and 1 stands. */
	W(fx, VIO_MMIO_STATUS, VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER | VIO_STATUS_FEATURES_OK);
	assert_true(R(fx, VIO_MMIO_STATUS) & VIO_STATUS_FEATURES_OK);
	assert_int_equal(fx->d.features, V2F);
	fx_free(fx);
}

static void config_read_write_in_bounds(void **state)
{
	struct fx *fx = fx_new(2, 0, false);

	(void)state;
	assert_int_equal(vio_mmio_dev_read(&fx->m, VIO_MMIO_CONFIG + 0, 1), 0xa0);
	assert_int_equal(vio_mmio_dev_read(&fx->m, VIO_MMIO_CONFIG + 2, 2), 0xa3a2);
	assert_int_equal(vio_mmio_dev_read(&fx->m, VIO_MMIO_CONFIG + 0, 4), 0xa3a2a1a0);
	vio_mmio_dev_write(&fx->m, VIO_MMIO_CONFIG + 4, 2, 0x1234);
	assert_int_equal(fx->config[4], 0x34);
	assert_int_equal(fx->config[5], 0x12);
	assert_int_equal(fx->config_writes, 1);
	assert_int_equal(ignored(fx), 0);
	fx_free(fx);
}

static void config_past_end(void **state)
{
	struct fx *fx = fx_new(2, 0, false);
	uint8_t before[CFG_LEN];
	uint64_t n = ignored(fx);

	(void)state;
	memcpy(before, fx->config, CFG_LEN);
	assert_int_equal(vio_mmio_dev_read(&fx->m, VIO_MMIO_CONFIG + CFG_LEN, 1), 0);
	assert_int_equal(vio_mmio_dev_read(&fx->m, VIO_MMIO_CONFIG + CFG_LEN, 4), 0);
	assert_int_equal(vio_mmio_dev_read(&fx->m, VIO_MMIO_CONFIG + 0x1000, 4), 0);
	assert_int_equal(vio_mmio_dev_read(&fx->m, UINT64_MAX - 3, 4), 0);
	vio_mmio_dev_write(&fx->m, VIO_MMIO_CONFIG + CFG_LEN, 4, 0xffffffff);
	vio_mmio_dev_write(&fx->m, UINT64_MAX, 1, 0xff);
	assert_int_equal(ignored(fx), n + 6);
	assert_non_null(strstr(fx->last_log, "past its end"));
	assert_memory_equal(before, fx->config, CFG_LEN);
	assert_int_equal(fx->config_writes, 0);
	fx_free(fx);
}

static void config_straddling_end(void **state)
{
	struct fx *fx = fx_new(2, 0, false);
	uint8_t before[CFG_LEN];
	uint64_t n = ignored(fx);

	(void)state;
	memcpy(before, fx->config, CFG_LEN);
	/* An aligned word over the last two bytes and two beyond. */
	assert_int_equal(vio_mmio_dev_read(&fx->m, VIO_MMIO_CONFIG + CFG_LEN - 2, 4), 0);
	assert_non_null(strstr(fx->last_log, "past its end"));
	vio_mmio_dev_write(&fx->m, VIO_MMIO_CONFIG + CFG_LEN - 2, 4, 0);
	assert_non_null(strstr(fx->last_log, "past its end"));
	assert_int_equal(ignored(fx), n + 2);
	assert_memory_equal(before, fx->config, CFG_LEN);
	assert_int_equal(fx->config_writes, 0);
	/* The twin inside: works. */
	assert_int_equal(vio_mmio_dev_read(&fx->m, VIO_MMIO_CONFIG + CFG_LEN - 2, 2), 0xa5a4);
	fx_free(fx);
}

static void config_unaligned(void **state)
{
	struct fx *fx = fx_new(2, 0, false);
	uint64_t n = ignored(fx);

	(void)state;
	assert_int_equal(vio_mmio_dev_read(&fx->m, VIO_MMIO_CONFIG + 1, 2), 0);
	assert_int_equal(vio_mmio_dev_read(&fx->m, VIO_MMIO_CONFIG + 2, 4), 0);
	vio_mmio_dev_write(&fx->m, VIO_MMIO_CONFIG + 3, 2, 0);
	/* A width the spec does not have. */
	assert_int_equal(vio_mmio_dev_read(&fx->m, VIO_MMIO_CONFIG, 8), 0);
	assert_int_equal(vio_mmio_dev_read(&fx->m, VIO_MMIO_CONFIG, 3), 0);
	assert_int_equal(ignored(fx), n + 5);
	assert_int_equal(fx->config_writes, 0);
	fx_free(fx);
}

static void notify_queue_that_does_not_exist(void **state)
{
	struct fx *fx = up_v2(0, V2F, false);
	uint64_t n = ignored(fx);

	(void)state;
	W(fx, VIO_MMIO_QUEUE_NOTIFY, NQ);
	W(fx, VIO_MMIO_QUEUE_NOTIFY, UINT32_MAX);
	assert_int_equal(ignored(fx), n + 2);
	assert_non_null(strstr(fx->last_log, "does not exist"));
	assert_int_equal(fx->notified[0] + fx->notified[1], 0);
	fx_free(fx);
}

static void notify_queue_not_ready(void **state)
{
	struct fx *fx = fx_new(2, 0, true);
	uint64_t n;

	(void)state;
	negotiate(fx, V2F);
	setup_v2(fx, 0, 64);
	driver_ok(fx);
	n = ignored(fx);
	W(fx, VIO_MMIO_QUEUE_NOTIFY, 1);
	assert_dropped(fx, n);
	assert_non_null(strstr(fx->last_log, "not live"));
	assert_int_equal(fx->cb_kicks[1], 0);
	assert_int_equal(fx->notified[1], 0);
	/* With a notify callback the VMM gets the index; the device model
	 * nothing yet. */
	W(fx, VIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(fx->cb_kicks[0], 1);
	assert_int_equal(fx->notified[0], 0);
	fx_free(fx);
}

/* A kick before DRIVER_OK does not reach the device then, but is served
 * once the queue is live. */
static void kick_before_driver_ok(void **state)
{
	struct fx *fx = fx_new(2, 0, false);
	uint64_t n;

	(void)state;
	negotiate(fx, V2F);
	setup_v2(fx, 0, 64);
	n = ignored(fx);
	W(fx, VIO_MMIO_QUEUE_NOTIFY, 0);
	W(fx, VIO_MMIO_QUEUE_NOTIFY, 1);   /* not ready: dropped for good */
	assert_int_equal(ignored(fx), n + 2);
	assert_non_null(strstr(fx->last_log, "before DRIVER_OK"));
	assert_int_equal(fx->notified[0], 0);
	driver_ok(fx);
	assert_int_equal(fx->notified[0], 1);
	assert_int_equal(fx->notified[1], 0);
	/* A reset forgets kicks kept from before. */
	W(fx, VIO_MMIO_STATUS, 0);
	negotiate(fx, V2F);
	W(fx, VIO_MMIO_QUEUE_NOTIFY, 0);
	W(fx, VIO_MMIO_STATUS, 0);
	negotiate(fx, V2F);
	setup_v2(fx, 0, 64);
	driver_ok(fx);
	assert_int_equal(fx->notified[0], 1);
	fx_free(fx);
}

static void v1_registers_in_v2(void **state)
{
	struct fx *fx = fx_new(2, 0, false);
	uint64_t n;

	(void)state;
	negotiate(fx, V2F);
	W(fx, VIO_MMIO_QUEUE_SEL, 0);
	n = ignored(fx);
	W(fx, VIO_MMIO_GUEST_PAGE_SIZE, 4096);
	W(fx, VIO_MMIO_QUEUE_ALIGN, 4096);
	W(fx, VIO_MMIO_QUEUE_PFN, (uint32_t)(ring_base(0) / 4096));
	assert_int_equal(R(fx, VIO_MMIO_QUEUE_PFN), 0);
	assert_int_equal(ignored(fx), n + 4);
	assert_non_null(strstr(fx->last_log, "version 2"));
	assert_false(fx->queues[0].enabled);
	fx_free(fx);
}

static void v2_registers_in_v1(void **state)
{
	struct fx *fx = fx_new(1, VIO_BIT(VIO_F_RING_RESET), false);
	uint64_t n;

	(void)state;
	negotiate(fx, 0);
	W(fx, VIO_MMIO_QUEUE_SEL, 0);
	n = ignored(fx);
	W(fx, VIO_MMIO_QUEUE_NUM, 64);   /* both versions: taken */
	set_addrs(fx, ring_base(0), ring_base(0) + 0x1000, ring_base(0) + 0x2000);
	W(fx, VIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(R(fx, VIO_MMIO_QUEUE_READY), 0);
	assert_int_equal(R(fx, VIO_MMIO_CONFIG_GENERATION), 0);
	assert_int_equal(R(fx, VIO_MMIO_SHM_LEN_LOW), 0);
	W(fx, VIO_MMIO_SHM_SEL, 0);
	W(fx, VIO_MMIO_QUEUE_RESET, 1);
	assert_int_equal(ignored(fx), n + 12);
	assert_non_null(strstr(fx->last_log, "version 1"));
	assert_false(fx->queues[0].enabled);
	fx_free(fx);
}

static void rings_outside_memory_v2(void **state)
{
	static const uint64_t bad[][3] = {
		{ GPA - 0x1000, GPA + 0x1000, GPA + 0x2000 },
		{ GPA, GPA + MEM_BYTES, GPA + 0x2000 },
		{ GPA, GPA + 0x1000, GPA + MEM_BYTES - 4 },
		{ UINT64_MAX - 0xfff, GPA, GPA + 0x2000 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fx *fx = fx_new(2, 0, false);

		negotiate(fx, V2F);
		W(fx, VIO_MMIO_QUEUE_SEL, 0);
		W(fx, VIO_MMIO_QUEUE_NUM, 64);
		set_addrs(fx, bad[i][0], bad[i][1], bad[i][2]);
		W(fx, VIO_MMIO_QUEUE_READY, 1);
		assert_int_equal(R(fx, VIO_MMIO_QUEUE_READY), 0);
		assert_true(R(fx, VIO_MMIO_STATUS) & VIO_STATUS_NEEDS_RESET);
		/* The driver is told through a config interrupt. */
		assert_true(vio_mmio_dev_int_status(&fx->m) & VIO_MMIO_INT_CONFIG);
		assert_true(fx->line);
		/* Not live even at DRIVER_OK. */
		W(fx, VIO_MMIO_STATUS, (uint32_t)(R(fx, VIO_MMIO_STATUS) | VIO_STATUS_DRIVER_OK));
		assert_false(vio_dev_queue_live(&fx->d, 0));
		fx_free(fx);
	}
}

static void pfn_outside_memory_v1(void **state)
{
	static const uint32_t pfns[] = { 1, (uint32_t)((GPA + MEM_BYTES) / 4096),
					 (uint32_t)((GPA + MEM_BYTES) / 4096 - 1), UINT32_MAX };

	(void)state;
	for (size_t i = 0; i < sizeof(pfns) / sizeof(pfns[0]); i++) {
		struct fx *fx = fx_new(1, 0, false);

		negotiate(fx, 0);
		W(fx, VIO_MMIO_QUEUE_SEL, 0);
		W(fx, VIO_MMIO_QUEUE_NUM, 256);
		W(fx, VIO_MMIO_QUEUE_PFN, pfns[i]);
		assert_int_equal(R(fx, VIO_MMIO_QUEUE_PFN), 0);
		assert_true(R(fx, VIO_MMIO_STATUS) & VIO_STATUS_NEEDS_RESET);
		assert_false(fx->queues[0].enabled);
		fx_free(fx);
	}
}

static void status_above_low_byte(void **state)
{
	struct fx *fx = fx_new(2, 0, false);
	uint64_t n;

	(void)state;
	W(fx, VIO_MMIO_STATUS, VIO_STATUS_ACKNOWLEDGE);
	n = ignored(fx);
	W(fx, VIO_MMIO_STATUS, 0x100);   /* not a reset either */
	assert_dropped(fx, n);
	assert_int_equal(R(fx, VIO_MMIO_STATUS), VIO_STATUS_ACKNOWLEDGE);
	fx_free(fx);
}

/* ======================================================================== */
/* Interrupts, reset, queue reset, the rest                                 */

static void interrupt_status_and_ack(void **state)
{
	struct fx *fx = up_v2(0, V2F, false);

	(void)state;
	fx->d.transport->interrupt(fx->d.transport_opaque, 0);
	assert_int_equal(R(fx, VIO_MMIO_INTERRUPT_STATUS), VIO_MMIO_INT_VRING);
	assert_true(fx->line);
	assert_int_equal(fx->irq_raises, 1);
	vio_dev_config_changed(&fx->d);
	assert_int_equal(R(fx, VIO_MMIO_INTERRUPT_STATUS), VIO_MMIO_INT_VRING | VIO_MMIO_INT_CONFIG);
	assert_int_equal(fx->irq_raises, 2);
	/* One bit acked: the line stays up. */
	W(fx, VIO_MMIO_INTERRUPT_ACK, VIO_MMIO_INT_VRING);
	assert_int_equal(R(fx, VIO_MMIO_INTERRUPT_STATUS), VIO_MMIO_INT_CONFIG);
	assert_int_equal(fx->irq_lowers, 0);
	assert_true(fx->line);
	/* Bits that are not interrupt bits change nothing. */
	W(fx, VIO_MMIO_INTERRUPT_ACK, 0xfffffffcu);
	assert_int_equal(R(fx, VIO_MMIO_INTERRUPT_STATUS), VIO_MMIO_INT_CONFIG);
	W(fx, VIO_MMIO_INTERRUPT_ACK, VIO_MMIO_INT_CONFIG);
	assert_int_equal(R(fx, VIO_MMIO_INTERRUPT_STATUS), 0);
	assert_int_equal(fx->irq_lowers, 1);
	assert_false(fx->line);
	/* An ack of nothing does not lower again. */
	W(fx, VIO_MMIO_INTERRUPT_ACK, 3);
	assert_int_equal(fx->irq_lowers, 1);
	fx_free(fx);
}

static void config_generation_counts(void **state)
{
	struct fx *fx = up_v2(0, V2F, false);
	uint32_t g = R(fx, VIO_MMIO_CONFIG_GENERATION);

	(void)state;
	vio_dev_config_changed(&fx->d);
	assert_int_equal(R(fx, VIO_MMIO_CONFIG_GENERATION), g + 1);
	fx_free(fx);
}

static void shm_regions_absent(void **state)
{
	struct fx *fx = fx_new(2, 0, false);

	(void)state;
	for (uint32_t sel = 0; sel < 3; sel++) {
		W(fx, VIO_MMIO_SHM_SEL, sel);
		assert_int_equal(R(fx, VIO_MMIO_SHM_LEN_LOW), UINT32_MAX);
		assert_int_equal(R(fx, VIO_MMIO_SHM_LEN_HIGH), UINT32_MAX);
	}
	fx_free(fx);
}

/* Status 0 stops every queue, clears the interrupt and the registers. */
static void reset_clears_everything(void **state)
{
	struct fx *fx = up_v2(0, V2F, false);

	(void)state;
	fx->d.transport->interrupt(fx->d.transport_opaque, 0);
	assert_true(fx->line);
	W(fx, VIO_MMIO_STATUS, 0);
	assert_int_equal(R(fx, VIO_MMIO_STATUS), 0);
	assert_false(fx->line);
	assert_int_equal(R(fx, VIO_MMIO_INTERRUPT_STATUS), 0);
	assert_false(vio_dev_queue_live(&fx->d, 0));
	assert_false(vio_dev_queue_live(&fx->d, 1));
	assert_true(fx->resets >= 1);
	W(fx, VIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(R(fx, VIO_MMIO_QUEUE_READY), 0);
	/* Kicks after the reset do not reach the device. */
	W(fx, VIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(fx->notified[0], 0);
	fx_free(fx);
}

static void queue_reset_with_ring_reset(void **state)
{
	const uint64_t rr = VIO_BIT(VIO_F_RING_RESET);
	struct fx *fx = up_v2(rr, V2F | rr, false);

	(void)state;
	W(fx, VIO_MMIO_QUEUE_SEL, 1);
	W(fx, VIO_MMIO_QUEUE_RESET, 1);
	assert_int_equal(R(fx, VIO_MMIO_QUEUE_RESET), 0);
	assert_int_equal(R(fx, VIO_MMIO_QUEUE_READY), 0);
	assert_false(vio_dev_queue_live(&fx->d, 1));
	assert_true(vio_dev_queue_live(&fx->d, 0));
	assert_int_equal(fx->queue_resets, 1);
	/* Set up again after DRIVER_OK: live at once. */
	setup_v2(fx, 1, 32);
	assert_int_equal(R(fx, VIO_MMIO_QUEUE_READY), 1);
	assert_true(vio_dev_queue_live(&fx->d, 1));
	assert_int_equal(fx->queues[1].size, 32);
	W(fx, VIO_MMIO_QUEUE_NOTIFY, 1);
	assert_int_equal(fx->notified[1], 1);
	fx_free(fx);
}

static void queue_reset_without_ring_reset(void **state)
{
	struct fx *fx = up_v2(VIO_BIT(VIO_F_RING_RESET), V2F, false);
	uint64_t n = ignored(fx);

	(void)state;
	W(fx, VIO_MMIO_QUEUE_SEL, 0);
	W(fx, VIO_MMIO_QUEUE_RESET, 1);
	assert_dropped(fx, n);
	assert_true(vio_dev_queue_live(&fx->d, 0));
	assert_int_equal(fx->queue_resets, 0);
	fx_free(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(identity_registers),
		cmocka_unit_test(init_refuses_bad_options),
		cmocka_unit_test(v2_features_and_queue_setup),
		cmocka_unit_test(v1_legacy_queue_setup),
		cmocka_unit_test(v1_page_size_survives_reset),
		cmocka_unit_test(wrong_width_register),
		cmocka_unit_test(unaligned_register),
		cmocka_unit_test(unknown_register),
		cmocka_unit_test(queue_sel_out_of_range),
		cmocka_unit_test(queue_num_zero),
		cmocka_unit_test(queue_num_above_max),
		cmocka_unit_test(queue_num_not_power_of_two_split),
		cmocka_unit_test(queue_num_not_power_of_two_packed),
		cmocka_unit_test(queue_num_0x10000),
		cmocka_unit_test(features_after_features_ok),
		cmocka_unit_test(features_before_driver),
		cmocka_unit_test(queue_setup_before_features_ok),
		cmocka_unit_test(queue_setup_after_driver_ok),
		cmocka_unit_test(v1_queue_setup_wrong_phase),
		cmocka_unit_test(features_ok_with_bits_never_offered),
		cmocka_unit_test(v1_features_never_offered_dropped),
		cmocka_unit_test(features_sel_above_1),
		cmocka_unit_test(config_read_write_in_bounds),
		cmocka_unit_test(config_past_end),
		cmocka_unit_test(config_straddling_end),
		cmocka_unit_test(config_unaligned),
		cmocka_unit_test(notify_queue_that_does_not_exist),
		cmocka_unit_test(notify_queue_not_ready),
		cmocka_unit_test(kick_before_driver_ok),
		cmocka_unit_test(v1_registers_in_v2),
		cmocka_unit_test(v2_registers_in_v1),
		cmocka_unit_test(rings_outside_memory_v2),
		cmocka_unit_test(pfn_outside_memory_v1),
		cmocka_unit_test(status_above_low_byte),
		cmocka_unit_test(interrupt_status_and_ack),
		cmocka_unit_test(config_generation_counts),
		cmocka_unit_test(shm_regions_absent),
		cmocka_unit_test(reset_clears_everything),
		cmocka_unit_test(queue_reset_with_ring_reset),
		cmocka_unit_test(queue_reset_without_ring_reset),
	};

	return cmocka_run_group_tests_name("mmio_dev", tests, NULL, NULL);
}
