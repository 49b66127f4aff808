/*
 * vio-vmm.c - a minimal KVM virtual machine monitor: one vCPU, RAM, a
 * 16550 serial port, the in-kernel interrupt controllers and PIT, and a
 * Linux kernel entered in 64-bit mode (boot.c) with no firmware.
 *
 * It was written to learn whether this machine's /dev/kvm can boot Linux
 * at all (QEMU's boot stalls here; docs/kvm-vmm.md has the findings), so
 * it says as much as it can about how a run ends: each exit reason
 * counted, I/O ports and MMIO addresses nobody emulates, and on a triple
 * fault, an internal error or a timeout the registers with RIP named from
 * System.map, plus a few RIP samples taken 100 ms apart to show where a
 * stuck guest spins.
 *
 * Usage: vio-vmm -k KERNEL [-i INITRD] [-c CMDLINE] [-m MIB] [-t SECONDS]
 *                [-s SYSTEM.MAP] [-x MARKER] [-n] [-b] [-v]
 *   -n  no in-kernel irqchip and PIT
 *   -b  finish INT3 and FWAIT when KVM fails to emulate them
 *   -v  print the setup and all counters at the end
 * Exit status: 0 when the guest printed MARKER (or asked for a reset or
 * halted, without -x), 1 on a setup error, 2 when the guest stopped in
 * any other way, 3 on a timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"

#define DEFAULT_CMDLINE "console=ttyS0 earlyprintk=serial,ttyS0,115200 reboot=k panic=-1"
#define TSS_ADDR 0xfffbd000u /* three pages KVM may need below 4 GiB */
#define KERNEL_MAP_OFFSET 0xffffffff80000000ull /* __START_KERNEL_map */
#define MAX_PORTS 32
#define SERIAL_IRQ 4

struct port_count {
	uint16_t port;
	uint8_t write;
	uint64_t n;
};

struct vmm {
	int kvm, vm, vcpu;
	struct kvm_run *run;
	struct vmm_mem mem;
	struct vmm_serial serial;
	int irqchip;
	int irq_level;
	const char *map;
	const char *marker;
	int verbose;
	int reflect_bp;
	uint64_t bp_reflected;
	uint64_t fwait_skipped;
	uint64_t exits[64];
	uint64_t io_exits, mmio_exits;
	struct port_count ports[MAX_PORTS]; /* unemulated ports */
	unsigned nports;
	uint64_t first_mmio;
};

static volatile sig_atomic_t timed_out;

static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
}

static void die(const char *what)
{
	fprintf(stderr, "vio-vmm: %s: %s\n", what, strerror(errno));
	exit(1);
}

static const char *exit_name(unsigned reason)
{
	switch (reason) {
	case KVM_EXIT_UNKNOWN: return "UNKNOWN";
	case KVM_EXIT_EXCEPTION: return "EXCEPTION";
	case KVM_EXIT_IO: return "IO";
	case KVM_EXIT_HYPERCALL: return "HYPERCALL";
	case KVM_EXIT_DEBUG: return "DEBUG";
	case KVM_EXIT_HLT: return "HLT";
	case KVM_EXIT_MMIO: return "MMIO";
	case KVM_EXIT_IRQ_WINDOW_OPEN: return "IRQ_WINDOW_OPEN";
	case KVM_EXIT_SHUTDOWN: return "SHUTDOWN";
	case KVM_EXIT_FAIL_ENTRY: return "FAIL_ENTRY";
	case KVM_EXIT_INTR: return "INTR";
	case KVM_EXIT_INTERNAL_ERROR: return "INTERNAL_ERROR";
	case KVM_EXIT_SYSTEM_EVENT: return "SYSTEM_EVENT";
	default: return "?";
	}
}

/* "name+0xoff" for a guest RIP, trying the kernel's virtual alias of a
 * low (physical, identity-mapped) address too. */
