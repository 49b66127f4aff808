/*
 * vio-pci-probe - look at virtio PCI functions the way libvio's Linux
 * PCI platforms do (vio/transport/pci_linux.h); for operators setting up
 * vfio-pci or uio_pci_generic, and the proof that the platforms work
 * (docs/pci-linux.md).
 *
 *   vio-pci-probe [--sysfs ROOT]
 *       lists the virtio functions: BDF, ids, virtio type, driver.
 *   vio-pci-probe --bind BDF --driver vfio-pci|uio_pci_generic [--dma BYTES]
 *                 [--small-pages] [--rng [--intx]] [--no-bind]
 *       binds BDF to the driver (unless --no-bind), opens it, and prints
 *       its config space, its capability list (virtio's decoded), each
 *       BAR's length and first bytes, the modern common config's
 *       num_queues and the legacy I/O BAR's host features. --dma: maps
 *       that much DMA memory, allocates from it and checks each device
 *       address lies in System RAM (/proc/iomem). --rng: on a virtio-rng
 *       function, a whole request through a split ring in that memory:
 *       the device writes random bytes at the address pagemap gave, and
 *       the interrupt (MSI-X with vfio, INTx with uio or with --intx)
 *       says so.
 *
 * Lines that state a result begin with "PROBE-OK" or "PROBE-FAIL", so a
 * script can read them. Exit status: 0 when nothing failed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vio/spec.h"
#include "vio/spec/pci.h"
#include "vio/transport/pci_linux.h"

#include "probe.h"

int probe_failures;
bool probe_intx;

static const char *type_name(unsigned t)
{
	switch (t) {
	case 1: return "net";
	case 2: return "blk";
	case 3: return "console";
	case 4: return "rng";
	case 5: return "balloon";
	case 9: return "9p";
	case 16: return "gpu";
	case 18: return "input";
	case 19: return "vsock";
	case 26: return "fs";
	default: return "?";
	}
}

static int list(const char *sysfs)
{
	struct vio_pci_linux_fn fns[64];
	size_t n;
	int r = vio_pci_linux_scan(sysfs, fns, 64, &n);

	if (r < 0) {
		fprintf(stderr, "vio-pci-probe: scan: %s\n", strerror(-r));
		return 1;
	}
	for (size_t i = 0; i < n && i < 64; i++)
		printf("%s %04x:%04x type %u (%s) %s driver %s\n", fns[i].bdf, fns[i].vendor,
		       fns[i].device, fns[i].type, type_name(fns[i].type),
		       fns[i].transitional ? "transitional" : "modern",
		       fns[i].driver[0] ? fns[i].driver : "(none)");
	printf("%zu virtio function(s)\n", n);
	return 0;
}

static uint32_t cfg32(struct vio_pci_linux *p, unsigned off)
{
	uint32_t v = UINT32_MAX;

	p->plat.cfg_read(p, off, &v, 4);
	return v;
}

static uint8_t cfg8(struct vio_pci_linux *p, unsigned off)
{
	uint8_t v = 0xff;

	p->plat.cfg_read(p, off, &v, 1);
	return v;
}

static void dump_config(struct vio_pci_linux *p)
{
	printf("config space:\n");
	for (unsigned off = 0; off < VIO_PCI_CFG_SPACE_SIZE; off += 16) {
		printf("  %02x:", off);
		for (unsigned i = 0; i < 16; i += 4)
			printf(" %08" PRIx32, cfg32(p, off + i));
		printf("\n");
	}
}

/* Walks the capability list (at most 48 hops: a loop in it ends the
 * walk) and finds the virtio structures. */
