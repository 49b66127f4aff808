/*
 * vio/transport/pci.h - the driver-side virtio-pci transport: libvio's
 * drivers (blk, net, rng, console, balloon) on a virtio PCI function.
 *
 * The API in one paragraph. Fill a struct vio_pci_drv_config with a
 * platform (struct vio_pci_platform, vio/transport/pci_platform.h: config
 * space, BAR accesses, interrupts, DMA memory of one function) and call
 * vio_pci_drv_init(p, &cfg): it identifies the function (vendor 0x1af4,
 * modern id 0x1040 + type or transitional 0x1000..0x103f), picks the
 * interface (modern through the virtio capabilities; legacy through I/O
 * BAR 0 when the device has no modern capabilities or cfg.legacy asks for
 * it on a transitional device), checks every capability, resets the
 * device (bounded: -ETIMEDOUT) and sets up interrupts (MSI-X per queue,
 * MSI-X shared, INTx, or polling; a vector the device refuses, or a
 * platform whose irq_wait fails, falls back to polling). Then vio_bus_add_device(bus, &p->vdev)
 * binds a driver as on any transport; vio_drv_wait() delivers interrupts.
 * To take it away: vio_bus_remove_device(bus, &p->vdev), then
 * vio_pci_drv_fini(p) (resets, disables interrupts). Errors are 0 or
 * -errno; every refusal of what the device reported is logged through
 * cfg.log. p->legacy, p->virtio_id and p->irq_mode say what init found.
 *
 * Modern (virtio 1.x 4.1.4): the vendor capabilities give the common
 * config, notify, ISR and device config structures, each in a BAR. The
 * capability list is walked with every step checked (pointers inside
 * 0x40..0xff and 4-aligned, at most 48 steps, so a loop is an error,
 * cap_len, the BAR present and the structure inside it, each structure's
 * minimum length); a capability naming a BAR index above 5 is ignored, as
 * the spec says. 64-bit features, packed rings, IN_ORDER, RING_RESET
 * (when the common config has queue_reset) and ACCESS_PLATFORM pass.
 *
 * Legacy (the seed's virtio_pci, virtio 0.9.5): everything in I/O BAR 0,
 * PCI revision VIO_PCI_LEGACY_ABI_VERSION only, 32 feature bits, the queue
 * size fixed by the device, one page-aligned ring per queue given by its
 * page number, device config at 0x14 (0x18 with MSI-X).
 *
 * A device that breaks the rules through its registers gets a log line
 * and an error, never a crash or an unbounded wait: each register wait
 * (reset, queue reset) ends after cfg.reset_timeout_ms.
 *
 * Threads: core.h's rules for a vio_drv_device. Init and fini: one thread,
 * while nothing else uses p. The platform's ops are called from the
 * driver's thread, and its notify writes and dma_addr also from the thread
 * owning a queue (vio_drv_vq_kick()). No locks, no threads, no allocation:
 * the transport itself is freestanding C (its platform is not).
 */
#ifndef VIO_TRANSPORT_PCI_H
#define VIO_TRANSPORT_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vio/core.h"
#include "vio/transport/pci_platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Queues the transport drives at most; a device with more gets the first
 * this many (logged). */
#define VIO_PCI_DRV_MAX_QUEUES 128u
/* Default bound of a register wait (reset, queue reset), and the poll
 * interval of the polling mode and of those waits. */
#define VIO_PCI_DRV_RESET_TIMEOUT_MS 1000u
#define VIO_PCI_DRV_POLL_US 1000u

/* How the device interrupts, as init set it up. */
enum vio_pci_irq_mode {
	VIO_PCI_IRQ_POLL = 0,           /* no interrupts: wait polls the used rings */
	VIO_PCI_IRQ_INTX,               /* the INTx line; the ISR says what fired */
	VIO_PCI_IRQ_MSIX_SHARED,        /* MSI-X: one vector for config, one (or the
					 * same) for every queue */
	VIO_PCI_IRQ_MSIX,               /* MSI-X: config and each queue their own */
};

