/*
 * test_vu_backend_control.c - the vhost-user backend's control plane:
 * negotiation, config, status, reset, memory slots, disconnect and
 * reconnect, frontends that never read (replies, the backend channel).
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

/* Dispatch until the backend drops the frontend. */
static void bg_dispatch_all(struct bg *g)
{
	while ((g->ret = vio_vu_backend_dispatch(&g->t->b)) == 0)
		;
}

/* Control plane                                                            */
static void test_handshake(void **state)
{
	struct t *t = *state;
	uint64_t f = 0, pf = 0, n = 0;

	assert_int_equal(vt_fe_get_u64(&t->fe, VU_GET_FEATURES, &f), 0);
	assert_int_equal(f, DEV_FEATURES | BIT30 | BIT26);
	/* Legal before SET_FEATURES. */
	assert_int_equal(vt_fe_get_u64(&t->fe, VU_GET_PROTOCOL_FEATURES, &pf), 0);
	assert_int_equal(pf, PF_OFFERED);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_PROTOCOL_FEATURES, PF_ALL), 0);
	assert_int_equal(t->b.protocol_features, PF_ALL);
	t->fe.protocol_features = PF_ALL;
	assert_int_equal(vt_fe_set(&t->fe, VU_SET_OWNER, NULL, 0, NULL, 0), 0);
	assert_true(t->b.owner);
	assert_int_equal(vt_fe_get_u64(&t->fe, VU_GET_QUEUE_NUM, &n), 0);
	assert_int_equal(n, NQ);
	assert_int_equal(get_status(t), 0);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_FEATURES, V1 | F_EVT | BIT30), 0);
	assert_int_equal(t->e.dev.features, V1 | F_EVT);
	assert_int_equal(get_status(t), STATUS_NEGOTIATED);
	/* QEMU repeats SET_FEATURES; the same value again is fine. */
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_FEATURES, V1 | F_EVT | BIT30), 0);
	/* And before the rings run it may change them. */
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_FEATURES, V1 | F_PACKED | BIT30), 0);
	assert_int_equal(t->e.dev.features, V1 | F_PACKED);
	assert_int_equal(get_status(t), STATUS_NEGOTIATED);
}

static void test_set_owner_twice(void **state)
{
	struct t *t = *state;

	negotiate(t, PF_ALL);
	assert_int_equal(vt_fe_set(&t->fe, VU_SET_OWNER, NULL, 0, NULL, 0), 1);
	assert_serving(t);
}

/* protocol_features_off in the backend config takes bits off the offer. */
static void test_protocol_features_off(void **state)
{
	struct t *t = *state;
	struct vio_vu_backend_config cfg = backend_config(t);
	uint64_t pf = 0;
	int sv[2];

	vio_vu_backend_fini(&t->b);
	cfg.protocol_features_off = PF(CONFIG) | PF(STATUS);
	assert_int_equal(vio_vu_backend_init(&t->b, &t->e.dev, &cfg), 0);
	close(t->fe.sock);
	assert_int_equal(vt_socketpair(sv), 0);
	assert_int_equal(vio_vu_backend_attach(&t->b, sv[1]), 0);
	vt_fe_init(&t->fe, sv[0], pump, t);
	assert_int_equal(vt_fe_get_u64(&t->fe, VU_GET_PROTOCOL_FEATURES, &pf), 0);
	assert_int_equal(pf, PF_OFFERED & ~(PF(CONFIG) | PF(STATUS)));
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_PROTOCOL_FEATURES, PF(REPLY_ACK)), 0);
	t->fe.protocol_features = PF(REPLY_ACK);
	pf = PF(REPLY_ACK) | PF(CONFIG);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_PROTOCOL_FEATURES, pf), 1);
	assert_int_equal(t->b.protocol_features, PF(REPLY_ACK));
	assert_serving(t);
}

/* Without PROTOCOL_FEATURES (an old frontend) rings start enabled at the
 * kick fd. */
static void test_no_protocol_features(void **state)
{
	struct t *t = *state;

	negotiate_features(t, t->lay->features, 0);
	assert_int_equal(t->b.protocol_features, 0);
	map_memory(t);
	assert_int_equal(vt_fe_start_ring(&t->fe, &t->r[0], fresh_base(t), false), 0);
	assert_true(t->e.q[0].live);
	expect_io(t, 0, 3, 2);
}

