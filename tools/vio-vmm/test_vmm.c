/*
 * test_vmm.c - unit tests for vio-vmm's parts that need no /dev/kvm: the
 * boot loader (boot.c) on synthetic bzImage and ELF files, good and
 * malformed, and the 16550 (serial.c) as Linux's 8250 driver probes it.
 */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm.h"

#define MEM_SIZE (64u << 20)

static struct vmm_mem mem;
static char kpath[64], ipath[64];

static uint32_t rd32(uint64_t addr)
{
	uint32_t v;

	memcpy(&v, mem.host + addr, 4);
	return v;
}

static uint64_t rd64(uint64_t addr)
{
	uint64_t v;

	memcpy(&v, mem.host + addr, 8);
	return v;
}

static void write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
}

/* A bzImage: 1 setup sector after the boot sector, protocol 2.15, 64-bit
 * entry, preferred address 2 MiB, init_size 1 MiB, 4 KiB payload. */
static uint8_t *make_bzimage(size_t *len)
{
	size_t n = 2 * 512 + 4096;
	uint8_t *b = calloc(1, n);
	uint64_t pref = 0x200000;
	uint32_t init_size = 0x100000;

	b[0x1f1] = 1;
	b[0x201] = 0x66; /* header ends at 0x268 */
	memcpy(b + 0x202, "HdrS", 4);
	b[0x206] = 0x0f;
	b[0x207] = 0x02;
	b[0x22c] = 0xff; /* initrd_addr_max 0x00ffffff */
	b[0x22d] = 0xff;
	b[0x22e] = 0xff;
	b[0x236] = 0x01; /* XLF_KERNEL_64 */
	b[0x238] = 0xff; /* cmdline_size 0x7ff */
	b[0x239] = 0x07;
	memcpy(b + 0x258, &pref, 8);
	memcpy(b + 0x260, &init_size, 4);
	for (size_t i = 1024; i < n; i++)
		b[i] = (uint8_t)(i * 7);
	*len = n;
	return b;
}

static int setup(void **state)
{
	(void)state;
	mem.size = MEM_SIZE;
	mem.host = calloc(1, MEM_SIZE);
	snprintf(kpath, sizeof(kpath), "/tmp/vio-vmm-test-k.%d", (int)getpid());
	snprintf(ipath, sizeof(ipath), "/tmp/vio-vmm-test-i.%d", (int)getpid());
	return mem.host ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(mem.host);
	unlink(kpath);
	unlink(ipath);
	return 0;
}

