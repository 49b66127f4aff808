/*
 * test_pci_linux_sysfs.c - unit tests of the Linux PCI platform's sysfs
 * side (vio/transport/pci_linux.h) against a fake sysfs tree under /tmp:
 * discovery (good ids, bad ids, a transitional function's subsystem id,
 * unreadable files, garbage in files), binding (what it writes where, and
 * its refusals), and opening: every error path of vfio and uio, then a
 * whole uio platform over plain files (config space, a memory BAR that is
 * an mmapped file, an I/O BAR through pread/pwrite, the interrupt count).
 *
 * The fake tree has what the code reads and writes:
 *   ROOT/bus/pci/devices/BDF/{vendor,device,subsystem_vendor,
 *       subsystem_device,driver_override,config,resource,resourceN}
 *   ROOT/bus/pci/devices/BDF/driver -> ROOT/bus/pci/drivers/NAME
 *   ROOT/bus/pci/drivers/NAME/unbind, ROOT/bus/pci/drivers_probe
 * Files it writes start empty, so what was written is what they hold.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vio/spec.h"
#include "vio/spec/pci.h"
#include "vio/transport/pci_linux.h"

static char root[64];            /* /tmp/vio-pci-sysfs.XXXXXX */

/* ------------------------------------------------------------------------ */
/* The fake tree                                                            */

static void put_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void fput(const char *bdf, const char *file, const char *text)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/%s", root, bdf, file);
	put_file(path, text, strlen(text));
}

static void fget(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, cap - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
}

static void mkdirs(const char *path)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *s = tmp + 1; *s; s++) {
		if (*s == '/') {
			*s = '\0';
			mkdir(tmp, 0755);
			*s = '/';
		}
	}
	mkdir(tmp, 0755);
}

static void set_driver(const char *bdf, const char *driver)
{
	char path[PATH_MAX], target[PATH_MAX];

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/driver", root, bdf);
	unlink(path);
	if (!driver)
		return;
	snprintf(target, sizeof(target), "%s/bus/pci/drivers/%s", root, driver);
	mkdirs(target);
	strcat(target, "/unbind");
	put_file(target, "", 0);
	snprintf(target, sizeof(target), "%s/bus/pci/drivers/%s", root, driver);
	assert_int_equal(symlink(target, path), 0);
}

/* A function: ids as sysfs writes them ("0x%04x\n"); subsys NULL: no file. */
static void fake_fn(const char *bdf, const char *vendor, const char *device, const char *subsys,
		    const char *driver)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s", root, bdf);
	mkdirs(path);
	if (vendor)
		fput(bdf, "vendor", vendor);
	if (device)
		fput(bdf, "device", device);
	fput(bdf, "subsystem_vendor", "0x1af4\n");
	if (subsys)
		fput(bdf, "subsystem_device", subsys);
	fput(bdf, "driver_override", "");
	set_driver(bdf, driver);
}

static void rm_tree(const char *path)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
	char path[PATH_MAX];

	snprintf(root, sizeof(root), "/tmp/vio-pci-sysfs.XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(path, sizeof(path), "%s/bus/pci/devices", root);
	mkdirs(path);
	snprintf(path, sizeof(path), "%s/bus/pci/drivers_probe", root);
	put_file(path, "", 0);
	return 0;
}

