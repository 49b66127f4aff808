/*
 * test_spec_pci.c - every number in include/vio/spec/pci.h against the
 * specifications, written out here by hand: virtio 1.x 4.1 (PCI ids
 * 4.1.2, the vendor capabilities 4.1.4, the common configuration
 * 4.1.4.3, ISR 4.1.4.5, the pci_cfg capability 4.1.4.9, the legacy
 * interface 4.1.4.8) and the PCI Local Bus specification (type 0 header,
 * command and status bits, BAR flags, MSI-X 6.8.2).
 *
 * Both halves of libvio's PCI code (the driver-side transport and the
 * device-side register model) take their numbers from that header, so
 * if a number were wrong they would agree with each other and fail only
 * against Linux or QEMU. This checks them against the spec instead: the
 * expected values never come from the header under test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vio/spec.h"
#include "vio/spec/pci.h"

struct num {
	const char *name;
	unsigned long long got, want;
};

#define N(name, want) { #name, (unsigned long long)(name), (unsigned long long)(want) }

static void check(const struct num *t, size_t n)
{
	unsigned bad = 0;

	for (size_t i = 0; i < n; i++) {
		if (t[i].got != t[i].want) {
			print_error("%s is %#llx, the spec says %#llx\n", t[i].name, t[i].got,
				    t[i].want);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

#define CHECK(t) check(t, sizeof(t) / sizeof((t)[0]))

/* 4.1.2: vendor 0x1AF4; modern 0x1040 + id; transitional 0x1000..0x103F
 * with the device type in the subsystem id (4.1.2.1's table); legacy
 * revision 0. */
static void ids(void **state)
{
	static const struct num t[] = {
		N(VIO_PCI_VENDOR_ID, 0x1af4),
		N(VIO_PCI_MODERN_DEVICE_BASE, 0x1040),
		N(VIO_PCI_LEGACY_DEVICE_FIRST, 0x1000),
		N(VIO_PCI_LEGACY_DEVICE_LAST, 0x103f),
		N(VIO_PCI_TRANS_NET, 0x1000),
		N(VIO_PCI_TRANS_BLOCK, 0x1001),
		N(VIO_PCI_TRANS_BALLOON, 0x1002),
		N(VIO_PCI_TRANS_CONSOLE, 0x1003),
		N(VIO_PCI_TRANS_SCSI, 0x1004),
		N(VIO_PCI_TRANS_RNG, 0x1005),
		N(VIO_PCI_TRANS_9P, 0x1009),
		N(VIO_PCI_LEGACY_ABI_VERSION, 0),
	};

	CHECK(t);
}

/* PCI Local Bus 6.1, 6.2: the type 0 header. */
static void pci_header(void **state)
{
	static const struct num t[] = {
		N(VIO_PCI_CFG_VENDOR_ID, 0x00),
		N(VIO_PCI_CFG_DEVICE_ID, 0x02),
		N(VIO_PCI_CFG_COMMAND, 0x04),
		N(VIO_PCI_CFG_STATUS, 0x06),
		N(VIO_PCI_CFG_REVISION_ID, 0x08),
		N(VIO_PCI_CFG_CLASS_PROG, 0x09),
		N(VIO_PCI_CFG_CLASS_DEVICE, 0x0a),
		N(VIO_PCI_CFG_HEADER_TYPE, 0x0e),
		N(VIO_PCI_CFG_BAR0, 0x10),
		N(VIO_PCI_CFG_SUBSYS_VENDOR_ID, 0x2c),
		N(VIO_PCI_CFG_SUBSYS_ID, 0x2e),
		N(VIO_PCI_CFG_CAP_PTR, 0x34),
		N(VIO_PCI_CFG_INTERRUPT_LINE, 0x3c),
		N(VIO_PCI_CFG_INTERRUPT_PIN, 0x3d),
		N(VIO_PCI_CFG_SPACE_SIZE, 256),
		N(VIO_PCI_NUM_BARS, 6),
		N(VIO_PCI_COMMAND_IO, 0x0001),
		N(VIO_PCI_COMMAND_MEMORY, 0x0002),
		N(VIO_PCI_COMMAND_MASTER, 0x0004),
		N(VIO_PCI_COMMAND_INTX_DISABLE, 0x0400),
		N(VIO_PCI_STATUS_CAP_LIST, 0x0010),
		N(VIO_PCI_BAR_IO, 0x1),
		N(VIO_PCI_BAR_MEM_TYPE_64, 0x4),       /* bits 2:1 = 10b */
		N(VIO_PCI_BAR_MEM_PREFETCH, 0x8),
		N(VIO_PCI_CAP_ID_MSIX, 0x11),
		N(VIO_PCI_CAP_ID_VNDR, 0x09),
	};

	CHECK(t);
}

