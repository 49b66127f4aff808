/*
 * test_vu_backend_messages.c - messages that break the framing rules: the
 * payload size, oversized messages, version and flag bits, requests
 * nobody knows, fds where none belong or too many, queue indices out of
 * range, truncated and stalled messages. Each test checks the refusal
 * (non-zero REPLY_ACK, a log line, no fd leaked) or the dropped
 * connection, and that the backend still serves afterwards.
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

static void bg_dispatch_one(struct bg *g)
{
	g->ret = vio_vu_backend_dispatch(&g->t->b);
}

/* -- payload size wrong for the request ----------------------------------- */
struct size_row {
	const char *name;
	uint32_t req;
	uint32_t size;
	bool fd;                /* attach one fd */
};

static const struct size_row size_rows[] = {
	{ "GET_FEATURES with 8 bytes", VU_GET_FEATURES, 8, false },
	{ "SET_FEATURES with 4 bytes", VU_SET_FEATURES, 4, false },
	{ "SET_FEATURES with 12 bytes", VU_SET_FEATURES, 12, false },
	{ "SET_OWNER with 8 bytes", VU_SET_OWNER, 8, false },
	{ "SET_PROTOCOL_FEATURES with 0 bytes", VU_SET_PROTOCOL_FEATURES, 0, false },
	{ "GET_PROTOCOL_FEATURES with 8 bytes", VU_GET_PROTOCOL_FEATURES, 8, false },
	{ "SET_VRING_NUM with 4 bytes", VU_SET_VRING_NUM, 4, false },
	{ "SET_VRING_NUM with 12 bytes", VU_SET_VRING_NUM, 12, false },
	{ "SET_VRING_BASE with 16 bytes", VU_SET_VRING_BASE, 16, false },
	{ "GET_VRING_BASE with 4 bytes", VU_GET_VRING_BASE, 4, false },
	{ "SET_VRING_ENABLE with 0 bytes", VU_SET_VRING_ENABLE, 0, false },
	{ "SET_VRING_ADDR with 32 bytes", VU_SET_VRING_ADDR, 32, false },
	{ "SET_VRING_ADDR with 48 bytes", VU_SET_VRING_ADDR, 48, false },
	{ "SET_VRING_KICK with 4 bytes", VU_SET_VRING_KICK, 4, true },
	{ "SET_VRING_CALL with 16 bytes", VU_SET_VRING_CALL, 16, true },
	{ "SET_MEM_TABLE with 4 bytes", VU_SET_MEM_TABLE, 4, false },
	{ "ADD_MEM_REG with 32 bytes", VU_ADD_MEM_REG, 32, true },
	{ "REM_MEM_REG with 48 bytes", VU_REM_MEM_REG, 48, false },
	{ "SET_BACKEND_REQ_FD with 8 bytes", VU_SET_BACKEND_REQ_FD, 8, true },
	{ "RESET_DEVICE with 8 bytes", VU_RESET_DEVICE, 8, false },
	{ "GET_MAX_MEM_SLOTS with 8 bytes", VU_GET_MAX_MEM_SLOTS, 8, false },
	{ "SET_STATUS with 4 bytes", VU_SET_STATUS, 4, false },
	{ "GET_STATUS with 8 bytes", VU_GET_STATUS, 8, false },
	{ "GET_QUEUE_NUM with 8 bytes", VU_GET_QUEUE_NUM, 8, false },
	{ "GET_CONFIG shorter than its header", VU_GET_CONFIG, 8, false },
	{ "SET_CONFIG shorter than its header", VU_SET_CONFIG, 8, false },
};

static void assert_snap_equal(const struct snap *a, const struct snap *b)
{
	assert_int_equal(a->features, b->features);
	assert_int_equal(a->pf, b->pf);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->owner, b->owner);
	assert_int_equal(a->addr_set, b->addr_set);
	assert_int_equal(a->started, b->started);
	assert_int_equal(a->nmaps, b->nmaps);
	assert_int_equal(a->num, b->num);
	assert_int_equal(a->base, b->base);
	assert_int_equal(a->call_fd, b->call_fd);
}

/* A payload that would be accepted (and change something) if only its size
 * were right, so the size check alone must refuse it. */
