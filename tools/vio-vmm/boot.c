/*
 * boot.c - puts a Linux kernel into guest memory the way the x86 boot
 * protocol's 64-bit entry expects it (Documentation/x86/boot.rst), so the
 * guest starts in long mode and never runs the kernel's real-mode setup
 * code or any firmware.
 *
 * Two kinds of kernel file are taken:
 *  - a bzImage: its protected-mode part (everything after the setup
 *    sectors) goes to the header's preferred address; the guest enters it
 *    at load address + 0x200 (startup_64 of the decompressor), which
 *    decompresses the kernel proper and jumps to it;
 *  - an uncompressed ELF vmlinux (extract-vmlinux.sh makes one from a
 *    bzImage): its PT_LOAD segments go to their physical addresses and
 *    the guest enters at the ELF entry point, the kernel's own
 *    startup_64, skipping decompression.
 * Either way the zero page (struct boot_params) carries the e820 map, the
 * command line pointer and the initrd's place, with type_of_loader 0xff
 * ("undefined" loader, as the protocol suggests for loaders without an
 * assigned id).
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm.h"

/* Offsets into struct boot_params (the zero page) and its setup_header,
 * from the boot protocol's field tables. */
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_SENTINEL 0x1ef
#define BP_HDR 0x1f1 /* setup_header starts here, in the file too */
#define HDR_SETUP_SECTS 0x1f1
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP 0x200
#define HDR_HEADER 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_CODE32_START 0x214
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define BP_E820_TABLE 0x2d0

#define LOADFLAG_LOADED_HIGH 0x01
#define XLF_KERNEL_64 0x0001
#define E820_RAM 1
#define E820_RESERVED 2

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* The whole file in a malloc'd buffer. */
static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (!f) {
		fprintf(stderr, "vio-vmm: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "vio-vmm: %s: cannot size it\n", path);
		goto out;
	}
	buf = malloc(n ? (size_t)n : 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "vio-vmm: %s: cannot read it\n", path);
		free(buf);
		buf = NULL;
		goto out;
	}
	*len = (size_t)n;
out:
	fclose(f);
	return buf;
}

static int fits(const struct vmm_mem *mem, uint64_t addr, uint64_t len)
{
	return addr <= mem->size && len <= mem->size - addr;
}

/* A bzImage: the protected-mode kernel at its preferred address. */
static int load_bzimage(struct vmm_mem *mem, const uint8_t *img, size_t len, uint8_t *zp,
			struct vmm_boot *out)
{
	unsigned setup_sects, hdr_end;
	uint16_t version;
	uint64_t load, pm_off, pm_len, init_size;

	if (len < 0x1000 || memcmp(img + HDR_HEADER, "HdrS", 4) != 0) {
		fprintf(stderr, "vio-vmm: not a bzImage (no HdrS) and not an ELF file\n");
		return -1;
	}
	version = get16(img + HDR_VERSION);
	/* The 64-bit entry is there from protocol 2.12 on, when the kernel
	 * says so in xloadflags. */
	if (version < 0x020c || !(get16(img + HDR_XLOADFLAGS) & XLF_KERNEL_64)) {
		fprintf(stderr, "vio-vmm: boot protocol %x.%02x has no 64-bit entry\n",
			version >> 8, version & 0xff);
		return -1;
	}
	setup_sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : 4;
	pm_off = (uint64_t)(setup_sects + 1) * 512;
	if (pm_off >= len) {
		fprintf(stderr, "vio-vmm: bzImage shorter than its setup sectors\n");
		return -1;
	}
	pm_len = len - pm_off;
	load = get64(img + HDR_PREF_ADDRESS);
	if (!load)
		load = VMM_KERNEL_ADDR;
	init_size = get32(img + HDR_INIT_SIZE);
	if (init_size < pm_len)
		init_size = pm_len;
	/* The decompressor works within [load, load + init_size). */
	if (!fits(mem, load, init_size)) {
		fprintf(stderr, "vio-vmm: kernel needs %#llx..%#llx, guest RAM ends at %#llx\n",
			(unsigned long long)load, (unsigned long long)(load + init_size),
			(unsigned long long)mem->size);
		return -1;
	}
	memcpy(mem->host + load, img + pm_off, pm_len);

