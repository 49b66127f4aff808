/*
 * vmm.h - the pieces of vio-vmm, a minimal KVM virtual machine monitor
 * that boots a Linux kernel by the 64-bit boot protocol (no firmware, no
 * real-mode setup code): guest memory, the boot loader, the 16550 serial
 * port, and the run loop's diagnostics.
 *
 * It exists to find out whether Linux boots on this machine's /dev/kvm
 * (docs/kvm-vmm.md says what was found). It is a tool, not part of the
 * library: it prints, and it exits on errors of its own.
 */
#ifndef VIO_VMM_H
#define VIO_VMM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Guest-physical layout (all below 1 MiB except the kernel and initrd). */
#define VMM_GDT_ADDR 0x0500u /* 4 descriptors: null, null, code, data */
#define VMM_ZERO_PAGE_ADDR 0x7000u /* struct boot_params */
#define VMM_STACK_TOP 0x8ff0u
#define VMM_PML4_ADDR 0x9000u /* then the PDPT at 0xa000, 4 PDs at 0xb000 */
#define VMM_CMDLINE_ADDR 0x20000u
#define VMM_CMDLINE_MAX 4096u
#define VMM_KERNEL_ADDR 0x1000000u /* used when the kernel names none */
#define VMM_EBDA_START 0x9fc00u

/* The boot GDT's selectors, as the 64-bit boot protocol asks. */
#define VMM_BOOT_CS 0x10u
#define VMM_BOOT_DS 0x18u

struct vmm_mem {
	uint8_t *host; /* guest-physical 0 */
	uint64_t size;
};

/* Where the loaded kernel starts running, and what it is. */
struct vmm_boot {
	uint64_t entry; /* guest-physical RIP */
	uint64_t load_addr;
	uint64_t load_end; /* first byte after the kernel's image */
	int is_elf; /* an uncompressed vmlinux rather than a bzImage */
};

/* boot.c: load KERNEL (a bzImage, or an ELF vmlinux) and INITRD (may be
 * NULL), write the zero page, the command line, the GDT and identity-
 * mapped page tables. Returns 0, or -1 after printing why to stderr. */
int vmm_boot_load(struct vmm_mem *mem, const char *kernel, const char *initrd,
		  const char *cmdline, struct vmm_boot *out);

/* serial.c: a 16550 UART at I/O 0x3f8..0x3ff whose transmitter writes to
 * OUT at once; nothing is ever received. irq_level is the state the
 * interrupt line should have after the last access (THR empty interrupt
 * enabled means the line is high: the transmitter is always empty). */
struct vmm_serial {
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	FILE *out;
	/* The guest's output is also kept, last bytes first to go, so the run
	 * loop can look for a marker line. */
	char tail[256];
	size_t tail_len;
};

void vmm_serial_init(struct vmm_serial *s, FILE *out);
/* Returns 1 if PORT belongs to the UART (and did the access), 0 if not. */
int vmm_serial_io(struct vmm_serial *s, uint16_t port, int is_write, uint8_t *val);
int vmm_serial_irq_level(const struct vmm_serial *s);

/* symbols.c: the nearest System.map symbol at or below ADDR, written to
 * BUF as "name+0xoff"; an empty string when MAP is NULL or has none. */
void vmm_symbol(const char *map, uint64_t addr, char *buf, size_t len);

#endif