static void test_set_features_unchanged_while_running(void **state)
{
	struct t *t = *state;

	up(t);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_FEATURES, t->lay->features | BIT30), 0);
	assert_true(t->e.q[0].live);
	expect_io(t, 0, 2, 1);
}

static void test_get_set_config(void **state)
{
	struct t *t = *state;
	uint8_t cfg[CFG_LEN], v = 0x5c;
	vio_le32 magic;
	uint32_t gen = t->e.dev.config_generation;

	negotiate(t, PF_ALL);
	assert_int_equal(vt_fe_get_config(&t->fe, 0, CFG_LEN, cfg), (int)CFG_LEN);
	memcpy(&magic, cfg, sizeof(magic));
	assert_int_equal(vio_le32_to_cpu(magic), CFG_MAGIC);
	assert_int_equal(vt_fe_get_config(&t->fe, 2, 3, cfg), 3);
	assert_memory_equal(cfg, t->e.config + 2, 3);
	assert_int_equal(vt_fe_set_config(&t->fe, CFG_RW, 1, &v, 0), 0);
	assert_int_equal(t->e.config_writes, 1);
	assert_int_equal(t->e.write_off, CFG_RW);
	assert_int_equal(t->e.write_len, 1);
	assert_int_equal(vt_fe_get_config(&t->fe, CFG_RW, 1, cfg), 1);
	assert_int_equal(cfg[0], v);
	/* A write from the driver is no device-side change. */
	assert_int_equal(t->e.dev.config_generation, gen);
	/* The live-migration flag is legal too. */
	assert_int_equal(vt_fe_set_config(&t->fe, CFG_RW, 1, &v, 1), 0);
}

static void test_config_change_msg(void **state)
{
	struct t *t = *state;
	struct vt_msg m;

	negotiate(t, PF_ALL);
	backend_channel(t);
	map_memory(t);
	start(t, 0);
	t->e.config[CFG_RW] = 0x77;
	vio_dev_config_changed(&t->e.dev);
	assert_int_equal(vt_recv_msg(t->bch, &m, 1000), 0);
	assert_int_equal(m.hdr.request, VU_BACKEND_CONFIG_CHANGE_MSG);
	assert_int_equal(m.hdr.flags, VU_VERSION);
	assert_int_equal(m.hdr.size, 0);
	assert_int_equal(m.nfds, 0);
	assert_int_equal(t->e.dev.config_generation, 1);
	assert_serving(t);
}

static void bg_config_changes(struct bg *g)
{
	for (unsigned i = 0; i < 20000; i++)
		vio_dev_config_changed(&g->t->e.dev);
}

/* Our end of the backend channel closed: a send blocked on it returns. */
static void close_channel(struct t *t)
{
	close(t->bch);
	t->bch = -1;
}

/* Config changes the frontend never reads from the backend channel: once
 * the channel is full the backend drops the frontend (both its sockets
 * shut) instead of blocking in send, with the queue's lock held, for as
 * long as the frontend likes. */
static void test_backend_channel_never_read(void **state)
{
	struct t *t = *state;
	struct bg g;
	char c;

	up(t);
	backend_channel(t);
	bg_start(&g, t, bg_config_changes);
	assert_true(bg_wait(&g, close_channel));
	assert_true(log_says(t, "does not read the backend channel"));
	/* The frontend sees both sockets hang up ... */
	assert_true(vt_readable(t->bch, 1000));
	assert_int_equal(recv(t->bch, &c, 1, MSG_DONTWAIT), sizeof(c)); /* what was sent */
	assert_true(vt_readable(t->fe.sock, 1000));
	assert_int_equal(recv(t->fe.sock, &c, 1, MSG_DONTWAIT), 0);
	/* ... and the dispatch thread, woken by that, detaches. */
	pump(t);
	assert_dropped(t);
}

/* Without PF_CONFIG the frontend did not ask to hear about changes. */
static void test_config_change_needs_pf_config(void **state)
{
	struct t *t = *state;

	negotiate(t, PF_ALL & ~PF(CONFIG));
	backend_channel(t);
	map_memory(t);
	start(t, 0);
	vio_dev_config_changed(&t->e.dev);
	assert_false(vt_readable(t->bch, 100));
}