static void test_bzimage(void **state)
{
	size_t len;
	uint8_t *b = make_bzimage(&len);
	uint8_t rd[5000];
	struct vmm_boot boot;
	uint64_t zp = VMM_ZERO_PAGE_ADDR;

	(void)state;
	memset(rd, 0x5a, sizeof(rd));
	write_file(kpath, b, len);
	write_file(ipath, rd, sizeof(rd));
	assert_int_equal(vmm_boot_load(&mem, kpath, ipath, "console=ttyS0", &boot), 0);
	assert_int_equal(boot.is_elf, 0);
	assert_int_equal(boot.load_addr, 0x200000);
	assert_int_equal(boot.entry, 0x200200);
	assert_int_equal(boot.load_end, 0x300000);
	/* The protected-mode part, from after the setup sectors. */
	assert_memory_equal(mem.host + 0x200000, b + 1024, len - 1024);
	/* The setup header copied, then the loader's fields. */
	assert_memory_equal(mem.host + zp + 0x202, "HdrS", 4);
	assert_int_equal(mem.host[zp + 0x210], 0xff);
	assert_true(mem.host[zp + 0x211] & 0x01);
	assert_int_equal(rd32(zp + 0x228), VMM_CMDLINE_ADDR);
	assert_string_equal((char *)mem.host + VMM_CMDLINE_ADDR, "console=ttyS0");
	/* The initrd page aligned, below initrd_addr_max, above the kernel. */
	assert_int_equal(rd32(zp + 0x21c), sizeof(rd));
	assert_int_equal(rd32(zp + 0x218) & 0xfff, 0);
	assert_true(rd32(zp + 0x218) + sizeof(rd) <= 0x1000000);
	assert_true(rd32(zp + 0x218) >= 0x300000);
	assert_memory_equal(mem.host + rd32(zp + 0x218), rd, sizeof(rd));
	/* e820: low RAM, the hole, RAM from 1 MiB to the end. */
	assert_int_equal(mem.host[zp + 0x1e8], 3);
	assert_int_equal(rd64(zp + 0x2d0 + 2 * 20), 0x100000);
	assert_int_equal(rd64(zp + 0x2d0 + 2 * 20 + 8), MEM_SIZE - 0x100000);
	assert_int_equal(rd32(zp + 0x2d0 + 2 * 20 + 16), 1);
	/* Page tables: the PD entry for 2 MiB maps 2 MiB, large page. */
	assert_int_equal(rd64(VMM_PML4_ADDR) & ~0xfffull, VMM_PML4_ADDR + 0x1000);
	assert_int_equal(rd64(VMM_PML4_ADDR + 0x2000 + 8), 0x200000 | 0x83);
	assert_int_equal(rd64(VMM_PML4_ADDR + 0x2000 + 2047 * 8), (2047ull << 21) | 0x83);
	/* GDT: 64-bit code at 0x10. */
	assert_int_equal(rd64(VMM_GDT_ADDR + VMM_BOOT_CS), 0x00af9a000000ffffull);
	free(b);
}

static void test_bzimage_malformed(void **state)
{
	size_t len;
	uint8_t *b = make_bzimage(&len);
	struct vmm_boot boot;
	uint32_t big = 0x10000000;
	char longline[VMM_CMDLINE_MAX + 1];

	(void)state;
	/* No HdrS. */
	b[0x202] = 'X';
	write_file(kpath, b, len);
	assert_int_equal(vmm_boot_load(&mem, kpath, NULL, "", &boot), -1);
	b[0x202] = 'H';
	/* Protocol 2.11: no 64-bit entry. */
	b[0x206] = 0x0b;
	write_file(kpath, b, len);
	assert_int_equal(vmm_boot_load(&mem, kpath, NULL, "", &boot), -1);
	b[0x206] = 0x0f;
	/* No XLF_KERNEL_64. */
	b[0x236] = 0;
	write_file(kpath, b, len);
	assert_int_equal(vmm_boot_load(&mem, kpath, NULL, "", &boot), -1);
	b[0x236] = 1;
	/* init_size past the end of guest memory. */
	memcpy(b + 0x260, &big, 4);
	write_file(kpath, b, len);
	assert_int_equal(vmm_boot_load(&mem, kpath, NULL, "", &boot), -1);
	big = 0x100000;
	memcpy(b + 0x260, &big, 4);
	/* setup_sects past the end of the file. */
	b[0x1f1] = 200;
	write_file(kpath, b, len);
	assert_int_equal(vmm_boot_load(&mem, kpath, NULL, "", &boot), -1);
	b[0x1f1] = 1;
	/* A command line longer than the kernel's cmdline_size. */
	write_file(kpath, b, len);
	memset(longline, 'a', sizeof(longline) - 1);
	longline[0x7ff] = '\0';
	assert_int_equal(vmm_boot_load(&mem, kpath, NULL, longline, &boot), -1);
	longline[0x7fe] = '\0';
	assert_int_equal(vmm_boot_load(&mem, kpath, NULL, longline, &boot), 0);
	/* An initrd that cannot fit under initrd_addr_max above the kernel. */
	{
		size_t n = 0x1000000;
		uint8_t *rd = calloc(1, n);

		write_file(ipath, rd, n);
		free(rd);
		assert_int_equal(vmm_boot_load(&mem, kpath, ipath, "", &boot), -1);
	}
	/* Too short to be anything. */
	write_file(kpath, b, 100);
	assert_int_equal(vmm_boot_load(&mem, kpath, NULL, "", &boot), -1);
	free(b);
}

