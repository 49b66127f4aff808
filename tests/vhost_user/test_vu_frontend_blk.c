/*
 * test_vu_frontend_blk.c - libvio's blk driver over the vhost-user frontend
 * against a vhost-user-blk backend in a child process, SIGKILLed with a
 * batch popped and unused; the frontend reconnects to a new one, which
 * resubmits from the inflight log; and dirty logging through the
 * frontend's log API against the same backend. Split and packed.
 *
 * Siblings, all in tests/vhost_user/: test_vu_frontend_variants.c (every
 * ring variant), test_vu_frontend_session.c (one variant: negotiation,
 * config, reconnects), test_vu_frontend_blk.c (a vhost-user-blk backend
 * killed mid-I/O), test_vu_frontend_hostile.c (a fake backend's wrong
 * replies) and test_vu_frontend_deadlines.c (deadlines, bounded sends,
 * refused status, per layout); what they share is vu_frontend_fixture.{c,h}.
 */

#include "vu_frontend_fixture.h"

/* blk: libvio's blk driver, a vhost-user-blk backend process killed mid-I/O */
/*
 * The backend runs in a child process over a RAM disk in a memfd the test
 * also maps, so the disk outlives the process as a file would. The first
 * child is rigged: a region of the disk is PROT_NONE in it, and a fault
 * there parks the faulting thread in the SIGSEGV handler for good, after
 * telling us. A batch of requests that touches the region is then popped
 * and not used (the blk device uses a batch only when all of it is done),
 * exactly what a process killed during I/O leaves. The test SIGKILLs it
 * and starts a clean child on the same disk.
 */
#define BK_DISK (1u << 20)

#define BK_TRAP_OFF (BK_DISK - 64 * 1024u)     /* the rigged region, to the end */
#define BK_IO 4096u
#define BK_NREQ 6

struct bk_req {
	uint64_t off;           /* byte offset on the disk */
	uint32_t type;
	uint8_t fill;           /* writes: the byte written; reads: 0 */
	uint8_t *buf;
	unsigned done;
	int err;
};

struct bk_env {
	uint64_t features_off;  /* the driver's, from the row */
	int disk_fd;
	uint8_t *disk;
	pid_t child[2];
	int stuck_rd, log_rd;   /* the rigged child's signal; the clean one's log */
	struct vio_vu_frontend fe;
	bool fe_up, on_bus;
	struct vio_bus bus;
	struct vio_blk_driver bd;
	struct bk_req req[BK_NREQ];
	struct logbuf log;
};

static int bk_stuck_wfd = -1;  /* child only */

static void bk_trap(int sig)
{
	const char c = 1;

	(void)sig;
	(void)!write(bk_stuck_wfd, &c, 1);
	for (;;)
		pause();
}

static void bk_child_log(void *opaque, enum vio_log_level level, const char *msg)
{
	int fd = (int)(intptr_t)opaque;

	(void)level;
	if (fd >= 0) {
		(void)!write(fd, msg, strlen(msg));
		(void)!write(fd, "\n", 1);
	}
	if (verbose())
		fprintf(stderr, "# child be: %s\n", msg);
}

/* The child: serves a blk device on the shared disk until the socket
 * closes. Never returns. */
