/*
 * test_vu_backend_setup.c - well-framed messages the vhost-user backend
 * must refuse: memory tables and regions, ring setup (sizes, addresses,
 * bases, enabling too early, changing a running ring), kick bits,
 * features, requests that need their protocol feature, config access,
 * and kick, call and error fds that are not eventfds.
 *
 * Siblings, all in tests/vhost_user/: test_vu_backend_io.c (the happy path
 * on every layout), test_vu_backend_hostile.c (hostile drivers: every
 * layout, split- and packed-specific), test_vu_backend_control.c (the
 * control plane), test_vu_backend_messages.c (broken framing, fds, queue
 * indices, stalls), test_vu_backend_setup.c (refused memory tables, ring
 * setup, features, config, eventfds) and test_vu_backend_inflight.c
 * (GET/SET_INFLIGHT_FD); the echo device, the fixture and the registration
 * are vu_backend_fixture.{c,h}.
 */

#include "vu_backend_fixture.h"

/* /proc/self/fdinfo/fd ("" when it cannot be read). */
static const char *read_fdinfo(int fd)
{
	static char buf[1024];
	char path[64];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return "";
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* -- SET_MEM_TABLE ------------------------------------------------------------ */
/* Sends a table that must be refused and checks nothing stays mapped. */
static void mem_table_refused(struct t *t, const struct vu_mem_table *tb, uint32_t size,
			      const int *fds, unsigned nfds)
{
	int maps = guest_maps();

	send_refused(t, VU_SET_MEM_TABLE, 0, tb, size, fds, nfds);
	assert_int_equal(t->b.nmaps, 0);
	assert_int_equal(vio_mem_count(&t->b.mem), 0);
	assert_int_equal(guest_maps(), maps);
}

/* A one-region table over t->g, with `fix` applied to the region. */
static void one_region_refused(struct t *t, void (*fix)(struct vu_mem_region *r))
{
	struct vu_mem_table tb;

	negotiate(t, PF_ALL);
	memset(&tb, 0, sizeof(tb));
	tb.nregions = 1;
	tb.regions[0] = vt_gmem_region(&t->g);
	fix(&tb.regions[0]);
	mem_table_refused(t, &tb, 8 + sizeof(tb.regions[0]), &t->g.fd, 1);
	/* A good table still goes in afterwards. */
	map_memory(t);
}

static void fix_size0(struct vu_mem_region *r)
{
	r->size = 0;
}

static void fix_guest_overflow(struct vu_mem_region *r)
{
	r->guest_addr = UINT64_MAX - 0xfff;
}

static void fix_user_overflow(struct vu_mem_region *r)
{
	r->user_addr = UINT64_MAX - 0xfff;
}

static void fix_offset_overflow(struct vu_mem_region *r)
{
	r->mmap_offset = UINT64_MAX - 0xfff;
}

static void fix_offset_huge(struct vu_mem_region *r)
{
	r->mmap_offset = UINT64_C(1) << 62;
}

static void test_mem_region_size0(void **state)
{
	one_region_refused(*state, fix_size0);
}

static void test_mem_region_guest_overflow(void **state)
{
	one_region_refused(*state, fix_guest_overflow);
}

static void test_mem_region_user_overflow(void **state)
{
	one_region_refused(*state, fix_user_overflow);
}

static void test_mem_region_offset_overflow(void **state)
{
	one_region_refused(*state, fix_offset_overflow);
}

static void test_mem_region_offset_huge(void **state)
{
	one_region_refused(*state, fix_offset_huge);
}

static void test_mem_table_zero_regions(void **state)
{
	struct t *t = *state;
	struct vu_mem_table tb;

	negotiate(t, PF_ALL);
	memset(&tb, 0, sizeof(tb));
	mem_table_refused(t, &tb, 8, NULL, 0);
}

/* Nine regions claimed in a message with room for eight. */
static void test_mem_table_nine_regions(void **state)
{
	struct t *t = *state;
	struct vu_mem_table tb;

	negotiate(t, PF_ALL);
	memset(&tb, 0, sizeof(tb));
	tb.nregions = VU_MEM_TABLE_MAX + 1;
	mem_table_refused(t, &tb, sizeof(tb), NULL, 0);
}

/* nregions says 1, the payload holds two. */
static void test_mem_table_count_mismatch(void **state)
{
	struct t *t = *state;
	struct vu_mem_table tb;

	negotiate(t, PF_ALL);
	memset(&tb, 0, sizeof(tb));
	tb.nregions = 1;
	tb.regions[0] = vt_gmem_region(&t->g);
	mem_table_refused(t, &tb, 8 + 2 * sizeof(tb.regions[0]), &t->g.fd, 1);
}

/* Two regions over two memfds; `second` is adjusted from a disjoint one. */
static void two_regions_refused(struct t *t, void (*fix)(const struct vu_mem_region *a,
							 struct vu_mem_region *b))
{
	struct vu_mem_table tb;
	int fds[2];

	negotiate(t, PF_ALL);
	second_region(t);
	memset(&tb, 0, sizeof(tb));
	tb.nregions = 2;
	tb.regions[0] = vt_gmem_region(&t->g);
	tb.regions[1] = vt_gmem_region(&t->g2);
	fix(&tb.regions[0], &tb.regions[1]);
	fds[0] = t->g.fd;
	fds[1] = t->g2.fd;
	mem_table_refused(t, &tb, 8 + 2 * sizeof(tb.regions[0]), fds, 2);
}

static void fix_guest_overlap(const struct vu_mem_region *a, struct vu_mem_region *b)
{
	b->guest_addr = a->guest_addr + a->size - 0x1000;
}

static void fix_user_overlap(const struct vu_mem_region *a, struct vu_mem_region *b)
{
	b->user_addr = a->user_addr + 0x1000;
}

static void fix_second_bad(const struct vu_mem_region *a, struct vu_mem_region *b)
{
	b->size = 0;
}

static void test_mem_table_guest_overlap(void **state)
{
	two_regions_refused(*state, fix_guest_overlap);
}

static void test_mem_table_user_overlap(void **state)
{
	two_regions_refused(*state, fix_user_overlap);
}

/* The first region was fine and got mapped: it must not stay mapped. */
static void test_mem_table_second_bad(void **state)
{
	two_regions_refused(*state, fix_second_bad);
}

/* An fd that cannot be mapped. */
static void test_mem_table_unmappable_fd(void **state)
{
	struct t *t = *state;
	struct vu_mem_table tb;
	int fd = vt_eventfd();

	negotiate(t, PF_ALL);
	memset(&tb, 0, sizeof(tb));
	tb.nregions = 1;
	tb.regions[0] = vt_gmem_region(&t->g);
	mem_table_refused(t, &tb, 8 + sizeof(tb.regions[0]), &fd, 1);
	close(fd);
}

/*
 * A region that runs past the end of its file: mmap() succeeds, but a
 * touch beyond the file's end is SIGBUS. Run in a child so a crash is a
 * failed test, not a dead suite. The backend may refuse the table (best:
 * fstat the fd) or refuse what lies beyond the file, but must not die.
 * Child exit codes: 0 survived, 2 a setup step failed.
 */
enum beyond { BEYOND_BUFFER, BEYOND_RING };

static int beyond_child(struct t *t, enum beyond what)
{
	const size_t file_len = 0x10000;        /* the region claims MEM_SIZE */
	struct vt_gmem g;
	const struct vt_gmem *gp = &g;
	struct vt_ring *r = &t->r[0];
	int e;

	if (vt_fe_handshake(&t->fe, t->lay->features | BIT30, PF_ALL, NULL))
		return 2;
	if (vt_gmem_init(&g, MEM_SIZE, 0, GPA, UVA, file_len))
		return 2;
	e = vt_fe_mem_table(&t->fe, &gp, 1);
	if (e == 1)
		return 0;               /* refused up front: fine */
	if (e)
		return 2;
	/* The ring itself lies inside the file (the allocator stays there). */
	vt_ring_fini(r);
	if (vt_ring_init(r, &g, 0, QSIZE, t->lay->features, 0))
		return 2;
	if (what == BEYOND_RING) {
		/* Split reads the used index at start; both read descriptors at
		 * the first pop. */
		r->addr.desc = UVA + file_len + 0x1000;
		r->addr.used = UVA + file_len + 0x4000;
	}
	e = vt_fe_start_ring(&t->fe, r, fresh_base(t), true);
	if (e < 0 || (e && what == BEYOND_BUFFER))
		return 2;
	if (e == 0) {
		struct vio_sg o = { GPA + 0x8000, 64 }, i = { GPA + 0x9000, 64 };

		if (what == BEYOND_BUFFER) {
			o.addr = GPA + file_len + 0x2000;
			i.addr = GPA + file_len + 0x3000;
		}
		if (vio_drvq_add(&r->q, &o, 1, &i, 1, token(0)))
			return 2;
		vt_ring_kick(r);
		vio_vu_backend_queue_dispatch(&t->b, 0);
	}
	/* Still alive: and still serving? */
	return t->b.sock >= 0 ? 0 : 3;
}

static void run_beyond(struct t *t, enum beyond what)
{
	pid_t pid;
	int status = 0;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* cmocka catches SIGBUS/SIGSEGV and longjmps: here a fault must
		 * end the child so the parent sees it. */
		signal(SIGBUS, SIG_DFL);
		signal(SIGSEGV, SIG_DFL);
		_exit(beyond_child(t, what));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("the backend died of signal %d touching memory past the end of a "
			 "region's file", WTERMSIG(status));
	if (WEXITSTATUS(status) != 0)
		fail_msg("the child exited with %d (1: sanitizer report, e.g. SIGBUS; 2: setup; "
			 "3: backend dropped the connection)", WEXITSTATUS(status));
}

static void test_mem_region_beyond_file_buffer(void **state)
{
	run_beyond(*state, BEYOND_BUFFER);
}

static void test_mem_region_beyond_file_ring(void **state)
{
	run_beyond(*state, BEYOND_RING);
}

/* -- ring setup ----------------------------------------------------------------- */
struct ring_addr_row {
	const char *name;
	uint64_t desc, avail, used;     /* added to ring 0's user addresses */
	bool use_gpa;                   /* send guest addresses instead of user ones */
	const char *log;                /* what the log line says */
};

static const struct ring_addr_row ring_addr_rows[] = {
	{ "descriptors outside the memory table", MEM_SIZE, 0, 0, false, "outside" },
	{ "avail ring outside the memory table", 0, MEM_SIZE, 0, false, "outside" },
	{ "used ring outside the memory table", 0, 0, MEM_SIZE, false, "outside" },
	{ "used ring at the top of the address space", 0, 0, UINT64_MAX, false, "outside" },
	{ "guest addresses where user addresses belong", 0, 0, 0, true, "outside" },
	{ "descriptors misaligned", 8, 0, 0, false, "" },
	{ "avail ring misaligned", 0, 1, 0, false, "" },
	{ "used ring misaligned", 0, 0, 2, false, "" },
};

/* A refused ring start: logged, the ring does not run, the backend serves,
 * and with good addresses the ring then starts. */
static void test_ring_addr_row(void **state)
{
	struct t *t = *state;
	const struct ring_addr_row *row = t->row;
	struct vt_ring *r = &t->r[0];
	struct vu_vring_addr good = r->addr;
	unsigned nlog;

	negotiate(t, PF_ALL);
	map_memory(t);
	if (row->use_gpa) {
		r->addr.desc = r->gpa.desc;
		r->addr.avail = r->gpa.driver;
		r->addr.used = r->gpa.device;
	}
	r->addr.desc += row->desc;
	r->addr.avail += row->avail;
	/* UINT64_MAX: an aligned address whose ring would wrap past 2^64. */
	r->addr.used = row->used == UINT64_MAX ? UINT64_MAX - 0xf : r->addr.used + row->used;
	nlog = t->nlog;
	assert_int_equal(vt_fe_start_ring(&t->fe, r, fresh_base(t), true), 1);
	assert_true(t->nlog > nlog);
	assert_true(log_says(t, row->log));
	assert_false(t->e.q[0].live);
	assert_serving(t);
	if (t->e.dev.status & VIO_STATUS_NEEDS_RESET)
		return;         /* the device model gave up on it; a reset recovers */
	r->addr = good;
	start(t, 0);
	expect_io(t, 0, 2, 1);
}

static void test_vring_num_zero(void **state)
{
	struct t *t = *state;
	struct vu_vring_state s = { 0, 0 };

	negotiate(t, PF_ALL);
	send_refused(t, VU_SET_VRING_NUM, 0, &s, sizeof(s), NULL, 0);
}

static void test_vring_num_above_max(void **state)
{
	struct t *t = *state;
	struct vu_vring_state s = { 0, QMAX * 2 };

	negotiate(t, PF_ALL);
	send_refused(t, VU_SET_VRING_NUM, 0, &s, sizeof(s), NULL, 0);
	s.num = 0xffffffffu;
	send_refused(t, VU_SET_VRING_NUM, 0, &s, sizeof(s), NULL, 0);
}

/* Changing a running ring's size, addresses or base is refused; it runs on. */
static void test_running_ring_setup(void **state)
{
	struct t *t = *state;
	struct vu_vring_state s = { 0, QSIZE / 2 };
	struct vu_vring_addr a = t->r[0].addr;

	up(t);
	send_refused(t, VU_SET_VRING_NUM, 0, &s, sizeof(s), NULL, 0);
	a.desc += 0x1000;
	send_refused(t, VU_SET_VRING_ADDR, 0, &a, sizeof(a), NULL, 0);
	s.num = 3;
	send_refused(t, VU_SET_VRING_BASE, 0, &s, sizeof(s), NULL, 0);
	assert_true(t->e.q[0].live);
	expect_io(t, 0, 3, 1);
}

static void test_vring_addr_flags(void **state)
{
	struct t *t = *state;
	struct vu_vring_addr a = t->r[0].addr;

	negotiate(t, PF_ALL);
	a.flags = 2;
	send_refused(t, VU_SET_VRING_ADDR, 0, &a, sizeof(a), NULL, 0);
	assert_false(t->b.queues[0].addr_set);
}

static void test_vring_base_too_big(void **state)
{
	struct t *t = *state;
	struct vu_vring_state s = { 0, 0x10000 };

	negotiate(t, PF_ALL);
	send_refused(t, VU_SET_VRING_BASE, 0, &s, sizeof(s), NULL, 0);
}

static void test_vring_enable_two(void **state)
{
	struct t *t = *state;
	struct vu_vring_state s = { 0, 2 };

	negotiate(t, PF_ALL);
	send_refused(t, VU_SET_VRING_ENABLE, 0, &s, sizeof(s), NULL, 0);
	assert_false(t->b.queues[0].enabled);
}

/* A ring enabled before SET_FEATURES: refused; once features are set, the
 * next kick fd starts it. */
static void test_ring_before_features(void **state)
{
	struct t *t = *state;

	assert_int_equal(vt_fe_negotiate_protocol(&t->fe, PF_ALL, NULL), 0);
	map_memory(t);
	assert_int_equal(vt_fe_start_ring(&t->fe, &t->r[0], fresh_base(t), true), 1);
	assert_true(log_says(t, "before features"));
	assert_false(t->e.q[0].live);
	assert_serving(t);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_FEATURES, t->lay->features | BIT30), 0);
	start(t, 0);
	expect_io(t, 0, 2, 1);
}

