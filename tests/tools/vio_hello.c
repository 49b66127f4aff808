/*
 * vio_hello.c - a program built against an installed libvio, the way a
 * user of the library builds one (tests/tools/test_install.sh compiles
 * it with `pkg-config --cflags --libs vio`, against the shared library and
 * again statically).
 *
 * It proves the linkage, not the library: an entropy device and its driver
 * in one process over the loopback transport (direct mode: the device runs
 * inside the driver's kick), the device's source a fixed byte pattern, so
 * bytes read through the driver must be exactly those. It also calls
 * vio_mem_translate_hint(), an inline in a public header that calls into
 * the library, and vio_strerror(). Prints "vio_hello: ok" and exits 0, or
 * says what failed and exits 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vio/devices.h>
#include <vio/drivers.h>
#include <vio/mem.h>
#include <vio/transport.h>

#define PATTERN 0xa5

static ssize_t fixed_source(void *opaque, void *buf, size_t len)
{
	(void)opaque;
	memset(buf, PATTERN, len);
	return (ssize_t)len;
}

static void *heap_alloc(void *opaque, size_t size)
{
	(void)opaque;
	(void)size;
	return calloc(1, size);
}

static void heap_free(void *opaque, void *p, size_t size)
{
	(void)opaque;
	(void)size;
	free(p);
}

static int fail(const char *what, long r)
{
	fprintf(stderr, "vio_hello: %s: %ld (%s)\n", what, r, r < 0 ? vio_strerror((int)r) : "");
	return 1;
}

static int mem_check(void)
{
	static unsigned char host[4096];
	struct vio_mem_region table[2];
	struct vio_mem mem;
	struct vio_iov iov;
	unsigned hint = 99, n = 0;
	int r;

	vio_mem_init(&mem, table, 2);
	if ((r = vio_mem_add(&mem, 0x1000, sizeof(host), host)) != 0)
		return fail("vio_mem_add", r);

	/* hint 99 is no region: the inline takes the library's slow path. */
	if (vio_mem_translate_hint(&mem, &hint, 0x1010, 16, &iov, 1, &n) != 0 || n != 1 ||
	    iov.base != host + 0x10 || hint != 0)
		return fail("vio_mem_translate_hint", -EFAULT);
	if (vio_mem_translate_hint(&mem, &hint, 0x3000, 16, &iov, 1, &n) != -EFAULT)
		return fail("vio_mem_translate_hint outside the region", 0);
	return 0;
}

int main(void)
{
	static struct vio_rng_dev rng;
	static struct vio_loopback lb;
	static struct vio_bus bus;
	static struct vio_rng_driver drv;
	const struct vio_rng_dev_opts opts = { .source = fixed_source };
	unsigned char buf[300];
	ssize_t got;
	int r;

	if (mem_check())
		return 1;
	if ((r = vio_rng_dev_init(&rng, &opts)) != 0)
		return fail("vio_rng_dev_init", r);
	if ((r = vio_loopback_init(&lb, &rng.dev, 1u << 20, false)) != 0)
		return fail("vio_loopback_init", r);
	vio_bus_init(&bus, heap_alloc, heap_free, NULL);
	if ((r = vio_rng_drv_register(&bus, &drv, NULL)) != 0)
		return fail("vio_rng_drv_register", r);
	if ((r = vio_bus_add_device(&bus, &lb.vdev)) != 0)
		return fail("vio_bus_add_device", r);
	if (lb.vdev.driver != &drv.drv)
		return fail("the rng driver did not bind", 0);
	memset(buf, 0, sizeof(buf));
	got = vio_rng_drv_read(&lb.vdev, buf, sizeof(buf), 1000);
	if (got != (ssize_t)sizeof(buf))
		return fail("vio_rng_drv_read", (long)got);
	for (size_t i = 0; i < sizeof(buf); i++)
		if (buf[i] != PATTERN)
			return fail("a byte the device did not write, at", (long)i);
	vio_bus_remove_device(&bus, &lb.vdev);
	vio_rng_drv_unregister(&bus, &drv);
	vio_loopback_fini(&lb);
	vio_rng_dev_fini(&rng);
	printf("vio_hello: ok (%zu bytes through the rng driver and device, %s)\n", sizeof(buf),
	       vio_strerror(-EINVAL));
	return 0;
}