static void bk_child(int sock, int disk_fd, bool rigged, int log_fd)
{
	struct vio_vu_backend_config bc = { .log = bk_child_log,
					    .log_opaque = (void *)(intptr_t)log_fd };
	struct vio_blk_dev_opts o = { .backend = VIO_BLK_BACKEND_RAM, .size = BK_DISK };
	static struct vio_blk_dev blk;
	static struct vio_vu_backend b;
	uint8_t *disk = mmap(NULL, BK_DISK, PROT_READ | PROT_WRITE, MAP_SHARED, disk_fd, 0);

	if (disk == MAP_FAILED)
		_exit(2);
	o.ram = disk;
	if (vio_blk_dev_init(&blk, &o) || vio_vu_backend_init(&b, &blk.dev, &bc) ||
	    vio_vu_backend_attach(&b, sock))
		_exit(3);
	if (rigged) {
		struct sigaction sa = { .sa_handler = bk_trap };

		if (sigaction(SIGSEGV, &sa, NULL) || sigaction(SIGBUS, &sa, NULL) ||
		    mprotect(disk + BK_TRAP_OFF, BK_DISK - BK_TRAP_OFF, PROT_NONE))
			_exit(4);
	}
	for (;;) {
		struct pollfd p[1 + VIO_VU_MAX_QUEUES];
		unsigned qmap[VIO_VU_MAX_QUEUES], n = 0;

		p[n++] = (struct pollfd){ vio_vu_backend_fd(&b), POLLIN, 0 };
		for (unsigned qi = 0; qi < blk.dev.num_queues; qi++) {
			int fd = vio_vu_backend_kick_fd(&b, qi);

			if (fd >= 0) {
				qmap[n - 1] = qi;
				p[n++] = (struct pollfd){ fd, POLLIN, 0 };
			}
		}
		if (poll(p, n, 1000) <= 0)
			continue;
		if (p[0].revents) {
			if (vio_vu_backend_dispatch(&b) == -ECONNRESET)
				_exit(0);
			continue;
		}
		for (unsigned i = 1; i < n; i++) {
			if (p[i].revents)
				vio_vu_backend_queue_dispatch(&b, qmap[i - 1]);
		}
	}
}

/* Forks a backend child on a new socketpair: our end. */
static int bk_spawn(struct bk_env *be, unsigned which, bool rigged)
{
	int sv[2], stuck[2], logp[2];
	pid_t pid;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(pipe2(stuck, O_CLOEXEC), 0);
	assert_int_equal(pipe2(logp, O_CLOEXEC | O_NONBLOCK), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		bk_stuck_wfd = stuck[1];
		bk_child(sv[1], be->disk_fd, rigged, logp[1]);
	}
	be->child[which] = pid;
	close(sv[1]);
	close(stuck[1]);
	close(logp[1]);
	if (rigged) {
		be->stuck_rd = stuck[0];
		close(logp[0]);
	} else {
		be->log_rd = logp[0];
		close(stuck[0]);
	}
	return sv[0];
}

static void bk_reap(struct bk_env *be, unsigned which)
{
	if (be->child[which] > 0) {
		kill(be->child[which], SIGKILL);
		(void)waitpid(be->child[which], NULL, 0);
	}
	be->child[which] = 0;
}

static int bk_setup(void **state)
{
	struct bk_env *be = calloc(1, sizeof(*be));

	assert_non_null(be);
	be->features_off = *state ? *(const uint64_t *)*state : 0;
	be->stuck_rd = be->log_rd = -1;
	be->disk_fd = memfd_create("bk-disk", MFD_CLOEXEC);
	assert_true(be->disk_fd >= 0);
	assert_int_equal(ftruncate(be->disk_fd, BK_DISK), 0);
	be->disk = mmap(NULL, BK_DISK, PROT_READ | PROT_WRITE, MAP_SHARED, be->disk_fd, 0);
	assert_true(be->disk != MAP_FAILED);
	for (unsigned i = 0; i < BK_DISK; i++)
		be->disk[i] = (uint8_t)(i * 7 + i / 4096);
	vio_bus_init(&be->bus, vt_heap_alloc, vt_heap_free, NULL);
	*state = be;
	return 0;
}

static int bk_teardown(void **state)
{
	struct bk_env *be = *state;

	if (be->on_bus)
		vio_bus_remove_device(&be->bus, &be->fe.vdev);
	if (be->fe_up)
		vio_vu_frontend_fini(&be->fe);
	bk_reap(be, 0);
	bk_reap(be, 1);
	if (be->stuck_rd >= 0)
		close(be->stuck_rd);
	if (be->log_rd >= 0)
		close(be->log_rd);
	munmap(be->disk, BK_DISK);
	close(be->disk_fd);
	free(be);
	return 0;
}

static void bk_done(void *opaque, int err)
{
	struct bk_req *r = opaque;

	r->done++;
	r->err = err;
}