static void test_reset_device(void **state)
{
	struct t *t = *state;
	unsigned resets;

	up(t);
	expect_io(t, 0, 3, 1);
	resets = t->e.resets;
	assert_int_equal(vt_fe_set(&t->fe, VU_RESET_DEVICE, NULL, 0, NULL, 0), 0);
	assert_true(t->e.resets > resets);
	assert_int_equal(get_status(t), 0);
	for (unsigned i = 0; i < NQ; i++) {
		assert_false(t->e.q[i].live);
		assert_int_equal(vio_vu_backend_kick_fd(&t->b, i), -1);
	}
	/* The owner stays the owner; the frontend sets the device up again. */
	assert_true(t->b.owner);
	recover(t);
}

static void test_status(void **state)
{
	struct t *t = *state;

	/* No SET_FEATURES yet: status 0. */
	assert_int_equal(vt_fe_negotiate_protocol(&t->fe, PF_ALL, NULL), 0);
	assert_int_equal(get_status(t), 0);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_STATUS, VIO_STATUS_ACKNOWLEDGE), 0);
	assert_int_equal(get_status(t), VIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_STATUS,
				       VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER), 0);
	assert_int_equal(get_status(t), VIO_STATUS_ACKNOWLEDGE | VIO_STATUS_DRIVER);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_FEATURES, t->lay->features | BIT30), 0);
	assert_int_equal(get_status(t), STATUS_NEGOTIATED);
	map_memory(t);
	start(t, 0);
	/* QEMU sets DRIVER_OK after starting the rings. */
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_STATUS,
				       STATUS_NEGOTIATED | VIO_STATUS_DRIVER_OK), 0);
	assert_int_equal(get_status(t), STATUS_NEGOTIATED | VIO_STATUS_DRIVER_OK);
	/* Status values are 8 bits. */
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_STATUS, 0x100 | VIO_STATUS_ACKNOWLEDGE), 1);
	assert_int_equal(get_status(t), STATUS_NEGOTIATED | VIO_STATUS_DRIVER_OK);
	/* FAILED stops the device. */
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_STATUS, STATUS_NEGOTIATED |
				       VIO_STATUS_DRIVER_OK | VIO_STATUS_FAILED), 0);
	assert_true(get_status(t) & VIO_STATUS_FAILED);
	assert_false(t->e.q[0].live);
	/* 0 resets it. */
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_STATUS, 0), 0);
	assert_int_equal(get_status(t), 0);
	assert_int_equal(vio_vu_backend_kick_fd(&t->b, 0), -1);
}

static void test_mem_slots(void **state)
{
	struct t *t = *state;
		uint64_t slots = 0;
	int maps = guest_maps();

	negotiate(t, PF_ALL);
	assert_int_equal(vt_fe_get_u64(&t->fe, VU_GET_MAX_MEM_SLOTS, &slots), 0);
	assert_int_equal(slots, VIO_VU_MAX_MEM_SLOTS);
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_ADD_MEM_REG, &t->g), 0);
	assert_int_equal(t->b.nmaps, 1);
	start(t, 0);
	expect_io(t, 0, 3, 1);
	/* A second region, disjoint in both address spaces. */
	second_region(t);
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_ADD_MEM_REG, &t->g2), 0);
	assert_int_equal(t->b.nmaps, 2);
	assert_int_equal(guest_maps(), maps + 1 + 2);
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_REM_MEM_REG, &t->g2), 0);
	assert_int_equal(t->b.nmaps, 1);
	assert_int_equal(guest_maps(), maps + 1 + 1);
	/* Gone now. */
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_REM_MEM_REG, &t->g2), 1);
	assert_serving(t);
	/* The ring's region was never touched: the rings run on. */
	expect_io(t, 0, 2, 2);
	assert_int_equal(t->e.dev.status & VIO_STATUS_NEEDS_RESET, 0);
}

