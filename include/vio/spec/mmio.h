/*
 * vio/spec/mmio.h - the virtio-mmio transport's registers, virtio 1.x 4.2.
 *
 * Shared by both halves of libvio's MMIO code: the driver-side transport
 * and the device-side register model a VMM embeds (vio/transport/mmio.h).
 * Offsets are in bytes from the device's base address. Every register is
 * 32 bits wide and accessed as such, but for the device-specific config
 * space from VIO_MMIO_CONFIG on, which takes the widths of its fields.
 *
 * Version 2 is the modern interface. Version 1 is the legacy one (the one
 * QEMU's microvm gives by default): the driver tells the page size once
 * (GuestPageSize), each queue is one legacy vring block at QueuePFN *
 * page size with its used ring aligned to QueueAlign, and there is no
 * QueueReady, no 64-bit ring addresses and no config generation.
 */
#ifndef VIO_SPEC_MMIO_H
#define VIO_SPEC_MMIO_H

#define VIO_MMIO_MAGIC_VALUE          0x000u  /* R: 0x74726976, "virt" */
#define VIO_MMIO_VERSION              0x004u  /* R: 1 legacy, 2 modern */
#define VIO_MMIO_DEVICE_ID            0x008u  /* R: virtio device id, 0 none */
#define VIO_MMIO_VENDOR_ID            0x00cu  /* R */
#define VIO_MMIO_DEVICE_FEATURES      0x010u  /* R: 32 bits at the select */
#define VIO_MMIO_DEVICE_FEATURES_SEL  0x014u  /* W */
#define VIO_MMIO_DRIVER_FEATURES      0x020u  /* W */
#define VIO_MMIO_DRIVER_FEATURES_SEL  0x024u  /* W */
#define VIO_MMIO_GUEST_PAGE_SIZE      0x028u  /* W, version 1 only */
#define VIO_MMIO_QUEUE_SEL            0x030u  /* W */
#define VIO_MMIO_QUEUE_NUM_MAX        0x034u  /* R: 0 when the queue does not exist */
#define VIO_MMIO_QUEUE_NUM            0x038u  /* W */
#define VIO_MMIO_QUEUE_ALIGN          0x03cu  /* W, version 1 only */
#define VIO_MMIO_QUEUE_PFN            0x040u  /* RW, version 1 only */
#define VIO_MMIO_QUEUE_READY          0x044u  /* RW, version 2 */
#define VIO_MMIO_QUEUE_NOTIFY         0x050u  /* W: the queue index */
#define VIO_MMIO_INTERRUPT_STATUS     0x060u  /* R */
#define VIO_MMIO_INTERRUPT_ACK        0x064u  /* W */
#define VIO_MMIO_STATUS               0x070u  /* RW */
#define VIO_MMIO_QUEUE_DESC_LOW       0x080u  /* W, version 2 */
#define VIO_MMIO_QUEUE_DESC_HIGH      0x084u
#define VIO_MMIO_QUEUE_DRIVER_LOW     0x090u  /* W, version 2 ("QueueAvail") */
#define VIO_MMIO_QUEUE_DRIVER_HIGH    0x094u
#define VIO_MMIO_QUEUE_DEVICE_LOW     0x0a0u  /* W, version 2 ("QueueUsed") */
#define VIO_MMIO_QUEUE_DEVICE_HIGH    0x0a4u
#define VIO_MMIO_SHM_SEL              0x0acu  /* W, version 2 */
#define VIO_MMIO_SHM_LEN_LOW          0x0b0u  /* R: ~0 when the region is absent */
#define VIO_MMIO_SHM_LEN_HIGH         0x0b4u
#define VIO_MMIO_SHM_BASE_LOW         0x0b8u
#define VIO_MMIO_SHM_BASE_HIGH        0x0bcu
#define VIO_MMIO_QUEUE_RESET          0x0c0u  /* RW, version 2, RING_RESET */
#define VIO_MMIO_CONFIG_GENERATION    0x0fcu  /* R, version 2 */
#define VIO_MMIO_CONFIG               0x100u  /* device-specific config */

#define VIO_MMIO_MAGIC                0x74726976u
#define VIO_MMIO_VERSION_LEGACY       1u
#define VIO_MMIO_VERSION_MODERN       2u

/* InterruptStatus / InterruptACK bits. */
#define VIO_MMIO_INT_VRING            0x1u    /* used buffer notification */
#define VIO_MMIO_INT_CONFIG           0x2u    /* configuration change */

#endif /* VIO_SPEC_MMIO_H */
