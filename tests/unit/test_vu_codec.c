/*
 * test_vu_codec.c - unit tests of the vhost-user codec
 * (src/transport/vhost_user_codec.c): every row of the request table
 * accepts its size and refuses one byte off, the fd and feature columns
 * say what they mean, and the framing keeps its promises (fds kept up to
 * the sink's max and the rest closed and counted, close-on-exec, the
 * deadline that starts with the first byte, a deadline already passed,
 * EOF, a payload too large, a peer that stops reading).
 *
 * The vhost-user suites (tests/vhost_user) test both roles through the
 * codec end to end; this file tests the rules one by one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "vhost_user_codec.h"
#include "vio/spec.h"

static bool size_ok(const struct vu_size *rule, uint32_t size, const union vu_payload *p)
{
	return vio__vu_size_ok(rule, size, p);
}

/* One byte on either side of what a rule wants is refused. */
static void check_rule(const char *name, const struct vu_size *rule)
{
	union vu_payload p;

	memset(&p, 0, sizeof(p));
	switch (rule->rule) {
	case VU_SIZE_EXACT:
		if (!size_ok(rule, rule->min, &p))
			fail_msg("%s: refuses %u bytes", name, rule->min);
		if (size_ok(rule, rule->min + 1u, &p))
			fail_msg("%s: takes %u bytes", name, rule->min + 1u);
		if (rule->min && size_ok(rule, rule->min - 1u, &p))
			fail_msg("%s: takes %u bytes", name, rule->min - 1u);
		break;
	case VU_SIZE_RANGE:
		if (!size_ok(rule, rule->min, &p) || !size_ok(rule, rule->max, &p))
			fail_msg("%s: refuses %u or %u bytes", name, rule->min, rule->max);
		if (rule->min && size_ok(rule, rule->min - 1u, &p))
			fail_msg("%s: takes %u bytes", name, rule->min - 1u);
		if (rule->max < 0xffff && size_ok(rule, rule->max + 1u, &p))
			fail_msg("%s: takes %u bytes", name, rule->max + 1u);
		break;
	case VU_SIZE_CONFIG:
		for (uint32_t n = 0; n <= VU_CONFIG_MAX; n++) {
			p.config.size = n;
			if (!size_ok(rule, VU_CONFIG_HDR + n, &p))
				fail_msg("%s: refuses %u config bytes", name, n);
			if (size_ok(rule, VU_CONFIG_HDR + n + 1, &p) ||
			    size_ok(rule, VU_CONFIG_HDR + n - 1, &p))
				fail_msg("%s: takes one byte off %u config bytes", name, n);
		}
		p.config.size = VU_CONFIG_MAX + 1;
		assert_false(size_ok(rule, VU_CONFIG_HDR + VU_CONFIG_MAX + 1, &p));
		p.config.size = UINT32_MAX - VU_CONFIG_HDR + 1; /* wraps to 0 */
		assert_false(size_ok(rule, 0, &p));
		p.config.size = 0;
		assert_false(size_ok(rule, VU_CONFIG_HDR - 1, &p));
		break;
	case VU_SIZE_MEM_TABLE: {
		const uint32_t reg = sizeof(struct vu_mem_region);

		for (uint32_t n = 1; n <= VU_MEM_TABLE_MAX; n++) {
			p.mem.nregions = n;
			if (!size_ok(rule, 8 + n * reg, &p))
				fail_msg("%s: refuses %u regions", name, n);
			if (size_ok(rule, 8 + n * reg + 1, &p) || size_ok(rule, 8 + n * reg - 1, &p))
				fail_msg("%s: takes one byte off %u regions", name, n);
		}
		p.mem.nregions = 0;
		assert_false(size_ok(rule, 8, &p));
		p.mem.nregions = VU_MEM_TABLE_MAX + 1;
		assert_false(size_ok(rule, 8 + (VU_MEM_TABLE_MAX + 1) * reg, &p));
		p.mem.nregions = 1;
		assert_false(size_ok(rule, 7, &p));
		break;
	}
	default:
		fail_msg("%s: rule %u", name, rule->rule);
	}
}

static void check_rows(const struct vu_request_row *rows, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		const struct vu_request_row *r = &rows[i];

		assert_non_null(r->name);
		if (i && rows[i - 1].request >= r->request)
			fail_msg("%s: rows out of order", r->name);
		check_rule(r->name, &r->size);
		if (r->reply == VU_REPLY_ALWAYS)
			check_rule(r->name, &r->reply_size);
		else if (r->reply != VU_REPLY_ACK)
			fail_msg("%s: reply rule %u", r->name, r->reply);
		if (r->feature != VU_NO_FEATURE && (r->feature < 0 || r->feature > 63))
			fail_msg("%s: feature %d", r->name, r->feature);
		if (r->reply_fds > VU_MAX_FDS)
			fail_msg("%s: %u reply fds", r->name, r->reply_fds);
	}
}