/* ADD_MEM_REG or REM_MEM_REG of a region we describe field by field. */
static int mem_reg(struct t *t, uint32_t req, uint64_t gpa, uint64_t size, uint64_t uva,
		   uint64_t off, int fd)
{
	struct vu_mem_single s = { 0, { gpa, size, uva, off } };

	return vt_fe_set(&t->fe, req, &s, sizeof(s), req == VU_ADD_MEM_REG ? &fd : NULL,
			 req == VU_ADD_MEM_REG ? 1 : 0);
}

/* QEMU's multiqueue net: every queue pair's vhost device adds the same
 * region. Each add is a reference; the last remove unmaps. */
static void test_mem_reg_identical_twice(void **state)
{
	struct t *t = *state;
	int maps = guest_maps();

	negotiate(t, PF_ALL);
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_ADD_MEM_REG, &t->g), 0);
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_ADD_MEM_REG, &t->g), 0);
	assert_int_equal(t->b.nmaps, 1);
	assert_int_equal(t->b.maps[0].refs, 2);
	assert_true(log_says(t, "again: 2 users"));
	/* Mapped once, not twice. */
	assert_int_equal(guest_maps(), maps + 1);
	start(t, 0);
	expect_io(t, 0, 3, 1);
	/* One remove: still mapped, the ring runs on. */
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_REM_MEM_REG, &t->g), 0);
	assert_int_equal(t->b.nmaps, 1);
	assert_int_equal(t->b.maps[0].refs, 1);
	assert_int_equal(guest_maps(), maps + 1);
	assert_true(t->e.q[0].live);
	expect_io(t, 0, 2, 2);
	assert_int_equal(get_status(t) & VIO_STATUS_NEEDS_RESET, 0);
	/* The second: gone, and the ring that lived in it stops. */
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_REM_MEM_REG, &t->g), 0);
	assert_int_equal(t->b.nmaps, 0);
	assert_int_equal(guest_maps(), maps);
	assert_true(get_status(t) & VIO_STATUS_NEEDS_RESET);
	/* A third has nothing left to remove. */
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_REM_MEM_REG, &t->g), 1);
	assert_serving(t);
}

/* The same four numbers with an fd of another file is not the same
 * region: refused, and the mapped one keeps a single reference. */
static void test_mem_reg_identical_other_file(void **state)
{
	struct t *t = *state;
	struct vt_gmem other;
	int maps = guest_maps();

	negotiate(t, PF_ALL);
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_ADD_MEM_REG, &t->g), 0);
	assert_int_equal(vt_gmem_init(&other, t->g.size, t->g.mmap_offset, t->g.gpa, t->g.uva, 0), 0);
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_ADD_MEM_REG, &other), 1);
	assert_true(log_says(t, "ADD_MEM_REG refused"));
	assert_int_equal(t->b.nmaps, 1);
	assert_int_equal(t->b.maps[0].refs, 1);
	/* Ours (g) plus the backend's, plus ours of `other`. */
	assert_int_equal(guest_maps(), maps + 1 + 1);
	/* One remove unmaps it. */
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_REM_MEM_REG, &t->g), 0);
	assert_int_equal(t->b.nmaps, 0);
	vt_gmem_fini(&other);
	assert_serving(t);
}

/* Same file, same addresses and size, another offset into the file:
 * other memory behind the same addresses, refused. */
static void test_mem_reg_identical_other_offset(void **state)
{
	struct t *t = *state;
	struct vt_gmem big;

	negotiate(t, PF_ALL);
	assert_int_equal(vt_gmem_init(&big, 0x10000, 0, GPA + 0x10000000, UVA + 0x10000000, 0x20000), 0);
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_ADD_MEM_REG, &big), 0);
	assert_int_equal(mem_reg(t, VU_ADD_MEM_REG, big.gpa, big.size, big.uva, 0x10000, big.fd), 1);
	assert_int_equal(t->b.nmaps, 1);
	assert_int_equal(t->b.maps[0].refs, 1);
	vt_gmem_fini(&big);
	assert_serving(t);
}

