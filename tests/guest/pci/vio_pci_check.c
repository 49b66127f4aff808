/*
 * vio_pci_check.c - libvio's drivers on QEMU's own virtio-pci devices, from
 * inside the test guest of tests/guest/pci_drv.sh (issue #13).
 *
 * Runs as a static program in a busybox initramfs that has no virtio
 * driver of the kernel's (tests/guest/pci_init.sh). It finds every virtio
 * PCI function (vendor 0x1af4), binds it to vfio-pci or uio_pci_generic
 * and opens it through libvio's Linux PCI platform
 * (vio/transport/pci_linux.h), puts the driver-side PCI transport
 * (vio/transport/pci.h) over it and adds it to a bus with libvio's rng,
 * blk, console, net and balloon drivers registered. Then, device by
 * device, it checks what the device does, printing one line per check on
 * the serial console:
 *     VIO-CHECK <name> PASS|FAIL <detail>
 * which pci_drv.sh turns into TAP. The host side of each exchange is
 * tests/guest/pci_host.py; the patterns, offsets and counts below under
 * "what the host checks" are written there too.
 *
 * How a function is found and opened is in pci_glue.c (the Linux
 * platform and the transport's calls); everything here is transport-blind.
 *
 * Usage: vio_pci_check --platform vfio|noiommu|uio --personality transitional|
 *        modern|legacy|packed|iommu --seed N
 *        [--checks rng,blk,console,net,balloon] [--verbose]
 * The personality is what QEMU was told (pci_drv.sh): each device's probe
 * check also asserts the PCI device id and the interface libvio drove
 * (modern or legacy, and RING_PACKED for packed) match it. With iommu the
 * devices demand ACCESS_PLATFORM, which the core takes for every driver
 * over a transport that carries it (the PCI transport does). After the
 * last check it waits for the host's DONE on the
 * console (the host still queries QEMU over QMP then), and exits 1 when
 * any check failed.
 */
#include <errno.h>
#include <execinfo.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vio/drivers.h"
#include "vio/spec/pci.h"

#include "pci_glue.h"

/* ------------------------------------------------------------------------ */
/* What the host checks (tests/guest/pci_host.py has the same)              */

#define BLK_DATA_OFF     (1u << 20)
#define BLK_DATA_LEN     (256u << 10)
#define BLK_DISCARD_OFF  (4u << 20)
#define BLK_DISCARD_LEN  (1u << 20)
#define BLK_ZERO_OFF     (6u << 20)     /* zeroed by WRITE_ZEROES */
#define BLK_ZERO_LEN     (256u << 10)
#define BLK_QUEUES       2u             /* QEMU's num-queues */

#define NET_G2H_FRAMES   32u
#define NET_H2G_FRAMES   32u
#define NET_G2H_TYPE     0x88b5u
#define NET_H2G_TYPE     0x88b6u

#define CON_G2H_LEN      6000u
#define CON_H2G_LEN      5000u

#define BALLOON_PAGES    4096u   /* the host asks for 16 MiB */

static uint32_t mix32(uint32_t x)
{
	x *= 0x9E3779B1u;
	x ^= x >> 15;
	x *= 0x85EBCA77u;
	x ^= x >> 13;
	return x;
}

/* Disk bytes [off, off + len) as the guest writes them: one mixed 32-bit
 * little-endian word per 4 bytes of disk offset. */
static void blk_pattern(uint8_t *buf, uint64_t off, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i += 4) {
		uint32_t w = mix32((uint32_t)((off + i) >> 2) ^ seed);

		buf[i] = (uint8_t)w;
		buf[i + 1] = (uint8_t)(w >> 8);
		buf[i + 2] = (uint8_t)(w >> 16);
		buf[i + 3] = (uint8_t)(w >> 24);
	}
}

static unsigned net_frame_len(unsigned i, unsigned mul)
{
	return 60 + (i * mul) % 1455;
}

/* ------------------------------------------------------------------------ */
/* Output                                                                   */

static bool verbose;
static unsigned failures;