/* A ring enabled before SET_VRING_ADDR (or SET_VRING_NUM): refused. */
static void test_ring_before_addr(void **state)
{
	struct t *t = *state;

	negotiate(t, PF_ALL);
	map_memory(t);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_NUM, 0, QSIZE), 0);
	assert_int_equal(vt_fe_vring_fd(&t->fe, VU_SET_VRING_KICK, 0, t->r[0].kick_fd), 0);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_ENABLE, 0, 1), 1);
	assert_false(t->e.q[0].live);
	assert_serving(t);
	start(t, 0);
	expect_io(t, 0, 2, 1);
}

struct kick_bits_row {
	const char *name;
	uint64_t v;
};

static const struct kick_bits_row kick_bits_rows[] = {
	{ "bit 9", 1u << 9 },
	{ "bit 32", UINT64_C(1) << 32 },
	{ "bit 63", UINT64_C(1) << 63 },
};

static void test_kick_bits_row(void **state)
{
	struct t *t = *state;
	const struct kick_bits_row *row = t->row;

	negotiate(t, PF_ALL);
	send_with_fds(t, VU_SET_VRING_KICK, &row->v, sizeof(row->v), 1);
	assert_false(t->b.queues[0].started);
}

/* -- features ----------------------------------------------------------------- */
static void test_features_not_offered(void **state)
{
	struct t *t = *state;
	uint64_t f = t->lay->features | BIT30 | VIO_BIT(5);

	negotiate(t, PF_ALL);
	send_refused(t, VU_SET_FEATURES, 0, &f, sizeof(f), NULL, 0);
	assert_int_equal(t->e.dev.features, t->lay->features);
}

