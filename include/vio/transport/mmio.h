/*
 * vio/transport/mmio.h - virtio over MMIO (virtio 1.x 4.2), both sides.
 *
 * Device side, struct vio_mmio_dev: the register file a VMM puts at a
 * guest-physical address in front of any libvio device model (struct
 * vio_dev_model). The VMM traps the guest's loads and stores in that
 * window and hands each to vio_mmio_dev_read() / vio_mmio_dev_write() as
 * (offset, width, value); the model turns them into the device model's
 * calls (vio_dev_set_status(), vio_dev_queue_set(), vio_dev_notify(), ...).
 * It does no I/O: the VMM says how an interrupt leaves (the irq callback,
 * told the line's level) and, if it likes, how a kick reaches the device
 * (the notify callback, ioeventfd style). Version 2 (modern) or version 1
 * (legacy: GuestPageSize, QueuePFN, QueueAlign, one-block rings) is chosen
 * at init. Every access is checked: a wrong width, an unaligned or unknown
 * offset, a register of the other version, a queue index out of range, a
 * write in the wrong status phase, a config access past the end: each is
 * ignored (a read gives 0), counted in `ignored`, and the first 32 are
 * logged through the device model's log callback (a guest must not be
 * able to flood the log).
 *
 * Driver side, struct vio_mmio_drv: a driver-side transport (struct
 * vio_transport_ops) that drives any virtio-mmio device, version 1 or 2,
 * through register accesses the platform supplies (struct
 * vio_mmio_platform: an ioremapped window, a VMM's decoder, a test's
 * function calls), with DMA memory from the platform too.
 *
 * Register numbers: vio/spec/mmio.h.
 */
#ifndef VIO_TRANSPORT_MMIO_H
#define VIO_TRANSPORT_MMIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vio/core.h"
#include "vio/spec/mmio.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================== */
/* Device side: the register model                                          */

#define VIO_MMIO_MAX_QUEUES 64u          /* queues a model serves at most */
#define VIO_MMIO_VENDOR_LIBVIO 0x4f4956u /* "VIO": VendorID by default */

/* Line level callback: level true when an interrupt is raised (called on
 * every one, even when the line is already high, so that an edge-style
 * VMM can inject each), false when InterruptACK clears the last bit.
 * Context: any thread that raises or acks (a queue's processing, or the
 * vCPU thread writing InterruptACK), possibly two at once: the VMM
 * serialises inside it (a lock, or one ioctl) and must not call back into
 * the model. Two threads' calls may reach it in either order, each with
 * the level its thread saw; after each call the model reads the status
 * again and calls once more when it no longer matches, so the last level
 * the VMM is told is always InterruptStatus's. */
typedef void vio_mmio_irq_fn(void *opaque, bool level);

/* Kick callback (optional): the guest wrote QueueNotify for queue qi,
 * which exists and is live. The VMM calls vio_dev_notify(d, qi) on the
 * thread that serves qi (vio_dev_notify() checks again that it is live).
 * Context: the vCPU thread inside vio_mmio_dev_write(); must not block
 * nor call back into the model. */
typedef void vio_mmio_notify_fn(void *opaque, unsigned qi);

struct vio_mmio_dev_opts {
	unsigned version;               /* VIO_MMIO_VERSION_LEGACY or _MODERN */
	uint32_t vendor_id;             /* 0: VIO_MMIO_VENDOR_LIBVIO */
	vio_mmio_irq_fn *irq;           /* required */
	vio_mmio_notify_fn *notify;     /* NULL: kicks call vio_dev_notify() at once */
	void *opaque;                   /* for both */
};

/* What the guest set up for one queue, before it reaches the device
 * model (private). */
struct vio__mmio_queue {
	uint32_t num;                   /* 0: the guest wrote an invalid size */
	uint32_t align;                 /* version 1 */
	uint32_t pfn;                   /* version 1: read back while in use */
	uint64_t desc, driver, device;  /* version 2 */
	bool ready;                     /* the device model took it */
};

struct vio_mmio_dev {
	/* read-only */
	struct vio_dev_model *dev;
	unsigned version;
	uint64_t ignored;               /* accesses ignored (the first logged); atomic */

	/* private */
	struct vio_mmio_dev_opts opts;
	struct vio_dev_transport transport;
	uint32_t dev_features_sel, drv_features_sel, queue_sel, shm_sel;
	uint64_t drv_features;          /* as the guest wrote them */
	bool features_done;             /* handed to the device model */
	uint32_t page_size;             /* version 1; survives a status reset */
	uint32_t int_status;            /* VIO_MMIO_INT_*; atomic */
	uint64_t early_kicks[VIO_MMIO_MAX_QUEUES / 64]; /* kicks before DRIVER_OK */
	struct vio__mmio_queue q[VIO_MMIO_MAX_QUEUES];
};

/*
 * Puts the register model in front of d (already vio_dev_init()ed, its
 * d->mem the guest's memory, which stays the VMM's to set and change
 * while the device is reset). Installs itself as d's transport (interrupt
 * and config_interrupt set the InterruptStatus bits and call irq). -EINVAL
 * for a version other than 1 or 2, no irq callback, more than
 * VIO_MMIO_MAX_QUEUES queues, version 2 on a device that does not offer
 * VERSION_1, or version 1 on one that is not legacy_ok.
 * Context (init and fini): before the guest can reach the window, and
 * after it can no longer; no other thread uses m or d.
 */