static void name_rip(const struct vmm *v, uint64_t rip, char *buf, size_t len)
{
	vmm_symbol(v->map, rip, buf, len);
	if (!buf[0] && rip < 0x40000000) {
		vmm_symbol(v->map, rip + KERNEL_MAP_OFFSET, buf, len);
		if (buf[0] && strlen(buf) + sizeof(" (phys)") <= len)
			strcat(buf, " (phys)");
	}
}

static void dump_seg(const char *name, const struct kvm_segment *s)
{
	fprintf(stderr, "  %-3s sel=%04x base=%016llx limit=%08x type=%x dpl=%u p=%u s=%u l=%u db=%u g=%u\n",
		name, s->selector, (unsigned long long)s->base, s->limit, s->type, s->dpl,
		s->present, s->s, s->l, s->db, s->g);
}

static void dump_state(struct vmm *v)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	char sym[300];

	if (ioctl(v->vcpu, KVM_GET_REGS, &r) < 0 || ioctl(v->vcpu, KVM_GET_SREGS, &s) < 0) {
		fprintf(stderr, "vio-vmm: cannot read registers: %s\n", strerror(errno));
		return;
	}
	name_rip(v, r.rip, sym, sizeof(sym));
	fprintf(stderr, "vio-vmm: RIP=%016llx %s\n", (unsigned long long)r.rip, sym);
	fprintf(stderr, "  RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n"
		"  RSI=%016llx RDI=%016llx RSP=%016llx RBP=%016llx\n"
		"  R8 =%016llx R9 =%016llx R10=%016llx R11=%016llx\n"
		"  R12=%016llx R13=%016llx R14=%016llx R15=%016llx RFLAGS=%08llx\n",
		r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp, r.r8, r.r9, r.r10,
		r.r11, r.r12, r.r13, r.r14, r.r15, r.rflags);
	fprintf(stderr, "  CR0=%llx CR2=%llx CR3=%llx CR4=%llx EFER=%llx APIC_BASE=%llx\n",
		s.cr0, s.cr2, s.cr3, s.cr4, s.efer, s.apic_base);
	dump_seg("CS", &s.cs);
	dump_seg("SS", &s.ss);
	dump_seg("DS", &s.ds);
	dump_seg("TR", &s.tr);
	fprintf(stderr, "  GDT=%016llx/%x IDT=%016llx/%x\n", (unsigned long long)s.gdt.base,
		s.gdt.limit, (unsigned long long)s.idt.base, s.idt.limit);
	for (unsigned i = 0; i < (KVM_NR_INTERRUPTS + 63) / 64; i++)
		if (s.interrupt_bitmap[i])
			fprintf(stderr, "  pending interrupt bitmap[%u]=%llx\n", i,
				(unsigned long long)s.interrupt_bitmap[i]);
}

static void dump_stats(const struct vmm *v)
{
	fprintf(stderr, "vio-vmm: exits:");
	for (unsigned i = 0; i < 64; i++)
		if (v->exits[i])
			fprintf(stderr, " %s=%" PRIu64, exit_name(i), v->exits[i]);
	fprintf(stderr, "\n");
	for (unsigned i = 0; i < v->nports; i++)
		fprintf(stderr, "vio-vmm: unemulated port %#x %s x%" PRIu64 "\n", v->ports[i].port,
			v->ports[i].write ? "write" : "read", v->ports[i].n);
	if (v->bp_reflected)
		fprintf(stderr, "vio-vmm: %" PRIu64 " INT3 traps reflected to the guest\n", v->bp_reflected);
	if (v->fwait_skipped)
		fprintf(stderr, "vio-vmm: %" PRIu64 " FWAIT skipped\n", v->fwait_skipped);
	if (v->mmio_exits)
		fprintf(stderr, "vio-vmm: %" PRIu64 " MMIO exits, first at %#" PRIx64 "\n",
			v->mmio_exits, v->first_mmio);
}

/* KVM's own counters for the vCPU (KVM_GET_STATS_FD, Linux 5.14+): how
 * many instructions it emulated, page faults it took, exits it handled
 * without us. Only the nonzero single-value ones are printed. */