/* Anything that overlaps a mapped region without being identical to it. */
static void test_mem_reg_partial_overlap(void **state)
{
	struct t *t = *state;
	const uint64_t gpa = t->g.gpa, uva = t->g.uva, size = t->g.size, half = t->g.size / 2;
	const int fd = t->g.fd;

	negotiate(t, PF_ALL);
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_ADD_MEM_REG, &t->g), 0);
	/* The first half of it, same file. */
	assert_int_equal(mem_reg(t, VU_ADD_MEM_REG, gpa, half, uva, 0, fd), 1);
	/* Its second half, both addresses shifted alike. */
	assert_int_equal(mem_reg(t, VU_ADD_MEM_REG, gpa + half, half, uva + half, half, fd), 1);
	/* Straddling its end. */
	assert_int_equal(mem_reg(t, VU_ADD_MEM_REG, gpa + half, size, uva + half, 0, fd), 1);
	/* Same guest range, user range elsewhere. */
	assert_int_equal(mem_reg(t, VU_ADD_MEM_REG, gpa, size, uva + 0x10000000, 0, fd), 1);
	/* Same user range, guest range elsewhere. */
	assert_int_equal(mem_reg(t, VU_ADD_MEM_REG, gpa + 0x10000000, size, uva, 0, fd), 1);
	assert_int_equal(t->b.nmaps, 1);
	assert_int_equal(t->b.maps[0].refs, 1);
	/* A partial REM_MEM_REG removes nothing. */
	assert_int_equal(mem_reg(t, VU_REM_MEM_REG, gpa, half, uva, 0, -1), 1);
	assert_int_equal(t->b.nmaps, 1);
	assert_serving(t);
}

/* The slot limit counts distinct regions: a full table still takes a
 * reference on a region it has, and a freed slot takes a new one. */
static void test_mem_reg_slots_count_distinct(void **state)
{
	struct t *t = *state;
	const uint64_t pg = 0x1000, gpa = GPA + 0x10000000, uva = UVA + 0x10000000;
	struct vt_gmem file;

	negotiate(t, PF_ALL);
	assert_int_equal(vt_gmem_init(&file, pg, 0, gpa, uva, (VIO_VU_MAX_MEM_SLOTS + 1) * pg), 0);
	/* Every other page, so no two regions are adjacent either. */
	for (unsigned i = 0; i < VIO_VU_MAX_MEM_SLOTS; i++)
		assert_int_equal(mem_reg(t, VU_ADD_MEM_REG, gpa + 2 * i * pg, pg, uva + 2 * i * pg,
					 i * pg, file.fd), 0);
	assert_int_equal(t->b.nmaps, VIO_VU_MAX_MEM_SLOTS);
	/* Full: a new one is refused ... */
	assert_int_equal(mem_reg(t, VU_ADD_MEM_REG, gpa + 2 * VIO_VU_MAX_MEM_SLOTS * pg, pg,
				 uva + 2 * VIO_VU_MAX_MEM_SLOTS * pg, VIO_VU_MAX_MEM_SLOTS * pg, file.fd), 1);
	/* ... one it has again is not. */
	assert_int_equal(mem_reg(t, VU_ADD_MEM_REG, gpa + 2 * pg, pg, uva + 2 * pg, pg, file.fd), 0);
	assert_int_equal(t->b.nmaps, VIO_VU_MAX_MEM_SLOTS);
	/* Dropping the extra reference frees no slot ... */
	assert_int_equal(mem_reg(t, VU_REM_MEM_REG, gpa + 2 * pg, pg, uva + 2 * pg, 0, -1), 0);
	assert_int_equal(mem_reg(t, VU_ADD_MEM_REG, gpa + 2 * VIO_VU_MAX_MEM_SLOTS * pg, pg,
				 uva + 2 * VIO_VU_MAX_MEM_SLOTS * pg, VIO_VU_MAX_MEM_SLOTS * pg, file.fd), 1);
	/* ... the last one does. */
	assert_int_equal(mem_reg(t, VU_REM_MEM_REG, gpa + 2 * pg, pg, uva + 2 * pg, 0, -1), 0);
	assert_int_equal(t->b.nmaps, VIO_VU_MAX_MEM_SLOTS - 1);
	assert_int_equal(mem_reg(t, VU_ADD_MEM_REG, gpa + 2 * VIO_VU_MAX_MEM_SLOTS * pg, pg,
				 uva + 2 * VIO_VU_MAX_MEM_SLOTS * pg, VIO_VU_MAX_MEM_SLOTS * pg, file.fd), 0);
	assert_int_equal(t->b.nmaps, VIO_VU_MAX_MEM_SLOTS);
	vt_gmem_fini(&file);
	assert_serving(t);
}

