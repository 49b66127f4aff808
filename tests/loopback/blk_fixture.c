/*
 * blk_fixture.c - the matrix, the fixture and the registration of the
 * virtio-blk loopback tests (tests/loopback/test_blk_*.c); see
 * blk_fixture.h.
 */

#include "blk_fixture.h"

char tmpdir[] = "/tmp/vio-blk-XXXXXX";

unsigned file_seq;

struct vio_drv_device *D(struct fx *fx)
{
	return &fx->lb.vdev;
}

void test_log(void *opaque, enum vio_log_level level, const char *msg)
{
	struct fx *fx = opaque;

	pthread_mutex_lock(&fx->log_lock);
	fx->nlogs++;
	snprintf(fx->last_log, sizeof(fx->last_log), "%s", msg);
	pthread_mutex_unlock(&fx->log_lock);
}

unsigned nlogs(struct fx *fx)
{
	unsigned n;

	pthread_mutex_lock(&fx->log_lock);
	n = fx->nlogs;
	pthread_mutex_unlock(&fx->log_lock);
	return n;
}

void assert_logged(struct fx *fx, const char *what)
{
	char line[512];

	pthread_mutex_lock(&fx->log_lock);
	snprintf(line, sizeof(line), "%s", fx->last_log);
	pthread_mutex_unlock(&fx->log_lock);
	if (!strstr(line, what))
		fail_msg("log line \"%s\" does not mention \"%s\"", line, what);
}

void *xalloc(void *opaque, size_t n)
{
	return calloc(1, n);
}

void xfree(void *opaque, void *p, size_t n)
{
	free(p);
}

void *dev_thread(void *arg)
{
	struct fx *fx = arg;
	struct pollfd p = { .fd = fx->lb.kick_fd, .events = POLLIN };

	while (!__atomic_load_n(&fx->stop, __ATOMIC_ACQUIRE)) {
		if (__atomic_load_n(&fx->pause, __ATOMIC_ACQUIRE)) {
			__atomic_store_n(&fx->parked, 1, __ATOMIC_RELEASE);
			usleep(200);
			continue;
		}
		if (poll(&p, 1, 5) > 0)
			vio_loopback_device_dispatch(&fx->lb);
	}
	return NULL;
}

void fx_pause(struct fx *fx)
{
	if (!fx->thread_up)
		return;
	__atomic_store_n(&fx->parked, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&fx->pause, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&fx->parked, __ATOMIC_ACQUIRE))
		usleep(100);
}

void fx_resume(struct fx *fx)
{
	__atomic_store_n(&fx->pause, 0, __ATOMIC_RELEASE);
}

int raw_probe(struct vio_drv_device *dev)
{
	struct fx *fx = (struct fx *)((char *)dev->driver - offsetof(struct fx, rawdrv));
	struct vio_drv_vq_info info[4];

	for (unsigned i = 0; i < fx->raw_nvqs; i++)
		info[i] = (struct vio_drv_vq_info){ .indirect_max = 8 };
	return vio_drv_find_vqs(dev, fx->raw_nvqs, info, fx->rawvqs);
}

void raw_remove(struct vio_drv_device *dev)
{
	vio_drv_reset(dev);
	for (unsigned i = 0; i < dev->nvqs; i++)
		while (vio_drvq_detach_unused(&dev->vqs[i].q))
			;
	vio_drv_del_vqs(dev);
}

int fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	const struct row *row = *state;

	if (!fx)
		return -1;
	fx->row = row;
	fx->extra_fd = -1;
	pthread_mutex_init(&fx->log_lock, NULL);
	fx->dopts.backend = row->be->type;
	fx->dopts.size = DISK_BYTES;
	fx->dopts.no_io_uring = row->be->no_io_uring;
	fx->dopts.serial = SERIAL;
	fx->dopts.ring_features = V1 | row->ring;
	fx->dopts.log = test_log;
	fx->dopts.log_opaque = fx;
	fx->ropts.timeout_ms = TIMEOUT_MS;
	fx->raw_nvqs = 1;
	if (row->be->type == VIO_BLK_BACKEND_RAM) {
		fx->ram = calloc(1, DISK_BYTES);
		fx->dopts.ram = fx->ram;
		if (!fx->ram)
			return -1;
	} else {
		int fd;

		snprintf(fx->path, sizeof(fx->path), "%s/disk%u.img", tmpdir, file_seq++);
		fd = open(fx->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || ftruncate(fd, DISK_BYTES) < 0)
			return -1;
		close(fd);
		fx->dopts.path = fx->path;
		fx->dopts.size = 0; /* the file's size */
	}
	*state = fx;
	return 0;
}

