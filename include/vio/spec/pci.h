/*
 * vio/spec/pci.h - the virtio-pci transport's registers, virtio 1.x 4.1,
 * and the legacy (0.9.5, the seed's virtio_pci) I/O layout.
 *
 * Shared by both halves of libvio's PCI code: the driver-side transport
 * (vio/transport/pci.h) that drives a device through its registers, and
 * the device-side register model (vio/transport/pci_dev.h) a VMM embeds.
 * Offsets are in bytes from the start of the structure they name; every
 * multi-byte register is little-endian (modern) or native (legacy, which
 * on every host libvio runs on is the same thing).
 *
 * A modern device describes where its structures live with vendor-specific
 * capabilities in PCI config space (struct vio_pci_cap): which BAR, at
 * which offset, how long. A legacy device puts everything in I/O BAR 0 in
 * a fixed layout. A transitional device has both.
 */
#ifndef VIO_SPEC_PCI_H
#define VIO_SPEC_PCI_H

/* ------------------------------------------------------------------------ */
/* Identification (4.1.2)                                                   */

#define VIO_PCI_VENDOR_ID             0x1af4u
/* Modern-only devices: 0x1040 + the virtio device id, revision >= 1. */
#define VIO_PCI_MODERN_DEVICE_BASE    0x1040u
/* Transitional devices: 0x1000..0x103f, revision 0, the virtio device id
 * in the subsystem device id. */
#define VIO_PCI_LEGACY_DEVICE_FIRST   0x1000u
#define VIO_PCI_LEGACY_DEVICE_LAST    0x103fu
/* The transitional ids the spec fixes (4.1.2.1). */
#define VIO_PCI_TRANS_NET             0x1000u
#define VIO_PCI_TRANS_BLOCK           0x1001u
#define VIO_PCI_TRANS_BALLOON         0x1002u
#define VIO_PCI_TRANS_CONSOLE         0x1003u
#define VIO_PCI_TRANS_SCSI            0x1004u
#define VIO_PCI_TRANS_RNG             0x1005u
#define VIO_PCI_TRANS_9P              0x1009u
/* The legacy interface's ABI revision (the seed's VIRTIO_PCI_ABI_VERSION):
 * a legacy driver refuses any other PCI revision id. */
#define VIO_PCI_LEGACY_ABI_VERSION    0u

/* ------------------------------------------------------------------------ */
/* Standard PCI config space (type 0 header), as far as virtio needs it      */

#define VIO_PCI_CFG_VENDOR_ID         0x00u   /* le16 */
#define VIO_PCI_CFG_DEVICE_ID         0x02u   /* le16 */
#define VIO_PCI_CFG_COMMAND           0x04u   /* le16 */
#define VIO_PCI_CFG_STATUS            0x06u   /* le16 */
#define VIO_PCI_CFG_REVISION_ID       0x08u   /* u8 */
#define VIO_PCI_CFG_CLASS_PROG        0x09u   /* u8: programming interface */
#define VIO_PCI_CFG_CLASS_DEVICE      0x0au   /* le16: subclass, class */
#define VIO_PCI_CFG_HEADER_TYPE       0x0eu   /* u8 */
#define VIO_PCI_CFG_BAR0              0x10u   /* le32 each, six of them */
#define VIO_PCI_CFG_SUBSYS_VENDOR_ID  0x2cu   /* le16 */
#define VIO_PCI_CFG_SUBSYS_ID         0x2eu   /* le16 */
#define VIO_PCI_CFG_CAP_PTR           0x34u   /* u8 */
#define VIO_PCI_CFG_INTERRUPT_LINE    0x3cu   /* u8 */
#define VIO_PCI_CFG_INTERRUPT_PIN     0x3du   /* u8 */
#define VIO_PCI_CFG_SPACE_SIZE        256u    /* conventional config space */
#define VIO_PCI_NUM_BARS              6u

#define VIO_PCI_COMMAND_IO            0x0001u
#define VIO_PCI_COMMAND_MEMORY        0x0002u
#define VIO_PCI_COMMAND_MASTER        0x0004u
#define VIO_PCI_COMMAND_INTX_DISABLE  0x0400u
#define VIO_PCI_STATUS_CAP_LIST       0x0010u

