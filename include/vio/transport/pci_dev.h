/*
 * vio/transport/pci_dev.h - the device side of virtio-pci (virtio 1.x
 * 4.1): a register model a VMM embeds over any libvio device model.
 *
 * The VMM owns the PCI bus, the guest's memory and the interrupt
 * controller. It routes the guest's config-space accesses to
 * vio_pci_dev_cfg_read/write() and the accesses that fall in one of the
 * function's BARs to vio_pci_dev_bar_read/write(), and tells the model,
 * through callbacks, how an interrupt or a notification leaves. The model
 * turns the registers into calls on the struct vio_dev_model (core.h):
 * status, features, queue setup, notifications. It does no I/O, starts no
 * thread, allocates nothing, and takes no lock.
 *
 * Three personalities, chosen at init (4.1.2):
 *
 *   VIO_PCI_DEV_MODERN        device id 0x1040 + type, revision 1; the
 *                             virtio capabilities over a 64-bit memory BAR
 *   VIO_PCI_DEV_TRANSITIONAL  device id 0x1000..0x103f, revision 0,
 *                             subsystem id = type; the legacy I/O BAR 0
 *                             AND the modern capabilities
 *   VIO_PCI_DEV_LEGACY        the transitional ids, only the I/O BAR (and
 *                             MSI-X, which legacy drivers use too)
 *
 * BARs (the same numbers in every personality, as QEMU lays them out):
 *
 *   BAR 0    I/O, legacy registers (4.1.4.8); transitional and legacy only
 *   BAR 1    32-bit memory, 4 KiB: MSI-X table at 0, PBA at 0x800; only
 *            with opts.msix_vectors > 0
 *   BAR 4/5  64-bit prefetchable memory (modern and transitional):
 *            common config at 0x0000, ISR at 0x1000, device config at
 *            0x2000, notify area at 0x3000 (queue qi at 0x3000 + 4 * qi)
 *
 * Access rules. Config space takes 1, 2 and 4-byte naturally aligned
 * accesses; BARs the same (no 8-byte accesses). A register must be
 * accessed with its own width (common config, legacy registers, MSI-X
 * table: 4 bytes), device config with any width inside it. An access the
 * model refuses (bad width or alignment, past a BAR, a structure or
 * config space, or into a hole) returns -EINVAL: a refused read gives all
 * ones, a refused write does nothing. An access to a register that exists
 * but selects nothing (a queue_select past the last queue, a feature
 * select above 1) succeeds, reads 0 and is ignored when written.
 *
 * Threads. All calls on one vio_pci_dev (the accesses, vio_pci_dev_reset)
 * and the device type's queue processing (vio_dev_notify() when the VMM
 * takes notifications itself, or a device's own work) must be serialised
 * by the VMM: one lock, as loopback's. That is what core.h asks of a
 * transport: a status write may reset every queue. The callbacks run on
 * the calling thread with that lock held and must not block nor call back
 * into the model.
 */
#ifndef VIO_TRANSPORT_PCI_DEV_H
#define VIO_TRANSPORT_PCI_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vio/core.h"
#include "vio/spec/pci.h"