static void valid_payload(struct t *t, uint32_t req, union vu_payload *p)
{
	memset(p, 0, sizeof(*p));
	switch (req) {
	case VU_SET_FEATURES:
		p->u64 = (t->lay->features ^ F_EVT) | BIT30;
		break;
	case VU_SET_VRING_NUM: case VU_SET_VRING_BASE: case VU_SET_VRING_ENABLE:
		p->state = (struct vu_vring_state){ 0, QSIZE };
		break;
	case VU_SET_VRING_ADDR:
		p->addr = t->r[0].addr;
		break;
	case VU_ADD_MEM_REG:
		p->mem_reg.region = vt_gmem_region(&t->g2);
		break;
	case VU_REM_MEM_REG:
		p->mem_reg.region = vt_gmem_region(&t->g);
		break;
	case VU_SET_STATUS:
		p->u64 = VIO_STATUS_FAILED;
		break;
	case VU_GET_CONFIG: case VU_SET_CONFIG:
		p->config.size = 1;
		break;
	default:
		break;
	}
}

static void test_size_row(void **state)
{
	struct t *t = *state;
	const struct size_row *row = t->row;
	union vu_payload p;
	struct snap before, after;
	uint64_t pf = 0;
	int fd = -1;

	/* Protocol features, but no SET_OWNER yet: a SET_OWNER would work. */
	assert_int_equal(vt_fe_get_u64(&t->fe, VU_GET_PROTOCOL_FEATURES, &pf), 0);
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_PROTOCOL_FEATURES, PF_ALL), 0);
	t->fe.protocol_features = PF_ALL;
	assert_int_equal(vt_fe_set_u64(&t->fe, VU_SET_FEATURES, t->lay->features | BIT30), 0);
	map_memory(t);
	second_region(t);
	valid_payload(t, row->req, &p);
	if (row->fd)
		fd = row->req == VU_ADD_MEM_REG ? t->g2.fd : vt_eventfd();
	before = snap(t);
	send_refused(t, row->req, 0, &p, row->size, &fd, row->fd ? 1 : 0);
	if (fd >= 0 && fd != t->g2.fd)
		close(fd);
	/* Nothing of it took effect. */
	after = snap(t);
	assert_snap_equal(&before, &after);
}

/* -- a size the backend cannot even buffer -------------------------------- */
struct oversize_row {
	const char *name;
	uint32_t size;
};

static const struct oversize_row oversize_rows[] = {
	{ "size one past the payload union", sizeof(union vu_payload) + 1 },
	{ "size 4096", 4096 },
	{ "size 0xffffffff", 0xffffffffu },
};

static void test_oversize_row(void **state)
{
	struct t *t = *state;
	const struct oversize_row *row = t->row;
	uint8_t buf[sizeof(struct vu_header) + 300];
	struct vu_header h = { VU_SET_CONFIG, VU_VERSION, row->size };

	up(t);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, &h, sizeof(h));
	assert_int_equal(vt_send_raw(t->fe.sock, buf, sizeof(buf), NULL, 0), 0);
	pump(t);
	assert_dropped(t);
}

/* -- header fields --------------------------------------------------------- */
struct flags_row {
	const char *name;
	uint32_t flags;
};

/* The version is how the backend knows it is in sync at all: a wrong one
 * drops the connection. */
static const struct flags_row version_rows[] = {
	{ "version 0", 0 },
	{ "version 2", 2 },
	{ "version 3", 3 },
	{ "version 0 with NEED_REPLY", VU_FLAG_NEED_REPLY },
};

static void test_version_row(void **state)
{
	struct t *t = *state;
	const struct flags_row *row = t->row;

	negotiate(t, PF_ALL);
	assert_int_equal(vt_send_msg(t->fe.sock, VU_GET_FEATURES, row->flags, NULL, 0, NULL, 0), 0);
	pump(t);
	assert_dropped(t);
}

/* Bits a frontend must not set: refused, the stream stays in sync. */
static const struct flags_row flag_rows[] = {
	{ "REPLY flag from the frontend", VU_FLAG_REPLY },
	{ "flag bit 4", 1u << 4 },
	{ "flag bit 31", 1u << 31 },
};

static void test_flags_row(void **state)
{
	struct t *t = *state;
	const struct flags_row *row = t->row;
	struct vu_vring_state s = { 0, QSIZE };

	negotiate(t, PF_ALL);
	send_refused(t, VU_SET_VRING_NUM, row->flags, &s, sizeof(s), NULL, 0);
	assert_int_equal(t->b.queues[0].num, 0);
	assert_int_equal(vt_fe_state(&t->fe, VU_SET_VRING_NUM, 0, QSIZE), 0);
	assert_int_equal(t->b.queues[0].num, QSIZE);
}

/* -- requests the backend does not implement ------------------------------- */
struct unknown_row {
	const char *name;
	uint32_t req;
	uint32_t size;
	bool fd;
};

