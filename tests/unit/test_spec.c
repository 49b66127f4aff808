/*
 * test_spec.c - unit tests of the spec layer (include/vio/spec.h) and of the
 * ring-geometry helpers built directly on it (vio_ring_size_valid,
 * vio_ring_legacy_layout, vio_ring_*_bytes/align).
 *
 * Everything here is wire format: if a byte order, a struct offset, a
 * feature bit number or a ring size is wrong, libvio still talks to itself
 * happily and only breaks against a real peer (Linux, QEMU, DPDK). So the
 * expected values are written out by hand from the virtio 1.x spec and the
 * seed's vring layout, never derived from the code under test.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vio/ring.h"
#include "vio/spec.h"

/* ------------------------------------------------------------------------ */
/* Little-endian wrappers                                                   */

static const uint64_t patterns[] = {
	0, 1, 0x7f, 0x80, 0xff, 0x100, 0x1234, 0x8000, 0xffff, 0x10000, 0x11223344,
	0x80000000u, 0xffffffffu, UINT64_C(0x100000000), UINT64_C(0x1122334455667788),
	UINT64_C(0x8000000000000000), UINT64_MAX,
};

#define NPATTERNS (sizeof(patterns) / sizeof(patterns[0]))

static void test_roundtrip16(void **state)
{
	for (size_t i = 0; i < NPATTERNS; i++) {
		uint16_t v = (uint16_t)patterns[i];

		assert_int_equal(vio_get16(false, vio_set16(false, v)), v);
		assert_int_equal(vio_get16(true, vio_set16(true, v)), v);
		assert_int_equal(vio_le16_to_cpu(vio_cpu_to_le16(v)), v);
	}
}

static void test_roundtrip32(void **state)
{
	for (size_t i = 0; i < NPATTERNS; i++) {
		uint32_t v = (uint32_t)patterns[i];

		assert_int_equal(vio_get32(false, vio_set32(false, v)), v);
		assert_int_equal(vio_get32(true, vio_set32(true, v)), v);
		assert_int_equal(vio_le32_to_cpu(vio_cpu_to_le32(v)), v);
	}
}

static void test_roundtrip64(void **state)
{
	for (size_t i = 0; i < NPATTERNS; i++) {
		uint64_t v = patterns[i];

		assert_true(vio_get64(false, vio_set64(false, v)) == v);
		assert_true(vio_get64(true, vio_set64(true, v)) == v);
		assert_true(vio_le64_to_cpu(vio_cpu_to_le64(v)) == v);
	}
}

/* The wrappers must add no padding: they overlay wire memory. */
static void test_wrapper_sizes(void **state)
{
	assert_int_equal(sizeof(vio_le16), 2);
	assert_int_equal(sizeof(vio_le32), 4);
	assert_int_equal(sizeof(vio_le64), 8);
	assert_int_equal(_Alignof(vio_le16), _Alignof(uint16_t));
	assert_int_equal(_Alignof(vio_le32), _Alignof(uint32_t));
	assert_int_equal(_Alignof(vio_le64), _Alignof(uint64_t));
}

/*
 * Byte-level views: what actually lands in shared memory. Modern order is
 * spelled out byte by byte; legacy order must equal the host's own
 * representation of the value, whatever the host is.
 */
static void test_modern_bytes_are_little_endian(void **state)
{
	static const uint8_t le16[] = { 0x22, 0x11 };
	static const uint8_t le32[] = { 0x44, 0x33, 0x22, 0x11 };
	static const uint8_t le64[] = { 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 };
	vio_le16 a = vio_set16(false, 0x1122);
	vio_le32 b = vio_set32(false, 0x11223344);
	vio_le64 c = vio_set64(false, UINT64_C(0x1122334455667788));

	assert_memory_equal(&a, le16, sizeof(le16));
	assert_memory_equal(&b, le32, sizeof(le32));
	assert_memory_equal(&c, le64, sizeof(le64));
}

