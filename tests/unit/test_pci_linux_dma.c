/*
 * test_pci_linux_dma.c - unit tests of the Linux PCI platform's DMA
 * memory (vio/transport/pci_linux.h): pagemap translation of ordinary
 * memory on this host, the allocator's rules (never across a unit, the
 * device address of every byte), and the errors: no hugepages, pagemap
 * without privileges, pages not present, a pagemap that lies.
 *
 * The allocator's rules are checked on units of a fake 2 MiB "hugepage"
 * in ordinary memory with made-up physical addresses (so they hold
 * whether or not this machine has hugepages), and on real system pages
 * translated through pagemap. The hugepage path is checked against
 * /proc/meminfo: when the pages asked for cannot be there, init must say
 * -ENOMEM, and when some are free a real mapping is checked too.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vio/transport/pci_linux.h"

#define MIB (1024u * 1024u)
#define PRESENT (UINT64_C(1) << 63)

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* A number from /proc/meminfo ("HugePages_Free:"), or -1. */
static long meminfo(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0)
			v = strtol(line + strlen(key), NULL, 10);
	fclose(f);
	return v;
}

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* ------------------------------------------------------------------------ */
/* pagemap translation                                                      */

/* Ordinary memory of this process, present and locked: root reads real
 * frames; anyone else reads frame 0, which must come back as -EPERM. */
static void virt_to_phys_host(void **state)
{
	size_t ps = page_size();
	uint8_t *m = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t a, b, c;

	assert_true(m != MAP_FAILED);
	assert_int_equal(mlock(m, 2 * ps), 0);
	memset(m, 1, 2 * ps);
	if (geteuid() != 0) {
		assert_int_equal(vio_pci_linux_virt_to_phys(NULL, m, &a), -EPERM);
		munmap(m, 2 * ps);
		return;
	}
	assert_int_equal(vio_pci_linux_virt_to_phys(NULL, m, &a), 0);
	assert_int_equal(vio_pci_linux_virt_to_phys(NULL, m + 100, &b), 0);
	assert_int_equal(vio_pci_linux_virt_to_phys(NULL, m + ps + 7, &c), 0);
	assert_int_equal(a % ps, 0);                /* m is page aligned */
	assert_int_equal(b, a + 100);               /* same page, same frame */
	assert_int_equal(c % ps, 7);
	assert_true(a != 0 && c != 0);
	/* Two pages, two frames (each of its own). */
	assert_true(c - 7 != a);
	munmap(m, 2 * ps);
}

/* A page never touched is not present: -EFAULT, not a frame 0 address. */
static void virt_to_phys_not_present(void **state)
{
	size_t ps = page_size();
	uint8_t *m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t a = 42;

	assert_true(m != MAP_FAILED);
	assert_int_equal(vio_pci_linux_virt_to_phys(NULL, m, &a), -EFAULT);
	assert_int_equal(a, 42);
	munmap(m, ps);
}

/* A pagemap of our making: each entry shape, at the offset of a known
 * pointer. */
static void virt_to_phys_fake_pagemap(void **state)
{
	char path[] = "/tmp/vio-pagemap.XXXXXX";
	size_t ps = page_size();
	static uint8_t buf[8192] __attribute__((aligned(4096)));
	const uint8_t *p = buf + 4096 + 0x123;
	off_t off = (off_t)((uintptr_t)p / ps * 8);
	uint64_t ent, phys = 0;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	/* Short: nothing at that offset. */
	assert_int_equal(vio_pci_linux_virt_to_phys(path, p, &phys), -EIO);
	ent = PRESENT | 0x1234;
	assert_int_equal(pwrite(fd, &ent, 8, off), 8);
	assert_int_equal(vio_pci_linux_virt_to_phys(path, p, &phys), 0);
	assert_int_equal(phys, UINT64_C(0x1234) * ps + (uintptr_t)p % ps);
	/* Present, frame 0: what an unprivileged reader gets. */
	ent = PRESENT;
	assert_int_equal(pwrite(fd, &ent, 8, off), 8);
	assert_int_equal(vio_pci_linux_virt_to_phys(path, p, &phys), -EPERM);
	/* Swapped or not present; the flag bits 55..62 do not count as frame. */
	ent = 0x1234;
	assert_int_equal(pwrite(fd, &ent, 8, off), 8);
	assert_int_equal(vio_pci_linux_virt_to_phys(path, p, &phys), -EFAULT);
	ent = PRESENT | (UINT64_C(0xff) << 55);
	assert_int_equal(pwrite(fd, &ent, 8, off), 8);
	assert_int_equal(vio_pci_linux_virt_to_phys(path, p, &phys), -EPERM);
	assert_int_equal(vio_pci_linux_virt_to_phys("/nonexistent/pagemap", p, &phys), -ENOENT);
	close(fd);
	unlink(path);
}