static const struct unknown_row unknown_rows[] = {
	{ "request 0", 0, 0, false },
	{ "request 26 (CREATE_CRYPTO_SESSION)", 26, 64, false },
	{ "request 41 (one past the last known)", 41, 8, false },
	{ "request 1000", 1000, 8, false },
	{ "request 0xffffffff", 0xffffffffu, 16, false },
	{ "SEND_RARP", VU_SEND_RARP, 8, false },
	{ "IOTLB_MSG", VU_IOTLB_MSG, 40, false },
	{ "SET_VRING_ENDIAN", VU_SET_VRING_ENDIAN, 8, false },
	{ "POSTCOPY_ADVISE", 28, 0, false },
};

static void test_unknown_row(void **state)
{
	struct t *t = *state;
	const struct unknown_row *row = t->row;
	uint8_t payload[64];
	int fd = -1;

	negotiate(t, PF_ALL);
	memset(payload, 0, sizeof(payload));
	if (row->fd) {
		fd = vt_eventfd();
		assert_true(fd >= 0);
	}
	send_refused(t, row->req, 0, payload, row->size, &fd, row->fd ? 1 : 0);
	if (fd >= 0)
		close(fd);
}

static void test_kick_without_fd(void **state)
{
	struct t *t = *state;
	uint64_t v = 0;

	negotiate(t, PF_ALL);
	send_with_fds(t, VU_SET_VRING_KICK, &v, sizeof(v), 0);
	assert_false(t->b.queues[0].started);
}

static void test_call_nofd_with_fd(void **state)
{
	struct t *t = *state;
	uint64_t v = VU_VRING_NOFD;

	negotiate(t, PF_ALL);
	send_with_fds(t, VU_SET_VRING_CALL, &v, sizeof(v), 1);
}

static void test_get_features_with_fds(void **state)
{
	struct t *t = *state;

	negotiate(t, PF_ALL);
	send_with_fds(t, VU_GET_FEATURES, NULL, 0, 2);
}

/* More fds than any message may carry: the kernel truncates, the backend
 * must neither overflow nor leak. */
static void test_too_many_fds(void **state)
{
	struct t *t = *state;

	negotiate(t, PF_ALL);
	send_with_fds(t, VU_GET_FEATURES, NULL, 0, 12);
}

static void test_add_mem_reg_without_fd(void **state)
{
	struct t *t = *state;
	struct vu_mem_single s = { 0, vt_gmem_region(&t->g) };

	negotiate(t, PF_ALL);
	send_with_fds(t, VU_ADD_MEM_REG, &s, sizeof(s), 0);
	assert_int_equal(t->b.nmaps, 0);
}

static void test_backend_req_fd_without_fd(void **state)
{
	struct t *t = *state;

	negotiate(t, PF_ALL);
	send_with_fds(t, VU_SET_BACKEND_REQ_FD, NULL, 0, 0);
}

static void test_mem_table_fd_count(void **state)
{
	struct t *t = *state;
	struct vu_mem_table tb;

	negotiate(t, PF_ALL);
	memset(&tb, 0, sizeof(tb));
	tb.nregions = 1;
	tb.regions[0] = vt_gmem_region(&t->g);
	send_with_fds(t, VU_SET_MEM_TABLE, &tb, 8 + sizeof(tb.regions[0]), 2);
	send_with_fds(t, VU_SET_MEM_TABLE, &tb, 8 + sizeof(tb.regions[0]), 0);
	assert_int_equal(t->b.nmaps, 0);
}

/* -- queue index out of range ------------------------------------------------ */
enum qkind { Q_STATE, Q_ADDR, Q_FD };

struct queue_row {
	const char *name;
	uint32_t req;
	enum qkind kind;
};

static const struct queue_row queue_rows[] = {
	{ "SET_VRING_NUM", VU_SET_VRING_NUM, Q_STATE },
	{ "SET_VRING_BASE", VU_SET_VRING_BASE, Q_STATE },
	{ "GET_VRING_BASE", VU_GET_VRING_BASE, Q_STATE },
	{ "SET_VRING_ENABLE", VU_SET_VRING_ENABLE, Q_STATE },
	{ "VRING_KICK", VU_VRING_KICK, Q_STATE },
	{ "SET_VRING_ADDR", VU_SET_VRING_ADDR, Q_ADDR },
	{ "SET_VRING_KICK", VU_SET_VRING_KICK, Q_FD },
	{ "SET_VRING_CALL", VU_SET_VRING_CALL, Q_FD },
	{ "SET_VRING_ERR", VU_SET_VRING_ERR, Q_FD },
};