static void test_modern_get_reads_little_endian(void **state)
{
	static const uint8_t bytes[] = { 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 };
	vio_le16 a;
	vio_le32 b;
	vio_le64 c;

	memcpy(&a, bytes, sizeof(a));
	memcpy(&b, bytes, sizeof(b));
	memcpy(&c, bytes, sizeof(c));
	assert_int_equal(vio_get16(false, a), 0x7788);
	assert_int_equal(vio_get32(false, b), 0x55667788);
	assert_true(vio_get64(false, c) == UINT64_C(0x1122334455667788));
}

static void test_legacy_bytes_are_native(void **state)
{
	uint16_t n16 = 0x1122;
	uint32_t n32 = 0x11223344;
	uint64_t n64 = UINT64_C(0x1122334455667788);
	vio_le16 a = vio_set16(true, n16);
	vio_le32 b = vio_set32(true, n32);
	vio_le64 c = vio_set64(true, n64);

	assert_memory_equal(&a, &n16, sizeof(n16));
	assert_memory_equal(&b, &n32, sizeof(n32));
	assert_memory_equal(&c, &n64, sizeof(n64));
}

/* Legacy and modern agree exactly when the host is little-endian. */
static void test_legacy_vs_modern_on_this_host(void **state)
{
	uint32_t v = 0x11223344;
	uint32_t modern = vio_set32(false, v).raw, legacy = vio_set32(true, v).raw;

	if (VIO_HOST_LITTLE_ENDIAN) {
		assert_int_equal(modern, legacy);
		assert_int_equal(vio_set16(true, 0xabcd).raw, vio_set16(false, 0xabcd).raw);
	} else {
		assert_int_equal(modern, __builtin_bswap32(legacy));
	}
	/* The branch above is only meaningful if the header read the host
	 * byte order correctly. */
	assert_int_equal(VIO_HOST_LITTLE_ENDIAN, __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__);
}

/* ------------------------------------------------------------------------ */
/* Wire struct layout                                                       */

static void test_split_desc_layout(void **state)
{
	assert_int_equal(sizeof(struct vio_split_desc), 16);
	assert_int_equal(offsetof(struct vio_split_desc, addr), 0);
	assert_int_equal(offsetof(struct vio_split_desc, len), 8);
	assert_int_equal(offsetof(struct vio_split_desc, flags), 12);
	assert_int_equal(offsetof(struct vio_split_desc, next), 14);
}

static void test_split_avail_layout(void **state)
{
	assert_int_equal(sizeof(struct vio_split_avail), 4);
	assert_int_equal(offsetof(struct vio_split_avail, flags), 0);
	assert_int_equal(offsetof(struct vio_split_avail, idx), 2);
	assert_int_equal(offsetof(struct vio_split_avail, ring), 4);
}

static void test_split_used_layout(void **state)
{
	assert_int_equal(sizeof(struct vio_split_used_elem), 8);
	assert_int_equal(offsetof(struct vio_split_used_elem, id), 0);
	assert_int_equal(offsetof(struct vio_split_used_elem, len), 4);
	assert_int_equal(sizeof(struct vio_split_used), 4);
	assert_int_equal(offsetof(struct vio_split_used, flags), 0);
	assert_int_equal(offsetof(struct vio_split_used, idx), 2);
	assert_int_equal(offsetof(struct vio_split_used, ring), 4);
}

static void test_packed_layout(void **state)
{
	assert_int_equal(sizeof(struct vio_packed_desc), 16);
	assert_int_equal(offsetof(struct vio_packed_desc, addr), 0);
	assert_int_equal(offsetof(struct vio_packed_desc, len), 8);
	assert_int_equal(offsetof(struct vio_packed_desc, id), 12);
	assert_int_equal(offsetof(struct vio_packed_desc, flags), 14);
	assert_int_equal(sizeof(struct vio_packed_event), 4);
	assert_int_equal(offsetof(struct vio_packed_event, off_wrap), 0);
	assert_int_equal(offsetof(struct vio_packed_event, flags), 2);
}

/* ------------------------------------------------------------------------ */
/* Split ring sizes and the legacy one-block layout                         */