static void caps(struct vio_pci_linux *p, struct probe_locs *locs)
{
	static const char *vnames[] = { "?", "common", "notify", "isr", "device", "pci-cfg",
					"?", "?", "shm", "vendor" };
	unsigned pos = cfg8(p, VIO_PCI_CFG_CAP_PTR) & ~3u, hops = 0;

	locs->common.bar = locs->notify.bar = locs->isr.bar = locs->device.bar = -1;
	printf("capabilities:\n");
	while (pos >= 0x40 && pos < VIO_PCI_CFG_SPACE_SIZE && hops++ < 48) {
		uint8_t id = cfg8(p, pos), next = cfg8(p, pos + 1);

		if (id == VIO_PCI_CAP_ID_VNDR) {
			uint8_t type = cfg8(p, pos + 3), bar = cfg8(p, pos + 4);
			uint32_t off = cfg32(p, pos + 8), len = cfg32(p, pos + 12);

			printf("  %02x: vendor (virtio %s) bar %u offset 0x%" PRIx32 " length 0x%" PRIx32 "\n",
			       pos, type < 10 ? vnames[type] : "?", bar, off, len);
			struct probe_loc *l = type == VIO_PCI_CAP_COMMON_CFG ? &locs->common :
					      type == VIO_PCI_CAP_NOTIFY_CFG ? &locs->notify :
					      type == VIO_PCI_CAP_ISR_CFG ? &locs->isr :
					      type == VIO_PCI_CAP_DEVICE_CFG ? &locs->device : NULL;

			if (l && l->bar < 0 && bar < 6) {
				l->bar = bar;
				l->off = off;
				l->len = len;
				if (type == VIO_PCI_CAP_NOTIFY_CFG)
					l->mult = cfg32(p, pos + 16);
			}
		} else if (id == VIO_PCI_CAP_ID_MSIX) {
			uint32_t flags = cfg32(p, pos) >> 16;

			printf("  %02x: MSI-X, %u vectors, %s\n", pos,
			       (flags & VIO_PCI_MSIX_FLAGS_QSIZE) + 1,
			       flags & VIO_PCI_MSIX_FLAGS_ENABLE ? "enabled" : "disabled");
		} else {
			printf("  %02x: id 0x%02x\n", pos, id);
		}
		pos = next & ~3u;
	}
}

static void bars(struct vio_pci_linux *p)
{
	printf("BARs:\n");
	for (unsigned i = 0; i < VIO_PCI_NUM_BARS; i++) {
		bool io;
		uint64_t len = p->plat.bar_len(p, i, &io);

		if (!len)
			continue;
		printf("  %u: %s, 0x%" PRIx64 " bytes, %s:", i, io ? "I/O" : "memory", len,
		       p->bars[i].map ? "mapped" :
		       p->bars[i].nsparse ? "sparsely mapped" : "pread/pwrite");
		/* The first 16 bytes, but never the ISR byte of a legacy
		 * BAR (reading it clears it): stop at 0x13. */
		for (uint64_t off = 0; off < 16 && off + 4 <= len; off += 4)
			printf(" %08" PRIx64, p->plat.read(p, i, off, 4));
		printf("\n");
	}
}

/* Is [a, a + len) inside a "System RAM" range of /proc/iomem? */
static bool in_system_ram(uint64_t a, uint64_t len)
{
	FILE *f = fopen("/proc/iomem", "r");
	char line[256];
	bool found = false;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long s, e;

		if (strstr(line, "System RAM") && sscanf(line, " %llx-%llx", &s, &e) == 2 &&
		    a >= s && a + len - 1 <= e)
			found = true;
	}
	fclose(f);
	return found;
}

static void dma_check(struct vio_pci_linux_dma *d)
{
	static const size_t sizes[] = { 64, 4096, 100, 65536, 4096 };
	uint64_t dma, again;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *m = vio_pci_linux_dma_alloc(d, sizes[i], 64, &dma);

		if (!m) {
			FAIL("dma alloc %zu bytes", sizes[i]);
			continue;
		}
		again = vio_pci_linux_dma_addr(d, (uint8_t *)m + sizes[i] - 1);
		if (again != dma + sizes[i] - 1)
			FAIL("dma addr of the last byte 0x%" PRIx64 ", expected 0x%" PRIx64, again,
			     dma + sizes[i] - 1);
		else if (!in_system_ram(dma, sizes[i]))
			FAIL("dma %zu bytes at 0x%" PRIx64 ": not inside System RAM", sizes[i], dma);
		else
			OK("dma %zu bytes at %p, device address 0x%" PRIx64 " in System RAM", sizes[i],
			   m, dma);
	}
}