int vio_mmio_dev_init(struct vio_mmio_dev *m, struct vio_dev_model *d,
		      const struct vio_mmio_dev_opts *opts);
/* Resets the device (status 0) and detaches from it. */
void vio_mmio_dev_fini(struct vio_mmio_dev *m);

/*
 * The guest's load of `width` bytes (1, 2 or 4) at `offset` from the
 * window's base; the value, little-endian in the register's sense (config
 * space: the bytes at offset, in the order of the device model's config,
 * which is native for a legacy device).
 * The guest's store of the low `width` bytes of value at offset.
 *
 * Context: one access at a time per model (the VMM serialises its vCPUs'
 * accesses to one device, e.g. with a lock of its own). Every access but
 * QueueNotify, InterruptStatus and InterruptACK also reaches the device
 * model's control path, so it must not overlap the device's queue
 * processing either (core.h: "called by transports"): a VMM that serves
 * queues on threads of its own holds their locks for those. A QueueNotify
 * without a notify callback runs the device's queue_notify on this thread,
 * in the queue's context (it must then hold what serialises that queue);
 * with one, it only hands the index over. The callbacks (irq, notify,
 * the device model's log and device-type callbacks) run on this thread.
 */
uint32_t vio_mmio_dev_read(struct vio_mmio_dev *m, uint64_t offset, unsigned width);
void vio_mmio_dev_write(struct vio_mmio_dev *m, uint64_t offset, unsigned width, uint32_t value);

/* InterruptStatus as the guest would read it, without side effects.
 * Context: any thread. */
uint32_t vio_mmio_dev_int_status(const struct vio_mmio_dev *m);

/* ======================================================================== */
/* Driver side: the transport                                               */

#define VIO_MMIO_DRV_MAX_QUEUES 256u    /* queues probed at most */

/*
 * How the transport reaches one virtio-mmio device. Offsets are from its
 * base; widths 1, 2 or 4; values as the device's registers hold them.
 * Context: the calls come from the threads the core's Context lines name
 * for the ops that make them (vio_transport_ops): reads and writes from the
 * driver's thread, but notify's QueueNotify write, which comes from the
 * thread that owns the queue kicked.
 */
struct vio_mmio_platform {
	uint32_t (*read)(void *opaque, uint32_t offset, unsigned width);
	void (*write)(void *opaque, uint32_t offset, unsigned width, uint32_t value);
	/* Block until the device's interrupt line fires, at most timeout_ms
	 * (-1: no limit): 1 when it fired, 0 when the time passed, or a
	 * negative errno. Optional: without it the driver polls its used
	 * rings and config changes go unseen. */
	int (*wait_irq)(void *opaque, int timeout_ms);
	/* DMA memory the device can address: *dma its address. Required. */
	void *(*dma_alloc)(void *opaque, size_t size, size_t align, uint64_t *dma);
	void (*dma_free)(void *opaque, void *p, size_t size);
	uint64_t (*dma_addr)(void *opaque, const void *p);  /* UINT64_MAX: not DMA */
	/* Monotonic nanoseconds. Optional: without it, bounded waits count
	 * register reads instead of time. Context: any thread. */
	uint64_t (*now_ns)(void *opaque);
	void *opaque;
};

struct vio_mmio_drv_opts {
	/* How long a reset (status 0, read back) or a queue reset may take;
	 * 0: 1000 ms. Without a clock: that many thousand register reads. */
	int reset_timeout_ms;
	vio_log_fn *log;                /* optional: why init refused, resets that hang */
	void *log_opaque;
};

struct vio_mmio_drv {
	/* read-only */
	struct vio_drv_device vdev;     /* add this to a vio_bus */
	unsigned version;               /* 1 or 2, as the device reports it */
	uint32_t vendor_id;
	bool reset_failed;              /* a reset timed out: the device may still use memory */

	/* private */
	struct vio_transport_ops ops;
	struct vio_mmio_platform plat;
	struct vio_mmio_drv_opts opts;
	unsigned nqueues;               /* probed at init */
};

/*
 * Checks the device at the platform's window (MagicValue; Version 1 or 2;
 * a DeviceID other than 0), resets it and waits for the reset to finish,
 * and, for version 1, writes GuestPageSize (4096). Then &t->vdev can be
 * added to a bus. -EINVAL for a platform without read, write or the DMA
 * calls; -ENODEV (logged) for a bad magic, an unknown version or no
 * device; -ETIMEDOUT (logged) when the status never reads 0 after reset.
 * Context (init and fini): one thread, while no other uses t; fini after
 * &t->vdev left its bus.
 */
int vio_mmio_drv_init(struct vio_mmio_drv *t, const struct vio_mmio_platform *plat,
		      const struct vio_mmio_drv_opts *opts);
void vio_mmio_drv_fini(struct vio_mmio_drv *t);

#ifdef __cplusplus
}
#endif

#endif /* VIO_TRANSPORT_MMIO_H */