/* 4.1.4: cfg_type values and the capability structures. */
static void vendor_capabilities(void **state)
{
	static const struct num t[] = {
		N(VIO_PCI_CAP_COMMON_CFG, 1),
		N(VIO_PCI_CAP_NOTIFY_CFG, 2),
		N(VIO_PCI_CAP_ISR_CFG, 3),
		N(VIO_PCI_CAP_DEVICE_CFG, 4),
		N(VIO_PCI_CAP_PCI_CFG, 5),
		N(VIO_PCI_CAP_SHARED_MEMORY_CFG, 8),
		N(VIO_PCI_CAP_VENDOR_CFG, 9),
		N(VIO_PCI_CAP_LEN, 16),
		N(VIO_PCI_NOTIFY_CAP_LEN, 20),
		N(VIO_PCI_CFG_CAP_LEN, 20),
		/* struct virtio_pci_cap */
		N(offsetof(struct vio_pci_cap, cap_vndr), 0),
		N(offsetof(struct vio_pci_cap, cap_next), 1),
		N(offsetof(struct vio_pci_cap, cap_len), 2),
		N(offsetof(struct vio_pci_cap, cfg_type), 3),
		N(offsetof(struct vio_pci_cap, bar), 4),
		N(offsetof(struct vio_pci_cap, id), 5),
		N(offsetof(struct vio_pci_cap, padding), 6),
		N(offsetof(struct vio_pci_cap, offset), 8),
		N(offsetof(struct vio_pci_cap, length), 12),
		N(sizeof(struct vio_pci_cap), 16),
		/* struct virtio_pci_notify_cap */
		N(offsetof(struct vio_pci_notify_cap, notify_off_multiplier), 16),
		N(sizeof(struct vio_pci_notify_cap), 20),
		/* struct virtio_pci_cfg_cap */
		N(offsetof(struct vio_pci_cfg_cap, pci_cfg_data), 16),
		N(sizeof(struct vio_pci_cfg_cap), 20),
	};

	CHECK(t);
}

/* 4.1.4.3: struct virtio_pci_common_cfg, field by field, counted from
 * the spec's declaration (le32 x4, le16 x2, u8 x2, le16 x5, le64 x3, and
 * the 1.2 fields le16 x2). */
static void common_config(void **state)
{
	static const struct num t[] = {
		N(VIO_PCI_COMMON_DFSELECT, 0),
		N(VIO_PCI_COMMON_DF, 4),
		N(VIO_PCI_COMMON_GFSELECT, 8),
		N(VIO_PCI_COMMON_GF, 12),
		N(VIO_PCI_COMMON_MSIX, 16),
		N(VIO_PCI_COMMON_NUMQ, 18),
		N(VIO_PCI_COMMON_STATUS, 20),
		N(VIO_PCI_COMMON_CFGGENERATION, 21),
		N(VIO_PCI_COMMON_Q_SELECT, 22),
		N(VIO_PCI_COMMON_Q_SIZE, 24),
		N(VIO_PCI_COMMON_Q_MSIX, 26),
		N(VIO_PCI_COMMON_Q_ENABLE, 28),
		N(VIO_PCI_COMMON_Q_NOFF, 30),
		N(VIO_PCI_COMMON_Q_DESCLO, 32),
		N(VIO_PCI_COMMON_Q_DESCHI, 36),
		N(VIO_PCI_COMMON_Q_AVAILLO, 40),
		N(VIO_PCI_COMMON_Q_AVAILHI, 44),
		N(VIO_PCI_COMMON_Q_USEDLO, 48),
		N(VIO_PCI_COMMON_Q_USEDHI, 52),
		N(VIO_PCI_COMMON_Q_NDATA, 56),
		N(VIO_PCI_COMMON_Q_RESET, 58),
		N(VIO_PCI_COMMON_CFG_SIZE, 60),
		N(VIO_PCI_COMMON_CFG_SIZE_1_0, 56),
		N(VIO_PCI_MSI_NO_VECTOR, 0xffff),
		/* 4.1.4.5 */
		N(VIO_PCI_ISR_QUEUE, 0x1),
		N(VIO_PCI_ISR_CONFIG, 0x2),
	};

	CHECK(t);
}

