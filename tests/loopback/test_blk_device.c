/*
 * test_blk_device.c - the virtio-blk device alone, without a transport: its
 * options and its config space.
 *
 * Siblings, all in tests/loopback/: test_blk_data.c (data through every
 * backend), test_blk_driver.c (the driver's features and life cycle),
 * test_blk_malformed.c (broken requests posted raw), test_blk_backend.c
 * (backend errors and rare answers), test_blk_device.c (the device alone);
 * the matrix and the fixture are blk_fixture.{c,h}.
 */

#include "blk_fixture.h"

/* The device alone: options and config space                               */
static int dev_init_with(struct vio_blk_dev_opts o)
{
	struct vio_blk_dev blk;
	int r = vio_blk_dev_init(&blk, &o);

	if (r == 0)
		vio_blk_dev_fini(&blk);
	return r;
}

static void p_init_refuses_bad_options(void **state)
{
	const struct vio_blk_dev_opts ram = { .backend = VIO_BLK_BACKEND_RAM, .size = DISK_BYTES };
	struct vio_blk_dev_opts o;
	int fd;

	assert_int_equal(dev_init_with(ram), 0);
	o = ram, o.size = 0;
	assert_int_equal(dev_init_with(o), -EINVAL);
	o = ram, o.size = 100;
	assert_int_equal(dev_init_with(o), -EINVAL);
	o = ram, o.queue_size = 100;
	assert_int_equal(dev_init_with(o), -EINVAL);
	o = ram, o.blk_size = 1000;
	assert_int_equal(dev_init_with(o), -EINVAL);
	o = ram, o.blk_size = 256;
	assert_int_equal(dev_init_with(o), -EINVAL);
	o = ram, o.serial = "123456789012345678901";
	assert_int_equal(dev_init_with(o), -EINVAL);
	o = ram, o.num_queues = VIO_BLK_MAX_QUEUES + 1;
	assert_int_equal(dev_init_with(o), -EINVAL);
	o = ram, o.max_discard_seg = 300;
	assert_int_equal(dev_init_with(o), -EINVAL);
	o = ram, o.backend = 7;
	assert_int_equal(dev_init_with(o), -EINVAL);
	/* A null disk needs a size as a RAM disk does. */
	o = ram, o.backend = VIO_BLK_BACKEND_NULL;
	assert_int_equal(dev_init_with(o), 0);
	o.size = 0;
	assert_int_equal(dev_init_with(o), -EINVAL);
	o.size = 100;
	assert_int_equal(dev_init_with(o), -EINVAL);
	o = (struct vio_blk_dev_opts){ .backend = VIO_BLK_BACKEND_FILE, .path = "/nonexistent/x" };
	assert_int_equal(dev_init_with(o), -ENOENT);
	/* A writable disk on a read-only fd; a character device of no size. */
	fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	o = (struct vio_blk_dev_opts){ .backend = VIO_BLK_BACKEND_FILE, .fd = fd, .size = 4096 };
	assert_int_equal(dev_init_with(o), -EBADF);
	o.read_only = true;
	assert_int_equal(dev_init_with(o), 0);
	o.size = 0;
	assert_int_equal(dev_init_with(o), -EINVAL);
	close(fd);
}

static void p_config_space(void **state)
{
	const struct vio_blk_dev_opts o = {
		.backend = VIO_BLK_BACKEND_RAM, .size = DISK_BYTES + 300, .num_queues = 3,
		.queue_size = 64, .blk_size = 4096, .size_max = 65536,
		.max_discard_sectors = 1000, .max_discard_seg = 3,
		.max_write_zeroes_sectors = 2000, .max_write_zeroes_seg = 5,
	};
	struct vio_blk_dev blk;
	struct vio_blk_config c;
	uint64_t f;

	assert_int_equal(vio_blk_dev_init(&blk, &o), 0);
	assert_int_equal(vio_dev_config_read(&blk.dev, 0, &c, sizeof(c)), 0);
	f = vio_dev_get_features(&blk.dev);
	assert_int_equal(vio_le64_to_cpu(c.capacity), DISK_SECTORS); /* rounded down */
	assert_int_equal(vio_le32_to_cpu(c.size_max), 65536);
	assert_int_equal(vio_le32_to_cpu(c.seg_max), 62);
	assert_int_equal(c.geometry.heads, 16);
	assert_int_equal(c.geometry.sectors, 63);
	assert_int_equal(vio_le16_to_cpu(c.geometry.cylinders), DISK_SECTORS / (16 * 63));
	assert_int_equal(vio_le32_to_cpu(c.blk_size), 4096);
	assert_int_equal(vio_le16_to_cpu(c.topology.min_io_size), 1);
	assert_int_equal(c.writeback, 1);
	assert_int_equal(c.unused0, 0);
	assert_int_equal(vio_le16_to_cpu(c.num_queues), 3);
	assert_int_equal(vio_le32_to_cpu(c.max_discard_sectors), 1000);
	assert_int_equal(vio_le32_to_cpu(c.max_discard_seg), 3);
	assert_int_equal(vio_le32_to_cpu(c.discard_sector_alignment), 8);
	assert_int_equal(vio_le32_to_cpu(c.max_write_zeroes_sectors), 2000);
	assert_int_equal(vio_le32_to_cpu(c.max_write_zeroes_seg), 5);
	assert_int_equal(c.write_zeroes_may_unmap, 0); /* RAM cannot deallocate */
	assert_int_equal(vio_dev_num_queues(&blk.dev), 3);
	assert_int_equal(vio_dev_queue_max(&blk.dev, 2), 64);
	assert_int_equal(blk.dev.device_id, VIO_ID_BLOCK);
	assert_true(vio_has_feature(f, VIO_BLK_F_MQ));
	assert_true(vio_has_feature(f, VIO_BLK_F_SIZE_MAX));
	assert_true(vio_has_feature(f, VIO_BLK_F_CONFIG_WCE));
	assert_false(vio_has_feature(f, VIO_BLK_F_RO));
	assert_true((f & VIO_BLK_DEV_RING_FEATURES) == VIO_BLK_DEV_RING_FEATURES);
	vio_blk_dev_fini(&blk);
}