#ifdef __cplusplus
extern "C" {
#endif

enum vio_pci_dev_mode {
	VIO_PCI_DEV_MODERN = 0,
	VIO_PCI_DEV_TRANSITIONAL,
	VIO_PCI_DEV_LEGACY,
};

/* The BARs the model uses (see above). */
#define VIO_PCI_DEV_BAR_LEGACY        0u
#define VIO_PCI_DEV_BAR_MSIX          1u
#define VIO_PCI_DEV_BAR_MODERN        4u

/* The modern BAR's layout. */
#define VIO_PCI_DEV_COMMON_OFF        0x0000u
#define VIO_PCI_DEV_ISR_OFF           0x1000u
#define VIO_PCI_DEV_DEVICE_OFF        0x2000u
#define VIO_PCI_DEV_NOTIFY_OFF        0x3000u
#define VIO_PCI_DEV_REGION            0x1000u  /* each structure's region */
#define VIO_PCI_DEV_NOTIFY_MULT       4u       /* notify_off_multiplier */

/* The MSI-X BAR's layout. */
#define VIO_PCI_DEV_MSIX_BAR_SIZE     0x1000u
#define VIO_PCI_DEV_MSIX_TABLE_OFF    0x0000u
#define VIO_PCI_DEV_MSIX_PBA_OFF      0x0800u

/* Config-space offsets of the capabilities the model offers (a list from
 * VIO_PCI_CFG_CAP_PTR in this order, each present only where the
 * personality has it). */
#define VIO_PCI_DEV_CAP_MSIX          0x40u
#define VIO_PCI_DEV_CAP_COMMON        0x50u
#define VIO_PCI_DEV_CAP_NOTIFY        0x60u
#define VIO_PCI_DEV_CAP_ISR           0x78u
#define VIO_PCI_DEV_CAP_DEVICE        0x88u
#define VIO_PCI_DEV_CAP_PCI_CFG       0x98u

/* Limits: queues of the device model, MSI-X vectors, device config bytes. */
#define VIO_PCI_DEV_MAX_QUEUES        64u
#define VIO_PCI_DEV_MSIX_MAX          64u
#define VIO_PCI_DEV_CONFIG_MAX        VIO_PCI_DEV_REGION

#define VIO_PCI_DEV_OPS_VERSION 1

/*
 * How interrupts and notifications leave: the VMM's. Each runs on the
 * thread of the access or of the queue processing that caused it, with
 * the VMM's serialisation held (see Threads above); none may block.
 */
struct vio_pci_dev_ops {
	unsigned version;       /* VIO_PCI_DEV_OPS_VERSION */
	/* Send MSI-X vector `vector`: the message the guest programmed
	 * into its table entry (address, data). Only for an unmasked vector
	 * of an enabled, unmasked function; a masked one is left pending
	 * and sent when unmasked. Required with msix_vectors > 0. */
	void (*msix)(void *opaque, unsigned vector, uint64_t addr, uint32_t data);
	/* The INTx line (pin A) changes to `level` (MSI-X off: the line is
	 * the ISR status being non-zero, unless the command register
	 * disables INTx). Optional (a VMM without INTx polls ISR). */
	void (*intx)(void *opaque, bool level);
	/* Optional: the driver notified queue qi (live, DRIVER_OK set),
	 * ioeventfd style: the VMM calls vio_dev_notify() itself, later, on
	 * the thread it serves qi on. Without it the model calls
	 * vio_dev_notify() on the accessing thread. Either way every live
	 * queue gets one notification at DRIVER_OK (kicks before it are
	 * dropped, and their buffers must not wait for the next). */
	void (*notify)(void *opaque, unsigned qi);
};

struct vio_pci_dev_opts {
	enum vio_pci_dev_mode mode;
	/* MSI-X vectors, at most VIO_PCI_DEV_MSIX_MAX; 0: no MSI-X (no
	 * capability, no BAR 1; INTx only). */
	unsigned msix_vectors;
	const struct vio_pci_dev_ops *ops;
	void *opaque;           /* passed to every op */
};

/* Per-queue transport state: what the driver wrote, before the queue is
 * enabled (private). */
struct vio_pci_dev_queue {
	uint16_t size;
	uint16_t vector;
	bool reset;             /* reset alone (RING_RESET), not re-enabled */
	uint32_t pfn;           /* legacy */
	struct vio_ring_addrs addrs;
};

struct vio_pci_dev_msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct vio_pci_dev {
	/* private: set by vio_pci_dev_init() */
	struct vio_dev_model *dev;
	struct vio_dev_transport transport;
	enum vio_pci_dev_mode mode;
	const struct vio_pci_dev_ops *ops;
	void *opaque;
	unsigned nvec;

	uint8_t cfg[VIO_PCI_CFG_SPACE_SIZE];    /* config space */
	uint8_t wmask[VIO_PCI_CFG_SPACE_SIZE];  /* its writable bits */
	uint64_t bar_size[VIO_PCI_NUM_BARS];    /* 0: absent */

	uint8_t isr;
	bool intx_level;
	uint32_t dfselect, gfselect;
	uint64_t gfeatures;     /* driver_feature, staged until FEATURES_OK */
	uint16_t qsel;
	uint16_t config_vector;
	struct vio_pci_dev_queue q[VIO_PCI_DEV_MAX_QUEUES];
	struct vio_pci_dev_msix_entry msix[VIO_PCI_DEV_MSIX_MAX];
	uint64_t pba;           /* pending bits, one per vector */

	/* read-only: driver writes to device config space that the device
	 * type refused (vio_dev_ops.config_check). A register write has no
	 * answer, so they are dropped, counted here, and the first
	 * VIO_PCI_DEV_LOG_REFUSED logged; atomic (read with
	 * __atomic_load_n). */
	uint64_t config_refused;
};

#define VIO_PCI_DEV_LOG_REFUSED 32u

/*
 * Builds the function over the device model d (initialised by its device
 * type: vio_dev_init() done) and installs itself as d's transport
 * (d->transport, d->transport_opaque). The VMM sets d->mem, its guest's
 * memory, before the driver enables a queue. -EINVAL for a missing d or
 * ops (ops->msix with vectors), more than VIO_PCI_DEV_MSIX_MAX vectors,
 * more than VIO_PCI_DEV_MAX_QUEUES queues, more than
 * VIO_PCI_DEV_CONFIG_MAX config bytes, or a transitional or legacy
 * personality for a device type without a transitional id (4.1.2.1) or
 * one that is not legacy_ok.
 * Context: before the VMM exposes the function; no other thread uses d.
 */
int vio_pci_dev_init(struct vio_pci_dev *p, struct vio_dev_model *d,
		     const struct vio_pci_dev_opts *opts);

/* Detaches from d (d->transport cleared). Context: once no access can
 * come; no other thread uses p or d. */
void vio_pci_dev_fini(struct vio_pci_dev *p);

/* A PCI function-level reset (or the VMM's reset): the device is reset
 * (status 0), config space, BARs and the MSI-X table return to their
 * power-on values, INTx drops. Context: the VMM's serialisation. */
void vio_pci_dev_reset(struct vio_pci_dev *p);

/* Config-space access, width 1, 2 or 4 at off (naturally aligned, below
 * VIO_PCI_CFG_SPACE_SIZE); values in the CPU's byte order. Writes change
 * only writable bits. 0, or -EINVAL for a refused access (a refused read
 * gives all ones). Context: the VMM's serialisation. */
int vio_pci_dev_cfg_read(struct vio_pci_dev *p, unsigned off, unsigned width, uint32_t *val);
int vio_pci_dev_cfg_write(struct vio_pci_dev *p, unsigned off, unsigned width, uint32_t val);

/* An access at offset off of BAR bar (its offset, not its address),
 * width 1, 2 or 4; see "Access rules" above. 0, or -EINVAL for a refused
 * access (a refused read gives all ones). A write may call the ops and
 * the device type's callbacks (a status write, a notify), a read of ISR
 * clears it. Context: the VMM's serialisation. */
int vio_pci_dev_bar_read(struct vio_pci_dev *p, unsigned bar, uint64_t off, unsigned width,
			 uint64_t *val);
int vio_pci_dev_bar_write(struct vio_pci_dev *p, unsigned bar, uint64_t off, unsigned width,
			  uint64_t val);

/* BAR bar's size in bytes (0: absent) and whether it is I/O space, and
 * the address the guest programmed into it (its size-aligned base, with
 * the flag bits cleared): where the VMM routes it from. Context: the
 * VMM's serialisation. */
uint64_t vio_pci_dev_bar_size(const struct vio_pci_dev *p, unsigned bar, bool *io);
uint64_t vio_pci_dev_bar_addr(const struct vio_pci_dev *p, unsigned bar);

#ifdef __cplusplus
}
#endif

#endif /* VIO_TRANSPORT_PCI_DEV_H */
