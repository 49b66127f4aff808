/*
 * test_spec_mmio.c - the virtio-mmio register numbers of
 * include/vio/spec/mmio.h against the spec.
 *
 * The expected values are written out by hand from virtio 1.x section
 * 4.2.2 (table "MMIO Device Register Layout") and, for the legacy
 * registers, 4.2.4 ("Legacy interface"), never derived from the header:
 * a wrong offset would let libvio's driver side and register model agree
 * with each other and fail only against Linux or QEMU.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vio/spec/mmio.h"

struct reg {
	const char *name;
	unsigned value, spec;
};

/* 4.2.2, in the table's order. */
static const struct reg modern[] = {
	{ "MagicValue", VIO_MMIO_MAGIC_VALUE, 0x000 },
	{ "Version", VIO_MMIO_VERSION, 0x004 },
	{ "DeviceID", VIO_MMIO_DEVICE_ID, 0x008 },
	{ "VendorID", VIO_MMIO_VENDOR_ID, 0x00c },
	{ "DeviceFeatures", VIO_MMIO_DEVICE_FEATURES, 0x010 },
	{ "DeviceFeaturesSel", VIO_MMIO_DEVICE_FEATURES_SEL, 0x014 },
	{ "DriverFeatures", VIO_MMIO_DRIVER_FEATURES, 0x020 },
	{ "DriverFeaturesSel", VIO_MMIO_DRIVER_FEATURES_SEL, 0x024 },
	{ "QueueSel", VIO_MMIO_QUEUE_SEL, 0x030 },
	{ "QueueNumMax", VIO_MMIO_QUEUE_NUM_MAX, 0x034 },
	{ "QueueNum", VIO_MMIO_QUEUE_NUM, 0x038 },
	{ "QueueReady", VIO_MMIO_QUEUE_READY, 0x044 },
	{ "QueueNotify", VIO_MMIO_QUEUE_NOTIFY, 0x050 },
	{ "InterruptStatus", VIO_MMIO_INTERRUPT_STATUS, 0x060 },
	{ "InterruptACK", VIO_MMIO_INTERRUPT_ACK, 0x064 },
	{ "Status", VIO_MMIO_STATUS, 0x070 },
	{ "QueueDescLow", VIO_MMIO_QUEUE_DESC_LOW, 0x080 },
	{ "QueueDescHigh", VIO_MMIO_QUEUE_DESC_HIGH, 0x084 },
	{ "QueueDriverLow", VIO_MMIO_QUEUE_DRIVER_LOW, 0x090 },
	{ "QueueDriverHigh", VIO_MMIO_QUEUE_DRIVER_HIGH, 0x094 },
	{ "QueueDeviceLow", VIO_MMIO_QUEUE_DEVICE_LOW, 0x0a0 },
	{ "QueueDeviceHigh", VIO_MMIO_QUEUE_DEVICE_HIGH, 0x0a4 },
	{ "SHMSel", VIO_MMIO_SHM_SEL, 0x0ac },
	{ "SHMLenLow", VIO_MMIO_SHM_LEN_LOW, 0x0b0 },
	{ "SHMLenHigh", VIO_MMIO_SHM_LEN_HIGH, 0x0b4 },
	{ "SHMBaseLow", VIO_MMIO_SHM_BASE_LOW, 0x0b8 },
	{ "SHMBaseHigh", VIO_MMIO_SHM_BASE_HIGH, 0x0bc },
	{ "QueueReset", VIO_MMIO_QUEUE_RESET, 0x0c0 },
	{ "ConfigGeneration", VIO_MMIO_CONFIG_GENERATION, 0x0fc },
	{ "Config", VIO_MMIO_CONFIG, 0x100 },
};

/* 4.2.4: the legacy layout. Its HostFeatures, HostFeaturesSel,
 * GuestFeatures and GuestFeaturesSel sit where DeviceFeatures & co. are. */
static const struct reg legacy[] = {
	{ "HostFeatures", VIO_MMIO_DEVICE_FEATURES, 0x010 },
	{ "HostFeaturesSel", VIO_MMIO_DEVICE_FEATURES_SEL, 0x014 },
	{ "GuestFeatures", VIO_MMIO_DRIVER_FEATURES, 0x020 },
	{ "GuestFeaturesSel", VIO_MMIO_DRIVER_FEATURES_SEL, 0x024 },
	{ "GuestPageSize", VIO_MMIO_GUEST_PAGE_SIZE, 0x028 },
	{ "QueueSel", VIO_MMIO_QUEUE_SEL, 0x030 },
	{ "QueueNumMax", VIO_MMIO_QUEUE_NUM_MAX, 0x034 },
	{ "QueueNum", VIO_MMIO_QUEUE_NUM, 0x038 },
	{ "QueueAlign", VIO_MMIO_QUEUE_ALIGN, 0x03c },
	{ "QueuePFN", VIO_MMIO_QUEUE_PFN, 0x040 },
	{ "QueueNotify", VIO_MMIO_QUEUE_NOTIFY, 0x050 },
	{ "InterruptStatus", VIO_MMIO_INTERRUPT_STATUS, 0x060 },
	{ "InterruptACK", VIO_MMIO_INTERRUPT_ACK, 0x064 },
	{ "Status", VIO_MMIO_STATUS, 0x070 },
	{ "Config", VIO_MMIO_CONFIG, 0x100 },
};

static void check(const struct reg *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (r[i].value != r[i].spec)
			fail_msg("%s is %#x, the spec says %#x", r[i].name, r[i].value, r[i].spec);
	}
}

static void modern_offsets_match_the_spec(void **state)
{
	(void)state;
	check(modern, sizeof(modern) / sizeof(modern[0]));
}

static void legacy_offsets_match_the_spec(void **state)
{
	(void)state;
	check(legacy, sizeof(legacy) / sizeof(legacy[0]));
}

/* 4.2.2: MagicValue is 0x74726976 ("virt" little-endian); Version 2;
 * legacy devices 1 (4.2.4); InterruptStatus bit 0 used buffer, bit 1
 * configuration change. */
static void values_match_the_spec(void **state)
{
	(void)state;
	assert_int_equal(VIO_MMIO_MAGIC, 0x74726976u);
	assert_int_equal(VIO_MMIO_MAGIC, (uint32_t)'v' | (uint32_t)'i' << 8 | (uint32_t)'r' << 16 |
					 (uint32_t)'t' << 24);
	assert_int_equal(VIO_MMIO_VERSION_MODERN, 2);
	assert_int_equal(VIO_MMIO_VERSION_LEGACY, 1);
	assert_int_equal(VIO_MMIO_INT_VRING, 1u << 0);
	assert_int_equal(VIO_MMIO_INT_CONFIG, 1u << 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(modern_offsets_match_the_spec),
		cmocka_unit_test(legacy_offsets_match_the_spec),
		cmocka_unit_test(values_match_the_spec),
	};

	return cmocka_run_group_tests_name("spec_mmio", tests, NULL, NULL);
}