/*
 * Hand-computed from the seed's vring_size() as it stands since EVENT_IDX
 * (the avail ring and the used ring each carry one extra le16):
 *   used_off = ALIGN(16 * n + 2 * (3 + n), align)
 *   total    = used_off + 2 * 3 + 8 * n
 * used_off_2007 is the same offset without the event word (2 * (2 + n)),
 * as the original 2007 formula had it: for power-of-two sizes it must be the
 * same, or a legacy peer that does not know EVENT_IDX would put the used
 * ring elsewhere.
 */
struct legacy_row {
	unsigned size;
	size_t align;
	size_t desc, avail, used;
	size_t used_off, used_off_2007, total;
};

static const struct legacy_row legacy_rows[] = {
	/* 16 + 8 = 24 -> 4096; + 6 + 8 */
	{ 1, 4096, 16, 8, 14, 4096, 4096, 4110 },
	/* 4096 + 518 = 4614 -> 8192; + 6 + 2048 */
	{ 256, 4096, 4096, 518, 2054, 8192, 8192, 10246 },
	/* 524288 + 65542 = 589830 -> 593920; + 6 + 262144 */
	{ 32768, 4096, 524288, 65542, 262150, 593920, 593920, 856070 },
	/* a small alignment (legacy virtio-mmio lets the driver pick it):
	 * 64 + 14 = 78 -> 80; + 6 + 32 */
	{ 4, 16, 64, 14, 38, 80, 80, 118 },
};

#define NLEGACY (sizeof(legacy_rows) / sizeof(legacy_rows[0]))

static void test_split_area_sizes(void **state)
{
	for (size_t i = 0; i < NLEGACY; i++) {
		const struct legacy_row *r = &legacy_rows[i];

		assert_int_equal(vio_split_desc_size(r->size), r->desc);
		assert_int_equal(vio_split_avail_size(r->size), r->avail);
		assert_int_equal(vio_split_used_size(r->size), r->used);
	}
}

static void test_split_legacy_size(void **state)
{
	for (size_t i = 0; i < NLEGACY; i++) {
		const struct legacy_row *r = &legacy_rows[i];

		assert_int_equal(vio_split_legacy_size(r->size, r->align), r->total);
	}
}

static void test_legacy_layout_offsets(void **state)
{
	static const uint64_t bases[] = { 0, 0x10000, UINT64_C(0x7fff00000000) };

	for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
		for (size_t i = 0; i < NLEGACY; i++) {
			const struct legacy_row *r = &legacy_rows[i];
			struct vio_ring_addrs a;

			memset(&a, 0xa5, sizeof(a));
			vio_ring_legacy_layout(bases[b], r->size, r->align, &a);
			assert_true(a.desc == bases[b]);
			assert_true(a.driver == bases[b] + r->desc);
			assert_true(a.device == bases[b] + r->used_off);
			assert_true(a.device == bases[b] + r->used_off_2007);
			/* The block ends where vio_split_legacy_size says. */
			assert_true(a.device + r->used == bases[b] + r->total);
		}
	}
}

static void test_ring_bytes_and_align(void **state)
{
	const uint64_t packed = VIO_BIT(VIO_F_RING_PACKED);

	assert_int_equal(vio_ring_desc_bytes(0, 256), 4096);
	assert_int_equal(vio_ring_driver_bytes(0, 256), 518);
	assert_int_equal(vio_ring_device_bytes(0, 256), 2054);
	assert_int_equal(vio_ring_desc_align(0), 16);
	assert_int_equal(vio_ring_driver_align(0), 2);
	assert_int_equal(vio_ring_device_align(0), 4);

	assert_int_equal(vio_ring_desc_bytes(packed, 100), 1600);
	assert_int_equal(vio_ring_driver_bytes(packed, 100), 4);
	assert_int_equal(vio_ring_device_bytes(packed, 100), 4);
	assert_int_equal(vio_ring_desc_align(packed), 16);
	assert_int_equal(vio_ring_driver_align(packed), 4);
	assert_int_equal(vio_ring_device_align(packed), 4);
}

/* ------------------------------------------------------------------------ */
/* Queue size validity                                                      */

