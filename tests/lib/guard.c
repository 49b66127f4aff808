/*
 * guard.c - guest memory with canaries and guard pages (see guard.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "guard.h"

#define PAGE 4096u

void vt_guarded_map(struct vt_guarded *g, size_t len, size_t skew, bool sealed)
{
	const size_t span = ((skew + len + PAGE - 1) / PAGE) * PAGE;
	uint8_t *front, *rear;
	void *m;

	g->map_len = span + 4 * PAGE;
	m = mmap(NULL, g->map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(m != MAP_FAILED);
	g->map = m;
	front = g->map + PAGE;
	rear = front + PAGE + span;
	g->body = front + PAGE + skew;
	g->len = len;
	g->sealed = sealed;
	if (sealed) {
		assert_int_equal(mprotect(front, PAGE, PROT_READ | PROT_WRITE), 0);
		assert_int_equal(mprotect(rear, PAGE, PROT_READ | PROT_WRITE), 0);
		memset(front, VT_CANARY, PAGE);
		memset(rear, VT_CANARY, PAGE);
		return;
	}
	assert_int_equal(mprotect(front, span + 2 * PAGE, PROT_READ | PROT_WRITE), 0);
	memset(front, VT_CANARY, span + 2 * PAGE);
	memset(g->body, 0, len);
}

void vt_guarded_unmap(struct vt_guarded *g)
{
	if (g->map)
		munmap(g->map, g->map_len);
	memset(g, 0, sizeof(*g));
}

static bool bytes_are(const uint8_t *p, size_t n, uint8_t v)
{
	while (n--)
		if (*p++ != v)
			return false;
	return true;
}

bool vt_guarded_canaries_ok(const struct vt_guarded *g)
{
	const uint8_t *front, *end;

	if (!g->map)
		return true;
	front = g->map + PAGE;
	end = g->map + g->map_len - PAGE;
	if (g->sealed)
		return bytes_are(front, PAGE, VT_CANARY) && bytes_are(end - PAGE, PAGE, VT_CANARY);
	return bytes_are(front, (size_t)(g->body - front), VT_CANARY) &&
	       bytes_are(g->body + g->len, (size_t)(end - (g->body + g->len)), VT_CANARY);
}
