/*
 * test_vu_backend_dirtylog.c - dirty logging (live migration) in the
 * vhost-user backend: SET_LOG_BASE with LOG_SHMFD, VHOST_F_LOG_ALL, and
 * SET_VRING_ADDR's VHOST_VRING_F_LOG and log address.
 *
 * The I/O tests run on every layout: the frontend hands over a log, turns
 * LOG_ALL on, posts a chain whose writable part spans several pages and
 * is only partly written, and then reads the bitmap. Every page the
 * device wrote must be marked, and no other page but those of the ring
 * areas the device writes (split: the used ring; packed: the descriptor
 * ring and the device event structure). Turning LOG_ALL off, or the ring's
 * LOG flag, must stop the marks it governs while I/O goes on.
 *
 * The malformed tests send each broken SET_LOG_BASE (and a VRING_ADDR
 * whose log address lies outside the log) on its own, checking that it is
 * refused with a reply, that logging stays off, and that the backend still
 * serves. Siblings and fixture: see test_vu_backend_hostile.c.
 */

#include "vu_backend_fixture.h"

#define PAGE 4096u
/* The log a frontend would size for our guest memory (GPA + MEM_SIZE). */
#define LOG_BYTES (((GPA + MEM_SIZE) / PAGE + 7) / 8)

/* A memfd of file_len bytes for a log. */
static int log_fd(size_t file_len)
{
	int fd = memfd_create("test-dirty-log", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)file_len), 0);
	return fd;
}

/* SET_LOG_BASE with REPLY_ACK's verdict: 0 accepted, 1 refused. */
static int set_log_base(struct t *t, int fd, uint64_t size, uint64_t offset)
{
	struct vu_log l = { size, offset };

	return vt_fe_set(&t->fe, VU_SET_LOG_BASE, &l, sizeof(l), &fd, 1);
}

static void assert_not_logging(struct t *t)
{
	assert_null(t->b.log);
	assert_null(t->b.mem.log);
}

/* Logging on: a log at offset `off` in a memfd, LOG_ALL, and both rings'
 * LOG flag at their used area's guest address. Returns our mapping of
 * the bitmap. */