int fx_teardown(void **state)
{
	struct fx *fx = *state;

	if (fx->bus_up) {
		vio_bus_remove_device(&fx->bus, D(fx));
		if (fx->raw)
			vio_bus_unregister_driver(&fx->bus, &fx->rawdrv);
		else
			vio_blk_drv_unregister(&fx->bus, &fx->drv);
	}
	if (fx->thread_up) {
		fx_resume(fx);
		__atomic_store_n(&fx->stop, 1, __ATOMIC_RELEASE);
		pthread_join(fx->thread, NULL);
	}
	if (fx->lb_up)
		vio_loopback_fini(&fx->lb);
	if (fx->blk_up)
		vio_blk_dev_fini(&fx->blk);
	if (fx->path[0])
		unlink(fx->path);
	if (fx->extra_fd >= 0)
		close(fx->extra_fd);
	free(fx->ram);
	pthread_mutex_destroy(&fx->log_lock);
	free(fx);
	return 0;
}

void fx_up(struct fx *fx)
{
	assert_int_equal(vio_blk_dev_init(&fx->blk, &fx->dopts), 0);
	fx->blk_up = true;
	assert_int_equal(vio_loopback_init(&fx->lb, &fx->blk.dev, ARENA_BYTES,
					   fx->row->mode->threaded), 0);
	fx->lb_up = true;
	if (fx->row->mode->threaded) {
		assert_int_equal(pthread_create(&fx->thread, NULL, dev_thread, fx), 0);
		fx->thread_up = true;
	}
	vio_bus_init(&fx->bus, xalloc, xfree, NULL);
	if (fx->raw) {
		fx->rawids[0] = VIO_ID_BLOCK;
		fx->rawdrv = (struct vio_driver){
			.name = "raw",
			.ids = fx->rawids,
			.features = fx->raw_features ? fx->raw_features : ~UINT64_C(0),
			.probe = raw_probe,
			.remove = raw_remove,
		};
		assert_int_equal(vio_bus_register_driver(&fx->bus, &fx->rawdrv), 0);
	} else {
		assert_int_equal(vio_blk_drv_register(&fx->bus, &fx->drv, &fx->ropts), 0);
	}
	assert_int_equal(vio_bus_add_device(&fx->bus, D(fx)), 0);
	fx->bus_up = true;
	assert_non_null(D(fx)->driver);
	assert_true(vio_dev_get_status(&fx->blk.dev) & VIO_STATUS_DRIVER_OK);
	if (fx->raw) {
		fx->m = vio_drv_dma_alloc(D(fx), 65536, 4096, &fx->m_dma);
		assert_non_null(fx->m);
	}
}

void backing_read(struct fx *fx, uint64_t off, void *dst, size_t len)
{
	if (fx->ram) {
		memcpy(dst, fx->ram + off, len);
	} else {
		int fd = open(fx->path, O_RDONLY | O_CLOEXEC);

		assert_true(fd >= 0);
		assert_int_equal(pread(fd, dst, len, (off_t)off), (ssize_t)len);
		close(fd);
	}
}

void stats(struct fx *fx, unsigned qi, struct vio_blk_queue_stats *s)
{
	assert_int_equal(vio_blk_dev_stats(&fx->blk, qi, s), 0);
}

uint8_t pattern(uint64_t sector, size_t i, unsigned seed)
{
	return (uint8_t)(sector * 131 + i * 7 + seed * 29 + (i >> 9));
}

void fill_pattern(uint8_t *p, uint64_t sector, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern(sector, i, seed);
}

void check_pattern(const uint8_t *p, uint64_t sector, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern(sector, i, seed))
			fail_msg("byte %zu of sector %llu: %#x, want %#x", i,
				 (unsigned long long)sector, p[i], pattern(sector, i, seed));
}

void check_value(const uint8_t *p, size_t len, uint8_t v)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != v)
			fail_msg("byte %zu is %#x, want %#x", i, p[i], v);
}