static bool is_pow2(unsigned v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

static void test_size_valid_split(void **state)
{
	/* Other feature bits must not change the layout's rule. */
	const uint64_t feats[] = { 0, VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_EVENT_IDX) };

	for (size_t f = 0; f < 2; f++) {
		for (unsigned s = 0; s <= 70000; s++)
			assert_int_equal(vio_ring_size_valid(feats[f], s),
					 is_pow2(s) && s <= 32768);
		assert_false(vio_ring_size_valid(feats[f], UINT_MAX));
		assert_false(vio_ring_size_valid(feats[f], 1u << 31));
	}
}

static void test_size_valid_packed(void **state)
{
	const uint64_t packed = VIO_BIT(VIO_F_RING_PACKED) | VIO_BIT(VIO_F_VERSION_1);

	for (unsigned s = 0; s <= 70000; s++)
		assert_int_equal(vio_ring_size_valid(packed, s), s >= 1 && s <= 32768);
	assert_false(vio_ring_size_valid(packed, UINT_MAX));
}

/* ------------------------------------------------------------------------ */
/* vio_need_event                                                           */

struct need_event_row {
	uint16_t event, new_idx, old_idx;
	bool want;
};

static const struct need_event_row need_event_rows[] = {
	{ 0, 1, 0, true },          /* the entry the peer waits for was just added */
	{ 1, 1, 0, false },         /* not reached yet */
	{ 5, 10, 0, true },         /* passed somewhere inside a batch */
	{ 9, 10, 0, true },         /* last entry of the batch */
	{ 10, 10, 0, false },       /* one short */
	{ 0, 2, 1, false },         /* passed before this batch: already notified */
	{ 3, 3, 3, false },         /* nothing moved */
	{ 7, 3, 3, false },
	{ 65535, 1, 65534, true },  /* window straddles the wrap */
	{ 65535, 0, 65535, true },
	{ 0, 1, 65535, true },
	{ 1, 1, 65535, false },
	{ 65534, 1, 65535, false }, /* just behind the window, across the wrap */
	{ 65534, 65535, 0, true },  /* a window of 65535 entries */
	{ 65535, 65535, 0, false },
};

static void test_need_event_table(void **state)
{
	for (size_t i = 0; i < sizeof(need_event_rows) / sizeof(need_event_rows[0]); i++) {
		const struct need_event_row *r = &need_event_rows[i];

		if (vio_need_event(r->event, r->new_idx, r->old_idx) != r->want)
			fail_msg("need_event(event=%u, new=%u, old=%u) != %d",
				 r->event, r->new_idx, r->old_idx, r->want);
	}
}

