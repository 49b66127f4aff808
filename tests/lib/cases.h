/*
 * cases.h - building a cmocka run out of test tables: the registration
 * helpers that the device-side ring tests (tests/unit/test_devq*.c) share.
 */
#ifndef VT_CASES_H
#define VT_CASES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

/* One row of a test table: the test's name and its function. */
struct vt_named_test {
	const char *name;
	CMUnitTestFunction fn;
};

/* Appends test t[*n], named "prefix: name", and counts it. */
void vt_add_test(struct CMUnitTest *t, size_t *n, const char *prefix, const char *name,
		 CMUnitTestFunction fn, CMFixtureFunction setup, CMFixtureFunction teardown,
		 const void *param);

/* Runs the n tests of group `group`, then frees their names and the array. */
int vt_run_group(const char *group, struct CMUnitTest *tests, size_t n);

#endif