static void dump_kvm_stats(const struct vmm *v)
{
	struct kvm_stats_header h;
	size_t dsize;
	uint8_t *descs;
	int fd = ioctl(v->vcpu, KVM_GET_STATS_FD, 0);

	if (fd < 0) {
		fprintf(stderr, "vio-vmm: KVM_GET_STATS_FD: %s\n", strerror(errno));
		return;
	}
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.num_desc > 4096 ||
	    h.name_size > 1024)
		goto out;
	dsize = sizeof(struct kvm_stats_desc) + h.name_size;
	descs = malloc(dsize * h.num_desc);
	if (!descs)
		goto out;
	if (pread(fd, descs, dsize * h.num_desc, h.desc_offset) == (ssize_t)(dsize * h.num_desc)) {
		fprintf(stderr, "vio-vmm: KVM vcpu stats:");
		for (uint32_t i = 0; i < h.num_desc; i++) {
			struct kvm_stats_desc *d = (struct kvm_stats_desc *)(descs + i * dsize);
			uint64_t val;

			d->name[h.name_size - 1] = '\0';
			if (d->size != 1 || pread(fd, &val, sizeof(val), h.data_offset + d->offset) !=
						    (ssize_t)sizeof(val) || !val)
				continue;
			fprintf(stderr, " %s=%" PRIu64, d->name, val);
		}
		fprintf(stderr, "\n");
	}
	free(descs);
out:
	close(fd);
}

/* Where a guest that no longer exits spends its time: kick it out of
 * KVM_RUN with a short timer a few times and print RIP each time. */
static void sample_rip(struct vmm *v, unsigned samples)
{
	struct itimerval it = { .it_value = { .tv_usec = 100000 } };

	for (unsigned i = 0; i < samples; i++) {
		struct kvm_regs r;
		char sym[300];

		timed_out = 0;
		setitimer(ITIMER_REAL, &it, NULL);
		while (!timed_out) {
			if (ioctl(v->vcpu, KVM_RUN, 0) < 0 && errno != EINTR)
				return;
			if (v->run->exit_reason == KVM_EXIT_IO && v->run->io.direction == KVM_EXIT_IO_IN)
				memset((uint8_t *)v->run + v->run->io.data_offset, 0xff,
				       (size_t)v->run->io.size * v->run->io.count);
			if (v->run->exit_reason == KVM_EXIT_SHUTDOWN || v->run->exit_reason == KVM_EXIT_HLT)
				break;
		}
		if (ioctl(v->vcpu, KVM_GET_REGS, &r) < 0)
			return;
		name_rip(v, r.rip, sym, sizeof(sym));
		fprintf(stderr, "vio-vmm: sample %u: RIP=%016llx %s\n", i, (unsigned long long)r.rip, sym);
	}
}

static void count_port(struct vmm *v, uint16_t port, int write)
{
	for (unsigned i = 0; i < v->nports; i++)
		if (v->ports[i].port == port && v->ports[i].write == write) {
			v->ports[i].n++;
			return;
		}
	if (v->nports < MAX_PORTS)
		v->ports[v->nports++] = (struct port_count){ port, (uint8_t)write, 1 };
}

static void set_serial_irq(struct vmm *v)
{
	struct kvm_irq_level irq;
	int level = vmm_serial_irq_level(&v->serial);

	if (!v->irqchip || level == v->irq_level)
		return;
	irq.irq = SERIAL_IRQ;
	irq.level = (uint32_t)level;
	if (ioctl(v->vm, KVM_IRQ_LINE, &irq) == 0)
		v->irq_level = level;
}

/* One I/O exit. Returns 1 when the guest asked for a reset. */
static int handle_io(struct vmm *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	int write = run->io.direction == KVM_EXIT_IO_OUT;
	int reset = 0;

	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		uint16_t port = run->io.port;

		if (run->io.size == 1 && vmm_serial_io(&v->serial, port, write, data))
			continue;
		/* The keyboard controller's reset pulse (reboot=k). */
		if (port == 0x64 && write && run->io.size == 1 && *data == 0xfe) {
			reset = 1;
			continue;
		}
		if (port != 0x80) /* POST code port: a delay, not a device */
			count_port(v, port, write);
		if (!write)
			memset(data, 0xff, run->io.size);
	}
	set_serial_irq(v);
	return reset;
}