#define VIO_PCI_BAR_IO                0x1u    /* bit 0 of a BAR: I/O space */
#define VIO_PCI_BAR_MEM_TYPE_64       0x4u    /* bits 1..2 of a memory BAR */
#define VIO_PCI_BAR_MEM_PREFETCH      0x8u

/* Capability ids (PCI local bus spec). */
#define VIO_PCI_CAP_ID_MSIX           0x11u
#define VIO_PCI_CAP_ID_VNDR           0x09u

/* ------------------------------------------------------------------------ */
/* virtio vendor capabilities (4.1.4)                                       */

/* cfg_type */
#define VIO_PCI_CAP_COMMON_CFG        1u
#define VIO_PCI_CAP_NOTIFY_CFG        2u
#define VIO_PCI_CAP_ISR_CFG           3u
#define VIO_PCI_CAP_DEVICE_CFG        4u
#define VIO_PCI_CAP_PCI_CFG           5u
#define VIO_PCI_CAP_SHARED_MEMORY_CFG 8u
#define VIO_PCI_CAP_VENDOR_CFG        9u

/* struct virtio_pci_cap: 16 bytes. */
struct vio_pci_cap {
	uint8_t cap_vndr;       /* VIO_PCI_CAP_ID_VNDR */
	uint8_t cap_next;       /* config-space offset of the next capability */
	uint8_t cap_len;        /* of this capability, >= 16 */
	uint8_t cfg_type;       /* VIO_PCI_CAP_*_CFG */
	uint8_t bar;            /* 0..5; any other value: reserved, ignore */
	uint8_t id;             /* several of one type (shared memory) */
	uint8_t padding[2];
	vio_le32 offset;        /* in the BAR */
	vio_le32 length;        /* in bytes */
};

/* The notify capability adds notify_off_multiplier after the 16 bytes: a
 * queue's notify address is offset + queue_notify_off * multiplier. */
struct vio_pci_notify_cap {
	struct vio_pci_cap cap;
	vio_le32 notify_off_multiplier;
};

/* The PCI-config-access capability: a window into the BARs through config
 * space (cap.bar, cap.offset, cap.length select; pci_cfg_data moves). */
struct vio_pci_cfg_cap {
	struct vio_pci_cap cap;
	uint8_t pci_cfg_data[4];
};

#define VIO_PCI_CAP_LEN               16u
#define VIO_PCI_NOTIFY_CAP_LEN        20u
#define VIO_PCI_CFG_CAP_LEN           20u

/* ------------------------------------------------------------------------ */
/* Common configuration structure (4.1.4.3), in the BAR the capability names */

#define VIO_PCI_COMMON_DFSELECT       0x00u   /* le32 device_feature_select */
#define VIO_PCI_COMMON_DF             0x04u   /* le32 device_feature (read-only) */
#define VIO_PCI_COMMON_GFSELECT       0x08u   /* le32 driver_feature_select */
#define VIO_PCI_COMMON_GF             0x0cu   /* le32 driver_feature */
#define VIO_PCI_COMMON_MSIX           0x10u   /* le16 config_msix_vector */
#define VIO_PCI_COMMON_NUMQ           0x12u   /* le16 num_queues (read-only) */
#define VIO_PCI_COMMON_STATUS         0x14u   /* u8 device_status */
#define VIO_PCI_COMMON_CFGGENERATION  0x15u   /* u8 config_generation (read-only) */
#define VIO_PCI_COMMON_Q_SELECT       0x16u   /* le16 queue_select */
#define VIO_PCI_COMMON_Q_SIZE         0x18u   /* le16 queue_size */
#define VIO_PCI_COMMON_Q_MSIX         0x1au   /* le16 queue_msix_vector */
#define VIO_PCI_COMMON_Q_ENABLE       0x1cu   /* le16 queue_enable */
#define VIO_PCI_COMMON_Q_NOFF         0x1eu   /* le16 queue_notify_off (read-only) */
#define VIO_PCI_COMMON_Q_DESCLO       0x20u   /* le64 queue_desc, as two le32 */
#define VIO_PCI_COMMON_Q_DESCHI       0x24u
#define VIO_PCI_COMMON_Q_AVAILLO      0x28u   /* le64 queue_driver */
#define VIO_PCI_COMMON_Q_AVAILHI      0x2cu
#define VIO_PCI_COMMON_Q_USEDLO       0x30u   /* le64 queue_device */
#define VIO_PCI_COMMON_Q_USEDHI       0x34u
#define VIO_PCI_COMMON_Q_NDATA        0x38u   /* le16 queue_notify_data (1.2) */
#define VIO_PCI_COMMON_Q_RESET        0x3au   /* le16 queue_reset (1.2, RING_RESET) */
#define VIO_PCI_COMMON_CFG_SIZE       0x3cu   /* up to queue_reset */
/* Without queue_notify_data and queue_reset (a virtio 1.0/1.1 device, such
 * as QEMU 7.2's): the capability's length may stop here. */