static uint8_t *log_on(struct t *t, int *fdp)
{
	const size_t off = 0x1000;
	int fd = log_fd(off + LOG_BYTES);
	uint8_t *map = mmap(NULL, off + LOG_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	assert_true(map != MAP_FAILED);
	assert_int_equal(set_log_base(t, fd, LOG_BYTES, off), 0);
	assert_non_null(t->b.log);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_FEATURES, t->lay->features | BIT30 | BIT26), 0);
	assert_true(t->b.log_all);
	assert_non_null(t->b.mem.log);
	for (unsigned i = 0; i < NQ; i++) {
		struct vu_vring_addr a = t->r[i].addr;

		a.flags = VU_VRING_F_LOG;
		a.log = t->r[i].gpa.device;
		/* On running rings, as QEMU does. */
		assert_int_equal(vt_fe_set(&t->fe, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
	}
	*fdp = fd;
	return map + off;
}

static void log_off(struct t *t, uint8_t *log, int fd)
{
	munmap(log - 0x1000, 0x1000 + LOG_BYTES);
	close(fd);
	(void)t;
}

static bool page_marked(const uint8_t *log, uint64_t gpa)
{
	uint64_t p = gpa / PAGE;

	return log[p / 8] & (1u << (p % 8));
}

static bool in_range(uint64_t gpa, uint64_t start, uint64_t len)
{
	return gpa / PAGE >= start / PAGE && gpa / PAGE <= (start + len - 1) / PAGE;
}

/* The ring areas the device writes, as [start, len) guest ranges. */
static void ring_areas(const struct t *t, unsigned qi, uint64_t a[2][2])
{
	const struct vt_ring *r = &t->r[qi];

	if (packed(t)) {
		a[0][0] = r->gpa.desc;
		a[0][1] = 16u * QSIZE;
		a[1][0] = r->gpa.device;
		a[1][1] = 4;
	} else {
		a[0][0] = r->gpa.device;
		a[0][1] = vio_ring_device_bytes(t->lay->features, QSIZE);
		a[1][0] = r->gpa.device;
		a[1][1] = 1;
	}
}

/* The chain: 3000 readable bytes; writable 5000 bytes from 0xf00 into a
 * page, then 8192 more in another. The echo device writes 3000 bytes back:
 * the first two pages of the first writable buffer, nothing of the rest. */
struct chain {
	uint8_t *area;                  /* 8 page-aligned pages of guest memory */
	uint64_t out, in1, in2;         /* guest addresses */
};

#define OUT_LEN 3000u
#define IN1_LEN 5000u
#define IN2_LEN 8192u

static void chain_init(struct t *t, struct chain *c)
{
	c->area = vt_gmem_alloc(&t->g, 8 * PAGE, PAGE);
	assert_non_null(c->area);
	c->out = vt_gmem_gpa(&t->g, c->area);
	c->in1 = c->out + 2 * PAGE + 0xf00;
	c->in2 = c->out + 5 * PAGE;
}

/* Posts the chain, lets the device run, reaps it. */
static void chain_run(struct t *t, const struct chain *c)
{
	struct vio_sg o = { c->out, OUT_LEN };
	struct vio_sg i[2] = { { c->in1, IN1_LEN }, { c->in2, IN2_LEN } };
	void *tok = NULL;
	uint32_t len = 0;

	memset(c->area, 0x5a, OUT_LEN);
	assert_int_equal(vio_drvq_add(&t->r[0].q, &o, 1, i, 2, token(7)), 0);
	vt_ring_kick(&t->r[0]);
	vio_vu_backend_queue_dispatch(&t->b, 0);
	assert_int_equal(vio_drvq_get_buf(&t->r[0].q, &tok, &len), 0);
	assert_ptr_equal(tok, token(7));
	assert_int_equal(len, OUT_LEN);
	assert_int_equal(c->area[c->in1 - c->out], 0xa5);
}

/* Checks the log after one chain: the pages written are marked, no page
 * outside them and the ring areas is, and a ring page is iff ring_on. */
static void check_log(const struct t *t, const uint8_t *log, const struct chain *c, bool ring_on)
{
	uint64_t areas[2][2];
	bool ring_marked = false;

	ring_areas(t, 0, areas);
	assert_true(page_marked(log, c->in1));
	assert_true(page_marked(log, c->in1 + OUT_LEN - 1));
	for (uint64_t gpa = 0; gpa / PAGE < (uint64_t)LOG_BYTES * 8; gpa += PAGE) {
		bool ring = in_range(gpa, areas[0][0], areas[0][1]) ||
			    in_range(gpa, areas[1][0], areas[1][1]);
		bool data = in_range(gpa, c->in1, OUT_LEN);

		if (!page_marked(log, gpa))
			continue;
		if (ring)
			ring_marked = true;
		if (!ring && !data)
			fail_msg("page %#llx marked, the device wrote nothing there",
				 (unsigned long long)gpa);
	}
	assert_true(ring_marked == ring_on);
	/* The written prefix ended inside the second page of in1. */
	assert_false(in_range(c->in1 + IN1_LEN - 1, c->in1, OUT_LEN));
	assert_false(page_marked(log, c->in1 + IN1_LEN - 1) &&
		     !in_range(c->in1 + IN1_LEN - 1, areas[0][0], areas[0][1]));
	assert_false(page_marked(log, c->in2));
	assert_false(page_marked(log, c->out));
}

/* Every page the device wrote is marked, and nothing else. */
static void test_exact(void **state)
{
	struct t *t = *state;
	struct chain c;
	uint8_t *log;
	int fd;

	up(t);
	chain_init(t, &c);
	log = log_on(t, &fd);
	memset(log, 0, LOG_BYTES);
	chain_run(t, &c);
	check_log(t, log, &c, true);
	/* Some I/O on both queues too: still nothing outside. */
	memset(log, 0, LOG_BYTES);
	expect_io(t, 1, 3, 2);
	assert_true(page_marked(log, vt_gmem_gpa(&t->g, slot_out(t, 1, 0) + BUF_SLOT)));
	assert_false(page_marked(log, c.in1));
	log_off(t, log, fd);
}

/* The ring's LOG flag off: buffers are still logged, the ring is not. */
static void test_ring_flag_off(void **state)
{
	struct t *t = *state;
	struct chain c;
	uint8_t *log;
	int fd;

	up(t);
	chain_init(t, &c);
	log = log_on(t, &fd);
	assert_int_equal(set_addr(t, &t->r[0]), 0);     /* flags 0 */
	memset(log, 0, LOG_BYTES);
	chain_run(t, &c);
	check_log(t, log, &c, false);
	log_off(t, log, fd);
}

/* LOG_ALL off and on again while the rings run: no marks while off. */
static void test_log_all_toggle(void **state)
{
	struct t *t = *state;
	struct chain c;
	uint8_t *log;
	int fd;

	up(t);
	chain_init(t, &c);
	log = log_on(t, &fd);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_FEATURES, t->lay->features | BIT30), 0);
	assert_false(t->b.log_all);
	assert_null(t->b.mem.log);
	assert_true(t->e.q[0].live);
	memset(log, 0, LOG_BYTES);
	chain_run(t, &c);
	for (size_t i = 0; i < LOG_BYTES; i++)
		assert_int_equal(log[i], 0);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_FEATURES, t->lay->features | BIT30 | BIT26), 0);
	assert_true(t->e.q[0].live);
	chain_run(t, &c);
	check_log(t, log, &c, true);
	log_off(t, log, fd);
}