static void test_request_rows(void **state)
{
	(void)state;
	check_rows(vio__vu_requests, vio__vu_nrequests);
	for (unsigned i = 0; i < vio__vu_nrequests; i++) {
		assert_ptr_equal(vio__vu_request_row(vio__vu_requests[i].request), &vio__vu_requests[i]);
		assert_string_equal(vio__vu_request_name(vio__vu_requests[i].request),
				    vio__vu_requests[i].name);
	}
}

static void test_backend_request_rows(void **state)
{
	(void)state;
	check_rows(vio__vu_backend_requests, vio__vu_nbackend_requests);
	assert_string_equal(vio__vu_backend_request_name(VU_BACKEND_CONFIG_CHANGE_MSG),
			    "CONFIG_CHANGE_MSG");
	assert_null(vio__vu_backend_request_row(VU_BACKEND_IOTLB_MSG));
}

/* The rule for a range, which no row uses today. */
static void test_size_range(void **state)
{
	const struct vu_size r = { VU_SIZE_RANGE, 8, 16 };
	union vu_payload p;

	(void)state;
	memset(&p, 0, sizeof(p));
	assert_false(size_ok(&r, 7, &p));
	assert_true(size_ok(&r, 8, &p));
	assert_true(size_ok(&r, 16, &p));
	assert_false(size_ok(&r, 17, &p));
}

/* Requests nobody here knows: a name that says so, no row, no fds, no
 * feature needed (the handler refuses them as not supported). */
static void test_unknown_requests(void **state)
{
	union vu_payload p;

	(void)state;
	memset(&p, 0, sizeof(p));
	assert_string_equal(vio__vu_request_name(0), "unknown request");
	assert_string_equal(vio__vu_request_name(VU_IOTLB_MSG), "unknown request");
	assert_string_equal(vio__vu_request_name(VU_REQUEST_MAX), "unknown request");
	assert_string_equal(vio__vu_request_name(UINT32_MAX), "unknown request");
	assert_null(vio__vu_request_row(VU_IOTLB_MSG));
	assert_int_equal(vio__vu_fds_expected(NULL, 0, &p), 0);
	assert_true(vio__vu_feature_ok(NULL, 0));
}

static void test_fd_rules(void **state)
{
	union vu_payload p;

	(void)state;
	memset(&p, 0, sizeof(p));
	assert_int_equal(vio__vu_fds_expected(vio__vu_request_row(VU_GET_FEATURES), 0, &p), 0);
	assert_int_equal(vio__vu_fds_expected(vio__vu_request_row(VU_SET_LOG_FD), 0, &p), 1);
	assert_int_equal(vio__vu_fds_expected(vio__vu_request_row(VU_SET_BACKEND_REQ_FD), 0, &p), 1);
	assert_int_equal(vio__vu_fds_expected(vio__vu_request_row(VU_ADD_MEM_REG), 40, &p), 1);
	assert_int_equal(vio__vu_fds_expected(vio__vu_request_row(VU_REM_MEM_REG), 40, &p), -1);
	p.u64 = 3;
	assert_int_equal(vio__vu_fds_expected(vio__vu_request_row(VU_SET_VRING_KICK), 8, &p), 1);
	p.u64 = 3 | VU_VRING_NOFD;
	assert_int_equal(vio__vu_fds_expected(vio__vu_request_row(VU_SET_VRING_CALL), 8, &p), 0);
	assert_int_equal(vio__vu_fds_expected(vio__vu_request_row(VU_SET_VRING_ERR), 8, &p), 0);
	memset(&p, 0, sizeof(p));
	for (uint32_t n = 0; n <= VU_MEM_TABLE_MAX; n++) {
		p.mem.nregions = n;
		assert_int_equal(vio__vu_fds_expected(vio__vu_request_row(VU_SET_MEM_TABLE),
						      8 + n * 32, &p), (int)n);
	}
	p.mem.nregions = VU_MEM_TABLE_MAX + 1;
	assert_int_equal(vio__vu_fds_expected(vio__vu_request_row(VU_SET_MEM_TABLE), 8, &p), 0);
	p.mem.nregions = 2;
	assert_int_equal(vio__vu_fds_expected(vio__vu_request_row(VU_SET_MEM_TABLE), 4, &p), 0);
}