bool all_free(struct vio_drv_device *dev)
{
	for (unsigned i = 0; i < dev->nvqs; i++)
		if (vio_drvq_num_free(&dev->vqs[i].q) != dev->vqs[i].q.size)
			return false;
	return true;
}

void write_check(struct fx *fx, uint64_t sector, size_t len, unsigned seed)
{
	uint8_t *w = vio_blk_drv_alloc_buffer(D(fx), len);
	uint8_t *r = vio_blk_drv_alloc_buffer(D(fx), len);
	uint8_t *b = malloc(len);

	assert_non_null(w);
	assert_non_null(r);
	assert_non_null(b);
	fill_pattern(w, sector, len, seed);
	assert_int_equal(vio_blk_drv_write(D(fx), sector, w, len), 0);
	memset(r, 0xa5, len);
	assert_int_equal(vio_blk_drv_read(D(fx), sector, r, len), 0);
	check_pattern(r, sector, len, seed);
	backing_read(fx, sector * SECTOR, b, len);
	check_pattern(b, sector, len, seed);
	free(b);
	vio_blk_drv_free_buffer(D(fx), r, len);
	vio_blk_drv_free_buffer(D(fx), w, len);
}

void async_done(void *opaque, int err)
{
	struct actx *c = opaque;

	c->done++;
	if (err == -ECANCELED)
		c->canceled++;
	else if (err)
		c->errors++;
}

struct row rows[NCOMBOS * ARRAY_LEN(backends)];

char row_names[NCOMBOS * ARRAY_LEN(backends)][64];

void add_test(struct CMUnitTest *t, size_t *n, const char *prefix,
	      const struct named_test *nt, const struct row *row)
{
	size_t len = strlen(prefix) + strlen(nt->name) + 3;
	char *s = malloc(len);

	if (!s)
		abort();
	snprintf(s, len, "%s: %s", prefix, nt->name);
	t[*n] = (struct CMUnitTest){ s, nt->fn, fx_setup, fx_teardown, (void *)row };
	(*n)++;
}

int blk_run(const char *group, const struct blk_tables *t)
{
	const size_t total = t->nplain +
			     NCOMBOS * (ARRAY_LEN(backends) * (t->ndata + t->nfile) + t->nram) +
			     NCOMBOS / ARRAY_LEN(modes) * t->nthreaded;
	struct CMUnitTest *tests = calloc(total, sizeof(*tests));
	size_t n = 0, nrows = 0;
	int r;

	if (!tests || !mkdtemp(tmpdir))
		return 1;
	for (unsigned k = 0; k < t->nplain; k++) {
		tests[n] = (struct CMUnitTest){ strdup(t->plain[k].name), t->plain[k].fn,
						NULL, NULL, NULL };
		if (!tests[n++].name)
			return 1;
	}
	for (unsigned m = 0; m < ARRAY_LEN(modes); m++)
	for (unsigned l = 0; l < ARRAY_LEN(layouts); l++)
	for (unsigned e = 0; e < ARRAY_LEN(event_idx); e++)
	for (unsigned i = 0; i < ARRAY_LEN(indirect); i++)
	for (unsigned b = 0; b < ARRAY_LEN(backends); b++) {
		struct row *row = &rows[nrows];
		char *name = row_names[nrows++];

		row->mode = &modes[m];
		row->ring = layouts[l].features | event_idx[e].features | indirect[i].features;
		row->be = &backends[b];
		snprintf(name, sizeof(row_names[0]), "%s/%s/%s/%s/%s", modes[m].name,
			 layouts[l].name, event_idx[e].name, indirect[i].name, backends[b].name);
		for (unsigned k = 0; k < t->ndata; k++)
			add_test(tests, &n, name, &t->data[k], row);
		if (backends[b].type == VIO_BLK_BACKEND_RAM)
			for (unsigned k = 0; k < t->nram; k++)
				add_test(tests, &n, name, &t->ram[k], row);
		else
			for (unsigned k = 0; k < t->nfile; k++)
				add_test(tests, &n, name, &t->file[k], row);
		if (backends[b].type == VIO_BLK_BACKEND_RAM && modes[m].threaded)
			for (unsigned k = 0; k < t->nthreaded; k++)
				add_test(tests, &n, name, &t->threaded[k], row);
	}
	r = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		free((void *)tests[i].name);
	free(tests);
	rmdir(tmpdir);
	return r;
}
