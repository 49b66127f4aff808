/*
 * pci_fake.h - a scriptable fake virtio PCI function for the driver-side
 * PCI transport's tests (test_pci_drv_*.c).
 *
 * A struct vio_pci_platform over an in-memory config space and BAR bytes.
 * Behind the registers sits a tiny device: the common config (features
 * through their selects, status, queues), the ISR, the device config
 * bytes, the legacy I/O layout in BAR 0, and on a kick a split-ring
 * "device" that fills every device-writable buffer with PF_FILL and
 * returns it, then raises the queue's interrupt (MSI-X vector or INTx).
 * That is enough for a real driver (rng) to probe and read; the full data
 * path against a real device model is the pcidev branch's cross-check.
 *
 * Every misbehaviour a test needs is a knob (reset_stuck, refuse_*),
 * or a direct edit of cfg[] (the capabilities) and q[] (queue sizes,
 * notify offsets). Time is fake: delay_us advances `now`, so a bounded
 * wait is measured exactly and takes no real time. Log lines are kept.
 */
#ifndef PCI_FAKE_H
#define PCI_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vio/core.h"
#include "vio/transport/pci.h"
#include "vio/spec/pci.h"
#include "vio/transport/dma_arena.h"
#include "vio/drivers/rng.h"

#define PF_BAR_MAX 0x4000u
#define PF_QUEUES 4u
#define PF_FILL 0xa5u
/* DMA memory: an arena at a device address below 4 GiB (legacy page
 * numbers are 32 bits), unrelated to its host address. */
#define PF_ARENA_BYTES (1u << 20)
#define PF_DMA_BASE UINT64_C(0x40000000)

/* The modern layout: everything in BAR 4 (memory). */
#define PF_MBAR 4u
#define PF_COMMON_OFF 0x0000u
#define PF_ISR_OFF 0x1000u
#define PF_DEVICE_OFF 0x2000u
#define PF_NOTIFY_OFF 0x3000u
#define PF_NOTIFY_LEN 0x1000u
#define PF_NOTIFY_MULT 4u
/* Where the capabilities sit in config space. */
#define PF_CAP_COMMON 0x40u
#define PF_CAP_NOTIFY 0x50u
#define PF_CAP_ISR 0x64u
#define PF_CAP_DEVICE 0x74u

struct pf_queue {
	uint16_t max, size, vector, enable, noff, reset;
	uint64_t desc, driver, device;
	uint32_t pfn;
	uint16_t last_avail, used_idx;
	unsigned kicks;
	unsigned completed;
};

struct pci_fake {
	uint8_t cfg[VIO_PCI_CFG_SPACE_SIZE];
	uint8_t bar[VIO_PCI_NUM_BARS][PF_BAR_MAX];
	uint64_t bar_len[VIO_PCI_NUM_BARS];
	bool bar_io[VIO_PCI_NUM_BARS];
	bool modern, legacy;            /* which interfaces the registers serve */

	/* the device */
	uint64_t host_features, guest_features;
	uint32_t dfsel, gfsel;
	uint8_t status, generation, isr;
	uint16_t num_queues, qsel, config_vector;
	struct pf_queue q[PF_QUEUES];
	uint8_t devcfg[64];
	unsigned devcfg_len;

	/* interrupts: what the platform offers, and what is set up */
	unsigned msix_vectors;          /* 0: no MSI-X */
	bool intx;
	int irq_nvec;                   /* -1: off; 0: INTx; n: vectors */
	uint64_t pending;               /* vectors fired (INTx: bit 0) */
	unsigned irq_enables, irq_disables;

	/* knobs */
	bool reset_stuck;               /* status never reads 0 */
	bool refuse_features_ok;        /* FEATURES_OK reads back clear */
	bool refuse_queue_vector;       /* queue_msix_vector reads NO_VECTOR */
	bool refuse_config_vector;
	bool no_complete;               /* kicks do nothing */
	bool queue_reset_stuck;         /* queue_reset never reads 1 */
	bool stale_enable;              /* queue_enable reads 1 after reset */
	bool irq_wait_error;            /* irq_wait fails (-EIO) */
	bool stale_pfn;                 /* legacy QUEUE_PFN reads non-zero after reset */
	bool no_clock;                  /* the platform has neither now_ns nor delay_us */

	/* what happened */
	uint64_t now_ns;
	unsigned status_reads;
	unsigned bad_accesses;          /* accesses outside a BAR: must stay 0 */
	unsigned notify_writes;
	uint64_t last_notify_off;
	uint16_t last_notify_val;
	long dma_live;                  /* allocations not freed */
	uint8_t *arena;
	uint64_t dma_base;              /* PF_DMA_BASE unless pf_rebase_dma() */
	struct vio__dma_arena dma;
	char log[8192];
	size_t log_len;
};

/* A modern-only device of virtio type id (capabilities, BAR 4). */
void pf_init_modern(struct pci_fake *f, uint32_t id);
/* A legacy-only transitional device (no capabilities, I/O BAR 0). */
void pf_init_legacy(struct pci_fake *f, uint32_t id);
/* A transitional device with both interfaces. */
void pf_init_transitional(struct pci_fake *f, uint32_t id);

/* Frees the DMA arena. */
void pf_fini(struct pci_fake *f);
/* Moves the (empty) DMA arena to device address base. */
void pf_rebase_dma(struct pci_fake *f, uint64_t base);
/* The host address of device address dma (NULL outside the arena). */
void *pf_host(struct pci_fake *f, uint64_t dma, size_t len);

/* Writes a vendor capability at pos (cap_len bytes declared; next
 * pointer next). */
void pf_set_cap(struct pci_fake *f, unsigned pos, unsigned next, unsigned cap_len,
		unsigned type, unsigned bar, uint32_t off, uint32_t len);
void pf_put16(uint8_t *p, uint16_t v);
void pf_put32(uint8_t *p, uint32_t v);

/* The platform and a config for vio_pci_drv_init() over f. */
extern const struct vio_pci_platform pf_platform;
extern const struct vio_pci_platform pf_platform_noclock;
void pf_config(struct pci_fake *f, struct vio_pci_drv_config *cfg);

/* The log callback (opaque: the fake); pf_logged: does the log hold s? */
void pf_log(void *opaque, enum vio_log_level level, const char *msg);
bool pf_logged(const struct pci_fake *f, const char *s);

/* A bus whose log goes to f. */
void pf_bus_init(struct pci_fake *f, struct vio_bus *bus);

/* What each pci_drv test case works on: a fake modern rng function, the
 * transport over it, a bus with the rng driver. pf_ctx_setup and
 * pf_ctx_teardown are cmocka setup/teardown functions (calloc, then
 * pf_init_modern(&c->f, VIO_ID_RNG); pf_fini and free). */
struct pf_ctx {
	struct pci_fake f;
	struct vio_pci_drv p;
	struct vio_pci_drv_config cfg;
	struct vio_bus bus;
	struct vio_rng_driver rng;
};

int pf_ctx_setup(void **state);
int pf_ctx_teardown(void **state);

#endif /* PCI_FAKE_H */