/* SET_MEM_TABLE naming one region twice is a broken table, not two users. */
static void test_mem_table_region_twice(void **state)
{
	struct t *t = *state;
	const struct vt_gmem *g[2] = { &t->g, &t->g };

	negotiate(t, PF_ALL);
	assert_int_equal(vt_fe_mem_table(&t->fe, g, 2), 1);
	assert_int_equal(t->b.nmaps, 0);
	assert_serving(t);
}

/* Older frontends send REM_MEM_REG with an fd: accepted, fd closed. */
static void test_rem_mem_reg_with_fd(void **state)
{
	struct t *t = *state;
	struct vu_mem_single s = { 0, vt_gmem_region(&t->g) };
	int fds;

	negotiate(t, PF_ALL);
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_ADD_MEM_REG, &t->g), 0);
	fds = vt_count_fds();
	assert_int_equal(vt_fe_set(&t->fe, VU_REM_MEM_REG, &s, sizeof(s), &t->g.fd, 1), 0);
	assert_int_equal(t->b.nmaps, 0);
	assert_int_equal(vt_count_fds(), fds);
}

/* Taking away the memory a running ring lives in stops the device. */
static void test_rem_mem_reg_under_ring(void **state)
{
	struct t *t = *state;

	negotiate(t, PF_ALL);
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_ADD_MEM_REG, &t->g), 0);
	start(t, 0);
	assert_int_equal(vt_fe_mem_reg(&t->fe, VU_REM_MEM_REG, &t->g), 0);
	assert_false(t->e.q[0].live);
	assert_true(get_status(t) & VIO_STATUS_NEEDS_RESET);
	/* A kick now must not touch the unmapped memory. */
	vt_efd_signal(t->r[0].kick_fd);
	vio_vu_backend_queue_dispatch(&t->b, 0);
	assert_serving(t);
}

static void test_reset_owner(void **state)
{
	struct t *t = *state;

	up(t);
	assert_int_equal(vt_fe_set(&t->fe, VU_RESET_OWNER, NULL, 0, NULL, 0), 0);
	for (unsigned i = 0; i < NQ; i++) {
		assert_false(t->e.q[i].live);
		assert_int_equal(vio_vu_backend_kick_fd(&t->b, i), -1);
	}
	assert_serving(t);
}

/* The frontend goes away: everything is torn down, and a new frontend
 * starts from scratch. */
static void test_disconnect_reconnect(void **state)
{
	struct t *t = *state;
	int maps = guest_maps();
	unsigned resets;

	up(t);
	expect_io(t, 0, 3, 1);
	assert_int_equal(guest_maps(), maps + 1);
	resets = t->e.resets;
	close(t->fe.sock);
	t->fe.sock = -1;
	pump(t);
	assert_int_equal(t->last, -ECONNRESET);
	assert_int_equal(vio_vu_backend_fd(&t->b), -1);
	assert_int_equal(t->b.nmaps, 0);
	assert_int_equal(vio_mem_count(&t->b.mem), 0);
	assert_int_equal(guest_maps(), maps);
	assert_int_equal(t->e.dev.status, 0);
	assert_true(t->e.resets > resets);
	for (unsigned i = 0; i < NQ; i++) {
		assert_false(t->e.q[i].live);
		assert_int_equal(vio_vu_backend_kick_fd(&t->b, i), -1);
	}
	assert_false(t->b.owner);
	assert_int_equal(t->b.protocol_features, 0);
	/* Nothing attached: dispatch says so without blocking. */
	assert_int_equal(vio_vu_backend_dispatch(&t->b), -ECONNRESET);

	reconnect(t);
	up(t);
	expect_io(t, 0, 4, 2);
	expect_io(t, 1, 2, 1);
}

static void test_detach_attach(void **state)
{
	struct t *t = *state;
	int sv[2];

	up(t);
	assert_int_equal(vt_socketpair(sv), 0);
	/* One frontend at a time; a refused fd stays the caller's. */
	assert_int_equal(vio_vu_backend_attach(&t->b, sv[1]), -EBUSY);
	close(sv[0]);
	close(sv[1]);
	vio_vu_backend_detach(&t->b);
	assert_int_equal(t->b.nmaps, 0);
	assert_false(t->e.q[0].live);
	reconnect(t);
	up(t);
	expect_io(t, 0, 2, 1);
}