static void test_features_packed_without_v1(void **state)
{
	struct t *t = *state;
	uint64_t f = F_PACKED | BIT30;

	negotiate(t, PF_ALL);
	send_refused(t, VU_SET_FEATURES, 0, &f, sizeof(f), NULL, 0);
	assert_int_equal(t->e.dev.features, t->lay->features);
}

/* The device type refuses at FEATURES_OK. */
static void test_features_refused_by_device(void **state)
{
	struct t *t = *state;
	uint64_t f = V1 | VIO_BIT(ECHO_F_REFUSED) | BIT30;

	negotiate(t, PF_ALL);
	send_refused(t, VU_SET_FEATURES, 0, &f, sizeof(f), NULL, 0);
	assert_int_equal(get_status(t) & VIO_STATUS_FEATURES_OK, 0);
}

static void test_features_change_while_running(void **state)
{
	struct t *t = *state;
	uint64_t f = (t->lay->features ^ F_EVT) | BIT30;

	up(t);
	send_refused(t, VU_SET_FEATURES, 0, &f, sizeof(f), NULL, 0);
	assert_int_equal(t->e.dev.features, t->lay->features);
	assert_true(t->e.q[0].live);
	expect_io(t, 0, 2, 1);
}

static void test_protocol_features_not_offered(void **state)
{
	struct t *t = *state;
	uint64_t pf = PF_ALL | PF(PAGEFAULT);
	uint64_t n = 0;

	negotiate(t, PF_ALL);
	send_refused(t, VU_SET_PROTOCOL_FEATURES, 0, &pf, sizeof(pf), NULL, 0);
	pf = PF(INBAND_NOTIFICATIONS);
	send_refused(t, VU_SET_PROTOCOL_FEATURES, 0, &pf, sizeof(pf), NULL, 0);
	assert_int_equal(t->b.protocol_features, PF_ALL);
	assert_int_equal(vt_fe_get_u64(&t->fe, VU_GET_QUEUE_NUM, &n), 0);
	assert_int_equal(n, NQ);
}