/* Reads num_queues from the modern common config, host features from the
 * legacy I/O BAR. */
static void registers(struct vio_pci_linux *p, const struct vio_pci_linux_fn *fn,
		      const struct probe_locs *locs)
{
	const struct probe_loc *common = &locs->common;
	bool io;

	if (common->bar >= 0) {
		uint64_t len = p->plat.bar_len(p, (unsigned)common->bar, &io);

		if (len < (uint64_t)common->off + VIO_PCI_COMMON_CFG_SIZE_1_0) {
			FAIL("common config at bar %d offset 0x%x is outside the BAR (0x%" PRIx64 ")",
			     common->bar, common->off, len);
		} else {
			uint64_t nq = p->plat.read(p, (unsigned)common->bar,
						   common->off + VIO_PCI_COMMON_NUMQ, 2);
			uint64_t df;

			p->plat.write(p, (unsigned)common->bar, common->off + VIO_PCI_COMMON_DFSELECT, 4, 1);
			df = p->plat.read(p, (unsigned)common->bar, common->off + VIO_PCI_COMMON_DF, 4);
			if (nq == 0 || nq == 0xffff)
				FAIL("common config num_queues %" PRIu64, nq);
			else
				OK("modern common config: num_queues %" PRIu64 ", device features 32..63 0x%08" PRIx64
				   " (VERSION_1 %s)", nq, df, df & 1 ? "set" : "clear");
		}
	}
	if (fn->transitional) {
		uint64_t len = p->plat.bar_len(p, 0, &io);

		if (!len || !io) {
			FAIL("legacy: BAR 0 is not an I/O BAR");
		} else {
			uint64_t hf = p->plat.read(p, 0, VIO_PCI_LEGACY_HOST_FEATURES, 4);
			uint64_t qn = p->plat.read(p, 0, VIO_PCI_LEGACY_QUEUE_NUM, 2);

			if (hf == 0xffffffff)
				FAIL("legacy host features read all ones");
			else
				OK("legacy I/O BAR: host features 0x%08" PRIx64 ", queue 0 size %" PRIu64, hf, qn);
		}
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: vio-pci-probe [--sysfs ROOT]\n"
		"       vio-pci-probe --bind BDF --driver vfio-pci|uio_pci_generic [--no-bind]\n"
		"                     [--dma BYTES] [--small-pages] [--rng [--intx]]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sysfs", required_argument, NULL, 's' },
		{ "bind", required_argument, NULL, 'b' },
		{ "driver", required_argument, NULL, 'd' },
		{ "no-bind", no_argument, NULL, 'n' },
		{ "dma", required_argument, NULL, 'm' },
		{ "small-pages", no_argument, NULL, 'S' },
		{ "rng", no_argument, NULL, 'r' },
		{ "intx", no_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *sysfs = NULL, *bdf = NULL, *driver = "vfio-pci";
	bool no_bind = false, rng = false, small = false;
	size_t dma_bytes = 0;
	struct vio_pci_linux_dma dma;
	struct vio_pci_linux p;
	struct vio_pci_linux_fn fn;
	struct probe_locs locs;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': sysfs = optarg; break;
		case 'b': bdf = optarg; break;
		case 'd': driver = optarg; break;
		case 'n': no_bind = true; break;
		case 'm': dma_bytes = strtoull(optarg, NULL, 0); break;
		case 'S': small = true; break;
		case 'r': rng = true; break;
		case 'i': probe_intx = true; break;
		default: usage(); return 2;
		}
	}
	if (!bdf)
		return list(sysfs);
	if (strcmp(driver, "vfio") == 0)
		driver = "vfio-pci";
	else if (strcmp(driver, "uio") == 0)
		driver = "uio_pci_generic";

	r = vio_pci_linux_lookup(sysfs, bdf, &fn);
	if (r < 0) {
		FAIL("%s: %s", bdf, strerror(-r));
		return 1;
	}
	printf("%s: %04x:%04x subsystem %04x:%04x type %u (%s) %s, driver %s\n", bdf, fn.vendor,
	       fn.device, fn.subsys_vendor, fn.subsys_device, fn.type, type_name(fn.type),
	       fn.transitional ? "transitional" : "modern", fn.driver[0] ? fn.driver : "(none)");
	if (!no_bind) {
		r = vio_pci_linux_bind(sysfs, bdf, driver);
		if (r < 0) {
			FAIL("bind %s to %s: %s", bdf, driver, strerror(-r));
			return 1;
		}
		OK("bound %s to %s", bdf, driver);
	}
	if (dma_bytes || rng) {
		struct vio_pci_linux_dma_opts o = { .small_pages = small };

		r = vio_pci_linux_dma_init(&dma, dma_bytes ? dma_bytes : VIO_PCI_LINUX_HUGEPAGE, &o);
		if (r < 0) {
			FAIL("dma memory: %s%s", strerror(-r),
			     r == -ENOMEM && !small ? " (reserve hugepages: echo N > /proc/sys/vm/nr_hugepages)" :
			     r == -EPERM ? " (pagemap shows frames to root only)" : "");
			return 1;
		}
		OK("dma memory: %zu unit(s) of %zu bytes, first at physical 0x%" PRIx64, dma.units,
		   dma.unit, dma.phys[0]);
	}
	if (strcmp(driver, "vfio-pci") == 0)
		r = vio_pci_linux_open_vfio(&p, sysfs, bdf, dma_bytes || rng ? &dma : NULL);
	else
		r = vio_pci_linux_open_uio(&p, sysfs, NULL, bdf, dma_bytes || rng ? &dma : NULL);
	if (r < 0) {
		FAIL("open %s through %s: %s", bdf, driver, strerror(-r));
		return 1;
	}
	OK("opened %s through %s%s (config space %" PRIu64 " bytes, MSI-X vectors %u, INTx %s)", bdf,
	   driver, p.kind != VIO_PCI_LINUX_VFIO ? "" : p.noiommu ? " in no-IOMMU mode" : " with the type1 IOMMU",
	   p.cfg_len, p.msix_max, p.intx ? "yes" : "no");
	{
		uint16_t cmd = 0;

		p.plat.cfg_read(&p, VIO_PCI_CFG_COMMAND, &cmd, 2);
		if ((cmd & (VIO_PCI_COMMAND_MEMORY | VIO_PCI_COMMAND_MASTER)) ==
		    (VIO_PCI_COMMAND_MEMORY | VIO_PCI_COMMAND_MASTER))
			OK("command register 0x%04x: memory space and bus master on", cmd);
		else
			FAIL("command register 0x%04x: memory space or bus master off", cmd);
	}
	dump_config(&p);
	caps(&p, &locs);
	bars(&p);
	registers(&p, &fn, &locs);
	if (dma_bytes)
		dma_check(&dma);
	if (rng) {
		if (fn.type != 4)
			FAIL("--rng: %s is not a virtio-rng function", bdf);
		else
			probe_rng(&p, fn.transitional && locs.common.bar < 0, &locs);
	}
	vio_pci_linux_close(&p);
	if (dma_bytes || rng)
		vio_pci_linux_dma_fini(&dma);
	printf("%s\n", probe_failures ? "PROBE-DONE with failures" : "PROBE-DONE");
	return probe_failures ? 1 : 0;
}