struct vio_pci_drv_config {
	const struct vio_pci_platform *platform;        /* required */
	void *platform_opaque;
	/* Drive a transitional device through its legacy interface. */
	bool legacy;
	/* Do not ask the platform for interrupts: poll. */
	bool poll;
	/* Bound of each register wait; 0: VIO_PCI_DRV_RESET_TIMEOUT_MS. */
	unsigned reset_timeout_ms;
	/* Poll interval; 0: VIO_PCI_DRV_POLL_US. */
	unsigned poll_us;
	vio_log_fn *log;                /* optional */
	void *log_opaque;
};

/* A structure in a BAR (private): checked once, inside the BAR. */
struct vio_pci_drv_region {
	unsigned bar;
	uint64_t off, len;
};

/* Per-queue state (private). */
struct vio_pci_drv_queue {
	uint64_t notify_off;            /* modern: in the notify region, where its kick goes */
	uint32_t pfn;                   /* legacy: the ring's page number */
	uint16_t vector;                /* MSI-X vector, or VIO_PCI_MSI_NO_VECTOR */
	bool set_up;                    /* queue_setup succeeded */
	bool polled;                    /* the device refused its vector: wait polls it */
};

/* A PCI function driven by libvio. Caller-allocated; vio_pci_drv_init()
 * fills it. */
struct vio_pci_drv {
	/* read-only */
	struct vio_drv_device vdev;     /* add this to a vio_bus */
	bool legacy;                    /* driven through the legacy interface */
	bool transitional;              /* the device has both interfaces */
	uint32_t virtio_id;             /* the virtio device type */
	uint16_t pci_device_id;
	uint8_t revision;
	enum vio_pci_irq_mode irq_mode;
	unsigned nvec;                  /* MSI-X vectors set up (0: INTx or polling) */
	bool broken;                    /* a reset timed out: later resets take one
					 * look instead of waiting again, queue
					 * setup fails (-EIO); a reset that reads
					 * 0 clears it */

	/* private */
	struct vio_pci_drv_config cfg;
	struct vio_transport_ops ops;
	const struct vio_pci_platform *pf;
	void *pfo;
	/* where each structure is; legacy: common is BAR 0 whole, notify
	 * and isr are unused, device is the config part of BAR 0 */
	struct vio_pci_drv_region common, notify, isr, device;
	uint32_t notify_mult;
	bool irq_on;                    /* irq_enable succeeded */
	uint16_t config_vector;         /* or VIO_PCI_MSI_NO_VECTOR */
	bool config_polled;             /* no config interrupt: wait compares generations */
	bool config_vector_logged;      /* its refusal was logged */
	uint32_t last_generation;
	unsigned nq;                    /* queues the device has (at most MAX_QUEUES) */
	struct vio_pci_drv_queue q[VIO_PCI_DRV_MAX_QUEUES];
};

/*
 * Identifies the function, checks its interface and resets the device
 * (see the top of this file). Errors: -EINVAL (a bad config, or a
 * capability list that is not a list: a pointer outside 0x40..0xff or not
 * 4-aligned, a loop), -ENODEV (not a virtio device, a modern-only device
 * with a revision of 0, a legacy one with another revision than
 * VIO_PCI_LEGACY_ABI_VERSION, or no usable common config / notify / ISR
 * structure, each refused with a log line), -ETIMEDOUT (the reset never
 * completed), -EIO (config space unreadable). On error nothing stays set
 * up. Context: one thread, while nothing else uses p; blocks at most
 * cfg->reset_timeout_ms in the reset.
 */
int vio_pci_drv_init(struct vio_pci_drv *p, const struct vio_pci_drv_config *cfg);

/*
 * Resets the device (bounded), disables interrupts and clears p. Call it
 * after &p->vdev left its bus (vio_bus_remove_device()), or when it was
 * never added. Context: as init.
 */
void vio_pci_drv_fini(struct vio_pci_drv *p);

/* The virtio device type of a PCI function from its ids, or 0 when the
 * ids are not a virtio device's (*transitional tells which range). For a
 * platform that wants to look before it commits. Context: any thread. */
uint32_t vio_pci_drv_virtio_id(uint16_t vendor, uint16_t device, uint16_t subsys,
			       bool *transitional);

#ifdef __cplusplus
}
#endif

#endif /* VIO_TRANSPORT_PCI_H */