static void VIO_PRINTF(3, 4) check(const char *name, bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("VIO-CHECK %s %s ", name, ok ? "PASS" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		failures++;
}

static void log_cb(void *opaque, enum vio_log_level level, const char *msg)
{
	(void)opaque;
	if (verbose || level <= VIO_LOG_WARN)
		printf("vio[%d]: %s\n", (int)level, msg);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *bus_alloc(void *opaque, size_t size)
{
	(void)opaque;
	return calloc(1, size);
}

static void bus_free(void *opaque, void *p, size_t size)
{
	(void)opaque;
	(void)size;
	free(p);
}

/* ------------------------------------------------------------------------ */
/* The devices                                                              */

static const char *personality = "";

static const char *type_name(uint32_t id)
{
	switch (id) {
	case VIO_ID_NET: return "net";
	case VIO_ID_BLOCK: return "blk";
	case VIO_ID_CONSOLE: return "console";
	case VIO_ID_RNG: return "rng";
	case VIO_ID_BALLOON: return "balloon";
	default: return NULL;
	}
}

/* The probe check of one function: bound to libvio's driver, and the PCI
 * id and the interface driven are the personality's. */
static bool probe_check(struct pci_fn *f)
{
	char name[32];
	const char *t = type_name(f->virtio_id);
	struct vio_drv_device *dev = f->dev;
	bool trans = f->pci_device >= VIO_PCI_LEGACY_DEVICE_FIRST &&
		     f->pci_device <= VIO_PCI_LEGACY_DEVICE_LAST;
	bool id_ok, mode_ok;

	snprintf(name, sizeof(name), "%s-probe", t);
	if (f->open_err) {
		check(name, false, "%s %04x:%04x: %s", f->bdf, VIO_PCI_VENDOR_ID, f->pci_device,
		      f->why[0] ? f->why : strerror(-f->open_err));
		return false;
	}
	if (!dev->driver) {
		check(name, false, "%s %04x:%04x: no driver bound (status %#x)", f->bdf,
		      VIO_PCI_VENDOR_ID, f->pci_device, vio_drv_get_status(dev));
		return false;
	}
	/* Legacy: the transport drives the I/O BAR and the core negotiated
	 * without VERSION_1; modern: neither. */
	if (!strcmp(personality, "modern"))
		id_ok = !trans, mode_ok = !dev->legacy && !f->transport_legacy;
	else if (!strcmp(personality, "iommu"))
		id_ok = !trans, mode_ok = !dev->legacy && !f->transport_legacy &&
				   vio_drv_has_feature(dev, VIO_F_ACCESS_PLATFORM);
	else if (!strcmp(personality, "packed"))
		id_ok = !trans, mode_ok = !dev->legacy && !f->transport_legacy &&
				   vio_drv_has_feature(dev, VIO_F_RING_PACKED);
	else if (!strcmp(personality, "legacy"))
		id_ok = trans, mode_ok = dev->legacy && f->transport_legacy;
	else
		id_ok = trans, mode_ok = !dev->legacy && !f->transport_legacy;
	check(name, id_ok && mode_ok, "%s %04x:%04x on %s (%s), %s, features %#" PRIx64
	      ", driver %s: %s", f->bdf, VIO_PCI_VENDOR_ID, f->pci_device, f->platform_name,
	      f->detail, dev->legacy ? "legacy negotiation" : "VERSION_1", dev->features,
	      dev->driver->name,
	      !id_ok ? "PCI id not the personality's" :
	      !mode_ok ? "interface or features not the personality's" : personality);
	return id_ok && mode_ok;
}

/* ------------------------------------------------------------------------ */
/* rng                                                                      */

static void check_rng(struct vio_drv_device *dev)
{
	static uint8_t buf[4096];
	unsigned seen[256] = { 0 }, distinct = 0;
	ssize_t n = vio_rng_drv_read(dev, buf, sizeof(buf), 10000);

	if (n != (ssize_t)sizeof(buf)) {
		check("rng-read", false, "read returned %zd (%s)", n,
		      n < 0 ? strerror((int)-n) : "short");
		return;
	}
	for (size_t i = 0; i < sizeof(buf); i++)
		if (!seen[buf[i]]++)
			distinct++;
	/* 4096 random bytes take nearly all 256 values; a device that
	 * returned one byte repeated, or left the buffer untouched, takes 1. */
	check("rng-read", distinct >= 200, "%zd bytes, %u distinct values", n, distinct);
}

/* ------------------------------------------------------------------------ */
/* blk                                                                      */

/* WRITE_ZEROES, GET_ID and the second queue; buf is DMA memory of
 * BLK_DISCARD_LEN bytes (or NULL), want as much scratch. */
static void check_blk_more(struct vio_drv_device *dev, uint8_t *buf, uint8_t *want, uint32_t seed)
{
	char id[VIO_BLK_ID_BYTES + 1], expect[32];
	struct vio_blk_drv_io io = { .type = VIO_BLK_T_IN, .sector = BLK_DATA_OFF / 512,
				     .len = BLK_DATA_LEN };
	unsigned nq = vio_blk_drv_num_queues(dev);
	int err;

	if (!buf || !want) {
		check("blk-write-zeroes", false, "no memory");
		check("blk-queues", false, "no memory");
		return;
	}
	/* The host filled this range with 0xa5 before the boot: zeros read
	 * back, and found in the image afterwards, are the device's. */
	if (!vio_drv_has_feature(dev, VIO_BLK_F_WRITE_ZEROES)) {
		check("blk-write-zeroes", false, "WRITE_ZEROES not negotiated");
	} else {
		err = vio_blk_drv_write_zeroes(dev, BLK_ZERO_OFF / 512, BLK_ZERO_LEN / 512, false);
		if (!err) {
			memset(buf, 0x5a, BLK_ZERO_LEN);
			err = vio_blk_drv_read(dev, BLK_ZERO_OFF / 512, buf, BLK_ZERO_LEN);
		}
		memset(want, 0, BLK_ZERO_LEN);
		check("blk-write-zeroes", !err && !memcmp(buf, want, BLK_ZERO_LEN),
		      "%u KiB at %u KiB: %s", BLK_ZERO_LEN >> 10, BLK_ZERO_OFF >> 10,
		      err ? strerror(-err) : memcmp(buf, want, BLK_ZERO_LEN) ?
		      "not zero when read back" : "zeros read back");
	}

	/* QEMU's serial= property (pci_drv.sh: vio- and the seed in hex). */
	snprintf(expect, sizeof(expect), "vio-%08x", (unsigned)seed);
	err = vio_blk_drv_get_id(dev, id);
	check("blk-get-id", !err && !strcmp(id, expect), "'%s'%s%s (expected '%s')", err ? "" : id,
	      err ? ": " : "", err ? strerror(-err) : "", expect);

	/* The pattern again, read on the last queue (MQ, num-queues=2). */
	if (nq != BLK_QUEUES) {
		check("blk-queues", false, "%u queues, QEMU has %u", nq, BLK_QUEUES);
		return;
	}
	memset(buf, 0, BLK_DATA_LEN);
	io.queue = nq - 1;
	io.buf = buf;
	err = vio_blk_drv_execute(dev, &io);
	blk_pattern(want, BLK_DATA_OFF, BLK_DATA_LEN, seed);
	check("blk-queues", !err && !memcmp(buf, want, BLK_DATA_LEN),
	      "%u queues; the pattern read on queue %u: %s", nq, nq - 1,
	      err ? strerror(-err) : memcmp(buf, want, BLK_DATA_LEN) ? "different data" : "as written");
}

static void check_blk(struct vio_drv_device *dev, uint32_t seed)
{
	uint8_t *buf = vio_blk_drv_alloc_buffer(dev, BLK_DISCARD_LEN);
	uint8_t *want = malloc(BLK_DISCARD_LEN);
	int err;

	if (!buf || !want) {
		check("blk-write-read", false, "no DMA memory for 1 MiB");
		goto out;
	}
	/* The pattern the host checks in the image file. */
	blk_pattern(want, BLK_DATA_OFF, BLK_DATA_LEN, seed);
	memcpy(buf, want, BLK_DATA_LEN);
	err = vio_blk_drv_write(dev, BLK_DATA_OFF / 512, buf, BLK_DATA_LEN);
	if (err) {
		check("blk-write-read", false, "write: %s", strerror(-err));
	} else {
		memset(buf, 0, BLK_DATA_LEN);
		err = vio_blk_drv_read(dev, BLK_DATA_OFF / 512, buf, BLK_DATA_LEN);
		if (err)
			check("blk-write-read", false, "read: %s", strerror(-err));
		else
			check("blk-write-read", !memcmp(buf, want, BLK_DATA_LEN),
			      "%u KiB at %u KiB, capacity %" PRIu64 " sectors, %zu bytes per request%s",
			      BLK_DATA_LEN >> 10, BLK_DATA_OFF >> 10, vio_blk_drv_capacity(dev),
			      vio_blk_drv_max_transfer(dev),
			      memcmp(buf, want, BLK_DATA_LEN) ? ": read back different data" : "");
	}

	err = vio_blk_drv_flush(dev);
	check("blk-flush", !err && vio_drv_has_feature(dev, VIO_BLK_F_FLUSH), "%s%s",
	      err ? strerror(-err) : "done",
	      vio_drv_has_feature(dev, VIO_BLK_F_FLUSH) ? "" : ", but FLUSH was not negotiated");

	/* Written, read back, then discarded: the host finds zeros there. */
	blk_pattern(want, BLK_DISCARD_OFF, BLK_DISCARD_LEN, seed ^ 0x5a5a5a5au);
	memcpy(buf, want, BLK_DISCARD_LEN);
	err = vio_blk_drv_write(dev, BLK_DISCARD_OFF / 512, buf, BLK_DISCARD_LEN);
	if (!err) {
		memset(buf, 0, BLK_DISCARD_LEN);
		err = vio_blk_drv_read(dev, BLK_DISCARD_OFF / 512, buf, BLK_DISCARD_LEN);
		if (!err && memcmp(buf, want, BLK_DISCARD_LEN))
			err = -EILSEQ;
	}
	if (err) {
		check("blk-discard", false, "writing the range first: %s", strerror(-err));
		goto out;
	}
	if (!vio_drv_has_feature(dev, VIO_BLK_F_DISCARD)) {
		check("blk-discard", false, "DISCARD not negotiated (features %#" PRIx64 ")",
		      dev->features);
		goto out;
	}
	err = vio_blk_drv_discard(dev, BLK_DISCARD_OFF / 512, BLK_DISCARD_LEN / 512);
	check("blk-discard", !err, "%u KiB at %u KiB: %s", BLK_DISCARD_LEN >> 10,
	      BLK_DISCARD_OFF >> 10, err ? strerror(-err) : "done");
out:
	check_blk_more(dev, buf, want, seed);
	if (buf)
		vio_blk_drv_free_buffer(dev, buf, BLK_DISCARD_LEN);
	free(want);
}

/* ------------------------------------------------------------------------ */
/* console                                                                  */

static void check_console(struct vio_drv_device *dev)
{
	static uint8_t out[CON_G2H_LEN], in[CON_H2G_LEN];
	size_t got = 0;
	ssize_t n;
	int err;
	int64_t end;

	for (unsigned j = 0; j < CON_G2H_LEN; j++)
		out[j] = (uint8_t)(j * 11 + 3);
	n = vio_console_drv_write(dev, out, sizeof(out), 10000);
	err = n == (ssize_t)sizeof(out) ? vio_console_drv_flush(dev, 10000) : 0;
	check("console-write", n == (ssize_t)sizeof(out) && !err, "%zd of %u bytes handed over%s%s",
	      n < 0 ? 0 : n, CON_G2H_LEN, err ? ", flush: " : "", err ? strerror(-err) : "");

	/* The host answers once it has all of ours. */
	end = now_ms() + 30000;
	while (got < sizeof(in) && now_ms() < end) {
		n = vio_console_drv_read(dev, in + got, sizeof(in) - got, 1000);
		if (n == -ETIMEDOUT)
			continue;
		if (n < 0)
			break;
		got += (size_t)n;
	}
	if (got < sizeof(in)) {
		check("console-read", false, "%zu of %u bytes from the host%s%s", got, CON_H2G_LEN,
		      n < 0 && n != -ETIMEDOUT ? ": " : "",
		      n < 0 && n != -ETIMEDOUT ? strerror((int)-n) : "");
		return;
	}
	for (unsigned j = 0; j < CON_H2G_LEN; j++)
		if (in[j] != (uint8_t)(j * 5 + 7)) {
			check("console-read", false, "%u bytes, byte %u differs", CON_H2G_LEN, j);
			return;
		}
	check("console-read", true, "%u bytes from the host, as sent", CON_H2G_LEN);
}

/* ------------------------------------------------------------------------ */
/* net                                                                      */

static void put16be(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static unsigned get16be(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static void check_net(struct vio_drv_device *dev)
{
	static uint8_t frame[1514], rx[NET_H2G_FRAMES][2048];
	uint8_t mac[6];
	unsigned sent = 0, got = 0, bad = 0, others = 0, free0;
	bool back;
	bool seen[NET_H2G_FRAMES] = { false };
	char why[128] = "";
	int64_t end;
	int err;

	err = vio_net_drv_mac(dev, mac);
	if (err) {
		check("net-tx", false, "no MAC: %s", strerror(-err));
		check("net-rx", false, "not reached");
		return;
	}
	free0 = vio_net_drv_tx_free(dev, 0);
	for (unsigned i = 0; i < NET_G2H_FRAMES; i++) {
		unsigned n = net_frame_len(i, 45);
		struct vio_net_drv_frame f = { .data = frame, .len = n };

		memset(frame, 0xff, 6);
		memcpy(frame + 6, mac, 6);
		put16be(frame + 12, NET_G2H_TYPE);
		memcpy(frame + 14, "VIOG", 4);
		put16be(frame + 18, i);
		put16be(frame + 20, n);
		for (unsigned j = 0; j < n - 22; j++)
			frame[22 + j] = (uint8_t)(i * 31 + j * 7);
		end = now_ms() + 5000;
		for (;;) {
			err = vio_net_drv_tx_burst(dev, 0, &f, 1);
			if (err != 0 || now_ms() > end)
				break;
			vio_drv_wait(dev, 10);     /* the ring is full: let it drain */
		}
		if (err != 1)
			break;
		sent++;
	}
	/* Wait for the device to have sent them all: every transmit buffer
	 * back. */
	end = now_ms() + 5000;
	while (vio_net_drv_tx_free(dev, 0) < free0 && now_ms() < end) {
		int r = vio_net_drv_tx_reap(dev, 0);

		if (r < 0) {
			err = r;
			break;
		}
		if (vio_net_drv_tx_free(dev, 0) < free0)
			vio_drv_wait(dev, 10);
	}
	back = vio_net_drv_tx_free(dev, 0) >= free0;
	check("net-tx", sent == NET_G2H_FRAMES && back, "%u of %u frames sent, %s (MAC "
	      "%02x:%02x:%02x:%02x:%02x:%02x)%s%s", sent, NET_G2H_FRAMES,
	      back ? "every transmit buffer back" : "transmit buffers still out", mac[0], mac[1],
	      mac[2], mac[3], mac[4], mac[5], err < 0 ? ": " : "", err < 0 ? strerror(-err) : "");

	/* The host sends its frames once it has ours. */
	end = now_ms() + 30000;
	while (got < NET_H2G_FRAMES && now_ms() < end) {
		struct vio_net_drv_frame f[8];
		int r;

		for (unsigned k = 0; k < 8; k++)
			f[k] = (struct vio_net_drv_frame){ .data = rx[k], .cap = sizeof(rx[k]) };
		r = vio_net_drv_rx_burst(dev, 0, f, 8);
		if (r < 0) {
			snprintf(why, sizeof(why), ": rx_burst: %s (%s)", strerror(-r),
				 vio_net_drv_error(dev, 0) ? vio_net_drv_error(dev, 0) : "");
			break;
		}
		if (r == 0) {
			vio_drv_wait(dev, 100);
			continue;
		}
		for (int k = 0; k < r; k++) {
			const uint8_t *p = f[k].data;
			unsigned i, n;

			if (f[k].len < 22 || get16be(p + 12) != NET_H2G_TYPE || memcmp(p + 14, "VIOH", 4)) {
				others++;
				continue;
			}
			i = get16be(p + 18);
			n = get16be(p + 20);
			if (i >= NET_H2G_FRAMES || seen[i] || n != net_frame_len(i, 97) ||
			    f[k].len != n || memcmp(p, mac, 6)) {
				bad++;
				continue;
			}
			for (unsigned j = 0; j < n - 22; j++)
				if (p[22 + j] != (uint8_t)(i * 13 + j * 3 + 1)) {
					bad++;
					goto next;
				}
			seen[i] = true;
			got++;
next:;
		}
	}
	check("net-rx", got == NET_H2G_FRAMES && !bad, "%u of %u frames from the host intact, "
	      "%u damaged, %u others%s", got, NET_H2G_FRAMES, bad, others, why);
}

/* Config interrupts that reached the net driver with EV_LINK. */
static unsigned link_events;

static void net_config_changed(void *opaque, struct vio_drv_device *dev, unsigned events)
{
	(void)opaque;
	(void)dev;
	if (events & VIO_NET_DRV_EV_LINK)
		link_events++;
}

/* Waits (at most timeout_ms) for a config interrupt with EV_LINK after
 * which the link is up (or down). */
static bool net_wait_link(struct vio_drv_device *dev, bool up, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	unsigned seen = link_events;

	while (now_ms() < end) {
		vio_drv_wait(dev, 200);
		if (link_events != seen && vio_net_drv_link_up(dev) == up)
			return true;
	}
	return false;
}

/* The host takes the link down and up again over QMP (set_link): the
 * device changes its status and raises a config interrupt each time. */
static void check_net_link(struct vio_drv_device *dev)
{
	bool was_up = vio_net_drv_link_up(dev), down, up = false;
	unsigned before = link_events;

	if (!vio_drv_has_feature(dev, VIO_NET_F_STATUS)) {
		check("net-link", false, "STATUS not negotiated");
		return;
	}
	printf("VIO-NET-LINK-READY\n");
	down = net_wait_link(dev, false, 30000);
	printf("VIO-NET-LINK-DOWN\n");
	if (down)
		up = net_wait_link(dev, true, 30000);
	check("net-link", was_up && down && up, "link %s at first, %s, %s; %u config interrupts "
	      "with a link change", was_up ? "up" : "down",
	      down ? "seen going down" : "never seen going down",
	      up ? "seen coming back up" : "never seen coming back up", link_events - before);
}

/* ------------------------------------------------------------------------ */
/* balloon                                                                  */

/* Waits (at most timeout_ms) until the device's target is want pages (any
 * non-zero target when want is UINT64_MAX) and the balloon holds it. */
static int balloon_follow(struct vio_drv_device *dev, uint64_t want, int timeout_ms,
			  uint64_t *target)
{
	int64_t end = now_ms() + timeout_ms, said = now_ms();
	int err = 0;

	for (;;) {
		err = vio_balloon_drv_update(dev);
		*target = vio_balloon_drv_target(dev);
		if ((want == UINT64_MAX ? *target != 0 : *target == want) && !err &&
		    vio_balloon_drv_pages(dev) == *target)
			return 0;
		if (now_ms() > end)
			return err ? err : -ETIMEDOUT;
		if (now_ms() - said >= 2000) {
			printf("balloon: target %" PRIu64 ", %" PRIu64 " pages, update %d\n", *target,
			       vio_balloon_drv_pages(dev), err);
			said = now_ms();
		}
		vio_drv_wait(dev, 200);
	}
}

static void check_balloon(struct vio_drv_device *dev)
{
	uint64_t target;
	int err;

	printf("VIO-BALLOON-READY pages=%" PRIu64 " target=%" PRIu64 "\n",
	       vio_balloon_drv_pages(dev), vio_balloon_drv_target(dev));
	fflush(stdout);
	err = balloon_follow(dev, UINT64_MAX, 60000, &target);
	check("balloon-inflate", !err && target == BALLOON_PAGES,
	      "target %" PRIu64 " pages (host asked %u), %" PRIu64 " in the balloon (%" PRIu64
	      " KiB)%s%s", target, BALLOON_PAGES, vio_balloon_drv_pages(dev),
	      vio_balloon_drv_bytes(dev) >> 10, err ? ": " : "", err ? strerror(-err) : "");
	printf("VIO-BALLOON-INFLATED\n");
	fflush(stdout);
	err = balloon_follow(dev, 0, 60000, &target);
	check("balloon-deflate", !err, "target %" PRIu64 ", %" PRIu64 " pages in the balloon%s%s",
	      target, vio_balloon_drv_pages(dev), err ? ": " : "", err ? strerror(-err) : "");
}

/* ------------------------------------------------------------------------ */

/* Waits (30 s at most) for the host's DONE on the console. */
static void wait_host(struct vio_drv_device *dev)
{
	char buf[64];
	size_t got = 0;
	int64_t end = now_ms() + 30000;

	printf("VIO-WAIT-HOST\n");
	while (now_ms() < end && got < sizeof(buf) - 1) {
		ssize_t n = vio_console_drv_read(dev, buf + got, sizeof(buf) - 1 - got, 1000);

		if (n == -ETIMEDOUT)
			continue;
		if (n < 0)
			break;
		got += (size_t)n;
		buf[got] = 0;
		if (strstr(buf, "DONE"))
			return;
	}
	printf("the host never said DONE on the console\n");
}

/* A crash inside libvio: the addresses of the stack, for addr2line on the
 * host (the program is static, so they are the binary's own). */
static void on_fault(int sig)
{
	static const char msg[] = "VIO-CRASH signal, backtrace:\n";
	void *frames[32];
	int n = backtrace(frames, 32);

	(void)sig;
	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(128 + sig);
	backtrace_symbols_fd(frames, n, 1);
	_exit(128 + sig);
}

static bool wanted(const char *checks, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = checks; (p = strstr(p, name)); p += n)
		if ((p == checks || p[-1] == ',') && (p[n] == ',' || p[n] == 0))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	const char *platform = "vfio", *checks = "rng,blk,console,net,balloon";
	uint32_t seed = 0;
	struct vio_bus bus;
	struct vio_rng_driver rngd;
	struct vio_blk_driver blkd;
	struct vio_console_driver cond;
	struct vio_net_driver netd;
	struct vio_balloon_driver bald;
	static struct pci_fn fns[32];
	unsigned nfns;
	static const char *const order[] = { "rng", "blk", "console", "net", "balloon" };
	struct vio_drv_device *console = NULL;
	/* A device that stops answering (a DMA fault) must fail a check,
	 * not hang the guest: blk and net wait forever by default. */
	const struct vio_blk_drv_opts blk_opts = { .timeout_ms = 10000 };
	/* rng and console buffers as chains of several segments: indirect
	 * tables where negotiated, descriptor chains otherwise. */
	const struct vio_rng_drv_opts rng_opts = { .segs = 4 };
	const struct vio_console_drv_opts con_opts = { .segs = 3 };
	const struct vio_net_drv_opts net_opts = { .timeout_ms = 10000,
						   .config_changed = net_config_changed };

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGSEGV, on_fault);
	signal(SIGBUS, on_fault);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--verbose"))
			verbose = true;
		else if (i + 1 < argc && !strcmp(argv[i], "--platform"))
			platform = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--personality"))
			personality = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--seed"))
			seed = (uint32_t)strtoul(argv[++i], NULL, 0);
		else if (i + 1 < argc && !strcmp(argv[i], "--checks"))
			checks = *argv[i + 1] ? argv[i + 1] : checks, i++;
		else {
			fprintf(stderr, "usage: %s --platform vfio|uio --personality P --seed N "
				"[--checks LIST] [--verbose]\n", argv[0]);
			return 2;
		}
	}

	vio_bus_init(&bus, bus_alloc, bus_free, NULL);
	bus.log = log_cb;
	if (vio_rng_drv_register(&bus, &rngd, &rng_opts) ||
	    vio_blk_drv_register(&bus, &blkd, &blk_opts) ||
	    vio_console_drv_register(&bus, &cond, &con_opts) || vio_net_drv_register(&bus, &netd, &net_opts) ||
	    vio_balloon_drv_register(&bus, &bald, NULL)) {
		check("drivers", false, "a driver did not register");
		return 1;
	}
	nfns = pci_glue_find(fns, sizeof(fns) / sizeof(fns[0]), platform, log_cb, NULL);
	if (verbose)
		printf("step: %u virtio functions\n", nfns);
	for (unsigned k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		struct pci_fn *f = NULL;
		char name[32];

		if (!wanted(checks, order[k]))
			continue;
		for (unsigned i = 0; i < nfns; i++)
			if (type_name(fns[i].virtio_id) && !strcmp(type_name(fns[i].virtio_id), order[k]))
				f = &fns[i];
		if (!f) {
			snprintf(name, sizeof(name), "%s-probe", order[k]);
			check(name, false, "no virtio %s function found on the PCI bus", order[k]);
			continue;
		}
		if (verbose)
			printf("step: opening %s (%s)\n", f->bdf, order[k]);
		f->open_err = pci_glue_open(f, &bus);
		if (verbose)
			printf("step: open %s: %d\n", f->bdf, f->open_err);
		if (!probe_check(f))
			continue;
		switch (f->virtio_id) {
		case VIO_ID_RNG: check_rng(f->dev); break;
		case VIO_ID_BLOCK: check_blk(f->dev, seed); break;
		case VIO_ID_CONSOLE: check_console(f->dev); console = f->dev; break;
		case VIO_ID_NET: check_net(f->dev); check_net_link(f->dev); break;
		case VIO_ID_BALLOON: check_balloon(f->dev); break;
		}
	}
	/* The host checks the balloon through QMP after the guest's last
	 * step: powering off now would take QEMU away under it. It says
	 * DONE on the console when it has finished. */
	if (console)
		wait_host(console);
	for (unsigned i = 0; i < nfns; i++)
		pci_glue_close(&fns[i], &bus);
	return failures ? 1 : 0;
}
