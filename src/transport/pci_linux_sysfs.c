/*
 * pci_linux_sysfs.c - finding virtio PCI functions in Linux's sysfs and
 * moving one to the driver libvio drives it through (vfio-pci or
 * uio_pci_generic). See vio/transport/pci_linux.h.
 *
 * Everything here reads small text files the kernel writes
 * (SYSFS_ROOT/bus/pci/devices/BDF/{vendor,device,subsystem_device}, the
 * `driver` link), and writes the few files that change a binding. The
 * root is a parameter so the tests can build a tree under /tmp with
 * garbage in it: nothing read is trusted to be well formed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pci_linux_priv.h"
#include "vio/spec.h"
#include "vio/spec/pci.h"
#include "vio/transport/pci_linux.h"

const char *vio__pci_linux_root(const char *sysfs_root)
{
	return sysfs_root ? sysfs_root : "/sys";
}

/* Only what a sysfs PCI name is made of, "DDDD:BB:SS.F" (the domain may
 * be longer), so a name can never climb out of the directory. */
bool vio__pci_linux_bdf_ok(const char *bdf)
{
	size_t len, colons = 0, dots = 0;

	if (!bdf)
		return false;
	len = strlen(bdf);
	if (len < 7 || len >= VIO_PCI_LINUX_BDF_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = bdf[i];

		if (c == ':')
			colons++;
		else if (c == '.')
			dots++;
		else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return colons == 2 && dots == 1 && bdf[0] != '.' && bdf[0] != ':';
}

int vio__pci_linux_path(char *buf, size_t cap, const char *sysfs_root, const char *bdf,
			const char *file)
{
	int n = snprintf(buf, cap, "%s/bus/pci/devices/%s%s%s", vio__pci_linux_root(sysfs_root),
			 bdf, file ? "/" : "", file ? file : "");

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int vio__pci_linux_read_text(const char *path, char *buf, size_t cap)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, cap - 1);
	if (n < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	close(fd);
	buf[n] = '\0';
	return (int)n;
}

int vio__pci_linux_write_text(const char *path, const char *text)
{
	size_t len = strlen(text);
	ssize_t n;
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = write(fd, text, len);
	if (n < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	close(fd);
	return (size_t)n == len ? 0 : -EIO;
}

/* "0x1af4\n" as sysfs writes it: hex with an optional 0x, nothing after
 * but white space, at most 16 bits. */
static int parse_u16(const char *s, uint16_t *out)
{
	unsigned long v = 0;
	int digits = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (; *s; s++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		v = v * 16 + (unsigned long)d;
		if (v > 0xffff)
			return -EINVAL;
		digits++;
	}
	while (*s == '\n' || *s == ' ' || *s == '\t')
		s++;
	if (!digits || *s)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

static int read_id(const char *sysfs_root, const char *bdf, const char *file, uint16_t *out)
{
	char path[PATH_MAX], text[32];
	int r = vio__pci_linux_path(path, sizeof(path), sysfs_root, bdf, file);

	if (r == 0)
		r = vio__pci_linux_read_text(path, text, sizeof(text));
	if (r < 0)
		return r;
	return parse_u16(text, out);
}

int vio__pci_linux_driver(const char *sysfs_root, const char *bdf, char *out, size_t cap)
{
	char path[PATH_MAX], link[PATH_MAX];
	const char *base;
	ssize_t n;
	int r = vio__pci_linux_path(path, sizeof(path), sysfs_root, bdf, "driver");

	out[0] = '\0';
	if (r < 0)
		return r;
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return errno == ENOENT ? 0 : -errno;
	link[n] = '\0';
	base = strrchr(link, '/');
	base = base ? base + 1 : link;
	if (strlen(base) >= cap)
		return -ENAMETOOLONG;
	strcpy(out, base);
	return 0;
}

int vio_pci_linux_lookup(const char *sysfs_root, const char *bdf, struct vio_pci_linux_fn *fn)
{
	char path[PATH_MAX];
	struct stat st;
	int r;

	memset(fn, 0, sizeof(*fn));
	if (!vio__pci_linux_bdf_ok(bdf))
		return -EINVAL;
	r = vio__pci_linux_path(path, sizeof(path), sysfs_root, bdf, NULL);
	if (r < 0)
		return r;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return -ENODEV;
	strcpy(fn->bdf, bdf);
	if (read_id(sysfs_root, bdf, "vendor", &fn->vendor) < 0 ||
	    read_id(sysfs_root, bdf, "device", &fn->device) < 0)
		return -EIO;
	/* Optional: a modern function needs neither. */
	if (read_id(sysfs_root, bdf, "subsystem_vendor", &fn->subsys_vendor) < 0)
		fn->subsys_vendor = 0;
	if (read_id(sysfs_root, bdf, "subsystem_device", &fn->subsys_device) < 0)
		fn->subsys_device = 0;
	if (vio__pci_linux_driver(sysfs_root, bdf, fn->driver, sizeof(fn->driver)) < 0)
		fn->driver[0] = '\0';

	if (fn->vendor != VIO_PCI_VENDOR_ID)
		return 0;
	if (fn->device >= VIO_PCI_MODERN_DEVICE_BASE && fn->device < VIO_PCI_MODERN_DEVICE_BASE + 0x40) {
		fn->type = (uint16_t)(fn->device - VIO_PCI_MODERN_DEVICE_BASE);
	} else if (fn->device >= VIO_PCI_LEGACY_DEVICE_FIRST &&
		   fn->device <= VIO_PCI_LEGACY_DEVICE_LAST) {
		fn->transitional = true;
		fn->type = fn->subsys_device;
	}
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int vio_pci_linux_scan(const char *sysfs_root, struct vio_pci_linux_fn *out, size_t cap,
		       size_t *n)
{
	char path[PATH_MAX];
	char **names = NULL;
	size_t count = 0, room = 0, found = 0;
	struct dirent *de;
	DIR *dir;
	int r;

	*n = 0;
	r = snprintf(path, sizeof(path), "%s/bus/pci/devices", vio__pci_linux_root(sysfs_root));
	if (r < 0 || (size_t)r >= sizeof(path))
		return -ENAMETOOLONG;
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		if (!vio__pci_linux_bdf_ok(de->d_name))
			continue;
		if (count == room) {
			size_t nroom = room ? room * 2 : 32;
			char **nn = realloc(names, nroom * sizeof(*names));

			if (!nn) {
				r = -ENOMEM;
				goto out;
			}
			names = nn;
			room = nroom;
		}
		names[count] = strdup(de->d_name);
		if (!names[count]) {
			r = -ENOMEM;
			goto out;
		}
		count++;
	}
	if (count)
		qsort(names, count, sizeof(*names), name_cmp);
	r = 0;
	for (size_t i = 0; i < count; i++) {
		struct vio_pci_linux_fn fn;

		if (vio_pci_linux_lookup(sysfs_root, names[i], &fn) < 0 || fn.type == 0)
			continue;
		if (found < cap)
			out[found] = fn;
		found++;
	}
	*n = found;
out:
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	closedir(dir);
	return r;
}

int vio_pci_linux_bind(const char *sysfs_root, const char *bdf, const char *driver)
{
	char path[PATH_MAX], probe[PATH_MAX];
	struct vio_pci_linux_fn fn;
	int r;

	if (!driver || !driver[0] || strchr(driver, '/') || strlen(driver) >= VIO_PCI_LINUX_DRIVER_MAX)
		return -EINVAL;
	r = vio_pci_linux_lookup(sysfs_root, bdf, &fn);
	if (r < 0 && r != -EIO)
		return r;
	if (strcmp(fn.driver, driver) == 0)
		return 0;

	/* The override first: once the function is unbound, nothing but
	 * the driver we name may take it, whatever probes in between. */
	r = vio__pci_linux_path(path, sizeof(path), sysfs_root, bdf, "driver_override");
	if (r == 0)
		r = vio__pci_linux_write_text(path, driver);
	if (r < 0)
		return r;
	if (fn.driver[0]) {
		r = vio__pci_linux_path(path, sizeof(path), sysfs_root, bdf, "driver/unbind");
		if (r == 0)
			r = vio__pci_linux_write_text(path, bdf);
		if (r < 0)
			return r;
	}
	r = snprintf(path, sizeof(path), "%s/bus/pci/drivers_probe", vio__pci_linux_root(sysfs_root));
	if (r < 0 || (size_t)r >= sizeof(path))
		return -ENAMETOOLONG;
	/* Its result says little (no driver matched is not an error to
	 * it): the link afterwards is what counts. */
	(void)vio__pci_linux_write_text(path, bdf);
	r = vio__pci_linux_driver(sysfs_root, bdf, fn.driver, sizeof(fn.driver));
	if (r == 0 && strcmp(fn.driver, driver) == 0)
		return 0;
	/* Not taken: clear the override and probe again, so that the
	 * driver it had (or any other) may take it back. */
	if (vio__pci_linux_path(probe, sizeof(probe), sysfs_root, bdf, "driver_override") == 0 &&
	    vio__pci_linux_write_text(probe, "\n") == 0)
		(void)vio__pci_linux_write_text(path, bdf);
	return r < 0 ? r : -ENXIO;
}
