/*
 * vio/transport/pci_platform.h - how libvio's driver-side PCI transport
 * reaches one PCI function: its config space, its BARs, its interrupts
 * and the memory it can DMA to.
 *
 * The PCI transport (vio/transport/pci.h) knows virtio-pci: capabilities,
 * common config, notify, ISR, the legacy I/O layout. It knows nothing of
 * how a register access leaves the process. A platform does that:
 *
 *   vfio-pci (no-IOMMU mode) and uio_pci_generic on Linux
 *     (vio/transport/pci_linux.h): BARs mmapped or reached through the
 *     sysfs resource files, MSI-X through vfio eventfds, DMA memory in
 *     hugepages with physical addresses from /proc/self/pagemap;
 *   a register model in the same process (vio/transport/pci_dev.h), where
 *     an access is a function call: libvio's driver against libvio's
 *     device model, and the hostile-device tests.
 *
 * Everything a platform returns comes from the device and is untrusted:
 * the transport checks every offset, length and BAR index before use.
 * A platform's ops may be called from the driver's thread only (the
 * transport serialises), except notify writes and dma_addr, which a
 * queue's owner thread makes too (see each op).
 */
#ifndef VIO_TRANSPORT_PCI_PLATFORM_H
#define VIO_TRANSPORT_PCI_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VIO_PCI_PLATFORM_VERSION 1

struct vio_pci_platform {
	unsigned version;               /* VIO_PCI_PLATFORM_VERSION */

	/* Config space: len bytes (1, 2 or 4, naturally aligned) at off, in
	 * the device's byte order (little-endian). 0, or a negative errno
	 * (-EINVAL past the end of config space, -EIO on failure). */
	int (*cfg_read)(void *opaque, unsigned off, void *buf, unsigned len);
	int (*cfg_write)(void *opaque, unsigned off, const void *buf, unsigned len);

	/* BAR bar (0..5): its length in bytes (0: absent or not usable) and
	 * whether it is I/O space. */
	uint64_t (*bar_len)(void *opaque, unsigned bar, bool *io);

	/* A register access of width 1, 2, 4 (or 8, only where the
	 * transport knows the device takes it) at off in BAR bar. The
	 * transport has checked [off, off + width) lies inside bar_len(bar).
	 * Reads of a failed access return all ones, as PCI does. Context:
	 * the driver's thread; writes to a notify address also from the
	 * thread that owns that queue (so these must be safe to run
	 * alongside each other: plain loads and stores to a mapping are). */
	uint64_t (*read)(void *opaque, unsigned bar, uint64_t off, unsigned width);
	void (*write)(void *opaque, unsigned bar, uint64_t off, unsigned width, uint64_t val);

	/* Interrupts. Optional: without irq_enable the transport polls.
	 * irq_enable asks for nvec MSI-X vectors (0: the INTx line). It
	 * returns how many vectors it set up (<= nvec; 0 for INTx), or a
	 * negative errno when it cannot (the transport then tries fewer,
	 * then INTx, then polls). irq_disable undoes it. */
	int (*irq_enable)(void *opaque, unsigned nvec);
	void (*irq_disable)(void *opaque);
	/* Waits at most timeout_ms (< 0: no limit) for an interrupt. Returns
	 * a bit mask of the vectors that fired (bit 63 stands for every
	 * vector from 63 up; INTx is bit 0), or 0 when the time passed, or a
	 * negative errno. A mask with bit 63 set is negative too: only
	 * -4095..-1 are errors. An INTx line is unmasked again before waiting. */
	int64_t (*irq_wait)(void *opaque, int timeout_ms);

	/* DMA memory: size bytes, zeroed, aligned to align (a power of two,
	 * at most 4096), physically contiguous; *dma is the address the
	 * device uses. NULL when there is no more. dma_addr: the device
	 * address of a pointer inside such memory (UINT64_MAX if it is not);
	 * any thread may call it. */
	void *(*dma_alloc)(void *opaque, size_t size, size_t align, uint64_t *dma);
	void (*dma_free)(void *opaque, void *p, size_t size);
	uint64_t (*dma_addr)(void *opaque, const void *p);

	/* A monotonic clock in nanoseconds (the deadlines of the transport's
	 * bounded waits: a reset that never completes). Optional. */
	uint64_t (*now_ns)(void *opaque);
	/* Sleep about us microseconds (between polls of a register). Optional:
	 * without it a bounded wait counts polls instead. */
	void (*delay_us)(void *opaque, unsigned us);
};

#ifdef __cplusplus
}
#endif

#endif /* VIO_TRANSPORT_PCI_PLATFORM_H */