/* A queue thread runs the device while the dispatch thread (this one)
 * turns LOG_ALL on and off and hands over new logs between buffers, as
 * QEMU does while the guest does I/O: every buffer comes back right, and
 * with logging on at the end the last buffers' pages are marked. TSan
 * checks the log pointer's hand-over (the queue locks). */
static void test_toggle_threaded(void **state)
{
	struct t *t = *state;
	const uint64_t f = t->lay->features | BIT30;
	struct qthread q = { .b = &t->b, .qi = 0 };
	uint64_t irqs = 0;
	uint8_t *log;
	int fd;

	up(t);
	log = log_on(t, &fd);
	q.stop_fd = vt_eventfd();
	q.kick_fd = vio_vu_backend_kick_fd(&t->b, 0);
	assert_true(q.stop_fd >= 0);
	assert_int_equal(pthread_create(&q.th, NULL, qthread_main, &q), 0);
	for (unsigned round = 0; round < 60; round++) {
		post(t, 0, 1 + round % 4, 1 + round % 2);
		vt_ring_kick(&t->r[0]);
		if (round % 10 == 5)
			assert_int_equal(set_log_base(t, fd, LOG_BYTES, 0x1000), 0);
		assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_FEATURES, f | (round & 1 ? BIT26 : 0)), 0);
		wait_all(t, 0, &irqs);
	}
	assert_true(t->b.log_all);
	memset(log, 0, LOG_BYTES);
	post(t, 0, 1, 1);
	vt_ring_kick(&t->r[0]);
	wait_all(t, 0, &irqs);
	assert_true(page_marked(log, vt_gmem_gpa(&t->g, slot_out(t, 0, t->posted[0] - 1) + BUF_SLOT)));
	vt_efd_signal(q.stop_fd);
	pthread_join(q.th, NULL);
	close(q.stop_fd);
	assert_false(t->e.dev.status & VIO_STATUS_NEEDS_RESET);
	log_off(t, log, fd);
}

/* A memory table that outgrows the log while logging: logging stops and
 * the device needs a reset (it could not log what it writes). */
static void test_mem_table_outgrows_log(void **state)
{
	struct t *t = *state;
	const struct vt_gmem *g[2] = { &t->g, &t->g2 };
	uint8_t *log;
	int fd;

	up(t);
	log = log_on(t, &fd);
	second_region(t);       /* at GPA + 256 MiB: past the log */
	assert_int_equal(vt_fe_mem_table(&t->fe, g, 2), 0);
	assert_null(t->b.mem.log);
	assert_true(t->e.dev.status & VIO_STATUS_NEEDS_RESET);
	assert_true(log_says(t, "too small"));
	log_off(t, log, fd);
}