/* A frontend that sends requests and never reads the replies: once the
 * socket is full the backend gives it TIMEOUT_MS to make room, then drops
 * it, instead of blocking in send for as long as the frontend likes. */
static void test_replies_never_read(void **state)
{
	struct t *t = *state;
	struct vu_header h = { VU_GET_FEATURES, VU_VERSION, 0 };
	struct bg g;
	unsigned sent = 0;

	negotiate(t, PF_ALL);
	bg_start(&g, t, bg_dispatch_all);
	/* Our own sends must not block either: the backend stops reading
	 * while it waits for room for its replies. */
	for (unsigned ms = 0; ms < STUCK_MS && !bg_done(&g);) {
		ssize_t n = send(t->fe.sock, &h, sizeof(h), MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n == (ssize_t)sizeof(h)) {
			sent++;
			continue;
		}
		assert_true(n < 0);
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			break;          /* the backend closed its end */
		usleep(1000);
		ms++;
	}
	assert_true(bg_wait(&g, close_frontend));
	assert_int_equal(g.ret, -ECONNRESET);
	assert_int_equal(vio_vu_backend_fd(&t->b), -1);
	assert_true(log_says(t, "does not read its replies"));
	/* More than a socket's worth of replies was asked for. */
	assert_true(sent > 100);
	reconnect(t);
	negotiate(t, PF_ALL);
	assert_serving(t);
}

static const struct test_def layout_tests[] = {
	{ "SET_FEATURES unchanged while rings run", test_set_features_unchanged_while_running },
	{ "no PROTOCOL_FEATURES: rings start enabled", test_no_protocol_features },
	{ "RESET_DEVICE and set up again", test_reset_device },
	{ "disconnect, reconnect from scratch", test_disconnect_reconnect },
};

static const struct test_def control_tests[] = {
	{ "handshake: features, protocol features, owner, queues", test_handshake },
	{ "SET_OWNER twice", test_set_owner_twice },
	{ "protocol_features_off", test_protocol_features_off },
	{ "GET_CONFIG/SET_CONFIG", test_get_set_config },
	{ "CONFIG_CHANGE_MSG on the backend channel", test_config_change_msg },
	{ "no CONFIG_CHANGE_MSG without PF_CONFIG", test_config_change_needs_pf_config },
	{ "SET_STATUS/GET_STATUS", test_status },
	{ "GET_MAX_MEM_SLOTS, ADD_MEM_REG, REM_MEM_REG", test_mem_slots },
	{ "ADD_MEM_REG of a mapped region twice: references", test_mem_reg_identical_twice },
	{ "ADD_MEM_REG: same addresses, other file refused", test_mem_reg_identical_other_file },
	{ "ADD_MEM_REG: same addresses, other offset refused", test_mem_reg_identical_other_offset },
	{ "ADD_MEM_REG/REM_MEM_REG: partial overlaps refused", test_mem_reg_partial_overlap },
	{ "ADD_MEM_REG: the slot limit counts distinct regions", test_mem_reg_slots_count_distinct },
	{ "SET_MEM_TABLE naming a region twice refused", test_mem_table_region_twice },
	{ "REM_MEM_REG with an fd", test_rem_mem_reg_with_fd },
	{ "REM_MEM_REG under a running ring", test_rem_mem_reg_under_ring },
	{ "RESET_OWNER stops the rings", test_reset_owner },
	{ "detach, attach busy, attach", test_detach_attach },
	{ "a frontend that never reads its replies is dropped", test_replies_never_read },
	{ "a frontend that never reads the backend channel is dropped",
	  test_backend_channel_never_read },
};

int main(void)
{
	for (size_t v = 0; v < ARRAY_LEN(layouts); v++)
		add_defs(layouts[v].name, layout_tests, ARRAY_LEN(layout_tests), &layouts[v]);
	add_defs("control", control_tests, ARRAY_LEN(control_tests), &layouts[0]);
	return run_added("vu_backend_control");
}