/* -b: finish, here, two instructions this host's KVM fails to emulate
 * (it runs a stock kernel in its instruction emulator, see
 * docs/kvm-vmm.md), both of which Linux executes whatever its command line
 * says:
 *  - INT3 (0xcc; Linux runs one as a self-test and patches code with
 *    them): given back to the guest as a #BP exception, RIP after the INT3
 *    as the CPU would have left it;
 *  - FWAIT (0x9b; fpu__drop() runs one when a task exits): skipped. It
 *    only waits for pending x87 exceptions, and the kernel does no x87
 *    arithmetic that could leave one pending.
 * Returns 0 when the instruction was dealt with. */
static int finish_insn(struct vmm *v)
{
	struct kvm_vcpu_events ev;
	struct kvm_regs r;
	uint8_t op;

	if (v->run->emulation_failure.suberror != KVM_INTERNAL_ERROR_EMULATION ||
	    v->run->emulation_failure.ndata < 2 ||
	    !(v->run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) ||
	    v->run->emulation_failure.insn_size < 1)
		return -1;
	op = v->run->emulation_failure.insn_bytes[0];
	if (op != 0xcc && op != 0x9b)
		return -1;
	if (ioctl(v->vcpu, KVM_GET_REGS, &r) < 0)
		return -1;
	r.rip += 1;
	if (ioctl(v->vcpu, KVM_SET_REGS, &r) < 0)
		return -1;
	if (op == 0x9b) {
		v->fwait_skipped++;
		return 0;
	}
	if (ioctl(v->vcpu, KVM_GET_VCPU_EVENTS, &ev) < 0)
		return -1;
	memset(&ev.exception, 0, sizeof(ev.exception));
	ev.exception.injected = 1;
	ev.exception.nr = 3;
	ev.flags = 0;
	if (ioctl(v->vcpu, KVM_SET_VCPU_EVENTS, &ev) < 0)
		return -1;
	v->bp_reflected++;
	return 0;
}