/* SET_LOG_FD: the fd is kept, replaced, and closed when the frontend goes. */
static void test_log_fd(void **state)
{
	struct t *t = *state;
	int before = vt_count_fds(), efd = vt_eventfd();

	negotiate(t, PF_ALL);
	assert_int_equal(vt_fe_set(&t->fe, VU_SET_LOG_FD, NULL, 0, &efd, 1), 0);
	assert_true(t->b.log_fd >= 0);
	assert_int_equal(vt_fe_set(&t->fe, VU_SET_LOG_FD, NULL, 0, &efd, 1), 0);
	close(efd);
	assert_int_equal(vt_count_fds(), before + 1);   /* the backend's copy */
	close_frontend(t);
	vio_vu_backend_dispatch(&t->b);
	assert_int_equal(t->b.log_fd, -1);
}

/* Without REPLY_ACK, SET_LOG_BASE is still answered (QEMU waits for it):
 * an empty reply. */
static void test_reply_without_ack(void **state)
{
	struct t *t = *state;
	struct vu_log l = { LOG_BYTES, 0 };
	int fd = log_fd(LOG_BYTES);
	struct vt_msg m;

	negotiate(t, PF_ALL & ~PF(REPLY_ACK));
	map_memory(t);
	assert_int_equal(vt_fe_msg(&t->fe, VU_SET_LOG_BASE, 0, &l, sizeof(l), &fd, 1, &m), 0);
	assert_int_equal(m.hdr.request, VU_SET_LOG_BASE);
	assert_int_equal(m.hdr.flags, VU_VERSION | VU_FLAG_REPLY);
	assert_int_equal(m.hdr.size, 0);
	assert_non_null(t->b.log);
	close(fd);
	assert_serving(t);
}

/* -- malformed --------------------------------------------------------------- */

/* Memory mapped, REPLY_ACK, no log yet. */
static void ready(struct t *t)
{
	negotiate(t, PF_ALL);
	map_memory(t);
}

static void refused(struct t *t, uint64_t size, uint64_t offset, size_t file_len)
{
	struct vu_log l = { size, offset };
	int fd = log_fd(file_len);

	send_refused(t, VU_SET_LOG_BASE, 0, &l, sizeof(l), &fd, 1);
	close(fd);
	assert_not_logging(t);
}

static void test_no_fd(void **state)
{
	struct t *t = *state;
	struct vu_log l = { LOG_BYTES, 0 };

	ready(t);
	send_refused(t, VU_SET_LOG_BASE, 0, &l, sizeof(l), NULL, 0);
	assert_not_logging(t);
}

static void test_two_fds(void **state)
{
	struct t *t = *state;
	struct vu_log l = { LOG_BYTES, 0 };
	int fds[2] = { log_fd(LOG_BYTES), log_fd(LOG_BYTES) };

	ready(t);
	send_refused(t, VU_SET_LOG_BASE, 0, &l, sizeof(l), fds, 2);
	close(fds[0]);
	close(fds[1]);
	assert_not_logging(t);
}

static void test_size_zero(void **state)
{
	struct t *t = *state;

	ready(t);
	refused(t, 0, 0, LOG_BYTES);
}

static void test_offset_beyond_file(void **state)
{
	struct t *t = *state;

	ready(t);
	refused(t, LOG_BYTES, 0x10000, LOG_BYTES);
}

static void test_size_beyond_file(void **state)
{
	struct t *t = *state;

	ready(t);
	refused(t, LOG_BYTES, 0, LOG_BYTES - 1);
}

static void test_overflow(void **state)
{
	struct t *t = *state;

	/* offset + size wraps to a small number that the file would hold
	 * (DPDK's CVE-2020-10722). */
	ready(t);
	refused(t, UINT64_MAX - 0xfff, 0x2000, LOG_BYTES);
}

static void test_smaller_than_memory(void **state)
{
	struct t *t = *state;

	ready(t);
	refused(t, LOG_BYTES - 1, 0, LOG_BYTES);
	assert_true(log_says(t, "cannot cover"));
}

/* A ring whose log address (set first, before any log) lies past what the
 * log covers. */