static void bk_enqueue(struct bk_env *be, struct bk_req *r)
{
	struct vio_blk_drv_io io = {
		.type = r->type, .sector = r->off / 512, .buf = r->buf, .len = BK_IO,
		.done = bk_done, .opaque = r,
	};

	if (r->type == VIO_BLK_T_OUT)
		memset(r->buf, r->fill, BK_IO);
	else
		memset(r->buf, 0, BK_IO);
	assert_int_equal(vio_blk_drv_enqueue(&be->fe.vdev, &io), 0);
}

/* Chain heads the inflight log of queue 0 marks as taken and unused. */
static unsigned bk_log_inflight(const struct bk_env *be, bool packed)
{
	const size_t len = (size_t)(be->fe.inflight_offset + be->fe.inflight_size);
	uint8_t *map = mmap(NULL, len, PROT_READ, MAP_SHARED, be->fe.inflight_fd, 0);
	unsigned n = 0;

	assert_true(map != MAP_FAILED);
	if (packed) {
		/* A chain in flight is flagged at its first entry. */
		const struct vio_inflight_packed *l = (const void *)(map + be->fe.inflight_offset);

		for (unsigned i = 0; i < l->desc_num; i++)
			n += l->desc[i].inflight == 1;
	} else {
		const struct vio_inflight_split *l = (const void *)(map + be->fe.inflight_offset);

		for (unsigned i = 0; i < l->desc_num; i++)
			n += l->desc[i].inflight == 1;
	}
	munmap(map, len);
	return n;
}

/* Does the clean child's log contain `what`? */
static bool bk_log_says(struct bk_env *be, const char *what)
{
	static char text[16384];
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(text) - 1 &&
	       (n = read(be->log_rd, text + got, sizeof(text) - 1 - got)) > 0)
		got += (size_t)n;
	text[got] = 0;
	return strstr(text, what) != NULL;
}

/*
 * The blk driver over the frontend; the backend process is killed with a
 * batch of requests popped and unused (two writes and a read done in RAM
 * but not reported, the write that faulted, and a write and a read after
 * it), no GET_VRING_BASE; a write is posted while it is away; a new
 * backend process on the same disk takes over. Every request completes
 * exactly once and OK, the writes are on the disk, the reads return the
 * disk's bytes. The new backend resubmitted the five from the log the
 * frontend handed it (it says so, and the log ends empty), split and
 * packed alike.
 */