/* -- messages that need a protocol feature ---------------------------------- */
#define MEM_SINGLE ((uint32_t)sizeof(struct vu_mem_single))

struct needs_row {
	const char *name;
	uint32_t req;
	uint32_t size;
	bool fd;
};

static const struct needs_row needs_rows[] = {
	{ "GET_QUEUE_NUM without MQ", VU_GET_QUEUE_NUM, 0, false },
	{ "GET_CONFIG without CONFIG", VU_GET_CONFIG, VU_CONFIG_HDR + 4, false },
	{ "SET_CONFIG without CONFIG", VU_SET_CONFIG, VU_CONFIG_HDR + 1, false },
	{ "SET_BACKEND_REQ_FD without BACKEND_REQ", VU_SET_BACKEND_REQ_FD, 0, true },
	{ "RESET_DEVICE without RESET_DEVICE", VU_RESET_DEVICE, 0, false },
	{ "GET_MAX_MEM_SLOTS without CONFIGURE_MEM_SLOTS", VU_GET_MAX_MEM_SLOTS, 0, false },
	{ "ADD_MEM_REG without CONFIGURE_MEM_SLOTS", VU_ADD_MEM_REG, MEM_SINGLE, true },
	{ "REM_MEM_REG without CONFIGURE_MEM_SLOTS", VU_REM_MEM_REG, MEM_SINGLE, false },
	{ "SET_STATUS without STATUS", VU_SET_STATUS, 8, false },
	{ "GET_STATUS without STATUS", VU_GET_STATUS, 0, false },
	{ "GET_INFLIGHT_FD without INFLIGHT_SHMFD", VU_GET_INFLIGHT_FD, sizeof(struct vu_inflight), false },
	{ "SET_INFLIGHT_FD without INFLIGHT_SHMFD", VU_SET_INFLIGHT_FD, sizeof(struct vu_inflight), true },
};