	/* The setup header goes to the zero page as it is in the file; its
	 * length is given by the jump at 0x200 (the header ends where the
	 * jump lands). */
	hdr_end = 0x202u + img[HDR_JUMP + 1];
	if (hdr_end > 0x1000 || hdr_end <= BP_HDR) {
		fprintf(stderr, "vio-vmm: bzImage setup header has a bad length\n");
		return -1;
	}
	memcpy(zp + BP_HDR, img + BP_HDR, hdr_end - BP_HDR);
	put32(zp + HDR_CODE32_START, (uint32_t)load);

	out->load_addr = load;
	out->load_end = load + init_size;
	out->entry = load + 0x200;
	out->is_elf = 0;
	return 0;
}

/* An uncompressed vmlinux: each PT_LOAD at its physical address. */
static int load_elf(struct vmm_mem *mem, const uint8_t *img, size_t len, uint8_t *zp,
		    struct vmm_boot *out)
{
	Elf64_Ehdr eh;
	uint64_t lo = UINT64_MAX, hi = 0, entry;
	int found_entry = 0;

	if (len < sizeof(eh))
		goto bad;
	memcpy(&eh, img, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > len ||
	    (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff)
		goto bad;
	entry = eh.e_entry;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, img + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD)
			continue;
		if (ph.p_filesz > ph.p_memsz || ph.p_offset > len || ph.p_filesz > len - ph.p_offset ||
		    !fits(mem, ph.p_paddr, ph.p_memsz)) {
			fprintf(stderr, "vio-vmm: vmlinux segment %u (paddr %#llx, %#llx bytes) "
				"does not fit\n", i, (unsigned long long)ph.p_paddr,
				(unsigned long long)ph.p_memsz);
			return -1;
		}
		memcpy(mem->host + ph.p_paddr, img + ph.p_offset, ph.p_filesz);
		memset(mem->host + ph.p_paddr + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
		if (ph.p_paddr < lo)
			lo = ph.p_paddr;
		if (ph.p_paddr + ph.p_memsz > hi)
			hi = ph.p_paddr + ph.p_memsz;
		/* The entry may be given as a virtual address: translate it
		 * through the segment that holds it. */
		if (!found_entry && eh.e_entry >= ph.p_vaddr && eh.e_entry - ph.p_vaddr < ph.p_memsz) {
			entry = ph.p_paddr + (eh.e_entry - ph.p_vaddr);
			found_entry = 1;
		}
	}
	if (hi == 0)
		goto bad;
	if (!found_entry && !fits(mem, entry, 1)) {
		fprintf(stderr, "vio-vmm: vmlinux entry %#llx is outside its segments\n",
			(unsigned long long)eh.e_entry);
		return -1;
	}

	/* No setup header in the file: write the fields the kernel reads. */
	put16(zp + HDR_BOOT_FLAG, 0xaa55);
	memcpy(zp + HDR_HEADER, "HdrS", 4);
	put16(zp + HDR_VERSION, 0x020f);
	put32(zp + HDR_KERNEL_ALIGNMENT, 0x200000);
	put32(zp + HDR_INITRD_ADDR_MAX, 0x7fffffff);
	put32(zp + HDR_CMDLINE_SIZE, VMM_CMDLINE_MAX - 1);

	out->load_addr = lo;
	out->load_end = hi;
	out->entry = entry;
	out->is_elf = 1;
	return 0;
bad:
	fprintf(stderr, "vio-vmm: not an x86-64 ELF file with loadable segments\n");
	return -1;
}

static void e820_add(uint8_t *zp, unsigned *n, uint64_t addr, uint64_t size, uint32_t type)
{
	uint8_t *e = zp + BP_E820_TABLE + *n * 20;

	put64(e, addr);
	put64(e + 8, size);
	put32(e + 16, type);
	(*n)++;
}

/* 4 GiB identity-mapped with 2 MiB pages: the boot protocol wants the
 * kernel, the zero page and the command line mapped 1:1. */
static void write_page_tables(struct vmm_mem *mem)
{
	uint8_t *pml4 = mem->host + VMM_PML4_ADDR;
	uint8_t *pdpt = pml4 + 0x1000;
	uint8_t *pd = pml4 + 0x2000;

	memset(pml4, 0, 6 * 0x1000);
	put64(pml4, (VMM_PML4_ADDR + 0x1000) | 0x3); /* present, writable */
	for (unsigned i = 0; i < 4; i++)
		put64(pdpt + i * 8, (VMM_PML4_ADDR + 0x2000 + i * 0x1000u) | 0x3);
	for (uint64_t i = 0; i < 4 * 512; i++)
		put64(pd + i * 8, (i << 21) | 0x83); /* present, writable, 2 MiB */
}