static void test_smaller_than_ring_log(void **state)
{
	struct t *t = *state;
	struct vu_vring_addr a = t->r[0].addr;

	ready(t);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_NUM, 0, QSIZE), 0);
	a.flags = VU_VRING_F_LOG;
	a.log = GPA + 2 * MEM_SIZE;
	assert_int_equal(vt_fe_set(&t->fe, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
	refused(t, LOG_BYTES, 0, LOG_BYTES);
}

static void test_without_log_shmfd(void **state)
{
	struct t *t = *state;
	struct vu_log l = { LOG_BYTES, 0 };
	int fd = log_fd(LOG_BYTES);

	negotiate(t, PF_ALL & ~PF(LOG_SHMFD));
	map_memory(t);
	send_refused(t, VU_SET_LOG_BASE, 0, &l, sizeof(l), &fd, 1);
	close(fd);
	assert_not_logging(t);
}

static void test_wrong_payload_size(void **state)
{
	struct t *t = *state;
	uint64_t legacy = 0;            /* the u64 of a log without LOG_SHMFD */
	int fd = log_fd(LOG_BYTES);

	ready(t);
	send_refused(t, VU_SET_LOG_BASE, 0, &legacy, sizeof(legacy), &fd, 1);
	close(fd);
	assert_not_logging(t);
}

static void test_vring_log_outside(void **state)
{
	struct t *t = *state;
	struct vu_vring_addr a;
	uint8_t *log;
	int fd;

	up(t);
	log = log_on(t, &fd);
	a = t->r[1].addr;
	a.flags = VU_VRING_F_LOG;
	a.log = (uint64_t)LOG_BYTES * 8 * PAGE;         /* the first page past it */
	send_refused(t, VU_SET_VRING_ADDR, 0, &a, sizeof(a), NULL, 0);
	a.log = UINT64_MAX - 8;                         /* wraps */
	send_refused(t, VU_SET_VRING_ADDR, 0, &a, sizeof(a), NULL, 0);
	/* The ring keeps its earlier, valid settings. */
	assert_true(t->b.queues[1].log_ring);
	assert_int_equal(t->b.queues[1].log_addr, t->r[1].gpa.device);
	log_off(t, log, fd);
}

/* A refused log while logging: the device must not write unlogged. */
static void test_refused_while_logging(void **state)
{
	struct t *t = *state;
	uint8_t *log;
	int fd;

	up(t);
	log = log_on(t, &fd);
	refused(t, 0, 0, LOG_BYTES);
	assert_true(t->e.dev.status & VIO_STATUS_NEEDS_RESET);
	log_off(t, log, fd);
}

static const struct test_def io_tests[] = {
	{ "dirty log: exactly the pages written", test_exact },
	{ "dirty log: ring LOG flag off, buffers still logged", test_ring_flag_off },
	{ "dirty log: LOG_ALL off and on while rings run", test_log_all_toggle },
	{ "dirty log: LOG_ALL and new logs while a queue thread runs", test_toggle_threaded },
};

static const struct test_def control_tests[] = {
	{ "memory table outgrows the log while logging", test_mem_table_outgrows_log },
	{ "SET_LOG_FD kept, replaced, closed", test_log_fd },
	{ "SET_LOG_BASE answered without REPLY_ACK", test_reply_without_ack },
};

static const struct test_def malformed_tests[] = {
	{ "SET_LOG_BASE without an fd", test_no_fd },
	{ "SET_LOG_BASE with two fds", test_two_fds },
	{ "SET_LOG_BASE of size 0", test_size_zero },
	{ "SET_LOG_BASE offset beyond the file", test_offset_beyond_file },
	{ "SET_LOG_BASE size beyond the file", test_size_beyond_file },
	{ "SET_LOG_BASE offset + size overflows", test_overflow },
	{ "SET_LOG_BASE smaller than memory", test_smaller_than_memory },
	{ "SET_LOG_BASE smaller than a ring's log address", test_smaller_than_ring_log },
	{ "SET_LOG_BASE without LOG_SHMFD", test_without_log_shmfd },
	{ "SET_LOG_BASE with a u64 payload", test_wrong_payload_size },
	{ "SET_VRING_ADDR log address outside the log", test_vring_log_outside },
	{ "SET_LOG_BASE refused while logging", test_refused_while_logging },
};

int main(void)
{
	for (size_t i = 0; i < ARRAY_LEN(layouts); i++)
		add_defs(layouts[i].name, io_tests, ARRAY_LEN(io_tests), &layouts[i]);
	add_defs("control", control_tests, ARRAY_LEN(control_tests), &layouts[0]);
	add_defs("malformed", malformed_tests, ARRAY_LEN(malformed_tests), &layouts[0]);
	return run_added("vu_backend_dirtylog");
}