/* An ELF vmlinux with one PT_LOAD: vaddr 0xffffffff81000000, paddr
 * 0x1000000, 8 KiB in the file and 12 KiB in memory, entry given as the
 * virtual address of its second page. */
static size_t make_elf(uint8_t *buf, size_t cap, uint64_t paddr, uint64_t entry)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	size_t off = 0x1000;

	assert_true(cap >= off + 0x2000);
	memset(buf, 0, off + 0x2000);
	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_machine = EM_X86_64;
	eh.e_entry = entry;
	eh.e_phoff = sizeof(eh);
	eh.e_phentsize = sizeof(ph);
	eh.e_phnum = 1;
	memset(&ph, 0, sizeof(ph));
	ph.p_type = PT_LOAD;
	ph.p_offset = off;
	ph.p_vaddr = 0xffffffff81000000ull;
	ph.p_paddr = paddr;
	ph.p_filesz = 0x2000;
	ph.p_memsz = 0x3000;
	memcpy(buf, &eh, sizeof(eh));
	memcpy(buf + sizeof(eh), &ph, sizeof(ph));
	memset(buf + off, 0xab, 0x2000);
	return off + 0x2000;
}

static void test_elf(void **state)
{
	static uint8_t buf[0x4000];
	struct vmm_boot boot;
	size_t n = make_elf(buf, sizeof(buf), 0x1000000, 0xffffffff81001000ull);

	(void)state;
	memset(mem.host + 0x1000000, 0xee, 0x3000);
	write_file(kpath, buf, n);
	assert_int_equal(vmm_boot_load(&mem, kpath, NULL, "x", &boot), 0);
	assert_int_equal(boot.is_elf, 1);
	assert_int_equal(boot.entry, 0x1001000);
	assert_int_equal(boot.load_end, 0x1003000);
	assert_int_equal(mem.host[0x1001fff], 0xab);
	assert_int_equal(mem.host[0x1002000], 0); /* the bss part zeroed */
	assert_memory_equal(mem.host + VMM_ZERO_PAGE_ADDR + 0x202, "HdrS", 4);
	assert_int_equal(mem.host[VMM_ZERO_PAGE_ADDR + 0x210], 0xff);
}

static void test_elf_malformed(void **state)
{
	static uint8_t buf[0x4000];
	struct vmm_boot boot;
	size_t n;

	(void)state;
	/* A segment past the end of guest memory. */
	n = make_elf(buf, sizeof(buf), MEM_SIZE - 0x1000, 0xffffffff81000000ull);
	write_file(kpath, buf, n);
	assert_int_equal(vmm_boot_load(&mem, kpath, NULL, "", &boot), -1);
	/* Program headers past the end of the file. */
	n = make_elf(buf, sizeof(buf), 0x1000000, 0xffffffff81000000ull);
	write_file(kpath, buf, sizeof(Elf64_Ehdr) + 8);
	assert_int_equal(vmm_boot_load(&mem, kpath, NULL, "", &boot), -1);
	/* A segment's file bytes past the end of the file. */
	write_file(kpath, buf, n - 1);
	assert_int_equal(vmm_boot_load(&mem, kpath, NULL, "", &boot), -1);
	/* Not x86-64. */
	buf[EI_CLASS] = ELFCLASS32;
	write_file(kpath, buf, n);
	assert_int_equal(vmm_boot_load(&mem, kpath, NULL, "", &boot), -1);
	buf[EI_CLASS] = ELFCLASS64;
	/* An entry outside every segment and outside memory. */
	n = make_elf(buf, sizeof(buf), 0x1000000, 0xfffffffff0000000ull);
	write_file(kpath, buf, n);
	assert_int_equal(vmm_boot_load(&mem, kpath, NULL, "", &boot), -1);
	/* A missing file. */
	assert_int_equal(vmm_boot_load(&mem, "/nonexistent/vmlinux", NULL, "", &boot), -1);
}