static void test_needs_row(void **state)
{
	struct t *t = *state;
	const struct needs_row *row = t->row;
	union vu_payload p;
	int fd = t->g.fd;

	negotiate(t, PF(REPLY_ACK));
	memset(&p, 0, sizeof(p));
	if (row->req == VU_GET_CONFIG || row->req == VU_SET_CONFIG)
		p.config.size = row->size - VU_CONFIG_HDR;
	else if (row->req == VU_ADD_MEM_REG || row->req == VU_REM_MEM_REG)
		p.mem_reg.region = vt_gmem_region(&t->g);
	else if (row->req == VU_SET_STATUS)
		p.u64 = VIO_STATUS_ACKNOWLEDGE;
	if (row->req == VU_SET_BACKEND_REQ_FD)
		fd = vt_eventfd();
	send_refused(t, row->req, 0, &p, row->size, &fd, row->fd ? 1 : 0);
	if (row->req == VU_SET_BACKEND_REQ_FD)
		close(fd);
	assert_int_equal(t->b.nmaps, 0);
	assert_int_equal(t->e.dev.status, STATUS_NEGOTIATED);
}

/* -- config ranges ------------------------------------------------------------ */
struct config_row {
	const char *name;
	uint32_t offset, size;  /* the fields */
	uint32_t msg_size;      /* the header's payload size (0: VU_CONFIG_HDR + size) */
	uint32_t flags;
};