/* ------------------------------------------------------------------------ */
/* The allocator's rules, on fake 2 MiB units                               */

#define UNIT (2u * MIB)
#define UNITS 3u

static const uint64_t fake_phys[UNITS] = {
	UINT64_C(0x40000000), UINT64_C(0x10000000), UINT64_C(0x7fe00000),
};

struct fake {
	void *mem;
	struct vio_pci_linux_dma d;
};

static int fake_setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));

	if (!f || posix_memalign(&f->mem, 4096, UNIT * UNITS))
		return -1;
	if (vio__pci_linux_dma_init_mem(&f->d, f->mem, UNIT, UNITS, fake_phys))
		return -1;
	*state = f;
	return 0;
}

static int fake_teardown(void **state)
{
	struct fake *f = *state;

	vio_pci_linux_dma_fini(&f->d);
	free(f->mem);
	free(f);
	return 0;
}

/* Which unit p is in, and that [p, p + size) stays in it. */
static size_t unit_of(const struct vio_pci_linux_dma *d, const void *p, size_t size)
{
	size_t off = (size_t)((const uint8_t *)p - d->base);

	assert_true((const uint8_t *)p >= d->base && off + size <= d->len);
	assert_int_equal(off / UNIT, (off + size - 1) / UNIT);
	return off / UNIT;
}

static void alloc_never_crosses(void **state)
{
	struct fake *f = *state;
	uint64_t dma, dma2, dma3;
	uint8_t *a, *b, *c;

	/* Most of unit 0, leaving 4 KiB. */
	a = vio_pci_linux_dma_alloc(&f->d, UNIT - 4096, 64, &dma);
	assert_non_null(a);
	assert_int_equal(unit_of(&f->d, a, UNIT - 4096), 0);
	assert_int_equal(dma, fake_phys[0]);
	/* 8 KiB would fit in the arena's bytes only across the boundary:
	 * it goes to unit 1 instead, at that unit's physical address. */
	b = vio_pci_linux_dma_alloc(&f->d, 8192, 64, &dma2);
	assert_non_null(b);
	assert_int_equal(unit_of(&f->d, b, 8192), 1);
	assert_ptr_equal(b, f->d.base + UNIT);
	assert_int_equal(dma2, fake_phys[1]);
	/* 4 KiB still fits at the end of unit 0. */
	c = vio_pci_linux_dma_alloc(&f->d, 4096, 4096, &dma3);
	assert_non_null(c);
	assert_int_equal(unit_of(&f->d, c, 4096), 0);
	assert_int_equal(dma3, fake_phys[0] + UNIT - 4096);
	assert_int_equal(dma3 % 4096, 0);
}

static void alloc_limits(void **state)
{
	struct fake *f = *state;
	uint64_t dma = 77;

	assert_null(vio_pci_linux_dma_alloc(&f->d, UNIT + 1, 64, &dma));  /* larger than a unit */
	assert_null(vio_pci_linux_dma_alloc(&f->d, 0, 64, &dma));
	assert_null(vio_pci_linux_dma_alloc(&f->d, 64, 8192, &dma));       /* align past 4096 */
	assert_null(vio_pci_linux_dma_alloc(&f->d, 64, 48, &dma));         /* not a power of two */
	assert_int_equal(dma, 77);
	/* A whole unit each, then nothing. */
	for (unsigned i = 0; i < UNITS; i++)
		assert_non_null(vio_pci_linux_dma_alloc(&f->d, UNIT, 4096, &dma));
	assert_null(vio_pci_linux_dma_alloc(&f->d, 64, 64, &dma));
}

static void addr_of_every_byte(void **state)
{
	struct fake *f = *state;
	const uint8_t *base = f->d.base;

	for (unsigned u = 0; u < UNITS; u++) {
		assert_int_equal(vio_pci_linux_dma_addr(&f->d, base + u * UNIT), fake_phys[u]);
		assert_int_equal(vio_pci_linux_dma_addr(&f->d, base + u * UNIT + 12345),
				 fake_phys[u] + 12345);
		assert_int_equal(vio_pci_linux_dma_addr(&f->d, base + (u + 1) * UNIT - 1),
				 fake_phys[u] + UNIT - 1);
	}
	assert_int_equal(vio_pci_linux_dma_addr(&f->d, base - 1), UINT64_MAX);
	assert_int_equal(vio_pci_linux_dma_addr(&f->d, base + UNITS * UNIT), UINT64_MAX);
	assert_int_equal(vio_pci_linux_dma_addr(&f->d, NULL), UINT64_MAX);
}