static void test_feature_rules(void **state)
{
	const struct vu_request_row *q = vio__vu_request_row(VU_GET_QUEUE_NUM);
	const struct vu_request_row *inf = vio__vu_request_row(VU_SET_INFLIGHT_FD);

	(void)state;
	assert_false(vio__vu_feature_ok(q, 0));
	assert_false(vio__vu_feature_ok(q, ~VIO_BIT(VU_PROTOCOL_F_MQ)));
	assert_true(vio__vu_feature_ok(q, VIO_BIT(VU_PROTOCOL_F_MQ)));
	assert_false(vio__vu_feature_ok(inf, VIO_BIT(VU_PROTOCOL_F_MQ)));
	assert_true(vio__vu_feature_ok(inf, VIO_BIT(VU_PROTOCOL_F_INFLIGHT_SHMFD)));
	/* Legal before any negotiation, by the spec. */
	assert_true(vio__vu_feature_ok(vio__vu_request_row(VU_GET_PROTOCOL_FEATURES), 0));
	assert_true(vio__vu_feature_ok(vio__vu_request_row(VU_SET_PROTOCOL_FEATURES), 0));
	assert_true(vio__vu_feature_ok(vio__vu_request_row(VU_GET_FEATURES), 0));
}

/* ------------------------------------------------------------------------ */
/* Framing                                                                  */

struct pair {
	int s[2];
};

static int pair_setup(void **state)
{
	static struct pair p;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, p.s))
		return -1;
	*state = &p;
	return 0;
}