static const struct config_row config_rows[] = {
	{ "offset at the end", CFG_LEN, 1, 0, 0 },
	{ "size past the end", 0, CFG_LEN + 1, 0, 0 },
	{ "offset past the end", 100, 1, 0, 0 },
	{ "offset plus size wraps", 0xffffffffu, 2, 0, 0 },
	{ "size field above 256", 0, 300, VU_CONFIG_HDR + VU_CONFIG_MAX, 0 },
	{ "size field not the payload's", 0, 4, VU_CONFIG_HDR + 8, 0 },
};

static uint32_t config_msg_size(const struct config_row *row)
{
	return row->msg_size ? row->msg_size : VU_CONFIG_HDR + row->size;
}

/* GET_CONFIG says "error" with an empty payload. */
static void test_get_config_row(void **state)
{
	struct t *t = *state;
	const struct config_row *row = t->row;
	struct vu_config c;
	struct vt_msg m;
	uint32_t size;

	negotiate(t, PF_ALL);
	memset(&c, 0, sizeof(c));
	c.offset = row->offset;
	c.size = row->size;
	size = config_msg_size(row);
	assert_int_equal(vt_fe_msg(&t->fe, VU_GET_CONFIG, 0, &c, size, NULL, 0, &m), 0);
	assert_int_equal(m.hdr.size, VU_CONFIG_HDR);
	assert_int_equal(m.p.config.size, 0);
	assert_serving(t);
}

static void test_set_config_row(void **state)
{
	struct t *t = *state;
	const struct config_row *row = t->row;
	uint8_t before[CFG_LEN];
	struct vu_config c;

	negotiate(t, PF_ALL);
	memcpy(before, t->e.config, CFG_LEN);
	memset(&c, 0x33, sizeof(c));
	c.offset = row->offset;
	c.size = row->size;
	c.flags = row->flags;
	send_refused(t, VU_SET_CONFIG, 0, &c, config_msg_size(row), NULL, 0);
	assert_memory_equal(t->e.config, before, CFG_LEN);
	assert_int_equal(t->e.config_writes, 0);
}

static void test_set_config_flags(void **state)
{
	struct t *t = *state;
	struct vu_config c;

	negotiate(t, PF_ALL);
	memset(&c, 0, sizeof(c));
	c.offset = CFG_RW;
	c.size = 1;
	c.flags = 2;
	send_refused(t, VU_SET_CONFIG, 0, &c, VU_CONFIG_HDR + 1, NULL, 0);
	assert_int_equal(t->e.config_writes, 0);
}

/* -- memory slots ---------------------------------------------------------------- */
static void test_rem_mem_reg_unknown(void **state)
{
	struct t *t = *state;
	struct vu_mem_single s = { 0, vt_gmem_region(&t->g) };

	negotiate(t, PF_ALL);
	send_refused(t, VU_REM_MEM_REG, 0, &s, sizeof(s), NULL, 0);
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_ADD_MEM_REG, &t->g), 0);
	/* Same start, other size: not that region either. */
	s.region.size /= 2;
	send_refused(t, VU_REM_MEM_REG, 0, &s, sizeof(s), NULL, 0);
	assert_int_equal(t->b.nmaps, 1);
}