/* Against the definition: notify iff event lies in [old, new) modulo 2^16. */
static void test_need_event_sweep(void **state)
{
	static const uint16_t olds[] = { 0, 1, 32767, 32768, 65534, 65535 };
	static const uint16_t dists[] = { 0, 1, 2, 100, 32767, 32768, 65535 };

	for (size_t o = 0; o < sizeof(olds) / sizeof(olds[0]); o++) {
		for (size_t d = 0; d < sizeof(dists) / sizeof(dists[0]); d++) {
			uint16_t old_idx = olds[o], new_idx = (uint16_t)(old_idx + dists[d]);

			for (uint32_t e = 0; e <= 0xffff; e++) {
				bool want = (uint16_t)(e - old_idx) < dists[d];

				if (vio_need_event((uint16_t)e, new_idx, old_idx) != want)
					fail_msg("need_event(event=%u, new=%u, old=%u) != %d",
						 e, new_idx, old_idx, want);
			}
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Constants                                                                */

static void test_feature_bits(void **state)
{
	assert_int_equal(VIO_F_NOTIFY_ON_EMPTY, 24);
	assert_int_equal(VIO_F_ANY_LAYOUT, 27);
	assert_int_equal(VIO_F_INDIRECT_DESC, 28);
	assert_int_equal(VIO_F_EVENT_IDX, 29);
	assert_int_equal(VIO_F_BAD_FEATURE, 30);
	assert_int_equal(VIO_F_VERSION_1, 32);
	assert_int_equal(VIO_F_ACCESS_PLATFORM, 33);
	assert_int_equal(VIO_F_RING_PACKED, 34);
	assert_int_equal(VIO_F_IN_ORDER, 35);
	assert_int_equal(VIO_F_ORDER_PLATFORM, 36);
	assert_int_equal(VIO_F_SR_IOV, 37);
	assert_int_equal(VIO_F_NOTIFICATION_DATA, 38);
	assert_int_equal(VIO_F_NOTIF_CONFIG_DATA, 39);
	assert_int_equal(VIO_F_RING_RESET, 40);
}

static void test_feature_helpers(void **state)
{
	uint64_t f = VIO_BIT(VIO_F_VERSION_1) | VIO_BIT(VIO_F_EVENT_IDX);
	volatile unsigned nr;

	assert_true(VIO_BIT(VIO_F_VERSION_1) == UINT64_C(0x100000000));
	assert_true(VIO_BIT(63) == UINT64_C(0x8000000000000000));
	assert_true(vio_has_feature(f, VIO_F_VERSION_1));
	assert_true(vio_has_feature(f, VIO_F_EVENT_IDX));
	assert_false(vio_has_feature(f, VIO_F_INDIRECT_DESC));
	assert_true(vio_has_feature(UINT64_MAX, 63));
	/* Out-of-range bit numbers are simply absent, not undefined shifts.
	 * Through a volatile so the compiler cannot fold a bad shift away:
	 * x86 would then mask the count and test bit 0. */
	nr = 64;
	assert_false(vio_has_feature(UINT64_MAX, nr));
	nr = 65;
	assert_false(vio_has_feature(UINT64_MAX, nr));
	assert_false(vio_has_feature(UINT64_MAX, UINT_MAX));
}

static void test_status_bits(void **state)
{
	assert_int_equal(VIO_STATUS_ACKNOWLEDGE, 1);
	assert_int_equal(VIO_STATUS_DRIVER, 2);
	assert_int_equal(VIO_STATUS_DRIVER_OK, 4);
	assert_int_equal(VIO_STATUS_FEATURES_OK, 8);
	assert_int_equal(VIO_STATUS_NEEDS_RESET, 64);
	assert_int_equal(VIO_STATUS_FAILED, 128);
}

static void test_ring_flag_values(void **state)
{
	assert_int_equal(VIO_DESC_F_NEXT, 1);
	assert_int_equal(VIO_DESC_F_WRITE, 2);
	assert_int_equal(VIO_DESC_F_INDIRECT, 4);
	assert_int_equal(VIO_AVAIL_F_NO_INTERRUPT, 1);
	assert_int_equal(VIO_USED_F_NO_NOTIFY, 1);
	assert_int_equal(VIO_PACKED_DESC_F_AVAIL, 0x80);
	assert_int_equal(VIO_PACKED_DESC_F_USED, 0x8000);
	assert_int_equal(VIO_PACKED_EVENT_ENABLE, 0);
	assert_int_equal(VIO_PACKED_EVENT_DISABLE, 1);
	assert_int_equal(VIO_PACKED_EVENT_DESC, 2);
	assert_int_equal(VIO_PACKED_EVENT_WRAP_SHIFT, 15);
	assert_int_equal(VIO_SPLIT_MAX_SIZE, 32768);
	assert_int_equal(VIO_PACKED_MAX_SIZE, 32768);
	assert_int_equal(VIO_SPLIT_DESC_ALIGN, 16);
	assert_int_equal(VIO_SPLIT_AVAIL_ALIGN, 2);
	assert_int_equal(VIO_SPLIT_USED_ALIGN, 4);
	assert_int_equal(VIO_PACKED_DESC_ALIGN, 16);
	assert_int_equal(VIO_PACKED_EVENT_ALIGN, 4);
	assert_int_equal(VIO_LEGACY_VRING_ALIGN, 4096);
}

static void test_device_ids(void **state)
{
	assert_int_equal(VIO_ID_NET, 1);
	assert_int_equal(VIO_ID_BLOCK, 2);
	assert_int_equal(VIO_ID_CONSOLE, 3);
	assert_int_equal(VIO_ID_RNG, 4);
	assert_int_equal(VIO_ID_BALLOON, 5);
	assert_int_equal(VIO_ID_SCSI, 8);
	assert_int_equal(VIO_ID_9P, 9);
	assert_int_equal(VIO_ID_GPU, 16);
	assert_int_equal(VIO_ID_INPUT, 18);
	assert_int_equal(VIO_ID_VSOCK, 19);
	assert_int_equal(VIO_ID_CRYPTO, 20);
	assert_int_equal(VIO_ID_IOMMU, 23);
	assert_int_equal(VIO_ID_SOUND, 25);
	assert_int_equal(VIO_ID_FS, 26);
	assert_int_equal(VIO_ID_SCMI, 32);
	assert_int_equal(VIO_ID_I2C, 34);
	assert_int_equal(VIO_ID_GPIO, 41);
}

/* ------------------------------------------------------------------------ */
/* vio_strerror                                                             */

static void test_strerror_distinct(void **state)
{
	/* The codes the mem and ring layers document returning. */
	static const int codes[] = {
		EIO, EFAULT, ENOSPC, EINVAL, EOVERFLOW, ENOBUFS, EAGAIN, EEXIST, ENOENT, ERANGE,
	};
	const size_t n = sizeof(codes) / sizeof(codes[0]);
	const char *unknown = vio_strerror(-99999);

	assert_non_null(unknown);
	for (size_t i = 0; i < n; i++) {
		const char *s = vio_strerror(-codes[i]);

		assert_non_null(s);
		assert_true(s[0] != '\0');
		assert_string_not_equal(s, unknown);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(s, vio_strerror(-codes[j]));
	}
}

static void test_strerror_sign(void **state)
{
	/* Callers pass the negative return value; a positive errno is the
	 * same code and must not fall through to "unknown". */
	assert_string_equal(vio_strerror(-EFAULT), vio_strerror(EFAULT));
	assert_string_not_equal(vio_strerror(0), vio_strerror(-EIO));
}

/* Any int is a valid argument, including the one whose negation does not
 * fit an int: it is simply not an errno. */
static void test_strerror_int_min(void **state)
{
	assert_string_equal(vio_strerror(INT_MIN), vio_strerror(-99999));
	assert_string_equal(vio_strerror(INT_MAX), vio_strerror(-99999));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip16),
		cmocka_unit_test(test_roundtrip32),
		cmocka_unit_test(test_roundtrip64),
		cmocka_unit_test(test_wrapper_sizes),
		cmocka_unit_test(test_modern_bytes_are_little_endian),
		cmocka_unit_test(test_modern_get_reads_little_endian),
		cmocka_unit_test(test_legacy_bytes_are_native),
		cmocka_unit_test(test_legacy_vs_modern_on_this_host),
		cmocka_unit_test(test_split_desc_layout),
		cmocka_unit_test(test_split_avail_layout),
		cmocka_unit_test(test_split_used_layout),
		cmocka_unit_test(test_packed_layout),
		cmocka_unit_test(test_split_area_sizes),
		cmocka_unit_test(test_split_legacy_size),
		cmocka_unit_test(test_legacy_layout_offsets),
		cmocka_unit_test(test_ring_bytes_and_align),
		cmocka_unit_test(test_size_valid_split),
		cmocka_unit_test(test_size_valid_packed),
		cmocka_unit_test(test_need_event_table),
		cmocka_unit_test(test_need_event_sweep),
		cmocka_unit_test(test_feature_bits),
		cmocka_unit_test(test_feature_helpers),
		cmocka_unit_test(test_status_bits),
		cmocka_unit_test(test_ring_flag_values),
		cmocka_unit_test(test_device_ids),
		cmocka_unit_test(test_strerror_distinct),
		cmocka_unit_test(test_strerror_sign),
		cmocka_unit_test(test_strerror_int_min),
	};

	return cmocka_run_group_tests_name("spec", tests, NULL, NULL);
}