static uint8_t io(struct vmm_serial *s, unsigned reg, int write, uint8_t v)
{
	assert_int_equal(vmm_serial_io(s, (uint16_t)(0x3f8 + reg), write, &v), 1);
	return v;
}

static void test_serial(void **state)
{
	struct vmm_serial s;
	char *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);
	uint8_t v = 0;

	(void)state;
	assert_non_null(f);
	vmm_serial_init(&s, f);
	/* Not ours. */
	assert_int_equal(vmm_serial_io(&s, 0x2f8, 1, &v), 0);
	assert_int_equal(vmm_serial_io(&s, 0x400, 0, &v), 0);
	/* Scratch register keeps its value (the 8250 driver's first probe). */
	io(&s, 7, 1, 0xa5);
	assert_int_equal(io(&s, 7, 0, 0), 0xa5);
	/* Loopback: MCR RTS|OUT2 reads back as CTS|DCD. */
	io(&s, 4, 1, 0x10 | 0x0a);
	assert_int_equal(io(&s, 6, 0, 0) & 0xf0, 0x90);
	/* In loopback nothing goes out. */
	io(&s, 0, 1, 'x');
	io(&s, 4, 1, 0x03);
	assert_int_equal(io(&s, 6, 0, 0) & 0xb0, 0xb0);
	/* DLAB: offsets 0 and 1 are the divisor, not THR and IER. */
	io(&s, 3, 1, 0x80);
	io(&s, 0, 1, 0x0c);
	io(&s, 1, 1, 0x00);
	assert_int_equal(io(&s, 0, 0, 0), 0x0c);
	io(&s, 3, 1, 0x03);
	/* Transmit. */
	io(&s, 0, 1, 'h');
	io(&s, 0, 1, 'i');
	io(&s, 0, 1, '\n');
	fflush(f);
	assert_int_equal(outlen, 3);
	assert_memory_equal(out, "hi\n", 3);
	assert_string_equal(s.tail, "hi\n");
	/* Always ready to send. */
	assert_int_equal(io(&s, 5, 0, 0) & 0x60, 0x60);
	/* THR-empty interrupt: pending exactly while enabled. */
	assert_int_equal(vmm_serial_irq_level(&s), 0);
	assert_int_equal(io(&s, 2, 0, 0) & 0x0f, 0x01);
	io(&s, 1, 1, 0x02);
	assert_int_equal(vmm_serial_irq_level(&s), 1);
	assert_int_equal(io(&s, 2, 0, 0) & 0x0f, 0x02);
	io(&s, 1, 1, 0x00);
	assert_int_equal(vmm_serial_irq_level(&s), 0);
	fclose(f);
	free(out);
}

static void test_serial_tail_wraps(void **state)
{
	struct vmm_serial s;
	FILE *f = fopen("/dev/null", "w");

	(void)state;
	assert_non_null(f);
	vmm_serial_init(&s, f);
	for (unsigned i = 0; i < 1000; i++)
		io(&s, 0, 1, (uint8_t)('a' + i % 26));
	io(&s, 0, 1, 'Z');
	assert_int_equal(s.tail_len, sizeof(s.tail) - 1);
	assert_int_equal(s.tail[s.tail_len - 1], 'Z');
	assert_int_equal(strlen(s.tail), s.tail_len);
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bzimage),
		cmocka_unit_test(test_bzimage_malformed),
		cmocka_unit_test(test_elf),
		cmocka_unit_test(test_elf_malformed),
		cmocka_unit_test(test_serial),
		cmocka_unit_test(test_serial_tail_wraps),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