static void test_blk_reconnect_after_kill(void **state)
{
	struct bk_env *be = *state;
	const bool pk = !(be->features_off & VIO_BIT(VIO_F_RING_PACKED));
	const struct vio_vu_frontend_config cfg = {
		.device_id = VIO_ID_BLOCK, .memory_bytes = 4u << 20, .num_queues = 1,
		.log = log_keep, .log_opaque = &be->log,
	};
	const struct vio_blk_drv_opts dopts = { .features_off = be->features_off };
	static const struct { uint64_t off; uint32_t type; uint8_t fill; } plan[BK_NREQ] = {
		{ 0, VIO_BLK_T_OUT, 0xa1 },
		{ 64 * 512, VIO_BLK_T_IN, 0 },
		{ 128 * 512, VIO_BLK_T_OUT, 0xc3 },
		{ BK_TRAP_OFF, VIO_BLK_T_OUT, 0xb2 },   /* faults in the rigged child */
		{ 256 * 512, VIO_BLK_T_IN, 0 },
		{ 300 * 512, VIO_BLK_T_OUT, 0xd4 },     /* posted while the backend is away */
	};
	uint8_t before[2][BK_IO];
	struct pollfd stuck;
	int64_t deadline;
	char c;

	memcpy(before[0], be->disk + plan[1].off, BK_IO);
	memcpy(before[1], be->disk + plan[4].off, BK_IO);
	assert_int_equal(vio_vu_frontend_connect_fd(&be->fe, bk_spawn(be, 0, true), &cfg), 0);
	be->fe_up = true;
	assert_int_equal(vio_blk_drv_register(&be->bus, &be->bd, &dopts), 0);
	assert_int_equal(vio_bus_add_device(&be->bus, &be->fe.vdev), 0);
	be->on_bus = true;
	assert_non_null(be->fe.vdev.driver);
	assert_int_equal(vio_has_feature(be->fe.vdev.features, VIO_F_RING_PACKED), pk);
	assert_true(be->fe.inflight_fd >= 0);
	for (unsigned i = 0; i < BK_NREQ; i++) {
		be->req[i] = (struct bk_req){ .off = plan[i].off, .type = plan[i].type,
					      .fill = plan[i].fill };
		be->req[i].buf = vio_blk_drv_alloc_buffer(&be->fe.vdev, BK_IO);
		assert_non_null(be->req[i].buf);
	}
	for (unsigned i = 0; i < BK_NREQ - 1; i++)
		bk_enqueue(be, &be->req[i]);
	vio_blk_drv_kick(&be->fe.vdev);
	stuck = (struct pollfd){ be->stuck_rd, POLLIN, 0 };
	assert_int_equal(poll(&stuck, 1, WAIT_MS), 1);
	assert_int_equal(read(be->stuck_rd, &c, 1), 1);
	/* Stuck inside the batch: nothing used, everything in the log. */
	assert_int_equal(vio_blk_drv_poll(&be->fe.vdev), 0);
	assert_int_equal(bk_log_inflight(be, pk), BK_NREQ - 1);
	bk_reap(be, 0);
	bk_enqueue(be, &be->req[BK_NREQ - 1]);
	vio_blk_drv_kick(&be->fe.vdev);
	assert_int_equal(vio_vu_frontend_reconnect_fd(&be->fe, bk_spawn(be, 1, false)), 0);
	deadline = now_ms() + WAIT_MS;
	while (vio_blk_drv_inflight(&be->fe.vdev) && now_ms() < deadline)
		(void)vio_blk_drv_wait(&be->fe.vdev, 100);
	assert_int_equal(vio_blk_drv_inflight(&be->fe.vdev), 0);
	for (unsigned i = 0; i < BK_NREQ; i++) {
		const struct bk_req *r = &be->req[i];

		assert_int_equal(r->done, 1);
		assert_int_equal(r->err, 0);
		if (r->type == VIO_BLK_T_OUT) {
			for (unsigned k = 0; k < BK_IO; k++)
				assert_int_equal(be->disk[r->off + k], r->fill);
		}
	}
	assert_memory_equal(be->req[1].buf, before[0], BK_IO);
	assert_memory_equal(be->req[4].buf, before[1], BK_IO);
	assert_true(bk_log_says(be, "resubmitted from the inflight log"));
	assert_int_equal(bk_log_inflight(be, pk), 0);
	for (unsigned i = 0; i < BK_NREQ; i++)
		vio_blk_drv_free_buffer(&be->fe.vdev, be->req[i].buf, BK_IO);
}

/* Is guest page `page` (a page number) marked in a synced log? */
static bool bk_marked(const uint8_t *log, uint64_t page)
{
	return log[page / 8] & (1u << (page % 8));
}

/* The guest page of a pointer into the frontend's DMA memory. */
static uint64_t bk_page(const struct bk_env *be, const void *p)
{
	return (VIO_VU_FE_GUEST_BASE + (uint64_t)((const uint8_t *)p - be->fe.mem)) / 4096;
}

/*
 * Dirty logging through the frontend's log API, against a vhost-user-blk
 * backend process: with the log on, a 16 KiB read (the device writes the
 * buffer) and a 16 KiB write (the device only reads it). Every page of the
 * read buffer is marked; no page of the write buffer, nor of a buffer the
 * device never saw; and besides the read buffer only a few pages (the used
 * ring, the requests' status bytes). With the log stopped and started
 * again, a sync right after start shows nothing of what came before.
 */