static void write_gdt(struct vmm_mem *mem)
{
	uint8_t *gdt = mem->host + VMM_GDT_ADDR;

	memset(gdt, 0, 32);
	/* 0x10: 64-bit code, present, DPL 0, execute/read, L=1, G=1. */
	put64(gdt + VMM_BOOT_CS, 0x00af9a000000ffffull);
	/* 0x18: data, present, DPL 0, read/write, 4 GiB flat. */
	put64(gdt + VMM_BOOT_DS, 0x00cf92000000ffffull);
}

int vmm_boot_load(struct vmm_mem *mem, const char *kernel, const char *initrd,
		  const char *cmdline, struct vmm_boot *out)
{
	uint8_t *zp = mem->host + VMM_ZERO_PAGE_ADDR;
	uint8_t *img;
	size_t len, clen = strlen(cmdline);
	unsigned n = 0;
	int rc;

	if (clen >= VMM_CMDLINE_MAX) {
		fprintf(stderr, "vio-vmm: command line longer than %u bytes\n", VMM_CMDLINE_MAX - 1);
		return -1;
	}
	img = read_file(kernel, &len);
	if (!img)
		return -1;
	memset(zp, 0, 0x1000);
	if (len >= 4 && memcmp(img, ELFMAG, SELFMAG) == 0)
		rc = load_elf(mem, img, len, zp, out);
	else
		rc = load_bzimage(mem, img, len, zp, out);
	free(img);
	if (rc)
		return rc;

	if (clen >= get32(zp + HDR_CMDLINE_SIZE) && get32(zp + HDR_CMDLINE_SIZE)) {
		fprintf(stderr, "vio-vmm: the kernel takes at most %u bytes of command line\n",
			get32(zp + HDR_CMDLINE_SIZE));
		return -1;
	}
	memcpy(mem->host + VMM_CMDLINE_ADDR, cmdline, clen + 1);
	put32(zp + HDR_CMD_LINE_PTR, VMM_CMDLINE_ADDR);
	put32(zp + BP_EXT_CMD_LINE_PTR, 0);
	zp[HDR_TYPE_OF_LOADER] = 0xff;
	zp[HDR_LOADFLAGS] |= LOADFLAG_LOADED_HIGH;
	zp[BP_SENTINEL] = 0;

	if (initrd) {
		uint64_t max = get32(zp + HDR_INITRD_ADDR_MAX), top, at;
		uint8_t *rd = read_file(initrd, &len);

		if (!rd)
			return -1;
		/* As high as the kernel allows, page aligned, above the kernel. */
		if (!max)
			max = 0x37ffffff;
		top = mem->size < max + 1 ? mem->size : max + 1;
		at = len <= top ? (top - len) & ~0xfffull : 0;
		if (at < out->load_end) {
			fprintf(stderr, "vio-vmm: no room for a %zu-byte initrd above the kernel\n", len);
			free(rd);
			return -1;
		}
		memcpy(mem->host + at, rd, len);
		free(rd);
		put32(zp + HDR_RAMDISK_IMAGE, (uint32_t)at);
		put32(zp + HDR_RAMDISK_SIZE, (uint32_t)len);
		put32(zp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(at >> 32));
		put32(zp + BP_EXT_RAMDISK_SIZE, (uint32_t)((uint64_t)len >> 32));
	}

	/* RAM below the EBDA, the legacy hole (VGA, ROMs, BIOS) reserved,
	 * then RAM from 1 MiB to the end. */
	e820_add(zp, &n, 0, VMM_EBDA_START, E820_RAM);
	e820_add(zp, &n, VMM_EBDA_START, 0x100000 - VMM_EBDA_START, E820_RESERVED);
	e820_add(zp, &n, 0x100000, mem->size - 0x100000, E820_RAM);
	zp[BP_E820_ENTRIES] = (uint8_t)n;

	write_page_tables(mem);
	write_gdt(mem);
	return 0;
}