/* Many allocations of mixed sizes and alignments, some freed and reused:
 * every one inside a unit, aligned on the device side, zeroed, distinct
 * from every other live one, and its address what dma_addr says. */
static void alloc_random(void **state)
{
	struct fake *f = *state;
	struct { uint8_t *p; size_t size; } live[256];
	unsigned n = 0, seed = 12345;

	memset(f->d.base, 0xee, f->d.len);
	for (int round = 0; round < 2000; round++) {
		size_t size, align;
		uint64_t dma;
		uint8_t *p;

		seed = seed * 1103515245u + 12345u;
		if (n && (seed >> 16) % 3 == 0) {
			unsigned i = (seed >> 4) % n;

			vio_pci_linux_dma_free(&f->d, live[i].p, live[i].size);
			memset(live[i].p, 0xee, live[i].size);
			live[i] = live[--n];
			continue;
		}
		if (n == 256)
			continue;
		size = 1 + (seed >> 8) % ((seed & 1) ? 300000 : 5000);
		align = (size_t)1 << ((seed >> 20) % 13);
		p = vio_pci_linux_dma_alloc(&f->d, size, align, &dma);
		if (!p)
			continue;
		(void)unit_of(&f->d, p, size);
		assert_int_equal(dma % align, 0);
		assert_int_equal(vio_pci_linux_dma_addr(&f->d, p), dma);
		assert_int_equal(vio_pci_linux_dma_addr(&f->d, p + size - 1), dma + size - 1);
		for (size_t i = 0; i < size; i++)
			assert_int_equal(p[i], 0);
		for (unsigned i = 0; i < n; i++)
			assert_true(p + size <= live[i].p || live[i].p + live[i].size <= p);
		memset(p, 0xee, size);
		live[n].p = p;
		live[n].size = size;
		n++;
	}
}

static void free_foreign(void **state)
{
	struct fake *f = *state;
	uint64_t dma, dma2;
	uint8_t other[64];
	uint8_t *a = vio_pci_linux_dma_alloc(&f->d, 64, 64, &dma);

	assert_non_null(a);
	/* Not ours: nothing happens (a stays allocated). */
	vio_pci_linux_dma_free(&f->d, other, 64);
	vio_pci_linux_dma_free(&f->d, NULL, 64);
	vio_pci_linux_dma_free(&f->d, f->d.base + f->d.len, 64);
	assert_ptr_not_equal(vio_pci_linux_dma_alloc(&f->d, 64, 64, &dma2), a);
	vio_pci_linux_dma_free(&f->d, a, 64);
	assert_ptr_equal(vio_pci_linux_dma_alloc(&f->d, 64, 64, &dma2), a);
	assert_int_equal(dma2, dma);
}

static void init_mem_refusals(void **state)
{
	struct vio_pci_linux_dma d;
	static uint8_t mem[3 * 4096] __attribute__((aligned(4096)));

	assert_int_equal(vio__pci_linux_dma_init_mem(&d, NULL, 4096, 1, fake_phys), -EINVAL);
	assert_int_equal(vio__pci_linux_dma_init_mem(&d, mem, 4096, 0, fake_phys), -EINVAL);
	assert_int_equal(vio__pci_linux_dma_init_mem(&d, mem, 1000, 1, fake_phys), -EINVAL);
	assert_int_equal(vio__pci_linux_dma_init_mem(&d, mem + 64, 4096, 1, fake_phys), -EINVAL);
	assert_int_equal(vio__pci_linux_dma_init_mem(&d, mem, 4096, 3, fake_phys), 0);
	vio_pci_linux_dma_fini(&d);
	vio_pci_linux_dma_fini(&d);     /* twice: harmless */
}

/* ------------------------------------------------------------------------ */
/* Real memory                                                              */