static int pair_teardown(void **state)
{
	struct pair *p = *state;

	vio__vu_close_fd(&p->s[0]);
	vio__vu_close_fd(&p->s[1]);
	return 0;
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* How many fds this process has open. */
static unsigned open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* A message with three fds into a sink that keeps two: two kept (with
 * close-on-exec), the third closed, all three counted. */
static void test_send_recv_fds(void **state)
{
	struct pair *p = *state;
	int efd[3], kept[2] = { -1, -1 };
	struct vu_fd_sink sink = { kept, 2, 0, false };
	struct vu_vring_state st = { 1, 77 }, got;
	struct vu_header h;
	uint64_t deadline = vio__vu_deadline_ns(1000);
	const unsigned before = open_fds();

	for (int i = 0; i < 3; i++)
		efd[i] = dup(2);
	assert_int_equal(vio__vu_send(p->s[0], deadline, VU_SET_VRING_NUM, VU_VERSION, &st, sizeof(st),
				      efd, 3), 0);
	for (int i = 0; i < 3; i++)
		close(efd[i]);
	assert_int_equal(vio__vu_recv(p->s[1], &h, &got, sizeof(got), &sink, &deadline, 1000), 0);
	assert_int_equal(h.request, VU_SET_VRING_NUM);
	assert_int_equal(h.size, sizeof(st));
	assert_memory_equal(&got, &st, sizeof(st));
	assert_int_equal(sink.n, 3);
	assert_true(fd_open(kept[0]) && fd_open(kept[1]));
	assert_true(fcntl(kept[0], F_GETFD) & FD_CLOEXEC);
	/* The third one was closed. */
	assert_int_equal(open_fds(), before + 2);
	vio__vu_fd_sink_close(&sink);
	assert_int_equal(sink.n, 0);
	assert_int_equal(kept[0], -1);
	assert_int_equal(kept[1], -1);
}

static void test_send_limits(void **state)
{
	struct pair *p = *state;
	int fds[VU_MAX_FDS + 1];
	uint8_t big[sizeof(union vu_payload) + 1];

	for (unsigned i = 0; i < VU_MAX_FDS + 1; i++)
		fds[i] = 2;
	memset(big, 0, sizeof(big));
	assert_int_equal(vio__vu_send(p->s[0], vio__vu_deadline_ns(100), 1, VU_VERSION, NULL, 0, fds,
				      VU_MAX_FDS + 1), -EINVAL);
	assert_int_equal(vio__vu_send(p->s[0], vio__vu_deadline_ns(100), 1, VU_VERSION, big,
				      sizeof(big), NULL, 0), -EINVAL);
}

/* Version not 1, and a payload larger than the buffer: refused after the
 * header, which is filled in for the log line. */
static void test_recv_refuses(void **state)
{
	struct pair *p = *state;
	struct vu_header h, out = { VU_GET_FEATURES, 2, 0 };
	union vu_payload pl;
	uint64_t deadline = vio__vu_deadline_ns(1000);

	assert_int_equal(send(p->s[0], &out, sizeof(out), 0), sizeof(out));
	assert_int_equal(vio__vu_recv(p->s[1], &h, &pl, sizeof(pl), NULL, &deadline, 1000), -EPROTO);
	assert_int_equal(h.flags, 2);
	out.flags = VU_VERSION;
	out.size = sizeof(pl) + 1;
	assert_int_equal(send(p->s[0], &out, sizeof(out), 0), sizeof(out));
	assert_int_equal(vio__vu_recv(p->s[1], &h, &pl, sizeof(pl), NULL, &deadline, 1000), -EMSGSIZE);
	assert_int_equal(h.size, sizeof(pl) + 1);
}

/* Unbounded wait: the deadline starts with the first byte; half a header
 * then silence times out after timeout_ms. */
static void test_recv_deadline_from_first_byte(void **state)
{
	struct pair *p = *state;
	struct vu_header h, out = { VU_GET_FEATURES, VU_VERSION, 0 };
	union vu_payload pl;
	uint64_t deadline = 0, t0;

	assert_int_equal(send(p->s[0], &out, 5, 0), 5);
	t0 = vio__vu_now_ns();
	assert_int_equal(vio__vu_recv(p->s[1], &h, &pl, sizeof(pl), NULL, &deadline, 50), -ETIMEDOUT);
	assert_true(deadline >= t0 + 50 * 1000000u);
	assert_true(vio__vu_now_ns() >= t0 + 50 * 1000000u);
	assert_true(vio__vu_now_ns() < t0 + 2000 * 1000000u);
}

/* A fixed deadline already passed times out without waiting; EOF is a
 * reset. */
static void test_recv_passed_deadline_and_eof(void **state)
{
	struct pair *p = *state;
	uint8_t b[4];
	uint64_t t0 = vio__vu_now_ns();

	assert_int_equal(vio__vu_recv_full(p->s[1], b, sizeof(b), 1, NULL), -ETIMEDOUT);
	assert_true(vio__vu_now_ns() - t0 < 100 * 1000000u);
	assert_int_equal(vio__vu_wait_fd(p->s[1], POLLIN, 1), -ETIMEDOUT);
	assert_int_equal(send(p->s[0], b, 2, 0), 2);
	vio__vu_close_fd(&p->s[0]);
	assert_int_equal(vio__vu_recv_full(p->s[1], b, sizeof(b), vio__vu_deadline_ns(1000), NULL),
			 -ECONNRESET);
}

/* Fds that come with a later part of a message are collected too. */
static void test_recv_fds_with_payload(void **state)
{
	struct pair *p = *state;
	struct vu_header out = { VU_SET_LOG_FD, VU_VERSION, 8 }, h;
	uint64_t v = 5, got, deadline = 0;
	int kept = -1;
	struct vu_fd_sink sink = { &kept, 1, 0, false };
	char control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &v, sizeof(v) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			     .msg_controllen = sizeof(control) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	int fd = 2;

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	assert_int_equal(send(p->s[0], &out, sizeof(out), 0), sizeof(out));
	assert_int_equal(sendmsg(p->s[0], &mh, 0), sizeof(v));
	assert_int_equal(vio__vu_recv(p->s[1], &h, &got, sizeof(got), &sink, &deadline, 1000), 0);
	assert_int_equal(got, 5);
	assert_int_equal(sink.n, 1);
	assert_true(fd_open(kept));
	vio__vu_fd_sink_close(&sink);
}

/* A peer that does not read: the send gives up at the deadline. */
static void test_send_full_socket(void **state)
{
	struct pair *p = *state;
	union vu_payload pl;
	uint64_t t0;
	int r;

	memset(&pl, 0, sizeof(pl));
	t0 = vio__vu_now_ns();
	do {
		r = vio__vu_send(p->s[0], vio__vu_deadline_ns(30), VU_SET_CONFIG, VU_VERSION, &pl,
				 sizeof(pl), NULL, 0);
	} while (r == 0 && vio__vu_now_ns() - t0 < 10ull * 1000000000u);
	assert_int_equal(r, -ETIMEDOUT);
	/* The peer gone: a reset, not a signal. */
	vio__vu_close_fd(&p->s[1]);
	assert_int_equal(vio__vu_send(p->s[0], vio__vu_deadline_ns(30), VU_SET_OWNER, VU_VERSION, NULL,
				      0, NULL, 0), -ECONNRESET);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_rows),
		cmocka_unit_test(test_backend_request_rows),
		cmocka_unit_test(test_size_range),
		cmocka_unit_test(test_unknown_requests),
		cmocka_unit_test(test_fd_rules),
		cmocka_unit_test(test_feature_rules),
		cmocka_unit_test_setup_teardown(test_send_recv_fds, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_send_limits, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_recv_refuses, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_recv_deadline_from_first_byte, pair_setup,
						pair_teardown),
		cmocka_unit_test_setup_teardown(test_recv_passed_deadline_and_eof, pair_setup,
						pair_teardown),
		cmocka_unit_test_setup_teardown(test_recv_fds_with_payload, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_send_full_socket, pair_setup, pair_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
