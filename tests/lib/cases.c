/*
 * cases.c - registration helpers for table-driven cmocka runs; see cases.h.
 */
#include "cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vt_add_test(struct CMUnitTest *t, size_t *n, const char *prefix, const char *name,
		 CMUnitTestFunction fn, CMFixtureFunction setup, CMFixtureFunction teardown,
		 const void *param)
{
	size_t len = strlen(prefix) + strlen(name) + 3;
	char *s = malloc(len);

	if (!s)
		abort();
	snprintf(s, len, "%s: %s", prefix, name);
	t[*n] = (struct CMUnitTest){ s, fn, setup, teardown, (void *)param };
	(*n)++;
}

int vt_run_group(const char *group, struct CMUnitTest *tests, size_t n)
{
	int r = _cmocka_run_group_tests(group, tests, n, NULL, NULL);

	for (size_t i = 0; i < n; i++)
		free((void *)tests[i].name);
	free(tests);
	return r;
}