/* System pages as units, translated through this host's pagemap. */
static void small_pages_real(void **state)
{
	struct vio_pci_linux_dma_opts o = { .small_pages = true };
	struct vio_pci_linux_dma d;
	size_t ps = page_size();
	uint8_t *p[5];
	uint64_t dma[5], phys;

	if (geteuid() != 0) {
		assert_int_equal(vio_pci_linux_dma_init(&d, 4 * ps, &o), -EPERM);
		return;
	}
	assert_int_equal(vio_pci_linux_dma_init(&d, 4 * ps - 100, &o), 0);
	assert_int_equal(d.unit, ps);
	assert_int_equal(d.units, 4);
	assert_int_equal(d.len, 4 * ps);
	for (unsigned i = 0; i < 4; i++) {
		p[i] = vio_pci_linux_dma_alloc(&d, ps, 4096, &dma[i]);
		assert_non_null(p[i]);
		/* The address the allocator gave is the one pagemap gives now. */
		assert_int_equal(vio_pci_linux_virt_to_phys(NULL, p[i], &phys), 0);
		assert_int_equal(phys, dma[i]);
		assert_int_equal(vio_pci_linux_virt_to_phys(NULL, p[i] + ps - 1, &phys), 0);
		assert_int_equal(vio_pci_linux_dma_addr(&d, p[i] + ps - 1), phys);
	}
	assert_null(vio_pci_linux_dma_alloc(&d, 64, 64, &dma[4]));
	vio_pci_linux_dma_free(&d, p[2], ps);
	assert_null(vio_pci_linux_dma_alloc(&d, ps + 1, 64, &dma[4]));
	assert_ptr_equal(vio_pci_linux_dma_alloc(&d, 100, 64, &dma[4]), p[2]);
	vio_pci_linux_dma_fini(&d);
	assert_null(d.base);
}

/* Not root: init refuses with -EPERM rather than hand out address 0. A
 * child drops to nobody (when root) to see it. */
static void small_pages_unprivileged(void **state)
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct vio_pci_linux_dma_opts o = { .small_pages = true };
		struct vio_pci_linux_dma d;

		int r;

		/* Changing uid makes a process undumpable, and then its
		 * /proc/self is root's: dumpable again, it is any user's. */
		if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0 ||
				       prctl(PR_SET_DUMPABLE, 1) < 0))
			_exit(100);
		r = vio_pci_linux_dma_init(&d, 4096, &o);
		_exit(r == -EPERM ? 0 : r < 0 ? -r : 99);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* A pagemap that says nothing is present (/dev/zero): -EIO, not memory
 * whose addresses would be 0. */
static void lying_pagemap(void **state)
{
	struct vio_pci_linux_dma_opts o = { .small_pages = true, .pagemap = "/dev/zero" };
	struct vio_pci_linux_dma d;

	assert_int_equal(vio_pci_linux_dma_init(&d, 4096, &o), -EIO);
	assert_null(d.base);
	o.pagemap = "/nonexistent/pagemap";
	assert_int_equal(vio_pci_linux_dma_init(&d, 4096, &o), -EIO);
	assert_int_equal(vio_pci_linux_dma_init(&d, 0, &o), -EINVAL);
	assert_int_equal(vio_pci_linux_dma_init(&d, SIZE_MAX, &o), -EINVAL);
}

/* Hugepages: asking for one more 2 MiB page than can exist (free +
 * overcommit, from sysfs) is -ENOMEM, the error docs/pci-linux.md tells
 * to fix with nr_hugepages. When some are free, a real one is mapped and
 * checked too. /proc/meminfo's count is of the default size, which must
 * agree when that is 2 MiB. */
static void hugepages(void **state)
{
	long free_ = read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
	long over = read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_overcommit_hugepages");
	struct vio_pci_linux_dma d;
	uint64_t dma;
	void *p;

	if (free_ < 0) {
		/* No 2 MiB pages on this kernel at all. */
		assert_int_equal(vio_pci_linux_dma_init(&d, 2 * MIB, NULL), -ENOMEM);
		return;
	}
	if (meminfo("Hugepagesize:") == 2048)
		assert_int_equal(meminfo("HugePages_Free:"), free_);
	if (over < 0)
		over = 0;
	assert_int_equal(vio_pci_linux_dma_init(&d, (size_t)(free_ + over + 1) * 2 * MIB, NULL),
			 -ENOMEM);
	assert_null(d.base);
	if (free_ == 0 || geteuid() != 0)
		return;
	assert_int_equal(vio_pci_linux_dma_init(&d, 2 * MIB, NULL), 0);
	assert_int_equal(d.unit, 2 * MIB);
	assert_int_equal(d.phys[0] % (2 * MIB), 0);
	p = vio_pci_linux_dma_alloc(&d, 2 * MIB, 4096, &dma);
	assert_non_null(p);
	assert_int_equal(dma, d.phys[0]);
	vio_pci_linux_dma_fini(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(virt_to_phys_host),
		cmocka_unit_test(virt_to_phys_not_present),
		cmocka_unit_test(virt_to_phys_fake_pagemap),
		cmocka_unit_test_setup_teardown(alloc_never_crosses, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(alloc_limits, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(addr_of_every_byte, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(alloc_random, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(free_foreign, fake_setup, fake_teardown),
		cmocka_unit_test(init_mem_refusals),
		cmocka_unit_test(small_pages_real),
		cmocka_unit_test(small_pages_unprivileged),
		cmocka_unit_test(lying_pagemap),
		cmocka_unit_test(hugepages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