#define VIO_PCI_COMMON_CFG_SIZE_1_0   0x38u

/* "No vector" in config_msix_vector and queue_msix_vector. */
#define VIO_PCI_MSI_NO_VECTOR         0xffffu

/* ISR status (4.1.4.5): read clears it. */
#define VIO_PCI_ISR_QUEUE             0x1u
#define VIO_PCI_ISR_CONFIG            0x2u

/* ------------------------------------------------------------------------ */
/* Legacy interface (4.1.4.8): I/O BAR 0                                    */

#define VIO_PCI_LEGACY_HOST_FEATURES  0x00u   /* le32, read-only, bits 0..31 */
#define VIO_PCI_LEGACY_GUEST_FEATURES 0x04u   /* le32 */
#define VIO_PCI_LEGACY_QUEUE_PFN      0x08u   /* le32: ring address >> 12 */
#define VIO_PCI_LEGACY_QUEUE_NUM      0x0cu   /* le16, read-only: the size */
#define VIO_PCI_LEGACY_QUEUE_SEL      0x0eu   /* le16 */
#define VIO_PCI_LEGACY_QUEUE_NOTIFY   0x10u   /* le16: write the queue index */
#define VIO_PCI_LEGACY_STATUS         0x12u   /* u8 */
#define VIO_PCI_LEGACY_ISR            0x13u   /* u8, read clears */
/* With MSI-X enabled only: */
#define VIO_PCI_LEGACY_MSIX_CONFIG    0x14u   /* le16 config vector */
#define VIO_PCI_LEGACY_MSIX_QUEUE     0x16u   /* le16 vector of queue_sel */
/* Device-specific config starts here, without and with MSI-X enabled. */
#define VIO_PCI_LEGACY_CONFIG_OFF     0x14u
#define VIO_PCI_LEGACY_CONFIG_OFF_MSIX 0x18u
/* QUEUE_PFN is the ring's address shifted by this; the ring's used part is
 * aligned to VIO_LEGACY_VRING_ALIGN (vio/spec.h). */
#define VIO_PCI_LEGACY_PFN_SHIFT      12u

/* ------------------------------------------------------------------------ */
/* MSI-X (PCI local bus spec 6.8.2), as the register models need it          */

/* In the MSI-X capability: */
#define VIO_PCI_MSIX_FLAGS            0x02u   /* le16 message control */
#define VIO_PCI_MSIX_TABLE            0x04u   /* le32: offset | BIR (bits 0..2) */
#define VIO_PCI_MSIX_PBA              0x08u   /* le32: offset | BIR */
#define VIO_PCI_MSIX_CAP_LEN          12u
#define VIO_PCI_MSIX_FLAGS_QSIZE      0x07ffu /* table size - 1 */
#define VIO_PCI_MSIX_FLAGS_MASKALL    0x4000u
#define VIO_PCI_MSIX_FLAGS_ENABLE     0x8000u
#define VIO_PCI_MSIX_BIR_MASK         0x7u

/* A table entry: 16 bytes. */
#define VIO_PCI_MSIX_ENTRY_SIZE       16u
#define VIO_PCI_MSIX_ENTRY_ADDR_LO    0x0u
#define VIO_PCI_MSIX_ENTRY_ADDR_HI    0x4u
#define VIO_PCI_MSIX_ENTRY_DATA       0x8u
#define VIO_PCI_MSIX_ENTRY_CTRL       0xcu
#define VIO_PCI_MSIX_ENTRY_CTRL_MASK  0x1u

#endif /* VIO_SPEC_PCI_H */