static void test_queue_row(void **state)
{
	struct t *t = *state;
	const struct queue_row *row = t->row;
	/* NQ is one past the device's queues; 63 and 64 are inside and just
	 * outside the backend's own array. */
	static const uint32_t bad[] = { NQ, VIO_VU_MAX_QUEUES - 1, VIO_VU_MAX_QUEUES, 255,
					0x100 | 0, 0xffffffffu };

	negotiate(t, PF_ALL);
	map_memory(t);
	for (unsigned k = 0; k < ARRAY_LEN(bad); k++) {
		if (row->kind == Q_STATE) {
			struct vu_vring_state s = { bad[k], 1 };

			send_refused(t, row->req, 0, &s, sizeof(s), NULL, 0);
		} else if (row->kind == Q_ADDR) {
			struct vu_vring_addr a = t->r[0].addr;

			a.index = bad[k];
			send_refused(t, row->req, 0, &a, sizeof(a), NULL, 0);
		} else if (bad[k] < 0x100) {
			uint64_t v = bad[k];

			/* The index is bits 0..7 here; 0x100 and up are flags. */
			send_with_fds(t, row->req, &v, sizeof(v), 1);
		}
	}
	/* Queue 0 itself is fine. */
	start(t, 0);
}

/* -- truncated streams -------------------------------------------------------- */
struct trunc_row {
	const char *name;
	size_t bytes;           /* of the message below that get sent */
};

static const struct trunc_row trunc_rows[] = {
	{ "header only, then close", sizeof(struct vu_header) },
	{ "5 bytes of a header, then close", 5 },
	{ "half the payload, then close", sizeof(struct vu_header) + 4 },
};

static const struct trunc_row stall_rows[] = {
	{ "header only, frontend stays", sizeof(struct vu_header) },
	{ "5 bytes of a header, frontend stays", 5 },
	{ "half the payload, frontend stays", sizeof(struct vu_header) + 4 },
};

/* The same messages cut short, with the frontend staying connected: the
 * backend waits TIMEOUT_MS for the rest, not forever. */
static void test_stall_row(void **state)
{
	struct t *t = *state;
	const struct trunc_row *row = t->row;
	struct {
		struct vu_header h;
		uint64_t v;
	} __attribute__((packed)) msg = { { VU_SET_FEATURES, VU_VERSION, 8 }, V1 };
	struct bg g;

	up(t);
	assert_int_equal(vt_send_raw(t->fe.sock, &msg, row->bytes, NULL, 0), 0);
	bg_start(&g, t, bg_dispatch_one);
	assert_true(bg_wait(&g, close_frontend));
	t->last = g.ret;
	assert_true(log_says(t, "stopped in the middle of a message"));
	assert_dropped(t);
}

static void test_trunc_row(void **state)
{
	struct t *t = *state;
	const struct trunc_row *row = t->row;
	struct {
		struct vu_header h;
		uint64_t v;
	} __attribute__((packed)) msg = { { VU_SET_FEATURES, VU_VERSION, 8 }, V1 };

	up(t);
	assert_int_equal(vt_send_raw(t->fe.sock, &msg, row->bytes, NULL, 0), 0);
	close(t->fe.sock);
	t->fe.sock = -1;
	pump(t);
	assert_dropped(t);
}

static const struct test_def malformed_tests[] = {
	{ "SET_VRING_KICK without NOFD and without fd", test_kick_without_fd },
	{ "SET_VRING_CALL with NOFD and an fd", test_call_nofd_with_fd },
	{ "GET_FEATURES with two fds", test_get_features_with_fds },
	{ "twelve fds on one message", test_too_many_fds },
	{ "ADD_MEM_REG without fd", test_add_mem_reg_without_fd },
	{ "SET_BACKEND_REQ_FD without fd", test_backend_req_fd_without_fd },
	{ "SET_MEM_TABLE with the wrong number of fds", test_mem_table_fd_count },
};

int main(void)
{
	add_defs("malformed", malformed_tests, ARRAY_LEN(malformed_tests), &layouts[0]);
	ADD_ROWS("payload size: ", size_rows, test_size_row);
	ADD_ROWS("oversized: ", oversize_rows, test_oversize_row);
	ADD_ROWS("bad ", version_rows, test_version_row);
	ADD_ROWS("unknown ", flag_rows, test_flags_row);
	ADD_ROWS("unsupported ", unknown_rows, test_unknown_row);
	ADD_ROWS("queue index out of range: ", queue_rows, test_queue_row);
	ADD_ROWS("truncated: ", trunc_rows, test_trunc_row);
	ADD_ROWS("stalled: ", stall_rows, test_stall_row);
	return run_added("vu_backend_messages");
}
