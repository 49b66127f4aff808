/*
 * test_pci_dev_fixture.h - what the tests of the virtio-pci register model
 * (src/transport/pci_dev.c) share: a small device type, a guest memory, a
 * VMM's callbacks that record what leaves the model, and a driver that
 * speaks to the model only through config and BAR accesses.
 *
 * The device type, "tdev", has TQ queues of at most TMAX entries and TCFG
 * bytes of writable config (an odd length, so a 4-byte access can
 * straddle its end). On a kick it echoes (pops every chain and pushes it
 * back with nothing written), holds (pops and keeps, for the reset-while-
 * in-flight case), or does nothing, and counts. Guest memory is GMEM bytes
 * at guest address GPA, registered as the device model's vio_mem; rings
 * of queue qi live at GPA + qi * RING_STRIDE, buffers at BUF_OFF.
 */
#ifndef TEST_PCI_DEV_FIXTURE_H
#define TEST_PCI_DEV_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vio/core.h"
#include "vio/transport/pci_dev.h"

#define B(n) VIO_BIT(n)
#define V1 B(VIO_F_VERSION_1)
#define F_PACKED B(VIO_F_RING_PACKED)
#define F_RESET B(VIO_F_RING_RESET)
#define F_DEV0 B(0)                 /* a device-type feature */
#define S_ACK VIO_STATUS_ACKNOWLEDGE
#define S_DRV VIO_STATUS_DRIVER
#define S_FOK VIO_STATUS_FEATURES_OK
#define S_DOK VIO_STATUS_DRIVER_OK
#define S_NR VIO_STATUS_NEEDS_RESET

#define TQ 2u
#define TMAX 16u
#define TCFG 6u
#define NVEC 4u
#define GPA UINT64_C(0x100000)
#define GMEM (64u * 1024u)
#define RING_STRIDE 0x4000u
#define BUF_OFF 0xc000u
#define MODERN VIO_PCI_DEV_BAR_MODERN
#define LEGACY VIO_PCI_DEV_BAR_LEGACY
#define MSIXBAR VIO_PCI_DEV_BAR_MSIX
#define COMMON(off) (VIO_PCI_DEV_COMMON_OFF + (off))
#define NOTIFY(qi) (VIO_PCI_DEV_NOTIFY_OFF + (qi) * VIO_PCI_DEV_NOTIFY_MULT)
#define MSI_ADDR(v) (UINT64_C(0xfee00000) + (v) * 0x10u)
#define MSI_DATA(v) (0x4100u + (v))

enum tdev_mode { TDEV_IDLE, TDEV_ECHO, TDEV_HOLD };

struct tdev {
	struct vio_dev_model d;
	struct vio_dev_queue q[TQ];
	uint8_t config[TCFG];
	enum tdev_mode mode;
	unsigned kicks[TQ], resets, cfg_writes, qresets;
	struct vio_elem held[TQ * TMAX];
	struct vio_iov iov[TQ * TMAX][2][4];
	unsigned nheld;
};

struct fx {
	struct tdev t;
	struct vio_pci_dev p;
	struct vio_pci_dev_ops ops;
	struct vio_mem mem;
	struct vio_mem_region regions[2];
	uint8_t *guest;
	/* what left the model */
	unsigned nmsi;
	unsigned msi_vec[256];
	uint64_t msi_addr[256];
	uint32_t msi_data[256];
	bool intx;
	unsigned intx_changes;
	unsigned notify_cb[TQ];
	/* driver side */
	uint64_t features;
	struct vio_drvq dq[TQ];
	struct vio_drvq_slot slots[TQ][TMAX];
};

/* A fresh fixture: tdev (device id `id`, offering `features`, legacy_ok),
 * the model in `mode` with `nvec` MSI-X vectors, the ops notify callback
 * when `notify_cb`. Asserts every step. */
struct fx *fx_new(enum vio_pci_dev_mode mode, unsigned nvec, uint64_t features, uint32_t id,
		  bool notify_cb);
void fx_free(struct fx *f);

/* Accesses that must succeed. */
uint32_t cr(struct fx *f, unsigned off, unsigned width);
void cw(struct fx *f, unsigned off, unsigned width, uint32_t v);
uint64_t br(struct fx *f, unsigned bar, uint64_t off, unsigned width);
void bw(struct fx *f, unsigned bar, uint64_t off, unsigned width, uint64_t v);

/* Modern common config. */
uint64_t mr(struct fx *f, unsigned off);   /* width from the register */
void mw(struct fx *f, unsigned off, uint64_t v);
unsigned common_reg_width(unsigned off);

/* Enables MSI-X and programs and unmasks every vector (MSI_ADDR/DATA). */
void fx_msix_on(struct fx *f);

/* The driver's steps, modern interface. */
void drv_status(struct fx *f, uint8_t s);
void drv_features(struct fx *f, uint64_t features);       /* ACK, DRIVER, features, FEATURES_OK */
void drv_queue(struct fx *f, unsigned qi, unsigned size);  /* set up and enable queue qi */
void drv_modern_up(struct fx *f, uint64_t features, unsigned nq, unsigned size);
void drv_kick(struct fx *f, unsigned qi);                  /* modern notify */

/* Legacy interface: ACK, DRIVER, guest features, QUEUE_PFN for queues
 * 0..nq-1, DRIVER_OK. */
void drv_legacy_up(struct fx *f, uint32_t features, unsigned nq);
void drv_legacy_kick(struct fx *f, unsigned qi);

/* Posts one buffer (16 bytes out, 16 in) on queue qi with token tok. */
void drv_post(struct fx *f, unsigned qi, void *tok);
/* Reaps one used buffer's token, or NULL. */
void *drv_reap(struct fx *f, unsigned qi);

#endif /* TEST_PCI_DEV_FIXTURE_H */
