/*
 * pci_model_platform.h - a struct vio_pci_platform (the driver-side PCI
 * transport's view of a function, vio/transport/pci_platform.h) over
 * libvio's own virtio-pci register model (vio/transport/pci_dev.h), in one
 * process: libvio's PCI driver side against libvio's PCI device side.
 *
 * Config and BAR accesses are function calls into the model. MSI-X
 * messages land in a pending-vector mask that irq_wait returns (the
 * platform programs vector i's message data as i, at MPF_MSI_ADDR); INTx
 * is the model's line level, cleared by the transport's ISR read. DMA
 * memory is an arena registered as the device model's vio_mem at a
 * device address unlike its host address (MPF_DMA_BASE), so every ring
 * and buffer address goes through translation, as on loopback.
 *
 * Single-threaded: a notify write runs the device's queue processing on
 * the spot (the model calls vio_dev_notify()), so its interrupts are
 * pending when the driver next waits. Nothing here locks.
 */
#ifndef PCI_MODEL_PLATFORM_H
#define PCI_MODEL_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vio/core.h"
#include "vio/transport/dma_arena.h"
#include "vio/transport/pci_dev.h"
#include "vio/transport/pci_platform.h"

#define MPF_DMA_BASE UINT64_C(0x80000000)
#define MPF_MSI_ADDR UINT64_C(0xfee00000)

struct mpf {
	struct vio_pci_dev pci;         /* the model */
	struct vio_dev_model *d;
	struct vio_pci_dev_ops dev_ops;
	struct vio__dma_arena dma;
	uint8_t *arena;
	size_t arena_len;
	struct vio_mem mem;
	struct vio_mem_region region;
	uint64_t pending;               /* MSI-X vectors fired, not yet waited for */
	bool intx;                      /* the line's level */
	/* counts, for the tests */
	uint64_t msis, intx_raised, bad_msis;
};

extern const struct vio_pci_platform mpf_platform;

/* The model in `mode` with `nvec` MSI-X vectors over d (initialised by its
 * device type), and an arena of arena_bytes as d's memory. 0 or -errno.
 * Pass &mpf_platform and m to the driver side. */
int mpf_init(struct mpf *m, struct vio_dev_model *d, enum vio_pci_dev_mode mode, unsigned nvec,
	     size_t arena_bytes);
void mpf_fini(struct mpf *m);

#endif /* PCI_MODEL_PLATFORM_H */