static void p_offered_features(void **state)
{
	struct vio_blk_dev_opts o = {
		.backend = VIO_BLK_BACKEND_RAM, .size = DISK_BYTES, .read_only = true,
		.blk_features_off = VIO_BIT(VIO_BLK_F_FLUSH) | VIO_BIT(VIO_BLK_F_RO),
		.ring_features = V1,
	};
	struct vio_blk_dev blk;
	struct vio_blk_config c;
	uint64_t f;

	assert_int_equal(vio_blk_dev_init(&blk, &o), 0);
	f = vio_dev_get_features(&blk.dev);
	/* RO stays: the disk is read-only whatever the mask says. CONFIG_WCE
	 * goes with FLUSH. One queue: no MQ. No size_max: no SIZE_MAX. */
	assert_true(vio_has_feature(f, VIO_BLK_F_RO));
	assert_false(vio_has_feature(f, VIO_BLK_F_FLUSH));
	assert_false(vio_has_feature(f, VIO_BLK_F_CONFIG_WCE));
	assert_false(vio_has_feature(f, VIO_BLK_F_MQ));
	assert_false(vio_has_feature(f, VIO_BLK_F_SIZE_MAX));
	assert_false(vio_has_feature(f, VIO_F_INDIRECT_DESC));
	assert_false(vio_has_feature(f, VIO_F_RING_PACKED));
	assert_false(vio_has_feature(f, VIO_BLK_F_BARRIER));
	assert_false(vio_has_feature(f, VIO_BLK_F_SCSI));
	assert_int_equal(vio_dev_config_read(&blk.dev, 0, &c, sizeof(c)), 0);
	assert_int_equal(c.writeback, 0);
	vio_blk_dev_fini(&blk);
}

/* A file disk says write zeroes may unmap; its size comes from the file. */
static void p_file_config(void **state)
{
	struct vio_blk_dev_opts o = { .backend = VIO_BLK_BACKEND_FILE };
	struct vio_blk_dev blk;
	struct vio_blk_config c;
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/plain.img", tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 3 * 512 + 100), 0);
	o.fd = fd;
	assert_int_equal(vio_blk_dev_init(&blk, &o), 0);
	assert_int_equal(vio_dev_config_read(&blk.dev, 0, &c, sizeof(c)), 0);
	assert_int_equal(vio_le64_to_cpu(c.capacity), 3);
	assert_int_equal(c.write_zeroes_may_unmap, 1);
	vio_blk_dev_fini(&blk);
	/* fini left the caller's fd open. */
	assert_true(fcntl(fd, F_GETFD) >= 0);
	close(fd);
	unlink(path);
}

/* A file in tmpfs is served with preadv/pwritev, not io_uring: reads
 * there never wait for a device and the synchronous path is faster. */
static void p_tmpfs_file_is_synchronous(void **state)
{
	struct vio_blk_dev_opts o = { .backend = VIO_BLK_BACKEND_FILE };
	char path[] = "/dev/shm/vio-blk-test-XXXXXX";
	struct vio_blk_dev blk;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	o.fd = fd;
	assert_int_equal(vio_blk_dev_init(&blk, &o), 0);
	assert_false(vio_blk_dev_uses_io_uring(&blk));
	vio_blk_dev_fini(&blk);
	close(fd);
	unlink(path);
}

/* Run once: the device alone, no transport. */
static const struct named_test plain_tests[] = {
	T(p_init_refuses_bad_options),
	T(p_config_space),
	T(p_offered_features),
	T(p_file_config),
	T(p_tmpfs_file_is_synchronous),
};

int main(void)
{
	static const struct blk_tables t = {
		.plain = plain_tests, .nplain = ARRAY_LEN(plain_tests),
	};

	return blk_run("lb_blk_device", &t);
}