/* 4.1.4.8: the legacy interface's layout in BAR 0, and the 4096-byte
 * page QUEUE_PFN counts in (the legacy spec's VIRTIO_PCI_QUEUE_ADDR_SHIFT
 * and VIRTIO_PCI_VRING_ALIGN). */
static void legacy_layout(void **state)
{
	static const struct num t[] = {
		N(VIO_PCI_LEGACY_HOST_FEATURES, 0),
		N(VIO_PCI_LEGACY_GUEST_FEATURES, 4),
		N(VIO_PCI_LEGACY_QUEUE_PFN, 8),
		N(VIO_PCI_LEGACY_QUEUE_NUM, 12),
		N(VIO_PCI_LEGACY_QUEUE_SEL, 14),
		N(VIO_PCI_LEGACY_QUEUE_NOTIFY, 16),
		N(VIO_PCI_LEGACY_STATUS, 18),
		N(VIO_PCI_LEGACY_ISR, 19),
		N(VIO_PCI_LEGACY_MSIX_CONFIG, 20),
		N(VIO_PCI_LEGACY_MSIX_QUEUE, 22),
		N(VIO_PCI_LEGACY_CONFIG_OFF, 20),
		N(VIO_PCI_LEGACY_CONFIG_OFF_MSIX, 24),
		N(VIO_PCI_LEGACY_PFN_SHIFT, 12),
		N(VIO_LEGACY_VRING_ALIGN, 4096),
	};

	CHECK(t);
}

/* PCI Local Bus 6.8.2: the MSI-X capability and table. */
static void msix(void **state)
{
	static const struct num t[] = {
		N(VIO_PCI_MSIX_FLAGS, 2),
		N(VIO_PCI_MSIX_TABLE, 4),
		N(VIO_PCI_MSIX_PBA, 8),
		N(VIO_PCI_MSIX_CAP_LEN, 12),
		N(VIO_PCI_MSIX_FLAGS_QSIZE, 0x07ff),
		N(VIO_PCI_MSIX_FLAGS_MASKALL, 0x4000),
		N(VIO_PCI_MSIX_FLAGS_ENABLE, 0x8000),
		N(VIO_PCI_MSIX_BIR_MASK, 0x7),
		N(VIO_PCI_MSIX_ENTRY_SIZE, 16),
		N(VIO_PCI_MSIX_ENTRY_ADDR_LO, 0),
		N(VIO_PCI_MSIX_ENTRY_ADDR_HI, 4),
		N(VIO_PCI_MSIX_ENTRY_DATA, 8),
		N(VIO_PCI_MSIX_ENTRY_CTRL, 12),
		N(VIO_PCI_MSIX_ENTRY_CTRL_MASK, 0x1),
	};

	CHECK(t);
}

/* The structures as bytes: a capability built through the struct reads
 * back at the spec's offsets, little-endian. */
static void cap_bytes(void **state)
{
	struct vio_pci_notify_cap c;
	static const uint8_t want[20] = {
		0x09, 0x50, 20, 2, 4, 0, 0, 0,
		0x00, 0x30, 0x00, 0x00,         /* offset 0x3000 */
		0x08, 0x00, 0x00, 0x00,         /* length 8 */
		0x04, 0x00, 0x00, 0x00,         /* multiplier 4 */
	};

	memset(&c, 0, sizeof(c));
	c.cap.cap_vndr = VIO_PCI_CAP_ID_VNDR;
	c.cap.cap_next = 0x50;
	c.cap.cap_len = VIO_PCI_NOTIFY_CAP_LEN;
	c.cap.cfg_type = VIO_PCI_CAP_NOTIFY_CFG;
	c.cap.bar = 4;
	c.cap.offset = vio_set32(false, 0x3000);
	c.cap.length = vio_set32(false, 8);
	c.notify_off_multiplier = vio_set32(false, 4);
	assert_memory_equal(&c, want, sizeof(want));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ids),
		cmocka_unit_test(pci_header),
		cmocka_unit_test(vendor_capabilities),
		cmocka_unit_test(common_config),
		cmocka_unit_test(legacy_layout),
		cmocka_unit_test(msix),
		cmocka_unit_test(cap_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
