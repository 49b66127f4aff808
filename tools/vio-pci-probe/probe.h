/*
 * probe.h - what vio-pci-probe's files share: where a modern function's
 * virtio structures are (from its capability list) and the reporting
 * macros. See vio-pci-probe.c.
 */
#ifndef VIO_PCI_PROBE_H
#define VIO_PCI_PROBE_H

#include <stdio.h>

#include "vio/transport/pci_linux.h"

struct probe_loc {
	int bar;                        /* -1: no such capability */
	uint32_t off, len;
	uint32_t mult;                  /* notify: notify_off_multiplier */
};

struct probe_locs {
	struct probe_loc common, notify, isr, device;
};

extern int probe_failures;
extern bool probe_intx;         /* --intx: no MSI-X */

#define OK(...) do { printf("PROBE-OK "); printf(__VA_ARGS__); printf("\n"); } while (0)
#define FAIL(...) do { printf("PROBE-FAIL "); printf(__VA_ARGS__); printf("\n"); probe_failures++; } while (0)

/* One virtio-rng request through queue 0 in p's DMA memory, with an
 * interrupt: reports with OK/FAIL. */
void probe_rng(struct vio_pci_linux *p, bool transitional, const struct probe_locs *locs);

#endif