static void test_blk_dirty_log(void **state)
{
	struct bk_env *be = *state;
	const bool pk = !(be->features_off & VIO_BIT(VIO_F_RING_PACKED));
	const struct vio_vu_frontend_config cfg = {
		.device_id = VIO_ID_BLOCK, .memory_bytes = 4u << 20, .num_queues = 1,
		.log = log_keep, .log_opaque = &be->log,
	};
	const struct vio_blk_drv_opts dopts = { .features_off = be->features_off };
	const size_t io = 16384;
	uint8_t *raw[3], *bufs[3], *rd, *wr, *idle, *log;
	unsigned done[2] = { 0, 0 };
	size_t size, marked = 0;
	int64_t deadline;

	assert_int_equal(vio_vu_frontend_connect_fd(&be->fe, bk_spawn(be, 0, false), &cfg), 0);
	be->fe_up = true;
	assert_int_equal(vio_blk_drv_register(&be->bus, &be->bd, &dopts), 0);
	assert_int_equal(vio_bus_add_device(&be->bus, &be->fe.vdev), 0);
	be->on_bus = true;
	assert_int_equal(vio_has_feature(be->fe.vdev.features, VIO_F_RING_PACKED), pk);
	assert_true(be->fe.log_all_offered);
	/* Each buffer on pages of its own: a page past each side. */
	for (unsigned i = 0; i < 3; i++) {
		raw[i] = vio_blk_drv_alloc_buffer(&be->fe.vdev, io + 2 * 4096);
		assert_non_null(raw[i]);
		bufs[i] = raw[i] + 4096 - (uintptr_t)(raw[i] - be->fe.mem) % 4096;
	}
	rd = bufs[0];
	wr = bufs[1];
	idle = bufs[2];
	memset(wr, 0x6b, io);
	memset(idle, 0, io);

	assert_int_equal(vio_vu_frontend_log_start(&be->fe), 0);
	assert_true(be->fe.logging);
	size = (size_t)be->fe.log_size;
	assert_true(size >= (VIO_VU_FE_GUEST_BASE + be->fe.mem_len) / 4096 / 8);
	log = calloc(1, size);
	assert_non_null(log);
	assert_int_equal(vio_vu_frontend_log_sync(&be->fe, log, size), size);
	{
		struct bk_req r[2] = { { .buf = rd }, { .buf = wr } };
		struct vio_blk_drv_io ios[2] = {
			{ .type = VIO_BLK_T_IN, .sector = 8, .buf = rd, .len = io, .done = bk_done,
			  .opaque = &r[0] },
			{ .type = VIO_BLK_T_OUT, .sector = 64, .buf = wr, .len = io, .done = bk_done,
			  .opaque = &r[1] },
		};

		for (unsigned i = 0; i < 2; i++)
			assert_int_equal(vio_blk_drv_enqueue(&be->fe.vdev, &ios[i]), 0);
		vio_blk_drv_kick(&be->fe.vdev);
		deadline = now_ms() + WAIT_MS;
		while (vio_blk_drv_inflight(&be->fe.vdev) && now_ms() < deadline)
			(void)vio_blk_drv_wait(&be->fe.vdev, 100);
		for (unsigned i = 0; i < 2; i++) {
			done[i] = r[i].done;
			assert_int_equal(r[i].err, 0);
		}
	}
	assert_int_equal(done[0], 1);
	assert_int_equal(done[1], 1);
	assert_memory_equal(rd, be->disk + 8 * 512, io);
	assert_int_equal(vio_vu_frontend_log_sync(&be->fe, log, size), size);
	for (uint64_t p = bk_page(be, rd); p <= bk_page(be, rd + io - 1); p++)
		assert_true(bk_marked(log, p));
	for (uint64_t p = bk_page(be, wr); p <= bk_page(be, wr + io - 1); p++)
		assert_false(bk_marked(log, p));
	for (uint64_t p = bk_page(be, idle); p <= bk_page(be, idle + io - 1); p++)
		assert_false(bk_marked(log, p));
	for (size_t i = 0; i < size; i++)
		marked += (size_t)__builtin_popcount(log[i]);
	/* The read buffer's 4 pages, and the ring and status pages. */
	assert_true(marked >= io / 4096 + 1);
	assert_true(marked <= io / 4096 + 4);
	/* The status bytes (the last writable byte of each request, which the
	 * blk device takes off its spans) are marked: some page besides the
	 * read buffer and the ring the device writes used entries into. */
	{
		const struct vio_vu_fe_queue *q = &be->fe.queues[0];
		uint64_t ring = pk ? q->dma.desc : q->dma.device;
		uint64_t ring_len = pk ? 16ull * q->size : vio_ring_device_bytes(be->fe.vdev.features,
										   q->size);
		size_t other = 0;

		for (uint64_t p = 0; p < (uint64_t)size * 8; p++) {
			bool in_rd = p >= bk_page(be, rd) && p <= bk_page(be, rd + io - 1);
			bool in_ring = p >= ring / 4096 && p <= (ring + ring_len - 1) / 4096;

			other += bk_marked(log, p) && !in_rd && !in_ring;
		}
		assert_true(other >= 1);
		/* A write alone: only its status byte is written (its one
		 * writable byte, which the device trims off the element). */
		assert_int_equal(vio_vu_frontend_log_sync(&be->fe, log, size), size);
		{
			struct bk_req r = { .buf = wr };
			struct vio_blk_drv_io w = { .type = VIO_BLK_T_OUT, .sector = 128, .buf = wr,
						    .len = io, .done = bk_done, .opaque = &r };

			assert_int_equal(vio_blk_drv_enqueue(&be->fe.vdev, &w), 0);
			vio_blk_drv_kick(&be->fe.vdev);
			deadline = now_ms() + WAIT_MS;
			while (vio_blk_drv_inflight(&be->fe.vdev) && now_ms() < deadline)
				(void)vio_blk_drv_wait(&be->fe.vdev, 100);
			assert_int_equal(r.done, 1);
			assert_int_equal(r.err, 0);
		}
		assert_int_equal(vio_vu_frontend_log_sync(&be->fe, log, size), size);
		other = 0;
		for (uint64_t p = 0; p < (uint64_t)size * 8; p++) {
			bool in_ring = p >= ring / 4096 && p <= (ring + ring_len - 1) / 4096;

			if (p >= bk_page(be, wr) && p <= bk_page(be, wr + io - 1))
				assert_false(bk_marked(log, p));
			other += bk_marked(log, p) && !in_ring;
		}
		assert_int_equal(other, 1);
	}
	/* Nothing outside our memory. */
	for (uint64_t p = 0; p < (uint64_t)size * 8; p++)
		if (bk_marked(log, p))
			assert_true(p >= VIO_VU_FE_GUEST_BASE / 4096 &&
				    p < (VIO_VU_FE_GUEST_BASE + be->fe.mem_len) / 4096);
	/* Stopped, and again: a fresh log. */
	assert_int_equal(vio_vu_frontend_log_stop(&be->fe), 0);
	assert_false(be->fe.logging);
	assert_int_equal(vio_vu_frontend_log_sync(&be->fe, log, size), 0);
	assert_int_equal(vio_vu_frontend_log_start(&be->fe), 0);
	assert_int_equal(vio_vu_frontend_log_sync(&be->fe, log, size), size);
	for (size_t i = 0; i < size; i++)
		assert_int_equal(log[i], 0);
	assert_int_equal(vio_vu_frontend_log_start(&be->fe), -EBUSY);
	assert_int_equal(vio_vu_frontend_log_stop(&be->fe), 0);
	free(log);
	for (unsigned i = 0; i < 3; i++)
		vio_blk_drv_free_buffer(&be->fe.vdev, raw[i], io + 2 * 4096);
}

/* The blk rows: the driver's features_off. */
static const uint64_t split_only = VIO_BIT(VIO_F_RING_PACKED);

static const uint64_t packed_allowed;

int main(void)
{
	add_run("blk_reconnect_after_kill", "split", test_blk_reconnect_after_kill, bk_setup,
		bk_teardown, &split_only);
	add_run("blk_reconnect_after_kill", "packed", test_blk_reconnect_after_kill, bk_setup,
		bk_teardown, &packed_allowed);
	add_run("blk_dirty_log", "split", test_blk_dirty_log, bk_setup, bk_teardown, &split_only);
	add_run("blk_dirty_log", "packed", test_blk_dirty_log, bk_setup, bk_teardown,
		&packed_allowed);
	return run_all("vu_frontend_blk");
}