static void test_add_mem_reg_bad(void **state)
{
	struct t *t = *state;
	struct vu_mem_single s = { 0, vt_gmem_region(&t->g) };

	negotiate(t, PF_ALL);
	s.region.guest_addr = UINT64_MAX - 0xfff;
	send_refused(t, VU_ADD_MEM_REG, 0, &s, sizeof(s), &t->g.fd, 1);
	s.region = vt_gmem_region(&t->g);
	s.region.size = 0;
	send_refused(t, VU_ADD_MEM_REG, 0, &s, sizeof(s), &t->g.fd, 1);
	assert_int_equal(t->b.nmaps, 0);
}

/* -- kick, call and error fds that are not eventfds --------------------------- */
enum fd_kind { FD_PIPE_READ, FD_PIPE_WRITE, FD_MEMFD, FD_SOCKET, FD_TIMERFD, FD_SEMAPHORE };

struct efd_row {
	const char *name;
	uint32_t req;
	enum fd_kind kind;
};

static const struct efd_row efd_rows[] = {
	{ "SET_VRING_KICK with a pipe at end of file", VU_SET_VRING_KICK, FD_PIPE_READ },
	{ "SET_VRING_KICK with a timerfd", VU_SET_VRING_KICK, FD_TIMERFD },
	{ "SET_VRING_KICK with a semaphore eventfd", VU_SET_VRING_KICK, FD_SEMAPHORE },
	{ "SET_VRING_CALL with a pipe nobody reads", VU_SET_VRING_CALL, FD_PIPE_WRITE },
	{ "SET_VRING_CALL with a memfd", VU_SET_VRING_CALL, FD_MEMFD },
	{ "SET_VRING_ERR with a socket", VU_SET_VRING_ERR, FD_SOCKET },
};

/* The fd of that kind; the caller closes it, and *keep (an other end that
 * must stay open, or -1) after it. */
static int odd_fd(enum fd_kind kind, int *keep)
{
	struct itimerspec ts = { { 0, 1000 }, { 0, 1000 } };
	int p[2], fd = -1;

	*keep = -1;
	switch (kind) {
	case FD_PIPE_READ:
		/* The writer gone: readable (end of file) for good. */
		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
		fd = p[0];
		close(p[1]);
		break;
	case FD_PIPE_WRITE:
		/* A reader that never reads: writes block once it is full. */
		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
		fd = p[1];
		*keep = p[0];
		break;
	case FD_MEMFD:
		fd = memfd_create("vt-odd", MFD_CLOEXEC);
		break;
	case FD_SOCKET:
		assert_int_equal(vt_socketpair(p), 0);
		fd = p[0];
		close(p[1]);
		break;
	case FD_TIMERFD:
		fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
		assert_int_equal(timerfd_settime(fd, 0, &ts, NULL), 0);
		break;
	case FD_SEMAPHORE:
		fd = eventfd(0, EFD_CLOEXEC | EFD_SEMAPHORE);
		assert_true(fd >= 0);
		vt_efd_signal(fd);
		break;
	}
	assert_true(fd >= 0);
	return fd;
}

/* A queue thread would block on such an fd, or find it readable with
 * nothing to take, again and again: refused, the ring keeps what it had. */
static void test_efd_row(void **state)
{
	struct t *t = *state;
	const struct efd_row *row = t->row;
	uint64_t v = 0;
	int fd, keep;

	negotiate(t, PF_ALL);
	map_memory(t);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_NUM, 0, QSIZE), 0);
	assert_int_equal(set_addr(t, &t->r[0]), 0);
	if (row->kind == FD_SEMAPHORE && !strstr(read_fdinfo(t->r[0].kick_fd), "eventfd-semaphore:")) {
		skip();         /* the kernel does not say */
		return;
	}
	fd = odd_fd(row->kind, &keep);
	send_refused(t, row->req, 0, &v, sizeof(v), &fd, 1);
	close(fd);
	if (keep >= 0)
		close(keep);
	assert_false(t->e.q[0].live);
	assert_int_equal(vio_vu_backend_kick_fd(&t->b, 0), -1);
	start(t, 0);
	expect_io(t, 0, 2, 1);
}