static int teardown(void **state)
{
	rm_tree(root);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Discovery                                                                */

static void scan_good_ids(void **state)
{
	struct vio_pci_linux_fn fns[8];
	size_t n = 99;

	/* Out of name order on purpose: the list comes back sorted. */
	fake_fn("0000:00:07.0", "0x1af4\n", "0x1001\n", "0x0002\n", "virtio-pci");
	fake_fn("0000:00:04.0", "0x1af4\n", "0x1044\n", "0x1100\n", NULL);
	fake_fn("0000:00:05.0", "0x1af4\n", "0x1005\n", "0x0004\n", "uio_pci_generic");
	fake_fn("0000:00:02.0", "0x8086\n", "0x1237\n", "0x1100\n", NULL);     /* not virtio */
	fake_fn("0000:00:06.0", "0x1af4\n", "0x107f\n", NULL, "vfio-pci");     /* type 63 */

	assert_int_equal(vio_pci_linux_scan(root, fns, 8, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(fns[0].bdf, "0000:00:04.0");
	assert_int_equal(fns[0].type, 4);
	assert_false(fns[0].transitional);
	assert_string_equal(fns[0].driver, "");
	assert_string_equal(fns[1].bdf, "0000:00:05.0");
	assert_int_equal(fns[1].type, 4);
	assert_true(fns[1].transitional);
	assert_int_equal(fns[1].device, 0x1005);
	assert_string_equal(fns[1].driver, "uio_pci_generic");
	assert_string_equal(fns[2].bdf, "0000:00:06.0");
	assert_int_equal(fns[2].type, 63);
	assert_int_equal(fns[2].subsys_device, 0);    /* no file: 0 */
	assert_string_equal(fns[2].driver, "vfio-pci");
	assert_string_equal(fns[3].bdf, "0000:00:07.0");
	assert_int_equal(fns[3].type, 2);
	assert_true(fns[3].transitional);
	assert_string_equal(fns[3].driver, "virtio-pci");
}

static void scan_bad_ids(void **state)
{
	struct vio_pci_linux_fn fns[8];
	size_t n = 99;

	fake_fn("0000:00:01.0", "0x1af4\n", "0x1040\n", "0x1100\n", NULL);  /* type 0 */
	fake_fn("0000:00:02.0", "0x1af4\n", "0x1080\n", "0x1100\n", NULL);  /* past the modern range */
	fake_fn("0000:00:03.0", "0x1af4\n", "0x0fff\n", "0x0002\n", NULL);  /* below the legacy range */
	fake_fn("0000:00:04.0", "0x1af5\n", "0x1042\n", "0x0002\n", NULL);  /* another vendor */
	fake_fn("0000:00:05.0", "0x1af4\n", "0x1040\n", "0x0002\n", NULL);  /* modern: subsys ignored */
	assert_int_equal(vio_pci_linux_scan(root, fns, 8, &n), 0);
	assert_int_equal(n, 0);
}

static void scan_transitional_subsystem(void **state)
{
	struct vio_pci_linux_fn fns[8];
	size_t n = 99;

	/* The device id says "transitional"; the type is the subsystem id,
	 * whatever the legacy id suggests (0x1000 is net, this is blk). */
	fake_fn("0000:00:03.0", "0x1af4\n", "0x1000\n", "0x0002\n", NULL);
	fake_fn("0000:00:04.0", "0x1af4\n", "0x103f\n", "0x001a\n", NULL);  /* last id, fs */
	fake_fn("0000:00:05.0", "0x1af4\n", "0x1001\n", "0x0000\n", NULL);  /* no type */
	fake_fn("0000:00:06.0", "0x1af4\n", "0x1001\n", NULL, NULL);        /* no subsystem file */
	assert_int_equal(vio_pci_linux_scan(root, fns, 8, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(fns[0].bdf, "0000:00:03.0");
	assert_int_equal(fns[0].type, 2);
	assert_true(fns[0].transitional);
	assert_string_equal(fns[1].bdf, "0000:00:04.0");
	assert_int_equal(fns[1].type, 26);
}

static void scan_unreadable_files(void **state)
{
	struct vio_pci_linux_fn fns[8], fn;
	char path[PATH_MAX];
	size_t n = 99;

	fake_fn("0000:00:03.0", NULL, "0x1042\n", NULL, NULL);              /* no vendor file */
	fake_fn("0000:00:04.0", "0x1af4\n", NULL, NULL, NULL);              /* no device file */
	/* A directory where a file should be: open works, read fails
	 * (EISDIR), even for root, whom file modes do not stop. */
	fake_fn("0000:00:05.0", "0x1af4\n", NULL, NULL, NULL);
	snprintf(path, sizeof(path), "%s/bus/pci/devices/0000:00:05.0/device", root);
	mkdir(path, 0755);
	fake_fn("0000:00:06.0", "0x1af4\n", "0x1001\n", NULL, NULL);
	snprintf(path, sizeof(path), "%s/bus/pci/devices/0000:00:06.0/subsystem_device", root);
	mkdir(path, 0755);
	/* One good function among them is still found. */
	fake_fn("0000:00:07.0", "0x1af4\n", "0x1042\n", NULL, NULL);

	assert_int_equal(vio_pci_linux_scan(root, fns, 8, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(fns[0].bdf, "0000:00:07.0");
	assert_int_equal(vio_pci_linux_lookup(root, "0000:00:03.0", &fn), -EIO);
	assert_int_equal(vio_pci_linux_lookup(root, "0000:00:05.0", &fn), -EIO);
	/* Only the subsystem id unreadable: found, but it has no type. */
	assert_int_equal(vio_pci_linux_lookup(root, "0000:00:06.0", &fn), 0);
	assert_true(fn.transitional);
	assert_int_equal(fn.type, 0);
}

static void scan_garbage(void **state)
{
	static const char *const bad[] = {
		"0xzz12\n", "", "\n", "0x", "0x1af4 junk\n", "0x11af4\n", "-0x1af4\n",
		("0x1a\xff" "4\n"), "1af4\n\x01", " 0x1af4\n",
	};
	struct vio_pci_linux_fn fns[16], fn;
	char bdf[32];
	size_t n = 99;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(bdf, sizeof(bdf), "0000:00:%02zx.0", i + 1);
		fake_fn(bdf, bad[i], "0x1042\n", NULL, NULL);
		assert_int_equal(vio_pci_linux_lookup(root, bdf, &fn), -EIO);
		snprintf(bdf, sizeof(bdf), "0000:01:%02zx.0", i + 1);
		fake_fn(bdf, "0x1af4\n", bad[i], NULL, NULL);
		assert_int_equal(vio_pci_linux_lookup(root, bdf, &fn), -EIO);
	}
	/* Entries that are no PCI name at all are not looked at. */
	fake_fn("not-a-device", "0x1af4\n", "0x1042\n", NULL, NULL);
	fake_fn("0000:02:00.0", "1af4", "1042", NULL, NULL);   /* no 0x, no newline: fine */
	assert_int_equal(vio_pci_linux_scan(root, fns, 16, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(fns[0].bdf, "0000:02:00.0");
	assert_int_equal(fns[0].type, 2);
}

static void scan_capacity(void **state)
{
	struct vio_pci_linux_fn fns[2];
	char bdf[32];
	size_t n = 99;

	for (int i = 0; i < 5; i++) {
		snprintf(bdf, sizeof(bdf), "0000:00:%02x.0", i + 1);
		fake_fn(bdf, "0x1af4\n", "0x1042\n", NULL, NULL);
	}
	memset(fns, 0x5a, sizeof(fns));
	assert_int_equal(vio_pci_linux_scan(root, fns, 1, &n), 0);
	assert_int_equal(n, 5);                  /* all counted, */
	assert_string_equal(fns[0].bdf, "0000:00:01.0");
	assert_int_equal(fns[1].bdf[0], 0x5a);   /* one written */
	assert_int_equal(vio_pci_linux_scan(root, NULL, 0, &n), 0);
	assert_int_equal(n, 5);
}

static void scan_no_bus(void **state)
{
	char path[PATH_MAX];
	size_t n = 99;

	snprintf(path, sizeof(path), "%s/nothing-here", root);
	assert_int_equal(vio_pci_linux_scan(path, NULL, 0, &n), -ENOENT);
	assert_int_equal(n, 0);
}

static void lookup_bad_names(void **state)
{
	static const char *const bad[] = {
		"../../../etc", "0000:00:04.0/..", "0000:00:04", "", "0000:00:04.0:1",
		"0000:00:0g.0", ".000:00:04:0", "0000:00:04.0.0", "00000000000000000000000000000:00:04.0",
	};
	struct vio_pci_linux_fn fn;

	fake_fn("0000:00:04.0", "0x1af4\n", "0x1042\n", NULL, NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(vio_pci_linux_lookup(root, bad[i], &fn), -EINVAL);
	assert_int_equal(vio_pci_linux_lookup(root, NULL, &fn), -EINVAL);
	assert_int_equal(vio_pci_linux_lookup(root, "0000:00:09.0", &fn), -ENODEV);
	assert_int_equal(vio_pci_linux_lookup(root, "0000:00:04.0", &fn), 0);
	assert_int_equal(fn.type, 2);
}

/* ------------------------------------------------------------------------ */
/* Binding                                                                  */

static void dev_file(char *path, const char *bdf, const char *file)
{
	snprintf(path, PATH_MAX, "%s/bus/pci/devices/%s/%s", root, bdf, file);
}

/* Waits (5 s at most) until the file holds text. */
static bool wait_for(const char *path, const char *text)
{
	char buf[64];

	for (int i = 0; i < 5000; i++) {
		fget(path, buf, sizeof(buf));
		if (strcmp(buf, text) == 0)
			return true;
		usleep(1000);
	}
	return false;
}

/*
 * The kernel's side of a bind, played by this process while a child
 * binds. drivers_probe is a FIFO whose buffer we fill first, so the
 * child's probe write blocks until we drain it, as the kernel's write
 * returns only after probing. Once the override names the driver and the
 * old driver was told to unbind, we "bind" (move the link) if take, then
 * drain: the child's check sees the result. Returns the child's bind
 * result; *probes: how many probe writes it made.
 */
static int bind_with_kernel(const char *bdf, const char *old, const char *driver, bool take,
			    int *probes)
{
	char path[PATH_MAX], buf[4096];
	size_t filler = 0, got = 0;
	pid_t pid;
	int fd, st;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/bus/pci/drivers_probe", root);
	unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	fd = open(path, O_RDWR | O_NONBLOCK);
	assert_true(fd >= 0);
	fcntl(fd, F_SETPIPE_SZ, 4096);
	memset(buf, 'x', sizeof(buf));
	while ((n = write(fd, buf, sizeof(buf) - filler % sizeof(buf))) > 0)
		filler += (size_t)n;
	while ((n = write(fd, buf, 1)) > 0)
		filler++;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int r;

		alarm(10);      /* a broken bind must not hang the test */
		r = vio_pci_linux_bind(root, bdf, driver);

		_exit(r == 0 ? 0 : r < 0 && -r < 200 ? -r : 255);
	}
	dev_file(path, bdf, "driver_override");
	assert_true(wait_for(path, driver));
	if (old) {
		snprintf(path, sizeof(path), "%s/bus/pci/drivers/%s/unbind", root, old);
		assert_true(wait_for(path, bdf));
	}
	if (take)
		set_driver(bdf, driver);
	/* Drain the filler, then collect what the child wrote until it is
	 * gone (our descriptor keeps the FIFO's data when it closes). */
	while (filler) {
		n = read(fd, buf, filler < sizeof(buf) ? filler : sizeof(buf));
		if (n > 0)
			filler -= (size_t)n;
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	while ((n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fd);
	/* Each probe write was the BDF, whole. */
	*probes = 0;
	for (size_t off = 0; off < got; off += strlen(bdf), (*probes)++)
		assert_int_equal(strncmp(buf + off, bdf, strlen(bdf)), 0);
	return -WEXITSTATUS(st);
}

static void bind_moves_driver(void **state)
{
	struct vio_pci_linux_fn fn;

	int probes;

	fake_fn("0000:00:04.0", "0x1af4\n", "0x1044\n", NULL, "virtio-pci");
	assert_int_equal(bind_with_kernel("0000:00:04.0", "virtio-pci", "vfio-pci", true, &probes), 0);
	assert_int_equal(probes, 1);
	assert_int_equal(vio_pci_linux_lookup(root, "0000:00:04.0", &fn), 0);
	assert_string_equal(fn.driver, "vfio-pci");
}

static void bind_unbound_function(void **state)
{
	int probes;

	/* No driver: no unbind, straight to the override and the probe. */
	fake_fn("0000:00:05.0", "0x1af4\n", "0x1005\n", "0x0004\n", NULL);
	assert_int_equal(bind_with_kernel("0000:00:05.0", NULL, "uio_pci_generic", true, &probes), 0);
	assert_int_equal(probes, 1);
}

static void bind_not_taken(void **state)
{
	char path[PATH_MAX], text[64];
	int probes;

	/* Nothing takes it: -ENXIO, the override cleared again and a
	 * second probe, for the old driver. */
	fake_fn("0000:00:04.0", "0x1af4\n", "0x1044\n", NULL, "virtio-pci");
	assert_int_equal(bind_with_kernel("0000:00:04.0", "virtio-pci", "vfio-pci", false, &probes),
			 -ENXIO);
	assert_int_equal(probes, 2);
	dev_file(path, "0000:00:04.0", "driver_override");
	fget(path, text, sizeof(text));
	assert_string_equal(text, "\n");
}

static void bind_already_bound(void **state)
{
	char path[PATH_MAX], text[64];

	fake_fn("0000:00:04.0", "0x1af4\n", "0x1044\n", NULL, "vfio-pci");
	assert_int_equal(vio_pci_linux_bind(root, "0000:00:04.0", "vfio-pci"), 0);
	/* Nothing was written. */
	dev_file(path, "0000:00:04.0", "driver_override");
	fget(path, text, sizeof(text));
	assert_string_equal(text, "");
	snprintf(path, sizeof(path), "%s/bus/pci/drivers/vfio-pci/unbind", root);
	fget(path, text, sizeof(text));
	assert_string_equal(text, "");
}

static void bind_refusals(void **state)
{
	char path[PATH_MAX];

	fake_fn("0000:00:04.0", "0x1af4\n", "0x1044\n", NULL, "virtio-pci");
	assert_int_equal(vio_pci_linux_bind(root, "0000:00:09.0", "vfio-pci"), -ENODEV);
	assert_int_equal(vio_pci_linux_bind(root, "../x", "vfio-pci"), -EINVAL);
	assert_int_equal(vio_pci_linux_bind(root, "0000:00:04.0", "../../x"), -EINVAL);
	assert_int_equal(vio_pci_linux_bind(root, "0000:00:04.0", ""), -EINVAL);
	assert_int_equal(vio_pci_linux_bind(root, "0000:00:04.0", NULL), -EINVAL);
	/* No driver_override file (a kernel before 3.16): its errno, and
	 * the function stays with its driver (no unbind written). */
	dev_file(path, "0000:00:04.0", "driver_override");
	unlink(path);
	assert_int_equal(vio_pci_linux_bind(root, "0000:00:04.0", "vfio-pci"), -ENOENT);
	snprintf(path, sizeof(path), "%s/bus/pci/drivers/virtio-pci/unbind", root);
	{
		char text[64];

		fget(path, text, sizeof(text));
		assert_string_equal(text, "");
	}
}

/* ------------------------------------------------------------------------ */
/* Opening: error paths                                                     */

static void open_errors(void **state)
{
	struct vio_pci_linux p;
	char path[PATH_MAX], dev[PATH_MAX];

	fake_fn("0000:00:04.0", "0x1af4\n", "0x1044\n", NULL, "virtio-pci");
	assert_int_equal(vio_pci_linux_open_vfio(&p, root, "0000:00:09.0", NULL), -ENODEV);
	assert_int_equal(vio_pci_linux_open_uio(&p, root, NULL, "0000:00:09.0", NULL), -ENODEV);
	assert_int_equal(vio_pci_linux_open_vfio(&p, root, "bad/name", NULL), -EINVAL);
	/* Bound, but to something else. */
	assert_int_equal(vio_pci_linux_open_vfio(&p, root, "0000:00:04.0", NULL), -ENXIO);
	assert_int_equal(vio_pci_linux_open_uio(&p, root, NULL, "0000:00:04.0", NULL), -ENXIO);
	set_driver("0000:00:04.0", NULL);
	assert_int_equal(vio_pci_linux_open_vfio(&p, root, "0000:00:04.0", NULL), -ENXIO);

	/* vfio-pci, without a group link; with a group that has no node. */
	set_driver("0000:00:04.0", "vfio-pci");
	assert_int_equal(vio_pci_linux_open_vfio(&p, root, "0000:00:04.0", NULL), -ENOENT);
	dev_file(path, "0000:00:04.0", "iommu_group");
	assert_int_equal(symlink("../../../kernel/iommu_groups/987654321", path), 0);
	assert_int_equal(vio_pci_linux_open_vfio(&p, root, "0000:00:04.0", NULL), -ENOENT);
	unlink(path);
	assert_int_equal(symlink("../../../kernel/iommu_groups/1x", path), 0);
	assert_int_equal(vio_pci_linux_open_vfio(&p, root, "0000:00:04.0", NULL), -ENOENT);

	/* uio_pci_generic, without config; without a uio directory; with
	 * one that names no node in dev_root. */
	set_driver("0000:00:04.0", "uio_pci_generic");
	assert_int_equal(vio_pci_linux_open_uio(&p, root, root, "0000:00:04.0", NULL), -ENOENT);
	fput("0000:00:04.0", "config", "");
	assert_int_equal(vio_pci_linux_open_uio(&p, root, root, "0000:00:04.0", NULL), -ENOENT);
	dev_file(path, "0000:00:04.0", "uio/uio7");
	mkdirs(path);
	snprintf(dev, sizeof(dev), "%s/dev", root);
	mkdirs(dev);
	assert_int_equal(vio_pci_linux_open_uio(&p, root, dev, "0000:00:04.0", NULL), -ENOENT);
	/* A failed open leaves p closed: closing again is harmless. */
	vio_pci_linux_close(&p);
}

/* ------------------------------------------------------------------------ */
/* A whole uio platform over files                                          */

#define MEM_BAR_LEN 0x4000u
#define IO_BAR_LEN 0x20u

static void fake_uio(const char *bdf)
{
	char path[PATH_MAX], res[1024] = "";
	uint8_t cfg[256], mem[MEM_BAR_LEN], io[IO_BAR_LEN];
	uint32_t count = 5;

	fake_fn(bdf, "0x1af4\n", "0x1001\n", "0x0002\n", "uio_pci_generic");
	memset(cfg, 0, sizeof(cfg));
	cfg[0] = 0xf4; cfg[1] = 0x1a; cfg[2] = 0x01; cfg[3] = 0x10;
	cfg[VIO_PCI_CFG_COMMAND + 1] = VIO_PCI_COMMAND_INTX_DISABLE >> 8;   /* masked */
	cfg[VIO_PCI_CFG_INTERRUPT_PIN] = 1;                                  /* INTA */
	dev_file(path, bdf, "config");
	put_file(path, cfg, sizeof(cfg));
	for (unsigned i = 0; i < sizeof(mem); i++)
		mem[i] = (uint8_t)(i * 3 + 1);
	for (unsigned i = 0; i < sizeof(io); i++)
		io[i] = (uint8_t)(0x80 + i);
	dev_file(path, bdf, "resource0");
	put_file(path, io, sizeof(io));
	dev_file(path, bdf, "resource4");
	put_file(path, mem, sizeof(mem));
	/* BAR 0 I/O, 1 absent, 2 garbage, 3 memory without a file, 4
	 * memory, 5 absent; then the ROM and the rest, as sysfs lists them. */
	strcat(res, "0x000000000000c040 0x000000000000c05f 0x0000000000040101\n");
	strcat(res, "0x0000000000000000 0x0000000000000000 0x0000000000000000\n");
	strcat(res, "garbage\n");
	strcat(res, "0x00000000fe000000 0x00000000fe003fff 0x000000000014220c\n");
	strcat(res, "0x00000000fe004000 0x00000000fe007fff 0x000000000014220c\n");
	strcat(res, "0x0000000000000000 0x0000000000000000 0x0000000000000000\n");
	strcat(res, "0x0000000000000000 0x0000000000000000 0x0000000000000000\n");
	fput(bdf, "resource", res);
	dev_file(path, bdf, "uio/uio3");
	mkdirs(path);
	snprintf(path, sizeof(path), "%s/dev", root);
	mkdirs(path);
	snprintf(path, sizeof(path), "%s/dev/uio3", root);
	put_file(path, &count, sizeof(count));
}

static void uio_over_files(void **state)
{
	struct vio_pci_linux p;
	char dev[PATH_MAX], path[PATH_MAX];
	uint8_t cfg[256];
	uint32_t v32;
	uint16_t v16;
	bool io;

	fake_uio("0000:00:07.0");
	snprintf(dev, sizeof(dev), "%s/dev", root);
	assert_int_equal(vio_pci_linux_open_uio(&p, root, dev, "0000:00:07.0", NULL), 0);
	assert_int_equal(p.plat.version, VIO_PCI_PLATFORM_VERSION);
	assert_null(p.plat.dma_alloc);          /* no DMA memory given */
	assert_non_null(p.plat.now_ns);

	/* Open turned on I/O, memory and bus mastering, left the rest. */
	assert_int_equal(p.plat.cfg_read(&p, VIO_PCI_CFG_COMMAND, &v16, 2), 0);
	assert_int_equal(v16, VIO_PCI_COMMAND_IO | VIO_PCI_COMMAND_MEMORY | VIO_PCI_COMMAND_MASTER |
			 VIO_PCI_COMMAND_INTX_DISABLE);
	assert_int_equal(p.plat.cfg_read(&p, 0, &v32, 4), 0);
	assert_int_equal(v32, 0x10011af4);
	/* Config accesses: bad widths, misaligned, past the end. */
	assert_int_equal(p.plat.cfg_read(&p, 0, &v32, 3), -EINVAL);
	assert_int_equal(p.plat.cfg_read(&p, 2, &v32, 4), -EINVAL);
	assert_int_equal(p.plat.cfg_read(&p, 256, &v32, 1), -EINVAL);
	assert_int_equal(p.plat.cfg_read(&p, 0xfffffffc, &v32, 4), -EINVAL);
	v32 = 0xa1b2c3d4;
	assert_int_equal(p.plat.cfg_write(&p, 0x40, &v32, 4), 0);
	dev_file(path, "0000:00:07.0", "config");
	fget(path, (char *)cfg, sizeof(cfg));
	assert_memory_equal(cfg + 0x40, &v32, 4);

	/* BARs from the resource file. */
	assert_int_equal(p.plat.bar_len(&p, 0, &io), IO_BAR_LEN);
	assert_true(io);
	assert_int_equal(p.plat.bar_len(&p, 1, &io), 0);
	assert_int_equal(p.plat.bar_len(&p, 2, &io), 0);
	assert_int_equal(p.plat.bar_len(&p, 3, &io), 0);   /* no resource3 file */
	assert_int_equal(p.plat.bar_len(&p, 4, &io), MEM_BAR_LEN);
	assert_false(io);
	assert_int_equal(p.plat.bar_len(&p, 6, &io), 0);
	assert_non_null(p.bars[4].map);

	/* The I/O BAR reads and writes exactly the width asked. */
	assert_int_equal(p.plat.read(&p, 0, 0, 1), 0x80);
	assert_int_equal(p.plat.read(&p, 0, 2, 2), 0x8382);
	assert_int_equal(p.plat.read(&p, 0, 4, 4), 0x87868584);
	p.plat.write(&p, 0, 0x12, 1, 0x5a);
	assert_int_equal(p.plat.read(&p, 0, 0x10, 4), 0x935a9190);
	/* The memory BAR through its mapping, each width. */
	assert_int_equal(p.plat.read(&p, 4, 0, 1), 1);
	assert_int_equal(p.plat.read(&p, 4, 0x100, 4),
			 (uint32_t)((0x100 * 3 + 1) & 0xff) | (uint32_t)((0x101 * 3 + 1) & 0xff) << 8 |
			 (uint32_t)((0x102 * 3 + 1) & 0xff) << 16 | (uint32_t)((0x103 * 3 + 1) & 0xff) << 24);
	p.plat.write(&p, 4, 0x3ff8, 8, UINT64_C(0x1122334455667788));
	assert_int_equal(p.plat.read(&p, 4, 0x3ff8, 8), UINT64_C(0x1122334455667788));
	assert_int_equal(p.plat.read(&p, 4, 0x3ffc, 2), 0x3344);
	/* Outside a BAR, or absent, or a bad width: all ones, no access. */
	assert_int_equal(p.plat.read(&p, 4, MEM_BAR_LEN - 2, 4), 0xffffffff);
	assert_int_equal(p.plat.read(&p, 4, UINT64_MAX - 1, 4), 0xffffffff);
	assert_int_equal(p.plat.read(&p, 1, 0, 2), 0xffff);
	assert_int_equal(p.plat.read(&p, 9, 0, 1), 0xff);
	assert_int_equal(p.plat.read(&p, 4, 0, 3), 0xffffff);
	p.plat.write(&p, 4, MEM_BAR_LEN, 1, 0);     /* dropped, no crash */

	/* Interrupts: INTx only; enabling unmasks the line. */
	assert_int_equal(p.plat.irq_wait(&p, 0), -EINVAL);         /* not enabled */
	assert_int_equal(p.plat.irq_enable(&p, 2), -ENOTSUP);
	assert_int_equal(p.plat.irq_enable(&p, 0), 0);
	assert_int_equal(p.plat.irq_enable(&p, 0), -EBUSY);
	assert_int_equal(p.plat.cfg_read(&p, VIO_PCI_CFG_COMMAND, &v16, 2), 0);
	assert_int_equal(v16 & VIO_PCI_COMMAND_INTX_DISABLE, 0);
	/* A regular file polls readable: the count it holds is read. */
	assert_int_equal(p.plat.irq_wait(&p, 0), 1);
	assert_int_equal(p.uio_count, 5);
	p.plat.irq_disable(&p);
	assert_int_equal(p.plat.cfg_read(&p, VIO_PCI_CFG_COMMAND, &v16, 2), 0);
	assert_int_equal(v16 & VIO_PCI_COMMAND_INTX_DISABLE, VIO_PCI_COMMAND_INTX_DISABLE);
	assert_int_equal(p.plat.irq_wait(&p, 0), -EINVAL);

	vio_pci_linux_close(&p);
	/* The writes reached the files. */
	dev_file(path, "0000:00:07.0", "resource0");
	fget(path, (char *)cfg, IO_BAR_LEN + 1);
	assert_int_equal(cfg[0x12], 0x5a);
}

/* A function without an interrupt pin: no line to enable. */
static void uio_no_pin(void **state)
{
	struct vio_pci_linux p;
	char dev[PATH_MAX];
	uint8_t pin = 0;

	fake_uio("0000:00:07.0");
	snprintf(dev, sizeof(dev), "%s/dev", root);
	assert_int_equal(vio_pci_linux_open_uio(&p, root, dev, "0000:00:07.0", NULL), 0);
	assert_true(p.intx);
	assert_int_equal(p.plat.cfg_write(&p, VIO_PCI_CFG_INTERRUPT_PIN, &pin, 1), 0);
	vio_pci_linux_close(&p);
	assert_int_equal(vio_pci_linux_open_uio(&p, root, dev, "0000:00:07.0", NULL), 0);
	assert_false(p.intx);
	assert_int_equal(p.plat.irq_enable(&p, 0), -ENODEV);
	assert_int_equal(p.plat.irq_wait(&p, 0), -EINVAL);
	vio_pci_linux_close(&p);
}

static void clock_ops(void **state)
{
	struct vio_pci_linux p;
	char dev[PATH_MAX];
	uint64_t t0, t1;

	fake_uio("0000:00:07.0");
	snprintf(dev, sizeof(dev), "%s/dev", root);
	assert_int_equal(vio_pci_linux_open_uio(&p, root, dev, "0000:00:07.0", NULL), 0);
	t0 = p.plat.now_ns(&p);
	p.plat.delay_us(&p, 2000);
	t1 = p.plat.now_ns(&p);
	assert_true(t1 - t0 >= 2000000u);
	assert_true(t1 - t0 < 2000000000u);
	vio_pci_linux_close(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(scan_good_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(scan_bad_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(scan_transitional_subsystem, setup, teardown),
		cmocka_unit_test_setup_teardown(scan_unreadable_files, setup, teardown),
		cmocka_unit_test_setup_teardown(scan_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(scan_capacity, setup, teardown),
		cmocka_unit_test_setup_teardown(scan_no_bus, setup, teardown),
		cmocka_unit_test_setup_teardown(lookup_bad_names, setup, teardown),
		cmocka_unit_test_setup_teardown(bind_moves_driver, setup, teardown),
		cmocka_unit_test_setup_teardown(bind_unbound_function, setup, teardown),
		cmocka_unit_test_setup_teardown(bind_not_taken, setup, teardown),
		cmocka_unit_test_setup_teardown(bind_already_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(bind_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(uio_over_files, setup, teardown),
		cmocka_unit_test_setup_teardown(uio_no_pin, setup, teardown),
		cmocka_unit_test_setup_teardown(clock_ops, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