static void setup_cpuid(struct vmm *v)
{
	struct kvm_cpuid2 *cpuid = NULL;
	unsigned n = 64;

	for (;;) {
		cpuid = realloc(cpuid, sizeof(*cpuid) + n * sizeof(cpuid->entries[0]));
		if (!cpuid)
			die("realloc");
		cpuid->nent = n;
		if (ioctl(v->kvm, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
			break;
		if (errno != E2BIG || n >= 4096)
			die("KVM_GET_SUPPORTED_CPUID");
		n *= 2;
	}
	for (unsigned i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		if (e->function == 0x40000000 && v->verbose) {
			char sig[13];

			memcpy(sig, &e->ebx, 4);
			memcpy(sig + 4, &e->ecx, 4);
			memcpy(sig + 8, &e->edx, 4);
			sig[12] = '\0';
			fprintf(stderr, "vio-vmm: hypervisor leaf 0x40000000: \"%s\" max %#x\n", sig, e->eax);
		}
		if (e->function == 1 && v->verbose)
			fprintf(stderr, "vio-vmm: cpuid 1: ecx=%08x edx=%08x\n", e->ecx, e->edx);
	}
	if (ioctl(v->vcpu, KVM_SET_CPUID2, cpuid) < 0)
		die("KVM_SET_CPUID2");
	free(cpuid);
}

static void setup_vcpu(struct vmm *v, const struct vmm_boot *boot)
{
	struct kvm_sregs s;
	struct kvm_regs r;
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = VMM_BOOT_CS, .type = 0xb,
		.present = 1, .dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment data = code;

	data.selector = VMM_BOOT_DS;
	data.type = 0x3;
	data.l = 0;
	data.db = 1;

	if (ioctl(v->vcpu, KVM_GET_SREGS, &s) < 0)
		die("KVM_GET_SREGS");
	s.cs = code;
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	s.gdt.base = VMM_GDT_ADDR;
	s.gdt.limit = 4 * 8 - 1;
	/* PE, MP, ET, NE, WP, AM, PG: what a 64-bit loader leaves. */
	s.cr0 = 0x80050033;
	s.cr3 = VMM_PML4_ADDR;
	s.cr4 = 0x20; /* PAE */
	s.efer = 0x500; /* LME | LMA */
	if (ioctl(v->vcpu, KVM_SET_SREGS, &s) < 0)
		die("KVM_SET_SREGS");

	memset(&r, 0, sizeof(r));
	r.rip = boot->entry;
	r.rsi = VMM_ZERO_PAGE_ADDR;
	r.rsp = VMM_STACK_TOP;
	r.rflags = 0x2; /* interrupts off, as the protocol requires */
	if (ioctl(v->vcpu, KVM_SET_REGS, &r) < 0)
		die("KVM_SET_REGS");
}

static void usage(void)
{
	fprintf(stderr, "usage: vio-vmm -k KERNEL [-i INITRD] [-c CMDLINE] [-m MIB] [-t SECONDS]\n"
			"               [-s SYSTEM.MAP] [-x MARKER] [-n (no irqchip)] [-b (finish INT3, FWAIT)] [-v]\n");
	exit(1);
}

int main(int argc, char **argv)
{
	const char *kernel = NULL, *initrd = NULL, *cmdline = DEFAULT_CMDLINE;
	unsigned long mib = 512, timeout = 60;
	struct vmm v = { .irq_level = -1 };
	struct vmm_boot boot;
	struct kvm_userspace_memory_region region;
	struct sigaction sa;
	int want_irqchip = 1, opt, status = 2, mmap_size;
	struct timespec t0, t1;

	while ((opt = getopt(argc, argv, "k:i:c:m:t:s:x:nvb")) != -1) {
		switch (opt) {
		case 'k': kernel = optarg; break;
		case 'i': initrd = optarg; break;
		case 'c': cmdline = optarg; break;
		case 'm': mib = strtoul(optarg, NULL, 0); break;
		case 't': timeout = strtoul(optarg, NULL, 0); break;
		case 's': v.map = optarg; break;
		case 'x': v.marker = optarg; break;
		case 'n': want_irqchip = 0; break;
		case 'v': v.verbose = 1; break;
		case 'b': v.reflect_bp = 1; break;
		default: usage();
		}
	}
	if (!kernel || optind != argc || mib < 64 || mib > 3072)
		usage();

	v.kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (v.kvm < 0)
		die("/dev/kvm");
	if (ioctl(v.kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		fprintf(stderr, "vio-vmm: KVM API version is not %d\n", KVM_API_VERSION);
		return 1;
	}
	v.vm = ioctl(v.kvm, KVM_CREATE_VM, 0);
	if (v.vm < 0)
		die("KVM_CREATE_VM");
	if (ioctl(v.vm, KVM_SET_TSS_ADDR, TSS_ADDR) < 0 && v.verbose)
		fprintf(stderr, "vio-vmm: KVM_SET_TSS_ADDR: %s (ignored)\n", strerror(errno));
	if (want_irqchip) {
		struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

		if (ioctl(v.vm, KVM_CREATE_IRQCHIP, 0) < 0)
			die("KVM_CREATE_IRQCHIP");
		if (ioctl(v.vm, KVM_CREATE_PIT2, &pit) < 0)
			die("KVM_CREATE_PIT2");
		v.irqchip = 1;
	}

	v.mem.size = (uint64_t)mib << 20;
	v.mem.host = mmap(NULL, v.mem.size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (v.mem.host == MAP_FAILED)
		die("mmap guest memory");
	region = (struct kvm_userspace_memory_region){
		.slot = 0, .guest_phys_addr = 0, .memory_size = v.mem.size,
		.userspace_addr = (uintptr_t)v.mem.host,
	};
	if (ioctl(v.vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		die("KVM_SET_USER_MEMORY_REGION");

	if (vmm_boot_load(&v.mem, kernel, initrd, cmdline, &boot))
		return 1;
	if (v.verbose)
		fprintf(stderr, "vio-vmm: %s at %#" PRIx64 "..%#" PRIx64 ", entry %#" PRIx64 "\n",
			boot.is_elf ? "vmlinux" : "bzImage", boot.load_addr, boot.load_end, boot.entry);

	v.vcpu = ioctl(v.vm, KVM_CREATE_VCPU, 0);
	if (v.vcpu < 0)
		die("KVM_CREATE_VCPU");
	mmap_size = ioctl(v.kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size < (int)sizeof(struct kvm_run))
		die("KVM_GET_VCPU_MMAP_SIZE");
	v.run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v.vcpu, 0);
	if (v.run == MAP_FAILED)
		die("mmap kvm_run");
	setup_cpuid(&v);
	setup_vcpu(&v, &boot);
	vmm_serial_init(&v.serial, stdout);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART: KVM_RUN returns EINTR */
	sigaction(SIGALRM, &sa, NULL);
	alarm((unsigned)timeout);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	for (;;) {
		unsigned reason;

		if (ioctl(v.vcpu, KVM_RUN, 0) < 0) {
			if (errno != EINTR && errno != EAGAIN)
				die("KVM_RUN");
			if (timed_out) {
				fprintf(stderr, "\nvio-vmm: timeout after %lu s\n", timeout);
				status = 3;
				break;
			}
			continue;
		}
		reason = v.run->exit_reason;
		v.exits[reason < 64 ? reason : 0]++;
		if (reason == KVM_EXIT_IO) {
			if (handle_io(&v)) {
				fprintf(stderr, "\nvio-vmm: the guest asked for a reset (port 0x64)\n");
				status = v.marker ? 2 : 0;
				break;
			}
			if (v.marker && strstr(v.serial.tail, v.marker)) {
				status = 0;
				break;
			}
			continue;
		}
		if (reason == KVM_EXIT_MMIO) {
			if (!v.mmio_exits++)
				v.first_mmio = v.run->mmio.phys_addr;
			if (!v.run->mmio.is_write)
				memset(v.run->mmio.data, 0xff, sizeof(v.run->mmio.data));
			continue;
		}
		if (reason == KVM_EXIT_INTR)
			continue;
		if (reason == KVM_EXIT_INTERNAL_ERROR && v.reflect_bp && finish_insn(&v) == 0)
			continue;
		if (reason == KVM_EXIT_HLT) {
			fprintf(stderr, "\nvio-vmm: the guest halted\n");
			status = v.marker ? 2 : 0;
			break;
		}
		if (reason == KVM_EXIT_SHUTDOWN) {
			fprintf(stderr, "\nvio-vmm: shutdown exit (triple fault)\n");
		} else if (reason == KVM_EXIT_FAIL_ENTRY) {
			fprintf(stderr, "\nvio-vmm: entry failed, reason %#llx\n",
				(unsigned long long)v.run->fail_entry.hardware_entry_failure_reason);
		} else if (reason == KVM_EXIT_INTERNAL_ERROR) {
			fprintf(stderr, "\nvio-vmm: KVM internal error, suberror %u:", v.run->internal.suberror);
			for (unsigned i = 0; i < v.run->internal.ndata && i < 16; i++)
				fprintf(stderr, " %#llx", (unsigned long long)v.run->internal.data[i]);
			fprintf(stderr, "\n");
		} else if (reason == KVM_EXIT_SYSTEM_EVENT) {
			fprintf(stderr, "\nvio-vmm: system event %u\n", v.run->system_event.type);
		} else {
			fprintf(stderr, "\nvio-vmm: unhandled exit %u (%s)\n", reason, exit_name(reason));
		}
		break;
	}
	alarm(0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fflush(stdout);
	if (status == 0 && v.marker)
		fprintf(stderr, "\nvio-vmm: saw \"%s\"\n", v.marker);
	fprintf(stderr, "vio-vmm: ran %.2f s\n",
		(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (status != 0 || v.verbose) {
		dump_stats(&v);
		dump_kvm_stats(&v);
		dump_state(&v);
	}
	if (status == 3)
		sample_rip(&v, 5);
	return status;
}