static const struct test_def layout_tests[] = {
	{ "ring beyond the end of the region's file", test_mem_region_beyond_file_ring },
	{ "buffer beyond the end of the region's file", test_mem_region_beyond_file_buffer },
};

static const struct test_def malformed_tests[] = {
	{ "SET_MEM_TABLE with 0 regions", test_mem_table_zero_regions },
	{ "SET_MEM_TABLE with 9 regions", test_mem_table_nine_regions },
	{ "SET_MEM_TABLE nregions not matching size", test_mem_table_count_mismatch },
	{ "SET_MEM_TABLE region size 0", test_mem_region_size0 },
	{ "SET_MEM_TABLE guest address overflow", test_mem_region_guest_overflow },
	{ "SET_MEM_TABLE user address overflow", test_mem_region_user_overflow },
	{ "SET_MEM_TABLE mmap offset overflow", test_mem_region_offset_overflow },
	{ "SET_MEM_TABLE mmap offset 2^62", test_mem_region_offset_huge },
	{ "SET_MEM_TABLE overlapping guest ranges", test_mem_table_guest_overlap },
	{ "SET_MEM_TABLE overlapping user ranges", test_mem_table_user_overlap },
	{ "SET_MEM_TABLE second region bad, first unmapped", test_mem_table_second_bad },
	{ "SET_MEM_TABLE fd that cannot be mapped", test_mem_table_unmappable_fd },
	{ "SET_VRING_NUM 0", test_vring_num_zero },
	{ "SET_VRING_NUM above the maximum", test_vring_num_above_max },
	{ "SET_VRING_NUM/ADDR/BASE while running", test_running_ring_setup },
	{ "SET_VRING_ADDR unknown flags", test_vring_addr_flags },
	{ "SET_VRING_BASE above 16 bits", test_vring_base_too_big },
	{ "SET_VRING_ENABLE 2", test_vring_enable_two },
	{ "ring enabled before SET_FEATURES", test_ring_before_features },
	{ "ring enabled before SET_VRING_ADDR", test_ring_before_addr },
	{ "SET_FEATURES with bits not offered", test_features_not_offered },
	{ "SET_FEATURES packed without VERSION_1", test_features_packed_without_v1 },
	{ "SET_FEATURES refused by the device", test_features_refused_by_device },
	{ "SET_FEATURES changing while rings run", test_features_change_while_running },
	{ "SET_PROTOCOL_FEATURES with bits not offered", test_protocol_features_not_offered },
	{ "SET_CONFIG flags 2", test_set_config_flags },
	{ "REM_MEM_REG of an unknown region", test_rem_mem_reg_unknown },
	{ "ADD_MEM_REG with a bad region", test_add_mem_reg_bad },
};

int main(void)
{
	for (size_t v = 0; v < ARRAY_LEN(layouts); v++)
		add_defs(layouts[v].name, layout_tests, ARRAY_LEN(layout_tests), &layouts[v]);
	/* Ring placement rules differ per layout: split and packed rows. */
	for (size_t v = 0; v < 2; v++)
		for (size_t i = 0; i < ARRAY_LEN(ring_addr_rows); i++)
			add(layouts[v].name, "ring start refused: ", ring_addr_rows[i].name,
			    test_ring_addr_row, &layouts[v], &ring_addr_rows[i]);
	/* Kick, call and error fds that are not eventfds, refused before a
	 * ring starts: split and packed rows. */
	for (size_t v = 0; v < 2; v++)
		for (size_t i = 0; i < ARRAY_LEN(efd_rows); i++)
			add(layouts[v].name, "not an eventfd: ", efd_rows[i].name, test_efd_row,
			    &layouts[v], &efd_rows[i]);
	add_defs("malformed", malformed_tests, ARRAY_LEN(malformed_tests), &layouts[0]);
	ADD_ROWS("SET_VRING_KICK unknown ", kick_bits_rows, test_kick_bits_row);
	ADD_ROWS("needs its protocol feature: ", needs_rows, test_needs_row);
	ADD_ROWS("GET_CONFIG ", config_rows, test_get_config_row);
	ADD_ROWS("SET_CONFIG ", config_rows, test_set_config_row);
	return run_added("vu_backend_setup");
}
